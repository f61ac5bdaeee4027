//! The `[model] cell = ...` form of a study file: a cell model whose parameters come from a BPX
//! file, from priors, or from laws ([`crate::chain::ChainModel`]).
//!
//! ```toml
//! [model]
//! cell = "spme"                          # spm | spme
//! bpx = "cells/lfp_graphite.json"        # relative to the study file
//! shells = 20                            # finite-volume shells per particle (default 20)
//! electrolyte_mesh = [20, 20, 20]        # SPMe cells in negative, separator, positive (default)
//! dt_max = 10.0                          # largest time step [s] (default 10; BDF2, error ∝ dt²)
//! ocp_p = "regular_solution"             # optional: U_p from the regular-solution law (U0_p, Omega_p)
//! thermal = "lumped"                     # optional: the lumped thermal model (default "isothermal";
//!                                        # needs the BPX file's thermal data), or "measured": each
//!                                        # experiment's T(t) from its data or current file's
//!                                        # cell-temperature column
//!
//! [[model.experiment]]                   # one or more
//! name = "1C_25C"
//! temperature = 298.15                   # K (default: the BPX temperature)
//! c_rate = 1.0                           # or current = 5.0 [A], or current_file = "i.csv" + sign
//! times = { start = 0.0, stop = 3600.0, n = 361 }   # output times [s], or a list
//! voltage_at = [1800.0]                  # optional scalar outputs V(t) [V]
//! # or, for calibration: data = "curve.csv", sign = "discharge_negative", max_points = 300
//! # (output times are the data's; the data's current drives the cell unless c_rate/current is given)
//! # window = [3600.0, 7200.0]            # optional: fit only the rows with t0 ≤ t ≤ t1 [s, the file's time]
//! # steps = [4, 5]                       # optional: fit only the rows of these step indices
//! # step_column = "Step"                 # the step-index column (default: the first named step,
//! #                                      # step_index, step_id, step_number or Ns, any case/spaces)
//! # duplicate_times = "average"          # repeated time stamps: "error" (default), "drop", "average"
//! #                                      # (data and current_file alike)
//! ```
//! A data file's current drives the cell at full resolution (every row, pulses and rests kept)
//! from its first row, in the cell's initial state (the BPX file's), to the last fitted row; a
//! window or step selection picks the fitted rows only, so the cell state at a window's start is
//! that of the measured protocol before it. `max_points` thins the fitted rows (every k-th, the
//! last kept), never the current. Output times count from the file's first row. A measured
//! current that rests or changes direction is followed to its end without stopping at the
//! voltage cut-offs (the cycler's cut-offs are in it already); a one-way discharge or charge
//! stops at its cut-off like a constant current ([`crate::chain::Experiment::stops_at_cutoff`]).
//! With `thermal = "measured"` an experiment's `temperature` defaults to the file's first
//! measured temperature (laws with an input `T` are evaluated there); a temperature column with
//! a missing or non-numeric value is an error naming the file, line and column.
//!
//! ```toml
//!
//! [model.link.D_n]                       # a cell parameter from a law output
//! law = "tracer_diffusivity"
//! output = "D_tr"                        # default: the law's first scalar output
//! options = { d = 2 }                    # the law's options
//! rename = { E_m = "E_m_n" }             # law input → study input name (optional)
//! ```
//! Any cell parameter named in `[inputs]`, or matching a prior's name, becomes an input bound
//! there; everything else keeps its BPX value.

use super::StudyError;
use crate::cell::{
    CellModelKind, ElectrolyteMesh, Protocol, SignConvention, SolverOptions, ThermalOption,
};
use crate::chain::{
    ChainModel, DataOptions, Drive, Experiment, LinkSpec, base_from_bpx, is_cell_parameter,
};
use crate::cycler::{DataError, DuplicateTimes, Selection};
use crate::laws::catalogue::GridSpec;
use crate::model::MAX_GRID_POINTS;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The `[model]` section of a study: `law = ...` (with `options`) or `cell = ...` (with the
/// cell's keys below). Keys of the other form are refused after reading.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a [model] table naming a law or a cell"
)]
pub(super) struct ModelSection {
    pub law: Option<String>,
    pub options: Option<toml::Table>,
    pub cell: Option<String>,
    bpx: Option<String>,
    shells: Option<i64>,
    electrolyte_mesh: Option<Vec<i64>>,
    dt_max: Option<f64>,
    ocp_n: Option<String>,
    ocp_p: Option<String>,
    thermal: Option<String>,
    experiment: Option<Vec<ExperimentSection>>,
    link: Option<BTreeMap<String, LinkSection>>,
}

impl ModelSection {
    /// The cell-only keys that are given (a law study must not give them).
    pub(super) fn cell_keys_given(&self) -> Vec<&'static str> {
        let given = [
            ("bpx", self.bpx.is_some()),
            ("shells", self.shells.is_some()),
            ("electrolyte_mesh", self.electrolyte_mesh.is_some()),
            ("dt_max", self.dt_max.is_some()),
            ("ocp_n", self.ocp_n.is_some()),
            ("ocp_p", self.ocp_p.is_some()),
            ("thermal", self.thermal.is_some()),
            ("experiment", self.experiment.is_some()),
            ("link", self.link.is_some()),
        ];
        given.iter().filter(|(_, g)| *g).map(|(k, _)| *k).collect()
    }
}

/// One `[[model.experiment]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[model.experiment]] table")]
struct ExperimentSection {
    name: Option<String>,
    temperature: Option<f64>,
    c_rate: Option<f64>,
    current: Option<f64>,
    current_file: Option<String>,
    sign: Option<String>,
    times: Option<GridSpec>,
    voltage_at: Option<GridSpec>,
    data: Option<String>,
    max_points: Option<i64>,
    window: Option<Vec<f64>>,
    steps: Option<Vec<i64>>,
    step_column: Option<String>,
    duplicate_times: Option<String>,
}

/// One `[model.link.PARAMETER]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table with law = \"NAME\"")]
struct LinkSection {
    law: String,
    output: Option<String>,
    options: Option<toml::Table>,
    #[serde(default)]
    rename: BTreeMap<String, String>,
}

fn err(file: &Path, field: &str, expected: &str, found: String) -> StudyError {
    StudyError::Field {
        file: file.to_path_buf(),
        field: field.into(),
        expected: expected.into(),
        found,
    }
}

/// Output times: `{ start, stop, n }` or a list of finite numbers.
fn times(v: &GridSpec, file: &Path, field: &str) -> Result<Vec<f64>, StudyError> {
    let expected = &format!(
        "{{ start = ..., stop = ..., n = 2 to {MAX_GRID_POINTS} }} or a list of increasing times [s]"
    );
    match v {
        GridSpec::Points(a) => match a.iter().find(|x| !x.is_finite()) {
            Some(x) => Err(err(file, field, expected, x.to_string())),
            None => Ok(a.clone()),
        },
        GridSpec::Even { start, stop, n } => match (start, stop, n) {
            (Some(a), Some(b), Some(n))
                if a.is_finite() && b.is_finite() && (2..=MAX_GRID_POINTS).contains(n) && b > a =>
            {
                Ok((0..*n)
                    .map(|k| a + (b - a) * k as f64 / (n - 1) as f64)
                    .collect())
            }
            _ => Err(err(
                file,
                field,
                expected,
                format!(
                    "{{ start = {}, stop = {}, n = {} }}",
                    start.map_or("nothing".into(), |x| x.to_string()),
                    stop.map_or("nothing".into(), |x| x.to_string()),
                    n.map_or("nothing".into(), |x| x.to_string())
                ),
            )),
        },
    }
}

fn experiment(
    t: &ExperimentSection,
    k: usize,
    dir: &Path,
    file: &Path,
    default_t: f64,
    measured_temperature: bool,
) -> Result<Experiment, StudyError> {
    let f = |key: &str| format!("model.experiment[{k}].{key}");
    let name = match &t.name {
        None => format!("e{k}"),
        Some(s) if !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c)) => {
            s.clone()
        }
        Some(s) => {
            return Err(err(
                file,
                &f("name"),
                "a short name (letters, digits, _ - .)",
                format!("'{s}'"),
            ));
        }
    };
    let num = |key: &str, v: Option<f64>| -> Result<Option<f64>, StudyError> {
        match v {
            Some(x) if !x.is_finite() => Err(err(file, &f(key), "a finite number", x.to_string())),
            _ => Ok(v),
        }
    };
    let temperature_k = num("temperature", t.temperature)?.unwrap_or(default_t);
    if temperature_k <= 0.0 {
        return Err(err(
            file,
            &f("temperature"),
            "a temperature in K (> 0)",
            temperature_k.to_string(),
        ));
    }
    let sign_of = |required_by: &str| -> Result<SignConvention, StudyError> {
        let s = t.sign.as_deref().ok_or_else(|| {
            err(
                file,
                &f("sign"),
                &format!(
                    "\"discharge_positive\" or \"discharge_negative\" (required with {required_by})"
                ),
                "nothing".into(),
            )
        })?;
        SignConvention::parse(s).ok_or_else(|| {
            err(
                file,
                &f("sign"),
                "\"discharge_positive\" or \"discharge_negative\"",
                format!("'{s}'"),
            )
        })
    };
    let duplicate_times = match t.duplicate_times.as_deref() {
        None => DuplicateTimes::Error,
        Some(s) => DuplicateTimes::parse(s).ok_or_else(|| {
            err(
                file,
                &f("duplicate_times"),
                "\"error\", \"drop\" or \"average\"",
                format!("'{s}'"),
            )
        })?,
    };
    let c_rate = num("c_rate", t.c_rate)?;
    let current = num("current", t.current)?;
    let drive = match (c_rate, current, &t.current_file) {
        (Some(c), None, None) => Drive::CRate(c),
        (None, Some(a), None) => Drive::Current(a),
        (None, None, Some(p)) => Drive::CurrentFile {
            path: dir.join(p),
            sign: sign_of("current_file")?,
            duplicate_times,
        },
        (None, None, None) if t.data.is_some() => Drive::Measured,
        _ => {
            return Err(err(
                file,
                &f("c_rate"),
                "exactly one of c_rate, current, current_file (or a data file whose current drives the cell)",
                "none or several".into(),
            ));
        }
    };
    // A zero rate never reaches a cut-off: the run would go on to its last output time at
    // every sample. Rests and charges are a current_file.
    for (key, v) in [("c_rate", c_rate), ("current", current)] {
        if v == Some(0.0) {
            return Err(err(
                file,
                &f(key),
                "a rate ≠ 0 (discharge > 0; a rest is a current_file)",
                "0".into(),
            ));
        }
    }
    let voltage_at = match &t.voltage_at {
        None => vec![],
        Some(v) => times(v, file, &f("voltage_at"))?,
    };
    let mut e = Experiment {
        name,
        temperature_k,
        drive,
        times: vec![],
        voltage_at,
        data: None,
        dt_max: None,
        thermal: None,
    };
    let selection = selection(t, file, &f)?;
    if t.data.is_none() {
        let given = [
            ("window", t.window.is_some()),
            ("steps", t.steps.is_some()),
            ("step_column", t.step_column.is_some()),
            ("max_points", t.max_points.is_some()),
        ];
        if let Some((key, _)) = given.iter().find(|(_, g)| *g) {
            return Err(err(
                file,
                &f(key),
                "a data file (data = \"FILE.csv\") whose rows it selects",
                "no data file".into(),
            ));
        }
    }
    if measured_temperature {
        if let (None, Drive::CurrentFile { path, sign, .. }) = (&t.data, &e.drive) {
            let (_, series) = Protocol::series_with_temperature_from_csv_file_with(
                path,
                Some(*sign),
                duplicate_times,
            )
            .map_err(|m| StudyError::Model {
                file: file.to_path_buf(),
                field: f("current_file"),
                message: format!("thermal = \"measured\": {m}"),
            })?;
            e.thermal = Some(ThermalOption::Measured(std::sync::Arc::new(series)));
        } else if t.data.is_none() {
            return Err(err(
                file,
                &f("data"),
                "a data or current_file with a cell-temperature column (model.thermal = \"measured\")",
                "neither".into(),
            ));
        }
    }
    if let Some(p) = &t.data {
        let sign = sign_of("data")?;
        let max_points = match t.max_points {
            None => 300,
            Some(n) if n >= 2 => n as usize,
            Some(n) => {
                return Err(err(file, &f("max_points"), "an integer ≥ 2", n.to_string()));
            }
        };
        if t.times.is_some() {
            return Err(err(
                file,
                &f("times"),
                "no times with a data file (the data's times are the output grid)",
                "both".into(),
            ));
        }
        let opts = DataOptions {
            selection,
            duplicate_times,
            measured_temperature,
            ..DataOptions::new(sign, max_points)
        };
        e = e
            .with_data_options(&dir.join(p), &opts)
            .map_err(|m| StudyError::Model {
                file: file.to_path_buf(),
                field: f(match &m {
                    DataError::WindowOutside { .. } => "window",
                    DataError::NoStepColumn { .. } if t.step_column.is_some() => "step_column",
                    DataError::NoStepColumn { .. } => "steps",
                    DataError::EmptySelection { .. } if t.steps.is_some() => "steps",
                    DataError::EmptySelection { .. } => "window",
                    _ => "data",
                }),
                message: m.to_string(),
            })?;
    } else {
        let v = t.times.as_ref().ok_or_else(|| {
            err(
                file,
                &f("times"),
                "output times (or a data file)",
                "nothing".into(),
            )
        })?;
        e.times = times(v, file, &f("times"))?;
    }
    // a measured temperature: laws with an input T are evaluated at its first value
    if let (None, Some(ThermalOption::Measured(series))) = (t.temperature, &e.thermal) {
        e.temperature_k = series.at(0.0);
    }
    Ok(e)
}

/// The fitted-row selection of an experiment (`window`, `steps`, `step_column`), checked for
/// its form (the file checks it against its data).
fn selection(
    t: &ExperimentSection,
    file: &Path,
    f: &dyn Fn(&str) -> String,
) -> Result<Selection, StudyError> {
    let window = match t.window.as_deref() {
        None => None,
        Some(&[a, b]) if a.is_finite() && b.is_finite() && a < b => Some((a, b)),
        Some(w) => {
            return Err(err(
                file,
                &f("window"),
                "[t0, t1]: two finite times [s] with t0 < t1 (the file's own time)",
                format!("{w:?}"),
            ));
        }
    };
    let steps = t.steps.clone().unwrap_or_default();
    if t.steps.is_some() && steps.is_empty() {
        return Err(err(
            file,
            &f("steps"),
            "one or more step indices, e.g. [4, 5]",
            "[]".into(),
        ));
    }
    if t.step_column.is_some() && steps.is_empty() {
        return Err(err(
            file,
            &f("step_column"),
            "step_column only with steps = [...]",
            "no steps".into(),
        ));
    }
    Ok(Selection {
        window,
        steps,
        step_column: t.step_column.clone(),
    })
}

fn link(target: &str, t: &LinkSection) -> LinkSpec {
    LinkSpec {
        target: target.to_string(),
        law: t.law.clone(),
        options: t.options.clone().unwrap_or_default(),
        output: t.output.clone(),
        rename: t
            .rename
            .iter()
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect(),
    }
}

/// Build the chain of a `[model] cell = "..."` study. `candidates` are the names in `[inputs]`
/// and in the priors files: those that are cell parameters (and not linked) become inputs.
pub(super) fn build_chain(
    model_t: &ModelSection,
    kind: &str,
    dir: &Path,
    candidates: &[String],
    file: &Path,
) -> Result<ChainModel, StudyError> {
    if model_t.options.is_some() {
        return Err(err(
            file,
            "model.options",
            "no options table with a cell model (options belong to a `law = ...` model or to \
             a [model.link.PARAMETER])",
            "a table".into(),
        ));
    }
    let kind = match kind {
        "spm" => CellModelKind::Spm,
        "spme" => CellModelKind::Spme,
        other => {
            return Err(err(
                file,
                "model.cell",
                "\"spm\" or \"spme\"",
                format!("'{other}'"),
            ));
        }
    };
    let bpx = model_t.bpx.as_deref().ok_or_else(|| {
        err(
            file,
            "model.bpx",
            "the path of a BPX parameter file",
            "nothing".into(),
        )
    })?;
    let shells = match model_t.shells {
        None => 20,
        Some(n) if (3..=200).contains(&n) => n as usize,
        Some(n) => {
            return Err(err(
                file,
                "model.shells",
                "an integer from 3 to 200",
                n.to_string(),
            ));
        }
    };
    let electrolyte_mesh = match &model_t.electrolyte_mesh {
        None => ElectrolyteMesh::default(),
        Some(v) => {
            let bad = |why: String| err(file, "model.electrolyte_mesh", &why, format!("{v:?}"));
            let counts: Option<Vec<usize>> = v.iter().map(|n| usize::try_from(*n).ok()).collect();
            match counts.as_deref() {
                Some(&[neg, sep, pos]) => ElectrolyteMesh::new(neg, sep, pos).map_err(bad)?,
                _ => {
                    return Err(bad(
                        "three cell counts [N_n, N_s, N_p], e.g. [20, 20, 20]".into()
                    ));
                }
            }
        }
    };
    let dt_max = match model_t.dt_max {
        None => SolverOptions::default().dt_max,
        Some(x) if x.is_finite() && x > 0.0 => x,
        Some(x) => {
            return Err(err(
                file,
                "model.dt_max",
                "a positive time step in s",
                x.to_string(),
            ));
        }
    };
    let ocp = |key: &str, v: &Option<String>| -> Result<bool, StudyError> {
        match v.as_deref() {
            None => Ok(false),
            Some("regular_solution") => Ok(true),
            Some(s) => Err(err(
                file,
                &format!("model.{key}"),
                "\"regular_solution\"",
                format!("'{s}'"),
            )),
        }
    };
    let base = base_from_bpx(
        &dir.join(bpx),
        ocp("ocp_n", &model_t.ocp_n)?,
        ocp("ocp_p", &model_t.ocp_p)?,
    )
    .map_err(|m| StudyError::Model {
        file: file.to_path_buf(),
        field: "model.bpx".into(),
        message: m,
    })?;
    // "measured": each experiment's own series (from its file); the chain's setting isothermal
    let measured = model_t
        .thermal
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("measured"));
    let thermal = match model_t.thermal.as_deref() {
        None => ThermalOption::Isothermal,
        Some(_) if measured => ThermalOption::Isothermal,
        Some(s) => ThermalOption::parse(s).ok_or_else(|| {
            err(
                file,
                "model.thermal",
                "\"isothermal\", \"lumped\" or \"measured\"",
                format!("'{s}'"),
            )
        })?,
    };
    if thermal == ThermalOption::Lumped && base.thermal.is_none() {
        return Err(err(
            file,
            "model.thermal",
            "a BPX file with the cell's thermal data for \"lumped\" (Parameterisation/Cell: \
             Density [kg.m-3], Specific heat capacity [J.K-1.kg-1], Volume [m3], External \
             surface area [m2])",
            format!("{bpx} without them"),
        ));
    }
    let links: Vec<LinkSpec> = model_t
        .link
        .iter()
        .flatten()
        .map(|(k, v)| link(k, v))
        .collect();
    let exps = match &model_t.experiment {
        Some(a) if !a.is_empty() => a
            .iter()
            .enumerate()
            .map(|(k, t)| experiment(t, k, dir, file, base.temperature, measured))
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(err(
                file,
                "model.experiment",
                "one or more [[model.experiment]] tables",
                "nothing".into(),
            ));
        }
    };
    let mut names: Vec<&str> = exps.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(err(
            file,
            "model.experiment",
            "distinct experiment names",
            format!("'{}' twice", w[0]),
        ));
    }
    let mut direct: Vec<String> = Vec::new();
    for c in candidates {
        if is_cell_parameter(c) && !links.iter().any(|l| &l.target == c) && !direct.contains(c) {
            direct.push(c.clone());
        }
    }
    let solver = SolverOptions {
        model: kind,
        shells,
        electrolyte_mesh,
        dt_max,
        thermal,
        ..SolverOptions::default()
    };
    ChainModel::new(base, solver, &links, &direct, exps).map_err(|m| StudyError::Model {
        file: file.to_path_buf(),
        field: "model".into(),
        message: m,
    })
}
