//! `seed`: fills a data directory for the benchmarks in `docs/benchmarks.md`.
//! Run it with the server stopped (the store is locked while one runs), then
//! `switchboard serve --data DIR`.
//!
//! ```text
//! cargo build --release -p switchboard-load-tests
//! target/release/seed bench --data /tmp/sb-bench            # tenant "bench", 10 + 100 buyers
//! target/release/seed scale --data /tmp/sb-scale --buyers 100000 --campaigns 10000
//! target/release/seed calls --data /tmp/sb-bench --count 10000000
//! ```
//!
//! - `bench`: tenant `bench` (auth token `bench-token`, account
//!   `ACbench0000000000000000000000000`) with 100 buyers whose caps are set
//!   but far above what a run can reach, so every call is routed:
//!   `+15550009000` routes by priority over the first 10 (two levels,
//!   weighted), `+15550009001` round-robin over all 100.
//! - `scale`: tenant `scale` with N buyers and M campaigns of 10 buyers each:
//!   the memory and start-up benchmark.
//! - `rtb`: an RTB campaign `+15550009002` in tenant `bench` whose router asks
//!   the given bidder URLs (start `bidder`s first) within `--timeout-ms`.
//! - `calls`: N past calls of the `bench` priority campaign, started before
//!   this month (so no cap counts them), written in group commits of 8,192:
//!   the "10 million calls stored" benchmark.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use chrono::{Datelike as _, Duration, TimeZone as _, Utc};
use clap::{Parser, Subcommand};
use switchboard_engine::{Engine, EngineConfig};
use switchboard_model::{
    AttemptOutcome, Buyer, BuyerAssignment, BuyerStatus, Campaign, Caps, Currency, GeoFilter, Id,
    PhoneNumber, Pixel, RoutingPolicy, RoutingType, RtbRouter, RtbTarget, Tenant, new_id,
};
use switchboard_store::conformance::{sample_attempt, sample_call};
use switchboard_store::{DocKind, EmbeddedStore, Store};

#[derive(Parser)]
#[command(
    name = "seed",
    about = "Fill a data directory for Switchboard's benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tenant `bench`: a priority campaign over 10 buyers, a round-robin one over 100.
    Bench {
        #[arg(long)]
        data: PathBuf,
    },
    /// Tenant `scale`: many buyers and campaigns.
    Scale {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 100_000)]
        buyers: usize,
        #[arg(long, default_value_t = 10_000)]
        campaigns: usize,
    },
    /// Tenant `bench` also gets an RTB campaign (`+15550009002`) whose router
    /// asks every bidder URL given (`--bidders URL,URL…`) within `--timeout-ms`.
    Rtb {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, value_delimiter = ',', required = true)]
        bidders: Vec<String>,
        #[arg(long, default_value_t = 100)]
        timeout_ms: u32,
    },
    /// Tenant `bench` also gets a pixel: `--url` (a template) on `--event`
    /// of every call, signed (a signing secret is made).
    Pixel {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        url: String,
        #[arg(long, default_value = "incoming")]
        event: String,
    },
    /// Past calls of the `bench` priority campaign.
    Calls {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 10_000_000)]
        count: u64,
    },
}

/// The `bench` tenant's auth token.
const BENCH_TOKEN: &str = "bench-token";
/// The `bench` tenant's account SID.
const BENCH_ACCOUNT: &str = "ACbench0000000000000000000000000";
/// The `bench` priority campaign's number.
const PRIORITY_NUMBER: &str = "+15550009000";
/// The `bench` round-robin campaign's number.
const ROUND_ROBIN_NUMBER: &str = "+15550009001";
/// The `bench` RTB campaign's number.
const RTB_NUMBER: &str = "+15550009002";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench { data } => {
            let engine = open(&data).await?;
            let t = tenant(&engine, "bench", BENCH_TOKEN, BENCH_ACCOUNT).await?;
            let buyers = buyers(&engine, t, 100, 0).await?;
            let first10: Vec<_> = buyers[..10]
                .iter()
                .enumerate()
                .map(|(i, b)| BuyerAssignment {
                    buyer_id: *b,
                    priority: if i < 5 { 1 } else { 2 },
                    weight: 1 + i as u32 % 3,
                })
                .collect();
            let all: Vec<_> = buyers
                .iter()
                .map(|b| BuyerAssignment {
                    buyer_id: *b,
                    priority: 1,
                    weight: 1,
                })
                .collect();
            engine
                .put_campaign(
                    campaign(
                        t,
                        "Bench Priority",
                        PRIORITY_NUMBER,
                        RoutingPolicy::Priority,
                        first10,
                    )?,
                    None,
                )
                .await?;
            engine
                .put_campaign(
                    campaign(
                        t,
                        "Bench Round Robin",
                        ROUND_ROBIN_NUMBER,
                        RoutingPolicy::RoundRobin,
                        all,
                    )?,
                    None,
                )
                .await?;
            engine.shutdown().await;
            println!(
                "seeded tenant bench (token {BENCH_TOKEN}, account {BENCH_ACCOUNT}): {PRIORITY_NUMBER} priority over 10 buyers, {ROUND_ROBIN_NUMBER} round-robin over 100"
            );
        }
        Command::Scale {
            data,
            buyers: n,
            campaigns: m,
        } => {
            let started = Instant::now();
            let engine = open(&data).await?;
            let t = tenant(
                &engine,
                "scale",
                "scale-token",
                "ACscale0000000000000000000000000",
            )
            .await?;
            let ids = buyers(&engine, t, n, 1_000_000).await?;
            for c in 0..m {
                let assigned = (0..10)
                    .map(|k| BuyerAssignment {
                        buyer_id: ids[(c * 10 + k) % ids.len()],
                        priority: 1 + k as u32 / 5,
                        weight: 1,
                    })
                    .collect();
                let number = format!("+1556{:07}", c);
                engine
                    .put_campaign(
                        campaign(
                            t,
                            &format!("Scale {c}"),
                            &number,
                            RoutingPolicy::Priority,
                            assigned,
                        )?,
                        None,
                    )
                    .await?;
                if c % 1000 == 999 {
                    eprintln!("seed: {} campaigns", c + 1);
                }
            }
            engine.shutdown().await;
            println!(
                "seeded tenant scale: {n} buyers, {m} campaigns in {:.0?}",
                started.elapsed()
            );
        }
        Command::Rtb {
            data,
            bidders,
            timeout_ms,
        } => {
            let engine = open(&data).await?;
            let tenant = engine
                .tenants()
                .into_iter()
                .find(|t| t.name == "bench")
                .context("run `seed bench` first")?
                .id;
            let mut targets = Vec::new();
            for (i, url) in bidders.iter().enumerate() {
                let mut target: RtbTarget = serde_json::from_value(serde_json::json!({
                    "id": new_id(), "tenantId": tenant, "name": format!("bidder {i}"), "endpointUrl": url,
                    "maxBidAmount": 50, "timeoutMs": timeout_ms,
                    "requestBody": "{\"requestId\":\"{requestId}\",\"callerId\":\"{callerId}\",\"minBid\":{minBid}}",
                    "createdAt": Utc::now(),
                }))?;
                engine.config_write().await.put(&mut target, None).await?;
                targets.push(serde_json::json!({"targetId": target.id}));
            }
            let mut router: RtbRouter = serde_json::from_value(serde_json::json!({
                "id": new_id(), "tenantId": tenant, "name": "bench router", "biddingTimeoutMs": timeout_ms,
                "targets": targets, "createdAt": Utc::now(),
            }))?;
            engine.config_write().await.put(&mut router, None).await?;
            let mut c = Campaign::direct(
                tenant,
                "Bench Auction",
                PhoneNumber::parse(RTB_NUMBER)?,
                RoutingPolicy::Priority,
                Vec::new(),
            );
            c.routing_type = RoutingType::Rtb;
            c.rtb_router_id = Some(router.id);
            engine.put_campaign(c, None).await?;
            engine.shutdown().await;
            println!(
                "seeded {RTB_NUMBER}: an auction among {} bidders within {timeout_ms} ms",
                bidders.len()
            );
        }
        Command::Pixel { data, url, event } => {
            let engine = open(&data).await?;
            let tenant = engine
                .tenants()
                .into_iter()
                .find(|t| t.name == "bench")
                .context("run `seed bench` first")?
                .id;
            let mut pixel: Pixel = serde_json::from_value(serde_json::json!({
                "id": new_id(), "tenantId": tenant, "name": format!("bench {event} pixel"),
                "events": [event], "url": url, "createdAt": Utc::now(),
            }))?;
            engine.config_write().await.put(&mut pixel, None).await?;
            engine.rotate_signing_secret(tenant).await?;
            engine.shutdown().await;
            println!("seeded a pixel on {event} of every bench call: {url}");
        }
        Command::Calls { data, count } => {
            let store = Arc::new(
                EmbeddedStore::open(&data)
                    .context("open the store (is a server running on it?)")?,
            );
            let campaign = store
                .list_docs(DocKind::Campaign, None)
                .await?
                .into_iter()
                .find(|d| d.body["phoneNumber"] == PRIORITY_NUMBER)
                .context("run `seed bench` first")?;
            let buyer: Id = serde_json::from_value(campaign.body["buyers"][0]["buyerId"].clone())?;
            // Before this month: stored and indexed, but counted by no cap.
            let now = Utc::now();
            let month_start = Utc
                .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
                .single()
                .context("month start")?;
            let span_secs = 330 * 24 * 3600;
            let started = Instant::now();
            let mut written = 0u64;
            while written < count {
                let n = (count - written).min(8192);
                let batch: Vec<_> = (0..n)
                    .map(|i| {
                        let k = written + i;
                        // In time order, as calls arrive: the oldest first.
                        let back = span_secs - (k as i64 * span_secs) / count.max(1) as i64;
                        let at = month_start - Duration::seconds(back.max(1));
                        let mut c = sample_call(campaign.tenant, campaign.id, at);
                        c.buyer_id = Some(buyer);
                        c.attempts
                            .push(sample_attempt(buyer, at, AttemptOutcome::Completed));
                        c
                    })
                    .collect();
                store.put_calls(&batch).await?;
                written += n;
                if written % 1_000_000 < 8192 {
                    eprintln!(
                        "seed: {written} calls, {:.0}/s",
                        written as f64 / started.elapsed().as_secs_f64()
                    );
                }
            }
            let appended = started.elapsed();
            // The projections (call tables, rollups, events) catch up behind.
            loop {
                let lag = store.projection_lag().await?;
                if lag.events == 0 {
                    break;
                }
                eprintln!("seed: {} entries to project", lag.events);
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
            println!(
                "wrote {written} calls in {appended:.1?} ({:.0} calls/s), all projected after {:.1?}",
                written as f64 / appended.as_secs_f64(),
                started.elapsed()
            );
        }
    }
    Ok(())
}

async fn open(data: &std::path::Path) -> anyhow::Result<Engine> {
    std::fs::create_dir_all(data)?;
    let store: Arc<dyn Store> =
        Arc::new(EmbeddedStore::open(data).context("open the store (is a server running on it?)")?);
    Ok(Engine::start(store, EngineConfig::default()).await?)
}

async fn tenant(engine: &Engine, name: &str, token: &str, account: &str) -> anyhow::Result<Id> {
    if engine.tenants().iter().any(|t| t.name == name) {
        bail!("tenant {name} is already seeded here; use a fresh --data directory");
    }
    let t = Tenant {
        id: new_id(),
        name: name.to_owned(),
        twilio_account_sid: Some(account.to_owned()),
        twilio_auth_token: token.to_owned(),
        timezone: chrono_tz::Tz::UTC,
        publisher_sees_caller_numbers: false,
        version: 0,
        created_at: Utc::now(),
    };
    Ok(engine.put_tenant(t, None).await?.id)
}

/// `n` always-open buyers with caps no run reaches; numbers from `+1557…` on.
async fn buyers(engine: &Engine, tenant: Id, n: usize, offset: usize) -> anyhow::Result<Vec<Id>> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let b = Buyer {
            id: new_id(),
            tenant_id: tenant,
            name: format!("Buyer {i}"),
            company: format!("Company {i}"),
            contact: String::new(),
            phone_number: PhoneNumber::parse(&format!("+1557{:07}", i + offset))?,
            status: BuyerStatus::Active,
            timezone: chrono_tz::America::New_York,
            caps: Caps {
                concurrency_limit: Some(1_000_000),
                hourly_cap: Some(100_000_000),
                daily_cap: Some(100_000_000),
                monthly_cap: Some(1_000_000_000),
                ..Caps::default()
            },
            schedule: None,
            geo: GeoFilter::default(),
            filters: Vec::new(),
            conversion_seconds: 60,
            revenue: 1000,
            currency: Currency::USD,
            version: 0,
        };
        ids.push(engine.put_buyer(b, None).await?.id);
        if i % 10_000 == 9_999 {
            eprintln!("seed: {} buyers", i + 1);
        }
    }
    Ok(ids)
}

fn campaign(
    tenant: Id,
    name: &str,
    number: &str,
    policy: RoutingPolicy,
    buyers: Vec<BuyerAssignment>,
) -> anyhow::Result<Campaign> {
    let mut c = Campaign::direct(tenant, name, PhoneNumber::parse(number)?, policy, buyers);
    c.description = "seeded for a benchmark".to_owned();
    Ok(c)
}
