//! A tenant's users: `GET/POST /api/users`, `PUT/DELETE /api/users/{id}`.
//! Owners and admins manage them; only an owner makes, unmakes or removes
//! an owner, and the last owner can be neither demoted nor deleted. A user
//! with the `publisher` role names the one publisher it sees (`publisherId`,
//! required with that role and refused with any other).
//! Deleting a user, or resetting their password, ends their sessions at
//! once; deleting one also revokes the API keys that act for them.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchboard_model::{Id, Role};
use switchboard_store::DocKind;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::accounts::{self, SYSTEM, User};
use crate::admin::audit;
use crate::admin::extract::{Auth, Json, List, PageQuery};
use crate::admin::extract::{ResourceId, kinds};
use crate::admin::resources::docs::{Precondition, delete_version, tagged};
use crate::admin::resources::publishers::check_binding;
use crate::error::ApiError;
use crate::server::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(update_user, delete_user))
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserView {
    #[schema(value_type = String, format = Uuid)]
    id: Id,
    username: String,
    role: Role,
    /// For the `publisher` role: the publisher this user sees.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    publisher_id: Option<Id>,
    created_at: DateTime<Utc>,
    /// Pass back as `version` (or `If-Match`) to update.
    version: u64,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            role: u.role,
            publisher_id: u.publisher_id,
            created_at: u.created_at,
            version: u.version,
        }
    }
}

/// A new user of the caller's tenant, for `POST /api/users`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewUser {
    username: String,
    /// At least 8 characters.
    password: String,
    role: Role,
    /// Required with the `publisher` role (and only with it): the one
    /// publisher of the tenant's this user sees.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    publisher_id: Option<Id>,
}

/// A role change or a password reset, for `PUT /api/users/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UserUpdate {
    /// The new role; absent: unchanged.
    #[serde(default)]
    role: Option<Role>,
    /// With the `publisher` role: the publisher this user sees; absent:
    /// unchanged (required when the role becomes `publisher`). A staff
    /// role has none.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    publisher_id: Option<Id>,
    /// A new password (at least 8 characters); absent: unchanged. Ends the user's sessions.
    #[serde(default)]
    password: Option<String>,
    /// The version this change is based on (or send `If-Match`); absent:
    /// the current one. A stale one is a 409.
    #[serde(default)]
    version: Option<u64>,
}

/// Only an owner may hand out (or take away) the owner role.
fn may_grant(auth: &Auth, role: Role) -> Result<(), ApiError> {
    auth.require(Role::Admin)?;
    if role == Role::Owner && auth.role != Role::Owner {
        return Err(ApiError::Forbidden(
            "only an owner may make or change an owner".into(),
        ));
    }
    Ok(())
}

/// Refuses a change that would leave the tenant without an owner.
async fn keeps_an_owner(store: &dyn switchboard_store::Store, user: &User) -> Result<(), ApiError> {
    if user.role != Role::Owner {
        return Ok(());
    }
    let owners = accounts::users_of(store, user.tenant_id)
        .await?
        .iter()
        .filter(|u| u.role == Role::Owner)
        .count();
    if owners <= 1 {
        return Err(ApiError::Conflict(
            "the last owner cannot be demoted or deleted: make another owner first".into(),
        ));
    }
    Ok(())
}

/// The tenant's users.
#[utoipa::path(get, path = "/api/users", tag = "users", params(PageQuery),
    responses((status = 200, body = List<UserView>), (status = 401), (status = 403)))]
async fn list_users(
    State(state): State<AppState>,
    auth: Auth,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<List<UserView>>, ApiError> {
    auth.require(Role::Admin)?;
    let page = crate::admin::extract::query(page)?;
    let users = accounts::users_of(state.engine.store().as_ref(), auth.tenant_id).await?;
    let list = List::page(users, |u| u.id, &page)?;
    Ok(Json(List {
        items: list.items.iter().map(UserView::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

/// Creates a user in the caller's tenant (201).
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = UserView), (status = 400), (status = 401), (status = 403),
              (status = 409, description = "username taken"), (status = 422)))]
async fn create_user(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<NewUser>,
) -> Result<Response, ApiError> {
    may_grant(&auth, req.role)?;
    // A publisher's user is made under the configuration lock, so the
    // publisher cannot be deleted between the check and the user.
    let _lock = match req.role {
        Role::Publisher => Some(state.engine.config_write().await),
        _ => None,
    };
    if let Some(e) =
        check_binding(&state, auth.tenant_id, req.role, req.publisher_id, false).await?
    {
        return Err(ApiError::Invalid(vec![e]));
    }
    let store = state.engine.store().as_ref();
    let user = accounts::create_user(
        store,
        auth.tenant_id,
        &req.username,
        &req.password,
        req.role,
        req.publisher_id,
    )
    .await?;
    audit::record(
        &state,
        &auth,
        "create",
        "user",
        Some(user.id),
        json!({ "username": user.username, "role": user.role, "publisherId": user.publisher_id }),
    )
    .await?;
    Ok(tagged(
        StatusCode::CREATED,
        &UserView::from(&user),
        user.version,
    ))
}

/// Changes a user's role, or resets their password. The version replaced is
/// `If-Match` or the body's `version`; with neither, the current one; a
/// stale one is a 409.
#[utoipa::path(put, path = "/api/users/{id}", tag = "users", request_body = UserUpdate,
    params(("id" = String, Path, format = Uuid, description = "the user's id"),
           ("If-Match" = Option<String>, Header, description = "the version being replaced (or the body's `version`); neither: the current one")),
    responses((status = 200, body = UserView), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409, description = "stale version, or the last owner")))]
async fn update_user(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<kinds::User>,
    headers: HeaderMap,
    req: Result<Json<UserUpdate>, ApiError>,
) -> Result<Response, ApiError> {
    auth.require(Role::Admin)?;
    let Json(req) = req?;
    let precondition = Precondition::of(&headers, req.version)?;
    let _guard = state.accounts_lock.lock().await;
    // As for a new user: the publisher stays while it is checked and bound.
    let binds = req.role == Some(Role::Publisher) || req.publisher_id.is_some();
    let _lock = match binds {
        true => Some(state.engine.config_write().await),
        false => None,
    };
    let store = state.engine.store().as_ref();
    let mut user = accounts::user_in(store, auth.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    precondition.check(user.version)?;
    may_grant(&auth, user.role)?;
    let role = req.role.unwrap_or(user.role);
    may_grant(&auth, role)?;
    if role != Role::Owner {
        keeps_an_owner(store, &user).await?;
    }
    // A publisher keeps its publisher unless another is named; staff has none.
    let publisher = match role {
        Role::Publisher => req.publisher_id.or(user.publisher_id),
        _ => req.publisher_id,
    };
    if let Some(e) = check_binding(&state, auth.tenant_id, role, publisher, false).await? {
        return Err(ApiError::Invalid(vec![e]));
    }
    let (from, from_publisher) = (user.role, user.publisher_id);
    (user.role, user.publisher_id) = (role, publisher);
    let mut detail = json!({ "username": user.username });
    if role != from {
        detail["role"] = json!({ "from": from, "to": role });
    }
    if publisher != from_publisher {
        detail["publisherId"] = json!({ "from": from_publisher, "to": publisher });
    }
    let unchanged = role == from && publisher == from_publisher;
    match &req.password {
        Some(password) => accounts::set_password(store, &mut user, password).await?,
        None if unchanged => {
            return Ok(tagged(StatusCode::OK, &UserView::from(&user), user.version));
        }
        None => {
            user.version =
                accounts::put(store, DocKind::User, user.id, &user, Some(user.version)).await?
        }
    }
    if req.password.is_some() {
        // A reset password is a lost or leaked one: whoever holds it now is out.
        accounts::end_sessions_of(store, user.id).await?;
        detail["password"] = json!("reset");
    }
    audit::record(&state, &auth, "update", "user", Some(user.id), detail).await?;
    Ok(tagged(StatusCode::OK, &UserView::from(&user), user.version))
}

/// Deletes a user, ends their sessions and revokes their API keys (204).
#[utoipa::path(delete, path = "/api/users/{id}", tag = "users",
    params(("id" = String, Path, format = Uuid, description = "the user's id"),
           ("If-Match" = Option<String>, Header, description = "the version being deleted; absent: the current one")),
    responses((status = 204), (status = 401), (status = 403), (status = 404), (status = 409, description = "stale version, or the last owner")))]
async fn delete_user(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<kinds::User>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    auth.require(Role::Admin)?;
    let _guard = state.accounts_lock.lock().await;
    let store = state.engine.store().as_ref();
    let user = accounts::user_in(store, auth.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    may_grant(&auth, user.role)?;
    keeps_an_owner(store, &user).await?;
    let expected = delete_version(&headers, user.version)?;
    store
        .delete_doc(DocKind::User, SYSTEM, user.id, expected.version)
        .await
        .map_err(|e| expected.conflict(e.into()))?;
    // The user id is derived from the name: a later user of the same name
    // must not inherit these sessions.
    accounts::end_sessions_of(store, user.id).await?;
    // Their keys go with them, each revocation in the log.
    let keys = accounts::revoke_keys_of(store, &user).await?;
    let detail =
        json!({ "username": user.username, "role": user.role, "apiKeysRevoked": keys.len() });
    audit::record(&state, &auth, "delete", "user", Some(user.id), detail).await?;
    for key in keys {
        let detail =
            json!({ "name": key.name, "reason": "user deleted", "username": user.username });
        audit::record(&state, &auth, "delete", "api-key", Some(key.id), detail).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
