//! Who may do what: roles, and the audit log of configuration changes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Id;

/// A user's or API key's role within its tenant. The staff roles are
/// ranked ([`Role::rank`]): each may do everything the ones below it may.
/// `publisher` is no rank: it is bound to one publisher and reads only that
/// publisher's calls, numbers and settings, so the type has no order, and a
/// check of a rank ([`Role::at_least`]) never lets a publisher through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// One publisher's login (a user's or API key's `publisherId`): its own
    /// calls (without revenue, profit or buyers), numbers and publisher.
    Publisher,
}

impl Role {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Manager => "manager",
            Role::Admin => "admin",
            Role::Owner => "owner",
            Role::Publisher => "publisher",
        }
    }

    /// The staff rank, lowest first; `None` for a publisher, which has none.
    pub fn rank(self) -> Option<u8> {
        match self {
            Role::Viewer => Some(0),
            Role::Manager => Some(1),
            Role::Admin => Some(2),
            Role::Owner => Some(3),
            Role::Publisher => None,
        }
    }

    /// Whether this is a staff role of at least `min`'s rank. False for a
    /// publisher, whatever `min` is, and for any `min` that is not staff.
    pub fn at_least(self, min: Role) -> bool {
        matches!((self.rank(), min.rank()), (Some(r), Some(m)) if r >= m)
    }

    /// Whether someone with role `self` may hand `role` to a user or key:
    /// a staff role up to one's own, or `publisher` (which reaches less
    /// than any staff role) from any staff role.
    pub fn may_grant(self, role: Role) -> bool {
        match role {
            Role::Publisher => self.rank().is_some(),
            staff => self.at_least(staff),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Role; 5] = [
        Role::Viewer,
        Role::Manager,
        Role::Admin,
        Role::Owner,
        Role::Publisher,
    ];

    #[test]
    fn a_publisher_passes_no_rank_check_and_grants_nothing() {
        for min in ALL {
            assert!(!Role::Publisher.at_least(min), "{min:?}");
            assert!(!Role::Publisher.may_grant(min), "{min:?}");
            assert!(!min.at_least(Role::Publisher), "{min:?}");
        }
        assert!(Role::Owner.at_least(Role::Viewer));
        assert!(!Role::Viewer.at_least(Role::Manager));
        assert!(Role::Admin.may_grant(Role::Publisher));
        assert!(Role::Admin.may_grant(Role::Admin));
        assert!(!Role::Admin.may_grant(Role::Owner));
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
