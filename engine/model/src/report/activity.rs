//! The rollups of what is not a call: RTB auctions (per target and per
//! router) and DNI visits (per traffic source). Pure, like the call
//! rollups: the store writes them with the rows they count and recounts
//! them from those rows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Dimension, Width};
use crate::call::VisitorSession;
use crate::{BidRequestRecord, BidResponseRecord, Currency};

/// The upper bounds (ms) of the response-time histogram: 1 ms steps to
/// 50 ms, 5 ms to 200, 25 ms to 1 s, 100 ms to 10 s; slower counts as
/// [`u32::MAX`]. A percentile is the bound of the bucket it falls in.
pub fn latency_bucket(ms: u32) -> u32 {
    let step = |ms: u32, base: u32, width: u32| base + (ms - base).div_ceil(width) * width;
    match ms {
        0..=50 => ms.max(1),
        51..=200 => step(ms, 50, 5),
        201..=1_000 => step(ms, 200, 25),
        1_001..=10_000 => step(ms, 1_000, 100),
        _ => u32::MAX,
    }
}

/// Sums of one RTB rollup row: a target's answers, or a router's auctions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BidFigures {
    /// Bid requests: a target asked, or a router's auctions.
    pub requests: i64,
    /// Valid bids.
    pub valid_bids: i64,
    /// Auctions won.
    pub wins: i64,
    /// Requests that timed out.
    pub timeouts: i64,
    /// Requests that failed (connection, status, body).
    pub errors: i64,
    /// Answers that were no valid bid, by why (`no-bid`, the reason given…);
    /// for a router, auctions not won, by their status.
    pub rejected: BTreeMap<String, i64>,
    /// Winning bids, minor units, summed.
    pub winning_sum_minor: i64,
    /// The highest winning bid, minor units (rows are only ever added, so
    /// a maximum stays exact).
    pub winning_max_minor: i64,
    /// Response times: histogram bucket bound (ms) → count.
    pub latency: BTreeMap<u32, i64>,
}

impl BidFigures {
    /// Adds `other`.
    pub fn add(&mut self, other: &BidFigures) {
        self.requests += other.requests;
        self.valid_bids += other.valid_bids;
        self.wins += other.wins;
        self.timeouts += other.timeouts;
        self.errors += other.errors;
        for (k, v) in &other.rejected {
            *self.rejected.entry(k.clone()).or_default() += v;
        }
        self.winning_sum_minor += other.winning_sum_minor;
        self.winning_max_minor = self.winning_max_minor.max(other.winning_max_minor);
        for (k, v) in &other.latency {
            *self.latency.entry(*k).or_default() += v;
        }
    }

    /// The response time under which `p` (0 to 1) of the requests answered.
    pub fn percentile(&self, p: f64) -> Option<u32> {
        let total: i64 = self.latency.values().sum();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * p).ceil().max(1.0) as i64;
        let mut seen = 0;
        self.latency.iter().find_map(|(bound, n)| {
            seen += n;
            (seen >= rank).then_some(*bound)
        })
    }

    fn answered_in(&mut self, ms: u32) {
        *self.latency.entry(latency_bucket(ms)).or_default() += 1;
    }

    fn won(&mut self, amount: Option<i64>) {
        self.wins += 1;
        let amount = amount.unwrap_or(0);
        self.winning_sum_minor += amount;
        self.winning_max_minor = self.winning_max_minor.max(amount);
    }

    /// One target's answer.
    pub fn of_response(r: &BidResponseRecord) -> Self {
        let mut f = BidFigures {
            requests: 1,
            ..Default::default()
        };
        f.answered_in(r.response_ms);
        match r.status.as_str() {
            "success" => f.valid_bids = 1,
            "timeout" => f.timeouts = 1,
            "error" => f.errors = 1,
            other => {
                let why = r
                    .reason
                    .clone()
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| other.to_owned());
                f.rejected.insert(why, 1);
            }
        }
        if r.won {
            f.won(r.amount);
        }
        f
    }

    /// One auction, as its router sees it.
    pub fn of_request(r: &BidRequestRecord, responses: &[BidResponseRecord]) -> Self {
        let mut f = BidFigures {
            requests: 1,
            valid_bids: i64::from(r.valid_bids),
            timeouts: responses.iter().filter(|x| x.status == "timeout").count() as i64,
            errors: responses.iter().filter(|x| x.status == "error").count() as i64,
            ..Default::default()
        };
        f.answered_in(r.total_ms);
        if r.winner_target_id.is_some() {
            f.won(r.winning_bid);
        } else {
            f.rejected.insert(r.status.clone(), 1);
        }
        f
    }
}

/// The key of an activity rollup row: (dimension, key, bucket, currency).
pub type ActivityKey = (Dimension, String, i64, Currency);

/// One auction's rows at `width`: its router's, and each target's asked.
pub fn bid_rows(
    request: &BidRequestRecord,
    responses: &[BidResponseRecord],
    width: Width,
) -> Vec<(ActivityKey, BidFigures)> {
    let bucket = width.bucket(request.created_at);
    let mut out = vec![(
        (
            Dimension::RtbRouter,
            request.router_id.to_string(),
            bucket,
            request.currency,
        ),
        BidFigures::of_request(request, responses),
    )];
    for r in responses {
        out.push((
            (
                Dimension::RtbTarget,
                r.target_id.to_string(),
                bucket,
                request.currency,
            ),
            BidFigures::of_response(r),
        ));
    }
    out
}

/// The rows a visit counts in at `width`: every visit (`All`) and each
/// traffic dimension it has a value for (visits carry no money: USD).
pub fn visit_rows(v: &VisitorSession, width: Width) -> Vec<ActivityKey> {
    let bucket = width.bucket(v.started_at);
    [
        (Dimension::UtmSource, &v.traffic.source),
        (Dimension::UtmMedium, &v.traffic.medium),
        (Dimension::UtmCampaign, &v.traffic.campaign),
        (Dimension::LandingPage, &v.traffic.landing_page),
    ]
    .into_iter()
    .filter_map(|(d, value)| {
        value
            .as_ref()
            .filter(|s| !s.is_empty())
            .map(|s| (d, s.clone()))
    })
    .chain(std::iter::once((Dimension::All, String::new())))
    .map(|(d, k)| (d, k, bucket, Currency::USD))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_keep_a_few_percent_resolution_and_percentiles_read_them() {
        assert_eq!(
            [0, 1, 37, 51, 199, 201, 999, 1_001, 9_999, 60_000].map(latency_bucket),
            [1, 1, 37, 55, 200, 225, 1_000, 1_100, 10_000, u32::MAX]
        );
        let mut f = BidFigures::default();
        for ms in 1..=100 {
            f.answered_in(ms);
        }
        assert_eq!(
            (f.percentile(0.5), f.percentile(0.95)),
            (Some(50), Some(95))
        );
        assert_eq!(BidFigures::default().percentile(0.5), None);
    }
}
