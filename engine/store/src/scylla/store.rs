//! The [`Store`] impl: every read and write against the cluster, and the
//! paging (day walks, cursors) the reads share.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use scylla::client::session::Session;
use scylla::deserialize::row::DeserializeRow;
use scylla::response::PagingState;
use scylla::response::query_result::QueryResult;
use scylla::statement::Statement;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{Counter, CqlTimestamp, CqlValue};
use switchboard_model::call::VisitorSession;
use switchboard_model::{BidFilter, BidRequestRecord, BidResponseRecord, CallRecord, Id, Lease};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::commit::{
    CommitPlan, IndexKey, RawCall, View, day_of, doc_from_lwt, hour_of, last_per_session,
    latest_versions, lwt_applied, micros, visible,
};
use super::config::session;
use super::statements::{BidStatements, BidTable, DocStatements, DocTable, PAGE_SIZE, Statements};
use super::{CACHE_LIMIT, Inner, ScyllaConfig, ScyllaStore, backend, corrupt, migrate};
use crate::lease::{self, Claim};
use crate::{
    AttemptRow, BidPage, CallPage, Doc, DocKind, DocPage, DocVersion, Result, Store, StoreError,
};

/// Most bid rows one page of `bid_requests`/`bid_responses` reads (as the
/// embedded store): a selective filter answers in bounded time, with a cursor.
const BID_SCAN_LIMIT: usize = 5_000;

type Values = Vec<CqlValue>;
type Job<T> = Pin<Box<dyn Future<Output = Result<T>> + Send>>;

fn uuid(id: Uuid) -> CqlValue {
    CqlValue::Uuid(id)
}

fn from_micros(us: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Corrupt(format!("time out of range: {us}µs")))
}

/// The bucket of a UTC date: what [`day_of`] gives every time of that date.
fn day_of_date(date: NaiveDate) -> i32 {
    (date - DateTime::UNIX_EPOCH.date_naive()).num_days() as i32
}

/// A clustering position in a newest-first day index: (time µs, id).
type Position = (i64, Id);

/// Walks the day buckets of a newest-first index (`calls_by_tenant`, the bid
/// tables) one read at a time, strictly before `before`: the first read of
/// the cursor's day resumes after the cursor, every other day starts at its
/// newest row, and a full chunk goes on in the same day after its last row.
/// No I/O: the callers run the reads it names.
#[derive(Debug)]
struct DescWalk {
    /// Buckets holding rows, newest first.
    days: Vec<i32>,
    at: usize,
    before: Option<Position>,
    position: Option<Position>,
}

impl DescWalk {
    fn new(days: Vec<i32>, before: Option<Position>) -> Self {
        let mut walk = Self {
            days,
            at: 0,
            before,
            position: None,
        };
        walk.position = walk.start();
        walk
    }

    /// Where the current day starts: before the cursor if it is the cursor's day.
    fn start(&self) -> Option<Position> {
        let day = *self.days.get(self.at)?;
        self.before.filter(|(us, _)| day_of(*us) == day)
    }

    /// The next read: its day, and the position to read strictly before
    /// (`None`: from the day's newest row). `None` when the walk is done.
    fn read(&self) -> Option<(i32, Option<Position>)> {
        self.days.get(self.at).map(|&day| (day, self.position))
    }

    /// After a read: `last` is its last row, `full` whether it filled its chunk
    /// (then the day may hold more).
    fn advance(&mut self, last: Option<Position>, full: bool) {
        match last {
            Some(last) if full => self.position = Some(last),
            _ => {
                self.at += 1;
                self.position = self.start();
            }
        }
    }
}

/// The exclusive upper key of a bid page: the cursor or the filter's
/// `until`, whichever is older. (`until` with the nil id: the nil uuid sorts
/// first, so the bound keeps exactly the rows created before `until`.)
fn bid_upper(before: Option<Position>, until: Option<DateTime<Utc>>) -> Option<Position> {
    let until = until.map(|u| (micros(u), Uuid::nil()));
    match (before, until) {
        (Some(a), Some(u)) => Some(a.min(u)),
        (a, u) => a.or(u),
    }
}

impl ScyllaStore {
    /// Connects, applies pending migrations (unless `migrate=false`) and
    /// prepares every statement.
    pub async fn connect(config: &ScyllaConfig) -> Result<Self> {
        let (session, relaxed) = session(config).await?;
        if config.migrate {
            migrate::apply(&session, config).await?;
        }
        let st = Statements::prepare(&session, config, &relaxed).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                session,
                st,
                keyspace: config.keyspace.clone(),
                in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
                committed: Mutex::new(HashMap::new()),
                buckets: Mutex::new(HashSet::new()),
                bid_ttl: i32::try_from(u64::from(config.bid_ttl_days) * 86_400).unwrap_or(i32::MAX),
            }),
        })
    }

    /// Drops this store's keyspace and everything in it (test teardown).
    pub async fn drop_keyspace(&self) -> Result<()> {
        let mut st = Statement::new(format!("DROP KEYSPACE IF EXISTS {}", self.inner.keyspace));
        st.set_request_timeout(Some(Duration::from_secs(60)));
        self.inner
            .session
            .query_unpaged(st, ())
            .await
            .map_err(backend("drop keyspace"))?;
        Ok(())
    }

    fn session(&self) -> &Session {
        &self.inner.session
    }

    fn st(&self) -> &Statements {
        &self.inner.st
    }

    /// The statement that writes (or deletes) the index entry `key` of call `id`.
    fn index_write(&self, id: Id, key: &IndexKey, delete: bool) -> (&PreparedStatement, Values) {
        let st = self.st();
        let pick = |put, del| if delete { del } else { put };
        match key {
            IndexKey::Sid(sid) if delete => (&st.delete_sid, vec![CqlValue::Text(sid.clone())]),
            IndexKey::Sid(sid) => (&st.put_sid, vec![CqlValue::Text(sid.clone()), uuid(id)]),
            IndexKey::Tenant { tenant, started } => (
                pick(&st.put_by_tenant, &st.delete_by_tenant),
                vec![
                    uuid(*tenant),
                    CqlValue::Int(day_of(*started)),
                    CqlValue::BigInt(*started),
                    uuid(id),
                ],
            ),
            IndexKey::Campaign {
                tenant,
                campaign,
                started,
            } => (
                pick(&st.put_by_campaign, &st.delete_by_campaign),
                vec![
                    uuid(*tenant),
                    uuid(*campaign),
                    CqlValue::Int(day_of(*started)),
                    CqlValue::BigInt(*started),
                    uuid(id),
                ],
            ),
            IndexKey::Attempt {
                buyer,
                started,
                attempt,
            } => (
                pick(&st.put_attempt, &st.delete_attempt),
                vec![
                    uuid(*buyer),
                    CqlValue::Int(day_of(*started)),
                    CqlValue::BigInt(*started),
                    uuid(id),
                    CqlValue::Int(*attempt),
                ],
            ),
        }
    }

    async fn exec(&self, st: &PreparedStatement, values: Values) -> Result<QueryResult> {
        self.session()
            .execute_unpaged(st, values)
            .await
            .map_err(backend("request"))
    }

    /// Every row of a (possibly multi-page) read.
    async fn select<T>(&self, st: &PreparedStatement, values: Values) -> Result<Vec<T>>
    where
        T: for<'f> DeserializeRow<'f, 'f>,
    {
        let mut out = Vec::new();
        let mut paging = PagingState::start();
        loop {
            let (result, next) = self
                .session()
                .execute_single_page(st, &values, paging)
                .await
                .map_err(backend("read"))?;
            let rows = result.into_rows_result().map_err(backend("read result"))?;
            for row in rows.rows::<T>().map_err(corrupt("row type"))? {
                out.push(row.map_err(corrupt("row"))?);
            }
            match next.into_paging_control_flow() {
                std::ops::ControlFlow::Continue(p) => paging = p,
                std::ops::ControlFlow::Break(()) => return Ok(out),
            }
        }
    }

    /// Runs `jobs` concurrently, within the store's bound on requests in
    /// flight; all their results in order, or the first error (the rest are
    /// cancelled). A job never waits for a permit while holding one, so
    /// concurrent callers cannot deadlock.
    async fn all<T: Send + 'static>(&self, jobs: Vec<Job<T>>) -> Result<Vec<T>> {
        let limit = &self.inner.in_flight;
        let n = jobs.len();
        let mut set = JoinSet::new();
        let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
        let mut take = |joined: std::result::Result<(usize, Result<T>), tokio::task::JoinError>| -> Result<()> {
            let (i, r) = joined.map_err(backend("task"))?;
            out[i] = Some(r?);
            Ok(())
        };
        for (i, job) in jobs.into_iter().enumerate() {
            let permit = Arc::clone(limit)
                .acquire_owned()
                .await
                .map_err(backend("semaphore"))?;
            set.spawn(async move {
                let r = job.await;
                drop(permit);
                (i, r)
            });
            while let Some(joined) = set.try_join_next() {
                take(joined)?;
            }
        }
        while let Some(joined) = set.join_next().await {
            take(joined)?;
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// A job that runs one prepared statement.
    fn job(&self, st: &PreparedStatement, values: Values) -> Job<QueryResult> {
        let inner = Arc::clone(&self.inner);
        let st = st.clone();
        Box::pin(async move {
            inner
                .session
                .execute_unpaged(&st, values)
                .await
                .map_err(backend("request"))
        })
    }

    async fn write_all(&self, writes: Vec<(&PreparedStatement, Values)>) -> Result<()> {
        let jobs = writes
            .into_iter()
            .map(|(st, v)| {
                let job = self.job(st, v);
                Box::pin(async move { job.await.map(|_| ()) }) as Job<()>
            })
            .collect();
        self.all(jobs).await.map(|_| ())
    }

    /// The visible versions of the calls `ids` (missing ones are absent).
    async fn load(
        &self,
        ids: &[Id],
        view: &mut View,
        relaxed: bool,
    ) -> Result<HashMap<Id, CallRecord>> {
        let st = if relaxed {
            &self.st().get_call_relaxed
        } else {
            &self.st().get_call
        };
        let jobs = ids
            .iter()
            .map(|&id| {
                let job = self.job(st, vec![uuid(id)]);
                Box::pin(async move {
                    let rows = job
                        .await?
                        .into_rows_result()
                        .map_err(backend("call result"))?;
                    let raw: Option<RawCall> =
                        rows.maybe_first_row().map_err(corrupt("call row"))?;
                    Ok((id, raw))
                }) as Job<(Id, Option<RawCall>)>
            })
            .collect();
        let raws: Vec<(Id, RawCall)> = self
            .all(jobs)
            .await?
            .into_iter()
            .filter_map(|(id, raw)| raw.map(|r| (id, r)))
            .collect();

        let mut unknown: HashSet<Uuid> = HashSet::new();
        for (_, (_, batch, _)) in &raws {
            if let Some(b) = batch
                && !self.known_committed(*b, view)
            {
                unknown.insert(*b);
            }
        }
        if !unknown.is_empty() {
            let unknown: Vec<Uuid> = unknown.into_iter().collect();
            let jobs = unknown
                .iter()
                .map(|&b| {
                    let job = self.job(&self.st().get_batch, vec![uuid(b)]);
                    Box::pin(async move {
                        let rows = job
                            .await?
                            .into_rows_result()
                            .map_err(backend("batch result"))?;
                        Ok(rows.rows_num() > 0)
                    }) as Job<bool>
                })
                .collect();
            for (b, committed) in unknown.iter().zip(self.all(jobs).await?) {
                if committed {
                    self.remember_committed(*b);
                    view.fresh = true;
                }
            }
        }

        let mut out = HashMap::with_capacity(raws.len());
        for (id, raw) in raws {
            if let Some(json) = visible(raw, |b| self.known_committed(b, view)) {
                let call: CallRecord =
                    serde_json::from_str(&json).map_err(corrupt("call record"))?;
                out.insert(id, call);
            }
        }
        Ok(out)
    }

    /// Buckets of an index in `[from, to]`, ascending or descending.
    async fn buckets(
        &self,
        scope: &str,
        key: Id,
        from: i32,
        to: i32,
        descending: bool,
    ) -> Result<Vec<i32>> {
        let st = if descending {
            &self.st().buckets_desc
        } else {
            &self.st().buckets_asc
        };
        let rows: Vec<(i32,)> = self
            .select(
                st,
                vec![
                    CqlValue::Text(scope.to_owned()),
                    uuid(key),
                    CqlValue::Int(from),
                    CqlValue::Int(to),
                ],
            )
            .await?;
        Ok(rows.into_iter().map(|(b,)| b).collect())
    }

    fn bid_statements(&self, table: BidTable) -> &BidStatements {
        match table {
            BidTable::Requests => &self.st().bid_requests,
            BidTable::Responses => &self.st().bid_responses,
        }
    }

    /// Pages a bid table newest first: `tenant`'s rows created in the
    /// filter's `[since, until)`, before `cursor`, that pass `keep`; at most
    /// `limit` of them, reading at most [`BID_SCAN_LIMIT`] rows (then the page
    /// ends early). The cursor names the last row read, so the next page
    /// starts right after it: no repeats, no gaps. As the embedded store.
    async fn bid_page<T: serde::de::DeserializeOwned>(
        &self,
        table: BidTable,
        tenant: Id,
        filter: &BidFilter,
        cursor: Option<&str>,
        limit: usize,
        keep: impl Fn(&T) -> bool,
    ) -> Result<BidPage<T>> {
        let before = cursor.map(decode_cursor).transpose()?;
        let limit = limit.max(1);
        let since = filter.since.map(micros);
        let upper = bid_upper(before, filter.until);
        let mut items = Vec::new();
        let (first_day, last_day) = (
            since.map_or(i32::MIN, day_of),
            upper.map_or(i32::MAX, |(us, _)| day_of(us)),
        );
        if first_day > last_day {
            // An empty window; within one day, the walk stops at `since`.
            return Ok(BidPage { items, next: None });
        }
        let days = self
            .buckets(table.scope(), tenant, first_day, last_day, true)
            .await?;
        let st = self.bid_statements(table);
        let chunk = (limit + 1).clamp(16, PAGE_SIZE as usize);
        let mut walk = DescWalk::new(days, upper);
        let (mut scanned, mut last, mut more) = (0, None, false);
        'walk: while let Some((day, position)) = walk.read() {
            let rows: Vec<(i64, Uuid, Option<String>)> = match position {
                None => {
                    self.select(
                        &st.first,
                        vec![
                            uuid(tenant),
                            CqlValue::Int(day),
                            CqlValue::Int(chunk as i32),
                        ],
                    )
                    .await?
                }
                Some((us, id)) => {
                    self.select(
                        &st.after,
                        vec![
                            uuid(tenant),
                            CqlValue::Int(day),
                            CqlValue::BigInt(us),
                            uuid(id),
                            CqlValue::Int(chunk as i32),
                        ],
                    )
                    .await?
                }
            };
            for (created, id, body) in &rows {
                if since.is_some_and(|s| *created < s) {
                    // Newest first: every row from here on is older than the window.
                    break 'walk;
                }
                if items.len() == limit || scanned == BID_SCAN_LIMIT {
                    more = true;
                    break 'walk;
                }
                scanned += 1;
                last = Some((*created, *id));
                let Some(body) = body else { continue };
                let row: T = serde_json::from_str(body).map_err(corrupt("bid row"))?;
                if keep(&row) {
                    items.push(row);
                }
            }
            walk.advance(
                rows.last().map(|&(created, id, _)| (created, id)),
                rows.len() == chunk,
            );
        }
        let next = if more {
            last.map(|(us, id)| encode_cursor(us, id))
        } else {
            None
        };
        Ok(BidPage { items, next })
    }

    /// Lease `name` as stored, read at SERIAL.
    async fn read_lease(&self, name: &str) -> Result<Option<Lease>> {
        let rows: Vec<LeaseRow> = self
            .select(&self.st().get_lease, vec![CqlValue::Text(name.to_owned())])
            .await?;
        rows.into_iter()
            .next()
            .map(|row| decode_lease(name.to_owned(), row))
            .transpose()
    }

    fn doc_key(kind: DocKind, tenant: Id) -> Values {
        if DocTable::of(kind).keyed_by_kind() {
            vec![CqlValue::Text(kind.as_str().to_owned()), uuid(tenant)]
        } else {
            vec![uuid(tenant)]
        }
    }

    /// The tenants that have (or had) documents of a kind.
    async fn doc_tenants(&self, kind: DocKind) -> Result<Vec<Id>> {
        let rows: Vec<(Uuid,)> = self
            .select(
                &self.st().doc_tenants,
                vec![CqlValue::Text(kind.as_str().to_owned())],
            )
            .await?;
        Ok(rows.into_iter().map(|(t,)| t).collect())
    }

    fn doc_statements(&self, kind: DocKind) -> &DocStatements {
        let table = DocTable::of(kind);
        let i = DocTable::ALL
            .iter()
            .position(|t| *t == table)
            .expect("every table is prepared");
        &self.st().docs[i]
    }
}

/// A `leases` row after its name: (holder, expires, epoch).
type LeaseRow = (Option<String>, Option<CqlTimestamp>, Option<i64>);

fn decode_lease(name: String, (holder, expires, epoch): LeaseRow) -> Result<Lease> {
    let (Some(holder), Some(expires), Some(epoch)) = (holder, expires, epoch) else {
        return Err(StoreError::Corrupt(format!(
            "lease {name}: a column is missing"
        )));
    };
    let epoch = u64::try_from(epoch)
        .map_err(|_| StoreError::Corrupt(format!("lease {name}: epoch {epoch}")))?;
    Ok(Lease {
        expires: lease::from_millis(&name, expires.0)?,
        holder,
        epoch,
        name,
    })
}

fn decode_body(body: &str) -> Result<serde_json::Value> {
    serde_json::from_str(body).map_err(corrupt("document body"))
}

fn encode_cursor(started: i64, id: Id) -> String {
    format!("{started}_{}", id.simple())
}

fn decode_cursor(cursor: &str) -> Result<(i64, Id)> {
    let bad = || StoreError::InvalidArgument(format!("invalid page cursor {cursor:?}"));
    let (us, id) = cursor.split_once('_').ok_or_else(bad)?;
    Ok((
        us.parse().map_err(|_| bad())?,
        Uuid::try_parse(id).map_err(|_| bad())?,
    ))
}

#[async_trait]
impl Store for ScyllaStore {
    async fn get_doc(&self, kind: DocKind, tenant: Id, id: Id) -> Result<Option<Doc>> {
        let mut values = Self::doc_key(kind, tenant);
        values.push(uuid(id));
        let rows: Vec<(Option<i64>, Option<String>)> =
            self.select(&self.doc_statements(kind).get, values).await?;
        match rows.into_iter().next() {
            Some((Some(version), Some(body))) => Ok(Some(Doc {
                kind,
                tenant,
                id,
                version: version as u64,
                body: decode_body(&body)?,
            })),
            _ => Ok(None),
        }
    }

    async fn list_docs(&self, kind: DocKind, tenant: Option<Id>) -> Result<Vec<Doc>> {
        let tenants = match tenant {
            Some(t) => vec![t],
            None => self.doc_tenants(kind).await?,
        };
        let mut out = Vec::new();
        for tenant in tenants {
            let rows: Vec<(Uuid, Option<i64>, Option<String>)> = self
                .select(&self.doc_statements(kind).list, Self::doc_key(kind, tenant))
                .await?;
            for (id, version, body) in rows {
                if let (Some(version), Some(body)) = (version, body) {
                    out.push(Doc {
                        kind,
                        tenant,
                        id,
                        version: version as u64,
                        body: decode_body(&body)?,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn list_docs_page(
        &self,
        kind: DocKind,
        tenant: Option<Id>,
        after: Option<(Id, Id)>,
        limit: usize,
    ) -> Result<DocPage> {
        let mut tenants = match tenant {
            Some(t) => vec![t],
            None => self.doc_tenants(kind).await?,
        };
        // Partitions come in token order: sort them so pages follow (tenant, id).
        tenants.sort_unstable();
        let limit = limit.max(1);
        let sts = self.doc_statements(kind);
        let mut page = DocPage {
            docs: Vec::new(),
            next: None,
        };
        // Rows without a body are skipped but counted, so the cursor moves past them.
        let (mut rows_read, mut last_row) = (0, None);
        for t in tenants
            .into_iter()
            .filter(|t| after.is_none_or(|(at, _)| *t >= at))
        {
            // One row past the page tells whether another page follows.
            let want = i32::try_from(limit - rows_read + 1).unwrap_or(i32::MAX);
            let mut values = Self::doc_key(kind, t);
            let rows: Vec<(Uuid, Option<i64>, Option<String>)> = match after {
                Some((at, id)) if at == t => {
                    values.extend([uuid(id), CqlValue::Int(want)]);
                    self.select(&sts.page_after, values).await?
                }
                _ => {
                    values.push(CqlValue::Int(want));
                    self.select(&sts.page_first, values).await?
                }
            };
            for (id, version, body) in rows {
                if rows_read == limit {
                    page.next = last_row;
                    return Ok(page);
                }
                rows_read += 1;
                last_row = Some((t, id));
                if let (Some(version), Some(body)) = (version, body) {
                    page.docs.push(Doc {
                        kind,
                        tenant: t,
                        id,
                        version: version as u64,
                        body: decode_body(&body)?,
                    });
                }
            }
        }
        Ok(page)
    }

    async fn doc_versions(&self, kind: DocKind) -> Result<Vec<DocVersion>> {
        let sts = self.doc_statements(kind);
        let mut out = Vec::new();
        for tenant in self.doc_tenants(kind).await? {
            let rows: Vec<(Uuid, Option<i64>)> = self
                .select(&sts.versions, Self::doc_key(kind, tenant))
                .await?;
            out.extend(rows.into_iter().filter_map(|(id, version)| {
                Some(DocVersion {
                    tenant,
                    id,
                    version: version? as u64,
                })
            }));
        }
        Ok(out)
    }

    async fn put_doc(&self, doc: Doc, expected: Option<u64>) -> Result<u64> {
        let body = serde_json::to_string(&doc.body)
            .map_err(|e| StoreError::InvalidArgument(format!("document body: {e}")))?;
        let sts = self.doc_statements(doc.kind);
        let key = Self::doc_key(doc.kind, doc.tenant);
        let result = match expected {
            None => {
                // Listed before it exists: a listing never misses a document.
                self.exec(
                    &self.st().add_doc_tenant,
                    vec![
                        CqlValue::Text(doc.kind.as_str().to_owned()),
                        uuid(doc.tenant),
                    ],
                )
                .await?;
                let mut values = key;
                values.extend([uuid(doc.id), CqlValue::Text(body)]);
                self.exec(&sts.insert, values).await?
            }
            Some(v) => {
                let mut values = vec![CqlValue::BigInt(v as i64 + 1), CqlValue::Text(body)];
                values.extend(key);
                values.extend([uuid(doc.id), CqlValue::BigInt(v as i64)]);
                self.exec(&sts.update, values).await?
            }
        };
        match doc_from_lwt(result)? {
            (true, _) => Ok(expected.map_or(1, |v| v + 1)),
            (false, found) => Err(StoreError::Conflict { expected, found }),
        }
    }

    async fn delete_doc(&self, kind: DocKind, tenant: Id, id: Id, expected: u64) -> Result<()> {
        let mut values = Self::doc_key(kind, tenant);
        values.extend([uuid(id), CqlValue::BigInt(expected as i64)]);
        let result = self.exec(&self.doc_statements(kind).delete, values).await?;
        match doc_from_lwt(result)? {
            (true, _) => Ok(()),
            (false, found) => Err(StoreError::Conflict {
                expected: Some(expected),
                found,
            }),
        }
    }

    async fn put_calls(&self, calls: &[CallRecord]) -> Result<()> {
        let calls = latest_versions(calls);
        if calls.is_empty() {
            return Ok(());
        }
        let ids: Vec<Id> = calls.iter().map(|c| c.id).collect();
        let old = self.load(&ids, &mut View::new(), false).await?;
        let mut plan = CommitPlan::new(&calls, &old)?;
        {
            let known = self.inner.buckets.lock().expect("bucket cache");
            plan.buckets.retain(|b| !known.contains(b));
        }
        let batch = Uuid::now_v7();
        let st = self.st();
        let mut writes: Vec<(&PreparedStatement, Values)> = Vec::new();
        for (id, body, prev) in plan.calls {
            writes.push(match prev {
                Some(prev) => (
                    &st.put_call,
                    vec![
                        uuid(id),
                        CqlValue::Text(body),
                        uuid(batch),
                        CqlValue::Text(prev),
                    ],
                ),
                None => (
                    &st.put_call_fresh,
                    vec![uuid(id), CqlValue::Text(body), uuid(batch)],
                ),
            });
            writes.push((
                &st.put_scan,
                vec![
                    CqlValue::Int(hour_of(id)),
                    CqlValue::Blob(id.as_bytes().to_vec()),
                ],
            ));
        }
        writes.extend(
            plan.index
                .iter()
                .map(|(id, k)| self.index_write(*id, k, false)),
        );
        writes.extend(plan.buckets.iter().map(|(scope, key, bucket)| {
            (
                &st.put_bucket,
                vec![
                    CqlValue::Text((*scope).to_owned()),
                    uuid(*key),
                    CqlValue::Int(*bucket),
                ],
            )
        }));

        // All or error: the batch stays invisible unless every row landed.
        self.write_all(writes).await?;
        self.exec(&st.mark_batch, vec![uuid(batch)]).await?;
        self.remember_committed(batch);
        {
            let mut known = self.inner.buckets.lock().expect("bucket cache");
            if known.len() >= CACHE_LIMIT {
                known.clear();
            }
            known.extend(plan.buckets);
        }

        for (buyer, delta) in plan.deltas {
            self.exec(
                &st.add_total,
                vec![CqlValue::Counter(Counter(delta)), uuid(buyer)],
            )
            .await
            .map_err(|e| {
                StoreError::Backend(format!(
                    "calls stored, but the total of buyer {buyer} may be off by {delta}: {e}"
                ))
            })?;
        }

        // Stale entries are filtered on read; deleting them only saves reads
        // later, so a failure here does not fail the committed batch.
        let deletes = plan
            .stale
            .iter()
            .map(|(id, k)| self.index_write(*id, k, true))
            .collect();
        if let Err(e) = self.write_all(deletes).await {
            tracing::warn!(error = %e, "scylla: stale call index entries not deleted (they are ignored on read)");
        }
        Ok(())
    }

    async fn get_call(&self, id: Id) -> Result<Option<CallRecord>> {
        let mut view = View::new();
        loop {
            let mut found = self.load(&[id], &mut view, false).await?;
            if !view.again() {
                return Ok(found.remove(&id));
            }
        }
    }

    async fn get_call_by_sid(&self, call_sid: &str) -> Result<Option<CallRecord>> {
        let mut view = View::new();
        loop {
            let rows: Vec<(Option<Uuid>,)> = self
                .select(
                    &self.st().get_sid,
                    vec![CqlValue::Text(call_sid.to_owned())],
                )
                .await?;
            let Some(id) = rows.into_iter().next().and_then(|(id,)| id) else {
                return Ok(None);
            };
            let found = self
                .load(&[id], &mut view, false)
                .await?
                .remove(&id)
                .filter(|c| c.call_sid == call_sid);
            if !view.again() {
                return Ok(found);
            }
        }
    }

    async fn calls_by_campaign(
        &self,
        tenant: Id,
        campaign: Id,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<CallRecord>> {
        let (from, to) = (micros(since), micros(until));
        if from >= to {
            return Ok(Vec::new());
        }
        let mut view = View::new();
        loop {
            let mut keys: Vec<(i64, Id)> = Vec::new();
            for day in self
                .buckets("campaign", campaign, day_of(from), day_of(to - 1), false)
                .await?
            {
                let rows: Vec<(i64, Uuid)> = self
                    .select(
                        &self.st().campaign_range,
                        vec![
                            uuid(tenant),
                            uuid(campaign),
                            CqlValue::Int(day),
                            CqlValue::BigInt(from),
                            CqlValue::BigInt(to),
                        ],
                    )
                    .await?;
                keys.extend(rows);
            }
            let ids: Vec<Id> = keys.iter().map(|&(_, id)| id).collect();
            let mut calls = self.load(&ids, &mut view, false).await?;
            let out: Vec<CallRecord> = keys
                .iter()
                .filter_map(|&(started, id)| {
                    calls.remove(&id).filter(|c| {
                        c.tenant_id == tenant
                            && c.campaign_id == campaign
                            && micros(c.started_at) == started
                    })
                })
                .collect();
            if !view.again() {
                return Ok(out);
            }
        }
    }

    async fn calls_by_tenant(
        &self,
        tenant: Id,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CallPage> {
        let after = cursor.map(decode_cursor).transpose()?;
        if limit == 0 {
            return Ok(CallPage {
                calls: Vec::new(),
                next: cursor.map(str::to_owned),
            });
        }
        // One more than asked: whether there is a next page.
        let want = limit + 1;
        let chunk = want.clamp(16, PAGE_SIZE as usize) as i32;
        let mut view = View::new();
        loop {
            let mut out: Vec<CallRecord> = Vec::new();
            let last_day = after.map_or(i32::MAX, |(us, _)| day_of(us));
            let mut walk = DescWalk::new(
                self.buckets("tenant", tenant, i32::MIN, last_day, true)
                    .await?,
                after,
            );
            'days: while let Some((day, position)) = walk.read() {
                let rows: Vec<(i64, Uuid)> = match position {
                    None => {
                        self.select(
                            &self.st().tenant_first,
                            vec![uuid(tenant), CqlValue::Int(day), CqlValue::Int(chunk)],
                        )
                        .await?
                    }
                    Some((us, id)) => {
                        self.select(
                            &self.st().tenant_after,
                            vec![
                                uuid(tenant),
                                CqlValue::Int(day),
                                CqlValue::BigInt(us),
                                uuid(id),
                                CqlValue::Int(chunk),
                            ],
                        )
                        .await?
                    }
                };
                let ids: Vec<Id> = rows.iter().map(|&(_, id)| id).collect();
                let mut calls = self.load(&ids, &mut view, false).await?;
                for &(started, id) in &rows {
                    if let Some(c) = calls
                        .remove(&id)
                        .filter(|c| c.tenant_id == tenant && micros(c.started_at) == started)
                    {
                        out.push(c);
                        if out.len() == want {
                            break 'days;
                        }
                    }
                }
                walk.advance(rows.last().copied(), rows.len() == chunk as usize);
            }
            if !view.again() {
                let next = if out.len() > limit {
                    out.truncate(limit);
                    out.last()
                        .map(|c| encode_cursor(micros(c.started_at), c.id))
                } else {
                    None
                };
                return Ok(CallPage { calls: out, next });
            }
        }
    }

    async fn buyer_attempts(&self, buyer: Id, since: DateTime<Utc>) -> Result<Vec<AttemptRow>> {
        let from = micros(since);
        let mut view = View::new();
        loop {
            let mut keys: Vec<(i64, Uuid, i32)> = Vec::new();
            for day in self
                .buckets("buyer", buyer, day_of(from), i32::MAX, false)
                .await?
            {
                let rows: Vec<(i64, Uuid, i32)> = self
                    .select(
                        &self.st().attempts_since,
                        vec![uuid(buyer), CqlValue::Int(day), CqlValue::BigInt(from)],
                    )
                    .await?;
                keys.extend(rows);
            }
            let ids: Vec<Id> = keys
                .iter()
                .map(|&(_, id, _)| id)
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let calls = self.load(&ids, &mut view, false).await?;
            let mut out = Vec::new();
            for (started, call_id, attempt) in keys {
                let Some(a) = calls
                    .get(&call_id)
                    .and_then(|c| c.attempts.get(attempt as usize))
                else {
                    continue;
                };
                if a.buyer_id == buyer && micros(a.started_at) == started {
                    out.push(AttemptRow {
                        call_id,
                        attempt: attempt as u16,
                        started_at: from_micros(started)?,
                        outcome: a.outcome,
                        released: a.released,
                    });
                }
            }
            if !view.again() {
                return Ok(out);
            }
        }
    }

    async fn buyer_total(&self, buyer: Id) -> Result<u64> {
        let rows: Vec<(Option<Counter>,)> =
            self.select(&self.st().get_total, vec![uuid(buyer)]).await?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|(c,)| c)
            .map_or(0, |c| c.0.max(0) as u64))
    }

    async fn put_auction(
        &self,
        request: &BidRequestRecord,
        responses: &[BidResponseRecord],
    ) -> Result<()> {
        fn json<T: serde::Serialize>(row: &T) -> Result<String> {
            serde_json::to_string(row)
                .map_err(|e| StoreError::InvalidArgument(format!("bid row: {e}")))
        }
        let st = self.st();
        let mut batch = Batch::new(BatchType::Logged);
        let mut values: Vec<Values> = Vec::new();
        let mut buckets: HashSet<(BidTable, Id, i32)> = HashSet::new();
        let mut row =
            |table: BidTable, tenant: Id, created: DateTime<Utc>, id: Id, body: String| {
                let (us, day) = (micros(created), day_of(micros(created)));
                batch.append_statement(self.bid_statements(table).put.clone());
                values.push(vec![
                    uuid(tenant),
                    CqlValue::Int(day),
                    CqlValue::BigInt(us),
                    uuid(id),
                    CqlValue::Text(body),
                ]);
                buckets.insert((table, tenant, day));
            };
        row(
            BidTable::Requests,
            request.tenant_id,
            request.created_at,
            request.id,
            json(request)?,
        );
        for r in responses {
            row(
                BidTable::Responses,
                r.tenant_id,
                r.created_at,
                r.id,
                json(r)?,
            );
        }
        for (table, tenant, day) in buckets {
            batch.append_statement(st.put_bid_bucket.clone());
            values.push(vec![
                CqlValue::Text(table.scope().to_owned()),
                uuid(tenant),
                CqlValue::Int(day),
                CqlValue::Int(self.inner.bid_ttl),
            ]);
        }
        // One logged batch: the rows and their buckets land all or none
        // (the batch log replays a half-applied one). Plain inserts: idempotent.
        batch.set_is_idempotent(true);
        self.session()
            .batch(&batch, values)
            .await
            .map_err(backend("bid batch"))?;
        Ok(())
    }

    async fn bid_requests(
        &self,
        tenant: Id,
        filter: &BidFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<BidPage<BidRequestRecord>> {
        self.bid_page(
            BidTable::Requests,
            tenant,
            filter,
            cursor,
            limit,
            |r: &BidRequestRecord| filter.request(r),
        )
        .await
    }

    async fn bid_responses(
        &self,
        tenant: Id,
        filter: &BidFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<BidPage<BidResponseRecord>> {
        self.bid_page(
            BidTable::Responses,
            tenant,
            filter,
            cursor,
            limit,
            |r: &BidResponseRecord| filter.response(r),
        )
        .await
    }

    async fn put_sessions(&self, sessions: &[VisitorSession]) -> Result<()> {
        let st = self.st();
        let writes = last_per_session(sessions)
            .into_iter()
            .map(|v| {
                let body = serde_json::to_string(v)
                    .map_err(|e| StoreError::InvalidArgument(format!("visitor session: {e}")))?;
                Ok((
                    &st.put_session,
                    vec![
                        uuid(v.tag_id),
                        CqlValue::Int(day_of(micros(v.started_at))),
                        CqlValue::Text(v.session_id.clone()),
                        CqlValue::Text(body),
                    ],
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        // Concurrent single-row upserts (the rows live in many partitions):
        // a failure fails the call, and writing the same sessions again is safe.
        self.write_all(writes).await
    }

    async fn list_sessions(&self, tag: Id, day: NaiveDate) -> Result<Vec<VisitorSession>> {
        let rows: Vec<(Option<String>,)> = self
            .select(
                &self.st().list_sessions,
                vec![uuid(tag), CqlValue::Int(day_of_date(day))],
            )
            .await?;
        rows.into_iter()
            .filter_map(|(body,)| body)
            .map(|body| serde_json::from_str(&body).map_err(corrupt("visitor session")))
            .collect()
    }

    async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Lease> {
        lease::check_claim(name, holder)?;
        let st = self.st();
        let current = self.read_lease(name).await?;
        let read = current
            .as_ref()
            .map(|c| (c.holder.clone(), c.epoch, c.expires));
        let next = match lease::claim(current, name, holder, now, until) {
            Claim::Write(next) => next,
            Claim::Refused(current) => return Ok(current),
        };
        let ms = |t: DateTime<Utc>| CqlValue::Timestamp(CqlTimestamp(lease::to_millis(t)));
        let (name_v, holder_v) = (
            CqlValue::Text(name.to_owned()),
            CqlValue::Text(next.holder.clone()),
        );
        let epoch_v = CqlValue::BigInt(next.epoch as i64);
        // The LWT is conditioned on the row as read: if another claim changed
        // it since, this one does not apply.
        let result = match read {
            None => {
                self.session()
                    .execute_unpaged(
                        &st.insert_lease,
                        vec![name_v, holder_v, ms(next.expires), epoch_v],
                    )
                    .await
            }
            Some((holder, epoch, expires)) => {
                let values = vec![
                    holder_v,
                    ms(next.expires),
                    epoch_v,
                    name_v,
                    CqlValue::Text(holder),
                    CqlValue::BigInt(epoch as i64),
                    ms(expires),
                ];
                self.session()
                    .execute_unpaged(&st.update_lease, values)
                    .await
            }
        };
        match result {
            Ok(result) => {
                if lwt_applied(result)? {
                    return Ok(next);
                }
                // Another claim got there first: what it stored is the answer.
            }
            // A timed-out LWT may or may not have applied. A serial read
            // settles it (it completes a proposal left in progress), so the
            // answer is still what is stored; if that read fails too, the error.
            Err(e) => {
                tracing::warn!(lease = name, error = %e, "scylla: lease claim failed, reading what is stored");
                return match self.read_lease(name).await {
                    Ok(Some(stored)) => Ok(stored),
                    _ => Err(backend("lease claim")(e)),
                };
            }
        }
        self.read_lease(name).await?.ok_or_else(|| {
            StoreError::Backend(format!(
                "scylla lease {name}: not stored after a refused claim"
            ))
        })
    }

    async fn leases(&self, prefix: &str) -> Result<Vec<Lease>> {
        // At most a few hundred rows: read them all, keep the prefix here.
        let rows: Vec<(String, Option<String>, Option<CqlTimestamp>, Option<i64>)> =
            self.select(&self.st().all_leases, Vec::new()).await?;
        let mut out = rows
            .into_iter()
            .filter(|(name, ..)| name.starts_with(prefix))
            .map(|(name, holder, expires, epoch)| decode_lease(name, (holder, expires, epoch)))
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn scan_calls(&self, after: Option<Id>, limit: usize) -> Result<Vec<CallRecord>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let chunk = limit.clamp(16, PAGE_SIZE as usize) as i32;
        let first = after.map_or(i32::MIN, hour_of);
        let hours: Vec<(i32,)> = self
            .select(
                &self.st().buckets_scan,
                vec![
                    CqlValue::Text("scan".into()),
                    uuid(Uuid::nil()),
                    CqlValue::Int(first),
                    CqlValue::Int(i32::MAX),
                ],
            )
            .await?;
        // An export reads settled history: LOCAL_ONE, and no rereads.
        let mut view = View::new();
        let mut out = Vec::new();
        for (hour,) in hours {
            let mut position = after
                .filter(|a| hour_of(*a) == hour)
                .map_or_else(Vec::new, |a| a.as_bytes().to_vec());
            loop {
                let rows: Vec<(Vec<u8>,)> = self
                    .select(
                        &self.st().scan_after,
                        vec![
                            CqlValue::Int(hour),
                            CqlValue::Blob(position.clone()),
                            CqlValue::Int(chunk),
                        ],
                    )
                    .await?;
                let ids: Vec<Id> = rows
                    .iter()
                    .filter_map(|(b,)| Uuid::from_slice(b).ok())
                    .collect();
                let mut calls = self.load(&ids, &mut view, true).await?;
                for id in ids {
                    if let Some(c) = calls.remove(&id) {
                        out.push(c);
                        if out.len() == limit {
                            return Ok(out);
                        }
                    }
                }
                match rows.last() {
                    Some((last,)) if rows.len() == chunk as usize => position = last.clone(),
                    _ => break,
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scylla::commit::MICROS_PER_DAY;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(-5, id)).unwrap(), (-5, id));
        for bad in ["", "x", "1_", "_1", "1_zz", "not a cursor"] {
            assert!(
                matches!(decode_cursor(bad), Err(StoreError::InvalidArgument(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_walk_resumes_after_the_cursor_then_takes_older_days_whole() {
        let id = |n: u128| Uuid::from_u128(n);
        let at = |day: i64, us: i64| day * MICROS_PER_DAY + us;
        let cursor = (at(10, 500), id(7));

        // No cursor: each day from its newest row; a full chunk goes on in its day.
        let mut walk = DescWalk::new(vec![10, 8], None);
        assert_eq!(walk.read(), Some((10, None)));
        walk.advance(Some((at(10, 900), id(1))), true);
        assert_eq!(
            walk.read(),
            Some((10, Some((at(10, 900), id(1))))),
            "a full chunk: more of the same day"
        );
        walk.advance(Some((at(10, 100), id(2))), false);
        assert_eq!(
            walk.read(),
            Some((8, None)),
            "a short chunk: the day is done"
        );
        walk.advance(None, false);
        assert_eq!(walk.read(), None);

        // The cursor's day resumes after it; older days start at their newest row.
        let mut walk = DescWalk::new(vec![10, 9], Some(cursor));
        assert_eq!(walk.read(), Some((10, Some(cursor))));
        walk.advance(None, false);
        assert_eq!(walk.read(), Some((9, None)));

        // A cursor whose day holds no rows any more: the older days, whole.
        let mut walk = DescWalk::new(vec![9], Some(cursor));
        assert_eq!(walk.read(), Some((9, None)));
        walk.advance(Some((at(9, 5), id(3))), true);
        walk.advance(None, true);
        assert_eq!(
            walk.read(),
            None,
            "an empty read ends the day even if asked for a full chunk"
        );
        assert_eq!(DescWalk::new(Vec::new(), Some(cursor)).read(), None);
    }

    #[test]
    fn a_bid_page_ends_at_the_older_of_cursor_and_until() {
        let t = DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap();
        let id = Uuid::now_v7();
        let (early, late) = ((micros(t) - 1, id), (micros(t) + 1, id));
        assert_eq!(bid_upper(None, None), None);
        assert_eq!(bid_upper(Some(late), None), Some(late));
        assert_eq!(bid_upper(None, Some(t)), Some((micros(t), Uuid::nil())));
        assert_eq!(
            bid_upper(Some(late), Some(t)),
            Some((micros(t), Uuid::nil()))
        );
        assert_eq!(bid_upper(Some(early), Some(t)), Some(early));
        assert_eq!(
            bid_upper(Some((micros(t), id)), Some(t)),
            Some((micros(t), Uuid::nil())),
            "same µs: until keeps none of it"
        );
        // A bid cursor is a calls cursor: one format, one decoder.
        assert_eq!(
            decode_cursor(&encode_cursor(early.0, early.1)).unwrap(),
            early
        );
    }

    #[test]
    fn a_date_is_the_bucket_of_its_times() {
        for t in [
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999999Z",
            "2026-03-04T23:59:59.500Z",
            "2026-03-05T00:00:00Z",
        ] {
            let t = DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc);
            assert_eq!(day_of_date(t.date_naive()), day_of(micros(t)), "{t}");
        }
    }
}
