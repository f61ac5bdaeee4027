//! `bridgelaw md ...`: MD trajectories → tracer and collective diffusivities, conductivity and
//! Haven ratio at one temperature, or the Arrhenius (D0, E_a) over several → priors files.

use super::CliError;
use super::priors::{OutArgs, emit};
use bridgelaw::md::analysis::{
    DiffusionSettings, TransportEstimate, arrhenius_extrapolation, arrhenius_from_estimates,
    transport_estimate,
};
use bridgelaw::md::diffusion::{CovarianceModel, Window};
use bridgelaw::md::trajectory::{Selection, TimeSource, TrajectoryFormat};
use bridgelaw::md::{DriftCorrection, LagChoice, TrajectoryMsd, msd_of_trajectory};
use bridgelaw::report::md_report::{
    ArrheniusPoint, MD_ARRHENIUS_JSON, MD_DIFFUSION_JSON, MdArrheniusView, MdDiffusionView,
    arrhenius_sections, diffusion_sections,
};
use clap::{Args, Subcommand, ValueEnum};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum MdCommand {
    /// Trajectories at one temperature (independent runs) → tracer D, collective D, Nernst–Einstein
    /// conductivity and Haven ratio, each with its 95 % interval → a priors file (D lognormal, m^2/s).
    Diffusion(DiffusionArgs),
    /// Trajectories at several temperatures → D(T) each → Arrhenius E_a and D0 with their
    /// correlation → a priors file; D(T) extrapolated to --at with its band.
    Arrhenius(ArrheniusArgs),
    /// Coarse-grain the ions' positions into a density (concentration) field on a grid with a
    /// periodic Gaussian kernel of chosen width: run and window means with block-averaged
    /// standard errors, and a check that the field does not depend on the width → CSV and JSON
    /// in --out DIR.
    Density(DensityArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    /// ASE extended XYZ.
    Xyz,
    /// LAMMPS text dump.
    Lammps,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DriftArg {
    /// Measure positions from the framework's centre (all atoms not of --species).
    Framework,
    /// No correction.
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CovarianceArg {
    /// Exact random-walk covariance of the all-origins MSD, scaled by the data.
    RandomWalk,
    /// kinisi 2.1's estimator (Σ_ij = v_i·n_i/n_j, pseudo-inverse): its D and sd when run with its lags (every lag to the full run: --max-lag the run, --lags twice the frames) and window.
    Kinisi,
}

/// What every md command reads: the species, the format and the times.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// The mobile species: an element (XYZ species, LAMMPS element column) or a LAMMPS type number.
    #[arg(long)]
    species: String,
    /// File format (default: from the extension: .xyz/.extxyz, .lammpstrj/.dump).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// MD integration step in ps: LAMMPS TIMESTEP values (and XYZ step= keys) are multiplied by it.
    #[arg(long)]
    timestep: Option<f64>,
    /// Time between frames in ps; frame k is at k·interval and the file's times are ignored.
    #[arg(long)]
    frame_interval: Option<f64>,
}

impl ReadArgs {
    fn time(&self) -> Result<TimeSource, CliError> {
        positive("timestep", self.timestep)?;
        positive("frame-interval", self.frame_interval)?;
        Ok(match self.frame_interval {
            Some(dt) => TimeSource::FrameInterval(dt),
            None => TimeSource::File {
                md_step_ps: self.timestep,
            },
        })
    }

    fn format_of(&self, p: &Path) -> Result<TrajectoryFormat, CliError> {
        match self.format {
            Some(FormatArg::Xyz) => Ok(TrajectoryFormat::ExtendedXyz),
            Some(FormatArg::Lammps) => Ok(TrajectoryFormat::LammpsDump),
            None => TrajectoryFormat::from_path(p).ok_or_else(|| {
                CliError::bad(format!(
                    "{}: cannot tell the format from the name; expected .xyz/.extxyz or .lammpstrj/.dump, or --format xyz|lammps",
                    p.display()
                ))
            }),
        }
    }
}

#[derive(Debug, Args)]
pub struct TrajectoryArgs {
    #[command(flatten)]
    read: ReadArgs,
    /// Diffusive window START,END in ps (default: automatic, from where the MSD's log-log slope
    /// reaches 1 to the longest lag).
    #[arg(long, value_parser = parse_window)]
    window: Option<Window>,
    /// Longest MSD lag in ps (default: half the run). Memory is (longest lag + 1)·N·3 numbers.
    #[arg(long)]
    max_lag: Option<f64>,
    /// Number of MSD lags (half geometric from one frame, half linear).
    #[arg(long, default_value_t = 80)]
    lags: usize,
    /// Charge number of the mobile ion (Li+: 1), for the conductivity.
    #[arg(long, default_value_t = 1.0)]
    charge: f64,
    /// Typical hop length in Å, for the jump count.
    #[arg(long, default_value_t = 2.5)]
    hop_length: f64,
    /// MSD covariance model of the GLS fit.
    #[arg(long, value_enum, default_value = "random-walk")]
    covariance: CovarianceArg,
    /// Drift correction before the MSD: `framework` subtracts the displacement of the mean
    /// position of all other atoms since frame 1 (kinisi's and pymatgen's default); `none` uses
    /// the positions as read.
    #[arg(long, value_enum, default_value = "framework")]
    drift: DriftArg,
}

#[derive(Debug, Args)]
pub struct DiffusionArgs {
    /// Trajectory files (independent runs of one system at one temperature).
    #[arg(required = true)]
    trajectories: Vec<PathBuf>,
    /// Temperature of the runs in K.
    #[arg(long)]
    temperature: f64,
    /// Name of the diffusivity parameter in the priors file.
    #[arg(long, default_value = "D")]
    name: String,
    #[command(flatten)]
    traj: TrajectoryArgs,
    #[command(flatten)]
    out: OutArgs,
    #[command(flatten)]
    results: ResultsArgs,
}

#[derive(Debug, Args)]
pub struct ArrheniusArgs {
    /// Trajectory files, one per entry of --temperatures (repeat a temperature for several runs).
    #[arg(required = true)]
    trajectories: Vec<PathBuf>,
    /// Temperature of each trajectory in K, comma-separated, in the same order.
    #[arg(long, value_delimiter = ',', required = true)]
    temperatures: Vec<f64>,
    /// Temperature in K to extrapolate D to (with its 95 % band).
    #[arg(long, default_value_t = 300.0)]
    at: f64,
    #[command(flatten)]
    traj: TrajectoryArgs,
    #[command(flatten)]
    out: OutArgs,
    #[command(flatten)]
    results: ResultsArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AxisArg {
    X,
    Y,
    Z,
}

#[derive(Debug, Args)]
pub struct DensityArgs {
    /// Trajectory files, taken as one time series in this order (segments of one run, or runs of
    /// one system); orthorhombic boxes.
    #[arg(required = true)]
    trajectories: Vec<PathBuf>,
    #[command(flatten)]
    read: ReadArgs,
    /// Kernel width(s) in Å, comma-separated: the sd of the periodic Gaussian (the
    /// representative volume). The first is the field reported; the field at the others is
    /// compared with it (scale separation). One width W checks W/2 and 2W.
    #[arg(long, value_delimiter = ',', required = true)]
    kernel_width: Vec<f64>,
    /// Grid points NX,NY,NZ (or one number for all three); default: spacing at most the smallest
    /// width, 4 to 40 points per axis.
    #[arg(long, value_delimiter = ',')]
    grid: Vec<usize>,
    /// Length of the time windows in ps (default: a tenth of each trajectory).
    #[arg(long)]
    window: Option<f64>,
    /// Axis of the planar-average profile.
    #[arg(long, value_enum, default_value = "z")]
    axis: AxisArg,
    /// Relative change of the averaged field between widths (rms over the grid, fraction of the
    /// mean density) still taken as width-independent, beyond the sampling noise.
    #[arg(long, default_value_t = 0.05)]
    width_tolerance: f64,
    /// Use every STRIDE-th frame.
    #[arg(long, default_value_t = 1)]
    stride: usize,
    /// Output folder: density_field.csv, density_profile.csv, density_windows.csv,
    /// density_summary.json, md_density.json (`bridgelaw report OUT` draws the profile from it).
    #[arg(long)]
    out: PathBuf,
    /// Replace a previous result in --out.
    #[arg(long)]
    force: bool,
}

fn parse_window(s: &str) -> Result<Window, String> {
    let (a, b) = s
        .split_once(',')
        .ok_or_else(|| format!("expected START,END in ps, found '{s}'"))?;
    let p = |v: &str| {
        v.trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| format!("expected a time ≥ 0 in ps, found '{v}'"))
    };
    let (start_ps, end_ps) = (p(a)?, p(b)?);
    if end_ps <= start_ps {
        return Err(format!("expected START < END, found '{s}'"));
    }
    Ok(Window { start_ps, end_ps })
}

fn positive(name: &str, v: Option<f64>) -> Result<(), CliError> {
    match v {
        Some(x) if !(x.is_finite() && x > 0.0) => Err(CliError::bad(format!(
            "--{name}: expected a time > 0 in ps, found {x}"
        ))),
        _ => Ok(()),
    }
}

fn read_runs(paths: &[PathBuf], a: &TrajectoryArgs) -> Result<Vec<TrajectoryMsd>, CliError> {
    let time = a.read.time()?;
    positive("max-lag", a.max_lag)?;
    if a.lags < 4 {
        return Err(CliError::bad(format!(
            "--lags {}: expected at least 4 lags",
            a.lags
        )));
    }
    let lags = LagChoice {
        max_lag_ps: a.max_lag,
        count: a.lags,
    };
    paths
        .iter()
        .map(|p| {
            let format = a.read.format_of(p)?;
            eprintln!("reading {}", p.display());
            let drift = match a.drift {
                DriftArg::Framework => DriftCorrection::Framework,
                DriftArg::None => DriftCorrection::None,
            };
            let m = msd_of_trajectory(
                p,
                format,
                &Selection(a.read.species.clone()),
                time,
                lags,
                drift,
            )
            .map_err(CliError::bad)?;
            match (a.drift, m.framework_drift_a) {
                (DriftArg::Framework, Some(x)) => eprintln!(
                    "{}: framework drift removed (its centre moved up to {x:.3} Å from frame 1)",
                    p.display()
                ),
                (DriftArg::Framework, None) => eprintln!(
                    "{}: no atoms other than '{}': no framework drift correction",
                    p.display(),
                    a.read.species
                ),
                _ => {}
            }
            Ok(m)
        })
        .collect()
}

fn settings(a: &TrajectoryArgs, temperature_k: f64) -> Result<DiffusionSettings, CliError> {
    if !(temperature_k.is_finite() && temperature_k > 0.0) {
        return Err(CliError::bad(format!(
            "--temperature: expected a temperature > 0 K, found {temperature_k}"
        )));
    }
    Ok(DiffusionSettings {
        temperature_k,
        window: a.window,
        covariance: match a.covariance {
            CovarianceArg::RandomWalk => CovarianceModel::RandomWalk,
            CovarianceArg::Kinisi => CovarianceModel::Kinisi,
        },
        charge_number: a.charge,
        hop_length_a: a.hop_length,
        lags: LagChoice::default(),
    })
}

fn estimate_at(
    paths: &[PathBuf],
    a: &TrajectoryArgs,
    temperature_k: f64,
) -> Result<(TransportEstimate, Vec<TrajectoryMsd>), CliError> {
    let s = settings(a, temperature_k)?;
    let runs = read_runs(paths, a)?;
    let n0 = runs[0].curve.n_ions;
    if let Some((p, r)) = paths.iter().zip(&runs).find(|(_, r)| r.curve.n_ions != n0) {
        return Err(CliError::bad(format!(
            "{}: {} ions of species '{}', expected {n0} as in {} (runs at one temperature must be of one system)",
            p.display(),
            r.curve.n_ions,
            a.read.species,
            paths[0].display()
        )));
    }
    let e = transport_estimate(&runs, &s).map_err(|e| {
        CliError::bad(format!(
            "{}: {e}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    Ok((e, runs))
}

/// Where the figures' data go.
#[derive(Debug, Args)]
pub struct ResultsArgs {
    /// Also write a results folder (md_diffusion.json or md_arrhenius.json, provenance.json) that
    /// `bridgelaw report DIR` renders: the MSD with its fitted band, or D(T) with the Arrhenius band.
    #[arg(long)]
    results: Option<PathBuf>,
    /// Write report.html and figures/ into the --results folder too.
    #[arg(long, requires = "results")]
    report: bool,
}

/// Write `name` (JSON of `view`) into the results folder, with provenance and, when asked, the
/// report.
fn write_results<T: serde::Serialize>(
    run: bridgelaw::run_folder::RunFolder,
    command: &str,
    name: &str,
    view: &T,
    files: &[PathBuf],
    report: Option<Vec<bridgelaw::report::html::Section>>,
    title: String,
) -> Result<(), CliError> {
    let p = run.path().join(name);
    let json = serde_json::to_string_pretty(view).map_err(CliError::failed)?;
    bridgelaw::output::write_atomic(&p, json.as_bytes())
        .map_err(|e| CliError::failed(format!("{}: {e}", run.shown(&p).display())))?;
    let mut prov = bridgelaw::report::provenance::Provenance::new();
    prov.data_files = files.iter().map(|p| p.display().to_string()).collect();
    super::finish_run_folder(run, command, &mut prov, |prov| {
        report.map(|sections| bridgelaw::report::html::Report {
            title,
            subtitle: format!("{command} (bridgelaw)"),
            sections,
            provenance: prov.entries(),
        })
    })
}

fn density(a: DensityArgs) -> Result<(), CliError> {
    use bridgelaw::md::coarse::{DensitySettings, WindowLength, density_of_trajectories};
    let time = a.read.time()?;
    if let Some(w) = a
        .kernel_width
        .iter()
        .find(|w| !(w.is_finite() && **w > 0.0))
    {
        return Err(CliError::bad(format!(
            "--kernel-width: expected widths > 0 in Å, found {w}"
        )));
    }
    let mut widths = a.kernel_width.clone();
    if widths.len() == 1 {
        widths.extend([0.5 * widths[0], 2.0 * widths[0]]);
    }
    let grid = match a.grid.as_slice() {
        [] => None,
        _ if a.grid.iter().any(|n| *n < 2) => {
            return Err(CliError::bad(format!(
                "--grid: expected at least 2 points per axis, found {:?}",
                a.grid
            )));
        }
        [n] => Some([*n; 3]),
        [x, y, z] => Some([*x, *y, *z]),
        g => {
            return Err(CliError::bad(format!(
                "--grid: expected NX,NY,NZ or one number, found {} numbers",
                g.len()
            )));
        }
    };
    if grid.is_some_and(|g| g.iter().product::<usize>() > 4_000_000) {
        return Err(CliError::bad(format!(
            "--grid: expected at most 4e6 points in all, found {:?}",
            a.grid
        )));
    }
    positive("window", a.window)?;
    if !(a.width_tolerance.is_finite() && a.width_tolerance >= 0.0) {
        return Err(CliError::bad(format!(
            "--width-tolerance: expected a fraction ≥ 0, found {}",
            a.width_tolerance
        )));
    }
    if a.stride == 0 {
        return Err(CliError::bad("--stride: expected at least 1, found 0"));
    }
    let files = a
        .trajectories
        .iter()
        .map(|p| Ok((p.clone(), a.read.format_of(p)?)))
        .collect::<Result<Vec<_>, CliError>>()?;
    let settings = DensitySettings {
        widths_a: widths,
        grid,
        window: a.window.map_or(WindowLength::TenthOfRun, WindowLength::Ps),
        axis: a.axis as usize,
        tolerance: a.width_tolerance,
        stride: a.stride,
    };
    let run = super::begin_run_folder(&a.out, a.force)?;
    let r = density_of_trajectories(&files, &Selection(a.read.species.clone()), time, &settings)
        .map_err(CliError::bad)?;
    print!("{}", r.text());
    let write = |name: &str, text: &str| -> Result<(), CliError> {
        let p = run.path().join(name);
        bridgelaw::output::write_atomic(&p, text.as_bytes())
            .map_err(|e| CliError::failed(format!("{}: {e}", run.shown(&p).display())))
    };
    write("density_field.csv", &r.field_csv())?;
    write("density_profile.csv", &r.profile_csv())?;
    write("density_windows.csv", &r.windows_csv())?;
    write(
        "density_summary.json",
        &serde_json::to_string_pretty(&r.summary(&a.read.species)).map_err(CliError::failed)?,
    )?;
    // What `bridgelaw report OUT` draws: the profile with its band and the scale check.
    write(
        bridgelaw::report::md_report::MD_DENSITY_JSON,
        &serde_json::to_string_pretty(&bridgelaw::report::md_report::MdDensityView::new(
            &r,
            &a.read.species,
        ))
        .map_err(CliError::failed)?,
    )?;
    let mut prov = bridgelaw::report::provenance::Provenance::new();
    prov.data_files = a
        .trajectories
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    prov.settings = vec![
        ("species".into(), a.read.species.clone()),
        ("kernel_widths_A".into(), format!("{:?}", settings.widths_a)),
        ("grid".into(), format!("{:?}", r.shape)),
        ("width_tolerance".into(), a.width_tolerance.to_string()),
        ("stride".into(), a.stride.to_string()),
    ];
    super::finish_run_folder(run, "md density", &mut prov, |_| None)
}

pub fn run(cmd: MdCommand) -> Result<(), CliError> {
    match cmd {
        MdCommand::Density(a) => density(a),
        MdCommand::Diffusion(a) => {
            let results = match &a.results.results {
                Some(dir) => Some(super::begin_run_folder(dir, a.out.force)?),
                None => None,
            };
            let (e, runs) = estimate_at(&a.trajectories, &a.traj, a.temperature)?;
            print!("{}", e.summary());
            let d = e
                .to_distribution(&a.name, &a.out.title, &a.out.source)
                .map_err(CliError::bad)?;
            emit(&d, &a.out)?;
            if let Some(run) = results {
                let named: Vec<(String, &TrajectoryMsd)> = a
                    .trajectories
                    .iter()
                    .map(|p| p.display().to_string())
                    .zip(&runs)
                    .collect();
                let view = MdDiffusionView::new(&e, &named);
                let sections = a.results.report.then(|| diffusion_sections(&view));
                write_results(
                    run,
                    "md diffusion",
                    MD_DIFFUSION_JSON,
                    &view,
                    &a.trajectories,
                    sections,
                    format!("MD diffusion at {} K", a.temperature),
                )?;
            }
            Ok(())
        }
        MdCommand::Arrhenius(a) => {
            if a.temperatures.len() != a.trajectories.len() {
                return Err(CliError::bad(format!(
                    "--temperatures: expected one temperature per trajectory ({}), found {}",
                    a.trajectories.len(),
                    a.temperatures.len()
                )));
            }
            let results = match &a.results.results {
                Some(dir) => Some(super::begin_run_folder(dir, a.out.force)?),
                None => None,
            };
            let mut temps: Vec<f64> = a.temperatures.clone();
            temps.sort_by(f64::total_cmp);
            temps.dedup();
            let mut estimates = Vec::new();
            for &t in &temps {
                let paths: Vec<PathBuf> = a
                    .trajectories
                    .iter()
                    .zip(&a.temperatures)
                    .filter(|(_, tt)| **tt == t)
                    .map(|(p, _)| p.clone())
                    .collect();
                let (e, _) = estimate_at(&paths, &a.traj, t)?;
                println!("{}", e.summary());
                estimates.push(e);
            }
            let fit = arrhenius_from_estimates(&estimates).map_err(CliError::bad)?;
            let mut summary = String::new();
            let _ = writeln!(summary, "| T [K] | D* [m^2/s] | sd [m^2/s] |");
            let _ = writeln!(summary, "|---|---|---|");
            for e in &estimates {
                let _ = writeln!(
                    summary,
                    "| {} | {:.4e} | {:.3e} |",
                    e.temperature_k, e.tracer.mean, e.tracer.sd
                );
            }
            let _ = writeln!(
                summary,
                "Arrhenius: E_a = {:.4} ± {:.4} eV, D0 = {:.4e} m^2/s (ln D0 = {:.3} ± {:.3}), corr(ln D0, E_a) = {:+.3}, chi2 = {:.2} on {} dof",
                fit.e_a,
                fit.sd_e_a(),
                fit.ln_d0.exp(),
                fit.ln_d0,
                fit.sd_ln_d0(),
                fit.correlation(),
                fit.chi2,
                fit.dof
            );
            let x = arrhenius_extrapolation(&fit, a.at);
            let _ = writeln!(
                summary,
                "D({} K) extrapolated = {:.4e} m^2/s, 95 % band [{:.4e}, {:.4e}]",
                a.at, x.mean, x.interval95[0], x.interval95[1]
            );
            if let Some(e) = estimates
                .iter()
                .find(|e| (e.temperature_k - a.at).abs() < 1e-6 * a.at)
            {
                let _ = writeln!(
                    summary,
                    "D({} K) direct = {:.4e} m^2/s, 95 % interval [{:.4e}, {:.4e}]",
                    a.at, e.tracer.mean, e.tracer.interval95[0], e.tracer.interval95[1]
                );
            }
            print!("{summary}");
            let source = if a.out.source.is_empty() {
                "bridgelaw md arrhenius: tracer D(T) by GLS on the MSD of each temperature"
                    .to_string()
            } else {
                a.out.source.clone()
            };
            let d = fit
                .to_distribution("m^2/s", &a.out.title, &source)
                .map_err(CliError::bad)?;
            emit(&d, &a.out)?;
            if let Some(run) = results {
                let view = MdArrheniusView {
                    points: estimates
                        .iter()
                        .map(|e| ArrheniusPoint {
                            temperature_k: e.temperature_k,
                            d_m2_s: e.tracer.mean,
                            sd_m2_s: e.tracer.sd,
                        })
                        .collect(),
                    ln_d0: fit.ln_d0,
                    e_a_ev: fit.e_a,
                    cov: fit.cov,
                    chi2: fit.chi2,
                    dof: fit.dof,
                    at_k: a.at,
                    summary,
                };
                let sections = a.results.report.then(|| arrhenius_sections(&view));
                write_results(
                    run,
                    "md arrhenius",
                    MD_ARRHENIUS_JSON,
                    &view,
                    &a.trajectories,
                    sections,
                    "MD Arrhenius".into(),
                )?;
            }
            Ok(())
        }
    }
}
