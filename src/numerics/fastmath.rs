//! Elementary functions for the hot loops: an inlined `ln` so that the cell model's step loop makes
//! no libm calls, and a batched `exp` for Monte Carlo transforms and modal step coefficients
//! (both give the same bits on every platform).

/// Natural logarithm ln x for positive normal x: within 1 ulp of libm, and within 1.2·10⁻¹⁶
/// absolutely on [½, 2], where ln x is small (tested against libm).
///
/// x = 2^k·z with z in [0.68359375, 1.3671875); z is split into 64 subintervals, each with a
/// centre c of 13 significant bits (c = 1 for the one around 1, so ln 1 = 0 exactly and the
/// error near 1 is relative), 1/c and ln c (rounded from 200-bit values); then
/// ln x = k·ln 2 + ln c + ln(1 + r) with r = (z − c)·(1/c), where z − c is exact (Sterbenz), so
/// r carries only relative rounding errors (|r| < 0.0078); ln(1 + r) is its Taylor polynomial
/// to r⁷ (truncation < 2·10⁻¹⁸), in pairs of terms (Estrin) to shorten the dependency chain. No fused multiply-add, so it is as fast
/// without FMA hardware (where `mul_add` becomes a libm call). Zero, negative, subnormal,
/// infinite and NaN arguments go to libm.
#[inline(always)]
pub fn ln(x: f64) -> f64 {
    const OFF: u64 = 0x3fe5_e000_0000_0000;
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fefa_3800);
    const LN2_LO: f64 = f64::from_bits(0x3d2e_f357_93c7_6730);
    let ix = x.to_bits();
    // positive, normal and finite: ix in [2^52, 0x7ff0·2^48)
    if ix.wrapping_sub(0x0010_0000_0000_0000) >= 0x7fe0_0000_0000_0000 {
        return ln_special(x);
    }
    let tmp = ix.wrapping_sub(OFF);
    let i = ((tmp >> 46) & 63) as usize;
    let k = ((tmp as i64) >> 52) as f64;
    let z = f64::from_bits(ix.wrapping_sub(tmp & (0xfff << 52)));
    let [c, invc, logc] = LN_TABLE[i];
    let r = (z - c) * invc;
    let r2 = r * r;
    let p01 = r * (1.0 / 3.0) - 0.5;
    let p23 = r * 0.2 - 0.25;
    let p45 = r * (1.0 / 7.0) - 1.0 / 6.0;
    let p = p01 + r2 * (p23 + r2 * p45);
    // k·LN2_HI is exact (LN2_HI has 11 trailing zero bits)
    let w = k * LN2_HI + logc;
    let hi = w + r;
    let lo = (w - hi) + r + k * LN2_LO;
    (lo + r2 * p) + hi
}

#[cold]
#[inline(never)]
fn ln_special(x: f64) -> f64 {
    x.ln()
}

/// Σ_{i<n} ln x(i) with one [`ln`] per block of up to [`SUM_LN_BLOCK`] terms, the ln of their
/// product: ln(x_1·…·x_32) = Σ ln x_i. The product, formed in four interleaved partial
/// products (independent chains the CPU overlaps), has a relative rounding error ≤ 31 units of
/// 2⁻⁵³: an absolute error ≤ 3.5·10⁻¹⁵ in the sum, at a thirty-second of the lns. A block whose
/// product leaves the normal range (terms whose product passes ~10^±300 — for
/// concentrations in mol/m³ only near zero —, zero, negative or NaN) is summed term by term
/// instead (`x` is called again for its terms), so the result is what Σ ln x_i gives, NaN and
/// ±∞ included. `x` is inlined into the loop: the terms are computed where they are
/// multiplied, without a buffer.
#[inline(always)]
pub fn sum_ln(n: usize, x: impl Fn(usize) -> f64) -> f64 {
    let mut sum = 0.0;
    let mut start = 0;
    while start < n {
        let end = (start + SUM_LN_BLOCK).min(n);
        let mut p = [1.0f64; 4];
        let mut i = start;
        while i + 4 <= end {
            for (k, pk) in p.iter_mut().enumerate() {
                *pk *= x(i + k);
            }
            i += 4;
        }
        for (k, pk) in p.iter_mut().enumerate().take(end - i) {
            *pk *= x(i + k);
        }
        let product = (p[0] * p[1]) * (p[2] * p[3]);
        if product.is_normal() && product > 0.0 {
            sum += ln(product);
        } else {
            for i in start..end {
                sum += ln(x(i));
            }
        }
        start = end;
    }
    sum
}

/// Terms per ln in [`sum_ln`].
pub const SUM_LN_BLOCK: usize = 32;

/// [c, 1/c, ln c] of the 64 subintervals of [0.68359375, 1.3671875) (c: the harmonic midpoint
/// rounded to a multiple of 2⁻¹², and 1 for the subinterval around 1).
#[rustfmt::skip]
const LN_TABLE: [[f64; 3]; 64] = [
    [f64::from_bits(0x3fe6000000000000), f64::from_bits(0x3ff745d1745d1746), f64::from_bits(0xbfd7fafa3bd8151c)],
    [f64::from_bits(0x3fe6400000000000), f64::from_bits(0x3ff702e05c0b8170), f64::from_bits(0xbfd741d876c67bb1)],
    [f64::from_bits(0x3fe6800000000000), f64::from_bits(0x3ff6c16c16c16c17), f64::from_bits(0xbfd68ac83e9c6a14)],
    [f64::from_bits(0x3fe6c00000000000), f64::from_bits(0x3ff6816816816817), f64::from_bits(0xbfd5d5bddf595f30)],
    [f64::from_bits(0x3fe7000000000000), f64::from_bits(0x3ff642c8590b2164), f64::from_bits(0xbfd522ae0738a3d8)],
    [f64::from_bits(0x3fe7400000000000), f64::from_bits(0x3ff6058160581606), f64::from_bits(0xbfd4718dc271c41b)],
    [f64::from_bits(0x3fe7800000000000), f64::from_bits(0x3ff5c9882b931057), f64::from_bits(0xbfd3c25277333184)],
    [f64::from_bits(0x3fe7c00000000000), f64::from_bits(0x3ff58ed2308158ed), f64::from_bits(0xbfd314f1e1d35ce4)],
    [f64::from_bits(0x3fe8000000000000), f64::from_bits(0x3ff5555555555555), f64::from_bits(0xbfd269621134db92)],
    [f64::from_bits(0x3fe8400000000000), f64::from_bits(0x3ff51d07eae2f815), f64::from_bits(0xbfd1bf99635a6b95)],
    [f64::from_bits(0x3fe8800000000000), f64::from_bits(0x3ff4e5e0a72f0539), f64::from_bits(0xbfd1178e8227e47c)],
    [f64::from_bits(0x3fe8c00000000000), f64::from_bits(0x3ff4afd6a052bf5b), f64::from_bits(0xbfd07138604d5862)],
    [f64::from_bits(0x3fe9000000000000), f64::from_bits(0x3ff47ae147ae147b), f64::from_bits(0xbfcf991c6cb3b379)],
    [f64::from_bits(0x3fe9400000000000), f64::from_bits(0x3ff446f86562d9fb), f64::from_bits(0xbfce530effe71012)],
    [f64::from_bits(0x3fe9800000000000), f64::from_bits(0x3ff4141414141414), f64::from_bits(0xbfcd1037f2655e7b)],
    [f64::from_bits(0x3fe9c00000000000), f64::from_bits(0x3ff3e22cbce4a902), f64::from_bits(0xbfcbd087383bd8ad)],
    [f64::from_bits(0x3fea000000000000), f64::from_bits(0x3ff3b13b13b13b14), f64::from_bits(0xbfca93ed3c8ad9e3)],
    [f64::from_bits(0x3fea400000000000), f64::from_bits(0x3ff3813813813814), f64::from_bits(0xbfc95a5adcf7017f)],
    [f64::from_bits(0x3fea800000000000), f64::from_bits(0x3ff3521cfb2b78c1), f64::from_bits(0xbfc823c16551a3c2)],
    [f64::from_bits(0x3feac00000000000), f64::from_bits(0x3ff323e34a2b10bf), f64::from_bits(0xbfc6f0128b756abc)],
    [f64::from_bits(0x3feb000000000000), f64::from_bits(0x3ff2f684bda12f68), f64::from_bits(0xbfc5bf406b543db2)],
    [f64::from_bits(0x3feb400000000000), f64::from_bits(0x3ff2c9fb4d812ca0), f64::from_bits(0xbfc4913d8333b561)],
    [f64::from_bits(0x3feb800000000000), f64::from_bits(0x3ff29e4129e4129e), f64::from_bits(0xbfc365fcb0159016)],
    [f64::from_bits(0x3febc00000000000), f64::from_bits(0x3ff27350b8812735), f64::from_bits(0xbfc23d712a49c202)],
    [f64::from_bits(0x3fec000000000000), f64::from_bits(0x3ff2492492492492), f64::from_bits(0xbfc1178e8227e47c)],
    [f64::from_bits(0x3fec400000000000), f64::from_bits(0x3ff21fb78121fb78), f64::from_bits(0xbfbfe89139dbd566)],
    [f64::from_bits(0x3fec800000000000), f64::from_bits(0x3ff1f7047dc11f70), f64::from_bits(0xbfbda727638446a2)],
    [f64::from_bits(0x3fecc00000000000), f64::from_bits(0x3ff1cf06ada2811d), f64::from_bits(0xbfbb6ac88dad5b1c)],
    [f64::from_bits(0x3fed000000000000), f64::from_bits(0x3ff1a7b9611a7b96), f64::from_bits(0xbfb9335e5d594989)],
    [f64::from_bits(0x3fed400000000000), f64::from_bits(0x3ff1811811811812), f64::from_bits(0xbfb700d30aeac0e1)],
    [f64::from_bits(0x3fed800000000000), f64::from_bits(0x3ff15b1e5f75270d), f64::from_bits(0xbfb4d3115d207eac)],
    [f64::from_bits(0x3fedc00000000000), f64::from_bits(0x3ff135c81135c811), f64::from_bits(0xbfb2aa04a44717a5)],
    [f64::from_bits(0x3fee000000000000), f64::from_bits(0x3ff1111111111111), f64::from_bits(0xbfb08598b59e3a07)],
    [f64::from_bits(0x3fee400000000000), f64::from_bits(0x3ff0ecf56be69c90), f64::from_bits(0xbfaccb73cdddb2cc)],
    [f64::from_bits(0x3fee800000000000), f64::from_bits(0x3ff0c9714fbcda3b), f64::from_bits(0xbfa894aa149fb343)],
    [f64::from_bits(0x3feec00000000000), f64::from_bits(0x3ff0a6810a6810a7), f64::from_bits(0xbfa466aed42de3ea)],
    [f64::from_bits(0x3fef000000000000), f64::from_bits(0x3ff0842108421084), f64::from_bits(0xbfa0415d89e74444)],
    [f64::from_bits(0x3fef400000000000), f64::from_bits(0x3ff0624dd2f1a9fc), f64::from_bits(0xbf98492528c8cabf)],
    [f64::from_bits(0x3fef800000000000), f64::from_bits(0x3ff0410410410410), f64::from_bits(0xbf90205658935847)],
    [f64::from_bits(0x3fefc00000000000), f64::from_bits(0x3ff0204081020408), f64::from_bits(0xbf8010157588de71)],
    [f64::from_bits(0x3ff0000000000000), f64::from_bits(0x3ff0000000000000), f64::from_bits(0x0000000000000000)],
    [f64::from_bits(0x3ff0400000000000), f64::from_bits(0x3fef81f81f81f820), f64::from_bits(0x3f8fc0a8b0fc03e4)],
    [f64::from_bits(0x3ff0800000000000), f64::from_bits(0x3fef07c1f07c1f08), f64::from_bits(0x3f9f829b0e783300)],
    [f64::from_bits(0x3ff0c00000000000), f64::from_bits(0x3fee9131abf0b767), f64::from_bits(0x3fa77458f632dcfc)],
    [f64::from_bits(0x3ff1000000000000), f64::from_bits(0x3fee1e1e1e1e1e1e), f64::from_bits(0x3faf0a30c01162a6)],
    [f64::from_bits(0x3ff1400000000000), f64::from_bits(0x3fedae6076b981db), f64::from_bits(0x3fb341d7961bd1d1)],
    [f64::from_bits(0x3ff1800000000000), f64::from_bits(0x3fed41d41d41d41d), f64::from_bits(0x3fb6f0d28ae56b4c)],
    [f64::from_bits(0x3ff1c00000000000), f64::from_bits(0x3fecd85689039b0b), f64::from_bits(0x3fba926d3a4ad563)],
    [f64::from_bits(0x3ff2000000000000), f64::from_bits(0x3fec71c71c71c71c), f64::from_bits(0x3fbe27076e2af2e6)],
    [f64::from_bits(0x3ff2400000000000), f64::from_bits(0x3fec0e070381c0e0), f64::from_bits(0x3fc0d77e7cd08e59)],
    [f64::from_bits(0x3ff2800000000000), f64::from_bits(0x3febacf914c1bad0), f64::from_bits(0x3fc29552f81ff523)],
    [f64::from_bits(0x3ff2c00000000000), f64::from_bits(0x3feb4e81b4e81b4f), f64::from_bits(0x3fc44d2b6ccb7d1e)],
    [f64::from_bits(0x3ff3000000000000), f64::from_bits(0x3feaf286bca1af28), f64::from_bits(0x3fc5ff3070a793d4)],
    [f64::from_bits(0x3ff3400000000000), f64::from_bits(0x3fea98ef606a63be), f64::from_bits(0x3fc7ab890210d909)],
    [f64::from_bits(0x3ff3800000000000), f64::from_bits(0x3fea41a41a41a41a), f64::from_bits(0x3fc9525a9cf456b4)],
    [f64::from_bits(0x3ff3c00000000000), f64::from_bits(0x3fe9ec8e951033d9), f64::from_bits(0x3fcaf3c94e80bff3)],
    [f64::from_bits(0x3ff4000000000000), f64::from_bits(0x3fe999999999999a), f64::from_bits(0x3fcc8ff7c79a9a22)],
    [f64::from_bits(0x3ff4400000000000), f64::from_bits(0x3fe948b0fcd6e9e0), f64::from_bits(0x3fce27076e2af2e6)],
    [f64::from_bits(0x3ff4800000000000), f64::from_bits(0x3fe8f9c18f9c18fa), f64::from_bits(0x3fcfb9186d5e3e2b)],
    [f64::from_bits(0x3ff4c00000000000), f64::from_bits(0x3fe8acb90f6bf3aa), f64::from_bits(0x3fd0a324e27390e3)],
    [f64::from_bits(0x3ff5000000000000), f64::from_bits(0x3fe8618618618618), f64::from_bits(0x3fd1675cababa60e)],
    [f64::from_bits(0x3ff5400000000000), f64::from_bits(0x3fe8181818181818), f64::from_bits(0x3fd22941fbcf7966)],
    [f64::from_bits(0x3ff5800000000000), f64::from_bits(0x3fe7d05f417d05f4), f64::from_bits(0x3fd2e8e2bae11d31)],
    [f64::from_bits(0x3ff5c00000000000), f64::from_bits(0x3fe78a4c8178a4c8), f64::from_bits(0x3fd3a64c556945ea)],
];

/// e^x for every element, in place: Cody–Waite reduction x = n·ln2 + r (|r| ≤ ln2/2), a
/// degree-11 polynomial for e^r (Chebyshev-node interpolant on |r| ≤ 0.35, relative error
/// < 10⁻¹⁷ with the rounded coefficients), evaluated in Estrin's scheme with fused
/// multiply-adds (four levels deep instead of eleven), and 2ⁿ from the exponent bits;
/// branch-free so it vectorises. Agrees with libm to ~2 ulp; arguments outside [−708, 709]
/// (overflow, subnormal results, NaN) are recomputed with libm.
/// Runs with AVX2 + FMA intrinsics (four independent 4-lane vectors in flight) when the CPU
/// has them; the arithmetic is the same sequence of IEEE operations either way (every fused
/// multiply-add is `f64::mul_add` in the portable path), so the results are identical (tested).
pub fn exp_in_place(v: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if super::cpu::avx2_fma() {
        // SAFETY: AVX2 and FMA are available (checked above).
        unsafe { exp_in_place_avx2(v) };
        return;
    }
    exp_in_place_generic(v);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn exp_in_place_avx2(v: &mut [f64]) {
    use std::arch::x86_64::*;
    let in_range = |x: f64| x > -708.0 && x < 709.0;
    if !v.iter().fold(true, |ok, &x| ok & in_range(x)) {
        exp_in_place_generic(v);
        return;
    }
    let mut blocks = v.chunks_exact_mut(EXP_LANES);
    let c = |i: usize| _mm256_set1_pd(EXP_C[i]);
    for b in &mut blocks {
        let ptr = b.as_mut_ptr();
        let log2e = _mm256_set1_pd(EXP_LOG2E);
        let magic = _mm256_set1_pd(EXP_MAGIC);
        let ln2_hi = _mm256_set1_pd(EXP_LN2_HI);
        let ln2_lo = _mm256_set1_pd(EXP_LN2_LO);
        let mbits = _mm256_set1_epi64x(EXP_MAGIC.to_bits() as i64 - 1023);
        for l in 0..4 {
            // SAFETY: the block holds EXP_LANES = 16 values; lane group l reads 4 of them.
            let x = unsafe { _mm256_loadu_pd(ptr.add(4 * l)) };
            let t = _mm256_fmadd_pd(x, log2e, magic);
            let n = _mm256_sub_pd(t, magic);
            let r = _mm256_fnmadd_pd(n, ln2_lo, _mm256_fnmadd_pd(n, ln2_hi, x));
            let r2 = _mm256_mul_pd(r, r);
            let p01 = _mm256_fmadd_pd(c(1), r, c(0));
            let p23 = _mm256_fmadd_pd(c(3), r, c(2));
            let p45 = _mm256_fmadd_pd(c(5), r, c(4));
            let p67 = _mm256_fmadd_pd(c(7), r, c(6));
            let p89 = _mm256_fmadd_pd(c(9), r, c(8));
            let pab = _mm256_fmadd_pd(c(11), r, c(10));
            let r4 = _mm256_mul_pd(r2, r2);
            let q0 = _mm256_fmadd_pd(p23, r2, p01);
            let q1 = _mm256_fmadd_pd(p67, r2, p45);
            let q2 = _mm256_fmadd_pd(pab, r2, p89);
            let r8 = _mm256_mul_pd(r4, r4);
            let s0 = _mm256_fmadd_pd(q1, r4, q0);
            let p = _mm256_fmadd_pd(q2, r8, s0);
            let e = _mm256_slli_epi64::<52>(_mm256_sub_epi64(_mm256_castpd_si256(t), mbits));
            let y = _mm256_mul_pd(p, _mm256_castsi256_pd(e));
            // SAFETY: as for the load.
            unsafe { _mm256_storeu_pd(ptr.add(4 * l), y) };
        }
    }
    for x in blocks.into_remainder() {
        *x = exp_core(*x);
    }
}

#[inline(always)]
fn exp_in_place_generic(v: &mut [f64]) {
    let in_range = |x: f64| x > -708.0 && x < 709.0;
    // A non-short-circuit scan, so it vectorises.
    if v.iter().fold(true, |ok, &x| ok & in_range(x)) {
        // Blocks of EXP_LANES values; each value sees exactly the operations of the scalar form.
        let mut blocks = v.chunks_exact_mut(EXP_LANES);
        for b in &mut blocks {
            let b: &mut [f64; EXP_LANES] = b.try_into().expect("block length");
            exp_lanes(b);
        }
        for x in blocks.into_remainder() {
            *x = exp_core(*x);
        }
    } else {
        for x in v.iter_mut() {
            *x = if in_range(*x) { exp_core(*x) } else { x.exp() };
        }
    }
}

/// Values per block of [`exp_lanes`] (four AVX2 vectors).
const EXP_LANES: usize = 16;

/// e^x for x in (−708, 709), branch-free (see [`exp_in_place`]).
#[inline(always)]
fn exp_core(x: f64) -> f64 {
    let mut a = [x];
    exp_lanes(&mut a);
    a[0]
}

/// e^x of every lane, in place, for lanes in (−708, 709): the same IEEE operations for every
/// lane whatever W (see [`exp_in_place`]).
#[inline(always)]
fn exp_lanes<const W: usize>(x: &mut [f64; W]) {
    const MAGIC: f64 = EXP_MAGIC;
    const C: [f64; 12] = EXP_C;
    for l in 0..W {
        let t = x[l].mul_add(EXP_LOG2E, MAGIC);
        let n = t - MAGIC;
        let r = (-n).mul_add(EXP_LN2_LO, (-n).mul_add(EXP_LN2_HI, x[l]));
        let r2 = r * r;
        let p01 = C[1].mul_add(r, C[0]);
        let p23 = C[3].mul_add(r, C[2]);
        let p45 = C[5].mul_add(r, C[4]);
        let p67 = C[7].mul_add(r, C[6]);
        let p89 = C[9].mul_add(r, C[8]);
        let pab = C[11].mul_add(r, C[10]);
        let r4 = r2 * r2;
        let q0 = p23.mul_add(r2, p01);
        let q1 = p67.mul_add(r2, p45);
        let q2 = pab.mul_add(r2, p89);
        let r8 = r4 * r4;
        let p = q2.mul_add(r8, q1.mul_add(r4, q0));
        let scale =
            f64::from_bits((((t.to_bits() as i64 - MAGIC.to_bits() as i64) + 1023) << 52) as u64);
        x[l] = p * scale;
    }
}

const EXP_LOG2E: f64 = std::f64::consts::LOG2_E;
#[allow(clippy::excessive_precision)] // fdlibm constants, digit for digit
const EXP_LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
#[allow(clippy::excessive_precision)]
const EXP_LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
/// 1.5·2⁵²: adding it rounds to an integer.
const EXP_MAGIC: f64 = 6_755_399_441_055_744.0;
/// Coefficients c_k of r^k, k = 0..=11: the degree-11 polynomial interpolating e^r at the 12
/// Chebyshev nodes of [−0.35, 0.35] (exact rational solve, then rounded to f64); its relative
/// error on |r| ≤ 0.35 is below 7.3·10⁻¹⁸, checked with exact arithmetic on a fine grid.
#[allow(clippy::excessive_precision)]
const EXP_C: [f64; 12] = [
    1.0,
    1.0,
    0.500000000000002,
    0.16666666666666682,
    0.041666666666473465,
    0.008333333333318475,
    0.0013888888956173813,
    0.0001984126989301463,
    2.4801481392218248e-05,
    2.755723777338061e-06,
    2.763413820537965e-07,
    2.511118996532136e-08,
];

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// Error in units of the last place of libm's value (libm's own error ≤ 1 ulp).
    fn ulps(x: f64) -> f64 {
        let (a, b) = (ln(x), x.ln());
        let ulp = f64::from_bits(b.abs().to_bits() + 1) - b.abs();
        if b == 0.0 {
            return a.abs() / f64::MIN_POSITIVE;
        }
        (a - b).abs() / ulp
    }

    #[test]
    fn ln_sum_agrees_with_the_sum_of_lns() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for n in [0usize, 1, 3, 4, 5, 7, 8, 9, 20, 31, 32, 33, 63, 100] {
            for extreme in [false, true] {
                let xs: Vec<f64> = (0..n)
                    .map(|i| {
                        if extreme && i % 5 == 2 {
                            // products leave the normal range: the block is summed term by term
                            if i % 2 == 0 { 1e250 } else { 1e-250 }
                        } else {
                            rng.random_range(1e-3..5e4)
                        }
                    })
                    .collect();
                let (got, want) = (sum_ln(n, |i| xs[i]), xs.iter().map(|x| x.ln()).sum::<f64>());
                // (the reference's own rounding grows with Σ|ln x|: ±575 for 1e±250)
                let size: f64 = xs.iter().map(|x| x.ln().abs()).sum();
                assert!(
                    (got - want).abs() <= 4e-16 * size + 1e-15,
                    "n {n}, extreme {extreme}: {got} vs {want}"
                );
            }
        }
        let xs = [2.0, f64::NAN, 3.0];
        assert!(sum_ln(3, |i| xs[i]).is_nan());
        let xs = [2.0, 0.0];
        assert_eq!(sum_ln(2, |i| xs[i]), f64::NEG_INFINITY);
    }

    #[test]
    fn ln_matches_libm_over_the_normal_range() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut worst = 0.0f64;
        for _ in 0..200_000 {
            // log-uniform over the whole normal range, and dense near 1
            let x = if rng.random_bool(0.5) {
                2f64.powf(rng.random_range(-1021.0..1023.0))
            } else {
                rng.random_range(0.5..2.0)
            };
            let (a, b) = (ln(x), x.ln());
            if (0.5..=2.0).contains(&x) {
                assert!((a - b).abs() <= 1.2e-16, "ln({x:e}) = {a:e}, libm {b:e}");
            } else {
                worst = worst.max(ulps(x));
            }
        }
        assert!(worst <= 1.0, "worst {worst} ulp");
        // exact at 1 (so asinh(0) = 0), relative near 1
        assert_eq!(ln(1.0), 0.0);
        for x in [1.0 + 1e-9, 1.0 - 1e-12, 1.003, 0.997] {
            assert!(ulps(x) <= 1.0, "{x}");
        }
        assert!((ln(2.0) - std::f64::consts::LN_2).abs() <= 1.2e-16);
        assert!(ulps(1024.0) <= 1.0);
        // table subinterval edges
        for i in 0..=64u64 {
            let x = f64::from_bits(0x3fe5_e000_0000_0000 + (i << 46));
            assert!((ln(x) - x.ln()).abs() <= 1.2e-16, "edge {i}: {x}");
        }
    }

    #[test]
    fn ln_special_arguments_follow_libm() {
        assert_eq!(ln(0.0), f64::NEG_INFINITY);
        assert!(ln(-1.0).is_nan());
        assert!(ln(f64::NAN).is_nan());
        assert_eq!(ln(f64::INFINITY), f64::INFINITY);
        let sub = f64::MIN_POSITIVE / 8.0;
        assert_eq!(ln(sub), sub.ln());
        assert_eq!(ln(f64::MAX), f64::MAX.ln());
        assert_eq!(ln(f64::MIN_POSITIVE), f64::MIN_POSITIVE.ln());
    }

    /// The AVX2 + FMA path of `exp_in_place` gives the bits of the portable path (run whenever
    /// the CPU has AVX2 and FMA, also under BRIDGELAW_PORTABLE).
    #[test]
    fn exp_vector_and_portable_paths_are_identical() {
        let xs: Vec<f64> = (0..4099)
            .map(|i| -700.0 + i as f64 * (1405.0 / 4098.0))
            .chain([0.0, -0.0, 1e-300, -1e-12, 0.5 * std::f64::consts::LN_2])
            .collect();
        let mut portable = xs.clone();
        exp_in_place_generic(&mut portable);
        #[cfg(target_arch = "x86_64")]
        if crate::numerics::cpu::hardware_avx2_fma() {
            let mut vector = xs.clone();
            // SAFETY: AVX2 and FMA are available (checked above).
            unsafe { exp_in_place_avx2(&mut vector) };
            for ((x, a), b) in xs.iter().zip(&vector).zip(&portable) {
                assert_eq!(a.to_bits(), b.to_bits(), "x = {x}");
            }
        }
        let mut dispatched = xs.clone();
        exp_in_place(&mut dispatched);
        assert_eq!(dispatched, portable);
    }
}
