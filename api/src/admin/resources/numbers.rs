//! `/api/numbers`: the tenant's tracking-number inventory.
//!
//! A phone number is in at most one inventory in the whole system (a
//! system-wide key, see [`super::docs`]), and held by at most one pool or
//! one campaign; `poolId` and `campaignId` in answers say which.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use serde_json::Value;
use serde_json::json;
use switchboard_model::{FieldError, Id, Number, Pool, Role, new_id};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::docs::{self, Key, Owner};
use super::publishers;
use crate::admin::audit;
use crate::admin::extract::ResourceId;
use crate::admin::extract::{Auth, Json, List, PageQuery, Scoped};
use crate::error::ApiError;
use crate::server::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_numbers, create_number))
        .routes(routes!(
            get_number,
            update_number,
            patch_number,
            delete_number
        ))
}

/// The body's phone-number fields.
const PHONES: &[&str] = &["phoneNumber"];

/// What holds a number: a pool or a campaign (as its direct number).
#[derive(Debug, Clone)]
pub(super) enum Holder {
    Pool { id: Id, name: String },
    Campaign { id: Id, name: String },
}

impl Holder {
    /// "pool \"Main\" (…)" for conflict messages.
    pub(super) fn describe(&self) -> String {
        match self {
            Holder::Pool { id, name } => docs::named("pool", name, *id),
            Holder::Campaign { id, name } => docs::named("campaign", name, *id),
        }
    }
}

/// Who holds each E.164 number of `tenant`, pools first. `except_pool` is
/// left out (the pool being updated does not conflict with itself).
pub(super) async fn holders(
    state: &AppState,
    tenant: Id,
    except_pool: Option<Id>,
) -> Result<HashMap<String, Holder>, ApiError> {
    let mut out = HashMap::new();
    for c in docs::campaigns(state, tenant).await? {
        if let Some(n) = c.phone_number {
            out.insert(
                n,
                Holder::Campaign {
                    id: c.id,
                    name: c.name,
                },
            );
        }
    }
    for p in docs::list::<Pool>(state, tenant)
        .await?
        .into_iter()
        .filter(|p| Some(p.id) != except_pool)
    {
        for n in &p.numbers {
            out.insert(
                n.as_str().to_owned(),
                Holder::Pool {
                    id: p.id,
                    name: p.name.clone(),
                },
            );
        }
    }
    Ok(out)
}

fn with_holder(mut n: Number, holders: &HashMap<String, Holder>) -> Number {
    (n.pool_id, n.campaign_id) = match holders.get(n.phone_number.as_str()) {
        Some(Holder::Pool { id, .. }) => (Some(*id), None),
        Some(Holder::Campaign { id, .. }) => (None, Some(*id)),
        None => (None, None),
    };
    n
}

/// The tenant's numbers, oldest first; a publisher's login gets only the
/// numbers whose `publisherId` is its own.
#[utoipa::path(get, path = "/api/numbers", tag = "numbers", params(PageQuery),
    responses((status = 200, body = List<Number>), (status = 401)))]
async fn list_numbers(
    State(state): State<AppState>,
    scoped: Scoped,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<List<Number>>, ApiError> {
    let q = crate::admin::extract::query(q)?;
    let scope = scoped.0.scope()?;
    let tenant = scoped.0.tenant_id;
    let holders = holders(&state, tenant, None).await?;
    let items = docs::list::<Number>(&state, tenant)
        .await?
        .into_iter()
        .filter(|n| scope.sees(n.publisher_id))
        .map(|n| with_holder(n, &holders))
        .collect();
    Ok(Json(List::page(items, |n: &Number| n.id, &q)?))
}

/// One number; a malformed or unknown id (or, for a publisher's login,
/// another publisher's number) is a 404. `ETag`: its version.
#[utoipa::path(get, path = "/api/numbers/{id}", tag = "numbers", params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Number), (status = 404)))]
async fn get_number(
    State(state): State<AppState>,
    scoped: Scoped,
    ResourceId(id, _): ResourceId<Number>,
) -> Result<Response, ApiError> {
    let scope = scoped.0.scope()?;
    let tenant = scoped.0.tenant_id;
    let n = docs::load::<Number>(&state, tenant, id).await?;
    if !scope.sees(n.publisher_id) {
        return Err(ApiError::NotFound(<Number as docs::Resource>::NAME));
    }
    let n = with_holder(n, &holders(&state, tenant, None).await?);
    Ok(docs::tagged(StatusCode::OK, &n, n.version))
}

/// Adds a number to the inventory. A number anyone already has is a 409.
#[utoipa::path(post, path = "/api/numbers", tag = "numbers", request_body = Number,
    responses((status = 201, body = Number), (status = 409, description = "the number is already in use"), (status = 422)))]
async fn create_number(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    auth.require(Role::Manager)?;
    let mut n: Number = docs::body(body, PHONES)?;
    n.id = new_id();
    n.tenant_id = auth.tenant_id;
    n.created_at = Utc::now();
    let w = state.engine.config_write().await;
    let extra =
        publishers::check_ref(&state, auth.tenant_id, "publisherId", n.publisher_id).await?;
    docs::invalid(n.validate(), extra.into_iter().collect())?;
    let owner = Owner {
        tenant: auth.tenant_id,
        resource: n.id,
    };
    if !docs::claim_number(&w, &n.phone_number, owner).await? {
        return Err(ApiError::Conflict(format!(
            "phone number {} is already in use",
            n.phone_number
        )));
    }
    if let Err(e) = docs::put(&w, &mut n, None).await {
        docs::release(&w, Key::Number(&n.phone_number), owner).await?;
        return Err(e);
    }
    audit::record(
        &state,
        &auth,
        "create",
        "number",
        Some(n.id),
        json!({"phoneNumber": n.phone_number}),
    )
    .await?;
    let n = with_holder(n, &holders(&state, auth.tenant_id, None).await?);
    Ok(docs::tagged(StatusCode::CREATED, &n, n.version))
}

docs::put_and_patch!(
    update_number,
    patch_number,
    replace_number,
    Number,
    "/api/numbers/{id}",
    "numbers",
    "Replaces a number's name and status (the phone number itself cannot change)."
);

async fn replace_number(
    state: &AppState,
    auth: &Auth,
    id: Id,
    headers: &HeaderMap,
    body: Value,
) -> Result<Response, ApiError> {
    let mut n: Number = docs::body(body, PHONES)?;
    let w = state.engine.config_write().await;
    let (old, expected) = docs::replacing(state, auth.tenant_id, id, headers, &mut n).await?;
    let mut extra = Vec::new();
    if n.phone_number != old.phone_number {
        extra.push(FieldError::new(
            "phoneNumber",
            "cannot change: add the new number and delete this one",
        ));
    }
    extra
        .extend(publishers::check_ref(state, auth.tenant_id, "publisherId", n.publisher_id).await?);
    docs::invalid(n.validate(), extra)?;
    docs::put(&w, &mut n, Some(expected)).await?;
    audit::record(
        state,
        auth,
        "update",
        "number",
        Some(id),
        json!({"phoneNumber": n.phone_number, "version": n.version}),
    )
    .await?;
    let n = with_holder(n, &holders(state, auth.tenant_id, None).await?);
    Ok(docs::tagged(StatusCode::OK, &n, n.version))
}

/// Removes a number from the inventory, unless a pool or campaign holds it.
#[utoipa::path(delete, path = "/api/numbers/{id}", tag = "numbers",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "the version being deleted; absent: the current one")),
    responses((status = 204), (status = 404), (status = 409, description = "stale version, or a pool or campaign uses it")))]
async fn delete_number(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<Number>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    auth.require(Role::Manager)?;
    let w = state.engine.config_write().await;
    let n = docs::load::<Number>(&state, auth.tenant_id, id).await?;
    let users = holders(&state, auth.tenant_id, None)
        .await?
        .get(n.phone_number.as_str())
        .map(Holder::describe)
        .into_iter()
        .collect();
    let (label, key) = (
        n.phone_number.to_string(),
        Some(Key::Number(&n.phone_number)),
    );
    let detail = json!({"phoneNumber": n.phone_number});
    docs::delete_unused(&w, &state, &auth, &n, &label, &headers, users, key, detail).await
}
