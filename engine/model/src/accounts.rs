//! Who may do what: roles, and the audit log of configuration changes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Id;

/// A user's or API key's role within its tenant. Ordered: each role may do
/// everything the roles below it may.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Configures campaigns, buyers, numbers, pools, RTB and tags.
    Manager,
    /// Also manages users, API keys, tenant settings; reads the audit log.
    Admin,
    /// Everything, including the tenant itself.
    Owner,
}

impl Role {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Manager => "manager",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

/// One configuration change: who, when, what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Time-ordered id.
    pub id: Id,
    /// Tenant whose configuration changed.
    pub tenant_id: Id,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: `user:<username>` or `api-key:<name>`.
    pub actor: String,
    /// `create`, `update`, `delete`, `login`, …
    pub action: String,
    /// What kind of resource (`campaign`, `buyer`, …).
    pub kind: String,
    /// Which resource.
    pub resource_id: Option<Id>,
    /// What changed, as JSON (never secrets).
    #[serde(default)]
    pub detail: serde_json::Value,
}
