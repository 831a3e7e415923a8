//! Pixels end to end, against real HTTP receivers on loopback: one that
//! answers 200, one that answers 500 twice and then 200, one that hangs and
//! one that answers 410. Calls are played as Twilio plays them; what each
//! receiver got is checked (body, delivery id across retries, signature,
//! checked by Python's `hmac` too), and the delivery log says the same.
//! Then the 422s of bad pixels, and `kill -9` while deliveries are in flight.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use switchboard_engine::{EngineConfig, PixelSettings};
use switchboard_model::PhoneNumber;

use crate::common::process::Served;
use crate::common::{Console, TestServer, fields, periodic_check, post_signed_with};
use crate::payouts::{play, setup};
use crate::publishers::direct_campaign;

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Hit {
    at: std::time::Instant,
    method: Method,
    /// Path and query, as sent.
    uri: String,
    headers: HeaderMap,
    body: String,
}

#[derive(Default)]
struct Receiver {
    hits: Mutex<Vec<Hit>>,
    flaky: AtomicUsize,
}

impl Receiver {
    fn hits(&self, path: &str) -> Vec<Hit> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.uri.split('?').next() == Some(path))
            .cloned()
            .collect()
    }
}

async fn receive(
    State(r): State<Arc<Receiver>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    let path = uri.path().to_owned();
    r.hits.lock().unwrap().push(Hit {
        at: std::time::Instant::now(),
        method,
        uri: uri.to_string(),
        headers,
        body,
    });
    match path.as_str() {
        "/flaky" if r.flaky.fetch_add(1, Ordering::SeqCst) < 2 => {
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        "/hang" => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::OK.into_response()
        }
        "/gone" => (StatusCode::GONE, "no such campaign here").into_response(),
        "/busy" if r.flaky.fetch_add(1, Ordering::SeqCst) < 1 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "2")],
            "slow down",
        )
            .into_response(),
        "/down" => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        _ => (StatusCode::OK, "ok").into_response(),
    }
}

/// A receiver on 127.0.0.1:0; its base URL.
async fn receiver() -> (String, Arc<Receiver>) {
    let r = Arc::new(Receiver::default());
    let app = axum::Router::new()
        .fallback(receive)
        .with_state(Arc::clone(&r));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), r)
}

fn allow_private() -> EngineConfig {
    EngineConfig {
        pixels: PixelSettings {
            allow_private_targets: true,
            timeout: Duration::from_millis(800),
            ..PixelSettings::default()
        },
        ..EngineConfig::default()
    }
}

async fn pixel(c: &Console, body: Value) -> String {
    let (s, v) = c.post("/api/pixels", &body).await;
    assert_eq!(s, 201, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

async fn deliveries(c: &Console, query: &str) -> Vec<Value> {
    let (s, v) = c.get(&format!("/api/pixels/deliveries?{query}")).await;
    assert_eq!(s, 200, "{v}");
    v["items"].as_array().unwrap().clone()
}

/// The delivery log's entry for `pixel`, once it is in `state`.
async fn settled(c: &Console, pixel: &str, state: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let d = deliveries(c, &format!("pixelId={pixel}")).await;
        match d.first() {
            Some(d) if d["state"] == state => return d.clone(),
            last => assert!(
                std::time::Instant::now() < deadline,
                "pixel {pixel} not {state} within 20 s: {last:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `Switchboard-Signature: t=…,v1=…[,v1=…]` checked the way a receiver
/// would, by Python's `hmac` (reported skipped without python3).
fn python_verifies(secret: &str, header: &str, payload: &str) -> Option<bool> {
    let script = r#"
import hashlib, hmac, sys
secret, header, payload = sys.argv[1], sys.argv[2], sys.argv[3]
parts = [p.split("=", 1) for p in header.split(",")]
t = [v for k, v in parts if k == "t"][0]
want = hmac.new(secret.encode(), (t + "." + payload).encode(), hashlib.sha256).hexdigest()
sys.exit(0 if any(hmac.compare_digest(want, v) for k, v in parts if k == "v1") else 1)
"#;
    let out = Command::new("python3")
        .args(["-c", script, secret, header, payload])
        .output()
        .ok()?;
    Some(out.status.success())
}

#[tokio::test]
async fn each_receiver_gets_its_delivery_signed_retried_or_refused_and_the_log_says_so() {
    let server = TestServer::start_with_engine(None, allow_private()).await;
    let (c, buyer, _) = setup(&server, &[]).await;
    direct_campaign(&c, "+15550700001", &buyer, json!({})).await;
    let (base, rx) = receiver().await;
    // The hanging one on a host (port) of its own: slots and breakers are per host.
    let (slow_base, slow) = receiver().await;
    let (s, v) = c.post("/api/pixels/signing-secret", &json!({})).await;
    assert_eq!(s, 201, "{v}");
    let secret = v["secret"].as_str().unwrap().to_owned();

    let ok = pixel(&c, json!({"name": "network", "events": ["converted"],
        "url": format!("{base}/ok?click={{tag:clickId}}&amount={{revenue}}&caller={{callerIdNoPlus}}&e={{event}}")})).await;
    let flaky = pixel(
        &c,
        json!({"name": "crm", "events": ["converted"], "method": "POST",
        "url": format!("{base}/flaky")}),
    )
    .await;
    let hang = pixel(
        &c,
        json!({"name": "slow", "events": ["converted"], "method": "POST",
        "url": format!("{slow_base}/hang")}),
    )
    .await;
    let gone = pixel(
        &c,
        json!({"name": "gone", "events": ["converted"], "method": "PUT",
        "url": format!("{base}/gone"),
        "body": r#"{"call": "{callId}", "revenue": {revenue}, "who": "{callerId}"}"#,
        "headers": {"X-Api-Key": "k-{campaignId}"},
        "basicAuth": {"username": "u", "password": "p4ss"}}),
    )
    .await;

    // A call the buyer talks 90 s on converts (its conversion is 60 s).
    let call = play(&server, &c, "CApx1", "+15550700001", 90).await;
    let call_id = call["id"].as_str().unwrap();
    assert_eq!(call["converted"], true, "{call}");

    // The 200 receiver's GET, with its tokens filled and URL-encoded, and
    // signed over the URL as sent; it is not held up by the hanging one.
    let d = settled(&c, &ok, "delivered").await;
    assert_eq!(
        (d["attempt"].as_u64(), d["responseStatus"].as_u64()),
        (Some(1), Some(200))
    );
    assert_eq!(d["responseBody"], "ok");
    let hits = rx.hits("/ok");
    periodic_check(
        || async { !slow.hits("/hang").is_empty() },
        Duration::from_secs(10),
    )
    .await;
    let hung = slow.hits("/hang")[0].at;
    assert!(
        hits[0].at < hung + Duration::from_millis(800),
        "the 200 receiver's delivery waited for the hanging one's timeout"
    );
    assert_eq!(hits.len(), 1, "{hits:?}");
    let hit = &hits[0];
    assert_eq!(hit.method, Method::GET);
    assert_eq!(
        hit.uri,
        "/ok?click=&amount=25.00&caller=15551230000&e=converted"
    );
    let delivery_id = hit.headers["switchboard-delivery-id"].to_str().unwrap();
    assert_eq!(delivery_id, d["id"].as_str().unwrap());
    assert_eq!(hit.headers["switchboard-event"], "converted");
    let sig = hit.headers["switchboard-signature"].to_str().unwrap();
    let url = format!("{base}{}", hit.uri);
    assert_eq!(d["request"]["url"], url.as_str());
    match python_verifies(&secret, sig, &url) {
        Some(ok) => assert!(ok, "python's hmac refused {sig} over {url}"),
        None => eprintln!(
            "SKIPPED: python3 not found; the signature check by Python's hmac did not run"
        ),
    }
    if let Some(verified) = python_verifies("not-the-secret", sig, &url) {
        assert!(!verified, "a wrong secret must not verify");
    }

    // 500, 500, then 200: three attempts with one delivery id, the call's
    // JSON (its fields and the event) as the body.
    let d = settled(&c, &flaky, "delivered").await;
    assert_eq!(d["attempt"].as_u64(), Some(3), "{d}");
    let hits = rx.hits("/flaky");
    assert_eq!(hits.len(), 3);
    let ids: HashSet<&str> = hits
        .iter()
        .map(|h| h.headers["switchboard-delivery-id"].to_str().unwrap())
        .collect();
    assert_eq!(ids, HashSet::from([d["id"].as_str().unwrap()]));
    let body: Value = serde_json::from_str(&hits[2].body).unwrap();
    assert_eq!(
        (body["id"].as_str(), body["event"].as_str()),
        (Some(call_id), Some("converted"))
    );
    assert_eq!(hits[2].headers["content-type"], "application/json");
    let sig = hits[2].headers["switchboard-signature"].to_str().unwrap();
    if let Some(ok) = python_verifies(&secret, sig, &hits[2].body) {
        assert!(ok, "python's hmac refused the POST's signature");
    }

    // 410 is final after one attempt; the body template JSON-escaped, the
    // header's token filled, basic auth sent and masked in the log.
    let d = settled(&c, &gone, "failed").await;
    assert_eq!(
        (d["attempt"].as_u64(), d["responseStatus"].as_u64()),
        (Some(1), Some(410))
    );
    assert_eq!(d["responseBody"], "no such campaign here");
    let hits = rx.hits("/gone");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].method, Method::PUT);
    let body: Value = serde_json::from_str(&hits[0].body).unwrap();
    assert_eq!(
        body,
        json!({"call": call_id, "revenue": 25.00, "who": "+15551230000"})
    );
    assert_eq!(hits[0].headers["authorization"], "Basic dTpwNHNz");
    assert_eq!(
        hits[0].headers["x-api-key"].to_str().unwrap(),
        format!("k-{}", call["campaignId"].as_str().unwrap())
    );
    let shown = d["request"]["headers"].to_string();
    assert!(
        !shown.contains("dTpwNHNz") && shown.contains("Basic ********"),
        "{shown}"
    );
    let (_, p) = c.get(&format!("/api/pixels/{gone}")).await;
    assert_eq!(p["basicAuth"], json!({"username": "u", "password": ""}));

    // The hanging receiver times out and is retried, and nothing else waited.
    let d = settled(&c, &hang, "retrying").await;
    assert!(
        d["error"]
            .as_str()
            .unwrap()
            .contains("no answer within 800 ms"),
        "{d}"
    );
    assert!(d["nextAttemptAt"].is_string());

    // Resend: the 410 one goes again, with its id, and is final again.
    let gone_id = deliveries(&c, &format!("pixelId={gone}")).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = c
        .post(
            &format!("/api/pixels/deliveries/{gone_id}/resend"),
            &json!({}),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    periodic_check(
        || async { rx.hits("/gone").len() == 2 },
        Duration::from_secs(10),
    )
    .await;
    let hits = rx.hits("/gone");
    assert_eq!(hits[1].headers["switchboard-delivery-id"], gone_id.as_str());
    settled(&c, &gone, "failed").await;

    // Filters; each pixel fired once for the call (maxFires 1).
    assert_eq!(deliveries(&c, &format!("callId={call_id}")).await.len(), 4);
    let failed = deliveries(&c, "state=failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["pixelId"], gone.as_str());
    let (s, one) = c.get(&format!("/api/pixels/deliveries/{gone_id}")).await;
    assert_eq!((s, one["id"].as_str()), (200, Some(gone_id.as_str())));

    // A preview renders an unsaved pixel for the sample call; a test send
    // reaches the receiver, signed, and is kept in no log.
    let (s, v) = c
        .post(
            "/api/pixels/preview",
            &json!({"name": "draft", "events": ["completed"],
            "url": format!("{base}/try?amount={{revenue}}&e={{event}}&s={{utmSource}}")}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["request"]["url"],
        format!("{base}/try?amount=25.00&e=completed&s=google")
    );
    assert_eq!(v["event"], "completed");
    let (s, v) = c
        .post(
            "/api/pixels/preview",
            &json!({"name": "draft", "events": ["completed"], "url": "https://x.example/{nope}"}),
        )
        .await;
    assert_eq!((s, fields(&v)), (422, vec!["url".to_owned()]), "{v}");
    let before = deliveries(&c, "").await.len();
    let (s, v) = c
        .post(&format!("/api/pixels/{gone}/test"), &json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["responseStatus"].as_u64(), v["responseBody"].as_str()),
        (Some(410), Some("no such campaign here"))
    );
    assert!(
        v["request"]["headers"]
            .to_string()
            .contains("Basic ********"),
        "{v}"
    );
    let hits = rx.hits("/gone");
    let sig = hits.last().unwrap().headers["switchboard-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    if let Some(ok) = python_verifies(&secret, &sig, &hits.last().unwrap().body) {
        assert!(ok, "the test send's signature");
    }
    assert_eq!(
        deliveries(&c, "").await.len(),
        before,
        "a test send is not logged"
    );

    // A rotation: the new secret signs first, the old one still signs (24 h).
    let (s, v) = c.post("/api/pixels/signing-secret", &json!({})).await;
    assert_eq!(s, 201, "{v}");
    let rotated = v["secret"].as_str().unwrap().to_owned();
    assert_ne!(rotated, secret);
    let (s, v) = c.post(&format!("/api/pixels/{ok}/test"), &json!({})).await;
    assert_eq!((s, v["responseStatus"].as_u64()), (200, Some(200)), "{v}");
    let hit = rx.hits("/ok").pop().unwrap();
    let sig = hit.headers["switchboard-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    let v1: Vec<&str> = sig.split(',').filter(|p| p.starts_with("v1=")).collect();
    assert_eq!(v1.len(), 2, "{sig}");
    let url = format!("{base}{}", hit.uri);
    // The first v1 alone verifies with the new secret; the pair with the old.
    let newest_only = sig.split(",v1=").take(2).collect::<Vec<_>>().join(",v1=");
    for (key, header) in [(&rotated, newest_only.as_str()), (&secret, sig.as_str())] {
        if let Some(ok) = python_verifies(key, header, &url) {
            assert!(ok, "{header} should verify with {key}");
        }
    }
    if let Some(ok) = python_verifies(&secret, &newest_only, &url) {
        assert!(!ok, "the first v1 is the new secret's");
    }

    // Another tenant sees none of it.
    let other = server.signup("other pixels", "other-owner").await;
    let (s, _) = other
        .get(&format!("/api/pixels/deliveries/{gone_id}"))
        .await;
    assert_eq!(s, 404);
    let (s, _) = other.get(&format!("/api/pixels/{gone}")).await;
    assert_eq!(s, 404);
    assert_eq!(deliveries(&other, "").await.len(), 0);
}

/// A receiver's `Retry-After` sets the next attempt, and a host that keeps
/// failing trips its own breaker: its deliveries wait for the cool-down
/// instead of being tried, while another host's go on.
#[tokio::test]
async fn retry_after_is_obeyed_and_a_failing_host_trips_only_its_own_breaker() {
    let mut config = allow_private();
    config.pixels.breaker.failure_threshold = 2;
    // Longer than the test: the breaker stays open once it opens.
    config.pixels.breaker.cool_down = Duration::from_secs(60);
    let server = TestServer::start_with_engine(None, config).await;
    let (c, buyer, _) = setup(&server, &[]).await;
    direct_campaign(&c, "+15550700002", &buyer, json!({})).await;
    let (busy_base, busy) = receiver().await;
    let (down_base, down) = receiver().await;
    let polite = pixel(
        &c,
        json!({"name": "polite", "events": ["incoming"],
        "url": format!("{busy_base}/busy")}),
    )
    .await;
    let failing = pixel(
        &c,
        json!({"name": "failing", "events": ["incoming"],
        "url": format!("{down_base}/down")}),
    )
    .await;
    for sid in ["CAbr1", "CAbr2", "CAbr3"] {
        play(&server, &c, sid, "+15550700002", 5).await;
    }

    // The first answer is 429 with Retry-After: 2; that delivery's second
    // attempt came no sooner, and got 200.
    periodic_check(
        || async { busy.hits("/busy").len() == 4 },
        Duration::from_secs(10),
    )
    .await;
    let hits = busy.hits("/busy");
    let id = |h: &Hit| {
        h.headers["switchboard-delivery-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let again: Vec<&Hit> = hits[1..].iter().filter(|h| id(h) == id(&hits[0])).collect();
    assert_eq!(again.len(), 1, "{hits:?}");
    let waited = again[0].at - hits[0].at;
    assert!(
        waited >= Duration::from_millis(1900),
        "retried after {waited:?}"
    );
    let d = deliveries(&c, &format!("pixelId={polite}")).await;
    let retried = d.iter().find(|d| d["id"] == id(&hits[0]).as_str()).unwrap();
    assert_eq!(
        (retried["state"].as_str(), retried["attempt"].as_u64()),
        (Some("delivered"), Some(2))
    );

    // The failing host: each of its three deliveries tried at most once
    // before the breaker opened; then they wait for it, untried, through
    // the cool-down.
    periodic_check(
        || async {
            let d = deliveries(&c, &format!("pixelId={failing}")).await;
            d.len() == 3
                && d.iter().all(|d| {
                    d["error"]
                        .as_str()
                        .is_some_and(|e| e.contains("waiting for its circuit breaker"))
                })
        },
        Duration::from_secs(10),
    )
    .await;
    let tried = down.hits("/down").len();
    assert!(
        (2..=3).contains(&tried),
        "{tried} attempts before the breaker opened"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        down.hits("/down").len(),
        tried,
        "tried while the breaker was open"
    );
    // Each waits to be tried again, and the log counts just the attempts made.
    let d = deliveries(&c, &format!("pixelId={failing}")).await;
    let attempts: u64 = d.iter().map(|d| d["attempt"].as_u64().unwrap()).sum();
    assert_eq!(attempts, tried as u64, "{d:?}");
    for d in d {
        let state = d["state"].as_str().unwrap();
        assert!(state == "pending" || state == "retrying", "{d}");
    }
}

#[tokio::test]
async fn bad_pixels_are_422s_naming_the_field() {
    let server = TestServer::start().await;
    let c = server.signup("pixels 422", "owner").await;
    let ok = |extra: Value| {
        let mut p = json!({"name": "p", "events": ["converted"], "url": "https://track.example/pb?c={callId}"});
        p.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap());
        p
    };
    for (extra, field) in [
        (
            json!({"url": "https://track.example/pb?c={clickid}"}),
            "url",
        ),
        (json!({"events": ["converted", "sold"]}), "events[1]"),
        (json!({"url": "not a url"}), "url"),
        (json!({"url": "http://127.0.0.1:9/pb"}), "url"),
        (json!({"url": "http://169.254.169.254/latest"}), "url"),
        (
            json!({"method": "POST", "body": "x".repeat(64 * 1024 + 1)}),
            "body",
        ),
        (
            json!({"method": "POST", "body": "{\"a\": \"{callId}\""}),
            "body",
        ),
        (json!({"headers": {"X-Id": "{nope}"}}), "headers.X-Id"),
        (
            json!({"campaignIds": [switchboard_model::new_id()]}),
            "campaignIds[0]",
        ),
    ] {
        let (s, v) = c.post("/api/pixels", &ok(extra.clone())).await;
        assert_eq!(s, 422, "{extra}: {v}");
        assert!(fields(&v).contains(&field.to_owned()), "{extra}: {v}");
    }
    for i in 0..50 {
        let (s, v) = c
            .post("/api/pixels", &ok(json!({"name": format!("p{i}")})))
            .await;
        assert_eq!(s, 201, "{v}");
    }
    let (s, v) = c.post("/api/pixels", &ok(json!({"name": "p50"}))).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(fields(&v), ["name"]);
    let (s, list) = c.get("/api/pixels").await;
    assert_eq!((s, list["items"].as_array().map(Vec::len)), (200, Some(50)));
}

/// What a `kill -9` test's receiver got: the CallSid of each delivery, by delivery id.
type Seen = Arc<Mutex<HashMap<String, Vec<String>>>>;

async fn counting_receiver() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .fallback(
            |State(seen): State<Seen>, OriginalUri(uri): OriginalUri, headers: HeaderMap| async move {
                let id = headers
                    .get("switchboard-delivery-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let sid = uri
                    .query()
                    .and_then(|q| q.strip_prefix("sid="))
                    .unwrap_or_default()
                    .to_owned();
                seen.lock().unwrap().entry(id).or_default().push(sid);
                "ok"
            },
        )
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

async fn demo_login(base: &str) -> Console {
    let c = Console::new(base);
    let (s, v) = c
        .post(
            "/api/auth/login",
            &json!({"username": "demo", "password": "demo"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    c
}

fn served(data: &Path) -> Served {
    Served::start(data, &["--demo", "--pixels-allow-private-targets"], &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_deliveries_are_in_flight_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let (rx_base, seen) = counting_receiver().await;
    let mut server = served(dir.path());
    let c = demo_login(&server.base).await;
    pixel(
        &c,
        json!({"name": "every call", "events": ["incoming"],
        "url": format!("{rx_base}/hit?sid={{callSid}}")}),
    )
    .await;

    // A burst of calls; the plug is pulled after the 60th answer, with
    // calls, events and deliveries in flight.
    let client = reqwest::Client::new();
    let answered = Arc::new(Mutex::new(Vec::new()));
    let permits = Arc::new(tokio::sync::Semaphore::new(8));
    let mut set = tokio::task::JoinSet::new();
    let pid = server.pid();
    for i in 0..150 {
        let (client, base, answered, permits, pid) = (
            client.clone(),
            server.base.clone(),
            Arc::clone(&answered),
            Arc::clone(&permits),
            pid.clone(),
        );
        set.spawn(async move {
            let _slot = permits.acquire_owned().await.ok()?;
            let sid = format!("CApixelkill{i:03}{:019}", 0);
            let to = PhoneNumber::parse(["+15550001000", "+15550001001"][i % 2]).unwrap();
            let params = switchboard::demo::call_params(&sid, &to);
            let reply = post_signed_with(
                &client,
                &base,
                switchboard::demo::AUTH_TOKEN,
                "/api/webhooks/voice",
                &params,
            )
            .await
            .ok()?;
            if reply.status == 200 {
                let mut a = answered.lock().unwrap();
                a.push(sid);
                if a.len() == 60 {
                    let _ = Command::new("kill").args(["-KILL", &pid]).status();
                }
            }
            Some(())
        });
    }
    set.join_all().await;
    assert!(
        !server.wait(Duration::from_secs(10)).success(),
        "it was killed"
    );
    let answered: Vec<String> = answered.lock().unwrap().clone();
    assert!(
        answered.len() >= 60 && answered.len() < 150,
        "{}",
        answered.len()
    );

    // Restarted, it delivers every answered call's pixel.
    let again = served(dir.path());
    periodic_check(
        || async {
            let got: HashSet<String> = seen.lock().unwrap().values().flatten().cloned().collect();
            answered.iter().all(|sid| got.contains(sid))
        },
        Duration::from_secs(30),
    )
    .await;
    let seen = seen.lock().unwrap().clone();
    let duplicates: usize = seen.values().map(|sids| sids.len() - 1).sum();
    println!(
        "kill -9: {} calls answered, {} deliveries received, {duplicates} of them more than once (same delivery id)",
        answered.len(),
        seen.len()
    );
    again.stop();
}
