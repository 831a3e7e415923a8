//! Accounts and tenant settings under attack, as an outsider tries them over
//! loopback: keys that outlive their user, tenant settings that name another
//! tenant, and oversized admin bodies.

mod common;

use common::{Console, TestServer};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse";

/// Makes `username` with `role` in `admin`'s tenant and signs them in.
async fn add_user(server: &TestServer, admin: &Console, username: &str, role: &str) -> (String, Console) {
    let (s, u) = admin.post("/api/users", &json!({"username": username, "password": PASSWORD, "role": role})).await;
    assert_eq!(s, 201, "{u}");
    let console = Console::new(&server.base);
    assert_eq!(console.post("/api/auth/login", &json!({"username": username, "password": PASSWORD})).await.0, 200);
    (u["id"].as_str().unwrap().to_owned(), console)
}

async fn key(console: &Console, name: &str, role: &str) -> (String, String) {
    let (s, k) = console.post("/api/api-keys", &json!({"name": name, "role": role})).await;
    assert_eq!(s, 201, "{k}");
    (k["id"].as_str().unwrap().to_owned(), k["key"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn deleting_a_user_revokes_their_api_keys_and_the_log_says_so() {
    let server = TestServer::start().await;
    let owner = server.signup("Acme Leads", "alice").await;
    let (bob_id, bob) = add_user(&server, &owner, "bob", "admin").await;
    let (bobs_id, bobs_secret) = key(&bob, "bob's sync", "admin").await;
    // A key made with bob's key is bob's too.
    let bobs_machine = Console::with_key(&server.base, &bobs_secret);
    let (made_id, made_secret) = key(&bobs_machine, "made by bob's sync", "viewer").await;
    let (_, alices_secret) = key(&owner, "alice's export", "viewer").await;
    for secret in [&bobs_secret, &made_secret, &alices_secret] {
        assert_eq!(Console::with_key(&server.base, secret).get("/api/tenant").await.0, 200);
    }

    assert_eq!(owner.delete(&format!("/api/users/{bob_id}")).await.0, 204);
    for secret in [&bobs_secret, &made_secret] {
        let (s, e) = Console::with_key(&server.base, secret).get("/api/tenant").await;
        assert_eq!((s, e["error"]["code"].as_str()), (401, Some("unauthorized")), "a deleted user's key still works");
    }
    assert_eq!(Console::with_key(&server.base, &alices_secret).get("/api/tenant").await.0, 200);
    let (_, keys) = owner.get("/api/api-keys").await;
    let names: Vec<&str> = keys["items"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice's export"]);

    let (_, log) = owner.get("/api/audit?kind=api-key").await;
    let revoked: Vec<&Value> = log["items"].as_array().unwrap().iter().filter(|e| e["action"] == "delete").collect();
    assert_eq!(revoked.len(), 2, "{log}");
    for (id, name) in [(&bobs_id, "bob's sync"), (&made_id, "made by bob's sync")] {
        let entry = revoked.iter().find(|e| e["resourceId"].as_str() == Some(id.as_str())).unwrap_or_else(|| panic!("{name} not in {log}"));
        assert_eq!(entry["actor"], "user:alice");
        assert_eq!(entry["detail"]["name"], name);
        assert_eq!(entry["detail"]["reason"], "user deleted");
        assert_eq!(entry["detail"]["username"], "bob");
    }
}

#[tokio::test]
async fn only_an_owner_sets_or_removes_the_account_sid() {
    let server = TestServer::start().await;
    const SID: &str = "ACacme000000000000000000000000000";
    let acme = server.signup("Acme Leads", "alice").await;
    assert_eq!(acme.put("/api/tenant", &json!({"name": "Acme Leads", "twilioAccountSid": SID})).await.0, 200);
    let (_, admin) = add_user(&server, &acme, "bob", "admin").await;
    let (_, admin_key) = key(&acme, "admin key", "admin").await;
    let admin_machine = Console::with_key(&server.base, &admin_key);

    for c in [&admin, &admin_machine] {
        for body in [json!({"name": "Acme Leads", "twilioAccountSid": "ACother00000000000000000000000000"}), json!({"name": "Acme Leads"})] {
            let (s, e) = c.put("/api/tenant", &body).await;
            assert_eq!((s, e["error"]["code"].as_str()), (403, Some("forbidden")), "{body}: {e}");
        }
    }
    // An admin still renames the tenant when the account stays as it is.
    let (s, t) = admin.put("/api/tenant", &json!({"name": "Acme Renamed", "twilioAccountSid": SID})).await;
    assert_eq!((s, t["twilioAccountSid"].as_str()), (200, Some(SID)), "{t}");
    let (s, t) = acme.put("/api/tenant", &json!({"name": "Acme Renamed"})).await;
    assert_eq!((s, t["twilioAccountSid"].as_str()), (200, None), "{t}");
}

#[tokio::test]
async fn conflicts_on_the_account_sid_or_the_tenant_name_name_no_other_tenant() {
    let server = TestServer::start().await;
    const SID: &str = "ACacme000000000000000000000000000";
    let acme = server.signup("Acme Leads", "alice").await;
    let acme_id = acme.get("/api/auth/user").await.1["tenantId"].as_str().unwrap().to_owned();
    assert_eq!(acme.put("/api/tenant", &json!({"name": "Acme Renamed", "twilioAccountSid": SID})).await.0, 200);
    // Another tenant can take neither the account nor the name, and is not told whose they are.
    let beta = server.signup("Beta Calls", "carol").await;
    for body in [json!({"name": "Beta Calls", "twilioAccountSid": SID}), json!({"name": "Acme Renamed"})] {
        let (s, e) = beta.put("/api/tenant", &body).await;
        assert_eq!((s, e["error"]["code"].as_str()), (409, Some("conflict")), "{body}: {e}");
        assert!(!e.to_string().contains(&acme_id), "{e}");
    }
    let (_, t) = acme.get("/api/tenant").await;
    assert_eq!((t["name"].as_str(), t["twilioAccountSid"].as_str()), (Some("Acme Renamed"), Some(SID)));
}

#[tokio::test]
async fn admin_bodies_over_the_limit_are_413() {
    let server = TestServer::start().await;
    let owner = server.signup("Acme Leads", "alice").await;
    let huge = "x".repeat(2 * 1024 * 1024 + 64 * 1024);
    for (method, path) in [(reqwest::Method::POST, "/api/buyers"), (reqwest::Method::POST, "/api/campaigns"), (reqwest::Method::PUT, "/api/tenant")] {
        let (s, e, _) = owner.send(method, path, Some(&json!({"name": huge})), &[]).await;
        assert_eq!((s, e["error"]["code"].as_str()), (413, Some("payload_too_large")), "{path}: {e}");
    }
    // A body under the limit is read and judged as usual.
    let (s, e) = owner.post("/api/buyers", &json!({"name": "x".repeat(1024 * 1024)})).await;
    assert!(s == 400 || s == 422, "{s}: {e}");
}
