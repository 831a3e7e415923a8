//! The capacity gateway: every reservation, release and stats request for a
//! buyer (or an RTB target, which has a buyer actor of its own) goes through
//! [`CapacityGateway`]. It takes the request to the buyer's actor on this
//! node, started on first need under the buyer's lock, or to the node that
//! decides the buyer in a cluster. The decision is the buyer actor's
//! ([`BuyerMsg::Reserve`]).
//!
//! A leaf among the actor modules: `campaign`, `auction`, `supervisor` and
//! the engine call it; it uses only `buyer`, `peers` (who decides an id) and
//! the registry. It starts no campaign or pool actor (`supervisor` does),
//! and only hands the buyer actors it starts to the supervisor as their parent.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorCell, ActorRef};
use switchboard_model::{CallerInfo, Id};
use switchboard_routing::{Refusal, ReservationKey};
use switchboard_store::Store;

use crate::api::BuyerStats;
use crate::buyer::{BuyerActor, BuyerArgs, BuyerMsg, Counts};
use crate::error::{EngineError, Result};
use crate::metrics::{CAPACITY_FORWARDED, CAPACITY_UNAVAILABLE};
use crate::peers::{Decided, RemoteAnswer, RemoteRelease, RemoteReserve};
use crate::{Child, Registry};

/// Reaches buyer actors, here or on their node. Cheap to clone.
#[derive(Clone)]
pub(crate) struct CapacityGateway {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) registry: Arc<Registry>,
    /// Longest a reservation may live, for the buyer actors it starts.
    pub(crate) max_hold: chrono::Duration,
    /// The supervisor: parent of the buyer actors it starts.
    pub(crate) supervisor: ActorCell,
}

impl CapacityGateway {
    /// Buyer `id`'s actor (an RTB target's capacity actor too), started on
    /// first need from its profile in the registry; its `pre_start`
    /// rebuilds caps and open reservations from the store. `None` when no
    /// such buyer or target is configured. Never two actors for one buyer:
    /// starting happens under the buyer's lock and the actor is in the
    /// registry before the lock is let go.
    pub(crate) async fn get_or_spawn_buyer(&self, id: Id) -> Result<Option<ActorRef<BuyerMsg>>> {
        if let Some(actor) = self.registry.buyers.get(&id) {
            return Ok(Some(actor.clone()));
        }
        let _held = self.registry.lock(id).await;
        if let Some(actor) = self.registry.buyers.get(&id) {
            return Ok(Some(actor.clone()));
        }
        // In a cluster, only while this node decides the buyer: an actor
        // started after its shard was dropped would keep stale counters.
        if !self.decides_here(id) {
            return Ok(None);
        }
        let Some(capacity) = self.registry.profile(id) else {
            return Ok(None);
        };
        let counts = match self.registry.publisher_configs.get(&id) {
            Some(p) if !self.registry.buyer_configs.contains_key(&id) => Counts::PublisherCalls {
                tenant: p.tenant_id,
            },
            _ => Counts::Attempts,
        };
        let args = BuyerArgs {
            capacity,
            store: self.store.clone(),
            max_hold: self.max_hold,
            counts,
        };
        let (actor, _) = Actor::spawn_linked(None, BuyerActor, args, self.supervisor.clone())
            .await
            .map_err(|e| EngineError::Overloaded(format!("buyer actor did not start: {e}")))?;
        self.registry
            .children
            .insert(actor.get_id(), Child::Buyer(id));
        self.registry.buyers.insert(id, actor.clone());
        // Deleted while it started (whoever deleted it may have looked for
        // the actor before it was registered), or its shard was dropped
        // meanwhile (the drop did not see it): stop it here.
        if !self.registry.serves(id) || !self.decides_here(id) {
            self.registry
                .buyers
                .remove_if(&id, |_, a| a.get_id() == actor.get_id());
            self.registry.children.remove(&actor.get_id());
            actor.stop(None);
            return Ok(None);
        }
        Ok(Some(actor))
    }

    /// Who decides buyer `id` now (this node, outside a cluster).
    fn decide(&self, buyer: Id) -> Decided {
        self.registry
            .cluster
            .get()
            .map_or(Decided::Local, |c| c.route(buyer))
    }

    /// Whether this node decides `id` now (always, outside a cluster).
    pub(crate) fn decides_here(&self, id: Id) -> bool {
        matches!(self.decide(id), Decided::Local)
    }

    /// Reserves capacity of buyer `id` for `key`, wherever its actor lives,
    /// or says why not. What to dial is the caller's to look up (a buyer's
    /// number, or the number an RTB target bid with). A buyer that does not
    /// answer within `timeout` is told to let go, since it may still reserve.
    pub(crate) async fn reserve(
        &self,
        id: Id,
        key: ReservationKey,
        caller: &Arc<CallerInfo>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        timeout: Duration,
    ) -> std::result::Result<(), Refusal> {
        match self.decide(id) {
            Decided::Local => self
                .reserve_here(id, key, caller, now, expires_at, timeout)
                .await
                .unwrap_or(Err(Refusal::Unavailable)),
            Decided::Remote(url) => {
                let Some(cluster) = self.registry.cluster.get() else {
                    return Err(Refusal::Unavailable);
                };
                if cluster.backed_off(&url) {
                    CAPACITY_UNAVAILABLE.inc();
                    return Err(Refusal::Unavailable);
                }
                let req = RemoteReserve {
                    buyer: id,
                    call_id: key.0,
                    attempt: key.1,
                    caller: (**caller).clone(),
                    now,
                    expires_at,
                };
                match tokio::time::timeout(timeout, cluster.peers.reserve(&url, &req)).await {
                    Ok(Ok(RemoteAnswer::Reserved)) => {
                        CAPACITY_FORWARDED.inc_with(&[("result", "reserved")]);
                        if self.registry.serves(id) {
                            Ok(())
                        } else {
                            // Not loaded here yet (configuration lag): let the slot go.
                            self.release(id, key, false).await;
                            Err(Refusal::Unavailable)
                        }
                    }
                    Ok(Ok(RemoteAnswer::Refused(why))) => {
                        CAPACITY_FORWARDED.inc_with(&[("result", "refused")]);
                        Err(why)
                    }
                    Ok(Ok(RemoteAnswer::NotOwner)) => {
                        CAPACITY_UNAVAILABLE.inc();
                        Err(Refusal::Unavailable)
                    }
                    failed => {
                        cluster.peer_failed(&url);
                        CAPACITY_FORWARDED.inc_with(&[("result", "failed")]);
                        match failed {
                            // Nothing reached the owner: nothing to give back.
                            Ok(Err(EngineError::PeerUnreachable(e))) => {
                                tracing::warn!(buyer = %id, peer = %url, error = %e, "the buyer's owner is unreachable");
                            }
                            // It may reserve still: tell it to let go (a release
                            // that arrives first makes it refuse the reservation).
                            _ => self.release(id, key, false).await,
                        }
                        Err(Refusal::Unavailable)
                    }
                }
            }
            Decided::Settling | Decided::Nobody => {
                CAPACITY_UNAVAILABLE.inc();
                Err(Refusal::Unavailable)
            }
        }
    }

    /// Asks this node's actor of buyer `id`: its answer, `Unavailable` when
    /// it did not answer or is not known here, `Err` when it could not start.
    pub(crate) async fn reserve_here(
        &self,
        id: Id,
        key: ReservationKey,
        caller: &Arc<CallerInfo>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        timeout: Duration,
    ) -> Result<std::result::Result<(), Refusal>> {
        let Some(actor) = self.get_or_spawn_buyer(id).await? else {
            return Ok(Err(Refusal::Unavailable));
        };
        let asked = actor
            .call(
                |reply| BuyerMsg::Reserve {
                    key,
                    caller: caller.clone(),
                    now,
                    expires_at,
                    reply,
                },
                Some(timeout),
            )
            .await;
        match asked {
            Ok(ractor::rpc::CallResult::Success(answer)) => Ok(answer),
            _ => {
                tracing::warn!(buyer = %id, "buyer actor did not answer a reservation in time");
                let _ = actor.cast(BuyerMsg::Release {
                    key,
                    answered: false,
                });
                Ok(Err(Refusal::Unavailable))
            }
        }
    }

    /// Gives a reservation back. A local buyer without an actor (none
    /// started since a restart) gets one: waiting on its start means a
    /// release can never slip between its store read and its registration.
    /// Its rebuild sees the released attempt already (callers commit
    /// first), so the message is then a harmless no-op — which is also why
    /// a settling or ownerless shard needs none.
    pub(crate) async fn release(&self, id: Id, key: ReservationKey, answered: bool) {
        match self.decide(id) {
            Decided::Local => match self.get_or_spawn_buyer(id).await {
                Ok(Some(actor)) => {
                    let _ = actor.cast(BuyerMsg::Release { key, answered });
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(buyer = %id, error = %e, "buyer actor could not start to take a release; its reservation expires")
                }
            },
            Decided::Remote(url) => {
                let Some(cluster) = self.registry.cluster.get() else {
                    return;
                };
                let peers = cluster.peers.clone();
                let req = RemoteRelease {
                    buyer: id,
                    call_id: key.0,
                    attempt: key.1,
                    answered,
                };
                // Off the caller's path: the store has the release already.
                tokio::spawn(async move {
                    if let Err(e) = peers.release(&url, &req).await {
                        tracing::warn!(buyer = %req.buyer, peer = %url, error = %e, "forwarding a release failed; the slot frees when its owner next rebuilds or the reservation expires");
                    }
                });
            }
            Decided::Settling | Decided::Nobody => {}
        }
    }

    /// Buyer `id`'s live counters from whichever node decides it.
    pub(crate) async fn stats(&self, id: Id, timeout: Duration) -> Option<BuyerStats> {
        match self.decide(id) {
            Decided::Local => {
                let actor = self.get_or_spawn_buyer(id).await.ok().flatten()?;
                match actor.call(BuyerMsg::Stats, Some(timeout)).await {
                    Ok(ractor::rpc::CallResult::Success(s)) => Some(s),
                    _ => None,
                }
            }
            Decided::Remote(url) => {
                let cluster = self.registry.cluster.get()?;
                tokio::time::timeout(timeout, cluster.peers.stats(&url, id))
                    .await
                    .ok()?
                    .ok()?
            }
            Decided::Settling | Decided::Nobody => None,
        }
    }
}
