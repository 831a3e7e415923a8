//! RTB benchmarks: the pure per-auction work around the bidders' network
//! round trips.
//!
//! Run: `cargo bench -p switchboard-benches --bench rtb`. With `CI` set, the
//! larger ranking shrinks and sampling is short.
//!
//! Read each time against the auction's own-overhead budget (the decision
//! time minus the slowest counted bidder, a few milliseconds at most): an
//! auction renders one body and extracts one response per bidder, then ranks
//! once. All inputs are built before measuring.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchboard_model::{Currency, Id};
use switchboard_rtb::{
    CallContext, ContentType, Destination, PathConfig, PriceTerms, Reply, ResponsePaths,
    TargetTerms, Template, ValidBid, classify, extract, rank,
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

/// The original product's template plus `{isoTimestamp}`: all 11 variables.
const TEMPLATE: &str = r#"{
  "requestId": "{requestId}",
  "campaignId": "{campaignId}",
  "callerId": "{callerId}",
  "callStartTime": "{callStartTime}",
  "bidParams": {
    "minBid": {minBid},
    "maxBid": {maxBid},
    "currency": "{currency}"
  },
  "location": {
    "state": "{callerState}",
    "zip": "{callerZip}"
  },
  "timestamp": {timestamp},
  "isoTimestamp": "{isoTimestamp}"
}"#;

const FLAT: &str = r#"{"bidAmount": 8.75, "destinationNumber": "+18005550199", "accepted": true, "currency": "USD", "duration": 60}"#;

const NESTED: &str = r#"{"data": {"bid": {"amount": 8.75, "currency": "USD"}, "routing": {"phone": "+18005550199", "accepted": true}, "requirements": {"duration": 60}}}"#;

fn nested_paths(prefix: &str) -> ResponsePaths {
    let p = |s: &str| format!("{prefix}{s}");
    let (a, d, acc, c, dur) = (
        p("data.bid.amount"),
        p("data.routing.phone"),
        p("data.routing.accepted"),
        p("data.bid.currency"),
        p("data.requirements.duration"),
    );
    ResponsePaths::compile(&PathConfig {
        bid_amount: Some(&a),
        destination: Some(&d),
        accepted: Some(&acc),
        currency: Some(&c),
        duration: Some(&dur),
        ..PathConfig::default()
    })
    .unwrap()
}

fn flat_jsonpath() -> ResponsePaths {
    ResponsePaths::compile(&PathConfig {
        bid_amount: Some("$.bidAmount"),
        destination: Some("$.destinationNumber"),
        accepted: Some("$.accepted"),
        currency: Some("$.currency"),
        duration: Some("$.duration"),
        expiry: Some("$.expireInSeconds"),
        reject_reason: Some("$.rejectReason"),
    })
    .unwrap()
}

/// `rtb/template/json_11_vars`: renders the 11-variable JSON body for one
/// target — string escaping of the caller's fields, two decimal amounts, two
/// RFC 3339 times and one integer timestamp, into a fresh `String`. Paid once
/// per bidder per auction.
fn bench_template(c: &mut Criterion) {
    let template = Template::parse(TEMPLATE).unwrap();
    let call = CallContext {
        request_id: Id::from_u128(7).to_string(),
        campaign_id: Id::from_u128(9).to_string(),
        caller_id: "+15550001000".into(),
        call_start: Utc.with_ymd_and_hms(2026, 11, 26, 3, 0, 0).unwrap(),
        caller_state: "CA".into(),
        caller_zip: "94105".into(),
        now: Utc.with_ymd_and_hms(2026, 11, 26, 3, 0, 1).unwrap(),
        tags: BTreeMap::new(),
    };
    let terms = PriceTerms {
        min_bid: 500,
        max_bid: 2500,
        currency: Currency::USD,
    };
    let out = template.render(ContentType::Json, &call, &terms);
    serde_json_check(&out);
    let mut group = c.benchmark_group("rtb/template");
    configure(&mut group);
    group.throughput(Throughput::Bytes(out.len() as u64));
    group.bench_function("json_11_vars", |b| {
        b.iter(|| template.render(ContentType::Json, black_box(&call), black_box(&terms)))
    });
    group.finish();
}

fn serde_json_check(text: &str) {
    assert!(
        text.contains("\"callerId\": \"+15550001000\"") && text.contains("\"minBid\": 5.00"),
        "{text}"
    );
}

/// `rtb/extract/{flat_key,flat_jsonpath,nested_dotted,nested_jsonpath}`: one
/// response body (about 120 bytes) to typed fields: the JSON parse plus seven
/// path lookups. `flat_key` vs `flat_jsonpath` and `nested_dotted` vs
/// `nested_jsonpath` show what JSONPath costs over plain steps; flat vs
/// nested shows the cost of depth. Paid once per answering bidder.
fn bench_extract(c: &mut Criterion) {
    let cases = [
        ("flat_key", FLAT, ResponsePaths::default()),
        ("flat_jsonpath", FLAT, flat_jsonpath()),
        ("nested_dotted", NESTED, nested_paths("")),
        ("nested_jsonpath", NESTED, nested_paths("$.")),
    ];
    let mut group = c.benchmark_group("rtb/extract");
    configure(&mut group);
    for (name, body, paths) in &cases {
        assert!(
            matches!(extract(body.as_bytes(), paths, 2), switchboard_rtb::Parsed::Bid(b) if b.amount == Some(875))
        );
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| extract(black_box(body.as_bytes()), paths, 2))
        });
    }
    group.finish();
}

fn bids(n: usize, now: Instant) -> Vec<ValidBid> {
    (0..n)
        .map(|i| ValidBid {
            target_id: Id::from_u128(i as u128 + 1),
            // Few distinct amounts, so ties on amount and priority happen.
            amount: 500 + (i as i64 * 37 % 11) * 25,
            currency: Currency::USD,
            destination: Destination::parse("+18005550199").unwrap(),
            duration_secs: Some(60),
            expires_at: Some(now + Duration::from_secs(30)),
            priority: i as u32 % 3 + 1,
            response_time: Duration::from_micros((i as u64 * 7919) % 50_000),
        })
        .collect()
}

/// `rtb/rank/{10,100 (20 under CI)}`: orders that many valid bids (amount,
/// priority, response time), dropping expired ones; the input copy is made
/// outside the measurement. Paid once per auction.
///
/// `rtb/decide/10`: the whole decision for 10 flat responses: classify each
/// (extract, validate, destination parse) and rank — the auction's pure
/// per-call cost apart from rendering.
fn bench_rank(c: &mut Criterion) {
    let now = Instant::now();
    let mut group = c.benchmark_group("rtb/rank");
    configure(&mut group);
    for n in [10, if ci() { 20 } else { 100 }] {
        let input = bids(n, now);
        assert_eq!(rank(input.clone(), now).len(), n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &input, |b, input| {
            b.iter_batched(|| input.clone(), |v| rank(v, now), BatchSize::SmallInput)
        });
    }
    group.finish();

    let paths = ResponsePaths::default();
    let targets: Vec<(TargetTerms, String)> = (0..10)
        .map(|i| {
            let terms = TargetTerms {
                target_id: Id::from_u128(i + 1),
                min_bid: 100,
                max_bid: 5000,
                currency: Currency::USD,
                priority: i as u32 % 3 + 1,
            };
            (
                terms,
                FLAT.replace("8.75", &format!("{}.{:02}", 5 + i % 4, i * 7 % 100)),
            )
        })
        .collect();
    let decide = || {
        let valid = targets.iter().filter_map(|(terms, body)| {
            let reply = Reply::Http {
                status: 200,
                body: body.as_bytes(),
            };
            match classify(
                terms,
                0,
                &paths,
                reply,
                now,
                now + Duration::from_millis(10),
            ) {
                switchboard_rtb::Outcome::Success(bid) => Some(bid),
                _ => None,
            }
        });
        rank(valid, now)
    };
    assert_eq!(decide().len(), targets.len());
    let mut group = c.benchmark_group("rtb/decide");
    configure(&mut group);
    group.throughput(Throughput::Elements(targets.len() as u64));
    group.bench_function(BenchmarkId::from_parameter(targets.len()), |b| {
        b.iter(decide)
    });
    group.finish();
}

criterion_group!(benches, bench_template, bench_extract, bench_rank);
criterion_main!(benches);
