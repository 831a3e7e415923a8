//! openloop: signed voice webhooks at a fixed rate, open loop, for the
//! latency row of `bench.sh` ("p99 at half the max rate").
//!
//! Request `i` is due at `start + i / rate` whatever the answers before it
//! did, and its latency runs from when it was due, not from when it was
//! sent: a server that stalls is charged for every request that queued
//! behind the stall (no coordinated omission). At most `--connections`
//! requests are in flight, over as many keep-alive connections.
//!
//!   python3 load-tests/wrk/sign.py --url "$URL" ... -n 200000 > voice.tsv
//!   openloop --url "$URL" --requests voice.tsv --rate 5000 --duration 20
//!
//! The requests are `wrk/sign.py`'s lines (signature, TAB, form body), each
//! sent once: the file needs `rate × duration` of them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde::Serialize;
use switchboard_load_tests::stats::{Latency, micros};
use tokio::sync::Semaphore;

#[derive(Parser)]
#[command(about = "Signed voice webhooks at a fixed rate; latency from when each was due")]
struct Args {
    /// The server's base URL (the one the requests were signed for).
    #[arg(long)]
    url: String,
    /// `wrk/sign.py`'s output: one `signature<TAB>form body` per request.
    #[arg(long)]
    requests: std::path::PathBuf,
    /// Requests per second.
    #[arg(long)]
    rate: u32,
    /// Seconds to run.
    #[arg(long, default_value_t = 20)]
    duration: u32,
    /// Most requests in flight (and connections).
    #[arg(long, default_value_t = 128)]
    connections: usize,
    /// The path the requests are posted to.
    #[arg(long, default_value = "/api/webhooks/voice")]
    path: String,
}

/// What a run measured: printed as one JSON line.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    rate: u32,
    sent: usize,
    /// Answered per second over the run, from the first due time to the last answer.
    achieved_rate: f64,
    non_2xx: usize,
    errors: usize,
    /// From each request's due time to its whole answer.
    latency_ms: Latency,
    p999_ms: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.rate == 0 || args.duration == 0 || args.connections == 0 {
        bail!("--rate, --duration and --connections must be above 0");
    }
    let text = std::fs::read_to_string(&args.requests)
        .with_context(|| format!("read {}", args.requests.display()))?;
    let requests: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(sig, body)| (sig.to_owned(), body.to_owned()))
        .collect();
    let total = args.rate as usize * args.duration as usize;
    if requests.len() < total {
        bail!(
            "{} holds {} requests; {} s at {}/s needs {total} (each CallSid is sent once)",
            args.requests.display(),
            requests.len(),
            args.duration,
            args.rate
        );
    }
    let url = format!("{}{}", args.url.trim_end_matches('/'), args.path);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let slots = Arc::new(Semaphore::new(args.connections));
    let results = Arc::new(Mutex::new(Results::with_capacity(total)));
    let interval = Duration::from_secs(1).as_secs_f64() / f64::from(args.rate);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (sig, body)) in requests.into_iter().take(total).enumerate() {
        let due = start + Duration::from_secs_f64(interval * i as f64);
        tokio::time::sleep_until(due.into()).await;
        // Waiting for a slot is part of the latency: `due` is already fixed.
        let slot = Arc::clone(&slots).acquire_owned().await?;
        let (client, url, results) = (client.clone(), url.clone(), Arc::clone(&results));
        tasks.spawn(async move {
            let answer = client
                .post(&url)
                .header("X-Twilio-Signature", sig)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await;
            let outcome = match answer {
                Ok(r) => {
                    let ok = r.status().is_success();
                    match r.bytes().await {
                        Ok(_) if ok => Outcome::Ok,
                        Ok(_) => Outcome::Non2xx,
                        Err(_) => Outcome::Error,
                    }
                }
                Err(_) => Outcome::Error,
            };
            drop(slot);
            let latency = micros(due.elapsed());
            if let Ok(mut r) = results.lock() {
                r.add(outcome, latency);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = start.elapsed().as_secs_f64();
    let r = Arc::try_unwrap(results)
        .map_err(|_| anyhow::anyhow!("a request task outlived the run"))?
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a request task panicked"))?;
    let mut sorted = r.latencies.clone();
    sorted.sort_unstable();
    let p999 = switchboard_load_tests::stats::percentile(&sorted, 99.9).unwrap_or(0);
    let summary = Summary {
        rate: args.rate,
        sent: total,
        achieved_rate: (r.latencies.len() as f64 / elapsed * 10.0).round() / 10.0,
        non_2xx: r.non_2xx,
        errors: r.errors,
        latency_ms: Latency::from_micros(r.latencies),
        p999_ms: p999 as f64 / 1000.0,
    };
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

enum Outcome {
    Ok,
    Non2xx,
    Error,
}

struct Results {
    /// Every answered request's latency, µs (errors too: a refused request still took its time).
    latencies: Vec<u64>,
    non_2xx: usize,
    errors: usize,
}

impl Results {
    fn with_capacity(n: usize) -> Self {
        Self {
            latencies: Vec::with_capacity(n),
            non_2xx: 0,
            errors: 0,
        }
    }

    fn add(&mut self, outcome: Outcome, latency_us: u64) {
        match outcome {
            Outcome::Ok => {}
            Outcome::Non2xx => self.non_2xx += 1,
            Outcome::Error => self.errors += 1,
        }
        self.latencies.push(latency_us);
    }
}
