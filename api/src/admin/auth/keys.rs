//! API keys: `GET/POST /api/api-keys`, `DELETE /api/api-keys/{id}`. Owners
//! and admins manage them; the secret is shown once, in the creation
//! answer, and stored only as a hash. A key's role never exceeds its
//! creator's, and a revoked key is refused on its next request. A key acts
//! for the user who made it (or whose key made it): deleting that user
//! revokes it.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchboard_model::{FieldError, Role};
use switchboard_store::{DocKind, StoreError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::accounts::{self, ApiKey, SYSTEM};
use crate::admin::audit;
use crate::admin::extract::{Auth, Json, List, PageQuery, Principal};
use crate::admin::extract::{ResourceId, kinds};
use crate::error::ApiError;
use crate::server::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

/// A new API key, for `POST /api/api-keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewApiKey {
    /// What it is for, to tell keys apart.
    name: String,
    /// What it may do; at most the creator's own role.
    role: Role,
    /// The publisher it sends traffic for (one of the tenant's): its RTB
    /// pings and their calls are attributed to it. Required with the
    /// `publisher` role: the only publisher such a key sees.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    publisher_id: Option<switchboard_model::Id>,
}

/// A created key: the key, plus its secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatedApiKey {
    #[serde(flatten)]
    key: ApiKey,
    /// The secret to send as `Authorization: Bearer …`. Not retrievable later.
    #[serde(rename = "key")]
    secret: String,
}

/// The tenant's API keys (never their secrets).
#[utoipa::path(get, path = "/api/api-keys", tag = "api-keys", params(PageQuery),
    responses((status = 200, body = List<ApiKey>), (status = 401), (status = 403)))]
async fn list_keys(
    State(state): State<AppState>,
    auth: Auth,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<List<ApiKey>>, ApiError> {
    auth.require(Role::Admin)?;
    let page = crate::admin::extract::query(page)?;
    let keys = accounts::keys_of(state.engine.store().as_ref(), auth.tenant_id).await?;
    Ok(Json(List::page(keys, |k| k.id, &page)?))
}

/// Creates an API key and shows its secret once (201).
#[utoipa::path(post, path = "/api/api-keys", tag = "api-keys", request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 400), (status = 401),
              (status = 403, description = "not an owner or admin, or a role above the creator's"), (status = 422)))]
async fn create_key(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<NewApiKey>,
) -> Result<Response, ApiError> {
    auth.require(Role::Admin)?;
    if !auth.role.may_grant(req.role) {
        return Err(ApiError::Forbidden(format!(
            "a key's role may not exceed yours ({})",
            auth.role.as_str()
        )));
    }
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "name",
            "must be 1 to 100 characters",
        )]));
    }
    // A key bound to a publisher is made under the configuration lock, so
    // the publisher cannot be deleted between the check and the key.
    let _lock = match req.publisher_id {
        Some(_) => Some(state.engine.config_write().await),
        None => None,
    };
    if let Some(e) = crate::admin::resources::publishers::check_binding(
        &state,
        auth.tenant_id,
        req.role,
        req.publisher_id,
        true,
    )
    .await?
    {
        return Err(ApiError::Invalid(vec![e]));
    }
    let store = state.engine.store().as_ref();
    // The key acts for its creator's user, so deleting that user revokes it.
    let owner = match &auth.principal {
        Principal::User { id, .. } => Some(*id),
        Principal::ApiKey { id, .. } => accounts::key_owner(store, *id).await?,
    };
    let (secret, key) = accounts::create_api_key(
        store,
        auth.tenant_id,
        name,
        req.role,
        auth.actor(),
        owner,
        req.publisher_id,
    )
    .await?;
    audit::record(
        &state,
        &auth,
        "create",
        "api-key",
        Some(key.id),
        json!({ "name": key.name, "role": key.role, "publisherId": key.publisher_id }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(CreatedApiKey { key, secret })).into_response())
}

/// Revokes an API key at once (204).
#[utoipa::path(delete, path = "/api/api-keys/{id}", tag = "api-keys",
    params(("id" = String, Path, format = Uuid, description = "the key's id")),
    responses((status = 204), (status = 401), (status = 403), (status = 404)))]
async fn revoke_key(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<kinds::ApiKey>,
) -> Result<StatusCode, ApiError> {
    auth.require(Role::Admin)?;
    let store = state.engine.store().as_ref();
    let doc = store
        .get_doc(DocKind::ApiKey, SYSTEM, id)
        .await?
        .ok_or(ApiError::NotFound("api key"))?;
    let key: ApiKey = serde_json::from_value(doc.body)
        .map_err(|e| StoreError::Corrupt(format!("api key {id}: {e}")))?;
    if key.tenant_id != auth.tenant_id {
        return Err(ApiError::NotFound("api key"));
    }
    match store
        .delete_doc(DocKind::ApiKey, SYSTEM, id, doc.version)
        .await
    {
        // Revoked concurrently: gone either way.
        Ok(()) | Err(StoreError::Conflict { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    audit::record(
        &state,
        &auth,
        "delete",
        "api-key",
        Some(id),
        json!({ "name": key.name }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
