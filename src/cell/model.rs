//! The cell parameters a model can set from its inputs: names, units and how each is applied
//! (the cell as a [`Model`](crate::model::Model) is [`crate::chain::ChainModel`]).

use super::CellError;
use super::ocp::Ocp;
use super::params::CellParams;
use crate::model::Scalar;

/// A free cell parameter, resolved once from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeParam {
    /// Negative particle diffusivity D_s at T_ref \[m²/s\] (for a function of θ: its multiplier \[1\]).
    DiffusivityN,
    /// Positive particle diffusivity D_s at T_ref \[m²/s\] (for a function of θ: its multiplier \[1\]).
    DiffusivityP,
    /// Negative reaction-rate constant m_ref \[A·m⁻²·(m³/mol)^1.5\].
    RateN,
    /// Positive reaction-rate constant m_ref \[A·m⁻²·(m³/mol)^1.5\].
    RateP,
    /// Contact resistance \[Ω\].
    ContactResistance,
    /// Activation energy of the negative particle diffusivity \[J/mol\].
    EaDiffN,
    /// Activation energy of the positive particle diffusivity \[J/mol\].
    EaDiffP,
    /// Activation energy of the negative reaction rate \[J/mol\].
    EaRateN,
    /// Activation energy of the positive reaction rate \[J/mol\].
    EaRateP,
    /// Temperature \[K\] (with the thermal model the ambient and initial temperature).
    Temperature,
    /// Maximum concentration in the negative particles \[mol/m³\].
    CMaxN,
    /// Maximum concentration in the positive particles \[mol/m³\].
    CMaxP,
    /// Negative particle radius \[m\].
    RadiusN,
    /// Positive particle radius \[m\].
    RadiusP,
    /// Negative electrode thickness \[m\].
    ThicknessN,
    /// Positive electrode thickness \[m\].
    ThicknessP,
    /// Negative active-material volume fraction \[1\].
    ActiveN,
    /// Positive active-material volume fraction \[1\].
    ActiveP,
    /// Negative stoichiometry at 100 % SOC \[1\].
    Theta100N,
    /// Positive stoichiometry at 100 % SOC \[1\].
    Theta100P,
    /// Negative stoichiometry at 0 % SOC \[1\].
    Theta0N,
    /// Positive stoichiometry at 0 % SOC \[1\].
    Theta0P,
    /// Initial SOC \[1\].
    Soc0,
    /// Transference number \[1\].
    TPlus,
    /// Electrolyte diffusivity multiplier \[1\].
    DeFactor,
    /// Electrolyte conductivity multiplier \[1\].
    KappaFactor,
    /// Initial electrolyte concentration \[mol/m³\].
    Ce0,
    /// Regular-solution OCP of the negative electrode (only for `Ocp::RegularSolution`): U0 \[V\].
    U0N,
    /// Regular-solution OCP of the positive electrode: U0 \[V\].
    U0P,
    /// Regular-solution OCP of the negative electrode: interaction energy Ω \[eV\].
    OmegaN,
    /// Regular-solution OCP of the positive electrode: interaction energy Ω \[eV\].
    OmegaP,
    /// Lumped thermal model: heat-transfer coefficient h \[W/(m²·K)\] (the cell must have
    /// thermal properties).
    HeatTransfer,
    /// Lumped thermal model: specific heat capacity c_p \[J/(kg·K)\].
    SpecificHeat,
}

/// (name, unit, parameter) for every free cell parameter.
pub const FREE_PARAMETERS: &[(&str, &str, FreeParam)] = &[
    ("D_n", "m^2/s", FreeParam::DiffusivityN),
    ("D_p", "m^2/s", FreeParam::DiffusivityP),
    ("k_n", "A m^-2 (m^3/mol)^1.5", FreeParam::RateN),
    ("k_p", "A m^-2 (m^3/mol)^1.5", FreeParam::RateP),
    ("R_contact", "Ohm", FreeParam::ContactResistance),
    ("E_a_D_n", "J/mol", FreeParam::EaDiffN),
    ("E_a_D_p", "J/mol", FreeParam::EaDiffP),
    ("E_a_k_n", "J/mol", FreeParam::EaRateN),
    ("E_a_k_p", "J/mol", FreeParam::EaRateP),
    ("T", "K", FreeParam::Temperature),
    ("c_max_n", "mol/m^3", FreeParam::CMaxN),
    ("c_max_p", "mol/m^3", FreeParam::CMaxP),
    ("R_n", "m", FreeParam::RadiusN),
    ("R_p", "m", FreeParam::RadiusP),
    ("L_n", "m", FreeParam::ThicknessN),
    ("L_p", "m", FreeParam::ThicknessP),
    ("eps_s_n", "1", FreeParam::ActiveN),
    ("eps_s_p", "1", FreeParam::ActiveP),
    ("theta100_n", "1", FreeParam::Theta100N),
    ("theta100_p", "1", FreeParam::Theta100P),
    ("theta0_n", "1", FreeParam::Theta0N),
    ("theta0_p", "1", FreeParam::Theta0P),
    ("soc0", "1", FreeParam::Soc0),
    ("t_plus", "1", FreeParam::TPlus),
    ("D_e_factor", "1", FreeParam::DeFactor),
    ("kappa_e_factor", "1", FreeParam::KappaFactor),
    ("c_e0", "mol/m^3", FreeParam::Ce0),
    ("U0_n", "V", FreeParam::U0N),
    ("U0_p", "V", FreeParam::U0P),
    ("Omega_n", "eV", FreeParam::OmegaN),
    ("Omega_p", "eV", FreeParam::OmegaP),
    ("h_transfer", "W/m^2/K", FreeParam::HeatTransfer),
    ("c_p", "J/kg/K", FreeParam::SpecificHeat),
];

/// Set one free parameter on `p`.
pub fn apply_free<D: Scalar>(
    p: &mut CellParams<D>,
    which: FreeParam,
    v: D,
) -> Result<(), CellError> {
    use FreeParam::*;
    match which {
        DiffusivityN => p.neg.diffusivity.scale = v,
        DiffusivityP => p.pos.diffusivity.scale = v,
        RateN => p.neg.rate_constant = v,
        RateP => p.pos.rate_constant = v,
        ContactResistance => p.contact_resistance = v,
        EaDiffN => p.neg.diffusivity_ea = v,
        EaDiffP => p.pos.diffusivity_ea = v,
        EaRateN => p.neg.rate_constant_ea = v,
        EaRateP => p.pos.rate_constant_ea = v,
        Temperature => {
            p.temperature = v;
            // (with the thermal model the ambient temperature, where the cell starts too)
            if let Some(th) = p.thermal.as_mut() {
                th.initial_temperature = v;
            }
        }
        CMaxN => p.neg.c_max = v,
        CMaxP => p.pos.c_max = v,
        RadiusN => p.neg.particle_radius = v,
        RadiusP => p.pos.particle_radius = v,
        ThicknessN => p.neg.thickness = v,
        ThicknessP => p.pos.thickness = v,
        ActiveN => p.neg.active_fraction = v,
        ActiveP => p.pos.active_fraction = v,
        Theta100N => p.neg.theta_soc100 = v,
        Theta100P => p.pos.theta_soc100 = v,
        Theta0N => p.neg.theta_soc0 = v,
        Theta0P => p.pos.theta_soc0 = v,
        Soc0 => p.initial_soc = v,
        TPlus => p.electrolyte.transference = v,
        DeFactor => p.electrolyte.diffusivity.scale = v,
        KappaFactor => p.electrolyte.conductivity.scale = v,
        Ce0 => p.electrolyte.initial_concentration = v,
        HeatTransfer | SpecificHeat => {
            let th = p
                .thermal
                .as_mut()
                .ok_or_else(|| CellError::InvalidParameter {
                    name: format!("{which:?}"),
                    value: v.re(),
                    expected: "a cell with thermal properties (BPX Cell density, specific heat \
                           capacity, volume and external surface area)"
                        .into(),
                })?;
            if which == HeatTransfer {
                th.heat_transfer_coefficient = v;
            } else {
                th.specific_heat = v;
            }
        }
        U0N | U0P | OmegaN | OmegaP => {
            let e = if matches!(which, U0N | OmegaN) {
                &mut p.neg
            } else {
                &mut p.pos
            };
            match &mut e.ocp {
                Ocp::RegularSolution { u0, omega_ev } => {
                    if matches!(which, U0N | U0P) {
                        *u0 = v
                    } else {
                        *omega_ev = v
                    }
                }
                _ => {
                    return Err(CellError::InvalidParameter {
                        name: format!("{which:?}"),
                        value: v.re(),
                        expected: "an electrode whose OCP is a regular-solution law".into(),
                    });
                }
            }
        }
    }
    Ok(())
}
