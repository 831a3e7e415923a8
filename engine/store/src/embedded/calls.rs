//! Calls in the embedded store: a durable, ordered log in a file of its
//! own, and the call tables projected from it behind the appends.
//!
//! - **Append.** [`Store::put_calls`](crate::Store::put_calls) appends each
//!   record to `call_log` in `call-log.redb` under the next offset, in one
//!   transaction with [`Durability::Immediate`]: one fsync for the batch,
//!   and the caller (a webhook's TwiML) waits for that and nothing else. The
//!   log has a file (and so a writer) of its own, so an append never queues
//!   behind the projections.
//! - **Project.** The projector thread applies the entries after the
//!   applied offset to the call tables in `switchboard.redb`: the call's
//!   document, the `CallSid` index, the by-campaign, by-tenant and by-buyer
//!   indexes and the buyer totals, in batches. A batch writes the new offset
//!   in the same transaction, so a crash replays from it with an
//!   exactly-once effect. Batches skip the fsync ([`Durability::None`]);
//!   the first at least [`CHECKPOINT_EVERY`] after the last durable one is
//!   durable (a checkpoint), caught up or not, as is the last before the store
//!   closes, and only then is the log trimmed up to it. So the projections
//!   add about one fsync a second, not one per append.
//! - **Read.** A read of the call tables first applies whatever was appended
//!   before it ([`Log::catch_up`]), so it sees every acknowledged call; when
//!   the projector keeps up (the usual case) that is one atomic load. A read
//!   of one call (by id or `CallSid`, on the webhooks' path) never waits for
//!   a projection: the newest record of each call appended but not yet
//!   applied is kept in memory ([`Log::unapplied`]), and the tables have the
//!   rest.
//! - **Retain.** The log holds what is not yet applied and checkpointed; the
//!   call documents are its compaction (each call's latest record). A
//!   recount of the indexes and totals from the documents ([`Log::check`])
//!   gives exactly what the incremental path wrote.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use chrono::Utc;
use redb::{
    Database, Durability, ReadTransaction, ReadableTable, ReadableTableMetadata, Table,
    TableDefinition, WriteTransaction,
};
use switchboard_model::event::StoredEvent;
use switchboard_model::report::{self, CallView};
use switchboard_model::{AttemptOutcome, CallRecord, Id};

use super::activity;
use super::reports::{self, EVENTS_PER_ENTRY};
use super::{
    backend, counted, decode_call, from_micros, id_key, micros, outcome_code, read_txn, write,
    write_with,
};
use crate::{ProjectionCheck, ProjectionLag, Result, StoreError};

/// The log file's name under the data directory.
pub(super) const LOG_FILE: &str = "call-log.redb";
/// A log entry: when it was appended (µs since the epoch), and a call record's JSON.
type Entry = (i64, &'static [u8]);
/// The log (in [`LOG_FILE`]): offset → entry.
pub(super) const CALL_LOG: TableDefinition<u64, Entry> = TableDefinition::new("call_log");
/// Projection → the last offset it applied (in the main file, with the projection).
pub(super) const APPLIED: TableDefinition<&str, u64> = TableDefinition::new("applied");
pub(super) const CALLS: TableDefinition<u128, &[u8]> = TableDefinition::new("calls");
pub(super) const CALL_SIDS: TableDefinition<&str, u128> = TableDefinition::new("call_sids");
pub(super) const CALLS_BY_CAMPAIGN: TableDefinition<(u128, u128, i64, u128), ()> =
    TableDefinition::new("calls_by_campaign");
pub(super) const CALLS_BY_TENANT: TableDefinition<(u128, i64, u128), ()> =
    TableDefinition::new("calls_by_tenant");
pub(super) const BUYER_ATTEMPTS: TableDefinition<(u128, i64, u128, u16), (u8, bool)> =
    TableDefinition::new("buyer_attempts");
pub(super) const BUYER_TOTALS: TableDefinition<u128, u64> = TableDefinition::new("buyer_totals");

/// The projections' key of their offset in `applied` (the call tables,
/// rollups and events are one projection, applied in one transaction).
const CALLS_PROJECTION: &str = "calls";
/// Set in `applied` once the rollups were built from the call documents
/// (stores from before them are, at their first open).
const ROLLUPS_BUILT: &str = "rollups-built";
/// Most entries one projection transaction applies.
const BATCH: usize = 1_024;
/// How often, at most, the projections are made durable and the log trimmed:
/// what a crash can leave to replay.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Creates the call tables (at open), so read transactions never meet a missing one.
pub(super) fn create_tables(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(APPLIED).map_err(backend("open applied"))?;
    CallTables::open(txn)?;
    reports::create_tables(txn)
}

/// The log's file and offsets, and the projector's wake-up, shared by the
/// store's clones and the projector thread.
pub(super) struct Log {
    wal: Database,
    /// The highest offset appended (committed durably).
    appended: AtomicU64,
    /// The highest offset applied to the call tables.
    applied: AtomicU64,
    /// One projection at a time (the thread's and catching-up readers'),
    /// holding when the last checkpoint was.
    projecting: Mutex<std::time::Instant>,
    /// Wakes the projector: set on append (and at stop).
    wake: Condvar,
    pending: Mutex<bool>,
    stop: AtomicBool,
    /// The last event position written, for consumers to wait on.
    events: tokio::sync::watch::Sender<u64>,
    /// Every call appended by this process and not yet applied.
    unapplied: Mutex<Unapplied>,
    /// The highest offset appended before this process opened the log: until
    /// it is applied, a read of one call catches up like any other.
    appended_at_open: u64,
}

/// The newest record of each call appended but not applied yet.
#[derive(Default)]
struct Unapplied {
    /// Call → (offset, `CallSid`, record JSON).
    by_id: HashMap<Id, (u64, String, Arc<[u8]>)>,
    by_sid: HashMap<String, Id>,
    /// Offset → the call appended there, to forget what a projection applied.
    by_offset: BTreeMap<u64, Id>,
}

/// One call, as a single-call read names it.
pub(super) enum CallKey<'a> {
    Id(Id),
    Sid(&'a str),
}

impl Unapplied {
    fn insert(&mut self, offset: u64, id: Id, sid: &str, record: Arc<[u8]>) {
        if self.by_id.get(&id).is_some_and(|(o, ..)| *o > offset) {
            return;
        }
        self.by_id.insert(id, (offset, sid.to_owned(), record));
        self.by_sid.insert(sid.to_owned(), id);
        self.by_offset.insert(offset, id);
    }

    /// Forgets the records at offsets up to `applied` (a call's newer
    /// record, at a later offset, stays).
    fn applied(&mut self, applied: u64) {
        let rest = self.by_offset.split_off(&(applied + 1));
        for (offset, id) in std::mem::replace(&mut self.by_offset, rest) {
            if self.by_id.get(&id).is_some_and(|(o, ..)| *o == offset)
                && let Some((_, sid, _)) = self.by_id.remove(&id)
            {
                self.by_sid.remove(&sid);
            }
        }
    }

    fn get(&self, key: &CallKey<'_>) -> Option<Arc<[u8]>> {
        let id = match key {
            CallKey::Id(id) => *id,
            CallKey::Sid(sid) => *self.by_sid.get(*sid)?,
        };
        self.by_id.get(&id).map(|(_, _, record)| Arc::clone(record))
    }
}

/// Stops the projector thread when the last clone of the store goes, after
/// it applied everything and made that durable, so the files close with
/// nothing to replay.
pub(super) struct Projector {
    log: Arc<Log>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Projector {
    fn drop(&mut self) {
        self.log.stop.store(true, Ordering::SeqCst);
        self.log.notify();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Log {
    /// Opens the log `wal` of `db`, applies what a crash left unapplied,
    /// and starts the projector.
    pub(super) fn open(db: &Arc<Database>, wal: Database) -> Result<(Arc<Log>, Projector)> {
        write(&wal, |txn| {
            txn.open_table(CALL_LOG).map_err(backend("open call_log"))?;
            Ok(())
        })?;
        let applied = applied_of(&read_txn(db)?)?;
        build_rollups_once(db)?;
        let appended = last_offset(&read_txn(&wal)?)?.max(applied);
        let log = Arc::new(Log {
            wal,
            appended: AtomicU64::new(appended),
            applied: AtomicU64::new(applied),
            projecting: Mutex::new(std::time::Instant::now()),
            wake: Condvar::new(),
            pending: Mutex::new(false),
            stop: AtomicBool::new(false),
            events: tokio::sync::watch::Sender::new(last_event(&read_txn(db)?)?),
            unapplied: Mutex::new(Unapplied::default()),
            appended_at_open: appended,
        });
        if let Err(e) = log.catch_up(db) {
            // The store still opens, so `calls verify --rebuild` can mend it;
            // reads of the call tables say what is wrong until then.
            tracing::error!(error = %e, "applying the call log at open failed");
        }
        let thread = {
            let (db, log) = (Arc::clone(db), Arc::clone(&log));
            std::thread::Builder::new()
                .name("call-log-projector".into())
                .spawn(move || log.run(&db))
                .map_err(|e| StoreError::Backend(format!("start the projector: {e}")))?
        };
        let projector = Projector {
            log: Arc::clone(&log),
            thread: Some(thread),
        };
        Ok((log, projector))
    }

    fn notify(&self) {
        if let Ok(mut p) = self.pending.lock() {
            *p = true;
        }
        self.wake.notify_one();
    }

    /// The projector thread: applies the log whenever something is appended.
    fn run(&self, db: &Database) {
        loop {
            {
                let Ok(mut pending) = self.pending.lock() else {
                    return;
                };
                while !*pending && !self.stop.load(Ordering::SeqCst) {
                    pending = match self.wake.wait(pending) {
                        Ok(p) => p,
                        Err(_) => return,
                    };
                }
                *pending = false;
            }
            if let Err(e) = self.apply(db, true) {
                // Retried at the next append; readers meanwhile get the error.
                tracing::error!(error = %e, "applying the call log failed");
            }
            if self.stop.load(Ordering::SeqCst) {
                // Appends may have come after the pass above began: apply
                // them too, then make it all durable, so nothing is left to
                // replay at the next open.
                if let Err(e) = self.apply(db, false) {
                    tracing::error!(error = %e, "applying the call log at close failed");
                }
                if let Err(e) = self.checkpoint(db) {
                    tracing::error!(error = %e, "the last checkpoint of the call log failed");
                }
                return;
            }
        }
    }

    /// Appends `calls` (id, `CallSid`, record JSON) in one durable commit;
    /// returns once it is on disk.
    pub(super) fn append(&self, calls: &[(Id, String, Arc<[u8]>)]) -> Result<()> {
        let now = micros(Utc::now());
        let last = write(&self.wal, |txn| {
            let mut log = txn.open_table(CALL_LOG).map_err(backend("open call_log"))?;
            // Offsets go on from the last applied when the log was trimmed empty.
            let mut next = log
                .last()
                .map_err(backend("read call_log"))?
                .map_or(0, |(k, _)| k.value())
                .max(self.applied.load(Ordering::SeqCst))
                + 1;
            for (_, _, bytes) in calls {
                log.insert(next, (now, bytes.as_ref()))
                    .map_err(backend("append to call_log"))?;
                next += 1;
            }
            Ok(next - 1)
        })?;
        {
            // The projector may have applied these already (it reads what is
            // committed): what it applied before this insert is forgotten
            // here, what it applies after, by it.
            let mut unapplied = self.lock_unapplied();
            let first = last + 1 - calls.len() as u64;
            for (offset, (id, sid, bytes)) in (first..).zip(calls) {
                unapplied.insert(offset, *id, sid, Arc::clone(bytes));
            }
            unapplied.applied(self.applied.load(Ordering::SeqCst));
        }
        self.appended.fetch_max(last, Ordering::SeqCst);
        self.notify();
        Ok(())
    }

    /// The newest record of the call `key` names if the call tables do not
    /// have it yet; `None`: they do (or it was never acknowledged). Waits for
    /// no projection, so read it before opening the tables' transaction.
    pub(super) fn unapplied(&self, db: &Database, key: CallKey<'_>) -> Result<Option<Arc<[u8]>>> {
        if self.applied.load(Ordering::SeqCst) < self.appended_at_open {
            self.catch_up(db)?;
        }
        Ok(self.lock_unapplied().get(&key))
    }

    /// A panic while [`Self::unapplied`]'s lock was held left each map
    /// whole (every change is a single insert or remove), so it is taken over.
    fn lock_unapplied(&self) -> std::sync::MutexGuard<'_, Unapplied> {
        self.unapplied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies every entry appended before this call, so a read after it
    /// sees every acknowledged call. Readers never checkpoint (no fsync on
    /// their path); the projector thread does.
    pub(super) fn catch_up(&self, db: &Database) -> Result<()> {
        self.apply(db, false)
    }

    /// [`Self::catch_up`]; with `may_checkpoint`, a batch is durable if the
    /// last checkpoint was [`CHECKPOINT_EVERY`] ago, and
    /// the log is then trimmed up to it.
    fn apply(&self, db: &Database, may_checkpoint: bool) -> Result<()> {
        let target = self.appended.load(Ordering::SeqCst);
        if self.applied.load(Ordering::SeqCst) >= target {
            return Ok(());
        }
        let mut last_checkpoint = self.lock();
        loop {
            let from = self.applied.load(Ordering::SeqCst);
            if from >= target {
                return Ok(());
            }
            let entries = self.read(from, BATCH)?;
            // Offsets have no gaps: one missing (a file restored without the
            // other, say) is never skipped silently.
            let (Some(&(first, ..)), Some(&(last, ..))) = (entries.first(), entries.last()) else {
                return Err(StoreError::Corrupt(format!(
                    "the call log has no entry after {from}, but {target} was appended"
                )));
            };
            if first != from + 1 {
                return Err(StoreError::Corrupt(format!(
                    "the call log jumps from offset {from} to {first}"
                )));
            }
            // Behind or not: a projector that never catches up still makes
            // its progress durable and trims the log once a second, so
            // neither the replay after a crash nor the log grows without bound.
            let checkpoint = may_checkpoint && last_checkpoint.elapsed() >= CHECKPOINT_EVERY;
            let last_event = project(db, &entries, last, checkpoint)?;
            self.applied.store(last, Ordering::SeqCst);
            self.lock_unapplied().applied(last);
            if let Some(position) = last_event {
                self.events.send_replace(position);
            }
            if checkpoint {
                *last_checkpoint = std::time::Instant::now();
                if let Err(e) = self.trim(last, Durability::None) {
                    // Applied and durable all the same; the next checkpoint trims again.
                    tracing::warn!(error = %e, "trimming the call log failed");
                }
            }
        }
    }

    /// The projection lock, holding when the last checkpoint was. A panic
    /// while it was held leaves nothing half-done (a projection is one
    /// transaction), so a poisoned lock is taken over.
    fn lock(&self) -> std::sync::MutexGuard<'_, std::time::Instant> {
        self.projecting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A receiver of the last event position written.
    pub(super) fn event_positions(&self) -> tokio::sync::watch::Receiver<u64> {
        self.events.subscribe()
    }

    /// Up to `limit` entries after offset `from`: (offset, µs appended, record).
    fn read(&self, from: u64, limit: usize) -> Result<Vec<(u64, i64, Vec<u8>)>> {
        let txn = read_txn(&self.wal)?;
        let log = txn.open_table(CALL_LOG).map_err(backend("open call_log"))?;
        log.range(from + 1..)
            .map_err(backend("read call_log"))?
            .take(limit)
            .map(|e| {
                let (k, v) = e.map_err(backend("read call_log"))?;
                let (at, bytes) = v.value();
                Ok((k.value(), at, bytes.to_vec()))
            })
            .collect()
    }

    /// Makes what was applied durable, and trims the log up to it.
    /// The last checkpoint, at close: the trim is durable too, so the log
    /// opens empty (and a large one is made anew, see [`open_log`]).
    fn checkpoint(&self, db: &Database) -> Result<()> {
        let mut last_checkpoint = self.lock();
        let applied = self.applied.load(Ordering::SeqCst);
        project(db, &[], applied, true)?;
        *last_checkpoint = std::time::Instant::now();
        self.trim(applied, Durability::Immediate)
    }

    /// Deletes the entries up to `checkpoint`, applied durably. Not fsynced
    /// but at close: a trim lost in a crash is done again at the next
    /// checkpoint, and the entries it left are behind the applied offset, so
    /// never applied twice.
    fn trim(&self, checkpoint: u64, durability: Durability) -> Result<()> {
        write_with(&self.wal, durability, |txn| {
            let mut log = txn.open_table(CALL_LOG).map_err(backend("open call_log"))?;
            log.retain_in(..=checkpoint, |_, _| false)
                .map_err(backend("trim call_log"))
        })
    }

    /// How far the projection is behind the log.
    pub(super) fn lag(&self) -> Result<ProjectionLag> {
        let (appended, applied) = (
            self.appended.load(Ordering::SeqCst),
            self.applied.load(Ordering::SeqCst),
        );
        let events = appended.saturating_sub(applied);
        let oldest = match events {
            0 => None,
            _ => {
                let txn = read_txn(&self.wal)?;
                let log = txn.open_table(CALL_LOG).map_err(backend("open call_log"))?;
                let first = log
                    .range(applied + 1..)
                    .map_err(backend("read call_log"))?
                    .next()
                    .transpose()
                    .map_err(backend("read call_log"))?;
                first.map(|(_, v)| v.value().0)
            }
        };
        let seconds = oldest.map_or(0.0, |us| ((micros(Utc::now()) - us) as f64 / 1e6).max(0.0));
        Ok(ProjectionLag {
            appended,
            applied,
            events,
            seconds,
        })
    }

    /// Recounts the indexes and totals from the call documents (after
    /// applying the whole log) and names every difference from what the
    /// incremental path wrote; with `rebuild`, first replaces them with the
    /// recount.
    pub(super) fn check(&self, db: &Database, rebuild: bool) -> Result<ProjectionCheck> {
        self.catch_up(db)?;
        self.checkpoint(db)?;
        let _one = self.lock();
        if rebuild {
            write(db, |txn| {
                rebuild_tables(txn)?;
                let rows = reports::recount(views(
                    &txn.open_table(CALLS).map_err(backend("open calls"))?,
                )?)?;
                reports::replace(txn, rows)?;
                let activity = activity::recount(&read_txn(db)?)?;
                activity::replace(txn, activity)
            })?;
        }
        let txn = read_txn(db)?;
        let mut check = recount(&txn)?;
        let rows = reports::recount(views(
            &txn.open_table(CALLS).map_err(backend("open calls"))?,
        )?)?;
        let mut differ = |what: String| {
            if check.differences.len() < 100 {
                check.differences.push(what);
            }
        };
        reports::compare(&txn, rows, &mut differ)?;
        activity::compare(&txn, activity::recount(&txn)?, &mut differ)?;
        check.rebuilt = rebuild;
        Ok(check)
    }
}

/// The offset the call tables have applied.
fn applied_of(txn: &ReadTransaction) -> Result<u64> {
    Ok(txn
        .open_table(APPLIED)
        .map_err(backend("open applied"))?
        .get(CALLS_PROJECTION)
        .map_err(backend("read applied"))?
        .map_or(0, |g| g.value()))
}

/// Builds the rollups from the call documents (and the bid and visit
/// rows), once: a store from before them counts its past calls too. Runs before the log's unapplied entries
/// are, so each record is counted exactly once.
fn build_rollups_once(db: &Database) -> Result<()> {
    let built = read_txn(db)?
        .open_table(APPLIED)
        .map_err(backend("open applied"))?
        .get(ROLLUPS_BUILT)
        .map_err(backend("read applied"))?
        .is_some();
    if built {
        return Ok(());
    }
    write(db, |txn| {
        let rows = reports::recount(views(
            &txn.open_table(CALLS).map_err(backend("open calls"))?,
        )?)?;
        if !rows.is_empty() {
            tracing::info!(
                rows = rows.len(),
                "report rollups built from the stored calls"
            );
        }
        reports::replace(txn, rows)?;
        activity::replace(txn, activity::recount(&read_txn(db)?)?)?;
        txn.open_table(APPLIED)
            .map_err(backend("open applied"))?
            .insert(ROLLUPS_BUILT, 1)
            .map_err(backend("write applied"))?;
        Ok(())
    })
}

/// Every stored call's view, in id order.
fn views<'t>(
    calls: &'t impl ReadableTable<u128, &'static [u8]>,
) -> Result<impl Iterator<Item = Result<CallView>> + 't> {
    Ok(calls.iter().map_err(backend("read calls"))?.map(|e| {
        let (_, v) = e.map_err(backend("read calls"))?;
        view_of(v.value())
    }))
}

/// The last event position written (0: none).
fn last_event(txn: &ReadTransaction) -> Result<u64> {
    Ok(txn
        .open_table(reports::CALL_EVENTS)
        .map_err(backend("open call_events"))?
        .last()
        .map_err(backend("read call_events"))?
        .map_or(0, |(k, _)| k.value()))
}

/// Opens the log file at `path`. One left empty (everything applied and
/// trimmed) but large, after a backlog, is made anew: redb would give its
/// free space back at the first commit, and truncating gigabytes of page
/// cache holds the store's opening for minutes. Nothing is lost: offsets go
/// on from the applied one, kept with the projections.
pub(super) fn open_log(path: &std::path::Path) -> Result<Database> {
    let open = |p: &std::path::Path| {
        Database::create(p)
            .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", p.display())))
    };
    let wal = open(path)?;
    let empty = match read_txn(&wal)?.open_table(CALL_LOG) {
        Ok(log) => log.is_empty().map_err(backend("read call_log"))?,
        Err(redb::TableError::TableDoesNotExist(_)) => true,
        Err(e) => return Err(backend("open call_log")(e)),
    };
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    if !empty || size <= REMAKE_EMPTY_LOG_OVER {
        return Ok(wal);
    }
    drop(wal);
    std::fs::remove_file(path)
        .map_err(|e| StoreError::Backend(format!("cannot remake {}: {e}", path.display())))?;
    tracing::info!(bytes = size, "the call log was empty: made anew");
    open(path)
}

/// The size above which an empty log file is made anew at open.
const REMAKE_EMPTY_LOG_OVER: u64 = 64 * 1024 * 1024;

fn last_offset(txn: &ReadTransaction) -> Result<u64> {
    Ok(txn
        .open_table(CALL_LOG)
        .map_err(backend("open call_log"))?
        .last()
        .map_err(backend("read call_log"))?
        .map_or(0, |(k, _)| k.value()))
}

/// Applies `entries` (ending at offset `last`) to the call tables, the
/// rollups and the events, and records `last` in the same transaction;
/// durably if `checkpoint` (which also trims the events every consumer has
/// passed). Returns the last event position written, if it wrote any.
fn project(
    db: &Database,
    entries: &[(u64, i64, Vec<u8>)],
    last: u64,
    checkpoint: bool,
) -> Result<Option<u64>> {
    let durability = if checkpoint {
        Durability::Immediate
    } else {
        Durability::None
    };
    write_with(db, durability, |txn| {
        let mut tables = CallTables::open(txn)?;
        let mut deltas = HashMap::new();
        let mut rollups = reports::Deltas::default();
        let mut events = Vec::new();
        for (offset, at, bytes) in entries {
            let new = match view_of(bytes).and_then(|v| IndexKeys::of(&v).map(|k| (v, k))) {
                Ok(new) => new,
                // Written by `put_calls`, so only a damaged file gets here:
                // passed over, named, rather than stopping every call after it.
                Err(e) => {
                    tracing::error!(offset, error = %e, "a call log entry cannot be read; passed over");
                    continue;
                }
            };
            let (new, keys) = new;
            let old = tables.upsert(&keys, bytes, &mut deltas)?;
            rollups.record(old.as_ref(), &new);
            let at = from_micros(*at)?;
            for (i, kind) in report::events(old.as_ref(), &new).into_iter().enumerate() {
                events.push(StoredEvent {
                    position: offset * EVENTS_PER_ENTRY + i as u64,
                    tenant: new.tenant_id,
                    call_id: new.id,
                    kind,
                    at,
                    demo: new.demo,
                });
            }
        }
        tables.apply_totals(deltas)?;
        drop(tables);
        rollups.apply(txn)?;
        reports::insert_events(txn, &events)?;
        if checkpoint {
            reports::trim_events(txn)?;
        }
        txn.open_table(APPLIED)
            .map_err(backend("open applied"))?
            .insert(CALLS_PROJECTION, last)
            .map_err(backend("write applied"))?;
        Ok(events.last().map(|e| e.position))
    })
}

/// Reads full records for ids found in an index; a dangling id is corruption.
pub(super) fn load_calls(
    txn: &ReadTransaction,
    ids: impl IntoIterator<Item = u128>,
) -> Result<Vec<CallRecord>> {
    let calls = txn.open_table(CALLS).map_err(backend("open calls"))?;
    ids.into_iter()
        .map(|id| {
            let g = calls
                .get(id)
                .map_err(backend("read call"))?
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("index names missing call {}", Id::from_u128(id)))
                })?;
            decode_call(g.value())
        })
        .collect()
}

/// The view of a stored record the projections read.
fn view_of(bytes: &[u8]) -> Result<CallView> {
    CallView::decode(bytes).map_err(|e| StoreError::Corrupt(format!("call record: {e}")))
}

/// Every index entry one call owns.
#[derive(PartialEq)]
struct IndexKeys {
    id: u128,
    sid: String,
    tenant: u128,
    campaign: u128,
    started: i64,
    attempts: Vec<AttemptKey>,
}

#[derive(PartialEq)]
struct AttemptKey {
    buyer: u128,
    started: i64,
    index: u16,
    outcome: AttemptOutcome,
    released: bool,
}

impl AttemptKey {
    fn key(&self, call: u128) -> (u128, i64, u128, u16) {
        (self.buyer, self.started, call, self.index)
    }

    fn value(&self) -> (u8, bool) {
        (outcome_code(self.outcome), self.released)
    }
}

impl IndexKeys {
    fn of_stored(bytes: &[u8]) -> Result<Self> {
        Self::of(&view_of(bytes)?)
    }

    fn of(v: &CallView) -> Result<Self> {
        let attempts = v
            .attempts
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let index = u16::try_from(i).map_err(|_| {
                    StoreError::Backend(format!(
                        "call {} has more than {} attempts",
                        v.id,
                        u16::MAX
                    ))
                })?;
                Ok(AttemptKey {
                    buyer: id_key(a.buyer_id),
                    started: micros(a.started_at),
                    index,
                    outcome: a.outcome,
                    released: a.released,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            id: id_key(v.id),
            sid: v.call_sid.clone(),
            tenant: id_key(v.tenant_id),
            campaign: id_key(v.campaign_id),
            started: micros(v.started_at),
            attempts,
        })
    }
}

/// The tables the projector writes, opened once per transaction.
struct CallTables<'txn> {
    calls: Table<'txn, u128, &'static [u8]>,
    sids: Table<'txn, &'static str, u128>,
    by_campaign: Table<'txn, (u128, u128, i64, u128), ()>,
    by_tenant: Table<'txn, (u128, i64, u128), ()>,
    attempts: Table<'txn, (u128, i64, u128, u16), (u8, bool)>,
    totals: Table<'txn, u128, u64>,
}

impl<'txn> CallTables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Self> {
        Ok(Self {
            calls: txn.open_table(CALLS).map_err(backend("open calls"))?,
            sids: txn
                .open_table(CALL_SIDS)
                .map_err(backend("open call_sids"))?,
            by_campaign: txn
                .open_table(CALLS_BY_CAMPAIGN)
                .map_err(backend("open calls_by_campaign"))?,
            by_tenant: txn
                .open_table(CALLS_BY_TENANT)
                .map_err(backend("open calls_by_tenant"))?,
            attempts: txn
                .open_table(BUYER_ATTEMPTS)
                .map_err(backend("open buyer_attempts"))?,
            totals: txn
                .open_table(BUYER_TOTALS)
                .map_err(backend("open buyer_totals"))?,
        })
    }

    /// Writes one call's record `bytes` and its index entries `new`, first
    /// removing the entries of the record it replaces whose keys changed.
    /// Buyer total changes are accumulated in `deltas` and applied once per
    /// batch. Returns the view of the record replaced, if one was.
    fn upsert(
        &mut self,
        new: &IndexKeys,
        bytes: &[u8],
        deltas: &mut HashMap<u128, i64>,
    ) -> Result<Option<CallView>> {
        let id = new.id;
        // Read through this transaction, so a call repeated within one batch
        // sees its earlier record.
        let old = match self.calls.get(id).map_err(backend("read call"))? {
            Some(g) => match view_of(g.value()).and_then(|v| IndexKeys::of(&v).map(|k| (v, k))) {
                Ok(old) => Some(old),
                // A damaged document: replaced, its index entries left for
                // `calls verify` to name and `--rebuild` to mend.
                Err(e) => {
                    tracing::error!(call = %Id::from_u128(id), error = %e, "a stored call cannot be read; replaced");
                    None
                }
            },
            None => None,
        };
        let (old_view, old) = old.unzip();
        if let Some(old) = old {
            if old.sid != new.sid {
                // Only drop the mapping if it still points here.
                let mine = self
                    .sids
                    .get(old.sid.as_str())
                    .map_err(backend("read call_sids"))?
                    .map(|g| g.value())
                    == Some(id);
                if mine {
                    self.sids
                        .remove(old.sid.as_str())
                        .map_err(backend("write call_sids"))?;
                }
            }
            if (old.tenant, old.campaign, old.started) != (new.tenant, new.campaign, new.started) {
                self.by_campaign
                    .remove((old.tenant, old.campaign, old.started, id))
                    .map_err(backend("write calls_by_campaign"))?;
            }
            if (old.tenant, old.started) != (new.tenant, new.started) {
                self.by_tenant
                    .remove((old.tenant, old.started, id))
                    .map_err(backend("write calls_by_tenant"))?;
            }
            for a in &old.attempts {
                if !new.attempts.iter().any(|n| n.key(id) == a.key(id)) {
                    self.attempts
                        .remove(a.key(id))
                        .map_err(backend("write buyer_attempts"))?;
                }
                if counted(a.outcome) {
                    *deltas.entry(a.buyer).or_default() -= 1;
                }
            }
        }
        self.calls
            .insert(id, bytes)
            .map_err(backend("write calls"))?;
        self.index(new, deltas)?;
        Ok(old_view)
    }

    /// Writes the index entries of one call.
    fn index(&mut self, new: &IndexKeys, deltas: &mut HashMap<u128, i64>) -> Result<()> {
        let id = new.id;
        for a in &new.attempts {
            if counted(a.outcome) {
                *deltas.entry(a.buyer).or_default() += 1;
            }
            self.attempts
                .insert(a.key(id), a.value())
                .map_err(backend("write buyer_attempts"))?;
        }
        self.sids
            .insert(new.sid.as_str(), id)
            .map_err(backend("write call_sids"))?;
        self.by_campaign
            .insert((new.tenant, new.campaign, new.started, id), ())
            .map_err(backend("write calls_by_campaign"))?;
        self.by_tenant
            .insert((new.tenant, new.started, id), ())
            .map_err(backend("write calls_by_tenant"))?;
        Ok(())
    }

    fn apply_totals(&mut self, deltas: HashMap<u128, i64>) -> Result<()> {
        for (buyer, delta) in deltas {
            if delta == 0 {
                continue;
            }
            let current = self
                .totals
                .get(buyer)
                .map_err(backend("read buyer_totals"))?
                .map_or(0, |g| g.value());
            // Never below zero: a removal always follows the addition it undoes.
            let next = current.saturating_add_signed(delta);
            self.totals
                .insert(buyer, next)
                .map_err(backend("write buyer_totals"))?;
        }
        Ok(())
    }
}

/// Replaces the indexes and totals with a recount from the call documents.
fn rebuild_tables(txn: &WriteTransaction) -> Result<()> {
    txn.delete_table(CALL_SIDS)
        .map_err(backend("clear a call table"))?;
    txn.delete_table(CALLS_BY_CAMPAIGN)
        .map_err(backend("clear a call table"))?;
    txn.delete_table(CALLS_BY_TENANT)
        .map_err(backend("clear a call table"))?;
    txn.delete_table(BUYER_ATTEMPTS)
        .map_err(backend("clear a call table"))?;
    txn.delete_table(BUYER_TOTALS)
        .map_err(backend("clear a call table"))?;
    let mut tables = CallTables::open(txn)?;
    let keys: Vec<IndexKeys> = tables
        .calls
        .iter()
        .map_err(backend("read calls"))?
        .map(|e| {
            let (_, v) = e.map_err(backend("read calls"))?;
            IndexKeys::of_stored(v.value())
        })
        .collect::<Result<_>>()?;
    let mut deltas = HashMap::new();
    for k in &keys {
        tables.index(k, &mut deltas)?;
    }
    tables.apply_totals(deltas)
}

/// Recounts every index and total from the call documents and names each difference.
fn recount(txn: &ReadTransaction) -> Result<ProjectionCheck> {
    let calls_table = txn.open_table(CALLS).map_err(backend("open calls"))?;
    let sids = txn
        .open_table(CALL_SIDS)
        .map_err(backend("open call_sids"))?;
    let by_campaign = txn
        .open_table(CALLS_BY_CAMPAIGN)
        .map_err(backend("open calls_by_campaign"))?;
    let by_tenant = txn
        .open_table(CALLS_BY_TENANT)
        .map_err(backend("open calls_by_tenant"))?;
    let attempts = txn
        .open_table(BUYER_ATTEMPTS)
        .map_err(backend("open buyer_attempts"))?;
    let totals = txn
        .open_table(BUYER_TOTALS)
        .map_err(backend("open buyer_totals"))?;
    let mut differences = Vec::new();
    let mut differ = |what: String| {
        if differences.len() < 100 {
            differences.push(what);
        }
    };
    let (mut calls, mut attempt_rows) = (0u64, 0u64);
    let mut sid_rows: BTreeMap<String, u128> = BTreeMap::new();
    let mut duplicate_sids = std::collections::BTreeSet::new();
    let mut expected_totals: BTreeMap<u128, u64> = BTreeMap::new();
    for e in calls_table.iter().map_err(backend("read calls"))? {
        let (k, v) = e.map_err(backend("read calls"))?;
        let keys = IndexKeys::of_stored(v.value())?;
        let call = Id::from_u128(k.value());
        calls += 1;
        if keys.id != k.value() {
            differ(format!(
                "call {call}: its record says it is {}",
                Id::from_u128(keys.id)
            ));
        }
        // Two calls with one CallSid (never written so): the index keeps
        // the later write, which the documents cannot tell; not compared.
        if sid_rows.insert(keys.sid.clone(), keys.id).is_some() {
            sid_rows.remove(&keys.sid);
            duplicate_sids.insert(keys.sid.clone());
        } else if duplicate_sids.contains(&keys.sid) {
            sid_rows.remove(&keys.sid);
        }
        let campaign_key = (keys.tenant, keys.campaign, keys.started, keys.id);
        if by_campaign
            .get(campaign_key)
            .map_err(backend("read calls_by_campaign"))?
            .is_none()
        {
            differ(format!("call {call}: missing from calls_by_campaign"));
        }
        let tenant_key = (keys.tenant, keys.started, keys.id);
        if by_tenant
            .get(tenant_key)
            .map_err(backend("read calls_by_tenant"))?
            .is_none()
        {
            differ(format!("call {call}: missing from calls_by_tenant"));
        }
        for a in &keys.attempts {
            attempt_rows += 1;
            let stored = attempts
                .get(a.key(keys.id))
                .map_err(backend("read buyer_attempts"))?
                .map(|g| g.value());
            if stored != Some(a.value()) {
                differ(format!(
                    "call {call}: attempt {} is {stored:?} in buyer_attempts, {:?} in its record",
                    a.index,
                    a.value()
                ));
            }
            if counted(a.outcome) {
                *expected_totals.entry(a.buyer).or_default() += 1;
            }
        }
    }
    for (sid, id) in &sid_rows {
        if sids
            .get(sid.as_str())
            .map_err(backend("read call_sids"))?
            .map(|g| g.value())
            != Some(*id)
        {
            differ(format!(
                "CallSid {sid}: not mapped to call {}",
                Id::from_u128(*id)
            ));
        }
    }
    let mut count = |table: &str, rows: u64, expected: u64| {
        if rows != expected {
            differ(format!(
                "{table}: {rows} rows, the documents give {expected}"
            ));
        }
    };
    count(
        "call_sids",
        sids.len().map_err(backend("count call_sids"))?,
        (sid_rows.len() + duplicate_sids.len()) as u64,
    );
    count(
        "calls_by_campaign",
        by_campaign
            .len()
            .map_err(backend("count calls_by_campaign"))?,
        calls,
    );
    count(
        "calls_by_tenant",
        by_tenant.len().map_err(backend("count calls_by_tenant"))?,
        calls,
    );
    count(
        "buyer_attempts",
        attempts.len().map_err(backend("count buyer_attempts"))?,
        attempt_rows,
    );
    let stored_totals: BTreeMap<u128, u64> = totals
        .iter()
        .map_err(backend("read buyer_totals"))?
        .map(|e| {
            e.map(|(k, v)| (k.value(), v.value()))
                .map_err(backend("read buyer_totals"))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    let buyers: std::collections::BTreeSet<u128> = stored_totals
        .keys()
        .chain(expected_totals.keys())
        .copied()
        .collect();
    for buyer in &buyers {
        let (stored, expected) = (
            stored_totals.get(buyer).copied().unwrap_or(0),
            expected_totals.get(buyer).copied().unwrap_or(0),
        );
        if stored != expected {
            differ(format!(
                "buyer {}: total {stored}, the documents give {expected}",
                Id::from_u128(*buyer)
            ));
        }
    }
    Ok(ProjectionCheck {
        calls,
        differences,
        rebuilt: false,
    })
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration};
    use switchboard_model::{AttemptOutcome, CallRecord, new_id};

    use super::*;
    use crate::conformance::{sample_attempt, sample_call};
    use crate::{EmbeddedStore, Store};

    /// Calls written, then changed the ways a call changes (attempts added,
    /// outcomes settled, a new start time), over several batches.
    async fn busy_store(store: &EmbeddedStore) -> (Vec<CallRecord>, Id) {
        let (tenant, campaign, buyer) = (new_id(), new_id(), new_id());
        let t0 = DateTime::UNIX_EPOCH + Duration::days(20_000);
        let mut calls: Vec<CallRecord> = (0..40)
            .map(|i| sample_call(tenant, campaign, t0 + Duration::seconds(i)))
            .collect();
        store.put_calls(&calls).await.unwrap();
        for (i, c) in calls.iter_mut().enumerate() {
            c.attempts
                .push(sample_attempt(buyer, c.started_at, AttemptOutcome::Pending));
            if i % 3 == 0 {
                c.started_at += Duration::milliseconds(5);
            }
        }
        store.put_calls(&calls).await.unwrap();
        for (i, c) in calls.iter_mut().enumerate() {
            c.attempts[0].outcome = match i % 4 {
                0 => AttemptOutcome::NoAnswer,
                _ => AttemptOutcome::Completed,
            };
        }
        // One batch holding a call twice: the later record wins.
        let mut twice = calls[..10].to_vec();
        twice.push(calls[0].clone());
        store.put_calls(&twice).await.unwrap();
        store.put_calls(&calls[10..]).await.unwrap();
        (calls, buyer)
    }

    /// A webhook's read of one call (is this CallSid known?) while the
    /// projector is in a slow batch, as a checkpoint's fsync on a busy disk
    /// is: it answers at once, with the newest record appended.
    #[tokio::test]
    #[expect(
        clippy::await_holding_lock,
        reason = "the guard stands for the projector's slow batch; the reads under test must not take it"
    )]
    async fn a_read_of_one_call_waits_for_no_projection_and_sees_its_newest_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let t0 = DateTime::UNIX_EPOCH + Duration::days(20_000);
        let mut call = sample_call(new_id(), new_id(), t0);
        store.put_calls(std::slice::from_ref(&call)).await.unwrap();
        store.check_projections(false).await.unwrap();
        assert!(store.get_call(call.id).await.unwrap().is_some());

        let projecting = store.log.lock();
        call.attempts
            .push(sample_attempt(new_id(), t0, AttemptOutcome::Completed));
        let other = sample_call(call.tenant_id, call.campaign_id, t0);
        store
            .put_calls(&[call.clone(), other.clone()])
            .await
            .unwrap();
        let within = std::time::Duration::from_secs(10);
        let by_id = tokio::time::timeout(within, store.get_call(call.id)).await;
        let by_sid = tokio::time::timeout(within, store.get_call_by_sid(&other.call_sid)).await;
        drop(projecting);
        assert_eq!(
            by_id.expect("waited for the projection").unwrap(),
            Some(call.clone())
        );
        assert_eq!(
            by_sid.expect("waited for the projection").unwrap(),
            Some(other.clone())
        );

        // Applied, they are read from the tables, and memory holds none of them.
        store.check_projections(false).await.unwrap();
        assert!(store.log.lock_unapplied().by_id.is_empty());
        assert_eq!(store.get_call(call.id).await.unwrap(), Some(call));
        assert_eq!(
            store.get_call_by_sid(&other.call_sid).await.unwrap(),
            Some(other)
        );
    }

    #[tokio::test]
    async fn the_call_tables_equal_a_recount_and_the_applied_log_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let (calls, buyer) = busy_store(&store).await;

        let check = store.check_projections(false).await.unwrap();
        assert_eq!(check.differences, Vec::<String>::new());
        // 121 records were appended, applied, and trimmed from the log.
        assert_eq!(check.calls, 40);
        let lag = store.projection_lag().await.unwrap();
        assert_eq!((lag.appended, lag.applied, lag.events), (121, 121, 0));
        let txn = read_txn(&store.log.wal).unwrap();
        assert_eq!(txn.open_table(CALL_LOG).unwrap().len().unwrap(), 0);

        let before = (
            store.scan_calls(None, 100).await.unwrap(),
            store.buyer_total(buyer).await.unwrap(),
            store
                .buyer_attempts(buyer, DateTime::UNIX_EPOCH)
                .await
                .unwrap(),
        );
        assert_eq!(before.0.len(), 40);
        assert_eq!(before.1, 30, "three in four attempts were answered");
        let rebuilt = store.check_projections(true).await.unwrap();
        assert_eq!((rebuilt.rebuilt, rebuilt.differences.len()), (true, 0));
        let after = (
            store.scan_calls(None, 100).await.unwrap(),
            store.buyer_total(buyer).await.unwrap(),
            store
                .buyer_attempts(buyer, DateTime::UNIX_EPOCH)
                .await
                .unwrap(),
        );
        assert_eq!(
            before, after,
            "a rebuild gives the same documents and counters"
        );
        for c in &calls {
            let got = store.get_call_by_sid(&c.call_sid).await.unwrap();
            assert_eq!(got.as_ref(), Some(c));
        }
    }

    #[tokio::test]
    async fn closing_applies_every_append_and_leaves_an_empty_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let (tenant, campaign) = (new_id(), new_id());
        let t0 = DateTime::UNIX_EPOCH + Duration::days(20_000);
        // Many appends in a row, the last just before the close: the
        // projector is in the middle of a pass when it is told to stop.
        let mut n = 0u64;
        for b in 0..60 {
            let batch: Vec<CallRecord> = (0..200)
                .map(|i| sample_call(tenant, campaign, t0 + Duration::seconds(b * 200 + i)))
                .collect();
            store.put_calls(&batch).await.unwrap();
            n += batch.len() as u64;
        }
        drop(store);

        // Straight from the files, before anything could apply at open.
        let wal = Database::open(dir.path().join(LOG_FILE)).unwrap();
        let txn = read_txn(&wal).unwrap();
        assert_eq!(
            txn.open_table(CALL_LOG).unwrap().len().unwrap(),
            0,
            "nothing left to replay"
        );
        let db = Database::open(dir.path().join("switchboard.redb")).unwrap();
        assert_eq!(applied_of(&read_txn(&db).unwrap()).unwrap(), n);
        drop((txn, wal, db));

        let store = EmbeddedStore::open(dir.path()).unwrap();
        let check = store.check_projections(false).await.unwrap();
        assert_eq!((check.calls, check.differences.len()), (n, 0));
    }

    #[tokio::test]
    async fn a_damaged_index_is_named_by_the_check_and_mended_by_a_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let (calls, buyer) = busy_store(&store).await;
        let gone = id_key(calls[3].id);
        // Applied first, so the damage is not mended by the projector meanwhile.
        assert!(
            store
                .check_projections(false)
                .await
                .unwrap()
                .differences
                .is_empty()
        );
        write(&store.db, |txn| {
            let mut t = txn.open_table(CALLS_BY_TENANT).unwrap();
            let key = t
                .iter()
                .unwrap()
                .map(|e| e.unwrap().0.value())
                .find(|k| k.2 == gone)
                .unwrap();
            t.remove(key).unwrap();
            txn.open_table(BUYER_TOTALS)
                .unwrap()
                .insert(id_key(buyer), 7)
                .unwrap();
            Ok(())
        })
        .unwrap();
        let check = store.check_projections(false).await.unwrap();
        let found = check.differences.join("\n");
        assert!(found.contains("missing from calls_by_tenant"), "{found}");
        assert!(
            found.contains("calls_by_tenant: 39 rows, the documents give 40"),
            "{found}"
        );
        assert!(found.contains("total 7, the documents give 30"), "{found}");
        assert!(
            store
                .check_projections(true)
                .await
                .unwrap()
                .differences
                .is_empty()
        );
        assert_eq!(store.buyer_total(buyer).await.unwrap(), 30);
    }

    #[tokio::test]
    async fn entries_a_crash_left_unapplied_are_applied_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let (tenant, campaign) = (new_id(), new_id());
        let call = sample_call(tenant, campaign, DateTime::UNIX_EPOCH + Duration::days(1));
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            // Appended durably, as `put_calls` does, but never projected.
            write(&store.log.wal, |txn| {
                let bytes = serde_json::to_vec(&call).unwrap();
                txn.open_table(CALL_LOG)
                    .unwrap()
                    .insert(1, (0, bytes.as_slice()))
                    .unwrap();
                Ok(())
            })
            .unwrap();
        }
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(store.projection_lag().await.unwrap().events, 0);
        assert_eq!(
            store.get_call_by_sid(&call.call_sid).await.unwrap(),
            Some(call)
        );
        assert!(
            store
                .check_projections(false)
                .await
                .unwrap()
                .differences
                .is_empty()
        );
    }
}
