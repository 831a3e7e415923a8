//! `GET /api/rtb/bid-requests` and `GET /api/rtb/bid-responses`: what every
//! auction asked and got, newest first, filtered and paged.
//!
//! The store walks the tenant's rows in time order and reads a bounded
//! number per page: a very selective filter may return a short (even empty)
//! page with a `nextCursor`; follow it until it is absent.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use switchboard_model::{BidFilter, BidRequestRecord, BidResponseRecord, Id, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::extract::query;
use crate::admin::extract::{Auth, Json, List};
use crate::error::ApiError;
use crate::server::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_requests))
        .routes(routes!(list_responses))
}

/// Filters and paging of the bid listings.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct BidQuery {
    /// Only this campaign's auctions.
    #[param(value_type = Option<String>, format = Uuid)]
    campaign_id: Option<Id>,
    /// Only this target (for requests: auctions that asked it).
    #[param(value_type = Option<String>, format = Uuid)]
    target_id: Option<Id>,
    /// Requests: `won`, `no-valid-bid`, `too-few-bids`, `no-target`;
    /// responses: `success`, `timeout`, `error`, `invalid`, `no-bid`, `rejected`.
    status: Option<String>,
    /// At or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<DateTime<Utc>>,
    /// Before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<DateTime<Utc>>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Most rows on the page (default 50, at most 500).
    limit: Option<u32>,
}

impl BidQuery {
    fn filter(&self) -> BidFilter {
        BidFilter {
            campaign_id: self.campaign_id,
            target_id: self.target_id,
            status: self.status.clone(),
            since: self.from,
            until: self.to,
        }
    }

    fn limit(&self) -> usize {
        self.limit.unwrap_or(50).clamp(1, 500) as usize
    }
}

/// The tenant's auctions, newest first.
#[utoipa::path(get, path = "/api/rtb/bid-requests", tag = "rtb", params(BidQuery),
    responses((status = 200, body = List<BidRequestRecord>), (status = 400), (status = 401)))]
async fn list_requests(
    State(state): State<AppState>,
    auth: Auth,
    q: Result<Query<BidQuery>, QueryRejection>,
) -> Result<Json<List<BidRequestRecord>>, ApiError> {
    let q = query(q)?;
    auth.require(Role::Viewer)?;
    let page = state
        .engine
        .store()
        .bid_requests(auth.tenant_id, &q.filter(), q.cursor.as_deref(), q.limit())
        .await?;
    Ok(Json(List {
        items: page.items,
        next_cursor: page.next,
    }))
}

/// The tenant's bid responses (one per target asked), newest first.
#[utoipa::path(get, path = "/api/rtb/bid-responses", tag = "rtb", params(BidQuery),
    responses((status = 200, body = List<BidResponseRecord>), (status = 400), (status = 401)))]
async fn list_responses(
    State(state): State<AppState>,
    auth: Auth,
    q: Result<Query<BidQuery>, QueryRejection>,
) -> Result<Json<List<BidResponseRecord>>, ApiError> {
    let q = query(q)?;
    auth.require(Role::Viewer)?;
    let page = state
        .engine
        .store()
        .bid_responses(auth.tenant_id, &q.filter(), q.cursor.as_deref(), q.limit())
        .await?;
    Ok(Json(List {
        items: page.items,
        next_cursor: page.next,
    }))
}
