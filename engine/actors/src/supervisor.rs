//! The supervisor: parent of every buyer and campaign actor. When one fails
//! it starts a new one from the current configuration — whose `pre_start`
//! rebuilds its state from the store — and counts the restart. It never
//! stops the tree because one child died.

use std::sync::Arc;

use metrics::counter;
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use switchboard_model::{Buyer, Campaign, Id, Pool};
use switchboard_store::Store;

use crate::buyer::{BuyerActor, BuyerArgs};
use crate::campaign::{CampaignActor, CampaignArgs};
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
    pub(crate) async fn buyer(&self, buyer: Arc<Buyer>) -> Result<()> {
        let id = buyer.id;
        let args = BuyerArgs { buyer, store: self.store.clone(), max_hold: self.max_hold };
        let (actor, _) = Actor::spawn_linked(None, BuyerActor, args, self.supervisor.clone())
            .await
            .map_err(|e| EngineError::Overloaded(format!("buyer actor did not start: {e}")))?;
        self.registry.children.insert(actor.get_id(), Child::Buyer(id));
        if let Some(old) = self.registry.buyers.insert(id, actor) {
            self.registry.children.remove(&old.get_id());
            old.stop(None);
        }
        Ok(())
    }

    pub(crate) async fn campaign(&self, campaign: Arc<Campaign>) -> Result<()> {
        let id = campaign.id;
        let args = CampaignArgs { campaign, store: self.store.clone(), registry: self.registry.clone() };
        let (actor, _) = Actor::spawn_linked(None, CampaignActor, args, self.supervisor.clone())
            .await
            .map_err(|e| EngineError::Overloaded(format!("campaign actor did not start: {e}")))?;
        self.registry.children.insert(actor.get_id(), Child::Campaign(id));
        if let Some(old) = self.registry.campaigns.insert(id, actor) {
            self.registry.children.remove(&old.get_id());
            old.stop(None);
        }
        Ok(())
    }

    pub(crate) async fn pool(&self, pool: Arc<Pool>) -> Result<()> {
        let id = pool.id;
        let (actor, _) = Actor::spawn_linked(None, PoolActor, pool, self.supervisor.clone())
            .await
            .map_err(|e| EngineError::Overloaded(format!("pool actor did not start: {e}")))?;
        self.registry.children.insert(actor.get_id(), Child::Pool(id));
        if let Some(old) = self.registry.pools.insert(id, actor) {
            self.registry.children.remove(&old.get_id());
            old.stop(None);
        }
        Ok(())
    }

    async fn restart(&self, child: Child) {
        let result = match child {
            // An RTB target's capacity actor is a buyer actor too.
            Child::Buyer(id) => match self.registry.buyer_configs.get(&id).or_else(|| self.registry.target_buyers.get(&id)).map(|b| b.clone()) {
                Some(b) => self.buyer(b).await,
                None => Ok(()),
            },
            Child::Campaign(id) => match self.registry.campaign_configs.get(&id).map(|c| c.clone()) {
                Some(c) => self.campaign(c).await,
                None => Ok(()),
            },
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

    async fn pre_start(&self, myself: ActorRef<SupervisorMsg>, args: SupervisorArgs) -> std::result::Result<Spawner, ActorProcessingErr> {
        Ok(Spawner { store: args.store, registry: args.registry, max_hold: args.max_hold, supervisor: myself.get_cell() })
    }

    async fn handle_supervisor_evt(&self, _: ActorRef<SupervisorMsg>, event: SupervisionEvent, spawner: &mut Spawner) -> std::result::Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, error) = event {
            let id: ActorId = cell.get_id();
            if let Some((_, child)) = spawner.registry.children.remove(&id) {
                let kind = match child {
                    Child::Buyer(_) => "buyer",
                    Child::Campaign(_) => "campaign",
                    Child::Pool(_) => "pool",
                };
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
