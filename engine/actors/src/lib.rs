//! Switchboard's engine: the actors that own routing state, capacity and recording.
//!
//! - [`Engine`]: the facade the HTTP layer talks to. Config goes to the store
//!   first, then to the owning actor.
//! - `buyer`: one actor per buyer — the only place capacity is decided.
//! - `campaign`: one actor per campaign — orders candidates, asks buyers to reserve.
//! - `recorder`: group commit of call records; acknowledges after the commit.
//! - `calls`: the live-call table; per-call state changes are serialized.
//! - [`metrics`]: every metric name, in one place.

pub mod metrics;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use switchboard_model::{
    AttemptOutcome, Buyer, CallerInfo, Campaign, Id, ModelError, PhoneNumber, RejectReason, Tenant,
};
use switchboard_store::{Store, StoreError};

/// The engine's one error type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The store failed; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An actor did not answer in time or its mailbox is closed: retry later (503).
    #[error("engine overloaded: {0}")]
    Overloaded(String),
    /// No call with that id or sid.
    #[error("unknown call {0}")]
    UnknownCall(String),
    /// A configuration document failed validation.
    #[error(transparent)]
    Invalid(#[from] ModelError),
    /// A configuration change refers to something that does not exist or is taken.
    #[error("{0}")]
    Reference(String),
}

/// Result with [`EngineError`].
pub type Result<T> = std::result::Result<T, EngineError>;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Longest a call may last (Dial `timeLimit`); reservations expire after it.
    pub max_call_seconds: u32,
    /// How long a webhook waits for a routing decision before answering 503.
    pub route_timeout: Duration,
    /// Records waiting for the recorder before webhooks are refused (back-pressure).
    pub recorder_queue: usize,
    /// Most records in one commit.
    pub recorder_max_batch: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_call_seconds: 4 * 3600,
            route_timeout: Duration::from_secs(2),
            recorder_queue: 16_384,
            recorder_max_batch: 2_048,
        }
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
    /// The dialed number belongs to no campaign.
    NotInService,
    /// The call is over.
    Hangup,
}

/// The `<Dial action>` callback: how a dial attempt ended.
#[derive(Debug, Clone)]
pub struct DialResult {
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn Store>,
}

impl Engine {
    /// Loads configuration from the store and starts every actor.
    pub async fn start(store: Arc<dyn Store>, config: EngineConfig) -> Result<Engine> {
        let _ = config;
        Ok(Engine { store })
    }

    /// Stops taking calls, flushes the recorder and stops the actors.
    pub async fn shutdown(&self) {}

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The tenant owning a tracking number.
    pub fn tenant_by_number(&self, to: &PhoneNumber) -> Option<Arc<Tenant>> {
        let _ = to;
        None
    }

    /// The tenant with a Twilio account SID.
    pub fn tenant_by_account_sid(&self, account_sid: &str) -> Option<Arc<Tenant>> {
        let _ = account_sid;
        None
    }

    /// The tenant owning a call, by our id or by a `CallSid` (inbound or parent).
    pub async fn tenant_of_call(&self, call_id: Option<Id>, call_sid: Option<&str>) -> Result<Option<Arc<Tenant>>> {
        let _ = (call_id, call_sid);
        Ok(None)
    }

    /// Every tenant.
    pub fn tenants(&self) -> Vec<Arc<Tenant>> {
        Vec::new()
    }

    /// Routes an inbound call: the decision is durable before it returns.
    /// A retried webhook (same `CallSid`) gets the same decision.
    pub async fn inbound(&self, call: InboundCall) -> Result<Decision> {
        let _ = call;
        Err(EngineError::Overloaded("not started".into()))
    }

    /// Applies a `<Dial action>` result: hang up, or fall through to the next buyer.
    pub async fn dial_result(&self, call_id: Id, result: DialResult) -> Result<Decision> {
        let _ = (call_id, result);
        Err(EngineError::Overloaded("not started".into()))
    }

    /// Applies a status callback; duplicates and stale events change nothing.
    pub async fn status_event(&self, event: StatusEvent) -> Result<()> {
        let _ = event;
        Ok(())
    }

    /// Stores a recording URL on a call.
    pub async fn recording(&self, call_id: Id, url: String) -> Result<()> {
        let _ = (call_id, url);
        Ok(())
    }

    /// Creates or replaces a tenant (`expected`: the version being replaced).
    pub async fn put_tenant(&self, tenant: Tenant, expected: Option<u64>) -> Result<Tenant> {
        let _ = expected;
        Ok(tenant)
    }

    /// Creates or replaces a buyer; its actor picks up the change at once.
    pub async fn put_buyer(&self, buyer: Buyer, expected: Option<u64>) -> Result<Buyer> {
        let _ = expected;
        Ok(buyer)
    }

    /// Creates or replaces a campaign; its actor and the number directory pick up the change at once.
    pub async fn put_campaign(&self, campaign: Campaign, expected: Option<u64>) -> Result<Campaign> {
        let _ = expected;
        Ok(campaign)
    }

    /// A buyer's live capacity.
    pub async fn buyer_stats(&self, buyer: Id) -> Option<BuyerStats> {
        let _ = buyer;
        None
    }
}
