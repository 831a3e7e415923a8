//! DNI: the lease table of one number pool (the pool actor's whole work per
//! track request, without the mailbox).
//!
//! Run: `cargo bench -p switchboard-benches --bench dni`. With `CI` set, the
//! pool shrinks to 100 numbers and sampling is short.
//!
//! The pool has N numbers (1000; 100 under CI), a 60 s session timeout, and
//! is kept at steady state: N sessions live, the clock advancing so that one
//! lease expires for each new one. Sessions are `u64`s, so the numbers are
//! the table's own cost, not string hashing of session ids.
//!
//! - `dni/lease/new`: a new visitor: ends the expired lease(s), takes the
//!   least recently released number. Read against the track endpoint's
//!   budget (a store write per new visit dominates; this should be about a
//!   microsecond): one pool actor serves 1 / this many new visitors a second.
//! - `dni/lease/renew`: a returning visitor (page reload): finds its live
//!   lease and moves its expiry. The common case on a busy site.
//! - `dni/refresh`: a heartbeat that only extends a live lease.
//! - `dni/holder_at`: attributing a call to the session holding a number.

use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchboard_dni::{LeaseTable, Settings};

fn ci() -> bool {
    std::env::var_os("CI").is_some()
}

fn size() -> u64 {
    if ci() { 100 } else { 1000 }
}

const TIMEOUT_SECS: i64 = 60;

fn at(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_800_000_000_000 + millis).unwrap()
}

/// A pool at steady state: `size()` sessions leased, one every
/// `TIMEOUT / size` ms; returns the table and the next session's time.
fn steady() -> (LeaseTable<u64, u64, ()>, i64, i64) {
    let n = size();
    let settings = Settings { session_timeout: chrono::Duration::seconds(TIMEOUT_SECS), closed_browser_delay: chrono::Duration::seconds(30) };
    let mut table = LeaseTable::new(0..n, settings);
    let step = TIMEOUT_SECS * 1000 / n as i64;
    for s in 0..n {
        table.lease(s, at(s as i64 * step), || ());
    }
    (table, step, n as i64 * step)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("dni");
    if ci() {
        group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    }
    group.throughput(Throughput::Elements(1));

    let (mut table, step, mut now) = steady();
    let mut session = size();
    group.bench_function("lease/new", |b| {
        b.iter(|| {
            session += 1;
            now += step;
            black_box(table.lease(session, at(now), || ()).is_some())
        })
    });

    let (mut table, _, now) = steady();
    let n = size();
    let mut i = 0u64;
    group.bench_function("lease/renew", |b| {
        b.iter(|| {
            // The newest half of the sessions is live at `now`.
            i = (i + 1) % (n / 2);
            black_box(table.lease(n / 2 + i, at(now), || ()).is_some())
        })
    });

    let (mut table, _, now) = steady();
    group.bench_function("refresh", |b| {
        b.iter(|| {
            i = (i + 1) % (n / 2);
            black_box(table.refresh(&(n / 2 + i), at(now)))
        })
    });

    let (table, _, now) = steady();
    group.bench_function("holder_at", |b| {
        b.iter(|| {
            i = (i + 1) % n;
            black_box(table.holder_at(&i, at(now)).is_some())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
