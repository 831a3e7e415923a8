//! Reading a bidder's answer: response paths compiled once per target, then
//! applied to each response body.
//!
//! A path is one of:
//! - a bare key, `bidAmount`;
//! - a dotted path, `data.bid.amount`, where a numeric step indexes an array
//!   (`items.0.price`) and otherwise names an object key;
//! - RFC 9535 JSONPath when it starts with `$`, `$.data.bid.amount`. A
//!   JSONPath that matches more than one value makes the response invalid
//!   rather than picking one silently.
//!
//! # What a JSONPath may cost
//!
//! A bidder writes the document a path runs over, so a path's cost must not
//! grow faster than the document. [`check_path_cost`] admits RFC 9535 with
//! these limits (a target with any other path is refused when saved, and a
//! stored one no longer compiles):
//! - at most [`MAX_JSONPATH_CHARS`] characters, and brackets (`[`, `(`)
//!   nested at most [`MAX_JSONPATH_NESTING`] deep: the parser backtracks
//!   exponentially through nested unclosed filters (found by fuzzing: 180
//!   bytes of `$.ids[?@.ps[?@.…` took 41 s to refuse), so this much is
//!   checked before the parser runs;
//! - at most one descendant segment (`..`), not inside a filter: `$..amount`
//!   and `$.bids..price` are fine, `$..a..b` and `$[?@..x]` are not;
//! - from a descendant segment on, no wildcard (`*`), slice (`[1:3]`) or
//!   filter (`[?…]`): `$..*` and `$..bid[*]` are refused;
//! - no filter inside a filter, and no `match()` or `search()` (a regular
//!   expression compiled at every node, possibly taken from the document).
//!
//! A response holding more than [`MAX_RESPONSE_NODES`] JSON values is invalid
//! unread, and the engine evaluates paths off the async workers, within the
//! bidder's time.
//!
//! This module only reads types: a wrong type, a malformed amount or bad
//! JSON is [`Parsed::Invalid`] with a reason. Whether the bid is acceptable
//! (range, floor, currency, destination) is [`crate::auction`]'s business.

use serde_json::Value;
use serde_json_path::JsonPath;
use switchboard_model::money::parse_decimal;

use crate::RtbError;

/// Response bodies longer than this are invalid, unread. Bids are a few
/// hundred bytes; the HTTP client should stop reading at this size too.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Responses with more JSON values than this (objects, arrays, scalars) are
/// invalid: a bid is a dozen.
pub const MAX_RESPONSE_NODES: usize = 10_000;

/// Longest JSONPath a target may use.
pub const MAX_JSONPATH_CHARS: usize = 256;

/// Deepest nesting of `[` and `(` a JSONPath may have.
pub const MAX_JSONPATH_NESTING: usize = 4;

/// Reject reasons are kept to this many characters.
pub const MAX_REASON_CHARS: usize = 200;

/// A compiled response path.
#[derive(Debug, Clone)]
pub struct ResponsePath {
    source: String,
    kind: PathKind,
}

#[derive(Debug, Clone)]
enum PathKind {
    Steps(Vec<String>),
    JsonPath(Box<JsonPath>),
}

impl ResponsePath {
    /// Compiles a path, or says why it cannot be used.
    pub fn parse(source: &str) -> Result<Self, RtbError> {
        let bad = |reason: &str| RtbError::BadPath {
            path: source.to_owned(),
            reason: reason.to_owned(),
        };
        let text = source.trim();
        if text.is_empty() {
            return Err(bad("empty path"));
        }
        let kind = if text.starts_with('$') {
            // Before parsing: the parser's own cost is what is bounded.
            check_path_cost(text).map_err(|e| bad(&e))?;
            // serde_json_path panics on some escapes (`$['a\\u`, found by
            // fuzz/rtb_extract); a bidder's field names need none.
            if text.contains('\\') {
                return Err(bad("backslash escapes are not supported in a JSONPath"));
            }
            let path = std::panic::catch_unwind(|| JsonPath::parse(text))
                .map_err(|_| bad("invalid JSONPath"))?
                .map_err(|e| bad(&format!("invalid JSONPath: {e}")))?;
            PathKind::JsonPath(Box::new(path))
        } else {
            let step_ok = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            };
            let steps: Vec<String> = text.split('.').map(str::to_owned).collect();
            if !steps.iter().all(|s| step_ok(s)) {
                return Err(bad(
                    "must be a key (bidAmount), a dotted path (data.bid.amount) or a JSONPath starting with $",
                ));
            }
            PathKind::Steps(steps)
        };
        Ok(Self {
            source: source.to_owned(),
            kind,
        })
    }

    /// The path as configured.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The value at this path; `null` counts as absent. Err when a JSONPath
    /// matches several values.
    pub fn find<'v>(&self, root: &'v Value) -> Result<Option<&'v Value>, String> {
        let found = match &self.kind {
            PathKind::Steps(steps) => steps.iter().try_fold(root, |v, step| match v {
                Value::Object(map) => map.get(step),
                Value::Array(items) => step.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            }),
            PathKind::JsonPath(path) => path
                .query(root)
                .at_most_one()
                .map_err(|_| format!("{} matched more than one value", self.source))?,
        };
        Ok(found.filter(|v| !v.is_null()))
    }
}

/// Whether a JSONPath stays within the documented cost (see the module
/// docs); why not, lowercase, when it does not. It reads the text, so it
/// runs before the parser: length and nesting on the raw text, the rest
/// skipping string literals.
pub fn check_path_cost(path: &str) -> Result<(), String> {
    if path.chars().count() > MAX_JSONPATH_CHARS {
        return Err(format!(
            "a JSONPath may have at most {MAX_JSONPATH_CHARS} characters"
        ));
    }
    let mut depth = 0usize;
    for b in path.bytes() {
        match b {
            b'[' | b'(' => {
                depth += 1;
                if depth > MAX_JSONPATH_NESTING {
                    return Err(format!(
                        "a JSONPath may nest brackets at most {MAX_JSONPATH_NESTING} deep"
                    ));
                }
            }
            b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let b = path.as_bytes();
    // Open brackets, each marked when it is a filter; open filters; seen `..`.
    let (mut brackets, mut filters, mut descended) = (Vec::<bool>::new(), 0usize, false);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            quote @ (b'\'' | b'"') => {
                i += 1;
                while i < b.len() && b[i] != quote {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'[' => brackets.push(false),
            b']' => filters -= usize::from(brackets.pop() == Some(true)),
            b'.' if b.get(i + 1) == Some(&b'.') => {
                if filters > 0 {
                    return Err("a descendant segment (..) may not stand inside a filter".into());
                }
                if descended {
                    return Err("a JSONPath may have at most one descendant segment (..)".into());
                }
                descended = true;
                i += 1;
            }
            b'?' | b'*' | b':' if descended => {
                return Err(
                    "no wildcard (*), slice or filter may follow a descendant segment (..)".into(),
                );
            }
            b'?' => {
                if filters > 0 {
                    return Err("a filter may not stand inside a filter".into());
                }
                if let Some(top) = brackets.last_mut() {
                    *top = true;
                    filters += 1;
                }
            }
            c if c.is_ascii_alphabetic() => {
                let start = i;
                while i + 1 < b.len() && (b[i + 1].is_ascii_alphanumeric() || b[i + 1] == b'_') {
                    i += 1;
                }
                let name = &path[start..=i];
                let called = path[i + 1..].trim_start().starts_with('(');
                if called && (name == "match" || name == "search") {
                    return Err(format!(
                        "the {name}() function is not allowed in a response path"
                    ));
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Whether `root` holds more than `limit` JSON values, counted without recursion.
fn more_nodes_than(root: &Value, limit: usize) -> bool {
    let mut stack = vec![root];
    let mut seen = 0usize;
    while let Some(v) = stack.pop() {
        seen += 1;
        if seen > limit {
            return true;
        }
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    false
}

/// Where each field is found in a target's responses, compiled.
#[derive(Debug, Clone)]
pub struct ResponsePaths {
    /// The bid amount (a decimal number or numeric string).
    pub bid_amount: ResponsePath,
    /// The destination: an E.164 number or a `sip:` URI.
    pub destination: ResponsePath,
    /// Acceptance; an explicit `false` is a rejection, absent means accepted.
    pub accepted: ResponsePath,
    /// The bid's currency code; absent means the target's currency.
    pub currency: ResponsePath,
    /// The minimum call duration (seconds) the bidder requires to pay.
    pub duration: ResponsePath,
    /// How many seconds the bid stays good.
    pub expiry: ResponsePath,
    /// Why the bidder declined.
    pub reject_reason: ResponsePath,
}

/// A target's configured paths as text; `None` or blank takes the default,
/// the original product's flat format.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathConfig<'a> {
    /// `bidAmountPath`, default `bidAmount`.
    pub bid_amount: Option<&'a str>,
    /// `destinationNumberPath`, default `destinationNumber`.
    pub destination: Option<&'a str>,
    /// `acceptancePath`, default `accepted`.
    pub accepted: Option<&'a str>,
    /// `currencyPath`, default `currency`.
    pub currency: Option<&'a str>,
    /// `durationPath`, default `duration`.
    pub duration: Option<&'a str>,
    /// `expiryPath`, default `expireInSeconds`.
    pub expiry: Option<&'a str>,
    /// `rejectReasonPath`, default `rejectReason`.
    pub reject_reason: Option<&'a str>,
}

impl<'a> PathConfig<'a> {
    /// A target's configured paths.
    pub fn of(t: &'a switchboard_model::RtbTarget) -> Self {
        Self {
            bid_amount: Some(&t.bid_amount_path),
            destination: Some(&t.destination_number_path),
            accepted: t.acceptance_path.as_deref(),
            currency: t.currency_path.as_deref(),
            duration: t.duration_path.as_deref(),
            expiry: t.expiry_path.as_deref(),
            reject_reason: t.reject_reason_path.as_deref(),
        }
    }
}

impl ResponsePaths {
    /// Compiles a target's paths, naming the first bad one.
    pub fn compile(config: &PathConfig<'_>) -> Result<Self, RtbError> {
        let path = |configured: Option<&str>, default: &str| {
            ResponsePath::parse(
                configured
                    .filter(|p| !p.trim().is_empty())
                    .unwrap_or(default),
            )
        };
        Ok(Self {
            bid_amount: path(config.bid_amount, "bidAmount")?,
            destination: path(config.destination, "destinationNumber")?,
            accepted: path(config.accepted, "accepted")?,
            currency: path(config.currency, "currency")?,
            duration: path(config.duration, "duration")?,
            expiry: path(config.expiry, "expireInSeconds")?,
            reject_reason: path(config.reject_reason, "rejectReason")?,
        })
    }
}

impl Default for ResponsePaths {
    /// The flat format's paths.
    fn default() -> Self {
        Self::compile(&PathConfig::default()).expect("default paths are valid")
    }
}

/// The fields of a bid response, typed but not yet judged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BidResponse {
    /// Amount in minor units, never negative.
    pub amount: Option<i64>,
    /// The destination text, trimmed.
    pub destination: Option<String>,
    /// Explicit acceptance.
    pub accepted: Option<bool>,
    /// The currency code, trimmed and upper-cased.
    pub currency: Option<String>,
    /// Required call duration in seconds.
    pub duration_secs: Option<u32>,
    /// Seconds the bid stays good.
    pub expires_in_secs: Option<u32>,
    /// The bidder's reason for declining, at most [`MAX_REASON_CHARS`].
    pub reject_reason: Option<String>,
}

/// What a response body says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Empty body, `null` or `{}`: the bidder passes.
    NoBid,
    /// A response whose fields have the right types.
    Bid(BidResponse),
    /// Unusable: too large, not JSON, or a field of the wrong type.
    Invalid(String),
}

/// Reads a 2xx response body. `minor_digits` is the target currency's.
pub fn extract(body: &[u8], paths: &ResponsePaths, minor_digits: u32) -> Parsed {
    if body.len() > MAX_RESPONSE_BYTES {
        return Parsed::Invalid(format!(
            "response body larger than {MAX_RESPONSE_BYTES} bytes"
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Parsed::NoBid;
    }
    let root: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Parsed::Invalid(format!("response is not JSON: {e}")),
    };
    match &root {
        Value::Null => return Parsed::NoBid,
        Value::Object(map) if map.is_empty() => return Parsed::NoBid,
        _ => {}
    }
    if more_nodes_than(&root, MAX_RESPONSE_NODES) {
        return Parsed::Invalid(format!(
            "response holds more than {MAX_RESPONSE_NODES} JSON values"
        ));
    }
    match read_fields(&root, paths, minor_digits) {
        Ok(bid) => Parsed::Bid(bid),
        Err(reason) => Parsed::Invalid(reason),
    }
}

fn read_fields(root: &Value, paths: &ResponsePaths, digits: u32) -> Result<BidResponse, String> {
    let amount = match paths.bid_amount.find(root)? {
        None => None,
        Some(v) => Some(
            amount(v, digits)
                .map_err(|e| format!("bid amount at {}: {e}", paths.bid_amount.as_str()))?,
        ),
    };
    let text = |path: &ResponsePath, what: &str| -> Result<Option<String>, String> {
        match path.find(root)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(other) => Err(format!(
                "{what} at {} is {}, expected a string",
                path.as_str(),
                type_name(other)
            )),
        }
    };
    let accepted = match paths.accepted.find(root)? {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            return Err(format!(
                "acceptance at {} is {}, expected true or false",
                paths.accepted.as_str(),
                type_name(other)
            ));
        }
    };
    let seconds = |path: &ResponsePath, what: &str| -> Result<Option<u32>, String> {
        match path.find(root)? {
            None => Ok(None),
            Some(v) => whole_seconds(v).map(Some).ok_or_else(|| {
                format!(
                    "{what} at {} is {v}, expected a whole number of seconds",
                    path.as_str()
                )
            }),
        }
    };
    let reject_reason = paths.reject_reason.find(root)?.map(|v| {
        let s = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        s.chars().take(MAX_REASON_CHARS).collect()
    });
    Ok(BidResponse {
        amount,
        destination: text(&paths.destination, "destination")?,
        accepted,
        currency: text(&paths.currency, "currency")?.map(|c| c.to_ascii_uppercase()),
        duration_secs: seconds(&paths.duration, "duration")?,
        expires_in_secs: seconds(&paths.expiry, "expiry")?,
        reject_reason,
    })
}

/// An amount in minor units from a JSON number or numeric string, exactly.
///
/// A number is read from its shortest decimal text, so `8.75` is 875 cents;
/// more fraction digits than the currency has, exponents, overflow and
/// negative amounts are refused.
fn amount(v: &Value, digits: u32) -> Result<i64, String> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        other => return Err(format!("{}, expected a number", type_name(other))),
    };
    let minor = parse_decimal(&text, digits)
        .map_err(|_| format!("{text:?} is not an amount with at most {digits} decimals"))?;
    if minor < 0 || text.starts_with('-') {
        return Err(format!("{text} is negative"));
    }
    Ok(minor)
}

fn whole_seconds(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(u) => u32::try_from(u).ok(),
            // `60.0` is a whole number written as a float.
            None => n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(f))
                .map(|f| f as u32),
        },
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The original product's flat format (destination made dialable).
    pub(crate) const FLAT: &str = r#"{
  "bidAmount": 8.75,
  "destinationNumber": "+18005550199",
  "accepted": true,
  "currency": "USD",
  "duration": 60
}"#;

    /// The original product's nested format (destination made dialable).
    pub(crate) const NESTED: &str = r#"{
  "data": {
    "bid": {
      "amount": 8.75,
      "currency": "USD"
    },
    "routing": {
      "phone": "+18005550199",
      "accepted": true
    },
    "requirements": {
      "duration": 60
    }
  }
}"#;

    pub(crate) fn nested_paths(jsonpath: bool) -> ResponsePaths {
        let p = if jsonpath { "$." } else { "" };
        let (a, d, acc, c, dur) = (
            format!("{p}data.bid.amount"),
            format!("{p}data.routing.phone"),
            format!("{p}data.routing.accepted"),
            format!("{p}data.bid.currency"),
            format!("{p}data.requirements.duration"),
        );
        ResponsePaths::compile(&PathConfig {
            bid_amount: Some(&a),
            destination: Some(&d),
            accepted: Some(&acc),
            currency: Some(&c),
            duration: Some(&dur),
            ..PathConfig::default()
        })
        .unwrap()
    }

    fn expected() -> BidResponse {
        BidResponse {
            amount: Some(875),
            destination: Some("+18005550199".into()),
            accepted: Some(true),
            currency: Some("USD".into()),
            duration_secs: Some(60),
            ..BidResponse::default()
        }
    }

    fn bid(body: &str) -> Parsed {
        extract(body.as_bytes(), &ResponsePaths::default(), 2)
    }

    #[test]
    fn the_flat_format_parses_with_default_paths() {
        assert_eq!(bid(FLAT), Parsed::Bid(expected()));
    }

    #[test]
    fn the_nested_format_parses_with_dotted_and_jsonpath_paths() {
        for jsonpath in [false, true] {
            assert_eq!(
                extract(NESTED.as_bytes(), &nested_paths(jsonpath), 2),
                Parsed::Bid(expected())
            );
        }
    }

    #[test]
    fn the_documented_samples_parse_verbatim() {
        // The reference's vanity destination parses here; the auction refuses
        // it as not dialable.
        let flat = FLAT.replace("+18005550199", "+1800555BUYER");
        let Parsed::Bid(b) = bid(&flat) else { panic!() };
        assert_eq!(
            (b.amount, b.destination.as_deref()),
            (Some(875), Some("+1800555BUYER"))
        );
    }

    #[test]
    fn empty_and_null_bodies_are_no_bids() {
        for body in ["", "  \n", "null", "{}"] {
            assert_eq!(bid(body), Parsed::NoBid, "{body:?}");
        }
    }

    #[test]
    fn an_explicit_false_and_its_reason_are_read() {
        let Parsed::Bid(b) = bid(r#"{"accepted": false, "rejectReason": "over daily cap"}"#) else {
            panic!()
        };
        assert_eq!(b.accepted, Some(false));
        assert_eq!(b.reject_reason.as_deref(), Some("over daily cap"));
        assert_eq!(b.amount, None);
    }

    #[test]
    fn amounts_are_exact_and_strings_count() {
        let amount_of = |body: &str| match bid(body) {
            Parsed::Bid(b) => Ok(b.amount),
            Parsed::Invalid(r) => Err(r),
            Parsed::NoBid => panic!(),
        };
        assert_eq!(amount_of(r#"{"bidAmount": "12.5"}"#), Ok(Some(1250)));
        assert_eq!(amount_of(r#"{"bidAmount": 0.29}"#), Ok(Some(29)));
        assert_eq!(amount_of(r#"{"bidAmount": 7}"#), Ok(Some(700)));
        assert_eq!(amount_of(r#"{"bidAmount": 7.0}"#), Ok(Some(700)));
        assert_eq!(
            amount_of(r#"{"bidAmount": null, "accepted": true}"#),
            Ok(None)
        );
        for bad in [
            r#"{"bidAmount": -1}"#,
            r#"{"bidAmount": "-0.50"}"#,
            r#"{"bidAmount": 1.005}"#,
            r#"{"bidAmount": 1e300}"#,
            r#"{"bidAmount": 99999999999999999999}"#,
            r#"{"bidAmount": "NaN"}"#,
            r#"{"bidAmount": "Infinity"}"#,
            r#"{"bidAmount": "$5"}"#,
            r#"{"bidAmount": true}"#,
            r#"{"bidAmount": {"value": 5}}"#,
        ] {
            assert!(amount_of(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wrong_types_and_bad_json_are_invalid_with_a_reason() {
        let reason = |body: &str| match bid(body) {
            Parsed::Invalid(r) => r,
            other => panic!("{body}: {other:?}"),
        };
        assert!(
            reason(r#"{"bidAmount": 5, "accepted": "yes"}"#)
                .contains("acceptance at accepted is a string")
        );
        assert!(
            reason(r#"{"bidAmount": 5, "destinationNumber": 18005550199}"#).contains("destination")
        );
        assert!(reason(r#"{"bidAmount": 5, "duration": -3}"#).contains("duration"));
        assert!(reason(r#"{"bidAmount": 5, "currency": ["USD"]}"#).contains("currency"));
        assert!(reason("{\"bidAmount\": 5,").starts_with("response is not JSON"));
        assert!(reason("<html>502 bad gateway</html>").starts_with("response is not JSON"));
        let deep = "[".repeat(10_000);
        assert!(reason(&deep).starts_with("response is not JSON"));
        let huge = format!(
            r#"{{"bidAmount": 5, "pad": "{}"}}"#,
            "x".repeat(MAX_RESPONSE_BYTES)
        );
        assert!(reason(&huge).contains("larger than"));
    }

    #[test]
    fn paths_index_arrays_and_refuse_ambiguity() {
        let body = br#"{"bids": [{"price": 3}, {"price": 4.5}], "by": {"0": 2}}"#;
        let paths = |p: &str| {
            ResponsePaths::compile(&PathConfig {
                bid_amount: Some(p),
                ..PathConfig::default()
            })
            .unwrap()
        };
        let amount = |p: &str| match extract(body, &paths(p), 2) {
            Parsed::Bid(b) => Ok(b.amount),
            Parsed::Invalid(r) => Err(r),
            Parsed::NoBid => panic!(),
        };
        assert_eq!(amount("bids.1.price"), Ok(Some(450)));
        assert_eq!(amount("by.0"), Ok(Some(200)));
        assert_eq!(amount("bids.7.price"), Ok(None));
        assert_eq!(amount("$.bids[1].price"), Ok(Some(450)));
        assert_eq!(amount("$.bids[?@.price > 4].price"), Ok(Some(450)));
        assert!(
            amount("$.bids[*].price")
                .unwrap_err()
                .contains("more than one")
        );
    }

    #[test]
    fn bad_paths_are_refused_when_compiled() {
        for bad in [
            "",
            "  ",
            "data..amount",
            ".amount",
            "amount.",
            "$.data[",
            "$$",
            "data bid",
            "data.bid.",
        ] {
            assert!(ResponsePath::parse(bad).is_err(), "{bad:?}");
        }
        for ok in [
            "bidAmount",
            "data.bid.amount",
            "bids.0.amount",
            "bid-amount",
            "$.data.bid.amount",
            "$['data']['bid']",
            "$.bids[0].amount",
        ] {
            assert!(ResponsePath::parse(ok).is_ok(), "{ok:?}");
        }
        // Found by fuzz/rtb_extract: nested unclosed filters made the JSONPath
        // parser backtrack exponentially; past 4 levels a path is refused unparsed.
        let deep = "$.a[?@.b[?@.c[?@.d[?@.e[?@.f]]]]]";
        let err = ResponsePath::parse(deep).unwrap_err().to_string();
        assert!(err.contains("nest brackets at most 4 deep"), "{err}");
        let err = ResponsePath::parse(&format!("$.ids{}", "[?@.ps[?@.\u{fffd}".repeat(8)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nest brackets at most 4 deep"), "{err}");
        // One filter is fine (a filter inside a filter is refused by check_path_cost).
        assert!(ResponsePath::parse("$.a[?@.c > 1].d").is_ok());
        assert!(
            ResponsePath::parse("$['data']['l\"\\u").is_err(),
            "a panic in the JSONPath parser is a refusal"
        );
        let err = ResponsePaths::compile(&PathConfig {
            duration: Some("a..b"),
            ..PathConfig::default()
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid response path "a..b": must be a key (bidAmount), a dotted path (data.bid.amount) or a JSONPath starting with $"#
        );
    }

    #[test]
    fn costly_jsonpaths_are_refused_and_cheap_ones_kept() {
        for ok in [
            "$.data.bid.amount",
            "$..amount",
            "$.bids..price",
            "$..['amount']",
            "$..bids[0]",
            "$.bids[*].price",
            "$.*.*.*.amount",
            "$.bids[1:3]",
            "$.bids[?@.price > 4].price",
            "$[?count(@.*) > 1]",
            "$['a..b', 'c*?:']",
            r#"$["it's \"..\" *"]"#,
            "$.bids[?@.name == '..*'].price",
            "$.bids[?length(@.name) > 2]",
        ] {
            assert_eq!(check_path_cost(ok), Ok(()), "{ok}");
            // Backslash escapes are refused before the parser (it panics on some).
            if ok.contains('\\') {
                assert!(
                    ResponsePath::parse(ok)
                        .unwrap_err()
                        .to_string()
                        .contains("backslash"),
                    "{ok}"
                );
            } else {
                ResponsePath::parse(ok).unwrap();
            }
        }
        for (bad, why) in [
            ("$..*..*..*..*", "descendant segment"),
            ("$..a..b", "at most one descendant"),
            ("$..*", "wildcard"),
            ("$..[*]", "wildcard"),
            ("$..bid[*]", "wildcard"),
            ("$..bid.*", "wildcard"),
            ("$..bids[0:2]", "slice"),
            ("$..[?@.price]", "filter"),
            ("$.bids[?@..price]", "inside a filter"),
            ("$[?count(@..*) > 1]", "inside a filter"),
            ("$[?@[?@.a]]", "a filter may not stand inside a filter"),
            ("$[?match(@.a, 'x+')]", "match()"),
            ("$[?search(@.a, @.b)]", "search()"),
        ] {
            let err = check_path_cost(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(
                JsonPath::parse(bad).is_ok(),
                "{bad} is valid RFC 9535, refused for its cost only"
            );
            assert!(
                ResponsePath::parse(bad)
                    .unwrap_err()
                    .to_string()
                    .contains(why),
                "{bad}"
            );
        }
        let long = format!("$.{}", "a".repeat(MAX_JSONPATH_CHARS));
        assert!(
            check_path_cost(&long)
                .unwrap_err()
                .contains("at most 256 characters")
        );
    }

    #[test]
    fn responses_past_the_node_budget_are_invalid() {
        let many = format!(
            r#"{{"bidAmount": 5, "pad": [{}]}}"#,
            vec!["0"; MAX_RESPONSE_NODES].join(",")
        );
        assert!(many.len() < MAX_RESPONSE_BYTES);
        match bid(&many) {
            Parsed::Invalid(r) => assert!(r.contains("more than 10000 JSON values"), "{r}"),
            other => panic!("{other:?}"),
        }
        let fits = format!(
            r#"{{"bidAmount": 5, "pad": [{}]}}"#,
            vec!["0"; MAX_RESPONSE_NODES - 3].join(",")
        );
        assert!(matches!(bid(&fits), Parsed::Bid(_)));
    }

    #[test]
    fn duration_expiry_and_reason_read_leniently_where_harmless() {
        let Parsed::Bid(b) = bid(
            r#"{"bidAmount": 5, "duration": "90", "expireInSeconds": 30.0, "rejectReason": 42}"#,
        ) else {
            panic!()
        };
        assert_eq!((b.duration_secs, b.expires_in_secs), (Some(90), Some(30)));
        assert_eq!(b.reject_reason.as_deref(), Some("42"));
        let long = format!(
            r#"{{"accepted": false, "rejectReason": "{}"}}"#,
            "é".repeat(500)
        );
        let Parsed::Bid(b) = bid(&long) else { panic!() };
        assert_eq!(b.reject_reason.unwrap().chars().count(), MAX_REASON_CHARS);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = extract(&body, &ResponsePaths::default(), 2);
            let _ = extract(&body, &nested_paths(true), 2);
        }

        #[test]
        fn any_two_decimal_amount_round_trips(minor in 0i64..10_000_000_000) {
            let text = switchboard_model::money::format_decimal(minor, 2);
            for body in [format!(r#"{{"bidAmount": {text}}}"#), format!(r#"{{"bidAmount": "{text}"}}"#)] {
                let Parsed::Bid(b) = bid(&body) else { panic!("{body}") };
                prop_assert_eq!(b.amount, Some(minor));
            }
        }
    }
}
