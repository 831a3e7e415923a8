//! Test-only peers on loopback, shared by the engine's and the server's
//! tests: the one test bidder.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

/// How a test bidder answers.
#[derive(Clone)]
struct Behaviour {
    delay: Duration,
    status: u16,
    body: String,
}

/// A bidder on loopback whose answer a test can change while it runs.
pub struct Bidder {
    /// Where to send bid requests.
    pub url: String,
    hits: Arc<AtomicUsize>,
    behaviour: Arc<Mutex<Behaviour>>,
    last_request: Arc<Mutex<String>>,
}

impl Bidder {
    /// A bidder that waits `delay_ms`, then answers `status` with `body` (JSON).
    pub async fn start(delay_ms: u64, status: u16, body: &str) -> Bidder {
        let behaviour = Arc::new(Mutex::new(Behaviour {
            delay: Duration::from_millis(delay_ms),
            status,
            body: body.to_owned(),
        }));
        let hits = Arc::new(AtomicUsize::new(0));
        let last_request = Arc::new(Mutex::new(String::new()));
        let (b, h, l) = (behaviour.clone(), hits.clone(), last_request.clone());
        let app =
            axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: String| {
                let (b, h, l) = (b.clone(), h.clone(), l.clone());
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    // The body, and the headers a test looks for, as one JSON document.
                    let header = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    *l.lock().unwrap() = json!({
                        "body": body, "x-caller": header("x-caller"),
                        "x-api-key": header("x-api-key"), "content-type": header("content-type")
                    })
                    .to_string();
                    let now = b.lock().unwrap().clone();
                    tokio::time::sleep(now.delay).await;
                    (
                        StatusCode::from_u16(now.status).unwrap(),
                        [("content-type", "application/json")],
                        now.body,
                    )
                        .into_response()
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/bid", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Bidder {
            url,
            hits,
            behaviour,
            last_request,
        }
    }

    /// A bidder that at once bids `amount` dollars to send calls to `number`.
    pub async fn bidding(amount: u32, number: &str) -> Bidder {
        Bidder::start(0, 200, &flat(&amount.to_string(), number)).await
    }

    /// Answers `status` with `body` from now on.
    pub fn set(&self, status: u16, body: &str) {
        let mut b = self.behaviour.lock().unwrap();
        (b.status, b.body) = (status, body.to_owned());
    }

    /// Bid requests received.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The last request, as `{"body", "x-caller", "x-api-key", "content-type"}`.
    pub fn last_request(&self) -> String {
        self.last_request.lock().unwrap().clone()
    }
}

/// A flat accepted bid: `amount` dollars (as written) for `number`, 60 s.
pub fn flat(amount: &str, number: &str) -> String {
    format!(
        r#"{{"bidAmount": {amount}, "destinationNumber": "{number}", "accepted": true, "currency": "USD", "duration": 60}}"#
    )
}
