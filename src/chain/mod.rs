//! The multiscale chain as one [`Model`]: atomistic inputs → bridging laws → cell model →
//! voltage curves, generic over the scalar so exact derivatives flow from the terminal voltage
//! back to an NEB barrier in one forward pass. It is the one cell-as-`Model`: without links it
//! is the cell alone with chosen free parameters (what calibration against measured curves,
//! propagation and sensitivity of cell parameters use).
//!
//! A chain has
//! - a base cell parameter set (a BPX file) and a solver choice (SPM or SPMe);
//! - **links**: a cell parameter (a name of [`FREE_PARAMETERS`], e.g. `D_n`) set from a scalar
//!   output of a law of the catalogue (e.g. `D_tr` of `tracer_diffusivity`), converted to the
//!   cell parameter's unit. A law input named `T` is the temperature of the experiment being
//!   simulated, so a law evaluated per experiment carries its own temperature dependence
//!   (the cell's own Arrhenius factor for that parameter is switched off);
//! - **direct** cell parameters: cell parameters bound to a prior or a value in the study;
//! - **experiments**: one simulated protocol each (C-rate, current, current file or a measured
//!   curve's current), at a temperature, with output times.
//!
//! Inputs: the laws' inputs (other than `T`; optionally renamed per link, identical names
//! shared across links) followed by the direct cell parameters. Outputs, per experiment `e`:
//! `voltage_e` \[V\] on the output times, `capacity_e` \[A h\] to the end of the solve (the
//! cut-off if reached), `energy_e` \[W h\] = ∫ V dQ over the output rows (trapezoid, up to the
//! cut-off), and `V_e_at_<t>s` \[V\] for each requested time; then the value of every linked
//! parameter at the first experiment's temperature, named after it.
//!
//! Name resolution happens once, in [`ChainModel::new`]; `eval` only indexes.

use crate::calibrate::data::{MeasuredCurve, read_curve_selected, thin};
use crate::cell::model::{FREE_PARAMETERS, FreeParam, apply_free};
use crate::cell::{
    CellParams, CurrentSeries, Ocp, Protocol, SignConvention, SolverOptions, TemperatureSeries,
    ThermalOption, read_bpx_file, simulate,
};
use crate::cycler::{DataError, DuplicateTimes, ReadOptions, Selection};
use crate::laws::catalogue::{Law, build_law};
use crate::model::{Axis, InputSpec, Model, ModelError, OutputShape, OutputSpec, Scalar};
use crate::units::conversion_factor;
use std::path::{Path, PathBuf};

/// How an experiment drives the cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Drive {
    /// Constant C-rate (discharge > 0) \[1/h\].
    CRate(f64),
    /// Constant current (discharge > 0) \[A\].
    Current(f64),
    /// A current time series from a CSV file with a declared sign convention, its repeated
    /// time stamps handled by `duplicate_times`.
    CurrentFile {
        /// The current file (a cycler CSV).
        path: PathBuf,
        /// The sign convention of its current column.
        sign: SignConvention,
        /// What to do with repeated time stamps.
        duplicate_times: DuplicateTimes,
    },
    /// The measured curve's own current at full resolution, every row of its file from the
    /// first to the last fitted one (see [`Experiment::data`]).
    Measured,
    /// A protocol built in code (library use).
    Protocol(Protocol),
}

/// How an experiment's measured curve is read and which of its rows are fitted.
#[derive(Debug, Clone, PartialEq)]
pub struct DataOptions {
    /// The sign convention of the file's current.
    pub sign: SignConvention,
    /// The most rows fitted: the selected rows are thinned to every `step`-th (≥ 2).
    pub max_points: usize,
    /// The rows fitted (time window in the file's time \[s\], step indices).
    pub selection: Selection,
    /// What to do with repeated time stamps.
    pub duplicate_times: DuplicateTimes,
    /// Read the file's cell-temperature column and drive the cell's temperature with it
    /// ([`ThermalOption::Measured`]).
    pub measured_temperature: bool,
}

impl DataOptions {
    /// Every row, thinned to `max_points`, repeated time stamps refused, no temperature.
    pub fn new(sign: SignConvention, max_points: usize) -> Self {
        Self {
            sign,
            max_points,
            selection: Selection::default(),
            duplicate_times: DuplicateTimes::Error,
            measured_temperature: false,
        }
    }
}

/// A measured curve attached to an experiment: its current drives the simulation and its
/// times are the output grid, so calibration compares like with like. Times here are counted
/// from the file's first row \[s\] (the protocol's t = 0, where the cell is in its initial
/// state), so a window's cell state is that of the whole measured protocol before it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentData {
    /// The curve file.
    pub path: PathBuf,
    /// The fitted rows: every `step`-th selected row (and the last).
    pub curve: MeasuredCurve,
    /// The rows whose current drives the cell: every row from the file's first to the last
    /// fitted one, at full resolution.
    pub drive: MeasuredCurve,
    /// Data rows in the file (after repeated time stamps were dropped or merged).
    pub rows_in_file: usize,
    /// Rows in the selection (before thinning).
    pub rows_selected: usize,
    /// Rows dropped or merged as repeated time stamps.
    pub repeated_rows: usize,
    /// The file's first time \[s\] as written in it (the shift of every time here).
    pub time_offset_s: f64,
    /// Every how many selected rows one was kept (1: all).
    pub step: usize,
    /// The most points asked for (`max_points`); `step` keeps at most this many.
    pub max_points: usize,
    /// How the file was read and selected.
    pub options: DataOptions,
}

/// One simulated experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    /// Short name used in output names (`voltage_<name>`).
    pub name: String,
    /// Cell temperature \[K\].
    pub temperature_k: f64,
    /// How the cell is driven (the current).
    pub drive: Drive,
    /// Output times \[s\] from the start of the protocol, increasing.
    pub times: Vec<f64>,
    /// Times \[s\] at which the voltage is also reported as a scalar output.
    pub voltage_at: Vec<f64>,
    /// The measured curve, if any.
    pub data: Option<ExperimentData>,
    /// Largest time step of this experiment's solves \[s\]; `None`: the chain's solver setting.
    pub dt_max: Option<f64>,
    /// This experiment's cell temperature when it is its own (a measured series); `None`: the
    /// chain's solver setting.
    pub thermal: Option<ThermalOption>,
}

impl Experiment {
    /// An experiment driven by `drive` at `temperature_k` \[K\] with output times `times` \[s\],
    /// no scalar voltages, no data, the chain's largest time step.
    pub fn new(name: &str, temperature_k: f64, drive: Drive, times: Vec<f64>) -> Self {
        Self {
            name: name.to_string(),
            temperature_k,
            drive,
            times,
            voltage_at: vec![],
            data: None,
            dt_max: None,
            thermal: None,
        }
    }

    /// Attach a measured curve, every row fitted (see [`Experiment::with_data_options`]).
    pub fn with_data(
        self,
        path: &Path,
        sign: SignConvention,
        max_points: usize,
    ) -> Result<Self, String> {
        self.with_data_options(path, &DataOptions::new(sign, max_points))
            .map_err(|e| e.to_string())
    }

    /// Attach a measured curve read and selected by `opts`: the selected rows, every `step`-th
    /// (so at most `max_points`, the last always kept), are the output grid and the fitted
    /// values; for [`Drive::Measured`] every row of the file from the first to the last fitted
    /// one drives the cell at full resolution (pulses and rests kept, the state at a window's
    /// start that of the protocol before it). Times are counted from the file's first row.
    /// With `measured_temperature` the file's temperature column sets the cell temperature.
    /// Errors name the file, the line and the column.
    pub fn with_data_options(mut self, path: &Path, opts: &DataOptions) -> Result<Self, DataError> {
        let read = ReadOptions {
            voltage: true,
            temperature: opts.measured_temperature,
            step_column: None,
            duplicate_times: opts.duplicate_times,
        };
        let sel = read_curve_selected(path, opts.sign, &read, &opts.selection)?;
        let mut full = sel.curve;
        let t_first = full.time_s[0];
        full.time_s.iter_mut().for_each(|t| *t -= t_first);
        let step = sel.selected.len().div_ceil(opts.max_points.max(2));
        let fitted = thin(&sel.selected, step);
        let curve = full.pick(&fitted);
        let last = *fitted.last().expect("a selection keeps a row");
        // (two rows at least: a series of one point has no segment)
        let drive = full.pick(&(0..=last.max(1)).collect::<Vec<_>>());
        if let Some(t) = &drive.temperature_k {
            // (the reader checked the times and the temperatures this needs)
            let series = TemperatureSeries::new(
                drive.time_s.clone(),
                t.clone(),
                &format!("{}", path.display()),
            )
            .map_err(|e| DataError::Io {
                file: path.display().to_string(),
                source: std::io::Error::other(e.to_string()),
            })?;
            self.thermal = Some(ThermalOption::Measured(std::sync::Arc::new(series)));
        }
        self.times = curve.time_s.clone();
        self.data = Some(ExperimentData {
            path: path.to_path_buf(),
            curve,
            drive,
            rows_in_file: full.time_s.len(),
            rows_selected: sel.selected.len(),
            repeated_rows: sel.repeated_rows,
            time_offset_s: t_first,
            step,
            max_points: opts.max_points,
            options: opts.clone(),
        });
        Ok(self)
    }

    /// Does the solve stop at the voltage cut-offs? Yes, unless the cell follows a measured
    /// current that rests or changes direction after it first flows: the cycler's own cut-offs
    /// are in that current already, and a model stopped at a cut-off (its voltage held after
    /// it) would miss the rest or charge that follows. Such a drive is followed to its end;
    /// only a particle surface leaving its range stops it. A one-way measured curve (one
    /// discharge or one charge, as a rate test) stops at its cut-off like a constant current.
    pub fn stops_at_cutoff(&self) -> bool {
        let (Drive::Measured, Some(d)) = (&self.drive, &self.data) else {
            return true;
        };
        let i = &d.drive.current_a;
        let Some(k) = i.iter().position(|&x| x != 0.0) else {
            return true;
        };
        let s = i[k].signum();
        i[k..].iter().all(|&x| x.signum() == s && x != 0.0)
    }

    fn protocol(&self) -> Result<Protocol, String> {
        let duration = self.times.last().copied().unwrap_or(0.0);
        Ok(match &self.drive {
            Drive::CRate(c) => Protocol::c_rate(*c, duration),
            Drive::Current(a) => Protocol::constant_current(*a, duration),
            Drive::CurrentFile {
                path,
                sign,
                duplicate_times,
            } => Protocol::series_from_csv_file_with(path, Some(*sign), *duplicate_times)
                .map_err(|e| e.to_string())?,
            Drive::Protocol(p) => p.clone(),
            Drive::Measured => {
                let d = self.data.as_ref().ok_or_else(|| {
                    "drive 'measured' needs a data file on the experiment".to_string()
                })?;
                // Every row is a solver step; rows the straight line between their neighbours
                // already holds to DRIVE_TOLERANCE (a cycler's sensor noise on a constant
                // current, runs of equal current) are left out, pulses and rests kept.
                let i = d.drive.discharge_current();
                let tol = DRIVE_TOLERANCE * i.iter().fold(0.0f64, |m, x| m.max(x.abs()));
                let keep = crate::numerics::polyline::simplify(&d.drive.time_s, &i, tol);
                Protocol::Series(CurrentSeries {
                    time_s: keep.iter().map(|&k| d.drive.time_s[k]).collect(),
                    current_a: keep.iter().map(|&k| i[k]).collect(),
                })
            }
        })
    }
}

/// Largest difference \[1, of the largest |I|\] between a measured current and the
/// piecewise-linear current that drives the cell ([`crate::numerics::polyline::simplify`]):
/// 10⁻³, ten times a cycler's usual current noise (About:Energy 1C: sd 4·10⁻⁵, range 6·10⁻⁴ of
/// 12.5 A), so a constant-current phase of 3730 noisy 1 s rows drives the cell as one segment.
/// The charge passed changes by at most this share of the largest current times the duration.
pub const DRIVE_TOLERANCE: f64 = 1e-3;

/// A cell parameter set from a law output.
#[derive(Debug, Clone)]
pub struct Link {
    /// The cell parameter (a name of [`FREE_PARAMETERS`]).
    pub target: String,
    /// The law's catalogue name.
    pub law_name: String,
    /// The law, built with the link's options.
    pub law: Law,
    /// The law output used (a scalar output's name).
    pub output: String,
    /// Position of that output in the law's flat output vector.
    output_index: usize,
    /// Law output unit → cell parameter unit.
    factor: f64,
    /// For each law input: `Some(k)` = chain input k, `None` = the experiment temperature.
    sources: Vec<Option<usize>>,
    which: FreeParam,
}

/// What a study says about one link, before resolution.
#[derive(Debug, Clone, Default)]
pub struct LinkSpec {
    /// The cell parameter set (a name of [`FREE_PARAMETERS`]).
    pub target: String,
    /// The law's catalogue name.
    pub law: String,
    /// The law's options (`[model.link.NAME] options`).
    pub options: toml::Table,
    /// Law output name; `None` = the law's first scalar output.
    pub output: Option<String>,
    /// Law input name → chain input name.
    pub rename: Vec<(String, String)>,
}

/// The chain: see the module documentation.
#[derive(Debug, Clone)]
pub struct ChainModel {
    /// One base parameter set per experiment (its temperature set, Arrhenius factors of
    /// T-dependent links switched off).
    bases: Vec<CellParams<f64>>,
    experiments: Vec<Experiment>,
    protocols: Vec<Protocol>,
    opts: Vec<SolverOptions>,
    links: Vec<Link>,
    /// Direct cell parameters: (parameter, chain input index).
    direct: Vec<(FreeParam, usize)>,
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
    /// Flat offsets of each experiment's outputs.
    offsets: Vec<usize>,
    /// What the chain was built from, so [`ChainModel::with_experiments`] can rebuild it
    /// under other protocols with the same inputs.
    base: CellParams<f64>,
    solver: SolverOptions,
    link_specs: Vec<LinkSpec>,
    direct_names: Vec<String>,
}

fn free_param(name: &str) -> Option<(&'static str, &'static str, FreeParam)> {
    FREE_PARAMETERS.iter().find(|(n, _, _)| *n == name).copied()
}

/// Is `name` a cell parameter a chain can set?
pub fn is_cell_parameter(name: &str) -> bool {
    free_param(name).is_some()
}

impl ChainModel {
    /// Resolve a chain. `solver` sets the model, shells, electrolyte mesh and largest time step
    /// of every experiment (its output times are each experiment's own). `direct` names the cell
    /// parameters that are inputs in their own right.
    /// Errors name the offending link, parameter or experiment.
    pub fn new(
        base: CellParams<f64>,
        solver: SolverOptions,
        links: &[LinkSpec],
        direct: &[String],
        experiments: Vec<Experiment>,
    ) -> Result<Self, String> {
        if experiments.is_empty() {
            return Err("at least one [[model.experiment]]".into());
        }
        let mut inputs: Vec<InputSpec> = Vec::new();
        let mut input_of = |name: &str, unit: &str| -> Result<usize, String> {
            if let Some(k) = inputs.iter().position(|i| i.name == name) {
                if conversion_factor(unit, &inputs[k].unit) != Some(1.0) {
                    return Err(format!(
                        "input '{name}' is shared by two links with different units ('{}' and '{unit}'); rename one",
                        inputs[k].unit
                    ));
                }
                return Ok(k);
            }
            inputs.push(InputSpec::new(name, unit));
            Ok(inputs.len() - 1)
        };
        let mut resolved = Vec::new();
        for spec in links {
            let (_, cell_unit, which) = free_param(&spec.target).ok_or_else(|| {
                format!(
                    "link target '{}': expected a cell parameter ({})",
                    spec.target,
                    FREE_PARAMETERS
                        .iter()
                        .map(|f| f.0)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            if resolved.iter().any(|l: &Link| l.target == spec.target) {
                return Err(format!("link target '{}' is linked twice", spec.target));
            }
            let law = build_law(&spec.law, &spec.options)
                .map_err(|e| format!("link '{}': {e}", spec.target))?;
            let scalar_outputs: Vec<(usize, &OutputSpec)> = {
                let mut off = 0;
                let mut v = Vec::new();
                for o in law.outputs() {
                    if matches!(o.shape, OutputShape::Scalar) {
                        v.push((off, o));
                    }
                    off += o.len();
                }
                v
            };
            let (output_index, out) = match &spec.output {
                None => scalar_outputs.first().copied(),
                Some(n) => scalar_outputs.iter().find(|(_, o)| &o.name == n).copied(),
            }
            .ok_or_else(|| {
                format!(
                    "link '{}': law '{}' has no scalar output {}; its scalar outputs: {}",
                    spec.target,
                    spec.law,
                    spec.output.as_deref().unwrap_or(""),
                    scalar_outputs
                        .iter()
                        .map(|(_, o)| o.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            let factor = conversion_factor(&out.unit, cell_unit).ok_or_else(|| {
                format!(
                    "link '{}': law output '{}' is in '{}', which does not convert to the cell parameter's '{cell_unit}'",
                    spec.target, out.name, out.unit
                )
            })?;
            for (from, _) in &spec.rename {
                if !law.inputs().iter().any(|i| &i.name == from) {
                    return Err(format!(
                        "link '{}': rename of '{from}', which is not an input of law '{}'",
                        spec.target, spec.law
                    ));
                }
            }
            let mut sources = Vec::new();
            for i in law.inputs() {
                if i.name == "T" && conversion_factor(&i.unit, "K") == Some(1.0) {
                    sources.push(None);
                    continue;
                }
                let name = spec
                    .rename
                    .iter()
                    .find(|(f, _)| *f == i.name)
                    .map_or(i.name.as_str(), |(_, t)| t.as_str());
                if free_param(name).is_some() {
                    return Err(format!(
                        "link '{}': law input '{name}' has the name of a cell parameter; rename it",
                        spec.target
                    ));
                }
                sources.push(Some(input_of(name, &i.unit)?));
            }
            resolved.push(Link {
                target: spec.target.clone(),
                law_name: spec.law.clone(),
                output: out.name.clone(),
                law,
                output_index,
                factor,
                sources,
                which,
            });
        }
        let mut direct_resolved = Vec::new();
        for name in direct {
            let (n, u, which) =
                free_param(name).ok_or_else(|| format!("'{name}' is not a cell parameter"))?;
            if resolved.iter().any(|l| l.target == *name) {
                return Err(format!(
                    "cell parameter '{name}' is both linked to a law and bound directly"
                ));
            }
            direct_resolved.push((which, input_of(n, u)?));
        }

        let mut bases = Vec::new();
        let mut protocols = Vec::new();
        let mut opts = Vec::new();
        let mut outputs = Vec::new();
        let mut offsets = Vec::new();
        let mut off = 0;
        for e in &experiments {
            if !(e.temperature_k > 0.0 && e.temperature_k.is_finite()) {
                return Err(format!(
                    "experiment '{}': temperature {} K; expected a positive temperature",
                    e.name, e.temperature_k
                ));
            }
            if e.times.is_empty() || e.times.windows(2).any(|w| w[1] <= w[0]) || e.times[0] < 0.0 {
                return Err(format!(
                    "experiment '{}': output times must be non-empty, ≥ 0 and increasing",
                    e.name
                ));
            }
            let mut b = base.clone();
            b.temperature = e.temperature_k;
            // (with the thermal model: the chamber's temperature, where the cell starts too)
            if let Some(th) = b.thermal.as_mut() {
                th.initial_temperature = e.temperature_k;
            }
            for l in &resolved {
                if l.sources.iter().any(Option::is_none) {
                    let ea = match l.which {
                        FreeParam::DiffusivityN => Some(FreeParam::EaDiffN),
                        FreeParam::DiffusivityP => Some(FreeParam::EaDiffP),
                        FreeParam::RateN => Some(FreeParam::EaRateN),
                        FreeParam::RateP => Some(FreeParam::EaRateP),
                        _ => None,
                    };
                    if let Some(ea) = ea {
                        apply_free(&mut b, ea, 0.0).map_err(|e| e.to_string())?;
                    }
                }
            }
            b.validate()
                .map_err(|x| format!("experiment '{}': {x}", e.name))?;
            protocols.push(
                e.protocol()
                    .map_err(|x| format!("experiment '{}': {x}", e.name))?,
            );
            let dt_max = e.dt_max.unwrap_or(solver.dt_max);
            if !(dt_max > 0.0 && dt_max.is_finite()) {
                return Err(format!(
                    "experiment '{}': dt_max = {dt_max} s; expected a positive time step",
                    e.name
                ));
            }
            let o = SolverOptions {
                output_times: Some(e.times.clone()),
                stop_at_cutoff: e.stops_at_cutoff(),
                dt_max,
                thermal: e.thermal.clone().unwrap_or_else(|| solver.thermal.clone()),
                ..solver.clone()
            };
            opts.push(o);
            bases.push(b);
            offsets.push(off);
            outputs.push(OutputSpec::curve(
                &format!("voltage_{}", e.name),
                "V",
                Axis {
                    name: "t".into(),
                    unit: "s".into(),
                    values: e.times.clone(),
                },
            ));
            outputs.push(OutputSpec::scalar(&format!("capacity_{}", e.name), "A h"));
            outputs.push(OutputSpec::scalar(&format!("energy_{}", e.name), "W h"));
            for t in &e.voltage_at {
                if !(*t >= e.times[0] && *t <= *e.times.last().unwrap()) {
                    return Err(format!(
                        "experiment '{}': voltage_at = {t} s lies outside the output times",
                        e.name
                    ));
                }
                outputs.push(OutputSpec::scalar(&format!("V_{}_at_{t}s", e.name), "V"));
            }
            off += e.times.len() + 2 + e.voltage_at.len();
        }
        for l in &resolved {
            let unit = free_param(&l.target).map(|f| f.1).unwrap_or("");
            outputs.push(OutputSpec::scalar(&l.target, unit));
        }
        Ok(Self {
            bases,
            experiments,
            protocols,
            opts,
            links: resolved,
            direct: direct_resolved,
            inputs,
            outputs,
            offsets,
            base,
            solver,
            link_specs: links.to_vec(),
            direct_names: direct.to_vec(),
        })
    }

    /// The same chain (base cell, solver, links, direct parameters: the same inputs in the
    /// same order) under other experiments, e.g. held-out curves to validate a calibration on
    /// or new conditions to predict with its posterior. Errors as [`ChainModel::new`]'s.
    pub fn with_experiments(&self, experiments: Vec<Experiment>) -> Result<Self, String> {
        Self::new(
            self.base.clone(),
            self.solver.clone(),
            &self.link_specs,
            &self.direct_names,
            experiments,
        )
    }

    /// The cell alone under one protocol: the `free` cell parameters (names of
    /// [`FREE_PARAMETERS`]) as inputs, the base temperature, outputs on `times` \[s\] (one
    /// experiment named `cell`: `voltage_cell`, `capacity_cell`, `energy_cell`).
    pub fn cell(
        base: CellParams<f64>,
        solver: SolverOptions,
        free: &[&str],
        protocol: Protocol,
        times: Vec<f64>,
    ) -> Result<Self, String> {
        let t = base.temperature;
        let free: Vec<String> = free.iter().map(|f| f.to_string()).collect();
        let e = Experiment::new("cell", t, Drive::Protocol(protocol), times);
        Self::new(base, solver, &[], &free, vec![e])
    }

    /// The experiments, in the study's order.
    pub fn experiments(&self) -> &[Experiment] {
        &self.experiments
    }

    /// The links from law outputs to cell parameters.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// Index in `outputs()` of experiment `k`'s voltage curve.
    pub fn voltage_output(&self, k: usize) -> usize {
        let mut idx = 0;
        for e in &self.experiments[..k] {
            idx += 3 + e.voltage_at.len();
        }
        idx
    }

    /// Value of link `l` (in the cell parameter's unit) at temperature `t_k`.
    fn link_value<D: Scalar>(&self, l: &Link, theta: &[D], t_k: f64) -> Result<D, ModelError> {
        let x: Vec<D> = l
            .sources
            .iter()
            .map(|s| s.map_or(D::from(t_k), |k| theta[k]))
            .collect();
        let mut out = vec![D::zero(); crate::model::n_outputs(&l.law)];
        l.law.eval(&x, &mut out)?;
        let v = out[l.output_index] * l.factor;
        if !v.re().is_finite() {
            return Err(ModelError::out_of_range(
                &l.target,
                v.re(),
                &format!("a finite value from law '{}'", l.law_name),
            ));
        }
        Ok(v)
    }
}

/// A BPX file (path as written in the study, resolved against the study's folder) with the
/// optional regular-solution OCP replacements `ocp_n`/`ocp_p` = "regular_solution".
pub fn base_from_bpx(
    path: &Path,
    regular_solution_n: bool,
    regular_solution_p: bool,
) -> Result<CellParams<f64>, String> {
    let mut p = read_bpx_file(path).map_err(|e| e.to_string())?.params;
    // The regular-solution law's U0 and Ω start at neutral values and are meant to be bound.
    if regular_solution_n {
        p.neg.ocp = Ocp::RegularSolution {
            u0: 0.1,
            omega_ev: 0.0,
        };
    }
    if regular_solution_p {
        p.pos.ocp = Ocp::RegularSolution {
            u0: 3.7,
            omega_ev: 0.0,
        };
    }
    Ok(p)
}

impl Model for ChainModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        if theta.len() != self.inputs.len() {
            return Err(ModelError::WrongInputCount {
                expected: self.inputs.len(),
                found: theta.len(),
            });
        }
        for (k, v) in theta.iter().enumerate() {
            if !v.re().is_finite() {
                return Err(ModelError::InvalidInput {
                    name: self.inputs[k].name.clone(),
                    value: v.re(),
                    expected: "a finite value".into(),
                });
            }
        }
        for (e, exp) in self.experiments.iter().enumerate() {
            let mut p: CellParams<D> = self.bases[e].to_scalar()?;
            for l in &self.links {
                let v = self.link_value(l, theta, exp.temperature_k)?;
                apply_free(&mut p, l.which, v)?;
            }
            for &(which, k) in &self.direct {
                apply_free(&mut p, which, theta[k])?;
            }
            let sol = simulate(&p, &self.protocols[e], &self.opts[e])?;
            let o = &mut out[self.offsets[e]..];
            let n_t = exp.times.len();
            let reached = sol.rows.len().min(n_t);
            for (slot, r) in o.iter_mut().zip(&sol.rows[..reached]) {
                *slot = r.voltage;
            }
            if reached < n_t && sol.cutoff.is_none() {
                return Err(ModelError::SolverFailed(format!(
                    "experiment '{}': the protocol ended at {reached} of {n_t} output times",
                    exp.name
                )));
            }
            let last = sol.cutoff.as_ref().or(sol.rows.last()).ok_or_else(|| {
                ModelError::SolverFailed(format!("experiment '{}': no output row", exp.name))
            })?;
            // Past a cut-off the voltage is held: a smooth, bounded response for calibration.
            for slot in o.iter_mut().take(n_t).skip(reached) {
                *slot = last.voltage;
            }
            // Energy: trapezoid of V dQ over the reached rows and the cut-off row.
            let mut energy = D::zero();
            let mut prev: Option<(D, D)> = None;
            for r in sol.rows[..reached].iter().chain(sol.cutoff.as_ref()) {
                if let Some((v0, q0)) = prev {
                    energy += (v0 + r.voltage) * (r.capacity_ah - q0) * 0.5;
                }
                prev = Some((r.voltage, r.capacity_ah));
            }
            o[n_t] = last.capacity_ah;
            o[n_t + 1] = energy;
            for (j, &t) in exp.voltage_at.iter().enumerate() {
                let k = exp.times.partition_point(|x| *x < t).min(n_t - 1);
                o[n_t + 2 + j] = if k == 0 || exp.times[k] == t {
                    o[k]
                } else {
                    let (ta, tb) = (exp.times[k - 1], exp.times[k]);
                    let w = (t - ta) / (tb - ta);
                    o[k - 1] * (1.0 - w) + o[k] * w
                };
            }
        }
        let t0 = self.experiments[0].temperature_k;
        let start = out.len() - self.links.len();
        for (j, l) in self.links.iter().enumerate() {
            out[start + j] = self.link_value(l, theta, t0)?;
        }
        Ok(())
    }

    /// Monte Carlo's batch: each sample is a whole cell simulation (milliseconds), so the
    /// samples of one chunk are shared out over the rayon pool. Every sample is computed by
    /// [`Model::eval`] alone and written to its own slot, and the failures are listed in sample
    /// order, so the result is the same bit for bit whatever the number of threads.
    fn eval_batch(
        &self,
        x: &[f64],
        count: usize,
        out: &mut [f64],
        failed: &mut Vec<(usize, ModelError)>,
    ) {
        use rayon::prelude::*;
        let k = self.inputs.len();
        let p = crate::model::n_outputs(self);
        let results: Vec<Result<Vec<f64>, ModelError>> = (0..count)
            .into_par_iter()
            .map(|i| {
                let xi: Vec<f64> = (0..k).map(|a| x[a * count + i]).collect();
                let mut yi = vec![0.0; p];
                self.eval(&xi, &mut yi).map(|()| yi)
            })
            .collect();
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(yi) => {
                    for (j, v) in yi.into_iter().enumerate() {
                        out[j * count + i] = v;
                    }
                }
                Err(e) => failed.push((i, e)),
            }
        }
    }
}

#[cfg(test)]
mod tests;
