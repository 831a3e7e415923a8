//! The process-wide Prometheus recorder behind `/metrics`.
//!
//! `metrics` allows one global recorder per process, and tests start many
//! servers in one process, so the recorder is installed once and every
//! server shares its handle.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use switchboard_engine::metrics as names;

/// Buckets for latencies, in seconds: 50 µs to 5 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];
/// Buckets for the recorder's batch size.
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0,
];
/// How often histograms are drained when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The handle of the process's Prometheus recorder, installing it on first use.
///
/// If another recorder was installed first (an embedding program's), metrics
/// go there and this handle renders an empty page; that is logged once.
pub fn prometheus() -> PrometheusHandle {
    HANDLE.get_or_init(install).clone()
}

fn builder() -> PrometheusBuilder {
    // Both calls fail only on an empty bucket list; these are constants.
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(names::RECORDER_BATCH_SIZE.0.into()),
                BATCH_BUCKETS,
            )
        })
        .expect("bucket lists are not empty")
}

fn install() -> PrometheusHandle {
    let recorder = builder().build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
    }
    describe();
    // Histograms buffer samples until upkeep drains them; without a scraper
    // they would grow without bound. A plain thread outlives any one runtime.
    let h = handle.clone();
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                h.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "metrics upkeep thread did not start; histograms drain on scrape only");
    }
    handle
}

/// Every metric's help text and unit, from the one table in the engine's
/// `metrics` module (its doc comments), so `promtool check metrics` finds
/// help on each.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    for m in names::ALL {
        let help = m.help.split_whitespace().collect::<Vec<_>>().join(" ");
        match m.kind {
            names::Kind::Counter => describe_counter!(m.name, m.unit(), help),
            names::Kind::Gauge => describe_gauge!(m.name, m.unit(), help),
            names::Kind::Histogram => describe_histogram!(m.name, m.unit(), help),
        }
    }
}
