//! Number provisioning through Twilio's REST API, with the tenant's own
//! account SID and auth token:
//!
//! - `GET /api/numbers/available`: voice-enabled numbers for sale (area code,
//!   local or toll-free).
//! - `POST /api/numbers/purchase`: buys one with its voice URL set to the
//!   pool webhook (or the plain voice webhook) and its status callback to
//!   ours, then adds it to the inventory and, if asked, to a pool.
//! - `POST /api/numbers/{id}/release`: gives a number back to Twilio and
//!   removes it from the inventory.
//!
//! The number's system-wide key is claimed before it is bought, so two
//! tenants (or two clicks) cannot buy the same number into two inventories;
//! no store lock is held while Twilio is being asked.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_model::{FieldError, Id, Number, PhoneNumber, Pool, ResourceStatus, Role, new_id};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::docs::{self, Key, Owner};
use super::numbers::holders;
use crate::admin::audit;
use crate::admin::extract::ResourceId;
use crate::admin::extract::{Auth, Json};
use crate::error::ApiError;
use crate::server::AppState;
use crate::twilio::rest::{Account, Hooks, NumberType, Search};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(available))
        .routes(routes!(purchase))
        .routes(routes!(release))
}

/// The tenant's Twilio credentials, or a 409 saying what to set first.
fn account(state: &AppState, tenant: Id) -> Result<(String, String), ApiError> {
    let t = state
        .engine
        .tenant(tenant)
        .ok_or(ApiError::NotFound("tenant"))?;
    match (&t.twilio_account_sid, t.twilio_auth_token.is_empty()) {
        (Some(sid), false) => Ok((sid.clone(), t.twilio_auth_token.clone())),
        _ => Err(ApiError::Conflict(
            "set the tenant's twilio account sid and auth token first (PUT /api/tenant)".to_owned(),
        )),
    }
}

/// The search of `GET /api/numbers/available`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AvailableQuery {
    /// Three-digit area code (local numbers only).
    #[serde(default)]
    area_code: Option<String>,
    /// `local` (default) or `tollFree`.
    #[serde(default, rename = "type")]
    #[param(value_type = Option<String>, example = "local")]
    number_type: NumberType,
    /// ISO country, default `US`.
    #[serde(default)]
    country: Option<String>,
    /// At most this many results, 1 to 50 (default 20).
    #[serde(default)]
    limit: Option<u32>,
}

/// A number for sale.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AvailableNumber {
    /// E.164: what `POST /api/numbers/purchase` takes.
    #[schema(example = "+14155550100")]
    phone_number: String,
    /// `(415) 555-0100`.
    friendly_name: String,
    /// City, when known.
    locality: Option<String>,
    /// State or province, when known.
    region: Option<String>,
    /// ISO country.
    country: Option<String>,
    /// Takes calls (always true: the search asks for voice).
    voice: bool,
    /// Takes text messages.
    sms: bool,
}

/// Search results.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AvailableList {
    /// The numbers Twilio offers now.
    items: Vec<AvailableNumber>,
}

/// Voice-enabled numbers Twilio offers now.
#[utoipa::path(get, path = "/api/numbers/available", tag = "numbers", params(AvailableQuery),
    responses((status = 200, body = AvailableList), (status = 409, description = "the tenant has no twilio credentials"),
              (status = 422), (status = 502, description = "twilio refused or failed")))]
async fn available(
    State(state): State<AppState>,
    auth: Auth,
    q: Result<Query<AvailableQuery>, QueryRejection>,
) -> Result<Json<AvailableList>, ApiError> {
    let q = crate::admin::extract::query(q)?;
    auth.require(Role::Manager)?;
    let mut fields = Vec::new();
    let area_code = q
        .area_code
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty());
    if let Some(a) = &area_code {
        if a.len() != 3 || !a.bytes().all(|b| b.is_ascii_digit()) {
            fields.push(FieldError::new(
                "areaCode",
                "must be three digits, such as 415",
            ));
        } else if q.number_type == NumberType::TollFree {
            fields.push(FieldError::new("areaCode", "applies to local numbers only"));
        }
    }
    let country = q
        .country
        .as_deref()
        .map_or("US", str::trim)
        .to_ascii_uppercase();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        fields.push(FieldError::new(
            "country",
            "must be a two-letter country code, such as US",
        ));
    }
    let limit = q.limit.unwrap_or(20);
    if !(1..=50).contains(&limit) {
        fields.push(FieldError::new("limit", "must be between 1 and 50"));
    }
    if !fields.is_empty() {
        return Err(ApiError::Invalid(fields));
    }
    let (sid, token) = account(&state, auth.tenant_id)?;
    let search = Search {
        country,
        number_type: q.number_type,
        area_code,
        limit,
    };
    let found = state
        .twilio
        .search(
            Account {
                sid: &sid,
                token: &token,
            },
            &search,
        )
        .await?;
    let items = found
        .into_iter()
        .filter(|n| n.capabilities.voice)
        .map(|n| AvailableNumber {
            phone_number: n.phone_number,
            friendly_name: n.friendly_name,
            locality: n.locality,
            region: n.region,
            country: n.iso_country,
            voice: n.capabilities.voice,
            sms: n.capabilities.sms,
        })
        .collect();
    Ok(Json(AvailableList { items }))
}

/// What to buy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PurchaseRequest {
    /// E.164, as `GET /api/numbers/available` lists it.
    #[schema(value_type = String, example = "+14155550100")]
    phone_number: PhoneNumber,
    /// Add it to this pool (its calls then go through the pool webhook).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pool_id: Option<Id>,
    /// A label for people; default Twilio's.
    #[serde(default)]
    friendly_name: Option<String>,
}

/// A bought number.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Purchased {
    /// The inventory entry (with `poolId` when it joined a pool).
    number: Number,
    /// Twilio's id of the number (`PN…`).
    twilio_sid: String,
    /// Where Twilio sends its calls.
    voice_url: String,
    /// Where Twilio sends its status callbacks.
    status_callback: String,
}

/// Buys a number, sets its webhooks, adds it to the inventory (and a pool).
#[utoipa::path(post, path = "/api/numbers/purchase", tag = "numbers", request_body = PurchaseRequest,
    responses((status = 201, body = Purchased), (status = 409, description = "the number is already in use, or no twilio credentials"),
              (status = 422), (status = 502, description = "twilio refused (e.g. the number is no longer available) or failed")))]
async fn purchase(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<Value>,
) -> Result<(StatusCode, Json<Purchased>), ApiError> {
    auth.require(Role::Manager)?;
    let req: PurchaseRequest = docs::body(body, &["phoneNumber"])?;
    if req
        .friendly_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > 200)
    {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "friendlyName",
            "must be at most 200 characters",
        )]));
    }
    if let Some(pool) = req.pool_id
        && docs::get::<Pool>(&state, auth.tenant_id, pool)
            .await?
            .is_none()
    {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "poolId",
            "no such pool",
        )]));
    }
    let (sid, token) = account(&state, auth.tenant_id)?;
    let phone = req.phone_number;
    if let Some(h) = holders(&state, auth.tenant_id, None)
        .await?
        .get(phone.as_str())
    {
        return Err(ApiError::Conflict(format!(
            "phone number {phone} is already used by {}",
            h.describe()
        )));
    }
    // Claimed before buying: a second buyer of the same number stops here.
    let id = new_id();
    let owner = Owner {
        tenant: auth.tenant_id,
        resource: id,
    };
    // Compare-and-set, so the lock is not held while Twilio is asked.
    let claimed = docs::claim_number(&state.engine.config_write().await, &phone, owner).await?;
    if !claimed {
        return Err(ApiError::Conflict(format!(
            "phone number {phone} is already in use"
        )));
    }
    let base = &state.public_url;
    let hooks = Hooks {
        voice_url: match req.pool_id {
            Some(pool) => format!("{base}/api/webhooks/pool/{pool}/voice"),
            None => format!("{base}/api/webhooks/voice"),
        },
        status_callback: format!("{base}/api/webhooks/status"),
    };
    let bought = match state
        .twilio
        .buy(
            Account {
                sid: &sid,
                token: &token,
            },
            phone.as_str(),
            &hooks,
        )
        .await
    {
        Ok(b) => b,
        Err(e) => {
            docs::release(
                &state.engine.config_write().await,
                Key::Number(&phone),
                owner,
            )
            .await?;
            return Err(e.into());
        }
    };
    tracing::info!(tenant = %auth.tenant_id, twilio_sid = %bought.sid, "bought a number");
    let mut number = Number {
        id,
        tenant_id: auth.tenant_id,
        phone_number: phone.clone(),
        friendly_name: req
            .friendly_name
            .or_else(|| Some(bought.friendly_name.clone()).filter(|n| !n.is_empty())),
        pool_id: None,
        campaign_id: None,
        status: ResourceStatus::Active,
        publisher_id: None,
        version: 0,
        created_at: Utc::now(),
    };
    let w = state.engine.config_write().await;
    // The number is paid for from here on: say so in any error.
    let kept = |e: ApiError| {
        ApiError::Conflict(format!(
            "bought {phone} (twilio {}) but could not record it: {e}; add it with POST /api/numbers",
            bought.sid
        ))
    };
    docs::put(&w, &mut number, None).await.map_err(kept)?;
    audit::record(
        &state,
        &auth,
        "purchase",
        "number",
        Some(id),
        json!({"phoneNumber": phone, "twilioSid": bought.sid, "voiceUrl": hooks.voice_url, "poolId": req.pool_id}),
    )
    .await?;
    if let Some(pool_id) = req.pool_id {
        let in_inventory = |e: ApiError| {
            ApiError::Conflict(format!(
                "bought {phone} and added it to the inventory, but not to the pool: {e}"
            ))
        };
        let mut pool = docs::load::<Pool>(&state, auth.tenant_id, pool_id)
            .await
            .map_err(in_inventory)?;
        pool.numbers.push(phone.clone());
        let expected = docs::Expected::current(pool.version);
        // The pool's actor leases it (and its calls route) at once.
        docs::put(&w, &mut pool, Some(expected))
            .await
            .map_err(in_inventory)?;
        audit::record(
            &state,
            &auth,
            "update",
            "pool",
            Some(pool_id),
            json!({"name": pool.name, "added": phone, "version": pool.version}),
        )
        .await?;
        number.pool_id = Some(pool_id);
    }
    Ok((
        StatusCode::CREATED,
        Json(Purchased {
            number,
            twilio_sid: bought.sid,
            voice_url: hooks.voice_url,
            status_callback: hooks.status_callback,
        }),
    ))
}

/// What a release did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Released {
    /// The number given back.
    #[schema(value_type = String)]
    phone_number: PhoneNumber,
    /// Twilio's id of it, or null when the account no longer had it.
    twilio_sid: Option<String>,
}

/// Gives a number back to Twilio and removes it from the inventory. A pool or
/// campaign that uses it must let it go first (409).
#[utoipa::path(post, path = "/api/numbers/{id}/release", tag = "numbers", params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Released), (status = 404), (status = 409, description = "a pool or campaign uses it, or no twilio credentials"),
              (status = 502, description = "twilio refused or failed")))]
async fn release(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<Number>,
) -> Result<Json<Released>, ApiError> {
    auth.require(Role::Manager)?;
    let n = docs::load::<Number>(&state, auth.tenant_id, id).await?;
    if let Some(h) = holders(&state, auth.tenant_id, None)
        .await?
        .get(n.phone_number.as_str())
    {
        return Err(ApiError::Conflict(format!(
            "number {} is used by {}: remove it there first",
            n.phone_number,
            h.describe()
        )));
    }
    let (sid, token) = account(&state, auth.tenant_id)?;
    let account = Account {
        sid: &sid,
        token: &token,
    };
    // Twilio finds a number by its PN sid; look it up by the number itself.
    let owned = state.twilio.find(account, n.phone_number.as_str()).await?;
    if let Some(o) = &owned {
        state.twilio.release(account, &o.sid).await?;
    }
    let w = state.engine.config_write().await;
    // Read again: it may have joined a pool while Twilio was being asked.
    let n = docs::load::<Number>(&state, auth.tenant_id, id).await?;
    if let Some(h) = holders(&state, auth.tenant_id, None)
        .await?
        .get(n.phone_number.as_str())
    {
        return Err(ApiError::Conflict(format!(
            "number {} was released at twilio but is now used by {}: remove it there, then delete it",
            n.phone_number,
            h.describe()
        )));
    }
    docs::delete::<Number>(&w, auth.tenant_id, id, docs::Expected::current(n.version)).await?;
    docs::release(
        &w,
        Key::Number(&n.phone_number),
        Owner {
            tenant: auth.tenant_id,
            resource: id,
        },
    )
    .await?;
    let twilio_sid = owned.map(|o| o.sid);
    audit::record(
        &state,
        &auth,
        "release",
        "number",
        Some(id),
        json!({"phoneNumber": n.phone_number, "twilioSid": twilio_sid}),
    )
    .await?;
    Ok(Json(Released {
        phone_number: n.phone_number,
        twilio_sid,
    }))
}
