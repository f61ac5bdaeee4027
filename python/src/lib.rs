//! The compiled part of the Python package `bridgelaw` (`bridgelaw._core`): PyO3 bindings over
//! the bridgelaw library's engines. The Python layer (`bridgelaw/__init__.py`) adds result
//! classes with `to_pandas()` and builds `arviz.InferenceData`.
//!
//! Long computations run without the GIL; the interruptible ones (propagate, sensitivity,
//! calibrate) on a worker thread while the calling thread polls for Ctrl-C. Library errors
//! become `bridgelaw.InputError` (bad input) or `bridgelaw.RunError` (failed run).

mod engines;
mod errors;
mod sim;
mod util;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("InputError", py.get_type::<errors::InputError>())?;
    m.add("RunError", py.get_type::<errors::RunError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<sim::Cell>()?;
    m.add_class::<sim::Simulation>()?;
    m.add_class::<engines::Study>()?;
    m.add_class::<engines::Priors>()?;
    m.add_class::<engines::LogDensity>()?;
    m.add_function(wrap_pyfunction!(sim::load_bpx, m)?)?;
    m.add_function(wrap_pyfunction!(sim::simulate, m)?)?;
    m.add_function(wrap_pyfunction!(sim::_bench_simulate, m)?)?;
    m.add_function(wrap_pyfunction!(engines::load_study, m)?)?;
    m.add_function(wrap_pyfunction!(engines::load_priors, m)?)?;
    m.add_function(wrap_pyfunction!(engines::_propagate, m)?)?;
    m.add_function(wrap_pyfunction!(engines::_sensitivity, m)?)?;
    m.add_function(wrap_pyfunction!(engines::_calibrate, m)?)?;
    m.add_function(wrap_pyfunction!(engines::_calibrate_map, m)?)?;
    m.add_function(wrap_pyfunction!(engines::report, m)?)?;
    m.add_function(wrap_pyfunction!(engines::laws, m)?)?;
    Ok(())
}
