//! What the webhook benches share: a signed voice webhook as Twilio sends it.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::Request;
use switchboard::twilio::signature;

/// The base URL Twilio signs for.
pub(crate) const PUBLIC_URL: &str = "https://switchboard.example.com";
/// The tenant's auth token.
pub(crate) const TOKEN: &str = "bench-token";
/// The tenant's account SID.
pub(crate) const ACCOUNT: &str = "ACbench00000000000000000000000000";
/// The tracking number called.
pub(crate) const TRACKING: &str = "+15550001000";

/// The parameters Twilio sends with a voice webhook.
pub(crate) fn voice_params(call_sid: &str) -> Vec<(String, String)> {
    [
        ("AccountSid", ACCOUNT),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call_sid),
        ("CallStatus", "ringing"),
        ("Called", TRACKING),
        ("Caller", "+15551230000"),
        ("Direction", "inbound"),
        ("From", "+15551230000"),
        ("FromCity", "SAN FRANCISCO"),
        ("FromState", "CA"),
        ("FromZip", "94105"),
        ("To", TRACKING),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A signed voice webhook request for a fresh `CallSid`.
pub(crate) fn voice_request(seq: &AtomicU64) -> Request<Body> {
    let sid = format!("CA{:032x}", seq.fetch_add(1, Ordering::Relaxed));
    let params = voice_params(&sid);
    let sig = signature::sign(TOKEN, &format!("{PUBLIC_URL}/api/webhooks/voice"), &params);
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &params {
        form.append_pair(k, v);
    }
    Request::post("/api/webhooks/voice")
        .header("content-type", "application/x-www-form-urlencoded")
        .header(signature::HEADER, sig)
        .body(Body::from(form.finish()))
        .expect("request")
}
