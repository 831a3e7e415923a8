//! What a run found: the [`Summary`] (also the `--json` document), the
//! human table and the progress line.

use std::fmt::Write as _;

use serde::Serialize;

use crate::export::ExportCheck;
use crate::invariants::Invariant;
use crate::stats::Latency;

/// Answers to one kind of request, by class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpCounts {
    /// 2xx.
    pub ok: u64,
    /// 1xx, 3xx and 4xx.
    pub client_error: u64,
    /// 5xx.
    pub server_error: u64,
    /// No answer: connection refused or reset, timeout.
    pub transport: u64,
}

impl HttpCounts {
    /// Requests sent.
    pub fn total(&self) -> u64 {
        self.ok + self.client_error + self.server_error + self.transport
    }

    /// Requests that did not get a 2xx.
    pub fn non_success(&self) -> u64 {
        self.total() - self.ok
    }

    /// Counts an answer (`None`: no answer).
    pub fn count(&mut self, status: Option<u16>) {
        match status {
            Some(200..=299) => self.ok += 1,
            Some(500..) => self.server_error += 1,
            Some(_) => self.client_error += 1,
            None => self.transport += 1,
        }
    }
}

/// Answers per webhook.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpSummary {
    /// `POST /api/webhooks/voice`.
    pub voice: HttpCounts,
    /// The `<Dial action>` URLs.
    pub dial_action: HttpCounts,
    /// The `<Number statusCallback>` URLs.
    pub status: HttpCounts,
}

/// Latencies per webhook, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latencies {
    /// Voice webhook: request sent to body read.
    pub voice: Latency,
    /// Dial action.
    pub dial_action: Latency,
    /// Status callbacks.
    pub status: Latency,
}

/// Call outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Calls {
    /// Voice webhooks sent (first deliveries).
    pub attempted: u64,
    /// Of those, answered 200 with usable TwiML.
    pub valid_twiml: u64,
    /// Answered with a `<Dial>`.
    pub dialed: u64,
    /// Answered with `<Say>`/`<Hangup>`: rejected, not in service.
    pub rejected: u64,
    /// Legs answered by the simulated buyer.
    pub answered: u64,
    /// Legs left unanswered (busy, no-answer).
    pub unanswered: u64,
    /// `<Dial>`s after the first, across calls.
    pub fallthroughs: u64,
    /// Dial actions answered with TwiML callsim could not use.
    pub invalid_action_twiml: u64,
    /// Calls that were sent to a number they had already been sent to.
    pub redialed: u64,
    /// Calls still dialing after `max_dials`.
    pub runaway: u64,
    /// Voice webhooks and dial actions delivered twice on purpose (`--duplicates`).
    pub retries: u64,
    /// Of those, answered differently the second time.
    pub retry_mismatch: u64,
    /// Calls on which any request failed.
    pub failed: u64,
}

/// One destination number's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    /// The dialed number.
    pub number: String,
    /// Its buyer's concurrency cap, when known.
    pub cap: Option<u32>,
    /// Its buyer's daily cap, when known.
    pub daily_cap: Option<u32>,
    /// Most calls connected at once, as callsim saw it.
    pub max_concurrent: u32,
    /// Legs dialed.
    pub dials: u64,
    /// Legs answered.
    pub answered: u64,
}

/// Rejections by what was said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The `<Say>` text (empty for a bare `<Hangup/>`).
    pub said: String,
    /// Calls.
    pub count: u64,
}

/// Everything a run found; `--json` prints it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Where requests went.
    pub target: String,
    /// How load was applied, e.g. `concurrency 16`.
    pub load: String,
    /// The seed (re-run with `--seed` to replay the same calls).
    pub seed: u64,
    /// Wall time of the traffic, seconds.
    pub elapsed_seconds: f64,
    /// Calls finished per second.
    pub calls_per_second: f64,
    /// Requests (all webhooks) per second.
    pub requests_per_second: f64,
    /// Dials per call before a call counts as runaway.
    pub max_dials: u32,
    /// Call outcomes.
    pub calls: Calls,
    /// Answers per webhook.
    pub http: HttpSummary,
    /// Latencies per webhook.
    pub latency_ms: Latencies,
    /// Per destination number.
    pub destinations: Vec<Destination>,
    /// Rejections by what was said.
    pub rejections: Vec<Rejection>,
    /// The export check, when an export was given.
    pub export: Option<ExportCheck>,
    /// Up to a few examples of each failure, for a bug report.
    pub errors: Vec<String>,
    /// The invariants and whether they held.
    pub invariants: Vec<Invariant>,
    /// All invariants held.
    pub ok: bool,
}

/// `n` with thousands separators: `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The human-readable report.
pub fn table(s: &Summary) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "callsim: {} calls against {} ({}), {:.2} s: {:.1} calls/s, {:.1} requests/s, seed {}",
        thousands(s.calls.attempted),
        s.target,
        s.load,
        s.elapsed_seconds,
        s.calls_per_second,
        s.requests_per_second,
        s.seed
    );
    let c = &s.calls;
    let _ = writeln!(o, "\noutcomes");
    let _ = writeln!(
        o,
        "  dialed     {:>8}   legs answered {}, unanswered {}, fall-throughs {}",
        thousands(c.dialed),
        thousands(c.answered),
        thousands(c.unanswered),
        thousands(c.fallthroughs)
    );
    let _ = writeln!(o, "  rejected   {:>8}", thousands(c.rejected));
    for r in &s.rejections {
        let said = if r.said.is_empty() {
            "<Hangup/> only".to_owned()
        } else {
            format!("{:?}", r.said)
        };
        let _ = writeln!(o, "    {:>8}  {said}", thousands(r.count));
    }
    let _ = writeln!(
        o,
        "  failed     {:>8}   calls on which a request failed",
        thousands(c.failed)
    );

    let _ = writeln!(
        o,
        "\n{:<14}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}",
        "latency (ms)", "count", "p50", "p90", "p99", "max", "mean"
    );
    for (name, l) in [
        ("voice", &s.latency_ms.voice),
        ("dial action", &s.latency_ms.dial_action),
        ("status", &s.latency_ms.status),
    ] {
        let _ = writeln!(
            o,
            "  {name:<12}{:>9}{:>9.2}{:>9.2}{:>9.2}{:>9.2}{:>9.2}",
            thousands(l.count),
            l.p50,
            l.p90,
            l.p99,
            l.max,
            l.mean
        );
    }

    let _ = writeln!(
        o,
        "\n{:<14}{:>9}{:>9}{:>9}{:>10}",
        "http", "2xx", "3xx/4xx", "5xx", "transport"
    );
    for (name, h) in [
        ("voice", &s.http.voice),
        ("dial action", &s.http.dial_action),
        ("status", &s.http.status),
    ] {
        let _ = writeln!(
            o,
            "  {name:<12}{:>9}{:>9}{:>9}{:>10}",
            thousands(h.ok),
            thousands(h.client_error),
            thousands(h.server_error),
            thousands(h.transport)
        );
    }

    let _ = writeln!(
        o,
        "\n{:<16}{:>8}{:>10}{:>16}{:>6}{:>11}",
        "destination", "dials", "answered", "max connected", "cap", "daily cap"
    );
    let opt = |v: Option<u32>| v.map_or_else(|| "-".to_owned(), |c| c.to_string());
    for d in &s.destinations {
        let _ = writeln!(
            o,
            "  {:<14}{:>8}{:>10}{:>16}{:>6}{:>11}",
            d.number,
            thousands(d.dials),
            thousands(d.answered),
            d.max_concurrent,
            opt(d.cap),
            opt(d.daily_cap)
        );
    }

    if let Some(e) = &s.export {
        let _ = writeln!(
            o,
            "\nexport: {} dialed call(s), {} found, {} missing, {} duplicated, {} disagreeing; {} calls exported",
            e.expected, e.found, e.missing, e.duplicated, e.mismatched, e.exported
        );
        for x in &e.examples {
            let _ = writeln!(o, "  - {x}");
        }
    }
    if !s.errors.is_empty() {
        let _ = writeln!(o, "\nexamples of failures");
        for e in &s.errors {
            let _ = writeln!(o, "  - {e}");
        }
    }
    o.push_str(&invariant_lines(&s.invariants));
    o
}

/// The invariant section and the verdict line.
pub fn invariant_lines(invariants: &[Invariant]) -> String {
    let mut o = String::from("\ninvariants\n");
    for i in invariants {
        let _ = writeln!(
            o,
            "  {}  {:<58} {}",
            if i.ok { "PASS" } else { "FAIL" },
            i.name,
            i.detail
        );
    }
    let failed = invariants.iter().filter(|i| !i.ok).count();
    let _ = writeln!(
        o,
        "\nresult: {} ({} of {} invariants held)",
        if failed == 0 { "PASS" } else { "FAIL" },
        invariants.len() - failed,
        invariants.len()
    );
    o
}

/// Figures for the progress line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Calls finished.
    pub done: u64,
    /// Calls planned.
    pub total: u64,
    /// Calls in flight.
    pub in_flight: u64,
    /// Calls dialed so far.
    pub dialed: u64,
    /// Calls rejected so far.
    pub rejected: u64,
    /// Calls with a failed request so far.
    pub failed: u64,
    /// Seconds since the start.
    pub elapsed: f64,
}

/// One progress line; `bar` draws a 30-column bar (for a terminal).
pub fn progress_line(p: &Progress, bar: bool) -> String {
    let frac = if p.total == 0 {
        1.0
    } else {
        p.done as f64 / p.total as f64
    };
    let rate = if p.elapsed > 0.0 {
        p.done as f64 / p.elapsed
    } else {
        0.0
    };
    let mut o = String::new();
    if bar {
        let filled = ((frac * 30.0).round() as usize).min(30);
        let _ = write!(o, "[{}{}] ", "#".repeat(filled), ".".repeat(30 - filled));
    }
    let _ = write!(
        o,
        "{:>5.1}% {}/{} calls  {:.0} calls/s  in flight {}  dialed {}  rejected {}  failed {}  {:.1}s",
        frac * 100.0,
        p.done,
        p.total,
        rate,
        p.in_flight,
        p.dialed,
        p.rejected,
        p.failed,
        p.elapsed
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn table_and_progress_mention_the_figures() {
        let mut s = Summary {
            target: "http://h".into(),
            load: "concurrency 4".into(),
            ..Summary::default()
        };
        s.calls.attempted = 1200;
        s.invariants = vec![Invariant {
            name: "x".into(),
            ok: false,
            detail: "y".into(),
        }];
        let t = table(&s);
        assert!(t.contains("1,200 calls against http://h"), "{t}");
        assert!(t.contains("FAIL  x"), "{t}");
        assert!(t.contains("result: FAIL (0 of 1 invariants held)"), "{t}");
        let p = progress_line(
            &Progress {
                done: 50,
                total: 100,
                elapsed: 2.0,
                ..Progress::default()
            },
            true,
        );
        assert!(
            p.starts_with("[###############...............]  50.0% 50/100 calls  25 calls/s"),
            "{p}"
        );
    }
}
