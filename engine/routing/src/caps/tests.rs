//! Cap counters: local periods, DST, refunds, expiry, rebuild; and two
//! properties against a brute-force model of the rules.

use super::*;
use chrono::{Duration, TimeZone};
use chrono_tz::America::New_York;
use chrono_tz::Asia::Kolkata;
use chrono_tz::Pacific::Auckland;
use proptest::prelude::*;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("valid test time")
}

fn key(n: u128) -> ReservationKey {
    (Id::from_u128(n), 0)
}

fn ttl(now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::hours(2)
}

/// Reserves `n` under `limits` at `now` and hangs up answered, so only the period counts remain.
fn take_answered(
    c: &mut CapCounters,
    limits: &Caps,
    tz: Tz,
    now: DateTime<Utc>,
    n: u128,
) -> Result<(), Refusal> {
    c.try_reserve(limits, tz, now, key(n), ttl(now))?;
    assert!(c.release(key(n), true));
    Ok(())
}

#[test]
fn checks_in_order_concurrency_hourly_daily_monthly_total() {
    let now = utc(2024, 1, 8, 17, 0);
    let mut c = CapCounters::new();
    assert_eq!(
        c.try_reserve(&Caps::default(), New_York, now, key(1), ttl(now)),
        Ok(())
    );
    // Every limit is reached; the first in the documented order is reported.
    let mut limits = Caps {
        concurrency_limit: Some(1),
        hourly_cap: Some(1),
        daily_cap: Some(1),
        monthly_cap: Some(1),
        total_cap: Some(1),
    };
    let order = [
        Refusal::Concurrency,
        Refusal::Hourly,
        Refusal::Daily,
        Refusal::Monthly,
        Refusal::Total,
    ];
    for expected in order {
        assert_eq!(
            c.try_reserve(&limits, New_York, now, key(2), ttl(now)),
            Err(expected)
        );
        match expected {
            Refusal::Concurrency => limits.concurrency_limit = None,
            Refusal::Hourly => limits.hourly_cap = None,
            Refusal::Daily => limits.daily_cap = None,
            Refusal::Monthly => limits.monthly_cap = None,
            _ => limits.total_cap = None,
        }
    }
    assert_eq!(
        c.try_reserve(&limits, New_York, now, key(2), ttl(now)),
        Ok(())
    );
    assert_eq!(
        c.snapshot(New_York, now),
        CapSnapshot {
            active: 2,
            hour: 2,
            day: 2,
            month: 2,
            total: 2
        }
    );
}

#[test]
fn reserve_is_idempotent_per_key() {
    let now = utc(2024, 1, 8, 17, 0);
    let limits = Caps {
        concurrency_limit: Some(1),
        hourly_cap: Some(1),
        ..Caps::default()
    };
    let mut c = CapCounters::new();
    assert_eq!(
        c.try_reserve(&limits, New_York, now, key(1), ttl(now)),
        Ok(())
    );
    assert_eq!(
        c.try_reserve(&limits, New_York, now, key(1), ttl(now)),
        Ok(()),
        "retry of a held key"
    );
    assert_eq!(
        c.snapshot(New_York, now),
        CapSnapshot {
            active: 1,
            hour: 1,
            day: 1,
            month: 1,
            total: 1
        }
    );
    // Same call, next attempt: a different key.
    let next = (key(1).0, 1);
    assert_eq!(
        c.try_reserve(&limits, New_York, now, next, ttl(now)),
        Err(Refusal::Concurrency)
    );
}

#[test]
fn unanswered_release_refunds_and_frees_the_slot() {
    let now = utc(2024, 1, 8, 17, 0);
    let limits = Caps {
        concurrency_limit: Some(1),
        hourly_cap: Some(1),
        total_cap: Some(1),
        ..Caps::default()
    };
    let mut c = CapCounters::new();
    assert_eq!(
        c.try_reserve(&limits, New_York, now, key(1), ttl(now)),
        Ok(())
    );
    assert!(c.release(key(1), false));
    assert_eq!(c.snapshot(New_York, now), CapSnapshot::default());
    assert!(!c.release(key(1), false), "second release is a no-op");
    assert_eq!(c.snapshot(New_York, now).total, 0, "no double refund");
    assert_eq!(
        c.try_reserve(&limits, New_York, now, key(2), ttl(now)),
        Ok(())
    );
}

#[test]
fn answered_release_frees_the_slot_but_keeps_counts() {
    let now = utc(2024, 1, 8, 17, 0);
    let limits = Caps {
        concurrency_limit: Some(1),
        hourly_cap: Some(2),
        ..Caps::default()
    };
    let mut c = CapCounters::new();
    assert_eq!(take_answered(&mut c, &limits, New_York, now, 1), Ok(()));
    assert_eq!(
        c.snapshot(New_York, now),
        CapSnapshot {
            active: 0,
            hour: 1,
            day: 1,
            month: 1,
            total: 1
        }
    );
    assert!(
        !c.release(key(1), false),
        "a late unanswered release after answered changes nothing"
    );
    assert_eq!(c.snapshot(New_York, now).total, 1);
    assert_eq!(take_answered(&mut c, &limits, New_York, now, 2), Ok(()));
    assert_eq!(
        take_answered(&mut c, &limits, New_York, now, 3),
        Err(Refusal::Hourly)
    );
}

#[test]
fn refund_after_the_period_ended_leaves_the_new_period_alone() {
    // Reserved at 23:50 on Jan 31 New York, hung up unanswered at 00:10 on Feb 1.
    let before = utc(2024, 2, 1, 4, 50);
    let after = utc(2024, 2, 1, 5, 10);
    let mut c = CapCounters::new();
    let open = Caps::default();
    assert_eq!(
        c.try_reserve(&open, New_York, before, key(1), ttl(before)),
        Ok(())
    );
    assert_eq!(take_answered(&mut c, &open, New_York, after, 2), Ok(()));
    assert!(c.release(key(1), false));
    // Feb 1's call is still counted; only the total got the refund.
    assert_eq!(
        c.snapshot(New_York, after),
        CapSnapshot {
            active: 0,
            hour: 1,
            day: 1,
            month: 1,
            total: 1
        }
    );
}

#[test]
fn expire_releases_lapsed_reservations_keeping_counts() {
    let now = utc(2024, 1, 8, 17, 0);
    let mut c = CapCounters::new();
    let open = Caps::default();
    assert_eq!(
        c.try_reserve(&open, New_York, now, key(1), now + Duration::minutes(30)),
        Ok(())
    );
    assert_eq!(
        c.try_reserve(&open, New_York, now, key(2), now + Duration::minutes(10)),
        Ok(())
    );
    assert_eq!(
        c.try_reserve(&open, New_York, now, key(3), now + Duration::minutes(60)),
        Ok(())
    );
    assert!(c.expire(now + Duration::minutes(9)).is_empty());
    assert_eq!(
        c.expire(now + Duration::minutes(30)),
        vec![key(2), key(1)],
        "expiry order, boundary included"
    );
    assert_eq!(c.active(), 1);
    assert!(
        !c.release(key(1), false),
        "an expired reservation cannot be refunded later"
    );
    assert_eq!(c.snapshot(New_York, now + Duration::minutes(30)).total, 3);
    assert_eq!(
        c.reservations().collect::<Vec<_>>(),
        vec![(key(3), now + Duration::minutes(60))]
    );
}

#[test]
fn hour_resets_on_the_local_hour() {
    let limits = Caps {
        hourly_cap: Some(1),
        ..Caps::default()
    };
    let mut c = CapCounters::new();
    // 12:59 New York, then 13:00.
    assert_eq!(
        take_answered(&mut c, &limits, New_York, utc(2024, 1, 8, 17, 59), 1),
        Ok(())
    );
    assert_eq!(
        take_answered(&mut c, &limits, New_York, utc(2024, 1, 8, 17, 59), 2),
        Err(Refusal::Hourly)
    );
    assert_eq!(
        take_answered(&mut c, &limits, New_York, utc(2024, 1, 8, 18, 0), 3),
        Ok(())
    );
}

#[test]
fn hour_follows_half_hour_offsets() {
    // Kolkata is UTC+5:30: its clock hours start at :30 UTC, so a UTC-hour bucket would be wrong.
    let limits = Caps {
        hourly_cap: Some(1),
        ..Caps::default()
    };
    let mut c = CapCounters::new();
    assert_eq!(
        take_answered(&mut c, &limits, Kolkata, utc(2024, 1, 8, 6, 0), 1),
        Ok(()),
        "11:30 IST"
    );
    assert_eq!(
        take_answered(&mut c, &limits, Kolkata, utc(2024, 1, 8, 6, 29), 2),
        Err(Refusal::Hourly),
        "11:59 IST"
    );
    assert_eq!(
        take_answered(&mut c, &limits, Kolkata, utc(2024, 1, 8, 6, 30), 3),
        Ok(()),
        "12:00 IST"
    );
}

#[test]
fn fall_back_repeated_hour_is_one_bucket() {
    // 2024-11-03: 01:30 EDT (05:30 UTC) and 01:30 EST (06:30 UTC) are the same local clock hour.
    let limits = Caps {
        hourly_cap: Some(1),
        ..Caps::default()
    };
    let mut c = CapCounters::new();
    assert_eq!(
        take_answered(&mut c, &limits, New_York, utc(2024, 11, 3, 5, 30), 1),
        Ok(())
    );
    assert_eq!(
        take_answered(&mut c, &limits, New_York, utc(2024, 11, 3, 6, 30), 2),
        Err(Refusal::Hourly)
    );
    assert_eq!(
        c.snapshot(New_York, utc(2024, 11, 3, 6, 59)).hour,
        1,
        "01:59 EST"
    );
    assert_eq!(
        c.snapshot(New_York, utc(2024, 11, 3, 7, 0)).hour,
        0,
        "02:00 EST"
    );
    assert_eq!(
        take_answered(&mut c, &limits, New_York, utc(2024, 11, 3, 7, 0), 3),
        Ok(())
    );
}

#[test]
fn spring_forward_skips_to_a_new_hour() {
    // 2024-03-10: 01:59 EST (06:59 UTC) is followed by 03:00 EDT (07:00 UTC).
    let limits = Caps {
        hourly_cap: Some(1),
        daily_cap: Some(2),
        ..Caps::default()
    };
    let mut c = CapCounters::new();
    assert_eq!(
        take_answered(&mut c, &limits, New_York, utc(2024, 3, 10, 6, 59), 1),
        Ok(())
    );
    assert_eq!(
        take_answered(&mut c, &limits, New_York, utc(2024, 3, 10, 7, 0), 2),
        Ok(())
    );
    assert_eq!(
        take_answered(&mut c, &limits, New_York, utc(2024, 3, 10, 8, 0), 3),
        Err(Refusal::Daily),
        "same local day"
    );
}

#[test]
fn day_and_month_roll_over_at_local_midnight_not_utc() {
    // 23:30 on Jan 31 and 00:30 on Feb 1 in New York are both Feb 1 in UTC.
    let late = utc(2024, 2, 1, 4, 30);
    let early = utc(2024, 2, 1, 5, 30);
    let daily = Caps {
        daily_cap: Some(1),
        ..Caps::default()
    };
    let mut c = CapCounters::new();
    assert_eq!(take_answered(&mut c, &daily, New_York, late, 1), Ok(()));
    assert_eq!(
        take_answered(&mut c, &daily, New_York, early, 2),
        Ok(()),
        "a new local day"
    );
    assert_eq!(
        take_answered(&mut c, &daily, New_York, early, 3),
        Err(Refusal::Daily)
    );

    let monthly = Caps {
        monthly_cap: Some(1),
        ..Caps::default()
    };
    let mut c = CapCounters::new();
    assert_eq!(take_answered(&mut c, &monthly, New_York, late, 1), Ok(()));
    assert_eq!(
        take_answered(&mut c, &monthly, New_York, early, 2),
        Ok(()),
        "a new local month"
    );
    assert_eq!(
        take_answered(&mut c, &monthly, New_York, early, 3),
        Err(Refusal::Monthly)
    );
    // A buyer in UTC has both calls in February: the zone decides.
    let mut c = CapCounters::new();
    assert_eq!(
        take_answered(&mut c, &monthly, chrono_tz::UTC, late, 1),
        Ok(())
    );
    assert_eq!(
        take_answered(&mut c, &monthly, chrono_tz::UTC, early, 2),
        Err(Refusal::Monthly)
    );
}

#[test]
fn auckland_day_starts_while_utc_is_still_yesterday() {
    // 2024-01-31 10:59 UTC = Jan 31 23:59 NZDT; 11:00 UTC = Feb 1 00:00 NZDT.
    let limits = Caps {
        daily_cap: Some(1),
        monthly_cap: Some(1),
        ..Caps::default()
    };
    let mut c = CapCounters::new();
    assert_eq!(
        take_answered(&mut c, &limits, Auckland, utc(2024, 1, 31, 10, 59), 1),
        Ok(())
    );
    assert_eq!(
        take_answered(&mut c, &limits, Auckland, utc(2024, 1, 31, 11, 0), 2),
        Ok(())
    );
    assert_eq!(
        take_answered(&mut c, &limits, Auckland, utc(2024, 1, 31, 23, 0), 3),
        Err(Refusal::Daily)
    );
}

#[test]
fn total_never_resets() {
    let limits = Caps {
        total_cap: Some(2),
        ..Caps::default()
    };
    let mut c = CapCounters::new();
    assert_eq!(
        take_answered(&mut c, &limits, New_York, utc(2024, 1, 8, 17, 0), 1),
        Ok(())
    );
    assert_eq!(
        take_answered(&mut c, &limits, New_York, utc(2024, 6, 8, 17, 0), 2),
        Ok(())
    );
    assert_eq!(
        take_answered(&mut c, &limits, New_York, utc(2025, 6, 8, 17, 0), 3),
        Err(Refusal::Total)
    );
}

#[test]
fn clock_stepping_back_does_not_forget_calls() {
    let limits = Caps {
        hourly_cap: Some(1),
        ..Caps::default()
    };
    let mut c = CapCounters::new();
    assert_eq!(
        take_answered(&mut c, &limits, New_York, utc(2024, 1, 8, 18, 0), 1),
        Ok(())
    );
    // The clock steps back a minute, into the previous hour.
    assert_eq!(
        take_answered(&mut c, &limits, New_York, utc(2024, 1, 8, 17, 59), 2),
        Err(Refusal::Hourly)
    );
}

#[test]
fn zero_limits_refuse_without_panicking() {
    let now = utc(2024, 1, 8, 17, 0);
    let mut c = CapCounters::new();
    let zero = Caps {
        concurrency_limit: Some(0),
        ..Caps::default()
    };
    assert_eq!(
        c.try_reserve(&zero, New_York, now, key(1), ttl(now)),
        Err(Refusal::Concurrency)
    );
    let zero = Caps {
        total_cap: Some(0),
        ..Caps::default()
    };
    assert_eq!(
        c.try_reserve(&zero, New_York, now, key(1), ttl(now)),
        Err(Refusal::Total)
    );
}

fn past(n: u128, started_at: DateTime<Utc>, unanswered: bool, released: bool) -> PastAttempt {
    PastAttempt {
        key: key(n),
        started_at,
        unanswered,
        released,
    }
}

#[test]
fn rebuild_counts_current_periods_and_holds_live_calls() {
    // Now: Mon 2024-01-08 12:30 New York.
    let now = utc(2024, 1, 8, 17, 30);
    let max_call = Duration::hours(1);
    let attempts = [
        past(1, utc(2023, 12, 31, 17, 0), false, true), // December: total only
        past(2, utc(2024, 1, 2, 17, 0), false, true),   // this month
        past(3, utc(2024, 1, 8, 4, 59), false, true),   // 23:59 Jan 7 local: yesterday
        past(4, utc(2024, 1, 8, 5, 0), false, true),    // 00:00 Jan 8 local: today
        past(5, utc(2024, 1, 8, 17, 0), false, false),  // this hour, still on the line
        past(6, utc(2024, 1, 8, 17, 10), true, true),   // busy: counts nothing
        past(7, utc(2024, 1, 8, 17, 20), true, false),  // no answer, release lost: over anyway
        past(8, utc(2024, 1, 8, 16, 20), false, false), // started 70 min ago: past max_call
        past(9, utc(2024, 1, 8, 16, 45), false, false), // started 45 min ago: held
    ];
    let c = CapCounters::rebuild(New_York, now, attempts, 40, max_call);
    assert_eq!(
        c.snapshot(New_York, now),
        CapSnapshot {
            active: 2,
            hour: 1,
            day: 4,
            month: 6,
            total: 40
        }
    );
    assert_eq!(
        c.reservations().collect::<Vec<_>>(),
        vec![
            (key(5), utc(2024, 1, 8, 18, 0)),
            (key(9), utc(2024, 1, 8, 17, 45))
        ]
    );
}

#[test]
fn rebuilt_reservation_refunds_like_a_live_one() {
    let now = utc(2024, 1, 8, 17, 30);
    let mut c = CapCounters::rebuild(
        New_York,
        now,
        [past(1, utc(2024, 1, 8, 17, 5), false, false)],
        1,
        Duration::hours(1),
    );
    assert!(c.release(key(1), false));
    assert_eq!(c.snapshot(New_York, now), CapSnapshot::default());
}

#[test]
fn rebuild_merges_a_key_listed_twice() {
    let now = utc(2024, 1, 8, 17, 30);
    let t = utc(2024, 1, 8, 17, 5);
    let c = CapCounters::rebuild(
        New_York,
        now,
        [
            past(1, t, false, false),
            past(1, t, false, false),
            past(2, t, false, false),
            past(2, t, true, true),
        ],
        1,
        Duration::hours(1),
    );
    assert_eq!(
        c.snapshot(New_York, now),
        CapSnapshot {
            active: 1,
            hour: 1,
            day: 1,
            month: 1,
            total: 1
        }
    );
}

#[test]
fn rebuild_with_extreme_max_call_does_not_panic() {
    let now = utc(2024, 1, 8, 17, 30);
    let a = [past(1, utc(2024, 1, 8, 17, 5), false, false)];
    assert_eq!(
        CapCounters::rebuild(New_York, now, a, 1, Duration::MAX).active(),
        1
    );
    assert_eq!(
        CapCounters::rebuild(New_York, now, a, 1, Duration::MIN).active(),
        0
    );
    assert_eq!(
        CapCounters::rebuild(New_York, now, a, 1, Duration::zero()).active(),
        0
    );
}

// ---- properties -------------------------------------------------------------

/// Instants near the interesting edges, and zones far apart.
const STARTS: [(i32, u32, u32, u32); 5] = [
    (2024, 11, 3, 4), // New York fall-back night
    (2024, 3, 10, 5), // New York spring-forward night
    (2024, 2, 1, 3),  // Jan 31 22:00 New York, month end
    (2024, 1, 31, 9), // Jan 31 22:00 Auckland, month end
    (2024, 4, 6, 12), // Auckland leaves DST on Apr 7 03:00 NZDT (Apr 6 14:00 UTC)
];
const ZONES: [Tz; 4] = [New_York, Auckland, Kolkata, chrono_tz::UTC];

#[derive(Debug, Clone)]
enum Op {
    /// Reserve key `n` (a small pool, so retries and reuse happen) with a TTL in minutes.
    Reserve(u8, i64),
    Release(u8, bool),
    Expire,
    Advance(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..8, 1i64..120).prop_map(|(n, ttl)| Op::Reserve(n, ttl)),
        3 => (0u8..8, any::<bool>()).prop_map(|(n, a)| Op::Release(n, a)),
        1 => Just(Op::Expire),
        2 => (0i64..90).prop_map(Op::Advance),
    ]
}

fn limit() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![1 => Just(None), 3 => (1u32..5).prop_map(Some)]
}

fn limits() -> impl Strategy<Value = Caps> {
    (limit(), limit(), limit(), limit(), limit()).prop_map(
        |(concurrency_limit, hourly_cap, daily_cap, monthly_cap, total_cap)| Caps {
            concurrency_limit,
            hourly_cap,
            daily_cap,
            monthly_cap,
            total_cap,
        },
    )
}

fn pkey(n: u8) -> ReservationKey {
    (Id::from_u128(u128::from(n) / 2), u16::from(n % 2))
}

/// One attempt as the model remembers it.
struct ModelAttempt {
    key: ReservationKey,
    started: DateTime<Utc>,
    expires: DateTime<Utc>,
    held: bool,
    /// Released unanswered: counts nothing, in any period.
    refunded: bool,
}

/// The rules, spelled out by brute force over every attempt ever made.
#[derive(Default)]
struct Model {
    attempts: Vec<ModelAttempt>,
}

impl Model {
    /// Local period labels, computed by formatting rather than by the code under test.
    fn labels(tz: Tz, t: DateTime<Utc>) -> [String; 3] {
        let l = t.with_timezone(&tz);
        [
            l.format("%Y-%m-%d %H").to_string(),
            l.format("%Y-%m-%d").to_string(),
            l.format("%Y-%m").to_string(),
        ]
    }

    fn snapshot(&self, tz: Tz, now: DateTime<Utc>) -> CapSnapshot {
        let current = Self::labels(tz, now);
        let counted: Vec<_> = self.attempts.iter().filter(|a| !a.refunded).collect();
        let in_period = |i: usize| {
            counted
                .iter()
                .filter(|a| Self::labels(tz, a.started)[i] == current[i])
                .count() as u32
        };
        CapSnapshot {
            active: self.attempts.iter().filter(|a| a.held).count() as u32,
            hour: in_period(0),
            day: in_period(1),
            month: in_period(2),
            total: counted.len() as u64,
        }
    }

    fn held(&mut self, k: ReservationKey) -> Option<&mut ModelAttempt> {
        self.attempts.iter_mut().find(|a| a.key == k && a.held)
    }

    fn reserve(
        &mut self,
        l: &Caps,
        tz: Tz,
        now: DateTime<Utc>,
        k: ReservationKey,
        exp: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        if self.held(k).is_some() {
            return Ok(());
        }
        let s = self.snapshot(tz, now);
        let over = |lim: Option<u32>, used: u64| lim.is_some_and(|x| used >= u64::from(x));
        if over(l.concurrency_limit, s.active.into()) {
            return Err(Refusal::Concurrency);
        }
        if over(l.hourly_cap, s.hour.into()) {
            return Err(Refusal::Hourly);
        }
        if over(l.daily_cap, s.day.into()) {
            return Err(Refusal::Daily);
        }
        if over(l.monthly_cap, s.month.into()) {
            return Err(Refusal::Monthly);
        }
        if over(l.total_cap, s.total) {
            return Err(Refusal::Total);
        }
        self.attempts.push(ModelAttempt {
            key: k,
            started: now,
            expires: exp,
            held: true,
            refunded: false,
        });
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Live counters against the brute-force model: every decision and every
    /// snapshot agree, caps and concurrency are never exceeded, and an
    /// unanswered release in the same period frees a slot a full buyer can use.
    #[test]
    fn counters_follow_the_rules(
        limits in limits(),
        start in 0usize..STARTS.len(),
        zone in 0usize..ZONES.len(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let (y, m, d, h) = STARTS[start];
        let tz = ZONES[zone];
        let mut now = utc(y, m, d, h, 0);
        let mut live = CapCounters::new();
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Reserve(n, ttl) => {
                    let exp = now + Duration::minutes(ttl);
                    let got = live.try_reserve(&limits, tz, now, pkey(n), exp);
                    prop_assert_eq!(got, model.reserve(&limits, tz, now, pkey(n), exp), "reserve {:?} at {}", n, now);
                }
                Op::Release(n, answered) => {
                    let before = live.snapshot(tz, now);
                    let same_period = model.held(pkey(n))
                        .map(|a| Model::labels(tz, a.started) == Model::labels(tz, now));
                    // A buyer full on every count at once: refused before the release.
                    let full = Caps {
                        concurrency_limit: Some(before.active),
                        hourly_cap: Some(before.hour),
                        daily_cap: Some(before.day),
                        monthly_cap: Some(before.month),
                        total_cap: u32::try_from(before.total).ok(),
                    };
                    let fresh = (Id::from_u128(u128::MAX), 0);
                    prop_assert!(live.clone().try_reserve(&full, tz, now, fresh, now).is_err());

                    prop_assert_eq!(live.release(pkey(n), answered), same_period.is_some());
                    if let Some(a) = model.held(pkey(n)) {
                        a.held = false;
                        a.refunded = !answered;
                    }
                    if same_period == Some(true) && !answered {
                        let after = live.snapshot(tz, now);
                        prop_assert_eq!(after, CapSnapshot {
                            active: before.active - 1,
                            hour: before.hour - 1,
                            day: before.day - 1,
                            month: before.month - 1,
                            total: before.total - 1,
                        });
                        prop_assert_eq!(live.clone().try_reserve(&full, tz, now, fresh, now), Ok(()));
                    }
                }
                Op::Expire => {
                    let mut expected: Vec<_> = model.attempts.iter_mut().filter(|a| a.held && a.expires <= now)
                        .map(|a| { a.held = false; (a.expires, a.key) }).collect();
                    expected.sort();
                    let expected: Vec<_> = expected.into_iter().map(|(_, k)| k).collect();
                    prop_assert_eq!(live.expire(now), expected);
                }
                Op::Advance(minutes) => now += Duration::minutes(minutes),
            }
            let s = live.snapshot(tz, now);
            prop_assert_eq!(s, model.snapshot(tz, now), "at {} ({})", now, now.with_timezone(&tz));
            let within = |lim: Option<u32>, used: u64| lim.is_none_or(|l| used <= u64::from(l));
            prop_assert!(within(limits.concurrency_limit, s.active.into()), "{:?} over {:?}", s, limits);
            prop_assert!(within(limits.hourly_cap, s.hour.into()), "{:?} over {:?}", s, limits);
            prop_assert!(within(limits.daily_cap, s.day.into()), "{:?} over {:?}", s, limits);
            prop_assert!(within(limits.monthly_cap, s.month.into()), "{:?} over {:?}", s, limits);
            prop_assert!(within(limits.total_cap, s.total), "{:?} over {:?}", s, limits);
        }
    }

    /// After any history, rebuilding from the stored attempts gives the same
    /// counters and reservations as the live counters that lived through it.
    #[test]
    fn rebuild_equals_live(
        limits in limits(),
        start in 0usize..STARTS.len(),
        zone in 0usize..ZONES.len(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let (y, m, d, h) = STARTS[start];
        let tz = ZONES[zone];
        let max_call = Duration::minutes(75);
        let mut now = utc(y, m, d, h, 0);
        let mut live = CapCounters::new();
        // What the store would hold: one row per attempt, keys never reused.
        let mut log: Vec<PastAttempt> = Vec::new();
        for op in ops {
            match op {
                Op::Reserve(n, _) => {
                    // Odd n: retry a held attempt (idempotent); even n: a new attempt.
                    let retry = log.iter().rev().find(|a| !a.released).map(|a| a.key).filter(|_| n % 2 == 1);
                    let k = retry.unwrap_or((Id::from_u128(log.len() as u128), 0));
                    if live.try_reserve(&limits, tz, now, k, now + max_call).is_ok() && retry.is_none() {
                        log.push(PastAttempt { key: k, started_at: now, unanswered: false, released: false });
                    }
                }
                Op::Release(n, answered) => {
                    let i = usize::from(n) * 3 % log.len().max(1);
                    if let Some(a) = log.get_mut(i)
                        && live.release(a.key, answered)
                    {
                        a.released = true;
                        a.unanswered = !answered;
                    }
                }
                Op::Expire => {}
                Op::Advance(minutes) => now += Duration::minutes(minutes),
            }
            for k in live.expire(now) {
                if let Some(a) = log.iter_mut().find(|a| a.key == k) {
                    a.released = true;
                }
            }
            let total = log.iter().filter(|a| !a.unanswered).count() as u64;
            // Any order of rows gives the same result.
            let rebuilt = CapCounters::rebuild(tz, now, log.iter().rev().copied(), total, max_call);
            prop_assert_eq!(rebuilt.snapshot(tz, now), live.snapshot(tz, now), "at {}", now);
            prop_assert_eq!(rebuilt.reservations().collect::<Vec<_>>(), live.reservations().collect::<Vec<_>>());
            // And they go on to decide alike.
            let next = (Id::from_u128(u128::MAX), 0);
            prop_assert_eq!(rebuilt.clone().try_reserve(&limits, tz, now, next, now), live.clone().try_reserve(&limits, tz, now, next, now));
        }
    }
}
