//! Following configuration that other nodes write. With a shared store
//! (ScyllaDB), a change made through one node's API reaches that node's
//! actors at once, and every other node's within one polling interval: each
//! node re-reads the configuration documents and applies those whose version
//! differs from what it runs, the way the writing node applied them, and
//! forgets what was deleted.
//!
//! Followed: tenants, buyers, campaigns (with the number directory and the
//! pool/router → campaigns index), number pools (their actors and pool
//! numbers; a changed pool keeps the leases of numbers it keeps, a deleted
//! one ends its leases), RTB targets (a changed one gets a fresh circuit
//! breaker, as on the writing node) and RTB routers. The number inventory
//! and tracking tags have no in-memory state: every node reads them from
//! the store when it needs them.
//!
//! A poll runs under the configuration lock, so it cannot undo a change
//! this node's API applies meanwhile. The embedded store has one writer by
//! construction (its file is locked), so a node on it never polls. A poll
//! reads every tenant, buyer, campaign, pool, RTB target and RTB router
//! document: its cost grows with the configuration, not the calls.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use switchboard_model::{Buyer, Campaign, Id, Pool, RtbRouter, RtbTarget, Tenant};
use switchboard_store::DocKind;

use crate::metrics::CONFIG_CHANGES_APPLIED;
use crate::{Engine, Result, decode};

impl Engine {
    /// Polls the store every `every` for configuration written by other
    /// nodes; stops with the engine.
    pub fn follow_config(&self, every: Duration) {
        let weak = Arc::downgrade(&self.inner);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                let engine = Engine { inner };
                if let Err(e) = engine.sync_config().await {
                    tracing::warn!(error = %e, "reading configuration changes failed; retrying next interval");
                }
            }
        });
        self.push_background(task);
    }

    /// Applies every stored change this node has not seen; returns how many.
    pub async fn sync_config(&self) -> Result<usize> {
        let store = self.inner.store.clone();
        let _guard = self.inner.config_lock.lock().await;
        let mut applied = 0;

        for doc in store.list_docs(DocKind::Tenant, None).await? {
            if self.inner.tenants.get(&doc.id).is_none_or(|t| t.version != doc.version) {
                self.index_tenant(Arc::new(decode::<Tenant>(&doc)?));
                applied += 1;
            }
        }

        let mut seen = HashSet::new();
        for doc in store.list_docs(DocKind::Buyer, None).await? {
            seen.insert(doc.id);
            if self.inner.registry.buyer_configs.get(&doc.id).is_none_or(|b| b.version != doc.version) {
                self.apply_buyer(Arc::new(decode::<Buyer>(&doc)?)).await?;
                applied += 1;
            }
        }
        let gone: Vec<Id> = self.inner.registry.buyer_configs.iter().map(|b| *b.key()).filter(|id| !seen.contains(id)).collect();
        for id in gone {
            self.forget_buyer(id);
            applied += 1;
        }

        // Before campaigns, so a new campaign's pool or router is known when it is.
        let reg = &self.inner.registry;
        seen.clear();
        for doc in store.list_docs(DocKind::RtbTarget, None).await? {
            seen.insert(doc.id);
            if reg.bidders.get(&doc.id).is_none_or(|b| b.target.version != doc.version) {
                self.apply_rtb_target(decode::<RtbTarget>(&doc)?).await?;
                applied += 1;
            }
        }
        let gone: Vec<Id> = reg.bidders.iter().map(|b| *b.key()).filter(|id| !seen.contains(id)).collect();
        for id in gone {
            self.forget_rtb_target(id);
            applied += 1;
        }

        seen.clear();
        for doc in store.list_docs(DocKind::RtbRouter, None).await? {
            seen.insert(doc.id);
            if reg.routers.get(&doc.id).is_none_or(|r| r.version != doc.version) {
                reg.routers.insert(doc.id, Arc::new(decode::<RtbRouter>(&doc)?));
                applied += 1;
            }
        }
        let before = reg.routers.len();
        reg.routers.retain(|id, _| seen.contains(id));
        applied += before - reg.routers.len();

        seen.clear();
        for doc in store.list_docs(DocKind::Pool, None).await? {
            // Index documents of system-wide keys live in the nil tenant slot.
            if doc.tenant.is_nil() {
                continue;
            }
            seen.insert(doc.id);
            if reg.pool_configs.get(&doc.id).is_none_or(|p| p.version != doc.version) {
                self.apply_pool(decode::<Pool>(&doc)?).await?;
                applied += 1;
            }
        }
        let gone: Vec<Id> = reg.pool_configs.iter().map(|p| *p.key()).filter(|id| !seen.contains(id)).collect();
        for id in gone {
            self.forget_pool(id);
            applied += 1;
        }

        seen.clear();
        for doc in store.list_docs(DocKind::Campaign, None).await? {
            seen.insert(doc.id);
            if self.inner.registry.campaign_configs.get(&doc.id).is_none_or(|c| c.version != doc.version) {
                self.apply_campaign(Arc::new(decode::<Campaign>(&doc)?)).await?;
                applied += 1;
            }
        }
        let gone: Vec<Arc<Campaign>> =
            self.inner.registry.campaign_configs.iter().filter(|c| !seen.contains(c.key())).map(|c| c.clone()).collect();
        for campaign in gone {
            self.forget_campaign(&campaign);
            applied += 1;
        }

        if applied > 0 {
            metrics::counter!(CONFIG_CHANGES_APPLIED).increment(applied as u64);
            tracing::info!(applied, "applied configuration changes from the store");
        }
        Ok(applied)
    }
}
