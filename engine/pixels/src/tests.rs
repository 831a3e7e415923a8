use chrono::TimeZone;
use switchboard_model::Id;

use super::*;

fn call() -> CallRecord {
    serde_json::from_value(serde_json::json!({
        "id": Id::from_u128(7), "callSid": "CA1", "tenantId": Id::from_u128(1),
        "campaignId": Id::from_u128(2), "from": "+1 555&x=1", "to": "+15550001000",
        "status": "completed", "buyerId": Id::from_u128(3), "attempts": [],
        "startedAt": "2026-12-01T10:00:00Z", "durationSeconds": 95, "converted": true,
        "revenueMinor": 2550, "payoutMinor": 1000, "profitMinor": 1550, "currency": "USD",
        "tags": {"utmSource": "google ads", "clickId": "c\"1"}
    }))
    .unwrap()
}

fn pixel(v: serde_json::Value) -> Pixel {
    let mut base =
        serde_json::json!({"name": "p", "events": ["converted"], "url": "https://t.example/pb"});
    for (k, x) in v.as_object().unwrap() {
        base[k] = x.clone();
    }
    serde_json::from_value(base).unwrap()
}

fn facts(call: &CallRecord) -> Facts<'_> {
    Facts {
        event: EventKind::Converted,
        call,
        campaign_name: "Solar",
        buyer_name: "Acme",
        publisher_sub_id: "",
        now: Utc.with_ymd_and_hms(2026, 12, 1, 10, 5, 0).unwrap(),
    }
}

#[test]
fn url_values_are_percent_encoded_and_amounts_are_decimals() {
    let c = call();
    let p = pixel(serde_json::json!({
        "url": "https://t.example/pb?caller={callerId}&amount={revenue}&src={utmSource}&click={tag:clickId}&e={event}&n={callerIdNoPlus}"
    }));
    assert!(check(&p, false).is_empty());
    let r = render(&p, &facts(&c)).unwrap();
    assert_eq!(
        r.url,
        "https://t.example/pb?caller=%2B1%20555%26x%3D1&amount=25.50&src=google%20ads&click=c%221&e=converted&n=1%20555%26x%3D1"
    );
    assert_eq!((r.method, r.body.as_str()), (PixelMethod::Get, ""));
}

#[test]
fn json_and_form_bodies_escape_their_own_way_and_no_body_sends_the_call() {
    let c = call();
    let p = pixel(serde_json::json!({
        "method": "POST", "body": r#"{"caller": "{callerId}", "amount": {revenue}, "buyer": {buyerName}}"#,
        "headers": {"X-Campaign": "{campaignName}"}
    }));
    assert!(check(&p, false).is_empty());
    let r = render(&p, &facts(&c)).unwrap();
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"caller": "+1 555&x=1", "amount": 25.5, "buyer": "Acme"})
    );
    assert!(r.headers.contains(&("X-Campaign".into(), "Solar".into())));
    assert!(
        r.headers
            .contains(&("Content-Type".into(), "application/json".into()))
    );

    let form = pixel(
        serde_json::json!({"method": "POST", "contentType": "application/x-www-form-urlencoded", "body": "caller={callerId}&dur={durationSeconds}"}),
    );
    assert_eq!(
        render(&form, &facts(&c)).unwrap().body,
        "caller=%2B1+555%26x%3D1&dur=95"
    );

    let whole = pixel(serde_json::json!({"method": "PUT"}));
    let body: serde_json::Value =
        serde_json::from_str(&render(&whole, &facts(&c)).unwrap().body).unwrap();
    assert_eq!(
        (body["event"].as_str(), body["callSid"].as_str()),
        (Some("converted"), Some("CA1"))
    );
    assert_eq!(body["revenueMinor"], 2550);
}

#[test]
fn saving_names_unknown_tokens_bad_json_bad_urls_and_private_hosts() {
    let fields = |p: &Pixel, private: bool| {
        check(p, private)
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect::<Vec<_>>()
    };
    let bad = pixel(
        serde_json::json!({"url": "https://t.example/{callerID}", "headers": {"X-A": "{nope}"}, "method": "POST", "body": "{\"a\": {bogus}}"}),
    );
    let f = fields(&bad, false);
    assert_eq!(
        f.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["url", "headers.X-A", "body"]
    );
    assert!(
        f[0].1.contains("{callerID}") && f[0].1.contains("{callerIdNoPlus}"),
        "{}",
        f[0].1
    );
    let not_json = pixel(serde_json::json!({"method": "POST", "body": "{\"a\": \"{callId}\",}"}));
    assert_eq!(fields(&not_json, false)[0].0, "body");
    let private = pixel(serde_json::json!({"url": "http://169.254.169.254/latest?c={callId}"}));
    assert!(fields(&private, false)[0].1.contains("169.254.169.254"));
    assert!(fields(&private, true).is_empty());
    let loopback = pixel(serde_json::json!({"url": "http://[::1]:8080/x"}));
    assert_eq!(fields(&loopback, false).len(), 1);
    assert_eq!(
        fields(
            &pixel(serde_json::json!({"url": "https://exa mple.com/x"})),
            false
        )[0]
        .0,
        "url"
    );
}

#[test]
fn a_pixel_fires_on_its_events_campaigns_buyers_and_filters() {
    let c = call();
    let mut p = pixel(
        serde_json::json!({"filters": [{"tag": "utmSource", "op": "prefix", "values": ["google"]}]}),
    );
    assert!(fires(&p, EventKind::Converted, &c));
    assert!(!fires(&p, EventKind::Completed, &c));
    p.filters = serde_json::from_value(serde_json::json!([{"tag": "buyerId", "op": "eq", "values": [Id::from_u128(3).to_string()]}])).unwrap();
    assert!(fires(&p, EventKind::Converted, &c));
    p.filters = serde_json::from_value(
        serde_json::json!([{"tag": "publisherId", "op": "exists", "values": []}]),
    )
    .unwrap();
    assert!(
        !fires(&p, EventKind::Converted, &c),
        "the call has no publisher"
    );
    p.filters.clear();
    p.campaign_ids = vec![Id::from_u128(9)];
    assert!(!fires(&p, EventKind::Converted, &c));
}

#[test]
fn answers_decide_retries_and_the_wait_doubles_with_jitter() {
    assert_eq!(verdict(Some(204), None), Verdict::Delivered);
    assert_eq!(verdict(Some(500), None), Verdict::Retry(None));
    assert_eq!(verdict(None, None), Verdict::Retry(None));
    assert_eq!(verdict(Some(408), None), Verdict::Retry(None));
    assert_eq!(
        verdict(Some(429), Some(30)),
        Verdict::Retry(Some(Duration::from_secs(30)))
    );
    assert_eq!(verdict(Some(410), None), Verdict::Final);
    assert_eq!(backoff(1, 0.999, None).unwrap().as_millis(), 999);
    assert_eq!(backoff(2, 0.5, None), Some(Duration::from_secs(1)));
    assert_eq!(backoff(4, 1.0, None), Some(Duration::from_secs(8)));
    assert_eq!(backoff(1, 0.0, None), Some(Duration::from_millis(100)));
    assert_eq!(
        backoff(1, 0.5, Some(Duration::from_secs(30))),
        Some(Duration::from_secs(30))
    );
    assert_eq!(backoff(11, 1.0, None), Some(Duration::from_secs(1024)));
    assert_eq!(backoff(MAX_ATTEMPTS, 0.5, None), None);
}

#[test]
fn the_signature_is_hmac_sha256_of_time_dot_payload_with_both_secrets_while_rotating() {
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    let one = SigningSecrets {
        current: "whsec_test".into(),
        previous: None,
    };
    // openssl: printf '1796083200.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
    assert_eq!(
        signature(&one, now, r#"{"a":1}"#),
        "t=1796083200,v1=30a6aaca026633d2c4d4b4aa2024f93a25d206efb2369443d68af2e70b5ed219"
    );
    let rotating = SigningSecrets {
        current: "new".into(),
        previous: Some(("whsec_test".into(), now + chrono::Duration::hours(24))),
    };
    let s = signature(&rotating, now, r#"{"a":1}"#);
    assert_eq!(s.matches("v1=").count(), 2);
    assert!(
        s.ends_with(
            signature(&one, now, r#"{"a":1}"#)
                .split(",v1=")
                .nth(1)
                .unwrap()
        )
    );
    assert_eq!(
        signature(&rotating, now + chrono::Duration::hours(25), "x")
            .matches("v1=")
            .count(),
        1
    );
}
