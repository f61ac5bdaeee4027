//! `bridgelaw priors ...`: summarise a priors file; build one from raw atomistic results.

use super::CliError;
use bridgelaw::dist::estimate::{self, Table};
use bridgelaw::dist::{self, DistError, JointDistribution, Parameter, Transform};
use clap::{Args, Subcommand};
use nalgebra::{DMatrix, DVector};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum PriorsCommand {
    /// Table of each parameter (value ± sd, 95 % interval, unit) and the correlation matrix.
    Summary {
        /// A priors file (priors/*.toml).
        file: PathBuf,
    },
    /// Independent replicas (CSV: a row per run, a column per quantity, header `name [unit]`)
    /// → mean and covariance of the mean.
    FromReplicas {
        csv: PathBuf,
        /// Unit for a column whose header has none: NAME=UNIT (repeatable).
        #[arg(long = "unit", value_parser = parse_kv)]
        units: Vec<(String, String)>,
        #[command(flatten)]
        out: OutArgs,
    },
    /// One correlated time series (e.g. an MD observable) → mean with a block-averaging
    /// (Flyvbjerg–Petersen) standard error.
    FromSeries {
        csv: PathBuf,
        /// The column holding the series.
        #[arg(long)]
        column: String,
        /// Unit of the series, if the header gives none.
        #[arg(long)]
        unit: Option<String>,
        #[command(flatten)]
        out: OutArgs,
    },
    /// MD diffusivities D(T_i) ± σ_i → weighted least-squares Arrhenius fit (ln D0, E_a) with
    /// their covariance.
    FromArrhenius {
        csv: PathBuf,
        /// Temperature column [K].
        #[arg(long, default_value = "T")]
        t_column: String,
        /// Diffusivity column.
        #[arg(long, default_value = "D")]
        d_column: String,
        /// Column with the standard error of D (same unit as D).
        #[arg(long, default_value = "sd")]
        sd_column: String,
        /// Unit of D when the header gives none (e.g. m^2/s, cm^2/s).
        #[arg(long)]
        d_unit: Option<String>,
        #[command(flatten)]
        out: OutArgs,
    },
}

#[derive(Debug, Args)]
pub struct OutArgs {
    /// Write the priors TOML here (default: print it).
    #[arg(long)]
    pub(super) out: Option<PathBuf>,
    /// Overwrite an existing output file.
    #[arg(long)]
    pub(super) force: bool,
    /// Title stored in the file.
    #[arg(long, default_value = "")]
    pub(super) title: String,
    /// Free-text source (method, functional, supercell, reference) stored in the file.
    #[arg(long, default_value = "")]
    pub(super) source: String,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .ok_or_else(|| format!("expected NAME=UNIT, found '{s}'"))
}

pub fn run(cmd: PriorsCommand) -> Result<(), CliError> {
    match cmd {
        PriorsCommand::Summary { file } => {
            let d = dist::load_priors(&file).map_err(CliError::bad)?;
            print!("{}", dist::summary::summary_table(&d));
            Ok(())
        }
        PriorsCommand::FromReplicas { csv, units, out } => {
            let t = estimate::read_numeric_csv(&csv).map_err(CliError::bad)?;
            let d = estimate::from_replicas(&t, &units, &out.title, &out.source)
                .map_err(CliError::bad)?;
            eprintln!("{} replicas of {} quantities", t.rows.len(), t.names.len());
            emit(&d, &out)
        }
        PriorsCommand::FromSeries {
            csv,
            column,
            unit,
            out,
        } => {
            let t = estimate::read_numeric_csv(&csv).map_err(CliError::bad)?;
            let (c, unit) = column_and_unit(&t, &column, unit)?;
            let series: Vec<f64> = t.rows.iter().map(|r| r[c]).collect();
            let b = estimate::block_average(&series).ok_or_else(|| {
                CliError::bad(format!(
                    "{}: column '{column}': expected at least 32 samples for block averaging, found {}",
                    csv.display(),
                    series.len()
                ))
            })?;
            eprintln!(
                "mean {} ± {} (plateau at block length {}, {} blocks{})",
                b.mean,
                b.std_error,
                b.plateau.block_length,
                b.plateau.n_blocks,
                if b.converged {
                    ""
                } else {
                    "; NO plateau found: the series is too short for its correlation time, the error is a lower bound"
                }
            );
            let note = format!(
                "mean of {} correlated samples; sd = Flyvbjerg-Petersen block-averaging standard error, plateau at block length {} ({} blocks){}",
                series.len(),
                b.plateau.block_length,
                b.plateau.n_blocks,
                if b.converged {
                    ""
                } else {
                    "; no plateau reached (lower bound)"
                }
            );
            let d = single_normal(&column, &unit, b.mean, b.std_error, note, &out)
                .map_err(|e| CliError::bad(format!("{}: {e}", csv.display())))?;
            emit(&d, &out)
        }
        PriorsCommand::FromArrhenius {
            csv,
            t_column,
            d_column,
            sd_column,
            d_unit,
            out,
        } => {
            let t = estimate::read_numeric_csv(&csv).map_err(CliError::bad)?;
            let (ct, tu) = column_and_unit(&t, &t_column, Some("K".into()))?;
            if tu != "K" {
                return Err(CliError::bad(format!(
                    "{}: column '{t_column}': expected temperature in K, found unit '{tu}'",
                    csv.display()
                )));
            }
            let (cd, du) = column_and_unit(&t, &d_column, d_unit.clone())?;
            let (cs, su) = column_and_unit(&t, &sd_column, Some(du.clone()))?;
            if su != du {
                return Err(CliError::bad(format!(
                    "{}: column '{sd_column}': expected the unit of D ('{du}'), found '{su}'",
                    csv.display()
                )));
            }
            let col = |c: usize| t.rows.iter().map(|r| r[c]).collect::<Vec<f64>>();
            let fit = estimate::arrhenius_fit(&col(ct), &col(cd), &col(cs))
                .map_err(|e| CliError::bad(format!("{}: {e}", csv.display())))?;
            eprintln!(
                "E_a = {:.4} ± {:.4} eV, ln D0 = {:.3} ± {:.3} (D in {du}), corr = {:+.3}, chi2 = {:.2} on {} dof",
                fit.e_a,
                fit.sd_e_a(),
                fit.ln_d0,
                fit.sd_ln_d0(),
                fit.correlation(),
                fit.chi2,
                fit.dof
            );
            let d = fit
                .to_distribution(&du, &out.title, &out.source)
                .map_err(CliError::bad)?;
            emit(&d, &out)
        }
    }
}

fn column_and_unit(
    t: &Table,
    name: &str,
    fallback: Option<String>,
) -> Result<(usize, String), CliError> {
    let c = t.column(name).ok_or_else(|| {
        CliError::bad(format!(
            "{}: expected a column named '{name}', found columns: {}",
            t.file.display(),
            t.names.join(", ")
        ))
    })?;
    let unit = t.units[c].clone().or(fallback).ok_or_else(|| {
        CliError::bad(format!(
            "{}: column '{name}': expected a unit in the header ('{name} [unit]') or on the command line",
            t.file.display()
        ))
    })?;
    Ok((c, unit))
}

fn single_normal(
    name: &str,
    unit: &str,
    mean: f64,
    sd: f64,
    note: String,
    out: &OutArgs,
) -> Result<JointDistribution, DistError> {
    JointDistribution::new(
        out.title.clone(),
        out.source.clone(),
        vec![Parameter {
            name: name.into(),
            unit: unit.into(),
            transform: Transform::Identity,
            source: Some(note),
        }],
        DVector::from_element(1, mean),
        DMatrix::from_element(1, 1, sd * sd),
    )
}

/// Print the priors TOML or write it atomically to `--out` (never over an existing file without
/// `--force`); shared with `bridgelaw md`.
pub(super) fn emit(d: &JointDistribution, out: &OutArgs) -> Result<(), CliError> {
    let text = dist::file::to_toml(d);
    match &out.out {
        None => {
            print!("{text}");
            Ok(())
        }
        Some(p) => write_new(p, &text, out.force),
    }
}

fn write_new(p: &Path, text: &str, force: bool) -> Result<(), CliError> {
    use bridgelaw::run_folder::{Existing, write_result_file};
    write_result_file(p, text.as_bytes(), Existing::from_force(force))?;
    eprintln!("wrote {}", p.display());
    Ok(())
}
