//! `switchboard`: the call-routing server and its tools.
//!
//! Run the demo (seeds a tenant, three buyers, two campaigns; prints curl lines):
//!
//! ```text
//! cargo run -p switchboard -- serve --demo
//! ```
//!
//! Commands:
//! - `switchboard serve [--listen 127.0.0.1:8080] [--data ./data] [--public-url URL] [--demo]
//!   [--no-signup] [--trust-forwarded-for] [--twilio-api-base URL] [--header-timeout-secs 5]
//!   [--body-timeout-secs 10] [--max-connections-per-address N] [--reconcile-after-secs 600]
//!   [--reconcile-every-secs 60]` (also `SWITCHBOARD_LISTEN`, `SWITCHBOARD_DATA`, `SWITCHBOARD_PUBLIC_URL`,
//!   `SWITCHBOARD_DEMO`, `SWITCHBOARD_SIGNUP=false`, `SWITCHBOARD_TRUST_FORWARDED_FOR`, `SWITCHBOARD_TWILIO_API_BASE`,
//!   `SWITCHBOARD_RECONCILE_AFTER_SECS`, `SWITCHBOARD_RECONCILE_EVERY_SECS`, and the others `serve --help` lists). Prints `listening on http://ADDR` once
//!   bound; SIGTERM or Ctrl-C drains in-flight webhooks and flushes the recorder.
//!   `--demo` also makes the console login `demo` / `demo`: for a local trial only.
//! - `switchboard user create --data DIR --tenant T --username U --role owner`: a
//!   console user (the first account of a server that has signup turned off),
//!   creating tenant `T` if no tenant has that name. The password is asked for
//!   at a terminal, or read from the first line of stdin when it is not one.
//!   The server must be stopped (the data directory is locked).
//! - `switchboard calls export --data DIR [--format jsonl|csv]`: every stored
//!   call to stdout; the server must be stopped (the data directory is locked).
//! - `switchboard openapi`: the admin API's OpenAPI document (what
//!   `GET /api/openapi.json` serves) to stdout, without a server; the
//!   console's types are generated from it (`npm run gen:api` in admin-ui/).
//! - `serve --store URI` (`SWITCHBOARD_STORE`): `embedded` (default, under
//!   `--data`) or `scylla://host1:9042,host2:9042/keyspace` (a build with
//!   `--features scylla`); `switchboard migrate --store URI` applies the
//!   ScyllaDB schema (cql/) and exits. See docs/scylla.md.
//!
//! Logs go to stderr; set `RUST_LOG` (default `info`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchboard::console::Console;
use switchboard::export::{self, Format};
use switchboard::server::ConnLimits;
use switchboard::{AppState, DniLimits, demo, users};
use switchboard_engine::{
    BreakerConfig, ClusterTiming, Engine, EngineConfig, PixelSettings, ReconcileSettings,
};
use switchboard_model::Role;
use switchboard_store::Store;

mod store_uri;

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Call routing and pay-per-call engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve Twilio webhooks, health, readiness and metrics.
    Serve(Box<ServeArgs>),
    /// Work with stored calls.
    Calls {
        #[command(subcommand)]
        command: CallsCommand,
    },
    /// Check or rebuild the report rollups.
    Reports {
        #[command(subcommand)]
        command: ReportsCommand,
    },
    /// Apply pending ScyllaDB schema migrations (cql/) and exit.
    Migrate {
        /// The store to migrate: scylla://host1:9042,host2:9042/keyspace.
        #[arg(long, env = "SWITCHBOARD_STORE")]
        store: String,
    },
    /// Print the admin API's OpenAPI document (JSON), as `GET /api/openapi.json` serves it.
    Openapi,
    /// Manage console users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (and its tenant if needed); the password comes from a
    /// prompt, or from stdin when stdin is not a terminal.
    Create(UserCreateArgs),
}

#[derive(clap::Args)]
struct UserCreateArgs {
    /// Data directory of the embedded store.
    #[arg(long, env = "SWITCHBOARD_DATA", default_value = "./data")]
    data: PathBuf,
    /// Tenant name; created if no tenant has it.
    #[arg(long)]
    tenant: String,
    /// Login name.
    #[arg(long)]
    username: String,
    /// Role within the tenant.
    #[arg(long, value_enum, default_value_t = RoleArg::Owner)]
    role: RoleArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    Owner,
    Admin,
    Manager,
    Viewer,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Owner => Role::Owner,
            RoleArg::Admin => Role::Admin,
            RoleArg::Manager => Role::Manager,
            RoleArg::Viewer => Role::Viewer,
        }
    }
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Data directory of the embedded store.
    #[arg(long, env = "SWITCHBOARD_DATA", default_value = "./data")]
    data: PathBuf,
    /// Store: `embedded` (under --data) or scylla://host1:9042,host2:9042/keyspace.
    #[arg(long, env = "SWITCHBOARD_STORE", default_value = store_uri::EMBEDDED)]
    store: String,
    /// How often to read configuration changes made by other nodes sharing
    /// the store, in milliseconds (0: never). Default: 2000 with ScyllaDB;
    /// the embedded store has one writer, so never.
    #[arg(long, env = "SWITCHBOARD_CONFIG_POLL_MS")]
    config_poll_ms: Option<u64>,
    /// Base URL Twilio calls and signs (default: http://<bound address>).
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    public_url: Option<String>,
    /// Seed the demo tenant, buyers and campaigns (once) and print how to call them.
    #[arg(long, env = "SWITCHBOARD_DEMO", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    demo: bool,
    /// Refuse `POST /api/auth/signup` (make users with `switchboard user create`).
    #[arg(long = "no-signup", env = "SWITCHBOARD_SIGNUP", action = clap::ArgAction::SetFalse,
          value_parser = clap::builder::BoolishValueParser::new())]
    signup: bool,
    /// Count failed logins against the last `X-Forwarded-For` address (only
    /// behind a reverse proxy that sets it).
    #[arg(long, env = "SWITCHBOARD_TRUST_FORWARDED_FOR", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    trust_forwarded_for: bool,
    /// `POST /api/dni/track` requests allowed per minute from one client address.
    #[arg(long, env = "SWITCHBOARD_DNI_LIMIT_PER_ADDRESS", default_value_t = DniLimits::default().per_ip_per_minute,
          value_parser = clap::value_parser!(u32).range(1..))]
    dni_limit_per_address: u32,
    /// `POST /api/dni/track` requests allowed per minute for one tracking tag
    /// (all of a site's visitors; raise it for a site with more than 500 page views a second).
    #[arg(long, env = "SWITCHBOARD_DNI_LIMIT_PER_TAG", default_value_t = DniLimits::default().per_tag_per_minute,
          value_parser = clap::value_parser!(u32).range(1..))]
    dni_limit_per_tag: u32,
    /// Base URL of Twilio's REST API, used to search, buy and release numbers.
    #[arg(long, env = "SWITCHBOARD_TWILIO_API_BASE", default_value = switchboard::twilio::rest::DEFAULT_BASE)]
    twilio_api_base: String,
    /// Ask Twilio's REST API about a reservation (a dial holding a buyer's or
    /// RTB target's slot) whose call has had no callback for this many
    /// seconds, so a lost final callback frees the slot and books the call;
    /// 0: never (the slot is then held until the call's time limit passes).
    #[arg(long, env = "SWITCHBOARD_RECONCILE_AFTER_SECS", default_value_t = 600)]
    reconcile_after_secs: u64,
    /// How often to look for such reservations, in seconds.
    #[arg(long, env = "SWITCHBOARD_RECONCILE_EVERY_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    reconcile_every_secs: u64,
    /// Let RTB bid requests reach loopback, private, link-local and metadata
    /// addresses (tests and demos with bidders on this machine).
    #[arg(long, env = "SWITCHBOARD_RTB_ALLOW_PRIVATE_TARGETS", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    rtb_allow_private_targets: bool,
    /// Consecutive failed bid requests (timeouts, errors) after which an RTB
    /// target is left out of auctions for the cool-down (its circuit breaker).
    #[arg(long, env = "SWITCHBOARD_RTB_BREAKER_FAILURES", default_value_t = BreakerConfig::default().failure_threshold,
          value_parser = clap::value_parser!(u32).range(1..))]
    rtb_breaker_failures: u32,
    /// Seconds an opened breaker keeps its target out before one probe auction asks it again.
    #[arg(long, env = "SWITCHBOARD_RTB_BREAKER_COOL_DOWN_SECS", default_value_t = BreakerConfig::default().cool_down.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    rtb_breaker_cool_down_secs: u64,
    /// Let pixels (postbacks and webhooks) reach loopback, private,
    /// link-local and metadata addresses (tests and demos with receivers on
    /// this machine; `--demo` sets it for its own receiver).
    #[arg(long, env = "SWITCHBOARD_PIXELS_ALLOW_PRIVATE_TARGETS", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pixels_allow_private_targets: bool,
    /// Milliseconds one pixel attempt may take, connecting to the last byte
    /// of the answer; then it is retried.
    #[arg(long, env = "SWITCHBOARD_PIXELS_TIMEOUT_MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pixels_timeout_ms: u64,
    /// The admin console's built files (`npm run build` in admin-ui/).
    /// Default: admin-ui/dist when it exists; without it `/` says how to build it.
    #[arg(long, env = "SWITCHBOARD_CONSOLE_DIR")]
    console_dir: Option<PathBuf>,
    /// Join the cluster of nodes sharing --store: the base URL other nodes
    /// reach this one at (e.g. http://10.0.0.5:8080). Buyer capacity is then
    /// decided by one node per buyer, so caps hold across nodes.
    #[arg(long, env = "SWITCHBOARD_CLUSTER_URL", requires = "cluster_secret")]
    cluster_url: Option<String>,
    /// Secret every node of the cluster shares, sent on node-to-node requests.
    #[arg(long, env = "SWITCHBOARD_CLUSTER_SECRET", hide_env_values = true)]
    cluster_secret: Option<String>,
    /// Seconds a client has to send a request's head, after connecting or
    /// after the previous answer (so also the keep-alive idle timeout).
    #[arg(long, env = "SWITCHBOARD_HEADER_TIMEOUT_SECS", default_value_t = ConnLimits::default().header_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout_secs: u64,
    /// Seconds a client has to send a request's body (a webhook's in total).
    #[arg(long, env = "SWITCHBOARD_BODY_TIMEOUT_SECS", default_value_t = ConnLimits::default().body_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    body_timeout_secs: u64,
    /// Most open connections per client address (0: no cap, the default;
    /// behind a proxy, or from Twilio, many calls share one address).
    #[arg(
        long,
        env = "SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 0
    )]
    max_connections_per_address: usize,
}

#[derive(Subcommand)]
enum ReportsCommand {
    /// Apply the whole call log, then recount every report rollup (and call
    /// index) from the stored calls and print each difference from what
    /// was written as calls came in; exit 1 on a difference.
    Verify {
        /// Data directory of the embedded store.
        #[arg(long, env = "SWITCHBOARD_DATA", default_value = "./data")]
        data: PathBuf,
    },
    /// Replace the report rollups (and call indexes) with a recount from
    /// the stored calls, then verify them.
    Rebuild {
        /// Data directory of the embedded store.
        #[arg(long, env = "SWITCHBOARD_DATA", default_value = "./data")]
        data: PathBuf,
    },
}

#[derive(Subcommand)]
enum CallsCommand {
    /// Print every stored call to stdout.
    Export {
        /// Data directory of the embedded store.
        #[arg(long, env = "SWITCHBOARD_DATA", default_value = "./data")]
        data: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
    },
    /// Apply the whole call log, then recount every call index and buyer
    /// total from the call documents and compare them with what was written
    /// as calls came in; exit 1 on a difference.
    Verify {
        /// Data directory of the embedded store.
        #[arg(long, env = "SWITCHBOARD_DATA", default_value = "./data")]
        data: PathBuf,
        /// Replace the call tables with the recount first.
        #[arg(long)]
        rebuild: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(*args).await,
            Command::Calls {
                command: CallsCommand::Export { data, format },
            } => export_calls(&data, format).await,
            Command::Calls {
                command: CallsCommand::Verify { data, rebuild },
            } => verify_calls(&data, rebuild).await,
            Command::Reports {
                command: ReportsCommand::Verify { data },
            } => verify_calls(&data, false).await,
            Command::Reports {
                command: ReportsCommand::Rebuild { data },
            } => verify_calls(&data, true).await,
            Command::User {
                command: UserCommand::Create(args),
            } => create_user(args).await,
            Command::Migrate { store } => {
                store_uri::migrate(&store).await.map(|out| print!("{out}"))
            }
            Command::Openapi => print_openapi(),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_openapi() -> anyhow::Result<()> {
    let doc = switchboard::openapi()
        .to_pretty_json()
        .context("cannot write the OpenAPI document")?;
    println!("{doc}");
    Ok(())
}

async fn open_store(data: &Path) -> anyhow::Result<Arc<dyn Store>> {
    store_uri::open_embedded(data).await
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // A directory named on the command line must hold a build; the default
    // one is served when it has been built.
    let console = match &args.console_dir {
        Some(dir) => Some(Console::load(dir)?),
        None => Console::load(Path::new(switchboard::console::DEFAULT_DIR)).ok(),
    };
    let console_dir = args
        .console_dir
        .as_deref()
        .unwrap_or(Path::new(switchboard::console::DEFAULT_DIR));
    match &console {
        Some(_) => tracing::info!(dir = %console_dir.display(), "serving the admin console at /"),
        None => {
            tracing::info!(dir = %console_dir.display(), "the admin console is not built; / says how to build it")
        }
    }
    let console = console.map(Arc::new);
    let store = store_uri::open(&args.store, &args.data).await?;
    let config = EngineConfig {
        rtb_allow_private_targets: args.rtb_allow_private_targets,
        rtb_breaker: BreakerConfig {
            failure_threshold: args.rtb_breaker_failures,
            cool_down: Duration::from_secs(args.rtb_breaker_cool_down_secs),
        },
        pixels: PixelSettings {
            allow_private_targets: args.pixels_allow_private_targets || args.demo,
            timeout: Duration::from_millis(args.pixels_timeout_ms),
            ..PixelSettings::default()
        },
        ..EngineConfig::default()
    };
    let engine = Engine::start(store, config)
        .await
        .context("cannot start the engine")?;
    let mut cluster = None;
    if let Some(url) = &args.cluster_url {
        let secret = args.cluster_secret.as_deref().unwrap_or_default();
        if secret.len() < 16 {
            anyhow::bail!("--cluster-secret must be at least 16 characters");
        }
        if args.store == store_uri::EMBEDDED {
            anyhow::bail!(
                "--cluster-url needs a store the nodes share (--store scylla://…); the embedded store belongs to one node"
            );
        }
        let link = Arc::new(switchboard::cluster::ClusterLink::new(secret)?);
        engine
            .join_cluster(
                url.trim_end_matches('/'),
                ClusterTiming::default(),
                link.clone(),
            )
            .await
            .context("cannot join the cluster")?;
        cluster = Some(link);
        tracing::info!(%url, "joined the cluster: buyer capacity is decided by one node per buyer");
    } else if args.store != store_uri::EMBEDDED {
        tracing::warn!(
            "a shared store without --cluster-url: this node enforces caps on its own, so several such nodes together can exceed them"
        );
    }
    let poll = args
        .config_poll_ms
        .unwrap_or(if args.store == store_uri::EMBEDDED {
            0
        } else {
            2000
        });
    if poll > 0 {
        engine.follow_config(Duration::from_millis(poll));
        tracing::info!(
            every_ms = poll,
            "following configuration changes of other nodes"
        );
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let public_url = args.public_url.unwrap_or_else(|| format!("http://{addr}"));
    let mut state = AppState::new(engine.clone(), &public_url).with_dni_limits(DniLimits {
        per_ip_per_minute: args.dni_limit_per_address,
        per_tag_per_minute: args.dni_limit_per_tag,
    });
    state.signup_enabled = args.signup;
    state.trust_forwarded_for = args.trust_forwarded_for;
    state.twilio = switchboard::twilio::rest::TwilioRest::new(&args.twilio_api_base);
    state.cluster = cluster;
    state.console = console;
    state.demo = args.demo;
    state.conn_limits = ConnLimits {
        header_timeout: Duration::from_secs(args.header_timeout_secs),
        body_timeout: Duration::from_secs(args.body_timeout_secs),
        per_address: (args.max_connections_per_address > 0)
            .then_some(args.max_connections_per_address),
    };
    if args.reconcile_after_secs > 0 {
        let settings = ReconcileSettings {
            after: Duration::from_secs(args.reconcile_after_secs),
            every: Duration::from_secs(args.reconcile_every_secs),
        };
        switchboard::reconcile::start(&engine, state.twilio.clone(), settings);
        tracing::info!(
            after_secs = args.reconcile_after_secs,
            every_secs = args.reconcile_every_secs,
            "reconciling overdue reservations with twilio"
        );
    }
    if !args.signup {
        tracing::info!("signup is turned off");
    }
    if args.demo {
        let seeded = demo::seed(&state).await.context("cannot seed the demo")?;
        print!("{}", demo::intro(&seeded, &state.public_url));
    }
    // Tests and scripts parse this line for the bound port.
    println!("listening on http://{addr}");
    std::io::stdout().flush()?;
    tracing::info!(%addr, public_url = %state.public_url, store = %args.store, data = %args.data.display(), "serving");
    switchboard::run(listener, state, shutdown_signal()).await?;
    Ok(())
}

async fn export_calls(data: &Path, format: Format) -> anyhow::Result<()> {
    if !data.is_dir() {
        anyhow::bail!("no data directory at {}", data.display());
    }
    let store = open_store(data).await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let n = export::export_calls(store.as_ref(), format, &mut out).await?;
    tracing::debug!(calls = n, "exported");
    Ok(())
}

async fn verify_calls(data: &Path, rebuild: bool) -> anyhow::Result<()> {
    if !data.is_dir() {
        anyhow::bail!("no data directory at {}", data.display());
    }
    let store = open_store(data).await?;
    let check = store.check_projections(rebuild).await?;
    for d in &check.differences {
        println!("{d}");
    }
    let what = if check.rebuilt { "rebuilt" } else { "checked" };
    if !check.differences.is_empty() {
        anyhow::bail!(
            "{what} {} calls: the call indexes, totals or report rollups differ from a recount from the call documents (above); `reports rebuild` replaces them with it",
            check.calls
        );
    }
    println!(
        "{what} {} calls: the call indexes, totals and report rollups equal a recount from the call documents",
        check.calls
    );
    Ok(())
}

async fn create_user(args: UserCreateArgs) -> anyhow::Result<()> {
    if !args.data.is_dir() {
        std::fs::create_dir_all(&args.data)
            .with_context(|| format!("cannot create the data directory {}", args.data.display()))?;
    }
    let password = read_password()?;
    let store = open_store(&args.data).await?;
    let engine = Engine::start(store, EngineConfig::default())
        .await
        .context("cannot start the engine")?;
    let created = users::create_user(
        &engine,
        &args.tenant,
        &args.username,
        &password,
        args.role.into(),
    )
    .await;
    engine.shutdown().await;
    let created = created.map_err(|e| match e {
        switchboard::error::ApiError::Invalid(fields) => {
            let why: Vec<String> = fields
                .iter()
                .map(|f| format!("{} {}", f.field, f.message))
                .collect();
            anyhow::anyhow!("{}", why.join("; "))
        }
        other => anyhow::anyhow!("{other}"),
    })?;
    let tenant = if created.tenant_created {
        "new tenant"
    } else {
        "tenant"
    };
    println!(
        "created user {:?} ({}) in {tenant} {:?} ({})",
        args.username.trim(),
        Role::from(args.role).as_str(),
        args.tenant.trim(),
        created.tenant_id
    );
    Ok(())
}

/// The password: prompted for (twice) at a terminal, else stdin's first line.
fn read_password() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password: ").context("cannot read the password")?;
        let again = rpassword::prompt_password("again: ").context("cannot read the password")?;
        anyhow::ensure!(first == again, "the passwords differ");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        anyhow::ensure!(!password.is_empty(), "no password on stdin");
        Ok(password)
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for sigterm");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received"),
        () = term => tracing::info!("sigterm received"),
    }
}
