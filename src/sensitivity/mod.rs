//! Sensitivity of model outputs to the atomistic inputs: which calculation to refine next.
//!
//! Every method takes a model `M: Model` and a [`JointDistribution`] whose `params` correspond
//! index-by-index to `model.inputs()`, and returns a serde-serialisable result with a
//! `to_markdown()` table and long-format rows ([`LongRow`]) for CSV:
//!
//! | method | file | what it measures |
//! |---|---|---|
//! | local | [`local()`] | elasticities ∂ln y/∂ln θ at the median, exact by AD |
//! | variance | [`variance`] | delta-method shares S_i²Σ_ii and cross terms 2S_iS_jΣ_ij |
//! | ranking | [`ranking()`] | variance removed if each input's sd were halved: the refine-next order |
//! | sobol | [`sobol()`] | first-order (Saltelli 2010) and total (Jansen) indices, bootstrap CIs |
//! | morris | [`morris()`] | elementary effects μ*, σ on trajectories |
//! | shapley | [`shapley()`] | Shapley effects, defined for correlated inputs |
//!
//! The global estimators work on a function of the unit hypercube ([`UnitCubeFn`]); the
//! dist-based entry points wrap the model in [`DistModelFn`], which maps u → n = Φ⁻¹(u) →
//! z = μ + L·n → x = T(z) → y. Analytic test functions (Ishigami, Sobol G) plug in directly.
//!
//! Parallelism: rayon over fixed chunks, each with its own RNG stream or fixed Sobol indices,
//! reduced in chunk order, so a seed gives bit-identical results whatever the thread count.

// Numeric kernels index several parallel arrays at once; index loops read best there.
#![allow(clippy::needless_range_loop)]

pub mod local;
pub mod morris;
pub mod ranking;
pub mod shapley;
pub mod sobol;
pub mod testfns;
#[cfg(test)]
mod tests;
pub mod variance;

use crate::dist::JointDistribution;
use crate::dist::sample::standard_normal_quantile;
use crate::model::{Model, ModelError, OutputShape, flat_output_labels, n_outputs};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use local::{LocalResult, local};
pub use morris::{MorrisResult, MorrisSettings, morris, morris_fn};
pub use ranking::{RankingResult, RankingSettings, ranking};
pub use shapley::{ShapleyResult, ShapleySettings, shapley};
pub use sobol::{SobolResult, SobolRows, SobolSettings, sobol, sobol_fn, sobol_merge, sobol_part};
pub use variance::{VarianceResult, delta_variance};

/// What went wrong in a sensitivity analysis.
#[derive(Debug, Error)]
pub enum SensitivityError {
    #[error("model has {model_inputs} inputs but the distribution has {dist_params} parameters")]
    /// The model and the distribution have different dimensions.
    DimensionMismatch {
        /// Number of model inputs.
        model_inputs: usize,
        /// Number of distribution parameters.
        dist_params: usize,
    },
    #[error("setting {field} = {value}: expected {expected}")]
    /// A setting is out of range.
    InvalidSetting {
        /// Setting name.
        field: String,
        /// Value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    #[error("model evaluation failed at the nominal point: {0}")]
    /// The model failed where it must not (the nominal point).
    Model(#[from] ModelError),
    #[error("{failed} of {total} model evaluations failed (first: {first})")]
    /// Too many evaluations failed for the estimate to be trusted.
    TooManyFailures {
        /// Failed evaluations (or rows).
        failed: usize,
        /// Evaluations (or rows) attempted.
        total: usize,
        /// The first failure.
        first: ModelError,
    },
    #[error("cancelled")]
    /// The caller raised the run's [`CancelToken`](crate::cancel::CancelToken)
    /// ([`SobolSettings::cancel`]).
    Cancelled,
}

impl SensitivityError {
    pub(crate) fn setting(field: &str, value: impl ToString, expected: &str) -> Self {
        Self::InvalidSetting {
            field: field.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }
}

/// A run's size against the machine ([`crate::budget`]), before anything is allocated:
/// `bytes` of memory kept and `evaluations` of the model, each taking the time `eval` takes
/// (timed on a few calls). An error names the setting `field` and its `value`; otherwise the
/// expected wall time \[s\], for the progress display.
pub(crate) fn check_size(
    field: &str,
    value: usize,
    what: &str,
    bytes: f64,
    evaluations: f64,
    eval: impl FnMut(),
) -> Result<f64, SensitivityError> {
    let refuse = |m: String| {
        SensitivityError::setting(field, value, &format!("a size this machine can run ({m})"))
    };
    crate::budget::check_memory(what, bytes, field).map_err(refuse)?;
    let each = crate::budget::seconds_per_evaluation(eval);
    crate::budget::check_duration(what, evaluations, each, field).map_err(refuse)
}

/// Check that the distribution has one parameter per model input. They correspond index by
/// index (the study loader's bound model guarantees it; names are not compared, as in
/// `propagate`).
pub fn check_binding<M: Model + ?Sized>(
    model: &M,
    dist: &JointDistribution,
) -> Result<(), SensitivityError> {
    if model.inputs().len() != dist.dim() {
        return Err(SensitivityError::DimensionMismatch {
            model_inputs: model.inputs().len(),
            dist_params: dist.dim(),
        });
    }
    Ok(())
}

/// A vector function of the unit hypercube, u ∈ (0, 1)^dim → y ∈ ℝ^n_out: the one interface
/// every global estimator (Sobol, Morris) works on.
pub trait UnitCubeFn: Sync {
    /// Number of inputs (dimension of the hypercube).
    fn dim(&self) -> usize;
    /// Number of outputs.
    fn n_out(&self) -> usize;
    /// Evaluate at `u`, writing `out` (length `n_out`). A failure drops the sample row.
    fn eval(&self, u: &[f64], out: &mut [f64]) -> Result<(), ModelError>;
}

/// A scalar function on the unit hypercube, `f(u) -> y`, as a [`UnitCubeFn`].
pub struct ScalarCubeFn<F: Fn(&[f64]) -> f64 + Sync> {
    /// Number of inputs d.
    pub dim: usize,
    /// The function u ↦ y on (0, 1)^d.
    pub f: F,
}

impl<F: Fn(&[f64]) -> f64 + Sync> UnitCubeFn for ScalarCubeFn<F> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn n_out(&self) -> usize {
        1
    }
    fn eval(&self, u: &[f64], out: &mut [f64]) -> Result<(), ModelError> {
        out[0] = (self.f)(u);
        Ok(())
    }
}

/// A model seen through its input distribution as a function of the unit hypercube:
/// n_i = Φ⁻¹(u_i) (independent standard normals), z = μ + L·n (L the lower Cholesky factor of
/// Σ), x_i = T_i(z_i), y = model(x).
///
/// With correlated inputs, coordinate i of the hypercube is the i-th *independent* normal of the
/// Cholesky decomposition: n_1 drives input 1 with everything correlated with it, n_i (i > 1)
/// drives the part of input i not explained by inputs 1..i−1. Indices computed on these
/// coordinates are then not those of the named inputs (see [`shapley`](mod@shapley)).
pub struct DistModelFn<'a, M: Model + ?Sized> {
    /// The model.
    pub model: &'a M,
    /// Its input distribution (params index-by-index with the model inputs).
    pub dist: &'a JointDistribution,
    n_out: usize,
}

impl<'a, M: Model + ?Sized> DistModelFn<'a, M> {
    /// Bind a model to its distribution, checking that inputs and parameters line up.
    pub fn new(model: &'a M, dist: &'a JointDistribution) -> Result<Self, SensitivityError> {
        check_binding(model, dist)?;
        Ok(Self {
            model,
            dist,
            n_out: n_outputs(model),
        })
    }

    /// Evaluate the model at a point z of the transformed space.
    pub fn eval_z(&self, z: &[f64], out: &mut [f64]) -> Result<(), ModelError> {
        let mut x = vec![0.0; z.len()];
        self.dist.natural_from_z(z, &mut x);
        self.model.eval(&x, out)?;
        check_finite(out)
    }
}

impl<M: Model + ?Sized> UnitCubeFn for DistModelFn<'_, M> {
    fn dim(&self) -> usize {
        self.dist.dim()
    }
    fn n_out(&self) -> usize {
        self.n_out
    }
    fn eval(&self, u: &[f64], out: &mut [f64]) -> Result<(), ModelError> {
        let d = u.len();
        let n: Vec<f64> = u.iter().map(|&ui| standard_normal_quantile(ui)).collect();
        let mut z = vec![0.0; d];
        self.dist.z_from_standard_normals(&n, &mut z);
        self.eval_z(&z, out)
    }
}

/// A non-finite output is an evaluation failure (the sample row is dropped and counted).
pub(crate) fn check_finite(out: &[f64]) -> Result<(), ModelError> {
    if let Some(v) = out.iter().find(|v| !v.is_finite()) {
        return Err(ModelError::out_of_range("output", *v, "a finite value"));
    }
    Ok(())
}

/// A group of flat output entries: one named scalar, or one named curve.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutputGroup {
    /// Output name.
    pub name: String,
    /// Output unit.
    pub unit: String,
    /// First flat index of the group.
    pub start: usize,
    /// Number of flat entries (1 for a scalar).
    pub len: usize,
    /// True for curves.
    pub is_curve: bool,
}

/// Labels of the flat outputs and their grouping into named outputs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutputLayout {
    /// One label per flat output entry (`name` or `name[axis=value]`).
    pub labels: Vec<String>,
    /// Named outputs, in model order.
    pub groups: Vec<OutputGroup>,
}

impl OutputLayout {
    /// The layout of a model's outputs.
    pub fn of<M: Model + ?Sized>(m: &M) -> Self {
        let mut groups = Vec::new();
        let mut start = 0;
        for o in m.outputs() {
            groups.push(OutputGroup {
                name: o.name.clone(),
                unit: o.unit.clone(),
                start,
                len: o.len(),
                is_curve: matches!(o.shape, OutputShape::Curve(_)),
            });
            start += o.len();
        }
        Self {
            labels: flat_output_labels(m),
            groups,
        }
    }

    /// A layout of `n` unnamed scalar outputs `y0, y1, ...` (for plain functions).
    pub fn scalars(n: usize) -> Self {
        let labels: Vec<String> = (0..n).map(|k| format!("y{k}")).collect();
        let groups = labels
            .iter()
            .enumerate()
            .map(|(k, l)| OutputGroup {
                name: l.clone(),
                unit: String::new(),
                start: k,
                len: 1,
                is_curve: false,
            })
            .collect();
        Self { labels, groups }
    }

    /// Number of flat output entries.
    pub fn n_flat(&self) -> usize {
        self.labels.len()
    }
}

/// One row of a long-format result table (CSV-friendly): the value of `metric` for one
/// (output, input) pair. `output` is a flat label or, for aggregates over a curve,
/// `name[aggregate]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LongRow {
    /// Method: local, variance, ranking, sobol, morris or shapley.
    pub method: String,
    /// Output label: a flat label, or a curve aggregate `name[...]`.
    pub output: String,
    /// Input name (or the pair `a × b` of a cross term).
    pub input: String,
    /// Quantity (e.g. S1, ST_low, mu_star, reduction, elasticity).
    pub metric: String,
    /// Value; None where undefined (e.g. an elasticity at y = 0).
    pub value: Option<f64>,
}

/// Long-format rows as CSV text (header `method,output,input,metric,value`; empty value for
/// None), for `--out DIR`.
pub fn long_rows_csv(rows: &[LongRow]) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// What every result offers the CLI besides serde: a Markdown table and CSV rows.
pub trait SensitivityTable {
    /// A Markdown report section (tables of indices per output).
    fn to_markdown(&self) -> String;
    /// Long-format rows for CSV output.
    fn long_rows(&self) -> Vec<LongRow>;
}

/// Variance-weighted aggregate of per-point indices over a group of outputs:
/// S_agg = Σ_k V_k·S_k / Σ_k V_k (the generalised index of Gamboa et al. 2014 for the
/// flattened curve). `values[k]` are the indices at point k, `var[k]` the output variances.
pub fn variance_weighted(values: &[f64], var: &[f64]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (s, v) in values.iter().zip(var) {
        if s.is_finite() && v.is_finite() {
            num += v * s;
            den += v;
        }
    }
    if den > 0.0 { num / den } else { f64::NAN }
}

/// Format an optional number for Markdown tables ("n/a" for None or non-finite).
pub(crate) fn fmt_num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => {
            if x == 0.0 || (x.abs() >= 1e-3 && x.abs() < 1e4) {
                format!("{x:.4}")
            } else {
                format!("{x:.3e}")
            }
        }
        _ => "n/a".to_string(),
    }
}

/// Markdown-escape a label (pipes would break the table).
pub(crate) fn md(s: &str) -> String {
    s.replace('|', "\\|")
}

/// All methods at once, for `--method all`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AllResults {
    /// Local elasticities at the median.
    pub local: LocalResult,
    /// Delta-method variance shares.
    pub variance: VarianceResult,
    /// Refine-next ranking.
    pub ranking: RankingResult,
    /// Sobol indices.
    pub sobol: SobolResult,
    /// Morris screening.
    pub morris: MorrisResult,
    /// Shapley effects.
    pub shapley: ShapleyResult,
}

/// Settings for [`all`]: one per method.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AllSettings {
    /// Settings of the ranking.
    pub ranking: RankingSettings,
    /// Settings of the Sobol indices.
    pub sobol: SobolSettings,
    /// Settings of the Morris screening.
    pub morris: MorrisSettings,
    /// Settings of the Shapley effects.
    pub shapley: ShapleySettings,
}

impl AllSettings {
    /// These settings with `seed` for every random stream and scramble and `samples` Sobol base
    /// samples, where given (the command line's and the Python API's --seed and --samples).
    pub fn with_overrides(mut self, seed: Option<u64>, samples: Option<usize>) -> Self {
        if let Some(seed) = seed {
            self.sobol.seed = seed;
            self.morris.seed = seed;
            self.shapley.seed = seed;
            self.ranking.seed = seed;
        }
        if let Some(n) = samples {
            self.sobol.base_samples = n;
        }
        self
    }
}

/// Run every method (local, delta-method variance, ranking, Sobol, Morris, Shapley).
pub fn all<M: Model + ?Sized>(
    model: &M,
    dist: &JointDistribution,
    settings: &AllSettings,
) -> Result<AllResults, SensitivityError> {
    Ok(AllResults {
        local: local(model, dist)?,
        variance: delta_variance(model, dist)?,
        ranking: ranking(model, dist, &settings.ranking)?,
        sobol: sobol(model, dist, &settings.sobol)?,
        morris: morris(model, dist, &settings.morris)?,
        shapley: shapley(model, dist, &settings.shapley)?,
    })
}

impl SensitivityTable for AllResults {
    fn to_markdown(&self) -> String {
        [
            self.ranking.to_markdown(),
            self.local.to_markdown(),
            self.variance.to_markdown(),
            self.sobol.to_markdown(),
            self.morris.to_markdown(),
            self.shapley.to_markdown(),
        ]
        .join("\n")
    }
    fn long_rows(&self) -> Vec<LongRow> {
        let mut rows = self.ranking.long_rows();
        rows.extend(self.local.long_rows());
        rows.extend(self.variance.long_rows());
        rows.extend(self.sobol.long_rows());
        rows.extend(self.morris.long_rows());
        rows.extend(self.shapley.long_rows());
        rows
    }
}

/// The methods a study's sensitivity analysis can run, by name, in report order; "all" is every
/// one of them.
pub const METHODS: [&str; 5] = ["local", "variance", "sobol", "morris", "shapley"];

/// Every method that ran on one study, with the refine-next ranking always: what the CLI writes
/// to `sensitivity.json` and the Python package returns. Methods that did not run are left out
/// of the JSON (not written as `null`, which the report's reader would take for a result).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct SensitivityFile {
    /// Title of the study.
    pub title: String,
    /// Local elasticities at the median.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalResult>,
    /// Delta-method variance shares.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variance: Option<VarianceResult>,
    /// The refine-next ranking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranking: Option<RankingResult>,
    /// Sobol first-order and total indices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sobol: Option<SobolResult>,
    /// Morris elementary effects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub morris: Option<MorrisResult>,
    /// Shapley effects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shapley: Option<ShapleyResult>,
}

impl SensitivityFile {
    /// The results present, ranking first, then in [`METHODS`] order.
    pub fn tables(&self) -> Vec<&dyn SensitivityTable> {
        let tables: [Option<&dyn SensitivityTable>; 6] = [
            self.ranking.as_ref().map(|r| r as &dyn SensitivityTable),
            self.local.as_ref().map(|r| r as &dyn SensitivityTable),
            self.variance.as_ref().map(|r| r as &dyn SensitivityTable),
            self.sobol.as_ref().map(|r| r as &dyn SensitivityTable),
            self.morris.as_ref().map(|r| r as &dyn SensitivityTable),
            self.shapley.as_ref().map(|r| r as &dyn SensitivityTable),
        ];
        tables.into_iter().flatten().collect()
    }
}

/// Run the ranking and the method named `method` (one of [`METHODS`], or "all") with
/// `settings`; `title` is carried into the result.
pub fn run_methods<M: Model + ?Sized>(
    model: &M,
    dist: &JointDistribution,
    settings: &AllSettings,
    method: &str,
    title: &str,
) -> Result<SensitivityFile, SensitivityError> {
    run_methods_with(model, dist, settings, method, title, |s| {
        sobol(model, dist, s)
    })
}

/// [`run_methods`] with the Sobol indices from `sobol_indices` (a single-process run, or the
/// merge of a sharded run's rows), so that both give the same file.
pub fn run_methods_with<M: Model + ?Sized>(
    model: &M,
    dist: &JointDistribution,
    settings: &AllSettings,
    method: &str,
    title: &str,
    sobol_indices: impl FnOnce(&SobolSettings) -> Result<SobolResult, SensitivityError>,
) -> Result<SensitivityFile, SensitivityError> {
    let methods: Vec<&str> = match method {
        "all" => METHODS.to_vec(),
        m if METHODS.contains(&m) => vec![m],
        other => {
            return Err(SensitivityError::setting(
                "method",
                other,
                "one of local, variance, sobol, morris, shapley, all",
            ));
        }
    };
    let mut f = SensitivityFile {
        title: title.to_string(),
        ranking: Some(ranking(model, dist, &settings.ranking)?),
        ..Default::default()
    };
    let mut sobol_indices = Some(sobol_indices);
    for m in methods {
        match m {
            "local" => f.local = Some(local(model, dist)?),
            "variance" => f.variance = Some(delta_variance(model, dist)?),
            "sobol" => {
                let run = sobol_indices.take().expect("sobol is listed once");
                f.sobol = Some(run(&settings.sobol)?)
            }
            "morris" => f.morris = Some(morris(model, dist, &settings.morris)?),
            _ => f.shapley = Some(shapley(model, dist, &settings.shapley)?),
        }
    }
    Ok(f)
}
