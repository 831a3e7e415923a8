//! One tenant can neither see nor touch another's buyers, campaigns,
//! assignments or calls: every id of another tenant is a 404, lists hold
//! only the caller's own, and the owner's resources are unchanged after.

mod common;

use common::{CALLER, Console, TestServer, pairs, post_signed_with};
use serde_json::{Value, json};
use switchboard_model::{Id, Tenant};

/// Signs up `name` (owner `owner-<name>`) with a connected Twilio account.
async fn sign_up(server: &TestServer, name: &str) -> (Console, Id, String) {
    let console = server.signup(name, &format!("owner-{name}")).await;
    let tenant: Id = console.get("/api/auth/user").await.1["tenantId"].as_str().unwrap().parse().unwrap();
    let current: Tenant = (*server.engine.tenant(tenant).unwrap()).clone();
    let token = format!("token-{name}");
    let t = Tenant { twilio_auth_token: token.clone(), twilio_account_sid: Some(format!("AC{name}")), ..current.clone() };
    server.engine.put_tenant(t, Some(current.version)).await.unwrap();
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

    let buyer = created(&a, "/api/buyers", json!({"name": "Alpha Buyer", "phoneNumber": "+15550003001", "timezone": "UTC"})).await;
    let campaign = created(
        &a,
        "/api/campaigns",
        json!({"name": "Alpha Campaign", "status": "active", "phoneNumber": "+15550007000", "buyers": [{"buyerId": buyer["id"]}]}),
    )
    .await;
    let params = pairs(&[("CallSid", "CAalpha"), ("AccountSid", "ACalpha"), ("From", CALLER), ("To", "+15550007000")]);
    let r = post_signed_with(&server.client, &server.base, &token_a, "/api/webhooks/voice", &params).await.unwrap();
    assert!(r.is_dial(), "{r:?}");
    let (_, calls) = a.get("/api/calls").await;
    let call_id = calls["items"][0]["id"].as_str().unwrap().to_owned();

    let buyer_path = format!("/api/buyers/{}", buyer["id"].as_str().unwrap());
    let campaign_path = format!("/api/campaigns/{}", campaign["id"].as_str().unwrap());
    let before = [a.get(&buyer_path).await, a.get(&campaign_path).await, a.get(&format!("{campaign_path}/buyers")).await];

    // Bravo, even as its owner, finds nothing by id.
    for path in [&buyer_path, &campaign_path, &format!("{campaign_path}/buyers"), &format!("/api/calls/{call_id}")] {
        let (s, v) = b.get(path).await;
        assert_eq!((s, v["error"]["code"].as_str()), (404, Some("not_found")), "GET {path}: {v}");
        assert!(!v.to_string().contains("Alpha"), "{v}");
    }
    assert_eq!(b.put(&buyer_path, &json!({"name": "hijacked", "version": 1})).await.0, 404);
    assert_eq!(b.put(&campaign_path, &json!({"status": "paused"})).await.0, 404);
    assert_eq!(b.put(&format!("{campaign_path}/buyers"), &json!([])).await.0, 404);
    assert_eq!(b.delete(&campaign_path).await.0, 404);
    assert_eq!(b.delete(&buyer_path).await.0, 404);

    // Its lists hold none of Alpha's.
    for path in ["/api/buyers", "/api/campaigns", "/api/calls"] {
        let (s, v) = b.get(path).await;
        assert_eq!((s, &v["items"]), (200, &json!([])), "{path}: {v}");
    }
    let (_, v) = b.get(&format!("/api/calls?campaignId={}", campaign["id"].as_str().unwrap())).await;
    assert_eq!(v["items"], json!([]));

    // Alpha's buyer cannot be assigned by Bravo, and its number is not named.
    let (s, v) = b.post("/api/campaigns", &json!({"name": "Bravo", "buyers": [{"buyerId": buyer["id"]}]})).await;
    assert_eq!((s, v["error"]["fields"][0]["field"].as_str()), (422, Some("buyers[0].buyerId")), "{v}");
    let (s, v) = b.post("/api/campaigns", &json!({"name": "Bravo", "phoneNumber": "+15550007000"})).await;
    assert_eq!(s, 409, "{v}");
    assert!(!v.to_string().contains("Alpha") && !v.to_string().contains(campaign["id"].as_str().unwrap()), "{v}");
    // Bravo may reuse Alpha's names: they are unique per tenant only.
    created(&b, "/api/campaigns", json!({"name": "Alpha Campaign"})).await;
    created(&b, "/api/buyers", json!({"name": "Alpha Buyer", "phoneNumber": "+15550003001", "timezone": "UTC"})).await;

    // Alpha's resources are unchanged, and still route.
    let after = [a.get(&buyer_path).await, a.get(&campaign_path).await, a.get(&format!("{campaign_path}/buyers")).await];
    assert_eq!(before, after);
    assert_eq!(a.get("/api/buyers").await.1["items"].as_array().unwrap().len(), 1);
    let params = pairs(&[("CallSid", "CAalpha2"), ("AccountSid", "ACalpha"), ("From", CALLER), ("To", "+15550007000")]);
    let r = post_signed_with(&server.client, &server.base, &token_a, "/api/webhooks/voice", &params).await.unwrap();
    assert_eq!(r.dialed().as_deref(), Some("+15550003001"));
}
