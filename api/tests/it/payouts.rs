//! Payout rules end to end: rules saved on a campaign through the API (and
//! the 422s of bad ones), calls played as Twilio plays them (signed voice
//! webhook, status callbacks with sequence numbers and durations), and the
//! payout and profit on the call record: each rule type, a publisher's
//! override, and duplicate and out-of-order callbacks paying once.

use crate::common;
use crate::publishers::{buyer, direct_campaign};
use crate::rtb;

use common::{Console, TestServer, fields};
use serde_json::{Value, json};

async fn create(c: &Console, path: &str, body: Value) -> Value {
    let (s, v) = c.post(path, &body).await;
    assert_eq!(s, 201, "POST {path}: {v}");
    v
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// A tenant with Twilio connected, a buyer paying 25.00 after 60 s, and
/// publishers `names`.
pub(crate) async fn setup(server: &TestServer, names: &[&str]) -> (Console, String, Vec<String>) {
    let (c, _) = rtb::setup(server).await;
    let b = buyer(&c, "Acme Insurance", common::ACME).await;
    let mut publishers = Vec::new();
    for n in names {
        publishers.push(id(&create(&c, "/api/publishers", json!({"name": n})).await));
    }
    (c, b, publishers)
}

/// Number `number` in the inventory for `publisher`, and a direct campaign
/// on it paying `rules`.
pub(crate) async fn campaign(
    c: &Console,
    buyer: &str,
    number: &str,
    publisher: &str,
    rules: Value,
) -> Value {
    create(
        c,
        "/api/numbers",
        json!({"phoneNumber": number, "publisherId": publisher}),
    )
    .await;
    direct_campaign(c, number, buyer, json!({"payoutRules": rules})).await
}

/// Plays a call to `number` that the buyer answers and talks `talk` seconds
/// on, as Twilio reports it; returns the call as the API shows it.
pub(crate) async fn play(
    server: &TestServer,
    c: &Console,
    sid: &str,
    number: &str,
    talk: u32,
) -> Value {
    let r = server.call(sid, number).await;
    let call = r.call_id().unwrap_or_else(|| panic!("not dialed: {r:?}"));
    let leg = format!("{sid}leg");
    for (status, seq, dur) in [
        ("initiated", 0, None),
        ("ringing", 1, None),
        ("answered", 2, None),
        ("completed", 3, Some(talk)),
    ] {
        let r = server.status(call, 0, &leg, sid, (status, seq, dur)).await;
        assert_eq!(r.status, 204, "{r:?}");
    }
    let (s, v) = c.get(&format!("/api/calls/{call}")).await;
    assert_eq!(s, 200);
    v
}

fn money(call: &Value) -> (i64, i64, i64) {
    (
        call["revenueMinor"].as_i64().unwrap(),
        call["payoutMinor"].as_i64().unwrap(),
        call["profitMinor"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn each_rule_type_pays_on_its_own_condition() {
    let server = TestServer::start().await;
    let (c, b, p) = setup(&server, &["Leads Co"]).await;
    let p = &p[0];
    campaign(
        &c,
        &b,
        "+15550600001",
        p,
        json!([{"type": "perCall", "amount": "5.00", "currency": "USD"}]),
    )
    .await;
    campaign(
        &c,
        &b,
        "+15550600002",
        p,
        json!([{"type": "afterSeconds", "seconds": 30, "amount": "7.25", "currency": "USD"}]),
    )
    .await;
    campaign(
        &c,
        &b,
        "+15550600003",
        p,
        json!([{"type": "onConversion", "percent": 40, "currency": "USD"}]),
    )
    .await;

    // perCall: any answered call, converted or not.
    let call = play(&server, &c, "CAper", "+15550600001", 10).await;
    assert_eq!(call["publisherId"].as_str(), Some(p.as_str()));
    assert_eq!(money(&call), (0, 500, -500), "{call}");
    // afterSeconds: from the rule's talk time on.
    let call = play(&server, &c, "CAafter29", "+15550600002", 29).await;
    assert_eq!(money(&call), (0, 0, 0), "{call}");
    let call = play(&server, &c, "CAafter30", "+15550600002", 30).await;
    assert_eq!(money(&call), (0, 725, -725), "{call}");
    // onConversion, as a share of the revenue.
    let call = play(&server, &c, "CAconv59", "+15550600003", 59).await;
    assert_eq!(money(&call), (0, 0, 0), "{call}");
    let call = play(&server, &c, "CAconv61", "+15550600003", 61).await;
    assert_eq!(money(&call), (2500, 1000, 1500), "{call}");
}

#[tokio::test]
async fn a_publishers_override_wins_over_the_campaigns_default() {
    let server = TestServer::start().await;
    let (c, b, p) = setup(&server, &["Premium", "Everyone else"]).await;
    let (premium, other) = (&p[0], &p[1]);
    let rules = json!([
        {"type": "perCall", "amount": 5, "currency": "USD"},
        {"type": "onConversion", "amount": "12.00", "currency": "USD", "publisherId": premium},
    ]);
    // A pool of two numbers, one per publisher, on one campaign.
    for (n, publisher) in [("+15550600101", premium), ("+15550600102", other)] {
        create(
            &c,
            "/api/numbers",
            json!({"phoneNumber": n, "publisherId": publisher}),
        )
        .await;
    }
    let pool = create(
        &c,
        "/api/pools",
        json!({"name": "Both", "numbers": ["+15550600101", "+15550600102"]}),
    )
    .await;
    let camp = create(
        &c,
        "/api/campaigns",
        json!({"name": "both", "status": "active", "routingType": "pool", "poolId": id(&pool),
               "buyers": [{"buyerId": b}], "maxFallthrough": 0, "payoutRules": rules}),
    )
    .await;
    assert_eq!(camp["payoutRules"][1]["amount"], json!(12.0), "{camp}");

    let short = play(&server, &c, "CApremium1", "+15550600101", 20).await;
    assert_eq!(short["publisherId"].as_str(), Some(premium.as_str()));
    assert_eq!(money(&short), (0, 0, 0), "premium is paid on a sale only");
    let sale = play(&server, &c, "CApremium2", "+15550600101", 70).await;
    assert_eq!(money(&sale), (2500, 1200, 1300));
    let default = play(&server, &c, "CAother", "+15550600102", 20).await;
    assert_eq!(default["publisherId"].as_str(), Some(other.as_str()));
    assert_eq!(money(&default), (0, 500, -500), "the default applies");
}

#[tokio::test]
async fn duplicate_and_out_of_order_callbacks_pay_once() {
    let server = TestServer::start().await;
    let (c, b, p) = setup(&server, &["Leads Co"]).await;
    campaign(
        &c,
        &b,
        "+15550600201",
        &p[0],
        json!([{"type": "onConversion", "percent": 40, "currency": "USD"}]),
    )
    .await;
    let sid = "CAtwice";
    let r = server.call(sid, "+15550600201").await;
    let call = r.call_id().unwrap();
    let leg = "CAtwiceleg";
    // The completion arrives before the answer, and twice.
    for event in [
        ("initiated", 0, None),
        ("completed", 3, Some(75)),
        ("answered", 2, None),
        ("completed", 3, Some(75)),
        ("ringing", 1, None),
    ] {
        assert_eq!(server.status(call, 0, leg, sid, event).await.status, 204);
    }
    // Then the dial action, the inbound leg's own completion, and both again.
    for _ in 0..2 {
        let action = server.dial_status(call, 0, "completed", Some(75)).await;
        assert!(action.body.ends_with("<Hangup/></Response>"), "{action:?}");
        let done = server
            .status(call, 0, sid, sid, ("completed", 4, Some(80)))
            .await;
        assert_eq!(done.status, 204);
    }
    let (_, v) = c.get(&format!("/api/calls/{call}")).await;
    assert_eq!(money(&v), (2500, 1000, 1500), "{v}");
    assert_eq!(v["status"], "completed");
}

#[tokio::test]
async fn bad_payout_rules_are_422s_naming_the_field() {
    let server = TestServer::start().await;
    let (c, b, p) = setup(&server, &["Leads Co"]).await;
    let theirs = {
        let b2 = server.signup("Other Network", "olga").await;
        id(&create(&b2, "/api/publishers", json!({"name": "Theirs"})).await)
    };
    let base = |rules: Value| {
        json!({"name": "bad", "status": "active", "phoneNumber": "+15550600301",
               "buyers": [{"buyerId": b}], "payoutRules": rules})
    };
    for (rules, field) in [
        (
            json!([{"type": "perCall", "amount": "-1.00", "currency": "USD"}]),
            "payoutRules[0].amount",
        ),
        (
            json!([{"type": "onConversion", "percent": 101, "currency": "USD"}]),
            "payoutRules[0].percent",
        ),
        (
            json!([{"type": "afterSeconds", "amount": 1, "currency": "USD"}]),
            "payoutRules[0].seconds",
        ),
        (
            json!([{"type": "perCall", "amount": 1, "currency": "EUR"}]),
            "payoutRules[0].currency",
        ),
        (
            json!([{"type": "perCall", "amount": 1, "percent": 5, "currency": "USD"}]),
            "payoutRules[0].amount",
        ),
        (
            json!([{"type": "perCall", "amount": 1, "currency": "USD", "publisherId": theirs}]),
            "payoutRules[0].publisherId",
        ),
        (
            json!([{"type": "perCall", "amount": 1, "currency": "USD", "publisherId": p[0]},
                   {"type": "perCall", "amount": 2, "currency": "USD", "publisherId": p[0]}]),
            "payoutRules[1].publisherId",
        ),
    ] {
        let (s, e) = c.post("/api/campaigns", &base(rules.clone())).await;
        assert_eq!(
            (s, fields(&e)),
            (422, vec![field.to_owned()]),
            "{rules}: {e}"
        );
    }
    let (s, e) = c
        .post(
            "/api/campaigns",
            &base(json!([{"type": "perDay", "amount": 1, "currency": "USD"}])),
        )
        .await;
    assert_eq!(s, 400, "an unknown type: {e}");
    assert_eq!(
        c.get("/api/campaigns").await.1["items"],
        json!([]),
        "nothing saved"
    );

    // A publisher named by a payout rule is not deleted.
    let camp = direct_campaign(
        &c,
        "+15550600302",
        &b,
        json!({"payoutRules": [{"type": "perCall", "amount": 1, "currency": "USD", "publisherId": p[0]}]}),
    )
    .await;
    let (s, e) = c.delete(&format!("/api/publishers/{}", p[0])).await;
    assert_eq!(s, 409);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains(camp["name"].as_str().unwrap()),
        "{e}"
    );
}

#[tokio::test]
async fn a_buyers_payout_is_now_revenue_and_the_old_name_is_deprecated() {
    let server = TestServer::start().await;
    let (c, _, _) = setup(&server, &[]).await;
    let body = json!({"name": "Old Client", "phoneNumber": "+15550600401", "timezone": "UTC", "payout": "30.50"});
    let (s, v, h) = c
        .send(reqwest::Method::POST, "/api/buyers", Some(&body), &[])
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!((&v["revenue"], v.get("payout")), (&json!(30.5), None));
    assert_eq!(
        h["deprecation"], "@1796256000",
        "RFC 9745: when it was deprecated"
    );
    let path = format!("/api/buyers/{}", id(&v));
    let (s, v, h) = c
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&json!({"payout": 31})),
            &[],
        )
        .await;
    assert_eq!((s, &v["revenue"]), (200, &json!(31.0)), "{v}");
    assert!(h.contains_key("deprecation"));
    let (s, v, h) = c
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&json!({"revenue": 32})),
            &[],
        )
        .await;
    assert_eq!((s, &v["revenue"]), (200, &json!(32.0)), "{v}");
    assert!(
        !h.contains_key("deprecation"),
        "the new name is not deprecated"
    );
    let (s, e) = c
        .put(&path, &json!({"name": "Old Client", "phoneNumber": "+15550600401", "timezone": "UTC", "payout": 1, "revenue": 2}))
        .await;
    assert_eq!((s, fields(&e)), (422, vec!["payout".to_owned()]), "{e}");
}

#[tokio::test]
async fn buyers_stored_with_a_payout_are_migrated_at_start_and_keep_booking_revenue() {
    use std::sync::Arc;
    use switchboard_model::{Campaign, RoutingPolicy, Tenant, new_id};
    use switchboard_store::{Doc, DocKind, EmbeddedStore, Store};

    // What an older release left in the store: a buyer whose per-call
    // amount is `payout`.
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let tenant = Tenant {
        id: new_id(),
        name: "Legacy".into(),
        twilio_account_sid: Some(common::ACCOUNT.into()),
        twilio_auth_token: common::TOKEN.into(),
        timezone: chrono_tz::Tz::UTC,
        publisher_sees_caller_numbers: false,
        version: 0,
        created_at: chrono::Utc::now(),
    };
    let buyer = new_id();
    let mut campaign = Campaign::direct(
        tenant.id,
        "legacy",
        "+15550600501".parse().unwrap(),
        RoutingPolicy::Priority,
        vec![switchboard_model::BuyerAssignment {
            buyer_id: buyer,
            priority: 1,
            weight: 1,
        }],
    );
    campaign.max_fallthrough = 0;
    for (kind, id, body) in [
        (
            DocKind::Tenant,
            tenant.id,
            serde_json::to_value(&tenant).unwrap(),
        ),
        (
            DocKind::Buyer,
            buyer,
            json!({"id": buyer, "tenantId": tenant.id, "name": "Acme", "phoneNumber": common::ACME,
                   "timezone": "America/New_York", "conversionSeconds": 60, "payout": 25.5, "currency": "USD"}),
        ),
        (
            DocKind::Campaign,
            campaign.id,
            serde_json::to_value(&campaign).unwrap(),
        ),
    ] {
        store
            .put_doc(
                Doc {
                    kind,
                    tenant: tenant.id,
                    id,
                    version: 0,
                    body,
                },
                None,
            )
            .await
            .unwrap();
    }

    let server = TestServer::start_on(dir, store.clone()).await;
    let doc = store
        .get_doc(DocKind::Buyer, tenant.id, buyer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (doc.body.get("payout"), &doc.body["revenue"], doc.version),
        (None, &json!(25.5), 2),
        "rewritten once, over the version read"
    );
    assert_eq!(server.engine.buyer(buyer).unwrap().revenue, 2550);

    let r = server.call("CAlegacy", "+15550600501").await;
    let call = r.call_id().unwrap_or_else(|| panic!("not dialed: {r:?}"));
    server
        .status(
            call,
            0,
            "CAlegacyleg",
            "CAlegacy",
            ("completed", 3, Some(61)),
        )
        .await;
    let rec = store.get_call(call).await.unwrap().unwrap();
    assert_eq!((rec.converted, rec.revenue_minor), (true, 2550), "{rec:?}");
}

#[tokio::test]
async fn an_adjustment_revises_an_ended_call_once_per_key_and_is_audited() {
    let server = TestServer::start().await;
    let (c, b, p) = setup(&server, &["Leads Co"]).await;
    campaign(
        &c,
        &b,
        "+15550600601",
        &p[0],
        json!([{"type": "onConversion", "percent": 40, "currency": "USD"}]),
    )
    .await;
    let call = play(&server, &c, "CAadjust", "+15550600601", 30).await;
    assert_eq!(money(&call), (0, 0, 0), "not converted on the phone");
    let path = format!("/api/calls/{}/adjustments", id(&call));
    let sale = json!({"converted": true, "revenue": "25.00", "payout": "10.00", "reason": "sale confirmed"});

    let post = |body: Value, key: &'static str| {
        let c = &c;
        let path = path.clone();
        async move {
            c.send(
                reqwest::Method::POST,
                &path,
                Some(&body),
                &[("Idempotency-Key", key)],
            )
            .await
        }
    };
    let (s, v, _) = post(sale.clone(), "k1").await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(money(&v), (2500, 1000, 1500));
    assert_eq!(v["converted"], true);
    assert_eq!(
        (
            v["adjustments"][0]["reason"].as_str(),
            v["adjustments"][0]["by"].as_str()
        ),
        (Some("sale confirmed"), Some("user:owner"))
    );
    // A retry changes nothing; the key for another change is a conflict.
    let (s, v, _) = post(sale.clone(), "k1").await;
    assert_eq!((s, v["adjustments"].as_array().unwrap().len()), (200, 1));
    let (s, _, _) = post(json!({"revenue": 1, "reason": "other"}), "k1").await;
    assert_eq!(s, 409);
    // A return, days later: revenue and payout back to nothing.
    let (s, v, _) = post(
        json!({"converted": false, "revenue": 0, "payout": 0, "reason": "returned"}),
        "k2",
    )
    .await;
    assert_eq!((s, money(&v)), (201, (0, 0, 0)));
    let (_, shown) = c.get(&format!("/api/calls/{}", id(&call))).await;
    assert_eq!(shown["adjustments"].as_array().unwrap().len(), 2, "{shown}");
    let (_, audit) = c.get("/api/audit?kind=call").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 2, "{audit}");
    assert_eq!(audit["items"][0]["detail"]["reason"], "returned");

    // Bad input, roles, tenants, and a call still going on.
    for (body, field) in [
        (json!({"revenue": "-1.00", "reason": "x"}), "revenue"),
        (json!({"revenue": 1, "reason": " "}), "reason"),
        (json!({"reason": "nothing"}), "converted"),
    ] {
        let (s, e, _) = post(body, "k3").await;
        assert_eq!((s, fields(&e)), (422, vec![field.to_owned()]), "{e}");
    }
    let manager = create(&c, "/api/api-keys", json!({"name": "m", "role": "manager"})).await;
    let manager = Console::with_key(&server.base, manager["key"].as_str().unwrap());
    assert_eq!(manager.post(&path, &sale).await.0, 403);
    let other = server.signup("Other Network", "olga").await;
    assert_eq!(other.post(&path, &sale).await.0, 404);
    let live = server.call("CAlive", "+15550600601").await;
    let (s, e) = c
        .post(
            &format!("/api/calls/{}/adjustments", live.call_id().unwrap()),
            &sale,
        )
        .await;
    assert_eq!(s, 409, "{e}");
}

#[tokio::test]
async fn a_repeat_caller_is_paid_only_where_the_rule_pays_duplicates() {
    let server = TestServer::start().await;
    let (c, b, p) = setup(&server, &["Leads Co"]).await;
    for (number, pay) in [("+15550600701", false), ("+15550600702", true)] {
        create(
            &c,
            "/api/numbers",
            json!({"phoneNumber": number, "publisherId": p[0]}),
        )
        .await;
        direct_campaign(
            &c,
            number,
            &b,
            json!({"duplicateWindowHours": 24, "payoutRules": [
                {"type": "perCall", "amount": 5, "currency": "USD", "payDuplicates": pay}]}),
        )
        .await;
    }
    for (number, paid) in [("+15550600701", 0), ("+15550600702", 500)] {
        let first = play(&server, &c, &format!("CAfirst{number}"), number, 10).await;
        assert_eq!(
            (first["duplicate"].as_bool(), money(&first).1),
            (Some(false), 500)
        );
        let again = play(&server, &c, &format!("CAagain{number}"), number, 10).await;
        assert_eq!(again["duplicate"], true, "{again}");
        assert_eq!(money(&again).1, paid, "{number}: {again}");
    }
}
