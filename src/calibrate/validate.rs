//! How well a calibration fits, curve by curve, and how well it predicts curves it never saw.
//!
//! - **RMS residual at three points** of every curve, fitted or held out:
//!   RMSE_c(θ) = √(Σ_k (m_ck(θ) − y_ck)²/n_c) \[V\] at the prior centre θ₀ = T(μ), the MAP and
//!   the posterior mean (the mean of the natural-unit draws): how far the data moved the fit,
//!   and whether a held-out curve got better or worse for it.
//! - **Held-out posterior-predictive check**: for each posterior draw s, the held-out curve's
//!   model prediction m(θ_s) plus noise ε ~ σ_s·N(0, 1) (or σ_s·t_ν); the band's quantiles
//!   over draws give the median prediction (its RMS residual) and, at each level ℓ, the
//!   fraction of measured points inside the central ℓ band. A held-out curve has no σ of its
//!   own, so it gets the fitted curves' pooled noise per draw, σ_s = √(mean_c σ_cs²): coverage
//!   near ℓ says the model, the posterior and the noise model carry over to new conditions;
//!   coverage well below ℓ says the calibrated model is over-confident there.
//!
//! The bands are those of [`super::summary::predictive_bands_from_z`] (one place for the
//! quantiles), on a [`Posterior`] of the held-out curves whose unknowns are the fit's θ and
//! one ln σ per held-out curve.

use super::CalibrateError;
use super::posterior::{Noise, Posterior, SigmaPrior};
use super::summary::{CurveBand, LevelCoverage, predictive_bands_from_z};
use crate::model::Model;
use crate::output::write_atomic;
use std::path::{Path, PathBuf};

/// Whether a curve was fitted or held out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CurveRole {
    /// Fitted: the curve's data are in the likelihood.
    Fit,
    /// Held out (`--validate`): predicted, not fitted.
    HeldOut,
}

/// RMS residual \[V\] of one curve at the prior centre, the MAP and the posterior mean. `None`:
/// that point was not computed (no MAP when the chains started from prior draws) or the model
/// fails there.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurveRmse {
    /// Curve name.
    pub curve: String,
    /// Fitted or held out.
    pub role: CurveRole,
    /// Data points.
    pub points: usize,
    /// At the prior centre (the prior medians) \[V\].
    pub prior_centre_v: Option<f64>,
    /// At the MAP \[V\].
    pub map_v: Option<f64>,
    /// At the posterior mean \[V\].
    pub posterior_mean_v: Option<f64>,
}

/// The posterior-predictive check of one held-out curve.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldOutCheck {
    /// Curve name (the file stem).
    pub curve: String,
    /// The held-out curve file.
    pub file: String,
    /// Cell temperature it was simulated at \[K\].
    pub temperature_k: f64,
    /// Data points.
    pub points: usize,
    /// Posterior draws behind the band (after thinning; failed evaluations excluded).
    pub draws: usize,
    /// RMS residual of the median prediction \[V\].
    pub rmse_median_v: f64,
    /// Fraction of the measured points inside the central band (prediction plus noise) at each
    /// level.
    pub coverage: Vec<LevelCoverage>,
}

/// One model parameter at the three points of the residual table, in its unit (what
/// `simulate --params RUN_DIR` applies). `None`: not computed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamPoint {
    /// Parameter name.
    pub name: String,
    /// Its unit.
    pub unit: String,
    /// At the prior centre (the prior median).
    pub prior_centre: f64,
    /// At the MAP.
    pub map: Option<f64>,
    /// At the posterior mean (with `--map`, the Laplace mean).
    pub posterior_mean: Option<f64>,
}

/// Which point of a calibration to take its parameters at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitPoint {
    /// The posterior mode.
    Map,
    /// The posterior mean.
    PosteriorMean,
}

/// The run folder's `{stem}_validation.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationReport {
    /// The model parameters at the prior centre, the MAP and the posterior mean.
    pub parameters: Vec<ParamPoint>,
    /// Every curve, fitted then held out.
    pub rmse: Vec<CurveRmse>,
    /// One entry per held-out curve (`--validate`); empty without.
    pub held_out: Vec<HeldOutCheck>,
    /// How a held-out curve's noise is modelled, in words.
    pub held_out_noise: String,
}

/// What [`ValidationReport::held_out_noise`] says.
pub const HELD_OUT_NOISE: &str =
    "per posterior draw, the root mean square of the fitted curves' noise sds, √(mean_c σ_c²)";

/// The natural model parameters θ at which residuals are reported.
#[derive(Debug, Clone, Default)]
pub struct FitPoints {
    /// Parameter names and units, in θ's order.
    pub names: Vec<String>,
    /// Units of the parameters.
    pub units: Vec<String>,
    /// θ at the prior centre (the prior medians).
    pub prior_centre: Vec<f64>,
    /// θ at the MAP, if one was found.
    pub map: Option<Vec<f64>>,
    /// The posterior mean of θ, if there are draws.
    pub posterior_mean: Option<Vec<f64>>,
}

impl FitPoints {
    /// The prior centre of `post`, the MAP from its z (if any) and the posterior mean θ (natural
    /// units, the first `n_theta` unknowns of a summary's means).
    pub fn new<M: Model>(
        post: &Posterior<'_, M>,
        map_z: Option<&[f64]>,
        posterior_mean: Option<Vec<f64>>,
    ) -> Self {
        let theta = |z: &[f64]| {
            let mut x = vec![0.0; post.dim()];
            post.natural_from_z(z, &mut x);
            x.truncate(post.n_theta());
            x
        };
        Self {
            names: post.prior().params.iter().map(|p| p.name.clone()).collect(),
            units: post.prior().params.iter().map(|p| p.unit.clone()).collect(),
            prior_centre: theta(&post.prior_centre()),
            map: map_z.map(theta),
            posterior_mean: posterior_mean.map(|mut m| {
                m.truncate(post.n_theta());
                m
            }),
        }
    }
}

/// The RMS residual rows of `post`'s curves with `role` at `points`.
pub fn rmse_rows<M: Model>(
    post: &Posterior<'_, M>,
    role: CurveRole,
    points: &FitPoints,
) -> Vec<CurveRmse> {
    let at = |theta: Option<&Vec<f64>>| theta.and_then(|t| post.curve_rmse(t).ok());
    let (c0, map, mean) = (
        at(Some(&points.prior_centre)),
        at(points.map.as_ref()),
        at(points.posterior_mean.as_ref()),
    );
    let pick = |v: &Option<Vec<f64>>, c: usize| v.as_ref().map(|v| v[c]);
    post.curve_views(&post.prior_centre())
        .iter()
        .enumerate()
        .map(|(c, (_, data, _))| CurveRmse {
            curve: post.curve_name(c).to_string(),
            role,
            points: data.len(),
            prior_centre_v: pick(&c0, c),
            map_v: pick(&map, c),
            posterior_mean_v: pick(&mean, c),
        })
        .collect()
}

/// The pooled noise sd of several curves, √(mean_c σ_c²) \[V\]: what a curve without a σ of its
/// own (held out, or at new conditions) is given.
pub fn pooled_sigma(sigmas: &[f64]) -> f64 {
    (sigmas.iter().map(|s| s * s).sum::<f64>() / sigmas.len() as f64).sqrt()
}

/// The noise model of a held-out curve given the fit's: inferred (its ln σ set per draw to the
/// pooled value, so its prior plays no part) if any fitted curve's σ is inferred, else fixed to
/// the root mean square of the fixed σ's.
pub fn held_out_noise<M: Model>(fit: &Posterior<'_, M>) -> Noise {
    let fixed: Vec<f64> = (0..fit.n_curves())
        .filter_map(|c| match fit.curve_noise(c) {
            Noise::Fixed { sigma } => Some(sigma),
            Noise::Inferred { .. } => None,
        })
        .collect();
    if fixed.len() == fit.n_curves() {
        Noise::Fixed {
            sigma: pooled_sigma(&fixed),
        }
    } else {
        Noise::Inferred {
            prior: SigmaPrior::HalfNormal { scale: 0.01 },
        }
    }
}

/// A fit's draw z mapped to the held-out posterior's unknowns: θ as is, each held-out ln σ the
/// pooled √(mean_c σ_c²) of the fitted curves at z.
fn held_out_z<M: Model, V: Model>(
    fit: &Posterior<'_, M>,
    held: &Posterior<'_, V>,
    z: &[f64],
) -> Vec<f64> {
    let sigmas: Vec<f64> = fit.curve_views(z).iter().map(|v| v.2).collect();
    let mut h = z[..fit.n_theta()].to_vec();
    h.resize(held.dim(), pooled_sigma(&sigmas).ln());
    h
}

/// Posterior-predictive bands of the held-out curves of `held` from the fit's draws `draws_z`
/// (at most `max_draws`, evenly thinned; noise stream `seed`), with coverage at `levels`.
pub fn held_out_bands<M: Model, V: Model>(
    fit: &Posterior<'_, M>,
    held: &Posterior<'_, V>,
    draws_z: &[&[f64]],
    max_draws: usize,
    seed: u64,
    levels: &[f64],
) -> Result<Vec<CurveBand>, CalibrateError> {
    if held.n_theta() != fit.n_theta() {
        return Err(CalibrateError::Setup(format!(
            "held-out model has {} parameters, the fit {}",
            held.n_theta(),
            fit.n_theta()
        )));
    }
    let zs: Vec<Vec<f64>> = draws_z.iter().map(|z| held_out_z(fit, held, z)).collect();
    let refs: Vec<&[f64]> = zs.iter().map(Vec::as_slice).collect();
    predictive_bands_from_z(held, &refs, max_draws, seed, levels)
}

impl ValidationReport {
    /// The report from the points, the fit's rows, the held-out rows and their bands (`files`
    /// and `temperatures_k` in the bands' order).
    pub fn new(
        points: &FitPoints,
        mut rmse: Vec<CurveRmse>,
        held_rmse: Vec<CurveRmse>,
        bands: &[CurveBand],
        files: &[PathBuf],
        temperatures_k: &[f64],
    ) -> Self {
        rmse.extend(held_rmse);
        let held_out = bands
            .iter()
            .zip(files.iter().zip(temperatures_k))
            .map(|(b, (f, &t))| HeldOutCheck {
                curve: b.name.clone(),
                file: f.display().to_string(),
                temperature_k: t,
                points: b.data.len(),
                draws: b.n_draws,
                rmse_median_v: b.rmse,
                coverage: b.coverage.clone(),
            })
            .collect();
        let parameters = (0..points.names.len())
            .map(|k| ParamPoint {
                name: points.names[k].clone(),
                unit: points.units[k].clone(),
                prior_centre: points.prior_centre[k],
                map: points.map.as_ref().map(|m| m[k]),
                posterior_mean: points.posterior_mean.as_ref().map(|m| m[k]),
            })
            .collect();
        Self {
            parameters,
            rmse,
            held_out,
            held_out_noise: HELD_OUT_NOISE.into(),
        }
    }

    /// Read the `*_validation.json` of the calibration run in `dir` (exactly one). Errors name
    /// the folder or file and what was expected.
    pub fn read_run(dir: &Path) -> Result<Self, String> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: expected a calibration run folder: {e}", dir.display()))?;
        let found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with("_validation.json") && !n.starts_with('.'))
            })
            .collect();
        let [p] = found.as_slice() else {
            return Err(format!(
                "{}: expected one STEM_validation.json (a calibration run folder), found {}",
                dir.display(),
                found.len()
            ));
        };
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
    }

    /// (name, unit, value) of every model parameter at `at`; an error if the run did not
    /// compute that point.
    pub fn parameters_at(&self, at: FitPoint) -> Result<Vec<(String, String, f64)>, String> {
        self.parameters
            .iter()
            .map(|p| {
                let v = match at {
                    FitPoint::Map => p.map,
                    FitPoint::PosteriorMean => p.posterior_mean,
                };
                v.map(|v| (p.name.clone(), p.unit.clone(), v)).ok_or_else(|| {
                    format!(
                        "parameter '{}': the run has no {} (a NUTS run started from prior draws has no MAP)",
                        p.name,
                        match at {
                            FitPoint::Map => "MAP",
                            FitPoint::PosteriorMean => "posterior mean",
                        }
                    )
                })
            })
            .collect()
    }

    /// One line per curve for the terminal: RMS residuals in mV, and for a held-out curve its
    /// band coverage.
    pub fn lines(&self) -> Vec<String> {
        let mv =
            |v: Option<f64>, label: &str| v.map(|v| format!("{:.2} mV at the {label}", 1e3 * v));
        let mut out: Vec<String> = self
            .rmse
            .iter()
            .map(|r| {
                let at: Vec<String> = [
                    mv(r.map_v, "MAP"),
                    mv(r.posterior_mean_v, "posterior mean"),
                    mv(r.prior_centre_v, "prior centre"),
                ]
                .into_iter()
                .flatten()
                .collect();
                format!(
                    "{}{}: RMS residual {}",
                    r.curve,
                    if r.role == CurveRole::HeldOut {
                        " (held out)"
                    } else {
                        ""
                    },
                    if at.is_empty() {
                        "not computed (the model fails at every point)".into()
                    } else {
                        at.join(", ")
                    }
                )
            })
            .collect();
        for h in &self.held_out {
            let cov: Vec<String> = h
                .coverage
                .iter()
                .map(|c| {
                    format!(
                        "{:.0} % inside the {:.0} % band",
                        100.0 * c.fraction,
                        100.0 * c.level
                    )
                })
                .collect();
            out.push(format!(
                "{} (held out, {} points, {:.2} K): {}; median prediction RMS residual {:.2} mV",
                h.curve,
                h.points,
                h.temperature_k,
                cov.join(", "),
                1e3 * h.rmse_median_v
            ));
        }
        out
    }

    /// Write `dir/{stem}_validation.json` atomically; returns its path.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<PathBuf, CalibrateError> {
        let p = dir.join(format!("{stem}_validation.json"));
        let json = serde_json::to_string_pretty(self).expect("validation report serialises");
        write_atomic(&p, json.as_bytes()).map_err(|source| CalibrateError::Io {
            path: p.display().to_string(),
            source,
        })?;
        Ok(p)
    }
}
