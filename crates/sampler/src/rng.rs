//! Random primitives with a fixed, documented algorithm.
//!
//! `rand`'s `shuffle`, `random_range` and weighted choice may change their algorithm between
//! releases, which would silently change the batches a seed produces. Everything here is built
//! on the raw ChaCha8 word stream (whose output is fixed by the cipher), so a seed gives the
//! same batches on every platform and after dependency updates.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// SplitMix64 finaliser: a bijection on `u64` with good avalanche, used to derive seeds.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A ChaCha8 generator for `seed` and a derivation path (`parts`), so that independent
/// consumers (the batch-level draws, each stream's permutation for each pass) get independent
/// streams and can be regenerated on their own when resuming.
pub(crate) fn rng_for(seed: u64, parts: &[u64]) -> ChaCha8Rng {
    let mut h = mix64(seed);
    for &p in parts {
        h = mix64(h ^ p);
    }
    let mut key = [0u8; 32];
    for (i, chunk) in key.chunks_exact_mut(8).enumerate() {
        h = mix64(h.wrapping_add(i as u64));
        chunk.copy_from_slice(&h.to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

/// Uniform integer in `0..n` (Lemire's multiply-and-reject; exact, no modulo bias).
pub(crate) fn below(rng: &mut impl RngCore, n: u64) -> u64 {
    debug_assert!(n > 0, "below(0)");
    let mut m = u128::from(rng.next_u64()) * u128::from(n);
    if (m as u64) < n {
        let threshold = n.wrapping_neg() % n;
        while (m as u64) < threshold {
            m = u128::from(rng.next_u64()) * u128::from(n);
        }
    }
    (m >> 64) as u64
}

/// Uniform `f64` in `[0, 1)` with 53 random bits.
pub(crate) fn unit(rng: &mut impl RngCore) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Fisher–Yates shuffle.
pub(crate) fn shuffle<T>(items: &mut [T], rng: &mut impl RngCore) {
    for i in (1..items.len()).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// Index drawn with probability proportional to the increments of `cumulative` (a running sum
/// of non-negative weights whose last element is positive).
pub(crate) fn pick_cumulative(cumulative: &[f64], rng: &mut impl RngCore) -> usize {
    let total = *cumulative.last().expect("pick from an empty distribution");
    let x = unit(rng) * total;
    cumulative.partition_point(|&c| c <= x).min(cumulative.len() - 1)
}

/// Running sums of `weights`, the form [`pick_cumulative`] draws from.
pub(crate) fn cumulative(weights: impl IntoIterator<Item = f64>) -> Vec<f64> {
    weights
        .into_iter()
        .scan(0.0, |acc, w| {
            *acc += w;
            Some(*acc)
        })
        .collect()
}

/// FNV-1a (64 bit): a stable hash for fingerprints that are stored in saved states, unlike
/// `std`'s `DefaultHasher`, whose output may change between Rust releases.
#[derive(Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }

    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    /// Length-prefixed, so that `("ab", "c")` and `("a", "bc")` hash differently.
    pub(crate) fn str(&mut self, s: &str) -> &mut Self {
        self.u64(s.len() as u64).bytes(s.as_bytes())
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_hits_every_value() {
        let mut rng = rng_for(1, &[]);
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            let v = below(&mut rng, 7) as usize;
            seen[v] += 1;
        }
        // Each count is Binomial(7000, 1/7): mean 1000, sd ≈ 29.3; 5 sd either side.
        for (v, &c) in seen.iter().enumerate() {
            assert!((853..=1147).contains(&c), "value {v} drawn {c} times");
        }
    }

    #[test]
    fn below_handles_the_full_range() {
        let mut rng = rng_for(2, &[]);
        assert!((0..100).all(|_| below(&mut rng, u64::MAX) < u64::MAX));
        assert!((0..100).all(|_| below(&mut rng, 1) == 0));
    }

    #[test]
    fn unit_is_in_half_open_interval() {
        let mut rng = rng_for(3, &[]);
        let xs: Vec<f64> = (0..10_000).map(|_| unit(&mut rng)).collect();
        assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        // sd of the mean is 1/sqrt(12 * 10000) ≈ 0.0029.
        assert!((mean - 0.5).abs() < 0.015, "mean {mean}");
    }

    #[test]
    fn shuffle_is_a_permutation_and_depends_on_the_seed() {
        let base: Vec<u32> = (0..50).collect();
        let mut a = base.clone();
        shuffle(&mut a, &mut rng_for(4, &[1]));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, base);
        assert_ne!(a, base);
        let mut b = base.clone();
        shuffle(&mut b, &mut rng_for(4, &[2]));
        assert_ne!(a, b, "different derivation paths must give different permutations");
        let mut c = base.clone();
        shuffle(&mut c, &mut rng_for(4, &[1]));
        assert_eq!(a, c, "same seed and path must give the same permutation");
    }

    #[test]
    fn pick_cumulative_follows_the_weights_and_skips_zero_weights() {
        let cum = cumulative([1.0, 0.0, 3.0]);
        assert_eq!(cum, vec![1.0, 1.0, 4.0]);
        let mut rng = rng_for(5, &[]);
        let mut counts = [0u32; 3];
        for _ in 0..8000 {
            counts[pick_cumulative(&cum, &mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        // counts[0] ~ Binomial(8000, 1/4): mean 2000, sd ≈ 38.7; 5 sd.
        assert!((1806..=2194).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn fnv_separates_field_boundaries() {
        let ab_c = Fnv::new().str("ab").str("c").finish();
        let a_bc = Fnv::new().str("a").str("bc").finish();
        assert_ne!(ab_c, a_bc);
        // Published FNV-1a test vector: "a" → 0xaf63dc4c8601ec8c.
        assert_eq!(Fnv::new().bytes(b"a").finish(), 0xaf63_dc4c_8601_ec8c);
    }
}
