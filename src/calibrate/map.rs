//! Maximum a posteriori estimate by L-BFGS (argmin) on the exact AD gradient in z, and a Laplace
//! approximation around it.
//!
//! The Laplace covariance is Σ_L = H⁻¹ with H the Hessian of −ln p(z | y) at the mode. H is
//! computed by central finite differences of the *exact* AD gradient (step h_k =
//! 1e-5·max(1, |z_k|), then symmetrised), which is accurate to O(h²) relative ≈ 1e-10 and costs
//! 2·dim gradient evaluations. Natural-unit summaries push N(ẑ, Σ_L) through the transforms
//! (quantiles exactly, mean and sd as for the prior: lognormal closed form, logit by quadrature).

use super::CalibrateError;
use super::posterior::{LogDensityGrad, Posterior};
use crate::dist::JointDistribution;
use crate::model::Model;
use argmin::core::{CostFunction, Executor, Gradient, State, TerminationReason};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;
use std::sync::Mutex;

/// L-BFGS settings and starts. Defaults: 1000 iterations, gradient tolerance 1e-8, cost
/// tolerance 1e-12, memory 7; 4 optimisations: from the prior centre and from the 3 best (by log
/// density) of 32 scrambled-Sobol points in the prior's central region, seed 0.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MapOptions {
    /// Most L-BFGS iterations per optimisation.
    pub max_iters: u64,
    /// Stop when the gradient norm (in standardised coordinates) is below this.
    pub tol_grad: f64,
    /// Stop when the change of −ln p between iterations is below this.
    pub tol_cost: f64,
    /// L-BFGS memory (past steps kept).
    pub memory: usize,
    /// First start in z; `None` = prior centre (z_θ = μ, σ at its prior median).
    pub start: Option<Vec<f64>>,
    /// Optimisations run (≥ 1): from the first start (when the log density can be evaluated
    /// there) and from the best of the candidates.
    pub starts: usize,
    /// Candidate start points: z = centre + sd·u with u a scrambled-Sobol point of
    /// [−1.5, 1.5]^dim (centre and sd of the prior in z, per coordinate).
    pub candidates: usize,
    /// Scramble seed of the candidates.
    pub seed: u64,
}

impl Default for MapOptions {
    fn default() -> Self {
        Self {
            max_iters: 1000,
            tol_grad: 1e-8,
            tol_cost: 1e-12,
            memory: 7,
            start: None,
            starts: 4,
            candidates: 32,
            seed: 0,
        }
    }
}

/// Half-width of the candidates' box in prior sds.
const CANDIDATE_HALF_WIDTH: f64 = 1.5;

/// How the starts went (see [`MapOptions`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StartReport {
    /// Points tried as starts (the first start and the candidates).
    pub tried: usize,
    /// Of those, where the log density could not be evaluated.
    pub failed: usize,
    /// The last such error.
    pub last_error: Option<String>,
    /// One entry per optimisation, in start order.
    pub runs: Vec<StartRun>,
    /// Optimisations that ended at the reported mode (ln p within 1e-3 of the best and every
    /// coordinate within 0.05 prior sd).
    pub agreeing: usize,
}

impl StartReport {
    /// Converged optimisations that ended away from the reported mode: another mode or a ridge.
    pub fn elsewhere(&self) -> Vec<&StartRun> {
        self.runs
            .iter()
            .filter(|r| r.converged && !r.at_mode)
            .collect()
    }

    /// The ln p of each optimisation in [`StartReport::elsewhere`], listed for a message
    /// ("-12.345, -13.001").
    pub fn elsewhere_log_densities(&self) -> String {
        self.elsewhere()
            .iter()
            .map(|r| format!("{:.3}", r.log_density.unwrap_or(f64::NAN)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Optimisations stopped before convergence (iteration limit, failed line search, error).
    pub fn stopped_early(&self) -> usize {
        self.runs
            .iter()
            .filter(|r| !r.converged && !r.at_mode)
            .count()
    }
}

/// One optimisation of the multi-start search.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StartRun {
    /// ln p at the start.
    pub start_log_density: f64,
    /// ln p at the end; `None` if the optimisation failed.
    pub log_density: Option<f64>,
    /// L-BFGS iterations taken.
    pub iterations: u64,
    /// Why it stopped (or the error).
    pub termination: String,
    /// Stopped by the convergence tests (not by the iteration limit, a failed line search or
    /// an error).
    pub converged: bool,
    /// Ended at the reported mode.
    pub at_mode: bool,
    #[serde(skip)]
    z: Vec<f64>,
}

/// Natural-unit Laplace summary of one unknown.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LaplaceParam {
    /// Unknown's name.
    pub name: String,
    /// Unit of its natural values.
    pub unit: String,
    /// T(ẑ), the MAP in natural units.
    pub mode: f64,
    /// Mean of T(z) under the Laplace approximation \[unit\].
    pub mean: f64,
    /// Sd of T(z) under the Laplace approximation \[unit\].
    pub sd: f64,
    /// 5 % quantile of T(z), exact (transform of the normal quantile) \[unit\].
    pub q5: f64,
    /// Median, T(ẑ) \[unit\].
    pub q50: f64,
    /// 95 % quantile of T(z), exact \[unit\].
    pub q95: f64,
}

/// The result of [`find_map`].
#[derive(Debug, Clone)]
pub struct MapResult {
    /// Mode in z.
    pub z: Vec<f64>,
    /// Mode in natural units.
    pub x: Vec<f64>,
    /// ln p(ẑ | y) (up to the constant).
    pub log_density: f64,
    /// L-BFGS iterations of the best optimisation.
    pub iterations: u64,
    /// Why the best optimisation stopped.
    pub termination: String,
    /// Hessian of −ln p at ẑ, in z.
    pub hessian_z: DMatrix<f64>,
    /// Laplace approximation N(ẑ, H⁻¹) as a distribution over the unknowns; `None` if H is not
    /// positive definite (the mode is a saddle or the posterior is improper along some direction).
    pub laplace: Option<JointDistribution>,
    /// Per-unknown natural-unit summaries (empty when `laplace` is `None`).
    pub summary: Vec<LaplaceParam>,
    /// The multi-start search.
    pub starts: StartReport,
}

/// Cost reported where the log density cannot be evaluated.
const FAILED_COST: f64 = 1e100;

/// The optimisation runs in standardised coordinates u, z = centre + scale·u (scale = the prior
/// sd of each unknown in z), so that parameters with very different prior widths (an energy in
/// J/mol next to a barrier in eV) are equally conditioned for L-BFGS.
struct Problem<'r, 'k> {
    kernel: &'r Mutex<Box<dyn LogDensityGrad + Send + 'k>>,
    dim: usize,
    centre: Vec<f64>,
    scale: Vec<f64>,
}

/// z = centre + scale·u.
fn z_from_u(centre: &[f64], scale: &[f64], u: &[f64]) -> Vec<f64> {
    u.iter()
        .zip(centre.iter().zip(scale))
        .map(|(u, (c, s))| c + s * u)
        .collect()
}

impl Problem<'_, '_> {
    fn z_of(&self, u: &[f64]) -> Vec<f64> {
        z_from_u(&self.centre, &self.scale, u)
    }

    fn u_of(&self, z: &[f64]) -> Vec<f64> {
        z.iter()
            .zip(self.centre.iter().zip(&self.scale))
            .map(|(z, (c, s))| (z - c) / s)
            .collect()
    }

    /// ln p and its gradient in z.
    fn eval(&self, z: &[f64]) -> Result<(f64, Vec<f64>), argmin::core::Error> {
        let mut g = vec![0.0; self.dim];
        let mut k = self
            .kernel
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned lock"))?;
        let lp = k.logp_grad(z, &mut g).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok((lp, g))
    }

    /// ln p and its gradient in u.
    fn eval_u(&self, u: &[f64]) -> Result<(f64, Vec<f64>), argmin::core::Error> {
        let (lp, g) = self.eval(&self.z_of(u))?;
        Ok((lp, g.iter().zip(&self.scale).map(|(g, s)| g * s).collect()))
    }
}

impl CostFunction for Problem<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        // A failed evaluation (model error, non-finite density) is a wall: a huge cost makes
        // the line search shrink its step instead of aborting the optimisation.
        Ok(self.eval_u(p).map(|r| -r.0).unwrap_or(FAILED_COST))
    }
}

impl Gradient for Problem<'_, '_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        Ok(self
            .eval_u(p)
            .map(|r| r.1.into_iter().map(|g| -g).collect())
            .unwrap_or_else(|_| vec![0.0; self.dim]))
    }
}

/// Find the posterior mode in z by L-BFGS with More–Thuente line search on the exact gradient
/// from several starts ([`MapOptions`]: start points where the model fails are skipped and
/// counted), then the Laplace approximation at the best mode (see the module doc). Fails only
/// if no start point can be evaluated or every optimisation fails.
pub fn find_map<M: Model>(
    post: &Posterior<'_, M>,
    opts: &MapOptions,
) -> Result<MapResult, CalibrateError> {
    let dim = post.dim();
    let first = opts.start.clone().unwrap_or_else(|| post.prior_centre());
    if first.len() != dim {
        return Err(CalibrateError::Map(format!(
            "start has {} entries, expected {dim}",
            first.len()
        )));
    }
    if opts.starts == 0 {
        return Err(CalibrateError::Map("starts: expected at least 1".into()));
    }
    let (centre, scale): (Vec<f64>, Vec<f64>) = post
        .prior_z_mean_sd()
        .into_iter()
        .map(|(m, s)| (m, if s.is_finite() && s > 0.0 { s } else { 1.0 }))
        .unzip();
    // The first start, then the candidates; each with its ln p, or the error.
    let mut points = vec![first];
    let sobol = crate::dist::sobol::ScrambledSobol::new(dim, opts.seed);
    let mut u = vec![0.0; dim];
    for k in 0..opts.candidates {
        sobol.point(k as u64, &mut u);
        points.push(
            (0..dim)
                .map(|i| centre[i] + scale[i] * CANDIDATE_HALF_WIDTH * (2.0 * u[i] - 1.0))
                .collect(),
        );
    }
    let (mut failed, mut last_error) = (0, None);
    let mut valid: Vec<(usize, f64)> = Vec::new();
    for (k, z) in points.iter().enumerate() {
        match post.log_density_f64(z) {
            Ok(lp) if lp.is_finite() => valid.push((k, lp)),
            Ok(lp) => {
                failed += 1;
                last_error = Some(format!("ln p = {lp}"));
            }
            Err(e) => {
                failed += 1;
                last_error = Some(e.to_string());
            }
        }
    }
    if valid.is_empty() {
        return Err(CalibrateError::NoValidStart {
            tried: points.len(),
            last: last_error.unwrap_or_default(),
        });
    }
    // The first start if it works, then the best candidates (stable order among equals).
    let mut chosen: Vec<(usize, f64)> = valid.iter().filter(|v| v.0 == 0).copied().collect();
    let mut rest: Vec<(usize, f64)> = valid.iter().filter(|v| v.0 != 0).copied().collect();
    rest.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    chosen.extend(rest.into_iter().take(opts.starts - chosen.len()));
    let mut runs: Vec<StartRun> = chosen
        .par_iter()
        .map(|&(k, lp0)| optimise(post, opts, &centre, &scale, &points[k], lp0))
        .collect();
    let best = runs
        .iter()
        .filter_map(|r| r.log_density.map(|lp| (r, lp)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(r, _)| r.clone())
        .ok_or_else(|| {
            CalibrateError::Map(format!(
                "every one of {} optimisations failed; the first: {}",
                runs.len(),
                runs.first().map_or("", |r| r.termination.as_str())
            ))
        })?;
    let log_density = best.log_density.unwrap_or(f64::NAN);
    for r in &mut runs {
        r.at_mode = r
            .log_density
            .is_some_and(|lp| (lp - log_density).abs() <= 1e-3)
            && r.z
                .iter()
                .zip(&best.z)
                .zip(&scale)
                .all(|((a, b), s)| (a - b).abs() <= 0.05 * s);
    }
    let agreeing = runs.iter().filter(|r| r.at_mode).count();
    let z = best.z.clone();
    let (iterations, termination) = (best.iterations, best.termination.clone());
    let starts = StartReport {
        tried: points.len(),
        failed,
        last_error,
        runs,
        agreeing,
    };
    let kernel = Mutex::new(post.gradient_kernel());
    let problem = Problem {
        kernel: &kernel,
        dim,
        centre,
        scale,
    };
    let err = |e: argmin::core::Error| CalibrateError::Map(format!("{e:#}"));
    // Hessian of −ln p by central differences of the exact gradient.
    let mut h = DMatrix::zeros(dim, dim);
    for k in 0..dim {
        let step = 1e-4 * problem.scale[k];
        let mut zp = z.clone();
        let mut zm = z.clone();
        zp[k] += step;
        zm[k] -= step;
        let gp = problem.eval(&zp).map_err(err)?.1;
        let gm = problem.eval(&zm).map_err(err)?.1;
        for r in 0..dim {
            h[(r, k)] = -(gp[r] - gm[r]) / (2.0 * step);
        }
    }
    let h = (&h + h.transpose()) * 0.5;
    let mut x = vec![0.0; dim];
    post.natural_from_z(&z, &mut x);
    let params = post.parameters();
    let laplace = h.clone().cholesky().and_then(|c| {
        let cov = c.inverse();
        let cov = (&cov + cov.transpose()) * 0.5;
        JointDistribution::new(
            "Laplace approximation".into(),
            "MAP + inverse Hessian".into(),
            params.clone(),
            DVector::from_vec(z.clone()),
            cov,
        )
        .ok()
    });
    let summary = laplace
        .as_ref()
        .map(|d| {
            (0..dim)
                .map(|i| {
                    let (mean, sd) = d.marginal_mean_sd(i);
                    LaplaceParam {
                        name: params[i].name.clone(),
                        unit: params[i].unit.clone(),
                        mode: x[i],
                        mean,
                        sd,
                        q5: d.marginal_quantile(i, 0.05),
                        q50: d.marginal_quantile(i, 0.5),
                        q95: d.marginal_quantile(i, 0.95),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(MapResult {
        z,
        x,
        log_density,
        iterations,
        termination,
        hessian_z: h,
        laplace,
        summary,
        starts,
    })
}

/// One L-BFGS optimisation from `z0` (ln p there `lp0`); a failure is reported in the run.
fn optimise<M: Model>(
    post: &Posterior<'_, M>,
    opts: &MapOptions,
    centre: &[f64],
    scale: &[f64],
    z0: &[f64],
    lp0: f64,
) -> StartRun {
    let kernel = Mutex::new(post.gradient_kernel());
    let problem = Problem {
        kernel: &kernel,
        dim: z0.len(),
        centre: centre.to_vec(),
        scale: scale.to_vec(),
    };
    let u0 = problem.u_of(z0);
    let failed = |termination: String| StartRun {
        start_log_density: lp0,
        log_density: None,
        iterations: 0,
        termination,
        converged: false,
        at_mode: false,
        z: z0.to_vec(),
    };
    let solver = MoreThuenteLineSearch::new()
        .with_c(1e-4, 0.9)
        .and_then(|ls| LBFGS::new(ls, opts.memory).with_tolerance_grad(opts.tol_grad))
        .and_then(|s| s.with_tolerance_cost(opts.tol_cost));
    let solver = match solver {
        Ok(s) => s,
        Err(e) => return failed(format!("{e:#}")),
    };
    let res = Executor::new(problem, solver)
        .configure(|s| s.param(u0).max_iters(opts.max_iters))
        .run();
    let res = match res {
        Ok(r) => r,
        Err(e) => return failed(format!("{e:#}")),
    };
    let state = res.state();
    let Some(u) = state.get_best_param() else {
        return failed("L-BFGS returned no parameter".into());
    };
    let z = z_from_u(centre, scale, u);
    let reason = state.get_termination_reason();
    let termination = reason.map_or_else(|| "not terminated".to_string(), |t| t.text().to_string());
    let converged = matches!(reason, Some(TerminationReason::SolverConverged));
    match post.log_density_f64(&z) {
        Ok(lp) if lp.is_finite() => StartRun {
            start_log_density: lp0,
            log_density: Some(lp),
            iterations: state.get_iter(),
            termination,
            converged,
            at_mode: false,
            z,
        },
        Ok(lp) => failed(format!("ln p = {lp} at the end point")),
        Err(e) => failed(format!("the model fails at the end point: {e}")),
    }
}

impl MapResult {
    /// `n` independent draws in z from the Laplace approximation N(ẑ, H⁻¹) (stream (seed, 0)),
    /// what a `--map` run shows as its posterior; without a Laplace approximation (H not
    /// positive definite) the mode alone.
    pub fn laplace_draws_z(&self, n: usize, seed: u64) -> Vec<Vec<f64>> {
        let dim = self.z.len();
        let mut rng = crate::dist::sample::stream_rng(seed, 0);
        match &self.laplace {
            Some(lap) => (0..n)
                .map(|_| {
                    let mut e = vec![0.0; dim];
                    crate::dist::sample::fill_standard_normals(&mut rng, &mut e);
                    let mut z = vec![0.0; dim];
                    lap.z_from_standard_normals(&e, &mut z);
                    z
                })
                .collect(),
            None => vec![self.z.clone()],
        }
    }

    /// How the optimisation at the reported mode ended, as a sentence ("L-BFGS converged after
    /// 23 iterations." or "L-BFGS stopped after 1000 iterations (maximum number of iterations
    /// reached) without meeting its convergence tests.").
    pub fn stop_sentence(&self) -> String {
        let converged = self.starts.runs.iter().any(|r| r.at_mode && r.converged);
        if converged {
            format!("L-BFGS converged after {} iterations.", self.iterations)
        } else {
            format!(
                "L-BFGS stopped after {} iterations ({}) without meeting its convergence tests.",
                self.iterations,
                self.termination.to_lowercase()
            )
        }
    }

    /// What the user should know about the search, in words: start points where the model
    /// fails, optimisations that converged elsewhere (another mode or a ridge), no
    /// convergence at the mode, no Laplace approximation.
    pub fn warnings(&self) -> Vec<String> {
        let s = &self.starts;
        let mut w = Vec::new();
        if s.failed > 0 {
            w.push(format!(
                "the log density fails at {} of {} MAP start points (last: {}).",
                s.failed,
                s.tried,
                s.last_error.as_deref().unwrap_or("")
            ));
        }
        let elsewhere = s.elsewhere();
        if !elsewhere.is_empty() {
            w.push(format!(
                "{} MAP optimisation(s) converged away from this mode (ln p {} vs {:.3}): a second \
                 mode or a ridge; check with NUTS.",
                elsewhere.len(),
                s.elsewhere_log_densities(),
                self.log_density
            ));
        }
        if !s.runs.iter().any(|r| r.at_mode && r.converged) {
            w.push(format!(
                "{} The mode may be inaccurate.",
                self.stop_sentence()
            ));
        }
        if self.laplace.is_none() {
            w.push(
                "the Hessian at the MAP is not positive definite: no Laplace approximation (the \
                 data do not pin down every parameter; run NUTS)."
                    .into(),
            );
        }
        w
    }

    /// JSON: mode (z and natural), log density, iterations, termination, Laplace summaries
    /// (natural units) and the Laplace covariance in z (null if H is not positive definite).
    pub fn to_json(&self) -> String {
        let cov = self.laplace.as_ref().map(|d| {
            (0..d.dim())
                .map(|i| (0..d.dim()).map(|j| d.cov_z[(i, j)]).collect::<Vec<f64>>())
                .collect::<Vec<_>>()
        });
        let v = serde_json::json!({
            "mode_z": self.z,
            "mode": self.x,
            "log_density": self.log_density,
            "iterations": self.iterations,
            "termination": self.termination,
            "laplace_ok": self.laplace.is_some(),
            "starts": self.starts,
            "params": self.summary,
            "laplace_cov_z": cov,
        });
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }
}
