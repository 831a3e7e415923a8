//! A discrete-event simulation of capacity ownership: nodes with skewed
//! clocks renew leases in a shared store, calls arrive at any node and are
//! reserved by the shard's owner (locally or forwarded), records reach the
//! store up to `commit_lag` after the reservation (those later than the
//! settle budget are withdrawn, as the engine does), and nodes pause, crash,
//! restart and join. The invariant checked is the one users pay for: at no
//! moment does a buyer hold more calls than its concurrency cap.
//!
//! The store here is a model of the `Store::claim_lease` contract (an atomic
//! compare-and-set per lease); both real stores are held to that contract by
//! the store conformance suite.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use switchboard_cluster::{
    Ownership, Route, SHARDS, Step, Timing, node_lease, shard_lease, shard_of,
};
use switchboard_model::prng::SplitMix64;
use switchboard_model::{Id, Lease};

/// The workspace PRNG, with signed ranges for clock offsets.
struct Rng(SplitMix64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in `[lo, hi]`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.0.range(0, (hi - lo) as u64) as i64
    }
}

/// The lease contract, as `Store::claim_lease` documents it.
#[derive(Default)]
struct Store(BTreeMap<String, Lease>);
impl Store {
    fn claim(
        &mut self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Lease {
        let entry = self.0.get(name).cloned();
        let epoch = match &entry {
            None => 1,
            Some(l) if l.holder == holder => l.epoch,
            Some(l) if l.expires <= now => l.epoch + 1,
            Some(l) => return l.clone(),
        };
        let lease = Lease {
            name: name.into(),
            holder: holder.into(),
            expires: until,
            epoch,
        };
        self.0.insert(name.into(), lease.clone());
        lease
    }
}

struct Node {
    own: Ownership,
    /// Local clock minus real time, in ms.
    offset: i64,
    alive: bool,
    paused_until: i64,
    /// Buyer actors: the reservations each holds (indexes into `Sim::res`).
    actors: HashMap<usize, HashSet<usize>>,
}

struct Reservation {
    buyer: usize,
    /// Whether the call rings (not withdrawn for a late record).
    dialed: bool,
    granted: i64,
    /// When its call record is durable (what a rebuild reads).
    committed: i64,
    ends: i64,
}

enum Ev {
    Tick(usize),
    Apply {
        node: usize,
        sent_at: DateTime<Utc>,
        results: Vec<(u16, Option<Lease>, Lease)>,
    },
    Call {
        buyer: usize,
    },
    Forwarded {
        to: usize,
        buyer: usize,
        ends: i64,
    },
    Release {
        at: usize,
        res: usize,
    },
    Fault,
}

struct Config {
    timing: Timing,
    /// Longest time from a reservation to its durable record.
    commit_lag: i64,
    /// Whether a call recorded later than `settle − max_skew` after its
    /// reservation is withdrawn rather than dialed (as the engine does).
    guard: bool,
    cap: usize,
    buyers: usize,
    minutes: i64,
}

#[derive(Debug, Default)]
struct Outcome {
    grants: u64,
    refused_full: u64,
    unavailable: u64,
    calls: u64,
    worst_over_cap: usize,
    reached_cap: bool,
}

struct Sim {
    cfg: Config,
    rng: Rng,
    t: i64,
    seq: u64,
    queue: BinaryHeap<Reverse<(i64, u64, usize)>>,
    events: Vec<Option<Ev>>,
    store: Store,
    nodes: Vec<Node>,
    buyer_ids: Vec<Id>,
    res: Vec<Reservation>,
    out: Outcome,
}

fn at(ms: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::milliseconds(ms)
}

impl Sim {
    fn new(cfg: Config, seed: u64) -> Sim {
        let mut rng = Rng(SplitMix64::new(seed));
        let buyer_ids = (0..cfg.buyers)
            .map(|_| Id::from_u128(u128::from(rng.next()) << 64 | u128::from(rng.next())))
            .collect();
        let mut sim = Sim {
            cfg,
            rng,
            t: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            events: Vec::new(),
            store: Store::default(),
            nodes: Vec::new(),
            buyer_ids,
            res: Vec::new(),
            out: Outcome::default(),
        };
        for _ in 0..3 {
            sim.add_node();
        }
        sim.push(0, Ev::Call { buyer: 0 });
        sim.push(20_000, Ev::Fault);
        sim
    }

    fn push(&mut self, at: i64, ev: Ev) {
        self.seq += 1;
        self.events.push(Some(ev));
        self.queue
            .push(Reverse((at, self.seq, self.events.len() - 1)));
    }

    fn add_node(&mut self) {
        let skew = self.cfg.timing.max_skew.num_milliseconds() / 2;
        let offset = self.rng.range(-skew, skew);
        let n = self.nodes.len();
        self.nodes.push(Node {
            own: Ownership::new(format!("n{n}"), self.cfg.timing),
            offset,
            alive: true,
            paused_until: 0,
            actors: HashMap::new(),
        });
        let first = self.t + self.rng.range(0, 500);
        self.push(first, Ev::Tick(n));
    }

    fn local(&self, n: usize) -> DateTime<Utc> {
        at(self.t + self.nodes[n].offset)
    }

    fn drop_shard(&mut self, n: usize, shard: u16) {
        let ids = &self.buyer_ids;
        self.nodes[n]
            .actors
            .retain(|b, _| shard_of(ids[*b]) != shard);
    }

    fn run(mut self) -> Outcome {
        let end = self.cfg.minutes * 60_000;
        while let Some(Reverse((t, _, i))) = self.queue.pop() {
            if t > end {
                break;
            }
            self.t = t;
            let ev = self.events[i].take().expect("each event runs once");
            // A paused node handles nothing until it wakes up: its events wait.
            let target = match &ev {
                Ev::Tick(n)
                | Ev::Apply { node: n, .. }
                | Ev::Forwarded { to: n, .. }
                | Ev::Release { at: n, .. } => Some(*n),
                _ => None,
            };
            if let Some(n) = target {
                if !self.nodes[n].alive {
                    continue;
                }
                if self.nodes[n].paused_until > t {
                    let wake = self.nodes[n].paused_until;
                    self.push(wake, ev);
                    continue;
                }
            }
            self.handle(ev);
        }
        self.out
    }

    fn handle(&mut self, ev: Ev) {
        let timing = self.cfg.timing;
        match ev {
            Ev::Tick(n) => {
                let now = self.local(n);
                let me = self.nodes[n].own.me().to_owned();
                self.store
                    .claim(&node_lease(&me), &me, now, now + timing.ttl);
                let leases: Vec<Lease> = self.store.0.values().cloned().collect();
                let plan = self.nodes[n].own.plan(now, &leases);
                for s in plan.lost {
                    self.drop_shard(n, s);
                }
                let mut results = Vec::new();
                for step in plan.steps {
                    match step {
                        Step::GiveUp(shard) => {
                            self.store.claim(&shard_lease(shard), &me, now, now);
                        }
                        Step::Claim { shard, prior } => {
                            let lease =
                                self.store
                                    .claim(&shard_lease(shard), &me, now, now + timing.ttl);
                            results.push((shard, prior, lease));
                        }
                    }
                }
                let back = self.t + self.rng.range(1, 50);
                self.push(
                    back,
                    Ev::Apply {
                        node: n,
                        sent_at: now,
                        results,
                    },
                );
                let next =
                    self.t + timing.renew_every.num_milliseconds() + self.rng.range(-100, 100);
                self.push(next, Ev::Tick(n));
            }
            Ev::Apply {
                node,
                sent_at,
                results,
            } => {
                for (shard, prior, lease) in results {
                    if self.nodes[node].own.starts_over(shard, sent_at, &lease) {
                        self.drop_shard(node, shard);
                    }
                    self.nodes[node]
                        .own
                        .claimed(shard, prior.as_ref(), sent_at, &lease);
                }
            }
            Ev::Call { buyer } => {
                let next = self.t + self.rng.range(1, 40);
                let b = self.rng.range(0, self.cfg.buyers as i64 - 1) as usize;
                self.push(next, Ev::Call { buyer: b });
                let live: Vec<usize> = (0..self.nodes.len())
                    .filter(|n| self.nodes[*n].alive && self.nodes[*n].paused_until <= self.t)
                    .collect();
                if live.is_empty() {
                    return;
                }
                self.out.calls += 1;
                let n = live[self.rng.range(0, live.len() as i64 - 1) as usize];
                let ends = self.t + self.rng.range(2_000, 40_000);
                let shard = shard_of(self.buyer_ids[buyer]);
                let now = self.local(n);
                match self.nodes[n].own.route(shard, now) {
                    Route::Local => self.grant(n, buyer, ends),
                    Route::Remote { node, .. } => {
                        let to: usize = node[1..].parse().unwrap();
                        let d = self.rng.range(1, 30);
                        self.push(
                            self.t + d,
                            Ev::Forwarded {
                                to,
                                buyer,
                                ends: ends + d,
                            },
                        );
                    }
                    Route::Unavailable => self.out.unavailable += 1,
                }
            }
            Ev::Forwarded { to, buyer, ends } => {
                let now = self.local(to);
                // The owner checks again: it may have lost the shard meanwhile.
                if self.nodes[to]
                    .own
                    .route(shard_of(self.buyer_ids[buyer]), now)
                    == Route::Local
                {
                    self.grant(to, buyer, ends);
                } else {
                    self.out.unavailable += 1;
                }
            }
            Ev::Release { at: n, res } => {
                let now = self.local(n);
                let buyer = self.res[res].buyer;
                let shard = shard_of(self.buyer_ids[buyer]);
                match self.nodes[n].own.route(shard, now) {
                    Route::Remote { node, .. } => {
                        let to: usize = node[1..].parse().unwrap();
                        if !self.nodes[to].own.holds(shard, self.local(to)) {
                            return;
                        }
                        if let Some(a) = self.nodes[to].actors.get_mut(&buyer) {
                            a.remove(&res);
                        }
                    }
                    _ => {
                        if let Some(a) = self.nodes[n].actors.get_mut(&buyer) {
                            a.remove(&res);
                        }
                    }
                }
            }
            Ev::Fault => self.fault(),
        }
    }

    /// The owner's buyer actor decides, rebuilding from the store on first need.
    fn grant(&mut self, n: usize, buyer: usize, ends: i64) {
        let t = self.t;
        let res = &self.res;
        let actor = self.nodes[n].actors.entry(buyer).or_insert_with(|| {
            res.iter()
                .enumerate()
                .filter(|(_, r)| r.buyer == buyer && r.committed <= t && r.ends > t)
                .map(|(i, _)| i)
                .collect()
        });
        actor.retain(|i| res[*i].ends > t);
        if actor.len() >= self.cfg.cap {
            self.out.refused_full += 1;
            return;
        }
        let lag = self.rng.range(0, self.cfg.commit_lag);
        let committed = t + lag;
        let budget = (self.cfg.timing.settle - self.cfg.timing.max_skew).num_milliseconds();
        // A late record withdraws the call: it never rings, and its record
        // says released from the moment it is written.
        let dialed = !(self.cfg.guard && lag > budget);
        let ends = if dialed { ends } else { committed };
        self.res.push(Reservation {
            buyer,
            dialed,
            granted: t,
            committed,
            ends,
        });
        let i = self.res.len() - 1;
        self.nodes[n]
            .actors
            .get_mut(&buyer)
            .expect("just made")
            .insert(i);
        self.out.grants += 1;
        let active = self
            .res
            .iter()
            .filter(|r| r.buyer == buyer && r.dialed && r.granted <= t && r.ends > t)
            .count();
        self.out.worst_over_cap = self
            .out
            .worst_over_cap
            .max(active.saturating_sub(self.cfg.cap));
        self.out.reached_cap |= active == self.cfg.cap;
        // The node that took the call sends the release after recording the end.
        let back = ends + self.rng.range(1, 200);
        let from = self.rng.range(0, self.nodes.len() as i64 - 1) as usize;
        self.push(back, Ev::Release { at: from, res: i });
    }

    fn fault(&mut self) {
        let next = self.t + self.rng.range(10_000, 40_000);
        self.push(next, Ev::Fault);
        let alive: Vec<usize> = (0..self.nodes.len())
            .filter(|n| self.nodes[*n].alive)
            .collect();
        let n = alive[self.rng.range(0, alive.len() as i64 - 1) as usize];
        match self.rng.range(0, 3) {
            // A stop-the-world pause, sometimes longer than the lease.
            0 | 1 => {
                self.nodes[n].paused_until = self.t
                    + self
                        .rng
                        .range(500, 3 * self.cfg.timing.ttl.num_milliseconds())
            }
            // A crash; a replacement with a new id joins later.
            2 if alive.len() > 1 => self.nodes[n].alive = false,
            _ => {
                if alive.len() < 5 {
                    self.add_node();
                }
            }
        }
    }
}

fn config(settle_ms: i64) -> Config {
    Config {
        timing: Timing {
            ttl: Duration::seconds(6),
            renew_every: Duration::seconds(2),
            max_skew: Duration::milliseconds(500),
            settle: Duration::milliseconds(settle_ms),
        },
        // Records reach the store up to the whole budget `settle` allows.
        // Records reach the store up to 2 s past the budget `settle` allows;
        // the late ones are withdrawn.
        commit_lag: settle_ms - 500 + 2_000,
        guard: true,
        cap: 3,
        buyers: 6,
        minutes: 20,
    }
}

#[test]
fn caps_hold_across_pauses_crashes_joins_and_skewed_clocks() {
    let mut total = Outcome::default();
    for seed in 0..12 {
        let out = Sim::new(config(Timing::default().settle.num_milliseconds()), seed).run();
        assert_eq!(
            out.worst_over_cap, 0,
            "seed {seed}: a buyer held more calls than its cap: {out:?}"
        );
        assert!(
            out.reached_cap && out.refused_full > 0,
            "seed {seed}: the load never filled a buyer, so caps were not tested: {out:?}"
        );
        total.calls += out.calls;
        total.grants += out.grants;
        total.unavailable += out.unavailable;
    }
    // The price of exact caps: buyers are skipped while their shard moves.
    let skipped = total.unavailable as f64 / total.calls as f64;
    println!(
        "calls {} grants {} skipped for lack of an owner {:.2} %",
        total.calls,
        total.grants,
        skipped * 100.0
    );
    assert!(
        skipped < 0.25,
        "owners were missing for {:.1} % of calls",
        skipped * 100.0
    );
}

/// The simulation can fail: without the settle wait, a new owner rebuilds
/// before its predecessor's grants are in the store and over-admits.
#[test]
fn without_settling_a_new_owner_over_admits() {
    let unguarded = || Config {
        commit_lag: 3_000,
        guard: false,
        ..config(0)
    };
    let broken = (0..12)
        .map(|seed| Sim::new(unguarded(), seed).run())
        .filter(|o| o.worst_over_cap > 0)
        .count();
    assert!(
        broken > 0,
        "settle = 0 never broke a cap: the simulation is not exercising handovers"
    );
}

/// The late-record guard is needed too: records slower than the settle
/// budget, dialed anyway, let a new owner over-admit.
#[test]
fn without_the_late_record_guard_slow_records_break_caps() {
    let unguarded = || Config {
        guard: false,
        ..config(Timing::default().settle.num_milliseconds())
    };
    let broken = (0..12)
        .map(|seed| Sim::new(unguarded(), seed).run())
        .filter(|o| o.worst_over_cap > 0)
        .count();
    assert!(
        broken > 0,
        "records later than the settle budget never broke a cap: the guard is not exercised"
    );
}

#[test]
fn shards_spread_over_nodes() {
    let nodes = ["a", "b", "c"];
    let mut per = HashMap::new();
    for s in 0..SHARDS {
        *per.entry(switchboard_cluster::owner_for(s, &nodes).unwrap())
            .or_insert(0) += 1;
    }
    assert_eq!(per.len(), 3);
    assert!(per.values().all(|n| *n >= 10), "{per:?}");
    // A node leaving moves only its own shards.
    for s in 0..SHARDS {
        let before = switchboard_cluster::owner_for(s, &nodes).unwrap();
        let after = switchboard_cluster::owner_for(s, &["a", "c"]).unwrap();
        assert!(before == "b" || before == after);
    }
}
