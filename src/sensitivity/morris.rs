//! Morris elementary effects (μ, μ*, σ) on one-at-a-time trajectories (Morris 1991;
//! Campolongo, Cariboni & Saltelli 2007 for μ*).
//!
//! Grid: p levels (p even) at the cell centres u = (l + ½)/p, l = 0..p−1, of the unit cube;
//! a jump moves one coordinate by p/2 levels (up if it stays on the grid, else down). Each of
//! the r trajectories starts at a random grid point and moves every coordinate once, in a
//! random order, so it costs d + 1 evaluations. The elementary effect of coordinate i is
//!
//! $$ EE_i = \frac{y(\dots, t_i + \Delta t_i, \dots) - y(\dots, t_i, \dots)}{\Delta t_i} $$
//!
//! where t is the coordinate the effect is measured in: for a model under its distribution
//! ([`morris`]), t = n = Φ⁻¹(u), the independent standard normal of the Cholesky map
//! z = μ + L·n, so EE_i is the change of y per one standard deviation (output unit); for a plain
//! function of the unit cube ([`morris_fn`]), t = u. μ* = mean|EE_i| ranks the inputs
//! (screening), σ = sd(EE_i) flags non-linearity or interactions. With correlated inputs the
//! coordinates are the Cholesky normals (as in [`super::sobol`](mod@super::sobol)), not the named inputs.

use super::sobol::is_correlated;
use super::{
    DistModelFn, LongRow, OutputLayout, SensitivityError, SensitivityTable, UnitCubeFn, fmt_num, md,
};
use crate::dist::JointDistribution;
use crate::dist::sample::{standard_normal_quantile, stream_rng};
use crate::model::Model;
use rand::RngExt;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Settings for [`morris`] / [`morris_fn`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MorrisSettings {
    /// r, number of trajectories. Default 50.
    pub trajectories: usize,
    /// p, number of grid levels (even, ≥ 2). Default 4.
    pub levels: usize,
    /// Seed: a seed gives identical results whatever the thread count. Default 0.
    pub seed: u64,
    /// Show progress on stderr ([`crate::progress`]). Default true.
    pub progress: bool,
}

impl Default for MorrisSettings {
    fn default() -> Self {
        Self {
            trajectories: 50,
            levels: 4,
            seed: 0,
            progress: true,
        }
    }
}

/// Morris statistics for one output (or a curve aggregate).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MorrisOutput {
    /// Output label: a flat label, or a curve aggregate `name[...]`.
    pub output: String,
    /// μ = mean EE_i (output unit per coordinate unit).
    pub mu: Vec<f64>,
    /// μ* = mean |EE_i|.
    pub mu_star: Vec<f64>,
    /// σ = sd of EE_i.
    pub sigma: Vec<f64>,
}

/// Result of a Morris screening.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MorrisResult {
    /// Input names, in model order.
    pub inputs: Vec<String>,
    /// One entry per flat output.
    pub per_output: Vec<MorrisOutput>,
    /// Per curve: μ*, |μ| and σ averaged over the curve points.
    pub aggregated: Vec<MorrisOutput>,
    /// Trajectories r run.
    pub trajectories: usize,
    /// Trajectories dropped after a failed evaluation.
    pub failed: usize,
    /// Model evaluations made.
    pub evaluations: usize,
    /// Grid levels p.
    pub levels: usize,
    /// Seed: a seed gives identical results whatever the thread count. Default 0.
    pub seed: u64,
    /// "standard normal" (per sd) or "unit cube".
    pub coordinate: String,
    /// What the numbers mean.
    pub note: String,
}

/// Morris screening of `model` under `dist`; effects are per standard deviation.
pub fn morris<M: Model + ?Sized>(
    model: &M,
    dist: &JointDistribution,
    settings: &MorrisSettings,
) -> Result<MorrisResult, SensitivityError> {
    let f = DistModelFn::new(model, dist)?;
    let mut r = morris_core(
        &f,
        &OutputLayout::of(model),
        dist.names().iter().map(|s| s.to_string()).collect(),
        true,
        settings,
    )?;
    r.note = if is_correlated(dist) {
        "Effects per standard deviation of the independent Cholesky normals; inputs are CORRELATED, so input i > 1 \
         moves only its part not explained by the earlier inputs. See Shapley effects for the named inputs."
    } else {
        "Effects per standard deviation of each input in its transformed space (output unit). mu* ranks, sigma flags \
         non-linearity/interactions."
    }
    .to_string();
    Ok(r)
}

/// Morris screening of a function of the unit cube; effects are per unit of u.
pub fn morris_fn<F: UnitCubeFn + ?Sized>(
    f: &F,
    settings: &MorrisSettings,
) -> Result<MorrisResult, SensitivityError> {
    let inputs = (1..=f.dim()).map(|i| format!("x{i}")).collect();
    let mut r = morris_core(
        f,
        &OutputLayout::scalars(f.n_out()),
        inputs,
        false,
        settings,
    )?;
    r.note = "Effects per unit of the unit-cube coordinate.".into();
    Ok(r)
}

fn morris_core<F: UnitCubeFn + ?Sized>(
    f: &F,
    layout: &OutputLayout,
    inputs: Vec<String>,
    normal: bool,
    settings: &MorrisSettings,
) -> Result<MorrisResult, SensitivityError> {
    let p = settings.levels;
    if p < 2 || !p.is_multiple_of(2) {
        return Err(SensitivityError::setting(
            "morris.levels",
            p,
            "an even number ≥ 2",
        ));
    }
    if settings.trajectories < 2 {
        return Err(SensitivityError::setting(
            "morris.trajectories",
            settings.trajectories,
            "at least 2",
        ));
    }
    let d = f.dim();
    let m = f.n_out();
    let jump = p / 2;
    let coord = |level: usize| {
        let u = (level as f64 + 0.5) / p as f64;
        (
            u,
            if normal {
                standard_normal_quantile(u)
            } else {
                u
            },
        )
    };
    let r = settings.trajectories;
    // every trajectory keeps its d·m elementary effects; it evaluates the model d + 1 times
    let seconds = super::check_size(
        "morris.trajectories",
        r,
        &format!("{r} trajectories × {d} inputs × {m} outputs"),
        r as f64 * ((d * m) as f64 * 8.0 + 24.0),
        r as f64 * (d + 1) as f64,
        || {
            let _ = f.eval(&vec![0.5; d], &mut vec![0.0; m]);
        },
    )?;
    let pb = crate::progress::Progress::new(
        "morris",
        "trajectories",
        settings.trajectories as u64,
        settings.progress,
    );
    pb.announce_estimate(seconds);
    // Each trajectory: EE[i·m + k], from its own stream.
    let effects: Vec<Option<Vec<f64>>> = (0..settings.trajectories)
        .into_par_iter()
        .map(|t| {
            let mut rng = stream_rng(settings.seed ^ 0x0a0e_1515, t as u64);
            let mut lv: Vec<usize> = (0..d).map(|_| rng.random_range(0..p)).collect();
            let mut order: Vec<usize> = (0..d).collect();
            order.shuffle(&mut rng);
            let mut u: Vec<f64> = lv.iter().map(|&l| coord(l).0).collect();
            let mut y0 = vec![0.0; m];
            let mut y1 = vec![0.0; m];
            let mut ee = vec![0.0; d * m];
            f.eval(&u, &mut y0).ok()?;
            for &i in &order {
                let from = lv[i];
                let to = if from + jump < p {
                    from + jump
                } else {
                    from - jump
                };
                lv[i] = to;
                let (ut, tt) = coord(to);
                let dt = tt - coord(from).1;
                u[i] = ut;
                f.eval(&u, &mut y1).ok()?;
                for k in 0..m {
                    ee[i * m + k] = (y1[k] - y0[k]) / dt;
                }
                std::mem::swap(&mut y0, &mut y1);
            }
            pb.inc(0, 1);
            Some(ee)
        })
        .collect();
    pb.finish();
    let good: Vec<&Vec<f64>> = effects.iter().flatten().collect();
    let failed = settings.trajectories - good.len();
    if good.len() < 2 {
        return Err(SensitivityError::setting(
            "morris.trajectories",
            settings.trajectories,
            "at least 2 trajectories without a failed evaluation",
        ));
    }
    let nr = good.len() as f64;
    let stat = |i: usize, k: usize| {
        let vals = good.iter().map(|e| e[i * m + k]);
        let mu = vals.clone().sum::<f64>() / nr;
        let mu_star = vals.clone().map(f64::abs).sum::<f64>() / nr;
        let sigma = (vals.map(|v| (v - mu).powi(2)).sum::<f64>() / (nr - 1.0)).sqrt();
        (mu, mu_star, sigma)
    };
    let per_output: Vec<MorrisOutput> = (0..m)
        .map(|k| {
            let s: Vec<(f64, f64, f64)> = (0..d).map(|i| stat(i, k)).collect();
            MorrisOutput {
                output: layout.labels[k].clone(),
                mu: s.iter().map(|x| x.0).collect(),
                mu_star: s.iter().map(|x| x.1).collect(),
                sigma: s.iter().map(|x| x.2).collect(),
            }
        })
        .collect();
    let aggregated = layout
        .groups
        .iter()
        .filter(|g| g.is_curve && g.len > 0)
        .map(|g| {
            let r = g.start..g.start + g.len;
            let avg = |sel: &dyn Fn(&MorrisOutput, usize) -> f64, i: usize| {
                r.clone().map(|k| sel(&per_output[k], i)).sum::<f64>() / g.len as f64
            };
            MorrisOutput {
                output: format!("{}[curve mean]", g.name),
                mu: (0..d).map(|i| avg(&|o, i| o.mu[i].abs(), i)).collect(),
                mu_star: (0..d).map(|i| avg(&|o, i| o.mu_star[i], i)).collect(),
                sigma: (0..d).map(|i| avg(&|o, i| o.sigma[i], i)).collect(),
            }
        })
        .collect();
    Ok(MorrisResult {
        inputs,
        per_output,
        aggregated,
        trajectories: settings.trajectories,
        failed,
        evaluations: settings.trajectories * (d + 1),
        levels: p,
        seed: settings.seed,
        coordinate: if normal {
            "standard normal"
        } else {
            "unit cube"
        }
        .into(),
        note: String::new(),
    })
}

impl SensitivityTable for MorrisResult {
    fn to_markdown(&self) -> String {
        let mut s = format!(
            "## Morris elementary effects\n\n{} trajectories ({} dropped), {} levels, seed {}, coordinates: {}.\n\n{}\n",
            self.trajectories, self.failed, self.levels, self.seed, self.coordinate, self.note
        );
        for o in self.aggregated.iter().chain(&self.per_output) {
            s += &format!(
                "\n### {}\n\n| input | μ* | μ | σ |\n|---|---|---|---|\n",
                md(&o.output)
            );
            for (i, name) in self.inputs.iter().enumerate() {
                s += &format!(
                    "| {} | {} | {} | {} |\n",
                    md(name),
                    fmt_num(Some(o.mu_star[i])),
                    fmt_num(Some(o.mu[i])),
                    fmt_num(Some(o.sigma[i]))
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
                    ("mu_star", o.mu_star[i]),
                    ("mu", o.mu[i]),
                    ("sigma", o.sigma[i]),
                ] {
                    rows.push(LongRow {
                        method: "morris".into(),
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
