//! From trajectories at one temperature to transport estimates (tracer D, collective D_σ,
//! conductivity, Haven ratio) with their checks; from several temperatures to the Arrhenius
//! (D0, E_a) joint distribution; and both as priors files.

use super::diffusion::{
    A2_PER_PS_IN_M2_PER_S, CovarianceModel, DiffusionError, DiffusivityEstimate, Displacement,
    Interval, Window, automatic_window, fit_diffusivity, haven_ratio, nernst_einstein_conductivity,
};
use super::{LagChoice, TrajectoryMsd};
use crate::constants::K_B_EV;
use crate::dist::estimate::{ArrheniusFit, arrhenius_fit};
use crate::dist::summary::sig4;
use crate::dist::transform::lognormal_from_mean_sd;
use crate::dist::{DistError, JointDistribution, Parameter, Transform};
use nalgebra::{DMatrix, DVector};
use std::fmt::Write as _;

/// Settings of a diffusion analysis.
#[derive(Debug, Clone)]
pub struct DiffusionSettings {
    /// Temperature in K.
    pub temperature_k: f64,
    /// The fitted window; `None`: automatic ([`automatic_window`] on the first run).
    pub window: Option<Window>,
    /// How the MSD covariance between lags is modelled.
    pub covariance: CovarianceModel,
    /// Charge number z of the mobile ion (Li⁺: 1).
    pub charge_number: f64,
    /// Hop length in Å for the jump count (a typical site-to-site distance).
    pub hop_length_a: f64,
    /// Which lags the MSD is computed at.
    pub lags: LagChoice,
}

/// Transport estimates at one temperature, from one or more independent runs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TransportEstimate {
    /// Temperature \[K\].
    pub temperature_k: f64,
    /// Mobile ions of the species.
    pub n_ions: usize,
    /// Independent runs (trajectories) pooled.
    pub runs: usize,
    /// Frames and duration (ps) summed over runs.
    pub frames: usize,
    /// Duration summed over runs \[ps\].
    pub duration_ps: f64,
    /// Mean box volume \[Å³\].
    pub mean_volume_a3: f64,
    /// Tracer diffusivity D* \[m²/s\].
    pub tracer: DiffusivityEstimate,
    /// Collective (charge) diffusivity; `None` when its fit failed.
    pub collective: Option<DiffusivityEstimate>,
    /// Nernst–Einstein conductivity in S/m.
    pub conductivity: Option<Interval>,
    /// Haven ratio H_R = D*/D_σ \[1\].
    pub haven_ratio: Option<Interval>,
    /// Estimated ion jumps over all runs, N·6·D*·T_run/a².
    pub jumps: f64,
    /// Log-log slope of the tracer MSD where the automatic window starts.
    pub window_slope: Option<f64>,
    /// What the user should know about the estimate: the diffusive window, the precision of D,
    /// the number of ion jumps, the collective fit.
    pub warnings: Vec<String>,
}

/// The tracer, collective, conductivity and Haven estimates from MSD curves of independent runs
/// at one temperature (all of the same system: the ion count and volume of the first are used).
pub fn transport_estimate(
    runs: &[TrajectoryMsd],
    s: &DiffusionSettings,
) -> Result<TransportEstimate, DiffusionError> {
    let first = runs.first().ok_or_else(|| DiffusionError::Invalid {
        what: "at least one trajectory".into(),
    })?;
    if s.temperature_k.is_nan() || s.temperature_k <= 0.0 {
        return Err(DiffusionError::Invalid {
            what: format!("a temperature > 0 K, found {}", s.temperature_k),
        });
    }
    let curves: Vec<_> = runs.iter().map(|r| &r.curve).collect();
    let mut warnings = Vec::new();
    let (window, window_slope) = match s.window {
        Some(w) => (w, None),
        None => {
            let (w, slope) = automatic_window(&first.curve);
            if slope.is_none() {
                warnings.push(format!(
                    "no lag where the MSD's log-log slope is 1 ± 0.15: the run may not reach the diffusive regime; window set to {}–{} ps (set --window)",
                    sig4(w.start_ps), sig4(w.end_ps)
                ));
            }
            (w, slope)
        }
    };
    let tracer = fit_diffusivity(&curves, Displacement::Tracer, window, s.covariance)?;
    let collective = fit_diffusivity(&curves, Displacement::Collective, window, s.covariance).ok();
    let duration_ps: f64 = curves.iter().map(|c| c.duration_ps()).sum();
    let n_ions = first.curve.n_ions;
    let volume = runs.iter().map(|r| r.mean_volume_a3).sum::<f64>() / runs.len() as f64;
    let d_a2ps = tracer.mean / A2_PER_PS_IN_M2_PER_S;
    let jumps =
        n_ions as f64 * 6.0 * d_a2ps.max(0.0) * duration_ps / (s.hop_length_a * s.hop_length_a);
    let conductivity = collective
        .as_ref()
        .map(|c| nernst_einstein_conductivity(c, n_ions, s.charge_number, volume, s.temperature_k));
    let haven = collective.as_ref().and_then(|c| haven_ratio(&tracer, c));
    if tracer.mean <= 0.0 || tracer.interval95[0] <= 0.0 {
        warnings.push("the tracer D's 95 % interval reaches zero: the ions barely move in this run; a longer trajectory is needed".into());
    } else if tracer.sd / tracer.mean > 0.2 {
        warnings.push(format!(
            "the tracer D has a relative sd of {:.0} %: too short for a stable estimate",
            100.0 * tracer.sd / tracer.mean
        ));
    }
    if jumps < 100.0 {
        warnings.push(format!(
            "about {jumps:.0} ion jumps of {} Å in all runs (N·6D·T/a²); fewer than 100 gives a fragile estimate: run longer",
            s.hop_length_a
        ));
    }
    let max_t = curves.iter().map(|c| c.duration_ps()).fold(0.0, f64::max);
    if window.end_ps > 0.5 * max_t * (1.0 + 1e-9) {
        warnings.push(format!(
            "the window ends at {} ps, past half the run ({} ps): few independent observations at the longest lags",
            sig4(window.end_ps),
            sig4(0.5 * max_t)
        ));
    }
    match &collective {
        None => warnings.push("no collective (charge) D: its fit failed in this window".into()),
        Some(c) if c.mean <= 0.0 => warnings.push(
            "the collective MSD has no positive slope in the window: no conductivity or Haven ratio".into(),
        ),
        Some(c) if c.sd / c.mean > 0.5 => warnings.push(format!(
            "the collective D has a relative sd of {:.0} % (one centre of mass per run): the conductivity and Haven ratio are rough; more or longer runs narrow them",
            100.0 * c.sd / c.mean
        )),
        _ => {}
    }
    Ok(TransportEstimate {
        temperature_k: s.temperature_k,
        n_ions,
        runs: runs.len(),
        frames: curves.iter().map(|c| c.n_frames).sum(),
        duration_ps,
        mean_volume_a3: volume,
        tracer,
        collective,
        conductivity,
        haven_ratio: haven,
        jumps,
        window_slope,
        warnings,
    })
}

impl TransportEstimate {
    /// The estimate as a priors file: the tracer diffusivity `name` (lognormal, m^2/s, with the
    /// posterior's mean and sd) and, when the collective fit is positive, the Nernst–Einstein
    /// conductivity `sigma` (lognormal, S/m). Their correlation is O(1/√N) and is left out.
    pub fn to_distribution(
        &self,
        name: &str,
        title: &str,
        source: &str,
    ) -> Result<JointDistribution, DistError> {
        if self.tracer.mean.is_nan() || self.tracer.mean <= 0.0 {
            return Err(DistError::invalid(
                name,
                "a positive tracer diffusivity for a lognormal prior",
                self.tracer.mean,
            ));
        }
        let w = self.tracer.window;
        let note = |what: &str| {
            format!(
                "{what}: GLS fit of MSD = 6Dt + c over {}-{} ps with the MSD covariance between lags (bridgelaw md diffusion), {} ions, {} run(s), {} ps, T = {} K",
                sig4(w.start_ps),
                sig4(w.end_ps),
                self.n_ions,
                self.runs,
                sig4(self.duration_ps),
                self.temperature_k
            )
        };
        let mut params = vec![Parameter {
            name: name.into(),
            unit: "m^2/s".into(),
            transform: Transform::Log,
            source: Some(note("tracer diffusivity")),
        }];
        let (mu, s) = lognormal_from_mean_sd(self.tracer.mean, self.tracer.sd);
        let mut mean = vec![mu];
        let mut var = vec![s * s];
        if let Some(c) = self.conductivity.filter(|c| c.mean > 0.0) {
            params.push(Parameter {
                name: "sigma".into(),
                unit: "S/m".into(),
                transform: Transform::Log,
                source: Some(note("Nernst-Einstein conductivity from the collective MSD")),
            });
            let (mu, s) = lognormal_from_mean_sd(c.mean, c.sd);
            mean.push(mu);
            var.push(s * s);
        }
        let n = mean.len();
        JointDistribution::new(
            title.into(),
            source.into(),
            params,
            DVector::from_vec(mean),
            DMatrix::from_fn(n, n, |i, j| if i == j { var[i] } else { 0.0 }),
        )
    }

    /// A plain-text summary with units (one line per quantity), then the warnings.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let w = self.tracer.window;
        let _ = writeln!(
            s,
            "T = {} K, {} mobile ions, {} run(s), {} frames, {} ps in all, mean volume {} Å^3",
            self.temperature_k,
            self.n_ions,
            self.runs,
            self.frames,
            sig4(self.duration_ps),
            sig4(self.mean_volume_a3)
        );
        let _ = writeln!(
            s,
            "diffusive window {} to {} ps ({} lags{})",
            sig4(w.start_ps),
            sig4(w.end_ps),
            self.tracer.lags_in_window,
            self.window_slope
                .map(|v| format!(", automatic: log-log slope {v:.2} at the start"))
                .unwrap_or_default()
        );
        let _ = writeln!(s, "| quantity | mean | sd | 95 % interval | unit |");
        let _ = writeln!(s, "|---|---|---|---|---|");
        let row = |s: &mut String, q: &str, i: Interval, unit: &str| {
            let _ = writeln!(
                s,
                "| {q} | {:.4e} | {:.3e} | [{:.4e}, {:.4e}] | {unit} |",
                i.mean, i.sd, i.interval95[0], i.interval95[1]
            );
        };
        let as_interval = |d: &DiffusivityEstimate| Interval {
            mean: d.mean,
            sd: d.sd,
            interval95: d.interval95,
        };
        row(&mut s, "D* tracer", as_interval(&self.tracer), "m^2/s");
        if let Some(c) = &self.collective {
            row(&mut s, "D_sigma collective", as_interval(c), "m^2/s");
        }
        if let Some(c) = self.conductivity {
            row(&mut s, "sigma Nernst-Einstein", c, "S/m");
        }
        if let Some(h) = self.haven_ratio {
            row(&mut s, "Haven ratio D*/D_sigma", h, "1");
        }
        let _ = writeln!(
            s,
            "independent observations N·T/t: {:.0} at the window start, {:.0} at its end; about {:.0} ion jumps; GLS chi2 = {:.1} on {} dof",
            self.tracer.independent_observations[0],
            self.tracer.independent_observations[1],
            self.jumps,
            self.tracer.chi2,
            self.tracer.dof
        );
        for w in &self.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        s
    }
}

/// The Arrhenius fit ln D = ln D0 − E_a/(k_B T) of tracer diffusivities at several temperatures
/// (each estimate independent, its sd from its own posterior), by the one weighted fit of
/// [`crate::dist::estimate::arrhenius_fit`]; D0 in m^2/s, E_a in eV.
pub fn arrhenius_from_estimates(estimates: &[TransportEstimate]) -> Result<ArrheniusFit, String> {
    let t: Vec<f64> = estimates.iter().map(|e| e.temperature_k).collect();
    let d: Vec<f64> = estimates.iter().map(|e| e.tracer.mean).collect();
    let sd: Vec<f64> = estimates.iter().map(|e| e.tracer.sd).collect();
    arrhenius_fit(&t, &d, &sd)
}

/// D(T) from an Arrhenius fit with its 95 % band: ln D(T) = ln D0 − E_a·x, x = 1/(k_B T),
/// Var(ln D) = Var(ln D0) + x²·Var(E_a) − 2x·Cov(ln D0, E_a); D in the fit's unit.
pub fn arrhenius_extrapolation(fit: &ArrheniusFit, temperature_k: f64) -> Interval {
    let x = 1.0 / (K_B_EV * temperature_k);
    let y = fit.ln_d0 - fit.e_a * x;
    let var = fit.cov[0][0] + x * x * fit.cov[1][1] - 2.0 * x * fit.cov[0][1];
    let s = var.max(0.0).sqrt();
    let median = y.exp();
    Interval {
        mean: median * (0.5 * var).exp(),
        sd: median * ((var.exp() - 1.0) * var.exp()).sqrt(),
        interval95: [(y - 1.96 * s).exp(), (y + 1.96 * s).exp()],
    }
}
