//! Whether a caller is blocked, in O(1) whatever the list's size.
//!
//! Entries are indexed by scope — a tenant, or one campaign of it — and,
//! within a scope, in hash maps: exact numbers by their E.164 text, prefixes
//! likewise, with a bit per prefix length in use. A caller's number is
//! looked up once as a number and once per prefix length in use (at most
//! [`MAX_DIGITS`]), in two scopes (the tenant's and the campaign's), so a
//! check costs at most 32 hash lookups with a million entries or none.
//! Expired entries stay indexed (until deleted) and do not match: time is a
//! parameter, as everywhere in this crate.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use switchboard_model::blocklist::{MAX_DIGITS, is_anonymous, is_prefix};
use switchboard_model::{BlockTarget, BlocklistEntry, Id, PhoneNumber};

/// Whose entries: a tenant's tenant-wide ones (`None`) or one campaign's.
type Scope = (Id, Option<Id>);

/// One entry, as a match needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hit {
    id: Id,
    expires_at: Option<DateTime<Utc>>,
}

impl Hit {
    fn live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }
}

/// The entries of one scope. A key normally has one entry (the API refuses
/// a second); a list keeps whatever the store holds.
#[derive(Debug, Default)]
struct ScopeIndex {
    numbers: HashMap<Arc<str>, Vec<Hit>>,
    prefixes: HashMap<Arc<str>, Vec<Hit>>,
    /// Bit `n` set: some prefix has `n` digits.
    prefix_lengths: u32,
    /// How many prefix keys have `n` digits, to clear bit `n` in O(1).
    prefix_counts: [u32; MAX_DIGITS + 1],
    anonymous: Vec<Hit>,
}

impl ScopeIndex {
    fn add(&mut self, key: &Key, hit: Hit) {
        match key {
            Key::Number(n) => self.numbers.entry(n.clone()).or_default().push(hit),
            Key::Prefix(p) => {
                let hits = self.prefixes.entry(p.clone()).or_default();
                if hits.is_empty() {
                    let len = p.len() - 1;
                    self.prefix_counts[len] += 1;
                    self.prefix_lengths |= 1 << len;
                }
                hits.push(hit);
            }
            Key::Anonymous => self.anonymous.push(hit),
        }
    }

    fn remove(&mut self, key: &Key, id: Id) {
        let empty = {
            let hits = match key {
                Key::Number(n) => self.numbers.get_mut(&**n),
                Key::Prefix(p) => self.prefixes.get_mut(&**p),
                Key::Anonymous => Some(&mut self.anonymous),
            };
            let Some(hits) = hits else { return };
            hits.retain(|h| h.id != id);
            hits.is_empty()
        };
        match key {
            Key::Number(n) if empty => {
                self.numbers.remove(&**n);
            }
            Key::Prefix(p) if empty => {
                self.prefixes.remove(&**p);
                let len = p.len() - 1;
                self.prefix_counts[len] -= 1;
                if self.prefix_counts[len] == 0 {
                    self.prefix_lengths &= !(1 << len);
                }
            }
            _ => {}
        }
    }

    fn find(&self, key: &Key) -> Option<Id> {
        let hits = match key {
            Key::Number(n) => self.numbers.get(&**n)?,
            Key::Prefix(p) => self.prefixes.get(&**p)?,
            Key::Anonymous => &self.anonymous,
        };
        hits.first().map(|h| h.id)
    }

    /// The first live entry matching `caller`.
    fn matching(&self, caller: &Caller<'_>, now: DateTime<Utc>) -> Option<Id> {
        let live = |hits: &Vec<Hit>| hits.iter().find(|h| h.live(now)).map(|h| h.id);
        match caller {
            Caller::Anonymous => live(&self.anonymous),
            Caller::Number(n) => {
                if let Some(id) = self.numbers.get(*n).and_then(live) {
                    return Some(id);
                }
                let mut lengths = self.prefix_lengths;
                while lengths != 0 {
                    let len = lengths.trailing_zeros() as usize;
                    lengths &= lengths - 1;
                    // `+` and `len` digits; ASCII, so any length is a char boundary.
                    if let Some(id) = n
                        .get(..=len)
                        .and_then(|p| self.prefixes.get(p))
                        .and_then(live)
                    {
                        return Some(id);
                    }
                }
                None
            }
            Caller::Other => None,
        }
    }
}

/// An entry's key in its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Number(Arc<str>),
    Prefix(Arc<str>),
    Anonymous,
}

impl From<&BlockTarget> for Key {
    fn from(t: &BlockTarget) -> Self {
        match t {
            BlockTarget::Number(n) => Key::Number(Arc::from(n.as_str())),
            BlockTarget::Prefix(p) => Key::Prefix(Arc::from(p.as_str())),
            BlockTarget::Anonymous => Key::Anonymous,
        }
    }
}

/// Who calls, as the blocklist reads Twilio's `From`.
enum Caller<'a> {
    /// A withheld number ([`is_anonymous`]).
    Anonymous,
    /// An E.164 number.
    Number(&'a str),
    /// A SIP address, client identity or other text: no entry matches it.
    Other,
}

/// Where an indexed entry is, to replace or remove it.
#[derive(Debug, Clone)]
struct Placed {
    version: u64,
    scope: Scope,
    key: Key,
}

/// Every blocklist entry of every tenant, indexed for [`Blocklist::blocks`].
#[derive(Debug, Default)]
pub struct Blocklist {
    scopes: HashMap<Scope, ScopeIndex>,
    by_id: HashMap<Id, Placed>,
}

impl Blocklist {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Indexes `entry`, replacing the version of it indexed before. An
    /// entry without exactly one valid target (never stored: it does not
    /// validate) only removes the old version.
    pub fn insert(&mut self, entry: &BlocklistEntry) {
        self.remove(entry.id);
        let Some(target) = entry.target() else {
            return;
        };
        if matches!(&target, BlockTarget::Prefix(p) if !is_prefix(p)) {
            return;
        }
        let scope = (entry.tenant_id, entry.campaign_id);
        let key = Key::from(&target);
        self.scopes.entry(scope).or_default().add(
            &key,
            Hit {
                id: entry.id,
                expires_at: entry.expires_at,
            },
        );
        self.by_id.insert(
            entry.id,
            Placed {
                version: entry.version,
                scope,
                key,
            },
        );
    }

    /// Forgets entry `id`; `false` when it was not indexed.
    pub fn remove(&mut self, id: Id) -> bool {
        let Some(placed) = self.by_id.remove(&id) else {
            return false;
        };
        if let Some(index) = self.scopes.get_mut(&placed.scope) {
            index.remove(&placed.key, id);
            if index.numbers.is_empty() && index.prefixes.is_empty() && index.anonymous.is_empty() {
                self.scopes.remove(&placed.scope);
            }
        }
        true
    }

    /// The version of entry `id` indexed, if any.
    pub fn version(&self, id: Id) -> Option<u64> {
        self.by_id.get(&id).map(|p| p.version)
    }

    /// Every indexed entry's id.
    pub fn ids(&self) -> Vec<Id> {
        self.by_id.keys().copied().collect()
    }

    /// Entries indexed.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// An entry of `tenant` in scope `campaign` (`None`: tenant-wide) with
    /// this very target, expired or not: what a new entry would duplicate.
    pub fn find(&self, tenant: Id, campaign: Option<Id>, target: &BlockTarget) -> Option<Id> {
        self.scopes
            .get(&(tenant, campaign))?
            .find(&Key::from(target))
    }

    /// The entry that blocks a call from `from` (Twilio's `From`) to
    /// `campaign` of `tenant` at `now`, if any: a live tenant-wide entry or
    /// one of the campaign's. At most 2 × (1 + [`MAX_DIGITS`]) lookups.
    pub fn blocks(
        &self,
        tenant: Id,
        campaign: Option<Id>,
        from: &str,
        now: DateTime<Utc>,
    ) -> Option<Id> {
        if self.scopes.is_empty() {
            return None;
        }
        let normalized;
        let caller = if is_anonymous(from) {
            Caller::Anonymous
        } else {
            match PhoneNumber::parse(from) {
                Ok(n) => {
                    normalized = n;
                    Caller::Number(normalized.as_str())
                }
                Err(_) => Caller::Other,
            }
        };
        let tenant_wide = self.scopes.get(&(tenant, None));
        let own = campaign.and_then(|c| self.scopes.get(&(tenant, Some(c))));
        tenant_wide
            .and_then(|s| s.matching(&caller, now))
            .or_else(|| own.and_then(|s| s.matching(&caller, now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::json;

    fn t(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0)
            .single()
            .expect("valid")
            + chrono::Duration::minutes(minutes)
    }

    fn entry(tenant: Id, v: serde_json::Value) -> BlocklistEntry {
        let mut e: BlocklistEntry = serde_json::from_value(v).expect("entry");
        e.id = switchboard_model::new_id();
        e.tenant_id = tenant;
        e.version = 1;
        e
    }

    #[test]
    fn numbers_prefixes_and_withheld_callers() {
        let (a, c) = (Id::from_u128(1), Id::from_u128(10));
        let mut list = Blocklist::new();
        let n = entry(a, json!({"number": "+15551230000"}));
        let p = entry(a, json!({"prefix": "+1900"}));
        list.insert(&n);
        list.insert(&p);
        assert_eq!(list.blocks(a, Some(c), "+15551230000", t(0)), Some(n.id));
        assert_eq!(
            list.blocks(a, Some(c), "(555) 123-0000", t(0)),
            Some(n.id),
            "normalized"
        );
        assert_eq!(list.blocks(a, Some(c), "+19005550100", t(0)), Some(p.id));
        assert_eq!(list.blocks(a, Some(c), "+1900", t(0)), None, "not a number");
        assert_eq!(list.blocks(a, Some(c), "+15551230001", t(0)), None);
        assert_eq!(
            list.blocks(a, None, "anonymous", t(0)),
            None,
            "no anonymous entry"
        );
        let anon = entry(a, json!({"anonymous": true}));
        list.insert(&anon);
        for from in ["anonymous", "", "Restricted", "+266696687"] {
            assert_eq!(list.blocks(a, None, from, t(0)), Some(anon.id), "{from:?}");
        }
        assert_eq!(list.blocks(a, None, "sip:bob@example.com", t(0)), None);
        assert_eq!(list.len(), 3);
    }

    #[test]
    fn scopes_tenants_and_campaigns() {
        let (a, b, c1, c2) = (
            Id::from_u128(1),
            Id::from_u128(2),
            Id::from_u128(10),
            Id::from_u128(11),
        );
        let mut list = Blocklist::new();
        let only_c1 = entry(a, json!({"number": "+15551230000", "campaignId": c1}));
        list.insert(&only_c1);
        assert_eq!(
            list.blocks(a, Some(c1), "+15551230000", t(0)),
            Some(only_c1.id)
        );
        assert_eq!(
            list.blocks(a, Some(c2), "+15551230000", t(0)),
            None,
            "another campaign"
        );
        assert_eq!(
            list.blocks(a, None, "+15551230000", t(0)),
            None,
            "no campaign"
        );
        assert_eq!(
            list.blocks(b, Some(c1), "+15551230000", t(0)),
            None,
            "another tenant"
        );
        let target = BlockTarget::Number(PhoneNumber::parse("+15551230000").unwrap());
        assert_eq!(list.find(a, Some(c1), &target), Some(only_c1.id));
        assert_eq!(list.find(a, None, &target), None);
    }

    #[test]
    fn expired_entries_do_not_match_and_updates_replace() {
        let a = Id::from_u128(1);
        let mut list = Blocklist::new();
        let mut e = entry(a, json!({"prefix": "+1555", "expiresAt": t(10)}));
        list.insert(&e);
        assert_eq!(list.blocks(a, None, "+15551230000", t(9)), Some(e.id));
        assert_eq!(
            list.blocks(a, None, "+15551230000", t(10)),
            None,
            "expired at its instant"
        );
        // Still there (to edit or delete), and still a duplicate of itself.
        assert_eq!(
            list.find(a, None, &BlockTarget::Prefix("+1555".into())),
            Some(e.id)
        );

        e.prefix = Some("+1666".into());
        e.expires_at = None;
        e.version = 2;
        list.insert(&e);
        assert_eq!(list.version(e.id), Some(2));
        assert_eq!(list.len(), 1);
        assert_eq!(
            list.blocks(a, None, "+15551230000", t(20)),
            None,
            "the old prefix is gone"
        );
        assert_eq!(list.blocks(a, None, "+16661230000", t(20)), Some(e.id));
        assert!(list.remove(e.id));
        assert!(!list.remove(e.id));
        assert!(list.is_empty());
        assert!(list.scopes.is_empty(), "empty scopes are dropped");
    }

    #[test]
    fn one_of_two_entries_on_a_key_going_keeps_the_other() {
        let a = Id::from_u128(1);
        let mut list = Blocklist::new();
        let first = entry(a, json!({"prefix": "+1555", "expiresAt": t(5)}));
        let second = entry(a, json!({"prefix": "+1555"}));
        list.insert(&first);
        list.insert(&second);
        assert_eq!(list.blocks(a, None, "+15551230000", t(10)), Some(second.id));
        list.remove(second.id);
        assert_eq!(list.blocks(a, None, "+15551230000", t(1)), Some(first.id));
        list.remove(first.id);
        assert_eq!(list.scopes.len(), 0);
    }

    fn digits() -> impl Strategy<Value = String> {
        "[1-9][0-9]{7,13}"
    }

    proptest! {
        /// Against a brute-force scan of every entry: the same callers are
        /// blocked, through inserts, replacements and removals.
        #[test]
        fn matches_a_linear_scan(
            ops in proptest::collection::vec(
                (0u8..4, digits(), 1usize..9, 0u8..3, proptest::option::of(0i64..60), 0usize..8),
                1..60,
            ),
            callers in proptest::collection::vec(digits(), 1..10),
            now in 0i64..60,
        ) {
            let tenants = [Id::from_u128(1), Id::from_u128(2)];
            let campaigns = [Id::from_u128(10), Id::from_u128(11)];
            let mut list = Blocklist::new();
            let mut model: Vec<BlocklistEntry> = Vec::new();
            for (kind, number, cut, scope, expires, victim) in ops {
                if kind == 3 && !model.is_empty() {
                    let gone = model.remove(victim % model.len());
                    list.remove(gone.id);
                    continue;
                }
                let tenant = tenants[usize::from(scope) % 2];
                let mut e = entry(tenant, json!({"anonymous": true}));
                e.anonymous = false;
                match kind {
                    0 => e.number = Some(PhoneNumber::parse(&format!("+{number}")).unwrap()),
                    1 => e.prefix = Some(format!("+{}", &number[..cut.min(number.len())])),
                    _ => e.anonymous = true,
                }
                e.campaign_id = (scope == 2).then_some(campaigns[0]);
                e.expires_at = expires.map(t);
                if victim == 0 && !model.is_empty() {
                    // Replace an existing entry with this value.
                    let i = cut % model.len();
                    e.id = model[i].id;
                    e.version = model[i].version + 1;
                    model[i] = e.clone();
                } else {
                    model.push(e.clone());
                }
                list.insert(&e);
            }
            prop_assert_eq!(list.len(), model.len());
            let mut froms: Vec<String> = callers.iter().map(|c| format!("+{c}")).collect();
            froms.extend(model.iter().filter_map(|e| e.number.as_ref().map(|n| n.as_str().to_owned())));
            froms.extend(model.iter().filter_map(|e| e.prefix.as_ref().map(|p| format!("{p}0000000"))));
            froms.push("anonymous".into());
            for tenant in tenants {
                for campaign in [None, Some(campaigns[0]), Some(campaigns[1])] {
                    for from in &froms {
                        let scan = model.iter().any(|e| {
                            e.tenant_id == tenant
                                && (e.campaign_id.is_none() || e.campaign_id == campaign)
                                && !e.expired(t(now))
                                && match e.target().unwrap() {
                                    BlockTarget::Number(n) => n.as_str() == from && !is_anonymous(from),
                                    BlockTarget::Prefix(p) => from.starts_with(&p) && from.len() <= 16 && !is_anonymous(from),
                                    BlockTarget::Anonymous => is_anonymous(from),
                                }
                        });
                        let hit = list.blocks(tenant, campaign, from, t(now));
                        prop_assert_eq!(hit.is_some(), scan, "{} calling {:?} of {}", from, campaign, tenant);
                        if let Some(id) = hit {
                            let e = model.iter().find(|e| e.id == id).unwrap();
                            prop_assert!(e.tenant_id == tenant && !e.expired(t(now)));
                        }
                    }
                }
            }
        }
    }
}
