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
//! breaker, as on the writing node), RTB routers, the blocklist, the
//! number inventory (each number's publisher) and publishers (their caps'
//! profiles). Tracking tags have no in-memory state: every node reads them
//! from the store when it needs them.
//!
//! A poll runs under the configuration lock, so it cannot undo a change
//! this node's API applies meanwhile. The embedded store has one writer by
//! construction (its file is locked), so a node on it never polls. A poll
//! reads the key and version of every tenant, inventory number, publisher,
//! buyer, campaign, pool, RTB target and RTB router document ([`Store::doc_versions`](switchboard_store::Store::doc_versions):
//! on ScyllaDB two columns, no bodies), then reads and decodes only the
//! documents whose version differs, up to 32 reads at a time; an id it runs that
//! is no longer listed was deleted. Its cost grows with the number of
//! configuration documents, not with their size or the calls. The blocklist,
//! which may hold millions, is read only when its revision document says it
//! changed, or once a minute (`blocklist`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use switchboard_model::Id;
use switchboard_store::{Doc, DocKind};

use crate::metrics::CONFIG_CHANGES_APPLIED;
use crate::{Engine, EngineError, Result, held};

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
        let _write = self.config_write().await;
        let mut applied = 0;
        for held in held::ORDER {
            // The revision is read before the keys: a write counted after
            // them is read at the next poll.
            let block_revision = match held {
                held::Held::Blocklist => {
                    let revision = self.stored_block_revision().await?;
                    if !self.block_read_due(revision) {
                        continue;
                    }
                    Some(revision)
                }
                _ => None,
            };
            let changes = self
                .changes(held.kind(), |id| held.running(self, id))
                .await?;
            for doc in &changes.changed {
                held.apply(self, doc).await?;
                applied += 1;
            }
            for id in held.ids(self) {
                if !changes.stored.contains(&id) {
                    held.forget(self, id);
                    applied += 1;
                }
            }
            if let Some(revision) = block_revision {
                self.block_read(revision);
            }
        }

        if applied > 0 {
            CONFIG_CHANGES_APPLIED.add(applied as u64);
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
