//! Slow and stalled clients against the real server: they hold their own
//! connection for a bounded time, never the webhook slots real calls need.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use switchboard::server::ConnLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
const BODY_TIMEOUT: Duration = Duration::from_secs(2);

fn limits(per_address: Option<usize>) -> ConnLimits {
    ConnLimits {
        header_timeout: HEADER_TIMEOUT,
        body_timeout: BODY_TIMEOUT,
        per_address,
    }
}

/// A webhook whose headers promise 60,000 bytes of body, of which a few arrive.
async fn slow_webhook(base: &str) -> TcpStream {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /api/webhooks/voice HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         X-Twilio-Signature: x\r\nContent-Length: 60000\r\n\r\nCallSid=CA"
    );
    s.write_all(head.as_bytes()).await.expect("write");
    s
}

/// Reads until the server closes the connection (what it answered, if
/// anything) or `within` passes (`None`: still open).
async fn closed_within(s: &mut TcpStream, within: Duration) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_hold_no_webhook_slot_and_are_closed_within_the_body_timeout() {
    // Fewer slots than slow clients: on a server that took the slot before
    // the body, every real call would now get 503.
    let s = TestServer::start_with(|mut st| {
        st.conn_limits = limits(None);
        st.webhook_slots = Arc::new(tokio::sync::Semaphore::new(100));
        st
    })
    .await;
    priority(&s.engine).await;
    let opened = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..500 {
        slow.push(slow_webhook(&s.base).await);
    }
    // Give the server the time to read every head.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = s.call("CAwhileslow", PRIORITY_NUMBER).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.is_dial(), "{r:?}");

    // Every slow client is answered 408 and disconnected once its body is
    // overdue: none is still open a little after the timeout.
    let mut answers = Vec::new();
    for c in &mut slow {
        let left = (BODY_TIMEOUT + Duration::from_secs(3)).saturating_sub(opened.elapsed());
        answers.push(
            closed_within(c, left)
                .await
                .expect("a slow client is still connected past the body timeout"),
        );
    }
    assert!(
        answers.iter().all(|a| a.starts_with("HTTP/1.1 408")),
        "{:?}",
        &answers[..3]
    );
    assert!(
        answers[0].contains(r#""code":"request_timeout""#),
        "{}",
        answers[0]
    );
    let (_, metrics) = s.get("/metrics").await;
    assert!(
        metrics.contains("switchboard_webhook_body_timeouts_total 500"),
        "{metrics}"
    );
    // That nothing was shed is the 200 above: metrics are the process's, and
    // another test in this binary sheds on purpose.
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_or_sits_idle_is_disconnected() {
    let s = TestServer::start_with(|mut st| {
        st.conn_limits = limits(None);
        st
    })
    .await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    // Half a request head, then nothing.
    let mut partial = TcpStream::connect(&addr).await.unwrap();
    partial
        .write_all(b"POST /api/webhooks/voice HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // A connection that never says anything.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    // A keep-alive connection left idle after one answer.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    let within = HEADER_TIMEOUT + Duration::from_secs(3);
    assert!(
        closed_within(&mut partial, within).await.is_some(),
        "half a head keeps its connection"
    );
    assert!(
        closed_within(&mut silent, within).await.is_some(),
        "a silent connection stays open"
    );
    assert!(
        closed_within(&mut idle, within).await.is_some(),
        "an idle keep-alive connection stays open"
    );
    // The server still answers.
    let (status, _) = s.get("/healthz").await;
    assert_eq!(status, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_per_address_cap_one_address_cannot_hold_more_connections() {
    let s = TestServer::start_with(|mut st| {
        st.conn_limits = limits(Some(3));
        st
    })
    .await;
    priority(&s.engine).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(slow_webhook(&s.base).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The fourth is closed at once, unanswered.
    let mut fourth = slow_webhook(&s.base).await;
    assert_eq!(
        closed_within(&mut fourth, Duration::from_secs(1))
            .await
            .as_deref(),
        Some("")
    );
    // Once they go, the address may connect again.
    drop(held);
    periodic_check(
        || async {
            // Until the server has seen them go, this connection is refused too.
            let params = voice("CAaftercap", PRIORITY_NUMBER);
            let sig = switchboard::twilio::signature::sign(
                TOKEN,
                &format!("{}/api/webhooks/voice", s.public),
                &params,
            );
            post_form(
                &s.client,
                &s.base,
                "/api/webhooks/voice",
                &params,
                Some(&sig),
            )
            .await
            .is_ok_and(|r| r.status == 200)
        },
        Duration::from_secs(3),
    )
    .await;
    let (_, metrics) = s.get("/metrics").await;
    // The fourth, and any retry made before the server saw the three go.
    let refused = metrics
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_connections_refused_total "));
    assert!(
        refused
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n >= 1),
        "{metrics}"
    );
    s.stop().await;
}
