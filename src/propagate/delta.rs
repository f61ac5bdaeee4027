//! First-order (delta-method) propagation: exact forward-mode Jacobian of the model composed
//! with the parameter transforms, at the centre of the transformed-space normal.
//!
//! With z ~ N(μ, Σ) and y = f(x(z)), linearising at z = μ gives
//! $$ \mathrm{E}\[y\] \approx f(x(\mu)), \qquad \mathrm{Cov}(y) \approx J \Sigma J^\top,
//!    \quad J = \partial y / \partial z |_{\mu} = J_x \,\mathrm{diag}(dx/dz), $$
//! and each output's variance splits into per-input terms S_i²·Σ_ii and cross terms
//! 2·S_i·S_j·Σ_ij (S_i = ∂y/∂z_i). For a log-transformed input, z_i = ln x_i, so S_i is
//! x_i·∂y/∂x_i (the change of y per e-fold of x_i) and Σ_ii is the variance of ln x_i.

use super::PropagateError;
use crate::dist::{JointDistribution, Transform};
use crate::model::{
    GenericFn, Model, ModelError, OutputSpec, Scalar, flat_output_labels, jacobian_of, n_outputs,
};
use serde::{Deserialize, Serialize};

/// The model seen as a function of z: y = f(T(z)).
pub struct ModelInZ<'a, M: Model> {
    /// The model, in natural units.
    pub model: &'a M,
    /// x_i = T_i(z_i), one transform per input.
    pub transforms: Vec<Transform>,
}

impl<'a, M: Model> ModelInZ<'a, M> {
    /// `model` seen through the transforms of `dist`'s parameters.
    pub fn new(model: &'a M, dist: &JointDistribution) -> Self {
        Self {
            model,
            transforms: dist.params.iter().map(|p| p.transform).collect(),
        }
    }
}

impl<M: Model> GenericFn for ModelInZ<'_, M> {
    fn n_in(&self) -> usize {
        self.transforms.len()
    }
    fn n_out(&self) -> usize {
        n_outputs(self.model)
    }
    fn call<D: Scalar>(&self, z: &[D], out: &mut [D]) -> Result<(), ModelError> {
        let x: Vec<D> = z
            .iter()
            .zip(&self.transforms)
            .map(|(zi, t)| t.to_natural(*zi))
            .collect();
        self.model.eval(&x, out)
    }
}

/// One input's share of an output's delta-method variance: S_i²·Σ_ii.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputTerm {
    /// Input name.
    pub input: String,
    /// S_i = ∂y/∂z_i at the centre [output unit per z unit; z = x for identity inputs, ln x for
    /// log inputs, logit for bounded inputs].
    pub sensitivity: f64,
    /// Σ_ii, the variance of z_i \[z unit²\].
    pub variance_z: f64,
    /// S_i²·Σ_ii \[output unit²\].
    pub contribution: f64,
    /// contribution / total variance (may exceed 1 when cross terms are negative).
    pub fraction: f64,
}

/// A covariance cross term 2·S_i·S_j·Σ_ij of an output's delta-method variance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossTerm {
    /// First input of the pair.
    pub input_a: String,
    /// Second input of the pair.
    pub input_b: String,
    /// Σ_ij / √(Σ_ii·Σ_jj), the correlation in z.
    pub correlation: f64,
    /// 2·S_i·S_j·Σ_ij \[output unit²\].
    pub contribution: f64,
    /// contribution / total variance (negative when the correlation cancels variance).
    pub fraction: f64,
}

/// The variance decomposition of one flat output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VarianceBreakdown {
    /// Flat output label.
    pub output: String,
    /// Unit of the output.
    pub unit: String,
    /// J·Σ·Jᵀ diagonal entry \[unit²\].
    pub variance: f64,
    /// One term per input.
    pub terms: Vec<InputTerm>,
    /// Only pairs with non-zero correlation.
    pub cross_terms: Vec<CrossTerm>,
}

/// The result of the delta method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeltaResult {
    /// One label per flat output (`name` or `name[axis=value]`).
    pub labels: Vec<String>,
    /// Unit of each flat output.
    pub units: Vec<String>,
    /// Natural input values at the centre, x(μ) (the medians of the inputs).
    pub centre: Vec<f64>,
    /// f(x(μ)), the first-order estimate of the output mean \[output unit\].
    pub mean: Vec<f64>,
    /// √diag(J·Σ·Jᵀ) \[output unit\].
    pub sd: Vec<f64>,
    /// J·Σ·Jᵀ \[unit_j·unit_k\], row-major n_out × n_out.
    pub covariance: Vec<Vec<f64>>,
    /// ∂y/∂z at μ, n_out × n_in.
    pub jacobian_z: Vec<Vec<f64>>,
    /// ∂y/∂x at x(μ) in natural units, n_out × n_in \[output unit per input unit\].
    pub jacobian_x: Vec<Vec<f64>>,
    /// Per flat output: its variance split into input terms and cross terms.
    pub decomposition: Vec<VarianceBreakdown>,
}

/// Units of every flat output, in order.
pub fn flat_units(outputs: &[OutputSpec]) -> Vec<String> {
    outputs
        .iter()
        .flat_map(|o| std::iter::repeat_n(o.unit.clone(), o.len()))
        .collect()
}

/// The delta method: exact Jacobian J = ∂y/∂z at z = μ by forward-mode AD, Cov(y) ≈ J·Σ·Jᵀ,
/// and the per-input / cross-term variance decomposition of every flat output.
///
/// `dist.params` must correspond index-by-index to `model.inputs()`.
pub fn delta_method<M: Model>(
    model: &M,
    dist: &JointDistribution,
) -> Result<DeltaResult, PropagateError> {
    super::check_binding(model, dist)?;
    let f = ModelInZ::new(model, dist);
    let mu = dist.mean_z.as_slice();
    let (values, jz) = jacobian_of(&f, mu).map_err(|source| PropagateError::DeltaEvaluation {
        source,
        centre: dist.median_natural(),
    })?;
    let k = dist.dim();
    let p = values.len();
    if let Some(j) = values.iter().position(|v| !v.is_finite()) {
        return Err(PropagateError::NonFiniteDelta {
            output: flat_output_labels(model)[j].clone(),
        });
    }
    let sigma = &dist.cov_z;
    let cov_y = &jz * sigma * jz.transpose();
    let labels = flat_output_labels(model);
    let units = flat_units(model.outputs());
    let names = dist.names();
    let sd_z = dist.sd_z();
    let dxdz: Vec<f64> = dist
        .params
        .iter()
        .zip(mu)
        .map(|(p, &z)| p.transform.dx_dz(z))
        .collect();
    let mut decomposition = Vec::with_capacity(p);
    for r in 0..p {
        let total = cov_y[(r, r)];
        let frac = |c: f64| if total > 0.0 { c / total } else { f64::NAN };
        let terms = (0..k)
            .map(|i| {
                let s = jz[(r, i)];
                let c = s * s * sigma[(i, i)];
                InputTerm {
                    input: names[i].to_string(),
                    sensitivity: s,
                    variance_z: sigma[(i, i)],
                    contribution: c,
                    fraction: frac(c),
                }
            })
            .collect();
        let mut cross_terms = Vec::new();
        for i in 0..k {
            for j in i + 1..k {
                if sigma[(i, j)] != 0.0 {
                    let c = 2.0 * jz[(r, i)] * jz[(r, j)] * sigma[(i, j)];
                    cross_terms.push(CrossTerm {
                        input_a: names[i].to_string(),
                        input_b: names[j].to_string(),
                        correlation: sigma[(i, j)] / (sd_z[i] * sd_z[j]),
                        contribution: c,
                        fraction: frac(c),
                    });
                }
            }
        }
        decomposition.push(VarianceBreakdown {
            output: labels[r].clone(),
            unit: units[r].clone(),
            variance: total,
            terms,
            cross_terms,
        });
    }
    let rows = |m: &nalgebra::DMatrix<f64>| -> Vec<Vec<f64>> {
        (0..m.nrows())
            .map(|r| (0..m.ncols()).map(|c| m[(r, c)]).collect())
            .collect()
    };
    let jx = nalgebra::DMatrix::from_fn(p, k, |r, c| jz[(r, c)] / dxdz[c]);
    Ok(DeltaResult {
        labels,
        units,
        centre: dist.median_natural(),
        mean: values,
        sd: (0..p).map(|r| cov_y[(r, r)].max(0.0).sqrt()).collect(),
        covariance: rows(&cov_y),
        jacobian_z: rows(&jz),
        jacobian_x: rows(&jx),
        decomposition,
    })
}
