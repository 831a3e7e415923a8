//! The engine's reconciler asks Twilio's REST API about a reservation whose
//! final status callback is overdue ([`TwilioCalls`]).
//!
//! The reservation is a dial attempt: its leg is the call Twilio dialed to
//! the buyer. When a callback or the dial action named the leg, the leg is
//! read (`Calls/{sid}.json`); else it is found among the calls the inbound
//! call dialed (`Calls.json?ParentCallSid=…`) by the number it dialed. An
//! ended leg becomes the status event its final callback would have carried
//! (`CallStatus`, `CallDuration`, the end time). With no leg at all, the
//! inbound call is read: once it has ended, no leg can still be up, and it
//! becomes the inbound call's final callback. The mapping is pure
//! ([`leg_event`], [`inbound_event`], [`pick_leg`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use switchboard_engine::{
    CallStatusSource, Engine, EngineError, OpenReservation, ReconcileSettings, StatusEvent,
};
use switchboard_model::{AttemptOutcome, PhoneNumber, Tenant};

use crate::twilio::rest::{Account, Call, RestError, TwilioRest};

/// Twilio's REST API as the engine's [`CallStatusSource`].
#[derive(Debug, Clone)]
pub struct TwilioCalls {
    rest: TwilioRest,
}

impl TwilioCalls {
    /// Asks through `rest` (its base URL is `--twilio-api-base`).
    pub fn new(rest: TwilioRest) -> Self {
        Self { rest }
    }
}

/// Starts `engine`'s reconciler, asking Twilio through `rest`.
pub fn start(engine: &Engine, rest: TwilioRest, settings: ReconcileSettings) {
    engine.reconcile(Arc::new(TwilioCalls::new(rest)), settings);
}

fn carrier(e: RestError) -> EngineError {
    EngineError::Carrier(e.to_string())
}

#[async_trait::async_trait]
impl CallStatusSource for TwilioCalls {
    async fn ask(
        &self,
        tenant: &Tenant,
        open: &OpenReservation,
    ) -> switchboard_engine::Result<Option<StatusEvent>> {
        let Some(sid) = tenant.twilio_account_sid.as_deref() else {
            return Err(EngineError::Carrier(
                "the tenant has no twilio account sid".into(),
            ));
        };
        let account = Account {
            sid,
            token: &tenant.twilio_auth_token,
        };
        let leg = match &open.leg_sid {
            Some(leg) => Some(self.rest.call(account, leg).await.map_err(carrier)?),
            None => pick_leg(
                self.rest
                    .child_calls(account, &open.call_sid)
                    .await
                    .map_err(carrier)?,
                open,
            ),
        };
        match leg {
            Some(leg) => leg_event(open, &leg),
            None => inbound_event(
                open,
                &self
                    .rest
                    .call(account, &open.call_sid)
                    .await
                    .map_err(carrier)?,
            ),
        }
    }
}

/// The leg of `open` among the calls its inbound call dialed: to its
/// number, not another attempt's leg, the newest such.
pub fn pick_leg(children: Vec<Call>, open: &OpenReservation) -> Option<Call> {
    children
        .into_iter()
        .filter(|c| {
            c.parent_call_sid
                .as_deref()
                .is_none_or(|p| p == open.call_sid)
        })
        .filter(|c| !open.other_legs.contains(&c.sid))
        .filter(|c| {
            c.to.as_deref()
                .and_then(|t| PhoneNumber::parse(t).ok())
                .as_ref()
                == Some(&open.number)
        })
        .max_by_key(|c| time(c.start_time.as_deref()))
}

/// The final callback of `open`'s leg, once `leg` has ended.
pub fn leg_event(
    open: &OpenReservation,
    leg: &Call,
) -> switchboard_engine::Result<Option<StatusEvent>> {
    let Some(status) = ended(leg)? else {
        return Ok(None);
    };
    Ok(Some(StatusEvent {
        call_id: Some(open.call_id),
        attempt: Some(open.attempt),
        call_sid: leg.sid.clone(),
        parent_call_sid: Some(open.call_sid.clone()),
        status,
        sequence: None,
        duration_seconds: duration(leg),
        timestamp: time(leg.end_time.as_deref()),
    }))
}

/// The final callback of `open`'s inbound call, once `call` has ended.
pub fn inbound_event(
    open: &OpenReservation,
    call: &Call,
) -> switchboard_engine::Result<Option<StatusEvent>> {
    let Some(status) = ended(call)? else {
        return Ok(None);
    };
    Ok(Some(StatusEvent {
        call_id: Some(open.call_id),
        attempt: None,
        call_sid: open.call_sid.clone(),
        parent_call_sid: None,
        status,
        sequence: None,
        duration_seconds: duration(call),
        timestamp: time(call.end_time.as_deref()),
    }))
}

/// The call's outcome once it has ended; `None` while it is live.
fn ended(call: &Call) -> switchboard_engine::Result<Option<AttemptOutcome>> {
    let status = AttemptOutcome::from_twilio(&call.status).ok_or_else(|| {
        EngineError::Carrier(format!(
            "twilio answered an unknown call status {:?}",
            call.status
        ))
    })?;
    Ok(status.is_terminal().then_some(status))
}

fn duration(call: &Call) -> Option<u32> {
    call.duration.as_deref().and_then(|d| d.trim().parse().ok())
}

/// Twilio's RFC 2822 times.
fn time(t: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(t?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(leg_sid: Option<&str>) -> OpenReservation {
        OpenReservation {
            call_id: switchboard_model::new_id(),
            tenant_id: switchboard_model::new_id(),
            call_sid: "CAin".into(),
            attempt: 1,
            leg_sid: leg_sid.map(str::to_owned),
            number: PhoneNumber::parse("+15550002001").unwrap(),
            other_legs: vec!["CAfirst".into()],
            started_at: Utc::now(),
        }
    }

    fn call(sid: &str, to: &str, status: &str, duration: Option<&str>, start: &str) -> Call {
        Call {
            sid: sid.into(),
            parent_call_sid: Some("CAin".into()),
            to: Some(to.into()),
            status: status.into(),
            duration: duration.map(str::to_owned),
            start_time: Some(start.into()),
            end_time: Some("Thu, 03 Dec 2026 08:12:00 +0000".into()),
        }
    }

    #[test]
    fn a_completed_leg_is_its_final_callback() {
        let o = open(Some("CAleg"));
        let e = leg_event(
            &o,
            &call(
                "CAleg",
                "+15550002001",
                "completed",
                Some("120"),
                "Thu, 03 Dec 2026 08:10:00 +0000",
            ),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (
                e.call_id,
                e.attempt,
                e.call_sid.as_str(),
                e.parent_call_sid.as_deref()
            ),
            (Some(o.call_id), Some(1), "CAleg", Some("CAin"))
        );
        assert_eq!(
            (e.status, e.duration_seconds, e.sequence),
            (AttemptOutcome::Completed, Some(120), None)
        );
        assert_eq!(
            e.timestamp.unwrap().to_rfc3339(),
            "2026-12-03T08:12:00+00:00"
        );
        let busy = leg_event(
            &o,
            &call(
                "CAleg",
                "+15550002001",
                "busy",
                Some("0"),
                "Thu, 03 Dec 2026 08:10:00 +0000",
            ),
        )
        .unwrap()
        .unwrap();
        assert_eq!(busy.status, AttemptOutcome::Busy);
    }

    #[test]
    fn a_live_leg_is_no_event_and_an_unknown_status_an_error() {
        let o = open(None);
        for live in ["queued", "ringing", "in-progress"] {
            assert!(
                leg_event(&o, &call("CAleg", "+15550002001", live, None, ""))
                    .unwrap()
                    .is_none(),
                "{live}"
            );
        }
        assert!(matches!(
            leg_event(&o, &call("CAleg", "+15550002001", "exploded", None, "")),
            Err(EngineError::Carrier(_))
        ));
    }

    #[test]
    fn the_leg_is_the_newest_child_to_the_attempts_number_not_another_attempts() {
        let o = open(None);
        let children = vec![
            call(
                "CAfirst",
                "+15550002001",
                "busy",
                Some("0"),
                "Thu, 03 Dec 2026 08:00:00 +0000",
            ),
            call(
                "CAother",
                "+15550002002",
                "completed",
                Some("5"),
                "Thu, 03 Dec 2026 08:05:00 +0000",
            ),
            call(
                "CAold",
                "+15550002001",
                "failed",
                Some("0"),
                "Thu, 03 Dec 2026 08:01:00 +0000",
            ),
            call(
                "CAthis",
                "+15550002001",
                "completed",
                Some("90"),
                "Thu, 03 Dec 2026 08:02:00 +0000",
            ),
        ];
        assert_eq!(pick_leg(children, &o).map(|c| c.sid), Some("CAthis".into()));
        assert_eq!(pick_leg(vec![], &o).map(|c| c.sid), None);
    }

    #[test]
    fn an_ended_inbound_call_is_its_own_final_callback() {
        let o = open(None);
        let mut c = call(
            "CAin",
            "+15550001000",
            "completed",
            Some("130"),
            "Thu, 03 Dec 2026 08:00:00 +0000",
        );
        c.parent_call_sid = None;
        let e = inbound_event(&o, &c).unwrap().unwrap();
        assert_eq!(
            (e.call_sid.as_str(), e.attempt, e.parent_call_sid, e.status),
            ("CAin", None, None, AttemptOutcome::Completed)
        );
    }
}
