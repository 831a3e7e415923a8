//! Switchboard's engine: the actors that own routing state, capacity and recording.
//!
//! - [`Engine`]: the facade the HTTP layer talks to. Config goes to the store
//!   first, then to the owning actor.
//! - `buyer`: one actor per buyer — the only place capacity is decided.
//! - `campaign`: one actor per campaign — orders candidates, asks buyers to reserve.
//! - `supervisor`: parent of the buyer, campaign and pool actors, and the
//!   `Spawner`. [`Engine::start`] loads configurations only; a buyer's (or
//!   RTB target's) and a campaign's actor start on first need through
//!   `Spawner::get_or_spawn_buyer` / `get_or_spawn_campaign`, one per id
//!   under a per-id lock, rebuilding from the store as after a restart.
//!   Pool actors start at once (pools are few). A started actor lives until
//!   its buyer or campaign is deleted or the engine shuts down.
//! - `recorder`: group commit of call records; acknowledges after the commit.
//! - `calls`: the live-call table; per-call state changes are serialized.
//! - `auction`: one RTB auction (fan-out under a deadline, ranking); RTB
//!   targets are guarded for capacity by buyer actors of their own.
//! - `ping`: inbound pings — a publisher's auction whose winner waits for the call.
//! - `bidding`: the pooled HTTP client for bid requests, with the SSRF guard.
//! - [`claims`]: system-wide unique values — a phone number's one tenant,
//!   a tag code's one tag — as compare-and-set documents in the store.
//! - `sync`: on a shared store, follows configuration other nodes write
//!   ([`Engine::follow_config`]).
//! - `reconcile`: asks the carrier about reservations whose final callback
//!   is overdue and books what it says as that callback ([`Engine::reconcile`]).
//! - [`metrics`]: every metric name, in one place.

mod auction;
mod bidding;
mod buyer;
mod calls;
mod campaign;
pub mod claims;
mod cluster;
pub mod metrics;
mod ping;
mod pool;

pub use pool::{LeaseOptions, PoolStats, Tracked};
pub use reconcile::{CallStatusSource, OpenReservation, ReconcileSettings};
mod reconcile;
mod recorder;
mod supervisor;
mod sync;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::metrics::{counter, histogram};
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use ractor::{Actor, ActorId, ActorRef};
use switchboard_model::{
    AttemptOutcome, Buyer, CallRecord, CallStatus, CallerInfo, Campaign, CampaignStatus, Currency,
    FieldError, Id, ModelError, PhoneNumber, RejectReason, ResourceStatus, RoutingType, RtbRouter,
    RtbTarget, Tenant,
};
pub use switchboard_rtb::BreakerConfig;
use switchboard_rtb::ValidBid;
use switchboard_store::{Doc, DocKind, DocPages, Store, StoreError};
use tokio::task::JoinHandle;

use crate::auction::{AuctionCall, Bidder};
use crate::bidding::BidClient;
use crate::buyer::BuyerMsg;
use crate::calls::{DialSettings, LiveCall, LiveCalls, Release};
use crate::campaign::{CampaignMsg, RouteOutcome, RouteRequest};
pub use crate::cluster::{
    Peers, PoolAnswer, PoolRequest, RemoteAnswer, RemoteRelease, RemoteReserve, RemoteRoute,
    RouteAnswer,
};
pub use crate::ping::Ping;
use crate::pool::{PoolMsg, PoolRoute};
use crate::recorder::Recorder;
use crate::supervisor::{Child, Spawner, Supervisor, SupervisorArgs, SupervisorMsg};
pub use switchboard_cluster::Timing as ClusterTiming;

/// The engine's one error type.
#[derive(Debug, thiserror::Error)]
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
    /// A request to another node of the cluster never reached it: nothing
    /// was applied there.
    #[error("peer unreachable: {0}")]
    PeerUnreachable(String),
    /// A request to another node may have reached it: whether anything was
    /// applied there is unknown.
    #[error("peer request failed: {0}")]
    PeerFailed(String),
    /// An inbound call's `CallSid` is held by a call of another tenant; the
    /// message says nothing of that call.
    #[error("this CallSid belongs to a call of another account")]
    CallSidTaken,
    /// The carrier's API (Twilio's REST API) failed or answered something unusable.
    #[error("carrier api: {0}")]
    Carrier(String),
}

impl EngineError {
    /// How this failure reads to a client.
    pub fn code(&self) -> switchboard_model::ServiceErrorCode {
        use switchboard_model::ServiceErrorCode as C;
        match self {
            EngineError::Store(e) => e.code(),
            EngineError::Overloaded(_)
            | EngineError::PeerUnreachable(_)
            | EngineError::PeerFailed(_) => C::Overloaded,
            EngineError::UnknownCall(_) => C::UnknownCall,
            EngineError::Invalid(_) => C::Invalid,
            EngineError::Reference(_) | EngineError::CallSidTaken => C::Conflict,
            EngineError::Carrier(_) => C::Carrier,
        }
    }
}

/// Result with [`EngineError`].
pub type Result<T> = std::result::Result<T, EngineError>;

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
        }
    }
}

impl EngineConfig {
    /// How long a reservation lives without a final callback.
    fn max_hold(&self) -> chrono::Duration {
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

/// Who is who: actor handles and the configuration they were built from.
#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) buyers: DashMap<Id, ActorRef<BuyerMsg>>,
    pub(crate) buyer_configs: DashMap<Id, Arc<Buyer>>,
    pub(crate) campaigns: DashMap<Id, ActorRef<CampaignMsg>>,
    pub(crate) campaign_configs: DashMap<Id, Arc<Campaign>>,
    pub(crate) children: DashMap<ActorId, Child>,
    pub(crate) pools: DashMap<Id, ActorRef<PoolMsg>>,
    pub(crate) pool_configs: DashMap<Id, Arc<switchboard_model::Pool>>,
    /// RTB targets, compiled; their capacity actors are in `buyers`.
    pub(crate) bidders: DashMap<Id, Arc<Bidder>>,
    /// The buyer each target's capacity actor judges by (for restarts).
    pub(crate) target_buyers: DashMap<Id, Arc<Buyer>>,
    pub(crate) routers: DashMap<Id, Arc<RtbRouter>>,
    /// Per buyer, target or campaign id: held while its actor starts or its
    /// configuration changes (see `Spawner::lock`).
    pub(crate) spawn_locks: DashMap<Id, Arc<tokio::sync::Mutex<()>>>,
    /// Set when the node joined a cluster: who owns which buyer's capacity.
    pub(crate) cluster: std::sync::OnceLock<Arc<cluster::Cluster>>,
}

impl Registry {
    /// The configuration a buyer actor `id` judges by: a buyer's, or an RTB target's.
    pub(crate) fn buyer_config(&self, id: Id) -> Option<Arc<Buyer>> {
        self.buyer_configs
            .get(&id)
            .or_else(|| self.target_buyers.get(&id))
            .map(|b| b.clone())
    }
}

/// Where an attempt goes: a buyer, or an RTB bid whose target reserved
/// capacity, with the number it bid with.
enum Pick {
    Buyer(Arc<Buyer>),
    Bid(ValidBid, PhoneNumber),
}

impl Pick {
    fn id(&self) -> Id {
        match self {
            Pick::Buyer(b) => b.id,
            Pick::Bid(b, _) => b.target_id,
        }
    }

    fn push(&self, record: &mut CallRecord, now: DateTime<Utc>) {
        match self {
            Pick::Buyer(b) => calls::push_attempt(record, b, now),
            Pick::Bid(bid, number) => {
                calls::push_bid_attempt(
                    record,
                    bid.target_id,
                    number.clone(),
                    (bid.amount, bid.currency, bid.duration_secs),
                    now,
                );
            }
        }
    }
}

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    config: EngineConfig,
    registry: Arc<Registry>,
    spawner: Spawner,
    supervisor: ActorRef<SupervisorMsg>,
    recorder: Recorder,
    background: std::sync::Mutex<Vec<JoinHandle<()>>>,
    live: LiveCalls,
    tenants: DashMap<Id, Arc<Tenant>>,
    account_sids: DashMap<String, Id>,
    /// Tracking number → (tenant, campaign). Reads never wait on a writer for long.
    numbers: DashMap<PhoneNumber, (Id, Id)>,
    /// DNI pool number → its pool.
    pool_numbers: DashMap<PhoneNumber, PoolRoute>,
    /// (tenant, campaign name folded) → campaign: names are unique per tenant.
    campaign_names: DashMap<(Id, String), Id>,
    /// Pool or RTB router → the campaigns routing through it, so a pool call
    /// or a ping finds its campaign without scanning every campaign.
    campaigns_by_source: DashMap<Id, Vec<Id>>,
    /// Serializes configuration writes, so uniqueness checks hold under
    /// concurrent requests, and a poll of the store (`sync`) cannot undo a
    /// change this node applies meanwhile.
    config_lock: tokio::sync::Mutex<()>,
    bid_client: BidClient,
    /// Per RTB call: the valid bids after the winner, for fall-through (in memory only).
    rtb_pending: DashMap<Id, (Instant, VecDeque<ValidBid>)>,
    /// Open inbound-ping bids by (router, caller id).
    pings: DashMap<(Id, String), Arc<ping::PingBid>>,
}

/// Documents per store read when loading configuration at start.
pub(crate) const LOAD_PAGE: usize = 1_000;

/// How long an ended call stays in the live table for late callbacks.
const EVICT_AFTER: chrono::Duration = chrono::Duration::minutes(2);

impl Engine {
    /// Loads configuration from the store. Buyer and campaign actors start
    /// lazily, on first need; pool actors start now.
    pub async fn start(store: Arc<dyn Store>, config: EngineConfig) -> Result<Engine> {
        let registry = Arc::new(Registry::default());
        // A reservation lives as long as the longest possible call, plus ringing.
        let max_hold = config.max_hold();
        let (supervisor, _) = Actor::spawn(
            None,
            Supervisor,
            SupervisorArgs {
                store: store.clone(),
                registry: registry.clone(),
                max_hold,
            },
        )
        .await
        .map_err(|e| EngineError::Overloaded(format!("supervisor did not start: {e}")))?;
        let spawner = Spawner {
            store: store.clone(),
            registry: registry.clone(),
            max_hold,
            supervisor: supervisor.get_cell(),
        };
        let (recorder, recorder_task) = Recorder::start(
            store.clone(),
            config.recorder_queue,
            config.recorder_max_batch,
            config.route_timeout,
        );
        let bid_client = BidClient::new(config.rtb_allow_private_targets);
        let engine = Engine {
            inner: Arc::new(Inner {
                store: store.clone(),
                config,
                registry,
                spawner,
                supervisor,
                recorder,
                background: std::sync::Mutex::new(vec![recorder_task]),
                live: LiveCalls::default(),
                tenants: DashMap::new(),
                account_sids: DashMap::new(),
                numbers: DashMap::new(),
                pool_numbers: DashMap::new(),
                campaign_names: DashMap::new(),
                campaigns_by_source: DashMap::new(),
                config_lock: tokio::sync::Mutex::new(()),
                bid_client,
                rtb_pending: DashMap::new(),
                pings: DashMap::new(),
            }),
        };
        // A page at a time, so the JSON held at once is one page, not a kind.
        let mut pages = DocPages::new(store.as_ref(), DocKind::Tenant, None, LOAD_PAGE);
        while let Some(docs) = pages.next_page().await? {
            for doc in docs {
                engine.index_tenant(Arc::new(decode::<Tenant>(&doc)?));
            }
        }
        // Configurations only: an actor (and its store read) is paid for
        // when a call, a release or a stats request first needs it.
        let mut pages = DocPages::new(store.as_ref(), DocKind::Buyer, None, LOAD_PAGE);
        while let Some(docs) = pages.next_page().await? {
            for doc in docs {
                let buyer = Arc::new(decode::<Buyer>(&doc)?);
                engine.inner.registry.buyer_configs.insert(buyer.id, buyer);
            }
        }
        let mut pages = DocPages::new(store.as_ref(), DocKind::RtbTarget, None, LOAD_PAGE);
        while let Some(docs) = pages.next_page().await? {
            for doc in docs {
                engine.apply_rtb_target(decode::<RtbTarget>(&doc)?).await?;
            }
        }
        let mut pages = DocPages::new(store.as_ref(), DocKind::RtbRouter, None, LOAD_PAGE);
        while let Some(docs) = pages.next_page().await? {
            for doc in docs {
                let router = decode::<RtbRouter>(&doc)?;
                engine
                    .inner
                    .registry
                    .routers
                    .insert(router.id, Arc::new(router));
            }
        }
        let mut pages = DocPages::new(store.as_ref(), DocKind::Campaign, None, LOAD_PAGE);
        while let Some(docs) = pages.next_page().await? {
            for doc in docs {
                let campaign = Arc::new(decode::<Campaign>(&doc)?);
                engine.index_campaign(&campaign, None);
                engine
                    .inner
                    .registry
                    .campaign_configs
                    .insert(campaign.id, campaign);
            }
        }
        engine.load_pools().await?;
        engine.claim_campaign_numbers().await?;
        let weak = Arc::downgrade(&engine.inner);
        let evictor = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(15));
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                inner.live.evict(Utc::now() - EVICT_AFTER);
                // Fall-through bids of calls long over.
                inner
                    .rtb_pending
                    .retain(|_, (at, _)| at.elapsed() < Duration::from_secs(600));
            }
        });
        engine.push_background(evictor);
        Ok(engine)
    }

    fn push_background(&self, task: JoinHandle<()>) {
        if let Ok(mut tasks) = self.inner.background.lock() {
            tasks.push(task);
        }
    }

    /// Stops taking calls, flushes the recorder and stops the actors.
    pub async fn shutdown(&self) {
        self.inner.recorder.close();
        let tasks: Vec<JoinHandle<()>> = match self.inner.background.lock() {
            Ok(mut t) => t.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        // The first task is the recorder: wait for its final commit; the rest just stop.
        let mut tasks = tasks.into_iter();
        if let Some(recorder) = tasks.next() {
            let _ = recorder.await;
        }
        for t in tasks {
            t.abort();
        }
        // Records are in the store: hand this node's shards over.
        self.leave_cluster().await;
        // Wait for every actor to stop, so the store is closed when this returns.
        let actors: Vec<ractor::ActorCell> = self
            .inner
            .registry
            .buyers
            .iter()
            .map(|b| b.get_cell())
            .chain(self.inner.registry.campaigns.iter().map(|c| c.get_cell()))
            .chain(self.inner.registry.pools.iter().map(|p| p.get_cell()))
            .collect();
        for a in actors {
            let _ = a.stop_and_wait(None, Some(Duration::from_secs(5))).await;
        }
        let _ = self
            .inner
            .supervisor
            .stop_and_wait(None, Some(Duration::from_secs(5)))
            .await;
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The tenant owning a tracking number.
    pub fn tenant_by_number(&self, to: &PhoneNumber) -> Option<Arc<Tenant>> {
        let tenant = match self.inner.numbers.get(to) {
            Some(r) => r.0,
            None => self.inner.pool_numbers.get(to)?.tenant,
        };
        self.tenant(tenant)
    }

    /// The tenant with a Twilio account SID.
    pub fn tenant_by_account_sid(&self, account_sid: &str) -> Option<Arc<Tenant>> {
        let tenant = *self.inner.account_sids.get(account_sid)?;
        self.tenant(tenant)
    }

    /// A tenant by id.
    pub fn tenant(&self, id: Id) -> Option<Arc<Tenant>> {
        self.inner.tenants.get(&id).map(|t| t.clone())
    }

    /// The tenant owning a call, by our id or by a `CallSid` (inbound or parent).
    pub async fn tenant_of_call(
        &self,
        call_id: Option<Id>,
        call_sid: Option<&str>,
    ) -> Result<Option<(Id, Arc<Tenant>)>> {
        if let Some(live) = call_id
            .and_then(|id| self.inner.live.by_id(id))
            .or_else(|| call_sid.and_then(|s| self.inner.live.by_sid(s)))
        {
            return Ok(self.tenant(live.tenant_id).map(|t| (live.id, t)));
        }
        let record = match (call_id, call_sid) {
            (Some(id), _) => self.inner.store.get_call(id).await?,
            (None, Some(sid)) => self.inner.store.get_call_by_sid(sid).await?,
            (None, None) => None,
        };
        Ok(record.and_then(|r| self.tenant(r.tenant_id).map(|t| (r.id, t))))
    }

    /// Every tenant.
    pub fn tenants(&self) -> Vec<Arc<Tenant>> {
        self.inner.tenants.iter().map(|t| t.clone()).collect()
    }

    /// A buyer's configuration.
    pub fn buyer(&self, id: Id) -> Option<Arc<Buyer>> {
        self.inner
            .registry
            .buyer_configs
            .get(&id)
            .map(|b| b.clone())
    }

    /// A campaign's configuration.
    pub fn campaign(&self, id: Id) -> Option<Arc<Campaign>> {
        self.inner
            .registry
            .campaign_configs
            .get(&id)
            .map(|c| c.clone())
    }

    fn settings(&self) -> DialSettings {
        DialSettings {
            time_limit_seconds: self.inner.config.max_call_seconds,
        }
    }

    /// Routes an inbound call: the decision is durable before it returns.
    /// A retried webhook (same `CallSid`) gets the same decision.
    pub async fn inbound(&self, call: InboundCall) -> Result<Decision> {
        self.inbound_via(None, call).await
    }

    /// Routes an inbound call that arrived on `pool`'s webhook through the
    /// pool's campaign, like [`Engine::inbound`].
    pub async fn inbound_pool(&self, pool: Id, call: InboundCall) -> Result<Decision> {
        self.inbound_via(Some(pool), call).await
    }

    async fn inbound_via(&self, pool: Option<Id>, call: InboundCall) -> Result<Decision> {
        // The number's tenant is the one whose token signed the webhook: a
        // retry is replayed only within it (a CallSid is unique system-wide).
        let Some((tenant_id, campaign_id, pool_id)) = self.route_of(pool, &call.to) else {
            return Ok(Decision::NotInService);
        };
        if let Some(live) = self.inner.live.by_sid(&call.call_sid) {
            return self.replay(tenant_id, &live).await;
        }
        // A retry after a restart (or after eviction) finds the call in the store.
        if let Some(record) = self.inner.store.get_call_by_sid(&call.call_sid).await? {
            if record.tenant_id != tenant_id {
                return Err(EngineError::CallSidTaken);
            }
            let live = self.inner.live.adopt(record);
            return self.replay(tenant_id, &live).await;
        }

        let now = Utc::now();
        let id = self.new_call_id();
        let live = Arc::new(LiveCall::new(id, tenant_id, None));
        let mut slot = live.record.lock().await;
        if let Err(existing) = self.inner.live.claim(&call.call_sid, live.clone()) {
            drop(slot);
            return self.replay(tenant_id, &existing).await;
        }
        let campaign = self.campaign(campaign_id);
        let attribution = match pool_id {
            Some(p) => self.attribute(p, &call.to, now).await,
            None => None,
        };
        let caller = Arc::new(call.caller);
        let mut record = CallRecord {
            id,
            call_sid: call.call_sid.clone(),
            tenant_id,
            campaign_id,
            from: caller.from.clone(),
            to: call.to,
            caller_state: caller.state.clone(),
            caller_zip: caller.zip.clone(),
            status: CallStatus::Rejected,
            reject_reason: None,
            buyer_id: None,
            attempts: Vec::new(),
            started_at: now,
            answered_at: None,
            ended_at: None,
            duration_seconds: 0,
            converted: false,
            revenue_minor: 0,
            currency: Currency::default(),
            recording_url: None,
            pool_id,
            attribution,
        };
        let rtb = campaign
            .as_ref()
            .filter(|c| c.routing_type == RoutingType::Rtb && c.status == CampaignStatus::Active);
        let asked = Instant::now();
        let routed = match rtb {
            Some(c) => self.rtb_route(c, id, caller, now).await,
            None => self
                .route(campaign_id, id, 0, caller, Vec::new(), now)
                .await
                .map(|r| r.map(Pick::Buyer)),
        };
        let policy = campaign.as_ref().map(|c| c.routing_policy);
        match routed {
            Ok(Ok(pick)) => pick.push(&mut record, now),
            Ok(Err(reason)) => {
                record.reject_reason = Some(reason);
                record.ended_at = Some(now);
            }
            Err(e) => {
                self.inner.live.remove(id, &call.call_sid);
                return Err(e);
            }
        }
        if let Err(e) = self.inner.recorder.record(record.clone()).await {
            // Not durable, so not acknowledged: give the capacity back and let
            // the carrier retry.
            if let Some(a) = record.attempts.first() {
                self.release(Release {
                    buyer_id: a.buyer_id,
                    key: (id, 0),
                    answered: false,
                })
                .await;
            }
            self.inner.live.remove(id, &call.call_sid);
            return Err(e);
        }
        if !record.attempts.is_empty() && self.recorded_late(asked) {
            *slot = Some(record);
            return Ok(self.withdraw(&mut slot, 0, campaign.as_deref()).await);
        }
        match (record.status, record.reject_reason) {
            (CallStatus::Ringing, _) => {
                let policy = match policy {
                    _ if rtb.is_some() => "rtb",
                    Some(switchboard_model::RoutingPolicy::RoundRobin) => "round-robin",
                    _ => "priority",
                };
                counter!(metrics::CALLS_ROUTED, "policy" => policy).increment(1);
            }
            (_, Some(reason)) => {
                counter!(metrics::CALLS_REJECTED, "reason" => reason.as_str()).increment(1)
            }
            _ => {}
        }
        let decision = calls::decision_for(&record, campaign.as_deref(), &self.settings());
        *slot = Some(record);
        Ok(decision)
    }

    /// The decision already made for a call of `tenant` (a retried webhook);
    /// another tenant's call is refused.
    async fn replay(&self, tenant: Id, live: &LiveCall) -> Result<Decision> {
        if live.tenant_id != tenant {
            return Err(EngineError::CallSidTaken);
        }
        let slot = live.record.lock().await;
        match slot.as_ref() {
            Some(r) => Ok(calls::decision_for(
                r,
                self.campaign(r.campaign_id).as_deref(),
                &self.settings(),
            )),
            None => Err(EngineError::Overloaded(
                "the first delivery of this call failed; retry".into(),
            )),
        }
    }

    /// Asks the campaign's actor for a buyer — on the node that owns the
    /// campaign, in a cluster.
    async fn route(
        &self,
        campaign_id: Id,
        call_id: Id,
        attempt: u16,
        caller: Arc<CallerInfo>,
        exclude: Vec<Id>,
        now: DateTime<Utc>,
    ) -> Result<RouteOutcome> {
        let req = RemoteRoute {
            campaign: campaign_id,
            call_id,
            attempt,
            caller: (*caller).clone(),
            exclude,
            now,
        };
        match self.ask_campaign_owner(&req).await {
            Some(answer) => answer,
            None => {
                self.route_here(campaign_id, call_id, attempt, caller, req.exclude, now)
                    .await
            }
        }
    }

    /// Asks this node's campaign actor for a buyer, timing the decision.
    pub(crate) async fn route_here(
        &self,
        campaign_id: Id,
        call_id: Id,
        attempt: u16,
        caller: Arc<CallerInfo>,
        exclude: Vec<Id>,
        now: DateTime<Utc>,
    ) -> Result<RouteOutcome> {
        let Some(actor) = self
            .inner
            .spawner
            .get_or_spawn_campaign(campaign_id)
            .await?
        else {
            return Ok(Err(RejectReason::CampaignInactive));
        };
        let req = RouteRequest {
            call_id,
            attempt,
            caller,
            exclude,
            now,
            expires_at: now + self.inner.config.max_hold(),
        };
        let started = Instant::now();
        let answer = actor
            .call(
                |reply| CampaignMsg::Route(req, reply),
                Some(self.inner.config.route_timeout),
            )
            .await;
        histogram!(metrics::ROUTING_DECISION_SECONDS).record(started.elapsed().as_secs_f64());
        match answer {
            Ok(ractor::rpc::CallResult::Success(outcome)) => Ok(outcome),
            _ => {
                self.route_timed_out(campaign_id, (call_id, attempt)).await;
                Err(EngineError::Overloaded("routing decision timed out".into()))
            }
        }
    }

    /// Gave up waiting for a campaign's decision: counted as overload.
    pub(crate) async fn route_timed_out(&self, campaign_id: Id, key: (Id, u16)) {
        self.let_attempt_go(campaign_id, key).await;
        counter!(metrics::CALLS_REJECTED, "reason" => RejectReason::Overloaded.as_str())
            .increment(1);
    }

    /// The campaign may still reserve a buyer after we gave up on it: tell
    /// every buyer it might have asked to let this attempt go.
    pub(crate) async fn let_attempt_go(&self, campaign_id: Id, key: (Id, u16)) {
        if let Some(c) = self.campaign(campaign_id) {
            for a in &c.buyers {
                self.release(Release {
                    buyer_id: a.buyer_id,
                    key,
                    answered: false,
                })
                .await;
            }
        }
    }

    /// Gives a reservation back (see `Spawner::release`).
    async fn release(&self, r: Release) {
        self.inner
            .spawner
            .release(r.buyer_id, r.key, r.answered)
            .await;
    }

    /// The live call with this id, loading it from the store when it was evicted.
    async fn live_call(&self, id: Id) -> Result<Arc<LiveCall>> {
        if let Some(live) = self.inner.live.by_id(id) {
            return Ok(live);
        }
        match self.inner.store.get_call(id).await? {
            Some(record) => Ok(self.inner.live.adopt(record)),
            None => Err(EngineError::UnknownCall(id.to_string())),
        }
    }

    /// Commits a changed record, then gives back the reservations it released.
    async fn commit(
        &self,
        slot: &mut Option<CallRecord>,
        record: CallRecord,
        releases: Vec<Release>,
    ) -> Result<()> {
        self.inner.recorder.record(record.clone()).await?;
        if record.status.is_terminal() {
            // An ended call falls through no more.
            self.inner.rtb_pending.remove(&record.id);
        }
        *slot = Some(record);
        for r in releases {
            self.release(r).await;
        }
        Ok(())
    }

    /// Applies a `<Dial action>` result: hang up, or fall through to the next buyer.
    pub async fn dial_result(&self, call_id: Id, result: DialResult) -> Result<Decision> {
        let live = self.live_call(call_id).await?;
        live.heard_now();
        let mut slot = live.record.lock().await;
        let Some(current) = slot.as_ref() else {
            return Err(EngineError::Overloaded("call is not decided yet".into()));
        };
        let campaign = self.campaign(current.campaign_id);
        // A repeated action after the call was settled changes nothing.
        if current.status.is_terminal() || current.attempts.is_empty() {
            return Ok(calls::decision_for(
                current,
                campaign.as_deref(),
                &self.settings(),
            ));
        }
        let last = current.attempts.len() - 1;
        let idx = result
            .attempt
            .map(usize::from)
            .or_else(|| {
                let sid = result.dial_call_sid.as_deref()?;
                current
                    .attempts
                    .iter()
                    .position(|a| a.dial_call_sid.as_deref() == Some(sid))
            })
            .unwrap_or(last);
        if idx != last {
            // The action of an earlier attempt, delivered again: it was applied already.
            counter!(metrics::STALE_CALLBACKS).increment(1);
            return Ok(calls::decision_for(
                current,
                campaign.as_deref(),
                &self.settings(),
            ));
        }
        let mut record = current.clone();
        let now = Utc::now();
        if record.attempts[idx].dial_call_sid.is_none() {
            record.attempts[idx].dial_call_sid = result.dial_call_sid.clone();
        }
        let mut releases = Vec::new();
        let mut reserved = None;
        let asked = Instant::now();
        match result.status {
            AttemptOutcome::Completed | AttemptOutcome::Answered => {
                let talk = result
                    .duration_seconds
                    .unwrap_or(record.attempts[idx].duration_seconds);
                let buyer = self.buyer(record.attempts[idx].buyer_id);
                releases.extend(calls::finish_answered(
                    &mut record,
                    idx,
                    talk,
                    now,
                    buyer.as_deref(),
                ));
            }
            outcome => {
                // Anything else means the buyer never took the call.
                let outcome = if outcome.is_unanswered() {
                    outcome
                } else {
                    AttemptOutcome::Failed
                };
                releases.extend(calls::finish_unanswered(&mut record, idx, outcome, now));
                let max = campaign.as_ref().map_or(0, |c| c.max_fallthrough);
                let mut next = Err(RejectReason::NoBuyerAvailable);
                if (record.attempts.len() as u32) <= max {
                    let tried: Vec<Id> = record.attempts.iter().map(|a| a.buyer_id).collect();
                    let caller = Arc::new(CallerInfo {
                        from: record.from.clone(),
                        state: record.caller_state.clone(),
                        zip: record.caller_zip.clone(),
                    });
                    let attempt = record.attempts.len() as u16;
                    // An RTB call goes to the next-best unexpired bid first, then to the campaign's buyers.
                    if let Some((_, (at, mut bids))) = self.inner.rtb_pending.remove(&record.id)
                        && let Some((bid, number)) = self
                            .reserve_bid(&mut bids, (record.id, attempt), &caller, now)
                            .await
                    {
                        if !bids.is_empty() {
                            self.inner.rtb_pending.insert(record.id, (at, bids));
                        }
                        next = Ok(Pick::Bid(bid, number));
                    } else {
                        next = self
                            .route(record.campaign_id, record.id, attempt, caller, tried, now)
                            .await?
                            .map(Pick::Buyer);
                    }
                }
                match next {
                    Ok(pick) => {
                        counter!(metrics::FALLTHROUGHS).increment(1);
                        pick.push(&mut record, now);
                        reserved = Some(Release {
                            buyer_id: pick.id(),
                            key: (record.id, idx as u16 + 1),
                            answered: false,
                        });
                    }
                    Err(_) => {
                        record.status = CallStatus::NoAnswer;
                        record.ended_at = Some(now);
                        self.inner.rtb_pending.remove(&record.id);
                    }
                }
            }
        }
        let decision = calls::decision_for(&record, campaign.as_deref(), &self.settings());
        if let Err(e) = self.commit(&mut slot, record, releases).await {
            if let Some(r) = reserved {
                self.release(r).await;
            }
            return Err(e);
        }
        if reserved.is_some() && self.recorded_late(asked) {
            return Ok(self.withdraw(&mut slot, idx + 1, campaign.as_deref()).await);
        }
        Ok(decision)
    }

    /// Whether a reservation asked for at `asked` was recorded too late to
    /// count: in a cluster, the buyer's next owner may have rebuilt its
    /// counters without it (docs/cluster.md, the settle budget).
    fn recorded_late(&self, asked: Instant) -> bool {
        self.record_budget()
            .is_some_and(|budget| asked.elapsed() > budget)
    }

    /// Withdraws attempt `idx` of the call in `slot` (recorded too late):
    /// released, not dialed, the call ended. Answers the decision for the
    /// withdrawn call even if writing it fails: the stored attempt then
    /// stays open until it expires, which never breaks a cap.
    async fn withdraw(
        &self,
        slot: &mut Option<CallRecord>,
        idx: usize,
        campaign: Option<&Campaign>,
    ) -> Decision {
        let Some(mut record) = slot.clone() else {
            return Decision::Hangup;
        };
        tracing::warn!(call = %record.id, attempt = idx, "a routed attempt was recorded too late for the cluster's settle wait; not dialing it");
        counter!(metrics::CALLS_REJECTED, "reason" => RejectReason::Overloaded.as_str())
            .increment(1);
        let now = Utc::now();
        let releases: Vec<Release> =
            calls::finish_unanswered(&mut record, idx, AttemptOutcome::Canceled, now)
                .into_iter()
                .collect();
        if idx == 0 {
            (record.status, record.reject_reason) =
                (CallStatus::Rejected, Some(RejectReason::Overloaded));
        } else {
            record.status = CallStatus::NoAnswer;
        }
        record.ended_at = Some(now);
        self.inner.rtb_pending.remove(&record.id);
        let decision = calls::decision_for(&record, campaign, &self.settings());
        if let Err(e) = self.commit(slot, record.clone(), releases.clone()).await {
            tracing::warn!(call = %record.id, error = %e, "could not record a withdrawn attempt; it stays open in the store until it expires");
            for r in releases {
                self.release(r).await;
            }
            *slot = Some(record);
        }
        decision
    }

    /// Applies a status callback; duplicates and stale events change nothing.
    pub async fn status_event(&self, event: StatusEvent) -> Result<()> {
        let live = match (event.call_id, &event.parent_call_sid) {
            (Some(id), _) => self.live_call(id).await?,
            (None, Some(parent)) => self.live_by_sid(parent).await?,
            (None, None) => self.live_by_sid(&event.call_sid).await?,
        };
        live.heard_now();
        let mut slot = live.record.lock().await;
        let Some(current) = slot.as_ref() else {
            return Err(EngineError::Overloaded("call is not decided yet".into()));
        };
        let mut record = current.clone();
        let now = event.timestamp.unwrap_or_else(Utc::now);
        let mut releases = Vec::new();

        if event.call_sid == record.call_sid {
            // The inbound leg: the caller is gone once it is terminal.
            if !event.status.is_terminal()
                || record.ended_at.is_some() && record.attempts.iter().all(|a| a.released)
            {
                return Ok(());
            }
            let buyers = |id: Id| self.buyer(id);
            releases = calls::end_call(&mut record, now, &buyers);
            return self.commit(&mut slot, record, releases).await;
        }

        let idx = event
            .attempt
            .map(usize::from)
            .or_else(|| {
                record
                    .attempts
                    .iter()
                    .position(|a| a.dial_call_sid.as_deref() == Some(event.call_sid.as_str()))
            })
            .or_else(|| record.attempts.len().checked_sub(1));
        let Some(idx) = idx.filter(|i| *i < record.attempts.len()) else {
            return Err(EngineError::UnknownCall(format!(
                "{} attempt {:?}",
                record.id, event.attempt
            )));
        };
        let a = &record.attempts[idx];
        let stale = a.outcome.is_terminal()
            || matches!((event.sequence, a.last_sequence), (Some(seq), Some(last)) if seq <= last);
        if stale {
            counter!(metrics::STALE_CALLBACKS).increment(1);
            return Ok(());
        }
        let a = &mut record.attempts[idx];
        if let Some(seq) = event.sequence {
            a.last_sequence = Some(seq);
        }
        if a.dial_call_sid.is_none() {
            a.dial_call_sid = Some(event.call_sid.clone());
        }
        match event.status {
            AttemptOutcome::Pending => {}
            AttemptOutcome::Answered => calls::answer(&mut record, idx, now),
            AttemptOutcome::Completed => {
                let buyer = self.buyer(record.attempts[idx].buyer_id);
                let talk = event.duration_seconds.unwrap_or(0);
                releases.extend(calls::finish_answered(
                    &mut record,
                    idx,
                    talk,
                    now,
                    buyer.as_deref(),
                ));
            }
            outcome => releases.extend(calls::finish_unanswered(&mut record, idx, outcome, now)),
        }
        self.commit(&mut slot, record, releases).await
    }

    async fn live_by_sid(&self, sid: &str) -> Result<Arc<LiveCall>> {
        if let Some(live) = self.inner.live.by_sid(sid) {
            return Ok(live);
        }
        match self.inner.store.get_call_by_sid(sid).await? {
            Some(record) => Ok(self.inner.live.adopt(record)),
            None => Err(EngineError::UnknownCall(sid.to_owned())),
        }
    }

    /// Stores a recording URL on a call.
    pub async fn recording(&self, call_id: Id, url: String) -> Result<()> {
        let live = self.live_call(call_id).await?;
        let mut slot = live.record.lock().await;
        let Some(current) = slot.as_ref() else {
            return Err(EngineError::Overloaded("call is not decided yet".into()));
        };
        if current.recording_url.as_deref() == Some(url.as_str()) {
            return Ok(());
        }
        let mut record = current.clone();
        record.recording_url = Some(url);
        self.commit(&mut slot, record, Vec::new()).await
    }

    fn index_tenant(&self, tenant: Arc<Tenant>) {
        if let Some(old) = self.inner.tenants.insert(tenant.id, tenant.clone())
            && let Some(sid) = &old.twilio_account_sid
        {
            self.inner.account_sids.remove(sid);
        }
        if let Some(sid) = &tenant.twilio_account_sid {
            self.inner.account_sids.insert(sid.clone(), tenant.id);
        }
    }

    fn index_campaign(&self, campaign: &Campaign, old: Option<&Campaign>) {
        if let Some(old) = old {
            self.unindex_campaign(old);
        }
        if let Some(n) = &campaign.phone_number {
            self.inner
                .numbers
                .insert(n.clone(), (campaign.tenant_id, campaign.id));
        }
        self.inner
            .campaign_names
            .insert(name_key(campaign), campaign.id);
        if let Some(source) = source_of(campaign) {
            let mut ids = self.inner.campaigns_by_source.entry(source).or_default();
            if !ids.contains(&campaign.id) {
                ids.push(campaign.id);
            }
        }
    }

    /// The campaigns of `tenant` whose routing goes through pool or router `source`.
    fn campaigns_through(&self, tenant: Id, source: Id) -> Vec<Arc<Campaign>> {
        let ids = self
            .inner
            .campaigns_by_source
            .get(&source)
            .map(|ids| ids.clone())
            .unwrap_or_default();
        ids.iter()
            .filter_map(|id| self.campaign(*id))
            .filter(|c| c.tenant_id == tenant && source_of(c) == Some(source))
            .collect()
    }

    fn unindex_campaign(&self, campaign: &Campaign) {
        if let Some(n) = &campaign.phone_number {
            self.inner
                .numbers
                .remove_if(n, |_, holder| holder.1 == campaign.id);
        }
        self.inner
            .campaign_names
            .remove_if(&name_key(campaign), |_, id| *id == campaign.id);
        if let Some(source) = source_of(campaign) {
            self.inner.campaigns_by_source.alter(&source, |_, mut ids| {
                ids.retain(|id| *id != campaign.id);
                ids
            });
            self.inner
                .campaigns_by_source
                .remove_if(&source, |_, ids| ids.is_empty());
        }
    }

    /// Creates or replaces a tenant (`expected`: the version being replaced).
    pub async fn put_tenant(&self, mut tenant: Tenant, expected: Option<u64>) -> Result<Tenant> {
        let _guard = self.inner.config_lock.lock().await;
        let mut errors = Vec::new();
        if tenant.name.trim().is_empty() {
            errors.push(FieldError::new("name", "must not be empty"));
        }
        // An empty auth token is allowed (a new tenant has not connected
        // Twilio yet): signature checks refuse every webhook for it.
        if !errors.is_empty() {
            return Err(ModelError::Invalid(errors).into());
        }
        if self
            .inner
            .tenants
            .iter()
            .any(|t| t.id != tenant.id && t.name == tenant.name)
        {
            // Never the other tenant's id: the caller may not know it.
            return Err(EngineError::Reference(format!(
                "tenant name {:?} is taken",
                tenant.name
            )));
        }
        if let Some(sid) = &tenant.twilio_account_sid
            && self
                .inner
                .account_sids
                .get(sid)
                .is_some_and(|o| *o != tenant.id)
        {
            return Err(EngineError::Reference(format!(
                "twilio account {sid} belongs to another tenant"
            )));
        }
        tenant.version = self
            .put_doc(DocKind::Tenant, tenant.id, tenant.id, &tenant, expected)
            .await?;
        self.index_tenant(Arc::new(tenant.clone()));
        Ok(tenant)
    }

    /// Creates or replaces a buyer; its actor picks up the change at once.
    pub async fn put_buyer(&self, mut buyer: Buyer, expected: Option<u64>) -> Result<Buyer> {
        let _guard = self.inner.config_lock.lock().await;
        buyer.validate()?;
        if !self.inner.tenants.contains_key(&buyer.tenant_id) {
            return Err(EngineError::Reference(format!(
                "tenant {} does not exist",
                buyer.tenant_id
            )));
        }
        if let Some(old) = self.buyer(buyer.id)
            && old.tenant_id != buyer.tenant_id
        {
            return Err(EngineError::Reference(format!(
                "buyer {} belongs to another tenant",
                buyer.id
            )));
        }
        buyer.version = self
            .put_doc(DocKind::Buyer, buyer.tenant_id, buyer.id, &buyer, expected)
            .await?;
        self.apply_buyer(Arc::new(buyer.clone())).await?;
        Ok(buyer)
    }

    /// Makes a stored buyer the one routing sees: its actor, if started,
    /// takes the new configuration; else the actor reads it when it starts.
    /// Under the buyer's lock, so an actor starting now cannot miss it.
    async fn apply_buyer(&self, config: Arc<Buyer>) -> Result<()> {
        let _held = self.inner.spawner.lock(config.id).await;
        self.inner
            .registry
            .buyer_configs
            .insert(config.id, config.clone());
        if let Some(actor) = self
            .inner
            .registry
            .buyers
            .get(&config.id)
            .map(|a| a.clone())
        {
            let _ = actor.cast(BuyerMsg::Update(config));
        }
        Ok(())
    }

    /// Forgets a deleted buyer and stops its actor.
    fn forget_buyer(&self, id: Id) {
        self.inner.registry.buyer_configs.remove(&id);
        if let Some((_, actor)) = self.inner.registry.buyers.remove(&id) {
            self.inner.registry.children.remove(&actor.get_id());
            actor.stop(None);
        }
    }

    /// Creates or replaces a campaign; its actor and the number directory pick up the change at once.
    pub async fn put_campaign(
        &self,
        mut campaign: Campaign,
        expected: Option<u64>,
    ) -> Result<Campaign> {
        let _guard = self.inner.config_lock.lock().await;
        campaign.validate()?;
        if !self.inner.tenants.contains_key(&campaign.tenant_id) {
            return Err(EngineError::Reference(format!(
                "tenant {} does not exist",
                campaign.tenant_id
            )));
        }
        let old = self.campaign(campaign.id);
        if old
            .as_ref()
            .is_some_and(|o| o.tenant_id != campaign.tenant_id)
        {
            return Err(EngineError::Reference(format!(
                "campaign {} belongs to another tenant",
                campaign.id
            )));
        }
        let mut errors = Vec::new();
        for (i, a) in campaign.buyers.iter().enumerate() {
            if self
                .buyer(a.buyer_id)
                .is_none_or(|b| b.tenant_id != campaign.tenant_id)
            {
                errors.push(FieldError::new(
                    format!("buyers[{i}].buyerId"),
                    format!("buyer {} does not exist", a.buyer_id),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(ModelError::Invalid(errors).into());
        }
        if let Some(n) = &campaign.phone_number
            && let Some(holder) = self
                .inner
                .numbers
                .get(n)
                .map(|h| *h)
                .filter(|h| h.1 != campaign.id)
        {
            // Another tenant's campaign is not named: its existence is all that leaks.
            if holder.0 != campaign.tenant_id {
                return Err(EngineError::Reference(format!(
                    "phone number {n} is already in use"
                )));
            }
            let name = self
                .campaign(holder.1)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            return Err(EngineError::Reference(format!(
                "phone number {n} is already used by campaign {name:?} ({})",
                holder.1
            )));
        }
        if let Some(other) = self
            .inner
            .campaign_names
            .get(&name_key(&campaign))
            .map(|o| *o)
            .filter(|o| *o != campaign.id)
        {
            return Err(EngineError::Reference(format!(
                "campaign name {:?} is taken by campaign {other}",
                campaign.name.trim()
            )));
        }
        let owner = claims::Owner {
            tenant: campaign.tenant_id,
            resource: campaign.id,
        };
        let claimed = match &campaign.phone_number {
            Some(n) => self.claim_number(n, owner).await?,
            None => false,
        };
        let stored = self
            .put_doc(
                DocKind::Campaign,
                campaign.tenant_id,
                campaign.id,
                &campaign,
                expected,
            )
            .await;
        campaign.version = match stored {
            Ok(v) => v,
            Err(e) => {
                if let (true, Some(n)) = (claimed, &campaign.phone_number) {
                    claims::release(self.inner.store.as_ref(), claims::Key::Number(n), owner)
                        .await?;
                }
                return Err(e);
            }
        };
        if let Some(n) = old
            .as_ref()
            .and_then(|o| o.phone_number.as_ref())
            .filter(|n| campaign.phone_number.as_ref() != Some(*n))
        {
            claims::release(self.inner.store.as_ref(), claims::Key::Number(n), owner).await?;
        }
        self.apply_campaign(Arc::new(campaign.clone())).await?;
        Ok(campaign)
    }

    /// Makes sure phone number `n` is `owner`'s tenant's: claimed by the
    /// tenant already (its inventory, or this campaign), or claimed now for
    /// `owner`. Another tenant's number is refused without naming it.
    /// `Ok(true)`: claimed by this call (to release if the write fails).
    async fn claim_number(&self, n: &PhoneNumber, owner: claims::Owner) -> Result<bool> {
        let store = self.inner.store.as_ref();
        let key = claims::Key::Number(n);
        let taken = || EngineError::Reference(format!("phone number {n} is already in use"));
        match claims::owner_of(store, key).await? {
            Some(o) if o.tenant != owner.tenant => Err(taken()),
            Some(_) => Ok(false),
            None if claims::claim(store, key, owner).await? => Ok(true),
            // Another claimant came first: fine only if it is this tenant.
            None => match claims::owner_of(store, key).await? {
                Some(o) if o.tenant != owner.tenant => Err(taken()),
                _ => Ok(false),
            },
        }
    }

    /// Claims the direct number of every stored campaign that has none yet
    /// (campaigns saved before numbers were claimed for them). A number
    /// another tenant holds already is left as it is and logged.
    async fn claim_campaign_numbers(&self) -> Result<()> {
        let campaigns: Vec<Arc<Campaign>> = self
            .inner
            .registry
            .campaign_configs
            .iter()
            .map(|c| c.value().clone())
            .collect();
        for c in campaigns {
            let Some(n) = &c.phone_number else { continue };
            let owner = claims::Owner {
                tenant: c.tenant_id,
                resource: c.id,
            };
            if let Err(e) = self.claim_number(n, owner).await {
                tracing::warn!(campaign = %c.id, number = %n, error = %e, "a campaign's number is held by another tenant");
            }
        }
        Ok(())
    }

    /// Makes a stored campaign the one routing sees: the number directory
    /// and its actor, if started, take the new configuration; else the
    /// actor reads it when its first call starts it.
    async fn apply_campaign(&self, config: Arc<Campaign>) -> Result<()> {
        let old = self.campaign(config.id);
        self.index_campaign(&config, old.as_deref());
        self.update_campaign(config).await;
        Ok(())
    }

    /// A campaign's new configuration, for its actor if started (under its
    /// lock, like [`Engine::apply_buyer`]).
    async fn update_campaign(&self, config: Arc<Campaign>) {
        let _held = self.inner.spawner.lock(config.id).await;
        self.inner
            .registry
            .campaign_configs
            .insert(config.id, config.clone());
        if let Some(actor) = self
            .inner
            .registry
            .campaigns
            .get(&config.id)
            .map(|a| a.clone())
        {
            let _ = actor.cast(CampaignMsg::Update(config));
        }
    }

    /// Forgets a deleted campaign: its number is no longer in service.
    fn forget_campaign(&self, campaign: &Campaign) {
        self.unindex_campaign(campaign);
        self.inner.registry.campaign_configs.remove(&campaign.id);
        if let Some((_, actor)) = self.inner.registry.campaigns.remove(&campaign.id) {
            self.inner.registry.children.remove(&actor.get_id());
            actor.stop(None);
        }
    }

    /// Deletes a buyer of `tenant` (`expected`: the version being deleted;
    /// `None`: whatever is current) and stops its actor. `Ok(false)` when
    /// the tenant has no such buyer. A buyer assigned to an active campaign
    /// is refused, naming the campaigns; inactive campaigns drop the assignment.
    pub async fn delete_buyer(&self, tenant: Id, id: Id, expected: Option<u64>) -> Result<bool> {
        let _guard = self.inner.config_lock.lock().await;
        let Some(buyer) = self.buyer(id).filter(|b| b.tenant_id == tenant) else {
            return Ok(false);
        };
        let mut users: Vec<String> = self
            .inner
            .registry
            .campaign_configs
            .iter()
            .filter(|c| {
                c.tenant_id == tenant
                    && c.status == CampaignStatus::Active
                    && c.buyers.iter().any(|a| a.buyer_id == id)
            })
            .map(|c| format!("{:?} ({})", c.name, c.id))
            .collect();
        if !users.is_empty() {
            users.sort();
            return Err(EngineError::Reference(format!(
                "buyer is assigned to active campaign(s) {}",
                users.join(", ")
            )));
        }
        let expected = expected.unwrap_or(buyer.version);
        if expected != buyer.version {
            return Err(StoreError::Conflict {
                expected: Some(expected),
                found: Some(buyer.version),
            }
            .into());
        }
        // Inactive campaigns forget the buyer, so they stay valid to edit and activate.
        let holders: Vec<Arc<Campaign>> = self
            .inner
            .registry
            .campaign_configs
            .iter()
            .filter(|c| c.tenant_id == tenant && c.buyers.iter().any(|a| a.buyer_id == id))
            .map(|c| c.clone())
            .collect();
        for old in holders {
            let mut c = (*old).clone();
            c.buyers.retain(|a| a.buyer_id != id);
            c.version = self
                .put_doc(DocKind::Campaign, tenant, c.id, &c, Some(c.version))
                .await?;
            self.update_campaign(Arc::new(c)).await;
        }
        self.inner
            .store
            .delete_doc(DocKind::Buyer, tenant, id, expected)
            .await?;
        self.forget_buyer(id);
        Ok(true)
    }

    /// Deletes a campaign of `tenant` (`expected` as for [`Engine::delete_buyer`]),
    /// stops its actor and frees its number: calls to it are then not in
    /// service. `Ok(false)` when the tenant has no such campaign.
    pub async fn delete_campaign(&self, tenant: Id, id: Id, expected: Option<u64>) -> Result<bool> {
        let _guard = self.inner.config_lock.lock().await;
        let Some(campaign) = self.campaign(id).filter(|c| c.tenant_id == tenant) else {
            return Ok(false);
        };
        self.inner
            .store
            .delete_doc(
                DocKind::Campaign,
                tenant,
                id,
                expected.unwrap_or(campaign.version),
            )
            .await?;
        self.forget_campaign(&campaign);
        if let Some(n) = &campaign.phone_number {
            claims::release(
                self.inner.store.as_ref(),
                claims::Key::Number(n),
                claims::Owner {
                    tenant,
                    resource: id,
                },
            )
            .await?;
        }
        Ok(true)
    }

    async fn put_doc<T: serde::Serialize>(
        &self,
        kind: DocKind,
        tenant: Id,
        id: Id,
        value: &T,
        expected: Option<u64>,
    ) -> Result<u64> {
        let body = serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(self
            .inner
            .store
            .put_doc(
                Doc {
                    kind,
                    tenant,
                    id,
                    version: 0,
                    body,
                },
                expected,
            )
            .await?)
    }

    /// Routes the first attempt of a call to an RTB campaign: runs its
    /// router's auction and reserves the best bid it can; with no valid bid,
    /// the campaign's buyers (none: a polite hang-up).
    async fn rtb_route(
        &self,
        campaign: &Campaign,
        call_id: Id,
        caller: Arc<CallerInfo>,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<Pick, RejectReason>> {
        let router = campaign
            .rtb_router_id
            .and_then(|r| self.inner.registry.routers.get(&r).map(|r| r.clone()))
            .filter(|r| r.tenant_id == campaign.tenant_id && r.status == ResourceStatus::Active);
        if let Some(router) = &router
            && let Some(number) = &campaign.phone_number
            && let Some(((bid, dial), rest)) =
                self.take_ping(router.id, number, &caller, call_id).await
        {
            // A publisher pinged for this caller: the call goes to the bid it was promised.
            if !rest.is_empty() {
                self.inner
                    .rtb_pending
                    .insert(call_id, (Instant::now(), rest));
            }
            return Ok(Ok(Pick::Bid(bid, dial)));
        }
        if let Some(router) = router {
            let timeout = Duration::from_millis(router.bidding_timeout_ms.into())
                .min(self.inner.config.rtb_max_auction);
            let call = AuctionCall {
                tenant_id: campaign.tenant_id,
                call_id: Some(call_id),
                campaign_id: Some(campaign.id),
                caller: caller.clone(),
                call_start: now,
                tags: campaign.tags.clone(),
            };
            let mut auction = auction::run(
                &self.inner.spawner,
                &self.inner.bid_client,
                &router,
                timeout,
                call,
            )
            .await;
            let mut bids: VecDeque<ValidBid> = std::mem::take(&mut auction.ranked).into();
            let winner = self
                .reserve_bid(&mut bids, (call_id, 0), &caller, now)
                .await;
            auction.finish(winner.as_ref().map(|w| &w.0));
            self.record_auction(auction);
            if let Some((bid, number)) = winner {
                if !bids.is_empty() {
                    self.inner
                        .rtb_pending
                        .insert(call_id, (Instant::now(), bids));
                }
                return Ok(Ok(Pick::Bid(bid, number)));
            }
        }
        Ok(self
            .route(campaign.id, call_id, 0, caller, Vec::new(), now)
            .await?
            .map(Pick::Buyer))
    }

    /// Takes bids best first until one's target reserves capacity for `key`.
    /// Expired bids and SIP destinations (the dial path speaks E.164 only) are passed over.
    async fn reserve_bid(
        &self,
        bids: &mut VecDeque<ValidBid>,
        key: (Id, u16),
        caller: &Arc<CallerInfo>,
        now: DateTime<Utc>,
    ) -> Option<(ValidBid, PhoneNumber)> {
        while let Some(bid) = bids.pop_front() {
            let switchboard_rtb::Destination::Phone(number) = bid.destination.clone() else {
                continue;
            };
            if bid.is_expired(Instant::now()) {
                continue;
            }
            let expires_at = now + self.inner.config.max_hold();
            if self
                .inner
                .spawner
                .reserve(
                    bid.target_id,
                    key,
                    caller,
                    now,
                    expires_at,
                    Duration::from_millis(250),
                )
                .await
                .is_some()
            {
                return Some((bid, number));
            }
        }
        None
    }

    /// Writes an auction's rows off the call path: the decision does not wait for them.
    fn record_auction(&self, auction: auction::Auction) {
        tracing::debug!(request = %auction.request.id, status = %auction.request.status, overhead = ?auction.overhead, "rtb auction decided");
        let store = self.inner.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store
                .put_auction(&auction.request, &auction.responses)
                .await
            {
                tracing::warn!(error = %e, request = %auction.request.id, "could not record an rtb auction");
            }
        });
    }

    /// A saved RTB target: compiled for auctions, and its capacity actor
    /// (started, or updated between messages). Call after the store write.
    pub async fn put_rtb_target(&self, target: RtbTarget) -> Result<()> {
        let _guard = self.inner.config_lock.lock().await;
        // Two saves racing to notify: the newer version stays.
        if self
            .inner
            .registry
            .bidders
            .get(&target.id)
            .is_some_and(|b| b.target.version > target.version)
        {
            return Ok(());
        }
        self.apply_rtb_target(target).await
    }

    /// Makes a stored RTB target the one auctions ask (as stored: no version check).
    async fn apply_rtb_target(&self, target: RtbTarget) -> Result<()> {
        let target = Arc::new(target);
        let bidder = Arc::new(Bidder::new(target.clone(), self.inner.config.rtb_breaker));
        self.inner.registry.bidders.insert(target.id, bidder);
        let buyer = Arc::new(auction::target_as_buyer(&target));
        // Its capacity actor starts on first need, like a buyer's.
        let _held = self.inner.spawner.lock(target.id).await;
        self.inner
            .registry
            .target_buyers
            .insert(target.id, buyer.clone());
        if let Some(actor) = self
            .inner
            .registry
            .buyers
            .get(&target.id)
            .map(|a| a.clone())
        {
            let _ = actor.cast(BuyerMsg::Update(buyer));
        }
        Ok(())
    }

    /// A deleted RTB target: no longer asked; its capacity actor stops.
    /// Call after the store delete.
    pub async fn remove_rtb_target(&self, id: Id) {
        let _guard = self.inner.config_lock.lock().await;
        self.forget_rtb_target(id);
    }

    fn forget_rtb_target(&self, id: Id) {
        self.inner.registry.bidders.remove(&id);
        self.inner.registry.target_buyers.remove(&id);
        if let Some((_, actor)) = self.inner.registry.buyers.remove(&id) {
            self.inner.registry.children.remove(&actor.get_id());
            actor.stop(None);
        }
    }

    /// A saved RTB router: the next auction uses it. Call after the store write.
    pub async fn put_rtb_router(&self, router: RtbRouter) {
        let _guard = self.inner.config_lock.lock().await;
        if self
            .inner
            .registry
            .routers
            .get(&router.id)
            .is_some_and(|r| r.version > router.version)
        {
            return;
        }
        self.inner
            .registry
            .routers
            .insert(router.id, Arc::new(router));
    }

    /// A deleted RTB router. Call after the store delete.
    pub async fn remove_rtb_router(&self, id: Id) {
        let _guard = self.inner.config_lock.lock().await;
        self.inner.registry.routers.remove(&id);
    }

    /// Whether bid requests may reach loopback, private, link-local and
    /// metadata addresses (`--rtb-allow-private-targets`).
    pub fn rtb_allow_private_targets(&self) -> bool {
        self.inner.config.rtb_allow_private_targets
    }

    /// An RTB router's configuration as the engine knows it.
    pub fn rtb_router(&self, id: Id) -> Option<Arc<RtbRouter>> {
        self.inner.registry.routers.get(&id).map(|r| r.clone())
    }

    /// An RTB target's circuit breaker: `closed`, `open` or `half-open`.
    pub fn rtb_breaker_state(&self, target: Id) -> Option<&'static str> {
        self.inner
            .registry
            .bidders
            .get(&target)
            .map(|b| b.breaker_state())
    }

    /// A buyer's live capacity (starting its actor, which rebuilds it from the store).
    pub async fn buyer_stats(&self, buyer: Id) -> Option<BuyerStats> {
        self.inner
            .spawner
            .stats(buyer, Duration::from_secs(1))
            .await
    }
}

/// The pool (pool routing) or RTB router (RTB routing) a campaign's calls go through.
fn source_of(campaign: &Campaign) -> Option<Id> {
    match campaign.routing_type {
        RoutingType::Pool => campaign.pool_id,
        RoutingType::Rtb => campaign.rtb_router_id,
        RoutingType::Direct => None,
    }
}

/// The key that makes campaign names unique per tenant: trimmed, case folded.
fn name_key(campaign: &Campaign) -> (Id, String) {
    (campaign.tenant_id, campaign.name.trim().to_lowercase())
}

/// Decodes a stored document, taking its version from the store.
fn decode<T: serde::de::DeserializeOwned + Versioned>(doc: &Doc) -> Result<T> {
    let mut value = T::deserialize(&doc.body)
        .map_err(|e| StoreError::Corrupt(format!("{} {}: {e}", doc.kind.as_str(), doc.id)))?;
    value.set_version(doc.version);
    Ok(value)
}

/// Configuration whose version the store assigns.
trait Versioned {
    fn set_version(&mut self, version: u64);
}

impl Versioned for Tenant {
    fn set_version(&mut self, version: u64) {
        self.version = version;
    }
}
impl Versioned for Buyer {
    fn set_version(&mut self, version: u64) {
        self.version = version;
    }
}
impl Versioned for Campaign {
    fn set_version(&mut self, version: u64) {
        self.version = version;
    }
}
impl Versioned for RtbTarget {
    fn set_version(&mut self, version: u64) {
        self.version = version;
    }
}
impl Versioned for switchboard_model::Pool {
    fn set_version(&mut self, version: u64) {
        self.version = version;
    }
}
impl Versioned for RtbRouter {
    fn set_version(&mut self, version: u64) {
        self.version = version;
    }
}
