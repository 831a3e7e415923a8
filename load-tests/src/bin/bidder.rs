//! `bidder`: a configurable RTB bidder for tests, demos and load.
//!
//! ```text
//! cargo build -p switchboard-load-tests
//! target/debug/bidder --listen 127.0.0.1:9101 --latency-ms 5..40 --price 2.00..12.00 \
//!     --no-bid 0.1 --reject 0.05 --timeout 0.02 --garbage 0.02 --format flat
//! ```
//!
//! Point an RTB target's `endpointUrl` at `http://127.0.0.1:9101/bid` (and
//! start Switchboard with `--rtb-allow-private-targets`, since it is on
//! loopback). Every request (any path, any method) is answered after a
//! latency drawn uniformly from `--latency-ms`, with one of:
//!
//! - a bid (price uniform in `--price`, destination `--destination`), in the
//!   flat format (`bidAmount`, `destinationNumber`, `accepted`, `currency`,
//!   `duration`) or the nested one (`data.bid.amount`, `data.routing.phone`,
//!   `data.routing.accepted`, `data.bid.currency`, `data.requirements.duration`:
//!   set the target's paths to match);
//! - a no-bid (204), with probability `--no-bid`;
//! - a rejection (`accepted: false`, `rejectReason`), with `--reject`;
//! - no answer at all (it hangs for a minute), with `--timeout`;
//! - garbage (not JSON), with `--garbage`.
//!
//! Every 10 s it prints what it answered to stderr. `--seed` makes the draws repeatable.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clap::{Parser, ValueEnum};
use serde_json::json;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Flat,
    Nested,
}

#[derive(Parser, Debug)]
#[command(about = "A configurable RTB bidder")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9101")]
    listen: SocketAddr,
    /// Latency range in ms, `MIN..MAX`.
    #[arg(long, default_value = "5..20")]
    latency_ms: String,
    /// Price range, decimal, `MIN..MAX`.
    #[arg(long, default_value = "2.00..10.00")]
    price: String,
    /// Share of requests answered with no bid (204).
    #[arg(long, default_value_t = 0.0)]
    no_bid: f64,
    /// Share answered with `accepted: false`.
    #[arg(long, default_value_t = 0.0)]
    reject: f64,
    /// Share never answered (the auction times them out).
    #[arg(long, default_value_t = 0.0)]
    timeout: f64,
    /// Share answered with a body that is not JSON.
    #[arg(long, default_value_t = 0.0)]
    garbage: f64,
    /// Response format.
    #[arg(long, value_enum, default_value_t = Format::Flat)]
    format: Format,
    /// Where the bidder wants calls sent.
    #[arg(long, default_value = "+18005550199")]
    destination: String,
    /// Currency of the bids.
    #[arg(long, default_value = "USD")]
    currency: String,
    /// Seed for the draws (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
}

/// Parses `A..B` with `parse`.
fn range<T: PartialOrd + Copy>(
    text: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> anyhow::Result<(T, T)> {
    let (a, b) = text
        .split_once("..")
        .with_context(|| format!("{text:?} is not MIN..MAX"))?;
    let (a, b) = (
        parse(a.trim()).with_context(|| format!("bad {a:?}"))?,
        parse(b.trim()).with_context(|| format!("bad {b:?}"))?,
    );
    if a > b {
        bail!("{text:?}: MIN is above MAX");
    }
    Ok((a, b))
}

/// Decimal text to cents.
fn cents(text: &str) -> Option<i64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, "0"));
    let frac = format!("{frac:0<2}");
    if frac.len() > 2 {
        return None;
    }
    Some(whole.parse::<i64>().ok()? * 100 + frac.parse::<i64>().ok()?)
}

/// SplitMix64: repeatable, fast, good enough for load shapes.
struct Rng(AtomicU64);

impl Rng {
    fn next(&self) -> u64 {
        let mut z = self
            .0
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn between(&self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

struct Bidder {
    args: Args,
    latency: (u64, u64),
    price: (i64, i64),
    rng: Rng,
    counts: [AtomicU64; 5],
}

const KINDS: [&str; 5] = ["bid", "no-bid", "reject", "timeout", "garbage"];

impl Bidder {
    async fn answer(&self) -> Response {
        tokio::time::sleep(Duration::from_millis(
            self.rng.between(self.latency.0, self.latency.1),
        ))
        .await;
        let a = &self.args;
        let draw = self.rng.unit();
        let kind = [a.no_bid, a.reject, a.timeout, a.garbage]
            .iter()
            .scan(0.0, |acc, p| {
                *acc += p;
                Some(*acc)
            })
            .position(|edge| draw < edge)
            .map_or(0, |i| i + 1);
        self.counts[kind].fetch_add(1, Ordering::Relaxed);
        let price = self.rng.between(self.price.0 as u64, self.price.1 as u64) as i64;
        let amount: serde_json::Number = format!("{}.{:02}", price / 100, price % 100)
            .parse()
            .unwrap_or_else(|_| 0.into());
        match kind {
            1 => StatusCode::NO_CONTENT.into_response(),
            3 => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                StatusCode::NO_CONTENT.into_response()
            }
            4 => (StatusCode::OK, "<<not json>>").into_response(),
            _ => {
                let accepted = kind == 0;
                let body = match a.format {
                    Format::Flat => json!({
                        "bidAmount": amount, "destinationNumber": a.destination, "accepted": accepted,
                        "currency": a.currency, "duration": 60, "rejectReason": (!accepted).then_some("not interested"),
                    }),
                    Format::Nested => json!({"data": {
                        "bid": {"amount": amount, "currency": a.currency},
                        "routing": {"phone": a.destination, "accepted": accepted},
                        "requirements": {"duration": 60},
                    }}),
                };
                axum::Json(body).into_response()
            }
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let latency = range(&args.latency_ms, |s| s.parse().ok())?;
    let price = range(&args.price, cents)?;
    for (name, p) in [
        ("no-bid", args.no_bid),
        ("reject", args.reject),
        ("timeout", args.timeout),
        ("garbage", args.garbage),
    ] {
        if !(0.0..=1.0).contains(&p) {
            bail!("--{name} must be between 0 and 1");
        }
    }
    if args.no_bid + args.reject + args.timeout + args.garbage > 1.0 {
        bail!("the shares of no-bids, rejections, timeouts and garbage add up to more than 1");
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let listen = args.listen;
    let bidder = Arc::new(Bidder {
        args,
        latency,
        price,
        rng: Rng(AtomicU64::new(seed)),
        counts: Default::default(),
    });
    let b = bidder.clone();
    let app = axum::Router::new().fallback(move || {
        let b = b.clone();
        async move { b.answer().await }
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    eprintln!("bidder listening on http://{}/bid", listener.local_addr()?);
    let b = bidder.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        tick.tick().await;
        loop {
            tick.tick().await;
            let line: Vec<String> = KINDS
                .iter()
                .zip(&b.counts)
                .map(|(k, c)| format!("{k}={}", c.load(Ordering::Relaxed)))
                .collect();
            eprintln!("answered: {}", line.join(" "));
        }
    });
    axum::serve(listener, app).await?;
    Ok(())
}
