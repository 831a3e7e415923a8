//! Publishers end to end: `/api/publishers` (CRUD, versions, audit, roles,
//! tenant isolation, the 409 of a publisher still in use), the publisher of
//! numbers, pools, tags and API keys, and calls attributed through a
//! number, a pool, a visit's tag and an RTB ping.

use crate::common;
use crate::rtb;

use common::{Console, TestServer, fields};
use serde_json::{Value, json};
use switchboard_testkit::{Bidder, flat};

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

async fn create(c: &Console, path: &str, body: Value) -> Value {
    let (s, v) = c.post(path, &body).await;
    assert_eq!(s, 201, "POST {path}: {v}");
    v
}

async fn publisher(c: &Console, name: &str) -> String {
    id_of(&create(c, "/api/publishers", json!({"name": name})).await)
}

/// A buyer (25.00 a call after 60 s) created through the API.
pub(crate) async fn buyer(c: &Console, name: &str, number: &str) -> String {
    id_of(
        &create(
            c,
            "/api/buyers",
            json!({"name": name, "phoneNumber": number, "timezone": "America/New_York",
                   "conversionSeconds": 60, "revenue": 25, "currency": "USD"}),
        )
        .await,
    )
}

/// An active direct campaign on `number` with one buyer.
pub(crate) async fn direct_campaign(c: &Console, number: &str, buyer: &str, extra: Value) -> Value {
    let mut body = json!({"name": format!("direct {number}"), "status": "active", "phoneNumber": number,
        "buyers": [{"buyerId": buyer}], "maxFallthrough": 0});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    create(c, "/api/campaigns", body).await
}

async fn call_of(c: &Console, reply: &common::Reply) -> Value {
    let id = reply
        .call_id()
        .unwrap_or_else(|| panic!("not routed: {reply:?}"));
    let (s, call) = c.get(&format!("/api/calls/{id}")).await;
    assert_eq!(s, 200, "{call}");
    call
}

#[tokio::test]
async fn publishers_are_versioned_audited_and_validated() {
    let server = TestServer::start().await;
    let a = server.signup("Acme Network", "alice").await;

    let p = create(
        &a,
        "/api/publishers",
        json!({"name": "Leads Co", "company": "Leads Co LLC", "contact": "ops@leads.example", "subId": "pub-7"}),
    )
    .await;
    assert_eq!(
        (
            p["status"].as_str(),
            p["subId"].as_str(),
            p["version"].as_u64()
        ),
        (Some("active"), Some("pub-7"), Some(1))
    );
    let path = format!("/api/publishers/{}", id_of(&p));
    let (s, _, h) = a.send(reqwest::Method::GET, &path, None, &[]).await;
    assert_eq!((s, h["etag"].to_str().unwrap()), (200, "\"1\""));

    // Every problem at once; unknown fields and statuses are 400s.
    let (s, e) = a
        .post(
            "/api/publishers",
            &json!({"name": " ", "subId": "has space"}),
        )
        .await;
    assert_eq!((s, fields(&e)), (422, vec!["name".into(), "subId".into()]));
    let (s, _) = a.post("/api/publishers", &json!({"company": "x"})).await;
    assert_eq!(s, 422, "a name is required");
    let (s, _) = a
        .post("/api/publishers", &json!({"name": "x", "status": "gone"}))
        .await;
    assert_eq!(s, 400);

    // PATCH pauses it; a stale If-Match is a 412 and changes nothing.
    let (s, v) = a.patch(&path, &json!({"status": "paused"})).await;
    assert_eq!(
        (
            s,
            v["status"].as_str(),
            v["version"].as_u64(),
            v["name"].as_str()
        ),
        (200, Some("paused"), Some(2), Some("Leads Co"))
    );
    let (s, _, _) = a
        .send(
            reqwest::Method::PUT,
            &path,
            Some(&json!({"name": "Renamed"})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(s, 412);
    assert_eq!(a.get(&path).await.1["name"], "Leads Co");

    let (_, list) = a.get("/api/publishers").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    assert_eq!(a.delete(&path).await.0, 204);
    assert_eq!(a.get(&path).await.0, 404);
    let (_, audit) = a.get("/api/audit?kind=publisher").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["delete", "update", "create"], "{audit}");
}

#[tokio::test]
async fn another_tenant_can_neither_see_nor_reference_a_publisher() {
    let server = TestServer::start().await;
    let a = server.signup("Acme Network", "alice").await;
    let b = server.signup("Bolt Media", "bob").await;
    let mine = publisher(&a, "Leads Co").await;
    let path = format!("/api/publishers/{mine}");

    assert_eq!(b.get(&path).await.0, 404);
    assert_eq!(b.put(&path, &json!({"name": "Taken"})).await.0, 404);
    assert_eq!(b.patch(&path, &json!({"name": "Taken"})).await.0, 404);
    assert_eq!(b.delete(&path).await.0, 404);
    assert_eq!(
        b.get("/api/publishers").await.1["items"],
        json!([]),
        "b lists none of a's"
    );
    assert_eq!(a.get(&path).await.1["name"], "Leads Co", "unchanged");

    // B's resources cannot name A's publisher, nor an unknown one: 422 on the field.
    let unknown = switchboard_model::new_id().to_string();
    for p in [&mine, &unknown] {
        for (path, body) in [
            (
                "/api/numbers",
                json!({"phoneNumber": "+15550500001", "publisherId": p}),
            ),
            ("/api/pools", json!({"name": "Web", "publisherId": p})),
            (
                "/api/tracking-tags",
                json!({"name": "Landing", "publisherId": p}),
            ),
            (
                "/api/api-keys",
                json!({"name": "pub", "role": "viewer", "publisherId": p}),
            ),
        ] {
            let (s, e) = b.post(path, &body).await;
            assert_eq!(
                (s, fields(&e)),
                (422, vec!["publisherId".to_owned()]),
                "{path}: {e}"
            );
        }
    }
    // Nor can an update.
    let n = create(&b, "/api/numbers", json!({"phoneNumber": "+15550500002"})).await;
    let (s, e) = b
        .patch(
            &format!("/api/numbers/{}", id_of(&n)),
            &json!({"publisherId": mine}),
        )
        .await;
    assert_eq!((s, fields(&e)), (422, vec!["publisherId".to_owned()]));
}

#[tokio::test]
async fn a_publisher_that_owns_anything_is_not_deleted_and_the_409_names_it() {
    let server = TestServer::start().await;
    let a = server.signup("Acme Network", "alice").await;
    let p = publisher(&a, "Leads Co").await;
    let path = format!("/api/publishers/{p}");
    let n = create(
        &a,
        "/api/numbers",
        json!({"phoneNumber": "+15550500010", "publisherId": p}),
    )
    .await;
    assert_eq!(n["publisherId"].as_str(), Some(p.as_str()));
    let pool = create(&a, "/api/pools", json!({"name": "Web", "publisherId": p})).await;
    let tag = create(
        &a,
        "/api/tracking-tags",
        json!({"name": "Landing", "publisherId": p}),
    )
    .await;
    let key = create(
        &a,
        "/api/api-keys",
        json!({"name": "leads pings", "role": "viewer", "publisherId": p}),
    )
    .await;
    assert_eq!(key["publisherId"].as_str(), Some(p.as_str()));

    let (s, e) = a.delete(&path).await;
    assert_eq!(s, 409, "{e}");
    let msg = e["error"]["message"].as_str().unwrap();
    for named in [
        "+15550500010",
        "pool \"Web\"",
        "tracking tag \"Landing\"",
        "api key \"leads pings\"",
    ] {
        assert!(msg.contains(named), "{named} in {msg}");
    }

    // Once nothing names it, it goes.
    let clear = json!({"publisherId": null});
    for r in [
        format!("/api/numbers/{}", id_of(&n)),
        format!("/api/pools/{}", id_of(&pool)),
        format!("/api/tracking-tags/{}", id_of(&tag)),
    ] {
        let (s, v) = a.patch(&r, &clear).await;
        assert_eq!(s, 200, "{r}: {v}");
    }
    assert_eq!(a.delete(&path).await.0, 409, "the api key still names it");
    assert_eq!(
        a.delete(&format!("/api/api-keys/{}", id_of(&key))).await.0,
        204
    );
    assert_eq!(a.delete(&path).await.0, 204);
}

#[tokio::test]
async fn viewers_read_publishers_and_only_managers_write_them() {
    let server = TestServer::start().await;
    let a = server.signup("Acme Network", "alice").await;
    let p = publisher(&a, "Leads Co").await;
    let viewer = create(&a, "/api/api-keys", json!({"name": "v", "role": "viewer"})).await;
    let viewer = Console::with_key(&server.base, viewer["key"].as_str().unwrap());
    assert_eq!(viewer.get(&format!("/api/publishers/{p}")).await.0, 200);
    assert_eq!(
        viewer
            .post("/api/publishers", &json!({"name": "x"}))
            .await
            .0,
        403
    );
    assert_eq!(
        viewer
            .patch(&format!("/api/publishers/{p}"), &json!({"name": "x"}))
            .await
            .0,
        403
    );
    assert_eq!(viewer.delete(&format!("/api/publishers/{p}")).await.0, 403);
}

#[tokio::test]
async fn a_call_is_attributed_to_the_publisher_of_the_number_dialed() {
    let server = TestServer::start().await;
    let (a, _) = rtb::setup(&server).await;
    let p = id_of(
        &create(
            &a,
            "/api/publishers",
            json!({"name": "Leads Co", "subId": "leads-7"}),
        )
        .await,
    );
    let other = publisher(&a, "Other").await;
    let b = buyer(&a, "Acme Insurance", common::ACME).await;
    create(
        &a,
        "/api/numbers",
        json!({"phoneNumber": "+15550500100", "publisherId": p}),
    )
    .await;
    direct_campaign(&a, "+15550500100", &b, json!({})).await;
    // A campaign number outside the inventory has no publisher.
    direct_campaign(&a, "+15550500101", &b, json!({})).await;

    let call = call_of(&a, &server.call("CApub1", "+15550500100").await).await;
    assert_eq!(call["publisherId"].as_str(), Some(p.as_str()), "{call}");
    // Its tags name it, for filters and templates.
    assert_eq!(
        (
            call["tags"]["publisherId"].as_str(),
            call["tags"]["publisherSubId"].as_str()
        ),
        (Some(p.as_str()), Some("leads-7")),
        "{call}"
    );
    let call = call_of(&a, &server.call("CApub2", "+15550500101").await).await;
    assert_eq!(call["publisherId"], Value::Null, "{call}");

    // The calls list filters by publisher.
    let (_, list) = a.get(&format!("/api/calls?publisherId={p}")).await;
    let sids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["callSid"].as_str().unwrap())
        .collect();
    assert_eq!(sids, ["CApub1"]);
    let (_, list) = a.get(&format!("/api/calls?publisherId={other}")).await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn a_paused_publishers_calls_are_refused_and_recorded_until_it_is_active() {
    let server = TestServer::start().await;
    let (a, _) = rtb::setup(&server).await;
    let p = create(&a, "/api/publishers", json!({"name": "Leads Co"})).await;
    let id = id_of(&p);
    let b = buyer(&a, "Acme Insurance", common::ACME).await;
    create(
        &a,
        "/api/numbers",
        json!({"phoneNumber": "+15550500200", "publisherId": id}),
    )
    .await;
    direct_campaign(&a, "+15550500200", &b, json!({})).await;
    let (s, _) = a
        .patch(
            &format!("/api/publishers/{id}"),
            &json!({"status": "paused"}),
        )
        .await;
    assert_eq!(s, 200);

    let reply = server.call("CApaused1", "+15550500200").await;
    assert!(!reply.is_dial(), "{reply:?}");
    let (_, list) = a.get("/api/calls").await;
    let call = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["callSid"] == "CApaused1")
        .expect("the refused call is recorded")
        .clone();
    assert_eq!(
        (&call["status"], &call["rejectReason"], &call["publisherId"]),
        (&json!("rejected"), &json!("publisher-paused"), &json!(id)),
        "{call}"
    );

    let (s, _) = a
        .patch(
            &format!("/api/publishers/{id}"),
            &json!({"status": "active"}),
        )
        .await;
    assert_eq!(s, 200);
    let reply = server.call("CApaused2", "+15550500200").await;
    assert_eq!(reply.dialed().as_deref(), Some(common::ACME), "{reply:?}");
}

#[tokio::test]
async fn a_pool_call_is_the_visits_tags_publisher_else_the_pools() {
    let server = TestServer::start().await;
    let (a, _) = rtb::setup(&server).await;
    let (by_pool, by_tag, by_number) = (
        publisher(&a, "Pool owner").await,
        publisher(&a, "Tag owner").await,
        publisher(&a, "Number owner").await,
    );
    let numbers = ["+15550500201", "+15550500202"];
    for n in numbers {
        create(
            &a,
            "/api/numbers",
            json!({"phoneNumber": n, "publisherId": by_number}),
        )
        .await;
    }
    let pool = id_of(
        &create(
            &a,
            "/api/pools",
            json!({"name": "Web", "numbers": numbers, "publisherId": by_pool}),
        )
        .await,
    );
    let tag = create(
        &a,
        "/api/tracking-tags",
        json!({"name": "Landing", "tagCode": "pub-landing", "poolId": pool, "publisherId": by_tag}),
    )
    .await;
    let b = buyer(&a, "Acme Insurance", common::ACME).await;
    create(
        &a,
        "/api/campaigns",
        json!({"name": "web", "status": "active", "routingType": "pool", "poolId": pool,
               "buyers": [{"buyerId": b}], "maxFallthrough": 0}),
    )
    .await;

    let visit = |code: &'static str| {
        let client = server.client.clone();
        let url = format!("{}/api/dni/track", server.base);
        async move {
            let v: Value = client
                .post(url)
                .header("Origin", "https://shop.example")
                .json(&json!({"tagCode": code, "referrer": "", "userAgent": "test", "landingPage": "https://shop.example/"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["phoneNumber"].as_str().unwrap().to_owned()
        }
    };
    let leased = visit("pub-landing").await;
    let call = call_of(&a, &server.call("CApool1", &leased).await).await;
    assert_eq!(call["attribution"]["tagId"], tag["id"], "{call}");
    assert_eq!(
        call["publisherId"].as_str(),
        Some(by_tag.as_str()),
        "{call}"
    );

    // The other number, with no visit holding it: the pool's publisher.
    let free = numbers.iter().find(|n| **n != leased).unwrap();
    let call = call_of(&a, &server.call("CApool2", free).await).await;
    assert_eq!(call["attribution"], Value::Null, "{call}");
    assert_eq!(
        call["publisherId"].as_str(),
        Some(by_pool.as_str()),
        "{call}"
    );

    // A tag without a publisher leaves the visit's calls to the pool's.
    let (s, _) = a
        .patch(
            &format!("/api/tracking-tags/{}", id_of(&tag)),
            &json!({"publisherId": null}),
        )
        .await;
    assert_eq!(s, 200);
    let call = call_of(&a, &server.call("CApool3", &leased).await).await;
    assert_eq!(
        call["publisherId"].as_str(),
        Some(by_pool.as_str()),
        "{call}"
    );
}

#[tokio::test]
async fn a_call_after_a_publishers_ping_is_attributed_to_the_key_that_pinged() {
    let server = TestServer::start_with_engine(None, rtb::with_flag()).await;
    let (a, _) = rtb::setup(&server).await;
    let p = publisher(&a, "Pinger").await;
    let bidder = Bidder::start(5, 200, &flat("12.00", "+18005550901")).await;
    let t = rtb::target(&a, "best", &bidder.url, json!({})).await;
    let (_, router) = rtb::campaign(&a, "+15550500300", &[t], json!({}), json!([])).await;
    let key = create(
        &a,
        "/api/api-keys",
        json!({"name": "pinger", "role": "viewer", "publisherId": p}),
    )
    .await;
    let key = key["key"].as_str().unwrap();
    let (s, bid) = rtb::ping(&server, key, router, &[("callerId", common::CALLER)], false).await;
    assert_eq!((s, bid["bid"].as_bool()), (200, Some(true)), "{bid}");

    let call = call_of(&a, &server.call("CAping1", "+15550500300").await).await;
    assert_eq!(call["publisherId"].as_str(), Some(p.as_str()), "{call}");

    // Without a ping, the call runs its own auction and has no publisher.
    let mut voice = common::voice("CAping2", "+15550500300");
    voice.retain(|(k, _)| k != "From");
    voice.push(("From".into(), "+15557770000".into()));
    let reply = server.post("/api/webhooks/voice", &voice).await;
    let call = call_of(&a, &reply).await;
    assert_eq!(call["publisherId"], Value::Null, "{call}");
}

#[tokio::test]
async fn another_node_attributes_by_the_publisher_set_through_this_one() {
    let server = TestServer::start().await;
    let (a, _) = rtb::setup(&server).await;
    let p = publisher(&a, "Leads Co").await;
    let b = buyer(&a, "Acme Insurance", common::ACME).await;
    let n = create(&a, "/api/numbers", json!({"phoneNumber": "+15550500400"})).await;
    direct_campaign(&a, "+15550500400", &b, json!({})).await;
    let other = server
        .second_node(switchboard_engine::EngineConfig::default())
        .await;

    let call = call_of(&a, &other.call("CAnode1", "+15550500400").await).await;
    assert_eq!(call["publisherId"], Value::Null);
    let (s, _) = a
        .patch(
            &format!("/api/numbers/{}", id_of(&n)),
            &json!({"publisherId": p}),
        )
        .await;
    assert_eq!(s, 200);
    // What the other node's poll of the store does.
    other.engine.sync_config().await.unwrap();
    let call = call_of(&a, &other.call("CAnode2", "+15550500400").await).await;
    assert_eq!(call["publisherId"].as_str(), Some(p.as_str()), "{call}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_over_a_publishers_concurrency_cap_are_rejected_exactly() {
    let server = TestServer::start().await;
    let (a, _) = rtb::setup(&server).await;
    let p = id_of(
        &create(
            &a,
            "/api/publishers",
            json!({"name": "Capped", "concurrencyLimit": 3, "dailyCap": 1000}),
        )
        .await,
    );
    let b = buyer(&a, "Acme Insurance", common::ACME).await;
    create(
        &a,
        "/api/numbers",
        json!({"phoneNumber": "+15550500500", "publisherId": p}),
    )
    .await;
    direct_campaign(&a, "+15550500500", &b, json!({})).await;

    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(120));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..120 {
        let (client, base, barrier) = (server.client.clone(), server.base.clone(), barrier.clone());
        set.spawn(async move {
            let sid = format!("CAcap{i:03}");
            barrier.wait().await;
            common::post_signed_with(
                &client,
                &base,
                common::TOKEN,
                "/api/webhooks/voice",
                &common::voice(&sid, "+15550500500"),
            )
            .await
            .expect("request")
        });
    }
    let replies = set.join_all().await;
    let dialed: Vec<&common::Reply> = replies.iter().filter(|r| r.is_dial()).collect();
    assert_eq!(dialed.len(), 3, "the publisher's three slots, no more");
    assert_eq!(
        replies.iter().filter(|r| r.is_polite_rejection()).count(),
        117
    );
    let (_, rejected) = a.get("/api/calls?status=rejected&limit=500").await;
    let reasons: Vec<&str> = rejected["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rejectReason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 117);
    assert!(reasons.iter().all(|r| *r == "publisher-cap"), "{reasons:?}");
    let publisher: switchboard_model::Id = p.parse().unwrap();
    assert_eq!(
        server.engine.buyer_stats(publisher).await.unwrap().active,
        3
    );

    // One call ends: its slot is free for the next.
    let done = dialed[0].call_id().unwrap();
    let (_, rec) = a.get(&format!("/api/calls/{done}")).await;
    let sid = rec["callSid"].as_str().unwrap();
    server
        .status(
            done,
            0,
            &format!("{sid}leg"),
            sid,
            ("completed", 3, Some(30)),
        )
        .await;
    assert_eq!(
        server.engine.buyer_stats(publisher).await.unwrap().active,
        2
    );
    assert!(server.call("CAcapnext", "+15550500500").await.is_dial());
}

#[tokio::test]
async fn a_publishers_daily_cap_counts_ended_calls_and_follows_its_change() {
    let server = TestServer::start().await;
    let (a, _) = rtb::setup(&server).await;
    // The tenant's zone is where the publisher's days begin.
    let (s, t) = a
        .patch("/api/tenant", &json!({"timezone": "America/Chicago"}))
        .await;
    assert_eq!(
        (s, t["timezone"].as_str()),
        (200, Some("America/Chicago")),
        "{t}"
    );
    let (s, e) = a
        .patch("/api/tenant", &json!({"timezone": "Mars/Olympus"}))
        .await;
    assert_eq!((s, fields(&e)), (422, vec!["timezone".to_owned()]));
    let p = create(
        &a,
        "/api/publishers",
        json!({"name": "Daily", "dailyCap": 2, "monthlyCap": 100}),
    )
    .await;
    let (s, e) = a
        .post(
            "/api/publishers",
            &json!({"name": "Bad", "dailyCap": 0, "concurrencyLimit": 0}),
        )
        .await;
    assert_eq!(
        (s, fields(&e)),
        (
            422,
            vec!["concurrencyLimit".to_owned(), "dailyCap".to_owned()]
        )
    );
    let b = buyer(&a, "Acme Insurance", common::ACME).await;
    create(
        &a,
        "/api/numbers",
        json!({"phoneNumber": "+15550500600", "publisherId": id_of(&p)}),
    )
    .await;
    direct_campaign(&a, "+15550500600", &b, json!({})).await;

    for i in 0..2 {
        let sid = format!("CAday{i}");
        let r = server.call(&sid, "+15550500600").await;
        assert!(r.is_dial(), "{r:?}");
        server
            .status(
                r.call_id().unwrap(),
                0,
                &format!("{sid}leg"),
                &sid,
                ("completed", 3, Some(20)),
            )
            .await;
    }
    let third = server.call("CAday2", "+15550500600").await;
    assert!(third.is_polite_rejection(), "{third:?}");
    let (_, rec) = a.get("/api/calls?status=rejected").await;
    assert_eq!(rec["items"][0]["rejectReason"], "publisher-cap");

    let (s, _) = a
        .patch(
            &format!("/api/publishers/{}", id_of(&p)),
            &json!({"dailyCap": 3}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(server.call("CAday3", "+15550500600").await.is_dial());
    assert!(
        server
            .call("CAday4", "+15550500600")
            .await
            .is_polite_rejection()
    );
}

#[tokio::test]
async fn a_publishers_counts_are_rebuilt_from_its_calls_at_start() {
    use std::sync::Arc;
    use switchboard_model::{BuyerAssignment, CallRecord, Campaign, RoutingPolicy, Tenant, new_id};
    use switchboard_store::{Doc, DocKind, EmbeddedStore, Store};

    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let tenant = Tenant {
        id: new_id(),
        name: "Restarted".into(),
        twilio_account_sid: Some(common::ACCOUNT.into()),
        twilio_auth_token: common::TOKEN.into(),
        timezone: chrono_tz::Tz::UTC,
        publisher_sees_caller_numbers: false,
        version: 0,
        created_at: chrono::Utc::now(),
    };
    let (publisher, buyer, number_id) = (new_id(), new_id(), new_id());
    let number = "+15550500700";
    let mut campaign = Campaign::direct(
        tenant.id,
        "restarted",
        number.parse().unwrap(),
        RoutingPolicy::Priority,
        vec![BuyerAssignment {
            buyer_id: buyer,
            priority: 1,
            weight: 1,
        }],
    );
    campaign.max_fallthrough = 0;
    let docs = [
        (
            DocKind::Tenant,
            tenant.id,
            serde_json::to_value(&tenant).unwrap(),
        ),
        (
            DocKind::Publisher,
            publisher,
            json!({"id": publisher, "tenantId": tenant.id, "name": "Capped", "dailyCap": 3, "concurrencyLimit": 5}),
        ),
        (
            DocKind::Number,
            number_id,
            json!({"id": number_id, "tenantId": tenant.id, "phoneNumber": number, "publisherId": publisher}),
        ),
        (
            DocKind::Buyer,
            buyer,
            json!({"id": buyer, "tenantId": tenant.id, "name": "Acme", "phoneNumber": common::ACME,
                   "timezone": "UTC", "conversionSeconds": 60, "revenue": 25}),
        ),
        (
            DocKind::Campaign,
            campaign.id,
            serde_json::to_value(&campaign).unwrap(),
        ),
    ];
    for (kind, id, body) in docs {
        let doc = Doc {
            kind,
            tenant: tenant.id,
            id,
            version: 0,
            body,
        };
        store.put_doc(doc, None).await.unwrap();
    }
    // Before the restart: two calls ended today, one still ringing, one
    // refused (which does not count), all the publisher's.
    let call = |sid: &str, status: &str| -> CallRecord {
        serde_json::from_value(json!({
            "id": new_id(), "callSid": sid, "tenantId": tenant.id, "campaignId": campaign.id,
            "from": common::CALLER, "to": number, "status": status,
            "startedAt": chrono::Utc::now() - chrono::Duration::minutes(5), "publisherId": publisher
        }))
        .unwrap()
    };
    store
        .put_calls(&[
            call("CAold1", "completed"),
            call("CAold2", "completed"),
            call("CAold3", "ringing"),
            call("CAold4", "rejected"),
        ])
        .await
        .unwrap();

    let server = TestServer::start_on(dir, store).await;
    let reply = server.call("CAafter", number).await;
    assert!(
        reply.is_polite_rejection(),
        "three of three counted: {reply:?}"
    );
    assert_eq!(
        server.engine.buyer_stats(publisher).await.unwrap().active,
        1,
        "the ringing call holds its slot again"
    );
}
