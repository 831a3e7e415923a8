//! Who decides a buyer's capacity when several nodes share one store: pure
//! decisions, no I/O, no clocks (time is a parameter).
//!
//! Caps hold exactly only if one actor decides each buyer. With many nodes,
//! buyers (and RTB targets) are split into [`SHARDS`] shards by id, and each
//! shard is owned by one node through a lease in the store:
//!
//! - Every node renews its `node/<id>` lease (holder: its URL) and reads all
//!   leases every `renew_every`. The live nodes are those whose node lease
//!   has not lapsed; each shard's wanted owner is the live node that wins
//!   rendezvous hashing ([`owner_for`]), so a node joining or leaving moves
//!   only the shards it wins or held.
//! - A node claims (or renews) the `shard/<n>` leases it should own, and
//!   gives up those it should not, through the store's atomic compare-and-set
//!   ([`Ownership::plan`], [`Ownership::claimed`]).
//! - A node decides a shard's reservations locally only while its lease is
//!   valid by its own clock minus the allowed skew; a call for another
//!   node's shard is forwarded to that node ([`Ownership::route`]).
//! - A new owner waits `settle` after the previous holder's lease ended
//!   before it serves: reservations that holder granted may still be on
//!   their way into the store, and the new owner rebuilds its counters from
//!   the store. While a shard settles or has no owner its buyers are skipped
//!   (the call falls through to the next buyer): capacity is never granted
//!   twice, at the price of a short gap when nodes come and go.
//!
//! `tests/simulation.rs` runs this protocol against skewed clocks, slow
//! commits, pauses, crashes and joins, and checks that no cap is exceeded.

use chrono::{DateTime, Duration, Utc};
use switchboard_model::{Id, Lease};

/// How many shards buyer capacity is split into: enough to spread over a
/// few dozen nodes, few enough that every node reads all leases each tick.
pub const SHARDS: u16 = 64;
/// Lease name prefix of live nodes (holder: the node's URL and a nonce, [`node_holder`]).
pub const NODE_PREFIX: &str = "node/";
/// Lease name prefix of shards (holder: the owning node's id).
pub const SHARD_PREFIX: &str = "shard/";

/// The shard a buyer's (or RTB target's) capacity lives in.
pub fn shard_of(id: Id) -> u16 {
    let v = id.as_u128();
    // UUIDv7 ids start with a timestamp: mix both halves so shards spread evenly.
    let mixed = mix(v as u64 ^ mix((v >> 64) as u64));
    (mixed % u64::from(SHARDS)) as u16
}

/// The lease name of a shard.
pub fn shard_lease(shard: u16) -> String {
    format!("{SHARD_PREFIX}{shard}")
}

/// The lease name of a node.
pub fn node_lease(node: &str) -> String {
    format!("{NODE_PREFIX}{node}")
}

/// The holder a node writes on its node lease: its URL and a nonce of this
/// process, so a second process claiming the same node id is refused while
/// the first is live.
pub fn node_holder(url: &str, nonce: &str) -> String {
    format!("{url} {nonce}")
}

/// The URL in a node lease's holder.
pub fn node_url(holder: &str) -> &str {
    holder.split(' ').next().unwrap_or(holder)
}

/// Rendezvous (highest random weight) hashing: the node that should own
/// `shard` among `nodes`, or `None` when there are none.
pub fn owner_for<'a>(shard: u16, nodes: &[&'a str]) -> Option<&'a str> {
    nodes
        .iter()
        .copied()
        .max_by_key(|node| (mix(fnv(node) ^ mix(u64::from(shard))), *node))
}

/// Lease timing. `settle` must cover the longest time between a
/// reservation and the durable record of its call (the webhook's routing
/// budget plus a store write) plus `max_skew`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long a claimed lease lasts unless renewed.
    pub ttl: Duration,
    /// How often a node renews and re-reads the leases.
    pub renew_every: Duration,
    /// The largest clock difference allowed between two nodes.
    pub max_skew: Duration,
    /// How long after the previous holder's lease ended a new owner waits before serving.
    pub settle: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            ttl: Duration::seconds(6),
            renew_every: Duration::seconds(2),
            max_skew: Duration::milliseconds(500),
            settle: Duration::seconds(8),
        }
    }
}

impl Timing {
    /// Whether the numbers make sense together: a node must get at least
    /// two renewals in before its own view of a lease lapses.
    pub fn check(&self) -> Result<(), String> {
        if self.renew_every <= Duration::zero()
            || self.max_skew < Duration::zero()
            || self.settle < Duration::zero()
        {
            return Err("lease timings must be positive".into());
        }
        if self.settle < self.max_skew {
            return Err("the settle wait must be at least the allowed clock skew".into());
        }
        if self.ttl - self.max_skew < self.renew_every * 2 {
            return Err(format!(
                "lease ttl ({} ms) must be at least twice the renewal interval ({} ms) plus the allowed clock skew ({} ms)",
                self.ttl.num_milliseconds(),
                self.renew_every.num_milliseconds(),
                self.max_skew.num_milliseconds()
            ));
        }
        Ok(())
    }
}

/// Where a reservation for a shard goes, as one node sees it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// This node decides.
    Local,
    /// Another node decides; ask it at `url`.
    Remote {
        /// Its id.
        node: &'a str,
        /// Its base URL.
        url: &'a str,
    },
    /// Nobody may decide now (no owner, or the owner is settling): skip the buyer.
    Unavailable,
}

/// A store operation a node should make after [`Ownership::plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Claim or renew a shard lease until `now + ttl`; `prior` is the lease as read.
    Claim {
        /// The shard.
        shard: u16,
        /// The lease before the claim, as read by the plan.
        prior: Option<Lease>,
    },
    /// Give a shard lease up (claim it until the moment this node has
    /// dropped the shard's state), so its wanted owner gets it at once.
    GiveUp(u16),
}

/// What a plan asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Store operations to make, in order.
    pub steps: Vec<Step>,
    /// Shards this node no longer serves: drop their state before making any step.
    pub lost: Vec<u16>,
}

#[derive(Debug, Clone)]
struct Held {
    epoch: u64,
    serving_from: DateTime<Utc>,
    valid_until: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Remote {
    node: String,
    url: String,
    valid_until: DateTime<Utc>,
}

/// One node's view of who owns which shard.
#[derive(Debug, Clone)]
pub struct Ownership {
    me: String,
    timing: Timing,
    held: Vec<Option<Held>>,
    remote: Vec<Option<Remote>>,
    /// The live nodes as of the last plan.
    live: Vec<String>,
}

impl Ownership {
    /// A node named `me` that holds nothing yet.
    pub fn new(me: impl Into<String>, timing: Timing) -> Ownership {
        Ownership {
            me: me.into(),
            timing,
            held: vec![None; SHARDS.into()],
            remote: vec![None; SHARDS.into()],
            live: Vec::new(),
        }
    }

    /// This node's id.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Its timing.
    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// Learns from every lease read at `now` who owns what, and decides
    /// which shard leases to claim or give up.
    pub fn plan(&mut self, now: DateTime<Utc>, leases: &[Lease]) -> Plan {
        let mut lost = Vec::new();
        let nodes: Vec<(&str, &str)> = leases
            .iter()
            .filter(|l| l.expires > now)
            .filter_map(|l| Some((l.name.strip_prefix(NODE_PREFIX)?, node_url(&l.holder))))
            .collect();
        let live: Vec<&str> = nodes.iter().map(|(id, _)| *id).collect();
        self.live = live.iter().map(|id| (*id).to_owned()).collect();
        let mut shards: Vec<Option<&Lease>> = vec![None; SHARDS.into()];
        for l in leases {
            if let Some(s) = l
                .name
                .strip_prefix(SHARD_PREFIX)
                .and_then(|s| s.parse::<u16>().ok())
                .filter(|s| *s < SHARDS)
            {
                shards[usize::from(s)] = Some(l);
            }
        }

        let mut steps = Vec::new();
        for s in 0..SHARDS {
            let i = usize::from(s);
            let lease = shards[i];
            let mine_in_store = lease.is_some_and(|l| l.holder == self.me && l.expires > now);
            // Lapsed by our clock, or taken over while we were not looking.
            if self.held[i]
                .as_ref()
                .is_some_and(|h| h.valid_until <= now || !mine_in_store)
            {
                self.held[i] = None;
                lost.push(s);
            }
            self.remote[i] = lease
                .filter(|l| l.holder != self.me && l.expires > now)
                .and_then(|l| {
                    let url = nodes.iter().find(|(id, _)| *id == l.holder)?.1;
                    Some(Remote {
                        node: l.holder.clone(),
                        url: url.to_owned(),
                        valid_until: l.expires - self.timing.max_skew,
                    })
                });

            if owner_for(s, &live) == Some(self.me.as_str()) {
                if lease.is_none_or(|l| l.holder == self.me || l.expires <= now) {
                    steps.push(Step::Claim {
                        shard: s,
                        prior: lease.cloned(),
                    });
                }
            } else if mine_in_store || self.held[i].is_some() {
                if self.held[i].take().is_some() {
                    lost.push(s);
                }
                steps.push(Step::GiveUp(s));
            }
        }
        Plan { steps, lost }
    }

    /// Whether the store's answer `result` to a claim of `shard` sent at
    /// `sent_at` means the node's state for the shard must be dropped: it
    /// lost the shard, or it starts a new term (whatever it kept from before
    /// may be stale). Drop that state *before* [`Ownership::claimed`] takes
    /// the answer in, so nothing stale is served in between.
    pub fn starts_over(&self, shard: u16, sent_at: DateTime<Utc>, result: &Lease) -> bool {
        let prev = self.held[usize::from(shard)].as_ref();
        if result.holder != self.me || result.expires <= sent_at {
            return prev.is_some();
        }
        !prev.is_some_and(|p| p.epoch == result.epoch && p.valid_until > sent_at)
    }

    /// Takes in the store's answer to a claim of `shard` sent at `sent_at`
    /// (`prior`: the lease the plan read). Returns [`Ownership::starts_over`].
    pub fn claimed(
        &mut self,
        shard: u16,
        prior: Option<&Lease>,
        sent_at: DateTime<Utc>,
        result: &Lease,
    ) -> bool {
        let starts_over = self.starts_over(shard, sent_at, result);
        let i = usize::from(shard);
        let prev = self.held[i].take();
        if result.holder != self.me || result.expires <= sent_at {
            return starts_over;
        }
        let valid_until = result.expires.min(sent_at + self.timing.ttl) - self.timing.max_skew;
        let continuous = !starts_over;
        let serving_from = match &prev {
            Some(p) if continuous => p.serving_from,
            // Whoever held it before may have granted until its lease ended:
            // wait until those grants are surely in the store. If someone
            // came in between the read and the claim, wait from now.
            _ => match prior {
                None if result.epoch == 1 => sent_at,
                Some(p) if p.epoch + u64::from(p.holder != self.me) == result.epoch => {
                    sent_at.max(p.expires + self.timing.settle)
                }
                _ => sent_at + self.timing.settle,
            },
        };
        self.held[i] = Some(Held {
            epoch: result.epoch,
            serving_from,
            valid_until,
        });
        self.remote[i] = None;
        starts_over
    }

    /// Where a reservation for `shard` goes at `now`.
    pub fn route(&self, shard: u16, now: DateTime<Utc>) -> Route<'_> {
        let i = usize::from(shard);
        if let Some(h) = &self.held[i]
            && now < h.valid_until
        {
            return if now >= h.serving_from {
                Route::Local
            } else {
                Route::Unavailable
            };
        }
        match &self.remote[i] {
            Some(r) if now < r.valid_until => Route::Remote {
                node: &r.node,
                url: &r.url,
            },
            _ => Route::Unavailable,
        }
    }

    /// Whether this node holds `shard` at `now`, serving or settling: a
    /// release for it needs no forwarding (a settling owner rebuilds from
    /// the store, where the release already is).
    pub fn holds(&self, shard: u16, now: DateTime<Utc>) -> bool {
        self.held[usize::from(shard)]
            .as_ref()
            .is_some_and(|h| now < h.valid_until)
    }

    /// Whether every shard is decided, at `now`, by the node that should
    /// own it among the live nodes this node last saw: nothing is moving.
    pub fn converged(&self, now: DateTime<Utc>) -> bool {
        let live: Vec<&str> = self.live.iter().map(String::as_str).collect();
        (0..SHARDS).all(|s| match owner_for(s, &live) {
            Some(want) if want == self.me => self.route(s, now) == Route::Local,
            Some(want) => matches!(self.route(s, now), Route::Remote { node, .. } if node == want),
            None => false,
        })
    }

    /// Stops deciding anything: forgets every shard (held or seen) and
    /// returns those it held at `now`, whose state must be dropped.
    pub fn forget_all(&mut self, now: DateTime<Utc>) -> Vec<u16> {
        let held = (0..SHARDS).filter(|s| self.holds(*s, now)).collect();
        *self = Ownership::new(std::mem::take(&mut self.me), self.timing);
        held
    }

    /// How many shards this node holds at `now` (for metrics).
    pub fn held_count(&self, now: DateTime<Utc>) -> usize {
        (0..SHARDS).filter(|s| self.holds(*s, now)).count()
    }
}

/// SplitMix64's output function: a fast, well-spread 64-bit mix.
fn mix(z: u64) -> u64 {
    switchboard_model::prng::SplitMix64::new(z).next_u64()
}

/// FNV-1a, for node names: stable across processes and versions.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
