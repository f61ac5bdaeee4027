//! Delta-method variance shares: each input's own term and the covariance cross terms.
//!
//! Linearise y(T(z)) at the mean μ_z of the transformed space. With the exact Jacobian
//! J_x = ∂y/∂x (AD) and the chain rule S = J_z = J_x·diag(dx/dz(μ_z)):
//!
//! $$ \mathrm{Var}(y_k) \approx \sum_i S_{ki}^2\Sigma_{ii} + \sum_{i<j} 2 S_{ki}S_{kj}\Sigma_{ij} $$
//!
//! (output unit squared). The own term S_i²Σ_ii is ≥ 0; a cross term 2S_iS_jΣ_ij can have
//! either sign (a negative correlation between two inputs acting in the same direction
//! cancels variance). Shares are the terms divided by Var(y_k); they sum to 1. Exact for a
//! linear model of z; for curves the terms are also summed over the curve (variance-weighted
//! shares).

use super::{
    LongRow, OutputLayout, SensitivityError, SensitivityTable, check_binding, fmt_num, md,
};
use crate::dist::JointDistribution;
use crate::model::{Model, jacobian};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// One covariance cross term 2·S_i·S_j·Σ_ij.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CrossTerm {
    /// Index of the first input of the pair.
    pub i: usize,
    /// Index of the second input of the pair.
    pub j: usize,
    /// "name_i × name_j".
    pub pair: String,
    /// 2·S_i·S_j·Σ_ij (output unit squared).
    pub value: f64,
    /// value / Var(y).
    pub share: f64,
}

/// Delta-method decomposition of one output (or a curve aggregate).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VarianceOutput {
    /// Output label: a flat label, or a curve aggregate `name[...]`.
    pub output: String,
    /// y at the median (NaN for aggregates).
    pub value: f64,
    /// Var(y) ≈ S Σ Sᵀ (output unit squared); for aggregates Σ_k Var(y_k).
    pub variance: f64,
    /// √Var(y).
    pub sd: f64,
    /// S_i = ∂y/∂z_i at μ_z (output unit per transformed-input unit); empty for aggregates.
    pub sensitivity_z: Vec<f64>,
    /// S_i²Σ_ii, one per input.
    pub own: Vec<f64>,
    /// own / Var(y).
    pub own_share: Vec<f64>,
    /// Cross terms for the pairs with Σ_ij ≠ 0.
    pub cross: Vec<CrossTerm>,
}

/// Result of the delta-method decomposition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VarianceResult {
    /// Input names, in model order.
    pub inputs: Vec<String>,
    /// One entry per flat output.
    pub per_output: Vec<VarianceOutput>,
    /// One per curve output: own and cross terms summed over the curve.
    pub aggregated: Vec<VarianceOutput>,
    /// J_z (n_out × d), kept for the ranking.
    #[serde(skip)]
    pub(crate) jac_z: DMatrix<f64>,
    #[serde(skip)]
    pub(crate) cov_z: DMatrix<f64>,
}

/// Delta-method variance decomposition of every output of `model` under `dist`.
pub fn delta_variance<M: Model + ?Sized>(
    model: &M,
    dist: &JointDistribution,
) -> Result<VarianceResult, SensitivityError> {
    check_binding(model, dist)?;
    let theta = dist.median_natural();
    let (values, jx) = jacobian(model, &theta)?;
    let d = dist.dim();
    let mut jz = jx.clone();
    for (i, (p, &z)) in dist.params.iter().zip(dist.mean_z.iter()).enumerate() {
        let g = p.transform.dx_dz(z);
        for k in 0..jz.nrows() {
            jz[(k, i)] *= g;
        }
    }
    let cov = &dist.cov_z;
    let names: Vec<String> = dist.params.iter().map(|p| p.name.clone()).collect();
    let decompose = |label: String, value: f64, rows: std::ops::Range<usize>, keep_s: bool| {
        let mut own = vec![0.0; d];
        let mut cross_v = vec![vec![0.0; d]; d];
        for k in rows.clone() {
            for i in 0..d {
                own[i] += jz[(k, i)].powi(2) * cov[(i, i)];
                for j in i + 1..d {
                    cross_v[i][j] += 2.0 * jz[(k, i)] * jz[(k, j)] * cov[(i, j)];
                }
            }
        }
        let var: f64 = own.iter().sum::<f64>() + cross_v.iter().flatten().sum::<f64>();
        let share = |v: f64| if var > 0.0 { v / var } else { f64::NAN };
        let mut cross = Vec::new();
        for i in 0..d {
            for j in i + 1..d {
                if cov[(i, j)] != 0.0 {
                    cross.push(CrossTerm {
                        i,
                        j,
                        pair: format!("{} × {}", names[i], names[j]),
                        value: cross_v[i][j],
                        share: share(cross_v[i][j]),
                    });
                }
            }
        }
        VarianceOutput {
            output: label,
            value,
            variance: var,
            sd: var.max(0.0).sqrt(),
            sensitivity_z: if keep_s {
                (0..d).map(|i| jz[(rows.start, i)]).collect()
            } else {
                Vec::new()
            },
            own_share: own.iter().map(|&v| share(v)).collect(),
            own,
            cross,
        }
    };
    let layout = OutputLayout::of(model);
    let per_output = (0..values.len())
        .map(|k| decompose(layout.labels[k].clone(), values[k], k..k + 1, true))
        .collect();
    let aggregated = layout
        .groups
        .iter()
        .filter(|g| g.is_curve && g.len > 0)
        .map(|g| {
            decompose(
                format!("{}[variance-weighted]", g.name),
                f64::NAN,
                g.start..g.start + g.len,
                false,
            )
        })
        .collect();
    Ok(VarianceResult {
        inputs: names,
        per_output,
        aggregated,
        jac_z: jz,
        cov_z: cov.clone(),
    })
}

impl SensitivityTable for VarianceResult {
    fn to_markdown(&self) -> String {
        let mut s = String::from(
            "## Delta-method variance shares\n\nVar(y) ≈ Σ_i S_i² Σ_ii + Σ_{i<j} 2 S_i S_j Σ_ij, S = ∂y/∂z at the mean of \
             the transformed inputs.\n",
        );
        for o in self.aggregated.iter().chain(&self.per_output) {
            s += &format!(
                "\n### {} (Var = {}, sd = {})\n\n| term | contribution | share |\n|---|---|---|\n",
                md(&o.output),
                fmt_num(Some(o.variance)),
                fmt_num(Some(o.sd))
            );
            for (i, name) in self.inputs.iter().enumerate() {
                s += &format!(
                    "| {} | {} | {} |\n",
                    md(name),
                    fmt_num(Some(o.own[i])),
                    fmt_num(Some(o.own_share[i]))
                );
            }
            for c in &o.cross {
                s += &format!(
                    "| {} | {} | {} |\n",
                    md(&c.pair),
                    fmt_num(Some(c.value)),
                    fmt_num(Some(c.share))
                );
            }
        }
        s
    }

    fn long_rows(&self) -> Vec<LongRow> {
        let mut rows = Vec::new();
        for o in self.aggregated.iter().chain(&self.per_output) {
            let mut push = |input: &str, metric: &str, v: f64| {
                rows.push(LongRow {
                    method: "variance".into(),
                    output: o.output.clone(),
                    input: input.into(),
                    metric: metric.into(),
                    value: v.is_finite().then_some(v),
                })
            };
            push("", "variance", o.variance);
            for (i, name) in self.inputs.iter().enumerate() {
                push(name, "own", o.own[i]);
                push(name, "own_share", o.own_share[i]);
                if let Some(sz) = o.sensitivity_z.get(i) {
                    push(name, "dy_dz", *sz);
                }
            }
            for c in &o.cross {
                push(&c.pair, "cross", c.value);
                push(&c.pair, "cross_share", c.share);
            }
        }
        rows
    }
}
