//! Transport laws: NEB hop → jump rate → tracer and chemical diffusivity → Nernst–Einstein conductivity.
//!
//! Units at the atomistic edge: migration barriers and activation energies in eV, attempt
//! frequencies in Hz, jump distances in m. Every diffusivity is in m²/s, conductivities in S/m,
//! temperatures in K. Equations as in `shared/physics.md` §2.

use crate::constants::{E_CHARGE, K_B, K_B_EV};
use crate::laws::arrhenius::{arrhenius_from_ln_d0, arrhenius_ln_d};
use crate::model::{Axis, InputSpec, Model, ModelError, OutputSpec, Scalar};
use thiserror::Error;

/// Why a transport law could not be built (bad options; evaluation errors are [`ModelError`]s).
#[derive(Debug, Clone, Error, PartialEq)]
pub enum TransportError {
    /// A lattice dimension other than 1, 2 or 3.
    #[error("lattice dimension d = {0}: expected 1, 2 or 3")]
    BadDimension(usize),
    /// A grid option that cannot be used.
    #[error("grid '{name}': {reason}")]
    BadGrid {
        /// The grid option.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An option with a bad value.
    #[error("option '{option}': {reason}")]
    BadOption {
        /// The option.
        option: String,
        /// What is wrong.
        reason: String,
    },
}

// ---------------------------------------------------------------------------------------------
// Pure laws
// ---------------------------------------------------------------------------------------------

/// Harmonic transition-state jump rate Γ = ν0·exp(−E_m/(k_B·T)).
///
/// Units: ν0 in Hz (1/s), E_m (NEB migration barrier) in eV, T in K; Γ in 1/s.
#[inline]
pub fn jump_rate<D: Scalar>(nu0_hz: D, e_m_ev: D, t_kelvin: D) -> D {
    (-e_m_ev / (t_kelvin * K_B_EV)).exp() * nu0_hz
}

/// Tracer diffusivity on a lattice, D_tr = f·z·a²·Γ/(2d).
///
/// f the correlation factor (1 for uncorrelated hops), z the number of neighbour sites a carrier
/// can hop to, a the jump distance in m, Γ the jump rate in 1/s (see [`jump_rate`]), d the
/// lattice dimension (1, 2 or 3). Result in m²/s. In 3-D this is (1/6)·f·z·a²·Γ.
#[inline]
pub fn tracer_diffusivity<D: Scalar>(f: D, z: D, a_m: D, gamma: D, dim: usize) -> D {
    f * z * a_m * a_m * gamma / (2.0 * dim as f64)
}

/// Arrhenius prefactor of the tracer diffusivity, D0 = f·z·a²·ν0/(2d) (the source's
/// D0 = (1/6)·z·f·a²·ν0 in 3-D), so that D_tr = D0·exp(−E_m/(k_B·T)).
///
/// Units: a in m, ν0 in Hz; D0 in m²/s.
#[inline]
pub fn tracer_prefactor<D: Scalar>(f: D, z: D, a_m: D, nu0_hz: D, dim: usize) -> D {
    tracer_diffusivity(f, z, a_m, nu0_hz, dim)
}

/// Thermodynamic factor of the ideal lattice gas, Θ = 1/(1−x) (x the site fraction, dimensionless).
///
/// A minimal local helper for D_chem; the full thermodynamics (Θ of any g(x, T)) lives in the
/// thermodynamics module.
#[inline]
pub fn theta_ideal_lattice_gas<D: Scalar>(x: D) -> D {
    (-x + 1.0).recip()
}

/// Thermodynamic factor of the regular solution, Θ = (x/(k_B·T))·∂μ/∂x = 1/(1−x) − 2Ω·x/(k_B·T),
/// for μ = μ0 + Ω(1−2x) + k_B·T·ln(x/(1−x)).
///
/// Units: x dimensionless site fraction, Ω (interaction parameter) in eV per site, T in K;
/// Θ dimensionless. A minimal local helper for D_chem (Θ < 0 inside the spinodal).
#[inline]
pub fn theta_regular_solution<D: Scalar>(x: D, omega_ev: D, t_kelvin: D) -> D {
    theta_ideal_lattice_gas(x) - omega_ev * x * 2.0 / (t_kelvin * K_B_EV)
}

/// Chemical (Fickian) diffusivity D_chem = D_tr·Θ (the source's relation; strictly the jump
/// diffusivity D_J times Θ, with D_tr = H_R·D_J).
///
/// Units: D_tr in m²/s, Θ dimensionless; D_chem in m²/s.
#[inline]
pub fn chemical_diffusivity<D: Scalar>(d_tr: D, theta: D) -> D {
    d_tr * theta
}

/// Nernst–Einstein ionic conductivity σ = n·q²·D_tr/(k_B·T·H_R).
///
/// Units: n carrier number density in 1/m³, q carrier charge in C, D_tr in m²/s, T in K,
/// H_R (Haven ratio D_tr/D_σ) dimensionless; σ in S/m.
#[inline]
pub fn nernst_einstein_conductivity<D: Scalar>(
    n_per_m3: D,
    q_coulomb: D,
    d_tr: D,
    t_kelvin: D,
    haven_ratio: D,
) -> D {
    n_per_m3 * q_coulomb * q_coulomb * d_tr / (t_kelvin * haven_ratio * K_B)
}

// ---------------------------------------------------------------------------------------------
// Grids and small shared pieces of the models
// ---------------------------------------------------------------------------------------------

/// Checks a temperature grid: non-empty, finite, every T > 0 K.
pub fn check_t_grid(grid: &[f64]) -> Result<(), TransportError> {
    check_grid("T", grid, |t| t > 0.0, "every T > 0 K")
}

/// Checks a composition grid: non-empty, finite, every x in (0, 1).
pub fn check_x_grid(grid: &[f64]) -> Result<(), TransportError> {
    check_grid("x", grid, |x| x > 0.0 && x < 1.0, "every x in (0, 1)")
}

fn check_grid(
    name: &str,
    grid: &[f64],
    ok: impl Fn(f64) -> bool,
    expected: &str,
) -> Result<(), TransportError> {
    if grid.is_empty() {
        return Err(TransportError::BadGrid {
            name: name.into(),
            reason: "empty grid".into(),
        });
    }
    if let Some(v) = grid.iter().find(|v| !v.is_finite() || !ok(**v)) {
        return Err(TransportError::BadGrid {
            name: name.into(),
            reason: format!("value {v}: expected {expected}"),
        });
    }
    Ok(())
}

fn check_dim(dim: usize) -> Result<(), TransportError> {
    if (1..=3).contains(&dim) {
        Ok(())
    } else {
        Err(TransportError::BadDimension(dim))
    }
}

fn t_axis(grid: &[f64]) -> Axis {
    Axis {
        name: "T".into(),
        unit: "K".into(),
        values: grid.to_vec(),
    }
}

fn inv_t_axis(grid: &[f64]) -> Axis {
    Axis {
        name: "1/T".into(),
        unit: "1/K".into(),
        values: grid.iter().map(|t| 1.0 / t).collect(),
    }
}

fn x_axis(grid: &[f64]) -> Axis {
    Axis {
        name: "x".into(),
        unit: "1".into(),
        values: grid.to_vec(),
    }
}

pub(crate) fn check_n_inputs<D>(theta: &[D], expected: usize) -> Result<(), ModelError> {
    if theta.len() != expected {
        return Err(ModelError::WrongInputCount {
            expected,
            found: theta.len(),
        });
    }
    Ok(())
}

/// Returns an error unless `value > 0` (compared on the real part).
pub(crate) fn require_positive<D: Scalar>(name: &str, value: D) -> Result<(), ModelError> {
    let v = value.re();
    if v > 0.0 && v.is_finite() {
        Ok(())
    } else {
        Err(ModelError::out_of_range(name, v, "> 0"))
    }
}

/// Where a model's tracer diffusivity comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TracerSource {
    /// D_tr is an input \[m²/s\] (e.g. an MD estimate).
    Input,
    /// D_tr from a hop: inputs ν0 \[Hz\], E_m \[eV\], a \[m\], f, z on a `dim`-dimensional lattice,
    /// D_tr = f·z·a²·ν0·exp(−E_m/(k_B·T))/(2d) at the model's T.
    Hop {
        /// Lattice dimension d (1, 2 or 3).
        dim: usize,
    },
}

impl TracerSource {
    fn input_specs(&self) -> Vec<InputSpec> {
        match self {
            TracerSource::Input => vec![InputSpec::new("D_tr", "m^2/s")],
            TracerSource::Hop { .. } => hop_input_specs(),
        }
    }

    fn n_inputs(&self) -> usize {
        match self {
            TracerSource::Input => 1,
            TracerSource::Hop { .. } => 5,
        }
    }

    /// D_tr \[m²/s\] from the source's inputs (the first `n_inputs()` entries of `theta`) at T.
    fn tracer<D: Scalar>(&self, theta: &[D], t: D) -> Result<D, ModelError> {
        match *self {
            TracerSource::Input => {
                require_positive("D_tr", theta[0])?;
                Ok(theta[0])
            }
            TracerSource::Hop { dim } => {
                check_hop_inputs(theta)?;
                let gamma = jump_rate(theta[0], theta[1], t);
                Ok(tracer_diffusivity(theta[3], theta[4], theta[2], gamma, dim))
            }
        }
    }
}

fn hop_input_specs() -> Vec<InputSpec> {
    vec![
        InputSpec::new("nu0", "Hz"),
        InputSpec::new("E_m", "eV"),
        InputSpec::new("a", "m"),
        InputSpec::new("f", "1"),
        InputSpec::new("z", "1"),
    ]
}

fn check_hop_inputs<D: Scalar>(theta: &[D]) -> Result<(), ModelError> {
    require_positive("nu0", theta[0])?;
    require_positive("a", theta[2])?;
    require_positive("f", theta[3])?;
    require_positive("z", theta[4])
}

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

/// Hop → tracer diffusivity on a d-dimensional lattice.
///
/// Inputs: ν0 \[Hz\], E_m \[eV\], a \[m\], f \[1\], z \[1\], T \[K\].
/// Scalar outputs at T: `Gamma` = ν0·exp(−E_m/(k_B·T)) \[1/s\], `D0` = f·z·a²·ν0/(2d) \[m²/s\],
/// `D_tr` = D0·exp(−E_m/(k_B·T)) \[m²/s\].
/// With a T grid, curves `D_tr_vs_T` \[m²/s\] on T and `ln_D_tr_vs_invT` \[ln(m²/s)\] on 1/T \[1/K\].
#[derive(Debug, Clone)]
pub struct TracerDiffusionModel {
    dim: usize,
    t_grid: Option<Vec<f64>>,
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl TracerDiffusionModel {
    /// `dim` ∈ {1, 2, 3}; `t_grid` (K) adds the D(T) and Arrhenius-plot curves.
    pub fn new(dim: usize, t_grid: Option<Vec<f64>>) -> Result<Self, TransportError> {
        check_dim(dim)?;
        let mut inputs = hop_input_specs();
        inputs.push(InputSpec::new("T", "K"));
        let mut outputs = vec![
            OutputSpec::scalar("Gamma", "1/s"),
            OutputSpec::scalar("D0", "m^2/s"),
            OutputSpec::scalar("D_tr", "m^2/s"),
        ];
        if let Some(g) = &t_grid {
            check_t_grid(g)?;
            outputs.push(OutputSpec::curve("D_tr_vs_T", "m^2/s", t_axis(g)));
            outputs.push(OutputSpec::curve(
                "ln_D_tr_vs_invT",
                "ln(m^2/s)",
                inv_t_axis(g),
            ));
        }
        Ok(Self {
            dim,
            t_grid,
            inputs,
            outputs,
        })
    }
}

impl Default for TracerDiffusionModel {
    /// 3-D lattice, no curves.
    fn default() -> Self {
        Self::new(3, None).expect("valid defaults")
    }
}

impl Model for TracerDiffusionModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        check_n_inputs(theta, 6)?;
        check_hop_inputs(theta)?;
        let (nu0, e_m, a, f, z, t) = (theta[0], theta[1], theta[2], theta[3], theta[4], theta[5]);
        require_positive("T", t)?;
        let d0 = tracer_prefactor(f, z, a, nu0, self.dim);
        let gamma = jump_rate(nu0, e_m, t);
        out[0] = gamma;
        out[1] = d0;
        out[2] = tracer_diffusivity(f, z, a, gamma, self.dim);
        if let Some(g) = &self.t_grid {
            let n = g.len();
            let ln_d0 = d0.ln();
            for (i, &ti) in g.iter().enumerate() {
                let ln_d = arrhenius_ln_d(ln_d0, e_m, D::from(ti));
                out[3 + i] = ln_d.exp();
                out[3 + n + i] = ln_d;
            }
        }
        Ok(())
    }
}

/// D(T) from a fitted Arrhenius line (ln D0, E_a), e.g. the fit of MD diffusivities.
///
/// Inputs: ln_D0 \[ln(m²/s)\], E_a \[eV\], T \[K\]. Scalar outputs at T: `D` = exp(ln D0 − E_a/(k_B·T))
/// \[m²/s\] and `ln_D` \[ln(m²/s)\]. With a T grid, curves `D_vs_T` \[m²/s\] on T and `ln_D_vs_invT`
/// \[ln(m²/s)\] on 1/T \[1/K\].
#[derive(Debug, Clone)]
pub struct ArrheniusFitModel {
    t_grid: Option<Vec<f64>>,
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl ArrheniusFitModel {
    /// `t_grid` (K) adds the D(T) and Arrhenius-plot curves.
    pub fn new(t_grid: Option<Vec<f64>>) -> Result<Self, TransportError> {
        let mut outputs = vec![
            OutputSpec::scalar("D", "m^2/s"),
            OutputSpec::scalar("ln_D", "ln(m^2/s)"),
        ];
        if let Some(g) = &t_grid {
            check_t_grid(g)?;
            outputs.push(OutputSpec::curve("D_vs_T", "m^2/s", t_axis(g)));
            outputs.push(OutputSpec::curve(
                "ln_D_vs_invT",
                "ln(m^2/s)",
                inv_t_axis(g),
            ));
        }
        Ok(Self {
            t_grid,
            inputs: vec![
                InputSpec::new("ln_D0", "ln(m^2/s)"),
                InputSpec::new("E_a", "eV"),
                InputSpec::new("T", "K"),
            ],
            outputs,
        })
    }
}

impl Default for ArrheniusFitModel {
    /// No curves.
    fn default() -> Self {
        Self::new(None).expect("valid defaults")
    }
}

impl Model for ArrheniusFitModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        check_n_inputs(theta, 3)?;
        require_positive("T", theta[2])?;
        out[0] = arrhenius_from_ln_d0(theta[0], theta[1], theta[2]);
        out[1] = arrhenius_ln_d(theta[0], theta[1], theta[2]);
        if let Some(g) = &self.t_grid {
            let n = g.len();
            for (i, &ti) in g.iter().enumerate() {
                let ln_d = arrhenius_ln_d(theta[0], theta[1], D::from(ti));
                out[2 + i] = ln_d.exp();
                out[2 + n + i] = ln_d;
            }
        }
        Ok(())
    }
}

/// Which thermodynamic factor a chemical-diffusivity model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThermoFactor {
    /// Ideal lattice gas Θ = 1/(1−x); no extra input.
    IdealLatticeGas,
    /// Regular solution Θ = 1/(1−x) − 2Ω·x/(k_B·T); extra input Ω \[eV\].
    RegularSolution,
}

impl ThermoFactor {
    fn eval<D: Scalar>(&self, x: D, omega: Option<D>, t: D) -> D {
        match (self, omega) {
            (ThermoFactor::RegularSolution, Some(om)) => theta_regular_solution(x, om, t),
            _ => theta_ideal_lattice_gas(x),
        }
    }
}

fn require_site_fraction<D: Scalar>(x: D) -> Result<(), ModelError> {
    let v = x.re();
    if v > 0.0 && v < 1.0 {
        Ok(())
    } else {
        Err(ModelError::out_of_range("x", v, "0 < x < 1"))
    }
}

/// Chemical diffusivity D_chem = D_tr·Θ(x, T).
///
/// Inputs: the tracer source's inputs (`D_tr` \[m²/s\], or the hop inputs ν0 \[Hz\], E_m \[eV\], a \[m\],
/// f, z), then x \[1\], T \[K\], and Ω \[eV\] for the regular-solution Θ.
/// Scalar outputs at x: `Theta` \[1\], `D_tr` \[m²/s\], `D_chem` \[m²/s\]. With an x grid, curves
/// `Theta_vs_x` \[1\] and `D_chem_vs_x` \[m²/s\] on x.
#[derive(Debug, Clone)]
pub struct ChemicalDiffusivityModel {
    source: TracerSource,
    factor: ThermoFactor,
    x_grid: Option<Vec<f64>>,
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl ChemicalDiffusivityModel {
    /// Builds the model; `x_grid` (site fractions in (0, 1)) adds the curves.
    pub fn new(
        source: TracerSource,
        factor: ThermoFactor,
        x_grid: Option<Vec<f64>>,
    ) -> Result<Self, TransportError> {
        if let TracerSource::Hop { dim } = source {
            check_dim(dim)?;
        }
        let mut inputs = source.input_specs();
        inputs.push(InputSpec::new("x", "1"));
        inputs.push(InputSpec::new("T", "K"));
        if factor == ThermoFactor::RegularSolution {
            inputs.push(InputSpec::new("Omega", "eV"));
        }
        let mut outputs = vec![
            OutputSpec::scalar("Theta", "1"),
            OutputSpec::scalar("D_tr", "m^2/s"),
            OutputSpec::scalar("D_chem", "m^2/s"),
        ];
        if let Some(g) = &x_grid {
            check_x_grid(g)?;
            outputs.push(OutputSpec::curve("Theta_vs_x", "1", x_axis(g)));
            outputs.push(OutputSpec::curve("D_chem_vs_x", "m^2/s", x_axis(g)));
        }
        Ok(Self {
            source,
            factor,
            x_grid,
            inputs,
            outputs,
        })
    }
}

impl Default for ChemicalDiffusivityModel {
    /// D_tr as an input, ideal-lattice-gas Θ, no curves.
    fn default() -> Self {
        Self::new(TracerSource::Input, ThermoFactor::IdealLatticeGas, None).expect("valid defaults")
    }
}

impl Model for ChemicalDiffusivityModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        check_n_inputs(theta, self.inputs.len())?;
        let k = self.source.n_inputs();
        let (x, t) = (theta[k], theta[k + 1]);
        let omega = (self.factor == ThermoFactor::RegularSolution).then(|| theta[k + 2]);
        require_site_fraction(x)?;
        require_positive("T", t)?;
        let d_tr = self.source.tracer(theta, t)?;
        let th = self.factor.eval(x, omega, t);
        out[0] = th;
        out[1] = d_tr;
        out[2] = chemical_diffusivity(d_tr, th);
        if let Some(g) = &self.x_grid {
            let n = g.len();
            for (i, &xi) in g.iter().enumerate() {
                let th_i = self.factor.eval(D::from(xi), omega, t);
                out[3 + i] = th_i;
                out[3 + n + i] = chemical_diffusivity(d_tr, th_i);
            }
        }
        Ok(())
    }
}

/// Nernst–Einstein conductivity σ = n·(z_q·e)²·D_tr/(k_B·T·H_R).
///
/// Inputs: the tracer source's inputs (`D_tr` \[m²/s\], or the hop inputs ν0 \[Hz\], E_m \[eV\],
/// a \[m\], f, z), then T \[K\], n \[1/m³\] (carrier number density), z_q \[1\] (carrier charge number,
/// 1 for Li⁺) and H_R \[1\] (Haven ratio). Scalar outputs: `D_tr` \[m²/s\], `sigma` \[S/m\]. With a hop
/// source and a T grid, curve `sigma_vs_T` \[S/m\] on T.
#[derive(Debug, Clone)]
pub struct NernstEinsteinModel {
    source: TracerSource,
    t_grid: Option<Vec<f64>>,
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl NernstEinsteinModel {
    /// Builds the model. A T grid needs the hop source (a fixed D_tr has no T dependence).
    pub fn new(source: TracerSource, t_grid: Option<Vec<f64>>) -> Result<Self, TransportError> {
        if let TracerSource::Hop { dim } = source {
            check_dim(dim)?;
        }
        let mut inputs = source.input_specs();
        inputs.extend([
            InputSpec::new("T", "K"),
            InputSpec::new("n", "1/m^3"),
            InputSpec::new("z_q", "1"),
            InputSpec::new("H_R", "1"),
        ]);
        let mut outputs = vec![
            OutputSpec::scalar("D_tr", "m^2/s"),
            OutputSpec::scalar("sigma", "S/m"),
        ];
        if let Some(g) = &t_grid {
            if source == TracerSource::Input {
                return Err(TransportError::BadOption {
                    option: "T_grid".into(),
                    reason: "a sigma(T) curve needs D_tr from a hop (D_tr = \"hop\")".into(),
                });
            }
            check_t_grid(g)?;
            outputs.push(OutputSpec::curve("sigma_vs_T", "S/m", t_axis(g)));
        }
        Ok(Self {
            source,
            t_grid,
            inputs,
            outputs,
        })
    }
}

impl Default for NernstEinsteinModel {
    /// D_tr as an input, no curves.
    fn default() -> Self {
        Self::new(TracerSource::Input, None).expect("valid defaults")
    }
}

impl Model for NernstEinsteinModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        check_n_inputs(theta, self.inputs.len())?;
        let k = self.source.n_inputs();
        let (t, n, zq, hr) = (theta[k], theta[k + 1], theta[k + 2], theta[k + 3]);
        require_positive("T", t)?;
        require_positive("n", n)?;
        require_positive("H_R", hr)?;
        let q = zq * E_CHARGE;
        let d_tr = self.source.tracer(theta, t)?;
        out[0] = d_tr;
        out[1] = nernst_einstein_conductivity(n, q, d_tr, t, hr);
        if let Some(g) = &self.t_grid {
            for (i, &ti) in g.iter().enumerate() {
                let ti = D::from(ti);
                let d_i = self.source.tracer(theta, ti)?;
                out[2 + i] = nernst_einstein_conductivity(n, q, d_i, ti, hr);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{evaluate, jacobian, jacobian_central_fd, max_rel_diff, output_range};

    /// AD Jacobian vs central finite differences, each row scaled by its largest entry (curves
    /// span many decades), and the dual's real part vs the f64 evaluation.
    pub(crate) fn assert_ad_matches_fd<M: Model>(m: &M, theta: &[f64], tol: f64) {
        let (v, j) = jacobian(m, theta).unwrap();
        let direct = evaluate(m, theta).unwrap();
        for (a, b) in v.iter().zip(&direct) {
            assert!((a - b).abs() <= 1e-13 * b.abs(), "dual .re {a} vs f64 {b}");
        }
        let fd = jacobian_central_fd(m, theta, 1e-6).unwrap();
        let (mut js, mut fds) = (j.clone(), fd.clone());
        for r in 0..j.nrows() {
            let scale = j.row(r).amax().max(fd.row(r).amax()).max(1e-300);
            js.row_mut(r).scale_mut(1.0 / scale);
            fds.row_mut(r).scale_mut(1.0 / scale);
        }
        let d = max_rel_diff(&js, &fds, 1.0);
        if d >= tol {
            let (mut worst, mut at) = (0.0, (0, 0));
            for r in 0..j.nrows() {
                for c in 0..j.ncols() {
                    let e = (js[(r, c)] - fds[(r, c)]).abs();
                    if e > worst {
                        (worst, at) = (e, (r, c));
                    }
                }
            }
            panic!(
                "max scaled diff {d} at (output {}, input {}): AD {} vs FD {}",
                at.0, at.1, j[at], fd[at]
            );
        }
    }

    #[test]
    fn tracer_3d_simple_cubic_matches_source_d0() {
        // 3-D simple cubic: z = 6 neighbours; the source's D0 = (1/6)·z·f·a²·ν0.
        let (nu0, e_m, a, f, z, t) = (1.0e13, 0.35, 2.9e-10, 0.78, 6.0, 320.0);
        let m = TracerDiffusionModel::default();
        let v = evaluate(&m, &[nu0, e_m, a, f, z, t]).unwrap();
        let d0 = z * f * a * a * nu0 / 6.0;
        let d = d0 * (-e_m / (K_B_EV * t)).exp();
        assert!((v[0] - nu0 * (-e_m / (K_B_EV * t)).exp()).abs() < 1e-12 * v[0]);
        assert!((v[1] - d0).abs() < 1e-14 * d0, "{} vs {d0}", v[1]);
        assert!((v[2] - d).abs() < 1e-14 * d, "{} vs {d}", v[2]);
        // 1-D with z = 2, f = 1: D = a²Γ (the 1-D random walk).
        let g: f64 = jump_rate(nu0, e_m, t);
        let d1: f64 = tracer_diffusivity(1.0, 2.0, a, g, 1);
        assert!((d1 - a * a * g).abs() < 1e-14 * d1);
    }

    #[test]
    fn tracer_curves_are_arrhenius() {
        let grid = vec![250.0, 300.0, 350.0, 400.0];
        let m = TracerDiffusionModel::new(3, Some(grid.clone())).unwrap();
        let theta = [5.0e12, 0.42, 3.1e-10, 0.65, 8.0, 300.0];
        let v = evaluate(&m, &theta).unwrap();
        let r = output_range(&m, "D_tr_vs_T").unwrap();
        // The grid point at 300 K equals the scalar D_tr at T = 300 K.
        assert!((v[r.start + 1] - v[2]).abs() < 1e-14 * v[2]);
        let l = output_range(&m, "ln_D_tr_vs_invT").unwrap();
        let slope = (v[l.start] - v[l.start + 3]) / (1.0 / 250.0 - 1.0 / 400.0);
        assert!((slope + 0.42 / K_B_EV).abs() < 1e-9 * slope.abs());
        assert!(TracerDiffusionModel::new(4, None).is_err());
        assert!(TracerDiffusionModel::new(3, Some(vec![-1.0])).is_err());
    }

    #[test]
    fn thermodynamic_factors() {
        for x in [0.01, 0.3, 0.5, 0.9] {
            let ideal: f64 = theta_ideal_lattice_gas(x);
            assert!((ideal - 1.0 / (1.0 - x)).abs() < 1e-15);
            // Ω = 0 reduces the regular solution to the ideal lattice gas.
            let reg0: f64 = theta_regular_solution(x, 0.0, 300.0);
            assert_eq!(reg0, ideal);
            // Θ = (x/kT)·∂μ/∂x with the regular-solution μ, by finite differences.
            let (om, t) = (0.08, 300.0);
            let mu = |x: f64| om * (1.0 - 2.0 * x) + K_B_EV * t * (x / (1.0 - x)).ln();
            let h = 1e-6;
            let fd = x / (K_B_EV * t) * (mu(x + h) - mu(x - h)) / (2.0 * h);
            let reg: f64 = theta_regular_solution(x, om, t);
            assert!((reg - fd).abs() < 1e-6 * fd.abs().max(1.0), "{reg} vs {fd}");
        }
    }

    #[test]
    fn chemical_diffusivity_curves() {
        let grid = vec![0.1, 0.5, 0.8];
        let m = ChemicalDiffusivityModel::new(
            TracerSource::Input,
            ThermoFactor::IdealLatticeGas,
            Some(grid.clone()),
        )
        .unwrap();
        let v = evaluate(&m, &[1e-14, 0.5, 300.0]).unwrap();
        assert!((v[0] - 2.0).abs() < 1e-15);
        assert!((v[2] - 2e-14).abs() < 1e-29);
        let r = output_range(&m, "D_chem_vs_x").unwrap();
        for (i, x) in grid.iter().enumerate() {
            assert!((v[r.start + i] - 1e-14 / (1.0 - x)).abs() < 1e-27);
        }
        assert!(matches!(
            evaluate(&m, &[1e-14, 1.0, 300.0]),
            Err(ModelError::OutOfPhysicalRange { .. })
        ));
    }

    #[test]
    fn nernst_einstein_hand_computation() {
        // n = 1e28 /m³, Li⁺ (q = e), D = 1e-12 m²/s, T = 300 K, H_R = 0.5:
        // σ = 1e28 · (1.602176634e-19)² · 1e-12 / (1.380649e-23 · 300 · 0.5)
        //   = 2.566969966e-22 / 2.0709735e-21 = 0.1239497... S/m
        let m = NernstEinsteinModel::default();
        let v = evaluate(&m, &[1e-12, 300.0, 1e28, 1.0, 0.5]).unwrap();
        let hand = 1e28 * 1.602176634e-19f64.powi(2) * 1e-12 / (1.380649e-23 * 300.0 * 0.5);
        assert!((v[1] - hand).abs() < 1e-14 * hand);
        assert!((v[1] - 0.123_949_7).abs() < 1e-6, "{}", v[1]);
        // Doubling the charge number quadruples σ.
        let v2 = evaluate(&m, &[1e-12, 300.0, 1e28, 2.0, 0.5]).unwrap();
        assert!((v2[1] - 4.0 * v[1]).abs() < 1e-14 * v2[1]);
        assert!(NernstEinsteinModel::new(TracerSource::Input, Some(vec![300.0])).is_err());
    }

    #[test]
    fn ad_gradients_match_finite_differences() {
        let tg = Some(vec![260.0, 300.0, 360.0]);
        let xg = Some(vec![0.2, 0.6]);
        assert_ad_matches_fd(
            &TracerDiffusionModel::new(3, tg.clone()).unwrap(),
            &[1.0e13, 0.35, 2.9e-10, 0.78, 6.0, 320.0],
            1e-6,
        );
        assert_ad_matches_fd(
            &ArrheniusFitModel::new(tg.clone()).unwrap(),
            &[-16.0, 0.4, 330.0],
            1e-6,
        );
        assert_ad_matches_fd(
            &ChemicalDiffusivityModel::new(
                TracerSource::Hop { dim: 2 },
                ThermoFactor::RegularSolution,
                xg.clone(),
            )
            .unwrap(),
            &[1.0e13, 0.35, 2.9e-10, 0.78, 3.0, 0.4, 310.0, 0.05],
            1e-6,
        );
        assert_ad_matches_fd(
            &ChemicalDiffusivityModel::new(TracerSource::Input, ThermoFactor::IdealLatticeGas, xg)
                .unwrap(),
            &[3e-14, 0.4, 310.0],
            1e-6,
        );
        assert_ad_matches_fd(
            &NernstEinsteinModel::new(TracerSource::Hop { dim: 3 }, tg).unwrap(),
            &[1.0e13, 0.3, 2.9e-10, 0.78, 6.0, 300.0, 1e28, 1.0, 0.6],
            1e-6,
        );
    }
}
