//! The call log's second and third projections: report rollups and call
//! events, written by the projector in the transaction that projects each
//! record (see [`super::calls`]), so they are exactly as current as the
//! call tables and a crash replays them with them.
//!
//! - **Rollups** (`rollups`): one row per (tenant, width, filter, group,
//!   bucket, key, currency), its value the summed [`Figures`]. A record
//!   that replaces another takes the old one's figures out and puts its own
//!   in ([`report::delta`]), so the rows always equal a recount from the
//!   call documents ([`recount`]). A row that sums to zero is deleted.
//! - **Events** (`call_events`): position → (tenant, call, kind, µs, demo).
//!   A position is the log offset of the record that marked the event
//!   times 16, plus its index among that record's events. Consumers keep
//!   durable cursors (`event_cursors`); an event is trimmed once every
//!   cursor has passed it and it is older than [`EVENT_RETENTION`].

use std::collections::HashMap;

use redb::{ReadTransaction, ReadableTable, Table, TableDefinition, WriteTransaction};
use switchboard_model::event::{EventKind, StoredEvent};
use switchboard_model::report::{self, CallView, Dimension, Figures, RowKey, Width};
use switchboard_model::{Currency, Id};

use super::{backend, from_micros, id_key};
use crate::{Result, RollupQuery, RollupRow, StoreError};

/// (tenant, width, filter, filter key, group, bucket s, key, currency) → figures.
type RollupKey = (
    u128,
    u8,
    u8,
    &'static str,
    u8,
    i64,
    &'static str,
    &'static str,
);
pub(super) const ROLLUPS: TableDefinition<RollupKey, &[u8]> = TableDefinition::new("rollups");
/// Position → (tenant, call, kind code, µs since the epoch, demo).
pub(super) const CALL_EVENTS: TableDefinition<u64, (u128, u128, u8, i64, bool)> =
    TableDefinition::new("call_events");
/// Consumer name → the last position it handled.
pub(super) const EVENT_CURSORS: TableDefinition<&str, u64> = TableDefinition::new("event_cursors");

/// Most events one record can mark (positions leave room for this many).
pub(super) const EVENTS_PER_ENTRY: u64 = 16;
/// How long events are kept for a reconnecting live stream, at least.
const EVENT_RETENTION: chrono::Duration = chrono::Duration::hours(24);
/// Most events one checkpoint trims, so a large backlog is trimmed in steps.
const TRIM_BATCH: usize = 50_000;

/// Creates the tables, so reads never meet a missing one.
pub(super) fn create_tables(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(ROLLUPS).map_err(backend("open rollups"))?;
    txn.open_table(CALL_EVENTS)
        .map_err(backend("open call_events"))?;
    txn.open_table(EVENT_CURSORS)
        .map_err(backend("open event_cursors"))?;
    Ok(())
}

/// The rollup changes of one projection batch, per tenant and width.
#[derive(Default)]
pub(super) struct Deltas(HashMap<(u128, Width), HashMap<RowKey, Figures>>);

impl Deltas {
    /// Adds what replacing `old` with `new` changes.
    pub(super) fn record(&mut self, old: Option<&CallView>, new: &CallView) {
        // A call never changes tenant; should a damaged record claim to,
        // the old tenant's rows are taken out under its own key.
        if let Some(old) = old.filter(|o| o.tenant_id != new.tenant_id) {
            for width in Width::ALL {
                let rows = self.0.entry((id_key(old.tenant_id), width)).or_default();
                let figures = Figures::of(old);
                for row in report::rows(old, width) {
                    rows.entry(row).or_default().add(&figures, -1);
                }
            }
            return self.record(None, new);
        }
        for width in Width::ALL {
            let rows = self.0.entry((id_key(new.tenant_id), width)).or_default();
            report::delta(old, new, width, rows);
        }
    }

    /// Adds the changes to the stored rows.
    pub(super) fn apply(self, txn: &WriteTransaction) -> Result<()> {
        let mut table = txn.open_table(ROLLUPS).map_err(backend("open rollups"))?;
        for ((tenant, width), rows) in self.0 {
            for (row, delta) in rows {
                if delta.is_zero() {
                    continue;
                }
                add_row(&mut table, tenant, width, &row, &delta)?;
            }
        }
        Ok(())
    }
}

fn add_row(
    table: &mut Table<RollupKey, &'static [u8]>,
    tenant: u128,
    width: Width,
    row: &RowKey,
    delta: &Figures,
) -> Result<()> {
    let key = (
        tenant,
        width.code(),
        row.filter.code(),
        row.filter_key.as_str(),
        row.group.code(),
        row.bucket,
        row.key.as_str(),
        row.currency.code(),
    );
    let mut figures = table
        .get(key)
        .map_err(backend("read rollups"))?
        .map_or_else(Figures::default, |g| Figures::decode(g.value()));
    figures.add(delta, 1);
    if figures.is_zero() {
        table.remove(key).map_err(backend("write rollups"))?;
    } else {
        table
            .insert(key, figures.encode().as_slice())
            .map_err(backend("write rollups"))?;
    }
    Ok(())
}

/// Writes the events of one batch.
pub(super) fn insert_events(txn: &WriteTransaction, events: &[StoredEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut table = txn
        .open_table(CALL_EVENTS)
        .map_err(backend("open call_events"))?;
    for e in events {
        table
            .insert(
                e.position,
                (
                    id_key(e.tenant),
                    id_key(e.call_id),
                    e.kind.code(),
                    e.at.timestamp_micros(),
                    e.demo,
                ),
            )
            .map_err(backend("write call_events"))?;
    }
    Ok(())
}

/// The events after `after`, of one tenant or all, at most `limit`.
pub(super) fn events_after(
    txn: &ReadTransaction,
    tenant: Option<Id>,
    after: u64,
    limit: usize,
) -> Result<Vec<StoredEvent>> {
    let table = txn
        .open_table(CALL_EVENTS)
        .map_err(backend("open call_events"))?;
    let want = tenant.map(id_key);
    let mut out = Vec::new();
    for e in table
        .range(after.saturating_add(1)..)
        .map_err(backend("read call_events"))?
    {
        let (k, v) = e.map_err(backend("read call_events"))?;
        let (t, call, kind, at, demo) = v.value();
        if want.is_some_and(|w| w != t) {
            continue;
        }
        out.push(StoredEvent {
            position: k.value(),
            tenant: Id::from_u128(t),
            call_id: Id::from_u128(call),
            kind: EventKind::of_code(kind)
                .ok_or_else(|| StoreError::Corrupt(format!("event kind {kind}")))?,
            at: from_micros(at)?,
            demo,
        });
        if out.len() >= limit.max(1) {
            break;
        }
    }
    Ok(out)
}

/// Deletes events every cursor has passed that are older than the retention.
pub(super) fn trim_events(txn: &WriteTransaction) -> Result<()> {
    let cursors = txn
        .open_table(EVENT_CURSORS)
        .map_err(backend("open event_cursors"))?;
    let mut passed = u64::MAX;
    for e in cursors.iter().map_err(backend("read event_cursors"))? {
        passed = passed.min(e.map_err(backend("read event_cursors"))?.1.value());
    }
    drop(cursors);
    let cutoff = (chrono::Utc::now() - EVENT_RETENTION).timestamp_micros();
    let mut table = txn
        .open_table(CALL_EVENTS)
        .map_err(backend("open call_events"))?;
    // Oldest first, stopping at the first event to keep: positions follow
    // append times, so one check per trimmed event and one more.
    let mut last = None;
    for (n, e) in table
        .range(..=passed)
        .map_err(backend("read call_events"))?
        .enumerate()
    {
        let (k, v) = e.map_err(backend("read call_events"))?;
        if n >= TRIM_BATCH || v.value().3 >= cutoff {
            break;
        }
        last = Some(k.value());
    }
    if let Some(last) = last {
        table
            .retain_in(..=last, |_, _| false)
            .map_err(backend("trim call_events"))?;
    }
    Ok(())
}

/// A consumer's cursor (0: from the start).
pub(super) fn cursor(txn: &ReadTransaction, name: &str) -> Result<u64> {
    Ok(txn
        .open_table(EVENT_CURSORS)
        .map_err(backend("open event_cursors"))?
        .get(name)
        .map_err(backend("read event_cursors"))?
        .map_or(0, |g| g.value()))
}

/// Moves a consumer's cursor (never back).
pub(super) fn set_cursor(txn: &WriteTransaction, name: &str, position: u64) -> Result<()> {
    let mut table = txn
        .open_table(EVENT_CURSORS)
        .map_err(backend("open event_cursors"))?;
    let current = table
        .get(name)
        .map_err(backend("read event_cursors"))?
        .map_or(0, |g| g.value());
    table
        .insert(name, current.max(position))
        .map_err(backend("write event_cursors"))?;
    Ok(())
}

/// The rows a query asks for, in (bucket, key) order.
pub(super) fn query(txn: &ReadTransaction, q: &RollupQuery) -> Result<Vec<RollupRow>> {
    let table = txn.open_table(ROLLUPS).map_err(backend("open rollups"))?;
    let (tenant, width, filter, group) = (
        id_key(q.tenant),
        q.width.code(),
        q.filter.code(),
        q.group.code(),
    );
    let filter_key = q.filter_key.as_str();
    let start = (tenant, width, filter, filter_key, group, q.from, "", "");
    let end = (tenant, width, filter, filter_key, group, q.to, "", "");
    let mut out = Vec::new();
    for e in table.range(start..end).map_err(backend("read rollups"))? {
        let (k, v) = e.map_err(backend("read rollups"))?;
        let (_, _, _, _, _, bucket, key, currency) = k.value();
        out.push(RollupRow {
            bucket,
            key: key.to_owned(),
            currency: Currency::parse(currency)
                .map_err(|e| StoreError::Corrupt(format!("rollup currency: {e}")))?,
            figures: Figures::decode(v.value()),
        });
    }
    Ok(out)
}

/// Every rollup row, recounted from the call documents.
pub(super) fn recount(
    calls: impl Iterator<Item = Result<CallView>>,
) -> Result<HashMap<(u128, Width, RowKey), Figures>> {
    let mut rows: HashMap<(u128, Width, RowKey), Figures> = HashMap::new();
    for view in calls {
        let view = view?;
        let figures = Figures::of(&view);
        for width in Width::ALL {
            for row in report::rows(&view, width) {
                rows.entry((id_key(view.tenant_id), width, row))
                    .or_default()
                    .add(&figures, 1);
            }
        }
    }
    rows.retain(|_, f| !f.is_zero());
    Ok(rows)
}

/// Names each stored row that differs from `expected` (at most `room`).
pub(super) fn compare(
    txn: &ReadTransaction,
    mut expected: HashMap<(u128, Width, RowKey), Figures>,
    differ: &mut dyn FnMut(String),
) -> Result<()> {
    let table = txn.open_table(ROLLUPS).map_err(backend("open rollups"))?;
    for e in table.iter().map_err(backend("read rollups"))? {
        let (k, v) = e.map_err(backend("read rollups"))?;
        let (tenant, width, filter, filter_key, group, bucket, key, currency) = k.value();
        let stored = Figures::decode(v.value());
        let row = decode_key(width, filter, filter_key, group, bucket, key, currency)?;
        let name = describe(tenant, &row);
        match expected.remove(&(tenant, row.0, row.1)) {
            Some(want) if want == stored => {}
            Some(want) => differ(format!("{name}: stored {stored:?}, recount {want:?}")),
            None => differ(format!("{name}: stored {stored:?}, no call counts there")),
        }
    }
    for ((tenant, width, row), want) in expected {
        differ(format!(
            "{}: missing, recount {want:?}",
            describe(tenant, &(width, row))
        ));
    }
    Ok(())
}

/// Replaces every rollup row with `rows`.
pub(super) fn replace(
    txn: &WriteTransaction,
    rows: HashMap<(u128, Width, RowKey), Figures>,
) -> Result<()> {
    txn.delete_table(ROLLUPS)
        .map_err(backend("clear rollups"))?;
    let mut table = txn.open_table(ROLLUPS).map_err(backend("open rollups"))?;
    for ((tenant, width, row), figures) in rows {
        add_row(&mut table, tenant, width, &row, &figures)?;
    }
    Ok(())
}

fn decode_key(
    width: u8,
    filter: u8,
    filter_key: &str,
    group: u8,
    bucket: i64,
    key: &str,
    currency: &str,
) -> Result<(Width, RowKey)> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("rollup key: {what}"));
    let width = Width::ALL
        .into_iter()
        .find(|w| w.code() == width)
        .ok_or_else(|| corrupt("width"))?;
    Ok((
        width,
        RowKey {
            filter: Dimension::of_code(filter).ok_or_else(|| corrupt("filter"))?,
            filter_key: filter_key.to_owned(),
            group: Dimension::of_code(group).ok_or_else(|| corrupt("group"))?,
            bucket,
            key: key.to_owned(),
            currency: Currency::parse(currency).map_err(|_| corrupt("currency"))?,
        },
    ))
}

fn describe(tenant: u128, (width, row): &(Width, RowKey)) -> String {
    format!(
        "rollup tenant {} {width:?} {}={} by {} at {} key {:?} {}",
        Id::from_u128(tenant),
        row.filter.as_str(),
        row.filter_key,
        row.group.as_str(),
        row.bucket,
        row.key,
        row.currency
    )
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration};
    use switchboard_model::prng::SplitMix64;
    use switchboard_model::report::{Dimension, Figures, Width};
    use switchboard_model::{
        AttemptOutcome, CallRecord, CallStatus, Currency, Id, RejectReason, new_id,
    };

    use redb::ReadableTable;

    use crate::conformance::{sample_attempt, sample_call};
    use crate::{EmbeddedStore, RollupQuery, Store};

    /// The next record of a call, one step of a random lifecycle: a new
    /// attempt (fall-through), an answer, an end, a conversion, a refusal,
    /// an adjustment of its money, a moved tag.
    fn step(rng: &mut SplitMix64, call: &CallRecord, buyers: &[Id]) -> CallRecord {
        let mut next = call.clone();
        let now = call.started_at + Duration::seconds(rng.range(1, 600) as i64);
        match rng.range(0, 8) {
            0 => {
                let mut a = sample_attempt(*rng.pick(buyers), now, AttemptOutcome::Pending);
                if rng.chance(0.2) {
                    a.bid_minor = Some(rng.range(100, 5_000) as i64);
                }
                if let Some(last) = next.attempts.last_mut() {
                    last.outcome = AttemptOutcome::NoAnswer;
                }
                next.buyer_id = Some(a.buyer_id);
                next.attempts.push(a);
                next.status = CallStatus::Ringing;
            }
            1 => {
                if let Some(a) = next.attempts.last_mut() {
                    a.answered_at = Some(now);
                    a.outcome = AttemptOutcome::Answered;
                    next.answered_at = Some(now);
                    next.status = CallStatus::InProgress;
                }
            }
            2 => {
                next.status = if next.answered_at.is_some() {
                    CallStatus::Completed
                } else {
                    CallStatus::NoAnswer
                };
                next.duration_seconds = rng.range(0, 900) as u32;
            }
            3 => {
                next.converted = !next.converted;
                next.revenue_minor = if next.converted {
                    rng.range(0, 10_000) as i64
                } else {
                    0
                };
                next.profit_minor = next.revenue_minor - next.payout_minor;
            }
            4 => {
                next.status = if rng.chance(0.5) {
                    CallStatus::Rejected
                } else {
                    CallStatus::Blocked
                };
                next.reject_reason = Some(*rng.pick(&RejectReason::ALL));
            }
            5 => {
                next.payout_minor = rng.range(0, 3_000) as i64;
                next.profit_minor = next.revenue_minor - next.payout_minor;
            }
            6 => {
                let source = rng.pick(&["google", "bing", "", "facebook"]).to_string();
                next.tags.insert("utmSource".into(), source);
                next.duplicate = rng.chance(0.3);
                next.recording_url = Some("https://rec.example/1".into());
            }
            _ => {
                next.publisher_id = Some(*rng.pick(buyers));
                next.currency = *rng.pick(&[Currency::USD, Currency::EUR]);
            }
        }
        next
    }

    fn start(rng: &mut SplitMix64, tenant: Id, campaigns: &[Id]) -> CallRecord {
        let at = DateTime::UNIX_EPOCH
            + Duration::days(20_000)
            + Duration::minutes(rng.range(0, 3 * 24 * 60) as i64);
        let mut call = sample_call(tenant, *rng.pick(campaigns), at);
        call.status = CallStatus::Ringing;
        call.caller_state = Some(rng.pick(&["CA", "NY", "TX"]).to_string());
        call
    }

    async fn everything(store: &EmbeddedStore, tenant: Id, group: Dimension) -> Figures {
        let rows = store
            .rollups(&RollupQuery {
                tenant,
                width: Width::Hour,
                filter: Dimension::All,
                filter_key: String::new(),
                group,
                from: i64::MIN,
                to: i64::MAX,
            })
            .await
            .unwrap();
        let mut sum = Figures::default();
        for r in rows {
            sum.add(&r.figures, 1);
        }
        sum
    }

    /// A damaged rollup row is named by the check, which compares every
    /// row with a recount, and mended by a rebuild; so are a row no call
    /// counts in, and one missing. A store whose rollups were never built
    /// (one from before them) builds them at open.
    #[tokio::test]
    async fn the_check_names_a_damaged_rollup_and_a_rebuild_mends_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let (tenant, campaign) = (new_id(), new_id());
        let at = DateTime::UNIX_EPOCH + Duration::days(20_000);
        let calls: Vec<CallRecord> = (0..5).map(|_| sample_call(tenant, campaign, at)).collect();
        store.put_calls(&calls).await.unwrap();
        assert!(
            store
                .check_projections(false)
                .await
                .unwrap()
                .differences
                .is_empty()
        );
        let before = everything(&store, tenant, Dimension::All).await;
        assert_eq!(before.incoming, 5);
        super::super::write(&store.db, |txn| {
            let mut t = txn.open_table(super::ROLLUPS).unwrap();
            let (owned, mut figures) = {
                let (k, v) = t.first().unwrap().unwrap();
                let key = k.value();
                (
                    (
                        key.0,
                        key.1,
                        key.2,
                        key.3.to_owned(),
                        key.4,
                        key.5,
                        key.6.to_owned(),
                        key.7.to_owned(),
                    ),
                    Figures::decode(v.value()),
                )
            };
            figures.incoming += 1;
            let key = (
                owned.0,
                owned.1,
                owned.2,
                owned.3.as_str(),
                owned.4,
                owned.5,
                owned.6.as_str(),
                owned.7.as_str(),
            );
            t.insert(key, figures.encode().as_slice()).unwrap();
            t.insert(
                (owned.0, owned.1, owned.2, "ghost", 1, 0, "x", "USD"),
                figures.encode().as_slice(),
            )
            .unwrap();
            Ok(())
        })
        .unwrap();
        let found = store
            .check_projections(false)
            .await
            .unwrap()
            .differences
            .join("\n");
        assert!(found.contains("stored Figures { incoming: 6"), "{found}");
        assert!(found.contains("no call counts there"), "{found}");
        assert!(
            store
                .check_projections(true)
                .await
                .unwrap()
                .differences
                .is_empty()
        );
        assert_eq!(everything(&store, tenant, Dimension::All).await, before);
        // A store from before the rollups: none stored, none marked built.
        super::super::write(&store.db, |txn| {
            txn.delete_table(super::ROLLUPS).unwrap();
            txn.open_table(super::ROLLUPS).unwrap();
            txn.open_table(super::super::calls::APPLIED)
                .unwrap()
                .remove("rollups-built")
                .unwrap();
            Ok(())
        })
        .unwrap();
        drop(store);
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(everything(&store, tenant, Dimension::All).await, before);
        assert!(
            store
                .check_projections(false)
                .await
                .unwrap()
                .differences
                .is_empty()
        );
    }

    /// Random lifecycles of many calls, their records written in random
    /// batches, some replayed out of order (an older record after a newer
    /// one, as a late status callback can make), with restarts between:
    /// the rollups always equal a recount from the stored calls, and their
    /// totals equal a count made here from the last record of each call.
    #[tokio::test]
    async fn rollups_equal_a_recount_through_random_lifecycles_and_restarts() {
        for seed in 0..6u64 {
            let dir = tempfile::tempdir().unwrap();
            let mut rng = SplitMix64::new(seed);
            let (tenant, other) = (new_id(), new_id());
            let campaigns = [new_id(), new_id(), new_id()];
            let buyers = [new_id(), new_id(), new_id(), new_id()];
            let mut calls: Vec<CallRecord> = (0..40)
                .map(|i| {
                    start(
                        &mut rng,
                        if i % 7 == 0 { other } else { tenant },
                        &campaigns,
                    )
                })
                .collect();
            let mut store = EmbeddedStore::open(dir.path()).unwrap();
            let mut last: std::collections::HashMap<Id, CallRecord> = Default::default();
            for round in 0..12 {
                let mut batch = Vec::new();
                for call in calls.iter_mut() {
                    if rng.chance(0.5) {
                        let old = call.clone();
                        *call = step(&mut rng, call, &buyers);
                        if rng.chance(0.1) {
                            // The newer record, then the older one again.
                            batch.push(call.clone());
                            *call = old;
                        }
                        batch.push(call.clone());
                    }
                }
                for chunk in batch.chunks(rng.range(1, 20) as usize) {
                    store.put_calls(chunk).await.unwrap();
                }
                for c in &batch {
                    last.insert(c.id, c.clone());
                }
                if round % 4 == 3 {
                    drop(store);
                    store = EmbeddedStore::open(dir.path()).unwrap();
                }
            }
            let check = store.check_projections(false).await.unwrap();
            assert_eq!(check.differences, Vec::<String>::new(), "seed {seed}");
            let mine: Vec<&CallRecord> = last.values().filter(|c| c.tenant_id == tenant).collect();
            let count =
                |f: &dyn Fn(&CallRecord) -> bool| mine.iter().filter(|c| f(c)).count() as i64;
            let total = everything(&store, tenant, Dimension::All).await;
            assert_eq!(total.incoming, mine.len() as i64, "seed {seed}");
            assert_eq!(
                total.connected,
                count(&|c| c.attempts.iter().any(|a| a.answered_at.is_some()))
            );
            assert_eq!(total.blocked, count(&|c| c.status == CallStatus::Blocked));
            assert_eq!(total.live, count(&|c| !c.status.is_terminal()));
            assert_eq!(
                total.revenue_minor,
                mine.iter().map(|c| c.revenue_minor).sum::<i64>()
            );
            // Grouped by campaign, the rows add up to the same totals.
            assert_eq!(everything(&store, tenant, Dimension::Campaign).await, total);
        }
    }
}
