//! The blocklist as the engine runs it: every entry of every tenant in one
//! [`Blocklist`] index (`switchboard_routing::blocklist`), loaded at start
//! and changed by every write ([`ConfigWrite::put`](crate::ConfigWrite::put)
//! and `delete`) and by `sync`, like the other kinds in `held`. A call or a
//! ping asks it under a read lock that a writer holds for one insert.
//!
//! A list can hold millions of entries, so other nodes do not re-read its
//! keys at every configuration poll: each write also bumps one revision
//! document (its store version counts the writes), and a poll reads the
//! blocklist's keys only when the revision moved, or when
//! [`FULL_READ_EVERY`] has passed (a bump that failed is caught up then).

use std::sync::atomic::Ordering;
use std::sync::{PoisonError, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use switchboard_model::{BlockTarget, BlocklistEntry, Id};
use switchboard_routing::Blocklist;
use switchboard_store::{Doc, DocKind, StoreError};

use crate::{Engine, EngineError, Result};

/// The revision document's id, under the nil tenant (where system-wide
/// documents live: no tenant's listing shows it, loading and polls pass it over).
const REVISION: Id = Id::from_u128(u128::from_be_bytes(*b"blocklist-revisn"));

/// Longest a poll goes without reading the blocklist's keys.
pub(crate) const FULL_READ_EVERY: Duration = Duration::from_secs(60);

/// Where a node's polls stand with the blocklist.
#[derive(Debug)]
pub(crate) struct Followed {
    /// The revision the index was last read at.
    pub(crate) revision: std::sync::atomic::AtomicU64,
    /// When its keys were last read.
    pub(crate) read_at: std::sync::Mutex<Instant>,
}

impl Default for Followed {
    fn default() -> Self {
        Self {
            revision: Default::default(),
            read_at: std::sync::Mutex::new(Instant::now()),
        }
    }
}

impl Engine {
    fn blocklist(&self) -> RwLockReadGuard<'_, Blocklist> {
        // An insert cannot leave the index half-changed for a reader to trip on.
        self.inner
            .blocklist
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn blocklist_mut(&self) -> RwLockWriteGuard<'_, Blocklist> {
        self.inner
            .blocklist
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry blocking a call from `from` (Twilio's `From`) to `campaign`
    /// of `tenant` at `now`: a live tenant-wide entry, or one of the campaign's.
    pub fn blocked(
        &self,
        tenant: Id,
        campaign: Option<Id>,
        from: &str,
        now: DateTime<Utc>,
    ) -> Option<Id> {
        self.blocklist().blocks(tenant, campaign, from, now)
    }

    /// An entry of `tenant` in scope `campaign` with this target, expired
    /// or not: what a new entry would duplicate.
    pub fn blocklist_entry_like(
        &self,
        tenant: Id,
        campaign: Option<Id>,
        target: &BlockTarget,
    ) -> Option<Id> {
        self.blocklist().find(tenant, campaign, target)
    }

    pub(crate) fn apply_block(&self, entry: &BlocklistEntry) {
        self.blocklist_mut().insert(entry);
    }

    pub(crate) fn forget_block(&self, id: Id) {
        self.blocklist_mut().remove(id);
    }

    pub(crate) fn block_version(&self, id: Id) -> Option<u64> {
        self.blocklist().version(id)
    }

    pub(crate) fn block_ids(&self) -> Vec<Id> {
        self.blocklist().ids()
    }

    /// The blocklist's revision in the store (0: never written).
    pub(crate) async fn stored_block_revision(&self) -> Result<u64> {
        Ok(self
            .inner
            .store
            .get_doc(DocKind::BlocklistEntry, Id::nil(), REVISION)
            .await?
            .map_or(0, |d| d.version))
    }

    /// Counts a blocklist write (after it is stored), for other nodes'
    /// polls. Not counted, the write still stands: polls catch it up within
    /// [`FULL_READ_EVERY`].
    pub(crate) async fn bump_block_revision(&self) {
        if let Err(e) = self.try_bump_block_revision().await {
            tracing::warn!(error = %e, "could not count a blocklist write; other nodes see it within a minute");
        }
    }

    async fn try_bump_block_revision(&self) -> Result<()> {
        let store = &self.inner.store;
        // Concurrent writers (other nodes) race on one version: retry a few times.
        for _ in 0..8 {
            let current = store
                .get_doc(DocKind::BlocklistEntry, Id::nil(), REVISION)
                .await?;
            let doc = Doc {
                kind: DocKind::BlocklistEntry,
                tenant: Id::nil(),
                id: REVISION,
                version: 0,
                body: serde_json::json!({}),
            };
            match store.put_doc(doc, current.map(|d| d.version)).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::Overloaded(
            "the blocklist revision is contended".into(),
        ))
    }

    /// Whether a poll should read the blocklist's keys: the stored
    /// `revision` differs from the one last read, or it is
    /// [`FULL_READ_EVERY`] since.
    pub(crate) fn block_read_due(&self, revision: u64) -> bool {
        let f = &self.inner.block_followed;
        let read_at = f.read_at.lock().unwrap_or_else(PoisonError::into_inner);
        f.revision.load(Ordering::Relaxed) != revision || read_at.elapsed() >= FULL_READ_EVERY
    }

    /// Notes that the blocklist was read in full at `revision` (read before it).
    pub(crate) fn block_read(&self, revision: u64) {
        let f = &self.inner.block_followed;
        let mut read_at = f.read_at.lock().unwrap_or_else(PoisonError::into_inner);
        f.revision.store(revision, Ordering::Relaxed);
        *read_at = Instant::now();
    }
}
