//! `/api/calls`: the tenant's call records, newest first, filtered and paged;
//! CSV with `Accept: text/csv` (the same columns as `switchboard calls export`).
//! `POST /api/calls/{id}/adjustments` revises an ended call's conversion,
//! revenue and payout afterwards, once per `Idempotency-Key`.
//!
//! A publisher's login reads its own calls only, each through
//! [`publisher_view`] (JSON and CSV alike); another publisher's call is a 404.
//!
//! Filters are applied while walking the tenant's newest-first call index,
//! never all tenants' calls. A request reads at most [`SCAN_BUDGET`] records
//! in at most [`MAX_READS`] reads:
//! a very selective filter may return a short (even empty) page with a
//! `nextCursor`; follow it until it is absent.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use switchboard_model::{
    Adjustment, CallRecord, CallStatus, FieldError, Id, PhoneNumber, Role, money, new_id,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::extract::query;
use crate::admin::extract::{Auth, Json, List, Scope, Scoped};
use crate::admin::extract::{ResourceId, kinds};
use crate::error::ApiError;
use crate::export::{CsvWriter, Names};
use crate::server::AppState;

/// Most call records one list request reads from the store.
const SCAN_BUDGET: usize = 5_000;

/// Most store reads one list request makes (small pages with a selective
/// filter would otherwise take many round trips).
const MAX_READS: usize = 64;

pub(crate) mod publisher_view;

use publisher_view::PublisherCall;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_one))
        .routes(routes!(adjust))
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
    /// Only calls attributed to this publisher.
    #[param(value_type = Option<String>, format = Uuid)]
    publisher_id: Option<Id>,
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
            && self
                .publisher_id
                .is_none_or(|p| call.publisher_id == Some(p))
            && self.status.is_none_or(|s| call.status == s)
            && self.to.is_none_or(|to| call.started_at < to)
            && caller.is_none_or(|c| call.from == c)
    }
}

/// How a page of calls is shown: whole to staff, as [`PublisherCall`]s to a
/// publisher's login.
#[derive(Debug, Clone, Copy)]
enum View {
    Staff,
    Publisher { whole_callers: bool },
}

impl View {
    fn of(state: &AppState, auth: &Auth, scope: Scope) -> Self {
        match scope {
            Scope::Tenant => View::Staff,
            Scope::Publisher(_) => View::Publisher {
                whole_callers: state
                    .engine
                    .tenant(auth.tenant_id)
                    .is_some_and(|t| t.publisher_sees_caller_numbers),
            },
        }
    }
}

/// The tenant's calls, newest first. A publisher's login gets only its own,
/// each as a `PublisherCall` (no revenue, profit or buyers; the caller
/// masked unless the tenant's `publisherSeesCallerNumbers`), and may not
/// filter by buyer, nor by caller while callers are masked (403).
#[utoipa::path(get, operation_id = "list_calls", path = "/api/calls", tag = "calls", params(CallQuery),
    responses((status = 200, description = "a page of calls (for a publisher's login, of `PublisherCall`s); with `Accept: text/csv` the same page as CSV, the next cursor in `X-Next-Cursor`",
               content((List<CallRecord> = "application/json"), (String = "text/csv"))),
              (status = 400), (status = 401), (status = 403, description = "a publisher's login filtering by buyer, or by caller while callers are masked")))]
async fn list(
    State(state): State<AppState>,
    Scoped(auth): Scoped,
    headers: HeaderMap,
    q: Result<Query<CallQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let scope = auth.scope()?;
    let view = View::of(&state, &auth, scope);
    let q = query(q)?;
    if let View::Publisher { whole_callers } = view {
        if q.buyer_id.is_some() {
            return Err(ApiError::Forbidden(
                "a publisher's login cannot filter calls by buyer".into(),
            ));
        }
        if q.caller.is_some() && !whole_callers {
            return Err(ApiError::Forbidden(
                "a publisher's login sees masked callers and cannot filter by caller".into(),
            ));
        }
    }
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
                return respond(&state, auth.tenant_id, view, &headers, items, None).await;
            }
            if scope.sees(call.publisher_id) && q.matches(&call, caller.as_deref()) {
                items.push(call);
            }
        }
        cursor = page.next;
        if cursor.is_none() || items.len() >= limit || scanned >= SCAN_BUDGET || reads >= MAX_READS
        {
            break;
        }
    }
    respond(&state, auth.tenant_id, view, &headers, items, cursor).await
}

async fn respond(
    state: &AppState,
    tenant: Id,
    view: View,
    headers: &HeaderMap,
    items: Vec<CallRecord>,
    next_cursor: Option<String>,
) -> Result<Response, ApiError> {
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"));
    let store = state.engine.store().as_ref();
    let out = match view {
        View::Staff if !wants_csv => {
            return Ok(Json(List { items, next_cursor }).into_response());
        }
        View::Staff => {
            let names = &Names::of_calls(store, tenant, &items).await?;
            let csv = |out: Vec<u8>| -> csv::Result<Vec<u8>> {
                let mut w = CsvWriter::new(out)?;
                items.iter().try_for_each(|c| w.row(c, names))?;
                Ok(w.finish()?)
            };
            csv(Vec::new())
        }
        View::Publisher { whole_callers } => {
            let names = &Names::campaigns_of(store, tenant, &items).await?;
            let items: Vec<PublisherCall> = items
                .iter()
                .map(|c| PublisherCall::of(c, names, whole_callers))
                .collect();
            if !wants_csv {
                return Ok(Json(List { items, next_cursor }).into_response());
            }
            publisher_view::csv(&items)
        }
    };
    let out = out.map_err(|e| ApiError::BadRequest(format!("csv: {e}")))?;
    let mut resp = ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response();
    if let Some(next) = next_cursor.and_then(|n| HeaderValue::from_str(&n).ok()) {
        resp.headers_mut().insert("x-next-cursor", next);
    }
    Ok(resp)
}

/// One call record; a malformed or unknown id (or, for a publisher's
/// login, another publisher's call) is a 404. A publisher's login gets it
/// as a `PublisherCall`.
#[utoipa::path(get, operation_id = "get_call", path = "/api/calls/{id}", tag = "calls", params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = CallRecord, description = "the call; for a publisher's login, a `PublisherCall`"),
              (status = 401), (status = 404)))]
async fn get_one(
    State(state): State<AppState>,
    Scoped(auth): Scoped,
    ResourceId(id, _): ResourceId<kinds::Call>,
) -> Result<Response, ApiError> {
    let scope = auth.scope()?;
    let call = state
        .engine
        .store()
        .get_call(id)
        .await?
        .filter(|c| c.tenant_id == auth.tenant_id && scope.sees(c.publisher_id))
        .ok_or(ApiError::NotFound("call"))?;
    match View::of(&state, &auth, scope) {
        View::Staff => Ok(Json(call).into_response()),
        View::Publisher { whole_callers } => {
            let store = state.engine.store().as_ref();
            let names =
                Names::campaigns_of(store, auth.tenant_id, std::slice::from_ref(&call)).await?;
            Ok(Json(PublisherCall::of(&call, &names, whole_callers)).into_response())
        }
    }
}

/// An adjustment of an ended call: what it sets, and why.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AdjustmentInput {
    /// Whether the call converted.
    #[serde(default)]
    converted: Option<bool>,
    /// The call's revenue, a decimal in its currency (0 for a return).
    #[serde(default, with = "money::opt_decimal")]
    #[schema(value_type = Option<String>, example = "25.00")]
    revenue: Option<i64>,
    /// The publisher's payout, a decimal in the call's currency.
    #[serde(default, with = "money::opt_decimal")]
    #[schema(value_type = Option<String>, example = "10.00")]
    payout: Option<i64>,
    /// Why (required): a sale confirmed, a return, a dispute.
    reason: String,
}

/// Most characters of an adjustment's reason and of an `Idempotency-Key`.
const MAX_REASON: usize = 500;
const MAX_KEY: usize = 255;

/// Sets or revises an ended call's conversion, revenue and payout (admins):
/// 201 with the call, its profit recomputed and the adjustment listed on it.
/// A repeat with the same `Idempotency-Key` changes nothing and answers 200;
/// the key used for a different change is a 409.
#[utoipa::path(post, operation_id = "adjust_call", path = "/api/calls/{id}/adjustments", tag = "calls", request_body = AdjustmentInput,
    params(("id" = String, Path, format = Uuid),
           ("Idempotency-Key" = Option<String>, Header, description = "a repeat of a request with this key is not applied again")),
    responses((status = 201, body = CallRecord, description = "applied"), (status = 200, body = CallRecord, description = "a repeat: nothing changed"),
              (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409, description = "the call has not ended, or the key was used for another change"), (status = 422)))]
async fn adjust(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<kinds::Call>,
    headers: HeaderMap,
    body: Result<Json<serde_json::Value>, ApiError>,
) -> Result<Response, ApiError> {
    // The role is checked before the body is looked at.
    auth.require(Role::Admin)?;
    let Json(body) = body?;
    let input: AdjustmentInput = super::docs::body(body, &[])?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= MAX_KEY)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "the idempotency-key header must be 1 to {MAX_KEY} visible characters"
                    ))
                })?
                .to_owned(),
        ),
    };
    let mut errors = Vec::new();
    let reason = input.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        errors.push(FieldError::new(
            "reason",
            format!("must be 1 to {MAX_REASON} characters"),
        ));
    }
    if input.converted.is_none() && input.revenue.is_none() && input.payout.is_none() {
        errors.push(FieldError::new(
            "converted",
            "give at least one of converted, revenue and payout",
        ));
    }
    for (field, v) in [("revenue", input.revenue), ("payout", input.payout)] {
        if v.is_some_and(|v| v < 0) {
            errors.push(FieldError::new(field, "must not be negative"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let adjustment = Adjustment {
        id: new_id(),
        at: Utc::now(),
        by: auth.actor(),
        reason: reason.to_owned(),
        converted: input.converted,
        revenue_minor: input.revenue,
        payout_minor: input.payout,
        idempotency_key: key,
    };
    let detail = json!({"reason": adjustment.reason, "converted": adjustment.converted,
        "revenueMinor": adjustment.revenue_minor, "payoutMinor": adjustment.payout_minor});
    let (call, applied) = state
        .engine
        .adjust(auth.tenant_id, id, adjustment)
        .await
        .map_err(|e| match e {
            switchboard_engine::EngineError::UnknownCall(_) => ApiError::NotFound("call"),
            e => e.into(),
        })?;
    if !applied {
        return Ok(Json(call).into_response());
    }
    crate::admin::audit::record(&state, &auth, "adjust", "call", Some(id), detail).await?;
    Ok((StatusCode::CREATED, Json(call)).into_response())
}
