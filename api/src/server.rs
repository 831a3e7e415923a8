//! The router, its state and the server loop.
//!
//! [`app`] builds the whole HTTP surface so tests can drive it with `oneshot`;
//! [`run`] serves it on a bound listener until a shutdown signal, drains
//! in-flight requests, then flushes the engine.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dashmap::DashMap;
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
    /// One permit per webhook in flight ([`MAX_IN_FLIGHT_WEBHOOKS`]), taken
    /// once the webhook's body has arrived.
    pub webhook_slots: Arc<tokio::sync::Semaphore>,
    /// Timeouts and the per-address cap of client connections.
    pub conn_limits: ConnLimits,
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
    /// `serve --demo`: serve the demo's pixel receiver too.
    pub demo: bool,
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
            conn_limits: ConnLimits::default(),
            trust_forwarded_for: false,
            login_limiter: Arc::default(),
            accounts_lock: Arc::default(),
            twilio: crate::twilio::rest::TwilioRest::new(crate::twilio::rest::DEFAULT_BASE),
            dni_limiter: Arc::new(dni::Limiter::new(dni::DniLimits::default())),
            dni_sessions: Arc::default(),
            cluster: None,
            console: None,
            demo: false,
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
        .route(
            "/api/webhooks/pool/{poolId}/voice",
            post(webhooks::pool_voice),
        )
        .route(
            "/api/webhooks/dial-status/{callId}",
            post(webhooks::dial_status),
        )
        .route("/api/webhooks/status", post(webhooks::status))
        .route(
            "/api/webhooks/recording/{callId}",
            post(webhooks::recording),
        )
        // A route layer runs after routing, so `MatchedPath` is known.
        .route_layer(shed)
        .route_layer(middleware::from_fn(count_webhooks))
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT));
    let mut router = Router::new();
    if state.demo {
        router = router.route(
            crate::demo::PIXEL_RECEIVER,
            axum::routing::any(crate::demo::pixel_receiver),
        );
    }
    router
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/dni.js", get(crate::dni_script::serve))
        .merge(hooks)
        .merge(admin::routes())
        .merge(crate::cluster::routes())
        .fallback(console_or_not_found)
        // Any other body may not stall longer than this between chunks.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.conn_limits.body_timeout,
        ))
        .with_state(state)
}

/// How long a client may take to send what it sends, and how many
/// connections one address may hold: a slow or stalled client costs a
/// connection for a bounded time, never a webhook slot.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// A request's head must arrive within this of the connection opening or
    /// of the previous answer: it is also the keep-alive idle timeout.
    pub header_timeout: Duration,
    /// A request's whole body must arrive within this of its head (a webhook's
    /// in total; any other body may pause this long between chunks).
    pub body_timeout: Duration,
    /// Open connections per client address; `None`: no cap (the default,
    /// since behind a proxy or from Twilio's egress many calls share one).
    pub per_address: Option<usize>,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            per_address: None,
        }
    }
}

/// Serves `app(state)` on `listener` until `shutdown` resolves; then stops
/// accepting, lets in-flight requests finish (up to [`DRAIN_TIMEOUT`]) and
/// shuts the engine down, which flushes the recorder.
///
/// Connections are served by hyper directly (not `axum::serve`) so that
/// [`ConnLimits`] apply: a header-read timer, which also closes idle
/// keep-alive connections, and the per-address cap.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let engine = state.engine.clone();
    let ready = state.ready.clone();
    let limits = state.conn_limits;
    ready.store(true, Ordering::SeqCst);
    let router = app(state);
    let per_address: Arc<DashMap<IpAddr, usize>> = Arc::default();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let held = match limits.per_address {
            Some(cap) => match AddressSlot::take(&per_address, peer.ip(), cap) {
                Some(slot) => Some(slot),
                None => {
                    names::CONNECTIONS_REFUSED.inc();
                    continue;
                }
            },
            None => None,
        };
        let _ = socket.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            // The peer address feeds the per-address login limit (`ConnectInfo`).
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            tower::ServiceExt::oneshot(router.clone(), req.map(axum::body::Body::new))
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(hyper_util::rt::TokioIo::new(socket), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _held = held;
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    ready.store(false, Ordering::SeqCst);
    tracing::info!("shutting down: finishing in-flight requests");
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?DRAIN_TIMEOUT, "in-flight requests did not finish in time");
    }
    engine.shutdown().await;
    tracing::info!("engine stopped");
    Ok(())
}

/// One open connection counted against its client address; given back on drop.
struct AddressSlot {
    map: Arc<DashMap<IpAddr, usize>>,
    ip: IpAddr,
}

impl AddressSlot {
    /// A slot for `ip`, or `None` when it holds `cap` connections already.
    fn take(map: &Arc<DashMap<IpAddr, usize>>, ip: IpAddr, cap: usize) -> Option<AddressSlot> {
        let mut open = map.entry(ip).or_insert(0);
        if *open >= cap {
            return None;
        }
        *open += 1;
        Some(AddressSlot {
            map: map.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if let dashmap::Entry::Occupied(mut e) = self.map.entry(self.ip) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}

/// The admin console's pages and assets; anything else is the API's 404.
async fn console_or_not_found(
    State(state): State<AppState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> Response {
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
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Reads a webhook's whole body, within [`ConnLimits::body_timeout`] and
/// [`WEBHOOK_BODY_LIMIT`], and only then takes one of the
/// [`MAX_IN_FLIGHT_WEBHOOKS`] slots: a client that sends slowly holds its own
/// connection, never a slot real calls need. Past the limit, 503 and a count:
/// load is shed at the edge, not queued.
async fn shed_load(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, WEBHOOK_BODY_LIMIT);
    let read = tokio::time::timeout(
        state.conn_limits.body_timeout,
        http_body_util::BodyExt::collect(limited),
    )
    .await;
    let bytes = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            let message = format!("the body is over {WEBHOOK_BODY_LIMIT} bytes");
            return ApiError::Body {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message,
            }
            .into_response();
        }
        // Stalled between chunks (the router's layer) or overdue in total.
        Ok(Err(e)) if !caused_by::<tower_http::timeout::TimeoutError>(&*e) => {
            return ApiError::Body {
                status: StatusCode::BAD_REQUEST,
                message: format!("the body could not be read: {e}"),
            }
            .into_response();
        }
        Ok(Err(_)) | Err(_) => {
            names::WEBHOOK_BODY_TIMEOUTS.inc();
            return ApiError::Body {
                status: StatusCode::REQUEST_TIMEOUT,
                message: "the body did not arrive in time".into(),
            }
            .into_response();
        }
    };
    match state.webhook_slots.clone().try_acquire_owned() {
        Ok(_permit) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Err(_) => {
            names::WEBHOOKS_SHED.inc();
            ApiError::Engine(switchboard_engine::EngineError::Overloaded(
                "too many webhooks in flight".into(),
            ))
            .into_response()
        }
    }
}

/// Whether `T` is anywhere in `e`'s chain of sources (bodies wrap their errors).
fn caused_by<T: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(e), |e| e.source()).any(|e| e.is::<T>())
}

/// Counts every webhook answer by route template and status: bounded labels.
async fn count_webhooks(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    names::WEBHOOKS.inc_with(&[
        ("route", route.as_str()),
        ("status", resp.status().as_u16().to_string().as_str()),
    ]);
    resp
}
