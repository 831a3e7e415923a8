//! `/api/calls`: the tenant's call records, newest first, filtered and paged;
//! CSV with `Accept: text/csv` (the same columns as `switchboard calls export`).
//!
//! Filters are applied while walking the tenant's newest-first call index,
//! never all tenants' calls. A request reads at most [`SCAN_BUDGET`] records
//! in at most [`MAX_READS`] reads:
//! a very selective filter may return a short (even empty) page with a
//! `nextCursor`; follow it until it is absent.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use switchboard_model::{CallRecord, CallStatus, Id, PhoneNumber};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::extract::query;
use crate::admin::extract::{Auth, Json, List};
use crate::admin::extract::{ResourceId, kinds};
use crate::error::ApiError;
use crate::export::{CsvWriter, Names};
use crate::server::AppState;

/// Most call records one list request reads from the store.
const SCAN_BUDGET: usize = 5_000;

/// Most store reads one list request makes (small pages with a selective
/// filter would otherwise take many round trips).
const MAX_READS: usize = 64;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_one))
}

/// Filters and paging of `GET /api/calls`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct CallQuery {
    /// Only this campaign's calls.
    #[param(value_type = Option<String>, format = Uuid)]
    campaign_id: Option<Id>,
    /// Only calls this buyer was dialed for.
    #[param(value_type = Option<String>, format = Uuid)]
    buyer_id: Option<Id>,
    /// `ringing`, `in-progress`, `completed`, `no-answer`, `rejected` or `blocked`.
    #[param(value_type = Option<String>)]
    status: Option<CallStatus>,
    /// Calls that started at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<DateTime<Utc>>,
    /// Calls that started before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<DateTime<Utc>>,
    /// The caller's number, in any common form.
    caller: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Most calls on the page (default 50, at most 500).
    limit: Option<u32>,
}

impl CallQuery {
    fn matches(&self, call: &CallRecord, caller: Option<&str>) -> bool {
        self.campaign_id.is_none_or(|c| call.campaign_id == c)
            && self.buyer_id.is_none_or(|b| {
                call.buyer_id == Some(b) || call.attempts.iter().any(|a| a.buyer_id == b)
            })
            && self.status.is_none_or(|s| call.status == s)
            && self.to.is_none_or(|to| call.started_at < to)
            && caller.is_none_or(|c| call.from == c)
    }
}

/// The tenant's calls, newest first.
#[utoipa::path(get, operation_id = "list_calls", path = "/api/calls", tag = "calls", params(CallQuery),
    responses((status = 200, description = "a page of calls; with `Accept: text/csv` the same page as CSV, the next cursor in `X-Next-Cursor`",
               content((List<CallRecord> = "application/json"), (String = "text/csv"))),
              (status = 400), (status = 401)))]
async fn list(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    q: Result<Query<CallQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500) as usize;
    // Compare callers in E.164 when the filter is a phone number.
    let caller = q.caller.as_deref().map(|c| {
        PhoneNumber::parse(c).map_or_else(|_| c.trim().to_owned(), |n| n.as_str().to_owned())
    });
    let store = state.engine.store();
    let mut items = Vec::new();
    let mut cursor = q.cursor.clone();
    let mut scanned = 0;
    for reads in 1.. {
        // Asking for exactly what is still missing makes the store's cursor
        // land right after the last call returned.
        let page = store
            .calls_by_tenant(auth.tenant_id, cursor.as_deref(), limit - items.len())
            .await?;
        scanned += page.calls.len();
        for call in page.calls {
            if q.from.is_some_and(|from| call.started_at < from) {
                // Newest first: everything after this is older still.
                return respond(&state, auth.tenant_id, &headers, items, None).await;
            }
            if q.matches(&call, caller.as_deref()) {
                items.push(call);
            }
        }
        cursor = page.next;
        if cursor.is_none() || items.len() >= limit || scanned >= SCAN_BUDGET || reads >= MAX_READS
        {
            break;
        }
    }
    respond(&state, auth.tenant_id, &headers, items, cursor).await
}

async fn respond(
    state: &AppState,
    tenant: Id,
    headers: &HeaderMap,
    items: Vec<CallRecord>,
    next_cursor: Option<String>,
) -> Result<Response, ApiError> {
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"));
    if !wants_csv {
        return Ok(Json(List { items, next_cursor }).into_response());
    }
    let names = &Names::of_calls(state.engine.store().as_ref(), tenant, &items).await?;
    let csv = |out: Vec<u8>| -> csv::Result<Vec<u8>> {
        let mut w = CsvWriter::new(out)?;
        items.iter().try_for_each(|c| w.row(c, names))?;
        Ok(w.finish()?)
    };
    let out = csv(Vec::new()).map_err(|e| ApiError::BadRequest(format!("csv: {e}")))?;
    let mut resp = ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response();
    if let Some(next) = next_cursor.and_then(|n| HeaderValue::from_str(&n).ok()) {
        resp.headers_mut().insert("x-next-cursor", next);
    }
    Ok(resp)
}

/// One call record; a malformed or unknown id is a 404.
#[utoipa::path(get, operation_id = "get_call", path = "/api/calls/{id}", tag = "calls", params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = CallRecord), (status = 401), (status = 404)))]
async fn get_one(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<kinds::Call>,
) -> Result<Json<CallRecord>, ApiError> {
    let call = state
        .engine
        .store()
        .get_call(id)
        .await?
        .filter(|c| c.tenant_id == auth.tenant_id)
        .ok_or(ApiError::NotFound("call"))?;
    Ok(Json(call))
}
