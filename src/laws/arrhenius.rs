//! Arrhenius diffusivity D(T) = D0·exp(−E_a/(k_B·T)), the smallest model behind the trait.

use crate::constants::K_B_EV;
use crate::model::{InputSpec, Model, ModelError, OutputSpec, Scalar};

/// D(T) = D0·exp(−E_a/(k_B·T)).
///
/// Units: D0 and the result in the same unit (e.g. m²/s), E_a in eV, T in K.
#[inline]
pub fn arrhenius_diffusivity<D: Scalar>(d0: D, e_a_ev: D, t_kelvin: D) -> D {
    d0 * (-e_a_ev / (t_kelvin * K_B_EV)).exp()
}

/// D(T) from a fitted intercept and slope: ln D = ln D0 − E_a/(k_B·T), D = exp(ln D).
///
/// This is the form an Arrhenius fit of MD diffusivities returns (`dist::estimate`): the pair
/// (ln D0, E_a) with its covariance. Units: ln D0 is the natural log of D0 in m²/s, E_a in eV,
/// T in K; the result in m²/s.
#[inline]
pub fn arrhenius_from_ln_d0<D: Scalar>(ln_d0: D, e_a_ev: D, t_kelvin: D) -> D {
    arrhenius_ln_d(ln_d0, e_a_ev, t_kelvin).exp()
}

/// ln D(T) = ln D0 − E_a/(k_B·T): the straight line of an Arrhenius plot against 1/T.
///
/// Units: ln D0 and the result are natural logs of a diffusivity in m²/s; E_a in eV; T in K.
#[inline]
pub fn arrhenius_ln_d<D: Scalar>(ln_d0: D, e_a_ev: D, t_kelvin: D) -> D {
    ln_d0 - e_a_ev / (t_kelvin * K_B_EV)
}

/// The Arrhenius law as a model: inputs (D0 [m^2/s], E_a [eV], T [K]), output D [m^2/s].
#[derive(Debug, Clone)]
pub struct ArrheniusModel {
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl Default for ArrheniusModel {
    fn default() -> Self {
        Self {
            inputs: vec![
                InputSpec::new("D0", "m^2/s"),
                InputSpec::new("E_a", "eV"),
                InputSpec::new("T", "K"),
            ],
            outputs: vec![OutputSpec::scalar("D", "m^2/s")],
        }
    }
}

impl Model for ArrheniusModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        if theta[2].re() <= 0.0 {
            return Err(ModelError::out_of_range("T", theta[2].re(), "T > 0 K"));
        }
        out[0] = arrhenius_diffusivity(theta[0], theta[1], theta[2]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{jacobian, jacobian_central_fd, max_rel_diff};

    #[test]
    fn ad_gradient_matches_central_differences() {
        let m = ArrheniusModel::default();
        let theta = [1.5e-8, 0.29, 310.0];
        let (v, j) = jacobian(&m, &theta).unwrap();
        assert!((v[0] - 1.5e-8 * (-0.29 / (K_B_EV * 310.0)).exp()).abs() < 1e-25);
        let fd = jacobian_central_fd(&m, &theta, 1e-6).unwrap();
        assert!(max_rel_diff(&j, &fd, 0.0) < 1e-7, "{j} vs {fd}");
    }

    #[test]
    fn limits() {
        // E_a = 0 gives D0; doubling E_a squares the Boltzmann factor.
        let d: f64 = arrhenius_diffusivity(2.0, 0.0, 300.0);
        assert_eq!(d, 2.0);
        let a: f64 = arrhenius_diffusivity(1.0, 0.2, 300.0);
        let b: f64 = arrhenius_diffusivity(1.0, 0.4, 300.0);
        assert!((a * a - b).abs() < 1e-15);
        // The log form agrees with the prefactor form.
        let c: f64 = arrhenius_from_ln_d0(2.0f64.ln(), 0.3, 350.0);
        let e: f64 = arrhenius_diffusivity(2.0, 0.3, 350.0);
        assert!((c - e).abs() < 1e-15 * e);
        // The slope of ln D against 1/T is −E_a/k_B.
        let l1: f64 = arrhenius_ln_d(0.0, 0.5, 300.0);
        let l2: f64 = arrhenius_ln_d(0.0, 0.5, 400.0);
        let slope = (l1 - l2) / (1.0 / 300.0 - 1.0 / 400.0);
        assert!((slope + 0.5 / K_B_EV).abs() < 1e-9 * slope.abs());
    }
}
