//! The router, its state and the server loop.
//!
//! [`app`] builds the whole HTTP surface so tests can drive it with `oneshot`;
//! [`run`] serves it on a bound listener until a shutdown signal, drains
//! in-flight requests, then flushes the engine.

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use switchboard_engine::{Engine, metrics as names};

use crate::error::ApiError;
use crate::{admin, dni, telemetry, webhooks};

/// Largest webhook body accepted; Twilio's are a few KiB.
pub const WEBHOOK_BODY_LIMIT: usize = 64 * 1024;

/// Most webhooks handled at once; past it, more are refused with 503 (and
/// Twilio retries or plays its fallback) instead of queueing without bound.
pub const MAX_IN_FLIGHT_WEBHOOKS: usize = 4096;

/// How long in-flight requests may take to finish after a shutdown signal.
/// Longer than Twilio's 15 s webhook timeout: past it, nobody is waiting.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Engine,
    /// The base URL Twilio is configured with (and signs), no trailing slash.
    pub public_url: Arc<str>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// False once shutdown begins: `/readyz` answers 503.
    pub ready: Arc<AtomicBool>,
    /// Whether `POST /api/auth/signup` may create tenants.
    pub signup_enabled: bool,
    /// One permit per webhook in flight ([`MAX_IN_FLIGHT_WEBHOOKS`]).
    pub webhook_slots: Arc<tokio::sync::Semaphore>,
    /// Whether the client address is the last one in `X-Forwarded-For`
    /// (set it only behind a proxy that appends it; otherwise anyone could
    /// pick the address their failed logins are counted against).
    pub trust_forwarded_for: bool,
    /// Failed logins per username and per client address.
    pub(crate) login_limiter: Arc<admin::auth::LoginLimiter>,
    /// Serializes user and role changes, so two concurrent demotions cannot
    /// both pass the "one owner remains" check.
    pub(crate) accounts_lock: Arc<tokio::sync::Mutex<()>>,
    /// Twilio's REST API (number provisioning); its base URL is configuration.
    pub twilio: crate::twilio::rest::TwilioRest,
    /// Rate limits of the public DNI track endpoint.
    pub(crate) dni_limiter: Arc<dni::Limiter>,
    /// Mints and checks DNI session ids (its key is read from the store on first use).
    pub(crate) dni_sessions: Arc<dni::SessionIds>,
    /// How this node talks to its peers (`None`: not in a cluster).
    pub cluster: Option<Arc<crate::cluster::ClusterLink>>,
    /// The admin console's built files (`None`: `/` says how to build it).
    pub console: Option<Arc<crate::console::Console>>,
}

impl AppState {
    /// State for `engine` behind `public_url`, with the process's Prometheus recorder.
    pub fn new(engine: Engine, public_url: &str) -> Self {
        Self {
            engine,
            public_url: Arc::from(public_url.trim_end_matches('/')),
            metrics: telemetry::prometheus(),
            ready: Arc::new(AtomicBool::new(true)),
            signup_enabled: true,
            webhook_slots: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT_WEBHOOKS)),
            trust_forwarded_for: false,
            login_limiter: Arc::default(),
            accounts_lock: Arc::default(),
            twilio: crate::twilio::rest::TwilioRest::new(crate::twilio::rest::DEFAULT_BASE),
            dni_limiter: Arc::new(dni::Limiter::new(dni::DniLimits::default())),
            dni_sessions: Arc::default(),
            cluster: None,
            console: None,
        }
    }

    /// The same state with other rate limits for `POST /api/dni/track`.
    pub fn with_dni_limits(mut self, limits: dni::DniLimits) -> Self {
        self.dni_limiter = Arc::new(dni::Limiter::new(limits));
        self
    }
}

/// The whole HTTP surface: webhooks, the admin API, health, readiness and metrics.
pub fn app(state: AppState) -> Router {
    let shed = middleware::from_fn_with_state(state.clone(), shed_load);
    let hooks = Router::new()
        .route("/api/webhooks/voice", post(webhooks::voice))
        .route("/api/webhooks/pool/{poolId}/voice", post(webhooks::pool_voice))
        .route("/api/webhooks/dial-status/{callId}", post(webhooks::dial_status))
        .route("/api/webhooks/status", post(webhooks::status))
        .route("/api/webhooks/recording/{callId}", post(webhooks::recording))
        // A route layer runs after routing, so `MatchedPath` is known.
        .route_layer(shed)
        .route_layer(middleware::from_fn(count_webhooks))
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/dni.js", get(crate::dni_script::serve))
        .merge(hooks)
        .merge(admin::routes())
        .merge(crate::cluster::routes())
        .fallback(console_or_not_found)
        .with_state(state)
}

/// Serves `app(state)` on `listener` until `shutdown` resolves; then stops
/// accepting, lets in-flight requests finish (up to [`DRAIN_TIMEOUT`]) and
/// shuts the engine down, which flushes the recorder.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let engine = state.engine.clone();
    let ready = state.ready.clone();
    ready.store(true, Ordering::SeqCst);
    let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        ready.store(false, Ordering::SeqCst);
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = draining_tx.send(());
    };
    // The peer address feeds the per-address login limit.
    let service = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, service).with_graceful_shutdown(signal).into_future();
    let drain_deadline = async move {
        match draining_rx.await {
            Ok(()) => tokio::time::sleep(DRAIN_TIMEOUT).await,
            // The signal future was dropped: the server ended on its own.
            Err(_) => std::future::pending().await,
        }
    };
    let served = tokio::select! {
        r = server => r,
        () = drain_deadline => {
            tracing::warn!(timeout = ?DRAIN_TIMEOUT, "in-flight requests did not finish in time");
            Ok(())
        }
    };
    engine.shutdown().await;
    tracing::info!("engine stopped");
    served
}

/// The admin console's pages and assets; anything else is the API's 404.
async fn console_or_not_found(State(state): State<AppState>, method: axum::http::Method, uri: axum::http::Uri) -> Response {
    if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        match &state.console {
            Some(console) => {
                if let Some(resp) = console.get(uri.path()) {
                    return resp;
                }
            }
            None if uri.path() == "/" => return crate::console::not_built(),
            None => {}
        }
    }
    ApiError::NoRoute.into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render()).into_response()
}

/// Refuses a webhook with 503 when [`MAX_IN_FLIGHT_WEBHOOKS`] are already
/// being handled, and counts it: load is shed at the edge, not queued.
async fn shed_load(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match state.webhook_slots.clone().try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => {
            metrics::counter!(names::WEBHOOKS_SHED).increment(1);
            ApiError::Engine(switchboard_engine::EngineError::Overloaded("too many webhooks in flight".into())).into_response()
        }
    }
}

/// Counts every webhook answer by route template and status: bounded labels.
async fn count_webhooks(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    metrics::counter!(names::WEBHOOKS, "route" => route, "status" => resp.status().as_u16().to_string()).increment(1);
    resp
}
