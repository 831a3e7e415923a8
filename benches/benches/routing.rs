//! Routing policy benchmarks: the pure decisions on every call's hot path.
//!
//! Run: `cargo bench -p switchboard-benches --bench routing`. With `CI` set,
//! the round-robin list and the duplicate window shrink and sampling is short.
//!
//! Each is a per-call cost, so read the time directly against the routing
//! budget (well under a millisecond of the engine's own time per call). All
//! inputs are built before measuring; only the decision itself is timed.

use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchboard_model::{
    Buyer, BuyerStatus, CallerInfo, Caps, Currency, FilterOp, GeoFilter, Id, PhoneNumber, Schedule,
    TagFilter,
};
use switchboard_routing::{
    Candidate, CapCounters, Capacity, DuplicateWindow, admit, order_priority, order_round_robin,
};

fn ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Short sampling under CI; criterion's defaults otherwise.
fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    if ci() {
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
    }
}

/// The campaign actor's PRNG, seeded.
fn uniform(seed: u64) -> impl FnMut() -> f64 {
    let mut rng = switchboard_model::prng::SplitMix64::new(seed);
    move || rng.unit()
}

fn candidates(n: usize, levels: u32) -> Vec<Candidate> {
    (0..n)
        .map(|i| Candidate {
            buyer_id: Id::from_u128(i as u128 + 1),
            priority: i as u32 % levels + 1,
            weight: i as u32 % 5 + 1,
        })
        .collect()
}

/// `routing/order_priority/10`: orders 10 buyers spread over 3 priority
/// levels with weights 1–5, as a priority campaign does once per call: one
/// random draw and one key per buyer, a sort, and the output `Vec`.
fn bench_order_priority(c: &mut Criterion) {
    let cands = candidates(10, 3);
    let mut rng = uniform(42);
    let mut group = c.benchmark_group("routing/order_priority");
    configure(&mut group);
    group.throughput(Throughput::Elements(cands.len() as u64));
    group.bench_function(BenchmarkId::from_parameter(cands.len()), |b| {
        b.iter(|| order_priority(black_box(&cands), &mut rng))
    });
    group.finish();
}

/// `routing/order_round_robin/{100,20 under CI}`: the rotated order of a
/// round-robin campaign with that many buyers, the cursor moving each call.
/// The cost is the copy of the ids into a fresh `Vec`, linear in the size.
fn bench_order_round_robin(c: &mut Criterion) {
    let n = if ci() { 20 } else { 100 };
    let cands = candidates(n, 1);
    let mut cursor = 0usize;
    let mut group = c.benchmark_group("routing/order_round_robin");
    configure(&mut group);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(BenchmarkId::from_parameter(n), |b| {
        b.iter(|| {
            cursor = cursor.wrapping_add(1);
            order_round_robin(black_box(&cands), cursor)
        })
    });
    group.finish();
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("valid bench time")
}

/// A buyer that passes every check: weekday hours, a ten-state allow list,
/// deny ZIPs, two tag filters, and every cap set (high enough never to refuse).
fn busy_buyer() -> Buyer {
    let states = ["NY", "NJ", "CT", "PA", "MA", "VT", "NH", "ME", "RI", "DE"];
    Buyer {
        id: Id::from_u128(1),
        tenant_id: Id::from_u128(2),
        name: "Acme".into(),
        company: String::new(),
        contact: String::new(),
        phone_number: PhoneNumber::parse("+15550002001").expect("valid number"),
        status: BuyerStatus::Active,
        timezone: chrono_tz::America::New_York,
        caps: Caps {
            concurrency_limit: Some(1_000),
            hourly_cap: Some(1_000_000),
            daily_cap: Some(1_000_000),
            monthly_cap: Some(1_000_000),
            total_cap: Some(u32::MAX),
        },
        schedule: Some(Schedule {
            saturday: vec![],
            sunday: vec![],
            ..Schedule::every_day("08:00", "20:00").expect("valid schedule")
        }),
        geo: GeoFilter {
            allow_states: states.iter().map(|s| s.to_string()).collect(),
            deny_zips: vec!["10013".into(), "070".into(), "191".into()],
            ..GeoFilter::default()
        },
        filters: vec![
            TagFilter {
                tag: "language".into(),
                op: FilterOp::In,
                values: vec!["en".into(), "es".into()],
            },
            TagFilter {
                tag: "utmSource".into(),
                op: FilterOp::NotIn,
                values: vec!["spam".into()],
            },
        ],
        conversion_seconds: 90,
        revenue: 2_500,
        currency: Currency::default(),
        version: 0,
    }
}

/// `routing/admit/buyer`: one buyer actor's whole decision for an attempt —
/// status, schedule (New York zone conversion), geo lists, two tag filters,
/// and all five caps —
/// followed by the unanswered release that gives the reservation back, so
/// every iteration sees the same state: 20 other calls in progress and a
/// mid-day hour. Read it as the buyer actor's cost per attempt.
fn bench_admit(c: &mut Criterion) {
    let buyer = Capacity::from(&busy_buyer());
    let caller = CallerInfo {
        from: "+12125550100".into(),
        state: Some("ny".into()),
        zip: Some("10001".into()),
        tags: [("language".to_owned(), "es".to_owned())].into(),
    };
    let now = utc(2024, 1, 10, 17, 0); // Wednesday 12:00 New York
    let expires_at = now + chrono::Duration::hours(2);
    let mut counters = CapCounters::new();
    for i in 0..20u16 {
        admit(
            &buyer,
            &mut counters,
            &caller,
            now,
            (Id::from_u128(7), i),
            expires_at,
        )
        .expect("admitted");
    }
    let key = (Id::from_u128(8), 0);
    let mut group = c.benchmark_group("routing/admit");
    configure(&mut group);
    group.bench_function("buyer", |b| {
        b.iter(|| {
            let admitted = admit(
                black_box(&buyer),
                &mut counters,
                black_box(&caller),
                now,
                key,
                expires_at,
            );
            counters.release(key, false);
            admitted
        })
    });
    group.finish();
}

/// `routing/duplicate/{lookup_hit,lookup_miss,record_prune}/{100000,10000 under CI}`:
/// a campaign's duplicate window holding that many callers from the last 24
/// hours. `lookup_hit` finds a remembered caller, `lookup_miss` a new one
/// (both one hash lookup; they should not grow with the size). `record_prune`
/// is the steady state the campaign actor runs on each routed call: record a
/// new caller (formatting its number included), then prune what fell out of
/// the window; each call comes 1/size of the window after the last, so each
/// prune forgets about one caller and the size stays put.
fn bench_duplicate(c: &mut Criterion) {
    let n: u64 = if ci() { 10_000 } else { 100_000 };
    let window = chrono::Duration::hours(24);
    let t0 = utc(2024, 1, 10, 0, 0);
    let step = window / n as i32;
    let caller = |i: u64| format!("+1{:010}", 2_000_000_000 + i);
    let mut w = DuplicateWindow::new();
    for i in 0..n {
        w.record(
            &caller(i),
            Id::from_u128(u128::from(i % 16)),
            t0 + step * i as i32,
        );
    }
    let now = t0 + window - chrono::Duration::seconds(1);
    let hit = caller(n / 2);
    let miss = caller(n + 1);
    assert!(w.lookup(&hit, now, window).is_some() && w.lookup(&miss, now, window).is_none());

    let mut group = c.benchmark_group("routing/duplicate");
    configure(&mut group);
    group.bench_function(BenchmarkId::new("lookup_hit", n), |b| {
        b.iter(|| w.lookup(black_box(&hit), now, window))
    });
    group.bench_function(BenchmarkId::new("lookup_miss", n), |b| {
        b.iter(|| w.lookup(black_box(&miss), now, window))
    });
    let mut i = n;
    group.bench_function(BenchmarkId::new("record_prune", n), |b| {
        b.iter(|| {
            let at = t0 + step * i as i32;
            w.record(&caller(i), Id::from_u128(1), at);
            w.prune(at, window);
            i += 1;
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_order_priority,
    bench_order_round_robin,
    bench_admit,
    bench_duplicate
);
criterion_main!(benches);
