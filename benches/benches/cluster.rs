//! What a cluster costs a call: the voice webhook on the node that owns the
//! call's campaign and buyer, against the same webhook on the other node,
//! which asks the owner over loopback HTTP (`POST /internal/route`), and
//! against a node outside any cluster (the baseline, in the same run).
//!
//! Run: `cargo bench -p switchboard-benches --bench cluster` (with `CI` set,
//! sampling is short).
//!
//! - `cluster/voice/single`: no cluster; the path of `webhook/voice/sequential`.
//! - `cluster/voice/owner`: two nodes on one store; the webhook reaches the
//!   node owning the campaign and the buyer: everything is decided locally.
//! - `cluster/voice/other`: the webhook reaches the other node, which asks
//!   the owner for a buyer (one HTTP round trip on loopback) and then
//!   records the call itself.
//!
//! One call at a time, so each figure is the latency a lone call sees; the
//! durable commit (an fsync) is in all three. The two nodes share one
//! embedded store in one process, standing in for two nodes on ScyllaDB.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchboard::cluster::ClusterLink;
use switchboard::{AppState, app};
use switchboard_engine::{ClusterTiming, Engine, EngineConfig};
use switchboard_model::{Buyer, Campaign, Id, Tenant, new_id};
use switchboard_store::{EmbeddedStore, Store};
use tower::ServiceExt;

mod common;
use common::{ACCOUNT, PUBLIC_URL, TOKEN, TRACKING, voice_request};

const SECRET: &str = "bench-cluster-secret-0123456789";

/// A node serving on loopback (peers reach it there), joined to the cluster.
async fn node(store: Arc<dyn Store>) -> (Engine, axum::Router) {
    let engine = Engine::start(store, EngineConfig::default())
        .await
        .expect("engine");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let link = Arc::new(ClusterLink::new(SECRET).expect("link"));
    // A fresh store: no lease was ever held, so the shards are served at once.
    engine
        .join_cluster(&url, ClusterTiming::default(), link.clone())
        .await
        .expect("join");
    let mut state = AppState::new(engine.clone(), PUBLIC_URL);
    state.cluster = Some(link);
    let router = app(state.clone());
    tokio::spawn(switchboard::run(listener, state, std::future::pending()));
    (engine, router)
}

/// A tenant, an uncapped buyer and a campaign on the tracking number, with
/// ids `owned` accepts (so a chosen node owns them).
async fn seed(engine: &Engine, owned: impl Fn(Id) -> bool) {
    let pick = || {
        std::iter::repeat_with(new_id)
            .find(|id| owned(*id))
            .expect("an id")
    };
    let tenant: Tenant = serde_json::from_value(serde_json::json!({
        "id": new_id(), "name": "bench", "twilioAccountSid": ACCOUNT, "twilioAuthToken": TOKEN, "createdAt": Utc::now()
    }))
    .expect("tenant");
    let tenant = engine.put_tenant(tenant, None).await.expect("tenant");
    let buyer: Buyer = serde_json::from_value(serde_json::json!({
        "id": pick(), "tenantId": tenant.id, "name": "Unlimited", "phoneNumber": "+15550002001",
        "timezone": "America/New_York", "conversionSeconds": 60, "revenue": 25.00, "currency": "USD"
    }))
    .expect("buyer");
    let buyer = engine.put_buyer(buyer, None).await.expect("buyer");
    let campaign: Campaign = serde_json::from_value(serde_json::json!({
        "id": pick(), "tenantId": tenant.id, "name": "bench", "status": "active", "phoneNumber": TRACKING,
        "routingPolicy": "priority", "duplicateWindowHours": 0, "buyers": [{"buyerId": buyer.id, "priority": 1}]
    }))
    .expect("campaign");
    engine.put_campaign(campaign, None).await.expect("campaign");
}

async fn dial(router: axum::Router, req: Request<Body>) {
    let resp = router.oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
    let body = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .expect("body");
    assert!(
        body.windows(6).any(|w| w == b"<Dial "),
        "not routed: {}",
        String::from_utf8_lossy(&body)
    );
}

fn voice(c: &mut Criterion) {
    let ci = std::env::var_os("CI").is_some();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let seq = AtomicU64::new(1);

    // The baseline: one node, no cluster.
    let single_dir = tempfile::TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let single = rt.block_on(async {
        let store: Arc<dyn Store> =
            Arc::new(EmbeddedStore::open(single_dir.path()).expect("store"));
        let engine = Engine::start(store, EngineConfig::default())
            .await
            .expect("engine");
        seed(&engine, |_| true).await;
        engine
    });
    let single_router = app(AppState::new(single.clone(), PUBLIC_URL));

    // Two nodes on one store; the campaign and buyer belong to `a`.
    let dir = tempfile::TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let ((a, a_router), (b, b_router)) = rt.block_on(async {
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).expect("store"));
        let a = node(store.clone()).await;
        let b = node(store).await;
        while !(a.0.cluster_converged() && b.0.cluster_converged()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Ids that, as `b` sees it, another node (`a`) owns.
        let b_engine = b.0.clone();
        seed(&a.0, move |id| b_engine.call_owner(id).is_some()).await;
        b.0.sync_config().await.expect("sync");
        (a, b)
    });

    let mut group = c.benchmark_group("cluster/voice");
    if ci {
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("single", |bench| {
        bench.iter(|| rt.block_on(dial(single_router.clone(), voice_request(&seq))))
    });
    group.bench_function("owner", |bench| {
        bench.iter(|| rt.block_on(dial(a_router.clone(), voice_request(&seq))))
    });
    group.bench_function("other", |bench| {
        bench.iter(|| rt.block_on(dial(b_router.clone(), voice_request(&seq))))
    });
    group.finish();
    rt.block_on(async {
        single.shutdown().await;
        b.shutdown().await;
        a.shutdown().await;
    });
}

criterion_group!(benches, voice);
criterion_main!(benches);
