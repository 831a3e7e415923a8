//! The voice webhook, handled in-process, and its pure parts.
//!
//! Run: `cargo bench -p switchboard-benches --bench webhook`. With `CI` set,
//! the concurrent batch shrinks to 16 and sampling is short.
//!
//! - `webhook/voice/sequential`: one signed `POST /api/webhooks/voice` driven
//!   through `switchboard::app(state)` with `tower::ServiceExt::oneshot` — no
//!   socket, but everything else a real call pays: signature check, form
//!   parse, tenant and number lookup, the campaign and buyer actors' routing
//!   decision, the recorder's durable commit (an fsync on a real disk under
//!   the target dir) and TwiML rendering. One call at a time, so each
//!   iteration waits for its own commit: read it as the latency a lone call
//!   sees; fsync usually dominates.
//! - `webhook/voice/concurrent/{N}`: N signed calls at once on a two-thread
//!   runtime. Throughput is calls/s; the recorder's group commit shares one
//!   fsync among the calls waiting together, so this should be far above
//!   1 / (sequential latency). If it is not, group commit is not grouping.
//! - `webhook/signature/verify`: `X-Twilio-Signature` verification of a
//!   typical 12-parameter voice webhook (sort, HMAC-SHA1, base64 decode,
//!   constant-time compare, twice when the default-port variant is tried).
//! - `webhook/twiml/{dial,reject}`: rendering a `Decision` to TwiML with
//!   escaping. Both should be a few hundred nanoseconds; they bound how much
//!   of the webhook's time is ours rather than the engine's or the disk's.
//!
//! The buyer has no caps and unlimited concurrency, so every call is routed
//! (a `<Dial>`), and each iteration uses a fresh `CallSid`, so none is a
//! replay. The store and the live-call table grow across iterations, as in
//! production.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchboard::twilio::{signature, twiml};
use switchboard::{AppState, app};
use switchboard_engine::{Decision, Engine, EngineConfig};
use switchboard_model::{
    Buyer, BuyerAssignment, BuyerStatus, CallerIdMode, Campaign, CampaignStatus, Caps, Currency,
    DuplicateAction, GeoFilter, PhoneNumber, RejectReason, RoutingPolicy, RoutingType, Tenant,
    new_id,
};
use switchboard_store::{EmbeddedStore, Store};
use tower::ServiceExt;

mod common;
use common::{ACCOUNT, PUBLIC_URL, TOKEN, TRACKING, voice_params, voice_request};

fn number(s: &str) -> PhoneNumber {
    PhoneNumber::parse(s).expect("valid number")
}

/// An engine on a fresh store with one tenant, one uncapped buyer and one campaign.
async fn engine(dir: &std::path::Path) -> Engine {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir).expect("open store"));
    let engine = Engine::start(store, EngineConfig::default())
        .await
        .expect("start engine");
    let tenant = Tenant {
        id: new_id(),
        name: "bench".into(),
        twilio_account_sid: Some(ACCOUNT.into()),
        twilio_auth_token: TOKEN.into(),
        timezone: chrono_tz::Tz::UTC,
        publisher_sees_caller_numbers: false,
        version: 0,
        created_at: Utc::now(),
    };
    let tenant = engine.put_tenant(tenant, None).await.expect("tenant");
    let buyer = Buyer {
        id: new_id(),
        tenant_id: tenant.id,
        name: "Unlimited".into(),
        company: String::new(),
        contact: String::new(),
        phone_number: number("+15550002001"),
        status: BuyerStatus::Active,
        timezone: chrono_tz::America::New_York,
        caps: Caps::default(),
        schedule: None,
        geo: GeoFilter::default(),
        conversion_seconds: 60,
        revenue: 2500,
        currency: Currency::USD,
        version: 0,
        filters: Vec::new(),
    };
    let buyer = engine.put_buyer(buyer, None).await.expect("buyer");
    let campaign = Campaign {
        id: new_id(),
        tenant_id: tenant.id,
        name: "bench".into(),
        description: String::new(),
        status: CampaignStatus::Active,
        routing_type: RoutingType::Direct,
        phone_number: Some(number(TRACKING)),
        pool_id: None,
        rtb_router_id: None,
        routing_policy: RoutingPolicy::Priority,
        buyers: vec![BuyerAssignment {
            buyer_id: buyer.id,
            priority: 1,
            weight: 1,
        }],
        recording: false,
        dial_timeout_seconds: 30,
        caller_id_mode: CallerIdMode::Caller,
        duplicate_window_hours: 0,
        duplicate_action: DuplicateAction::SameBuyer,
        max_fallthrough: 3,
        tags: Default::default(),
        payout_rules: Vec::new(),
        version: 0,
    };
    engine.put_campaign(campaign, None).await.expect("campaign");
    engine
}

async fn handle(router: axum::Router, req: Request<Body>) {
    let resp = router.oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
    let body = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .expect("body");
    assert!(body.starts_with(b"<?xml"), "not TwiML");
}

fn voice(c: &mut Criterion) {
    let ci = std::env::var_os("CI").is_some();
    let batch: usize = if ci { 16 } else { 64 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let engine = rt.block_on(engine(dir.path()));
    let router = app(AppState::new(engine.clone(), PUBLIC_URL));
    let seq = AtomicU64::new(1);

    let mut group = c.benchmark_group("webhook/voice");
    if ci {
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("sequential", |b| {
        b.iter(|| rt.block_on(handle(router.clone(), voice_request(&seq))));
    });
    group.throughput(Throughput::Elements(batch as u64));
    group.bench_with_input(BenchmarkId::new("concurrent", batch), &batch, |b, &n| {
        b.iter(|| {
            let reqs: Vec<_> = (0..n).map(|_| voice_request(&seq)).collect();
            rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for req in reqs {
                    set.spawn(handle(router.clone(), req));
                }
                while let Some(r) = set.join_next().await {
                    r.expect("webhook task");
                }
            });
        });
    });
    group.finish();
    rt.block_on(engine.shutdown());
}

fn pure(c: &mut Criterion) {
    let ci = std::env::var_os("CI").is_some();
    let mut group = c.benchmark_group("webhook");
    if ci {
        group
            .sample_size(20)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
    }
    let url = format!("{PUBLIC_URL}/api/webhooks/voice");
    let params = voice_params("CA0123456789abcdef0123456789abcdef");
    let sig = signature::sign(TOKEN, &url, &params);
    group.bench_function("signature/verify", |b| {
        b.iter(|| {
            assert!(signature::verify(
                TOKEN,
                std::hint::black_box(&url),
                &params,
                &sig
            ))
        });
    });
    let dial = Decision::Dial {
        call_id: new_id(),
        attempt: 0,
        number: number("+15550002001"),
        caller_id: "+15551230000".into(),
        timeout_seconds: 30,
        time_limit_seconds: 14_400,
        record: true,
    };
    group.bench_function("twiml/dial", |b| {
        b.iter(|| twiml::render(std::hint::black_box(&dial), PUBLIC_URL))
    });
    let reject = Decision::Reject {
        reason: RejectReason::NoBuyerAvailable,
    };
    group.bench_function("twiml/reject", |b| {
        b.iter(|| twiml::render(std::hint::black_box(&reject), PUBLIC_URL))
    });
    group.finish();
}

criterion_group!(benches, pure, voice);
criterion_main!(benches);
