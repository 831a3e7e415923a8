//! The supervisor: parent of every buyer, campaign and pool actor. Campaign
//! actors start lazily, on first need, through [`get_or_spawn_campaign`]
//! (one start per id under its lock), like buyer actors through
//! [`CapacityGateway::get_or_spawn_buyer`], so an idle campaign or buyer
//! costs a configuration entry, not an actor; pool actors start at once
//! ([`spawn_pool`]). When an actor fails the supervisor drops it from the
//! registry and starts its successor from the current configuration —
//! whose `pre_start` rebuilds its state from the store — and counts the
//! restart. It never stops the tree because one child died.
//!
//! The top of the actor modules: it uses `campaign`, `pool` and the
//! capacity gateway (`gateway`), and none of them uses it.

use std::sync::Arc;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use switchboard_model::{Id, Pool};
use switchboard_store::Store;

use crate::campaign::{CampaignActor, CampaignArgs, CampaignMsg};
use crate::error::{EngineError, Result};
use crate::gateway::CapacityGateway;
use crate::metrics::ACTOR_RESTARTS;
use crate::pool::PoolActor;
use crate::{Child, Registry};

/// Starts the supervisor; returns it and the capacity gateway whose buyer
/// actors it parents.
pub(crate) async fn start(
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    max_hold: chrono::Duration,
) -> Result<(ActorRef<SupervisorMsg>, CapacityGateway)> {
    let args = SupervisorArgs {
        store: store.clone(),
        registry: registry.clone(),
        max_hold,
    };
    let (supervisor, _) = Actor::spawn(None, Supervisor, args)
        .await
        .map_err(|e| EngineError::Overloaded(format!("supervisor did not start: {e}")))?;
    let capacity = CapacityGateway {
        store,
        registry,
        max_hold,
        supervisor: supervisor.get_cell(),
    };
    Ok((supervisor, capacity))
}

/// Campaign `id`'s actor, started on first need like a buyer's
/// ([`CapacityGateway::get_or_spawn_buyer`]); `None` when no such campaign.
pub(crate) async fn get_or_spawn_campaign(
    capacity: &CapacityGateway,
    id: Id,
) -> Result<Option<ActorRef<CampaignMsg>>> {
    let registry = &capacity.registry;
    if let Some(actor) = registry.campaigns.get(&id) {
        return Ok(Some(actor.clone()));
    }
    let _held = registry.lock(id).await;
    if let Some(actor) = registry.campaigns.get(&id) {
        return Ok(Some(actor.clone()));
    }
    let Some(campaign) = registry.campaign_configs.get(&id).map(|c| c.clone()) else {
        return Ok(None);
    };
    let args = CampaignArgs {
        campaign,
        store: capacity.store.clone(),
        capacity: capacity.clone(),
    };
    let (actor, _) = Actor::spawn_linked(None, CampaignActor, args, capacity.supervisor.clone())
        .await
        .map_err(|e| EngineError::Overloaded(format!("campaign actor did not start: {e}")))?;
    registry
        .children
        .insert(actor.get_id(), Child::Campaign(id));
    registry.campaigns.insert(id, actor.clone());
    if !registry.campaign_configs.contains_key(&id) {
        registry
            .campaigns
            .remove_if(&id, |_, a| a.get_id() == actor.get_id());
        registry.children.remove(&actor.get_id());
        actor.stop(None);
        return Ok(None);
    }
    Ok(Some(actor))
}

/// Starts `pool`'s actor, replacing (and stopping) the one it had.
pub(crate) async fn spawn_pool(capacity: &CapacityGateway, pool: Arc<Pool>) -> Result<()> {
    let registry = &capacity.registry;
    let id = pool.id;
    let (actor, _) = Actor::spawn_linked(None, PoolActor, pool, capacity.supervisor.clone())
        .await
        .map_err(|e| EngineError::Overloaded(format!("pool actor did not start: {e}")))?;
    registry.children.insert(actor.get_id(), Child::Pool(id));
    if let Some(old) = registry.pools.insert(id, actor) {
        registry.children.remove(&old.get_id());
        old.stop(None);
    }
    Ok(())
}

async fn restart(capacity: &CapacityGateway, child: Child) {
    let result = match child {
        // The failed actor is out of the registry already: this starts
        // its successor, unless a caller needed it first.
        Child::Buyer(id) => capacity.get_or_spawn_buyer(id).await.map(drop),
        Child::Campaign(id) => get_or_spawn_campaign(capacity, id).await.map(drop),
        Child::Pool(id) => match capacity.registry.pool_configs.get(&id).map(|p| p.clone()) {
            Some(p) => spawn_pool(capacity, p).await,
            None => Ok(()),
        },
    };
    if let Err(e) = result {
        tracing::error!(?child, error = %e, "restarting an actor failed");
    }
}

/// Messages: none; the supervisor only handles supervision events.
pub(crate) enum SupervisorMsg {}

/// The supervisor actor.
struct Supervisor;

/// Supervisor arguments: what a `CapacityGateway` needs, minus the supervisor itself.
struct SupervisorArgs {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    max_hold: chrono::Duration,
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = CapacityGateway;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> std::result::Result<CapacityGateway, ActorProcessingErr> {
        Ok(CapacityGateway {
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
        capacity: &mut CapacityGateway,
    ) -> std::result::Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, error) = event {
            let id: ActorId = cell.get_id();
            if let Some((_, child)) = capacity.registry.children.remove(&id) {
                let kind = match child {
                    Child::Buyer(_) => "buyer",
                    Child::Campaign(_) => "campaign",
                    Child::Pool(_) => "pool",
                };
                // Nobody may be handed the dead actor from here on.
                match child {
                    Child::Buyer(b) => drop(
                        capacity
                            .registry
                            .buyers
                            .remove_if(&b, |_, a| a.get_id() == id),
                    ),
                    Child::Campaign(c) => drop(
                        capacity
                            .registry
                            .campaigns
                            .remove_if(&c, |_, a| a.get_id() == id),
                    ),
                    Child::Pool(_) => {}
                }
                ACTOR_RESTARTS.inc_with(&[("kind", kind)]);
                tracing::error!(?child, %error, "actor failed; restarting it from the store");
                // Starting an actor reads the store; do it off this handler.
                let capacity = capacity.clone();
                tokio::spawn(async move { restart(&capacity, child).await });
            }
        }
        Ok(())
    }
}
