//! Histogram slots of Monte Carlo outputs on a fixed uniform grid of a coordinate u(y): the
//! scalar slot arithmetic and a four-at-a-time AVX2 kernel that gives the same counts (tested).

use super::cpu;
use serde::{Deserialize, Serialize};

/// The bit pattern of f64::MAX as a number: the largest finite log-like coordinate.
pub(crate) const BITS_MAX: f64 = 9_218_868_437_227_405_311.0;

/// How output values are mapped to the histogram coordinate u before uniform binning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinCoord {
    /// u = y.
    Linear,
    /// u = bits(y) for y > 0: the IEEE-754 bit pattern, a piecewise-linear approximation of
    /// log₂ y (uniform relative resolution), exact to invert. Used for positive outputs that
    /// span more than a factor 8 in the pilot.
    LogPositive,
    /// u = −bits(−y) for y < 0, the mirror image for negative outputs.
    LogNegative,
}

/// A fixed uniform binning of the coordinate u(y) over [lo, lo + nbins·width), fixed from a
/// deterministic pilot; values outside go to underflow/overflow counters.
#[derive(Debug, Clone, PartialEq)]
pub struct HistAxis {
    /// How values map to u.
    pub coord: BinCoord,
    /// Lower end of the binned range of u.
    pub lo: f64,
    /// Bin width in u.
    pub width: f64,
    pub(crate) inv_width: f64,
    /// Number of bins.
    pub nbins: usize,
}

impl HistAxis {
    /// The binning coordinate u(y).
    #[inline]
    pub fn coord_of(&self, y: f64) -> f64 {
        match self.coord {
            BinCoord::Linear => y,
            BinCoord::LogPositive => {
                if y > 0.0 {
                    (y.to_bits() as i64) as f64
                } else {
                    f64::NEG_INFINITY
                }
            }
            BinCoord::LogNegative => {
                if y < 0.0 {
                    -(((-y).to_bits() as i64) as f64)
                } else {
                    f64::INFINITY
                }
            }
        }
    }

    /// y(u), the inverse of [`HistAxis::coord_of`].
    pub fn value_of(&self, u: f64) -> f64 {
        match self.coord {
            BinCoord::Linear => u,
            BinCoord::LogPositive => f64::from_bits(u.round().clamp(0.0, BITS_MAX) as u64),
            BinCoord::LogNegative => -f64::from_bits((-u).round().clamp(0.0, BITS_MAX) as u64),
        }
    }

    /// Slot of y in a count array laid out [underflow, bin 0, …, bin nbins−1, overflow].
    #[inline]
    pub fn slot(&self, y: f64) -> usize {
        let t = (self.coord_of(y) - self.lo) * self.inv_width;
        if t < 0.0 {
            0
        } else if t < self.nbins as f64 {
            t as usize + 1
        } else {
            self.nbins + 1
        }
    }
}

/// A histogram counter type (u32 task counts, u64 totals).
pub trait Counter: Copy {
    /// Add one.
    fn incr(&mut self);
}

impl Counter for u32 {
    #[inline(always)]
    fn incr(&mut self) {
        *self += 1;
    }
}

impl Counter for u64 {
    #[inline(always)]
    fn incr(&mut self) {
        *self += 1;
    }
}

/// Count the values of one output into its slots [underflow, bins…, overflow] (the slot
/// arithmetic of [`HistAxis::slot`], with the coordinate match hoisted out of the loop).
/// With AVX2 the slots are computed four at a time (exactly the same arithmetic: the i64 → f64
/// conversion of the bit pattern is done as hi·2³² + lo with one rounding, which is the
/// correctly rounded conversion), then counted; the counts are identical (tested).
#[inline]
pub fn count_column<C: Counter>(axis: &HistAxis, c: &[f64], counts: &mut [C]) {
    #[cfg(target_arch = "x86_64")]
    if cpu::avx2() && c.len() >= 64 {
        let counts = &mut counts[..axis.nbins + 2];
        // SAFETY: AVX2 is available (checked above).
        unsafe { count_column_avx2(axis, c, counts) };
        return;
    }
    count_column_scalar(axis, c, counts);
}

/// The portable form of [`count_column`].
#[inline]
fn count_column_scalar<C: Counter>(axis: &HistAxis, c: &[f64], counts: &mut [C]) {
    let (lo, inv, nb) = (axis.lo, axis.inv_width, axis.nbins as f64);
    let counts = &mut counts[..axis.nbins + 2];
    // Branch-free form of the same slots: t ≥ nbins (and NaN) clamp to nbins, the overflow
    // slot nbins + 1; t ∈ [0, nbins] converts exactly through i32 (one instruction).
    let mut count = |u: f64| {
        let t = (u - lo) * inv;
        let s = if t < 0.0 {
            0
        } else {
            t.min(nb) as i32 as usize + 1
        };
        counts[s].incr();
    };
    match axis.coord {
        BinCoord::Linear => c.iter().for_each(|&y| count(y)),
        BinCoord::LogPositive => c.iter().for_each(|&y| {
            count(if y > 0.0 {
                (y.to_bits() as i64) as f64
            } else {
                f64::NEG_INFINITY
            })
        }),
        BinCoord::LogNegative => c.iter().for_each(|&y| {
            count(if y < 0.0 {
                -(((-y).to_bits() as i64) as f64)
            } else {
                f64::INFINITY
            })
        }),
    }
}

/// [`count_column`] with AVX2: slots of four values at a time into a small buffer, then the
/// increments. `counts` has exactly nbins + 2 slots.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn count_column_avx2<C: Counter>(axis: &HistAxis, c: &[f64], counts: &mut [C]) {
    use std::arch::x86_64::*;
    const B: usize = 256;
    let lo = _mm256_set1_pd(axis.lo);
    let inv = _mm256_set1_pd(axis.inv_width);
    let nb = _mm256_set1_pd(axis.nbins as f64);
    let minus_one = _mm256_set1_pd(-1.0);
    let zero = _mm256_setzero_pd();
    let one = _mm_set1_epi32(1);
    // Exact u32 → f64 conversions: the low half as 2⁵² + lo, the high half as 2⁸⁴ + hi·2³².
    let lo_magic = _mm256_set1_epi64x(0x4330_0000_0000_0000);
    let hi_magic = _mm256_set1_epi64x(0x4530_0000_0000_0000);
    let hi_off = _mm256_set1_pd(f64::from_bits(0x4530_0000_0010_0000)); // 2⁸⁴ + 2⁵²
    let lo_mask = _mm256_set1_epi64x(0xffff_ffff);
    let sign = _mm256_set1_pd(-0.0);
    let coord = axis.coord;
    // u of four values (the coordinate of HistAxis::coord_of).
    let u_of = |y: __m256d| -> __m256d {
        match coord {
            BinCoord::Linear => y,
            BinCoord::LogPositive | BinCoord::LogNegative => {
                let neg = coord == BinCoord::LogNegative;
                let a = if neg { _mm256_xor_pd(y, sign) } else { y };
                let bits = _mm256_castpd_si256(a);
                let hi = _mm256_or_si256(_mm256_srli_epi64::<32>(bits), hi_magic);
                let lo32 = _mm256_or_si256(_mm256_and_si256(bits, lo_mask), lo_magic);
                let hi = _mm256_sub_pd(_mm256_castsi256_pd(hi), hi_off);
                let u = _mm256_add_pd(hi, _mm256_castsi256_pd(lo32));
                // a > 0 (ordered): in the domain; else ∓∞ as in the scalar form.
                let ok = _mm256_cmp_pd::<_CMP_GT_OQ>(a, zero);
                let inf = _mm256_set1_pd(f64::NEG_INFINITY);
                let u = _mm256_blendv_pd(inf, u, ok);
                if neg { _mm256_xor_pd(u, sign) } else { u }
            }
        }
    };
    let mut slots = [0u32; B];
    let mut blocks = c.chunks_exact(B);
    for block in &mut blocks {
        for (q, s) in block.chunks_exact(4).zip(slots.chunks_exact_mut(4)) {
            // SAFETY: q holds four values, s four slots.
            let y = unsafe { _mm256_loadu_pd(q.as_ptr()) };
            let t = _mm256_mul_pd(_mm256_sub_pd(u_of(y), lo), inv);
            // t < 0 → −1 (underflow slot 0), t ≥ nbins or NaN → nbins (overflow), else ⌊t⌋:
            // the slots of the scalar form (for t ≥ 0, ⌊t⌋ is the truncation).
            let f = _mm256_max_pd(_mm256_min_pd(_mm256_floor_pd(t), nb), minus_one);
            let i = _mm_add_epi32(_mm256_cvttpd_epi32(f), one);
            unsafe { _mm_storeu_si128(s.as_mut_ptr() as *mut __m128i, i) };
        }
        for &s in &slots {
            counts[s as usize].incr();
        }
    }
    count_column_scalar(axis, blocks.remainder(), counts);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_slots_equal_scalar_slots() {
        // Values around and beyond each axis, signed zeros, infinities, NaN, subnormals.
        let mut vals: Vec<f64> = (0..5000)
            .map(|i| {
                let t = (i as f64 * 0.618_033_988_749_895).fract();
                let s = if i % 3 == 0 { -1.0 } else { 1.0 };
                s * (t * 60.0 - 30.0).exp()
            })
            .collect();
        vals.extend([
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            5e-324,
            -5e-324,
            f64::MAX,
            -f64::MAX,
        ]);
        let pilots = [
            vec![1e-3, 2e-2, 3e-1, 5.0, 7e-3],
            vec![-1e-3, -2e-2, -3e-1, -5.0, -7e-3],
            vec![-2.0, 0.5, 3.0, 1.0],
            vec![1.0, 1.5, 2.0],
        ];
        for pilot in &pilots {
            let axis = HistAxis::from_pilot(pilot, 1024);
            let mut b = vec![0u64; 1026];
            count_column_scalar(&axis, &vals, &mut b);
            #[cfg(target_arch = "x86_64")]
            if cpu::hardware_avx2() {
                let mut a = vec![0u64; 1026];
                // SAFETY: AVX2 is available (checked above).
                unsafe { count_column_avx2(&axis, &vals, &mut a) };
                assert_eq!(a, b, "{:?}", axis.coord);
            }
            let mut a = vec![0u64; 1026];
            count_column(&axis, &vals, &mut a);
            assert_eq!(a, b, "{:?}", axis.coord);
            assert_eq!(a.iter().sum::<u64>(), vals.len() as u64);
            for &y in &vals {
                let mut one = vec![0u64; 1026];
                count_column_scalar(&axis, &[y], &mut one);
                assert_eq!(one[axis.slot(y)], 1, "{y}");
            }
        }
    }
}
