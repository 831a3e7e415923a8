//! Accounts under attack, as an outsider tries it over loopback: bursts of
//! logins (limits and memory), signups that probe for names, keys that
//! outlive their user, tenant settings that name another tenant, and
//! oversized admin bodies.

use crate::common;

use common::process::Served;
use common::{Console, TestServer};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse";

/// Posts `body` to `path` and returns the status, the `Retry-After` header and the raw body.
async fn post_raw(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, Option<String>, String) {
    let mut req = client.post(format!("{base}{path}")).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, resp.text().await.expect("body"))
}

#[tokio::test]
async fn forty_concurrent_wrong_passwords_for_one_user_get_at_most_ten_checks() {
    let server = TestServer::start().await;
    server.signup("Acme Leads", "alice").await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let (client, base) = (server.client.clone(), server.base.clone());
        tasks.spawn(async move {
            post_raw(
                &client,
                &base,
                "/api/auth/login",
                &json!({"username": "alice", "password": "wrong password"}),
                &[],
            )
            .await
        });
    }
    let answers = tasks.join_all().await;
    let checked = answers.iter().filter(|a| a.0 == 401).count();
    assert!(
        (1..=10).contains(&checked),
        "{checked} wrong passwords were checked: {answers:?}"
    );
    for (status, retry, body) in answers.iter().filter(|a| a.0 != 401) {
        assert_eq!(*status, 429, "{body}");
        let secs: u64 = retry.as_deref().expect("retry-after").parse().unwrap();
        assert!((1..=900).contains(&secs), "retry-after {secs}");
    }
    // The user is locked out now, even with the right password.
    let (s, _, _) = post_raw(
        &server.client,
        &server.base,
        "/api/auth/login",
        &json!({"username": "alice", "password": PASSWORD}),
        &[],
    )
    .await;
    assert_eq!(s, 429);
}

#[tokio::test]
async fn two_hundred_concurrent_logins_cost_a_bounded_amount_of_memory() {
    // Behind a proxy, each guess comes from its own address: no per-address
    // or per-user limit holds them back, so only the hashing bound can.
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(dir.path(), &["--trust-forwarded-for"], &[]);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let signup = json!({"username": "alice", "password": PASSWORD, "tenantName": "Acme Leads"});
    assert_eq!(
        post_raw(
            &client,
            &server.base,
            "/api/auth/signup",
            &signup,
            &[("X-Forwarded-For", "198.18.0.1")]
        )
        .await
        .0,
        201
    );
    let guess = |i: usize| json!({"username": format!("guess{i}"), "password": "wrong password"});
    assert_eq!(
        post_raw(
            &client,
            &server.base,
            "/api/auth/login",
            &guess(0),
            &[("X-Forwarded-For", "198.18.0.2")]
        )
        .await
        .0,
        401
    );
    let idle = server.kib("VmRSS");

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let (client, base, body) = (client.clone(), server.base.clone(), guess(i));
        tasks.spawn(async move {
            let from = format!("198.18.{}.{}", 1 + i / 250, 1 + i % 250);
            post_raw(
                &client,
                &base,
                "/api/auth/login",
                &body,
                &[("X-Forwarded-For", &from)],
            )
            .await
        });
    }
    let answers = tasks.join_all().await;
    let peak = server.kib("VmHWM");
    let now = server.kib("VmRSS");
    let mib = |kib: u64| kib / 1024;
    assert!(
        peak.saturating_sub(idle) < 300 * 1024,
        "resident memory rose from {} MiB to a peak of {} MiB (now {} MiB) for 200 logins",
        mib(idle),
        mib(peak),
        mib(now)
    );
    // Every guess was answered: checked (401), or refused for now with a retry hint (503).
    assert!(answers.iter().any(|a| a.0 == 401), "{answers:?}");
    for (status, retry, body) in answers.iter().filter(|a| a.0 != 401) {
        assert_eq!(*status, 503, "{body}");
        assert_eq!(retry.as_deref(), Some("1"), "{body}");
    }
    let (s, _, _) = post_raw(
        &client,
        &server.base,
        "/api/auth/login",
        &json!({"username": "alice", "password": PASSWORD}),
        &[("X-Forwarded-For", "198.18.9.9")],
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn signup_is_limited_per_address() {
    let server = TestServer::start().await;
    for i in 0..10 {
        let body = json!({"username": format!("owner{i}"), "password": PASSWORD, "tenantName": format!("Tenant {i}")});
        assert_eq!(
            post_raw(&server.client, &server.base, "/api/auth/signup", &body, &[])
                .await
                .0,
            201
        );
    }
    let body = json!({"username": "owner10", "password": PASSWORD, "tenantName": "Tenant 10"});
    let (s, retry, e) =
        post_raw(&server.client, &server.base, "/api/auth/signup", &body, &[]).await;
    assert_eq!(s, 429, "{e}");
    let secs: u64 = retry.expect("retry-after").parse().unwrap();
    assert!((1..=3600).contains(&secs), "retry-after {secs}");
    let e: Value = serde_json::from_str(&e).unwrap();
    assert_eq!(e["error"]["code"], "rate_limited");
    // Nothing was made; signing in is another limit.
    let (s, _, _) = post_raw(
        &server.client,
        &server.base,
        "/api/auth/login",
        &json!({"username": "owner10", "password": PASSWORD}),
        &[],
    )
    .await;
    assert_eq!(s, 401);
    let (s, _, _) = post_raw(
        &server.client,
        &server.base,
        "/api/auth/login",
        &json!({"username": "owner3", "password": PASSWORD}),
        &[],
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn signup_answers_a_taken_username_and_a_taken_tenant_name_alike() {
    let server = TestServer::start().await;
    let acme = server.signup("Acme Leads", "alice").await;
    let acme_id = acme.get("/api/auth/user").await.1["tenantId"]
        .as_str()
        .unwrap()
        .to_owned();
    let signup = |username: &str, tenant: &str| json!({"username": username, "password": PASSWORD, "tenantName": tenant});

    let taken_user = post_raw(
        &server.client,
        &server.base,
        "/api/auth/signup",
        &signup("Alice", "Fresh Tenant"),
        &[],
    )
    .await;
    let taken_tenant = post_raw(
        &server.client,
        &server.base,
        "/api/auth/signup",
        &signup("bob", "Acme Leads"),
        &[],
    )
    .await;
    assert_eq!((taken_user.0, taken_tenant.0), (409, 409));
    assert_eq!(taken_user.2, taken_tenant.2, "the two refusals differ");
    let e: Value = serde_json::from_str(&taken_user.2).unwrap();
    assert_eq!(e["error"]["code"], "conflict");
    for leak in ["alice", "Alice", "Acme", &acme_id] {
        assert!(!taken_user.2.contains(leak), "{leak} in {}", taken_user.2);
    }
    // Neither refusal left anything behind: both names are still free to their owners.
    let (s, _, _) = post_raw(
        &server.client,
        &server.base,
        "/api/auth/login",
        &json!({"username": "bob", "password": PASSWORD}),
        &[],
    )
    .await;
    assert_eq!(s, 401);
    server.signup("Fresh Tenant", "bob").await;
}

/// Makes `username` with `role` in `admin`'s tenant and signs them in.
async fn add_user(
    server: &TestServer,
    admin: &Console,
    username: &str,
    role: &str,
) -> (String, Console) {
    let (s, u) = admin
        .post(
            "/api/users",
            &json!({"username": username, "password": PASSWORD, "role": role}),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    let console = Console::new(&server.base);
    assert_eq!(
        console
            .post(
                "/api/auth/login",
                &json!({"username": username, "password": PASSWORD})
            )
            .await
            .0,
        200
    );
    (u["id"].as_str().unwrap().to_owned(), console)
}

async fn key(console: &Console, name: &str, role: &str) -> (String, String) {
    let (s, k) = console
        .post("/api/api-keys", &json!({"name": name, "role": role}))
        .await;
    assert_eq!(s, 201, "{k}");
    (
        k["id"].as_str().unwrap().to_owned(),
        k["key"].as_str().unwrap().to_owned(),
    )
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
        assert_eq!(
            Console::with_key(&server.base, secret)
                .get("/api/tenant")
                .await
                .0,
            200
        );
    }

    assert_eq!(owner.delete(&format!("/api/users/{bob_id}")).await.0, 204);
    for secret in [&bobs_secret, &made_secret] {
        let (s, e) = Console::with_key(&server.base, secret)
            .get("/api/tenant")
            .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "a deleted user's key still works"
        );
    }
    assert_eq!(
        Console::with_key(&server.base, &alices_secret)
            .get("/api/tenant")
            .await
            .0,
        200
    );
    let (_, keys) = owner.get("/api/api-keys").await;
    let names: Vec<&str> = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice's export"]);

    let (_, log) = owner.get("/api/audit?kind=api-key").await;
    let revoked: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "delete")
        .collect();
    assert_eq!(revoked.len(), 2, "{log}");
    for (id, name) in [(&bobs_id, "bob's sync"), (&made_id, "made by bob's sync")] {
        let entry = revoked
            .iter()
            .find(|e| e["resourceId"].as_str() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("{name} not in {log}"));
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
    assert_eq!(
        acme.put(
            "/api/tenant",
            &json!({"name": "Acme Leads", "twilioAccountSid": SID})
        )
        .await
        .0,
        200
    );
    let (_, admin) = add_user(&server, &acme, "bob", "admin").await;
    let (_, admin_key) = key(&acme, "admin key", "admin").await;
    let admin_machine = Console::with_key(&server.base, &admin_key);

    for c in [&admin, &admin_machine] {
        for body in [
            json!({"name": "Acme Leads", "twilioAccountSid": "ACother00000000000000000000000000"}),
            json!({"name": "Acme Leads"}),
        ] {
            let (s, e) = c.put("/api/tenant", &body).await;
            assert_eq!(
                (s, e["error"]["code"].as_str()),
                (403, Some("forbidden")),
                "{body}: {e}"
            );
        }
    }
    // An admin still renames the tenant when the account stays as it is.
    let (s, t) = admin
        .put(
            "/api/tenant",
            &json!({"name": "Acme Renamed", "twilioAccountSid": SID}),
        )
        .await;
    assert_eq!((s, t["twilioAccountSid"].as_str()), (200, Some(SID)), "{t}");
    let (s, t) = acme
        .put("/api/tenant", &json!({"name": "Acme Renamed"}))
        .await;
    assert_eq!((s, t["twilioAccountSid"].as_str()), (200, None), "{t}");
}

#[tokio::test]
async fn conflicts_on_the_account_sid_or_the_tenant_name_name_no_other_tenant() {
    let server = TestServer::start().await;
    const SID: &str = "ACacme000000000000000000000000000";
    let acme = server.signup("Acme Leads", "alice").await;
    let acme_id = acme.get("/api/auth/user").await.1["tenantId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        acme.put(
            "/api/tenant",
            &json!({"name": "Acme Renamed", "twilioAccountSid": SID})
        )
        .await
        .0,
        200
    );
    // Another tenant can take neither the account nor the name, and is not told whose they are.
    let beta = server.signup("Beta Calls", "carol").await;
    for body in [
        json!({"name": "Beta Calls", "twilioAccountSid": SID}),
        json!({"name": "Acme Renamed"}),
    ] {
        let (s, e) = beta.put("/api/tenant", &body).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (409, Some("conflict")),
            "{body}: {e}"
        );
        assert!(!e.to_string().contains(&acme_id), "{e}");
    }
    let (_, t) = acme.get("/api/tenant").await;
    assert_eq!(
        (t["name"].as_str(), t["twilioAccountSid"].as_str()),
        (Some("Acme Renamed"), Some(SID))
    );
}

#[tokio::test]
async fn admin_bodies_over_the_limit_are_413() {
    let server = TestServer::start().await;
    let owner = server.signup("Acme Leads", "alice").await;
    let huge = "x".repeat(2 * 1024 * 1024 + 64 * 1024);
    for (method, path) in [
        (reqwest::Method::POST, "/api/buyers"),
        (reqwest::Method::POST, "/api/campaigns"),
        (reqwest::Method::PUT, "/api/tenant"),
    ] {
        let (s, e, _) = owner
            .send(method, path, Some(&json!({"name": huge})), &[])
            .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (413, Some("payload_too_large")),
            "{path}: {e}"
        );
    }
    // A body under the limit is read and judged as usual.
    let (s, e) = owner
        .post("/api/buyers", &json!({"name": "x".repeat(1024 * 1024)}))
        .await;
    assert!(s == 400 || s == 422, "{s}: {e}");
}
