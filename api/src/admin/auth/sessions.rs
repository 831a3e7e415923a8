//! One's own login sessions: `GET /api/auth/sessions` and
//! `DELETE /api/auth/sessions/{id}` (sign out a browser left elsewhere).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use switchboard_model::Id;
use switchboard_store::DocKind;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::accounts::{self, Session};
use crate::admin::extract::{Auth, Json, Principal};
use crate::error::ApiError;
use crate::server::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_sessions)).routes(routes!(revoke_session))
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
async fn list_sessions(State(state): State<AppState>, auth: Auth) -> Result<Json<Vec<SessionView>>, ApiError> {
    let (user, current) = user_of(&auth)?;
    let mut sessions = accounts::sessions_of(state.engine.store().as_ref(), user).await?;
    sessions.sort_by_key(|s| std::cmp::Reverse(s.created_at));
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| SessionView { id: s.id, created_at: s.created_at, expires_at: s.expires_at, current: s.id == current })
            .collect(),
    ))
}

/// Ends one of the caller's sessions (204); another user's is a 404.
#[utoipa::path(delete, path = "/api/auth/sessions/{id}", tag = "auth",
    params(("id" = String, Path, format = Uuid, description = "the session's id")),
    responses((status = 204), (status = 401), (status = 404)))]
async fn revoke_session(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let (user, _) = user_of(&auth)?;
    let id = super::path_id(&id, "session")?;
    let store = state.engine.store().as_ref();
    accounts::get::<Session>(store, DocKind::Session, id)
        .await?
        .filter(|(s, _)| s.user_id == user && s.tenant_id == auth.tenant_id)
        .ok_or(ApiError::NotFound("session"))?;
    accounts::end_session(store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
