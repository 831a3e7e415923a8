//! Every metric name Switchboard emits, in one place.
//!
//! Labels are bounded: reasons, outcomes, routes — never call ids or numbers.
//!
//! Each metric is declared once, in [`ALL`]'s table below: its doc comment is
//! also the help text `/metrics` shows, and its kind decides its `# TYPE`;
//! its unit follows from the name (`_seconds`: seconds, else a count). Each
//! is a typed handle ([`Counter`], [`Gauge`], [`Histogram`]), and code emits
//! through it, so a name cannot be mistyped or used as another kind.

/// What a metric is, for its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (`_total`).
    Counter,
    /// Goes up and down.
    Gauge,
    /// A distribution of samples.
    Histogram,
}

/// One metric as `/metrics` describes it.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Its name.
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// Its help text: the constant's doc comment.
    pub help: &'static str,
}

impl Spec {
    /// Seconds for `_seconds` metrics, else a count.
    pub fn unit(&self) -> ::metrics::Unit {
        if self.name.ends_with("_seconds") {
            ::metrics::Unit::Seconds
        } else {
            ::metrics::Unit::Count
        }
    }
}

/// Label values as the recorder takes them.
fn labels(pairs: &[(&'static str, &str)]) -> Vec<::metrics::Label> {
    pairs
        .iter()
        .map(|(k, v)| ::metrics::Label::new(*k, (*v).to_owned()))
        .collect()
}

/// A counter of the table: only counters can be counted.
#[derive(Debug, Clone, Copy)]
pub struct Counter(pub &'static str);

impl Counter {
    /// Adds one.
    pub fn inc(self) {
        ::metrics::counter!(self.0).increment(1);
    }

    /// Adds `n`.
    pub fn add(self, n: u64) {
        ::metrics::counter!(self.0).increment(n);
    }

    /// Adds one under the label values `pairs`.
    pub fn inc_with(self, pairs: &[(&'static str, &str)]) {
        self.handle(pairs).increment(1);
    }

    /// The series of `pairs`, to keep where it is counted often.
    pub fn handle(self, pairs: &[(&'static str, &str)]) -> ::metrics::Counter {
        ::metrics::counter!(self.0, labels(pairs))
    }
}

/// A gauge of the table.
#[derive(Debug, Clone, Copy)]
pub struct Gauge(pub &'static str);

impl Gauge {
    /// Sets it to `v`.
    pub fn set(self, v: f64) {
        ::metrics::gauge!(self.0).set(v);
    }

    /// Adds `v` (negative to take away).
    pub fn add(self, v: f64) {
        ::metrics::gauge!(self.0).increment(v);
    }

    /// The series of `pairs`, to set or keep.
    pub fn handle(self, pairs: &[(&'static str, &str)]) -> ::metrics::Gauge {
        ::metrics::gauge!(self.0, labels(pairs))
    }
}

/// A histogram of the table.
#[derive(Debug, Clone, Copy)]
pub struct Histogram(pub &'static str);

impl Histogram {
    /// Records a sample.
    pub fn record(self, v: f64) {
        ::metrics::histogram!(self.0).record(v);
    }

    /// Records a sample under the label values `pairs`.
    pub fn record_with(self, pairs: &[(&'static str, &str)], v: f64) {
        ::metrics::histogram!(self.0, labels(pairs)).record(v);
    }
}

macro_rules! metrics {
    ($($(#[doc = $doc:literal])+ $name:ident: $kind:ident = $value:literal;)+) => {
        $($(#[doc = $doc])+ pub const $name: $kind = $kind($value);)+

        /// Every metric above, in order.
        pub const ALL: &[Spec] = &[$(Spec { name: $value, kind: Kind::$kind, help: concat!($($doc),+) }),+];
    };
}

metrics! {
    /// Calls routed to a buyer. Label `policy`.
    CALLS_ROUTED: Counter = "switchboard_calls_routed_total";
    /// Calls refused. Label `reason` (a `RejectReason`, `not-in-service`, or
    /// `blocked`: the caller is on the blocklist).
    CALLS_REJECTED: Counter = "switchboard_calls_rejected_total";
    /// Dial attempts that fell through to the next buyer.
    FALLTHROUGHS: Counter = "switchboard_fallthroughs_total";
    /// Calls that converted.
    CONVERSIONS: Counter = "switchboard_conversions_total";
    /// Time from webhook to routing decision (actor work, not the commit).
    ROUTING_DECISION_SECONDS: Histogram = "switchboard_routing_decision_seconds";
    /// Reservations held now, over all buyers.
    ACTIVE_RESERVATIONS: Gauge = "switchboard_active_reservations";
    /// Reservations released because they outlived the maximum call length.
    RESERVATIONS_EXPIRED: Counter = "switchboard_reservations_expired_total";
    /// Overdue reservations released because the carrier said their call had
    /// ended (its final callback never came), booked as that callback.
    RECONCILE_RELEASED: Counter = "switchboard_reconcile_released_total";
    /// Overdue reservations the carrier said are still live (asked again later).
    RECONCILE_STILL_LIVE: Counter = "switchboard_reconcile_still_live_total";
    /// Overdue reservations that could not be checked (asked again later). Label
    /// `reason`: `carrier` (its API failed or refused), `engine` (booking failed).
    RECONCILE_ERRORS: Counter = "switchboard_reconcile_errors_total";
    /// Buyer refusals. Label `reason` (capacity, schedule, geo…).
    BUYER_REFUSALS: Counter = "switchboard_buyer_refusals_total";
    /// Records per recorder commit.
    RECORDER_BATCH_SIZE: Histogram = "switchboard_recorder_batch_size";
    /// Duration of one recorder commit.
    RECORDER_COMMIT_SECONDS: Histogram = "switchboard_recorder_commit_seconds";
    /// Records handed to the recorder.
    RECORDER_PUSHED: Counter = "switchboard_recorder_records_pushed_total";
    /// Records committed by the recorder.
    RECORDER_COMMITTED: Counter = "switchboard_recorder_records_committed_total";
    /// Records refused because the recorder queue was full (back-pressure).
    RECORDER_SHED: Counter = "switchboard_recorder_records_shed_total";
    /// Recorder commits that failed.
    RECORDER_ERRORS: Counter = "switchboard_recorder_errors_total";
    /// Call-log entries appended but not yet applied to the call tables
    /// (documents, indexes, buyer totals). Reads never see the lag: they apply first.
    PROJECTION_LAG_EVENTS: Gauge = "switchboard_projection_lag_events";
    /// How long ago the oldest call-log entry not yet applied was appended (0: none).
    PROJECTION_LAG_SECONDS: Gauge = "switchboard_projection_lag_seconds";
    /// Configuration changes written by another node and applied here.
    CONFIG_CHANGES_APPLIED: Counter = "switchboard_config_changes_applied_total";
    /// Actors restarted by the supervisor. Label `kind`.
    ACTOR_RESTARTS: Counter = "switchboard_actor_restarts_total";
    /// Webhooks answered. Labels `route`, `status`.
    WEBHOOKS: Counter = "switchboard_webhooks_total";
    /// Webhooks refused with 503 because too many were in flight (load shed at the edge).
    WEBHOOKS_SHED: Counter = "switchboard_webhooks_shed_total";
    /// Webhooks refused with 408 because their body did not arrive in time.
    WEBHOOK_BODY_TIMEOUTS: Counter = "switchboard_webhook_body_timeouts_total";
    /// Connections closed at accept because their address held its cap already.
    CONNECTIONS_REFUSED: Counter = "switchboard_connections_refused_total";
    /// Webhooks refused for a missing or wrong signature. Label `route`.
    SIGNATURE_FAILURES: Counter = "switchboard_signature_failures_total";
    /// Status callbacks ignored as duplicates or stale.
    STALE_CALLBACKS: Counter = "switchboard_stale_callbacks_total";
    /// DNI track requests answered. Label `outcome`: leased, fallback, inactive.
    DNI_TRACK: Counter = "switchboard_dni_track_total";
    /// Numbers leased to web visitors now. Label `pool`.
    DNI_LEASES_ACTIVE: Gauge = "switchboard_dni_leases_active";
    /// DNI track requests answered with a pool's fallback number because every number was leased. Label `pool`.
    DNI_POOL_EXHAUSTED: Counter = "switchboard_dni_pool_exhausted_total";
    /// RTB auctions run. Label `outcome` (`won`, `no-valid-bid`, `too-few-bids`, `no-target`).
    RTB_AUCTIONS: Counter = "switchboard_rtb_auctions_total";
    /// Bid responses. Labels `status` (success, timeout, error, invalid, no-bid, rejected) and `target`.
    RTB_BIDS: Counter = "switchboard_rtb_bids_total";
    /// From the first bid request to the decision.
    RTB_AUCTION_SECONDS: Histogram = "switchboard_rtb_auction_seconds";
    /// One bidder's response time (answers that arrived before the deadline). Label `target`.
    RTB_BIDDER_RESPONSE_SECONDS: Histogram = "switchboard_rtb_bidder_response_seconds";
    /// Auctions decided more than 50 ms after their deadline (a stalled node, not a slow bidder).
    RTB_DEADLINE_MISSES: Counter = "switchboard_rtb_deadline_misses_total";
    /// A target's circuit breaker: 0 closed, 1 open, 2 half-open. Label `target`.
    RTB_BREAKER_OPEN: Gauge = "switchboard_rtb_breaker_open";
    /// Pixel delivery attempts. Labels `event` and `result` (`delivered`,
    /// `retrying`, `failed`: a final 4xx, `dead`: every attempt used).
    PIXEL_DELIVERIES: Counter = "switchboard_pixel_deliveries_total";
    /// Pixel attempts that failed and were scheduled again.
    PIXEL_RETRIES: Counter = "switchboard_pixel_retries_total";
    /// Pixel deliveries given up after every attempt.
    PIXEL_DEAD: Counter = "switchboard_pixel_dead_total";
    /// Pixel deliveries waiting for an attempt (pending or retrying).
    PIXEL_OUTBOX_DEPTH: Gauge = "switchboard_pixel_outbox_depth";
    /// How long the longest-waiting open pixel delivery has been due (0: none).
    PIXEL_OUTBOX_AGE_SECONDS: Gauge = "switchboard_pixel_outbox_age_seconds";
    /// Auctions won, for the win rate (wins / auctions). Label `target`.
    RTB_WINS: Counter = "switchboard_rtb_wins_total";
    /// An auction's own time: decision minus the last answer, when every bidder answered in time.
    RTB_AUCTION_OVERHEAD_SECONDS: Histogram = "switchboard_rtb_auction_overhead_seconds";
    /// How long after its deadline an auction was decided (0 when it was decided
    /// in time, e.g. every bidder had answered), for the deadline's p99.9.
    RTB_DECISION_LATENESS_SECONDS: Histogram = "switchboard_rtb_decision_lateness_seconds";
    /// Bid responses refused for a body over 64 KiB (read no further). Label `target`.
    RTB_OVERSIZED_RESPONSES: Counter = "switchboard_rtb_oversized_responses_total";
    /// Shards of buyer capacity this node owns (cluster mode).
    CLUSTER_SHARDS_HELD: Gauge = "switchboard_cluster_shards_held";
    /// Reservations forwarded to the node owning the buyer, by result.
    CAPACITY_FORWARDED: Counter = "switchboard_capacity_forwarded_total";
    /// Buyers skipped because no node could decide their capacity right now.
    CAPACITY_UNAVAILABLE: Counter = "switchboard_capacity_unavailable_total";
    /// A call's webhooks passed on to the node that owns the call, by result.
    WEBHOOKS_FORWARDED: Counter = "switchboard_webhooks_forwarded_total";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_follow_the_conventions() {
        let mut seen = std::collections::HashSet::new();
        for m in ALL {
            assert!(seen.insert(m.name), "{} is declared twice", m.name);
            assert!(m.name.starts_with("switchboard_"), "{}", m.name);
            assert!(!m.help.trim().is_empty(), "{} has no help text", m.name);
            // Prometheus' conventions, which `promtool check metrics` enforces.
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}: counters, and only counters, end in _total",
                m.name
            );
            assert!(!m.name.ends_with("_milliseconds"), "{}: base units", m.name);
        }
    }
}
