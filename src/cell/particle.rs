//! Conservative finite-volume diffusion in a sphere with a variable-step BDF2 integrator and a Thomas solve.
//!
//! ∂c/∂t = (1/r²)·∂/∂r(r²·D·∂c/∂r), ∂c/∂r = 0 at r = 0, −D·∂c/∂r = q at r = R (q \[mol/m²/s\],
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
use crate::numerics::bdf::Bdf;
use crate::numerics::fastmath::exp_in_place;
use crate::numerics::modal::{advance_dot4, advance_dot4_steps, dot4, dotf};
use crate::numerics::tridiagonal;
use std::sync::{Arc, Mutex, OnceLock};

/// What a cached step operator was built for: step h \[s\], BDF β0 (1 for the exact step) and
/// the diffusion rate s = D·dfac/R² \[1/s\] (its value: within one solve the derivatives of s are
/// fixed by the parameters). A cache is reused only when all three agree to round-off, so a
/// diffusivity that changes between steps (temperature, a scaled D) is never stepped with the
/// coefficients of the old one.
#[derive(Debug, Clone, Copy)]
struct OperatorKey {
    h: f64,
    b0: f64,
    s: f64,
}

impl OperatorKey {
    const NONE: Self = Self {
        h: f64::NAN,
        b0: f64::NAN,
        s: f64::NAN,
    };

    #[inline(always)]
    fn matches(&self, h: f64, b0: f64, s: f64) -> bool {
        (h - self.h).abs() <= 1e-12 * h
            && (b0 - self.b0).abs() <= 1e-12
            && (s - self.s).abs() <= 1e-12 * s.abs()
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
    /// Current and previous shell-average concentrations \[mol/m³\] (tridiagonal form; the
    /// modal form fills them only on [`Particle::sync`]).
    pub c: Vec<D>,
    c_old: Vec<D>,
    // work
    l: Vec<D>,
    d: Vec<D>,
    u: Vec<D>,
    g: Vec<D>,
    r: Vec<D>,
    cp: Vec<D>,
    // cached factorisation for constant D
    fac_key: OperatorKey,
    fac_cp: Vec<D>,
    fac_m: Vec<D>,
    /// Flux per unit "current": the flux of a step is q = q_unit·cur (see [`Particle::step_current`]).
    q_unit: D,
    /// Modal form (constant D).
    modal: Option<Modal<D>>,
    radius: D,
    /// Reuse a cached factorisation whose key (h, β0 and the value of s) matches. Off in the
    /// tridiagonal form when the diffusivity's derivatives change between steps of one solve
    /// ([`Particle::let_diffusion_derivatives_vary`]): equal values then do not mean equal
    /// derivatives.
    reuse_operators: bool,
}

/// Modal state for a constant diffusivity. With the forcing of every step proportional to one
/// flux unit (q = q_unit·cur, cur real), the modes are y = c0·y⁰ + (q_unit/R)·z(s), where y⁰ are
/// the modes of the uniform initial state (the null mode of the operator: constant in time),
/// and z depends on the parameters only through s = D/R² \[1/s\]. So z is advanced in f64, and,
/// for first-order dual numbers, its derivative ż = ∂z/∂s by the tangent recursion
/// ż^{n+1}_k = inv_k·(β1·ż^n_k − β2·ż^{n−1}_k) − N²μ_k·h·inv_k·z^{n+1}_k; derivatives are then
/// restored by one chain-rule step, X = X(s.re) + (s − s.re)·∂X/∂s.
///
/// When s changes between steps with derivatives that change too (the Arrhenius factor of a
/// temperature that is a state, or of a measured temperature with an activation energy among
/// the inputs), z depends on every step's s, and one tangent no longer suffices: the
/// derivative parts of the modes are carried per input direction instead, as values of D
/// with a zero real part (`zv`), each step adding its own s's derivative times the step's
/// sensitivity to s: zv^{n+1} = A·zv^n + (∂z^{n+1}/∂s_n)·(s_n − s_n.re), A the step's
/// propagator (E for the exact step, the BDF2 recursion otherwise).
#[derive(Debug, Clone)]
struct Modal<D> {
    b: Arc<ModalBasis>,
    c0: D,
    /// q_unit/R
    qr: D,
    /// s = D·dfac/R² \[1/s\]
    s: D,
    /// one tangent ż = ∂z/∂s (first-order duals, s fixed for the solve)
    tangent: bool,
    /// per-direction derivative parts `zv` (first-order duals, s changing between steps)
    varying: bool,
    z: Vec<f64>,
    z_old: Vec<f64>,
    zd: Vec<f64>,
    zd_old: Vec<f64>,
    zv: Vec<D>,
    zv_old: Vec<D>,
    /// the derivative parts of the surface and average functionals (`varying`)
    fv: [D; 2],
    /// per (h, β0): a_k = β1·inv_k, c_k = β2·inv_k, e_k = G_k·inv_k, m_k = N²μ_k·h·inv_k
    ca: Vec<f64>,
    cc: Vec<f64>,
    ce: Vec<f64>,
    cm: Vec<f64>,
    /// The functionals of z after the last step, [surface, centre, outer shell, average]
    /// (rows of [`ModalBasis::rows`]), and the surface and average ones of ż.
    fz: [f64; 4],
    surf_d: f64,
    avg_d: f64,
    /// exact (exponential) steps: the step h these coefficients belong to, and per mode
    /// [E | P1 | P2] (3n values) with E_k = e^{−x}, P1_k = G_k·h·p1(x), P2_k = G_k·h·p2(x)
    /// (x = s·N²μ_k·h), and their s-derivatives (first-order duals only)
    ex_key: OperatorKey,
    ex: Vec<f64>,
    exd: Vec<f64>,
    /// a batch of exact steps ([`Particle::step_exact_batch`]): the states S_0..S_K
    /// ((K+1)·n values, S_0 the start), each step's functionals, the tangents' counterparts,
    /// and the step shown (Some(j): the particle stands as if stepped only up to step j)
    batch_z: Vec<f64>,
    batch_fz: Vec<[f64; 4]>,
    batch_zd: Vec<f64>,
    batch_fd: Vec<[f64; 2]>,
    shown: Option<usize>,
}

/// Terms of the φ-functions' Taylor series used below x = [`PHI_SERIES_MAX`].
const PHI_TERMS: usize = 18;

/// The φ-functions take their Taylor series below this x (above it, 1 − e^{−x} ≥ 0.39 and the
/// closed forms lose at most a factor ~5 to cancellation).
const PHI_SERIES_MAX: f64 = 0.5;

/// Taylor coefficients of the φ-functions (k = 0..PHI_TERMS): p1 = Σ (−1)^k x^k/(k+1)!,
/// p2 = Σ (−1)^k x^k/(k+2)!, p1′ = Σ −(k+1)(−1)^k x^k/(k+2)!, p2′ = Σ −(k+1)(−1)^k x^k/(k+3)!
/// (the first neglected term is below 10⁻¹⁹ at x = 0.5).
const PHI_SERIES: [[f64; 4]; PHI_TERMS] = {
    let mut t = [[0.0; 4]; PHI_TERMS];
    let mut k = 0;
    let mut f1 = 1.0; // (k+1)!
    while k < PHI_TERMS {
        let kf = k as f64;
        let f2 = f1 * (kf + 2.0);
        let f3 = f2 * (kf + 3.0);
        let sg = if k % 2 == 0 { 1.0 } else { -1.0 };
        t[k] = [
            sg / f1,
            sg / f2,
            -(kf + 1.0) * sg / f2,
            -(kf + 1.0) * sg / f3,
        ];
        f1 = f2;
        k += 1;
    }
    t
};

/// φ-functions of the exact step given x and e = e^{−x}: (p1, p2) with p1(x) = (1 − e^{−x})/x,
/// p2(x) = (1 − p1(x))/x (p1(0) = 1, p2(0) = ½); the Taylor series (Horner) below
/// x = [`PHI_SERIES_MAX`].
#[inline]
fn phi(x: f64, e: f64) -> (f64, f64) {
    if x < PHI_SERIES_MAX {
        let mut acc = [0.0f64; 2];
        for c in PHI_SERIES.iter().rev() {
            acc[0] = acc[0] * x + c[0];
            acc[1] = acc[1] * x + c[1];
        }
        (acc[0], acc[1])
    } else {
        let r = 1.0 / x;
        let p1 = (1.0 - e) * r;
        (p1, (1.0 - p1) * r)
    }
}

/// Derivatives (p1′, p2′) of the φ-functions given x, e = e^{−x}, p1 and p2:
/// p1′ = (e − p1)/x, p2′ = −(p1′ + p2)/x (series below x = [`PHI_SERIES_MAX`]).
#[inline]
fn phi_derivatives(x: f64, e: f64, p1: f64, p2: f64) -> (f64, f64) {
    if x < PHI_SERIES_MAX {
        let mut acc = [0.0f64; 2];
        for c in PHI_SERIES.iter().rev() {
            acc[0] = acc[0] * x + c[2];
            acc[1] = acc[1] * x + c[3];
        }
        (acc[0], acc[1])
    } else {
        let r = 1.0 / x;
        let d1 = (e - p1) * r;
        (d1, (-d1 - p2) * r)
    }
}

/// Σ_k row_k·v_k for derivative parts `v`.
#[inline]
fn dot_derivatives<D: Scalar>(row: &[f64], v: &[D]) -> D {
    row.iter()
        .zip(v)
        .fold(D::zero(), |acc, (&r, &x)| acc + x * r)
}

impl<D: Scalar> Modal<D> {
    /// A functional of the modes with its derivatives from its value `x`, its s-tangent `xd`
    /// (`tangent`: X = x + (s − s.re)·xd) or its derivative parts `xv` (`varying`).
    #[inline]
    fn lift(&self, x: f64, xd: f64, xv: D) -> D {
        if self.tangent {
            (self.s - self.s.re()) * xd + x
        } else if self.varying {
            xv + x
        } else {
            D::from(x)
        }
    }

    /// After a step that wrote `zv`: the derivative parts of the surface and average.
    #[inline]
    fn update_derivative_functionals(&mut self) {
        self.fv = [
            dot_derivatives(&self.b.row_surf, &self.zv),
            dot_derivatives(&self.b.row_avg, &self.zv),
        ];
    }
    /// The exact step's coefficients [E | P1 | P2] for step `h` \[s\] and s = `s` (and their
    /// s-derivatives for first-order duals), unless those of a step equal to `h` up to
    /// round-off are in place. Computed out of line: a solve needs them only when the step
    /// changes (the cut-off search's trial steps, a segment's last step).
    #[inline(always)]
    fn exact_coefficients_for(&mut self, h: f64, s: D) {
        self.s = s;
        if !self.ex_key.matches(h, 1.0, s.re()) {
            self.exact_coefficients(h);
        }
    }

    #[inline(never)]
    fn exact_coefficients(&mut self, h: f64) {
        let n = self.b.n;
        let s = self.s.re();
        let b = &self.b;
        let (xe, xp) = self.ex.split_at_mut(n);
        let (x1, x2) = xp.split_at_mut(n);
        // e^{−x_k} of all modes in one batched call (the cut-off search re-does this for
        // every trial step)
        for k in 0..n {
            xe[k] = -(s * (b.mu[k] * h));
        }
        exp_in_place(xe);
        for k in 0..n {
            let x = s * (b.mu[k] * h);
            let (p1, p2) = phi(x, xe[k]);
            let gh = b.g[k] * h;
            x1[k] = gh * p1;
            x2[k] = gh * p2;
            if self.tangent || self.varying {
                let mh = b.mu[k] * h;
                let (d1, d2) = phi_derivatives(x, xe[k], p1, p2);
                self.exd[k] = -mh * xe[k];
                self.exd[n + k] = gh * mh * d1;
                self.exd[2 * n + k] = gh * mh * d2;
            }
        }
        self.ex_key = OperatorKey { h, b0: 1.0, s };
    }

    /// Make the shown step of a batch the state: z_old, z (and tangents) the states before and
    /// after it.
    #[inline]
    fn materialize(&mut self) {
        let Some(j) = self.shown.take() else {
            return;
        };
        let n = self.b.n;
        self.z_old
            .copy_from_slice(&self.batch_z[j * n..(j + 1) * n]);
        self.z
            .copy_from_slice(&self.batch_z[(j + 1) * n..(j + 2) * n]);
        self.fz = self.batch_fz[j];
        if self.tangent {
            self.zd_old
                .copy_from_slice(&self.batch_zd[j * n..(j + 1) * n]);
            self.zd
                .copy_from_slice(&self.batch_zd[(j + 1) * n..(j + 2) * n]);
            [self.surf_d, self.avg_d] = self.batch_fd[j];
        }
    }

    /// Value of the linear functional `row` of the modes.
    fn functional(&self, row: &[f64], row_init: f64) -> D {
        let x = dotf(row, &self.z);
        let xd = if self.tangent {
            dotf(row, &self.zd)
        } else {
            0.0
        };
        let xv = if self.varying {
            dot_derivatives(row, &self.zv)
        } else {
            D::zero()
        };
        self.c0 * row_init + self.qr * self.lift(x, xd, xv)
    }
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
    /// surface row (9·row_last − row_prev)/8
    row_surf: Vec<f64>,
    /// average: c̄ = Σ_k row_avg_k·y_k
    row_avg: Vec<f64>,
    /// [surface, centre shell, outer shell, average] rows (rows of c = V̂^{−1/2}·Q·y for the
    /// shells) one after the other: rows[i·n + k] = row_i[k], so one pass over the modes
    /// evaluates all four (see [`dot4`])
    rows: Vec<f64>,
    /// the rows above applied to the modes of a uniform unit concentration
    last0: f64,
    centre0: f64,
    surf0: f64,
    avg0: f64,
    /// full reconstruction matrix P (row-major n×n) and P·init
    p: Vec<f64>,
    p0: Vec<f64>,
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
        let mut mu: Vec<f64> = eig
            .eigenvalues
            .iter()
            .map(|m| m.max(0.0) * nf * nf)
            .collect();
        // the operator conserves Σ v̂_j c_j exactly: its null mode (uniform c) has μ = 0, not round-off
        if let Some(k0) = (0..n).min_by(|&a, &b| mu[a].total_cmp(&mu[b])) {
            mu[k0] = 0.0;
        }
        let isq: Vec<f64> = vhat.iter().map(|v| 1.0 / v.sqrt()).collect();
        let sq: Vec<f64> = vhat.iter().map(|v| v.sqrt()).collect();
        let g = (0..n)
            .map(|k| q[(n - 1, k)] * isq[n - 1] * nf.powi(3))
            .collect();
        let row = |j: usize| (0..n).map(|k| isq[j] * q[(j, k)]).collect::<Vec<f64>>();
        let row_avg: Vec<f64> = (0..n)
            .map(|k| (0..n).map(|j| sq[j] * q[(j, k)]).sum::<f64>() * 3.0 / nf.powi(3))
            .collect();
        let init: Vec<f64> = (0..n)
            .map(|k| (0..n).map(|j| q[(j, k)] * sq[j]).sum::<f64>())
            .collect();
        let mut p = vec![0.0; n * n];
        for j in 0..n {
            for k in 0..n {
                p[j * n + k] = isq[j] * q[(j, k)];
            }
        }
        let row_last = row(n - 1);
        let row_prev = row(n.saturating_sub(2));
        let row_centre = row(0);
        let row_surf: Vec<f64> = (0..n)
            .map(|k| row_last[k] * (9.0 / 8.0) - row_prev[k] * (1.0 / 8.0))
            .collect();
        let p0 = (0..n)
            .map(|j| dotf(&p[j * n..(j + 1) * n], &init))
            .collect();
        let rows = [&row_surf, &row_centre, &row_last, &row_avg]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        Self {
            n,
            mu,
            g,
            rows,
            last0: dotf(&row_last, &init),
            centre0: dotf(&row_centre, &init),
            surf0: dotf(&row_surf, &init),
            avg0: dotf(&row_avg, &init),
            row_surf,
            row_avg,
            p,
            p0,
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

/// The tangent of one exact step, ż = E·ż_old + Ė·z_old − (i0·Ṗ1 + Δi·Ṗ2), written to `zd`
/// from the step's start `zo`, `zdo` (`ex`, `exd`: the coefficients and their s-derivatives);
/// returns the surface and average functionals of ż.
#[allow(clippy::too_many_arguments)]
fn tangent_step(
    b: &ModalBasis,
    ex: &[f64],
    exd: &[f64],
    zo: &[f64],
    zdo: &[f64],
    zd: &mut [f64],
    i0: f64,
    di: f64,
) -> (f64, f64) {
    let n = b.n;
    let (xe, xde) = (&ex[..n], &exd[..n]);
    let (xd1, xd2) = (&exd[n..2 * n], &exd[2 * n..3 * n]);
    let (zo, zdo, zd) = (&zo[..n], &zdo[..n], &mut zd[..n]);
    for k in 0..n {
        zd[k] = xe[k] * zdo[k] + xde[k] * zo[k] - (i0 * xd1[k] + di * xd2[k]);
    }
    (dotf(&b.row_surf, zd), dotf(&b.row_avg, zd))
}

impl<D: Scalar> Particle<D> {
    /// A particle of radius `radius` \[m\] with `n` shells, uniform initial concentration `c0`;
    /// `modal` selects the modal solver (valid only for a constant diffusivity; not used for
    /// second-order dual numbers, which take the tridiagonal path).
    pub fn new(n: usize, radius: D, c_max: D, c0: D, modal: bool) -> Self {
        let nf = n as f64;
        let vhat = (0..n)
            .map(|j| (((j + 1) as f64).powi(3) - (j as f64).powi(3)) / 3.0)
            .collect();
        let z = D::zero();
        let modal = (modal && D::NDERIV <= 1).then(|| {
            let b = ModalBasis::get(n);
            let zero = vec![0.0; n];
            Modal {
                b,
                c0,
                qr: radius.recip(),
                s: D::zero(),
                tangent: D::NDERIV == 1,
                varying: false,
                z: zero.clone(),
                z_old: zero.clone(),
                zd: zero.clone(),
                zd_old: zero.clone(),
                zv: Vec::new(),
                zv_old: Vec::new(),
                fv: [D::zero(); 2],
                ca: zero.clone(),
                cc: zero.clone(),
                ce: zero.clone(),
                cm: zero.clone(),
                fz: [0.0; 4],
                surf_d: 0.0,
                avg_d: 0.0,
                ex_key: OperatorKey::NONE,
                ex: vec![0.0; 3 * n],
                exd: vec![0.0; 3 * n],
                batch_z: Vec::new(),
                batch_fz: Vec::new(),
                batch_zd: Vec::new(),
                batch_fd: Vec::new(),
                shown: None,
            }
        });
        // the tridiagonal solver's work arrays (not used by the modal form)
        let work = |len: usize| {
            if modal.is_some() {
                Vec::new()
            } else {
                vec![z; len]
            }
        };
        Self {
            n,
            vhat,
            k: (radius / nf).recip().powi(2),
            kb: radius.recip() * nf.powi(3),
            dr: radius / nf,
            c_max,
            c: vec![c0; n],
            c_old: vec![c0; n],
            l: work(n),
            d: work(n),
            u: work(n),
            g: work(n + 1),
            r: work(n),
            cp: work(n),
            fac_key: OperatorKey::NONE,
            fac_cp: work(n),
            fac_m: work(n),
            q_unit: D::one(),
            radius,
            modal,
            reuse_operators: true,
        }
    }

    /// The diffusivity's derivatives change between steps of this solve (a temperature that
    /// is a state, or an Arrhenius factor of a measured one with its activation energy among
    /// the inputs): the tridiagonal form factorises every step (equal values no longer mean
    /// equal derivatives), the modal form carries its derivatives per input direction
    /// (`Modal`). Call before the first step.
    pub fn let_diffusion_derivatives_vary(&mut self) {
        self.reuse_operators = false;
        if let Some(m) = self.modal.as_mut()
            && D::NDERIV > 0
        {
            m.tangent = false;
            m.varying = true;
            m.zv = vec![D::zero(); self.n];
            m.zv_old = vec![D::zero(); self.n];
        }
    }

    /// Take the state of `other` (a particle of the same shells and form): shell
    /// concentrations, modes and their tangents — what a re-step from a saved start needs
    /// (the work arrays and cached operators are not state).
    pub fn copy_state_from(&mut self, other: &Self) {
        self.c.clone_from(&other.c);
        self.c_old.clone_from(&other.c_old);
        if let (Some(m), Some(o)) = (self.modal.as_mut(), other.modal.as_ref()) {
            for (a, b) in [
                (&mut m.z, &o.z),
                (&mut m.z_old, &o.z_old),
                (&mut m.zd, &o.zd),
                (&mut m.zd_old, &o.zd_old),
            ] {
                a.clone_from(b);
            }
            m.zv.clone_from(&o.zv);
            m.zv_old.clone_from(&o.zv_old);
            m.fv = o.fv;
            m.fz = o.fz;
            m.surf_d = o.surf_d;
            m.avg_d = o.avg_d;
            m.shown = None;
        }
    }

    /// Set the flux unit q_unit [mol/m²/s per unit of `cur`] used by [`Particle::step_current`]
    /// (call before the first step). The modal solver carries exact derivatives of the state
    /// only for fluxes q_unit·cur with a real `cur`.
    pub fn set_flux_unit(&mut self, q_unit: D) {
        self.q_unit = q_unit;
        if let Some(m) = self.modal.as_mut() {
            m.qr = q_unit / self.radius;
        }
    }

    /// Recompute the shell concentrations `c` from the modes (modal form only; a no-op otherwise).
    pub fn sync(&mut self) {
        if let Some(m) = self.modal.as_mut() {
            m.materialize();
            let n = self.n;
            for j in 0..n {
                self.c[j] = m.functional(&m.b.p[j * n..(j + 1) * n], m.b.p0[j]);
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

    /// Volume-average concentration c̄ = Σ v̂_j c_j / (N³/3) \[mol/m³\].
    #[inline]
    pub fn average(&self) -> D {
        if let Some(m) = &self.modal {
            return m.c0 * m.b.avg0 + m.qr * m.lift(m.fz[3], m.avg_d, m.fv[1]);
        }
        let mut s = D::zero();
        for j in 0..self.n {
            s += self.c[j] * self.vhat[j];
        }
        s / ((self.n as f64).powi(3) / 3.0)
    }

    /// Coefficient κ_s of the flux term of the surface value, c_s = (9c_{N−1} − c_{N−2})/8 − κ_s·q:
    /// κ_s = (3/8)·Δr/D_s \[s/m\] (½·Δr/D_s for one shell).
    #[inline]
    pub fn surface_coef(&self, d_surf: D) -> D {
        let f = if self.n == 1 && self.modal.is_none() {
            0.5
        } else {
            3.0 / 8.0
        };
        self.dr / d_surf * f
    }

    /// Surface concentration given the flux term κ_s·q (see [`Particle::surface_coef`]) \[mol/m³\].
    #[inline]
    pub fn surface_with(&self, flux_term: D) -> D {
        let n = self.n;
        if let Some(m) = &self.modal {
            return m.c0 * m.b.surf0 + m.qr * m.lift(m.fz[0], m.surf_d, m.fv[0]) - flux_term;
        }
        if n == 1 {
            return self.c[0] - flux_term;
        }
        self.c[n - 1] * (9.0 / 8.0) - self.c[n - 2] * (1.0 / 8.0) - flux_term
    }

    /// Surface concentration given the outward flux q \[mol/m²/s\] and the surface diffusivity.
    #[inline]
    pub fn surface(&self, q: D, d_surf: D) -> D {
        self.surface_with(q * self.surface_coef(d_surf))
    }

    /// Minimum and maximum shell concentration (real parts).
    pub fn min_max(&self) -> (f64, f64) {
        if let Some(m) = &self.modal {
            // extremes of a diffusing sphere with a boundary flux sit at the centre or the outer shell
            let a = m.c0.re() * m.b.centre0 + m.qr.re() * m.fz[1];
            let c = m.c0.re() * m.b.last0 + m.qr.re() * m.fz[2];
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

    /// Advance one step of size `h` \[s\] with BDF coefficients `bdf`, outward flux `q` at the new
    /// time \[mol/m²/s\], diffusivity D(θ)·`dfac` \[m²/s\] (`dfac` the Arrhenius factor).
    /// `omega` is the step ratio used to extrapolate the state for a θ-dependent D.
    /// Modal form: `q` is taken as q_unit·(q.re/q_unit.re) (exact for f64, and for dual fluxes
    /// proportional to the flux unit; otherwise use [`Particle::step_current`]).
    pub fn step(&mut self, h: f64, bdf: Bdf, omega: f64, q: D, diff: &Coefficient<D>, dfac: D) {
        if self.modal.is_some() {
            let cur = q.re() / self.q_unit.re();
            self.step_modal(h, bdf, cur, diff, dfac);
        } else {
            self.step_tridiagonal(h, bdf, omega, q, diff, dfac);
        }
    }

    /// [`Particle::step`] with the flux q = q_unit·`cur` (`cur` real, e.g. the cell current \[A\]).
    #[inline]
    pub fn step_current(
        &mut self,
        h: f64,
        bdf: Bdf,
        omega: f64,
        cur: f64,
        diff: &Coefficient<D>,
        dfac: D,
    ) {
        if self.modal.is_some() {
            self.step_modal(h, bdf, cur, diff, dfac);
        } else {
            let q = self.q_unit * cur;
            self.step_tridiagonal(h, bdf, omega, q, diff, dfac);
        }
    }

    fn step_modal(&mut self, h: f64, bdf: Bdf, cur: f64, diff: &Coefficient<D>, dfac: D) {
        let n = self.n;
        let Some(m) = self.modal.as_mut() else {
            return;
        };
        m.materialize();
        m.s = diff.scale * dfac / (self.radius * self.radius);
        if !self.fac_key.matches(h, bdf.b0, m.s.re()) {
            let s = m.s.re();
            let b = &m.b;
            for k in 0..n {
                let inv = 1.0 / (s * b.mu[k] * h + bdf.b0);
                m.ca[k] = bdf.b1 * inv;
                m.cc[k] = bdf.b2 * inv;
                m.ce[k] = b.g[k] * inv;
                m.cm[k] = b.mu[k] * h * inv;
            }
            self.fac_key = OperatorKey { h, b0: bdf.b0, s };
        }
        let f = cur * h;
        let (ca, cc, ce) = (&m.ca[..n], &m.cc[..n], &m.ce[..n]);
        let (z, zo) = (&mut m.z[..n], &mut m.z_old[..n]);
        for k in 0..n {
            let zn = ca[k] * z[k] - cc[k] * zo[k] - f * ce[k];
            zo[k] = z[k];
            z[k] = zn;
        }
        m.fz = dot4(&m.b.rows, &m.z);
        if m.tangent {
            let cm = &m.cm[..n];
            let z = &m.z[..n];
            let (zd, zdo) = (&mut m.zd[..n], &mut m.zd_old[..n]);
            for k in 0..n {
                let dn = ca[k] * zd[k] - cc[k] * zdo[k] - cm[k] * z[k];
                zdo[k] = zd[k];
                zd[k] = dn;
            }
            m.surf_d = dotf(&m.b.row_surf, &m.zd);
            m.avg_d = dotf(&m.b.row_avg, &m.zd);
        }
        if m.varying {
            // ∂z^{n+1}/∂s_n = −m_k·z^{n+1}_k
            let ds = m.s - m.s.re();
            let (cm, z) = (&m.cm[..n], &m.z[..n]);
            let (zv, zvo) = (&mut m.zv[..n], &mut m.zv_old[..n]);
            for k in 0..n {
                let dn = zv[k] * ca[k] - zvo[k] * cc[k] - ds * (cm[k] * z[k]);
                zvo[k] = zv[k];
                zv[k] = dn;
            }
            m.update_derivative_functionals();
        }
    }

    /// Exact (exponential) step of the modal form: advance by `h` \[s\] with the flux
    /// q(t) = q_unit·I(t), I linear from `i0` at the step start to `i1` at its end (I real):
    /// y_k(t+h) = e^{−λ_k h}·y_k(t) − G_k·(q_unit/R)·h·[i0·p1(λ_k h) + (i1 − i0)·p2(λ_k h)],
    /// λ_k = s·N²μ_k, s = D·dfac/R² — no time-discretisation error for a constant D. First-order
    /// duals carry ∂/∂s of the modes analytically. The state at the step start is kept, so
    /// [`Particle::restep_exact`] can re-evaluate any point of the step. Returns false (and does
    /// nothing) if the modal form is not in use.
    pub fn step_exact(&mut self, h: f64, i0: f64, i1: f64, diff: &Coefficient<D>, dfac: D) -> bool {
        let Some(m) = self.modal.as_mut() else {
            return false;
        };
        m.materialize();
        std::mem::swap(&mut m.z, &mut m.z_old);
        if m.tangent {
            std::mem::swap(&mut m.zd, &mut m.zd_old);
        }
        if m.varying {
            std::mem::swap(&mut m.zv, &mut m.zv_old);
        }
        self.advance_exact(h, i0, i1, diff, dfac);
        true
    }

    /// Re-do the last [`Particle::step_exact`] with step `h` (e.g. a fraction of it) and end
    /// current `i1`, from the same start state.
    pub fn restep_exact(&mut self, h: f64, i0: f64, i1: f64, diff: &Coefficient<D>, dfac: D) {
        if let Some(m) = self.modal.as_mut() {
            m.materialize();
        }
        self.advance_exact(h, i0, i1, diff, dfac);
    }

    /// z ← E·z_old − (i0·P1 + (i1 − i0)·P2) (and its s-derivative).
    fn advance_exact(&mut self, h: f64, i0: f64, i1: f64, diff: &Coefficient<D>, dfac: D) {
        let n = self.n;
        let radius = self.radius;
        let Some(m) = self.modal.as_mut() else {
            return;
        };
        m.exact_coefficients_for(h, diff.scale * dfac / (radius * radius));
        let di = i1 - i0;
        m.fz = advance_dot4(&m.ex, &m.z_old, &mut m.z[..n], i0, di, &m.b.rows);
        if m.tangent {
            let (zd, zdo) = (&mut m.zd[..n], &m.zd_old[..n]);
            let (surf_d, avg_d) = tangent_step(&m.b, &m.ex, &m.exd, &m.z_old, zdo, zd, i0, di);
            m.surf_d = surf_d;
            m.avg_d = avg_d;
        }
        if m.varying {
            // ∂z^{n+1}/∂s_n = Ė·z^n − (i0·Ṗ1 + Δi·Ṗ2)
            let ds = m.s - m.s.re();
            let (xe, xde) = (&m.ex[..n], &m.exd[..n]);
            let (xd1, xd2) = (&m.exd[n..2 * n], &m.exd[2 * n..3 * n]);
            let zo = &m.z_old[..n];
            let (zv, zvo) = (&mut m.zv[..n], &m.zv_old[..n]);
            for k in 0..n {
                zv[k] = zvo[k] * xe[k] + ds * (xde[k] * zo[k] - (i0 * xd1[k] + di * xd2[k]));
            }
            m.update_derivative_functionals();
        }
    }

    /// `hs.len()` exact steps of sizes `hs` \[s\] at the constant current `i` \[A\] (the flux
    /// q_unit·i): the same operations as [`Particle::step_exact`]`(h, i, i, ..)` for each h in
    /// turn, but one pass per run of steps of equal size, with no per-step overhead. Every
    /// step's state is kept, so [`Particle::show_exact_step`] can present any of them. The
    /// particle stands at the last step. Returns false (and does nothing) without the modal form.
    pub fn step_exact_batch(&mut self, hs: &[f64], i: f64, diff: &Coefficient<D>, dfac: D) -> bool {
        let (n, k) = (self.n, hs.len());
        let radius = self.radius;
        let Some(m) = self.modal.as_mut() else {
            return false;
        };
        if k == 0 {
            return true;
        }
        debug_assert!(
            !m.varying,
            "a batch shares one s: not for changing derivatives"
        );
        m.materialize();
        m.batch_z.resize((k + 1) * n, 0.0);
        m.batch_fz.resize(k, [0.0; 4]);
        m.batch_z[..n].copy_from_slice(&m.z[..n]);
        if m.tangent {
            m.batch_zd.resize((k + 1) * n, 0.0);
            m.batch_fd.resize(k, [0.0; 2]);
            m.batch_zd[..n].copy_from_slice(&m.zd[..n]);
        }
        let s = diff.scale * dfac / (radius * radius);
        let mut j = 0;
        while j < k {
            m.exact_coefficients_for(hs[j], s);
            // the run of steps that reuse these coefficients (as step_exact would)
            let mut r = j + 1;
            while r < k && m.ex_key.matches(hs[r], 1.0, m.s.re()) {
                r += 1;
            }
            advance_dot4_steps(
                &m.ex,
                &mut m.batch_z[j * n..(r + 1) * n],
                i,
                &m.b.rows,
                &mut m.batch_fz[j..r],
            );
            if m.tangent {
                for q in j..r {
                    let zo = &m.batch_z[q * n..(q + 1) * n];
                    let (zdo, zd) = m.batch_zd[q * n..(q + 2) * n].split_at_mut(n);
                    let (surf_d, avg_d) = tangent_step(&m.b, &m.ex, &m.exd, zo, zdo, zd, i, 0.0);
                    m.batch_fd[q] = [surf_d, avg_d];
                }
            }
            j = r;
        }
        m.shown = Some(k - 1);
        m.materialize();
        true
    }

    /// Present step `j` of the last [`Particle::step_exact_batch`]: its surface, average and
    /// extreme values; any further step or re-step starts from it, as if the batch had ended
    /// there.
    #[inline]
    pub fn show_exact_step(&mut self, j: usize) {
        if let Some(m) = self.modal.as_mut() {
            m.fz = m.batch_fz[j];
            if m.tangent {
                [m.surf_d, m.avg_d] = m.batch_fd[j];
            }
            // the last step is the state the batch left
            m.shown = (j + 1 < m.batch_fz.len()).then_some(j);
        }
    }

    fn step_tridiagonal(
        &mut self,
        h: f64,
        bdf: Bdf,
        omega: f64,
        q: D,
        diff: &Coefficient<D>,
        dfac: D,
    ) {
        let n = self.n;
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
            // reuse the factorisation when h, β0 and D agree to round-off (grid steps that are
            // equal up to the last bits of t1 − t0)
            let g = self.k * diff.scale * dfac;
            let s = (diff.scale * dfac).re() / (self.radius.re() * self.radius.re());
            if !(self.reuse_operators && self.fac_key.matches(h, bdf.b0, s)) {
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
                self.fac_key = OperatorKey { h, b0: bdf.b0, s };
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
            tridiagonal::solve(&self.l, &self.d, &self.u, &mut self.r, &mut self.cp);
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

    /// One exact step of length `t_end` (or `k` equal ones) at constant flux q.
    fn run_exact(n: usize, k: usize, t_end: f64, q: f64) -> Particle<f64> {
        let mut p: Particle<f64> = Particle::new(n, 5e-6, 5e4, 1000.0, true);
        p.set_flux_unit(q);
        let coef = Coefficient::constant(1e-14);
        for _ in 0..k {
            assert!(p.step_exact(t_end / k as f64, 1.0, 1.0, &coef, 1.0));
        }
        p
    }

    #[test]
    fn exact_step_matches_crank_series_and_refined_bdf2() {
        let (a, dc, q, t_end) = (5e-6, 1e-14, -1e-5, 500.0);
        let exact = crank_surface(-q, a, dc, t_end);
        let mut errs = Vec::new();
        for &n in &[10, 20, 40, 80] {
            // one step of 500 s: no time-discretisation error, only the spatial one
            let p = run_exact(n, 1, t_end, q);
            let cs = p.surface(q, dc) - 1000.0;
            errs.push((cs - exact).abs() / exact.abs());
            // the same as 50 exact steps, and as BDF2 refined in time (dt = 0.01 s)
            let p50 = run_exact(n, 50, t_end, q);
            let c50 = p50.surface(q, dc) - 1000.0;
            assert!((cs - c50).abs() <= 1e-11 * exact.abs(), "{cs} vs {c50}");
            if n == 20 {
                let (bdf, _) = run_mode(n, 0.01, t_end, true);
                assert!((cs - bdf).abs() <= 1e-6 * exact.abs(), "{cs} vs BDF2 {bdf}");
            }
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
    fn exact_step_conserves_inventory_and_integrates_a_ramp() {
        // c̄(t) = c0 − (3/R)·∫q dt exactly; ramp I from 1 to 3 over 100 s, then rest
        let (r, q) = (5e-6, 2e-5);
        let mut p: Particle<f64> = Particle::new(20, r, 5e4, 1000.0, true);
        p.set_flux_unit(q);
        let coef = Coefficient::constant(1e-14);
        p.step_exact(37.0, 1.0, 1.0 + 2.0 * 37.0 / 100.0, &coef, 1.0);
        p.step_exact(63.0, 1.0 + 2.0 * 37.0 / 100.0, 3.0, &coef, 1.0);
        let want = 1000.0 - 3.0 / r * q * 200.0;
        let m1 = p.average();
        assert!((m1 - want).abs() / want < 1e-12, "{m1} vs {want}");
        for _ in 0..50 {
            p.step_exact(30.0, 0.0, 0.0, &coef, 1.0);
        }
        let m2 = p.average();
        assert!((m1 - m2).abs() / m1 < 1e-13, "{m1} {m2}");
        // a ramp split at another point gives the same state
        let mut p2: Particle<f64> = Particle::new(20, r, 5e4, 1000.0, true);
        p2.set_flux_unit(q);
        p2.step_exact(80.0, 1.0, 2.6, &coef, 1.0);
        p2.step_exact(20.0, 2.6, 3.0, &coef, 1.0);
        let mut p1: Particle<f64> = Particle::new(20, r, 5e4, 1000.0, true);
        p1.set_flux_unit(q);
        p1.step_exact(100.0, 1.0, 3.0, &coef, 1.0);
        let (a, b) = (p1.surface(3.0 * q, 1e-14), p2.surface(3.0 * q, 1e-14));
        assert!((a - b).abs() < 1e-9 * a.abs(), "{a} vs {b}");
        // restep from the same start reproduces the step
        p1.restep_exact(100.0, 1.0, 3.0, &coef, 1.0);
        assert_eq!(p1.surface(3.0 * q, 1e-14), a);
    }

    /// Everything a caller reads from a modal particle (Debug prints the shortest string that
    /// round-trips, so equal strings are equal values, derivatives included).
    fn observed<D: Scalar>(p: &Particle<D>, q: f64) -> String {
        let (lo, hi) = p.min_max();
        let (avg, surf) = (p.average(), p.surface_with(D::from(q)));
        format!("{lo:?} {hi:?} {avg:?} {surf:?}")
    }

    /// A batch of exact steps shows, step by step, exactly what single steps give — for f64 and
    /// first-order duals, for n with and without a remainder after chunks of four, across a
    /// change of step size inside the batch — and a re-step or a further step from an inner
    /// shown step continues as if the batch had stopped there.
    fn batch_matches_single_steps<D: Scalar>(n: usize, d: D) {
        let coef = Coefficient::constant(d);
        let fresh = || {
            let mut p: Particle<D> =
                Particle::new(n, D::from(5e-6), D::from(5e4), D::from(2e4), true);
            p.set_flux_unit(D::from(-1e-5));
            // a start that is not uniform
            p.step_exact(30.0, 0.5, 1.5, &coef, D::one());
            p
        };
        let hs = [10.0, 10.0 * (1.0 + 1e-14), 10.0, 7.5, 7.5, 12.0];
        let i = 1.5;
        let mut single = fresh();
        let mut seen = Vec::new();
        for &h in &hs {
            single.step_exact(h, i, i, &coef, D::one());
            seen.push(observed(&single, 1.0));
        }
        let mut batch = fresh();
        assert!(batch.step_exact_batch(&hs, i, &coef, D::one()));
        assert_eq!(
            observed(&batch, 1.0),
            seen[hs.len() - 1],
            "state after the batch"
        );
        for (j, s) in seen.iter().enumerate() {
            batch.show_exact_step(j);
            assert_eq!(&observed(&batch, 1.0), s, "step {j} of the batch");
        }
        // from an inner step: a re-step over part of the next step, then a further step
        let mut single = fresh();
        for &h in &hs[..3] {
            single.step_exact(h, i, i, &coef, D::one());
        }
        batch.show_exact_step(2);
        single.restep_exact(4.0, i, i, &coef, D::one());
        batch.restep_exact(4.0, i, i, &coef, D::one());
        assert_eq!(observed(&batch, 1.0), observed(&single, 1.0), "re-step");
        single.step_exact(5.0, i, 0.5, &coef, D::one());
        batch.step_exact(5.0, i, 0.5, &coef, D::one());
        assert_eq!(observed(&batch, 1.0), observed(&single, 1.0), "step after");
    }

    #[test]
    fn exact_step_batch_matches_single_steps_bitwise() {
        use num_dual::Dual64;
        for n in [20, 7] {
            batch_matches_single_steps::<f64>(n, 1e-14);
            batch_matches_single_steps(n, Dual64::from(1e-14).derivative());
        }
    }

    #[test]
    fn exact_step_derivative_in_diffusivity_matches_fd() {
        use num_dual::Dual64;
        let surf = |d: Dual64| {
            let mut p: Particle<Dual64> = Particle::new(
                20,
                Dual64::from(5e-6),
                Dual64::from(5e4),
                Dual64::from(1000.0),
                true,
            );
            p.set_flux_unit(Dual64::from(-1e-5));
            let coef = Coefficient::constant(d);
            // tiny first step (series branch) then ramps and constant steps
            p.step_exact(0.01, 1.0, 1.0, &coef, Dual64::from(1.0));
            p.step_exact(40.0, 1.0, 2.0, &coef, Dual64::from(1.0));
            for _ in 0..5 {
                p.step_exact(25.0, 2.0, 2.0, &coef, Dual64::from(1.0));
            }
            p.surface(Dual64::from(-2e-5), d)
        };
        let d0 = 1e-14;
        let ad = surf(Dual64::from(d0).derivative()).eps;
        let hh = d0 * 1e-5;
        let fd = (surf(Dual64::from(d0 + hh)).re - surf(Dual64::from(d0 - hh)).re) / (2.0 * hh);
        assert!((ad - fd).abs() < 1e-6 * fd.abs(), "AD {ad} vs FD {fd}");
    }

    /// A diffusivity that changes between two steps of the same size (a temperature change, a
    /// scaled D) is stepped with its own coefficients, never with the cached ones of the old
    /// D: exact steps compose (one step of h at D₂ equals two of h/2), and the modal BDF2 step
    /// equals the tridiagonal one, which builds its operator every step. Keyed on h alone,
    /// both comparisons fail by orders of magnitude.
    #[test]
    fn a_changed_diffusivity_never_reuses_a_stale_operator() {
        let (d1, d2) = (Coefficient::constant(1e-14), Coefficient::constant(4e-14));
        let fresh = |modal| {
            let mut p: Particle<f64> = Particle::new(20, 5e-6, 5e4, 2e4, modal);
            p.set_flux_unit(-1e-5);
            p
        };
        let (mut one, mut halves) = (fresh(true), fresh(true));
        for p in [&mut one, &mut halves] {
            p.step_exact(30.0, 1.0, 1.0, &d1, 1.0);
        }
        one.step_exact(30.0, 1.0, 1.0, &d2, 1.0);
        halves.step_exact(15.0, 1.0, 1.0, &d2, 1.0);
        halves.step_exact(15.0, 1.0, 1.0, &d2, 1.0);
        let (a, b) = (one.surface_with(1.0), halves.surface_with(1.0));
        assert!((a - b).abs() <= 1e-9 * (a - 2e4).abs(), "exact: {a} vs {b}");
        // the same through an Arrhenius factor instead of the coefficient
        let mut warm = fresh(true);
        warm.step_exact(30.0, 1.0, 1.0, &d1, 1.0);
        warm.step_exact(30.0, 1.0, 1.0, &d1, 4.0);
        assert!((warm.surface_with(1.0) - a).abs() <= 1e-9 * (a - 2e4).abs());

        let (mut modal, mut tri) = (fresh(true), fresh(false));
        for p in [&mut modal, &mut tri] {
            p.step_current(5.0, Bdf::EULER, 0.0, 1.0, &d1, 1.0);
            p.step_current(5.0, Bdf::bdf2(1.0), 1.0, 1.0, &d1, 1.0);
            p.step_current(5.0, Bdf::bdf2(1.0), 1.0, 1.0, &d2, 1.0);
            p.step_current(5.0, Bdf::bdf2(1.0), 1.0, 1.0, &d2, 2.0);
        }
        let (a, b) = (modal.surface(-1e-5, 8e-14), tri.surface(-1e-5, 8e-14));
        assert!((a - b).abs() <= 1e-9 * (a - 2e4).abs(), "BDF2: {a} vs {b}");
    }

    /// A diffusion rate whose value and derivatives change from step to step (an Arrhenius
    /// factor of a temperature that is a state): the modal form's per-direction derivatives
    /// equal central differences of the value, for exact and for BDF2 steps, and the modal BDF2
    /// derivatives equal the tridiagonal form's (the same discrete solution). With the one
    /// s-tangent of a fixed s instead, the derivative misses by far more.
    #[test]
    fn diffusion_derivatives_that_change_between_steps() {
        use crate::numerics::gradient::Grad;
        use num_dual::DualNum;
        type G = Grad<2>;
        let d = Coefficient::constant(G::from(1e-14));
        // the step factors: direction 0 scales every step alike, direction 1 grows in time
        let factor = |x: [G; 2], k: usize| {
            (x[0] * (1.0 + 0.3 * k as f64) + x[1] * (k as f64 * k as f64 * 0.05)).exp()
        };
        let run = |x: [G; 2], modal: bool, exact: bool, vary: bool| {
            let mut p: Particle<G> =
                Particle::new(20, G::from(5e-6), G::from(5e4), G::from(2e4), modal);
            p.set_flux_unit(G::from(-1e-5));
            if vary {
                p.let_diffusion_derivatives_vary();
            }
            for k in 0..8 {
                let (h, i0, i1) = (
                    if k == 0 { 0.01 } else { 20.0 },
                    1.0,
                    if k == 3 { 2.0 } else { 1.0 },
                );
                if exact {
                    p.step_exact(h, i0, i1, &d, factor(x, k));
                } else {
                    let bdf = if k < 2 { Bdf::EULER } else { Bdf::bdf2(1.0) };
                    p.step_current(h, bdf, 1.0, i1, &d, factor(x, k));
                }
            }
            p.surface_with(G::from(0.0))
        };
        let seed = [G::from(0.1).derivative(0), G::from(-0.2).derivative(1)];
        for exact in [true, false] {
            let ad = run(seed, true, exact, true);
            for j in 0..2 {
                let hh = 1e-6;
                let mut xp = [G::from(0.1), G::from(-0.2)];
                let mut xm = xp;
                xp[j] += hh;
                xm[j] -= hh;
                let fd =
                    (run(xp, true, exact, true).re - run(xm, true, exact, true).re) / (2.0 * hh);
                let g = ad.eps.as_slice()[j];
                assert!(
                    (g - fd).abs() <= 1e-6 * fd.abs(),
                    "exact {exact}, direction {j}: AD {g} vs FD {fd}"
                );
                if j == 1 {
                    let one_tangent = run(seed, true, exact, false).eps.as_slice()[j];
                    assert!(
                        (one_tangent - fd).abs() > 1e-3 * fd.abs(),
                        "{one_tangent} vs {fd}"
                    );
                }
            }
        }
        let (modal, tri) = (run(seed, true, false, true), run(seed, false, false, true));
        for j in 0..2 {
            let (a, b) = (modal.eps.as_slice()[j], tri.eps.as_slice()[j]);
            assert!(
                (a - b).abs() <= 1e-9 * b.abs(),
                "direction {j}: modal {a} vs tridiagonal {b}"
            );
        }
    }

    /// With a temperature that is a state of the solve, the Arrhenius factor's value can repeat
    /// while its derivatives change: a particle told so factorises every step, and its
    /// derivative equals that of one stepped with fresh operators; the value-keyed cache would
    /// keep the first step's derivative.
    #[test]
    fn equal_values_with_new_derivatives_are_refactorised() {
        use num_dual::Dual64;
        let d = Coefficient::constant(Dual64::from(1e-14));
        let run = |never: bool, fresh_each_step: bool| {
            let make = || {
                let mut p: Particle<Dual64> = Particle::new(
                    10,
                    Dual64::from(5e-6),
                    Dual64::from(5e4),
                    Dual64::from(2e4),
                    false,
                );
                p.set_flux_unit(Dual64::from(-1e-5));
                if never {
                    p.let_diffusion_derivatives_vary();
                }
                p
            };
            let mut p = make();
            for (k, eps) in [0.0, 1.0, 3.0].into_iter().enumerate() {
                let fac = Dual64::new(1.0, eps);
                if fresh_each_step && k > 0 {
                    let mut q = make();
                    q.copy_state_from(&p);
                    q.step_current(5.0, Bdf::EULER, 0.0, 1.0, &d, fac);
                    p = q;
                } else {
                    p.step_current(5.0, Bdf::EULER, 0.0, 1.0, &d, fac);
                }
            }
            p.surface_with(Dual64::from(0.0)).eps
        };
        let reference = run(false, true);
        assert!(reference != 0.0);
        assert_eq!(run(true, false), reference);
        assert!(run(false, false) != reference);
    }
}
