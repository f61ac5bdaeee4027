//! Elementary functions for the hot loops, inlined so they neither call into libm nor force
//! the caller to spill its vector registers around a call (a libm `ln` in the cell model's
//! step loop cost a quarter of a solve).

/// Natural logarithm ln x for positive normal x: within 1 ulp of libm, and within 1.2·10⁻¹⁶
/// absolutely on [½, 2], where ln x is small (tested against libm).
///
/// x = 2^k·z with z in [0.6875, 1.375); z is split into 64 subintervals, each with a centre c
/// of 13 significant bits, 1/c and ln c (rounded from 200-bit values); then
/// ln x = k·ln 2 + ln c + ln(1 + r) with r = (z − c)·(1/c), where z − c is exact (Sterbenz), so
/// r carries only relative rounding errors (|r| < 0.0078); ln(1 + r) is its Taylor polynomial
/// to r⁷ (truncation < 2·10⁻¹⁸) in Estrin's scheme. No fused multiply-add, so it is as fast
/// without FMA hardware (where `mul_add` becomes a libm call). Zero, negative, subnormal,
/// infinite and NaN arguments go to libm.
#[inline(always)]
pub fn ln(x: f64) -> f64 {
    const OFF: u64 = 0x3fe6_0000_0000_0000;
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

/// [c, 1/c, ln c] of the 64 subintervals of [0.6875, 1.375) (c: the harmonic midpoint rounded
/// to a multiple of 2⁻¹²).
const LN_TABLE: [[f64; 3]; 64] = [
    [
        f64::from_bits(0x3fe6200000000000),
        f64::from_bits(0x3ff724287f46debc),
        f64::from_bits(0xbfd79e26687cfb3e),
    ],
    [
        f64::from_bits(0x3fe6600000000000),
        f64::from_bits(0x3ff6e1f76b4337c7),
        f64::from_bits(0xbfd6e60ee6af1972),
    ],
    [
        f64::from_bits(0x3fe6a00000000000),
        f64::from_bits(0x3ff6a13cd1537290),
        f64::from_bits(0xbfd630030b3aac49),
    ],
    [
        f64::from_bits(0x3fe6e00000000000),
        f64::from_bits(0x3ff661ec6a5122f9),
        f64::from_bits(0xbfd57bf753c8d1fb),
    ],
    [
        f64::from_bits(0x3fe7200000000000),
        f64::from_bits(0x3ff623fa77016240),
        f64::from_bits(0xbfd4c9e09e172c3c),
    ],
    [
        f64::from_bits(0x3fe7600000000000),
        f64::from_bits(0x3ff5e75bb8d015e7),
        f64::from_bits(0xbfd419b423d5e8c7),
    ],
    [
        f64::from_bits(0x3fe7a00000000000),
        f64::from_bits(0x3ff5ac056b015ac0),
        f64::from_bits(0xbfd36b6776be1117),
    ],
    [
        f64::from_bits(0x3fe7e00000000000),
        f64::from_bits(0x3ff571ed3c506b3a),
        f64::from_bits(0xbfd2bef07cdc9354),
    ],
    [
        f64::from_bits(0x3fe8200000000000),
        f64::from_bits(0x3ff5390948f40feb),
        f64::from_bits(0xbfd214456d0eb8d4),
    ],
    [
        f64::from_bits(0x3fe8600000000000),
        f64::from_bits(0x3ff5015015015015),
        f64::from_bits(0xbfd16b5ccbacfb73),
    ],
    [
        f64::from_bits(0x3fe8a00000000000),
        f64::from_bits(0x3ff4cab88725af6e),
        f64::from_bits(0xbfd0c42d676162e3),
    ],
    [
        f64::from_bits(0x3fe8e00000000000),
        f64::from_bits(0x3ff49539e3b2d067),
        f64::from_bits(0xbfd01eae5626c691),
    ],
    [
        f64::from_bits(0x3fe9200000000000),
        f64::from_bits(0x3ff460cbc7f5cf9a),
        f64::from_bits(0xbfcef5ade4dcffe6),
    ],
    [
        f64::from_bits(0x3fe9600000000000),
        f64::from_bits(0x3ff42d6625d51f87),
        f64::from_bits(0xbfcdb13db0d48940),
    ],
    [
        f64::from_bits(0x3fe9a00000000000),
        f64::from_bits(0x3ff3fb013fb013fb),
        f64::from_bits(0xbfcc6ffbc6f00f71),
    ],
    [
        f64::from_bits(0x3fe9e00000000000),
        f64::from_bits(0x3ff3c995a47babe7),
        f64::from_bits(0xbfcb31d8575bce3d),
    ],
    [
        f64::from_bits(0x3fea200000000000),
        f64::from_bits(0x3ff3991c2c187f63),
        f64::from_bits(0xbfc9f6c407089664),
    ],
    [
        f64::from_bits(0x3fea600000000000),
        f64::from_bits(0x3ff3698df3de0748),
        f64::from_bits(0xbfc8beafeb38fe8c),
    ],
    [
        f64::from_bits(0x3feaa00000000000),
        f64::from_bits(0x3ff33ae45b57bcb2),
        f64::from_bits(0xbfc7898d85444c73),
    ],
    [
        f64::from_bits(0x3feae00000000000),
        f64::from_bits(0x3ff30d190130d190),
        f64::from_bits(0xbfc6574ebe8c133a),
    ],
    [
        f64::from_bits(0x3feb200000000000),
        f64::from_bits(0x3ff2e025c04b8097),
        f64::from_bits(0xbfc527e5e4a1b58d),
    ],
    [
        f64::from_bits(0x3feb600000000000),
        f64::from_bits(0x3ff2b404ad012b40),
        f64::from_bits(0xbfc3fb45a59928cc),
    ],
    [
        f64::from_bits(0x3feba00000000000),
        f64::from_bits(0x3ff288b01288b013),
        f64::from_bits(0xbfc2d1610c86813a),
    ],
    [
        f64::from_bits(0x3febe00000000000),
        f64::from_bits(0x3ff25e22708092f1),
        f64::from_bits(0xbfc1aa2b7e23f72a),
    ],
    [
        f64::from_bits(0x3fec200000000000),
        f64::from_bits(0x3ff23456789abcdf),
        f64::from_bits(0xbfc08598b59e3a07),
    ],
    [
        f64::from_bits(0x3fec600000000000),
        f64::from_bits(0x3ff20b470c67c0d9),
        f64::from_bits(0xbfbec739830a1120),
    ],
    [
        f64::from_bits(0x3feca00000000000),
        f64::from_bits(0x3ff1e2ef3b3fb874),
        f64::from_bits(0xbfbc885801bc4b23),
    ],
    [
        f64::from_bits(0x3fece00000000000),
        f64::from_bits(0x3ff1bb4a4046ed29),
        f64::from_bits(0xbfba4e7640b1bc38),
    ],
    [
        f64::from_bits(0x3fed200000000000),
        f64::from_bits(0x3ff19453808ca29c),
        f64::from_bits(0xbfb8197e2f40e3f0),
    ],
    [
        f64::from_bits(0x3fed600000000000),
        f64::from_bits(0x3ff16e0689427379),
        f64::from_bits(0xbfb5e95a4d9791cb),
    ],
    [
        f64::from_bits(0x3feda00000000000),
        f64::from_bits(0x3ff1485f0e0acd3b),
        f64::from_bits(0xbfb3bdf5a7d1ee64),
    ],
    [
        f64::from_bits(0x3fede00000000000),
        f64::from_bits(0x3ff12358e75d3033),
        f64::from_bits(0xbfb1973bd1465567),
    ],
    [
        f64::from_bits(0x3fee200000000000),
        f64::from_bits(0x3ff0fef010fef011),
        f64::from_bits(0xbfaeea31c006b87c),
    ],
    [
        f64::from_bits(0x3fee600000000000),
        f64::from_bits(0x3ff0db20a88f4696),
        f64::from_bits(0xbfaaaef2d0fb10fc),
    ],
    [
        f64::from_bits(0x3feea00000000000),
        f64::from_bits(0x3ff0b7e6ec259dc8),
        f64::from_bits(0xbfa67c94f2d4bb58),
    ],
    [
        f64::from_bits(0x3feee00000000000),
        f64::from_bits(0x3ff0953f39010954),
        f64::from_bits(0xbfa252f32f8d183f),
    ],
    [
        f64::from_bits(0x3fef200000000000),
        f64::from_bits(0x3ff073260a47f7c6),
        f64::from_bits(0xbf9c63d2ec14aaf2),
    ],
    [
        f64::from_bits(0x3fef600000000000),
        f64::from_bits(0x3ff05197f7d73404),
        f64::from_bits(0xbf9432a925980cc1),
    ],
    [
        f64::from_bits(0x3fefa00000000000),
        f64::from_bits(0x3ff03091b51f5e1a),
        f64::from_bits(0xbf882448a388a2aa),
    ],
    [
        f64::from_bits(0x3fefe00000000000),
        f64::from_bits(0x3ff0101010101010),
        f64::from_bits(0xbf70080559588b35),
    ],
    [
        f64::from_bits(0x3ff0200000000000),
        f64::from_bits(0x3fefc07f01fc07f0),
        f64::from_bits(0x3f7fe02a6b106789),
    ],
    [
        f64::from_bits(0x3ff0600000000000),
        f64::from_bits(0x3fef44659e4a4271),
        f64::from_bits(0x3f97b91b07d5b11b),
    ],
    [
        f64::from_bits(0x3ff0a00000000000),
        f64::from_bits(0x3feecc07b301ecc0),
        f64::from_bits(0x3fa39e87b9febd60),
    ],
    [
        f64::from_bits(0x3ff0e00000000000),
        f64::from_bits(0x3fee573ac901e574),
        f64::from_bits(0x3fab42dd711971bf),
    ],
    [
        f64::from_bits(0x3ff1200000000000),
        f64::from_bits(0x3fede5d6e3f8868a),
        f64::from_bits(0x3fb16536eea37ae1),
    ],
    [
        f64::from_bits(0x3ff1600000000000),
        f64::from_bits(0x3fed77b654b82c34),
        f64::from_bits(0x3fb51b073f06183f),
    ],
    [
        f64::from_bits(0x3ff1a00000000000),
        f64::from_bits(0x3fed0cb58f6ec074),
        f64::from_bits(0x3fb8c345d6319b21),
    ],
    [
        f64::from_bits(0x3ff1e00000000000),
        f64::from_bits(0x3feca4b3055ee191),
        f64::from_bits(0x3fbc5e548f5bc743),
    ],
    [
        f64::from_bits(0x3ff2200000000000),
        f64::from_bits(0x3fec3f8f01c3f8f0),
        f64::from_bits(0x3fbfec9131dbeabb),
    ],
    [
        f64::from_bits(0x3ff2600000000000),
        f64::from_bits(0x3febdd2b899406f7),
        f64::from_bits(0x3fc1b72ad52f67a0),
    ],
    [
        f64::from_bits(0x3ff2a00000000000),
        f64::from_bits(0x3feb7d6c3dda338b),
        f64::from_bits(0x3fc371fc201e8f74),
    ],
    [
        f64::from_bits(0x3ff2e00000000000),
        f64::from_bits(0x3feb2036406c80d9),
        f64::from_bits(0x3fc526e5e3a1b438),
    ],
    [
        f64::from_bits(0x3ff3200000000000),
        f64::from_bits(0x3feac5701ac5701b),
        f64::from_bits(0x3fc6d60fe719d21d),
    ],
    [
        f64::from_bits(0x3ff3600000000000),
        f64::from_bits(0x3fea6d01a6d01a6d),
        f64::from_bits(0x3fc87fa06520c911),
    ],
    [
        f64::from_bits(0x3ff3a00000000000),
        f64::from_bits(0x3fea16d3f97a4b02),
        f64::from_bits(0x3fca23bc1fe2b563),
    ],
    [
        f64::from_bits(0x3ff3e00000000000),
        f64::from_bits(0x3fe9c2d14ee4a102),
        f64::from_bits(0x3fcbc286742d8cd6),
    ],
    [
        f64::from_bits(0x3ff4200000000000),
        f64::from_bits(0x3fe970e4f80cb872),
        f64::from_bits(0x3fcd5c216b4fbb91),
    ],
    [
        f64::from_bits(0x3ff4600000000000),
        f64::from_bits(0x3fe920fb49d0e229),
        f64::from_bits(0x3fcef0adcbdc5936),
    ],
    [
        f64::from_bits(0x3ff4a00000000000),
        f64::from_bits(0x3fe8d3018d3018d3),
        f64::from_bits(0x3fd0402594b4d041),
    ],
    [
        f64::from_bits(0x3ff4e00000000000),
        f64::from_bits(0x3fe886e5f0abb04a),
        f64::from_bits(0x3fd1058bf9ae4ad5),
    ],
    [
        f64::from_bits(0x3ff5200000000000),
        f64::from_bits(0x3fe83c977ab2bedd),
        f64::from_bits(0x3fd1c898c16999fb),
    ],
    [
        f64::from_bits(0x3ff5600000000000),
        f64::from_bits(0x3fe7f405fd017f40),
        f64::from_bits(0x3fd2895a13de86a3),
    ],
    [
        f64::from_bits(0x3ff5a00000000000),
        f64::from_bits(0x3fe7ad2208e0ecc3),
        f64::from_bits(0x3fd347dd9a987d55),
    ],
    [
        f64::from_bits(0x3ff5e00000000000),
        f64::from_bits(0x3fe767dce434a9b1),
        f64::from_bits(0x3fd404308686a7e4),
    ],
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
        // near 1 the error is absolute, not relative; powers of two carry k·ln 2 exactly
        assert!(ln(1.0).abs() < 1e-17);
        assert!((ln(2.0) - std::f64::consts::LN_2).abs() <= 1.2e-16);
        assert!(ulps(1024.0) <= 1.0);
        // table subinterval edges
        for i in 0..=64u64 {
            let x = f64::from_bits(0x3fe6_0000_0000_0000 + (i << 46));
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
}
