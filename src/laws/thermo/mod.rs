//! Thermodynamic bridging laws: free energy g(x, T) → chemical potential → open-circuit voltage, phase separation, Θ, ∂U/∂T.
//!
//! Conventions (used by every item in this module):
//! - x is the Li site fraction in (0, 1); energies are in **eV per site** (equivalently per Li
//!   at full occupancy), T in K, k_B = 8.617 333 262e-5 eV/K.
//! - μ(x, T) = ∂g/∂x is the Li chemical potential in the host in eV per Li, measured from the
//!   reference whose μ is set to 0 by convention (Li metal: μ_ref = 0).
//! - Open-circuit voltage against a reference electrode: U = −(μ_cathode − μ_ref)/e. With μ in
//!   eV per Li, dividing by e is numerically the identity, so U \[V\] = −(μ − μ_ref) \[eV\].
//!
//! - Phase boundaries (x1, x2, spinodals, plateau, T_c) are solved in f64 and lifted to the dual
//!   scalar by the implicit function theorem: their **first** derivatives are exact (what the
//!   delta method, NUTS and MAP need); second-order dual types would not get exact second
//!   derivatives through them.
//!
//! Submodules: [`free_energy`] (regular solution, Redlich–Kister, closed-form derivatives),
//! [`phase`] (spinodals, common tangent, critical temperature, equilibrium μ with exact
//! implicit derivatives), [`hull`] (0 K step profile from tabulated formation energies),
//! [`models`] (everything behind [`crate::model::Model`], and the study-file entry point
//! [`build_thermo_law`]).

pub mod free_energy;
pub mod hull;
pub mod models;
pub mod phase;

use thiserror::Error;

use crate::model::ModelError;

pub use free_energy::{FreeEnergy, check_composition};
pub use hull::{StepProfile, VoltageStep, lower_hull_indices, step_voltage_profile};
pub use models::{
    EntropicCoefficientModel, FreeEnergyKind, HullVoltageModel, OcvCurveModel, PlateauModel,
    Reference, THERMO_LAW_NAMES, ThermoLaw, ThermodynamicFactorModel, build_thermo_law,
};
pub use phase::{
    CommonTangent, Equilibrium, PhaseBoundary, common_tangents, common_tangents_from_spinodals,
    critical_temperature, lift_spinodal, lift_tangent, phase_boundaries, spinodal_intervals,
};

/// Open-circuit voltage against a reference electrode, U = −(μ_cathode − μ_ref)/e \[V\], with
/// both chemical potentials in eV per Li (so dividing by e is numerically the identity).
/// Li metal reference: μ_ref = 0 by convention. Per mole, divide J/mol by F instead.
#[inline]
pub fn open_circuit_voltage<D: crate::model::Scalar>(mu_cathode_ev: D, mu_ref_ev: D) -> D {
    -(mu_cathode_ev - mu_ref_ev)
}

/// Errors of the thermodynamic laws. Every variant names the offending field or value.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum ThermoError {
    #[error("composition x = {x} is outside (0, 1)")]
    InvalidComposition { x: f64 },
    #[error("parameter '{name}' = {value}: expected {expected}")]
    InvalidParameter {
        name: String,
        value: f64,
        expected: String,
    },
    #[error("{what}: expected {expected} entries, found {found}")]
    LengthMismatch {
        what: String,
        expected: usize,
        found: usize,
    },
    #[error("need at least {needed} points with distinct compositions, found {found}")]
    TooFewPoints { needed: usize, found: usize },
    #[error("composition x = {x} is outside the tabulated range [{lo}, {hi}]")]
    OutsideRange { x: f64, lo: f64, hi: f64 },
    #[error("{what} failed: {detail}")]
    SolverFailed { what: String, detail: String },
    #[error(
        "no upper critical temperature: ∂²g/∂x² decreases with T at x = {x} (slope {q} eV/K ≤ 0)"
    )]
    NoCriticalTemperature { x: f64, q: f64 },
    #[error("no miscibility gap at T = {t} K (T ≥ T_c = {t_c} K): no plateau")]
    NoPlateau { t: f64, t_c: f64 },
    #[error("miscibility gap index {index} requested, but only {found} gap(s) at T = {t} K")]
    NoSuchGap { index: usize, found: usize, t: f64 },
    #[error("unknown thermodynamic law '{0}' (known: {1})")]
    UnknownLaw(String, String),
    #[error("option '{option}': {message}")]
    InvalidOption { option: String, message: String },
}

impl From<ThermoError> for ModelError {
    fn from(e: ThermoError) -> Self {
        match e {
            ThermoError::InvalidComposition { x } => ModelError::out_of_range("x", x, "0 < x < 1"),
            ThermoError::InvalidParameter {
                name,
                value,
                expected,
            } => ModelError::InvalidInput {
                name,
                value,
                expected,
            },
            ThermoError::NoPlateau { t, t_c } => ModelError::out_of_range(
                "T",
                t,
                &format!("T < T_c = {t_c} K for a two-phase plateau"),
            ),
            ThermoError::NoCriticalTemperature { x, q } => ModelError::out_of_range(
                "dg''/dT",
                q,
                &format!("> 0 at x = {x} for an upper critical temperature"),
            ),
            other => ModelError::SolverFailed(other.to_string()),
        }
    }
}
