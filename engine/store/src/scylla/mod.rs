//! The ScyllaDB store (cargo feature `scylla`): many Switchboard nodes share
//! one cluster.
//!
//! `scylla://[user[:password]@]host1[:port][,host2[:port]…]/keyspace[?options]`,
//! see [`ScyllaConfig::parse`] and `docs/scylla.md`. The schema is `cql/`,
//! applied on connect ([`migrate()`]). TLS to the cluster: [`TlsOptions`].
//!
//! How it meets the [`Store`](crate::Store) contract:
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
//!
//! Files: `config` (the URI and the session it opens), `statements` (every
//! CQL statement, prepared at connect), `commit` (what a batch writes and
//! what a reader sees of it), `store` (the [`Store`](crate::Store) impl: all
//! the I/O), `migrate` (`cql/`) and `tls`.

mod commit;
mod config;
mod migrate;
mod statements;
mod store;
mod tls;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use scylla::client::session::Session;
use tokio::sync::Semaphore;
use uuid::Uuid;

pub use config::ScyllaConfig;
pub use migrate::{BOOTSTRAP, CLAIM_TIMEOUT, MIGRATIONS, Migration};
pub use tls::TlsOptions;

use crate::{Result, StoreError};
use statements::Statements;

/// How many times a read runs again after meeting a batch that committed
/// while it was reading.
pub const MAX_REREADS: u32 = 3;
/// Entries kept in the in-process caches before they are cleared.
const CACHE_LIMIT: usize = 200_000;

/// The ScyllaDB [`Store`](crate::Store). Clones share one session.
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

/// Applies the pending migrations of `cql/` to the cluster; returns those applied now.
pub async fn migrate(config: &ScyllaConfig) -> Result<Vec<Migration>> {
    let (session, _) = config::session(config).await?;
    migrate::apply(&session, config).await
}

fn backend<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Backend(format!("scylla {what}: {e}"))
}

fn corrupt<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}
