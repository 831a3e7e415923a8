//! The pixel outbox in the embedded store: every delivery, an index of the
//! open ones by when they are due, one of each tenant's newest first, and
//! how often each pixel fired for each call.
//!
//! Deliveries are added in the transaction that moves the dispatcher's
//! event cursor past the events they were made for, so an event is turned
//! into its deliveries exactly once (a replay after a crash makes the same
//! ids, and an id already stored is left as it is). An attempt's outcome is
//! written without an fsync: one lost in a crash is attempted again, which
//! is the at-least-once the receivers are told to expect.

use std::collections::HashMap;
use std::ops::Bound;

use chrono::{DateTime, Utc};
use redb::{
    Database, Durability, ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};
use switchboard_model::{Delivery, Id};

use super::{
    backend, decode_cursor, encode_cursor, id_key, micros, read_txn, reports, write, write_with,
};
use crate::{DeliveryFilter, DeliveryPage, DueRoom, OutboxStats, Result, StoreError};

/// Delivery id → its JSON.
const DELIVERIES: TableDefinition<u128, &[u8]> = TableDefinition::new("pixel_deliveries");
/// (due µs, delivery id) of every open delivery → its host (so a scan
/// passes over a busy host's without reading them).
const DUE: TableDefinition<(i64, u128), &str> = TableDefinition::new("pixel_deliveries_due");
/// (tenant, created µs, delivery id).
const BY_TENANT: TableDefinition<(u128, i64, u128), ()> =
    TableDefinition::new("pixel_deliveries_by_tenant");
/// (pixel, call) → deliveries made.
const FIRES: TableDefinition<(u128, u128), u32> = TableDefinition::new("pixel_fires");

/// Most index entries one listing reads (a selective filter then ends its
/// page early, with a cursor).
const SCAN_LIMIT: usize = 10_000;
/// Most due entries one scan passes over.
const DUE_SCAN_LIMIT: usize = 50_000;

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(DELIVERIES)
        .map_err(backend("open pixel_deliveries"))?;
    txn.open_table(DUE)
        .map_err(backend("open pixel_deliveries_due"))?;
    txn.open_table(BY_TENANT)
        .map_err(backend("open pixel_deliveries_by_tenant"))?;
    txn.open_table(FIRES).map_err(backend("open pixel_fires"))?;
    Ok(())
}

fn encode(d: &Delivery) -> Result<Vec<u8>> {
    serde_json::to_vec(d).map_err(|e| StoreError::Backend(format!("encode delivery {}: {e}", d.id)))
}

fn decode(bytes: &[u8]) -> Result<Delivery> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("delivery: {e}")))
}

fn due_key(d: &Delivery) -> Option<(i64, u128)> {
    d.state.is_open().then(|| {
        (
            micros(d.next_attempt_at.unwrap_or(d.created_at)),
            id_key(d.id),
        )
    })
}

/// Adds the deliveries not stored yet, counts their fires, and moves the
/// event cursor `cursor` to `position`, in one durable commit.
pub(super) fn add(db: &Database, cursor: &str, position: u64, new: &[Delivery]) -> Result<()> {
    write(db, |txn| {
        let mut docs = txn
            .open_table(DELIVERIES)
            .map_err(backend("open pixel_deliveries"))?;
        let mut due = txn
            .open_table(DUE)
            .map_err(backend("open pixel_deliveries_due"))?;
        let mut by_tenant = txn
            .open_table(BY_TENANT)
            .map_err(backend("open pixel_deliveries_by_tenant"))?;
        let mut fires = txn.open_table(FIRES).map_err(backend("open pixel_fires"))?;
        let mut counted: HashMap<(u128, u128), u32> = HashMap::new();
        for d in new {
            if docs
                .get(id_key(d.id))
                .map_err(backend("read pixel_deliveries"))?
                .is_some()
            {
                continue;
            }
            docs.insert(id_key(d.id), encode(d)?.as_slice())
                .map_err(backend("write pixel_deliveries"))?;
            if let Some(k) = due_key(d) {
                due.insert(k, d.request.host())
                    .map_err(backend("write pixel_deliveries_due"))?;
            }
            by_tenant
                .insert(
                    (id_key(d.tenant_id), micros(d.created_at), id_key(d.id)),
                    (),
                )
                .map_err(backend("write pixel_deliveries_by_tenant"))?;
            *counted
                .entry((id_key(d.pixel_id), id_key(d.call_id)))
                .or_default() += 1;
        }
        for (key, n) in counted {
            let before = fires
                .get(key)
                .map_err(backend("read pixel_fires"))?
                .map_or(0, |g| g.value());
            fires
                .insert(key, before.saturating_add(n))
                .map_err(backend("write pixel_fires"))?;
        }
        drop((docs, due, by_tenant, fires));
        reports::set_cursor(txn, cursor, position)
    })
}

/// Replaces stored deliveries (their state after an attempt, or a resend),
/// moving them in the due index; durably only when `durable`. One no longer
/// stored is skipped.
pub(super) fn update(db: &Database, deliveries: &[Delivery], durable: bool) -> Result<()> {
    let durability = if durable {
        Durability::Immediate
    } else {
        Durability::None
    };
    write_with(db, durability, |txn| {
        let mut docs = txn
            .open_table(DELIVERIES)
            .map_err(backend("open pixel_deliveries"))?;
        let mut due = txn
            .open_table(DUE)
            .map_err(backend("open pixel_deliveries_due"))?;
        for d in deliveries {
            let old = match docs
                .get(id_key(d.id))
                .map_err(backend("read pixel_deliveries"))?
            {
                Some(g) => decode(g.value())?,
                None => continue,
            };
            if let Some(k) = due_key(&old) {
                due.remove(k)
                    .map_err(backend("write pixel_deliveries_due"))?;
            }
            if let Some(k) = due_key(d) {
                due.insert(k, d.request.host())
                    .map_err(backend("write pixel_deliveries_due"))?;
            }
            docs.insert(id_key(d.id), encode(d)?.as_slice())
                .map_err(backend("write pixel_deliveries"))?;
        }
        Ok(())
    })
}

fn load(txn: &ReadTransaction, id: u128) -> Result<Option<Delivery>> {
    let docs = txn
        .open_table(DELIVERIES)
        .map_err(backend("open pixel_deliveries"))?;
    match docs.get(id).map_err(backend("read pixel_deliveries"))? {
        Some(g) => decode(g.value()).map(Some),
        None => Ok(None),
    }
}

/// One delivery of `tenant`.
pub(super) fn get(db: &Database, tenant: Id, id: Id) -> Result<Option<Delivery>> {
    let txn = read_txn(db)?;
    Ok(load(&txn, id_key(id))?.filter(|d| d.tenant_id == tenant))
}

/// The open deliveries due at `now`, soonest first, at most `limit`, as
/// many as `room` leaves for each host (read from the index alone, so a
/// busy host's backlog costs no document reads).
pub(super) fn due(
    db: &Database,
    now: DateTime<Utc>,
    limit: usize,
    room: &DueRoom,
) -> Result<Vec<Delivery>> {
    let txn = read_txn(db)?;
    let index = txn
        .open_table(DUE)
        .map_err(backend("open pixel_deliveries_due"))?;
    let mut taken: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for e in index
        .range(..=(micros(now), u128::MAX))
        .map_err(backend("read pixel_deliveries_due"))?
        .take(DUE_SCAN_LIMIT)
    {
        if out.len() >= limit {
            break;
        }
        let (k, host) = e.map_err(backend("read pixel_deliveries_due"))?;
        let id = k.value().1;
        if room.in_flight.contains(&Id::from_u128(id)) {
            continue;
        }
        let host = host.value();
        let free = room.free.get(host).copied().unwrap_or(room.free_elsewhere);
        let used = taken.entry(host.to_owned()).or_default();
        if *used >= free {
            continue;
        }
        if let Some(d) = load(&txn, id)? {
            *used += 1;
            out.push(d);
        }
    }
    Ok(out)
}

/// How many deliveries `pixel` made for `call`.
pub(super) fn fires(db: &Database, pixel: Id, call: Id) -> Result<u32> {
    let txn = read_txn(db)?;
    let table = txn.open_table(FIRES).map_err(backend("open pixel_fires"))?;
    Ok(table
        .get((id_key(pixel), id_key(call)))
        .map_err(backend("read pixel_fires"))?
        .map_or(0, |g| g.value()))
}

/// A tenant's deliveries matching `filter`, newest first.
pub(super) fn list(
    db: &Database,
    tenant: Id,
    filter: &DeliveryFilter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<DeliveryPage> {
    let after = cursor.map(decode_cursor).transpose()?;
    let limit = limit.max(1);
    let txn = read_txn(db)?;
    let index = txn
        .open_table(BY_TENANT)
        .map_err(backend("open pixel_deliveries_by_tenant"))?;
    let t = id_key(tenant);
    let lo = Bound::Included((t, i64::MIN, u128::MIN));
    let hi = match after {
        Some((us, id)) => Bound::Excluded((t, us, id)),
        None => Bound::Included((t, i64::MAX, u128::MAX)),
    };
    let mut deliveries = Vec::new();
    let mut last = None;
    let mut more = false;
    for (scanned, e) in index
        .range((lo, hi))
        .map_err(backend("read pixel_deliveries_by_tenant"))?
        .rev()
        .enumerate()
    {
        if deliveries.len() >= limit || scanned >= SCAN_LIMIT {
            more = true;
            break;
        }
        let (k, _) = e.map_err(backend("read pixel_deliveries_by_tenant"))?;
        let (_, us, id) = k.value();
        last = Some((us, id));
        if let Some(d) = load(&txn, id)?
            && filter.pixel_id.is_none_or(|p| p == d.pixel_id)
            && filter.call_id.is_none_or(|c| c == d.call_id)
            && filter.state.is_none_or(|s| s == d.state)
        {
            deliveries.push(d);
        }
    }
    Ok(DeliveryPage {
        deliveries,
        next: more
            .then_some(last)
            .flatten()
            .map(|(us, id)| encode_cursor(us, id)),
    })
}

/// The open deliveries and when the longest waiting one was due.
pub(super) fn stats(db: &Database) -> Result<OutboxStats> {
    let txn = read_txn(db)?;
    let index = txn
        .open_table(DUE)
        .map_err(backend("open pixel_deliveries_due"))?;
    let open = index.len().map_err(backend("read pixel_deliveries_due"))?;
    let oldest = index
        .first()
        .map_err(backend("read pixel_deliveries_due"))?
        .map(|(k, _)| k.value().0);
    Ok(OutboxStats {
        open,
        oldest_due: oldest.and_then(DateTime::from_timestamp_micros),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::Duration;
    use switchboard_model::event::EventKind;
    use switchboard_model::pixel::{PixelMethod, PixelRequest};
    use switchboard_model::{DeliveryState, new_id};

    use super::*;
    use crate::{EmbeddedStore, Store};

    fn delivery(tenant: Id, pixel: Id, host: &str, due: DateTime<Utc>) -> Delivery {
        Delivery {
            id: new_id(),
            tenant_id: tenant,
            pixel_id: pixel,
            call_id: new_id(),
            event: EventKind::Converted,
            position: 1,
            state: DeliveryState::Pending,
            attempt: 0,
            request: PixelRequest {
                method: PixelMethod::Get,
                url: format!("https://{host}/pb"),
                headers: Vec::new(),
                body: String::new(),
            },
            response_status: None,
            response_body: None,
            error: None,
            duration_ms: None,
            next_attempt_at: Some(due),
            created_at: due,
            updated_at: due,
        }
    }

    #[tokio::test]
    async fn the_outbox_adds_once_moves_its_cursor_and_hands_out_what_is_due() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let (tenant, pixel) = (new_id(), new_id());
        let t0 = DateTime::UNIX_EPOCH + Duration::days(20_000);
        let a = delivery(tenant, pixel, "a.example", t0);
        let mut b = delivery(tenant, pixel, "b.example", t0 + Duration::seconds(1));
        b.call_id = a.call_id;
        let c = delivery(new_id(), pixel, "a.example", t0 + Duration::seconds(2));
        store
            .add_deliveries("pixels", 7, &[a.clone(), b.clone(), c.clone()])
            .await
            .unwrap();
        // A replay of the same events stores nothing twice, and counts no fire twice.
        let mut changed = a.clone();
        changed.state = DeliveryState::Delivered;
        store.add_deliveries("pixels", 7, &[changed]).await.unwrap();
        assert_eq!(store.event_cursor("pixels").await.unwrap(), 7);
        assert_eq!(store.pixel_fires(pixel, a.call_id).await.unwrap(), 2);
        assert_eq!(
            store.get_delivery(tenant, a.id).await.unwrap(),
            Some(a.clone())
        );
        assert_eq!(
            store.get_delivery(new_id(), a.id).await.unwrap(),
            None,
            "another tenant's"
        );

        let ids = |v: Vec<Delivery>| v.into_iter().map(|d| d.id).collect::<Vec<_>>();
        let now = t0 + Duration::seconds(5);
        let all = DueRoom::any();
        assert_eq!(
            ids(store.due_deliveries(now, 10, &all).await.unwrap()),
            [a.id, b.id, c.id]
        );
        assert_eq!(
            ids(store.due_deliveries(t0, 10, &all).await.unwrap()),
            [a.id]
        );
        let busy = DueRoom {
            in_flight: HashSet::from([b.id]),
            free: HashMap::from([("a.example".to_owned(), 0)]),
            free_elsewhere: 8,
        };
        assert_eq!(
            store.due_deliveries(now, 10, &busy).await.unwrap(),
            Vec::<Delivery>::new()
        );
        // At most the host's free slots: one of a.example's two, and b's.
        let one_each = DueRoom {
            free_elsewhere: 1,
            ..DueRoom::any()
        };
        assert_eq!(
            ids(store.due_deliveries(now, 10, &one_each).await.unwrap()),
            [a.id, b.id]
        );

        // An outcome moves it out of (or later in) the due index.
        let mut done = a.clone();
        (done.state, done.next_attempt_at, done.attempt) = (DeliveryState::Delivered, None, 1);
        let mut later = b.clone();
        (later.state, later.next_attempt_at) =
            (DeliveryState::Retrying, Some(now + Duration::seconds(60)));
        store
            .update_deliveries(&[done.clone(), later.clone()], false)
            .await
            .unwrap();
        assert_eq!(
            ids(store.due_deliveries(now, 10, &all).await.unwrap()),
            [c.id]
        );
        let stats = store.outbox_stats().await.unwrap();
        assert_eq!((stats.open, stats.oldest_due), (2, Some(c.created_at)));

        // The log: a tenant's, newest first, filtered, paged.
        let page = store
            .list_deliveries(tenant, &DeliveryFilter::default(), None, 1)
            .await
            .unwrap();
        assert_eq!(ids(page.deliveries), [b.id]);
        let rest = store
            .list_deliveries(tenant, &DeliveryFilter::default(), page.next.as_deref(), 10)
            .await
            .unwrap();
        assert_eq!((ids(rest.deliveries), rest.next), (vec![a.id], None));
        let delivered = DeliveryFilter {
            state: Some(DeliveryState::Delivered),
            ..DeliveryFilter::default()
        };
        let page = store
            .list_deliveries(tenant, &delivered, None, 10)
            .await
            .unwrap();
        assert_eq!(page.deliveries, [done]);
    }
}
