//! Reports end to end: calls played as Twilio plays them (signed webhooks
//! and status callbacks), then the report API's figures compared with a
//! recount from `/api/calls`; groupings, filters, zones, the time series,
//! the original product's `/api/stats` paths, bad parameters, another
//! tenant, and the live event stream with its resume.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Console, TestServer};
use crate::payouts::{campaign, play, setup};

/// What `/api/calls` says, added up the way the reports must.
#[derive(Debug, Default, PartialEq)]
struct Recount {
    incoming: i64,
    connected: i64,
    converted: i64,
    rejected: i64,
    revenue: i64,
    payout: i64,
    profit: i64,
    duration: i64,
}

async fn recount(c: &Console, filter: impl Fn(&Value) -> bool) -> Recount {
    let (s, v) = c.get("/api/calls?limit=500").await;
    assert_eq!(s, 200, "{v}");
    let mut r = Recount::default();
    for call in v["items"].as_array().unwrap().iter().filter(|c| filter(c)) {
        r.incoming += 1;
        let answered = call["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| !a["answeredAt"].is_null());
        r.connected += i64::from(answered);
        r.converted += i64::from(call["converted"] == json!(true));
        r.rejected += i64::from(call["status"] == json!("rejected"));
        r.revenue += call["revenueMinor"].as_i64().unwrap();
        r.payout += call["payoutMinor"].as_i64().unwrap();
        r.profit += call["profitMinor"].as_i64().unwrap();
        r.duration += call["durationSeconds"].as_i64().unwrap();
    }
    r
}

fn figures(m: &Value) -> Recount {
    let n = |k: &str| m[k].as_i64().unwrap_or_else(|| panic!("{k} in {m}"));
    Recount {
        incoming: n("incoming"),
        connected: n("connected"),
        converted: n("converted"),
        rejected: n("rejected"),
        revenue: n("revenueMinor"),
        payout: n("payoutMinor"),
        profit: n("profitMinor"),
        duration: n("totalDurationSeconds"),
    }
}

async fn report(c: &Console, path: &str) -> Value {
    let (s, v) = c.get(path).await;
    assert_eq!(s, 200, "{path}: {v}");
    v
}

fn range() -> String {
    let now = chrono::Utc::now();
    format!(
        "from={}&to={}",
        (now - chrono::Duration::hours(2)).format("%Y-%m-%dT%H:%M:%SZ"),
        (now + chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%SZ")
    )
}

#[tokio::test]
async fn the_reports_equal_a_recount_of_the_calls_by_every_grouping() {
    let server = TestServer::start().await;
    let (c, buyer, publishers) = setup(&server, &["Leads Co", "Other Leads"]).await;
    let (p, q) = (&publishers[0], &publishers[1]);
    let rule = json!([{"type": "perCall", "amount": "4.00", "currency": "USD"}]);
    let one = campaign(&c, &buyer, "+15550700001", p, rule.clone()).await;
    let two = campaign(&c, &buyer, "+15550700002", q, rule).await;
    // Talk times around the buyer's 60 s conversion threshold.
    for (i, (number, talk)) in [
        ("+15550700001", 90),
        ("+15550700001", 30),
        ("+15550700001", 61),
        ("+15550700002", 120),
    ]
    .into_iter()
    .enumerate()
    {
        play(&server, &c, &format!("CArep{i}"), number, talk).await;
    }
    // A call to a paused campaign is rejected, and counted as rejected.
    let (s, v) = c
        .patch(
            &format!("/api/campaigns/{}", two["id"].as_str().unwrap()),
            &json!({"status": "paused"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        server
            .call("CArejected", "+15550700002")
            .await
            .is_polite_rejection()
    );

    let all = recount(&c, |_| true).await;
    assert_eq!(
        (all.incoming, all.converted, all.rejected),
        (5, 3, 1),
        "{all:?}"
    );
    let summary = report(
        &c,
        &format!("/api/reports/summary?groupBy=campaign&{}", range()),
    )
    .await;
    assert_eq!(figures(&summary["totals"]["metrics"]), all, "{summary}");
    assert_eq!(summary["totals"]["currency"], "USD");
    let rows = summary["rows"].as_array().unwrap();
    let by_key: HashMap<&str, &Value> = rows
        .iter()
        .map(|r| (r["key"].as_str().unwrap(), r))
        .collect();
    let first = by_key[one["id"].as_str().unwrap()];
    assert_eq!(first["name"], one["name"], "rows are named");
    assert_eq!(
        figures(&first["metrics"]),
        recount(&c, |call| call["campaignId"] == one["id"]).await
    );
    assert_eq!(first["metrics"]["conversionRate"], json!(0.6667));
    assert_eq!(first["metrics"]["rejectedByReason"], json!({}));
    let second = &by_key[two["id"].as_str().unwrap()]["metrics"];
    assert_eq!(second["rejectedByReason"], json!({"campaign-inactive": 1}));

    // By publisher, and by buyer (the rejected call has none, yet the
    // totals count it), and by day: each adds up to the same totals.
    let by_publisher = report(
        &c,
        &format!("/api/reports/summary?groupBy=publisher&{}", range()),
    )
    .await;
    let leads = by_publisher["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == json!(p))
        .expect("the publisher's row");
    assert_eq!(leads["name"], "Leads Co");
    assert_eq!(
        figures(&leads["metrics"]),
        recount(&c, |call| call["publisherId"] == json!(p)).await
    );
    let by_buyer = report(
        &c,
        &format!("/api/reports/summary?groupBy=buyer&{}", range()),
    )
    .await;
    assert_eq!(by_buyer["rows"].as_array().unwrap().len(), 1, "{by_buyer}");
    assert_eq!(by_buyer["rows"][0]["metrics"]["incoming"], 4);
    assert_eq!(figures(&by_buyer["totals"]["metrics"]), all);
    let by_day = report(
        &c,
        &format!(
            "/api/reports/summary?groupBy=day&tz=America/New_York&{}",
            range()
        ),
    )
    .await;
    let days: i64 = by_day["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metrics"]["incoming"].as_i64().unwrap())
        .sum();
    assert_eq!(days, 5, "{by_day}");

    // A filter: one campaign's calls, by publisher.
    let filtered = report(
        &c,
        &format!(
            "/api/reports/summary?groupBy=publisher&campaignId={}&{}",
            one["id"].as_str().unwrap(),
            range()
        ),
    )
    .await;
    assert_eq!(filtered["rows"].as_array().unwrap().len(), 1, "{filtered}");
    assert_eq!(filtered["totals"]["metrics"]["incoming"], 3);

    // An hourly series over the range: every hour there, empty ones too,
    // adding up to the calls; and a zone 5:30 from UTC adds up the same.
    for tz in ["UTC", "Asia/Kolkata"] {
        let series = report(
            &c,
            &format!("/api/reports/timeseries?interval=hour&tz={tz}&{}", range()),
        )
        .await;
        let buckets = series["buckets"].as_array().unwrap();
        assert!((3..=4).contains(&buckets.len()), "{tz}: {series}");
        let incoming: i64 = buckets
            .iter()
            .map(|b| b["metrics"]["incoming"].as_i64().unwrap())
            .sum();
        assert_eq!(incoming, 5, "{tz}: {series}");
    }

    // The original product's paths, over the same data.
    let history = report(&c, &format!("/api/stats/historical?{}", range())).await;
    assert_eq!(figures(&history["totals"]["metrics"]), all, "{history}");
    let stats = report(
        &c,
        &format!(
            "/api/stats/campaign/{}?{}",
            one["id"].as_str().unwrap(),
            range()
        ),
    )
    .await;
    assert_eq!(stats["totals"]["metrics"]["incoming"], 3, "{stats}");

    // Nothing is live once every call ended.
    let live = report(&c, "/api/reports/live").await;
    assert_eq!(live["live"], 0, "{live}");
    assert_eq!(live["buyers"][0]["active"], 0, "{live}");
}

#[tokio::test]
async fn bad_parameters_are_named_and_other_tenants_see_nothing() {
    let server = TestServer::start().await;
    let (c, buyer, publishers) = setup(&server, &["Leads Co"]).await;
    let rule = json!([{"type": "perCall", "amount": "1.00", "currency": "USD"}]);
    let camp = campaign(&c, &buyer, "+15550700011", &publishers[0], rule).await;
    play(&server, &c, "CAmine", "+15550700011", 75).await;
    for (query, field) in [
        ("groupBy=colour", "groupBy"),
        ("from=yesterday", "from"),
        ("from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "from"),
        ("from=2020-01-01T00:00:00Z&to=2026-12-01T00:00:00Z", "to"),
        ("tz=Mars/Olympus", "tz"),
        ("campaignId=nope", "campaignId"),
        ("surprise=1", "surprise"),
    ] {
        let (s, v) = c.get(&format!("/api/reports/summary?{query}")).await;
        assert_eq!(s, 400, "{query}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(field),
            "{query}: {v}"
        );
    }
    let (s, v) = c.get("/api/reports/timeseries?interval=minute").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{v}"
    );

    let other = server.signup("Elsewhere Inc", "eve").await;
    let id = camp["id"].as_str().unwrap();
    for path in [
        format!("/api/reports/summary?campaignId={id}"),
        format!("/api/stats/campaign/{id}"),
    ] {
        let (s, v) = other.get(&path).await;
        assert_eq!(s, 404, "{path}: {v}");
    }
    let theirs = report(&other, &format!("/api/reports/summary?{}", range())).await;
    assert_eq!(theirs["totals"]["metrics"]["incoming"], 0, "{theirs}");
    assert_eq!(theirs["rows"], json!([]));
    let (s, _) = Console::new(&server.base).get("/api/reports/summary").await;
    assert_eq!(s, 401);
}

/// Reads server-sent events from `resp` until `want` events came.
async fn read_events(resp: &mut reqwest::Response, want: usize) -> Vec<(String, u64)> {
    let mut text = String::new();
    let mut out = Vec::new();
    while out.len() < want {
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .expect("an event in time")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            };
            if let (Some(event), Some(id)) = (field("event:"), field("id:")) {
                out.push((event, id.parse().unwrap()));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_event_stream_carries_a_calls_events_and_resumes_after_the_last_id() {
    let server = TestServer::start().await;
    let (c, buyer, publishers) = setup(&server, &["Leads Co"]).await;
    let rule = json!([{"type": "perCall", "amount": "1.00", "currency": "USD"}]);
    campaign(&c, &buyer, "+15550700021", &publishers[0], rule).await;
    let open = |last: Option<u64>| {
        let mut req = c
            .client
            .get(format!("{}/api/events", c.base))
            .header("accept", "text/event-stream");
        if let Some(b) = &c.bearer {
            req = req.bearer_auth(b);
        }
        if let Some(last) = last {
            req = req.header("last-event-id", last.to_string());
        }
        req.send()
    };
    let mut stream = open(None).await.unwrap();
    assert_eq!(stream.status(), 200);
    play(&server, &c, "CAlive", "+15550700021", 70).await;
    let events = read_events(&mut stream, 6).await;
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        names,
        [
            "incoming",
            "routed",
            "connected",
            "completed",
            "converted",
            "payout"
        ],
        "{events:?}"
    );
    assert!(
        events.windows(2).all(|w| w[0].1 < w[1].1),
        "ids rise: {events:?}"
    );
    drop(stream);

    // Resuming after the third event gives what followed it, from the log.
    let mut resumed = open(Some(events[2].1)).await.unwrap();
    let again = read_events(&mut resumed, 4).await;
    assert_eq!(&again[..3], &events[3..], "{again:?}");
    assert_eq!(again[3].0, "finalized");

    // Another tenant's stream carries none of it.
    let other = server.signup("Elsewhere Inc", "eve").await;
    let mut theirs = other
        .client
        .get(format!("{}/api/events", other.base))
        .header("last-event-id", "0")
        .send()
        .await
        .unwrap();
    let nothing =
        tokio::time::timeout(Duration::from_millis(500), read_events(&mut theirs, 1)).await;
    assert!(nothing.is_err(), "another tenant's events: {nothing:?}");
}

/// Polls `path` until `ready` holds for its answer.
async fn until(c: &Console, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let v = report(c, path).await;
        if ready(&v) {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "{path}: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_rtb_report_gives_each_targets_bids_wins_rejections_and_times() {
    use switchboard_testkit::{Bidder, flat};
    let server = TestServer::start_with_engine(None, crate::rtb::with_flag()).await;
    let (c, _) = crate::rtb::setup(&server).await;
    let high = Bidder::start(5, 200, &flat("12.50", "+18005550201")).await;
    let low = Bidder::start(5, 200, &flat("9.00", "+18005550202")).await;
    let refusing = Bidder::start(5, 200, r#"{"bidAmount": 45.00, "destinationNumber": "+18005550203", "accepted": false, "rejectReason": "capped"}"#).await;
    let h = crate::rtb::target(&c, "High", &high.url, json!({})).await;
    let l = crate::rtb::target(&c, "Low", &low.url, json!({})).await;
    let r = crate::rtb::target(&c, "Refusing", &refusing.url, json!({})).await;
    let (_, router) =
        crate::rtb::campaign(&c, "+15550709001", &[h, l, r], json!({}), json!([])).await;
    for i in 0..3 {
        let reply = server.call(&format!("CArtbrep{i}"), "+15550709001").await;
        assert_eq!(
            reply.dialed().as_deref(),
            Some("+18005550201"),
            "{}",
            reply.body
        );
    }
    let path = format!("/api/reports/rtb?{}", range());
    let v = until(&c, &path, |v| v["totals"][0]["metrics"]["bidRequests"] == 9).await;
    let row = |id: switchboard_model::Id| {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["key"] == id.to_string())
            .unwrap_or_else(|| panic!("{id}: {v}"))["metrics"]
            .clone()
    };
    let (high, low, refusing) = (row(h), row(l), row(r));
    assert_eq!(
        (
            &high["bidRequests"],
            &high["validBids"],
            &high["wins"],
            &high["winRate"]
        ),
        (&json!(3), &json!(3), &json!(3), &json!(1.0)),
        "{v}"
    );
    assert_eq!(
        (&high["averageWinningBidMinor"], &high["maxWinningBidMinor"]),
        (&json!(1250), &json!(1250))
    );
    assert_eq!((&low["validBids"], &low["wins"]), (&json!(3), &json!(0)));
    let refused: i64 = refusing["rejectedByReason"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_i64().unwrap())
        .sum();
    assert_eq!(
        (refused, &refusing["validBids"]),
        (3, &json!(0)),
        "{refusing}"
    );
    assert!(
        high["responseMsP50"].as_u64().unwrap() >= 5,
        "the bidder waits 5 ms: {high}"
    );
    assert!(high["responseMsP95"].as_u64() >= high["responseMsP50"].as_u64());
    // By router: one row of three auctions, all won.
    let by_router = report(
        &c,
        &format!("/api/reports/rtb?groupBy=rtbRouter&{}", range()),
    )
    .await;
    assert_eq!(
        by_router["rows"][0]["key"],
        router.to_string(),
        "{by_router}"
    );
    assert_eq!(by_router["rows"][0]["metrics"]["bidRequests"], 3);
    assert_eq!(by_router["rows"][0]["metrics"]["wins"], 3);
    let (s, e) = c.get("/api/reports/rtb?groupBy=campaign").await;
    assert_eq!(s, 400, "{e}");
}

#[tokio::test]
async fn the_dni_report_gives_visits_calls_and_revenue_by_source() {
    let server = TestServer::start().await;
    let (c, _pool) = crate::dni::setup(&server, "rep", &crate::dni::POOL).await;
    for (i, source) in ["google", "google", "bing"].into_iter().enumerate() {
        let body = json!({"tagCode": "rep", "sessionId": format!("s{i}"), "referrer": "", "userAgent": "test",
            "landingPage": format!("https://shop.example/?utm_source={source}&utm_medium=cpc")});
        let (s, v, _) = crate::dni::track(&server, &body).await;
        assert_eq!(s, 200, "{v}");
    }
    let path = format!("/api/reports/dni?{}", range());
    let v = until(&c, &path, |v| v["visits"] == 3).await;
    let visits = |source: &str| {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == source)
            .map(|r| r["visits"].clone())
    };
    assert_eq!(
        (visits("google"), visits("bing")),
        (Some(json!(2)), Some(json!(1))),
        "{v}"
    );
    let by_medium = report(
        &c,
        &format!("/api/reports/dni?groupBy=utmMedium&{}", range()),
    )
    .await;
    assert_eq!(by_medium["rows"][0]["key"], "cpc");
    assert_eq!(by_medium["rows"][0]["visits"], 3);
    let (s, e) = c.get("/api/reports/dni?groupBy=buyer").await;
    assert_eq!(s, 400, "{e}");
}
