//! The embedded store: two redb files under the data directory,
//! `switchboard.redb` (everything) and `call-log.redb` (the call log).
//!
//! redb gives ACID transactions with copy-on-write B-trees, so a crash leaves the
//! last committed state. Every write whose future resolves commits with
//! [`Durability::Immediate`] (an fsync) first; only the projector's
//! transactions, which the log can replay, skip it between checkpoints.
//! [`Store::put_calls`] appends a whole batch to the call log (a file of its
//! own, `call-log.redb`) in one transaction: one fsync for many calls, all
//! or nothing. The call tables are projected from the log behind it, and
//! every read of them first applies what was appended before it
//! (`calls.rs`).
//!
//! Tables mirror the ScyllaDB shape (partition key first, clustering after):
//!
//! | table               | key                                         | value                 |
//! |---------------------|---------------------------------------------|-----------------------|
//! | `docs`              | (kind, tenant, id)                          | (version, JSON body)  |
//! | `call_log` (in `call-log.redb`) | offset                          | (appended µs, JSON `CallRecord`) |
//! | `applied`           | projection                                  | log offset applied    |
//! | `calls`             | id                                          | JSON `CallRecord`     |
//! | `call_sids`         | `CallSid`                                   | id                    |
//! | `calls_by_campaign` | (tenant, campaign, started µs, id)          | ()                    |
//! | `calls_by_tenant`   | (tenant, started µs, id)                    | ()                    |
//! | `buyer_attempts`    | (buyer, attempt started µs, call id, index) | (outcome, released)   |
//! | `buyer_totals`      | buyer                                       | answered-ish attempts |
//! | `leases`            | name                                        | (holder, expires ms, epoch) |
//!
//! Ids are stored as `u128` (a UUID's big-endian value), so they sort as UUIDv7
//! does: by creation time. Index times are microseconds since the epoch, so
//! ranges and [`AttemptRow::started_at`] have microsecond precision; records
//! keep their times exactly.
//!
//! A call's old index entries are found by decoding only the keyed fields of
//! its previous record inside the projector's transaction, so a new record
//! replaces them whatever changed. Buyer totals are counters kept in the
//! same transaction, so `buyer_total` reads one key.
//!
//! A lease claim reads, decides and writes in one write transaction (redb
//! runs one at a time), so two claims of a lapsed lease never both win; a
//! refused claim writes nothing. Lease expiries are whole milliseconds, as
//! in every backend (see `lease.rs`).
//!
//! redb blocks, so every operation runs on tokio's blocking pool.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use redb::{
    Database, DatabaseError, Durability, ReadTransaction, ReadableDatabase, ReadableTable,
    TableDefinition, WriteTransaction,
};
use switchboard_model::call::VisitorSession;
use switchboard_model::{
    AttemptOutcome, BidFilter, BidRequestRecord, BidResponseRecord, CallRecord, Id, Lease,
};

mod activity;
mod calls;
mod pixels;
mod reports;

use self::calls::{
    BUYER_ATTEMPTS, BUYER_TOTALS, CALL_SIDS, CALLS, CALLS_BY_CAMPAIGN, CALLS_BY_TENANT, CallKey,
    Log, Projector, load_calls,
};
use crate::lease;
use crate::{
    AttemptRow, BidPage, BidRollupRow, CallPage, Doc, DocKind, DocPage, DocVersion,
    ProjectionCheck, ProjectionLag, Result, RollupQuery, RollupRow, Store, StoreError,
    VisitRollupRow,
};
use switchboard_model::event::StoredEvent;

/// The file name under the data directory.
const FILE_NAME: &str = "switchboard.redb";

const DOCS: TableDefinition<(&str, u128, u128), (u64, &[u8])> = TableDefinition::new("docs");
/// Bid rows by (tenant, created µs, id): a tenant's auctions in time order.
const BID_REQUESTS: TableDefinition<(u128, i64, u128), &[u8]> =
    TableDefinition::new("bid_requests");
const BID_RESPONSES: TableDefinition<(u128, i64, u128), &[u8]> =
    TableDefinition::new("bid_responses");
/// Most index entries one bid listing page reads, so a selective filter
/// answers in bounded time (with a cursor to go on) instead of scanning all.
const BID_SCAN_LIMIT: usize = 5_000;
/// DNI visitor sessions by (tag, days since 0001-01-01 of `startedAt`, session id).
const SESSIONS: TableDefinition<(u128, i32, &str), &[u8]> =
    TableDefinition::new("visitor_sessions");
/// Leases by name: (holder, expires in ms since the epoch, epoch).
const LEASES: TableDefinition<&str, (&str, i64, u64)> = TableDefinition::new("leases");

/// The default [`Store`]: a crash-safe redb file under the data directory.
///
/// Clones share one database. Operations from many tasks run concurrently:
/// reads see the last commit, and redb serializes the writes.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    log: Arc<Log>,
    // Last: dropping the last clone stops the projector, whose thread holds
    // the database, after `db` let go of it, so the file is closed then.
    _projector: Arc<Projector>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore").finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens (creating if needed) `dir/switchboard.redb`, creating `dir` too.
    ///
    /// Blocks on file I/O (and on recovery after a crash): call it before the
    /// runtime is busy, or from `spawn_blocking`. Fails with
    /// [`StoreError::Backend`] if another process has the directory open.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Backend(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => StoreError::Backend(format!(
                "data directory {} is in use: {} is already open (is another switchboard running?)",
                dir.display(),
                path.display()
            )),
            e => StoreError::Backend(format!("cannot open {}: {e}", path.display())),
        })?;
        // Create every table up front so read transactions never meet a missing one.
        write(&db, |txn| {
            txn.open_table(DOCS).map_err(backend("open docs"))?;
            calls::create_tables(txn)?;
            txn.open_table(BID_REQUESTS)
                .map_err(backend("open bid_requests"))?;
            txn.open_table(BID_RESPONSES)
                .map_err(backend("open bid_responses"))?;
            txn.open_table(SESSIONS)
                .map_err(backend("open visitor_sessions"))?;
            txn.open_table(LEASES).map_err(backend("open leases"))?;
            activity::create_tables(txn)?;
            pixels::create_tables(txn)?;
            Ok(())
        })?;
        let db = Arc::new(db);
        // The call log has a file, so a writer, of its own: appends never
        // queue behind the projections' transactions.
        let wal_path = dir.join(calls::LOG_FILE);
        let (log, projector) = Log::open(&db, calls::open_log(&wal_path)?)?;
        Ok(Self {
            db,
            log,
            _projector: Arc::new(projector),
        })
    }

    /// Runs `f` on the blocking pool with the database.
    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }

    /// The auctions' bid rows and RTB rollups, in one durable write.
    async fn write_auctions(
        &self,
        auctions: Vec<(BidRequestRecord, Vec<BidResponseRecord>)>,
    ) -> Result<()> {
        let row = |tenant: Id, at: DateTime<Utc>, id: Id, body: serde_json::Result<Vec<u8>>| {
            Ok::<_, StoreError>((
                id_key(tenant),
                micros(at),
                id_key(id),
                body.map_err(|e| StoreError::Corrupt(e.to_string()))?,
            ))
        };
        let mut encoded = Vec::with_capacity(auctions.len());
        for (request, responses) in &auctions {
            let req = row(
                request.tenant_id,
                request.created_at,
                request.id,
                serde_json::to_vec(request),
            )?;
            let rows = responses
                .iter()
                .map(|r| row(r.tenant_id, r.created_at, r.id, serde_json::to_vec(r)))
                .collect::<Result<Vec<_>>>()?;
            encoded.push((req, rows));
        }
        self.blocking(move |db| {
            write(db, |txn| {
                for ((req, rows), (request, answers)) in encoded.iter().zip(&auctions) {
                    let mut requests = txn
                        .open_table(BID_REQUESTS)
                        .map_err(backend("open bid_requests"))?;
                    let repeat = requests
                        .insert((req.0, req.1, req.2), req.3.as_slice())
                        .map_err(backend("write bid_requests"))?
                        .is_some();
                    drop(requests);
                    if !repeat {
                        activity::count_auction(txn, request, answers)?;
                    }
                    let mut responses = txn
                        .open_table(BID_RESPONSES)
                        .map_err(backend("open bid_responses"))?;
                    for (t, us, id, body) in rows {
                        responses
                            .insert((*t, *us, *id), body.as_slice())
                            .map_err(backend("write bid_responses"))?;
                    }
                }
                Ok(())
            })
        })
        .await
    }

    /// [`Self::blocking`] for a read of the call tables: first applies
    /// every record appended before it.
    async fn reading_calls<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T> + Send + 'static,
    {
        let log = Arc::clone(&self.log);
        self.blocking(move |db| {
            log.catch_up(db)?;
            f(db)
        })
        .await
    }
}

/// Maps a redb error to [`StoreError::Backend`], saying what was being done.
fn backend<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Backend(format!("{what}: {e}"))
}

fn read_txn(db: &Database) -> Result<ReadTransaction> {
    db.begin_read().map_err(backend("begin read"))
}

/// Runs `f` in one write transaction and commits it durably; aborts on error.
fn write<T>(db: &Database, f: impl FnOnce(&WriteTransaction) -> Result<T>) -> Result<T> {
    write_with(db, Durability::Immediate, f)
}

/// [`write`], committed with `durability`: with [`Durability::None`] there is
/// no fsync, and the next durable commit makes it durable too.
fn write_with<T>(
    db: &Database,
    durability: Durability,
    f: impl FnOnce(&WriteTransaction) -> Result<T>,
) -> Result<T> {
    commit_if(db, durability, |txn| f(txn).map(|out| (out, true)))
}

/// Runs `f` in one write transaction; commits it durably if `f` says so
/// (`(out, true)`), else aborts it: a write that changes nothing costs no fsync.
fn write_if<T>(db: &Database, f: impl FnOnce(&WriteTransaction) -> Result<(T, bool)>) -> Result<T> {
    commit_if(db, Durability::Immediate, f)
}

fn commit_if<T>(
    db: &Database,
    durability: Durability,
    f: impl FnOnce(&WriteTransaction) -> Result<(T, bool)>,
) -> Result<T> {
    let mut txn = db.begin_write().map_err(backend("begin write"))?;
    txn.set_durability(durability)
        .map_err(backend("set durability"))?;
    match f(&txn) {
        Ok((out, true)) => {
            txn.commit().map_err(backend("commit"))?;
            Ok(out)
        }
        Ok((out, false)) => {
            txn.abort().map_err(backend("abort"))?;
            Ok(out)
        }
        Err(e) => {
            // The error that made us abort is the one worth reporting.
            let _ = txn.abort();
            Err(e)
        }
    }
}

fn id_key(id: Id) -> u128 {
    id.as_u128()
}

/// The tenant keys a listing covers: one tenant's, or every tenant's.
fn tenant_keys(tenant: Option<Id>) -> (u128, u128) {
    match tenant {
        Some(t) => (id_key(t), id_key(t)),
        None => (u128::MIN, u128::MAX),
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {us}µs out of range")))
}

/// Stable one-byte codes for outcomes in the buyer index. Never renumber.
fn outcome_code(o: AttemptOutcome) -> u8 {
    match o {
        AttemptOutcome::Pending => 0,
        AttemptOutcome::Answered => 1,
        AttemptOutcome::Completed => 2,
        AttemptOutcome::Busy => 3,
        AttemptOutcome::NoAnswer => 4,
        AttemptOutcome::Failed => 5,
        AttemptOutcome::Canceled => 6,
        AttemptOutcome::Expired => 7,
    }
}

fn outcome_from_code(code: u8) -> Result<AttemptOutcome> {
    Ok(match code {
        0 => AttemptOutcome::Pending,
        1 => AttemptOutcome::Answered,
        2 => AttemptOutcome::Completed,
        3 => AttemptOutcome::Busy,
        4 => AttemptOutcome::NoAnswer,
        5 => AttemptOutcome::Failed,
        6 => AttemptOutcome::Canceled,
        7 => AttemptOutcome::Expired,
        _ => {
            return Err(StoreError::Corrupt(format!(
                "unknown attempt outcome code {code}"
            )));
        }
    })
}

/// Whether an attempt counts toward a buyer's total.
fn counted(o: AttemptOutcome) -> bool {
    !o.is_unanswered()
}

fn decode_call(bytes: &[u8]) -> Result<CallRecord> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("call record: {e}")))
}

/// Encodes a `calls_by_tenant` position as an opaque cursor.
fn encode_cursor(us: i64, id: u128) -> String {
    format!("{us}_{id:032x}")
}

fn decode_cursor(cursor: &str) -> Result<(i64, u128)> {
    let bad = || StoreError::InvalidArgument(format!("invalid page cursor {cursor:?}"));
    let (us, id) = cursor.split_once('_').ok_or_else(bad)?;
    let us = us.parse().map_err(|_| bad())?;
    let id = u128::from_str_radix(id, 16).map_err(|_| bad())?;
    Ok((us, id))
}

/// Pages a bid table newest first: rows of `tenant` in `[since, until)`
/// before `cursor` that pass `keep`, at most `limit`, reading at most
/// [`BID_SCAN_LIMIT`] entries (then the page ends early, with a cursor).
fn bid_page<T: serde::de::DeserializeOwned>(
    db: &Database,
    table: TableDefinition<(u128, i64, u128), &[u8]>,
    tenant: Id,
    filter: &BidFilter,
    cursor: Option<&str>,
    limit: usize,
    keep: impl Fn(&T) -> bool,
) -> Result<BidPage<T>> {
    let after = cursor.map(decode_cursor).transpose()?;
    let limit = limit.max(1);
    let txn = read_txn(db)?;
    let rows = txn.open_table(table).map_err(backend("open bid table"))?;
    let t = id_key(tenant);
    let lo = Bound::Included((t, filter.since.map_or(i64::MIN, micros), u128::MIN));
    let until = filter.until.map(|u| (t, micros(u), u128::MIN));
    let hi = match (after.map(|(us, id)| (t, us, id)), until) {
        (Some(a), Some(u)) => Bound::Excluded(a.min(u)),
        (Some(k), None) | (None, Some(k)) => Bound::Excluded(k),
        (None, None) => Bound::Included((t, i64::MAX, u128::MAX)),
    };
    let mut items = Vec::new();
    let mut last = None;
    let mut more = false;
    if let (Bound::Included(l), Bound::Excluded(h)) = (lo, hi)
        && l >= h
    {
        return Ok(BidPage { items, next: None });
    }
    for (scanned, entry) in rows
        .range((lo, hi))
        .map_err(backend("read bid table"))?
        .rev()
        .enumerate()
    {
        if items.len() == limit || scanned == BID_SCAN_LIMIT {
            more = true;
            break;
        }
        let (k, v) = entry.map_err(backend("read bid table"))?;
        let (_, us, id) = k.value();
        last = Some((us, id));
        let row: T = serde_json::from_slice(v.value())
            .map_err(|e| StoreError::Corrupt(format!("bid row: {e}")))?;
        if keep(&row) {
            items.push(row);
        }
    }
    // The cursor names the last key read: the next page starts before it.
    let next = if more {
        last.map(|(us, id)| encode_cursor(us, id))
    } else {
        None
    };
    Ok(BidPage { items, next })
}

fn doc_version(txn: &WriteTransaction, kind: DocKind, tenant: Id, id: Id) -> Result<Option<u64>> {
    let docs = txn.open_table(DOCS).map_err(backend("open docs"))?;
    let found = docs
        .get((kind.as_str(), id_key(tenant), id_key(id)))
        .map_err(backend("read doc"))?
        .map(|g| g.value().0);
    Ok(found)
}

fn decode_lease(name: &str, (holder, expires, epoch): (&str, i64, u64)) -> Result<Lease> {
    Ok(Lease {
        name: name.to_owned(),
        holder: holder.to_owned(),
        expires: lease::from_millis(name, expires)?,
        epoch,
    })
}

fn decode_doc(kind: DocKind, tenant: u128, id: u128, version: u64, body: &[u8]) -> Result<Doc> {
    let body = serde_json::from_slice(body).map_err(|e| {
        StoreError::Corrupt(format!(
            "{} document {}: {e}",
            kind.as_str(),
            Id::from_u128(id)
        ))
    })?;
    Ok(Doc {
        kind,
        tenant: Id::from_u128(tenant),
        id: Id::from_u128(id),
        version,
        body,
    })
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get_doc(&self, kind: DocKind, tenant: Id, id: Id) -> Result<Option<Doc>> {
        self.blocking(move |db| {
            let txn = read_txn(db)?;
            let docs = txn.open_table(DOCS).map_err(backend("open docs"))?;
            let (t, i) = (id_key(tenant), id_key(id));
            match docs
                .get((kind.as_str(), t, i))
                .map_err(backend("read doc"))?
            {
                Some(g) => {
                    let (version, body) = g.value();
                    decode_doc(kind, t, i, version, body).map(Some)
                }
                None => Ok(None),
            }
        })
        .await
    }

    async fn list_docs(&self, kind: DocKind, tenant: Option<Id>) -> Result<Vec<Doc>> {
        self.blocking(move |db| {
            let txn = read_txn(db)?;
            let docs = txn.open_table(DOCS).map_err(backend("open docs"))?;
            let (lo, hi) = tenant_keys(tenant);
            let k = kind.as_str();
            docs.range((k, lo, u128::MIN)..=(k, hi, u128::MAX))
                .map_err(backend("read docs"))?
                .map(|entry| {
                    let (key, value) = entry.map_err(backend("read docs"))?;
                    let (_, t, i) = key.value();
                    let (version, body) = value.value();
                    decode_doc(kind, t, i, version, body)
                })
                .collect()
        })
        .await
    }

    async fn list_docs_page(
        &self,
        kind: DocKind,
        tenant: Option<Id>,
        after: Option<(Id, Id)>,
        limit: usize,
    ) -> Result<DocPage> {
        self.blocking(move |db| {
            let txn = read_txn(db)?;
            let docs = txn.open_table(DOCS).map_err(backend("open docs"))?;
            let (lo, hi) = tenant_keys(tenant);
            let k = kind.as_str();
            // An `after` outside the tenant asked for starts at its first
            // document, or (past it) gives an empty page.
            let start = match after {
                // A range that would start past its end is empty, not asked for.
                Some((t, _)) if id_key(t) > hi => {
                    return Ok(DocPage {
                        docs: Vec::new(),
                        next: None,
                    });
                }
                Some((t, i)) if id_key(t) >= lo => Bound::Excluded((k, id_key(t), id_key(i))),
                _ => Bound::Included((k, lo, u128::MIN)),
            };
            let limit = limit.max(1);
            let mut page = DocPage {
                docs: Vec::with_capacity(limit.min(1024)),
                next: None,
            };
            // Past the page is only looked at: a body is decoded if it is in the page.
            for entry in docs
                .range::<(&str, u128, u128)>((start, Bound::Included((k, hi, u128::MAX))))
                .map_err(backend("read docs"))?
            {
                let (key, value) = entry.map_err(backend("read docs"))?;
                let (_, t, i) = key.value();
                if page.docs.len() == limit {
                    page.next = page.docs.last().map(|d| (d.tenant, d.id));
                    break;
                }
                let (version, body) = value.value();
                page.docs.push(decode_doc(kind, t, i, version, body)?);
            }
            Ok(page)
        })
        .await
    }

    async fn doc_versions(&self, kind: DocKind) -> Result<Vec<DocVersion>> {
        self.blocking(move |db| {
            let txn = read_txn(db)?;
            let docs = txn.open_table(DOCS).map_err(backend("open docs"))?;
            let k = kind.as_str();
            // The version sits beside the body in the value; reading it borrows
            // the stored bytes and parses no JSON.
            docs.range((k, u128::MIN, u128::MIN)..=(k, u128::MAX, u128::MAX))
                .map_err(backend("read docs"))?
                .map(|entry| {
                    let (key, value) = entry.map_err(backend("read docs"))?;
                    let (_, t, i) = key.value();
                    Ok(DocVersion {
                        tenant: Id::from_u128(t),
                        id: Id::from_u128(i),
                        version: value.value().0,
                    })
                })
                .collect()
        })
        .await
    }

    async fn put_doc(&self, doc: Doc, expected: Option<u64>) -> Result<u64> {
        let body = serde_json::to_vec(&doc.body)
            .map_err(|e| StoreError::Backend(format!("encode document: {e}")))?;
        self.blocking(move |db| {
            write(db, |txn| {
                let found = doc_version(txn, doc.kind, doc.tenant, doc.id)?;
                if found != expected {
                    return Err(StoreError::Conflict { expected, found });
                }
                let version = expected.map_or(1, |v| v + 1);
                let mut docs = txn.open_table(DOCS).map_err(backend("open docs"))?;
                docs.insert(
                    (doc.kind.as_str(), id_key(doc.tenant), id_key(doc.id)),
                    (version, body.as_slice()),
                )
                .map_err(backend("write doc"))?;
                Ok(version)
            })
        })
        .await
    }

    async fn delete_doc(&self, kind: DocKind, tenant: Id, id: Id, expected: u64) -> Result<()> {
        self.blocking(move |db| {
            write(db, |txn| {
                let found = doc_version(txn, kind, tenant, id)?;
                if found != Some(expected) {
                    return Err(StoreError::Conflict {
                        expected: Some(expected),
                        found,
                    });
                }
                let mut docs = txn.open_table(DOCS).map_err(backend("open docs"))?;
                docs.remove((kind.as_str(), id_key(tenant), id_key(id)))
                    .map_err(backend("delete doc"))?;
                Ok(())
            })
        })
        .await
    }

    async fn put_calls(&self, calls: &[CallRecord]) -> Result<()> {
        if calls.is_empty() {
            return Ok(());
        }
        // Encoding here, not a clone of the batch, is what the blocking task needs.
        let encoded = calls
            .iter()
            .map(|c| {
                // Refused before it is acknowledged: the buyer index numbers attempts in 16 bits.
                if c.attempts.len() > usize::from(u16::MAX) {
                    return Err(StoreError::Backend(format!(
                        "call {} has more than {} attempts",
                        c.id,
                        u16::MAX
                    )));
                }
                serde_json::to_vec(c)
                    .map(|bytes| (c.id, c.call_sid.clone(), Arc::from(bytes)))
                    .map_err(|e| StoreError::Backend(format!("encode call {}: {e}", c.id)))
            })
            .collect::<Result<Vec<_>>>()?;
        let log = Arc::clone(&self.log);
        self.blocking(move |_| log.append(&encoded)).await
    }

    async fn get_call(&self, id: Id) -> Result<Option<CallRecord>> {
        let log = Arc::clone(&self.log);
        self.blocking(move |db| {
            if let Some(record) = log.unapplied(db, CallKey::Id(id))? {
                return decode_call(&record).map(Some);
            }
            let txn = read_txn(db)?;
            let calls = txn.open_table(CALLS).map_err(backend("open calls"))?;
            match calls.get(id_key(id)).map_err(backend("read call"))? {
                Some(g) => decode_call(g.value()).map(Some),
                None => Ok(None),
            }
        })
        .await
    }

    async fn get_call_by_sid(&self, call_sid: &str) -> Result<Option<CallRecord>> {
        let call_sid = call_sid.to_owned();
        let log = Arc::clone(&self.log);
        self.blocking(move |db| {
            if let Some(record) = log.unapplied(db, CallKey::Sid(&call_sid))? {
                return decode_call(&record).map(Some);
            }
            let txn = read_txn(db)?;
            let sids = txn
                .open_table(CALL_SIDS)
                .map_err(backend("open call_sids"))?;
            let Some(id) = sids
                .get(call_sid.as_str())
                .map_err(backend("read call_sids"))?
                .map(|g| g.value())
            else {
                return Ok(None);
            };
            load_calls(&txn, [id]).map(|mut v| v.pop())
        })
        .await
    }

    async fn calls_by_campaign(
        &self,
        tenant: Id,
        campaign: Id,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<CallRecord>> {
        let (since, until) = (micros(since), micros(until));
        if since >= until {
            return Ok(Vec::new());
        }
        self.reading_calls(move |db| {
            let txn = read_txn(db)?;
            let index = txn
                .open_table(CALLS_BY_CAMPAIGN)
                .map_err(backend("open calls_by_campaign"))?;
            let (t, c) = (id_key(tenant), id_key(campaign));
            // (…, until, 0) is below every key at `until`: the end is exclusive.
            let ids = index
                .range((t, c, since, u128::MIN)..(t, c, until, u128::MIN))
                .map_err(backend("read calls_by_campaign"))?
                .map(|e| {
                    e.map(|(k, _)| k.value().3)
                        .map_err(backend("read calls_by_campaign"))
                })
                .collect::<Result<Vec<_>>>()?;
            load_calls(&txn, ids)
        })
        .await
    }

    async fn calls_by_tenant(
        &self,
        tenant: Id,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CallPage> {
        let after = cursor.map(decode_cursor).transpose()?;
        // A zero limit would return an empty page with nowhere to go next.
        let limit = limit.max(1);
        self.reading_calls(move |db| {
            let txn = read_txn(db)?;
            let index = txn
                .open_table(CALLS_BY_TENANT)
                .map_err(backend("open calls_by_tenant"))?;
            let t = id_key(tenant);
            let lo = Bound::Included((t, i64::MIN, u128::MIN));
            let hi = match after {
                Some((us, id)) => Bound::Excluded((t, us, id)),
                None => Bound::Included((t, i64::MAX, u128::MAX)),
            };
            // One extra key tells whether there is a next page.
            let mut keys = index
                .range((lo, hi))
                .map_err(backend("read calls_by_tenant"))?
                .rev()
                .take(limit + 1)
                .map(|e| {
                    e.map(|(k, _)| k.value())
                        .map_err(backend("read calls_by_tenant"))
                })
                .collect::<Result<Vec<_>>>()?;
            let next = if keys.len() > limit {
                keys.truncate(limit);
                keys.last().map(|&(_, us, id)| encode_cursor(us, id))
            } else {
                None
            };
            let calls = load_calls(&txn, keys.into_iter().map(|(_, _, id)| id))?;
            Ok(CallPage { calls, next })
        })
        .await
    }

    async fn buyer_attempts(&self, buyer: Id, since: DateTime<Utc>) -> Result<Vec<AttemptRow>> {
        let since = micros(since);
        self.reading_calls(move |db| {
            let txn = read_txn(db)?;
            let index = txn
                .open_table(BUYER_ATTEMPTS)
                .map_err(backend("open buyer_attempts"))?;
            let b = id_key(buyer);
            index
                .range((b, since, u128::MIN, u16::MIN)..=(b, i64::MAX, u128::MAX, u16::MAX))
                .map_err(backend("read buyer_attempts"))?
                .map(|e| {
                    let (k, v) = e.map_err(backend("read buyer_attempts"))?;
                    let (_, us, call, attempt) = k.value();
                    let (code, released) = v.value();
                    Ok(AttemptRow {
                        call_id: Id::from_u128(call),
                        attempt,
                        started_at: from_micros(us)?,
                        outcome: outcome_from_code(code)?,
                        released,
                    })
                })
                .collect()
        })
        .await
    }

    async fn buyer_total(&self, buyer: Id) -> Result<u64> {
        self.reading_calls(move |db| {
            let txn = read_txn(db)?;
            let totals = txn
                .open_table(BUYER_TOTALS)
                .map_err(backend("open buyer_totals"))?;
            Ok(totals
                .get(id_key(buyer))
                .map_err(backend("read buyer_totals"))?
                .map_or(0, |g| g.value()))
        })
        .await
    }

    async fn scan_calls(&self, after: Option<Id>, limit: usize) -> Result<Vec<CallRecord>> {
        self.reading_calls(move |db| {
            let txn = read_txn(db)?;
            let calls = txn.open_table(CALLS).map_err(backend("open calls"))?;
            let lo = match after {
                Some(id) => Bound::Excluded(id_key(id)),
                None => Bound::Unbounded,
            };
            calls
                .range::<u128>((lo, Bound::Unbounded))
                .map_err(backend("read calls"))?
                .take(limit)
                .map(|e| {
                    let (_, v) = e.map_err(backend("read calls"))?;
                    decode_call(v.value())
                })
                .collect()
        })
        .await
    }

    async fn add_deliveries(
        &self,
        cursor: &str,
        position: u64,
        deliveries: &[switchboard_model::Delivery],
    ) -> Result<()> {
        let (cursor, deliveries) = (cursor.to_owned(), deliveries.to_vec());
        self.blocking(move |db| pixels::add(db, &cursor, position, &deliveries))
            .await
    }

    async fn update_deliveries(
        &self,
        deliveries: &[switchboard_model::Delivery],
        durable: bool,
    ) -> Result<()> {
        let deliveries = deliveries.to_vec();
        self.blocking(move |db| pixels::update(db, &deliveries, durable))
            .await
    }

    async fn get_delivery(
        &self,
        tenant: Id,
        id: Id,
    ) -> Result<Option<switchboard_model::Delivery>> {
        self.blocking(move |db| pixels::get(db, tenant, id)).await
    }

    async fn list_deliveries(
        &self,
        tenant: Id,
        filter: &crate::DeliveryFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<crate::DeliveryPage> {
        let (filter, cursor) = (*filter, cursor.map(str::to_owned));
        self.blocking(move |db| pixels::list(db, tenant, &filter, cursor.as_deref(), limit))
            .await
    }

    async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        room: &crate::DueRoom,
    ) -> Result<Vec<switchboard_model::Delivery>> {
        let room = room.clone();
        self.blocking(move |db| pixels::due(db, now, limit, &room))
            .await
    }

    async fn pixel_fires(&self, pixel: Id, call: Id) -> Result<u32> {
        self.blocking(move |db| pixels::fires(db, pixel, call))
            .await
    }

    async fn outbox_stats(&self) -> Result<crate::OutboxStats> {
        self.blocking(pixels::stats).await
    }

    async fn projection_lag(&self) -> Result<ProjectionLag> {
        let log = Arc::clone(&self.log);
        self.blocking(move |_| log.lag()).await
    }

    async fn check_projections(&self, rebuild: bool) -> Result<ProjectionCheck> {
        let log = Arc::clone(&self.log);
        self.blocking(move |db| log.check(db, rebuild)).await
    }

    async fn rollups(&self, query: &RollupQuery) -> Result<Vec<RollupRow>> {
        let query = query.clone();
        self.reading_calls(move |db| reports::query(&read_txn(db)?, &query))
            .await
    }

    async fn events_after(
        &self,
        tenant: Option<Id>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        self.blocking(move |db| reports::events_after(&read_txn(db)?, tenant, after, limit))
            .await
    }

    async fn event_cursor(&self, name: &str) -> Result<u64> {
        let name = name.to_owned();
        self.blocking(move |db| reports::cursor(&read_txn(db)?, &name))
            .await
    }

    async fn set_event_cursor(&self, name: &str, position: u64) -> Result<()> {
        let name = name.to_owned();
        self.blocking(move |db| write(db, |txn| reports::set_cursor(txn, &name, position)))
            .await
    }

    async fn bid_rollups(&self, query: &RollupQuery) -> Result<Vec<BidRollupRow>> {
        let query = query.clone();
        self.blocking(move |db| activity::bid_rollups(&read_txn(db)?, &query))
            .await
    }

    async fn visit_rollups(&self, query: &RollupQuery) -> Result<Vec<VisitRollupRow>> {
        let query = query.clone();
        self.blocking(move |db| activity::visit_rollups(&read_txn(db)?, &query))
            .await
    }

    fn event_positions(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.log.event_positions())
    }

    async fn put_sessions(&self, sessions: &[VisitorSession]) -> Result<()> {
        if sessions.is_empty() {
            return Ok(());
        }
        let rows = sessions
            .iter()
            .map(|v| {
                let bytes = serde_json::to_vec(v)
                    .map_err(|e| StoreError::Backend(format!("encode visitor session: {e}")))?;
                Ok((
                    (
                        id_key(v.tag_id),
                        v.started_at.date_naive().num_days_from_ce(),
                    ),
                    v.session_id.clone(),
                    bytes,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let sessions = sessions.to_vec();
        self.blocking(move |db| {
            write(db, |txn| {
                let mut table = txn
                    .open_table(SESSIONS)
                    .map_err(backend("open visitor_sessions"))?;
                for (((tag, day), session, bytes), new) in rows.iter().zip(&sessions) {
                    let old = table
                        .insert((*tag, *day, session.as_str()), bytes.as_slice())
                        .map_err(backend("write visitor session"))?
                        .and_then(|g| serde_json::from_slice::<VisitorSession>(g.value()).ok());
                    activity::count_visit(txn, old.as_ref(), new)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn list_sessions(&self, tag: Id, day: NaiveDate) -> Result<Vec<VisitorSession>> {
        self.blocking(move |db| {
            let txn = read_txn(db)?;
            let table = txn
                .open_table(SESSIONS)
                .map_err(backend("open visitor_sessions"))?;
            let (t, d) = (id_key(tag), day.num_days_from_ce());
            let mut out = Vec::new();
            for entry in table
                .range((t, d, "")..)
                .map_err(backend("read visitor sessions"))?
            {
                let (key, value) = entry.map_err(backend("read visitor sessions"))?;
                let (kt, kd, _) = key.value();
                if (kt, kd) != (t, d) {
                    break;
                }
                out.push(
                    serde_json::from_slice(value.value())
                        .map_err(|e| StoreError::Corrupt(format!("visitor session: {e}")))?,
                );
            }
            Ok(out)
        })
        .await
    }

    async fn put_auction(
        &self,
        request: &BidRequestRecord,
        responses: &[BidResponseRecord],
    ) -> Result<()> {
        self.write_auctions(vec![(request.clone(), responses.to_vec())])
            .await
    }

    async fn put_auctions(
        &self,
        auctions: &[(BidRequestRecord, Vec<BidResponseRecord>)],
    ) -> Result<()> {
        self.write_auctions(auctions.to_vec()).await
    }

    async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Lease> {
        lease::check_claim(name, holder)?;
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.blocking(move |db| {
            // Read, decide and write in one write transaction: claims run one at a time.
            write_if(db, |txn| {
                let mut leases = txn.open_table(LEASES).map_err(backend("open leases"))?;
                let current = match leases.get(name.as_str()).map_err(backend("read lease"))? {
                    Some(g) => Some(decode_lease(&name, g.value())?),
                    None => None,
                };
                match lease::claim(current, &name, &holder, now, until) {
                    lease::Claim::Write(next) => {
                        let row = (
                            next.holder.as_str(),
                            lease::to_millis(next.expires),
                            next.epoch,
                        );
                        leases
                            .insert(name.as_str(), row)
                            .map_err(backend("write lease"))?;
                        Ok((next, true))
                    }
                    lease::Claim::Refused(current) => Ok((current, false)),
                }
            })
        })
        .await
    }

    async fn leases(&self, prefix: &str) -> Result<Vec<Lease>> {
        let prefix = prefix.to_owned();
        self.blocking(move |db| {
            let txn = read_txn(db)?;
            let leases = txn.open_table(LEASES).map_err(backend("open leases"))?;
            let mut out = Vec::new();
            // Keys sort as bytes: the names with a prefix are one run from the prefix on.
            for entry in leases
                .range(prefix.as_str()..)
                .map_err(backend("read leases"))?
            {
                let (key, value) = entry.map_err(backend("read leases"))?;
                let name = key.value();
                if !name.starts_with(prefix.as_str()) {
                    break;
                }
                out.push(decode_lease(name, value.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn bid_requests(
        &self,
        tenant: Id,
        filter: &BidFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<BidPage<BidRequestRecord>> {
        let (filter, cursor) = (filter.clone(), cursor.map(str::to_owned));
        self.blocking(move |db| {
            bid_page(
                db,
                BID_REQUESTS,
                tenant,
                &filter,
                cursor.as_deref(),
                limit,
                |r: &BidRequestRecord| filter.request(r),
            )
        })
        .await
    }

    async fn bid_responses(
        &self,
        tenant: Id,
        filter: &BidFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<BidPage<BidResponseRecord>> {
        let (filter, cursor) = (filter.clone(), cursor.map(str::to_owned));
        self.blocking(move |db| {
            bid_page(
                db,
                BID_RESPONSES,
                tenant,
                &filter,
                cursor.as_deref(),
                limit,
                |r: &BidResponseRecord| filter.response(r),
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_codes_round_trip() {
        for o in [
            AttemptOutcome::Pending,
            AttemptOutcome::Answered,
            AttemptOutcome::Completed,
            AttemptOutcome::Busy,
            AttemptOutcome::NoAnswer,
            AttemptOutcome::Failed,
            AttemptOutcome::Canceled,
            AttemptOutcome::Expired,
        ] {
            assert_eq!(outcome_from_code(outcome_code(o)).unwrap(), o);
        }
        assert!(matches!(
            outcome_from_code(200),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let id = switchboard_model::new_id().as_u128();
        assert_eq!(decode_cursor(&encode_cursor(-5, id)).unwrap(), (-5, id));
        for bad in ["", "12", "x_00", "12_zz", "12_"] {
            assert!(
                matches!(decode_cursor(bad), Err(StoreError::InvalidArgument(_))),
                "{bad:?}"
            );
        }
    }

    #[tokio::test]
    async fn corrupt_values_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let (call, tenant, buyer) = (
            switchboard_model::new_id(),
            switchboard_model::new_id(),
            switchboard_model::new_id(),
        );
        write(&store.db, |txn| {
            txn.open_table(CALLS)
                .unwrap()
                .insert(id_key(call), b"{not json".as_slice())
                .unwrap();
            txn.open_table(CALLS_BY_TENANT)
                .unwrap()
                .insert((id_key(tenant), 0, id_key(call)), ())
                .unwrap();
            txn.open_table(BUYER_ATTEMPTS)
                .unwrap()
                .insert((id_key(buyer), 0, id_key(call), 0), (99, false))
                .unwrap();
            txn.open_table(DOCS)
                .unwrap()
                .insert(
                    (DocKind::Buyer.as_str(), id_key(tenant), id_key(call)),
                    (1, b"\xff".as_slice()),
                )
                .unwrap();
            Ok(())
        })
        .unwrap();

        assert!(matches!(
            store.get_call(call).await,
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            store.calls_by_tenant(tenant, None, 10).await,
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            store.buyer_attempts(buyer, DateTime::UNIX_EPOCH).await,
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            store.get_doc(DocKind::Buyer, tenant, call).await,
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            store.calls_by_tenant(tenant, Some("nope"), 10).await,
            Err(StoreError::InvalidArgument(_))
        ));
        // A new record over a corrupt one replaces it; the old record's
        // index entries it could not read are named by the check and
        // mended by a rebuild, and nothing else stops.
        let mut rec = crate::conformance::sample_call(
            tenant,
            switchboard_model::new_id(),
            DateTime::UNIX_EPOCH + chrono::Duration::days(3),
        );
        rec.id = call;
        store.put_calls(std::slice::from_ref(&rec)).await.unwrap();
        assert_eq!(store.get_call(call).await.unwrap(), Some(rec));
        let check = store.check_projections(false).await.unwrap();
        assert_eq!(store.projection_lag().await.unwrap().events, 0);
        assert!(
            check
                .differences
                .iter()
                .any(|d| d.contains("calls_by_tenant: 2 rows, the documents give 1")),
            "{check:?}"
        );
        assert!(
            store
                .check_projections(true)
                .await
                .unwrap()
                .differences
                .is_empty()
        );
    }
}
