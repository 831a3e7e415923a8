//! One RTB auction: ask every eligible target of a router in parallel, decide
//! at the deadline with whatever arrived, rank the valid bids.
//!
//! Each target is guarded for capacity like a buyer: it has its own buyer
//! actor (registered under the target's id, judging by the target's
//! [`Capacity`] profile), so its caps, schedule and geo hold exactly as a
//! buyer's do. Before the auction a target that is not active, out of
//! schedule, geo-excluded, at a cap (its actor's counters, read with one
//! message) or open in its circuit breaker is not asked. After it, the
//! engine reserves capacity on the best bid's target through that actor; a
//! refused reservation (a race for the last slot) moves on to the next bid.
//!
//! Requests run as tasks; the auction waits for them until the deadline and
//! not a moment longer: at the deadline the tasks still out are dropped (and
//! so cancelled) and count as timeouts. Each task also judges its answer as
//! it arrives — parsing the bidder's JSON and running the target's paths,
//! which is CPU work over bytes the bidder chose — on the blocking pool
//! (`spawn_blocking`), so no async worker stalls on it and the deadline
//! bounds it like the request itself.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use switchboard_model::{
    BidRequestRecord, BidResponseRecord, CallerInfo, Caps, Currency, Id, RtbRouter, RtbTarget,
    new_id,
};
use switchboard_routing::Capacity;
use switchboard_rtb::{
    BreakerConfig, BreakerState, CallContext, CircuitBreaker, ContentType, MAX_RESPONSE_BYTES,
    Outcome, PathConfig, Reply, ResponsePaths, TargetTerms, Template, ValidBid, classify, rank,
};
use tokio::task::JoinSet;

use crate::bidding::{Answer, BidClient, Outgoing};
use crate::gateway::CapacityGateway;
use crate::metrics::{
    RTB_AUCTION_OVERHEAD_SECONDS, RTB_AUCTION_SECONDS, RTB_AUCTIONS, RTB_BIDDER_RESPONSE_SECONDS,
    RTB_BIDS, RTB_BREAKER_OPEN, RTB_DEADLINE_MISSES, RTB_DECISION_LATENESS_SECONDS,
    RTB_OVERSIZED_RESPONSES,
};

/// Most characters of a request or response body kept in a bid response row.
pub(crate) const MAX_RECORDED_BODY: usize = 2_048;

/// An auction decided this much after its deadline counts as a miss.
const DEADLINE_SLACK: Duration = Duration::from_millis(50);

/// A target, compiled once when it is saved: its template, URL, response
/// paths, the profile its capacity actor judges by, and its circuit breaker
/// (which lives as long as the target).
pub(crate) struct Bidder {
    pub(crate) target: Arc<RtbTarget>,
    pub(crate) capacity: Arc<Capacity>,
    compiled: Result<Compiled, String>,
    breaker: Mutex<CircuitBreaker>,
}

struct Compiled {
    body: Template,
    url: Template,
    /// Header values may hold variables too, rendered with XML escaping (no quotes added;
    /// a value that still is no valid header fails that request, as an error row).
    headers: Vec<(String, Template)>,
    paths: ResponsePaths,
    content_type: ContentType,
    /// The request's `Content-Type`.
    mime: String,
}

impl Bidder {
    pub(crate) fn new(target: Arc<RtbTarget>, breaker: BreakerConfig) -> Self {
        let compiled = compile(&target);
        if let Err(e) = &compiled {
            tracing::warn!(target = %target.id, error = %e, "rtb target does not compile; it will record errors");
        }
        Self {
            capacity: Arc::new(Capacity::from(&*target)),
            target,
            compiled,
            breaker: Mutex::new(CircuitBreaker::new(breaker)),
        }
    }

    /// The breaker's state now: `closed`, `open` or `half-open`.
    pub(crate) fn breaker_state(&self) -> &'static str {
        match self
            .breaker
            .lock()
            .map(|b| b.state(Instant::now()))
            .unwrap_or(BreakerState::Closed)
        {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }
}

fn compile(t: &RtbTarget) -> Result<Compiled, String> {
    let body = Template::parse(&t.request_body).map_err(|e| format!("request body: {e}"))?;
    let url = Template::parse(&t.endpoint_url).map_err(|e| format!("endpoint url: {e}"))?;
    let headers = t
        .headers
        .iter()
        .map(|(k, v)| {
            Template::parse(v)
                .map(|v| (k.clone(), v))
                .map_err(|e| format!("header {k}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let paths =
        ResponsePaths::compile(&PathConfig::of(t)).map_err(|e| format!("response paths: {e}"))?;
    let content_type = t
        .content_type
        .format()
        .map_err(|e| format!("content type: {e}"))?;
    Ok(Compiled {
        body,
        url,
        headers,
        paths,
        content_type,
        mime: t.content_type.mime().to_owned(),
    })
}

/// What an auction is about.
pub(crate) struct AuctionCall {
    pub(crate) tenant_id: Id,
    pub(crate) call_id: Option<Id>,
    pub(crate) campaign_id: Option<Id>,
    pub(crate) caller: Arc<CallerInfo>,
    pub(crate) call_start: DateTime<Utc>,
}

/// What an auction found: the valid bids best first (empty when fewer than
/// the router's minimum arrived) and the rows to record once the engine
/// knows which bid it reserved ([`Auction::finish`]).
pub(crate) struct Auction {
    pub(crate) ranked: Vec<ValidBid>,
    /// The auction's own time: from the last answer to the decision, when
    /// every target asked answered before the deadline.
    pub(crate) overhead: Option<Duration>,
    pub(crate) request: BidRequestRecord,
    pub(crate) responses: Vec<BidResponseRecord>,
}

impl Auction {
    /// Marks the winner (the bid whose capacity was reserved) in the rows and counts the auction.
    pub(crate) fn finish(&mut self, winner: Option<&ValidBid>) {
        if let Some(w) = winner {
            self.request.winner_target_id = Some(w.target_id);
            self.request.winning_bid = Some(w.amount);
            self.request.currency = w.currency;
            self.request.status = "won".into();
            for r in &mut self.responses {
                r.won = r.target_id == w.target_id;
            }
            crate::metrics::RTB_WINS.inc_with(&[("target", w.target_id.to_string().as_str())]);
        } else if self.request.status == "won" {
            // Valid bids, but none could be reserved.
            self.request.status = "no-valid-bid".into();
        }
        RTB_AUCTIONS.inc_with(&[("outcome", self.request.status.as_str())]);
    }
}

/// A request sent and what came of it.
struct Sent {
    bidder: Arc<Bidder>,
    terms: TargetTerms,
    body: String,
    sent_at: Instant,
    judged: Option<Judged>,
}

/// An answer, judged when it arrived.
struct Judged {
    outcome: Outcome,
    at: Instant,
    /// What the row keeps of the body.
    body: String,
}

/// Answers up to this size are judged on the task that read them; bigger
/// ones (up to the 64 KiB limit) on the blocking pool.
const JUDGE_INLINE_BYTES: usize = 8 * 1024;

/// Classifies one answer of `bidder` (whose target compiled). Pure CPU work:
/// a big answer's goes to the blocking pool.
fn judge(
    bidder: &Bidder,
    terms: &TargetTerms,
    floor: i64,
    answer: Answer,
    sent_at: Instant,
    at: Instant,
) -> Judged {
    let paths = match &bidder.compiled {
        Ok(c) => &c.paths,
        Err(e) => {
            return Judged {
                outcome: Outcome::Error(e.clone()),
                at,
                body: String::new(),
            };
        }
    };
    match answer {
        Answer::Failed(reason) => Judged {
            outcome: classify(terms, floor, paths, Reply::Failed(&reason), sent_at, at),
            at,
            body: String::new(),
        },
        Answer::Http { status, body } => {
            if body.len() > MAX_RESPONSE_BYTES {
                RTB_OVERSIZED_RESPONSES
                    .inc_with(&[("target", terms.target_id.to_string().as_str())]);
            }
            let outcome = classify(
                terms,
                floor,
                paths,
                Reply::Http {
                    status,
                    body: &body,
                },
                sent_at,
                at,
            );
            Judged {
                outcome,
                at,
                body: truncate(&String::from_utf8_lossy(&body)),
            }
        }
    }
}

/// Runs one auction among `router`'s targets, deciding at `started +
/// timeout` (the router's deadline, already capped by the engine).
pub(crate) async fn run(
    capacity: &CapacityGateway,
    client: &BidClient,
    router: &RtbRouter,
    timeout: Duration,
    call: AuctionCall,
) -> Auction {
    let started = Instant::now();
    let deadline = started + timeout;
    let request_id = new_id();
    let now = Utc::now();
    let ctx = CallContext {
        request_id: request_id.to_string(),
        campaign_id: call.campaign_id.map(|c| c.to_string()).unwrap_or_default(),
        caller_id: call.caller.from.clone(),
        call_start: call.call_start,
        caller_state: call.caller.state.clone().unwrap_or_default(),
        caller_zip: call.caller.zip.clone().unwrap_or_default(),
        now,
        tags: call.caller.tags.clone(),
    };

    let floor = router.floor_price;
    let mut sent: Vec<Sent> = Vec::new();
    let mut tasks = JoinSet::new();
    for place in &router.targets {
        let Some(bidder) = capacity
            .registry
            .bidders
            .get(&place.target_id)
            .map(|b| b.clone())
        else {
            continue;
        };
        let t = &bidder.target;
        if t.tenant_id != call.tenant_id
            || !eligible(capacity, &bidder.capacity, &call.caller, now).await
        {
            continue;
        }
        let admitted = bidder
            .breaker
            .lock()
            .map(|mut b| b.try_acquire(Instant::now()))
            .unwrap_or(false);
        if !admitted {
            continue;
        }
        let terms = TargetTerms {
            target_id: t.id,
            min_bid: t.min_bid_amount,
            max_bid: t.max_bid_amount,
            currency: t.currency,
            priority: place.priority,
        };
        let (body, url) = match &bidder.compiled {
            Ok(c) => (
                c.body.render(c.content_type, &ctx, &terms.price()),
                c.url.render(ContentType::Form, &ctx, &terms.price()),
            ),
            Err(_) => (String::new(), String::new()),
        };
        let idx = sent.len();
        let sent_at = Instant::now();
        if let Ok(c) = &bidder.compiled {
            let headers = c
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.render(ContentType::Xml, &ctx, &terms.price())))
                .collect();
            let out = Outgoing {
                url,
                body: body.clone(),
                headers,
                mime: c.mime.clone(),
            };
            let client = client.clone();
            let b = bidder.clone();
            let budget = Duration::from_millis(u64::from(t.timeout_ms))
                .min(deadline.saturating_duration_since(sent_at));
            tasks.spawn(async move {
                let Some(answer) = client.send(&b.target, &out, budget).await else {
                    return (idx, None);
                };
                let at = Instant::now();
                // A usual answer (a few hundred bytes) is judged here in
                // microseconds; only a big one is worth a blocking-pool hop.
                if answer.len() <= JUDGE_INLINE_BYTES {
                    return (idx, Some(judge(&b, &terms, floor, answer, sent_at, at)));
                }
                let judged = tokio::task::spawn_blocking(move || {
                    judge(&b, &terms, floor, answer, sent_at, at)
                })
                .await;
                let judged = judged.unwrap_or_else(|e| {
                    tracing::error!(error = %e, "judging a bid response failed");
                    Judged {
                        outcome: Outcome::Error("the response could not be read".into()),
                        at,
                        body: String::new(),
                    }
                });
                (idx, Some(judged))
            });
        }
        sent.push(Sent {
            bidder,
            terms,
            body,
            sent_at,
            judged: None,
        });
    }

    // Collect until every answer is in or the deadline passes, whichever is first.
    let sleep = tokio::time::sleep_until(deadline.into());
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            biased;
            next = tasks.join_next() => match next {
                Some(Ok((idx, judged))) => sent[idx].judged = judged,
                Some(Err(_)) => {}
                None => break,
            },
            _ = &mut sleep => break,
        }
    }
    // Whatever is still out is cancelled: a hanging bidder costs nothing more.
    tasks.abort_all();
    let decided = Instant::now();
    let last_answer = sent
        .iter()
        .map(|s| s.judged.as_ref().map(|j| j.at))
        .collect::<Option<Vec<_>>>()
        .and_then(|v| v.into_iter().max());

    let mut responses = Vec::with_capacity(sent.len());
    let mut valid = Vec::new();
    for s in &mut sent {
        let answered = s.judged.is_some();
        let (outcome, received, response_body) = match (&s.bidder.compiled, s.judged.take()) {
            (Err(e), _) => (Outcome::Error(e.clone()), decided, String::new()),
            (Ok(_), None) => (Outcome::Timeout, decided, String::new()),
            (Ok(_), Some(j)) => (j.outcome, j.at, j.body),
        };
        let elapsed = received.saturating_duration_since(s.sent_at);
        let target = s.terms.target_id;
        if answered {
            RTB_BIDDER_RESPONSE_SECONDS.record_with(
                &[("target", target.to_string().as_str())],
                elapsed.as_secs_f64(),
            );
        }
        RTB_BIDS.inc_with(&[
            ("status", outcome.status()),
            ("target", target.to_string().as_str()),
        ]);
        if let Ok(mut breaker) = s.bidder.breaker.lock()
            && let Some(state) = breaker.record(outcome.is_failure(), received)
        {
            RTB_BREAKER_OPEN
                .handle(&[("target", target.to_string().as_str())])
                .set(state.gauge());
            tracing::info!(%target, ?state, "rtb target circuit breaker changed state");
        }
        let bid = outcome.bid();
        responses.push(BidResponseRecord {
            id: new_id(),
            request_id,
            tenant_id: call.tenant_id,
            call_id: call.call_id,
            campaign_id: call.campaign_id,
            target_id: target,
            status: outcome.status().to_owned(),
            won: false,
            amount: bid.map(|b| b.amount),
            destination: bid.map(|b| b.destination.as_str().to_owned()),
            response_ms: millis(elapsed),
            reason: outcome.reason().map(str::to_owned),
            request_body: truncate(&s.body),
            response_body,
            created_at: now,
        });
        if let Outcome::Success(b) = outcome {
            valid.push(b);
        }
    }
    let valid_bids = valid.len() as u32;
    let mut ranked = rank(valid, decided);
    let status = if sent.is_empty() {
        "no-target"
    } else if ranked.is_empty() {
        "no-valid-bid"
    } else if (ranked.len() as u32) < router.min_bidders_required {
        ranked.clear();
        "too-few-bids"
    } else {
        "won"
    };
    let total = decided.saturating_duration_since(started);
    let overhead = last_answer.map(|at| Instant::now().saturating_duration_since(at));
    if let Some(o) = overhead {
        RTB_AUCTION_OVERHEAD_SECONDS.record(o.as_secs_f64());
    }
    RTB_AUCTION_SECONDS.record(total.as_secs_f64());
    RTB_DECISION_LATENESS_SECONDS.record(decided.saturating_duration_since(deadline).as_secs_f64());
    if decided > deadline + DEADLINE_SLACK {
        RTB_DEADLINE_MISSES.inc();
    }
    let request = BidRequestRecord {
        id: request_id,
        tenant_id: call.tenant_id,
        call_id: call.call_id,
        campaign_id: call.campaign_id,
        router_id: router.id,
        caller_id: call.caller.from.clone(),
        targets_asked: sent.iter().map(|s| s.terms.target_id).collect(),
        winner_target_id: None,
        winning_bid: None,
        currency: Currency::default(),
        status: status.into(),
        valid_bids,
        total_ms: millis(total),
        created_at: now,
    };
    Auction {
        ranked,
        overhead,
        request,
        responses,
    }
}

/// Whether a target may be asked now: its profile open to the caller
/// (active, in schedule, geo allowed), as its capacity actor judges it, and
/// under every cap (as that actor counts them).
async fn eligible(
    gateway: &CapacityGateway,
    profile: &Capacity,
    caller: &CallerInfo,
    now: DateTime<Utc>,
) -> bool {
    if profile.open_to(caller, now).is_err() {
        return false;
    }
    let caps = &profile.caps;
    if *caps == Caps::default() {
        return true;
    }
    match gateway.stats(profile.id, Duration::from_millis(50)).await {
        Some(s) => {
            let under = |used: u64, cap: Option<u32>| cap.is_none_or(|c| used < u64::from(c));
            under(s.active.into(), caps.concurrency_limit)
                && under(s.hour.into(), caps.hourly_cap)
                && under(s.day.into(), caps.daily_cap)
                && under(s.month.into(), caps.monthly_cap)
                && under(s.total, caps.total_cap)
        }
        None => false,
    }
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// At most [`MAX_RECORDED_BODY`] characters.
fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_RECORDED_BODY) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod bench {
    //! The auction's own overhead under load: `cargo test -p switchboard-engine
    //! --lib auction::bench -- --ignored --nocapture`. Ten loopback bidders
    //! answer in 10 ms; 16 auctions run at a time. Overhead is decision time
    //! minus the slowest bidder's answer (rendering, classifying, ranking,
    //! bookkeeping); read it as an upper bound in a debug build on a busy machine.

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement, not a check; run by hand"]
    async fn auction_overhead_with_ten_bidders_answering_in_10ms() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn switchboard_store::Store> =
            Arc::new(switchboard_store::EmbeddedStore::open(dir.path()).unwrap());
        let registry = Arc::new(crate::Registry::default());
        let (_supervisor, capacity) =
            crate::supervisor::start(store, registry.clone(), chrono::Duration::hours(1))
                .await
                .unwrap();
        let client = BidClient::new(true);
        let tenant = new_id();
        let mut targets = Vec::new();
        for i in 0..10u32 {
            let bid = switchboard_testkit::flat(&(5 + i).to_string(), &format!("+1800555{i:04}"));
            let url = switchboard_testkit::Bidder::start(10, 200, &bid).await.url;
            let t: RtbTarget = serde_json::from_value(serde_json::json!({
                "id": new_id(), "tenantId": tenant, "name": format!("b{i}"), "endpointUrl": url, "maxBidAmount": 50,
                "requestBody": r#"{"callerId": "{callerId}", "requestId": "{requestId}"}"#
            }))
            .unwrap();
            targets.push(switchboard_model::RouterTarget {
                target_id: t.id,
                priority: 1,
                weight: 1,
            });
            registry.bidders.insert(
                t.id,
                Arc::new(Bidder::new(Arc::new(t), BreakerConfig::default())),
            );
        }
        let router: RtbRouter =
            serde_json::from_value(serde_json::json!({"name": "bench", "biddingTimeoutMs": 500}))
                .unwrap();
        let router = Arc::new(RtbRouter {
            targets,
            tenant_id: tenant,
            ..router
        });
        let (n, concurrency) = (2_000usize, 16usize);
        let started = Instant::now();
        let mut overheads = Vec::with_capacity(n);
        let mut running = JoinSet::new();
        for i in 0..n {
            if running.len() >= concurrency {
                overheads.push(running.join_next().await.unwrap().unwrap());
            }
            let (capacity, client, router) = (capacity.clone(), client.clone(), router.clone());
            running.spawn(async move {
                let caller = Arc::new(CallerInfo {
                    from: format!("+1555{:07}", i),
                    state: Some("CA".into()),
                    zip: None,
                    tags: Default::default(),
                });
                let call = AuctionCall {
                    tenant_id: tenant,
                    call_id: None,
                    campaign_id: None,
                    caller,
                    call_start: Utc::now(),
                };
                let a = run(
                    &capacity,
                    &client,
                    &router,
                    Duration::from_millis(500),
                    call,
                )
                .await;
                assert_eq!(a.ranked.len(), 10);
                a.overhead
            });
        }
        while let Some(o) = running.join_next().await {
            overheads.push(o.unwrap());
        }
        let elapsed = started.elapsed();
        let mut o: Vec<Duration> = overheads.into_iter().flatten().collect();
        o.sort();
        let q = |p: f64| o[((o.len() - 1) as f64 * p) as usize];
        println!(
            "{n} auctions x 10 bidders, {concurrency} at a time: {:.0} auctions/s; overhead p50 {:?} p99 {:?} max {:?} ({} of {n} fully answered)",
            n as f64 / elapsed.as_secs_f64(),
            q(0.5),
            q(0.99),
            o[o.len() - 1],
            o.len()
        );
    }
}
