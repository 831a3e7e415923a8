//! `/api/pixels`: postbacks and webhooks fired on call events, the
//! tenant's signing secret, and the delivery log with resend.
//!
//! A pixel's `basicAuth.password` is write-only: answers leave it empty;
//! an update that sends `basicAuth` with the same username and no password
//! keeps the stored one. What the engine does with pixels is in
//! `switchboard_engine`'s `pixels` module; `docs/pixels.md` is the guide.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_model::event::EventKind;
use switchboard_model::pixel::MAX_PIXELS_PER_TENANT;
use switchboard_model::{Delivery, DeliveryState, FieldError, Id, Pixel, Role, new_id};
use switchboard_store::{DeliveryFilter, DocKind};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::docs;
use crate::admin::audit;
use crate::admin::extract::kinds::PixelDelivery;
use crate::admin::extract::{Auth, Json, List, query};
use crate::admin::extract::{Kind, ResourceId};
use crate::error::ApiError;
use crate::server::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_pixels, create_pixel))
        .routes(routes!(get_pixel, update_pixel, patch_pixel, delete_pixel))
        .routes(routes!(rotate_secret))
        .routes(routes!(preview_pixel))
        .routes(routes!(test_pixel))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(resend_delivery))
}

/// The pixel as answered: its password left out.
fn redacted(mut p: Pixel) -> Pixel {
    if let Some(a) = &mut p.basic_auth {
        a.password.clear();
    }
    p
}

/// Everything a save checks: the pixel's own fields, its templates'
/// tokens, its target (unless private targets are allowed), that its
/// campaigns and buyers are the tenant's, and (`new`) the tenant's limit.
async fn check(state: &AppState, tenant: Id, p: &Pixel, new: bool) -> Result<(), ApiError> {
    let mut extra = switchboard_pixels::check(p, state.engine.pixels_allow_private_targets());
    for (i, c) in p.campaign_ids.iter().enumerate() {
        if !docs::campaign_exists(state, tenant, *c).await? {
            extra.push(FieldError::new(
                format!("campaignIds[{i}]"),
                "no such campaign",
            ));
        }
    }
    for (i, b) in p.buyer_ids.iter().enumerate() {
        let store = state.engine.store();
        let found = store.get_doc(DocKind::Buyer, tenant, *b).await?.is_some()
            || store
                .get_doc(DocKind::RtbTarget, tenant, *b)
                .await?
                .is_some();
        if !found {
            extra.push(FieldError::new(
                format!("buyerIds[{i}]"),
                "no such buyer or RTB target",
            ));
        }
    }
    if new && docs::list::<Pixel>(state, tenant).await?.len() >= MAX_PIXELS_PER_TENANT {
        extra.push(FieldError::new(
            "name",
            format!("a tenant has at most {MAX_PIXELS_PER_TENANT} pixels: delete one first"),
        ));
    }
    docs::invalid(p.validate(), extra)
}

/// A pixel body as the model reads it; an event name that is not one is a
/// 422 naming it (it would otherwise be a malformed body, a 400).
fn pixel_body(body: Value) -> Result<Pixel, ApiError> {
    let unknown: Vec<FieldError> = body
        .get("events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, e)| {
            e.as_str()
                .is_none_or(|name| name.parse::<EventKind>().is_err())
        })
        .map(|(i, e)| {
            let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
            FieldError::new(
                format!("events[{i}]"),
                format!("{e} is not an event: the events are {}", names.join(", ")),
            )
        })
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::Invalid(unknown));
    }
    docs::body(body, &[])
}

docs::list_and_get!(
    list_pixels,
    get_pixel,
    Pixel,
    "/api/pixels",
    "pixels",
    "The tenant's pixels, oldest first (passwords left out).",
    "One pixel (its password left out); a malformed or unknown id is a 404. `ETag`: its version.",
    redacted
);

/// Creates a pixel. Unknown tokens, an unknown event, a URL that is not
/// one, a private target (unless allowed), a body template over 64 KiB and
/// a 51st pixel are each a 422 naming the field.
#[utoipa::path(post, path = "/api/pixels", tag = "pixels", request_body = Pixel,
    responses((status = 201, body = Pixel), (status = 422, description = "invalid fields, every one listed")))]
async fn create_pixel(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    auth.require(Role::Manager)?;
    let mut p = pixel_body(body)?;
    // A store without the outbox (ScyllaDB, for now) answers 503 here: a
    // pixel it kept would never fire.
    state.engine.store().outbox_stats().await?;
    (p.id, p.tenant_id, p.created_at) = (new_id(), auth.tenant_id, Utc::now());
    let w = state.engine.config_write().await;
    check(&state, auth.tenant_id, &p, true).await?;
    docs::put(&w, &mut p, None).await?;
    audit::record(
        &state,
        &auth,
        "create",
        "pixel",
        Some(p.id),
        json!({"name": p.name, "url": p.url, "events": p.events}),
    )
    .await?;
    let p = redacted(p);
    Ok(docs::tagged(StatusCode::CREATED, &p, p.version))
}

docs::put_and_patch!(
    update_pixel,
    patch_pixel,
    replace_pixel,
    Pixel,
    "/api/pixels/{id}",
    "pixels",
    "Replaces a pixel. `basicAuth` with the stored username and no password keeps the stored password."
);

async fn replace_pixel(
    state: &AppState,
    auth: &Auth,
    id: Id,
    headers: &HeaderMap,
    body: Value,
) -> Result<Response, ApiError> {
    let mut p = pixel_body(body)?;
    let w = state.engine.config_write().await;
    let (old, expected) = docs::replacing(state, auth.tenant_id, id, headers, &mut p).await?;
    if let (Some(new), Some(old)) = (&mut p.basic_auth, &old.basic_auth)
        && new.password.is_empty()
        && new.username == old.username
    {
        new.password.clone_from(&old.password);
    }
    check(state, auth.tenant_id, &p, false).await?;
    docs::put(&w, &mut p, Some(expected)).await?;
    audit::record(
        state,
        auth,
        "update",
        "pixel",
        Some(id),
        json!({"name": p.name, "version": p.version}),
    )
    .await?;
    let p = redacted(p);
    Ok(docs::tagged(StatusCode::OK, &p, p.version))
}

/// Deletes a pixel; its deliveries stay in the log (open ones are still attempted).
#[utoipa::path(delete, path = "/api/pixels/{id}", tag = "pixels",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "the version being deleted; absent: the current one")),
    responses((status = 204), (status = 404), (status = 409, description = "stale version")))]
async fn delete_pixel(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<Pixel>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    auth.require(Role::Manager)?;
    let w = state.engine.config_write().await;
    let p = docs::load::<Pixel>(&state, auth.tenant_id, id).await?;
    let (label, detail) = (format!("{:?}", p.name), json!({"name": p.name}));
    docs::delete_unused(
        &w,
        &state,
        &auth,
        &p,
        &label,
        &headers,
        Vec::new(),
        None,
        detail,
    )
    .await
}

/// The request a pixel makes for the sample call.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Preview {
    /// Method, URL, headers and body, tokens filled for the sample call
    /// (a converted 90 s call paying 25.00 USD from +15551230000), basic
    /// auth masked; the signature and delivery headers are added as it is sent.
    request: switchboard_model::pixel::PixelRequest,
    /// The event it is rendered for: the pixel's first.
    event: EventKind,
}

/// Renders an unsaved pixel for the sample call; a pixel that could not be
/// saved is refused with the same 422.
#[utoipa::path(post, path = "/api/pixels/preview", tag = "pixels", request_body = Pixel,
    responses((status = 200, body = Preview), (status = 422, description = "as a create would refuse it")))]
async fn preview_pixel(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<Value>,
) -> Result<Json<Preview>, ApiError> {
    auth.require(Role::Viewer)?;
    let mut p = pixel_body(body)?;
    p.tenant_id = auth.tenant_id;
    check(&state, auth.tenant_id, &p, false).await?;
    let request = state
        .engine
        .preview_pixel(&p)?
        .ok_or_else(|| ApiError::Invalid(vec![FieldError::new("url", "does not render")]))?;
    let event = p.events.first().copied().unwrap_or(EventKind::Converted);
    Ok(Json(Preview { request, event }))
}

/// What a test send got.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct TestSend {
    /// The request as sent (basic auth masked).
    request: switchboard_model::pixel::PixelRequest,
    /// The receiver's status, if it answered.
    response_status: Option<u16>,
    /// The first 1 KiB of its answer.
    response_body: Option<String>,
    /// Why there was no answer (timeout, connection, a refused address).
    error: Option<String>,
    /// How long it took, in milliseconds.
    duration_ms: Option<u64>,
}

/// Sends a saved pixel's request for the sample call now, signed if the
/// tenant has a secret, with its delivery headers; it is kept in no log
/// and counts no fire.
#[utoipa::path(post, path = "/api/pixels/{id}/test", tag = "pixels",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = TestSend), (status = 404)))]
async fn test_pixel(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<Pixel>,
) -> Result<Json<TestSend>, ApiError> {
    auth.require(Role::Manager)?;
    let p = docs::load::<Pixel>(&state, auth.tenant_id, id).await?;
    let d = state
        .engine
        .test_pixel(&p)
        .await?
        .ok_or_else(|| ApiError::Invalid(vec![FieldError::new("url", "does not render")]))?;
    Ok(Json(TestSend {
        request: d.request,
        response_status: d.response_status,
        response_body: d.response_body,
        error: d.error,
        duration_ms: d.duration_ms,
    }))
}

/// A new signing secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct NewSecret {
    /// Signs every delivery's `Switchboard-Signature` from now on; the one it
    /// replaced signs too for 24 hours.
    secret: String,
}

/// Makes the tenant a new signing secret. Deliveries are signed whenever
/// one exists; after a rotation the old one also signs for 24 hours (a
/// second `v1=`, after the new one's).
#[utoipa::path(post, path = "/api/pixels/signing-secret", tag = "pixels",
    responses((status = 201, body = NewSecret), (status = 403)))]
async fn rotate_secret(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<(StatusCode, Json<NewSecret>), ApiError> {
    auth.require(Role::Admin)?;
    let secret = state.engine.rotate_signing_secret(auth.tenant_id).await?;
    audit::record(
        &state,
        &auth,
        "rotate",
        "pixel_signing_secret",
        None,
        json!({}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(NewSecret { secret })))
}

/// Filters and paging of the delivery log.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DeliveryQuery {
    /// Only this pixel's deliveries.
    #[param(value_type = Option<String>, format = Uuid)]
    pixel_id: Option<Id>,
    /// Only this call's.
    #[param(value_type = Option<String>, format = Uuid)]
    call_id: Option<Id>,
    /// Only those in this state.
    state: Option<DeliveryState>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Most rows on the page (default 50, at most 500).
    limit: Option<u32>,
}

/// A delivery as the log shows it: credentials masked.
fn shown(mut d: Delivery) -> Delivery {
    d.request = switchboard_engine::masked(&d.request);
    d
}

/// The tenant's deliveries, newest first, with the request as sent
/// (credentials masked), the last answer and the next attempt. A selective
/// filter may give a short page with a `nextCursor`: follow it.
#[utoipa::path(get, path = "/api/pixels/deliveries", tag = "pixels", params(DeliveryQuery),
    responses((status = 200, body = List<Delivery>), (status = 400), (status = 401)))]
async fn list_deliveries(
    State(state): State<AppState>,
    auth: Auth,
    q: Result<Query<DeliveryQuery>, QueryRejection>,
) -> Result<Json<List<Delivery>>, ApiError> {
    let q = query(q)?;
    auth.require(Role::Viewer)?;
    let filter = DeliveryFilter {
        pixel_id: q.pixel_id,
        call_id: q.call_id,
        state: q.state,
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500) as usize;
    let page = state
        .engine
        .store()
        .list_deliveries(auth.tenant_id, &filter, q.cursor.as_deref(), limit)
        .await?;
    Ok(Json(List {
        items: page.deliveries.into_iter().map(shown).collect(),
        next_cursor: page.next,
    }))
}

/// One delivery; a malformed or unknown id (or another tenant's) is a 404.
#[utoipa::path(get, path = "/api/pixels/deliveries/{id}", tag = "pixels",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Delivery), (status = 404)))]
async fn get_delivery(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<PixelDelivery>,
) -> Result<Json<Delivery>, ApiError> {
    auth.require(Role::Viewer)?;
    let d = state
        .engine
        .store()
        .get_delivery(auth.tenant_id, id)
        .await?
        .ok_or_else(PixelDelivery::missing)?;
    Ok(Json(shown(d)))
}

/// Sends a delivery again now, with the same delivery id (a delivered,
/// failed or dead one starts a new round of attempts).
#[utoipa::path(post, path = "/api/pixels/deliveries/{id}/resend", tag = "pixels",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 202, body = Delivery), (status = 404)))]
async fn resend_delivery(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<PixelDelivery>,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    auth.require(Role::Manager)?;
    let d = state
        .engine
        .resend_delivery(auth.tenant_id, id)
        .await?
        .ok_or_else(PixelDelivery::missing)?;
    audit::record(
        &state,
        &auth,
        "resend",
        "pixel_delivery",
        Some(id),
        json!({"pixelId": d.pixel_id, "callId": d.call_id}),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(shown(d))))
}
