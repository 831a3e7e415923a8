//! Every metric name Switchboard emits, in one place.
//!
//! Labels are bounded: reasons, outcomes, routes — never call ids or numbers.

/// Calls routed to a buyer. Label `policy`.
pub const CALLS_ROUTED: &str = "switchboard_calls_routed_total";
/// Calls refused. Label `reason` (a `RejectReason`, or `not-in-service`).
pub const CALLS_REJECTED: &str = "switchboard_calls_rejected_total";
/// Dial attempts that fell through to the next buyer.
pub const FALLTHROUGHS: &str = "switchboard_fallthroughs_total";
/// Calls that converted.
pub const CONVERSIONS: &str = "switchboard_conversions_total";
/// Time from webhook to routing decision (actor work, not the commit).
pub const ROUTING_DECISION_SECONDS: &str = "switchboard_routing_decision_seconds";
/// Reservations held now, over all buyers.
pub const ACTIVE_RESERVATIONS: &str = "switchboard_active_reservations";
/// Reservations released because they outlived the maximum call length.
pub const RESERVATIONS_EXPIRED: &str = "switchboard_reservations_expired_total";
/// Buyer refusals. Label `reason` (capacity, schedule, geo…).
pub const BUYER_REFUSALS: &str = "switchboard_buyer_refusals_total";
/// Records per recorder commit.
pub const RECORDER_BATCH_SIZE: &str = "switchboard_recorder_batch_size";
/// Duration of one recorder commit.
pub const RECORDER_COMMIT_SECONDS: &str = "switchboard_recorder_commit_seconds";
/// Records handed to the recorder.
pub const RECORDER_PUSHED: &str = "switchboard_recorder_records_pushed_total";
/// Records committed by the recorder.
pub const RECORDER_COMMITTED: &str = "switchboard_recorder_records_committed_total";
/// Records refused because the recorder queue was full (back-pressure).
pub const RECORDER_SHED: &str = "switchboard_recorder_records_shed_total";
/// Recorder commits that failed.
pub const RECORDER_ERRORS: &str = "switchboard_recorder_errors_total";
/// Configuration changes written by another node and applied here.
pub const CONFIG_CHANGES_APPLIED: &str = "switchboard_config_changes_applied_total";
/// Actors restarted by the supervisor. Label `kind`.
pub const ACTOR_RESTARTS: &str = "switchboard_actor_restarts_total";
/// Webhooks answered. Labels `route`, `status`.
pub const WEBHOOKS: &str = "switchboard_webhooks_total";
/// Webhooks refused with 503 because too many were in flight (load shed at the edge).
pub const WEBHOOKS_SHED: &str = "switchboard_webhooks_shed_total";
/// Webhooks refused for a missing or wrong signature. Label `route`.
pub const SIGNATURE_FAILURES: &str = "switchboard_signature_failures_total";
/// Status callbacks ignored as duplicates or stale.
pub const STALE_CALLBACKS: &str = "switchboard_stale_callbacks_total";
/// DNI track requests answered. Label `outcome`: leased, fallback, inactive.
pub const DNI_TRACK: &str = "switchboard_dni_track_total";
/// Numbers leased to web visitors now. Label `pool`.
pub const DNI_LEASES_ACTIVE: &str = "switchboard_dni_leases_active";
/// DNI track requests answered with a pool's fallback number because every number was leased. Label `pool`.
pub const DNI_POOL_EXHAUSTED: &str = "switchboard_dni_pool_exhausted_total";
/// RTB auctions run. Label `outcome` (`won`, `no-valid-bid`, `too-few-bids`, `no-target`).
pub const RTB_AUCTIONS: &str = "switchboard_rtb_auctions_total";
/// Bid responses. Labels `status` (success, timeout, error, invalid, no-bid, rejected) and `target`.
pub const RTB_BIDS: &str = "switchboard_rtb_bids_total";
/// From the first bid request to the decision.
pub const RTB_AUCTION_SECONDS: &str = "switchboard_rtb_auction_seconds";
/// One bidder's response time (answers that arrived before the deadline). Label `target`.
pub const RTB_BIDDER_RESPONSE_SECONDS: &str = "switchboard_rtb_bidder_response_seconds";
/// Auctions decided more than 50 ms after their deadline (a stalled node, not a slow bidder).
pub const RTB_DEADLINE_MISSES: &str = "switchboard_rtb_deadline_misses_total";
/// A target's circuit breaker: 0 closed, 1 open, 2 half-open. Label `target`.
pub const RTB_BREAKER_OPEN: &str = "switchboard_rtb_breaker_open";
/// Auctions won, for the win rate (wins / auctions). Label `target`.
pub const RTB_WINS: &str = "switchboard_rtb_wins_total";
/// An auction's own time: decision minus the last answer, when every bidder answered in time.
pub const RTB_AUCTION_OVERHEAD_SECONDS: &str = "switchboard_rtb_auction_overhead_seconds";
/// How long after its deadline an auction was decided (0 when it was decided
/// in time, e.g. every bidder had answered), for the deadline's p99.9.
pub const RTB_DECISION_LATENESS_SECONDS: &str = "switchboard_rtb_decision_lateness_seconds";
/// Bid responses refused for a body over 64 KiB (read no further). Label `target`.
pub const RTB_OVERSIZED_RESPONSES: &str = "switchboard_rtb_oversized_responses_total";
/// Shards of buyer capacity this node owns (cluster mode).
pub const CLUSTER_SHARDS_HELD: &str = "switchboard_cluster_shards_held";
/// Reservations forwarded to the node owning the buyer, by result.
pub const CAPACITY_FORWARDED: &str = "switchboard_capacity_forwarded_total";
/// Buyers skipped because no node could decide their capacity right now.
pub const CAPACITY_UNAVAILABLE: &str = "switchboard_capacity_unavailable_total";
/// A call's webhooks passed on to the node that owns the call, by result.
pub const WEBHOOKS_FORWARDED: &str = "switchboard_webhooks_forwarded_total";
