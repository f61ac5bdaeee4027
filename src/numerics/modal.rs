//! The exact modal step of a spherical particle fused with its output functionals, and the dot
//! products it is built from: z_k ← E_k·z_k − (i0·P1_k + Δi·P2_k), then Σ_k row_i,k·z_k for the
//! four functionals (surface, centre, outer shell, average). AVX2 + FMA paths are the portable
//! paths' IEEE operations (`f64::mul_add`), so both give the same bits (tested).

use super::cpu;

/// f64 dot product Σ a_k·b_k with four independent partial sums.
#[inline]
pub fn dotf(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut s = [0.0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        s[0] += x[0] * y[0];
        s[1] += x[1] * y[1];
        s[2] += x[2] * y[2];
        s[3] += x[3] * y[3];
    }
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s[0] += x * y;
    }
    (s[0] + s[1]) + (s[2] + s[3])
}

/// The exact step z_k = E_k·z⁰_k − (i0·P1_k + Δi·P2_k) (`ex` = [E | P1 | P2]) fused with the four functionals
/// Σ_k rows[i·n + k]·z_k of the new z, in one pass over the modes, with fused multiply-adds
/// (the Δi term skipped for a constant current). Each functional is summed as [`dotf`] orders
/// it (four partial sums over k mod 4), and the AVX2+FMA path is the same sequence of IEEE
/// operations as the portable one (`f64::mul_add`), so both give the same bits (tested).
#[inline(always)]
pub fn advance_dot4(
    ex: &[f64],
    zo: &[f64],
    z: &mut [f64],
    i0: f64,
    di: f64,
    rows: &[f64],
) -> [f64; 4] {
    #[cfg(target_arch = "x86_64")]
    if cpu::avx2_fma() {
        // SAFETY: AVX2 and FMA are available (checked above).
        return unsafe { advance_dot4_avx2(ex, zo, z, i0, di, rows) };
    }
    advance_dot4_generic(ex, zo, z, i0, di, rows)
}

/// The forcing of mode k: i0·P1_k + Δi·P2_k (i0·P1_k for Δi = 0).
#[inline(always)]
fn forcing(x1: f64, x2: f64, i0: f64, di: f64) -> f64 {
    if di == 0.0 {
        i0 * x1
    } else {
        i0.mul_add(x1, di * x2)
    }
}

fn advance_dot4_generic(
    ex: &[f64],
    zo: &[f64],
    z: &mut [f64],
    i0: f64,
    di: f64,
    rows: &[f64],
) -> [f64; 4] {
    let n = z.len();
    let (xe, x1, x2) = (&ex[..n], &ex[n..2 * n], &ex[2 * n..3 * n]);
    let (zo, rows) = (&zo[..n], &rows[..4 * n]);
    for k in 0..n {
        z[k] = xe[k].mul_add(zo[k], -forcing(x1[k], x2[k], i0, di));
    }
    std::array::from_fn(|i| {
        let row = &rows[i * n..(i + 1) * n];
        let mut s = [0.0f64; 4];
        let full = n / 4 * 4;
        for k in 0..full {
            s[k % 4] = row[k].mul_add(z[k], s[k % 4]);
        }
        for k in full..n {
            s[0] = row[k].mul_add(z[k], s[0]);
        }
        (s[0] + s[1]) + (s[2] + s[3])
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn advance_dot4_avx2(
    ex: &[f64],
    zo: &[f64],
    z: &mut [f64],
    i0: f64,
    di: f64,
    rows: &[f64],
) -> [f64; 4] {
    use std::arch::x86_64::*;
    let n = z.len();
    let (xe, x1, x2) = (&ex[..n], &ex[n..2 * n], &ex[2 * n..3 * n]);
    let (zo, rows) = (&zo[..n], &rows[..4 * n]);
    let full = n / 4 * 4;
    let vi0 = _mm256_set1_pd(i0);
    let vdi = _mm256_set1_pd(di);
    // acc[i]: the four partial sums (lanes = k mod 4) of functional i
    let mut acc = [_mm256_setzero_pd(); 4];
    let mut k0 = 0;
    while k0 < full {
        // SAFETY: k0 + 4 ≤ n for every slice of length n, and i·n + k0 + 4 ≤ 4n = rows.len().
        unsafe {
            let e = _mm256_loadu_pd(xe.as_ptr().add(k0));
            let o = _mm256_loadu_pd(zo.as_ptr().add(k0));
            let a = _mm256_loadu_pd(x1.as_ptr().add(k0));
            let f = if di == 0.0 {
                _mm256_mul_pd(vi0, a)
            } else {
                let b = _mm256_loadu_pd(x2.as_ptr().add(k0));
                _mm256_fmadd_pd(vi0, a, _mm256_mul_pd(vdi, b))
            };
            let v = _mm256_fmsub_pd(e, o, f);
            _mm256_storeu_pd(z.as_mut_ptr().add(k0), v);
            for (i, acc_i) in acc.iter_mut().enumerate() {
                let r = _mm256_loadu_pd(rows.as_ptr().add(i * n + k0));
                *acc_i = _mm256_fmadd_pd(r, v, *acc_i);
            }
        }
        k0 += 4;
    }
    if full == n {
        // (s0 + s1) + (s2 + s3) of the four functionals at once
        let h01 = _mm256_hadd_pd(acc[0], acc[1]);
        let h23 = _mm256_hadd_pd(acc[2], acc[3]);
        let lo = _mm256_permute2f128_pd::<0x20>(h01, h23);
        let hi = _mm256_permute2f128_pd::<0x31>(h01, h23);
        let mut out = [0.0f64; 4];
        // SAFETY: `out` holds four f64.
        unsafe { _mm256_storeu_pd(out.as_mut_ptr(), _mm256_add_pd(lo, hi)) };
        return out;
    }
    let mut s = [[0.0f64; 4]; 4];
    for (i, a) in acc.iter().enumerate() {
        // SAFETY: `s[i]` holds four f64.
        unsafe { _mm256_storeu_pd(s[i].as_mut_ptr(), *a) };
    }
    for k in full..n {
        let v = xe[k].mul_add(zo[k], -forcing(x1[k], x2[k], i0, di));
        z[k] = v;
        for (i, si) in s.iter_mut().enumerate() {
            si[0] = rows[i * n + k].mul_add(v, si[0]);
        }
    }
    s.map(|s| (s[0] + s[1]) + (s[2] + s[3]))
}

/// Exact steps at the constant current `i0` from the state `zs[..n]` (n = rows.len()/4): step
/// j reads `zs[j·n..(j+1)·n]`, writes `zs[(j+1)·n..(j+2)·n]` and its four functionals to `fz[j]`,
/// each step the same operations as [`advance_dot4`] with Δi = 0, so the same bits.
#[inline(always)]
pub fn advance_dot4_steps(ex: &[f64], zs: &mut [f64], i0: f64, rows: &[f64], fz: &mut [[f64; 4]]) {
    let n = rows.len() / 4;
    #[cfg(target_arch = "x86_64")]
    if n.is_multiple_of(4) && cpu::avx2_fma() {
        // SAFETY: AVX2 and FMA are available (checked above).
        return unsafe { advance_dot4_steps_avx2(ex, zs, i0, rows, fz) };
    }
    for (j, f) in fz.iter_mut().enumerate() {
        let (prev, next) = zs[j * n..(j + 2) * n].split_at_mut(n);
        *f = advance_dot4(ex, prev, next, i0, 0.0, rows);
    }
}

/// [`advance_dot4_steps`] for n a multiple of 4, with AVX2 and FMA: the operations of
/// [`advance_dot4_avx2`] (Δi = 0) for every step in one loop.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn advance_dot4_steps_avx2(ex: &[f64], zs: &mut [f64], i0: f64, rows: &[f64], fz: &mut [[f64; 4]]) {
    use std::arch::x86_64::*;
    let n = rows.len() / 4;
    let steps = fz.len();
    let (xe, x1) = (&ex[..n], &ex[n..2 * n]);
    let (zs, rows) = (&mut zs[..(steps + 1) * n], &rows[..4 * n]);
    let vi0 = _mm256_set1_pd(i0);
    for (j, out) in fz.iter_mut().enumerate() {
        let (prev, next) = zs[j * n..(j + 2) * n].split_at_mut(n);
        let mut acc = [_mm256_setzero_pd(); 4];
        let mut k0 = 0;
        while k0 + 4 <= n {
            // SAFETY: k0 + 4 ≤ n for `xe`, `x1`, `prev`, `next` (length n), and
            // i·n + k0 + 4 ≤ 4n = rows.len().
            unsafe {
                let e = _mm256_loadu_pd(xe.as_ptr().add(k0));
                let o = _mm256_loadu_pd(prev.as_ptr().add(k0));
                let a = _mm256_loadu_pd(x1.as_ptr().add(k0));
                let v = _mm256_fmsub_pd(e, o, _mm256_mul_pd(vi0, a));
                _mm256_storeu_pd(next.as_mut_ptr().add(k0), v);
                for (i, acc_i) in acc.iter_mut().enumerate() {
                    let r = _mm256_loadu_pd(rows.as_ptr().add(i * n + k0));
                    *acc_i = _mm256_fmadd_pd(r, v, *acc_i);
                }
            }
            k0 += 4;
        }
        let h01 = _mm256_hadd_pd(acc[0], acc[1]);
        let h23 = _mm256_hadd_pd(acc[2], acc[3]);
        let lo = _mm256_permute2f128_pd::<0x20>(h01, h23);
        let hi = _mm256_permute2f128_pd::<0x31>(h01, h23);
        // SAFETY: `out` holds four f64.
        unsafe { _mm256_storeu_pd(out.as_mut_ptr(), _mm256_add_pd(lo, hi)) };
    }
}

/// The four dot products Σ_k rows[i·n + k]·z_k (i = 0..4), each exactly as [`dotf`] sums it.
#[inline]
pub fn dot4(rows: &[f64], z: &[f64]) -> [f64; 4] {
    let n = z.len();
    std::array::from_fn(|i| dotf(&rows[i * n..(i + 1) * n], z))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_exact_step_paths_agree_bitwise_and_match_the_step() {
        let n = 23;
        let f = |k: usize, a: f64| ((k as f64 + a) * 0.37).sin();
        let xe: Vec<f64> = (0..n).map(|k| f(k, 0.1).abs()).collect();
        let x1: Vec<f64> = (0..n).map(|k| f(k, 0.2)).collect();
        let x2: Vec<f64> = (0..n).map(|k| f(k, 0.3)).collect();
        let zo: Vec<f64> = (0..n).map(|k| 1e3 * f(k, 0.4)).collect();
        let rows: Vec<f64> = (0..4 * n).map(|k| f(k, 0.5)).collect();
        // a remainder after the chunks of four, and none; a ramp and a constant current
        for n in [n, 20] {
            for di in [-0.3, 0.0] {
                let (mut za, mut zb) = (vec![0.0; n], vec![0.0; n]);
                let ex: Vec<f64> = [&xe[..n], &x1[..n], &x2[..n]].concat();
                let b = advance_dot4_generic(&ex, &zo, &mut zb, 1.7, di, &rows);
                #[cfg(target_arch = "x86_64")]
                if cpu::hardware_avx2_fma() {
                    // SAFETY: AVX2 and FMA are available (checked above).
                    let a = unsafe { advance_dot4_avx2(&ex, &zo, &mut za, 1.7, di, &rows) };
                    assert_eq!(za, zb);
                    assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits));
                }
                let a = advance_dot4(&ex, &zo, &mut za, 1.7, di, &rows);
                assert_eq!(za, zb);
                assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits));
                // and they are the step followed by the four dot products, to rounding
                for k in 0..n {
                    let zk = xe[k] * zo[k] - (1.7 * x1[k] + di * x2[k]);
                    assert!((zb[k] - zk).abs() <= 1e-12 * zk.abs().max(1.0), "mode {k}");
                }
                for (i, bi) in b.iter().enumerate() {
                    let row = &rows[i * n..(i + 1) * n];
                    let d = dotf(row, &zb);
                    let scale: f64 = row.iter().zip(&zb).map(|(r, z)| (r * z).abs()).sum();
                    assert!((bi - d).abs() <= 1e-14 * scale, "functional {i}");
                }
            }
        }
    }

    /// Several constant-current steps in one pass give, step by step, the bits of
    /// [`advance_dot4_generic`] with Δi = 0 (the AVX2 batch kernel run whenever the CPU has it).
    #[test]
    fn batched_steps_equal_single_portable_steps() {
        let n = 20;
        let steps = 5;
        let f = |k: usize, a: f64| ((k as f64 + a) * 0.29).cos();
        let ex: Vec<f64> = (0..3 * n).map(|k| f(k, 0.1).abs()).collect();
        let rows: Vec<f64> = (0..4 * n).map(|k| f(k, 0.5)).collect();
        let z0: Vec<f64> = (0..n).map(|k| 1e3 * f(k, 0.4)).collect();
        let mut want = vec![0.0; (steps + 1) * n];
        want[..n].copy_from_slice(&z0);
        let mut want_f = vec![[0.0; 4]; steps];
        for (j, wf) in want_f.iter_mut().enumerate() {
            let (prev, next) = want[j * n..(j + 2) * n].split_at_mut(n);
            *wf = advance_dot4_generic(&ex, prev, next, 0.8, 0.0, &rows);
        }
        let fresh = || {
            let mut zs = vec![0.0; (steps + 1) * n];
            zs[..n].copy_from_slice(&z0);
            (zs, vec![[0.0; 4]; steps])
        };
        let check = |zs: &[f64], fz: &[[f64; 4]]| {
            assert_eq!(zs, &want[..]);
            for (a, b) in fz.iter().zip(&want_f) {
                assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits));
            }
        };
        let (mut zs, mut fz) = fresh();
        advance_dot4_steps(&ex, &mut zs, 0.8, &rows, &mut fz);
        check(&zs, &fz);
        #[cfg(target_arch = "x86_64")]
        if cpu::hardware_avx2_fma() {
            let (mut zs, mut fz) = fresh();
            // SAFETY: AVX2 and FMA are available (checked above).
            unsafe { advance_dot4_steps_avx2(&ex, &mut zs, 0.8, &rows, &mut fz) };
            check(&zs, &fz);
        }
    }
}
