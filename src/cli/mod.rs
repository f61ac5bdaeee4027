//! Subcommands. Each handler reads its inputs, calls the library and writes outputs; no science.

mod balance;
mod bpx;
mod calibrate;
mod demo;
mod fleet;
mod md;
mod merge;
#[cfg(feature = "mpi")]
mod mpi;
mod priors;
mod propagate;
mod report;
mod sensitivity;
mod simulate;

use bridgelaw::report::{html::Report, provenance::PROVENANCE_FILE, provenance::Provenance};
use bridgelaw::run_folder::{Existing, RunFolder, run_id};
use clap::{Parser, Subcommand};
use std::fmt;
use std::path::Path;

/// Carry atomistic estimates (DFT, NEB, MD) with their uncertainty up to continuum battery-model
/// parameters.
#[derive(Debug, Parser)]
#[command(name = "bridgelaw", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The whole pipeline on the shipped studies, ending with an HTML report in reports/demo.
    Demo(demo::DemoArgs),
    /// Inspect priors files and build them from raw atomistic results.
    #[command(subcommand)]
    Priors(priors::PriorsCommand),
    /// MD trajectories → diffusivity, conductivity and Haven ratio with honest uncertainty, and
    /// Arrhenius fits over temperatures → priors files.
    #[command(subcommand)]
    Md(md::MdCommand),
    /// Parameter sets with error bars: delta method and Monte Carlo through a study's model.
    Propagate(propagate::PropagateArgs),
    /// Calibrate a cell study against its measured curves with NUTS (or --map), atomistic priors as the prior.
    Calibrate(calibrate::CalibrateArgs),
    /// Calibrate every cell of a fleet (one folder of curves per cell) with one calibrate
    /// study: one table of per-cell posteriors, diagnostics and residuals; shard- and MPI-aware.
    CalibrateFleet(fleet::CalibrateFleetArgs),
    /// Electrode balancing: each electrode's stoichiometry window fitted to a pseudo-OCV
    /// discharge (MAP + Laplace), written as a priors file for the rate calibration.
    Balance(balance::BalanceArgs),
    /// Sensitivity ranking of the atomistic inputs: which calculation to refine next.
    Sensitivity(sensitivity::SensitivityArgs),
    /// One SPM/SPMe voltage curve from a BPX parameter file, as CSV.
    Simulate(simulate::SimulateArgs),
    /// BPX files: export a run's parameter set with its error bars (BPX 1.x).
    #[command(subcommand)]
    Bpx(bpx::BpxCommand),
    /// List the bridging laws a study can name, with their equations.
    Laws,
    /// One self-contained HTML report (figures, tables, provenance) from a run directory.
    Report(report::ReportArgs),
    /// Combine the part files of a sharded run (--shard K/N) into the run folder a single
    /// process writes, bit for bit.
    Merge(merge::MergeArgs),
}

/// A CLI failure: bad user input (exit 2) or a failure to write results (exit 1).
#[derive(Debug)]
pub enum CliError {
    BadInput(String),
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::BadInput(_) => 2,
            CliError::Failed(_) => 1,
        }
    }
    pub fn bad(e: impl fmt::Display) -> Self {
        CliError::BadInput(e.to_string())
    }
    pub fn failed(e: impl fmt::Display) -> Self {
        CliError::Failed(e.to_string())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::BadInput(m) | CliError::Failed(m) => f.write_str(m),
        }
    }
}

impl From<bridgelaw::run_folder::RunFolderError> for CliError {
    fn from(e: bridgelaw::run_folder::RunFolderError) -> Self {
        if e.is_user_error() {
            CliError::bad(e)
        } else {
            CliError::failed(e)
        }
    }
}

/// Start writing the run folder `out` (see [`bridgelaw::run_folder`]): refused with exit 2 when
/// another run writes it, or when it holds a previous result and `force` is not given.
fn begin_run_folder(out: &Path, force: bool) -> Result<RunFolder, CliError> {
    Ok(RunFolder::begin(out, Existing::from_force(force))?)
}

/// The end of every command that writes a run folder (propagate, sensitivity, calibrate, with
/// or without --map, merge): `provenance.json` always, stamped with the run id, beside the
/// command's results, so `bridgelaw report RUN_DIR` renders any run folder; `report.html` and
/// `figures/` when the command was given --report; then the manifest and the swap that puts the
/// whole folder in place. The files are named on stderr once they are there.
fn finish_run_folder(
    run: RunFolder,
    command: &str,
    prov: &mut Provenance,
    report: impl FnOnce(&Provenance) -> Option<Report>,
) -> Result<(), CliError> {
    prov.run_id = None;
    let unstamped = serde_json::to_string(prov).map_err(CliError::failed)?;
    let id = run_id(command, &unstamped);
    prov.run_id = Some(id.clone());
    let p = run.path().join(PROVENANCE_FILE);
    let json = serde_json::to_string_pretty(prov).map_err(CliError::failed)?;
    bridgelaw::output::write_atomic(&p, json.as_bytes())
        .map_err(|e| CliError::failed(format!("{}: {e}", run.shown(&p).display())))?;
    if let Some(r) = report(prov) {
        bridgelaw::report::html::write_report(run.path(), &r)
            .map_err(|e| CliError::failed(format!("{}: {e}", run.target().display())))?;
    }
    for f in run.commit(command, &id)? {
        eprintln!("wrote {}", f.display());
    }
    Ok(())
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Priors(c) => priors::run(c),
        Command::Md(c) => md::run(c),
        Command::Propagate(a) => propagate::run(a),
        Command::Sensitivity(a) => sensitivity::run(a),
        Command::Calibrate(a) => calibrate::run(a),
        Command::CalibrateFleet(a) => fleet::run(a),
        Command::Balance(a) => balance::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Bpx(c) => bpx::run(c),
        Command::Laws => {
            for (name, desc) in bridgelaw::laws::catalogue::law_catalogue() {
                println!("{name}\n    {desc}");
            }
            Ok(())
        }
        Command::Report(a) => report::run(a),
        Command::Merge(a) => merge::run(a),
    }
}
