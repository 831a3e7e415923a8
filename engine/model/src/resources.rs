//! The resources the RTB, pool and DNI features run on: tracking numbers,
//! number pools, RTB targets and routers, and DNI tracking tags.
//!
//! Like [`crate::config`], each type is both the stored and the API form
//! (JSON, camelCase, unknown fields refused). `id`, `tenantId`, `version` and
//! `createdAt` default when absent, because the server assigns them. Each
//! `validate` checks what a value can tell about itself and lists every
//! problem at once; references to other resources (a router's targets, a
//! tag's pool) and uniqueness are the caller's to check against the store.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    Caps, Currency, FieldError, GeoFilter, Id, ModelError, PhoneNumber, Schedule, TagFilter, money,
};

/// Whether a number, pool, target, router or tag is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResourceStatus {
    /// In use.
    #[default]
    Active,
    /// Temporarily not in use.
    Paused,
    /// Not in use until reactivated.
    Inactive,
}

fn finish(errors: Vec<FieldError>) -> Result<(), ModelError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ModelError::Invalid(errors))
    }
}

fn require_name(name: &str, errors: &mut Vec<FieldError>) {
    if name.trim().is_empty() {
        errors.push(FieldError::new("name", "must not be empty"));
    } else if name.chars().count() > 200 {
        errors.push(FieldError::new("name", "must be at most 200 characters"));
    }
}

// ---------------------------------------------------------------- numbers

/// A tracking number in a tenant's inventory. A phone number is in at most
/// one inventory in the whole system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Number {
    /// Id (assigned by the server).
    #[serde(default)]
    #[schema(value_type = String, format = Uuid)]
    pub id: Id,
    /// Owning tenant (assigned by the server).
    #[serde(default)]
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: Id,
    /// The number, E.164, normalized from common input forms. Cannot change.
    #[schema(value_type = String, example = "+15550001000")]
    pub phone_number: PhoneNumber,
    /// A label for people.
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// Read-only: the pool that holds the number, if any.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid, read_only)]
    pub pool_id: Option<Id>,
    /// Read-only: the campaign that uses it as its direct number, if any.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid, read_only)]
    pub campaign_id: Option<Id>,
    /// Whether it is in use.
    #[serde(default)]
    pub status: ResourceStatus,
    /// The publisher whose traffic it carries: calls to it are attributed
    /// to that publisher (one of the tenant's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub publisher_id: Option<Id>,
    /// Optimistic-concurrency version, bumped by every write. On update, the
    /// version being replaced (or send `If-Match`); absent or 0: the current
    /// one, whatever it is. A stale one is a 409.
    #[serde(default)]
    pub version: u64,
    /// When it was added (assigned by the server).
    #[serde(default)]
    pub created_at: DateTime<Utc>,
}

impl Number {
    /// Checks every field, listing all problems at once.
    pub fn validate(&self) -> Result<(), ModelError> {
        let mut errors = Vec::new();
        if self
            .friendly_name
            .as_ref()
            .is_some_and(|n| n.chars().count() > 200)
        {
            errors.push(FieldError::new(
                "friendlyName",
                "must be at most 200 characters",
            ));
        }
        finish(errors)
    }
}

// ---------------------------------------------------------------- pools

fn default_session_timeout() -> u32 {
    1800
}
fn default_closed_browser_delay() -> u32 {
    30
}

/// Longest idle lease a pool or tag may keep: one week.
pub const MAX_SESSION_TIMEOUT_SECONDS: u32 = 7 * 24 * 3600;

/// A set of tracking numbers leased to web visitors (DNI). A number is in at
/// most one pool; the name is unique within the tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pool {
    /// Id (assigned by the server).
    #[serde(default)]
    #[schema(value_type = String, format = Uuid)]
    pub id: Id,
    /// Owning tenant (assigned by the server).
    #[serde(default)]
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: Id,
    /// Display name, unique per tenant.
    pub name: String,
    /// The pool's numbers, E.164; each must be in the tenant's number inventory.
    #[serde(default)]
    #[schema(value_type = Vec<String>, example = json!(["+15550003001"]))]
    pub numbers: Vec<PhoneNumber>,
    /// Shown to a visitor when every number is leased.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub fallback_number: Option<PhoneNumber>,
    /// A lease ends after this many idle seconds.
    #[serde(default = "default_session_timeout")]
    pub session_timeout_seconds: u32,
    /// After a visitor's page closes, calls to its number are still
    /// attributed to it for this many seconds.
    #[serde(default = "default_closed_browser_delay")]
    pub closed_browser_delay_seconds: u32,
    /// Whether it leases numbers.
    #[serde(default)]
    pub status: ResourceStatus,
    /// The publisher its calls are attributed to when the visit's tracking
    /// tag names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub publisher_id: Option<Id>,
    /// Optimistic-concurrency version, bumped by every write. On update, the
    /// version being replaced (or send `If-Match`); absent or 0: the current
    /// one, whatever it is. A stale one is a 409.
    #[serde(default)]
    pub version: u64,
    /// When it was created (assigned by the server).
    #[serde(default)]
    pub created_at: DateTime<Utc>,
}

impl Pool {
    /// Checks every field, listing all problems at once.
    pub fn validate(&self) -> Result<(), ModelError> {
        let mut errors = Vec::new();
        require_name(&self.name, &mut errors);
        let mut seen = HashSet::new();
        for (i, n) in self.numbers.iter().enumerate() {
            if !seen.insert(n) {
                errors.push(FieldError::new(
                    format!("numbers[{i}]"),
                    format!("{n} is listed twice"),
                ));
            }
        }
        if let Some(f) = &self.fallback_number
            && seen.contains(f)
        {
            errors.push(FieldError::new(
                "fallbackNumber",
                "must not be one of the pool's own numbers",
            ));
        }
        if !(1..=MAX_SESSION_TIMEOUT_SECONDS).contains(&self.session_timeout_seconds) {
            errors.push(FieldError::new(
                "sessionTimeoutSeconds",
                format!("must be between 1 and {MAX_SESSION_TIMEOUT_SECONDS}"),
            ));
        }
        if !(1..=3600).contains(&self.closed_browser_delay_seconds) {
            errors.push(FieldError::new(
                "closedBrowserDelaySeconds",
                "must be between 1 and 3600",
            ));
        }
        finish(errors)
    }
}

// ---------------------------------------------------------------- RTB targets

/// HTTP method of a bid request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// The template is the body.
    #[default]
    Post,
    /// No body: variables go in the endpoint URL's query.
    Get,
}

/// How a bid request body is encoded, and so how template values are escaped in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BodyFormat {
    /// JSON.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// XML.
    Xml,
}

impl BodyFormat {
    /// The MIME type sent for a target configured with the short name.
    pub fn mime(self) -> &'static str {
        match self {
            BodyFormat::Json => "application/json",
            BodyFormat::Form => "application/x-www-form-urlencoded",
            BodyFormat::Xml => "application/xml",
        }
    }
}

/// The MIME types a target may name, and the body format each means.
const CONTENT_TYPES: [(&str, BodyFormat); 7] = [
    ("json", BodyFormat::Json),
    ("form", BodyFormat::Form),
    ("xml", BodyFormat::Xml),
    ("application/json", BodyFormat::Json),
    ("application/x-www-form-urlencoded", BodyFormat::Form),
    ("application/xml", BodyFormat::Xml),
    ("text/xml", BodyFormat::Xml),
];

/// A bid request's content type: a short name (`json`, `form`, `xml`) or a
/// MIME type (`application/json`, `application/x-www-form-urlencoded`,
/// `application/xml`, `text/xml`), parameters allowed
/// (`application/json; charset=utf-8`). Kept as given, lowercased; a MIME
/// type is sent as the request's `Content-Type` as it stands, a short name as
/// its MIME type. [`RtbTarget::validate`] refuses any other value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct ContentType(String);

impl ContentType {
    /// The value as stored: trimmed and lowercased.
    pub fn new(value: &str) -> Self {
        Self(value.trim().to_ascii_lowercase())
    }

    /// The value as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The body format it names, or why it names none.
    pub fn format(&self) -> Result<BodyFormat, String> {
        let refused = || {
            let names = CONTENT_TYPES
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "must be one of {names}, optionally with parameters such as \"; charset=utf-8\""
            )
        };
        if self.0.len() > 200
            || !self
                .0
                .bytes()
                .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
        {
            return Err(refused());
        }
        let mut parts = self.0.split(';');
        let essence = parts
            .next()
            .unwrap_or_default()
            .trim_end_matches([' ', '\t']);
        let format = CONTENT_TYPES
            .iter()
            .find(|(n, _)| *n == essence)
            .map(|(_, f)| *f)
            .ok_or_else(refused)?;
        let is_short = !essence.contains('/');
        for param in parts {
            let (name, value) = param
                .trim_matches([' ', '\t'])
                .split_once('=')
                .ok_or_else(refused)?;
            let quoted = value.len() >= 2 && value.starts_with('"') && value.ends_with('"');
            if is_short || !is_token(name) || !(is_token(value) || quoted) {
                return Err(refused());
            }
        }
        Ok(format)
    }

    /// The `Content-Type` header of the bid request: the MIME type as
    /// stored, or a short name's MIME type.
    pub fn mime(&self) -> &str {
        match self.format() {
            Ok(f) if !self.0.contains('/') => f.mime(),
            _ => &self.0,
        }
    }
}

impl Default for ContentType {
    fn default() -> Self {
        Self("json".into())
    }
}

impl From<String> for ContentType {
    fn from(value: String) -> Self {
        Self::new(&value)
    }
}

impl From<ContentType> for String {
    fn from(value: ContentType) -> Self {
        value.0
    }
}

/// An HTTP token (RFC 9110 §5.6.2).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// How a bid request authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum AuthType {
    /// No credentials.
    #[default]
    None,
    /// `authToken` in the header named `authHeader` (default `X-API-Key`).
    ApiKey,
    /// `Authorization: Bearer <authToken>`.
    Bearer,
    /// `Authorization: Basic` with `authUsername` and `authPassword`.
    Basic,
}

fn default_timeout_ms() -> u32 {
    1000
}
fn default_bid_amount_path() -> String {
    "bidAmount".into()
}
fn default_destination_path() -> String {
    "destinationNumber".into()
}
fn default_acceptance_path() -> Option<String> {
    Some("accepted".into())
}
fn default_api_key_header() -> String {
    "X-API-Key".into()
}
fn utc() -> Tz {
    Tz::UTC
}

/// An external bidder: where bid requests go, how its answers are read, and
/// the caps and bid range it is held to (enforced like a buyer's).
///
/// `authToken` and `authPassword` are write-only through the API: responses
/// leave them out and say `authConfigured` instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RtbTarget {
    /// Id (assigned by the server).
    #[serde(default)]
    #[schema(value_type = String, format = Uuid)]
    pub id: Id,
    /// Owning tenant (assigned by the server).
    #[serde(default)]
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: Id,
    /// Display name.
    pub name: String,
    /// Company.
    #[serde(default)]
    pub company: String,
    /// Contact person or e-mail.
    #[serde(default)]
    pub contact: String,
    /// Where bid requests go, `http(s)://…`; may hold template variables.
    pub endpoint_url: String,
    /// POST or GET.
    #[serde(default)]
    pub http_method: HttpMethod,
    /// The bid request's `Content-Type`, which also decides how template
    /// values are escaped: `application/json`, `application/x-www-form-urlencoded`,
    /// `application/xml` or `text/xml` (parameters such as `; charset=utf-8`
    /// allowed), or the short names `json`, `form`, `xml`. Kept lowercased.
    #[serde(default)]
    #[schema(value_type = String, example = "application/json")]
    pub content_type: ContentType,
    /// Extra request headers; values may hold template variables.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// none, apiKey, bearer or basic.
    #[serde(default)]
    pub auth_type: AuthType,
    /// Header that carries the key for `apiKey` auth.
    #[serde(default = "default_api_key_header")]
    pub auth_header: String,
    /// The API key or bearer token. Write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(write_only)]
    pub auth_token: Option<String>,
    /// User name for basic auth.
    #[serde(default)]
    pub auth_username: Option<String>,
    /// Password for basic auth. Write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(write_only)]
    pub auth_password: Option<String>,
    /// Read-only: whether the credentials `authType` needs are stored.
    #[serde(default)]
    #[schema(read_only)]
    pub auth_configured: bool,
    /// The bid request body template, with `{variables}`.
    #[serde(default)]
    pub request_body: String,
    /// How long this bidder may take to answer.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    /// Where the bid amount is in the answer. Every `…Path` is a key
    /// (`bidAmount`), a dotted path (`data.bid.amount`, digits index arrays) or
    /// an RFC 9535 JSONPath (`$.data.bid.amount`) within a cost limit: at most
    /// 256 characters and one descendant segment (`..`), not inside a filter;
    /// no wildcard (`*`), slice or filter from the `..` on; no filter inside a
    /// filter; no `match()` or `search()`. A costlier path is refused (422).
    /// Answers over 64 KiB or 10,000 JSON values are invalid bids.
    #[serde(default = "default_bid_amount_path")]
    pub bid_amount_path: String,
    /// Where the destination number (or SIP address) is.
    #[serde(default = "default_destination_path")]
    pub destination_number_path: String,
    /// Where the acceptance flag is; none = every answer with an amount is a bid.
    #[serde(default = "default_acceptance_path")]
    pub acceptance_path: Option<String>,
    /// Where the bid's currency is.
    #[serde(default)]
    pub currency_path: Option<String>,
    /// Where the required call duration (seconds) is.
    #[serde(default)]
    pub duration_path: Option<String>,
    /// Where the bid's expiry (seconds) is.
    #[serde(default)]
    pub expiry_path: Option<String>,
    /// Where the reason of a rejection is.
    #[serde(default)]
    pub reject_reason_path: Option<String>,
    /// Concurrency and per-period caps, as flat fields.
    #[serde(flatten)]
    pub caps: Caps,
    /// IANA time zone for cap resets and the schedule.
    #[serde(default = "utc")]
    #[schema(value_type = String, example = "America/New_York")]
    pub timezone: Tz,
    /// Hours it takes calls; none = always.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub schedule: Option<Schedule>,
    /// Lowest bid accepted, decimal in `currency`.
    #[serde(default, with = "money::decimal")]
    #[schema(value_type = f64, example = 1.5)]
    pub min_bid_amount: i64,
    /// Highest bid accepted, decimal in `currency`.
    #[serde(with = "money::decimal")]
    #[schema(value_type = f64, example = 50.0)]
    pub max_bid_amount: i64,
    /// Currency of bids.
    #[serde(default)]
    #[schema(value_type = String, example = "USD")]
    pub currency: Currency,
    /// Caller geography.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub geo: GeoFilter,
    /// Tag filters: it is asked to bid only on calls matching all of them.
    #[serde(default)]
    pub filters: Vec<TagFilter>,
    /// Whether it is asked to bid.
    #[serde(default)]
    pub status: ResourceStatus,
    /// Optimistic-concurrency version, bumped by every write. On update, the
    /// version being replaced (or send `If-Match`); absent or 0: the current
    /// one, whatever it is. A stale one is a 409.
    #[serde(default)]
    pub version: u64,
    /// When it was created (assigned by the server).
    #[serde(default)]
    pub created_at: DateTime<Utc>,
}

fn is_header_name(s: &str) -> bool {
    is_token(s)
}

fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty()
            && !host.contains(['{', '}'])
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

fn present(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.is_empty())
}

impl RtbTarget {
    /// Whether the credentials its `authType` needs are there.
    pub fn has_credentials(&self) -> bool {
        match self.auth_type {
            AuthType::None => true,
            AuthType::ApiKey | AuthType::Bearer => present(&self.auth_token),
            AuthType::Basic => present(&self.auth_username) && present(&self.auth_password),
        }
    }

    /// The response paths by their JSON field names.
    pub fn response_paths(&self) -> [(&'static str, Option<&str>); 7] {
        [
            ("bidAmountPath", Some(self.bid_amount_path.as_str())),
            (
                "destinationNumberPath",
                Some(self.destination_number_path.as_str()),
            ),
            ("acceptancePath", self.acceptance_path.as_deref()),
            ("currencyPath", self.currency_path.as_deref()),
            ("durationPath", self.duration_path.as_deref()),
            ("expiryPath", self.expiry_path.as_deref()),
            ("rejectReasonPath", self.reject_reason_path.as_deref()),
        ]
    }

    /// Checks every field, listing all problems at once.
    pub fn validate(&self) -> Result<(), ModelError> {
        let mut errors = Vec::new();
        require_name(&self.name, &mut errors);
        crate::tags::validate_filters("filters", &self.filters, &mut errors);
        if !is_http_url(&self.endpoint_url) {
            errors.push(FieldError::new(
                "endpointUrl",
                "must be an http(s) URL with a host",
            ));
        }
        if !(10..=10_000).contains(&self.timeout_ms) {
            errors.push(FieldError::new("timeoutMs", "must be between 10 and 10000"));
        }
        for (name, value) in &self.headers {
            if !is_header_name(name) {
                errors.push(FieldError::new(
                    format!("headers.{name}"),
                    "is not a valid header name",
                ));
            }
            if value.contains(['\r', '\n']) {
                errors.push(FieldError::new(
                    format!("headers.{name}"),
                    "must not contain line breaks",
                ));
            }
        }
        if let Err(why) = self.content_type.format() {
            errors.push(FieldError::new("contentType", why));
        }
        if self.http_method == HttpMethod::Get && !self.request_body.trim().is_empty() {
            errors.push(FieldError::new(
                "requestBody",
                "must be empty for GET: put variables in endpointUrl",
            ));
        }
        match self.auth_type {
            AuthType::ApiKey if !is_header_name(&self.auth_header) => {
                errors.push(FieldError::new("authHeader", "is not a valid header name"));
            }
            AuthType::ApiKey | AuthType::Bearer if !present(&self.auth_token) => {
                errors.push(FieldError::new(
                    "authToken",
                    "is required for this authType",
                ));
            }
            AuthType::Basic => {
                if !present(&self.auth_username)
                    || self
                        .auth_username
                        .as_deref()
                        .is_some_and(|u| u.contains(':'))
                {
                    errors.push(FieldError::new(
                        "authUsername",
                        "is required for basic auth and must not contain ':'",
                    ));
                }
                if !present(&self.auth_password) {
                    errors.push(FieldError::new(
                        "authPassword",
                        "is required for basic auth",
                    ));
                }
            }
            _ => {}
        }
        if self
            .auth_token
            .as_deref()
            .is_some_and(|t| t.contains(['\r', '\n']))
        {
            errors.push(FieldError::new("authToken", "must not contain line breaks"));
        }
        self.caps.validate(&mut errors);
        if self.min_bid_amount < 0 {
            errors.push(FieldError::new("minBidAmount", "must not be negative"));
        }
        if self.max_bid_amount <= 0 {
            errors.push(FieldError::new("maxBidAmount", "must be more than 0"));
        } else if self.min_bid_amount > self.max_bid_amount {
            errors.push(FieldError::new(
                "minBidAmount",
                "must not exceed maxBidAmount",
            ));
        }
        finish(errors)
    }
}

// ---------------------------------------------------------------- RTB routers

fn one() -> u32 {
    1
}
fn default_bidding_timeout() -> u32 {
    1000
}

/// A target's place in a router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouterTarget {
    /// The RTB target (of the same tenant).
    #[schema(value_type = String, format = Uuid)]
    pub target_id: Id,
    /// Breaks ties between equal bids: 1 wins over 2.
    #[serde(default = "one")]
    pub priority: u32,
    /// Share among equals.
    #[serde(default = "one")]
    pub weight: u32,
}

/// An auction: which targets are asked, how long they have, and the floor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RtbRouter {
    /// Id (assigned by the server).
    #[serde(default)]
    #[schema(value_type = String, format = Uuid)]
    pub id: Id,
    /// Owning tenant (assigned by the server).
    #[serde(default)]
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: Id,
    /// Display name.
    pub name: String,
    /// The auction's deadline, 50 to 5000 ms.
    #[serde(default = "default_bidding_timeout")]
    pub bidding_timeout_ms: u32,
    /// Fewer valid bids than this and nobody wins.
    #[serde(default = "one")]
    pub min_bidders_required: u32,
    /// Bids below this never win, decimal.
    #[serde(default, with = "money::decimal")]
    #[schema(value_type = f64, example = 2.0)]
    pub floor_price: i64,
    /// The bidders.
    #[serde(default)]
    pub targets: Vec<RouterTarget>,
    /// Whether it runs auctions.
    #[serde(default)]
    pub status: ResourceStatus,
    /// Optimistic-concurrency version, bumped by every write. On update, the
    /// version being replaced (or send `If-Match`); absent or 0: the current
    /// one, whatever it is. A stale one is a 409.
    #[serde(default)]
    pub version: u64,
    /// When it was created (assigned by the server).
    #[serde(default)]
    pub created_at: DateTime<Utc>,
}

impl RtbRouter {
    /// Checks every field, listing all problems at once. Whether the targets
    /// exist is the caller's to check.
    pub fn validate(&self) -> Result<(), ModelError> {
        let mut errors = Vec::new();
        require_name(&self.name, &mut errors);
        if !(50..=5000).contains(&self.bidding_timeout_ms) {
            errors.push(FieldError::new(
                "biddingTimeoutMs",
                "must be between 50 and 5000",
            ));
        }
        if self.min_bidders_required == 0 {
            errors.push(FieldError::new("minBiddersRequired", "must be at least 1"));
        } else if !self.targets.is_empty()
            && self.min_bidders_required as usize > self.targets.len()
        {
            errors.push(FieldError::new(
                "minBiddersRequired",
                format!(
                    "must not exceed the number of targets ({})",
                    self.targets.len()
                ),
            ));
        }
        if self.floor_price < 0 {
            errors.push(FieldError::new("floorPrice", "must not be negative"));
        }
        let mut seen = HashSet::new();
        for (i, t) in self.targets.iter().enumerate() {
            if !seen.insert(t.target_id) {
                errors.push(FieldError::new(
                    format!("targets[{i}].targetId"),
                    "is listed twice",
                ));
            }
            if t.priority == 0 {
                errors.push(FieldError::new(
                    format!("targets[{i}].priority"),
                    "must be at least 1",
                ));
            }
            if t.weight == 0 {
                errors.push(FieldError::new(
                    format!("targets[{i}].weight"),
                    "must be at least 1",
                ));
            }
        }
        finish(errors)
    }
}

// ---------------------------------------------------------------- tracking tags

/// How a swapped-in number is written on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum NumberFormat {
    /// `(555) 000-1000` for +1 numbers, E.164 otherwise.
    #[default]
    National,
    /// `555-000-1000`.
    Dashed,
    /// `555.000.1000`.
    Dotted,
    /// `+15550001000`.
    E164,
}

impl NumberFormat {
    /// `number` written in this format (non-+1 numbers stay E.164).
    pub fn format(self, number: &PhoneNumber) -> String {
        let d = &number.as_str()[1..];
        if d.len() != 11 || !d.starts_with('1') {
            return number.as_str().to_owned();
        }
        let (a, b, c) = (&d[1..4], &d[4..7], &d[7..]);
        match self {
            NumberFormat::National => format!("({a}) {b}-{c}"),
            NumberFormat::Dashed => format!("{a}-{b}-{c}"),
            NumberFormat::Dotted => format!("{a}.{b}.{c}"),
            NumberFormat::E164 => number.as_str().to_owned(),
        }
    }
}

fn default_selector() -> String {
    ".phone-number".into()
}

/// Whether `code` is a valid tag code: 3 to 64 of letters, digits, `_`, `-`.
pub fn is_tag_code(code: &str) -> bool {
    (3..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A DNI tag: a site includes the script with its `tagCode`, and visitors'
/// numbers are leased from `poolId`. Tag codes are unique system-wide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrackingTag {
    /// Id (assigned by the server).
    #[serde(default)]
    #[schema(value_type = String, format = Uuid)]
    pub id: Id,
    /// Owning tenant (assigned by the server).
    #[serde(default)]
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: Id,
    /// The code a site embeds; generated when absent on create; cannot change.
    #[serde(default)]
    pub tag_code: String,
    /// Display name.
    pub name: String,
    /// The campaign its calls are attributed to.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub campaign_id: Option<Id>,
    /// The pool numbers are leased from.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub pool_id: Option<Id>,
    /// CSS selector of the elements whose number is swapped.
    #[serde(default = "default_selector")]
    pub selector: String,
    /// How the number is written.
    #[serde(default)]
    pub number_format: NumberFormat,
    /// Idle lease limit; none = the pool's.
    #[serde(default)]
    pub session_timeout_seconds: Option<u32>,
    /// A returning visitor gets the same number for this many days; none = not sticky.
    #[serde(default)]
    pub sticky_days: Option<u32>,
    /// Swap only for visitors from these sources (utm_source or referrer
    /// host, lowercase: `google`, `bing`); empty = every source.
    #[serde(default)]
    pub only_sources: Vec<String>,
    /// Swap only for paid traffic (a click id or utm_medium cpc/ppc/paid).
    #[serde(default)]
    pub paid_only: bool,
    /// Whether it swaps numbers.
    #[serde(default)]
    pub status: ResourceStatus,
    /// The publisher whose visitors it tracks: calls attributed to its
    /// visits are attributed to that publisher (before the pool's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub publisher_id: Option<Id>,
    /// Optimistic-concurrency version, bumped by every write. On update, the
    /// version being replaced (or send `If-Match`); absent or 0: the current
    /// one, whatever it is. A stale one is a 409.
    #[serde(default)]
    pub version: u64,
    /// When it was created (assigned by the server).
    #[serde(default)]
    pub created_at: DateTime<Utc>,
}

impl TrackingTag {
    /// Checks every field, listing all problems at once. Whether the
    /// campaign and pool exist, and whether the code is free, is the
    /// caller's to check.
    pub fn validate(&self) -> Result<(), ModelError> {
        let mut errors = Vec::new();
        require_name(&self.name, &mut errors);
        if !is_tag_code(&self.tag_code) {
            errors.push(FieldError::new(
                "tagCode",
                "must be 3 to 64 letters, digits, '_' or '-'",
            ));
        }
        let sel = self.selector.trim();
        if sel.is_empty() || sel.len() > 200 || sel.contains(['<', '{', '}', '\n']) {
            errors.push(FieldError::new(
                "selector",
                "must be a CSS selector such as .phone-number",
            ));
        }
        if let Some(t) = self.session_timeout_seconds
            && !(1..=MAX_SESSION_TIMEOUT_SECONDS).contains(&t)
        {
            errors.push(FieldError::new(
                "sessionTimeoutSeconds",
                format!("must be between 1 and {MAX_SESSION_TIMEOUT_SECONDS}"),
            ));
        }
        if let Some(d) = self.sticky_days
            && !(1..=365).contains(&d)
        {
            errors.push(FieldError::new("stickyDays", "must be between 1 and 365"));
        }
        for (i, s) in self.only_sources.iter().enumerate() {
            if s.trim().is_empty() || s.len() > 100 {
                errors.push(FieldError::new(
                    format!("onlySources[{i}]"),
                    "must be a source name such as google",
                ));
            }
        }
        finish(errors)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn target() -> RtbTarget {
        serde_json::from_value(json!({
            "name": "Bidder A", "endpointUrl": "https://bidder.example/bid",
            "requestBody": r#"{"requestId": "{requestId}", "caller": "{callerId}", "src": "{tag:source}"}"#,
            "minBidAmount": 1.5, "maxBidAmount": 50
        }))
        .unwrap()
    }

    fn fields(r: Result<(), ModelError>) -> Vec<String> {
        match r {
            Err(ModelError::Invalid(errs)) => errs.into_iter().map(|e| e.field).collect(),
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn target_defaults_and_amounts() {
        let t = target();
        assert_eq!((t.min_bid_amount, t.max_bid_amount), (150, 5000));
        assert_eq!(
            (t.http_method, t.content_type.as_str(), t.auth_type),
            (HttpMethod::Post, "json", AuthType::None)
        );
        assert_eq!(
            (
                t.timeout_ms,
                t.bid_amount_path.as_str(),
                t.acceptance_path.as_deref()
            ),
            (1000, "bidAmount", Some("accepted"))
        );
        t.validate().unwrap();
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(
            (v["minBidAmount"].as_f64(), v["httpMethod"].as_str()),
            (Some(1.5), Some("POST"))
        );
    }

    #[test]
    fn target_caps_are_flat_and_unknown_fields_refused() {
        let mut v = serde_json::to_value(target()).unwrap();
        v["dailyCap"] = json!(5);
        let t: RtbTarget = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(t.caps.daily_cap, Some(5));
        assert_eq!(serde_json::to_value(&t).unwrap()["dailyCap"], json!(5));
        v["dailycap"] = json!(5);
        let e = serde_json::from_value::<RtbTarget>(v).unwrap_err();
        assert!(e.to_string().contains("dailycap"), "{e}");
    }

    #[test]
    fn target_validation_lists_every_problem() {
        let mut t = target();
        t.endpoint_url = "ftp://bidder.example".into();
        t.timeout_ms = 5;
        t.request_body = r#"{"floor": "{bidFloor}"}"#.into();
        t.bid_amount_path = "$.data[".into();
        t.destination_number_path = "data..phone".into();
        t.min_bid_amount = 6000;
        t.auth_type = AuthType::Basic;
        t.auth_username = Some("u".into());
        let errs = match t.validate() {
            Err(ModelError::Invalid(e)) => e,
            other => panic!("{other:?}"),
        };
        let f: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            f,
            ["endpointUrl", "timeoutMs", "authPassword", "minBidAmount"],
            "templates and response paths are switchboard-rtb's to check"
        );
    }

    #[test]
    fn content_types_are_mime_types_or_short_names_kept_lowercased() {
        let ct = |v: &str| serde_json::from_value::<ContentType>(json!(v)).unwrap();
        for (given, stored, format, mime) in [
            ("json", "json", BodyFormat::Json, "application/json"),
            (
                "FORM",
                "form",
                BodyFormat::Form,
                "application/x-www-form-urlencoded",
            ),
            ("xml", "xml", BodyFormat::Xml, "application/xml"),
            (
                "application/json",
                "application/json",
                BodyFormat::Json,
                "application/json",
            ),
            (
                "Application/JSON; Charset=UTF-8",
                "application/json; charset=utf-8",
                BodyFormat::Json,
                "application/json; charset=utf-8",
            ),
            (
                "application/x-www-form-urlencoded",
                "application/x-www-form-urlencoded",
                BodyFormat::Form,
                "application/x-www-form-urlencoded",
            ),
            (
                "application/xml;charset=\"utf-8\"",
                "application/xml;charset=\"utf-8\"",
                BodyFormat::Xml,
                "application/xml;charset=\"utf-8\"",
            ),
            ("text/xml", "text/xml", BodyFormat::Xml, "text/xml"),
        ] {
            let c = ct(given);
            assert_eq!(
                (c.as_str(), c.format(), c.mime()),
                (stored, Ok(format), mime),
                "{given}"
            );
            assert_eq!(
                serde_json::to_value(&c).unwrap(),
                json!(stored),
                "read back as stored"
            );
        }
        for bad in [
            "",
            "html",
            "text/html",
            "application/jsonx",
            "json; charset=utf-8",
            "application/json; charset",
            "application/json\r\nX-Evil: 1",
            "application/json; =x",
        ] {
            assert!(ct(bad).format().is_err(), "{bad:?}");
        }
        let mut t = target();
        t.content_type = ContentType::new("text/plain");
        assert_eq!(fields(t.validate()), ["contentType"]);
    }

    #[test]
    fn credentials_are_required_by_auth_type() {
        let mut t = target();
        t.auth_type = AuthType::Bearer;
        assert_eq!(fields(t.validate()), ["authToken"]);
        assert!(!t.has_credentials());
        t.auth_token = Some("s3cret".into());
        t.validate().unwrap();
        assert!(t.has_credentials());
        t.headers.insert("Bad Header".into(), "{nope}".into());
        assert_eq!(fields(t.validate()), ["headers.Bad Header"]);
    }

    #[test]
    fn router_rules() {
        let a = crate::new_id();
        let r: RtbRouter = serde_json::from_value(json!({
            "name": "R", "floorPrice": 2.25, "targets": [{"targetId": a}, {"targetId": a, "priority": 0, "weight": 0}]
        }))
        .unwrap();
        assert_eq!(
            (r.bidding_timeout_ms, r.min_bidders_required, r.floor_price),
            (1000, 1, 225)
        );
        assert_eq!(
            fields(r.validate()),
            [
                "targets[1].targetId",
                "targets[1].priority",
                "targets[1].weight"
            ]
        );
        let r = RtbRouter {
            bidding_timeout_ms: 49,
            min_bidders_required: 3,
            targets: r.targets[..1].to_vec(),
            ..r
        };
        assert_eq!(
            fields(r.validate()),
            ["biddingTimeoutMs", "minBiddersRequired"]
        );
    }

    #[test]
    fn pool_rules() {
        let p: Pool = serde_json::from_value(json!({
            "name": "Main", "numbers": ["(555) 000-3001", "+15550003001"], "fallbackNumber": "555-000-3001",
            "sessionTimeoutSeconds": 0
        }))
        .unwrap();
        assert_eq!(p.numbers[0].as_str(), "+15550003001");
        assert_eq!(p.closed_browser_delay_seconds, 30);
        assert_eq!(
            fields(p.validate()),
            ["numbers[1]", "fallbackNumber", "sessionTimeoutSeconds"]
        );
        assert!(serde_json::from_value::<Pool>(json!({"name": "x", "numbers": ["12"]})).is_err());
    }

    #[test]
    fn tag_rules_and_formats() {
        let t: TrackingTag =
            serde_json::from_value(json!({"name": "Landing", "tagCode": "landing_page"})).unwrap();
        assert_eq!(
            (t.selector.as_str(), t.number_format),
            (".phone-number", NumberFormat::National)
        );
        t.validate().unwrap();
        let bad = TrackingTag {
            tag_code: "a b".into(),
            sticky_days: Some(0),
            only_sources: vec![" ".into()],
            ..t
        };
        assert_eq!(
            fields(bad.validate()),
            ["tagCode", "stickyDays", "onlySources[0]"]
        );
        let n = PhoneNumber::parse("+15550001000").unwrap();
        let formats: Vec<_> = [
            NumberFormat::National,
            NumberFormat::Dashed,
            NumberFormat::Dotted,
            NumberFormat::E164,
        ]
        .iter()
        .map(|f| f.format(&n))
        .collect();
        assert_eq!(
            formats,
            [
                "(555) 000-1000",
                "555-000-1000",
                "555.000.1000",
                "+15550001000"
            ]
        );
        assert_eq!(
            NumberFormat::Dashed.format(&PhoneNumber::parse("+442079460958").unwrap()),
            "+442079460958"
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e =
            serde_json::from_value::<RtbRouter>(json!({"name": "R", "timeout": 5})).unwrap_err();
        assert!(e.to_string().contains("timeout"));
    }
}
