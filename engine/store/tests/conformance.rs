//! The conformance suite against every backend, plus the embedded store's own
//! guarantees: durability across reopen and crash, exclusive use of the data
//! directory, concurrent writers.
//!
//! `cargo test -p switchboard-store`. The ScyllaDB run needs
//! `--features scylla` and `SWITCHBOARD_TEST_SCYLLA=host:port` (see
//! docs/scylla.md); without them it reports itself skipped, not passed.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use chrono::{Duration, DurationRound, Utc};
use switchboard_model::{AttemptOutcome, CallRecord, Id, new_id};
use switchboard_store::conformance::{self, sample_attempt, sample_call};
use switchboard_store::{Doc, DocKind, DocPages, EmbeddedStore, Store, StoreError};
use tempfile::TempDir;

fn fresh() -> (TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open store");
    (dir, store)
}

macro_rules! embedded_conformance {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let (_dir, store) = fresh();
            conformance::$name(&store).await;
        }
    )*};
}

embedded_conformance!(
    doc_compare_and_set,
    doc_list_and_isolation,
    doc_pages,
    doc_versions_without_bodies,
    put_calls_batch_is_atomic,
    upsert_replaces_indexes,
    upsert_moves_changed_keys,
    get_call_by_id_and_sid,
    calls_by_campaign_range,
    calls_by_tenant_pagination,
    buyer_attempts_since,
    scan_calls_pagination,
    large_batch,
    visitor_sessions_by_tag_and_day,
    rollups_and_events_follow_each_record,
    bid_rows_filter_and_page,
    lease_first_claim_and_renewal,
    lease_refused_while_live,
    lease_taken_over_once_lapsed,
    lease_given_up_is_free_at_once,
    leases_by_prefix_in_name_order,
    lease_race_has_one_winner,
);

/// The whole suite on one store, every behaviour at once: what a shared
/// cluster sees, and proof that the suite's runs do not see each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_suite_concurrently_on_one_store() {
    let (_dir, store) = fresh();
    let s: &dyn Store = &store;
    tokio::join!(conformance::run_all(s), conformance::all_at_once(s));
}

/// Says so where a person sees it: past the test harness's output capture.
#[cfg(feature = "scylla")]
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Ignored unless asked for (`-- --ignored`), so a run without a node counts
/// it as skipped, never as passed.
#[cfg(not(feature = "scylla"))]
#[test]
#[ignore = "needs --features scylla and a ScyllaDB node (SWITCHBOARD_TEST_SCYLLA=host:port); see docs/scylla.md"]
fn scylla_conformance() {
    // Asked for, but impossible: failing says so, where passing would lie.
    panic!(
        "the ScyllaDB conformance run needs a build with --features scylla and SWITCHBOARD_TEST_SCYLLA=host:port"
    );
}

/// The suite against a real ScyllaDB node (`SWITCHBOARD_TEST_SCYLLA=host:port`),
/// in a keyspace of its own, dropped afterwards.
#[cfg(feature = "scylla")]
mod scylla {
    use switchboard_store::conformance;
    use switchboard_store::scylla::{self, MIGRATIONS, ScyllaConfig, ScyllaStore};
    use switchboard_store::{Store, StoreError};

    use super::say;

    /// Ignored unless asked for (`-- --ignored`): without a node it is
    /// counted as skipped, never as passed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs a ScyllaDB node: SWITCHBOARD_TEST_SCYLLA=host:port ... -- --ignored; see docs/scylla.md"]
    async fn scylla_conformance() {
        let target = std::env::var("SWITCHBOARD_TEST_SCYLLA")
            .expect("asked to run against ScyllaDB: set SWITCHBOARD_TEST_SCYLLA=host:port");
        let keyspace = format!("sb_test_{}", switchboard_model::new_id().simple());
        // More URI options (TLS, say: `tls=true&tls_ca=/path/ca.pem`) from SWITCHBOARD_TEST_SCYLLA_OPTIONS.
        let options = std::env::var("SWITCHBOARD_TEST_SCYLLA_OPTIONS").unwrap_or_default();
        let config = ScyllaConfig::parse(&format!("scylla://{target}/{keyspace}?{options}"))
            .expect("store URI")
            .with_env_credentials();
        say(&format!(
            "conformance against ScyllaDB at {target}, keyspace {keyspace}"
        ));

        // Two nodes starting at once: exactly one applies each migration,
        // and a later start applies nothing.
        let (a, b) = tokio::join!(scylla::migrate(&config), scylla::migrate(&config));
        let applied = a.expect("migrate a").len() + b.expect("migrate b").len();
        let again = scylla::migrate(&config).await.expect("migrate again");

        let store = ScyllaStore::connect(&config).await.expect("connect");
        // Run the suite in a task, so the keyspace is dropped even if it fails.
        let suite = {
            let store = store.clone();
            tokio::spawn(async move {
                let s: &dyn Store = &store;
                conformance::run_all(s).await;
                // Every behaviour at once on one store, as a shared cluster sees it.
                conformance::all_at_once(s).await;
            })
        };
        let outcome = suite.await;
        store.drop_keyspace().await.expect("drop the test keyspace");
        assert_eq!(
            applied,
            MIGRATIONS.len(),
            "each migration applied once by two racing nodes"
        );
        assert!(again.is_empty(), "a restart re-applied {again:?}");
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
        say("conformance against ScyllaDB: passed");
    }

    /// An unreachable cluster is a backend error (503 from the API), not a hang or a panic.
    #[tokio::test]
    async fn unreachable_cluster_is_a_backend_error() {
        let config =
            ScyllaConfig::parse("scylla://127.0.0.1:1/switchboard?timeout_ms=500").expect("URI");
        match ScyllaStore::connect(&config).await {
            Err(StoreError::Backend(msg)) => assert!(
                msg.contains("cannot connect to ScyllaDB at 127.0.0.1:1"),
                "{msg}"
            ),
            other => panic!("expected a backend error, got {other:?}"),
        }
    }
}

/// Calls of one tenant, each with an answered attempt of `buyer`.
fn batch(tenant: Id, buyer: Id, n: usize) -> Vec<CallRecord> {
    let t0 = Utc::now()
        .duration_trunc(Duration::milliseconds(1))
        .expect("now");
    let campaign = new_id();
    (0..n)
        .map(|i| {
            let at = t0 + Duration::milliseconds(i as i64);
            let mut c = sample_call(tenant, campaign, at);
            c.attempts
                .push(sample_attempt(buyer, at, AttemptOutcome::Completed));
            c
        })
        .collect()
}

/// Every call of a tenant, following the cursor.
async fn all_of_tenant(store: &dyn Store, tenant: Id) -> Vec<CallRecord> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .calls_by_tenant(tenant, cursor.as_deref(), 500)
            .await
            .expect("page");
        out.extend(page.calls);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

/// `DocPages` hands out every document once, a page at a time, and then ends.
#[tokio::test]
async fn doc_pages_walk_every_document() {
    let (_dir, store) = fresh();
    let tenant = new_id();
    let ids: Vec<Id> = (0..5).map(|_| new_id()).collect();
    for id in &ids {
        let doc = Doc {
            kind: DocKind::Pool,
            tenant,
            id: *id,
            version: 0,
            body: serde_json::json!({}),
        };
        store.put_doc(doc, None).await.expect("put doc");
    }
    let mut pages = DocPages::new(&store, DocKind::Pool, None, 2);
    let mut sizes = Vec::new();
    let mut walked = Vec::new();
    while let Some(docs) = pages.next_page().await.expect("page") {
        sizes.push(docs.len());
        walked.extend(docs.into_iter().map(|d| d.id));
    }
    assert_eq!(sizes, vec![2, 2, 1]);
    assert_eq!(walked, ids);
    assert!(
        pages.next_page().await.expect("after the end").is_none(),
        "a finished walk stays finished"
    );
}

#[tokio::test]
async fn writes_survive_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (tenant, buyer) = (new_id(), new_id());
    let calls = batch(tenant, buyer, 50);
    let doc = Doc {
        kind: DocKind::Tenant,
        tenant,
        id: tenant,
        version: 0,
        body: serde_json::json!({ "name": "acme" }),
    };
    {
        let store = EmbeddedStore::open(dir.path()).expect("open");
        store.put_doc(doc.clone(), None).await.expect("put doc");
        store.put_calls(&calls).await.expect("put calls");
    }
    let store = EmbeddedStore::open(dir.path()).expect("reopen");
    let got = store
        .get_doc(DocKind::Tenant, tenant, tenant)
        .await
        .expect("get doc")
        .expect("doc survives");
    assert_eq!(got, Doc { version: 1, ..doc });
    let mut listed = all_of_tenant(&store, tenant).await;
    listed.reverse();
    assert_eq!(listed, calls);
    assert_eq!(store.buyer_total(buyer).await.expect("total"), 50);
    assert_eq!(
        store
            .get_call_by_sid(&calls[7].call_sid)
            .await
            .expect("by sid"),
        Some(calls[7].clone())
    );
}

#[tokio::test]
async fn a_second_open_of_the_directory_fails_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = EmbeddedStore::open(dir.path()).expect("open");
    match EmbeddedStore::open(dir.path()) {
        Err(StoreError::Backend(msg)) => assert!(msg.contains("is in use"), "unclear error: {msg}"),
        other => panic!("second open must fail, got {other:?}"),
    }
    // The first handle is unharmed, and the directory is free once it closes.
    first
        .put_calls(&batch(new_id(), new_id(), 1))
        .await
        .expect("first still writes");
    drop(first);
    EmbeddedStore::open(dir.path()).expect("open after close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_put_calls_all_land() {
    const TASKS: usize = 24;
    const BATCHES: usize = 6;
    const PER_BATCH: usize = 5;
    let (_dir, store) = fresh();
    let store = Arc::new(store);
    let (tenant, buyer) = (new_id(), new_id());
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut written = Vec::new();
                for _ in 0..BATCHES {
                    let calls = batch(tenant, buyer, PER_BATCH);
                    store.put_calls(&calls).await.expect("put");
                    written.extend(calls.into_iter().map(|c| c.id));
                }
                written
            })
        })
        .collect();
    let mut written = HashSet::new();
    for t in tasks {
        written.extend(t.await.expect("task"));
    }
    let n = TASKS * BATCHES * PER_BATCH;
    assert_eq!(written.len(), n);
    let listed: HashSet<Id> = all_of_tenant(&*store, tenant)
        .await
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(listed, written);
    assert_eq!(store.buyer_total(buyer).await.expect("total"), n as u64);
    assert_eq!(
        store
            .buyer_attempts(buyer, chrono::DateTime::UNIX_EPOCH)
            .await
            .expect("rows")
            .len(),
        n
    );
}

// Cross-process tests: the test binary runs itself as the other process.

const CHILD_MODE: &str = "SWITCHBOARD_STORE_TEST_CHILD";
const CHILD_DIR: &str = "SWITCHBOARD_STORE_TEST_DIR";
const CHILD_TENANT: &str = "SWITCHBOARD_STORE_TEST_TENANT";
const CRASH_CALLS: usize = 200;

fn run_child(mode: &str, dir: &Path, tenant: Id) -> std::process::Output {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_MODE, mode)
        .env(CHILD_DIR, dir)
        .env(CHILD_TENANT, tenant.to_string())
        .output()
        .expect("run child")
}

/// The other process of the tests below, chosen by `SWITCHBOARD_STORE_TEST_CHILD`.
#[tokio::test]
#[ignore = "run by other tests as a separate process"]
async fn child_process() {
    let mode = std::env::var(CHILD_MODE).expect("child mode");
    let dir = std::path::PathBuf::from(std::env::var(CHILD_DIR).expect("child dir"));
    let tenant: Id = std::env::var(CHILD_TENANT)
        .expect("child tenant")
        .parse()
        .expect("tenant id");
    match mode.as_str() {
        "write-then-crash" => {
            let store = EmbeddedStore::open(&dir).expect("child open");
            store
                .put_calls(&batch(tenant, tenant, CRASH_CALLS))
                .await
                .expect("child put");
            // No drop, no close: the process dies right after the write returned.
            std::process::abort();
        }
        "open" => match EmbeddedStore::open(&dir) {
            Err(e) => println!("CHILD-OPEN-FAILED: {e}"),
            Ok(_) => println!("CHILD-OPEN-SUCCEEDED"),
        },
        other => panic!("unknown child mode {other}"),
    }
}

#[tokio::test]
async fn a_returned_write_survives_a_crash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tenant = new_id();
    let out = run_child("write-then-crash", dir.path(), tenant);
    assert!(
        !out.status.success(),
        "the child was meant to abort: {out:?}"
    );
    let store = EmbeddedStore::open(dir.path()).expect("open after crash");
    assert_eq!(all_of_tenant(&store, tenant).await.len(), CRASH_CALLS);
    assert_eq!(
        store.buyer_total(tenant).await.expect("total"),
        CRASH_CALLS as u64
    );
}

#[tokio::test]
async fn another_process_cannot_open_a_directory_in_use() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _store = EmbeddedStore::open(dir.path()).expect("open");
    let out = run_child("open", dir.path(), new_id());
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The harness prints the test name on the same line, so search, do not match lines.
    let said = stdout
        .find("CHILD-OPEN")
        .map(|i| &stdout[i..])
        .unwrap_or_else(|| panic!("child said nothing: {out:?}"));
    assert!(
        said.starts_with("CHILD-OPEN-FAILED") && said.contains("is in use"),
        "{said}"
    );
}
