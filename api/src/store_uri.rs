//! `--store URI`: which store the binary opens (part of the `switchboard` binary).
//!
//! - `embedded` (the default): the redb file under `--data`.
//! - `scylla://[user[:password]@]host1:9042,host2:9042/keyspace[?options]`:
//!   a ScyllaDB cluster shared by many nodes; needs a binary built with
//!   `--features scylla`. Credentials may come from `SWITCHBOARD_SCYLLA_USERNAME`
//!   and `SWITCHBOARD_SCYLLA_PASSWORD` instead of the URI. See docs/scylla.md.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use switchboard_store::{EmbeddedStore, Store};

/// The default `--store`.
pub(crate) const EMBEDDED: &str = "embedded";

/// Opens the store `uri` names (`data` is the embedded store's directory).
pub(crate) async fn open(uri: &str, data: &Path) -> anyhow::Result<Arc<dyn Store>> {
    if uri == EMBEDDED {
        std::fs::create_dir_all(data)
            .with_context(|| format!("cannot create the data directory {}", data.display()))?;
        return open_embedded(data).await;
    }
    if uri.starts_with("scylla://") {
        return scylla::open(uri).await;
    }
    bail!("unknown --store {uri:?}: use `embedded` or scylla://host:9042/keyspace")
}

/// Opens the embedded store in `data`.
pub(crate) async fn open_embedded(data: &Path) -> anyhow::Result<Arc<dyn Store>> {
    // Opening blocks on file I/O (and on crash recovery).
    let dir = data.to_owned();
    let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(&dir))
        .await
        .context("store open task failed")?
        .with_context(|| format!("cannot open the data directory {}", data.display()))?;
    Ok(Arc::new(store))
}

/// `switchboard migrate`: applies pending schema migrations; returns what to print.
pub(crate) async fn migrate(uri: &str) -> anyhow::Result<String> {
    if uri == EMBEDDED {
        return Ok("the embedded store needs no migrations\n".to_owned());
    }
    if uri.starts_with("scylla://") {
        return scylla::migrate(uri).await;
    }
    bail!("unknown --store {uri:?}: use `embedded` or scylla://host:9042/keyspace")
}

#[cfg(feature = "scylla")]
mod scylla {
    use std::fmt::Write;
    use std::sync::Arc;

    use anyhow::Context;
    use switchboard_store::Store;
    use switchboard_store::scylla::{self, MIGRATIONS, ScyllaConfig, ScyllaStore};

    fn config(uri: &str) -> anyhow::Result<ScyllaConfig> {
        Ok(ScyllaConfig::parse(uri)?.with_env_credentials())
    }

    pub(super) async fn open(uri: &str) -> anyhow::Result<Arc<dyn Store>> {
        let config = config(uri)?;
        let store = ScyllaStore::connect(&config)
            .await
            .context("cannot open the ScyllaDB store")?;
        tracing::info!(nodes = ?config.nodes, keyspace = %config.keyspace, "ScyllaDB store connected");
        Ok(Arc::new(store))
    }

    pub(super) async fn migrate(uri: &str) -> anyhow::Result<String> {
        let config = config(uri)?;
        let applied = scylla::migrate(&config).await.context("migration failed")?;
        let mut out = String::new();
        for m in &applied {
            let _ = writeln!(out, "applied {} (version {})", m.name, m.version);
        }
        let latest = MIGRATIONS.last().map_or(0, |m| m.version);
        let _ = writeln!(
            out,
            "keyspace {} is at schema version {latest}",
            config.keyspace
        );
        Ok(out)
    }
}

#[cfg(not(feature = "scylla"))]
mod scylla {
    use std::sync::Arc;

    use switchboard_store::Store;

    const NOT_BUILT: &str = "this switchboard was built without ScyllaDB support: \
                             rebuild it with `cargo build -p switchboard --features scylla`";

    pub(super) async fn open(_uri: &str) -> anyhow::Result<Arc<dyn Store>> {
        anyhow::bail!(NOT_BUILT)
    }

    pub(super) async fn migrate(_uri: &str) -> anyhow::Result<String> {
        anyhow::bail!(NOT_BUILT)
    }
}
