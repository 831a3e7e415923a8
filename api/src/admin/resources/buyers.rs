//! `/api/buyers`.

use utoipa_axum::router::OpenApiRouter;

use crate::server::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
