//! The cell behind the [`Model`] trait: chosen free parameters in, the voltage curve (and capacity to cut-off) out.

use super::CellError;
use super::ocp::Ocp;
use super::params::CellParams;
use super::protocol::Protocol;
use super::spm::{SolverOptions, simulate};
use crate::model::{Axis, InputSpec, Model, ModelError, OutputSpec, Scalar};

/// A free parameter of [`CellModel`], resolved once from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeParam {
    /// Negative/positive particle diffusivity D_s at T_ref [m²/s] (for a function of θ: its multiplier [1]).
    DiffusivityN,
    DiffusivityP,
    /// Reaction-rate constants m_ref [A·m⁻²·(m³/mol)^1.5].
    RateN,
    RateP,
    /// Contact resistance [Ω].
    ContactResistance,
    /// Activation energies [J/mol].
    EaDiffN,
    EaDiffP,
    EaRateN,
    EaRateP,
    /// Temperature [K].
    Temperature,
    /// Maximum concentrations [mol/m³].
    CMaxN,
    CMaxP,
    /// Particle radii [m].
    RadiusN,
    RadiusP,
    /// Electrode thicknesses [m].
    ThicknessN,
    ThicknessP,
    /// Active-material volume fractions [1].
    ActiveN,
    ActiveP,
    /// Stoichiometries at 100 % and 0 % SOC [1].
    Theta100N,
    Theta100P,
    Theta0N,
    Theta0P,
    /// Initial SOC [1].
    Soc0,
    /// Transference number [1].
    TPlus,
    /// Electrolyte diffusivity multiplier [1] and conductivity multiplier [1].
    DeFactor,
    KappaFactor,
    /// Initial electrolyte concentration [mol/m³].
    Ce0,
    /// Regular-solution OCP parameters (only for `Ocp::RegularSolution`): U0 [V], Ω [eV].
    U0N,
    U0P,
    OmegaN,
    OmegaP,
}

/// (name, unit, parameter) for every free parameter [`CellModel`] accepts.
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
        Temperature => p.temperature = v,
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

/// What [`CellModel`] outputs at requested times after the solve stopped at a cut-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AfterCutoff {
    /// Hold the cut-off voltage (zero derivative): a smooth penalty for calibration.
    #[default]
    Hold,
    /// Ignore cut-offs and keep simulating to the last requested time (a state leaving the
    /// physical range is then an error).
    Continue,
}

/// The SPM/SPMe as a [`Model`]: inputs are the chosen free parameters (see
/// [`FREE_PARAMETERS`] for names and units), every other parameter is fixed from a base
/// `CellParams<f64>`. Outputs: `voltage` [V] on the requested times [s], then
/// `capacity` [A·h], the discharged capacity at the end of the solve (at the cut-off if reached).
/// A state outside the physical range is a [`ModelError`], never a panic.
#[derive(Debug, Clone)]
pub struct CellModel {
    base: CellParams<f64>,
    free: Vec<FreeParam>,
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
    protocol: Protocol,
    opts: SolverOptions,
    n_times: usize,
    after_cutoff: AfterCutoff,
}

impl CellModel {
    /// Build from a base parameter set, free parameter names, a protocol and output times [s].
    pub fn new(
        base: CellParams<f64>,
        free: &[&str],
        protocol: Protocol,
        times: Vec<f64>,
        mut opts: SolverOptions,
        after_cutoff: AfterCutoff,
    ) -> Result<Self, CellError> {
        let mut fp = Vec::with_capacity(free.len());
        let mut inputs = Vec::with_capacity(free.len());
        for name in free {
            let (n, u, p) = FREE_PARAMETERS
                .iter()
                .find(|(n, _, _)| n == name)
                .ok_or_else(|| CellError::InvalidParameter {
                    name: name.to_string(),
                    value: f64::NAN,
                    expected: format!(
                        "one of {}",
                        FREE_PARAMETERS
                            .iter()
                            .map(|f| f.0)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?;
            fp.push(*p);
            inputs.push(InputSpec::new(n, u));
        }
        base.validate()?;
        // check the base converts (no custom closure)
        base.to_scalar::<f64>()?;
        opts.output_times = Some(times.clone());
        opts.stop_at_cutoff = after_cutoff == AfterCutoff::Hold;
        let n_times = times.len();
        let outputs = vec![
            OutputSpec::curve(
                "voltage",
                "V",
                Axis {
                    name: "t".into(),
                    unit: "s".into(),
                    values: times,
                },
            ),
            OutputSpec::scalar("capacity", "A h"),
        ];
        Ok(Self {
            base,
            free: fp,
            inputs,
            outputs,
            protocol,
            opts,
            n_times,
            after_cutoff,
        })
    }

    /// The base parameter set.
    pub fn base(&self) -> &CellParams<f64> {
        &self.base
    }
}

impl Model for CellModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        if theta.len() != self.free.len() {
            return Err(ModelError::WrongInputCount {
                expected: self.free.len(),
                found: theta.len(),
            });
        }
        let mut p: CellParams<D> = self.base.to_scalar()?;
        for (k, (&w, &v)) in self.free.iter().zip(theta).enumerate() {
            if !v.re().is_finite() {
                return Err(ModelError::InvalidInput {
                    name: self.inputs[k].name.clone(),
                    value: v.re(),
                    expected: "a finite value".into(),
                });
            }
            apply_free(&mut p, w, v)?;
        }
        let sol = simulate(&p, &self.protocol, &self.opts)?;
        let n = sol.rows.len().min(self.n_times);
        for (o, r) in out.iter_mut().zip(&sol.rows[..n]) {
            *o = r.voltage;
        }
        if n < self.n_times {
            let hold = match (&sol.cutoff, self.after_cutoff) {
                (Some(r), AfterCutoff::Hold) => r.voltage,
                _ => {
                    return Err(ModelError::SolverFailed(format!(
                        "the protocol ended at {} of {} requested output times",
                        n, self.n_times
                    )));
                }
            };
            for o in out.iter_mut().take(self.n_times).skip(n) {
                *o = hold;
            }
        }
        out[self.n_times] = sol.final_capacity_ah();
        Ok(())
    }
}
