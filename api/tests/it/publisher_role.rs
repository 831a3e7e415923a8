//! The `publisher` role end to end: a user and an API key bound to one
//! publisher. Every route of the admin API, read from the server's own
//! OpenAPI document (so a route added later is walked too), with every verb
//! it serves, is either on the allow-list below (and checked: its own
//! things 200, another publisher's 404, no revenue, profit or buyer in any
//! answer, the caller masked) or answers 403 `forbidden`. Calls are real:
//! signed voice webhooks and status callbacks, as Twilio sends them.

use crate::common;
use crate::publishers::{buyer, direct_campaign};
use crate::rtb;

use common::{Console, TestServer, fields};
use serde_json::{Value, json};

/// The caller of every call here, and how a publisher sees it.
const CALLER: &str = "+15557654321";
const MASKED: &str = "+*******4321";
const BUYER_NAME: &str = "Acme Insurance";
const PASSWORD: &str = "publisher pass";

/// What a publisher's login may use (method, OpenAPI path); every other
/// route the document lists must answer it 403.
const ALLOWED: &[(&str, &str)] = &[
    ("GET", "/api/calls"),
    ("GET", "/api/calls/{id}"),
    ("GET", "/api/numbers"),
    ("GET", "/api/numbers/{id}"),
    ("GET", "/api/publishers"),
    ("GET", "/api/publishers/{id}"),
    ("GET", "/api/reports/summary"),
    ("GET", "/api/reports/timeseries"),
    ("GET", "/api/auth/user"),
    ("GET", "/api/auth/sessions"),
    ("DELETE", "/api/auth/sessions/{id}"),
    ("POST", "/api/auth/password"),
    ("POST", "/api/auth/logout"),
];

/// Routes that take no credentials at all, whoever calls.
const PUBLIC: &[(&str, &str)] = &[
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/signup"),
    ("POST", "/api/dni/track"),
];

/// Fields that must appear nowhere in what a publisher is answered.
const HIDDEN: &[&str] = &[
    "revenueMinor",
    "revenue",
    "profitMinor",
    "profit",
    "buyerId",
    "buyerName",
    "attempts",
    "skipped",
    "bidMinor",
    "recordingUrl",
    "adjustments",
    "callSid",
];

fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

async fn create(c: &Console, path: &str, body: Value) -> Value {
    let (s, v) = c.post(path, &body).await;
    assert_eq!(s, 201, "POST {path}: {v}");
    v
}

/// Two publishers of one tenant, each with a number, a campaign paying
/// 5.00 a call and one completed, converted call (revenue 25.00).
struct World {
    server: TestServer,
    admin: Console,
    buyer: String,
    own: String,
    other: String,
    own_number: String,
    other_number: String,
    own_call: String,
    other_call: String,
}

/// Plays a call from [`CALLER`] to `number` that the buyer answers and
/// talks 61 s on; returns its id.
async fn play(server: &TestServer, sid: &str, number: &str) -> String {
    let mut voice = common::voice(sid, number);
    for (k, v) in &mut voice {
        if k == "From" {
            *v = CALLER.to_owned();
        }
    }
    let r = server.post("/api/webhooks/voice", &voice).await;
    let call = r.call_id().unwrap_or_else(|| panic!("not dialed: {r:?}"));
    let leg = format!("{sid}leg");
    for (status, seq, dur) in [
        ("initiated", 0, None),
        ("ringing", 1, None),
        ("answered", 2, None),
        ("completed", 3, Some(61)),
    ] {
        let r = server.status(call, 0, &leg, sid, (status, seq, dur)).await;
        assert_eq!(r.status, 204, "{r:?}");
    }
    call.to_string()
}

async fn world() -> World {
    let server = TestServer::start().await;
    let (admin, _) = rtb::setup(&server).await;
    let buyer = buyer(&admin, BUYER_NAME, common::ACME).await;
    let own = id(&create(&admin, "/api/publishers", json!({"name": "Leads Co"})).await);
    let other = id(&create(&admin, "/api/publishers", json!({"name": "Other Leads"})).await);
    let mut numbers = Vec::new();
    for (number, publisher) in [("+15550700001", &own), ("+15550700002", &other)] {
        let n = create(
            &admin,
            "/api/numbers",
            json!({"phoneNumber": number, "publisherId": publisher}),
        )
        .await;
        numbers.push(id(&n));
        direct_campaign(
            &admin,
            number,
            &buyer,
            json!({"payoutRules": [{"type": "perCall", "amount": "5.00", "currency": "USD"}]}),
        )
        .await;
    }
    let own_call = play(&server, "CAown", "+15550700001").await;
    let other_call = play(&server, "CAother", "+15550700002").await;
    // As staff sees it: revenue, payout, profit and the buyer are there.
    let (_, call) = admin.get(&format!("/api/calls/{own_call}")).await;
    assert_eq!(
        (
            call["revenueMinor"].as_i64(),
            call["payoutMinor"].as_i64(),
            call["buyerId"].as_str(),
            call["from"].as_str()
        ),
        (Some(2500), Some(500), Some(buyer.as_str()), Some(CALLER)),
        "{call}"
    );
    World {
        server,
        admin,
        buyer,
        own,
        other,
        own_number: numbers[0].clone(),
        other_number: numbers[1].clone(),
        own_call,
        other_call,
    }
}

/// A signed-in console for a new publisher user of `publisher`.
async fn publisher_session(w: &World, username: &str, publisher: &str) -> Console {
    create(
        &w.admin,
        "/api/users",
        json!({"username": username, "password": PASSWORD, "role": "publisher", "publisherId": publisher}),
    )
    .await;
    let c = Console::new(&w.server.base);
    let (s, me) = c
        .post(
            "/api/auth/login",
            &json!({"username": username, "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (s, me["role"].as_str(), me["publisherId"].as_str()),
        (200, Some("publisher"), Some(publisher)),
        "{me}"
    );
    c
}

/// A client with a new publisher API key of `publisher`.
async fn publisher_key(w: &World, publisher: &str) -> Console {
    let k = create(
        &w.admin,
        "/api/api-keys",
        json!({"name": "leads reports", "role": "publisher", "publisherId": publisher}),
    )
    .await;
    assert_eq!(k["role"], "publisher");
    Console::with_key(&w.server.base, k["key"].as_str().unwrap())
}

/// Status and text of a request with extra headers (the JSON helpers drop
/// a body that is not JSON).
async fn raw(c: &Console, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = c.client.get(format!("{}{path}", c.base));
    if let Some(b) = &c.bearer {
        req = req.bearer_auth(b);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("request");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// Fails if `v` has any [`HIDDEN`] field at any depth, names the buyer, or
/// shows a caller other than `caller`.
fn assert_publisher_safe(v: &Value, w: &World, caller: &str, what: &str) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                assert!(!HIDDEN.contains(&k.as_str()), "{what}: {k} in {v}");
                if k == "from" {
                    assert_eq!(x.as_str(), Some(caller), "{what}: {v}");
                }
                assert_publisher_safe(x, w, caller, what);
            }
        }
        Value::Array(a) => a
            .iter()
            .for_each(|x| assert_publisher_safe(x, w, caller, what)),
        Value::String(s) => {
            assert!(
                !s.contains(&w.buyer) && !s.contains(BUYER_NAME),
                "{what}: the buyer in {v}"
            );
        }
        _ => {}
    }
}

/// A report without its range, whose `from` is a time, not a caller.
fn report_body(r: &Value) -> Value {
    let mut body = r.clone();
    body.as_object_mut().map(|m| m.remove("from"));
    body
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(id)
        .collect()
}

/// Every route of the OpenAPI document with each method it serves.
async fn routes(server: &TestServer) -> Vec<(String, String)> {
    let (s, doc) = Console::new(&server.base).get("/api/openapi.json").await;
    assert_eq!(s, 200);
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert!(out.len() > 40, "the document lists too few routes: {out:?}");
    out
}

/// `path` with each `{…}` parameter replaced by `id`.
fn fill(path: &str, id: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').expect("closed") + start;
        out.push_str(&rest[..start]);
        out.push_str(id);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The checks of one allowed route, for a session (`session`) or a key.
async fn check_allowed(c: &Console, w: &World, method: &str, path: &str, session: bool) {
    let who = if session { "session" } else { "api key" };
    let unknown = switchboard_model::new_id().to_string();
    let what = format!("{who} {method} {path}");
    match (method, path) {
        ("GET", "/api/calls") => {
            let (s, list) = c.get("/api/calls").await;
            assert_eq!(s, 200, "{what}: {list}");
            assert_eq!(ids(&list), vec![w.own_call.clone()], "{what}");
            assert_publisher_safe(&list, w, MASKED, &what);
            let call = &list["items"][0];
            assert_eq!(
                (
                    call["payoutMinor"].as_i64(),
                    call["payout"].as_str(),
                    call["status"].as_str(),
                    call["durationSeconds"].as_u64(),
                    call["campaignName"].as_str(),
                    call["publisherId"].as_str(),
                ),
                (
                    Some(500),
                    Some("5.00"),
                    Some("completed"),
                    Some(61),
                    Some("direct +15550700001"),
                    Some(w.own.as_str())
                ),
                "{what}: {call}"
            );
            // Asking for another publisher's calls finds none.
            let (s, list) = c.get(&format!("/api/calls?publisherId={}", w.other)).await;
            assert_eq!((s, ids(&list)), (200, vec![]), "{what}");
            // Buyers are not its business, nor is probing masked callers.
            for q in [
                format!("buyerId={}", w.buyer),
                "caller=%2B15557654321".into(),
            ] {
                let (s, e) = c.get(&format!("/api/calls?{q}")).await;
                assert_eq!(
                    (s, e["error"]["code"].as_str()),
                    (403, Some("forbidden")),
                    "{what}?{q}: {e}"
                );
            }
            // The CSV export is the same view.
            let (s, csv) = raw(c, "/api/calls", &[("Accept", "text/csv")]).await;
            assert_eq!(s, 200, "{what} csv: {csv}");
            let mut lines = csv.lines();
            let header = lines.next().unwrap_or_default();
            for hidden in HIDDEN {
                assert!(
                    !header.split(',').any(|h| h == *hidden),
                    "{what} csv: {hidden} in {header}"
                );
            }
            assert!(header.contains("payout"), "{header}");
            let rows: Vec<&str> = lines.collect();
            assert_eq!(rows.len(), 1, "{what} csv: {csv}");
            assert!(rows[0].starts_with(&w.own_call), "{csv}");
            assert!(
                rows[0].contains(MASKED) && !rows[0].contains(CALLER),
                "{csv}"
            );
            assert!(
                !csv.contains(BUYER_NAME) && !csv.contains(&w.buyer),
                "{csv}"
            );
        }
        ("GET", "/api/calls/{id}") => {
            let (s, call) = c.get(&format!("/api/calls/{}", w.own_call)).await;
            assert_eq!(
                (s, call["payoutMinor"].as_i64()),
                (200, Some(500)),
                "{what}: {call}"
            );
            assert_publisher_safe(&call, w, MASKED, &what);
            for other in [&w.other_call, &unknown] {
                let (s, e) = c.get(&format!("/api/calls/{other}")).await;
                assert_eq!(
                    (s, e["error"]["code"].as_str()),
                    (404, Some("not_found")),
                    "{what}: {e}"
                );
            }
        }
        ("GET", "/api/numbers") => {
            let (s, list) = c.get("/api/numbers").await;
            assert_eq!(
                (s, ids(&list)),
                (200, vec![w.own_number.clone()]),
                "{what}: {list}"
            );
            assert_publisher_safe(&list, w, MASKED, &what);
        }
        ("GET", "/api/numbers/{id}") => {
            let (s, n) = c.get(&format!("/api/numbers/{}", w.own_number)).await;
            assert_eq!(
                (s, n["phoneNumber"].as_str()),
                (200, Some("+15550700001")),
                "{what}: {n}"
            );
            for other in [&w.other_number, &unknown] {
                let (s, e) = c.get(&format!("/api/numbers/{other}")).await;
                assert_eq!(s, 404, "{what}: {e}");
            }
        }
        ("GET", "/api/publishers") => {
            let (s, list) = c.get("/api/publishers").await;
            assert_eq!(
                (s, ids(&list)),
                (200, vec![w.own.clone()]),
                "{what}: {list}"
            );
        }
        ("GET", "/api/publishers/{id}") => {
            let (s, p) = c.get(&format!("/api/publishers/{}", w.own)).await;
            assert_eq!(
                (s, p["name"].as_str()),
                (200, Some("Leads Co")),
                "{what}: {p}"
            );
            for other in [&w.other, &unknown] {
                let (s, e) = c.get(&format!("/api/publishers/{other}")).await;
                assert_eq!(s, 404, "{what}: {e}");
            }
        }
        // Its own calls' figures: its payout, no revenue or profit, no buyers.
        ("GET", "/api/reports/summary") => {
            let (s, r) = c.get("/api/reports/summary?groupBy=campaign").await;
            assert_eq!(s, 200, "{what}: {r}");
            let totals = &r["totals"]["metrics"];
            assert_eq!(
                (totals["incoming"].as_i64(), totals["payoutMinor"].as_i64()),
                (Some(1), Some(500)),
                "{what}: only its own call: {r}"
            );
            assert_publisher_safe(&report_body(&r), w, MASKED, &what);
            for hidden in ["revenuePerCallMinor", "marginRate", "roi"] {
                assert!(totals.get(hidden).is_none(), "{what}: {hidden} in {r}");
            }
            for q in [
                "groupBy=buyer".to_owned(),
                "groupBy=publisher".to_owned(),
                format!("buyerId={}", w.buyer),
            ] {
                let (s, e) = c.get(&format!("/api/reports/summary?{q}")).await;
                assert_eq!(s, 403, "{what}?{q}: {e}");
            }
            let (s, e) = c
                .get(&format!("/api/reports/summary?publisherId={}", w.other))
                .await;
            assert_eq!(s, 404, "{what}: {e}");
        }
        ("GET", "/api/reports/timeseries") => {
            let (s, r) = c.get("/api/reports/timeseries?interval=day").await;
            assert_eq!(s, 200, "{what}: {r}");
            let calls: i64 = r["buckets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["metrics"]["incoming"].as_i64().unwrap())
                .sum();
            assert_eq!(calls, 1, "{what}: only its own call: {r}");
            assert_publisher_safe(&report_body(&r), w, MASKED, &what);
        }
        // A user's own account; a key has none (403, as for any key).
        ("GET", "/api/auth/user") => {
            let (s, me) = c.get("/api/auth/user").await;
            match session {
                true => assert_eq!(
                    (s, me["role"].as_str(), me["publisherId"].as_str()),
                    (200, Some("publisher"), Some(w.own.as_str())),
                    "{what}: {me}"
                ),
                false => assert_eq!(s, 403, "{what}: {me}"),
            }
        }
        ("GET", "/api/auth/sessions") => {
            let (s, v) = c.get("/api/auth/sessions").await;
            match session {
                true => assert_eq!(
                    (s, v.as_array().map(Vec::len)),
                    (200, Some(1)),
                    "{what}: {v}"
                ),
                false => assert_eq!(s, 403, "{what}: {v}"),
            }
        }
        ("DELETE", "/api/auth/sessions/{id}") => {
            let (s, v) = c.delete(&format!("/api/auth/sessions/{unknown}")).await;
            assert_eq!(s, if session { 404 } else { 403 }, "{what}: {v}");
        }
        ("POST", "/api/auth/password") => {
            // Reaches the check of the new password: the handler is open to it.
            let (s, v) = c
                .post(
                    "/api/auth/password",
                    &json!({"currentPassword": PASSWORD, "newPassword": "short"}),
                )
                .await;
            match session {
                true => assert_eq!(
                    (s, fields(&v)),
                    (422, vec!["newPassword".to_owned()]),
                    "{what}: {v}"
                ),
                false => assert_eq!(s, 403, "{what}: {v}"),
            }
        }
        // Walked last, below.
        ("POST", "/api/auth/logout") => {}
        _ => panic!("{what}: on the allow-list but not checked here"),
    }
}

#[tokio::test]
async fn a_publisher_session_and_key_reach_only_their_own_things_on_every_route() {
    let w = world().await;
    let routes = routes(&w.server).await;
    for allowed in ALLOWED.iter().chain(PUBLIC) {
        assert!(
            routes
                .iter()
                .any(|(m, p)| (m.as_str(), p.as_str()) == *allowed),
            "{allowed:?} is listed here but not served: update the list"
        );
    }
    let clients = [
        (publisher_session(&w, "leadsco", &w.own).await, true),
        (publisher_key(&w, &w.own).await, false),
    ];
    for (c, session) in &clients {
        for (method, path) in &routes {
            let key = (method.as_str(), path.as_str());
            if PUBLIC.contains(&key) {
                continue;
            }
            if ALLOWED.contains(&key) {
                check_allowed(c, &w, method, path, *session).await;
                continue;
            }
            // Everything else is closed, whatever the id or the body.
            for target in [switchboard_model::new_id().to_string(), w.own.clone()] {
                let url = fill(path, &target);
                let body = (method != "GET" && method != "DELETE").then(|| json!({}));
                let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
                let (s, e, _) = c.send(m, &url, body.as_ref(), &[]).await;
                assert_eq!(
                    (s, e["error"]["code"].as_str()),
                    (403, Some("forbidden")),
                    "{} {method} {url}: {e}",
                    if *session { "session" } else { "api key" }
                );
            }
        }
    }
    // Nothing a publisher tried changed anything.
    let (_, list) = w.admin.get("/api/publishers").await;
    assert_eq!(ids(&list).len(), 2);
    let (_, call) = w.admin.get(&format!("/api/calls/{}", w.own_call)).await;
    assert_eq!(call["adjustments"], json!([]), "{call}");

    // Logout ends the session; the key has none to end, and keeps working.
    let (session, _) = &clients[0];
    let (s, _) = session.post("/api/auth/logout", &json!({})).await;
    assert_eq!(s, 204);
    assert_eq!(session.get("/api/calls").await.0, 401);
    let (key, _) = &clients[1];
    assert_eq!(key.post("/api/auth/logout", &json!({})).await.0, 204);
    assert_eq!(key.get("/api/calls").await.0, 200);
}

#[tokio::test]
async fn the_tenant_setting_shows_publishers_whole_caller_numbers() {
    let w = world().await;
    let c = publisher_session(&w, "leadsco", &w.own).await;
    let (_, t) = w.admin.get("/api/tenant").await;
    assert_eq!(t["publisherSeesCallerNumbers"], false, "{t}");
    let (s, t) = w
        .admin
        .patch("/api/tenant", &json!({"publisherSeesCallerNumbers": true}))
        .await;
    assert_eq!(
        (s, t["publisherSeesCallerNumbers"].as_bool()),
        (200, Some(true)),
        "{t}"
    );

    let (_, call) = c.get(&format!("/api/calls/{}", w.own_call)).await;
    assert_publisher_safe(&call, &w, CALLER, "unmasked");
    let (_, list) = c.get("/api/calls?caller=%2B15557654321").await;
    assert_eq!(ids(&list), vec![w.own_call.clone()], "{list}");
    assert_publisher_safe(&list, &w, CALLER, "unmasked list");
    let (_, csv) = raw(&c, "/api/calls", &[("Accept", "text/csv")]).await;
    assert!(csv.contains(CALLER), "{csv}");

    // A PUT without the field turns it back off (PUT replaces).
    let (s, t) = w
        .admin
        .put("/api/tenant", &json!({"name": t["name"]}))
        .await;
    assert_eq!(
        (s, t["publisherSeesCallerNumbers"].as_bool()),
        (200, Some(false)),
        "{t}"
    );
    let (_, call) = c.get(&format!("/api/calls/{}", w.own_call)).await;
    assert_eq!(call["from"], MASKED, "{call}");
}

#[tokio::test]
async fn a_publisher_login_needs_an_admin_and_one_of_the_tenants_publishers() {
    let w = world().await;
    let user = |extra: Value| {
        let mut body = json!({"username": "pubuser", "password": PASSWORD});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap());
        body
    };
    let elsewhere = w.server.signup("Elsewhere", "else-owner").await;
    let foreign = id(&create(&elsewhere, "/api/publishers", json!({"name": "Theirs"})).await);
    for (extra, path) in [
        (json!({"role": "publisher"}), "/api/users"),
        (
            json!({"role": "publisher", "publisherId": switchboard_model::new_id()}),
            "/api/users",
        ),
        (
            json!({"role": "publisher", "publisherId": foreign}),
            "/api/users",
        ),
        (
            json!({"role": "viewer", "publisherId": w.own}),
            "/api/users",
        ),
        (json!({"name": "k", "role": "publisher"}), "/api/api-keys"),
        (
            json!({"name": "k", "role": "publisher", "publisherId": foreign}),
            "/api/api-keys",
        ),
    ] {
        let mut body = user(extra.clone());
        if path == "/api/api-keys" {
            body = extra.clone();
        }
        let (s, e) = w.admin.post(path, &body).await;
        assert_eq!(
            (s, fields(&e)),
            (422, vec!["publisherId".to_owned()]),
            "{path} {extra}: {e}"
        );
    }

    // A manager cannot make logins of any kind.
    create(
        &w.admin,
        "/api/users",
        json!({"username": "mgr", "password": PASSWORD, "role": "manager"}),
    )
    .await;
    let mgr = Console::new(&w.server.base);
    let (s, _) = mgr
        .post(
            "/api/auth/login",
            &json!({"username": "mgr", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = mgr
        .post(
            "/api/users",
            &user(json!({"role": "publisher", "publisherId": w.own})),
        )
        .await;
    assert_eq!(s, 403);

    // A publisher still bound to a user or a key is not deleted: the 409 names them.
    let u = create(
        &w.admin,
        "/api/users",
        user(json!({"role": "publisher", "publisherId": w.own})),
    )
    .await;
    assert_eq!(u["publisherId"].as_str(), Some(w.own.as_str()), "{u}");
    publisher_key(&w, &w.other).await;
    let (s, e) = w.admin.delete(&format!("/api/publishers/{}", w.own)).await;
    let message = e["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(s, 409, "{e}");
    assert!(message.contains("user \"pubuser\""), "{message}");
    let (s, e) = w
        .admin
        .delete(&format!("/api/publishers/{}", w.other))
        .await;
    let message = e["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(s, 409, "{e}");
    assert!(message.contains("api key \"leads reports\""), "{message}");

    // Made staff, the user loses its publisher; made a publisher again, it
    // needs one.
    let path = format!("/api/users/{}", id(&u));
    let (s, v) = w.admin.put(&path, &json!({"role": "viewer"})).await;
    assert_eq!((s, v.get("publisherId")), (200, None), "{v}");
    let (s, e) = w.admin.put(&path, &json!({"role": "publisher"})).await;
    assert_eq!(
        (s, fields(&e)),
        (422, vec!["publisherId".to_owned()]),
        "{e}"
    );
    let (s, v) = w
        .admin
        .put(&path, &json!({"role": "publisher", "publisherId": w.other}))
        .await;
    assert_eq!(
        (s, v["publisherId"].as_str()),
        (200, Some(w.other.as_str())),
        "{v}"
    );
    // Its login now sees the other publisher's call, and only that.
    let c = Console::new(&w.server.base);
    c.post(
        "/api/auth/login",
        &json!({"username": "pubuser", "password": PASSWORD}),
    )
    .await;
    let (_, list) = c.get("/api/calls").await;
    assert_eq!(ids(&list), vec![w.other_call.clone()], "{list}");
}
