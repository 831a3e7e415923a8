//! A fake for a disk that fills up: the real embedded store, except that
//! while [`FailingDisk::fail`] is set every write of call records fails as
//! a full disk (or a failed fsync) makes it fail, before anything is
//! written. A full disk cannot be had here on demand; everything else is
//! the real store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use switchboard_model::call::VisitorSession;
use switchboard_model::{BidFilter, BidRequestRecord, BidResponseRecord, CallRecord, Id, Lease};
use switchboard_store::{
    AttemptRow, BidPage, CallPage, Doc, DocKind, DocPage, DocVersion, EmbeddedStore,
    ProjectionCheck, ProjectionLag, Result, Store, StoreError,
};

/// The embedded store over a disk that can be made to fill up.
pub(crate) struct FailingDisk {
    inner: EmbeddedStore,
    failing: AtomicBool,
}

impl FailingDisk {
    pub(crate) fn new(inner: EmbeddedStore) -> Arc<Self> {
        Arc::new(Self {
            inner,
            failing: AtomicBool::new(false),
        })
    }

    /// From now on, writes of call records fail (`false`: they work again).
    pub(crate) fn fail(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }

    fn check(&self) -> Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Backend(
                "commit: No space left on device (os error 28) [fake]".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for FailingDisk {
    async fn get_doc(&self, kind: DocKind, tenant: Id, id: Id) -> Result<Option<Doc>> {
        self.inner.get_doc(kind, tenant, id).await
    }
    async fn list_docs(&self, kind: DocKind, tenant: Option<Id>) -> Result<Vec<Doc>> {
        self.inner.list_docs(kind, tenant).await
    }
    async fn list_docs_page(
        &self,
        kind: DocKind,
        tenant: Option<Id>,
        after: Option<(Id, Id)>,
        limit: usize,
    ) -> Result<DocPage> {
        self.inner.list_docs_page(kind, tenant, after, limit).await
    }
    async fn doc_versions(&self, kind: DocKind) -> Result<Vec<DocVersion>> {
        self.inner.doc_versions(kind).await
    }
    async fn put_doc(&self, doc: Doc, expected: Option<u64>) -> Result<u64> {
        self.inner.put_doc(doc, expected).await
    }
    async fn delete_doc(&self, kind: DocKind, tenant: Id, id: Id, expected: u64) -> Result<()> {
        self.inner.delete_doc(kind, tenant, id, expected).await
    }
    async fn put_calls(&self, calls: &[CallRecord]) -> Result<()> {
        self.check()?;
        self.inner.put_calls(calls).await
    }
    async fn get_call(&self, id: Id) -> Result<Option<CallRecord>> {
        self.inner.get_call(id).await
    }
    async fn get_call_by_sid(&self, call_sid: &str) -> Result<Option<CallRecord>> {
        self.inner.get_call_by_sid(call_sid).await
    }
    async fn calls_by_campaign(
        &self,
        tenant: Id,
        campaign: Id,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<CallRecord>> {
        self.inner
            .calls_by_campaign(tenant, campaign, since, until)
            .await
    }
    async fn calls_by_tenant(
        &self,
        tenant: Id,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CallPage> {
        self.inner.calls_by_tenant(tenant, cursor, limit).await
    }
    async fn buyer_attempts(&self, buyer: Id, since: DateTime<Utc>) -> Result<Vec<AttemptRow>> {
        self.inner.buyer_attempts(buyer, since).await
    }
    async fn buyer_total(&self, buyer: Id) -> Result<u64> {
        self.inner.buyer_total(buyer).await
    }
    async fn scan_calls(&self, after: Option<Id>, limit: usize) -> Result<Vec<CallRecord>> {
        self.inner.scan_calls(after, limit).await
    }
    async fn projection_lag(&self) -> Result<ProjectionLag> {
        self.inner.projection_lag().await
    }
    async fn check_projections(&self, rebuild: bool) -> Result<ProjectionCheck> {
        self.inner.check_projections(rebuild).await
    }
    async fn put_auction(
        &self,
        request: &BidRequestRecord,
        responses: &[BidResponseRecord],
    ) -> Result<()> {
        self.check()?;
        self.inner.put_auction(request, responses).await
    }
    async fn bid_requests(
        &self,
        tenant: Id,
        filter: &BidFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<BidPage<BidRequestRecord>> {
        self.inner.bid_requests(tenant, filter, cursor, limit).await
    }
    async fn bid_responses(
        &self,
        tenant: Id,
        filter: &BidFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<BidPage<BidResponseRecord>> {
        self.inner
            .bid_responses(tenant, filter, cursor, limit)
            .await
    }
    async fn put_sessions(&self, sessions: &[VisitorSession]) -> Result<()> {
        self.inner.put_sessions(sessions).await
    }
    async fn list_sessions(&self, tag: Id, day: NaiveDate) -> Result<Vec<VisitorSession>> {
        self.inner.list_sessions(tag, day).await
    }
    async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Lease> {
        self.inner.claim_lease(name, holder, now, until).await
    }
    async fn leases(&self, prefix: &str) -> Result<Vec<Lease>> {
        self.inner.leases(prefix).await
    }
}
