//! `/api/buyers`: the companies that take calls. Every change goes through
//! the engine, which writes the store first and then hands the new
//! configuration to the buyer's actor, so the next call already sees it.
//!
//! Also home of the helpers the buyer and campaign handlers share for their
//! input structs: a body as an object, merging an update into the current
//! document, phone fields, the fields an update names. Path ids, versions
//! and ETags are [`super::docs`]'s, as for every resource.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use switchboard_model::{
    Buyer, BuyerStatus, Caps, Currency, FieldError, GeoFilter, Id, ModelError, PhoneNumber, Role,
    Schedule, TagFilter, TimeWindow, money, new_id,
};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::docs;
use crate::admin::audit;
use crate::admin::extract::ResourceId;
use crate::admin::extract::{Auth, Json, List, PageQuery, if_match};
use crate::error::ApiError;
use crate::server::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, patch, delete))
        .routes(routes!(capacity))
}

/// A buyer as clients send it. Every field is optional so that all missing
/// and malformed values are reported together (422); phone number, time
/// zone, schedule times, revenue and currency arrive as text and are checked
/// here rather than by the JSON parser. A `PUT` is the whole buyer: absent
/// optional fields take their defaults (`PATCH` changes only what it names).
/// `id` and `tenantId` are ignored: the server assigns them (`version` or
/// `If-Match` states the version being replaced).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct BuyerInput {
    /// Ignored. (Accepted, with `tenantId` and `version`, so that a fetched
    /// resource can be sent back as it is; only serde reads them.)
    #[allow(dead_code)]
    #[schema(value_type = Option<String>)]
    id: Option<Value>,
    /// Ignored: a buyer belongs to the caller's tenant.
    #[allow(dead_code)]
    #[schema(value_type = Option<String>)]
    tenant_id: Option<Value>,
    /// Display name (required).
    name: Option<String>,
    company: Option<String>,
    contact: Option<String>,
    /// Where calls are dialed (required); E.164 or a common national form.
    #[schema(example = "(555) 000-2001")]
    phone_number: Option<String>,
    status: Option<BuyerStatus>,
    /// IANA time zone (required).
    #[schema(example = "America/New_York")]
    timezone: Option<String>,
    concurrency_limit: Option<u32>,
    hourly_cap: Option<u32>,
    daily_cap: Option<u32>,
    monthly_cap: Option<u32>,
    total_cap: Option<u32>,
    schedule: Option<ScheduleInput>,
    geo: Option<GeoFilter>,
    /// Tag filters: the buyer takes only calls matching all of them.
    filters: Option<Vec<TagFilter>>,
    conversion_seconds: Option<u32>,
    /// What the buyer pays per converted call, a decimal in the currency's units.
    #[schema(value_type = Option<f64>, example = 25.5)]
    revenue: Option<Value>,
    /// The old name of `revenue`, accepted until the next release: an
    /// answer to a body that uses it carries a `Deprecation` header.
    #[schema(value_type = Option<f64>, deprecated)]
    payout: Option<Value>,
    #[schema(example = "USD")]
    currency: Option<String>,
    /// The version being replaced (or send `If-Match`, which wins); absent,
    /// null or 0: the current one, whatever it is. A stale one is a 409.
    #[allow(dead_code)]
    version: Option<u64>,
}

/// Opening hours per weekday, times as `HH:MM`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleInput {
    #[serde(default)]
    monday: Vec<WindowInput>,
    #[serde(default)]
    tuesday: Vec<WindowInput>,
    #[serde(default)]
    wednesday: Vec<WindowInput>,
    #[serde(default)]
    thursday: Vec<WindowInput>,
    #[serde(default)]
    friday: Vec<WindowInput>,
    #[serde(default)]
    saturday: Vec<WindowInput>,
    #[serde(default)]
    sunday: Vec<WindowInput>,
}

/// `[open, close)` in the buyer's local time.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WindowInput {
    #[schema(example = "09:00")]
    open: String,
    #[schema(example = "17:00")]
    close: String,
}

impl ScheduleInput {
    fn parse(self, errors: &mut Vec<FieldError>) -> Schedule {
        let mut day = |name: &str, windows: Vec<WindowInput>| -> Vec<TimeWindow> {
            let mut out = Vec::new();
            for (i, w) in windows.into_iter().enumerate() {
                let mut time =
                    |which: &str, text: &str| match switchboard_model::config::TimeOfDay::parse(
                        text,
                    ) {
                        Ok(t) => Some(t),
                        Err(_) => {
                            errors.push(FieldError::new(
                                format!("schedule.{name}[{i}].{which}"),
                                format!("{text:?} is not a time HH:MM between 00:00 and 24:00"),
                            ));
                            None
                        }
                    };
                if let (Some(open), Some(close)) = (time("open", &w.open), time("close", &w.close))
                {
                    out.push(TimeWindow { open, close });
                }
            }
            out
        };
        Schedule {
            monday: day("monday", self.monday),
            tuesday: day("tuesday", self.tuesday),
            wednesday: day("wednesday", self.wednesday),
            thursday: day("thursday", self.thursday),
            friday: day("friday", self.friday),
            saturday: day("saturday", self.saturday),
            sunday: day("sunday", self.sunday),
        }
    }
}

impl BuyerInput {
    /// The buyer this input describes, or every field error at once.
    pub(crate) fn into_buyer(self, id: Id, tenant_id: Id) -> Result<Buyer, ApiError> {
        let mut errors = Vec::new();
        let phone_number = required_phone(self.phone_number.as_deref(), "phoneNumber", &mut errors);
        let timezone = match self.timezone.as_deref().map(str::trim) {
            None | Some("") => {
                errors.push(FieldError::new("timezone", "is required"));
                chrono_tz::UTC
            }
            Some(t) => t.parse::<Tz>().unwrap_or_else(|_| {
                errors.push(FieldError::new(
                    "timezone",
                    format!("{t:?} is not an IANA time zone such as America/New_York"),
                ));
                chrono_tz::UTC
            }),
        };
        if self.name.is_none() {
            errors.push(FieldError::new("name", "is required"));
        }
        let schedule = self.schedule.map(|s| s.parse(&mut errors));
        let revenue = match (&self.revenue, &self.payout) {
            (Some(_), Some(_)) => {
                errors.push(FieldError::new(
                    "payout",
                    "is the deprecated name of revenue: send revenue only",
                ));
                0
            }
            (Some(r), None) => amount(Some(r), "revenue", &mut errors),
            (None, p) => amount(p.as_ref(), "payout", &mut errors),
        };
        let currency = match self.currency.as_deref() {
            None => Currency::default(),
            Some(c) => Currency::parse(c).unwrap_or_else(|_| {
                errors.push(FieldError::new(
                    "currency",
                    format!("{c:?} is not a supported currency (USD, CAD, EUR, GBP, AUD)"),
                ));
                Currency::default()
            }),
        };
        let buyer = Buyer {
            id,
            tenant_id,
            name: self.name.unwrap_or_default().trim().to_owned(),
            company: self.company.unwrap_or_default(),
            contact: self.contact.unwrap_or_default(),
            phone_number,
            status: self.status.unwrap_or_default(),
            timezone,
            caps: Caps {
                concurrency_limit: self.concurrency_limit,
                hourly_cap: self.hourly_cap,
                daily_cap: self.daily_cap,
                monthly_cap: self.monthly_cap,
                total_cap: self.total_cap,
            },
            schedule,
            geo: self.geo.unwrap_or_default(),
            filters: self.filters.unwrap_or_default(),
            conversion_seconds: self.conversion_seconds.unwrap_or(0),
            revenue,
            currency,
            version: 0,
        };
        merge_errors(&mut errors, buyer.validate());
        if errors.is_empty() {
            Ok(buyer)
        } else {
            Err(ApiError::Invalid(errors))
        }
    }
}

/// Adds the model's own validation errors, skipping fields already reported.
pub(crate) fn merge_errors(errors: &mut Vec<FieldError>, validated: Result<(), ModelError>) {
    if let Err(ModelError::Invalid(more)) = validated {
        for e in more {
            if !errors.iter().any(|x| x.field == e.field) {
                errors.push(e);
            }
        }
    }
}

/// A stand-in for a missing or invalid number while the other fields are checked.
fn placeholder_phone() -> PhoneNumber {
    PhoneNumber::parse("+15550000000").expect("a valid constant number")
}

fn required_phone(text: Option<&str>, field: &str, errors: &mut Vec<FieldError>) -> PhoneNumber {
    match text {
        None => {
            errors.push(FieldError::new(field, "is required"));
            placeholder_phone()
        }
        Some(t) => optional_phone(Some(t), field, errors).unwrap_or_else(placeholder_phone),
    }
}

/// Normalizes a phone number field to E.164, or records why it cannot.
pub(super) fn optional_phone(
    text: Option<&str>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<PhoneNumber> {
    let t = text?;
    match PhoneNumber::parse(t) {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                format!("{t:?} is not a phone number: use E.164 such as +15550001000"),
            ));
            None
        }
    }
}

/// A money amount (JSON number or numeric text) in minor units; absent is 0.
fn amount(value: Option<&Value>, field: &str, errors: &mut Vec<FieldError>) -> i64 {
    let text = match value {
        None | Some(Value::Null) => return 0,
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => String::new(),
    };
    money::parse_decimal(&text, 2).unwrap_or_else(|_| {
        errors.push(FieldError::new(
            field,
            format!("{text:?} is not an amount with at most 2 decimals, such as 8.75"),
        ));
        0
    })
}

/// When `payout` on a buyer was deprecated (RFC 9745: the `Deprecation`
/// header's `@` Unix time): 2026-12-03T00:00:00Z.
const PAYOUT_DEPRECATED_AT: i64 = 1_796_256_000;

/// Takes a body's deprecated `payout` as `revenue` (when it does not also
/// name `revenue`, which [`BuyerInput::into_buyer`] then refuses); `true`
/// when the body used it.
fn deprecated_payout(body: &mut Map<String, Value>) -> bool {
    if !body.contains_key("payout") {
        return false;
    }
    if !body.contains_key("revenue")
        && let Some(v) = body.remove("payout")
    {
        body.insert("revenue".to_owned(), v);
    }
    true
}

/// `resp` with the `Deprecation` header when the request used `payout`.
fn deprecation(mut resp: Response, used: bool) -> Response {
    if used && let Ok(v) = axum::http::HeaderValue::from_str(&format!("@{PAYOUT_DEPRECATED_AT}")) {
        resp.headers_mut().insert("deprecation", v);
    }
    resp
}

/// The body as a JSON object (400 otherwise).
pub(crate) fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::BadRequest(
            "the body must be a json object".into(),
        )),
    }
}

/// The names of the fields a body sets, for the audit log (never values).
pub(super) fn changed(body: &Map<String, Value>) -> Vec<&str> {
    body.keys()
        .map(String::as_str)
        .filter(|k| !matches!(*k, "id" | "tenantId" | "version"))
        .collect()
}

/// Lists the tenant's buyers, oldest first.
#[utoipa::path(get, operation_id = "list_buyers", path = "/api/buyers", tag = "buyers", params(PageQuery),
    responses((status = 200, body = List<Buyer>), (status = 400), (status = 401)))]
async fn list(
    State(state): State<AppState>,
    auth: Auth,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<List<Buyer>>, ApiError> {
    let q = crate::admin::extract::query(q)?;
    let items = docs::list::<Buyer>(&state, auth.tenant_id).await?;
    Ok(Json(List::page(items, |b| b.id, &q)?))
}

/// Creates a buyer (manager or above); 201 with its id and version.
#[utoipa::path(post, operation_id = "create_buyer", path = "/api/buyers", tag = "buyers", request_body = BuyerInput,
    responses((status = 201, body = Buyer), (status = 400), (status = 401), (status = 403), (status = 422)))]
async fn create(
    State(state): State<AppState>,
    auth: Auth,
    body: Result<Json<Value>, ApiError>,
) -> Result<Response, ApiError> {
    // The role is checked before the body is looked at.
    auth.require(Role::Manager)?;
    let Json(body) = body?;
    let mut body = object(body)?;
    let deprecated = deprecated_payout(&mut body);
    let input: BuyerInput = docs::body(Value::Object(body), &[])?;
    let buyer = input.into_buyer(new_id(), auth.tenant_id)?;
    let buyer = state.engine.put_buyer(buyer, None).await?;
    audit::record(
        &state,
        &auth,
        "create",
        "buyer",
        Some(buyer.id),
        json!({"name": buyer.name}),
    )
    .await?;
    Ok(deprecation(
        docs::tagged(StatusCode::CREATED, &buyer, buyer.version),
        deprecated,
    ))
}

/// One buyer; a malformed or unknown id is a 404.
#[utoipa::path(get, operation_id = "get_buyer", path = "/api/buyers/{id}", tag = "buyers", params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Buyer), (status = 401), (status = 404)))]
async fn get_one(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<Buyer>,
) -> Result<Response, ApiError> {
    let buyer = docs::load::<Buyer>(&state, auth.tenant_id, id).await?;
    Ok(docs::tagged(StatusCode::OK, &buyer, buyer.version))
}

/// A buyer's capacity in use now, next to its caps. Counts are in the
/// buyer's time zone (this hour, day and month there) and come from the one
/// place that decides them: its actor, rebuilt from the stored calls, on the
/// node that owns it in a cluster.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BuyerCapacity {
    /// The buyer.
    #[schema(value_type = String, format = Uuid)]
    buyer_id: Id,
    /// Calls holding a slot now (ringing or connected).
    pub(crate) active: u32,
    concurrency_limit: Option<u32>,
    /// Calls counted this hour.
    hour: u32,
    hourly_cap: Option<u32>,
    /// Calls counted today.
    day: u32,
    daily_cap: Option<u32>,
    /// Calls counted this month.
    month: u32,
    monthly_cap: Option<u32>,
    /// Calls counted ever.
    total: u64,
    total_cap: Option<u32>,
}

/// A buyer's live capacity against its caps; a malformed or unknown id is a
/// 404; 503 when the node deciding it cannot be asked now.
#[utoipa::path(get, path = "/api/buyers/{id}/stats", tag = "buyers", params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = BuyerCapacity), (status = 401), (status = 404), (status = 503)))]
async fn capacity(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<Buyer>,
) -> Result<Json<BuyerCapacity>, ApiError> {
    let buyer = docs::load::<Buyer>(&state, auth.tenant_id, id).await?;
    let live = state.engine.buyer_stats(buyer.id).await.ok_or_else(|| {
        ApiError::Engine(switchboard_engine::EngineError::Overloaded(
            "this buyer's capacity cannot be read now".into(),
        ))
    })?;
    Ok(Json(BuyerCapacity::of(&buyer, &live)))
}

impl BuyerCapacity {
    /// A buyer's counts `live` next to its caps.
    pub(crate) fn of(buyer: &Buyer, live: &switchboard_engine::BuyerStats) -> Self {
        BuyerCapacity {
            buyer_id: buyer.id,
            active: live.active,
            concurrency_limit: buyer.caps.concurrency_limit,
            hour: live.hour,
            hourly_cap: buyer.caps.hourly_cap,
            day: live.day,
            daily_cap: buyer.caps.daily_cap,
            month: live.month,
            monthly_cap: buyer.caps.monthly_cap,
            total: live.total,
            total_cap: buyer.caps.total_cap,
        }
    }
}

/// Replaces a buyer (manager or above): the body is the whole buyer, and
/// absent optional fields take their defaults (send `PATCH` to change some
/// fields only). The version replaced is `If-Match` (stale: 412) or the
/// body's `version` (stale: 409); with neither, the current one.
#[utoipa::path(put, operation_id = "update_buyer", path = "/api/buyers/{id}", tag = "buyers", request_body = BuyerInput,
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "the version being replaced (wins over the body's `version`); neither: the current one")),
    responses((status = 200, body = Buyer), (status = 400), (status = 403), (status = 404), (status = 409, description = "stale body version"), (status = 412, description = "stale If-Match"), (status = 422)))]
async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<Buyer>,
    headers: HeaderMap,
    body: Result<Json<Value>, ApiError>,
) -> Result<Response, ApiError> {
    // The role is checked before the body is looked at.
    auth.require(Role::Manager)?;
    let Json(body) = body?;
    let mut body = object(body)?;
    let deprecated = deprecated_payout(&mut body);
    let buyer = replace(&state, &auth, id, &headers, &body).await?;
    Ok(deprecation(
        updated(&state, &auth, &buyer, &body).await?,
        deprecated,
    ))
}

/// Changes the fields a JSON Merge Patch (RFC 7396) names (manager or
/// above); versions as for `PUT`.
#[utoipa::path(patch, operation_id = "patch_buyer", path = "/api/buyers/{id}", tag = "buyers", request_body(content = Object, content_type = "application/merge-patch+json"),
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "the version being changed (wins over the patch's `version`)")),
    responses((status = 200, body = Buyer), (status = 400), (status = 403), (status = 404), (status = 409, description = "stale body version"), (status = 412, description = "stale If-Match"), (status = 422)))]
async fn patch(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<Buyer>,
    headers: HeaderMap,
    body: Result<Json<Value>, ApiError>,
) -> Result<Response, ApiError> {
    auth.require(Role::Manager)?;
    let mut deprecated = false;
    let body = body.map(|Json(mut patch)| {
        if let Some(m) = patch.as_object_mut() {
            deprecated = deprecated_payout(m);
        }
        Json(patch)
    });
    let (patch, body) = docs::patch_of::<Buyer>(&state, &auth, id, body).await?;
    let buyer = replace(&state, &auth, id, &headers, &object(body)?).await?;
    // The audit names the fields the patch changed, not every field.
    Ok(deprecation(
        updated(&state, &auth, &buyer, &patch).await?,
        deprecated,
    ))
}

/// Saves `body` as the whole of buyer `id`, replacing the version
/// `If-Match` (stale: 412) or the body's `version` (stale: 409) states;
/// neither: the current one.
async fn replace(
    state: &AppState,
    auth: &Auth,
    id: Id,
    headers: &HeaderMap,
    body: &Map<String, Value>,
) -> Result<Buyer, ApiError> {
    let precondition = docs::Precondition::of(headers, docs::version_in(body)?)?;
    let current = docs::load::<Buyer>(state, auth.tenant_id, id).await?;
    let expected = precondition.check(current.version)?;
    let input: BuyerInput = docs::body(Value::Object(body.clone()), &[])?;
    let buyer = input.into_buyer(id, auth.tenant_id)?;
    state
        .engine
        .put_buyer(buyer, Some(expected.version))
        .await
        .map_err(|e| expected.conflict(e.into()))
}

/// Audits an update naming the fields `body` set, and answers the buyer.
async fn updated(
    state: &AppState,
    auth: &Auth,
    buyer: &Buyer,
    body: &Map<String, Value>,
) -> Result<Response, ApiError> {
    audit::record(
        state,
        auth,
        "update",
        "buyer",
        Some(buyer.id),
        json!({"name": buyer.name, "fields": changed(body)}),
    )
    .await?;
    Ok(docs::tagged(StatusCode::OK, buyer, buyer.version))
}

/// Deletes a buyer (manager or above). A buyer assigned to an active
/// campaign is refused with 409 naming the campaigns.
#[utoipa::path(delete, operation_id = "delete_buyer", path = "/api/buyers/{id}", tag = "buyers",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "the version being deleted; absent: the current one")),
    responses((status = 204), (status = 403), (status = 404), (status = 409, description = "stale version, or assigned to an active campaign")))]
async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<Buyer>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    auth.require(Role::Manager)?;
    // Without `If-Match` the engine deletes the current version.
    let precondition = docs::Precondition::of(&headers, None)?;
    if !state
        .engine
        .delete_buyer(auth.tenant_id, id, if_match(&headers)?)
        .await
        .map_err(|e| precondition.conflict(e.into()))?
    {
        return Err(ApiError::NotFound("buyer"));
    }
    audit::record(&state, &auth, "delete", "buyer", Some(id), json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}
