//! The log posterior in the unconstrained space z, generic over the scalar so one pass gives
//! its value and exact gradient.
//!
//! Unknowns: z = (z_θ, η), z_θ the model parameters in the prior's transformed space and
//! η_c = ln σ_c one per curve whose noise sd is inferred.
//!
//! $$\ln p(z \mid y) = \ln N(z_θ; μ, Σ) + \sum_c \big[\ln p_σ(e^{η_c}) + η_c\big]
//!   + \sum_c \sum_k \ln f\big(y_{ck} - m_{ck}(T(z_θ)); σ_c\big) + \text{const}$$
//!
//! - The prior on z_θ is the [`JointDistribution`]'s normal in z. That normal *is* the density
//!   of z, so it carries no Jacobian term (the distribution of x = T(z) is defined through it).
//! - The prior on σ_c is stated in natural units (volts); sampling η = ln σ needs the
//!   log-Jacobian ln|dσ/dη| = η. Half-normal(s): ln p_σ = −σ²/(2s²); lognormal(median m, sd s
//!   of ln σ): ln p_σ = −(ln σ − ln m)²/(2s²) − ln σ.
//! - Likelihood per point, r = y − m: Gaussian −ln σ − r²/(2σ²); Student-t(ν)
//!   −ln σ − (ν+1)/2·ln(1 + r²/(νσ²)). Constants that depend on nothing sampled are dropped.

use super::CalibrateError;
use crate::dist::{JointDistribution, Parameter, Transform};
use crate::model::{Model, ModelError, OutputShape, Scalar, n_outputs};
use crate::numerics::gradient::Grad;
use num_dual::Dual64;
use std::ops::Range;

/// The prior on a curve's noise sd σ (V), stated in natural units.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SigmaPrior {
    /// p(σ) ∝ exp(−σ²/(2·scale²)), σ > 0; mean scale·√(2/π).
    HalfNormal {
        /// The scale \[V\].
        scale: f64,
    },
    /// ln σ ~ N(ln median, sd_log²).
    LogNormal {
        /// The median of σ \[V\].
        median: f64,
        /// The sd of ln σ \[1\].
        sd_log: f64,
    },
}

impl SigmaPrior {
    /// ln p_σ(σ) + ln|dσ/dη| at η = ln σ, up to a constant.
    #[inline]
    fn log_density_eta<D: Scalar>(&self, eta: D) -> D {
        match *self {
            SigmaPrior::HalfNormal { scale } => {
                let s = (eta * 2.0).exp();
                eta - s * (0.5 / (scale * scale))
            }
            SigmaPrior::LogNormal { median, sd_log } => {
                let d = eta - median.ln();
                -(d * d) * (0.5 / (sd_log * sd_log))
            }
        }
    }

    /// A typical σ to start from: the prior median (V).
    pub fn median(&self) -> f64 {
        match *self {
            SigmaPrior::HalfNormal { scale } => scale * 0.674_489_750_196_081_7,
            SigmaPrior::LogNormal { median, .. } => median,
        }
    }

    /// Quantile p of the prior in volts.
    pub fn quantile(&self, p: f64) -> f64 {
        use crate::dist::sample::standard_normal_quantile as q;
        match *self {
            SigmaPrior::HalfNormal { scale } => scale * q(0.5 + 0.5 * p),
            SigmaPrior::LogNormal { median, sd_log } => median * (sd_log * q(p)).exp(),
        }
    }

    /// Mean and sd of the prior in volts.
    pub fn mean_sd(&self) -> (f64, f64) {
        match *self {
            SigmaPrior::HalfNormal { scale } => {
                let m = scale * (2.0 / std::f64::consts::PI).sqrt();
                (m, (scale * scale - m * m).sqrt())
            }
            SigmaPrior::LogNormal { median, sd_log } => {
                let v = sd_log * sd_log;
                let m = median * (0.5 * v).exp();
                (m, m * v.exp_m1().sqrt())
            }
        }
    }

    fn validate(&self, field: &str) -> Result<(), CalibrateError> {
        let ok = match *self {
            SigmaPrior::HalfNormal { scale } => scale.is_finite() && scale > 0.0,
            SigmaPrior::LogNormal { median, sd_log } => {
                median.is_finite() && median > 0.0 && sd_log.is_finite() && sd_log > 0.0
            }
        };
        if ok {
            Ok(())
        } else {
            Err(CalibrateError::Setup(format!(
                "{field}: σ prior {self:?} needs finite positive scale/median/sd_log"
            )))
        }
    }
}

/// How a curve's noise sd is treated.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Noise {
    /// σ fixed to this value (V).
    Fixed {
        /// σ \[V\] (in the unit of the curve's output).
        sigma: f64,
    },
    /// σ inferred (sampled as ln σ) with this prior.
    Inferred {
        /// The prior on σ.
        prior: SigmaPrior,
    },
}

/// The per-point error model.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Likelihood {
    /// r ~ N(0, σ²).
    #[default]
    Gaussian,
    /// r/σ ~ Student-t with ν degrees of freedom (heavy tails, robust to outliers).
    StudentT {
        /// Degrees of freedom ν > 0.
        nu: f64,
    },
}

/// One measured curve bound to one curve (or scalar) output of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct CurveObservation {
    /// Name used for the σ parameter (`sigma_<name>`) and output files.
    pub name: String,
    /// Index into `model.outputs()`.
    pub output: usize,
    /// Measured values on that output's grid (length = output length), in the output's unit.
    pub values: Vec<f64>,
    /// The curve's noise model.
    pub noise: Noise,
}

impl CurveObservation {
    /// Bind a measured curve to curve output `output` of `model`: the measured voltage is
    /// linearly interpolated at the output's axis values (which must lie inside the measured
    /// time range, in s). The curve's name becomes the observation's name.
    pub fn from_measured<M: Model>(
        curve: &super::data::MeasuredCurve,
        model: &M,
        output: usize,
        noise: Noise,
    ) -> Result<Self, CalibrateError> {
        let o = model.outputs().get(output).ok_or_else(|| {
            CalibrateError::Setup(format!(
                "curve '{}': output index {output} but the model has {} outputs",
                curve.name,
                model.outputs().len()
            ))
        })?;
        let OutputShape::Curve(axis) = &o.shape else {
            return Err(CalibrateError::Setup(format!(
                "curve '{}': output '{}' is a scalar, expected a curve on a time axis",
                curve.name, o.name
            )));
        };
        Ok(Self {
            name: curve.name.clone(),
            output,
            values: curve.voltage_at(&axis.values)?,
            noise,
        })
    }
}

#[derive(Debug, Clone)]
struct Bound {
    name: String,
    output: usize,
    range: Range<usize>,
    values: Vec<f64>,
    noise: Noise,
    /// Index of η = ln σ in z when σ is inferred.
    slot: Option<usize>,
}

/// The posterior over z = (z_θ, ln σ_inferred...) for a model, a prior and measured curves.
pub struct Posterior<'a, M: Model> {
    model: &'a M,
    prior: JointDistribution,
    curves: Vec<Bound>,
    names: Vec<String>,
    likelihood: Likelihood,
    n_theta: usize,
    dim: usize,
    n_out: usize,
}

/// Scratch buffers for one evaluation (natural parameters and model outputs), reused across
/// calls so the log density allocates nothing per call.
pub struct Workspace<D> {
    x: Vec<D>,
    out: Vec<D>,
}

impl<'a, M: Model> Posterior<'a, M> {
    /// Bind `curves` to `model` with `prior` (its params correspond index-by-index to
    /// `model.inputs()`). Checks dimensions, output lengths, finite data, σ and ν.
    pub fn new(
        model: &'a M,
        prior: &JointDistribution,
        curves: Vec<CurveObservation>,
        likelihood: Likelihood,
    ) -> Result<Self, CalibrateError> {
        let n_theta = prior.dim();
        if model.inputs().len() != n_theta {
            return Err(CalibrateError::Setup(format!(
                "the prior has {n_theta} parameters but the model has {} inputs",
                model.inputs().len()
            )));
        }
        if curves.is_empty() {
            return Err(CalibrateError::Setup("no measured curve given".into()));
        }
        if let Likelihood::StudentT { nu } = likelihood
            && !(nu.is_finite() && nu > 0.0)
        {
            return Err(CalibrateError::Setup(format!(
                "likelihood: Student-t ν = {nu}; expected a finite ν > 0"
            )));
        }
        let outs = model.outputs();
        let mut starts = Vec::with_capacity(outs.len());
        let mut s = 0;
        for o in outs {
            starts.push(s);
            s += o.len();
        }
        let mut bound = Vec::new();
        let mut names: Vec<String> = prior.params.iter().map(|p| p.name.clone()).collect();
        let mut dim = n_theta;
        for (k, c) in curves.into_iter().enumerate() {
            let field = format!("curve[{k}] ({})", c.name);
            let Some(o) = outs.get(c.output) else {
                return Err(CalibrateError::Setup(format!(
                    "{field}: output index {} but the model has {} outputs",
                    c.output,
                    outs.len()
                )));
            };
            if o.len() != c.values.len() {
                return Err(CalibrateError::Setup(format!(
                    "{field}: {} measured values but output '{}' has {} points{}",
                    c.values.len(),
                    o.name,
                    o.len(),
                    match &o.shape {
                        OutputShape::Curve(a) => format!(" on axis '{}'", a.name),
                        OutputShape::Scalar => String::new(),
                    }
                )));
            }
            if let Some((i, v)) = c.values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(CalibrateError::Setup(format!(
                    "{field}: value[{i}] = {v}; expected finite"
                )));
            }
            let slot = match c.noise {
                Noise::Fixed { sigma } => {
                    if !(sigma.is_finite() && sigma > 0.0) {
                        return Err(CalibrateError::Setup(format!(
                            "{field}: fixed σ = {sigma}; expected a finite σ > 0"
                        )));
                    }
                    None
                }
                Noise::Inferred { prior } => {
                    prior.validate(&field)?;
                    names.push(format!("sigma_{}", sanitize(&c.name)));
                    dim += 1;
                    Some(dim - 1)
                }
            };
            bound.push(Bound {
                name: c.name.clone(),
                output: c.output,
                range: starts[c.output]..starts[c.output] + o.len(),
                values: c.values,
                noise: c.noise,
                slot,
            });
        }
        Ok(Self {
            model,
            prior: prior.clone(),
            curves: bound,
            names,
            likelihood,
            n_theta,
            dim,
            n_out: n_outputs(model),
        })
    }

    /// Number of unknowns in z (model parameters + inferred σ's).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of model parameters.
    pub fn n_theta(&self) -> usize {
        self.n_theta
    }

    /// The model the curves are bound to.
    pub fn model(&self) -> &M {
        self.model
    }

    /// The prior of the model parameters θ.
    pub fn prior(&self) -> &JointDistribution {
        &self.prior
    }

    /// The per-point error model.
    pub fn likelihood(&self) -> Likelihood {
        self.likelihood
    }

    /// Number of measured curves.
    pub fn n_curves(&self) -> usize {
        self.curves.len()
    }

    /// Name of curve `c`.
    pub fn curve_name(&self, c: usize) -> &str {
        &self.curves[c].name
    }

    /// Noise model of curve `c`.
    pub fn curve_noise(&self, c: usize) -> Noise {
        self.curves[c].noise
    }

    /// Model output index curve `c` is bound to.
    pub fn curve_output(&self, c: usize) -> usize {
        self.curves[c].output
    }

    /// Names of the unknowns: the prior's parameter names, then `sigma_<curve>`.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The unknowns as [`Parameter`]s (σ's: unit V, log transform), for summaries and Laplace.
    pub fn parameters(&self) -> Vec<Parameter> {
        let mut p = self.prior.params.clone();
        for (c, n) in self.curves.iter().zip(self.curve_names_for_sigma()) {
            if c.slot.is_some() {
                p.push(Parameter {
                    name: n,
                    unit: "V".into(),
                    transform: Transform::Log,
                    source: Some("noise sd of the measured curve".into()),
                });
            }
        }
        p
    }

    fn curve_names_for_sigma(&self) -> Vec<String> {
        let mut it = self.names[self.n_theta..].iter();
        self.curves
            .iter()
            .map(|c| {
                if c.slot.is_some() {
                    it.next().cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .collect()
    }

    /// Prior of each unknown in z: (mean, sd). σ's: the σ prior's ln-space location/scale
    /// (lognormal: exact; half-normal: mean and sd of ln σ by the closed forms
    /// E ln σ = ln s − (γ + ln 2)/2, Var ln σ = π²/8).
    pub fn prior_z_mean_sd(&self) -> Vec<(f64, f64)> {
        let sd = self.prior.sd_z();
        let mut v: Vec<(f64, f64)> = (0..self.n_theta)
            .map(|i| (self.prior.mean_z[i], sd[i]))
            .collect();
        for c in &self.curves {
            if let Noise::Inferred { prior } = c.noise {
                v.push(match prior {
                    SigmaPrior::LogNormal { median, sd_log } => (median.ln(), sd_log),
                    SigmaPrior::HalfNormal { scale } => {
                        const EULER: f64 = 0.577_215_664_901_532_9;
                        (
                            scale.ln() - 0.5 * (EULER + std::f64::consts::LN_2),
                            std::f64::consts::PI / 8.0_f64.sqrt(),
                        )
                    }
                });
            }
        }
        v
    }

    /// Prior marginal of each unknown in natural units: (mean, sd, q5, q95).
    pub fn prior_natural_summary(&self) -> Vec<[f64; 4]> {
        let mut v: Vec<[f64; 4]> = (0..self.n_theta)
            .map(|i| {
                let (m, s) = self.prior.marginal_mean_sd(i);
                [
                    m,
                    s,
                    self.prior.marginal_quantile(i, 0.05),
                    self.prior.marginal_quantile(i, 0.95),
                ]
            })
            .collect();
        for c in &self.curves {
            if let Noise::Inferred { prior } = c.noise {
                let (m, s) = prior.mean_sd();
                v.push([m, s, prior.quantile(0.05), prior.quantile(0.95)]);
            }
        }
        v
    }

    /// The centre of the prior in z: z_θ = μ, η = ln(median σ).
    pub fn prior_centre(&self) -> Vec<f64> {
        let mut z: Vec<f64> = self.prior.mean_z.iter().copied().collect();
        for c in &self.curves {
            if let Noise::Inferred { prior } = c.noise {
                z.push(prior.median().ln());
            }
        }
        z
    }

    /// A draw from the prior in z (z_θ from the joint normal, η from the σ prior).
    pub fn prior_draw<R: rand::Rng + ?Sized>(&self, rng: &mut R, z: &mut [f64]) {
        let mut n = vec![0.0; self.n_theta];
        crate::dist::sample::fill_standard_normals(rng, &mut n);
        self.prior
            .z_from_standard_normals(&n, &mut z[..self.n_theta]);
        let mut e = [0.0];
        for c in &self.curves {
            if let (Noise::Inferred { prior }, Some(slot)) = (c.noise, c.slot) {
                crate::dist::sample::fill_standard_normals(rng, &mut e);
                z[slot] = match prior {
                    SigmaPrior::HalfNormal { scale } => (scale * e[0].abs()).max(1e-300).ln(),
                    SigmaPrior::LogNormal { median, sd_log } => median.ln() + sd_log * e[0],
                };
            }
        }
    }

    /// Natural values of the unknowns: x_i = T_i(z_i) for θ, σ = e^η for inferred σ's.
    pub fn natural_from_z(&self, z: &[f64], x: &mut [f64]) {
        self.prior
            .natural_from_z(&z[..self.n_theta], &mut x[..self.n_theta]);
        for k in self.n_theta..self.dim {
            x[k] = z[k].exp();
        }
    }

    /// Scratch buffers for [`Self::log_density`] with scalar `D`.
    pub fn workspace<D: Scalar>(&self) -> Workspace<D> {
        Workspace {
            x: vec![D::from(0.0); self.n_theta],
            out: vec![D::from(0.0); self.n_out],
        }
    }

    /// Model outputs (flat) at the unknowns z.
    pub fn predict(&self, z: &[f64]) -> Result<Vec<f64>, ModelError> {
        let mut ws = self.workspace::<f64>();
        self.prior.natural_from_z(&z[..self.n_theta], &mut ws.x);
        self.model.eval(&ws.x, &mut ws.out)?;
        Ok(ws.out)
    }

    /// For each curve: its range in the flat output, measured values and σ at z (fixed or e^η).
    pub fn curve_views<'s>(&'s self, z: &[f64]) -> Vec<(Range<usize>, &'s [f64], f64)> {
        self.curves
            .iter()
            .map(|c| {
                let s = match (c.noise, c.slot) {
                    (Noise::Fixed { sigma }, _) => sigma,
                    (_, Some(k)) => z[k].exp(),
                    _ => f64::NAN,
                };
                (c.range.clone(), c.values.as_slice(), s)
            })
            .collect()
    }

    /// Root-mean-square residual \[output unit\] of each curve at natural model parameters
    /// `theta`: √(Σ_k (m_ck(θ) − y_ck)²/n_c), in curve order.
    pub fn curve_rmse(&self, theta: &[f64]) -> Result<Vec<f64>, ModelError> {
        let mut out = vec![0.0; self.n_out];
        self.model.eval(theta, &mut out)?;
        Ok(self
            .curves
            .iter()
            .map(|c| {
                let ss: f64 = out[c.range.clone()]
                    .iter()
                    .zip(&c.values)
                    .map(|(m, y)| (m - y) * (m - y))
                    .sum();
                (ss / c.values.len().max(1) as f64).sqrt()
            })
            .collect())
    }

    /// ln p(z | y) up to a constant (see the module doc), generic over the scalar.
    pub fn log_density<D: Scalar>(&self, z: &[D], ws: &mut Workspace<D>) -> Result<D, ModelError> {
        if z.len() != self.dim {
            return Err(ModelError::WrongInputCount {
                expected: self.dim,
                found: z.len(),
            });
        }
        // Prior on z_θ: −½‖L⁻¹(z − μ)‖², by forward substitution into ws.x (reused scratch).
        let l = self.prior.cholesky();
        let mut lp = D::from(0.0);
        for i in 0..self.n_theta {
            let mut acc = z[i] - self.prior.mean_z[i];
            for j in 0..i {
                acc -= ws.x[j] * l[(i, j)];
            }
            let w = acc / l[(i, i)];
            ws.x[i] = w;
            lp -= w * w * 0.5;
        }
        for (i, p) in self.prior.params.iter().enumerate() {
            ws.x[i] = p.transform.to_natural(z[i]);
        }
        self.model.eval(&ws.x, &mut ws.out)?;
        for c in &self.curves {
            let (eta, inv_sigma) = match (c.noise, c.slot) {
                (Noise::Inferred { prior }, Some(k)) => {
                    lp += prior.log_density_eta(z[k]);
                    (z[k], (-z[k]).exp())
                }
                (Noise::Fixed { sigma }, _) => (D::from(sigma.ln()), D::from(1.0 / sigma)),
                _ => unreachable!("inferred noise always has a slot"),
            };
            let n = c.values.len() as f64;
            let pred = &ws.out[c.range.clone()];
            match self.likelihood {
                Likelihood::Gaussian => {
                    let mut ss = D::from(0.0);
                    for (m, &y) in pred.iter().zip(&c.values) {
                        let r = *m - y;
                        ss += r * r;
                    }
                    lp -= eta * n + ss * inv_sigma * inv_sigma * 0.5;
                }
                Likelihood::StudentT { nu } => {
                    let mut acc = D::from(0.0);
                    for (m, &y) in pred.iter().zip(&c.values) {
                        let u = (*m - y) * inv_sigma;
                        acc += (u * u / nu).ln_1p();
                    }
                    lp -= eta * n + acc * ((nu + 1.0) * 0.5);
                }
            }
        }
        if !lp.re().is_finite() {
            return Err(ModelError::out_of_range(
                "log posterior density",
                lp.re(),
                "a finite number",
            ));
        }
        Ok(lp)
    }

    /// ln p(z | y) in f64 (allocates a workspace; for tests and one-off evaluations).
    pub fn log_density_f64(&self, z: &[f64]) -> Result<f64, ModelError> {
        let mut ws = self.workspace::<f64>();
        self.log_density(z, &mut ws)
    }

    /// A reusable evaluator of ln p and its exact gradient by forward-mode AD: one pass with a
    /// gradient scalar `Grad<N>` for dim ≤ 16, else one `Dual64` pass per coordinate.
    /// After construction, evaluations allocate nothing (beyond what the model itself does).
    pub fn gradient_kernel(&self) -> Box<dyn LogDensityGrad + Send + '_> {
        macro_rules! dispatch {
            ($($n:literal)*) => {
                match self.dim {
                    $($n => Box::new(StaticKernel::<M, $n> {
                        post: self,
                        z: vec![Grad::<$n>::from_re(0.0); $n],
                        ws: self.workspace(),
                    }),)*
                    _ => Box::new(DirectionalKernel {
                        post: self,
                        z: vec![Dual64::from_re(0.0); self.dim],
                        ws: self.workspace(),
                    }),
                }
            };
        }
        dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    }
}

/// Replace characters that CmdStan/ArviZ column parsing would split on.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// ln p(z) and its gradient in one call.
pub trait LogDensityGrad {
    /// Returns ln p(z) and writes ∂ ln p/∂z into `grad` (length dim).
    fn logp_grad(&mut self, z: &[f64], grad: &mut [f64]) -> Result<f64, ModelError>;
}

struct StaticKernel<'p, M: Model, const N: usize> {
    post: &'p Posterior<'p, M>,
    z: Vec<Grad<N>>,
    ws: Workspace<Grad<N>>,
}

impl<M: Model, const N: usize> LogDensityGrad for StaticKernel<'_, M, N> {
    fn logp_grad(&mut self, z: &[f64], grad: &mut [f64]) -> Result<f64, ModelError> {
        for (i, (d, &v)) in self.z.iter_mut().zip(z).enumerate() {
            *d = Grad::<N>::from_re(v).derivative(i);
        }
        let lp = self.post.log_density(&self.z, &mut self.ws)?;
        grad.copy_from_slice(lp.eps.as_slice());
        if grad.iter().any(|g| !g.is_finite()) {
            return Err(ModelError::out_of_range(
                "gradient of the log density",
                f64::NAN,
                "finite",
            ));
        }
        Ok(lp.re)
    }
}

struct DirectionalKernel<'p, M: Model> {
    post: &'p Posterior<'p, M>,
    z: Vec<Dual64>,
    ws: Workspace<Dual64>,
}

impl<M: Model> LogDensityGrad for DirectionalKernel<'_, M> {
    fn logp_grad(&mut self, z: &[f64], grad: &mut [f64]) -> Result<f64, ModelError> {
        let mut lp = 0.0;
        for (c, gc) in grad.iter_mut().enumerate() {
            for (i, (d, &v)) in self.z.iter_mut().zip(z).enumerate() {
                *d = Dual64::new(v, if i == c { 1.0 } else { 0.0 });
            }
            let r = self.post.log_density(&self.z, &mut self.ws)?;
            *gc = r.eps;
            lp = r.re;
        }
        if grad.iter().any(|g| !g.is_finite()) {
            return Err(ModelError::out_of_range(
                "gradient of the log density",
                f64::NAN,
                "finite",
            ));
        }
        Ok(lp)
    }
}
