//! A calibration from a study file: its `[calibrate]` settings and the measured curves of its
//! experiments, bound to the chain's voltage outputs. What the CLI's `calibrate` and the Python
//! package both call, so a study calibrates the same way from either.

use super::CalibrateError;
use super::data::{MeasuredCurve, ReadOptions, Selection, read_curve_selected};
use super::nuts::{InitStrategy, MassMatrix, NutsConfig};
use super::posterior::{CurveObservation, Likelihood, Noise, SigmaPrior};
use crate::bound::BoundModel;
use crate::chain::{DataOptions, Drive, Experiment};
use crate::cycler::DuplicateTimes;
use crate::model::Model;
use crate::study::{Study, StudyModel};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The study file's `[calibrate]` section; every field optional (defaults: [`NutsConfig`]'s,
/// init from the MAP, diagonal mass matrix, σ inferred per curve with a half-normal prior of
/// scale 10 mV, Gaussian likelihood).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrateSection {
    /// Chains ([`NutsConfig::chains`]).
    pub chains: Option<usize>,
    /// Kept draws per chain ([`NutsConfig::draws`]).
    pub draws: Option<u64>,
    /// Warm-up iterations per chain ([`NutsConfig::tune`]).
    pub tune: Option<u64>,
    /// Master seed ([`NutsConfig::seed`]).
    pub seed: Option<u64>,
    /// Target acceptance in (0, 1) ([`NutsConfig::target_accept`]).
    pub target_accept: Option<f64>,
    /// Maximum tree depth ([`NutsConfig::max_depth`]).
    pub max_depth: Option<u64>,
    /// "prior" or "map".
    pub init: Option<String>,
    /// "diag" or "low_rank".
    pub mass_matrix: Option<String>,
    /// Noise model of every curve (default: σ inferred, half-normal prior with scale 10 mV).
    pub noise: Option<Noise>,
    /// Per-point error model (default Gaussian).
    pub likelihood: Option<Likelihood>,
}

impl CalibrateSection {
    /// The sampler settings: each field given here, else [`NutsConfig::default`]'s, with init
    /// "map" unless "prior" is asked for. `study` names the file in errors; the result is
    /// validated.
    pub fn nuts_config(&self, study: &Path) -> Result<NutsConfig, CalibrateError> {
        let bad_field = |field: &str, expected: &str, found: &str| {
            CalibrateError::Input(format!(
                "{}: field 'calibrate.{field}': expected {expected}, found '{found}'",
                study.display()
            ))
        };
        let d = NutsConfig::default();
        let cfg = NutsConfig {
            tune: self.tune.unwrap_or(d.tune),
            draws: self.draws.unwrap_or(d.draws),
            chains: self.chains.unwrap_or(d.chains),
            seed: self.seed.unwrap_or(d.seed),
            target_accept: self.target_accept.unwrap_or(d.target_accept),
            max_depth: self.max_depth.unwrap_or(d.max_depth),
            init: match self.init.as_deref() {
                None | Some("map") => InitStrategy::Map,
                Some("prior") => InitStrategy::Prior,
                Some(o) => return Err(bad_field("init", "\"map\" or \"prior\"", o)),
            },
            mass_matrix: match self.mass_matrix.as_deref() {
                None | Some("diag") => MassMatrix::Diag,
                Some("low_rank") => MassMatrix::LowRank,
                Some(o) => return Err(bad_field("mass_matrix", "\"diag\" or \"low_rank\"", o)),
            },
            progress: true,
        };
        cfg.validate()
            .map_err(|e| CalibrateError::Input(format!("{}: {e}", study.display())))?;
        Ok(cfg)
    }

    /// The noise model of every curve: the section's, else σ inferred with a half-normal prior
    /// of scale 0.01 V.
    pub fn noise(&self) -> Noise {
        self.noise.unwrap_or(Noise::Inferred {
            prior: SigmaPrior::HalfNormal { scale: 0.01 },
        })
    }
}

/// A note about how a study's measured curve was read (e.g. thinned to `max_points`), for the
/// caller to show.
pub type ObservationNote = String;

/// The observations of a cell study: one per experiment with data, in the study's order, bound
/// to that experiment's `voltage_<name>` output (σ named `sigma_<experiment>`). `replace`, when
/// not empty, gives one measured curve per data experiment to use instead of the study's (same
/// sign convention, read at the experiment's output times; its current must be the study
/// curve's, see [`same_current`]). Also returns notes on thinned curves.
pub fn observations(
    study: &Study,
    replace: &[PathBuf],
    noise: Noise,
) -> Result<(Vec<CurveObservation>, Vec<ObservationNote>), CalibrateError> {
    let chain = study.model.inner.as_chain().ok_or_else(|| {
        CalibrateError::Input(format!(
            "{}: field 'model': calibration needs a cell study (`cell = \"spm\"|\"spme\"`) with measured data on its experiments",
            study.path.display()
        ))
    })?;
    let with_data: Vec<usize> = (0..chain.experiments().len())
        .filter(|&k| chain.experiments()[k].data.is_some())
        .collect();
    if with_data.is_empty() {
        return Err(CalibrateError::Input(format!(
            "{}: field 'model.experiment': expected at least one experiment with `data = \"FILE.csv\"`, found none",
            study.path.display()
        )));
    }
    if !replace.is_empty() && replace.len() != with_data.len() {
        return Err(CalibrateError::Input(format!(
            "--data: expected {} files (one per data experiment: {}), found {}",
            with_data.len(),
            with_data
                .iter()
                .map(|&k| chain.experiments()[k].name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            replace.len()
        )));
    }
    let mut obs = Vec::new();
    let mut notes = Vec::new();
    for (j, &k) in with_data.iter().enumerate() {
        let e = &chain.experiments()[k];
        let d = e.data.as_ref().expect("filtered on data");
        notes.extend(data_notes(&e.name, d));
        let values = match replace.get(j) {
            None => d.curve.voltage_v.clone(),
            Some(p) => {
                let read = ReadOptions {
                    duplicate_times: d.options.duplicate_times,
                    ..ReadOptions::default()
                };
                let mut c = read_curve_selected(p, d.curve.sign, &read, &Selection::default())
                    .map_err(|e| CalibrateError::Input(e.to_string()))?
                    .curve;
                let t0 = c.time_s[0];
                c.time_s.iter_mut().for_each(|t| *t -= t0);
                same_current(&c, &d.curve, p, &d.path)?;
                c.voltage_at(&e.times).map_err(|err| {
                    CalibrateError::Input(format!("--data {}: {err}", p.display()))
                })?
            }
        };
        // The model output sits on the experiment's times, which are the data's own.
        let output = study
            .model
            .outputs()
            .iter()
            .position(|o| o.name == format!("voltage_{}", e.name))
            .expect("every experiment has a voltage output");
        obs.push(CurveObservation {
            name: e.name.clone(),
            output,
            values,
            noise,
        });
    }
    Ok((obs, notes))
}

/// What a caller should say about how a data experiment's file was read: the selection, the
/// thinning to `max_points` and the repeated time stamps dropped or merged (none: nothing to
/// say).
pub fn data_notes(name: &str, d: &crate::chain::ExperimentData) -> Vec<ObservationNote> {
    let mut notes = Vec::new();
    let file = d.path.display();
    let sel = &d.options.selection;
    if !sel.is_all() {
        notes.push(format!(
            "curve {name}: {} of the {} rows of {file} selected ({}); the cell is driven by the \
             measured current from the file's first row ({} rows at full resolution)",
            d.rows_selected,
            d.rows_in_file,
            sel.describe(),
            d.drive.time_s.len()
        ));
    }
    if d.step > 1 {
        notes.push(format!(
            "curve {name}: {} of the {} {} rows of {file} fitted (every {}-th row; max_points = {})",
            d.curve.time_s.len(),
            d.rows_selected,
            if sel.is_all() { "data" } else { "selected" },
            d.step,
            d.max_points
        ));
    }
    if d.repeated_rows > 0 {
        notes.push(format!(
            "curve {name}: {} rows of {file} with a repeated time stamp {} (duplicate_times = \"{}\")",
            d.repeated_rows,
            match d.options.duplicate_times {
                DuplicateTimes::Average => "averaged into the row before",
                _ => "dropped",
            },
            d.options.duplicate_times.label()
        ));
    }
    notes
}

/// How the command line changes the study's data experiments: a time window for each (one
/// for all, or one per data experiment in order) and the handling of repeated time stamps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataOverrides {
    /// Windows [t0, t1] \[s\] in each file's own time; empty: the study's selections.
    pub windows: Vec<(f64, f64)>,
    /// Replaces every data experiment's `duplicate_times`.
    pub duplicate_times: Option<DuplicateTimes>,
}

/// `study` with its data experiments re-read under `o` (a window replaces a study's window and
/// step selection). Errors name the command-line option (`--window`, `--duplicate-times`), the
/// experiment, and the file, line and column.
pub fn override_data(study: &mut Study, o: &DataOverrides) -> Result<(), CalibrateError> {
    if o.windows.is_empty() && o.duplicate_times.is_none() {
        return Ok(());
    }
    let bad = |m: String| CalibrateError::Input(m);
    let chain = study.model.inner.as_chain().ok_or_else(|| {
        bad(format!(
            "{}: field 'model': --window and --duplicate-times need a cell study with measured data",
            study.path.display()
        ))
    })?;
    let n_data = chain
        .experiments()
        .iter()
        .filter(|e| e.data.is_some())
        .count();
    if !(o.windows.len() <= 1 || o.windows.len() == n_data) {
        return Err(bad(format!(
            "--window: expected one window for all {n_data} data experiments or one per data experiment, found {}",
            o.windows.len()
        )));
    }
    let mut experiments = Vec::new();
    let mut j = 0;
    for e in chain.experiments() {
        let Some(d) = &e.data else {
            experiments.push(e.clone());
            continue;
        };
        let mut opts = d.options.clone();
        if let Some(w) = o.windows.get(if o.windows.len() == 1 { 0 } else { j }) {
            opts.selection = Selection {
                window: Some(*w),
                ..Selection::default()
            };
        }
        if let Some(dt) = o.duplicate_times {
            opts.duplicate_times = dt;
        }
        j += 1;
        let flag = if o.windows.is_empty() {
            "--duplicate-times"
        } else {
            "--window"
        };
        let fresh = Experiment {
            data: None,
            ..e.clone()
        }
        .with_data_options(&d.path, &opts)
        .map_err(|m| bad(format!("{flag} (experiment '{}'): {m}", e.name)))?;
        experiments.push(fresh);
    }
    let inner = chain
        .with_experiments(experiments)
        .map_err(|m| bad(format!("{}: {m}", study.path.display())))?;
    study.model = BoundModel::new(
        StudyModel::Chain(Box::new(inner)),
        study.model.bindings.clone(),
        study.model.inputs().to_vec(),
    )
    .map_err(CalibrateError::Setup)?;
    Ok(())
}

/// A `--data` file replaces a study curve's voltage only: the model is driven by the study
/// curve's current, so the file's current must be that current (within 2 % of its largest
/// magnitude, at the study curve's times inside the file's range), else the fit would compare
/// the model with a different experiment.
pub fn same_current(
    file: &MeasuredCurve,
    study: &MeasuredCurve,
    file_path: &Path,
    study_path: &Path,
) -> Result<(), CalibrateError> {
    let si = study.discharge_current();
    let imax = si.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let t_end = *file.time_s.last().unwrap_or(&0.0);
    let n = study.time_s.partition_point(|&t| t <= t_end);
    let fi = file
        .discharge_current_at(&study.time_s[..n])
        .map_err(|e| CalibrateError::Input(format!("--data {}: {e}", file_path.display())))?;
    let worst = fi
        .iter()
        .zip(&si)
        .zip(&study.time_s)
        .map(|((f, s), &t)| ((f - s).abs(), t))
        .fold((0.0f64, 0.0), |a, b| if b.0 > a.0 { b } else { a });
    if worst.0 > 0.02 * imax.max(1e-3) {
        return Err(CalibrateError::Input(format!(
            "--data {}: its current differs from that of the study's curve {} by {:.4} A at t = {:.1} s \
             (largest study current {imax:.4} A, discharge positive); the model is driven by the study's \
             current, so --data must come from the same protocol",
            file_path.display(),
            study_path.display(),
            worst.0,
            worst.1
        )));
    }
    Ok(())
}

/// Measured curves held out of a fit ([`held_out`]): the study's model under their protocols
/// (same inputs, same bindings) and one observation per curve on its `voltage_<name>` output.
pub struct HeldOut {
    /// The study's model under the held-out protocols.
    pub model: BoundModel<StudyModel>,
    /// One observation per held-out curve.
    pub observations: Vec<CurveObservation>,
    /// The held-out curve files, in order.
    pub files: Vec<PathBuf>,
    /// Cell temperature of each held-out experiment \[K\].
    pub temperatures_k: Vec<f64>,
}

/// Held-out curves for validation: each file is a measured curve whose own current drives the
/// study's cell at `temperatures_k` (one value for all files or one per file; none: the first
/// data experiment's temperature), read with the sign convention and `max_points` of the
/// study's first data experiment. The curve is named after its file stem; its
/// noise model is `noise` (see [`super::validate::held_out_noise`]). Errors name the file or
/// the option.
pub fn held_out(
    study: &Study,
    files: &[PathBuf],
    temperatures_k: &[f64],
    noise: Noise,
) -> Result<HeldOut, CalibrateError> {
    let bad = |m: String| CalibrateError::Input(m);
    let chain = study.model.inner.as_chain().ok_or_else(|| {
        bad(format!(
            "{}: field 'model': validation needs a cell study (`cell = \"spm\"|\"spme\"`)",
            study.path.display()
        ))
    })?;
    let first = chain
        .experiments()
        .iter()
        .find(|e| e.data.is_some())
        .ok_or_else(|| {
            bad(format!(
                "{}: field 'model.experiment': expected at least one experiment with `data = \"FILE.csv\"`, found none",
                study.path.display()
            ))
        })?;
    let d = first.data.as_ref().expect("found by data");
    if !(temperatures_k.is_empty()
        || temperatures_k.len() == 1
        || temperatures_k.len() == files.len())
    {
        return Err(bad(format!(
            "--validate-temperature: expected one temperature for all {} --validate files or one per file, found {}",
            files.len(),
            temperatures_k.len()
        )));
    }
    if let Some(t) = temperatures_k
        .iter()
        .find(|t| !(t.is_finite() && **t > 0.0))
    {
        return Err(bad(format!(
            "--validate-temperature: expected a temperature in K (> 0), found {t}"
        )));
    }
    let mut experiments = Vec::new();
    let mut temps = Vec::new();
    for (k, p) in files.iter().enumerate() {
        let t = match temperatures_k {
            [] => first.temperature_k,
            [t] => *t,
            ts => ts[k],
        };
        let name = super::posterior::sanitize(
            &p.file_stem()
                .map_or("held_out".into(), |s| s.to_string_lossy().into_owned()),
        );
        let taken = chain.experiments().iter().map(|e| &e.name);
        if taken
            .chain(experiments.iter().map(|e: &Experiment| &e.name))
            .any(|n| *n == name)
        {
            return Err(bad(format!(
                "--validate {}: a curve named '{name}' is already in the study or the --validate list; give the file another name",
                p.display()
            )));
        }
        let opts = DataOptions {
            selection: Selection::default(),
            ..d.options.clone()
        };
        let e = Experiment::new(&name, t, Drive::Measured, vec![])
            .with_data_options(p, &opts)
            .map_err(|m| bad(format!("--validate {}: {m}", p.display())))?;
        experiments.push(e);
        temps.push(t);
    }
    let inner = chain
        .with_experiments(experiments)
        .map_err(|m| bad(format!("--validate: {m}")))?;
    let model = BoundModel::new(
        StudyModel::Chain(Box::new(inner)),
        study.model.bindings.clone(),
        study.model.inputs().to_vec(),
    )
    .map_err(CalibrateError::Setup)?;
    let chain = model.inner.as_chain().expect("built as a chain");
    let observations = chain
        .experiments()
        .iter()
        .enumerate()
        .map(|(k, e)| CurveObservation {
            name: e.name.clone(),
            output: chain.voltage_output(k),
            values: e
                .data
                .as_ref()
                .expect("held-out data")
                .curve
                .voltage_v
                .clone(),
            noise,
        })
        .collect();
    Ok(HeldOut {
        model,
        observations,
        files: files.to_vec(),
        temperatures_k: temps,
    })
}
