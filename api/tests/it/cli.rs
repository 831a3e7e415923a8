//! The `switchboard` binary as a user runs it: `serve --demo`, the printed
//! curl lines, `kill -9` during a burst, SIGTERM with requests in flight,
//! and `calls export` afterwards.

use crate::common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::process::{BIN, Served};
use common::*;
use switchboard::demo;
use switchboard::twilio::signature;
use switchboard_model::PhoneNumber;

const DEMO_PRIORITY: &str = "+15550001000";
const DEMO_ROUND_ROBIN: &str = "+15550001001";

/// `switchboard serve --demo` on `data`, with `more` arguments.
fn demo_server(data: &Path, more: &[&str]) -> Served {
    Served::start(data, &[&["--demo"], more].concat(), &[])
}

fn export(data: &Path, format: &str) -> Output {
    Command::new(BIN)
        .args(["calls", "export", "--format", format, "--data"])
        .arg(data)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run export")
}

/// The exported calls these tests placed: the demo's seeded history
/// (marked `demo`) is left out.
fn export_jsonl(data: &Path) -> Vec<serde_json::Value> {
    let out = export(data, "jsonl");
    assert!(
        out.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad json line {l:?}: {e}")))
        .filter(|c: &serde_json::Value| c["demo"] != serde_json::json!(true))
        .collect()
}

/// The header and rows of a CSV export, the demo's seeded history left out.
fn csv_rows(out: &Output) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_reader(&out.stdout[..]);
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let demo = header
        .iter()
        .position(|h| h == "demo")
        .expect("a demo column");
    let rows = reader
        .records()
        .map(|r| r.unwrap())
        .filter(|r| &r[demo] != "true")
        .collect();
    (header, rows)
}

/// A demo call, signed with the demo token for `base`.
async fn demo_call(
    client: &reqwest::Client,
    base: &str,
    sid: &str,
    to: &str,
) -> Result<Reply, reqwest::Error> {
    let params = demo::call_params(sid, &PhoneNumber::parse(to).unwrap());
    post_signed_with(
        client,
        base,
        demo::AUTH_TOKEN,
        "/api/webhooks/voice",
        &params,
    )
    .await
}

/// The parts of a printed curl line: URL, signature header, form pairs.
fn parse_curl(line: &str) -> (String, String, Vec<(String, String)>) {
    // The line's words are single-quoted; split on quotes.
    let words: Vec<&str> = line.split('\'').collect();
    let url = words[1].to_owned();
    let header = words[3].to_owned();
    let params = words[5..]
        .iter()
        .step_by(2)
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (url, header, params)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_prints_curl_lines_that_route_calls_and_seeds_once() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut tables = Vec::new();
    for run in 0..2 {
        let mut server = demo_server(dir.path(), &[]);
        let out = server.lines();
        let text = out.join("\n");
        for expected in [
            "Acme Insurance",
            "Beta Health",
            "Gamma Legal",
            "Demo Priority",
            "Demo Round Robin",
            "demo-token",
        ] {
            assert!(
                text.contains(expected),
                "run {run}: {expected} missing from:\n{text}"
            );
        }
        assert!(
            text.contains(&format!("{}/api/webhooks/voice", server.base)),
            "{text}"
        );
        let buyer_rows = out.iter().filter(|l| l.contains("+1555000200")).count();
        assert_eq!(buyer_rows, 3, "run {run}: seeded twice?\n{text}");
        // What was seeded: everything above the URLs (which carry the port).
        tables.push(
            out.iter()
                .take_while(|l| !l.starts_with("Point your"))
                .cloned()
                .collect::<Vec<_>>(),
        );

        let curls: Vec<&String> = out.iter().filter(|l| l.starts_with("curl ")).collect();
        assert_eq!(curls.len(), 2, "{text}");
        for line in curls {
            let (url, header, params) = parse_curl(line);
            let (name, sig) = header.split_once(": ").unwrap();
            assert_eq!(name, signature::HEADER);
            let body = encode(&params);
            let resp = client
                .post(&url)
                .header(name, sig)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200, "{line}");
            let twiml = resp.text().await.unwrap();
            assert!(
                twiml.contains("<Dial ") && twiml.contains("<Number "),
                "{line}\n{twiml}"
            );
        }
        server.sigterm();
        assert!(server.wait(Duration::from_secs(30)).success());
    }
    // The same seeded configuration both times.
    assert!(tables[0].iter().any(|l| l.contains("Acme Insurance")));
    assert_eq!(tables[0], tables[1]);
    let calls = export_jsonl(dir.path());
    assert_eq!(calls.len(), 4, "{calls:?}");
    // If the real curl is installed, the printed line works verbatim too.
    if Command::new("curl").arg("--version").output().is_ok() {
        let server = demo_server(dir.path(), &[]);
        let line = server
            .lines()
            .iter()
            .find(|l| l.starts_with("curl "))
            .cloned()
            .unwrap();
        let out = Command::new("sh").arg("-c").arg(&line).output().unwrap();
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(body.contains("<Dial "), "{line}\n{body}");
    }
}

/// `reports verify`: the call tables and the report rollups against a
/// recount from the stored calls.
fn verify(data: &Path) -> Output {
    Command::new(BIN)
        .args(["reports", "verify", "--data"])
        .arg(data)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run verify")
}

/// One burst of 200 calls against a demo server on `data`, killed with
/// `kill -9` after answer `kill_at`: every call that got TwiML is in the
/// export, and the call tables equal a recount of the call log. Returns the
/// CallSids that were dialed.
async fn crash_once(data: &Path, run: u64, kill_at: usize) -> Vec<String> {
    let mut server = demo_server(data, &[]);
    let client = reqwest::Client::new();
    let answered = Arc::new(AtomicUsize::new(0));
    let pid = server.pid();
    // At most 16 in flight, so the burst lasts long enough to be interrupted.
    let permits = Arc::new(tokio::sync::Semaphore::new(16));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..200 {
        let (client, base, answered, permits, pid) = (
            client.clone(),
            server.base.clone(),
            answered.clone(),
            permits.clone(),
            pid.clone(),
        );
        set.spawn(async move {
            let _permit = permits.acquire_owned().await.ok()?;
            let sid = format!("CAcrash{run:02}{i:03}{:020}", 0);
            let to = if i % 2 == 0 {
                DEMO_PRIORITY
            } else {
                DEMO_ROUND_ROBIN
            };
            let reply = demo_call(&client, &base, &sid, to).await.ok()?;
            // This answer pulls the plug, with the rest of the burst in flight.
            if answered.fetch_add(1, Ordering::SeqCst) + 1 == kill_at {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
            Some((sid, reply))
        });
    }
    let results: Vec<(String, Reply)> = set.join_all().await.into_iter().flatten().collect();
    let status = server.wait(Duration::from_secs(10));
    assert!(
        !status.success(),
        "run {run}: the server should have been killed: {status:?}"
    );
    assert!(
        results.len() < 200,
        "run {run}: the kill came after the burst; nothing was in flight"
    );
    let answered: Vec<&(String, Reply)> = results.iter().filter(|(_, r)| r.status == 200).collect();
    let dialed: Vec<String> = answered
        .iter()
        .filter(|(_, r)| r.is_dial())
        .map(|(sid, _)| sid.clone())
        .collect();
    assert!(!dialed.is_empty(), "run {run}: no call was dialed");

    let exported: HashSet<String> = export_jsonl(data)
        .iter()
        .map(|c| c["callSid"].as_str().unwrap().to_owned())
        .collect();
    // Rejections are answered only after they are recorded, as dials are.
    for (sid, r) in &answered {
        assert!(
            exported.contains(sid),
            "run {run}: {sid} got {} but is not in the export",
            if r.is_dial() { "<Dial>" } else { "TwiML" }
        );
    }
    let out = verify(data);
    assert!(
        out.status.success(),
        "run {run}: after the crash the call tables or rollups differ from a recount:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dialed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_burst_loses_no_answered_call() {
    // Twenty crashes, each after a different answer (5 to 124), each on a
    // fresh store (the demo buyers' caps would fill up on one).
    let mut last = None;
    for run in 0..20 {
        let kill_at = 5 + (switchboard_model::prng::SplitMix64::for_item(12, run).next_u64() % 120);
        let dir = tempfile::tempdir().unwrap();
        let dialed = crash_once(dir.path(), run, kill_at as usize).await;
        last = Some((dir, dialed));
    }
    let (dir, dialed) = last.unwrap();
    // And the store reopens for the next run, with the recorded calls.
    let client = reqwest::Client::new();
    let mut again = demo_server(dir.path(), &[]);
    let r = demo_call(&client, &again.base, &dialed[0].clone(), DEMO_PRIORITY)
        .await
        .unwrap();
    assert!(
        r.is_dial(),
        "a retried CallSid after the crash should replay its decision: {r:?}"
    );
    again.sigterm();
    assert!(again.wait(Duration::from_secs(30)).success());
}

/// Writes a signed voice webhook on a raw connection, all but the last
/// `hold` bytes of the body, so the request is in flight on the server.
fn start_request(base: &str, sid: &str, to: &str, hold: usize) -> (TcpStream, Vec<u8>) {
    let addr = base.trim_start_matches("http://");
    let params = demo::call_params(sid, &PhoneNumber::parse(to).unwrap());
    let sig = signature::sign(
        demo::AUTH_TOKEN,
        &format!("{base}/api/webhooks/voice"),
        &params,
    );
    let body = encode(&params).into_bytes();
    let head = format!(
        "POST /api/webhooks/voice HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         {}: {sig}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        signature::HEADER,
        body.len()
    );
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let (now, later) = body.split_at(body.len() - hold);
    stream.write_all(now).unwrap();
    stream.flush().unwrap();
    (stream, later.to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_webhooks_and_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = demo_server(dir.path(), &[]);
    // Five calls fit the priority campaign (Acme 2, Beta 5, Gamma 5).
    let sids: Vec<String> = (0..5).map(|i| format!("CAterm{i}")).collect();
    let mut pending: Vec<(TcpStream, Vec<u8>)> = sids
        .iter()
        .map(|sid| start_request(&server.base, sid, DEMO_PRIORITY, 5))
        .collect();
    // Let the server read the headers of every request before the signal.
    std::thread::sleep(Duration::from_millis(300));
    server.sigterm();
    // Once the listener is closed, shutdown has begun.
    let addr = server.base.trim_start_matches("http://").to_owned();
    periodic_check(
        || std::future::ready(TcpStream::connect(&addr).is_err()),
        Duration::from_secs(10),
    )
    .await;

    for (stream, rest) in &mut pending {
        stream.write_all(rest).unwrap();
    }
    for ((mut stream, _), sid) in pending.into_iter().zip(&sids) {
        let mut resp = String::new();
        stream
            .read_to_string(&mut resp)
            .unwrap_or_else(|e| panic!("{sid}: {e}"));
        assert!(resp.starts_with("HTTP/1.1 200"), "{sid}: {resp}");
        assert!(resp.contains("<Dial "), "{sid}: {resp}");
    }
    let status = server.wait(Duration::from_secs(30));
    assert!(
        status.success(),
        "exit {status:?}; stderr:\n{}",
        server.stderr()
    );
    let exported: HashSet<String> = export_jsonl(dir.path())
        .iter()
        .map(|c| c["callSid"].as_str().unwrap().to_owned())
        .collect();
    for sid in &sids {
        assert!(
            exported.contains(sid),
            "{sid} answered during shutdown but not exported"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_has_every_field_in_jsonl_and_csv_and_refuses_a_dir_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = demo_server(dir.path(), &[]);
    let client = reqwest::Client::new();
    let r = demo_call(&client, &server.base, "CAexport1", DEMO_PRIORITY)
        .await
        .unwrap();
    assert!(r.is_dial(), "{r:?}");
    let id = r.call_id().unwrap();
    // Answered and talked 90 s: converts at Acme's 25.00.
    for (status, seq, dur) in [("answered", 1, None), ("completed", 2, Some(90))] {
        let mut p = pairs(&[
            ("CallSid", "CAexport1leg"),
            ("ParentCallSid", "CAexport1"),
            ("CallStatus", status),
        ]);
        p.push(("SequenceNumber".into(), seq.to_string()));
        if let Some(d) = dur {
            p.push(("CallDuration".into(), format!("{d}")));
        }
        let path = format!("/api/webhooks/status?callId={id}&attempt=0");
        let done = post_signed_with(&client, &server.base, demo::AUTH_TOKEN, &path, &p)
            .await
            .unwrap();
        assert_eq!(done.status, 204, "{done:?}");
    }
    let r = demo_call(&client, &server.base, "CAexport2", "+15550009999")
        .await
        .unwrap();
    assert!(r.body.contains("not in service"), "{r:?}");

    // While the server runs, the data directory is locked.
    let busy = export(dir.path(), "jsonl");
    assert_eq!(busy.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&busy.stderr);
    assert!(msg.contains("in use"), "{msg}");
    let missing = export(&dir.path().join("nope"), "csv");
    assert_eq!(missing.status.code(), Some(1));

    server.sigterm();
    assert!(server.wait(Duration::from_secs(30)).success());

    let calls = export_jsonl(dir.path());
    assert_eq!(
        calls.len(),
        1,
        "an unknown number is not a campaign's call: {calls:?}"
    );
    let c = &calls[0];
    for key in [
        "id",
        "callSid",
        "tenantId",
        "campaignId",
        "campaignName",
        "from",
        "to",
        "callerState",
        "callerZip",
        "buyerId",
        "buyerName",
        "status",
        "startedAt",
        "answeredAt",
        "endedAt",
        "durationSeconds",
        "converted",
        "revenue",
        "revenueMinor",
        "currency",
        "fallthroughs",
        "recordingUrl",
        "tags",
        "skipped",
    ] {
        assert!(c.get(key).is_some(), "{key} missing: {c}");
    }
    assert_eq!(c["callSid"], "CAexport1");
    assert_eq!(c["from"], demo::CALLER);
    assert_eq!(c["to"], DEMO_PRIORITY);
    assert_eq!(c["callerState"], "CA");
    assert_eq!(c["callerZip"], "94105");
    assert_eq!(c["status"], "completed");
    assert_eq!(c["durationSeconds"], 90);
    assert_eq!(c["converted"], true);
    assert_eq!(c["revenueMinor"], 2500);
    assert_eq!(c["revenue"], "25.00");
    assert_eq!(c["currency"], "USD");
    // Named, so the file reads without looking ids up.
    assert_eq!(
        (c["campaignName"].as_str(), c["buyerName"].as_str()),
        (Some("Demo Priority"), Some("Acme Insurance"))
    );
    assert_eq!(c["fallthroughs"], 0);
    for t in ["startedAt", "answeredAt", "endedAt"] {
        let s = c[t].as_str().unwrap_or_else(|| panic!("{t} empty: {c}"));
        assert!(s.ends_with('Z'), "{t} not UTC: {s}");
        chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{t}={s}: {e}"));
    }

    let out = export(dir.path(), "csv");
    assert!(out.status.success());
    let (header, rows) = csv_rows(&out);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(header[..2], ["id", "callSid"]);
    for name in ["revenueMinor", "recordingUrl", "tags", "skipped"] {
        assert!(header.iter().any(|h| h == name), "{name}: {header:?}");
    }
    let row = &rows[0];
    assert_eq!(row.len(), header.len(), "{row:?}");
    let col = |name: &str| &row[header.iter().position(|h| h == name).unwrap()];
    // The call's tags, a JSON object in one cell (the demo campaign's own and the caller's location).
    let tags: serde_json::Value = serde_json::from_str(col("tags")).unwrap();
    assert_eq!(
        (&tags["callerState"], &tags["callerZip"]),
        (&serde_json::json!("CA"), &serde_json::json!("94105")),
        "{tags}"
    );
    assert_eq!(col("skipped"), "[]");
    assert_eq!(col("callSid"), "CAexport1");
    assert_eq!(col("revenueMinor"), "2500");
    assert_eq!(
        (col("revenue"), col("campaignName"), col("buyerName")),
        ("25.00", "Demo Priority", "Acme Insurance")
    );
    assert_eq!(col("converted"), "true");
    assert_eq!(col("recordingUrl"), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_export_neutralises_formula_cells_and_keeps_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = demo_server(dir.path(), &[]);
    let client = reqwest::Client::new();
    let mut params = demo::call_params("CAformula", &PhoneNumber::parse(DEMO_PRIORITY).unwrap());
    params
        .iter_mut()
        .filter(|(k, _)| k == "From")
        .for_each(|(_, v)| *v = "=cmd|' /C calc'!A0".into());
    let r = post_signed_with(
        &client,
        &server.base,
        demo::AUTH_TOKEN,
        "/api/webhooks/voice",
        &params,
    )
    .await
    .unwrap();
    assert!(r.is_dial(), "{r:?}");
    server.sigterm();
    assert!(server.wait(Duration::from_secs(30)).success());

    let out = export(dir.path(), "csv");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (header, rows) = csv_rows(&out);
    let row = rows.first().expect("one call");
    let col = |name: &str| {
        row.get(header.iter().position(|h| h == name).unwrap())
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        col("from"),
        "'=cmd|' /C calc'!A0",
        "a formula is shown, not run"
    );
    assert_eq!(
        (col("to"), col("revenue"), col("campaignName")),
        (
            DEMO_PRIORITY.to_owned(),
            "0.00".to_owned(),
            "Demo Priority".to_owned()
        )
    );
    // JSON lines carry the value as it came.
    assert_eq!(export_jsonl(dir.path())[0]["from"], "=cmd|' /C calc'!A0");
}

/// Joining a cluster needs a shared store and a real secret; the binary says
/// which, instead of starting a node whose caps would not hold.
#[test]
fn cluster_flags_are_checked_before_serving() {
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data")
            .arg(data.path())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = run(&["--cluster-url", "http://10.0.0.5:8080"]);
    assert!(!ok && err.contains("--cluster-secret"), "{err}");
    let (ok, err) = run(&[
        "--cluster-url",
        "http://10.0.0.5:8080",
        "--cluster-secret",
        "short",
    ]);
    assert!(!ok && err.contains("at least 16 characters"), "{err}");
    let (ok, err) = run(&[
        "--cluster-url",
        "http://10.0.0.5:8080",
        "--cluster-secret",
        "a-long-enough-cluster-secret",
    ]);
    assert!(
        !ok && err.contains("needs a store the nodes share"),
        "{err}"
    );
}

/// A breaker that opens after zero failures, or never closes again, is not a
/// setting: the binary refuses it instead of serving with it.
#[test]
fn rtb_breaker_flags_refuse_zero() {
    let data = tempfile::tempdir().unwrap();
    for flag in ["--rtb-breaker-failures", "--rtb-breaker-cool-down-secs"] {
        let out = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data.path())
            .args([flag, "0"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(flag) && err.contains("not in 1.."),
            "{flag}: {err}"
        );
    }
}

/// The admin console's build is served at `/` from --console-dir, with a
/// content security policy; other paths stay the API's JSON 404, and a
/// directory that holds no build is refused before serving.
#[tokio::test]
async fn the_console_is_served_from_its_build_and_a_missing_build_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let dist = tempfile::tempdir().unwrap();
    std::fs::create_dir(dist.path().join("assets")).unwrap();
    std::fs::write(
        dist.path().join("index.html"),
        "<script type=module src=/assets/app-1a2b.js></script>",
    )
    .unwrap();
    std::fs::write(
        dist.path().join("assets/app-1a2b.js"),
        "document.title = 'console'",
    )
    .unwrap();
    let server = demo_server(
        data.path(),
        &["--console-dir", dist.path().to_str().unwrap()],
    );
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{}{path}", server.base)).send();

    let page = get("/").await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    assert!(page.text().await.unwrap().contains("/assets/app-1a2b.js"));
    let script = get("/assets/app-1a2b.js").await.unwrap();
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(script.text().await.unwrap(), "document.title = 'console'");
    let missing = get("/assets/../../etc/passwd").await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    // The API is untouched by the console.
    assert_eq!(get("/healthz").await.unwrap().text().await.unwrap(), "ok");

    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .arg("--console-dir")
        .arg(empty.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no index.html") && err.contains("npm run build"),
        "{err}"
    );
}
