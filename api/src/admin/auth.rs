//! Signing in and out, and who a request is: a session cookie (console) or
//! a bearer API key (machines). Cookie-authenticated writes must come from
//! our own origin (SameSite=Lax plus an `Origin` check), which is the CSRF
//! defence.
//!
//! The account endpoints live in the submodules: [`keys`] (API keys),
//! [`users`] (a tenant's users), [`sessions`] (one's own sessions) and
//! [`tenant`] (tenant settings); [`limit`] counts login and signup attempts.
//! Passwords are hashed on a few dedicated threads ([`accounts`]).

mod keys;
mod limit;
mod sessions;
mod tenant;
mod users;

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use switchboard_model::{Id, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) use limit::LoginLimiter;

use super::accounts::{self, SESSION_TTL};
use super::audit;
use super::extract::{Auth, Json, Principal, Scoped};
use crate::error::ApiError;
use crate::server::AppState;

/// Name of the session cookie.
pub(crate) const COOKIE: &str = "sb_session";

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(current_user))
        .routes(routes!(signup))
        .merge(sessions::routes())
        .merge(keys::routes())
        .merge(users::routes())
        .merge(tenant::routes())
        .merge(audit::routes())
}

/// The client's address: the peer's when the server was started with
/// connect info (as [`crate::run`] does), or the last `X-Forwarded-For`
/// entry when [`AppState::trust_forwarded_for`] is set; `None` otherwise
/// (e.g. `oneshot` tests).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientIp(pub(crate) Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if !state.trust_forwarded_for {
            return Ok(ClientIp(peer));
        }
        // The last entry is the one our proxy appended; earlier ones are the client's say-so.
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|ip| ip.trim().parse().ok());
        Ok(ClientIp(forwarded.or(peer)))
    }
}

/// Resolves the caller from the session cookie or the bearer key.
pub(crate) async fn authenticate(parts: &Parts, state: &AppState) -> Result<Auth, ApiError> {
    let store = state.engine.store().as_ref();
    if let Some(secret) = bearer(&parts.headers) {
        let key = accounts::api_key(store, secret)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        return Ok(Auth {
            tenant_id: key.tenant_id,
            role: key.role,
            publisher: bound_publisher(key.role, key.publisher_id)?,
            principal: Principal::ApiKey {
                id: key.id,
                name: key.name,
                publisher: key.publisher_id,
            },
        });
    }
    let token = cookie(&parts.headers, COOKIE).ok_or(ApiError::Unauthorized)?;
    let session = accounts::session(store, token)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    // The role is read on every request, so a demotion takes effect at once.
    let user =
        accounts::get::<accounts::User>(store, switchboard_store::DocKind::User, session.user_id)
            .await?
            .map(|(u, _)| u)
            .filter(|u| u.tenant_id == session.tenant_id)
            .ok_or(ApiError::Unauthorized)?;
    if !is_safe(&parts.method) {
        same_origin(&parts.headers, &state.public_url)?;
    }
    Ok(Auth {
        tenant_id: user.tenant_id,
        role: user.role,
        publisher: bound_publisher(user.role, user.publisher_id)?,
        principal: Principal::User {
            id: user.id,
            username: user.username,
            session: session.id,
        },
    })
}

/// The publisher a login with `role` is confined to: its `publisherId` for
/// the publisher role (which cannot be made without one: a record without
/// is refused rather than read as staff), none for staff.
fn bound_publisher(role: Role, publisher: Option<Id>) -> Result<Option<Id>, ApiError> {
    match (role, publisher) {
        (Role::Publisher, Some(p)) => Ok(Some(p)),
        (Role::Publisher, None) => Err(ApiError::Forbidden(
            "this publisher login is bound to no publisher".into(),
        )),
        _ => Ok(None),
    }
}

fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A cookie-authenticated write must say it comes from our origin: the
/// public URL's, or the `Host` it was sent to.
fn same_origin(headers: &HeaderMap, public_url: &str) -> Result<(), ApiError> {
    let origin = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::Forbidden("a cookie-authenticated change needs an origin header".into())
        })?;
    let origin = origin_of(origin);
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ours = origin == origin_of(public_url)
        || origin
            .split_once("://")
            .is_some_and(|(_, h)| !host.is_empty() && h == host);
    if ours {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "cross-origin request from {origin} refused"
        )))
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> &str {
    let rest_start = url.find("://").map_or(0, |i| i + 3);
    match url[rest_start..].find('/') {
        Some(i) => &url[..rest_start + i],
        None => url,
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(secret.trim())
}

/// The value of cookie `name`.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// The `Set-Cookie` value for a session secret (empty secret: clear it).
pub(crate) fn session_cookie(state: &AppState, secret: &str) -> HeaderValue {
    let secure = if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let max_age = if secret.is_empty() {
        0
    } else {
        SESSION_TTL.num_seconds()
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Credentials for `POST /api/auth/login`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LoginRequest {
    username: String,
    password: String,
}

/// The signed-in user.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CurrentUser {
    #[schema(value_type = String, format = Uuid)]
    id: Id,
    username: String,
    role: Role,
    #[schema(value_type = String, format = Uuid)]
    tenant_id: Id,
    tenant_name: String,
    /// For the `publisher` role: the publisher this login sees.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    publisher_id: Option<Id>,
}

impl CurrentUser {
    fn of(state: &AppState, user: &accounts::User) -> Self {
        let tenant_name = state
            .engine
            .tenant(user.tenant_id)
            .map(|t| t.name.clone())
            .unwrap_or_default();
        Self {
            id: user.id,
            username: user.username.clone(),
            role: user.role,
            tenant_id: user.tenant_id,
            tenant_name,
            publisher_id: user.publisher_id,
        }
    }
}

/// Signs in: sets the session cookie.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = CurrentUser), (status = 401, description = "wrong username or password"),
              (status = 429, description = "too many attempts for this username or from this address (`Retry-After`)"),
              (status = 503, description = "too many passwords being checked at once (`Retry-After`)")))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    // Counted before the password is checked, so a burst of concurrent
    // guesses gets no more checks than the limit; a locked-out guesser learns nothing.
    state
        .login_limiter
        .begin(&req.username, ip)
        .map_err(ApiError::RateLimited)?;
    let store = state.engine.store().as_ref();
    let user = match accounts::user_by_name(store, &req.username).await {
        Ok(user) => user,
        Err(e) => {
            state.login_limiter.refund(&req.username, ip);
            return Err(e);
        }
    };
    let ok = match accounts::verify_password_blocking(
        user.as_ref().map(|u| u.password_hash.as_str()),
        &req.password,
    )
    .await
    {
        Ok(ok) => ok,
        Err(e) => {
            // Not checked: the attempt is not spent.
            state.login_limiter.refund(&req.username, ip);
            return Err(e);
        }
    };
    let Some(user) = user else {
        return Err(ApiError::Unauthorized);
    };
    let detail = serde_json::json!({ "ip": ip.map(|i| i.to_string()) });
    let actor = format!("user:{}", user.username);
    if !ok {
        audit::record_as(
            store,
            user.tenant_id,
            actor,
            "login-failed",
            "user",
            Some(user.id),
            detail,
        )
        .await?;
        return Err(ApiError::Unauthorized);
    }
    state.login_limiter.succeeded(&req.username, ip);
    let (secret, _) = accounts::create_session(store, &user).await?;
    audit::record_as(
        store,
        user.tenant_id,
        actor,
        "login",
        "user",
        Some(user.id),
        detail,
    )
    .await?;
    let mut resp = Json(CurrentUser::of(&state, &user)).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, &secret));
    Ok(resp)
}

/// A new tenant and its owner, for `POST /api/auth/signup`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SignupRequest {
    username: String,
    password: String,
    tenant_name: String,
}

/// What a signup that cannot be made is told, whether the username or the
/// tenant name is the one taken: the same words, so that signup does not
/// say which accounts or tenants exist.
pub(crate) const SIGNUP_UNAVAILABLE: &str =
    "the username or the tenant name cannot be used: choose another of either";

/// Creates a tenant and its owner, and signs the owner in (201).
#[utoipa::path(post, path = "/api/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, body = CurrentUser), (status = 403, description = "signup is turned off"),
              (status = 409, description = "the username or the tenant name cannot be used. The answer (`conflict`, the same message) \
                  is the same whichever of the two is taken, and is given only after the password has been hashed, as a signup \
                  would, so that it tells neither which one exists nor, by its timing, which"),
              (status = 422, description = "a bad username, password or tenant name, every one listed"),
              (status = 429, description = "too many signups from this address (`Retry-After`)"),
              (status = 503, description = "too many passwords being hashed at once (`Retry-After`)")))]
async fn signup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<SignupRequest>,
) -> Result<Response, ApiError> {
    if !state.signup_enabled {
        return Err(ApiError::Forbidden(
            "signup is turned off on this server".into(),
        ));
    }
    // Every signup hashes a password: an address gets only a few.
    state
        .login_limiter
        .begin_signup(ip)
        .map_err(ApiError::RateLimited)?;
    let store = state.engine.store().as_ref();
    let tenant_name = req.tenant_name.trim().to_owned();
    let mut fields = Vec::new();
    if tenant_name.is_empty() {
        fields.push(switchboard_model::FieldError::new(
            "tenantName",
            "must not be empty",
        ));
    }
    fields.extend(accounts::check_credentials(&req.username, &req.password));
    if !fields.is_empty() {
        return Err(ApiError::Invalid(fields));
    }
    // The hash comes first, so a taken name takes as long to refuse as a free one to sign up.
    let password_hash = accounts::hash_password_blocking(&req.password).await?;
    let unavailable = || ApiError::Conflict(SIGNUP_UNAVAILABLE.into());
    if state.engine.tenants().iter().any(|t| t.name == tenant_name) {
        return Err(unavailable());
    }
    // The user first: a taken username then leaves nothing behind. If the
    // tenant fails after it, the user is removed again.
    let tenant_id = switchboard_model::new_id();
    let user = match accounts::insert_hashed(
        store,
        tenant_id,
        &req.username,
        password_hash,
        Role::Owner,
        None,
    )
    .await
    {
        Err(ApiError::Conflict(_)) => return Err(unavailable()),
        other => other?,
    };
    let tenant = switchboard_model::Tenant {
        id: tenant_id,
        name: tenant_name.clone(),
        twilio_account_sid: None,
        twilio_auth_token: String::new(),
        timezone: chrono_tz::Tz::UTC,
        publisher_sees_caller_numbers: false,
        version: 0,
        created_at: chrono::Utc::now(),
    };
    if let Err(e) = state.engine.put_tenant(tenant, None).await {
        let _ = store
            .delete_doc(
                switchboard_store::DocKind::User,
                accounts::SYSTEM,
                user.id,
                user.version,
            )
            .await;
        // The name was taken meanwhile: the same answer as above.
        return Err(match e {
            switchboard_engine::EngineError::Reference(_) => unavailable(),
            other => other.into(),
        });
    }
    let (secret, _) = accounts::create_session(store, &user).await?;
    let detail = serde_json::json!({ "name": tenant_name, "owner": user.username });
    audit::record_as(
        store,
        tenant_id,
        format!("user:{}", user.username),
        "create",
        "tenant",
        Some(tenant_id),
        detail,
    )
    .await?;
    let mut resp = (StatusCode::CREATED, Json(CurrentUser::of(&state, &user))).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, &secret));
    Ok(resp)
}

/// Signs out: ends the session and clears the cookie.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", responses((status = 204)))]
async fn logout(State(state): State<AppState>, Scoped(auth): Scoped) -> Result<Response, ApiError> {
    if let Principal::User { session, .. } = auth.principal {
        accounts::end_session(state.engine.store().as_ref(), session).await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, ""));
    Ok(resp)
}

/// Who is signed in.
#[utoipa::path(get, path = "/api/auth/user", tag = "auth", responses((status = 200, body = CurrentUser), (status = 401)))]
async fn current_user(
    State(state): State<AppState>,
    Scoped(auth): Scoped,
) -> Result<Json<CurrentUser>, ApiError> {
    let Principal::User { id, .. } = auth.principal else {
        return Err(ApiError::Forbidden("an api key is not a user".into()));
    };
    let (user, _) = accounts::get::<accounts::User>(
        state.engine.store().as_ref(),
        switchboard_store::DocKind::User,
        id,
    )
    .await?
    .ok_or(ApiError::Unauthorized)?;
    Ok(Json(CurrentUser::of(&state, &user)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("https://sb.example.com/api/x"),
            "https://sb.example.com"
        );
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        let mut h = HeaderMap::new();
        assert!(same_origin(&h, "https://sb.example.com").is_err());
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(same_origin(&h, "https://sb.example.com").is_err());
        h.insert(header::ORIGIN, "https://sb.example.com".parse().unwrap());
        assert!(same_origin(&h, "https://sb.example.com").is_ok());
        h.insert(header::ORIGIN, "http://127.0.0.1:9999".parse().unwrap());
        h.insert(header::HOST, "127.0.0.1:9999".parse().unwrap());
        assert!(same_origin(&h, "https://sb.example.com").is_ok());
    }

    #[test]
    fn cookies_and_bearer() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; sb_session=xyz; b=2".parse().unwrap());
        assert_eq!(cookie(&h, COOKIE), Some("xyz"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer sbk_abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("sbk_abc"));
    }
}
