//! Buyer capacity across nodes. On one node (or without `join_cluster`)
//! every buyer actor is local. In a cluster each buyer's capacity belongs to
//! the node that owns its shard (see `switchboard_cluster` for the
//! protocol): reservations, releases and stats for another node's buyer go
//! to that node through [`Peers`]; for a shard with no owner right now the
//! buyer is skipped, never decided twice.
//!
//! Every reservation, release and stats request of the engine goes through
//! the capacity gateway (`gateway`), which asks [`Cluster`] who decides the
//! buyer. This module is the engine's side: joining, renewing and leaving
//! (lease rounds, dropping a lost shard's actors), and serving peers' requests.
//!
//! Calls are owned the same way: a node gives a new call an id in a shard it
//! decides, so the node that took the call keeps deciding it, and the API
//! forwards the call's later webhooks (dial result, status, recording) to
//! the shard's owner ([`Engine::call_owner`]). One node changes a call at a
//! time, so no update of one node overwrites another's.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use switchboard_cluster::{
    Route, SHARD_PREFIX, Step, Timing, node_holder, node_lease, shard_lease, shard_of,
};
use switchboard_model::{Id, Refusal, RejectReason, Skipped, new_id};

use crate::api::BuyerStats;
use crate::campaign::RouteOutcome;
use crate::error::{EngineError, Result};
use crate::metrics::CLUSTER_SHARDS_HELD;
use crate::peers::{
    Cluster, Decided, Peers, PoolAnswer, PoolRequest, RemoteAnswer, RemoteRelease, RemoteReserve,
    RemoteRoute, RouteAnswer,
};
use crate::{Engine, supervisor};

impl Engine {
    /// Joins the cluster of nodes sharing this engine's store: this node is
    /// reachable by its peers at `url`. Renews leases every
    /// `timing.renew_every` until shutdown. Returns after the first round,
    /// so the node owns its shards (or knows who does) when it takes calls.
    pub async fn join_cluster(
        &self,
        url: &str,
        timing: Timing,
        peers: Arc<dyn Peers>,
    ) -> Result<()> {
        timing.check().map_err(EngineError::Reference)?;
        // The same id across restarts (the URL is the node): a restarted node
        // waits for its own old leases like anyone's, and ids do not pile up.
        let me = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, url.as_bytes()).to_string();
        let holder = node_holder(url, &new_id().simple().to_string());
        let cluster = Arc::new(Cluster::new(me, timing, url, holder, peers));
        if self.inner.registry.cluster.set(cluster).is_err() {
            return Err(EngineError::Reference(
                "this node has joined a cluster already".into(),
            ));
        }
        self.renew_leases().await?;
        let weak = Arc::downgrade(&self.inner);
        let every = timing
            .renew_every
            .to_std()
            .unwrap_or(Duration::from_secs(2));
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                if let Err(e) = (Engine { inner }).renew_leases().await {
                    tracing::warn!(error = %e, "renewing cluster leases failed; shards lapse unless the next round succeeds");
                }
            }
        });
        self.push_background(task);
        Ok(())
    }

    /// One round: renew this node's lease, read all leases, claim or give
    /// up shards as the plan says. A failed claim is logged and the round
    /// goes on: that shard lapses unless a later round succeeds.
    async fn renew_leases(&self) -> Result<()> {
        let Some(cluster) = self.inner.registry.cluster.get() else {
            return Ok(());
        };
        let store = &self.inner.store;
        let now = Utc::now();
        let (me, ttl) = {
            let own = cluster.own.read().unwrap_or_else(|e| e.into_inner());
            (own.me().to_owned(), own.timing().ttl)
        };
        let node = store
            .claim_lease(&node_lease(&me), &cluster.holder, now, now + ttl)
            .await?;
        if node.holder != cluster.holder {
            // Another process runs with this node's URL (and so its id):
            // decide nothing, whatever this one held.
            let held = cluster
                .own
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .forget_all(now);
            for shard in held {
                self.drop_shard(shard).await;
            }
            return Err(EngineError::Reference(format!(
                "another process is live as cluster node {} ({}); each node needs its own --cluster-url",
                cluster.url, node.holder
            )));
        }
        // One listing of the (small) table: the plan picks nodes and shards out.
        let leases = store.leases("").await?;
        let plan = cluster
            .own
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .plan(now, &leases);
        for shard in plan.lost {
            self.drop_shard(shard).await;
        }
        // All at once: on ScyllaDB each claim is a serial read and an LWT,
        // and one after another they could outlast the lease.
        let mut claims = tokio::task::JoinSet::new();
        for step in plan.steps {
            let (store, me) = (store.clone(), me.clone());
            claims.spawn(async move {
                match step {
                    // This node stopped deciding the shard (its state is
                    // dropped above): the next owner's settle wait counts from here.
                    Step::GiveUp(shard) => {
                        let stopped = Utc::now();
                        (
                            shard,
                            None,
                            store
                                .claim_lease(&shard_lease(shard), &me, stopped, stopped)
                                .await,
                        )
                    }
                    Step::Claim { shard, prior } => {
                        let claimed = store
                            .claim_lease(&shard_lease(shard), &me, now, now + ttl)
                            .await;
                        (shard, Some(prior), claimed)
                    }
                }
            });
        }
        while let Some(joined) = claims.join_next().await {
            let Ok((shard, claim, result)) = joined else {
                continue;
            };
            match (claim, result) {
                (None, Ok(_)) => {}
                (None, Err(e)) => {
                    tracing::warn!(shard, error = %e, "giving a shard lease up failed; it lapses on its own")
                }
                (Some(prior), Ok(lease)) => {
                    // Drop anything stale before the shard may be served.
                    if cluster
                        .own
                        .read()
                        .unwrap_or_else(|e| e.into_inner())
                        .starts_over(shard, now, &lease)
                    {
                        self.drop_shard(shard).await;
                    }
                    cluster
                        .own
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .claimed(shard, prior.as_ref(), now, &lease);
                }
                (Some(_), Err(e)) => {
                    tracing::warn!(shard, error = %e, "claiming a shard lease failed; retrying next round")
                }
            }
        }
        let held = cluster
            .own
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .held_count(Utc::now());
        CLUSTER_SHARDS_HELD.set(held as f64);
        Ok(())
    }

    /// Leaves the cluster: stops deciding for its shards and gives their
    /// leases up, so their next owners start after `settle` rather than
    /// after the leases lapse. Gives up every shard lease the store says
    /// this node holds, including one a renewal stopped mid-round claimed.
    pub(crate) async fn leave_cluster(&self) {
        let Some(cluster) = self.inner.registry.cluster.get() else {
            return;
        };
        let (me, held) = {
            let mut own = cluster.own.write().unwrap_or_else(|e| e.into_inner());
            (own.me().to_owned(), own.forget_all(Utc::now()))
        };
        let leases = self.inner.store.leases("").await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not read the leases to give them up; they lapse on their own");
            Vec::new()
        });
        // Replaced by another process with this URL (after a long pause):
        // the shard leases under this id are its now.
        let replaced = leases
            .iter()
            .any(|l| l.name == node_lease(&me) && l.holder != cluster.holder);
        let mine: Vec<u16> = if replaced {
            Vec::new()
        } else {
            leases
                .iter()
                .filter(|l| l.holder == me)
                .filter_map(|l| l.name.strip_prefix(SHARD_PREFIX)?.parse().ok())
                .collect()
        };
        for &shard in &held {
            self.drop_shard(shard).await;
        }
        let stopped = Utc::now();
        for shard in mine {
            if let Err(e) = self
                .inner
                .store
                .claim_lease(&shard_lease(shard), &me, stopped, stopped)
                .await
            {
                tracing::warn!(shard, error = %e, "could not give a shard lease up; it lapses on its own");
            }
        }
        if let Err(e) = self
            .inner
            .store
            .claim_lease(&node_lease(&me), &cluster.holder, stopped, stopped)
            .await
        {
            tracing::warn!(error = %e, "could not end this node's lease; it lapses on its own");
        }
    }

    /// The base URL of the node deciding buyer `id`'s capacity now (this
    /// node's own URL when it decides); `None` when not in a cluster or
    /// while nobody may decide.
    pub fn capacity_owner(&self, id: Id) -> Option<String> {
        let cluster = self.inner.registry.cluster.get()?;
        match cluster.route(id) {
            Decided::Local => Some(cluster.url.clone()),
            Decided::Remote(url) => Some(url),
            Decided::Settling | Decided::Nobody => None,
        }
    }

    /// Whether this node sees every shard decided by the node that should
    /// own it (`false` when not in a cluster): after nodes come or go,
    /// ownership has settled once every node says so.
    pub fn cluster_converged(&self) -> bool {
        self.inner.registry.cluster.get().is_some_and(|c| {
            c.own
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .converged(Utc::now())
        })
    }

    /// An id for a new call, in a shard this node decides (so its later
    /// webhooks come back here); any id when not in a cluster or deciding
    /// no shard.
    pub(crate) fn new_call_id(&self) -> Id {
        let Some(cluster) = self.inner.registry.cluster.get() else {
            return new_id();
        };
        let own = cluster.own.read().unwrap_or_else(|e| e.into_inner());
        let now = Utc::now();
        // A node decides about 1/N of the shards: a few tries find one.
        let mut id = new_id();
        for _ in 0..512 {
            if own.route(shard_of(id), now) == Route::Local {
                break;
            }
            id = new_id();
        }
        id
    }

    /// In a cluster, the longest a reservation may wait for its call's
    /// durable record: a buyer's next owner starts `settle` after the last
    /// grant its predecessor could make, and rebuilds from the store.
    pub(crate) fn record_budget(&self) -> Option<Duration> {
        let cluster = self.inner.registry.cluster.get()?;
        let t = cluster
            .own
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .timing();
        Some((t.settle - t.max_skew).to_std().unwrap_or(Duration::ZERO))
    }

    /// The base URL of the node that decides call `id` now, when that is
    /// another node; `None` when this node should handle the call's webhook
    /// (it decides, there is no cluster, or nobody decides right now).
    pub fn call_owner(&self, id: Id) -> Option<String> {
        match self.inner.registry.cluster.get()?.route(id) {
            Decided::Remote(url) => Some(url),
            Decided::Local | Decided::Settling | Decided::Nobody => None,
        }
    }

    /// Drops what this node kept for `shard`: buyer actors, live calls,
    /// and DNI leases (pool actors start again empty: leases live in memory,
    /// and visits lease again on their next heartbeat).
    async fn drop_shard(&self, shard: u16) {
        self.stop_shard_actors(shard).await;
        self.inner.live.retain(|id| shard_of(id) != shard);
        let pools: Vec<Arc<switchboard_model::Pool>> = self
            .inner
            .registry
            .pool_configs
            .iter()
            .filter(|p| shard_of(*p.key()) == shard)
            .map(|p| p.clone())
            .collect();
        for pool in pools {
            if let Err(e) = supervisor::spawn_pool(&self.inner.capacity, pool).await {
                tracing::warn!(error = %e, "restarting a pool actor for a moved shard failed");
            }
        }
    }

    /// Stops this node's buyer and campaign actors in `shard`: their state
    /// is stale once another node may have decided for them. (Started again
    /// on first need, they rebuild from the store.)
    /// Each under the actor's lock, so no start of it is half done.
    async fn stop_shard_actors(&self, shard: u16) {
        let registry = &self.inner.registry;
        let buyers: Vec<Id> = registry
            .buyers
            .iter()
            .map(|b| *b.key())
            .filter(|id| shard_of(*id) == shard)
            .collect();
        for id in buyers {
            let _held = registry.lock(id).await;
            if let Some((_, actor)) = registry.buyers.remove(&id) {
                registry.children.remove(&actor.get_id());
                // Waited for: a grant in progress lands before the lease is given up.
                let _ = actor
                    .stop_and_wait(None, Some(Duration::from_secs(1)))
                    .await;
            }
        }
        let campaigns: Vec<Id> = registry
            .campaigns
            .iter()
            .map(|c| *c.key())
            .filter(|id| shard_of(*id) == shard)
            .collect();
        for id in campaigns {
            let _held = registry.lock(id).await;
            if let Some((_, actor)) = registry.campaigns.remove(&id) {
                registry.children.remove(&actor.get_id());
                actor.stop(None);
            }
        }
    }

    /// Asks the node owning `pool`'s leases, when that is another node;
    /// `None`: answer here (this node owns it, no cluster, or the owner
    /// could not be reached).
    pub(crate) async fn ask_pool_owner(&self, pool: Id, req: &PoolRequest) -> Option<PoolAnswer> {
        let cluster = self.inner.registry.cluster.get()?;
        let Decided::Remote(url) = cluster.route(pool) else {
            return None;
        };
        match tokio::time::timeout(
            self.inner.config.route_timeout,
            cluster.peers.pool(&url, req),
        )
        .await
        {
            Ok(Ok(PoolAnswer::NotOwner)) => None,
            Ok(Ok(answer)) => Some(answer),
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_owned(),
                };
                tracing::warn!(%pool, peer = %url, error = %why, "asking a pool's owner failed; answering here");
                None
            }
        }
    }

    /// Routes through the node owning the campaign, when that is another
    /// node; `None`: route here (this node owns it, no cluster, nobody owns
    /// it now, or the owner could not be reached quickly).
    pub(crate) async fn ask_campaign_owner(
        &self,
        req: &RemoteRoute,
    ) -> Option<Result<RouteOutcome>> {
        let cluster = self.inner.registry.cluster.get()?;
        let Decided::Remote(url) = cluster.route(req.campaign) else {
            return None;
        };
        match tokio::time::timeout(
            self.inner.config.route_timeout,
            cluster.peers.route(&url, req),
        )
        .await
        {
            Ok(Ok(RouteAnswer::Buyer {
                id,
                mut skipped,
                duplicate,
            })) => {
                let buyer = match self.buyer(id) {
                    Some(buyer) => Ok(buyer),
                    // Not loaded here yet (configuration lag): let the slot go.
                    None => {
                        self.inner
                            .capacity
                            .release(id, (req.call_id, req.attempt), false)
                            .await;
                        skipped.push(Skipped {
                            buyer_id: id,
                            reason: Refusal::Unavailable,
                        });
                        Err(RejectReason::NoBuyerAvailable)
                    }
                };
                Some(Ok(RouteOutcome {
                    buyer,
                    skipped,
                    duplicate,
                }))
            }
            Ok(Ok(RouteAnswer::Rejected {
                reason,
                skipped,
                duplicate,
            })) => Some(Ok(RouteOutcome {
                buyer: Err(reason),
                skipped,
                duplicate,
            })),
            Ok(Ok(RouteAnswer::NotOwner)) => None,
            // Nothing reached the owner: route here instead.
            Ok(Err(EngineError::PeerUnreachable(e))) => {
                tracing::warn!(campaign = %req.campaign, peer = %url, error = %e, "the campaign's owner is unreachable; routing here");
                None
            }
            // The owner may have reserved a buyer for this attempt: let it go
            // everywhere and refuse the call, as a local timeout does.
            // (Routing here under the same key would meet those releases.)
            Ok(Err(e)) => {
                tracing::warn!(campaign = %req.campaign, peer = %url, error = %e, "asking a campaign's owner failed");
                self.route_timed_out(req.campaign, (req.call_id, req.attempt))
                    .await;
                Some(Err(EngineError::Overloaded(
                    "the campaign's node did not answer".into(),
                )))
            }
            Err(_) => {
                self.route_timed_out(req.campaign, (req.call_id, req.attempt))
                    .await;
                Some(Err(EngineError::Overloaded(
                    "routing decision timed out".into(),
                )))
            }
        }
    }

    /// Whether another node owns `id` now (so a peer asked the wrong node).
    fn owned_elsewhere(&self, id: Id) -> bool {
        matches!(
            self.inner.registry.cluster.get().map(|c| c.route(id)),
            Some(Decided::Remote(_))
        )
    }

    /// A peer's routing question for a campaign this node should own.
    pub async fn serve_route(&self, req: RemoteRoute) -> Result<RouteAnswer> {
        // A campaign this node has not loaded yet (configuration lag): the asker routes.
        if self.owned_elsewhere(req.campaign) || self.campaign(req.campaign).is_none() {
            return Ok(RouteAnswer::NotOwner);
        }
        let outcome = self
            .route_here(
                req.campaign,
                req.call_id,
                req.attempt,
                Arc::new(req.caller),
                req.exclude,
                req.now,
            )
            .await?;
        let (skipped, duplicate) = (outcome.skipped, outcome.duplicate);
        Ok(match outcome.buyer {
            Ok(buyer) => RouteAnswer::Buyer {
                id: buyer.id,
                skipped,
                duplicate,
            },
            Err(reason) => RouteAnswer::Rejected {
                reason,
                skipped,
                duplicate,
            },
        })
    }

    /// A peer's question about a pool whose leases this node should own.
    pub async fn serve_pool(&self, req: PoolRequest) -> Result<PoolAnswer> {
        let pool = match &req {
            PoolRequest::Track { pool, .. }
            | PoolRequest::Attribute { pool, .. }
            | PoolRequest::Stats { pool } => *pool,
        };
        if self.owned_elsewhere(pool) {
            return Ok(PoolAnswer::NotOwner);
        }
        Ok(match req {
            PoolRequest::Track {
                pool,
                visit,
                options,
                now,
            } => PoolAnswer::Tracked(self.track_here(pool, *visit, options, now).await?),
            PoolRequest::Attribute { pool, number, at } => {
                PoolAnswer::Attribution(self.attribute_here(pool, &number, at).await)
            }
            PoolRequest::Stats { pool } => PoolAnswer::Stats(self.pool_stats_here(pool).await?),
        })
    }

    /// A peer's reservation for a buyer this node should own.
    pub async fn serve_reserve(&self, req: RemoteReserve) -> RemoteAnswer {
        // A buyer this node has not loaded yet (configuration lag) is not its to judge.
        if !self.inner.capacity.decides_here(req.buyer) || !self.inner.registry.serves(req.buyer) {
            return RemoteAnswer::NotOwner;
        }
        let caller = Arc::new(req.caller);
        let timeout = Duration::from_millis(250);
        match self
            .inner
            .capacity
            .reserve_here(
                req.buyer,
                (req.call_id, req.attempt),
                &caller,
                req.now,
                req.expires_at,
                timeout,
            )
            .await
        {
            Ok(Ok(())) => RemoteAnswer::Reserved,
            Ok(Err(why)) => RemoteAnswer::Refused(why),
            Err(_) => RemoteAnswer::Refused(Refusal::Unavailable),
        }
    }

    /// A peer's release for a buyer this node should own (forwarded no further).
    pub async fn serve_release(&self, req: RemoteRelease) {
        if self.inner.capacity.decides_here(req.buyer) {
            self.inner
                .capacity
                .release(req.buyer, (req.call_id, req.attempt), req.answered)
                .await;
        }
    }

    /// A buyer's counters for a peer: `None` unless this node owns it.
    pub async fn serve_stats(&self, buyer: Id) -> Option<BuyerStats> {
        if !self.inner.capacity.decides_here(buyer) {
            return None;
        }
        self.inner
            .capacity
            .stats(buyer, Duration::from_millis(250))
            .await
    }
}
