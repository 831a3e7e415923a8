//! One actor per buyer (and per RTB target): the only place its capacity is
//! decided, so its caps hold exactly however many calls race for it. It
//! judges by a [`Capacity`] profile alone — status, time zone, caps,
//! schedule, geo — and knows nothing of where calls are dialed. The decision
//! is the [`BuyerMsg::Reserve`] arm of the actor's `handle`: a reservation
//! withdrawn before it arrived is refused, else `switchboard_routing::admit`
//! judges the profile against its counters.
//!
//! State is rebuilt from the store in `pre_start` (attempts since the start
//! of the local month, the all-time total, reservations still open), so a
//! restart neither forgets a cap nor leaks a concurrency slot.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use switchboard_model::CallerInfo;
use switchboard_routing::{CapCounters, Capacity, PastAttempt, Refusal, ReservationKey, admit};
use switchboard_store::Store;

use crate::api::BuyerStats;
use crate::metrics::{ACTIVE_RESERVATIONS, BUYER_REFUSALS, RESERVATIONS_EXPIRED};

/// Messages a buyer actor handles.
pub(crate) enum BuyerMsg {
    /// Reserve capacity for one dial attempt.
    Reserve {
        key: ReservationKey,
        caller: Arc<CallerInfo>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        reply: RpcReplyPort<Result<(), Refusal>>,
    },
    /// Give a reservation back; `answered: false` refunds the caps.
    Release { key: ReservationKey, answered: bool },
    /// The buyer's or target's new profile, applied between messages.
    Update(Arc<Capacity>),
    /// Release reservations that outlived the maximum call length.
    Sweep,
    /// Live counters.
    Stats(RpcReplyPort<BuyerStats>),
}

/// Start-up arguments.
pub(crate) struct BuyerArgs {
    pub(crate) capacity: Arc<Capacity>,
    pub(crate) store: Arc<dyn Store>,
    /// Longest a reservation may live (max call length plus ringing).
    pub(crate) max_hold: chrono::Duration,
    /// What it counts, so what its counters are rebuilt from.
    pub(crate) counts: Counts,
}

/// What a buyer actor counts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Counts {
    /// A buyer's or RTB target's dial attempts.
    Attempts,
    /// The calls of a publisher of `tenant`, one slot each.
    PublisherCalls {
        /// The publisher's tenant, whose calls are read.
        tenant: switchboard_model::Id,
    },
}

/// Calls of a tenant read per page when a publisher's counters are rebuilt.
const REBUILD_PAGE: usize = 1_000;

/// A publisher's calls since `since`, as the attempts its counters hold:
/// one slot per call (key attempt 0), refunded when the call was refused
/// before a dial, released once it ended. Read newest first from the
/// tenant's calls (calls are not indexed by publisher).
async fn publisher_calls(
    store: &dyn Store,
    tenant: switchboard_model::Id,
    publisher: switchboard_model::Id,
    since: DateTime<Utc>,
) -> Result<Vec<PastAttempt>, switchboard_store::StoreError> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .calls_by_tenant(tenant, cursor.as_deref(), REBUILD_PAGE)
            .await?;
        let mut older = false;
        for c in &page.calls {
            if c.started_at < since {
                older = true;
                break;
            }
            if c.publisher_id == Some(publisher) {
                out.push(PastAttempt {
                    key: (c.id, 0),
                    started_at: c.started_at,
                    // A refused call (rejected, blocked) never held a slot.
                    unanswered: matches!(
                        c.status,
                        switchboard_model::CallStatus::Rejected
                            | switchboard_model::CallStatus::Blocked
                    ),
                    released: c.status.is_terminal(),
                });
            }
        }
        match page.next {
            Some(next) if !older => cursor = Some(next),
            _ => return Ok(out),
        }
    }
}

pub(crate) struct BuyerState {
    capacity: Arc<Capacity>,
    counters: CapCounters,
    sweep_armed: bool,
    /// Attempts released before they were reserved, and when: a reservation
    /// that arrives late (its caller timed out and let go) is refused.
    withdrawn: HashMap<ReservationKey, DateTime<Utc>>,
}

/// How long a release that came before its reservation is remembered.
const WITHDRAWN_FOR: chrono::Duration = chrono::Duration::minutes(5);

/// The buyer actor (stateless shell; the state is `BuyerState`).
pub(crate) struct BuyerActor;

impl Actor for BuyerActor {
    type Msg = BuyerMsg;
    type State = BuyerState;
    type Arguments = BuyerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<BuyerMsg>,
        args: BuyerArgs,
    ) -> Result<BuyerState, ActorProcessingErr> {
        let now = Utc::now();
        let tz = args.capacity.timezone;
        // Everything that can count towards this month's caps or still hold a slot.
        let local = now.with_timezone(&tz);
        let month_start = tz
            .with_ymd_and_hms(local.year(), local.month(), 1, 0, 0, 0)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(now - chrono::Duration::days(32));
        let since = month_start.min(now - args.max_hold);
        let (past, total) = match args.counts {
            Counts::Attempts => {
                let rows = args.store.buyer_attempts(args.capacity.id, since).await?;
                let past = rows
                    .iter()
                    .map(|r| PastAttempt {
                        key: (r.call_id, r.attempt),
                        started_at: r.started_at,
                        unanswered: r.outcome.is_unanswered(),
                        released: r.released,
                    })
                    .collect();
                (past, args.store.buyer_total(args.capacity.id).await?)
            }
            // A publisher has no total cap.
            Counts::PublisherCalls { tenant } => (
                publisher_calls(args.store.as_ref(), tenant, args.capacity.id, since).await?,
                0,
            ),
        };
        let counters = CapCounters::rebuild(tz, now, past, total, args.max_hold);
        let active = counters.active();
        ACTIVE_RESERVATIONS.add(f64::from(active));
        let mut state = BuyerState {
            capacity: args.capacity,
            counters,
            sweep_armed: false,
            withdrawn: HashMap::new(),
        };
        if active > 0 {
            arm_sweep(&myself, &mut state);
        }
        Ok(state)
    }

    async fn post_stop(
        &self,
        _: ActorRef<BuyerMsg>,
        state: &mut BuyerState,
    ) -> Result<(), ActorProcessingErr> {
        ACTIVE_RESERVATIONS.add(-f64::from(state.counters.active()));
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<BuyerMsg>,
        msg: BuyerMsg,
        state: &mut BuyerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            BuyerMsg::Reserve {
                key,
                caller,
                now,
                expires_at,
                reply,
            } => {
                sweep(state, now);
                let before = state.counters.active();
                let result = if state.withdrawn.remove(&key).is_some() {
                    Err(Refusal::Withdrawn)
                } else {
                    admit(
                        &state.capacity,
                        &mut state.counters,
                        &caller,
                        now,
                        key,
                        expires_at,
                    )
                };
                match result {
                    Ok(()) => {
                        let gained = state.counters.active() - before;
                        ACTIVE_RESERVATIONS.add(f64::from(gained));
                        arm_sweep(&myself, state);
                        let _ = reply.send(Ok(()));
                    }
                    Err(refusal) => {
                        BUYER_REFUSALS.inc_with(&[("reason", refusal.as_str())]);
                        let _ = reply.send(Err(refusal));
                    }
                }
            }
            BuyerMsg::Release { key, answered } => {
                if state.counters.release(key, answered) {
                    ACTIVE_RESERVATIONS.add(-1.0);
                } else {
                    let now = Utc::now();
                    if state.withdrawn.len() >= 1024 {
                        state.withdrawn.retain(|_, at| now - *at < WITHDRAWN_FOR);
                    }
                    state.withdrawn.insert(key, now);
                }
            }
            BuyerMsg::Update(capacity) => state.capacity = capacity,
            BuyerMsg::Sweep => {
                state.sweep_armed = false;
                sweep(state, Utc::now());
                if state.counters.active() > 0 {
                    arm_sweep(&myself, state);
                }
            }
            BuyerMsg::Stats(reply) => {
                let s = state.counters.snapshot(state.capacity.timezone, Utc::now());
                let _ = reply.send(BuyerStats {
                    active: s.active,
                    hour: s.hour,
                    day: s.day,
                    month: s.month,
                    total: s.total,
                });
            }
        }
        Ok(())
    }
}

/// Releases expired reservations (their counts stay: the buyer likely took the call).
fn sweep(state: &mut BuyerState, now: DateTime<Utc>) {
    let expired = state.counters.expire(now);
    if !expired.is_empty() {
        let n = expired.len() as u64;
        RESERVATIONS_EXPIRED.add(n);
        ACTIVE_RESERVATIONS.add(-(n as f64));
        tracing::warn!(buyer = %state.capacity.id, expired = n, "reservations expired without a final status callback");
    }
}

/// How often a buyer holding reservations looks for expired ones; an expired
/// slot is free again at most this late even if no call comes to sweep it.
const SWEEP_EVERY: Duration = Duration::from_secs(15);

/// One timer per buyer at most, and only while it holds reservations, so idle
/// buyers cost nothing however many are loaded.
fn arm_sweep(myself: &ActorRef<BuyerMsg>, state: &mut BuyerState) {
    if !state.sweep_armed {
        state.sweep_armed = true;
        myself.send_after(SWEEP_EVERY, || BuyerMsg::Sweep);
    }
}
