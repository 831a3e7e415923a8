//! The audit log: who changed what, when. Entries are store documents of
//! their tenant with time-ordered ids; secrets never go in. Owners and
//! admins read it newest first through `GET /api/audit`.

use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_model::{AuditEntry, Id, Role, new_id};
use switchboard_store::{Doc, DocKind, Store, StoreError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Auth, Json, List, PageQuery};
use crate::error::ApiError;
use crate::server::AppState;

/// Records one change by `auth` to a `kind` resource.
pub(crate) async fn record(
    state: &AppState,
    auth: &Auth,
    action: &str,
    kind: &str,
    resource_id: Option<Id>,
    detail: Value,
) -> Result<(), ApiError> {
    record_as(
        state.engine.store().as_ref(),
        auth.tenant_id,
        auth.actor(),
        action,
        kind,
        resource_id,
        detail,
    )
    .await
}

/// Records one change in `tenant_id` by `actor` (`user:<name>`, `api-key:<name>`),
/// for when there is no [`Auth`] (login, signup, the command line).
pub(crate) async fn record_as(
    store: &dyn Store,
    tenant_id: Id,
    actor: String,
    action: &str,
    kind: &str,
    resource_id: Option<Id>,
    detail: Value,
) -> Result<(), ApiError> {
    let entry = AuditEntry {
        id: new_id(),
        tenant_id,
        at: Utc::now(),
        actor,
        action: action.to_owned(),
        kind: kind.to_owned(),
        resource_id,
        detail,
    };
    let body = serde_json::to_value(&entry).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store
        .put_doc(
            Doc {
                kind: DocKind::Audit,
                tenant: tenant_id,
                id: entry.id,
                version: 0,
                body,
            },
            None,
        )
        .await?;
    Ok(())
}

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// One audit entry as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditView {
    /// Time-ordered id; also the cursor.
    #[schema(value_type = String, format = Uuid)]
    id: Id,
    /// When.
    at: DateTime<Utc>,
    /// Who: `user:<username>` or `api-key:<name>`.
    actor: String,
    /// `create`, `update`, `delete`, `login`, `login-failed`, …
    action: String,
    /// What kind of resource (`campaign`, `buyer`, `user`, `api-key`, `tenant`, …).
    kind: String,
    /// Which resource.
    #[schema(value_type = Option<String>, format = Uuid)]
    resource_id: Option<Id>,
    /// What changed.
    #[schema(value_type = Object)]
    detail: Value,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            kind: e.kind,
            resource_id: e.resource_id,
            detail: e.detail,
        }
    }
}

/// Filters of `GET /api/audit`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Only entries about this kind of resource.
    kind: Option<String>,
    /// Only entries about this resource.
    #[param(value_type = Option<String>, format = Uuid)]
    resource_id: Option<Id>,
    /// Where the page starts: the `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Most items on the page (default 50, at most 500).
    limit: Option<u32>,
}

/// The tenant's audit log, newest first (owners and admins).
#[utoipa::path(get, path = "/api/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = List<AuditView>), (status = 400, description = "bad cursor or filter"), (status = 401), (status = 403)))]
async fn list_audit(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<List<AuditView>>, ApiError> {
    auth.require(Role::Admin)?;
    let q = super::extract::query(query)?;
    let page = PageQuery {
        cursor: q.cursor,
        limit: q.limit,
    };
    let before = match &page.cursor {
        Some(c) => Some(
            c.parse::<Id>()
                .map_err(|_| ApiError::BadRequest(format!("invalid cursor {c:?}")))?,
        ),
        None => None,
    };
    let mut entries: Vec<AuditEntry> = state
        .engine
        .store()
        .list_docs(DocKind::Audit, Some(auth.tenant_id))
        .await?
        .into_iter()
        .filter_map(|d| serde_json::from_value::<AuditEntry>(d.body).ok())
        .filter(|e| e.tenant_id == auth.tenant_id)
        .filter(|e| q.kind.as_ref().is_none_or(|k| &e.kind == k))
        .filter(|e| q.resource_id.is_none_or(|r| e.resource_id == Some(r)))
        .filter(|e| before.is_none_or(|b| e.id < b))
        .collect();
    // Ids are UUIDv7: descending id is newest first.
    entries.sort_by_key(|e| std::cmp::Reverse(e.id));
    let limit = page.limit();
    let more = entries.len() > limit;
    entries.truncate(limit);
    let next_cursor = if more {
        entries.last().map(|e| e.id.to_string())
    } else {
        None
    };
    Ok(Json(List {
        items: entries.into_iter().map(AuditView::from).collect(),
        next_cursor,
    }))
}
