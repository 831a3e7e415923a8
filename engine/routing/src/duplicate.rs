//! Repeat callers: which buyer took a caller's last call, within a window.
//!
//! One [`DuplicateWindow`] per campaign, owned by its campaign actor. Lookups
//! and records are O(1) / O(log n); [`DuplicateWindow::prune`] costs only the
//! entries it forgets, because entries are also indexed by time, so a large
//! window never stalls the actor with a full scan.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use switchboard_model::Id;

/// Remembers which buyer took each caller's last routed call, per campaign.
///
/// Callers are keyed by the exact string given (normalize to E.164 first).
/// A blank caller is never recorded or found: anonymous callers are not
/// duplicates of each other.
#[derive(Debug, Default)]
pub struct DuplicateWindow {
    /// Caller → (buyer, time) of their latest call.
    latest: HashMap<Arc<str>, (Id, DateTime<Utc>)>,
    /// The same entries ordered by time, oldest first, for pruning.
    by_time: BTreeSet<(DateTime<Utc>, Arc<str>)>,
}

impl DuplicateWindow {
    /// Remembers nobody.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `buyer` took a call from `caller` at `at`.
    ///
    /// A record older than the caller's latest (a late, out-of-order event) is ignored.
    pub fn record(&mut self, caller: &str, buyer: Id, at: DateTime<Utc>) {
        if caller.trim().is_empty() {
            return;
        }
        if let Some((key, (_, prev))) = self.latest.get_key_value(caller) {
            if *prev > at {
                return;
            }
            let key = Arc::clone(key);
            self.by_time.remove(&(*prev, Arc::clone(&key)));
            self.by_time.insert((at, Arc::clone(&key)));
            self.latest.insert(key, (buyer, at));
        } else {
            let key: Arc<str> = Arc::from(caller);
            self.by_time.insert((at, Arc::clone(&key)));
            self.latest.insert(key, (buyer, at));
        }
    }

    /// The buyer of the caller's latest call within `window` before `now`.
    ///
    /// "Within" is `now - window < at`: a call exactly `window` old is no
    /// longer a duplicate. A call recorded after `now` (clock skew) still
    /// counts. A zero or negative window finds nothing (the feature is off).
    pub fn lookup(&self, caller: &str, now: DateTime<Utc>, window: chrono::Duration) -> Option<Id> {
        if window <= chrono::Duration::zero() {
            return None;
        }
        let &(buyer, at) = self.latest.get(caller)?;
        (now.signed_duration_since(at) < window).then_some(buyer)
    }

    /// Forgets entries older than `window` (bounded memory).
    ///
    /// Forgets exactly the entries [`lookup`](Self::lookup) would no longer
    /// find; a zero or negative window forgets everything up to `now`.
    pub fn prune(&mut self, now: DateTime<Utc>, window: chrono::Duration) {
        let window = window.max(chrono::Duration::zero());
        // A window reaching before the earliest representable time keeps everything.
        let Some(cutoff) = now.checked_sub_signed(window) else {
            return;
        };
        while self.by_time.first().is_some_and(|(at, _)| *at <= cutoff) {
            if let Some((at, caller)) = self.by_time.pop_first()
                && self
                    .latest
                    .get(&caller)
                    .is_some_and(|(_, latest)| *latest == at)
            {
                self.latest.remove(&caller);
            }
        }
    }

    /// Callers remembered.
    pub fn len(&self) -> usize {
        self.latest.len()
    }

    /// Whether no caller is remembered.
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn t(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 8, 12, 0, 0)
            .single()
            .expect("valid")
            + Duration::minutes(minutes)
    }

    fn buyer(n: u128) -> Id {
        Id::from_u128(n)
    }

    #[test]
    fn finds_the_latest_buyer_inside_the_window() {
        let mut w = DuplicateWindow::new();
        let day = Duration::hours(24);
        w.record("+15550001000", buyer(1), t(0));
        assert_eq!(w.lookup("+15550001000", t(60), day), Some(buyer(1)));
        w.record("+15550001000", buyer(2), t(120));
        assert_eq!(w.lookup("+15550001000", t(130), day), Some(buyer(2)));
        assert_eq!(
            w.lookup("+15550009999", t(130), day),
            None,
            "another caller"
        );
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn window_edge_is_exclusive() {
        let mut w = DuplicateWindow::new();
        w.record("+15550001000", buyer(1), t(0));
        assert_eq!(
            w.lookup("+15550001000", t(59), Duration::hours(1)),
            Some(buyer(1))
        );
        assert_eq!(w.lookup("+15550001000", t(60), Duration::hours(1)), None);
        assert_eq!(
            w.lookup("+15550001000", t(1), Duration::zero()),
            None,
            "window 0 is off"
        );
        assert_eq!(
            w.lookup("+15550001000", t(-5), Duration::hours(1)),
            Some(buyer(1)),
            "clock skew"
        );
    }

    #[test]
    fn out_of_order_record_does_not_replace_a_newer_one() {
        let mut w = DuplicateWindow::new();
        w.record("+15550001000", buyer(2), t(10));
        w.record("+15550001000", buyer(1), t(5));
        assert_eq!(
            w.lookup("+15550001000", t(11), Duration::hours(1)),
            Some(buyer(2))
        );
        w.prune(t(69), Duration::hours(1));
        assert_eq!(w.len(), 1, "t(10) is 59 minutes old");
        w.prune(t(70), Duration::hours(1));
        assert!(w.is_empty());
    }

    #[test]
    fn blank_callers_are_not_duplicates() {
        let mut w = DuplicateWindow::new();
        w.record("", buyer(1), t(0));
        w.record("  ", buyer(1), t(0));
        assert!(w.is_empty());
        assert_eq!(w.lookup("", t(1), Duration::hours(1)), None);
    }

    #[test]
    fn prune_forgets_old_callers_and_keeps_refreshed_ones() {
        let mut w = DuplicateWindow::new();
        w.record("+15550000001", buyer(1), t(0));
        w.record("+15550000002", buyer(2), t(30));
        w.record("+15550000001", buyer(3), t(50));
        w.prune(t(85), Duration::hours(1));
        assert_eq!(w.len(), 2, "t(30) is 55 minutes old");
        w.prune(t(95), Duration::hours(1));
        assert_eq!(w.len(), 1);
        assert_eq!(
            w.lookup("+15550000001", t(95), Duration::hours(1)),
            Some(buyer(3)),
            "refreshed at t(50)"
        );
        assert_eq!(
            w.lookup("+15550000002", t(95), Duration::hours(2)),
            None,
            "forgotten"
        );
        // Huge windows do not overflow.
        w.prune(t(95), Duration::MAX);
        assert_eq!(w.len(), 1);
        w.prune(t(95), Duration::MIN);
        assert!(w.is_empty());
    }

    proptest! {
        /// Against a brute-force model: lookup is the latest record within the
        /// window, and pruning forgets exactly what lookup no longer finds.
        #[test]
        fn matches_a_brute_force_model(
            ops in proptest::collection::vec((0u8..4, 0u128..3, 0i64..300), 1..80),
            window_min in 1i64..120,
        ) {
            let window = Duration::minutes(window_min);
            let mut w = DuplicateWindow::new();
            let mut log: Vec<(String, Id, DateTime<Utc>)> = Vec::new();
            let mut now = t(0);
            for (caller, b, minutes) in ops {
                let caller = format!("+1555000000{caller}");
                now += Duration::minutes(minutes % 7);
                let at = t(minutes);
                w.record(&caller, buyer(b), at);
                log.push((caller, buyer(b), at));
                if minutes % 5 == 0 {
                    w.prune(now, window);
                }
                for c in 0..4u8 {
                    let c = format!("+1555000000{c}");
                    // Latest record per caller (ties: the later record wins), then the window.
                    let latest = log.iter().filter(|(x, _, _)| *x == c)
                        .fold(None::<(Id, DateTime<Utc>)>, |acc, (_, b, at)| match acc {
                            Some((_, prev)) if prev > *at => acc,
                            _ => Some((*b, *at)),
                        });
                    let expected = latest.filter(|(_, at)| now - *at < window).map(|(b, _)| b);
                    prop_assert_eq!(w.lookup(&c, now, window), expected, "caller {}", c);
                }
            }
            w.prune(now, window);
            let live = log.iter().map(|(c, _, _)| c).collect::<std::collections::HashSet<_>>()
                .into_iter().filter(|c| w.lookup(c, now, window).is_some()).count();
            prop_assert_eq!(w.len(), live);
        }
    }
}
