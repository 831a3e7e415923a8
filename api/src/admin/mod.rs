//! The admin API: accounts and sessions ([`auth`]), and the tenant's
//! resources ([`resources`]). Every handler takes an [`extract::Auth`] and
//! touches only its tenant's documents; another tenant's id is a 404.
//!
//! Routes are registered through `utoipa-axum`, so `/api/openapi.json` is
//! generated from the handlers themselves.

pub(crate) mod accounts;
pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod extract;
pub(crate) mod reports;
pub(crate) mod resources;

use axum::Router;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::server::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard",
        description = "Call routing and pay-per-call auctions: the admin API"
    ),
    // What a publisher's login gets from the calls endpoints instead of a `CallRecord`.
    components(schemas(resources::calls::publisher_view::PublisherCall))
)]
struct ApiDoc;

/// Every admin route, and the OpenAPI document describing them.
pub(crate) fn router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::routes())
        .merge(resources::routes())
        .merge(reports::routes())
        .merge(crate::dni::routes())
        .split_for_parts()
}

/// The OpenAPI document of the admin API, as `GET /api/openapi.json` serves
/// it; `switchboard openapi` prints it for the console's generated types.
pub fn openapi() -> utoipa::openapi::OpenApi {
    router().1
}

/// Largest admin request body accepted: axum's default, stated here so
/// that the 413 of a larger one (`extract::Json`) can say it.
pub(crate) const ADMIN_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The admin routes plus `GET /api/openapi.json`.
pub(crate) fn routes() -> Router<AppState> {
    let (router, doc) = router();
    let doc = std::sync::Arc::new(doc);
    router
        .route(
            "/api/openapi.json",
            get(move || async move { axum::Json(doc.as_ref().clone()) }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
}
