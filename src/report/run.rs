//! `bridgelaw report RUN_DIR`: find the JSON results of a run (propagation.json,
//! sensitivity.json, calibration_view.json, provenance.json — in RUN_DIR or one level below)
//! and write one combined HTML report.

use super::calibrate_report::{CALIBRATION_VIEW_JSON, CalibrationView, calibration_sections};
use super::fleet_report::fleet_sections;
use super::html::{Block, Report, Section, write_report};
use super::md_report::{
    MD_ARRHENIUS_JSON, MD_DENSITY_JSON, MD_DIFFUSION_JSON, MdArrheniusView, MdDensityView,
    MdDiffusionView, arrhenius_sections, density_sections, diffusion_sections,
};
use super::propagate_report::propagation_sections;
use super::provenance::{PROVENANCE_FILE, Provenance};
use super::sensitivity_report::{SENSITIVITY_JSON, SensitivityParts, sensitivity_sections};
use crate::calibrate::fleet::{FLEET_JSON, FleetTable};
use crate::propagate::PropagationResults;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// File name the propagate CLI writes.
pub const PROPAGATION_JSON: &str = "propagation.json";

/// Errors of the run-directory reader.
#[derive(Debug, Error)]
pub enum ReportError {
    /// The folder holds none of the result files.
    #[error(
        "{dir}: no results found (looked for {PROPAGATION_JSON}, {SENSITIVITY_JSON}, {CALIBRATION_VIEW_JSON}, {FLEET_JSON}, {MD_DIFFUSION_JSON}, {MD_ARRHENIUS_JSON}, {MD_DENSITY_JSON} here and one level below)"
    )]
    NothingFound {
        /// The folder searched.
        dir: PathBuf,
    },
    /// The path is not a folder.
    #[error(
        "{dir}: {found} (expected the folder of a run: propagate, sensitivity, calibrate or calibrate-fleet --out)"
    )]
    NotAFolder {
        /// The path given.
        dir: PathBuf,
        /// What is there instead ("no such folder", "not a folder").
        found: &'static str,
    },
    /// A result file that does not parse.
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: PathBuf,
        /// The parser's message (line and column).
        message: String,
    },
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A run folder whose files are not all those of the run its manifest names.
    #[error(transparent)]
    RunFolder(#[from] crate::run_folder::RunFolderError),
}

impl ReportError {
    /// Whether the error lies in what the user pointed at (exit 2 on the command line,
    /// `InputError` in Python) rather than in a failed write.
    pub fn is_user_error(&self) -> bool {
        match self {
            ReportError::NothingFound { .. }
            | ReportError::NotAFolder { .. }
            | ReportError::Parse { .. } => true,
            ReportError::RunFolder(e) => e.is_user_error(),
            ReportError::Io { .. } => false,
        }
    }
}

/// The results a run directory holds.
#[derive(Debug, Clone, Default)]
pub struct RunResults {
    /// An uncertainty propagation (propagation.json).
    pub propagation: Option<PropagationResults>,
    /// A sensitivity analysis (sensitivity.json).
    pub sensitivity: Option<SensitivityParts>,
    /// A calibration (calibration_view.json).
    pub calibration: Option<CalibrationView>,
    /// A `calibrate-fleet` run's table (fleet.json).
    pub fleet: Option<FleetTable>,
    /// An MD diffusion estimate (md_diffusion.json).
    pub md_diffusion: Option<MdDiffusionView>,
    /// An MD Arrhenius fit (md_arrhenius.json).
    pub md_arrhenius: Option<MdArrheniusView>,
    /// An MD density profile (md_density.json).
    pub md_density: Option<MdDensityView>,
    /// The run's provenance (provenance.json).
    pub provenance: Option<Provenance>,
    /// The files read.
    pub files: Vec<PathBuf>,
}

fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    let p = dir.join(name);
    if p.is_file() {
        return Some(p);
    }
    let mut subs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    subs.sort();
    subs.into_iter().map(|s| s.join(name)).find(|p| p.is_file())
}

fn read(p: &Path) -> Result<String, ReportError> {
    std::fs::read_to_string(p).map_err(|source| ReportError::Io {
        path: p.to_path_buf(),
        source,
    })
}

fn parse_err(p: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::Parse {
        file: p.to_path_buf(),
        message: e.to_string(),
    }
}

/// Read every result file found in `dir` (or its immediate subdirectories), after checking
/// `dir` and each subdirectory that is a run folder against its manifest
/// ([`crate::run_folder::check_run_folder`]): files of different runs are refused.
pub fn read_run_dir(dir: &Path) -> Result<RunResults, ReportError> {
    if !dir.is_dir() {
        return Err(ReportError::NotAFolder {
            dir: dir.to_path_buf(),
            found: if dir.exists() {
                "not a folder"
            } else {
                "no such folder"
            },
        });
    }
    crate::run_folder::check_run_folder(dir)?;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for sub in rd.filter_map(|e| e.ok().map(|e| e.path())) {
            if sub.is_dir() {
                crate::run_folder::check_run_folder(&sub)?;
            }
        }
    }
    let mut r = RunResults::default();
    if let Some(p) = find(dir, PROPAGATION_JSON) {
        r.propagation = Some(serde_json::from_str(&read(&p)?).map_err(|e| parse_err(&p, e))?);
        r.files.push(p);
    }
    if let Some(p) = find(dir, SENSITIVITY_JSON) {
        r.sensitivity =
            Some(SensitivityParts::from_json(&read(&p)?).map_err(|e| parse_err(&p, e))?);
        r.files.push(p);
    }
    if let Some(p) = find(dir, CALIBRATION_VIEW_JSON) {
        r.calibration = Some(serde_json::from_str(&read(&p)?).map_err(|e| parse_err(&p, e))?);
        r.files.push(p);
    }
    if let Some(p) = find(dir, FLEET_JSON) {
        r.fleet = Some(FleetTable::from_json(&read(&p)?).map_err(|e| parse_err(&p, e))?);
        r.files.push(p);
    }
    if let Some(p) = find(dir, MD_DIFFUSION_JSON) {
        r.md_diffusion = Some(serde_json::from_str(&read(&p)?).map_err(|e| parse_err(&p, e))?);
        r.files.push(p);
    }
    if let Some(p) = find(dir, MD_ARRHENIUS_JSON) {
        r.md_arrhenius = Some(serde_json::from_str(&read(&p)?).map_err(|e| parse_err(&p, e))?);
        r.files.push(p);
    }
    if let Some(p) = find(dir, MD_DENSITY_JSON) {
        r.md_density = Some(serde_json::from_str(&read(&p)?).map_err(|e| parse_err(&p, e))?);
        r.files.push(p);
    }
    if let Some(p) = find(dir, PROVENANCE_FILE) {
        r.provenance = Some(serde_json::from_str(&read(&p)?).map_err(|e| parse_err(&p, e))?);
        r.files.push(p);
    }
    if r.propagation.is_none()
        && r.sensitivity.is_none()
        && r.calibration.is_none()
        && r.fleet.is_none()
        && r.md_diffusion.is_none()
        && r.md_arrhenius.is_none()
        && r.md_density.is_none()
    {
        return Err(ReportError::NothingFound {
            dir: dir.to_path_buf(),
        });
    }
    Ok(r)
}

/// Which kinds of result a report holds, for [`reading_guide`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Contents {
    /// An uncertainty propagation (delta method and/or Monte Carlo).
    pub propagation: bool,
    /// A sensitivity analysis.
    pub sensitivity: bool,
    /// A calibration (NUTS or MAP + Laplace).
    pub calibration: bool,
}

/// "Reading this report": every convention and concept the parts use, defined once here
/// rather than in each part (number format, intervals, the delta method against Monte Carlo,
/// the Arrhenius plot, the two refine-next measures, the posterior figures).
pub fn reading_guide(c: Contents) -> Section {
    let mut b = vec![
        Block::Paragraph(
            "Numbers. A value with an uncertainty is written mean ± sd with the sd rounded to two significant digits and the mean to the same decimal; where a power of ten is needed it is shared, as in (3.45 ± 0.10) × 10⁻¹⁴ m²/s, and applies to every number before it. Units are SI unless the study states another; dimensionless values carry none.".into(),
        ),
    ];
    if c.propagation {
        b.push(Block::Paragraph(
            "Intervals. Monte Carlo intervals are empirical central quantiles (68 % and 95 %). Delta-method intervals are normal about the linearised mean, μ ± z·σ. For a quantity that cannot be negative (every Monte Carlo interval above zero) whose sd exceeds 10 % of its mean, or whose linear-scale interval would reach below zero, they are taken on the log scale, exp(ln μ ± z·σ/μ); for a dimensionless fraction on the logit scale, so they stay in range. Where the linear-scale interval leaves the physical range it is listed as well, highlighted and marked unphysical.".into(),
        ));
        b.push(Block::Paragraph(
            "Delta method against Monte Carlo. The delta method linearises the model at the input medians; Monte Carlo samples the inputs and runs the model. Where they differ by more than 3 Monte Carlo standard errors and more than 1 %, the output is flagged and the Monte Carlo result is the one to use. The relative difference (Monte Carlo − delta)/|delta| is undefined where the delta-method value is exactly 0; such points are named, not plotted.".into(),
        ));
        b.push(Block::Paragraph(
            "Arrhenius plot. A quantity that follows y = y₀·exp(−E_a/(k_B·T)) is drawn as ln y against 1000/T: a straight line of slope −E_a/(1000·k_B). Curves against temperature whose values are all positive are drawn this way. A flat stretch of an open-circuit potential against composition at the input medians is a two-phase plateau and is shaded.".into(),
        ));
    }
    if c.sensitivity {
        b.push(Block::Paragraph(
            "Which calculation to refine next. The ranking gives the share of an output's variance removed if one input's sd were halved (its relative sd for a log-normal input), correlations kept. The variance decomposition gives the share removed if the input were known exactly (its own term). The two answer different questions: for an uncorrelated input, halving removes ¾ of the known-exactly share; with correlated inputs they differ further, because halving one input's sd also shrinks its covariance terms with the others.".into(),
        ));
    }
    if c.calibration {
        b.push(Block::Paragraph(
            "Posterior figures. Densities are Gaussian kernel density estimates (Silverman's bandwidth) over all chains; the atomistic prior is dashed. When the posterior is far narrower than the prior, a second panel shows where it lies on the prior's scale. A shift of the posterior mean beyond 3 prior sds is a prior–data conflict. Diagnostics follow Vehtari et al. (2021): R̂ above 1.01 or an effective sample size below 400 is a warning.".into(),
        ));
    }
    Section::new("Reading this report", b)
}

/// One report combining whatever the run holds: propagation, then sensitivity, then calibration.
pub fn combined_report(r: &RunResults) -> Report {
    let mut sections = Vec::new();
    let mut title = String::new();
    if let Some(p) = &r.propagation {
        title = p.title.clone();
        sections.extend(propagation_sections(p));
    }
    if let Some(s) = &r.sensitivity {
        sections.extend(sensitivity_sections(s));
    }
    if let Some(c) = &r.calibration {
        if title.is_empty() {
            title = c.title.clone();
        }
        sections.extend(calibration_sections(c));
    }
    if let Some(f) = &r.fleet {
        if title.is_empty() {
            title = f.title.clone();
        }
        sections.extend(fleet_sections(f));
    }
    if let Some(d) = &r.md_diffusion {
        if title.is_empty() {
            title = format!("MD diffusion at {} K", d.temperature_k);
        }
        sections.extend(diffusion_sections(d));
    }
    if let Some(a) = &r.md_arrhenius {
        if title.is_empty() {
            title = "MD Arrhenius".into();
        }
        sections.extend(arrhenius_sections(a));
    }
    if let Some(d) = &r.md_density {
        if title.is_empty() {
            title = format!("MD coarse-grained {} density", d.species);
        }
        sections.extend(density_sections(d));
    }
    sections.insert(
        0,
        reading_guide(Contents {
            propagation: r.propagation.is_some(),
            sensitivity: r.sensitivity.is_some(),
            calibration: r.calibration.is_some() || r.fleet.is_some(),
        }),
    );
    let mut prov = match &r.provenance {
        Some(p) => p.clone(),
        None => Provenance::new(),
    };
    if prov.priors.is_empty()
        && let Some(p) = &r.propagation
        && !p.source.trim().is_empty()
    {
        prov.settings
            .push(("priors source".into(), p.source.trim().to_string()));
    }
    for f in &r.files {
        prov.settings
            .push(("results file".into(), f.display().to_string()));
    }
    let what: Vec<&str> = [
        r.propagation.as_ref().map(|_| "uncertainty propagation"),
        r.sensitivity.as_ref().map(|_| "sensitivity analysis"),
        r.calibration.as_ref().map(|_| "calibration"),
        r.fleet.as_ref().map(|_| "fleet calibration"),
        r.md_diffusion.as_ref().map(|_| "MD diffusion"),
        r.md_arrhenius.as_ref().map(|_| "MD Arrhenius"),
        r.md_density.as_ref().map(|_| "MD density"),
    ]
    .into_iter()
    .flatten()
    .collect();
    Report {
        title: if title.is_empty() {
            "bridgelaw report".into()
        } else {
            title
        },
        subtitle: format!("{} (bridgelaw)", what.join(", ")),
        sections,
        provenance: prov.entries(),
    }
}

/// Read `dir` and write `report.html` + `figures/` into `out` (default `dir`). Returns the HTML path.
pub fn report_run_dir(dir: &Path, out: Option<&Path>) -> Result<PathBuf, ReportError> {
    let r = read_run_dir(dir)?;
    let out = out.unwrap_or(dir);
    write_report(out, &combined_report(&r)).map_err(|source| ReportError::Io {
        path: out.to_path_buf(),
        source,
    })
}
