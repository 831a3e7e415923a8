//! What the HTTP layer passes in and gets back: engine settings, a call's
//! webhooks as the engine reads them, the decision for the carrier, and
//! live counters of buyers and pools.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use switchboard_model::call::VisitorSession;
use switchboard_model::{AttemptOutcome, CallerInfo, Id, PhoneNumber, RejectReason};
use switchboard_rtb::BreakerConfig;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Longest a call may last (Dial `timeLimit`); reservations expire after it.
    pub max_call_seconds: u32,
    /// Added to `max_call_seconds` for ringing and late callbacks before a reservation expires.
    pub hold_grace_seconds: u32,
    /// How long a webhook waits for a routing decision before answering 503.
    pub route_timeout: Duration,
    /// Records waiting for the recorder before webhooks are refused (back-pressure).
    pub recorder_queue: usize,
    /// Most records in one commit.
    pub recorder_max_batch: usize,
    /// The longest any RTB auction may run, whatever its router says.
    pub rtb_max_auction: Duration,
    /// Let bid requests reach loopback, private, link-local and metadata
    /// addresses (`--rtb-allow-private-targets`; tests and demos).
    pub rtb_allow_private_targets: bool,
    /// When a target's circuit breaker opens and for how long.
    pub rtb_breaker: BreakerConfig,
    /// How pixels are sent.
    pub pixels: crate::PixelSettings,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_call_seconds: 4 * 3600,
            hold_grace_seconds: 180,
            route_timeout: Duration::from_secs(2),
            recorder_queue: 16_384,
            recorder_max_batch: 2_048,
            rtb_max_auction: Duration::from_secs(2),
            rtb_allow_private_targets: false,
            rtb_breaker: BreakerConfig::default(),
            pixels: crate::PixelSettings::default(),
        }
    }
}

impl EngineConfig {
    /// How long a reservation lives without a final callback.
    pub(crate) fn max_hold(&self) -> chrono::Duration {
        chrono::Duration::seconds(
            i64::from(self.max_call_seconds) + i64::from(self.hold_grace_seconds),
        )
    }
}

/// An inbound call as the voice webhook describes it.
#[derive(Debug, Clone)]
pub struct InboundCall {
    /// Twilio's `CallSid`.
    pub call_sid: String,
    /// Twilio's `AccountSid`.
    pub account_sid: String,
    /// The tracking number dialed (`To`).
    pub to: PhoneNumber,
    /// Caller and location.
    pub caller: CallerInfo,
}

/// What to tell the carrier to do with a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Dial a buyer.
    Dial {
        /// The call.
        call_id: Id,
        /// Which attempt of the call this is (0 first).
        attempt: u16,
        /// Where to dial.
        number: PhoneNumber,
        /// Caller id to present.
        caller_id: String,
        /// Seconds to ring.
        timeout_seconds: u32,
        /// Longest the call may last.
        time_limit_seconds: u32,
        /// Record the call.
        record: bool,
    },
    /// Refuse politely and hang up.
    Reject {
        /// Why.
        reason: RejectReason,
    },
    /// The caller is on the blocklist: refuse the call unanswered.
    Block,
    /// The dialed number belongs to no campaign.
    NotInService,
    /// The call is over.
    Hangup,
}

/// The `<Dial action>` callback: how a dial attempt ended.
#[derive(Debug, Clone)]
pub struct DialResult {
    /// Which attempt the action is for (the action URL carries it); `None`
    /// matches by `DialCallSid`, else the latest attempt.
    pub attempt: Option<u16>,
    /// `DialCallStatus`.
    pub status: AttemptOutcome,
    /// `DialCallSid`.
    pub dial_call_sid: Option<String>,
    /// `DialCallDuration`.
    pub duration_seconds: Option<u32>,
}

/// A status callback of a dialed leg (or of the inbound call).
#[derive(Debug, Clone)]
pub struct StatusEvent {
    /// Our call id, when the callback URL carries it.
    pub call_id: Option<Id>,
    /// Our attempt index, when the callback URL carries it.
    pub attempt: Option<u16>,
    /// `CallSid` of the leg.
    pub call_sid: String,
    /// `ParentCallSid`: the inbound call, for a dialed leg.
    pub parent_call_sid: Option<String>,
    /// `CallStatus`.
    pub status: AttemptOutcome,
    /// `SequenceNumber`.
    pub sequence: Option<u32>,
    /// `CallDuration`.
    pub duration_seconds: Option<u32>,
    /// `Timestamp`, when given.
    pub timestamp: Option<DateTime<Utc>>,
}

/// A buyer's live capacity, for stats and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct BuyerStats {
    /// Reservations held now.
    pub active: u32,
    /// Calls counted this local hour.
    pub hour: u32,
    /// Calls counted this local day.
    pub day: u32,
    /// Calls counted this local month.
    pub month: u32,
    /// Calls counted ever.
    pub total: u64,
}

/// What a track request got.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Tracked {
    /// The leased number; `None` when the pool had none free or is not active
    /// (then show the fallback number).
    pub number: Option<PhoneNumber>,
    /// When the lease ends unless renewed.
    pub expires_at: Option<DateTime<Utc>>,
    /// The visit as it stands (its start, traffic and number kept from the
    /// first request of the visit).
    pub visit: VisitorSession,
    /// Whether the visit should be written to the store now.
    pub persist: bool,
}

/// What a tracking tag says about its leases (each `None`: the pool's way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct LeaseOptions {
    /// Idle limit of a lease, instead of the pool's.
    pub session_timeout_seconds: Option<u32>,
    /// A returning visitor gets its old number back (if still free) within
    /// this many days after its lease ended; `None`: not sticky.
    pub sticky_days: Option<u32>,
}

/// A pool's live counters.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct PoolStats {
    /// Numbers in the pool.
    pub size: usize,
    /// Numbers leased now.
    pub leased_now: usize,
    /// Most numbers leased at once since the pool's actor started.
    pub peak_leased: usize,
    /// Track requests answered with the fallback number because every number
    /// was leased, since the actor started.
    pub exhaustion_count: u64,
    /// Calls to each number since the actor started (every number listed).
    pub calls_per_number: BTreeMap<String, u64>,
}

impl PoolStats {
    /// The pool size that covers the observed peak with 20 % headroom:
    /// `ceil(peak × 1.2)`, at least 1. A pool that ran out has a peak equal
    /// to its size, so the rule asks for at least one more number each time.
    pub fn recommended_size(&self) -> usize {
        (self.peak_leased * 6)
            .div_ceil(5)
            .max(1)
            .max(if self.exhaustion_count > 0 {
                self.size + 1
            } else {
                0
            })
    }
}
