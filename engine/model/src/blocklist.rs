//! The blocklist: callers a tenant refuses, everywhere or on one campaign.
//!
//! An entry names one exact number, a prefix (`+1900`: every number that
//! starts with it) or withheld callers (`"anonymous": true`). Matching is
//! `switchboard_routing::blocklist`'s; this module is the stored and API
//! form and what a value can tell about itself.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{FieldError, Id, ModelError, PhoneNumber};

/// Longest E.164 number, in digits: the most prefix lengths a number has.
pub const MAX_DIGITS: usize = 15;

/// One blocked caller (or set of callers) of a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlocklistEntry {
    /// Id (assigned by the server).
    #[serde(default)]
    #[schema(value_type = String, format = Uuid)]
    pub id: Id,
    /// Owning tenant (assigned by the server).
    #[serde(default)]
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: Id,
    /// One caller, E.164 (normalized from common input forms). Exactly one
    /// of `number`, `prefix` and `anonymous: true` is given.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "+15551230000")]
    pub number: Option<PhoneNumber>,
    /// Every caller whose E.164 number starts with this: `+` and 1 to 15
    /// digits, the first not zero (`+1900`).
    #[serde(default)]
    #[schema(example = "+1900")]
    pub prefix: Option<String>,
    /// Callers who withhold their number (Twilio's `From` of `anonymous`,
    /// `restricted`, `+266696687`, empty, …).
    #[serde(default)]
    pub anonymous: bool,
    /// The campaign it applies to; absent: every campaign of the tenant.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub campaign_id: Option<Id>,
    /// When it stops blocking (UTC); absent: never.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Why, for people.
    #[serde(default)]
    pub note: Option<String>,
    /// Optimistic-concurrency version, bumped by every write. On update, the
    /// version being replaced (or send `If-Match`); absent or 0: the current
    /// one, whatever it is. A stale one is a 409.
    #[serde(default)]
    pub version: u64,
    /// When it was added (assigned by the server).
    #[serde(default)]
    pub created_at: DateTime<Utc>,
}

/// What an entry matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BlockTarget {
    /// One E.164 number.
    Number(PhoneNumber),
    /// Numbers starting with this `+digits` prefix.
    Prefix(String),
    /// Withheld callers.
    Anonymous,
}

impl BlockTarget {
    /// How people read it: the number, `+1900…`, or `anonymous`.
    pub fn label(&self) -> String {
        match self {
            BlockTarget::Number(n) => n.as_str().to_owned(),
            BlockTarget::Prefix(p) => format!("{p}…"),
            BlockTarget::Anonymous => "anonymous".into(),
        }
    }
}

impl BlocklistEntry {
    /// What it matches; `None` unless exactly one target is given (see [`Self::validate`]).
    pub fn target(&self) -> Option<BlockTarget> {
        match (&self.number, &self.prefix, self.anonymous) {
            (Some(n), None, false) => Some(BlockTarget::Number(n.clone())),
            (None, Some(p), false) => Some(BlockTarget::Prefix(p.clone())),
            (None, None, true) => Some(BlockTarget::Anonymous),
            _ => None,
        }
    }

    /// Whether it has stopped blocking at `now`.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    /// Checks every field, listing all problems at once. Whether the
    /// campaign exists, and whether the same entry exists already, is the
    /// caller's to check.
    pub fn validate(&self) -> Result<(), ModelError> {
        let mut errors = Vec::new();
        let given = usize::from(self.number.is_some())
            + usize::from(self.prefix.is_some())
            + usize::from(self.anonymous);
        if given != 1 {
            errors.push(FieldError::new(
                "number",
                "give exactly one of number, prefix or anonymous: true",
            ));
        }
        if let Some(p) = &self.prefix
            && !is_prefix(p)
        {
            errors.push(FieldError::new(
                "prefix",
                format!(
                    "{p:?} is not a prefix: expected + and 1 to {MAX_DIGITS} digits such as +1900"
                ),
            ));
        }
        if self.note.as_ref().is_some_and(|n| n.chars().count() > 500) {
            errors.push(FieldError::new("note", "must be at most 500 characters"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ModelError::Invalid(errors))
        }
    }
}

/// Whether `s` is a number prefix: `+` and 1 to 15 digits, the first not zero.
pub fn is_prefix(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (1..=MAX_DIGITS).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Whether Twilio's `From` says the caller withheld their number: empty,
/// a word such as `anonymous`, `restricted` or `unavailable` (any case),
/// or the keypad spellings carriers send for them (`+266696687` is
/// ANONYMOUS, `+7378742833` RESTRICTED, `+86282452253` UNAVAILABLE,
/// `+2562533` BLOCKED).
pub fn is_anonymous(from: &str) -> bool {
    const WORDS: [&str; 8] = [
        "anonymous",
        "restricted",
        "unavailable",
        "unknown",
        "private",
        "blocked",
        "withheld",
        "no caller id",
    ];
    const SPELLED: [&str; 4] = ["266696687", "7378742833", "86282452253", "2562533"];
    let f = from.trim();
    if f.is_empty() || WORDS.iter().any(|w| f.eq_ignore_ascii_case(w)) {
        return true;
    }
    let digits = f.strip_prefix('+').unwrap_or(f);
    SPELLED.contains(&digits)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(v: serde_json::Value) -> BlocklistEntry {
        serde_json::from_value(v).unwrap()
    }

    fn fields(r: Result<(), ModelError>) -> Vec<String> {
        match r {
            Err(ModelError::Invalid(errs)) => errs.into_iter().map(|e| e.field).collect(),
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn exactly_one_target() {
        let n = entry(json!({"number": "(555) 123-0000"}));
        assert_eq!(
            n.target(),
            Some(BlockTarget::Number(
                PhoneNumber::parse("+15551230000").unwrap()
            ))
        );
        n.validate().unwrap();
        let p = entry(json!({"prefix": "+1900", "note": "premium"}));
        assert_eq!(p.target(), Some(BlockTarget::Prefix("+1900".into())));
        p.validate().unwrap();
        let a = entry(json!({"anonymous": true}));
        assert_eq!(a.target(), Some(BlockTarget::Anonymous));
        a.validate().unwrap();
        for bad in [
            json!({}),
            json!({"anonymous": false}),
            json!({"number": "+15551230000", "prefix": "+1555"}),
            json!({"number": "+15551230000", "anonymous": true}),
        ] {
            let e = entry(bad.clone());
            assert_eq!(e.target(), None, "{bad}");
            assert_eq!(fields(e.validate()), ["number"], "{bad}");
        }
    }

    #[test]
    fn prefixes_are_plus_and_digits() {
        for good in ["+1", "+1900", "+442079460958", "+123456789012345"] {
            assert!(is_prefix(good), "{good}");
        }
        for bad in [
            "",
            "+",
            "1900",
            "+0",
            "+1 900",
            "+19a",
            "+1234567890123456",
            "++1",
        ] {
            assert!(!is_prefix(bad), "{bad}");
        }
        let e = entry(json!({"prefix": "1900"}));
        assert_eq!(fields(e.validate()), ["prefix"]);
    }

    #[test]
    fn a_bad_number_is_refused_when_read() {
        assert!(serde_json::from_value::<BlocklistEntry>(json!({"number": "12"})).is_err());
        assert!(serde_json::from_value::<BlocklistEntry>(json!({"number": "+1", "x": 1})).is_err());
    }

    #[test]
    fn expiry_is_exclusive_of_its_instant() {
        let now = Utc::now();
        let mut e = entry(json!({"anonymous": true}));
        assert!(!e.expired(now));
        e.expires_at = Some(now);
        assert!(e.expired(now));
        e.expires_at = Some(now + chrono::Duration::seconds(1));
        assert!(!e.expired(now));
    }

    #[test]
    fn withheld_callers_as_twilio_sends_them() {
        for from in [
            "",
            "  ",
            "anonymous",
            "Anonymous",
            "RESTRICTED",
            "unavailable",
            "+266696687",
            "266696687",
            "+7378742833",
            "+86282452253",
            "+2562533",
        ] {
            assert!(is_anonymous(from), "{from:?}");
        }
        for from in [
            "+15551230000",
            "sip:alice@example.com",
            "client:bob",
            "+2666966870",
        ] {
            assert!(!is_anonymous(from), "{from:?}");
        }
    }
}
