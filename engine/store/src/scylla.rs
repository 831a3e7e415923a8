//! The ScyllaDB store (cargo feature `scylla`): many Switchboard nodes share
//! one cluster.
//!
//! `scylla://[user[:password]@]host1[:port][,host2[:port]…]/keyspace[?options]`,
//! see [`ScyllaConfig::parse`] and `docs/scylla.md`. The schema is `cql/`,
//! applied on connect ([`migrate`]). TLS to the cluster: [`TlsOptions`].
//!
//! How it meets the [`Store`] contract:
//!
//! - Statements are prepared once, at connect, against the default
//!   token- and shard-aware load balancing. Records and configuration use
//!   LOCAL_QUORUM (reads and writes, so a read sees the last write); the
//!   export scan reads with LOCAL_ONE. Every statement has a timeout, and only
//!   idempotent ones (plain inserts, deletes, reads) are retried by the driver;
//!   LWTs and counter updates are not.
//! - Configuration documents: compare-and-set with lightweight transactions
//!   (`INSERT … IF NOT EXISTS`, `UPDATE … IF version = ?`, `DELETE … IF version = ?`).
//! - Calls: `put_calls` writes a batch as concurrent prepared statements, at
//!   most `max_in_flight` in flight for the whole store (a semaphore); any
//!   failure fails the batch. Rows carry
//!   the batch id, and the batch becomes visible at once when its marker row
//!   in `call_batches` is written, after every other row: readers resolve
//!   each call to the newest version whose batch is committed (`calls.body`,
//!   else `calls.prev_body`), and an index entry counts only if that version
//!   still has the entry's key. So a reader sees all of a batch or none of it,
//!   a failed batch is never seen, and stale index entries are harmless (they
//!   are deleted after the commit, best effort).
//! - A reader that meets a batch committed while it was reading runs its
//!   query again (at most [`MAX_REREADS`] times), so it cannot mix rows read
//!   before the commit with rows read after.
//! - Indexes are bucketed by day (`calls_by_tenant`, `calls_by_campaign`,
//!   `buyer_attempts`) or by the hour of the call id (`call_scan`), and
//!   `call_buckets` lists the buckets that hold rows, so no query scans a table.
//! - Bid rows: `put_auction` writes the request row, the response rows and
//!   their day buckets as one logged batch (all or none). `bid_requests` and
//!   `bid_responses` walk the tenant's day buckets newest first with the walk
//!   and cursor of `calls_by_tenant` (`DescWalk`), filter the decoded rows
//!   like the embedded store and read at most 5,000 rows a page.
//! - Visitor sessions: one row per (tag, day of `startedAt`, session id) in
//!   `visitor_sessions_by_tag_day`, concurrent upserts; a listing reads one
//!   partition. Bid and session rows expire with the configured TTLs.
//! - `buyer_total` is a counter, updated once per buyer per batch after the
//!   commit. Counter updates cannot be retried safely: a timeout there leaves
//!   the total possibly off by that batch, and `put_calls` reports the error.
//! - Leases (`leases`, one partition per name): a claim reads the row with
//!   SERIAL (Paxos across datacenters: nodes in two DCs must not both win a
//!   lease), decides as every backend does (`lease.rs`), then writes
//!   with an LWT conditioned on what it read (`INSERT … IF NOT EXISTS`, or
//!   `UPDATE … IF holder = ? AND epoch = ? AND expires = ?`), so of two
//!   racing claims at most one applies; a claim whose LWT is not applied, or
//!   fails (a timeout leaves its outcome unknown), reads again (SERIAL)
//!   and returns what is stored. A listing reads the whole (tiny) table at
//!   LOCAL_QUORUM and filters and sorts by name here.
//!
//! Store errors from the cluster (unreachable, timeouts, overload) are
//! [`StoreError::Backend`]; the API answers them with 503, and the recorder
//! turns them into back-pressure.

mod migrate;
mod tls;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use scylla::client::execution_profile::{ExecutionProfile, ExecutionProfileHandle};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::deserialize::row::DeserializeRow;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::policies::timestamp_generator::MonotonicTimestampGenerator;
use scylla::response::PagingState;
use scylla::response::query_result::QueryResult;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency, Statement};
use scylla::value::{Counter, CqlTimestamp, CqlValue, Row};
use switchboard_model::call::VisitorSession;
use switchboard_model::{
    AttemptOutcome, BidFilter, BidRequestRecord, BidResponseRecord, CallRecord, Id, Lease,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

pub use migrate::{BOOTSTRAP, CLAIM_TIMEOUT, MIGRATIONS, Migration};
pub use tls::TlsOptions;

use crate::lease::{self, Claim};
use crate::{
    AttemptRow, BidPage, CallPage, Doc, DocKind, DocPage, DocVersion, Result, Store, StoreError,
};

/// How many times a read runs again after meeting a batch that committed
/// while it was reading.
pub const MAX_REREADS: u32 = 3;

const MICROS_PER_DAY: i64 = 86_400_000_000;
const MILLIS_PER_HOUR: u128 = 3_600_000;
/// Rows per page of multi-row reads.
const PAGE_SIZE: i32 = 1_000;
/// Entries kept in the in-process caches before they are cleared.
const CACHE_LIMIT: usize = 200_000;
/// Most bid rows one page of `bid_requests`/`bid_responses` reads (as the
/// embedded store): a selective filter answers in bounded time, with a cursor.
const BID_SCAN_LIMIT: usize = 5_000;

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
    fn replication(&self) -> String {
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

fn backend<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Backend(format!("scylla {what}: {e}"))
}

fn corrupt<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

async fn session(config: &ScyllaConfig) -> Result<(Session, ExecutionProfileHandle)> {
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

/// Applies the pending migrations of `cql/` to the cluster; returns those applied now.
pub async fn migrate(config: &ScyllaConfig) -> Result<Vec<Migration>> {
    let (session, _) = session(config).await?;
    migrate::apply(&session, config).await
}

/// The tables of versioned documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DocTable {
    Config,
    Users,
    Sessions,
    ApiKeys,
    Audit,
}

impl DocTable {
    const ALL: [DocTable; 5] = [
        DocTable::Config,
        DocTable::Users,
        DocTable::Sessions,
        DocTable::ApiKeys,
        DocTable::Audit,
    ];

    fn of(kind: DocKind) -> Self {
        match kind {
            DocKind::User => DocTable::Users,
            DocKind::Session => DocTable::Sessions,
            DocKind::ApiKey => DocTable::ApiKeys,
            DocKind::Audit => DocTable::Audit,
            DocKind::Tenant
            | DocKind::Buyer
            | DocKind::Campaign
            | DocKind::Number
            | DocKind::Pool
            | DocKind::RtbTarget
            | DocKind::RtbRouter
            | DocKind::TrackingTag
            | DocKind::Secret => DocTable::Config,
        }
    }

    fn name(self) -> &'static str {
        match self {
            DocTable::Config => "config_docs",
            DocTable::Users => "users",
            DocTable::Sessions => "sessions",
            DocTable::ApiKeys => "api_keys",
            DocTable::Audit => "audit_log",
        }
    }

    /// `config_docs` has the kind in its partition key; the others hold one kind.
    fn keyed_by_kind(self) -> bool {
        self == DocTable::Config
    }
}

/// The prepared statements of one document table.
struct DocStatements {
    get: PreparedStatement,
    list: PreparedStatement,
    page_first: PreparedStatement,
    page_after: PreparedStatement,
    versions: PreparedStatement,
    insert: PreparedStatement,
    update: PreparedStatement,
    delete: PreparedStatement,
}

/// Every statement, prepared once at connect.
struct Statements {
    docs: Vec<DocStatements>,
    add_doc_tenant: PreparedStatement,
    doc_tenants: PreparedStatement,
    get_call: PreparedStatement,
    get_call_relaxed: PreparedStatement,
    put_call: PreparedStatement,
    put_call_fresh: PreparedStatement,
    mark_batch: PreparedStatement,
    get_batch: PreparedStatement,
    get_sid: PreparedStatement,
    put_sid: PreparedStatement,
    delete_sid: PreparedStatement,
    put_by_tenant: PreparedStatement,
    delete_by_tenant: PreparedStatement,
    tenant_first: PreparedStatement,
    tenant_after: PreparedStatement,
    put_by_campaign: PreparedStatement,
    delete_by_campaign: PreparedStatement,
    campaign_range: PreparedStatement,
    put_attempt: PreparedStatement,
    delete_attempt: PreparedStatement,
    attempts_since: PreparedStatement,
    add_total: PreparedStatement,
    get_total: PreparedStatement,
    put_bucket: PreparedStatement,
    buckets_asc: PreparedStatement,
    buckets_desc: PreparedStatement,
    buckets_scan: PreparedStatement,
    put_scan: PreparedStatement,
    scan_after: PreparedStatement,
    put_bid_bucket: PreparedStatement,
    bid_requests: BidStatements,
    bid_responses: BidStatements,
    put_session: PreparedStatement,
    list_sessions: PreparedStatement,
    get_lease: PreparedStatement,
    insert_lease: PreparedStatement,
    update_lease: PreparedStatement,
    all_leases: PreparedStatement,
}

/// The prepared statements of one bid-row table.
struct BidStatements {
    put: PreparedStatement,
    first: PreparedStatement,
    after: PreparedStatement,
}

/// The two bid-row tables, which page the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum BidTable {
    Requests,
    Responses,
}

impl BidTable {
    fn name(self) -> &'static str {
        match self {
            BidTable::Requests => "bid_requests_by_tenant_day",
            BidTable::Responses => "bid_responses_by_tenant_day",
        }
    }

    /// Its scope in `call_buckets` (key: tenant, bucket: day).
    fn scope(self) -> &'static str {
        match self {
            BidTable::Requests => "bid_requests",
            BidTable::Responses => "bid_responses",
        }
    }
}

struct Preparer<'a> {
    session: &'a Session,
    keyspace: &'a str,
    timeout: Duration,
}

impl Preparer<'_> {
    /// Prepares `cql` (`{ks}` stands for the keyspace) with its timeout and
    /// whether the driver may retry it.
    async fn prepare(&self, cql: &str, idempotent: bool) -> Result<PreparedStatement> {
        let text = cql.replace("{ks}", self.keyspace);
        let mut st = self
            .session
            .prepare(text.clone())
            .await
            .map_err(|e| StoreError::Backend(format!("scylla cannot prepare {text:?}: {e}")))?;
        st.set_is_idempotent(idempotent);
        // LWTs run a Paxos round: give them longer.
        let lwt = text.contains(" IF ");
        st.set_request_timeout(Some(if lwt { self.timeout * 2 } else { self.timeout }));
        st.set_page_size(PAGE_SIZE);
        Ok(st)
    }

    /// A read at LOCAL_SERIAL: it sees the outcome of every LWT on its row,
    /// committing one left in progress first (a Paxos round: the LWT timeout).
    async fn serial(&self, cql: &str) -> Result<PreparedStatement> {
        let mut st = self.prepare(cql, true).await?;
        st.set_consistency(Consistency::LocalSerial);
        st.set_request_timeout(Some(self.timeout * 2));
        Ok(st)
    }

    /// A lease LWT: Paxos across every datacenter (SERIAL).
    async fn lease_lwt(&self, cql: &str) -> Result<PreparedStatement> {
        let mut st = self.prepare(cql, false).await?;
        st.set_serial_consistency(Some(SerialConsistency::Serial));
        Ok(st)
    }

    async fn relaxed(
        &self,
        cql: &str,
        profile: &ExecutionProfileHandle,
    ) -> Result<PreparedStatement> {
        let mut st = self.prepare(cql, true).await?;
        st.set_execution_profile_handle(Some(profile.clone()));
        Ok(st)
    }

    async fn doc_statements(&self, table: DocTable) -> Result<DocStatements> {
        let t = table.name();
        let (key, cols, marks) = if table.keyed_by_kind() {
            ("kind = ? AND tenant = ?", "kind, tenant", "?, ?")
        } else {
            ("tenant = ?", "tenant", "?")
        };
        Ok(DocStatements {
            get: self.prepare(&format!("SELECT version, body FROM {{ks}}.{t} WHERE {key} AND id = ?"), true).await?,
            list: self.prepare(&format!("SELECT id, version, body FROM {{ks}}.{t} WHERE {key}"), true).await?,
            page_first: self.prepare(&format!("SELECT id, version, body FROM {{ks}}.{t} WHERE {key} LIMIT ?"), true).await?,
            page_after: self
                .prepare(&format!("SELECT id, version, body FROM {{ks}}.{t} WHERE {key} AND id > ? LIMIT ?"), true)
                .await?,
            versions: self.prepare(&format!("SELECT id, version FROM {{ks}}.{t} WHERE {key}"), true).await?,
            insert: self
                .prepare(
                    &format!("INSERT INTO {{ks}}.{t} ({cols}, id, version, body) VALUES ({marks}, ?, 1, ?) IF NOT EXISTS"),
                    false,
                )
                .await?,
            update: self
                .prepare(&format!("UPDATE {{ks}}.{t} SET version = ?, body = ? WHERE {key} AND id = ? IF version = ?"), false)
                .await?,
            delete: self.prepare(&format!("DELETE FROM {{ks}}.{t} WHERE {key} AND id = ? IF version = ?"), false).await?,
        })
    }

    async fn bid_statements(&self, table: BidTable) -> Result<BidStatements> {
        let t = table.name();
        let cols = "SELECT created, id, body FROM {ks}";
        Ok(BidStatements {
            put: self.prepare(&format!("INSERT INTO {{ks}}.{t} (tenant, day, created, id, body) VALUES (?, ?, ?, ?, ?)"), true).await?,
            first: self.prepare(&format!("{cols}.{t} WHERE tenant = ? AND day = ? LIMIT ?"), true).await?,
            after: self
                .prepare(&format!("{cols}.{t} WHERE tenant = ? AND day = ? AND (created, id) < (?, ?) LIMIT ?"), true)
                .await?,
        })
    }

    async fn all(&self, relaxed: &ExecutionProfileHandle) -> Result<Statements> {
        let mut docs = Vec::new();
        for table in DocTable::ALL {
            docs.push(self.doc_statements(table).await?);
        }
        let p = |cql: &'static str| self.prepare(cql, true);
        Ok(Statements {
            docs,
            add_doc_tenant: p("INSERT INTO {ks}.doc_tenants (kind, tenant) VALUES (?, ?)").await?,
            doc_tenants: p("SELECT tenant FROM {ks}.doc_tenants WHERE kind = ?").await?,
            get_call: p("SELECT body, batch, prev_body FROM {ks}.calls WHERE id = ?").await?,
            get_call_relaxed: self.relaxed("SELECT body, batch, prev_body FROM {ks}.calls WHERE id = ?", relaxed).await?,
            put_call: p("INSERT INTO {ks}.calls (id, body, batch, prev_body) VALUES (?, ?, ?, ?)").await?,
            put_call_fresh: p("INSERT INTO {ks}.calls (id, body, batch, prev_body) VALUES (?, ?, ?, null)").await?,
            mark_batch: p("INSERT INTO {ks}.call_batches (batch, committed_at) VALUES (?, toTimestamp(now()))").await?,
            get_batch: p("SELECT batch FROM {ks}.call_batches WHERE batch = ?").await?,
            get_sid: p("SELECT id FROM {ks}.call_sids WHERE call_sid = ?").await?,
            put_sid: p("INSERT INTO {ks}.call_sids (call_sid, id) VALUES (?, ?)").await?,
            delete_sid: p("DELETE FROM {ks}.call_sids WHERE call_sid = ?").await?,
            put_by_tenant: p("INSERT INTO {ks}.calls_by_tenant (tenant, day, started, id) VALUES (?, ?, ?, ?)").await?,
            delete_by_tenant: p("DELETE FROM {ks}.calls_by_tenant WHERE tenant = ? AND day = ? AND started = ? AND id = ?")
                .await?,
            tenant_first: p("SELECT started, id FROM {ks}.calls_by_tenant WHERE tenant = ? AND day = ? LIMIT ?").await?,
            tenant_after: p(
                "SELECT started, id FROM {ks}.calls_by_tenant WHERE tenant = ? AND day = ? AND (started, id) < (?, ?) LIMIT ?",
            )
            .await?,
            put_by_campaign: p(
                "INSERT INTO {ks}.calls_by_campaign (tenant, campaign, day, started, id) VALUES (?, ?, ?, ?, ?)",
            )
            .await?,
            delete_by_campaign: p(
                "DELETE FROM {ks}.calls_by_campaign WHERE tenant = ? AND campaign = ? AND day = ? AND started = ? AND id = ?",
            )
            .await?,
            campaign_range: p(
                "SELECT started, id FROM {ks}.calls_by_campaign \
                 WHERE tenant = ? AND campaign = ? AND day = ? AND started >= ? AND started < ?",
            )
            .await?,
            put_attempt: p("INSERT INTO {ks}.buyer_attempts (buyer, day, started, call_id, attempt) VALUES (?, ?, ?, ?, ?)")
                .await?,
            delete_attempt: p(
                "DELETE FROM {ks}.buyer_attempts WHERE buyer = ? AND day = ? AND started = ? AND call_id = ? AND attempt = ?",
            )
            .await?,
            attempts_since: p(
                "SELECT started, call_id, attempt FROM {ks}.buyer_attempts WHERE buyer = ? AND day = ? AND started >= ?",
            )
            .await?,
            // A counter update applied twice counts twice: never retried.
            add_total: self.prepare("UPDATE {ks}.buyer_totals SET total = total + ? WHERE buyer = ?", false).await?,
            get_total: p("SELECT total FROM {ks}.buyer_totals WHERE buyer = ?").await?,
            put_bucket: p("INSERT INTO {ks}.call_buckets (scope, key, bucket) VALUES (?, ?, ?)").await?,
            buckets_asc: p(
                "SELECT bucket FROM {ks}.call_buckets WHERE scope = ? AND key = ? AND bucket >= ? AND bucket <= ? \
                 ORDER BY bucket ASC",
            )
            .await?,
            buckets_desc: p(
                "SELECT bucket FROM {ks}.call_buckets WHERE scope = ? AND key = ? AND bucket >= ? AND bucket <= ? \
                 ORDER BY bucket DESC",
            )
            .await?,
            buckets_scan: self
                .relaxed(
                    "SELECT bucket FROM {ks}.call_buckets WHERE scope = ? AND key = ? AND bucket >= ? AND bucket <= ? \
                     ORDER BY bucket ASC",
                    relaxed,
                )
                .await?,
            put_scan: p("INSERT INTO {ks}.call_scan (hour, id) VALUES (?, ?)").await?,
            scan_after: self.relaxed("SELECT id FROM {ks}.call_scan WHERE hour = ? AND id > ? LIMIT ?", relaxed).await?,
            // Bid buckets expire with the rows they list (same TTL, same batch).
            put_bid_bucket: p("INSERT INTO {ks}.call_buckets (scope, key, bucket) VALUES (?, ?, ?) USING TTL ?").await?,
            bid_requests: self.bid_statements(BidTable::Requests).await?,
            bid_responses: self.bid_statements(BidTable::Responses).await?,
            put_session: p("INSERT INTO {ks}.visitor_sessions_by_tag_day (tag_id, day, session_id, body) VALUES (?, ?, ?, ?)")
                .await?,
            list_sessions: p("SELECT body FROM {ks}.visitor_sessions_by_tag_day WHERE tag_id = ? AND day = ?").await?,
            get_lease: {
                let mut st = self.serial("SELECT holder, expires, epoch FROM {ks}.leases WHERE name = ?").await?;
                // Leases are decided cluster-wide (SERIAL, not LOCAL_SERIAL):
                // nodes in two datacenters must not both win one.
                st.set_consistency(Consistency::Serial);
                st
            },
            // LWTs: not idempotent, never retried (a retry could apply on top of itself).
            insert_lease: self.lease_lwt("INSERT INTO {ks}.leases (name, holder, expires, epoch) VALUES (?, ?, ?, ?) IF NOT EXISTS").await?,
            update_lease: self
                .lease_lwt(
                    "UPDATE {ks}.leases SET holder = ?, expires = ?, epoch = ? WHERE name = ? \
                     IF holder = ? AND epoch = ? AND expires = ?",
                )
                .await?,
            all_leases: p("SELECT name, holder, expires, epoch FROM {ks}.leases").await?,
        })
    }
}

/// The ScyllaDB [`Store`]. Clones share one session.
#[derive(Clone)]
pub struct ScyllaStore {
    inner: Arc<Inner>,
}

struct Inner {
    session: Session,
    st: Statements,
    keyspace: String,
    /// Bounds the requests that batch writes and multi-row reads have in
    /// flight, all operations together: a slow cluster makes callers wait
    /// here (and the recorder's queue fill) instead of piling up requests.
    in_flight: Arc<Semaphore>,
    /// Batches known committed, with when this process learned it.
    committed: Mutex<HashMap<Uuid, Instant>>,
    /// Bucket rows known written (no need to write them again).
    buckets: Mutex<HashSet<(&'static str, Uuid, i32)>>,
    /// Time to live of bid rows (and their buckets), seconds; 0: forever.
    bid_ttl: i32,
}

impl std::fmt::Debug for ScyllaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScyllaStore")
            .field("keyspace", &self.inner.keyspace)
            .finish_non_exhaustive()
    }
}

type Values = Vec<CqlValue>;
type Job<T> = Pin<Box<dyn Future<Output = Result<T>> + Send>>;

fn uuid(id: Uuid) -> CqlValue {
    CqlValue::Uuid(id)
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Corrupt(format!("time out of range: {us}µs")))
}

fn day_of(us: i64) -> i32 {
    // Days since the epoch fit an i32 for every representable time.
    us.div_euclid(MICROS_PER_DAY) as i32
}

/// The bucket of a UTC date: what [`day_of`] gives every time of that date.
fn day_of_date(date: NaiveDate) -> i32 {
    (date - DateTime::UNIX_EPOCH.date_naive()).num_days() as i32
}

/// A clustering position in a newest-first day index: (time µs, id).
type Position = (i64, Id);

/// Walks the day buckets of a newest-first index (`calls_by_tenant`, the bid
/// tables) one read at a time, strictly before `before`: the first read of
/// the cursor's day resumes after the cursor, every other day starts at its
/// newest row, and a full chunk goes on in the same day after its last row.
/// No I/O: the callers run the reads it names.
#[derive(Debug)]
struct DescWalk {
    /// Buckets holding rows, newest first.
    days: Vec<i32>,
    at: usize,
    before: Option<Position>,
    position: Option<Position>,
}

impl DescWalk {
    fn new(days: Vec<i32>, before: Option<Position>) -> Self {
        let mut walk = Self {
            days,
            at: 0,
            before,
            position: None,
        };
        walk.position = walk.start();
        walk
    }

    /// Where the current day starts: before the cursor if it is the cursor's day.
    fn start(&self) -> Option<Position> {
        let day = *self.days.get(self.at)?;
        self.before.filter(|(us, _)| day_of(*us) == day)
    }

    /// The next read: its day, and the position to read strictly before
    /// (`None`: from the day's newest row). `None` when the walk is done.
    fn read(&self) -> Option<(i32, Option<Position>)> {
        self.days.get(self.at).map(|&day| (day, self.position))
    }

    /// After a read: `last` is its last row, `full` whether it filled its chunk
    /// (then the day may hold more).
    fn advance(&mut self, last: Option<Position>, full: bool) {
        match last {
            Some(last) if full => self.position = Some(last),
            _ => {
                self.at += 1;
                self.position = self.start();
            }
        }
    }
}

/// The exclusive upper key of a bid page: the cursor or the filter's
/// `until`, whichever is older. (`until` with the nil id: the nil uuid sorts
/// first, so the bound keeps exactly the rows created before `until`.)
fn bid_upper(before: Option<Position>, until: Option<DateTime<Utc>>) -> Option<Position> {
    let until = until.map(|u| (micros(u), Uuid::nil()));
    match (before, until) {
        (Some(a), Some(u)) => Some(a.min(u)),
        (a, u) => a.or(u),
    }
}

/// Each visitor session of a write once, the last one given for its key
/// (tag, day, session id) — what writing them in order leaves.
fn last_per_session(sessions: &[VisitorSession]) -> Vec<&VisitorSession> {
    let mut at: HashMap<(Id, i32, &str), usize> = HashMap::new();
    let mut out: Vec<&VisitorSession> = Vec::new();
    for v in sessions {
        let key = (
            v.tag_id,
            day_of(micros(v.started_at)),
            v.session_id.as_str(),
        );
        match at.get(&key) {
            Some(&i) => out[i] = v,
            None => {
                at.insert(key, out.len());
                out.push(v);
            }
        }
    }
    out
}

/// The hour of a call id's time-ordered prefix (UUIDv7: its creation hour).
/// Monotonic in the id whatever its version, so scanning hours in order and
/// ids in order within an hour is id order.
fn hour_of(id: Id) -> i32 {
    ((id.as_u128() >> 80) / MILLIS_PER_HOUR) as i32
}

fn counted(o: AttemptOutcome) -> bool {
    !o.is_unanswered()
}

/// A call's index entries, to delete the ones an upsert leaves stale.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum IndexKey {
    Sid(String),
    Tenant {
        tenant: Id,
        started: i64,
    },
    Campaign {
        tenant: Id,
        campaign: Id,
        started: i64,
    },
    Attempt {
        buyer: Id,
        started: i64,
        attempt: i32,
    },
}

fn index_keys(call: &CallRecord) -> HashSet<IndexKey> {
    let started = micros(call.started_at);
    let mut keys = HashSet::from([
        IndexKey::Sid(call.call_sid.clone()),
        IndexKey::Tenant {
            tenant: call.tenant_id,
            started,
        },
        IndexKey::Campaign {
            tenant: call.tenant_id,
            campaign: call.campaign_id,
            started,
        },
    ]);
    for (i, a) in call.attempts.iter().enumerate() {
        keys.insert(IndexKey::Attempt {
            buyer: a.buyer_id,
            started: micros(a.started_at),
            attempt: i as i32,
        });
    }
    keys
}

/// One read's view of which batches are committed (see the module docs).
struct View {
    started: Instant,
    /// A batch became known committed during this read: read again.
    fresh: bool,
    rereads: u32,
}

impl View {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            fresh: false,
            rereads: 0,
        }
    }

    /// Whether to run the read again; resets the view if so.
    fn again(&mut self) -> bool {
        if self.fresh && self.rereads < MAX_REREADS {
            *self = Self {
                started: Instant::now(),
                fresh: false,
                rereads: self.rereads + 1,
            };
            true
        } else {
            false
        }
    }
}

/// A `calls` row as stored.
type RawCall = (Option<String>, Option<Uuid>, Option<String>);

/// Each call of a batch once, in first-seen order, at its last version.
fn latest_versions(calls: &[CallRecord]) -> Vec<&CallRecord> {
    let mut at: HashMap<Id, usize> = HashMap::new();
    let mut out: Vec<&CallRecord> = Vec::new();
    for c in calls {
        match at.get(&c.id) {
            Some(&i) => out[i] = c,
            None => {
                at.insert(c.id, out.len());
                out.push(c);
            }
        }
    }
    out
}

/// A bucket row of `call_buckets`: (scope, key, bucket).
type Bucket = (&'static str, Uuid, i32);

impl IndexKey {
    /// The `call_buckets` row that lists this entry's partition.
    fn bucket(&self) -> Option<Bucket> {
        match self {
            IndexKey::Sid(_) => None,
            IndexKey::Tenant { tenant, started } => Some(("tenant", *tenant, day_of(*started))),
            IndexKey::Campaign {
                campaign, started, ..
            } => Some(("campaign", *campaign, day_of(*started))),
            IndexKey::Attempt { buyer, started, .. } => Some(("buyer", *buyer, day_of(*started))),
        }
    }
}

/// What one `put_calls` writes, worked out from the calls and the versions
/// they replace; no I/O, so it is tested on its own.
#[derive(Debug, Default)]
struct CommitPlan {
    /// (id, record JSON, previous visible record JSON).
    calls: Vec<(Id, String, Option<String>)>,
    /// Index entries to write.
    index: Vec<(Id, IndexKey)>,
    /// Buckets that hold the entries.
    buckets: HashSet<Bucket>,
    /// Changes of buyer totals (none zero).
    deltas: HashMap<Id, i64>,
    /// Entries of the replaced versions that the new ones no longer have.
    stale: Vec<(Id, IndexKey)>,
}

impl CommitPlan {
    fn new(calls: &[&CallRecord], old: &HashMap<Id, CallRecord>) -> Result<Self> {
        let json = |c: &CallRecord| {
            serde_json::to_string(c)
                .map_err(|e| StoreError::InvalidArgument(format!("call record: {e}")))
        };
        let mut plan = CommitPlan::default();
        for call in calls {
            let prior = old.get(&call.id);
            plan.calls
                .push((call.id, json(call)?, prior.map(json).transpose()?));
            let keys = index_keys(call);
            plan.buckets.insert(("scan", Uuid::nil(), hour_of(call.id)));
            plan.buckets
                .extend(keys.iter().filter_map(IndexKey::bucket));
            for a in &call.attempts {
                *plan.deltas.entry(a.buyer_id).or_default() += i64::from(counted(a.outcome));
            }
            if let Some(prior) = prior {
                for a in &prior.attempts {
                    *plan.deltas.entry(a.buyer_id).or_default() -= i64::from(counted(a.outcome));
                }
                plan.stale.extend(
                    index_keys(prior)
                        .into_iter()
                        .filter(|k| !keys.contains(k))
                        .map(|k| (call.id, k)),
                );
            }
            plan.index.extend(keys.into_iter().map(|k| (call.id, k)));
        }
        plan.deltas.retain(|_, d| *d != 0);
        Ok(plan)
    }
}

/// The version of a `calls` row a reader sees: its body if its batch is
/// committed (or it has none), else the version it replaced.
fn visible(raw: RawCall, committed: impl FnOnce(Uuid) -> bool) -> Option<String> {
    let (body, batch, prev) = raw;
    match batch {
        None => body,
        Some(b) if committed(b) => body,
        Some(_) => prev,
    }
}

impl ScyllaStore {
    /// Connects, applies pending migrations (unless `migrate=false`) and
    /// prepares every statement.
    pub async fn connect(config: &ScyllaConfig) -> Result<Self> {
        let (session, relaxed) = session(config).await?;
        if config.migrate {
            migrate::apply(&session, config).await?;
        }
        let st = Preparer {
            session: &session,
            keyspace: &config.keyspace,
            timeout: config.timeout,
        }
        .all(&relaxed)
        .await?;
        Ok(Self {
            inner: Arc::new(Inner {
                session,
                st,
                keyspace: config.keyspace.clone(),
                in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
                committed: Mutex::new(HashMap::new()),
                buckets: Mutex::new(HashSet::new()),
                bid_ttl: i32::try_from(u64::from(config.bid_ttl_days) * 86_400).unwrap_or(i32::MAX),
            }),
        })
    }

    /// Drops this store's keyspace and everything in it (test teardown).
    pub async fn drop_keyspace(&self) -> Result<()> {
        let mut st = Statement::new(format!("DROP KEYSPACE IF EXISTS {}", self.inner.keyspace));
        st.set_request_timeout(Some(Duration::from_secs(60)));
        self.inner
            .session
            .query_unpaged(st, ())
            .await
            .map_err(backend("drop keyspace"))?;
        Ok(())
    }

    fn session(&self) -> &Session {
        &self.inner.session
    }

    fn st(&self) -> &Statements {
        &self.inner.st
    }

    /// The statement that writes (or deletes) the index entry `key` of call `id`.
    fn index_write(&self, id: Id, key: &IndexKey, delete: bool) -> (&PreparedStatement, Values) {
        let st = self.st();
        let pick = |put, del| if delete { del } else { put };
        match key {
            IndexKey::Sid(sid) if delete => (&st.delete_sid, vec![CqlValue::Text(sid.clone())]),
            IndexKey::Sid(sid) => (&st.put_sid, vec![CqlValue::Text(sid.clone()), uuid(id)]),
            IndexKey::Tenant { tenant, started } => (
                pick(&st.put_by_tenant, &st.delete_by_tenant),
                vec![
                    uuid(*tenant),
                    CqlValue::Int(day_of(*started)),
                    CqlValue::BigInt(*started),
                    uuid(id),
                ],
            ),
            IndexKey::Campaign {
                tenant,
                campaign,
                started,
            } => (
                pick(&st.put_by_campaign, &st.delete_by_campaign),
                vec![
                    uuid(*tenant),
                    uuid(*campaign),
                    CqlValue::Int(day_of(*started)),
                    CqlValue::BigInt(*started),
                    uuid(id),
                ],
            ),
            IndexKey::Attempt {
                buyer,
                started,
                attempt,
            } => (
                pick(&st.put_attempt, &st.delete_attempt),
                vec![
                    uuid(*buyer),
                    CqlValue::Int(day_of(*started)),
                    CqlValue::BigInt(*started),
                    uuid(id),
                    CqlValue::Int(*attempt),
                ],
            ),
        }
    }

    async fn exec(&self, st: &PreparedStatement, values: Values) -> Result<QueryResult> {
        self.session()
            .execute_unpaged(st, values)
            .await
            .map_err(backend("request"))
    }

    /// Every row of a (possibly multi-page) read.
    async fn select<T>(&self, st: &PreparedStatement, values: Values) -> Result<Vec<T>>
    where
        T: for<'f> DeserializeRow<'f, 'f>,
    {
        let mut out = Vec::new();
        let mut paging = PagingState::start();
        loop {
            let (result, next) = self
                .session()
                .execute_single_page(st, &values, paging)
                .await
                .map_err(backend("read"))?;
            let rows = result.into_rows_result().map_err(backend("read result"))?;
            for row in rows.rows::<T>().map_err(corrupt("row type"))? {
                out.push(row.map_err(corrupt("row"))?);
            }
            match next.into_paging_control_flow() {
                std::ops::ControlFlow::Continue(p) => paging = p,
                std::ops::ControlFlow::Break(()) => return Ok(out),
            }
        }
    }

    /// Runs `jobs` concurrently, within the store's bound on requests in
    /// flight; all their results in order, or the first error (the rest are
    /// cancelled). A job never waits for a permit while holding one, so
    /// concurrent callers cannot deadlock.
    async fn all<T: Send + 'static>(&self, jobs: Vec<Job<T>>) -> Result<Vec<T>> {
        let limit = &self.inner.in_flight;
        let n = jobs.len();
        let mut set = JoinSet::new();
        let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
        let mut take = |joined: std::result::Result<(usize, Result<T>), tokio::task::JoinError>| -> Result<()> {
            let (i, r) = joined.map_err(backend("task"))?;
            out[i] = Some(r?);
            Ok(())
        };
        for (i, job) in jobs.into_iter().enumerate() {
            let permit = Arc::clone(limit)
                .acquire_owned()
                .await
                .map_err(backend("semaphore"))?;
            set.spawn(async move {
                let r = job.await;
                drop(permit);
                (i, r)
            });
            while let Some(joined) = set.try_join_next() {
                take(joined)?;
            }
        }
        while let Some(joined) = set.join_next().await {
            take(joined)?;
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// A job that runs one prepared statement.
    fn job(&self, st: &PreparedStatement, values: Values) -> Job<QueryResult> {
        let inner = Arc::clone(&self.inner);
        let st = st.clone();
        Box::pin(async move {
            inner
                .session
                .execute_unpaged(&st, values)
                .await
                .map_err(backend("request"))
        })
    }

    async fn write_all(&self, writes: Vec<(&PreparedStatement, Values)>) -> Result<()> {
        let jobs = writes
            .into_iter()
            .map(|(st, v)| {
                let job = self.job(st, v);
                Box::pin(async move { job.await.map(|_| ()) }) as Job<()>
            })
            .collect();
        self.all(jobs).await.map(|_| ())
    }

    /// Whether `batch` is committed, as of `view`.
    fn known_committed(&self, batch: Uuid, view: &mut View) -> bool {
        let cache = self.inner.committed.lock().expect("committed cache");
        match cache.get(&batch) {
            Some(&at) => {
                if at >= view.started {
                    view.fresh = true;
                }
                true
            }
            None => false,
        }
    }

    fn remember_committed(&self, batch: Uuid) {
        let mut cache = self.inner.committed.lock().expect("committed cache");
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.entry(batch).or_insert_with(Instant::now);
    }

    /// The visible versions of the calls `ids` (missing ones are absent).
    async fn load(
        &self,
        ids: &[Id],
        view: &mut View,
        relaxed: bool,
    ) -> Result<HashMap<Id, CallRecord>> {
        let st = if relaxed {
            &self.st().get_call_relaxed
        } else {
            &self.st().get_call
        };
        let jobs = ids
            .iter()
            .map(|&id| {
                let job = self.job(st, vec![uuid(id)]);
                Box::pin(async move {
                    let rows = job
                        .await?
                        .into_rows_result()
                        .map_err(backend("call result"))?;
                    let raw: Option<RawCall> =
                        rows.maybe_first_row().map_err(corrupt("call row"))?;
                    Ok((id, raw))
                }) as Job<(Id, Option<RawCall>)>
            })
            .collect();
        let raws: Vec<(Id, RawCall)> = self
            .all(jobs)
            .await?
            .into_iter()
            .filter_map(|(id, raw)| raw.map(|r| (id, r)))
            .collect();

        let mut unknown: HashSet<Uuid> = HashSet::new();
        for (_, (_, batch, _)) in &raws {
            if let Some(b) = batch
                && !self.known_committed(*b, view)
            {
                unknown.insert(*b);
            }
        }
        if !unknown.is_empty() {
            let unknown: Vec<Uuid> = unknown.into_iter().collect();
            let jobs = unknown
                .iter()
                .map(|&b| {
                    let job = self.job(&self.st().get_batch, vec![uuid(b)]);
                    Box::pin(async move {
                        let rows = job
                            .await?
                            .into_rows_result()
                            .map_err(backend("batch result"))?;
                        Ok(rows.rows_num() > 0)
                    }) as Job<bool>
                })
                .collect();
            for (b, committed) in unknown.iter().zip(self.all(jobs).await?) {
                if committed {
                    self.remember_committed(*b);
                    view.fresh = true;
                }
            }
        }

        let mut out = HashMap::with_capacity(raws.len());
        for (id, raw) in raws {
            if let Some(json) = visible(raw, |b| self.known_committed(b, view)) {
                let call: CallRecord =
                    serde_json::from_str(&json).map_err(corrupt("call record"))?;
                out.insert(id, call);
            }
        }
        Ok(out)
    }

    /// Buckets of an index in `[from, to]`, ascending or descending.
    async fn buckets(
        &self,
        scope: &str,
        key: Id,
        from: i32,
        to: i32,
        descending: bool,
    ) -> Result<Vec<i32>> {
        let st = if descending {
            &self.st().buckets_desc
        } else {
            &self.st().buckets_asc
        };
        let rows: Vec<(i32,)> = self
            .select(
                st,
                vec![
                    CqlValue::Text(scope.to_owned()),
                    uuid(key),
                    CqlValue::Int(from),
                    CqlValue::Int(to),
                ],
            )
            .await?;
        Ok(rows.into_iter().map(|(b,)| b).collect())
    }

    fn bid_statements(&self, table: BidTable) -> &BidStatements {
        match table {
            BidTable::Requests => &self.st().bid_requests,
            BidTable::Responses => &self.st().bid_responses,
        }
    }

    /// Pages a bid table newest first: `tenant`'s rows created in the
    /// filter's `[since, until)`, before `cursor`, that pass `keep`; at most
    /// `limit` of them, reading at most [`BID_SCAN_LIMIT`] rows (then the page
    /// ends early). The cursor names the last row read, so the next page
    /// starts right after it: no repeats, no gaps. As the embedded store.
    async fn bid_page<T: serde::de::DeserializeOwned>(
        &self,
        table: BidTable,
        tenant: Id,
        filter: &BidFilter,
        cursor: Option<&str>,
        limit: usize,
        keep: impl Fn(&T) -> bool,
    ) -> Result<BidPage<T>> {
        let before = cursor.map(decode_cursor).transpose()?;
        let limit = limit.max(1);
        let since = filter.since.map(micros);
        let upper = bid_upper(before, filter.until);
        let mut items = Vec::new();
        let (first_day, last_day) = (
            since.map_or(i32::MIN, day_of),
            upper.map_or(i32::MAX, |(us, _)| day_of(us)),
        );
        if first_day > last_day {
            // An empty window; within one day, the walk stops at `since`.
            return Ok(BidPage { items, next: None });
        }
        let days = self
            .buckets(table.scope(), tenant, first_day, last_day, true)
            .await?;
        let st = self.bid_statements(table);
        let chunk = (limit + 1).clamp(16, PAGE_SIZE as usize);
        let mut walk = DescWalk::new(days, upper);
        let (mut scanned, mut last, mut more) = (0, None, false);
        'walk: while let Some((day, position)) = walk.read() {
            let rows: Vec<(i64, Uuid, Option<String>)> = match position {
                None => {
                    self.select(
                        &st.first,
                        vec![
                            uuid(tenant),
                            CqlValue::Int(day),
                            CqlValue::Int(chunk as i32),
                        ],
                    )
                    .await?
                }
                Some((us, id)) => {
                    self.select(
                        &st.after,
                        vec![
                            uuid(tenant),
                            CqlValue::Int(day),
                            CqlValue::BigInt(us),
                            uuid(id),
                            CqlValue::Int(chunk as i32),
                        ],
                    )
                    .await?
                }
            };
            for (created, id, body) in &rows {
                if since.is_some_and(|s| *created < s) {
                    // Newest first: every row from here on is older than the window.
                    break 'walk;
                }
                if items.len() == limit || scanned == BID_SCAN_LIMIT {
                    more = true;
                    break 'walk;
                }
                scanned += 1;
                last = Some((*created, *id));
                let Some(body) = body else { continue };
                let row: T = serde_json::from_str(body).map_err(corrupt("bid row"))?;
                if keep(&row) {
                    items.push(row);
                }
            }
            walk.advance(
                rows.last().map(|&(created, id, _)| (created, id)),
                rows.len() == chunk,
            );
        }
        let next = if more {
            last.map(|(us, id)| encode_cursor(us, id))
        } else {
            None
        };
        Ok(BidPage { items, next })
    }

    /// Lease `name` as stored, read at SERIAL.
    async fn read_lease(&self, name: &str) -> Result<Option<Lease>> {
        let rows: Vec<LeaseRow> = self
            .select(&self.st().get_lease, vec![CqlValue::Text(name.to_owned())])
            .await?;
        rows.into_iter()
            .next()
            .map(|row| decode_lease(name.to_owned(), row))
            .transpose()
    }

    /// Whether an LWT applied.
    fn lwt_applied(result: QueryResult) -> Result<bool> {
        let rows = result.into_rows_result().map_err(backend("lwt result"))?;
        let applied_at = rows.column_specs().get_by_name("[applied]").map(|(i, _)| i);
        let row: Row = rows.single_row().map_err(backend("lwt row"))?;
        applied_at
            .and_then(|i| row.columns.get(i).cloned().flatten())
            .and_then(|v| v.as_boolean())
            .ok_or_else(|| StoreError::Backend("scylla lwt result without [applied]".into()))
    }

    fn doc_from_lwt(result: QueryResult) -> Result<(bool, Option<u64>)> {
        let rows = result.into_rows_result().map_err(backend("lwt result"))?;
        let specs = rows.column_specs();
        let applied_at = specs.get_by_name("[applied]").map(|(i, _)| i);
        let version_at = specs.get_by_name("version").map(|(i, _)| i);
        let row: Row = rows.single_row().map_err(backend("lwt row"))?;
        let applied = applied_at
            .and_then(|i| row.columns.get(i).cloned().flatten())
            .and_then(|v| v.as_boolean())
            .ok_or_else(|| StoreError::Backend("scylla lwt result without [applied]".into()))?;
        let version = version_at
            .and_then(|i| row.columns.get(i).cloned().flatten())
            .and_then(|v| v.as_bigint());
        Ok((applied, version.map(|v| v as u64)))
    }

    fn doc_key(kind: DocKind, tenant: Id) -> Values {
        if DocTable::of(kind).keyed_by_kind() {
            vec![CqlValue::Text(kind.as_str().to_owned()), uuid(tenant)]
        } else {
            vec![uuid(tenant)]
        }
    }

    /// The tenants that have (or had) documents of a kind.
    async fn doc_tenants(&self, kind: DocKind) -> Result<Vec<Id>> {
        let rows: Vec<(Uuid,)> = self
            .select(
                &self.st().doc_tenants,
                vec![CqlValue::Text(kind.as_str().to_owned())],
            )
            .await?;
        Ok(rows.into_iter().map(|(t,)| t).collect())
    }

    fn doc_statements(&self, kind: DocKind) -> &DocStatements {
        let table = DocTable::of(kind);
        let i = DocTable::ALL
            .iter()
            .position(|t| *t == table)
            .expect("every table is prepared");
        &self.st().docs[i]
    }
}

/// A `leases` row after its name: (holder, expires, epoch).
type LeaseRow = (Option<String>, Option<CqlTimestamp>, Option<i64>);

fn decode_lease(name: String, (holder, expires, epoch): LeaseRow) -> Result<Lease> {
    let (Some(holder), Some(expires), Some(epoch)) = (holder, expires, epoch) else {
        return Err(StoreError::Corrupt(format!(
            "lease {name}: a column is missing"
        )));
    };
    let epoch = u64::try_from(epoch)
        .map_err(|_| StoreError::Corrupt(format!("lease {name}: epoch {epoch}")))?;
    Ok(Lease {
        expires: lease::from_millis(&name, expires.0)?,
        holder,
        epoch,
        name,
    })
}

fn decode_body(body: &str) -> Result<serde_json::Value> {
    serde_json::from_str(body).map_err(corrupt("document body"))
}

fn encode_cursor(started: i64, id: Id) -> String {
    format!("{started}_{}", id.simple())
}

fn decode_cursor(cursor: &str) -> Result<(i64, Id)> {
    let bad = || StoreError::InvalidArgument(format!("invalid page cursor {cursor:?}"));
    let (us, id) = cursor.split_once('_').ok_or_else(bad)?;
    Ok((
        us.parse().map_err(|_| bad())?,
        Uuid::try_parse(id).map_err(|_| bad())?,
    ))
}

#[async_trait]
impl Store for ScyllaStore {
    async fn get_doc(&self, kind: DocKind, tenant: Id, id: Id) -> Result<Option<Doc>> {
        let mut values = Self::doc_key(kind, tenant);
        values.push(uuid(id));
        let rows: Vec<(Option<i64>, Option<String>)> =
            self.select(&self.doc_statements(kind).get, values).await?;
        match rows.into_iter().next() {
            Some((Some(version), Some(body))) => Ok(Some(Doc {
                kind,
                tenant,
                id,
                version: version as u64,
                body: decode_body(&body)?,
            })),
            _ => Ok(None),
        }
    }

    async fn list_docs(&self, kind: DocKind, tenant: Option<Id>) -> Result<Vec<Doc>> {
        let tenants = match tenant {
            Some(t) => vec![t],
            None => self.doc_tenants(kind).await?,
        };
        let mut out = Vec::new();
        for tenant in tenants {
            let rows: Vec<(Uuid, Option<i64>, Option<String>)> = self
                .select(&self.doc_statements(kind).list, Self::doc_key(kind, tenant))
                .await?;
            for (id, version, body) in rows {
                if let (Some(version), Some(body)) = (version, body) {
                    out.push(Doc {
                        kind,
                        tenant,
                        id,
                        version: version as u64,
                        body: decode_body(&body)?,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn list_docs_page(
        &self,
        kind: DocKind,
        tenant: Option<Id>,
        after: Option<(Id, Id)>,
        limit: usize,
    ) -> Result<DocPage> {
        let mut tenants = match tenant {
            Some(t) => vec![t],
            None => self.doc_tenants(kind).await?,
        };
        // Partitions come in token order: sort them so pages follow (tenant, id).
        tenants.sort_unstable();
        let limit = limit.max(1);
        let sts = self.doc_statements(kind);
        let mut page = DocPage {
            docs: Vec::new(),
            next: None,
        };
        // Rows without a body are skipped but counted, so the cursor moves past them.
        let (mut rows_read, mut last_row) = (0, None);
        for t in tenants
            .into_iter()
            .filter(|t| after.is_none_or(|(at, _)| *t >= at))
        {
            // One row past the page tells whether another page follows.
            let want = i32::try_from(limit - rows_read + 1).unwrap_or(i32::MAX);
            let mut values = Self::doc_key(kind, t);
            let rows: Vec<(Uuid, Option<i64>, Option<String>)> = match after {
                Some((at, id)) if at == t => {
                    values.extend([uuid(id), CqlValue::Int(want)]);
                    self.select(&sts.page_after, values).await?
                }
                _ => {
                    values.push(CqlValue::Int(want));
                    self.select(&sts.page_first, values).await?
                }
            };
            for (id, version, body) in rows {
                if rows_read == limit {
                    page.next = last_row;
                    return Ok(page);
                }
                rows_read += 1;
                last_row = Some((t, id));
                if let (Some(version), Some(body)) = (version, body) {
                    page.docs.push(Doc {
                        kind,
                        tenant: t,
                        id,
                        version: version as u64,
                        body: decode_body(&body)?,
                    });
                }
            }
        }
        Ok(page)
    }

    async fn doc_versions(&self, kind: DocKind) -> Result<Vec<DocVersion>> {
        let sts = self.doc_statements(kind);
        let mut out = Vec::new();
        for tenant in self.doc_tenants(kind).await? {
            let rows: Vec<(Uuid, Option<i64>)> = self
                .select(&sts.versions, Self::doc_key(kind, tenant))
                .await?;
            out.extend(rows.into_iter().filter_map(|(id, version)| {
                Some(DocVersion {
                    tenant,
                    id,
                    version: version? as u64,
                })
            }));
        }
        Ok(out)
    }

    async fn put_doc(&self, doc: Doc, expected: Option<u64>) -> Result<u64> {
        let body = serde_json::to_string(&doc.body)
            .map_err(|e| StoreError::InvalidArgument(format!("document body: {e}")))?;
        let sts = self.doc_statements(doc.kind);
        let key = Self::doc_key(doc.kind, doc.tenant);
        let result = match expected {
            None => {
                // Listed before it exists: a listing never misses a document.
                self.exec(
                    &self.st().add_doc_tenant,
                    vec![
                        CqlValue::Text(doc.kind.as_str().to_owned()),
                        uuid(doc.tenant),
                    ],
                )
                .await?;
                let mut values = key;
                values.extend([uuid(doc.id), CqlValue::Text(body)]);
                self.exec(&sts.insert, values).await?
            }
            Some(v) => {
                let mut values = vec![CqlValue::BigInt(v as i64 + 1), CqlValue::Text(body)];
                values.extend(key);
                values.extend([uuid(doc.id), CqlValue::BigInt(v as i64)]);
                self.exec(&sts.update, values).await?
            }
        };
        match Self::doc_from_lwt(result)? {
            (true, _) => Ok(expected.map_or(1, |v| v + 1)),
            (false, found) => Err(StoreError::Conflict { expected, found }),
        }
    }

    async fn delete_doc(&self, kind: DocKind, tenant: Id, id: Id, expected: u64) -> Result<()> {
        let mut values = Self::doc_key(kind, tenant);
        values.extend([uuid(id), CqlValue::BigInt(expected as i64)]);
        let result = self.exec(&self.doc_statements(kind).delete, values).await?;
        match Self::doc_from_lwt(result)? {
            (true, _) => Ok(()),
            (false, found) => Err(StoreError::Conflict {
                expected: Some(expected),
                found,
            }),
        }
    }

    async fn put_calls(&self, calls: &[CallRecord]) -> Result<()> {
        let calls = latest_versions(calls);
        if calls.is_empty() {
            return Ok(());
        }
        let ids: Vec<Id> = calls.iter().map(|c| c.id).collect();
        let old = self.load(&ids, &mut View::new(), false).await?;
        let mut plan = CommitPlan::new(&calls, &old)?;
        {
            let known = self.inner.buckets.lock().expect("bucket cache");
            plan.buckets.retain(|b| !known.contains(b));
        }
        let batch = Uuid::now_v7();
        let st = self.st();
        let mut writes: Vec<(&PreparedStatement, Values)> = Vec::new();
        for (id, body, prev) in plan.calls {
            writes.push(match prev {
                Some(prev) => (
                    &st.put_call,
                    vec![
                        uuid(id),
                        CqlValue::Text(body),
                        uuid(batch),
                        CqlValue::Text(prev),
                    ],
                ),
                None => (
                    &st.put_call_fresh,
                    vec![uuid(id), CqlValue::Text(body), uuid(batch)],
                ),
            });
            writes.push((
                &st.put_scan,
                vec![
                    CqlValue::Int(hour_of(id)),
                    CqlValue::Blob(id.as_bytes().to_vec()),
                ],
            ));
        }
        writes.extend(
            plan.index
                .iter()
                .map(|(id, k)| self.index_write(*id, k, false)),
        );
        writes.extend(plan.buckets.iter().map(|(scope, key, bucket)| {
            (
                &st.put_bucket,
                vec![
                    CqlValue::Text((*scope).to_owned()),
                    uuid(*key),
                    CqlValue::Int(*bucket),
                ],
            )
        }));

        // All or error: the batch stays invisible unless every row landed.
        self.write_all(writes).await?;
        self.exec(&st.mark_batch, vec![uuid(batch)]).await?;
        self.remember_committed(batch);
        {
            let mut known = self.inner.buckets.lock().expect("bucket cache");
            if known.len() >= CACHE_LIMIT {
                known.clear();
            }
            known.extend(plan.buckets);
        }

        for (buyer, delta) in plan.deltas {
            self.exec(
                &st.add_total,
                vec![CqlValue::Counter(Counter(delta)), uuid(buyer)],
            )
            .await
            .map_err(|e| {
                StoreError::Backend(format!(
                    "calls stored, but the total of buyer {buyer} may be off by {delta}: {e}"
                ))
            })?;
        }

        // Stale entries are filtered on read; deleting them only saves reads
        // later, so a failure here does not fail the committed batch.
        let deletes = plan
            .stale
            .iter()
            .map(|(id, k)| self.index_write(*id, k, true))
            .collect();
        if let Err(e) = self.write_all(deletes).await {
            tracing::warn!(error = %e, "scylla: stale call index entries not deleted (they are ignored on read)");
        }
        Ok(())
    }

    async fn get_call(&self, id: Id) -> Result<Option<CallRecord>> {
        let mut view = View::new();
        loop {
            let mut found = self.load(&[id], &mut view, false).await?;
            if !view.again() {
                return Ok(found.remove(&id));
            }
        }
    }

    async fn get_call_by_sid(&self, call_sid: &str) -> Result<Option<CallRecord>> {
        let mut view = View::new();
        loop {
            let rows: Vec<(Option<Uuid>,)> = self
                .select(
                    &self.st().get_sid,
                    vec![CqlValue::Text(call_sid.to_owned())],
                )
                .await?;
            let Some(id) = rows.into_iter().next().and_then(|(id,)| id) else {
                return Ok(None);
            };
            let found = self
                .load(&[id], &mut view, false)
                .await?
                .remove(&id)
                .filter(|c| c.call_sid == call_sid);
            if !view.again() {
                return Ok(found);
            }
        }
    }

    async fn calls_by_campaign(
        &self,
        tenant: Id,
        campaign: Id,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<CallRecord>> {
        let (from, to) = (micros(since), micros(until));
        if from >= to {
            return Ok(Vec::new());
        }
        let mut view = View::new();
        loop {
            let mut keys: Vec<(i64, Id)> = Vec::new();
            for day in self
                .buckets("campaign", campaign, day_of(from), day_of(to - 1), false)
                .await?
            {
                let rows: Vec<(i64, Uuid)> = self
                    .select(
                        &self.st().campaign_range,
                        vec![
                            uuid(tenant),
                            uuid(campaign),
                            CqlValue::Int(day),
                            CqlValue::BigInt(from),
                            CqlValue::BigInt(to),
                        ],
                    )
                    .await?;
                keys.extend(rows);
            }
            let ids: Vec<Id> = keys.iter().map(|&(_, id)| id).collect();
            let mut calls = self.load(&ids, &mut view, false).await?;
            let out: Vec<CallRecord> = keys
                .iter()
                .filter_map(|&(started, id)| {
                    calls.remove(&id).filter(|c| {
                        c.tenant_id == tenant
                            && c.campaign_id == campaign
                            && micros(c.started_at) == started
                    })
                })
                .collect();
            if !view.again() {
                return Ok(out);
            }
        }
    }

    async fn calls_by_tenant(
        &self,
        tenant: Id,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CallPage> {
        let after = cursor.map(decode_cursor).transpose()?;
        if limit == 0 {
            return Ok(CallPage {
                calls: Vec::new(),
                next: cursor.map(str::to_owned),
            });
        }
        // One more than asked: whether there is a next page.
        let want = limit + 1;
        let chunk = want.clamp(16, PAGE_SIZE as usize) as i32;
        let mut view = View::new();
        loop {
            let mut out: Vec<CallRecord> = Vec::new();
            let last_day = after.map_or(i32::MAX, |(us, _)| day_of(us));
            let mut walk = DescWalk::new(
                self.buckets("tenant", tenant, i32::MIN, last_day, true)
                    .await?,
                after,
            );
            'days: while let Some((day, position)) = walk.read() {
                let rows: Vec<(i64, Uuid)> = match position {
                    None => {
                        self.select(
                            &self.st().tenant_first,
                            vec![uuid(tenant), CqlValue::Int(day), CqlValue::Int(chunk)],
                        )
                        .await?
                    }
                    Some((us, id)) => {
                        self.select(
                            &self.st().tenant_after,
                            vec![
                                uuid(tenant),
                                CqlValue::Int(day),
                                CqlValue::BigInt(us),
                                uuid(id),
                                CqlValue::Int(chunk),
                            ],
                        )
                        .await?
                    }
                };
                let ids: Vec<Id> = rows.iter().map(|&(_, id)| id).collect();
                let mut calls = self.load(&ids, &mut view, false).await?;
                for &(started, id) in &rows {
                    if let Some(c) = calls
                        .remove(&id)
                        .filter(|c| c.tenant_id == tenant && micros(c.started_at) == started)
                    {
                        out.push(c);
                        if out.len() == want {
                            break 'days;
                        }
                    }
                }
                walk.advance(rows.last().copied(), rows.len() == chunk as usize);
            }
            if !view.again() {
                let next = if out.len() > limit {
                    out.truncate(limit);
                    out.last()
                        .map(|c| encode_cursor(micros(c.started_at), c.id))
                } else {
                    None
                };
                return Ok(CallPage { calls: out, next });
            }
        }
    }

    async fn buyer_attempts(&self, buyer: Id, since: DateTime<Utc>) -> Result<Vec<AttemptRow>> {
        let from = micros(since);
        let mut view = View::new();
        loop {
            let mut keys: Vec<(i64, Uuid, i32)> = Vec::new();
            for day in self
                .buckets("buyer", buyer, day_of(from), i32::MAX, false)
                .await?
            {
                let rows: Vec<(i64, Uuid, i32)> = self
                    .select(
                        &self.st().attempts_since,
                        vec![uuid(buyer), CqlValue::Int(day), CqlValue::BigInt(from)],
                    )
                    .await?;
                keys.extend(rows);
            }
            let ids: Vec<Id> = keys
                .iter()
                .map(|&(_, id, _)| id)
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let calls = self.load(&ids, &mut view, false).await?;
            let mut out = Vec::new();
            for (started, call_id, attempt) in keys {
                let Some(a) = calls
                    .get(&call_id)
                    .and_then(|c| c.attempts.get(attempt as usize))
                else {
                    continue;
                };
                if a.buyer_id == buyer && micros(a.started_at) == started {
                    out.push(AttemptRow {
                        call_id,
                        attempt: attempt as u16,
                        started_at: from_micros(started)?,
                        outcome: a.outcome,
                        released: a.released,
                    });
                }
            }
            if !view.again() {
                return Ok(out);
            }
        }
    }

    async fn buyer_total(&self, buyer: Id) -> Result<u64> {
        let rows: Vec<(Option<Counter>,)> =
            self.select(&self.st().get_total, vec![uuid(buyer)]).await?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|(c,)| c)
            .map_or(0, |c| c.0.max(0) as u64))
    }

    async fn put_auction(
        &self,
        request: &BidRequestRecord,
        responses: &[BidResponseRecord],
    ) -> Result<()> {
        fn json<T: serde::Serialize>(row: &T) -> Result<String> {
            serde_json::to_string(row)
                .map_err(|e| StoreError::InvalidArgument(format!("bid row: {e}")))
        }
        let st = self.st();
        let mut batch = Batch::new(BatchType::Logged);
        let mut values: Vec<Values> = Vec::new();
        let mut buckets: HashSet<(BidTable, Id, i32)> = HashSet::new();
        let mut row =
            |table: BidTable, tenant: Id, created: DateTime<Utc>, id: Id, body: String| {
                let (us, day) = (micros(created), day_of(micros(created)));
                batch.append_statement(self.bid_statements(table).put.clone());
                values.push(vec![
                    uuid(tenant),
                    CqlValue::Int(day),
                    CqlValue::BigInt(us),
                    uuid(id),
                    CqlValue::Text(body),
                ]);
                buckets.insert((table, tenant, day));
            };
        row(
            BidTable::Requests,
            request.tenant_id,
            request.created_at,
            request.id,
            json(request)?,
        );
        for r in responses {
            row(
                BidTable::Responses,
                r.tenant_id,
                r.created_at,
                r.id,
                json(r)?,
            );
        }
        for (table, tenant, day) in buckets {
            batch.append_statement(st.put_bid_bucket.clone());
            values.push(vec![
                CqlValue::Text(table.scope().to_owned()),
                uuid(tenant),
                CqlValue::Int(day),
                CqlValue::Int(self.inner.bid_ttl),
            ]);
        }
        // One logged batch: the rows and their buckets land all or none
        // (the batch log replays a half-applied one). Plain inserts: idempotent.
        batch.set_is_idempotent(true);
        self.session()
            .batch(&batch, values)
            .await
            .map_err(backend("bid batch"))?;
        Ok(())
    }

    async fn bid_requests(
        &self,
        tenant: Id,
        filter: &BidFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<BidPage<BidRequestRecord>> {
        self.bid_page(
            BidTable::Requests,
            tenant,
            filter,
            cursor,
            limit,
            |r: &BidRequestRecord| filter.request(r),
        )
        .await
    }

    async fn bid_responses(
        &self,
        tenant: Id,
        filter: &BidFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<BidPage<BidResponseRecord>> {
        self.bid_page(
            BidTable::Responses,
            tenant,
            filter,
            cursor,
            limit,
            |r: &BidResponseRecord| filter.response(r),
        )
        .await
    }

    async fn put_sessions(&self, sessions: &[VisitorSession]) -> Result<()> {
        let st = self.st();
        let writes = last_per_session(sessions)
            .into_iter()
            .map(|v| {
                let body = serde_json::to_string(v)
                    .map_err(|e| StoreError::InvalidArgument(format!("visitor session: {e}")))?;
                Ok((
                    &st.put_session,
                    vec![
                        uuid(v.tag_id),
                        CqlValue::Int(day_of(micros(v.started_at))),
                        CqlValue::Text(v.session_id.clone()),
                        CqlValue::Text(body),
                    ],
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        // Concurrent single-row upserts (the rows live in many partitions):
        // a failure fails the call, and writing the same sessions again is safe.
        self.write_all(writes).await
    }

    async fn list_sessions(&self, tag: Id, day: NaiveDate) -> Result<Vec<VisitorSession>> {
        let rows: Vec<(Option<String>,)> = self
            .select(
                &self.st().list_sessions,
                vec![uuid(tag), CqlValue::Int(day_of_date(day))],
            )
            .await?;
        rows.into_iter()
            .filter_map(|(body,)| body)
            .map(|body| serde_json::from_str(&body).map_err(corrupt("visitor session")))
            .collect()
    }

    async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Lease> {
        lease::check_claim(name, holder)?;
        let st = self.st();
        let current = self.read_lease(name).await?;
        let read = current
            .as_ref()
            .map(|c| (c.holder.clone(), c.epoch, c.expires));
        let next = match lease::claim(current, name, holder, now, until) {
            Claim::Write(next) => next,
            Claim::Refused(current) => return Ok(current),
        };
        let ms = |t: DateTime<Utc>| CqlValue::Timestamp(CqlTimestamp(lease::to_millis(t)));
        let (name_v, holder_v) = (
            CqlValue::Text(name.to_owned()),
            CqlValue::Text(next.holder.clone()),
        );
        let epoch_v = CqlValue::BigInt(next.epoch as i64);
        // The LWT is conditioned on the row as read: if another claim changed
        // it since, this one does not apply.
        let result = match read {
            None => {
                self.session()
                    .execute_unpaged(
                        &st.insert_lease,
                        vec![name_v, holder_v, ms(next.expires), epoch_v],
                    )
                    .await
            }
            Some((holder, epoch, expires)) => {
                let values = vec![
                    holder_v,
                    ms(next.expires),
                    epoch_v,
                    name_v,
                    CqlValue::Text(holder),
                    CqlValue::BigInt(epoch as i64),
                    ms(expires),
                ];
                self.session()
                    .execute_unpaged(&st.update_lease, values)
                    .await
            }
        };
        match result {
            Ok(result) => {
                if Self::lwt_applied(result)? {
                    return Ok(next);
                }
                // Another claim got there first: what it stored is the answer.
            }
            // A timed-out LWT may or may not have applied. A serial read
            // settles it (it completes a proposal left in progress), so the
            // answer is still what is stored; if that read fails too, the error.
            Err(e) => {
                tracing::warn!(lease = name, error = %e, "scylla: lease claim failed, reading what is stored");
                return match self.read_lease(name).await {
                    Ok(Some(stored)) => Ok(stored),
                    _ => Err(backend("lease claim")(e)),
                };
            }
        }
        self.read_lease(name).await?.ok_or_else(|| {
            StoreError::Backend(format!(
                "scylla lease {name}: not stored after a refused claim"
            ))
        })
    }

    async fn leases(&self, prefix: &str) -> Result<Vec<Lease>> {
        // At most a few hundred rows: read them all, keep the prefix here.
        let rows: Vec<(String, Option<String>, Option<CqlTimestamp>, Option<i64>)> =
            self.select(&self.st().all_leases, Vec::new()).await?;
        let mut out = rows
            .into_iter()
            .filter(|(name, ..)| name.starts_with(prefix))
            .map(|(name, holder, expires, epoch)| decode_lease(name, (holder, expires, epoch)))
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn scan_calls(&self, after: Option<Id>, limit: usize) -> Result<Vec<CallRecord>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let chunk = limit.clamp(16, PAGE_SIZE as usize) as i32;
        let first = after.map_or(i32::MIN, hour_of);
        let hours: Vec<(i32,)> = self
            .select(
                &self.st().buckets_scan,
                vec![
                    CqlValue::Text("scan".into()),
                    uuid(Uuid::nil()),
                    CqlValue::Int(first),
                    CqlValue::Int(i32::MAX),
                ],
            )
            .await?;
        // An export reads settled history: LOCAL_ONE, and no rereads.
        let mut view = View::new();
        let mut out = Vec::new();
        for (hour,) in hours {
            let mut position = after
                .filter(|a| hour_of(*a) == hour)
                .map_or_else(Vec::new, |a| a.as_bytes().to_vec());
            loop {
                let rows: Vec<(Vec<u8>,)> = self
                    .select(
                        &self.st().scan_after,
                        vec![
                            CqlValue::Int(hour),
                            CqlValue::Blob(position.clone()),
                            CqlValue::Int(chunk),
                        ],
                    )
                    .await?;
                let ids: Vec<Id> = rows
                    .iter()
                    .filter_map(|(b,)| Uuid::from_slice(b).ok())
                    .collect();
                let mut calls = self.load(&ids, &mut view, true).await?;
                for id in ids {
                    if let Some(c) = calls.remove(&id) {
                        out.push(c);
                        if out.len() == limit {
                            return Ok(out);
                        }
                    }
                }
                match rows.last() {
                    Some((last,)) if rows.len() == chunk as usize => position = last.clone(),
                    _ => break,
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_kinds() -> [DocKind; 13] {
        [
            DocKind::Tenant,
            DocKind::Buyer,
            DocKind::Campaign,
            DocKind::User,
            DocKind::Session,
            DocKind::ApiKey,
            DocKind::Number,
            DocKind::Pool,
            DocKind::RtbTarget,
            DocKind::RtbRouter,
            DocKind::TrackingTag,
            DocKind::Audit,
            DocKind::Secret,
        ]
    }

    use crate::conformance::{sample_attempt, sample_call};

    fn keys_of(plan: &[(Id, IndexKey)]) -> HashSet<IndexKey> {
        plan.iter().map(|(_, k)| k.clone()).collect()
    }

    #[test]
    fn a_fresh_call_writes_every_entry_and_counts_answered_attempts() {
        let (tenant, campaign, b1, b2) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let t0 = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let mut call = sample_call(tenant, campaign, t0);
        call.attempts
            .push(sample_attempt(b1, t0, AttemptOutcome::NoAnswer));
        call.attempts.push(sample_attempt(
            b2,
            t0 + chrono::Duration::days(1),
            AttemptOutcome::Answered,
        ));
        let plan = CommitPlan::new(&[&call], &HashMap::new()).unwrap();

        assert_eq!(plan.calls.len(), 1);
        assert_eq!(plan.calls[0].0, call.id);
        assert_eq!(
            serde_json::from_str::<CallRecord>(&plan.calls[0].1).unwrap(),
            call
        );
        assert_eq!(plan.calls[0].2, None, "nothing replaced");
        let us = micros(t0);
        let us2 = micros(t0 + chrono::Duration::days(1));
        assert_eq!(
            keys_of(&plan.index),
            HashSet::from([
                IndexKey::Sid(call.call_sid.clone()),
                IndexKey::Tenant {
                    tenant,
                    started: us
                },
                IndexKey::Campaign {
                    tenant,
                    campaign,
                    started: us
                },
                IndexKey::Attempt {
                    buyer: b1,
                    started: us,
                    attempt: 0
                },
                IndexKey::Attempt {
                    buyer: b2,
                    started: us2,
                    attempt: 1
                },
            ])
        );
        let day = day_of(us);
        assert_eq!(
            plan.buckets,
            HashSet::from([
                ("scan", Uuid::nil(), hour_of(call.id)),
                ("tenant", tenant, day),
                ("campaign", campaign, day),
                ("buyer", b1, day),
                ("buyer", b2, day + 1),
            ])
        );
        assert_eq!(
            plan.deltas,
            HashMap::from([(b2, 1)]),
            "no-answer is not counted"
        );
        assert!(plan.stale.is_empty());
    }

    #[test]
    fn an_upsert_counts_changes_only_and_drops_moved_entries() {
        let (tenant, c1, c2, b1, b2) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let t0 = DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap();
        let mut old = sample_call(tenant, c1, t0);
        old.attempts
            .push(sample_attempt(b1, t0, AttemptOutcome::Pending));
        old.attempts
            .push(sample_attempt(b2, t0, AttemptOutcome::Answered));
        let stored = HashMap::from([(old.id, old.clone())]);

        // The same version again: nothing to count, nothing stale.
        let same = CommitPlan::new(&[&old], &stored).unwrap();
        assert!(same.deltas.is_empty() && same.stale.is_empty(), "{same:?}");
        assert_eq!(
            same.calls[0].2.as_deref(),
            Some(serde_json::to_string(&old).unwrap().as_str()),
            "the replaced version is kept"
        );

        // b1 does not answer, the call moves campaign, time and CallSid, b2's attempt is dropped.
        let mut new = old.clone();
        let t1 = t0 - chrono::Duration::minutes(30);
        new.started_at = t1;
        new.campaign_id = c2;
        new.call_sid = "CAother".into();
        new.attempts[0].outcome = AttemptOutcome::NoAnswer;
        new.attempts[0].started_at = t1;
        new.attempts.truncate(1);
        let plan = CommitPlan::new(&[&new], &stored).unwrap();
        assert_eq!(plan.deltas, HashMap::from([(b1, -1), (b2, -1)]));
        let us = micros(t0);
        assert_eq!(
            keys_of(&plan.stale),
            HashSet::from([
                IndexKey::Sid(old.call_sid.clone()),
                IndexKey::Tenant {
                    tenant,
                    started: us
                },
                IndexKey::Campaign {
                    tenant,
                    campaign: c1,
                    started: us
                },
                IndexKey::Attempt {
                    buyer: b1,
                    started: us,
                    attempt: 0
                },
                IndexKey::Attempt {
                    buyer: b2,
                    started: us,
                    attempt: 1
                },
            ])
        );
        assert!(plan.stale.iter().all(|(id, _)| *id == old.id));
        assert!(keys_of(&plan.index).is_disjoint(&keys_of(&plan.stale)));
    }

    #[test]
    fn a_call_twice_in_a_batch_is_written_once_at_its_last_version() {
        let t0 = Utc::now();
        let first = sample_call(Uuid::now_v7(), Uuid::now_v7(), t0);
        let other = sample_call(Uuid::now_v7(), Uuid::now_v7(), t0);
        let mut last = first.clone();
        last.duration_seconds = 42;
        let calls = [first.clone(), other.clone(), last.clone()];
        let latest = latest_versions(&calls);
        assert_eq!(
            latest
                .iter()
                .map(|c| (c.id, c.duration_seconds))
                .collect::<Vec<_>>(),
            vec![(first.id, 42), (other.id, 0)]
        );
    }

    #[test]
    fn readers_see_committed_versions_only() {
        let (b, body, prev) = (
            Uuid::now_v7(),
            Some("new".to_owned()),
            Some("old".to_owned()),
        );
        assert_eq!(
            visible((body.clone(), None, None), |_| false),
            body,
            "no batch: always visible"
        );
        assert_eq!(
            visible((body.clone(), Some(b), prev.clone()), |x| x == b),
            body
        );
        assert_eq!(
            visible((body.clone(), Some(b), prev.clone()), |_| false),
            prev,
            "uncommitted: the previous version"
        );
        assert_eq!(
            visible((body, Some(b), None), |_| false),
            None,
            "a first version, uncommitted: nothing"
        );
    }

    #[test]
    fn rereads_are_bounded() {
        let mut view = View::new();
        assert!(!view.again(), "nothing fresh, no reread");
        for _ in 0..MAX_REREADS {
            view.fresh = true;
            assert!(view.again());
        }
        view.fresh = true;
        assert!(!view.again(), "at most {MAX_REREADS} rereads");
    }

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

    #[test]
    fn buckets_follow_time_and_id_order() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(-1), -1);
        assert_eq!(day_of(MICROS_PER_DAY), 1);
        let a = Uuid::now_v7();
        let b = Uuid::from_u128(a.as_u128() + (1 << 80) * 3_600_000);
        assert_eq!(hour_of(b), hour_of(a) + 1);
        assert!(hour_of(Uuid::nil()) <= hour_of(a) && hour_of(Uuid::max()) >= hour_of(a));
        let now = Utc::now();
        assert_eq!(i64::from(hour_of(a)), now.timestamp_millis() / 3_600_000);
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(-5, id)).unwrap(), (-5, id));
        for bad in ["", "x", "1_", "_1", "1_zz", "not a cursor"] {
            assert!(
                matches!(decode_cursor(bad), Err(StoreError::InvalidArgument(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_walk_resumes_after_the_cursor_then_takes_older_days_whole() {
        let id = |n: u128| Uuid::from_u128(n);
        let at = |day: i64, us: i64| day * MICROS_PER_DAY + us;
        let cursor = (at(10, 500), id(7));

        // No cursor: each day from its newest row; a full chunk goes on in its day.
        let mut walk = DescWalk::new(vec![10, 8], None);
        assert_eq!(walk.read(), Some((10, None)));
        walk.advance(Some((at(10, 900), id(1))), true);
        assert_eq!(
            walk.read(),
            Some((10, Some((at(10, 900), id(1))))),
            "a full chunk: more of the same day"
        );
        walk.advance(Some((at(10, 100), id(2))), false);
        assert_eq!(
            walk.read(),
            Some((8, None)),
            "a short chunk: the day is done"
        );
        walk.advance(None, false);
        assert_eq!(walk.read(), None);

        // The cursor's day resumes after it; older days start at their newest row.
        let mut walk = DescWalk::new(vec![10, 9], Some(cursor));
        assert_eq!(walk.read(), Some((10, Some(cursor))));
        walk.advance(None, false);
        assert_eq!(walk.read(), Some((9, None)));

        // A cursor whose day holds no rows any more: the older days, whole.
        let mut walk = DescWalk::new(vec![9], Some(cursor));
        assert_eq!(walk.read(), Some((9, None)));
        walk.advance(Some((at(9, 5), id(3))), true);
        walk.advance(None, true);
        assert_eq!(
            walk.read(),
            None,
            "an empty read ends the day even if asked for a full chunk"
        );
        assert_eq!(DescWalk::new(Vec::new(), Some(cursor)).read(), None);
    }

    #[test]
    fn a_bid_page_ends_at_the_older_of_cursor_and_until() {
        let t = DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap();
        let id = Uuid::now_v7();
        let (early, late) = ((micros(t) - 1, id), (micros(t) + 1, id));
        assert_eq!(bid_upper(None, None), None);
        assert_eq!(bid_upper(Some(late), None), Some(late));
        assert_eq!(bid_upper(None, Some(t)), Some((micros(t), Uuid::nil())));
        assert_eq!(
            bid_upper(Some(late), Some(t)),
            Some((micros(t), Uuid::nil()))
        );
        assert_eq!(bid_upper(Some(early), Some(t)), Some(early));
        assert_eq!(
            bid_upper(Some((micros(t), id)), Some(t)),
            Some((micros(t), Uuid::nil())),
            "same µs: until keeps none of it"
        );
        // A bid cursor is a calls cursor: one format, one decoder.
        assert_eq!(
            decode_cursor(&encode_cursor(early.0, early.1)).unwrap(),
            early
        );
    }

    #[test]
    fn a_date_is_the_bucket_of_its_times() {
        for t in [
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999999Z",
            "2026-03-04T23:59:59.500Z",
            "2026-03-05T00:00:00Z",
        ] {
            let t = DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc);
            assert_eq!(day_of_date(t.date_naive()), day_of(micros(t)), "{t}");
        }
    }

    #[test]
    fn a_session_written_twice_in_one_call_keeps_the_last() {
        let t0 = DateTime::parse_from_rfc3339("2026-03-04T23:59:59Z")
            .unwrap()
            .with_timezone(&Utc);
        let (tag, other_tag) = (Uuid::now_v7(), Uuid::now_v7());
        let visit = |id: &str, tag: Id, started_at: DateTime<Utc>, seen: i64| VisitorSession {
            session_id: id.to_owned(),
            tenant_id: Uuid::nil(),
            tag_id: tag,
            tag_code: "t".into(),
            pool_id: None,
            phone_number: None,
            exhausted: false,
            traffic: Default::default(),
            user_agent: None,
            started_at,
            last_seen_at: started_at + chrono::Duration::seconds(seen),
        };
        let next_day = t0 + chrono::Duration::seconds(2);
        let all = [
            visit("a", tag, t0, 0),
            visit("a", tag, next_day, 0),
            visit("a", other_tag, t0, 0),
            visit("b", tag, t0, 0),
            visit("a", tag, t0, 60),
        ];
        let kept: Vec<(&str, Id, DateTime<Utc>, DateTime<Utc>)> = last_per_session(&all)
            .iter()
            .map(|v| {
                (
                    v.session_id.as_str(),
                    v.tag_id,
                    v.started_at,
                    v.last_seen_at,
                )
            })
            .collect();
        assert_eq!(
            kept,
            vec![
                ("a", tag, t0, t0 + chrono::Duration::seconds(60)),
                ("a", tag, next_day, next_day),
                ("a", other_tag, t0, t0),
                ("b", tag, t0, t0),
            ]
        );
    }

    #[test]
    fn the_new_tables_are_created_by_a_migration() {
        let config = ScyllaConfig::parse("scylla://db/sb_test").unwrap();
        let all: String = MIGRATIONS
            .iter()
            .map(|m| migrate::render(m.cql, &config))
            .collect();
        for table in [
            BidTable::Requests.name(),
            BidTable::Responses.name(),
            "visitor_sessions_by_tag_day",
            "call_buckets",
            "leases",
        ] {
            assert!(all.contains(&format!("sb_test.{table} (")), "{table}");
        }
    }

    #[test]
    fn every_kind_has_a_table() {
        for kind in all_kinds() {
            let t = DocTable::of(kind);
            assert!(DocTable::ALL.contains(&t));
            assert_eq!(
                t.keyed_by_kind(),
                !matches!(
                    kind,
                    DocKind::User | DocKind::Session | DocKind::ApiKey | DocKind::Audit
                )
            );
        }
    }
}
