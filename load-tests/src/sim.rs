//! The call simulator: callsim's engine.
//!
//! Each call plays Twilio's side of one inbound call:
//!
//! 1. a signed voice webhook with a fresh `CallSid` and a realistic caller;
//!    optionally delivered twice (`duplicates`), and the answers compared;
//! 2. on `<Dial>`: the dialed leg rings, is answered with probability
//!    `answer_prob` (else busy or no-answer), and talks for `talk_secs`
//!    (reported in `CallDuration`; callsim itself only waits `talk_delay_ms`);
//!    its status callbacks go out in Twilio's order with `SequenceNumber`s
//!    (initiated, ringing, in-progress, then completed/busy/no-answer),
//!    optionally duplicated or reordered, then the `<Dial action>`;
//! 3. the action's answer is followed: a new `<Dial>` is a fall-through,
//!    anything else ends the call.
//!
//! Concurrency per destination is counted from the moment a `<Dial>` answer
//! arrives until just before callsim sends the first message that lets the
//! server release the buyer (the terminal status callback or the action).
//! That interval lies inside the server's own reservation, so a count above
//! the buyer's cap is a real cap violation, never an artifact of callsim.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::caller::{Caller, caller, sid};
use crate::export::Expectation;
use crate::report::{
    Calls, Destination, HttpCounts, HttpSummary, Latencies, Progress, Rejection, Summary,
    progress_line,
};
use crate::signature::{self, sign};
use crate::stats::{Latency, micros};
use crate::twiml::{self, Dial, Twiml};
use switchboard_model::prng::SplitMix64;

/// The demo's tracking numbers: priority, then round-robin.
pub const DEMO_NUMBERS: [&str; 2] = ["+15550001000", "+15550001001"];

/// The demo tenant's account SID.
pub const DEMO_ACCOUNT_SID: &str = "ACdemo00000000000000000000000000";

/// A buyer's caps as callsim checks them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps {
    /// Calls connected at once.
    pub concurrency: Option<u32>,
    /// Answered calls per day.
    pub daily: Option<u32>,
}

/// The demo buyers' numbers and caps (Acme, Beta, Gamma).
pub fn demo_caps() -> HashMap<String, Caps> {
    [
        ("+15550002001", 2),
        ("+15550002002", 5),
        ("+15550002003", 5),
    ]
    .into_iter()
    .map(|(n, c)| {
        (
            n.to_owned(),
            Caps {
                concurrency: Some(c),
                daily: Some(100),
            },
        )
    })
    .collect()
}

/// How load is applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// A fixed number of calls in flight (closed loop).
    Concurrency(usize),
    /// New calls per second (open loop), at most `max_in_flight` at once.
    Rate {
        /// Calls started per second.
        per_second: f64,
        /// In-flight bound; past it, arrivals wait.
        max_in_flight: usize,
    },
}

/// How progress is shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Not at all.
    Off,
    /// A line every few seconds (logs, CI).
    Lines,
    /// A bar redrawn in place (a terminal).
    Bar,
}

/// A run's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL requests are sent to, no trailing slash.
    pub target: String,
    /// Base URL the server signs (its public URL), no trailing slash.
    pub public_url: String,
    /// The tenant's Twilio auth token.
    pub auth_token: String,
    /// `AccountSid` sent.
    pub account_sid: String,
    /// Calls to place.
    pub calls: u64,
    /// How load is applied.
    pub load: Load,
    /// Tracking numbers called, in turn.
    pub to: Vec<String>,
    /// Every call from this caller (`From`), instead of a random one.
    pub from: Option<String>,
    /// Caps per destination number.
    pub caps: HashMap<String, Caps>,
    /// Probability that a dialed leg answers.
    pub answer_prob: f64,
    /// Talk time reported, seconds (inclusive range).
    pub talk_secs: (u64, u64),
    /// Real wait while an answered leg is connected, milliseconds.
    pub talk_delay_ms: (u64, u64),
    /// Real wait while an unanswered leg rings, milliseconds.
    pub ring_delay_ms: (u64, u64),
    /// Probability that a message is delivered twice.
    pub duplicates: f64,
    /// Probability that a leg's callbacks (and action) arrive shuffled.
    pub reorder: f64,
    /// Dials per call past which the call counts as runaway.
    pub max_dials: u32,
    /// Seed of all randomness.
    pub seed: u64,
    /// Per-request timeout (Twilio gives up after 15 s).
    pub request_timeout: Duration,
    /// Progress display.
    pub progress: ProgressMode,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Figures, without invariants (see [`crate::invariants::check`]).
    pub summary: Summary,
    /// One record per call that got a `<Dial>`, for the export check.
    pub expectations: Vec<Expectation>,
}

/// Examples of failures kept per run.
const MAX_ERROR_EXAMPLES: usize = 20;

#[derive(Clone, Copy)]
enum Hook {
    Voice,
    Action,
    Status,
}

/// What one call did; merged into the run's totals once, at its end.
#[derive(Default)]
struct CallLog {
    voice_us: Vec<u64>,
    action_us: Vec<u64>,
    status_us: Vec<u64>,
    http: HttpSummary,
    valid_twiml: bool,
    dialed: bool,
    rejected: Option<String>,
    answered: u64,
    unanswered: u64,
    fallthroughs: u64,
    invalid_action: u64,
    redialed: bool,
    runaway: bool,
    retries: u64,
    retry_mismatch: u64,
    failed: bool,
    errors: Vec<String>,
    expectation: Option<Expectation>,
}

impl CallLog {
    fn error(&mut self, msg: String) {
        self.failed = true;
        if self.errors.len() < 4 {
            self.errors.push(msg);
        }
    }
}

#[derive(Default)]
struct DestState {
    current: u32,
    max: u32,
    dials: u64,
    answered: u64,
}

#[derive(Default)]
struct Totals {
    voice_us: Vec<u64>,
    action_us: Vec<u64>,
    status_us: Vec<u64>,
    http: HttpSummary,
    calls: Calls,
    rejections: HashMap<String, u64>,
    errors: Vec<String>,
    expectations: Vec<Expectation>,
}

fn add_http(into: &mut HttpCounts, from: &HttpCounts) {
    into.ok += from.ok;
    into.client_error += from.client_error;
    into.server_error += from.server_error;
    into.transport += from.transport;
}

struct Shared {
    cfg: Config,
    client: reqwest::Client,
    dest: Mutex<HashMap<String, DestState>>,
    totals: Mutex<Totals>,
    done: AtomicU64,
    in_flight: AtomicU64,
    dialed: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
}

/// A message of a dialed leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Msg {
    /// A status callback: `CallStatus`, `SequenceNumber`.
    Status(&'static str, u32),
    /// The `<Dial action>`.
    Action,
}

impl Msg {
    /// Whether the server may release the buyer on receiving it.
    fn releases(self) -> bool {
        match self {
            Msg::Status(s, _) => matches!(
                s,
                "completed" | "busy" | "no-answer" | "failed" | "canceled"
            ),
            Msg::Action => true,
        }
    }
}

/// The status callbacks Twilio sends for a leg ending in `end` (one of
/// `completed`, `busy`, `no-answer`), for the requested `events`, numbered
/// in the order sent.
fn leg_events(events: &[String], answered: bool, end: &'static str) -> Vec<Msg> {
    let wants = |e: &str| events.iter().any(|x| x == e);
    let mut out = Vec::new();
    let mut seq = 0;
    let mut push = |status: &'static str| {
        out.push(Msg::Status(status, seq));
        seq += 1;
    };
    if wants("initiated") {
        push("initiated");
    }
    if wants("ringing") {
        push("ringing");
    }
    if answered && wants("answered") {
        push("in-progress");
    }
    // The `completed` event covers every terminal status.
    if wants("completed") {
        push(end);
    }
    out
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn snippet(body: &str) -> String {
    let one_line: String = body
        .chars()
        .take(160)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.chars().count() > 160 {
        format!("{one_line}…")
    } else {
        one_line
    }
}

impl Shared {
    /// Where to send a request for `signed`, a URL under the public URL.
    fn send_url(&self, signed: &str) -> Option<String> {
        let rest = signed.strip_prefix(&self.cfg.public_url)?;
        (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
            .then(|| format!("{}{rest}", self.cfg.target))
    }

    /// Posts a signed form; counts and times it. `None` when nothing usable came back.
    async fn post(
        &self,
        log: &mut CallLog,
        hook: Hook,
        signed_url: &str,
        params: &[(String, String)],
        sid: &str,
    ) -> Option<(u16, String)> {
        let Some(url) = self.send_url(signed_url) else {
            log.error(format!(
                "{sid}: callback URL {signed_url} is not under the public URL {} (set --public-url); not followed",
                self.cfg.public_url
            ));
            return None;
        };
        let signature = sign(&self.cfg.auth_token, signed_url, params);
        let started = Instant::now();
        let sent = self
            .client
            .post(&url)
            .header(signature::HEADER, signature)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("user-agent", "TwilioProxy/1.1 (callsim)")
            .header("i-twilio-idempotency-token", sid)
            .body(signature::form_body(params))
            .send()
            .await;
        let answer = match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                resp.text().await.map(|body| (status, body))
            }
            Err(e) => Err(e),
        };
        let (counts, lat) = match hook {
            Hook::Voice => (&mut log.http.voice, &mut log.voice_us),
            Hook::Action => (&mut log.http.dial_action, &mut log.action_us),
            Hook::Status => (&mut log.http.status, &mut log.status_us),
        };
        match answer {
            Ok((status, body)) => {
                counts.count(Some(status));
                lat.push(micros(started.elapsed()));
                if !(200..300).contains(&status) {
                    log.error(format!(
                        "{sid}: POST {signed_url} -> HTTP {status}: {}",
                        snippet(&body)
                    ));
                }
                Some((status, body))
            }
            Err(e) => {
                counts.count(None);
                log.error(format!("{sid}: POST {signed_url} -> no answer: {e}"));
                None
            }
        }
    }

    fn connect(&self, number: &str) {
        let mut d = self.dest.lock().expect("destination table");
        let s = d.entry(number.to_owned()).or_default();
        s.current += 1;
        s.max = s.max.max(s.current);
        s.dials += 1;
    }

    fn disconnect(&self, number: &str, answered: bool) {
        let mut d = self.dest.lock().expect("destination table");
        let s = d.entry(number.to_owned()).or_default();
        s.current = s.current.saturating_sub(1);
        if answered {
            s.answered += 1;
        }
    }

    /// Plays call number `index`.
    async fn call(&self, index: u64) -> CallLog {
        let cfg = &self.cfg;
        let mut rng = SplitMix64::for_item(cfg.seed, index);
        let mut log = CallLog::default();
        let to = cfg.to[(index % cfg.to.len() as u64) as usize].clone();
        let call_sid = sid("CA", &mut rng);
        let mut from = caller(&mut rng);
        if let Some(number) = &cfg.from {
            from.number = number.clone();
        }
        let p = &from.place;
        let params = pairs(&[
            ("AccountSid", &cfg.account_sid),
            ("ApiVersion", "2010-04-01"),
            ("CallSid", &call_sid),
            ("CallStatus", "ringing"),
            ("Called", &to),
            ("CalledCountry", "US"),
            ("Caller", &from.number),
            ("CallerCity", p.city),
            ("CallerCountry", "US"),
            ("CallerState", p.state),
            ("CallerZip", p.zip),
            ("Direction", "inbound"),
            ("From", &from.number),
            ("FromCity", p.city),
            ("FromCountry", "US"),
            ("FromState", p.state),
            ("FromZip", p.zip),
            ("To", &to),
            ("ToCountry", "US"),
        ]);
        let voice_url = format!("{}/api/webhooks/voice", cfg.public_url);
        let Some((status, body)) = self
            .post(&mut log, Hook::Voice, &voice_url, &params, &call_sid)
            .await
        else {
            return log;
        };
        if status != 200 {
            return log;
        }
        let answer = match twiml::parse(&body) {
            Ok(t) => t,
            Err(e) => {
                log.error(format!(
                    "{call_sid}: voice webhook answered invalid TwiML ({e}): {}",
                    snippet(&body)
                ));
                return log;
            }
        };
        log.valid_twiml = true;
        if rng.chance(cfg.duplicates) {
            // Twilio retries a webhook it got no answer to; the retry must get the same decision.
            log.retries += 1;
            if let Some((_, again)) = self
                .post(&mut log, Hook::Voice, &voice_url, &params, &call_sid)
                .await
                && again != body
            {
                log.retry_mismatch += 1;
                log.error(format!(
                    "{call_sid}: retried voice webhook answered differently: {} then {}",
                    snippet(&body),
                    snippet(&again)
                ));
            }
        }
        let mut dial = match answer {
            Twiml::End { said, .. } => {
                log.rejected = Some(said.unwrap_or_default());
                return log;
            }
            Twiml::Dial(d) => d,
        };
        log.dialed = true;
        let mut dials = 0u32;
        let mut numbers: Vec<String> = Vec::new();
        let expectation = loop {
            dials += 1;
            if dials > cfg.max_dials {
                log.runaway = true;
                log.error(format!(
                    "{call_sid}: still dialing after {} dials",
                    cfg.max_dials
                ));
                break Expectation {
                    call_sid: call_sid.clone(),
                    to: to.clone(),
                    dials: dials - 1,
                    status: None,
                    duration_seconds: None,
                };
            }
            let number = dial.numbers[0].number.clone();
            if numbers.contains(&number) {
                log.redialed = true;
                log.error(format!(
                    "{call_sid}: dialed {number} again on dial {dials} (already dialed: {})",
                    numbers.join(", ")
                ));
            }
            numbers.push(number);
            let leg = self
                .leg(&mut log, &mut rng, &call_sid, &from, &to, &dial)
                .await;
            match leg {
                LegEnd::Next(next) => {
                    log.fallthroughs += 1;
                    dial = next;
                }
                LegEnd::Hangup { answered, talk } => {
                    break Expectation {
                        call_sid: call_sid.clone(),
                        to: to.clone(),
                        dials,
                        status: Some(if answered { "completed" } else { "no-answer" }.to_owned()),
                        duration_seconds: answered.then_some(talk),
                    };
                }
                LegEnd::Failed => {
                    break Expectation {
                        call_sid: call_sid.clone(),
                        to: to.clone(),
                        dials,
                        status: None,
                        duration_seconds: None,
                    };
                }
            }
        };
        log.expectation = Some(expectation);
        log
    }

    /// Plays one dialed leg; returns what the `<Dial action>` said next.
    async fn leg(
        &self,
        log: &mut CallLog,
        rng: &mut SplitMix64,
        call_sid: &str,
        from: &Caller,
        to: &str,
        dial: &Dial,
    ) -> LegEnd {
        let cfg = &self.cfg;
        let target = &dial.numbers[0];
        self.connect(&target.number);
        let child_sid = sid("CA", rng);
        let answered = rng.chance(cfg.answer_prob);
        let end: &'static str = if answered {
            "completed"
        } else if rng.chance(0.5) {
            "busy"
        } else {
            "no-answer"
        };
        let talk = if answered {
            rng.range(cfg.talk_secs.0, cfg.talk_secs.1) as u32
        } else {
            0
        };
        let hold = if answered {
            rng.range(cfg.talk_delay_ms.0, cfg.talk_delay_ms.1)
        } else {
            rng.range(cfg.ring_delay_ms.0, cfg.ring_delay_ms.1)
        };
        let mut msgs = if target.status_callback.is_some() {
            leg_events(&target.events, answered, end)
        } else {
            Vec::new()
        };
        msgs.push(Msg::Action);
        if rng.chance(cfg.reorder) {
            rng.shuffle(&mut msgs);
        }
        let caller_id = dial
            .caller_id
            .clone()
            .unwrap_or_else(|| from.number.clone());
        let talk_s = talk.to_string();
        let minutes = talk.div_ceil(60).to_string();
        let mut released = false;
        let mut next: Option<Option<(u16, String)>> = None;
        for msg in msgs {
            if msg.releases() && !released {
                tokio::time::sleep(Duration::from_millis(hold)).await;
                self.disconnect(&target.number, answered);
                released = true;
            }
            let times = if rng.chance(cfg.duplicates) { 2 } else { 1 };
            match msg {
                Msg::Status(status, seq) => {
                    let url = target.status_callback.as_deref().unwrap_or_default();
                    let ts = chrono::Utc::now().to_rfc2822();
                    let seq = seq.to_string();
                    let mut params = pairs(&[
                        ("AccountSid", &cfg.account_sid),
                        ("ApiVersion", "2010-04-01"),
                        ("CallSid", &child_sid),
                        ("CallStatus", status),
                        ("CallbackSource", "call-progress-events"),
                        ("Called", &target.number),
                        ("Caller", &caller_id),
                        ("Direction", "outbound-dial"),
                        ("From", &caller_id),
                        ("ParentCallSid", call_sid),
                        ("SequenceNumber", &seq),
                        ("Timestamp", &ts),
                        ("To", &target.number),
                    ]);
                    if status == "completed" {
                        params.extend(pairs(&[("CallDuration", &talk_s), ("Duration", &minutes)]));
                    }
                    for _ in 0..times {
                        self.post(log, Hook::Status, url, &params, call_sid).await;
                    }
                }
                Msg::Action => {
                    let mut params = pairs(&[
                        ("AccountSid", &cfg.account_sid),
                        ("ApiVersion", "2010-04-01"),
                        ("CallSid", call_sid),
                        ("CallStatus", "in-progress"),
                        ("Called", to),
                        ("Caller", &from.number),
                        ("DialBridged", if answered { "true" } else { "false" }),
                        ("DialCallSid", &child_sid),
                        ("DialCallStatus", end),
                        ("Direction", "inbound"),
                        ("From", &from.number),
                        ("To", to),
                    ]);
                    if answered {
                        params.push(("DialCallDuration".to_owned(), talk_s.clone()));
                    }
                    let first = self
                        .post(log, Hook::Action, &dial.action, &params, call_sid)
                        .await;
                    if times == 2 {
                        log.retries += 1;
                        let again = self
                            .post(log, Hook::Action, &dial.action, &params, call_sid)
                            .await;
                        if let (Some((_, a)), Some((_, b))) = (&first, &again)
                            && a != b
                        {
                            log.retry_mismatch += 1;
                            log.error(format!(
                                "{call_sid}: retried dial action answered differently: {} then {}",
                                snippet(a),
                                snippet(b)
                            ));
                        }
                    }
                    next = Some(first);
                }
            }
        }
        if answered {
            log.answered += 1;
        } else {
            log.unanswered += 1;
        }
        match next.flatten() {
            Some((200, body)) => match twiml::parse(&body) {
                Ok(Twiml::Dial(d)) => LegEnd::Next(d),
                Ok(Twiml::End { .. }) => LegEnd::Hangup { answered, talk },
                Err(e) => {
                    log.invalid_action += 1;
                    log.error(format!(
                        "{call_sid}: dial action answered invalid TwiML ({e}): {}",
                        snippet(&body)
                    ));
                    LegEnd::Failed
                }
            },
            _ => LegEnd::Failed,
        }
    }

    fn merge(&self, log: CallLog) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if log.dialed {
            self.dialed.fetch_add(1, Ordering::Relaxed);
        }
        if log.rejected.is_some() {
            self.rejected.fetch_add(1, Ordering::Relaxed);
        }
        if log.failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        let mut t = self.totals.lock().expect("totals");
        t.voice_us.extend(log.voice_us);
        t.action_us.extend(log.action_us);
        t.status_us.extend(log.status_us);
        add_http(&mut t.http.voice, &log.http.voice);
        add_http(&mut t.http.dial_action, &log.http.dial_action);
        add_http(&mut t.http.status, &log.http.status);
        let c = &mut t.calls;
        c.attempted += 1;
        c.valid_twiml += u64::from(log.valid_twiml);
        c.dialed += u64::from(log.dialed);
        c.rejected += u64::from(log.rejected.is_some());
        c.answered += log.answered;
        c.unanswered += log.unanswered;
        c.fallthroughs += log.fallthroughs;
        c.invalid_action_twiml += log.invalid_action;
        c.redialed += u64::from(log.redialed);
        c.runaway += u64::from(log.runaway);
        c.retries += log.retries;
        c.retry_mismatch += log.retry_mismatch;
        c.failed += u64::from(log.failed);
        if let Some(said) = log.rejected {
            *t.rejections.entry(said).or_default() += 1;
        }
        let room = MAX_ERROR_EXAMPLES.saturating_sub(t.errors.len());
        t.errors.extend(log.errors.into_iter().take(room));
        if let Some(e) = log.expectation {
            t.expectations.push(e);
        }
    }

    fn progress(&self, started: Instant) -> Progress {
        Progress {
            done: self.done.load(Ordering::Relaxed),
            total: self.cfg.calls,
            in_flight: self.in_flight.load(Ordering::Relaxed),
            dialed: self.dialed.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            elapsed: started.elapsed().as_secs_f64(),
        }
    }
}

enum LegEnd {
    /// The action answered with another `<Dial>`: fall-through.
    Next(Dial),
    /// The action ended the call.
    Hangup { answered: bool, talk: u32 },
    /// The action failed or answered unusable TwiML.
    Failed,
}

async fn one(shared: &Shared, index: u64) {
    shared.in_flight.fetch_add(1, Ordering::Relaxed);
    let log = shared.call(index).await;
    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
    shared.merge(log);
}

/// Runs the calls and gathers the figures.
pub async fn run(cfg: Config) -> anyhow::Result<RunResult> {
    anyhow::ensure!(!cfg.to.is_empty(), "no number to call");
    let in_flight = match cfg.load {
        Load::Concurrency(c) => c,
        Load::Rate { max_in_flight, .. } => max_in_flight,
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(cfg.request_timeout)
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(in_flight.max(1))
        .tcp_nodelay(true)
        .build()
        .context("cannot build the HTTP client")?;
    let shared = Arc::new(Shared {
        cfg,
        client,
        dest: Mutex::new(HashMap::new()),
        totals: Mutex::new(Totals::default()),
        done: AtomicU64::new(0),
        in_flight: AtomicU64::new(0),
        dialed: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let started = Instant::now();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let reporter = tokio::spawn(report_progress(shared.clone(), started, stop_rx));

    let mut tasks = tokio::task::JoinSet::new();
    match shared.cfg.load {
        Load::Concurrency(c) => {
            let next = Arc::new(AtomicU64::new(0));
            for _ in 0..c.max(1) {
                let (shared, next) = (shared.clone(), next.clone());
                tasks.spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= shared.cfg.calls {
                            break;
                        }
                        one(&shared, i).await;
                    }
                });
            }
        }
        Load::Rate {
            per_second,
            max_in_flight,
        } => {
            anyhow::ensure!(per_second > 0.0, "--rate must be positive");
            let slots = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for i in 0..shared.cfg.calls {
                tick.tick().await;
                let slot = slots
                    .clone()
                    .acquire_owned()
                    .await
                    .context("in-flight bound closed")?;
                let shared = shared.clone();
                tasks.spawn(async move {
                    one(&shared, i).await;
                    drop(slot);
                });
                // Reap finished tasks as we go, so the set stays small.
                while tasks.try_join_next().is_some() {}
            }
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.context("a call task panicked")?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    let _ = reporter.await;

    let totals = std::mem::take(&mut *shared.totals.lock().expect("totals"));
    let cfg = &shared.cfg;
    let mut destinations: Vec<Destination> = shared
        .dest
        .lock()
        .expect("destination table")
        .iter()
        .map(|(n, s)| {
            let caps = cfg.caps.get(n).copied().unwrap_or_default();
            Destination {
                number: n.clone(),
                cap: caps.concurrency,
                daily_cap: caps.daily,
                max_concurrent: s.max,
                dials: s.dials,
                answered: s.answered,
            }
        })
        .collect();
    destinations.sort_by(|a, b| a.number.cmp(&b.number));
    let mut rejections: Vec<Rejection> = totals
        .rejections
        .into_iter()
        .map(|(said, count)| Rejection { said, count })
        .collect();
    rejections.sort_by(|a, b| b.count.cmp(&a.count).then(a.said.cmp(&b.said)));
    let requests =
        totals.http.voice.total() + totals.http.dial_action.total() + totals.http.status.total();
    let per_s = |n: u64| {
        if elapsed > 0.0 {
            n as f64 / elapsed
        } else {
            0.0
        }
    };
    let summary = Summary {
        target: cfg.target.clone(),
        load: match cfg.load {
            Load::Concurrency(c) => format!("concurrency {c}"),
            Load::Rate {
                per_second,
                max_in_flight,
            } => format!("rate {per_second}/s, at most {max_in_flight} in flight"),
        },
        seed: cfg.seed,
        elapsed_seconds: elapsed,
        calls_per_second: per_s(totals.calls.attempted),
        requests_per_second: per_s(requests),
        max_dials: cfg.max_dials,
        calls: totals.calls,
        http: totals.http,
        latency_ms: Latencies {
            voice: Latency::from_micros(totals.voice_us),
            dial_action: Latency::from_micros(totals.action_us),
            status: Latency::from_micros(totals.status_us),
        },
        destinations,
        rejections,
        errors: totals.errors,
        ..Summary::default()
    };
    Ok(RunResult {
        summary,
        expectations: totals.expectations,
    })
}

async fn report_progress(
    shared: Arc<Shared>,
    started: Instant,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use std::io::Write as _;
    let mode = shared.cfg.progress;
    if mode == ProgressMode::Off {
        return;
    }
    let every = if mode == ProgressMode::Bar {
        Duration::from_millis(100)
    } else {
        Duration::from_secs(5)
    };
    loop {
        let stopped = tokio::time::timeout(every, stop.changed()).await.is_ok();
        let line = progress_line(&shared.progress(started), mode == ProgressMode::Bar);
        let mut err = std::io::stderr().lock();
        let _ = if mode == ProgressMode::Bar {
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "callsim: {line}")
        };
        if stopped {
            if mode == ProgressMode::Bar {
                let _ = writeln!(err);
            }
            return;
        }
        let _ = err.flush();
    }
}

/// Parses `MIN..MAX` (or `N` for `N..N`).
pub fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s.split_once("..").unwrap_or((s, s));
    let n = |v: &str| {
        v.trim()
            .parse::<u64>()
            .map_err(|_| format!("expected MIN..MAX or N, got {s:?}"))
    };
    let (a, b) = (n(a)?, n(b.trim_start_matches('='))?);
    if a > b {
        return Err(format!("{s:?}: MIN is above MAX"));
    }
    Ok((a, b))
}

/// Parses `NUMBER=N`.
pub fn parse_cap(s: &str) -> Result<(String, u32), String> {
    let (n, c) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NUMBER=N, got {s:?}"))?;
    let n = n.trim();
    if !twiml::is_e164(n) {
        return Err(format!("{n:?} is not an E.164 number"));
    }
    let c = c
        .trim()
        .parse()
        .map_err(|_| format!("{c:?} is not a count"))?;
    Ok((n.to_owned(), c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(e: &[&str]) -> Vec<String> {
        e.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn events_follow_twilio_order_and_numbering() {
        let all = ev(&["initiated", "ringing", "answered", "completed"]);
        assert_eq!(
            leg_events(&all, true, "completed"),
            [
                Msg::Status("initiated", 0),
                Msg::Status("ringing", 1),
                Msg::Status("in-progress", 2),
                Msg::Status("completed", 3)
            ]
        );
        assert_eq!(
            leg_events(&all, false, "busy"),
            [
                Msg::Status("initiated", 0),
                Msg::Status("ringing", 1),
                Msg::Status("busy", 2)
            ]
        );
        // Twilio's default is `completed` only.
        assert_eq!(
            leg_events(&ev(&["completed"]), true, "completed"),
            [Msg::Status("completed", 0)]
        );
        assert!(Msg::Status("no-answer", 2).releases());
        assert!(Msg::Action.releases());
        assert!(!Msg::Status("in-progress", 2).releases());
    }

    #[test]
    fn ranges_and_caps() {
        assert_eq!(parse_range("5..300"), Ok((5, 300)));
        assert_eq!(parse_range("5..=300"), Ok((5, 300)));
        assert_eq!(parse_range("7"), Ok((7, 7)));
        assert!(parse_range("9..3").is_err());
        assert!(parse_range("a..b").is_err());
        assert_eq!(parse_cap("+15550002001=2"), Ok(("+15550002001".into(), 2)));
        assert!(parse_cap("15550002001=2").is_err());
        assert!(parse_cap("+15550002001").is_err());
    }

    #[test]
    fn only_urls_under_the_public_url_are_followed() {
        let cfg = Config {
            target: "http://127.0.0.1:9000".into(),
            public_url: "https://sb.example.com".into(),
            auth_token: "t".into(),
            account_sid: DEMO_ACCOUNT_SID.into(),
            calls: 0,
            load: Load::Concurrency(1),
            to: vec![],
            from: None,
            caps: HashMap::new(),
            answer_prob: 1.0,
            talk_secs: (1, 1),
            talk_delay_ms: (0, 0),
            ring_delay_ms: (0, 0),
            duplicates: 0.0,
            reorder: 0.0,
            max_dials: 10,
            seed: 1,
            request_timeout: Duration::from_secs(1),
            progress: ProgressMode::Off,
        };
        let shared = Shared {
            cfg,
            client: reqwest::Client::new(),
            dest: Mutex::default(),
            totals: Mutex::default(),
            done: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            dialed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        };
        assert_eq!(
            shared
                .send_url("https://sb.example.com/api/webhooks/status?callId=1&attempt=0")
                .as_deref(),
            Some("http://127.0.0.1:9000/api/webhooks/status?callId=1&attempt=0")
        );
        assert_eq!(shared.send_url("https://sb.example.com.evil/x"), None);
        assert_eq!(shared.send_url("http://10.0.0.1/x"), None);
    }
}
