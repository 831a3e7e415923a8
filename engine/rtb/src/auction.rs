//! Judging bids and ranking them.
//!
//! Each target's reply is [`classify`]-ed into one [`Outcome`] — the status
//! recorded in its bid response row. The valid bids are then [`rank`]-ed:
//! highest amount first; on a tie the higher router priority (the *lower*
//! `priority` number: 1 beats 2), then the faster response, then the target
//! id so the order is total and repeatable. The first is the winner; the rest
//! are the fall-through order when the winner does not answer.

use std::cmp::Ordering;
use std::time::{Duration, Instant};

use switchboard_model::money::format_decimal;
use switchboard_model::{Currency, Id, PhoneNumber};

use crate::extract::{BidResponse, Parsed, ResponsePaths, extract};
use crate::template::PriceTerms;

/// Where a winning call is dialed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    /// A phone number.
    Phone(PhoneNumber),
    /// A SIP URI, `sip:` or `sips:`.
    Sip(String),
}

impl Destination {
    /// Parses an E.164 number (the forms [`PhoneNumber::parse`] accepts) or a
    /// SIP URI of the form `sip:user@host` (`sips:` too).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let lower = text
            .get(..5)
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        if lower.starts_with("sip:") || lower == "sips:" {
            let rest = &text[text.find(':').map_or(0, |i| i + 1)..];
            let ok = text.len() <= 256
                && rest
                    .split_once('@')
                    .is_some_and(|(user, host)| !user.is_empty() && !host.is_empty())
                && !text
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'));
            return if ok {
                Ok(Destination::Sip(text.to_owned()))
            } else {
                Err(format!("{text:?} is not a sip uri"))
            };
        }
        PhoneNumber::parse(text)
            .map(Destination::Phone)
            .map_err(|_| format!("destination {text:?} is neither an E.164 number nor a sip uri"))
    }

    /// The text to dial.
    pub fn as_str(&self) -> &str {
        match self {
            Destination::Phone(p) => p.as_str(),
            Destination::Sip(s) => s,
        }
    }
}

/// What the auction needs to know about one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetTerms {
    /// The target.
    pub target_id: Id,
    /// Lowest acceptable bid, minor units, inclusive.
    pub min_bid: i64,
    /// Highest acceptable bid, minor units, inclusive.
    pub max_bid: i64,
    /// The only currency accepted from this target.
    pub currency: Currency,
    /// The target's priority in the router: 1 is the highest.
    pub priority: u32,
}

impl TargetTerms {
    /// The price terms its request template renders.
    pub fn price(&self) -> PriceTerms {
        PriceTerms {
            min_bid: self.min_bid,
            max_bid: self.max_bid,
            currency: self.currency,
        }
    }
}

/// What came back from one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// No answer by the deadline.
    Timeout,
    /// The request failed: connection refused, TLS, reset, refused address.
    Failed(&'a str),
    /// An HTTP answer.
    Http {
        /// Status code.
        status: u16,
        /// The body, at most [`crate::MAX_RESPONSE_BYTES`] read.
        body: &'a [u8],
    },
}

/// A bid that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidBid {
    /// The bidding target.
    pub target_id: Id,
    /// Amount in minor units of `currency`.
    pub amount: i64,
    /// The target's currency.
    pub currency: Currency,
    /// Where to dial.
    pub destination: Destination,
    /// Minimum call duration the bidder pays for, if stated.
    pub duration_secs: Option<u32>,
    /// When the bid stops being good, if the bidder said.
    pub expires_at: Option<Instant>,
    /// The target's router priority (1 is highest).
    pub priority: u32,
    /// How long the bidder took.
    pub response_time: Duration,
}

impl ValidBid {
    /// Whether the bid may no longer be used at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }
}

/// One target's result in an auction: the status of its bid response row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A valid bid.
    Success(ValidBid),
    /// No answer by the deadline.
    Timeout,
    /// Transport failure or a non-2xx status.
    Error(String),
    /// An answer that is not a usable bid.
    Invalid(String),
    /// An explicit pass: 204, an empty body, `null` or `{}`.
    NoBid,
    /// `accepted: false`, with the bidder's reason if given.
    Rejected(Option<String>),
}

impl Outcome {
    /// The recorded status: `success`, `timeout`, `error`, `invalid`,
    /// `no-bid` or `rejected`.
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Success(_) => "success",
            Outcome::Timeout => "timeout",
            Outcome::Error(_) => "error",
            Outcome::Invalid(_) => "invalid",
            Outcome::NoBid => "no-bid",
            Outcome::Rejected(_) => "rejected",
        }
    }

    /// The recorded reason, if any.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Error(r) | Outcome::Invalid(r) => Some(r),
            Outcome::Rejected(r) => r.as_deref(),
            _ => None,
        }
    }

    /// Whether this counts against the target's circuit breaker: the bidder
    /// is unreachable or broken, not merely unwilling.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Timeout | Outcome::Error(_))
    }

    /// The valid bid, if this is one.
    pub fn bid(&self) -> Option<&ValidBid> {
        match self {
            Outcome::Success(b) => Some(b),
            _ => None,
        }
    }
}

/// Classifies one target's reply. `sent_at`/`received_at` give the response
/// time and anchor the bid's expiry.
pub fn classify(
    terms: &TargetTerms,
    floor: i64,
    paths: &ResponsePaths,
    reply: Reply<'_>,
    sent_at: Instant,
    received_at: Instant,
) -> Outcome {
    match reply {
        Reply::Timeout => Outcome::Timeout,
        Reply::Failed(reason) => Outcome::Error(reason.to_owned()),
        Reply::Http { status: 204, .. } => Outcome::NoBid,
        Reply::Http { status, .. } if !(200..300).contains(&status) => {
            Outcome::Error(format!("http status {status}"))
        }
        Reply::Http { body, .. } => match extract(body, paths, terms.currency.minor_digits()) {
            Parsed::NoBid => Outcome::NoBid,
            Parsed::Invalid(reason) => Outcome::Invalid(reason),
            Parsed::Bid(response) => validate(
                terms,
                floor,
                response,
                received_at,
                received_at.saturating_duration_since(sent_at),
            ),
        },
    }
}

/// Judges a typed response against the target's terms and the router's
/// floor (minor units). The first failed check is the reason.
pub fn validate(
    terms: &TargetTerms,
    floor: i64,
    response: BidResponse,
    received_at: Instant,
    response_time: Duration,
) -> Outcome {
    if response.accepted == Some(false) {
        return Outcome::Rejected(response.reject_reason);
    }
    let digits = terms.currency.minor_digits();
    let money = |m: i64| format_decimal(m, digits);
    let Some(amount) = response.amount else {
        return Outcome::Invalid("no bid amount".into());
    };
    if let Some(code) = &response.currency
        && code != terms.currency.code()
    {
        return Outcome::Invalid(format!(
            "currency {code} is not the target's {}",
            terms.currency
        ));
    }
    if amount < terms.min_bid {
        return Outcome::Invalid(format!(
            "bid {} is below the target's minimum {}",
            money(amount),
            money(terms.min_bid)
        ));
    }
    if amount > terms.max_bid {
        return Outcome::Invalid(format!(
            "bid {} is above the target's maximum {}",
            money(amount),
            money(terms.max_bid)
        ));
    }
    if amount < floor {
        return Outcome::Invalid(format!(
            "bid {} is below the floor {}",
            money(amount),
            money(floor)
        ));
    }
    let destination = match response.destination.as_deref().map(Destination::parse) {
        None => return Outcome::Invalid("no destination".into()),
        Some(Err(reason)) => return Outcome::Invalid(reason),
        Some(Ok(d)) => d,
    };
    if response.expires_in_secs == Some(0) {
        return Outcome::Invalid("bid expired on arrival".into());
    }
    Outcome::Success(ValidBid {
        target_id: terms.target_id,
        amount,
        currency: terms.currency,
        destination,
        duration_secs: response.duration_secs,
        expires_at: response
            .expires_in_secs
            .map(|s| received_at + Duration::from_secs(s.into())),
        priority: terms.priority,
        response_time,
    })
}

/// Best first: amount, then priority (lower number first), then response
/// time, then target id.
pub fn compare(a: &ValidBid, b: &ValidBid) -> Ordering {
    b.amount
        .cmp(&a.amount)
        .then(a.priority.cmp(&b.priority))
        .then(a.response_time.cmp(&b.response_time))
        .then(a.target_id.cmp(&b.target_id))
}

/// The valid bids unexpired at `now`, best first: the winner, then the
/// fall-through order.
pub fn rank(bids: impl IntoIterator<Item = ValidBid>, now: Instant) -> Vec<ValidBid> {
    let mut ranked: Vec<ValidBid> = bids.into_iter().filter(|b| !b.is_expired(now)).collect();
    ranked.sort_unstable_by(compare);
    ranked
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::extract::tests::{FLAT, NESTED, nested_paths};

    fn terms(n: u128, priority: u32) -> TargetTerms {
        TargetTerms {
            target_id: Id::from_u128(n),
            min_bid: 100,
            max_bid: 5000,
            currency: Currency::USD,
            priority,
        }
    }

    fn http(body: &str) -> Reply<'_> {
        Reply::Http {
            status: 200,
            body: body.as_bytes(),
        }
    }

    fn judge(body: &str) -> Outcome {
        let t0 = Instant::now();
        classify(
            &terms(1, 1),
            0,
            &ResponsePaths::default(),
            http(body),
            t0,
            t0 + Duration::from_millis(12),
        )
    }

    #[test]
    fn both_documented_formats_give_a_valid_bid() {
        let t0 = Instant::now();
        let flat = judge(FLAT);
        let nested = classify(
            &terms(1, 1),
            0,
            &nested_paths(false),
            http(NESTED),
            t0,
            t0 + Duration::from_millis(12),
        );
        for outcome in [flat, nested] {
            let bid = outcome.bid().expect("valid");
            assert_eq!(bid.amount, 875);
            assert_eq!(bid.destination.as_str(), "+18005550199");
            assert_eq!(bid.duration_secs, Some(60));
            assert_eq!(bid.response_time, Duration::from_millis(12));
            assert_eq!(outcome.status(), "success");
        }
    }

    #[test]
    fn each_check_has_its_reason() {
        let cases = [
            (
                r#"{"accepted": false, "rejectReason": "capped"}"#,
                "rejected",
                Some("capped"),
            ),
            (r#"{"accepted": false, "bidAmount": 40}"#, "rejected", None),
            (
                r#"{"destinationNumber": "+18005550199"}"#,
                "invalid",
                Some("no bid amount"),
            ),
            (
                r#"{"bidAmount": 5, "currency": "EUR", "destinationNumber": "+18005550199"}"#,
                "invalid",
                Some("currency EUR is not the target's USD"),
            ),
            (
                r#"{"bidAmount": 0.99, "destinationNumber": "+18005550199"}"#,
                "invalid",
                Some("bid 0.99 is below the target's minimum 1.00"),
            ),
            (
                r#"{"bidAmount": 50.01, "destinationNumber": "+18005550199"}"#,
                "invalid",
                Some("bid 50.01 is above the target's maximum 50.00"),
            ),
            (r#"{"bidAmount": 5}"#, "invalid", Some("no destination")),
            (
                r#"{"bidAmount": 5, "destinationNumber": "+1800555BUYER"}"#,
                "invalid",
                Some("destination \"+1800555BUYER\" is neither an E.164 number nor a sip uri"),
            ),
            (
                r#"{"bidAmount": 5, "destinationNumber": "+18005550199", "expireInSeconds": 0}"#,
                "invalid",
                Some("bid expired on arrival"),
            ),
            (
                r#"{"bidAmount": "lots"}"#,
                "invalid",
                Some("bid amount at bidAmount: \"lots\" is not an amount with at most 2 decimals"),
            ),
            ("", "no-bid", None),
            (
                r#"{"bidAmount": 5, "destinationNumber": "sip:buyer@example.com", "currency": "usd"}"#,
                "success",
                None,
            ),
        ];
        for (body, status, reason) in cases {
            let outcome = judge(body);
            assert_eq!(
                (outcome.status(), outcome.reason()),
                (status, reason),
                "{body}"
            );
        }
        let below_floor = classify(
            &terms(1, 1),
            600,
            &ResponsePaths::default(),
            http(r#"{"bidAmount": 5.99, "destinationNumber": "+18005550199"}"#),
            Instant::now(),
            Instant::now(),
        );
        assert_eq!(
            below_floor.reason(),
            Some("bid 5.99 is below the floor 6.00")
        );
    }

    #[test]
    fn transport_and_status_classify() {
        let t0 = Instant::now();
        let c = |reply| classify(&terms(1, 1), 0, &ResponsePaths::default(), reply, t0, t0);
        assert_eq!(c(Reply::Timeout), Outcome::Timeout);
        assert_eq!(
            c(Reply::Failed("connection refused")),
            Outcome::Error("connection refused".into())
        );
        assert_eq!(
            c(Reply::Http {
                status: 204,
                body: b""
            }),
            Outcome::NoBid
        );
        assert_eq!(
            c(Reply::Http {
                status: 500,
                body: FLAT.as_bytes()
            }),
            Outcome::Error("http status 500".into())
        );
        assert!(c(Reply::Timeout).is_failure() && c(Reply::Failed("x")).is_failure());
        assert!(
            !c(Reply::Http {
                status: 200,
                body: b"garbage"
            })
            .is_failure()
        );
    }

    #[test]
    fn sip_destinations() {
        assert!(Destination::parse("sip:buyer@pbx.example.com:5060").is_ok());
        assert!(Destination::parse("SIPS:agent@10.0.0.1").is_ok());
        for bad in ["sip:", "sip:@host", "sip:user@", "sip:a b@c", "sip:<x>@c"] {
            assert!(Destination::parse(bad).is_err(), "{bad}");
        }
    }

    fn bid(n: u128, amount: i64, priority: u32, ms: u64) -> ValidBid {
        ValidBid {
            target_id: Id::from_u128(n),
            amount,
            currency: Currency::USD,
            destination: Destination::parse("+18005550199").unwrap(),
            duration_secs: None,
            expires_at: None,
            priority,
            response_time: Duration::from_millis(ms),
        }
    }

    #[test]
    fn ties_go_to_priority_then_speed() {
        let now = Instant::now();
        let order = |bids: Vec<ValidBid>| {
            rank(bids, now)
                .iter()
                .map(|b| b.target_id.as_u128())
                .collect::<Vec<_>>()
        };
        // Highest amount wins even when slowest and lowest priority.
        assert_eq!(
            order(vec![bid(1, 500, 1, 5), bid(2, 900, 3, 90)]),
            vec![2, 1]
        );
        // Equal amounts: priority 1 beats priority 2 though slower.
        assert_eq!(
            order(vec![bid(1, 500, 2, 5), bid(2, 500, 1, 90)]),
            vec![2, 1]
        );
        // Equal amount and priority: the faster response.
        assert_eq!(
            order(vec![
                bid(1, 500, 1, 40),
                bid(2, 500, 1, 10),
                bid(3, 100, 1, 1)
            ]),
            vec![2, 1, 3]
        );
    }

    #[test]
    fn expired_bids_drop_out_of_the_fall_through() {
        let now = Instant::now();
        let mut stale = bid(1, 900, 1, 5);
        stale.expires_at = Some(now);
        let mut fresh = bid(2, 500, 1, 5);
        fresh.expires_at = Some(now + Duration::from_secs(30));
        let ranked = rank(vec![stale.clone(), fresh.clone(), bid(3, 100, 1, 5)], now);
        assert_eq!(
            ranked
                .iter()
                .map(|b| b.target_id.as_u128())
                .collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert!(!stale.is_expired(now - Duration::from_millis(1)));
        // Expiry counts from arrival.
        let t0 = Instant::now();
        let ok = classify(
            &terms(1, 1),
            0,
            &ResponsePaths::default(),
            http(r#"{"bidAmount": 5, "destinationNumber": "+18005550199", "expireInSeconds": 30}"#),
            t0,
            t0 + Duration::from_millis(20),
        );
        assert_eq!(
            ok.bid().unwrap().expires_at,
            Some(t0 + Duration::from_millis(20) + Duration::from_secs(30))
        );
    }

    /// A random response: sometimes accepted false, amounts around the
    /// range edges, other currencies, undialable destinations, zero expiry.
    fn response() -> impl Strategy<Value = BidResponse> {
        (
            prop::option::of(0i64..7000),
            prop::sample::select(vec![
                None,
                Some("+18005550199"),
                Some("sip:a@b"),
                Some("+1800555BUYER"),
                Some(""),
            ]),
            prop::option::of(any::<bool>()),
            prop::sample::select(vec![None, Some("USD"), Some("EUR")]),
            prop::option::of(0u32..3),
        )
            .prop_map(|(amount, dest, accepted, currency, expiry)| BidResponse {
                amount,
                destination: dest.map(str::to_owned),
                accepted,
                currency: currency.map(str::to_owned),
                duration_secs: None,
                expires_in_secs: expiry,
                reject_reason: None,
            })
    }

    /// Independent statement of validity, for the property below.
    fn acceptable(t: &TargetTerms, floor: i64, r: &BidResponse) -> bool {
        r.accepted != Some(false)
            && r.amount
                .is_some_and(|a| a >= t.min_bid && a <= t.max_bid && a >= floor)
            && r.currency.as_deref().is_none_or(|c| c == "USD")
            && matches!(r.destination.as_deref(), Some("+18005550199" | "sip:a@b"))
            && r.expires_in_secs != Some(0)
    }

    proptest! {
        #[test]
        fn the_winner_is_valid_and_unbeaten(
            entries in prop::collection::vec((response(), 1u32..4, 0u64..100), 0..30),
            floor in 0i64..2000,
        ) {
            let t0 = Instant::now();
            let mut outcomes = Vec::new();
            for (i, (r, priority, ms)) in entries.iter().enumerate() {
                let t = terms(i as u128, *priority);
                let o = validate(&t, floor, r.clone(), t0, Duration::from_millis(*ms));
                prop_assert_eq!(o.bid().is_some(), acceptable(&t, floor, r), "{:?} -> {:?}", r, o);
                outcomes.push(o);
            }
            let valid: Vec<ValidBid> = outcomes.iter().filter_map(Outcome::bid).cloned().collect();
            let ranked = rank(valid.clone(), t0);
            prop_assert_eq!(ranked.len(), valid.len());
            if let Some(winner) = ranked.first() {
                let (i, r, ..) = entries.iter().enumerate().map(|(i, e)| (i, &e.0)).find(|(i, _)| Id::from_u128(*i as u128) == winner.target_id).unwrap();
                prop_assert!(acceptable(&terms(i as u128, 1), floor, r));
                for b in &valid {
                    prop_assert!(b.amount <= winner.amount);
                    prop_assert_ne!(compare(b, winner), Ordering::Less);
                }
            } else {
                prop_assert!(valid.is_empty());
            }
            for pair in ranked.windows(2) {
                prop_assert_ne!(compare(&pair[0], &pair[1]), Ordering::Greater);
            }
        }
    }
}
