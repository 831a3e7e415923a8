//! The blocklist as the engine runs it: every entry of every tenant in one
//! [`Blocklist`] index (`switchboard_routing::blocklist`), loaded at start
//! and changed by every write ([`ConfigWrite::put`](crate::ConfigWrite::put)
//! and `delete`) and by `sync`, like the other kinds in `held`. A call or a
//! ping asks it under a read lock that a writer holds for one insert.

use std::sync::{PoisonError, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};
use switchboard_model::{BlockTarget, BlocklistEntry, Id};
use switchboard_routing::Blocklist;

use crate::Engine;

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
}
