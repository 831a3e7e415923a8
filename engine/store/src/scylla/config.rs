//! Where and how to reach the cluster: the `scylla://` URI, and the driver
//! session it opens (load balancing, consistency profiles, timeouts, TLS).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use scylla::client::execution_profile::{ExecutionProfile, ExecutionProfileHandle};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::policies::timestamp_generator::MonotonicTimestampGenerator;
use scylla::statement::{Consistency, SerialConsistency};

use super::TlsOptions;
use crate::{Result, StoreError};

/// Where and how to reach the cluster: parsed from a `scylla://` URI.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScyllaConfig {
    /// Contact points, `host:port`.
    pub nodes: Vec<String>,
    /// The keyspace (created if missing).
    pub keyspace: String,
    /// Username, for clusters with password authentication.
    pub username: Option<String>,
    /// Password, with `username`.
    pub password: Option<String>,
    /// Local datacenter: load balancing prefers it, and replication is set for it.
    pub datacenter: Option<String>,
    /// Replication factor of a keyspace this creates.
    pub replication_factor: u32,
    /// Whether a keyspace this creates may use tablets (ScyllaDB 6+); off by
    /// default, as LWT and counters need vnodes on older releases.
    pub tablets: bool,
    /// Time to live of bid logs, in days (0: forever).
    pub bid_ttl_days: u32,
    /// Time to live of DNI visitor sessions, in days (0: forever).
    pub visitor_ttl_days: u32,
    /// Timeout of each request.
    pub timeout: Duration,
    /// Most requests of batch writes and multi-row reads in flight at once,
    /// over the whole store.
    pub max_in_flight: usize,
    /// Whether connecting applies pending migrations.
    pub migrate: bool,
    /// TLS to the nodes (`tls=true`); `None`: plain TCP.
    pub tls: Option<TlsOptions>,
}

impl std::fmt::Debug for ScyllaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("ScyllaConfig")
            .field("nodes", &self.nodes)
            .field("keyspace", &self.keyspace)
            .field("username", &self.username)
            .field("datacenter", &self.datacenter)
            .field("replication_factor", &self.replication_factor)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

fn is_identifier(s: &str) -> bool {
    s.len() <= 48
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl ScyllaConfig {
    /// Parses `scylla://[user[:password]@]host[:port][,host[:port]…]/keyspace[?k=v&…]`.
    ///
    /// The port defaults to 9042. Options: `replication_factor` (1), `dc`
    /// (none), `tablets` (`false`; `default` leaves the server's default),
    /// `bid_ttl_days` (30), `visitor_ttl_days` (90), `timeout_ms` (5000),
    /// `max_in_flight` (256), `migrate` (`true`), `tls` (`false`) and, with
    /// `tls=true` only, `tls_ca`, `tls_cert` + `tls_key` (both or neither),
    /// `tls_server_name` (see [`TlsOptions`]). Values are taken as written
    /// (no %-decoding), so a file path must not contain `&`.
    pub fn parse(uri: &str) -> Result<Self> {
        let bad = |why: &str| {
            StoreError::InvalidArgument(format!(
                "invalid store URI (scylla://hosts/keyspace): {why}"
            ))
        };
        let rest = uri
            .strip_prefix("scylla://")
            .ok_or_else(|| bad("it must start with scylla://"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, keyspace) = rest.split_once('/').ok_or_else(|| bad("no /keyspace"))?;
        if !is_identifier(keyspace) {
            return Err(bad(
                "the keyspace must be a letter then letters, digits or _ (at most 48)",
            ));
        }
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((name, pass)) => (Some(name.to_owned()), Some(pass.to_owned())),
                None => (Some(u.to_owned()), None),
            },
        };
        let nodes: Vec<String> = hosts
            .split(',')
            .filter(|h| !h.is_empty())
            .map(|h| {
                // host, host:port, [v6], [v6]:port
                let has_port = h.rsplit_once(':').is_some_and(|(host, _)| {
                    !host.is_empty() && (!host.contains(':') || host.ends_with(']'))
                });
                if has_port {
                    h.to_owned()
                } else {
                    format!("{h}:9042")
                }
            })
            .collect();
        if nodes.is_empty() {
            return Err(bad("no host"));
        }
        let mut config = ScyllaConfig {
            nodes,
            keyspace: keyspace.to_owned(),
            username,
            password,
            datacenter: None,
            replication_factor: 1,
            tablets: false,
            bid_ttl_days: 30,
            visitor_ttl_days: 90,
            timeout: Duration::from_secs(5),
            max_in_flight: 256,
            migrate: true,
            tls: None,
        };
        let mut tls = false;
        let mut tls_options = TlsOptions::default();
        // The tls_* options given, to refuse them without tls=true.
        let mut tls_given = Vec::new();
        let (mut tls_cert, mut tls_key) = (None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let num = |v: &str| {
                v.parse::<u32>()
                    .map_err(|_| bad(&format!("{k} must be a whole number, not {v:?}")))
            };
            let flag = |v: &str| match v {
                "true" | "1" | "on" => Ok(true),
                "false" | "0" | "off" => Ok(false),
                _ => Err(bad(&format!("{k} must be true or false, not {v:?}"))),
            };
            let path = |v: &str| match v {
                "" => Err(bad(&format!("{k} needs a file path ({k}=/path/file.pem)"))),
                _ => Ok(PathBuf::from(v)),
            };
            if k.starts_with("tls_") {
                tls_given.push(k);
            }
            match k {
                "replication_factor" => config.replication_factor = num(v)?.max(1),
                "dc" => {
                    if !v
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
                        || v.is_empty()
                    {
                        return Err(bad("dc must be a datacenter name"));
                    }
                    config.datacenter = Some(v.to_owned());
                }
                "tablets" => config.tablets = v == "default" || flag(v)?,
                "bid_ttl_days" => config.bid_ttl_days = num(v)?,
                "visitor_ttl_days" => config.visitor_ttl_days = num(v)?,
                "timeout_ms" => config.timeout = Duration::from_millis(u64::from(num(v)?.max(1))),
                "max_in_flight" => config.max_in_flight = num(v)?.max(1) as usize,
                "migrate" => config.migrate = flag(v)?,
                "user" | "username" => config.username = Some(v.to_owned()),
                "tls" => tls = flag(v)?,
                "tls_ca" => tls_options.ca = Some(path(v)?),
                "tls_cert" => tls_cert = Some(path(v)?),
                "tls_key" => tls_key = Some(path(v)?),
                "tls_server_name" => {
                    if rustls::pki_types::ServerName::try_from(v).is_err() {
                        return Err(bad(&format!(
                            "tls_server_name must be a host name, not {v:?}"
                        )));
                    }
                    tls_options.server_name = Some(v.to_owned());
                }
                other => return Err(bad(&format!("unknown option {other:?}"))),
            }
        }
        if let Some(first) = tls_given.first().filter(|_| !tls) {
            return Err(bad(&format!("{first} needs tls=true")));
        }
        tls_options.client = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(bad(
                    "tls_cert and tls_key go together (the client certificate and its private key)",
                ));
            }
        };
        config.tls = tls.then_some(tls_options);
        Ok(config)
    }

    /// Takes the username and password from `SWITCHBOARD_SCYLLA_USERNAME` and
    /// `SWITCHBOARD_SCYLLA_PASSWORD` when set (keeps secrets out of the URI).
    pub fn with_env_credentials(mut self) -> Self {
        if let Ok(u) = std::env::var("SWITCHBOARD_SCYLLA_USERNAME") {
            self.username = Some(u);
        }
        if let Ok(p) = std::env::var("SWITCHBOARD_SCYLLA_PASSWORD") {
            self.password = Some(p);
        }
        self
    }

    /// The keyspace's replication map, in CQL.
    pub(super) fn replication(&self) -> String {
        let rf = self.replication_factor;
        match &self.datacenter {
            Some(dc) => format!("{{'class': 'NetworkTopologyStrategy', '{dc}': {rf}}}"),
            None => format!("{{'class': 'NetworkTopologyStrategy', 'replication_factor': {rf}}}"),
        }
    }

    /// A copy for another keyspace (tests use one per run).
    pub fn with_keyspace(&self, keyspace: &str) -> Result<Self> {
        if !is_identifier(keyspace) {
            return Err(StoreError::InvalidArgument(format!(
                "invalid keyspace name {keyspace:?}"
            )));
        }
        Ok(Self {
            keyspace: keyspace.to_owned(),
            ..self.clone()
        })
    }
}

pub(super) async fn session(config: &ScyllaConfig) -> Result<(Session, ExecutionProfileHandle)> {
    // Token- and shard-aware (the default policy's default), local DC first.
    let mut policy = DefaultPolicy::builder()
        .token_aware(true)
        .permit_dc_failover(false);
    if let Some(dc) = &config.datacenter {
        policy = policy.prefer_datacenter(dc.clone());
    }
    let policy = policy.build();
    let records = ExecutionProfile::builder()
        .consistency(Consistency::LocalQuorum)
        .serial_consistency(Some(SerialConsistency::LocalSerial))
        .request_timeout(Some(config.timeout))
        .load_balancing_policy(policy.clone())
        .build()
        .into_handle_with_label("records".into());
    let relaxed = ExecutionProfile::builder()
        .consistency(Consistency::LocalOne)
        .serial_consistency(Some(SerialConsistency::LocalSerial))
        .request_timeout(Some(config.timeout))
        .load_balancing_policy(policy)
        .build()
        .into_handle_with_label("relaxed-reads".into());
    let mut builder = SessionBuilder::new()
        .known_nodes(&config.nodes)
        .connection_timeout(config.timeout)
        // Client-side, monotonic write timestamps: a node's later write (the
        // deletion of a stale index entry, say) always wins over its earlier
        // ones, whichever coordinators and clocks served them.
        .timestamp_generator(Arc::new(MonotonicTimestampGenerator::new()))
        .default_execution_profile_handle(records);
    if let Some(user) = &config.username {
        builder = builder.user(user.clone(), config.password.clone().unwrap_or_default());
    }
    if let Some(tls) = &config.tls {
        builder = builder.tls_context(Some(tls.client_config()?));
    }
    let session = builder.build().await.map_err(|e| {
        StoreError::Backend(format!(
            "cannot connect to ScyllaDB at {}: {e}",
            config.nodes.join(",")
        ))
    })?;
    Ok((session, relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_with_everything() {
        let c = ScyllaConfig::parse(
            "scylla://sb:secret@10.0.0.1:9043,db2,[::1]:9044/switchboard?replication_factor=3&dc=eu1&timeout_ms=800&max_in_flight=64&migrate=false&bid_ttl_days=7&visitor_ttl_days=0&tablets=default",
        )
        .unwrap();
        assert_eq!(c.nodes, vec!["10.0.0.1:9043", "db2:9042", "[::1]:9044"]);
        assert_eq!(c.keyspace, "switchboard");
        assert_eq!(
            (c.username.as_deref(), c.password.as_deref()),
            (Some("sb"), Some("secret"))
        );
        assert_eq!(
            (c.replication_factor, c.datacenter.as_deref()),
            (3, Some("eu1"))
        );
        assert_eq!(
            (c.timeout, c.max_in_flight, c.migrate),
            (Duration::from_millis(800), 64, false)
        );
        assert_eq!(
            (c.bid_ttl_days, c.visitor_ttl_days, c.tablets),
            (7, 0, true)
        );
        assert!(
            !format!("{c:?}").contains("secret"),
            "Debug shows the password"
        );
    }

    #[test]
    fn uri_tls_options() {
        assert_eq!(
            ScyllaConfig::parse("scylla://db/ks").unwrap().tls,
            None,
            "plain TCP by default"
        );
        assert_eq!(
            ScyllaConfig::parse("scylla://db/ks?tls=false").unwrap().tls,
            None
        );
        let plain = ScyllaConfig::parse("scylla://db/ks?tls=true")
            .unwrap()
            .tls
            .expect("tls");
        assert_eq!(
            plain,
            TlsOptions::default(),
            "system roots, no client certificate, the node's IP as the name"
        );
        let c = ScyllaConfig::parse(
            "scylla://db/ks?tls=true&tls_ca=/etc/sb/ca.pem&tls_cert=/etc/sb/client.pem&tls_key=/etc/sb/client.key&tls_server_name=scylla.internal",
        )
        .unwrap();
        let tls = c.tls.as_ref().expect("tls");
        assert_eq!(
            tls.ca.as_deref(),
            Some(std::path::Path::new("/etc/sb/ca.pem"))
        );
        assert_eq!(
            tls.client,
            Some(("/etc/sb/client.pem".into(), "/etc/sb/client.key".into()))
        );
        assert_eq!(tls.server_name.as_deref(), Some("scylla.internal"));
        // The order of the options does not matter.
        let later = ScyllaConfig::parse("scylla://db/ks?tls_ca=/ca.pem&tls=on").unwrap();
        assert_eq!(later.tls.and_then(|t| t.ca), Some("/ca.pem".into()));
    }

    #[test]
    fn uri_tls_errors_say_what_is_wrong() {
        for (uri, says) in [
            ("scylla://db/ks?tls_ca=/ca.pem", "tls_ca needs tls=true"),
            (
                "scylla://db/ks?tls=false&tls_server_name=db",
                "tls_server_name needs tls=true",
            ),
            (
                "scylla://db/ks?tls_cert=/c.pem&tls_key=/k.pem",
                "tls_cert needs tls=true",
            ),
            (
                "scylla://db/ks?tls=true&tls_cert=/c.pem",
                "tls_cert and tls_key go together",
            ),
            (
                "scylla://db/ks?tls=true&tls_key=/k.pem",
                "tls_cert and tls_key go together",
            ),
            (
                "scylla://db/ks?tls=true&tls_ca=",
                "tls_ca needs a file path",
            ),
            ("scylla://db/ks?tls=yes", "tls must be true or false"),
            (
                "scylla://db/ks?tls=true&tls_server_name=not%20a%20name",
                "tls_server_name must be a host name",
            ),
            (
                "scylla://db/ks?tls=true&tls_verify=false",
                "unknown option \"tls_verify\"",
            ),
        ] {
            match ScyllaConfig::parse(uri) {
                Err(StoreError::InvalidArgument(msg)) => {
                    assert!(msg.contains(says), "{uri}: {msg}")
                }
                other => panic!("{uri}: expected an error saying {says:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn uri_defaults_and_errors() {
        let c = ScyllaConfig::parse("scylla://scylla/switchboard").unwrap();
        assert_eq!(c.nodes, vec!["scylla:9042"]);
        assert_eq!(
            (c.replication_factor, c.tablets, c.migrate, c.max_in_flight),
            (1, false, true, 256)
        );
        for bad in [
            "postgres://x/y",
            "scylla://host",
            "scylla:///ks",
            "scylla://h/bad-name",
            "scylla://h/ks;drop",
            "scylla://h/ks?replication_factor=x",
            "scylla://h/ks?nope=1",
            "scylla://h/ks?dc=a'b",
        ] {
            assert!(
                matches!(
                    ScyllaConfig::parse(bad),
                    Err(StoreError::InvalidArgument(_))
                ),
                "{bad}"
            );
        }
    }
}
