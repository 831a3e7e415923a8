//! The blocklist end to end: entries through `/api/blocklist` (and its CSV
//! import), calls through signed voice webhooks to the real server, pings
//! through the RTB endpoint; what the caller gets (TwiML), what is recorded
//! (`blocked`, `duplicate`), and that buyers are left untouched.

use crate::common;

use common::{CALLER, Console, TestServer, pairs, post_signed_with, voice};
use serde_json::{Value, json};
use switchboard_engine::EngineConfig;
use switchboard_model::{Id, Tenant};
use switchboard_testkit::{Bidder, flat};

const REJECT: &str = r#"<Response><Reject reason="rejected"/></Response>"#;

/// A signed-up tenant whose Twilio account is `account`, signed with `token`.
async fn sign_up(s: &TestServer, name: &str, account: &str, token: &str) -> (Console, Id) {
    let console = s.signup(name, &format!("owner-{name}")).await;
    let tenant: Id = console.get("/api/auth/user").await.1["tenantId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let current: Tenant = (*s.engine.tenant(tenant).unwrap()).clone();
    let t = Tenant {
        twilio_auth_token: token.into(),
        twilio_account_sid: Some(account.into()),
        ..current.clone()
    };
    s.engine.put_tenant(t, Some(current.version)).await.unwrap();
    (console, tenant)
}

/// The tenant the common webhook helpers sign for.
async fn main_tenant(s: &TestServer) -> (Console, Id) {
    sign_up(s, "alpha", common::ACCOUNT, common::TOKEN).await
}

async fn created(console: &Console, path: &str, body: Value) -> Value {
    let (status, v) = console.post(path, &body).await;
    assert_eq!(status, 201, "{path}: {v}");
    v
}

fn id(v: &Value) -> Id {
    v["id"].as_str().unwrap().parse().unwrap()
}

/// A buyer and an active campaign on `number` routing to it; `extra`
/// fields go on the campaign.
async fn campaign(console: &Console, number: &str, buyer_number: &str, extra: Value) -> (Id, Id) {
    let buyer = created(
        console,
        "/api/buyers",
        json!({"name": format!("buyer {buyer_number}"), "phoneNumber": buyer_number, "timezone": "UTC", "dailyCap": 100}),
    )
    .await;
    let mut body = json!({"name": format!("campaign {number}"), "status": "active", "phoneNumber": number, "buyers": [{"buyerId": buyer["id"]}]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let c = created(console, "/api/campaigns", body).await;
    (id(&c), id(&buyer))
}

/// A voice webhook from `from` to `to`, signed with the common token.
async fn call_from(s: &TestServer, sid: &str, to: &str, from: &str) -> common::Reply {
    let mut p = voice(sid, to);
    for (k, v) in &mut p {
        if k == "From" {
            *v = from.to_owned();
        }
    }
    s.post("/api/webhooks/voice", &p).await
}

/// The call record with `sid`, as the API shows it.
async fn call(console: &Console, sid: &str) -> Value {
    let (status, list) = console.get("/api/calls?limit=500").await;
    assert_eq!(status, 200, "{list}");
    let found = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["callSid"] == sid)
        .cloned()
        .unwrap_or_else(|| panic!("no call {sid} in {list}"));
    let (status, one) = console
        .get(&format!("/api/calls/{}", found["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200, "{one}");
    one
}

fn assert_blocked(reply: &common::Reply) {
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body.ends_with(REJECT), "{}", reply.body);
    assert!(!reply.is_dial());
}

#[tokio::test]
async fn a_blocked_number_is_rejected_recorded_blocked_and_the_buyer_is_untouched() {
    let s = TestServer::start().await;
    let (console, _) = main_tenant(&s).await;
    let (_, buyer) = campaign(&console, "+15550007000", "+15550003001", json!({})).await;

    let entry = created(
        &console,
        "/api/blocklist",
        json!({"number": "(555) 123-0000", "note": "robocaller"}),
    )
    .await;
    assert_eq!(
        (
            entry["number"].as_str(),
            entry["anonymous"].as_bool(),
            entry["version"].as_u64()
        ),
        (Some(CALLER), Some(false), Some(1)),
        "{entry}"
    );

    let reply = s.call("CAblocked", "+15550007000").await;
    assert_blocked(&reply);
    // Twilio retries the webhook: the same answer, still one call.
    let again = s.call("CAblocked", "+15550007000").await;
    assert_eq!(again.body, reply.body);

    let rec = call(&console, "CAblocked").await;
    assert_eq!(
        (
            rec["status"].as_str(),
            rec["buyerId"].as_str(),
            rec["attempts"].as_array().map(Vec::len)
        ),
        (Some("blocked"), None, Some(0)),
        "{rec}"
    );
    assert!(rec["endedAt"].is_string(), "a blocked call is over: {rec}");
    let (_, blocked) = console.get("/api/calls?status=blocked").await;
    assert_eq!(blocked["items"].as_array().unwrap().len(), 1, "{blocked}");

    let stats = s.engine.buyer_stats(buyer).await.unwrap();
    assert_eq!(
        (stats.active, stats.day, stats.total),
        (0, 0, 0),
        "no capacity reserved"
    );

    // Who blocked and unblocked whom is in the audit log.
    let (_, audit) = console.get("/api/audit").await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "blocklist_entry"
                && a["action"] == "create"
                && a["resourceId"] == entry["id"]),
        "{audit}"
    );

    // Another caller still reaches the buyer; once unblocked, so does this one.
    assert!(
        call_from(&s, "CAother", "+15550007000", "+15559990000")
            .await
            .is_dial()
    );
    let (status, _) = console
        .delete(&format!("/api/blocklist/{}", id(&entry)))
        .await;
    assert_eq!(status, 204);
    assert!(s.call("CAafter", "+15550007000").await.is_dial());
}

#[tokio::test]
async fn a_prefix_blocks_every_number_under_it_and_anonymous_blocks_withheld_callers() {
    let s = TestServer::start().await;
    let (console, _) = main_tenant(&s).await;
    campaign(&console, "+15550007000", "+15550003001", json!({})).await;
    created(&console, "/api/blocklist", json!({"prefix": "+1555123"})).await;

    assert_blocked(&call_from(&s, "CAp1", "+15550007000", "+15551239999").await);
    assert_blocked(&call_from(&s, "CAp2", "+15550007000", CALLER).await);
    assert!(
        call_from(&s, "CAp3", "+15550007000", "+15551249999")
            .await
            .is_dial()
    );
    // Withheld numbers are not blocked until the anonymous entry exists.
    assert!(
        call_from(&s, "CAa0", "+15550007000", "anonymous")
            .await
            .is_dial()
    );

    created(&console, "/api/blocklist", json!({"anonymous": true})).await;
    for (i, from) in ["anonymous", "Anonymous", "+266696687", "restricted", ""]
        .iter()
        .enumerate()
    {
        let reply = call_from(&s, &format!("CAanon{i}"), "+15550007000", from).await;
        assert_blocked(&reply);
        assert_eq!(
            call(&console, &format!("CAanon{i}")).await["status"],
            "blocked",
            "{from:?}"
        );
    }
    assert!(
        call_from(&s, "CAp4", "+15550007000", "+15551249999")
            .await
            .is_dial()
    );
}

#[tokio::test]
async fn an_expired_entry_no_longer_blocks_and_a_campaign_entry_blocks_only_its_campaign() {
    let s = TestServer::start().await;
    let (console, _) = main_tenant(&s).await;
    let (first, _) = campaign(&console, "+15550007000", "+15550003001", json!({})).await;
    campaign(&console, "+15550007001", "+15550003002", json!({})).await;

    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let expired = created(
        &console,
        "/api/blocklist",
        json!({"number": "+15559990001", "expiresAt": past}),
    )
    .await;
    assert!(
        call_from(&s, "CAexp", "+15550007000", "+15559990001")
            .await
            .is_dial()
    );
    // Extended into the future, it blocks again.
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (status, v) = console
        .patch(
            &format!("/api/blocklist/{}", id(&expired)),
            &json!({"expiresAt": future}),
        )
        .await;
    assert_eq!((status, v["version"].as_u64()), (200, Some(2)), "{v}");
    assert_blocked(&call_from(&s, "CAexp2", "+15550007000", "+15559990001").await);

    created(
        &console,
        "/api/blocklist",
        json!({"number": CALLER, "campaignId": first, "note": "only the first"}),
    )
    .await;
    assert_blocked(&s.call("CAc1", "+15550007000").await);
    assert!(
        s.call("CAc2", "+15550007001").await.is_dial(),
        "another campaign"
    );
    let (_, scoped) = console
        .get(&format!("/api/blocklist?campaignId={first}"))
        .await;
    assert_eq!(scoped["items"].as_array().unwrap().len(), 1, "{scoped}");
    let (_, wide) = console.get("/api/blocklist?tenantWide=true").await;
    assert_eq!(wide["items"].as_array().unwrap().len(), 1, "{wide}");

    // The campaign cannot be deleted while an entry names it.
    let (status, err) = console.delete(&format!("/api/campaigns/{first}")).await;
    assert_eq!(status, 409, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("blocklist entry"),
        "{err}"
    );
}

#[tokio::test]
async fn bad_entries_are_refused_naming_the_field_and_a_second_of_the_same_is_409() {
    let s = TestServer::start().await;
    let (console, _) = main_tenant(&s).await;
    for (body, field) in [
        (json!({"number": "12"}), "number"),
        (json!({"number": "call me"}), "number"),
        (json!({"prefix": "1900"}), "prefix"),
        (json!({}), "number"),
        (json!({"number": CALLER, "anonymous": true}), "number"),
        (
            json!({"anonymous": true, "campaignId": switchboard_model::new_id()}),
            "campaignId",
        ),
    ] {
        let (status, err) = console.post("/api/blocklist", &body).await;
        assert_eq!(
            (status, common::fields(&err)),
            (422, vec![field.to_owned()]),
            "{body}: {err}"
        );
    }
    let (status, err) = console
        .post("/api/blocklist", &json!({"number": CALLER, "color": "red"}))
        .await;
    assert_eq!(status, 400, "unknown field: {err}");

    let first = created(&console, "/api/blocklist", json!({"number": CALLER})).await;
    let (status, err) = console
        .post("/api/blocklist", &json!({"number": "555-123-0000"}))
        .await;
    assert_eq!(status, 409, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains(first["id"].as_str().unwrap()),
        "{err}"
    );
    let (_, list) = console.get("/api/blocklist").await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "nothing half-written"
    );
}

#[tokio::test]
async fn another_tenant_cannot_see_or_delete_entries_and_they_do_not_block_its_calls() {
    let s = TestServer::start().await;
    let (a, _) = main_tenant(&s).await;
    let (b, _) = sign_up(&s, "bravo", "ACbravo", "token-bravo").await;
    campaign(&a, "+15550007000", "+15550003001", json!({})).await;
    campaign(&b, "+15550008000", "+15550004001", json!({})).await;
    let entry = created(&a, "/api/blocklist", json!({"number": CALLER})).await;
    let path = format!("/api/blocklist/{}", id(&entry));

    for (status, what) in [
        (b.get(&path).await.0, "get"),
        (b.put(&path, &json!({"anonymous": true})).await.0, "put"),
        (b.patch(&path, &json!({"note": "mine"})).await.0, "patch"),
        (b.delete(&path).await.0, "delete"),
    ] {
        assert_eq!(status, 404, "{what}");
    }
    let (_, list) = b.get("/api/blocklist").await;
    assert_eq!(list["items"], json!([]));
    let (status, same) = a.get(&path).await;
    assert_eq!(
        (status, same["version"].as_u64(), same["note"].clone()),
        (200, Some(1), Value::Null)
    );

    // The same caller calling bravo's number is routed.
    let params = pairs(&[
        ("CallSid", "CAbravo"),
        ("AccountSid", "ACbravo"),
        ("From", CALLER),
        ("To", "+15550008000"),
    ]);
    let r = post_signed_with(
        &s.client,
        &s.base,
        "token-bravo",
        "/api/webhooks/voice",
        &params,
    )
    .await
    .unwrap();
    assert!(r.is_dial(), "{r:?}");
    assert_blocked(&s.call("CAalpha", "+15550007000").await);
}

#[tokio::test]
async fn an_import_takes_good_lines_and_names_the_bad_ones() {
    let s = TestServer::start().await;
    let (console, _) = main_tenant(&s).await;
    campaign(&console, "+15550007000", "+15550003001", json!({})).await;
    created(
        &console,
        "/api/blocklist",
        json!({"number": "+15559990002"}),
    )
    .await;

    let csv = "number_or_prefix,note,expiresAt\n\
               +15551230000,robocaller,\n\
               +1900*,premium,2099-01-01\n\
               not a number,x,\n\
               +15559990002,already there,\n\
               +15551230000,twice in the file,\n\
               +15559990003,,next tuesday\n\
               anonymous,withheld,2099-01-01T00:00:00Z\n";
    let resp = console
        .client
        .post(format!("{}/api/blocklist/import", s.base))
        .header("Origin", &s.base)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["imported"], 3, "{answer}");
    let refused: Vec<(u64, String)> = answer["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        refused.iter().map(|r| r.0).collect::<Vec<_>>(),
        [4, 5, 6, 7],
        "{answer}"
    );
    assert!(
        refused[0]
            .1
            .contains("\"not a number\" is not a number or prefix"),
        "{refused:?}"
    );
    assert!(
        refused[1].1.contains("already on the blocklist"),
        "{refused:?}"
    );
    assert!(
        refused[2].1.contains("already on the blocklist"),
        "{refused:?}"
    );
    assert!(refused[3].1.contains("expiresAt"), "{refused:?}");

    let (_, list) = console.get("/api/blocklist").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{list}");
    assert!(
        items
            .iter()
            .any(|e| e["prefix"] == "+1900" && e["note"] == "premium")
    );
    assert_blocked(&s.call("CAimported", "+15550007000").await);
    assert_blocked(&call_from(&s, "CAprem", "+15550007000", "+19005550100").await);

    // Importing the same file again imports nothing twice.
    let resp = console
        .client
        .post(format!("{}/api/blocklist/import", s.base))
        .header("Origin", &s.base)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let again: Value = resp.json().await.unwrap();
    assert_eq!(again["imported"], 0, "{again}");

    // A thousand lines for one campaign: every one stored and blocking.
    let (_, campaigns) = console.get("/api/campaigns").await;
    let campaign = campaigns["items"][0]["id"].as_str().unwrap().to_owned();
    let many: String = (0..1000).map(|i| format!("+1666{i:07},bulk,\n")).collect();
    let resp = console
        .client
        .post(format!(
            "{}/api/blocklist/import?campaignId={campaign}",
            s.base
        ))
        .header("Origin", &s.base)
        .header("Content-Type", "text/csv")
        .body(many)
        .send()
        .await
        .unwrap();
    let bulk: Value = resp.json().await.unwrap();
    assert_eq!(
        (
            bulk["imported"].as_u64(),
            bulk["refused"].as_array().map(Vec::len)
        ),
        (Some(1000), Some(0)),
        "{bulk}"
    );
    let (_, scoped) = console
        .get(&format!("/api/blocklist?campaignId={campaign}&limit=500"))
        .await;
    assert_eq!(scoped["items"].as_array().unwrap().len(), 500);
    assert!(scoped["nextCursor"].is_string());
    assert_blocked(&call_from(&s, "CAbulk", "+15550007000", "+16660000999").await);
    assert_eq!(
        console.get("/api/blocklist?tenantWide=true").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        4,
        "the first file's entries, once each"
    );
}

#[tokio::test]
async fn a_repeat_caller_is_marked_duplicate_whatever_the_campaigns_action() {
    let s = TestServer::start().await;
    let (console, _) = main_tenant(&s).await;
    campaign(
        &console,
        "+15550007000",
        "+15550003001",
        json!({"duplicateWindowHours": 24, "duplicateAction": "same-buyer"}),
    )
    .await;
    let first = s.call("CAdup1", "+15550007000").await;
    assert!(first.is_dial());
    let second = s.call("CAdup2", "+15550007000").await;
    assert!(second.is_dial(), "the same buyer takes a repeat caller");
    let other = call_from(&s, "CAdup3", "+15550007000", "+15559990000").await;
    assert!(other.is_dial());
    assert_eq!(call(&console, "CAdup1").await["duplicate"], false);
    assert_eq!(call(&console, "CAdup2").await["duplicate"], true);
    assert_eq!(call(&console, "CAdup3").await["duplicate"], false);
    // Two callers who withheld their numbers are not one repeat caller.
    for sid in ["CAanon1", "CAanon2"] {
        assert!(
            call_from(&s, sid, "+15550007000", "+266696687")
                .await
                .is_dial()
        );
    }
    assert_eq!(call(&console, "CAanon2").await["duplicate"], false);

    // The CSV of the calls page carries it too.
    let csv = console
        .client
        .get(format!("{}/api/calls", s.base))
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "duplicate")
        .expect("duplicate column");
    let sid = header.iter().position(|h| *h == "callSid").unwrap();
    let dup: Vec<(String, String)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[sid].to_owned(), f[col].to_owned())
        })
        .collect();
    assert!(dup.contains(&("CAdup2".into(), "true".into())), "{csv}");
    assert!(dup.contains(&("CAdup1".into(), "false".into())), "{csv}");
}

#[tokio::test]
async fn a_ping_for_a_blocked_caller_gets_no_bid_and_no_auction() {
    let s = TestServer::start_with_engine(
        None,
        EngineConfig {
            rtb_allow_private_targets: true,
            ..EngineConfig::default()
        },
    )
    .await;
    let (console, _) = main_tenant(&s).await;
    let bidder = Bidder::start(5, 200, &flat("15.00", "+18005550801")).await;
    let target = created(
        &console,
        "/api/rtb/targets",
        json!({"name": "bidder", "endpointUrl": bidder.url, "minBidAmount": 1, "maxBidAmount": 50, "timeoutMs": 5000,
               "requestBody": r#"{"callerId": "{callerId}"}"#}),
    )
    .await;
    let router = created(
        &console,
        "/api/rtb/routers",
        json!({"name": "router", "biddingTimeoutMs": 300, "minBiddersRequired": 1, "targets": [{"targetId": target["id"]}]}),
    )
    .await;
    created(
        &console,
        "/api/campaigns",
        json!({"name": "rtb", "status": "active", "routingType": "rtb", "rtbRouterId": router["id"], "phoneNumber": "+15550009008"}),
    )
    .await;
    let key = created(
        &console,
        "/api/api-keys",
        json!({"name": "publisher", "role": "viewer"}),
    )
    .await;
    let key = key["key"].as_str().unwrap();
    created(&console, "/api/blocklist", json!({"number": CALLER})).await;

    let ping = |caller: &'static str| {
        let req = s
            .client
            .post(format!(
                "{}/api/rtb/webhook/{}",
                s.base,
                router["id"].as_str().unwrap()
            ))
            .bearer_auth(key)
            .json(&json!({"callerId": caller}));
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, answer) = ping(CALLER).await;
    assert_eq!(
        (status, answer["bid"].as_bool(), answer["reason"].as_str()),
        (200, Some(false), Some("blocked")),
        "{answer}"
    );
    assert_eq!(bidder.hits(), 0, "no auction ran");
    assert_eq!(s.engine.buyer_stats(id(&target)).await.unwrap().active, 0);
    // The call that follows is refused too, and no bidder is asked.
    assert_blocked(&s.call("CArtb", "+15550009008").await);
    assert_eq!(bidder.hits(), 0);

    let (status, answer) = ping("+15559990000").await;
    assert_eq!(
        (status, answer["bid"].as_bool()),
        (200, Some(true)),
        "{answer}"
    );
    assert_eq!(bidder.hits(), 1);
}

/// A blocklist entry of `tenant` as the API stores it.
fn entry(tenant: Id, v: Value) -> switchboard_model::BlocklistEntry {
    let mut e: switchboard_model::BlocklistEntry = serde_json::from_value(v).unwrap();
    (e.id, e.tenant_id, e.created_at) = (switchboard_model::new_id(), tenant, chrono::Utc::now());
    e
}

/// The common tenant, a buyer and a priority campaign on `number`, through the engine.
async fn engine_campaign(s: &TestServer, number: &str) -> (Id, Id) {
    let t = common::tenant(&s.engine).await;
    let b = common::buyer(&s.engine, t.id, "Acme", common::ACME, None).await;
    let c = common::campaign(
        &s.engine,
        t.id,
        number,
        switchboard_model::RoutingPolicy::Priority,
        &[(&b, 1, 1)],
        0,
        false,
    )
    .await;
    (t.id, c.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_node_follows_the_blocklist_and_a_restart_loads_it() {
    let s = TestServer::start().await;
    let (tenant, campaign) = engine_campaign(&s, "+15550007000").await;
    let b = s.second_node(EngineConfig::default()).await;
    common::periodic_check(
        async || b.engine.campaign(campaign).is_some(),
        std::time::Duration::from_secs(5),
    )
    .await;
    // Written to the store behind the engines' backs (no revision counted):
    // a poll does not read a million keys to find it.
    let quiet = entry(tenant, json!({"number": "+15559990009"}));
    s.store
        .put_doc(
            switchboard_store::Doc {
                kind: switchboard_store::DocKind::BlocklistEntry,
                tenant,
                id: quiet.id,
                version: 0,
                body: serde_json::to_value(&quiet).unwrap(),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        b.engine.sync_config().await.unwrap(),
        0,
        "the revision did not move"
    );
    assert!(
        b.engine
            .blocked(tenant, Some(campaign), "+15559990009", chrono::Utc::now())
            .is_none()
    );

    let mut e = entry(tenant, json!({"prefix": "+1555123"}));
    s.engine
        .config_write()
        .await
        .put(&mut e, None)
        .await
        .unwrap();
    assert_blocked(&s.call("CAn1", "+15550007000").await);
    common::periodic_check(
        async || {
            b.engine
                .blocked(tenant, Some(campaign), CALLER, chrono::Utc::now())
                .is_some()
        },
        std::time::Duration::from_secs(5),
    )
    .await;
    assert_blocked(&b.call("CAn2", "+15550007000").await);
    assert!(
        b.engine
            .blocked(tenant, Some(campaign), "+15559990009", chrono::Utc::now())
            .is_some(),
        "a counted write has the poll read every key, the quiet one too"
    );

    s.engine
        .config_write()
        .await
        .delete::<switchboard_model::BlocklistEntry>(tenant, e.id, e.version)
        .await
        .unwrap();
    common::periodic_check(
        async || {
            b.engine
                .blocked(tenant, Some(campaign), CALLER, chrono::Utc::now())
                .is_none()
        },
        std::time::Duration::from_secs(5),
    )
    .await;
    assert!(b.call("CAn3", "+15550007000").await.is_dial());
    drop(b);

    // Stored, then the server restarts: it blocks from the first call.
    let mut e = entry(tenant, json!({"number": CALLER}));
    s.engine
        .config_write()
        .await
        .put(&mut e, None)
        .await
        .unwrap();
    let dir = s.stop().await;
    let store: std::sync::Arc<dyn switchboard_store::Store> =
        std::sync::Arc::new(switchboard_store::EmbeddedStore::open(dir.path()).unwrap());
    let s = TestServer::start_on(dir, store).await;
    assert_blocked(&s.call("CAn4", "+15550007000").await);
    let rec = s.store.get_call_by_sid("CAn4").await.unwrap().unwrap();
    assert_eq!(rec.status, switchboard_model::CallStatus::Blocked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_duplicate_flag_crosses_nodes_from_the_campaigns_owner() {
    let dir = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn switchboard_store::Store> =
        std::sync::Arc::new(switchboard_store::EmbeddedStore::open(dir.path()).unwrap());
    let a = TestServer::start_in_cluster(store.clone(), common::fast_cluster()).await;
    let b = TestServer::start_in_cluster(store.clone(), common::fast_cluster()).await;
    let t = common::tenant(&a.engine).await;
    let buyer = common::buyer(&a.engine, t.id, "Shared", common::ACME, None).await;
    let mut c = common::campaign(
        &a.engine,
        t.id,
        "+15550007000",
        switchboard_model::RoutingPolicy::Priority,
        &[(&buyer, 1, 1)],
        0,
        false,
    )
    .await;
    c.duplicate_window_hours = 24;
    let version = c.version;
    let c = a.engine.put_campaign(c, Some(version)).await.unwrap();
    b.engine.sync_config().await.unwrap();
    common::periodic_check(
        async || a.engine.cluster_converged() && b.engine.cluster_converged(),
        std::time::Duration::from_secs(10),
    )
    .await;
    let owner = a.engine.capacity_owner(c.id).unwrap();
    let (here, there) = if owner == a.base { (&a, &b) } else { (&b, &a) };
    // The first call on the owner, the repeat on the other node: its
    // campaign answers over HTTP, and says it is a repeat.
    assert!(here.call("CAx1", "+15550007000").await.is_dial());
    assert!(there.call("CAx2", "+15550007000").await.is_dial());
    let first = store.get_call_by_sid("CAx1").await.unwrap().unwrap();
    let second = store.get_call_by_sid("CAx2").await.unwrap().unwrap();
    assert_eq!((first.duplicate, second.duplicate), (false, true));
}

#[tokio::test]
async fn the_list_pages_oldest_first_and_filters_by_campaign() {
    let s = TestServer::start().await;
    let (console, _) = main_tenant(&s).await;
    let (c1, _) = campaign(&console, "+15550007000", "+15550003001", json!({})).await;
    let mut ids = Vec::new();
    for (i, scope) in [None, Some(c1), None, Some(c1), None].iter().enumerate() {
        let e = created(
            &console,
            "/api/blocklist",
            json!({"number": format!("+1555999000{i}"), "campaignId": scope}),
        )
        .await;
        ids.push(e["id"].as_str().unwrap().to_owned());
    }
    let page = |v: &Value| -> (Vec<String>, Option<String>) {
        let items = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        (items, v["nextCursor"].as_str().map(str::to_owned))
    };
    let (first, cursor) = page(&console.get("/api/blocklist?limit=2").await.1);
    assert_eq!(first, ids[..2]);
    let (second, cursor) = page(
        &console
            .get(&format!(
                "/api/blocklist?limit=2&cursor={}",
                cursor.unwrap()
            ))
            .await
            .1,
    );
    assert_eq!(second, ids[2..4]);
    let (last, cursor) = page(
        &console
            .get(&format!(
                "/api/blocklist?limit=2&cursor={}",
                cursor.unwrap()
            ))
            .await
            .1,
    );
    assert_eq!((last.as_slice(), cursor), (&ids[4..], None));

    let (scoped, cursor) = page(
        &console
            .get(&format!("/api/blocklist?campaignId={c1}&limit=1"))
            .await
            .1,
    );
    assert_eq!(scoped, [ids[1].clone()]);
    let (scoped, cursor) = page(
        &console
            .get(&format!(
                "/api/blocklist?campaignId={c1}&limit=1&cursor={}",
                cursor.unwrap()
            ))
            .await
            .1,
    );
    assert_eq!(
        (scoped, cursor),
        (vec![ids[3].clone()], None),
        "no cursor past the last match"
    );
    let (wide, _) = page(&console.get("/api/blocklist?tenantWide=true").await.1);
    assert_eq!(wide, [ids[0].clone(), ids[2].clone(), ids[4].clone()]);
    let (status, _) = console.get("/api/blocklist?cursor=nope").await;
    assert_eq!(status, 400);
}
