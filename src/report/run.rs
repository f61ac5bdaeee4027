//! `bridgelaw report RUN_DIR`: find the JSON results of a run (propagation.json,
//! sensitivity.json, calibration_view.json, provenance.json — in RUN_DIR or one level below)
//! and write one combined HTML report.

use super::calibrate_report::{CALIBRATION_VIEW_JSON, CalibrationView, calibration_sections};
use super::fleet_report::fleet_sections;
use super::html::{Report, write_report};
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
    #[error(
        "{dir}: no results found (looked for {PROPAGATION_JSON}, {SENSITIVITY_JSON}, {CALIBRATION_VIEW_JSON}, {FLEET_JSON}, {MD_DIFFUSION_JSON}, {MD_ARRHENIUS_JSON}, {MD_DENSITY_JSON} here and one level below)"
    )]
    NothingFound { dir: PathBuf },
    #[error(
        "{dir}: {found} (expected the folder of a run: propagate, sensitivity, calibrate or calibrate-fleet --out)"
    )]
    NotAFolder { dir: PathBuf, found: &'static str },
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
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
    pub propagation: Option<PropagationResults>,
    pub sensitivity: Option<SensitivityParts>,
    pub calibration: Option<CalibrationView>,
    /// A `calibrate-fleet` run's table (fleet.json).
    pub fleet: Option<FleetTable>,
    pub md_diffusion: Option<MdDiffusionView>,
    pub md_arrhenius: Option<MdArrheniusView>,
    pub md_density: Option<MdDensityView>,
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
