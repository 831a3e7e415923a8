//! The reconciler: a reservation whose final status callback is overdue is
//! checked with the carrier instead of holding its buyer's slot until the
//! call's time limit (4 h and the grace) passes.
//!
//! Every sweep picks, from the live-call table, the open attempts of calls
//! the carrier has been quiet about for `after` ([`overdue`], pure). For each,
//! a [`CallStatusSource`] (Twilio's REST API, in `api`) says what the carrier
//! knows: an ended call comes back as the status event its final callback
//! would have carried, and goes through [`Engine::status_event`] like the
//! callback itself — so duration, conversion and revenue are booked the same
//! way, once, and a late real callback is a duplicate. A live call is left
//! and asked about again after another `after`; so is one the carrier could
//! not be asked about.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use switchboard_model::{CallRecord, Id, PhoneNumber, Tenant};
use tokio::task::JoinSet;

use crate::metrics::{RECONCILE_ERRORS, RECONCILE_RELEASED, RECONCILE_STILL_LIVE};
use crate::{Engine, EngineError, StatusEvent};

/// When to ask the carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileSettings {
    /// How old a reservation must be, and how long its call must have gone
    /// without a callback (or a question), before the carrier is asked.
    pub after: Duration,
    /// How often the live calls are swept.
    pub every: Duration,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        Self {
            after: Duration::from_secs(600),
            every: Duration::from_secs(60),
        }
    }
}

/// Questions to the carrier at once, per sweep.
const IN_FLIGHT: usize = 8;

/// A reservation the carrier is asked about: one open dial attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReservation {
    /// Our call id.
    pub call_id: Id,
    /// The call's tenant (whose carrier account is asked).
    pub tenant_id: Id,
    /// The inbound call's `CallSid`.
    pub call_sid: String,
    /// The attempt holding the reservation.
    pub attempt: u16,
    /// The dialed leg's `CallSid`, when a callback or the dial action named it.
    pub leg_sid: Option<String>,
    /// The number the attempt dialed.
    pub number: PhoneNumber,
    /// The legs of the call's other attempts (so they are not taken for this one).
    pub other_legs: Vec<String>,
    /// When the attempt was dialed.
    pub started_at: DateTime<Utc>,
}

/// What a carrier knows of calls.
#[async_trait::async_trait]
pub trait CallStatusSource: Send + Sync + 'static {
    /// The carrier's word on `open`'s call: `Ok(Some(event))` once it has
    /// ended (the status event its final callback would have carried),
    /// `Ok(None)` while it is live.
    async fn ask(
        &self,
        tenant: &Tenant,
        open: &OpenReservation,
    ) -> crate::Result<Option<StatusEvent>>;
}

/// The open attempts of `record` to ask about at `now`: the call was last
/// heard of at `heard`, and each attempt is at least `after` old.
pub(crate) fn overdue(
    record: &CallRecord,
    heard: DateTime<Utc>,
    now: DateTime<Utc>,
    after: chrono::Duration,
) -> Vec<OpenReservation> {
    if now - heard < after {
        return Vec::new();
    }
    record
        .attempts
        .iter()
        .enumerate()
        .filter(|(_, a)| !a.released && now - a.started_at >= after)
        .map(|(idx, a)| OpenReservation {
            call_id: record.id,
            tenant_id: record.tenant_id,
            call_sid: record.call_sid.clone(),
            attempt: idx as u16,
            leg_sid: a.dial_call_sid.clone(),
            number: a.number.clone(),
            other_legs: record
                .attempts
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != idx)
                .filter_map(|(_, o)| o.dial_call_sid.clone())
                .collect(),
            started_at: a.started_at,
        })
        .collect()
}

impl Engine {
    /// Sweeps the live calls every `settings.every` and asks `source` about
    /// overdue reservations, until the engine shuts down.
    pub fn reconcile(&self, source: Arc<dyn CallStatusSource>, settings: ReconcileSettings) {
        let weak = Arc::downgrade(&self.inner);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(settings.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                Engine { inner }
                    .reconcile_once(&source, settings.after)
                    .await;
            }
        });
        self.push_background(task);
    }

    /// One sweep: asks about every reservation overdue now.
    async fn reconcile_once(&self, source: &Arc<dyn CallStatusSource>, after: Duration) {
        let after = chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
        let now = Utc::now();
        let mut due = Vec::new();
        for live in self.inner.live.all() {
            // A call being changed right now is not quiet.
            let Ok(slot) = live.record.try_lock() else {
                continue;
            };
            let Some(record) = slot.as_ref() else {
                continue;
            };
            let open = overdue(record, live.heard(), now, after);
            if !open.is_empty() {
                // Asked now: the next question waits another `after`.
                live.heard_now();
                due.extend(open);
            }
        }
        let mut asking = JoinSet::new();
        for open in due {
            // A tenant that has not connected its carrier account cannot be asked.
            let Some(tenant) = self
                .tenant(open.tenant_id)
                .filter(|t| t.twilio_account_sid.is_some())
            else {
                continue;
            };
            if asking.len() >= IN_FLIGHT {
                asking.join_next().await;
            }
            let (engine, source) = (self.clone(), source.clone());
            asking
                .spawn(async move { engine.reconcile_one(source.as_ref(), &tenant, &open).await });
        }
        while asking.join_next().await.is_some() {}
    }

    async fn reconcile_one(
        &self,
        source: &dyn CallStatusSource,
        tenant: &Tenant,
        open: &OpenReservation,
    ) {
        match source.ask(tenant, open).await {
            Ok(Some(event)) if event.status.is_terminal() => match self.status_event(event).await {
                Ok(()) => {
                    tracing::info!(call = %open.call_id, attempt = open.attempt, "no final callback came; the carrier says the call ended, booked as its callback");
                    RECONCILE_RELEASED.inc();
                }
                Err(e) => {
                    tracing::warn!(call = %open.call_id, error = %e, "could not book what the carrier says of an overdue call; asking again later");
                    RECONCILE_ERRORS.inc_with(&[("reason", "engine")]);
                }
            },
            Ok(_) => {
                RECONCILE_STILL_LIVE.inc();
            }
            Err(e) => {
                let reason = if matches!(e, EngineError::Carrier(_)) {
                    "carrier"
                } else {
                    "engine"
                };
                tracing::warn!(call = %open.call_id, error = %e, "could not ask the carrier about an overdue call; asking again later");
                RECONCILE_ERRORS.inc_with(&[("reason", reason)]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_model::{Attempt, AttemptOutcome};

    fn attempt(started_at: DateTime<Utc>, released: bool, leg: Option<&str>) -> Attempt {
        Attempt {
            buyer_id: switchboard_model::new_id(),
            number: PhoneNumber::parse("+15550002001").unwrap(),
            started_at,
            answered_at: None,
            ended_at: None,
            outcome: if released {
                AttemptOutcome::Busy
            } else {
                AttemptOutcome::Pending
            },
            duration_seconds: 0,
            dial_call_sid: leg.map(str::to_owned),
            last_sequence: None,
            released,
            bid_minor: None,
            bid_duration_seconds: None,
        }
    }

    fn record(attempts: Vec<Attempt>) -> CallRecord {
        let started_at = attempts.first().map_or_else(Utc::now, |a| a.started_at);
        CallRecord {
            call_sid: "CAin".into(),
            started_at,
            attempts,
            skipped: Vec::new(),
            tags: Default::default(),
            ..crate::calls::sample_record()
        }
    }

    const MIN: chrono::Duration = chrono::Duration::minutes(1);

    #[test]
    fn an_old_reservation_of_a_quiet_call_is_asked_about() {
        let now = Utc::now();
        let r = record(vec![attempt(now - MIN * 11, false, None)]);
        let due = overdue(&r, now - MIN * 11, now, MIN * 10);
        assert_eq!(due.len(), 1);
        assert_eq!(
            (
                due[0].call_id,
                due[0].attempt,
                due[0].call_sid.as_str(),
                due[0].leg_sid.as_deref()
            ),
            (r.id, 0, "CAin", None)
        );
    }

    #[test]
    fn a_young_reservation_or_a_recent_callback_waits() {
        let now = Utc::now();
        let young = record(vec![attempt(now - MIN * 9, false, None)]);
        assert!(
            overdue(&young, now - MIN * 11, now, MIN * 10).is_empty(),
            "the reservation is younger than the age"
        );
        let old = record(vec![attempt(now - MIN * 60, false, Some("CAleg"))]);
        assert!(
            overdue(&old, now - MIN * 2, now, MIN * 10).is_empty(),
            "a callback came two minutes ago"
        );
    }

    #[test]
    fn only_open_attempts_are_asked_about_and_know_the_other_legs() {
        let now = Utc::now();
        let r = record(vec![
            attempt(now - MIN * 30, true, Some("CAfirst")),
            attempt(now - MIN * 29, false, None),
        ]);
        let due = overdue(&r, now - MIN * 29, now, MIN * 10);
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].attempt, due[0].other_legs.clone()),
            (1, vec!["CAfirst".to_owned()])
        );
        let settled = record(vec![attempt(now - MIN * 30, true, Some("CAfirst"))]);
        assert!(
            overdue(&settled, now - MIN * 30, now, MIN * 10).is_empty(),
            "a released reservation is never asked about"
        );
    }
}
