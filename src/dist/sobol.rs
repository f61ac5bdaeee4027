//! Owen-scrambled Sobol points with random access by index.
//!
//! Direction numbers are Joe & Kuo's `new-joe-kuo-6` set (from the `sobol` crate, up to 1000
//! dimensions). Each dimension is Owen-scrambled (nested uniform scrambling) with the hash-based
//! construction of Burley, "Practical Hash-based Owen Scrambling", JCGT 9(4) 2020, using the
//! improved Laine–Karras hash constants of N. Vegdahl (2021). A scrambled sequence is a
//! randomised QMC design: different seeds give independent replicates, which is how QMC error
//! bars are estimated. Points are 32-bit, so at most 2³² points per sequence.
//!
//! Consecutive points (the [`SobolCursor`]) cost O(dim) each instead of O(dim·log₂ index): in
//! natural order, going from n to n + 1 flips the trailing ones of n and the zero above them, so
//! x_{n+1} = x_n ⊕ w_t with t = trailing_ones(n) and w_t = v_0 ⊕ … ⊕ v_t (prefix XOR of the
//! direction numbers). This is the Gray-code trick applied to the natural order: the points and
//! their order are exactly those of random access by index.

use sobol::Sobol;
use sobol::params::JoeKuoD6;
use std::sync::OnceLock;

/// Largest dimension supported.
pub const MAX_DIM: usize = 1000;

fn direction_numbers() -> &'static JoeKuoD6 {
    static P: OnceLock<JoeKuoD6> = OnceLock::new();
    P.get_or_init(JoeKuoD6::standard)
}

/// A scrambled Sobol sequence of a fixed dimension and seed.
#[derive(Debug, Clone)]
pub struct ScrambledSobol {
    /// directions[d][k]: the k-th direction number of dimension d (32-bit).
    directions: Vec<[u32; 32]>,
    /// prefix[d][t] = directions[d][0] ⊕ … ⊕ directions[d][t]: the XOR that takes the raw
    /// coordinate of n to that of n + 1 when n has exactly t trailing ones.
    prefix: Vec<[u32; 32]>,
    scramble: Vec<u32>,
}

/// A fast 32-bit integer hash (C. Wellons' hash-prospector "lowbias32").
#[inline]
fn hash32(mut n: u32) -> u32 {
    n ^= n >> 16;
    n = n.wrapping_mul(0x7feb_352d);
    n ^= n >> 15;
    n = n.wrapping_mul(0x846c_a68b);
    n ^= n >> 16;
    n
}

/// Owen scramble of a bit-reversed integer (Laine–Karras-style hash, Vegdahl 2021 constants).
#[inline]
fn owen_scramble_reversed(mut n: u32, scramble: u32) -> u32 {
    n ^= n.wrapping_mul(0x3d20_adea);
    n = n.wrapping_add(scramble);
    n = n.wrapping_mul((scramble >> 16) | 1);
    n ^= n.wrapping_mul(0x0552_6c56);
    n ^= n.wrapping_mul(0x53a2_2864);
    n
}

impl ScrambledSobol {
    /// A `dim`-dimensional sequence scrambled by `seed`. Panics only if `dim` exceeds
    /// [`MAX_DIM`]; callers validate dimensions first.
    pub fn new(dim: usize, seed: u64) -> Self {
        assert!(dim <= MAX_DIM, "Sobol dimension {dim} > {MAX_DIM}");
        let raw = Sobol::<u32>::init_direction_vals::<u32>(dim, 32, direction_numbers());
        let directions: Vec<[u32; 32]> = raw
            .into_iter()
            .map(|v| {
                let mut a = [0u32; 32];
                a.copy_from_slice(&v[..32]);
                a
            })
            .collect();
        let prefix = directions
            .iter()
            .map(|v| {
                let mut w = [0u32; 32];
                let mut acc = 0u32;
                for (wt, vt) in w.iter_mut().zip(v) {
                    acc ^= vt;
                    *wt = acc;
                }
                w
            })
            .collect();
        let s = hash32((seed as u32) ^ hash32((seed >> 32) as u32 ^ 0x9e37_79b9));
        let scramble = (0..dim as u32)
            .map(|d| hash32(s ^ hash32(d.wrapping_mul(0x68e3_1da4) ^ 0x1b87_3593)))
            .collect();
        Self {
            directions,
            prefix,
            scramble,
        }
    }

    /// Dimension of the points.
    pub fn dim(&self) -> usize {
        self.directions.len()
    }

    /// Unscrambled integer Sobol coordinate of point `index` in dimension `d`
    /// (x_index = XOR of the direction numbers of the set bits of index, i.e. natural order).
    #[inline]
    fn raw(&self, index: u32, d: usize) -> u32 {
        let mut x = 0u32;
        let mut i = index;
        let mut k = 0;
        while i != 0 {
            if i & 1 == 1 {
                x ^= self.directions[d][k];
            }
            i >>= 1;
            k += 1;
        }
        x
    }

    /// Scrambled coordinate of dimension `d` from its raw integer, mapped to the centre of its
    /// 2⁻³² cell, so no coordinate is exactly 0 or 1 and Φ⁻¹ stays finite.
    #[inline]
    fn unit(&self, raw: u32, d: usize) -> f64 {
        let x = owen_scramble_reversed(raw.reverse_bits(), self.scramble[d]).reverse_bits();
        (x as f64 + 0.5) * (1.0 / 4_294_967_296.0)
    }

    /// Point `index` in (0, 1)^dim: scrambled integers mapped to the centre of their 2⁻³² cell,
    /// so no coordinate is exactly 0 or 1 and Φ⁻¹ stays finite. Random access, O(dim·log₂ index);
    /// use [`ScrambledSobol::points_from`] for runs of consecutive points.
    pub fn point(&self, index: u64, u: &mut [f64]) {
        let index = index as u32;
        for (d, ud) in u.iter_mut().enumerate() {
            *ud = self.unit(self.raw(index, d), d);
        }
    }

    /// A cursor over consecutive points starting at `start`: the same points as
    /// [`ScrambledSobol::point`] (start, start + 1, …) at O(dim) each.
    pub fn points_from(&self, start: u64) -> SobolCursor<'_> {
        SobolCursor {
            seq: self,
            next: start,
            raw: Vec::new(),
        }
    }
}

/// Consecutive points of a [`ScrambledSobol`], in natural order, updated incrementally.
pub struct SobolCursor<'a> {
    seq: &'a ScrambledSobol,
    next: u64,
    /// Raw (unscrambled) coordinates of point `next`; empty until the first point.
    raw: Vec<u32>,
}

impl SobolCursor<'_> {
    /// Write the next point into `u` (length = dimension) and advance:
    /// raw_{n+1} = raw_n ⊕ w_{trailing_ones(n)}.
    pub fn next_into(&mut self, u: &mut [f64]) {
        let seq = self.seq;
        let index = self.next as u32;
        if self.raw.len() != seq.dim() {
            self.raw = (0..seq.dim()).map(|d| seq.raw(index, d)).collect();
        }
        for (d, (ud, r)) in u.iter_mut().zip(&self.raw).enumerate() {
            *ud = seq.unit(*r, d);
        }
        let t = index.trailing_ones() as usize;
        if t < 32 {
            for (r, w) in self.raw.iter_mut().zip(&seq.prefix) {
                *r ^= w[t];
            }
        } else {
            // 2³² − 1 → 0: the sequence wraps.
            self.raw.iter_mut().for_each(|r| *r = 0);
        }
        self.next += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_dimension_is_van_der_corput_before_scrambling() {
        let s = ScrambledSobol::new(2, 0);
        let expect = [0u32, 1 << 31, 1 << 30, 3 << 30];
        for (i, &e) in expect.iter().enumerate() {
            assert_eq!(s.raw(i as u32, 0), e);
        }
        // Second dimension of Sobol: 0, 1/2, 3/4, 1/4.
        let expect2 = [0u32, 1 << 31, 3 << 30, 1 << 30];
        for (i, &e) in expect2.iter().enumerate() {
            assert_eq!(s.raw(i as u32, 1), e);
        }
    }

    #[test]
    fn scrambled_points_stratify_every_dyadic_interval() {
        // Owen scrambling preserves the (t, m, s)-net property: in each dimension, the first
        // 2^m points put exactly one point in each interval [k/2^m, (k+1)/2^m).
        let s = ScrambledSobol::new(8, 42);
        let m = 10;
        let n = 1usize << m;
        let mut u = vec![0.0; 8];
        let mut counts = vec![vec![0u32; n]; 8];
        for i in 0..n {
            s.point(i as u64, &mut u);
            for d in 0..8 {
                counts[d][(u[d] * n as f64) as usize] += 1;
            }
        }
        assert!(counts.iter().all(|c| c.iter().all(|&k| k == 1)));
    }

    #[test]
    fn cursor_matches_random_access() {
        let s = ScrambledSobol::new(5, 9);
        let (mut a, mut b) = (vec![0.0; 5], vec![0.0; 5]);
        for start in [0u64, 1, 7, 4096, 12_345, (1 << 32) - 3] {
            let mut cur = s.points_from(start);
            for i in start..start + 300 {
                cur.next_into(&mut a);
                s.point(i, &mut b);
                assert_eq!(a, b, "point {i} from start {start}");
            }
        }
    }

    #[test]
    fn different_seeds_give_different_points() {
        let mut a = vec![0.0; 3];
        let mut b = vec![0.0; 3];
        ScrambledSobol::new(3, 1).point(5, &mut a);
        ScrambledSobol::new(3, 2).point(5, &mut b);
        assert_ne!(a, b);
    }
}
