//! TLS to ScyllaDB, checked on the wire without a ScyllaDB node: the real
//! driver connects to a listener on 127.0.0.1 that looks at what it sends,
//! and (with the test PKI of `tests/tls/`) to a real rustls server that
//! completes or refuses the handshake. The store's connect then fails (no
//! CQL server answers); the tests assert on what the listener saw.
#![cfg(feature = "scylla")]

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use switchboard_store::scylla::{ScyllaConfig, ScyllaStore};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const LIMIT: Duration = Duration::from_secs(20);

fn fixture(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "tls", name]
        .iter()
        .collect();
    path.to_str().expect("utf-8 path").to_owned()
}

/// Starts the store against `127.0.0.1:port` with the URI options `options`;
/// the connect runs in a task (it fails once the listener hangs up).
fn connect(port: u16, options: &str) -> JoinHandle<Result<(), String>> {
    let uri = format!("scylla://127.0.0.1:{port}/sb_tls?timeout_ms=3000&{options}");
    let config = ScyllaConfig::parse(&uri).expect("store URI");
    tokio::spawn(async move {
        ScyllaStore::connect(&config)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// The connect's outcome: an error, as no CQL server answers.
async fn connect_error(connecting: JoinHandle<Result<(), String>>) -> String {
    let outcome = tokio::time::timeout(LIMIT, connecting)
        .await
        .expect("connect ends")
        .expect("connect task");
    outcome.expect_err("connected without a CQL server")
}

/// The first `n` bytes the driver sends on its first connection to `listener`.
async fn first_bytes(listener: &TcpListener, n: usize) -> Vec<u8> {
    let (mut socket, _) = tokio::time::timeout(LIMIT, listener.accept())
        .await
        .expect("the driver connects")
        .expect("accept");
    let mut bytes = vec![0; n];
    tokio::time::timeout(LIMIT, socket.read_exact(&mut bytes))
        .await
        .expect("the driver sends")
        .expect("read");
    bytes
}

/// A CQL request frame header: protocol v4 request, OPTIONS (0x05), empty body.
fn assert_cql_options(bytes: &[u8]) {
    assert_eq!(bytes[0], 0x04, "CQL protocol v4, a request: {bytes:02x?}");
    assert_eq!(bytes[4], 0x05, "OPTIONS opcode: {bytes:02x?}");
    assert_eq!(&bytes[5..9], &[0, 0, 0, 0], "empty body: {bytes:02x?}");
}

#[tokio::test]
async fn without_tls_the_driver_speaks_cql_in_the_clear() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let connecting = connect(listener.local_addr().expect("addr").port(), "tls=false");
    assert_cql_options(&first_bytes(&listener, 9).await);
    drop(listener);
    connect_error(connecting).await;
}

#[tokio::test]
async fn with_tls_the_driver_opens_with_a_client_hello() {
    // With the system roots and with a CA of our own.
    for options in [
        "tls=true".to_owned(),
        format!("tls=true&tls_ca={}", fixture("ca.pem")),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let connecting = connect(listener.local_addr().expect("addr").port(), &options);
        let bytes = first_bytes(&listener, 6).await;
        // A TLS record of type handshake (0x16), version 3.x, carrying a
        // ClientHello (handshake type 1): no CQL byte goes out in the clear.
        assert_eq!(
            (bytes[0], bytes[1], bytes[5]),
            (0x16, 0x03, 0x01),
            "{options}: {bytes:02x?}"
        );
        drop(listener);
        connect_error(connecting).await;
    }
}

/// A TLS server for one connection: `cert` (a name in `tests/tls/`),
/// requiring a client certificate from the test CA when `want_client_cert`.
struct TlsServer {
    listener: TcpListener,
    config: Arc<ServerConfig>,
}

impl TlsServer {
    async fn start(cert: &str, want_client_cert: bool) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = if want_client_cert {
            let mut roots = RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_file(fixture("ca.pem")).expect("ca"))
                .expect("add ca");
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let chain = CertificateDer::pem_file_iter(fixture(&format!("{cert}.pem")))
            .expect("cert")
            .collect::<Result<Vec<_>, _>>()
            .expect("cert");
        let key = PrivateKeyDer::from_pem_file(fixture(&format!("{cert}.key"))).expect("key");
        let config = Arc::new(builder.with_single_cert(chain, key).expect("server config"));
        Self {
            listener: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
            config,
        }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().expect("addr").port()
    }

    /// Accepts one connection, runs the handshake, and returns the first 9
    /// decrypted bytes (a CQL frame header), or the handshake's error.
    async fn first_frame(self) -> Result<Vec<u8>, String> {
        let (socket, _) = tokio::time::timeout(LIMIT, self.listener.accept())
            .await
            .expect("the driver connects")
            .expect("accept");
        let socket = socket.into_std().expect("std socket");
        tokio::task::spawn_blocking(move || {
            socket.set_nonblocking(false).expect("blocking");
            socket.set_read_timeout(Some(LIMIT)).expect("read timeout");
            let mut tls = StreamOwned::new(
                ServerConnection::new(self.config).expect("server connection"),
                socket,
            );
            while tls.conn.is_handshaking() {
                tls.conn
                    .complete_io(&mut tls.sock)
                    .map_err(|e| e.to_string())?;
            }
            let mut header = vec![0; 9];
            tls.read_exact(&mut header).map_err(|e| e.to_string())?;
            Ok(header)
        })
        .await
        .expect("server task")
    }
}

/// Connects with `options` to a server presenting `cert`; returns what the
/// server got (the first CQL frame, or its handshake error) and the
/// driver's error.
async fn handshake(
    cert: &str,
    want_client_cert: bool,
    options: &str,
) -> (Result<Vec<u8>, String>, String) {
    let server = TlsServer::start(cert, want_client_cert).await;
    let connecting = connect(server.port(), options);
    let seen = server.first_frame().await;
    (seen, connect_error(connecting).await)
}

#[tokio::test]
async fn tls_server_name_checks_every_node_for_that_name() {
    let ca = fixture("ca.pem");
    // server.pem is for the DNS name db.test only.
    let (seen, _) = handshake(
        "server",
        false,
        &format!("tls=true&tls_ca={ca}&tls_server_name=db.test"),
    )
    .await;
    assert_cql_options(&seen.expect("handshake with tls_server_name=db.test"));

    let (seen, driver) = handshake(
        "server",
        false,
        &format!("tls=true&tls_ca={ca}&tls_server_name=other.test"),
    )
    .await;
    assert!(
        seen.is_err(),
        "a certificate for db.test accepted as other.test"
    );
    assert!(
        driver.contains(r#"certificate not valid for name "other.test""#),
        "{driver}"
    );
}

#[tokio::test]
async fn by_default_a_node_is_checked_for_its_ip_address() {
    let ca = fixture("ca.pem");
    // The driver names a node by its IP: a certificate with IP:127.0.0.1 passes...
    let (seen, _) = handshake("server-ip", false, &format!("tls=true&tls_ca={ca}")).await;
    assert_cql_options(&seen.expect("handshake with a certificate for 127.0.0.1"));
    // ...one for a DNS name only does not, without tls_server_name.
    let (seen, driver) = handshake("server", false, &format!("tls=true&tls_ca={ca}")).await;
    assert!(
        seen.is_err(),
        "a certificate for db.test accepted for 127.0.0.1"
    );
    assert!(
        driver.contains(r#"certificate not valid for name "127.0.0.1""#),
        "{driver}"
    );
}

#[tokio::test]
async fn a_server_certificate_from_another_ca_is_refused() {
    for options in [
        format!(
            "tls=true&tls_ca={}&tls_server_name=db.test",
            fixture("other-ca.pem")
        ),
        // The system roots do not trust the test CA either.
        "tls=true&tls_server_name=db.test".to_owned(),
    ] {
        let (seen, driver) = handshake("server", false, &options).await;
        assert!(
            seen.is_err(),
            "{options}: an untrusted certificate accepted"
        );
        assert!(
            driver.contains("invalid peer certificate: UnknownIssuer"),
            "{options}: {driver}"
        );
    }
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate() {
    let base = format!(
        "tls=true&tls_ca={}&tls_server_name=db.test",
        fixture("ca.pem")
    );
    let with_cert = format!(
        "{base}&tls_cert={}&tls_key={}",
        fixture("client.pem"),
        fixture("client.key")
    );
    let (seen, _) = handshake("server", true, &with_cert).await;
    assert_cql_options(&seen.expect("handshake with a client certificate"));

    let (seen, _) = handshake("server", true, &base).await;
    let refused = seen.expect_err("a server that wants a client certificate accepted none");
    assert!(refused.contains("peer sent no certificates"), "{refused}");
}
