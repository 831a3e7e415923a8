//! `callsim`: plays Twilio against a running Switchboard and checks what it saw.
//!
//! Start the demo, then run callsim against it:
//!
//! ```text
//! cargo build -p switchboard -p switchboard-load-tests
//! target/debug/switchboard serve --demo --data /tmp/sb --listen 127.0.0.1:8080 &
//! target/debug/callsim --target http://127.0.0.1:8080 --auth-token demo-token --calls 300 --concurrency 16
//! ```
//!
//! Each call is a signed voice webhook with a fresh `CallSid` and a realistic
//! caller; a `<Dial>` is played out (status callbacks in Twilio's order, then
//! the `<Dial action>`, following fall-through until hang-up). Options:
//!
//! - `--calls N`, and `--concurrency C` (closed loop, default 16) or `--rate R`
//!   calls/s (open loop, at most `--max-in-flight` at once);
//! - `--to NUMBER…` tracking numbers called in turn (default: the demo's two);
//!   `--from NUMBER` places every call from that caller (say, one on the blocklist);
//! - `--answer-prob P`, `--talk-secs MIN..MAX` (reported talk time),
//!   `--talk-delay-ms MIN..MAX` and `--ring-delay-ms MIN..MAX` (real waits);
//! - `--duplicates P` (deliver a webhook twice), `--reorder P` (shuffle a leg's callbacks);
//! - `--cap NUMBER=N`, `--daily-cap NUMBER=N` (the demo buyers' caps are built in);
//! - `--public-url URL` when the server signs a URL other than `--target` (a proxy);
//! - `--json` prints one JSON document on stdout (the table goes to stderr);
//! - `--seed S` replays the same callers, SIDs and outcomes.
//!
//! "Every routed call is stored" needs the export, taken with the server stopped:
//!
//! ```text
//! callsim --calls 300 --sids-out /tmp/sids.jsonl          # server running
//! kill -TERM $SERVER_PID; wait $SERVER_PID
//! switchboard calls export --data /tmp/sb --format jsonl > /tmp/export.jsonl
//! callsim verify --sids /tmp/sids.jsonl --export /tmp/export.jsonl
//! ```
//!
//! or in one run, `--export-file FILE`: after the traffic callsim waits (up to
//! `--export-wait-secs`) for FILE to appear — write it atomically, export to a
//! temporary name and `mv` it — and checks it with everything else.
//!
//! Exit status: 0 when every invariant held, 1 when one failed, 2 on a usage
//! or setup error.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use switchboard_load_tests::export::{self, ExportCheck};
use switchboard_load_tests::invariants::{self, Invariant};
use switchboard_load_tests::report;
use switchboard_load_tests::sim::{
    self, Config, DEMO_ACCOUNT_SID, DEMO_NUMBERS, Load, ProgressMode,
};
use switchboard_load_tests::twiml::is_e164;

#[derive(Parser)]
#[command(
    name = "callsim",
    version,
    about = "Plays Twilio against a running Switchboard and checks invariants"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Check a run's dialed calls (--sids-out) against an export taken after it.
    Verify(VerifyArgs),
}

#[derive(Args)]
struct VerifyArgs {
    /// The `--sids-out` file of the run.
    #[arg(long)]
    sids: PathBuf,
    /// `switchboard calls export --format jsonl` output.
    #[arg(long)]
    export: PathBuf,
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

fn probability(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("{p} is not between 0 and 1"))
    }
}

fn e164(s: &str) -> Result<String, String> {
    if is_e164(s) {
        Ok(s.to_owned())
    } else {
        Err(format!("{s:?} is not an E.164 number"))
    }
}

#[derive(Args)]
struct RunArgs {
    /// Base URL of the server requests go to.
    #[arg(long, env = "CALLSIM_TARGET", default_value = "http://127.0.0.1:8080")]
    target: String,
    /// Base URL the server signs (its --public-url); default: --target.
    #[arg(long, env = "CALLSIM_PUBLIC_URL")]
    public_url: Option<String>,
    /// The tenant's Twilio auth token.
    #[arg(long, env = "CALLSIM_AUTH_TOKEN", default_value = "demo-token")]
    auth_token: String,
    /// `AccountSid` sent with every webhook.
    #[arg(long, default_value = DEMO_ACCOUNT_SID)]
    account_sid: String,
    /// Calls to place.
    #[arg(long, default_value_t = 100)]
    calls: u64,
    /// Calls in flight at once (closed loop; default 16).
    #[arg(long, conflicts_with = "rate")]
    concurrency: Option<usize>,
    /// New calls per second (open loop).
    #[arg(long)]
    rate: Option<f64>,
    /// With --rate: most calls in flight; past it, arrivals wait.
    #[arg(long, default_value_t = 1000)]
    max_in_flight: usize,
    /// Tracking numbers to call, in turn (default: the demo's +15550001000 +15550001001).
    #[arg(long, num_args = 1.., value_parser = e164)]
    to: Vec<String>,
    /// Every call from this caller (default: a random caller each call).
    #[arg(long, value_parser = e164)]
    from: Option<String>,
    /// A destination's concurrency cap, NUMBER=N (repeatable; demo buyers built in).
    #[arg(long = "cap", value_parser = sim::parse_cap)]
    caps: Vec<(String, u32)>,
    /// A destination's daily cap of answered calls, NUMBER=N (repeatable).
    #[arg(long = "daily-cap", value_parser = sim::parse_cap)]
    daily_caps: Vec<(String, u32)>,
    /// Probability that a dialed buyer answers (else busy or no-answer, half each).
    #[arg(long, default_value = "0.8", value_parser = probability)]
    answer_prob: f64,
    /// Talk time reported in CallDuration, seconds, MIN..MAX.
    #[arg(long, default_value = "5..300", value_parser = sim::parse_range)]
    talk_secs: (u64, u64),
    /// Real time an answered leg stays connected, milliseconds, MIN..MAX.
    #[arg(long, default_value = "2..8", value_parser = sim::parse_range)]
    talk_delay_ms: (u64, u64),
    /// Real time an unanswered leg rings, milliseconds, MIN..MAX.
    #[arg(long, default_value = "0..2", value_parser = sim::parse_range)]
    ring_delay_ms: (u64, u64),
    /// Probability that a webhook is delivered twice.
    #[arg(long, default_value = "0", value_parser = probability)]
    duplicates: f64,
    /// Probability that a leg's status callbacks and action arrive shuffled.
    #[arg(long, default_value = "0", value_parser = probability)]
    reorder: f64,
    /// Dials per call past which fall-through counts as runaway.
    #[arg(long, default_value_t = 10)]
    max_dials: u32,
    /// Seed of all randomness (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 15)]
    timeout_secs: u64,
    /// Print one JSON document on stdout; the table goes to stderr.
    #[arg(long)]
    json: bool,
    /// No progress on stderr.
    #[arg(long)]
    quiet: bool,
    /// Write a JSON line per dialed call, for `callsim verify`.
    #[arg(long)]
    sids_out: Option<PathBuf>,
    /// After the traffic, wait for this JSONL export and check it.
    #[arg(long)]
    export_file: Option<PathBuf>,
    /// How long to wait for --export-file.
    #[arg(long, default_value_t = 120)]
    export_wait_secs: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Verify(v)) => verify(&v),
        None => match tokio::runtime::Runtime::new() {
            Ok(rt) => rt.block_on(run(cli.run)),
            Err(e) => Err(anyhow::anyhow!("cannot start the async runtime: {e}")),
        },
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("callsim: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn config(a: &RunArgs) -> anyhow::Result<Config> {
    let target = a.target.trim_end_matches('/').to_owned();
    anyhow::ensure!(
        target.starts_with("http://") || target.starts_with("https://"),
        "--target must be an http(s) URL"
    );
    let public_url = a
        .public_url
        .as_deref()
        .map_or_else(|| target.clone(), |u| u.trim_end_matches('/').to_owned());
    let mut caps = sim::demo_caps();
    for (n, c) in &a.caps {
        caps.entry(n.clone()).or_default().concurrency = Some(*c);
    }
    for (n, c) in &a.daily_caps {
        caps.entry(n.clone()).or_default().daily = Some(*c);
    }
    let load = match (a.rate, a.concurrency) {
        (Some(r), _) => Load::Rate {
            per_second: r,
            max_in_flight: a.max_in_flight,
        },
        (None, c) => Load::Concurrency(c.unwrap_or(16)),
    };
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    Ok(Config {
        target,
        public_url,
        auth_token: a.auth_token.clone(),
        account_sid: a.account_sid.clone(),
        calls: a.calls,
        load,
        to: if a.to.is_empty() {
            DEMO_NUMBERS.iter().map(|s| (*s).to_owned()).collect()
        } else {
            a.to.clone()
        },
        from: a.from.clone(),
        caps,
        answer_prob: a.answer_prob,
        talk_secs: a.talk_secs,
        talk_delay_ms: a.talk_delay_ms,
        ring_delay_ms: a.ring_delay_ms,
        duplicates: a.duplicates,
        reorder: a.reorder,
        max_dials: a.max_dials,
        seed,
        request_timeout: Duration::from_secs(a.timeout_secs),
        progress: if a.quiet {
            ProgressMode::Off
        } else if std::io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Lines
        },
    })
}

async fn run(a: RunArgs) -> anyhow::Result<bool> {
    let cfg = config(&a)?;
    if let Some(f) = &a.export_file {
        anyhow::ensure!(
            !f.exists(),
            "--export-file {} already exists; it must be an export taken after this run (remove it first)",
            f.display()
        );
    }
    let result = sim::run(cfg).await?;
    let mut summary = result.summary;
    if let Some(path) = &a.sids_out {
        export::write_expectations(path, &result.expectations)?;
    }
    if let Some(path) = &a.export_file {
        eprintln!(
            "callsim: traffic done; waiting up to {} s for the export at {}",
            a.export_wait_secs,
            path.display()
        );
        let rows = wait_for_export(path, Duration::from_secs(a.export_wait_secs)).await?;
        summary.export = Some(export::check(&result.expectations, &rows));
    }
    summary.invariants = invariants::check(&summary);
    summary.ok = summary.invariants.iter().all(|i| i.ok);
    let table = report::table(&summary);
    if a.json {
        eprint!("{table}");
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{table}");
    }
    Ok(summary.ok)
}

async fn wait_for_export(
    path: &Path,
    wait: Duration,
) -> anyhow::Result<std::collections::HashMap<String, Vec<export::ExportRow>>> {
    let deadline = Instant::now() + wait;
    loop {
        if path.exists() {
            match export::read_export(path) {
                Ok(rows) => return Ok(rows),
                // Possibly still being written; try again until the deadline.
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => {}
            }
        } else if Instant::now() >= deadline {
            anyhow::bail!(
                "no export appeared at {} within {} s",
                path.display(),
                wait.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn verify(v: &VerifyArgs) -> anyhow::Result<bool> {
    let expected = export::read_expectations(&v.sids)?;
    let rows = export::read_export(&v.export).context("cannot read the export")?;
    let check = export::check(&expected, &rows);
    let summary = report::Summary {
        export: Some(check.clone()),
        ..report::Summary::default()
    };
    // Only the export invariants apply here.
    let found: Vec<Invariant> = invariants::check(&summary)
        .into_iter()
        .filter(|i| i.name.contains("export"))
        .collect();
    let ok = found.iter().all(|i| i.ok);
    let mut text = String::new();
    for e in &check.examples {
        text.push_str(&format!("  - {e}\n"));
    }
    if !text.is_empty() {
        text = format!("examples\n{text}");
    }
    text.push_str(&report::invariant_lines(&found));
    if v.json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            export: &'a ExportCheck,
            invariants: &'a [Invariant],
            ok: bool,
        }
        eprint!("{text}");
        println!(
            "{}",
            serde_json::to_string(&Out {
                export: &check,
                invariants: &found,
                ok
            })?
        );
    } else {
        print!("{text}");
    }
    Ok(ok)
}
