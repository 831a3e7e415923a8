//! Accounts from the command line, as an operator makes them: `switchboard
//! user create` (password on stdin), then a server on that data directory
//! with signup turned off, and the `--demo` login.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::Console;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// A `switchboard serve` child process on 127.0.0.1:0.
struct Server {
    child: Child,
    base: String,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(args)
            .env("RUST_LOG", "warn")
            .env_remove("SWITCHBOARD_PUBLIC_URL")
            .env_remove("SWITCHBOARD_SIGNUP")
            .env_remove("SWITCHBOARD_DEMO")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn switchboard");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let out = child.stdout.take().expect("stdout");
        let lines = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).expect("no `listening on` line");
            if let Some(addr) = line.strip_prefix("listening on ") {
                break addr.trim().to_owned();
            }
        };
        Self { child, base, stdout }
    }

    fn output(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }

    /// Stops it (SIGTERM) and waits, so the data directory is free again.
    fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().expect("try_wait").is_none() {
            assert!(Instant::now() < deadline, "server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `switchboard user create` with `password` on a piped (non-TTY) stdin.
fn user_create(data: &Path, tenant: &str, username: &str, role: &str, password: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(["user", "create", "--tenant", tenant, "--username", username, "--role", role, "--data"])
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
    let (s, v) = c.post("/api/auth/login", &json!({"username": username, "password": password})).await;
    (s, v, c)
}

#[tokio::test]
async fn user_create_makes_the_first_owner_of_a_server_without_signup() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let out = user_create(&data, "Acme Leads", "root", "owner", "a long passphrase");
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("created user \"root\" (owner) in new tenant \"Acme Leads\""), "{said}");
    // A second user joins the same tenant (found by name).
    let out = user_create(&data, "Acme Leads", "ops", "viewer", "another passphrase");
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("in tenant \"Acme Leads\""));

    // Refusals say why and exit non-zero.
    let out = user_create(&data, "Acme Leads", "shorty", "owner", "demo");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password must be at least 8 characters"));
    let out = user_create(&data, "Other", "ROOT", "owner", "a long passphrase");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("taken"));
    let out = Command::new(BIN).args(["user", "create", "--tenant", "T", "--username", "u", "--role", "god", "--data"]).arg(&data).output().unwrap();
    assert!(!out.status.success());

    let server = Server::start(&data, &["--no-signup"], &[]);
    let (s, me, root) = login(&server.base, "root", "a long passphrase").await;
    assert_eq!((s, me["role"].as_str(), me["tenantName"].as_str()), (200, Some("owner"), Some("Acme Leads")));
    let users = root.get("/api/users").await.1;
    assert_eq!(users["items"].as_array().unwrap().len(), 2, "{users}");
    assert_eq!(login(&server.base, "ops", "another passphrase").await.1["role"].as_str(), Some("viewer"));
    assert_eq!(login(&server.base, "shorty", "demo").await.0, 401);
    // The command line's work is in the audit log.
    let log = root.get("/api/audit?kind=user").await.1;
    assert!(log["items"].as_array().unwrap().iter().any(|e| e["actor"] == "cli" && e["action"] == "create"), "{log}");

    let (s, e) = Console::new(&server.base)
        .post("/api/auth/signup", &json!({"username": "eve", "password": "a long passphrase", "tenantName": "Eve"}))
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("forbidden")));
    server.stop();
}

#[tokio::test]
async fn signup_is_on_by_default_and_off_with_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let signup = json!({"username": "eve", "password": "a long passphrase", "tenantName": "Eve"});

    let off = Server::start(&dir.path().join("a"), &[], &[("SWITCHBOARD_SIGNUP", "false")]);
    assert_eq!(Console::new(&off.base).post("/api/auth/signup", &signup).await.0, 403);
    off.stop();

    let on = Server::start(&dir.path().join("b"), &[], &[]);
    assert_eq!(Console::new(&on.base).post("/api/auth/signup", &signup).await.0, 201);
    on.stop();
}

#[tokio::test]
async fn demo_makes_a_demo_login_once_and_says_it_is_for_local_trial_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let server = Server::start(&data, &["--demo"], &[]);
    let (s, me, demo) = login(&server.base, "demo", "demo").await;
    assert_eq!((s, me["role"].as_str(), me["tenantName"].as_str()), (200, Some("owner"), Some("demo")));
    // The seeded campaigns belong to the demo login's tenant.
    let (s, tenant) = demo.get("/api/tenant").await;
    assert_eq!((s, tenant["twilioAuthTokenSet"].as_bool()), (200, Some(true)));
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
