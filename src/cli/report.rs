//! `bridgelaw report RUN_DIR [--out DIR]`: one self-contained HTML report from a run's JSON results.

use super::CliError;
use bridgelaw::report::run::report_run_dir;
use bridgelaw::run_folder::TargetLock;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run directory holding propagation.json, sensitivity.json and/or calibration_view.json
    /// (directly or in its subdirectories), e.g. reports/<study>.
    pub run_dir: PathBuf,
    /// Output directory for report.html and figures/ (default RUN_DIR).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(a: ReportArgs) -> Result<(), CliError> {
    // No run may swap the folder while the report is written into it (a folder that does not
    // exist yet is not locked: locking would create its parent).
    let out = a.out.as_deref().unwrap_or(&a.run_dir);
    let _lock = if out.is_dir() {
        Some(TargetLock::acquire(out)?)
    } else {
        None
    };
    match report_run_dir(&a.run_dir, a.out.as_deref()) {
        Ok(p) => {
            eprintln!("wrote {}", p.display());
            Ok(())
        }
        Err(e) if e.is_user_error() => Err(CliError::bad(e)),
        Err(e) => Err(CliError::failed(e)),
    }
}
