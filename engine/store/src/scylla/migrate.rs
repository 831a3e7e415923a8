//! The schema in `cql/`, applied once per version and recorded.
//!
//! `cql/bootstrap.cql` (keyspace and `schema_migrations`) runs on every
//! start: it is all `IF NOT EXISTS`. Each versioned file is claimed first with
//! an LWT on its `schema_migrations` row (`INSERT ... IF NOT EXISTS`), so of
//! two nodes starting at once only one applies it; the other waits until it
//! is marked applied. A restart finds it applied and skips it. A claim left
//! behind by a node that died mid-way is taken over after
//! [`CLAIM_TIMEOUT`]: every statement in the files is `IF NOT EXISTS`, so
//! applying a file twice is harmless.

use std::time::{Duration, Instant};

use scylla::client::session::Session;
use scylla::statement::{Consistency, SerialConsistency, Statement};
use scylla::value::{CqlValue, Row};
use uuid::Uuid;

use super::{ScyllaConfig, backend};
use crate::{Result, StoreError};

/// One versioned migration file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its version (the file's number).
    pub version: i32,
    /// Its file name, without `.cql`.
    pub name: &'static str,
    /// The CQL, with `${...}` placeholders.
    pub cql: &'static str,
}

/// Run on every start before the migrations.
pub const BOOTSTRAP: &str = include_str!("../../../../cql/bootstrap.cql");

/// Every migration, in order. Append new files here; never edit an applied one.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_init",
        cql: include_str!("../../../../cql/0001_init.cql"),
    },
    Migration {
        version: 2,
        name: "0002_bid_rows_and_visitor_days",
        cql: include_str!("../../../../cql/0002_bid_rows_and_visitor_days.cql"),
    },
    Migration {
        version: 3,
        name: "0003_leases",
        cql: include_str!("../../../../cql/0003_leases.cql"),
    },
];

/// How long a node waits for another node's claim on a version before it
/// takes the version over.
pub const CLAIM_TIMEOUT: Duration = Duration::from_secs(120);

/// DDL waits for schema agreement on the server side: give it time.
const DDL_TIMEOUT: Duration = Duration::from_secs(60);

/// Fills in the placeholders of a migration file.
pub(crate) fn render(cql: &str, config: &ScyllaConfig) -> String {
    let days = |d: u32| (u64::from(d) * 86_400).to_string();
    cql.replace("${keyspace}", &config.keyspace)
        .replace("${replication}", &config.replication())
        .replace(
            "${keyspace_options}",
            if config.tablets {
                ""
            } else {
                "AND tablets = {'enabled': false}"
            },
        )
        .replace("${bid_ttl}", &days(config.bid_ttl_days))
        .replace("${visitor_ttl}", &days(config.visitor_ttl_days))
}

/// Splits a file into statements: `--` comments dropped, split on `;`.
pub(crate) fn statements(cql: &str) -> Vec<String> {
    let text: String = cql
        .lines()
        .map(|line| line.find("--").map_or(line, |i| &line[..i]))
        .collect::<Vec<_>>()
        .join("\n");
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn statement(text: impl Into<String>, timeout: Duration) -> Statement {
    let mut s = Statement::new(text.into());
    s.set_consistency(Consistency::LocalQuorum);
    s.set_serial_consistency(Some(SerialConsistency::LocalSerial));
    s.set_request_timeout(Some(timeout));
    s
}

async fn run_file(session: &Session, cql: &str, config: &ScyllaConfig) -> Result<()> {
    for text in statements(&render(cql, config)) {
        session
            .query_unpaged(statement(text.clone(), DDL_TIMEOUT), ())
            .await
            .map_err(|e| {
                StoreError::Backend(format!("scylla migration statement failed: {e}\n{text}"))
            })?;
    }
    session
        .await_schema_agreement()
        .await
        .map_err(backend("schema agreement"))?;
    Ok(())
}

/// The `[applied]` flag and the named column of an LWT result row.
fn lwt_result(
    result: scylla::response::query_result::QueryResult,
    column: &str,
) -> Result<(bool, Option<CqlValue>)> {
    let rows = result.into_rows_result().map_err(backend("lwt result"))?;
    let specs = rows.column_specs();
    let applied_at = specs.get_by_name("[applied]").map(|(i, _)| i);
    let column_at = specs.get_by_name(column).map(|(i, _)| i);
    let row: Row = rows.single_row().map_err(backend("lwt row"))?;
    let mut cols = row.columns;
    let applied = applied_at
        .and_then(|i| cols.get(i).cloned().flatten())
        .and_then(|v| v.as_boolean())
        .ok_or_else(|| StoreError::Backend("lwt result without [applied]".into()))?;
    let value = column_at.and_then(|i| cols.get_mut(i).and_then(Option::take));
    Ok((applied, value))
}

/// Applies what is not applied yet; returns the versions this call applied.
pub(crate) async fn apply(session: &Session, config: &ScyllaConfig) -> Result<Vec<Migration>> {
    run_file(session, BOOTSTRAP, config).await?;
    let ks = &config.keyspace;
    let owner = Uuid::now_v7();
    let mut applied = Vec::new();
    for m in MIGRATIONS {
        let claim = statement(
            format!(
                "INSERT INTO {ks}.schema_migrations (version, name, state, owner, claimed_at) \
                 VALUES (?, ?, 'applying', ?, toTimestamp(now())) IF NOT EXISTS"
            ),
            DDL_TIMEOUT,
        );
        let result = session
            .query_unpaged(claim, (m.version, m.name, owner))
            .await
            .map_err(backend("claim migration"))?;
        let (claimed, state) = lwt_result(result, "state")?;
        if !claimed {
            let state = state.and_then(CqlValue::into_string);
            if state.as_deref() == Some("applied")
                || wait_for_other_node(session, config, m.version).await?
            {
                continue;
            }
            // The claimer died mid-way; its claim is stale. Applying again is harmless.
        }
        run_file(session, m.cql, config).await?;
        let done = statement(
            format!(
                "UPDATE {ks}.schema_migrations SET state = 'applied', owner = ?, applied_at = toTimestamp(now()) \
                 WHERE version = ? IF state = 'applying'"
            ),
            DDL_TIMEOUT,
        );
        session
            .query_unpaged(done, (owner, m.version))
            .await
            .map_err(backend("record migration"))?;
        applied.push(*m);
    }
    apply_ttls(session, config).await?;
    Ok(applied)
}

/// Tables whose rows expire, and the configured time to live of each, in seconds.
fn ttl_tables(config: &ScyllaConfig) -> [(&'static str, i32); 7] {
    let secs = |days: u32| i32::try_from(u64::from(days) * 86_400).unwrap_or(i32::MAX);
    [
        ("bids_by_call", secs(config.bid_ttl_days)),
        ("bid_responses_by_target", secs(config.bid_ttl_days)),
        ("visitor_sessions", secs(config.visitor_ttl_days)),
        ("visitor_sessions_by_tag", secs(config.visitor_ttl_days)),
        ("bid_requests_by_tenant_day", secs(config.bid_ttl_days)),
        ("bid_responses_by_tenant_day", secs(config.bid_ttl_days)),
        ("visitor_sessions_by_tag_day", secs(config.visitor_ttl_days)),
    ]
}

/// Brings the tables' default TTL to the configured one when it changed
/// since they were created (rows already written keep theirs). A schema
/// change only when needed: nodes starting with the same settings do nothing.
async fn apply_ttls(session: &Session, config: &ScyllaConfig) -> Result<()> {
    for (table, ttl) in ttl_tables(config) {
        let mut read = statement(
            "SELECT default_time_to_live FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
            DDL_TIMEOUT,
        );
        // The schema tables are local to each node (and agree after migration).
        read.set_consistency(Consistency::LocalOne);
        let rows = session
            .query_unpaged(read, (config.keyspace.as_str(), table))
            .await
            .map_err(backend("read table options"))?
            .into_rows_result()
            .map_err(backend("table options"))?;
        let current: Option<(Option<i32>,)> = rows
            .maybe_first_row()
            .map_err(backend("table options row"))?;
        if current.and_then(|(t,)| t) != Some(ttl) {
            let alter = format!(
                "ALTER TABLE {}.{table} WITH default_time_to_live = {ttl}",
                config.keyspace
            );
            session
                .query_unpaged(statement(alter, DDL_TIMEOUT), ())
                .await
                .map_err(backend("set table ttl"))?;
        }
    }
    session
        .await_schema_agreement()
        .await
        .map_err(backend("schema agreement"))?;
    Ok(())
}

/// Waits for another node to finish `version`; `false` if it did not within
/// [`CLAIM_TIMEOUT`].
async fn wait_for_other_node(
    session: &Session,
    config: &ScyllaConfig,
    version: i32,
) -> Result<bool> {
    let ks = &config.keyspace;
    let deadline = Instant::now() + CLAIM_TIMEOUT;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // A serial read sees the claim's outcome, never a half-committed one.
        let mut read = statement(
            format!("SELECT state FROM {ks}.schema_migrations WHERE version = ?"),
            DDL_TIMEOUT,
        );
        read.set_consistency(Consistency::LocalSerial);
        let rows = session
            .query_unpaged(read, (version,))
            .await
            .map_err(backend("read migration state"))?
            .into_rows_result()
            .map_err(backend("migration state"))?;
        let state: Option<(Option<String>,)> = rows
            .maybe_first_row()
            .map_err(backend("migration state row"))?;
        if matches!(state, Some((Some(ref s),)) if s == "applied") {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_render_and_split_into_statements() {
        let config =
            ScyllaConfig::parse("scylla://db:9042/sb_test?replication_factor=3&bid_ttl_days=7")
                .unwrap();
        let boot = statements(&render(BOOTSTRAP, &config));
        assert_eq!(boot.len(), 2, "{boot:#?}");
        assert!(
            boot[0].starts_with("CREATE KEYSPACE IF NOT EXISTS sb_test"),
            "{}",
            boot[0]
        );
        assert!(boot[0].contains("'replication_factor': 3"), "{}", boot[0]);
        assert!(
            boot[0].contains("tablets = {'enabled': false}"),
            "{}",
            boot[0]
        );
        for m in MIGRATIONS {
            let text = render(m.cql, &config);
            assert!(!text.contains("${"), "unfilled placeholder in {}", m.name);
            for s in statements(&text) {
                assert!(
                    s.starts_with("CREATE TABLE IF NOT EXISTS sb_test."),
                    "not idempotent DDL in {}: {s}",
                    m.name
                );
                assert!(!s.contains("--"), "comment left in {s}");
            }
        }
        assert!(render(MIGRATIONS[0].cql, &config).contains("default_time_to_live = 604800"));
        let ttls = ttl_tables(&config);
        assert_eq!(ttls[0], ("bids_by_call", 604_800));
        assert_eq!(ttls[2], ("visitor_sessions", 90 * 86_400));
        let all: String = MIGRATIONS.iter().map(|m| render(m.cql, &config)).collect();
        for (table, ttl) in ttls {
            let create = all
                .find(&format!("sb_test.{table} ("))
                .unwrap_or_else(|| panic!("{table} is not created"));
            let end = create + all[create..].find(';').expect("statement end");
            assert!(
                all[create..end].contains(&format!("default_time_to_live = {ttl}")),
                "{table} is created with its TTL"
            );
        }
        let versions: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert!(
            versions.windows(2).all(|w| w[0] < w[1]) && versions[0] == 1,
            "versions in order"
        );
    }

    #[test]
    fn tablets_clause_is_optional() {
        let config = ScyllaConfig::parse("scylla://db/ks?tablets=default&dc=dc1").unwrap();
        let boot = statements(&render(BOOTSTRAP, &config)).join(";\n");
        assert!(!boot.contains("tablets ="), "{boot}");
        assert!(
            boot.contains("{'class': 'NetworkTopologyStrategy', 'dc1': 1}"),
            "{boot}"
        );
    }
}
