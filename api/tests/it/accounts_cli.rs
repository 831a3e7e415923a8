//! Accounts from the command line, as an operator makes them: `switchboard
//! user create` (password on stdin), then a server on that data directory
//! with signup turned off, and the `--demo` login.

use crate::common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::Console;
use common::process::{BIN, Served as Server};
use serde_json::json;

/// Runs `switchboard user create` with `password` on a piped (non-TTY) stdin.
fn user_create(data: &Path, tenant: &str, username: &str, role: &str, password: &str) -> Output {
    let mut child = Command::new(BIN)
        .args([
            "user",
            "create",
            "--tenant",
            tenant,
            "--username",
            username,
            "--role",
            role,
            "--data",
        ])
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn user create");
    writeln!(child.stdin.take().expect("stdin"), "{password}").expect("write password");
    child.wait_with_output().expect("user create")
}

async fn login(base: &str, username: &str, password: &str) -> (u16, serde_json::Value, Console) {
    let c = Console::new(base);
    let (s, v) = c
        .post(
            "/api/auth/login",
            &json!({"username": username, "password": password}),
        )
        .await;
    (s, v, c)
}

#[tokio::test]
async fn user_create_makes_the_first_owner_of_a_server_without_signup() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let out = user_create(&data, "Acme Leads", "root", "owner", "a long passphrase");
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("created user \"root\" (owner) in new tenant \"Acme Leads\""),
        "{said}"
    );
    // A second user joins the same tenant (found by name).
    let out = user_create(&data, "Acme Leads", "ops", "viewer", "another passphrase");
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("in tenant \"Acme Leads\""));

    // Refusals say why and exit non-zero.
    let out = user_create(&data, "Acme Leads", "shorty", "owner", "demo");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("password must be at least 8 characters")
    );
    let out = user_create(&data, "Other", "ROOT", "owner", "a long passphrase");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("taken"));
    let out = Command::new(BIN)
        .args([
            "user",
            "create",
            "--tenant",
            "T",
            "--username",
            "u",
            "--role",
            "god",
            "--data",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());

    let server = Server::start(&data, &["--no-signup"], &[]);
    let (s, me, root) = login(&server.base, "root", "a long passphrase").await;
    assert_eq!(
        (s, me["role"].as_str(), me["tenantName"].as_str()),
        (200, Some("owner"), Some("Acme Leads"))
    );
    let users = root.get("/api/users").await.1;
    assert_eq!(users["items"].as_array().unwrap().len(), 2, "{users}");
    assert_eq!(
        login(&server.base, "ops", "another passphrase").await.1["role"].as_str(),
        Some("viewer")
    );
    assert_eq!(login(&server.base, "shorty", "demo").await.0, 401);
    // The command line's work is in the audit log.
    let log = root.get("/api/audit?kind=user").await.1;
    assert!(
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "cli" && e["action"] == "create"),
        "{log}"
    );

    let (s, e) = Console::new(&server.base)
        .post(
            "/api/auth/signup",
            &json!({"username": "eve", "password": "a long passphrase", "tenantName": "Eve"}),
        )
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("forbidden")));
    server.stop();
}

#[tokio::test]
async fn signup_is_on_by_default_and_off_with_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let signup = json!({"username": "eve", "password": "a long passphrase", "tenantName": "Eve"});

    let off = Server::start(
        &dir.path().join("a"),
        &[],
        &[("SWITCHBOARD_SIGNUP", "false")],
    );
    assert_eq!(
        Console::new(&off.base)
            .post("/api/auth/signup", &signup)
            .await
            .0,
        403
    );
    off.stop();

    let on = Server::start(&dir.path().join("b"), &[], &[]);
    assert_eq!(
        Console::new(&on.base)
            .post("/api/auth/signup", &signup)
            .await
            .0,
        201
    );
    on.stop();
}

#[tokio::test]
async fn demo_makes_a_demo_login_once_and_says_it_is_for_local_trial_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let server = Server::start(&data, &["--demo"], &[]);
    let (s, me, demo) = login(&server.base, "demo", "demo").await;
    assert_eq!(
        (s, me["role"].as_str(), me["tenantName"].as_str()),
        (200, Some("owner"), Some("demo"))
    );
    // The seeded campaigns belong to the demo login's tenant.
    let (s, tenant) = demo.get("/api/tenant").await;
    assert_eq!(
        (s, tenant["twilioAuthTokenSet"].as_bool()),
        (200, Some(true))
    );
    let printed = server.output();
    assert!(printed.contains("LOCAL TRIAL ONLY"), "{printed}");
    assert!(printed.contains("password \"demo\""), "{printed}");
    server.stop();

    // Restarted: the same single demo user, still working.
    let again = Server::start(&data, &["--demo"], &[]);
    let (s, _, demo) = login(&again.base, "demo", "demo").await;
    assert_eq!(s, 200);
    let users = demo.get("/api/users").await.1;
    assert_eq!(users["items"].as_array().unwrap().len(), 1, "{users}");
    assert!(again.output().contains("LOCAL TRIAL ONLY"));
    again.stop();
}
