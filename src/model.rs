//! The one trait every bridging law, cell model and composed chain is seen through.
//!
//! A [`Model`] maps a vector of named, united inputs θ to a flat vector of outputs. Outputs are
//! named scalars or curves sampled on a fixed grid (voltage vs time, OCV vs x, D vs T); the flat
//! vector is the concatenation of every output in [`Model::outputs`] order. Evaluation is generic
//! over the scalar `D: DualNum<Primitive = f64> + Copy`, so `f64` gives values and dual numbers
//! give exact gradients and Jacobians from the same code. Propagation, calibration and
//! sensitivity see nothing else.

use crate::numerics::gradient::Grad;
use nalgebra::DMatrix;
use num_dual::{Dual64, DualNum};
use thiserror::Error;

/// The scalar bound every law and model is generic over.
pub trait Scalar: DualNum<Primitive = f64> + Copy + Send + Sync + DependsOnInputs {}
impl<T: DualNum<Primitive = f64> + Copy + Send + Sync + DependsOnInputs> Scalar for T {}

/// Whether a value carries a nonzero derivative with respect to any input, so a model can skip
/// a part whose inputs are all constants (num-dual's `is_zero` and `==` compare the value only).
pub trait DependsOnInputs {
    /// Some derivative is nonzero.
    fn depends_on_inputs(&self) -> bool;
}

impl DependsOnInputs for f64 {
    fn depends_on_inputs(&self) -> bool {
        false
    }
}

impl DependsOnInputs for Dual64 {
    fn depends_on_inputs(&self) -> bool {
        self.eps != 0.0
    }
}

impl<const N: usize> DependsOnInputs for Grad<N> {
    fn depends_on_inputs(&self) -> bool {
        self.eps.as_slice().iter().any(|&e| e != 0.0)
    }
}

/// A named model input with its SI (or documented atomistic) unit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InputSpec {
    /// Input name, as studies bind it (`E_m`, `D_n`).
    pub name: String,
    /// Unit of the input's values, e.g. `eV`, `m2/s` (from the known list of `src/units.rs`).
    pub unit: String,
}

impl InputSpec {
    /// An input `name` in `unit`.
    pub fn new(name: &str, unit: &str) -> Self {
        Self {
            name: name.to_string(),
            unit: unit.to_string(),
        }
    }
}

/// Most points of a curve grid given as `{ start, stop, n }` in a study (a curve is held in
/// memory per sample; more points than this is a typing error, not a finer answer).
pub const MAX_GRID_POINTS: i64 = 1_000_000;

/// The grid a curve output is sampled on (e.g. x in [0, 1], T in K, t in s).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Axis {
    /// Name of the axis variable (`x`, `T`, `t`).
    pub name: String,
    /// Unit of the axis values (`1`, `K`, `s`).
    pub unit: String,
    /// The grid points, in order.
    pub values: Vec<f64>,
}

/// Whether an output is one number or a curve on an [`Axis`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum OutputShape {
    /// One number.
    Scalar,
    /// One value per point of the axis.
    Curve(Axis),
}

/// A named output with its unit and shape.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OutputSpec {
    /// Output name (`D_tr`, `voltage_1C`).
    pub name: String,
    /// Unit of the output's values.
    pub unit: String,
    /// Scalar or curve.
    pub shape: OutputShape,
}

impl OutputSpec {
    /// A scalar output `name` in `unit`.
    pub fn scalar(name: &str, unit: &str) -> Self {
        Self {
            name: name.to_string(),
            unit: unit.to_string(),
            shape: OutputShape::Scalar,
        }
    }

    /// A curve output `name` in `unit` on `axis`.
    pub fn curve(name: &str, unit: &str, axis: Axis) -> Self {
        Self {
            name: name.to_string(),
            unit: unit.to_string(),
            shape: OutputShape::Curve(axis),
        }
    }

    /// Number of entries this output occupies in the flat output vector.
    pub fn len(&self) -> usize {
        match &self.shape {
            OutputShape::Scalar => 1,
            OutputShape::Curve(a) => a.values.len(),
        }
    }

    /// Whether the output occupies no entry (a curve on an empty grid).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why an evaluation failed. Every variant is recoverable for the engines: Monte Carlo counts
/// it, NUTS treats it as zero likelihood (a divergence), never a panic.
#[derive(Debug, Clone, Error, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ModelError {
    /// A quantity left the range where it is physical (a stoichiometry outside (0, 1), a negative concentration).
    #[error("{quantity} = {value} is outside its physical range ({expected})")]
    OutOfPhysicalRange {
        /// The quantity, in words or by its symbol.
        quantity: String,
        /// Its value, in the quantity's unit.
        value: f64,
        /// The physical range, in words.
        expected: String,
    },
    /// A solver (cell model, root find, quadrature) did not converge or was given bad options: its message.
    #[error("solver failed: {0}")]
    SolverFailed(String),
    /// An input is outside the range the model accepts.
    #[error("input '{name}' = {value}: expected {expected}")]
    InvalidInput {
        /// The input's name.
        name: String,
        /// Its value, in the input's unit.
        value: f64,
        /// The accepted range, in words.
        expected: String,
    },
    /// θ has a different length from the model's inputs.
    #[error("model expects {expected} inputs, got {found}")]
    WrongInputCount {
        /// Inputs the model declares.
        expected: usize,
        /// Entries in the θ given.
        found: usize,
    },
}

impl ModelError {
    /// An [`ModelError::OutOfPhysicalRange`] error.
    pub fn out_of_range(quantity: &str, value: f64, expected: &str) -> Self {
        Self::OutOfPhysicalRange {
            quantity: quantity.to_string(),
            value,
            expected: expected.to_string(),
        }
    }
}

/// A model seen by every engine: named inputs, named scalar or curve outputs, and one generic
/// evaluation that serves values (`f64`) and exact derivatives (dual numbers).
pub trait Model: Send + Sync {
    /// Inputs θ, in the order `eval` expects them.
    fn inputs(&self) -> &[InputSpec];
    /// Outputs, in the order they are concatenated into the flat output vector.
    fn outputs(&self) -> &[OutputSpec];
    /// Evaluate the model at `theta` (length `inputs().len()`), writing the flat output vector
    /// into `out` (length [`n_outputs`]).
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError>;

    /// Evaluate `count` samples in f64 at once, for Monte Carlo: input a of sample i is
    /// `x[a·count + i]` and output j of sample i goes to `out[j·count + i]` (column-major, so
    /// a law can vectorise over samples). Samples whose evaluation fails are appended to
    /// `failed` as (sample index, error) in increasing index order; their outputs are
    /// unspecified. The default calls [`Model::eval`] sample by sample; an override must give
    /// the same values (up to rounding) and the same failures. Units: those of `eval`.
    fn eval_batch(
        &self,
        x: &[f64],
        count: usize,
        out: &mut [f64],
        failed: &mut Vec<(usize, ModelError)>,
    ) {
        let k = self.inputs().len();
        let p = self.outputs().iter().map(OutputSpec::len).sum::<usize>();
        let mut xi = vec![0.0; k];
        let mut yi = vec![0.0; p];
        for i in 0..count {
            for (a, v) in xi.iter_mut().enumerate() {
                *v = x[a * count + i];
            }
            match self.eval(&xi, &mut yi) {
                Ok(()) => {
                    for (j, v) in yi.iter().enumerate() {
                        out[j * count + i] = *v;
                    }
                }
                Err(e) => failed.push((i, e)),
            }
        }
    }
}

/// Length of the flat output vector of `m`.
pub fn n_outputs<M: Model + ?Sized>(m: &M) -> usize {
    m.outputs().iter().map(OutputSpec::len).sum()
}

/// Position of the named input, if any.
pub fn input_index<M: Model + ?Sized>(m: &M, name: &str) -> Option<usize> {
    m.inputs().iter().position(|i| i.name == name)
}

/// Range of the named output in the flat output vector, if any.
pub fn output_range<M: Model + ?Sized>(m: &M, name: &str) -> Option<std::ops::Range<usize>> {
    let mut start = 0;
    for o in m.outputs() {
        if o.name == name {
            return Some(start..start + o.len());
        }
        start += o.len();
    }
    None
}

/// One label per flat output entry: `name` for scalars, `name[axis=value]` for curve points.
pub fn flat_output_labels<M: Model + ?Sized>(m: &M) -> Vec<String> {
    let mut labels = Vec::with_capacity(n_outputs(m));
    for o in m.outputs() {
        match &o.shape {
            OutputShape::Scalar => labels.push(o.name.clone()),
            OutputShape::Curve(a) => {
                for v in &a.values {
                    labels.push(format!("{}[{}={}]", o.name, a.name, v));
                }
            }
        }
    }
    labels
}

/// Evaluate `m` in f64.
pub fn evaluate<M: Model + ?Sized>(m: &M, theta: &[f64]) -> Result<Vec<f64>, ModelError> {
    check_len(m, theta.len())?;
    let mut out = vec![0.0; n_outputs(m)];
    m.eval(theta, &mut out)?;
    Ok(out)
}

fn check_len<M: Model + ?Sized>(m: &M, n: usize) -> Result<(), ModelError> {
    if m.inputs().len() != n {
        return Err(ModelError::WrongInputCount {
            expected: m.inputs().len(),
            found: n,
        });
    }
    Ok(())
}

/// A function from an input vector to an output vector, generic over the scalar. Engines that
/// differentiate something other than the bare model (a model composed with parameter
/// transforms, a log posterior) implement this and call [`jacobian_of`].
pub trait GenericFn: Sync {
    /// Length of the input vector x.
    fn n_in(&self) -> usize;
    /// Length of the output vector.
    fn n_out(&self) -> usize;
    /// Evaluate at `x` (length [`GenericFn::n_in`]), writing [`GenericFn::n_out`] values to `out`.
    fn call<D: Scalar>(&self, x: &[D], out: &mut [D]) -> Result<(), ModelError>;
}

struct ModelFn<'a, M: Model + ?Sized>(&'a M);

impl<M: Model + ?Sized> GenericFn for ModelFn<'_, M> {
    fn n_in(&self) -> usize {
        self.0.inputs().len()
    }
    fn n_out(&self) -> usize {
        n_outputs(self.0)
    }
    fn call<D: Scalar>(&self, x: &[D], out: &mut [D]) -> Result<(), ModelError> {
        self.0.eval(x, out)
    }
}

/// Values and exact Jacobian (n_out × n_in) of `m` at `theta`, by forward-mode AD.
pub fn jacobian<M: Model + ?Sized>(
    m: &M,
    theta: &[f64],
) -> Result<(Vec<f64>, DMatrix<f64>), ModelError> {
    check_len(m, theta.len())?;
    jacobian_of(&ModelFn(m), theta)
}

/// Values and exact Jacobian of any [`GenericFn`]. Up to 16 inputs use one pass with a stack
/// gradient scalar ([`Grad<N>`], ~30× faster than heap duals); more inputs use one `Dual64`
/// pass per input.
pub fn jacobian_of<F: GenericFn + ?Sized>(
    f: &F,
    x: &[f64],
) -> Result<(Vec<f64>, DMatrix<f64>), ModelError> {
    macro_rules! dispatch {
        ($($n:literal)*) => {
            match x.len() {
                $($n => jacobian_static::<F, $n>(f, x),)*
                _ => jacobian_directional(f, x),
            }
        };
    }
    dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
}

fn jacobian_static<F: GenericFn + ?Sized, const N: usize>(
    f: &F,
    x: &[f64],
) -> Result<(Vec<f64>, DMatrix<f64>), ModelError> {
    let xd: Vec<Grad<N>> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| Grad::<N>::from_re(v).derivative(i))
        .collect();
    let n_out = f.n_out();
    let mut out = vec![Grad::<N>::from_re(0.0); n_out];
    f.call(&xd, &mut out)?;
    let mut values = Vec::with_capacity(n_out);
    let mut jac = DMatrix::zeros(n_out, N);
    for (r, o) in out.into_iter().enumerate() {
        values.push(o.re);
        for (c, &d) in o.eps.as_slice().iter().enumerate() {
            jac[(r, c)] = d;
        }
    }
    Ok((values, jac))
}

fn jacobian_directional<F: GenericFn + ?Sized>(
    f: &F,
    x: &[f64],
) -> Result<(Vec<f64>, DMatrix<f64>), ModelError> {
    let n_out = f.n_out();
    let mut jac = DMatrix::zeros(n_out, x.len());
    let mut values = vec![0.0; n_out];
    let mut out = vec![Dual64::from_re(0.0); n_out];
    for c in 0..x.len() {
        let xd: Vec<Dual64> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| Dual64::new(v, if i == c { 1.0 } else { 0.0 }))
            .collect();
        f.call(&xd, &mut out)?;
        for (r, o) in out.iter().enumerate() {
            values[r] = o.re;
            jac[(r, c)] = o.eps;
        }
    }
    Ok((values, jac))
}

/// Central finite-difference Jacobian, for tests that check the AD Jacobian.
/// Step h_i = rel_step·max(|x_i|, 1e-300 scale floor given by `abs_floor`).
pub fn jacobian_central_fd<M: Model + ?Sized>(
    m: &M,
    theta: &[f64],
    rel_step: f64,
) -> Result<DMatrix<f64>, ModelError> {
    let n_out = n_outputs(m);
    let mut jac = DMatrix::zeros(n_out, theta.len());
    for c in 0..theta.len() {
        let h = rel_step * theta[c].abs().max(1e-12);
        let mut tp = theta.to_vec();
        let mut tm = theta.to_vec();
        tp[c] += h;
        tm[c] -= h;
        let fp = evaluate(m, &tp)?;
        let fm = evaluate(m, &tm)?;
        for r in 0..n_out {
            jac[(r, c)] = (fp[r] - fm[r]) / (2.0 * h);
        }
    }
    Ok(jac)
}

/// Largest relative difference between two Jacobians, entry-wise, relative to
/// max(|a|, |b|, `abs_scale`).
pub fn max_rel_diff(a: &DMatrix<f64>, b: &DMatrix<f64>, abs_scale: f64) -> f64 {
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs() / x.abs().max(y.abs()).max(abs_scale))
        .fold(0.0, f64::max)
}
