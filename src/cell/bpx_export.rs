//! A run's parameter set with error bars as a BPX 1.x file (`bridgelaw bpx export`).
//!
//! The run folder is read where its command wrote it:
//! - a **calibration** (`STEM_validation.json` with the parameters at the MAP and the posterior
//!   mean, [`ValidationReport::read_run`]; `calibration_view.json` with the draws,
//!   [`PosteriorDraws::read_run`], and each parameter's prior transform): central values at the
//!   posterior mean of a NUTS run or the MAP of a `--map` run (or as asked, [`FitPoint`]); each
//!   distribution from the draws: mean, sd, median and central 95 % interval of the draws, and
//!   the normal fitted to T⁻¹(draws) in the prior's space (log → log-normal, logit →
//!   logit-normal, identity → normal);
//! - a **propagation** (`propagation.json`, [`crate::propagate::PropagationResults`]): the cell parameters among its inputs (their prior
//!   marginal: mean, sd, median; log → log-normal with μ = ln median, σ² = 2 ln(mean/median);
//!   identity → normal) and among its scalar outputs (a linked parameter such as `D_n`: the
//!   first Monte Carlo run's mean, sd, median and 95 % interval, else the delta method's
//!   normal), central values at the propagated mean;
//! - a **posterior propagation** (`posterior_propagation.json`): its scalar outputs that are
//!   cell parameters (linked ones such as `D_n`), and the calibration's own cell parameters from
//!   the run it names, central values at the mean over the posterior draws.
//!
//! Names are those of [`FREE_PARAMETERS`]; a calibrated law input (an NEB barrier) sets no cell
//! parameter by itself and is refused (propagate the calibration's chain with `--posterior`
//! and export that run); in a propagation a law input is skipped, its effect being in the
//! linked outputs. The parameters are applied to a base cell (the `--base` BPX file, else the
//! file the run's study names, found through the run's `provenance.json`) with
//! [`set_cell_parameter`] (what `simulate --params` uses too), and written with
//! [`write_bpx`]: each distribution in `User-defined/Distributions/NAME`, NAME the BPX-style
//! name of the quantity in the unit the file uses (see [`bpx_name`]).

use super::bpx::{
    BpxExport, DistributionKind, ParamUncertainty, normalised_rate_constant, read_bpx_file,
    write_bpx,
};
use super::model::{FREE_PARAMETERS, FreeParam, apply_free};
use super::ocp::Shape;
use super::params::CellParams;
use super::{BpxCell, CellError};
use crate::calibrate::diagnostics::quantile_sorted;
use crate::calibrate::validate::{FitPoint, ValidationReport};
use crate::constants::FARADAY;
use crate::dist::Transform;
use crate::model::OutputSpec;
use crate::propagate::InputInfo;
use crate::propagate::monte_carlo::Interval;
use crate::propagate::posterior::{PosteriorDraws, PosteriorPropagation};
use crate::report::calibrate_report::{CALIBRATION_VIEW_JSON, CalibrationMethod, CalibrationView};
use crate::report::provenance::{PROVENANCE_FILE, Provenance};
use crate::units::conversion_factor;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Errors of a BPX export: each names the folder or file and what was expected (bad input,
/// exit 2 in the CLI).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BpxExportError {
    /// The folder holds none of the result files of a calibration or propagation.
    #[error(
        "{dir}: expected a calibration run folder (STEM_validation.json and {CALIBRATION_VIEW_JSON}) or a propagation run folder (propagation.json or posterior_propagation.json): {found}"
    )]
    NotARun {
        /// The folder given.
        dir: PathBuf,
        /// What it holds instead (or why it is none).
        found: String,
    },
    /// A result file that cannot be read, or a field in it that is not as expected.
    #[error("{file}: {msg}")]
    RunFile {
        /// The result file.
        file: PathBuf,
        /// The field and what was expected.
        msg: String,
    },
    /// The run varied no cell parameter.
    #[error(
        "{dir}: the run has no cell parameters (it has {names}); a BPX file can carry only parameters of the cell ({})",
        cell_parameter_names()
    )]
    NoCellParameters {
        /// The run folder.
        dir: PathBuf,
        /// What the run varied or computed instead.
        names: String,
    },
    /// A calibrated law input, which sets no cell parameter by itself.
    #[error(
        "{dir}: '{name}' is not a cell parameter (a law input); propagate the calibration's chain with `bridgelaw propagate STUDY --posterior {dir}` and export that run"
    )]
    LawInput {
        /// The run folder.
        dir: PathBuf,
        /// The law input's name.
        name: String,
    },
    /// No base file: not given and not found through the run's study.
    #[error("{0}; give the BPX file of the values the run did not vary with --base FILE")]
    NoBase(String),
    /// A parameter whose unit does not convert to the cell parameter's.
    #[error("{dir}: parameter '{name}' is in '{unit}', which does not convert to '{cell_unit}'")]
    Unit {
        /// The run folder.
        dir: PathBuf,
        /// The parameter's name.
        name: String,
        /// Its unit in the run.
        unit: String,
        /// The cell parameter's unit.
        cell_unit: String,
    },
    /// The base cell or a value applied to it.
    #[error(transparent)]
    Cell(#[from] CellError),
}

fn cell_parameter_names() -> String {
    FREE_PARAMETERS
        .iter()
        .map(|(n, _, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a run's central values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CentralValue {
    /// The posterior mean of a calibration.
    PosteriorMean,
    /// The MAP of a calibration.
    Map,
    /// The mean of a propagation's (prior or posterior) samples.
    PropagatedMean,
}

impl CentralValue {
    /// In words, for the file's description.
    pub fn describe(self) -> &'static str {
        match self {
            CentralValue::PosteriorMean => "posterior mean",
            CentralValue::Map => "MAP (posterior mode)",
            CentralValue::PropagatedMean => "propagated mean",
        }
    }
}

/// One varied parameter of a run, in the run's name and unit.
#[derive(Debug, Clone, PartialEq)]
pub struct RunParameter {
    /// Name as in the run, e.g. "D_n".
    pub name: String,
    /// Unit of every value here, e.g. "m^2/s".
    pub unit: String,
    /// The central value [unit].
    pub central: f64,
    /// Its distribution [unit]; `name` is the run's name here, replaced by the BPX-style one
    /// on export.
    pub uncertainty: ParamUncertainty,
}

/// What a run folder says about its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct RunParameters {
    /// The run folder.
    pub dir: PathBuf,
    /// What kind of run, in words ("calibration (NUTS, 4000 draws)", "propagation (Monte Carlo,
    /// 20000 samples)").
    pub kind: String,
    /// Which central value the parameters carry.
    pub central: CentralValue,
    /// The cell parameters the run varied.
    pub params: Vec<RunParameter>,
    /// Varied quantities that are not cell parameters (law inputs of a propagation), skipped.
    pub skipped: Vec<String>,
}

fn run_file_err(file: &Path, msg: impl Into<String>) -> BpxExportError {
    BpxExportError::RunFile {
        file: file.to_path_buf(),
        msg: msg.into(),
    }
}

fn cell_param(name: &str) -> Option<(&'static str, FreeParam)> {
    FREE_PARAMETERS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, u, w)| (*u, *w))
}

/// Summary of samples `xs` [unit] with the kind fitted in the space of `transform`.
fn from_samples(xs: &[f64], transform: Option<&Transform>) -> ParamUncertainty {
    let n = xs.len() as f64;
    let mean_sd = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0).max(1.0);
        (m, var.sqrt())
    };
    let (mean, sd) = mean_sd(xs);
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    let zs: Option<Vec<f64>> = transform.map_or(Some(xs.to_vec()), |t| {
        xs.iter().map(|&x| t.to_unconstrained(x)).collect()
    });
    let kind = match (transform, zs) {
        (Some(Transform::Log), Some(z)) => {
            let (mu, sigma) = mean_sd(&z);
            DistributionKind::LogNormal { mu, sigma }
        }
        (Some(Transform::Logit { lower, upper }), Some(z)) => {
            let (mu, sigma) = mean_sd(&z);
            DistributionKind::LogitNormal {
                lower: *lower,
                upper: *upper,
                mu,
                sigma,
            }
        }
        (Some(Transform::Identity), _) => DistributionKind::Normal { mean, sd },
        _ => DistributionKind::Empirical {
            samples: Some(n as usize),
        },
    };
    ParamUncertainty {
        name: String::new(),
        central: mean,
        mean,
        sd,
        median: Some(quantile_sorted(&s, 0.5)),
        interval: Some((quantile_sorted(&s, 0.025), quantile_sorted(&s, 0.975), 0.95)),
        kind,
    }
}

/// The parameters of the run in `dir` (see the module doc); `at` overrides a calibration's
/// central value (default: posterior mean of a NUTS run, MAP of a `--map` run).
pub fn read_run_parameters(
    dir: &Path,
    at: Option<FitPoint>,
) -> Result<RunParameters, BpxExportError> {
    if !dir.is_dir() {
        return Err(BpxExportError::NotARun {
            dir: dir.to_path_buf(),
            found: "not a folder".into(),
        });
    }
    if dir.join(CALIBRATION_VIEW_JSON).is_file() {
        let (run, law_inputs) = calibration_parameters(dir, at)?;
        if let Some(name) = law_inputs.into_iter().next() {
            return Err(BpxExportError::LawInput {
                dir: dir.to_path_buf(),
                name,
            });
        }
        return Ok(run);
    }
    if at.is_some() {
        return Err(BpxExportError::NotARun {
            dir: dir.to_path_buf(),
            found: format!(
                "--at applies to a calibration run; this folder has no {CALIBRATION_VIEW_JSON}"
            ),
        });
    }
    let post = dir.join("posterior_propagation.json");
    if post.is_file() {
        return posterior_propagation_parameters(dir, &post);
    }
    let prop = dir.join(crate::propagate::report::JSON_FILE);
    if prop.is_file() {
        return propagation_parameters(dir, &prop);
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    Err(BpxExportError::NotARun {
        dir: dir.to_path_buf(),
        found: if names.is_empty() {
            "it is empty".into()
        } else {
            format!("it holds {}", names.join(", "))
        },
    })
}

/// The cell parameters of the calibration in `dir` and the names of its law inputs.
fn calibration_parameters(
    dir: &Path,
    at: Option<FitPoint>,
) -> Result<(RunParameters, Vec<String>), BpxExportError> {
    let view_path = dir.join(CALIBRATION_VIEW_JSON);
    let draws = PosteriorDraws::read_run(dir).map_err(|m| run_file_err(&view_path, m))?;
    let text =
        std::fs::read_to_string(&view_path).map_err(|e| run_file_err(&view_path, e.to_string()))?;
    let view: CalibrationView = serde_json::from_str(&text)
        .map_err(|e| run_file_err(&view_path, format!("not a calibration view: {e}")))?;
    let report = ValidationReport::read_run(dir).map_err(|m| BpxExportError::NotARun {
        dir: dir.to_path_buf(),
        found: m,
    })?;
    let at = at.unwrap_or(match view.method {
        CalibrationMethod::Nuts => FitPoint::PosteriorMean,
        CalibrationMethod::Laplace => FitPoint::Map,
    });
    let values = report
        .parameters_at(at)
        .map_err(|m| run_file_err(&dir.join("STEM_validation.json"), m))?;
    let mut params = Vec::new();
    let mut law_inputs = Vec::new();
    for (name, unit, v) in values {
        if cell_param(&name).is_none() {
            law_inputs.push(name);
            continue;
        }
        let k = draws.names.iter().position(|n| *n == name).ok_or_else(|| {
            run_file_err(
                &view_path,
                format!("parameter '{name}': no draws (expected one column per parameter)"),
            )
        })?;
        if draws.units[k] != unit {
            return Err(run_file_err(
                &view_path,
                format!(
                    "parameter '{name}': draws in '{}', the validation report in '{unit}'",
                    draws.units[k]
                ),
            ));
        }
        let xs: Vec<f64> = draws.draws.iter().map(|d| d[k]).collect();
        let transform = view
            .params
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.prior.as_ref())
            .map(|p| p.transform);
        let mut u = from_samples(&xs, transform.as_ref());
        u.central = v;
        params.push(RunParameter {
            name,
            unit,
            central: v,
            uncertainty: u,
        });
    }
    if params.is_empty() {
        return Err(BpxExportError::NoCellParameters {
            dir: dir.to_path_buf(),
            names: law_inputs.join(", "),
        });
    }
    let method = match view.method {
        CalibrationMethod::Nuts => "NUTS",
        CalibrationMethod::Laplace => "MAP + Laplace draws",
    };
    Ok((
        RunParameters {
            dir: dir.to_path_buf(),
            kind: format!("calibration ({method}, {} draws)", draws.draws.len()),
            central: match at {
                FitPoint::Map => CentralValue::Map,
                FitPoint::PosteriorMean => CentralValue::PosteriorMean,
            },
            params,
            skipped: Vec::new(),
        },
        law_inputs,
    ))
}

/// The parts of `propagation.json` ([`crate::propagate::PropagationResults`]) an export reads.
/// Its own view, not the whole result: numbers JSON writes as `null` (a NaN variance fraction,
/// a failed output's statistics) read back here as `None` where they matter and are skipped
/// where they do not.
#[derive(Debug, Deserialize)]
struct PropagationView {
    inputs: Vec<InputInfo>,
    outputs: Vec<OutputSpec>,
    delta: Option<DeltaView>,
    monte_carlo: Vec<McView>,
}

#[derive(Debug, Deserialize)]
struct DeltaView {
    mean: Vec<Option<f64>>,
    sd: Vec<Option<f64>>,
}

#[derive(Debug, Deserialize)]
struct McView {
    n_valid: u64,
    outputs: Vec<McOutputView>,
}

#[derive(Debug, Deserialize)]
struct McOutputView {
    mean: Option<f64>,
    sd: Option<f64>,
    quantiles: Vec<QuantileView>,
    intervals: Vec<Interval>,
}

#[derive(Debug, Deserialize)]
struct QuantileView {
    p: f64,
    value: Option<f64>,
}

fn propagation_parameters(dir: &Path, file: &Path) -> Result<RunParameters, BpxExportError> {
    let text = std::fs::read_to_string(file).map_err(|e| run_file_err(file, e.to_string()))?;
    let r: PropagationView = serde_json::from_str(&text)
        .map_err(|e| run_file_err(file, format!("not a propagation result: {e}")))?;
    let mut params = Vec::new();
    let mut skipped = Vec::new();
    for i in &r.inputs {
        if cell_param(&i.name).is_none() {
            skipped.push(i.name.clone());
            continue;
        }
        let z = crate::dist::sample::standard_normal_quantile(0.975);
        let (kind, interval) = match i.transform.as_str() {
            "identity" => (
                DistributionKind::Normal {
                    mean: i.mean,
                    sd: i.sd,
                },
                Some((i.mean - z * i.sd, i.mean + z * i.sd, 0.95)),
            ),
            "log" => {
                // median = e^μ, mean = e^(μ + σ²/2)
                let mu = i.median.ln();
                let sigma = (2.0 * (i.mean / i.median).ln()).max(0.0).sqrt();
                (
                    DistributionKind::LogNormal { mu, sigma },
                    Some(((mu - z * sigma).exp(), (mu + z * sigma).exp(), 0.95)),
                )
            }
            _ => (DistributionKind::Empirical { samples: None }, None),
        };
        params.push(RunParameter {
            name: i.name.clone(),
            unit: i.unit.clone(),
            central: i.mean,
            uncertainty: ParamUncertainty {
                name: String::new(),
                central: i.mean,
                mean: i.mean,
                sd: i.sd,
                median: Some(i.median),
                interval,
                kind,
            },
        });
    }
    let mut offset = 0;
    let mut method = "delta method".to_string();
    if let Some(mc) = r.monte_carlo.first() {
        method = format!("Monte Carlo, {} valid samples", mc.n_valid);
    }
    for o in &r.outputs {
        let at = offset;
        offset += o.len();
        if o.len() != 1 || cell_param(&o.name).is_none() {
            continue;
        }
        let missing = |what: &str| {
            run_file_err(
                file,
                format!("output '{}': no {what} (every sample failed?)", o.name),
            )
        };
        let u = if let Some(mc) = r.monte_carlo.first() {
            let s = mc
                .outputs
                .get(at)
                .ok_or_else(|| missing("Monte Carlo summary"))?;
            let i95 = s
                .intervals
                .iter()
                .find(|i| (i.level - 0.95).abs() < 1e-12)
                .or_else(|| s.intervals.last());
            let mean = s.mean.ok_or_else(|| missing("mean"))?;
            ParamUncertainty {
                name: String::new(),
                central: mean,
                mean,
                sd: s.sd.ok_or_else(|| missing("sd"))?,
                median: s
                    .quantiles
                    .iter()
                    .find(|q| (q.p - 0.5).abs() < 1e-12)
                    .and_then(|q| q.value),
                interval: i95.and_then(|i| Some((i.lower?, i.upper?, i.level))),
                kind: DistributionKind::Empirical {
                    samples: Some(mc.n_valid as usize),
                },
            }
        } else if let Some(d) = &r.delta {
            let mean = d
                .mean
                .get(at)
                .copied()
                .flatten()
                .ok_or_else(|| missing("mean"))?;
            let sd =
                d.sd.get(at)
                    .copied()
                    .flatten()
                    .ok_or_else(|| missing("sd"))?;
            let z = crate::dist::sample::standard_normal_quantile(0.975);
            ParamUncertainty {
                name: String::new(),
                central: mean,
                mean,
                sd,
                median: Some(mean),
                interval: Some((mean - z * sd, mean + z * sd, 0.95)),
                kind: DistributionKind::Normal { mean, sd },
            }
        } else {
            return Err(run_file_err(
                file,
                "expected a delta-method or Monte Carlo result",
            ));
        };
        params.push(RunParameter {
            name: o.name.clone(),
            unit: o.unit.clone(),
            central: u.mean,
            uncertainty: u,
        });
    }
    if params.is_empty() {
        let mut names = skipped.clone();
        names.extend(r.outputs.iter().map(|o| o.name.clone()));
        return Err(BpxExportError::NoCellParameters {
            dir: dir.to_path_buf(),
            names: names.join(", "),
        });
    }
    Ok(RunParameters {
        dir: dir.to_path_buf(),
        kind: format!("propagation ({method})"),
        central: CentralValue::PropagatedMean,
        params,
        skipped,
    })
}

fn posterior_propagation_parameters(
    dir: &Path,
    file: &Path,
) -> Result<RunParameters, BpxExportError> {
    let text = std::fs::read_to_string(file).map_err(|e| run_file_err(file, e.to_string()))?;
    let r: PosteriorPropagation = serde_json::from_str(&text)
        .map_err(|e| run_file_err(file, format!("not a posterior propagation: {e}")))?;
    let samples = r.draws_used.saturating_sub(r.draws_failed);
    let mut params = Vec::new();
    for b in &r.outputs {
        if !b.axis_values.is_empty() || cell_param(&b.output).is_none() {
            continue;
        }
        let first = |v: &[f64], what: &str| {
            v.first()
                .copied()
                .ok_or_else(|| run_file_err(file, format!("output '{}': no {what}", b.output)))
        };
        let mean = first(&b.mean, "mean")?;
        let i95 = b
            .bands
            .iter()
            .find(|l| (l.level - 0.95).abs() < 1e-12)
            .or_else(|| b.bands.last());
        params.push(RunParameter {
            name: b.output.clone(),
            unit: b.unit.clone(),
            central: mean,
            uncertainty: ParamUncertainty {
                name: String::new(),
                central: mean,
                mean,
                sd: first(&b.sd, "sd")?,
                median: b.q50.first().copied(),
                interval: i95.and_then(|l| Some((*l.lo.first()?, *l.hi.first()?, l.level))),
                kind: DistributionKind::Empirical {
                    samples: Some(samples),
                },
            },
        });
    }
    // The draws that drove it are cell parameters in their own right where the chain sets them
    // directly (E_a_k_n beside a linked D_n): from the calibration run it names, at their mean
    // over all its draws.
    let mut skipped = Vec::new();
    let cal = Path::new(&r.posterior);
    if cal.join(CALIBRATION_VIEW_JSON).is_file() {
        let (c, law) =
            calibration_parameters(cal, Some(FitPoint::PosteriorMean)).or_else(|e| match e {
                BpxExportError::NoCellParameters { .. } => Ok((
                    RunParameters {
                        dir: cal.to_path_buf(),
                        kind: String::new(),
                        central: CentralValue::PosteriorMean,
                        params: Vec::new(),
                        skipped: Vec::new(),
                    },
                    Vec::new(),
                )),
                other => Err(other),
            })?;
        for p in c.params {
            if !params.iter().any(|q: &RunParameter| q.name == p.name) {
                params.push(p);
            }
        }
        skipped = law;
    }
    if params.is_empty() {
        return Err(BpxExportError::NoCellParameters {
            dir: dir.to_path_buf(),
            names: r
                .outputs
                .iter()
                .map(|b| b.output.clone())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(RunParameters {
        dir: dir.to_path_buf(),
        kind: format!(
            "propagation of the posterior of {} ({samples} draws)",
            r.posterior
        ),
        central: CentralValue::PropagatedMean,
        params,
        skipped,
    })
}

/// Set the cell parameter `name` (a name of [`FREE_PARAMETERS`]) to `value` given in `unit` on
/// `params`; returns the value in the cell parameter's own unit. A name that is not a cell
/// parameter, or a unit that does not convert, is an [`CellError::InvalidParameter`] naming it.
pub fn set_cell_parameter(
    params: &mut CellParams<f64>,
    name: &str,
    unit: &str,
    value: f64,
) -> Result<f64, CellError> {
    let (cell_unit, which) = cell_param(name).ok_or_else(|| CellError::InvalidParameter {
        name: name.to_string(),
        value,
        expected: format!("a cell parameter ({})", cell_parameter_names()),
    })?;
    let f = conversion_factor(unit, cell_unit).ok_or_else(|| CellError::InvalidParameter {
        name: name.to_string(),
        value,
        expected: format!("a value in a unit that converts to '{cell_unit}', not '{unit}'"),
    })?;
    apply_free(params, which, value * f)?;
    Ok(value * f)
}

/// The BPX-style name (with the unit the file uses) of cell parameter `which` of `p`, and the
/// factor from the cell parameter's unit ([`FREE_PARAMETERS`]) to it: 1 except for the reaction
/// rate constant, which BPX normalises, k_norm = m·c_max·√c_e0/F \[mol/(m²·s)\] (at `p`'s c_max
/// and c_e0).
pub fn bpx_name(which: FreeParam, p: &CellParams<f64>) -> (String, f64) {
    use FreeParam::*;
    let side = |neg: bool| if neg { "Negative" } else { "Positive" };
    let e = |neg: bool| if neg { &p.neg } else { &p.pos };
    let d = |neg: bool| {
        if matches!(e(neg).diffusivity.shape, Shape::One) {
            format!("{} electrode diffusivity [m2.s-1]", side(neg))
        } else {
            format!("{} electrode diffusivity multiplier", side(neg))
        }
    };
    let k = |neg: bool| {
        let el = e(neg);
        (
            format!(
                "{} electrode reaction rate constant [mol.m-2.s-1]",
                side(neg)
            ),
            el.c_max * p.electrolyte.initial_concentration.sqrt() / FARADAY,
        )
    };
    let one = |s: String| (s, 1.0);
    match which {
        DiffusivityN => one(d(true)),
        DiffusivityP => one(d(false)),
        RateN => k(true),
        RateP => k(false),
        ContactResistance => one("Contact resistance [Ohm]".into()),
        EaDiffN | EaDiffP => one(format!(
            "{} electrode diffusivity activation energy [J.mol-1]",
            side(which == EaDiffN)
        )),
        EaRateN | EaRateP => one(format!(
            "{} electrode reaction rate constant activation energy [J.mol-1]",
            side(which == EaRateN)
        )),
        Temperature => one("Ambient temperature [K]".into()),
        CMaxN | CMaxP => one(format!(
            "{} electrode maximum concentration [mol.m-3]",
            side(which == CMaxN)
        )),
        RadiusN | RadiusP => one(format!(
            "{} electrode particle radius [m]",
            side(which == RadiusN)
        )),
        ThicknessN | ThicknessP => one(format!(
            "{} electrode thickness [m]",
            side(which == ThicknessN)
        )),
        ActiveN | ActiveP => one(format!(
            "{} electrode active material volume fraction",
            side(which == ActiveN)
        )),
        // 100 % SOC is the negative electrode's maximum and the positive's minimum
        Theta100N => one("Negative electrode maximum stoichiometry".into()),
        Theta0N => one("Negative electrode minimum stoichiometry".into()),
        Theta100P => one("Positive electrode minimum stoichiometry".into()),
        Theta0P => one("Positive electrode maximum stoichiometry".into()),
        Soc0 => one("Initial state-of-charge".into()),
        TPlus => one("Cation transference number".into()),
        DeFactor => one("Electrolyte diffusivity multiplier".into()),
        KappaFactor => one("Electrolyte conductivity multiplier".into()),
        Ce0 => one("Initial electrolyte concentration [mol.m-3]".into()),
        U0N | U0P => one(format!(
            "{} electrode regular-solution OCP U0 [V]",
            side(which == U0N)
        )),
        OmegaN | OmegaP => one(format!(
            "{} electrode regular-solution interaction parameter [eV]",
            side(which == OmegaN)
        )),
        HeatTransfer => one("Heat transfer coefficient [W.m-2.K-1]".into()),
        SpecificHeat => one("Specific heat capacity [J.K-1.kg-1]".into()),
    }
}

/// `u` [from unit] scaled by `f` (> 0) into the unit x·f.
fn scaled(u: &ParamUncertainty, f: f64) -> ParamUncertainty {
    let kind = match u.kind {
        DistributionKind::Normal { mean, sd } => DistributionKind::Normal {
            mean: mean * f,
            sd: sd * f,
        },
        DistributionKind::LogNormal { mu, sigma } => DistributionKind::LogNormal {
            mu: mu + f.ln(),
            sigma,
        },
        DistributionKind::LogitNormal {
            lower,
            upper,
            mu,
            sigma,
        } => DistributionKind::LogitNormal {
            lower: lower * f,
            upper: upper * f,
            mu,
            sigma,
        },
        k @ DistributionKind::Empirical { .. } => k,
    };
    ParamUncertainty {
        name: u.name.clone(),
        central: u.central * f,
        mean: u.mean * f,
        sd: u.sd * f,
        median: u.median.map(|m| m * f),
        interval: u.interval.map(|(lo, hi, l)| (lo * f, hi * f, l)),
        kind,
    }
}

/// The BPX file the run's study names (`[model] bpx`, relative to the study file; with its
/// `ocp_n`/`ocp_p` regular-solution replacements), the study found through the run folder's
/// `provenance.json`.
pub fn study_base(dir: &Path) -> Result<(PathBuf, CellParams<f64>), BpxExportError> {
    let prov_path = dir.join(PROVENANCE_FILE);
    let text = std::fs::read_to_string(&prov_path).map_err(|e| {
        BpxExportError::NoBase(format!(
            "{}: cannot read the run's record of its study: {e}",
            prov_path.display()
        ))
    })?;
    let prov: Provenance = serde_json::from_str(&text)
        .map_err(|e| run_file_err(&prov_path, format!("not a provenance record: {e}")))?;
    let study = prov.study.map(PathBuf::from).ok_or_else(|| {
        BpxExportError::NoBase(format!(
            "{}: field 'study': the run names no study",
            prov_path.display()
        ))
    })?;
    let text = std::fs::read_to_string(&study).map_err(|e| {
        BpxExportError::NoBase(format!(
            "{}: field 'study' names {}, which cannot be read from here ({e})",
            prov_path.display(),
            study.display()
        ))
    })?;
    let doc: toml::Table = text.parse().map_err(|e| {
        BpxExportError::NoBase(format!("{}: not a study TOML file: {e}", study.display()))
    })?;
    let model = doc.get("model").and_then(|m| m.as_table());
    let bpx = model
        .and_then(|m| m.get("bpx"))
        .and_then(|b| b.as_str())
        .ok_or_else(|| {
            BpxExportError::NoBase(format!(
                "{}: field 'model.bpx': the run's study names no BPX file",
                study.display()
            ))
        })?;
    let regular =
        |k: &str| model.and_then(|m| m.get(k)).and_then(|v| v.as_str()) == Some("regular_solution");
    let path = study.parent().unwrap_or(Path::new(".")).join(bpx);
    let p =
        crate::chain::base_from_bpx(&path, regular("ocp_n"), regular("ocp_p")).map_err(|m| {
            BpxExportError::NoBase(format!(
                "{} (model.bpx of {}): {m}",
                path.display(),
                study.display()
            ))
        })?;
    Ok((path, p))
}

/// The BPX text of the run in `dir` on the base cell `base` (read from `base_file`, named in
/// the description): the run's cell parameters at their central values, every other value from
/// the base, each distribution in "User-defined" (see the module doc).
pub fn export_run(
    run: &RunParameters,
    base: &BpxCell,
    base_file: &Path,
) -> Result<String, BpxExportError> {
    let mut p = base.params.clone();
    let mut resolved = Vec::new();
    for rp in &run.params {
        let (cell_unit, which) = cell_param(&rp.name).ok_or_else(|| BpxExportError::LawInput {
            dir: run.dir.clone(),
            name: rp.name.clone(),
        })?;
        let to_cell =
            conversion_factor(&rp.unit, cell_unit).ok_or_else(|| BpxExportError::Unit {
                dir: run.dir.clone(),
                name: rp.name.clone(),
                unit: rp.unit.clone(),
                cell_unit: cell_unit.to_string(),
            })?;
        set_cell_parameter(&mut p, &rp.name, &rp.unit, rp.central)?;
        resolved.push((rp, which, to_cell));
    }
    p.validate()?;
    let mut uncertainties = Vec::new();
    let ce0 = p.electrolyte.initial_concentration;
    for (rp, which, to_cell) in resolved {
        let (name, f) = bpx_name(which, &p);
        let mut u = scaled(&rp.uncertainty, to_cell * f);
        u.name = name;
        // the value written exactly as the parameterisation has it (k_norm's product order)
        match which {
            FreeParam::RateN => u.central = normalised_rate_constant(&p.neg, ce0),
            FreeParam::RateP => u.central = normalised_rate_constant(&p.pos, ce0),
            _ => {}
        }
        uncertainties.push(u);
    }
    let names: Vec<&str> = run.params.iter().map(|r| r.name.as_str()).collect();
    let mut description = format!(
        "Exported by bridgelaw {} from the {} in {}: {} at the {}; every other value from {}. \
         Each varied parameter's distribution is in Parameterisation/User-defined/Distributions \
         (mean, sd, median, central interval, and the kind with its parameters).",
        env!("CARGO_PKG_VERSION"),
        run.kind,
        run.dir.display(),
        names.join(", "),
        run.central.describe(),
        base_file.display()
    );
    if !run.skipped.is_empty() {
        description.push_str(&format!(
            " Not exported (law inputs, whose effect is in the linked cell parameters): {}.",
            run.skipped.join(", ")
        ));
    }
    let mut user_defined = base.user_defined.clone();
    // (a 0.x export kept it here; 1.x has its place under State)
    user_defined.remove("Heat transfer coefficient [W.m-2.K-1]");
    let title = if base.title.is_empty() {
        format!("bridgelaw export of {}", run.dir.display())
    } else {
        format!(
            "{} ({} of {})",
            base.title,
            run.central.describe(),
            run.dir.display()
        )
    };
    Ok(write_bpx(
        &p,
        &BpxExport {
            title,
            description,
            model: "SPMe".into(),
            geometry: base.geometry,
            uncertainties,
            user_defined,
        },
    ))
}

/// Read the base cell: `base` if given, else the file the run's study names ([`study_base`]).
pub fn read_base(dir: &Path, base: Option<&Path>) -> Result<(PathBuf, BpxCell), BpxExportError> {
    Ok(match base {
        Some(b) => (b.to_path_buf(), read_bpx_file(b)?),
        None => {
            // (the study's cell, its OCP replacements included, with the file's header)
            let (path, params) = study_base(dir)?;
            let mut cell = read_bpx_file(&path)?;
            cell.params = params;
            (path, cell)
        }
    })
}
