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

/// The Arrhenius law as a model: inputs (D0 \[m^2/s\], E_a \[eV\], T \[K\]), output D \[m^2/s\].
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

    /// D = D0·exp(−E_a/(k_B·T)) for a block of samples (columns D0, E_a, T): the exponent for
    /// the block, the Monte Carlo engine's vectorised e^x (≤ 2 ulp from libm), times D0.
    /// Samples with T ≤ 0 fail as in [`Model::eval`].
    fn eval_batch(
        &self,
        x: &[f64],
        count: usize,
        out: &mut [f64],
        failed: &mut Vec<(usize, ModelError)>,
    ) {
        let (d0, ea, t) = (&x[..count], &x[count..2 * count], &x[2 * count..3 * count]);
        let out = &mut out[..count];
        for ((o, e), t) in out.iter_mut().zip(ea).zip(t) {
            *o = -e / (t * K_B_EV);
        }
        crate::numerics::fastmath::exp_in_place(out);
        for (o, d) in out.iter_mut().zip(d0) {
            *o *= d;
        }
        for (i, &ti) in t.iter().enumerate() {
            if ti <= 0.0 {
                failed.push((i, ModelError::out_of_range("T", ti, "T > 0 K")));
            }
        }
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
    fn batch_matches_per_sample_eval() {
        let m = ArrheniusModel::default();
        let n = 37;
        let mut x = vec![0.0; 3 * n];
        for i in 0..n {
            x[i] = 1e-8 * (1.0 + i as f64 * 0.1);
            x[n + i] = 0.1 + 0.02 * i as f64;
            x[2 * n + i] = if i % 10 == 3 {
                -5.0
            } else {
                250.0 + 5.0 * i as f64
            };
        }
        let mut out = vec![0.0; n];
        let mut failed = Vec::new();
        m.eval_batch(&x, n, &mut out, &mut failed);
        let idx: Vec<usize> = failed.iter().map(|f| f.0).collect();
        assert_eq!(idx, vec![3, 13, 23, 33]);
        for i in 0..n {
            let mut y = [0.0];
            match m.eval(&[x[i], x[n + i], x[2 * n + i]], &mut y) {
                Ok(()) => assert!((out[i] / y[0] - 1.0).abs() < 1e-14, "sample {i}"),
                Err(e) => assert_eq!(failed.iter().find(|f| f.0 == i).unwrap().1, e),
            }
        }
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
