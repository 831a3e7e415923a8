//! A buyer's capacity: concurrency and hourly/daily/monthly/total caps.
//!
//! [`CapCounters`] is owned by exactly one buyer actor, which makes every
//! reservation through it, so caps hold exactly under any concurrency.
//!
//! # Periods
//! Caps count per period of the buyer's *local* clock (its IANA zone):
//! - hour: the local date and clock hour. On the fall-back night the repeated
//!   hour (01:00–01:59 twice in New York) is ONE bucket, two real hours long:
//!   "calls per local clock hour" is read off the wall clock, and a buyer whose
//!   staff work by that clock never gets more than the cap under one label.
//!   On the spring-forward night the missing hour simply has no bucket. Keying
//!   by the UTC hour instead would misalign for zones with half-hour offsets
//!   (India, Newfoundland);
//! - day: the local date, so a call at 23:30 and one at 00:30 local are on
//!   different days whatever UTC says;
//! - month: the local year and month.
//!
//! Each counter remembers the period it counts; a counter whose period has
//! passed reads as 0 and restarts at the next reservation. Should the clock
//! step backwards into an earlier period, the newer bucket keeps counting,
//! so a clock step never forgets calls.
//!
//! # Reservations
//! A reservation is held from [`CapCounters::try_reserve`] until
//! [`CapCounters::release`] or [`CapCounters::expire`]; while held it uses one
//! concurrency slot. Its hour/day/month/total counts stay unless the buyer
//! never took the call (busy, no answer, failed, canceled), in which case they
//! are refunded.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
pub use switchboard_model::Refusal;
use switchboard_model::{Caps, Id};

/// One dial attempt of one call: `(call id, attempt number)`.
pub type ReservationKey = (Id /*call id*/, u16 /*attempt*/);

/// Current usage, for metrics, the admin console and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSnapshot {
    /// Reservations held (calls ringing or in progress).
    pub active: u32,
    /// Calls counted in the current local hour.
    pub hour: u32,
    /// Calls counted in the current local day.
    pub day: u32,
    /// Calls counted in the current local month.
    pub month: u32,
    /// Calls counted ever.
    pub total: u64,
}

/// A past attempt, for rebuilding counters after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastAttempt {
    /// The reservation it held.
    pub key: ReservationKey,
    /// When it was reserved (routed).
    pub started_at: DateTime<Utc>,
    /// The buyer never took it (busy, no answer, failed, canceled): it counts nothing.
    pub unanswered: bool,
    /// Its reservation was given back.
    pub released: bool,
}

/// The local hour (date and clock hour) an instant falls in.
type HourKey = (NaiveDate, u32);
/// The local year and month an instant falls in.
type MonthKey = (i32, u32);

/// The local periods an instant counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Periods {
    hour: HourKey,
    day: NaiveDate,
    month: MonthKey,
}

impl Periods {
    fn at(tz: Tz, now: DateTime<Utc>) -> Self {
        let local = now.with_timezone(&tz);
        let day = local.date_naive();
        Self {
            hour: (day, local.hour()),
            day,
            month: (day.year(), day.month()),
        }
    }
}

/// A count for one period. `period: None` = nothing counted yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket<K> {
    period: Option<K>,
    count: u32,
}

impl<K> Default for Bucket<K> {
    fn default() -> Self {
        Self {
            period: None,
            count: 0,
        }
    }
}

impl<K: Ord + Copy> Bucket<K> {
    /// The count that applies in `period`: 0 once the bucket's period has passed.
    /// A bucket for a later period (the clock stepped back) still applies.
    fn count_in(&self, period: K) -> u32 {
        match self.period {
            Some(p) if p >= period => self.count,
            _ => 0,
        }
    }

    /// Counts one call in `period`; returns the period it was counted in.
    fn add(&mut self, period: K) -> K {
        match self.period {
            Some(p) if p >= period => {
                self.count = self.count.saturating_add(1);
                p
            }
            _ => {
                *self = Self {
                    period: Some(period),
                    count: 1,
                };
                period
            }
        }
    }

    /// Takes back a call counted in `period`, if that is still this bucket's period.
    fn refund(&mut self, period: K) {
        if self.period == Some(period) {
            self.count = self.count.saturating_sub(1);
        }
    }
}

/// A held reservation: when it lapses, and the buckets it was counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    expires_at: DateTime<Utc>,
    counted_in: Periods,
}

/// One buyer's usage: period counters in its zone and the reservations it holds.
///
/// Pass the buyer's zone (`buyer.timezone`) on every call; the counters store
/// local period keys, not the zone.
#[derive(Debug, Clone, Default)]
pub struct CapCounters {
    hour: Bucket<HourKey>,
    day: Bucket<NaiveDate>,
    month: Bucket<MonthKey>,
    total: u64,
    /// Ordered, so `expire` and `reservations` are deterministic.
    held: BTreeMap<ReservationKey, Held>,
    /// `held` by expiry, so `expire` (run before every reservation) visits
    /// only what lapsed, not every call in progress.
    by_expiry: BTreeSet<(DateTime<Utc>, ReservationKey)>,
}

impl CapCounters {
    /// No usage and no reservations.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserve capacity for one call attempt. Checks, in order: concurrency, hourly, daily, monthly, total.
    /// Periods are local clock hour / local date / local year-month in `tz`; a counter whose period has passed counts 0.
    /// Idempotent: a key already held returns Ok without counting again.
    ///
    /// On success the attempt counts once in each period and the total, and
    /// holds a concurrency slot until released or expired. A reservation past
    /// its `expires_at` keeps its slot until [`expire`](Self::expire) lets it
    /// go, so the owner calls `expire(now)` first (or on a timer).
    pub fn try_reserve(
        &mut self,
        caps: &Caps,
        tz: Tz,
        now: DateTime<Utc>,
        key: ReservationKey,
        expires_at: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        if self.held.contains_key(&key) {
            return Ok(());
        }
        let at = Periods::at(tz, now);
        let full = |limit: Option<u32>, used: u64| limit.is_some_and(|l| used >= u64::from(l));
        if full(caps.concurrency_limit, self.held.len() as u64) {
            return Err(Refusal::Concurrency);
        }
        if full(caps.hourly_cap, self.hour.count_in(at.hour).into()) {
            return Err(Refusal::Hourly);
        }
        if full(caps.daily_cap, self.day.count_in(at.day).into()) {
            return Err(Refusal::Daily);
        }
        if full(caps.monthly_cap, self.month.count_in(at.month).into()) {
            return Err(Refusal::Monthly);
        }
        if full(caps.total_cap, self.total) {
            return Err(Refusal::Total);
        }
        let counted_in = Periods {
            hour: self.hour.add(at.hour),
            day: self.day.add(at.day),
            month: self.month.add(at.month),
        };
        self.total = self.total.saturating_add(1);
        self.hold(
            key,
            Held {
                expires_at,
                counted_in,
            },
        );
        Ok(())
    }

    /// Gives a reservation back; returns whether it was held. `answered == false` (busy/no-answer/failed/canceled:
    /// the buyer never took the call) refunds the hour/day/month counts — only for a period that is still the
    /// current counter's period — and the total. `answered == true` keeps the counts. Releasing twice is a no-op.
    pub fn release(&mut self, key: ReservationKey, answered: bool) -> bool {
        let Some(held) = self.unhold(key) else {
            return false;
        };
        if !answered {
            self.hour.refund(held.counted_in.hour);
            self.day.refund(held.counted_in.day);
            self.month.refund(held.counted_in.month);
            self.total = self.total.saturating_sub(1);
        }
        true
    }

    /// Releases (keeping counts) every reservation whose expires_at <= now; returns their keys.
    ///
    /// A reservation that outlives its time-to-live lost its status callback;
    /// the call most likely happened, so it stays counted. Keys come back in
    /// expiry order.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Vec<ReservationKey> {
        let mut lapsed = Vec::new();
        while let Some(&(at, key)) = self.by_expiry.first()
            && at <= now
        {
            self.unhold(key);
            lapsed.push(key);
        }
        lapsed
    }

    fn hold(&mut self, key: ReservationKey, held: Held) {
        if let Some(old) = self.held.insert(key, held) {
            self.by_expiry.remove(&(old.expires_at, key));
        }
        self.by_expiry.insert((held.expires_at, key));
    }

    fn unhold(&mut self, key: ReservationKey) -> Option<Held> {
        let held = self.held.remove(&key)?;
        self.by_expiry.remove(&(held.expires_at, key));
        Some(held)
    }

    /// Reservations held: calls ringing or in progress.
    pub fn active(&self) -> u32 {
        u32::try_from(self.held.len()).unwrap_or(u32::MAX)
    }

    /// Whether `key` holds a reservation.
    pub fn is_held(&self, key: ReservationKey) -> bool {
        self.held.contains_key(&key)
    }

    /// The held reservations and when each expires, in key order.
    pub fn reservations(&self) -> impl Iterator<Item = (ReservationKey, DateTime<Utc>)> + '_ {
        self.held.iter().map(|(k, h)| (*k, h.expires_at))
    }

    /// Usage as it applies at `now` in `tz`.
    pub fn snapshot(&self, tz: Tz, now: DateTime<Utc>) -> CapSnapshot {
        let at = Periods::at(tz, now);
        CapSnapshot {
            active: self.active(),
            hour: self.hour.count_in(at.hour),
            day: self.day.count_in(at.day),
            month: self.month.count_in(at.month),
            total: self.total,
        }
    }

    /// Rebuilds from a buyer's attempts since the start of the current local month (older ones may be
    /// included and must be ignored for hour/day/month) and `total` = all-time counted attempts (not unanswered).
    /// Unanswered attempts count nothing. Unreleased attempts with started_at + max_call > now are held again,
    /// expiring at started_at + max_call.
    ///
    /// The result matches what live operation would hold at `now` after an
    /// [`expire`](Self::expire)`(now)`. An unanswered attempt is over, so it is
    /// never held again even if its release was not recorded. A key listed
    /// more than once is one attempt (reservation is idempotent), merged so
    /// that unanswered and released win, as terminal states do.
    pub fn rebuild(
        tz: Tz,
        now: DateTime<Utc>,
        attempts: impl IntoIterator<Item = PastAttempt>,
        total: u64,
        max_call: chrono::Duration,
    ) -> Self {
        let mut merged: BTreeMap<ReservationKey, PastAttempt> = BTreeMap::new();
        for a in attempts {
            merged
                .entry(a.key)
                .and_modify(|m| {
                    m.started_at = m.started_at.min(a.started_at);
                    m.unanswered |= a.unanswered;
                    m.released |= a.released;
                })
                .or_insert(a);
        }

        let at = Periods::at(tz, now);
        let mut counters = Self {
            total,
            ..Self::default()
        };
        // Start each bucket at the current period, so counts from older periods are ignored.
        counters.hour.period = Some(at.hour);
        counters.day.period = Some(at.day);
        counters.month.period = Some(at.month);
        for a in merged.values().filter(|a| !a.unanswered) {
            let counted_in = Periods::at(tz, a.started_at);
            let bump = |count: &mut u32, same: bool| {
                if same {
                    *count = count.saturating_add(1);
                }
            };
            bump(&mut counters.hour.count, counted_in.hour == at.hour);
            bump(&mut counters.day.count, counted_in.day == at.day);
            bump(&mut counters.month.count, counted_in.month == at.month);

            if !a.released {
                let expires_at = match a.started_at.checked_add_signed(max_call) {
                    Some(t) => t,
                    // Beyond the representable range: forward means "never", backward means "long ago".
                    None if max_call > chrono::Duration::zero() => DateTime::<Utc>::MAX_UTC,
                    None => continue,
                };
                if expires_at > now {
                    counters.hold(
                        a.key,
                        Held {
                            expires_at,
                            counted_in,
                        },
                    );
                }
            }
        }
        counters
    }
}

#[cfg(test)]
mod tests;
