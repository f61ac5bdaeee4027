//! A calibration's posterior as the input of a propagation: its draws (jointly, so their
//! correlations carry over) drive any model whose inputs they name — the calibrated cell under
//! another C-rate, temperature or current file — giving predictive bands at new conditions.
//!
//! For draws θ_s (s = 1…S, natural units, read from the run folder's
//! `calibration_view.json`: the NUTS draws of every chain, or a `--map` run's Laplace draws),
//! each output y is evaluated as y_s = m(θ_s). Reported per output point: the mean, the sd and
//! the central bands at the asked levels, quantiles q_p of {y_s} (the same order statistics as
//! the calibration's own bands, [`quantile_sorted`]). A voltage curve also gets the band of a
//! new measurement, y_s + σ_s·ε_s with ε_s ~ N(0, 1) from stream (seed, s) and σ_s the draw's
//! pooled noise sd √(mean_c σ_cs²) over the calibration's curves (as its held-out curves get,
//! [`crate::calibrate::validate`]).
//!
//! With S draws taken evenly from all (draw i·total/S), the same picks as the calibration's
//! bands: run at the calibration's own experiment with S = the calibration's band draws, the
//! model band is the calibration's to rounding.

use crate::calibrate::diagnostics::quantile_sorted;
use crate::dist::sample::stream_rng;
use crate::model::{Model, OutputShape};
use crate::output::{csv_field, write_atomic};
use crate::report::calibrate_report::{CALIBRATION_VIEW_JSON, CalibrationView};
use crate::units::conversion_factor;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The posterior draws of a calibration run, natural units, draw-major.
#[derive(Debug, Clone, PartialEq)]
pub struct PosteriorDraws {
    /// The run folder they came from.
    pub source: PathBuf,
    /// Unknown names (model parameters, then `sigma_<curve>`) and units.
    pub names: Vec<String>,
    /// Unit of each unknown.
    pub units: Vec<String>,
    /// `draws[s][k]`: draw s of unknown k, chain after chain.
    pub draws: Vec<Vec<f64>>,
}

impl PosteriorDraws {
    /// Read the draws of the calibration run in `dir` (its `calibration_view.json`). Errors
    /// name the file and what was expected.
    pub fn read_run(dir: &Path) -> Result<Self, String> {
        let p = dir.join(CALIBRATION_VIEW_JSON);
        let text = std::fs::read_to_string(&p).map_err(|e| {
            format!(
                "--posterior {}: expected a calibration run folder (with {CALIBRATION_VIEW_JSON}); reading {}: {e}",
                dir.display(),
                p.display()
            )
        })?;
        let view: CalibrationView = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a calibration view: {e}", p.display()))?;
        let n = view
            .params
            .first()
            .map_or(0, |v| v.draws_per_chain.iter().map(Vec::len).sum());
        if n == 0
            || view
                .params
                .iter()
                .any(|v| v.draws_per_chain.iter().map(Vec::len).sum::<usize>() != n)
        {
            return Err(format!(
                "{}: expected the same number (> 0) of draws for every parameter",
                p.display()
            ));
        }
        let cols: Vec<Vec<f64>> = view
            .params
            .iter()
            .map(|v| v.draws_per_chain.concat())
            .collect();
        if let Some((k, _)) = cols
            .iter()
            .enumerate()
            .find(|(_, c)| c.iter().any(|x| !x.is_finite()))
        {
            return Err(format!(
                "{}: parameter '{}': expected finite draws",
                p.display(),
                view.params[k].name
            ));
        }
        Ok(Self {
            source: dir.to_path_buf(),
            names: view.params.iter().map(|v| v.name.clone()).collect(),
            units: view.params.iter().map(|v| v.unit.clone()).collect(),
            draws: (0..n)
                .map(|s| cols.iter().map(|c| c[s]).collect())
                .collect(),
        })
    }

    /// For each model input, the column of the draw that feeds it and the unit factor (draw
    /// unit → input unit). Every input must be a calibrated parameter of a compatible unit:
    /// an input the posterior does not cover would have to be drawn independently of it,
    /// losing the correlations, so it is refused (bind it to a value in the study instead).
    pub fn columns_for<M: Model + ?Sized>(&self, model: &M) -> Result<Vec<(usize, f64)>, String> {
        let mut cols = Vec::new();
        let mut missing = Vec::new();
        for i in model.inputs() {
            match self.names.iter().position(|n| *n == i.name) {
                None => missing.push(i.name.clone()),
                Some(k) => {
                    let f = conversion_factor(&self.units[k], &i.unit).ok_or_else(|| {
                        format!(
                            "input '{}': the posterior's unit '{}' does not convert to the model's '{}'",
                            i.name, self.units[k], i.unit
                        )
                    })?;
                    cols.push((k, f));
                }
            }
        }
        if !missing.is_empty() {
            return Err(format!(
                "the study's uncertain inputs {} are not parameters of the calibration in {} (it has {}); \
                 fix them to values in [inputs] or calibrate them",
                missing.join(", "),
                self.source.display(),
                self.names.join(", ")
            ));
        }
        Ok(cols)
    }

    /// The pooled noise sd of draw s, √(mean_c σ_cs²) over the `sigma_*` columns in V; `None`
    /// if the calibration fixed every σ (no column).
    fn pooled_sigma(&self, s: usize) -> Option<f64> {
        let sig: Vec<f64> = self
            .names
            .iter()
            .zip(&self.draws[s])
            .filter(|(n, _)| n.starts_with("sigma_"))
            .map(|(_, v)| *v)
            .collect();
        (!sig.is_empty()).then(|| crate::calibrate::validate::pooled_sigma(&sig))
    }
}

/// The predictive distribution of one model output (a scalar: one point).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputBand {
    /// Output name.
    pub output: String,
    /// Unit of the output's values.
    pub unit: String,
    /// Abscissa name, unit and values (empty for a scalar).
    pub axis: String,
    /// Unit of the abscissa.
    pub axis_unit: String,
    /// Abscissa values (empty for a scalar).
    pub axis_values: Vec<f64>,
    /// Mean over the draws, per point \[unit\].
    pub mean: Vec<f64>,
    /// Sd over the draws, per point \[unit\].
    pub sd: Vec<f64>,
    /// Median over the draws, per point \[unit\].
    pub q50: Vec<f64>,
    /// Per level: the central band of the model output (parameter uncertainty).
    pub bands: Vec<LevelBand>,
    /// Per level: the central band of a new measurement (output plus pooled noise); voltage
    /// curves of a calibration with inferred σ only, else empty.
    pub bands_obs: Vec<LevelBand>,
}

/// A central band: quantiles (1 − level)/2 and (1 + level)/2 at every point.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelBand {
    /// Level in (0, 1).
    pub level: f64,
    /// Lower quantile (1 − level)/2, per point \[unit\].
    pub lo: Vec<f64>,
    /// Upper quantile (1 + level)/2, per point \[unit\].
    pub hi: Vec<f64>,
}

/// What [`propagate_posterior`] returns: `posterior_propagation.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PosteriorPropagation {
    /// The calibration run folder.
    pub posterior: String,
    /// Draws in the run and draws used (evenly thinned), and how many failed to evaluate.
    pub draws_in_run: usize,
    /// Draws the bands are computed from.
    pub draws_used: usize,
    /// Of those, draws where the model failed (left out).
    pub draws_failed: usize,
    /// Seed of the measurement-noise streams of `bands_obs` (stream (seed, draw)).
    pub seed: u64,
    /// One band per model output.
    pub outputs: Vec<OutputBand>,
}

/// The model outputs at one posterior draw and the draw's pooled noise sd.
struct Evaluated {
    draw: usize,
    out: Vec<f64>,
    sigma: Option<f64>,
}

/// Evaluate `model` at up to `max_draws` of `post`'s draws (evenly thinned) and summarise
/// every output (see the module doc). Draws where the model fails are skipped and counted;
/// fails if all do, or if a level is not in (0, 1).
pub fn propagate_posterior<M: Model>(
    model: &M,
    post: &PosteriorDraws,
    max_draws: usize,
    seed: u64,
    levels: &[f64],
) -> Result<PosteriorPropagation, String> {
    crate::calibrate::summary::check_levels(levels)?;
    let cols = post.columns_for(model)?;
    let total = post.draws.len();
    let n = max_draws.min(total).max(1);
    let picks: Vec<usize> = (0..n).map(|i| i * total / n).collect();
    let n_out = crate::model::n_outputs(model);
    let ok: Vec<Evaluated> = picks
        .par_iter()
        .map(|&draw| {
            let theta: Vec<f64> = cols.iter().map(|&(k, f)| post.draws[draw][k] * f).collect();
            let mut out = vec![0.0; n_out];
            model.eval(&theta, &mut out).ok()?;
            Some(Evaluated {
                draw,
                out,
                sigma: post.pooled_sigma(draw),
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flatten()
        .collect();
    if ok.is_empty() {
        return Err(format!(
            "the model failed at every one of the {n} posterior draws used"
        ));
    }
    // Noise per draw and point, from stream (seed, draw index): reproducible whatever the
    // thread count.
    let noisy: Vec<Option<Vec<f64>>> = ok
        .par_iter()
        .map(|e| {
            let sigma = e.sigma?;
            let mut rng = stream_rng(seed, e.draw as u64);
            Some(
                e.out
                    .iter()
                    .map(|y| {
                        let eps: f64 = StandardNormal.sample(&mut rng);
                        y + sigma * eps
                    })
                    .collect(),
            )
        })
        .collect();
    let mut outputs = Vec::new();
    let mut off = 0;
    let mut col = vec![0.0; ok.len()];
    for o in model.outputs() {
        let len = o.len();
        let (axis, axis_unit, axis_values) = match &o.shape {
            OutputShape::Curve(a) => (a.name.clone(), a.unit.clone(), a.values.clone()),
            OutputShape::Scalar => (String::new(), String::new(), vec![]),
        };
        let with_noise = matches!(o.shape, OutputShape::Curve(_))
            && o.unit == "V"
            && noisy.iter().all(Option::is_some);
        let mut b = OutputBand {
            output: o.name.clone(),
            unit: o.unit.clone(),
            axis,
            axis_unit,
            axis_values,
            mean: Vec::with_capacity(len),
            sd: Vec::with_capacity(len),
            q50: Vec::with_capacity(len),
            bands: levels
                .iter()
                .map(|&level| LevelBand {
                    level,
                    lo: vec![],
                    hi: vec![],
                })
                .collect(),
            bands_obs: vec![],
        };
        if with_noise {
            b.bands_obs = b.bands.clone();
        }
        for j in off..off + len {
            for (c, e) in col.iter_mut().zip(&ok) {
                *c = e.out[j];
            }
            let m = col.iter().sum::<f64>() / col.len() as f64;
            let var =
                col.iter().map(|y| (y - m) * (y - m)).sum::<f64>() / (col.len().max(2) - 1) as f64;
            b.mean.push(m);
            b.sd.push(var.sqrt());
            col.sort_by(f64::total_cmp);
            b.q50.push(quantile_sorted(&col, 0.5));
            for lb in &mut b.bands {
                lb.lo.push(quantile_sorted(&col, 0.5 - 0.5 * lb.level));
                lb.hi.push(quantile_sorted(&col, 0.5 + 0.5 * lb.level));
            }
            if with_noise {
                for (c, y) in col.iter_mut().zip(noisy.iter().flatten()) {
                    *c = y[j];
                }
                col.sort_by(f64::total_cmp);
                for lb in &mut b.bands_obs {
                    lb.lo.push(quantile_sorted(&col, 0.5 - 0.5 * lb.level));
                    lb.hi.push(quantile_sorted(&col, 0.5 + 0.5 * lb.level));
                }
            }
        }
        off += len;
        outputs.push(b);
    }
    Ok(PosteriorPropagation {
        posterior: post.source.display().to_string(),
        draws_in_run: total,
        draws_used: ok.len(),
        draws_failed: n - ok.len(),
        seed,
        outputs,
    })
}

/// Column name of quantile p: `q2.5`, `q50`, `q97.5`.
fn q_name(p: f64) -> String {
    format!("q{}", (1000.0 * p).round() / 10.0)
}

impl PosteriorPropagation {
    /// One CSV per curve output, header `t [s],mean [V],sd [V],q50 [V],q5 [V],q95 [V],…`
    /// (the model band's quantiles per level, then `q5_obs [V]`… for a new measurement).
    pub fn curve_csv(b: &OutputBand) -> String {
        let u = &b.unit;
        let mut head = vec![
            format!("{} [{}]", b.axis, b.axis_unit),
            format!("mean [{u}]"),
            format!("sd [{u}]"),
            format!("q50 [{u}]"),
        ];
        for (bands, suffix) in [(&b.bands, ""), (&b.bands_obs, "_obs")] {
            for lb in bands {
                head.push(format!("{}{suffix} [{u}]", q_name(0.5 - 0.5 * lb.level)));
                head.push(format!("{}{suffix} [{u}]", q_name(0.5 + 0.5 * lb.level)));
            }
        }
        let mut s = head
            .iter()
            .map(|h| csv_field(h))
            .collect::<Vec<_>>()
            .join(",");
        s.push('\n');
        for j in 0..b.mean.len() {
            let mut row = vec![b.axis_values[j], b.mean[j], b.sd[j], b.q50[j]];
            for lb in b.bands.iter().chain(&b.bands_obs) {
                row.extend([lb.lo[j], lb.hi[j]]);
            }
            let _ = writeln!(
                s,
                "{}",
                row.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            );
        }
        s
    }

    /// Write `dir/posterior_propagation.json` and `dir/posterior_band_<output>.csv` per curve
    /// output, atomically; returns the paths.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, String> {
        let mut files = Vec::new();
        let mut put = |name: String, text: &str| -> Result<(), String> {
            let p = dir.join(name);
            write_atomic(&p, text.as_bytes()).map_err(|e| format!("{}: {e}", p.display()))?;
            files.push(p);
            Ok(())
        };
        for b in self.outputs.iter().filter(|b| !b.axis_values.is_empty()) {
            put(
                format!(
                    "posterior_band_{}.csv",
                    crate::calibrate::posterior::sanitize(&b.output)
                ),
                &Self::curve_csv(b),
            )?;
        }
        let json = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        put("posterior_propagation.json".into(), &json)?;
        Ok(files)
    }
}
