//! Fleet calibration: one calibrate study, many cells, each calibrated on its own measured
//! curves with the one NUTS engine ([`super::sample`], [`super::summarize`],
//! [`super::validate::rmse_rows`]), giving one table of per-cell posteriors, sampler
//! diagnostics and fit residuals.
//!
//! **Layout of a cells folder.** Every subfolder of DIR is one cell, its name the cell id
//! (hidden folders, names starting with '.', and plain files in DIR are skipped). A cell folder
//! holds `<experiment>.csv` for every experiment of the study that has `data = ...`: the cell's
//! measured curve under that experiment's protocol, exactly what `calibrate --data` would be
//! given for it (same sign convention; its current must be the study curve's; read at the
//! experiment's output times). Other files in a cell folder are ignored.
//!
//! ```text
//! cells/
//!   cell_01/1C_25C.csv
//!   cell_02/1C_25C.csv
//! ```
//!
//! **Determinism.** Cells are taken in byte order of their ids. Each cell's sampler seed is
//! [`cell_seed`]`(study seed, cell id)`, a hash of the two, so a cell's result depends on its
//! own id and data only, not on its position, on the other cells or on how the fleet is split
//! into shards: a run split into any number of shards merges into the single-process table bit
//! for bit.

use super::study::{CalibrateSection, observations};
use super::validate::{CurveRole, FitPoints, rmse_rows};
use super::{CalibrateError, NutsConfig, Posterior, sample, summarize};
use crate::shard::{fingerprint_u64, hex_f64, hex_f64_opt};
use crate::study::Study;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One cell of a fleet: its id and one measured curve per data experiment of the study, in the
/// study's order.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetCell {
    /// The cell's id (its folder name).
    pub id: String,
    /// Its curve files, one per data experiment.
    pub files: Vec<PathBuf>,
}

/// The names of the study's experiments that carry measured data, in the study's order: the
/// file names (`<name>.csv`) every cell folder must hold.
pub fn data_experiments(study: &Study) -> Result<Vec<String>, CalibrateError> {
    let chain = study.model.inner.as_chain().ok_or_else(|| {
        CalibrateError::Input(format!(
            "{}: field 'model': a fleet calibration needs a cell study (`cell = \"spm\"|\"spme\"`) with measured data on its experiments",
            study.path.display()
        ))
    })?;
    let names: Vec<String> = chain
        .experiments()
        .iter()
        .filter(|e| e.data.is_some())
        .map(|e| e.name.clone())
        .collect();
    if names.is_empty() {
        return Err(CalibrateError::Input(format!(
            "{}: field 'model.experiment': expected at least one experiment with `data = \"FILE.csv\"` (the protocol each cell's curve follows), found none",
            study.path.display()
        )));
    }
    Ok(names)
}

/// The cells of `dir` (layout in the module doc), sorted by id. Errors name the folder, the
/// cell and the missing file.
pub fn read_cells(dir: &Path, experiments: &[String]) -> Result<Vec<FleetCell>, CalibrateError> {
    let bad = |m: String| CalibrateError::Input(m);
    let wanted = || {
        experiments
            .iter()
            .map(|e| format!("{e}.csv"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let entries = std::fs::read_dir(dir).map_err(|e| {
        bad(format!(
            "--cells {}: cannot read the folder: {e} (expected one subfolder per cell holding {})",
            dir.display(),
            wanted()
        ))
    })?;
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| bad(format!("--cells {}: {e}", dir.display())))?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let Some(id) = entry.file_name().to_str().map(str::to_string) else {
            return Err(bad(format!(
                "--cells {}: cell folder '{}' is not valid UTF-8; cell ids must be text",
                dir.display(),
                entry.file_name().to_string_lossy()
            )));
        };
        if id.starts_with('.') {
            continue;
        }
        if id.contains([',', '"']) || id.chars().any(char::is_control) {
            return Err(bad(format!(
                "--cells {}: cell folder '{id}': expected a cell id without commas, quotes or control characters (it is a column of fleet.csv)",
                dir.display()
            )));
        }
        ids.push(id);
    }
    if ids.is_empty() {
        return Err(bad(format!(
            "--cells {}: no cell folders found; expected one subfolder per cell holding {}",
            dir.display(),
            wanted()
        )));
    }
    ids.sort();
    ids.into_iter()
        .map(|id| {
            let cell_dir = dir.join(&id);
            let files = experiments
                .iter()
                .map(|e| {
                    let f = cell_dir.join(format!("{e}.csv"));
                    if f.is_file() {
                        Ok(f)
                    } else {
                        Err(bad(format!(
                            "--cells {}: cell '{id}' has no {e}.csv (expected {}: one measured curve per data experiment of the study)",
                            dir.display(),
                            f.display()
                        )))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(FleetCell { id, files })
        })
        .collect()
}

/// Fingerprint of a fleet's input: every cell id and the bytes of every data file, in cell
/// order. Shards of one fleet agree on it; a cell added, removed or edited between shards
/// changes it.
pub fn cells_fingerprint(cells: &[FleetCell]) -> Result<String, CalibrateError> {
    let mut bytes = Vec::new();
    for c in cells {
        bytes.extend_from_slice(c.id.as_bytes());
        bytes.push(0);
        for f in &c.files {
            let b = std::fs::read(f)
                .map_err(|e| CalibrateError::Input(format!("{}: cannot read: {e}", f.display())))?;
            bytes.extend_from_slice(&(b.len() as u64).to_le_bytes());
            bytes.extend_from_slice(&b);
        }
    }
    Ok(format!("{:016x}", fingerprint_u64(&bytes)))
}

/// The sampler seed of cell `id` in a fleet run with master seed `seed`: FNV-1a of the seed's
/// bytes and the id, mixed by the SplitMix64 finaliser (so nearby seeds and ids give unrelated
/// streams). Depends on the id, never on the cell's position in the fleet.
pub fn cell_seed(seed: u64, id: &str) -> u64 {
    let mut b = seed.to_le_bytes().to_vec();
    b.extend_from_slice(id.as_bytes());
    let mut z = fingerprint_u64(&b);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One unknown of one cell's posterior (natural units; σ of each curve included). Floats are
/// serialised as bit patterns (part files must round-trip exactly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellParam {
    /// Unknown's name (a model parameter or `sigma_<curve>`).
    pub name: String,
    /// Unit of its natural values.
    pub unit: String,
    /// Posterior mean \[unit\].
    #[serde(with = "hex_f64")]
    pub mean: f64,
    /// Posterior sd \[unit\].
    #[serde(with = "hex_f64")]
    pub sd: f64,
    /// Posterior 5 % quantile \[unit\].
    #[serde(with = "hex_f64")]
    pub q5: f64,
    /// Posterior median \[unit\].
    #[serde(with = "hex_f64")]
    pub q50: f64,
    /// Posterior 95 % quantile \[unit\].
    #[serde(with = "hex_f64")]
    pub q95: f64,
    /// Rank-normalised split R̂.
    #[serde(with = "hex_f64")]
    pub rhat: f64,
    /// Bulk effective sample size.
    #[serde(with = "hex_f64")]
    pub ess_bulk: f64,
    /// Tail effective sample size.
    #[serde(with = "hex_f64")]
    pub ess_tail: f64,
    /// Prior mean, 5 % and 95 % quantiles (the same for every cell).
    #[serde(with = "hex_f64")]
    pub prior_mean: f64,
    /// Prior 5 % quantile \[unit\].
    #[serde(with = "hex_f64")]
    pub prior_q5: f64,
    /// Prior 95 % quantile \[unit\].
    #[serde(with = "hex_f64")]
    pub prior_q95: f64,
    /// (E_post(z) − μ_z)/σ_z: how far the cell's data moved the parameter, in prior sds.
    #[serde(with = "hex_f64")]
    pub shift_prior_sd: f64,
}

impl CellParam {
    /// The numbers of the parameter with their names (fleet.json's keys).
    pub fn numbers(&self) -> [(&'static str, f64); 12] {
        [
            ("mean", self.mean),
            ("sd", self.sd),
            ("q5", self.q5),
            ("q50", self.q50),
            ("q95", self.q95),
            ("rhat", self.rhat),
            ("ess_bulk", self.ess_bulk),
            ("ess_tail", self.ess_tail),
            ("prior_mean", self.prior_mean),
            ("prior_q5", self.prior_q5),
            ("prior_q95", self.prior_q95),
            ("shift_prior_sd", self.shift_prior_sd),
        ]
    }

    /// The parameter from its name, unit and numbers by [`CellParam::numbers`]'s names; a
    /// name `number` does not know is named in the error.
    pub fn from_numbers(
        name: String,
        unit: String,
        number: impl Fn(&str) -> Result<f64, String>,
    ) -> Result<Self, String> {
        Ok(Self {
            name,
            unit,
            mean: number("mean")?,
            sd: number("sd")?,
            q5: number("q5")?,
            q50: number("q50")?,
            q95: number("q95")?,
            rhat: number("rhat")?,
            ess_bulk: number("ess_bulk")?,
            ess_tail: number("ess_tail")?,
            prior_mean: number("prior_mean")?,
            prior_q5: number("prior_q5")?,
            prior_q95: number("prior_q95")?,
            shift_prior_sd: number("shift_prior_sd")?,
        })
    }
}

/// RMS residual of one curve of one cell \[V\], √(Σ_k (m_k(θ) − y_k)²/n), at the MAP and at
/// the posterior mean (`None`: not computed, or the model fails there).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellCurve {
    /// Curve (experiment) name.
    pub curve: String,
    /// Data points of the curve.
    pub points: usize,
    /// At the MAP \[V\].
    #[serde(with = "hex_f64_opt")]
    pub rmse_map_v: Option<f64>,
    /// At the posterior mean \[V\].
    #[serde(with = "hex_f64_opt")]
    pub rmse_posterior_mean_v: Option<f64>,
}

/// One cell's calibration: posterior summary, sampler health, residuals and warnings; or the
/// reason it failed (`failure`, the other fields then empty), so one unusable cell does not
/// stop a fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellResult {
    /// The cell's id.
    pub cell: String,
    /// The sampler seed, [`cell_seed`].
    pub seed: u64,
    /// The data files, relative to the cells folder.
    pub data_files: Vec<String>,
    /// Why the cell's calibration failed; `None` when it ran.
    pub failure: Option<String>,
    /// The cell's unknowns.
    pub params: Vec<CellParam>,
    /// Divergent transitions after warm-up, all chains.
    pub divergences: u64,
    /// Kept draws whose tree hit the maximum depth, all chains.
    pub treedepth_saturated: u64,
    /// Failed model evaluations, all chains, warm-up included.
    pub model_errors: u64,
    /// Smallest E-BFMI over the chains.
    #[serde(with = "hex_f64")]
    pub min_e_bfmi: f64,
    /// RMS residual of each curve.
    pub curves: Vec<CellCurve>,
    /// The cell's convergence warnings and prior–data conflicts, in words.
    pub warnings: Vec<String>,
}

impl CellResult {
    /// Largest R̂ over the cell's unknowns (−∞ when none; a NaN R̂ wins).
    pub fn max_rhat(&self) -> f64 {
        self.params
            .iter()
            .map(|p| p.rhat)
            .fold(f64::NEG_INFINITY, |a, r| {
                if r.is_nan() || a.is_nan() {
                    f64::NAN
                } else {
                    a.max(r)
                }
            })
    }

    /// Smallest bulk ESS over the cell's unknowns.
    pub fn min_ess_bulk(&self) -> f64 {
        self.params
            .iter()
            .map(|p| p.ess_bulk)
            .fold(f64::INFINITY, f64::min)
    }
}

/// A cell's measured curves checked and bound to the study's model (the same
/// [`observations`] as `calibrate --data`): bad data is the user's input (the message names
/// the file). Done for every cell of a run before any sampling.
pub fn cell_posterior<'a>(
    study: &'a Study,
    sec: &CalibrateSection,
    cell: &FleetCell,
) -> Result<Posterior<'a, crate::bound::BoundModel<crate::study::StudyModel>>, CalibrateError> {
    let in_cell = |e: CalibrateError| match e {
        CalibrateError::Input(m) => CalibrateError::Input(format!("cell '{}': {m}", cell.id)),
        e => e,
    };
    let (obs, _) = observations(study, &cell.files, sec.noise()).map_err(in_cell)?;
    Posterior::new(
        &study.model,
        &study.dist,
        obs,
        sec.likelihood.unwrap_or_default(),
    )
    .map_err(in_cell)
}

/// Calibrate one cell with `cfg` (its seed replaced by [`cell_seed`]`(cfg.seed, id)`). A
/// sampler that finds no start or fails is recorded in [`CellResult::failure`].
pub fn calibrate_cell(
    post: &Posterior<'_, crate::bound::BoundModel<crate::study::StudyModel>>,
    cfg: &NutsConfig,
    cell: &FleetCell,
    cells_dir: &Path,
) -> CellResult {
    let seed = cell_seed(cfg.seed, &cell.id);
    let cfg = NutsConfig {
        seed,
        progress: false,
        ..cfg.clone()
    };
    let data_files = cell
        .files
        .iter()
        .map(|f| {
            f.strip_prefix(cells_dir)
                .unwrap_or(f)
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    let mut r = CellResult {
        cell: cell.id.clone(),
        seed,
        data_files,
        failure: None,
        params: vec![],
        divergences: 0,
        treedepth_saturated: 0,
        model_errors: 0,
        min_e_bfmi: f64::NAN,
        curves: vec![],
        warnings: vec![],
    };
    let run = match sample(post, &cfg) {
        Ok(run) => run,
        Err(e) => {
            r.failure = Some(e.to_string());
            return r;
        }
    };
    let summary = summarize(post, &run);
    let h = &summary.health;
    r.divergences = h.divergences.iter().sum();
    r.treedepth_saturated = h.treedepth_saturated.iter().sum();
    r.model_errors = h.model_errors.iter().sum();
    r.min_e_bfmi = h.e_bfmi.iter().copied().fold(f64::INFINITY, f64::min);
    r.params = summary
        .params
        .iter()
        .map(|p| CellParam {
            name: p.name.clone(),
            unit: p.unit.clone(),
            mean: p.mean,
            sd: p.sd,
            q5: p.q5,
            q50: p.q50,
            q95: p.q95,
            rhat: p.rhat,
            ess_bulk: p.ess_bulk,
            ess_tail: p.ess_tail,
            prior_mean: p.prior_mean,
            prior_q5: p.prior_q5,
            prior_q95: p.prior_q95,
            shift_prior_sd: p.shift_prior_sd,
        })
        .collect();
    let points = FitPoints::new(
        post,
        run.map_z.as_deref(),
        Some(summary.params.iter().map(|p| p.mean).collect()),
    );
    r.curves = rmse_rows(post, CurveRole::Fit, &points)
        .into_iter()
        .map(|c| CellCurve {
            curve: c.curve,
            points: c.points,
            rmse_map_v: c.map_v,
            rmse_posterior_mean_v: c.posterior_mean_v,
        })
        .collect();
    r.warnings = summary.warnings;
    r
}

/// The fleet's merged table: every cell's result in cell-id order, with the run's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetTable {
    /// The study's title.
    pub title: String,
    /// The study file.
    pub study: String,
    /// The cells folder.
    pub cells_dir: String,
    /// The run's seed (each cell's sampler seed derives from it, [`cell_seed`]).
    pub seed: u64,
    /// The run's settings as (name, value), as the provenance records them.
    pub settings: Vec<(String, String)>,
    /// One result per cell, in cell-id order.
    pub cells: Vec<CellResult>,
}

/// `fleet.csv`: one row per cell.
pub const FLEET_CSV: &str = "fleet.csv";
/// `fleet.json`: the same table with each cell's warnings and data files.
pub const FLEET_JSON: &str = "fleet.json";

/// Columns per unknown in fleet.csv: (suffix, has the parameter's unit).
const PARAM_COLUMNS: [(&str, bool); 8] = [
    ("mean", true),
    ("sd", true),
    ("q5", true),
    ("q50", true),
    ("q95", true),
    ("rhat", false),
    ("ess_bulk", false),
    ("shift_prior_sd", false),
];

fn param_values(p: &CellParam) -> [f64; 8] {
    [
        p.mean,
        p.sd,
        p.q5,
        p.q50,
        p.q95,
        p.rhat,
        p.ess_bulk,
        p.shift_prior_sd,
    ]
}

/// A float for the CSV (shortest round-trip form; empty when not computed).
fn num(x: Option<f64>) -> String {
    x.map_or(String::new(), |x| x.to_string())
}

impl FleetTable {
    /// The unknowns (name, unit) and curves of the fleet, from its first successful cell (all
    /// cells share the study, so they share these).
    pub fn columns(&self) -> (Vec<(String, String)>, Vec<String>) {
        self.cells
            .iter()
            .find(|c| c.failure.is_none())
            .map(|c| {
                (
                    c.params
                        .iter()
                        .map(|p| (p.name.clone(), p.unit.clone()))
                        .collect(),
                    c.curves.iter().map(|c| c.curve.clone()).collect(),
                )
            })
            .unwrap_or_default()
    }

    /// fleet.csv: `cell`, `status`, for each unknown its mean, sd, 5/50/95 % quantiles (with
    /// its unit in the header), R̂, bulk ESS and prior shift; divergences, saturated trees,
    /// model errors, min E-BFMI; for each curve the RMS residual at the MAP and the posterior
    /// mean \[V\]; the number of warnings.
    pub fn to_csv(&self) -> String {
        use crate::output::csv_field;
        let (params, curves) = self.columns();
        let mut head = vec!["cell".to_string(), "status".into()];
        for (name, unit) in &params {
            for (suffix, has_unit) in PARAM_COLUMNS {
                head.push(if has_unit {
                    format!("{name}_{suffix} [{unit}]")
                } else {
                    format!("{name}_{suffix}")
                });
            }
        }
        head.extend(
            [
                "divergences",
                "treedepth_saturated",
                "model_errors",
                "min_e_bfmi",
            ]
            .map(String::from),
        );
        for c in &curves {
            head.push(format!("rmse_{c}_map [V]"));
            head.push(format!("rmse_{c}_posterior_mean [V]"));
        }
        head.push("warnings".into());
        let mut s = head
            .iter()
            .map(|h| csv_field(h))
            .collect::<Vec<_>>()
            .join(",");
        s.push('\n');
        let width = head.len();
        for c in &self.cells {
            let mut row = vec![csv_field(&c.cell)];
            match &c.failure {
                Some(f) => {
                    row.push(csv_field(&format!("failed: {f}")));
                    row.resize(width, String::new());
                }
                None => {
                    row.push("ok".into());
                    for p in &c.params {
                        row.extend(param_values(p).iter().map(|x| num(Some(*x))));
                    }
                    row.extend([
                        c.divergences.to_string(),
                        c.treedepth_saturated.to_string(),
                        c.model_errors.to_string(),
                        num(Some(c.min_e_bfmi)),
                    ]);
                    for k in &c.curves {
                        row.push(num(k.rmse_map_v));
                        row.push(num(k.rmse_posterior_mean_v));
                    }
                    row.push(c.warnings.len().to_string());
                }
            }
            s.push_str(&row.join(","));
            s.push('\n');
        }
        s
    }

    /// fleet.json: the settings and, per cell, everything of fleet.csv plus the data files and
    /// the warnings in words (floats as JSON numbers; a NaN or ±∞ is written as null).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&json::FleetJson::from(self))
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The table `fleet.json` holds (`text`, written by [`FleetTable::to_json`]; a null float
    /// reads back as NaN, a null residual as not computed), for `bridgelaw report RUN_DIR`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str::<json::FleetJson>(text)
            .map_err(|e| e.to_string())
            .and_then(Self::try_from)
    }

    /// Write fleet.csv and fleet.json into `dir` (atomically).
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, CalibrateError> {
        [
            (dir.join(FLEET_CSV), self.to_csv()),
            (dir.join(FLEET_JSON), self.to_json()),
        ]
        .into_iter()
        .map(|(p, text)| {
            crate::output::write_atomic(&p, text.as_bytes()).map_err(|source| {
                CalibrateError::Io {
                    path: p.display().to_string(),
                    source,
                }
            })?;
            Ok(p)
        })
        .collect()
    }
}

/// The layout of fleet.json: the table with plain JSON numbers (null for NaN and ±∞) where the
/// part files keep bit patterns.
mod json {
    use super::{CellCurve, CellParam, CellResult, FleetTable};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Serde of an `f64` as a JSON number, null when not finite (read back as NaN).
    mod finite {
        use super::*;
        pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
            x.is_finite().then_some(*x).serialize(s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
            Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
        }
    }

    fn finite_opt(x: Option<f64>) -> Option<f64> {
        x.filter(|x| x.is_finite())
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct FleetJson {
        title: String,
        study: String,
        cells_dir: String,
        seed: u64,
        settings: Vec<Setting>,
        cells: Vec<CellJson>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Setting {
        name: String,
        value: String,
    }

    /// [`CellResult`] with [`CellParam`]'s floats as JSON numbers (its fields flattened in,
    /// so one list of them serves both files) and the residuals under `rmse_v`.
    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct CellJson {
        cell: String,
        seed: u64,
        data_files: Vec<String>,
        failure: Option<String>,
        params: Vec<ParamJson>,
        divergences: u64,
        treedepth_saturated: u64,
        model_errors: u64,
        #[serde(with = "finite")]
        min_e_bfmi: f64,
        rmse_v: Vec<CurveJson>,
        warnings: Vec<String>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct CurveJson {
        curve: String,
        points: usize,
        map: Option<f64>,
        posterior_mean: Option<f64>,
    }

    /// [`CellParam`]: name, unit and its numbers by [`CellParam::numbers`]'s names (keys
    /// beyond those are refused when read).
    #[derive(Serialize, Deserialize)]
    struct ParamJson {
        name: String,
        unit: String,
        #[serde(flatten)]
        numbers: std::collections::BTreeMap<String, Option<f64>>,
    }

    impl From<&FleetTable> for FleetJson {
        fn from(t: &FleetTable) -> Self {
            Self {
                title: t.title.clone(),
                study: t.study.clone(),
                cells_dir: t.cells_dir.clone(),
                seed: t.seed,
                settings: t
                    .settings
                    .iter()
                    .map(|(name, value)| Setting {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                cells: t.cells.iter().map(CellJson::from).collect(),
            }
        }
    }

    impl From<&CellResult> for CellJson {
        fn from(c: &CellResult) -> Self {
            Self {
                cell: c.cell.clone(),
                seed: c.seed,
                data_files: c.data_files.clone(),
                failure: c.failure.clone(),
                params: c
                    .params
                    .iter()
                    .map(|p| ParamJson {
                        name: p.name.clone(),
                        unit: p.unit.clone(),
                        numbers: p
                            .numbers()
                            .into_iter()
                            .map(|(k, x)| (k.to_string(), finite_opt(Some(x))))
                            .collect(),
                    })
                    .collect(),
                divergences: c.divergences,
                treedepth_saturated: c.treedepth_saturated,
                model_errors: c.model_errors,
                min_e_bfmi: c.min_e_bfmi,
                rmse_v: c
                    .curves
                    .iter()
                    .map(|k| CurveJson {
                        curve: k.curve.clone(),
                        points: k.points,
                        map: finite_opt(k.rmse_map_v),
                        posterior_mean: finite_opt(k.rmse_posterior_mean_v),
                    })
                    .collect(),
                warnings: c.warnings.clone(),
            }
        }
    }

    impl TryFrom<FleetJson> for FleetTable {
        type Error = String;
        fn try_from(j: FleetJson) -> Result<Self, String> {
            let mut cells = Vec::with_capacity(j.cells.len());
            for c in j.cells {
                let mut params = Vec::with_capacity(c.params.len());
                for p in c.params {
                    let at = format!("cell '{}', parameter '{}'", c.cell, p.name);
                    let number = |k: &str| match p.numbers.get(k) {
                        Some(x) => Ok(x.unwrap_or(f64::NAN)),
                        None => Err(format!("{at}: missing field '{k}'")),
                    };
                    let param = CellParam::from_numbers(p.name.clone(), p.unit.clone(), number)?;
                    let names = param.numbers().map(|(k, _)| k);
                    if let Some(k) = p.numbers.keys().find(|k| !names.contains(&k.as_str())) {
                        return Err(format!("{at}: unknown field '{k}'"));
                    }
                    params.push(param);
                }
                cells.push(CellResult {
                    cell: c.cell,
                    seed: c.seed,
                    data_files: c.data_files,
                    failure: c.failure,
                    params,
                    divergences: c.divergences,
                    treedepth_saturated: c.treedepth_saturated,
                    model_errors: c.model_errors,
                    min_e_bfmi: c.min_e_bfmi,
                    curves: c
                        .rmse_v
                        .into_iter()
                        .map(|k| CellCurve {
                            curve: k.curve,
                            points: k.points,
                            rmse_map_v: k.map,
                            rmse_posterior_mean_v: k.posterior_mean,
                        })
                        .collect(),
                    warnings: c.warnings,
                });
            }
            Ok(FleetTable {
                title: j.title,
                study: j.study,
                cells_dir: j.cells_dir,
                seed: j.seed,
                settings: j.settings.into_iter().map(|s| (s.name, s.value)).collect(),
                cells,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_seeds_depend_on_seed_and_id_only() {
        assert_eq!(cell_seed(1, "a"), cell_seed(1, "a"));
        assert_ne!(cell_seed(1, "a"), cell_seed(2, "a"));
        assert_ne!(cell_seed(1, "a"), cell_seed(1, "b"));
        // The id's bytes follow the seed's fixed 8, so (1, "1a") and (11, "a") cannot collide
        // by concatenation.
        assert_ne!(cell_seed(1, "1a"), cell_seed(11, "a"));
    }

    #[test]
    fn cells_folder_layout_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let exps = vec!["1C".to_string(), "2C".to_string()];
        let e = read_cells(dir.path(), &exps).unwrap_err().to_string();
        assert!(
            e.contains("no cell folders found") && e.contains("1C.csv, 2C.csv"),
            "{e}"
        );
        for id in ["b", "a", ".hidden"] {
            std::fs::create_dir(dir.path().join(id)).unwrap();
            for x in &exps {
                std::fs::write(dir.path().join(id).join(format!("{x}.csv")), "t").unwrap();
            }
        }
        std::fs::write(dir.path().join("README"), "not a cell").unwrap();
        let cells = read_cells(dir.path(), &exps).unwrap();
        assert_eq!(
            cells.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(cells[1].files[1].ends_with("b/2C.csv"));
        std::fs::remove_file(dir.path().join("b/2C.csv")).unwrap();
        let e = read_cells(dir.path(), &exps).unwrap_err().to_string();
        assert!(e.contains("cell 'b' has no 2C.csv"), "{e}");
    }
}
