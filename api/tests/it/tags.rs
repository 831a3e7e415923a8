//! Call tags and tag routing on the real server: a call's tags come from
//! Twilio's caller fields and the campaign's fixed tags; buyers with
//! filters take only the calls their filters match, the others are listed
//! in the call's `skipped` with why; bad filters are a 422 naming them.

use crate::common;

use common::{Tenancy, fields, sign_up};
use serde_json::{Value, json};

async fn created(t: &Tenancy, path: &str, body: Value) -> Value {
    t.console.created(path, body).await
}

/// A signed voice webhook of `t`'s account for a caller in Fresno, CA.
async fn call(server: &common::TestServer, t: &Tenancy, sid: &str, to: &str) -> common::Reply {
    let fresno = [
        ("FromCity", "FRESNO"),
        ("FromState", "CA"),
        ("FromZip", "93650"),
        ("FromCountry", "US"),
    ];
    t.voice(server, sid, "+15595550100", to, &fresno).await
}

#[tokio::test]
async fn a_tagged_call_goes_only_to_buyers_whose_filters_match_and_the_rest_are_listed_as_skipped()
{
    let server = common::TestServer::start().await;
    let t = sign_up(&server, "Skills").await;
    // First in line, but English only; then a Spanish speaker who takes only
    // Californian callers; then one that takes anyone but Californians.
    let english = created(
        &t,
        "/api/buyers",
        json!({"name": "English", "phoneNumber": "+15550002001", "timezone": "UTC",
        "filters": [{"tag": "language", "op": "eq", "values": ["en"]}]}),
    )
    .await;
    let spanish = created(&t, "/api/buyers", json!({"name": "Spanish", "phoneNumber": "+15550002002", "timezone": "UTC",
        "filters": [{"tag": "language", "op": "in", "values": ["es", "pt"]}, {"tag": "callerState", "op": "eq", "values": ["ca"]}]})).await;
    let elsewhere = created(
        &t,
        "/api/buyers",
        json!({"name": "Elsewhere", "phoneNumber": "+15550002003", "timezone": "UTC",
        "filters": [{"tag": "callerState", "op": "notIn", "values": ["CA"]}]}),
    )
    .await;
    let buyers = json!([
        {"buyerId": english["id"], "priority": 1},
        {"buyerId": spanish["id"], "priority": 2},
        {"buyerId": elsewhere["id"], "priority": 3},
    ]);
    created(
        &t,
        "/api/campaigns",
        json!({"name": "Spanish line", "status": "active", "phoneNumber": "+15550007001",
        "buyers": buyers, "tags": {"language": "es", "vertical": "insurance"}}),
    )
    .await;
    created(
        &t,
        "/api/campaigns",
        json!({"name": "English line", "status": "active", "phoneNumber": "+15550007002",
        "buyers": buyers, "tags": {"language": "en"}}),
    )
    .await;

    let es = call(&server, &t, "CAtags1", "+15550007001").await;
    assert_eq!(es.dialed().as_deref(), Some("+15550002002"), "{es:?}");
    let (s, record) = t
        .console
        .get(&format!("/api/calls/{}", es.call_id().unwrap()))
        .await;
    assert_eq!(s, 200, "{record}");
    assert_eq!(
        record["tags"],
        json!({"callerCity": "FRESNO", "callerCountry": "US", "callerState": "CA", "callerZip": "93650",
               "language": "es", "vertical": "insurance"}),
        "the carrier's caller fields and the campaign's fixed tags"
    );
    assert_eq!(
        record["skipped"],
        json!([{"buyerId": english["id"], "reason": "filtered"}])
    );
    assert_eq!(record["attempts"].as_array().unwrap().len(), 1);

    // English: the first buyer takes it, nobody is skipped.
    let en = call(&server, &t, "CAtags2", "+15550007002").await;
    assert_eq!(en.dialed().as_deref(), Some("+15550002001"), "{en:?}");
    let (_, record) = t
        .console
        .get(&format!("/api/calls/{}", en.call_id().unwrap()))
        .await;
    assert_eq!(record["skipped"], json!([]));

    // Nobody speaks German to Californians: rejected, with every buyer's reason.
    let (s, _) = t
        .console
        .post(
            "/api/campaigns",
            &json!({"name": "German line", "status": "active", "phoneNumber": "+15550007003",
                "buyers": buyers, "tags": {"language": "de"}}),
        )
        .await;
    assert_eq!(s, 201);
    let de = call(&server, &t, "CAtags3", "+15550007003").await;
    assert!(!de.is_dial(), "{de:?}");
    let (_, calls) = t.console.get("/api/calls?limit=10").await;
    let rejected = calls["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["callSid"] == "CAtags3")
        .expect("the rejected call is recorded")
        .clone();
    assert_eq!(
        (&rejected["status"], &rejected["rejectReason"]),
        (&json!("rejected"), &json!("no-buyer-available"))
    );
    assert_eq!(
        rejected["skipped"],
        json!([
            {"buyerId": english["id"], "reason": "filtered"},
            {"buyerId": spanish["id"], "reason": "filtered"},
            {"buyerId": elsewhere["id"], "reason": "filtered"},
        ])
    );
}

#[tokio::test]
async fn a_bad_filter_is_a_422_naming_it_on_buyers_and_rtb_targets() {
    let server = common::TestServer::start().await;
    let t = sign_up(&server, "Filters").await;
    let (s, v) = t
        .console
        .post(
            "/api/buyers",
            &json!({"name": "B", "phoneNumber": "+15550002001", "timezone": "UTC",
                "filters": [{"tag": "language", "op": "like", "values": ["es"]},
                            {"tag": "age", "op": "gt", "values": ["old"]}]}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(fields(&v), ["filters[0].op", "filters[1].values"], "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("like")
            || v.to_string().contains("unknown operator \\\"like\\\""),
        "{v}"
    );

    let (s, v) = t
        .console
        .post(
            "/api/rtb/targets",
            &json!({"name": "T", "endpointUrl": "https://bidder.example/bid", "httpMethod": "POST",
                "contentType": "json", "requestBody": "{\"caller\": \"{callerId}\"}", "timeoutMs": 500,
                "bidAmountPath": "bid", "destinationNumberPath": "phone", "minBidAmount": 1, "maxBidAmount": 40,
                "timezone": "UTC", "filters": [{"tag": "", "op": "exists"}]}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(fields(&v), ["filters[0].tag"], "{v}");

    // A good one is kept as sent.
    let (s, b) = t
        .console
        .post(
            "/api/buyers",
            &json!({"name": "B", "phoneNumber": "+15550002001", "timezone": "UTC",
                "filters": [{"tag": "age", "op": "gt", "values": ["17"]}]}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        b["filters"],
        json!([{"tag": "age", "op": "gt", "values": ["17"]}])
    );
}
