//! DNI end to end on the real server: a manager sets up numbers, a pool and
//! a tracking tag through the admin API; web pages (plain HTTP clients from
//! another origin) call `POST /api/dni/track`; Twilio's signed webhook calls
//! a leased number; the call record shows the visit it came from.

use crate::common;

use common::{Console, TestServer};
use serde_json::{Value, json};
use switchboard::DniLimits;

pub(crate) const POOL: [&str; 2] = ["+15550003001", "+15550003002"];
const FALLBACK: &str = "+15550003999";

/// Adds `numbers` to the inventory, a pool of them with [`FALLBACK`], and a
/// tracking tag `code` on it. Returns the console and the pool's id.
pub(crate) async fn setup(server: &TestServer, code: &str, numbers: &[&str]) -> (Console, String) {
    let console = server.signup("Acme DNI", "owner").await;
    for n in numbers.iter().chain([&FALLBACK]) {
        let (s, b) = console
            .post("/api/numbers", &json!({"phoneNumber": n}))
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let (s, pool) = console
        .post("/api/pools", &json!({"name": "Main", "numbers": numbers, "fallbackNumber": FALLBACK, "sessionTimeoutSeconds": 600}))
        .await;
    assert_eq!(s, 201, "{pool}");
    let pool_id = pool["id"].as_str().unwrap().to_owned();
    let (s, tag) = console
        .post(
            "/api/tracking-tags",
            &json!({"name": "Landing", "tagCode": code, "poolId": pool_id}),
        )
        .await;
    assert_eq!(s, 201, "{tag}");
    (console, pool_id)
}

/// What a web page on another site sends.
pub(crate) async fn track(
    server: &TestServer,
    body: &Value,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let resp = server
        .client
        .post(format!("{}/api/dni/track", server.base))
        .header("Origin", "https://shop.example")
        .json(body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, resp.json().await.unwrap_or(Value::Null), headers)
}

async fn visit(server: &TestServer, code: &str, session: Option<&str>) -> Value {
    let mut body = json!({"tagCode": code, "referrer": "", "userAgent": "test", "landingPage": "https://shop.example/"});
    if let Some(s) = session {
        body["sessionId"] = json!(s);
    }
    let (status, v, _) = track(server, &body).await;
    assert_eq!(status, 200, "{v}");
    v
}

#[tokio::test]
async fn visitors_get_distinct_numbers_and_a_returning_visitor_keeps_its_own() {
    let server = TestServer::start().await;
    setup(&server, "landing", &POOL).await;

    let a = visit(&server, "landing", None).await;
    assert_eq!(a["success"], true);
    let session_a = a["sessionId"]
        .as_str()
        .expect("a new session id")
        .to_owned();
    let b = visit(&server, "landing", None).await;
    assert_ne!(b["sessionId"], a["sessionId"]);
    assert_ne!(
        a["phoneNumber"], b["phoneNumber"],
        "two live sessions never share a number"
    );
    for v in [&a, &b] {
        assert!(POOL.contains(&v["phoneNumber"].as_str().unwrap()), "{v}");
        assert!(v["leaseExpiresAt"].as_str().is_some(), "{v}");
    }
    // The tag's default format is the national one.
    let n = a["phoneNumber"].as_str().unwrap();
    assert_eq!(
        a["formattedNumber"],
        format!("({}) {}-{}", &n[2..5], &n[5..8], &n[8..])
    );

    // Page reloads (heartbeats) keep the number and push the expiry out.
    let again = visit(&server, "landing", Some(&session_a)).await;
    assert_eq!(
        (&again["sessionId"], &again["phoneNumber"]),
        (&a["sessionId"], &a["phoneNumber"])
    );
    assert!(again["leaseExpiresAt"].as_str().unwrap() >= a["leaseExpiresAt"].as_str().unwrap());
}

#[tokio::test]
async fn two_clients_sending_one_made_up_session_id_get_two_sessions_and_two_numbers() {
    let server = TestServer::start().await;
    setup(&server, "landing", &POOL).await;
    let first = visit(&server, "landing", Some("shared-session")).await;
    let second = visit(&server, "landing", Some("shared-session")).await;
    for v in [&first, &second] {
        assert_ne!(
            v["sessionId"], "shared-session",
            "the server mints session ids: {v}"
        );
        assert!(POOL.contains(&v["phoneNumber"].as_str().unwrap()), "{v}");
    }
    assert_ne!(first["sessionId"], second["sessionId"]);
    assert_ne!(
        first["phoneNumber"], second["phoneNumber"],
        "a made-up id does not share another client's lease"
    );
}

#[tokio::test]
async fn a_forged_session_id_gets_a_new_session_and_the_genuine_one_keeps_its_number() {
    let server = TestServer::start().await;
    setup(&server, "landing", &POOL).await;
    let genuine = visit(&server, "landing", None).await;
    let id = genuine["sessionId"].as_str().unwrap().to_owned();

    // The genuine id with its last character changed (the signature) or its first (the nonce).
    let flip = |c: char| if c == '0' { '1' } else { '0' };
    let other_tag = format!(
        "{}{}",
        &id[..id.len() - 1],
        flip(id.chars().last().unwrap())
    );
    let other_nonce = format!("{}{}", flip(id.chars().next().unwrap()), &id[1..]);
    for forged in [
        other_tag.as_str(),
        other_nonce.as_str(),
        "bad id with spaces",
        "x",
    ] {
        let v = visit(&server, "landing", Some(forged)).await;
        assert_ne!(v["sessionId"].as_str(), Some(forged), "{v}");
        assert_ne!(
            v["sessionId"].as_str(),
            Some(id.as_str()),
            "a forged id is not the genuine session: {v}"
        );
        assert_ne!(
            v["phoneNumber"], genuine["phoneNumber"],
            "nor does it get the genuine session's number: {v}"
        );
    }

    // The genuine visitor comes back: the same session and number (sticky),
    // also through another node sharing the store (the key is in the store).
    let back = visit(&server, "landing", Some(&id)).await;
    assert_eq!(
        (&back["sessionId"], &back["phoneNumber"]),
        (&genuine["sessionId"], &genuine["phoneNumber"])
    );
    let node = server
        .second_node(switchboard_engine::EngineConfig::default())
        .await;
    let there = visit(&node, "landing", Some(&id)).await;
    assert_eq!(
        there["sessionId"], genuine["sessionId"],
        "another node accepts the id: {there}"
    );
}

#[tokio::test]
async fn an_exhausted_pool_shows_the_fallback_and_counts_it() {
    let server = TestServer::start().await;
    let (console, pool) = setup(&server, "landing", &POOL[..1]).await;
    let first = visit(&server, "landing", None).await;
    assert_eq!(first["phoneNumber"], POOL[0]);
    let first_session = first["sessionId"].as_str().unwrap().to_owned();

    let second = visit(&server, "landing", None).await;
    assert_eq!(
        (&second["success"], &second["phoneNumber"]),
        (&json!(true), &json!(FALLBACK)),
        "{second}"
    );
    assert_eq!(
        second["leaseExpiresAt"],
        Value::Null,
        "the fallback is not leased"
    );
    // The holder still has its number.
    assert_eq!(
        visit(&server, "landing", Some(&first_session)).await["phoneNumber"],
        POOL[0]
    );

    let (s, stats) = console.get(&format!("/api/pools/{pool}/stats")).await;
    assert_eq!(s, 200, "{stats}");
    assert_eq!(
        (
            &stats["size"],
            &stats["leasedNow"],
            &stats["peakLeased"],
            &stats["exhaustionCount"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(1))
    );
    assert_eq!(stats["recommendedSize"], 2, "{stats}");
    let (_, metrics) = server.get("/metrics").await;
    // Per pool, so the dashboard and the alert say which pool runs short.
    assert!(
        metrics.contains(&format!(
            "switchboard_dni_pool_exhausted_total{{pool=\"{pool}\"}} 1"
        )),
        "exhaustion is a metric per pool"
    );
    assert!(
        metrics.contains(&format!(
            "switchboard_dni_leases_active{{pool=\"{pool}\"}} 1"
        )),
        "leases are a gauge per pool"
    );
    assert!(metrics.contains("switchboard_dni_track_total"));
}

#[tokio::test]
async fn any_site_may_call_the_track_endpoint() {
    let server = TestServer::start().await;
    setup(&server, "landing", &POOL).await;
    let preflight = server
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/dni/track", server.base),
        )
        .header("Origin", "https://shop.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase()
            .contains("content-type")
    );

    let (_, _, headers) = track(&server, &json!({"tagCode": "landing"})).await;
    assert_eq!(headers["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn an_unknown_tag_is_a_404_a_bad_body_a_400_both_readable_cross_origin() {
    let server = TestServer::start().await;
    setup(&server, "landing", &POOL).await;
    let (s, v, h) = track(&server, &json!({"tagCode": "nope"})).await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["error"]["code"], "not_found");
    assert_eq!(h["access-control-allow-origin"], "*");
    let (s, v, _) = track(&server, &json!({"sessionId": "x"})).await;
    assert_eq!(s, 400, "{v}");
    let (s, v, _) = track(&server, &json!({"tagCode": "landing", "sessionId": 42})).await;
    assert_eq!(s, 400, "{v}");
    let (s, v, _) = track(&server, &json!({"tagCode": ""})).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["fields"][0]["field"], "tagCode");
}

#[tokio::test]
async fn track_requests_are_rate_limited_per_tag_and_per_address() {
    let server = TestServer::start_with(|s| {
        s.with_dni_limits(DniLimits {
            per_ip_per_minute: 5,
            per_tag_per_minute: 3,
        })
    })
    .await;
    setup(&server, "landing", &POOL).await;
    for i in 0..3 {
        visit(&server, "landing", (i > 0).then_some("made-up")).await;
    }
    let (s, v, h) = track(&server, &json!({"tagCode": "landing"})).await;
    assert_eq!(s, 429, "{v}");
    assert_eq!(v["error"]["code"], "rate_limited");
    assert!(h.contains_key("retry-after"));
    assert_eq!(h["access-control-allow-origin"], "*");
    // Another tag still works until this address is over its own limit.
    let (s, _, _) = track(&server, &json!({"tagCode": "other"})).await;
    assert_eq!(s, 404, "counted against the address, not the busy tag");
    let (s, _, _) = track(&server, &json!({"tagCode": "other"})).await;
    assert_eq!(s, 429, "the address's five requests are used up");
}

/// Gives the signed-up tenant the test Twilio credentials and a pool
/// campaign with one buyer; returns the buyer's number.
async fn pool_campaign(server: &TestServer, pool: &str) -> &'static str {
    let mut tenant = (*server
        .engine
        .tenants()
        .into_iter()
        .find(|t| t.name == "Acme DNI")
        .expect("tenant"))
    .clone();
    tenant.twilio_account_sid = Some(common::ACCOUNT.into());
    tenant.twilio_auth_token = common::TOKEN.into();
    let version = tenant.version;
    let tenant = server
        .engine
        .put_tenant(tenant, Some(version))
        .await
        .expect("tenant credentials");
    let buyer = common::buyer(
        &server.engine,
        tenant.id,
        "Acme Insurance",
        common::ACME,
        Some(5),
    )
    .await;
    let mut c = common::campaign(
        &server.engine,
        tenant.id,
        "+15550004000",
        switchboard_model::RoutingPolicy::Priority,
        &[(&buyer, 1, 1)],
        0,
        false,
    )
    .await;
    c.routing_type = switchboard_model::RoutingType::Pool;
    c.pool_id = Some(pool.parse().unwrap());
    c.phone_number = None;
    let version = c.version;
    server
        .engine
        .put_campaign(c, Some(version))
        .await
        .expect("pool campaign");
    common::ACME
}

#[tokio::test]
async fn a_call_to_a_leased_number_is_attributed_to_the_visit() {
    let server = TestServer::start().await;
    let (console, pool) = setup(&server, "landing", &POOL).await;
    let buyer = pool_campaign(&server, &pool).await;

    let landing = "https://shop.example/quote?utm_source=google&utm_medium=cpc&utm_campaign=spring&utm_term=car+insurance&utm_content=ad1&gclid=G123";
    let (s, ad, _) = track(
        &server,
        &json!({"tagCode": "landing", "referrer": "https://www.google.com/", "userAgent": "test", "landingPage": landing}),
    )
    .await;
    assert_eq!(s, 200, "{ad}");
    let other = visit(&server, "landing", None).await;
    let number = ad["phoneNumber"].as_str().unwrap();

    let reply = server
        .post(
            &format!("/api/webhooks/pool/{pool}/voice"),
            &common::voice("CApool1", number),
        )
        .await;
    assert!(reply.is_dial(), "{reply:?}");
    assert_eq!(reply.dialed().as_deref(), Some(buyer));
    let (s, call) = console
        .get(&format!("/api/calls/{}", reply.call_id().unwrap()))
        .await;
    assert_eq!(s, 200, "{call}");
    assert_eq!(
        (&call["poolId"], &call["to"]),
        (&json!(pool), &json!(number))
    );
    let a = &call["attribution"];
    assert_eq!(a["sessionId"], ad["sessionId"], "{call}");
    assert_eq!(
        [
            &a["source"],
            &a["medium"],
            &a["campaign"],
            &a["term"],
            &a["content"],
            &a["gclid"],
            &a["referrer"],
            &a["landingPage"]
        ],
        [
            &json!("google"),
            &json!("cpc"),
            &json!("spring"),
            &json!("car insurance"),
            &json!("ad1"),
            &json!("G123"),
            &json!("https://www.google.com/"),
            &json!(landing)
        ]
    );
    // The visit's traffic is in the call's tags, for buyers' filters and {tag:NAME}.
    let tags = &call["tags"];
    assert_eq!(
        [
            &tags["utmSource"],
            &tags["utmCampaign"],
            &tags["gclid"],
            &tags["landingPage"]
        ],
        [
            &json!("google"),
            &json!("spring"),
            &json!("G123"),
            &json!(landing)
        ],
        "{call}"
    );

    // The same pool's other number, called through the plain voice webhook,
    // routes the same way and is attributed to the other visit.
    let reply = server
        .call("CApool2", other["phoneNumber"].as_str().unwrap())
        .await;
    assert!(reply.is_dial(), "{reply:?}");
    let (_, call) = console
        .get(&format!("/api/calls/{}", reply.call_id().unwrap()))
        .await;
    assert_eq!(
        (
            &call["poolId"],
            &call["attribution"]["sessionId"],
            &call["attribution"]["source"]
        ),
        (&json!(pool), &other["sessionId"], &json!("direct"))
    );

    let (_, stats) = console.get(&format!("/api/pools/{pool}/stats")).await;
    assert_eq!(stats["callsPerNumber"][number], 1, "{stats}");
}

#[tokio::test]
async fn the_pool_webhook_checks_the_signature_and_the_pool() {
    let server = TestServer::start().await;
    let (_, pool) = setup(&server, "landing", &POOL).await;
    pool_campaign(&server, &pool).await;
    let params = common::voice("CAbad", POOL[0]);
    let unsigned = common::post_form(
        &server.client,
        &server.base,
        &format!("/api/webhooks/pool/{pool}/voice"),
        &params,
        Some("forged"),
    )
    .await
    .unwrap();
    assert_eq!(unsigned.status, 403, "{unsigned:?}");
    let unknown = server
        .post(
            &format!("/api/webhooks/pool/{}/voice", switchboard_model::new_id()),
            &params,
        )
        .await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
    // A signed call to a number nobody leased still routes, unattributed.
    let reply = server
        .post(&format!("/api/webhooks/pool/{pool}/voice"), &params)
        .await;
    assert!(reply.is_dial(), "{reply:?}");
}

#[tokio::test]
async fn tracked_visits_are_listed_newest_first_with_filters() {
    let server = TestServer::start().await;
    let (console, pool) = setup(&server, "landing", &POOL).await;
    let page = |q: &str| format!("https://shop.example/{q}");
    let mut sessions = Vec::new();
    for (landing, referrer) in [
        (page("?utm_source=newsletter&utm_medium=email"), ""),
        (page(""), "https://www.bing.com/"),
        (page("?gclid=abc"), ""),
    ] {
        let (s, v, _) = track(
            &server,
            &json!({"tagCode": "landing", "landingPage": landing, "referrer": referrer}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        sessions.push(v["sessionId"].as_str().unwrap().to_owned());
        // Distinct start times, so the order is known.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (s, all) = console.get("/api/tracking-sessions").await;
    assert_eq!(s, 200, "{all}");
    let ids: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["sessionId"].as_str().unwrap())
        .collect();
    let [s1, s2, s3] = [0, 1, 2].map(|i| sessions[i].as_str());
    assert_eq!(ids, [s3, s2, s1]);
    let v3 = &all["items"][0];
    assert_eq!(
        (
            &v3["source"],
            &v3["medium"],
            &v3["gclid"],
            &v3["tagCode"],
            &v3["poolId"]
        ),
        (
            &json!("google"),
            &json!("cpc"),
            &json!("abc"),
            &json!("landing"),
            &json!(pool)
        )
    );
    // Two numbers, three visitors: the third was shown the fallback, and that is stored too.
    assert_eq!(
        (&v3["phoneNumber"], &v3["exhausted"]),
        (&json!(FALLBACK), &json!(true))
    );
    assert!(POOL.contains(&all["items"][2]["phoneNumber"].as_str().unwrap()));

    let (_, bing) = console.get("/api/tracking-sessions?source=BING").await;
    assert_eq!(bing["items"].as_array().unwrap().len(), 1);
    assert_eq!(bing["items"][0]["sessionId"], s2);
    let (_, none) = console.get("/api/tracking-sessions?tagCode=other").await;
    assert_eq!(none["items"], json!([]));

    // Pages of one, following the cursor.
    let mut seen = Vec::new();
    let mut path = "/api/tracking-sessions?tagCode=landing&limit=1".to_owned();
    loop {
        let (s, page) = console.get(&path).await;
        assert_eq!(s, 200, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["sessionId"].as_str().unwrap().to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(c) => path = format!("/api/tracking-sessions?tagCode=landing&limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, [s3, s2, s1].map(str::to_owned));

    // Another tenant sees none of them; bad ranges are 400s.
    let stranger = server.signup("Other Co", "other").await;
    let (_, theirs) = stranger.get("/api/tracking-sessions").await;
    assert_eq!(theirs["items"], json!([]));
    let (s, _) = console
        .get("/api/tracking-sessions?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z")
        .await;
    assert_eq!(s, 400);
    let (s, _) = console.get("/api/tracking-sessions?cursor=garbage").await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn a_paid_only_tag_leaves_other_visitors_with_the_sites_own_number() {
    let server = TestServer::start().await;
    let (console, pool) = setup(&server, "landing", &POOL).await;
    let (s, tag) = console
        .post(
            "/api/tracking-tags",
            &json!({"name": "Ads", "tagCode": "ads", "poolId": pool, "paidOnly": true}),
        )
        .await;
    assert_eq!(s, 201, "{tag}");
    let organic = visit(&server, "ads", None).await;
    assert_eq!(
        (&organic["success"], &organic["phoneNumber"]),
        (&json!(false), &Value::Null)
    );
    assert!(
        organic["sessionId"].as_str().is_some_and(|s| !s.is_empty()),
        "{organic}"
    );
    let (s, paid, _) = track(
        &server,
        &json!({"tagCode": "ads", "landingPage": "https://shop.example/?gclid=abc"}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(paid["success"], true, "{paid}");
    assert!(POOL.contains(&paid["phoneNumber"].as_str().unwrap()));
}

#[tokio::test]
async fn the_track_endpoint_is_in_the_openapi_document() {
    let server = TestServer::start().await;
    let (s, doc) = common::Console::new(&server.base)
        .get("/api/openapi.json")
        .await;
    assert_eq!(s, 200);
    assert!(
        doc["paths"]["/api/dni/track"]["post"].is_object(),
        "{}",
        doc["paths"]
    );
    assert!(doc["components"]["schemas"]["TrackResponse"].is_object());
}
