//! `POST /api/rtb/webhook/{routerId}`: a publisher's ping — what is this
//! caller worth, and where should the call go?
//!
//! Authenticated by an API key of the router's tenant (`Authorization:
//! Bearer …`; any role): the publisher's key. A key with a `publisherId`
//! attributes the call that takes the bid to that publisher. Each key may ping at most
//! [`PINGS_PER_SECOND`] times a second; past that, 429 with `Retry-After`.
//! The body is JSON or a form with `callerId` (required), `state`, `zip`.
//!
//! A bid answers `{bidId, bidAmount, phoneNumber, expireInSeconds}` (plus
//! `bid: true` and `currency`): deliver the call to `phoneNumber` from the
//! same caller id before it expires and it is dialed to the reserved winner.
//! No bid answers `{bid: false, reason}` with a reason code.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_engine::Ping;
use switchboard_model::{CallerInfo, FieldError, Id, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::extract::ResourceId;
use crate::admin::extract::{Auth, Json, Principal};
use crate::error::ApiError;
use crate::limit::Rate;
use crate::server::AppState;

/// Tag names a ping may not send: Switchboard's own, which filters trust.
const RESERVED_TAGS: [&str; 4] = [
    "publisherId",
    "publisherSubId",
    "callerCity",
    "callerCountry",
];

/// Most custom tags one ping carries.
const MAX_PING_TAGS: usize = 50;

/// Most pings one publisher key may send in a second.
pub(crate) const PINGS_PER_SECOND: u32 = 20;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ping))
}

/// A ping's body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PingRequest {
    /// The caller's number.
    caller_id: Option<String>,
    /// The caller's state.
    state: Option<String>,
    /// The caller's ZIP code.
    zip: Option<String>,
    /// Custom values for the call's tags (`{"age": "42"}`), which buyers'
    /// filters and bid request templates (`{tag:age}`) read. In a form
    /// body, every field but the three above is one.
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// A ping's answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PingAnswer {
    /// Whether there is a bid.
    bid: bool,
    /// The bid's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    bid_id: Option<String>,
    /// The bid, decimal.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    bid_amount: Option<Value>,
    /// Its currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    currency: Option<String>,
    /// Where to deliver the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<String>,
    /// Seconds the bid holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    expire_in_seconds: Option<u32>,
    /// Why there is no bid: `no-valid-bid`, `too-few-bids`, `no-target`,
    /// `no-tracking-number`, `router-inactive`, `blocked` (the caller is on the blocklist).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// Pings per API key per second.
static PINGS: LazyLock<Rate<Id>> =
    LazyLock::new(|| Rate::new(PINGS_PER_SECOND, Duration::from_secs(1)));

/// Counts a ping of `key`; `false` past the limit.
fn admit(key: Id) -> bool {
    PINGS.check(&key).is_ok()
}

fn parse(headers: &HeaderMap, body: &Bytes) -> Result<CallerInfo, ApiError> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let req: PingRequest = if form {
        let mut pairs: HashMap<String, String> =
            form_urlencoded::parse(body).into_owned().collect();
        let mut take = |k: &str| pairs.remove(k).filter(|v| !v.trim().is_empty());
        PingRequest {
            caller_id: take("callerId"),
            state: take("state"),
            zip: take("zip"),
            tags: pairs.into_iter().collect(),
        }
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!("the body must be a json object or a form: {e}"))
        })?
    };
    let Some(from) = req
        .caller_id
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
    else {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "callerId",
            "is required",
        )]));
    };
    let mut errors = Vec::new();
    if req.tags.len() > MAX_PING_TAGS {
        errors.push(FieldError::new(
            "tags",
            format!("must have at most {MAX_PING_TAGS} entries"),
        ));
    }
    for (name, value) in &req.tags {
        if RESERVED_TAGS.contains(&name.as_str()) {
            errors.push(FieldError::new(
                format!("tags.{name}"),
                "is set by Switchboard (the key's publisher, the carrier's caller fields), not by a ping",
            ));
        } else if !switchboard_model::tags::valid_tag_name(name) {
            errors.push(FieldError::new(
                format!("tags.{name}"),
                switchboard_model::tags::TAG_NAME_RULE,
            ));
        } else if value.len() > 1024 {
            errors.push(FieldError::new(
                format!("tags.{name}"),
                "must be at most 1024 bytes",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let mut tags = req.tags;
    tags.retain(|_, v| !v.trim().is_empty());
    Ok(CallerInfo {
        from,
        state: req.state,
        zip: req.zip,
        tags,
    })
}

/// Runs the router's auction for a publisher's caller.
#[utoipa::path(post, path = "/api/rtb/webhook/{routerId}", tag = "rtb", params(("routerId" = String, Path, format = Uuid)),
    request_body(content = PingRequest, description = "JSON or form"),
    responses((status = 200, body = PingAnswer), (status = 401), (status = 403, description = "not an api key"),
              (status = 404), (status = 422), (status = 429, description = "too many pings from this key")))]
async fn ping(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(router, _): ResourceId<switchboard_model::RtbRouter>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PingAnswer>, ApiError> {
    let Principal::ApiKey {
        id: key, publisher, ..
    } = &auth.principal
    else {
        return Err(ApiError::Forbidden(
            "pings authenticate with a publisher's api key".into(),
        ));
    };
    auth.require(Role::Viewer)?;
    if !admit(*key) {
        return Err(ApiError::RateLimited(1));
    }
    let caller = parse(&headers, &body)?;
    let answer = match state
        .engine
        .rtb_ping(auth.tenant_id, router, caller, *publisher)
        .await?
    {
        None => return Err(ApiError::NotFound("rtb router")),
        Some(Ping::NoBid(reason)) => PingAnswer {
            bid: false,
            bid_id: None,
            bid_amount: None,
            currency: None,
            phone_number: None,
            expire_in_seconds: None,
            reason: Some(reason),
        },
        Some(Ping::Bid {
            bid_id,
            amount,
            currency,
            phone_number,
            expire_in_seconds,
        }) => PingAnswer {
            bid: true,
            bid_id: Some(bid_id.to_string()),
            bid_amount: Some(json!(decimal(amount))),
            currency: Some(currency.code().to_owned()),
            phone_number: Some(phone_number.as_str().to_owned()),
            expire_in_seconds: Some(expire_in_seconds),
            reason: None,
        },
    };
    Ok(Json(answer))
}

/// Minor units as a JSON decimal number (2 digits, like every amount).
fn decimal(minor: i64) -> serde_json::Number {
    let text = switchboard_model::money::format_decimal(minor, 2);
    text.parse()
        .unwrap_or_else(|_| serde_json::Number::from(minor / 100))
}
