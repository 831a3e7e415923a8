//! TLS to the cluster: `tls=true` and the `tls_*` options of a `scylla://` URI.
//!
//! The driver's rustls backend opens every connection with the node's IP
//! address as the server name (`ServerName::IpAddress`): contact points are
//! resolved to addresses, and the other nodes are found in `system.peers` as
//! addresses, so it never has a host name. Consequences:
//!
//! - by default a node's certificate must name the node's IP address in its
//!   subjectAltName (an `IP:` entry), or the handshake fails;
//! - no SNI is sent (rustls sends SNI for DNS names only);
//! - with `tls_server_name=NAME` every node's certificate is checked for NAME
//!   instead of the node's address ([`FixedName`]). The chain is still
//!   verified against the trusted roots, with the same signature and validity
//!   checks: only the name compared differs. Every node must then present a
//!   certificate valid for that one name (a shared name or a wildcard).
//!
//! Certificates and keys are read when the store connects, so a missing or
//! malformed file stops the start with an error that names it.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::{Result, StoreError};

/// TLS settings of a `scylla://` store URI (present when `tls=true`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsOptions {
    /// `tls_ca`: PEM file of the CA certificates to trust. `None`: the
    /// system's trust store (see [`TlsOptions::client_config`]).
    pub ca: Option<PathBuf>,
    /// `tls_cert` and `tls_key`: PEM files of the client certificate chain
    /// and its private key, for clusters that require client certificates.
    pub client: Option<(PathBuf, PathBuf)>,
    /// `tls_server_name`: the name every node's certificate must be valid
    /// for. `None`: each node's IP address.
    pub server_name: Option<String>,
}

fn invalid(option: &str, path: &Path, why: impl Display) -> StoreError {
    StoreError::InvalidArgument(format!("scylla {option} {}: {why}", path.display()))
}

/// A PEM error in words (its own Display prints byte arrays).
fn pem_error(e: pem::Error) -> String {
    match e {
        pem::Error::Io(e) => e.to_string(),
        pem::Error::MissingSectionEnd { end_marker } => {
            format!(
                "no -----END {}----- line",
                String::from_utf8_lossy(&end_marker)
            )
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("malformed line {:?}", String::from_utf8_lossy(&line))
        }
        pem::Error::Base64Decode(why) => format!("bad base64 ({why})"),
        pem::Error::NoItemsFound => "nothing of that kind in it".to_owned(),
        other => other.to_string(),
    }
}

/// Every certificate of a PEM file (at least one).
fn certificates(option: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| {
            invalid(
                option,
                path,
                format!("cannot read PEM certificates: {}", pem_error(e)),
            )
        })?;
    if certs.is_empty() {
        return Err(invalid(
            option,
            path,
            "no certificate in it (expected -----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certs)
}

impl TlsOptions {
    /// The rustls configuration for the driver: reads the CA, certificate
    /// and key files.
    ///
    /// Trust: the certificates of `tls_ca`, else the system's trust store as
    /// `rustls-native-certs` finds it (on Linux the OpenSSL locations, e.g.
    /// `/etc/ssl/certs/ca-certificates.crt`, or `SSL_CERT_FILE` /
    /// `SSL_CERT_DIR` when set). The crypto provider is aws-lc-rs, the one
    /// the rest of the binary uses; TLS 1.2 and 1.3.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let roots = Arc::new(self.roots()?);
        let tls_error = |e: rustls::Error| StoreError::InvalidArgument(format!("scylla TLS: {e}"));
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?;
        let builder = match &self.server_name {
            None => builder.with_root_certificates(roots),
            Some(name) => {
                let name = ServerName::try_from(name.clone()).map_err(|_| {
                    StoreError::InvalidArgument(format!(
                        "scylla tls_server_name {name:?} is not a host name"
                    ))
                })?;
                let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| {
                        StoreError::InvalidArgument(format!("scylla TLS trust roots: {e}"))
                    })?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(FixedName { inner, name }))
            }
        };
        let config = match &self.client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = certificates("tls_cert", cert)?;
                let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                    invalid(
                        "tls_key",
                        key,
                        format!("cannot read a PEM private key: {}", pem_error(e)),
                    )
                })?;
                builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                    StoreError::InvalidArgument(format!(
                        "scylla tls_cert {} with tls_key {}: {e}",
                        cert.display(),
                        key.display()
                    ))
                })?
            }
        };
        Ok(Arc::new(config))
    }

    fn roots(&self) -> Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        match &self.ca {
            Some(path) => {
                for cert in certificates("tls_ca", path)? {
                    roots.add(cert).map_err(|e| {
                        invalid("tls_ca", path, format!("not a usable CA certificate: {e}"))
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    let errors: Vec<String> =
                        found.errors.iter().map(ToString::to_string).collect();
                    return Err(StoreError::InvalidArgument(format!(
                        "scylla tls=true: no CA certificate in the system trust store ({}); \
                         install ca-certificates or give tls_ca=/path/ca.pem",
                        if errors.is_empty() {
                            "it is empty".to_owned()
                        } else {
                            errors.join("; ")
                        }
                    )));
                }
            }
        }
        Ok(roots)
    }
}

/// Verifies a node's certificate against the trusted roots for one fixed
/// name (`tls_server_name`) instead of the IP address the driver passes.
#[derive(Debug)]
struct FixedName {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for FixedName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _ip_of_the_node: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test PKI of `tests/tls/` (see `make.sh` there).
    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/tls")
            .join(name)
    }

    fn error_of(options: &TlsOptions) -> String {
        match options.client_config() {
            Err(StoreError::InvalidArgument(msg)) => msg,
            other => panic!("expected an error, got {:?}", other.map(|_| "a config")),
        }
    }

    #[test]
    fn loads_a_ca_a_client_certificate_and_a_server_name() {
        let options = TlsOptions {
            ca: Some(fixture("ca.pem")),
            client: Some((fixture("client.pem"), fixture("client.key"))),
            server_name: Some("db.test".into()),
        };
        let config = options.client_config().expect("config");
        assert!(
            config.client_auth_cert_resolver.has_certs(),
            "the client certificate is offered"
        );
    }

    #[test]
    fn defaults_to_the_system_trust_store() {
        // This machine has one (ca-certificates); a bare container would get
        // the "no CA certificate in the system trust store" error instead.
        TlsOptions::default().client_config().expect("system roots");
    }

    #[test]
    fn unreadable_or_malformed_files_are_named() {
        let missing = fixture("nope.pem");
        let msg = error_of(&TlsOptions {
            ca: Some(missing.clone()),
            ..TlsOptions::default()
        });
        assert!(
            msg.contains(&format!("tls_ca {}", missing.display())) && msg.contains("No such file"),
            "{msg}"
        );

        // A file with no certificate in it.
        let script = fixture("make.sh");
        let msg = error_of(&TlsOptions {
            ca: Some(script.clone()),
            ..TlsOptions::default()
        });
        assert!(
            msg.contains(&format!("tls_ca {}", script.display())) && msg.contains("no certificate"),
            "{msg}"
        );

        // A certificate section that never ends.
        let dir = tempfile::tempdir().expect("temp dir");
        let broken = dir.path().join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nMIIB\n").expect("write");
        let msg = error_of(&TlsOptions {
            ca: Some(broken.clone()),
            ..TlsOptions::default()
        });
        assert!(
            msg.contains(&format!("tls_ca {}", broken.display())) && msg.contains("END"),
            "{msg}"
        );

        // Well-formed PEM, but not a certificate a CA store takes.
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let msg = error_of(&TlsOptions {
            ca: Some(garbage.clone()),
            ..TlsOptions::default()
        });
        assert!(
            msg.contains(&format!("tls_ca {}", garbage.display())),
            "{msg}"
        );

        // A certificate where the key should be.
        let with = |cert: &str, key: &str| TlsOptions {
            ca: Some(fixture("ca.pem")),
            client: Some((fixture(cert), fixture(key))),
            server_name: None,
        };
        let msg = error_of(&with("client.pem", "client.pem"));
        assert!(
            msg.contains(&format!("tls_key {}", fixture("client.pem").display())),
            "{msg}"
        );
        let msg = error_of(&with("client.key", "client.key"));
        assert!(
            msg.contains(&format!("tls_cert {}", fixture("client.key").display())),
            "{msg}"
        );
        // A key that is not the certificate's.
        let msg = error_of(&with("client.pem", "server.key"));
        assert!(
            msg.contains("tls_cert") && msg.contains("tls_key") && msg.contains("server.key"),
            "{msg}"
        );
    }
}
