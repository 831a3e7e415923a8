//! Node-to-node capacity requests: the internal endpoints a node's peers
//! call when it owns a buyer's shard, and [`ClusterLink`], the client side.
//!
//! - `POST /internal/capacity/reserve` ([`RemoteReserve`]) → `{"answer": "reserved" | "refused" | "not_owner"}`
//! - `POST /internal/capacity/release` ([`RemoteRelease`]) → 204
//! - `GET /internal/capacity/stats/{buyerId}` → the buyer's counters, or 409 `not_owner`
//! - `POST /internal/route` ([`RemoteRoute`]) → [`RouteAnswer`]: a buyer for a call, from
//!   the node that owns the campaign (its round-robin turn, its duplicate-caller window)
//! - `POST /internal/pool` ([`PoolRequest`]) → [`PoolAnswer`]: DNI leases, attribution and
//!   counters of a pool, from the node that owns its leases
//!
//! Every request carries `Authorization: Bearer <cluster secret>` (compared
//! in constant time). A node started without a cluster secret answers 404:
//! it is not in a cluster.
//!
//! A call's later webhooks (dial result, status, recording) that reach a
//! node other than the call's owner are passed on to the owner unchanged
//! (Twilio's signature still verifies there: the public URL is the same),
//! marked with [`FORWARDED`] so the owner handles them itself.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use switchboard_engine::{
    BuyerStats, EngineError, Peers, PoolAnswer, PoolRequest, RemoteAnswer, RemoteRelease,
    RemoteReserve, RemoteRoute, RouteAnswer,
};
use switchboard_model::Id;

use crate::admin::extract::Json;
use crate::error::ApiError;
use crate::server::AppState;
use switchboard_engine::metrics::WEBHOOKS_FORWARDED;

/// The internal routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/internal/capacity/reserve", post(reserve))
        .route("/internal/capacity/release", post(release))
        .route("/internal/capacity/stats/{buyerId}", get(stats))
        .route("/internal/pool", post(pool))
        .route("/internal/route", post(route))
}

#[derive(Serialize, Deserialize)]
struct Answer {
    answer: RemoteAnswer,
}

/// Only peers that know the secret may ask.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(link) = &state.cluster else {
        return Err(ApiError::NoRoute);
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if link.knows(g) => Ok(()),
        _ => Err(ApiError::Unauthorized),
    }
}

/// Header a node puts on a webhook it passes to the call's owner; its value
/// is the cluster secret.
pub(crate) const FORWARDED: &str = "x-switchboard-forwarded";

/// Passes a call's webhook to the node that owns the call, unless this node
/// should handle it: not in a cluster, the owner is this node (or nobody
/// now), or a peer forwarded it here already. `None`: handle it here, which
/// is also the fallback when the owner cannot be connected to (an owner that
/// was reached but did not answer gets Twilio a 503: it may be applying it).
pub(crate) async fn pass_to_owner(
    st: &AppState,
    call: Id,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let link = st.cluster.as_ref()?;
    if headers
        .get(FORWARDED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| link.knows(v))
    {
        return None;
    }
    let owner = st.engine.call_owner(call)?;
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path(), |pq| pq.as_str());
    let mut req = link
        .client
        .post(format!("{owner}{path}"))
        .header(FORWARDED, &*link.secret)
        .body(body.to_vec());
    for name in [
        header::CONTENT_TYPE.as_str(),
        crate::twilio::signature::HEADER,
    ] {
        if let Some(v) = headers.get(name) {
            req = req.header(name, v.clone());
        }
    }
    let answer = async {
        let resp = req.send().await?;
        let status = resp.status();
        let content_type = resp.headers().get(header::CONTENT_TYPE).cloned();
        let body = resp.bytes().await?;
        Ok::<_, reqwest::Error>((status, content_type, body))
    };
    match answer.await {
        // The owner's answer, whatever it is: it handled (or refused) the webhook.
        Ok((status, content_type, body)) => {
            WEBHOOKS_FORWARDED.inc_with(&[("result", "ok")]);
            let mut resp = (status, body).into_response();
            if let Some(ct) = content_type {
                resp.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            Some(resp)
        }
        // Never reached the owner: nothing was applied there, handle it here.
        Err(e) if e.is_connect() => {
            tracing::warn!(call = %call, %owner, error = %e, "the call's owner is unreachable; handling its webhook here");
            WEBHOOKS_FORWARDED.inc_with(&[("result", "unreachable")]);
            None
        }
        // The owner may be applying it: handling it here too could undo its
        // change. Twilio gets a 503.
        Err(e) => {
            tracing::warn!(call = %call, %owner, error = %e, "the call's owner did not answer its webhook");
            WEBHOOKS_FORWARDED.inc_with(&[("result", "failed")]);
            Some(
                ApiError::Engine(switchboard_engine::EngineError::Overloaded(
                    "the node handling this call did not answer".into(),
                ))
                .into_response(),
            )
        }
    }
}

async fn reserve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<RemoteReserve>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let answer = state.engine.serve_reserve(req).await;
    Ok(axum::Json(Answer { answer }).into_response())
}

async fn release(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<RemoteRelease>,
) -> Result<StatusCode, ApiError> {
    authorize(&state, &headers)?;
    state.engine.serve_release(req).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(buyer): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let buyer: Id = buyer
        .parse()
        .map_err(|_| ApiError::BadRequest("buyerId is not a uuid".into()))?;
    match state.engine.serve_stats(buyer).await {
        Some(s) => Ok(axum::Json(s).into_response()),
        None => Err(ApiError::Conflict(
            "not_owner: this node does not decide that buyer".into(),
        )),
    }
}

async fn pool(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<PoolRequest>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    Ok(axum::Json(state.engine.serve_pool(req).await?).into_response())
}

async fn route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<RemoteRoute>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    Ok(axum::Json(state.engine.serve_route(req).await?).into_response())
}

/// This node's link to its peers: the shared secret and an HTTP client.
pub struct ClusterLink {
    client: reqwest::Client,
    secret: Arc<str>,
}

impl ClusterLink {
    /// A link that authenticates with `secret`.
    pub fn new(secret: &str) -> anyhow::Result<ClusterLink> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(ClusterLink {
            client,
            secret: Arc::from(secret),
        })
    }

    /// Whether `given` is the cluster secret (constant time).
    fn knows(&self, given: &str) -> bool {
        bool::from(given.as_bytes().ct_eq(self.secret.as_bytes()))
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<Option<T>, EngineError> {
        let resp = req.bearer_auth(&self.secret).send().await.map_err(|e| {
            if e.is_connect() {
                EngineError::PeerUnreachable(e.to_string())
            } else {
                EngineError::PeerFailed(e.to_string())
            }
        })?;
        match resp.status() {
            StatusCode::NO_CONTENT => Ok(None),
            StatusCode::CONFLICT => Ok(None),
            s if s.is_success() => resp
                .json::<T>()
                .await
                .map(Some)
                .map_err(|e| EngineError::PeerFailed(e.to_string())),
            s => Err(EngineError::PeerFailed(format!("peer answered {s}"))),
        }
    }
}

#[async_trait]
impl Peers for ClusterLink {
    async fn reserve(&self, url: &str, req: &RemoteReserve) -> Result<RemoteAnswer, EngineError> {
        let answer: Option<Answer> = self
            .send(
                self.client
                    .post(format!("{url}/internal/capacity/reserve"))
                    .json(req),
            )
            .await?;
        answer
            .map(|a| a.answer)
            .ok_or_else(|| EngineError::PeerFailed("peer sent no answer".to_owned()))
    }

    async fn release(&self, url: &str, req: &RemoteRelease) -> Result<(), EngineError> {
        self.send::<serde_json::Value>(
            self.client
                .post(format!("{url}/internal/capacity/release"))
                .json(req),
        )
        .await
        .map(drop)
    }

    async fn stats(&self, url: &str, buyer: Id) -> Result<Option<BuyerStats>, EngineError> {
        self.send(
            self.client
                .get(format!("{url}/internal/capacity/stats/{buyer}")),
        )
        .await
    }

    async fn route(&self, url: &str, req: &RemoteRoute) -> Result<RouteAnswer, EngineError> {
        let answer: Option<RouteAnswer> = self
            .send(self.client.post(format!("{url}/internal/route")).json(req))
            .await?;
        answer.ok_or_else(|| EngineError::PeerFailed("peer sent no answer".to_owned()))
    }

    async fn pool(&self, url: &str, req: &PoolRequest) -> Result<PoolAnswer, EngineError> {
        let answer: Option<PoolAnswer> = self
            .send(self.client.post(format!("{url}/internal/pool")).json(req))
            .await?;
        answer.ok_or_else(|| EngineError::PeerFailed("peer sent no answer".to_owned()))
    }
}
