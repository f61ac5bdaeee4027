//! Electrode balancing: each electrode's stoichiometry window fitted to a pseudo-OCV (C/20 or
//! slower) discharge, with uncertainty — the first stage of a calibration on real data, as
//! PyBaMM's electrode SOH and PyBOP's OCP balancing do. A rate-curve calibration that starts
//! from misplaced windows cannot fit: the OCV error is a floor no kinetic parameter removes.
//!
//! Over a discharge from 100 % to 0 % state of charge that passes Q_tot \[A h\] in all, the
//! depth of discharge at a point is d = Q/Q_tot and the stoichiometries move linearly between
//! their windows' ends,
//!
//! $$θ_n(d) = θ_n^{100} + (θ_n^{0} − θ_n^{100})\\,d, \qquad θ_p(d) = θ_p^{100} + (θ_p^{0} − θ_p^{100})\\,d,$$
//!
//! and the pseudo-OCV is V(d) = U_p(θ_p(d), T) − U_n(θ_n(d), T) \[V\] with the cell's own OCPs.
//! The four window ends (`theta100_n`, `theta0_n`, `theta100_p`, `theta0_p`, the cell
//! parameters of those names, dimensionless) are the unknowns, each logit-normal on (0, 1);
//! the fit is [`super::map::find_map`] on a [`super::Posterior`] with an inferred noise sd,
//! and the uncertainty its Laplace approximation N(ẑ, H⁻¹) — a joint distribution that is
//! written as a priors file (window ends with their correlations) for the rate calibration.

use super::CalibrateError;
use super::data::MeasuredCurve;
use super::map::{MapOptions, find_map};
use super::posterior::{CurveObservation, Likelihood, Noise, Posterior, SigmaPrior};
use crate::cell::{CellParams, Ocp};
use crate::dist::{JointDistribution, Parameter, Transform};
use crate::model::{Axis, InputSpec, Model, ModelError, OutputSpec, Scalar};
use nalgebra::{DMatrix, DVector};

/// The names of the four window ends, in the model's input order.
pub const WINDOW_PARAMETERS: [&str; 4] = ["theta100_n", "theta0_n", "theta100_p", "theta0_p"];

/// The pseudo-OCV of a cell as a function of its stoichiometry windows (module doc).
#[derive(Debug, Clone)]
pub struct ElectrodeBalance {
    ocp_n: Ocp<f64>,
    ocp_p: Ocp<f64>,
    temperature_k: f64,
    /// Depth of discharge d = Q/Q_tot of each point \[1\].
    depth: Vec<f64>,
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl ElectrodeBalance {
    /// The model for `cell`'s OCPs at `temperature_k` \[K\] on the discharged capacities
    /// `capacity_ah` \[A h\] (increasing from 0; the last is Q_tot). Errors say what is wrong.
    pub fn new(
        cell: &CellParams<f64>,
        temperature_k: f64,
        capacity_ah: &[f64],
    ) -> Result<Self, String> {
        let q_tot = *capacity_ah.last().ok_or("no data point")?;
        if !(q_tot > 0.0 && q_tot.is_finite()) || capacity_ah.windows(2).any(|w| w[1] < w[0]) {
            return Err(format!(
                "the discharged capacity must rise from 0 to a positive total (found a total of {q_tot} A h or a charge step): a balancing curve is one discharge"
            ));
        }
        if !(temperature_k > 0.0 && temperature_k.is_finite()) {
            return Err(format!("temperature {temperature_k} K: expected > 0"));
        }
        for (ocp, which) in [(&cell.neg.ocp, "negative"), (&cell.pos.ocp, "positive")] {
            if ocp.convert(f64::from).is_none() {
                return Err(format!(
                    "the {which} electrode's OCP is a closure, which balancing cannot evaluate"
                ));
            }
        }
        Ok(Self {
            ocp_n: cell.neg.ocp.clone(),
            ocp_p: cell.pos.ocp.clone(),
            temperature_k,
            depth: capacity_ah.iter().map(|q| q / q_tot).collect(),
            inputs: WINDOW_PARAMETERS
                .iter()
                .map(|n| InputSpec::new(n, "1"))
                .collect(),
            outputs: vec![OutputSpec::curve(
                "ocv",
                "V",
                Axis {
                    name: "Q".into(),
                    unit: "A h".into(),
                    values: capacity_ah.to_vec(),
                },
            )],
        })
    }
}

impl Model for ElectrodeBalance {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        if theta.len() != 4 {
            return Err(ModelError::WrongInputCount {
                expected: 4,
                found: theta.len(),
            });
        }
        let lift = |o: &Ocp<f64>| o.convert(D::from).expect("checked in new");
        let (un, up) = (lift(&self.ocp_n), lift(&self.ocp_p));
        let t = D::from(self.temperature_k);
        let (n100, n0, p100, p0) = (theta[0], theta[1], theta[2], theta[3]);
        let (mut hn, mut hp) = (usize::MAX, usize::MAX);
        for (v, &d) in out.iter_mut().zip(&self.depth) {
            let xn = n100 + (n0 - n100) * d;
            let xp = p100 + (p0 - p100) * d;
            for (x, name) in [
                (xn, "negative stoichiometry"),
                (xp, "positive stoichiometry"),
            ] {
                if !(x.re() > 0.0 && x.re() < 1.0) {
                    return Err(ModelError::out_of_range(name, x.re(), "inside (0, 1)"));
                }
            }
            *v = up.eval_hinted(xp, t, &mut hp) - un.eval_hinted(xn, t, &mut hn);
        }
        Ok(())
    }
}

/// Discharged capacity Q(t) = ∫₀ᵗ I dt' \[A h\] of a series (trapezoid), I discharge positive \[A\].
pub fn discharged_capacity_ah(time_s: &[f64], current_a: &[f64]) -> Vec<f64> {
    let mut q = vec![0.0; time_s.len()];
    for k in 1..time_s.len() {
        q[k] = q[k - 1]
            + 0.5 * (current_a[k] + current_a[k - 1]) * (time_s[k] - time_s[k - 1]) / 3600.0;
    }
    q
}

/// Default spread of the window priors in logit space: broad (a window end at 0.8 ranges over
/// 0.6 to 0.92 within one sd), so the pseudo-OCV decides.
pub const PRIOR_LOGIT_SD: f64 = 1.0;

/// The prior of the windows: each end logit-normal on (0, 1) with median the cell's own value
/// (the BPX file's) and logit sd `logit_sd`, independent.
pub fn window_prior(cell: &CellParams<f64>, logit_sd: f64) -> Result<JointDistribution, String> {
    let centre = [
        cell.neg.theta_soc100,
        cell.neg.theta_soc0,
        cell.pos.theta_soc100,
        cell.pos.theta_soc0,
    ];
    let t = Transform::Logit {
        lower: 0.0,
        upper: 1.0,
    };
    let params = WINDOW_PARAMETERS
        .iter()
        .map(|n| Parameter {
            name: n.to_string(),
            unit: "1".into(),
            transform: t,
            source: Some("the cell's own window (BPX), broad".into()),
        })
        .collect();
    let mean: Option<Vec<f64>> = centre.iter().map(|&x| t.to_unconstrained(x)).collect();
    let mean =
        mean.ok_or_else(|| format!("the cell's windows {centre:?} are not inside (0, 1)"))?;
    JointDistribution::new(
        "electrode windows: prior".into(),
        "bridgelaw balance".into(),
        params,
        DVector::from_vec(mean),
        DMatrix::from_diagonal_element(4, 4, logit_sd * logit_sd),
    )
    .map_err(|e| e.to_string())
}

/// One window end: the MAP and the Laplace summary \[1\], and the prior centre.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowEnd {
    /// Window end: `theta100_n`, `theta0_n`, `theta100_p` or `theta0_p`.
    pub name: String,
    /// The BPX file's value \[1\].
    pub prior_centre: f64,
    /// The MAP \[1\].
    pub map: f64,
    /// Laplace sd \[1\].
    pub sd: f64,
    /// Laplace 5 % quantile (from logit space) \[1\].
    pub q5: f64,
    /// Laplace 95 % quantile (from logit space) \[1\].
    pub q95: f64,
}

/// What [`balance`] found: `balance.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceResult {
    /// The pseudo-OCV curve file.
    pub data: String,
    /// Cell temperature the OCPs were evaluated at \[K\].
    pub temperature_k: f64,
    /// Data points fitted.
    pub points: usize,
    /// Capacity passed over the curve, Q_tot \[A h\].
    pub capacity_ah: f64,
    /// The four window ends.
    pub windows: Vec<WindowEnd>,
    /// Correlation of the window ends in the Laplace approximation (logit space), row-major.
    pub correlation: Vec<Vec<f64>>,
    /// Noise sd of the curve at the MAP \[V\].
    pub sigma_v: f64,
    /// RMS residual of the pseudo-OCV at the cell's own windows and at the MAP \[V\].
    pub rmse_prior_centre_v: f64,
    /// At the MAP \[V\].
    pub rmse_map_v: f64,
    /// The MAP search, in words.
    pub optimiser: String,
}

/// Fit the windows of `cell` to the pseudo-OCV `curve` (one discharge; its own current gives
/// Q) at `temperature_k`, with priors of logit sd `logit_sd`; returns the result and the
/// Laplace joint distribution of the four window ends, for a priors file
/// ([`crate::dist::file::to_toml`]) that a rate study names in its `priors` and binds
/// (`theta100_n = "prior"`, …) or whose medians it fixes.
pub fn balance(
    cell: &CellParams<f64>,
    curve: &MeasuredCurve,
    temperature_k: f64,
    logit_sd: f64,
) -> Result<(BalanceResult, JointDistribution), CalibrateError> {
    let q = discharged_capacity_ah(&curve.time_s, &curve.discharge_current());
    let model = ElectrodeBalance::new(cell, temperature_k, &q)
        .map_err(|m| CalibrateError::Input(format!("{}: {m}", curve.source)))?;
    let prior = window_prior(cell, logit_sd).map_err(CalibrateError::Input)?;
    let obs = CurveObservation {
        name: "ocv".into(),
        output: 0,
        values: curve.voltage_v.clone(),
        noise: Noise::Inferred {
            prior: SigmaPrior::HalfNormal { scale: 0.01 },
        },
    };
    let post = Posterior::new(&model, &prior, vec![obs], Likelihood::Gaussian)?;
    let map = find_map(&post, &MapOptions::default())?;
    let lap = map.laplace.as_ref().ok_or_else(|| {
        CalibrateError::Map(
            "the Hessian at the best windows is not positive definite: the curve does not pin \
             all four window ends (is it a full discharge?)"
                .into(),
        )
    })?;
    let windows_dist = lap
        .marginal(&WINDOW_PARAMETERS)
        .map_err(|e| CalibrateError::Setup(e.to_string()))?;
    let centre: Vec<f64> = prior.median_natural();
    let rmse = |theta: &[f64]| post.curve_rmse(theta).map(|r| r[0]).unwrap_or(f64::NAN);
    let corr = windows_dist.correlation();
    let result = BalanceResult {
        data: curve.source.clone(),
        temperature_k,
        points: q.len(),
        capacity_ah: *q.last().expect("checked non-empty"),
        windows: (0..4)
            .map(|k| WindowEnd {
                name: WINDOW_PARAMETERS[k].into(),
                prior_centre: centre[k],
                map: map.x[k],
                sd: map.summary[k].sd,
                q5: map.summary[k].q5,
                q95: map.summary[k].q95,
            })
            .collect(),
        correlation: (0..4)
            .map(|i| (0..4).map(|j| corr[(i, j)]).collect())
            .collect(),
        sigma_v: map.x[4],
        rmse_prior_centre_v: rmse(&centre),
        rmse_map_v: rmse(&map.x[..4]),
        optimiser: map.stop_sentence(),
    };
    let mut windows_dist = windows_dist;
    windows_dist.title =
        "electrode stoichiometry windows from a pseudo-OCV (bridgelaw balance)".into();
    windows_dist.source = format!(
        "Laplace approximation of the window ends fitted to {} at {temperature_k} K (logit space: \
         medians are the MAP, logit sds and correlations from the Hessian)",
        curve.source
    );
    Ok((result, windows_dist))
}
