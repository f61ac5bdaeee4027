//! Posterior summaries: per-unknown table (mean, sd, 5/50/95 %, R̂, bulk/tail ESS, MCSE, unit),
//! how far the data moved each parameter from its prior, sampler-health warnings, and
//! posterior-predictive bands per curve; written as JSON and CSV.
//!
//! Prior → posterior shift, in the transformed space z where the prior is normal:
//! shift = (E_post(z) − μ_z)/σ_z (in prior sds) and sd ratio = sd_post(z)/σ_z. A parameter with
//! |shift| > [`CONFLICT_SHIFT`] = 3 is flagged as a prior–data conflict: a normal prior puts
//! only 0.27 % of its mass beyond 3 sds, so the data then say the atomistic estimate (or the
//! model) is wrong, rather than merely refining it. An sd ratio near 1 means the data did not
//! inform that parameter.

use super::CalibrateError;
use super::diagnostics::{
    ParamDiagnostics, SamplerHealth, param_diagnostics, quantile_sorted, warnings,
};
use super::nuts::{NutsConfig, NutsRun};
use super::posterior::{Likelihood, Posterior};
use crate::dist::sample::stream_rng;
use crate::model::{Model, OutputShape};
use crate::output::{csv_field, write_atomic};
use rand_distr::{Distribution, StandardNormal, StudentT};
use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// |shift| in prior sds above which a prior–data conflict is reported.
pub const CONFLICT_SHIFT: f64 = 3.0;

/// One row of the posterior table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ParamSummary {
    /// Unknown's name (a model parameter or `sigma_<curve>`).
    pub name: String,
    /// Unit of its natural values.
    pub unit: String,
    /// Posterior mean \[unit\].
    pub mean: f64,
    /// Posterior sd \[unit\].
    pub sd: f64,
    /// Posterior 5 % quantile \[unit\].
    pub q5: f64,
    /// Posterior median \[unit\].
    pub q50: f64,
    /// Posterior 95 % quantile \[unit\].
    pub q95: f64,
    /// Rank-normalised split R̂ ([`super::diagnostics::rhat`]).
    pub rhat: f64,
    /// Bulk effective sample size ([`super::diagnostics::ess_bulk`]).
    pub ess_bulk: f64,
    /// Tail effective sample size ([`super::diagnostics::ess_tail`]).
    pub ess_tail: f64,
    /// Monte Carlo standard error of the mean \[unit\].
    pub mcse_mean: f64,
    /// Monte Carlo standard error of the sd \[unit\].
    pub mcse_sd: f64,
    /// Prior marginal mean in natural units \[unit\].
    pub prior_mean: f64,
    /// Prior marginal sd \[unit\].
    pub prior_sd: f64,
    /// Prior marginal 5 % quantile \[unit\].
    pub prior_q5: f64,
    /// Prior marginal 95 % quantile \[unit\].
    pub prior_q95: f64,
    /// (E_post(z) − μ_z)/σ_z.
    pub shift_prior_sd: f64,
    /// sd_post(z)/σ_z.
    pub sd_ratio: f64,
    /// |shift| > [`CONFLICT_SHIFT`].
    pub conflict: bool,
}

/// Everything a calibration run reports besides the draws.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CalibrationSummary {
    /// One row per unknown (model parameters, then the σ's).
    pub params: Vec<ParamSummary>,
    /// Divergences, tree-depth saturation, E-BFMI and failed model evaluations per chain.
    pub health: SamplerHealth,
    /// Convergence warnings, notes of the run and prior–data conflicts, in words.
    pub warnings: Vec<String>,
    /// The sampler settings of the run.
    pub config: NutsConfig,
    /// [`CONFLICT_SHIFT`]: the |shift| in prior sds above which a conflict is reported.
    pub conflict_threshold_prior_sd: f64,
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (
        m,
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0)).sqrt(),
    )
}

/// Summarise a run: table, shifts, health and warnings (diagnostics in natural units).
pub fn summarize<M: Model>(post: &Posterior<'_, M>, run: &NutsRun) -> CalibrationSummary {
    let prior_z = post.prior_z_mean_sd();
    let prior_x = post.prior_natural_summary();
    let mut diags: Vec<ParamDiagnostics> = Vec::new();
    let mut params = Vec::new();
    for k in 0..run.dim {
        let chains = run.param_chains(k);
        let d = param_diagnostics(&chains);
        diags.push(d);
        let mut all: Vec<f64> = chains.concat();
        let (mean, sd) = mean_sd(&all);
        all.sort_by(f64::total_cmp);
        let zs: Vec<f64> = run.param_chains_z(k).concat();
        let (mz, sz) = mean_sd(&zs);
        let (mu, s0) = prior_z[k];
        let shift = (mz - mu) / s0;
        params.push(ParamSummary {
            name: run.names[k].clone(),
            unit: run.units[k].clone(),
            mean,
            sd,
            q5: quantile_sorted(&all, 0.05),
            q50: quantile_sorted(&all, 0.5),
            q95: quantile_sorted(&all, 0.95),
            rhat: d.rhat,
            ess_bulk: d.ess_bulk,
            ess_tail: d.ess_tail,
            mcse_mean: d.mcse_mean,
            mcse_sd: d.mcse_sd,
            prior_mean: prior_x[k][0],
            prior_sd: prior_x[k][1],
            prior_q5: prior_x[k][2],
            prior_q95: prior_x[k][3],
            shift_prior_sd: shift,
            sd_ratio: sz / s0,
            conflict: shift.abs() > CONFLICT_SHIFT,
        });
    }
    let health = run.health();
    let mut w = run.notes.clone();
    w.extend(warnings(&health, &run.names, &diags));
    for p in &params {
        if p.conflict {
            w.push(format!(
                "{}: prior–data conflict: the posterior mean moved {:+.1} prior sds from the prior ({} → {} {}). \
                 The data disagree with the atomistic estimate; check the estimate, the fixed parameters and \
                 the model's validity before trusting either.",
                p.name,
                p.shift_prior_sd,
                fmt_num(p.prior_mean),
                fmt_num(p.mean),
                p.unit
            ));
        }
    }
    CalibrationSummary {
        params,
        health,
        warnings: w,
        config: run.config.clone(),
        conflict_threshold_prior_sd: CONFLICT_SHIFT,
    }
}

fn fmt_num(x: f64) -> String {
    if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e4) {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

impl CalibrationSummary {
    /// Pretty JSON of the whole summary.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// A plain-text table for the terminal (the warnings are in [`Self::warnings`]: print them
    /// on stderr).
    pub fn to_table(&self) -> String {
        let mut s = format!(
            "{:<16} {:>11} {:>11} {:>11} {:>11} {:>11} {:>7} {:>7} {:>7} {:>7} {:>6}  unit\n",
            "parameter",
            "mean",
            "sd",
            "5%",
            "50%",
            "95%",
            "R-hat",
            "ESSbulk",
            "ESStail",
            "shift",
            "sd/sd0"
        );
        for p in &self.params {
            let _ = writeln!(
                s,
                "{:<16} {:>11} {:>11} {:>11} {:>11} {:>11} {:>7.3} {:>7.0} {:>7.0} {:>+7.2} {:>6.2}  {}{}",
                p.name,
                fmt_num(p.mean),
                fmt_num(p.sd),
                fmt_num(p.q5),
                fmt_num(p.q50),
                fmt_num(p.q95),
                p.rhat,
                p.ess_bulk,
                p.ess_tail,
                p.shift_prior_sd,
                p.sd_ratio,
                p.unit,
                if p.conflict { "  CONFLICT" } else { "" }
            );
        }
        s
    }

    /// CSV of the table: one row per unknown.
    pub fn to_csv(&self) -> String {
        let mut s = String::from(
            "name,unit,mean,sd,q5,q50,q95,rhat,ess_bulk,ess_tail,mcse_mean,mcse_sd,prior_mean,prior_sd,\
             prior_q5,prior_q95,shift_prior_sd,sd_ratio,conflict\n",
        );
        for p in &self.params {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                csv_field(&p.name),
                csv_field(&p.unit),
                p.mean,
                p.sd,
                p.q5,
                p.q50,
                p.q95,
                p.rhat,
                p.ess_bulk,
                p.ess_tail,
                p.mcse_mean,
                p.mcse_sd,
                p.prior_mean,
                p.prior_sd,
                p.prior_q5,
                p.prior_q95,
                p.shift_prior_sd,
                p.sd_ratio,
                p.conflict
            );
        }
        s
    }

    /// Write `dir/{stem}_summary.json` and `dir/{stem}_summary.csv` atomically.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<Vec<PathBuf>, CalibrateError> {
        let files = [
            (dir.join(format!("{stem}_summary.json")), self.to_json()),
            (dir.join(format!("{stem}_summary.csv")), self.to_csv()),
        ];
        files
            .into_iter()
            .map(|(p, text)| {
                write_atomic(&p, text.as_bytes()).map_err(|source| CalibrateError::Io {
                    path: p.display().to_string(),
                    source,
                })?;
                Ok(p)
            })
            .collect()
    }
}

/// Posterior-predictive band of one measured curve.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CurveBand {
    /// Measured curve (experiment) name.
    pub name: String,
    /// Model output name and unit.
    pub output: String,
    /// Unit of the output (and of the data and quantiles).
    pub unit: String,
    /// Abscissa name (`t` for a voltage curve).
    pub axis_name: String,
    /// Abscissa unit.
    pub axis_unit: String,
    /// Abscissa values, one per data point.
    pub axis: Vec<f64>,
    /// Measured values \[unit\].
    pub data: Vec<f64>,
    /// Quantiles 5/50/95 % of the model prediction (parameter uncertainty only).
    pub q5: Vec<f64>,
    /// Median of the model prediction \[unit\].
    pub q50: Vec<f64>,
    /// 95 % quantile of the model prediction \[unit\].
    pub q95: Vec<f64>,
    /// Quantiles 5/50/95 % of prediction + noise (what a new measurement would show).
    pub q5_obs: Vec<f64>,
    /// Median of prediction + noise \[unit\].
    pub q50_obs: Vec<f64>,
    /// 95 % quantile of prediction + noise \[unit\].
    pub q95_obs: Vec<f64>,
    /// Root-mean-square difference between the median prediction and the data.
    pub rmse: f64,
    /// Fraction of data points inside the 90 % band with noise.
    pub coverage90: f64,
    /// Fraction of data points inside the central band with noise at each asked level
    /// (e.g. 0.90, 0.95): near the level when the model, the posterior and the noise model fit.
    pub coverage: Vec<LevelCoverage>,
    /// Draws used (after thinning, failed evaluations excluded).
    pub n_draws: usize,
}

/// Empirical coverage of one central predictive band: the fraction of measured points y_k
/// with q_{(1−level)/2}(ŷ_k) ≤ y_k ≤ q_{(1+level)/2}(ŷ_k), ŷ = prediction plus noise.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelCoverage {
    /// Nominal probability of the central band (0.95: from the 2.5 % to the 97.5 % quantile).
    pub level: f64,
    /// Fraction of the measured points inside it.
    pub fraction: f64,
}

/// Band levels must be probabilities strictly between 0 and 1.
pub fn check_levels(levels: &[f64]) -> Result<(), String> {
    match levels.iter().find(|l| !(**l > 0.0 && **l < 1.0)) {
        Some(l) => Err(format!(
            "band level {l}: expected a probability strictly between 0 and 1"
        )),
        None => Ok(()),
    }
}

/// The band levels whose coverage every run reports: 90 % (the band the CSVs and the report
/// draw) and 95 %.
pub const COVERAGE_LEVELS: [f64; 2] = [0.90, 0.95];

/// Posterior-predictive bands for every curve from at most `max_draws` draws, evenly thinned
/// over all chains, with the coverage of the central band at each of `levels`. Noise draws: Gaussian σ·N(0,1) or Student-t σ·t_ν, from stream
/// (seed, draw index), so bands are reproducible whatever the thread count. Draws whose model
/// evaluation fails are skipped.
pub fn predictive_bands<M: Model>(
    post: &Posterior<'_, M>,
    run: &NutsRun,
    max_draws: usize,
    seed: u64,
    levels: &[f64],
) -> Result<Vec<CurveBand>, CalibrateError> {
    predictive_bands_from_z(post, &run.draws_z(), max_draws, seed, levels)
}

/// [`predictive_bands`] from any set of draws in z (e.g. a Laplace approximation's).
pub fn predictive_bands_from_z<M: Model>(
    post: &Posterior<'_, M>,
    all_z: &[&[f64]],
    max_draws: usize,
    seed: u64,
    levels: &[f64],
) -> Result<Vec<CurveBand>, CalibrateError> {
    check_levels(levels).map_err(CalibrateError::Input)?;
    let total = all_z.len();
    let n = max_draws.min(total).max(1);
    let picks: Vec<usize> = (0..n).map(|i| i * total / n).collect();
    let likelihood = post.likelihood();
    let preds: Vec<Option<(Vec<f64>, Vec<f64>)>> = picks
        .par_iter()
        .map(|&i| {
            let z = all_z[i];
            let p = post.predict(z).ok()?;
            let mut noisy = p.clone();
            let mut rng = stream_rng(seed, i as u64);
            for (range, _, sigma) in post.curve_views(z) {
                for v in &mut noisy[range] {
                    let e: f64 = match likelihood {
                        Likelihood::Gaussian => StandardNormal.sample(&mut rng),
                        Likelihood::StudentT { nu } => {
                            StudentT::new(nu).map(|t| t.sample(&mut rng)).unwrap_or(0.0)
                        }
                    };
                    *v += sigma * e;
                }
            }
            Some((p, noisy))
        })
        .collect();
    let ok: Vec<&(Vec<f64>, Vec<f64>)> = preds.iter().flatten().collect();
    if ok.is_empty() {
        return Err(CalibrateError::Setup(
            "posterior-predictive bands: the model failed at every selected draw".into(),
        ));
    }
    let outputs = post.model().outputs();
    let zc = post.prior_centre();
    let mut bands = Vec::new();
    for (ci, (range, data, _)) in post.curve_views(&zc).into_iter().enumerate() {
        let out_idx = post.curve_output(ci);
        let o = &outputs[out_idx];
        let (axis_name, axis_unit, axis) = match &o.shape {
            OutputShape::Curve(a) => (a.name.clone(), a.unit.clone(), a.values.clone()),
            OutputShape::Scalar => (String::new(), String::new(), vec![0.0]),
        };
        let len = range.len();
        let mut b = CurveBand {
            name: post.curve_name(ci).to_string(),
            output: o.name.clone(),
            unit: o.unit.clone(),
            axis_name,
            axis_unit,
            axis,
            data: data.to_vec(),
            q5: Vec::with_capacity(len),
            q50: Vec::with_capacity(len),
            q95: Vec::with_capacity(len),
            q5_obs: Vec::with_capacity(len),
            q50_obs: Vec::with_capacity(len),
            q95_obs: Vec::with_capacity(len),
            rmse: 0.0,
            coverage90: 0.0,
            coverage: Vec::new(),
            n_draws: ok.len(),
        };
        let mut col = vec![0.0; ok.len()];
        let (mut ss, mut inside) = (0.0, 0usize);
        let mut inside_level = vec![0usize; levels.len()];
        for (j, k) in range.clone().enumerate() {
            for (c, (p, _)) in col.iter_mut().zip(&ok) {
                *c = p[k];
            }
            col.sort_by(f64::total_cmp);
            b.q5.push(quantile_sorted(&col, 0.05));
            b.q50.push(quantile_sorted(&col, 0.5));
            b.q95.push(quantile_sorted(&col, 0.95));
            for (c, (_, q)) in col.iter_mut().zip(&ok) {
                *c = q[k];
            }
            col.sort_by(f64::total_cmp);
            let (lo, hi) = (quantile_sorted(&col, 0.05), quantile_sorted(&col, 0.95));
            b.q5_obs.push(lo);
            b.q50_obs.push(quantile_sorted(&col, 0.5));
            b.q95_obs.push(hi);
            ss += (b.q50[j] - data[j]).powi(2);
            inside += usize::from(data[j] >= lo && data[j] <= hi);
            for (n, &level) in inside_level.iter_mut().zip(levels) {
                let lo = quantile_sorted(&col, 0.5 - 0.5 * level);
                let hi = quantile_sorted(&col, 0.5 + 0.5 * level);
                *n += usize::from(data[j] >= lo && data[j] <= hi);
            }
        }
        b.rmse = (ss / len as f64).sqrt();
        b.coverage90 = inside as f64 / len as f64;
        b.coverage = levels
            .iter()
            .zip(&inside_level)
            .map(|(&level, &n)| LevelCoverage {
                level,
                fraction: n as f64 / len as f64,
            })
            .collect();
        bands.push(b);
    }
    Ok(bands)
}

/// What a band CSV holds, in the sidecar `{stem}_ppc.json` (one entry per curve): the CSVs
/// themselves carry only a header line (names with units, `t [s]`, `q5 [V]`) and numbers, so
/// `numpy.genfromtxt(names=True)` and `pandas.read_csv` read them as they are.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BandFile {
    /// The CSV's file name (in the same folder).
    pub file: String,
    /// Measured curve (experiment) name.
    pub curve: String,
    /// Model output the band is of, and its unit.
    pub output: String,
    /// Unit of the output.
    pub unit: String,
    /// Abscissa name and unit (empty: the row index).
    pub axis: String,
    /// Abscissa unit.
    pub axis_unit: String,
    /// Posterior draws behind the quantiles (after thinning; failed evaluations excluded).
    pub draws: usize,
    /// Root-mean-square difference between the median prediction and the data, in `unit`.
    pub rmse_median: f64,
    /// Fraction of data points inside the 90 % band with noise (q5_obs to q95_obs).
    pub coverage90: f64,
    /// Fraction of data points inside the central band with noise at each reported level.
    #[serde(default)]
    pub coverage: Vec<LevelCoverage>,
    /// What each column is, in the CSV's order.
    pub columns: Vec<String>,
}

/// File name of the sidecar JSON describing a run's band CSVs.
pub fn bands_meta_file(stem: &str) -> String {
    format!("{stem}_ppc.json")
}

/// Write each band as `dir/{stem}_ppc_{curve}.csv` (header `t [s],data [V],q5 [V],q50 [V],
/// q95 \[V\],q5_obs \[V\],q50_obs \[V\],q95_obs \[V\]`, the axis and unit those of the curve) and the
/// sidecar `dir/{stem}_ppc.json` ([`BandFile`] per curve), each atomically. Returns the CSV
/// paths, then the sidecar's.
pub fn write_bands(
    bands: &[CurveBand],
    dir: &Path,
    stem: &str,
) -> Result<Vec<PathBuf>, CalibrateError> {
    let io = |p: &Path, source| CalibrateError::Io {
        path: p.display().to_string(),
        source,
    };
    let mut paths = Vec::new();
    let mut meta = Vec::new();
    for b in bands {
        let axis = if b.axis_name.is_empty() {
            "index".to_string()
        } else {
            format!("{} [{}]", b.axis_name, b.axis_unit)
        };
        let u = &b.unit;
        let mut columns = vec![axis];
        columns.extend(
            ["data", "q5", "q50", "q95", "q5_obs", "q50_obs", "q95_obs"]
                .map(|c| format!("{c} [{u}]")),
        );
        let mut s = columns
            .iter()
            .map(|c| csv_field(c))
            .collect::<Vec<_>>()
            .join(",");
        s.push('\n');
        for j in 0..b.data.len() {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{}",
                b.axis.get(j).copied().unwrap_or(j as f64),
                b.data[j],
                b.q5[j],
                b.q50[j],
                b.q95[j],
                b.q5_obs[j],
                b.q50_obs[j],
                b.q95_obs[j]
            );
        }
        let file = format!("{stem}_ppc_{}.csv", super::posterior::sanitize(&b.name));
        let p = dir.join(&file);
        write_atomic(&p, s.as_bytes()).map_err(|e| io(&p, e))?;
        paths.push(p);
        columns[1] = format!("data [{u}]: the measured curve");
        for (k, what) in [
            "5 % of the model prediction over the posterior (parameter uncertainty)",
            "median of the model prediction",
            "95 % of the model prediction",
            "5 % of a new measurement (prediction plus noise)",
            "median of a new measurement",
            "95 % of a new measurement",
        ]
        .iter()
        .enumerate()
        {
            columns[k + 2] = format!("{}: {what}", columns[k + 2]);
        }
        meta.push(BandFile {
            file,
            curve: b.name.clone(),
            output: b.output.clone(),
            unit: b.unit.clone(),
            axis: b.axis_name.clone(),
            axis_unit: b.axis_unit.clone(),
            draws: b.n_draws,
            rmse_median: b.rmse,
            coverage90: b.coverage90,
            coverage: b.coverage.clone(),
            columns,
        });
    }
    let p = dir.join(bands_meta_file(stem));
    let json = serde_json::to_string_pretty(&meta).expect("band metadata serialises");
    write_atomic(&p, json.as_bytes()).map_err(|e| io(&p, e))?;
    paths.push(p);
    Ok(paths)
}
