//! How this node reaches the other nodes of a cluster, and which node
//! decides an id: the messages nodes exchange, the [`Peers`] transport (HTTP
//! in the `switchboard` binary) and the membership view `Cluster`.
//!
//! A leaf: it knows no actor and no `Engine`, so the capacity gateway
//! (`gateway`) and the engine's cluster behaviour (`cluster`) both build on it.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_cluster::{Ownership, Route, Timing, shard_of};
use switchboard_model::call::{Attribution, VisitorSession};
use switchboard_model::{CallerInfo, Id, PhoneNumber, Refusal, RejectReason, Skipped};

use crate::api::{BuyerStats, LeaseOptions, PoolStats, Tracked};
use crate::error::EngineError;

/// A reservation asked of the node that owns the buyer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteReserve {
    /// The buyer or RTB target.
    pub buyer: Id,
    /// The call.
    pub call_id: Id,
    /// Its attempt.
    pub attempt: u16,
    /// Who calls (schedules, geography and duplicate rules look at it).
    pub caller: CallerInfo,
    /// When the call came in.
    pub now: DateTime<Utc>,
    /// When the reservation lapses without a release.
    pub expires_at: DateTime<Utc>,
}

/// A release sent to the node that owns the buyer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteRelease {
    /// The buyer or RTB target.
    pub buyer: Id,
    /// The call.
    pub call_id: Id,
    /// Its attempt.
    pub attempt: u16,
    /// Whether the call was answered (an unanswered one gives its caps back).
    pub answered: bool,
}

/// The owner's answer to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoteAnswer {
    /// Capacity is held for the call.
    Reserved,
    /// The buyer is full, closed or does not take this caller, and why.
    Refused(Refusal),
    /// The node asked does not own the buyer (any more); nothing was held.
    NotOwner,
}

/// A routing question for the node that owns a campaign (its round-robin
/// turn and duplicate-caller window live there).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteRoute {
    /// The campaign.
    pub campaign: Id,
    /// The call.
    pub call_id: Id,
    /// Its attempt.
    pub attempt: u16,
    /// Who calls.
    pub caller: CallerInfo,
    /// Buyers already tried for this call.
    pub exclude: Vec<Id>,
    /// When the call came in.
    pub now: DateTime<Utc>,
}

/// The campaign owner's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "answer", content = "value", rename_all = "camelCase")]
pub enum RouteAnswer {
    /// This buyer reserved capacity for the call; the ones asked before it
    /// did not. `duplicate`: a repeat caller (absent from older nodes: false).
    Buyer {
        id: Id,
        skipped: Vec<Skipped>,
        #[serde(default)]
        duplicate: bool,
    },
    /// Nobody takes the call, and why; the buyers asked, and why not.
    Rejected {
        reason: RejectReason,
        skipped: Vec<Skipped>,
        #[serde(default)]
        duplicate: bool,
    },
    /// The node asked does not own the campaign: route locally.
    NotOwner,
}

/// A question for the node that owns a number pool's DNI leases.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum PoolRequest {
    /// Lease (or renew) a number for a visit.
    Track {
        /// The pool.
        pool: Id,
        /// The visit (boxed: it is much larger than the other questions).
        visit: Box<VisitorSession>,
        /// The tag's lease terms.
        options: LeaseOptions,
        /// When the page asked.
        now: DateTime<Utc>,
    },
    /// Who a call to `number` at `at` is attributed to.
    Attribute {
        /// The pool.
        pool: Id,
        /// The dialed pool number.
        number: PhoneNumber,
        /// When the call came in.
        at: DateTime<Utc>,
    },
    /// The pool's live counters.
    Stats {
        /// The pool.
        pool: Id,
    },
}

/// The pool owner's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "answer", content = "value", rename_all = "camelCase")]
pub enum PoolAnswer {
    /// To `Track`.
    Tracked(Tracked),
    /// To `Attribute`.
    Attribution(Option<Attribution>),
    /// To `Stats`.
    Stats(Option<PoolStats>),
    /// The node asked does not own the pool: ask nobody else, answer locally.
    NotOwner,
}

/// How nodes reach each other (HTTP in the `switchboard` binary).
#[async_trait]
pub trait Peers: Send + Sync + 'static {
    /// Asks the node at `url` to reserve.
    async fn reserve(
        &self,
        url: &str,
        req: &RemoteReserve,
    ) -> std::result::Result<RemoteAnswer, EngineError>;
    /// Tells the node at `url` a reservation is over.
    async fn release(&self, url: &str, req: &RemoteRelease)
    -> std::result::Result<(), EngineError>;
    /// A buyer's live counters from the node at `url`; `None` when it does not own the buyer.
    async fn stats(
        &self,
        url: &str,
        buyer: Id,
    ) -> std::result::Result<Option<BuyerStats>, EngineError>;
    /// Asks the node at `url`, which owns a pool's leases.
    async fn pool(
        &self,
        url: &str,
        req: &PoolRequest,
    ) -> std::result::Result<PoolAnswer, EngineError>;
    /// Asks the node at `url`, which owns a campaign, for a buyer.
    async fn route(
        &self,
        url: &str,
        req: &RemoteRoute,
    ) -> std::result::Result<RouteAnswer, EngineError>;
}

/// This node's membership: its view of the leases and how to reach peers.
pub(crate) struct Cluster {
    pub(crate) own: RwLock<Ownership>,
    pub(crate) url: String,
    /// What this process writes on its node lease
    /// ([`node_holder`](switchboard_cluster::node_holder)).
    pub(crate) holder: String,
    pub(crate) peers: Arc<dyn Peers>,
    /// Peers that just failed to answer a reservation, and when: for a
    /// moment their buyers are skipped, so a dead peer costs one timeout,
    /// not one per call, until its leases lapse. (Releases, stats, campaigns,
    /// pools and calls are still sent to it.)
    failed: dashmap::DashMap<String, std::time::Instant>,
}

/// How long a peer that failed to answer is passed over.
const PEER_BACKOFF: Duration = Duration::from_secs(2);

impl Cluster {
    /// Membership of node `me`, reachable at `url`, holding nothing yet.
    pub(crate) fn new(
        me: String,
        timing: Timing,
        url: &str,
        holder: String,
        peers: Arc<dyn Peers>,
    ) -> Cluster {
        Cluster {
            own: RwLock::new(Ownership::new(me, timing)),
            url: url.to_owned(),
            holder,
            peers,
            failed: dashmap::DashMap::new(),
        }
    }

    /// Notes that the peer at `url` did not answer a reservation.
    pub(crate) fn peer_failed(&self, url: &str) {
        self.failed
            .insert(url.to_owned(), std::time::Instant::now());
    }

    /// Whether reservations should pass the peer at `url` over for now.
    pub(crate) fn backed_off(&self, url: &str) -> bool {
        self.failed
            .get(url)
            .is_some_and(|at| at.elapsed() < PEER_BACKOFF)
    }

    /// Who decides `id` (a buyer, RTB target or call) now.
    pub(crate) fn route(&self, id: Id) -> Decided {
        let shard = shard_of(id);
        let own = self.own.read().unwrap_or_else(|e| e.into_inner());
        let now = Utc::now();
        match own.route(shard, now) {
            Route::Local => Decided::Local,
            Route::Remote { url, .. } => Decided::Remote(url.to_owned()),
            Route::Unavailable if own.holds(shard, now) => Decided::Settling,
            Route::Unavailable => Decided::Nobody,
        }
    }
}

/// Who decides an id now.
pub(crate) enum Decided {
    /// This node.
    Local,
    /// The node at this base URL.
    Remote(String),
    /// This node owns the shard but waits for its predecessor's records.
    Settling,
    /// Nobody, until a lease is claimed.
    Nobody,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_answer_says_duplicate_and_reads_without_it() {
        let id = Id::from_u128(7);
        let answer = RouteAnswer::Buyer {
            id,
            skipped: Vec::new(),
            duplicate: true,
        };
        assert_eq!(
            serde_json::to_value(&answer).unwrap(),
            serde_json::json!({"answer": "buyer", "value": {"id": id, "skipped": [], "duplicate": true}})
        );
        // From a node that does not send `duplicate`.
        let old: RouteAnswer = serde_json::from_value(serde_json::json!(
            {"answer": "rejected", "value": {"reason": "no-buyer-available", "skipped": []}}
        ))
        .unwrap();
        assert!(matches!(
            old,
            RouteAnswer::Rejected {
                reason: RejectReason::NoBuyerAvailable,
                duplicate: false,
                ..
            }
        ));
    }
}
