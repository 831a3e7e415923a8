//! Accounts through HTTP: signup, login, logout, sessions, CSRF.

mod common;

use common::{Console, TestServer};
use serde_json::json;

#[tokio::test]
async fn signup_signs_in_and_logout_ends_the_session() {
    let server = TestServer::start().await;
    let console = server.signup("Acme Leads", "alice").await;
    let (s, me) = console.get("/api/auth/user").await;
    assert_eq!(s, 200);
    assert_eq!((me["username"].as_str(), me["role"].as_str(), me["tenantName"].as_str()), (Some("alice"), Some("owner"), Some("Acme Leads")));

    let (s, _) = console.post("/api/auth/logout", &json!({})).await;
    assert_eq!(s, 204);
    let (s, err) = console.get("/api/auth/user").await;
    assert_eq!((s, err["error"]["code"].as_str()), (401, Some("unauthorized")));

    // The password works; a wrong one and an unknown user look the same.
    let again = Console::new(&server.base);
    let (s, _) = again.post("/api/auth/login", &json!({"username": "alice", "password": "correct horse"})).await;
    assert_eq!(s, 200);
    assert_eq!(again.get("/api/auth/user").await.0, 200);
    let (wrong, _) = Console::new(&server.base).post("/api/auth/login", &json!({"username": "alice", "password": "nope nope"})).await;
    let (unknown, _) = Console::new(&server.base).post("/api/auth/login", &json!({"username": "mallory", "password": "nope nope"})).await;
    assert_eq!((wrong, unknown), (401, 401));
}

#[tokio::test]
async fn signup_conflicts_and_bad_input() {
    let server = TestServer::start().await;
    server.signup("Acme Leads", "alice").await;
    let c = Console::new(&server.base);
    let (s, e) = c.post("/api/auth/signup", &json!({"username": "ALICE", "password": "correct horse", "tenantName": "Other"})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("conflict")));
    let (s, _) = c.post("/api/auth/signup", &json!({"username": "bob", "password": "correct horse", "tenantName": "Acme Leads"})).await;
    assert_eq!(s, 409);
    // Bob was not left behind by the refused signup.
    let (s, _) = c.post("/api/auth/login", &json!({"username": "bob", "password": "correct horse"})).await;
    assert_eq!(s, 401);
    let (s, e) = c.post("/api/auth/signup", &json!({"username": "bob", "password": "short", "tenantName": "B"})).await;
    assert_eq!((s, e["error"]["fields"][0]["field"].as_str()), (422, Some("password")));
    let (s, e) = c.post("/api/auth/signup", &json!({"username": "bob", "password": "correct horse", "tenantName": "B", "x": 1})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("bad_request")));
}

#[tokio::test]
async fn cookie_writes_from_another_origin_are_refused() {
    let server = TestServer::start().await;
    let console = server.signup("Acme Leads", "alice").await;
    let (s, v, _) = console
        .send(reqwest::Method::POST, "/api/auth/logout", Some(&json!({})), &[("Origin", "https://evil.example")])
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (403, Some("forbidden")));
    // Still signed in.
    assert_eq!(console.get("/api/auth/user").await.0, 200);
}

#[tokio::test]
async fn openapi_document_lists_the_admin_routes() {
    let server = TestServer::start().await;
    let (s, doc) = Console::new(&server.base).get("/api/openapi.json").await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/api/auth/login", "/api/auth/logout", "/api/auth/user", "/api/auth/signup"] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from openapi.json");
    }
}
