//! The engine end to end on a real embedded store: caps across restarts,
//! reservation expiry, fall-through, live configuration, duplicate callers,
//! and a second node on the same store following every kind of configuration.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use switchboard_engine::{
    Decision, DialResult, Engine, EngineConfig, InboundCall, LeaseOptions, StatusEvent,
};
use switchboard_model::call::{Traffic, VisitorSession};
use switchboard_model::{
    AttemptOutcome, Buyer, BuyerAssignment, CallStatus, CallerInfo, Campaign, CampaignStatus,
    DuplicateAction, Id, PhoneNumber, Pool, RejectReason, RoutingPolicy, RoutingType, RtbRouter,
    RtbTarget, Tenant, new_id,
};
use switchboard_store::{Doc, DocKind, EmbeddedStore, Store};

struct World {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    engine: Engine,
    tenant: Id,
}

async fn start(path: &std::path::Path, config: EngineConfig) -> Engine {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(path).unwrap());
    Engine::start(store, config).await.unwrap()
}

async fn world(config: EngineConfig) -> World {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let engine = start(&path, config).await;
    let tenant = engine
        .put_tenant(
            Tenant {
                id: new_id(),
                name: "t".into(),
                twilio_account_sid: Some("AC1".into()),
                twilio_auth_token: "secret".into(),
                timezone: chrono_tz::Tz::UTC,
                publisher_sees_caller_numbers: false,
                version: 0,
                created_at: Utc::now(),
            },
            None,
        )
        .await
        .unwrap()
        .id;
    World {
        _dir: dir,
        path,
        engine,
        tenant,
    }
}

fn buyer(tenant: Id, number: &str, concurrency: Option<u32>) -> Buyer {
    serde_json::from_value(serde_json::json!({
        "id": new_id(), "tenantId": tenant, "name": format!("buyer {number}"),
        "phoneNumber": number, "timezone": "America/New_York",
        "concurrencyLimit": concurrency, "conversionSeconds": 30, "revenue": 12.5
    }))
    .unwrap()
}

fn campaign(tenant: Id, number: &str, policy: RoutingPolicy, buyers: &[(Id, u32)]) -> Campaign {
    Campaign {
        id: new_id(),
        tenant_id: tenant,
        name: format!("campaign {number}"),
        description: String::new(),
        status: CampaignStatus::Active,
        routing_type: Default::default(),
        phone_number: Some(PhoneNumber::parse(number).unwrap()),
        pool_id: None,
        rtb_router_id: None,
        routing_policy: policy,
        buyers: buyers
            .iter()
            .map(|&(buyer_id, priority)| BuyerAssignment {
                buyer_id,
                priority,
                weight: 1,
            })
            .collect(),
        recording: false,
        dial_timeout_seconds: 30,
        caller_id_mode: Default::default(),
        duplicate_window_hours: 0,
        duplicate_action: DuplicateAction::SameBuyer,
        max_fallthrough: 3,
        tags: Default::default(),
        payout_rules: Vec::new(),
        version: 0,
    }
}

fn call(sid: &str, from: &str, to: &str) -> InboundCall {
    InboundCall {
        call_sid: sid.into(),
        account_sid: "AC1".into(),
        to: PhoneNumber::parse(to).unwrap(),
        caller: CallerInfo {
            from: from.into(),
            state: Some("CA".into()),
            zip: Some("94105".into()),
            tags: Default::default(),
        },
    }
}

fn dialed(d: &Decision) -> Option<&str> {
    match d {
        Decision::Dial { number, .. } => Some(number.as_str()),
        _ => None,
    }
}

/// Writes `value` through the engine over the version it holds (0: a new one).
async fn save<T: switchboard_engine::CheckedByWriter>(engine: &Engine, value: &mut T) {
    let stored = Some(value.version()).filter(|v| *v > 0);
    engine
        .config_write()
        .await
        .put(value, stored)
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrency_and_caps_survive_a_restart() {
    let w = world(EngineConfig::default()).await;
    let a = w
        .engine
        .put_buyer(buyer(w.tenant, "+15550002001", Some(2)), None)
        .await
        .unwrap();
    let b = w
        .engine
        .put_buyer(buyer(w.tenant, "+15550002002", None), None)
        .await
        .unwrap();
    w.engine
        .put_campaign(
            campaign(
                w.tenant,
                "+15550001000",
                RoutingPolicy::Priority,
                &[(a.id, 1), (b.id, 2)],
            ),
            None,
        )
        .await
        .unwrap();

    for i in 0..2 {
        let d = w
            .engine
            .inbound(call(&format!("CA{i}"), "+15551230000", "+15550001000"))
            .await
            .unwrap();
        assert_eq!(dialed(&d), Some("+15550002001"));
    }
    w.engine.shutdown().await;
    drop(w.engine);

    // Same data directory, new process state: Acme still holds two calls.
    let engine = start(&w.path, EngineConfig::default()).await;
    assert_eq!(engine.buyer_stats(a.id).await.unwrap().active, 2);
    let d = engine
        .inbound(call("CA2", "+15551230000", "+15550001000"))
        .await
        .unwrap();
    assert_eq!(
        dialed(&d),
        Some("+15550002002"),
        "the restarted engine must still see Acme full"
    );

    // A retried webhook from before the restart replays its decision, without a new reservation.
    let d = engine
        .inbound(call("CA0", "+15551230000", "+15550001000"))
        .await
        .unwrap();
    assert_eq!(dialed(&d), Some("+15550002001"));
    assert_eq!(engine.buyer_stats(a.id).await.unwrap().active, 2);
    engine.shutdown().await;
}

/// A phone number is one tenant's: a campaign's direct number is claimed
/// system-wide on save, given back when the campaign lets go of it, and a
/// campaign stored before numbers were claimed gets its claim at start.
#[tokio::test]
async fn a_campaigns_number_is_claimed_for_its_tenant_and_released_with_it() {
    use switchboard_engine::claims::{self, Key, Owner};
    let w = world(EngineConfig::default()).await;
    let store = w.engine.store().clone();
    let n = PhoneNumber::parse("+15550001000").unwrap();
    let c = w
        .engine
        .put_campaign(
            campaign(w.tenant, "+15550001000", RoutingPolicy::Priority, &[]),
            None,
        )
        .await
        .unwrap();
    let owner = Owner {
        tenant: w.tenant,
        resource: c.id,
    };
    assert_eq!(
        claims::owner_of(store.as_ref(), Key::Number(&n))
            .await
            .unwrap(),
        Some(owner)
    );
    // Another tenant's campaign cannot have it.
    let other = w
        .engine
        .put_tenant(
            Tenant {
                id: new_id(),
                name: "other".into(),
                twilio_account_sid: None,
                twilio_auth_token: "t".into(),
                timezone: chrono_tz::Tz::UTC,
                publisher_sees_caller_numbers: false,
                version: 0,
                created_at: Utc::now(),
            },
            None,
        )
        .await
        .unwrap();
    let err = w
        .engine
        .put_campaign(
            campaign(other.id, "+15550001000", RoutingPolicy::Priority, &[]),
            None,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already in use"), "{err}");
    // Moving the campaign to another number frees the first.
    let moved = Campaign {
        phone_number: Some(PhoneNumber::parse("+15550001001").unwrap()),
        ..c.clone()
    };
    let moved = w.engine.put_campaign(moved, Some(c.version)).await.unwrap();
    assert_eq!(
        claims::owner_of(store.as_ref(), Key::Number(&n))
            .await
            .unwrap(),
        None
    );
    assert!(
        w.engine
            .delete_campaign(w.tenant, moved.id, None)
            .await
            .unwrap()
    );
    let m = PhoneNumber::parse("+15550001001").unwrap();
    assert_eq!(
        claims::owner_of(store.as_ref(), Key::Number(&m))
            .await
            .unwrap(),
        None,
        "deleted with its campaign"
    );

    // A campaign written before claims existed: claimed when the engine starts.
    let legacy = campaign(w.tenant, "+15550001002", RoutingPolicy::Priority, &[]);
    let body = serde_json::to_value(&legacy).unwrap();
    store
        .put_doc(
            Doc {
                kind: DocKind::Campaign,
                tenant: w.tenant,
                id: legacy.id,
                version: 0,
                body,
            },
            None,
        )
        .await
        .unwrap();
    w.engine.shutdown().await;
    drop((w.engine, store));
    let engine = start(&w.path, EngineConfig::default()).await;
    let l = PhoneNumber::parse("+15550001002").unwrap();
    let owner = claims::owner_of(engine.store().as_ref(), Key::Number(&l))
        .await
        .unwrap();
    assert_eq!(
        owner,
        Some(Owner {
            tenant: w.tenant,
            resource: legacy.id
        })
    );
    engine.shutdown().await;
}

/// Start-up reads configuration a page (1,000 documents) at a time: a
/// restart with more buyers than one page, over two tenants, knows them all.
#[tokio::test]
async fn a_restart_loads_more_buyers_than_one_read_holds() {
    let w = world(EngineConfig::default()).await;
    w.engine.shutdown().await;
    drop(w.engine);
    let store = EmbeddedStore::open(&w.path).unwrap();
    let other = new_id();
    let mut ids = Vec::new();
    for i in 0..1_001 {
        let tenant = if i % 2 == 0 { w.tenant } else { other };
        let b = buyer(tenant, &format!("+1555{i:07}"), None);
        let body = serde_json::to_value(&b).unwrap();
        store
            .put_doc(
                Doc {
                    kind: DocKind::Buyer,
                    tenant,
                    id: b.id,
                    version: 0,
                    body,
                },
                None,
            )
            .await
            .unwrap();
        ids.push(b.id);
    }
    drop(store);

    let engine = start(&w.path, EngineConfig::default()).await;
    let missing = ids.iter().filter(|id| engine.buyer(**id).is_none()).count();
    assert_eq!(missing, 0, "every stored buyer is loaded");
    engine.shutdown().await;
}

#[tokio::test]
async fn a_lost_status_callback_cannot_leak_capacity() {
    let w = world(EngineConfig {
        max_call_seconds: 1,
        hold_grace_seconds: 0,
        ..Default::default()
    })
    .await;
    let a = w
        .engine
        .put_buyer(buyer(w.tenant, "+15550002001", Some(1)), None)
        .await
        .unwrap();
    w.engine
        .put_campaign(
            campaign(
                w.tenant,
                "+15550001000",
                RoutingPolicy::Priority,
                &[(a.id, 1)],
            ),
            None,
        )
        .await
        .unwrap();
    let first = w
        .engine
        .inbound(call("CA1", "+15551230000", "+15550001000"))
        .await
        .unwrap();
    assert!(dialed(&first).is_some());
    let second = w
        .engine
        .inbound(call("CA2", "+15551230001", "+15550001000"))
        .await
        .unwrap();
    assert_eq!(
        second,
        Decision::Reject {
            reason: RejectReason::NoBuyerAvailable
        }
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let third = w
        .engine
        .inbound(call("CA3", "+15551230002", "+15550001000"))
        .await
        .unwrap();
    assert_eq!(
        dialed(&third),
        Some("+15550002001"),
        "the expired reservation must free the slot"
    );
    w.engine.shutdown().await;
}

#[tokio::test]
async fn fall_through_skips_tried_buyers_and_stops_at_the_limit() {
    let w = world(EngineConfig::default()).await;
    let ids: Vec<Id> = futures_ids(&w, &["+15550002001", "+15550002002", "+15550002003"]).await;
    let mut c = campaign(
        w.tenant,
        "+15550001000",
        RoutingPolicy::Priority,
        &[(ids[0], 1), (ids[1], 2), (ids[2], 3)],
    );
    c.max_fallthrough = 1;
    w.engine.put_campaign(c, None).await.unwrap();

    let Decision::Dial {
        call_id,
        number,
        attempt,
        ..
    } = w
        .engine
        .inbound(call("CA1", "+15551230000", "+15550001000"))
        .await
        .unwrap()
    else {
        panic!("expected a dial")
    };
    assert_eq!((number.as_str(), attempt), ("+15550002001", 0));
    let busy = DialResult {
        attempt: Some(0),
        status: AttemptOutcome::Busy,
        dial_call_sid: Some("CAleg0".into()),
        duration_seconds: None,
    };
    let next = w.engine.dial_result(call_id, busy.clone()).await.unwrap();
    let Decision::Dial {
        number, attempt, ..
    } = &next
    else {
        panic!("expected the next buyer, got {next:?}")
    };
    assert_eq!((number.as_str(), *attempt), ("+15550002002", 1));
    assert_eq!(
        w.engine.buyer_stats(ids[0]).await.unwrap(),
        Default::default(),
        "busy refunds the first buyer completely"
    );

    // The same action delivered twice does not move the call on.
    let dup = w.engine.dial_result(call_id, busy.clone()).await.unwrap();
    assert_eq!(dup, next);
    let no_sid = DialResult {
        attempt: None,
        ..busy.clone()
    };
    assert_eq!(
        w.engine.dial_result(call_id, no_sid).await.unwrap(),
        next,
        "matched by DialCallSid"
    );
    let last = w
        .engine
        .dial_result(
            call_id,
            DialResult {
                attempt: Some(1),
                status: AttemptOutcome::NoAnswer,
                dial_call_sid: None,
                duration_seconds: None,
            },
        )
        .await;
    assert_eq!(
        last.unwrap(),
        Decision::Reject {
            reason: RejectReason::NoBuyerAvailable
        }
    );
    let record = w.engine.store().get_call(call_id).await.unwrap().unwrap();
    assert_eq!(
        record.attempts.len(),
        2,
        "max fall-through 1 allows two buyers in all"
    );
    assert_eq!(record.status, CallStatus::NoAnswer);
    assert!(record.attempts.iter().all(|a| a.released));
    w.engine.shutdown().await;
}

async fn futures_ids(w: &World, numbers: &[&str]) -> Vec<Id> {
    let mut ids = Vec::new();
    for n in numbers {
        ids.push(
            w.engine
                .put_buyer(buyer(w.tenant, n, None), None)
                .await
                .unwrap()
                .id,
        );
    }
    ids
}

#[tokio::test]
async fn status_callbacks_book_revenue_once_in_any_order() {
    let w = world(EngineConfig::default()).await;
    let a = w
        .engine
        .put_buyer(buyer(w.tenant, "+15550002001", Some(1)), None)
        .await
        .unwrap();
    w.engine
        .put_campaign(
            campaign(
                w.tenant,
                "+15550001000",
                RoutingPolicy::Priority,
                &[(a.id, 1)],
            ),
            None,
        )
        .await
        .unwrap();
    let Decision::Dial { call_id, .. } = w
        .engine
        .inbound(call("CA1", "+15551230000", "+15550001000"))
        .await
        .unwrap()
    else {
        panic!("expected a dial")
    };
    let ev = |status, seq, duration| StatusEvent {
        call_id: Some(call_id),
        attempt: Some(0),
        call_sid: "CAleg".into(),
        parent_call_sid: Some("CA1".into()),
        status,
        sequence: Some(seq),
        duration_seconds: duration,
        timestamp: None,
    };
    w.engine
        .status_event(ev(AttemptOutcome::Completed, 3, Some(45)))
        .await
        .unwrap();
    w.engine
        .status_event(ev(AttemptOutcome::Answered, 2, None))
        .await
        .unwrap();
    w.engine
        .status_event(ev(AttemptOutcome::Completed, 3, Some(45)))
        .await
        .unwrap();
    let r = w.engine.store().get_call(call_id).await.unwrap().unwrap();
    assert_eq!(
        (r.status, r.converted, r.revenue_minor, r.duration_seconds),
        (CallStatus::Completed, true, 1250, 45)
    );
    assert_eq!(w.engine.buyer_stats(a.id).await.unwrap().active, 0);
    assert_eq!(
        w.engine.buyer_stats(a.id).await.unwrap().day,
        1,
        "an answered call keeps counting towards the cap"
    );
    w.engine.shutdown().await;
}

#[tokio::test]
async fn configuration_changes_apply_to_the_next_call() {
    let w = world(EngineConfig::default()).await;
    let a = w
        .engine
        .put_buyer(buyer(w.tenant, "+15550002001", None), None)
        .await
        .unwrap();
    let mut c = w
        .engine
        .put_campaign(
            campaign(
                w.tenant,
                "+15550001000",
                RoutingPolicy::Priority,
                &[(a.id, 1)],
            ),
            None,
        )
        .await
        .unwrap();
    assert!(
        dialed(
            &w.engine
                .inbound(call("CA1", "+15551230000", "+15550001000"))
                .await
                .unwrap()
        )
        .is_some()
    );
    c.status = CampaignStatus::Paused;
    let version = c.version;
    w.engine
        .put_campaign(c.clone(), Some(version))
        .await
        .unwrap();
    let d = w
        .engine
        .inbound(call("CA2", "+15551230000", "+15550001000"))
        .await
        .unwrap();
    assert_eq!(
        d,
        Decision::Reject {
            reason: RejectReason::CampaignInactive
        }
    );
    // A stale version is refused.
    assert!(w.engine.put_campaign(c, Some(version)).await.is_err());
    // A number taken by another campaign is refused.
    let other = campaign(
        w.tenant,
        "+15550001000",
        RoutingPolicy::Priority,
        &[(a.id, 1)],
    );
    assert!(w.engine.put_campaign(other, None).await.is_err());
    w.engine.shutdown().await;
}

#[tokio::test]
async fn duplicate_callers_are_rejected_or_sent_back_to_their_buyer() {
    let w = world(EngineConfig::default()).await;
    let ids = futures_ids(&w, &["+15550002001", "+15550002002"]).await;
    let mut c = campaign(
        w.tenant,
        "+15550001000",
        RoutingPolicy::RoundRobin,
        &[(ids[0], 1), (ids[1], 1)],
    );
    c.duplicate_window_hours = 24;
    let c = w.engine.put_campaign(c, None).await.unwrap();
    let first = w
        .engine
        .inbound(call("CA1", "+15551230000", "+15550001000"))
        .await
        .unwrap();
    // Round-robin would move on; the repeat caller goes back to the same buyer.
    let again = w
        .engine
        .inbound(call("CA2", "+15551230000", "+15550001000"))
        .await
        .unwrap();
    assert_eq!(dialed(&first), dialed(&again));
    let other = w
        .engine
        .inbound(call("CA3", "+15559990000", "+15550001000"))
        .await
        .unwrap();
    assert_ne!(dialed(&other), dialed(&first));

    let mut c = c;
    c.duplicate_action = DuplicateAction::Reject;
    let v = c.version;
    w.engine.put_campaign(c, Some(v)).await.unwrap();
    let rejected = w
        .engine
        .inbound(call("CA4", "+15551230000", "+15550001000"))
        .await
        .unwrap();
    assert_eq!(
        rejected,
        Decision::Reject {
            reason: RejectReason::DuplicateCaller
        }
    );
    // Anonymous callers are never duplicates of each other.
    assert!(
        dialed(
            &w.engine
                .inbound(call("CA5", "anonymous", "+15550001000"))
                .await
                .unwrap()
        )
        .is_some()
    );
    assert!(
        dialed(
            &w.engine
                .inbound(call("CA6", "anonymous", "+15550001000"))
                .await
                .unwrap()
        )
        .is_some()
    );
    w.engine.shutdown().await;
}

#[tokio::test]
async fn unknown_numbers_are_not_in_service_and_not_recorded() {
    let w = world(EngineConfig::default()).await;
    let d = w
        .engine
        .inbound(call("CA1", "+15551230000", "+15559999999"))
        .await
        .unwrap();
    assert_eq!(d, Decision::NotInService);
    assert!(
        w.engine
            .store()
            .get_call_by_sid("CA1")
            .await
            .unwrap()
            .is_none()
    );
    w.engine.shutdown().await;
}

/// Polls `cond` every 10 ms until it holds; panics after 5 s.
async fn eventually<F: AsyncFnMut() -> bool>(mut cond: F) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !cond().await {
        assert!(
            std::time::Instant::now() < deadline,
            "condition not met within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_second_node_on_the_same_store_follows_configuration_changes() {
    let w = world(EngineConfig::default()).await;
    // Two engines over one store: what two nodes over one ScyllaDB cluster are.
    let other = Engine::start(w.engine.store().clone(), EngineConfig::default())
        .await
        .unwrap();
    other.follow_config(Duration::from_millis(20));

    let a = w
        .engine
        .put_buyer(buyer(w.tenant, "+15550002001", None), None)
        .await
        .unwrap();
    let mut c = w
        .engine
        .put_campaign(
            campaign(
                w.tenant,
                "+15550001000",
                RoutingPolicy::Priority,
                &[(a.id, 1)],
            ),
            None,
        )
        .await
        .unwrap();
    let mut n = 0;
    eventually(async || {
        n += 1;
        dialed(
            &other
                .inbound(call(&format!("CAnew{n}"), "+15551230000", "+15550001000"))
                .await
                .unwrap(),
        ) == Some("+15550002001")
    })
    .await;

    c.status = CampaignStatus::Paused;
    w.engine
        .put_campaign(c.clone(), Some(c.version))
        .await
        .unwrap();
    eventually(async || {
        n += 1;
        other
            .inbound(call(
                &format!("CApaused{n}"),
                "+15551230000",
                "+15550001000",
            ))
            .await
            .unwrap()
            == Decision::Reject {
                reason: RejectReason::CampaignInactive,
            }
    })
    .await;

    w.engine
        .delete_campaign(w.tenant, c.id, None)
        .await
        .unwrap();
    eventually(async || {
        n += 1;
        other
            .inbound(call(&format!("CAgone{n}"), "+15551230000", "+15550001000"))
            .await
            .unwrap()
            == Decision::NotInService
    })
    .await;
    assert_eq!(
        other.sync_config().await.unwrap(),
        0,
        "nothing left to apply"
    );
    other.shutdown().await;
    w.engine.shutdown().await;
}

fn visit(tenant: Id, pool: Id, session: &str) -> VisitorSession {
    let now = Utc::now();
    VisitorSession {
        session_id: session.into(),
        tenant_id: tenant,
        tag_id: Id::nil(),
        tag_code: "landing".into(),
        pool_id: Some(pool),
        phone_number: None,
        exhausted: false,
        traffic: Traffic {
            source: Some("google".into()),
            ..Traffic::default()
        },
        user_agent: None,
        started_at: now,
        last_seen_at: now,
    }
}

#[tokio::test]
async fn a_second_node_follows_number_pools() {
    let w = world(EngineConfig::default()).await;
    let other = Engine::start(w.engine.store().clone(), EngineConfig::default())
        .await
        .unwrap();
    other.follow_config(Duration::from_millis(20));

    let a = w
        .engine
        .put_buyer(buyer(w.tenant, "+15550002001", None), None)
        .await
        .unwrap();
    let mut pool: Pool = serde_json::from_value(serde_json::json!({
        "id": new_id(), "tenantId": w.tenant, "name": "Main", "numbers": ["+15550004001"], "fallbackNumber": "+15550004999"
    }))
    .unwrap();
    save(&w.engine, &mut pool).await;
    let mut c = campaign(
        w.tenant,
        "+15550001000",
        RoutingPolicy::Priority,
        &[(a.id, 1)],
    );
    (c.routing_type, c.phone_number, c.pool_id) = (RoutingType::Pool, None, Some(pool.id));
    let c = w.engine.put_campaign(c, None).await.unwrap();

    // The other node leases the pool's number to a visit and routes its call,
    // attributed to that visit.
    let mut n = 0;
    // (A poll may have read the pool before the campaign was written: wait for both.)
    eventually(async || {
        other.campaign(c.id).is_some()
            && other
                .track(
                    pool.id,
                    visit(w.tenant, pool.id, "v1"),
                    LeaseOptions::default(),
                    Utc::now(),
                )
                .await
                .is_ok()
    })
    .await;
    let tracked = other
        .track(
            pool.id,
            visit(w.tenant, pool.id, "v1"),
            LeaseOptions::default(),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        tracked.number.as_ref().map(PhoneNumber::as_str),
        Some("+15550004001")
    );
    let d = other
        .inbound(call("CApool", "+15551230000", "+15550004001"))
        .await
        .unwrap();
    assert_eq!(dialed(&d), Some("+15550002001"));
    let record = other
        .store()
        .get_call_by_sid("CApool")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((record.pool_id, record.campaign_id), (Some(pool.id), c.id));
    let attribution = record
        .attribution
        .expect("the call is attributed to the visit holding the number");
    assert_eq!(
        (
            attribution.session_id.as_str(),
            attribution.traffic.source.as_deref()
        ),
        ("v1", Some("google"))
    );

    // Node A swaps the pool's number: the other node routes the new one and
    // no longer the old one.
    pool.numbers = vec![PhoneNumber::parse("+15550004002").unwrap()];
    save(&w.engine, &mut pool).await;
    eventually(async || {
        n += 1;
        dialed(
            &other
                .inbound(call(&format!("CAnew{n}"), "+15551230000", "+15550004002"))
                .await
                .unwrap(),
        ) == Some("+15550002001")
    })
    .await;
    assert_eq!(
        other
            .inbound(call("CAold", "+15551230000", "+15550004001"))
            .await
            .unwrap(),
        Decision::NotInService
    );
    let leased = other
        .track(
            pool.id,
            visit(w.tenant, pool.id, "v2"),
            LeaseOptions::default(),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        leased.number.as_ref().map(PhoneNumber::as_str),
        Some("+15550004002")
    );

    // Node A deletes the campaign, then the pool: the other node stops leasing.
    w.engine
        .delete_campaign(w.tenant, c.id, None)
        .await
        .unwrap();
    w.engine
        .config_write()
        .await
        .delete::<Pool>(w.tenant, pool.id, pool.version)
        .await
        .unwrap();
    eventually(async || {
        other
            .track(
                pool.id,
                visit(w.tenant, pool.id, "v3"),
                LeaseOptions::default(),
                Utc::now(),
            )
            .await
            .is_err()
    })
    .await;
    assert_eq!(other.pool_stats(pool.id).await.unwrap(), None);
    assert_eq!(
        other
            .inbound(call("CAgone", "+15551230000", "+15550004002"))
            .await
            .unwrap(),
        Decision::NotInService
    );
    assert_eq!(
        other.sync_config().await.unwrap(),
        0,
        "nothing left to apply"
    );
    other.shutdown().await;
    w.engine.shutdown().await;
}

/// A bidder on loopback that bids `amount` dollars to send calls to `number`.
async fn bidder(amount: u32, number: &str) -> String {
    switchboard_testkit::Bidder::bidding(amount, number)
        .await
        .url
}

fn rtb_target(tenant: Id, url: &str) -> RtbTarget {
    serde_json::from_value(serde_json::json!({
        "id": new_id(), "tenantId": tenant, "name": format!("bidder {url}"), "endpointUrl": url,
        "minBidAmount": 1, "maxBidAmount": 50, "timeoutMs": 5000, "requestBody": r#"{"callerId": "{callerId}"}"#
    }))
    .unwrap()
}

#[tokio::test]
async fn a_second_node_follows_rtb_targets_and_routers() {
    let config = EngineConfig {
        rtb_allow_private_targets: true,
        ..Default::default()
    };
    let w = world(config.clone()).await;
    let other = Engine::start(w.engine.store().clone(), config)
        .await
        .unwrap();
    other.follow_config(Duration::from_millis(20));
    let mut n = 0;
    // What the other node dials for a call to the RTB campaign's number.
    let mut dial = async || {
        n += 1;
        let d = other
            .inbound(call(
                &format!("CA{n}"),
                &format!("+1555123{:04}", n % 10_000),
                "+15550001000",
            ))
            .await
            .unwrap();
        dialed(&d).map(str::to_owned)
    };

    // Node A creates a target and a router, and an RTB campaign through them.
    let mut t1 = rtb_target(w.tenant, &bidder(10, "+15550005001").await);
    save(&w.engine, &mut t1).await;
    let mut router: RtbRouter = serde_json::from_value(serde_json::json!({
        "id": new_id(), "tenantId": w.tenant, "name": "router", "biddingTimeoutMs": 1500, "minBiddersRequired": 1,
        "targets": [{"targetId": t1.id, "priority": 1}]
    }))
    .unwrap();
    save(&w.engine, &mut router).await;
    let mut c = campaign(w.tenant, "+15550001000", RoutingPolicy::Priority, &[]);
    (c.routing_type, c.rtb_router_id) = (RoutingType::Rtb, Some(router.id));
    let c = w.engine.put_campaign(c, None).await.unwrap();
    eventually(async || dial().await.as_deref() == Some("+15550005001")).await;

    // A second, higher bidder joins the router: the other node's auctions ask it and it wins.
    let mut t2 = rtb_target(w.tenant, &bidder(20, "+15550005002").await);
    save(&w.engine, &mut t2).await;
    router.targets.push(
        serde_json::from_value(serde_json::json!({"targetId": t2.id, "priority": 2})).unwrap(),
    );
    save(&w.engine, &mut router).await;
    eventually(async || dial().await.as_deref() == Some("+15550005002")).await;

    // The second target moves to another endpoint, which bids higher still.
    t2.endpoint_url = bidder(30, "+15550005003").await;
    save(&w.engine, &mut t2).await;
    eventually(async || dial().await.as_deref() == Some("+15550005003")).await;

    // It leaves the router and is deleted: the first target wins again, and
    // the other node forgets the deleted one.
    router.targets.retain(|t| t.target_id == t1.id);
    save(&w.engine, &mut router).await;
    w.engine
        .config_write()
        .await
        .delete::<RtbTarget>(w.tenant, t2.id, t2.version)
        .await
        .unwrap();
    // (The router change and the delete may reach the other node in two polls.)
    eventually(async || {
        dial().await.as_deref() == Some("+15550005001") && other.rtb_breaker_state(t2.id).is_none()
    })
    .await;
    assert_eq!(other.rtb_breaker_state(t1.id), Some("closed"));

    // The campaign, then the router, are deleted.
    w.engine
        .delete_campaign(w.tenant, c.id, None)
        .await
        .unwrap();
    w.engine
        .config_write()
        .await
        .delete::<RtbRouter>(w.tenant, router.id, router.version)
        .await
        .unwrap();
    eventually(async || other.rtb_router(router.id).is_none()).await;
    assert_eq!(
        other.sync_config().await.unwrap(),
        0,
        "nothing left to apply"
    );
    other.shutdown().await;
    w.engine.shutdown().await;
}

/// Buyer and campaign actors start lazily: 200 first calls racing to start
/// the campaign's actor and its buyer's must still meet one actor each, so
/// concurrency 3 admits exactly 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_calls_start_one_actor_per_buyer() {
    let w = world(EngineConfig {
        route_timeout: Duration::from_secs(20),
        ..Default::default()
    })
    .await;
    let a = w
        .engine
        .put_buyer(buyer(w.tenant, "+15550002001", Some(3)), None)
        .await
        .unwrap();
    w.engine
        .put_campaign(
            campaign(
                w.tenant,
                "+15550001000",
                RoutingPolicy::Priority,
                &[(a.id, 1)],
            ),
            None,
        )
        .await
        .unwrap();
    w.engine.shutdown().await;
    drop(w.engine);

    // A fresh engine has started neither actor; everything below races to.
    let engine = start(
        &w.path,
        EngineConfig {
            route_timeout: Duration::from_secs(20),
            ..Default::default()
        },
    )
    .await;
    let mut racing = tokio::task::JoinSet::new();
    for i in 0..200 {
        let e = engine.clone();
        racing.spawn(async move {
            e.inbound(call(
                &format!("CA{i}"),
                &format!("+1555123{i:04}"),
                "+15550001000",
            ))
            .await
            .unwrap()
        });
        // Stats requests race to start the buyer's actor too.
        let e = engine.clone();
        let id = a.id;
        racing.spawn(async move {
            e.buyer_stats(id).await.unwrap();
            Decision::Hangup
        });
    }
    let mut dials = 0;
    while let Some(d) = racing.join_next().await {
        if dialed(&d.unwrap()).is_some() {
            dials += 1;
        }
    }
    assert_eq!(
        dials, 3,
        "a buyer with concurrency 3 took more or fewer than 3 of 200 racing calls"
    );
    assert_eq!(engine.buyer_stats(a.id).await.unwrap().active, 3);
    engine.shutdown().await;
}

/// After a restart the buyer's actor has not started until a call needs it;
/// it starts by rebuilding its open reservations, so the cap still holds.
#[tokio::test]
async fn caps_hold_when_the_first_use_after_a_restart_is_a_call() {
    let w = world(EngineConfig::default()).await;
    let a = w
        .engine
        .put_buyer(buyer(w.tenant, "+15550002001", Some(2)), None)
        .await
        .unwrap();
    let b = w
        .engine
        .put_buyer(buyer(w.tenant, "+15550002002", None), None)
        .await
        .unwrap();
    w.engine
        .put_campaign(
            campaign(
                w.tenant,
                "+15550001000",
                RoutingPolicy::Priority,
                &[(a.id, 1), (b.id, 2)],
            ),
            None,
        )
        .await
        .unwrap();
    for i in 0..2 {
        let d = w
            .engine
            .inbound(call(&format!("CA{i}"), "+15551230000", "+15550001000"))
            .await
            .unwrap();
        assert_eq!(dialed(&d), Some("+15550002001"));
    }
    w.engine.shutdown().await;
    drop(w.engine);

    let engine = start(&w.path, EngineConfig::default()).await;
    let d = engine
        .inbound(call("CA2", "+15551230000", "+15550001000"))
        .await
        .unwrap();
    assert_eq!(
        dialed(&d),
        Some("+15550002002"),
        "the first call after a restart must see Acme full"
    );

    // A final status for a call from before the restart frees its slot.
    let ended = engine.tenant_of_call(None, Some("CA0")).await.unwrap();
    assert!(ended.is_some());
    engine
        .status_event(StatusEvent {
            call_id: None,
            attempt: None,
            call_sid: "CA0".into(),
            parent_call_sid: None,
            status: AttemptOutcome::Completed,
            sequence: None,
            duration_seconds: Some(5),
            timestamp: None,
        })
        .await
        .unwrap();
    assert_eq!(engine.buyer_stats(a.id).await.unwrap().active, 1);
    let d = engine
        .inbound(call("CA3", "+15551230001", "+15550001000"))
        .await
        .unwrap();
    assert_eq!(
        dialed(&d),
        Some("+15550002001"),
        "the freed slot is Acme's again"
    );
    engine.shutdown().await;
}

/// The pixel outbox runs on threads of its own at a lower priority, so that
/// its work yields the CPU to calls; the call path's threads keep theirs.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pixel_work_runs_on_threads_of_its_own_below_the_call_paths_priority() {
    // A thread's nice value: field 19 of its stat, the 17th after the name.
    fn nice(stat: &str) -> i64 {
        let fields = stat.rsplit_once(')').unwrap().1;
        fields.split_whitespace().nth(16).unwrap().parse().unwrap()
    }
    let w = world(EngineConfig::default()).await;
    let mine = nice(&std::fs::read_to_string("/proc/thread-self/stat").unwrap());
    let mut pixels = Vec::new();
    let mut workers = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("stat")),
        ) else {
            continue; // a thread that ended meanwhile
        };
        match name.trim_end() {
            "pixels" => pixels.push(nice(&stat)),
            "tokio-rt-worker" => workers.push(nice(&stat)),
            _ => {}
        }
    }
    assert!(!pixels.is_empty(), "no pixel threads");
    assert!(
        pixels.iter().all(|&n| n == (mine + 10).min(19)),
        "pixel threads at {pixels:?}, the test's at {mine}"
    );
    assert!(
        !workers.is_empty() && workers.iter().all(|&n| n == mine),
        "call path threads at {workers:?}"
    );
    w.engine.shutdown().await;
}
