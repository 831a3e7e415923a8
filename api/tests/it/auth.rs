//! Accounts through HTTP: signup, login, logout, sessions, CSRF.

use crate::common;

use common::{Console, TestServer};
use serde_json::json;

#[tokio::test]
async fn signup_signs_in_and_logout_ends_the_session() {
    let server = TestServer::start().await;
    let console = server.signup("Acme Leads", "alice").await;
    let (s, me) = console.get("/api/auth/user").await;
    assert_eq!(s, 200);
    assert_eq!(
        (
            me["username"].as_str(),
            me["role"].as_str(),
            me["tenantName"].as_str()
        ),
        (Some("alice"), Some("owner"), Some("Acme Leads"))
    );

    let (s, _) = console.post("/api/auth/logout", &json!({})).await;
    assert_eq!(s, 204);
    let (s, err) = console.get("/api/auth/user").await;
    assert_eq!(
        (s, err["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );

    // The password works; a wrong one and an unknown user look the same.
    let again = Console::new(&server.base);
    let (s, _) = again
        .post(
            "/api/auth/login",
            &json!({"username": "alice", "password": "correct horse"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(again.get("/api/auth/user").await.0, 200);
    let (wrong, _) = Console::new(&server.base)
        .post(
            "/api/auth/login",
            &json!({"username": "alice", "password": "nope nope"}),
        )
        .await;
    let (unknown, _) = Console::new(&server.base)
        .post(
            "/api/auth/login",
            &json!({"username": "mallory", "password": "nope nope"}),
        )
        .await;
    assert_eq!((wrong, unknown), (401, 401));
}

#[tokio::test]
async fn signup_conflicts_and_bad_input() {
    let server = TestServer::start().await;
    server.signup("Acme Leads", "alice").await;
    let c = Console::new(&server.base);
    let (s, e) = c
        .post(
            "/api/auth/signup",
            &json!({"username": "ALICE", "password": "correct horse", "tenantName": "Other"}),
        )
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("conflict")));
    let (s, _) = c
        .post(
            "/api/auth/signup",
            &json!({"username": "bob", "password": "correct horse", "tenantName": "Acme Leads"}),
        )
        .await;
    assert_eq!(s, 409);
    // Bob was not left behind by the refused signup.
    let (s, _) = c
        .post(
            "/api/auth/login",
            &json!({"username": "bob", "password": "correct horse"}),
        )
        .await;
    assert_eq!(s, 401);
    let (s, e) = c
        .post(
            "/api/auth/signup",
            &json!({"username": "bob", "password": "short", "tenantName": "B"}),
        )
        .await;
    assert_eq!(
        (s, e["error"]["fields"][0]["field"].as_str()),
        (422, Some("password"))
    );
    let (s, e) = c
        .post(
            "/api/auth/signup",
            &json!({"username": "bob", "password": "correct horse", "tenantName": "B", "x": 1}),
        )
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("bad_request")));
}

#[tokio::test]
async fn cookie_writes_from_another_origin_are_refused() {
    let server = TestServer::start().await;
    let console = server.signup("Acme Leads", "alice").await;
    let (s, v, _) = console
        .send(
            reqwest::Method::POST,
            "/api/auth/logout",
            Some(&json!({})),
            &[("Origin", "https://evil.example")],
        )
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
    for path in [
        "/api/auth/login",
        "/api/auth/logout",
        "/api/auth/user",
        "/api/auth/signup",
        "/api/auth/sessions",
        "/api/auth/sessions/{id}",
        "/api/auth/password",
        "/api/api-keys",
        "/api/api-keys/{id}",
        "/api/users",
        "/api/users/{id}",
        "/api/tenant",
        "/api/audit",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from openapi.json"
        );
    }
    for (path, methods) in [
        ("/api/api-keys", &["get", "post"][..]),
        ("/api/api-keys/{id}", &["delete"]),
        ("/api/users", &["get", "post"]),
        ("/api/users/{id}", &["put", "delete"]),
        ("/api/tenant", &["get", "put"]),
        ("/api/auth/sessions/{id}", &["delete"]),
    ] {
        for m in methods {
            assert!(
                doc["paths"][path].get(m).is_some(),
                "{m} {path} missing from openapi.json"
            );
        }
    }
    // Referenced schemas are defined, and the write-only token is not readable.
    let schemas = &doc["components"]["schemas"];
    assert!(
        schemas["TenantView"]["properties"]
            .get("twilioAuthToken")
            .is_none()
    );
    assert!(
        schemas["TenantView"]["properties"]
            .get("twilioAuthTokenSet")
            .is_some()
    );
    assert!(
        schemas["CreatedApiKey"].is_object()
            && schemas["UserView"].is_object()
            && schemas["AuditView"].is_object()
    );
    // Every `$ref` points at a defined schema.
    fn refs<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                    out.push(r);
                }
                m.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected ref {r}"));
        assert!(schemas.get(name).is_some(), "{r} is not defined");
    }
}

const PASSWORD: &str = "correct horse";

/// Creates `username` with `role` through `/api/users` as `admin`, signs
/// them in, and returns their id and console.
async fn add_user(admin: &Console, username: &str, role: &str) -> (String, Console) {
    let (s, u) = admin
        .post(
            "/api/users",
            &json!({"username": username, "password": PASSWORD, "role": role}),
        )
        .await;
    assert_eq!(s, 201, "create {username}: {u}");
    assert_eq!(
        (u["username"].as_str(), u["role"].as_str()),
        (Some(username), Some(role))
    );
    assert!(u.get("passwordHash").is_none());
    let console = Console::new(&admin.base);
    let (s, _) = console
        .post(
            "/api/auth/login",
            &json!({"username": username, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, 200);
    (u["id"].as_str().unwrap().to_owned(), console)
}

async fn login(
    base: &str,
    username: &str,
    password: &str,
) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
    Console::new(base)
        .send(
            reqwest::Method::POST,
            "/api/auth/login",
            Some(&json!({"username": username, "password": password})),
            &[],
        )
        .await
}

#[tokio::test]
async fn failed_logins_are_limited_per_user_and_a_success_resets_the_count() {
    let server = TestServer::start().await;
    server.signup("Acme Leads", "alice").await;
    server.signup("Beta Calls", "bob").await;
    server.signup("Gamma Media", "carol").await;

    for _ in 0..10 {
        assert_eq!(login(&server.base, "alice", "wrong password").await.0, 401);
    }
    // Locked out: even the right password is refused, with a wait time.
    let (s, e, h) = login(&server.base, "ALICE", PASSWORD).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "retry-after {retry}");
    // Others from the same address are not locked out.
    assert_eq!(login(&server.base, "bob", PASSWORD).await.0, 200);

    // Nine failures, a success, nine more: the success wiped the first nine.
    for _ in 0..9 {
        assert_eq!(login(&server.base, "carol", "wrong password").await.0, 401);
    }
    assert_eq!(login(&server.base, "carol", PASSWORD).await.0, 200);
    for _ in 0..9 {
        assert_eq!(login(&server.base, "carol", "wrong password").await.0, 401);
    }
    assert_eq!(login(&server.base, "carol", PASSWORD).await.0, 200);
}

#[tokio::test]
async fn failed_logins_are_limited_per_client_address() {
    let server = TestServer::start().await;
    server.signup("Acme Leads", "alice").await;
    // One address guessing many names (each under the per-user limit).
    for i in 0..30 {
        assert_eq!(
            login(&server.base, &format!("guess{i}"), "wrong password")
                .await
                .0,
            401
        );
    }
    let (s, _, h) = login(&server.base, "alice", PASSWORD).await;
    assert_eq!(s, 429);
    assert!(h.contains_key("retry-after"));
}

#[tokio::test]
async fn api_keys_are_shown_once_scoped_to_a_role_and_revoked_at_once() {
    let server = TestServer::start().await;
    let owner = server.signup("Acme Leads", "alice").await;

    let (s, created) = owner
        .post(
            "/api/api-keys",
            &json!({"name": "crm sync", "role": "manager"}),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let secret = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("sbk_"));
    assert_eq!(
        (created["name"].as_str(), created["role"].as_str()),
        (Some("crm sync"), Some("manager"))
    );
    assert_eq!(created["createdBy"].as_str(), Some("user:alice"));

    // The list shows the key, never its secret.
    let (s, list) = owner.get("/api/api-keys").await;
    assert_eq!(s, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"].as_str(), Some(id.as_str()));
    assert!(
        !list.to_string().contains(&secret),
        "secret leaked in {list}"
    );
    assert!(secret.starts_with(list["items"][0]["prefix"].as_str().unwrap()));

    // The key works as a bearer token on admin endpoints, with its role.
    let machine = Console::with_key(&server.base, &secret);
    let (s, tenant) = machine.get("/api/tenant").await;
    assert_eq!((s, tenant["name"].as_str()), (200, Some("Acme Leads")));
    assert_eq!(machine.get("/api/api-keys").await.0, 403);
    assert_eq!(
        machine
            .post("/api/api-keys", &json!({"name": "x", "role": "viewer"}))
            .await
            .0,
        403
    );

    // Bad input.
    let (s, e) = owner
        .post("/api/api-keys", &json!({"name": " ", "role": "viewer"}))
        .await;
    assert_eq!(
        (s, e["error"]["fields"][0]["field"].as_str()),
        (422, Some("name"))
    );
    assert_eq!(
        owner
            .post("/api/api-keys", &json!({"name": "x", "role": "god"}))
            .await
            .0,
        400
    );

    // A key's role may not exceed its creator's.
    let (_, admin) = add_user(&owner, "bob", "admin").await;
    let (s, e) = admin
        .post(
            "/api/api-keys",
            &json!({"name": "too strong", "role": "owner"}),
        )
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("forbidden")));
    let (s, admin_key) = admin
        .post(
            "/api/api-keys",
            &json!({"name": "admin key", "role": "admin"}),
        )
        .await;
    assert_eq!(s, 201);
    // An admin key manages keys too.
    let admin_machine = Console::with_key(&server.base, admin_key["key"].as_str().unwrap());
    assert_eq!(
        admin_machine.get("/api/api-keys").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Revoked: refused on the very next request.
    assert_eq!(owner.delete(&format!("/api/api-keys/{id}")).await.0, 204);
    let (s, e) = machine.get("/api/tenant").await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(owner.delete(&format!("/api/api-keys/{id}")).await.0, 404);
    assert_eq!(owner.delete("/api/api-keys/not-a-uuid").await.0, 404);
    assert_eq!(
        Console::with_key(&server.base, "sbk_made_up")
            .get("/api/tenant")
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn a_viewer_reads_but_cannot_manage_keys_users_or_settings() {
    let server = TestServer::start().await;
    let owner = server.signup("Acme Leads", "alice").await;
    let (_, viewer) = add_user(&owner, "vic", "viewer").await;
    let (_, manager) = add_user(&owner, "max", "manager").await;

    let (s, me) = viewer.get("/api/auth/user").await;
    assert_eq!(
        (s, me["role"].as_str(), me["tenantName"].as_str()),
        (200, Some("viewer"), Some("Acme Leads"))
    );
    assert_eq!(viewer.get("/api/tenant").await.0, 200);
    for c in [&viewer, &manager] {
        let (s, e) = c
            .post("/api/api-keys", &json!({"name": "mine", "role": "viewer"}))
            .await;
        assert_eq!((s, e["error"]["code"].as_str()), (403, Some("forbidden")));
        assert_eq!(c.get("/api/api-keys").await.0, 403);
        assert_eq!(c.get("/api/users").await.0, 403);
        assert_eq!(
            c.post(
                "/api/users",
                &json!({"username": "eve", "password": PASSWORD, "role": "viewer"})
            )
            .await
            .0,
            403
        );
        assert_eq!(
            c.put("/api/tenant", &json!({"name": "Mine now"})).await.0,
            403
        );
        assert_eq!(c.get("/api/audit").await.0, 403);
    }
    assert_eq!(
        owner.get("/api/tenant").await.1["name"].as_str(),
        Some("Acme Leads")
    );
}

#[tokio::test]
async fn another_tenant_cannot_see_or_touch_keys_users_or_sessions_by_id() {
    let server = TestServer::start().await;
    let acme = server.signup("Acme Leads", "alice").await;
    let beta = server.signup("Beta Calls", "bob").await;
    let (_, key) = acme
        .post(
            "/api/api-keys",
            &json!({"name": "acme key", "role": "viewer"}),
        )
        .await;
    let key_id = key["id"].as_str().unwrap();
    let (user_id, _) = add_user(&acme, "vic", "viewer").await;
    let acme_session = acme.get("/api/auth/sessions").await.1[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    assert!(
        beta.get("/api/api-keys").await.1["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let users = beta.get("/api/users").await.1;
    assert_eq!(users["items"].as_array().unwrap().len(), 1, "{users}");
    assert_eq!(users["items"][0]["username"].as_str(), Some("bob"));

    let (s, e) = beta.delete(&format!("/api/api-keys/{key_id}")).await;
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("not_found")));
    assert_eq!(
        beta.put(&format!("/api/users/{user_id}"), &json!({"role": "owner"}))
            .await
            .0,
        404
    );
    assert_eq!(beta.delete(&format!("/api/users/{user_id}")).await.0, 404);
    assert_eq!(
        beta.delete(&format!("/api/auth/sessions/{acme_session}"))
            .await
            .0,
        404
    );

    // All still there and working.
    assert_eq!(
        Console::with_key(&server.base, key["key"].as_str().unwrap())
            .get("/api/tenant")
            .await
            .1["name"],
        "Acme Leads"
    );
    assert_eq!(
        acme.get("/api/users").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(acme.get("/api/auth/user").await.0, 200);
}

#[tokio::test]
async fn users_roles_and_the_last_owner() {
    let server = TestServer::start().await;
    let owner = server.signup("Acme Leads", "alice").await;
    let alice_id = owner.get("/api/auth/user").await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (bob_id, admin) = add_user(&owner, "bob", "admin").await;

    // Bad input, taken names, and the demo password refused like any short one.
    let (s, e) = owner
        .post(
            "/api/users",
            &json!({"username": "x", "password": "demo", "role": "viewer"}),
        )
        .await;
    assert_eq!(
        (s, e["error"]["fields"][0]["field"].as_str()),
        (422, Some("password"))
    );
    let (s, e) = owner
        .post(
            "/api/users",
            &json!({"username": "two words", "password": "short", "role": "viewer"}),
        )
        .await;
    assert_eq!(
        (s, e["error"]["fields"].as_array().map(Vec::len)),
        (422, Some(2))
    );
    assert_eq!(
        owner
            .post(
                "/api/users",
                &json!({"username": "BOB", "password": PASSWORD, "role": "viewer"})
            )
            .await
            .0,
        409
    );

    // Only an owner makes or changes owners.
    let (s, e) = admin
        .post(
            "/api/users",
            &json!({"username": "olga", "password": PASSWORD, "role": "owner"}),
        )
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(
        admin
            .put(&format!("/api/users/{bob_id}"), &json!({"role": "owner"}))
            .await
            .0,
        403
    );
    assert_eq!(
        admin
            .put(
                &format!("/api/users/{alice_id}"),
                &json!({"role": "viewer"})
            )
            .await
            .0,
        403
    );
    assert_eq!(admin.delete(&format!("/api/users/{alice_id}")).await.0, 403);
    let (max_id, _) = add_user(&admin, "max", "manager").await;
    let (s, u) = admin
        .put(&format!("/api/users/{max_id}"), &json!({"role": "viewer"}))
        .await;
    assert_eq!((s, u["role"].as_str()), (200, Some("viewer")));

    // The last owner can be neither demoted nor deleted.
    let (s, e) = owner
        .put(&format!("/api/users/{alice_id}"), &json!({"role": "admin"}))
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("conflict")));
    assert_eq!(owner.delete(&format!("/api/users/{alice_id}")).await.0, 409);

    // Promote bob (with the version read: optimistic concurrency), then alice may step down.
    let bob = owner.get("/api/users").await.1["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "bob")
        .unwrap()
        .clone();
    let version = bob["version"].as_u64().unwrap();
    let (s, u) = owner
        .put(
            &format!("/api/users/{bob_id}"),
            &json!({"role": "owner", "version": version}),
        )
        .await;
    assert_eq!((s, u["role"].as_str()), (200, Some("owner")));
    let (s, e) = owner
        .put(
            &format!("/api/users/{bob_id}"),
            &json!({"role": "admin", "version": version}),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("version_conflict"))
    );
    // The role is read on every request: bob is an owner at once.
    assert_eq!(
        admin.get("/api/auth/user").await.1["role"].as_str(),
        Some("owner")
    );
    let (s, _) = owner
        .put(&format!("/api/users/{alice_id}"), &json!({"role": "admin"}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        owner.get("/api/auth/user").await.1["role"].as_str(),
        Some("admin")
    );
}

#[tokio::test]
async fn deleting_a_user_ends_their_sessions() {
    let server = TestServer::start().await;
    let owner = server.signup("Acme Leads", "alice").await;
    let (vic_id, vic) = add_user(&owner, "vic", "viewer").await;
    let vic_elsewhere = Console::new(&server.base);
    assert_eq!(
        vic_elsewhere
            .post(
                "/api/auth/login",
                &json!({"username": "vic", "password": PASSWORD})
            )
            .await
            .0,
        200
    );

    assert_eq!(owner.delete(&format!("/api/users/{vic_id}")).await.0, 204);
    assert_eq!(vic.get("/api/auth/user").await.0, 401);
    assert_eq!(vic_elsewhere.get("/api/auth/user").await.0, 401);
    assert_eq!(login(&server.base, "vic", PASSWORD).await.0, 401);
    assert_eq!(owner.delete(&format!("/api/users/{vic_id}")).await.0, 404);

    // A new user of the same name does not inherit the old sessions.
    add_user(&owner, "vic", "viewer").await;
    assert_eq!(vic.get("/api/auth/user").await.0, 401);
}

#[tokio::test]
async fn own_sessions_are_listed_and_revocable() {
    let server = TestServer::start().await;
    let here = server.signup("Acme Leads", "alice").await;
    let there = Console::new(&server.base);
    assert_eq!(
        there
            .post(
                "/api/auth/login",
                &json!({"username": "alice", "password": PASSWORD})
            )
            .await
            .0,
        200
    );

    let (s, sessions) = here.get("/api/auth/sessions").await;
    assert_eq!(s, 200);
    let sessions = sessions.as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let other = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_eq!(
        here.delete(&format!("/api/auth/sessions/{other}")).await.0,
        204
    );
    assert_eq!(there.get("/api/auth/user").await.0, 401);
    assert_eq!(here.get("/api/auth/user").await.0, 200);
    assert_eq!(
        here.get("/api/auth/sessions")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        here.delete(&format!("/api/auth/sessions/{other}")).await.0,
        404
    );

    // Another user's session is not yours to end.
    let (_, bob) = add_user(&here, "bob", "admin").await;
    let bobs = bob.get("/api/auth/sessions").await.1[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        here.delete(&format!("/api/auth/sessions/{bobs}")).await.0,
        404
    );
    assert_eq!(bob.get("/api/auth/user").await.0, 200);
}

#[tokio::test]
async fn tenant_settings_keep_the_auth_token_write_only_and_sign_webhooks_with_it() {
    let server = TestServer::start().await;
    let owner = server.signup("Acme Leads", "alice").await;
    server.signup("Beta Calls", "bob").await;
    const SID: &str = "ACacme000000000000000000000000000";
    const NEW_TOKEN: &str = "acme-secret-token";
    let params = common::pairs(&[
        ("CallSid", "CAacme1"),
        ("AccountSid", SID),
        ("From", common::CALLER),
        ("To", "+15550009999"),
        ("CallStatus", "ringing"),
    ]);
    // Before the account is set, a call for it belongs to nobody.
    let r = common::post_signed_with(
        &server.client,
        &server.base,
        NEW_TOKEN,
        "/api/webhooks/voice",
        &params,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403);

    let (s, t, h) = owner
        .send(reqwest::Method::GET, "/api/tenant", None, &[])
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        (t["name"].as_str(), t["twilioAuthTokenSet"].as_bool()),
        (Some("Acme Leads"), Some(false))
    );
    let version = t["version"].as_u64().unwrap();
    assert_eq!(h["etag"].to_str().unwrap(), format!("\"{version}\""));

    let (s, e) = owner
        .put(
            "/api/tenant",
            &json!({"name": "", "twilioAccountSid": "not-a-sid"}),
        )
        .await;
    assert_eq!(
        (s, e["error"]["fields"].as_array().map(Vec::len)),
        (422, Some(2))
    );
    assert_eq!(
        owner
            .put("/api/tenant", &json!({"name": "Beta Calls"}))
            .await
            .0,
        409
    );

    let body =
        json!({"name": "Acme Leads LLC", "twilioAccountSid": SID, "twilioAuthToken": NEW_TOKEN});
    let (s, t, _) = owner
        .send(
            reqwest::Method::PUT,
            "/api/tenant",
            Some(&body),
            &[("If-Match", &format!("\"{version}\""))],
        )
        .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(
        (
            t["name"].as_str(),
            t["twilioAccountSid"].as_str(),
            t["twilioAuthTokenSet"].as_bool()
        ),
        (Some("Acme Leads LLC"), Some(SID), Some(true))
    );
    assert!(!t.to_string().contains(NEW_TOKEN));
    let (_, read) = owner.get("/api/tenant").await;
    assert!(!read.to_string().contains(NEW_TOKEN));
    assert_eq!(read["twilioAuthTokenSet"], true);
    // A write based on the old version is stale.
    let (s, e, _) = owner
        .send(
            reqwest::Method::PUT,
            "/api/tenant",
            Some(&json!({"name": "Late"})),
            &[("If-Match", &format!("\"{version}\""))],
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (412, Some("precondition_failed"))
    );

    // A call to a number no campaign has, signed with the new token: "not in service".
    let r = common::post_signed_with(
        &server.client,
        &server.base,
        NEW_TOKEN,
        "/api/webhooks/voice",
        &params,
    )
    .await
    .unwrap();
    assert!(r.is_polite_rejection(), "{r:?}");
    let r = common::post_signed_with(
        &server.client,
        &server.base,
        "old-or-wrong",
        "/api/webhooks/voice",
        &params,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403);

    // Leaving the token out keeps it; renaming does not disturb webhooks.
    let (s, t) = owner
        .put(
            "/api/tenant",
            &json!({"name": "Acme", "twilioAccountSid": SID}),
        )
        .await;
    assert_eq!((s, t["twilioAuthTokenSet"].as_bool()), (200, Some(true)));
    let r = common::post_signed_with(
        &server.client,
        &server.base,
        NEW_TOKEN,
        "/api/webhooks/voice",
        &common::pairs(&[
            ("CallSid", "CAacme2"),
            ("AccountSid", SID),
            ("From", common::CALLER),
            ("To", "+15550009999"),
            ("CallStatus", "ringing"),
        ]),
    )
    .await
    .unwrap();
    assert!(r.is_polite_rejection(), "{r:?}");
}

#[tokio::test]
async fn account_changes_are_audited_newest_first_without_secrets() {
    let server = TestServer::start().await;
    let owner = server.signup("Acme Leads", "alice").await;
    let (vic_id, _) = add_user(&owner, "vic", "viewer").await;
    owner
        .put(&format!("/api/users/{vic_id}"), &json!({"role": "manager"}))
        .await;
    let (_, key) = owner
        .post("/api/api-keys", &json!({"name": "ci", "role": "viewer"}))
        .await;
    let key_id = key["id"].as_str().unwrap();
    let secret = key["key"].as_str().unwrap();
    owner.delete(&format!("/api/api-keys/{key_id}")).await;
    owner
        .put(
            "/api/tenant",
            &json!({"name": "Acme", "twilioAuthToken": "tok-123456"}),
        )
        .await;
    owner.delete(&format!("/api/users/{vic_id}")).await;
    assert_eq!(login(&server.base, "alice", "wrong password").await.0, 401);

    let (s, log) = owner.get("/api/audit").await;
    assert_eq!(s, 200);
    let items = log["items"].as_array().unwrap();
    let seen: Vec<(&str, &str)> = items
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("login-failed", "user"),
            ("delete", "user"),
            ("update", "tenant"),
            ("delete", "api-key"),
            ("create", "api-key"),
            ("update", "user"),
            ("login", "user"), // vic signing in (add_user)
            ("create", "user"),
            ("create", "tenant"),
        ]
    );
    assert_eq!(items[1]["actor"].as_str(), Some("user:alice"));
    assert_eq!(items[2]["detail"]["twilioAuthTokenChanged"], true);
    let text = log.to_string();
    assert!(
        !text.contains(secret) && !text.contains("tok-123456") && !text.contains(PASSWORD),
        "{text}"
    );

    // Filters and pages.
    let (_, users) = owner
        .get(&format!("/api/audit?kind=user&resourceId={vic_id}"))
        .await;
    let actions: Vec<&str> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["delete", "update", "login", "create"]);
    let (_, p1) = owner.get("/api/audit?limit=4").await;
    let cursor = p1["nextCursor"].as_str().unwrap();
    let (_, p2) = owner
        .get(&format!("/api/audit?limit=4&cursor={cursor}"))
        .await;
    let (_, p3) = owner
        .get(&format!(
            "/api/audit?limit=4&cursor={}",
            p2["nextCursor"].as_str().unwrap()
        ))
        .await;
    let ids: Vec<&serde_json::Value> = [&p1, &p2, &p3]
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap())
        .map(|e| &e["id"])
        .collect();
    let all: Vec<&serde_json::Value> = items.iter().map(|e| &e["id"]).collect();
    assert_eq!(ids, all);
    assert!(p3["nextCursor"].is_null());
    assert_eq!(owner.get("/api/audit?cursor=nope").await.0, 400);

    // Another tenant's log is its own.
    let beta = server.signup("Beta Calls", "bob").await;
    assert_eq!(
        beta.get("/api/audit").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn changing_ones_password_signs_out_other_sessions_and_an_admin_can_reset_one() {
    let server = TestServer::start().await;
    let here = server.signup("Acme Leads", "alice").await;
    let (_, there) = login_console(&server.base, "alice").await;

    let (s, e) = here
        .post(
            "/api/auth/password",
            &json!({"currentPassword": "wrong password", "newPassword": "a new passphrase"}),
        )
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("forbidden")));
    let (s, e) = here
        .post(
            "/api/auth/password",
            &json!({"currentPassword": PASSWORD, "newPassword": "short"}),
        )
        .await;
    assert_eq!(
        (s, e["error"]["fields"][0]["field"].as_str()),
        (422, Some("newPassword"))
    );
    assert_eq!(
        here.post(
            "/api/auth/password",
            &json!({"currentPassword": PASSWORD, "newPassword": "a new passphrase"})
        )
        .await
        .0,
        204
    );
    assert_eq!(here.get("/api/auth/user").await.0, 200);
    assert_eq!(there.get("/api/auth/user").await.0, 401);
    assert_eq!(login(&server.base, "alice", PASSWORD).await.0, 401);
    assert_eq!(
        login(&server.base, "alice", "a new passphrase").await.0,
        200
    );

    // An admin resets a user's password: the user's sessions end.
    let (vic_id, vic) = add_user(&here, "vic", "viewer").await;
    let (s, u) = here
        .put(
            &format!("/api/users/{vic_id}"),
            &json!({"password": "reset passphrase"}),
        )
        .await;
    assert_eq!((s, u["role"].as_str()), (200, Some("viewer")));
    assert_eq!(vic.get("/api/auth/user").await.0, 401);
    assert_eq!(login(&server.base, "vic", PASSWORD).await.0, 401);
    assert_eq!(login(&server.base, "vic", "reset passphrase").await.0, 200);
    assert_eq!(
        here.put(
            &format!("/api/users/{vic_id}"),
            &json!({"password": "demo"})
        )
        .await
        .0,
        422
    );

    // An API key has no password and no sessions.
    let (_, key) = here
        .post("/api/api-keys", &json!({"name": "k", "role": "admin"}))
        .await;
    let machine = Console::with_key(&server.base, key["key"].as_str().unwrap());
    assert_eq!(
        machine
            .post(
                "/api/auth/password",
                &json!({"currentPassword": "x", "newPassword": "yyyyyyyyy"})
            )
            .await
            .0,
        403
    );
    assert_eq!(machine.get("/api/auth/sessions").await.0, 403);
}

async fn login_console(base: &str, username: &str) -> (u16, Console) {
    let c = Console::new(base);
    let (s, _) = c
        .post(
            "/api/auth/login",
            &json!({"username": username, "password": PASSWORD}),
        )
        .await;
    (s, c)
}

async fn login_from(base: &str, username: &str, forwarded_for: &str) -> u16 {
    let body = json!({"username": username, "password": "wrong password"});
    Console::new(base)
        .send(
            reqwest::Method::POST,
            "/api/auth/login",
            Some(&body),
            &[("X-Forwarded-For", forwarded_for)],
        )
        .await
        .0
}

#[tokio::test]
async fn a_spoofed_forwarded_for_does_not_dodge_the_address_limit() {
    let server = TestServer::start().await;
    for i in 0..30 {
        assert_eq!(
            login_from(
                &server.base,
                &format!("guess{i}"),
                &format!("198.51.100.{i}")
            )
            .await,
            401
        );
    }
    assert_eq!(
        login_from(&server.base, "guess-more", "198.51.100.200").await,
        429
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_limited() {
    let dir = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn switchboard_store::Store> =
        std::sync::Arc::new(switchboard_store::EmbeddedStore::open(dir.path()).unwrap());
    let engine =
        switchboard_engine::Engine::start(store, switchboard_engine::EngineConfig::default())
            .await
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut state = switchboard::AppState::new(engine, &base);
    state.trust_forwarded_for = true;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(switchboard::run(listener, state, async move {
        let _ = rx.await;
    }));

    // The proxy appends the real client last; what the client claimed comes first.
    for i in 0..30 {
        assert_eq!(
            login_from(
                &base,
                &format!("guess{i}"),
                &format!("10.9.9.{i}, 203.0.113.7")
            )
            .await,
            401
        );
    }
    assert_eq!(login_from(&base, "guess-more", "203.0.113.7").await, 429);
    // Another client behind the same proxy is not locked out.
    assert_eq!(login_from(&base, "guess-more", "203.0.113.8").await, 401);

    let _ = tx.send(());
    task.await.unwrap().unwrap();
}
