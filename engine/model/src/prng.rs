//! SplitMix64: a tiny, fast, seedable generator. The one PRNG of the
//! workspace: weighted routing order, load shaping, repeatable statistical
//! tests. Uniform, not secret: never for tokens or ids.

/// A SplitMix64 generator.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The generator for item `index` of a run seeded with `seed`: streams of
    /// different items do not overlap in practice.
    pub fn for_item(seed: u64, index: u64) -> Self {
        let mut g = Self(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
        g.next_u64();
        g
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p` (clamped to `[0, 1]`).
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// Uniform in `lo..=hi` (either order).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        let span = hi - lo;
        if span == u64::MAX {
            return self.next_u64();
        }
        // Modulo bias is below 2^-40 for the spans used here.
        lo + self.next_u64() % (span + 1)
    }

    /// A uniformly chosen element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as u64 - 1) as usize]
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.range(0, i as u64) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let mut a = SplitMix64::for_item(42, 7);
        let mut b = SplitMix64::for_item(42, 7);
        for _ in 0..1000 {
            let x = a.range(3, 9);
            assert_eq!(x, b.range(3, 9));
            assert!((3..=9).contains(&x));
            let u = a.unit();
            b.unit();
            assert!((0.0..1.0).contains(&u));
        }
        assert_ne!(
            SplitMix64::for_item(42, 7).next_u64(),
            SplitMix64::for_item(42, 8).next_u64()
        );
    }

    #[test]
    fn chance_tracks_probability() {
        let mut g = SplitMix64::new(1);
        let hits = (0..100_000).filter(|_| g.chance(0.3)).count();
        assert!((28_500..31_500).contains(&hits), "{hits}");
        assert!(!(0..1000).any(|_| g.chance(0.0)));
        assert!((0..1000).all(|_| g.chance(1.0)));
    }
}
