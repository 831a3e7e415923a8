//! `/api/publishers`: the traffic sources a tenant pays for calls.
//!
//! Numbers, pools, tracking tags and API keys name their publisher by id
//! (`publisherId`), checked to be one of the tenant's ([`check_ref`]); a
//! publisher is not deleted while any of them (or a campaign's payout rule)
//! still does.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};
use switchboard_model::{
    Campaign, FieldError, Id, Number, Pool, Publisher, Role, TrackingTag, new_id,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::docs;
use crate::admin::accounts;
use crate::admin::audit;
use crate::admin::extract::ResourceId;
use crate::admin::extract::{Auth, Json, List, PageQuery, Scoped};
use crate::error::ApiError;
use crate::server::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_publishers, create_publisher))
        .routes(routes!(
            get_publisher,
            update_publisher,
            patch_publisher,
            delete_publisher
        ))
}

/// A field error when `publisher` (the value of `field`) is not one of
/// `tenant`'s publishers; another tenant's reads as unknown.
pub(crate) async fn check_ref(
    state: &AppState,
    tenant: Id,
    field: &str,
    publisher: Option<Id>,
) -> Result<Option<FieldError>, ApiError> {
    let Some(id) = publisher else {
        return Ok(None);
    };
    Ok(docs::get::<Publisher>(state, tenant, id)
        .await?
        .is_none()
        .then(|| FieldError::new(field, format!("publisher {id} does not exist"))))
}

/// The field error of the `publisherId` a user or API key with `role` is
/// bound to: the publisher role needs one of the tenant's publishers; a
/// staff user has none (a staff key's names the publisher its pings are
/// attributed to, when `staff_may_name` is set).
pub(crate) async fn check_binding(
    state: &AppState,
    tenant: Id,
    role: Role,
    publisher: Option<Id>,
    staff_may_name: bool,
) -> Result<Option<FieldError>, ApiError> {
    match (role, publisher) {
        (Role::Publisher, None) => Ok(Some(FieldError::new(
            "publisherId",
            "is required with the publisher role: the publisher this login sees",
        ))),
        (Role::Publisher, Some(_)) => check_ref(state, tenant, "publisherId", publisher).await,
        (_, Some(_)) if !staff_may_name => Ok(Some(FieldError::new(
            "publisherId",
            "is only for the publisher role",
        ))),
        _ => check_ref(state, tenant, "publisherId", publisher).await,
    }
}

/// What still names publisher `id`, for the 409 of its delete.
async fn users(state: &AppState, tenant: Id, id: Id) -> Result<Vec<String>, ApiError> {
    let mine = |p: Option<Id>| p == Some(id);
    let mut users: Vec<String> = docs::list::<Number>(state, tenant)
        .await?
        .into_iter()
        .filter(|n| mine(n.publisher_id))
        .map(|n| format!("number {}", n.phone_number))
        .collect();
    users.extend(
        docs::list::<Pool>(state, tenant)
            .await?
            .into_iter()
            .filter(|p| mine(p.publisher_id))
            .map(|p| docs::named("pool", &p.name, p.id)),
    );
    users.extend(
        docs::list::<TrackingTag>(state, tenant)
            .await?
            .into_iter()
            .filter(|t| mine(t.publisher_id))
            .map(|t| docs::named("tracking tag", &t.name, t.id)),
    );
    users.extend(
        accounts::users_of(state.engine.store().as_ref(), tenant)
            .await?
            .into_iter()
            .filter(|u| mine(u.publisher_id))
            .map(|u| format!("user {:?}", u.username)),
    );
    users.extend(
        accounts::keys_of(state.engine.store().as_ref(), tenant)
            .await?
            .into_iter()
            .filter(|k| mine(k.publisher_id))
            .map(|k| docs::named("api key", &k.name, k.id)),
    );
    users.extend(
        docs::list::<Campaign>(state, tenant)
            .await?
            .into_iter()
            .filter(|c| c.payout_rules.iter().any(|r| mine(r.publisher_id)))
            .map(|c| {
                format!(
                    "the payout rules of {}",
                    docs::named("campaign", &c.name, c.id)
                )
            }),
    );
    Ok(users)
}

/// The tenant's publishers, oldest first; a publisher's login gets only its own.
#[utoipa::path(get, path = "/api/publishers", tag = "publishers", params(PageQuery),
    responses((status = 200, body = List<Publisher>), (status = 401)))]
async fn list_publishers(
    State(state): State<AppState>,
    scoped: Scoped,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<List<Publisher>>, ApiError> {
    let q = crate::admin::extract::query(q)?;
    let scope = scoped.0.scope()?;
    let items = docs::list::<Publisher>(&state, scoped.0.tenant_id)
        .await?
        .into_iter()
        .filter(|p| scope.sees(Some(p.id)))
        .collect();
    Ok(Json(List::page(items, |p: &Publisher| p.id, &q)?))
}

/// One publisher; a malformed or unknown id (or, for a publisher's login,
/// any publisher but its own) is a 404. `ETag`: its version.
#[utoipa::path(get, path = "/api/publishers/{id}", tag = "publishers", params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Publisher), (status = 404)))]
async fn get_publisher(
    State(state): State<AppState>,
    scoped: Scoped,
    ResourceId(id, _): ResourceId<Publisher>,
) -> Result<Response, ApiError> {
    if !scoped.0.scope()?.sees(Some(id)) {
        return Err(ApiError::NotFound(<Publisher as docs::Resource>::NAME));
    }
    let p = docs::load::<Publisher>(&state, scoped.0.tenant_id, id).await?;
    Ok(docs::tagged(StatusCode::OK, &p, p.version))
}

/// Creates a publisher.
#[utoipa::path(post, path = "/api/publishers", tag = "publishers", request_body = Publisher,
    responses((status = 201, body = Publisher), (status = 400), (status = 422)))]
async fn create_publisher(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    auth.require(Role::Manager)?;
    let mut p: Publisher = docs::body(body, &[])?;
    (p.id, p.tenant_id, p.created_at) = (new_id(), auth.tenant_id, Utc::now());
    let w = state.engine.config_write().await;
    docs::put(&w, &mut p, None).await?;
    audit::record(
        &state,
        &auth,
        "create",
        "publisher",
        Some(p.id),
        json!({"name": p.name, "subId": p.sub_id}),
    )
    .await?;
    Ok(docs::tagged(StatusCode::CREATED, &p, p.version))
}

docs::put_and_patch!(
    update_publisher,
    patch_publisher,
    replace_publisher,
    Publisher,
    "/api/publishers/{id}",
    "publishers",
    "Replaces a publisher's settings."
);

async fn replace_publisher(
    state: &AppState,
    auth: &Auth,
    id: Id,
    headers: &HeaderMap,
    body: Value,
) -> Result<Response, ApiError> {
    let mut p: Publisher = docs::body(body, &[])?;
    let w = state.engine.config_write().await;
    let (_, expected) = docs::replacing(state, auth.tenant_id, id, headers, &mut p).await?;
    docs::put(&w, &mut p, Some(expected)).await?;
    audit::record(
        state,
        auth,
        "update",
        "publisher",
        Some(id),
        json!({"name": p.name, "status": p.status, "version": p.version}),
    )
    .await?;
    Ok(docs::tagged(StatusCode::OK, &p, p.version))
}

/// Deletes a publisher nothing names any more.
#[utoipa::path(delete, path = "/api/publishers/{id}", tag = "publishers",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "the version being deleted; absent: the current one")),
    responses((status = 204), (status = 404), (status = 409, description = "stale version, or numbers, pools, tags, users, api keys or payout rules still name it"), (status = 412)))]
async fn delete_publisher(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<Publisher>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    auth.require(Role::Manager)?;
    let w = state.engine.config_write().await;
    let p = docs::load::<Publisher>(&state, auth.tenant_id, id).await?;
    let users = users(&state, auth.tenant_id, id).await?;
    let label = format!("{:?}", p.name);
    let detail = json!({"name": p.name});
    docs::delete_unused(&w, &state, &auth, &p, &label, &headers, users, None, detail).await
}
