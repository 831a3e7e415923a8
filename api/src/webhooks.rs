//! Twilio's webhooks: verify the signature with the owning tenant's auth
//! token before anything else, parse, hand to the engine, answer.
//!
//! The signed URL is the configured public base URL plus the path and query
//! Twilio requested, never one rebuilt from `Host`: behind a proxy they differ.
//!
//! In a cluster, a call's later webhooks go to the node that owns the call
//! once verified (`cluster::pass_to_owner`).

use axum::body::Bytes;
use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use switchboard_engine::{Decision, metrics as names};
use switchboard_model::{Id, PhoneNumber, Pool, Tenant};

use crate::admin::extract::ResourceId;
use crate::admin::extract::kinds::WebhookCall;
use crate::cluster;
use crate::error::ApiError;
use crate::server::AppState;
use crate::twilio::form::{
    DialParams, Fields, RecordingParams, StatusParams, StatusQuery, VoiceParams, parse_pairs,
};
use crate::twilio::{signature, twiml};

/// `POST /api/webhooks/voice`: a call arrived; answer with where it goes.
pub(crate) async fn voice(State(st): State<AppState>, hook: Webhook) -> Result<Response, ApiError> {
    let fields = Fields(&hook.pairs);
    // The dialed number names the tenant; for a number no campaign owns, the
    // account does, so the caller still hears "not in service".
    let tenant = fields
        .get("To")
        .and_then(|to| PhoneNumber::parse(to).ok())
        .and_then(|to| st.engine.tenant_by_number(&to))
        .or_else(|| {
            fields
                .get("AccountSid")
                .and_then(|sid| st.engine.tenant_by_account_sid(sid))
        })
        .ok_or(ApiError::UnknownTenant)?;
    hook.verify(&st, &tenant)?;
    let call = VoiceParams::parse(&hook.pairs)?.into_inbound();
    let decision = st.engine.inbound(call).await?;
    Ok(answer_inbound(&st, &decision))
}

/// `POST /api/webhooks/pool/{poolId}/voice`: a call to a DNI pool number;
/// routed through the campaign that uses the pool, and attributed to the
/// web visit holding the dialed number. Signed like the voice webhook, with
/// the pool's tenant's token; an unknown pool is a 404.
pub(crate) async fn pool_voice(
    State(st): State<AppState>,
    ResourceId(pool, _): ResourceId<Pool>,
    hook: Webhook,
) -> Result<Response, ApiError> {
    let tenant = st
        .engine
        .pool_tenant(pool)
        .ok_or(ApiError::NotFound("pool"))?;
    hook.verify(&st, &tenant)?;
    let call = VoiceParams::parse(&hook.pairs)?.into_inbound();
    let decision = st.engine.inbound_pool(pool, call).await?;
    Ok(answer_inbound(&st, &decision))
}

/// TwiML for a new call's decision; a number nobody owns is counted.
fn answer_inbound(st: &AppState, decision: &Decision) -> Response {
    if *decision == Decision::NotInService {
        names::CALLS_REJECTED.inc_with(&[("reason", "not-in-service")]);
    }
    twiml_response(decision, &st.public_url)
}

/// `POST /api/webhooks/dial-status/{callId}?attempt=…`: the `<Dial action>`; hang up or fall through.
pub(crate) async fn dial_status(
    State(st): State<AppState>,
    ResourceId(call_id, _): ResourceId<WebhookCall>,
    hook: Webhook,
) -> Result<Response, ApiError> {
    let query = StatusQuery::parse(hook.uri.query().unwrap_or(""))?;
    let (call_id, pairs) = match call_webhook(&st, Some(call_id), hook).await? {
        CallWebhook::Here { call_id, pairs } => (call_id, pairs),
        CallWebhook::Passed(answer) => return Ok(answer),
    };
    let result = DialParams::parse(&pairs)?.into_result(query.attempt);
    let decision = st.engine.dial_result(call_id, result).await?;
    Ok(twiml_response(&decision, &st.public_url))
}

/// `POST /api/webhooks/status?callId=…&attempt=…`: a leg's status callback.
pub(crate) async fn status(
    State(st): State<AppState>,
    hook: Webhook,
) -> Result<Response, ApiError> {
    let query = StatusQuery::parse(hook.uri.query().unwrap_or(""))?;
    let pairs = match call_webhook(&st, query.call_id, hook).await? {
        CallWebhook::Here { pairs, .. } => pairs,
        CallWebhook::Passed(answer) => return Ok(answer),
    };
    let event = StatusParams::parse(&pairs)?.into_event(query.call_id, query.attempt);
    st.engine.status_event(event).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/webhooks/recording/{callId}`: a recording is ready; store its URL.
pub(crate) async fn recording(
    State(st): State<AppState>,
    ResourceId(call_id, _): ResourceId<WebhookCall>,
    hook: Webhook,
) -> Result<Response, ApiError> {
    let (call_id, pairs) = match call_webhook(&st, Some(call_id), hook).await? {
        CallWebhook::Here { call_id, pairs } => (call_id, pairs),
        CallWebhook::Passed(answer) => return Ok(answer),
    };
    let params = RecordingParams::parse(&pairs)?;
    if let Some(url) = params.completed_url() {
        st.engine.recording(call_id, url.to_owned()).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A webhook about an existing call, read and verified.
enum CallWebhook {
    /// This node handles it: the call and the form.
    Here {
        call_id: Id,
        pairs: Vec<(String, String)>,
    },
    /// Another node owns the call and answered it.
    Passed(Response),
}

/// Reads a webhook about call `call_id` (or, without one, the call its
/// `ParentCallSid` / `CallSid` names), verifies its signature with the
/// call's tenant, and passes it to the node owning the call when that is
/// another node.
async fn call_webhook(
    st: &AppState,
    call_id: Option<Id>,
    hook: Webhook,
) -> Result<CallWebhook, ApiError> {
    let fields = Fields(&hook.pairs);
    let sid = call_id
        .is_none()
        .then(|| {
            fields
                .get("ParentCallSid")
                .or_else(|| fields.get("CallSid"))
        })
        .flatten();
    let (call_id, tenant) = st
        .engine
        .tenant_of_call(call_id, sid)
        .await?
        .ok_or(ApiError::UnknownCall)?;
    hook.verify(st, &tenant)?;
    Ok(
        match cluster::pass_to_owner(st, call_id, &hook.uri, &hook.headers, &hook.body).await {
            Some(answer) => CallWebhook::Passed(answer),
            None => CallWebhook::Here {
                call_id,
                pairs: hook.pairs,
            },
        },
    )
}

/// A Twilio webhook as it arrived: its form, and what its signature
/// covers. Its tenant depends on the route (the dialed number, the pool,
/// the call), so a handler finds that first, then [`Webhook::verify`]s
/// before it acts on anything in the form.
pub(crate) struct Webhook {
    route: String,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
    pairs: Vec<(String, String)>,
}

impl<S: Send + Sync> FromRequest<S> for Webhook {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(String::new, |m| m.as_str().to_owned());
        let (headers, uri) = (req.headers().clone(), req.uri().clone());
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|r| ApiError::Body {
                status: r.status(),
                message: r.body_text().to_lowercase(),
            })?;
        let pairs = parse_pairs(&body);
        Ok(Webhook {
            route,
            headers,
            uri,
            body,
            pairs,
        })
    }
}

impl Webhook {
    /// Checks the signature with `tenant`'s auth token over the public URL
    /// Twilio requested and the form; a failure is counted by route.
    fn verify(&self, st: &AppState, tenant: &Tenant) -> Result<(), ApiError> {
        let path_and_query = self
            .uri
            .path_and_query()
            .map_or_else(|| self.uri.path(), |pq| pq.as_str());
        let url = format!("{}{}", st.public_url, path_and_query);
        // An empty token would make the signature computable by anyone.
        let ok = !tenant.twilio_auth_token.is_empty()
            && self
                .headers
                .get(signature::HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|sig| {
                    signature::verify(&tenant.twilio_auth_token, &url, &self.pairs, sig)
                });
        if ok {
            Ok(())
        } else {
            names::SIGNATURE_FAILURES.inc_with(&[("route", self.route.as_str())]);
            Err(ApiError::InvalidSignature)
        }
    }
}

fn twiml_response(decision: &Decision, public_url: &str) -> Response {
    (
        [(header::CONTENT_TYPE, twiml::CONTENT_TYPE)],
        twiml::render(decision, public_url),
    )
        .into_response()
}
