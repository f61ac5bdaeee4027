//! Conservative finite-volume diffusion in a sphere with a variable-step BDF2 integrator and a Thomas solve.
//!
//! ∂c/∂t = (1/r²)·∂/∂r(r²·D·∂c/∂r), ∂c/∂r = 0 at r = 0, −D·∂c/∂r = q at r = R (q [mol/m²/s],
//! outward). N equal shells; unknowns are shell averages c_j. With v̂_j = ((j+1)³ − j³)/3 and
//! face weights â_j = j², the semi-discrete system is
//! v̂_j·dc_j/dt = (N/R)²·[â_{j+1}·D_{j+1/2}·(c_{j+1} − c_j) − â_j·D_{j−1/2}·(c_j − c_{j−1})] − δ_{j,N−1}·q·N³/R,
//! which conserves Σ v̂_j c_j exactly up to the boundary flux. Time stepping: BDF2 with variable
//! steps, (β0·c^{n+1} − β1·c^n + β2·c^{n−1})/h = f(c^{n+1}), ω = h_n/h_{n−1},
//! β0 = (1+2ω)/(1+ω), β1 = 1+ω, β2 = ω²/(1+ω); backward Euler (β0 = β1 = 1, β2 = 0) for a
//! start-up step. A concentration-dependent D is linearised at the extrapolated state
//! c* = c^n + ω·(c^n − c^{n−1}) (second order). The surface value uses the boundary flux:
//! c_s = (9c_{N−1} − c_{N−2})/8 − (3/8)·Δr·q/D_s (exact for quadratic profiles).

use super::ocp::Coefficient;
use crate::model::Scalar;
use std::sync::{Arc, Mutex, OnceLock};

/// BDF coefficients (β0, β1, β2) for one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bdf {
    pub b0: f64,
    pub b1: f64,
    pub b2: f64,
}

impl Bdf {
    /// Backward Euler.
    pub const EULER: Bdf = Bdf {
        b0: 1.0,
        b1: 1.0,
        b2: 0.0,
    };
    /// Variable-step BDF2 with step ratio ω = h_n/h_{n−1}.
    pub fn bdf2(omega: f64) -> Bdf {
        Bdf {
            b0: (1.0 + 2.0 * omega) / (1.0 + omega),
            b1: 1.0 + omega,
            b2: omega * omega / (1.0 + omega),
        }
    }
}

/// Solve a tridiagonal system in place: `l` sub-, `d` main, `u` super-diagonal, `r` rhs → solution.
/// `cp` is scratch of length n. Thomas algorithm (no pivoting; the matrices here are M-matrices).
#[inline]
pub fn thomas<D: Scalar>(l: &[D], d: &[D], u: &[D], r: &mut [D], cp: &mut [D]) {
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

/// One particle: geometry, state and preallocated work arrays.
#[derive(Debug, Clone)]
pub struct Particle<D> {
    n: usize,
    vhat: Vec<f64>,
    /// (N/R)²
    k: D,
    /// N³/R
    kb: D,
    /// Δr = R/N
    dr: D,
    c_max: D,
    /// Current and previous shell-average concentrations [mol/m³].
    pub c: Vec<D>,
    c_old: Vec<D>,
    // work
    l: Vec<D>,
    d: Vec<D>,
    u: Vec<D>,
    g: Vec<D>,
    r: Vec<D>,
    cp: Vec<D>,
    // cached factorisation for constant D: key (h, b0)
    fac_key: (f64, f64),
    fac_cp: Vec<D>,
    fac_m: Vec<D>,
    /// Modal form (constant D): basis, modal state y, previous y, cached 1/(β0 + h·λ_k).
    modal: Option<Arc<ModalBasis>>,
    y: Vec<D>,
    y_old: Vec<D>,
    inv: Vec<D>,
    lam: Vec<D>,
    radius: D,
}

/// Eigen-decomposition of the shell operator for `n` shells (independent of D and R):
/// v̂·dc/dt = −(D/R²)·N²·L̂·c − e_{N−1}·q·N³/R with L̂ symmetric tridiagonal. With
/// S = V̂^{−1/2}·L̂·V̂^{−1/2} = Q·diag(μ)·Qᵀ and modes y = Qᵀ·V̂^{1/2}·c, every mode obeys
/// dy_k/dt = −(D·N²·μ_k/R²)·y_k − G_k·q/R, so a BDF2 step is a scalar update per mode and
/// all dependence on D and R sits in the scalars λ_k = D·N²·μ_k/R² — exactly the same discrete
/// solution as the tridiagonal solve, but without its serial recurrence.
#[derive(Debug, Clone)]
pub struct ModalBasis {
    n: usize,
    /// N²·μ_k
    mu: Vec<f64>,
    /// G_k = Q_{N−1,k}·v̂_{N−1}^{−1/2}·N³
    g: Vec<f64>,
    /// rows of c = V̂^{−1/2}·Q·y for the outer, second-outer and centre shells
    row_last: Vec<f64>,
    row_prev: Vec<f64>,
    row_centre: Vec<f64>,
    /// average: c̄ = Σ_k row_avg_k·y_k
    row_avg: Vec<f64>,
    /// modes of a uniform unit concentration
    init: Vec<f64>,
    /// full reconstruction matrix P (row-major n×n)
    p: Vec<f64>,
}

impl ModalBasis {
    fn build(n: usize) -> Self {
        let nf = n as f64;
        let vhat: Vec<f64> = (0..n)
            .map(|j| (((j + 1) as f64).powi(3) - (j as f64).powi(3)) / 3.0)
            .collect();
        let mut l = nalgebra::DMatrix::<f64>::zeros(n, n);
        for j in 0..n {
            let a_lo = (j * j) as f64;
            let a_hi = if j + 1 < n {
                ((j + 1) * (j + 1)) as f64
            } else {
                0.0
            };
            l[(j, j)] = (a_lo + a_hi) / vhat[j];
            if j + 1 < n {
                let v = -a_hi / (vhat[j] * vhat[j + 1]).sqrt();
                l[(j, j + 1)] = v;
                l[(j + 1, j)] = v;
            }
        }
        let eig = nalgebra::SymmetricEigen::new(l);
        let q = eig.eigenvectors;
        let mu: Vec<f64> = eig
            .eigenvalues
            .iter()
            .map(|m| m.max(0.0) * nf * nf)
            .collect();
        let isq: Vec<f64> = vhat.iter().map(|v| 1.0 / v.sqrt()).collect();
        let sq: Vec<f64> = vhat.iter().map(|v| v.sqrt()).collect();
        let g = (0..n)
            .map(|k| q[(n - 1, k)] * isq[n - 1] * nf.powi(3))
            .collect();
        let row = |j: usize| (0..n).map(|k| isq[j] * q[(j, k)]).collect::<Vec<f64>>();
        let row_avg = (0..n)
            .map(|k| (0..n).map(|j| sq[j] * q[(j, k)]).sum::<f64>() * 3.0 / nf.powi(3))
            .collect();
        let init = (0..n)
            .map(|k| (0..n).map(|j| q[(j, k)] * sq[j]).sum::<f64>())
            .collect();
        let mut p = vec![0.0; n * n];
        for j in 0..n {
            for k in 0..n {
                p[j * n + k] = isq[j] * q[(j, k)];
            }
        }
        Self {
            n,
            mu,
            g,
            row_last: row(n - 1),
            row_prev: row(n.saturating_sub(2)),
            row_centre: row(0),
            row_avg,
            init,
            p,
        }
    }

    /// The basis for `n` shells, built once per process and shared.
    pub fn get(n: usize) -> Arc<ModalBasis> {
        static CACHE: OnceLock<Mutex<Vec<Arc<ModalBasis>>>> = OnceLock::new();
        let m = CACHE.get_or_init(|| Mutex::new(Vec::new()));
        let mut v = match m.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(b) = v.iter().find(|b| b.n == n) {
            return b.clone();
        }
        let b = Arc::new(Self::build(n));
        v.push(b.clone());
        b
    }
}

/// Dot product with four independent partial sums (breaks the add-latency chain).
#[inline]
fn dot<D: Scalar>(row: &[f64], y: &[D]) -> D {
    let n = row.len().min(y.len());
    let (mut s0, mut s1, mut s2, mut s3) = (D::zero(), D::zero(), D::zero(), D::zero());
    let mut k = 0;
    while k + 4 <= n {
        s0 += y[k] * row[k];
        s1 += y[k + 1] * row[k + 1];
        s2 += y[k + 2] * row[k + 2];
        s3 += y[k + 3] * row[k + 3];
        k += 4;
    }
    while k < n {
        s0 += y[k] * row[k];
        k += 1;
    }
    (s0 + s1) + (s2 + s3)
}

impl<D: Scalar> Particle<D> {
    /// A particle of radius `radius` [m] with `n` shells, uniform initial concentration `c0`;
    /// `modal` selects the modal solver (valid only for a constant diffusivity).
    pub fn new(n: usize, radius: D, c_max: D, c0: D, modal: bool) -> Self {
        let nf = n as f64;
        let vhat = (0..n)
            .map(|j| (((j + 1) as f64).powi(3) - (j as f64).powi(3)) / 3.0)
            .collect();
        let z = D::zero();
        Self {
            n,
            vhat,
            k: (radius / nf).recip().powi(2),
            kb: radius.recip() * nf.powi(3),
            dr: radius / nf,
            c_max,
            c: vec![c0; n],
            c_old: vec![c0; n],
            l: vec![z; n],
            d: vec![z; n],
            u: vec![z; n],
            g: vec![z; n + 1],
            r: vec![z; n],
            cp: vec![z; n],
            fac_key: (f64::NAN, f64::NAN),
            fac_cp: vec![z; n],
            fac_m: vec![z; n],
            y: Vec::new(),
            y_old: Vec::new(),
            inv: Vec::new(),
            lam: Vec::new(),
            radius,
            modal: None,
        }
        .with_modal(modal, c0)
    }

    fn with_modal(mut self, modal: bool, c0: D) -> Self {
        if modal {
            let b = ModalBasis::get(self.n);
            self.y = b.init.iter().map(|&v| c0 * v).collect();
            self.y_old = self.y.clone();
            self.inv = vec![D::zero(); self.n];
            self.lam = vec![D::zero(); self.n];
            self.modal = Some(b);
        }
        self
    }

    /// Recompute the shell concentrations `c` from the modes (modal form only; a no-op otherwise).
    pub fn sync(&mut self) {
        if let Some(b) = &self.modal {
            let n = self.n;
            for j in 0..n {
                self.c[j] = dot(&b.p[j * n..(j + 1) * n], &self.y);
            }
        }
    }

    /// Whether the modal solver is in use.
    pub fn is_modal(&self) -> bool {
        self.modal.is_some()
    }

    /// Number of shells.
    pub fn shells(&self) -> usize {
        self.n
    }

    /// Volume-average concentration c̄ = Σ v̂_j c_j / (N³/3) [mol/m³].
    pub fn average(&self) -> D {
        if let Some(b) = &self.modal {
            return dot(&b.row_avg, &self.y);
        }
        let mut s = D::zero();
        for j in 0..self.n {
            s += self.c[j] * self.vhat[j];
        }
        s / ((self.n as f64).powi(3) / 3.0)
    }

    /// Surface concentration given the outward flux q [mol/m²/s] and the surface diffusivity.
    #[inline]
    pub fn surface(&self, q: D, d_surf: D) -> D {
        let n = self.n;
        if let Some(b) = &self.modal {
            let cl = dot(&b.row_last, &self.y);
            let cp = dot(&b.row_prev, &self.y);
            return cl * (9.0 / 8.0) - cp * (1.0 / 8.0) - q * self.dr / d_surf * (3.0 / 8.0);
        }
        if n == 1 {
            return self.c[0] - q * self.dr / d_surf * 0.5;
        }
        self.c[n - 1] * (9.0 / 8.0)
            - self.c[n - 2] * (1.0 / 8.0)
            - q * self.dr / d_surf * (3.0 / 8.0)
    }

    /// Minimum and maximum shell concentration (real parts).
    pub fn min_max(&self) -> (f64, f64) {
        if let Some(b) = &self.modal {
            // extremes of a diffusing sphere with a boundary flux sit at the centre or the outer shell
            let a = dot(&b.row_centre, &self.y).re();
            let c = dot(&b.row_last, &self.y).re();
            return (a.min(c), a.max(c));
        }
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for c in &self.c {
            lo = lo.min(c.re());
            hi = hi.max(c.re());
        }
        (lo, hi)
    }

    /// Advance one step of size `h` [s] with BDF coefficients `bdf`, outward flux `q` at the new
    /// time [mol/m²/s], diffusivity D(θ)·`dfac` [m²/s] (`dfac` the Arrhenius factor).
    /// `omega` is the step ratio used to extrapolate the state for a θ-dependent D.
    pub fn step(&mut self, h: f64, bdf: Bdf, omega: f64, q: D, diff: &Coefficient<D>, dfac: D) {
        let n = self.n;
        if let Some(b) = &self.modal {
            let key = (h, bdf.b0);
            let same = (key.0 - self.fac_key.0).abs() <= 1e-12 * h
                && (key.1 - self.fac_key.1).abs() <= 1e-12;
            if !same {
                let scale = diff.scale * dfac / (self.radius * self.radius);
                for k in 0..n {
                    self.lam[k] = scale * b.mu[k];
                    self.inv[k] = (self.lam[k] * h + bdf.b0).recip();
                }
                self.fac_key = key;
            }
            let u = q / self.radius * h;
            if bdf.b2 != 0.0 {
                for k in 0..n {
                    let ynew =
                        (self.y[k] * bdf.b1 - self.y_old[k] * bdf.b2 - u * b.g[k]) * self.inv[k];
                    self.y_old[k] = self.y[k];
                    self.y[k] = ynew;
                }
            } else {
                for k in 0..n {
                    let ynew = (self.y[k] * bdf.b1 - u * b.g[k]) * self.inv[k];
                    self.y_old[k] = self.y[k];
                    self.y[k] = ynew;
                }
            }
            return;
        }
        // rhs = v̂ (β1 c^n − β2 c^{n−1})/h, boundary flux
        for j in 0..n {
            let mut v = self.c[j] * bdf.b1;
            if bdf.b2 != 0.0 {
                v -= self.c_old[j] * bdf.b2;
            }
            self.r[j] = v * (self.vhat[j] / h);
        }
        self.r[n - 1] -= q * self.kb;
        if diff.is_constant() {
            let key = (h, bdf.b0);
            // reuse the factorisation when h and β0 agree to round-off (grid steps that are
            // equal up to the last bits of t1 − t0)
            let same = (key.0 - self.fac_key.0).abs() <= 1e-12 * h
                && (key.1 - self.fac_key.1).abs() <= 1e-12;
            if !same {
                let g = self.k * diff.scale * dfac;
                for j in 0..n {
                    let gl = if j > 0 {
                        g * ((j * j) as f64)
                    } else {
                        D::zero()
                    };
                    let gu = if j + 1 < n {
                        g * (((j + 1) * (j + 1)) as f64)
                    } else {
                        D::zero()
                    };
                    self.l[j] = -gl;
                    self.u[j] = -gu;
                    self.d[j] = gl + gu + self.vhat[j] * bdf.b0 / h;
                }
                // factorise
                let mut m = self.d[0].recip();
                self.fac_m[0] = m;
                self.fac_cp[0] = self.u[0] * m;
                for j in 1..n {
                    m = (self.d[j] - self.l[j] * self.fac_cp[j - 1]).recip();
                    self.fac_m[j] = m;
                    self.fac_cp[j] = self.u[j] * m;
                }
                self.fac_key = key;
            }
            // forward/back substitution with cached factors
            self.r[0] *= self.fac_m[0];
            for j in 1..n {
                let prev = self.r[j - 1];
                self.r[j] = (self.r[j] - self.l[j] * prev) * self.fac_m[j];
            }
            for j in (0..n - 1).rev() {
                let x = self.r[j + 1];
                self.r[j] -= self.fac_cp[j] * x;
            }
        } else {
            // face diffusivities at the extrapolated state
            let inv_cmax = self.c_max.recip();
            self.g[0] = D::zero();
            self.g[n] = D::zero();
            for j in 1..n {
                let a = self.c[j - 1] + (self.c[j - 1] - self.c_old[j - 1]) * omega;
                let b = self.c[j] + (self.c[j] - self.c_old[j]) * omega;
                let th = (a + b) * 0.5 * inv_cmax;
                self.g[j] = diff.eval(th) * dfac * self.k * ((j * j) as f64);
            }
            for j in 0..n {
                self.l[j] = -self.g[j];
                self.u[j] = -self.g[j + 1];
                self.d[j] = self.g[j] + self.g[j + 1] + self.vhat[j] * bdf.b0 / h;
            }
            thomas(&self.l, &self.d, &self.u, &mut self.r, &mut self.cp);
        }
        std::mem::swap(&mut self.c_old, &mut self.c);
        self.c.copy_from_slice(&self.r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Crank (1975) §6.3, eq. 6.44 (constant flux F0 into a sphere of radius a, initially C0),
    /// evaluated at the surface r = a:
    /// C − C0 = (F0·a/D)·[3Dt/a² + 1/5 − 2·Σ_n exp(−D·λ_n²·t/a²)/λ_n²], tan λ_n = λ_n.
    fn crank_surface(f0: f64, a: f64, dcoef: f64, t: f64) -> f64 {
        let mut s = 0.0;
        for n in 1..400 {
            // root of tan λ = λ in (nπ, nπ + π/2)
            let mut lam = (n as f64 + 0.5) * std::f64::consts::PI - 1e-3;
            for _ in 0..50 {
                let f = lam.tan() - lam;
                let df = 1.0 / lam.cos().powi(2) - 1.0;
                lam -= f / df;
            }
            s += (-dcoef * lam * lam * t / (a * a)).exp() / (lam * lam);
        }
        f0 * a / dcoef * (3.0 * dcoef * t / (a * a) + 0.2 - 2.0 * s)
    }

    fn run(n: usize, dt: f64, t_end: f64) -> (f64, f64) {
        let (m, t) = run_mode(n, dt, t_end, true);
        let (d, _) = run_mode(n, dt, t_end, false);
        // the modal and tridiagonal solvers give the same discrete solution
        assert!(
            (m - d).abs() <= 1e-9 * d.abs().max(1e-3),
            "modal {m} vs tridiagonal {d}"
        );
        (m, t)
    }

    fn run_mode(n: usize, dt: f64, t_end: f64, modal: bool) -> (f64, f64) {
        let (a, dc, q) = (5e-6, 1e-14, -1e-5); // q < 0: flux into the particle
        let mut p: Particle<f64> = Particle::new(n, a, 5e4, 1000.0, modal);
        let coef = Coefficient::constant(dc);
        let steps = (t_end / dt).round() as usize;
        let mut h_prev = dt;
        // start-up: graded backward Euler then BDF2
        let mut t = 0.0;
        let mut first = true;
        let mut hs = Vec::new();
        let mut h = dt / 1024.0;
        while t + h < dt * 0.999 {
            hs.push(h);
            t += h;
            h *= 2.0;
        }
        hs.push(dt - t);
        for _ in 1..steps {
            hs.push(dt);
        }
        for &h in &hs {
            let omega = h / h_prev;
            let bdf = if first { Bdf::EULER } else { Bdf::bdf2(omega) };
            p.step(h, bdf, omega, q, &coef, 1.0);
            first = false;
            h_prev = h;
        }
        let cs = p.surface(q, dc) - 1000.0;
        (cs, crank_surface(-q, a, dc, t_end))
    }

    #[test]
    fn matches_crank_series_and_converges_in_space() {
        let t_end = 500.0;
        let mut errs = Vec::new();
        for &n in &[10, 20, 40, 80] {
            let (num, exact) = run(n, 0.05, t_end);
            errs.push((num - exact).abs() / exact.abs());
        }
        assert!(errs[1] < 2e-3, "{errs:?}");
        let ord1 = (errs[1] / errs[2]).log2();
        let ord2 = (errs[2] / errs[3]).log2();
        assert!(
            ord1 > 1.7 && ord2 > 1.7,
            "spatial order {ord1} {ord2}; errors {errs:?}"
        );
    }

    #[test]
    fn converges_in_time_at_second_order() {
        let t_end = 400.0;
        let (reference, _) = run(20, 0.01, t_end);
        let mut errs = Vec::new();
        for &dt in &[8.0, 4.0, 2.0, 1.0] {
            let (v, _) = run(20, dt, t_end);
            errs.push((v - reference).abs());
        }
        for w in errs.windows(2) {
            let ord = (w[0] / w[1]).log2();
            assert!(ord > 1.8 && ord < 2.3, "temporal order {ord}: {errs:?}");
        }
    }

    #[test]
    fn inventory_is_conserved_by_zero_flux_steps_and_changes_by_flux() {
        for modal in [false, true] {
            let mut p: Particle<f64> = Particle::new(20, 5e-6, 5e4, 1000.0, modal);
            let coef = Coefficient::constant(1e-14);
            let q = 2e-5;
            let mut t = 0.0;
            let mut hp = 1.0;
            for k in 0..100 {
                let h = if k < 50 { 1.0 } else { 3.0 };
                let om = h / hp;
                p.step(
                    h,
                    if k == 0 { Bdf::EULER } else { Bdf::bdf2(om) },
                    om,
                    if k < 60 { q } else { 0.0 },
                    &coef,
                    1.0,
                );
                hp = h;
                t += h;
            }
            let _ = t;
            // after flux stops, the mean stays constant to round-off
            let m1 = p.average();
            for _ in 0..50 {
                p.step(3.0, Bdf::bdf2(1.0), 1.0, 0.0, &coef, 1.0);
            }
            let m2 = p.average();
            assert!((m1 - m2).abs() / m1 < 1e-13, "{m1} {m2}");
        }
    }
}
