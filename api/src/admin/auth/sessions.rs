//! One's own account: login sessions (`GET /api/auth/sessions`,
//! `DELETE /api/auth/sessions/{id}` to sign out a browser left elsewhere)
//! and the password (`POST /api/auth/password`, which signs out every other
//! session).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::Serialize;
use serde_json::json;
use switchboard_model::Id;
use switchboard_store::DocKind;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::accounts::{self, Session};
use crate::admin::audit;
use crate::admin::extract::{Auth, Json, Principal, Scoped};
use crate::admin::extract::{ResourceId, kinds};
use crate::error::ApiError;
use crate::server::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(change_password))
}

/// A session as its user sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionView {
    /// Its id (a hash of the cookie's secret, not the secret).
    #[schema(value_type = String, format = Uuid)]
    id: Id,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    /// Whether this request came with it.
    current: bool,
}

/// The signed-in user's id and session; an API key has no sessions.
fn user_of(auth: &Auth) -> Result<(Id, Id), ApiError> {
    match auth.principal {
        Principal::User { id, session, .. } => Ok((id, session)),
        Principal::ApiKey { .. } => Err(ApiError::Forbidden("an api key has no sessions".into())),
    }
}

/// The caller's live sessions, newest first.
#[utoipa::path(get, path = "/api/auth/sessions", tag = "auth",
    responses((status = 200, body = Vec<SessionView>), (status = 401), (status = 403, description = "called with an api key")))]
async fn list_sessions(
    State(state): State<AppState>,
    Scoped(auth): Scoped,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let (user, current) = user_of(&auth)?;
    let mut sessions = accounts::sessions_of(state.engine.store().as_ref(), user).await?;
    sessions.sort_by_key(|s| std::cmp::Reverse(s.created_at));
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| SessionView {
                id: s.id,
                created_at: s.created_at,
                expires_at: s.expires_at,
                current: s.id == current,
            })
            .collect(),
    ))
}

/// Ends one of the caller's sessions (204); another user's is a 404.
#[utoipa::path(delete, path = "/api/auth/sessions/{id}", tag = "auth",
    params(("id" = String, Path, format = Uuid, description = "the session's id")),
    responses((status = 204), (status = 401), (status = 404)))]
async fn revoke_session(
    State(state): State<AppState>,
    Scoped(auth): Scoped,
    ResourceId(id, _): ResourceId<kinds::Session>,
) -> Result<StatusCode, ApiError> {
    let (user, _) = user_of(&auth)?;
    let store = state.engine.store().as_ref();
    accounts::get::<Session>(store, DocKind::Session, id)
        .await?
        .filter(|(s, _)| s.user_id == user && s.tenant_id == auth.tenant_id)
        .ok_or(ApiError::NotFound("session"))?;
    accounts::end_session(store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new password, for `POST /api/auth/password`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PasswordChange {
    current_password: String,
    /// At least 8 characters.
    new_password: String,
}

/// Changes the caller's password and ends their other sessions (204). A
/// wrong current password counts as a failed login.
#[utoipa::path(post, path = "/api/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = 401, description = "not signed in"), (status = 403, description = "wrong current password, or an api key"),
              (status = 422), (status = 429, description = "too many wrong passwords")))]
async fn change_password(
    State(state): State<AppState>,
    Scoped(auth): Scoped,
    super::ClientIp(ip): super::ClientIp,
    Json(req): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let (user_id, current) = user_of(&auth)?;
    let store = state.engine.store().as_ref();
    let mut user = accounts::user_in(store, auth.tenant_id, user_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    state
        .login_limiter
        .begin(&user.username, ip)
        .map_err(ApiError::RateLimited)?;
    let right =
        accounts::verify_password_blocking(Some(&user.password_hash), &req.current_password).await;
    if !matches!(right, Ok(false)) {
        // Right, or not checked: the attempt is not spent.
        state.login_limiter.refund(&user.username, ip);
    }
    if !right? {
        return Err(ApiError::Forbidden("the current password is wrong".into()));
    }
    accounts::set_password(store, &mut user, &req.new_password)
        .await
        .map_err(|e| match e {
            ApiError::Invalid(_) => ApiError::Invalid(vec![switchboard_model::FieldError::new(
                "newPassword",
                "must be at least 8 characters",
            )]),
            other => other,
        })?;
    for s in accounts::sessions_of(store, user.id).await? {
        if s.id != current {
            accounts::end_session(store, s.id).await?;
        }
    }
    audit::record(
        &state,
        &auth,
        "update",
        "user",
        Some(user.id),
        json!({ "username": user.username, "password": "changed" }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
