//! Two nodes on one store, the way two `serve` nodes share a ScyllaDB
//! cluster: configuration made through node A's admin API reaches node B
//! within its polling interval — number pools, tracking tags, RTB targets
//! and routers — and B's webhooks and track endpoint act on it.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Console, TestServer, fast_cluster, periodic_check};
use serde_json::{Value, json};
use switchboard_engine::EngineConfig;
use switchboard_model::Id;
use switchboard_store::{EmbeddedStore, Store};

const WAIT: Duration = Duration::from_secs(5);

/// A manager's console on node `a` for a new tenant whose Twilio account is
/// the one the webhook helpers sign for.
async fn manager(a: &TestServer, name: &str) -> Console {
    let console = a.signup(name, "owner").await;
    let mut t = (*a
        .engine
        .tenants()
        .into_iter()
        .find(|t| t.name == name)
        .expect("tenant"))
    .clone();
    t.twilio_account_sid = Some(common::ACCOUNT.into());
    t.twilio_auth_token = common::TOKEN.into();
    let version = t.version;
    a.engine
        .put_tenant(t, Some(version))
        .await
        .expect("connect twilio");
    console
}

fn id(v: &Value) -> Id {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .parse()
        .unwrap()
}

async fn created(console: &Console, path: &str, body: Value) -> Value {
    let (s, v) = console.post(path, &body).await;
    assert_eq!(s, 201, "{path}: {v}");
    v
}

async fn updated(console: &Console, path: &str, body: Value) -> Value {
    let (s, v) = console.put(path, &body).await;
    assert_eq!(s, 200, "{path}: {v}");
    v
}

async fn deleted(console: &Console, path: &str) {
    let (s, v) = console.delete(path).await;
    assert_eq!(s, 204, "{path}: {v}");
}

/// A web visitor: the session id the server gave it, kept as the script keeps it.
#[derive(Default)]
struct Visitor(std::sync::Mutex<Option<String>>);

impl Visitor {
    fn session(&self) -> Option<String> {
        self.0.lock().unwrap().clone()
    }
}

/// What `visitor`'s page on node `server` gets from the track endpoint.
async fn leased(server: &TestServer, visitor: &Visitor) -> Option<String> {
    let mut body = json!({"tagCode": "landing", "referrer": "", "landingPage": "https://shop.example/?utm_source=google"});
    if let Some(s) = visitor.session() {
        body["sessionId"] = json!(s);
    }
    let resp = server
        .client
        .post(format!("{}/api/dni/track", server.base))
        .header("Origin", "https://shop.example")
        .json(&body)
        .send()
        .await
        .expect("request");
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    if let Some(s) = v["sessionId"].as_str() {
        *visitor.0.lock().unwrap() = Some(s.to_owned());
    }
    // The fallback number is shown with `success: true` too: only a lease counts.
    v["leaseExpiresAt"].as_str()?;
    v["phoneNumber"].as_str().map(str::to_owned)
}

const P1: &str = "+15550003001";
const P2: &str = "+15550003002";
const FALLBACK: &str = "+15550003999";

#[tokio::test]
async fn a_pool_set_up_through_one_node_leases_and_routes_on_the_other() {
    let a = TestServer::start().await;
    a.engine.follow_config(Duration::from_millis(20));
    let b = a.second_node(EngineConfig::default()).await;
    let console = manager(&a, "Acme DNI").await;
    for n in [P1, P2, FALLBACK] {
        created(&console, "/api/numbers", json!({"phoneNumber": n})).await;
    }
    let pool = created(
        &console,
        "/api/pools",
        json!({"name": "Main", "numbers": [P1], "fallbackNumber": FALLBACK}),
    )
    .await;
    let pool_id = id(&pool);
    let tag = created(
        &console,
        "/api/tracking-tags",
        json!({"name": "Landing", "tagCode": "landing", "poolId": pool_id}),
    )
    .await;
    let buyer = created(&console, "/api/buyers", json!({"name": "Acme Insurance", "phoneNumber": common::ACME, "timezone": "America/New_York"})).await;
    let campaign = created(
        &console,
        "/api/campaigns",
        json!({"name": "DNI", "status": "active", "routingType": "pool", "poolId": pool_id, "duplicateWindowHours": 0, "buyers": [{"buyerId": buyer["id"], "priority": 1}]}),
    )
    .await;

    // A page served through node B leases the pool's number; B routes the
    // call to it and attributes it to that visit.
    // (A poll may read the pool before the campaign is written: wait for both.)
    let campaign_id: switchboard_model::Id = campaign["id"].as_str().unwrap().parse().unwrap();
    let (v1, v2, v3) = (Visitor::default(), Visitor::default(), Visitor::default());
    periodic_check(
        || async {
            b.engine.campaign(campaign_id).is_some() && leased(&b, &v1).await.as_deref() == Some(P1)
        },
        WAIT,
    )
    .await;
    let reply = b.call("CApool1", P1).await;
    assert_eq!(reply.dialed().as_deref(), Some(common::ACME), "{reply:?}");
    let (_, call) = console
        .get(&format!("/api/calls/{}", reply.call_id().unwrap()))
        .await;
    assert_eq!(
        (
            &call["poolId"],
            &call["attribution"]["sessionId"],
            &call["attribution"]["source"]
        ),
        (&json!(pool_id), &json!(v1.session()), &json!("google"))
    );

    // Node A swaps the pool's number: B leases the new one, and the old one
    // is no longer in service there.
    updated(&console, &format!("/api/pools/{pool_id}"), json!({"name": "Main", "numbers": [P2], "fallbackNumber": FALLBACK, "version": pool["version"]})).await;
    periodic_check(
        || async { leased(&b, &v2).await.as_deref() == Some(P2) },
        WAIT,
    )
    .await;
    let reply = b.call("CApool2", P2).await;
    assert_eq!(reply.dialed().as_deref(), Some(common::ACME), "{reply:?}");
    assert!(b.call("CApool3", P1).await.body.contains("not in service"));

    // Node A deletes the tag, the campaign and the pool: B stops leasing.
    deleted(&console, &format!("/api/tracking-tags/{}", id(&tag))).await;
    assert_eq!(
        leased(&b, &v3).await,
        None,
        "tags are read from the store: gone at once"
    );
    deleted(&console, &format!("/api/campaigns/{}", id(&campaign))).await;
    deleted(&console, &format!("/api/pools/{pool_id}")).await;
    periodic_check(|| async { b.engine.pool(pool_id).is_none() }, WAIT).await;
    assert!(b.call("CApool4", P2).await.body.contains("not in service"));
}

/// A bidder on loopback that bids `amount` dollars to send calls to `number`.
async fn bidder(amount: u32, number: &str) -> String {
    switchboard_testkit::Bidder::bidding(amount, number)
        .await
        .url
}

/// Calls `number` on node `b` until it dials `want` (each call a new one).
async fn until_dialed(b: &TestServer, number: &str, want: &str, n: &mut u32) {
    let deadline = Instant::now() + WAIT;
    loop {
        *n += 1;
        let dialed = b.call(&format!("CArtb{n}"), number).await.dialed();
        if dialed.as_deref() == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node B still dials {dialed:?}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn target(name: &str, url: &str) -> Value {
    json!({"name": name, "endpointUrl": url, "minBidAmount": 1, "maxBidAmount": 50, "timeoutMs": 5000, "requestBody": r#"{"callerId": "{callerId}"}"#})
}

fn router(targets: &[Id], version: Option<&Value>) -> Value {
    let targets: Vec<Value> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"targetId": t, "priority": i + 1}))
        .collect();
    let mut r = json!({"name": "Main", "biddingTimeoutMs": 1500, "minBiddersRequired": 1, "targets": targets});
    if let Some(v) = version {
        r["version"] = v.clone();
    }
    r
}

#[tokio::test]
async fn rtb_targets_and_routers_set_up_through_one_node_bid_on_the_other() {
    let config = EngineConfig {
        rtb_allow_private_targets: true,
        ..EngineConfig::default()
    };
    let a = TestServer::start_with_engine(None, config.clone()).await;
    a.engine.follow_config(Duration::from_millis(20));
    let b = a.second_node(config).await;
    let console = manager(&a, "Acme RTB").await;
    let number = "+15550009001";
    let mut n = 0;

    let t1 = id(&created(
        &console,
        "/api/rtb/targets",
        target("first", &bidder(10, "+18005550101").await),
    )
    .await);
    let r = created(&console, "/api/rtb/routers", router(&[t1], None)).await;
    let campaign = created(
        &console,
        "/api/campaigns",
        json!({"name": "RTB", "status": "active", "routingType": "rtb", "rtbRouterId": r["id"], "phoneNumber": number, "duplicateWindowHours": 0, "buyers": []}),
    )
    .await;
    until_dialed(&b, number, "+18005550101", &mut n).await;

    // A higher bidder joins the router on node A: node B's auctions ask it.
    let t2 = created(
        &console,
        "/api/rtb/targets",
        target("second", &bidder(20, "+18005550102").await),
    )
    .await;
    let r = updated(
        &console,
        &format!("/api/rtb/routers/{}", id(&r)),
        router(&[t1, id(&t2)], Some(&r["version"])),
    )
    .await;
    until_dialed(&b, number, "+18005550102", &mut n).await;

    // It moves to another endpoint, bidding higher still.
    let mut moved = target("second", &bidder(30, "+18005550103").await);
    moved["version"] = t2["version"].clone();
    updated(&console, &format!("/api/rtb/targets/{}", id(&t2)), moved).await;
    until_dialed(&b, number, "+18005550103", &mut n).await;

    // It leaves the router and is deleted: node B forgets it.
    let r = updated(
        &console,
        &format!("/api/rtb/routers/{}", id(&r)),
        router(&[t1], Some(&r["version"])),
    )
    .await;
    deleted(&console, &format!("/api/rtb/targets/{}", id(&t2))).await;
    until_dialed(&b, number, "+18005550101", &mut n).await;
    periodic_check(
        || async { b.engine.rtb_breaker_state(id(&t2)).is_none() },
        WAIT,
    )
    .await;

    // The campaign and its router are deleted.
    deleted(&console, &format!("/api/campaigns/{}", id(&campaign))).await;
    deleted(&console, &format!("/api/rtb/routers/{}", id(&r))).await;
    // (A check can land mid-poll, between the router's removal and the campaign's.)
    let mut gone = 0;
    periodic_check(
        || {
            gone += 1;
            let sid = format!("CArtbgone{gone}");
            let (b, r) = (&b, &r);
            async move {
                b.engine.rtb_router(id(r)).is_none()
                    && b.call(&sid, number).await.body.contains("not in service")
            }
        },
        WAIT,
    )
    .await;
}

/// In a cluster one node keeps a pool's leases: pages served by either node
/// never get one number for two visits, a visit keeps its number whichever
/// node it asks, and a call through either node is attributed to the visit
/// holding the number it dialed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_a_cluster_one_node_keeps_a_pools_leases() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let a = TestServer::start_in_cluster(store.clone(), fast_cluster()).await;
    let b = TestServer::start_in_cluster(store, fast_cluster()).await;
    for node in [&a, &b] {
        node.engine.follow_config(Duration::from_millis(20));
    }
    let console = manager(&a, "Acme Cluster DNI").await;
    for n in [P1, P2, FALLBACK] {
        created(&console, "/api/numbers", json!({"phoneNumber": n})).await;
    }
    let pool = created(
        &console,
        "/api/pools",
        json!({"name": "Main", "numbers": [P1, P2], "fallbackNumber": FALLBACK}),
    )
    .await;
    created(
        &console,
        "/api/tracking-tags",
        json!({"name": "Landing", "tagCode": "landing", "poolId": id(&pool)}),
    )
    .await;
    let buyer = created(&console, "/api/buyers", json!({"name": "Acme Insurance", "phoneNumber": common::ACME, "timezone": "America/New_York"})).await;
    let campaign = created(
        &console,
        "/api/campaigns",
        json!({"name": "DNI", "status": "active", "routingType": "pool", "poolId": id(&pool), "duplicateWindowHours": 0, "buyers": [{"buyerId": buyer["id"], "priority": 1}]}),
    )
    .await;
    periodic_check(
        || async {
            b.engine.campaign(id(&campaign)).is_some()
                && a.engine.cluster_converged()
                && b.engine.cluster_converged()
        },
        WAIT,
    )
    .await;

    let (v1, v2) = (Visitor::default(), Visitor::default());
    let first = leased(&a, &v1).await.expect("a number for the first visit");
    let second = leased(&b, &v2)
        .await
        .expect("a number for the second visit");
    assert_ne!(
        first, second,
        "two visits, through two nodes, got one number"
    );
    assert_eq!(
        leased(&b, &v1).await.as_deref(),
        Some(first.as_str()),
        "a visit keeps its number on the other node"
    );
    for node in [&a, &b] {
        let stats = node.engine.pool_stats(id(&pool)).await.unwrap().unwrap();
        assert_eq!(stats.leased_now, 2, "each node reports the one lease table");
    }

    // The second visit calls; node A takes the call and attributes it.
    let reply = a.call("CAclusterdni", &second).await;
    assert_eq!(reply.dialed().as_deref(), Some(common::ACME), "{reply:?}");
    let (_, call) = console
        .get(&format!("/api/calls/{}", reply.call_id().unwrap()))
        .await;
    assert_eq!(
        call["attribution"]["sessionId"],
        json!(v2.session()),
        "{call}"
    );
}
