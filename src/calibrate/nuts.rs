//! NUTS over the posterior with nuts-rs 0.19: several chains in parallel with rayon, each with
//! its own RNG stream (seed, chain), so a run is reproducible for a seed whatever the thread
//! count; diagonal (default) or low-rank mass-matrix adaptation; start from prior draws or the MAP.

use super::CalibrateError;
use super::diagnostics::{SamplerHealth, e_bfmi};
use super::map::{MapOptions, MapResult, find_map};
use super::posterior::{LogDensityGrad, Posterior};
use crate::cancel::CancelToken;
use crate::dist::sample::stream_rng;
use crate::model::{Model, ModelError};
use crate::progress::{Lane, Progress};
use nuts_rs::{
    Chain, CpuLogpFunc, CpuMath, CpuMathError, DiagNutsSettings, HasDims, LogpError,
    LowRankNutsSettings, Settings, Storable, Value,
};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Mass-matrix adaptation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MassMatrix {
    /// Diagonal, adapted from draws and gradients (nuts-rs default).
    #[default]
    Diag,
    /// Diagonal plus low-rank correction, for strongly correlated posteriors.
    LowRank,
}

/// Where chains start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitStrategy {
    /// A draw from the prior (σ from its prior), per chain; redrawn (up to 100 times) until the
    /// log density and its gradient are finite.
    #[default]
    Prior,
    /// The MAP (L-BFGS from the prior centre), then per chain a draw from its Laplace
    /// approximation N(ẑ, H⁻¹) (or, if the Hessian is not positive definite, the MAP plus a
    /// jitter of 0.1 prior sd).
    Map,
}

/// NUTS settings. Defaults: tune 1000, draws 1000, chains 4, seed 42, target_accept 0.9,
/// max_depth 10, diagonal mass matrix, init from prior draws, progress on ([`crate::progress`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NutsConfig {
    /// Warm-up (adaptation) iterations per chain, discarded.
    pub tune: u64,
    /// Kept draws per chain.
    pub draws: u64,
    /// Number of chains (run in parallel with rayon).
    pub chains: usize,
    /// Master seed; chain c uses stream (seed, c).
    pub seed: u64,
    /// Target mean acceptance statistic for step-size adaptation, in (0, 1).
    pub target_accept: f64,
    /// Maximum tree depth (at most 2^max_depth − 1 leapfrog steps per draw).
    pub max_depth: u64,
    /// Diagonal or low-rank mass matrix adaptation.
    pub mass_matrix: MassMatrix,
    /// Where the chains start.
    pub init: InitStrategy,
    /// Show progress on stderr: a bar per chain on a terminal, else a line every 30 s
    /// ([`crate::progress`]).
    pub progress: bool,
}

impl Default for NutsConfig {
    fn default() -> Self {
        Self {
            tune: 1000,
            draws: 1000,
            chains: 4,
            seed: 42,
            target_accept: 0.9,
            max_depth: 10,
            mass_matrix: MassMatrix::Diag,
            init: InitStrategy::Prior,
            progress: true,
        }
    }
}

impl NutsConfig {
    /// Check ranges: chains ≥ 1, draws ≥ 4, 0 < target_accept < 1, 1 ≤ max_depth ≤ 30.
    pub fn validate(&self) -> Result<(), CalibrateError> {
        let bad = |field: &str, expected: &str, found: String| {
            Err(CalibrateError::Setup(format!(
                "sampler setting '{field}': expected {expected}, found {found}"
            )))
        };
        if self.chains == 0 {
            return bad("chains", "at least 1", self.chains.to_string());
        }
        if self.draws < 4 {
            return bad("draws", "at least 4", self.draws.to_string());
        }
        if !(self.target_accept > 0.0 && self.target_accept < 1.0) {
            return bad(
                "target_accept",
                "a number in (0, 1)",
                self.target_accept.to_string(),
            );
        }
        if !(1..=30).contains(&self.max_depth) {
            return bad("max_depth", "1 to 30", self.max_depth.to_string());
        }
        // The smallest posterior (one parameter) already needs this much.
        self.check_memory(1)
    }

    /// The kept draws of every chain (`dim` values and the sampler statistics per draw, 8
    /// bytes each) must fit in memory: checked before sampling, with the estimate.
    pub fn check_memory(&self, dim: usize) -> Result<(), CalibrateError> {
        let per_draw = (dim + DRAW_STAT_COLUMNS) as f64 * 8.0;
        let bytes = self.chains as f64 * self.draws as f64 * per_draw;
        crate::budget::check_memory(
            &format!(
                "{} chains × {} draws of {dim} parameters",
                self.chains, self.draws
            ),
            bytes,
            "draws or chains",
        )
        .map_err(|m| CalibrateError::Setup(format!("sampler settings 'draws', 'chains': {m}")))
    }
}

/// Columns of [`DrawStats`] counted per kept draw in the memory estimate.
const DRAW_STAT_COLUMNS: usize = 8;

/// Sampler statistics of one kept draw (the CmdStan `__` columns).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DrawStats {
    /// Log density ln p(z
    /// y) up to a constant (CmdStan's `lp__`).
    pub lp: f64,
    /// Mean Metropolis acceptance statistic of the tree (`accept_stat__`).
    pub accept_stat: f64,
    /// Step size of the draw (`stepsize__`).
    pub step_size: f64,
    /// Tree depth (`treedepth__`).
    pub treedepth: u64,
    /// Leapfrog steps taken (`n_leapfrog__`).
    pub n_leapfrog: u64,
    /// The trajectory diverged (`divergent__`).
    pub divergent: bool,
    /// Hamiltonian energy (`energy__`).
    pub energy: f64,
    /// The tree hit `max_depth`.
    pub maxdepth_reached: bool,
}

/// One chain's kept draws and adaptation results.
#[derive(Debug, Clone)]
pub struct ChainResult {
    /// The chain's index (stream (seed, chain)).
    pub chain: u64,
    /// Draws in z, row-major (draws × dim).
    pub z: Vec<f64>,
    /// Draws in natural units (θ, then σ's), row-major (draws × dim).
    pub x: Vec<f64>,
    /// Sampler statistics, one per kept draw.
    pub stats: Vec<DrawStats>,
    /// Adapted step size at the end of warm-up (nuts-rs's dual-averaging estimate
    /// `step_size_bar`). Each kept draw uses it times a uniform factor in
    /// [1 − `step_size_jitter`, 1 + `step_size_jitter`] (nuts-rs's default jitter, 0.1), which
    /// is the draw's [`DrawStats::step_size`].
    pub step_size: f64,
    /// Relative step-size jitter during sampling (CmdStan's `stepsize_jitter`).
    pub step_size_jitter: f64,
    /// Adapted diagonal of the inverse mass matrix (inverse metric) in z, as CmdStan's
    /// `diag_e` metric states it: the variance scale of each unconstrained coordinate, in the
    /// square of z's unit. nuts-rs 0.19 samples y = (z − μ)/s with a unit metric and reports the
    /// scales s (its `mass_matrix_inv` statistic) on the draws where adaptation changed them;
    /// the equivalent inverse metric is s². `None` for the low-rank metric (nuts-rs does not
    /// expose its eigenvectors, so the dense matrix cannot be rebuilt).
    pub inv_mass_diag: Option<Vec<f64>>,
    /// Model/log-density evaluation failures (warm-up included), each a divergence for NUTS.
    pub model_errors: u64,
    /// Divergent transitions during warm-up.
    pub divergences_warmup: u64,
    /// Wall time of warm-up \[s\].
    pub seconds_warmup: f64,
    /// Wall time of the kept draws \[s\].
    pub seconds_sampling: f64,
    /// Where the chain started, in z.
    pub init_z: Vec<f64>,
}

/// The result of [`sample`].
#[derive(Debug, Clone)]
pub struct NutsRun {
    /// Unknown names: the model parameters, then `sigma_<curve>` per curve with inferred σ.
    pub names: Vec<String>,
    /// Units of the unknowns.
    pub units: Vec<String>,
    /// The settings the run used.
    pub config: NutsConfig,
    /// Number of unknowns.
    pub dim: usize,
    /// The chains, in chain order.
    pub chains: Vec<ChainResult>,
    /// Things the user should know about how the run went (e.g. a MAP init that fell back).
    pub notes: Vec<String>,
    /// The posterior mode in z found for the chains' start (init "map"); `None` when the
    /// chains started from prior draws.
    pub map_z: Option<Vec<f64>>,
}

impl NutsRun {
    /// Every kept draw in z, chain after chain (each a slice of length `dim`).
    pub fn draws_z(&self) -> Vec<&[f64]> {
        self.chains
            .iter()
            .flat_map(|c| c.z.chunks(self.dim))
            .collect()
    }

    /// Draws of unknown `k` in natural units, one Vec per chain.
    pub fn param_chains(&self, k: usize) -> Vec<Vec<f64>> {
        self.chains
            .iter()
            .map(|c| c.x.chunks(self.dim).map(|r| r[k]).collect())
            .collect()
    }

    /// Draws of unknown `k` in z, one Vec per chain.
    pub fn param_chains_z(&self, k: usize) -> Vec<Vec<f64>> {
        self.chains
            .iter()
            .map(|c| c.z.chunks(self.dim).map(|r| r[k]).collect())
            .collect()
    }

    /// Divergences, tree-depth saturation, E-BFMI and model errors per chain.
    pub fn health(&self) -> SamplerHealth {
        SamplerHealth {
            chains: self.chains.len(),
            draws_per_chain: self.config.draws as usize,
            divergences: self
                .chains
                .iter()
                .map(|c| c.stats.iter().filter(|s| s.divergent).count() as u64)
                .collect(),
            treedepth_saturated: self
                .chains
                .iter()
                .map(|c| c.stats.iter().filter(|s| s.maxdepth_reached).count() as u64)
                .collect(),
            max_depth: self.config.max_depth,
            e_bfmi: self
                .chains
                .iter()
                .map(|c| e_bfmi(&c.stats.iter().map(|s| s.energy).collect::<Vec<_>>()))
                .collect(),
            model_errors: self.chains.iter().map(|c| c.model_errors).collect(),
        }
    }
}

/// Why one log-density evaluation failed; always recoverable (NUTS counts it as a divergence).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LogpFailure(ModelError);

impl LogpError for LogpFailure {
    fn is_recoverable(&self) -> bool {
        true
    }
}

struct NutsLogp<'p> {
    kernel: Box<dyn LogDensityGrad + Send + 'p>,
    dim: usize,
    errors: &'p AtomicU64,
}

impl HasDims for NutsLogp<'_> {
    fn dim_sizes(&self) -> HashMap<String, u64> {
        HashMap::from([
            ("unconstrained_parameter".to_string(), self.dim as u64),
            ("dim".to_string(), self.dim as u64),
        ])
    }
}

impl CpuLogpFunc for NutsLogp<'_> {
    type LogpError = LogpFailure;
    type FlowParameters = ();
    type ExpandedVector = Vec<f64>;

    fn dim(&self) -> usize {
        self.dim
    }

    fn logp(&mut self, position: &[f64], gradient: &mut [f64]) -> Result<f64, LogpFailure> {
        self.kernel.logp_grad(position, gradient).map_err(|e| {
            self.errors.fetch_add(1, Ordering::Relaxed);
            LogpFailure(e)
        })
    }

    fn expand_vector<R: rand::Rng + ?Sized>(
        &mut self,
        _rng: &mut R,
        array: &[f64],
    ) -> Result<Vec<f64>, CpuMathError> {
        Ok(array.to_vec())
    }
}

/// Run NUTS on `post` with `cfg`. Chains run in parallel (rayon); chain c draws its start and
/// its sampler RNG from stream (seed, c), so results are identical for a seed whatever the
/// number of threads. Model failures during sampling are counted, never fatal.
pub fn sample<M: Model>(
    post: &Posterior<'_, M>,
    cfg: &NutsConfig,
) -> Result<NutsRun, CalibrateError> {
    sample_cancellable(post, cfg, &CancelToken::new())
}

/// [`sample`] that stops with [`CalibrateError::Cancelled`] once `cancel` is raised: every
/// chain checks it before each draw (warm-up included), so the run ends within one draw's
/// worth of work. The draws of a run that completes are those of [`sample`].
pub fn sample_cancellable<M: Model>(
    post: &Posterior<'_, M>,
    cfg: &NutsConfig,
    cancel: &CancelToken,
) -> Result<NutsRun, CalibrateError> {
    sample_chains(post, cfg, 0..cfg.chains as u64, cancel)
}

/// The chains `chains` (a sub-range of 0..`cfg.chains`) of the run [`sample_cancellable`]
/// makes with `cfg`: a shard of a calibration. Chain c's start and sampler stream depend on
/// (seed, c) only, and a MAP start is found alike in every shard, so each chain is the very
/// chain the whole run holds; [`super::part::merge_nuts_parts`] puts the shards back together.
pub fn sample_chains<M: Model>(
    post: &Posterior<'_, M>,
    cfg: &NutsConfig,
    chains: std::ops::Range<u64>,
    cancel: &CancelToken,
) -> Result<NutsRun, CalibrateError> {
    cfg.validate()?;
    if chains.end > cfg.chains as u64 || chains.start > chains.end {
        return Err(CalibrateError::Setup(format!(
            "chains {chains:?} asked of a run of {} chains",
            cfg.chains
        )));
    }
    let dim = post.dim();
    cfg.check_memory(dim)?;
    let mut notes = Vec::new();
    let map_z = match cfg.init {
        InitStrategy::Map => match find_map(post, &MapOptions::default()) {
            Ok(m) => {
                if m.starts.failed > 0 {
                    notes.push(format!(
                        "MAP initialisation: the log density fails at {} of {} start points \
                         (last: {}).",
                        m.starts.failed,
                        m.starts.tried,
                        m.starts.last_error.as_deref().unwrap_or("")
                    ));
                }
                let elsewhere = m.starts.elsewhere();
                if !elsewhere.is_empty() {
                    notes.push(format!(
                        "MAP initialisation: {} optimisation(s) converged away from the best mode \
                         (ln p {} vs {:.3}): the posterior may have several modes; chains start \
                         near the best one.",
                        elsewhere.len(),
                        m.starts.elsewhere_log_densities(),
                        m.log_density
                    ));
                }
                if m.laplace.is_none() {
                    notes.push(
                        "MAP initialisation: the Hessian at the mode is not positive definite; \
                         chains start at the MAP plus 0.1 prior sd of jitter."
                            .into(),
                    );
                }
                Some(m)
            }
            // no point of the prior's central region can be evaluated: prior draws would not
            // do better, and chains started anywhere else would only hide the problem
            Err(e @ CalibrateError::NoValidStart { .. }) => return Err(e),
            Err(e) => {
                notes.push(format!(
                    "MAP initialisation failed ({e}); chains started from prior draws instead."
                ));
                None
            }
        },
        InitStrategy::Prior => None,
    };
    let n_chains = (chains.end - chains.start) as usize;
    let progress = Progress::lanes(
        "calibrate",
        "iterations",
        "chain",
        &vec![cfg.tune + cfg.draws; n_chains],
        cfg.progress,
    );
    let first = chains.start;
    let results: Vec<Result<ChainResult, CalibrateError>> = chains
        .into_par_iter()
        .map(|c| {
            let lane = progress.lane((c - first) as usize);
            run_chain(post, cfg, c, map_z.as_ref(), lane, cancel)
        })
        .collect();
    progress.finish();
    if cancel.is_cancelled() {
        return Err(CalibrateError::Cancelled);
    }
    let chains = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    let units = post.parameters().iter().map(|p| p.unit.clone()).collect();
    Ok(NutsRun {
        names: post.names().to_vec(),
        units,
        config: cfg.clone(),
        dim,
        chains,
        notes,
        map_z: map_z.map(|m| m.z),
    })
}

#[allow(clippy::field_reassign_with_default)] // one macro body serves two settings types
fn run_chain<M: Model>(
    post: &Posterior<'_, M>,
    cfg: &NutsConfig,
    chain: u64,
    map: Option<&MapResult>,
    bar: Lane<'_>,
    cancel: &CancelToken,
) -> Result<ChainResult, CalibrateError> {
    let dim = post.dim();
    let mut rng = stream_rng(cfg.seed, chain);
    // Starting point.
    let mut kernel = post.gradient_kernel();
    let mut z0 = vec![0.0; dim];
    let mut g = vec![0.0; dim];
    let prior_sd: Vec<f64> = post.prior_z_mean_sd().iter().map(|p| p.1).collect();
    let mut last = String::new();
    let tries = 100;
    let mut ok = false;
    for _ in 0..tries {
        match map {
            // A draw from the Laplace approximation N(ẑ, H⁻¹): chains start dispersed on the
            // posterior's own scale, so warm-up need not first travel in from the prior's.
            Some(MapResult {
                laplace: Some(lap), ..
            }) => {
                let mut n = vec![0.0; dim];
                crate::dist::sample::fill_standard_normals(&mut rng, &mut n);
                lap.z_from_standard_normals(&n, &mut z0);
            }
            Some(m) => {
                let mut n = vec![0.0; dim];
                crate::dist::sample::fill_standard_normals(&mut rng, &mut n);
                for k in 0..dim {
                    z0[k] = m.z[k] + 0.1 * prior_sd[k] * n[k];
                }
            }
            None => post.prior_draw(&mut rng, &mut z0),
        }
        match kernel.logp_grad(&z0, &mut g) {
            Ok(_) => {
                ok = true;
                break;
            }
            Err(e) => last = e.to_string(),
        }
    }
    if !ok {
        return Err(CalibrateError::Init { chain, tries, last });
    }
    drop(kernel);
    let errors = AtomicU64::new(0);
    let logp = NutsLogp {
        kernel: post.gradient_kernel(),
        dim,
        errors: &errors,
    };
    let sampler_err = |e: anyhow::Error| CalibrateError::Sampler {
        chain,
        message: format!("{e:#}"),
    };
    macro_rules! drive {
        ($settings:expr) => {{
            let mut s = $settings;
            s.num_tune = cfg.tune;
            s.num_draws = cfg.draws;
            s.num_chains = cfg.chains;
            s.seed = cfg.seed;
            s.maxdepth = cfg.max_depth;
            s.adapt_options.step_size_settings.target_accept = cfg.target_accept;
            s.adapt_options.mass_matrix_options.store_mass_matrix = true;
            let jitter = s.adapt_options.step_size_settings.jitter.unwrap_or(0.0);
            let mut ch = s
                .new_chain(chain, CpuMath::new(logp), &mut rng)
                .map_err(sampler_err)?;
            ch.set_position(&z0).map_err(sampler_err)?;
            let mut res = drive_chain(post, cfg, chain, &mut ch, bar, &errors, cancel)
                .map_err(sampler_err)?;
            res.step_size_jitter = jitter;
            res
        }};
    }
    let mut res = match cfg.mass_matrix {
        MassMatrix::Diag => drive!(DiagNutsSettings::default()),
        MassMatrix::LowRank => drive!(LowRankNutsSettings::default()),
    };
    res.init_z = z0;
    Ok(res)
}

fn value_f64(v: &Option<Value>) -> Option<f64> {
    match v.as_ref()? {
        Value::ScalarF64(x) => Some(*x),
        Value::ScalarF32(x) => Some(*x as f64),
        Value::ScalarU64(x) => Some(*x as f64),
        Value::ScalarI64(x) => Some(*x as f64),
        Value::ScalarBool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

fn drive_chain<'p, M: Model, C: Chain<CpuMath<NutsLogp<'p>>>>(
    post: &Posterior<'_, M>,
    cfg: &NutsConfig,
    chain: u64,
    ch: &mut C,
    bar: Lane<'_>,
    errors: &AtomicU64,
    cancel: &CancelToken,
) -> anyhow::Result<ChainResult> {
    let dim = post.dim();
    let n = cfg.draws as usize;
    let mut z = Vec::with_capacity(n * dim);
    let mut x = Vec::with_capacity(n * dim);
    let mut stats = Vec::with_capacity(n);
    let mut xrow = vec![0.0; dim];
    let mut inv_mass = None;
    let mut step_size = f64::NAN;
    let mut div_warm = 0;
    let mut div_kept = 0;
    let t0 = Instant::now();
    let mut t_warm = 0.0;
    for it in 0..cfg.tune + cfg.draws {
        if cancel.is_cancelled() {
            // `sample_cancellable` reports the cancellation itself, whatever this says.
            anyhow::bail!("cancelled");
        }
        let (pos, _expanded, mut st, progress) = ch.expanded_draw()?;
        let all = {
            let m = ch.math();
            let dims = (&*m).into();
            st.get_all(&dims)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<HashMap<String, Option<Value>>>()
        };
        let get = |k: &str| all.get(k).and_then(value_f64).unwrap_or(f64::NAN);
        // The last reported transformation is the one sampling uses (it changes only in warm-up).
        if let Some(Some(Value::F64(scales))) = all.get("mass_matrix_inv") {
            inv_mass = Some(scales.iter().map(|s| s * s).collect());
        }
        if progress.tuning {
            if progress.diverging {
                div_warm += 1;
            }
            if it + 1 == cfg.tune {
                t_warm = t0.elapsed().as_secs_f64();
            }
        } else {
            if step_size.is_nan() {
                step_size = match get("step_size_bar") {
                    s if s.is_finite() && s > 0.0 => s,
                    _ => progress.step_size,
                };
            }
            if progress.diverging {
                div_kept += 1;
            }
            z.extend_from_slice(&pos);
            post.natural_from_z(&pos, &mut xrow);
            x.extend_from_slice(&xrow);
            stats.push(DrawStats {
                lp: get("logp"),
                accept_stat: get("mean_tree_accept"),
                step_size: progress.step_size,
                treedepth: get("depth") as u64,
                n_leapfrog: progress.num_steps,
                divergent: progress.diverging,
                energy: get("energy"),
                maxdepth_reached: get("maxdepth_reached") > 0.5,
            });
        }
        bar.inc(1);
        if it % 50 == 0 || it + 1 == cfg.tune + cfg.draws {
            bar.set_message(format!(
                "{} div: {div_kept}, step {:.2e}",
                if progress.tuning {
                    "warm-up"
                } else {
                    "sampling"
                },
                progress.step_size
            ));
        }
    }
    if cfg.tune == 0 {
        t_warm = 0.0;
    }
    Ok(ChainResult {
        chain,
        z,
        x,
        stats,
        step_size,
        step_size_jitter: 0.0,
        inv_mass_diag: inv_mass,
        model_errors: errors.load(Ordering::Relaxed),
        divergences_warmup: div_warm,
        seconds_warmup: t_warm,
        seconds_sampling: t0.elapsed().as_secs_f64() - t_warm,
        init_z: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_from_toml_with_defaults_and_unknown_fields_rejected() {
        let c: NutsConfig =
            toml::from_str("chains = 2\nseed = 3\nmass_matrix = \"low_rank\"\ninit = \"map\"")
                .unwrap();
        assert_eq!((c.chains, c.seed, c.tune), (2, 3, 1000));
        assert_eq!(
            (c.mass_matrix, c.init),
            (MassMatrix::LowRank, InitStrategy::Map)
        );
        let e = toml::from_str::<NutsConfig>("chain = 2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("chain"), "{e}");
        let bad = NutsConfig {
            target_accept: 1.5,
            ..NutsConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("target_accept")
        );
    }
}
