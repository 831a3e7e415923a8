//! The conformance suite: what every [`Store`] backend must do.
//!
//! One public async function per behaviour, each taking `&dyn Store` and
//! panicking (like a test) when the backend misbehaves, and [`run_all`] to run
//! them in turn. Every function makes fresh ids for its tenants, buyers and
//! campaigns, so the suite can run against a shared cluster, concurrently with
//! itself, without seeing other runs' data.
//!
//! Times are whole milliseconds: the precision every backend keeps.
//! Lease names start with a fresh run id for the same reason ids are fresh.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::json;
use switchboard_model::call::{Traffic, VisitorSession};
use switchboard_model::{
    Attempt, AttemptOutcome, BidFilter, BidRequestRecord, BidResponseRecord, CallRecord,
    CallStatus, Currency, Id, Lease, PhoneNumber, new_id,
};

use crate::{AttemptRow, Doc, DocKind, DocVersion, Store, StoreError};

/// Runs every behaviour of the suite, one after the other.
pub async fn run_all(store: &dyn Store) {
    doc_compare_and_set(store).await;
    doc_list_and_isolation(store).await;
    doc_pages(store).await;
    doc_versions_without_bodies(store).await;
    put_calls_batch_is_atomic(store).await;
    upsert_replaces_indexes(store).await;
    upsert_moves_changed_keys(store).await;
    get_call_by_id_and_sid(store).await;
    calls_by_campaign_range(store).await;
    calls_by_tenant_pagination(store).await;
    buyer_attempts_since(store).await;
    scan_calls_pagination(store).await;
    large_batch(store).await;
    bid_rows_filter_and_page(store).await;
    visitor_sessions_by_tag_and_day(store).await;
    rollups_and_events_follow_each_record(store).await;
    lease_first_claim_and_renewal(store).await;
    lease_refused_while_live(store).await;
    lease_taken_over_once_lapsed(store).await;
    lease_given_up_is_free_at_once(store).await;
    leases_by_prefix_in_name_order(store).await;
    lease_race_has_one_winner(store).await;
}

/// Every behaviour but the large batch at once on one store: what a shared
/// cluster sees, and proof that the suite's runs do not see each other.
pub async fn all_at_once(store: &dyn Store) {
    tokio::join!(
        doc_compare_and_set(store),
        doc_list_and_isolation(store),
        doc_pages(store),
        doc_versions_without_bodies(store),
        put_calls_batch_is_atomic(store),
        upsert_replaces_indexes(store),
        upsert_moves_changed_keys(store),
        get_call_by_id_and_sid(store),
        calls_by_campaign_range(store),
        calls_by_tenant_pagination(store),
        buyer_attempts_since(store),
        scan_calls_pagination(store),
        visitor_sessions_by_tag_and_day(store),
        rollups_and_events_follow_each_record(store),
        bid_rows_filter_and_page(store),
        lease_first_claim_and_renewal(store),
        lease_refused_while_live(store),
        lease_taken_over_once_lapsed(store),
        lease_given_up_is_free_at_once(store),
        leases_by_prefix_in_name_order(store),
        lease_race_has_one_winner(store),
    );
}

/// A completed call with no attempts, a fresh id and a `CallSid` derived from it.
pub fn sample_call(tenant: Id, campaign: Id, started_at: DateTime<Utc>) -> CallRecord {
    let id = new_id();
    CallRecord {
        id,
        call_sid: format!("CA{}", id.simple()),
        tenant_id: tenant,
        campaign_id: campaign,
        from: "+15550001000".to_owned(),
        to: PhoneNumber::parse("+15550002000").expect("valid number"),
        caller_state: Some("CA".to_owned()),
        caller_zip: Some("94107".to_owned()),
        status: CallStatus::Completed,
        reject_reason: None,
        buyer_id: None,
        attempts: Vec::new(),
        skipped: Vec::new(),
        tags: Default::default(),
        started_at,
        answered_at: None,
        ended_at: None,
        duration_seconds: 0,
        converted: false,
        revenue_minor: 0,
        payout_minor: 0,
        profit_minor: 0,
        currency: Currency::default(),
        recording_url: None,
        pool_id: None,
        attribution: None,
        publisher_id: None,
        duplicate: false,
        adjustments: Vec::new(),
        demo: false,
    }
}

/// A dial attempt of `buyer` with the given outcome.
pub fn sample_attempt(buyer: Id, started_at: DateTime<Utc>, outcome: AttemptOutcome) -> Attempt {
    Attempt {
        buyer_id: buyer,
        number: PhoneNumber::parse("+15550003000").expect("valid number"),
        started_at,
        answered_at: None,
        ended_at: None,
        outcome,
        duration_seconds: 0,
        dial_call_sid: None,
        last_sequence: None,
        released: outcome.is_unanswered(),
        bid_minor: None,
        bid_duration_seconds: None,
    }
}

/// Now, to the millisecond.
fn base_time() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(Duration::milliseconds(1))
        .expect("now is in range")
}

fn ids(calls: &[CallRecord]) -> Vec<Id> {
    calls.iter().map(|c| c.id).collect()
}

fn buyer_doc(tenant: Id, id: Id, name: &str) -> Doc {
    Doc {
        kind: DocKind::Buyer,
        tenant,
        id,
        version: 0,
        body: json!({ "name": name }),
    }
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(
    result: crate::Result<T>,
    expected: Option<u64>,
    found: Option<u64>,
) {
    match result {
        Err(StoreError::Conflict {
            expected: e,
            found: f,
        }) if e == expected && f == found => {}
        other => {
            panic!("expected conflict (expected {expected:?}, found {found:?}), got {other:?}")
        }
    }
}

/// `put_doc`/`delete_doc` compare-and-set: create, duplicate create, update,
/// stale update, update of a missing document, delete with a version.
pub async fn doc_compare_and_set(store: &dyn Store) {
    let (tenant, id) = (new_id(), new_id());
    let doc = buyer_doc(tenant, id, "first");

    assert_eq!(store.put_doc(doc.clone(), None).await.expect("create"), 1);
    assert_conflict(store.put_doc(doc.clone(), None).await, None, Some(1));

    let mut v2 = buyer_doc(tenant, id, "second");
    v2.version = 99; // ignored: the store assigns versions
    assert_eq!(store.put_doc(v2, Some(1)).await.expect("update"), 2);
    assert_conflict(store.put_doc(doc.clone(), Some(1)).await, Some(1), Some(2));
    assert_conflict(
        store
            .put_doc(buyer_doc(tenant, new_id(), "ghost"), Some(1))
            .await,
        Some(1),
        None,
    );

    let got = store
        .get_doc(DocKind::Buyer, tenant, id)
        .await
        .expect("get")
        .expect("document exists");
    assert_eq!(
        got,
        Doc {
            version: 2,
            ..buyer_doc(tenant, id, "second")
        }
    );

    assert_conflict(
        store.delete_doc(DocKind::Buyer, tenant, id, 1).await,
        Some(1),
        Some(2),
    );
    assert!(
        store
            .get_doc(DocKind::Buyer, tenant, id)
            .await
            .expect("get")
            .is_some(),
        "a failed delete deleted"
    );
    store
        .delete_doc(DocKind::Buyer, tenant, id, 2)
        .await
        .expect("delete");
    assert_eq!(
        store
            .get_doc(DocKind::Buyer, tenant, id)
            .await
            .expect("get"),
        None
    );
    assert_conflict(
        store.delete_doc(DocKind::Buyer, tenant, id, 2).await,
        Some(2),
        None,
    );

    // A deleted document can be created again, from version 1.
    assert_eq!(store.put_doc(doc, None).await.expect("recreate"), 1);
}

/// `list_docs` by tenant and across tenants; `get_doc` never crosses
/// tenants or kinds.
pub async fn doc_list_and_isolation(store: &dyn Store) {
    let (a, b) = (new_id(), new_id());
    let (x, y, w) = (new_id(), new_id(), new_id());
    for (tenant, id) in [(a, x), (a, y), (b, w)] {
        store
            .put_doc(buyer_doc(tenant, id, "buyer"), None)
            .await
            .expect("put buyer");
    }
    let campaign = Doc {
        kind: DocKind::Campaign,
        tenant: a,
        id: new_id(),
        version: 0,
        body: json!({}),
    };
    store
        .put_doc(campaign.clone(), None)
        .await
        .expect("put campaign");

    let of_a: HashSet<Id> = store
        .list_docs(DocKind::Buyer, Some(a))
        .await
        .expect("list")
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(of_a, HashSet::from([x, y]), "buyers of tenant a");

    let all = store
        .list_docs(DocKind::Buyer, None)
        .await
        .expect("list all");
    for (tenant, id) in [(a, x), (a, y), (b, w)] {
        let d = all
            .iter()
            .find(|d| d.id == id)
            .expect("every tenant's buyer is listed");
        assert_eq!((d.tenant, d.kind, d.version), (tenant, DocKind::Buyer, 1));
    }
    assert!(
        all.iter()
            .all(|d| d.kind == DocKind::Buyer && d.id != campaign.id),
        "only buyers are listed"
    );

    let campaigns = store
        .list_docs(DocKind::Campaign, Some(a))
        .await
        .expect("list campaigns");
    assert_eq!(
        campaigns.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![campaign.id]
    );

    assert_eq!(
        store.get_doc(DocKind::Buyer, b, x).await.expect("get"),
        None,
        "another tenant's document"
    );
    assert_eq!(
        store.get_doc(DocKind::Campaign, a, x).await.expect("get"),
        None,
        "another kind's document"
    );
    assert_conflict(
        store.put_doc(buyer_doc(b, x, "steal"), Some(1)).await,
        Some(1),
        None,
    );
}

/// `list_docs_page`: a tenant's documents in id order, `limit` at a time,
/// each once; a full last page says it is the last; a cursor whose document
/// was deleted still goes on; across tenants, pages follow (tenant, id).
pub async fn doc_pages(store: &dyn Store) {
    let (a, b) = (new_id(), new_id());
    let of_a: Vec<Id> = (0..5).map(|_| new_id()).collect();
    for (i, id) in of_a.iter().enumerate() {
        store
            .put_doc(buyer_doc(a, *id, &format!("buyer {i}")), None)
            .await
            .expect("put buyer");
    }
    let of_b = [new_id(), new_id()];
    for id in of_b {
        store
            .put_doc(buyer_doc(b, id, "other"), None)
            .await
            .expect("put buyer");
    }
    store
        .put_doc(
            Doc {
                kind: DocKind::Campaign,
                tenant: a,
                id: new_id(),
                version: 0,
                body: json!({}),
            },
            None,
        )
        .await
        .expect("put campaign");

    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_docs_page(DocKind::Buyer, Some(a), after, 2)
            .await
            .expect("page");
        pages.push(page.docs.iter().map(|d| d.id).collect::<Vec<_>>());
        assert!(pages.len() <= 3, "paging does not end: {pages:?}");
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        pages,
        vec![of_a[0..2].to_vec(), of_a[2..4].to_vec(), of_a[4..].to_vec()],
        "pages of 2 in id order"
    );

    let whole = store
        .list_docs_page(DocKind::Buyer, Some(a), None, 5)
        .await
        .expect("one page");
    assert_eq!(whole.next, None, "an exactly full page is the last");
    assert_eq!(
        whole.docs[3],
        Doc {
            version: 1,
            ..buyer_doc(a, of_a[3], "buyer 3")
        },
        "documents come whole"
    );

    store
        .delete_doc(DocKind::Buyer, a, of_a[1], 1)
        .await
        .expect("delete");
    let rest = store
        .list_docs_page(DocKind::Buyer, Some(a), Some((a, of_a[1])), 10)
        .await
        .expect("page after deleted");
    assert_eq!(
        rest.docs.iter().map(|d| d.id).collect::<Vec<_>>(),
        of_a[2..].to_vec(),
        "after a deleted cursor"
    );

    // A cursor of a tenant sorted after the one asked for: an empty page, not an error.
    let (first, last) = if a < b { (a, b) } else { (b, a) };
    let past = store
        .list_docs_page(DocKind::Buyer, Some(first), Some((last, new_id())), 10)
        .await
        .expect("cursor past the tenant");
    assert!(
        past.docs.is_empty() && past.next.is_none(),
        "a cursor past the tenant gives an empty page"
    );

    // Across tenants: other runs' documents may be listed too, so look for ours.
    let (mut seen, mut after, mut last) = (Vec::new(), None, None);
    loop {
        let page = store
            .list_docs_page(DocKind::Buyer, None, after, 3)
            .await
            .expect("page of all");
        assert!(page.docs.len() <= 3, "a page holds at most its limit");
        for d in &page.docs {
            assert_eq!(d.kind, DocKind::Buyer, "only buyers are listed");
            // Other runs' ids may be of other UUID versions, which ScyllaDB orders differently.
            if d.tenant == a || d.tenant == b {
                assert!(
                    last < Some((d.tenant, d.id)),
                    "pages follow (tenant, id) order"
                );
                last = Some((d.tenant, d.id));
                seen.push(d.id);
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut want: Vec<Id> = [of_a[0]]
        .into_iter()
        .chain(of_a[2..].iter().copied())
        .chain(of_b)
        .collect();
    want.sort_by_key(|id| (if of_b.contains(id) { b } else { a }, *id));
    assert_eq!(seen, want, "every tenant's buyers, each once");
}

/// `doc_versions`: every document of a kind across tenants with its
/// current version; deleted ones and other kinds are absent.
pub async fn doc_versions_without_bodies(store: &dyn Store) {
    let (a, b) = (new_id(), new_id());
    let (x, y, z, w) = (new_id(), new_id(), new_id(), new_id());
    for (tenant, id) in [(a, x), (a, y), (a, z), (b, w)] {
        store
            .put_doc(buyer_doc(tenant, id, "buyer"), None)
            .await
            .expect("put buyer");
    }
    store
        .put_doc(buyer_doc(a, y, "changed"), Some(1))
        .await
        .expect("update");
    store
        .delete_doc(DocKind::Buyer, a, z, 1)
        .await
        .expect("delete");
    let campaign = new_id();
    store
        .put_doc(
            Doc {
                kind: DocKind::Campaign,
                tenant: a,
                id: campaign,
                version: 0,
                body: json!({}),
            },
            None,
        )
        .await
        .expect("put campaign");

    let ours: HashSet<DocVersion> = store
        .doc_versions(DocKind::Buyer)
        .await
        .expect("versions")
        .into_iter()
        .filter(|v| v.tenant == a || v.tenant == b)
        .collect();
    let want = HashSet::from([
        DocVersion {
            tenant: a,
            id: x,
            version: 1,
        },
        DocVersion {
            tenant: a,
            id: y,
            version: 2,
        },
        DocVersion {
            tenant: b,
            id: w,
            version: 1,
        },
    ]);
    assert_eq!(ours, want);
    let campaigns = store
        .doc_versions(DocKind::Campaign)
        .await
        .expect("campaign versions");
    assert!(
        campaigns.contains(&DocVersion {
            tenant: a,
            id: campaign,
            version: 1
        }),
        "campaigns are listed by kind"
    );
}

/// A `put_calls` batch becomes visible all at once, indexes included: a
/// reader running alongside sees none of it or all of it.
pub async fn put_calls_batch_is_atomic(store: &dyn Store) {
    const N: usize = 300;
    let (tenant, campaign, buyer) = (new_id(), new_id(), new_id());
    let t0 = base_time();
    let batch: Vec<CallRecord> = (0..N)
        .map(|i| {
            let at = t0 + Duration::milliseconds(i as i64);
            let mut c = sample_call(tenant, campaign, at);
            c.attempts
                .push(sample_attempt(buyer, at, AttemptOutcome::Completed));
            c
        })
        .collect();
    let (since, until) = (t0, t0 + Duration::hours(1));

    let done = AtomicBool::new(false);
    let writer = async {
        store.put_calls(&batch).await.expect("put_calls");
        done.store(true, Ordering::SeqCst);
    };
    let reader = async {
        loop {
            // Read the flag first: once the write has returned, all of it must show.
            let finished = done.load(Ordering::SeqCst);
            let seen = store
                .calls_by_campaign(tenant, campaign, since, until)
                .await
                .expect("read")
                .len();
            let total = store.buyer_total(buyer).await.expect("total");
            let rows = store
                .buyer_attempts(buyer, since)
                .await
                .expect("attempts")
                .len();
            assert!(
                seen == 0 || seen == N,
                "saw {seen} of {N} calls of one batch"
            );
            assert!(
                total == 0 || total == N as u64,
                "saw a total of {total} of {N}"
            );
            assert!(rows == 0 || rows == N, "saw {rows} of {N} attempts");
            if finished {
                assert_eq!(
                    (seen, total, rows),
                    (N, N as u64, N),
                    "a returned write must be visible"
                );
                break;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::join!(writer, reader);
}

/// Upserting a call replaces its index entries: an attempt's new outcome
/// shows in `buyer_attempts` (as one row, not two) and `buyer_total` follows
/// it between answered and unanswered; re-putting a call changes nothing.
pub async fn upsert_replaces_indexes(store: &dyn Store) {
    let (tenant, campaign, b1, b2) = (new_id(), new_id(), new_id(), new_id());
    let t0 = base_time();
    let since = t0 - Duration::hours(1);
    let rows = |buyer| async move {
        store
            .buyer_attempts(buyer, since)
            .await
            .expect("buyer_attempts")
    };

    let mut call = sample_call(tenant, campaign, t0);
    call.status = CallStatus::Ringing;
    call.attempts
        .push(sample_attempt(b1, t0, AttemptOutcome::Pending));
    store
        .put_calls(std::slice::from_ref(&call))
        .await
        .expect("put ringing");
    assert_eq!(
        store.buyer_total(b1).await.expect("total"),
        1,
        "a pending attempt counts"
    );
    assert_eq!(
        rows(b1).await,
        vec![AttemptRow {
            call_id: call.id,
            attempt: 0,
            started_at: t0,
            outcome: AttemptOutcome::Pending,
            released: false
        }]
    );

    // b1 does not answer; the call falls through to b2, who does.
    let t1 = t0 + Duration::seconds(20);
    call.attempts[0].outcome = AttemptOutcome::NoAnswer;
    call.attempts[0].released = true;
    call.attempts
        .push(sample_attempt(b2, t1, AttemptOutcome::Answered));
    call.status = CallStatus::InProgress;
    store
        .put_calls(std::slice::from_ref(&call))
        .await
        .expect("put fallthrough");
    assert_eq!(
        store.buyer_total(b1).await.expect("total"),
        0,
        "an unanswered attempt is refunded"
    );
    assert_eq!(store.buyer_total(b2).await.expect("total"), 1);
    assert_eq!(
        rows(b1).await,
        vec![AttemptRow {
            call_id: call.id,
            attempt: 0,
            started_at: t0,
            outcome: AttemptOutcome::NoAnswer,
            released: true
        }]
    );
    assert_eq!(
        rows(b2).await,
        vec![AttemptRow {
            call_id: call.id,
            attempt: 1,
            started_at: t1,
            outcome: AttemptOutcome::Answered,
            released: false
        }]
    );

    // Answered → completed stays counted; the same call twice in one batch,
    // and again in a later batch, counts once.
    call.attempts[1].outcome = AttemptOutcome::Completed;
    call.status = CallStatus::Completed;
    store
        .put_calls(&[call.clone(), call.clone()])
        .await
        .expect("put completed twice");
    store
        .put_calls(std::slice::from_ref(&call))
        .await
        .expect("put completed again");
    assert_eq!(store.buyer_total(b2).await.expect("total"), 1);
    assert_eq!(store.buyer_total(b1).await.expect("total"), 0);
    assert_eq!(rows(b2).await.len(), 1);
    assert_eq!(rows(b2).await[0].outcome, AttemptOutcome::Completed);

    // An unanswered attempt that later counts (a late callback) is counted again.
    call.attempts[0].outcome = AttemptOutcome::Expired;
    store
        .put_calls(std::slice::from_ref(&call))
        .await
        .expect("put expired");
    assert_eq!(store.buyer_total(b1).await.expect("total"), 1);

    assert_eq!(
        store.get_call(call.id).await.expect("get"),
        Some(call.clone()),
        "the latest version is stored"
    );
    let listed = store
        .calls_by_campaign(tenant, campaign, since, t0 + Duration::hours(1))
        .await
        .expect("campaign");
    assert_eq!(listed, vec![call], "one index entry per call");
}

/// An upsert that changes index keys (start time, campaign, `CallSid`, an
/// attempt's start, fewer attempts) leaves no stale entry behind.
pub async fn upsert_moves_changed_keys(store: &dyn Store) {
    let (tenant, c1, c2, b1, b2) = (new_id(), new_id(), new_id(), new_id(), new_id());
    let t0 = base_time();
    let (since, until) = (t0 - Duration::hours(2), t0 + Duration::hours(2));

    let mut call = sample_call(tenant, c1, t0);
    call.attempts
        .push(sample_attempt(b1, t0, AttemptOutcome::Answered));
    call.attempts
        .push(sample_attempt(b2, t0, AttemptOutcome::Answered));
    let old_sid = call.call_sid.clone();
    store
        .put_calls(std::slice::from_ref(&call))
        .await
        .expect("put");

    let t1 = t0 - Duration::minutes(30);
    call.started_at = t1;
    call.campaign_id = c2;
    call.call_sid = format!("CA{}", new_id().simple());
    call.attempts[0].started_at = t1;
    call.attempts.truncate(1);
    store
        .put_calls(std::slice::from_ref(&call))
        .await
        .expect("re-put");

    assert_eq!(
        store
            .calls_by_campaign(tenant, c1, since, until)
            .await
            .expect("old campaign"),
        vec![]
    );
    assert_eq!(
        store
            .calls_by_campaign(tenant, c2, since, until)
            .await
            .expect("new campaign"),
        vec![call.clone()]
    );
    let page = store
        .calls_by_tenant(tenant, None, 10)
        .await
        .expect("tenant");
    assert_eq!(page.calls, vec![call.clone()], "one entry, at the new time");
    assert_eq!(
        store.get_call_by_sid(&old_sid).await.expect("old sid"),
        None
    );
    assert_eq!(
        store
            .get_call_by_sid(&call.call_sid)
            .await
            .expect("new sid"),
        Some(call.clone())
    );
    let rows = store.buyer_attempts(b1, since).await.expect("b1");
    assert_eq!(
        rows.iter().map(|r| r.started_at).collect::<Vec<_>>(),
        vec![t1]
    );
    assert_eq!(
        store.buyer_attempts(b2, since).await.expect("b2"),
        vec![],
        "a dropped attempt is unindexed"
    );
    assert_eq!(store.buyer_total(b1).await.expect("b1 total"), 1);
    assert_eq!(store.buyer_total(b2).await.expect("b2 total"), 0);
}

/// `get_call` and `get_call_by_sid` return the stored record exactly; unknown
/// keys are `None`.
pub async fn get_call_by_id_and_sid(store: &dyn Store) {
    let t0 = base_time();
    let mut call = sample_call(new_id(), new_id(), t0);
    call.buyer_id = Some(new_id());
    call.attempts.push(sample_attempt(
        call.buyer_id.expect("set"),
        t0,
        AttemptOutcome::Completed,
    ));
    call.answered_at = Some(t0 + Duration::seconds(3));
    call.ended_at = Some(t0 + Duration::seconds(95));
    call.duration_seconds = 92;
    call.converted = true;
    call.revenue_minor = 1250;
    call.recording_url = Some("https://example.com/r.mp3".to_owned());
    store
        .put_calls(std::slice::from_ref(&call))
        .await
        .expect("put");

    assert_eq!(
        store.get_call(call.id).await.expect("by id"),
        Some(call.clone())
    );
    assert_eq!(
        store.get_call_by_sid(&call.call_sid).await.expect("by sid"),
        Some(call)
    );
    assert_eq!(store.get_call(new_id()).await.expect("unknown id"), None);
    assert_eq!(
        store
            .get_call_by_sid(&format!("CA{}", new_id().simple()))
            .await
            .expect("unknown sid"),
        None
    );
}

/// `calls_by_campaign` returns `[since, until)`, oldest first, of that
/// tenant's campaign only.
pub async fn calls_by_campaign_range(store: &dyn Store) {
    let (tenant, campaign, other) = (new_id(), new_id(), new_id());
    let t0 = base_time();
    let at = |i: i64| t0 + Duration::minutes(i);
    // Two calls at t(3), to check that ties are both returned.
    let calls: Vec<CallRecord> = (0..10)
        .chain([3])
        .map(|i| sample_call(tenant, campaign, at(i)))
        .chain((0..10).map(|i| sample_call(tenant, other, at(i))))
        .collect();
    // Written in several batches, out of order.
    for chunk in calls.rchunks(4) {
        store.put_calls(chunk).await.expect("put");
    }
    let range = |since, until| async move {
        store
            .calls_by_campaign(tenant, campaign, since, until)
            .await
            .expect("calls_by_campaign")
    };

    let got = range(at(2), at(5)).await;
    let times: Vec<_> = got.iter().map(|c| c.started_at).collect();
    assert_eq!(
        times,
        vec![at(2), at(3), at(3), at(4)],
        "since inclusive, until exclusive, oldest first"
    );
    assert!(got.iter().all(|c| c.campaign_id == campaign));

    let all = range(at(0), at(9) + Duration::milliseconds(1)).await;
    assert_eq!(all.len(), 11);
    assert!(
        all.windows(2).all(|w| w[0].started_at <= w[1].started_at),
        "oldest first"
    );
    let mut want = ids(&calls[..11]);
    let mut have = ids(&all);
    want.sort();
    have.sort();
    assert_eq!(have, want);

    assert_eq!(range(at(5), at(5)).await, vec![], "an empty range");
    assert_eq!(range(at(5), at(2)).await, vec![], "a reversed range");
    assert_eq!(range(at(10), at(20)).await, vec![], "after the last call");
    let wrong_tenant = store
        .calls_by_campaign(new_id(), campaign, at(0), at(10))
        .await
        .expect("wrong tenant");
    assert_eq!(
        wrong_tenant,
        vec![],
        "a campaign is read through its tenant"
    );
}

/// Paging through `calls_by_tenant` returns every call of the tenant exactly
/// once, newest first, and nothing of other tenants.
pub async fn calls_by_tenant_pagination(store: &dyn Store) {
    const N: usize = 23;
    const LIMIT: usize = 5;
    let (tenant, other) = (new_id(), new_id());
    let campaigns = [new_id(), new_id()];
    let t0 = base_time();
    // Pairs share a start time, so a page boundary falls between equal times;
    // the tenant's calls span campaigns.
    let calls: Vec<CallRecord> = (0..N)
        .map(|i| {
            sample_call(
                tenant,
                campaigns[i % 2],
                t0 + Duration::seconds((i / 2) as i64),
            )
        })
        .collect();
    store.put_calls(&calls).await.expect("put");
    let others: Vec<CallRecord> = (0..5)
        .map(|i| sample_call(other, new_id(), t0 + Duration::seconds(i)))
        .collect();
    store.put_calls(&others).await.expect("put others");

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page_no in 0.. {
        assert!(page_no <= N, "pagination does not end");
        let page = store
            .calls_by_tenant(tenant, cursor.as_deref(), LIMIT)
            .await
            .expect("page");
        assert!(page.calls.len() <= LIMIT, "page over the limit");
        if page.calls.len() < LIMIT {
            assert_eq!(page.next, None, "a short page is the last");
        }
        seen.extend(page.calls);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), N, "every call once");
    let unique: HashSet<Id> = seen.iter().map(|c| c.id).collect();
    assert_eq!(unique, calls.iter().map(|c| c.id).collect::<HashSet<_>>());
    assert!(
        seen.windows(2).all(|w| w[0].started_at >= w[1].started_at),
        "newest first"
    );
    assert_eq!(
        seen[0].started_at,
        t0 + Duration::seconds(((N - 1) / 2) as i64)
    );

    let whole = store
        .calls_by_tenant(tenant, None, N + 10)
        .await
        .expect("one page");
    assert_eq!((whole.calls.len(), whole.next), (N, None));
    assert!(
        store
            .calls_by_tenant(tenant, Some("not a cursor"), LIMIT)
            .await
            .is_err(),
        "a bad cursor is an error"
    );
    let empty = store
        .calls_by_tenant(new_id(), None, LIMIT)
        .await
        .expect("unknown tenant");
    assert_eq!((empty.calls, empty.next), (vec![], None));
}

/// `buyer_attempts` returns the buyer's attempts that started at or after
/// `since`, oldest first, whatever their position in the call.
pub async fn buyer_attempts_since(store: &dyn Store) {
    let (tenant, campaign, buyer, first_choice) = (new_id(), new_id(), new_id(), new_id());
    let t0 = base_time();
    let at = |i: i64| t0 + Duration::minutes(i);
    let mut calls = Vec::new();
    for i in 0..6 {
        let mut c = sample_call(tenant, campaign, at(i));
        c.attempts.push(sample_attempt(
            buyer,
            at(i) + Duration::seconds(1),
            AttemptOutcome::Completed,
        ));
        calls.push(c);
    }
    // Here the buyer is the second choice.
    let mut fell = sample_call(tenant, campaign, at(3));
    fell.attempts
        .push(sample_attempt(first_choice, at(3), AttemptOutcome::Busy));
    fell.attempts.push(sample_attempt(
        buyer,
        at(3) + Duration::seconds(30),
        AttemptOutcome::Answered,
    ));
    calls.push(fell.clone());
    calls.reverse();
    store.put_calls(&calls).await.expect("put");
    calls.reverse();

    let since = at(3) + Duration::seconds(1);
    let rows = store
        .buyer_attempts(buyer, since)
        .await
        .expect("buyer_attempts");
    let expected = vec![
        AttemptRow {
            call_id: calls[3].id,
            attempt: 0,
            started_at: since,
            outcome: AttemptOutcome::Completed,
            released: false,
        },
        AttemptRow {
            call_id: fell.id,
            attempt: 1,
            started_at: at(3) + Duration::seconds(30),
            outcome: AttemptOutcome::Answered,
            released: false,
        },
        AttemptRow {
            call_id: calls[4].id,
            attempt: 0,
            started_at: at(4) + Duration::seconds(1),
            outcome: AttemptOutcome::Completed,
            released: false,
        },
        AttemptRow {
            call_id: calls[5].id,
            attempt: 0,
            started_at: at(5) + Duration::seconds(1),
            outcome: AttemptOutcome::Completed,
            released: false,
        },
    ];
    assert_eq!(rows, expected, "since inclusive, oldest first");
    assert_eq!(
        store.buyer_attempts(buyer, at(0)).await.expect("all").len(),
        7
    );
    assert_eq!(
        store.buyer_attempts(buyer, at(6)).await.expect("none"),
        vec![]
    );
    assert_eq!(store.buyer_total(buyer).await.expect("total"), 7);
    let first = store
        .buyer_attempts(first_choice, at(0))
        .await
        .expect("first choice");
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].outcome, first[0].released),
        (AttemptOutcome::Busy, true)
    );
    assert_eq!(
        store
            .buyer_total(first_choice)
            .await
            .expect("first choice total"),
        0,
        "busy is not counted"
    );
}

/// Paging through `scan_calls` returns every call exactly once, in id order.
pub async fn scan_calls_pagination(store: &dyn Store) {
    const N: usize = 37;
    let (tenant, campaign) = (new_id(), new_id());
    let t0 = base_time();
    let calls: Vec<CallRecord> = (0..N)
        .map(|i| sample_call(tenant, campaign, t0 + Duration::seconds(i as i64)))
        .collect();
    // In two batches, the second of lower ids, so insertion order is not id order.
    store.put_calls(&calls[N / 2..]).await.expect("put");
    store.put_calls(&calls[..N / 2]).await.expect("put");
    let mut want = ids(&calls);
    want.sort();
    let (lo, hi) = (want[0], want[N - 1]);

    // Start just below our lowest id: a shared store holds other calls too.
    let mut after = Some(Id::from_u128(lo.as_u128() - 1));
    let mut seen = Vec::new();
    loop {
        let page = store.scan_calls(after, 10).await.expect("scan");
        assert!(page.len() <= 10, "page over the limit");
        let Some(last) = page.last().map(|c| c.id) else {
            break;
        };
        assert!(
            page.windows(2).all(|w| w[0].id < w[1].id),
            "id order within a page"
        );
        assert!(
            after.is_none_or(|a| page[0].id > a),
            "a page starts after the cursor"
        );
        after = Some(last);
        seen.extend(
            page.into_iter()
                .map(|c| c.id)
                .filter(|id| *id >= lo && *id <= hi),
        );
        if last >= hi {
            break;
        }
    }
    let mine: HashSet<Id> = want.iter().copied().collect();
    seen.retain(|id| mine.contains(id));
    assert_eq!(seen, want, "every call once, in id order");
    assert_eq!(
        store
            .scan_calls(Some(hi), N)
            .await
            .expect("scan")
            .iter()
            .filter(|c| mine.contains(&c.id))
            .count(),
        0
    );
}

/// One `put_calls` of 5,000 calls lands whole, with every index.
pub async fn large_batch(store: &dyn Store) {
    const N: usize = 5_000;
    let (tenant, campaign, buyer) = (new_id(), new_id(), new_id());
    let t0 = base_time();
    let calls: Vec<CallRecord> = (0..N)
        .map(|i| {
            let at = t0 + Duration::milliseconds(i as i64);
            let mut c = sample_call(tenant, campaign, at);
            let outcome = if i % 4 == 0 {
                AttemptOutcome::NoAnswer
            } else {
                AttemptOutcome::Completed
            };
            c.attempts.push(sample_attempt(buyer, at, outcome));
            c
        })
        .collect();
    store.put_calls(&calls).await.expect("put 5,000 calls");

    let listed = store
        .calls_by_campaign(tenant, campaign, t0, t0 + Duration::hours(1))
        .await
        .expect("campaign");
    assert_eq!(ids(&listed), ids(&calls), "all of them, oldest first");
    assert_eq!(
        store
            .buyer_attempts(buyer, t0)
            .await
            .expect("attempts")
            .len(),
        N
    );
    assert_eq!(
        store.buyer_total(buyer).await.expect("total"),
        (N - N / 4) as u64
    );
    let page = store
        .calls_by_tenant(tenant, None, 100)
        .await
        .expect("tenant page");
    assert_eq!(
        page.calls.first().map(|c| c.id),
        calls.last().map(|c| c.id),
        "newest first"
    );
    assert!(page.next.is_some());
    for c in [&calls[0], &calls[N / 2], &calls[N - 1]] {
        assert_eq!(
            store
                .get_call_by_sid(&c.call_sid)
                .await
                .expect("by sid")
                .as_ref(),
            Some(c)
        );
    }
}

/// Visitor sessions: listed by (tag, UTC day of their start); a put with the
/// same key replaces; other tags and days are not mixed in.
pub async fn visitor_sessions_by_tag_and_day(store: &dyn Store) {
    let (tenant, tag, other_tag) = (new_id(), new_id(), new_id());
    let day = DateTime::parse_from_rfc3339("2026-03-04T23:59:59.500Z")
        .unwrap()
        .with_timezone(&Utc);
    let visit = |id: &str, tag: Id, started_at: DateTime<Utc>| VisitorSession {
        session_id: id.to_owned(),
        tenant_id: tenant,
        tag_id: tag,
        tag_code: "landing".into(),
        pool_id: Some(new_id()),
        phone_number: Some(PhoneNumber::parse("+15550003001").unwrap()),
        exhausted: false,
        traffic: Traffic {
            source: Some("google".into()),
            gclid: Some("g-1".into()),
            ..Traffic::default()
        },
        user_agent: Some("test".into()),
        started_at,
        last_seen_at: started_at,
    };
    let a = visit("a", tag, day);
    let b = visit("b", tag, day - Duration::hours(1));
    let next_day = visit("c", tag, day + Duration::seconds(1));
    let elsewhere = visit("d", other_tag, day);
    store
        .put_sessions(&[a.clone(), b.clone(), next_day.clone(), elsewhere])
        .await
        .unwrap();
    let mut got = store.list_sessions(tag, day.date_naive()).await.unwrap();
    got.sort_by(|x, y| x.session_id.cmp(&y.session_id));
    assert_eq!(got, vec![a.clone(), b]);
    assert_eq!(
        store
            .list_sessions(tag, next_day.started_at.date_naive())
            .await
            .unwrap(),
        vec![next_day]
    );

    let mut later = a.clone();
    later.last_seen_at = day + Duration::minutes(5);
    store.put_sessions(&[later.clone()]).await.unwrap();
    let got = store.list_sessions(tag, day.date_naive()).await.unwrap();
    assert_eq!(
        got.iter()
            .filter(|v| v.session_id == "a")
            .collect::<Vec<_>>(),
        vec![&later],
        "replaced, not duplicated"
    );
    assert!(
        store
            .list_sessions(new_id(), day.date_naive())
            .await
            .unwrap()
            .is_empty()
    );
}

/// Auctions: one request row and its response rows in one write; listings
/// newest first, tenant-scoped, filtered by campaign, target, status and
/// time, paged by cursor without repeats or gaps.
pub async fn bid_rows_filter_and_page(store: &dyn Store) {
    let (tenant, other, campaign) = (new_id(), new_id(), new_id());
    let (t1, t2) = (new_id(), new_id());
    let t0 = base_time();
    let mut requests = Vec::new();
    let mut batch = Vec::new();
    for i in 0..5i64 {
        let at = t0 + Duration::milliseconds(i);
        let id = new_id();
        let won = i % 2 == 0;
        let request = BidRequestRecord {
            id,
            tenant_id: tenant,
            call_id: Some(new_id()),
            campaign_id: Some(if i == 4 { new_id() } else { campaign }),
            router_id: new_id(),
            caller_id: "+15550001000".into(),
            targets_asked: vec![t1, t2],
            winner_target_id: won.then_some(t1),
            winning_bid: won.then_some(875),
            currency: Currency::default(),
            status: if won { "won" } else { "no-valid-bid" }.into(),
            valid_bids: u32::from(won),
            total_ms: 12,
            created_at: at,
        };
        let response = |target: Id, status: &str| BidResponseRecord {
            id: new_id(),
            request_id: id,
            tenant_id: tenant,
            call_id: request.call_id,
            campaign_id: request.campaign_id,
            target_id: target,
            status: status.into(),
            won: won && target == t1,
            amount: (status == "success").then_some(875),
            destination: None,
            response_ms: 10,
            reason: None,
            request_body: "{}".into(),
            response_body: String::new(),
            created_at: at,
        };
        let responses = vec![
            response(t1, if won { "success" } else { "no-bid" }),
            response(t2, "timeout"),
        ];
        // The first three one by one, the last two in one batch: both read
        // back alike.
        if i < 3 {
            store
                .put_auction(&request, &responses)
                .await
                .expect("put auction");
        } else {
            batch.push((request.clone(), responses));
        }
        requests.push(request);
    }
    store.put_auctions(&batch).await.expect("put auctions");
    let mut stray = requests[0].clone();
    (stray.id, stray.tenant_id) = (new_id(), other);
    store
        .put_auction(&stray, &[])
        .await
        .expect("put other tenant's auction");

    let all = BidFilter::default();
    let page = store
        .bid_requests(tenant, &all, None, 10)
        .await
        .expect("list");
    let got: Vec<Id> = page.items.iter().map(|r| r.id).collect();
    let want: Vec<Id> = requests.iter().rev().map(|r| r.id).collect();
    assert_eq!(got, want, "newest first, only the tenant's");
    assert_eq!(page.items[4], requests[0], "a row reads back as written");
    assert_eq!(page.next, None);

    // Pages of two walk every row once.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .bid_requests(tenant, &all, cursor.as_deref(), 2)
            .await
            .expect("page");
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|r| r.id));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, want);

    let f = BidFilter {
        campaign_id: Some(campaign),
        status: Some("won".into()),
        ..Default::default()
    };
    let won: Vec<Id> = store
        .bid_requests(tenant, &f, None, 10)
        .await
        .expect("filter")
        .items
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(won, vec![requests[2].id, requests[0].id]);
    let f = BidFilter {
        since: Some(t0 + Duration::milliseconds(1)),
        until: Some(t0 + Duration::milliseconds(3)),
        ..Default::default()
    };
    let window: Vec<Id> = store
        .bid_requests(tenant, &f, None, 10)
        .await
        .expect("window")
        .items
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(window, vec![requests[2].id, requests[1].id]);

    let f = BidFilter {
        target_id: Some(t2),
        ..Default::default()
    };
    let timeouts = store
        .bid_responses(tenant, &f, None, 100)
        .await
        .expect("responses");
    assert_eq!(timeouts.items.len(), 5);
    assert!(
        timeouts
            .items
            .iter()
            .all(|r| r.status == "timeout" && r.target_id == t2)
    );
    let f = BidFilter {
        status: Some("success".into()),
        ..Default::default()
    };
    let wins = store
        .bid_responses(tenant, &f, None, 100)
        .await
        .expect("responses");
    assert_eq!(wins.items.len(), 3);
    assert!(wins.items.iter().all(|r| r.won && r.amount == Some(875)));
    assert!(
        store
            .bid_responses(other, &BidFilter::default(), None, 10)
            .await
            .expect("other")
            .items
            .is_empty()
    );
    assert!(matches!(
        store.bid_requests(tenant, &all, Some("garbage"), 10).await,
        Err(StoreError::InvalidArgument(_))
    ));
}

/// A fresh lease name prefix, so runs on a shared cluster never meet.
fn lease_run() -> String {
    format!("conformance/{}/", new_id().simple())
}

fn lease(name: &str, holder: &str, expires: DateTime<Utc>, epoch: u64) -> Lease {
    Lease {
        name: name.to_owned(),
        holder: holder.to_owned(),
        expires,
        epoch,
    }
}

/// The one stored lease called `name`, as a listing shows it.
async fn stored_lease(store: &dyn Store, name: &str) -> Lease {
    let found = store.leases(name).await.expect("list leases");
    let mut exact = found.into_iter().filter(|l| l.name == name);
    let first = exact
        .next()
        .unwrap_or_else(|| panic!("lease {name} is not stored"));
    assert!(exact.next().is_none(), "lease {name} is listed twice");
    first
}

/// The first claim of a lease gets epoch 1 and the `until` asked for; the
/// holder's renewals keep the epoch and move the expiry (back too). A claim
/// with no name or no holder is refused as an invalid argument.
pub async fn lease_first_claim_and_renewal(store: &dyn Store) {
    let name = format!("{}shard/7", lease_run());
    let t0 = base_time();
    let first = store
        .claim_lease(&name, "node-a", t0, t0 + Duration::seconds(10))
        .await
        .expect("first claim");
    assert_eq!(first, lease(&name, "node-a", t0 + Duration::seconds(10), 1));
    assert_eq!(
        stored_lease(store, &name).await,
        first,
        "the claim is stored"
    );

    let renewed = store
        .claim_lease(
            &name,
            "node-a",
            t0 + Duration::seconds(2),
            t0 + Duration::seconds(12),
        )
        .await
        .expect("renew");
    assert_eq!(
        renewed,
        lease(&name, "node-a", t0 + Duration::seconds(12), 1),
        "a renewal keeps the epoch"
    );
    let shorter = store
        .claim_lease(
            &name,
            "node-a",
            t0 + Duration::seconds(3),
            t0 + Duration::seconds(5),
        )
        .await
        .expect("renew");
    assert_eq!(
        shorter.expires,
        t0 + Duration::seconds(5),
        "a renewal sets the expiry, even an earlier one"
    );
    // The holder's own lapsed lease, which nobody took: still the same fence.
    let late = store
        .claim_lease(
            &name,
            "node-a",
            t0 + Duration::minutes(1),
            t0 + Duration::minutes(2),
        )
        .await
        .expect("late renew");
    assert_eq!(late, lease(&name, "node-a", t0 + Duration::minutes(2), 1));
    assert_eq!(stored_lease(store, &name).await, late);

    assert!(matches!(
        store.claim_lease("", "node-a", t0, t0).await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        store.claim_lease(&name, "", t0, t0).await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert_eq!(
        stored_lease(store, &name).await,
        late,
        "a refused argument changes nothing"
    );
}

/// While a lease is live (`now < expires`) another holder's claim is refused:
/// it gets the live lease back, and the stored lease is unchanged.
pub async fn lease_refused_while_live(store: &dyn Store) {
    let name = format!("{}shard/0", lease_run());
    let t0 = base_time();
    let until = t0 + Duration::seconds(10);
    let held = store
        .claim_lease(&name, "node-a", t0, until)
        .await
        .expect("claim");
    for now in [
        t0,
        t0 + Duration::seconds(5),
        until - Duration::milliseconds(1),
    ] {
        let got = store
            .claim_lease(&name, "node-b", now, now + Duration::seconds(30))
            .await
            .expect("refused claim");
        assert_eq!(
            got, held,
            "a claim of a live lease at {now} returns the holder's lease"
        );
    }
    assert_eq!(
        stored_lease(store, &name).await,
        held,
        "a refused claim writes nothing"
    );
}

/// Once a lease lapses (`now >= expires`) another holder takes it with the
/// next epoch; the former holder is then refused and told who holds it.
pub async fn lease_taken_over_once_lapsed(store: &dyn Store) {
    let name = format!("{}shard/3", lease_run());
    let t0 = base_time();
    let until = t0 + Duration::seconds(2);
    store
        .claim_lease(&name, "node-a", t0, until)
        .await
        .expect("claim");
    store
        .claim_lease(&name, "node-a", t0 + Duration::seconds(1), until)
        .await
        .expect("renew");

    // Lapsed at exactly its expiry.
    let taken = store
        .claim_lease(&name, "node-b", until, until + Duration::seconds(2))
        .await
        .expect("take over");
    assert_eq!(
        taken,
        lease(&name, "node-b", until + Duration::seconds(2), 2),
        "a new holder bumps the epoch"
    );
    let back = store
        .claim_lease(
            &name,
            "node-a",
            until + Duration::seconds(1),
            until + Duration::seconds(3),
        )
        .await
        .expect("claim");
    assert_eq!(
        back, taken,
        "the former holder is refused while the new one's lease is live"
    );

    let again = store
        .claim_lease(
            &name,
            "node-a",
            until + Duration::seconds(2),
            until + Duration::seconds(4),
        )
        .await
        .expect("claim");
    assert_eq!(
        again,
        lease(&name, "node-a", until + Duration::seconds(4), 3),
        "every change of holder bumps the epoch"
    );
    assert_eq!(stored_lease(store, &name).await, again);
}

/// Giving a lease up (a claim with `until = now`) lets another holder claim
/// it at once.
pub async fn lease_given_up_is_free_at_once(store: &dyn Store) {
    let name = format!("{}shard/12", lease_run());
    let t0 = base_time();
    store
        .claim_lease(&name, "node-a", t0, t0 + Duration::minutes(5))
        .await
        .expect("claim");
    let now = t0 + Duration::seconds(1);
    let given_up = store
        .claim_lease(&name, "node-a", now, now)
        .await
        .expect("give up");
    assert_eq!(given_up, lease(&name, "node-a", now, 1));
    let taken = store
        .claim_lease(&name, "node-b", now, now + Duration::minutes(5))
        .await
        .expect("claim at once");
    assert_eq!(taken, lease(&name, "node-b", now + Duration::minutes(5), 2));
}

/// `leases(prefix)` lists every lease whose name starts with the prefix,
/// lapsed ones included, in name order, and nothing else.
pub async fn leases_by_prefix_in_name_order(store: &dyn Store) {
    let run = lease_run();
    let t0 = base_time();
    let live = t0 + Duration::minutes(1);
    for (name, until) in [
        ("shard/2", live),
        ("node/n1", live),
        ("shard/10", t0),
        ("shards", live),
        ("shard/1", live),
    ] {
        store
            .claim_lease(&format!("{run}{name}"), "node-a", t0, until)
            .await
            .expect("claim");
    }
    let shards = store
        .leases(&format!("{run}shard/"))
        .await
        .expect("list shards");
    let names: Vec<String> = shards.iter().map(|l| l.name.clone()).collect();
    let want: Vec<String> = ["shard/1", "shard/10", "shard/2"]
        .iter()
        .map(|n| format!("{run}{n}"))
        .collect();
    assert_eq!(
        names, want,
        "only the prefix, in name order (lapsed ones too)"
    );
    assert_eq!(
        shards[1],
        lease(&want[1], "node-a", t0, 1),
        "a listed lease is the stored one"
    );
    assert_eq!(
        store
            .leases(&format!("{run}node/"))
            .await
            .expect("list nodes")
            .len(),
        1
    );
    assert_eq!(store.leases(&run).await.expect("list all").len(), 5);
    assert!(
        store
            .leases(&format!("{run}nothing/"))
            .await
            .expect("list none")
            .is_empty()
    );
}

/// Sixteen holders race to claim one lapsed lease: exactly one wins, with
/// the next epoch, and every claimant is told the same winner.
pub async fn lease_race_has_one_winner(store: &dyn Store) {
    const RACERS: usize = 16;
    let name = format!("{}shard/5", lease_run());
    let t0 = base_time();
    store
        .claim_lease(&name, "old", t0, t0 + Duration::seconds(1))
        .await
        .expect("claim");
    let now = t0 + Duration::seconds(2);
    let until = now + Duration::seconds(30);
    let claims: Vec<_> = (0..RACERS)
        .map(|i| {
            let name = name.clone();
            async move {
                store
                    .claim_lease(&name, &format!("racer-{i}"), now, until)
                    .await
                    .expect("racing claim")
            }
        })
        .collect();
    let got = join_all(claims).await;
    let winners: Vec<usize> = (0..RACERS)
        .filter(|&i| got[i].holder == format!("racer-{i}"))
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one claim of a lapsed lease wins: {got:#?}"
    );
    let won = lease(&name, &format!("racer-{}", winners[0]), until, 2);
    assert!(
        got.iter().all(|l| *l == won),
        "every claimant sees the winner's lease: {got:#?}"
    );
    assert_eq!(stored_lease(store, &name).await, won);
}

/// Polls every future to completion, concurrently on this task; their
/// outputs in order. (The store is borrowed, so the futures cannot be spawned.)
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (future, out) in pending.iter_mut().zip(done.iter_mut()) {
            if out.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *out = Some(v),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

/// Report rollups and call events follow each record of a call: a record
/// replacing another moves its figures (never counting a call twice), a
/// query reads one tenant's rows of one range, and events come once per
/// change, in order, with a durable cursor. A backend without them (the
/// ScyllaDB store, until it keeps a log) says so, and the behaviour is
/// reported as skipped.
pub async fn rollups_and_events_follow_each_record(store: &dyn Store) {
    use switchboard_model::event::EventKind;
    use switchboard_model::report::{Dimension, Figures, Width};

    use crate::RollupQuery;
    let (tenant, campaign, buyer) = (new_id(), new_id(), new_id());
    let at = DateTime::parse_from_rfc3339("2026-03-04T10:20:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let query = |group, from: DateTime<Utc>, to: DateTime<Utc>| RollupQuery {
        tenant,
        width: Width::Hour,
        filter: Dimension::All,
        filter_key: String::new(),
        group,
        from: from.timestamp(),
        to: to.timestamp(),
    };
    let whole_day = |group| query(group, at - Duration::hours(10), at + Duration::hours(10));
    match store.rollups(&whole_day(Dimension::All)).await {
        Err(StoreError::Backend(e)) if e.contains("not supported") => {
            eprintln!("conformance: rollups_and_events_follow_each_record skipped: {e}");
            return;
        }
        other => assert_eq!(other.unwrap(), vec![], "a new tenant has no rows"),
    }
    let after = store
        .events_after(Some(tenant), 0, 10_000)
        .await
        .unwrap()
        .last()
        .map_or(0, |e| e.position);
    let mut ringing = sample_call(tenant, campaign, at);
    ringing.status = CallStatus::Ringing;
    ringing.attempts = vec![sample_attempt(buyer, at, AttemptOutcome::Pending)];
    ringing.buyer_id = Some(buyer);
    let mut done = ringing.clone();
    done.status = CallStatus::Completed;
    done.attempts[0].outcome = AttemptOutcome::Completed;
    done.attempts[0].answered_at = Some(at + Duration::seconds(5));
    done.converted = true;
    done.revenue_minor = 2_500;
    done.profit_minor = 2_500;
    done.duration_seconds = 90;
    let other = sample_call(new_id(), campaign, at);
    store.put_calls(&[ringing.clone(), other]).await.unwrap();
    let sum = |rows: Vec<crate::RollupRow>| {
        let mut f = Figures::default();
        rows.iter().for_each(|r| f.add(&r.figures, 1));
        f
    };
    let live = sum(store.rollups(&whole_day(Dimension::All)).await.unwrap());
    assert_eq!((live.incoming, live.live, live.connected), (1, 1, 0));
    // The same call ends; a repeat of its last record changes nothing.
    store.put_calls(&[done.clone()]).await.unwrap();
    store.put_calls(&[done.clone()]).await.unwrap();
    let ended = sum(store.rollups(&whole_day(Dimension::All)).await.unwrap());
    assert_eq!(
        (
            ended.incoming,
            ended.live,
            ended.connected,
            ended.converted,
            ended.revenue_minor
        ),
        (1, 0, 1, 1, 2_500)
    );
    let by_buyer = store.rollups(&whole_day(Dimension::Buyer)).await.unwrap();
    assert_eq!(by_buyer.len(), 1);
    assert_eq!(by_buyer[0].key, buyer.to_string());
    assert_eq!(
        by_buyer[0].bucket, 1_772_618_400,
        "10:00 UTC, its start's hour"
    );
    // A range that ends at the call's hour leaves it out.
    let before = query(
        Dimension::All,
        at - Duration::hours(10),
        at - Duration::minutes(20),
    );
    assert_eq!(store.rollups(&before).await.unwrap(), vec![]);

    let events = store.events_after(Some(tenant), after, 100).await.unwrap();
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Incoming,
            EventKind::Routed,
            EventKind::Connected,
            EventKind::Completed,
            EventKind::Converted,
            EventKind::Finalized
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e.call_id == done.id && e.tenant == tenant)
    );
    assert!(events.windows(2).all(|w| w[0].position < w[1].position));
    let name = format!("conformance-{}", new_id());
    assert_eq!(store.event_cursor(&name).await.unwrap(), 0);
    store
        .set_event_cursor(&name, events[2].position)
        .await
        .unwrap();
    store
        .set_event_cursor(&name, events[1].position)
        .await
        .unwrap();
    assert_eq!(
        store.event_cursor(&name).await.unwrap(),
        events[2].position,
        "a cursor never moves back"
    );
}
