//! Buyers, campaigns, assignments and calls through the admin API on a real
//! server: what a console user creates routes the next signed call at once;
//! every bad request gets its status and lists its fields; roles hold.

use crate::common;

use chrono::{DateTime, Utc};
use common::{CALLER, Console, Tenancy, TestServer, fields, pairs, post_signed_with, sign_up};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchboard_model::Id;
use switchboard_store::{Doc, DocKind};

/// A console authenticated by an API key of `role`, written to the store as
/// the API-key endpoints would.
async fn key_console(server: &TestServer, tenant: Id, role: &str) -> Console {
    let secret = format!("sbk_test_{role}_{}", switchboard_model::new_id());
    let digest = Sha256::digest(secret.as_bytes());
    let id = Id::from_bytes(digest[..16].try_into().unwrap());
    let body = json!({"id": id, "tenantId": tenant, "name": format!("{role} key"), "role": role,
        "prefix": &secret[..12], "createdBy": "test", "createdAt": Utc::now()});
    server
        .store
        .put_doc(
            Doc {
                kind: DocKind::ApiKey,
                tenant: Id::nil(),
                id,
                version: 0,
                body,
            },
            None,
        )
        .await
        .unwrap();
    Console::with_key(&server.base, &secret)
}

fn buyer_body(name: &str, phone: &str) -> Value {
    json!({"name": name, "company": format!("{name} Inc"), "phoneNumber": phone, "timezone": "America/New_York",
           "concurrencyLimit": 5, "dailyCap": 100, "conversionSeconds": 60, "revenue": 25.5})
}

/// Posts a signed voice webhook from `from` to `to`, as Twilio would for this tenant.
async fn call_from(
    server: &TestServer,
    t: &Tenancy,
    sid: &str,
    from: &str,
    to: &str,
) -> common::Reply {
    t.voice(server, sid, from, to, &[]).await
}

async fn call(server: &TestServer, t: &Tenancy, sid: &str, to: &str) -> common::Reply {
    call_from(server, t, sid, CALLER, to).await
}

async fn create(console: &Console, path: &str, body: Value) -> Value {
    console.created(path, body).await
}

#[tokio::test]
async fn a_campaign_created_through_the_api_routes_its_first_call_at_once() {
    let server = TestServer::start().await;
    let t = sign_up(&server, "Acme Leads").await;
    let c = &t.console;

    let acme = create(
        c,
        "/api/buyers",
        buyer_body("Acme Insurance", "(555) 000-3001"),
    )
    .await;
    assert_eq!(acme["phoneNumber"], "+15550003001", "normalized to E.164");
    assert_eq!(
        (acme["version"].as_u64(), acme["tenantId"].as_str()),
        (Some(1), Some(t.tenant.to_string().as_str()))
    );
    assert_eq!(acme["revenue"], 25.5);
    let beta = create(c, "/api/buyers", buyer_body("Beta Health", "+15550003002")).await;

    let campaign = create(
        c,
        "/api/campaigns",
        json!({"name": "Spring", "phoneNumber": "555-000-7000", "routingPolicy": "priority",
               "buyers": [{"buyerId": acme["id"], "priority": 1}, {"buyerId": beta["id"], "priority": 2, "weight": 3}]}),
    )
    .await;
    assert_eq!(
        (
            campaign["status"].as_str(),
            campaign["phoneNumber"].as_str()
        ),
        (Some("draft"), Some("+15550007000"))
    );
    let path = format!("/api/campaigns/{}", campaign["id"].as_str().unwrap());

    // A draft answers with a polite rejection, not a dial.
    let r = call(&server, &t, "CAdraft", "+15550007000").await;
    assert!(r.is_polite_rejection(), "{r:?}");

    let (s, active) = c
        .patch(
            &path,
            &json!({"status": "active", "version": campaign["version"]}),
        )
        .await;
    assert_eq!(s, 200, "{active}");
    assert_eq!(
        (active["status"].as_str(), active["version"].as_u64()),
        (Some("active"), Some(2))
    );
    let r = call(&server, &t, "CAfirst", "+15550007000").await;
    assert!(r.is_dial(), "{r:?}");
    assert_eq!(r.dialed().as_deref(), Some("+15550003001"));

    // A buyer's change reaches its actor before the next call too.
    let acme_path = format!("/api/buyers/{}", acme["id"].as_str().unwrap());
    assert_eq!(
        c.patch(&acme_path, &json!({"status": "paused"})).await.0,
        200
    );
    let r = call(&server, &t, "CAsecond", "+15550007000").await;
    assert_eq!(r.dialed().as_deref(), Some("+15550003002"), "{r:?}");

    // Pausing the campaign takes effect on the very next call.
    let (s, paused, _) = c
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&json!({"status": "paused"})),
            &[("If-Match", "\"2\"")],
        )
        .await;
    assert_eq!(s, 200, "{paused}");
    let r = call(&server, &t, "CApaused", "+15550007000").await;
    assert!(r.is_polite_rejection(), "{r:?}");

    let (s, v) = c.patch(&path, &json!({"status": "completed"})).await;
    assert_eq!(s, 200, "{v}");
    let r = call(&server, &t, "CAdone", "+15550007000").await;
    assert!(r.is_polite_rejection(), "{r:?}");

    // Deleted, its number is no longer in service.
    let (s, _) = c.delete(&path).await;
    assert_eq!(s, 204);
    let r = call(&server, &t, "CAgone", "+15550007000").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("not in service"), "{r:?}");
    assert_eq!(c.get(&path).await.0, 404);

    let (s, calls) = c.get("/api/calls").await;
    assert_eq!(s, 200);
    let statuses: Vec<&str> = calls["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["rejected", "rejected", "ringing", "ringing", "rejected"],
        "newest first"
    );

    // Every change is in the audit log: who, what, which.
    let mut log: Vec<(String, String, String)> = server
        .store
        .list_docs(DocKind::Audit, Some(t.tenant))
        .await
        .unwrap()
        .into_iter()
        .map(|d| {
            (
                d.body["actor"].as_str().unwrap().to_owned(),
                d.body["action"].as_str().unwrap().to_owned(),
                d.body["kind"].as_str().unwrap().to_owned(),
            )
        })
        .filter(|(_, _, kind)| kind == "buyer" || kind == "campaign")
        .collect();
    log.sort();
    let entry = |action: &str, kind: &str| {
        (
            "user:owner-Acme-Leads".to_owned(),
            action.to_owned(),
            kind.to_owned(),
        )
    };
    let mut expected = vec![
        entry("create", "buyer"),
        entry("create", "buyer"),
        entry("update", "buyer"),
        entry("create", "campaign"),
        entry("delete", "campaign"),
    ];
    expected.extend(std::iter::repeat_n(entry("update", "campaign"), 3));
    expected.sort();
    assert_eq!(log, expected);
}

#[tokio::test]
async fn buyers_crud_with_versions_and_every_error() {
    let server = TestServer::start().await;
    let t = sign_up(&server, "Errors Inc").await;
    let c = &t.console;

    // Malformed requests: 400.
    let (s, v, _) = c
        .send(
            reqwest::Method::POST,
            "/api/buyers",
            None,
            &[("Content-Type", "application/json")],
        )
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("bad_request")));
    let mut unknown = buyer_body("A", "+15550003001");
    unknown["dailycap"] = json!(5);
    let (s, v) = c.post("/api/buyers", &unknown).await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("dailycap"),
        "{v}"
    );
    let mut wrong = buyer_body("A", "+15550003001");
    wrong["dailyCap"] = json!("ten");
    assert_eq!(c.post("/api/buyers", &wrong).await.0, 400);
    assert_eq!(c.post("/api/buyers", &json!([1, 2])).await.0, 400);

    // Semantic errors: 422, every field listed.
    let (s, v) = c
        .post(
            "/api/buyers",
            &json!({"name": " ", "phoneNumber": "555-CALL-NOW", "timezone": "Mars/Olympus", "revenue": 1.234,
                    "currency": "XYZ", "hourlyCap": 50, "dailyCap": 10,
                    "schedule": {"monday": [{"open": "9am", "close": "17:00"}], "friday": [{"open": "18:00", "close": "09:00"}]}}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("invalid")),
        "{v}"
    );
    let mut f = fields(&v);
    f.sort();
    assert_eq!(
        f,
        [
            "currency",
            "hourlyCap",
            "name",
            "phoneNumber",
            "revenue",
            "schedule.friday",
            "schedule.monday[0].open",
            "timezone"
        ],
        "{v}"
    );
    let (s, v) = c.post("/api/buyers", &json!({})).await;
    assert_eq!(
        (s, fields(&v)),
        (
            422,
            vec!["phoneNumber".to_owned(), "timezone".into(), "name".into()]
        ),
        "{v}"
    );

    // Created: the server's id and tenant, whatever the body said.
    let mut body = buyer_body("Acme", "+15550003001");
    body["id"] = json!(Id::nil());
    body["tenantId"] = json!(Id::nil());
    let b = create(c, "/api/buyers", body).await;
    assert_ne!(b["id"], json!(Id::nil()));
    assert_eq!(b["tenantId"], json!(t.tenant));
    let path = format!("/api/buyers/{}", b["id"].as_str().unwrap());
    let (s, got, h) = c.send(reqwest::Method::GET, &path, None, &[]).await;
    assert_eq!((s, &got), (200, &b));
    assert_eq!(h["etag"], "\"1\"");

    // PATCH: absent fields keep their values; versions are checked.
    let (s, v) = c.patch(&path, &json!({"dailyCap": 50, "version": 1})).await;
    assert_eq!(
        (
            s,
            v["dailyCap"].as_u64(),
            v["name"].as_str(),
            v["version"].as_u64()
        ),
        (200, Some(50), Some("Acme"), Some(2)),
        "{v}"
    );
    let (s, v) = c.patch(&path, &json!({"dailyCap": 60, "version": 1})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("version_conflict")),
        "{v}"
    );
    let (s, _, _) = c
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&json!({"dailyCap": 60})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(s, 412, "a stale If-Match");
    let (s, v) = c
        .patch(
            &path,
            &json!({"timezone": "Nowhere/Land", "phoneNumber": "12"}),
        )
        .await;
    assert_eq!(
        (s, fields(&v)),
        (422, vec!["phoneNumber".to_owned(), "timezone".into()]),
        "{v}"
    );
    // A fetched buyer can be sent back as it is.
    let (_, current) = c.get(&path).await;
    let (s, v) = c.put(&path, &current).await;
    assert_eq!((s, v["version"].as_u64()), (200, Some(3)), "{v}");
    assert_eq!(c.get(&path).await.1["dailyCap"], 50);

    // Missing: 404, whether the id is unknown or not an id at all.
    assert_eq!(
        c.get(&format!("/api/buyers/{}", switchboard_model::new_id()))
            .await
            .0,
        404
    );
    assert_eq!(c.get("/api/buyers/not-an-id").await.0, 404);
    assert_eq!(
        c.put(
            &format!("/api/buyers/{}", switchboard_model::new_id()),
            &json!({"name": "x"})
        )
        .await
        .0,
        404
    );

    // Lists page by id.
    create(c, "/api/buyers", buyer_body("Beta", "+15550003002")).await;
    create(c, "/api/buyers", buyer_body("Gamma", "+15550003003")).await;
    let (s, p1) = c.get("/api/buyers?limit=2").await;
    assert_eq!(s, 200);
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    let (_, p2) = c
        .get(&format!(
            "/api/buyers?limit=2&cursor={}",
            p1["nextCursor"].as_str().unwrap()
        ))
        .await;
    let names: Vec<&str> = p1["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2["items"].as_array().unwrap())
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        (names, &p2["nextCursor"]),
        (vec!["Acme", "Beta", "Gamma"], &Value::Null)
    );
    assert_eq!(c.get("/api/buyers?limit=x").await.0, 400);

    // Deleted: gone from reads and from the engine (a stale If-Match is refused).
    let (s, _, _) = c
        .send(
            reqwest::Method::DELETE,
            &path,
            None,
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(s, 412);
    let (s, _, _) = c
        .send(
            reqwest::Method::DELETE,
            &path,
            None,
            &[("If-Match", "\"3\"")],
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(c.get(&path).await.0, 404);
    assert_eq!(c.delete(&path).await.0, 404);
    assert!(
        server
            .engine
            .buyer(b["id"].as_str().unwrap().parse().unwrap())
            .is_none()
    );
}

#[tokio::test]
async fn campaigns_validate_activation_conflicts_and_assignments() {
    let server = TestServer::start().await;
    let t = sign_up(&server, "Campaigns Inc").await;
    let c = &t.console;
    let a = create(c, "/api/buyers", buyer_body("A", "+15550003001")).await;
    let paused = create(
        c,
        "/api/buyers",
        json!({"name": "P", "phoneNumber": "+15550003009", "timezone": "UTC", "status": "paused"}),
    )
    .await;

    // Activation lists every missing piece at once.
    let (s, v) = c
        .post(
            "/api/campaigns",
            &json!({"name": "Live", "status": "active", "dialTimeoutSeconds": 2}),
        )
        .await;
    let mut f = fields(&v);
    f.sort();
    assert_eq!(
        (s, f),
        (
            422,
            vec![
                "buyers".to_owned(),
                "dialTimeoutSeconds".into(),
                "phoneNumber".into()
            ]
        ),
        "{v}"
    );
    // Only paused buyers do not count; an unknown buyer is named.
    let ghost = switchboard_model::new_id();
    let (s, v) = c
        .post("/api/campaigns", &json!({"name": "Live", "status": "active", "phoneNumber": "+15550007000",
                                         "buyers": [{"buyerId": paused["id"]}, {"buyerId": ghost}]}))
        .await;
    assert_eq!(
        (s, fields(&v)),
        (422, vec!["buyers[1].buyerId".to_owned(), "buyers".into()]),
        "{v}"
    );
    let (s, v) = c.post("/api/campaigns", &json!({"name": "Pool", "status": "active", "routingType": "pool", "buyers": [{"buyerId": a["id"]}]})).await;
    assert_eq!((s, fields(&v)), (422, vec!["poolId".to_owned()]), "{v}");
    let (s, v) = c
        .post(
            "/api/campaigns",
            &json!({"name": "Bids", "status": "active", "routingType": "rtb"}),
        )
        .await;
    assert_eq!(
        (s, fields(&v)),
        (422, vec!["rtbRouterId".to_owned()]),
        "{v}"
    );
    // A router without targets cannot carry an active campaign.
    let router = switchboard_model::new_id();
    let doc = Doc {
        kind: DocKind::RtbRouter,
        tenant: t.tenant,
        id: router,
        version: 0,
        body: json!({"name": "r", "targets": []}),
    };
    server.store.put_doc(doc, None).await.unwrap();
    let (s, v) = c.post("/api/campaigns", &json!({"name": "Bids", "status": "active", "routingType": "rtb", "rtbRouterId": router})).await;
    assert_eq!(
        (s, fields(&v)),
        (422, vec!["rtbRouterId".to_owned()]),
        "{v}"
    );
    assert!(
        v["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no targets"),
        "{v}"
    );
    let (s, v) = c
        .post(
            "/api/campaigns",
            &json!({"name": "Bad number", "phoneNumber": "call me"}),
        )
        .await;
    assert_eq!(
        (s, fields(&v)),
        (422, vec!["phoneNumber".to_owned()]),
        "{v}"
    );
    assert_eq!(
        c.post("/api/campaigns", &json!({"name": "x", "status": "running"}))
            .await
            .0,
        400
    );
    assert_eq!(
        c.post(
            "/api/campaigns",
            &json!({"name": "x", "buyers": [{"buyerId": "nope"}]})
        )
        .await
        .0,
        400
    );

    let live = create(
        c,
        "/api/campaigns",
        json!({"name": "Live", "status": "active", "phoneNumber": "+15550007000", "buyers": [{"buyerId": a["id"]}]}),
    )
    .await;
    let path = format!("/api/campaigns/{}", live["id"].as_str().unwrap());

    // Conflicts: the number and the name are taken.
    let (s, v) = c
        .post(
            "/api/campaigns",
            &json!({"name": "Other", "phoneNumber": "(555) 000-7000"}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("\"Live\""),
        "names the holder: {v}"
    );
    let (s, v) = c.post("/api/campaigns", &json!({"name": " live "})).await;
    assert_eq!(s, 409, "{v}");
    // A rename frees the old name and takes the new one.
    assert_eq!(c.patch(&path, &json!({"name": "Renamed"})).await.0, 200);
    let spare = create(c, "/api/campaigns", json!({"name": "Live"})).await;
    let (s, v) = c
        .patch(
            &format!("/api/campaigns/{}", spare["id"].as_str().unwrap()),
            &json!({"name": "RENAMED"}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(c.patch(&path, &json!({"name": "Live"})).await.0, 409);

    // Assignments.
    let (s, v) = c.get(&format!("{path}/buyers")).await;
    assert_eq!((s, v["items"].as_array().unwrap().len()), (200, 1), "{v}");
    let b = create(c, "/api/buyers", buyer_body("B", "+15550003002")).await;
    let (s, v) = c.put(&format!("{path}/buyers"), &json!([{"buyerId": b["id"], "priority": 1}, {"buyerId": a["id"], "priority": 2, "weight": 2}])).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["items"][1],
        json!({"buyerId": a["id"], "priority": 2, "weight": 2})
    );
    let r = call(&server, &t, "CAassigned", "+15550007000").await;
    assert_eq!(
        r.dialed().as_deref(),
        Some("+15550003002"),
        "the new first buyer takes the next call"
    );
    let (s, v) = c.put(&format!("{path}/buyers"), &json!([])).await;
    assert_eq!(
        (s, fields(&v)),
        (422, vec!["buyers".to_owned()]),
        "an active campaign keeps an active buyer: {v}"
    );
    let (s, v) = c
        .put(
            &format!("{path}/buyers"),
            &json!([{"buyerId": a["id"], "weight": 0}, {"buyerId": a["id"]}]),
        )
        .await;
    let mut f = fields(&v);
    f.sort();
    assert_eq!(
        (s, f),
        (
            422,
            vec!["buyers[0].weight".to_owned(), "buyers[1].buyerId".into()]
        ),
        "{v}"
    );
    assert_eq!(
        c.put(&format!("{path}/buyers"), &json!({"buyerId": a["id"]}))
            .await
            .0,
        400
    );
    let (s, _, _) = c
        .send(
            reqwest::Method::PUT,
            &format!("{path}/buyers"),
            Some(&json!([{"buyerId": a["id"]}])),
            &[("If-Match", "1")],
        )
        .await;
    assert_eq!(s, 412, "a stale If-Match");

    // A buyer in use by an active campaign cannot be deleted; once the campaign is paused it can.
    let (s, v) = c
        .delete(&format!("/api/buyers/{}", b["id"].as_str().unwrap()))
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"Renamed\""),
        "{v}"
    );
    assert_eq!(c.patch(&path, &json!({"status": "paused"})).await.0, 200);
    assert_eq!(
        c.delete(&format!("/api/buyers/{}", b["id"].as_str().unwrap()))
            .await
            .0,
        204
    );
    let (_, v) = c.get(&format!("{path}/buyers")).await;
    assert_eq!(
        v["items"],
        json!([{"buyerId": a["id"], "priority": 2, "weight": 2}]),
        "the deleted buyer is unassigned"
    );

    // Roles: viewers read, managers write, nobody else gets in.
    let viewer = key_console(&server, t.tenant, "viewer").await;
    assert_eq!(viewer.get(&path).await.0, 200);
    assert_eq!(
        viewer.get("/api/campaigns").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(viewer.get("/api/calls").await.0, 200);
    let (s, v) = viewer.patch(&path, &json!({"description": "x"})).await;
    assert_eq!((s, v["error"]["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(
        viewer
            .post("/api/buyers", &buyer_body("V", "+15550003004"))
            .await
            .0,
        403
    );
    assert_eq!(
        viewer
            .post("/api/buyers", &json!({"nonsense": true}))
            .await
            .0,
        403,
        "the role is checked before the body"
    );
    assert_eq!(viewer.delete(&path).await.0, 403);
    assert_eq!(
        viewer.put(&format!("{path}/buyers"), &json!([])).await.0,
        403
    );
    let manager = key_console(&server, t.tenant, "manager").await;
    assert_eq!(
        manager
            .post("/api/buyers", &buyer_body("M", "+15550003005"))
            .await
            .0,
        201
    );
    assert_eq!(
        manager
            .patch(&path, &json!({"description": "by a manager"}))
            .await
            .0,
        200
    );
    let anonymous = Console::new(&server.base);
    assert_eq!(anonymous.get("/api/campaigns").await.0, 401);
    assert_eq!(anonymous.get("/api/calls").await.0, 401);
    assert_eq!(
        anonymous
            .post("/api/buyers", &buyer_body("X", "+15550003006"))
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn calls_filter_page_and_export_as_csv() {
    let server = TestServer::start().await;
    let t = sign_up(&server, "Calls Inc").await;
    let c = &t.console;
    let a = create(c, "/api/buyers", buyer_body("A", "+15550003001")).await;
    let b = create(c, "/api/buyers", buyer_body("B", "+15550003002")).await;
    let one = create(c, "/api/campaigns", json!({"name": "One", "status": "active", "phoneNumber": "+15550007001", "buyers": [{"buyerId": a["id"]}]})).await;
    let two = create(c, "/api/campaigns", json!({"name": "Two", "status": "active", "phoneNumber": "+15550007002", "buyers": [{"buyerId": b["id"]}]})).await;
    let started = Utc::now();
    for i in 0..3 {
        assert!(
            call(&server, &t, &format!("CAone{i}"), "+15550007001")
                .await
                .is_dial()
        );
    }
    assert!(
        call_from(&server, &t, "CAtwo0", "+15557654321", "+15550007002")
            .await
            .is_dial()
    );
    c.patch(
        &format!("/api/campaigns/{}", two["id"].as_str().unwrap()),
        &json!({"status": "paused"}),
    )
    .await;
    assert!(
        call_from(&server, &t, "CAtwo1", "+15557654321", "+15550007002")
            .await
            .is_polite_rejection()
    );

    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["callSid"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, all) = c.get("/api/calls").await;
    assert_eq!(
        ids(&all),
        ["CAtwo1", "CAtwo0", "CAone2", "CAone1", "CAone0"]
    );
    let times: Vec<DateTime<Utc>> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["startedAt"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let q = |s: &str| format!("/api/calls?{s}");
    assert_eq!(
        ids(&c
            .get(&q(&format!("campaignId={}", one["id"].as_str().unwrap())))
            .await
            .1),
        ["CAone2", "CAone1", "CAone0"]
    );
    assert_eq!(
        ids(&c
            .get(&q(&format!("buyerId={}", b["id"].as_str().unwrap())))
            .await
            .1),
        ["CAtwo0"]
    );
    assert_eq!(ids(&c.get(&q("status=rejected")).await.1), ["CAtwo1"]);
    assert_eq!(
        ids(&c.get(&q("caller=(555)%20765-4321")).await.1),
        ["CAtwo1", "CAtwo0"],
        "caller normalized to E.164"
    );
    let from = started.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    assert_eq!(ids(&c.get(&q(&format!("from={from}"))).await.1).len(), 5);
    assert!(ids(&c.get(&q(&format!("to={from}"))).await.1).is_empty());
    let later = (Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(ids(&c.get(&q(&format!("from={later}"))).await.1).is_empty());
    assert_eq!(c.get(&q("from=yesterday")).await.0, 400);
    assert_eq!(c.get(&q("status=lost")).await.0, 400);
    assert_eq!(c.get(&q("cursor=garbage")).await.0, 400);

    // Pages of two, filtered, follow the cursor to the end.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (s, page) = c
            .get(&q(&format!(
                "limit=2&campaignId={}{cursor}",
                one["id"].as_str().unwrap()
            )))
            .await;
        assert_eq!(s, 200, "{page}");
        assert!(page["items"].as_array().unwrap().len() <= 2);
        seen.extend(ids(&page));
        match page["nextCursor"].as_str() {
            Some(n) => cursor = format!("&cursor={n}"),
            None => break,
        }
    }
    assert_eq!(seen, ["CAone2", "CAone1", "CAone0"]);

    // CSV: the export's columns, one row per call of the page.
    let (s, _, h) = c
        .send(
            reqwest::Method::GET,
            &q("limit=2"),
            None,
            &[("Accept", "text/csv")],
        )
        .await;
    assert_eq!(s, 200);
    assert!(h["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(h.contains_key("x-next-cursor"));
    let text = c
        .client
        .get(format!("{}/api/calls?status=rejected", c.base))
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("id,callSid,tenantId,campaignId,campaignName,from,to"),
        "{text}"
    );
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1].contains("CAtwo1")
            && lines[1].contains(",Two,")
            && lines[1].contains("campaign-inactive"),
        "{text}"
    );
    // A routed call names its buyer too, and its revenue as a decimal.
    let routed = c
        .client
        .get(format!("{}/api/calls?status=ringing&limit=1", c.base))
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let header: Vec<&str> = routed.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = routed.lines().nth(1).unwrap().split(',').collect();
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(
        (col("campaignName"), col("buyerName"), col("revenue")),
        ("Two", "B", "0.00"),
        "{routed}"
    );

    let id = all["items"][0]["id"].as_str().unwrap();
    let (s, one_call) = c.get(&format!("/api/calls/{id}")).await;
    assert_eq!(
        (
            s,
            one_call["callSid"].as_str(),
            one_call["rejectReason"].as_str()
        ),
        (200, Some("CAtwo1"), Some("campaign-inactive"))
    );
    assert_eq!(
        c.get(&format!("/api/calls/{}", switchboard_model::new_id()))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn every_resource_route_is_in_the_openapi_document() {
    let server = TestServer::start().await;
    let (s, body) = server.get("/api/openapi.json").await;
    assert_eq!(s, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    let expected = [
        ("/api/buyers", &["get", "post"][..]),
        ("/api/buyers/{id}", &["get", "put", "delete"]),
        ("/api/campaigns", &["get", "post"]),
        ("/api/campaigns/{id}", &["get", "put", "delete"]),
        ("/api/campaigns/{id}/buyers", &["get", "put"]),
        ("/api/calls", &["get"]),
        ("/api/calls/{id}", &["get"]),
    ];
    for (path, methods) in expected {
        for m in methods {
            assert!(
                doc["paths"][path][m].is_object(),
                "{m} {path} missing from openapi.json"
            );
        }
    }
    let params: Vec<&str> = doc["paths"]["/api/calls"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        params,
        [
            "campaignId",
            "buyerId",
            "publisherId",
            "status",
            "from",
            "to",
            "caller",
            "cursor",
            "limit"
        ]
    );
    for schema in [
        "Buyer",
        "Campaign",
        "BuyerAssignment",
        "CallRecord",
        "BuyerInput",
        "CampaignInput",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
}

#[tokio::test]
async fn a_number_goes_to_exactly_one_of_many_concurrent_campaigns() {
    let server = TestServer::start().await;
    let t = sign_up(&server, "Race Inc").await;
    let mut racing = tokio::task::JoinSet::new();
    for i in 0..12 {
        let (client, base) = (t.console.client.clone(), t.console.base.clone());
        racing.spawn(async move {
            let body = json!({"name": format!("Racer {i}"), "phoneNumber": "+15550007777"});
            let r = client
                .post(format!("{base}/api/campaigns"))
                .header("Origin", &base)
                .json(&body)
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        });
    }
    let mut statuses = racing.join_all().await;
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [201].into_iter().chain([409; 11]).collect::<Vec<_>>()
    );
    let (_, list) = t.console.get("/api/campaigns").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

/// Pools and campaigns are written under one lock (the engine's), so a
/// number that both race for ends up in exactly one of them, and a campaign
/// deleted while tags race to use it is either kept for them or gone.
#[tokio::test]
async fn writes_of_different_kinds_check_each_other_under_one_lock() {
    let server = TestServer::start().await;
    let t = sign_up(&server, "Kinds Inc").await;
    let c = &t.console;
    let tries: Vec<_> = (0..12)
        .map(|i| {
            let (path, body) = if i % 2 == 0 {
                (
                    "/api/pools",
                    json!({"name": format!("Pool {i}"), "numbers": ["+15550007878"]}),
                )
            } else {
                (
                    "/api/campaigns",
                    json!({"name": format!("Direct {i}"), "phoneNumber": "+15550007878"}),
                )
            };
            async move { (path, c.post(path, &body).await.0) }
        })
        .collect();
    let won: Vec<&str> = futures::future::join_all(tries)
        .await
        .into_iter()
        .filter_map(|(path, s)| (s == 201).then_some(path))
        .collect();
    assert_eq!(won.len(), 1, "{won:?}");
    let (_, pools) = c.get("/api/pools").await;
    let (_, campaigns) = c.get("/api/campaigns").await;
    let holders =
        pools["items"].as_array().unwrap().len() + campaigns["items"].as_array().unwrap().len();
    assert_eq!(holders, 1, "the number is held once: {pools} {campaigns}");

    for round in 0..5 {
        let target = create(
            c,
            "/api/campaigns",
            json!({"name": format!("Target {round}")}),
        )
        .await;
        let id = target["id"].as_str().unwrap().to_owned();
        let (tag_body, path) = (
            json!({"name": format!("Tag {round}"), "campaignId": id}),
            format!("/api/campaigns/{id}"),
        );
        let tag = c.post("/api/tracking-tags", &tag_body);
        let delete = c.delete(&path);
        let ((tag, _), (deleted, _)) = tokio::join!(tag, delete);
        let (kept, _) = c.get(&path).await;
        match (tag, deleted) {
            (201, 409) => assert_eq!(kept, 200, "the tag's campaign stays"),
            (422, 204) => assert_eq!(kept, 404),
            other => panic!("round {round}: tag and delete answered {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_selective_call_filter_reads_a_bounded_slice_per_request() {
    let server = TestServer::start().await;
    let t = sign_up(&server, "Bounded Inc").await;
    let c = &t.console;
    let a = create(c, "/api/buyers", buyer_body("A", "+15550003001")).await;
    let rare = create(c, "/api/campaigns", json!({"name": "Rare", "status": "active", "phoneNumber": "+15550007001", "buyers": [{"buyerId": a["id"]}]})).await;
    create(c, "/api/campaigns", json!({"name": "Busy", "status": "active", "phoneNumber": "+15550007002", "buyers": [{"buyerId": a["id"]}]})).await;
    assert!(call(&server, &t, "CArare", "+15550007001").await.is_dial());
    for i in 0..80 {
        assert_eq!(
            call(&server, &t, &format!("CAbusy{i}"), "+15550007002")
                .await
                .status,
            200
        );
    }
    // One call per page asked: the first request gives up before the rare
    // call with a cursor; following the cursor finds it.
    let path = format!(
        "/api/calls?limit=1&campaignId={}",
        rare["id"].as_str().unwrap()
    );
    let (s, first) = c.get(&path).await;
    assert_eq!((s, &first["items"]), (200, &json!([])), "{first}");
    let mut page = first;
    let mut requests = 1;
    while page["items"].as_array().unwrap().is_empty() {
        let next = page["nextCursor"]
            .as_str()
            .expect("a cursor until the end")
            .to_owned();
        page = c.get(&format!("{path}&cursor={next}")).await.1;
        requests += 1;
    }
    assert_eq!(page["items"][0]["callSid"], "CArare");
    assert!(requests >= 2);
}

/// A manager sees a buyer's capacity in use next to its caps: a routed call
/// holds a slot and counts for the day; its completion gives the slot back.
#[tokio::test]
async fn a_buyers_stats_show_its_live_capacity_against_its_caps() {
    let server = TestServer::start().await;
    let t = sign_up(&server, "Capacity Co").await;
    let c = &t.console;
    let buyer = create(c, "/api/buyers", buyer_body("Cap Buyer", "+15550004001")).await;
    create(
        c,
        "/api/campaigns",
        json!({"name": "Caps", "status": "active", "phoneNumber": "+15550007400",
        "buyers": [{"buyerId": buyer["id"], "priority": 1}]}),
    )
    .await;
    let stats = format!("/api/buyers/{}/stats", buyer["id"].as_str().unwrap());

    let (s, before) = c.get(&stats).await;
    assert_eq!(s, 200, "{before}");
    assert_eq!(
        (
            &before["active"],
            &before["day"],
            &before["concurrencyLimit"],
            &before["dailyCap"]
        ),
        (&json!(0), &json!(0), &json!(5), &json!(100))
    );

    let r = call(&server, &t, "CAcap1", "+15550007400").await;
    assert_eq!(r.dialed().as_deref(), Some("+15550004001"), "{r:?}");
    let (_, during) = c.get(&stats).await;
    assert_eq!(
        (
            &during["active"],
            &during["hour"],
            &during["day"],
            &during["month"],
            &during["total"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(1), &json!(1)),
        "{during}"
    );

    let params = pairs(&[
        ("CallSid", "CAcap1leg"),
        ("ParentCallSid", "CAcap1"),
        ("AccountSid", &t.account),
        ("CallStatus", "completed"),
        ("SequenceNumber", "3"),
        ("CallDuration", "30"),
    ]);
    let path = format!(
        "/api/webhooks/status?callId={}&attempt=0",
        r.call_id().unwrap()
    );
    assert_eq!(
        post_signed_with(&server.client, &server.base, &t.token, &path, &params)
            .await
            .unwrap()
            .status,
        204
    );
    let (_, after) = c.get(&stats).await;
    assert_eq!(
        (&after["active"], &after["day"]),
        (&json!(0), &json!(1)),
        "the slot is given back, the call still counts: {after}"
    );

    // Another tenant's buyer, or no buyer at all, is not found.
    let other = sign_up(&server, "Elsewhere").await;
    assert_eq!(other.console.get(&stats).await.0, 404);
    let (s, bad) = c.get("/api/buyers/not-a-uuid/stats").await;
    assert_eq!((s, bad["error"]["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn csv_cells_that_a_spreadsheet_would_run_are_neutralised_and_numbers_kept() {
    let server = TestServer::start().await;
    let t = sign_up(&server, "Formulas").await;
    let c = &t.console;
    let b = create(c, "/api/buyers", buyer_body("@SUM(A1:A9)", "+15550003001")).await;
    create(c, "/api/campaigns", json!({"name": "=HYPERLINK(\"http://evil.example\",\"open\")", "status": "active", "phoneNumber": "+15550007001", "buyers": [{"buyerId": b["id"]}]}))
        .await;
    assert!(
        call_from(&server, &t, "CAformula", "-2+3", "+15550007001")
            .await
            .is_dial()
    );

    let text = c
        .client
        .get(format!("{}/api/calls", c.base))
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let row = reader.records().next().expect("one row").unwrap();
    let col = |name: &str| {
        row.get(header.iter().position(|h| h == name).unwrap())
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        col("campaignName"),
        "'=HYPERLINK(\"http://evil.example\",\"open\")"
    );
    assert_eq!(col("buyerName"), "'@SUM(A1:A9)");
    assert_eq!(col("from"), "'-2+3");
    // Numbers read back as they are: E.164 numbers and amounts.
    assert_eq!(
        (col("to"), col("revenue"), col("callSid")),
        (
            "+15550007001".to_owned(),
            "0.00".to_owned(),
            "CAformula".to_owned()
        )
    );
}
