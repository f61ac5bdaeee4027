//! Tridiagonal linear systems A·x = r (`l` sub-, `d` main, `u` super-diagonal; `l[0]` and
//! `u[n−1]` unused), without pivoting: the matrices here (finite-volume diffusion plus a
//! positive mass term) are diagonally dominant M-matrices.

use crate::model::Scalar;

/// Solve in place by the Thomas algorithm (forward elimination, back substitution): `r` holds
/// the right-hand side on entry and the solution on return; `cp` is scratch of length n.
#[inline]
pub fn solve<D: Scalar>(l: &[D], d: &[D], u: &[D], r: &mut [D], cp: &mut [D]) {
    let n = d.len();
    let mut m = d[0].recip();
    cp[0] = u[0] * m;
    r[0] *= m;
    for j in 1..n {
        m = (d[j] - l[j] * cp[j - 1]).recip();
        if j < n - 1 {
            cp[j] = u[j] * m;
        }
        r[j] = (r[j] - l[j] * r[j - 1]) * m;
    }
    for j in (0..n - 1).rev() {
        let x = r[j + 1];
        r[j] -= cp[j] * x;
    }
}

/// [`solve`] by the twisted factorisation: elimination from the top (rows 0..k) and from the
/// bottom (rows n−1..k) at once, the two meeting at k = n/2, then substitution outwards from k.
/// The two chains of dependent divisions are independent of each other, so a superscalar core
/// runs them side by side: about half the latency of [`solve`] for the same operation count.
/// `cp` is scratch of length n.
#[inline]
pub fn solve_twisted<D: Scalar>(l: &[D], d: &[D], u: &[D], r: &mut [D], cp: &mut [D]) {
    let n = d.len();
    if n < 4 {
        return solve(l, d, u, r, cp);
    }
    let k = n / 2;
    // equal lengths let the compiler drop the bounds checks below
    let (l, d, u, r, cp) = (&l[..n], &d[..n], &u[..n], &mut r[..n], &mut cp[..n]);
    // top: cp[j] = u_j/δ_j, r[j] ← (r_j − l_j·r_{j−1})/δ_j for j < k;
    // bottom: cp[j] = l_j/δ_j, r[j] ← (r_j − u_j·r_{j+1})/δ_j for j > k
    let mut mt = d[0].recip();
    cp[0] = u[0] * mt;
    r[0] *= mt;
    let mut mb = d[n - 1].recip();
    cp[n - 1] = l[n - 1] * mb;
    r[n - 1] *= mb;
    for s in 1..k {
        let (a, b) = (s, n - 1 - s);
        mt = (d[a] - l[a] * cp[a - 1]).recip();
        cp[a] = u[a] * mt;
        r[a] = (r[a] - l[a] * r[a - 1]) * mt;
        if b > k {
            mb = (d[b] - u[b] * cp[b + 1]).recip();
            cp[b] = l[b] * mb;
            r[b] = (r[b] - u[b] * r[b + 1]) * mb;
        }
    }
    let delta = d[k] - l[k] * cp[k - 1] - u[k] * cp[k + 1];
    r[k] = (r[k] - l[k] * r[k - 1] - u[k] * r[k + 1]) / delta;
    // (k rows above the meeting row, n − 1 − k ≤ k below it)
    for s in 1..=k {
        let a = k - s;
        r[a] -= cp[a] * r[a + 1];
        if k + s < n {
            let b = k + s;
            r[b] -= cp[b] * r[b - 1];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both solvers against a dense check of A·x = r, for sizes around the meeting row.
    #[test]
    fn thomas_and_twisted_solve_the_system() {
        for n in [1usize, 2, 3, 4, 5, 6, 7, 20, 21, 60] {
            let l: Vec<f64> = (0..n).map(|j| -1.0 - 0.1 * (j % 3) as f64).collect();
            let u: Vec<f64> = (0..n).map(|j| -0.7 - 0.05 * (j % 5) as f64).collect();
            let d: Vec<f64> = (0..n).map(|j| 3.0 + 0.2 * (j % 7) as f64).collect();
            let rhs: Vec<f64> = (0..n).map(|j| (j as f64 * 0.37).sin() + 1.0).collect();
            for twisted in [false, true] {
                let (mut x, mut cp) = (rhs.clone(), vec![0.0; n]);
                if twisted {
                    solve_twisted(&l, &d, &u, &mut x, &mut cp);
                } else {
                    solve(&l, &d, &u, &mut x, &mut cp);
                }
                for j in 0..n {
                    let mut ax = d[j] * x[j];
                    if j > 0 {
                        ax += l[j] * x[j - 1];
                    }
                    if j + 1 < n {
                        ax += u[j] * x[j + 1];
                    }
                    assert!(
                        (ax - rhs[j]).abs() < 1e-13,
                        "n {n}, twisted {twisted}, row {j}"
                    );
                }
            }
        }
    }
}
