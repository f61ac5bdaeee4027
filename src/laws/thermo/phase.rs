//! Phase stability of g(x, T): spinodals, common tangents (binodals), plateau potential, critical temperature, equilibrium μ.
//!
//! Everything is solved in f64 and then lifted to the dual scalar by the implicit function
//! theorem (one Newton step on the defining equations with dual-valued parameters, or the
//! envelope theorem where the defining condition is stationarity), so x1, x2, the plateau and
//! T_c carry exact first derivatives with respect to the free-energy parameters.
//!
//! Units: energies and chemical potentials in eV per site / per Li, T in K.

use num_dual::Dual64;

use crate::constants::K_B_EV;
use crate::model::Scalar;

use super::ThermoError;
use super::free_energy::FreeEnergy;
use super::hull::lower_hull_indices;

/// Composition grid used to scan for unstable regions and initial tangent guesses: 2000
/// uniform points plus logarithmically spaced tails down to 1e-14 from each end (built once).
fn scan_grid() -> &'static [f64] {
    static GRID: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    GRID.get_or_init(|| {
        let n = 2000;
        let mut v: Vec<f64> = (1..n).map(|i| i as f64 / n as f64).collect();
        let mut e = 3.5;
        while e <= 14.0 {
            let t = 10f64.powf(-e);
            v.push(t);
            v.push(1.0 - t);
            e += 0.25;
        }
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    })
}

/// The same free energy without the linear term (μ0 = 0): the tangent compositions do not
/// depend on μ0 and the numbers stay small.
fn without_mu0(f: &FreeEnergy<f64>) -> FreeEnergy<f64> {
    FreeEnergy {
        mu0: 0.0,
        ..f.clone()
    }
}

/// Bisection for a sign change of `h` in [lo, hi] (h(lo), h(hi) of opposite signs), to the
/// last representable bit.
fn bisect(h: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    let hlo = h(lo);
    if hlo == 0.0 {
        return lo;
    }
    if h(hi) == 0.0 {
        return hi;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if (h(mid) > 0.0) == (hlo > 0.0) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Intervals (lo, hi) of x where the solid solution is unstable, ∂²g/∂x² < 0 (the spinodal
/// region), ascending. Their ends are the spinodal compositions, to full f64 precision.
/// Empty when g is convex (e.g. above the critical temperature).
pub fn spinodal_intervals(f: &FreeEnergy<f64>) -> Result<Vec<(f64, f64)>, ThermoError> {
    f.validate()?;
    let grid = scan_grid();
    let mut pts: Vec<(f64, f64)> = grid.iter().map(|&x| (x, f.d2g(x))).collect();
    // A local minimum of g'' that is positive on the grid may still dip below zero between grid
    // points (unstable region narrower than the grid, just below T_c): refine each one.
    let mut extra = Vec::new();
    for i in 1..pts.len() - 1 {
        if pts[i].1 >= 0.0 && pts[i].1 <= pts[i - 1].1 && pts[i].1 <= pts[i + 1].1 {
            let (xm, vm) = golden_min(|x| f.d2g(x), pts[i - 1].0, pts[i + 1].0);
            if vm < 0.0 {
                extra.push((xm, vm));
            }
        }
    }
    if !extra.is_empty() {
        pts.extend(extra);
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let mut out = Vec::new();
    let mut start: Option<f64> = None;
    for i in 0..pts.len() {
        let neg = pts[i].1 < 0.0;
        match (start, neg) {
            (None, true) => {
                start = Some(if i == 0 {
                    pts[0].0
                } else {
                    bisect(|x| f.d2g(x), pts[i - 1].0, pts[i].0)
                });
            }
            (Some(s), false) => {
                out.push((s, bisect(|x| f.d2g(x), pts[i - 1].0, pts[i].0)));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, pts[pts.len() - 1].0));
    }
    Ok(out)
}

/// Golden-section minimum of a unimodal `h` on [a, b]: (argmin, min).
fn golden_min(h: impl Fn(f64) -> f64, mut a: f64, mut b: f64) -> (f64, f64) {
    let r = 0.5 * (5f64.sqrt() - 1.0);
    let mut c = b - r * (b - a);
    let mut d = a + r * (b - a);
    let (mut hc, mut hd) = (h(c), h(d));
    for _ in 0..120 {
        if b - a <= 1e-16 * (1.0 + a.abs()) {
            break;
        }
        if hc < hd {
            b = d;
            d = c;
            hd = hc;
            c = b - r * (b - a);
            hc = h(c);
        } else {
            a = c;
            c = d;
            hc = hd;
            d = a + r * (b - a);
            hd = h(d);
        }
    }
    if hc < hd { (c, hc) } else { (d, hd) }
}

/// ∂³g/∂x³ in f64 (AD of the closed-form curvature).
fn d3g(f: &FreeEnergy<f64>, x: f64) -> f64 {
    let fd = FreeEnergy {
        mu0: Dual64::from(f.mu0),
        a: f.a.iter().map(|&v| Dual64::from(v)).collect(),
        b: f.b.iter().map(|&v| Dual64::from(v)).collect(),
        t: Dual64::from(f.t),
    };
    fd.d2g(Dual64::new(x, 1.0)).eps
}

/// Lift an f64 spinodal composition s (∂²g/∂x²(s) = 0) to the dual scalar:
/// s_D = s − g''_D(s)/g'''(s), exact first derivatives ds/dp = −(∂g''/∂p)/g'''.
pub fn lift_spinodal<D: Scalar>(f: &FreeEnergy<D>, s: f64) -> D {
    let g3 = d3g(&f.to_f64(), s);
    -f.d2g(D::from(s)) / g3 + s
}

/// A common tangent in f64: coexisting compositions x1 < x2 with μ(x1) = μ(x2) = `mu` and
/// g(x2) − g(x1) = μ·(x2 − x1). `mu` \[eV\] is the plateau chemical potential. `y1`, `y2` are
/// 1 − x1 and 1 − x2 to full relative precision (they matter when x2 is within ~1e-8 of 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommonTangent {
    /// Composition of the Li-poor phase \[1\].
    pub x1: f64,
    /// Composition of the Li-rich phase \[1\].
    pub x2: f64,
    /// 1 − x1 \[1\].
    pub y1: f64,
    /// 1 − x2 \[1\].
    pub y2: f64,
    /// Plateau chemical potential \[eV\].
    pub mu: f64,
}

/// A composition with its complement: (x, y = 1 − x), each to full relative precision.
type Xy<D> = (D, D);

/// (σ(u), σ(−u)): composition and vacancy fraction from the logit u = ln(x/(1−x)).
fn from_logit(u: f64) -> Xy<f64> {
    (1.0 / (1.0 + (-u).exp()), 1.0 / (1.0 + u.exp()))
}

/// x2 − x1 computed from whichever representation loses less precision.
fn width<D: Scalar>(p1: Xy<D>, p2: Xy<D>) -> D {
    if p1.0.re() + p2.0.re() > 1.0 {
        p1.1 - p2.1
    } else {
        p2.0 - p1.0
    }
}

/// Residuals of the common-tangent system for g (μ0 cancels):
/// F1 = μ(x1) − μ(x2), F2 = (g(x2) − g(x1))/(x2 − x1) − μ(x1)   \[both eV\].
fn tangent_residual<D: Scalar>(f: &FreeEnergy<D>, p1: Xy<D>, p2: Xy<D>) -> [D; 2] {
    let m1 = f.mu_xy(p1.0, p1.1);
    let chord = (f.g_xy(p2.0, p2.1) - f.g_xy(p1.0, p1.1)) / width(p1, p2);
    [m1 - f.mu_xy(p2.0, p2.1), chord - m1]
}

/// Jacobian of [`tangent_residual`] with respect to (x1, x2), f64.
fn tangent_jacobian(f: &FreeEnergy<f64>, p1: Xy<f64>, p2: Xy<f64>) -> [[f64; 2]; 2] {
    let (m1, m2) = (f.mu_xy(p1.0, p1.1), f.mu_xy(p2.0, p2.1));
    let (c1, c2) = (f.d2g_xy(p1.0, p1.1), f.d2g_xy(p2.0, p2.1));
    let dx = width(p1, p2);
    let chord = (f.g_xy(p2.0, p2.1) - f.g_xy(p1.0, p1.1)) / dx;
    [[c1, -c2], [(chord - m1) / dx - c1, (m2 - chord) / dx]]
}

/// Round-off level of the tangent residuals at (p1, p2) \[eV\]: the excess terms' rounding plus
/// k_B·T·ε/(x·(1−x)) for each logarithm.
fn residual_noise(f: &FreeEnergy<f64>, p1: Xy<f64>, p2: Xy<f64>) -> f64 {
    let scale: f64 = f.mu0.abs()
        + f.a.iter().map(|a| a.abs()).sum::<f64>()
        + f.b.iter().map(|b| b.abs()).sum::<f64>() * f.t
        + K_B_EV * f.t * (p1.0.ln().abs() + p1.1.ln().abs() + p2.0.ln().abs() + p2.1.ln().abs());
    64.0 * f64::EPSILON * scale
}

/// Damped Newton on the tangent system in logit variables u = ln(x/(1−x)), which keeps both
/// compositions inside (0, 1) and both x and 1 − x at full relative precision. Returns the
/// converged logits or None.
fn newton_tangent(f: &FreeEnergy<f64>, mut u1: f64, mut u2: f64) -> Option<(f64, f64)> {
    let norm = |r: [f64; 2]| r[0].abs().max(r[1].abs());
    let mut p1 = from_logit(u1);
    let mut p2 = from_logit(u2);
    let mut r = tangent_residual(f, p1, p2);
    for _ in 0..100 {
        if !norm(r).is_finite() {
            return None;
        }
        if norm(r) <= residual_noise(f, p1, p2) {
            return Some((u1, u2));
        }
        let j = tangent_jacobian(f, p1, p2);
        // Chain rule dx/du = x(1−x).
        let (s1, s2) = (p1.0 * p1.1, p2.0 * p2.1);
        let (a, b, c, d) = (j[0][0] * s1, j[0][1] * s2, j[1][0] * s1, j[1][1] * s2);
        let det = a * d - b * c;
        if det == 0.0 || !det.is_finite() {
            return None;
        }
        let du1 = -(d * r[0] - b * r[1]) / det;
        let du2 = -(-c * r[0] + a * r[1]) / det;
        let mut lam = 1.0;
        let mut accepted = false;
        for _ in 0..40 {
            let (n1, n2) = (u1 + lam * du1, u2 + lam * du2);
            if n1 < n2 && n1 > -700.0 && n2 < 700.0 {
                let (q1, q2) = (from_logit(n1), from_logit(n2));
                let rn = tangent_residual(f, q1, q2);
                if norm(rn).is_finite() && norm(rn) < norm(r) * (1.0 - 1e-4 * lam) {
                    let step = (n1 - u1).abs().max((n2 - u2).abs());
                    (u1, u2, p1, p2, r) = (n1, n2, q1, q2, rn);
                    accepted = true;
                    if step <= 1e-15 * (1.0 + u1.abs().max(u2.abs())) {
                        return Some((u1, u2));
                    }
                    break;
                }
            }
            lam *= 0.5;
        }
        if !accepted {
            // No further decrease possible: accept if already near round-off.
            return (norm(r) <= 1e3 * residual_noise(f, p1, p2)).then_some((u1, u2));
        }
    }
    (norm(r) <= 1e3 * residual_noise(f, p1, p2)).then_some((u1, u2))
}

/// Bracketing fallback: on the convex branches L = (l_lo, l_hi) ∋ u1 and R = (r_lo, r_hi) ∋ u2
/// (in logits) μ is increasing, so u1(m), u2(m) = μ⁻¹(m) on each branch, and
/// F(m) = g(x2) − g(x1) − m(x2 − x1) has dF/dm = −(x2 − x1) < 0: bisection on the slope m.
fn bracket_tangent(f: &FreeEnergy<f64>, l: (f64, f64), r: (f64, f64)) -> Option<(f64, f64)> {
    let mu_u = |u: f64| {
        let (x, y) = from_logit(u);
        f.mu_xy(x, y)
    };
    let inv = |m: f64, (lo, hi): (f64, f64)| bisect(|u| mu_u(u) - m, lo, hi);
    let m_lo = mu_u(l.0).max(mu_u(r.0));
    let m_hi = mu_u(l.1).min(mu_u(r.1));
    if m_lo.is_nan() || m_hi.is_nan() || m_lo >= m_hi {
        return None;
    }
    let big_f = |m: f64| {
        let (p1, p2) = (from_logit(inv(m, l)), from_logit(inv(m, r)));
        f.g_xy(p2.0, p2.1) - f.g_xy(p1.0, p1.1) - m * width(p1, p2)
    };
    if !(big_f(m_lo) > 0.0 && big_f(m_hi) < 0.0) {
        return None;
    }
    let m = bisect(big_f, m_lo, m_hi);
    Some((inv(m, l), inv(m, r)))
}

/// Does (u1, u2) solve the tangent system to round-off, with both points on stable branches
/// and g above the tangent line in between?
fn verify(f: &FreeEnergy<f64>, u1: f64, u2: f64, grid: &[f64]) -> bool {
    let (p1, p2) = (from_logit(u1), from_logit(u2));
    if u1.is_nan() || u2.is_nan() || u1 >= u2 || width(p1, p2) < 1e-9 {
        return false;
    }
    if !(f.d2g_xy(p1.0, p1.1) > 0.0 && f.d2g_xy(p2.0, p2.1) > 0.0) {
        return false;
    }
    let r = tangent_residual(f, p1, p2);
    if r[0].abs().max(r[1].abs()) > 1e-11 + 1e3 * residual_noise(f, p1, p2) {
        return false;
    }
    let m = f.mu_xy(p1.0, p1.1);
    let g1 = f.g_xy(p1.0, p1.1);
    grid.iter()
        .step_by(7)
        .filter(|&&x| x > p1.0 && x < p2.0)
        .all(|&x| f.g(x) - (g1 + m * (x - p1.0)) >= -1e-12)
}

fn logit(x: f64) -> f64 {
    (x / (1.0 - x)).ln()
}

/// All common tangents (miscibility gaps) of g at its temperature, ascending in x, solved to
/// round-off (residuals ~1e-15 eV). Empty when g is convex: above the critical temperature no
/// plateau is reported.
///
/// Method: the unstable regions (g'' < 0) are located on a scan grid; the lower convex hull of
/// g on that grid gives a starting pair for each gap containing one or more unstable regions;
/// damped Newton on (μ(x1) = μ(x2), chord slope = μ(x1)) in logit variables refines it, with a
/// slope-bisection fallback on the stable branches when Newton fails.
pub fn common_tangents(f: &FreeEnergy<f64>) -> Result<Vec<CommonTangent>, ThermoError> {
    common_tangents_from_spinodals(f, &spinodal_intervals(f)?)
}

/// [`common_tangents`] given the unstable intervals already found by [`spinodal_intervals`].
pub fn common_tangents_from_spinodals(
    f: &FreeEnergy<f64>,
    spin: &[(f64, f64)],
) -> Result<Vec<CommonTangent>, ThermoError> {
    f.validate()?;
    if spin.is_empty() {
        return Ok(Vec::new());
    }
    let f0 = without_mu0(f);
    let grid = scan_grid();
    let gv: Vec<f64> = grid.iter().map(|&x| f0.g(x)).collect();
    let hull = lower_hull_indices(grid, &gv)?;
    // Group the spinodal intervals by the hull edge that spans them.
    let mut gaps: Vec<(f64, f64, usize, usize)> = Vec::new(); // guess x1, x2, first, last spinodal
    for (k, &(lo, hi)) in spin.iter().enumerate() {
        let c = 0.5 * (lo + hi);
        let edge = hull
            .windows(2)
            .find(|w| grid[w[0]] < c && c < grid[w[1]] && w[1] > w[0] + 1)
            .map(|w| (grid[w[0]], grid[w[1]]));
        let (g1, g2) = edge.unwrap_or_else(|| {
            // Gap narrower than the grid (close to T_c): binodal ≈ √3 × spinodal half-width.
            let s = 3f64.sqrt();
            (
                (c - s * (c - lo)).max(c * 1e-3),
                (c + s * (hi - c)).min(1.0 - (1.0 - c) * 1e-3),
            )
        });
        match gaps.last_mut() {
            Some(last) if last.0 == g1 && last.1 == g2 => {
                last.3 = k;
            }
            _ => gaps.push((g1, g2, k, k)),
        }
    }
    let mut out = Vec::with_capacity(gaps.len());
    for (g1, g2, first, last) in gaps {
        let l = (
            if first == 0 {
                -700.0
            } else {
                logit(spin[first - 1].1)
            },
            logit(spin[first].0),
        );
        let r = (
            logit(spin[last].1),
            if last + 1 == spin.len() {
                700.0
            } else {
                logit(spin[last + 1].0)
            },
        );
        let in_branches = |(u1, u2): (f64, f64)| u1 >= l.0 && u1 <= l.1 && u2 >= r.0 && u2 <= r.1;
        let mut sol = newton_tangent(&f0, logit(g1), logit(g2))
            .filter(|&p| in_branches(p) && verify(&f0, p.0, p.1, grid));
        if sol.is_none() {
            sol = bracket_tangent(&f0, l, r)
                .map(|(a, b)| newton_tangent(&f0, a, b).unwrap_or((a, b)))
                .filter(|&p| verify(&f0, p.0, p.1, grid));
        }
        let (u1, u2) = sol.ok_or_else(|| ThermoError::SolverFailed {
            what: "common tangent".into(),
            detail: format!(
                "no converged tangent for the unstable region ({:.6}, {:.6}) at T = {} K",
                spin[first].0, spin[last].1, f.t
            ),
        })?;
        let ((x1, y1), (x2, y2)) = (from_logit(u1), from_logit(u2));
        let mu = (f.g_xy(x2, y2) - f.g_xy(x1, y1)) / width((x1, y1), (x2, y2));
        out.push(CommonTangent { x1, x2, y1, y2, mu });
    }
    Ok(out)
}

/// A miscibility gap with exact first derivatives: coexisting x1 < x2 (and y = 1 − x of each)
/// and the plateau chemical potential μ_p \[eV\], all in the dual scalar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseBoundary<D> {
    /// Composition of the Li-poor phase \[1\].
    pub x1: D,
    /// Composition of the Li-rich phase \[1\].
    pub x2: D,
    /// 1 − x1.
    pub y1: D,
    /// 1 − x2.
    pub y2: D,
    /// Plateau chemical potential μ_p = (g(x2) − g(x1))/(x2 − x1) \[eV per Li\].
    pub mu: D,
}

/// Lift an f64 common tangent to the dual scalar: one Newton step on the tangent system with
/// dual-valued parameters at the converged f64 point gives exact first derivatives
/// (implicit function theorem: dx/dp = −J⁻¹·∂F/∂p). The plateau is the chord slope, which is
/// stationary in x1 and x2 at the solution.
pub fn lift_tangent<D: Scalar>(f: &FreeEnergy<D>, ct: &CommonTangent) -> PhaseBoundary<D> {
    let f64f = without_mu0(&f.to_f64());
    let j = tangent_jacobian(&f64f, (ct.x1, ct.y1), (ct.x2, ct.y2));
    let c = |v: f64| D::from(v);
    let r = tangent_residual(f, (c(ct.x1), c(ct.y1)), (c(ct.x2), c(ct.y2)));
    let det = j[0][0] * j[1][1] - j[0][1] * j[1][0];
    let dx1 = -(r[0] * j[1][1] - r[1] * j[0][1]) / det;
    let dx2 = -(r[1] * j[0][0] - r[0] * j[1][0]) / det;
    let (x1, y1) = (dx1 + ct.x1, -dx1 + ct.y1);
    let (x2, y2) = (dx2 + ct.x2, -dx2 + ct.y2);
    let mu = (f.g_xy(x2, y2) - f.g_xy(x1, y1)) / width((x1, y1), (x2, y2));
    PhaseBoundary { x1, x2, y1, y2, mu }
}

/// All miscibility gaps of `f` with exact first derivatives (see [`common_tangents`],
/// [`lift_tangent`]).
pub fn phase_boundaries<D: Scalar>(
    f: &FreeEnergy<D>,
) -> Result<Vec<PhaseBoundary<D>>, ThermoError> {
    let tangents = common_tangents(&f.to_f64())?;
    Ok(tangents.iter().map(|ct| lift_tangent(f, ct)).collect())
}

/// Critical temperature \[K\]: the highest T at which g'' < 0 somewhere. g'' is linear in T,
/// g'' = P(x) + T·Q(x) with P = Σ a_k φ_k'', Q = Σ b_k φ_k'' + k_B/(x(1−x)), so
/// T_c = max_x τ(x), τ = −P/Q. The maximiser is found on the scan grid and refined by golden
/// section; the value is lifted to the dual scalar by the envelope theorem (dT_c/dp = ∂τ/∂p at
/// the fixed maximiser). Symmetric regular solution: T_c = Ω/(2k_B). A value ≤ 0 means the
/// solid solution is stable at every positive T. Returns the maximiser x_c as well.
///
/// Fails when Q ≤ 0 somewhere (b_k so negative that the mixture becomes unstable on heating:
/// no upper critical temperature).
pub fn critical_temperature<D: Scalar>(f: &FreeEnergy<D>) -> Result<(D, f64), ThermoError> {
    let ff = f.to_f64();
    // d2g at T = 0 has no ideal term: the pure excess curvature with A_k = a_k (resp. b_k).
    let fa = FreeEnergy {
        mu0: 0.0,
        a: ff.a.clone(),
        b: Vec::new(),
        t: 0.0,
    };
    let fb = FreeEnergy {
        mu0: 0.0,
        a: ff.b.clone(),
        b: Vec::new(),
        t: 0.0,
    };
    let pq = |x: f64| (fa.d2g(x), fb.d2g(x) + K_B_EV / (x * (1.0 - x)));
    let tau = |x: f64| {
        let (p, q) = pq(x);
        -p / q
    };
    let grid = scan_grid();
    let mut best = (f64::NEG_INFINITY, 0usize);
    for (i, &x) in grid.iter().enumerate() {
        let (p, q) = pq(x);
        if q.is_nan() || q <= 0.0 {
            return Err(ThermoError::NoCriticalTemperature { x, q });
        }
        let t = -p / q;
        if t > best.0 {
            best = (t, i);
        }
    }
    let i = best.1;
    let (a, b) = (grid[i.saturating_sub(1)], grid[(i + 1).min(grid.len() - 1)]);
    let (xc, tmax) = golden_min(|x| -tau(x), a, b);
    let xc = if -tmax >= best.0 { xc } else { grid[i] };
    // τ with dual parameters at the fixed maximiser.
    let x = D::from(xc);
    let fa = FreeEnergy {
        mu0: D::from(0.0),
        a: f.a.clone(),
        b: Vec::new(),
        t: D::from(0.0),
    };
    let fb = FreeEnergy {
        mu0: D::from(0.0),
        a: f.b.clone(),
        b: Vec::new(),
        t: D::from(0.0),
    };
    let q = fb.d2g(x) + K_B_EV / (xc * (1.0 - xc));
    Ok((-fa.d2g(x) / q, xc))
}

/// The equilibrium (convex-hull) chemical potential and its derivatives: μ of the solid
/// solution outside every miscibility gap, the plateau μ_p inside (x1, x2).
#[derive(Debug, Clone)]
pub struct Equilibrium<D> {
    /// The solid solution's free energy g(x).
    pub free_energy: FreeEnergy<D>,
    /// The miscibility gaps, in increasing x.
    pub gaps: Vec<PhaseBoundary<D>>,
}

impl<D: Scalar> Equilibrium<D> {
    /// Solve the gaps of `f` (f64) and lift them.
    pub fn new(f: FreeEnergy<D>) -> Result<Self, ThermoError> {
        let gaps = phase_boundaries(&f)?;
        Ok(Self {
            free_energy: f,
            gaps,
        })
    }

    /// The gap whose open interval (x1, x2) contains x (real parts), if any.
    pub fn gap_at(&self, x: f64) -> Option<&PhaseBoundary<D>> {
        self.gaps.iter().find(|g| x > g.x1.re() && x < g.x2.re())
    }

    /// Equilibrium chemical potential \[eV\]: the plateau μ_p inside a gap, μ(x) outside.
    pub fn mu(&self, x: f64) -> D {
        match self.gap_at(x) {
            Some(g) => g.mu,
            None => self.free_energy.mu(D::from(x)),
        }
    }

    /// Equilibrium thermodynamic factor (x/(k_B T))·∂μ_eq/∂x: 0 inside a gap (flat μ).
    pub fn thermodynamic_factor(&self, x: f64) -> D {
        match self.gap_at(x) {
            Some(_) => D::from(0.0),
            None => self.free_energy.thermodynamic_factor(D::from(x)),
        }
    }

    /// Equilibrium dμ_eq/dT \[eV/K\]: ∂μ/∂T outside a gap; inside, by the envelope theorem,
    /// dμ_p/dT = (∂g/∂T(x2) − ∂g/∂T(x1))/(x2 − x1).
    pub fn dmu_dt(&self, x: f64) -> D {
        match self.gap_at(x) {
            Some(g) => {
                let f = &self.free_energy;
                (f.dg_dt_xy(g.x2, g.y2) - f.dg_dt_xy(g.x1, g.y1))
                    / width((g.x1, g.y1), (g.x2, g.y2))
            }
            None => self.free_energy.dmu_dt(D::from(x)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::K_B_EV;

    /// LiFePO4 regular-solution interaction, Cogswell & Bazant, ACS Nano 6, 2215 (2012):
    /// Ω = 115.8 meV/site, T_c = Ω/(2k_B) ≈ 672 K (shared/reference/atomistic_literature.md §2).
    const OMEGA_LFP: f64 = 0.1158;
    const MU0_LFP: f64 = -3.42;

    fn check_tangent(f: &FreeEnergy<f64>, ct: &CommonTangent) {
        let (m1, m2) = (f.mu_xy(ct.x1, ct.y1), f.mu_xy(ct.x2, ct.y2));
        assert!((m1 - m2).abs() < 1e-10, "mu(x1) = {m1}, mu(x2) = {m2}");
        let lhs = f.g_xy(ct.x2, ct.y2) - f.g_xy(ct.x1, ct.y1);
        let rhs = m1 * width((ct.x1, ct.y1), (ct.x2, ct.y2));
        assert!((lhs - rhs).abs() < 1e-10, "tangent: {lhs} vs {rhs}");
        assert!((ct.mu - m1).abs() < 1e-10);
        // g lies on or above the tangent line everywhere (it is the convex hull).
        for i in 1..2000 {
            let x = i as f64 / 2000.0;
            assert!(
                f.g(x) - (f.g(ct.x1) + m1 * (x - ct.x1)) > -1e-12,
                "g below tangent at {x}"
            );
        }
    }

    #[test]
    fn symmetric_regular_solution_critical_temperature() {
        let t_c_exact = OMEGA_LFP / (2.0 * K_B_EV);
        assert!((t_c_exact - 672.0).abs() < 0.5, "{t_c_exact}");
        let f = FreeEnergy::regular_solution(OMEGA_LFP, MU0_LFP, 300.0);
        let (t_c, xc) = critical_temperature(&f).unwrap();
        assert!(
            (t_c - t_c_exact).abs() < 1e-9 * t_c_exact,
            "{t_c} vs {t_c_exact}"
        );
        assert!((xc - 0.5).abs() < 1e-6);
        // Just below T_c the spinodal and binodal close in on x = ½, with the mean-field ratio
        // of widths (x2 − x1)/(s2 − s1) → √3.
        for eps in [1e-2, 1e-3, 1e-4] {
            let f = FreeEnergy::regular_solution(OMEGA_LFP, MU0_LFP, t_c_exact * (1.0 - eps));
            let sp = spinodal_intervals(&f).unwrap();
            let ct = common_tangents(&f).unwrap();
            assert_eq!((sp.len(), ct.len()), (1, 1), "eps {eps}");
            let (s1, s2) = sp[0];
            let (x1, x2) = (ct[0].x1, ct[0].x2);
            assert!(x1 < s1 && s1 < 0.5 && 0.5 < s2 && s2 < x2);
            assert!((x2 - 0.5).abs() < 2.0 * eps.sqrt(), "eps {eps}: x2 {x2}");
            let ratio = (x2 - x1) / (s2 - s1);
            assert!(
                (ratio - 3f64.sqrt()).abs() < 3.0 * eps,
                "eps {eps}: ratio {ratio}"
            );
            check_tangent(&f, &ct[0]);
        }
        // A gap much narrower than the scan grid (spinodal width ≈ √ε = 3e-5) is still found.
        let f = FreeEnergy::regular_solution(OMEGA_LFP, MU0_LFP, t_c_exact * (1.0 - 1e-9));
        let ct = common_tangents(&f).unwrap();
        assert_eq!(ct.len(), 1);
        assert!(
            (ct[0].x2 - 0.5 - 0.5 * (3e-9f64).sqrt()).abs() < 1e-6,
            "{:?}",
            ct[0]
        );
        check_tangent(&f, &ct[0]);
        // Above T_c: no spinodal, no plateau reported.
        let f = FreeEnergy::regular_solution(OMEGA_LFP, MU0_LFP, t_c_exact * (1.0 + 1e-6));
        assert!(spinodal_intervals(&f).unwrap().is_empty());
        assert!(common_tangents(&f).unwrap().is_empty());
        let f = FreeEnergy::regular_solution(OMEGA_LFP, MU0_LFP, 800.0);
        assert!(common_tangents(&f).unwrap().is_empty());
    }

    #[test]
    fn binodal_equation_holds_for_lifepo4_at_room_temperature() {
        let t = 298.15;
        let f = FreeEnergy::regular_solution(OMEGA_LFP, MU0_LFP, t);
        let ct = common_tangents(&f).unwrap();
        assert_eq!(ct.len(), 1);
        let CommonTangent { x1, x2, mu, .. } = ct[0];
        for x in [x1, x2] {
            let lhs = (x / (1.0 - x)).ln();
            let rhs = OMEGA_LFP * (2.0 * x - 1.0) / (K_B_EV * t);
            assert!((lhs - rhs).abs() < 1e-10, "x = {x}: {lhs} vs {rhs}");
        }
        assert!((x1 + x2 - 1.0).abs() < 1e-12, "symmetric: {x1} + {x2}");
        assert!(
            (mu - MU0_LFP).abs() < 1e-12,
            "plateau μ = μ0 by symmetry: {mu}"
        );
        // Ω = 115.8 meV at 298 K gives a ~1.2 % solubility limit (the measured α ≈ 0.05 needs
        // a smaller Ω; atomistic_literature.md §2).
        assert!(x1 > 0.005 && x1 < 0.02, "{x1}");
        check_tangent(&f, &ct[0]);
        // Spinodals of the regular solution: x(1−x) = k_B T/(2Ω).
        let sp = spinodal_intervals(&f).unwrap();
        for s in [sp[0].0, sp[0].1] {
            assert!((s * (1.0 - s) - K_B_EV * t / (2.0 * OMEGA_LFP)).abs() < 1e-13);
        }
    }

    #[test]
    fn deep_miscibility_gap_at_low_temperature() {
        // Ω/k_BT ≈ 17: x1 ≈ e^{−Ω/k_BT} ≈ 3e-8, resolved by the logit-variable Newton.
        let (om, t) = (0.3, 200.0);
        let f = FreeEnergy::regular_solution(om, -1.0, t);
        let ct = common_tangents(&f).unwrap();
        assert_eq!(ct.len(), 1);
        let x1 = ct[0].x1;
        assert!(x1 > 1e-9 && x1 < 1e-7, "{x1}");
        let lhs = (x1 / (1.0 - x1)).ln();
        let rhs = om * (2.0 * x1 - 1.0) / (K_B_EV * t);
        assert!((lhs - rhs).abs() < 1e-9 * rhs.abs());
        check_tangent(&f, &ct[0]);
    }

    #[test]
    fn asymmetric_redlich_kister_common_tangent() {
        let f = FreeEnergy::redlich_kister(
            -3.9,
            vec![0.14, 0.04, -0.015, 0.01],
            vec![-2e-5, 1e-5, 0.0, 5e-6],
            320.0,
        );
        let ct = common_tangents(&f).unwrap();
        assert_eq!(ct.len(), 1);
        assert!(
            (ct[0].x1 + ct[0].x2 - 1.0).abs() > 1e-3,
            "asymmetric case expected"
        );
        check_tangent(&f, &ct[0]);
        // The slope-bisection fallback finds the same pair.
        let sp = spinodal_intervals(&f).unwrap();
        let (a, b) = bracket_tangent(
            &without_mu0(&f),
            (-700.0, logit(sp[0].0)),
            (logit(sp[0].1), 700.0),
        )
        .unwrap();
        let (a, b) = (from_logit(a).0, from_logit(b).0);
        assert!(
            (a - ct[0].x1).abs() < 1e-9 && (b - ct[0].x2).abs() < 1e-9,
            "{a} {b} vs {:?}",
            ct[0]
        );
    }

    #[test]
    fn two_miscibility_gaps() {
        // A_0 < 0 stabilises x = ½, a large A_2 destabilises the quarter points: two gaps.
        let f = FreeEnergy::redlich_kister(-2.0, vec![-0.05, 0.0, 0.8], vec![], 300.0);
        let sp = spinodal_intervals(&f).unwrap();
        let ct = common_tangents(&f).unwrap();
        assert_eq!(sp.len(), 2, "{sp:?}");
        assert_eq!(ct.len(), 2, "{ct:?}");
        assert!(ct[0].x2 < ct[1].x1);
        for c in &ct {
            check_tangent(&f, c);
        }
    }

    #[test]
    fn lifted_tangent_derivatives_match_finite_differences() {
        use num_dual::Dual64;
        let base = [0.14, 0.04, -0.015, -2e-5, 1e-5, -3.9, 320.0];
        let build =
            |p: &[f64]| FreeEnergy::redlich_kister(p[5], p[..3].to_vec(), p[3..5].to_vec(), p[6]);
        for i in 0..base.len() {
            let pd: Vec<Dual64> = base
                .iter()
                .enumerate()
                .map(|(j, &v)| Dual64::new(v, if i == j { 1.0 } else { 0.0 }))
                .collect();
            let fd = FreeEnergy::redlich_kister(pd[5], pd[..3].to_vec(), pd[3..5].to_vec(), pd[6]);
            let pb = phase_boundaries(&fd).unwrap()[0];
            let h = 1e-6 * base[i].abs();
            let (mut p, mut m) = (base.to_vec(), base.to_vec());
            p[i] += h;
            m[i] -= h;
            let cp = common_tangents(&build(&p)).unwrap()[0];
            let cm = common_tangents(&build(&m)).unwrap()[0];
            for (ad, fdv) in [
                (pb.x1.eps, (cp.x1 - cm.x1) / (2.0 * h)),
                (pb.x2.eps, (cp.x2 - cm.x2) / (2.0 * h)),
                (pb.mu.eps, (cp.mu - cm.mu) / (2.0 * h)),
            ] {
                assert!(
                    (ad - fdv).abs() < 1e-5 * ad.abs().max(1e-3),
                    "param {i}: AD {ad} vs FD {fdv}"
                );
            }
        }
    }
}

#[cfg(test)]
mod sweep {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// Seeded sweep over random Redlich–Kister free energies: the solver never fails, every
    /// tangent satisfies μ(x1) = μ(x2) and the tangent condition to 1e-10, and a gap exists
    /// exactly below the critical temperature.
    #[test]
    fn random_redlich_kister_tangents() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut n_gaps = 0;
        for case in 0..300 {
            let n = rng.random_range(1..=4usize);
            let a: Vec<f64> = (0..n)
                .map(|k| {
                    if k == 0 {
                        rng.random_range(0.0..0.3)
                    } else {
                        rng.random_range(-0.06..0.06)
                    }
                })
                .collect();
            let b: Vec<f64> = (0..n).map(|_| rng.random_range(-3e-5..3e-5)).collect();
            let t = rng.random_range(150.0..1000.0);
            let f = FreeEnergy::redlich_kister(rng.random_range(-4.0..-0.1), a, b, t);
            let ct = common_tangents(&f).unwrap_or_else(|e| panic!("case {case}: {f:?}: {e}"));
            for c in &ct {
                let (m1, m2) = (f.mu_xy(c.x1, c.y1), f.mu_xy(c.x2, c.y2));
                let tangent = f.g_xy(c.x2, c.y2)
                    - f.g_xy(c.x1, c.y1)
                    - m1 * width((c.x1, c.y1), (c.x2, c.y2));
                assert!(
                    (m1 - m2).abs() < 1e-10 && tangent.abs() < 1e-10,
                    "case {case}: {f:?} {c:?}"
                );
            }
            n_gaps += ct.len();
            if let Ok((t_c, _)) = critical_temperature(&f) {
                if t < t_c * (1.0 - 1e-6) {
                    assert!(
                        !ct.is_empty(),
                        "case {case}: T {t} < T_c {t_c} but no gap: {f:?}"
                    );
                }
                if t > t_c * (1.0 + 1e-9) {
                    assert!(
                        ct.is_empty(),
                        "case {case}: T {t} > T_c {t_c} but gaps {ct:?}"
                    );
                }
            }
        }
        assert!(n_gaps > 50, "sweep should exercise gaps: {n_gaps}");
    }
}
