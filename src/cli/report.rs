//! `bridgelaw report RUN_DIR [--out DIR]`: one self-contained HTML report from a run's JSON results.

use super::CliError;
use bridgelaw::report::run::{ReportError, report_run_dir};
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
    match report_run_dir(&a.run_dir, a.out.as_deref()) {
        Ok(p) => {
            eprintln!("wrote {}", p.display());
            Ok(())
        }
        Err(e @ (ReportError::NothingFound { .. } | ReportError::Parse { .. })) => {
            Err(CliError::bad(e))
        }
        Err(e) => Err(CliError::failed(e)),
    }
}
