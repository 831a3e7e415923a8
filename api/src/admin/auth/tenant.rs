//! The caller's tenant: `GET/PUT /api/tenant` — its name, the Twilio
//! account SID and auth token its webhooks are checked with, its time zone
//! and whether publishers see their callers' numbers whole. The token is
//! write-only: reads say whether one is set, never what it is. Writes go
//! through the engine, so the next webhook is checked with the new token.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_model::{FieldError, Id, Role, Tenant};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::audit;
use crate::admin::extract::{Auth, Json};
use crate::admin::resources::docs::{self, Precondition, cleared, tagged};
use crate::error::ApiError;
use crate::server::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_tenant, put_tenant, patch_tenant))
}

/// Tenant settings as the API shows them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TenantView {
    #[schema(value_type = String, format = Uuid)]
    id: Id,
    name: String,
    /// The Twilio account (`AC…`) whose webhooks are this tenant's.
    twilio_account_sid: Option<String>,
    /// Whether an auth token is set (the token itself is never shown).
    twilio_auth_token_set: bool,
    /// IANA time zone of the tenant's periods (publishers' daily and monthly caps).
    #[schema(value_type = String, example = "America/New_York")]
    timezone: chrono_tz::Tz,
    /// Whether publishers' logins see their calls' caller numbers whole
    /// (otherwise only the last 4 digits, as `+*******1234`).
    publisher_sees_caller_numbers: bool,
    created_at: DateTime<Utc>,
    /// Pass back as `version` (or `If-Match`) to update.
    version: u64,
}

impl From<&Tenant> for TenantView {
    fn from(t: &Tenant) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            twilio_account_sid: t.twilio_account_sid.clone(),
            twilio_auth_token_set: !t.twilio_auth_token.is_empty(),
            timezone: t.timezone,
            publisher_sees_caller_numbers: t.publisher_sees_caller_numbers,
            created_at: t.created_at,
            version: t.version,
        }
    }
}

/// New tenant settings, for `PUT /api/tenant`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TenantUpdate {
    name: String,
    /// `AC…`; absent or null: none.
    #[serde(default)]
    twilio_account_sid: Option<String>,
    /// Write-only. Absent: keep the current token; null or empty: remove it
    /// (webhooks are then refused).
    #[serde(default)]
    twilio_auth_token: Option<String>,
    /// IANA time zone of the tenant's periods (publishers' daily and
    /// monthly caps); absent: UTC.
    #[serde(default)]
    #[schema(example = "America/New_York")]
    timezone: Option<String>,
    /// Whether publishers' logins see their calls' caller numbers whole;
    /// absent: false (only the last 4 digits).
    #[serde(default)]
    publisher_sees_caller_numbers: bool,
    /// The version this change is based on (or send `If-Match`, which wins);
    /// absent: the current one. A stale one is a 409 (412 for `If-Match`).
    #[serde(default)]
    version: Option<u64>,
}

fn answer(t: &Tenant) -> Response {
    tagged(StatusCode::OK, &TenantView::from(t), t.version)
}

fn current(state: &AppState, auth: &Auth) -> Result<Tenant, ApiError> {
    state
        .engine
        .tenant(auth.tenant_id)
        .map(|t| (*t).clone())
        .ok_or(ApiError::NotFound("tenant"))
}

/// The caller's tenant settings.
#[utoipa::path(get, path = "/api/tenant", tag = "tenant", responses((status = 200, body = TenantView), (status = 401)))]
async fn get_tenant(State(state): State<AppState>, auth: Auth) -> Result<Response, ApiError> {
    Ok(answer(&current(&state, &auth)?))
}

/// Replaces the tenant settings (owners and admins; only an owner changes
/// the Twilio account SID, which decides whose webhooks are this tenant's).
#[utoipa::path(put, path = "/api/tenant", tag = "tenant", request_body = TenantUpdate,
    params(("If-Match" = Option<String>, Header, description = "the version being replaced (wins over the body's `version`); neither: the current one")),
    responses((status = 200, body = TenantView), (status = 400), (status = 401),
              (status = 403, description = "not an owner or admin, or an admin changing (or removing) the account SID"),
              (status = 409, description = "stale body version, or the name or account is another tenant's (which one is not said)"),
              (status = 412, description = "stale If-Match"),
              (status = 413, description = "the body is over the admin limit"), (status = 422)))]
async fn put_tenant(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Result<Json<Value>, ApiError>,
) -> Result<Response, ApiError> {
    auth.require(Role::Admin)?;
    let Json(body) = body?;
    replace_tenant(&state, &auth, &headers, body).await
}

/// Changes the settings a JSON Merge Patch (RFC 7396) names; a `null`
/// `twilioAuthToken` removes the token. Versions as for `PUT`.
#[utoipa::path(patch, path = "/api/tenant", tag = "tenant", request_body(content = Object, content_type = "application/merge-patch+json"),
    params(("If-Match" = Option<String>, Header, description = "the version being changed (wins over the patch's `version`)")),
    responses((status = 200, body = TenantView), (status = 400), (status = 401), (status = 403),
              (status = 409, description = "stale body version, or the name or account is another tenant's"),
              (status = 412, description = "stale If-Match"), (status = 422)))]
async fn patch_tenant(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Result<Json<Value>, ApiError>,
) -> Result<Response, ApiError> {
    auth.require(Role::Admin)?;
    let Json(patch) = body?;
    let patch = docs::patch_object(&patch)?;
    let old = current(&state, &auth)?;
    let base = json!({"name": old.name, "twilioAccountSid": old.twilio_account_sid, "timezone": old.timezone.name(),
        "publisherSeesCallerNumbers": old.publisher_sees_caller_numbers});
    let body = docs::merge_patch(base, patch, &["twilioAuthToken"]);
    replace_tenant(&state, &auth, &headers, body).await
}

async fn replace_tenant(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    body: Value,
) -> Result<Response, ApiError> {
    let clear_token = cleared(&body, "twilioAuthToken");
    let req: TenantUpdate = docs::body(body, &[])?;
    let old = current(state, auth)?;
    let expected = Precondition::of(headers, req.version)?.check(old.version)?;
    let sid = req
        .twilio_account_sid
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let mut fields = Vec::new();
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        fields.push(FieldError::new("name", "must be 1 to 100 characters"));
    }
    if let Some(sid) = &sid
        && !(sid.starts_with("AC")
            && sid.len() <= 64
            && sid.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        fields.push(FieldError::new(
            "twilioAccountSid",
            "must be a twilio account sid (AC followed by letters and digits)",
        ));
    }
    let token = match clear_token {
        true => Some(String::new()),
        false => req.twilio_auth_token.map(|t| t.trim().to_owned()),
    };
    if token
        .as_ref()
        .is_some_and(|t| t.len() > 256 || t.chars().any(char::is_control))
    {
        fields.push(FieldError::new(
            "twilioAuthToken",
            "must be at most 256 characters, no control characters",
        ));
    }
    let timezone = match req.timezone.as_deref().map(str::trim) {
        None | Some("") => chrono_tz::Tz::UTC,
        Some(t) => t.parse().unwrap_or_else(|_| {
            fields.push(FieldError::new(
                "timezone",
                format!("{t:?} is not an IANA time zone such as America/New_York"),
            ));
            chrono_tz::Tz::UTC
        }),
    };
    if !fields.is_empty() {
        return Err(ApiError::Invalid(fields));
    }
    // The account SID claims a Twilio account's webhooks for this tenant.
    if sid != old.twilio_account_sid && auth.role != Role::Owner {
        return Err(ApiError::Forbidden(
            "only an owner may set or remove the twilio account sid".into(),
        ));
    }
    let token_changed = token.as_ref().is_some_and(|t| *t != old.twilio_auth_token);
    let new = Tenant {
        name,
        twilio_account_sid: sid,
        twilio_auth_token: token.unwrap_or_else(|| old.twilio_auth_token.clone()),
        timezone,
        publisher_sees_caller_numbers: req.publisher_sees_caller_numbers,
        ..old.clone()
    };
    let saved = state
        .engine
        .put_tenant(new, Some(expected.version))
        .await
        .map_err(|e| expected.conflict(e.into()))?;
    // Never the token itself.
    let detail = json!({
        "name": { "from": old.name, "to": saved.name },
        "twilioAccountSid": { "from": old.twilio_account_sid, "to": saved.twilio_account_sid },
        "twilioAuthTokenChanged": token_changed,
        "publisherSeesCallerNumbers": { "from": old.publisher_sees_caller_numbers, "to": saved.publisher_sees_caller_numbers },
    });
    audit::record(state, auth, "update", "tenant", Some(saved.id), detail).await?;
    Ok(answer(&saved))
}
