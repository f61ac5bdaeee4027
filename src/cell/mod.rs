//! Continuum cell models for voltage curves: SPM and SPMe, generic over the scalar for exact parameter gradients, with BPX import/export.
//!
//! Entry points: [`CellParams`] (all physical parameters, SI), [`simulate`] (one solve →
//! [`Solution`] with voltage, stoichiometries, overpotentials at the requested times),
//! [`bpx::read_bpx_file`] / [`bpx::write_bpx`] (BPX 1.x; [`bpx_export`]: a run's parameter set
//! with its distributions), [`model::FREE_PARAMETERS`] (the parameters a
//! model can set; the cell as a [`crate::model::Model`] is [`crate::chain::ChainModel`]) and
//! [`simulate_bpx_to_csv`] (what the CLI's `simulate` calls).

// Range checks are written `!(v > 0.0)` on purpose: a NaN must fail them.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod bpx;
pub mod bpx_export;
pub mod electrode;
pub mod expr;
pub mod model;
pub mod ocp;
pub mod params;
pub mod particle;
pub mod protocol;
pub mod spm;
pub mod spme;
pub mod thermal;

pub use bpx::{BpxCell, read_bpx_file, read_bpx_str, to_bpx_json, write_bpx};
pub use ocp::{Coefficient, Ocp, Pchip, Shape};
pub use params::{CellParams, ElectrodeParams, ElectrolyteParams, SeparatorParams, ThermalParams};
pub use protocol::{CurrentSeries, DischargeRate, Protocol, SignConvention, Step};
pub use spm::{
    CellModelKind, Heat, Row, Solution, SolverOptions, StopReason, simulate, solution_to_csv,
};
pub use spme::ElectrolyteMesh;
pub use thermal::{TemperatureSeries, ThermalOption};

use crate::model::ModelError;
use thiserror::Error;

/// Errors of the cell models, their inputs and files.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum CellError {
    /// A cell parameter outside its valid range.
    #[error("parameter '{name}' = {value}: expected {expected}")]
    InvalidParameter {
        /// The parameter's name.
        name: String,
        /// Its value, in SI units.
        value: f64,
        /// The valid range, in words.
        expected: String,
    },
    /// A state of the solve left its physical range (a stoichiometry outside (0, 1), c_e ≤ 0).
    #[error("{quantity} = {value} at t = {time_s} s: {msg}")]
    OutOfRange {
        /// The quantity.
        quantity: String,
        /// Its value, in SI units.
        value: f64,
        /// Time of the step where it happened \[s\].
        time_s: f64,
        /// What the range is.
        msg: String,
    },
    /// A protocol that cannot be run: empty, a step without a positive finite duration or a
    /// finite current, a bad discharge rate or temperature series.
    #[error("protocol: {0}")]
    Protocol(String),
    /// A current file that cannot be read (the message names file, line and column).
    #[error("current file: {0}")]
    CurrentFile(String),
    /// Solver options out of range ([`SolverOptions`]).
    #[error("solver options: {0}")]
    Options(String),
    /// An OCP or parameter table that cannot be used.
    #[error(transparent)]
    Table(#[from] ocp::TableError),
    /// A BPX expression that cannot be parsed.
    #[error(transparent)]
    Expr(#[from] expr::ExprError),
    /// A BPX file that cannot be used.
    #[error("BPX file {file}: field '{field}': {msg}")]
    Bpx {
        /// The file.
        file: String,
        /// The field, by its BPX path.
        field: String,
        /// What is wrong.
        msg: String,
    },
}

impl From<CellError> for ModelError {
    fn from(e: CellError) -> Self {
        match e {
            CellError::OutOfRange {
                quantity,
                value,
                msg,
                ..
            } => ModelError::OutOfPhysicalRange {
                quantity,
                value,
                expected: msg,
            },
            CellError::InvalidParameter {
                name,
                value,
                expected,
            } => ModelError::InvalidInput {
                name,
                value,
                expected,
            },
            other => ModelError::SolverFailed(other.to_string()),
        }
    }
}

/// What the CLI's `simulate` subcommand calls: read a BPX file, simulate `protocol` with
/// `opts` (temperature override `temperature_k` if given), and return the CSV text of
/// [`solution_to_csv`].
pub fn simulate_bpx_to_csv(
    bpx_path: &std::path::Path,
    protocol: &Protocol,
    opts: &SolverOptions,
    temperature_k: Option<f64>,
) -> Result<String, CellError> {
    let cell = read_bpx_file(bpx_path)?;
    Ok(simulate_cell_to_csv(&cell.params, protocol, opts, temperature_k)?.0)
}

/// [`simulate_bpx_to_csv`] for parameters already read: simulate `protocol` with `opts`
/// (temperature override `temperature_k` \[K\] if given: the isothermal temperature, and the
/// ambient and initial one of the thermal model) and return the CSV text of
/// [`solution_to_csv`] and how the run ended ([`Solution::end_summary`]).
pub fn simulate_cell_to_csv(
    params: &CellParams<f64>,
    protocol: &Protocol,
    opts: &SolverOptions,
    temperature_k: Option<f64>,
) -> Result<(String, String), CellError> {
    let sol = match temperature_k {
        Some(t) => {
            let mut p = params.clone();
            p.temperature = t;
            if let Some(th) = p.thermal.as_mut() {
                th.initial_temperature = t;
            }
            simulate(&p, protocol, opts)?
        }
        None => simulate(params, protocol, opts)?,
    };
    Ok((solution_to_csv(&sol), sol.end_summary()))
}

#[cfg(test)]
mod tests;
