//! The audit log: who changed what, when. Entries are store documents of
//! their tenant with time-ordered ids; secrets never go in.

use chrono::Utc;
use serde_json::Value;
use switchboard_model::{AuditEntry, Id, new_id};
use switchboard_store::{Doc, DocKind, StoreError};

use super::extract::Auth;
use crate::error::ApiError;
use crate::server::AppState;

/// Records one change by `auth` to a `kind` resource.
pub(crate) async fn record(state: &AppState, auth: &Auth, action: &str, kind: &str, resource_id: Option<Id>, detail: Value) -> Result<(), ApiError> {
    let entry = AuditEntry {
        id: new_id(),
        tenant_id: auth.tenant_id,
        at: Utc::now(),
        actor: auth.actor(),
        action: action.to_owned(),
        kind: kind.to_owned(),
        resource_id,
        detail,
    };
    let body = serde_json::to_value(&entry).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    state.engine.store().put_doc(Doc { kind: DocKind::Audit, tenant: auth.tenant_id, id: entry.id, version: 0, body }, None).await?;
    Ok(())
}
