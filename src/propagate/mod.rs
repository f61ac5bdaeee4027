//! Forward propagation of atomistic uncertainty through any [`Model`]: the delta method
//! (exact AD Jacobian, J·Σ·Jᵀ, variance decomposition) and Monte Carlo (pseudo-random,
//! scrambled Sobol, Latin hypercube) with streaming summaries, plus a nonlinearity check that
//! says in words where the linearisation cannot be trusted.
//!
//! Entry points: [`delta_method`], [`monte_carlo()`], [`compare`], [`propagate`] (all of them
//! for a [`Method`]) and [`report::write_results`].

// Index loops over outputs and inputs read like the equations they implement.
#![allow(clippy::needless_range_loop)]

pub mod delta;
pub mod design;
pub mod monte_carlo;
pub mod posterior;
pub mod report;
pub mod summary;

pub use delta::{DeltaResult, VarianceBreakdown, delta_method};
pub use design::{CHUNK_SIZE, Design};
pub use monte_carlo::{
    McPart, McResult, McSettings, OutputStats, StopReason, merge_parts, monte_carlo,
    monte_carlo_part,
};
pub use report::write_results;

use crate::dist::JointDistribution;
use crate::model::{Model, ModelError, OutputShape, OutputSpec};
use crate::shard::ShardSpec;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What went wrong in a propagation.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PropagateError {
    /// The model and the distribution do not correspond input for parameter.
    #[error(
        "the model has {model_inputs} inputs but the distribution has {dist_params} parameters (they must correspond one to one)"
    )]
    DimensionMismatch {
        /// Inputs of the model.
        model_inputs: usize,
        /// Parameters of the distribution.
        dist_params: usize,
    },
    /// The model declares no output to propagate to.
    #[error("the model has no outputs")]
    NoOutputs,
    /// A setting (a study field, a CLI flag) has a value outside its range.
    #[error("setting '{field}' = {value}: expected {expected}")]
    InvalidSetting {
        /// The setting's name.
        field: String,
        /// Its value, as given.
        value: String,
        /// What it must be.
        expected: String,
    },
    /// The model fails at the centre x(μ), where the delta method linearises it.
    #[error("the delta method could not evaluate the model at the centre x = {centre:?}: {source}")]
    DeltaEvaluation {
        /// The model's error.
        source: ModelError,
        /// The centre x(μ) in natural units, one value per input.
        centre: Vec<f64>,
    },
    /// The model's value at the centre is NaN or infinite.
    #[error("the delta method gives a non-finite value for output '{output}' at the centre")]
    NonFiniteDelta {
        /// The flat output label.
        output: String,
    },
    /// Every evaluation of the pilot (the first chunks of a Monte Carlo run) failed: nothing to
    /// summarise.
    #[error(
        "every one of the first {evaluated} Monte Carlo evaluations failed; first failure: {first_failure}"
    )]
    AllFailed {
        /// Samples evaluated.
        evaluated: u64,
        /// The first failure: "sample i: message".
        first_failure: String,
    },
    /// A results file cannot be written.
    #[error("could not write '{path}': {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The results cannot be written as JSON (a non-finite number where JSON needs one).
    #[error("could not serialise the results to JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The caller raised the run's [`CancelToken`](crate::cancel::CancelToken)
    /// ([`McSettings::cancel`]).
    #[error("cancelled")]
    Cancelled,
}

/// Check that the distribution has one parameter per model input.
pub fn check_binding<M: Model + ?Sized>(
    model: &M,
    dist: &JointDistribution,
) -> Result<(), PropagateError> {
    if model.inputs().len() != dist.dim() {
        return Err(PropagateError::DimensionMismatch {
            model_inputs: model.inputs().len(),
            dist_params: dist.dim(),
        });
    }
    Ok(())
}

/// Disagreement beyond this many Monte Carlo standard errors …
pub const NONLINEARITY_Z: f64 = 3.0;
/// … and beyond this relative difference flags an output as nonlinear.
pub const NONLINEARITY_REL: f64 = 0.01;

/// Delta method vs Monte Carlo for one flat output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputCheck {
    /// Flat output label (`name` or `name[axis=value]`).
    pub label: String,
    /// Unit of the output.
    pub unit: String,
    /// Delta-method mean f(x(μ)) \[unit\].
    pub delta_mean: f64,
    /// Monte Carlo mean \[unit\].
    pub mc_mean: f64,
    /// Monte Carlo standard error of the mean \[unit\].
    pub se_mean: f64,
    /// (delta − MC)/SE for the mean.
    pub mean_z: f64,
    /// (delta − MC)/|MC| for the mean.
    pub mean_rel: f64,
    /// Delta-method sd √(J·Σ·Jᵀ)_kk \[unit\].
    pub delta_sd: f64,
    /// Monte Carlo sd \[unit\].
    pub mc_sd: f64,
    /// Monte Carlo standard error of the sd \[unit\].
    pub se_sd: f64,
    /// (delta − MC)/SE for the sd.
    pub sd_z: f64,
    /// (delta − MC)/|MC| for the sd.
    pub sd_rel: f64,
    /// True when mean or sd differ by more than [`NONLINEARITY_Z`] standard errors and more
    /// than [`NONLINEARITY_REL`] relative.
    pub nonlinear: bool,
}

/// The nonlinearity check of one Monte Carlo run against the delta method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NonlinearityReport {
    /// The Monte Carlo design compared ("mc", "qmc", "lhs").
    pub method: String,
    /// One check per flat output.
    pub outputs: Vec<OutputCheck>,
    /// Plain-words verdicts, one per flagged output (curves grouped), or one all-clear line.
    pub messages: Vec<String>,
    /// Some output is flagged nonlinear.
    pub any_nonlinear: bool,
}

fn z_and_rel(delta: f64, mc: f64, se: f64) -> (f64, f64) {
    let d = delta - mc;
    let z = if se > 0.0 {
        d / se
    } else if d == 0.0 {
        0.0
    } else {
        d.signum() * f64::INFINITY
    };
    let rel = if mc != 0.0 {
        d / mc.abs()
    } else if d == 0.0 {
        0.0
    } else {
        f64::INFINITY
    };
    (z, rel)
}

fn flagged(z: f64, rel: f64) -> bool {
    z.abs() > NONLINEARITY_Z && rel.abs() > NONLINEARITY_REL
}

fn describe_disagreement(o: &OutputCheck) -> String {
    let mut parts = Vec::new();
    if flagged(o.mean_z, o.mean_rel) {
        parts.push(format!(
            "the delta-method mean {:.4e} {u} differs from the Monte Carlo mean {:.4e} ± {:.1e} {u} by {:+.1} % ({:.0} standard errors)",
            o.delta_mean,
            o.mc_mean,
            o.se_mean,
            100.0 * o.mean_rel,
            o.mean_z.abs(),
            u = o.unit
        ));
    }
    if flagged(o.sd_z, o.sd_rel) {
        parts.push(format!(
            "the delta-method sd {:.4e} {u} differs from the Monte Carlo sd {:.4e} ± {:.1e} {u} by {:+.1} % ({:.0} standard errors)",
            o.delta_sd,
            o.mc_sd,
            o.se_sd,
            100.0 * o.sd_rel,
            o.sd_z.abs(),
            u = o.unit
        ));
    }
    parts.join("; ")
}

/// Compare delta-method and Monte Carlo means and sds, output by output: an output is flagged
/// as nonlinear when either differs by more than 3 Monte Carlo standard errors and more than
/// 1 % relative, and the report says so in words (the linearisation is not trustworthy there).
pub fn compare(delta: &DeltaResult, mc: &McResult) -> NonlinearityReport {
    let outputs: Vec<OutputCheck> = delta
        .labels
        .iter()
        .zip(&mc.outputs)
        .enumerate()
        .map(|(j, (label, o))| {
            let (mean_z, mean_rel) = z_and_rel(delta.mean[j], o.mean, o.se_mean);
            let (mut sd_z, mut sd_rel) = z_and_rel(delta.sd[j], o.sd, o.se_sd);
            // An output that does not depend on the inputs (both sds at rounding level
            // relative to its mean) agrees, whatever the ratio of two rounding errors.
            if delta.sd[j].max(o.sd) <= 1e-12 * o.mean.abs() {
                (sd_z, sd_rel) = (0.0, 0.0);
            }
            OutputCheck {
                label: label.clone(),
                unit: o.unit.clone(),
                delta_mean: delta.mean[j],
                mc_mean: o.mean,
                se_mean: o.se_mean,
                mean_z,
                mean_rel,
                delta_sd: delta.sd[j],
                mc_sd: o.sd,
                se_sd: o.se_sd,
                sd_z,
                sd_rel,
                nonlinear: flagged(mean_z, mean_rel) || flagged(sd_z, sd_rel),
            }
        })
        .collect();
    let method = mc.design.short_name().to_string();
    let mut messages = Vec::new();
    // Group flat outputs by output name (curve points are labelled `name[axis=value]`).
    let base = |l: &str| l.split('[').next().unwrap_or(l).to_string();
    let mut groups: Vec<(String, Vec<&OutputCheck>)> = Vec::new();
    for o in &outputs {
        let b = base(&o.label);
        match groups.last_mut() {
            Some((name, v)) if *name == b => v.push(o),
            _ => groups.push((b, vec![o])),
        }
    }
    for (name, points) in &groups {
        let flagged_points: Vec<&&OutputCheck> = points.iter().filter(|o| o.nonlinear).collect();
        // The worst point: largest relative disagreement of mean or sd.
        let Some(worst) = flagged_points.iter().max_by(|a, b| {
            a.mean_rel
                .abs()
                .max(a.sd_rel.abs())
                .total_cmp(&b.mean_rel.abs().max(b.sd_rel.abs()))
        }) else {
            continue;
        };
        let detail = describe_disagreement(worst);
        let what = if points.len() == 1 {
            format!("{}: {detail}", worst.label)
        } else {
            format!(
                "{name} (a curve): the delta method disagrees with Monte Carlo at {} of {} points; worst at {}: {detail}",
                flagged_points.len(),
                points.len(),
                worst.label
            )
        };
        messages.push(format!(
            "{what}. The linearisation is not trustworthy here (the model is too nonlinear over the \
             input uncertainty); use the Monte Carlo result ({}).",
            mc.design.describe()
        ));
    }
    let any = !messages.is_empty();
    if !any {
        messages.push(format!(
            "The delta method agrees with {} for every output (within {NONLINEARITY_Z} standard errors or {} %): \
             the linearisation is adequate at this input uncertainty.",
            mc.design.describe(),
            100.0 * NONLINEARITY_REL
        ));
    }
    NonlinearityReport {
        method,
        outputs,
        messages,
        any_nonlinear: any,
    }
}

/// Which propagation(s) to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The delta method only (first order, at the medians).
    Delta,
    /// Pseudo-random Monte Carlo.
    Mc,
    /// Quasi-Monte Carlo on scrambled Sobol points, replicated for standard errors.
    Qmc,
    /// Latin hypercube sampling.
    Lhs,
    /// The delta method and all three Monte Carlo designs.
    All,
}

impl std::str::FromStr for Method {
    type Err = PropagateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "delta" => Ok(Method::Delta),
            "mc" => Ok(Method::Mc),
            "qmc" => Ok(Method::Qmc),
            "lhs" => Ok(Method::Lhs),
            "all" => Ok(Method::All),
            _ => Err(PropagateError::InvalidSetting {
                field: "method".into(),
                value: s.into(),
                expected: "one of delta, mc, qmc, lhs, all".into(),
            }),
        }
    }
}

impl Method {
    /// The Monte Carlo designs this method runs.
    pub fn designs(&self) -> Vec<Design> {
        match self {
            Method::Delta => vec![],
            Method::Mc => vec![Design::Pseudo],
            Method::Qmc => vec![Design::Sobol],
            Method::Lhs => vec![Design::LatinHypercube],
            Method::All => vec![Design::Pseudo, Design::Sobol, Design::LatinHypercube],
        }
    }
}

/// An input as reported: name, unit, transform and natural-space marginal mean and sd.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputInfo {
    /// Parameter name.
    pub name: String,
    /// Unit of its natural values.
    pub unit: String,
    /// Its transform: `identity`, `log` or `logit[a, b]`.
    pub transform: String,
    /// Marginal mean in natural units.
    pub mean: f64,
    /// Marginal sd in natural units.
    pub sd: f64,
    /// The median, x(μ_z).
    pub median: f64,
}

/// Everything a propagation produced, ready for the writers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropagationResults {
    /// Title of the priors (the joint distribution's).
    pub title: String,
    /// Source the priors cite.
    pub source: String,
    /// The inputs, in model order.
    pub inputs: Vec<InputInfo>,
    /// The model's outputs, in flat order.
    pub outputs: Vec<OutputSpec>,
    /// The delta method's result, for methods delta and all.
    pub delta: Option<DeltaResult>,
    /// One result per Monte Carlo design run, in [`Method::designs`] order.
    pub monte_carlo: Vec<McResult>,
    /// One check per Monte Carlo result against the delta method (when both ran).
    pub nonlinearity: Vec<NonlinearityReport>,
}

impl PropagationResults {
    /// Empty results describing `model` and `dist` (inputs with the distribution's units).
    pub fn new<M: Model + ?Sized>(model: &M, dist: &JointDistribution) -> Self {
        let median = dist.median_natural();
        let inputs = dist
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (mean, sd) = dist.marginal_mean_sd(i);
                InputInfo {
                    name: p.name.clone(),
                    unit: p.unit.clone(),
                    transform: p.transform.label(),
                    mean,
                    sd,
                    median: median[i],
                }
            })
            .collect();
        Self {
            title: dist.title.clone(),
            source: dist.source.clone(),
            inputs,
            outputs: model.outputs().to_vec(),
            delta: None,
            monte_carlo: Vec::new(),
            nonlinearity: Vec::new(),
        }
    }

    /// Names of the curve outputs and their flat ranges.
    pub fn curves(&self) -> Vec<(&OutputSpec, std::ops::Range<usize>)> {
        let mut start = 0;
        let mut v = Vec::new();
        for o in &self.outputs {
            if let OutputShape::Curve(_) = o.shape {
                v.push((o, start..start + o.len()));
            }
            start += o.len();
        }
        v
    }
}

/// A study file's `[propagate]` section: the defaults of a propagation of that study, every
/// field optional (method "all", [`McSettings::default`] otherwise). The CLI's flags and the
/// Python package's keywords override it field by field.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropagateSection {
    /// Method: delta, mc, qmc, lhs or all (default all).
    pub method: Option<String>,
    /// Samples N ([`McSettings::samples`]).
    pub samples: Option<u64>,
    /// Seed ([`McSettings::seed`]).
    pub seed: Option<u64>,
    /// Relative standard-error target that stops a run early ([`McSettings::rel_err`]).
    pub rel_err: Option<f64>,
    /// Central interval levels in (0, 1) ([`McSettings::levels`]).
    pub levels: Option<Vec<f64>>,
    /// Sobol replicates ([`McSettings::replicates`]).
    pub replicates: Option<usize>,
}

impl PropagateSection {
    /// The method named (default all).
    pub fn method(&self) -> Result<Method, PropagateError> {
        self.method.as_deref().unwrap_or("all").parse()
    }

    /// The Monte Carlo settings: each field given here, else [`McSettings::default`]'s,
    /// validated.
    pub fn mc_settings(&self) -> Result<McSettings, PropagateError> {
        let d = McSettings::default();
        let mc = McSettings {
            samples: self.samples.unwrap_or(d.samples),
            seed: self.seed.unwrap_or(d.seed),
            levels: self.levels.clone().unwrap_or(d.levels),
            rel_err: self.rel_err,
            replicates: self.replicates.unwrap_or(d.replicates),
            ..d
        };
        mc.validate()?;
        Ok(mc)
    }
}

/// Run the propagation(s) of `method`: the delta method for Delta/All, one Monte Carlo run per
/// design (with `mc.design` overridden), and a nonlinearity check of every Monte Carlo run
/// against the delta method when both ran.
pub fn propagate<M: Model>(
    model: &M,
    dist: &JointDistribution,
    method: Method,
    mc: &McSettings,
) -> Result<PropagationResults, PropagateError> {
    assemble(model, dist, method, mc, |s| monte_carlo(model, dist, s))
}

/// Shard `shard` of [`propagate`]: the part of every Monte Carlo design `method` runs, in the
/// order of [`Method::designs`]. The delta method is not sharded (the merge computes it: one
/// Jacobian), so `Method::Delta` is refused.
pub fn propagate_part<M: Model>(
    model: &M,
    dist: &JointDistribution,
    method: Method,
    mc: &McSettings,
    shard: ShardSpec,
) -> Result<Vec<McPart>, PropagateError> {
    if method == Method::Delta {
        return Err(PropagateError::InvalidSetting {
            field: "method".into(),
            value: "delta".into(),
            expected: "a Monte Carlo design to shard (mc, qmc, lhs or all)".into(),
        });
    }
    method
        .designs()
        .into_iter()
        .map(|design| {
            let s = McSettings {
                design,
                ..mc.clone()
            };
            monte_carlo_part(model, dist, &s, shard)
        })
        .collect()
}

/// The results [`propagate`] gives, from the parts of all shards (`parts[k]` = shard k + 1's
/// [`propagate_part`]): bit for bit the same (see [`merge_parts`]).
pub fn merge_propagation<M: Model>(
    model: &M,
    dist: &JointDistribution,
    method: Method,
    mc: &McSettings,
    parts: &[Vec<McPart>],
) -> Result<PropagationResults, PropagateError> {
    assemble(model, dist, method, mc, |s| {
        let of_design: Vec<&McPart> = parts
            .iter()
            .filter_map(|shard| shard.iter().find(|p| p.design == s.design))
            .collect();
        if of_design.len() != parts.len() {
            return Err(PropagateError::InvalidSetting {
                field: "parts".into(),
                value: format!("{} of {} shards", of_design.len(), parts.len()),
                expected: format!("a {} part in every shard", s.design.short_name()),
            });
        }
        merge_parts(model, dist, s, &of_design)
    })
}

/// The delta method (for Delta/All), one Monte Carlo result per design from `run_mc`, and the
/// nonlinearity checks: the one assembly behind [`propagate`] and [`merge_propagation`].
fn assemble<M: Model>(
    model: &M,
    dist: &JointDistribution,
    method: Method,
    mc: &McSettings,
    mut run_mc: impl FnMut(&McSettings) -> Result<McResult, PropagateError>,
) -> Result<PropagationResults, PropagateError> {
    let mut res = PropagationResults::new(model, dist);
    if matches!(method, Method::Delta | Method::All) {
        res.delta = Some(delta_method(model, dist)?);
    }
    for design in method.designs() {
        let settings = McSettings {
            design,
            ..mc.clone()
        };
        res.monte_carlo.push(run_mc(&settings)?);
    }
    if let Some(d) = &res.delta {
        res.nonlinearity = res.monte_carlo.iter().map(|m| compare(d, m)).collect();
    }
    Ok(res)
}

#[cfg(test)]
mod tests;
