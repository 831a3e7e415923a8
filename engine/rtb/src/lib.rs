//! Pure real-time-bidding decisions: everything an auction decides, with no
//! actors, no HTTP and no clocks (time is passed in), so each rule is tested
//! on its own.
//!
//! - [`template`]: a target's request body, [`Template::parse`]d once (unknown
//!   variables refused, see [`validate_template`]) and rendered per auction
//!   with escaping right for JSON, form or XML.
//! - [`mod@extract`]: a target's [`ResponsePaths`] (bare key, dotted path or RFC
//!   9535 JSONPath), compiled once, and [`extract()`]: a response body to typed
//!   fields, or no-bid, or invalid with a reason. Bodies over
//!   [`MAX_RESPONSE_BYTES`] or [`MAX_RESPONSE_NODES`] are invalid, and a
//!   JSONPath must stay within [`check_path_cost`].
//! - [`auction`]: [`classify`] one target's reply into an [`Outcome`]
//!   (success, timeout, error, invalid, no-bid, rejected) by the target's
//!   [`TargetTerms`] and the router's floor, and [`rank`] the valid bids:
//!   highest amount, then router priority (1 is highest), then the faster
//!   response.
//! - [`breaker`]: a [`CircuitBreaker`] per target: consecutive timeouts and
//!   errors open it for a cool-down, then one probe decides.
//! - [`ssrf`]: [`is_forbidden`] addresses, [`check_resolved`] for the
//!   HTTP client's resolver and [`forbidden_literal_host`] for a URL's own host.
//! - [`target`]: [`check_target`], what saving a target checks by these
//!   rules (path cost, a literal forbidden host).
//!
//! An auction, end to end: for each target whose breaker
//! [`try_acquire`](CircuitBreaker::try_acquire)s, render its template with the
//! call's [`CallContext`] and its [`PriceTerms`] and send it; as replies come
//! in (or the deadline passes: [`Reply::Timeout`]), [`classify`] each and
//! [`record`](CircuitBreaker::record) [`Outcome::is_failure`] in its breaker;
//! at the deadline [`rank`] the [`ValidBid`]s. The first is dialed; on no
//! answer, the next one still unexpired.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use switchboard_model::{Currency, Id};
//! use switchboard_rtb::*;
//!
//! let template = Template::parse(r#"{"callerId": "{callerId}", "maxBid": {maxBid}}"#).unwrap();
//! let paths = ResponsePaths::compile(&PathConfig::default()).unwrap();
//! let terms = TargetTerms {
//!     target_id: Id::from_u128(1), min_bid: 100, max_bid: 2000, currency: Currency::USD, priority: 1,
//! };
//! let call = CallContext {
//!     request_id: "r1".into(), campaign_id: "c1".into(), caller_id: "+15550001000".into(),
//!     call_start: chrono::Utc::now(), caller_state: "CA".into(), caller_zip: "94105".into(),
//!     now: chrono::Utc::now(), tags: Default::default(),
//! };
//! let body = template.render(ContentType::Json, &call, &terms.price());
//! assert_eq!(body, r#"{"callerId": "+15550001000", "maxBid": 20.00}"#);
//!
//! let mut breaker = CircuitBreaker::new(BreakerConfig::default());
//! let sent = Instant::now();
//! assert!(breaker.try_acquire(sent));
//! let reply = Reply::Http { status: 200, body: br#"{"bidAmount": 8.75, "destinationNumber": "+18005550199"}"# };
//! let outcome = classify(&terms, 0, &paths, reply, sent, sent + Duration::from_millis(15));
//! breaker.record(outcome.is_failure(), sent + Duration::from_millis(15));
//! assert_eq!(outcome.status(), "success");
//!
//! let ranked = rank(outcome.bid().cloned(), sent + Duration::from_millis(100));
//! assert_eq!((ranked[0].amount, ranked[0].destination.as_str()), (875, "+18005550199"));
//! ```
//!
//! Money is `i64` minor units throughout, never `f64`.

pub mod auction;
pub mod breaker;
mod error;
pub mod extract;
pub mod ssrf;
pub mod target;
pub mod template;

pub use auction::{
    Destination, Outcome, Reply, TargetTerms, ValidBid, classify, compare, rank, validate,
};
pub use breaker::{BreakerConfig, BreakerState, CircuitBreaker};
pub use error::RtbError;
pub use extract::{
    BidResponse, MAX_JSONPATH_CHARS, MAX_RESPONSE_BYTES, MAX_RESPONSE_NODES, Parsed, PathConfig,
    ResponsePath, ResponsePaths, check_path_cost, extract,
};
pub use ssrf::{check_resolved, forbidden_literal_host, is_forbidden};
pub use target::check_target;
pub use template::{
    CallContext, ContentType, Escape, PriceTerms, Template, Variable, Vocabulary, tag_or_builtin,
    validate_template,
};
