//! Shapley effects: variance shares of the named inputs that stay meaningful when the inputs
//! are correlated (Owen 2014; Song, Nelson & Staum 2016; Iooss & Prieur 2019).
//!
//! With the cost c(u) = E[Var(y | x_{−u})] of a subset u of inputs (the variance left when
//! everything outside u is known; c(∅) = 0, c(all) = Var y), the Shapley effect of input i is
//!
//! $$ Sh_i = \sum_{u \subseteq \{1..d\}\setminus\{i\}} \frac{|u|!\,(d-|u|-1)!}{d!}\,[c(u\cup\{i\}) - c(u)]. $$
//!
//! What they mean: the Sh_i are ≥ 0 and sum exactly to Var(y) (output unit squared); the share
//! Sh_i/Var(y) is input i's fair part of the output variance, where an interaction is split
//! equally among the inputs taking part and the variance carried by a correlation is split
//! between the correlated inputs. An input with no direct effect that is correlated with an
//! influential one gets a share, since knowing it would reduce the variance. Unlike Sobol
//! indices on the Cholesky normals, they do not depend on the input order.
//!
//! Estimation: z ~ N(μ, Σ) in the transformed space, and conditioning commutes with the
//! per-coordinate monotone transforms, so x_u | x_{−u} is sampled in closed form:
//! z_u | z_v ~ N(μ_u + Σ_uvΣ_vv⁻¹(z_v − μ_v), Σ_uu − Σ_uvΣ_vv⁻¹Σ_vu). Each c(u) is a double loop:
//! N_o outer draws of z_v, N_i inner draws of z_u | z_v, the unbiased inner sample variance
//! averaged over the outer draws. For d ≤ `exact_max_dim` all 2^d − 2 proper subsets are
//! estimated once and combined with the exact weights; above it, random permutations
//! (Song et al. 2016, Algorithm 1). Var y comes from a separate N_v-sample estimate.

use super::{DistModelFn, LongRow, OutputLayout, SensitivityError, SensitivityTable, fmt_num, md};
use crate::dist::JointDistribution;
use crate::dist::sample::{fill_standard_normals, stream_rng};
use crate::model::Model;
use nalgebra::{DMatrix, DVector};
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Settings for [`shapley`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShapleySettings {
    /// N_o, outer draws per cost estimate. Default 512 (exact) — with permutations use ~1.
    pub outer: usize,
    /// N_i ≥ 2, inner draws per outer draw. Default 3 (Song et al. 2016).
    pub inner: usize,
    /// N_v, draws for Var(y). Default 10 000.
    pub var_samples: usize,
    /// Enumerate all subsets when d ≤ this (2^d cost estimates). Default 8.
    pub exact_max_dim: usize,
    /// Number of random permutations when d > `exact_max_dim`. Default 500.
    pub permutations: usize,
    /// Outer draws per cost estimate in the permutation mode. Default 1.
    pub outer_permutation: usize,
    /// Seed: a seed gives identical results whatever the thread count. Default 0.
    pub seed: u64,
    /// Show progress on stderr ([`crate::progress`]). Default true.
    pub progress: bool,
}

impl Default for ShapleySettings {
    fn default() -> Self {
        Self {
            outer: 512,
            inner: 3,
            var_samples: 10_000,
            exact_max_dim: 8,
            permutations: 500,
            outer_permutation: 1,
            seed: 0,
            progress: true,
        }
    }
}

/// Shapley effects for one output (a flat entry or a curve aggregate).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShapleyOutput {
    /// Output label: a flat label, or a curve aggregate `name[...]`.
    pub output: String,
    /// Var(y) (output unit squared); for aggregates Σ_k Var(y_k).
    pub variance: f64,
    /// Sh_i in variance units; Σ_i Sh_i = variance.
    pub effects: Vec<f64>,
    /// Monte Carlo standard error of Sh_i (exact mode; NaN in the permutation mode).
    pub effects_se: Vec<f64>,
    /// Sh_i / Var(y), summing to 1.
    pub shares: Vec<f64>,
}

/// Result of a Shapley analysis.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShapleyResult {
    /// Input names, in model order.
    pub inputs: Vec<String>,
    /// One entry per flat output.
    pub per_output: Vec<ShapleyOutput>,
    /// One aggregate per curve: Sh_i summed over the curve, shares of Σ_k Var(y_k).
    pub aggregated: Vec<ShapleyOutput>,
    /// "exact subsets" or "random permutations".
    pub scheme: String,
    /// Model evaluations made.
    pub evaluations: usize,
    /// Outer draws dropped because an evaluation failed.
    pub failed: usize,
    /// Seed: a seed gives identical results whatever the thread count. Default 0.
    pub seed: u64,
    /// What the numbers mean.
    pub note: String,
}

const NOTE: &str = "Shapley effects Sh_i split Var(y) among the named inputs: they are >= 0 and sum to Var(y); \
an interaction is shared equally among the inputs in it, and variance carried by a correlation is shared between \
the correlated inputs (an input correlated with an influential one gets a share, since knowing it reduces Var(y)). \
They do not depend on the input order.";

/// Precomputed conditional sampler for a subset u given v = complement.
struct Conditional {
    u: Vec<usize>,
    v: Vec<usize>,
    /// Cholesky of Σ_vv.
    l_v: DMatrix<f64>,
    /// Σ_uv Σ_vv⁻¹.
    reg: DMatrix<f64>,
    /// Cholesky of the conditional covariance.
    l_c: DMatrix<f64>,
}

impl Conditional {
    fn new(cov: &DMatrix<f64>, mask: usize) -> Option<Self> {
        let d = cov.nrows();
        let u: Vec<usize> = (0..d).filter(|i| mask >> i & 1 == 1).collect();
        let v: Vec<usize> = (0..d).filter(|i| mask >> i & 1 == 0).collect();
        let suu = DMatrix::from_fn(u.len(), u.len(), |a, b| cov[(u[a], u[b])]);
        let (l_v, reg, cond) = if v.is_empty() {
            (DMatrix::zeros(0, 0), DMatrix::zeros(u.len(), 0), suu)
        } else {
            let suv = DMatrix::from_fn(u.len(), v.len(), |a, b| cov[(u[a], v[b])]);
            let svv = DMatrix::from_fn(v.len(), v.len(), |a, b| cov[(v[a], v[b])]);
            let ch = svv.cholesky()?;
            let reg = ch.solve(&suv.transpose()).transpose();
            let cond = &suu - &reg * suv.transpose();
            (ch.l(), reg, cond)
        };
        let cond = (&cond + cond.transpose()) * 0.5;
        let l_c = cond.cholesky()?.l();
        Some(Self {
            u,
            v,
            l_v,
            reg,
            l_c,
        })
    }

    /// Estimate c(u) = E[Var(y | z_v)] per output, and its standard error, with `outer`×`inner`
    /// draws from stream (seed, stream). Returns (mean, se, failures, evaluations).
    fn cost<M: Model + ?Sized>(
        &self,
        f: &DistModelFn<'_, M>,
        outer: usize,
        inner: usize,
        seed: u64,
        stream: u64,
    ) -> (Vec<f64>, Vec<f64>, usize) {
        let m = f.n_out_();
        let mu = &f.dist.mean_z;
        let mut rng = stream_rng(seed, stream);
        let mut nv = vec![0.0; self.v.len()];
        let mut nu = vec![0.0; self.u.len()];
        let mut z = mu.as_slice().to_vec();
        let mut ys = vec![0.0; inner * m];
        let (mut s, mut s2) = (vec![0.0; m], vec![0.0; m]);
        let mut n_ok = 0usize;
        let mut failed = 0usize;
        for _ in 0..outer {
            fill_standard_normals(&mut rng, &mut nv);
            let dzv = &self.l_v * DVector::from_column_slice(&nv);
            for (a, &i) in self.v.iter().enumerate() {
                z[i] = mu[i] + dzv[a];
            }
            let cmean = &self.reg * &dzv;
            let mut ok = true;
            for r in 0..inner {
                fill_standard_normals(&mut rng, &mut nu);
                let dzu = &self.l_c * DVector::from_column_slice(&nu);
                for (a, &i) in self.u.iter().enumerate() {
                    z[i] = mu[i] + cmean[a] + dzu[a];
                }
                if f.eval_z(&z, &mut ys[r * m..(r + 1) * m]).is_err() {
                    ok = false;
                }
            }
            if !ok {
                failed += 1;
                continue;
            }
            for k in 0..m {
                let mean = (0..inner).map(|r| ys[r * m + k]).sum::<f64>() / inner as f64;
                let var = (0..inner)
                    .map(|r| (ys[r * m + k] - mean).powi(2))
                    .sum::<f64>()
                    / (inner - 1) as f64;
                s[k] += var;
                s2[k] += var * var;
            }
            n_ok += 1;
        }
        let n = n_ok.max(1) as f64;
        let mean: Vec<f64> = s.iter().map(|v| v / n).collect();
        let se = (0..m)
            .map(|k| {
                if n_ok < 2 {
                    f64::NAN
                } else {
                    ((s2[k] / n - mean[k] * mean[k]).max(0.0) / (n - 1.0)).sqrt()
                }
            })
            .collect();
        (mean, se, failed)
    }
}

impl<M: Model + ?Sized> DistModelFn<'_, M> {
    fn n_out_(&self) -> usize {
        super::UnitCubeFn::n_out(self)
    }
}

/// Shapley weights combination: Sh_i = Σ_{u∌i} |u|!(d−|u|−1)!/d!·[c(u∪{i}) − c(u)], with
/// `costs[mask]` = c(u) for every bit mask of the d inputs (length 2^d, c(∅) = `costs[0]`).
pub fn shapley_from_costs(d: usize, costs: &[f64]) -> Vec<f64> {
    let w = shapley_weights(d);
    (0..d)
        .map(|i| {
            (0..1usize << d)
                .filter(|m| m >> i & 1 == 0)
                .map(|m| w[m.count_ones() as usize] * (costs[m | 1 << i] - costs[m]))
                .sum()
        })
        .collect()
}

/// |u|!(d−|u|−1)!/d! for |u| = 0..d−1.
fn shapley_weights(d: usize) -> Vec<f64> {
    let fact = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
    (0..d)
        .map(|s| fact(s) * fact(d - s - 1) / fact(d))
        .collect()
}

/// Shapley effects of every output of `model` under `dist` (see the module doc).
pub fn shapley<M: Model + ?Sized>(
    model: &M,
    dist: &JointDistribution,
    settings: &ShapleySettings,
) -> Result<ShapleyResult, SensitivityError> {
    let f = DistModelFn::new(model, dist)?;
    let d = dist.dim();
    let m = f.n_out_();
    if settings.inner < 2 {
        return Err(SensitivityError::setting(
            "shapley.inner",
            settings.inner,
            "at least 2",
        ));
    }
    if settings.var_samples < 2 {
        return Err(SensitivityError::setting(
            "shapley.var_samples",
            settings.var_samples,
            "at least 2",
        ));
    }
    if settings.exact_max_dim > 16 {
        return Err(SensitivityError::setting(
            "shapley.exact_max_dim",
            settings.exact_max_dim,
            "at most 16",
        ));
    }
    if d > 63 {
        return Err(SensitivityError::setting(
            "dimension",
            d,
            "at most 63 inputs for Shapley effects",
        ));
    }
    let exact = d <= settings.exact_max_dim;
    if exact && settings.outer < 2 {
        return Err(SensitivityError::setting(
            "shapley.outer",
            settings.outer,
            "at least 2",
        ));
    }
    if !exact && (settings.permutations == 0 || settings.outer_permutation == 0) {
        return Err(SensitivityError::setting(
            "shapley.permutations",
            settings.permutations,
            "at least 1 permutation and 1 outer draw",
        ));
    }
    let cov = &dist.cov_z;
    let full = (1usize << d) - 1;
    // Var(y) keeps every draw's outputs; each conditional-cost task its inner draws' outputs
    let (field, value, runs) = if exact {
        (
            "shapley.outer",
            settings.outer,
            (full - 1) as f64 * settings.outer as f64,
        )
    } else {
        (
            "shapley.permutations",
            settings.permutations,
            settings.permutations as f64 * (d - 1) as f64 * settings.outer_permutation as f64,
        )
    };
    let threads = rayon::current_num_threads() as f64;
    for (field, value, what, bytes) in [
        (
            "shapley.var_samples",
            settings.var_samples,
            format!("{} variance draws × {m} outputs", settings.var_samples),
            settings.var_samples as f64 * m as f64 * 8.0,
        ),
        (
            "shapley.inner",
            settings.inner,
            format!("{} inner draws × {m} outputs per thread", settings.inner),
            settings.inner as f64 * m as f64 * 8.0 * threads,
        ),
    ] {
        crate::budget::check_memory(&what, bytes, field).map_err(|msg| {
            SensitivityError::setting(
                field,
                value,
                &format!("a size this machine can run ({msg})"),
            )
        })?;
    }
    let seconds = super::check_size(
        field,
        value,
        &format!("Shapley effects of {d} inputs"),
        0.0,
        settings.var_samples as f64 + runs * settings.inner as f64,
        || {
            let _ = f.eval_z(&vec![0.0; d], &mut vec![0.0; m]);
        },
    )?;

    // Var(y): plain Monte Carlo in chunks with their own streams, reduced in order.
    let (var_y, mut failed, mut evals) = variance_mc(&f, settings)?;

    let n_tasks = if exact {
        full.saturating_sub(1)
    } else {
        settings.permutations
    };
    let pb = crate::progress::Progress::new("shapley", "tasks", n_tasks as u64, settings.progress);
    pb.announce_estimate(seconds);
    let mut effects = vec![vec![0.0; d]; m];
    let mut effects_se = vec![vec![f64::NAN; d]; m];
    if exact {
        // c(u) for every proper non-empty subset, each from its own stream.
        let costs: Vec<(Vec<f64>, Vec<f64>, usize)> = (1..full)
            .into_par_iter()
            .map(|mask| {
                let c = Conditional::new(cov, mask).map_or_else(
                    || (vec![f64::NAN; m], vec![f64::NAN; m], 0),
                    |c| {
                        c.cost(
                            &f,
                            settings.outer,
                            settings.inner,
                            settings.seed,
                            mask as u64,
                        )
                    },
                );
                pb.inc(0, 1);
                c
            })
            .collect();
        let w = shapley_weights(d);
        for k in 0..m {
            let mut c = vec![0.0; full + 1];
            let mut se = vec![0.0; full + 1];
            c[full] = var_y[k];
            for (idx, (cm, cs, _)) in costs.iter().enumerate() {
                c[idx + 1] = cm[k];
                se[idx + 1] = cs[k];
            }
            effects[k] = shapley_from_costs(d, &c);
            // Each c(u) is estimated independently: Var(Sh_i) = Σ_u coeff_{i,u}² se(u)².
            for i in 0..d {
                let mut coeff = vec![0.0; full + 1];
                for mask in (0..=full).filter(|mm| mm >> i & 1 == 0) {
                    let wt = w[mask.count_ones() as usize];
                    coeff[mask | 1 << i] += wt;
                    coeff[mask] -= wt;
                }
                let v: f64 = (1..full).map(|u| coeff[u] * coeff[u] * se[u] * se[u]).sum();
                effects_se[k][i] = v.sqrt();
            }
        }
        failed += costs.iter().map(|c| c.2).sum::<usize>();
        evals += (full - 1) * settings.outer * settings.inner;
    } else {
        // Random permutations (Song et al. 2016): Sh_{π_j} += [c(π_1..π_j) − c(π_1..π_{j−1})]/m.
        let per_perm: Vec<(Vec<Vec<f64>>, usize)> = (0..settings.permutations)
            .into_par_iter()
            .map(|p| {
                let mut rng = stream_rng(settings.seed ^ 0x5ba9_1e75, p as u64);
                let mut perm: Vec<usize> = (0..d).collect();
                perm.shuffle(&mut rng);
                let mut contrib = vec![vec![0.0; d]; m];
                let mut prev = vec![0.0; m];
                let mut mask = 0usize;
                let mut fails = 0;
                for (j, &i) in perm.iter().enumerate() {
                    mask |= 1 << i;
                    let c = if j + 1 == d {
                        var_y.clone()
                    } else {
                        let stream = (1u64 << 40) + (p * d + j) as u64;
                        match Conditional::new(cov, mask) {
                            Some(cd) => {
                                let (cm, _, fl) = cd.cost(
                                    &f,
                                    settings.outer_permutation,
                                    settings.inner,
                                    settings.seed,
                                    stream,
                                );
                                fails += fl;
                                cm
                            }
                            None => vec![f64::NAN; m],
                        }
                    };
                    for k in 0..m {
                        contrib[k][i] = c[k] - prev[k];
                    }
                    prev = c;
                }
                pb.inc(0, 1);
                (contrib, fails)
            })
            .collect();
        for (contrib, fl) in &per_perm {
            failed += fl;
            for k in 0..m {
                for i in 0..d {
                    effects[k][i] += contrib[k][i] / settings.permutations as f64;
                }
            }
        }
        evals += settings.permutations * (d - 1) * settings.outer_permutation * settings.inner;
    }
    pb.finish();

    let layout = OutputLayout::of(model);
    let per_output: Vec<ShapleyOutput> = (0..m)
        .map(|k| ShapleyOutput {
            output: layout.labels[k].clone(),
            variance: var_y[k],
            shares: effects[k].iter().map(|e| e / var_y[k]).collect(),
            effects: effects[k].clone(),
            effects_se: effects_se[k].clone(),
        })
        .collect();
    let aggregated = layout
        .groups
        .iter()
        .filter(|g| g.is_curve && g.len > 0)
        .map(|g| {
            let r = g.start..g.start + g.len;
            let v: f64 = var_y[r.clone()].iter().sum();
            let eff: Vec<f64> = (0..d)
                .map(|i| r.clone().map(|k| effects[k][i]).sum())
                .collect();
            ShapleyOutput {
                output: format!("{}[variance-weighted]", g.name),
                variance: v,
                shares: eff.iter().map(|e| e / v).collect(),
                effects: eff,
                effects_se: vec![f64::NAN; d],
            }
        })
        .collect();
    Ok(ShapleyResult {
        inputs: dist.params.iter().map(|p| p.name.clone()).collect(),
        per_output,
        aggregated,
        scheme: if exact {
            "exact subsets"
        } else {
            "random permutations"
        }
        .to_string(),
        evaluations: evals,
        failed,
        seed: settings.seed,
        note: NOTE.to_string(),
    })
}

/// Var(y) per output by Monte Carlo: chunks of 1024 draws with their own ChaCha streams.
fn variance_mc<M: Model + ?Sized>(
    f: &DistModelFn<'_, M>,
    settings: &ShapleySettings,
) -> Result<(Vec<f64>, usize, usize), SensitivityError> {
    const CH: usize = 1024;
    let d = f.dist.dim();
    let m = f.n_out_();
    let n = settings.var_samples;
    let n_chunks = n.div_ceil(CH);
    let parts: Vec<(Vec<f64>, usize, Option<crate::model::ModelError>)> = (0..n_chunks)
        .into_par_iter()
        .map(|c| {
            let mut rng = stream_rng(settings.seed ^ 0x7a11_ce00, c as u64);
            let cnt = CH.min(n - c * CH);
            let mut nz = vec![0.0; d];
            let mut z = vec![0.0; d];
            let mut y = vec![0.0; m];
            let mut vals = Vec::with_capacity(cnt * m);
            let mut fails = 0;
            let mut first = None;
            for _ in 0..cnt {
                fill_standard_normals(&mut rng, &mut nz);
                f.dist.z_from_standard_normals(&nz, &mut z);
                match f.eval_z(&z, &mut y) {
                    Ok(()) => vals.extend_from_slice(&y),
                    Err(e) => {
                        fails += 1;
                        first.get_or_insert(e);
                    }
                }
            }
            (vals, fails, first)
        })
        .collect();
    let failed: usize = parts.iter().map(|p| p.1).sum();
    let ok = n - failed;
    if ok < 2 {
        let first = parts
            .into_iter()
            .find_map(|p| p.2)
            .unwrap_or(crate::model::ModelError::SolverFailed("unknown".into()));
        return Err(SensitivityError::TooManyFailures {
            failed,
            total: n,
            first,
        });
    }
    let mut mean = vec![0.0; m];
    for p in &parts {
        for row in p.0.chunks_exact(m) {
            for k in 0..m {
                mean[k] += row[k];
            }
        }
    }
    mean.iter_mut().for_each(|v| *v /= ok as f64);
    let mut var = vec![0.0; m];
    for p in &parts {
        for row in p.0.chunks_exact(m) {
            for k in 0..m {
                var[k] += (row[k] - mean[k]).powi(2);
            }
        }
    }
    var.iter_mut().for_each(|v| *v /= (ok - 1) as f64);
    Ok((var, failed, n))
}

impl SensitivityTable for ShapleyResult {
    fn to_markdown(&self) -> String {
        let mut s = format!(
            "## Shapley effects\n\nScheme: {}, {} evaluations, {} failed draws dropped, seed {}.\n\n{}\n",
            self.scheme, self.evaluations, self.failed, self.seed, self.note
        );
        for o in self.aggregated.iter().chain(&self.per_output) {
            s += &format!(
                "\n### {} (Var = {})\n\n",
                md(&o.output),
                fmt_num(Some(o.variance))
            );
            s += "| input | Sh (variance units) | ± se | share of Var |\n|---|---|---|---|\n";
            for (i, name) in self.inputs.iter().enumerate() {
                s += &format!(
                    "| {} | {} | {} | {} |\n",
                    md(name),
                    fmt_num(Some(o.effects[i])),
                    fmt_num(Some(o.effects_se[i])),
                    fmt_num(Some(o.shares[i]))
                );
            }
        }
        s
    }

    fn long_rows(&self) -> Vec<LongRow> {
        let mut rows = Vec::new();
        for o in self.aggregated.iter().chain(&self.per_output) {
            for (i, name) in self.inputs.iter().enumerate() {
                for (metric, v) in [
                    ("Sh", o.effects[i]),
                    ("Sh_se", o.effects_se[i]),
                    ("Sh_share", o.shares[i]),
                ] {
                    rows.push(LongRow {
                        method: "shapley".into(),
                        output: o.output.clone(),
                        input: name.clone(),
                        metric: metric.into(),
                        value: v.is_finite().then_some(v),
                    });
                }
            }
        }
        rows
    }
}
