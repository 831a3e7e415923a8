//! The supervisor: parent of every buyer, campaign and pool actor, and the
//! [`Spawner`] that starts them. Buyer and campaign actors start lazily, on
//! first need, through `get_or_spawn_*` (one start per id under a per-id
//! lock), so idle buyers cost a configuration entry, not an actor. When an
//! actor fails the supervisor drops it from the registry and starts its
//! successor from the current configuration — whose `pre_start` rebuilds its
//! state from the store — and counts the restart. It never stops the tree
//! because one child died.

use std::sync::Arc;

use metrics::counter;
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use switchboard_model::{Id, Pool};
use switchboard_store::Store;

use crate::buyer::{BuyerActor, BuyerArgs, BuyerMsg};
use crate::campaign::{CampaignActor, CampaignArgs, CampaignMsg};
use crate::metrics::ACTOR_RESTARTS;
use crate::pool::PoolActor;
use crate::{EngineError, Registry, Result};

/// What a supervised actor is, so it can be started again.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Child {
    Buyer(Id),
    Campaign(Id),
    Pool(Id),
}

/// Starts supervised actors and records them in the registry.
#[derive(Clone)]
pub(crate) struct Spawner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) max_hold: chrono::Duration,
    pub(crate) supervisor: ActorCell,
}

impl Spawner {
    /// Takes the lock of actor `id`, which serializes starting it and
    /// changing its configuration: concurrent first callers wait on it and
    /// all get the one actor the first of them started.
    pub(crate) async fn lock(&self, id: Id) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self.registry.spawn_locks.entry(id).or_default().clone();
        lock.lock_owned().await
    }

    /// Buyer `id`'s actor (an RTB target's capacity actor too), started on
    /// first need from its configuration in the registry; its `pre_start`
    /// rebuilds caps and open reservations from the store. `None` when no
    /// such buyer or target is configured. Never two actors for one buyer:
    /// starting happens under the buyer's lock and the actor is in the
    /// registry before the lock is let go.
    pub(crate) async fn get_or_spawn_buyer(&self, id: Id) -> Result<Option<ActorRef<BuyerMsg>>> {
        if let Some(actor) = self.registry.buyers.get(&id) {
            return Ok(Some(actor.clone()));
        }
        let _held = self.lock(id).await;
        if let Some(actor) = self.registry.buyers.get(&id) {
            return Ok(Some(actor.clone()));
        }
        // In a cluster, only while this node decides the buyer: an actor
        // started after its shard was dropped would keep stale counters.
        if !self.decides_here(id) {
            return Ok(None);
        }
        let Some(buyer) = self.registry.buyer_config(id) else {
            return Ok(None);
        };
        let args = BuyerArgs {
            buyer,
            store: self.store.clone(),
            max_hold: self.max_hold,
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
        if self.registry.buyer_config(id).is_none() || !self.decides_here(id) {
            self.registry
                .buyers
                .remove_if(&id, |_, a| a.get_id() == actor.get_id());
            self.registry.children.remove(&actor.get_id());
            actor.stop(None);
            return Ok(None);
        }
        Ok(Some(actor))
    }

    /// Campaign `id`'s actor, started on first need like a buyer's
    /// ([`Spawner::get_or_spawn_buyer`]); `None` when no such campaign.
    pub(crate) async fn get_or_spawn_campaign(
        &self,
        id: Id,
    ) -> Result<Option<ActorRef<CampaignMsg>>> {
        if let Some(actor) = self.registry.campaigns.get(&id) {
            return Ok(Some(actor.clone()));
        }
        let _held = self.lock(id).await;
        if let Some(actor) = self.registry.campaigns.get(&id) {
            return Ok(Some(actor.clone()));
        }
        let Some(campaign) = self.registry.campaign_configs.get(&id).map(|c| c.clone()) else {
            return Ok(None);
        };
        let args = CampaignArgs {
            campaign,
            store: self.store.clone(),
            spawner: self.clone(),
        };
        let (actor, _) = Actor::spawn_linked(None, CampaignActor, args, self.supervisor.clone())
            .await
            .map_err(|e| EngineError::Overloaded(format!("campaign actor did not start: {e}")))?;
        self.registry
            .children
            .insert(actor.get_id(), Child::Campaign(id));
        self.registry.campaigns.insert(id, actor.clone());
        if !self.registry.campaign_configs.contains_key(&id) {
            self.registry
                .campaigns
                .remove_if(&id, |_, a| a.get_id() == actor.get_id());
            self.registry.children.remove(&actor.get_id());
            actor.stop(None);
            return Ok(None);
        }
        Ok(Some(actor))
    }

    pub(crate) async fn pool(&self, pool: Arc<Pool>) -> Result<()> {
        let id = pool.id;
        let (actor, _) = Actor::spawn_linked(None, PoolActor, pool, self.supervisor.clone())
            .await
            .map_err(|e| EngineError::Overloaded(format!("pool actor did not start: {e}")))?;
        self.registry
            .children
            .insert(actor.get_id(), Child::Pool(id));
        if let Some(old) = self.registry.pools.insert(id, actor) {
            self.registry.children.remove(&old.get_id());
            old.stop(None);
        }
        Ok(())
    }

    async fn restart(&self, child: Child) {
        let result = match child {
            // The failed actor is out of the registry already: this starts
            // its successor, unless a caller needed it first.
            Child::Buyer(id) => self.get_or_spawn_buyer(id).await.map(drop),
            Child::Campaign(id) => self.get_or_spawn_campaign(id).await.map(drop),
            Child::Pool(id) => match self.registry.pool_configs.get(&id).map(|p| p.clone()) {
                Some(p) => self.pool(p).await,
                None => Ok(()),
            },
        };
        if let Err(e) = result {
            tracing::error!(?child, error = %e, "restarting an actor failed");
        }
    }
}

/// Messages: none; the supervisor only handles supervision events.
pub(crate) enum SupervisorMsg {}

/// The supervisor actor.
pub(crate) struct Supervisor;

/// Supervisor arguments: what a `Spawner` needs, minus the supervisor itself.
pub(crate) struct SupervisorArgs {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) max_hold: chrono::Duration,
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = Spawner;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> std::result::Result<Spawner, ActorProcessingErr> {
        Ok(Spawner {
            store: args.store,
            registry: args.registry,
            max_hold: args.max_hold,
            supervisor: myself.get_cell(),
        })
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        spawner: &mut Spawner,
    ) -> std::result::Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, error) = event {
            let id: ActorId = cell.get_id();
            if let Some((_, child)) = spawner.registry.children.remove(&id) {
                let kind = match child {
                    Child::Buyer(_) => "buyer",
                    Child::Campaign(_) => "campaign",
                    Child::Pool(_) => "pool",
                };
                // Nobody may be handed the dead actor from here on.
                match child {
                    Child::Buyer(b) => drop(
                        spawner
                            .registry
                            .buyers
                            .remove_if(&b, |_, a| a.get_id() == id),
                    ),
                    Child::Campaign(c) => drop(
                        spawner
                            .registry
                            .campaigns
                            .remove_if(&c, |_, a| a.get_id() == id),
                    ),
                    Child::Pool(_) => {}
                }
                counter!(ACTOR_RESTARTS, "kind" => kind).increment(1);
                tracing::error!(?child, %error, "actor failed; restarting it from the store");
                // Starting an actor reads the store; do it off this handler.
                let spawner = spawner.clone();
                tokio::spawn(async move { spawner.restart(child).await });
            }
        }
        Ok(())
    }
}
