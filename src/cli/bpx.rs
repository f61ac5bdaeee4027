//! `bridgelaw bpx export RUN_DIR [--base FILE] --out FILE`: a calibration's or propagation's
//! parameter set with its error bars as a BPX 1.x file (library: [`bridgelaw::cell::bpx_export`]).

use super::CliError;
use bridgelaw::calibrate::validate::FitPoint;
use bridgelaw::cell::bpx_export::{BpxExportError, export_run, read_base, read_run_parameters};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum BpxCommand {
    /// Write a run's parameters (calibration: posterior mean or MAP; propagation: the mean) as
    /// a BPX 1.x file, each parameter's distribution under Parameterisation/User-defined.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A calibration run folder (calibrate, with or without --map) or a propagation run folder
    /// (propagate, with or without --posterior).
    pub run_dir: PathBuf,
    /// The BPX file for every value the run did not vary (default: the file the run's study
    /// names in [model] bpx, the study found through the run's provenance.json).
    #[arg(long, value_name = "FILE")]
    pub base: Option<PathBuf>,
    /// For a calibration: map (the posterior mode) or mean (the posterior mean); default mean
    /// for a NUTS run, map for a --map run.
    #[arg(long)]
    pub at: Option<String>,
    /// The BPX file to write (replaced if it exists).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Run a `bpx` subcommand.
pub fn run(c: BpxCommand) -> Result<(), CliError> {
    match c {
        BpxCommand::Export(a) => export(a),
    }
}

fn export(a: ExportArgs) -> Result<(), CliError> {
    let at = match a.at.as_deref() {
        None => None,
        Some("map") => Some(FitPoint::Map),
        Some("mean") => Some(FitPoint::PosteriorMean),
        Some(other) => {
            return Err(CliError::bad(format!(
                "--at '{other}': expected map or mean"
            )));
        }
    };
    let bad = |e: BpxExportError| CliError::bad(e);
    let run = read_run_parameters(&a.run_dir, at).map_err(bad)?;
    let (base_file, base) = read_base(&a.run_dir, a.base.as_deref()).map_err(bad)?;
    let text = export_run(&run, &base, &base_file).map_err(bad)?;
    use bridgelaw::run_folder::{Existing, write_result_file};
    write_result_file(&a.out, text.as_bytes(), Existing::Replace)?;
    for p in &run.params {
        eprintln!(
            "{} = {:e} {} ({} of {})",
            p.name,
            p.central,
            p.unit,
            run.central.describe(),
            run.dir.display()
        );
    }
    if !run.skipped.is_empty() {
        eprintln!(
            "not exported (law inputs, their effect is in the linked cell parameters): {}",
            run.skipped.join(", ")
        );
    }
    eprintln!(
        "wrote {} (BPX {}; base {})",
        a.out.display(),
        bridgelaw::cell::bpx::BPX_VERSION_WRITTEN,
        base_file.display()
    );
    Ok(())
}
