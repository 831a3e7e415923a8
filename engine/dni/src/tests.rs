use std::collections::HashMap;

use chrono::TimeZone;
use proptest::prelude::*;

use super::*;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

fn settings(timeout: i64, delay: i64) -> Settings {
    Settings {
        session_timeout: Duration::seconds(timeout),
        closed_browser_delay: Duration::seconds(delay),
    }
}

fn table(numbers: &[u32]) -> LeaseTable<u32, &'static str, ()> {
    LeaseTable::new(numbers.iter().copied(), settings(60, 30))
}

fn lease(
    table: &mut LeaseTable<u32, &'static str, ()>,
    session: &'static str,
    at: i64,
) -> Option<(u32, LeaseKind)> {
    table
        .lease(session, t(at), || ())
        .map(|l| (*l.number, l.kind))
}

#[test]
fn sessions_get_distinct_numbers_and_keep_them() {
    let mut tb = table(&[1, 2, 3]);
    assert_eq!(lease(&mut tb, "a", 0), Some((1, LeaseKind::New)));
    assert_eq!(lease(&mut tb, "b", 1), Some((2, LeaseKind::New)));
    assert_eq!(lease(&mut tb, "a", 30), Some((1, LeaseKind::Renewed)));
    // Renewed at 30: still live at 80, past the first expiry (60).
    assert_eq!(lease(&mut tb, "a", 80), Some((1, LeaseKind::Renewed)));
    assert_eq!(tb.lease_of(&"a", t(100)), Some(&1));
}

#[test]
fn idle_leases_expire_and_the_oldest_release_is_reused_first() {
    let mut tb = table(&[1, 2, 3]);
    lease(&mut tb, "a", 0); // 1, expires 60
    lease(&mut tb, "b", 10); // 2, expires 70
    lease(&mut tb, "c", 20); // 3, expires 80
    assert_eq!(lease(&mut tb, "d", 59), None, "all three live at 59");
    // At 100 all expired: 1 was released first (60), so it is reused first.
    assert_eq!(lease(&mut tb, "d", 100), Some((1, LeaseKind::New)));
    assert_eq!(lease(&mut tb, "e", 100), Some((2, LeaseKind::New)));
    assert_eq!(tb.lease_of(&"a", t(100)), None);
}

#[test]
fn never_leased_numbers_go_before_released_ones() {
    let mut tb = table(&[1, 2]);
    lease(&mut tb, "a", 0);
    assert_eq!(
        lease(&mut tb, "b", 100),
        Some((2, LeaseKind::New)),
        "2 was never leased; 1 was released at 60"
    );
}

fn sticky(
    table: &mut LeaseTable<u32, &'static str, ()>,
    session: &'static str,
    at: i64,
    days: i64,
) -> Option<(u32, LeaseKind)> {
    let terms = Terms {
        timeout: Duration::seconds(60),
        sticky: Some(Duration::days(days)),
    };
    table
        .lease_with(session, t(at), terms, || ())
        .map(|l| (*l.number, l.kind))
}

#[test]
fn a_returning_session_gets_its_number_back_within_the_sticky_window() {
    let mut tb = table(&[1, 2, 3]);
    lease(&mut tb, "a", 0); // 1, released at 60
    lease(&mut tb, "b", 0); // 2, released at 60
    assert_eq!(sticky(&mut tb, "b", 200, 1), Some((2, LeaseKind::Resumed)));
    // "c" takes 1 (released longest ago), so "a" cannot have it back.
    assert_eq!(lease(&mut tb, "c", 200), Some((3, LeaseKind::New)));
    assert_eq!(lease(&mut tb, "d", 200), Some((1, LeaseKind::New)));
    assert_eq!(sticky(&mut tb, "a", 200, 1), None);

    let mut tb = table(&[1, 2]);
    lease(&mut tb, "a", 0); // 1, released at 60
    lease(&mut tb, "b", 100); // 2, released at 160
    assert_eq!(
        lease(&mut tb, "b", 300),
        Some((1, LeaseKind::New)),
        "not sticky: the LRU number"
    );
    assert_eq!(
        sticky(&mut tb, "a", 301, 1),
        Some((2, LeaseKind::New)),
        "its number was taken: another one"
    );
    let mut tb = table(&[1, 2]);
    lease(&mut tb, "a", 0);
    assert_eq!(
        sticky(&mut tb, "a", 86_459, 1),
        Some((1, LeaseKind::Resumed)),
        "a second inside the day"
    );
    let mut tb = table(&[1, 2]);
    lease(&mut tb, "a", 0);
    assert_eq!(
        sticky(&mut tb, "a", 86_460, 1),
        Some((2, LeaseKind::New)),
        "a day after release: a fresh number"
    );
}

#[test]
fn exhaustion_is_counted_and_never_double_leases() {
    let mut tb = table(&[1]);
    lease(&mut tb, "a", 0);
    assert_eq!(lease(&mut tb, "b", 1), None);
    assert_eq!(lease(&mut tb, "c", 2), None);
    let s = tb.stats(t(2));
    assert_eq!((s.size, s.leased, s.peak, s.exhausted), (1, 1, 1, 2));
    assert_eq!(tb.lease_of(&"b", t(2)), None);
}

#[test]
fn an_empty_pool_is_always_exhausted() {
    let mut tb = table(&[]);
    assert_eq!(lease(&mut tb, "a", 0), None);
    assert_eq!(tb.stats(t(0)).exhausted, 1);
}

#[test]
fn refresh_extends_only_a_live_lease() {
    let mut tb = table(&[1]);
    let minute = Duration::seconds(60);
    assert_eq!(tb.refresh(&"a", t(0), minute), None);
    lease(&mut tb, "a", 0);
    assert_eq!(tb.refresh(&"a", t(50), minute), Some(t(110)));
    assert_eq!(tb.lease_of(&"a", t(100)), Some(&1));
    assert_eq!(
        tb.refresh(&"a", t(110), minute),
        None,
        "expired exactly at 110"
    );
}

#[test]
fn calls_are_attributed_to_the_holder_then_the_last_holder_within_the_delay() {
    let mut tb = table(&[1, 2]);
    lease(&mut tb, "a", 0); // 1 until 60, delay 30
    assert_eq!(tb.holder_at(&1, t(10)).map(|h| h.session), Some("a"));
    assert_eq!(
        tb.holder_at(&1, t(75)).map(|h| h.session),
        Some("a"),
        "closed the page, called 15 s later"
    );
    assert_eq!(
        tb.holder_at(&1, t(90)).map(|h| h.session),
        None,
        "past the delay"
    );
    assert_eq!(tb.holder_at(&2, t(10)), None, "never leased");
    assert_eq!(tb.holder_at(&9, t(10)), None, "not a pool number");
    // Someone else takes 1: calls now go to them.
    lease(&mut tb, "b", 70);
    lease(&mut tb, "c", 70);
    let holder = |n| tb.holder_at(&n, t(71)).map(|h| h.session);
    assert_eq!((holder(1), holder(2)), (Some("c"), Some("b")));
}

#[test]
fn changing_the_numbers_keeps_the_leases_of_numbers_that_stay() {
    let mut tb = table(&[1, 2]);
    lease(&mut tb, "a", 0); // 1
    lease(&mut tb, "b", 0); // 2
    tb.set_numbers([2, 3]);
    assert_eq!(tb.lease_of(&"b", t(1)), Some(&2));
    assert_eq!(tb.lease_of(&"a", t(1)), None, "1 left the pool");
    assert_eq!(lease(&mut tb, "a", 1), Some((3, LeaseKind::New)));
    assert_eq!(tb.stats(t(1)).size, 2);
}

#[test]
fn the_value_is_set_once_per_lease_and_kept_on_renewal() {
    let mut tb: LeaseTable<u32, &str, u32> = LeaseTable::new([1], settings(60, 30));
    *tb.lease("a", t(0), || 7).unwrap().value += 1;
    let l = tb.lease("a", t(10), || 100).unwrap();
    assert_eq!((*l.value, l.kind), (8, LeaseKind::Renewed));
    assert_eq!(tb.holder_at(&1, t(10)).map(|h| h.value), Some(8));
}

// ---------------------------------------------------------------- properties

#[derive(Debug, Clone)]
enum Op {
    Lease(u8),
    Refresh(u8),
    Advance(i64),
    Expire,
    Stats,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..8).prop_map(Op::Lease),
        2 => (0u8..8).prop_map(Op::Refresh),
        3 => (0i64..90).prop_map(Op::Advance),
        1 => Just(Op::Expire),
        1 => Just(Op::Stats),
    ]
}

/// A slow, obviously correct model of the rules.
#[derive(Default)]
struct Model {
    /// session → (number, expires at) of live leases.
    live: HashMap<u8, (u32, i64)>,
    /// number → when it was last released (absent: never leased).
    released: HashMap<u32, i64>,
    /// number → the session that holds or last held it.
    last: HashMap<u32, u8>,
    peak: usize,
    exhausted: u64,
}

impl Model {
    fn expire(&mut self, now: i64) {
        let ended: Vec<u8> = self
            .live
            .iter()
            .filter(|(_, (_, exp))| *exp <= now)
            .map(|(s, _)| *s)
            .collect();
        for s in ended {
            let (n, exp) = self.live.remove(&s).unwrap();
            self.released.insert(n, exp);
        }
    }

    fn free(&self, numbers: &[u32]) -> Vec<u32> {
        numbers
            .iter()
            .copied()
            .filter(|n| !self.live.values().any(|(m, _)| m == n))
            .collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Against the model, under any interleaving: stickiness, exclusivity,
    /// resumption, LRU choice, exhaustion and the counters.
    #[test]
    fn the_table_follows_the_rules(
        size in 0usize..5,
        timeout in 1i64..120,
        stick in prop::option::of(1i64..200),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let terms = Terms { timeout: Duration::seconds(timeout), sticky: stick.map(Duration::seconds) };
        let numbers: Vec<u32> = (1..=size as u32).collect();
        let mut tb: LeaseTable<u32, u8, ()> = LeaseTable::new(numbers.clone(), settings(timeout, 30));
        let mut m = Model::default();
        let mut now = 0i64;
        for op in ops {
            m.expire(now);
            match op {
                Op::Advance(d) => now += d,
                Op::Expire => tb.expire(t(now)),
                Op::Stats => {
                    let s = tb.stats(t(now));
                    prop_assert_eq!((s.size, s.leased, s.peak, s.exhausted), (size, m.live.len(), m.peak, m.exhausted));
                }
                Op::Refresh(s) => {
                    let got = tb.refresh(&s, t(now), Duration::seconds(timeout));
                    match m.live.get_mut(&s) {
                        Some(l) => {
                            prop_assert_eq!(got, Some(t(now + timeout)));
                            l.1 = now + timeout;
                        }
                        None => prop_assert_eq!(got, None),
                    }
                }
                Op::Lease(s) => {
                    let got = tb.lease_with(s, t(now), terms, || ()).map(|l| (*l.number, l.kind, l.expires_at));
                    let free = m.free(&numbers);
                    let expected_kind;
                    let n = if let Some(&(n, _)) = m.live.get(&s) {
                        expected_kind = LeaseKind::Renewed;
                        n
                    } else if let Some(&n) = free.iter().find(|n| {
                        m.last.get(n) == Some(&s) && stick.is_some_and(|st| now < m.released[n] + st)
                    }) {
                        expected_kind = LeaseKind::Resumed;
                        n
                    } else if free.is_empty() {
                        m.exhausted += 1;
                        prop_assert_eq!(got, None, "every number is leased");
                        continue;
                    } else {
                        expected_kind = LeaseKind::New;
                        let (n, _, _) = got.expect("a free number exists");
                        let age = |n: &u32| m.released.get(n).copied().unwrap_or(i64::MIN);
                        prop_assert!(free.contains(&n), "{n} is leased to someone else");
                        prop_assert!(free.iter().all(|f| age(&n) <= age(f)), "{n} is not the least recently released");
                        n
                    };
                    prop_assert_eq!(got, Some((n, expected_kind, t(now + timeout))));
                    m.live.insert(s, (n, now + timeout));
                    m.last.insert(n, s);
                    m.peak = m.peak.max(m.live.len());
                }
            }
            // Exclusivity, read from the table itself: no number has two live sessions.
            let mut seen = HashMap::new();
            for s in 0u8..8 {
                if let Some(n) = tb.lease_of(&s, t(now)) {
                    prop_assert!(seen.insert(*n, s).is_none(), "{n} leased to two live sessions");
                    prop_assert_eq!(m.live.get(&s).map(|l| l.0), Some(*n));
                }
            }
        }
    }

    /// A call at any instant is attributed to at most one session, and to
    /// the one whose lease covers that instant when there is one.
    #[test]
    fn attribution_names_the_live_holder(ops in prop::collection::vec((0u8..6, 0i64..40), 1..60)) {
        let mut tb: LeaseTable<u32, u8, ()> = LeaseTable::new([1, 2, 3], settings(50, 30));
        let mut now = 0;
        for (s, d) in ops {
            now += d;
            tb.lease(s, t(now), || ());
            for n in [1, 2, 3] {
                let live = (0u8..6).find(|s| tb.lease_of(s, t(now)) == Some(&n));
                if let Some(live) = live {
                    prop_assert_eq!(tb.holder_at(&n, t(now)).map(|h| h.session), Some(live));
                }
            }
        }
    }
}
