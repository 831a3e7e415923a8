//! Candidate order: which buyers a campaign tries for a call, first to last.
//!
//! The campaign then asks each buyer in turn to admit the call ([`crate::admit()`])
//! and dials the first that does, falling through down the list on refusal or
//! no answer. Two policies:
//! - [`order_priority`]: lowest priority number first; weighted random within a level;
//! - [`order_round_robin`] with [`next_cursor`]: in turn, so buyers that are
//!   skipped (full, closed) do not break the rotation for the others.

use switchboard_model::{BuyerAssignment, Id};

/// A buyer as one campaign sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The buyer.
    pub buyer_id: Id,
    /// 1 is tried first.
    pub priority: u32,
    /// Share of first places within its priority level.
    pub weight: u32,
}

impl From<&BuyerAssignment> for Candidate {
    fn from(a: &BuyerAssignment) -> Self {
        Self {
            buyer_id: a.buyer_id,
            priority: a.priority,
            weight: a.weight,
        }
    }
}

/// Priority ascending (1 first); within one priority level a weighted random order without replacement
/// (e.g. Efraimidis–Spirakis keys u^(1/w)), so each buyer is FIRST in its level with probability weight/sum.
/// `uniform` yields numbers in [0,1).
///
/// `uniform` is called exactly once per candidate, in input order. Each buyer
/// draws the exponential key `-ln(1 - u) / weight` and a level is sorted by it,
/// smallest first: the same order as Efraimidis–Spirakis' largest `u^(1/w)`,
/// without `powf`'s underflow for large weights. A weight of 0 (refused by
/// validation, but possible in data) puts the buyer after every weighted buyer
/// of its level, in uniform random order among such buyers. Values outside
/// [0,1), NaN included, do not panic; they only skew the order.
pub fn order_priority(cands: &[Candidate], mut uniform: impl FnMut() -> f64) -> Vec<Id> {
    let mut keyed: Vec<(u32, bool, f64, Id)> = cands
        .iter()
        .map(|c| {
            let race = -(-uniform()).ln_1p();
            let unweighted = c.weight == 0;
            let key = if unweighted {
                race
            } else {
                race / f64::from(c.weight)
            };
            (c.priority, unweighted, key, c.buyer_id)
        })
        .collect();
    // total_cmp: a total order even for NaN, so sorting never panics.
    keyed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.total_cmp(&b.2)));
    keyed.into_iter().map(|k| k.3).collect()
}

/// Candidates in assignment order rotated to start at `cursor % len` (empty in, empty out).
pub fn order_round_robin(cands: &[Candidate], cursor: usize) -> Vec<Id> {
    if cands.is_empty() {
        return Vec::new();
    }
    let (before, from) = cands.split_at(cursor % cands.len());
    from.iter().chain(before).map(|c| c.buyer_id).collect()
}

/// The cursor after `chosen` took a call: its index + 1 (unchanged cursor if not found).
///
/// The search starts at the cursor and wraps, the order [`order_round_robin`]
/// offered, so a buyer listed twice advances from the place it was offered.
/// The result is in `1..=len`; [`order_round_robin`] reduces it modulo `len`.
pub fn next_cursor(cands: &[Candidate], chosen: Id, cursor: usize) -> usize {
    let len = cands.len();
    if len == 0 {
        return cursor;
    }
    let start = cursor % len;
    (0..len)
        .map(|i| (start + i) % len)
        .find(|&i| cands[i].buyer_id == chosen)
        .map_or(cursor, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    fn id(n: u128) -> Id {
        Id::from_u128(n)
    }

    fn cand(n: u128, priority: u32, weight: u32) -> Candidate {
        Candidate {
            buyer_id: id(n),
            priority,
            weight,
        }
    }

    /// A seeded PRNG, so statistical tests are repeatable.
    fn uniform(seed: u64) -> impl FnMut() -> f64 {
        let mut rng = switchboard_model::prng::SplitMix64::new(seed);
        move || rng.unit()
    }

    #[test]
    fn weights_3_to_1_give_three_quarters_of_first_places() {
        let cands = [cand(1, 1, 3), cand(2, 1, 1)];
        let mut rng = uniform(42);
        let trials = 40_000;
        let firsts = (0..trials)
            .filter(|_| order_priority(&cands, &mut rng)[0] == id(1))
            .count();
        let share = firsts as f64 / trials as f64;
        // Standard deviation of the share is sqrt(.75 * .25 / 40000) ≈ 0.0022; allow ~4.5σ.
        assert!((share - 0.75).abs() < 0.01, "first-place share {share}");
    }

    #[test]
    fn three_way_weights_match_their_shares() {
        let cands = [cand(1, 1, 1), cand(2, 1, 2), cand(3, 1, 5)];
        let mut rng = uniform(7);
        let trials = 40_000;
        let mut firsts: HashMap<Id, usize> = HashMap::new();
        for _ in 0..trials {
            *firsts
                .entry(order_priority(&cands, &mut rng)[0])
                .or_default() += 1;
        }
        for (n, w) in [(1, 1.0), (2, 2.0), (3, 5.0)] {
            let share = firsts.get(&id(n)).copied().unwrap_or(0) as f64 / trials as f64;
            assert!(
                (share - w / 8.0).abs() < 0.01,
                "buyer {n}: share {share}, expected {}",
                w / 8.0
            );
        }
    }

    #[test]
    fn priority_levels_come_first_regardless_of_weight() {
        let cands = [
            cand(1, 2, 1000),
            cand(2, 1, 1),
            cand(3, 3, 1000),
            cand(4, 1, 1),
        ];
        let mut rng = uniform(1);
        for _ in 0..100 {
            let order = order_priority(&cands, &mut rng);
            assert_eq!(order.len(), 4);
            let firsts: HashSet<Id> = order[..2].iter().copied().collect();
            assert_eq!(firsts, HashSet::from([id(2), id(4)]));
            assert_eq!(&order[2..], &[id(1), id(3)]);
        }
    }

    #[test]
    fn zero_weight_goes_last_in_its_level() {
        let cands = [cand(1, 1, 0), cand(2, 1, 1), cand(3, 2, 1)];
        let mut rng = uniform(3);
        for _ in 0..200 {
            assert_eq!(order_priority(&cands, &mut rng), vec![id(2), id(1), id(3)]);
        }
    }

    #[test]
    fn hostile_uniform_values_do_not_panic() {
        let cands = [cand(1, 1, 1), cand(2, 1, u32::MAX), cand(3, 1, 0)];
        for bad in [
            f64::NAN,
            1.0,
            2.0,
            -1.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
        ] {
            let order = order_priority(&cands, || bad);
            let got: HashSet<Id> = order.into_iter().collect();
            assert_eq!(got, HashSet::from([id(1), id(2), id(3)]), "u = {bad}");
        }
        assert!(order_priority(&[], || 0.5).is_empty());
    }

    #[test]
    fn round_robin_rotates_and_wraps() {
        let cands = [cand(1, 1, 1), cand(2, 1, 1), cand(3, 1, 1)];
        assert_eq!(order_round_robin(&cands, 0), vec![id(1), id(2), id(3)]);
        assert_eq!(order_round_robin(&cands, 2), vec![id(3), id(1), id(2)]);
        assert_eq!(order_round_robin(&cands, 3), vec![id(1), id(2), id(3)]);
        assert_eq!(
            order_round_robin(&cands, usize::MAX),
            order_round_robin(&cands, usize::MAX % 3)
        );
        assert!(order_round_robin(&[], 5).is_empty());
    }

    #[test]
    fn next_cursor_follows_the_chosen_buyer() {
        let cands = [cand(1, 1, 1), cand(2, 1, 1), cand(3, 1, 1)];
        assert_eq!(next_cursor(&cands, id(2), 0), 2);
        assert_eq!(next_cursor(&cands, id(3), 1), 3);
        assert_eq!(
            next_cursor(&cands, id(9), 1),
            1,
            "unknown buyer leaves the cursor"
        );
        assert_eq!(next_cursor(&[], id(1), 4), 4);
        // A buyer listed twice advances from where the rotation offered it.
        let dup = [cand(1, 1, 1), cand(2, 1, 1), cand(1, 1, 1), cand(3, 1, 1)];
        assert_eq!(next_cursor(&dup, id(1), 2), 3);
        assert_eq!(next_cursor(&dup, id(1), 0), 1);
    }

    /// Plays a round-robin campaign: order, give the call to the first buyer
    /// that is not full, move the cursor. Returns calls taken per buyer index.
    fn simulate(cands: &[Candidate], full: &[bool], calls: usize) -> Vec<usize> {
        let mut cursor = 0;
        let mut taken = vec![0; cands.len()];
        for _ in 0..calls {
            let order = order_round_robin(cands, cursor);
            let Some(chosen) = order.into_iter().find(|b| {
                let i = cands
                    .iter()
                    .position(|c| c.buyer_id == *b)
                    .expect("offered buyer is a candidate");
                !full[i]
            }) else {
                continue;
            };
            let i = cands
                .iter()
                .position(|c| c.buyer_id == chosen)
                .expect("candidate");
            taken[i] += 1;
            cursor = next_cursor(cands, chosen, cursor);
        }
        taken
    }

    proptest! {
        #[test]
        fn round_robin_gives_each_buyer_exactly_k(n in 1usize..20, k in 1usize..20) {
            let cands: Vec<_> = (0..n as u128).map(|i| cand(i, 1, 1)).collect();
            let taken = simulate(&cands, &vec![false; n], n * k);
            prop_assert_eq!(taken, vec![k; n]);
        }

        #[test]
        fn round_robin_skipping_full_buyers_stays_fair(
            full in proptest::collection::vec(any::<bool>(), 1..20),
            k in 1usize..20,
        ) {
            let n = full.len();
            let cands: Vec<_> = (0..n as u128).map(|i| cand(i, 1, 1)).collect();
            let open = full.iter().filter(|f| !**f).count();
            let taken = simulate(&cands, &full, open * k);
            for (i, t) in taken.iter().enumerate() {
                prop_assert_eq!(*t, if full[i] { 0 } else { k }, "buyer {} of {:?}", i, full);
            }
        }

        #[test]
        fn round_robin_consecutive_calls_alternate(full in proptest::collection::vec(any::<bool>(), 2..12)) {
            // No open buyer gets a second call before every other open buyer got one.
            let cands: Vec<_> = (0..full.len() as u128).map(|i| cand(i, 1, 1)).collect();
            let open = full.iter().filter(|f| !**f).count();
            for calls in 0..=open {
                let taken = simulate(&cands, &full, calls);
                prop_assert!(taken.iter().all(|&t| t <= 1), "{:?} after {} calls", taken, calls);
            }
        }

        #[test]
        fn priority_order_is_a_permutation_sorted_by_priority(
            specs in proptest::collection::vec((1u32..5, 0u32..10), 0..30),
            seed in any::<u64>(),
        ) {
            let cands: Vec<_> = specs.iter().enumerate().map(|(i, &(p, w))| cand(i as u128, p, w)).collect();
            let order = order_priority(&cands, uniform(seed));
            prop_assert_eq!(order.len(), cands.len());
            let by_id: HashMap<Id, Candidate> = cands.iter().map(|c| (c.buyer_id, *c)).collect();
            prop_assert_eq!(order.iter().collect::<HashSet<_>>().len(), cands.len());
            for pair in order.windows(2) {
                let (a, b) = (by_id[&pair[0]], by_id[&pair[1]]);
                prop_assert!(a.priority <= b.priority, "{:?} before {:?}", a, b);
                if a.priority == b.priority {
                    prop_assert!(!(a.weight == 0 && b.weight > 0), "zero weight {:?} before {:?}", a, b);
                }
            }
        }
    }
}
