//! A circuit breaker per target, so a dead bidder stops costing every
//! auction its timeout.
//!
//! Closed: every auction asks the target. After `failure_threshold`
//! consecutive failures (timeouts and errors, see
//! [`crate::Outcome::is_failure`]) it opens: the target is not asked for
//! `cool_down`. Then it is half-open: one auction may ask it (the probe); a
//! probe that succeeds closes the breaker, one that fails opens it for another
//! cool-down. A probe whose result never arrives is replaced after a
//! cool-down, so a lost reply cannot wedge the breaker half-open.
//!
//! Pure: the caller passes `now`. Any answer at all (a bid, a pass, a
//! rejection, even garbage) proves the bidder alive and resets the count.
//! A late result that arrives while the breaker is open is ignored.

use std::time::{Duration, Instant};

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker (at least 1).
    pub failure_threshold: u32,
    /// How long it stays open before a probe.
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down: Duration::from_secs(30),
        }
    }
}

/// A breaker's state as shown in metrics and the admin UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// The target is asked.
    Closed,
    /// The target is skipped.
    Open,
    /// One probe may be (or is being) sent.
    HalfOpen,
}

impl BreakerState {
    /// The metric value: 0 closed, 1 open, 2 half-open.
    pub fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::Open => 1.0,
            BreakerState::HalfOpen => 2.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inner {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probe_sent: Option<Instant> },
}

/// One target's circuit breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    inner: Inner,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            inner: Inner::Closed { failures: 0 },
        }
    }

    /// The state at `now` (an open breaker past its cool-down reads half-open).
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.inner {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if now < until => BreakerState::Open,
            Inner::Open { .. } | Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Whether this auction may ask the target. In half-open, `true` once:
    /// the caller must then send the probe and [`record`](Self::record) it.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        match self.inner {
            Inner::Closed { .. } => true,
            Inner::Open { until } if now < until => false,
            Inner::Open { .. } => {
                self.inner = Inner::HalfOpen {
                    probe_sent: Some(now),
                };
                true
            }
            Inner::HalfOpen { probe_sent } => {
                let free = probe_sent.is_none_or(|sent| now >= sent + self.config.cool_down);
                if free {
                    self.inner = Inner::HalfOpen {
                        probe_sent: Some(now),
                    };
                }
                free
            }
        }
    }

    /// Records a request's result; returns the new state if it changed, for
    /// metrics and logs.
    pub fn record(&mut self, failure: bool, now: Instant) -> Option<BreakerState> {
        let before = self.state(now);
        self.inner = match (self.inner, failure) {
            (Inner::Closed { .. }, false) => Inner::Closed { failures: 0 },
            (Inner::Closed { failures }, true) => {
                let failures = failures + 1;
                if failures >= self.config.failure_threshold.max(1) {
                    Inner::Open {
                        until: now + self.config.cool_down,
                    }
                } else {
                    Inner::Closed { failures }
                }
            }
            (open @ Inner::Open { .. }, _) => open,
            (Inner::HalfOpen { .. }, false) => Inner::Closed { failures: 0 },
            (Inner::HalfOpen { .. }, true) => Inner::Open {
                until: now + self.config.cool_down,
            },
        };
        let after = self.state(now);
        (after != before).then_some(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(10);

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            failure_threshold: 3,
            cool_down: COOL,
        })
    }

    #[test]
    fn consecutive_failures_open_it_and_a_success_resets_the_count() {
        let t0 = Instant::now();
        let mut b = breaker();
        assert_eq!(b.record(true, t0), None);
        assert_eq!(b.record(true, t0), None);
        assert_eq!(b.record(false, t0), None);
        assert_eq!(b.record(true, t0), None);
        assert_eq!(b.record(true, t0), None);
        assert!(b.try_acquire(t0));
        assert_eq!(b.record(true, t0), Some(BreakerState::Open));
        assert!(!b.try_acquire(t0));
        assert!(!b.try_acquire(t0 + COOL - Duration::from_millis(1)));
        // A late answer from before it opened changes nothing.
        assert_eq!(b.record(false, t0 + Duration::from_secs(1)), None);
        assert_eq!(b.state(t0 + Duration::from_secs(1)), BreakerState::Open);
    }

    #[test]
    fn after_the_cool_down_one_probe_closes_it() {
        let t0 = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.record(true, t0);
        }
        let t1 = t0 + COOL;
        assert_eq!(b.state(t1), BreakerState::HalfOpen);
        assert!(b.try_acquire(t1), "the probe");
        assert!(!b.try_acquire(t1), "only one probe at a time");
        assert!(!b.try_acquire(t1 + Duration::from_secs(1)));
        assert_eq!(
            b.record(false, t1 + Duration::from_millis(30)),
            Some(BreakerState::Closed)
        );
        assert!(b.try_acquire(t1 + Duration::from_millis(31)));
        assert!(b.try_acquire(t1 + Duration::from_millis(31)));
    }

    #[test]
    fn a_failed_probe_reopens_it_for_another_cool_down() {
        let t0 = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.record(true, t0);
        }
        let t1 = t0 + COOL;
        assert!(b.try_acquire(t1));
        assert_eq!(b.record(true, t1), Some(BreakerState::Open));
        assert!(!b.try_acquire(t1 + COOL - Duration::from_millis(1)));
        assert!(b.try_acquire(t1 + COOL));
    }

    #[test]
    fn a_lost_probe_is_replaced_after_a_cool_down() {
        let t0 = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.record(true, t0);
        }
        assert!(b.try_acquire(t0 + COOL));
        assert!(!b.try_acquire(t0 + COOL + COOL / 2));
        assert!(b.try_acquire(t0 + COOL + COOL));
    }

    #[test]
    fn a_zero_threshold_acts_as_one() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(BreakerConfig {
            failure_threshold: 0,
            cool_down: COOL,
        });
        assert!(b.try_acquire(t0));
        assert_eq!(b.record(false, t0), None);
        assert_eq!(b.record(true, t0), Some(BreakerState::Open));
        assert_eq!(BreakerState::Open.gauge(), 1.0);
    }
}
