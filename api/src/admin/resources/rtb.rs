//! `/api/rtb/targets` and `/api/rtb/routers`: external bidders and the
//! auctions among them.
//!
//! A target's credentials (`authToken`, `authPassword`) are write-only:
//! answers leave them out and say `authConfigured`; an update that does not
//! send them keeps the stored ones (as long as `authType` stays the same).

use std::collections::HashSet;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};
use switchboard_model::{AuthType, FieldError, Id, Role, RtbRouter, RtbTarget, new_id};
use switchboard_rtb::check_target;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::docs;
use crate::admin::audit;
use crate::admin::extract::ResourceId;
use crate::admin::extract::{Auth, Json};
use crate::error::ApiError;
use crate::server::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_targets, create_target))
        .routes(routes!(
            get_target,
            update_target,
            patch_target,
            delete_target
        ))
        .routes(routes!(list_routers, create_router))
        .routes(routes!(
            get_router,
            update_router,
            patch_router,
            delete_router
        ))
}

// ---------------------------------------------------------------- targets

/// The target as answered: without its secrets.
fn redacted(mut t: RtbTarget) -> RtbTarget {
    t.auth_token = None;
    t.auth_password = None;
    t
}

/// Drops credentials the auth type does not use, so that no stale secret
/// lingers in the store, and records whether the needed ones are there.
fn tidy_credentials(t: &mut RtbTarget) {
    match t.auth_type {
        AuthType::None => (t.auth_token, t.auth_username, t.auth_password) = (None, None, None),
        AuthType::ApiKey | AuthType::Bearer => (t.auth_username, t.auth_password) = (None, None),
        AuthType::Basic => t.auth_token = None,
    }
    t.auth_configured = t.auth_type != AuthType::None && t.has_credentials();
}

docs::list_and_get!(
    list_targets,
    get_target,
    RtbTarget,
    "/api/rtb/targets",
    "rtb",
    "The tenant's RTB targets, oldest first.",
    "One RTB target (credentials left out); a malformed or unknown id is a 404. `ETag`: its version.",
    redacted
);

/// Creates an RTB target. Unknown template variables are refused, by name;
/// so are a response path beyond the documented JSONPath cost and, unless
/// the server allows private targets, an `endpointUrl` whose host is a
/// literal loopback, private, link-local or metadata address.
#[utoipa::path(post, path = "/api/rtb/targets", tag = "rtb", request_body = RtbTarget,
    responses((status = 201, body = RtbTarget), (status = 422, description = "invalid fields, every one listed")))]
async fn create_target(
    State(state): State<AppState>,
    auth: Auth,
    Json(mut t): Json<RtbTarget>,
) -> Result<Response, ApiError> {
    auth.require(Role::Manager)?;
    (t.id, t.tenant_id, t.created_at) = (new_id(), auth.tenant_id, Utc::now());
    docs::invalid(
        t.validate(),
        check_target(&t, state.engine.rtb_allow_private_targets()),
    )?;
    tidy_credentials(&mut t);
    let w = state.engine.config_write().await;
    docs::put(&w, &mut t, None).await?;
    audit::record(
        &state,
        &auth,
        "create",
        "rtb_target",
        Some(t.id),
        json!({"name": t.name, "endpointUrl": t.endpoint_url}),
    )
    .await?;
    let t = redacted(t);
    Ok(docs::tagged(StatusCode::CREATED, &t, t.version))
}

docs::put_and_patch!(
    update_target,
    patch_target,
    replace_target,
    RtbTarget,
    "/api/rtb/targets/{id}",
    "rtb",
    "Replaces an RTB target. Credentials (write-only) not sent are kept while `authType` stays; an explicit `null` clears one."
);

async fn replace_target(
    state: &AppState,
    auth: &Auth,
    id: Id,
    headers: &HeaderMap,
    body: Value,
) -> Result<Response, ApiError> {
    let clear_token = docs::cleared(&body, "authToken");
    let clear_password = docs::cleared(&body, "authPassword");
    let mut t: RtbTarget = docs::body(body, &[])?;
    let w = state.engine.config_write().await;
    let (old, expected) = docs::replacing(state, auth.tenant_id, id, headers, &mut t).await?;
    if t.auth_type == old.auth_type {
        if !clear_token {
            t.auth_token = t.auth_token.or(old.auth_token);
        }
        if !clear_password {
            t.auth_password = t.auth_password.or(old.auth_password);
        }
    }
    docs::invalid(
        t.validate(),
        check_target(&t, state.engine.rtb_allow_private_targets()),
    )?;
    tidy_credentials(&mut t);
    docs::put(&w, &mut t, Some(expected)).await?;
    audit::record(
        state,
        auth,
        "update",
        "rtb_target",
        Some(id),
        json!({"name": t.name, "version": t.version}),
    )
    .await?;
    let t = redacted(t);
    Ok(docs::tagged(StatusCode::OK, &t, t.version))
}

/// Deletes an RTB target, unless a router uses it.
#[utoipa::path(delete, path = "/api/rtb/targets/{id}", tag = "rtb",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "the version being deleted; absent: the current one")),
    responses((status = 204), (status = 404), (status = 409, description = "stale version, or a router uses it")))]
async fn delete_target(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<RtbTarget>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    auth.require(Role::Manager)?;
    let w = state.engine.config_write().await;
    let t = docs::load::<RtbTarget>(&state, auth.tenant_id, id).await?;
    let users: Vec<String> = docs::list::<RtbRouter>(&state, auth.tenant_id)
        .await?
        .into_iter()
        .filter(|r| r.targets.iter().any(|a| a.target_id == id))
        .map(|r| docs::named("rtb router", &r.name, r.id))
        .collect();
    let label = format!("{:?}", t.name);
    let detail = json!({"name": t.name});
    docs::delete_unused(&w, &state, &auth, &t, &label, &headers, users, None, detail).await
}

// ---------------------------------------------------------------- routers

/// Validates a router, including that each target is one of the tenant's.
/// Call under the write's [`ConfigWrite`](switchboard_engine::ConfigWrite), so that no target vanishes meanwhile.
async fn check_router(state: &AppState, tenant: Id, r: &RtbRouter) -> Result<(), ApiError> {
    let targets: HashSet<Id> = docs::list::<RtbTarget>(state, tenant)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    let missing = r
        .targets
        .iter()
        .enumerate()
        .filter(|(_, a)| !targets.contains(&a.target_id))
        .map(|(i, _)| FieldError::new(format!("targets[{i}].targetId"), "no such rtb target"))
        .collect();
    docs::invalid(r.validate(), missing)
}

docs::list_and_get!(
    list_routers,
    get_router,
    RtbRouter,
    "/api/rtb/routers",
    "rtb",
    "The tenant's RTB routers, oldest first.",
    "One RTB router; a malformed or unknown id is a 404. `ETag`: its version.",
    std::convert::identity
);

/// Creates an RTB router.
#[utoipa::path(post, path = "/api/rtb/routers", tag = "rtb", request_body = RtbRouter,
    responses((status = 201, body = RtbRouter), (status = 422, description = "invalid fields or unknown targets")))]
async fn create_router(
    State(state): State<AppState>,
    auth: Auth,
    Json(mut r): Json<RtbRouter>,
) -> Result<Response, ApiError> {
    auth.require(Role::Manager)?;
    (r.id, r.tenant_id, r.created_at) = (new_id(), auth.tenant_id, Utc::now());
    let w = state.engine.config_write().await;
    check_router(&state, auth.tenant_id, &r).await?;
    docs::put(&w, &mut r, None).await?;
    audit::record(
        &state,
        &auth,
        "create",
        "rtb_router",
        Some(r.id),
        json!({"name": r.name, "targets": r.targets.len()}),
    )
    .await?;
    Ok(docs::tagged(StatusCode::CREATED, &r, r.version))
}

docs::put_and_patch!(
    update_router,
    patch_router,
    replace_router,
    RtbRouter,
    "/api/rtb/routers/{id}",
    "rtb",
    "Replaces an RTB router."
);

async fn replace_router(
    state: &AppState,
    auth: &Auth,
    id: Id,
    headers: &HeaderMap,
    body: Value,
) -> Result<Response, ApiError> {
    let mut r: RtbRouter = docs::body(body, &[])?;
    let w = state.engine.config_write().await;
    let (_, expected) = docs::replacing(state, auth.tenant_id, id, headers, &mut r).await?;
    check_router(state, auth.tenant_id, &r).await?;
    docs::put(&w, &mut r, Some(expected)).await?;
    audit::record(
        state,
        auth,
        "update",
        "rtb_router",
        Some(id),
        json!({"name": r.name, "version": r.version}),
    )
    .await?;
    Ok(docs::tagged(StatusCode::OK, &r, r.version))
}

/// Deletes an RTB router, unless a campaign uses it.
#[utoipa::path(delete, path = "/api/rtb/routers/{id}", tag = "rtb",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "the version being deleted; absent: the current one")),
    responses((status = 204), (status = 404), (status = 409, description = "stale version, or a campaign uses it")))]
async fn delete_router(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<RtbRouter>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    auth.require(Role::Manager)?;
    let w = state.engine.config_write().await;
    let r = docs::load::<RtbRouter>(&state, auth.tenant_id, id).await?;
    let users: Vec<String> = docs::campaigns(&state, auth.tenant_id)
        .await?
        .into_iter()
        .filter(|c| c.rtb_router_id == Some(id))
        .map(|c| docs::named("campaign", &c.name, c.id))
        .collect();
    let label = format!("{:?}", r.name);
    let detail = json!({"name": r.name});
    docs::delete_unused(&w, &state, &auth, &r, &label, &headers, users, None, detail).await
}
