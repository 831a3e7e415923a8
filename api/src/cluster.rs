//! Node-to-node capacity requests: the internal endpoints a node's peers
//! call when it owns a buyer's shard, and [`HttpPeers`], the client side.
//!
//! - `POST /internal/capacity/reserve` ([`RemoteReserve`]) → `{"answer": "reserved" | "refused" | "not_owner"}`
//! - `POST /internal/capacity/release` ([`RemoteRelease`]) → 204
//! - `GET /internal/capacity/stats/{buyerId}` → the buyer's counters, or 409 `not_owner`
//!
//! Every request carries `Authorization: Bearer <cluster secret>` (compared
//! in constant time). A node started without a cluster secret answers 404:
//! it is not in a cluster.

use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use switchboard_engine::{BuyerStats, Peers, RemoteAnswer, RemoteRelease, RemoteReserve};
use switchboard_model::Id;

use crate::admin::extract::Json;
use crate::error::ApiError;
use crate::server::AppState;

/// The internal routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/internal/capacity/reserve", post(reserve))
        .route("/internal/capacity/release", post(release))
        .route("/internal/capacity/stats/{buyerId}", get(stats))
}

#[derive(Serialize, Deserialize)]
struct Answer {
    answer: RemoteAnswer,
}

/// Only peers that know the secret may ask.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(secret) = &state.cluster_secret else { return Err(ApiError::NoRoute) };
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if bool::from(g.as_bytes().ct_eq(secret.as_bytes())) => Ok(()),
        _ => Err(ApiError::Unauthorized),
    }
}

async fn reserve(State(state): State<AppState>, headers: HeaderMap, Json(req): Json<RemoteReserve>) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let answer = state.engine.serve_reserve(req).await;
    Ok(axum::Json(Answer { answer }).into_response())
}

async fn release(State(state): State<AppState>, headers: HeaderMap, Json(req): Json<RemoteRelease>) -> Result<StatusCode, ApiError> {
    authorize(&state, &headers)?;
    state.engine.serve_release(req).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn stats(State(state): State<AppState>, headers: HeaderMap, Path(buyer): Path<String>) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let buyer: Id = buyer.parse().map_err(|_| ApiError::BadRequest("buyerId is not a uuid".into()))?;
    match state.engine.serve_stats(buyer).await {
        Some(s) => Ok(axum::Json(s).into_response()),
        None => Err(ApiError::Conflict("not_owner: this node does not decide that buyer".into())),
    }
}

/// Peers over HTTP, with the shared secret.
pub struct HttpPeers {
    client: reqwest::Client,
    secret: String,
}

impl HttpPeers {
    /// A client that authenticates with `secret`.
    pub fn new(secret: &str) -> anyhow::Result<HttpPeers> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(HttpPeers { client, secret: secret.to_owned() })
    }

    async fn send<T: serde::de::DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<Option<T>, String> {
        let resp = req.bearer_auth(&self.secret).send().await.map_err(|e| e.to_string())?;
        match resp.status() {
            StatusCode::NO_CONTENT => Ok(None),
            StatusCode::CONFLICT => Ok(None),
            s if s.is_success() => resp.json::<T>().await.map(Some).map_err(|e| e.to_string()),
            s => Err(format!("peer answered {s}")),
        }
    }
}

#[async_trait]
impl Peers for HttpPeers {
    async fn reserve(&self, url: &str, req: &RemoteReserve) -> Result<RemoteAnswer, String> {
        let answer: Option<Answer> = self.send(self.client.post(format!("{url}/internal/capacity/reserve")).json(req)).await?;
        answer.map(|a| a.answer).ok_or_else(|| "peer sent no answer".to_owned())
    }

    async fn release(&self, url: &str, req: &RemoteRelease) -> Result<(), String> {
        self.send::<serde_json::Value>(self.client.post(format!("{url}/internal/capacity/release")).json(req)).await.map(drop)
    }

    async fn stats(&self, url: &str, buyer: Id) -> Result<Option<BuyerStats>, String> {
        self.send(self.client.get(format!("{url}/internal/capacity/stats/{buyer}"))).await
    }
}
