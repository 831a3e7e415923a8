//! Entry points for the fuzz targets in `fuzz/` (not an API): the request
//! decoders that live behind `pub(crate)`, run exactly as their handlers
//! run them, minus the store.

use axum::response::IntoResponse;
use serde_json::Value;
use switchboard_model::call::Traffic;
use switchboard_model::{Id, Number, Pool, RtbRouter, RtbTarget, TrackingTag};

use crate::admin::resources::{buyers, campaigns, docs};
use crate::error::ApiError;

/// A `POST /api/dni/track` body decoded as the handler's extractor does,
/// and the visit's traffic read from it; `None` when the body is refused.
pub fn dni_track(body: &[u8]) -> Option<Traffic> {
    let req: crate::dni::TrackRequest = serde_json::from_slice(body).ok()?;
    Some(crate::dni::traffic(&req))
}

/// The admin resources whose create bodies [`admin_create`] decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `POST /api/buyers`.
    Buyer,
    /// `POST /api/campaigns` (without the checks against stored resources).
    Campaign,
    /// `POST /api/numbers`.
    Number,
    /// `POST /api/pools`.
    Pool,
    /// `POST /api/rtb/targets`.
    RtbTarget,
    /// `POST /api/rtb/routers`.
    RtbRouter,
    /// `POST /api/tracking-tags`.
    TrackingTag,
}

/// A create body decoded and validated as its handler does before it looks
/// at the store: the status and the JSON body the client would get (the
/// resource itself when it is accepted).
pub fn admin_create(resource: Resource, body: &[u8]) -> (u16, Vec<u8>) {
    let id = Id::from_u128(1);
    let tenant = Id::from_u128(2);
    let result = (|| -> Result<Value, ApiError> {
        // The admin `Json` extractor: malformed JSON is a 400.
        let body: Value =
            serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let ok = |v: Result<Value, serde_json::Error>| {
            v.map_err(|e| ApiError::BadRequest(e.to_string()))
        };
        match resource {
            Resource::Buyer => {
                let input: buyers::BuyerInput =
                    docs::body(Value::Object(buyers::object(body)?), &[])?;
                ok(serde_json::to_value(input.into_buyer(id, tenant)?))
            }
            Resource::Campaign => {
                let input: campaigns::CampaignInput =
                    docs::body(Value::Object(buyers::object(body)?), &[])?;
                let mut errors = Vec::new();
                let campaign = input.into_campaign(id, tenant, &mut errors);
                buyers::merge_errors(&mut errors, campaign.validate());
                if !errors.is_empty() {
                    return Err(ApiError::Invalid(errors));
                }
                ok(serde_json::to_value(campaign))
            }
            Resource::Number => {
                let n: Number = docs::body(body, &["phoneNumber"])?;
                docs::invalid(n.validate(), Vec::new())?;
                ok(serde_json::to_value(n))
            }
            Resource::Pool => {
                let p: Pool = docs::body(body, &["numbers", "fallbackNumber"])?;
                docs::invalid(p.validate(), Vec::new())?;
                ok(serde_json::to_value(p))
            }
            Resource::RtbTarget => {
                let t: RtbTarget = docs::body(body, &[])?;
                docs::invalid(t.validate(), switchboard_rtb::check_target(&t, false))?;
                ok(serde_json::to_value(t))
            }
            Resource::RtbRouter => {
                let r: RtbRouter = docs::body(body, &[])?;
                docs::invalid(r.validate(), Vec::new())?;
                ok(serde_json::to_value(r))
            }
            Resource::TrackingTag => {
                let t: TrackingTag = docs::body(body, &[])?;
                docs::invalid(t.validate(), Vec::new())?;
                ok(serde_json::to_value(t))
            }
        }
    })();
    match result {
        Ok(v) => (201, serde_json::to_vec(&v).unwrap_or_default()),
        Err(e) => {
            let resp = e.into_response();
            let status = resp.status().as_u16();
            (status, block_on_body(resp.into_body()))
        }
    }
}

fn block_on_body(body: axum::body::Body) -> Vec<u8> {
    thread_local! {
        static RT: tokio::runtime::Runtime =
            tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime");
    }
    RT.with(|rt| {
        rt.block_on(axum::body::to_bytes(body, usize::MAX))
            .map(|b| b.to_vec())
            .unwrap_or_default()
    })
}
