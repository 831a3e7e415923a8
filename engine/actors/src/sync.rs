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
//! reads the key and version of every tenant, buyer, campaign, pool, RTB
//! target and RTB router document ([`Store::doc_versions`](switchboard_store::Store::doc_versions):
//! on ScyllaDB two columns, no bodies), then reads and decodes only the
//! documents whose version differs, up to 32 reads at a time; an id it runs that
//! is no longer listed was deleted. Its cost grows with the number of
//! configuration documents, not with their size or the calls.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use switchboard_model::{Buyer, Campaign, Id, Pool, RtbRouter, RtbTarget, Tenant};
use switchboard_store::{Doc, DocKind};

use crate::config::decode;
use crate::metrics::CONFIG_CHANGES_APPLIED;
use crate::{Engine, EngineError, Result};

/// Changed documents a poll reads concurrently.
const FETCH_AT_ONCE: usize = 32;

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
        let _guard = self.inner.config_lock.lock().await;
        let reg = &self.inner.registry;
        let mut applied = 0;

        let tenants = self
            .changes(DocKind::Tenant, |id| {
                self.inner.tenants.get(&id).map(|t| t.version)
            })
            .await?;
        for doc in &tenants.changed {
            self.index_tenant(Arc::new(decode::<Tenant>(doc)?));
            applied += 1;
        }

        let buyers = self
            .changes(DocKind::Buyer, |id| {
                reg.buyer_configs.get(&id).map(|b| b.version)
            })
            .await?;
        for doc in &buyers.changed {
            self.apply_buyer(Arc::new(decode::<Buyer>(doc)?)).await?;
            applied += 1;
        }
        let gone: Vec<Id> = reg
            .buyer_configs
            .iter()
            .map(|b| *b.key())
            .filter(|id| !buyers.stored.contains(id))
            .collect();
        for id in gone {
            self.forget_buyer(id);
            applied += 1;
        }

        // Before campaigns, so a new campaign's pool or router is known when it is.
        let targets = self
            .changes(DocKind::RtbTarget, |id| {
                reg.bidders.get(&id).map(|b| b.target.version)
            })
            .await?;
        for doc in &targets.changed {
            self.apply_rtb_target(decode::<RtbTarget>(doc)?).await?;
            applied += 1;
        }
        let gone: Vec<Id> = reg
            .bidders
            .iter()
            .map(|b| *b.key())
            .filter(|id| !targets.stored.contains(id))
            .collect();
        for id in gone {
            self.forget_rtb_target(id);
            applied += 1;
        }

        let routers = self
            .changes(DocKind::RtbRouter, |id| {
                reg.routers.get(&id).map(|r| r.version)
            })
            .await?;
        for doc in &routers.changed {
            reg.routers
                .insert(doc.id, Arc::new(decode::<RtbRouter>(doc)?));
            applied += 1;
        }
        let before = reg.routers.len();
        reg.routers.retain(|id, _| routers.stored.contains(id));
        applied += before - reg.routers.len();

        let pools = self
            .changes(DocKind::Pool, |id| {
                reg.pool_configs.get(&id).map(|p| p.version)
            })
            .await?;
        for doc in &pools.changed {
            self.apply_pool(decode::<Pool>(doc)?).await?;
            applied += 1;
        }
        let gone: Vec<Id> = reg
            .pool_configs
            .iter()
            .map(|p| *p.key())
            .filter(|id| !pools.stored.contains(id))
            .collect();
        for id in gone {
            self.forget_pool(id);
            applied += 1;
        }

        let campaigns = self
            .changes(DocKind::Campaign, |id| {
                reg.campaign_configs.get(&id).map(|c| c.version)
            })
            .await?;
        for doc in &campaigns.changed {
            self.apply_campaign(Arc::new(decode::<Campaign>(doc)?))
                .await?;
            applied += 1;
        }
        let gone: Vec<Arc<Campaign>> = reg
            .campaign_configs
            .iter()
            .filter(|c| !campaigns.stored.contains(c.key()))
            .map(|c| c.clone())
            .collect();
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

    /// Compares the stored versions of a kind with `runs` (the version this
    /// node runs of an id, if any) and reads only the documents that differ.
    async fn changes(&self, kind: DocKind, runs: impl Fn(Id) -> Option<u64>) -> Result<Changes> {
        let store = &self.inner.store;
        let mut changes = Changes {
            changed: Vec::new(),
            stored: HashSet::new(),
        };
        let mut stale = Vec::new();
        // Index documents of system-wide keys live in the nil tenant slot.
        for v in store
            .doc_versions(kind)
            .await?
            .into_iter()
            .filter(|v| !v.tenant.is_nil())
        {
            if runs(v.id) == Some(v.version) {
                changes.stored.insert(v.id);
            } else {
                stale.push(v);
            }
        }
        // A bulk change elsewhere (thousands of buyers edited) is read
        // FETCH_AT_ONCE documents at a time, not one round trip after another.
        for batch in stale.chunks(FETCH_AT_ONCE) {
            let mut reads = tokio::task::JoinSet::new();
            for v in batch {
                let (store, tenant, id) = (store.clone(), v.tenant, v.id);
                reads.spawn(async move { store.get_doc(kind, tenant, id).await });
            }
            while let Some(read) = reads.join_next().await {
                // Deleted since its version was read: forgotten as deleted.
                if let Some(doc) = read.map_err(|e| {
                    EngineError::Overloaded(format!("reading a changed document failed: {e}"))
                })?? {
                    changes.stored.insert(doc.id);
                    changes.changed.push(doc);
                }
            }
        }
        Ok(changes)
    }
}

/// What a poll found of one kind.
struct Changes {
    /// Stored documents whose version differs from the one this node runs.
    changed: Vec<Doc>,
    /// Every stored id: what this node runs and is not here was deleted.
    stored: HashSet<Id>,
}
