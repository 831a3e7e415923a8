//! Switchboard's engine: the actors that own routing state, capacity and
//! recording, behind one facade, [`Engine`]. The HTTP layer (`api/`) calls
//! it with the types in `api` and knows nothing of actors.
//!
//! # A call, from the webhook to a buyer's capacity
//!
//! 1. [`Engine::inbound`] (`lifecycle`) finds the dialed number's campaign —
//!    a DNI pool's number (`pool`) routes through the pool's campaign, and
//!    the pool actor says which visit the call is attributed to — and claims
//!    the `CallSid` in the live-call table (`calls`), so a retried webhook
//!    gets the same decision.
//! 2. [`Engine::route`] asks the node that owns the campaign, in a cluster
//!    (`cluster`); on this node, [`Engine::route_here`] asks the campaign's
//!    actor (`campaign`). That actor orders its buyers and offers the attempt
//!    to each through the capacity gateway (`gateway`), which takes it to the
//!    buyer's actor (`buyer`) here or on the node that decides that buyer.
//!    The buyer actor alone decides whether capacity is reserved. An RTB
//!    campaign first runs an auction (`rtb`, `auction`) and reserves on the
//!    best bid's target the same way.
//! 3. The recorder (`recorder`) commits the call record before the
//!    [`Decision`] goes back: a routed call is a recorded call.
//! 4. [`Engine::dial_result`] falls through to the next buyer when a dial
//!    fails; [`Engine::status_event`] releases the reservation and books
//!    duration, conversion and revenue.
//!
//! # Modules
//!
//! - `api`, `error`: the types the HTTP layer passes in and gets back.
//! - `lifecycle`: a call from inbound to its last status callback.
//! - `config`: configuration writes (the store first, then the owning
//!   actor), the number directory and its indexes, loading at start.
//! - `rtb`: RTB calls (auction, fall-through bids) and RTB configuration;
//!   `auction` runs one auction, `bidding` is its HTTP client with the SSRF
//!   guard, `ping` answers publishers' pings.
//! - `buyer`: one actor per buyer (and per RTB target), the only place
//!   capacity is decided. `campaign`: one actor per campaign. `pool`: one
//!   actor per DNI number pool.
//! - `gateway`: reservations, releases and stats for a buyer, wherever its
//!   actor lives; starts buyer actors on first need.
//! - `supervisor`: parent of every actor; starts campaign actors on first
//!   need and pool actors at once, and restarts any actor that fails,
//!   rebuilt from the store. A started actor lives until its buyer, campaign
//!   or pool is deleted, its shard moves to another node, or the engine
//!   shuts down.
//! - `peers`: the messages between nodes and who decides an id;
//!   `cluster`: joining, shard leases, and serving peers.
//! - `recorder`: group commit of call records; acknowledges after the commit.
//! - `calls`: the live-call table; per-call state changes are serialized.
//! - [`claims`]: system-wide unique values — a phone number's one tenant,
//!   a tag code's one tag — as compare-and-set documents in the store.
//! - `blocklist`: the blocked callers every call and ping is checked against.
//! - `held`: the apply/forget table of the configuration kinds held in
//!   memory, which loading at start and `sync` each loop over.
//! - `sync`: on a shared store, follows configuration other nodes write
//!   ([`Engine::follow_config`]).
//! - `migrate`: rewrites stored documents of an old shape, once, at start.
//! - `reconcile`: asks the carrier about reservations whose final callback
//!   is overdue ([`Engine::reconcile`]).
//! - [`metrics`]: every metric name, in one place.
//!
//! The `impl Engine` blocks (here, `lifecycle`, `config`, `rtb`, `pool`,
//! `ping`, `cluster`, `sync`, `reconcile`) are the facade and may call any
//! actor module. Among the actor modules dependencies point one way:
//! `supervisor` uses `campaign`, `pool` and `gateway`; `campaign` and
//! `auction` use `gateway`; `gateway` uses `buyer` and `peers`; `buyer`, the
//! pool actor and `peers` use none. The [`Registry`] here is the data they share.

// The tour links internals: read it with `cargo doc --document-private-items`.
#![allow(rustdoc::private_intra_doc_links)]

mod api;
mod auction;
mod bidding;
mod blocklist;
mod buyer;
mod calls;
mod campaign;
pub mod claims;
mod cluster;
mod config;
mod error;
mod gateway;
mod held;
mod lifecycle;
pub mod metrics;
mod migrate;
mod peers;
mod ping;
mod pixels;
mod pool;
mod reconcile;
mod recorder;
mod rtb;
mod supervisor;
mod sync;

pub use api::{
    BuyerStats, Decision, DialResult, EngineConfig, InboundCall, LeaseOptions, PoolStats,
    StatusEvent, Tracked,
};
pub use config::{CheckedByWriter, ConfigWrite};
pub use error::{EngineError, Result};
pub use peers::{
    Peers, PoolAnswer, PoolRequest, RemoteAnswer, RemoteRelease, RemoteReserve, RemoteRoute,
    RouteAnswer,
};
pub use ping::Ping;
pub use pixels::{PixelSettings, masked};
pub use reconcile::{CallStatusSource, OpenReservation, ReconcileSettings};
pub use switchboard_cluster::Timing as ClusterTiming;
pub use switchboard_rtb::BreakerConfig;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use dashmap::DashMap;
use ractor::{ActorId, ActorRef};
use switchboard_model::{
    BidRequestRecord, BidResponseRecord, Buyer, CallRecord, Campaign, Id, PhoneNumber, RtbRouter,
    Tenant, call::VisitorSession,
};
use switchboard_routing::Capacity;
use switchboard_rtb::ValidBid;
use switchboard_store::Store;
use tokio::task::JoinHandle;

use crate::auction::Bidder;
use crate::bidding::BidClient;
use crate::buyer::BuyerMsg;
use crate::calls::LiveCalls;
use crate::campaign::CampaignMsg;
use crate::gateway::CapacityGateway;
use crate::pool::{PoolMsg, PoolRoute};
use crate::recorder::Recorder;
use crate::supervisor::SupervisorMsg;

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
    pub(crate) routers: DashMap<Id, Arc<RtbRouter>>,
    pub(crate) publisher_configs: DashMap<Id, Arc<switchboard_model::Publisher>>,
    /// The capacity profiles of publishers with caps (in their tenant's
    /// zone): a buyer actor keyed by the publisher's id counts its calls.
    pub(crate) publisher_profiles: DashMap<Id, Arc<Capacity>>,
    /// Per buyer, target or campaign id: held while its actor starts or its
    /// configuration changes (see [`Registry::lock`]).
    spawn_locks: DashMap<Id, Arc<tokio::sync::Mutex<()>>>,
    /// Set when the node joined a cluster: who owns which buyer's capacity.
    pub(crate) cluster: std::sync::OnceLock<Arc<peers::Cluster>>,
}

impl Registry {
    /// The profile buyer actor `id` judges by: a buyer's, an RTB target's,
    /// or a capped publisher's.
    pub(crate) fn profile(&self, id: Id) -> Option<Arc<Capacity>> {
        match self.buyer_configs.get(&id) {
            Some(b) => Some(Arc::new(Capacity::from(&**b))),
            None => self
                .bidders
                .get(&id)
                .map(|b| b.capacity.clone())
                .or_else(|| self.publisher_profiles.get(&id).map(|p| p.clone())),
        }
    }

    /// Buyer `id`'s configuration: what its calls are dialed at and paid by.
    pub(crate) fn buyer(&self, id: Id) -> Option<Arc<Buyer>> {
        self.buyer_configs.get(&id).map(|b| b.clone())
    }

    /// Whether `id` is a buyer, RTB target or capped publisher this node
    /// knows, so may have a buyer actor.
    pub(crate) fn serves(&self, id: Id) -> bool {
        self.buyer_configs.contains_key(&id)
            || self.bidders.contains_key(&id)
            || self.publisher_profiles.contains_key(&id)
    }

    /// Takes the lock of actor `id`, which serializes starting it and
    /// changing its configuration: concurrent first callers wait on it and
    /// all get the one actor the first of them started.
    pub(crate) async fn lock(&self, id: Id) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self.spawn_locks.entry(id).or_default().clone();
        lock.lock_owned().await
    }
}

/// What a supervised actor is, so it can be started again.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Child {
    Buyer(Id),
    Campaign(Id),
    Pool(Id),
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
    capacity: CapacityGateway,
    supervisor: ActorRef<SupervisorMsg>,
    recorder: Recorder<CallRecord>,
    /// Group commit of DNI visitor sessions (a lease's attribution).
    sessions: Recorder<VisitorSession>,
    /// Group commit of RTB auctions' bid rows, off the call path.
    auctions: Recorder<(BidRequestRecord, Vec<BidResponseRecord>)>,
    background: std::sync::Mutex<Vec<JoinHandle<()>>>,
    live: LiveCalls,
    tenants: DashMap<Id, Arc<Tenant>>,
    account_sids: DashMap<String, Id>,
    /// Tracking number → (tenant, campaign). Reads never wait on a writer for long.
    numbers: DashMap<PhoneNumber, (Id, Id)>,
    /// DNI pool number → its pool.
    pool_numbers: DashMap<PhoneNumber, PoolRoute>,
    /// The number inventory, by id (what `sync` compares versions with).
    inventory: DashMap<Id, Arc<switchboard_model::Number>>,
    /// Inventory number → (tenant, publisher), for the numbers that carry a
    /// publisher's traffic: a call finds its publisher without a store read.
    number_publishers: DashMap<PhoneNumber, (Id, Id)>,
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
    /// Every tenant's blocked callers (`blocklist`).
    blocklist: std::sync::RwLock<switchboard_routing::Blocklist>,
    /// The blocklist revision this node's index was read at.
    block_followed: blocklist::Followed,
    /// The pixel outbox's send side (`pixels`).
    outbox: Arc<pixels::Outbox>,
    /// Where the outbox's work runs, below the call path's priority.
    pixel_runtime: pixels::PixelRuntime,
}

/// How long an ended call stays in the live table for late callbacks.
const EVICT_AFTER: chrono::Duration = chrono::Duration::minutes(2);

impl Engine {
    /// Loads configuration from the store. Buyer and campaign actors start
    /// lazily, on first need; pool actors start now.
    pub async fn start(store: Arc<dyn Store>, config: EngineConfig) -> Result<Engine> {
        let registry = Arc::new(Registry::default());
        // A reservation lives as long as the longest possible call, plus ringing.
        let max_hold = config.max_hold();
        let (supervisor, capacity) =
            supervisor::start(store.clone(), registry.clone(), max_hold).await?;
        let (recorder, recorder_task) = Recorder::start(store.clone(), &config);
        let (sessions, sessions_task) = Recorder::start(store.clone(), &config);
        let (auctions, auctions_task) = Recorder::start(store.clone(), &config);
        let bid_client = BidClient::new(config.rtb_allow_private_targets);
        let outbox = Arc::new(pixels::Outbox::new(config.pixels.clone()));
        let engine = Engine {
            inner: Arc::new(Inner {
                store: store.clone(),
                config,
                registry,
                capacity,
                supervisor,
                recorder,
                sessions,
                auctions,
                background: std::sync::Mutex::new(vec![
                    recorder_task,
                    sessions_task,
                    auctions_task,
                ]),
                live: LiveCalls::default(),
                tenants: DashMap::new(),
                account_sids: DashMap::new(),
                numbers: DashMap::new(),
                pool_numbers: DashMap::new(),
                inventory: DashMap::new(),
                number_publishers: DashMap::new(),
                campaign_names: DashMap::new(),
                campaigns_by_source: DashMap::new(),
                config_lock: tokio::sync::Mutex::new(()),
                bid_client,
                rtb_pending: DashMap::new(),
                pings: DashMap::new(),
                blocklist: Default::default(),
                block_followed: Default::default(),
                outbox,
                pixel_runtime: pixels::PixelRuntime::new(store.event_positions().is_some())
                    .map_err(|e| EngineError::Overloaded(format!("pixel threads: {e}")))?,
            }),
        };
        migrate::run(store.as_ref()).await?;
        engine.load_config().await?;
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
        engine.push_background(recorder::watch_lag(
            Arc::downgrade(&store),
            Duration::from_secs(1),
        ));
        for task in pixels::start(&engine) {
            engine.push_background(task);
        }
        let weak = Arc::downgrade(&engine.inner);
        engine.push_background(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                Engine { inner }.sample_outbox().await;
            }
        }));
        Ok(engine)
    }

    /// Keeps a task to stop at shutdown.
    fn push_background(&self, task: JoinHandle<()>) {
        if let Ok(mut tasks) = self.inner.background.lock() {
            tasks.push(task);
        }
    }

    /// Stops taking calls, flushes the recorder and stops the actors.
    pub async fn shutdown(&self) {
        self.inner.recorder.close();
        self.inner.sessions.close();
        self.inner.auctions.close();
        let tasks: Vec<JoinHandle<()>> = match self.inner.background.lock() {
            Ok(mut t) => t.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        // The first three tasks are the recorders: wait for their final
        // commits; the rest just stop.
        let mut tasks = tasks.into_iter();
        for recorder in tasks.by_ref().take(3) {
            let _ = recorder.await;
        }
        for t in tasks {
            t.abort();
        }
        self.inner.pixel_runtime.stop().await;
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

    /// A buyer's live capacity (starting its actor, which rebuilds it from the store).
    pub async fn buyer_stats(&self, buyer: Id) -> Option<BuyerStats> {
        self.inner
            .capacity
            .stats(buyer, Duration::from_secs(1))
            .await
    }
}
