//! Analytic test functions with known sensitivity indices: Ishigami, Sobol's G function and a
//! linear model of Gaussian inputs (with closed-form Sobol and Shapley indices).

use super::shapley::shapley_from_costs;
use crate::model::{InputSpec, Model, ModelError, OutputSpec, Scalar};
use nalgebra::DMatrix;
use std::f64::consts::PI;

/// Ishigami function f(x) = sin x₁ + a·sin² x₂ + b·x₃⁴·sin x₁, x ∈ [−π, π]³ (Ishigami & Homma
/// 1990). Dimensionless.
pub fn ishigami(x: &[f64], a: f64, b: f64) -> f64 {
    let s1 = x[0].sin();
    let s2 = x[1].sin();
    let x3 = x[2] * x[2];
    s1 + a * s2 * s2 + b * x3 * x3 * s1
}

/// Ishigami on the unit cube: x_i = −π + 2π·u_i.
pub fn ishigami_unit(u: &[f64], a: f64, b: f64) -> f64 {
    let x = [
        -PI + 2.0 * PI * u[0],
        -PI + 2.0 * PI * u[1],
        -PI + 2.0 * PI * u[2],
    ];
    ishigami(&x, a, b)
}

/// Analytic (first-order, total) indices of the Ishigami function with uniform inputs on
/// [−π, π]: V₁ = bπ⁴/5 + b²π⁸/50 + ½, V₂ = a²/8, V₁₃ = 8b²π⁸/225,
/// V = a²/8 + bπ⁴/5 + b²π⁸/18 + ½.
pub fn ishigami_indices(a: f64, b: f64) -> ([f64; 3], [f64; 3]) {
    let p4 = PI.powi(4);
    let p8 = PI.powi(8);
    let v1 = b * p4 / 5.0 + b * b * p8 / 50.0 + 0.5;
    let v2 = a * a / 8.0;
    let v13 = 8.0 * b * b * p8 / 225.0;
    let v = v1 + v2 + v13;
    ([v1 / v, v2 / v, 0.0], [(v1 + v13) / v, v2 / v, v13 / v])
}

/// Sobol's G function g(u) = Π_i (|4u_i − 2| + a_i)/(1 + a_i) on the unit cube.
pub fn g_function(u: &[f64], a: &[f64]) -> f64 {
    u.iter()
        .zip(a)
        .map(|(&ui, &ai)| ((4.0 * ui - 2.0).abs() + ai) / (1.0 + ai))
        .product()
}

/// Analytic (first-order, total) indices of the G function: V_i = 1/(3(1 + a_i)²),
/// V = Π(1 + V_i) − 1, S_i = V_i/V, S_Ti = V_i·Π_{j≠i}(1 + V_j)/V.
pub fn g_function_indices(a: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let vi: Vec<f64> = a
        .iter()
        .map(|ai| 1.0 / (3.0 * (1.0 + ai).powi(2)))
        .collect();
    let prod: f64 = vi.iter().map(|v| 1.0 + v).product();
    let v = prod - 1.0;
    let s1 = vi.iter().map(|x| x / v).collect();
    let st = vi.iter().map(|x| x * prod / (1.0 + x) / v).collect();
    (s1, st)
}

/// y = βᵀx: a linear model with named inputs `x1..xd` (unit "1") and one scalar output `y`.
#[derive(Debug, Clone)]
pub struct LinearModel {
    /// Coefficients β (output unit per input unit).
    pub beta: Vec<f64>,
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl LinearModel {
    /// y = βᵀx with d = β.len() inputs.
    pub fn new(beta: Vec<f64>) -> Self {
        let inputs = (1..=beta.len())
            .map(|i| InputSpec::new(&format!("x{i}"), "1"))
            .collect();
        Self {
            beta,
            inputs,
            outputs: vec![OutputSpec::scalar("y", "1")],
        }
    }
}

impl Model for LinearModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        let mut acc = D::from(0.0);
        for (t, b) in theta.iter().zip(&self.beta) {
            acc += *t * *b;
        }
        out[0] = acc;
        Ok(())
    }
}

/// Closed-form cost c(u) = E[Var(y | x_{−u})] = β_uᵀ(Σ_uu − Σ_{u,−u}Σ_{−u,−u}⁻¹Σ_{−u,u})β_u of
/// the linear Gaussian model y = βᵀx, x ~ N(μ, Σ), for the subset with bit mask `mask`.
pub fn linear_gaussian_cost(beta: &[f64], cov: &DMatrix<f64>, mask: usize) -> f64 {
    let d = beta.len();
    let u: Vec<usize> = (0..d).filter(|i| mask >> i & 1 == 1).collect();
    let v: Vec<usize> = (0..d).filter(|i| mask >> i & 1 == 0).collect();
    if u.is_empty() {
        return 0.0;
    }
    let suu = DMatrix::from_fn(u.len(), u.len(), |a, b| cov[(u[a], u[b])]);
    let cond = if v.is_empty() {
        suu
    } else {
        let suv = DMatrix::from_fn(u.len(), v.len(), |a, b| cov[(u[a], v[b])]);
        let svv = DMatrix::from_fn(v.len(), v.len(), |a, b| cov[(v[a], v[b])]);
        let inv = svv
            .try_inverse()
            .unwrap_or_else(|| DMatrix::zeros(v.len(), v.len()));
        &suu - &suv * inv * suv.transpose()
    };
    let bu = nalgebra::DVector::from_iterator(u.len(), u.iter().map(|&i| beta[i]));
    (bu.transpose() * cond * &bu)[(0, 0)]
}

/// Exact Shapley effects (in variance units; they sum to Var y = βᵀΣβ) of y = βᵀx,
/// x ~ N(μ, Σ) (Owen & Prieur 2017; Iooss & Prieur 2019).
pub fn linear_gaussian_shapley(beta: &[f64], cov: &DMatrix<f64>) -> Vec<f64> {
    let d = beta.len();
    let costs: Vec<f64> = (0..1usize << d)
        .map(|m| linear_gaussian_cost(beta, cov, m))
        .collect();
    shapley_from_costs(d, &costs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ishigami_published_indices() {
        // Published values for a = 7, b = 0.1 (e.g. Saltelli et al. 2008, Marrel et al. 2009).
        let (s1, st) = ishigami_indices(7.0, 0.1);
        let e1 = [0.3139, 0.4424, 0.0];
        let et = [0.5576, 0.4424, 0.2437];
        for i in 0..3 {
            assert!((s1[i] - e1[i]).abs() < 1e-4, "{s1:?}");
            assert!((st[i] - et[i]).abs() < 1e-4, "{st:?}");
        }
    }

    #[test]
    fn two_input_linear_shapley_closed_form() {
        // y = b1 x1 + b2 x2, unit variances, correlation ρ:
        // Sh_1 = b1²(1 − ρ²/2) + ρ b1 b2 + b2² ρ²/2 (Owen & Prieur 2017).
        let (b1, b2, rho) = (1.0, 2.0, 0.6);
        let cov = DMatrix::from_row_slice(2, 2, &[1.0, rho, rho, 1.0]);
        let sh = linear_gaussian_shapley(&[b1, b2], &cov);
        let e1 = b1 * b1 * (1.0 - rho * rho / 2.0) + rho * b1 * b2 + b2 * b2 * rho * rho / 2.0;
        let var = b1 * b1 + b2 * b2 + 2.0 * rho * b1 * b2;
        assert!((sh[0] - e1).abs() < 1e-12);
        assert!((sh[0] + sh[1] - var).abs() < 1e-12);
    }
}
