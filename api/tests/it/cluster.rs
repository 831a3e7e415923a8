//! Two nodes sharing one store, as two ScyllaDB-backed nodes behind a load
//! balancer would: a buyer's cap holds across both, releases and stats reach
//! the node that decides the buyer, and when that node leaves the other
//! takes the buyer over with its counters rebuilt from the store.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use switchboard::twilio::signature;
use switchboard_engine::{ClusterTiming, Engine, EngineConfig};
use switchboard_model::{Buyer, Campaign, DuplicateAction, RejectReason, RoutingPolicy};
use switchboard_store::{EmbeddedStore, Store};

const NUMBER: &str = "+15550007000";
const BUYER: &str = "+15550008000";

/// Two nodes of one cluster on one store, with a tenant, one buyer and a
/// priority campaign on [`NUMBER`] set up through `a` and loaded by `b`,
/// ownership settled. `shape` changes the campaign before it is saved.
struct Pair {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    a: TestServer,
    b: TestServer,
    buyer: Buyer,
}

async fn pair(concurrency: Option<u32>, shape: impl FnOnce(&mut Campaign)) -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let a = TestServer::start_in_cluster(store.clone(), fast_cluster()).await;
    let b = TestServer::start_in_cluster(store.clone(), fast_cluster()).await;
    let t = tenant(&a.engine).await;
    let buyer = buyer(&a.engine, t.id, "Shared Buyer", BUYER, concurrency).await;
    let mut c = campaign(
        &a.engine,
        t.id,
        NUMBER,
        RoutingPolicy::Priority,
        &[(&buyer, 1, 1)],
        0,
        false,
    )
    .await;
    shape(&mut c);
    let version = c.version;
    a.engine.put_campaign(c, Some(version)).await.unwrap();
    b.engine.sync_config().await.unwrap();
    periodic_check(
        async || a.engine.cluster_converged() && b.engine.cluster_converged(),
        Duration::from_secs(10),
    )
    .await;
    Pair {
        _dir: dir,
        store,
        a,
        b,
        buyer,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cap_holds_across_nodes_and_survives_its_owner_leaving() {
    let Pair {
        _dir, a, b, buyer, ..
    } = pair(Some(3), |_| {}).await;
    // Ownership has settled: both nodes agree on who decides the buyer.
    let owner_url = a.engine.capacity_owner(buyer.id).unwrap();
    assert_eq!(b.engine.capacity_owner(buyer.id), Some(owner_url.clone()));
    let (owner, other) = if owner_url == a.base {
        (&a, &b)
    } else {
        (&b, &a)
    };

    // 40 calls race through both nodes: exactly 3 get the buyer.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..40 {
        let node = if i % 2 == 0 { &a } else { &b };
        let (client, base) = (node.client.clone(), node.base.clone());
        set.spawn(async move {
            let sid = format!("CAcluster{i}");
            let params = voice(&sid, NUMBER);
            let signed = signature::sign(
                TOKEN,
                &format!("{CLUSTER_PUBLIC}/api/webhooks/voice"),
                &params,
            );
            let reply = post_form(
                &client,
                &base,
                "/api/webhooks/voice",
                &params,
                Some(&signed),
            )
            .await
            .unwrap();
            (sid, base, reply)
        });
    }
    let replies = set.join_all().await;
    let dialed: Vec<_> = replies.iter().filter(|(_, _, r)| r.is_dial()).collect();
    assert_eq!(
        dialed.len(),
        3,
        "a buyer with concurrency 3 took {} of 40 calls spread over two nodes",
        dialed.len()
    );
    assert!(
        replies
            .iter()
            .all(|(_, _, r)| r.is_dial() || r.is_polite_rejection()),
        "every other caller hears a rejection"
    );
    assert_eq!(owner.engine.buyer_stats(buyer.id).await.unwrap().active, 3);
    assert_eq!(
        other.engine.buyer_stats(buyer.id).await.unwrap().active,
        3,
        "stats come from the deciding node"
    );

    // A call ends on the node that does not decide: the slot comes free.
    let (sid, base, reply) = dialed[0];
    let node = if *base == a.base { &a } else { &b };
    let ended = node
        .status(
            reply.call_id().unwrap(),
            reply.attempt().unwrap_or(0),
            "CAleg0",
            sid,
            ("completed", 3, Some(90)),
        )
        .await;
    assert_eq!(ended.status, 204, "{ended:?}");
    periodic_check(
        async || {
            owner
                .engine
                .buyer_stats(buyer.id)
                .await
                .is_some_and(|s| s.active == 2)
        },
        Duration::from_secs(5),
    )
    .await;
    assert!(
        other.call("CAafter-release", NUMBER).await.is_dial(),
        "the freed slot is taken through the other node"
    );
    assert!(
        other
            .call("CAfull-again", NUMBER)
            .await
            .is_polite_rejection()
    );

    // The deciding node leaves; the other takes the buyer over and rebuilds
    // its 3 open reservations from the store, so the cap still holds.
    let (survivor, leaving) = if owner.base == a.base { (b, a) } else { (a, b) };
    leaving.stop().await;
    periodic_check(
        async || survivor.engine.capacity_owner(buyer.id).as_deref() == Some(&*survivor.base),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        survivor.engine.buyer_stats(buyer.id).await.unwrap().active,
        3
    );
    assert!(
        survivor
            .call("CAafter-handover", NUMBER)
            .await
            .is_polite_rejection(),
        "the cap holds after the handover"
    );
    survivor.stop().await;
}

/// The deciding node dies without a word: its leases lapse, and after `ttl`
/// plus `settle` the other node decides the buyer, its open reservations
/// rebuilt from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashed_owners_buyers_are_taken_over_when_its_leases_lapse() {
    let Pair {
        _dir, a, b, buyer, ..
    } = pair(Some(2), |_| {}).await;
    let owner_url = a.engine.capacity_owner(buyer.id).unwrap();
    let (owner, survivor) = if owner_url == a.base { (a, b) } else { (b, a) };
    assert!(owner.call("CAcrash1", NUMBER).await.is_dial());
    assert!(survivor.call("CAcrash2", NUMBER).await.is_dial());

    let crashed_at = std::time::Instant::now();
    owner.crash().await;
    // Until the leases lapse nobody may decide the buyer: calls are refused, never over the cap.
    periodic_check(
        async || survivor.engine.capacity_owner(buyer.id).as_deref() == Some(&*survivor.base),
        Duration::from_secs(20),
    )
    .await;
    assert!(
        crashed_at.elapsed() >= fast_cluster().ttl.to_std().unwrap() - Duration::from_millis(500),
        "taken over before the lease could lapse"
    );
    assert_eq!(
        survivor.engine.buyer_stats(buyer.id).await.unwrap().active,
        2,
        "both open calls rebuilt from the store"
    );
    assert!(
        survivor
            .call("CAcrash3", NUMBER)
            .await
            .is_polite_rejection(),
        "the cap holds after the crash"
    );
    survivor.stop().await;
}

/// Twilio's callbacks for one call land on whichever node the load balancer
/// picks; the node that took the call handles them all, so one node's update
/// never overwrites another's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_calls_webhooks_reach_the_node_that_took_it() {
    let Pair {
        _dir, store, a, b, ..
    } = pair(None, |c| c.recording = true).await;

    let reply = a.call("CAforward", NUMBER).await;
    assert!(reply.is_dial(), "{reply:?}");
    let id = reply.call_id().unwrap();
    assert_eq!(
        a.engine.call_owner(id),
        None,
        "the node that took the call decides it"
    );
    assert_eq!(b.engine.call_owner(id).as_deref(), Some(&*a.base));

    // The recording lands on B, the end of the call on A. B passes the
    // recording to A, so A's end-of-call writes keep it.
    let url = "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE9";
    let rec = b
        .post(
            &format!("/api/webhooks/recording/{id}"),
            &pairs(&[
                ("RecordingUrl", url),
                ("RecordingSid", "RE9"),
                ("RecordingStatus", "completed"),
            ]),
        )
        .await;
    assert_eq!(rec.status, 204, "{rec:?}");
    let ended = a
        .status(id, 0, "CAleg9", "CAforward", ("completed", 3, Some(75)))
        .await;
    assert_eq!(ended.status, 204, "{ended:?}");
    let action = a.dial_status(id, 0, "completed", Some(75)).await;
    assert!(action.body.contains("<Hangup/>"), "{action:?}");
    let record = store.get_call(id).await.unwrap().unwrap();
    assert_eq!(
        record.recording_url.as_deref(),
        Some(url),
        "the recording survived the end of the call"
    );
    assert!(
        record.ended_at.is_some() && record.attempts.iter().all(|x| x.released),
        "{record:?}"
    );
    assert_eq!(record.duration_seconds, 75);

    // A repeated dial action lands on B: A answers it, and nothing changes.
    let again = b.dial_status(id, 0, "completed", Some(75)).await;
    assert_eq!(
        (again.status, &again.content_type, &again.body),
        (200, &action.content_type, &action.body)
    );
    assert_eq!(store.get_call(id).await.unwrap().unwrap(), record);
    a.stop().await;
    b.stop().await;
}

/// A campaign is decided by one node: a repeat caller is caught whichever
/// node each of the calls lands on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeat_caller_is_caught_across_nodes() {
    let Pair {
        _dir, store, a, b, ..
    } = pair(None, |c| {
        (c.duplicate_window_hours, c.duplicate_action) = (24, DuplicateAction::Reject)
    })
    .await;

    // Both nodes have routed a call for the campaign (so neither starts
    // fresh from the store below).
    for (node, sid, from) in [
        (&a, "CAwarm1", "+15551110001"),
        (&b, "CAwarm2", "+15551110002"),
    ] {
        let mut p = voice(sid, NUMBER);
        p.iter_mut().find(|(k, _)| k == "From").unwrap().1 = from.into();
        assert!(node.post("/api/webhooks/voice", &p).await.is_dial());
    }
    assert!(
        a.call("CAfirst", NUMBER).await.is_dial(),
        "the first call of a caller is taken"
    );
    let again = b.call("CAagain", NUMBER).await;
    assert!(
        again.is_polite_rejection(),
        "the same caller through the other node is a duplicate: {again:?}"
    );
    let record = store.get_call_by_sid("CAagain").await.unwrap().unwrap();
    assert_eq!(record.reject_reason, Some(RejectReason::DuplicateCaller));
    a.stop().await;
    b.stop().await;
}

/// A call recorded later than the settle wait allows is not dialed: the
/// buyer's next owner may already have counted without it. (A settle wait
/// equal to the allowed skew leaves no time at all, so every call is late.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_recorded_too_late_is_withdrawn() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let no_time = ClusterTiming {
        settle: fast_cluster().max_skew,
        ..fast_cluster()
    };
    let node = TestServer::start_in_cluster(store.clone(), no_time).await;
    let t = tenant(&node.engine).await;
    let buyer = buyer(&node.engine, t.id, "Buyer", BUYER, Some(1)).await;
    campaign(
        &node.engine,
        t.id,
        NUMBER,
        RoutingPolicy::Priority,
        &[(&buyer, 1, 1)],
        0,
        false,
    )
    .await;
    periodic_check(
        async || node.engine.cluster_converged(),
        Duration::from_secs(10),
    )
    .await;

    let reply = node.call("CAlate", NUMBER).await;
    assert!(reply.is_polite_rejection(), "{reply:?}");
    let record = store.get_call_by_sid("CAlate").await.unwrap().unwrap();
    assert_eq!(record.reject_reason, Some(RejectReason::Overloaded));
    assert!(record.attempts.iter().all(|a| a.released), "{record:?}");
    assert_eq!(
        node.engine.buyer_stats(buyer.id).await.unwrap().active,
        0,
        "the slot was given back"
    );
    node.stop().await;
}

/// Two processes started with one `--cluster-url` would both decide the same
/// buyers: the second is refused while the first is live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_with_the_same_node_url_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let node = TestServer::start_in_cluster(store.clone(), fast_cluster()).await;
    let twin = Engine::start(store, EngineConfig::default()).await.unwrap();
    let link = Arc::new(switchboard::cluster::ClusterLink::new(CLUSTER_SECRET).unwrap());
    let err = twin
        .join_cluster(&node.base, fast_cluster(), link)
        .await
        .expect_err("the twin must not join");
    assert!(err.to_string().contains("another process is live"), "{err}");
    twin.shutdown().await;
    node.stop().await;
}

#[tokio::test]
async fn internal_endpoints_need_the_cluster_secret() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let node = TestServer::start_in_cluster(store, fast_cluster()).await;
    let body =
        serde_json::json!({"buyer": uuid(), "callId": uuid(), "attempt": 0, "answered": false});
    let url = format!("{}/internal/capacity/release", node.base);
    let none = node.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let wrong = node
        .client
        .post(&url)
        .bearer_auth("not-the-secret")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = node
        .client
        .post(&url)
        .bearer_auth(CLUSTER_SECRET)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 204);
    let bad = node
        .client
        .post(&url)
        .bearer_auth(CLUSTER_SECRET)
        .json(&serde_json::json!({"buyer": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let err: serde_json::Value = bad.json().await.unwrap();
    assert!(err["error"]["code"].is_string(), "{err}");

    // A node that is not in a cluster has no internal endpoints.
    let single = TestServer::start().await;
    let r = single
        .client
        .post(format!("{}/internal/capacity/release", single.base))
        .bearer_auth(CLUSTER_SECRET)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

fn uuid() -> String {
    switchboard_model::new_id().to_string()
}
