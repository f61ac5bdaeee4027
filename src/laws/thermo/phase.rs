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

/// Composition grid used to scan for unstable regions and initial tangent guesses: 4000
/// uniform points plus logarithmically spaced tails down to 1e-14 from each end.
fn scan_grid() -> Vec<f64> {
    let n = 4000;
    let mut v: Vec<f64> = (1..n).map(|i| i as f64 / n as f64).collect();
    let mut e = 4.0;
    while e <= 14.0 {
        let t = 10f64.powf(-e);
        v.push(t);
        v.push(1.0 - t);
        e += 0.25;
    }
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
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
    let d2: Vec<f64> = grid.iter().map(|&x| f.d2g(x)).collect();
    let mut out = Vec::new();
    let mut start: Option<f64> = None;
    for i in 0..grid.len() {
        let neg = d2[i] < 0.0;
        match (start, neg) {
            (None, true) => {
                start = Some(if i == 0 {
                    grid[0]
                } else {
                    bisect(|x| f.d2g(x), grid[i - 1], grid[i])
                });
            }
            (Some(s), false) => {
                out.push((s, bisect(|x| f.d2g(x), grid[i - 1], grid[i])));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, grid[grid.len() - 1]));
    }
    Ok(out)
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
/// g(x2) − g(x1) = μ·(x2 − x1). `mu` [eV] is the plateau chemical potential.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommonTangent {
    pub x1: f64,
    pub x2: f64,
    pub mu: f64,
}

/// Residuals of the common-tangent system for g (μ0 cancels):
/// F1 = μ(x1) − μ(x2), F2 = (g(x2) − g(x1))/(x2 − x1) − μ(x1)   [both eV].
fn tangent_residual<D: Scalar>(f: &FreeEnergy<D>, x1: D, x2: D) -> [D; 2] {
    let m1 = f.mu(x1);
    let chord = (f.g(x2) - f.g(x1)) / (x2 - x1);
    [m1 - f.mu(x2), chord - m1]
}

/// Jacobian of [`tangent_residual`] with respect to (x1, x2), f64.
fn tangent_jacobian(f: &FreeEnergy<f64>, x1: f64, x2: f64) -> [[f64; 2]; 2] {
    let (m1, m2) = (f.mu(x1), f.mu(x2));
    let (c1, c2) = (f.d2g(x1), f.d2g(x2));
    let dx = x2 - x1;
    let chord = (f.g(x2) - f.g(x1)) / dx;
    [[c1, -c2], [(chord - m1) / dx - c1, (m2 - chord) / dx]]
}

/// Damped Newton on the tangent system in logit variables u = ln(x/(1−x)), which keeps both
/// compositions inside (0, 1). Returns the converged pair or None.
fn newton_tangent(f: &FreeEnergy<f64>, mut x1: f64, mut x2: f64) -> Option<(f64, f64)> {
    let norm = |r: [f64; 2]| r[0].abs().max(r[1].abs());
    let mut r = tangent_residual(f, x1, x2);
    for _ in 0..100 {
        if !norm(r).is_finite() {
            return None;
        }
        let j = tangent_jacobian(f, x1, x2);
        // Chain rule dx/du = x(1−x).
        let (s1, s2) = (x1 * (1.0 - x1), x2 * (1.0 - x2));
        let (a, b, c, d) = (j[0][0] * s1, j[0][1] * s2, j[1][0] * s1, j[1][1] * s2);
        let det = a * d - b * c;
        if det == 0.0 || !det.is_finite() {
            return None;
        }
        let du1 = -(d * r[0] - b * r[1]) / det;
        let du2 = -(-c * r[0] + a * r[1]) / det;
        let (u1, u2) = ((x1 / (1.0 - x1)).ln(), (x2 / (1.0 - x2)).ln());
        let mut lam = 1.0;
        let mut accepted = false;
        for _ in 0..40 {
            let n1 = 1.0 / (1.0 + (-(u1 + lam * du1)).exp());
            let n2 = 1.0 / (1.0 + (-(u2 + lam * du2)).exp());
            if n1 > 0.0 && n2 < 1.0 && n1 < n2 {
                let rn = tangent_residual(f, n1, n2);
                if norm(rn).is_finite() && norm(rn) < norm(r) * (1.0 - 1e-4 * lam) {
                    let step = (n1 - x1).abs().max((n2 - x2).abs());
                    x1 = n1;
                    x2 = n2;
                    r = rn;
                    accepted = true;
                    if step <= 1e-15 * x2.max(1e-300) || norm(r) < 1e-15 {
                        return Some((x1, x2));
                    }
                    break;
                }
            }
            lam *= 0.5;
        }
        if !accepted {
            // No further decrease possible: accept if already at round-off level.
            return (norm(r) < 1e-12).then_some((x1, x2));
        }
    }
    (norm(r) < 1e-12).then_some((x1, x2))
}

/// Bracketing fallback: on the convex branches L = (l_lo, l_hi) ∋ x1 and R = (r_lo, r_hi) ∋ x2
/// μ is increasing, so x1(m), x2(m) = μ⁻¹(m) on each branch, and
/// F(m) = g(x2) − g(x1) − m(x2 − x1) has dF/dm = −(x2 − x1) < 0: bisection on the slope m.
fn bracket_tangent(f: &FreeEnergy<f64>, l: (f64, f64), r: (f64, f64)) -> Option<(f64, f64)> {
    let inv = |m: f64, (lo, hi): (f64, f64)| bisect(|x| f.mu(x) - m, lo, hi);
    let m_lo = f.mu(l.0).max(f.mu(r.0));
    let m_hi = f.mu(l.1).min(f.mu(r.1));
    if !(m_lo < m_hi) {
        return None;
    }
    let big_f = |m: f64| {
        let (x1, x2) = (inv(m, l), inv(m, r));
        f.g(x2) - f.g(x1) - m * (x2 - x1)
    };
    if !(big_f(m_lo) > 0.0 && big_f(m_hi) < 0.0) {
        return None;
    }
    let m = bisect(big_f, m_lo, m_hi);
    Some((inv(m, l), inv(m, r)))
}

/// Does (x1, x2) solve the tangent system to round-off, with both points on stable branches
/// and g above the tangent line in between?
fn verify(f: &FreeEnergy<f64>, x1: f64, x2: f64, grid: &[f64]) -> bool {
    if !(x1 > 0.0 && x1 < x2 && x2 < 1.0) || x2 - x1 < 1e-9 {
        return false;
    }
    if !(f.d2g(x1) > 0.0 && f.d2g(x2) > 0.0) {
        return false;
    }
    let r = tangent_residual(f, x1, x2);
    if r[0].abs().max(r[1].abs()) > 1e-11 {
        return false;
    }
    let m = f.mu(x1);
    let g1 = f.g(x1);
    grid.iter()
        .filter(|&&x| x > x1 && x < x2)
        .all(|&x| f.g(x) - (g1 + m * (x - x1)) >= -1e-12)
}

/// All common tangents (miscibility gaps) of g at its temperature, ascending in x, solved to
/// round-off (residuals below 1e-11 eV; in practice ~1e-15). Empty when g is convex: above the
/// critical temperature no plateau is reported.
///
/// Method: the unstable regions (g'' < 0) are located on a scan grid; the lower convex hull of
/// g on that grid gives a starting pair for each gap containing one or more unstable regions;
/// damped Newton on (μ(x1) = μ(x2), chord slope = μ(x1)) in logit variables refines it, with a
/// slope-bisection fallback on the stable branches when Newton fails.
pub fn common_tangents(f: &FreeEnergy<f64>) -> Result<Vec<CommonTangent>, ThermoError> {
    let spin = spinodal_intervals(f)?;
    if spin.is_empty() {
        return Ok(Vec::new());
    }
    let f0 = without_mu0(f);
    let grid = scan_grid();
    let gv: Vec<f64> = grid.iter().map(|&x| f0.g(x)).collect();
    let hull = lower_hull_indices(&grid, &gv)?;
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
            Some(last) if (last.0 - g1).abs() < 1e-300 && (last.1 - g2).abs() < 1e-300 => {
                last.3 = k;
            }
            _ => gaps.push((g1, g2, k, k)),
        }
    }
    let mut out = Vec::with_capacity(gaps.len());
    for (g1, g2, first, last) in gaps {
        let l = (
            if first == 0 { 0.0 } else { spin[first - 1].1 },
            spin[first].0,
        );
        let r = (
            spin[last].1,
            if last + 1 == spin.len() {
                1.0
            } else {
                spin[last + 1].0
            },
        );
        let in_branches = |(x1, x2): (f64, f64)| x1 >= l.0 && x1 <= l.1 && x2 >= r.0 && x2 <= r.1;
        let mut sol =
            newton_tangent(&f0, g1, g2).filter(|&p| in_branches(p) && verify(&f0, p.0, p.1, &grid));
        if sol.is_none() {
            let tiny = 1e-300;
            let lb = (l.0.max(tiny), l.1);
            let rb = (r.0, r.1.min(1.0 - f64::EPSILON / 2.0));
            sol = bracket_tangent(&f0, lb, rb)
                .map(|(a, b)| newton_tangent(&f0, a, b).unwrap_or((a, b)))
                .filter(|&p| verify(&f0, p.0, p.1, &grid));
        }
        let (x1, x2) = sol.ok_or_else(|| ThermoError::SolverFailed {
            what: "common tangent".into(),
            detail: format!(
                "no converged tangent for the unstable region ({:.6}, {:.6}) at T = {} K",
                spin[first].0, spin[last].1, f.t
            ),
        })?;
        let mu = (f.g(x2) - f.g(x1)) / (x2 - x1);
        out.push(CommonTangent { x1, x2, mu });
    }
    Ok(out)
}

/// A miscibility gap with exact first derivatives: coexisting x1 < x2 and the plateau chemical
/// potential μ_p [eV], all in the dual scalar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseBoundary<D> {
    pub x1: D,
    pub x2: D,
    /// Plateau chemical potential μ_p = (g(x2) − g(x1))/(x2 − x1) [eV per Li].
    pub mu: D,
}

/// Lift an f64 common tangent to the dual scalar: one Newton step on the tangent system with
/// dual-valued parameters at the converged f64 point gives exact first derivatives
/// (implicit function theorem: dx/dp = −J⁻¹·∂F/∂p). The plateau is the chord slope, which is
/// stationary in x1 and x2 at the solution.
pub fn lift_tangent<D: Scalar>(f: &FreeEnergy<D>, ct: &CommonTangent) -> PhaseBoundary<D> {
    let f64f = without_mu0(&f.to_f64());
    let j = tangent_jacobian(&f64f, ct.x1, ct.x2);
    let r = tangent_residual(f, D::from(ct.x1), D::from(ct.x2));
    let det = j[0][0] * j[1][1] - j[0][1] * j[1][0];
    let dx1 = -(r[0] * j[1][1] - r[1] * j[0][1]) / det;
    let dx2 = -(r[1] * j[0][0] - r[0] * j[1][0]) / det;
    let x1 = dx1 + ct.x1;
    let x2 = dx2 + ct.x2;
    let mu = (f.g(x2) - f.g(x1)) / (x2 - x1);
    PhaseBoundary { x1, x2, mu }
}

/// All miscibility gaps of `f` with exact first derivatives (see [`common_tangents`],
/// [`lift_tangent`]).
pub fn phase_boundaries<D: Scalar>(
    f: &FreeEnergy<D>,
) -> Result<Vec<PhaseBoundary<D>>, ThermoError> {
    let tangents = common_tangents(&f.to_f64())?;
    Ok(tangents.iter().map(|ct| lift_tangent(f, ct)).collect())
}

/// Critical temperature [K]: the highest T at which g'' < 0 somewhere. g'' is linear in T,
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
    let pq = |x: f64| {
        let mut p = 0.0;
        let mut q = K_B_EV / (x * (1.0 - x));
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
        // d2g at T = 0 has no ideal term: the pure excess curvature with A_k = a_k (resp. b_k).
        p += fa.d2g(x);
        q += fb.d2g(x);
        (p, q)
    };
    let tau = |x: f64| {
        let (p, q) = pq(x);
        -p / q
    };
    let grid = scan_grid();
    let mut best = (f64::NEG_INFINITY, 0usize);
    for (i, &x) in grid.iter().enumerate() {
        let (_, q) = pq(x);
        if !(q > 0.0) {
            return Err(ThermoError::NoCriticalTemperature { x, q });
        }
        let t = tau(x);
        if t > best.0 {
            best = (t, i);
        }
    }
    let i = best.1;
    let (mut a, mut b) = (grid[i.saturating_sub(1)], grid[(i + 1).min(grid.len() - 1)]);
    let phi = 0.5 * (5f64.sqrt() - 1.0);
    let mut c = b - phi * (b - a);
    let mut d = a + phi * (b - a);
    for _ in 0..200 {
        if (b - a).abs() < 1e-15 {
            break;
        }
        if tau(c) > tau(d) {
            b = d;
        } else {
            a = c;
        }
        c = b - phi * (b - a);
        d = a + phi * (b - a);
    }
    let xc = 0.5 * (a + b);
    let xc = if tau(xc) >= best.0 { xc } else { grid[i] };
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
    pub free_energy: FreeEnergy<D>,
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

    /// Equilibrium chemical potential [eV]: the plateau μ_p inside a gap, μ(x) outside.
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

    /// Equilibrium dμ_eq/dT [eV/K]: ∂μ/∂T outside a gap; inside, by the envelope theorem,
    /// dμ_p/dT = (∂g/∂T(x2) − ∂g/∂T(x1))/(x2 − x1).
    pub fn dmu_dt(&self, x: f64) -> D {
        match self.gap_at(x) {
            Some(g) => {
                let f = &self.free_energy;
                (f.dg_dt(g.x2) - f.dg_dt(g.x1)) / (g.x2 - g.x1)
            }
            None => self.free_energy.dmu_dt(D::from(x)),
        }
    }
}
