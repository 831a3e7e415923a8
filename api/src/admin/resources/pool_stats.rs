//! `GET /api/pools/{id}/stats`: how a DNI pool is used, from its actor's
//! live counters (since the server started), with a recommended size.

use axum::extract::State;
use serde::Serialize;
use std::collections::BTreeMap;
use switchboard_model::{Id, Pool, Role};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::docs;
use crate::admin::extract::ResourceId;
use crate::admin::extract::{Auth, Json};
use crate::error::ApiError;
use crate::server::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(pool_stats))
}

/// A pool's usage. Counters are kept in memory by the pool's actor and
/// start again from zero when the server restarts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PoolStats {
    /// The pool.
    #[schema(value_type = String, format = Uuid)]
    pool_id: Id,
    /// Numbers in the pool.
    size: usize,
    /// Numbers leased to live visitor sessions now.
    leased_now: usize,
    /// Most numbers leased at once.
    peak_leased: usize,
    /// Visitors shown the fallback number because every number was leased.
    exhaustion_count: u64,
    /// Calls to each of the pool's numbers.
    calls_per_number: BTreeMap<String, u64>,
    /// `ceil(peakLeased × 1.2)` (at least 1): the observed peak with 20 %
    /// headroom; after an exhaustion, at least one more than the size.
    recommended_size: usize,
}

/// A pool's usage and recommended size; a malformed or unknown id is a 404.
#[utoipa::path(get, path = "/api/pools/{id}/stats", tag = "pools", params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = PoolStats), (status = 404)))]
async fn pool_stats(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<Pool>,
) -> Result<Json<PoolStats>, ApiError> {
    auth.require(Role::Viewer)?;
    let pool = docs::load::<Pool>(&state, auth.tenant_id, id).await?;
    let live =
        state
            .engine
            .pool_stats(pool.id)
            .await?
            .unwrap_or_else(|| switchboard_engine::PoolStats {
                size: pool.numbers.len(),
                calls_per_number: pool
                    .numbers
                    .iter()
                    .map(|n| (n.as_str().to_owned(), 0))
                    .collect(),
                ..Default::default()
            });
    Ok(Json(PoolStats {
        pool_id: pool.id,
        size: live.size,
        leased_now: live.leased_now,
        peak_leased: live.peak_leased,
        exhaustion_count: live.exhaustion_count,
        recommended_size: live.recommended_size(),
        calls_per_number: live.calls_per_number,
    }))
}
