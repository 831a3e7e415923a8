//! Accounts made outside the API: the first user, from
//! `switchboard user create`, and the `serve --demo` user.

use chrono::Utc;
use serde_json::json;
use switchboard_engine::Engine;
use switchboard_model::{Id, Role, Tenant, new_id};

use crate::admin::{accounts, audit};
use crate::error::ApiError;

/// What `switchboard user create` made.
#[derive(Debug, Clone)]
pub struct Created {
    /// The user's id.
    pub user_id: Id,
    /// Their tenant.
    pub tenant_id: Id,
    /// Whether the tenant was created too.
    pub tenant_created: bool,
}

/// Creates user `username` with `role` in the tenant named `tenant_name`,
/// creating the tenant if no tenant has that name. The password must be
/// at least 8 characters, as through the API.
pub async fn create_user(
    engine: &Engine,
    tenant_name: &str,
    username: &str,
    password: &str,
    role: Role,
) -> Result<Created, ApiError> {
    let store = engine.store().as_ref();
    let tenant_name = tenant_name.trim();
    let mut fields = accounts::check_credentials(username, password);
    if tenant_name.is_empty() || tenant_name.chars().count() > 100 {
        fields.push(switchboard_model::FieldError::new(
            "tenant",
            "must be 1 to 100 characters",
        ));
    }
    if !fields.is_empty() {
        return Err(ApiError::Invalid(fields));
    }
    if accounts::user_by_name(store, username).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "username {:?} is taken",
            username.trim()
        )));
    }
    let (tenant_id, tenant_created) =
        match engine.tenants().into_iter().find(|t| t.name == tenant_name) {
            Some(t) => (t.id, false),
            None => {
                let tenant = Tenant {
                    id: new_id(),
                    name: tenant_name.to_owned(),
                    twilio_account_sid: None,
                    twilio_auth_token: String::new(),
                    timezone: chrono_tz::Tz::UTC,
                    publisher_sees_caller_numbers: false,
                    version: 0,
                    created_at: Utc::now(),
                };
                (engine.put_tenant(tenant, None).await?.id, true)
            }
        };
    let user = accounts::create_user(store, tenant_id, username, password, role, None).await?;
    let detail =
        json!({ "username": user.username, "role": user.role, "tenantCreated": tenant_created });
    audit::record_as(
        store,
        tenant_id,
        "cli".to_owned(),
        "create",
        "user",
        Some(user.id),
        detail,
    )
    .await?;
    Ok(Created {
        user_id: user.id,
        tenant_id,
        tenant_created,
    })
}

/// Makes the demo user (`demo` / `demo`, owner of `tenant_id`) unless a
/// user named `demo` exists. Returns whether it was created.
pub(crate) async fn ensure_demo_user(engine: &Engine, tenant_id: Id) -> Result<bool, ApiError> {
    let store = engine.store().as_ref();
    if accounts::user_by_name(store, "demo").await?.is_some() {
        return Ok(false);
    }
    match accounts::create_demo_user(store, tenant_id).await {
        Ok(_) => Ok(true),
        // Made concurrently by another start: it exists, which is the point.
        Err(ApiError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}
