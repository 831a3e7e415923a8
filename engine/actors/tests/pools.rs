//! Pool actors on a real embedded store: pools load at start, leases follow
//! configuration changes, a deleted pool stops leasing, and a restart keeps
//! the pools (leases live in memory and start over).

use std::sync::Arc;

use chrono::{Duration, Utc};
use switchboard_engine::{Engine, EngineConfig, LeaseOptions};
use switchboard_model::call::{Traffic, VisitorSession};
use switchboard_model::{Id, PhoneNumber, Pool, new_id};
use switchboard_store::{Doc, DocKind, EmbeddedStore, Store};

async fn start(path: &std::path::Path) -> Engine {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(path).unwrap());
    Engine::start(store, EngineConfig::default()).await.unwrap()
}

fn n(s: &str) -> PhoneNumber {
    PhoneNumber::parse(s).unwrap()
}

fn pool(numbers: &[&str]) -> Pool {
    serde_json::from_value(serde_json::json!({
        "id": new_id(), "tenantId": new_id(), "name": "Main", "numbers": numbers,
        "fallbackNumber": "+15550003999", "sessionTimeoutSeconds": 60
    }))
    .unwrap()
}

fn visit(p: &Pool, session: &str) -> VisitorSession {
    let now = Utc::now();
    VisitorSession {
        session_id: session.into(),
        tenant_id: p.tenant_id,
        tag_id: Id::nil(),
        tag_code: "landing".into(),
        pool_id: None,
        phone_number: None,
        exhausted: false,
        traffic: Traffic {
            source: Some("direct".into()),
            ..Traffic::default()
        },
        user_agent: None,
        started_at: now,
        last_seen_at: now,
    }
}

async fn leased(engine: &Engine, p: &Pool, session: &str) -> Option<PhoneNumber> {
    engine
        .track(p.id, visit(p, session), LeaseOptions::default(), Utc::now())
        .await
        .unwrap()
        .number
}

#[tokio::test]
async fn pools_load_at_start_and_follow_their_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = pool(&["+15550003001", "+15550003002"]);
    {
        // Written the way the admin API writes it: a document, not through the engine.
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let doc = Doc {
            kind: DocKind::Pool,
            tenant: p.tenant_id,
            id: p.id,
            version: 0,
            body: serde_json::to_value(&p).unwrap(),
        };
        p.version = store.put_doc(doc, None).await.unwrap();
    }
    let engine = start(dir.path()).await;
    assert_eq!(leased(&engine, &p, "a").await, Some(n("+15550003001")));
    assert_eq!(leased(&engine, &p, "b").await, Some(n("+15550003002")));
    let full = engine
        .track(p.id, visit(&p, "c"), LeaseOptions::default(), Utc::now())
        .await
        .unwrap();
    assert_eq!(
        (full.number, full.visit.phone_number, full.visit.exhausted),
        (None, Some(n("+15550003999")), true)
    );

    // The first number leaves the pool, a third joins: "a" loses its lease, "b" keeps its own.
    let mut changed = p.clone();
    changed.numbers = vec![n("+15550003002"), n("+15550003003")];
    let w = engine.config_write().await;
    w.put(&mut changed, Some(p.version)).await.unwrap();
    drop(w);
    assert_eq!(leased(&engine, &p, "b").await, Some(n("+15550003002")));
    assert_eq!(leased(&engine, &p, "a").await, Some(n("+15550003003")));
    let stats = engine.pool_stats(p.id).await.unwrap().unwrap();
    assert_eq!(
        (
            stats.size,
            stats.leased_now,
            stats.peak_leased,
            stats.exhaustion_count
        ),
        (2, 2, 2, 1)
    );
    assert_eq!(
        stats.recommended_size(),
        3,
        "exhausted once: one more than its size"
    );

    // A lease's expiry follows the pool's timeout.
    let t = engine
        .track(p.id, visit(&p, "b"), LeaseOptions::default(), Utc::now())
        .await
        .unwrap();
    let left = t.expires_at.unwrap() - Utc::now();
    assert!(
        left > Duration::seconds(55) && left <= Duration::seconds(60),
        "{left}"
    );
    // A tag may ask for its own idle limit.
    let short = LeaseOptions {
        session_timeout_seconds: Some(20),
        sticky_days: None,
    };
    let t = engine
        .track(p.id, visit(&p, "b"), short, Utc::now())
        .await
        .unwrap();
    let left = t.expires_at.unwrap() - Utc::now();
    assert!(
        left > Duration::seconds(15) && left <= Duration::seconds(20),
        "{left}"
    );

    engine.shutdown().await;
    drop(engine);
    let engine = start(dir.path()).await;
    let stats = engine.pool_stats(p.id).await.unwrap().unwrap();
    assert_eq!(
        (stats.size, stats.leased_now),
        (2, 0),
        "the stored pool is back; leases start over"
    );

    let w = engine.config_write().await;
    w.delete::<Pool>(p.tenant_id, p.id, changed.version)
        .await
        .unwrap();
    drop(w);
    assert!(
        engine
            .track(p.id, visit(&p, "a"), LeaseOptions::default(), Utc::now())
            .await
            .is_err()
    );
    assert_eq!(engine.pool_stats(p.id).await.unwrap(), None);
}
