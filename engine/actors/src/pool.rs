//! One actor per number pool (DNI): a thin shell over the pure
//! [`LeaseTable`], so leases of one pool are decided one at a time and a
//! number is never leased to two live sessions.
//!
//! Pools are written through a [`ConfigWrite`](crate::ConfigWrite), which
//! stores the document and then starts or updates the actor; the engine
//! loads every pool at start, and other nodes on a shared store follow the
//! change at their next poll (`sync`). Leases live in memory only: after a
//! restart (of the process or of the actor) pages get a number again at
//! their next heartbeat, and calls in between are not attributed.
//!
//! The actor also keeps each lease's visit (its traffic source, UTM fields)
//! so that a call is attributed without reading the store, and counts calls
//! per number since it started.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use metrics::{Counter, Gauge};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use switchboard_dni::{LeaseKind, LeaseTable, Settings, Terms};
use switchboard_model::call::{Attribution, VisitorSession};
use switchboard_model::{Id, PhoneNumber, Pool, ResourceStatus};

use crate::Engine;
use crate::api::{LeaseOptions, PoolStats, Tracked};
use crate::error::{EngineError, Result};
use crate::metrics::{DNI_LEASES_ACTIVE, DNI_POOL_EXHAUSTED};
use crate::peers::{PoolAnswer, PoolRequest};

/// A visit is written to the store again at most this often while its page
/// keeps renewing the lease (its `lastSeenAt`), not on every heartbeat.
const PERSIST_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// How often a pool ends idle leases on its own, so the active-leases gauge
/// does not wait for the next request.
const EXPIRE_EVERY: Duration = Duration::from_secs(15);

/// Messages a pool actor handles.
pub(crate) enum PoolMsg {
    /// Lease (or renew) a number for a visit.
    Track {
        visit: Box<VisitorSession>,
        options: LeaseOptions,
        now: DateTime<Utc>,
        reply: RpcReplyPort<Tracked>,
    },
    /// Who a call to `number` at `at` is attributed to; counts the call.
    Attribute {
        number: PhoneNumber,
        at: DateTime<Utc>,
        reply: RpcReplyPort<Option<Attribution>>,
    },
    /// The counters.
    Stats {
        now: DateTime<Utc>,
        reply: RpcReplyPort<PoolStats>,
    },
    /// New configuration: numbers and timeouts.
    Update(Arc<Pool>),
    /// End idle leases.
    Expire,
}

/// What a lease keeps: the visit and when it was last written.
struct Visit {
    session: VisitorSession,
    persisted_at: DateTime<Utc>,
}

pub(crate) struct PoolState {
    pool: Arc<Pool>,
    table: LeaseTable<PhoneNumber, String, Visit>,
    calls: HashMap<PhoneNumber, u64>,
    /// This pool's series (label `pool`), so a dashboard shows which pool runs short.
    leases_gauge: Gauge,
    exhausted: Counter,
}

impl PoolState {
    fn report(&mut self, now: DateTime<Utc>) {
        self.leases_gauge.set(self.table.stats(now).leased as f64);
    }
}

fn settings(pool: &Pool) -> Settings {
    Settings {
        session_timeout: chrono::Duration::seconds(i64::from(pool.session_timeout_seconds)),
        closed_browser_delay: chrono::Duration::seconds(i64::from(
            pool.closed_browser_delay_seconds,
        )),
    }
}

/// The pool actor (stateless shell; the state is `PoolState`).
pub(crate) struct PoolActor;

impl Actor for PoolActor {
    type Msg = PoolMsg;
    type State = PoolState;
    type Arguments = Arc<Pool>;

    async fn pre_start(
        &self,
        myself: ActorRef<PoolMsg>,
        pool: Arc<Pool>,
    ) -> std::result::Result<PoolState, ActorProcessingErr> {
        myself.send_interval(EXPIRE_EVERY, || PoolMsg::Expire);
        let table = LeaseTable::new(pool.numbers.iter().cloned(), settings(&pool));
        let id = pool.id.to_string();
        let leases_gauge = DNI_LEASES_ACTIVE.handle(&[("pool", id.as_str())]);
        let exhausted = DNI_POOL_EXHAUSTED.handle(&[("pool", id.as_str())]);
        Ok(PoolState {
            pool,
            table,
            calls: HashMap::new(),
            leases_gauge,
            exhausted,
        })
    }

    async fn post_stop(
        &self,
        _: ActorRef<PoolMsg>,
        state: &mut PoolState,
    ) -> std::result::Result<(), ActorProcessingErr> {
        // Its leases end with it (here, or as the pool moves to another node).
        state.leases_gauge.set(0.0);
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<PoolMsg>,
        msg: PoolMsg,
        state: &mut PoolState,
    ) -> std::result::Result<(), ActorProcessingErr> {
        match msg {
            PoolMsg::Track {
                visit,
                options,
                now,
                reply,
            } => {
                let _ = reply.send(track(state, *visit, options, now));
                state.report(now);
            }
            PoolMsg::Attribute { number, at, reply } => {
                if state.table.contains(&number) {
                    *state.calls.entry(number.clone()).or_default() += 1;
                }
                let _ = reply.send(
                    state
                        .table
                        .holder_at(&number, at)
                        .map(|h| h.value.session.attribution()),
                );
            }
            PoolMsg::Stats { now, reply } => {
                let s = state.table.stats(now);
                let calls_per_number = state
                    .table
                    .numbers()
                    .map(|n| {
                        (
                            n.as_str().to_owned(),
                            state.calls.get(n).copied().unwrap_or(0),
                        )
                    })
                    .collect();
                let _ = reply.send(PoolStats {
                    size: s.size,
                    leased_now: s.leased,
                    peak_leased: s.peak,
                    exhaustion_count: s.exhausted,
                    calls_per_number,
                });
            }
            PoolMsg::Update(pool) => {
                state.table.set_settings(settings(&pool));
                state.table.set_numbers(pool.numbers.iter().cloned());
                state.calls.retain(|n, _| pool.numbers.contains(n));
                state.pool = pool;
                state.report(Utc::now());
            }
            PoolMsg::Expire => state.report(Utc::now()),
        }
        Ok(())
    }
}

fn track(
    state: &mut PoolState,
    mut visit: VisitorSession,
    options: LeaseOptions,
    now: DateTime<Utc>,
) -> Tracked {
    visit.pool_id = Some(state.pool.id);
    if state.pool.status != ResourceStatus::Active {
        visit.phone_number = state.pool.fallback_number.clone();
        return Tracked {
            number: None,
            expires_at: None,
            visit,
            persist: true,
        };
    }
    let session = visit.session_id.clone();
    // The visit is copied into the table only when the lease is new.
    let terms = Terms {
        timeout: options
            .session_timeout_seconds
            .map_or(state.table.settings().session_timeout, |s| {
                chrono::Duration::seconds(i64::from(s))
            }),
        sticky: options
            .sticky_days
            .map(|d| chrono::Duration::days(i64::from(d))),
    };
    let leased = state.table.lease_with(session, now, terms, || Visit {
        session: visit.clone(),
        persisted_at: now,
    });
    match leased {
        Some(lease) => {
            let v = lease.value;
            let persist = lease.kind == LeaseKind::New || now - v.persisted_at >= PERSIST_EVERY;
            v.session.last_seen_at = now;
            v.session.phone_number = Some(lease.number.clone());
            v.session.exhausted = false;
            if persist {
                v.persisted_at = now;
            }
            Tracked {
                number: Some(lease.number.clone()),
                expires_at: Some(lease.expires_at),
                visit: v.session.clone(),
                persist,
            }
        }
        None => {
            state.exhausted.increment(1);
            visit.phone_number = state.pool.fallback_number.clone();
            visit.exhausted = true;
            Tracked {
                number: None,
                expires_at: None,
                visit,
                persist: true,
            }
        }
    }
}

/// A pool's place in the engine's directories.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolRoute {
    pub(crate) tenant: Id,
    pub(crate) pool: Id,
}

impl Engine {
    fn pool_actor(&self, id: Id) -> Result<ActorRef<PoolMsg>> {
        self.inner
            .registry
            .pools
            .get(&id)
            .map(|a| a.clone())
            .ok_or_else(|| EngineError::Reference(format!("pool {id} is not loaded")))
    }

    /// Leases a number of `pool` for a visit (or renews its lease), on the
    /// node that owns the pool's leases.
    pub async fn track(
        &self,
        pool: Id,
        visit: VisitorSession,
        options: LeaseOptions,
        now: DateTime<Utc>,
    ) -> Result<Tracked> {
        let req = PoolRequest::Track {
            pool,
            visit: Box::new(visit),
            options,
            now,
        };
        match self.ask_pool_owner(pool, &req).await {
            Some(PoolAnswer::Tracked(t)) => Ok(t),
            _ => {
                let PoolRequest::Track { visit, .. } = req else {
                    unreachable!("built above")
                };
                self.track_here(pool, *visit, options, now).await
            }
        }
    }

    /// Makes a visitor session durable: one commit for every session waiting
    /// (a new lease's attribution must survive a restart).
    pub async fn record_session(&self, visit: VisitorSession) -> Result<()> {
        self.inner.sessions.record(visit).await
    }

    pub(crate) async fn track_here(
        &self,
        pool: Id,
        visit: VisitorSession,
        options: LeaseOptions,
        now: DateTime<Utc>,
    ) -> Result<Tracked> {
        let actor = self.pool_actor(pool)?;
        match actor
            .call(
                |reply| PoolMsg::Track {
                    visit: Box::new(visit),
                    options,
                    now,
                    reply,
                },
                Some(self.inner.config.route_timeout),
            )
            .await
        {
            Ok(ractor::rpc::CallResult::Success(t)) => Ok(t),
            _ => Err(EngineError::Overloaded(
                "the pool did not answer in time".into(),
            )),
        }
    }

    /// A pool's live counters, from the node that owns its leases; `None`
    /// for an unknown pool.
    pub async fn pool_stats(&self, pool: Id) -> Result<Option<PoolStats>> {
        match self
            .ask_pool_owner(pool, &PoolRequest::Stats { pool })
            .await
        {
            Some(PoolAnswer::Stats(s)) => Ok(s),
            _ => self.pool_stats_here(pool).await,
        }
    }

    pub(crate) async fn pool_stats_here(&self, pool: Id) -> Result<Option<PoolStats>> {
        let Ok(actor) = self.pool_actor(pool) else {
            return Ok(None);
        };
        let now = Utc::now();
        match actor
            .call(
                |reply| PoolMsg::Stats { now, reply },
                Some(self.inner.config.route_timeout),
            )
            .await
        {
            Ok(ractor::rpc::CallResult::Success(s)) => Ok(Some(s)),
            _ => Err(EngineError::Overloaded(
                "the pool did not answer in time".into(),
            )),
        }
    }

    /// Who a call to `number` of `pool` at `at` is attributed to. A slow or
    /// missing pool leaves the call unattributed rather than failing it.
    pub(crate) async fn attribute(
        &self,
        pool: Id,
        number: &PhoneNumber,
        at: DateTime<Utc>,
    ) -> Option<Attribution> {
        match self
            .ask_pool_owner(
                pool,
                &PoolRequest::Attribute {
                    pool,
                    number: number.clone(),
                    at,
                },
            )
            .await
        {
            Some(PoolAnswer::Attribution(a)) => a,
            _ => self.attribute_here(pool, number, at).await,
        }
    }

    pub(crate) async fn attribute_here(
        &self,
        pool: Id,
        number: &PhoneNumber,
        at: DateTime<Utc>,
    ) -> Option<Attribution> {
        let actor = self.pool_actor(pool).ok()?;
        let number = number.clone();
        match actor
            .call(
                |reply| PoolMsg::Attribute { number, at, reply },
                Some(self.inner.config.route_timeout),
            )
            .await
        {
            Ok(ractor::rpc::CallResult::Success(a)) => a,
            _ => None,
        }
    }

    /// The tenant owning a pool (for the pool webhook's signature check).
    pub fn pool_tenant(&self, pool: Id) -> Option<Arc<switchboard_model::Tenant>> {
        let tenant = self.pool(pool)?.tenant_id;
        self.tenant(tenant)
    }

    /// Where a call to `to` goes: (tenant, campaign, pool). Through `pool`
    /// when the pool webhook names it; else the campaign whose direct number
    /// it is, else the pool campaign of the pool holding it.
    pub(crate) fn route_of(
        &self,
        pool: Option<Id>,
        to: &PhoneNumber,
    ) -> Option<(Id, Id, Option<Id>)> {
        let pool = match pool {
            Some(p) => p,
            None => {
                if let Some(r) = self.inner.numbers.get(to).map(|r| *r) {
                    return Some((r.0, r.1, None));
                }
                self.inner.pool_numbers.get(to)?.pool
            }
        };
        let tenant = self.pool(pool)?.tenant_id;
        // The active campaign routing through the pool; the newest config wins a tie.
        let campaign = self
            .campaigns_through(tenant, pool)
            .into_iter()
            .max_by_key(|c| (c.status == switchboard_model::CampaignStatus::Active, c.id))
            .map(|c| c.id)?;
        Some((tenant, campaign, Some(pool)))
    }
}
