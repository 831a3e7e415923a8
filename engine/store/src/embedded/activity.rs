//! Rollups of RTB auctions and DNI visits, written in the transaction that
//! writes the rows they count (`put_auction`, `put_sessions`), so they are
//! exactly as current as those rows; recounted from them by
//! [`recount`] for `reports verify`.
//!
//! - `bid_rollups`: (tenant, width, router or target, bucket, id, currency)
//!   → [`BidFigures`] as JSON. An auction is written once; a repeat of its
//!   id is not counted again.
//! - `visit_rollups`: (tenant, width, dimension, bucket, key, USD) → visits. A
//!   visit that replaces itself takes its old rows out first.

use std::collections::HashMap;

use redb::{ReadTransaction, ReadableTable, Table, TableDefinition, WriteTransaction};
use switchboard_model::call::VisitorSession;
use switchboard_model::report::activity::{self, ActivityKey, BidFigures};
use switchboard_model::report::{Dimension, Width};
use switchboard_model::{BidRequestRecord, BidResponseRecord, Currency, Id};

use super::{BID_REQUESTS, BID_RESPONSES, SESSIONS, backend, id_key};
use crate::{BidRollupRow, Result, RollupQuery, StoreError, VisitRollupRow};

/// (tenant, width, dimension, bucket, key, currency): a range of buckets is
/// one contiguous scan.
type Key = (u128, u8, u8, i64, &'static str, &'static str);
pub(super) const BID_ROLLUPS: TableDefinition<Key, &[u8]> = TableDefinition::new("bid_rollups");
pub(super) const VISIT_ROLLUPS: TableDefinition<Key, i64> = TableDefinition::new("visit_rollups");

/// Creates the tables.
pub(super) fn create_tables(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(BID_ROLLUPS)
        .map_err(backend("open bid_rollups"))?;
    txn.open_table(VISIT_ROLLUPS)
        .map_err(backend("open visit_rollups"))?;
    Ok(())
}

fn key(tenant: u128, width: Width, k: &ActivityKey) -> Bound<'_> {
    (
        tenant,
        width.code(),
        k.0.code(),
        k.2,
        k.1.as_str(),
        k.3.code(),
    )
}

fn add_bid(
    table: &mut Table<Key, &'static [u8]>,
    tenant: u128,
    width: Width,
    k: &ActivityKey,
    figures: &BidFigures,
) -> Result<()> {
    let key = key(tenant, width, k);
    let mut sum: BidFigures = match table.get(key).map_err(backend("read bid_rollups"))? {
        Some(g) => serde_json::from_slice(g.value())
            .map_err(|e| StoreError::Corrupt(format!("bid rollup: {e}")))?,
        None => BidFigures::default(),
    };
    sum.add(figures);
    let bytes = serde_json::to_vec(&sum).map_err(|e| StoreError::Backend(e.to_string()))?;
    table
        .insert(key, bytes.as_slice())
        .map_err(backend("write bid_rollups"))?;
    Ok(())
}

/// Counts one auction (call it only when its request row is new).
pub(super) fn count_auction(
    txn: &WriteTransaction,
    request: &BidRequestRecord,
    responses: &[BidResponseRecord],
) -> Result<()> {
    let mut table = txn
        .open_table(BID_ROLLUPS)
        .map_err(backend("open bid_rollups"))?;
    for width in Width::ALL {
        for (k, figures) in activity::bid_rows(request, responses, width) {
            add_bid(&mut table, id_key(request.tenant_id), width, &k, &figures)?;
        }
    }
    Ok(())
}

fn add_visits(
    table: &mut Table<Key, i64>,
    tenant: u128,
    width: Width,
    k: &ActivityKey,
    n: i64,
) -> Result<()> {
    let key = key(tenant, width, k);
    let sum = table
        .get(key)
        .map_err(backend("read visit_rollups"))?
        .map_or(0, |g| g.value())
        + n;
    if sum == 0 {
        table.remove(key).map_err(backend("write visit_rollups"))?;
    } else {
        table
            .insert(key, sum)
            .map_err(backend("write visit_rollups"))?;
    }
    Ok(())
}

/// Counts a visit written over `old` (its earlier record, if any).
pub(super) fn count_visit(
    txn: &WriteTransaction,
    old: Option<&VisitorSession>,
    new: &VisitorSession,
) -> Result<()> {
    let mut table = txn
        .open_table(VISIT_ROLLUPS)
        .map_err(backend("open visit_rollups"))?;
    for width in Width::ALL {
        if let Some(old) = old {
            for k in activity::visit_rows(old, width) {
                add_visits(&mut table, id_key(old.tenant_id), width, &k, -1)?;
            }
        }
        for k in activity::visit_rows(new, width) {
            add_visits(&mut table, id_key(new.tenant_id), width, &k, 1)?;
        }
    }
    Ok(())
}

type Bound<'a> = (u128, u8, u8, i64, &'a str, &'a str);

fn range(q: &RollupQuery) -> (Bound<'static>, Bound<'static>) {
    let (t, w, d) = (id_key(q.tenant), q.width.code(), q.group.code());
    ((t, w, d, q.from, "", ""), (t, w, d, q.to, "", ""))
}

/// A group's bid rows in `[q.from, q.to)`.
pub(super) fn bid_rollups(txn: &ReadTransaction, q: &RollupQuery) -> Result<Vec<BidRollupRow>> {
    let table = txn
        .open_table(BID_ROLLUPS)
        .map_err(backend("open bid_rollups"))?;
    let (start, end) = range(q);
    let mut out = Vec::new();
    for e in table
        .range(start..end)
        .map_err(backend("read bid_rollups"))?
    {
        let (k, v) = e.map_err(backend("read bid_rollups"))?;
        let (_, _, _, bucket, key, currency) = k.value();
        out.push(BidRollupRow {
            bucket,
            key: key.to_owned(),
            currency: Currency::parse(currency)
                .map_err(|e| StoreError::Corrupt(format!("bid rollup currency: {e}")))?,
            figures: serde_json::from_slice(v.value())
                .map_err(|e| StoreError::Corrupt(format!("bid rollup: {e}")))?,
        });
    }
    Ok(out)
}

/// A group's visit rows in `[q.from, q.to)`.
pub(super) fn visit_rollups(txn: &ReadTransaction, q: &RollupQuery) -> Result<Vec<VisitRollupRow>> {
    let table = txn
        .open_table(VISIT_ROLLUPS)
        .map_err(backend("open visit_rollups"))?;
    let (start, end) = range(q);
    let mut out = Vec::new();
    for e in table
        .range(start..end)
        .map_err(backend("read visit_rollups"))?
    {
        let (k, v) = e.map_err(backend("read visit_rollups"))?;
        let (_, _, _, bucket, key, _) = k.value();
        out.push(VisitRollupRow {
            bucket,
            key: key.to_owned(),
            visits: v.value(),
        });
    }
    Ok(out)
}

/// What the rollups should hold, recounted from the bid and visit rows.
pub(super) struct Recount {
    bids: HashMap<(u128, Width, ActivityKey), BidFigures>,
    visits: HashMap<(u128, Width, ActivityKey), i64>,
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Recounts every bid and visit rollup from the rows they count.
pub(super) fn recount(txn: &ReadTransaction) -> Result<Recount> {
    let mut answers: HashMap<Id, Vec<BidResponseRecord>> = HashMap::new();
    let responses = txn
        .open_table(BID_RESPONSES)
        .map_err(backend("open bid_responses"))?;
    for e in responses.iter().map_err(backend("read bid_responses"))? {
        let r: BidResponseRecord = decode(
            e.map_err(backend("read bid_responses"))?.1.value(),
            "bid response",
        )?;
        answers.entry(r.request_id).or_default().push(r);
    }
    let mut bids: HashMap<(u128, Width, ActivityKey), BidFigures> = HashMap::new();
    let requests = txn
        .open_table(BID_REQUESTS)
        .map_err(backend("open bid_requests"))?;
    for e in requests.iter().map_err(backend("read bid_requests"))? {
        let r: BidRequestRecord = decode(
            e.map_err(backend("read bid_requests"))?.1.value(),
            "bid request",
        )?;
        let mine = answers.remove(&r.id).unwrap_or_default();
        for width in Width::ALL {
            for (k, f) in activity::bid_rows(&r, &mine, width) {
                bids.entry((id_key(r.tenant_id), width, k))
                    .or_default()
                    .add(&f);
            }
        }
    }
    let mut visits: HashMap<(u128, Width, ActivityKey), i64> = HashMap::new();
    let sessions = txn
        .open_table(SESSIONS)
        .map_err(backend("open visitor_sessions"))?;
    for e in sessions.iter().map_err(backend("read visitor_sessions"))? {
        let v: VisitorSession = decode(
            e.map_err(backend("read visitor_sessions"))?.1.value(),
            "visitor session",
        )?;
        for width in Width::ALL {
            for k in activity::visit_rows(&v, width) {
                *visits.entry((id_key(v.tenant_id), width, k)).or_default() += 1;
            }
        }
    }
    Ok(Recount { bids, visits })
}

fn decode_key(k: Bound<'_>) -> Result<(u128, Width, ActivityKey)> {
    let corrupt = || StoreError::Corrupt(format!("activity rollup key {k:?}"));
    let width = Width::ALL
        .into_iter()
        .find(|w| w.code() == k.1)
        .ok_or_else(corrupt)?;
    let dim = Dimension::of_code(k.2).ok_or_else(corrupt)?;
    let currency = Currency::parse(k.5).map_err(|_| corrupt())?;
    Ok((k.0, width, (dim, k.4.to_owned(), k.3, currency)))
}

/// Names each stored row that differs from the recount.
pub(super) fn compare(
    txn: &ReadTransaction,
    mut want: Recount,
    differ: &mut dyn FnMut(String),
) -> Result<()> {
    let table = txn
        .open_table(BID_ROLLUPS)
        .map_err(backend("open bid_rollups"))?;
    for e in table.iter().map_err(backend("read bid_rollups"))? {
        let (k, v) = e.map_err(backend("read bid_rollups"))?;
        let key = decode_key(k.value())?;
        let stored: BidFigures = decode(v.value(), "bid rollup")?;
        match want.bids.remove(&key) {
            Some(w) if w == stored => {}
            w => differ(format!(
                "bid rollup {key:?}: stored {stored:?}, recount {w:?}"
            )),
        }
    }
    for (key, w) in want.bids {
        differ(format!("bid rollup {key:?}: missing, recount {w:?}"));
    }
    let table = txn
        .open_table(VISIT_ROLLUPS)
        .map_err(backend("open visit_rollups"))?;
    for e in table.iter().map_err(backend("read visit_rollups"))? {
        let (k, v) = e.map_err(backend("read visit_rollups"))?;
        let key = decode_key(k.value())?;
        match want.visits.remove(&key) {
            Some(w) if w == v.value() => {}
            w => differ(format!(
                "visit rollup {key:?}: stored {}, recount {w:?}",
                v.value()
            )),
        }
    }
    for (key, w) in want.visits {
        differ(format!("visit rollup {key:?}: missing, recount {w}"));
    }
    Ok(())
}

/// Replaces every bid and visit rollup with the recount.
pub(super) fn replace(txn: &WriteTransaction, rows: Recount) -> Result<()> {
    txn.delete_table(BID_ROLLUPS)
        .map_err(backend("clear bid_rollups"))?;
    txn.delete_table(VISIT_ROLLUPS)
        .map_err(backend("clear visit_rollups"))?;
    let mut bids = txn
        .open_table(BID_ROLLUPS)
        .map_err(backend("open bid_rollups"))?;
    for ((tenant, width, k), f) in &rows.bids {
        add_bid(&mut bids, *tenant, *width, k, f)?;
    }
    let mut visits = txn
        .open_table(VISIT_ROLLUPS)
        .map_err(backend("open visit_rollups"))?;
    for ((tenant, width, k), n) in &rows.visits {
        add_visits(&mut visits, *tenant, *width, k, *n)?;
    }
    Ok(())
}
