//! `/api/tracking-tags`: DNI tracking tags.
//!
//! A tag code is unique across the system (a system-wide key, see
//! [`super::docs`]) because `/api/dni/track` finds the tag by its code
//! alone. A code is generated when none is given, and never changes: sites
//! embed it.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};
use switchboard_model::{FieldError, Id, Pool, Role, TrackingTag, new_id};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::docs::{self, Key, Owner};
use crate::admin::audit;
use crate::admin::extract::ResourceId;
use crate::admin::extract::{Auth, Json};
use crate::error::ApiError;
use crate::server::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tags, create_tag))
        .routes(routes!(get_tag, update_tag, patch_tag, delete_tag))
}

/// A fresh tag code: `tag_` and 12 random lowercase letters and digits.
fn new_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let bytes: [u8; 12] = rand::random();
    let tail: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("tag_{tail}")
}

/// Validates a tag, including that its campaign and pool are the tenant's.
async fn check(
    state: &AppState,
    tenant: Id,
    t: &TrackingTag,
    extra: Vec<FieldError>,
) -> Result<(), ApiError> {
    let mut extra = extra;
    if let Some(c) = t.campaign_id
        && !docs::campaign_exists(state, tenant, c).await?
    {
        extra.push(FieldError::new("campaignId", "no such campaign"));
    }
    if let Some(p) = t.pool_id
        && docs::get::<Pool>(state, tenant, p).await?.is_none()
    {
        extra.push(FieldError::new("poolId", "no such pool"));
    }
    extra.extend(super::publishers::check_ref(state, tenant, "publisherId", t.publisher_id).await?);
    docs::invalid(t.validate(), extra)
}

docs::list_and_get!(
    list_tags,
    get_tag,
    TrackingTag,
    "/api/tracking-tags",
    "tracking-tags",
    "The tenant's tracking tags, oldest first.",
    "One tracking tag; a malformed or unknown id is a 404. `ETag`: its version.",
    std::convert::identity
);

/// Creates a tracking tag; a code in use anywhere is a 409.
#[utoipa::path(post, path = "/api/tracking-tags", tag = "tracking-tags", request_body = TrackingTag,
    responses((status = 201, body = TrackingTag), (status = 409, description = "the tag code is in use"), (status = 422)))]
async fn create_tag(
    State(state): State<AppState>,
    auth: Auth,
    Json(mut t): Json<TrackingTag>,
) -> Result<Response, ApiError> {
    auth.require(Role::Manager)?;
    (t.id, t.tenant_id, t.created_at) = (new_id(), auth.tenant_id, Utc::now());
    t.tag_code = t.tag_code.trim().to_owned();
    if t.tag_code.is_empty() {
        t.tag_code = new_code();
    }
    let w = state.engine.config_write().await;
    check(&state, auth.tenant_id, &t, Vec::new()).await?;
    let owner = Owner {
        tenant: auth.tenant_id,
        resource: t.id,
    };
    if !docs::claim(&w, Key::TagCode(&t.tag_code), owner).await? {
        return Err(ApiError::Conflict(format!(
            "tag code {:?} is already in use",
            t.tag_code
        )));
    }
    if let Err(e) = docs::put(&w, &mut t, None).await {
        docs::release(&w, Key::TagCode(&t.tag_code), owner).await?;
        return Err(e);
    }
    audit::record(
        &state,
        &auth,
        "create",
        "tracking_tag",
        Some(t.id),
        json!({"name": t.name, "tagCode": t.tag_code}),
    )
    .await?;
    Ok(docs::tagged(StatusCode::CREATED, &t, t.version))
}

docs::put_and_patch!(
    update_tag,
    patch_tag,
    replace_tag,
    TrackingTag,
    "/api/tracking-tags/{id}",
    "tracking-tags",
    "Replaces a tracking tag's settings (its code stays)."
);

async fn replace_tag(
    state: &AppState,
    auth: &Auth,
    id: Id,
    headers: &HeaderMap,
    body: Value,
) -> Result<Response, ApiError> {
    let mut t: TrackingTag = docs::body(body, &[])?;
    let w = state.engine.config_write().await;
    let (old, expected) = docs::replacing(state, auth.tenant_id, id, headers, &mut t).await?;
    let mut extra = Vec::new();
    match t.tag_code.trim() {
        "" => t.tag_code = old.tag_code,
        code if code == old.tag_code => t.tag_code = old.tag_code,
        _ => extra.push(FieldError::new(
            "tagCode",
            "cannot change: sites embed it (create a new tag instead)",
        )),
    }
    check(state, auth.tenant_id, &t, extra).await?;
    docs::put(&w, &mut t, Some(expected)).await?;
    audit::record(
        state,
        auth,
        "update",
        "tracking_tag",
        Some(id),
        json!({"name": t.name, "version": t.version}),
    )
    .await?;
    Ok(docs::tagged(StatusCode::OK, &t, t.version))
}

/// Deletes a tracking tag and frees its code.
#[utoipa::path(delete, path = "/api/tracking-tags/{id}", tag = "tracking-tags",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "the version being deleted; absent: the current one")),
    responses((status = 204), (status = 404), (status = 409, description = "stale version")))]
async fn delete_tag(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<TrackingTag>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    auth.require(Role::Manager)?;
    let w = state.engine.config_write().await;
    let t = docs::load::<TrackingTag>(&state, auth.tenant_id, id).await?;
    let (label, key) = (format!("{:?}", t.name), Some(Key::TagCode(&t.tag_code)));
    let detail = json!({"name": t.name, "tagCode": t.tag_code});
    docs::delete_unused(
        &w,
        &state,
        &auth,
        &t,
        &label,
        &headers,
        Vec::new(),
        key,
        detail,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_valid_and_differ() {
        let (a, b) = (new_code(), new_code());
        assert!(switchboard_model::resources::is_tag_code(&a), "{a}");
        assert_ne!(a, b);
    }
}
