//! The apply/forget table: each kind of configuration the engine holds in
//! memory, with how a stored document of it is applied and a deleted one
//! forgotten. Loading at start ([`Engine::load_config`]) and following
//! other nodes' writes ([`Engine::sync_config`]) are each one loop over
//! [`ORDER`], so a kind is added in one place.

use std::sync::Arc;

use switchboard_model::{
    BlocklistEntry, Buyer, Campaign, Id, Number, Pool, Publisher, RtbRouter, RtbTarget, Tenant,
};
use switchboard_store::{ConfigKind, Doc, DocKind};

use crate::{Engine, Result};

/// A kind of configuration held in memory. Tracking tags are not: every
/// node reads them from the store when it needs them. The blocklist is:
/// every call is checked against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    Tenant,
    Number,
    Publisher,
    Buyer,
    RtbTarget,
    RtbRouter,
    Pool,
    Campaign,
    Blocklist,
}

/// The order kinds are applied in: a campaign after the pool and router it
/// routes through.
pub(crate) const ORDER: [Held; 9] = [
    Held::Tenant,
    Held::Number,
    Held::Publisher,
    Held::Buyer,
    Held::RtbTarget,
    Held::RtbRouter,
    Held::Pool,
    Held::Campaign,
    Held::Blocklist,
];

impl Held {
    /// Its store kind.
    pub(crate) fn kind(self) -> DocKind {
        match self {
            Held::Tenant => DocKind::Tenant,
            Held::Number => DocKind::Number,
            Held::Publisher => DocKind::Publisher,
            Held::Buyer => DocKind::Buyer,
            Held::RtbTarget => DocKind::RtbTarget,
            Held::RtbRouter => DocKind::RtbRouter,
            Held::Pool => DocKind::Pool,
            Held::Campaign => DocKind::Campaign,
            Held::Blocklist => DocKind::BlocklistEntry,
        }
    }

    /// The held kind of store kind `kind`, if the engine holds it.
    pub(crate) fn of(kind: DocKind) -> Option<Held> {
        ORDER.into_iter().find(|h| h.kind() == kind)
    }

    /// The version of `id` this node runs, if it runs one.
    pub(crate) fn running(self, engine: &Engine, id: Id) -> Option<u64> {
        let inner = &engine.inner;
        let reg = &inner.registry;
        match self {
            Held::Tenant => inner.tenants.get(&id).map(|t| t.version),
            Held::Number => inner.inventory.get(&id).map(|n| n.version),
            Held::Publisher => reg.publisher_configs.get(&id).map(|p| p.version),
            Held::Buyer => reg.buyer_configs.get(&id).map(|b| b.version),
            Held::RtbTarget => reg.bidders.get(&id).map(|b| b.target.version),
            Held::RtbRouter => reg.routers.get(&id).map(|r| r.version),
            Held::Pool => reg.pool_configs.get(&id).map(|p| p.version),
            Held::Campaign => reg.campaign_configs.get(&id).map(|c| c.version),
            Held::Blocklist => engine.block_version(id),
        }
    }

    /// Every id of this kind this node runs and would forget once deleted.
    /// Tenants are never deleted.
    pub(crate) fn ids(self, engine: &Engine) -> Vec<Id> {
        let reg = &engine.inner.registry;
        match self {
            Held::Tenant => Vec::new(),
            Held::Number => engine.inner.inventory.iter().map(|e| *e.key()).collect(),
            Held::Publisher => reg.publisher_configs.iter().map(|e| *e.key()).collect(),
            Held::Buyer => reg.buyer_configs.iter().map(|e| *e.key()).collect(),
            Held::RtbTarget => reg.bidders.iter().map(|e| *e.key()).collect(),
            Held::RtbRouter => reg.routers.iter().map(|e| *e.key()).collect(),
            Held::Pool => reg.pool_configs.iter().map(|e| *e.key()).collect(),
            Held::Campaign => reg.campaign_configs.iter().map(|e| *e.key()).collect(),
            Held::Blocklist => engine.block_ids(),
        }
    }

    /// Runs the stored `doc`, as the node that wrote it did: indexes, and
    /// the configuration of a started actor (a pool's actor starts now;
    /// buyers' and campaigns' on first need).
    pub(crate) async fn apply(self, engine: &Engine, doc: &Doc) -> Result<()> {
        match self {
            Held::Tenant => engine.index_tenant(Arc::new(Tenant::decode(doc)?)),
            Held::Number => engine.index_number(Arc::new(Number::decode(doc)?)),
            Held::Publisher => {
                engine
                    .apply_publisher(Arc::new(Publisher::decode(doc)?))
                    .await
            }
            Held::Buyer => engine.apply_buyer(Arc::new(Buyer::decode(doc)?)).await?,
            Held::RtbTarget => engine.apply_rtb_target(RtbTarget::decode(doc)?).await?,
            Held::RtbRouter => {
                let router = RtbRouter::decode(doc)?;
                engine
                    .inner
                    .registry
                    .routers
                    .insert(router.id, Arc::new(router));
            }
            Held::Pool => engine.apply_pool(Pool::decode(doc)?).await?,
            Held::Campaign => {
                engine
                    .apply_campaign(Arc::new(Campaign::decode(doc)?))
                    .await?
            }
            Held::Blocklist => engine.apply_block(&BlocklistEntry::decode(doc)?),
        }
        Ok(())
    }

    /// Forgets `id`, deleted from the store: its indexes, and its actor.
    pub(crate) fn forget(self, engine: &Engine, id: Id) {
        match self {
            Held::Tenant => {}
            Held::Number => engine.unindex_number(id),
            Held::Publisher => engine.forget_publisher(id),
            Held::Buyer => engine.forget_buyer(id),
            Held::RtbTarget => engine.forget_rtb_target(id),
            Held::RtbRouter => {
                engine.inner.registry.routers.remove(&id);
            }
            Held::Pool => engine.forget_pool(id),
            Held::Campaign => {
                if let Some(campaign) = engine.campaign(id) {
                    engine.forget_campaign(&campaign);
                }
            }
            Held::Blocklist => engine.forget_block(id),
        }
    }
}
