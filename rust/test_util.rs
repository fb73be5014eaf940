//! Deterministic pseudo-random values for the tests and the benches: the one generator
//! they all draw from, so a seed means the same numbers everywhere.
//!
//! Compiled into the library's unit tests only (`#[cfg(test)]` in `lib.rs`); the benches,
//! which link the library built without `cfg(test)`, include this file by path
//! (`#[path = "../rust/test_util.rs"] mod test_util;`). Not part of the crate's API.

// Each includer uses part of it (a bench the floats, the unit tests the generator).
#![allow(dead_code)]

/// xorshift64 (Marsaglia's 13/7/17 triple): fast, reproducible, good enough for test data.
///
/// The state is the seed with its low bit set (a zero state would stay zero). Small seeds
/// give small states, whose first few draws are near zero: callers wanting well-mixed
/// values from seeds like 0, 1, 2 can multiply the seed by an odd constant first.
#[derive(Clone, Debug)]
pub struct Xorshift(u64);

impl Xorshift {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `[0, 1)` on a 2^-24 grid (the top 24 bits of the next state).
    pub fn unit_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `[0, 1)` on a 2^-53 grid (the top 53 bits of the next state).
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box-Muller, two uniform draws).
    pub fn normal(&mut self) -> f64 {
        let u = self.unit_f64().max(1e-300);
        let v = self.unit_f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// `count` values uniform in `[-scale/2, scale/2)`, from `Xorshift::new(seed)`.
pub fn values(seed: u64, count: usize, scale: f32) -> Vec<f32> {
    let mut rng = Xorshift::new(seed);
    (0..count).map(|_| (rng.unit_f32() - 0.5) * scale).collect()
}

/// `count` values of mixed sign and magnitude (a uniform `[-0.5, 0.5)` times `10^k`, `k`
/// in -3..=3 from the same draw), so that the order of rounded sums matters.
pub fn mixed_values(seed: u64, count: usize) -> Vec<f32> {
    let mut rng = Xorshift::new(seed);
    (0..count)
        .map(|_| {
            let state = rng.next_u64();
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 10f32.powi((state % 7) as i32 - 3)
        })
        .collect()
}

// No `use super::*`: a bench includes this file under `cfg(test)` without the test
// harness, which drops the tests and would leave the import unused.
#[cfg(test)]
mod tests {
    #[test]
    fn draws_stay_in_their_ranges() {
        let mut rng = super::Xorshift::new(0x9E37_79B9_7F4A_7C15);
        for _ in 0..10_000 {
            let (a, b) = (rng.unit_f32(), rng.unit_f64());
            assert!((0.0..1.0).contains(&a) && (0.0..1.0).contains(&b));
            assert!(rng.normal().is_finite());
        }
        assert!(super::values(3, 1000, 4.0)
            .iter()
            .all(|v| (-2.0..2.0).contains(v)));
    }
}
