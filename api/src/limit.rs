//! Keyed request rates (GCRA, by `governor`): how many requests a key (a
//! client address, a tag, an API key) may make per period, with a burst of
//! the whole period's allowance. Kept in memory; keys that have been idle
//! for a period are swept once many are held, so made-up keys cannot grow
//! memory without bound.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

/// Past this many keys, those back to a full allowance are forgotten.
const SWEEP_AT: usize = 100_000;

/// governor's keyed limiter on clock `C`.
type Keyed<K, C> = RateLimiter<K, DashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// `limit` requests per `period` for each key.
pub(crate) struct Rate<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    /// `None`: a limit of 0, every request refused.
    limiter: Option<Keyed<K, C>>,
    clock: C,
    period: Duration,
}

impl<K: Hash + Eq + Clone> Rate<K> {
    /// `limit` requests per `period` for each key.
    pub(crate) fn new(limit: u32, period: Duration) -> Self {
        Self::with_clock(limit, period, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> Rate<K, C> {
    /// As [`Rate::new`], on `clock` (tests move a fake one).
    pub(crate) fn with_clock(limit: u32, period: Duration, clock: C) -> Self {
        let limiter = NonZeroU32::new(limit).map(|n| {
            let quota = Quota::with_period(period / n.get())
                .expect("a positive period")
                .allow_burst(n);
            RateLimiter::dashmap_with_clock(quota, clock.clone())
        });
        Self {
            limiter,
            clock,
            period,
        }
    }

    /// Counts a request of `key`, or refuses it with `Err(seconds to wait)`
    /// (at least 1), counting nothing.
    pub(crate) fn check(&self, key: &K) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Err(self.period.as_secs().max(1));
        };
        if limiter.len() > SWEEP_AT {
            limiter.retain_recent();
        }
        limiter.check_key(key).map_err(|not_until| {
            // Whole seconds, rounded up: `Retry-After` must not come too early.
            let wait = not_until.wait_time_from(self.clock.now());
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_one_per_share_of_the_period() {
        let clock = FakeRelativeClock::default();
        let rate = Rate::with_clock(3, Duration::from_secs(60), clock.clone());
        for _ in 0..3 {
            assert_eq!(rate.check(&"a"), Ok(()));
        }
        assert_eq!(rate.check(&"a"), Err(20), "one comes back every 20 s");
        assert_eq!(rate.check(&"b"), Ok(()), "keys are counted apart");
        clock.advance(Duration::from_secs(20));
        assert_eq!(rate.check(&"a"), Ok(()));
        assert!(rate.check(&"a").is_err());
        clock.advance(Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(rate.check(&"a"), Ok(()), "a full allowance after a period");
        }
    }

    #[test]
    fn a_limit_of_zero_refuses_everything() {
        let rate = Rate::<&str>::new(0, Duration::from_secs(60));
        assert_eq!(rate.check(&"a"), Err(60));
    }
}
