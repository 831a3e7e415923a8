//! `baseline`: a bare axum server that answers `200 ok` to any method on any
//! path — the ceiling for any HTTP service on this machine. Issue 7's
//! throughput targets are ratios against it, measured with the same load tool
//! in the same run.
//!
//! ```text
//! cargo build --release -p switchboard-load-tests
//! target/release/baseline --listen 127.0.0.1:8090
//! # then point k6 (or wrk) at it, e.g.
//! BASE_URL=http://127.0.0.1:8090 AUTH_TOKEN=demo-token k6 run load-tests/k6/voice.js
//! ```
//!
//! Prints `listening on http://ADDR` once bound (port 0 picks a free one);
//! stops on Ctrl-C or SIGTERM. Like `switchboard`, it reads the request body
//! before answering, so the comparison is like for like.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::body::Bytes;
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "baseline",
    version,
    about = "A bare axum server answering 200 \"ok\" on any path"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "BASELINE_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
}

async fn ok(_body: Bytes) -> &'static str {
    "ok"
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cli.listen))?;
    println!("listening on http://{}", listener.local_addr()?);
    let app = Router::new().fallback(ok);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

async fn shutdown() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
