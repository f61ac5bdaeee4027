//! The thermodynamic laws behind the [`Model`] trait, and [`build_thermo_law`], the entry point study files use.
//!
//! Inputs (θ) by free-energy kind, in this order:
//! - regular solution: `Omega` \[eV\], `mu0` \[eV\], `T` \[K\];
//! - Redlich–Kister with n terms: `a_0`..`a_{n−1}` \[eV\], `b_0`..`b_{n−1}` \[eV/K\], `mu0` \[eV\],
//!   `T` \[K\] (A_k(T) = a_k + b_k·T).
//!
//! Energies are eV per site; voltages are against the chosen reference (Li metal by default,
//! μ_ref = 0 by convention): U = −(μ − μ_ref)/e \[V\].

use toml::{Table, Value};

use crate::model::{Axis, InputSpec, Model, ModelError, OutputSpec, Scalar};

use super::free_energy::{FreeEnergy, check_composition};
use super::hull::step_voltage_profile;
use super::phase::{
    Equilibrium, common_tangents_from_spinodals, critical_temperature, lift_spinodal, lift_tangent,
    spinodal_intervals,
};
use super::{ThermoError, open_circuit_voltage};

/// Which free energy g(x, T) a model uses, which fixes its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeEnergyKind {
    /// g = x·μ0 + Ω·x(1−x) + k_B·T·[x ln x + (1−x) ln(1−x)]; inputs Omega \[eV\], mu0 \[eV\], T \[K\].
    RegularSolution,
    /// g = x·μ0 + x(1−x)·Σ_{k<n} (a_k + b_k·T)(1−2x)^k + ideal mixing; inputs a_0..a_{n−1} \[eV\],
    /// b_0..b_{n−1} \[eV/K\], mu0 \[eV\], T \[K\].
    RedlichKister {
        /// Number of terms n.
        n_terms: usize,
    },
}

impl FreeEnergyKind {
    /// Input specifications in θ order.
    pub fn inputs(&self) -> Vec<InputSpec> {
        match *self {
            Self::RegularSolution => vec![
                InputSpec::new("Omega", "eV"),
                InputSpec::new("mu0", "eV"),
                InputSpec::new("T", "K"),
            ],
            Self::RedlichKister { n_terms } => {
                let mut v: Vec<InputSpec> = (0..n_terms)
                    .map(|k| InputSpec::new(&format!("a_{k}"), "eV"))
                    .collect();
                v.extend((0..n_terms).map(|k| InputSpec::new(&format!("b_{k}"), "eV/K")));
                v.push(InputSpec::new("mu0", "eV"));
                v.push(InputSpec::new("T", "K"));
                v
            }
        }
    }

    /// Number of inputs.
    pub fn n_inputs(&self) -> usize {
        match *self {
            Self::RegularSolution => 3,
            Self::RedlichKister { n_terms } => 2 * n_terms + 2,
        }
    }

    /// The free energy at θ (validated: T > 0, all finite).
    pub fn free_energy<D: Scalar>(&self, theta: &[D]) -> Result<FreeEnergy<D>, ModelError> {
        if theta.len() != self.n_inputs() {
            return Err(ModelError::WrongInputCount {
                expected: self.n_inputs(),
                found: theta.len(),
            });
        }
        let f = match *self {
            Self::RegularSolution => FreeEnergy::regular_solution(theta[0], theta[1], theta[2]),
            Self::RedlichKister { n_terms: n } => FreeEnergy::redlich_kister(
                theta[2 * n],
                theta[..n].to_vec(),
                theta[n..2 * n].to_vec(),
                theta[2 * n + 1],
            ),
        };
        f.validate()?;
        Ok(f)
    }
}

/// The electrode the voltage is measured against.
#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    /// Li metal, μ_ref = 0 at every T by convention (μ0 and the b_k are then relative to Li
    /// metal, including its entropy).
    LiMetal,
    /// A fixed reference chemical potential μ_ref \[eV per Li\], independent of T.
    Fixed {
        /// μ_ref \[eV per Li\].
        mu_ref: f64,
    },
    /// A second host at fixed composition x, at the same temperature as the model:
    /// μ_ref = μ_eq,host(x, T) (its own plateau if x is inside its miscibility gap). The host's
    /// `t` field is ignored.
    Host {
        /// The host's free energy.
        host: FreeEnergy<f64>,
        /// The host's composition \[1\].
        x: f64,
    },
}

impl Reference {
    fn host_at<D: Scalar>(host: &FreeEnergy<f64>, t: D) -> Result<Equilibrium<D>, ModelError> {
        let f = FreeEnergy {
            mu0: D::from(host.mu0),
            a: host.a.iter().map(|&v| D::from(v)).collect(),
            b: host.b.iter().map(|&v| D::from(v)).collect(),
            t,
        };
        Ok(Equilibrium::new(f)?)
    }

    /// μ_ref(T) \[eV\].
    pub fn mu<D: Scalar>(&self, t: D) -> Result<D, ModelError> {
        match self {
            Self::LiMetal => Ok(D::from(0.0)),
            Self::Fixed { mu_ref } => Ok(D::from(*mu_ref)),
            Self::Host { host, x } => Ok(Self::host_at(host, t)?.mu(*x)),
        }
    }

    /// dμ_ref/dT \[eV/K\].
    pub fn dmu_dt<D: Scalar>(&self, t: D) -> Result<D, ModelError> {
        match self {
            Self::LiMetal | Self::Fixed { .. } => Ok(D::from(0.0)),
            Self::Host { host, x } => Ok(Self::host_at(host, t)?.dmu_dt(*x)),
        }
    }
}

/// Which branch of μ(x) a curve model reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branch {
    /// The equilibrium (convex hull of g): flat μ across each miscibility gap.
    Equilibrium,
    /// The homogeneous solid solution everywhere (unstable inside the spinodal).
    SolidSolution,
}

fn x_axis(x: &[f64]) -> Axis {
    Axis {
        name: "x".into(),
        unit: "1".into(),
        values: x.to_vec(),
    }
}

/// Common state of the three free-energy curve models.
#[derive(Debug, Clone)]
struct CurveBase {
    kind: FreeEnergyKind,
    x: Vec<f64>,
    branch: Branch,
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl CurveBase {
    fn new(
        kind: FreeEnergyKind,
        x: Vec<f64>,
        branch: Branch,
        name: &str,
        unit: &str,
    ) -> Result<Self, ThermoError> {
        check_kind(kind)?;
        if x.is_empty() {
            return Err(ThermoError::InvalidOption {
                option: "x".into(),
                message: "the composition grid is empty".into(),
            });
        }
        for &xi in &x {
            check_composition(xi)?;
        }
        Ok(Self {
            kind,
            inputs: kind.inputs(),
            outputs: vec![OutputSpec::curve(name, unit, x_axis(&x))],
            x,
            branch,
        })
    }

    /// Evaluate `per_point(state, x)` for every grid x, with the equilibrium solved once.
    fn eval_with<D: Scalar>(
        &self,
        theta: &[D],
        out: &mut [D],
        eq_point: impl Fn(&Equilibrium<D>, f64) -> D,
        ss_point: impl Fn(&FreeEnergy<D>, f64) -> D,
    ) -> Result<(), ModelError> {
        let f = self.kind.free_energy(theta)?;
        match self.branch {
            Branch::Equilibrium => {
                let eq = Equilibrium::new(f)?;
                for (o, &x) in out.iter_mut().zip(&self.x) {
                    *o = eq_point(&eq, x);
                }
            }
            Branch::SolidSolution => {
                for (o, &x) in out.iter_mut().zip(&self.x) {
                    *o = ss_point(&f, x);
                }
            }
        }
        Ok(())
    }
}

fn check_kind(kind: FreeEnergyKind) -> Result<(), ThermoError> {
    if let FreeEnergyKind::RedlichKister { n_terms } = kind
        && !(1..=16).contains(&n_terms)
    {
        return Err(ThermoError::InvalidOption {
            option: "terms".into(),
            message: format!("{n_terms} Redlich–Kister terms; expected 1 to 16"),
        });
    }
    Ok(())
}

/// Open-circuit voltage curve U(x) = −(μ(x, T) − μ_ref)/e \[V\] on a composition grid.
/// With [`Branch::Equilibrium`] μ is the convex-hull (equilibrium) potential: flat at the
/// plateau voltage across every miscibility gap (x1, x2). Output: curve `U` \[V\] on axis x.
#[derive(Debug, Clone)]
pub struct OcvCurveModel {
    base: CurveBase,
    reference: Reference,
}

impl OcvCurveModel {
    /// OCV on the grid `x` (each in (0, 1)).
    pub fn new(
        kind: FreeEnergyKind,
        x: Vec<f64>,
        reference: Reference,
        branch: Branch,
    ) -> Result<Self, ThermoError> {
        Ok(Self {
            base: CurveBase::new(kind, x, branch, "U", "V")?,
            reference,
        })
    }
}

impl Model for OcvCurveModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.base.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.base.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        let t = theta[theta.len() - 1];
        let mu_ref = self.reference.mu(t)?;
        self.base.eval_with(
            theta,
            out,
            |eq, x| open_circuit_voltage(eq.mu(x), mu_ref),
            |f, x| open_circuit_voltage(f.mu(D::from(x)), mu_ref),
        )
    }
}

/// Thermodynamic factor curve Θ(x) = (x/(k_B·T))·∂μ/∂x (dimensionless) on a composition grid.
/// Equilibrium branch: Θ = 0 inside a miscibility gap. Output: curve `Theta` \[1\] on axis x.
#[derive(Debug, Clone)]
pub struct ThermodynamicFactorModel {
    base: CurveBase,
}

impl ThermodynamicFactorModel {
    /// Θ on the grid `x` (each in (0, 1)).
    pub fn new(kind: FreeEnergyKind, x: Vec<f64>, branch: Branch) -> Result<Self, ThermoError> {
        Ok(Self {
            base: CurveBase::new(kind, x, branch, "Theta", "1")?,
        })
    }
}

impl Model for ThermodynamicFactorModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.base.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.base.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        self.base.eval_with(
            theta,
            out,
            |eq, x| eq.thermodynamic_factor(x),
            |f, x| f.thermodynamic_factor(D::from(x)),
        )
    }
}

/// Entropic coefficient curve ∂U/∂T = −(∂μ/∂T − dμ_ref/dT)/e \[V/K\] on a composition grid.
/// Solid solution: ∂μ/∂T = Σ b_k φ_k'(x) + k_B ln(x/(1−x)); inside a gap (equilibrium branch)
/// the plateau's dμ_p/dT = (∂g/∂T(x2) − ∂g/∂T(x1))/(x2 − x1). Output: curve `dU_dT` \[V/K\].
#[derive(Debug, Clone)]
pub struct EntropicCoefficientModel {
    base: CurveBase,
    reference: Reference,
}

impl EntropicCoefficientModel {
    /// ∂U/∂T on the grid `x` (each in (0, 1)).
    pub fn new(
        kind: FreeEnergyKind,
        x: Vec<f64>,
        reference: Reference,
        branch: Branch,
    ) -> Result<Self, ThermoError> {
        Ok(Self {
            base: CurveBase::new(kind, x, branch, "dU_dT", "V/K")?,
            reference,
        })
    }
}

impl Model for EntropicCoefficientModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.base.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.base.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        let t = theta[theta.len() - 1];
        let dref = self.reference.dmu_dt(t)?;
        self.base.eval_with(
            theta,
            out,
            |eq, x| -(eq.dmu_dt(x) - dref),
            |f, x| -(f.dmu_dt(D::from(x)) - dref),
        )
    }
}

/// Two-phase plateau of one miscibility gap, as scalars: `U_plateau` = −(μ_p − μ_ref)/e \[V\],
/// binodal compositions `x1` < `x2`, spinodal compositions `x_spinodal_1` < `x_spinodal_2`
/// (the outermost spinodal points inside the gap), and the critical temperature `T_c` \[K\]
/// (symmetric regular solution: Ω/(2k_B)). All with exact first derivatives through the
/// implicit function theorem. At or above T_c there is no gap: evaluation returns
/// `ModelError::OutOfPhysicalRange` for T (no plateau is reported).
#[derive(Debug, Clone)]
pub struct PlateauModel {
    kind: FreeEnergyKind,
    reference: Reference,
    gap: usize,
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl PlateauModel {
    /// Plateau of gap number `gap` (0 = lowest x).
    pub fn new(
        kind: FreeEnergyKind,
        reference: Reference,
        gap: usize,
    ) -> Result<Self, ThermoError> {
        check_kind(kind)?;
        Ok(Self {
            kind,
            reference,
            gap,
            inputs: kind.inputs(),
            outputs: vec![
                OutputSpec::scalar("U_plateau", "V"),
                OutputSpec::scalar("x1", "1"),
                OutputSpec::scalar("x2", "1"),
                OutputSpec::scalar("x_spinodal_1", "1"),
                OutputSpec::scalar("x_spinodal_2", "1"),
                OutputSpec::scalar("T_c", "K"),
            ],
        })
    }
}

impl Model for PlateauModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        let f = self.kind.free_energy(theta)?;
        let ff = f.to_f64();
        let all_spin = spinodal_intervals(&ff)?;
        let tangents = common_tangents_from_spinodals(&ff, &all_spin)?;
        let (t_c, _) = critical_temperature(&f)?;
        if tangents.is_empty() {
            return Err(ThermoError::NoPlateau {
                t: ff.t,
                t_c: t_c.re(),
            }
            .into());
        }
        let ct = tangents.get(self.gap).ok_or(ThermoError::NoSuchGap {
            index: self.gap,
            found: tangents.len(),
            t: ff.t,
        })?;
        let pb = lift_tangent(&f, ct);
        let spin: Vec<(f64, f64)> = all_spin
            .into_iter()
            .filter(|&(lo, hi)| lo > ct.x1 && hi < ct.x2)
            .collect();
        let (s1, s2) = match (spin.first(), spin.last()) {
            (Some(a), Some(b)) => (a.0, b.1),
            _ => {
                return Err(ModelError::SolverFailed(
                    "miscibility gap without a spinodal region".into(),
                ));
            }
        };
        let mu_ref = self.reference.mu(f.t)?;
        out[0] = open_circuit_voltage(pb.mu, mu_ref);
        out[1] = pb.x1;
        out[2] = pb.x2;
        out[3] = lift_spinodal(&f, s1);
        out[4] = lift_spinodal(&f, s2);
        out[5] = t_c;
        Ok(())
    }
}

/// 0 K step voltage profile from tabulated formation energies via the lower convex hull.
/// Inputs: `E_0`..`E_{m−1}` \[eV per formula unit\] at fixed compositions x_points (energies
/// relative to Li metal, or total energies with `e_li` set). Outputs: curve `U_0K` \[V\] on the
/// x grid (piecewise constant, one step per hull edge) and scalar `U_avg` \[V\] over the
/// tabulated range. Hull vertices are chosen on the real parts; step heights carry exact
/// derivatives with respect to the vertex energies.
#[derive(Debug, Clone)]
pub struct HullVoltageModel {
    x_points: Vec<f64>,
    e_li: f64,
    x: Vec<f64>,
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl HullVoltageModel {
    /// `x_points`: compositions of the tabulated energies (≥ 2 distinct); `x`: output grid
    /// inside [min, max] of x_points; `e_li`: Li metal energy per atom \[eV\] subtracted as
    /// x·e_li (0 when the energies are already relative to Li metal).
    pub fn new(x_points: Vec<f64>, x: Vec<f64>, e_li: f64) -> Result<Self, ThermoError> {
        let lo = x_points.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = x_points.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if x_points.iter().any(|v| !v.is_finite()) || hi <= lo {
            return Err(ThermoError::TooFewPoints {
                needed: 2,
                found: usize::from(hi.is_finite() && lo.is_finite() && hi > lo) + 1,
            });
        }
        if !e_li.is_finite() {
            return Err(ThermoError::InvalidOption {
                option: "e_li".into(),
                message: format!("{e_li} is not finite"),
            });
        }
        if x.is_empty() {
            return Err(ThermoError::InvalidOption {
                option: "x".into(),
                message: "the composition grid is empty".into(),
            });
        }
        for &xi in &x {
            if !(xi >= lo && xi <= hi) {
                return Err(ThermoError::OutsideRange { x: xi, lo, hi });
            }
        }
        Ok(Self {
            inputs: (0..x_points.len())
                .map(|i| InputSpec::new(&format!("E_{i}"), "eV"))
                .collect(),
            outputs: vec![
                OutputSpec::curve("U_0K", "V", x_axis(&x)),
                OutputSpec::scalar("U_avg", "V"),
            ],
            x_points,
            e_li,
            x,
        })
    }
}

impl Model for HullVoltageModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        if theta.len() != self.x_points.len() {
            return Err(ModelError::WrongInputCount {
                expected: self.x_points.len(),
                found: theta.len(),
            });
        }
        let e: Vec<D> = theta
            .iter()
            .zip(&self.x_points)
            .map(|(&ei, &xi)| ei - xi * self.e_li)
            .collect();
        let p = step_voltage_profile(&self.x_points, &e)?;
        let n = self.x.len();
        for (o, &x) in out[..n].iter_mut().zip(&self.x) {
            *o = p.voltage_at(x)?;
        }
        out[n] = p.average_voltage();
        Ok(())
    }
}

/// Every thermodynamic law a study file can name, as one enum (the trait's generic `eval`
/// rules out `dyn Model`).
#[derive(Debug, Clone)]
pub enum ThermoLaw {
    /// Open-circuit voltage curve U(x) \[V\].
    Ocv(OcvCurveModel),
    /// Plateau voltage \[V\], coexisting and spinodal compositions \[1\] and critical temperature
    /// \[K\] of a miscibility gap.
    Plateau(PlateauModel),
    /// Thermodynamic factor curve Θ(x) \[1\].
    ThermodynamicFactor(ThermodynamicFactorModel),
    /// Entropic coefficient curve dU/dT(x) \[V/K\].
    EntropicCoefficient(EntropicCoefficientModel),
    /// 0 K step voltage profile from the convex hull of tabulated formation energies \[V\].
    HullVoltage(HullVoltageModel),
}

impl Model for ThermoLaw {
    fn inputs(&self) -> &[InputSpec] {
        match self {
            Self::Ocv(m) => m.inputs(),
            Self::Plateau(m) => m.inputs(),
            Self::ThermodynamicFactor(m) => m.inputs(),
            Self::EntropicCoefficient(m) => m.inputs(),
            Self::HullVoltage(m) => m.inputs(),
        }
    }
    fn outputs(&self) -> &[OutputSpec] {
        match self {
            Self::Ocv(m) => m.outputs(),
            Self::Plateau(m) => m.outputs(),
            Self::ThermodynamicFactor(m) => m.outputs(),
            Self::EntropicCoefficient(m) => m.outputs(),
            Self::HullVoltage(m) => m.outputs(),
        }
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        match self {
            Self::Ocv(m) => m.eval(theta, out),
            Self::Plateau(m) => m.eval(theta, out),
            Self::ThermodynamicFactor(m) => m.eval(theta, out),
            Self::EntropicCoefficient(m) => m.eval(theta, out),
            Self::HullVoltage(m) => m.eval(theta, out),
        }
    }
}

/// Names accepted by [`build_thermo_law`], in the order of [`THERMO_LAWS`].
pub const THERMO_LAW_NAMES: &[&str] = &[
    "regular_solution_ocv",
    "regular_solution_plateau",
    "regular_solution_theta",
    "regular_solution_entropic",
    "redlich_kister_ocv",
    "redlich_kister_plateau",
    "redlich_kister_theta",
    "redlich_kister_entropic",
    "hull_voltage_0k",
];

/// (name, one-line description) of every law [`build_thermo_law`] accepts.
pub const THERMO_LAWS: &[(&str, &str)] = &[
    (
        "regular_solution_ocv",
        "OCV U(x) [V] of a regular solution (Omega, mu0, T), flat across the miscibility gap",
    ),
    (
        "regular_solution_plateau",
        "plateau voltage [V], binodal x1, x2, spinodals and T_c [K] of a regular solution",
    ),
    (
        "regular_solution_theta",
        "thermodynamic factor Theta(x) = (x/kT) dmu/dx of a regular solution",
    ),
    (
        "regular_solution_entropic",
        "entropic coefficient dU/dT(x) [V/K] of a regular solution",
    ),
    (
        "redlich_kister_ocv",
        "OCV U(x) [V] of a Redlich-Kister solution (a_k, b_k, mu0, T), flat across gaps",
    ),
    (
        "redlich_kister_plateau",
        "plateau voltage [V], binodals, spinodals and T_c [K] of a Redlich-Kister solution",
    ),
    (
        "redlich_kister_theta",
        "thermodynamic factor Theta(x) of a Redlich-Kister solution",
    ),
    (
        "redlich_kister_entropic",
        "entropic coefficient dU/dT(x) [V/K] of a Redlich-Kister solution (b_k and ideal mixing)",
    ),
    (
        "hull_voltage_0k",
        "0 K step voltage profile [V] from tabulated DFT energies E_i via the lower convex hull",
    ),
];

fn opt_err(option: &str, message: impl Into<String>) -> ThermoError {
    ThermoError::InvalidOption {
        option: option.into(),
        message: message.into(),
    }
}

/// A thermodynamic law's options as a study file gives them (the keys of [`build_thermo_law`]);
/// which of them a law takes is checked after reading, against the keys given.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ThermoOptions {
    x: Option<Vec<f64>>,
    x_grid: Option<EvenGrid>,
    reference: Option<ReferenceOption>,
    branch: Option<BranchOption>,
    terms: Option<u64>,
    gap: Option<u64>,
    x_points: Option<Vec<f64>>,
    e_li: Option<f64>,
}

/// `x_grid = { start, stop, n }`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EvenGrid {
    start: f64,
    stop: f64,
    n: u64,
}

/// `reference = "Li"` or a table (see [`build_thermo_law`]).
#[derive(Debug)]
enum ReferenceOption {
    Named(String),
    Table(ReferenceTable),
}

/// The table form of `reference`: `{ mu_ref }` or a second host `{ x, mu0, omega }` /
/// `{ x, mu0, a, b }`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReferenceTable {
    mu_ref: Option<f64>,
    x: Option<f64>,
    mu0: Option<f64>,
    omega: Option<f64>,
    a: Option<Vec<f64>>,
    b: Option<Vec<f64>>,
}

impl<'de> serde::Deserialize<'de> for ReferenceOption {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ReferenceOption;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"Li\" or a table")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<ReferenceOption, E> {
                Ok(ReferenceOption::Named(s.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                a: A,
            ) -> Result<ReferenceOption, A::Error> {
                serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(a))
                    .map(ReferenceOption::Table)
            }
        }
        d.deserialize_any(V)
    }
}

/// `branch = "equilibrium" | "solid_solution"`.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum BranchOption {
    Equilibrium,
    SolidSolution,
}

impl ThermoOptions {
    /// The options table read into its typed form; a value of the wrong type is an
    /// [`ThermoError::InvalidOption`] naming the key, an unknown key one naming `allowed`.
    fn read(options: &Table, allowed: &[&str]) -> Result<Self, ThermoError> {
        if let Some(k) = options.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(opt_err(
                k,
                format!("unknown option (allowed: {})", allowed.join(", ")),
            ));
        }
        crate::schema::from_value(Value::Table(options.clone()))
            .map_err(|e| opt_err(&e.field, e.message))
    }

    /// The composition grid: `x = [..]` or `x_grid = {start, stop, n}` (n ≥ 1 evenly spaced
    /// points, both ends included), else `default`.
    fn grid(&self, default: (f64, f64, u64)) -> Result<Vec<f64>, ThermoError> {
        match (&self.x, &self.x_grid) {
            (Some(_), Some(_)) => Err(opt_err("x", "give either x or x_grid, not both")),
            (Some(x), None) => Ok(x.clone()),
            (None, Some(g)) => linspace(g.start, g.stop, g.n),
            (None, None) => linspace(default.0, default.1, default.2),
        }
    }

    fn reference(&self) -> Result<Reference, ThermoError> {
        let t = match &self.reference {
            None => return Ok(Reference::LiMetal),
            Some(ReferenceOption::Named(s)) => {
                return if s == "Li" || s == "li" || s == "Li metal" {
                    Ok(Reference::LiMetal)
                } else {
                    Err(opt_err(
                        "reference",
                        format!("'{s}': expected \"Li\" or a table"),
                    ))
                };
            }
            Some(ReferenceOption::Table(t)) => t,
        };
        if let Some(mu_ref) = t.mu_ref {
            if t.x.is_some()
                || t.mu0.is_some()
                || t.omega.is_some()
                || t.a.is_some()
                || t.b.is_some()
            {
                return Err(opt_err(
                    "reference",
                    "give either mu_ref or a second host (x, mu0, omega or a, b), not both",
                ));
            }
            if !mu_ref.is_finite() {
                return Err(opt_err("reference.mu_ref", "not finite"));
            }
            return Ok(Reference::Fixed { mu_ref });
        }
        let x = t.x.ok_or_else(|| opt_err("reference", "missing 'x'"))?;
        check_composition(x)?;
        let (a, b) = match (t.omega, &t.a) {
            (Some(_), Some(_)) => {
                return Err(opt_err("reference", "give either omega or a, not both"));
            }
            (Some(omega), None) => (vec![omega], Vec::new()),
            (None, Some(a)) => (a.clone(), t.b.clone().unwrap_or_default()),
            (None, None) if t.b.is_some() => {
                return Err(opt_err("reference.b", "b (the a_k's T-slopes) needs a"));
            }
            (None, None) => (Vec::new(), Vec::new()),
        };
        let host = FreeEnergy::redlich_kister(t.mu0.unwrap_or(0.0), a, b, 300.0);
        host.validate()?;
        Ok(Reference::Host { host, x })
    }

    fn branch(&self) -> Branch {
        match self.branch {
            None | Some(BranchOption::Equilibrium) => Branch::Equilibrium,
            Some(BranchOption::SolidSolution) => Branch::SolidSolution,
        }
    }
}

fn linspace(start: f64, stop: f64, n: u64) -> Result<Vec<f64>, ThermoError> {
    if n == 0 || n > 1_000_000 || !start.is_finite() || !stop.is_finite() {
        return Err(opt_err(
            "x_grid",
            format!("start {start}, stop {stop}, n {n}: need finite ends and 1 ≤ n ≤ 1e6"),
        ));
    }
    if n == 1 {
        return Ok(vec![start]);
    }
    Ok((0..n)
        .map(|i| start + (stop - start) * i as f64 / (n - 1) as f64)
        .collect())
}

/// Build a thermodynamic law by name (see [`THERMO_LAWS`]) from its study-file options.
///
/// Options (a TOML table; unknown keys are an error):
/// - `x = [..]` or `x_grid = { start = 0.01, stop = 0.99, n = 99 }`: output composition grid
///   for the curve laws (`*_ocv`, `*_theta`, `*_entropic`, `hull_voltage_0k`); site fractions,
///   strictly inside (0, 1) for the free-energy laws. Default: 99 points from 0.01 to 0.99
///   (for `hull_voltage_0k`: 101 points spanning the tabulated compositions).
/// - `reference` (`*_ocv`, `*_entropic`, `*_plateau`): `"Li"` (default; Li metal, μ_ref = 0),
///   `{ mu_ref = <eV> }` (fixed μ_ref), or a second host at the model's T:
///   `{ x = 0.5, mu0 = <eV>, omega = <eV> }` or `{ x = 0.5, mu0 = <eV>, a = [..], b = [..] }`.
/// - `branch` (`*_ocv`, `*_theta`, `*_entropic`): `"equilibrium"` (default; convex hull, flat
///   across gaps, Θ = 0 there) or `"solid_solution"` (homogeneous, unstable in the spinodal).
/// - `terms` (required for `redlich_kister_*`): number n of Redlich–Kister terms (1–16); the
///   inputs are a_0..a_{n−1} \[eV\], b_0..b_{n−1} \[eV/K\], mu0 \[eV\], T \[K\].
/// - `gap` (`*_plateau`): index of the miscibility gap to report, ascending in x (default 0).
/// - `x_points = [..]` (required for `hull_voltage_0k`): compositions of the tabulated
///   energies; the inputs are E_0..E_{m−1} \[eV per formula unit\].
/// - `e_li` (`hull_voltage_0k`): Li metal energy per atom \[eV\] subtracted as x·e_li when the
///   energies are not yet referenced to Li metal (default 0).
pub fn build_thermo_law(name: &str, options: &Table) -> Result<ThermoLaw, ThermoError> {
    let default_grid = (0.01, 0.99, 99);
    let (family, what) = if name == "hull_voltage_0k" {
        ("hull", "0k")
    } else {
        match name.rsplit_once('_') {
            Some((fam, what)) if fam == "regular_solution" || fam == "redlich_kister" => {
                (fam, what)
            }
            _ => ("", ""),
        }
    };
    let unknown = || ThermoError::UnknownLaw(name.into(), THERMO_LAW_NAMES.join(", "));
    if family == "hull" {
        let o = ThermoOptions::read(options, &["x", "x_grid", "x_points", "e_li"])?;
        let xp = o
            .x_points
            .clone()
            .ok_or_else(|| opt_err("x_points", "required for hull_voltage_0k"))?;
        let lo = xp.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let x = o.grid((lo, hi, 101))?;
        return Ok(ThermoLaw::HullVoltage(HullVoltageModel::new(
            xp,
            x,
            o.e_li.unwrap_or(0.0),
        )?));
    }
    let mut allowed: Vec<&str> = match what {
        "ocv" | "entropic" => vec!["x", "x_grid", "reference", "branch"],
        "theta" => vec!["x", "x_grid", "branch"],
        "plateau" => vec!["reference", "gap"],
        _ => return Err(unknown()),
    };
    if family == "redlich_kister" {
        allowed.push("terms");
    }
    let o = ThermoOptions::read(options, &allowed)?;
    let kind = match family {
        "regular_solution" => FreeEnergyKind::RegularSolution,
        "redlich_kister" => FreeEnergyKind::RedlichKister {
            n_terms: o
                .terms
                .ok_or_else(|| opt_err("terms", "required for redlich_kister_* laws"))?
                as usize,
        },
        _ => return Err(unknown()),
    };
    Ok(match what {
        "ocv" => ThermoLaw::Ocv(OcvCurveModel::new(
            kind,
            o.grid(default_grid)?,
            o.reference()?,
            o.branch(),
        )?),
        "entropic" => ThermoLaw::EntropicCoefficient(EntropicCoefficientModel::new(
            kind,
            o.grid(default_grid)?,
            o.reference()?,
            o.branch(),
        )?),
        "theta" => ThermoLaw::ThermodynamicFactor(ThermodynamicFactorModel::new(
            kind,
            o.grid(default_grid)?,
            o.branch(),
        )?),
        _ => ThermoLaw::Plateau(PlateauModel::new(
            kind,
            o.reference()?,
            o.gap.unwrap_or(0) as usize,
        )?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::K_B_EV;
    use crate::model::{evaluate, jacobian, jacobian_central_fd, n_outputs, output_range};

    /// LiFePO4 regular solution (Cogswell & Bazant 2012, atomistic_literature.md §2):
    /// Ω = 115.8 meV/site, μ0 = −3.42 eV (plateau 3.42 V vs Li), T = 298.15 K.
    const LFP: [f64; 3] = [0.1158, -3.42, 298.15];
    /// Asymmetric three-term Redlich–Kister: a_0..a_2 \[eV\], b_0..b_2 \[eV/K\], mu0, T.
    const RK3: [f64; 8] = [0.14, 0.04, -0.015, -2e-5, 1e-5, 3e-6, -3.9, 320.0];

    fn table(s: &str) -> Table {
        s.parse::<Table>().unwrap()
    }

    fn law(name: &str, opts: &str) -> ThermoLaw {
        build_thermo_law(name, &table(opts)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// AD Jacobian vs central differences, compared as relative sensitivities ∂y_i/∂ln θ_j,
    /// each row against its largest entry.
    fn assert_ad_matches_fd(m: &ThermoLaw, theta: &[f64], label: &str) {
        let (_, j) = jacobian(m, theta).unwrap();
        let fd = jacobian_central_fd(m, theta, 1e-6).unwrap();
        for r in 0..j.nrows() {
            let scale = (0..j.ncols())
                .map(|c| (j[(r, c)] * theta[c]).abs())
                .fold(0.0, f64::max);
            for c in 0..j.ncols() {
                let (a, b) = (j[(r, c)] * theta[c], fd[(r, c)] * theta[c]);
                assert!(
                    (a - b).abs() <= 1e-6 * scale + 1e-12,
                    "{label}: d out[{r}] / d {} : AD {} vs FD {}",
                    m.inputs()[c].name,
                    j[(r, c)],
                    fd[(r, c)]
                );
            }
        }
    }

    fn all_laws() -> Vec<(ThermoLaw, Vec<f64>, &'static str)> {
        let grid = "x = [0.005, 0.1, 0.35, 0.5, 0.8, 0.995]";
        let host = "reference = { x = 0.5, mu0 = -0.1, omega = 0.02 }";
        vec![
            (law("regular_solution_ocv", grid), LFP.to_vec(), "rs ocv"),
            (
                law("regular_solution_ocv", &format!("{grid}\n{host}")),
                LFP.to_vec(),
                "rs ocv vs host",
            ),
            (
                law(
                    "regular_solution_ocv",
                    &format!("{grid}\nbranch = \"solid_solution\""),
                ),
                LFP.to_vec(),
                "rs ocv solid solution",
            ),
            (
                law("regular_solution_plateau", ""),
                LFP.to_vec(),
                "rs plateau",
            ),
            (
                law("regular_solution_theta", grid),
                LFP.to_vec(),
                "rs theta",
            ),
            (
                law("regular_solution_entropic", grid),
                LFP.to_vec(),
                "rs entropic",
            ),
            (
                law("regular_solution_entropic", &format!("{grid}\n{host}")),
                LFP.to_vec(),
                "rs entropic vs host",
            ),
            (
                law("redlich_kister_ocv", &format!("terms = 3\n{grid}")),
                RK3.to_vec(),
                "rk ocv",
            ),
            (
                law("redlich_kister_plateau", "terms = 3"),
                RK3.to_vec(),
                "rk plateau",
            ),
            (
                law("redlich_kister_theta", &format!("terms = 3\n{grid}")),
                RK3.to_vec(),
                "rk theta",
            ),
            (
                law("redlich_kister_entropic", &format!("terms = 3\n{grid}")),
                RK3.to_vec(),
                "rk entropic",
            ),
            (
                law(
                    "hull_voltage_0k",
                    "x_points = [0.0, 0.25, 0.5, 0.75, 1.0]\nx = [0.1, 0.3, 0.6, 0.9]",
                ),
                vec![0.0, -1.0, -1.7, -2.0, -2.6],
                "hull",
            ),
        ]
    }

    #[test]
    fn ad_gradients_of_every_model_match_central_differences() {
        for (m, theta, label) in all_laws() {
            assert_eq!(m.inputs().len(), theta.len(), "{label}");
            let v = evaluate(&m, &theta).unwrap();
            assert_eq!(v.len(), n_outputs(&m));
            assert!(v.iter().all(|y| y.is_finite()), "{label}: {v:?}");
            // The dual evaluation's real part is the f64 value (up to the round-off of the
            // lifting Newton step).
            let (vd, _) = jacobian(&m, &theta).unwrap();
            for (a, b) in v.iter().zip(&vd) {
                assert!(
                    (a - b).abs() <= 1e-12 * a.abs() + 1e-15,
                    "{label}: {a} vs {b}"
                );
            }
            assert_ad_matches_fd(&m, &theta, label);
        }
    }

    #[test]
    fn lifepo4_ocv_is_flat_across_the_miscibility_gap() {
        let m = law("regular_solution_ocv", "x = [0.005, 0.1, 0.5, 0.9, 0.995]");
        let u = evaluate(&m, &LFP).unwrap();
        for &k in &[1, 2, 3] {
            assert!((u[k] - 3.42).abs() < 1e-12, "plateau at 3.42 V: {u:?}");
        }
        let f = FreeEnergy::regular_solution(LFP[0], LFP[1], LFP[2]);
        assert!((u[0] + f.mu(0.005)).abs() < 1e-14);
        assert!(u[0] > 3.42 && u[4] < 3.42, "{u:?}");
        // Plateau model agrees with the curve; binodal symmetric, T_c = Ω/(2k_B) ≈ 672 K.
        let p = law("regular_solution_plateau", "");
        let s = evaluate(&p, &LFP).unwrap();
        assert!((s[0] - 3.42).abs() < 1e-12);
        assert!((s[1] + s[2] - 1.0).abs() < 1e-12);
        assert!(s[1] < s[3] && s[3] < 0.5 && s[4] < s[2]);
        assert!((s[5] - LFP[0] / (2.0 * K_B_EV)).abs() < 1e-8 && (s[5] - 672.0).abs() < 0.5);
    }

    #[test]
    fn above_critical_temperature_no_plateau() {
        let hot = [LFP[0], LFP[1], 700.0];
        let p = law("regular_solution_plateau", "");
        match evaluate(&p, &hot) {
            Err(ModelError::OutOfPhysicalRange { quantity, .. }) => assert_eq!(quantity, "T"),
            other => panic!("expected no plateau above T_c, got {other:?}"),
        }
        // The equilibrium OCV is then the solid solution everywhere.
        let eq = evaluate(&law("regular_solution_ocv", ""), &hot).unwrap();
        let ss = evaluate(
            &law("regular_solution_ocv", "branch = \"solid_solution\""),
            &hot,
        )
        .unwrap();
        assert_eq!(eq, ss);
        // ... and strictly decreasing in x.
        assert!(eq.windows(2).all(|w| w[1] < w[0]));
    }

    #[test]
    fn ideal_lattice_gas_and_equilibrium_thermodynamic_factor() {
        let m = law(
            "regular_solution_theta",
            "x_grid = { start = 0.05, stop = 0.95, n = 10 }",
        );
        let x = match &m.outputs()[0].shape {
            crate::model::OutputShape::Curve(a) => a.values.clone(),
            _ => unreachable!(),
        };
        let th = evaluate(&m, &[0.0, -3.0, 300.0]).unwrap();
        for (t, x) in th.iter().zip(&x) {
            assert!((t - 1.0 / (1.0 - x)).abs() < 1e-12 * t, "x {x}: {t}");
        }
        // LiFePO4 at 298 K: Θ = 0 on the plateau, 1/(1−x) − 2Ωx/k_BT outside it.
        let lfp = evaluate(&m, &LFP).unwrap();
        assert!(lfp[1..9].iter().all(|&t| t == 0.0), "{lfp:?}");
        let m = law(
            "regular_solution_theta",
            "x = [0.005]\nbranch = \"solid_solution\"",
        );
        let t = evaluate(&m, &LFP).unwrap()[0];
        let expect = 1.0 / 0.995 - 2.0 * LFP[0] * 0.005 / (K_B_EV * LFP[2]);
        assert!((t - expect).abs() < 1e-12);
    }

    #[test]
    fn entropic_coefficient_equals_temperature_derivative_of_ocv() {
        let grid = "x = [0.005, 0.1, 0.35, 0.5, 0.8, 0.995]";
        let host = "reference = { x = 0.3, mu0 = -0.1, a = [0.05, 0.01], b = [1e-5] }";
        for (fam, theta, extra) in [
            ("regular_solution", LFP.to_vec(), ""),
            ("redlich_kister", RK3.to_vec(), "terms = 3"),
        ] {
            for refr in ["", host] {
                let opts = format!("{grid}\n{extra}\n{refr}");
                let ocv = law(&format!("{fam}_ocv"), &opts);
                let ent = law(&format!("{fam}_entropic"), &opts);
                let (_, j) = jacobian(&ocv, &theta).unwrap();
                let d = evaluate(&ent, &theta).unwrap();
                let tcol = theta.len() - 1;
                for (i, di) in d.iter().enumerate() {
                    assert!(
                        (j[(i, tcol)] - di).abs() < 1e-10 * di.abs().max(1e-6),
                        "{fam} {refr}: x[{i}] dU/dT {di} vs AD {}",
                        j[(i, tcol)]
                    );
                }
            }
        }
        // Ideal-mixing part alone: ∂U/∂T = −k_B ln(x/(1−x)) for the regular solution.
        let ent = law(
            "regular_solution_entropic",
            "x = [0.2]\nbranch = \"solid_solution\"",
        );
        let d = evaluate(&ent, &LFP).unwrap()[0];
        assert!((d + K_B_EV * (0.2f64 / 0.8).ln()).abs() < 1e-15);
    }

    #[test]
    fn second_host_reference() {
        let m = law(
            "regular_solution_ocv",
            "x = [0.005]\nreference = { x = 0.5, mu0 = -0.1, omega = 0.02 }",
        );
        let u = evaluate(&m, &LFP).unwrap()[0];
        let c = FreeEnergy::regular_solution(LFP[0], LFP[1], LFP[2]);
        let h = FreeEnergy::regular_solution(0.02, -0.1, LFP[2]);
        assert!((u + (c.mu(0.005) - h.mu(0.5))).abs() < 1e-14);
        let m = law(
            "regular_solution_ocv",
            "x = [0.5]\nreference = { mu_ref = -0.2 }",
        );
        assert!((evaluate(&m, &LFP).unwrap()[0] - 3.22).abs() < 1e-12);
    }

    #[test]
    fn hull_model_steps() {
        let m = law(
            "hull_voltage_0k",
            "x_points = [0.0, 0.25, 0.5, 0.75, 1.0]\nx = [0.1, 0.3, 0.6, 0.9, 1.0]",
        );
        let v = evaluate(&m, &[0.0, -1.0, -1.7, -2.0, -2.6]).unwrap();
        for (a, b) in v.iter().zip([4.0, 2.8, 1.8, 1.8, 1.8, 2.6]) {
            assert!((a - b).abs() < 1e-12, "{v:?}");
        }
        assert_eq!(output_range(&m, "U_avg"), Some(5..6));
        // Total energies with a Li metal energy: the same profile shifted by e_li.
        let m = law(
            "hull_voltage_0k",
            "x_points = [0.0, 0.25, 0.5, 0.75, 1.0]\nx = [0.1]\ne_li = -1.9",
        );
        let v = evaluate(
            &m,
            &[0.0, -1.0 - 0.475, -1.7 - 0.95, -2.0 - 1.425, -2.6 - 1.9],
        )
        .unwrap();
        assert!((v[0] - 4.0).abs() < 1e-12, "{v:?}");
    }

    #[test]
    fn law_names_and_options() {
        assert_eq!(THERMO_LAW_NAMES.len(), THERMO_LAWS.len());
        for (n, (m, _)) in THERMO_LAW_NAMES.iter().zip(THERMO_LAWS) {
            assert_eq!(n, m);
            let opts = if n.starts_with("redlich") {
                "terms = 2"
            } else if n.starts_with("hull") {
                "x_points = [0.0, 1.0]"
            } else {
                ""
            };
            build_thermo_law(n, &table(opts)).unwrap();
        }
        let rk = law(
            "redlich_kister_ocv",
            "terms = 2\nx_grid = { start = 0.01, stop = 0.99, n = 99 }",
        );
        let names: Vec<&str> = rk.inputs().iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["a_0", "a_1", "b_0", "b_1", "mu0", "T"]);
        assert_eq!(n_outputs(&rk), 99);
        let err = |n: &str, o: &str| build_thermo_law(n, &table(o)).unwrap_err();
        assert!(matches!(
            err("regular_solution_foo", ""),
            ThermoError::UnknownLaw(..)
        ));
        assert!(matches!(err("arrhenius", ""), ThermoError::UnknownLaw(..)));
        assert!(matches!(
            err("regular_solution_ocv", "xgrid = 3"),
            ThermoError::InvalidOption { .. }
        ));
        assert!(matches!(
            err("regular_solution_ocv", "x = [0.0, 0.5]"),
            ThermoError::InvalidComposition { .. }
        ));
        assert!(matches!(
            err(
                "regular_solution_ocv",
                "x = [0.5]\nx_grid = { start = 0.1, stop = 0.9, n = 3 }"
            ),
            ThermoError::InvalidOption { .. }
        ));
        assert!(matches!(
            err("redlich_kister_ocv", ""),
            ThermoError::InvalidOption { .. }
        ));
        assert!(matches!(
            err("redlich_kister_ocv", "terms = 0"),
            ThermoError::InvalidOption { .. }
        ));
        assert!(matches!(
            err("regular_solution_ocv", "reference = \"Na\""),
            ThermoError::InvalidOption { .. }
        ));
        assert!(matches!(
            err("regular_solution_theta", "reference = \"Li\""),
            ThermoError::InvalidOption { .. }
        ));
        assert!(matches!(
            err("hull_voltage_0k", "x_points = [0.0, 1.0]\nx = [1.5]"),
            ThermoError::OutsideRange { .. }
        ));
        // The typed options name the offending field by its dotted path.
        let option = |e: ThermoError| match e {
            ThermoError::InvalidOption { option, message } => format!("{option}: {message}"),
            other => panic!("not an option error: {other}"),
        };
        let m = option(err(
            "regular_solution_ocv",
            "reference = { x = 0.5, mu1 = 0.1 }",
        ));
        assert!(m.starts_with("reference.mu1: unknown field"), "{m}");
        let m = option(err(
            "regular_solution_ocv",
            "x_grid = { start = 0.1, stop = 0.9 }",
        ));
        assert!(m.starts_with("x_grid: missing field `n`"), "{m}");
        let m = option(err("regular_solution_ocv", "branch = \"solid\""));
        assert!(m.starts_with("branch: unknown variant `solid`"), "{m}");
        let m = option(err(
            "regular_solution_ocv",
            "reference = { x = 0.5, b = [0.1] }",
        ));
        assert!(
            m.starts_with("reference.b: "),
            "b without a is refused, not dropped: {m}"
        );
        let m = option(err("redlich_kister_ocv", "terms = -2"));
        assert!(m.starts_with("terms: "), "{m}");
        // Out-of-range parameters are errors, not panics.
        let m = law("regular_solution_ocv", "");
        assert!(evaluate(&m, &[0.1, -3.0, -5.0]).is_err());
        assert!(evaluate(&m, &[f64::NAN, -3.0, 300.0]).is_err());
        assert!(evaluate(&m, &[0.1, -3.0]).is_err());
    }
}
