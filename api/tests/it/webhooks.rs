//! The webhooks end to end: the real server on 127.0.0.1:0 over an embedded
//! store, requests signed like Twilio's, outcomes a caller or a buyer notices.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use switchboard::twilio::signature;
use switchboard_model::{CallStatus, RoutingPolicy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_campaign_dials_acme_then_overflows_to_the_next_level() {
    let s = TestServer::start().await;
    let p = priority(&s.engine).await;

    let first = s.call("CAprio1", PRIORITY_NUMBER).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert!(first.content_type.starts_with("text/xml"), "{first:?}");
    assert!(
        first
            .body
            .starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial "#),
        "{}",
        first.body
    );
    assert_eq!(first.dialed().as_deref(), Some(ACME), "{}", first.body);
    assert_eq!(first.attempt(), Some(0));
    assert!(
        first.body.contains(&format!(r#"callerId="{CALLER}""#)),
        "{}",
        first.body
    );
    let id = first.call_id().expect("call id in the action URL");
    assert!(first.body.contains(&format!(
        r#"statusCallback="{}/api/webhooks/status?callId={id}&amp;attempt=0" statusCallbackEvent="initiated ringing answered completed""#,
        s.base
    )));

    let second = s.call("CAprio2", PRIORITY_NUMBER).await;
    assert_eq!(second.dialed().as_deref(), Some(ACME), "{}", second.body);
    // Acme's concurrency is 2: the next calls go to the priority-2 level.
    for sid in ["CAprio3", "CAprio4", "CAprio5"] {
        let r = s.call(sid, PRIORITY_NUMBER).await;
        let n = r.dialed().unwrap_or_else(|| panic!("no dial: {}", r.body));
        assert!(n == BETA || n == GAMMA, "{sid} dialed {n}");
    }
    let acme = s.engine.buyer_stats(p.acme.id).await.expect("acme stats");
    assert_eq!(acme.active, 2);
    let beta = s
        .engine
        .buyer_stats(p.beta.id)
        .await
        .expect("beta stats")
        .active;
    let gamma = s
        .engine
        .buyer_stats(p.gamma.id)
        .await
        .expect("gamma stats")
        .active;
    assert_eq!(beta + gamma, 3);

    let rec = s
        .store
        .get_call_by_sid("CAprio1")
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(rec.buyer_id, Some(p.acme.id));
    assert_eq!(rec.caller_state.as_deref(), Some("CA"));
    assert_eq!(rec.caller_zip.as_deref(), Some("94105"));
    assert_eq!(rec.campaign_id, p.campaign.id);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_or_missing_signature_is_refused_and_nothing_is_recorded() {
    let s = TestServer::start().await;
    let p = priority(&s.engine).await;
    let url = format!("{}/api/webhooks/voice", s.base);
    let params = voice("CAforged", PRIORITY_NUMBER);

    type Case = (&'static str, Option<String>, Vec<(String, String)>);
    let cases: Vec<Case> = vec![
        ("missing header", None, params.clone()),
        ("empty header", Some(String::new()), params.clone()),
        ("garbage", Some("not-a-signature".into()), params.clone()),
        (
            "wrong token",
            Some(signature::sign("other-token", &url, &params)),
            params.clone(),
        ),
        (
            "other url",
            Some(signature::sign(
                TOKEN,
                "https://elsewhere.example.com/api/webhooks/voice",
                &params,
            )),
            params.clone(),
        ),
        (
            "tampered param",
            Some(signature::sign(
                TOKEN,
                &url,
                &voice("CAforged", "+15550009999"),
            )),
            params.clone(),
        ),
        (
            "extra param",
            Some(signature::sign(TOKEN, &url, &params)),
            {
                let mut p = params.clone();
                p.push(("Extra".into(), "1".into()));
                p
            },
        ),
    ];
    for (what, sig, body) in cases {
        let r = post_form(
            &s.client,
            &s.base,
            "/api/webhooks/voice",
            &body,
            sig.as_deref(),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 403, "{what}: {r:?}");
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["error"]["code"], "invalid_signature", "{what}");
    }
    // A number and account nobody owns: refused before anything else.
    let mut stranger = voice("CAstranger", "+15550009999");
    stranger[1].1 = "ACnobody".into();
    let r = post_signed_with(&s.client, &s.base, TOKEN, "/api/webhooks/voice", &stranger)
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{r:?}");

    assert!(
        s.store.get_call_by_sid("CAforged").await.unwrap().is_none(),
        "a forged call was recorded"
    );
    assert!(
        s.store
            .get_call_by_sid("CAstranger")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.engine.buyer_stats(p.acme.id).await.unwrap().active,
        0,
        "a forged call took capacity"
    );
    assert!(s.store.scan_calls(None, 10).await.unwrap().is_empty());

    // The same request, signed properly, goes through.
    let ok = s.post("/api/webhooks/voice", &params).await;
    assert_eq!(ok.dialed().as_deref(), Some(ACME), "{ok:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_number_hears_not_in_service() {
    let s = TestServer::start().await;
    priority(&s.engine).await;
    let r = s.call("CAnowhere", "+15550009999").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body,
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>The number you have dialed is not in service.</Say><Hangup/></Response>"#
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_call_sid_gets_the_same_twiml_and_no_second_reservation() {
    let s = TestServer::start().await;
    let p = priority(&s.engine).await;
    let first = s.call("CAretry", PRIORITY_NUMBER).await;
    assert!(first.is_dial(), "{first:?}");
    for _ in 0..3 {
        let again = s.call("CAretry", PRIORITY_NUMBER).await;
        assert_eq!(again.status, 200);
        assert_eq!(again.body, first.body);
    }
    assert_eq!(s.engine.buyer_stats(p.acme.id).await.unwrap().active, 1);
    // Concurrent retries too.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let client = s.client.clone();
        let base = s.base.clone();
        set.spawn(async move {
            post_signed_with(
                &client,
                &base,
                TOKEN,
                "/api/webhooks/voice",
                &voice("CAretry2", PRIORITY_NUMBER),
            )
            .await
        });
    }
    let bodies: Vec<String> = set
        .join_all()
        .await
        .into_iter()
        .map(|r| r.unwrap().body)
        .collect();
    assert!(
        bodies
            .iter()
            .all(|b| b == &bodies[0] && b.contains("<Dial ")),
        "{bodies:?}"
    );
    assert_eq!(s.engine.buyer_stats(p.acme.id).await.unwrap().active, 2);
    let beta = s.engine.buyer_stats(p.beta.id).await.unwrap().active;
    let gamma = s.engine.buyer_stats(p.gamma.id).await.unwrap().active;
    assert_eq!(beta + gamma, 0, "a retry reserved a second buyer");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_falls_through_to_the_next_buyer_until_the_limit() {
    let s = TestServer::start().await;
    let t = tenant(&s.engine).await;
    let a = buyer(&s.engine, t.id, "A", "+15550003001", Some(5)).await;
    let b = buyer(&s.engine, t.id, "B", "+15550003002", Some(5)).await;
    let c = buyer(&s.engine, t.id, "C", "+15550003003", Some(5)).await;
    // One fall-through allowed: A, then B, then give up (C is never dialed).
    campaign(
        &s.engine,
        t.id,
        "+15550001100",
        RoutingPolicy::Priority,
        &[(&a, 1, 1), (&b, 2, 1), (&c, 3, 1)],
        1,
        false,
    )
    .await;

    let first = s.call("CAbusy", "+15550001100").await;
    assert_eq!(first.dialed().as_deref(), Some("+15550003001"), "{first:?}");
    let id = first.call_id().unwrap();

    let second = s.dial_status(id, 0, "busy", Some(0)).await;
    assert_eq!(second.status, 200, "{second:?}");
    assert_eq!(
        second.dialed().as_deref(),
        Some("+15550003002"),
        "{}",
        second.body
    );
    assert_eq!(second.attempt(), Some(1), "{}", second.body);
    assert_eq!(second.call_id(), Some(id));
    assert_eq!(
        s.engine.buyer_stats(a.id).await.unwrap().active,
        0,
        "busy buyer not released"
    );
    assert_eq!(s.engine.buyer_stats(b.id).await.unwrap().active, 1);

    // The busy action for attempt 0 delivered again changes nothing.
    let repeat = s.dial_status(id, 0, "busy", Some(0)).await;
    assert_eq!(repeat.body, second.body);

    let last = s.dial_status(id, 1, "no-answer", None).await;
    assert!(last.is_polite_rejection(), "{last:?}");
    for buyer in [&a, &b, &c] {
        assert_eq!(
            s.engine.buyer_stats(buyer.id).await.unwrap().active,
            0,
            "{}",
            buyer.name
        );
    }
    let rec = s.store.get_call_by_sid("CAbusy").await.unwrap().unwrap();
    assert_eq!(rec.status, CallStatus::NoAnswer);
    assert_eq!(rec.fallthroughs(), 1);
    assert!(rec.attempts.iter().all(|x| x.buyer_id != c.id));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_call_converts_and_books_revenue_once() {
    let s = TestServer::start().await;
    let p = priority(&s.engine).await;
    let r = s.call("CAconv", PRIORITY_NUMBER).await;
    let id = r.call_id().expect("dial");
    let leg = "CAconvleg";
    for (status, seq, dur) in [
        ("initiated", 0, None),
        ("ringing", 1, None),
        ("answered", 2, None),
    ] {
        assert_eq!(
            s.status(id, 0, leg, "CAconv", (status, seq, dur))
                .await
                .status,
            204
        );
    }
    let rec = s.store.get_call_by_sid("CAconv").await.unwrap().unwrap();
    assert!(rec.answered_at.is_some(), "answered not recorded: {rec:?}");
    // Completed, delivered twice, then a stale ringing.
    for _ in 0..2 {
        assert_eq!(
            s.status(id, 0, leg, "CAconv", ("completed", 3, Some(75)))
                .await
                .status,
            204
        );
    }
    assert_eq!(
        s.status(id, 0, leg, "CAconv", ("ringing", 1, None))
            .await
            .status,
        204
    );
    // Twilio then calls the Dial action; the call is over.
    let action = s.dial_status(id, 0, "completed", Some(75)).await;
    assert!(
        action.body.ends_with("<Response><Hangup/></Response>"),
        "{action:?}"
    );
    // And the inbound leg's own completion.
    assert_eq!(
        s.status(id, 0, "CAconv", "CAconv", ("completed", 4, Some(80)))
            .await
            .status,
        204
    );

    let rec = s.store.get_call_by_sid("CAconv").await.unwrap().unwrap();
    assert_eq!(rec.status, CallStatus::Completed, "{rec:?}");
    assert!(rec.converted);
    assert_eq!(rec.duration_seconds, 75);
    assert_eq!(
        rec.revenue_minor, 2500,
        "revenue booked more than once? {rec:?}"
    );
    assert_eq!(rec.currency.code(), "USD");
    assert!(rec.ended_at.is_some());
    assert_eq!(s.engine.buyer_stats(p.acme.id).await.unwrap().active, 0);

    // A short call does not convert.
    let r = s.call("CAshort", PRIORITY_NUMBER).await;
    let id = r.call_id().unwrap();
    s.status(id, 0, "CAshortleg", "CAshort", ("completed", 3, Some(59)))
        .await;
    let rec = s.store.get_call_by_sid("CAshort").await.unwrap().unwrap();
    assert!(!rec.converted);
    assert_eq!(rec.revenue_minor, 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_spreads_calls_evenly() {
    let s = TestServer::start().await;
    let t = tenant(&s.engine).await;
    let a = buyer(&s.engine, t.id, "A", "+15550004001", Some(2)).await;
    let b = buyer(&s.engine, t.id, "B", "+15550004002", Some(5)).await;
    let c = buyer(&s.engine, t.id, "C", "+15550004003", Some(5)).await;
    campaign(
        &s.engine,
        t.id,
        "+15550001001",
        RoutingPolicy::RoundRobin,
        &[(&a, 1, 1), (&b, 1, 1), (&c, 1, 1)],
        3,
        false,
    )
    .await;
    let mut counts: HashMap<String, u32> = HashMap::new();
    for i in 0..30 {
        let sid = format!("CArr{i:02}");
        let r = s.call(&sid, "+15550001001").await;
        let n = r
            .dialed()
            .unwrap_or_else(|| panic!("call {i} not dialed: {}", r.body));
        *counts.entry(n).or_default() += 1;
        // Release the buyer so caps do not interfere.
        let id = r.call_id().unwrap();
        let done = s
            .status(
                id,
                0,
                &format!("{sid}leg"),
                &sid,
                ("completed", 1, Some(10)),
            )
            .await;
        assert_eq!(done.status, 204, "{done:?}");
    }
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(counts.values().all(|&n| n == 10), "{counts:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_simultaneous_calls_never_exceed_concurrency_two() {
    let s = TestServer::start().await;
    let t = tenant(&s.engine).await;
    let only = buyer(&s.engine, t.id, "Only", "+15550005001", Some(2)).await;
    campaign(
        &s.engine,
        t.id,
        "+15550001200",
        RoutingPolicy::Priority,
        &[(&only, 1, 1)],
        3,
        false,
    )
    .await;

    let mut set = tokio::task::JoinSet::new();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(300));
    for i in 0..300 {
        let client = s.client.clone();
        let base = s.base.clone();
        let barrier = barrier.clone();
        set.spawn(async move {
            let sid = format!("CAconc{i:03}");
            barrier.wait().await;
            post_signed_with(
                &client,
                &base,
                TOKEN,
                "/api/webhooks/voice",
                &voice(&sid, "+15550001200"),
            )
            .await
        });
    }
    let replies: Vec<Reply> = set
        .join_all()
        .await
        .into_iter()
        .map(|r| r.expect("request"))
        .collect();
    let dials = replies.iter().filter(|r| r.is_dial()).count();
    let polite = replies.iter().filter(|r| r.is_polite_rejection()).count();
    let other: Vec<_> = replies
        .iter()
        .filter(|r| !r.is_dial() && !r.is_polite_rejection())
        .take(3)
        .collect();
    assert_eq!(dials, 2, "dialed {dials} times");
    assert_eq!(polite, 298, "unexpected answers: {other:?}");
    assert_eq!(s.engine.buyer_stats(only.id).await.unwrap().active, 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_callback_stores_the_url() {
    let s = TestServer::start().await;
    let t = tenant(&s.engine).await;
    let a = buyer(&s.engine, t.id, "A", "+15550006001", None).await;
    campaign(
        &s.engine,
        t.id,
        "+15550001300",
        RoutingPolicy::Priority,
        &[(&a, 1, 1)],
        3,
        true,
    )
    .await;
    let r = s.call("CArec", "+15550001300").await;
    let id = r.call_id().unwrap();
    assert!(
        r.body.contains(r#"record="record-from-answer-dual""#),
        "{}",
        r.body
    );
    assert!(r.body.contains(&format!(
        r#"recordingStatusCallback="{}/api/webhooks/recording/{id}""#,
        s.base
    )));
    let url = "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1";
    let p = pairs(&[
        ("RecordingUrl", url),
        ("RecordingSid", "RE1"),
        ("RecordingStatus", "completed"),
    ]);
    let done = s.post(&format!("/api/webhooks/recording/{id}"), &p).await;
    assert_eq!(done.status, 204, "{done:?}");
    let rec = s.store.get_call_by_sid("CArec").await.unwrap().unwrap();
    assert_eq!(rec.recording_url.as_deref(), Some(url));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_not_panics() {
    let s = TestServer::start().await;
    priority(&s.engine).await;
    // Signed, but CallSid missing.
    let mut p = voice("CAx", PRIORITY_NUMBER);
    p.remove(0);
    let r = s.post("/api/webhooks/voice", &p).await;
    assert_eq!(r.status, 400, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["error"]["code"], "bad_request");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("CallSid"),
        "{v}"
    );
    // Too large.
    let mut big = voice("CAbig", PRIORITY_NUMBER);
    big.push(("Padding".into(), "x".repeat(70 * 1024)));
    let r = s.post("/api/webhooks/voice", &big).await;
    assert_eq!(r.status, 413, "{r:?}");
    // Unknown or malformed call ids.
    let unknown = switchboard_model::new_id();
    let r = s.dial_status(unknown, 0, "busy", None).await;
    assert_eq!(r.status, 404, "{r:?}");
    let r = s
        .post(
            "/api/webhooks/dial-status/not-an-id",
            &pairs(&[("DialCallStatus", "busy")]),
        )
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    let r = s
        .post(
            "/api/webhooks/status?callId=zzz",
            &pairs(&[("CallSid", "CA1"), ("CallStatus", "completed")]),
        )
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    // Binary garbage.
    let r = s
        .client
        .post(format!("{}/api/webhooks/voice", s.base))
        .body(vec![0u8, 159, 146, 150, b'=', b'&'])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // A dialed call's action with an unknown status word.
    let call = s.call("CAword", PRIORITY_NUMBER).await;
    let id = call.call_id().unwrap();
    let r = s
        .post(
            &format!("/api/webhooks/dial-status/{id}?attempt=0"),
            &pairs(&[("DialCallStatus", "exploded")]),
        )
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let s = TestServer::start().await;
    priority(&s.engine).await;
    assert_eq!(s.get("/healthz").await, (200, "ok".to_owned()));
    assert_eq!(s.get("/readyz").await.0, 200);
    assert!(s.call("CAmetrics1", PRIORITY_NUMBER).await.is_dial());
    assert!(!s.call("CAmetrics2", "+15550009999").await.is_dial());
    let _ = post_form(
        &s.client,
        &s.base,
        "/api/webhooks/voice",
        &voice("CAm3", PRIORITY_NUMBER),
        None,
    )
    .await
    .unwrap();
    // Some series are emitted after the answer (the recorder's): wait for ours.
    periodic_check(
        || {
            let (client, base) = (s.client.clone(), s.base.clone());
            async move {
                let text = client
                    .get(format!("{base}/metrics"))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                text.contains("switchboard_calls_routed_total")
                    && text.contains(r#"switchboard_calls_rejected_total{reason="not-in-service"}"#)
            }
        },
        Duration::from_secs(5),
    )
    .await;
    let text = s.get("/metrics").await.1;
    assert!(
        text.contains(r#"switchboard_webhooks_total{route="/api/webhooks/voice",status="200"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"switchboard_webhooks_total{route="/api/webhooks/voice",status="403"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"switchboard_signature_failures_total{route="/api/webhooks/voice"}"#),
        "{text}"
    );
    assert!(
        text.contains("switchboard_routing_decision_seconds_bucket"),
        "histogram buckets missing:\n{text}"
    );
    // Labels never carry ids or numbers.
    assert!(
        !text.contains("CAmetrics") && !text.contains("+1555"),
        "{text}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_the_public_url_is_what_is_signed() {
    let s = TestServer::start_behind(Some("https://calls.example.com/")).await;
    priority(&s.engine).await;
    // Signed for the public URL (as Twilio does), received on the local address.
    let r = s.call("CAproxy1", PRIORITY_NUMBER).await;
    assert!(r.is_dial(), "{r:?}");
    // Callback URLs in the TwiML point at the public URL too.
    let id = r.call_id().unwrap();
    assert!(
        r.body.contains(&format!(
            r#"action="https://calls.example.com/api/webhooks/dial-status/{id}?attempt=0""#
        )),
        "{}",
        r.body
    );
    // Twilio may sign with the default port spelled out.
    let params = voice("CAproxy2", PRIORITY_NUMBER);
    let sig = signature::sign(
        TOKEN,
        "https://calls.example.com:443/api/webhooks/voice",
        &params,
    );
    let r = post_form(
        &s.client,
        &s.base,
        "/api/webhooks/voice",
        &params,
        Some(&sig),
    )
    .await
    .unwrap();
    assert!(r.is_dial(), "{r:?}");
    // Signed for the address the server sees: not what Twilio would sign.
    let r = post_signed_with(
        &s.client,
        &s.base,
        TOKEN,
        "/api/webhooks/voice",
        &voice("CAproxy3", PRIORITY_NUMBER),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403, "{r:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_hanging_up_while_ringing_releases_the_buyer() {
    let s = TestServer::start().await;
    let p = priority(&s.engine).await;
    let r = s.call("CAhangup", PRIORITY_NUMBER).await;
    assert!(r.is_dial(), "{r:?}");
    assert_eq!(s.engine.buyer_stats(p.acme.id).await.unwrap().active, 1);
    // The inbound call's own status callback, as configured on the number: no query.
    let params = pairs(&[
        ("CallSid", "CAhangup"),
        ("AccountSid", ACCOUNT),
        ("CallStatus", "canceled"),
    ]);
    let done = s.post("/api/webhooks/status", &params).await;
    assert_eq!(done.status, 204, "{done:?}");
    assert_eq!(s.engine.buyer_stats(p.acme.id).await.unwrap().active, 0);
    let rec = s.store.get_call_by_sid("CAhangup").await.unwrap().unwrap();
    assert!(rec.ended_at.is_some(), "{rec:?}");
    // An unknown route answers in the same JSON shape.
    let (status, body) = s.get("/api/nope").await;
    assert_eq!(status, 404);
    assert!(body.contains(r#""code":"not_found""#), "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_in_flight_limit_webhooks_are_shed_with_503_and_nothing_is_recorded() {
    let s = TestServer::start().await;
    priority(&s.engine).await;
    // Every slot busy, as if that many webhooks were being handled right now.
    let held = s
        .webhook_slots
        .clone()
        .acquire_many_owned(switchboard::server::MAX_IN_FLIGHT_WEBHOOKS as u32)
        .await
        .unwrap();
    let r = s.call("CAshed", PRIORITY_NUMBER).await;
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.body.contains("\"overloaded\""), "{}", r.body);
    assert!(s.store.get_call_by_sid("CAshed").await.unwrap().is_none());
    drop(held);
    // Twilio's retry is routed as usual.
    let r = s.call("CAshed", PRIORITY_NUMBER).await;
    assert!(r.is_dial(), "{r:?}");
    let (_, metrics) = s.get("/metrics").await;
    assert!(
        metrics.contains("switchboard_webhooks_shed_total 1"),
        "{metrics}"
    );
    s.stop().await;
}

/// An auth token, a URL and form pairs in the order sent.
type SigningCase<'a> = (&'a str, &'a str, Vec<(String, String)>);

/// The official `twilio` Python library's `RequestValidator`, run in
/// `python3`: the signature Twilio's own code computes, for each case of
/// (auth token, URL, form pairs in the order sent). `None` when python3 or
/// the package is missing (`pip install twilio==9.13.0`; `scripts/test.sh`
/// installs it).
fn twilio_library_signatures(cases: &[SigningCase<'_>]) -> Option<Vec<String>> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    const SCRIPT: &str = r#"
import json, sys
from twilio.request_validator import RequestValidator
class Form(dict):
    """A multi-valued form, as Django's QueryDict: the library reads getlist."""
    def getlist(self, name):
        return self[name]
out = []
for case in json.load(sys.stdin):
    form = Form()
    for name, value in case["params"]:
        form.setdefault(name, []).append(value)
    out.append(RequestValidator(case["token"]).compute_signature(case["url"], form))
print(json.dumps(out))
"#;
    let available = Command::new("python3")
        .args(["-c", "import twilio.request_validator"])
        .stderr(Stdio::null())
        .status();
    if !available.is_ok_and(|s| s.success()) {
        return None;
    }
    let input: Vec<serde_json::Value> =
        cases.iter().map(|(token, url, params)| serde_json::json!({"token": token, "url": url, "params": params})).collect();
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("python3 output");
    assert!(out.status.success(), "the twilio library failed");
    Some(serde_json::from_slice(&out.stdout).expect("signatures as JSON"))
}

#[tokio::test]
async fn repeated_form_parameters_are_signed_as_the_official_twilio_library_signs_them() {
    let s = TestServer::start().await;
    priority(&s.engine).await;
    let url = format!("{}/api/webhooks/voice", s.public);
    let body = |sid: &str, extra: &[(&str, &str)]| {
        let mut p = voice(sid, PRIORITY_NUMBER);
        p.extend(pairs(extra));
        p
    };
    // Repeated names in any order, a value sent twice, non-ASCII values (code point order).
    let bodies = [
        body("CAdup1", &[("Tag", "b"), ("Tag", "a"), ("Tag", "b")]),
        body(
            "CAdup2",
            &[
                ("StirVerstat", "TN-Validation-Passed-A"),
                ("AddOns", "z"),
                ("StirVerstat", "TN-Validation-Passed-A"),
                ("AddOns", "a"),
            ],
        ),
        body(
            "CAdup3",
            &[("Note", "é"), ("Note", "z"), ("Note", "É"), ("Note", "e")],
        ),
    ];
    let documented = pairs(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]);
    let mut cases: Vec<SigningCase<'_>> = bodies
        .iter()
        .map(|b| (TOKEN, url.as_str(), b.clone()))
        .collect();
    cases.push((
        "12345",
        "https://mycompany.com/myapp.php?foo=1&bar=2",
        documented,
    ));
    let Some(signatures) = twilio_library_signatures(&cases) else {
        eprintln!("SKIPPED: twilio python package not installed (pip install twilio==9.13.0)");
        return;
    };
    // The oracle agrees with Twilio's documented test vector.
    assert_eq!(signatures[3], "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    for (params, sig) in bodies.iter().zip(&signatures) {
        assert_eq!(signature::sign(TOKEN, &url, params), *sig, "{params:?}");
        let r = post_form(&s.client, &s.base, "/api/webhooks/voice", params, Some(sig))
            .await
            .unwrap();
        assert!(
            r.status == 200 && r.is_dial(),
            "the library's signature was refused for {params:?}: {r:?}"
        );
    }
    s.stop().await;
}
