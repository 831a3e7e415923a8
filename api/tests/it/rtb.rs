//! Real-time bidding end to end: the real server on 127.0.0.1:0, real bidder
//! servers (axum) on loopback, configuration through the admin API, calls
//! through signed webhooks, bid rows through the listing endpoints.

use crate::common;

use std::time::{Duration, Instant};

use common::{Console, TestServer};
use serde_json::{Value, json};
use switchboard_engine::EngineConfig;
use switchboard_model::{Id, Tenant};
use switchboard_store::{Doc, DocKind};
use switchboard_testkit::{Bidder, flat};

const HANG: u64 = 30_000;

/// A signed-up tenant whose Twilio account is the one the webhook helpers sign for.
pub(crate) async fn setup(s: &TestServer) -> (Console, Tenant) {
    let name = format!("rtb {}", switchboard_model::new_id());
    let console = s.signup(&name, "owner").await;
    let t = s
        .engine
        .tenants()
        .into_iter()
        .find(|t| t.name == name)
        .expect("tenant");
    let mut t = (*t).clone();
    t.twilio_account_sid = Some(common::ACCOUNT.into());
    t.twilio_auth_token = common::TOKEN.into();
    let version = t.version;
    let t = s
        .engine
        .put_tenant(t, Some(version))
        .await
        .expect("connect twilio");
    (console, t)
}

pub(crate) async fn target(console: &Console, name: &str, url: &str, extra: Value) -> Id {
    let mut body = json!({
        "name": name, "endpointUrl": url, "minBidAmount": 1, "maxBidAmount": 50, "timeoutMs": 5000,
        "requestBody": r#"{"requestId": "{requestId}", "callerId": "{callerId}", "state": "{callerState}", "maxBid": {maxBid}}"#
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let (status, t) = console.post("/api/rtb/targets", &body).await;
    assert_eq!(status, 201, "{t}");
    t["id"].as_str().unwrap().parse().unwrap()
}

/// Rewrites a saved target's stored record with `change`, as one stored
/// before a save rule existed would be, and has the engine read it as it
/// reads the store at start.
async fn old_record(s: &TestServer, tenant: Id, id: Id, change: Value) {
    let doc = s
        .store
        .get_doc(DocKind::RtbTarget, tenant, id)
        .await
        .unwrap()
        .expect("stored target");
    let mut body = doc.body.clone();
    body.as_object_mut()
        .unwrap()
        .extend(change.as_object().cloned().unwrap_or_default());
    let expected = doc.version;
    s.store
        .put_doc(Doc { body, ..doc }, Some(expected))
        .await
        .unwrap();
    assert_eq!(
        s.engine.sync_config().await.unwrap(),
        1,
        "the engine runs it"
    );
}

/// The field names of a 422's errors.
fn fields(e: &Value) -> Vec<&str> {
    e["error"]["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|f| f["field"].as_str()).collect())
        .unwrap_or_default()
}

/// An active RTB campaign on `number` whose router asks `targets` (priority 1..).
pub(crate) async fn campaign(
    console: &Console,
    number: &str,
    targets: &[Id],
    router: Value,
    buyers: Value,
) -> (Id, Id) {
    let mut body = json!({
        "name": format!("router {number}"), "biddingTimeoutMs": 300, "minBiddersRequired": 1,
        "targets": targets.iter().enumerate().map(|(i, t)| json!({"targetId": t, "priority": i + 1})).collect::<Vec<_>>()
    });
    body.as_object_mut()
        .unwrap()
        .extend(router.as_object().cloned().unwrap_or_default());
    let (status, r) = console.post("/api/rtb/routers", &body).await;
    assert_eq!(status, 201, "{r}");
    let router_id: Id = r["id"].as_str().unwrap().parse().unwrap();
    let (status, c) = console
        .post("/api/campaigns", &json!({
            "name": format!("rtb {number}"), "status": "active", "routingType": "rtb", "rtbRouterId": router_id,
            "phoneNumber": number, "maxFallthrough": 3, "buyers": buyers
        }))
        .await;
    assert_eq!(status, 201, "{c}");
    (c["id"].as_str().unwrap().parse().unwrap(), router_id)
}

/// The bid response rows of the newest auction, once recorded, by target.
async fn rows(console: &Console, expected: usize) -> (Value, Vec<Value>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, reqs) = console.get("/api/rtb/bid-requests?limit=1").await;
        assert_eq!(status, 200, "{reqs}");
        if let Some(req) = reqs["items"].get(0).cloned() {
            let (_, resps) = console.get("/api/rtb/bid-responses?limit=100").await;
            let mine: Vec<Value> = resps["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["requestId"] == req["id"])
                .cloned()
                .collect();
            if mine.len() == expected {
                return (req, mine);
            }
        }
        assert!(
            Instant::now() < deadline,
            "the auction's {expected} rows were not recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn row(rows: &[Value], target: Id) -> &Value {
    rows.iter()
        .find(|r| r["targetId"] == target.to_string())
        .expect("a row for the target")
}

pub(crate) fn with_flag() -> EngineConfig {
    EngineConfig {
        rtb_allow_private_targets: true,
        ..EngineConfig::default()
    }
}

#[tokio::test]
async fn fastest_valid_bid_wins_over_a_hanging_higher_bidder_and_a_rejection() {
    let s = TestServer::start_with_engine(None, with_flag()).await;
    let (console, _) = setup(&s).await;
    let fast = Bidder::start(10, 200, &flat("8.75", "+18005550101")).await;
    let hanging = Bidder::start(HANG, 200, &flat("40.00", "+18005550102")).await;
    let refusing = Bidder::start(5, 200, r#"{"bidAmount": 45.00, "destinationNumber": "+18005550103", "accepted": false, "rejectReason": "capped"}"#).await;
    let a = target(
        &console,
        "fast",
        &fast.url,
        json!({
            "headers": {"X-Caller": "{callerId}"}, "authType": "apiKey", "authToken": "s3cret"
        }),
    )
    .await;
    let b = target(&console, "hanging", &hanging.url, json!({})).await;
    let c = target(&console, "refusing", &refusing.url, json!({})).await;
    let (campaign_id, _) = campaign(
        &console,
        "+15550009001",
        &[a, b, c],
        json!({"biddingTimeoutMs": 300}),
        json!([]),
    )
    .await;

    let t0 = Instant::now();
    let reply = s.call("CArtb1", "+15550009001").await;
    let took = t0.elapsed();
    assert!(reply.is_dial(), "{}", reply.body);
    assert_eq!(reply.dialed().as_deref(), Some("+18005550101"));
    assert!(
        took < Duration::from_millis(300 + 500),
        "the hanging bidder delayed the decision: {took:?}"
    );
    // The template reached the bidder, rendered.
    let seen: Value = serde_json::from_str(&fast.last_request()).unwrap();
    assert_eq!(
        (seen["x-caller"].as_str(), seen["x-api-key"].as_str()),
        (Some(common::CALLER), Some("s3cret")),
        "headers and credentials"
    );
    let sent: Value =
        serde_json::from_str(seen["body"].as_str().unwrap()).expect("json request body");
    assert_eq!(
        (
            sent["callerId"].as_str(),
            sent["state"].as_str(),
            sent["maxBid"].as_f64()
        ),
        (Some(common::CALLER), Some("CA"), Some(50.0))
    );

    let (req, rows) = rows(&console, 3).await;
    assert_eq!(req["status"], "won");
    assert_eq!(req["winnerTargetId"], a.to_string());
    assert_eq!(req["winningBid"], 8.75);
    assert_eq!(req["campaignId"], campaign_id.to_string());
    assert_eq!(req["targetsAsked"].as_array().unwrap().len(), 3);
    let won = row(&rows, a);
    assert_eq!(
        (
            won["status"].as_str(),
            won["won"].as_bool(),
            won["amount"].as_f64()
        ),
        (Some("success"), Some(true), Some(8.75))
    );
    assert_eq!(won["destination"], "+18005550101");
    assert!(
        won["requestBody"]
            .as_str()
            .unwrap()
            .contains(common::CALLER)
    );
    assert!(won["responseBody"].as_str().unwrap().contains("8.75"));
    assert_eq!(row(&rows, b)["status"], "timeout");
    let rejected = row(&rows, c);
    assert_eq!(
        (
            rejected["status"].as_str(),
            rejected["reason"].as_str(),
            rejected["won"].as_bool()
        ),
        (Some("rejected"), Some("capped"), Some(false))
    );

    // Filters: by target and status; a viewer of another tenant sees nothing.
    let (_, only) = console
        .get(&format!(
            "/api/rtb/bid-responses?targetId={c}&status=rejected"
        ))
        .await;
    assert_eq!(only["items"].as_array().unwrap().len(), 1);
    let (_, none) = console
        .get(&format!(
            "/api/rtb/bid-requests?campaignId={}",
            switchboard_model::new_id()
        ))
        .await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    let stranger = s.signup("another rtb tenant", "eve").await;
    let (_, theirs) = stranger.get("/api/rtb/bid-responses").await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0);
    let (status, _) = Console::new(&s.base).get("/api/rtb/bid-requests").await;
    assert_eq!(status, 401);
    let (status, bad) = console.get("/api/rtb/bid-requests?cursor=nonsense").await;
    assert_eq!(status, 400, "{bad}");

    let (_, metrics) = s.get("/metrics").await;
    for name in [
        "switchboard_rtb_auctions_total",
        "switchboard_rtb_bids_total",
        "switchboard_rtb_auction_seconds",
        "switchboard_rtb_bidder_response_seconds",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
}

#[tokio::test]
async fn nested_and_flat_formats_both_parse_and_the_higher_wins() {
    let s = TestServer::start_with_engine(None, with_flag()).await;
    let (console, _) = setup(&s).await;
    let nested_body = r#"{"data": {"bid": {"amount": 12.50, "currency": "USD"}, "routing": {"phone": "+18005550201", "accepted": true}, "requirements": {"duration": 60}}}"#;
    let nested = Bidder::start(5, 200, nested_body).await;
    let flat_bidder = Bidder::start(5, 200, &flat("9.00", "+18005550202")).await;
    let n = target(&console, "nested", &nested.url, json!({
        "bidAmountPath": "$.data.bid.amount", "destinationNumberPath": "data.routing.phone",
        "acceptancePath": "data.routing.accepted", "currencyPath": "data.bid.currency", "durationPath": "data.requirements.duration"
    }))
    .await;
    let f = target(&console, "flat", &flat_bidder.url, json!({})).await;
    campaign(&console, "+15550009002", &[f, n], json!({}), json!([])).await;

    let reply = s.call("CArtb2", "+15550009002").await;
    assert_eq!(
        reply.dialed().as_deref(),
        Some("+18005550201"),
        "{}",
        reply.body
    );
    let (_, rows) = rows(&console, 2).await;
    assert_eq!(
        (
            row(&rows, n)["status"].as_str(),
            row(&rows, n)["amount"].as_f64()
        ),
        (Some("success"), Some(12.5))
    );
    assert_eq!(
        (
            row(&rows, f)["status"].as_str(),
            row(&rows, f)["amount"].as_f64()
        ),
        (Some("success"), Some(9.0))
    );
}

#[tokio::test]
async fn no_answer_falls_through_to_the_second_bid_which_converts_at_its_price() {
    let s = TestServer::start_with_engine(None, with_flag()).await;
    let (console, _) = setup(&s).await;
    let first = Bidder::start(5, 200, &flat("20.00", "+18005550301")).await;
    let second = Bidder::start(5, 200, &flat("10.00", "+18005550302")).await;
    let a = target(&console, "first", &first.url, json!({})).await;
    let b = target(&console, "second", &second.url, json!({})).await;
    campaign(&console, "+15550009003", &[a, b], json!({}), json!([])).await;

    let reply = s.call("CArtb3", "+15550009003").await;
    assert_eq!(
        reply.dialed().as_deref(),
        Some("+18005550301"),
        "{}",
        reply.body
    );
    let call_id = reply.call_id().expect("call id");
    assert_eq!(
        s.engine
            .buyer_stats(a)
            .await
            .expect("target capacity")
            .active,
        1,
        "the winner's capacity is reserved"
    );
    let next = s.dial_status(call_id, 0, "no-answer", None).await;
    assert_eq!(
        next.dialed().as_deref(),
        Some("+18005550302"),
        "{}",
        next.body
    );
    assert_eq!(
        s.engine.buyer_stats(a).await.unwrap().active,
        0,
        "the first target got its slot back"
    );
    let done = s.dial_status(call_id, 1, "completed", Some(75)).await;
    assert!(!done.is_dial(), "{}", done.body);
    let call = s.store.get_call(call_id).await.unwrap().expect("recorded");
    assert!(call.converted);
    assert_eq!(
        call.revenue_minor, 1000,
        "revenue is the bid that converted"
    );
    assert_eq!(call.buyer_id, Some(b));
    assert_eq!(s.engine.buyer_stats(b).await.unwrap().active, 0);
}

#[tokio::test]
async fn twenty_bidders_of_which_five_hang_the_deadline_holds() {
    let s = TestServer::start_with_engine(None, with_flag()).await;
    let (console, _) = setup(&s).await;
    let mut ids = Vec::new();
    let mut bidders = Vec::new();
    for i in 0..20u32 {
        let hang = i % 4 == 3;
        let amount = format!("{}.00", 5 + i);
        let b = Bidder::start(
            if hang { HANG } else { 5 + u64::from(i) },
            200,
            &flat(&amount, &format!("+180055504{i:02}")),
        )
        .await;
        ids.push(target(&console, &format!("bidder {i}"), &b.url, json!({})).await);
        bidders.push(b);
    }
    campaign(
        &console,
        "+15550009004",
        &ids,
        json!({"biddingTimeoutMs": 400}),
        json!([]),
    )
    .await;

    let t0 = Instant::now();
    let reply = s.call("CArtb4", "+15550009004").await;
    let took = t0.elapsed();
    assert!(
        took < Duration::from_millis(400 + 500),
        "deadline not held: {took:?}"
    );
    // The best answering bidder (i = 18, 23.00) wins; 19 (24.00) hangs.
    assert_eq!(
        reply.dialed().as_deref(),
        Some("+18005550418"),
        "{}",
        reply.body
    );
    let (req, rows) = rows(&console, 20).await;
    assert_eq!(req["validBids"], 15);
    assert_eq!(rows.iter().filter(|r| r["status"] == "timeout").count(), 5);
    assert_eq!(rows.iter().filter(|r| r["status"] == "success").count(), 15);
    // How late the decision came is on /metrics, for the deadline's p99.9.
    let (_, metrics) = s.get("/metrics").await;
    assert!(
        metrics.contains("switchboard_rtb_decision_lateness_seconds_bucket"),
        "lateness histogram missing"
    );
}

#[tokio::test]
async fn floor_and_minimum_bidders_send_the_call_to_the_campaign_buyers() {
    let s = TestServer::start_with_engine(None, with_flag()).await;
    let (console, tenant) = setup(&s).await;
    let low = Bidder::start(5, 200, &flat("4.00", "+18005550501")).await;
    let ok = Bidder::start(5, 200, &flat("6.00", "+18005550502")).await;
    let a = target(&console, "low", &low.url, json!({})).await;
    let b = target(&console, "ok", &ok.url, json!({})).await;
    let fallback = common::buyer(&s.engine, tenant.id, "Fallback", "+15550002999", None).await;
    campaign(
        &console,
        "+15550009005",
        &[a, b],
        json!({"floorPrice": 5.00, "minBiddersRequired": 2}),
        json!([{"buyerId": fallback.id}]),
    )
    .await;

    let reply = s.call("CArtb5", "+15550009005").await;
    assert_eq!(
        reply.dialed().as_deref(),
        Some("+15550002999"),
        "{}",
        reply.body
    );
    let (req, rows) = rows(&console, 2).await;
    assert_eq!(req["status"], "too-few-bids");
    assert_eq!(row(&rows, a)["status"], "invalid");
    assert_eq!(row(&rows, a)["reason"], "bid 4.00 is below the floor 5.00");
}

#[tokio::test]
async fn breaker_opens_after_consecutive_failures_and_closes_after_a_probe() {
    let config = EngineConfig {
        rtb_allow_private_targets: true,
        rtb_breaker: switchboard_engine::BreakerConfig {
            failure_threshold: 2,
            cool_down: Duration::from_millis(300),
        },
        ..EngineConfig::default()
    };
    let s = TestServer::start_with_engine(None, config).await;
    let (console, _) = setup(&s).await;
    let flaky = Bidder::start(5, 500, "oops").await;
    let steady = Bidder::start(5, 200, &flat("3.00", "+18005550602")).await;
    let f = target(&console, "flaky", &flaky.url, json!({})).await;
    let g = target(&console, "steady", &steady.url, json!({})).await;
    campaign(&console, "+15550009006", &[f, g], json!({}), json!([])).await;

    for i in 0..2 {
        let reply = s.call(&format!("CAbrk{i}"), "+15550009006").await;
        assert_eq!(reply.dialed().as_deref(), Some("+18005550602"));
        let (_, rows) = rows(&console, 2).await;
        assert_eq!(row(&rows, f)["status"], "error");
        assert_eq!(row(&rows, f)["reason"], "http status 500");
    }
    assert_eq!(s.engine.rtb_breaker_state(f), Some("open"));
    let (_, metrics) = s.get("/metrics").await;
    assert!(
        metrics.contains("switchboard_rtb_breaker_open"),
        "breaker gauge missing"
    );
    // Open: the flaky target is not asked at all.
    let hits = flaky.hits();
    let reply = s.call("CAbrk2", "+15550009006").await;
    assert!(reply.is_dial());
    let (req, _) = rows(&console, 1).await;
    assert_eq!(req["targetsAsked"], json!([g.to_string()]));
    assert_eq!(flaky.hits(), hits);

    // After the cool-down one probe goes out; it succeeds and the breaker closes.
    flaky.set(200, &flat("9.00", "+18005550601"));
    tokio::time::sleep(Duration::from_millis(350)).await;
    let reply = s.call("CAbrk3", "+15550009006").await;
    assert_eq!(
        reply.dialed().as_deref(),
        Some("+18005550601"),
        "{}",
        reply.body
    );
    assert_eq!(flaky.hits(), hits + 1);
    assert_eq!(s.engine.rtb_breaker_state(f), Some("closed"));
}

#[tokio::test]
async fn without_the_flag_loopback_and_metadata_targets_are_refused_and_never_called() {
    let s = TestServer::start().await;
    let (console, tenant) = setup(&s).await;
    let local = Bidder::start(5, 200, &flat("9.00", "+18005550701")).await;
    let port = local
        .url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/bid")
        .to_owned();
    // A literal address is refused when saved (the next test); these are
    // records stored before that rule, refused on every request instead.
    let mut literal = Vec::new();
    for (name, url) in [
        ("loopback", local.url.clone()),
        ("metadata", "http://169.254.169.254/latest/meta-data".into()),
        ("ipv6 loopback", format!("http://[::1]:{port}/bid")),
    ] {
        let id = target(&console, name, "https://bidder.example/bid", json!({})).await;
        old_record(&s, tenant.id, id, json!({"endpointUrl": url})).await;
        literal.push(id);
    }
    let [a, b, d] = literal[..] else {
        unreachable!()
    };
    let c = target(
        &console,
        "by name",
        &format!("http://localhost:{port}/bid"),
        json!({}),
    )
    .await;
    campaign(
        &console,
        "+15550009007",
        &[a, b, c, d],
        json!({}),
        json!([]),
    )
    .await;

    let reply = s.call("CAssrf", "+15550009007").await;
    assert!(
        reply.is_polite_rejection(),
        "no valid bid and no buyers: {}",
        reply.body
    );
    let (req, rows) = rows(&console, 4).await;
    assert_eq!(req["status"], "no-valid-bid");
    for (t, ip) in [(a, "127.0.0.1"), (b, "169.254.169.254"), (d, "::1")] {
        let r = row(&rows, t);
        assert_eq!(r["status"], "error");
        let reason = r["reason"].as_str().unwrap();
        assert!(
            reason.contains(ip) && reason.contains("not allowed"),
            "{reason}"
        );
    }
    // A name resolving to loopback is refused at resolution.
    let r = row(&rows, c);
    assert_eq!(r["status"], "error");
    assert!(r["reason"].as_str().unwrap().contains("not allowed"), "{r}");
    assert_eq!(local.hits(), 0, "the loopback bidder was never called");
}

#[tokio::test]
async fn literal_private_hosts_are_refused_at_save_in_any_notation_unless_allowed() {
    let s = TestServer::start().await;
    let (console, _) = setup(&s).await;
    let body = |url: &str| json!({"name": "literal", "endpointUrl": url, "maxBidAmount": 50});
    for url in [
        "http://127.0.0.1:9/bid",
        "http://2130706433/bid",
        "http://0177.0.0.1/bid",
        "http://0x7f.1/bid",
        "http://127.1/bid",
        "http://[::1]:9/bid",
        "http://[::ffff:127.0.0.1]/bid",
        "http://169.254.169.254/latest/meta-data",
        "http://0xa9fea9fe/latest/meta-data",
        "http://10.0.0.7/bid?caller={callerId}",
        "http://[fe80::1]/bid",
    ] {
        let (status, e) = console.post("/api/rtb/targets", &body(url)).await;
        assert_eq!(
            (status, fields(&e)),
            (422, vec!["endpointUrl"]),
            "{url}: {e}"
        );
        assert!(e.to_string().contains("not allowed"), "{e}");
    }
    // An update to a literal is refused too, and the target stays as it was.
    let id = target(&console, "public", "https://bidder.example/bid", json!({})).await;
    let (status, e) = console
        .put(
            &format!("/api/rtb/targets/{id}"),
            &body("http://0x7f.1/bid"),
        )
        .await;
    assert_eq!((status, fields(&e)), (422, vec!["endpointUrl"]), "{e}");
    assert_eq!(
        console.get(&format!("/api/rtb/targets/{id}")).await.1["endpointUrl"],
        "https://bidder.example/bid"
    );
    // A name is saved: it is checked after resolution, on every request.
    target(&console, "by name", "http://localhost:9/bid", json!({})).await;

    // With --rtb-allow-private-targets (tests, demos) a literal is saved.
    let allowed = TestServer::start_with_engine(None, with_flag()).await;
    let (console, _) = setup(&allowed).await;
    target(
        &console,
        "loopback allowed",
        "http://2130706433/bid",
        json!({}),
    )
    .await;
}

#[tokio::test]
async fn a_mime_content_type_is_kept_lowercased_and_sent_as_the_requests_content_type() {
    let s = TestServer::start_with_engine(None, with_flag()).await;
    let (console, _) = setup(&s).await;
    let json_bidder = Bidder::start(5, 200, &flat("7.00", "+18005551201")).await;
    let form_bidder = Bidder::start(5, 200, &flat("6.00", "+18005551202")).await;
    let j = target(
        &console,
        "json mime",
        &json_bidder.url,
        json!({"contentType": "Application/JSON; Charset=UTF-8"}),
    )
    .await;
    let f = target(&console, "form mime", &form_bidder.url, json!({
        "contentType": "application/x-www-form-urlencoded", "requestBody": "callerId={callerId}&maxBid={maxBid}"
    }))
    .await;
    let (status, got) = console.get(&format!("/api/rtb/targets/{j}")).await;
    assert_eq!(
        (status, got["contentType"].as_str()),
        (200, Some("application/json; charset=utf-8")),
        "{got}"
    );
    // The short names still read back as they were.
    let short = target(
        &console,
        "short name",
        &json_bidder.url,
        json!({"contentType": "xml", "requestBody": "<c>{callerId}</c>"}),
    )
    .await;
    assert_eq!(
        console.get(&format!("/api/rtb/targets/{short}")).await.1["contentType"],
        "xml"
    );
    for bad in [
        "text/html",
        "jsonp",
        "application/json; charset",
        "application/json\r\nX-Evil: 1",
    ] {
        let (status, e) = console
            .post("/api/rtb/targets", &json!({"name": "bad", "endpointUrl": json_bidder.url, "maxBidAmount": 50, "contentType": bad}))
            .await;
        assert_eq!(
            (status, fields(&e)),
            (422, vec!["contentType"]),
            "{bad:?}: {e}"
        );
    }

    campaign(&console, "+15550009031", &[j, f], json!({}), json!([])).await;
    let reply = s.call("CAmime", "+15550009031").await;
    assert_eq!(
        reply.dialed().as_deref(),
        Some("+18005551201"),
        "{}",
        reply.body
    );
    let seen: Value = serde_json::from_str(&json_bidder.last_request()).unwrap();
    assert_eq!(seen["content-type"], "application/json; charset=utf-8");
    let sent: Value = serde_json::from_str(seen["body"].as_str().unwrap()).expect("a JSON body");
    assert_eq!(sent["callerId"], common::CALLER);
    let seen: Value = serde_json::from_str(&form_bidder.last_request()).unwrap();
    assert_eq!(seen["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(
        seen["body"], "callerId=%2B15551230000&maxBid=50.00",
        "form-escaped"
    );
}

#[tokio::test]
async fn a_costly_response_path_is_refused_at_save_and_a_stored_one_never_runs() {
    let s = TestServer::start_with_engine(None, with_flag()).await;
    let (console, tenant) = setup(&s).await;
    let body = |path: &str| json!({"name": "costly", "endpointUrl": "https://bidder.example/bid", "maxBidAmount": 50, "bidAmountPath": path});
    let (status, e) = console
        .post("/api/rtb/targets", &body("$..*..*..*..*"))
        .await;
    assert_eq!((status, fields(&e)), (422, vec!["bidAmountPath"]), "{e}");
    assert!(e.to_string().contains("descendant segment"), "{e}");
    let id = target(
        &console,
        "cheap",
        "https://bidder.example/bid",
        json!({"bidAmountPath": "$..amount"}),
    )
    .await;
    let (status, e) = console.put(&format!("/api/rtb/targets/{id}"), &json!({
        "name": "cheap", "endpointUrl": "https://bidder.example/bid", "maxBidAmount": 50, "destinationNumberPath": "$..phone[*]"
    }))
    .await;
    assert_eq!(
        (status, fields(&e)),
        (422, vec!["destinationNumberPath"]),
        "{e}"
    );

    // One stored before the rule: it no longer compiles, so it is an error
    // row at once, whatever its bidder answers, and the auction keeps its deadline.
    let deep = format!(
        r#"{{"bidAmount": 40.00, "destinationNumber": "+18005551401", "pad": {}}}"#,
        "[".repeat(60) + &"]".repeat(60)
    );
    let costly = Bidder::start(5, 200, &deep).await;
    let fine = Bidder::start(5, 200, &flat("5.00", "+18005551402")).await;
    let old = target(&console, "old costly", &costly.url, json!({})).await;
    old_record(
        &s,
        tenant.id,
        old,
        json!({"bidAmountPath": "$..*..*..*..*"}),
    )
    .await;
    let ok = target(&console, "fine", &fine.url, json!({})).await;
    campaign(
        &console,
        "+15550009032",
        &[old, ok],
        json!({"biddingTimeoutMs": 300}),
        json!([]),
    )
    .await;
    let t0 = Instant::now();
    let reply = s.call("CAcostly", "+15550009032").await;
    assert!(
        t0.elapsed() < Duration::from_millis(300 + 500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(
        reply.dialed().as_deref(),
        Some("+18005551402"),
        "{}",
        reply.body
    );
    let (_, rows) = rows(&console, 2).await;
    let r = row(&rows, old);
    assert_eq!(r["status"], "error", "{r}");
    assert!(
        r["reason"].as_str().unwrap().contains("descendant segment"),
        "{r}"
    );
}

#[tokio::test]
async fn an_answer_over_64_kib_is_no_bid_counted_and_the_auction_keeps_its_deadline() {
    let s = TestServer::start_with_engine(None, with_flag()).await;
    let (console, _) = setup(&s).await;
    let pad = "x".repeat(100 * 1024);
    let big = Bidder::start(5, 200, &format!(r#"{{"bidAmount": 40.00, "destinationNumber": "+18005551301", "accepted": true, "pad": "{pad}"}}"#)).await;
    let small = Bidder::start(5, 200, &flat("3.00", "+18005551302")).await;
    let a = target(&console, "big", &big.url, json!({})).await;
    let b = target(&console, "small", &small.url, json!({})).await;
    campaign(
        &console,
        "+15550009033",
        &[a, b],
        json!({"biddingTimeoutMs": 300}),
        json!([]),
    )
    .await;

    let t0 = Instant::now();
    let reply = s.call("CAbig", "+15550009033").await;
    assert!(
        t0.elapsed() < Duration::from_millis(300 + 500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(
        reply.dialed().as_deref(),
        Some("+18005551302"),
        "the higher, oversized bid is no bid: {}",
        reply.body
    );
    let (_, rows) = rows(&console, 2).await;
    let r = row(&rows, a);
    assert_eq!(
        (r["status"].as_str(), r["amount"].as_f64()),
        (Some("invalid"), None),
        "{r}"
    );
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("larger than 65536 bytes"),
        "{r}"
    );
    let (_, metrics) = s.get("/metrics").await;
    assert!(
        metrics.contains(&format!(
            "switchboard_rtb_oversized_responses_total{{target=\"{a}\"}} 1"
        )),
        "{metrics}"
    );
}

/// Posts a ping with a publisher key; JSON body unless `form`.
pub(crate) async fn ping(
    s: &TestServer,
    key: &str,
    router: Id,
    body: &[(&str, &str)],
    form: bool,
) -> (u16, Value) {
    let mut req = s
        .client
        .post(format!("{}/api/rtb/webhook/{router}", s.base))
        .bearer_auth(key);
    req = if form {
        let mut f = form_urlencoded::Serializer::new(String::new());
        for (k, v) in body {
            f.append_pair(k, v);
        }
        req.header("content-type", "application/x-www-form-urlencoded")
            .body(f.finish())
    } else {
        let map: serde_json::Map<String, Value> = body
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        req.header("content-type", "application/json")
            .body(Value::Object(map).to_string())
    };
    let resp = req.send().await.expect("ping");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_ping_reserves_the_winner_for_the_call_that_follows_and_repeats_get_the_same_bid() {
    let s = TestServer::start_with_engine(None, with_flag()).await;
    let (console, _) = setup(&s).await;
    let best = Bidder::start(5, 200, &flat("15.00", "+18005550801")).await;
    let other = Bidder::start(5, 200, &flat("7.00", "+18005550802")).await;
    let a = target(&console, "best", &best.url, json!({"concurrencyLimit": 1})).await;
    let b = target(&console, "other", &other.url, json!({})).await;
    let (_, router) = campaign(&console, "+15550009008", &[a, b], json!({}), json!([])).await;
    let (status, key) = console
        .post(
            "/api/api-keys",
            &json!({"name": "publisher", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let key = key["key"].as_str().unwrap().to_owned();

    let (status, bid) = ping(
        &s,
        &key,
        router,
        &[
            ("callerId", common::CALLER),
            ("state", "CA"),
            ("zip", "94105"),
        ],
        false,
    )
    .await;
    assert_eq!(status, 200, "{bid}");
    assert_eq!(
        (
            bid["bid"].as_bool(),
            bid["bidAmount"].as_f64(),
            bid["phoneNumber"].as_str()
        ),
        (Some(true), Some(15.0), Some("+15550009008"))
    );
    assert!(bid["expireInSeconds"].as_u64().unwrap() > 0);
    assert_eq!(
        s.engine.buyer_stats(a).await.unwrap().active,
        1,
        "the winner is reserved for the call"
    );
    // A repeat ping (here as a form) gets the same bid, without a new auction.
    let hits = best.hits();
    let (status, again) = ping(&s, &key, router, &[("callerId", common::CALLER)], true).await;
    assert_eq!(status, 200);
    assert_eq!(again["bidId"], bid["bidId"]);
    assert_eq!(best.hits(), hits);

    // The call arrives from that caller: it goes to the reserved winner, no new auction.
    let reply = s.call("CAping", "+15550009008").await;
    assert_eq!(
        reply.dialed().as_deref(),
        Some("+18005550801"),
        "{}",
        reply.body
    );
    assert_eq!(best.hits(), hits);
    assert_eq!(
        s.engine.buyer_stats(a).await.unwrap().active,
        1,
        "one slot, moved from the ping to the call"
    );

    // Bad input and wrong credentials.
    let (status, err) = ping(&s, &key, router, &[("state", "CA")], false).await;
    assert_eq!(
        (status, err["error"]["fields"][0]["field"].as_str()),
        (422, Some("callerId")),
        "{err}"
    );
    let (status, _) = ping(
        &s,
        &key,
        switchboard_model::new_id(),
        &[("callerId", "+15551112222")],
        false,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = ping(
        &s,
        "sbk_wrong",
        router,
        &[("callerId", "+15551112222")],
        false,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = console
        .post(
            &format!("/api/rtb/webhook/{router}"),
            &json!({"callerId": "+15551112222"}),
        )
        .await;
    assert_eq!(status, 403, "a console session is not a publisher key");
}

#[tokio::test]
async fn pings_past_the_rate_limit_get_429() {
    let s = TestServer::start_with_engine(None, with_flag()).await;
    let (console, _) = setup(&s).await;
    let none = Bidder::start(1, 204, "").await;
    let a = target(&console, "passes", &none.url, json!({})).await;
    let (_, router) = campaign(
        &console,
        "+15550009009",
        &[a],
        json!({"biddingTimeoutMs": 50}),
        json!([]),
    )
    .await;
    let (_, key) = console
        .post(
            "/api/api-keys",
            &json!({"name": "busy publisher", "role": "viewer"}),
        )
        .await;
    let key = key["key"].as_str().unwrap().to_owned();
    let (status, nobid) = ping(&s, &key, router, &[("callerId", "+15551110000")], false).await;
    assert_eq!(
        (status, nobid["bid"].as_bool(), nobid["reason"].as_str()),
        (200, Some(false), Some("no-valid-bid")),
        "{nobid}"
    );
    // Thirty at once: one after the other, each waiting for its auction,
    // they could come slower than the limit refills (one per 50 ms).
    let callers: Vec<String> = (0..30).map(|i| format!("+1555111{i:04}")).collect();
    let statuses: Vec<u16> = futures::future::join_all(callers.iter().map(|c| async {
        ping(&s, &key, router, &[("callerId", c.as_str())], false)
            .await
            .0
    }))
    .await;
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn capped_paused_and_geo_excluded_targets_are_not_asked() {
    let s = TestServer::start_with_engine(None, with_flag()).await;
    let (console, _) = setup(&s).await;
    let capped = Bidder::start(5, 200, &flat("20.00", "+18005550901")).await;
    let paused = Bidder::start(5, 200, &flat("30.00", "+18005550902")).await;
    let far = Bidder::start(5, 200, &flat("40.00", "+18005550903")).await;
    let open = Bidder::start(5, 200, &flat("3.00", "+18005550904")).await;
    let a = target(
        &console,
        "capped",
        &capped.url,
        json!({"concurrencyLimit": 1}),
    )
    .await;
    let b = target(&console, "paused", &paused.url, json!({"status": "paused"})).await;
    let c = target(
        &console,
        "not in california",
        &far.url,
        json!({"geo": {"denyStates": ["CA"]}}),
    )
    .await;
    let d = target(&console, "open", &open.url, json!({})).await;
    campaign(
        &console,
        "+15550009010",
        &[a, b, c, d],
        json!({}),
        json!([]),
    )
    .await;

    let first = s.call("CAcap1", "+15550009010").await;
    assert_eq!(
        first.dialed().as_deref(),
        Some("+18005550901"),
        "{}",
        first.body
    );
    let (req, _) = rows(&console, 2).await;
    assert_eq!(
        req["targetsAsked"],
        json!([a.to_string(), d.to_string()]),
        "paused and geo-excluded targets are not asked"
    );
    // The capped target holds its one slot for the first call: the next call does not ask it.
    let second = s.call("CAcap2", "+15550009010").await;
    assert_eq!(
        second.dialed().as_deref(),
        Some("+18005550904"),
        "{}",
        second.body
    );
    let (req, _) = rows(&console, 1).await;
    assert_eq!(req["targetsAsked"], json!([d.to_string()]));
    assert_eq!(
        (capped.hits(), paused.hits(), far.hits(), open.hits()),
        (1, 0, 0, 2)
    );
}

#[tokio::test]
async fn an_engine_started_over_the_store_loads_targets_and_routers_and_auctions() {
    let s = TestServer::start_with_engine(None, with_flag()).await;
    let (console, _) = setup(&s).await;
    let bidder = Bidder::start(5, 200, &flat("6.50", "+18005551001")).await;
    let a = target(&console, "persistent", &bidder.url, json!({})).await;
    campaign(&console, "+15550009011", &[a], json!({}), json!([])).await;

    // What a restart does: a new engine built from the store alone.
    let engine = switchboard_engine::Engine::start(s.store.clone(), with_flag())
        .await
        .expect("engine");
    let call = switchboard_engine::InboundCall {
        call_sid: "CArestart".into(),
        account_sid: common::ACCOUNT.into(),
        to: switchboard_model::PhoneNumber::parse("+15550009011").unwrap(),
        caller: switchboard_model::CallerInfo {
            from: common::CALLER.into(),
            state: Some("CA".into()),
            zip: None,
            tags: Default::default(),
        },
    };
    match engine.inbound(call).await.expect("routed") {
        switchboard_engine::Decision::Dial { number, .. } => {
            assert_eq!(number.as_str(), "+18005551001")
        }
        other => panic!("expected a dial to the bidder, got {other:?}"),
    }
    assert_eq!(bidder.hits(), 1);
    engine.shutdown().await;
}

#[tokio::test]
async fn campaign_tags_reach_the_bidder_through_the_template() {
    let s = TestServer::start_with_engine(None, with_flag()).await;
    let (console, _) = setup(&s).await;
    let bidder = Bidder::start(5, 200, &flat("6.00", "+18005550111")).await;
    let t = target(&console, "tagged", &bidder.url, json!({
        "requestBody": r#"{"callerId": "{callerId}", "vertical": "{tag:vertical}", "publisher": "{tag:publisher}"}"#
    }))
    .await;
    let (campaign_id, _) = campaign(&console, "+15550009021", &[t], json!({}), json!([])).await;
    let (status, c) = console
        .patch(
            &format!("/api/campaigns/{campaign_id}"),
            &json!({"tags": {"vertical": "auto \"insurance\"", "publisher": "p-17"}}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["tags"]["publisher"], "p-17");
    let (status, e) = console
        .patch(
            &format!("/api/campaigns/{campaign_id}"),
            &json!({"tags": {"bad name": "x"}}),
        )
        .await;
    assert_eq!(
        (status, e["error"]["fields"][0]["field"].as_str()),
        (422, Some("tags.bad name")),
        "{e}"
    );

    let reply = s.call("CArtbtags", "+15550009021").await;
    assert_eq!(
        reply.dialed().as_deref(),
        Some("+18005550111"),
        "{}",
        reply.body
    );
    let seen: Value = serde_json::from_str(&bidder.last_request()).unwrap();
    let sent: Value =
        serde_json::from_str(seen["body"].as_str().unwrap()).expect("json request body");
    // Escaped for JSON: the quote in the value cannot break the body.
    assert_eq!(
        (sent["vertical"].as_str(), sent["publisher"].as_str()),
        (Some("auto \"insurance\""), Some("p-17"))
    );
}

#[tokio::test]
async fn a_pings_custom_values_are_call_tags_that_filters_and_templates_read() {
    let s = TestServer::start_with_engine(None, with_flag()).await;
    let (console, _) = setup(&s).await;
    let adults = Bidder::start(5, 200, &flat("9.00", "+18005550121")).await;
    let t = target(
        &console,
        "adults only",
        &adults.url,
        json!({
            "requestBody": r#"{"age": "{tag:age}", "state": "{tag:callerState}", "vertical": "{tag:vertical}"}"#,
            "filters": [{"tag": "age", "op": "gt", "values": ["17"]}]
        }),
    )
    .await;
    let (campaign_id, router) =
        campaign(&console, "+15550009031", &[t], json!({}), json!([])).await;
    let (status, _) = console
        .patch(
            &format!("/api/campaigns/{campaign_id}"),
            &json!({"tags": {"vertical": "medicare"}}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, key) = console
        .post(
            "/api/api-keys",
            &json!({"name": "publisher", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let key = key["key"].as_str().unwrap().to_owned();
    let send = |caller: &'static str, tags: Value| {
        let req = s
            .client
            .post(format!("{}/api/rtb/webhook/{router}", s.base))
            .bearer_auth(&key)
            .json(&json!({"callerId": caller, "state": "CA", "tags": tags}));
        async move {
            let resp = req.send().await.expect("ping");
            (
                resp.status().as_u16(),
                resp.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };

    // Under the target's filter: not asked, no bid.
    let (status, minor) = send("+15551230001", json!({"age": "15"})).await;
    assert_eq!(
        (status, minor["bid"].as_bool()),
        (200, Some(false)),
        "{minor}"
    );
    assert_eq!(adults.hits(), 0, "a target whose filters fail is not asked");

    let (status, adult) = send("+15551230002", json!({"age": "30"})).await;
    assert_eq!(
        (status, adult["bid"].as_bool()),
        (200, Some(true)),
        "{adult}"
    );
    let seen: Value = serde_json::from_str(&adults.last_request()).unwrap();
    let sent: Value = serde_json::from_str(seen["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        sent,
        json!({"age": "30", "state": "CA", "vertical": "medicare"}),
        "the ping's values, the caller's location and the campaign's fixed tags"
    );

    // The call from that caller takes the bid: its tags keep what the ping
    // sent, so the target's filter still passes at the handover.
    let hits = adults.hits();
    let mut params = common::voice("CApingtags", "+15550009031");
    for (k, v) in params.iter_mut() {
        if k == "From" {
            *v = "+15551230002".into();
        }
    }
    let reply = s.post("/api/webhooks/voice", &params).await;
    assert_eq!(
        reply.dialed().as_deref(),
        Some("+18005550121"),
        "{}",
        reply.body
    );
    assert_eq!(adults.hits(), hits, "the ping's bid, no new auction");
    let (_, call) = console
        .get(&format!("/api/calls/{}", reply.call_id().unwrap()))
        .await;
    assert_eq!(
        (
            &call["tags"]["age"],
            &call["tags"]["vertical"],
            &call["skipped"]
        ),
        (&json!("30"), &json!("medicare"), &json!([])),
        "{call}"
    );

    // A tag name that {tag:NAME} could not read is refused, naming it, and
    // so are the names Switchboard sets itself.
    for name in ["bad name", "publisherId", "callerCity"] {
        let (status, bad) = send("+15551230003", json!({name: "x"})).await;
        assert_eq!(
            (status, bad["error"]["fields"][0]["field"].as_str()),
            (422, Some(format!("tags.{name}").as_str())),
            "{bad}"
        );
    }
}
