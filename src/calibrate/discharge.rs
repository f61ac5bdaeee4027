//! Constant-current discharge curves bound to the cell model: one experiment of a
//! [`ChainModel`] (no links, the free cell parameters as inputs) per measured curve (its
//! current, its duration, its thinned time grid), plus the matching [`CurveObservation`]s. What
//! a rate-test calibration (e.g. C/2, 1C, 2C together) needs in one call.
//!
//! Per curve: the applied current I \[A\] (discharge positive) is the mean of the rows whose
//! |I| exceeds half the largest |I| (the CC phase); its relative spread must stay below
//! [`MAX_CURRENT_SPREAD`]. The model discharges at I from t = 0 for the measured duration; its
//! output grid is `points` times spread evenly from the first CC row to the last measured row
//! (s); after the model's cut-off the voltage holds at the cut-off value.

use super::CalibrateError;
use super::data::MeasuredCurve;
use super::posterior::{CurveObservation, Noise};
use crate::cell::{CellParams, Protocol, SolverOptions};
use crate::chain::{ChainModel, Drive, Experiment};

/// Largest relative sd of the current over the CC rows accepted as "constant current" \[1\].
pub const MAX_CURRENT_SPREAD: f64 = 0.02;

/// One bound discharge curve: what was read off the data.
#[derive(Debug, Clone, PartialEq)]
pub struct DischargeCurveInfo {
    /// Curve name (from its file).
    pub name: String,
    /// Applied current \[A\], discharge positive.
    pub current_a: f64,
    /// Output grid \[s\].
    pub times: Vec<f64>,
}

/// The cell model (experiment `k` for curve `k`), the observations (curve `k` bound to
/// experiment `k`'s voltage) and what was read off each curve.
pub struct DischargeProblem {
    /// The cell model, one experiment per curve.
    pub model: ChainModel,
    /// Curve k bound to experiment k's voltage output.
    pub observations: Vec<CurveObservation>,
    /// What was read off each curve.
    pub curves: Vec<DischargeCurveInfo>,
}

/// Bind constant-current discharge `curves` to cell models built from `base` with free
/// parameters `free` (names from [`crate::cell::model::FREE_PARAMETERS`]), `points` output
/// times per curve (≥ 2), solver settings `solver` (its output times are replaced) and noise
/// model `noise` for every curve. `steps`: when `Some(n)`, each curve's largest time step is
/// its duration/n \[s\] (a fixed cost per curve whatever its C-rate); when `None`, `solver.dt_max`.
/// See the module doc.
pub fn bind_discharge_curves(
    base: &CellParams<f64>,
    free: &[&str],
    curves: &[MeasuredCurve],
    points: usize,
    solver: &SolverOptions,
    steps: Option<usize>,
    noise: Noise,
) -> Result<DischargeProblem, CalibrateError> {
    if steps == Some(0) {
        return Err(CalibrateError::Setup(
            "time steps per curve: expected at least 1, found 0".into(),
        ));
    }
    if points < 2 {
        return Err(CalibrateError::Setup(format!(
            "points per curve: expected at least 2, found {points}"
        )));
    }
    let mut experiments = Vec::with_capacity(curves.len());
    let mut infos = Vec::with_capacity(curves.len());
    for c in curves {
        let i = c.discharge_current();
        let imax = i.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let on: Vec<usize> = (0..i.len()).filter(|&k| i[k].abs() > 0.5 * imax).collect();
        let (Some(&first), true) = (on.first(), imax > 0.0) else {
            return Err(CalibrateError::Setup(format!(
                "curve '{}': no current flows",
                c.name
            )));
        };
        let n = on.len() as f64;
        let mean = on.iter().map(|&k| i[k]).sum::<f64>() / n;
        let sd = (on.iter().map(|&k| (i[k] - mean).powi(2)).sum::<f64>() / n).sqrt();
        if !mean.is_finite() || mean <= 0.0 || sd > MAX_CURRENT_SPREAD * mean {
            return Err(CalibrateError::Setup(format!(
                "curve '{}': expected a constant-current discharge (current > 0 in the \
                 discharge-positive convention, relative sd ≤ {MAX_CURRENT_SPREAD}), found mean \
                 {mean:.4} A with sd {sd:.4} A",
                c.name
            )));
        }
        let t0 = c.time_s[first];
        let t1 = *c.time_s.last().unwrap_or(&t0);
        if t1 <= t0 {
            return Err(CalibrateError::Setup(format!(
                "curve '{}': the constant-current phase has no duration",
                c.name
            )));
        }
        // Evenly spread, the last exactly t1 (no rounding past the measured range).
        let times: Vec<f64> = (0..points)
            .map(|k| {
                if k + 1 == points {
                    t1
                } else {
                    t0 + (t1 - t0) * k as f64 / (points - 1) as f64
                }
            })
            .collect();
        let protocol = Protocol::constant_current(mean, t1 + 1.0);
        let mut e = Experiment::new(
            &c.name,
            base.temperature,
            Drive::Protocol(protocol),
            times.clone(),
        );
        e.dt_max = steps.map(|n| t1 / n as f64);
        experiments.push(e);
        infos.push(DischargeCurveInfo {
            name: c.name.clone(),
            current_a: mean,
            times,
        });
    }
    let free: Vec<String> = free.iter().map(|f| f.to_string()).collect();
    let model = ChainModel::new(base.clone(), solver.clone(), &[], &free, experiments)
        .map_err(|e| CalibrateError::Setup(format!("cell model: {e}")))?;
    let observations = curves
        .iter()
        .enumerate()
        .map(|(k, c)| CurveObservation::from_measured(c, &model, model.voltage_output(k), noise))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DischargeProblem {
        model,
        observations,
        curves: infos,
    })
}
