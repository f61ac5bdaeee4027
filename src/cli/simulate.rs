//! `bridgelaw simulate --bpx FILE`: one SPM/SPMe voltage curve from a BPX parameter file, as CSV.

use super::CliError;
use bridgelaw::cell::{
    self, CellError, CellModelKind, DischargeRate, ElectrolyteMesh, Protocol, SignConvention,
    SolverOptions, ThermalOption,
};
use bridgelaw::cycler::{CyclerTable, DuplicateTimes, ReadOptions, Selection};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub struct SimulateArgs {
    /// BPX parameter file (JSON).
    #[arg(long)]
    pub bpx: PathBuf,
    /// Cell model: spm | spme.
    #[arg(long, default_value = "spm")]
    pub model: String,
    /// Constant C-rate [1/h] relative to the BPX nominal capacity, discharge positive (default 1C).
    #[arg(long, conflicts_with_all = ["current", "current_file"])]
    pub c_rate: Option<f64>,
    /// Constant current [A], discharge positive.
    #[arg(long, conflicts_with_all = ["c_rate", "current_file"])]
    pub current: Option<f64>,
    /// Measured current series: CSV with a time column (time_s) and a current column (current_A).
    #[arg(long, conflicts_with_all = ["c_rate", "current"])]
    pub current_file: Option<PathBuf>,
    /// Sign convention of --current-file: discharge-negative | discharge-positive (required
    /// unless the file states it in a '# sign_convention: ...' line).
    #[arg(long)]
    pub sign: Option<String>,
    /// With --current-file: output only T0 ≤ t ≤ T1 [s, the file's own time], every
    /// --output-dt from T0. The cell is driven by the file's current from its first row (its
    /// state at T0 is that of the protocol before) and the run ends at T1. Output times count
    /// from the file's first row.
    #[arg(long, value_name = "T0:T1", value_parser = Selection::parse_window, requires = "current_file")]
    pub window: Option<(f64, f64)>,
    /// Repeated time stamps in --current-file: error (default), drop (keep the first row of
    /// each run of equal times) or average (one row with the mean of each column).
    #[arg(long, value_name = "error|drop|average", value_parser = super::calibrate::parse_duplicate_times, requires = "current_file")]
    pub duplicate_times: Option<DuplicateTimes>,
    /// Duration [s] of a constant-current run (default: 1.5× the time to pass the nominal capacity;
    /// the run stops at the voltage cut-off).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Cell temperature [K] (default: the BPX ambient/reference temperature); with
    /// `--thermal lumped` the ambient and the initial temperature.
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Cell temperature: isothermal | lumped (the lumped thermal model, from the BPX file's
    /// density, specific heat capacity, volume, external surface area and heat-transfer
    /// coefficient) | measured (the --current-file's cell-temperature column).
    #[arg(long, default_value = "isothermal")]
    pub thermal: String,
    /// Heat-transfer coefficient to the surroundings [W.m-2.K-1] for `--thermal lumped`
    /// (default: the BPX file's, else 0: adiabatic).
    #[arg(long, value_name = "H")]
    pub heat_transfer_coefficient: Option<f64>,
    /// Finite-volume shells per particle.
    #[arg(long, default_value_t = 20)]
    pub shells: usize,
    /// SPMe electrolyte mesh: cells in the negative electrode, separator and positive electrode
    /// (PyBaMM's default 20,20,20).
    #[arg(long, default_value = "20,20,20", value_name = "N_N,N_S,N_P")]
    pub electrolyte_mesh: String,
    /// Output spacing [s].
    #[arg(long, default_value_t = 10.0)]
    pub output_dt: f64,
    /// A calibration run folder: its parameters (cell parameters, e.g. D_n, k_p) replace the
    /// BPX values, at the point --at names.
    #[arg(long, value_name = "RUN_DIR")]
    pub params: Option<PathBuf>,
    /// With --params: map (the posterior mode) or mean (the posterior mean).
    #[arg(long, default_value = "map", requires = "params")]
    pub at: String,
    /// Output CSV file (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Map a cell error to an exit status: a state leaving the physical range is a failed run (1),
/// everything else is bad input (2).
fn cell_err(e: CellError) -> CliError {
    match e {
        CellError::OutOfRange { .. } => CliError::failed(format!("simulation failed: {e}")),
        other => CliError::bad(other),
    }
}

pub fn run(a: SimulateArgs) -> Result<(), CliError> {
    let model = CellModelKind::parse(&a.model)
        .ok_or_else(|| CliError::bad(format!("--model '{}': expected spm or spme", a.model)))?;
    if let Some(t) = a.temperature
        && !(t.is_finite() && t > 0.0)
    {
        return Err(CliError::bad(format!(
            "--temperature {t}: expected a positive temperature in K"
        )));
    }
    let sign = match &a.sign {
        None => None,
        Some(s) => Some(SignConvention::parse(s).ok_or_else(|| {
            CliError::bad(format!(
                "--sign '{s}': expected discharge-negative or discharge-positive"
            ))
        })?),
    };
    if sign.is_some() && a.current_file.is_none() {
        return Err(CliError::bad("--sign applies only to --current-file"));
    }
    let measured = a.thermal.eq_ignore_ascii_case("measured");
    let thermal = match ThermalOption::parse(&a.thermal) {
        Some(t) => t,
        None if measured => ThermalOption::Isothermal, // set below from the current file
        None => {
            return Err(CliError::bad(format!(
                "--thermal '{}': expected isothermal, lumped or measured",
                a.thermal
            )));
        }
    };
    if measured && a.current_file.is_none() {
        return Err(CliError::bad(
            "--thermal measured: the temperature comes from --current-file's cell-temperature \
             column (temperature_K, temperature_C, cellTemp_mid, ...); give --current-file",
        ));
    }
    if a.heat_transfer_coefficient.is_some() && thermal != ThermalOption::Lumped {
        return Err(CliError::bad(
            "--heat-transfer-coefficient applies only to --thermal lumped",
        ));
    }
    let mut cellfile = cell::read_bpx_file(&a.bpx).map_err(cell_err)?;
    if thermal == ThermalOption::Lumped {
        let Some(th) = cellfile.params.thermal.as_mut() else {
            return Err(CliError::bad(format!(
                "--thermal lumped: {} has no thermal properties: expected Density [kg.m-3], \
                 Specific heat capacity [J.K-1.kg-1], Volume [m3] and External surface area \
                 [m2] under Parameterisation/Cell",
                a.bpx.display()
            )));
        };
        if let Some(h) = a.heat_transfer_coefficient {
            if !(h.is_finite() && h >= 0.0) {
                return Err(CliError::bad(format!(
                    "--heat-transfer-coefficient {h}: expected a finite value >= 0 W.m-2.K-1"
                )));
            }
            th.heat_transfer_coefficient = h;
        }
    }
    if let Some(run_dir) = &a.params {
        apply_calibration(&mut cellfile.params, run_dir, &a.at)?;
    }
    let cap = cellfile.params.nominal_capacity_ah;
    let mut thermal = thermal;
    // with a window: the output times inside it, counted from the file's first row
    let mut window_times = None;
    let protocol = match (&a.current_file, a.current, a.c_rate) {
        (Some(f), _, _) => {
            let file = f.display().to_string();
            let text = std::fs::read_to_string(f)
                .map_err(|e| CliError::bad(format!("reading '{file}': {e}")))?;
            let opts = ReadOptions {
                temperature: measured,
                duplicate_times: a.duplicate_times.unwrap_or_default(),
                ..ReadOptions::default()
            };
            let table = CyclerTable::parse_options(&text, &file, &opts).map_err(CliError::bad)?;
            let (protocol, series) = Protocol::from_table(&table, sign).map_err(cell_err)?;
            if let Some(series) = series {
                thermal = ThermalOption::Measured(std::sync::Arc::new(series));
            }
            match a.window {
                None => protocol,
                Some(w) => {
                    let sel = Selection {
                        window: Some(w),
                        ..Selection::default()
                    };
                    table
                        .select(&sel)
                        .map_err(|e| CliError::bad(format!("--window: {e}")))?;
                    if a.output_dt.is_nan() || a.output_dt <= 0.0 {
                        return Err(CliError::bad(format!(
                            "--output-dt {}: expected > 0",
                            a.output_dt
                        )));
                    }
                    let (t0, t1) = (w.0 - table.time_s[0], w.1 - table.time_s[0]);
                    let n = (t1 - t0) / a.output_dt + 1e-9;
                    let most = cell::spm::MAX_OUTPUT_ROWS;
                    if n.is_nan() || n > most as f64 {
                        return Err(CliError::bad(format!(
                            "--window {}:{} at --output-dt {} gives {n:.3e} output rows: at most {most:e}",
                            w.0, w.1, a.output_dt
                        )));
                    }
                    let n = n.floor() as usize;
                    window_times = Some(
                        (0..=n)
                            .map(|k| t0 + k as f64 * a.output_dt)
                            .collect::<Vec<_>>(),
                    );
                    protocol.until(t1)
                }
            }
        }
        (None, Some(amps), _) => {
            Protocol::constant_discharge(DischargeRate::Amps(amps), a.duration, cap)
                .map_err(cell_err)?
        }
        (None, None, c) => {
            Protocol::constant_discharge(DischargeRate::CRate(c.unwrap_or(1.0)), a.duration, cap)
                .map_err(cell_err)?
        }
    };
    // Beyond 100C (100 × the nominal capacity, in A) a current is no cycling protocol but, most
    // likely, a unit slip (mA read as A): refused here rather than failing in the solver.
    let limit = 100.0 * cap;
    if let (Some(f), Protocol::Series(s)) = (&a.current_file, &protocol)
        && let Some(i) = s.current_a.iter().position(|c| c.abs() > limit)
    {
        return Err(CliError::bad(format!(
            "{}: data row {} (t = {} s), current {} A: expected |I| ≤ 100C = {limit} A for this {cap} A·h cell (the column is in A)",
            f.display(),
            i + 1,
            s.time_s[i],
            s.current_a[i]
        )));
    }
    for (flag, amps) in [
        ("--current", a.current),
        ("--c-rate", a.c_rate.map(|c| c * cap)),
    ] {
        if let Some(amps) = amps
            && amps.abs() > limit
        {
            return Err(CliError::bad(format!(
                "{flag}: {amps} A: expected |I| ≤ 100C = {limit} A for this {cap} A·h cell"
            )));
        }
    }
    let electrolyte_mesh = ElectrolyteMesh::parse(&a.electrolyte_mesh).map_err(|e| {
        CliError::bad(format!(
            "--electrolyte-mesh {}: expected {e}",
            a.electrolyte_mesh
        ))
    })?;
    let opts = SolverOptions {
        model,
        shells: a.shells,
        electrolyte_mesh,
        output_dt: a.output_dt,
        output_times: window_times,
        thermal,
        ..SolverOptions::default()
    };
    let (csv, end) = cell::simulate_cell_to_csv(&cellfile.params, &protocol, &opts, a.temperature)
        .map_err(cell_err)?;
    eprintln!("{end}");
    match &a.out {
        Some(p) => {
            // Replaced without --force, as before (one file, written whole); the lock refuses
            // a concurrent writer of the same file.
            use bridgelaw::run_folder::{Existing, write_result_file};
            write_result_file(p, csv.as_bytes(), Existing::Replace)?;
            eprintln!("wrote {}", p.display());
        }
        None => print!("{csv}"),
    }
    Ok(())
}

/// Set the cell parameters of the calibration run in `run_dir` at `at` ("map" or "mean") on
/// `params`, saying each on stderr. A calibrated quantity that is not a cell parameter (a law
/// input such as an NEB barrier) cannot be applied to a BPX cell: exit 2, naming it.
fn apply_calibration(
    params: &mut cell::CellParams<f64>,
    run_dir: &std::path::Path,
    at: &str,
) -> Result<(), CliError> {
    use bridgelaw::calibrate::validate::{FitPoint, ValidationReport};
    let point = match at {
        "map" => FitPoint::Map,
        "mean" => FitPoint::PosteriorMean,
        other => {
            return Err(CliError::bad(format!(
                "--at '{other}': expected map or mean"
            )));
        }
    };
    let values = ValidationReport::read_run(run_dir)
        .and_then(|r| r.parameters_at(point))
        .map_err(|e| CliError::bad(format!("--params: {e}")))?;
    for (name, unit, v) in values {
        let (_, cell_unit, _) = cell::model::FREE_PARAMETERS
            .iter()
            .find(|(n, _, _)| *n == name)
            .copied()
            .ok_or_else(|| {
                CliError::bad(format!(
                    "--params {}: '{name}' is not a cell parameter (a law input); run the \
                     calibration's chain with `propagate STUDY --posterior {}` instead",
                    run_dir.display(),
                    run_dir.display()
                ))
            })?;
        let v = cell::bpx_export::set_cell_parameter(params, &name, &unit, v)
            .map_err(|e| CliError::bad(format!("--params {}: {e}", run_dir.display())))?;
        eprintln!("{name} = {v:e} {cell_unit} ({at} of {})", run_dir.display());
    }
    Ok(())
}
