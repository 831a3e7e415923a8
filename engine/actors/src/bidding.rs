//! The HTTP client that sends bid requests and pixels: one pooled
//! keep-alive client for every target, response bodies read up to a limit,
//! and an SSRF guard (the caller bounds each request's time).
//!
//! The guard refuses loopback, private, link-local and metadata addresses
//! (`switchboard_rtb::ssrf`) unless private targets are allowed. It checks
//! the *resolved* address — the client's DNS resolver applies it — so a name
//! that resolves to 127.0.0.1 is refused like the literal; literal IP URLs,
//! which no resolver sees, are checked before sending.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use switchboard_model::{AuthType, HttpMethod, RtbTarget};
use switchboard_rtb::{MAX_RESPONSE_BYTES, check_resolved, is_forbidden};

/// What one bid request came back with.
pub(crate) enum Answer {
    /// An HTTP answer; the body holds at most `MAX_RESPONSE_BYTES + 1` bytes
    /// (one more than allowed tells the extractor it was too big: the rest
    /// is never read).
    Http { status: u16, body: Vec<u8> },
    /// The request failed before an answer (refused address, connection, I/O).
    Failed(String),
}

impl Answer {
    /// The body's length (0 for a failure).
    pub(crate) fn len(&self) -> usize {
        match self {
            Answer::Http { body, .. } => body.len(),
            Answer::Failed(_) => 0,
        }
    }
}

/// One rendered bid request.
pub(crate) struct Outgoing {
    pub(crate) url: String,
    pub(crate) body: String,
    /// The target's headers, rendered.
    pub(crate) headers: Vec<(String, String)>,
    /// The `Content-Type` header: the target's `contentType` as a MIME type.
    pub(crate) mime: String,
}

/// Sends bid requests. Cheap to clone.
#[derive(Clone)]
pub(crate) struct BidClient {
    client: reqwest::Client,
    allow_private: bool,
}

/// Resolves with the system resolver, then refuses forbidden addresses.
struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            check_resolved(addrs.iter().map(|a| a.ip()))
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

impl BidClient {
    /// A client; `allow_private` lifts the SSRF guard (tests, demos, a
    /// bidder on the same private network).
    pub(crate) fn new(allow_private: bool) -> Self {
        let mut builder = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(2))
            // A redirect could lead past the guard; bidders answer directly.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(GuardedResolver));
        }
        let client = builder.build().unwrap_or_else(|e| {
            tracing::error!(error = %e, "bid client settings refused; using defaults");
            reqwest::Client::new()
        });
        Self {
            client,
            allow_private,
        }
    }

    /// Sends one request to `target` and reads the answer, all within `timeout`
    /// (`None` from the outer timeout means the bidder did not answer in time).
    pub(crate) async fn send(
        &self,
        target: &RtbTarget,
        out: &Outgoing,
        timeout: Duration,
    ) -> Option<Answer> {
        tokio::time::timeout(timeout, self.exchange(target, out))
            .await
            .ok()
    }

    async fn exchange(&self, target: &RtbTarget, out: &Outgoing) -> Answer {
        let build = |client: &reqwest::Client, url: reqwest::Url| {
            let mut req = match target.http_method {
                HttpMethod::Post => client
                    .post(url)
                    .header("content-type", out.mime.as_str())
                    .body(out.body.clone()),
                HttpMethod::Get => client.get(url),
            };
            for (k, v) in &out.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            match target.auth_type {
                AuthType::None => req,
                AuthType::ApiKey => req.header(
                    target.auth_header.as_str(),
                    target.auth_token.as_deref().unwrap_or_default(),
                ),
                AuthType::Bearer => {
                    req.bearer_auth(target.auth_token.as_deref().unwrap_or_default())
                }
                AuthType::Basic => req.basic_auth(
                    target.auth_username.as_deref().unwrap_or_default(),
                    target.auth_password.as_deref(),
                ),
            }
        };
        self.fetch(&out.url, build, MAX_RESPONSE_BYTES).await.0
    }

    /// Sends the request `build` makes for `url` (after the guard's check
    /// of a literal address) and reads at most `limit + 1` bytes of the
    /// answer (one more than allowed says it was cut); with the answer's
    /// `Retry-After` in seconds, if it gave one. The caller bounds the time.
    pub(crate) async fn fetch(
        &self,
        url: &str,
        build: impl FnOnce(&reqwest::Client, reqwest::Url) -> reqwest::RequestBuilder,
        limit: usize,
    ) -> (Answer, Option<u64>) {
        let url = match reqwest::Url::parse(url) {
            Ok(u) => u,
            Err(e) => return (Answer::Failed(format!("bad endpoint url: {e}")), None),
        };
        if !self.allow_private {
            let literal = url.host_str().and_then(|h| {
                h.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .ok()
            });
            if let Some(ip) = literal.filter(|ip| is_forbidden(*ip)) {
                let why = format!(
                    "address {ip} is not allowed (loopback, private, link-local or metadata)"
                );
                return (Answer::Failed(why), None);
            }
        }
        let mut resp = match build(&self.client, url).send().await {
            Ok(r) => r,
            Err(e) => return (Answer::Failed(describe(&e)), None),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    let room = (limit + 1).saturating_sub(body.len());
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if body.len() > limit {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => return (Answer::Failed(describe(&e)), retry_after),
            }
        }
        (Answer::Http { status, body }, retry_after)
    }
}

/// The error and its causes in one line: the SSRF refusal is a cause deep
/// inside a connect error, and it is what the row should say.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
