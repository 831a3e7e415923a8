//! `/api/pools`: number pools for DNI.
//!
//! A pool's numbers come from the tenant's inventory; each is in at most one
//! pool and is not a campaign's direct number. Names are unique per tenant.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};
use switchboard_model::{FieldError, Id, Number, Pool, Role, TrackingTag, new_id};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::docs;
use super::numbers::holders;
use crate::admin::audit;
use crate::admin::extract::ResourceId;
use crate::admin::extract::{Auth, Json};
use crate::error::ApiError;
use crate::server::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_pools, create_pool))
        .routes(routes!(get_pool, update_pool, patch_pool, delete_pool))
}

/// The body's phone-number fields.
const PHONES: &[&str] = &["numbers", "fallbackNumber"];

/// Checks what a pool's fields cannot tell alone: its numbers are in the
/// inventory (422) and held by nobody else, and its name is free (409).
/// Call under the write's [`ConfigWrite`](switchboard_engine::ConfigWrite).
async fn check(state: &AppState, tenant: Id, pool: &Pool) -> Result<(), ApiError> {
    let inventory: std::collections::HashSet<String> = docs::list::<Number>(state, tenant)
        .await?
        .into_iter()
        .map(|n| n.phone_number.as_str().to_owned())
        .collect();
    let mut missing: Vec<FieldError> = pool
        .numbers
        .iter()
        .enumerate()
        .filter(|(_, n)| !inventory.contains(n.as_str()))
        .map(|(i, n)| {
            FieldError::new(
                format!("numbers[{i}]"),
                format!("{n} is not in your number inventory: add it with POST /api/numbers first"),
            )
        })
        .collect();
    missing.extend(
        super::publishers::check_ref(state, tenant, "publisherId", pool.publisher_id).await?,
    );
    docs::invalid(pool.validate(), missing)?;
    let others = docs::list::<Pool>(state, tenant).await?;
    if let Some(p) = others
        .iter()
        .find(|p| p.id != pool.id && p.name.trim().eq_ignore_ascii_case(pool.name.trim()))
    {
        return Err(ApiError::Conflict(format!(
            "a pool named {:?} already exists ({})",
            p.name, p.id
        )));
    }
    let holders = holders(state, tenant, Some(pool.id)).await?;
    let taken: Vec<String> = pool
        .numbers
        .iter()
        .filter_map(|n| {
            holders
                .get(n.as_str())
                .map(|h| format!("{n} is already in {}", h.describe()))
        })
        .collect();
    if !taken.is_empty() {
        return Err(ApiError::Conflict(taken.join("; ")));
    }
    Ok(())
}

docs::list_and_get!(
    list_pools,
    get_pool,
    Pool,
    "/api/pools",
    "pools",
    "The tenant's pools, oldest first.",
    "One pool; a malformed or unknown id is a 404. `ETag`: its version.",
    std::convert::identity
);

/// Creates a pool.
#[utoipa::path(post, path = "/api/pools", tag = "pools", request_body = Pool,
    responses((status = 201, body = Pool), (status = 409, description = "name taken, or a number held by another pool or campaign"), (status = 422)))]
async fn create_pool(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    auth.require(Role::Manager)?;
    let mut p: Pool = docs::body(body, PHONES)?;
    (p.id, p.tenant_id, p.created_at) = (new_id(), auth.tenant_id, Utc::now());
    let w = state.engine.config_write().await;
    check(&state, auth.tenant_id, &p).await?;
    // The pool's actor starts leasing (and its numbers route) at once.
    docs::put(&w, &mut p, None).await?;
    audit::record(
        &state,
        &auth,
        "create",
        "pool",
        Some(p.id),
        json!({"name": p.name, "numbers": p.numbers}),
    )
    .await?;
    Ok(docs::tagged(StatusCode::CREATED, &p, p.version))
}

docs::put_and_patch!(
    update_pool,
    patch_pool,
    replace_pool,
    Pool,
    "/api/pools/{id}",
    "pools",
    "Replaces a pool's settings and numbers."
);

async fn replace_pool(
    state: &AppState,
    auth: &Auth,
    id: Id,
    headers: &HeaderMap,
    body: Value,
) -> Result<Response, ApiError> {
    let mut p: Pool = docs::body(body, PHONES)?;
    let w = state.engine.config_write().await;
    let (_, expected) = docs::replacing(state, auth.tenant_id, id, headers, &mut p).await?;
    check(state, auth.tenant_id, &p).await?;
    docs::put(&w, &mut p, Some(expected)).await?;
    audit::record(
        state,
        auth,
        "update",
        "pool",
        Some(id),
        json!({"name": p.name, "numbers": p.numbers, "version": p.version}),
    )
    .await?;
    Ok(docs::tagged(StatusCode::OK, &p, p.version))
}

/// Deletes a pool, unless a campaign or tracking tag uses it. Its numbers
/// stay in the inventory.
#[utoipa::path(delete, path = "/api/pools/{id}", tag = "pools",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "the version being deleted; absent: the current one")),
    responses((status = 204), (status = 404), (status = 409, description = "stale version, or a campaign or tracking tag uses it")))]
async fn delete_pool(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<Pool>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    auth.require(Role::Manager)?;
    let w = state.engine.config_write().await;
    let p = docs::load::<Pool>(&state, auth.tenant_id, id).await?;
    let mut users: Vec<String> = docs::campaigns(&state, auth.tenant_id)
        .await?
        .into_iter()
        .filter(|c| c.pool_id == Some(id))
        .map(|c| docs::named("campaign", &c.name, c.id))
        .collect();
    users.extend(
        docs::list::<TrackingTag>(&state, auth.tenant_id)
            .await?
            .into_iter()
            .filter(|t| t.pool_id == Some(id))
            .map(|t| docs::named("tracking tag", &t.name, t.id)),
    );
    let label = format!("{:?}", p.name);
    let detail = json!({"name": p.name});
    docs::delete_unused(&w, &state, &auth, &p, &label, &headers, users, None, detail).await
}
