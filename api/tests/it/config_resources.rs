//! Numbers, pools, RTB targets and routers, tracking tags through HTTP:
//! CRUD, validation, system-wide uniqueness (also under concurrent
//! requests), "in use" conflicts, roles, and tenant isolation.

use crate::common;

use common::{Console, TestServer, fields};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchboard_model::{Campaign, CampaignStatus, Id, RoutingType, new_id};
use switchboard_store::{Doc, DocKind};

/// The tenant a console belongs to.
async fn tenant_of(c: &Console) -> Id {
    let (s, me) = c.get("/api/auth/user").await;
    assert_eq!(s, 200);
    me["tenantId"].as_str().unwrap().parse().unwrap()
}

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

/// A campaign of `tenant` stored through the engine (campaign CRUD is another module's).
async fn seed_campaign(
    server: &TestServer,
    tenant: Id,
    name: &str,
    pool: Option<&str>,
    router: Option<&str>,
) -> Campaign {
    seed(server, tenant, name, None, pool, router).await
}

async fn seed(
    server: &TestServer,
    tenant: Id,
    name: &str,
    number: Option<&str>,
    pool: Option<&str>,
    router: Option<&str>,
) -> Campaign {
    let c = Campaign {
        id: new_id(),
        tenant_id: tenant,
        name: name.into(),
        description: String::new(),
        status: CampaignStatus::Draft,
        routing_type: match (number, router) {
            (Some(_), _) => RoutingType::Direct,
            (None, Some(_)) => RoutingType::Rtb,
            (None, None) => RoutingType::Pool,
        },
        phone_number: number.map(|n| n.parse().unwrap()),
        pool_id: pool.map(|p| p.parse().unwrap()),
        rtb_router_id: router.map(|r| r.parse().unwrap()),
        routing_policy: Default::default(),
        buyers: vec![],
        recording: false,
        dial_timeout_seconds: 30,
        caller_id_mode: Default::default(),
        duplicate_window_hours: 0,
        duplicate_action: Default::default(),
        max_fallthrough: 3,
        tags: Default::default(),
        payout_rules: Vec::new(),
        version: 0,
    };
    server
        .engine
        .put_campaign(c, None)
        .await
        .expect("put campaign")
}

/// An API key with `role` for `tenant`, written straight to the store
/// (key management is another module's); returns the bearer secret.
async fn api_key(server: &TestServer, tenant: Id, role: &str) -> String {
    let secret = format!("sbk_test_{}", new_id().simple());
    let digest = Sha256::digest(secret.as_bytes());
    let id = Id::from_bytes(digest[..16].try_into().unwrap());
    let body = json!({"id": id, "tenantId": tenant, "name": format!("{role} key"), "role": role, "prefix": "sbk_test",
        "createdBy": "test", "createdAt": chrono::Utc::now()});
    server
        .store
        .put_doc(
            Doc {
                kind: DocKind::ApiKey,
                tenant: Id::nil(),
                id,
                version: 0,
                body,
            },
            None,
        )
        .await
        .unwrap();
    secret
}

#[tokio::test]
async fn numbers_are_normalized_versioned_and_unique_across_the_system() {
    let server = TestServer::start().await;
    let a = server.signup("Acme Leads", "alice").await;
    let b = server.signup("Bolt Media", "bob").await;

    let n = create(
        &a,
        "/api/numbers",
        json!({"phoneNumber": "(555) 010-0001", "friendlyName": "Main line"}),
    )
    .await;
    assert_eq!(
        (
            n["phoneNumber"].as_str(),
            n["version"].as_u64(),
            n["status"].as_str()
        ),
        (Some("+15550100001"), Some(1), Some("active"))
    );
    assert_eq!(
        n["tenantId"].as_str().unwrap(),
        tenant_of(&a).await.to_string()
    );
    let id = id_of(&n);

    // Taken, by the same tenant or by another in any spelling; B learns nothing about A.
    let (s, e) = a
        .post("/api/numbers", &json!({"phoneNumber": "+15550100001"}))
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("conflict")));
    let (s, e) = b
        .post("/api/numbers", &json!({"phoneNumber": "1-555-010-0001"}))
        .await;
    let msg = e["error"]["message"].as_str().unwrap();
    assert_eq!(s, 409);
    assert!(
        msg.contains("+15550100001") && msg.contains("already in use"),
        "{msg}"
    );
    assert!(!msg.contains("Acme") && !msg.contains(&id), "{msg}");

    // Bad input: not a number (400, names it), an unknown field (400), a too-long name (422).
    let (s, e) = a
        .post("/api/numbers", &json!({"phoneNumber": "555-CALL-NOW"}))
        .await;
    assert_eq!((s, fields(&e)), (422, vec!["phoneNumber".to_owned()]));
    assert!(
        e["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("555-CALL-NOW"),
        "{e}"
    );
    assert_eq!(
        a.post("/api/numbers", &json!({"phoneNumber": 5550100001u64}))
            .await
            .0,
        400
    );
    assert_eq!(
        a.post(
            "/api/numbers",
            &json!({"phoneNumber": "+15550100009", "colour": "red"})
        )
        .await
        .0,
        400
    );
    let (s, e) = a
        .post(
            "/api/numbers",
            &json!({"phoneNumber": "+15550100009", "friendlyName": "x".repeat(201)}),
        )
        .await;
    assert_eq!((s, fields(&e)), (422, vec!["friendlyName".to_owned()]));

    // An update without a version replaces the current one; a stale version is a 409;
    // the number itself cannot change.
    let path = format!("/api/numbers/{id}");
    let (s, v) = a
        .put(
            &path,
            &json!({"phoneNumber": "+15550100001", "friendlyName": "Sales"}),
        )
        .await;
    assert_eq!(
        (s, v["friendlyName"].as_str(), v["version"].as_u64()),
        (200, Some("Sales"), Some(2))
    );
    let (s, e) = a
        .put(
            &path,
            &json!({"phoneNumber": "+15550100001", "friendlyName": "Stale", "version": 1}),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("version_conflict"))
    );
    let (s, _, _) = a
        .send(reqwest::Method::PUT, &path, Some(&json!({"phoneNumber": "+15550100001", "friendlyName": "Sales", "status": "inactive"})), &[("If-Match", "\"2\"")])
        .await;
    assert_eq!(s, 200);
    let (s, e) = a
        .put(&path, &json!({"phoneNumber": "+15550100002", "version": 3}))
        .await;
    assert_eq!((s, fields(&e)), (422, vec!["phoneNumber".to_owned()]));
    let (s, v) = a.get(&path).await;
    assert_eq!(
        (s, v["status"].as_str(), v["friendlyName"].as_str()),
        (200, Some("inactive"), Some("Sales"))
    );

    // Deleting releases the number system-wide.
    assert_eq!(a.delete(&path).await.0, 204);
    assert_eq!(a.get(&path).await.0, 404);
    create(&b, "/api/numbers", json!({"phoneNumber": "+15550100001"})).await;
}

#[tokio::test]
async fn a_campaigns_direct_number_is_held_by_it() {
    let server = TestServer::start().await;
    let a = server.signup("Acme Leads", "alice").await;
    let tenant = tenant_of(&a).await;
    let campaign = seed(
        &server,
        tenant,
        "Direct line",
        Some("+15550100007"),
        None,
        None,
    )
    .await;
    let n = create(&a, "/api/numbers", json!({"phoneNumber": "+15550100007"})).await;
    assert_eq!(
        (n["campaignId"].as_str(), n["poolId"].as_str()),
        (Some(campaign.id.to_string().as_str()), None)
    );
    let (s, e) = a.delete(&format!("/api/numbers/{}", id_of(&n))).await;
    assert_eq!(s, 409);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("campaign \"Direct line\""),
        "{e}"
    );
    let (s, e) = a
        .post(
            "/api/pools",
            &json!({"name": "Web", "numbers": ["+15550100007"]}),
        )
        .await;
    assert_eq!(s, 409);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("campaign \"Direct line\""),
        "{e}"
    );
    // A tag may point at the tenant's own campaign.
    let tag = create(
        &a,
        "/api/tracking-tags",
        json!({"name": "Landing", "campaignId": campaign.id}),
    )
    .await;
    assert_eq!(
        tag["campaignId"].as_str(),
        Some(campaign.id.to_string().as_str())
    );
}

#[tokio::test]
async fn concurrent_claims_of_one_number_have_one_winner() {
    let server = TestServer::start().await;
    let a = server.signup("Acme Leads", "alice").await;
    let b = server.signup("Bolt Media", "bob").await;
    let body = json!({"phoneNumber": "+15550100050"});
    let tries: Vec<_> = (0..16)
        .map(|i| if i % 2 == 0 { &a } else { &b })
        .map(|c| c.post("/api/numbers", &body))
        .collect();
    let statuses: Vec<u16> = futures::future::join_all(tries)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        15,
        "{statuses:?}"
    );
    // Lists page by cursor.
    for n in ["+15550100051", "+15550100052"] {
        create(&a, "/api/numbers", json!({"phoneNumber": n})).await;
    }
    let a_total = a.get("/api/numbers").await.1["items"]
        .as_array()
        .unwrap()
        .len();
    let (s, page1) = a.get("/api/numbers?limit=1").await;
    assert_eq!((s, page1["items"].as_array().unwrap().len()), (200, 1));
    let cursor = page1["nextCursor"].as_str().expect("a next page");
    let (_, rest) = a
        .get(&format!("/api/numbers?limit=100&cursor={cursor}"))
        .await;
    assert_eq!(
        (
            rest["items"].as_array().unwrap().len() + 1,
            rest["nextCursor"].as_str()
        ),
        (a_total, None)
    );
    assert_ne!(rest["items"][0]["id"], page1["items"][0]["id"]);
    assert_eq!(a.get("/api/numbers?cursor=nonsense").await.0, 400);
    assert_eq!(a.get("/api/numbers?limit=lots").await.0, 400);
    let listed = a.get("/api/numbers").await.1["items"]
        .as_array()
        .unwrap()
        .len()
        + b.get("/api/numbers").await.1["items"]
            .as_array()
            .unwrap()
            .len();
    assert_eq!(listed, 3);
}

#[tokio::test]
async fn pools_hold_inventory_numbers_exclusively() {
    let server = TestServer::start().await;
    let a = server.signup("Acme Leads", "alice").await;
    for n in [
        "+15550200001",
        "+15550200002",
        "+15550200003",
        "+15550200004",
    ] {
        create(&a, "/api/numbers", json!({"phoneNumber": n})).await;
    }
    let p1 = create(&a, "/api/pools", json!({"name": "Search", "numbers": ["(555) 020-0001", "+15550200002"], "fallbackNumber": "+15550009999"})).await;
    assert_eq!(p1["numbers"], json!(["+15550200001", "+15550200002"]));
    assert_eq!(
        (
            p1["sessionTimeoutSeconds"].as_u64(),
            p1["closedBrowserDelaySeconds"].as_u64()
        ),
        (Some(1800), Some(30))
    );
    let p1_id = id_of(&p1);

    // A number of another pool: 409 naming the holder. Same name (any case): 409.
    let (s, e) = a
        .post(
            "/api/pools",
            &json!({"name": "Social", "numbers": ["+15550200002"]}),
        )
        .await;
    let msg = e["error"]["message"].as_str().unwrap();
    assert_eq!(s, 409);
    assert!(
        msg.contains("+15550200002") && msg.contains("\"Search\""),
        "{msg}"
    );
    let (s, e) = a
        .post("/api/pools", &json!({"name": "search", "numbers": []}))
        .await;
    assert_eq!(s, 409, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("Search"));

    // Every field error at once; numbers must be in the inventory.
    let (s, e) = a
        .post("/api/pools", &json!({"name": " ", "numbers": ["+15550299999", "+15550200003", "+15550200003"], "sessionTimeoutSeconds": 0, "closedBrowserDelaySeconds": 0}))
        .await;
    assert_eq!(s, 422);
    assert_eq!(
        fields(&e),
        [
            "name",
            "numbers[2]",
            "sessionTimeoutSeconds",
            "closedBrowserDelaySeconds",
            "numbers[0]"
        ]
    );
    let (s, e) = a
        .post(
            "/api/pools",
            &json!({"name": "Bad", "numbers": ["+15550200003", "call us"], "fallbackNumber": "12"}),
        )
        .await;
    assert_eq!(
        (s, fields(&e)),
        (
            422,
            vec!["numbers[1]".to_owned(), "fallbackNumber".to_owned()]
        )
    );

    // The inventory shows the holder, and a held number cannot be deleted.
    let numbers = a.get("/api/numbers").await.1;
    let held: Vec<_> = numbers["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["poolId"].as_str() == Some(&p1_id))
        .collect();
    assert_eq!(held.len(), 2);
    let (s, e) = a.delete(&format!("/api/numbers/{}", id_of(held[0]))).await;
    assert_eq!(s, 409);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pool \"Search\""),
        "{e}"
    );

    // Two pools racing for one free number: exactly one gets it.
    let (race1, race2) = (
        json!({"name": "Race 1", "numbers": ["+15550200004"]}),
        json!({"name": "Race 2", "numbers": ["+15550200004"]}),
    );
    let ((s1, _), (s2, _)) =
        tokio::join!(a.post("/api/pools", &race1), a.post("/api/pools", &race2));
    let mut got = [s1, s2];
    got.sort();
    assert_eq!(got, [201, 409]);

    // Moving a number: remove it from one pool, then another may take it.
    let (s, v) = a
        .put(
            &format!("/api/pools/{p1_id}"),
            &json!({"name": "Search", "numbers": ["+15550200001"], "version": 1}),
        )
        .await;
    assert_eq!((s, v["version"].as_u64()), (200, Some(2)));
    create(
        &a,
        "/api/pools",
        json!({"name": "Social", "numbers": ["+15550200002", "+15550200003"]}),
    )
    .await;

    // In use by a tag or a campaign: cannot be deleted, and the 409 says by what.
    let tag = create(
        &a,
        "/api/tracking-tags",
        json!({"name": "Landing", "poolId": p1_id}),
    )
    .await;
    let tenant = tenant_of(&a).await;
    seed_campaign(&server, tenant, "Spring promo", Some(&p1_id), None).await;
    let (s, e) = a.delete(&format!("/api/pools/{p1_id}")).await;
    let msg = e["error"]["message"].as_str().unwrap();
    assert_eq!(s, 409);
    assert!(
        msg.contains("campaign \"Spring promo\"") && msg.contains("tracking tag \"Landing\""),
        "{msg}"
    );
    assert_eq!(
        a.delete(&format!("/api/tracking-tags/{}", id_of(&tag)))
            .await
            .0,
        204
    );
    assert_eq!(a.delete(&format!("/api/pools/{p1_id}")).await.0, 409);
}

fn target_body(name: &str) -> Value {
    json!({
        "name": name, "company": "Bidder Co", "contact": "ops@bidder.example",
        "endpointUrl": "https://bidder.example/bid", "httpMethod": "POST", "contentType": "json",
        "headers": {"X-Source": "{tag:source}"},
        "authType": "bearer", "authToken": "s3cret-token",
        "requestBody": "{\"requestId\": \"{requestId}\", \"caller\": \"{callerId}\", \"min\": {minBid}}",
        "timeoutMs": 800, "bidAmountPath": "$.data.bid.amount", "destinationNumberPath": "data.routing.phone",
        "acceptancePath": "data.routing.accepted", "currencyPath": "currency",
        "concurrencyLimit": 3, "dailyCap": 100, "minBidAmount": 1.25, "maxBidAmount": 40,
        "geo": {"allowStates": ["CA", "NY"]}
    })
}

#[tokio::test]
async fn rtb_targets_validate_templates_and_keep_credentials_write_only() {
    let server = TestServer::start().await;
    let a = server.signup("Acme Leads", "alice").await;
    let t = create(&a, "/api/rtb/targets", target_body("Bidder A")).await;
    assert_eq!(
        (t["authConfigured"].as_bool(), t.get("authToken")),
        (Some(true), None)
    );
    assert_eq!(
        (
            t["minBidAmount"].as_f64(),
            t["maxBidAmount"].as_f64(),
            t["currency"].as_str()
        ),
        (Some(1.25), Some(40.0), Some("USD"))
    );
    let id = id_of(&t);
    let path = format!("/api/rtb/targets/{id}");
    let (_, got) = a.get(&path).await;
    assert!(
        got.get("authToken").is_none() && got["authConfigured"] == json!(true),
        "{got}"
    );
    assert!(
        !a.get("/api/rtb/targets")
            .await
            .1
            .to_string()
            .contains("s3cret")
    );

    // The secret is stored (the auction needs it) and kept by an update that does not resend it.
    let tenant = tenant_of(&a).await;
    let stored = server
        .store
        .get_doc(DocKind::RtbTarget, tenant, id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.body["authToken"], "s3cret-token");
    let mut update = got.clone();
    update["timeoutMs"] = json!(500);
    let (s, v) = a.put(&path, &update).await;
    assert_eq!(
        (s, v["timeoutMs"].as_u64(), v["authConfigured"].as_bool()),
        (200, Some(500), Some(true)),
        "{v}"
    );
    let stored = server
        .store
        .get_doc(DocKind::RtbTarget, tenant, id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.body["authToken"], "s3cret-token");

    // Every problem at once; unknown template variables are named.
    let mut bad = target_body("Bidder B");
    bad["endpointUrl"] = json!("ftp://bidder.example");
    bad["timeoutMs"] = json!(5);
    bad["requestBody"] = json!("{\"floor\": \"{bidFloor}\", \"caller\": \"{callerId}\"}");
    bad["headers"] = json!({"X-Trace": "{traceId}"});
    bad["bidAmountPath"] = json!("$.data[");
    bad["minBidAmount"] = json!(50);
    bad["authType"] = json!("basic");
    let (s, e) = a.post("/api/rtb/targets", &bad).await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(
        fields(&e),
        [
            "endpointUrl",
            "timeoutMs",
            "authUsername",
            "authPassword",
            "minBidAmount",
            "requestBody",
            "headers.X-Trace",
            "bidAmountPath"
        ]
    );
    let messages = e["error"]["fields"].to_string();
    assert!(
        messages.contains("{bidFloor}") && messages.contains("{traceId}"),
        "{messages}"
    );
    // Amounts are exact decimals: a third fraction digit is refused.
    let mut bad = target_body("Bidder C");
    bad["maxBidAmount"] = json!(1.005);
    assert_eq!(a.post("/api/rtb/targets", &bad).await.0, 400);

    // No audit entry holds the secret.
    let audit = server
        .store
        .list_docs(DocKind::Audit, Some(tenant))
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|d| d.body["kind"] == "rtb_target" && d.body["action"] == "update")
    );
    assert!(!audit.iter().any(|d| d.body.to_string().contains("s3cret")));
}

#[tokio::test]
async fn rtb_routers_reference_their_tenants_targets() {
    let server = TestServer::start().await;
    let a = server.signup("Acme Leads", "alice").await;
    let b = server.signup("Bolt Media", "bob").await;
    let t1 = id_of(&create(&a, "/api/rtb/targets", target_body("Bidder 1")).await);
    let t2 = id_of(&create(&a, "/api/rtb/targets", target_body("Bidder 2")).await);
    let theirs = id_of(&create(&b, "/api/rtb/targets", target_body("Not yours")).await);

    let (s, e) = a
        .post("/api/rtb/routers", &json!({"name": "R", "biddingTimeoutMs": 10, "floorPrice": 2.5,
            "targets": [{"targetId": t1}, {"targetId": theirs}, {"targetId": new_id()}, {"targetId": t1, "priority": 0}]}))
        .await;
    assert_eq!(s, 422);
    assert_eq!(
        fields(&e),
        [
            "biddingTimeoutMs",
            "targets[3].targetId",
            "targets[3].priority",
            "targets[1].targetId",
            "targets[2].targetId"
        ]
    );

    let r = create(&a, "/api/rtb/routers", json!({"name": "Main auction", "floorPrice": 2.5,
        "targets": [{"targetId": t1, "priority": 1, "weight": 3}, {"targetId": t2, "priority": 2}]}))
    .await;
    assert_eq!(
        (
            r["biddingTimeoutMs"].as_u64(),
            r["minBiddersRequired"].as_u64(),
            r["floorPrice"].as_f64()
        ),
        (Some(1000), Some(1), Some(2.5))
    );
    assert_eq!(
        r["targets"][1],
        json!({"targetId": t2, "priority": 2, "weight": 1})
    );
    let rid = id_of(&r);

    // A target in a router, a router in a campaign: deletes are refused, naming the user.
    let (s, e) = a.delete(&format!("/api/rtb/targets/{t2}")).await;
    assert_eq!(s, 409);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rtb router \"Main auction\""),
        "{e}"
    );
    let tenant = tenant_of(&a).await;
    seed_campaign(&server, tenant, "Auction campaign", None, Some(&rid)).await;
    let (s, e) = a.delete(&format!("/api/rtb/routers/{rid}")).await;
    assert_eq!(s, 409);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("campaign \"Auction campaign\""),
        "{e}"
    );

    // Dropping the target from the router frees it.
    let (s, _) = a
        .put(
            &format!("/api/rtb/routers/{rid}"),
            &json!({"name": "Main auction", "targets": [{"targetId": t1}], "version": 1}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(a.delete(&format!("/api/rtb/targets/{t2}")).await.0, 204);
}

#[tokio::test]
async fn tracking_tags_have_system_wide_codes_and_tenant_references() {
    let server = TestServer::start().await;
    let a = server.signup("Acme Leads", "alice").await;
    let b = server.signup("Bolt Media", "bob").await;
    let pool = id_of(&create(&a, "/api/pools", json!({"name": "Web"})).await);
    let their_pool = id_of(&create(&b, "/api/pools", json!({"name": "Web"})).await);

    let t = create(&a, "/api/tracking-tags", json!({"name": "Landing", "poolId": pool, "onlySources": ["google", "bing"], "stickyDays": 30})).await;
    let code = t["tagCode"].as_str().unwrap();
    assert!(code.starts_with("tag_") && code.len() > 8, "{code}");
    assert_eq!(
        (
            t["selector"].as_str(),
            t["numberFormat"].as_str(),
            t["paidOnly"].as_bool()
        ),
        (Some(".phone-number"), Some("national"), Some(false))
    );

    let named = create(
        &a,
        "/api/tracking-tags",
        json!({"name": "Promo", "tagCode": "spring-promo"}),
    )
    .await;
    let (s, e) = b
        .post(
            "/api/tracking-tags",
            &json!({"name": "Mine", "tagCode": "SPRING-PROMO"}),
        )
        .await;
    assert_eq!(s, 409);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already in use"),
        "{e}"
    );

    // References must be the tenant's own; codes are checked; every error at once.
    let (s, e) = b
        .post(
            "/api/tracking-tags",
            &json!({"name": "", "tagCode": "a b", "poolId": pool, "campaignId": new_id()}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(fields(&e), ["name", "tagCode", "campaignId", "poolId"]);
    let mine = create(
        &b,
        "/api/tracking-tags",
        json!({"name": "Mine", "poolId": their_pool}),
    )
    .await;
    assert_eq!(mine["poolId"].as_str(), Some(their_pool.as_str()));

    // The code never changes; omitting it keeps it.
    let path = format!("/api/tracking-tags/{}", id_of(&named));
    let (s, e) = a
        .put(
            &path,
            &json!({"name": "Promo", "tagCode": "autumn", "version": 1}),
        )
        .await;
    assert_eq!((s, fields(&e)), (422, vec!["tagCode".to_owned()]));
    let (s, v) = a.put(&path, &json!({"name": "Spring", "selector": "#phone", "numberFormat": "dashed", "paidOnly": true, "version": 1})).await;
    assert_eq!(
        (
            s,
            v["tagCode"].as_str(),
            v["selector"].as_str(),
            v["version"].as_u64()
        ),
        (200, Some("spring-promo"), Some("#phone"), Some(2))
    );

    // Racing for one code from two tenants: one wins.
    let race = json!({"name": "Race", "tagCode": "race-code"});
    let tries: Vec<_> = (0..10)
        .map(|i| if i % 2 == 0 { &a } else { &b })
        .map(|c| c.post("/api/tracking-tags", &race))
        .collect();
    let mut statuses: Vec<u16> = futures::future::join_all(tries)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409, 409, 409]);

    // Deleting frees the code for anyone.
    assert_eq!(a.delete(&path).await.0, 204);
    create(
        &b,
        "/api/tracking-tags",
        json!({"name": "Now mine", "tagCode": "spring-promo"}),
    )
    .await;
}

#[tokio::test]
async fn viewers_read_and_managers_write() {
    let server = TestServer::start().await;
    let a = server.signup("Acme Leads", "alice").await;
    let tenant = tenant_of(&a).await;
    create(&a, "/api/numbers", json!({"phoneNumber": "+15550300001"})).await;
    let viewer = Console::with_key(&server.base, &api_key(&server, tenant, "viewer").await);
    let manager = Console::with_key(&server.base, &api_key(&server, tenant, "manager").await);
    for path in [
        "/api/numbers",
        "/api/pools",
        "/api/rtb/targets",
        "/api/rtb/routers",
        "/api/tracking-tags",
        "/api/blocklist",
    ] {
        assert_eq!(viewer.get(path).await.0, 200, "{path}");
        assert_eq!(Console::new(&server.base).get(path).await.0, 401, "{path}");
    }
    assert_eq!(
        viewer.get("/api/numbers").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (s, e) = viewer.post("/api/pools", &json!({"name": "P"})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(
        viewer.post("/api/rtb/targets", &target_body("T")).await.0,
        403
    );
    create(&manager, "/api/pools", json!({"name": "P"})).await;
    create(&manager, "/api/rtb/targets", target_body("T")).await;
    let blocked = json!({"number": "+15551230000"});
    assert_eq!(viewer.post("/api/blocklist", &blocked).await.0, 403);
    let entry = create(&manager, "/api/blocklist", blocked).await;
    let path = format!("/api/blocklist/{}", id_of(&entry));
    assert_eq!(viewer.patch(&path, &json!({"note": "x"})).await.0, 403);
    assert_eq!(viewer.delete(&path).await.0, 403);
    assert_eq!(manager.delete(&path).await.0, 204);
}

#[tokio::test]
async fn another_tenant_cannot_see_or_touch_any_of_it() {
    let server = TestServer::start().await;
    let a = server.signup("Acme Leads", "alice").await;
    let b = server.signup("Bolt Media", "bob").await;
    let number = create(&a, "/api/numbers", json!({"phoneNumber": "+15550400001"})).await;
    let pool = create(
        &a,
        "/api/pools",
        json!({"name": "Web", "numbers": ["+15550400001"]}),
    )
    .await;
    let target = create(&a, "/api/rtb/targets", target_body("Bidder")).await;
    let router = create(
        &a,
        "/api/rtb/routers",
        json!({"name": "Auction", "targets": [{"targetId": id_of(&target)}]}),
    )
    .await;
    let tag = create(
        &a,
        "/api/tracking-tags",
        json!({"name": "Landing", "poolId": id_of(&pool)}),
    )
    .await;

    let owned = [
        (
            "/api/numbers",
            &number,
            json!({"phoneNumber": "+15550400001", "version": 1}),
        ),
        (
            "/api/pools",
            &pool,
            json!({"name": "Mine now", "version": 1}),
        ),
        ("/api/rtb/targets", &target, {
            let mut t = target_body("Mine now");
            t["version"] = json!(1);
            t
        }),
        (
            "/api/rtb/routers",
            &router,
            json!({"name": "Mine now", "version": 1}),
        ),
        (
            "/api/tracking-tags",
            &tag,
            json!({"name": "Mine now", "version": 1}),
        ),
    ];
    for (base, item, update) in &owned {
        let path = format!("{base}/{}", id_of(item));
        let (s, e) = b.get(&path).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (404, Some("not_found")),
            "GET {path}"
        );
        assert_eq!(b.put(&path, update).await.0, 404, "PUT {path}");
        assert_eq!(b.delete(&path).await.0, 404, "DELETE {path}");
        let (s, list) = b.get(base).await;
        assert_eq!(
            (s, list["items"].as_array().map(Vec::len)),
            (200, Some(0)),
            "{base}"
        );
        // Still there, unchanged, for its owner.
        let (s, mine) = a.get(&path).await;
        assert_eq!((s, mine["version"].as_u64()), (200, Some(1)), "{path}");
    }
    let (s, e) = b.get("/api/numbers/not-a-uuid").await;
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("not_found")));

    // Every change was audited in A's log, none in B's.
    let audit = server
        .store
        .list_docs(DocKind::Audit, Some(tenant_of(&a).await))
        .await
        .unwrap();
    let mut kinds: Vec<String> = audit
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d.body["action"].as_str().unwrap(),
                d.body["kind"].as_str().unwrap()
            )
        })
        .collect();
    // (Signup's own "create tenant" is the accounts' business.)
    kinds.retain(|k| k.starts_with("create") && k != "create tenant");
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "create number",
            "create pool",
            "create rtb_router",
            "create rtb_target",
            "create tracking_tag"
        ]
    );
    let theirs = server
        .store
        .list_docs(DocKind::Audit, Some(tenant_of(&b).await))
        .await
        .unwrap();
    assert!(
        theirs
            .iter()
            .all(|d| d.body["kind"] != "number" && d.body["kind"] != "pool"),
        "{theirs:?}"
    );
}

#[tokio::test]
async fn openapi_document_lists_these_resources() {
    let server = TestServer::start().await;
    let (s, doc) = Console::new(&server.base).get("/api/openapi.json").await;
    assert_eq!(s, 200);
    let methods = |p: &str| -> Vec<String> {
        let mut m: Vec<String> = doc["paths"][p]
            .as_object()
            .map(|o| o.keys().filter(|k| *k != "parameters").cloned().collect())
            .unwrap_or_default();
        m.sort();
        m
    };
    for base in [
        "/api/numbers",
        "/api/pools",
        "/api/rtb/targets",
        "/api/rtb/routers",
        "/api/tracking-tags",
        "/api/blocklist",
        "/api/publishers",
        "/api/pixels",
    ] {
        assert_eq!(methods(base), ["get", "post"], "{base}");
        assert_eq!(
            methods(&format!("{base}/{{id}}")),
            ["delete", "get", "patch", "put"],
            "{base}/{{id}}"
        );
    }
    for schema in [
        "Number",
        "Pool",
        "RtbTarget",
        "RtbRouter",
        "TrackingTag",
        "BlocklistEntry",
        "Publisher",
        "PayoutRule",
        "Pixel",
        "Delivery",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "{schema} schema missing"
        );
    }
    // Every versioned write by id documents the optional If-Match, the 404 and the 409
    // (revoking a key or a session has no version).
    let mut writes = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops
            .as_object()
            .unwrap()
            .iter()
            .filter(|(m, _)| *m == "put" || *m == "delete")
        {
            if !path.contains("{id}")
                || path == "/api/api-keys/{id}"
                || path == "/api/auth/sessions/{id}"
            {
                continue;
            }
            writes += 1;
            let params = op["parameters"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            let if_match = params
                .iter()
                .find(|p| p["name"] == "If-Match" && p["in"] == "header");
            assert!(
                if_match.is_some_and(|p| p["required"] != true && p["description"].is_string()),
                "{method} {path}: If-Match {params:?}"
            );
            for status in ["404", "409"] {
                assert!(
                    op["responses"].get(status).is_some(),
                    "{method} {path}: no {status}"
                );
            }
        }
    }
    assert_eq!(
        writes, 23,
        "PUT and DELETE of 11 resources, and PUT /api/campaigns/{{id}}/buyers"
    );
}

#[tokio::test]
async fn campaigns_respect_pools_and_tags() {
    let server = TestServer::start().await;
    let a = server.signup("Acme Leads", "alice").await;
    create(&a, "/api/numbers", json!({"phoneNumber": "+15550210001"})).await;
    let pool = create(
        &a,
        "/api/pools",
        json!({"name": "Search", "numbers": ["+15550210001"]}),
    )
    .await;

    // A pool's number cannot also be a campaign's direct number.
    let (s, e) = a
        .post(
            "/api/campaigns",
            &json!({"name": "Direct", "phoneNumber": "+15550210001"}),
        )
        .await;
    assert_eq!(s, 409, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pool \"Search\""),
        "{e}"
    );

    // A campaign a tracking tag points at cannot be deleted until the tag lets go.
    let campaign = create(
        &a,
        "/api/campaigns",
        json!({"name": "Pooled", "routingType": "pool", "poolId": id_of(&pool)}),
    )
    .await;
    let tag = create(
        &a,
        "/api/tracking-tags",
        json!({"name": "Site", "campaignId": id_of(&campaign), "poolId": id_of(&pool)}),
    )
    .await;
    let path = format!("/api/campaigns/{}", id_of(&campaign));
    let (s, e) = a.delete(&path).await;
    assert_eq!(s, 409, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tracking tag \"Site\""),
        "{e}"
    );
    assert_eq!(a.get(&path).await.0, 200);
    assert_eq!(
        a.delete(&format!("/api/tracking-tags/{}", id_of(&tag)))
            .await
            .0,
        204
    );
    assert_eq!(a.delete(&path).await.0, 204);
}

/// One resource addressed by id for the write rules: where it lives, a
/// body that creates it, a whole body that replaces it, how messages name
/// it, whether it has `GET {base}/{id}`, and what its `PATCH` and `PUT`
/// must show.
struct Addressed {
    base: &'static str,
    create: Value,
    change: Value,
    kind: &'static str,
    get: bool,
    /// A merge patch, the field it sets and the value it must read back;
    /// every other field must stay as it was.
    patch: Option<(Value, &'static str, Value)>,
    /// A field `create` sets and `change` leaves out, and the default a
    /// replacing `PUT` gives it.
    reset: Option<(&'static str, Value)>,
    /// A required field: `change` without it is a 422 naming it.
    required: Option<&'static str>,
}

/// The status and error code of a request with no version and a malformed
/// id, after checking that its message is the one an unknown id gets.
async fn malformed(
    c: &Console,
    method: reqwest::Method,
    base: &str,
    tail: &str,
    body: Option<&Value>,
    kind: &str,
) -> (u16, String) {
    let (s, e, _) = c
        .send(
            method.clone(),
            &format!("{base}/not-a-uuid{tail}"),
            body,
            &[],
        )
        .await;
    let (_, unknown, _) = c
        .send(
            method.clone(),
            &format!("{base}/{}{tail}", new_id()),
            body,
            &[],
        )
        .await;
    assert_eq!(
        e["error"]["message"].as_str(),
        Some(format!("{kind} not found").as_str()),
        "{method} {base}/not-a-uuid{tail}: {e}"
    );
    assert_eq!(
        e["error"]["message"], unknown["error"]["message"],
        "{method} {base}: malformed and unknown ids read alike"
    );
    (
        s,
        e["error"]["code"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn every_id_addressed_resource_answers_ids_and_versions_alike() {
    let server = TestServer::start().await;
    let a = server.signup("Acme Leads", "alice").await;
    let buyer = |extra: Value| {
        let mut b =
            json!({"name": "Acme", "phoneNumber": "+15550600001", "timezone": "America/New_York"});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap());
        b
    };
    let cases = [
        Addressed {
            base: "/api/buyers",
            create: buyer(json!({"dailyCap": 50})),
            change: buyer(json!({"hourlyCap": 7})),
            kind: "buyer",
            get: true,
            patch: Some((json!({"dailyCap": 70}), "dailyCap", json!(70))),
            reset: Some(("dailyCap", Value::Null)),
            required: Some("name"),
        },
        Addressed {
            base: "/api/campaigns",
            create: json!({"name": "Spring", "description": "first"}),
            change: json!({"name": "Spring", "maxFallthrough": 2}),
            kind: "campaign",
            get: true,
            patch: Some((
                json!({"description": "web leads"}),
                "description",
                json!("web leads"),
            )),
            reset: Some(("description", json!(""))),
            required: Some("name"),
        },
        Addressed {
            base: "/api/numbers",
            create: json!({"phoneNumber": "+15550600002", "friendlyName": "Main"}),
            change: json!({"phoneNumber": "+15550600002", "status": "paused"}),
            kind: "number",
            get: true,
            patch: Some((
                json!({"friendlyName": "Side"}),
                "friendlyName",
                json!("Side"),
            )),
            reset: Some(("friendlyName", Value::Null)),
            required: Some("phoneNumber"),
        },
        Addressed {
            base: "/api/pools",
            create: json!({"name": "Web", "sessionTimeoutSeconds": 600}),
            change: json!({"name": "Web 2"}),
            kind: "pool",
            get: true,
            patch: Some((json!({"status": "paused"}), "status", json!("paused"))),
            reset: Some(("sessionTimeoutSeconds", json!(1800))),
            required: Some("name"),
        },
        Addressed {
            base: "/api/rtb/targets",
            create: target_body("Bidder"),
            change: {
                let mut t = target_body("Bidder 2");
                t.as_object_mut().unwrap().remove("company");
                t.as_object_mut().unwrap().remove("authToken");
                t
            },
            kind: "rtb target",
            get: true,
            patch: Some((json!({"timeoutMs": 900}), "timeoutMs", json!(900))),
            reset: Some(("company", json!(""))),
            required: Some("name"),
        },
        Addressed {
            base: "/api/rtb/routers",
            create: json!({"name": "Auction", "biddingTimeoutMs": 400}),
            change: json!({"name": "Auction 2"}),
            kind: "rtb router",
            get: true,
            patch: Some((json!({"floorPrice": 2.5}), "floorPrice", json!(2.5))),
            reset: Some(("biddingTimeoutMs", json!(1000))),
            required: Some("name"),
        },
        Addressed {
            base: "/api/tracking-tags",
            create: json!({"name": "Landing", "selector": "#phone"}),
            change: json!({"name": "Landing 2"}),
            kind: "tracking tag",
            get: true,
            patch: Some((json!({"paidOnly": true}), "paidOnly", json!(true))),
            reset: Some(("selector", json!(".phone-number"))),
            required: Some("name"),
        },
        Addressed {
            base: "/api/publishers",
            create: json!({"name": "Leads Co", "contact": "ops@leads.example"}),
            change: json!({"name": "Leads Co 2"}),
            kind: "publisher",
            get: true,
            patch: Some((json!({"status": "paused"}), "status", json!("paused"))),
            reset: Some(("contact", json!(""))),
            required: Some("name"),
        },
        Addressed {
            base: "/api/users",
            create: json!({"username": "carol", "password": "correct horse", "role": "viewer"}),
            change: json!({"role": "manager"}),
            kind: "user",
            get: false,
            patch: None,
            reset: None,
            required: None,
        },
    ];
    let tag = |v: u64| format!("\"{v}\"");
    for case in &cases {
        let base = case.base;
        let item = create(&a, base, case.create.clone()).await;
        let path = format!("{base}/{}", id_of(&item));
        let v1 = item["version"]
            .as_u64()
            .unwrap_or_else(|| panic!("{base}: no version in {item}"));

        // A malformed id names nothing: 404 not_found, as an unknown id.
        let mut methods = vec![
            (reqwest::Method::PUT, Some(&case.change)),
            (reqwest::Method::DELETE, None),
        ];
        if case.get {
            methods.push((reqwest::Method::GET, None));
        }
        if let Some((patch, ..)) = &case.patch {
            methods.push((reqwest::Method::PATCH, Some(patch)));
        }
        for (method, body) in methods {
            let answer = malformed(&a, method.clone(), base, "", body, case.kind).await;
            assert_eq!(
                answer,
                (404, "not_found".to_owned()),
                "{method} {base}/not-a-uuid"
            );
        }

        // PUT without a required field: 422 naming it, and nothing written.
        if let Some(field) = case.required {
            let mut partial = case.change.clone();
            partial.as_object_mut().unwrap().remove(field);
            let (s, e) = a.put(&path, &partial).await;
            assert_eq!(
                (s, fields(&e)),
                (422, vec![field.to_owned()]),
                "PUT {path} without {field}: {e}"
            );
        }

        // No version: the update replaces the current one, and says the new one.
        let (s, v, h) = a
            .send(reqwest::Method::PUT, &path, Some(&case.change), &[])
            .await;
        assert_eq!(
            (s, v["version"].as_u64()),
            (200, Some(v1 + 1)),
            "PUT {path} without a version: {v}"
        );
        assert_eq!(
            h.get("etag").and_then(|e| e.to_str().ok()),
            Some(tag(v1 + 1).as_str()),
            "PUT {path}: ETag"
        );
        // PUT replaces: a field the body leaves out takes its default.
        if let Some((field, default)) = &case.reset {
            assert_eq!(&v[field], default, "PUT {path} without {field}: {v}");
        }
        if case.get {
            let (s, v, h) = a.send(reqwest::Method::GET, &path, None, &[]).await;
            assert_eq!(
                (s, v["version"].as_u64()),
                (200, Some(v1 + 1)),
                "GET {path}"
            );
            assert_eq!(
                h.get("etag").and_then(|e| e.to_str().ok()),
                Some(tag(v1 + 1).as_str()),
                "GET {path}: ETag"
            );
        }

        // A stale body version is a 409; a stale If-Match a 412; If-Match
        // wins when both are sent.
        let mut stale = case.change.clone();
        stale["version"] = json!(v1);
        let (s, e) = a.put(&path, &stale).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (409, Some("version_conflict")),
            "PUT {path} with a stale body version: {e}"
        );
        let (s, e, _) = a
            .send(
                reqwest::Method::PUT,
                &path,
                Some(&case.change),
                &[("If-Match", &tag(v1))],
            )
            .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (412, Some("precondition_failed")),
            "PUT {path} with a stale If-Match: {e}"
        );
        let (s, e, _) = a
            .send(
                reqwest::Method::PUT,
                &path,
                Some(&stale),
                &[("If-Match", &tag(v1 + 1))],
            )
            .await;
        assert_eq!(
            s, 200,
            "PUT {path}: a current If-Match wins over a stale body version: {e}"
        );
        // (A user's unchanged role is not rewritten: its version may stay.)
        let mut current = e["version"].as_u64().expect("a version");

        // PATCH changes what it names and nothing else.
        if let Some((patch, field, want)) = &case.patch {
            let (_, before) = a.get(&path).await;
            let (s, after, _) = a
                .send(
                    reqwest::Method::PATCH,
                    &path,
                    Some(patch),
                    &[("If-Match", &tag(current))],
                )
                .await;
            assert_eq!(
                (s, after["version"].as_u64()),
                (200, Some(current + 1)),
                "PATCH {path}: {after}"
            );
            current += 1;
            let mut expected = before.clone();
            expected[*field] = want.clone();
            expected["version"] = json!(current);
            assert_eq!(after, expected, "PATCH {path} {patch} changes only {field}");
            let (s, e, _) = a
                .send(
                    reqwest::Method::PATCH,
                    &path,
                    Some(patch),
                    &[("If-Match", &tag(v1))],
                )
                .await;
            assert_eq!(
                (s, e["error"]["code"].as_str()),
                (412, Some("precondition_failed")),
                "PATCH {path} with a stale If-Match: {e}"
            );
            let mut stale_patch = patch.clone();
            stale_patch["version"] = json!(v1);
            let (s, e, _) = a
                .send(reqwest::Method::PATCH, &path, Some(&stale_patch), &[])
                .await;
            assert_eq!(
                (s, e["error"]["code"].as_str()),
                (409, Some("version_conflict")),
                "PATCH {path} with a stale body version: {e}"
            );
        }

        let (s, e, _) = a
            .send(
                reqwest::Method::DELETE,
                &path,
                None,
                &[("If-Match", &tag(v1))],
            )
            .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (412, Some("precondition_failed")),
            "DELETE {path} with a stale If-Match: {e}"
        );

        // The current version deletes it.
        let (s, e, _) = a
            .send(
                reqwest::Method::DELETE,
                &path,
                None,
                &[("If-Match", &tag(current))],
            )
            .await;
        assert_eq!(s, 204, "DELETE {path} with the current If-Match: {e}");
        assert_eq!(a.delete(&path).await.0, 404, "DELETE {path} again");
    }

    // The other routes with an id in the path read a malformed one the same way.
    let buyers = json!([]);
    let others = [
        (
            reqwest::Method::GET,
            "/api/campaigns",
            "/buyers",
            None,
            "campaign",
        ),
        (
            reqwest::Method::PUT,
            "/api/campaigns",
            "/buyers",
            Some(&buyers),
            "campaign",
        ),
        (reqwest::Method::GET, "/api/pools", "/stats", None, "pool"),
        (
            reqwest::Method::POST,
            "/api/numbers",
            "/release",
            None,
            "number",
        ),
        (reqwest::Method::GET, "/api/calls", "", None, "call"),
        (
            reqwest::Method::DELETE,
            "/api/api-keys",
            "",
            None,
            "api key",
        ),
        (
            reqwest::Method::DELETE,
            "/api/auth/sessions",
            "",
            None,
            "session",
        ),
    ];
    for (method, base, tail, body, kind) in others {
        let answer = malformed(&a, method.clone(), base, tail, body, kind).await;
        assert_eq!(
            answer,
            (404, "not_found".to_owned()),
            "{method} {base}/not-a-uuid{tail}"
        );
    }
}

#[tokio::test]
async fn the_tenant_and_write_only_secrets_follow_the_write_rules() {
    let server = TestServer::start().await;
    let a = server.signup("Acme Leads", "alice").await;
    let (_, t) = a.get("/api/tenant").await;
    let v = t["version"].as_u64().unwrap();
    let tag = |v: u64| format!("\"{v}\"");

    // PUT is the whole settings: no name is a 422 naming it.
    let (s, e) = a
        .put("/api/tenant", &json!({"twilioAccountSid": null}))
        .await;
    assert_eq!((s, fields(&e)), (422, vec!["name".to_owned()]), "{e}");
    let (s, t) = a
        .put(
            "/api/tenant",
            &json!({"name": "Acme", "twilioAccountSid": "AC0123456789", "twilioAuthToken": "tok"}),
        )
        .await;
    assert_eq!(
        (s, t["twilioAuthTokenSet"].as_bool()),
        (200, Some(true)),
        "{t}"
    );
    let v = v.max(t["version"].as_u64().unwrap());

    // PATCH keeps what it does not name, the token included.
    let (s, t, _) = a
        .send(
            reqwest::Method::PATCH,
            "/api/tenant",
            Some(&json!({"name": "Acme Leads"})),
            &[],
        )
        .await;
    assert_eq!(
        (
            s,
            t["name"].as_str(),
            t["twilioAccountSid"].as_str(),
            t["twilioAuthTokenSet"].as_bool()
        ),
        (200, Some("Acme Leads"), Some("AC0123456789"), Some(true)),
        "{t}"
    );
    // Stale: 412 by If-Match, 409 by body version.
    let (s, e, _) = a
        .send(
            reqwest::Method::PATCH,
            "/api/tenant",
            Some(&json!({"name": "X"})),
            &[("If-Match", &tag(v))],
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (412, Some("precondition_failed")),
        "{e}"
    );
    let (s, e) = a
        .put("/api/tenant", &json!({"name": "X", "version": v}))
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("version_conflict")),
        "{e}"
    );
    // An explicit null clears the write-only token.
    let (s, t, _) = a
        .send(
            reqwest::Method::PATCH,
            "/api/tenant",
            Some(&json!({"twilioAuthToken": null})),
            &[],
        )
        .await;
    assert_eq!(
        (
            s,
            t["twilioAuthTokenSet"].as_bool(),
            t["twilioAccountSid"].as_str()
        ),
        (200, Some(false), Some("AC0123456789")),
        "{t}"
    );

    // An RTB target's credentials: absent from a PATCH, kept; null, cleared
    // (a bearer target without a token is then refused, naming it).
    let target = create(&a, "/api/rtb/targets", target_body("Bidder")).await;
    let path = format!("/api/rtb/targets/{}", id_of(&target));
    let (s, t, _) = a
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&json!({"timeoutMs": 700})),
            &[],
        )
        .await;
    assert_eq!((s, t["authConfigured"].as_bool()), (200, Some(true)), "{t}");
    let (s, e, _) = a
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&json!({"authToken": null})),
            &[],
        )
        .await;
    assert_eq!((s, fields(&e)), (422, vec!["authToken".to_owned()]), "{e}");
    let (s, t, _) = a
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&json!({"authType": "none", "authToken": null})),
            &[],
        )
        .await;
    assert_eq!((s, t["authType"].as_str()), (200, Some("none")), "{t}");
    let tenant = tenant_of(&a).await;
    let stored = server
        .store
        .get_doc(DocKind::RtbTarget, tenant, id_of(&target).parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.body.get("authToken").is_none_or(Value::is_null),
        "{}",
        stored.body
    );
}
