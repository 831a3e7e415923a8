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
        Self::with(Self::builder(allow_private), allow_private)
    }

    /// The client's settings. Over HTTPS it offers HTTP/2 and HTTP/1.1
    /// (ALPN), so a bidder that speaks HTTP/2 gets every concurrent request
    /// on one connection; plain `http://` is HTTP/1.1, kept alive.
    fn builder(allow_private: bool) -> reqwest::ClientBuilder {
        let builder = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(2))
            // A redirect could lead past the guard; bidders answer directly.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if allow_private {
            builder
        } else {
            builder.dns_resolver(Arc::new(GuardedResolver))
        }
    }

    fn with(builder: reqwest::ClientBuilder, allow_private: bool) -> Self {
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;
    use std::sync::Arc;

    use hyper::service::service_fn;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    use super::{Answer, BidClient};

    /// A CA and a certificate it signed for `localhost`, made by the
    /// `openssl` command (DER: the certificate, the CA, the key).
    fn certificates(dir: &Path) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        let run = |args: &str| {
            Command::new("openssl")
                .args(args.split(' '))
                .current_dir(dir)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        std::fs::write(
            dir.join("leaf.ext"),
            "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost\n",
        )
        .ok()?;
        let made = run(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca",
        ) && run(
            "req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout leaf.key -out leaf.csr -subj /CN=localhost",
        ) && run(
            "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                -days 2 -extfile leaf.ext -outform DER -out leaf.der",
        ) && run("x509 -in ca.pem -outform DER -out ca.der")
            && run("pkcs8 -topk8 -nocrypt -in leaf.key -outform DER -out leaf.key.der");
        let read = |f: &str| std::fs::read(dir.join(f)).ok();
        made.then(|| Some((read("leaf.der")?, read("ca.der")?, read("leaf.key.der")?)))?
    }

    /// A TLS server on loopback offering `alpn`, answering each request
    /// with the HTTP version it came in; its port.
    async fn bidder(cert: Vec<u8>, key: Vec<u8>, alpn: &[&[u8]]) -> u16 {
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert)],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
            )
            .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let answer =
                        service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(format!(
                                "{:?}",
                                req.version()
                            )))
                        });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), answer)
                        .await;
                });
            }
        });
        port
    }

    async fn version(client: &BidClient, port: u16) -> String {
        let url = format!("https://localhost:{port}/bid");
        match client
            .fetch(&url, |c, u| c.post(u).body("{}"), 1024)
            .await
            .0
        {
            Answer::Http { status: 200, body } => String::from_utf8(body).unwrap(),
            Answer::Http { status, .. } => panic!("status {status}"),
            Answer::Failed(e) => panic!("{e}"),
        }
    }

    #[tokio::test]
    async fn a_bidder_offering_http2_gets_it_and_one_offering_only_http1_gets_that() {
        let dir = tempfile::tempdir().unwrap();
        let Some((cert, ca, key)) = certificates(dir.path()) else {
            eprintln!("SKIPPED: the openssl command is missing or failed; no certificates");
            return;
        };
        let h2 = bidder(cert.clone(), key.clone(), &[b"h2", b"http/1.1"]).await;
        let h1 = bidder(cert, key, &[b"http/1.1"]).await;
        // The production settings, trusting only the test's CA.
        let ca = reqwest::Certificate::from_der(&ca).unwrap();
        let client = BidClient::with(BidClient::builder(true).tls_certs_only([ca]), true);
        assert_eq!(version(&client, h2).await, "HTTP/2.0");
        assert_eq!(version(&client, h1).await, "HTTP/1.1");
        // Concurrent requests to the HTTP/2 bidder all succeed on it.
        let many = concurrently(&client, h2).await;
        assert!(many.iter().all(|v| v == "HTTP/2.0"), "{many:?}");
    }

    async fn concurrently(client: &BidClient, port: u16) -> Vec<String> {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let client = client.clone();
            tasks.spawn(async move { version(&client, port).await });
        }
        tasks.join_all().await
    }
}
