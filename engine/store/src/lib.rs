//! Switchboard's storage.
//!
//! - [`Store`]: the one trait every backend implements. Its tables follow
//!   ScyllaDB's partition/clustering shape (see `docs/scylla.md`), and the
//!   embedded store mirrors it.
//! - [`embedded`]: the default backend, one crash-safe redb file under the
//!   data directory. Every write is durable when its future resolves.
//! - `scylla` (cargo feature `scylla`, off by default): the ScyllaDB backend,
//!   `scylla://host1:9042,host2:9042/keyspace`, for nodes that share a
//!   cluster. See `docs/scylla.md`.
//! - [`conformance`]: the suite every backend must pass.
//!
//! Configuration is stored as versioned JSON documents keyed by
//! (kind, tenant, id); calls as records with secondary indexes for the
//! queries the engine and the API need. No query scans every call.

mod config_kind;
pub mod conformance;
pub mod embedded;
mod lease;
#[cfg(feature = "scylla")]
pub mod scylla;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use switchboard_model::call::VisitorSession;
use switchboard_model::{
    AttemptOutcome, BidFilter, BidRequestRecord, BidResponseRecord, CallRecord, Id, Lease,
};

pub use config_kind::ConfigKind;
pub use embedded::EmbeddedStore;

/// The store's one error type.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found another version (or an existing/missing document).
    #[error("version conflict: expected {expected:?}, found {found:?}")]
    Conflict {
        /// The version the writer expected (`None`: the document must not exist).
        expected: Option<u64>,
        /// The version found (`None`: there is none).
        found: Option<u64>,
    },
    /// The backend failed (I/O, corruption, unreachable cluster).
    #[error("store backend error: {0}")]
    Backend(String),
    /// A stored value could not be decoded.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// An argument the caller passed is malformed (a page cursor, say): the
    /// caller's fault, not the store's.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl StoreError {
    /// How this failure reads to a client.
    pub fn code(&self) -> switchboard_model::ServiceErrorCode {
        use switchboard_model::ServiceErrorCode as C;
        match self {
            StoreError::Conflict { .. } => C::VersionConflict,
            StoreError::Backend(_) | StoreError::Corrupt(_) => C::StoreUnavailable,
            StoreError::InvalidArgument(_) => C::BadRequest,
        }
    }
}

/// Result with [`StoreError`].
pub type Result<T> = std::result::Result<T, StoreError>;

/// What a store without a pixel outbox answers.
pub fn no_outbox() -> StoreError {
    StoreError::Backend("pixel deliveries are not supported by this store".into())
}

/// Which of a tenant's pixel deliveries a listing wants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    /// Made for this pixel.
    pub pixel_id: Option<Id>,
    /// For this call.
    pub call_id: Option<Id>,
    /// In this state.
    pub state: Option<switchboard_model::DeliveryState>,
}

/// A page of deliveries, newest first, and the cursor of the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPage {
    /// The deliveries.
    pub deliveries: Vec<switchboard_model::Delivery>,
    /// Opaque cursor for the next page, if any.
    pub next: Option<String>,
}

/// What a scan of due deliveries may take: none of those in flight, and of
/// each host no more than its free slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRoom {
    /// Deliveries being attempted now (or their outcome being written).
    pub in_flight: std::collections::HashSet<Id>,
    /// Free slots of the hosts (`PixelRequest::host`) seen before.
    pub free: std::collections::HashMap<String, usize>,
    /// Free slots of a host not in `free`.
    pub free_elsewhere: usize,
}

impl DueRoom {
    /// Room for everything due.
    pub fn any() -> Self {
        Self {
            in_flight: Default::default(),
            free: Default::default(),
            free_elsewhere: usize::MAX,
        }
    }
}

/// The pixel outbox's depth and age.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Deliveries waiting for an attempt (pending or retrying).
    pub open: u64,
    /// When the one waiting longest was due.
    pub oldest_due: Option<DateTime<Utc>>,
}

/// How far the projections behind the call log are.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProjectionLag {
    /// The last offset appended.
    pub appended: u64,
    /// The last offset every projection applied.
    pub applied: u64,
    /// Entries appended but not applied yet.
    pub events: u64,
    /// How long ago the oldest of them was appended (0: none).
    pub seconds: f64,
}

/// What a recount of the call tables from the call log found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectionCheck {
    /// Call documents recounted.
    pub calls: u64,
    /// Each difference, in words (at most 100); empty: the tables equal the recount.
    pub differences: Vec<String>,
    /// Whether the tables were replaced with the recount first.
    pub rebuilt: bool,
}

/// What [`Store::rollups`] reads: one group's rows of one filter, over
/// `[from, to)` (Unix seconds, bucket starts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupQuery {
    /// The tenant.
    pub tenant: Id,
    /// The bucket width.
    pub width: switchboard_model::report::Width,
    /// What is pinned (`All`: nothing).
    pub filter: switchboard_model::report::Dimension,
    /// The pinned value (`""` with `All`).
    pub filter_key: String,
    /// What rows are grouped by.
    pub group: switchboard_model::report::Dimension,
    /// First bucket start included.
    pub from: i64,
    /// First bucket start excluded.
    pub to: i64,
}

/// One rollup row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupRow {
    /// Bucket start, Unix seconds (UTC).
    pub bucket: i64,
    /// The group's value (an id, a number, a source…; `""` for `All`).
    pub key: String,
    /// The money's currency.
    pub currency: switchboard_model::Currency,
    /// The sums.
    pub figures: switchboard_model::report::Figures,
}

/// One RTB rollup row ([`Store::bid_rollups`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BidRollupRow {
    /// Bucket start, Unix seconds (UTC).
    pub bucket: i64,
    /// The target's or router's id.
    pub key: String,
    /// The bids' currency.
    pub currency: switchboard_model::Currency,
    /// The sums.
    pub figures: switchboard_model::report::activity::BidFigures,
}

/// One DNI visit rollup row ([`Store::visit_rollups`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitRollupRow {
    /// Bucket start, Unix seconds (UTC).
    pub bucket: i64,
    /// The traffic value (`""` for every visit).
    pub key: String,
    /// Visits that started in the bucket.
    pub visits: i64,
}

/// Kinds of configuration documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocKind {
    /// A tenant (its tenant id is its own id).
    Tenant,
    /// A buyer.
    Buyer,
    /// A campaign.
    Campaign,
    /// A console user.
    User,
    /// A login session.
    Session,
    /// A machine API key.
    ApiKey,
    /// A tracking number in the inventory.
    Number,
    /// A number pool.
    Pool,
    /// An RTB target (external bidder).
    RtbTarget,
    /// An RTB router (a ring tree of targets).
    RtbRouter,
    /// A DNI tracking tag.
    TrackingTag,
    /// A blocklist entry (a blocked caller).
    BlocklistEntry,
    /// A publisher (traffic source).
    Publisher,
    /// A pixel: a postback or webhook fired on call events.
    Pixel,
    /// One entry of the configuration audit log (ids are time-ordered).
    Audit,
    /// A server-wide secret, under the nil tenant (the key DNI session ids
    /// are signed with): one for every node sharing the store.
    Secret,
}

impl DocKind {
    /// Stable name used as a key.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Tenant => "tenant",
            DocKind::Buyer => "buyer",
            DocKind::Campaign => "campaign",
            DocKind::User => "user",
            DocKind::Session => "session",
            DocKind::ApiKey => "api_key",
            DocKind::Number => "number",
            DocKind::Pool => "pool",
            DocKind::RtbTarget => "rtb_target",
            DocKind::RtbRouter => "rtb_router",
            DocKind::TrackingTag => "tracking_tag",
            DocKind::BlocklistEntry => "blocklist_entry",
            DocKind::Publisher => "publisher",
            DocKind::Pixel => "pixel",
            DocKind::Audit => "audit",
            DocKind::Secret => "secret",
        }
    }
}

/// A versioned configuration document.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    /// What it is.
    pub kind: DocKind,
    /// Owning tenant.
    pub tenant: Id,
    /// Its id.
    pub id: Id,
    /// Version, starting at 1 and bumped by every write.
    pub version: u64,
    /// The JSON body.
    pub body: serde_json::Value,
}

/// A page of [`Store::list_docs_page`] and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct DocPage {
    /// The documents, in (tenant, id) order.
    pub docs: Vec<Doc>,
    /// The (tenant, id) to pass as `after` for the next page; `None` on the last.
    pub next: Option<(Id, Id)>,
}

/// Walks the documents of a kind a page at a time with
/// [`Store::list_docs_page`]: `while let Some(docs) = pages.next_page().await? { … }`.
pub struct DocPages<'a> {
    store: &'a dyn Store,
    kind: DocKind,
    tenant: Option<Id>,
    limit: usize,
    /// `None` before the first page; `Some(None)` after the last.
    after: Option<Option<(Id, Id)>>,
}

impl<'a> DocPages<'a> {
    /// The documents of `kind` (of one tenant, or all with `None`), `limit` a page.
    pub fn new(store: &'a dyn Store, kind: DocKind, tenant: Option<Id>, limit: usize) -> Self {
        Self {
            store,
            kind,
            tenant,
            limit,
            after: None,
        }
    }

    /// The next page, or `None` when every document was handed out.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Doc>>> {
        let after = match self.after {
            Some(None) => return Ok(None),
            Some(Some(after)) => Some(after),
            None => None,
        };
        let page = self
            .store
            .list_docs_page(self.kind, self.tenant, after, self.limit)
            .await?;
        self.after = Some(page.next);
        Ok(Some(page.docs))
    }
}

/// A document's key and version, without its body: what a configuration
/// poll compares to what it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DocVersion {
    /// Owning tenant.
    pub tenant: Id,
    /// Its id.
    pub id: Id,
    /// Its stored version.
    pub version: u64,
}

/// One dial attempt as the buyer index sees it: enough to rebuild a buyer's
/// caps and open reservations after a restart without reading whole calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    /// The call.
    pub call_id: Id,
    /// Position in the call's attempts.
    pub attempt: u16,
    /// When it was routed.
    pub started_at: DateTime<Utc>,
    /// How it went so far.
    pub outcome: AttemptOutcome,
    /// Whether its reservation was given back.
    pub released: bool,
}

/// A page of calls, newest first, and where the next page starts.
#[derive(Debug, Clone, PartialEq)]
pub struct CallPage {
    /// The calls.
    pub calls: Vec<CallRecord>,
    /// Opaque cursor for the next page, if any.
    pub next: Option<String>,
}

/// A page of bid rows, newest first, and where the next page starts.
#[derive(Debug, Clone, PartialEq)]
pub struct BidPage<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Opaque cursor for the next page, if any.
    pub next: Option<String>,
}

/// The storage every backend provides. All writes are durable when they return.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads one configuration document.
    async fn get_doc(&self, kind: DocKind, tenant: Id, id: Id) -> Result<Option<Doc>>;

    /// Every document of a kind, of one tenant or (with `None`) of all tenants.
    async fn list_docs(&self, kind: DocKind, tenant: Option<Id>) -> Result<Vec<Doc>>;

    /// Up to `limit` documents of a kind, of one tenant or (with `None`) of
    /// all tenants, ordered by (tenant, id) and starting after `after` (the
    /// `next` of the previous page); a `limit` of 0 counts as 1. (ScyllaDB
    /// orders ids of different UUID versions by version first; ids of one
    /// version, as `new_id` makes, sort as their bytes.) Loading a large
    /// configuration page by page keeps one page of JSON in memory, not all
    /// of it.
    async fn list_docs_page(
        &self,
        kind: DocKind,
        tenant: Option<Id>,
        after: Option<(Id, Id)>,
        limit: usize,
    ) -> Result<DocPage>;

    /// The key and version of every document of a kind, of all tenants,
    /// without reading or decoding bodies.
    async fn doc_versions(&self, kind: DocKind) -> Result<Vec<DocVersion>>;

    /// Writes a document if its current version is `expected` (`None`: it must
    /// not exist yet). The document's `version` field is ignored; the stored
    /// version becomes `expected + 1` (or 1) and is returned.
    async fn put_doc(&self, doc: Doc, expected: Option<u64>) -> Result<u64>;

    /// Deletes a document if its current version is `expected`.
    async fn delete_doc(&self, kind: DocKind, tenant: Id, id: Id, expected: u64) -> Result<()>;

    /// Inserts or replaces calls — all of them in one durable commit (the
    /// recorder's group commit) — and keeps every index in step.
    async fn put_calls(&self, calls: &[CallRecord]) -> Result<()>;

    /// One call by id.
    async fn get_call(&self, id: Id) -> Result<Option<CallRecord>>;

    /// One call by Twilio's `CallSid`.
    async fn get_call_by_sid(&self, call_sid: &str) -> Result<Option<CallRecord>>;

    /// Calls of a campaign that started in `[since, until)`, oldest first.
    async fn calls_by_campaign(
        &self,
        tenant: Id,
        campaign: Id,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<CallRecord>>;

    /// A tenant's calls, newest first, `limit` at a time, starting after `cursor`.
    async fn calls_by_tenant(
        &self,
        tenant: Id,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CallPage>;

    /// A buyer's dial attempts started at or after `since`, oldest first.
    async fn buyer_attempts(&self, buyer: Id, since: DateTime<Utc>) -> Result<Vec<AttemptRow>>;

    /// How many attempts a buyer has taken ever, not counting unanswered ones
    /// (what the total cap counts).
    async fn buyer_total(&self, buyer: Id) -> Result<u64>;

    /// Every call, in id order, `limit` at a time after `after` (for export).
    async fn scan_calls(&self, after: Option<Id>, limit: usize) -> Result<Vec<CallRecord>>;

    /// How far the projections behind the call log are (a backend that
    /// writes its call tables with the records has none: all zero).
    async fn projection_lag(&self) -> Result<ProjectionLag> {
        Ok(ProjectionLag::default())
    }

    /// Applies the whole call log, then recounts every call index and buyer
    /// total from the call documents and names each difference from what
    /// the incremental path wrote; with `rebuild`, first replaces them with
    /// the recount.
    ///
    /// Backends without a log keep this default, which refuses.
    async fn check_projections(&self, rebuild: bool) -> Result<ProjectionCheck> {
        let _ = rebuild;
        Err(StoreError::InvalidArgument(
            "this store keeps no call log: its call tables are written with each record".into(),
        ))
    }

    /// The report rollup rows a query asks for, in (bucket, key) order:
    /// O(rows), never O(calls).
    ///
    /// Backends without rollups keep this default, which refuses.
    async fn rollups(&self, query: &RollupQuery) -> Result<Vec<RollupRow>> {
        let _ = query;
        Err(StoreError::Backend(
            "report rollups are not supported by this store".into(),
        ))
    }

    /// RTB rollup rows: `query.group` is `RtbTarget` or `RtbRouter` (no filter).
    ///
    /// Backends without rollups keep this default, which refuses.
    async fn bid_rollups(&self, query: &RollupQuery) -> Result<Vec<BidRollupRow>> {
        let _ = query;
        Err(StoreError::Backend(
            "report rollups are not supported by this store".into(),
        ))
    }

    /// DNI visit rollup rows: `query.group` is `All` or a traffic dimension.
    ///
    /// Backends without rollups keep this default, which refuses.
    async fn visit_rollups(&self, query: &RollupQuery) -> Result<Vec<VisitRollupRow>> {
        let _ = query;
        Err(StoreError::Backend(
            "report rollups are not supported by this store".into(),
        ))
    }

    /// Call events after `after` (a position), of one tenant or all, at
    /// most `limit`, in position order: those the projections have applied
    /// (`event_positions` moves when there are more), without applying the
    /// log first.
    ///
    /// Backends without an event log keep this default, which refuses.
    async fn events_after(
        &self,
        tenant: Option<Id>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<switchboard_model::event::StoredEvent>> {
        let _ = (tenant, after, limit);
        Err(StoreError::Backend(
            "call events are not supported by this store".into(),
        ))
    }

    /// The last event position consumer `name` handled (0: none yet).
    async fn event_cursor(&self, name: &str) -> Result<u64> {
        let _ = name;
        Err(StoreError::Backend(
            "call events are not supported by this store".into(),
        ))
    }

    /// Durably moves consumer `name`'s cursor to `position` (never back).
    /// Events are kept until every cursor has passed them.
    async fn set_event_cursor(&self, name: &str, position: u64) -> Result<()> {
        let _ = (name, position);
        Err(StoreError::Backend(
            "call events are not supported by this store".into(),
        ))
    }

    /// The last event position written, to wait on (`None`: no event log).
    fn event_positions(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// Adds pixel deliveries (one whose id is stored already is left as
    /// it is), counts each (pixel, call)'s fires, and moves event consumer
    /// `cursor` to `position`, all in one durable commit: the events up to
    /// `position` are turned into deliveries exactly once.
    ///
    /// Backends without a pixel outbox keep these defaults, which refuse.
    async fn add_deliveries(
        &self,
        cursor: &str,
        position: u64,
        deliveries: &[switchboard_model::Delivery],
    ) -> Result<()> {
        let _ = (cursor, position, deliveries);
        Err(no_outbox())
    }

    /// Replaces stored deliveries (an attempt's outcome, a resend); durable
    /// before it returns only with `durable` (a lost outcome means one more
    /// attempt, which at-least-once allows).
    async fn update_deliveries(
        &self,
        deliveries: &[switchboard_model::Delivery],
        durable: bool,
    ) -> Result<()> {
        let _ = (deliveries, durable);
        Err(no_outbox())
    }

    /// One delivery of `tenant`.
    async fn get_delivery(
        &self,
        tenant: Id,
        id: Id,
    ) -> Result<Option<switchboard_model::Delivery>> {
        let _ = (tenant, id);
        Err(no_outbox())
    }

    /// A tenant's deliveries matching `filter`, newest first, at most
    /// `limit` after `cursor` (a selective filter may end a page early,
    /// with a cursor).
    async fn list_deliveries(
        &self,
        tenant: Id,
        filter: &DeliveryFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<DeliveryPage> {
        let _ = (tenant, filter, cursor, limit);
        Err(no_outbox())
    }

    /// The open deliveries due at `now`, soonest first, at most `limit`,
    /// as many as `room` leaves for each host.
    async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        room: &DueRoom,
    ) -> Result<Vec<switchboard_model::Delivery>> {
        let _ = (now, limit, room);
        Err(no_outbox())
    }

    /// How many deliveries `pixel` made for `call` (its `maxFires` counts them).
    async fn pixel_fires(&self, pixel: Id, call: Id) -> Result<u32> {
        let _ = (pixel, call);
        Err(no_outbox())
    }

    /// The outbox's depth and age.
    async fn outbox_stats(&self) -> Result<OutboxStats> {
        Err(no_outbox())
    }

    /// Records one RTB auction: its request row and one response row per
    /// target asked, in one durable write.
    ///
    /// Backends without bid tables keep this default, which refuses.
    async fn put_auction(
        &self,
        request: &BidRequestRecord,
        responses: &[BidResponseRecord],
    ) -> Result<()> {
        let _ = (request, responses);
        Err(StoreError::Backend("not supported by this store".into()))
    }

    /// Records many auctions, each as [`Self::put_auction`] does; in one
    /// durable write where the backend can (the auction writer's group
    /// commit). The default writes them one by one.
    async fn put_auctions(
        &self,
        auctions: &[(BidRequestRecord, Vec<BidResponseRecord>)],
    ) -> Result<()> {
        for (request, responses) in auctions {
            self.put_auction(request, responses).await?;
        }
        Ok(())
    }

    /// A tenant's auctions matching `filter`, newest first, at most `limit`
    /// after `cursor`. A page may hold fewer than `limit` rows (a selective
    /// filter stops after a bounded scan) and still have a next cursor.
    async fn bid_requests(
        &self,
        tenant: Id,
        filter: &BidFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<BidPage<BidRequestRecord>> {
        let _ = (tenant, filter, cursor, limit);
        Err(StoreError::Backend("not supported by this store".into()))
    }

    /// A tenant's bid responses matching `filter`, paged like [`Store::bid_requests`].
    async fn bid_responses(
        &self,
        tenant: Id,
        filter: &BidFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<BidPage<BidResponseRecord>> {
        let _ = (tenant, filter, cursor, limit);
        Err(StoreError::Backend("not supported by this store".into()))
    }

    /// Inserts or replaces DNI visitor sessions, in one durable commit. A
    /// session is keyed by (tag, UTC day of `startedAt`, session id): a
    /// visit that keeps its start time replaces itself.
    async fn put_sessions(&self, sessions: &[VisitorSession]) -> Result<()> {
        let _ = sessions;
        Err(StoreError::Backend(
            "visitor sessions are not supported by this store".into(),
        ))
    }

    /// The visitor sessions of a tracking tag that started on `day` (UTC),
    /// in no particular order.
    async fn list_sessions(&self, tag: Id, day: NaiveDate) -> Result<Vec<VisitorSession>> {
        let _ = (tag, day);
        Err(StoreError::Backend(
            "visitor sessions are not supported by this store".into(),
        ))
    }

    /// Claims lease `name` for `holder` until `until`, in one atomic step
    /// (a compare-and-set: an LWT on ScyllaDB, a write transaction in the
    /// embedded store). It succeeds when the lease does not exist, has
    /// lapsed (`expires <= now`, `now` being the caller's clock) or is
    /// already `holder`'s; a renewal keeps the epoch, a new holder bumps it
    /// (a new lease starts at 1). Giving a lease up is a claim with
    /// `until = now`. Returns the lease as stored afterwards: another
    /// holder's when the claim was refused.
    async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Lease> {
        let _ = (name, holder, now, until);
        Err(StoreError::Backend(
            "leases are not supported by this store".into(),
        ))
    }

    /// Every lease whose name starts with `prefix`, lapsed ones included, in name order.
    async fn leases(&self, prefix: &str) -> Result<Vec<Lease>> {
        let _ = prefix;
        Err(StoreError::Backend(
            "leases are not supported by this store".into(),
        ))
    }
}
