//! Diffusivities with honest uncertainty from MSD curves: the covariance of the MSD between lags,
//! a generalised least-squares (GLS) fit of MSD(t) = 6·D·t + c over the diffusive window, and
//! from the tracer and collective fits the Nernst–Einstein conductivity and the Haven ratio.
//!
//! # The covariance of the MSD
//! The MSD at lag ℓ averages |Δr|² over all F − ℓ overlapping time origins, so neighbouring
//! lags share most of their displacements and are strongly correlated; an ordinary least-squares
//! fit ignores this and underestimates the error of D by a large factor. kinisi (McCluskey,
//! Coles & Morgan, J. Chem. Theory Comput. 2024) models the covariance as that of a random walk,
//! Σ_ij = σ²(t_i)·n_i/n_j (t_i ≤ t_j), with n_i = N·T/t_i independent observations. We use the
//! same idea written out exactly for the estimator actually computed: for N independent
//! Gaussian random walkers in 3D sampled at F frames Δt apart, the all-origins MSD estimator
//! m_a at lag a (frames) has
//!
//! $$ \mathrm{Cov}(m_a, m_b) = \frac{24\,D^2\,Δt^2 \sum_{s,s'} \mathrm{ov}(s,s')^2 + η\,Δt \sum_{s,s'} \mathrm{ov}(s,s')}{N\,(F-a)(F-b)} $$
//!
//! where ov(s, s') is the number of steps shared by the windows [s, s+a) and [s', s'+b). The
//! first term is the Gaussian part (each pair of shared steps contributes 6σ⁴, σ² = 2DΔt per
//! component, by Isserlis' theorem); the second is each shared step's excess fourth cumulant,
//! Var(|ξ|²) − 6σ⁴ = η·Δt, zero for Gaussian steps and dominant for rare hops (a walker hopping
//! with probability p per frame has η·Δt ≈ p·a⁴ against 6σ⁴ = (2/3)p²a⁴). For a, b ≪ F the
//! Gaussian part is 24 D² (t_a² t_b − t_a³/3)/(N·T) — kinisi's n_i/n_j structure with the exact
//! diagonal. The data enter through D (the fit's own estimate, iterated) and η, estimated from
//! the observed excess of Var(|Δr(t)|²) over (2/3)·MSD(t)², which grows as η·t. The collective
//! MSD |Σ_i Δr_i|²/N is one walker of diffusivity N·D_σ with excess rate η/N: the same kernels
//! with N = 1.
//!
//! # The fit
//! With a flat prior and Σ fixed at its estimate, the posterior of β = (D, c) is normal with
//! mean β̂ = (XᵀΣ⁻¹X)⁻¹XᵀΣ⁻¹m and covariance (XᵀΣ⁻¹X)⁻¹, X_i = (6 t_i, 1). Several independent
//! runs at one temperature stack as a block-diagonal Σ (the sums of XᵀΣ⁻¹X and XᵀΣ⁻¹m).

use super::msd::MsdCurve;
use crate::constants::{E_CHARGE, K_B};
use nalgebra::{DMatrix, DVector, Matrix2, Vector2};
use thiserror::Error;

/// 1 Å²/ps in m²/s.
pub const A2_PER_PS_IN_M2_PER_S: f64 = 1e-8;

/// What cannot be estimated; says why and what was expected.
#[derive(Debug, Clone, Error, PartialEq)]
#[non_exhaustive]
pub enum DiffusionError {
    /// Fewer than 3 MSD lags in the diffusive window.
    #[error(
        "the diffusive window {start_ps} ps to {end_ps} ps holds {found} MSD lags; expected at least 3 (widen --window or add lags)"
    )]
    WindowTooNarrow {
        /// Window start \[ps\].
        start_ps: f64,
        /// Window end \[ps\].
        end_ps: f64,
        /// Lags inside the window.
        found: usize,
    },
    /// A setting or input out of its range.
    #[error("expected {what}")]
    Invalid {
        /// What was expected, in words.
        what: String,
    },
    /// The generalised least-squares fit cannot invert the MSD covariance.
    #[error(
        "the MSD covariance in the window is singular; expected distinct lags shorter than the run"
    )]
    SingularCovariance,
}

/// The diffusive window: lags t with `start_ps ≤ t ≤ end_ps` enter the fit.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Window {
    /// First lag fitted \[ps\].
    pub start_ps: f64,
    /// Last lag fitted \[ps\].
    pub end_ps: f64,
}

/// How the MSD covariance between lags is modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum CovarianceModel {
    /// The exact random-walk covariance of the all-origins estimator with the fitted D and the
    /// observed excess (non-Gaussian) variance rate η (the default; see the module doc).
    #[default]
    RandomWalk,
    /// kinisi's estimator (2.1): Σ_ij = v_i·n_i/n_j for t_i ≤ t_j with v_i = Var(|Δr|²)_i/n_i
    /// (observed sample variance, ddof 1) and n_i = N·ℓ_max/ℓ_i (ℓ_max the longest lag
    /// computed), inverted as a pseudo-inverse with kinisi's cut; D and its sd are then the
    /// mean and sd of the normal posterior kinisi samples by MCMC. With all lags to the full run
    /// (`--max-lag` the run, `--lags` twice the frames) it reproduces kinisi's D and sd.
    Kinisi,
}

/// Which MSD of a curve is fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Displacement {
    /// Tracer: ⟨|Δr_i|²⟩ of single ions → D*.
    Tracer,
    /// Collective: ⟨|Σ_i Δr_i|²⟩/N → D_σ (the charge diffusivity of Nernst–Einstein).
    Collective,
}

/// A diffusivity as a normal posterior, D in m²/s.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DiffusivityEstimate {
    /// Tracer or collective.
    pub displacement: Displacement,
    /// Posterior mean of D in m²/s.
    pub mean: f64,
    /// Posterior sd of D in m²/s.
    pub sd: f64,
    /// 95 % interval of D in m²/s (mean ± 1.96 sd).
    pub interval95: [f64; 2],
    /// Intercept c of MSD = 6Dt + c in Å², and its sd.
    pub intercept_a2: f64,
    /// Sd of the intercept \[Å²\].
    pub intercept_sd_a2: f64,
    /// Correlation of D and c.
    pub correlation_d_intercept: f64,
    /// The window fitted.
    pub window: Window,
    /// MSD lags in the window (summed over runs).
    pub lags_in_window: usize,
    /// Independent observations N·T/t (N = 1 for the collective MSD) at the window's start and
    /// end, summed over runs.
    pub independent_observations: [f64; 2],
    /// Generalised χ² of the fit, (m − Xβ̂)ᵀΣ⁻¹(m − Xβ̂), and its degrees of freedom.
    pub chi2: f64,
    /// Degrees of freedom of χ² (lags in the window minus 2).
    pub dof: usize,
}

/// An ordinary least-squares fit of MSD = 6Dt + c, its sd from the residuals (the usual
/// `linregress` standard error) — what ignoring the covariance gives, for comparison.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct OrdinaryFit {
    /// D in m²/s and its residual-based sd.
    pub mean: f64,
    /// Residual-based sd of D \[m²/s\].
    pub sd: f64,
}

/// Lags of a curve inside the window.
fn window_indices(c: &MsdCurve, w: &Window) -> Vec<usize> {
    let eps = 1e-9 * c.frame_interval_ps;
    (0..c.time_ps.len())
        .filter(|&i| c.time_ps[i] >= w.start_ps - eps && c.time_ps[i] <= w.end_ps + eps)
        .collect()
}

/// (Σ_{s,s'} ov(s,s'), Σ_{s,s'} ov(s,s')²) for the all-origins windows of lags a and b (frames)
/// in F frames: origins s ∈ [0, F−1−a], s' ∈ [0, F−1−b], ov = steps shared by [s, s+a) and
/// [s', s'+b). O(a + b): a sum over the offset u = s' − s.
pub fn shared_step_sums(a: usize, b: usize, n_frames: usize) -> (f64, f64) {
    let (a, b, f) = (a as i64, b as i64, n_frames as i64);
    let (mut s1, mut s2) = (0.0, 0.0);
    for u in (1 - b)..a {
        let ov = (a.min(u + b) - u.max(0)) as f64;
        let lo = (-u).max(0);
        let hi = (f - 1 - a).min(f - 1 - b - u);
        if hi >= lo {
            let pairs = (hi - lo + 1) as f64;
            s1 += pairs * ov;
            s2 += pairs * ov * ov;
        }
    }
    (s1, s2)
}

/// The random-walk covariance kernels of the all-origins MSD estimators at lags `lags` (frames)
/// for `walkers` independent 3D walkers with i.i.d. steps, sampled at `n_frames` frames `dt_ps`
/// apart: Σ = D²·K2 + η·K1, D in Å²/ps, η the excess of Var(|Δr(t)|²) over its Gaussian value
/// (2/3)·MSD(t)² per unit time (Å⁴/ps; zero for Gaussian steps, large for rare hops). Each
/// shared step contributes 6σ⁴ (σ² = 2DΔt per component) per pair of shared steps and
/// Var(|ξ|²) − 6σ⁴ = η·Δt once, so
/// K2_ab = 24·Δt²·Σ ov² / (N (F−a)(F−b)) and K1_ab = Δt·Σ ov / (N (F−a)(F−b)).
pub fn random_walk_kernel(
    lags: &[usize],
    n_frames: usize,
    dt_ps: f64,
    walkers: usize,
) -> (DMatrix<f64>, DMatrix<f64>) {
    let k = lags.len();
    let mut k2 = DMatrix::zeros(k, k);
    let mut k1 = DMatrix::zeros(k, k);
    for i in 0..k {
        for j in i..k {
            let (a, b) = (lags[i], lags[j]);
            let (s1, s2) = shared_step_sums(a, b, n_frames);
            let norm = (n_frames - a) as f64 * (n_frames - b) as f64 * walkers as f64;
            let v2 = 24.0 * dt_ps * dt_ps * s2 / norm;
            let v1 = dt_ps * s1 / norm;
            k2[(i, j)] = v2;
            k2[(j, i)] = v2;
            k1[(i, j)] = v1;
            k1[(j, i)] = v1;
        }
    }
    (k2, k1)
}

/// The excess variance rate η (Å⁴/ps) of single-ion squared displacements from the window's
/// lags: each lag gives r = (Var(|Δr|²) − (2/3)·MSD²)/t, the same η for independent steps, with a
/// sampling sd growing as t^{3/2} (the fourth moment ∝ t², averaged over ∝ 1/t independent
/// windows); the estimate is their inverse-variance mean, weights t⁻³, floored at zero.
fn excess_variance_rate(c: &MsdCurve, idx: &[usize]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for &i in idx {
        let (m, t) = (c.tracer_msd[i], c.time_ps[i]);
        let r = (c.tracer_fourth_moment[i] - m * m - 2.0 / 3.0 * m * m) / t;
        if r.is_finite() && t > 0.0 {
            let w = t.powi(-3);
            num += w * r;
            den += w;
        }
    }
    if den > 0.0 { (num / den).max(0.0) } else { 0.0 }
}

/// One run's covariance: the random-walk kernels with the excess rate η, or an observed matrix.
enum Run {
    RandomWalk {
        k2: DMatrix<f64>,
        k1: DMatrix<f64>,
        eta: f64,
    },
    Observed(DMatrix<f64>),
}

/// Accumulated normal equations of a GLS fit over runs.
#[derive(Debug, Clone, Copy)]
struct NormalEquations {
    xtx: Matrix2<f64>,
    xty: Vector2<f64>,
    /// Parts for the χ²: Σ yᵀΣ⁻¹y.
    yty: f64,
}

impl Default for NormalEquations {
    fn default() -> Self {
        Self {
            xtx: Matrix2::zeros(),
            xty: Vector2::zeros(),
            yty: 0.0,
        }
    }
}

/// Add one run's lags (times t in ps, values y in Å², covariance cov in Å⁴) to the equations.
fn add_run(
    eq: &mut NormalEquations,
    t: &[f64],
    y: &[f64],
    cov: DMatrix<f64>,
) -> Result<(), DiffusionError> {
    let n = t.len();
    // Scale to unit diagonal for the factorisation; the scale cancels in Σ⁻¹ below.
    let d: Vec<f64> = (0..n).map(|i| cov[(i, i)].sqrt()).collect();
    if d.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(DiffusionError::SingularCovariance);
    }
    let corr = DMatrix::from_fn(n, n, |i, j| cov[(i, j)] / (d[i] * d[j]));
    let chol = match corr.clone().cholesky() {
        Some(c) => c,
        None => {
            // The random-walk matrix is positive definite, but near-duplicate long lags can make
            // it numerically indefinite; raise the eigenvalues below λ_max·1e-12 to that floor
            // (the minimum-eigenvalue method, Tandeo et al., Tellus A 2020).
            let e = corr.symmetric_eigen();
            let floor = e.eigenvalues.max() * 1e-12;
            let lam = e.eigenvalues.map(|v| v.max(floor));
            let fixed = &e.eigenvectors * DMatrix::from_diagonal(&lam) * e.eigenvectors.transpose();
            fixed.cholesky().ok_or(DiffusionError::SingularCovariance)?
        }
    };
    let x = DMatrix::from_fn(n, 2, |i, j| {
        if j == 0 {
            6.0 * t[i] / d[i]
        } else {
            1.0 / d[i]
        }
    });
    let yv = DVector::from_fn(n, |i, _| y[i] / d[i]);
    let l = chol.l();
    let wx = l
        .solve_lower_triangular(&x)
        .ok_or(DiffusionError::SingularCovariance)?;
    let wy = l
        .solve_lower_triangular(&yv)
        .ok_or(DiffusionError::SingularCovariance)?;
    let xtx = wx.transpose() * &wx;
    let xty = wx.transpose() * &wy;
    eq.xtx += Matrix2::new(xtx[(0, 0)], xtx[(0, 1)], xtx[(1, 0)], xtx[(1, 1)]);
    eq.xty += Vector2::new(xty[0], xty[1]);
    eq.yty += wy.dot(&wy);
    Ok(())
}

/// Add one run's lags to the equations with the Moore–Penrose pseudo-inverse of `cov` in place of
/// Σ⁻¹, as kinisi does (`scipy.linalg.pinvh`): eigenvalues of Σ at or below n·ε·λ_max (n lags,
/// ε the f64 machine epsilon) are dropped. kinisi first raises the smallest eigenvalues
/// (minimum-eigenvalue method, then `cov_nearest`), which only turns negative ones into
/// near-zero ones that the cut then drops; keeping the positive eigenvalues above the cut does
/// the same. With lags up to the full run kinisi's matrix is so ill-conditioned that a plain
/// factorisation gives a nonsensical D; the cut is what regularises it.
fn add_run_pseudo_inverse(
    eq: &mut NormalEquations,
    t: &[f64],
    y: &[f64],
    cov: &DMatrix<f64>,
) -> Result<(), DiffusionError> {
    let n = t.len();
    let e = cov.clone().symmetric_eigen();
    let lam_max = e.eigenvalues.iter().fold(0.0_f64, |a, v| a.max(v.abs()));
    let cut = n as f64 * f64::EPSILON * lam_max;
    if !(lam_max.is_finite() && lam_max > 0.0) {
        return Err(DiffusionError::SingularCovariance);
    }
    let x = DMatrix::from_fn(n, 2, |i, j| if j == 0 { 6.0 * t[i] } else { 1.0 });
    let yv = DVector::from_column_slice(y);
    // Σ⁺ = U diag(1/λ) Uᵀ over the kept eigenpairs: project X and y on U, weight by 1/λ.
    let ux = e.eigenvectors.transpose() * &x;
    let uy = e.eigenvectors.transpose() * &yv;
    for (k, &lam) in e.eigenvalues.iter().enumerate() {
        if lam <= cut {
            continue;
        }
        let (a, b, c) = (ux[(k, 0)], ux[(k, 1)], uy[k]);
        eq.xtx += Matrix2::new(a * a, a * b, a * b, b * b) / lam;
        eq.xty += Vector2::new(a * c, b * c) / lam;
        eq.yty += c * c / lam;
    }
    Ok(())
}

/// GLS estimate of D from one or more MSD curves (independent runs at one temperature) over
/// `window`, with the covariance `model`.
///
/// Equation: MSD(t) = 6·D·t + c fitted by GLS; D in m²/s (positions in Å, times in ps).
pub fn fit_diffusivity(
    curves: &[&MsdCurve],
    displacement: Displacement,
    window: Window,
    model: CovarianceModel,
) -> Result<DiffusivityEstimate, DiffusionError> {
    if curves.is_empty() {
        return Err(DiffusionError::Invalid {
            what: "at least one MSD curve".into(),
        });
    }
    let mut lags_in = 0;
    let mut obs = [0.0, 0.0];
    // Per run: (times, values, covariance model).
    let mut runs: Vec<(Vec<f64>, Vec<f64>, Run)> = Vec::new();
    for c in curves {
        let idx = window_indices(c, &window);
        if idx.len() < 3 {
            continue;
        }
        let t: Vec<f64> = idx.iter().map(|&i| c.time_ps[i]).collect();
        let lags: Vec<usize> = idx.iter().map(|&i| c.lag_frames[i]).collect();
        let (m, m4, walkers) = match displacement {
            Displacement::Tracer => (&c.tracer_msd, &c.tracer_fourth_moment, c.n_ions),
            Displacement::Collective => (&c.collective_msd, &c.collective_fourth_moment, 1),
        };
        let y: Vec<f64> = idx.iter().map(|&i| m[i]).collect();
        let span = (c.n_frames - 1) as f64;
        let n_obs = |l: usize| walkers as f64 * span / l as f64;
        obs[0] += n_obs(lags[0]);
        obs[1] += n_obs(*lags.last().unwrap_or(&1));
        lags_in += idx.len();
        let run = match model {
            CovarianceModel::RandomWalk => {
                let (k2, k1) = random_walk_kernel(&lags, c.n_frames, c.frame_interval_ps, walkers);
                // The collective displacement sums N ions' steps: its excess cumulant is N times
                // one ion's, and |Σ Δr|²/N divides the variance by N², so η/N (estimated from the
                // tracer, whose N·(F − ℓ) samples per lag give a far steadier value).
                let eta = excess_variance_rate(c, &idx)
                    / match displacement {
                        Displacement::Tracer => 1.0,
                        Displacement::Collective => c.n_ions as f64,
                    };
                Run::RandomWalk { k2, k1, eta }
            }
            CovarianceModel::Kinisi => {
                // kinisi 2.1 (`displacement.calculate_msd`, `Diffusion.compute_covariance_matrix`):
                // v_i = Var_obs(|Δr|²)_i/n_i, the sample variance (ddof 1) over the lag's
                // samples divided by n_i = walkers·ℓ_max/ℓ_i, ℓ_max the longest lag computed
                // (kinisi's `dt_index[-1]`, the full run by default); Σ_ij = v_i·n_i/n_j, i ≤ j.
                let l_max = *c.lag_frames.last().unwrap_or(&1) as f64;
                let n_kinisi = |l: usize| walkers as f64 * l_max / l as f64;
                let keep: Vec<usize> = (0..idx.len())
                    .filter(|&k| walkers * c.origins[idx[k]] > 1)
                    .collect();
                let var: Vec<f64> = keep
                    .iter()
                    .map(|&k| {
                        let (i, l) = (idx[k], lags[k]);
                        let samples = (walkers * c.origins[i]) as f64;
                        let ddof1 = samples / (samples - 1.0);
                        (m4[i] - m[i] * m[i]).max(0.0) * ddof1 / n_kinisi(l)
                    })
                    .collect();
                let n = keep.len();
                let cov = DMatrix::from_fn(n, n, |i, j| {
                    let (a, b) = if i <= j { (i, j) } else { (j, i) };
                    var[a] * n_kinisi(lags[keep[a]]) / n_kinisi(lags[keep[b]])
                });
                let t: Vec<f64> = keep.iter().map(|&k| t[k]).collect();
                let y: Vec<f64> = keep.iter().map(|&k| y[k]).collect();
                runs.push((t, y, Run::Observed(cov)));
                continue;
            }
        };
        runs.push((t, y, run));
    }
    if runs.is_empty() {
        let found = curves
            .iter()
            .map(|c| window_indices(c, &window).len())
            .max()
            .unwrap_or(0);
        return Err(DiffusionError::WindowTooNarrow {
            start_ps: window.start_ps,
            end_ps: window.end_ps,
            found,
        });
    }
    // Σ(D) = D²·K2 + η·K1 depends on D: start from the Gaussian kernel alone (whose scale D²
    // does not move β̂) and iterate β̂ → Σ(D̂) → β̂; three passes settle D̂ to < 1e-6 relative.
    let solve =
        |d: Option<f64>| -> Result<(NormalEquations, Vector2<f64>, Matrix2<f64>), DiffusionError> {
            let mut eq = NormalEquations::default();
            for (t, y, run) in &runs {
                let cov = match (run, d) {
                    (Run::RandomWalk { k2, .. }, None) => k2.clone(),
                    (Run::RandomWalk { k2, k1, eta }, Some(d)) => k2 * (d * d) + k1 * *eta,
                    (Run::Observed(c), _) => {
                        add_run_pseudo_inverse(&mut eq, t, y, c)?;
                        continue;
                    }
                };
                add_run(&mut eq, t, y, cov)?;
            }
            let inv = eq
                .xtx
                .try_inverse()
                .ok_or(DiffusionError::SingularCovariance)?;
            let beta = inv * eq.xty;
            Ok((eq, beta, inv))
        };
    let (mut eq, mut beta, mut cov_beta) = solve(None)?;
    if model == CovarianceModel::RandomWalk {
        for _ in 0..3 {
            // |D̂|: a collective fit can come out negative; its covariance stays positive.
            let d = beta[0].abs().max(1e-300);
            (eq, beta, cov_beta) = solve(Some(d))?;
        }
    }
    let d_a2ps = beta[0];
    let chi2 = eq.yty - 2.0 * beta.dot(&eq.xty) + (beta.transpose() * eq.xtx * beta)[0];
    let sd = cov_beta[(0, 0)].sqrt() * A2_PER_PS_IN_M2_PER_S;
    let mean = d_a2ps * A2_PER_PS_IN_M2_PER_S;
    Ok(DiffusivityEstimate {
        displacement,
        mean,
        sd,
        interval95: [
            mean - 1.959_963_984_540_054 * sd,
            mean + 1.959_963_984_540_054 * sd,
        ],
        intercept_a2: beta[1],
        intercept_sd_a2: cov_beta[(1, 1)].sqrt(),
        correlation_d_intercept: cov_beta[(0, 1)] / (cov_beta[(0, 0)] * cov_beta[(1, 1)]).sqrt(),
        window,
        lags_in_window: lags_in,
        independent_observations: obs,
        chi2,
        dof: lags_in.saturating_sub(2),
    })
}

/// Ordinary least squares of MSD = 6Dt + c over the window of one curve, sd from the residuals.
pub fn fit_diffusivity_ols(
    c: &MsdCurve,
    displacement: Displacement,
    window: Window,
) -> Result<OrdinaryFit, DiffusionError> {
    let idx = window_indices(c, &window);
    if idx.len() < 3 {
        return Err(DiffusionError::WindowTooNarrow {
            start_ps: window.start_ps,
            end_ps: window.end_ps,
            found: idx.len(),
        });
    }
    let m = match displacement {
        Displacement::Tracer => &c.tracer_msd,
        Displacement::Collective => &c.collective_msd,
    };
    let n = idx.len() as f64;
    let x: Vec<f64> = idx.iter().map(|&i| 6.0 * c.time_ps[i]).collect();
    let y: Vec<f64> = idx.iter().map(|&i| m[i]).collect();
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|v| (v - mx) * (v - mx)).sum();
    let sxy: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let slope = sxy / sxx;
    let c0 = my - slope * mx;
    let rss: f64 = x
        .iter()
        .zip(&y)
        .map(|(a, b)| (b - c0 - slope * a).powi(2))
        .sum();
    let se = (rss / (n - 2.0) / sxx).sqrt();
    Ok(OrdinaryFit {
        mean: slope * A2_PER_PS_IN_M2_PER_S,
        sd: se * A2_PER_PS_IN_M2_PER_S,
    })
}

/// The automatic diffusive window: from the first lag t at which the log-log slope of the tracer
/// MSD between t and 2t lies within 1 ± 0.15 (past the ballistic, slope 2, and caged, slope < 1,
/// regimes) to the longest lag. When no lag qualifies the window starts at 10 % of the longest lag
/// and `None` is returned in the second place, so the caller can warn.
pub fn automatic_window(c: &MsdCurve) -> (Window, Option<f64>) {
    let n = c.time_ps.len();
    let end = c.time_ps.last().copied().unwrap_or(0.0);
    for i in 0..n {
        let t = c.time_ps[i];
        let Some(j) = (i + 1..n).find(|&j| c.time_ps[j] >= 2.0 * t) else {
            break;
        };
        let (m0, m1) = (c.tracer_msd[i], c.tracer_msd[j]);
        if m0 > 0.0 && m1 > 0.0 {
            let slope = (m1 / m0).ln() / (c.time_ps[j] / t).ln();
            if (slope - 1.0).abs() <= 0.15 {
                return (
                    Window {
                        start_ps: t,
                        end_ps: end,
                    },
                    Some(slope),
                );
            }
        }
    }
    (
        Window {
            start_ps: 0.1 * end,
            end_ps: end,
        },
        None,
    )
}

/// A value with a normal or log-normal posterior summary.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Interval {
    /// Posterior mean, in the quantity's unit.
    pub mean: f64,
    /// Posterior sd, in the quantity's unit.
    pub sd: f64,
    /// 95 % interval, in the quantity's unit.
    pub interval95: [f64; 2],
}

/// Haven ratio H = D*/D_σ (tracer over collective), by the delta method on ln H with the two
/// estimates taken as independent (their correlation is O(1/√N) for weakly correlated ions, so
/// the interval is slightly conservative); the 95 % interval is exp(ln Ĥ ± 1.96·sd(ln H)).
pub fn haven_ratio(
    tracer: &DiffusivityEstimate,
    collective: &DiffusivityEstimate,
) -> Option<Interval> {
    if !(tracer.mean > 0.0 && collective.mean > 0.0) {
        return None;
    }
    let h = tracer.mean / collective.mean;
    let s = ((tracer.sd / tracer.mean).powi(2) + (collective.sd / collective.mean).powi(2)).sqrt();
    Some(Interval {
        mean: h,
        sd: h * s,
        interval95: [h * (-1.96 * s).exp(), h * (1.96 * s).exp()],
    })
}

/// Nernst–Einstein conductivity from the collective diffusivity,
/// σ = N·(z·e)²·D_σ/(V·k_B·T) in S/m, with N mobile ions of charge z·e in volume V (Å³) at
/// temperature T (K), D_σ in m²/s. Linear in D_σ, so its sd and interval scale the same way.
pub fn nernst_einstein_conductivity(
    collective: &DiffusivityEstimate,
    n_ions: usize,
    charge_number: f64,
    volume_a3: f64,
    temperature_k: f64,
) -> Interval {
    let q = charge_number * E_CHARGE;
    let f = n_ions as f64 * q * q / (volume_a3 * 1e-30 * K_B * temperature_k);
    Interval {
        mean: f * collective.mean,
        sd: f * collective.sd,
        interval95: [f * collective.interval95[0], f * collective.interval95[1]],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The closed sum against a brute-force double loop over origins.
    #[test]
    fn shared_step_sums_match_brute_force() {
        let f = 23;
        for (a, b) in [(1, 1), (2, 5), (5, 2), (7, 7), (3, 20), (11, 17)] {
            let (mut sum1, mut sum2) = (0.0, 0.0);
            for o0 in 0..f - a {
                for o1 in 0..f - b {
                    let lo = o0.max(o1);
                    let hi = (o0 + a).min(o1 + b);
                    if hi > lo {
                        sum1 += (hi - lo) as f64;
                        sum2 += ((hi - lo) * (hi - lo)) as f64;
                    }
                }
            }
            assert_eq!(shared_step_sums(a, b, f), (sum1, sum2), "a {a} b {b}");
        }
    }

    /// For lags much shorter than the run the kernel approaches 24 (t_a² t_b − t_a³/3)/(N T).
    #[test]
    fn kernel_long_run_limit() {
        let (f, dt, n) = (20_001, 0.1, 4);
        let (k, _) = random_walk_kernel(&[10, 40], f, dt, n);
        let t = (f - 1) as f64 * dt;
        let (ta, tb) = (1.0, 4.0);
        let want = 24.0 * (ta * ta * tb - ta * ta * ta / 3.0) / (n as f64 * t);
        assert!(
            (k[(0, 1)] / want - 1.0).abs() < 0.01,
            "{} vs {want}",
            k[(0, 1)]
        );
        let want_aa = 24.0 * (2.0 / 3.0) * ta.powi(3) / (n as f64 * t);
        assert!((k[(0, 0)] / want_aa - 1.0).abs() < 0.01);
    }
}
