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
    /// A composition outside (0, 1).
    #[error("composition x = {x} is outside (0, 1)")]
    InvalidComposition {
        /// The composition x \[1\].
        x: f64,
    },
    /// A parameter outside its valid range.
    #[error("parameter '{name}' = {value}: expected {expected}")]
    InvalidParameter {
        /// The parameter's name.
        name: String,
        /// Its value, in its unit.
        value: f64,
        /// The valid range, in words.
        expected: String,
    },
    /// Arrays that must have the same length (compositions and energies) do not.
    #[error("{what}: expected {expected} entries, found {found}")]
    LengthMismatch {
        /// The array.
        what: String,
        /// Entries it must have.
        expected: usize,
        /// Entries it has.
        found: usize,
    },
    /// Too few distinct compositions for the fit or table.
    #[error("need at least {needed} points with distinct compositions, found {found}")]
    TooFewPoints {
        /// Points needed.
        needed: usize,
        /// Distinct points given.
        found: usize,
    },
    /// A composition outside the range of a tabulated free energy.
    #[error("composition x = {x} is outside the tabulated range [{lo}, {hi}]")]
    OutsideRange {
        /// The composition \[1\].
        x: f64,
        /// Lowest tabulated composition \[1\].
        lo: f64,
        /// Highest tabulated composition \[1\].
        hi: f64,
    },
    /// A root find or minimisation (common tangent, spinodal, critical point) did not converge.
    #[error("{what} failed: {detail}")]
    SolverFailed {
        /// What was being solved.
        what: String,
        /// Why it failed.
        detail: String,
    },
    /// The curvature ∂²g/∂x² does not grow with T, so no temperature closes the gap.
    #[error(
        "no upper critical temperature: ∂²g/∂x² decreases with T at x = {x} (slope {q} eV/K ≤ 0)"
    )]
    NoCriticalTemperature {
        /// The composition where the curvature was tested \[1\].
        x: f64,
        /// ∂(∂²g/∂x²)/∂T there \[eV/K\].
        q: f64,
    },
    /// At or above the critical temperature there is no miscibility gap, so no plateau.
    #[error("no miscibility gap at T = {t} K (T ≥ T_c = {t_c} K): no plateau")]
    NoPlateau {
        /// The temperature \[K\].
        t: f64,
        /// The critical temperature T_c \[K\].
        t_c: f64,
    },
    /// A plateau asked for by gap number beyond the gaps there are.
    #[error("miscibility gap index {index} requested, but only {found} gap(s) at T = {t} K")]
    NoSuchGap {
        /// The gap asked for (0 = lowest x).
        index: usize,
        /// Gaps found.
        found: usize,
        /// The temperature \[K\].
        t: f64,
    },
    /// A law name the thermodynamic catalogue does not know: (name, the known names).
    #[error("unknown thermodynamic law '{0}' (known: {1})")]
    UnknownLaw(String, String),
    /// A law option with a bad value.
    #[error("option '{option}': {message}")]
    InvalidOption {
        /// The option's name.
        option: String,
        /// What is wrong.
        message: String,
    },
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
