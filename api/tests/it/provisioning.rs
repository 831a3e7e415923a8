//! Number provisioning end to end: the real server on 127.0.0.1:0, a console
//! user, and `FakeTwilio`, a fake of Twilio's REST API (`common/fake_twilio.rs`).

use crate::common;

use common::fake_twilio::{FakeTwilio, SID, SID_B, TAKEN, TOKEN, TOKEN_B};
use common::{Console, TestServer};
use serde_json::{Value, json};

/// The server under test, pointed at a fresh fake.
async fn start() -> (TestServer, FakeTwilio) {
    let fake = FakeTwilio::start().await;
    let base = fake.base.clone();
    let server = TestServer::start_configured(
        Some("https://switchboard.example"),
        switchboard_engine::EngineConfig::default(),
        move |mut state| {
            state.twilio = switchboard::twilio::rest::TwilioRest::new(&base);
            state
        },
    )
    .await;
    (server, fake)
}

/// A signed-up tenant whose Twilio credentials are `sid` / `token`.
async fn tenant(server: &TestServer, name: &str, sid: &str, token: &str) -> Console {
    let c = server
        .signup(name, &name.to_lowercase().replace(' ', "-"))
        .await;
    let (s, t) = c
        .put(
            "/api/tenant",
            &json!({"name": name, "twilioAccountSid": sid, "twilioAuthToken": token}),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    c
}

#[tokio::test]
async fn search_lists_voice_numbers_by_area_code_and_type() {
    let (server, fake) = start().await;
    let c = tenant(&server, "Acme Leads", SID, TOKEN).await;

    let (s, v) = c.get("/api/numbers/available?areaCode=415").await;
    assert_eq!(s, 200, "{v}");
    let numbers: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["phoneNumber"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["+14155550100", "+14155550101"]);
    assert_eq!(v["items"][0]["friendlyName"], "(415) 555-0100");
    assert_eq!(v["items"][0]["region"], "CA");
    assert_eq!(v["items"][0]["voice"], true);
    let asked = &fake.seen_of("GET")[0];
    assert_eq!(asked.path, "AvailablePhoneNumbers/US/Local.json");
    assert_eq!(
        asked.params.get("AreaCode").map(String::as_str),
        Some("415")
    );
    assert_eq!(
        asked.params.get("VoiceEnabled").map(String::as_str),
        Some("true")
    );

    let (s, v) = c.get("/api/numbers/available?type=tollFree").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["items"][0]["phoneNumber"], "+18885550100");
    assert_eq!(
        fake.seen_of("GET")[1].path,
        "AvailablePhoneNumbers/US/TollFree.json"
    );

    // Bad searches are refused before Twilio is asked.
    let (s, e) = c.get("/api/numbers/available?areaCode=41a&limit=500").await;
    assert_eq!(s, 422, "{e}");
    let fields: Vec<&str> = e["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["areaCode", "limit"]);
    let (s, e) = c.get("/api/numbers/available?type=mobile").await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(fake.seen().len(), 2);
}

#[tokio::test]
async fn buying_into_a_pool_points_the_number_at_the_pool_webhook() {
    let (server, fake) = start().await;
    let c = tenant(&server, "Acme Leads", SID, TOKEN).await;
    let (s, pool) = c
        .post("/api/pools", &json!({"name": "Landing pages"}))
        .await;
    assert_eq!(s, 201, "{pool}");
    let pool_id = pool["id"].as_str().unwrap();

    let (s, bought) = c
        .post(
            "/api/numbers/purchase",
            &json!({"phoneNumber": "+1 (415) 555-0100", "poolId": pool_id}),
        )
        .await;
    assert_eq!(s, 201, "{bought}");
    let voice_url = format!("https://switchboard.example/api/webhooks/pool/{pool_id}/voice");
    assert_eq!(bought["voiceUrl"], voice_url.as_str());
    assert_eq!(bought["number"]["phoneNumber"], "+14155550100");
    assert_eq!(bought["number"]["poolId"], pool_id);
    assert!(bought["twilioSid"].as_str().unwrap().starts_with("PN"));

    // Twilio was asked to buy it with our webhooks.
    let posted = &fake.seen_of("POST")[0].params;
    assert_eq!(posted["PhoneNumber"], "+14155550100");
    assert_eq!(posted["VoiceUrl"], voice_url);
    assert_eq!(posted["VoiceMethod"], "POST");
    assert_eq!(
        posted["StatusCallback"],
        "https://switchboard.example/api/webhooks/status"
    );
    assert_eq!(posted["StatusCallbackMethod"], "POST");
    assert!(fake.owns("+14155550100"));

    // It is in the inventory, held by the pool, and the pool lists it.
    let (_, list) = c.get("/api/numbers").await;
    assert_eq!(list["items"][0]["phoneNumber"], "+14155550100");
    assert_eq!(list["items"][0]["poolId"], pool_id);
    let (_, pool) = c.get(&format!("/api/pools/{pool_id}")).await;
    assert_eq!(pool["numbers"], json!(["+14155550100"]));

    // The pool leases it to a web visitor at once.
    let (s, tag) = c
        .post(
            "/api/tracking-tags",
            &json!({"name": "Landing", "tagCode": "landing-415", "poolId": pool_id}),
        )
        .await;
    assert_eq!(s, 201, "{tag}");
    let (s, tracked) = Console::new(&server.base)
        .post(
            "/api/dni/track",
            &json!({"tagCode": "landing-415", "landingPage": "https://acme.example/"}),
        )
        .await;
    assert_eq!(s, 200, "{tracked}");
    assert_eq!(tracked["phoneNumber"], "+14155550100");

    // The purchase is in the audit log.
    let (_, audit) = c.get("/api/audit").await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "purchase" && e["detail"]["phoneNumber"] == "+14155550100"),
        "{audit}"
    );
}

#[tokio::test]
async fn a_number_goes_into_one_inventory_only() {
    let (server, fake) = start().await;
    let a = tenant(&server, "Acme Leads", SID, TOKEN).await;
    let b = tenant(&server, "Bolt Media", SID_B, TOKEN_B).await;

    let (s, bought) = a
        .post(
            "/api/numbers/purchase",
            &json!({"phoneNumber": "+14155550101"}),
        )
        .await;
    assert_eq!(s, 201, "{bought}");
    // Without a pool, calls go to the plain voice webhook.
    assert_eq!(
        fake.seen_of("POST")[0].params["VoiceUrl"],
        "https://switchboard.example/api/webhooks/voice"
    );
    assert_eq!(bought["number"]["poolId"], Value::Null);

    // Another tenant cannot buy it into its inventory: refused before Twilio is asked.
    let (s, e) = b
        .post(
            "/api/numbers/purchase",
            &json!({"phoneNumber": "+14155550101"}),
        )
        .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(fake.seen_of("POST").len(), 1);
    assert_eq!(b.get("/api/numbers").await.1["items"], json!([]));
}

#[tokio::test]
async fn concurrent_purchases_of_one_number_buy_it_once() {
    let (server, fake) = start().await;
    let a = tenant(&server, "Acme Leads", SID, TOKEN).await;
    let b = tenant(&server, "Bolt Media", SID_B, TOKEN_B).await;
    let body = json!({"phoneNumber": "+14155550100"});
    let tries: Vec<_> = (0..8)
        .map(|i| if i % 2 == 0 { &a } else { &b })
        .map(|c| c.post("/api/numbers/purchase", &body))
        .collect();
    let mut statuses: Vec<u16> = futures::future::join_all(tries)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
    // Twilio was asked to buy it once: nobody pays twice.
    assert_eq!(fake.seen_of("POST").len(), 1);
    let held = a.get("/api/numbers").await.1["items"]
        .as_array()
        .unwrap()
        .len()
        + b.get("/api/numbers").await.1["items"]
            .as_array()
            .unwrap()
            .len();
    assert_eq!(held, 1);
}

#[tokio::test]
async fn twilio_refusals_are_reported_and_leave_nothing_behind() {
    let (server, fake) = start().await;
    let c = tenant(&server, "Acme Leads", SID, TOKEN).await;

    let (s, e) = c
        .post("/api/numbers/purchase", &json!({"phoneNumber": TAKEN}))
        .await;
    assert_eq!(s, 502, "{e}");
    assert_eq!(e["error"]["code"], "twilio_error");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("not available") && msg.contains("21422"),
        "{msg}"
    );
    assert_eq!(c.get("/api/numbers").await.1["items"], json!([]));
    // The number was not left claimed: adding it by hand works.
    assert_eq!(
        c.post("/api/numbers", &json!({"phoneNumber": TAKEN}))
            .await
            .0,
        201
    );

    // Wrong credentials: Twilio's 401 comes back as a 502 that says so.
    let wrong = tenant(&server, "Bolt Media", SID_B, "not-the-token").await;
    let (s, e) = wrong.get("/api/numbers/available?areaCode=415").await;
    assert_eq!(s, 502, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("account sid and auth token were refused"),
        "{e}"
    );

    // No credentials at all: nothing is sent.
    let none = server.signup("Cold Start", "carol").await;
    let sent = fake.seen().len();
    let (s, e) = none
        .post(
            "/api/numbers/purchase",
            &json!({"phoneNumber": "+14155550100"}),
        )
        .await;
    assert_eq!(s, 409, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("twilio account sid"),
        "{e}"
    );
    assert_eq!(fake.seen().len(), sent);

    // Bad bodies are the house 4xx.
    let (s, e) = c
        .post("/api/numbers/purchase", &json!({"phoneNumber": "call me"}))
        .await;
    assert_eq!(
        (s, e["error"]["fields"][0]["field"].as_str()),
        (422, Some("phoneNumber"))
    );
    let (s, e) = c
        .post(
            "/api/numbers/purchase",
            &json!({"phoneNumber": "+14155550100", "poolId": uuid::Uuid::nil()}),
        )
        .await;
    assert_eq!(
        (s, e["error"]["fields"][0]["field"].as_str()),
        (422, Some("poolId"))
    );
}

#[tokio::test]
async fn release_gives_the_number_back_and_frees_it() {
    let (server, fake) = start().await;
    let c = tenant(&server, "Acme Leads", SID, TOKEN).await;
    let (_, pool) = c.post("/api/pools", &json!({"name": "P"})).await;
    let pool_id = pool["id"].as_str().unwrap();
    let (_, in_pool) = c
        .post(
            "/api/numbers/purchase",
            &json!({"phoneNumber": "+14155550100", "poolId": pool_id}),
        )
        .await;
    let (_, loose) = c
        .post(
            "/api/numbers/purchase",
            &json!({"phoneNumber": "+14155550101"}),
        )
        .await;

    // A pool's number must leave the pool first.
    let (s, e) = c
        .post(
            &format!(
                "/api/numbers/{}/release",
                in_pool["number"]["id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await;
    assert_eq!(s, 409, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pool \"P\""),
        "{e}"
    );
    assert!(fake.seen_of("DELETE").is_empty());

    let id = loose["number"]["id"].as_str().unwrap();
    let (s, r) = c
        .post(&format!("/api/numbers/{id}/release"), &json!({}))
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["phoneNumber"], "+14155550101");
    assert_eq!(r["twilioSid"], loose["twilioSid"]);
    assert_eq!(
        fake.seen_of("DELETE")[0].path,
        format!(
            "IncomingPhoneNumbers/{}.json",
            loose["twilioSid"].as_str().unwrap()
        )
    );
    assert!(!fake.owns("+14155550101"));
    assert_eq!(c.get(&format!("/api/numbers/{id}")).await.0, 404);
    // Released means free: buying it again works.
    assert_eq!(
        c.post(
            "/api/numbers/purchase",
            &json!({"phoneNumber": "+14155550101"})
        )
        .await
        .0,
        201
    );

    // A number the account no longer has at Twilio still leaves the inventory.
    let (_, manual) = c
        .post("/api/numbers", &json!({"phoneNumber": "+12125550100"}))
        .await;
    let (s, r) = c
        .post(
            &format!("/api/numbers/{}/release", manual["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!((s, &r["twilioSid"]), (200, &Value::Null), "{r}");
    assert_eq!(
        c.get(&format!("/api/numbers/{}", manual["id"].as_str().unwrap()))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn viewers_cannot_buy_or_release() {
    let (server, fake) = start().await;
    let owner = tenant(&server, "Acme Leads", SID, TOKEN).await;
    let (s, user) = owner
        .post(
            "/api/users",
            &json!({"username": "vera", "password": "correct horse", "role": "viewer"}),
        )
        .await;
    assert_eq!(s, 201, "{user}");
    let viewer = Console::new(&server.base);
    assert_eq!(
        viewer
            .post(
                "/api/auth/login",
                &json!({"username": "vera", "password": "correct horse"})
            )
            .await
            .0,
        200
    );
    assert_eq!(
        viewer.get("/api/numbers/available?areaCode=415").await.0,
        403
    );
    assert_eq!(
        viewer
            .post(
                "/api/numbers/purchase",
                &json!({"phoneNumber": "+14155550100"})
            )
            .await
            .0,
        403
    );
    assert!(fake.seen().is_empty());
}
