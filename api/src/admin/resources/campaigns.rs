//! `/api/campaigns` and `/api/campaigns/{id}/buyers`: tracking numbers and
//! where their calls go. Changes go through the engine, so the number
//! directory and the campaign's actor use them from the next call on.
//!
//! Activating a campaign checks what the original product promised: at
//! least one active assigned buyer (for RTB routing, a router, and if that
//! router is configured, at least one target), its number or pool, and
//! sensible caps and settings; every failure is listed in one 422.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchboard_model::publisher::PayoutRule;
use switchboard_model::{
    BuyerAssignment, BuyerStatus, CallerIdMode, Campaign, CampaignStatus, DuplicateAction,
    FieldError, Id, Pool, Role, RoutingPolicy, RoutingType, RtbRouter, new_id,
};
use switchboard_store::DocKind;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::buyers::{changed, merge_errors, object, optional_phone};
use super::docs::{self, tagged};
use crate::admin::audit;
use crate::admin::extract::ResourceId;
use crate::admin::extract::{Auth, Json, List, PageQuery, if_match, query};
use crate::error::ApiError;
use crate::server::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, patch, delete))
        .routes(routes!(get_buyers, put_buyers))
}

/// A campaign as clients send it. As with buyers, every field is optional
/// so that all problems are reported together (422), the tracking number
/// arrives as text, a `PUT` is the whole campaign (absent optional fields
/// take their defaults; `PATCH` changes only what it names), and `id`,
/// `tenantId` and `version` are the server's.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CampaignInput {
    /// Ignored. (Accepted, with `tenantId` and `version`, so that a fetched
    /// resource can be sent back as it is; only serde reads them.)
    #[allow(dead_code)]
    #[schema(value_type = Option<String>)]
    id: Option<Value>,
    /// Ignored: a campaign belongs to the caller's tenant.
    #[allow(dead_code)]
    #[schema(value_type = Option<String>)]
    tenant_id: Option<Value>,
    /// Display name, unique within the tenant (required).
    name: Option<String>,
    description: Option<String>,
    status: Option<CampaignStatus>,
    routing_type: Option<RoutingType>,
    /// The tracking number, for direct routing; E.164 or a common national form.
    #[schema(example = "+15550001000")]
    phone_number: Option<String>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pool_id: Option<Id>,
    #[schema(value_type = Option<String>, format = Uuid)]
    rtb_router_id: Option<Id>,
    routing_policy: Option<RoutingPolicy>,
    /// Buyers with priority (1 first) and weight.
    buyers: Option<Vec<BuyerAssignment>>,
    recording: Option<bool>,
    dial_timeout_seconds: Option<u32>,
    caller_id_mode: Option<CallerIdMode>,
    duplicate_window_hours: Option<u32>,
    duplicate_action: Option<DuplicateAction>,
    max_fallthrough: Option<u32>,
    /// Custom values for RTB request templates (`{tag:NAME}`).
    tags: Option<std::collections::BTreeMap<String, String>>,
    /// What publishers are paid: the default rule (no `publisherId`) and
    /// per-publisher overrides.
    payout_rules: Option<Vec<PayoutRule>>,
    /// The version being replaced (or send `If-Match`, which wins); absent,
    /// null or 0: the current one, whatever it is. A stale one is a 409.
    #[allow(dead_code)]
    version: Option<u64>,
}

impl CampaignInput {
    pub(crate) fn into_campaign(
        self,
        id: Id,
        tenant_id: Id,
        errors: &mut Vec<FieldError>,
    ) -> Campaign {
        if self.name.is_none() {
            errors.push(FieldError::new("name", "is required"));
        }
        let phone_number = optional_phone(
            self.phone_number
                .as_deref()
                .filter(|p| !p.trim().is_empty()),
            "phoneNumber",
            errors,
        );
        Campaign {
            id,
            tenant_id,
            name: self.name.unwrap_or_default().trim().to_owned(),
            description: self.description.unwrap_or_default(),
            status: self.status.unwrap_or_default(),
            routing_type: self.routing_type.unwrap_or_default(),
            phone_number,
            pool_id: self.pool_id,
            rtb_router_id: self.rtb_router_id,
            routing_policy: self.routing_policy.unwrap_or_default(),
            buyers: self.buyers.unwrap_or_default(),
            recording: self.recording.unwrap_or(false),
            dial_timeout_seconds: self.dial_timeout_seconds.unwrap_or(30),
            caller_id_mode: self.caller_id_mode.unwrap_or_default(),
            duplicate_window_hours: self.duplicate_window_hours.unwrap_or(0),
            duplicate_action: self.duplicate_action.unwrap_or_default(),
            max_fallthrough: self.max_fallthrough.unwrap_or(3),
            tags: self.tags.unwrap_or_default(),
            payout_rules: self.payout_rules.unwrap_or_default(),
            version: 0,
        }
    }
}

/// Validates `input` as the new state of campaign `id` (`old`: its current
/// state), including the activation checks, and saves it through the engine.
async fn save(
    state: &AppState,
    auth: &Auth,
    id: Id,
    input: CampaignInput,
    old: Option<&Campaign>,
    expected: Option<u64>,
) -> Result<Campaign, ApiError> {
    // Every check below and the write are one step: a pool, router or buyer
    // checked here cannot be deleted before the campaign is stored.
    let w = state.engine.config_write().await;
    let mut errors = Vec::new();
    let campaign = input.into_campaign(id, auth.tenant_id, &mut errors);
    merge_errors(&mut errors, campaign.validate());
    // Assignments may only name this tenant's buyers; another tenant's id
    // reads exactly like a missing one.
    let mut active_buyers = 0;
    for (i, a) in campaign.buyers.iter().enumerate() {
        match state
            .engine
            .buyer(a.buyer_id)
            .filter(|b| b.tenant_id == auth.tenant_id)
        {
            Some(b) => active_buyers += usize::from(b.status == BuyerStatus::Active),
            None => {
                let field = format!("buyers[{i}].buyerId");
                if !errors.iter().any(|e| e.field == field) {
                    errors.push(FieldError::new(
                        field,
                        format!("buyer {} does not exist", a.buyer_id),
                    ));
                }
            }
        }
    }
    // The pool and router must be this tenant's own, existing ones; another
    // tenant's id reads exactly like a missing one.
    if let Some(pool) = campaign.pool_id
        && docs::get::<Pool>(state, auth.tenant_id, pool)
            .await?
            .is_none()
    {
        errors.push(FieldError::new(
            "poolId",
            format!("pool {pool} does not exist"),
        ));
    }
    if let Some(router) = campaign.rtb_router_id
        && docs::get::<RtbRouter>(state, auth.tenant_id, router)
            .await?
            .is_none()
    {
        errors.push(FieldError::new(
            "rtbRouterId",
            format!("rtb router {router} does not exist"),
        ));
    }
    // Activation checks: when it becomes active, or when an active
    // campaign's way of finding a taker changes.
    let activating = campaign.status == CampaignStatus::Active
        && old.is_none_or(|o| {
            o.status != CampaignStatus::Active
                || o.buyers != campaign.buyers
                || o.routing_type != campaign.routing_type
                || o.rtb_router_id != campaign.rtb_router_id
        });
    if activating {
        match campaign.routing_type {
            RoutingType::Rtb => {
                if let Some(router) = campaign.rtb_router_id {
                    let doc = state
                        .engine
                        .store()
                        .get_doc(DocKind::RtbRouter, auth.tenant_id, router)
                        .await?;
                    let empty = doc
                        .as_ref()
                        .and_then(|d| d.body.get("targets"))
                        .and_then(Value::as_array)
                        .is_some_and(Vec::is_empty);
                    if empty {
                        errors.push(FieldError::new(
                            "rtbRouterId",
                            "the rtb router has no targets: add one before activating",
                        ));
                    }
                }
            }
            RoutingType::Direct | RoutingType::Pool => {
                if active_buyers == 0 {
                    errors.push(FieldError::new(
                        "buyers",
                        "an active campaign needs at least one active buyer",
                    ));
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    // A pool's number routes through the pool's campaign: it cannot also be
    // another campaign's direct number.
    if let Some(n) = &campaign.phone_number
        && let Some(super::numbers::Holder::Pool { id, name }) =
            super::numbers::holders(state, auth.tenant_id, None)
                .await?
                .remove(n.as_str())
    {
        return Err(ApiError::Conflict(format!(
            "phone number {n} is in use by {}",
            super::docs::named("pool", &name, id)
        )));
    }
    Ok(w.put_campaign(campaign, expected).await?)
}

/// Saves `body` as the whole of campaign `id`, replacing the version
/// `If-Match` (stale: 412) or the body's `version` (stale: 409) states;
/// neither: the current one.
async fn replace(
    state: &AppState,
    auth: &Auth,
    id: Id,
    headers: &HeaderMap,
    body: &Map<String, Value>,
) -> Result<Campaign, ApiError> {
    let precondition = docs::Precondition::of(headers, docs::version_in(body)?)?;
    let current = docs::load::<Campaign>(state, auth.tenant_id, id).await?;
    let expected = precondition.check(current.version)?;
    let input: CampaignInput = docs::body(Value::Object(body.clone()), &[])?;
    save(
        state,
        auth,
        id,
        input,
        Some(&current),
        Some(expected.version),
    )
    .await
    .map_err(|e| expected.conflict(e))
}

/// Lists the tenant's campaigns, oldest first.
#[utoipa::path(get, operation_id = "list_campaigns", path = "/api/campaigns", tag = "campaigns", params(PageQuery),
    responses((status = 200, body = List<Campaign>), (status = 400), (status = 401)))]
async fn list(
    State(state): State<AppState>,
    auth: Auth,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<List<Campaign>>, ApiError> {
    let q = query(q)?;
    let items = docs::list::<Campaign>(&state, auth.tenant_id).await?;
    Ok(Json(List::page(items, |c| c.id, &q)?))
}

/// Creates a campaign (manager or above); 201 with its id and version. An
/// active one routes its first call at once.
#[utoipa::path(post, operation_id = "create_campaign", path = "/api/campaigns", tag = "campaigns", request_body = CampaignInput,
    responses((status = 201, body = Campaign), (status = 400), (status = 401), (status = 403),
              (status = 409, description = "the number is in use or the name is taken"), (status = 422)))]
async fn create(
    State(state): State<AppState>,
    auth: Auth,
    body: Result<Json<Value>, ApiError>,
) -> Result<Response, ApiError> {
    // The role is checked before the body is looked at.
    auth.require(Role::Manager)?;
    let Json(body) = body?;
    let input: CampaignInput = docs::body(Value::Object(object(body)?), &[])?;
    let campaign = save(&state, &auth, new_id(), input, None, None).await?;
    audit::record(
        &state,
        &auth,
        "create",
        "campaign",
        Some(campaign.id),
        json!({"name": campaign.name, "status": campaign.status}),
    )
    .await?;
    Ok(tagged(StatusCode::CREATED, &campaign, campaign.version))
}

/// One campaign; a malformed or unknown id is a 404.
#[utoipa::path(get, operation_id = "get_campaign", path = "/api/campaigns/{id}", tag = "campaigns", params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Campaign), (status = 401), (status = 404)))]
async fn get_one(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<Campaign>,
) -> Result<Response, ApiError> {
    let campaign = docs::load::<Campaign>(&state, auth.tenant_id, id).await?;
    Ok(tagged(StatusCode::OK, &campaign, campaign.version))
}

/// Replaces a campaign (manager or above): the body is the whole campaign,
/// and absent optional fields take their defaults (send `PATCH` to change
/// some fields only). The version replaced is `If-Match` (stale: 412) or
/// the body's `version` (stale: 409); with neither, the current one. Takes
/// effect on the next call.
#[utoipa::path(put, operation_id = "update_campaign", path = "/api/campaigns/{id}", tag = "campaigns", request_body = CampaignInput,
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "the version being replaced (wins over the body's `version`); neither: the current one")),
    responses((status = 200, body = Campaign), (status = 400), (status = 403), (status = 404),
              (status = 409, description = "stale body version, or the number is in use or the name is taken"), (status = 412, description = "stale If-Match"), (status = 422)))]
async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<Campaign>,
    headers: HeaderMap,
    body: Result<Json<Value>, ApiError>,
) -> Result<Response, ApiError> {
    // The role is checked before the body is looked at.
    auth.require(Role::Manager)?;
    let Json(body) = body?;
    let body = object(body)?;
    let campaign = replace(&state, &auth, id, &headers, &body).await?;
    updated(&state, &auth, &campaign, &body).await
}

/// Changes the fields a JSON Merge Patch (RFC 7396) names (manager or
/// above), such as `{"status": "paused"}`; versions as for `PUT`.
#[utoipa::path(patch, operation_id = "patch_campaign", path = "/api/campaigns/{id}", tag = "campaigns", request_body(content = Object, content_type = "application/merge-patch+json"),
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "the version being changed (wins over the patch's `version`)")),
    responses((status = 200, body = Campaign), (status = 400), (status = 403), (status = 404),
              (status = 409, description = "stale body version, or the number is in use or the name is taken"), (status = 412, description = "stale If-Match"), (status = 422)))]
async fn patch(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<Campaign>,
    headers: HeaderMap,
    body: Result<Json<Value>, ApiError>,
) -> Result<Response, ApiError> {
    let (patch, body) = docs::patch_of::<Campaign>(&state, &auth, id, body).await?;
    let campaign = replace(&state, &auth, id, &headers, &object(body)?).await?;
    // The audit names the fields the patch changed, not every field.
    updated(&state, &auth, &campaign, &patch).await
}

/// Audits an update naming the fields `body` set, and answers the campaign.
async fn updated(
    state: &AppState,
    auth: &Auth,
    campaign: &Campaign,
    body: &Map<String, Value>,
) -> Result<Response, ApiError> {
    audit::record(
        state,
        auth,
        "update",
        "campaign",
        Some(campaign.id),
        json!({"name": campaign.name, "status": campaign.status, "fields": changed(body)}),
    )
    .await?;
    Ok(tagged(StatusCode::OK, campaign, campaign.version))
}

/// Deletes a campaign (manager or above); its number is then not in service.
#[utoipa::path(delete, operation_id = "delete_campaign", path = "/api/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "the version being deleted; absent: the current one")),
    responses((status = 204), (status = 403), (status = 404), (status = 409, description = "stale version, or a tracking tag uses it")))]
async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<Campaign>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    auth.require(Role::Manager)?;
    // Without `If-Match` the engine deletes the current version.
    let expected = if_match(&headers)?;
    // Checked and deleted in one step: a tag cannot start using it meanwhile.
    let w = state.engine.config_write().await;
    let users = super::docs::campaign_users(&state, auth.tenant_id, id).await?;
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!(
            "the campaign is used by {}: change or delete them first",
            users.join(", ")
        )));
    }
    let precondition = docs::Precondition::of(&headers, None)?;
    if !w
        .delete_campaign(auth.tenant_id, id, expected)
        .await
        .map_err(|e| precondition.conflict(e.into()))?
    {
        return Err(ApiError::NotFound("campaign"));
    }
    audit::record(&state, &auth, "delete", "campaign", Some(id), json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A campaign's buyer assignments (`ETag`: the campaign's version).
#[utoipa::path(get, path = "/api/campaigns/{id}/buyers", tag = "campaigns", params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = List<BuyerAssignment>), (status = 401), (status = 404)))]
async fn get_buyers(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<Campaign>,
) -> Result<Response, ApiError> {
    let campaign = docs::load::<Campaign>(&state, auth.tenant_id, id).await?;
    Ok(tagged(
        StatusCode::OK,
        &List {
            items: campaign.buyers,
            next_cursor: None,
        },
        campaign.version,
    ))
}

/// Replaces a campaign's buyer assignments with the body's array
/// `[{buyerId, priority, weight}]` (manager or above). `If-Match` names the
/// campaign version replaced; without it, the current one.
#[utoipa::path(put, path = "/api/campaigns/{id}/buyers", tag = "campaigns", request_body = Vec<BuyerAssignment>,
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "the campaign version being replaced; absent: the current one")),
    responses((status = 200, body = List<BuyerAssignment>), (status = 400), (status = 403), (status = 404), (status = 409, description = "stale version"), (status = 422)))]
async fn put_buyers(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<Campaign>,
    headers: HeaderMap,
    body: Result<Json<Value>, ApiError>,
) -> Result<Response, ApiError> {
    // The role is checked before the body is looked at.
    auth.require(Role::Manager)?;
    let Json(body) = body?;
    if !body.is_array() {
        return Err(ApiError::BadRequest(
            "the body must be an array of {buyerId, priority, weight}".into(),
        ));
    }
    let body = docs::patched::<Campaign>(
        &state,
        auth.tenant_id,
        id,
        &Map::from_iter([("buyers".to_owned(), body)]),
    )
    .await?;
    let campaign = replace(&state, &auth, id, &headers, &object(body)?).await?;
    audit::record(
        &state,
        &auth,
        "update",
        "campaign",
        Some(id),
        json!({"name": campaign.name, "fields": ["buyers"]}),
    )
    .await?;
    let version = campaign.version;
    Ok(tagged(
        StatusCode::OK,
        &List {
            items: campaign.buyers,
            next_cursor: None,
        },
        version,
    ))
}
