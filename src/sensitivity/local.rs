//! Local sensitivities at the nominal point: derivatives and elasticities, exact by AD.
//!
//! At the median θ₀ = T(μ_z) of the input distribution (natural units), with the exact
//! Jacobian J = ∂y/∂θ from [`crate::model::jacobian`]:
//!
//! $$ e_{ki} = \frac{\partial y_k}{\partial \theta_i}\,\frac{\theta_i}{|y_k|} $$
//!
//! which is the elasticity ∂ln y/∂ln θ (dimensionless: % change of y per % change of θ) when
//! y_k > 0 and θ_i > 0. For y_k < 0 or θ_i < 0 the same formula gives the relative change of y
//! (relative to |y|) per relative change of θ, with signs kept; it is reported as `None` (N/A)
//! when y_k = 0, where no relative change is defined. An input at θ_i = 0 has elasticity 0.
//!
//! Also reported: the sd-scaled sensitivity ∂y_k/∂z_i·sd(z_i) (output unit), the change of y
//! for a one-sd move of input i in its transformed space — comparable across inputs of
//! different units, and the linear term of the delta method (see [`super::variance`]).

use super::{
    LongRow, OutputLayout, SensitivityError, SensitivityTable, check_binding, fmt_num, md,
};
use crate::dist::JointDistribution;
use crate::model::{Model, jacobian};
use serde::{Deserialize, Serialize};

/// Local sensitivities of every flat output at the nominal (median) point.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LocalResult {
    /// Input names, in model order.
    pub inputs: Vec<String>,
    /// Units of the inputs.
    pub input_units: Vec<String>,
    /// θ₀, the median of the distribution in natural units.
    pub nominal: Vec<f64>,
    /// Flat output labels.
    pub outputs: Vec<String>,
    /// y(θ₀), one per flat output.
    pub values: Vec<f64>,
    /// ∂y_k/∂θ_i, `[k][i]` (output unit per input unit).
    pub derivative: Vec<Vec<f64>>,
    /// e_ki = ∂y_k/∂θ_i·θ_i/|y_k| (None where y_k = 0).
    pub elasticity: Vec<Vec<Option<f64>>>,
    /// ∂y_k/∂z_i·sd(z_i) (output unit).
    pub sd_scaled: Vec<Vec<f64>>,
    /// Per curve: root-mean-square elasticity over the curve points where it is defined.
    pub aggregated: Vec<LocalAggregate>,
    /// What the numbers mean.
    pub note: String,
}

/// Root-mean-square elasticity of one curve output.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LocalAggregate {
    /// Output label: a flat label, or a curve aggregate `name[...]`.
    pub output: String,
    /// RMS elasticity per input (None if undefined at every point).
    pub rms_elasticity: Vec<Option<f64>>,
}

const NOTE: &str = "Elasticity e = (dy/dtheta)*theta/|y| at the median: d ln y / d ln theta when y, theta > 0; \
n/a where y = 0. sd-scaled = dy/dz * sd(z): change of y for a one-sd move of the input (transformed space).";

/// Local sensitivities of `model` at the median of `dist` (see the module doc).
pub fn local<M: Model + ?Sized>(
    model: &M,
    dist: &JointDistribution,
) -> Result<LocalResult, SensitivityError> {
    check_binding(model, dist)?;
    let theta = dist.median_natural();
    let (values, jac) = jacobian(model, &theta)?;
    let sd = dist.sd_z();
    let dxdz: Vec<f64> = dist
        .params
        .iter()
        .zip(dist.mean_z.iter())
        .map(|(p, &z)| p.transform.dx_dz(z))
        .collect();
    let d = theta.len();
    let n = values.len();
    let mut derivative = vec![vec![0.0; d]; n];
    let mut elasticity = vec![vec![None; d]; n];
    let mut sd_scaled = vec![vec![0.0; d]; n];
    for k in 0..n {
        for i in 0..d {
            let g = jac[(k, i)];
            derivative[k][i] = g;
            elasticity[k][i] =
                (values[k] != 0.0 && values[k].is_finite()).then(|| g * theta[i] / values[k].abs());
            sd_scaled[k][i] = g * dxdz[i] * sd[i];
        }
    }
    let layout = OutputLayout::of(model);
    let aggregated = layout
        .groups
        .iter()
        .filter(|g| g.is_curve && g.len > 0)
        .map(|g| LocalAggregate {
            output: format!("{}[rms]", g.name),
            rms_elasticity: (0..d)
                .map(|i| {
                    let v: Vec<f64> = (g.start..g.start + g.len)
                        .filter_map(|k| elasticity[k][i])
                        .collect();
                    (!v.is_empty())
                        .then(|| (v.iter().map(|e| e * e).sum::<f64>() / v.len() as f64).sqrt())
                })
                .collect(),
        })
        .collect();
    Ok(LocalResult {
        inputs: dist.params.iter().map(|p| p.name.clone()).collect(),
        input_units: dist.params.iter().map(|p| p.unit.clone()).collect(),
        nominal: theta,
        outputs: layout.labels,
        values,
        derivative,
        elasticity,
        sd_scaled,
        aggregated,
        note: NOTE.to_string(),
    })
}

impl SensitivityTable for LocalResult {
    fn to_markdown(&self) -> String {
        let mut s = format!("## Local sensitivities at the median\n\n{}\n", NOTE);
        s += "\n| input | unit | nominal |\n|---|---|---|\n";
        for (i, name) in self.inputs.iter().enumerate() {
            s += &format!(
                "| {} | {} | {} |\n",
                md(name),
                md(&self.input_units[i]),
                fmt_num(Some(self.nominal[i]))
            );
        }
        for a in &self.aggregated {
            s += &format!(
                "\n### {}\n\n| input | rms elasticity |\n|---|---|\n",
                md(&a.output)
            );
            for (i, name) in self.inputs.iter().enumerate() {
                s += &format!("| {} | {} |\n", md(name), fmt_num(a.rms_elasticity[i]));
            }
        }
        for (k, out) in self.outputs.iter().enumerate() {
            s += &format!(
                "\n### {} = {}\n\n| input | dy/dθ | elasticity | sd-scaled |\n|---|---|---|---|\n",
                md(out),
                fmt_num(Some(self.values[k]))
            );
            for (i, name) in self.inputs.iter().enumerate() {
                s += &format!(
                    "| {} | {} | {} | {} |\n",
                    md(name),
                    fmt_num(Some(self.derivative[k][i])),
                    fmt_num(self.elasticity[k][i]),
                    fmt_num(Some(self.sd_scaled[k][i]))
                );
            }
        }
        s
    }

    fn long_rows(&self) -> Vec<LongRow> {
        let mut rows = Vec::new();
        let row = |output: &str, input: &str, metric: &str, value: Option<f64>| LongRow {
            method: "local".into(),
            output: output.into(),
            input: input.into(),
            metric: metric.into(),
            value: value.filter(|v| v.is_finite()),
        };
        for a in &self.aggregated {
            for (i, name) in self.inputs.iter().enumerate() {
                rows.push(row(&a.output, name, "rms_elasticity", a.rms_elasticity[i]));
            }
        }
        for (k, out) in self.outputs.iter().enumerate() {
            for (i, name) in self.inputs.iter().enumerate() {
                rows.push(row(out, name, "derivative", Some(self.derivative[k][i])));
                rows.push(row(out, name, "elasticity", self.elasticity[k][i]));
                rows.push(row(out, name, "sd_scaled", Some(self.sd_scaled[k][i])));
            }
        }
        rows
    }
}
