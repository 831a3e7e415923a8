//! Twilio's form-encoded webhook bodies.
//!
//! [`parse_pairs`] keeps every pair in the order sent, duplicates included:
//! that is what the signature covers. The typed parsers then read the fields
//! each webhook needs and name the field that is missing or invalid.

use chrono::{DateTime, Utc};
use switchboard_engine::{DialResult, InboundCall, StatusEvent};
use switchboard_model::{AttemptOutcome, CallerInfo, Id, PhoneNumber};

/// Longest value kept for an identifier-like field (sids, states, ZIPs).
const MAX_ID_LEN: usize = 128;
/// Longest `From` or URL kept.
const MAX_TEXT_LEN: usize = 2048;

/// A webhook body or query that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormError {
    /// A required field is absent or empty.
    #[error("missing field {0}")]
    Missing(&'static str),
    /// A field is present but not in the expected form.
    #[error("invalid field {field}: {reason}")]
    Invalid {
        /// The field's name as Twilio spells it.
        field: &'static str,
        /// What is wrong with it, lowercase.
        reason: String,
    },
}

impl FormError {
    /// The field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            FormError::Missing(f) | FormError::Invalid { field: f, .. } => f,
        }
    }
}

/// Parses an `application/x-www-form-urlencoded` body (or query string) into
/// its pairs, in order, duplicates kept. Never fails: invalid UTF-8 and
/// percent-escapes decode lossily, as every form decoder does.
pub fn parse_pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Read access to parsed pairs: the first occurrence of a name wins.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a>(pub &'a [(String, String)]);

impl<'a> Fields<'a> {
    /// The first value of `name`, if present and not blank.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The first present, non-blank value among `names`.
    pub fn first_of(&self, names: &[&str]) -> Option<&'a str> {
        names.iter().find_map(|n| self.get(n))
    }

    fn required(&self, name: &'static str) -> Result<&'a str, FormError> {
        self.get(name).ok_or(FormError::Missing(name))
    }

    fn sid(&self, name: &'static str) -> Result<Option<String>, FormError> {
        self.get(name).map(|v| identifier(name, v)).transpose()
    }

    fn required_sid(&self, name: &'static str) -> Result<String, FormError> {
        identifier(name, self.required(name)?)
    }

    fn number<T: std::str::FromStr>(&self, name: &'static str) -> Result<Option<T>, FormError> {
        self.get(name)
            .map(|v| {
                v.parse::<T>().map_err(|_| {
                    invalid(name, format!("expected a non-negative integer, got {v:?}"))
                })
            })
            .transpose()
    }

    fn outcome(&self, name: &'static str) -> Result<AttemptOutcome, FormError> {
        let v = self.required(name)?;
        AttemptOutcome::from_twilio(v).ok_or_else(|| invalid(name, format!("unknown status {v:?}")))
    }
}

fn invalid(field: &'static str, reason: String) -> FormError {
    FormError::Invalid { field, reason }
}

/// An identifier we store and echo: bounded, printable, no whitespace.
fn identifier(field: &'static str, v: &str) -> Result<String, FormError> {
    if v.len() > MAX_ID_LEN {
        return Err(invalid(
            field,
            format!("longer than {MAX_ID_LEN} characters"),
        ));
    }
    if v.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(
            field,
            "contains whitespace or control characters".into(),
        ));
    }
    Ok(v.to_owned())
}

/// Free text we store (a caller id, a URL): bounded, no control characters.
fn text(field: &'static str, v: &str) -> Result<String, FormError> {
    if v.len() > MAX_TEXT_LEN {
        return Err(invalid(
            field,
            format!("longer than {MAX_TEXT_LEN} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(invalid(field, "contains control characters".into()));
    }
    Ok(v.to_owned())
}

/// The voice webhook: a call arrived at a tracking number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceParams {
    /// `CallSid`.
    pub call_sid: String,
    /// `AccountSid`.
    pub account_sid: String,
    /// `From`: a number, `anonymous`, a SIP URI or a client identity.
    pub from: String,
    /// `To`: the tracking number dialed.
    pub to: PhoneNumber,
    /// `FromState`, else `CallerState`.
    pub from_state: Option<String>,
    /// `FromZip`, else `CallerZip`.
    pub from_zip: Option<String>,
    /// `FromCity`, else `CallerCity`.
    pub from_city: Option<String>,
    /// `FromCountry`, else `CallerCountry`.
    pub from_country: Option<String>,
}

impl VoiceParams {
    /// Reads the voice webhook's fields.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, FormError> {
        let f = Fields(pairs);
        let call_sid = f.required_sid("CallSid")?;
        let account_sid = f.required_sid("AccountSid")?;
        let to_raw = f.required("To")?;
        let to = PhoneNumber::parse(to_raw)
            .map_err(|_| invalid("To", format!("not a phone number: {to_raw:?}")))?;
        // A withheld caller id still reaches us as a call; route it as anonymous.
        let from = text("From", f.get("From").unwrap_or("anonymous"))?;
        let from_state = f
            .first_of(&["FromState", "CallerState"])
            .map(|v| identifier("FromState", v))
            .transpose()?;
        let from_zip = f
            .first_of(&["FromZip", "CallerZip"])
            .map(|v| identifier("FromZip", v))
            .transpose()?;
        let from_city = f
            .first_of(&["FromCity", "CallerCity"])
            .map(|v| text("FromCity", v))
            .transpose()?;
        let from_country = f
            .first_of(&["FromCountry", "CallerCountry"])
            .map(|v| identifier("FromCountry", v))
            .transpose()?;
        Ok(Self {
            call_sid,
            account_sid,
            from,
            to,
            from_state,
            from_zip,
            from_city,
            from_country,
        })
    }

    /// The engine's view of the call.
    pub fn into_inbound(self) -> InboundCall {
        InboundCall {
            call_sid: self.call_sid,
            account_sid: self.account_sid,
            to: self.to,
            caller: CallerInfo {
                from: self.from,
                state: self.from_state,
                zip: self.from_zip,
                // State and ZIP become tags with the rest (`call_tags`).
                tags: [
                    ("callerCity", self.from_city),
                    ("callerCountry", self.from_country),
                ]
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_owned(), v.filter(|v| !v.trim().is_empty())?)))
                .collect(),
            },
        }
    }
}

/// The `<Dial action>` callback: how the dialed leg ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialParams {
    /// `DialCallStatus`.
    pub status: AttemptOutcome,
    /// `DialCallSid`.
    pub dial_call_sid: Option<String>,
    /// `DialCallDuration`, seconds.
    pub duration_seconds: Option<u32>,
}

impl DialParams {
    /// Reads the dial action's fields.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, FormError> {
        let f = Fields(pairs);
        Ok(Self {
            status: f.outcome("DialCallStatus")?,
            dial_call_sid: f.sid("DialCallSid")?,
            duration_seconds: f.number("DialCallDuration")?,
        })
    }

    /// The engine's view of the result, for the attempt our action URL carried.
    pub fn into_result(self, attempt: Option<u16>) -> DialResult {
        DialResult {
            attempt,
            status: self.status,
            dial_call_sid: self.dial_call_sid,
            duration_seconds: self.duration_seconds,
        }
    }
}

/// A status callback of a dialed leg (or of the inbound call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusParams {
    /// `CallSid` of the leg the callback is about.
    pub call_sid: String,
    /// `ParentCallSid`: the inbound call, for a dialed leg.
    pub parent_call_sid: Option<String>,
    /// `CallStatus`.
    pub status: AttemptOutcome,
    /// `SequenceNumber`: orders callbacks of one leg.
    pub sequence: Option<u32>,
    /// `CallDuration`, seconds.
    pub duration_seconds: Option<u32>,
    /// `Timestamp` (RFC 2822).
    pub timestamp: Option<DateTime<Utc>>,
}

impl StatusParams {
    /// Reads the status callback's fields.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, FormError> {
        let f = Fields(pairs);
        let timestamp = f
            .get("Timestamp")
            .map(|v| {
                DateTime::parse_from_rfc2822(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        invalid("Timestamp", format!("expected an RFC 2822 date, got {v:?}"))
                    })
            })
            .transpose()?;
        Ok(Self {
            call_sid: f.required_sid("CallSid")?,
            parent_call_sid: f.sid("ParentCallSid")?,
            status: f.outcome("CallStatus")?,
            sequence: f.number("SequenceNumber")?,
            duration_seconds: f.number("CallDuration")?,
            timestamp,
        })
    }

    /// The engine's view of the event, with the ids our callback URL carried.
    pub fn into_event(self, call_id: Option<Id>, attempt: Option<u16>) -> StatusEvent {
        StatusEvent {
            call_id,
            attempt,
            call_sid: self.call_sid,
            parent_call_sid: self.parent_call_sid,
            status: self.status,
            sequence: self.sequence,
            duration_seconds: self.duration_seconds,
            timestamp: self.timestamp,
        }
    }
}

/// The query of our callback URLs: `?callId=…&attempt=…` (status) or
/// `?attempt=…` (dial action).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusQuery {
    /// Our call id.
    pub call_id: Option<Id>,
    /// Our attempt index.
    pub attempt: Option<u16>,
}

impl StatusQuery {
    /// Reads the query string (without the `?`).
    pub fn parse(query: &str) -> Result<Self, FormError> {
        let pairs = parse_pairs(query.as_bytes());
        let f = Fields(&pairs);
        let call_id = f
            .get("callId")
            .map(|v| {
                v.parse::<Id>()
                    .map_err(|_| invalid("callId", format!("not a call id: {v:?}")))
            })
            .transpose()?;
        Ok(Self {
            call_id,
            attempt: f.number("attempt")?,
        })
    }
}

/// The recording status callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingParams {
    /// `RecordingUrl`; present when the recording completed.
    pub recording_url: Option<String>,
    /// `RecordingSid`.
    pub recording_sid: Option<String>,
    /// `RecordingStatus`: `completed`, `in-progress`, `absent`, `failed`.
    pub recording_status: Option<String>,
}

impl RecordingParams {
    /// Reads the recording callback's fields. A completed recording (or one
    /// with no status, as older callbacks send) must carry an http(s) URL.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, FormError> {
        let f = Fields(pairs);
        let recording_status = f
            .get("RecordingStatus")
            .map(|v| identifier("RecordingStatus", v))
            .transpose()?;
        let completed = recording_status.as_deref().is_none_or(|s| s == "completed");
        let recording_url = match f.get("RecordingUrl") {
            Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
                Some(text("RecordingUrl", u)?)
            }
            Some(u) => {
                return Err(invalid(
                    "RecordingUrl",
                    format!("not an http(s) url: {u:?}"),
                ));
            }
            None if completed => return Err(FormError::Missing("RecordingUrl")),
            None => None,
        };
        Ok(Self {
            recording_url,
            recording_sid: f.sid("RecordingSid")?,
            recording_status,
        })
    }

    /// The URL to store: only for a completed recording.
    pub fn completed_url(&self) -> Option<&str> {
        let completed = self
            .recording_status
            .as_deref()
            .is_none_or(|s| s == "completed");
        if completed {
            self.recording_url.as_deref()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &str) -> Vec<(String, String)> {
        parse_pairs(s.as_bytes())
    }

    #[test]
    fn pairs_keep_order_and_duplicates() {
        let p = pairs("B=2&A=1&B=3&Plus=%2B1555&Space=a+b&Empty=");
        let names: Vec<_> = p.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            names,
            ["B=2", "A=1", "B=3", "Plus=+1555", "Space=a b", "Empty="]
        );
        assert_eq!(Fields(&p).get("B"), Some("2"));
        assert_eq!(Fields(&p).get("Empty"), None);
        // Garbage decodes lossily instead of failing.
        assert_eq!(parse_pairs(b"%ZZ=%FF&&=x").len(), 2);
    }

    #[test]
    fn voice_params() {
        let v = VoiceParams::parse(&pairs(
            "CallSid=CA1&AccountSid=AC1&From=%2B15551230000&To=%2B15550001000&CallerState=CA&FromZip=94105",
        ))
        .unwrap();
        assert_eq!(v.to.as_str(), "+15550001000");
        assert_eq!(v.from, "+15551230000");
        assert_eq!(v.from_state.as_deref(), Some("CA"));
        assert_eq!(v.from_zip.as_deref(), Some("94105"));
        let call = v.into_inbound();
        assert_eq!(call.caller.state.as_deref(), Some("CA"));

        // Location is optional; From may be anything a carrier sends.
        for from in [
            "anonymous",
            "sip%3Aalice%40example.com",
            "client%3Aalice",
            "",
        ] {
            let v = VoiceParams::parse(&pairs(&format!(
                "CallSid=CA1&AccountSid=AC1&From={from}&To=%2B15550001000"
            )))
            .unwrap();
            assert_eq!((v.from_state, v.from_zip), (None, None));
            assert!(!v.from.is_empty());
        }
    }

    #[test]
    fn voice_errors_name_the_field() {
        let err = |s: &str| VoiceParams::parse(&pairs(s)).unwrap_err();
        assert_eq!(
            err("AccountSid=AC1&To=%2B15550001000"),
            FormError::Missing("CallSid")
        );
        assert_eq!(
            err("CallSid=CA1&To=%2B15550001000"),
            FormError::Missing("AccountSid")
        );
        assert_eq!(err("CallSid=CA1&AccountSid=AC1"), FormError::Missing("To"));
        assert_eq!(err("CallSid=CA1&AccountSid=AC1&To=hello").field(), "To");
        assert_eq!(
            err("CallSid=CA%0A1&AccountSid=AC1&To=%2B15550001000").field(),
            "CallSid"
        );
        assert_eq!(
            err(&format!(
                "CallSid={}&AccountSid=AC1&To=%2B15550001000",
                "C".repeat(500)
            ))
            .field(),
            "CallSid"
        );
        assert!(err("AccountSid=AC1").to_string().contains("CallSid"));
    }

    #[test]
    fn dial_params() {
        let d = DialParams::parse(&pairs(
            "DialCallStatus=busy&DialCallSid=CA2&DialCallDuration=0",
        ))
        .unwrap();
        assert_eq!(d.status, AttemptOutcome::Busy);
        assert_eq!(d.duration_seconds, Some(0));
        assert_eq!(
            DialParams::parse(&pairs("")).unwrap_err(),
            FormError::Missing("DialCallStatus")
        );
        assert_eq!(
            DialParams::parse(&pairs("DialCallStatus=weird"))
                .unwrap_err()
                .field(),
            "DialCallStatus"
        );
        assert_eq!(
            DialParams::parse(&pairs("DialCallStatus=completed&DialCallDuration=-1"))
                .unwrap_err()
                .field(),
            "DialCallDuration"
        );
    }

    #[test]
    fn status_params() {
        let s = StatusParams::parse(&pairs(
            "CallSid=CA2&ParentCallSid=CA1&CallStatus=completed&SequenceNumber=3&CallDuration=75\
             &Timestamp=Wed%2C+25+Nov+2026+11%3A24%3A13+%2B0000",
        ))
        .unwrap();
        assert_eq!(s.status, AttemptOutcome::Completed);
        assert_eq!((s.sequence, s.duration_seconds), (Some(3), Some(75)));
        assert_eq!(
            s.timestamp.unwrap().to_rfc3339(),
            "2026-11-25T11:24:13+00:00"
        );
        let e = s.into_event(None, Some(1));
        assert_eq!(e.parent_call_sid.as_deref(), Some("CA1"));
        assert_eq!(e.attempt, Some(1));

        let err = |s: &str| StatusParams::parse(&pairs(s)).unwrap_err().field();
        assert_eq!(err("CallStatus=completed"), "CallSid");
        assert_eq!(err("CallSid=CA2"), "CallStatus");
        assert_eq!(
            err("CallSid=CA2&CallStatus=completed&SequenceNumber=x"),
            "SequenceNumber"
        );
        assert_eq!(
            err("CallSid=CA2&CallStatus=completed&CallDuration=99999999999"),
            "CallDuration"
        );
        assert_eq!(
            err("CallSid=CA2&CallStatus=completed&Timestamp=yesterday"),
            "Timestamp"
        );
    }

    #[test]
    fn status_query() {
        let id = switchboard_model::new_id();
        let q = StatusQuery::parse(&format!("callId={id}&attempt=2")).unwrap();
        assert_eq!(
            q,
            StatusQuery {
                call_id: Some(id),
                attempt: Some(2)
            }
        );
        assert_eq!(StatusQuery::parse("").unwrap(), StatusQuery::default());
        assert_eq!(
            StatusQuery::parse("callId=nope").unwrap_err().field(),
            "callId"
        );
        assert_eq!(
            StatusQuery::parse("attempt=70000").unwrap_err().field(),
            "attempt"
        );
    }

    #[test]
    fn recording_params() {
        let r = RecordingParams::parse(&pairs(
            "RecordingUrl=https%3A%2F%2Fapi.twilio.com%2FRE1&RecordingSid=RE1&RecordingStatus=completed",
        ))
        .unwrap();
        assert_eq!(r.completed_url(), Some("https://api.twilio.com/RE1"));
        let r = RecordingParams::parse(&pairs("RecordingStatus=absent")).unwrap();
        assert_eq!(r.completed_url(), None);
        assert_eq!(
            RecordingParams::parse(&pairs("")).unwrap_err(),
            FormError::Missing("RecordingUrl")
        );
        assert_eq!(
            RecordingParams::parse(&pairs("RecordingUrl=javascript:x"))
                .unwrap_err()
                .field(),
            "RecordingUrl"
        );
    }
}
