//! Which atomistic calculation to refine next: the output variance removed if one input's
//! uncertainty were halved, and the resulting order.
//!
//! Halving the sd of input i in the transformed space (for a log-transformed input: halving
//! its relative uncertainty) with its correlations kept scales row and column i of Σ by ½:
//! Σ' = D_iΣD_i, D_i = diag(1, …, ½, …, 1). Under the delta method (S = ∂y/∂z at μ_z) the
//! variance removed is exact for the linearisation:
//!
//! $$ \Delta_i = \mathrm{Var}(y) - S\Sigma' S^\top = \tfrac34 S_i^2\Sigma_{ii} + \sum_{j\ne i} S_iS_j\Sigma_{ij}
//! \quad\text{(output unit squared)}. $$
//!
//! Optionally the same quantity by (quasi-)Monte Carlo with common random numbers: since
//! chol(D_iΣD_i) = D_iL, the draws z = μ + D_iL·n use the same n for every i, so the differences
//! of the sample variances are far less noisy than the variances themselves. For curves, the
//! reductions and variances are summed over the curve (variance-weighted). Inputs are ordered
//! by decreasing Δ: refine the first one first.

use super::variance::{VarianceResult, delta_variance};
use super::{
    DistModelFn, LongRow, OutputLayout, SensitivityError, SensitivityTable, check_binding, fmt_num,
    md,
};
use crate::dist::JointDistribution;
use crate::dist::sample::standard_normal_quantile;
use crate::dist::sobol::{MAX_DIM, ScrambledSobol};
use crate::model::Model;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Settings for [`ranking`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RankingSettings {
    /// Scrambled-Sobol draws for the Monte Carlo check (0 = delta method only). Default 0.
    pub mc_samples: usize,
    /// Seed: a seed gives identical results whatever the thread count. Default 0.
    pub seed: u64,
    /// Show progress on stderr ([`crate::progress`]). Default true.
    pub progress: bool,
}

impl Default for RankingSettings {
    fn default() -> Self {
        Self {
            mc_samples: 0,
            seed: 0,
            progress: true,
        }
    }
}

/// The ranking for one output (or a curve aggregate).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RankingOutput {
    /// Output label: a flat label, or a curve aggregate `name[...]`.
    pub output: String,
    /// Delta-method Var(y) (output unit squared).
    pub variance: f64,
    /// Δ_i by the delta method, one per input (output unit squared).
    pub reduction: Vec<f64>,
    /// Δ_i / Var(y).
    pub reduction_fraction: Vec<f64>,
    /// Monte Carlo Var(y), if computed.
    pub variance_mc: Option<f64>,
    /// Monte Carlo Δ_i, if computed.
    pub reduction_mc: Option<Vec<f64>>,
    /// Input indices, most valuable to refine first (by MC when available, else delta).
    pub order: Vec<usize>,
}

/// Result of [`ranking`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RankingResult {
    /// Input names, in model order.
    pub inputs: Vec<String>,
    /// One entry per flat output.
    pub per_output: Vec<RankingOutput>,
    /// One aggregate per curve output (summed over the curve).
    pub aggregated: Vec<RankingOutput>,
    /// MC draws used (0 = none), and rows dropped after a failed evaluation.
    pub mc_samples: usize,
    /// Monte Carlo rows dropped after a failed evaluation.
    pub mc_failed: usize,
    /// What the numbers mean.
    pub note: String,
}

const NOTE: &str = "Variance removed if the input's sd (in its transformed space; relative sd for log inputs) \
were halved, correlations kept (row/column i of the covariance scaled by 1/2). Refine the top input first.";

impl RankingResult {
    /// Names of the inputs in refine-next order for the first curve aggregate if any, else
    /// the first output: the headline answer.
    pub fn headline(&self) -> Vec<&str> {
        self.aggregated
            .first()
            .or(self.per_output.first())
            .map(|o| o.order.iter().map(|&i| self.inputs[i].as_str()).collect())
            .unwrap_or_default()
    }
}

fn order_of(v: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| {
        let (x, y) = (v[a], v[b]);
        y.partial_cmp(&x)
            .unwrap_or_else(|| x.is_nan().cmp(&y.is_nan()))
            .then(a.cmp(&b))
    });
    idx
}

/// Delta-method Δ_i for flat output k.
fn delta_reduction(v: &VarianceResult, k: usize) -> Vec<f64> {
    let d = v.cov_z.nrows();
    let s = |i: usize| v.jac_z[(k, i)];
    (0..d)
        .map(|i| {
            0.75 * s(i) * s(i) * v.cov_z[(i, i)]
                + (0..d)
                    .filter(|&j| j != i)
                    .map(|j| s(i) * s(j) * v.cov_z[(i, j)])
                    .sum::<f64>()
        })
        .collect()
}

/// The refine-next ranking of the inputs of `model` under `dist` (see the module doc).
pub fn ranking<M: Model + ?Sized>(
    model: &M,
    dist: &JointDistribution,
    settings: &RankingSettings,
) -> Result<RankingResult, SensitivityError> {
    check_binding(model, dist)?;
    let var = delta_variance(model, dist)?;
    let d = dist.dim();
    let m = var.per_output.len();
    let reductions: Vec<Vec<f64>> = (0..m).map(|k| delta_reduction(&var, k)).collect();
    let (mc, failed) = if settings.mc_samples > 0 {
        let (v, f) = mc_reductions(model, dist, settings)?;
        (Some(v), f)
    } else {
        (None, 0)
    };
    let make = |label: String, rows: std::ops::Range<usize>| {
        let variance: f64 = rows.clone().map(|k| var.per_output[k].variance).sum();
        let reduction: Vec<f64> = (0..d)
            .map(|i| rows.clone().map(|k| reductions[k][i]).sum())
            .collect();
        let (variance_mc, reduction_mc) = match &mc {
            Some((v0, vi)) => (
                Some(rows.clone().map(|k| v0[k]).sum::<f64>()),
                Some(
                    (0..d)
                        .map(|i| rows.clone().map(|k| v0[k] - vi[i][k]).sum())
                        .collect::<Vec<f64>>(),
                ),
            ),
            None => (None, None),
        };
        let order = order_of(reduction_mc.as_deref().unwrap_or(&reduction));
        RankingOutput {
            output: label,
            variance,
            reduction_fraction: reduction
                .iter()
                .map(|r| {
                    if variance > 0.0 {
                        r / variance
                    } else {
                        f64::NAN
                    }
                })
                .collect(),
            reduction,
            variance_mc,
            reduction_mc,
            order,
        }
    };
    let layout = OutputLayout::of(model);
    let per_output = (0..m)
        .map(|k| make(layout.labels[k].clone(), k..k + 1))
        .collect();
    let aggregated = layout
        .groups
        .iter()
        .filter(|g| g.is_curve && g.len > 0)
        .map(|g| {
            make(
                format!("{}[variance-weighted]", g.name),
                g.start..g.start + g.len,
            )
        })
        .collect();
    Ok(RankingResult {
        inputs: var.inputs.clone(),
        per_output,
        aggregated,
        mc_samples: settings.mc_samples,
        mc_failed: failed,
        note: NOTE.to_string(),
    })
}

/// Var(y) under Σ and under each D_iΣD_i, same scrambled-Sobol normals n for all.
/// Returns ((Var_0[k], Var_i[i][k]), failed rows).
#[allow(clippy::type_complexity)]
fn mc_reductions<M: Model + ?Sized>(
    model: &M,
    dist: &JointDistribution,
    settings: &RankingSettings,
) -> Result<((Vec<f64>, Vec<Vec<f64>>), usize), SensitivityError> {
    const CH: usize = 256;
    let f = DistModelFn::new(model, dist)?;
    let d = dist.dim();
    if d > MAX_DIM {
        return Err(SensitivityError::setting("dimension", d, "at most 1000"));
    }
    let m = super::UnitCubeFn::n_out(&f);
    let n = settings.mc_samples;
    let stride = (d + 1) * m;
    let seq = ScrambledSobol::new(d, settings.seed);
    let l = dist.cholesky();
    let mu = &dist.mean_z;
    let mut vals = vec![0.0; n * stride];
    let mut ok = vec![true; n];
    let pb = crate::progress::Progress::new("ranking", "rows", n as u64, settings.progress);
    vals.par_chunks_mut(CH * stride)
        .zip(ok.par_chunks_mut(CH))
        .enumerate()
        .for_each(|(c, (chunk, okc))| {
            let mut u = vec![0.0; d];
            let mut nz = vec![0.0; d];
            let mut lz = vec![0.0; d];
            let mut z = vec![0.0; d];
            for (r, (row, okr)) in chunk
                .chunks_exact_mut(stride)
                .zip(okc.iter_mut())
                .enumerate()
            {
                seq.point((c * CH + r) as u64, &mut u);
                for (a, b) in nz.iter_mut().zip(&u) {
                    *a = standard_normal_quantile(*b);
                }
                for a in 0..d {
                    lz[a] = (0..=a).map(|b| l[(a, b)] * nz[b]).sum();
                }
                for cfg in 0..=d {
                    for a in 0..d {
                        let h = if cfg == a + 1 { 0.5 } else { 1.0 };
                        z[a] = mu[a] + h * lz[a];
                    }
                    if f.eval_z(&z, &mut row[cfg * m..(cfg + 1) * m]).is_err() {
                        *okr = false;
                        break;
                    }
                }
            }
            pb.inc(0, okc.len() as u64);
        });
    pb.finish();
    let good: Vec<usize> = (0..n).filter(|&j| ok[j]).collect();
    let failed = n - good.len();
    if good.len() < 2 {
        return Err(SensitivityError::setting(
            "ranking.mc_samples",
            n,
            "enough successful evaluations (≥ 2)",
        ));
    }
    let var_of = |cfg: usize, k: usize| {
        let x = |j: usize| vals[j * stride + cfg * m + k];
        let mean = good.iter().map(|&j| x(j)).sum::<f64>() / good.len() as f64;
        good.iter().map(|&j| (x(j) - mean).powi(2)).sum::<f64>() / (good.len() - 1) as f64
    };
    let v0 = (0..m).map(|k| var_of(0, k)).collect();
    let vi = (0..d)
        .map(|i| (0..m).map(|k| var_of(i + 1, k)).collect())
        .collect();
    Ok(((v0, vi), failed))
}

impl SensitivityTable for RankingResult {
    fn to_markdown(&self) -> String {
        let mut s = format!("## Which input to refine next\n\n{}\n", self.note);
        for o in self.aggregated.iter().chain(&self.per_output) {
            s += &format!(
                "\n### {} (Var = {} delta{})\n\n| rank | input | variance removed (delta) | fraction | variance removed (MC) |\n\
                 |---|---|---|---|---|\n",
                md(&o.output),
                fmt_num(Some(o.variance)),
                o.variance_mc
                    .map(|v| format!(", {} MC", fmt_num(Some(v))))
                    .unwrap_or_default()
            );
            for (rank, &i) in o.order.iter().enumerate() {
                s += &format!(
                    "| {} | {} | {} | {} | {} |\n",
                    rank + 1,
                    md(&self.inputs[i]),
                    fmt_num(Some(o.reduction[i])),
                    fmt_num(Some(o.reduction_fraction[i])),
                    fmt_num(o.reduction_mc.as_ref().map(|r| r[i]))
                );
            }
        }
        s
    }

    fn long_rows(&self) -> Vec<LongRow> {
        let mut rows = Vec::new();
        for o in self.aggregated.iter().chain(&self.per_output) {
            for (rank, &i) in o.order.iter().enumerate() {
                let mut push = |metric: &str, v: Option<f64>| {
                    rows.push(LongRow {
                        method: "ranking".into(),
                        output: o.output.clone(),
                        input: self.inputs[i].clone(),
                        metric: metric.into(),
                        value: v.filter(|x| x.is_finite()),
                    })
                };
                push("rank", Some((rank + 1) as f64));
                push("reduction", Some(o.reduction[i]));
                push("reduction_fraction", Some(o.reduction_fraction[i]));
                push("reduction_mc", o.reduction_mc.as_ref().map(|r| r[i]));
            }
        }
        rows
    }
}
