//! Interfacial kinetics: transition-state rates, exchange-current density, Butler–Volmer and its inverse.
//!
//! Conventions (physics.md §3): the overpotential η > 0 drives an anodic (oxidation) current
//! i > 0; α is the anodic transfer coefficient, α_c = 1 − α the cathodic one. The exchange
//! current density follows PyBaMM's continuum form with α = ½.

use crate::constants::{FARADAY, K_B, PLANCK, R_GAS};
use crate::model::{InputSpec, Model, ModelError, OutputSpec, Scalar};
use thiserror::Error;

/// Errors of the kinetics laws.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum KineticsError {
    /// An input outside its valid range.
    #[error("{name} = {value}: expected {expected}")]
    OutOfRange {
        /// The input.
        name: &'static str,
        /// Its value, in its unit.
        value: f64,
        /// The valid range.
        expected: &'static str,
    },
    /// The safeguarded Newton solve for the Butler–Volmer overpotential η did not converge.
    #[error("Butler–Volmer inversion did not converge for i/i0 = {ratio} (α = {alpha})")]
    NoConvergence {
        /// i/i0 \[1\].
        ratio: f64,
        /// Transfer coefficient α \[1\].
        alpha: f64,
    },
}

impl From<KineticsError> for ModelError {
    fn from(e: KineticsError) -> Self {
        match e {
            KineticsError::OutOfRange {
                name,
                value,
                expected,
            } => ModelError::out_of_range(name, value, expected),
            other => ModelError::SolverFailed(other.to_string()),
        }
    }
}

/// Transition-state-theory rate k = (k_B·T/h)·exp(−ΔG‡/(k_B·T)).
///
/// Units: ΔG‡ in eV, T in K, k in 1/s.
#[inline]
pub fn tst_rate<D: Scalar>(dg_ev: D, t_kelvin: D) -> D {
    let kt_j = t_kelvin * K_B;
    let kt_ev = t_kelvin * crate::constants::K_B_EV;
    kt_j / PLANCK * (-dg_ev / kt_ev).exp()
}

/// Arrhenius factor of the reaction-rate constant, exp(−E_a/R·(1/T − 1/T_ref)).
///
/// Units: E_a in J/mol, T and T_ref in K; dimensionless.
#[inline]
pub fn arrhenius_factor<D: Scalar>(e_a_j_mol: D, t_kelvin: D, t_ref: D) -> D {
    (-(e_a_j_mol / R_GAS) * (t_kelvin.recip() - t_ref.recip())).exp()
}

/// Reaction-rate constant at temperature T: m(T) = m_ref·exp(−E_a/R·(1/T − 1/T_ref)).
///
/// Units: m in A·m⁻²·(m³/mol)^1.5, E_a in J/mol, T in K.
#[inline]
pub fn rate_constant_at<D: Scalar>(m_ref: D, e_a_j_mol: D, t_kelvin: D, t_ref: D) -> D {
    m_ref * arrhenius_factor(e_a_j_mol, t_kelvin, t_ref)
}

/// Exchange-current density in PyBaMM's form i0 = m·c_e^½·c_s^½·(c_s,max − c_s)^½.
///
/// Units: m in A·m⁻²·(m³/mol)^1.5, concentrations in mol/m³, i0 in A/m².
/// Callers must keep 0 < c_s < c_s,max and c_e > 0 (checked in [`exchange_current_density_checked`]).
#[inline]
pub fn exchange_current_density<D: Scalar>(m: D, c_e: D, c_s: D, c_s_max: D) -> D {
    m * (c_e * c_s * (c_s_max - c_s)).sqrt()
}

/// [`exchange_current_density`] with range checks: c_e > 0, 0 < c_s < c_s,max.
pub fn exchange_current_density_checked<D: Scalar>(
    m: D,
    c_e: D,
    c_s: D,
    c_s_max: D,
) -> Result<D, KineticsError> {
    if c_e.re() <= 0.0 || !c_e.re().is_finite() {
        return Err(KineticsError::OutOfRange {
            name: "c_e",
            value: c_e.re(),
            expected: "c_e > 0 mol/m^3",
        });
    }
    if c_s.re() <= 0.0 || c_s.re() >= c_s_max.re() || !c_s.re().is_finite() {
        return Err(KineticsError::OutOfRange {
            name: "c_s",
            value: c_s.re(),
            expected: "0 < c_s < c_s,max",
        });
    }
    Ok(exchange_current_density(m, c_e, c_s, c_s_max))
}

/// Butler–Volmer current density i = i0·[exp(α·F·η/(R·T)) − exp(−(1−α)·F·η/(R·T))].
///
/// Units: i0 and i in A/m², η in V, T in K; α ∈ (0, 1) dimensionless.
#[inline]
pub fn butler_volmer<D: Scalar>(i0: D, eta: D, alpha: D, t_kelvin: D) -> D {
    let f_rt = (t_kelvin * R_GAS).recip() * FARADAY;
    let x = eta * f_rt;
    i0 * ((alpha * x).exp() - (-(-alpha + 1.0) * x).exp())
}

/// Closed-form inverse of symmetric Butler–Volmer (α = ½): η = (2RT/F)·asinh(i/(2·i0)).
///
/// Units: i and i0 in A/m², T in K, η in V.
#[inline]
pub fn bv_overpotential_symmetric<D: Scalar>(i: D, i0: D, t_kelvin: D) -> D {
    t_kelvin * (2.0 * R_GAS / FARADAY) * (i / (i0 * 2.0)).asinh()
}

/// Inverse of Butler–Volmer for any α ∈ (0, 1): the η with `butler_volmer(i0, η, α, T) = i`.
///
/// Solved by safeguarded Newton in f64 on the dimensionless x = Fη/(RT), then one final Newton
/// step evaluated in `D`: since the f64 residual is at round-off, that step carries the exact
/// implicit-function derivatives dη/d(i, i0, α, T). Units: i, i0 in A/m², T in K, η in V.
pub fn bv_overpotential<D: Scalar>(i: D, i0: D, alpha: D, t_kelvin: D) -> Result<D, KineticsError> {
    let a = alpha.re();
    if !(a > 0.0 && a < 1.0) {
        return Err(KineticsError::OutOfRange {
            name: "alpha",
            value: a,
            expected: "0 < alpha < 1",
        });
    }
    if i0.re() <= 0.0 || !i0.re().is_finite() {
        return Err(KineticsError::OutOfRange {
            name: "i0",
            value: i0.re(),
            expected: "i0 > 0 A/m^2",
        });
    }
    if !i.re().is_finite() {
        return Err(KineticsError::OutOfRange {
            name: "i",
            value: i.re(),
            expected: "a finite current density",
        });
    }
    let r = i.re() / i0.re();
    let x =
        solve_bv_dimensionless(r, a).ok_or(KineticsError::NoConvergence { ratio: r, alpha: a })?;
    // Final Newton step in D: x_D = x − g(x; D)/g'(x), g = exp(αx) − exp(−(1−α)x) − i/i0.
    let xd = D::from(x);
    let ea = (alpha * xd).exp();
    let ec = (-(-alpha + 1.0) * xd).exp();
    let g = ea - ec - i / i0;
    let dg = ea * alpha + ec * (-alpha + 1.0);
    let x_d = xd - g / dg.re();
    // The derivative part of x_d must use the full dg; with g.re() ≈ 0 the step above is exact
    // to first order: d x = −dg_partial/g'(x).
    Ok(x_d * (t_kelvin * (R_GAS / FARADAY)))
}

/// Solve exp(αx) − exp(−(1−α)x) = r for x (f64), Newton with bisection safeguard.
fn solve_bv_dimensionless(r: f64, a: f64) -> Option<f64> {
    if r == 0.0 {
        return Some(0.0);
    }
    // Bracket: the function is increasing. Start from the dominant-branch asymptote.
    let mut x = if r > 0.0 {
        (r.max(1e-300)).ln().max(0.0) / a
    } else {
        -((-r).max(1e-300)).ln().max(0.0) / (1.0 - a)
    };
    if x == 0.0 {
        x = r; // small-signal: g'(0) = 1
    }
    let (mut lo, mut hi) = if r > 0.0 {
        (0.0, f64::INFINITY)
    } else {
        (f64::NEG_INFINITY, 0.0)
    };
    for _ in 0..200 {
        let ea = (a * x).exp();
        let ec = (-(1.0 - a) * x).exp();
        let g = ea - ec - r;
        if g.abs() <= 1e-15 * r.abs().max(1.0) {
            return Some(x);
        }
        if g > 0.0 {
            hi = hi.min(x);
        } else {
            lo = lo.max(x);
        }
        let dg = a * ea + (1.0 - a) * ec;
        let mut xn = x - g / dg;
        if !(xn > lo && xn < hi && xn.is_finite()) {
            xn = if lo.is_finite() && hi.is_finite() {
                0.5 * (lo + hi)
            } else if lo.is_finite() {
                lo + (x - lo).abs().max(1.0) * 2.0
            } else {
                hi - (hi - x).abs().max(1.0) * 2.0
            };
        }
        if (xn - x).abs() <= 1e-15 * x.abs().max(1e-300) {
            return Some(xn);
        }
        x = xn;
    }
    None
}

/// TST rate as a model: inputs (ΔG‡ \[eV\], T \[K\]), output k \[1/s\].
#[derive(Debug, Clone)]
pub struct TstRateModel {
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl Default for TstRateModel {
    fn default() -> Self {
        Self {
            inputs: vec![InputSpec::new("dG_act", "eV"), InputSpec::new("T", "K")],
            outputs: vec![OutputSpec::scalar("k", "1/s")],
        }
    }
}

impl Model for TstRateModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        if theta[1].re() <= 0.0 {
            return Err(ModelError::out_of_range("T", theta[1].re(), "T > 0 K"));
        }
        out[0] = tst_rate(theta[0], theta[1]);
        Ok(())
    }
}

/// Exchange-current density as a model: inputs (m_ref \[A m^-2 (m^3/mol)^1.5\], E_a \[J/mol\],
/// T \[K\], T_ref \[K\], c_e \[mol/m^3\], c_s \[mol/m^3\], c_s_max \[mol/m^3\]), output i0 \[A/m^2\].
#[derive(Debug, Clone)]
pub struct ExchangeCurrentModel {
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl Default for ExchangeCurrentModel {
    fn default() -> Self {
        Self {
            inputs: vec![
                InputSpec::new("m_ref", "A m^-2 (m^3/mol)^1.5"),
                InputSpec::new("E_a", "J/mol"),
                InputSpec::new("T", "K"),
                InputSpec::new("T_ref", "K"),
                InputSpec::new("c_e", "mol/m^3"),
                InputSpec::new("c_s", "mol/m^3"),
                InputSpec::new("c_s_max", "mol/m^3"),
            ],
            outputs: vec![OutputSpec::scalar("i0", "A/m^2")],
        }
    }
}

impl Model for ExchangeCurrentModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        for (k, name) in [(2, "T"), (3, "T_ref")] {
            if theta[k].re() <= 0.0 {
                return Err(ModelError::out_of_range(name, theta[k].re(), "> 0 K"));
            }
        }
        let m = rate_constant_at(theta[0], theta[1], theta[2], theta[3]);
        out[0] = exchange_current_density_checked(m, theta[4], theta[5], theta[6])?;
        Ok(())
    }
}

/// Butler–Volmer inverse as a model: inputs (i \[A/m^2\], i0 \[A/m^2\], alpha \[1\], T \[K\]),
/// output η \[V\].
#[derive(Debug, Clone)]
pub struct OverpotentialModel {
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl Default for OverpotentialModel {
    fn default() -> Self {
        Self {
            inputs: vec![
                InputSpec::new("i", "A/m^2"),
                InputSpec::new("i0", "A/m^2"),
                InputSpec::new("alpha", "1"),
                InputSpec::new("T", "K"),
            ],
            outputs: vec![OutputSpec::scalar("eta", "V")],
        }
    }
}

impl Model for OverpotentialModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        if theta[3].re() <= 0.0 {
            return Err(ModelError::out_of_range("T", theta[3].re(), "T > 0 K"));
        }
        out[0] = bv_overpotential(theta[0], theta[1], theta[2], theta[3])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{jacobian, jacobian_central_fd, max_rel_diff};

    #[test]
    fn tst_rate_prefactor_at_zero_barrier() {
        let k: f64 = tst_rate(0.0, 300.0);
        assert!((k - K_B * 300.0 / PLANCK).abs() < 1e-3 * k / 1e9);
        // 6.25e12 1/s at 300 K (k_B T / h)
        assert!((k / 6.2510e12 - 1.0).abs() < 1e-3);
    }

    #[test]
    fn bv_inverse_round_trip_several_alpha() {
        for &alpha in &[0.2, 0.35, 0.5, 0.7, 0.9] {
            for &i in &[-500.0f64, -3.0, -1e-3, 0.0, 1e-4, 0.7, 42.0, 1e4] {
                let eta = bv_overpotential(i, 2.0, alpha, 298.15).unwrap();
                let back = butler_volmer(2.0, eta, alpha, 298.15);
                assert!(
                    (back - i).abs() <= 1e-12 * i.abs().max(1.0),
                    "alpha {alpha} i {i}: {back}"
                );
            }
        }
    }

    #[test]
    fn closed_form_matches_newton_at_half() {
        for &i in &[-200.0f64, -1.0, 0.01, 3.0, 250.0] {
            let a: f64 = bv_overpotential_symmetric(i, 1.5, 310.0);
            let b = bv_overpotential(i, 1.5, 0.5, 310.0).unwrap();
            assert!((a - b).abs() < 1e-13, "{a} vs {b}");
        }
    }

    #[test]
    fn bad_alpha_is_an_error() {
        assert!(bv_overpotential(1.0, 1.0, 1.2, 300.0).is_err());
        assert!(bv_overpotential(1.0, -1.0, 0.5, 300.0).is_err());
    }

    #[test]
    fn ad_matches_fd_overpotential_newton() {
        let m = OverpotentialModel::default();
        for theta in [[3.0, 1.2, 0.3, 298.0], [-40.0, 2.0, 0.65, 320.0]] {
            let (_, j) = jacobian(&m, &theta).unwrap();
            let fd = jacobian_central_fd(&m, &theta, 1e-6).unwrap();
            assert!(max_rel_diff(&j, &fd, 1e-12) < 1e-6, "{j} vs {fd}");
        }
    }

    #[test]
    fn ad_matches_fd_exchange_current_and_tst() {
        let m = ExchangeCurrentModel::default();
        let theta = [2e-6, 35000.0, 310.0, 298.15, 1000.0, 15000.0, 33000.0];
        let (v, j) = jacobian(&m, &theta).unwrap();
        assert!(v[0] > 0.0);
        let fd = jacobian_central_fd(&m, &theta, 1e-6).unwrap();
        assert!(max_rel_diff(&j, &fd, 1e-15) < 1e-6, "{j} vs {fd}");
        // At T = T_ref the Arrhenius factor is 1.
        let i0: f64 = exchange_current_density(2e-6, 1000.0, 15000.0, 33000.0);
        let mut out = [0.0];
        let t2 = [2e-6, 35000.0, 298.15, 298.15, 1000.0, 15000.0, 33000.0];
        m.eval(&t2, &mut out).unwrap();
        assert!((out[0] - i0).abs() < 1e-15 * i0);
        let tm = TstRateModel::default();
        let th = [0.4, 300.0];
        let (_, j) = jacobian(&tm, &th).unwrap();
        let fd = jacobian_central_fd(&tm, &th, 1e-6).unwrap();
        assert!(max_rel_diff(&j, &fd, 0.0) < 1e-6);
    }

    #[test]
    fn exchange_current_rejects_out_of_range() {
        assert!(exchange_current_density_checked(1.0, 1000.0, 0.0, 10.0).is_err());
        assert!(exchange_current_density_checked(1.0, 1000.0, 10.0, 10.0).is_err());
        assert!(exchange_current_density_checked(1.0, -1.0, 5.0, 10.0).is_err());
    }
}
