//! The live-call table and the call state machine.
//!
//! Every change to one call — its dial result, status callbacks, recording —
//! happens under that call's own lock, and the new record is durable before
//! the lock is released, so callbacks racing for one call apply one at a time
//! and in the store in the same order. Calls that have ended are evicted after
//! a grace period; a late callback loads them back from the store.
//!
//! The transition functions here are pure: they change a record and return
//! the reservations to release once the change is committed.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use switchboard_model::{
    Attempt, AttemptOutcome, Buyer, CallRecord, CallStatus, CallerIdMode, Campaign, Currency, Id,
    PhoneNumber, RejectReason,
};
use tokio::sync::Mutex;

use crate::api::Decision;

/// One call in flight. `record` is `None` only while its first decision is
/// being made; a retried webhook for the same `CallSid` waits on the lock.
pub(crate) struct LiveCall {
    pub(crate) id: Id,
    pub(crate) tenant_id: Id,
    pub(crate) record: Mutex<Option<CallRecord>>,
    /// When the carrier last told us about this call (or we last asked it),
    /// in Unix milliseconds: the reconciler asks about calls quiet for long.
    heard: AtomicI64,
}

impl LiveCall {
    pub(crate) fn new(id: Id, tenant_id: Id, record: Option<CallRecord>) -> Self {
        Self {
            id,
            tenant_id,
            record: Mutex::new(record),
            heard: AtomicI64::new(Utc::now().timestamp_millis()),
        }
    }

    /// Notes a sign of life (a callback, or a question to the carrier) now.
    pub(crate) fn heard_now(&self) {
        self.heard
            .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    /// When the call was last heard of.
    pub(crate) fn heard(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.heard.load(Ordering::Relaxed)).unwrap_or_else(Utc::now)
    }
}

/// Calls in flight, by our id and by Twilio's `CallSid`.
#[derive(Default)]
pub(crate) struct LiveCalls {
    by_id: DashMap<Id, Arc<LiveCall>>,
    by_sid: DashMap<String, Arc<LiveCall>>,
}

/// A reservation to give back once a change is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Release {
    pub(crate) buyer_id: Id,
    pub(crate) key: (Id, u16),
    pub(crate) answered: bool,
}

impl LiveCalls {
    pub(crate) fn by_sid(&self, sid: &str) -> Option<Arc<LiveCall>> {
        self.by_sid.get(sid).map(|e| e.clone())
    }

    pub(crate) fn by_id(&self, id: Id) -> Option<Arc<LiveCall>> {
        self.by_id.get(&id).map(|e| e.clone())
    }

    /// Inserts `call` under `sid` unless a call with that sid is already
    /// there, in which case that one is returned instead.
    pub(crate) fn claim(&self, sid: &str, call: Arc<LiveCall>) -> Result<(), Arc<LiveCall>> {
        match self.by_sid.entry(sid.to_owned()) {
            dashmap::Entry::Occupied(e) => Err(e.get().clone()),
            dashmap::Entry::Vacant(v) => {
                v.insert(call.clone());
                self.by_id.insert(call.id, call);
                Ok(())
            }
        }
    }

    /// Puts a call loaded from the store back in the table (or returns the
    /// one another task loaded first).
    pub(crate) fn adopt(&self, record: CallRecord) -> Arc<LiveCall> {
        let sid = record.call_sid.clone();
        let call = Arc::new(LiveCall::new(record.id, record.tenant_id, Some(record)));
        match self.claim(&sid, call.clone()) {
            Ok(()) => call,
            Err(existing) => existing,
        }
    }

    pub(crate) fn remove(&self, id: Id, sid: &str) {
        self.by_id.remove(&id);
        self.by_sid.remove(sid);
    }

    /// Drops calls that ended before `before` and are not being changed now.
    pub(crate) fn evict(&self, before: DateTime<Utc>) -> usize {
        let mut gone = Vec::new();
        for entry in self.by_id.iter() {
            if let Ok(slot) = entry.value().record.try_lock()
                && let Some(r) = slot.as_ref()
            {
                let settled = r.status.is_terminal() && r.attempts.iter().all(|a| a.released);
                if settled && r.ended_at.is_some_and(|t| t < before) {
                    gone.push((r.id, r.call_sid.clone()));
                }
            }
        }
        for (id, sid) in &gone {
            self.remove(*id, sid);
        }
        gone.len()
    }

    /// Forgets every call `keep` refuses (a later event reloads it from the store).
    pub(crate) fn retain(&self, keep: impl Fn(Id) -> bool) {
        let gone: Vec<(Id, String)> = self
            .by_sid
            .iter()
            .filter(|e| !keep(e.value().id))
            .map(|e| (e.value().id, e.key().clone()))
            .collect();
        for (id, sid) in gone {
            self.remove(id, &sid);
        }
    }

    /// Every call in the table now.
    pub(crate) fn all(&self) -> Vec<Arc<LiveCall>> {
        self.by_id.iter().map(|e| e.value().clone()).collect()
    }
}

/// Engine settings a decision needs.
pub(crate) struct DialSettings {
    pub(crate) time_limit_seconds: u32,
}

/// What the carrier should do now, derived from the record alone, so a
/// retried webhook gets exactly the answer the first one got.
pub(crate) fn decision_for(
    record: &CallRecord,
    campaign: Option<&Campaign>,
    settings: &DialSettings,
) -> Decision {
    match record.status {
        CallStatus::Rejected => Decision::Reject {
            reason: record
                .reject_reason
                .unwrap_or(RejectReason::NoBuyerAvailable),
        },
        CallStatus::NoAnswer => Decision::Reject {
            reason: RejectReason::NoBuyerAvailable,
        },
        CallStatus::Blocked => Decision::Block,
        CallStatus::Completed => Decision::Hangup,
        CallStatus::Ringing | CallStatus::InProgress => {
            let Some((idx, attempt)) = record.attempts.iter().enumerate().next_back() else {
                return Decision::Hangup;
            };
            let mode = campaign.map(|c| c.caller_id_mode).unwrap_or_default();
            let caller_id = match mode {
                CallerIdMode::Caller if PhoneNumber::parse(&record.from).is_ok() => {
                    record.from.clone()
                }
                _ => record.to.as_str().to_owned(),
            };
            Decision::Dial {
                call_id: record.id,
                attempt: idx as u16,
                number: attempt.number.clone(),
                caller_id,
                timeout_seconds: campaign.map(|c| c.dial_timeout_seconds).unwrap_or(30),
                time_limit_seconds: settings.time_limit_seconds,
                record: campaign.is_some_and(|c| c.recording),
            }
        }
    }
}

/// Appends a dial attempt to `buyer`.
pub(crate) fn push_attempt(record: &mut CallRecord, buyer: &Buyer, now: DateTime<Utc>) {
    push(record, buyer.id, buyer.phone_number.clone(), None, now);
    record.currency = buyer.currency;
}

/// Appends a dial attempt to an RTB winner: `target` (whose capacity is
/// reserved) at the number it bid with.
pub(crate) fn push_bid_attempt(
    record: &mut CallRecord,
    target: Id,
    number: PhoneNumber,
    bid: (i64, Currency, Option<u32>),
    now: DateTime<Utc>,
) {
    push(record, target, number, Some((bid.0, bid.2)), now);
    record.currency = bid.1;
}

fn push(
    record: &mut CallRecord,
    buyer_id: Id,
    number: PhoneNumber,
    bid: Option<(i64, Option<u32>)>,
    now: DateTime<Utc>,
) {
    record.attempts.push(Attempt {
        buyer_id,
        number,
        started_at: now,
        answered_at: None,
        ended_at: None,
        outcome: AttemptOutcome::Pending,
        duration_seconds: 0,
        dial_call_sid: None,
        last_sequence: None,
        released: false,
        bid_minor: bid.map(|b| b.0),
        bid_duration_seconds: bid.and_then(|b| b.1),
    });
    record.status = CallStatus::Ringing;
    record.buyer_id = Some(buyer_id);
}

/// Marks attempt `idx` answered (once).
pub(crate) fn answer(record: &mut CallRecord, idx: usize, at: DateTime<Utc>) {
    let a = &mut record.attempts[idx];
    a.answered_at.get_or_insert(at);
    if a.outcome == AttemptOutcome::Pending {
        a.outcome = AttemptOutcome::Answered;
    }
    record.answered_at.get_or_insert(at);
    if idx + 1 == record.attempts.len() && record.status == CallStatus::Ringing {
        record.status = CallStatus::InProgress;
    }
}

/// Ends attempt `idx` after the buyer answered and talked `duration` seconds;
/// books the conversion once. Returns the reservation to release.
pub(crate) fn finish_answered(
    record: &mut CallRecord,
    idx: usize,
    duration: u32,
    now: DateTime<Utc>,
    buyer: Option<&Buyer>,
) -> Option<Release> {
    let key = (record.id, idx as u16);
    let a = &mut record.attempts[idx];
    a.duration_seconds = a.duration_seconds.max(duration);
    let ended = *a.ended_at.get_or_insert(now);
    let answered_at = *a
        .answered_at
        .get_or_insert(ended - chrono::Duration::seconds(i64::from(a.duration_seconds)));
    a.outcome = AttemptOutcome::Completed;
    let talk = a.duration_seconds;
    let buyer_id = a.buyer_id;
    let bid = a
        .bid_minor
        .map(|m| (m, a.bid_duration_seconds.unwrap_or(0)));
    let release = (!a.released).then(|| {
        a.released = true;
        Release {
            buyer_id,
            key,
            answered: true,
        }
    });
    record.answered_at.get_or_insert(answered_at);
    record.duration_seconds = talk;
    record.buyer_id = Some(buyer_id);
    if idx + 1 == record.attempts.len() && !record.status.is_terminal() {
        record.status = CallStatus::Completed;
        record.ended_at.get_or_insert(ended);
    }
    if let Some((bid, min_talk)) = bid {
        // An RTB winner: the revenue is its bid, once the caller talked as
        // long as the bidder asked (any answered talk if it did not say).
        if !record.converted && talk > 0 && talk >= min_talk {
            record.converted = true;
            record.revenue_minor = bid;
            crate::metrics::CONVERSIONS.inc();
        }
    } else if let Some(b) = buyer.filter(|b| b.id == buyer_id)
        && !record.converted
        && talk > 0
        && talk >= b.conversion_seconds
    {
        record.converted = true;
        record.revenue_minor = b.revenue;
        record.currency = b.currency;
        crate::metrics::CONVERSIONS.inc();
    }
    release
}

/// Ends attempt `idx` without an answer (busy, no-answer, failed, canceled).
/// Returns the reservation to release, refunding the buyer's caps.
pub(crate) fn finish_unanswered(
    record: &mut CallRecord,
    idx: usize,
    outcome: AttemptOutcome,
    now: DateTime<Utc>,
) -> Option<Release> {
    let key = (record.id, idx as u16);
    let a = &mut record.attempts[idx];
    if !a.outcome.is_terminal() {
        a.outcome = outcome;
        a.ended_at.get_or_insert(now);
    }
    let buyer_id = a.buyer_id;
    (!a.released).then(|| {
        a.released = true;
        Release {
            buyer_id,
            key,
            answered: false,
        }
    })
}

/// The inbound call itself ended (the caller hung up): close whatever is open.
pub(crate) fn end_call(
    record: &mut CallRecord,
    now: DateTime<Utc>,
    buyers: &dyn Fn(Id) -> Option<Arc<Buyer>>,
) -> Vec<Release> {
    let mut releases = Vec::new();
    for idx in 0..record.attempts.len() {
        let a = &record.attempts[idx];
        match a.outcome {
            AttemptOutcome::Answered => {
                let talk = a
                    .answered_at
                    .map(|t| (now - t).num_seconds().max(0) as u32)
                    .unwrap_or(0);
                let buyer = buyers(a.buyer_id);
                releases.extend(finish_answered(record, idx, talk, now, buyer.as_deref()));
            }
            AttemptOutcome::Pending => releases.extend(finish_unanswered(
                record,
                idx,
                AttemptOutcome::Canceled,
                now,
            )),
            _ => {}
        }
    }
    if !record.status.is_terminal() {
        record.status = if record.answered_at.is_some() {
            CallStatus::Completed
        } else {
            CallStatus::NoAnswer
        };
    }
    record.ended_at.get_or_insert(now);
    releases
}

/// A ringing call with no attempts, for unit tests of this crate.
#[cfg(test)]
pub(crate) fn sample_record() -> CallRecord {
    CallRecord {
        id: switchboard_model::new_id(),
        call_sid: "CA1".into(),
        tenant_id: switchboard_model::new_id(),
        campaign_id: switchboard_model::new_id(),
        from: "+15551230000".into(),
        to: PhoneNumber::parse("+15550001000").unwrap(),
        caller_state: None,
        caller_zip: None,
        status: CallStatus::Ringing,
        reject_reason: None,
        buyer_id: None,
        attempts: vec![],
        skipped: Vec::new(),
        tags: Default::default(),
        started_at: Utc::now(),
        answered_at: None,
        ended_at: None,
        duration_seconds: 0,
        converted: false,
        revenue_minor: 0,
        payout_minor: 0,
        profit_minor: 0,
        currency: Default::default(),
        recording_url: None,
        pool_id: None,
        attribution: None,
        publisher_id: None,
        duplicate: false,
        adjustments: Vec::new(),
        demo: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buyer(conversion_seconds: u32) -> Buyer {
        serde_json::from_value(serde_json::json!({
            "id": switchboard_model::new_id(), "tenantId": switchboard_model::new_id(), "name": "Acme",
            "phoneNumber": "+15550002001", "timezone": "America/New_York",
            "conversionSeconds": conversion_seconds, "revenue": 25
        }))
        .unwrap()
    }

    fn record() -> CallRecord {
        super::sample_record()
    }

    #[test]
    fn conversion_is_booked_once_and_only_past_the_threshold() {
        let b = buyer(60);
        let now = Utc::now();
        let mut r = record();
        push_attempt(&mut r, &b, now);
        let rel = finish_answered(&mut r, 0, 59, now, Some(&b));
        assert_eq!(rel.map(|r| r.answered), Some(true));
        assert!(!r.converted);
        assert_eq!(r.status, CallStatus::Completed);

        let mut r = record();
        push_attempt(&mut r, &b, now);
        finish_answered(&mut r, 0, 61, now, Some(&b));
        assert!(r.converted);
        assert_eq!(r.revenue_minor, 2500);
        // A duplicate completion releases nothing and books nothing more.
        assert_eq!(finish_answered(&mut r, 0, 61, now, Some(&b)), None);
        assert_eq!(r.revenue_minor, 2500);
    }

    #[test]
    fn unanswered_attempt_releases_with_refund_once() {
        let b = buyer(0);
        let now = Utc::now();
        let mut r = record();
        push_attempt(&mut r, &b, now);
        let rel = finish_unanswered(&mut r, 0, AttemptOutcome::Busy, now).unwrap();
        assert!(!rel.answered);
        assert_eq!(r.attempts[0].outcome, AttemptOutcome::Busy);
        assert_eq!(
            finish_unanswered(&mut r, 0, AttemptOutcome::NoAnswer, now),
            None
        );
        assert_eq!(
            r.attempts[0].outcome,
            AttemptOutcome::Busy,
            "the first terminal outcome stays"
        );
    }

    #[test]
    fn caller_hanging_up_closes_open_attempts() {
        let b = Arc::new(buyer(10));
        let now = Utc::now();
        let mut r = record();
        push_attempt(&mut r, &b, now - chrono::Duration::seconds(40));
        answer(&mut r, 0, now - chrono::Duration::seconds(30));
        let b2 = b.clone();
        let rel = end_call(&mut r, now, &move |_| Some(b2.clone()));
        assert_eq!(rel.len(), 1);
        assert_eq!(r.status, CallStatus::Completed);
        assert_eq!(r.duration_seconds, 30);
        assert!(r.converted);
    }

    #[test]
    fn decision_replays_from_the_record() {
        let b = buyer(0);
        let mut r = record();
        let settings = DialSettings {
            time_limit_seconds: 14_400,
        };
        push_attempt(&mut r, &b, Utc::now());
        let Decision::Dial {
            number,
            attempt,
            caller_id,
            ..
        } = decision_for(&r, None, &settings)
        else {
            panic!("expected a dial")
        };
        assert_eq!(
            (number.as_str(), attempt, caller_id.as_str()),
            ("+15550002001", 0, "+15551230000")
        );
        r.from = "anonymous".into();
        let Decision::Dial { caller_id, .. } = decision_for(&r, None, &settings) else {
            panic!("expected a dial")
        };
        assert_eq!(
            caller_id, "+15550001000",
            "anonymous callers show the tracking number"
        );
        r.status = CallStatus::Rejected;
        r.reject_reason = Some(RejectReason::DuplicateCaller);
        assert_eq!(
            decision_for(&r, None, &settings),
            Decision::Reject {
                reason: RejectReason::DuplicateCaller
            }
        );
        r.status = CallStatus::Blocked;
        assert_eq!(decision_for(&r, None, &settings), Decision::Block);
    }
}
