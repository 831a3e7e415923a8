//! How a `put_calls` batch becomes visible all at once (see the module docs
//! of `scylla`): the rows and index entries it writes, the buckets that list
//! them, which version of a row a reader sees, and the outcome of an LWT.
//! Nothing here talks to the cluster, so each rule is tested on its own.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};
use scylla::response::query_result::QueryResult;
use scylla::value::Row;
use switchboard_model::call::VisitorSession;
use switchboard_model::{AttemptOutcome, CallRecord, Id};
use uuid::Uuid;

use super::{CACHE_LIMIT, MAX_REREADS, ScyllaStore, backend};
use crate::{Result, StoreError};

pub(super) const MICROS_PER_DAY: i64 = 86_400_000_000;
const MILLIS_PER_HOUR: u128 = 3_600_000;

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn day_of(us: i64) -> i32 {
    // Days since the epoch fit an i32 for every representable time.
    us.div_euclid(MICROS_PER_DAY) as i32
}

/// The hour of a call id's time-ordered prefix (UUIDv7: its creation hour).
/// Monotonic in the id whatever its version, so scanning hours in order and
/// ids in order within an hour is id order.
pub(super) fn hour_of(id: Id) -> i32 {
    ((id.as_u128() >> 80) / MILLIS_PER_HOUR) as i32
}

fn counted(o: AttemptOutcome) -> bool {
    !o.is_unanswered()
}

/// A call's index entries, to delete the ones an upsert leaves stale.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum IndexKey {
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

/// A `calls` row as stored.
pub(super) type RawCall = (Option<String>, Option<Uuid>, Option<String>);

/// The version of a `calls` row a reader sees: its body if its batch is
/// committed (or it has none), else the version it replaced.
pub(super) fn visible(raw: RawCall, committed: impl FnOnce(Uuid) -> bool) -> Option<String> {
    let (body, batch, prev) = raw;
    match batch {
        None => body,
        Some(b) if committed(b) => body,
        Some(_) => prev,
    }
}

/// One read's view of which batches are committed (see the `scylla` module docs).
pub(super) struct View {
    started: Instant,
    /// A batch became known committed during this read: read again.
    pub(super) fresh: bool,
    rereads: u32,
}

impl View {
    pub(super) fn new() -> Self {
        Self {
            started: Instant::now(),
            fresh: false,
            rereads: 0,
        }
    }

    /// Whether to run the read again; resets the view if so.
    pub(super) fn again(&mut self) -> bool {
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

/// Each call of a batch once, in first-seen order, at its last version.
pub(super) fn latest_versions(calls: &[CallRecord]) -> Vec<&CallRecord> {
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

/// What one `put_calls` writes, worked out from the calls and the versions
/// they replace; no I/O, so it is tested on its own.
#[derive(Debug, Default)]
pub(super) struct CommitPlan {
    /// (id, record JSON, previous visible record JSON).
    pub(super) calls: Vec<(Id, String, Option<String>)>,
    /// Index entries to write.
    pub(super) index: Vec<(Id, IndexKey)>,
    /// Buckets that hold the entries.
    pub(super) buckets: HashSet<Bucket>,
    /// Changes of buyer totals (none zero).
    pub(super) deltas: HashMap<Id, i64>,
    /// Entries of the replaced versions that the new ones no longer have.
    pub(super) stale: Vec<(Id, IndexKey)>,
}

impl CommitPlan {
    pub(super) fn new(calls: &[&CallRecord], old: &HashMap<Id, CallRecord>) -> Result<Self> {
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

/// Each visitor session of a write once, the last one given for its key
/// (tag, day, session id) — what writing them in order leaves.
pub(super) fn last_per_session(sessions: &[VisitorSession]) -> Vec<&VisitorSession> {
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

impl ScyllaStore {
    /// Whether `batch` is committed, as of `view`.
    pub(super) fn known_committed(&self, batch: Uuid, view: &mut View) -> bool {
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

    pub(super) fn remember_committed(&self, batch: Uuid) {
        let mut cache = self.inner.committed.lock().expect("committed cache");
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.entry(batch).or_insert_with(Instant::now);
    }
}

/// Whether an LWT applied.
pub(super) fn lwt_applied(result: QueryResult) -> Result<bool> {
    let rows = result.into_rows_result().map_err(backend("lwt result"))?;
    let applied_at = rows.column_specs().get_by_name("[applied]").map(|(i, _)| i);
    let row: Row = rows.single_row().map_err(backend("lwt row"))?;
    applied_at
        .and_then(|i| row.columns.get(i).cloned().flatten())
        .and_then(|v| v.as_boolean())
        .ok_or_else(|| StoreError::Backend("scylla lwt result without [applied]".into()))
}

/// Whether a document's LWT applied, and the version it found (when it did not).
pub(super) fn doc_from_lwt(result: QueryResult) -> Result<(bool, Option<u64>)> {
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

#[cfg(test)]
mod tests {
    use super::*;
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
}
