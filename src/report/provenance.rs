//! Provenance of a run: priors files and their `source` texts, data files, seed, bridgelaw
//! version and settings — shown at the end of every HTML report.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name of the provenance record written beside a run's results.
pub const PROVENANCE_FILE: &str = "provenance.json";

/// A priors file and the `source` text it declares (where the atomistic numbers came from).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PriorsFile {
    /// Path of the priors file as given.
    pub path: String,
    /// Its text.
    pub source: String,
}

/// Where a run's numbers came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The study file, if the run came from one.
    pub study: Option<String>,
    /// The priors files read.
    pub priors: Vec<PriorsFile>,
    /// Measured data files (calibration).
    pub data_files: Vec<String>,
    /// The random seed, if the run used one.
    pub seed: Option<u64>,
    /// Other settings (name, value), e.g. ("samples", "100000").
    pub settings: Vec<(String, String)>,
    /// bridgelaw version that produced the run.
    pub version: String,
    /// The run's id ([`crate::run_folder::run_id`]), also in the folder's manifest; absent in
    /// records written before run ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

impl Provenance {
    /// An empty record stamped with this bridgelaw version.
    pub fn new() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        }
    }

    /// A record for a study file: its path and every priors file with its `source` text
    /// (read from the file; a file that cannot be read is listed with the reason).
    pub fn from_study(study: &Path, priors_files: &[std::path::PathBuf]) -> Self {
        let mut p = Self::new();
        p.study = Some(study.display().to_string());
        p.priors = priors_files
            .iter()
            .map(|f| PriorsFile {
                path: f.display().to_string(),
                source: match crate::dist::file::load_priors(f) {
                    Ok(d) => d.source,
                    Err(e) => format!("(could not read: {e})"),
                },
            })
            .collect();
        p
    }

    /// The (key, value) rows shown in the report's provenance list.
    pub fn entries(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        if let Some(s) = &self.study {
            v.push(("study".to_string(), s.clone()));
        }
        for f in &self.priors {
            v.push((
                format!("priors file {}", f.path),
                if f.source.trim().is_empty() {
                    "(no source given)".into()
                } else {
                    f.source.trim().to_string()
                },
            ));
        }
        for d in &self.data_files {
            v.push(("data file".into(), d.clone()));
        }
        if let Some(s) = self.seed {
            v.push(("seed".into(), s.to_string()));
        }
        for (k, val) in &self.settings {
            v.push((k.clone(), val.clone()));
        }
        let ver = if self.version.is_empty() {
            "unknown".to_string()
        } else {
            self.version.clone()
        };
        v.push(("bridgelaw version".into(), ver));
        if let Some(id) = &self.run_id {
            v.push(("run id".into(), id.clone()));
        }
        v.push((
            "report written by".into(),
            format!("bridgelaw {}", env!("CARGO_PKG_VERSION")),
        ));
        v
    }
}
