//! The blocklist check every call and ping makes before routing.
//!
//! Run: `cargo bench -p switchboard-benches --bench blocklist`. With `CI`
//! set, the big list has 10,000 entries instead of 1,000,000 and sampling
//! is short.
//!
//! `blocklist/check/{miss,hit}/{empty,25,1000000}` asks, for one caller,
//! whether a call to a campaign is blocked. The caller's tenant always has
//! the same 25 entries: a number, and a prefix of every length from 1 to 12
//! digits both tenant-wide and for the campaign, so a miss tries every
//! length in both scopes (the most lookups a check makes). `25` is those
//! alone; `1000000` adds 999,975 entries of 1,000 tenants (this one among
//! them): numbers, prefixes of 1 to 12 digits, a third for one of 50
//! campaigns. `empty` is no entry at all (the check returns at once).
//! `miss` is a caller on no list, the common case; `hit` a blocked number.
//! `25` and `1000000` should cost the same within noise (hash lookups, not a
//! scan; a big index costs cache misses). Run the bench twice, interleaved
//! rounds, on a shared machine.

use std::hint::black_box;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use switchboard_model::{BlocklistEntry, Id, PhoneNumber};
use switchboard_routing::Blocklist;

fn ci() -> bool {
    std::env::var_os("CI").is_some()
}

const TENANTS: u128 = 1_000;

/// The benched tenant and campaign.
const TENANT: Id = Id::from_u128(1);
const CAMPAIGN: Id = Id::from_u128(10_001);

fn blank(id: u128, tenant: Id) -> BlocklistEntry {
    BlocklistEntry {
        id: Id::from_u128(id),
        tenant_id: tenant,
        number: None,
        prefix: None,
        anonymous: false,
        campaign_id: None,
        expires_at: None,
        note: None,
        version: 1,
        created_at: Utc::now(),
    }
}

/// The benched tenant's 25 entries: the blocked number, and prefixes
/// `+9`, `+98`, … of 1 to 12 digits, tenant-wide and for the campaign.
fn probe() -> Vec<BlocklistEntry> {
    let mut out = vec![BlocklistEntry {
        number: Some(PhoneNumber::parse("+15551230000").expect("number")),
        ..blank(1, TENANT)
    }];
    for len in 1..=12u128 {
        for campaign in [None, Some(CAMPAIGN)] {
            let digits = "987654321098";
            out.push(BlocklistEntry {
                prefix: Some(format!("+{}", &digits[..len as usize])),
                campaign_id: campaign,
                ..blank(out.len() as u128 + 1, TENANT)
            });
        }
    }
    out
}

/// Filler entry `i`: ten in a row per tenant, the tenth a prefix (`+9…`,
/// so it never matches the callers benched) of 1 to 12 digits; a third for
/// one of 50 campaigns.
fn filler(i: u64) -> BlocklistEntry {
    let tenant = Id::from_u128(u128::from(i / 10) % TENANTS + 1);
    let mut e = blank(u128::from(i) + 1_000_000, tenant);
    if i % 10 == 9 {
        let len = (i / 10_000 % 12 + 1) as usize;
        let digits = format!("9{:011}", i * 7_919 % 100_000_000_000);
        e.prefix = Some(format!("+{}", &digits[..len]));
    } else {
        e.number =
            Some(PhoneNumber::parse(&format!("+1{:010}", 2_000_000_000 + i)).expect("number"));
    }
    e.campaign_id = i
        .is_multiple_of(3)
        .then(|| Id::from_u128(u128::from(i % 50) + 10_000));
    e
}

fn bench_check(c: &mut Criterion) {
    let filled = if ci() { 10_000 } else { 1_000_000 };
    let empty = Blocklist::new();
    let mut small = Blocklist::new();
    let mut big = Blocklist::new();
    for e in probe() {
        small.insert(&e);
        big.insert(&e);
    }
    for i in 0..filled - small.len() as u64 {
        big.insert(&filler(i));
    }
    assert_eq!(big.len() as u64, filled);
    let now = Utc
        .with_ymd_and_hms(2026, 12, 3, 12, 0, 0)
        .single()
        .expect("time");
    let (blocked, clean) = ("+15551230000", "+447700900123");
    for list in [&small, &big] {
        assert!(list.blocks(TENANT, Some(CAMPAIGN), blocked, now).is_some());
        assert!(list.blocks(TENANT, Some(CAMPAIGN), clean, now).is_none());
    }

    let mut group = c.benchmark_group("blocklist/check");
    if ci() {
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
    }
    let (small_label, big_label) = (small.len().to_string(), big.len().to_string());
    for (label, list) in [
        ("empty", &empty),
        (small_label.as_str(), &small),
        (big_label.as_str(), &big),
    ] {
        group.bench_function(BenchmarkId::new("miss", label), |b| {
            b.iter(|| list.blocks(black_box(TENANT), Some(CAMPAIGN), black_box(clean), now))
        });
        group.bench_function(BenchmarkId::new("hit", label), |b| {
            b.iter(|| list.blocks(black_box(TENANT), Some(CAMPAIGN), black_box(blocked), now))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_check);
criterion_main!(benches);
