//! The tenant's resources, one module each.

mod bids;
mod blocklist;
pub(crate) mod buyers;
pub(crate) mod calls;
pub(crate) mod campaigns;
pub(crate) mod docs;
mod numbers;
mod pixels;
mod pool_stats;
mod pools;
mod provisioning;
pub(crate) mod publishers;
mod rtb;
mod sessions;
mod tags;

use utoipa_axum::router::OpenApiRouter;

use crate::server::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(bids::routes())
        .merge(blocklist::routes())
        .merge(buyers::routes())
        .merge(campaigns::routes())
        .merge(calls::routes())
        .merge(numbers::routes())
        .merge(pixels::routes())
        .merge(pools::routes())
        .merge(provisioning::routes())
        .merge(publishers::routes())
        .merge(pool_stats::routes())
        .merge(rtb::routes())
        .merge(crate::rtb::routes())
        .merge(tags::routes())
        .merge(sessions::routes())
}
