//! Dynamic number insertion: the lease table of one number pool.
//!
//! A web visitor's session leases one tracking number; a call to that number
//! is then attributed to the session. [`LeaseTable`] is the pure decision
//! logic (time is passed in, nothing here reads a clock or does I/O); the
//! engine's pool actor is a thin shell that owns one table per pool.
//!
//! The rules:
//! - **Sticky**: a session keeps its number while its lease lives; each
//!   lease request of a live lease renews it (the page's heartbeat).
//! - **Exclusive**: a number is leased to at most one live session, ever.
//! - **Idle expiry**: a lease ends `session_timeout` after its last renewal.
//! - **LRU reuse**: a new session gets the free number released longest ago
//!   (never-leased numbers first, in pool order), so a number that was just
//!   seen on a page is reused last.
//! - **Sticky returns** (optional, per request): a session whose lease
//!   lapsed less than `sticky` ago gets its old number back if nobody took
//!   it meanwhile.
//! - **Exhaustion**: when every number is leased, [`LeaseTable::lease`]
//!   answers `None` and counts it; the caller shows the fallback number.
//! - **Attribution**: [`LeaseTable::holder_at`] names the session holding a
//!   number at an instant, or, within `closed_browser_delay` after its lease
//!   ended, the session that last held it.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

use chrono::{DateTime, Duration, Utc};

/// How long leases live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// A lease ends this long after its last renewal.
    pub session_timeout: Duration,
    /// After a lease ends, calls to its number are still attributed to its
    /// session for this long (the visitor closed the page, then dialed).
    pub closed_browser_delay: Duration,
}

/// What one lease request asks for (a tracking tag may differ from its pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    /// The lease ends this long after this request unless renewed.
    pub timeout: Duration,
    /// A lapsed lease of the session is taken back if it ended less than
    /// this long ago and its number is still free; `None`: never.
    pub sticky: Option<Duration>,
}

/// The session that holds (or last held) a number, with the caller's data.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder<S, V> {
    /// The session.
    pub session: S,
    /// What the caller keeps with the lease (the visit's attribution).
    pub value: V,
    /// When the session got the number.
    pub leased_at: DateTime<Utc>,
    /// When the lease ends (or ended) unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// How a lease request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseKind {
    /// A number the session did not hold.
    New,
    /// The session's live lease, renewed.
    Renewed,
    /// The session's lapsed lease, taken back: nobody took the number meanwhile.
    Resumed,
}

/// A granted lease.
#[derive(Debug, PartialEq)]
pub struct Lease<'a, N, V> {
    /// The number to show.
    pub number: &'a N,
    /// When the lease ends unless renewed.
    pub expires_at: DateTime<Utc>,
    /// New, renewed or resumed.
    pub kind: LeaseKind,
    /// The data kept with the lease: set when it was new, kept since.
    pub value: &'a mut V,
}

/// A pool's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Numbers in the pool.
    pub size: usize,
    /// Numbers leased now.
    pub leased: usize,
    /// Most numbers leased at once since the table was made.
    pub peak: usize,
    /// Lease requests refused because every number was leased.
    pub exhausted: u64,
}

#[derive(Debug, Clone)]
struct Slot<N, S, V> {
    number: N,
    /// The current holder when `live`, else the last one (if any).
    holder: Option<Holder<S, V>>,
    live: bool,
    /// Its key in the free set while not live: (released at, tie-break).
    released: (DateTime<Utc>, u64),
}

/// The leases of one pool. `N` is a number, `S` a session id, `V` what the
/// caller keeps with each lease.
#[derive(Debug, Clone)]
pub struct LeaseTable<N, S, V> {
    settings: Settings,
    slots: Vec<Slot<N, S, V>>,
    by_number: HashMap<N, usize>,
    /// Session → the slot it holds or last held (until someone else takes it).
    by_session: HashMap<S, usize>,
    /// Slots not leased, least recently released first.
    free: BTreeSet<(DateTime<Utc>, u64, usize)>,
    /// Live leases by expiry.
    live: BTreeSet<(DateTime<Utc>, usize)>,
    seq: u64,
    peak: usize,
    exhausted: u64,
}

impl<N, S, V> LeaseTable<N, S, V>
where
    N: Clone + Eq + Hash,
    S: Clone + Eq + Hash,
{
    /// A table of `numbers` (duplicates dropped), none leased.
    pub fn new(numbers: impl IntoIterator<Item = N>, settings: Settings) -> Self {
        let mut table = LeaseTable {
            settings,
            slots: Vec::new(),
            by_number: HashMap::new(),
            by_session: HashMap::new(),
            free: BTreeSet::new(),
            live: BTreeSet::new(),
            seq: 0,
            peak: 0,
            exhausted: 0,
        };
        table.rebuild(numbers, HashMap::new());
        table
    }

    /// The lease settings.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Changes the lease settings; live leases keep their expiry until renewed.
    pub fn set_settings(&mut self, settings: Settings) {
        self.settings = settings;
    }

    /// Replaces the pool's numbers. Leases of numbers that stay are kept;
    /// sessions holding a removed number lose their lease; added numbers are
    /// free and taken before any released one.
    pub fn set_numbers(&mut self, numbers: impl IntoIterator<Item = N>) {
        let old: HashMap<N, Slot<N, S, V>> = self
            .slots
            .drain(..)
            .map(|s| (s.number.clone(), s))
            .collect();
        self.rebuild(numbers, old);
    }

    fn rebuild(
        &mut self,
        numbers: impl IntoIterator<Item = N>,
        mut old: HashMap<N, Slot<N, S, V>>,
    ) {
        self.by_number.clear();
        self.by_session.clear();
        self.free.clear();
        self.live.clear();
        for number in numbers {
            if self.by_number.contains_key(&number) {
                continue;
            }
            let slot = match old.remove(&number) {
                Some(slot) => slot,
                None => {
                    self.seq += 1;
                    Slot {
                        number: number.clone(),
                        holder: None,
                        live: false,
                        released: (DateTime::<Utc>::MIN_UTC, self.seq),
                    }
                }
            };
            let idx = self.slots.len();
            self.by_number.insert(number, idx);
            if let Some(h) = &slot.holder {
                self.by_session.insert(h.session.clone(), idx);
            }
            match (&slot.holder, slot.live) {
                (Some(h), true) => {
                    self.live.insert((h.expires_at, idx));
                }
                _ => {
                    self.free.insert((slot.released.0, slot.released.1, idx));
                }
            }
            self.slots.push(slot);
        }
    }

    /// Ends every lease whose expiry is at or before `now`.
    pub fn expire(&mut self, now: DateTime<Utc>) {
        while let Some(&(at, idx)) = self.live.first() {
            if at > now {
                break;
            }
            self.live.pop_first();
            self.seq += 1;
            let slot = &mut self.slots[idx];
            slot.live = false;
            slot.released = (at, self.seq);
            self.free.insert((at, self.seq, idx));
        }
    }

    /// Leases a number to `session` at `now` for the pool's session timeout,
    /// without sticky returns: see [`LeaseTable::lease_with`].
    pub fn lease(
        &mut self,
        session: S,
        now: DateTime<Utc>,
        value: impl FnOnce() -> V,
    ) -> Option<Lease<'_, N, V>> {
        let terms = Terms {
            timeout: self.settings.session_timeout,
            sticky: None,
        };
        self.lease_with(session, now, terms, value)
    }

    /// Leases a number to `session` at `now`: its live lease renewed, its
    /// lapsed one taken back when `terms.sticky` allows and the number is
    /// still free, else the least recently released free number (with
    /// `value()` kept alongside). `None` when every number is leased
    /// (counted as an exhaustion).
    pub fn lease_with(
        &mut self,
        session: S,
        now: DateTime<Utc>,
        terms: Terms,
        value: impl FnOnce() -> V,
    ) -> Option<Lease<'_, N, V>> {
        self.expire(now);
        let expires_at = now + terms.timeout;
        let own = self.by_session.get(&session).copied();
        let resumable = |slot: &Slot<N, S, V>| {
            terms.sticky.is_some_and(|sticky| {
                slot.released
                    .0
                    .checked_add_signed(sticky)
                    .is_none_or(|end| now < end)
            })
        };
        let (idx, kind) = match own {
            Some(idx) if self.slots[idx].live => {
                let old = self.slots[idx]
                    .holder
                    .as_ref()
                    .map_or(expires_at, |h| h.expires_at);
                self.live.remove(&(old, idx));
                (idx, LeaseKind::Renewed)
            }
            Some(idx) if resumable(&self.slots[idx]) => {
                let (at, seq) = self.slots[idx].released;
                self.free.remove(&(at, seq, idx));
                (idx, LeaseKind::Resumed)
            }
            _ => {
                let Some((_, _, idx)) = self.free.pop_first() else {
                    self.exhausted += 1;
                    return None;
                };
                let slot = &mut self.slots[idx];
                if let Some(last) = slot.holder.take()
                    && self.by_session.get(&last.session) == Some(&idx)
                {
                    self.by_session.remove(&last.session);
                }
                slot.holder = Some(Holder {
                    session: session.clone(),
                    value: value(),
                    leased_at: now,
                    expires_at,
                });
                self.by_session.insert(session, idx);
                (idx, LeaseKind::New)
            }
        };
        self.live.insert((expires_at, idx));
        self.peak = self.peak.max(self.live.len());
        let slot = &mut self.slots[idx];
        slot.live = true;
        let holder = slot.holder.as_mut()?;
        holder.expires_at = expires_at;
        Some(Lease {
            number: &slot.number,
            expires_at,
            kind,
            value: &mut holder.value,
        })
    }

    /// Renews `session`'s live lease (a heartbeat) for `timeout` without
    /// leasing anything new: the new expiry, or `None` when it holds no
    /// live lease.
    pub fn refresh(
        &mut self,
        session: &S,
        now: DateTime<Utc>,
        timeout: Duration,
    ) -> Option<DateTime<Utc>> {
        self.expire(now);
        let idx = *self.by_session.get(session)?;
        if !self.slots[idx].live {
            return None;
        }
        let expires_at = now + timeout;
        let holder = self.slots[idx].holder.as_mut()?;
        self.live.remove(&(holder.expires_at, idx));
        holder.expires_at = expires_at;
        self.live.insert((expires_at, idx));
        Some(expires_at)
    }

    /// The number `session` holds a live lease on at `now`.
    pub fn lease_of(&self, session: &S, now: DateTime<Utc>) -> Option<&N> {
        let slot = &self.slots[*self.by_session.get(session)?];
        slot.holder
            .as_ref()
            .filter(|h| slot.live && h.expires_at > now)
            .map(|_| &slot.number)
    }

    /// Who a call to `number` at `at` is attributed to: the session whose
    /// lease covers `at`, or the last holder when `at` falls within the
    /// closed-browser delay after its lease ended. `at` is meant to be
    /// recent: only the current (or last) holder is remembered.
    pub fn holder_at(&self, number: &N, at: DateTime<Utc>) -> Option<&Holder<S, V>> {
        let h = self.slots[*self.by_number.get(number)?].holder.as_ref()?;
        let live = h.leased_at <= at && at < h.expires_at;
        let lingering =
            h.expires_at <= at && at < h.expires_at + self.settings.closed_browser_delay;
        (live || lingering).then_some(h)
    }

    /// Whether `number` is one of the pool's.
    pub fn contains(&self, number: &N) -> bool {
        self.by_number.contains_key(number)
    }

    /// The pool's numbers, in pool order.
    pub fn numbers(&self) -> impl Iterator<Item = &N> {
        self.slots.iter().map(|s| &s.number)
    }

    /// The counters, after ending the leases expired at `now`.
    pub fn stats(&mut self, now: DateTime<Utc>) -> Stats {
        self.expire(now);
        Stats {
            size: self.slots.len(),
            leased: self.live.len(),
            peak: self.peak,
            exhausted: self.exhausted,
        }
    }
}

#[cfg(test)]
mod tests;
