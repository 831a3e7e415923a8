//! Latency percentiles, nearest-rank, over every sample (no sampling: a run
//! holds a few bytes per request).

use std::time::Duration;

use serde::Serialize;

/// The nearest-rank `p`-th percentile (`0 < p <= 100`) of ascending `sorted`:
/// the smallest sample with at least `p`% of the samples at or below it.
/// `None` when there are no samples.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Summary of one kind of request's latencies, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

impl Latency {
    /// Summarizes samples in microseconds (sorted here).
    pub fn from_micros(mut samples: Vec<u64>) -> Self {
        samples.sort_unstable();
        let ms = |p: f64| percentile(&samples, p).map_or(0.0, |us| us as f64 / 1000.0);
        let sum: u128 = samples.iter().map(|&s| u128::from(s)).sum();
        Self {
            count: samples.len() as u64,
            p50: ms(50.0),
            p90: ms(90.0),
            p99: ms(99.0),
            max: ms(100.0),
            mean: if samples.is_empty() {
                0.0
            } else {
                sum as f64 / samples.len() as f64 / 1000.0
            },
        }
    }
}

/// A duration in whole microseconds, saturating.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 90.0), Some(90));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 99.5), Some(100));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 99.0), Some(7));
        // Ten samples: p99 is the largest, p50 the fifth, p90 the ninth.
        let ten = [10, 20, 30, 40, 50, 60, 70, 80, 90, 1000];
        assert_eq!(percentile(&ten, 50.0), Some(50));
        assert_eq!(percentile(&ten, 90.0), Some(90));
        assert_eq!(percentile(&ten, 99.0), Some(1000));
    }

    #[test]
    fn summary_sorts_and_converts_to_ms() {
        let l = Latency::from_micros(vec![3000, 1000, 2000, 10_000]);
        assert_eq!(l.count, 4);
        assert_eq!(l.p50, 2.0);
        assert_eq!(l.p90, 10.0);
        assert_eq!(l.max, 10.0);
        assert_eq!(l.mean, 4.0);
        assert_eq!(Latency::from_micros(Vec::new()), Latency::default());
    }
}
