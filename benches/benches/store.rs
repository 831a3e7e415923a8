//! Embedded store benchmarks.
//!
//! Run: `cargo bench -p switchboard-benches --bench store`. With `CI` set,
//! the largest batch shrinks to 256 and sampling is short.
//!
//! `store/put_calls/{1,64,1024,2048}`: one durable `put_calls` of that many
//! fresh calls (each with one dial attempt, so every index is written) into
//! an `EmbeddedStore` on a temporary directory under the target dir — a real
//! disk, not tmpfs, since the fsync is what is measured. Criterion reports
//! the time per batch and, as throughput, records/s. Every batch is one
//! transaction and one fsync, so batch 1 is bound by fsync latency and larger
//! batches show how far the recorder's group commit amortizes it. This is
//! what a webhook waits for: the append to the call log. The projector
//! applies it behind, on its own thread, competing for the cores and the
//! write lock.
//!
//! `store/put_calls_applied/{…}`: the same, then a read of the call tables,
//! which first applies everything appended: the sustained rate, log and
//! projections together, that the store can keep up without its lag growing.
//! The store grows across iterations, as it does in production.

use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchboard_model::{AttemptOutcome, CallRecord, Id, new_id};
use switchboard_store::conformance::{sample_attempt, sample_call};
use switchboard_store::{EmbeddedStore, Store};

/// A batch spread over a few tenants, campaigns and buyers, as the recorder sees it.
fn batch(n: usize, campaigns: &[(Id, Id)], buyers: &[Id], t0: DateTime<Utc>) -> Vec<CallRecord> {
    (0..n)
        .map(|i| {
            let at = t0 + chrono::Duration::microseconds(i as i64);
            let (tenant, campaign) = campaigns[i % campaigns.len()];
            let mut c = sample_call(tenant, campaign, at);
            c.attempts.push(sample_attempt(
                buyers[i % buyers.len()],
                at,
                AttemptOutcome::Completed,
            ));
            c
        })
        .collect()
}

fn put_calls(c: &mut Criterion) {
    let ci = std::env::var_os("CI").is_some();
    let sizes: &[usize] = if ci {
        &[1, 64, 256]
    } else {
        &[1, 64, 1024, 2048]
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open store");
    let tenants: Vec<Id> = (0..4).map(|_| new_id()).collect();
    let campaigns: Vec<(Id, Id)> = (0..12)
        .map(|i| (tenants[i % tenants.len()], new_id()))
        .collect();
    let buyers: Vec<Id> = (0..16).map(|_| new_id()).collect();

    for applied in [false, true] {
        let name = if applied {
            "store/put_calls_applied"
        } else {
            "store/put_calls"
        };
        let mut group = c.benchmark_group(name);
        if ci {
            group
                .sample_size(10)
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_secs(2));
        }
        for &n in sizes {
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
                b.iter_batched(
                    || batch(n, &campaigns, &buyers, Utc::now()),
                    |calls| {
                        rt.block_on(async {
                            store.put_calls(&calls).await.expect("put_calls");
                            if applied {
                                store.buyer_total(buyers[0]).await.expect("read");
                            }
                        })
                    },
                    BatchSize::SmallInput,
                );
            });
        }
        group.finish();
    }
}

criterion_group!(benches, put_calls);
criterion_main!(benches);
