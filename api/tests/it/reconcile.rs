//! The reconciler end to end: calls routed through signed webhooks whose
//! final status callback never comes, the real server on 127.0.0.1:0 with
//! its reconciler pointed at `FakeTwilio` (a fake of Twilio's REST API,
//! `common/fake_twilio.rs`), small ages so a test takes a second.

use crate::common;

use std::time::Duration;

use common::fake_twilio::FakeTwilio;
use common::{ACCOUNT, ACME, BETA, PRIORITY_NUMBER, TestServer, periodic_check};
use switchboard::twilio::rest::TwilioRest;
use switchboard_engine::ReconcileSettings;
use switchboard_model::{AttemptOutcome, Buyer, CallRecord, CallStatus, Id, RoutingPolicy};

/// Acme (concurrency 1) first, Beta behind it; both pay 25.00 after 60 s.
struct Setup {
    server: TestServer,
    fake: FakeTwilio,
    acme: Buyer,
}

async fn start() -> Setup {
    let fake = FakeTwilio::start().await;
    let server = TestServer::start().await;
    let tenant = common::tenant(&server.engine).await;
    let acme = common::buyer(&server.engine, tenant.id, "Acme", ACME, Some(1)).await;
    let beta = common::buyer(&server.engine, tenant.id, "Beta", BETA, Some(5)).await;
    common::campaign(
        &server.engine,
        tenant.id,
        PRIORITY_NUMBER,
        RoutingPolicy::Priority,
        &[(&acme, 1, 1), (&beta, 2, 1)],
        1,
        false,
    )
    .await;
    let settings = ReconcileSettings {
        after: Duration::from_millis(300),
        every: Duration::from_millis(50),
    };
    switchboard::reconcile::start(&server.engine, TwilioRest::new(&fake.base), settings);
    Setup { server, fake, acme }
}

/// Places call `sid` to the campaign; returns our call id and the number dialed.
async fn place(server: &TestServer, sid: &str) -> (Id, String) {
    let r = server.call(sid, PRIORITY_NUMBER).await;
    assert!(r.is_dial(), "{r:?}");
    (r.call_id().unwrap(), r.dialed().unwrap())
}

async fn record(server: &TestServer, id: Id) -> CallRecord {
    server
        .store
        .get_call(id)
        .await
        .unwrap()
        .expect("the call is stored")
}

async fn active(server: &TestServer, buyer: Id) -> u32 {
    server
        .engine
        .buyer_stats(buyer)
        .await
        .expect("buyer stats")
        .active
}

/// A counter's value on `/metrics` (0 when absent).
async fn metric(server: &TestServer, series: &str) -> f64 {
    let (_, text) = server.get("/metrics").await;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// What a user reads of a booked call.
fn booked(r: &CallRecord) -> (CallStatus, u32, bool, i64, AttemptOutcome, bool, bool) {
    let a = &r.attempts[0];
    (
        r.status,
        r.duration_seconds,
        r.converted,
        r.revenue_minor,
        a.outcome,
        a.released,
        r.answered_at.is_some(),
    )
}

#[tokio::test]
async fn a_lost_final_callback_is_booked_from_twilio_and_frees_the_buyer() {
    let Setup { server, fake, acme } = start().await;
    // Twilio knows the first call and its leg to Acme as up.
    fake.set_call(ACCOUNT, "CA1", None, PRIORITY_NUMBER, "in-progress", None);
    fake.set_call(ACCOUNT, "CA1leg", Some("CA1"), ACME, "in-progress", None);
    fake.set_call(ACCOUNT, "CA2", None, PRIORITY_NUMBER, "in-progress", None);
    let (first, number) = place(&server, "CA1").await;
    assert_eq!(number, ACME);
    // Acme's one slot is held: the next call goes to Beta.
    let (second, number) = place(&server, "CA2").await;
    assert_eq!(number, BETA);
    // The second call's callbacks come, as they should: the reference booking.
    fake.set_call(ACCOUNT, "CA2leg", Some("CA2"), BETA, "completed", Some(120));
    assert_eq!(
        server
            .status(second, 0, "CA2leg", "CA2", ("completed", 3, Some(120)))
            .await
            .status,
        204
    );

    // The first call ends at Twilio; its final callback is lost.
    fake.set_call(ACCOUNT, "CA1leg", Some("CA1"), ACME, "completed", Some(120));
    fake.set_call(
        ACCOUNT,
        "CA1",
        None,
        PRIORITY_NUMBER,
        "completed",
        Some(130),
    );
    periodic_check(
        || async { record(&server, first).await.status == CallStatus::Completed },
        Duration::from_secs(10),
    )
    .await;

    // Booked as the callback would have: the same figures as the reference call.
    let (reconciled, reference) = (record(&server, first).await, record(&server, second).await);
    assert_eq!(
        booked(&reconciled),
        (
            CallStatus::Completed,
            120,
            true,
            2500,
            AttemptOutcome::Completed,
            true,
            true
        )
    );
    assert_eq!(booked(&reconciled), booked(&reference));
    assert_eq!(
        reconciled.attempts[0].dial_call_sid.as_deref(),
        Some("CA1leg")
    );
    // The leg was found among the calls the inbound call dialed, with the tenant's credentials.
    assert!(fake.call_requests().iter().any(|s| s.path == "Calls.json"
        && s.params.get("ParentCallSid").map(String::as_str) == Some("CA1")));
    assert!(metric(&server, "switchboard_reconcile_released_total").await >= 1.0);

    // Acme's slot is free (given back right after the booking commits): a
    // new call goes to it.
    periodic_check(
        || async { active(&server, acme.id).await == 0 },
        Duration::from_secs(10),
    )
    .await;
    let (_, number) = place(&server, "CA3").await;
    assert_eq!(number, ACME);

    // The real callback, arriving late, changes nothing.
    assert_eq!(
        server
            .status(first, 0, "CA1leg", "CA1", ("completed", 9, Some(300)))
            .await
            .status,
        204
    );
    assert_eq!(
        server
            .dial_status(first, 0, "completed", Some(300))
            .await
            .status,
        200
    );
    assert_eq!(booked(&record(&server, first).await), booked(&reconciled));
    assert_eq!(
        active(&server, acme.id).await,
        1,
        "the third call still holds Acme's slot"
    );
}

#[tokio::test]
async fn a_call_twilio_says_is_live_keeps_its_slot_and_is_asked_about_again() {
    let Setup { server, fake, acme } = start().await;
    fake.set_call(
        ACCOUNT,
        "CAlive",
        None,
        PRIORITY_NUMBER,
        "in-progress",
        None,
    );
    fake.set_call(
        ACCOUNT,
        "CAliveleg",
        Some("CAlive"),
        ACME,
        "in-progress",
        None,
    );
    let (id, _) = place(&server, "CAlive").await;
    // A ringing callback names the leg; then nothing more comes.
    assert_eq!(
        server
            .status(id, 0, "CAliveleg", "CAlive", ("ringing", 1, None))
            .await
            .status,
        204
    );
    let before = metric(&server, "switchboard_reconcile_still_live_total").await;

    // The leg itself is asked about, and asked again later.
    let asked = || {
        fake.call_requests()
            .iter()
            .filter(|s| s.path == "Calls/CAliveleg.json")
            .count()
    };
    periodic_check(|| async { asked() >= 2 }, Duration::from_secs(10)).await;
    let r = record(&server, id).await;
    assert_eq!(
        (r.status, r.attempts[0].outcome, r.attempts[0].released),
        (CallStatus::Ringing, AttemptOutcome::Pending, false)
    );
    assert_eq!(active(&server, acme.id).await, 1, "the slot stays held");
    assert!(metric(&server, "switchboard_reconcile_still_live_total").await >= before + 2.0);
}

#[tokio::test]
async fn twilio_errors_are_counted_and_the_call_is_asked_about_again() {
    let Setup { server, fake, acme } = start().await;
    fake.fail_calls(true);
    let before = metric(
        &server,
        "switchboard_reconcile_errors_total{reason=\"carrier\"}",
    )
    .await;
    let (id, _) = place(&server, "CAflaky").await;
    periodic_check(
        || async { fake.call_requests().len() >= 2 },
        Duration::from_secs(10),
    )
    .await;
    let r = record(&server, id).await;
    assert_eq!(
        (r.status, r.attempts[0].released),
        (CallStatus::Ringing, false),
        "an error changes nothing"
    );
    assert_eq!(active(&server, acme.id).await, 1);
    assert!(
        metric(
            &server,
            "switchboard_reconcile_errors_total{reason=\"carrier\"}"
        )
        .await
            >= before + 2.0
    );

    // Twilio answers again: the next question books the call (no leg ever
    // came up, so the caller hung up while it rang: canceled, caps refunded).
    fake.set_call(
        ACCOUNT,
        "CAflaky",
        None,
        PRIORITY_NUMBER,
        "completed",
        Some(15),
    );
    fake.fail_calls(false);
    periodic_check(
        || async { record(&server, id).await.status.is_terminal() },
        Duration::from_secs(10),
    )
    .await;
    let r = record(&server, id).await;
    assert_eq!(
        (
            r.status,
            r.attempts[0].outcome,
            r.converted,
            r.revenue_minor
        ),
        (CallStatus::NoAnswer, AttemptOutcome::Canceled, false, 0)
    );
    // The slot is given back right after the booking is committed.
    periodic_check(
        || async { active(&server, acme.id).await == 0 },
        Duration::from_secs(10),
    )
    .await;
}
