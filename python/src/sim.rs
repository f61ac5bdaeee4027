//! `load_bpx` and `simulate`: one SPM/SPMe voltage curve, as the CLI's `simulate` computes it,
//! with the solution kept in Rust until a column is asked for (so a call costs the solve and
//! little else).

use crate::errors;
use crate::util::{Source, source};
use bridgelaw::cell::{
    self, BpxCell, CellModelKind, CurrentSeries, DischargeRate, ElectrolyteMesh, Protocol,
    SignConvention, Solution, SolverOptions,
};
use numpy::{PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use std::path::PathBuf;
use std::sync::Arc;

/// A cell read from a BPX parameter file (Battery Parameter eXchange, JSON): every SPM/SPMe
/// parameter in SI units. Read it once and pass it to :func:`simulate` many times.
#[pyclass(module = "bridgelaw", frozen)]
pub struct Cell {
    pub inner: Arc<BpxCell>,
}

#[pymethods]
impl Cell {
    /// The file's header "Title".
    #[getter]
    fn title(&self) -> &str {
        &self.inner.title
    }
    /// Nominal capacity [A h] (the 1C current is this many amperes).
    #[getter(nominal_capacity_Ah)]
    fn nominal_capacity_ah(&self) -> f64 {
        self.inner.params.nominal_capacity_ah
    }
    /// Cell temperature [K] (the file's ambient/reference temperature).
    #[getter(temperature_K)]
    fn temperature_k(&self) -> f64 {
        self.inner.params.temperature
    }
    fn __repr__(&self) -> String {
        format!(
            "Cell(title={:?}, nominal_capacity_Ah={}, temperature_K={})",
            self.inner.title, self.inner.params.nominal_capacity_ah, self.inner.params.temperature
        )
    }
}

/// Read a BPX file (a path) or BPX document (a dict with the file's JSON structure).
pub fn read_cell(obj: &Bound<'_, PyAny>) -> PyResult<Arc<BpxCell>> {
    if let Ok(c) = obj.cast::<Cell>() {
        return Ok(c.get().inner.clone());
    }
    if obj.is_instance_of::<PyDict>() {
        let json: String = obj
            .py()
            .import("json")?
            .call_method1("dumps", (obj,))?
            .extract()?;
        return cell::read_bpx_str(&json, "<BPX dict>")
            .map(Arc::new)
            .map_err(errors::cell);
    }
    match source(obj, "bpx", None)? {
        Source::Path(p) => cell::read_bpx_file(&p).map(Arc::new).map_err(errors::cell),
        Source::Text(..) => unreachable!("dicts are read above"),
    }
}

/// Read a BPX parameter file (path) or document (dict) into a :class:`Cell`.
///
/// Raises InputError naming the file and field when it is not valid BPX.
#[pyfunction]
pub fn load_bpx(bpx: &Bound<'_, PyAny>) -> PyResult<Cell> {
    Ok(Cell {
        inner: read_cell(bpx)?,
    })
}

/// The columns of a :class:`Simulation`, in order, with units in the names (discharge current
/// positive).
pub const COLUMNS: [&str; 15] = [
    "time_s",
    "current_A",
    "voltage_V",
    "theta_n_surf",
    "theta_p_surf",
    "theta_n_avg",
    "theta_p_avg",
    "ocp_n_V",
    "ocp_p_V",
    "eta_n_V",
    "eta_p_V",
    "eta_c_V",
    "dphi_e_V",
    "dphi_s_V",
    "capacity_Ah",
];

/// One simulated voltage curve: a row per output time reached, then (when the run stopped at
/// the cut-off) the row at the crossing. Columns (see ``columns``) are returned as NumPy arrays
/// by ``sim["voltage_V"]``; ``data`` is the whole table (rows × columns), ``to_pandas()`` a
/// DataFrame.
#[pyclass(module = "bridgelaw", frozen)]
pub struct Simulation {
    sol: Solution<f64>,
}

impl Simulation {
    fn rows(&self) -> impl Iterator<Item = &cell::Row<f64>> {
        self.sol.rows.iter().chain(self.sol.cutoff.iter())
    }
    fn column_values(&self, k: usize) -> Vec<f64> {
        self.rows()
            .map(|r| match k {
                0 => r.time_s,
                1 => r.current_a,
                2 => r.voltage,
                3 => r.theta_n_surf,
                4 => r.theta_p_surf,
                5 => r.theta_n_avg,
                6 => r.theta_p_avg,
                7 => r.ocp_n,
                8 => r.ocp_p,
                9 => r.eta_n,
                10 => r.eta_p,
                11 => r.eta_c,
                12 => r.dphi_e,
                13 => r.dphi_s,
                _ => r.capacity_ah,
            })
            .collect()
    }
}

#[pymethods]
impl Simulation {
    /// Column names, units in the names.
    #[getter]
    fn columns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, COLUMNS)
    }
    /// One column as a 1-D float64 array.
    fn __getitem__<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let k = COLUMNS.iter().position(|c| *c == name).ok_or_else(|| {
            pyo3::exceptions::PyKeyError::new_err(format!(
                "'{name}': expected one of {}",
                COLUMNS.join(", ")
            ))
        })?;
        Ok(PyArray1::from_vec(py, self.column_values(k)))
    }
    fn __len__(&self) -> usize {
        self.sol.rows.len() + usize::from(self.sol.cutoff.is_some())
    }
    fn __contains__(&self, name: &str) -> bool {
        COLUMNS.contains(&name)
    }
    fn keys(&self) -> Vec<&'static str> {
        COLUMNS.to_vec()
    }
    /// The table as a 2-D float64 array, rows × columns (``columns`` order).
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let n = self.__len__();
        let mut v = Vec::with_capacity(n * COLUMNS.len());
        for r in self.rows() {
            v.extend_from_slice(&[
                r.time_s,
                r.current_a,
                r.voltage,
                r.theta_n_surf,
                r.theta_p_surf,
                r.theta_n_avg,
                r.theta_p_avg,
                r.ocp_n,
                r.ocp_p,
                r.eta_n,
                r.eta_p,
                r.eta_c,
                r.dphi_e,
                r.dphi_s,
                r.capacity_ah,
            ]);
        }
        let a = numpy::ndarray::Array2::from_shape_vec((n, COLUMNS.len()), v)
            .map_err(|e| errors::run(format!("internal error: {e}")))?;
        Ok(PyArray2::from_owned_array(py, a))
    }
    /// Every column as a dict of 1-D arrays.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, c) in COLUMNS.iter().enumerate() {
            d.set_item(*c, PyArray1::from_vec(py, self.column_values(k)))?;
        }
        Ok(d)
    }
    /// The table as a pandas DataFrame (needs pandas).
    fn to_pandas<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("pandas")?
            .call_method1("DataFrame", (self.to_dict(py)?,))
    }
    /// Why the solve ended: "end_of_protocol", "lower_cutoff", "upper_cutoff" or
    /// "surface_limit".
    #[getter]
    fn stop(&self) -> &'static str {
        match self.sol.stop {
            cell::StopReason::EndOfProtocol => "end_of_protocol",
            cell::StopReason::LowerCutoff => "lower_cutoff",
            cell::StopReason::UpperCutoff => "upper_cutoff",
            cell::StopReason::SurfaceLimit { .. } => "surface_limit",
        }
    }
    /// How the solve ended, in words with units (time [s], voltage [V], capacity [A h]).
    #[getter]
    fn summary(&self) -> String {
        self.sol.end_summary()
    }
    /// Time steps taken.
    #[getter]
    fn steps(&self) -> usize {
        self.sol.steps
    }
    /// Discharged capacity at the end [A h].
    #[getter(capacity_Ah)]
    fn capacity_ah(&self) -> f64 {
        self.sol.final_capacity_ah()
    }
    fn __repr__(&self) -> String {
        format!(
            "Simulation({} rows; {})",
            self.__len__(),
            self.sol.end_summary()
        )
    }
}

/// Simulate one voltage curve of a cell with the SPM or SPMe.
///
/// Exactly one of ``c_rate`` [1/h], ``current`` [A] (both constant discharges, positive, run
/// until the lower cut-off or ``duration`` [s], default 1.5× the time to pass the nominal
/// capacity), ``current_series`` (a pair of arrays: time [s] and current [A], discharge
/// positive) or ``current_file`` (a cycler CSV; ``sign`` "discharge_negative" or
/// "discharge_positive" unless the file states it); default 1C. ``temperature`` [K] overrides
/// the BPX temperature; ``shells`` finite-volume shells per particle; ``electrolyte_mesh`` SPMe
/// cells in the negative electrode, separator and positive electrode; ``output_dt`` [s] the
/// output spacing. Runs without the GIL. Raises InputError for bad input, RunError when a state
/// leaves its physical range.
#[pyfunction]
#[pyo3(signature = (bpx, model="spm", *, c_rate=None, current=None, current_series=None,
    current_file=None, sign=None, duration=None, temperature=None, shells=20,
    electrolyte_mesh=(20, 20, 20), output_dt=10.0))]
#[allow(clippy::too_many_arguments)] // keyword arguments of one Python call
pub fn simulate(
    py: Python<'_>,
    bpx: &Bound<'_, PyAny>,
    model: &str,
    c_rate: Option<f64>,
    current: Option<f64>,
    current_series: Option<(PyReadonlyArray1<'_, f64>, PyReadonlyArray1<'_, f64>)>,
    current_file: Option<PathBuf>,
    sign: Option<&str>,
    duration: Option<f64>,
    temperature: Option<f64>,
    shells: usize,
    electrolyte_mesh: (usize, usize, usize),
    output_dt: f64,
) -> PyResult<Simulation> {
    let cellfile = read_cell(bpx)?;
    let kind = CellModelKind::parse(model)
        .ok_or_else(|| errors::input(format!("model '{model}': expected \"spm\" or \"spme\"")))?;
    let given = [
        c_rate.is_some(),
        current.is_some(),
        current_series.is_some(),
        current_file.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(errors::input(
            "give one of c_rate, current, current_series, current_file",
        ));
    }
    if let Some(t) = temperature
        && !(t.is_finite() && t > 0.0)
    {
        return Err(errors::input(format!(
            "temperature {t}: expected a positive temperature in K"
        )));
    }
    let sign = match sign {
        None => None,
        Some(s) => Some(SignConvention::parse(s).ok_or_else(|| {
            errors::input(format!(
                "sign '{s}': expected \"discharge_negative\" or \"discharge_positive\""
            ))
        })?),
    };
    if sign.is_some() && current_file.is_none() {
        return Err(errors::input("sign applies only to current_file"));
    }
    let cap = cellfile.params.nominal_capacity_ah;
    let protocol = match (current_file, current_series, current) {
        (Some(f), _, _) => Protocol::series_from_csv_file(&f, sign).map_err(errors::cell)?,
        (None, Some((t, i)), _) => {
            let t = t.as_slice().map_err(errors::input)?.to_vec();
            let i = i.as_slice().map_err(errors::input)?.to_vec();
            if t.len() != i.len() || t.len() < 2 {
                return Err(errors::input(format!(
                    "current_series: expected two arrays of one length ≥ 2 (time [s], current [A]), found {} and {}",
                    t.len(),
                    i.len()
                )));
            }
            Protocol::Series(CurrentSeries {
                time_s: t,
                current_a: i,
            })
        }
        (None, None, Some(a)) => {
            Protocol::constant_discharge(DischargeRate::Amps(a), duration, cap)
                .map_err(errors::cell)?
        }
        (None, None, None) => {
            Protocol::constant_discharge(DischargeRate::CRate(c_rate.unwrap_or(1.0)), duration, cap)
                .map_err(errors::cell)?
        }
    };
    let (n, s, p) = electrolyte_mesh;
    let mesh = ElectrolyteMesh::new(n, s, p).map_err(|e| {
        errors::input(format!(
            "electrolyte_mesh {electrolyte_mesh:?}: expected {e}"
        ))
    })?;
    let opts = SolverOptions {
        model: kind,
        shells,
        electrolyte_mesh: mesh,
        output_dt,
        ..SolverOptions::default()
    };
    // Short solves (tens of µs) run on this thread with the GIL released; no cancellation.
    let sol = py
        .detach(|| match temperature {
            Some(t) => {
                let mut p = cellfile.params.clone();
                p.temperature = t;
                cell::simulate(&p, &protocol, &opts)
            }
            None => cell::simulate(&cellfile.params, &protocol, &opts),
        })
        .map_err(errors::cell)?;
    Ok(Simulation { sol })
}

/// The Rust side of the call-overhead figure: seconds per `cell::simulate` of a constant
/// C-rate discharge of `duration` [s] (SPM, default options), the best of `repeats` loops of
/// `n` solves each, with no Python in the loop. `simulate(cell, c_rate=…, duration=…)` timed
/// with `timeit` minus this is the call overhead.
#[pyfunction]
#[pyo3(signature = (cell, c_rate=1.0, duration=4000.0, n=200, repeats=5))]
pub fn _bench_simulate(
    py: Python<'_>,
    cell: &Bound<'_, PyAny>,
    c_rate: f64,
    duration: f64,
    n: usize,
    repeats: usize,
) -> PyResult<f64> {
    let c = read_cell(cell)?;
    let protocol = Protocol::c_rate(c_rate, duration);
    let opts = SolverOptions::default();
    py.detach(|| {
        let mut best = f64::INFINITY;
        for _ in 0..repeats.max(1) {
            let t0 = std::time::Instant::now();
            for _ in 0..n.max(1) {
                std::hint::black_box(cell::simulate(&c.params, &protocol, &opts))?;
            }
            best = best.min(t0.elapsed().as_secs_f64() / n.max(1) as f64);
        }
        Ok(best)
    })
    .map_err(errors::cell)
}
