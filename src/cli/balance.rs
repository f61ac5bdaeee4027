//! `bridgelaw balance --bpx FILE --data OCV.csv`: electrode stoichiometry windows fitted to a
//! pseudo-OCV discharge, written as a priors file for the rate-curve calibration.
//!
//! A subcommand of its own rather than `calibrate --balance`: it needs a cell and one slow
//! curve, not a study; its model (OCPs only) and its result (a priors file) differ from a
//! rate calibration's; and the file between the two stages lets the rate study state, in its
//! own text, whether it takes the windows as a prior or as fixed values.

use super::CliError;
use bridgelaw::calibrate::balance::balance;
use bridgelaw::calibrate::data::{SignConvention, read_curve};
use bridgelaw::cell::read_bpx_file;
use bridgelaw::output::write_atomic;
use bridgelaw::report::provenance::Provenance;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct BalanceArgs {
    /// BPX parameter file: its OCPs, and its windows as the prior centre.
    #[arg(long)]
    pub bpx: PathBuf,
    /// A pseudo-OCV curve (C/20 or slower): one discharge from full to empty, in a cycler file
    /// (time, current, voltage).
    #[arg(long)]
    pub data: PathBuf,
    /// Sign of the file's current: discharge-negative | discharge-positive.
    #[arg(long)]
    pub sign: String,
    /// Cell temperature [K] (default: the BPX temperature).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// At most this many points of the curve (evenly thinned).
    #[arg(long, default_value_t = 300)]
    pub max_points: usize,
    /// Spread of each window end's prior, in logit space.
    #[arg(long, default_value_t = bridgelaw::calibrate::balance::PRIOR_LOGIT_SD)]
    pub prior_logit_sd: f64,
    /// Output directory (default reports/<data file stem>/balance).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace the result of a previous run in --out (kept until the new run is complete).
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: BalanceArgs) -> Result<(), CliError> {
    let sign = SignConvention::parse(&a.sign).ok_or_else(|| {
        CliError::bad(format!(
            "--sign '{}': expected discharge-negative or discharge-positive",
            a.sign
        ))
    })?;
    if a.max_points < 10 {
        return Err(CliError::bad(format!(
            "--max-points {}: expected at least 10",
            a.max_points
        )));
    }
    if !(a.prior_logit_sd > 0.0 && a.prior_logit_sd.is_finite()) {
        return Err(CliError::bad(format!(
            "--prior-logit-sd {}: expected a positive number",
            a.prior_logit_sd
        )));
    }
    let cell = read_bpx_file(&a.bpx).map_err(CliError::bad)?.params;
    let t = a.temperature.unwrap_or(cell.temperature);
    if !(t > 0.0 && t.is_finite()) {
        return Err(CliError::bad(format!(
            "--temperature {t}: expected a temperature in K (> 0)"
        )));
    }
    let full = read_curve(&a.data, sign).map_err(CliError::bad)?;
    let out = a.out.clone().unwrap_or_else(|| {
        PathBuf::from("reports")
            .join(
                a.data
                    .file_stem()
                    .map_or("data".into(), |s| s.to_string_lossy().into_owned()),
            )
            .join("balance")
    });
    // Locked and checked before the work: a busy or occupied --out is said at once.
    let run = super::begin_run_folder(&out, a.force)?;
    let curve = full.thinned(full.time_s.len().div_ceil(a.max_points));
    let (res, windows) = balance(&cell, &curve, t, a.prior_logit_sd).map_err(|e| match e {
        bridgelaw::calibrate::CalibrateError::Input(_)
        | bridgelaw::calibrate::CalibrateError::NoValidStart { .. } => CliError::bad(e),
        e => CliError::failed(e),
    })?;
    println!(
        "{} points, {:.4} A h passed; {}",
        res.points, res.capacity_ah, res.optimiser
    );
    println!("| window end | BPX | MAP | sd | 5 % | 95 % |\n|---|---|---|---|---|---|");
    for w in &res.windows {
        println!(
            "| {} | {:.4} | {:.4} | {:.1e} | {:.4} | {:.4} |",
            w.name, w.prior_centre, w.map, w.sd, w.q5, w.q95
        );
    }
    println!(
        "pseudo-OCV RMS residual: {:.2} mV at the BPX windows, {:.2} mV balanced (noise sd {:.2} mV)",
        1e3 * res.rmse_prior_centre_v,
        1e3 * res.rmse_map_v,
        1e3 * res.sigma_v
    );
    let write = |name: &str, text: &str| -> Result<(), CliError> {
        let p = run.path().join(name);
        write_atomic(&p, text.as_bytes())
            .map_err(|e| CliError::failed(format!("{}: {e}", run.shown(&p).display())))
    };
    write(
        "balance.json",
        &serde_json::to_string_pretty(&res).map_err(CliError::failed)?,
    )?;
    write(
        "balance_priors.toml",
        &bridgelaw::dist::file::to_toml(&windows),
    )?;
    let mut prov = Provenance::new();
    prov.data_files = vec![a.data.display().to_string()];
    prov.settings = vec![
        ("bpx".into(), a.bpx.display().to_string()),
        ("temperature_K".into(), t.to_string()),
        ("prior_logit_sd".into(), a.prior_logit_sd.to_string()),
        ("method".into(), "MAP + Laplace".into()),
    ];
    super::finish_run_folder(run, "balance", &mut prov, |_| None)
}
