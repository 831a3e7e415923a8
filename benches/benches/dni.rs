//! DNI: the lease table of one number pool (the pool actor's whole work per
//! track request, without the mailbox).
//!
//! Run: `cargo bench -p switchboard-benches --bench dni`. With `CI` set, the
//! pool shrinks to 100 numbers and sampling is short.
//!
//! The pool has N numbers (1000; 100 under CI), a 60 s session timeout, and
//! is kept at steady state: N sessions live, the clock advancing so that one
//! lease expires for each new one. Sessions are `u64`s, so the numbers are
//! the table's own cost, not string hashing of session ids.
//!
//! - `dni/lease/new`: a new visitor: ends the expired lease(s), takes the
//!   least recently released number. Read against the track endpoint's
//!   budget (a store write per new visit dominates; this should be about a
//!   microsecond): one pool actor serves 1 / this many new visitors a second.
//! - `dni/lease/renew`: a returning visitor (page reload): finds its live
//!   lease and moves its expiry. The common case on a busy site.
//! - `dni/refresh`: a heartbeat that only extends a live lease.
//! - `dni/holder_at`: attributing a call to the session holding a number.
//!
//! And `POST /api/dni/track` through `switchboard::app(state)` with
//! `tower::ServiceExt::oneshot` (no socket; rate limits lifted), on a pool of
//! 200 numbers set up through the admin API on a fresh embedded store under
//! the target dir:
//! - `dni/track/renew`: a returning visitor: its session id's signature
//!   checked (one HMAC-SHA256), tag lookup (two store reads),
//!   the pool actor's renewal, JSON. No store write (a visit is rewritten at
//!   most once a minute), so this is the heartbeat's cost.
//! - `dni/track/new`: a new visitor each time: as above plus one durable
//!   store write of the visit (an fsync: it usually dominates). Past 200
//!   visitors the pool is exhausted and the fallback answer pays the same
//!   write, so the figure holds for both.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchboard::{AppState, DniLimits, app};
use switchboard_dni::{LeaseTable, Settings};
use switchboard_engine::{Engine, EngineConfig};
use switchboard_store::{EmbeddedStore, Store};
use tower::ServiceExt;

const PUBLIC_URL: &str = "https://switchboard.example.com";

fn ci() -> bool {
    std::env::var_os("CI").is_some()
}

fn size() -> u64 {
    if ci() { 100 } else { 1000 }
}

const TIMEOUT_SECS: i64 = 60;

fn at(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_800_000_000_000 + millis)
        .unwrap()
}

/// A pool at steady state: `size()` sessions leased, one every
/// `TIMEOUT / size` ms; returns the table and the next session's time.
fn steady() -> (LeaseTable<u64, u64, ()>, i64, i64) {
    let n = size();
    let settings = Settings {
        session_timeout: chrono::Duration::seconds(TIMEOUT_SECS),
        closed_browser_delay: chrono::Duration::seconds(30),
    };
    let mut table = LeaseTable::new(0..n, settings);
    let step = TIMEOUT_SECS * 1000 / n as i64;
    for s in 0..n {
        table.lease(s, at(s as i64 * step), || ());
    }
    (table, step, n as i64 * step)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("dni");
    if ci() {
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
    }
    group.throughput(Throughput::Elements(1));

    let (mut table, step, mut now) = steady();
    let mut session = size();
    group.bench_function("lease/new", |b| {
        b.iter(|| {
            session += 1;
            now += step;
            black_box(table.lease(session, at(now), || ()).is_some())
        })
    });

    let (mut table, _, now) = steady();
    let n = size();
    let mut i = 0u64;
    group.bench_function("lease/renew", |b| {
        b.iter(|| {
            // The newest half of the sessions is live at `now`.
            i = (i + 1) % (n / 2);
            black_box(table.lease(n / 2 + i, at(now), || ()).is_some())
        })
    });

    let (mut table, _, now) = steady();
    group.bench_function("refresh", |b| {
        b.iter(|| {
            i = (i + 1) % (n / 2);
            black_box(table.refresh(
                &(n / 2 + i),
                at(now),
                chrono::Duration::seconds(TIMEOUT_SECS),
            ))
        })
    });

    let (table, _, now) = steady();
    group.bench_function("holder_at", |b| {
        b.iter(|| {
            i = (i + 1) % n;
            black_box(table.holder_at(&i, at(now)).is_some())
        })
    });
    group.finish();
}

/// Sends one request; panics unless the status is `expect`. Returns the
/// `Set-Cookie` session, if any.
async fn send(
    router: &axum::Router,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: serde_json::Value,
    expect: StatusCode,
) -> Option<String> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, PUBLIC_URL);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let resp = router
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).expect("request"))
        .await
        .expect("infallible");
    let cookie = resp
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    assert_eq!(
        status,
        expect,
        "{method} {path}: {}",
        String::from_utf8_lossy(&bytes)
    );
    cookie
}

/// The session id a track request is answered with.
async fn track_session(router: &axum::Router, body: serde_json::Value) -> String {
    let req = Request::post("/api/dni/track")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let v: serde_json::Value = serde_json::from_slice(
        &axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body"),
    )
    .expect("json");
    v["sessionId"].as_str().expect("a session id").to_owned()
}

/// A tenant with a 200-number pool and the tag `bench`, made through the admin API.
async fn setup(router: &axum::Router) {
    let signup = serde_json::json!({"username": "owner", "password": "correct horse", "tenantName": "Bench"});
    let cookie = send(
        router,
        "POST",
        "/api/auth/signup",
        None,
        signup,
        StatusCode::CREATED,
    )
    .await
    .expect("session cookie");
    let numbers: Vec<String> = (0..200)
        .map(|i| format!("+1555000{:04}", 3000 + i))
        .collect();
    for n in &numbers {
        send(
            router,
            "POST",
            "/api/numbers",
            Some(&cookie),
            serde_json::json!({"phoneNumber": n}),
            StatusCode::CREATED,
        )
        .await;
    }
    let pool =
        serde_json::json!({"name": "Main", "numbers": numbers, "sessionTimeoutSeconds": 3600});
    send(
        router,
        "POST",
        "/api/pools",
        Some(&cookie),
        pool,
        StatusCode::CREATED,
    )
    .await;
    let pools = router
        .clone()
        .oneshot(
            Request::get("/api/pools")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let pools: serde_json::Value = serde_json::from_slice(
        &axum::body::to_bytes(pools.into_body(), 1 << 20)
            .await
            .unwrap(),
    )
    .unwrap();
    let tag =
        serde_json::json!({"name": "Bench", "tagCode": "bench", "poolId": pools["items"][0]["id"]});
    send(
        router,
        "POST",
        "/api/tracking-tags",
        Some(&cookie),
        tag,
        StatusCode::CREATED,
    )
    .await;
}

fn track(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let engine = rt.block_on(async {
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).expect("open store"));
        Engine::start(store, EngineConfig::default())
            .await
            .expect("start engine")
    });
    let unlimited = DniLimits {
        per_ip_per_minute: u32::MAX,
        per_tag_per_minute: u32::MAX,
    };
    let router = app(AppState::new(engine.clone(), PUBLIC_URL).with_dni_limits(unlimited));
    rt.block_on(setup(&router));
    let visit = |session: Option<&str>| serde_json::json!({"tagCode": "bench", "sessionId": session, "landingPage": "https://shop.example/?utm_source=google&gclid=x"});

    let mut group = c.benchmark_group("dni/track");
    if ci() {
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
    }
    group.throughput(Throughput::Elements(1));
    // The server mints session ids: a returning visitor sends the one it was given.
    let returning = rt.block_on(track_session(&router, visit(None)));
    group.bench_function("renew", |b| {
        b.iter(|| {
            rt.block_on(send(
                &router,
                "POST",
                "/api/dni/track",
                None,
                visit(Some(&returning)),
                StatusCode::OK,
            ))
        });
    });
    group.bench_function("new", |b| {
        b.iter(|| {
            rt.block_on(send(
                &router,
                "POST",
                "/api/dni/track",
                None,
                visit(None),
                StatusCode::OK,
            ))
        });
    });
    group.finish();
    rt.block_on(engine.shutdown());
}

criterion_group!(benches, bench, track);
criterion_main!(benches);
