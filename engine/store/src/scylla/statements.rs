//! Every CQL statement the store runs, prepared once at connect with its
//! consistency, timeout and whether the driver may retry it. (The schema
//! they run against is `cql/`, applied by `migrate`.)

use std::time::Duration;

use scylla::client::execution_profile::ExecutionProfileHandle;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency};

use super::ScyllaConfig;
use crate::{DocKind, Result, StoreError};

/// Rows per page of multi-row reads.
pub(super) const PAGE_SIZE: i32 = 1_000;

/// The tables of versioned documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DocTable {
    Config,
    Users,
    Sessions,
    ApiKeys,
    Audit,
}

impl DocTable {
    pub(super) const ALL: [DocTable; 5] = [
        DocTable::Config,
        DocTable::Users,
        DocTable::Sessions,
        DocTable::ApiKeys,
        DocTable::Audit,
    ];

    pub(super) fn of(kind: DocKind) -> Self {
        match kind {
            DocKind::User => DocTable::Users,
            DocKind::Session => DocTable::Sessions,
            DocKind::ApiKey => DocTable::ApiKeys,
            DocKind::Audit => DocTable::Audit,
            DocKind::Tenant
            | DocKind::Buyer
            | DocKind::Campaign
            | DocKind::Number
            | DocKind::Pool
            | DocKind::RtbTarget
            | DocKind::RtbRouter
            | DocKind::TrackingTag
            | DocKind::BlocklistEntry
            | DocKind::Publisher
            | DocKind::Pixel
            | DocKind::Secret => DocTable::Config,
        }
    }

    fn name(self) -> &'static str {
        match self {
            DocTable::Config => "config_docs",
            DocTable::Users => "users",
            DocTable::Sessions => "sessions",
            DocTable::ApiKeys => "api_keys",
            DocTable::Audit => "audit_log",
        }
    }

    /// `config_docs` has the kind in its partition key; the others hold one kind.
    pub(super) fn keyed_by_kind(self) -> bool {
        self == DocTable::Config
    }
}

/// The prepared statements of one document table.
pub(super) struct DocStatements {
    pub(super) get: PreparedStatement,
    pub(super) list: PreparedStatement,
    pub(super) page_first: PreparedStatement,
    pub(super) page_after: PreparedStatement,
    pub(super) versions: PreparedStatement,
    pub(super) insert: PreparedStatement,
    pub(super) update: PreparedStatement,
    pub(super) delete: PreparedStatement,
}

/// Every statement, prepared once at connect.
pub(super) struct Statements {
    pub(super) docs: Vec<DocStatements>,
    pub(super) add_doc_tenant: PreparedStatement,
    pub(super) doc_tenants: PreparedStatement,
    pub(super) get_call: PreparedStatement,
    pub(super) get_call_relaxed: PreparedStatement,
    pub(super) put_call: PreparedStatement,
    pub(super) put_call_fresh: PreparedStatement,
    pub(super) mark_batch: PreparedStatement,
    pub(super) get_batch: PreparedStatement,
    pub(super) get_sid: PreparedStatement,
    pub(super) put_sid: PreparedStatement,
    pub(super) delete_sid: PreparedStatement,
    pub(super) put_by_tenant: PreparedStatement,
    pub(super) delete_by_tenant: PreparedStatement,
    pub(super) tenant_first: PreparedStatement,
    pub(super) tenant_after: PreparedStatement,
    pub(super) put_by_campaign: PreparedStatement,
    pub(super) delete_by_campaign: PreparedStatement,
    pub(super) campaign_range: PreparedStatement,
    pub(super) put_attempt: PreparedStatement,
    pub(super) delete_attempt: PreparedStatement,
    pub(super) attempts_since: PreparedStatement,
    pub(super) add_total: PreparedStatement,
    pub(super) get_total: PreparedStatement,
    pub(super) put_bucket: PreparedStatement,
    pub(super) buckets_asc: PreparedStatement,
    pub(super) buckets_desc: PreparedStatement,
    pub(super) buckets_scan: PreparedStatement,
    pub(super) put_scan: PreparedStatement,
    pub(super) scan_after: PreparedStatement,
    pub(super) put_bid_bucket: PreparedStatement,
    pub(super) bid_requests: BidStatements,
    pub(super) bid_responses: BidStatements,
    pub(super) put_session: PreparedStatement,
    pub(super) list_sessions: PreparedStatement,
    pub(super) get_lease: PreparedStatement,
    pub(super) insert_lease: PreparedStatement,
    pub(super) update_lease: PreparedStatement,
    pub(super) all_leases: PreparedStatement,
}

/// The prepared statements of one bid-row table.
pub(super) struct BidStatements {
    pub(super) put: PreparedStatement,
    pub(super) first: PreparedStatement,
    pub(super) after: PreparedStatement,
}

/// The two bid-row tables, which page the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum BidTable {
    Requests,
    Responses,
}

impl BidTable {
    fn name(self) -> &'static str {
        match self {
            BidTable::Requests => "bid_requests_by_tenant_day",
            BidTable::Responses => "bid_responses_by_tenant_day",
        }
    }

    /// Its scope in `call_buckets` (key: tenant, bucket: day).
    pub(super) fn scope(self) -> &'static str {
        match self {
            BidTable::Requests => "bid_requests",
            BidTable::Responses => "bid_responses",
        }
    }
}

struct Preparer<'a> {
    session: &'a Session,
    keyspace: &'a str,
    timeout: Duration,
}

impl Preparer<'_> {
    /// Prepares `cql` (`{ks}` stands for the keyspace) with its timeout and
    /// whether the driver may retry it.
    async fn prepare(&self, cql: &str, idempotent: bool) -> Result<PreparedStatement> {
        let text = cql.replace("{ks}", self.keyspace);
        let mut st = self
            .session
            .prepare(text.clone())
            .await
            .map_err(|e| StoreError::Backend(format!("scylla cannot prepare {text:?}: {e}")))?;
        st.set_is_idempotent(idempotent);
        // LWTs run a Paxos round: give them longer.
        let lwt = text.contains(" IF ");
        st.set_request_timeout(Some(if lwt { self.timeout * 2 } else { self.timeout }));
        st.set_page_size(PAGE_SIZE);
        Ok(st)
    }

    /// A read at LOCAL_SERIAL: it sees the outcome of every LWT on its row,
    /// committing one left in progress first (a Paxos round: the LWT timeout).
    async fn serial(&self, cql: &str) -> Result<PreparedStatement> {
        let mut st = self.prepare(cql, true).await?;
        st.set_consistency(Consistency::LocalSerial);
        st.set_request_timeout(Some(self.timeout * 2));
        Ok(st)
    }

    /// A lease LWT: Paxos across every datacenter (SERIAL).
    async fn lease_lwt(&self, cql: &str) -> Result<PreparedStatement> {
        let mut st = self.prepare(cql, false).await?;
        st.set_serial_consistency(Some(SerialConsistency::Serial));
        Ok(st)
    }

    async fn relaxed(
        &self,
        cql: &str,
        profile: &ExecutionProfileHandle,
    ) -> Result<PreparedStatement> {
        let mut st = self.prepare(cql, true).await?;
        st.set_execution_profile_handle(Some(profile.clone()));
        Ok(st)
    }

    async fn doc_statements(&self, table: DocTable) -> Result<DocStatements> {
        let t = table.name();
        let (key, cols, marks) = if table.keyed_by_kind() {
            ("kind = ? AND tenant = ?", "kind, tenant", "?, ?")
        } else {
            ("tenant = ?", "tenant", "?")
        };
        Ok(DocStatements {
            get: self.prepare(&format!("SELECT version, body FROM {{ks}}.{t} WHERE {key} AND id = ?"), true).await?,
            list: self.prepare(&format!("SELECT id, version, body FROM {{ks}}.{t} WHERE {key}"), true).await?,
            page_first: self.prepare(&format!("SELECT id, version, body FROM {{ks}}.{t} WHERE {key} LIMIT ?"), true).await?,
            page_after: self
                .prepare(&format!("SELECT id, version, body FROM {{ks}}.{t} WHERE {key} AND id > ? LIMIT ?"), true)
                .await?,
            versions: self.prepare(&format!("SELECT id, version FROM {{ks}}.{t} WHERE {key}"), true).await?,
            insert: self
                .prepare(
                    &format!("INSERT INTO {{ks}}.{t} ({cols}, id, version, body) VALUES ({marks}, ?, 1, ?) IF NOT EXISTS"),
                    false,
                )
                .await?,
            update: self
                .prepare(&format!("UPDATE {{ks}}.{t} SET version = ?, body = ? WHERE {key} AND id = ? IF version = ?"), false)
                .await?,
            delete: self.prepare(&format!("DELETE FROM {{ks}}.{t} WHERE {key} AND id = ? IF version = ?"), false).await?,
        })
    }

    async fn bid_statements(&self, table: BidTable) -> Result<BidStatements> {
        let t = table.name();
        let cols = "SELECT created, id, body FROM {ks}";
        Ok(BidStatements {
            put: self.prepare(&format!("INSERT INTO {{ks}}.{t} (tenant, day, created, id, body) VALUES (?, ?, ?, ?, ?)"), true).await?,
            first: self.prepare(&format!("{cols}.{t} WHERE tenant = ? AND day = ? LIMIT ?"), true).await?,
            after: self
                .prepare(&format!("{cols}.{t} WHERE tenant = ? AND day = ? AND (created, id) < (?, ?) LIMIT ?"), true)
                .await?,
        })
    }

    async fn all(&self, relaxed: &ExecutionProfileHandle) -> Result<Statements> {
        let mut docs = Vec::new();
        for table in DocTable::ALL {
            docs.push(self.doc_statements(table).await?);
        }
        let p = |cql: &'static str| self.prepare(cql, true);
        Ok(Statements {
            docs,
            add_doc_tenant: p("INSERT INTO {ks}.doc_tenants (kind, tenant) VALUES (?, ?)").await?,
            doc_tenants: p("SELECT tenant FROM {ks}.doc_tenants WHERE kind = ?").await?,
            get_call: p("SELECT body, batch, prev_body FROM {ks}.calls WHERE id = ?").await?,
            get_call_relaxed: self.relaxed("SELECT body, batch, prev_body FROM {ks}.calls WHERE id = ?", relaxed).await?,
            put_call: p("INSERT INTO {ks}.calls (id, body, batch, prev_body) VALUES (?, ?, ?, ?)").await?,
            put_call_fresh: p("INSERT INTO {ks}.calls (id, body, batch, prev_body) VALUES (?, ?, ?, null)").await?,
            mark_batch: p("INSERT INTO {ks}.call_batches (batch, committed_at) VALUES (?, toTimestamp(now()))").await?,
            get_batch: p("SELECT batch FROM {ks}.call_batches WHERE batch = ?").await?,
            get_sid: p("SELECT id FROM {ks}.call_sids WHERE call_sid = ?").await?,
            put_sid: p("INSERT INTO {ks}.call_sids (call_sid, id) VALUES (?, ?)").await?,
            delete_sid: p("DELETE FROM {ks}.call_sids WHERE call_sid = ?").await?,
            put_by_tenant: p("INSERT INTO {ks}.calls_by_tenant (tenant, day, started, id) VALUES (?, ?, ?, ?)").await?,
            delete_by_tenant: p("DELETE FROM {ks}.calls_by_tenant WHERE tenant = ? AND day = ? AND started = ? AND id = ?")
                .await?,
            tenant_first: p("SELECT started, id FROM {ks}.calls_by_tenant WHERE tenant = ? AND day = ? LIMIT ?").await?,
            tenant_after: p(
                "SELECT started, id FROM {ks}.calls_by_tenant WHERE tenant = ? AND day = ? AND (started, id) < (?, ?) LIMIT ?",
            )
            .await?,
            put_by_campaign: p(
                "INSERT INTO {ks}.calls_by_campaign (tenant, campaign, day, started, id) VALUES (?, ?, ?, ?, ?)",
            )
            .await?,
            delete_by_campaign: p(
                "DELETE FROM {ks}.calls_by_campaign WHERE tenant = ? AND campaign = ? AND day = ? AND started = ? AND id = ?",
            )
            .await?,
            campaign_range: p(
                "SELECT started, id FROM {ks}.calls_by_campaign \
                 WHERE tenant = ? AND campaign = ? AND day = ? AND started >= ? AND started < ?",
            )
            .await?,
            put_attempt: p("INSERT INTO {ks}.buyer_attempts (buyer, day, started, call_id, attempt) VALUES (?, ?, ?, ?, ?)")
                .await?,
            delete_attempt: p(
                "DELETE FROM {ks}.buyer_attempts WHERE buyer = ? AND day = ? AND started = ? AND call_id = ? AND attempt = ?",
            )
            .await?,
            attempts_since: p(
                "SELECT started, call_id, attempt FROM {ks}.buyer_attempts WHERE buyer = ? AND day = ? AND started >= ?",
            )
            .await?,
            // A counter update applied twice counts twice: never retried.
            add_total: self.prepare("UPDATE {ks}.buyer_totals SET total = total + ? WHERE buyer = ?", false).await?,
            get_total: p("SELECT total FROM {ks}.buyer_totals WHERE buyer = ?").await?,
            put_bucket: p("INSERT INTO {ks}.call_buckets (scope, key, bucket) VALUES (?, ?, ?)").await?,
            buckets_asc: p(
                "SELECT bucket FROM {ks}.call_buckets WHERE scope = ? AND key = ? AND bucket >= ? AND bucket <= ? \
                 ORDER BY bucket ASC",
            )
            .await?,
            buckets_desc: p(
                "SELECT bucket FROM {ks}.call_buckets WHERE scope = ? AND key = ? AND bucket >= ? AND bucket <= ? \
                 ORDER BY bucket DESC",
            )
            .await?,
            buckets_scan: self
                .relaxed(
                    "SELECT bucket FROM {ks}.call_buckets WHERE scope = ? AND key = ? AND bucket >= ? AND bucket <= ? \
                     ORDER BY bucket ASC",
                    relaxed,
                )
                .await?,
            put_scan: p("INSERT INTO {ks}.call_scan (hour, id) VALUES (?, ?)").await?,
            scan_after: self.relaxed("SELECT id FROM {ks}.call_scan WHERE hour = ? AND id > ? LIMIT ?", relaxed).await?,
            // Bid buckets expire with the rows they list (same TTL, same batch).
            put_bid_bucket: p("INSERT INTO {ks}.call_buckets (scope, key, bucket) VALUES (?, ?, ?) USING TTL ?").await?,
            bid_requests: self.bid_statements(BidTable::Requests).await?,
            bid_responses: self.bid_statements(BidTable::Responses).await?,
            put_session: p("INSERT INTO {ks}.visitor_sessions_by_tag_day (tag_id, day, session_id, body) VALUES (?, ?, ?, ?)")
                .await?,
            list_sessions: p("SELECT body FROM {ks}.visitor_sessions_by_tag_day WHERE tag_id = ? AND day = ?").await?,
            get_lease: {
                let mut st = self.serial("SELECT holder, expires, epoch FROM {ks}.leases WHERE name = ?").await?;
                // Leases are decided cluster-wide (SERIAL, not LOCAL_SERIAL):
                // nodes in two datacenters must not both win one.
                st.set_consistency(Consistency::Serial);
                st
            },
            // LWTs: not idempotent, never retried (a retry could apply on top of itself).
            insert_lease: self.lease_lwt("INSERT INTO {ks}.leases (name, holder, expires, epoch) VALUES (?, ?, ?, ?) IF NOT EXISTS").await?,
            update_lease: self
                .lease_lwt(
                    "UPDATE {ks}.leases SET holder = ?, expires = ?, epoch = ? WHERE name = ? \
                     IF holder = ? AND epoch = ? AND expires = ?",
                )
                .await?,
            all_leases: p("SELECT name, holder, expires, epoch FROM {ks}.leases").await?,
        })
    }
}

impl Statements {
    /// Prepares every statement for `config`'s keyspace; the export scan's
    /// reads run with the `relaxed` profile.
    pub(super) async fn prepare(
        session: &Session,
        config: &ScyllaConfig,
        relaxed: &ExecutionProfileHandle,
    ) -> Result<Self> {
        Preparer {
            session,
            keyspace: &config.keyspace,
            timeout: config.timeout,
        }
        .all(relaxed)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scylla::{MIGRATIONS, migrate};

    fn all_kinds() -> [DocKind; 16] {
        [
            DocKind::Tenant,
            DocKind::Buyer,
            DocKind::Campaign,
            DocKind::User,
            DocKind::Session,
            DocKind::ApiKey,
            DocKind::Number,
            DocKind::Pool,
            DocKind::RtbTarget,
            DocKind::RtbRouter,
            DocKind::TrackingTag,
            DocKind::BlocklistEntry,
            DocKind::Publisher,
            DocKind::Pixel,
            DocKind::Audit,
            DocKind::Secret,
        ]
    }

    #[test]
    fn the_new_tables_are_created_by_a_migration() {
        let config = ScyllaConfig::parse("scylla://db/sb_test").unwrap();
        let all: String = MIGRATIONS
            .iter()
            .map(|m| migrate::render(m.cql, &config))
            .collect();
        for table in [
            BidTable::Requests.name(),
            BidTable::Responses.name(),
            "visitor_sessions_by_tag_day",
            "call_buckets",
            "leases",
        ] {
            assert!(all.contains(&format!("sb_test.{table} (")), "{table}");
        }
    }

    #[test]
    fn every_kind_has_a_table() {
        for kind in all_kinds() {
            let t = DocTable::of(kind);
            assert!(DocTable::ALL.contains(&t));
            assert_eq!(
                t.keyed_by_kind(),
                !matches!(
                    kind,
                    DocKind::User | DocKind::Session | DocKind::ApiKey | DocKind::Audit
                )
            );
        }
    }
}
