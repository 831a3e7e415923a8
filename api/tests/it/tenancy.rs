//! One tenant can neither see nor touch another's buyers, campaigns,
//! assignments or calls: every id of another tenant is a 404, lists hold
//! only the caller's own, and the owner's resources are unchanged after.

use crate::common;

use common::{CALLER, Console, TestServer, pairs, post_signed_with};
use serde_json::{Value, json};
use switchboard_model::{Id, Tenant};

/// Signs up `name` (owner `owner-<name>`) with a connected Twilio account.
async fn sign_up(server: &TestServer, name: &str) -> (Console, Id, String) {
    let console = server.signup(name, &format!("owner-{name}")).await;
    let tenant: Id = console.get("/api/auth/user").await.1["tenantId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let current: Tenant = (*server.engine.tenant(tenant).unwrap()).clone();
    let token = format!("token-{name}");
    let t = Tenant {
        twilio_auth_token: token.clone(),
        timezone: chrono_tz::Tz::UTC,
        twilio_account_sid: Some(format!("AC{name}")),
        ..current.clone()
    };
    server
        .engine
        .put_tenant(t, Some(current.version))
        .await
        .unwrap();
    (console, tenant, token)
}

async fn created(console: &Console, path: &str, body: Value) -> Value {
    let (s, v) = console.post(path, &body).await;
    assert_eq!(s, 201, "{path}: {v}");
    v
}

#[tokio::test]
async fn another_tenants_ids_are_404_and_its_lists_stay_apart() {
    let server = TestServer::start().await;
    let (a, _, token_a) = sign_up(&server, "alpha").await;
    let (b, _, _) = sign_up(&server, "bravo").await;

    let buyer = created(
        &a,
        "/api/buyers",
        json!({"name": "Alpha Buyer", "phoneNumber": "+15550003001", "timezone": "UTC"}),
    )
    .await;
    let campaign = created(
        &a,
        "/api/campaigns",
        json!({"name": "Alpha Campaign", "status": "active", "phoneNumber": "+15550007000", "buyers": [{"buyerId": buyer["id"]}]}),
    )
    .await;
    let params = pairs(&[
        ("CallSid", "CAalpha"),
        ("AccountSid", "ACalpha"),
        ("From", CALLER),
        ("To", "+15550007000"),
    ]);
    let r = post_signed_with(
        &server.client,
        &server.base,
        &token_a,
        "/api/webhooks/voice",
        &params,
    )
    .await
    .unwrap();
    assert!(r.is_dial(), "{r:?}");
    let (_, calls) = a.get("/api/calls").await;
    let call_id = calls["items"][0]["id"].as_str().unwrap().to_owned();

    let buyer_path = format!("/api/buyers/{}", buyer["id"].as_str().unwrap());
    let campaign_path = format!("/api/campaigns/{}", campaign["id"].as_str().unwrap());
    let before = [
        a.get(&buyer_path).await,
        a.get(&campaign_path).await,
        a.get(&format!("{campaign_path}/buyers")).await,
    ];

    // Bravo, even as its owner, finds nothing by id.
    for path in [
        &buyer_path,
        &campaign_path,
        &format!("{campaign_path}/buyers"),
        &format!("/api/calls/{call_id}"),
    ] {
        let (s, v) = b.get(path).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (404, Some("not_found")),
            "GET {path}: {v}"
        );
        assert!(!v.to_string().contains("Alpha"), "{v}");
    }
    assert_eq!(
        b.put(&buyer_path, &json!({"name": "hijacked", "version": 1}))
            .await
            .0,
        404
    );
    assert_eq!(
        b.put(&campaign_path, &json!({"status": "paused"})).await.0,
        404
    );
    assert_eq!(
        b.put(&format!("{campaign_path}/buyers"), &json!([]))
            .await
            .0,
        404
    );
    assert_eq!(b.delete(&campaign_path).await.0, 404);
    assert_eq!(b.delete(&buyer_path).await.0, 404);

    // Its lists hold none of Alpha's.
    for path in ["/api/buyers", "/api/campaigns", "/api/calls"] {
        let (s, v) = b.get(path).await;
        assert_eq!((s, &v["items"]), (200, &json!([])), "{path}: {v}");
    }
    let (_, v) = b
        .get(&format!(
            "/api/calls?campaignId={}",
            campaign["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(v["items"], json!([]));

    // Alpha's buyer cannot be assigned by Bravo, and its number is not named.
    let (s, v) = b
        .post(
            "/api/campaigns",
            &json!({"name": "Bravo", "buyers": [{"buyerId": buyer["id"]}]}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["fields"][0]["field"].as_str()),
        (422, Some("buyers[0].buyerId")),
        "{v}"
    );
    let (s, v) = b
        .post(
            "/api/campaigns",
            &json!({"name": "Bravo", "phoneNumber": "+15550007000"}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(
        !v.to_string().contains("Alpha")
            && !v.to_string().contains(campaign["id"].as_str().unwrap()),
        "{v}"
    );
    // Bravo may reuse Alpha's names: they are unique per tenant only.
    created(&b, "/api/campaigns", json!({"name": "Alpha Campaign"})).await;
    created(
        &b,
        "/api/buyers",
        json!({"name": "Alpha Buyer", "phoneNumber": "+15550003001", "timezone": "UTC"}),
    )
    .await;

    // Alpha's resources are unchanged, and still route.
    let after = [
        a.get(&buyer_path).await,
        a.get(&campaign_path).await,
        a.get(&format!("{campaign_path}/buyers")).await,
    ];
    assert_eq!(before, after);
    assert_eq!(
        a.get("/api/buyers").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let params = pairs(&[
        ("CallSid", "CAalpha2"),
        ("AccountSid", "ACalpha"),
        ("From", CALLER),
        ("To", "+15550007000"),
    ]);
    let r = post_signed_with(
        &server.client,
        &server.base,
        &token_a,
        "/api/webhooks/voice",
        &params,
    )
    .await
    .unwrap();
    assert_eq!(r.dialed().as_deref(), Some("+15550003001"));
}

/// A phone number belongs to one tenant, system-wide, wherever it sits: in
/// the inventory, in a pool or on a campaign. No other tenant can claim it
/// on a campaign (even a paused one) or in its inventory, and the owner's
/// calls keep being checked against the owner's token.
#[tokio::test]
async fn another_tenants_number_cannot_be_claimed_anywhere() {
    let server = TestServer::start().await;
    let (a, _, token_a) = sign_up(&server, "alpha").await;
    let (b, _, _) = sign_up(&server, "bravo").await;
    let (inventory, pooled, direct, later) = (
        "+15550008001",
        "+15550008002",
        "+15550008003",
        "+15550008004",
    );
    created(&a, "/api/numbers", json!({"phoneNumber": inventory})).await;
    created(&a, "/api/numbers", json!({"phoneNumber": pooled})).await;
    let pool = created(
        &a,
        "/api/pools",
        json!({"name": "Alpha Pool", "numbers": [pooled]}),
    )
    .await;
    let buyer = created(
        &a,
        "/api/buyers",
        json!({"name": "Alpha Buyer", "phoneNumber": "+15550003001", "timezone": "UTC"}),
    )
    .await;
    let assigned = json!([{"buyerId": buyer["id"]}]);
    created(&a, "/api/campaigns", json!({"name": "Alpha Direct", "status": "active", "phoneNumber": direct, "buyers": assigned})).await;

    // Bravo cannot take any of them: not on a campaign, active or paused,
    // and not into its inventory. The answer names neither Alpha nor its ids.
    let own = created(
        &b,
        "/api/buyers",
        json!({"name": "Bravo Buyer", "phoneNumber": "+15550003002", "timezone": "UTC"}),
    )
    .await;
    for n in [inventory, pooled, direct] {
        for status in ["paused", "active"] {
            let body = json!({"name": format!("Bravo {n} {status}"), "status": status, "phoneNumber": n, "buyers": [{"buyerId": own["id"]}]});
            let (s, v) = b.post("/api/campaigns", &body).await;
            assert_eq!(
                (s, v["error"]["code"].as_str()),
                (409, Some("conflict")),
                "campaign on {n}: {v}"
            );
            assert!(
                !v.to_string().to_lowercase().contains("alpha")
                    && !v.to_string().contains(pool["id"].as_str().unwrap()),
                "{v}"
            );
        }
        let (s, v) = b.post("/api/numbers", &json!({"phoneNumber": n})).await;
        assert_eq!(s, 409, "inventory {n}: {v}");
    }
    // Nor by moving one of its own campaigns onto it.
    let mine = created(
        &b,
        "/api/campaigns",
        json!({"name": "Bravo Own", "status": "paused", "phoneNumber": "+15550009001"}),
    )
    .await;
    let (s, v) = b
        .patch(
            &format!("/api/campaigns/{}", mine["id"].as_str().unwrap()),
            &json!({"phoneNumber": inventory}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(
        b.get("/api/campaigns").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "nothing half-written"
    );

    // Alpha's calls are still checked against Alpha's token and routed.
    let params = pairs(&[
        ("CallSid", "CAowner"),
        ("AccountSid", "ACalpha"),
        ("From", CALLER),
        ("To", direct),
    ]);
    let r = post_signed_with(
        &server.client,
        &server.base,
        &token_a,
        "/api/webhooks/voice",
        &params,
    )
    .await
    .unwrap();
    assert!(r.is_dial(), "{r:?}");
    // Alpha itself may put its inventory number on a campaign of its own.
    created(
        &a,
        "/api/campaigns",
        json!({"name": "Alpha Inventory", "status": "paused", "phoneNumber": inventory}),
    )
    .await;
    // A campaign's direct number that is not in the inventory is Alpha's
    // too: Alpha may add it to its inventory later, Bravo may not.
    created(
        &a,
        "/api/campaigns",
        json!({"name": "Alpha Later", "status": "paused", "phoneNumber": later}),
    )
    .await;
    assert_eq!(
        b.post("/api/numbers", &json!({"phoneNumber": later}))
            .await
            .0,
        409
    );
    created(&a, "/api/numbers", json!({"phoneNumber": later})).await;
    assert_eq!(
        b.post("/api/numbers", &json!({"phoneNumber": later}))
            .await
            .0,
        409
    );

    // A freed number is free for anyone: Alpha deletes its direct campaign.
    let (_, list) = a.get("/api/campaigns").await;
    let direct_id = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["phoneNumber"] == direct)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        a.delete(&format!("/api/campaigns/{direct_id}")).await.0,
        204
    );
    created(
        &b,
        "/api/campaigns",
        json!({"name": "Bravo Freed", "status": "paused", "phoneNumber": direct}),
    )
    .await;
}

/// A campaign's pool and RTB router must be the tenant's own, existing ones,
/// on every save (a paused campaign too), not only on activation.
#[tokio::test]
async fn a_campaigns_pool_and_router_must_be_the_tenants_own() {
    let server = TestServer::start().await;
    let (a, _, _) = sign_up(&server, "alpha").await;
    let (b, _, _) = sign_up(&server, "bravo").await;
    created(&a, "/api/numbers", json!({"phoneNumber": "+15550008101"})).await;
    let pool = created(
        &a,
        "/api/pools",
        json!({"name": "Alpha Pool", "numbers": ["+15550008101"]}),
    )
    .await;
    let router = created(&a, "/api/rtb/routers", json!({"name": "Alpha Router"})).await;
    let missing = "0190a0a0-0000-7000-8000-000000000000";
    for (field, value) in [
        ("poolId", pool["id"].as_str().unwrap()),
        ("rtbRouterId", router["id"].as_str().unwrap()),
        ("poolId", missing),
        ("rtbRouterId", missing),
    ] {
        let (s, v) = b
            .post(
                "/api/campaigns",
                &json!({"name": "Bravo", "status": "paused", field: value}),
            )
            .await;
        assert_eq!(s, 422, "{field}={value}: {v}");
        assert_eq!(
            v["error"]["fields"][0]["field"].as_str(),
            Some(field),
            "{v}"
        );
        assert!(!v.to_string().to_lowercase().contains("alpha"), "{v}");
    }
    // And on update.
    let c = created(
        &b,
        "/api/campaigns",
        json!({"name": "Bravo", "status": "paused"}),
    )
    .await;
    let (s, v) = b
        .patch(
            &format!("/api/campaigns/{}", c["id"].as_str().unwrap()),
            &json!({"poolId": pool["id"]}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["fields"][0]["field"].as_str()),
        (422, Some("poolId")),
        "{v}"
    );
    // Alpha's own are fine.
    created(&a, "/api/campaigns", json!({"name": "Alpha Web", "status": "paused", "routingType": "pool", "poolId": pool["id"]})).await;
    created(&a, "/api/campaigns", json!({"name": "Alpha RTB", "status": "paused", "routingType": "rtb", "rtbRouterId": router["id"]})).await;
}

#[tokio::test]
async fn a_callsid_of_another_tenant_is_refused_and_reveals_nothing_of_its_call() {
    let server = TestServer::start().await;
    let (a, _, token_a) = sign_up(&server, "alpha").await;
    let (b, _, token_b) = sign_up(&server, "bravo").await;
    let alpha_buyer = created(
        &a,
        "/api/buyers",
        json!({"name": "Alpha Buyer", "phoneNumber": "+15550003001", "timezone": "UTC"}),
    )
    .await;
    created(&a, "/api/campaigns", json!({"name": "Alpha", "status": "active", "phoneNumber": "+15550007000", "buyers": [{"buyerId": alpha_buyer["id"]}]}))
        .await;
    let bravo_buyer = created(
        &b,
        "/api/buyers",
        json!({"name": "Bravo Buyer", "phoneNumber": "+15550003002", "timezone": "UTC"}),
    )
    .await;
    created(&b, "/api/campaigns", json!({"name": "Bravo", "status": "active", "phoneNumber": "+15550008000", "buyers": [{"buyerId": bravo_buyer["id"]}]}))
        .await;
    let voice = |sid: &str, account: &str, to: &str| {
        pairs(&[
            ("CallSid", sid),
            ("AccountSid", account),
            ("From", "+15559990000"),
            ("To", to),
        ])
    };
    let first = post_signed_with(
        &server.client,
        &server.base,
        &token_a,
        "/api/webhooks/voice",
        &voice("CAshared", "ACalpha", "+15550007000"),
    )
    .await
    .unwrap();
    assert_eq!(first.dialed().as_deref(), Some("+15550003001"), "{first:?}");
    let alpha_call = first.call_id().unwrap().to_string();

    // Bravo, signing with its own token, posts Alpha's CallSid to its own number.
    let replay = |token: String, account: &'static str, to: &'static str| {
        let (client, base) = (server.client.clone(), server.base.clone());
        async move {
            post_signed_with(
                &client,
                &base,
                &token,
                "/api/webhooks/voice",
                &voice("CAshared", account, to),
            )
            .await
            .unwrap()
        }
    };
    let stolen = replay(token_b.clone(), "ACbravo", "+15550008000").await;
    assert_eq!(stolen.status, 409, "{stolen:?}");
    assert!(
        stolen.body.contains(r#""code":"conflict""#),
        "{}",
        stolen.body
    );
    for secret in [
        alpha_call.as_str(),
        "+15550003001",
        "+15559990000",
        "+15550007000",
        "Alpha",
    ] {
        assert!(
            !stolen.body.contains(secret),
            "{secret} leaked: {}",
            stolen.body
        );
    }
    // Nothing was booked for Bravo, and Alpha's retry still gets its answer.
    assert_eq!(b.get("/api/calls").await.1["items"], json!([]));
    let retry = replay(token_a.clone(), "ACalpha", "+15550007000").await;
    assert_eq!(
        (retry.status, retry.call_id().map(|c| c.to_string())),
        (200, Some(alpha_call.clone())),
        "{retry:?}"
    );
    // Bravo's own calls route as usual.
    let own = post_signed_with(
        &server.client,
        &server.base,
        &token_b,
        "/api/webhooks/voice",
        &voice("CAbravo", "ACbravo", "+15550008000"),
    )
    .await
    .unwrap();
    assert_eq!(own.dialed().as_deref(), Some("+15550003002"), "{own:?}");

    // After a restart the call is only in the store: still refused to Bravo.
    let restarted = switchboard_engine::Engine::start(server.store.clone(), Default::default())
        .await
        .unwrap();
    let call = |to: &str| switchboard_engine::InboundCall {
        call_sid: "CAshared".into(),
        account_sid: "ACbravo".into(),
        to: switchboard_model::PhoneNumber::parse(to).unwrap(),
        caller: switchboard_model::CallerInfo {
            from: "+15559990000".into(),
            state: None,
            zip: None,
            tags: Default::default(),
        },
    };
    let err = restarted.inbound(call("+15550008000")).await.unwrap_err();
    assert!(
        matches!(err, switchboard_engine::EngineError::CallSidTaken),
        "{err:?}"
    );
    match restarted.inbound(call("+15550007000")).await.unwrap() {
        switchboard_engine::Decision::Dial { call_id, .. } => {
            assert_eq!(call_id.to_string(), alpha_call, "the owner's retry replays")
        }
        other => panic!("{other:?}"),
    }
    restarted.shutdown().await;
}
