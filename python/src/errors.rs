//! Library errors as Python exceptions: the user's input (a file, field or setting that is not
//! what was expected — the CLI's exit 2) is `bridgelaw.InputError`, a `ValueError`; a run that
//! failed on valid input (the CLI's exit 1) is `bridgelaw.RunError`, a `RuntimeError`; a
//! cancelled run is `KeyboardInterrupt`. Messages are the library's, naming file and field.

use bridgelaw::calibrate::CalibrateError;
use bridgelaw::cell::CellError;
use bridgelaw::propagate::PropagateError;
use bridgelaw::report::run::ReportError;
use bridgelaw::sensitivity::SensitivityError;
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    bridgelaw,
    InputError,
    PyValueError,
    "An input file, field, array or setting is not what was expected (the message names it). \
     The command line exits with status 2 on these."
);
pyo3::create_exception!(
    bridgelaw,
    RunError,
    PyRuntimeError,
    "A run failed on valid input (e.g. a state left its physical range, every Monte Carlo \
     evaluation failed). The command line exits with status 1 on these."
);

/// A user-input error.
pub fn input(e: impl std::fmt::Display) -> PyErr {
    InputError::new_err(e.to_string())
}

/// A failed run.
pub fn run(e: impl std::fmt::Display) -> PyErr {
    RunError::new_err(e.to_string())
}

/// Cell errors as the CLI's `simulate` maps them: a state leaving its physical range is a
/// failed run, everything else (parameters, protocol, files, options) the user's input.
pub fn cell(e: CellError) -> PyErr {
    match e {
        CellError::OutOfRange { .. } => run(format!("simulation failed: {e}")),
        other => input(other),
    }
}

/// Calibration errors as the CLI's `calibrate` maps them.
pub fn calibrate(e: CalibrateError) -> PyErr {
    match e {
        CalibrateError::Cancelled => PyKeyboardInterrupt::new_err("calibration cancelled"),
        CalibrateError::NoValidStart { .. }
        | CalibrateError::Input(_)
        | CalibrateError::Setup(_)
        | CalibrateError::Data(_) => input(e),
        e => run(e),
    }
}

/// Propagation errors: a bad setting is the user's input, the rest a failed run.
pub fn propagate(e: PropagateError) -> PyErr {
    match e {
        PropagateError::InvalidSetting { .. } => input(e),
        PropagateError::Cancelled => PyKeyboardInterrupt::new_err("propagation cancelled"),
        e => run(e),
    }
}

/// Sensitivity errors: a bad setting is the user's input, the rest a failed run.
pub fn sensitivity(e: SensitivityError) -> PyErr {
    match e {
        SensitivityError::InvalidSetting { .. } => input(e),
        SensitivityError::Cancelled => PyKeyboardInterrupt::new_err("sensitivity cancelled"),
        e => run(e),
    }
}

/// Report errors as the CLI's `report` maps them.
pub fn report(e: ReportError) -> PyErr {
    if e.is_user_error() { input(e) } else { run(e) }
}
