//! Figures of the MD front end: the MSD with its fitted line and 95 % band (`md diffusion
//! --results DIR` writes [`MD_DIFFUSION_JSON`](crate::report::md_report::MD_DIFFUSION_JSON)) and the Arrhenius D(T) with its band (`md
//! arrhenius --results DIR` writes [`MD_ARRHENIUS_JSON`](crate::report::md_report::MD_ARRHENIUS_JSON)) and the coarse-grained density profile
//! with its standard-error band and the scale-separation table (`md density --out DIR` writes
//! [`MD_DENSITY_JSON`](crate::report::md_report::MD_DENSITY_JSON)); `bridgelaw report DIR` renders them.

use super::html::{Block, ReportFigure, Section, Table};
use super::plots::{Band, Line, Points, XRegion, XyPlot, xy_figure};
use crate::constants::K_B_EV;
use crate::dist::estimate::ArrheniusFit;
use crate::md::TrajectoryMsd;
use crate::md::analysis::{TransportEstimate, arrhenius_extrapolation};
use crate::md::coarse::{DensityResult, PER_A3_IN_MOL_PER_M3, ScaleCheck};
use crate::md::diffusion::A2_PER_PS_IN_M2_PER_S;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// File `md diffusion --results` writes.
pub const MD_DIFFUSION_JSON: &str = "md_diffusion.json";
/// File `md arrhenius --results` writes.
pub const MD_ARRHENIUS_JSON: &str = "md_arrhenius.json";
/// File `md density --out` writes.
pub const MD_DENSITY_JSON: &str = "md_density.json";

/// One run's MSD curves, lags in ps and MSDs in Å².
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MsdRun {
    /// Trajectory file the MSD comes from.
    pub file: String,
    /// Lag times (ps).
    pub time_ps: Vec<f64>,
    /// Tracer mean squared displacement (Å²).
    pub tracer_msd_a2: Vec<f64>,
    /// Collective (centre-of-mass) mean squared displacement (Å²).
    pub collective_msd_a2: Vec<f64>,
}

/// What the MSD figure needs: the curves and the tracer fit MSD = 6Dt + c.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdDiffusionView {
    /// Temperature of the runs (K).
    pub temperature_k: f64,
    /// The runs' MSD curves.
    pub runs: Vec<MsdRun>,
    /// Fit window [start, end] of lag times (ps).
    pub window_ps: [f64; 2],
    /// Tracer D posterior mean and sd in m²/s; intercept c and its sd in Å²; corr(D, c).
    pub d_m2_s: f64,
    /// Its posterior sd (m²/s).
    pub d_sd_m2_s: f64,
    /// Intercept c of the fit (Å²).
    pub intercept_a2: f64,
    /// Its sd (Å²).
    pub intercept_sd_a2: f64,
    /// Correlation of D and c (dimensionless).
    pub correlation_d_intercept: f64,
    /// The command's printed summary (table with units, warnings).
    pub summary: String,
}

impl MdDiffusionView {
    /// The view of a transport estimate and the runs' MSD curves (file name, MSD).
    pub fn new(e: &TransportEstimate, runs: &[(String, &TrajectoryMsd)]) -> Self {
        MdDiffusionView {
            temperature_k: e.temperature_k,
            runs: runs
                .iter()
                .map(|(f, r)| MsdRun {
                    file: f.clone(),
                    time_ps: r.curve.time_ps.clone(),
                    tracer_msd_a2: r.curve.tracer_msd.clone(),
                    collective_msd_a2: r.curve.collective_msd.clone(),
                })
                .collect(),
            window_ps: [e.tracer.window.start_ps, e.tracer.window.end_ps],
            d_m2_s: e.tracer.mean,
            d_sd_m2_s: e.tracer.sd,
            intercept_a2: e.tracer.intercept_a2,
            intercept_sd_a2: e.tracer.intercept_sd_a2,
            correlation_d_intercept: e.tracer.correlation_d_intercept,
            summary: e.summary(),
        }
    }

    /// The fitted line 6Dt + c (Å²) and its 95 % band at `t` (ps):
    /// Var = (6t)²·Var D + Var c + 2·6t·ρ·sd_D·sd_c, D in Å²/ps.
    pub fn fit_band(&self, t: f64) -> (f64, f64, f64) {
        let (d, sd) = (
            self.d_m2_s / A2_PER_PS_IN_M2_PER_S,
            self.d_sd_m2_s / A2_PER_PS_IN_M2_PER_S,
        );
        let y = 6.0 * d * t + self.intercept_a2;
        let var = (6.0 * t * sd).powi(2)
            + self.intercept_sd_a2.powi(2)
            + 2.0 * 6.0 * t * self.correlation_d_intercept * sd * self.intercept_sd_a2;
        let h = 1.96 * var.max(0.0).sqrt();
        (y, y - h, y + h)
    }
}

/// One temperature of the Arrhenius figure, D in m²/s.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrheniusPoint {
    /// Temperature (K).
    pub temperature_k: f64,
    /// Tracer diffusivity D (m²/s).
    pub d_m2_s: f64,
    /// Its sd (m²/s).
    pub sd_m2_s: f64,
}

/// What the Arrhenius figure needs: the D(T) estimates and the fit ln D = ln D0 − E_a/(k_B T).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdArrheniusView {
    /// D at each temperature.
    pub points: Vec<ArrheniusPoint>,
    /// ln D0 (D0 in m²/s), E_a in eV, their covariance, χ² and its degrees of freedom.
    pub ln_d0: f64,
    /// Activation energy E_a (eV).
    pub e_a_ev: f64,
    /// Covariance of (ln D0, E_a) (units of ln D0 and eV).
    pub cov: [[f64; 2]; 2],
    /// χ² of the weighted fit (dimensionless).
    pub chi2: f64,
    /// Degrees of freedom of χ².
    pub dof: usize,
    /// The temperature D was extrapolated to (K).
    pub at_k: f64,
    /// The command's printed summary (table with units, warnings).
    pub summary: String,
}

impl MdArrheniusView {
    /// The fit as an [`ArrheniusFit`] (ln D0 with D0 in m²/s, E_a in eV).
    pub fn fit(&self) -> ArrheniusFit {
        ArrheniusFit {
            ln_d0: self.ln_d0,
            e_a: self.e_a_ev,
            cov: self.cov,
            chi2: self.chi2,
            dof: self.dof,
        }
    }
}

fn g(v: f64) -> String {
    format!("{v:.6e}")
}

/// The MSD section: tracer and collective MSD of each run, the fitted line with its 95 % band,
/// the window shaded.
pub fn diffusion_sections(v: &MdDiffusionView) -> Vec<Section> {
    let mut blocks = vec![Block::Pre(v.summary.clone())];
    let t_max = v
        .runs
        .iter()
        .flat_map(|r| r.time_ps.iter().copied())
        .fold(0.0, f64::max);
    let n = 100;
    let tx: Vec<f64> = (0..=n).map(|k| t_max * k as f64 / n as f64).collect();
    let fit: Vec<(f64, f64, f64)> = tx.iter().map(|&t| v.fit_band(t)).collect();
    let mut plot = XyPlot {
        title: format!("MSD at {} K with the GLS fit 6Dt + c", v.temperature_k),
        x_label: "lag t (ps)".into(),
        y_label: "MSD (Å^2)".into(),
        bands: vec![Band {
            label: "fit, 95 % band".into(),
            x: tx.clone(),
            lo: fit.iter().map(|f| f.1).collect(),
            hi: fit.iter().map(|f| f.2).collect(),
            color: 1,
            opacity: 0.25,
        }],
        lines: vec![Line {
            label: format!(
                "6Dt + c, D = {}",
                super::format::value_sd(v.d_m2_s, v.d_sd_m2_s, "m^2/s")
            ),
            x: tx.clone(),
            y: fit.iter().map(|f| f.0).collect(),
            color: 1,
            dashed: false,
        }],
        regions: vec![XRegion {
            label: "fitted window".into(),
            x0: v.window_ps[0],
            x1: v.window_ps[1],
        }],
        ..Default::default()
    };
    let mut csv =
        String::from("file,t_ps,tracer_msd_A2,collective_msd_A2,fit_A2,fit_lo95_A2,fit_hi95_A2\n");
    for (i, r) in v.runs.iter().enumerate() {
        plot.points.push(Points {
            label: if v.runs.len() == 1 {
                "tracer MSD".into()
            } else {
                format!("tracer MSD, run {}", i + 1)
            },
            x: r.time_ps.clone(),
            y: r.tracer_msd_a2.clone(),
            y_err: None,
            color: 0,
            size: 2,
        });
        plot.points.push(Points {
            label: if i == 0 {
                "collective MSD / N".into()
            } else {
                String::new()
            },
            x: r.time_ps.clone(),
            y: r.collective_msd_a2.clone(),
            y_err: None,
            color: 2,
            size: 1,
        });
        for (k, &t) in r.time_ps.iter().enumerate() {
            let (y, lo, hi) = v.fit_band(t);
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{}",
                crate::output::csv_field(&r.file),
                g(t),
                g(r.tracer_msd_a2[k]),
                g(r.collective_msd_a2[k]),
                g(y),
                g(lo),
                g(hi)
            );
        }
    }
    match xy_figure(&plot) {
        Ok(figure) => blocks.push(Block::Figure(ReportFigure {
            name: "md_msd".into(),
            caption: "Tracer MSD over all time origins (points), the collective (centre-of-mass) MSD divided by N, and the generalised least-squares fit MSD = 6Dt + c over the shaded window with its 95 % band from the posterior of (D, c).".into(),
            figure,
            csv,
        })),
        Err(e) => blocks.push(Block::Warning(format!("MSD figure not drawn: {e}"))),
    }
    vec![Section {
        heading: format!("Diffusion at {} K", v.temperature_k),
        blocks,
        ..Default::default()
    }]
}

/// The Arrhenius section: D(T) with 95 % error bars against 1000/T, the fit with its 95 % band
/// (extended to the extrapolation temperature), and a table.
pub fn arrhenius_sections(v: &MdArrheniusView) -> Vec<Section> {
    let mut blocks = vec![Block::Pre(v.summary.clone())];
    let fit = v.fit();
    let ts: Vec<f64> = v
        .points
        .iter()
        .map(|p| p.temperature_k)
        .chain([v.at_k])
        .collect();
    let (t_lo, t_hi) = (
        ts.iter().copied().fold(f64::INFINITY, f64::min),
        ts.iter().copied().fold(0.0, f64::max),
    );
    let n = 80;
    let inv: Vec<f64> = (0..=n)
        .map(|k| 1000.0 / t_hi + (1000.0 / t_lo - 1000.0 / t_hi) * k as f64 / n as f64)
        .collect();
    let band: Vec<_> = inv
        .iter()
        .map(|x| arrhenius_extrapolation(&fit, 1000.0 / x))
        .collect();
    let median: Vec<f64> = inv
        .iter()
        .map(|x| (fit.ln_d0 - fit.e_a * x / (1000.0 * K_B_EV)).exp())
        .collect();
    let plot = XyPlot {
        title: format!(
            "Arrhenius: E_a = {}, D0 = {}",
            super::format::value_sd(fit.e_a, fit.sd_e_a(), "eV"),
            super::format::num_unit(fit.ln_d0.exp(), "m^2/s")
        ),
        x_label: "1000/T (K⁻¹)".into(),
        y_label: "D (m^2/s)".into(),
        log_y: true,
        bands: vec![Band {
            label: "fit, 95 % band".into(),
            x: inv.clone(),
            lo: band.iter().map(|b| b.interval95[0]).collect(),
            hi: band.iter().map(|b| b.interval95[1]).collect(),
            color: 1,
            opacity: 0.25,
        }],
        lines: vec![Line {
            label: "ln D = ln D0 - E_a/(k_B T)".into(),
            x: inv.clone(),
            y: median,
            color: 1,
            dashed: false,
        }],
        points: vec![Points {
            label: "D(T) from the MSD, 95 % interval".into(),
            x: v.points.iter().map(|p| 1000.0 / p.temperature_k).collect(),
            y: v.points.iter().map(|p| p.d_m2_s).collect(),
            y_err: Some(v.points.iter().map(|p| 1.96 * p.sd_m2_s).collect()),
            color: 0,
            size: 4,
        }],
        ..Default::default()
    };
    let mut csv =
        String::from("T_K,inv_T_1000_per_K,D_m2_s,D_sd_m2_s,fit_lo95_m2_s,fit_hi95_m2_s\n");
    for p in &v.points {
        let b = arrhenius_extrapolation(&fit, p.temperature_k);
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{}",
            p.temperature_k,
            g(1000.0 / p.temperature_k),
            g(p.d_m2_s),
            g(p.sd_m2_s),
            g(b.interval95[0]),
            g(b.interval95[1])
        );
    }
    match xy_figure(&plot) {
        Ok(figure) => blocks.push(Block::Figure(ReportFigure {
            name: "md_arrhenius".into(),
            caption: format!(
                "Tracer D at each temperature with its 95 % interval, and the weighted Arrhenius fit with its 95 % band from the covariance of (ln D0, E_a), extended to {} K.",
                v.at_k
            ),
            figure,
            csv,
        })),
        Err(e) => blocks.push(Block::Warning(format!("Arrhenius figure not drawn: {e}"))),
    }
    blocks.push(Block::Table(Table {
        caption: "D(T) estimates".into(),
        header: vec!["T (K)".into(), "D ± sd".into()],
        rows: v
            .points
            .iter()
            .map(|p| {
                vec![
                    p.temperature_k.to_string(),
                    super::format::value_sd(p.d_m2_s, p.sd_m2_s, "m^2/s"),
                ]
            })
            .collect(),
        warn_rows: vec![],
    }));
    vec![Section {
        heading: "Arrhenius D(T)".into(),
        blocks,
        ..Default::default()
    }]
}

/// The planar-average density profile at one kernel width, ions/Å³, with its standard error.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DensityProfileView {
    /// Kernel width (Å).
    pub width_a: f64,
    /// Density on the grid (ions/Å³).
    pub density_per_a3: Vec<f64>,
    /// Its standard error (ions/Å³).
    pub std_error_per_a3: Vec<f64>,
}

/// One time window's profile at the reported width, ions/Å³.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DensityWindowView {
    /// Run index (0-based).
    pub run: usize,
    /// Window index within the run (0-based).
    pub window: usize,
    /// Window start (ps).
    pub t_start_ps: f64,
    /// Window end (ps).
    pub t_end_ps: f64,
    /// Density on the grid (ions/Å³).
    pub density_per_a3: Vec<f64>,
}

/// What the density figure and the scale-separation table need.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdDensityView {
    /// The species profiled (element symbol).
    pub species: String,
    /// Profile axis ("x", "y" or "z") and its grid coordinates in Å.
    pub axis: String,
    /// Grid coordinates along `axis` (Å).
    pub coordinate_a: Vec<f64>,
    /// N/V averaged over frames, ions/Å³.
    pub mean_density_per_a3: f64,
    /// Profiles at each kernel width, the reported one first.
    pub profiles: Vec<DensityProfileView>,
    /// Profiles of the time windows.
    pub windows: Vec<DensityWindowView>,
    /// Tolerance of the scale-separation check (fraction of the mean density) and its checks.
    pub tolerance_relative: f64,
    /// The scale-separation checks, one per kernel width.
    pub scale_checks: Vec<ScaleCheck>,
    /// The command's printed summary (units, warnings).
    pub summary: String,
}

impl MdDensityView {
    /// The view of a density result for `species`.
    pub fn new(r: &DensityResult, species: &str) -> Self {
        MdDensityView {
            species: species.into(),
            axis: r.axis_name().into(),
            coordinate_a: r.profile_coordinates_a(),
            mean_density_per_a3: r.mean_density_per_a3,
            profiles: r
                .fields
                .iter()
                .map(|f| DensityProfileView {
                    width_a: f.width_a,
                    density_per_a3: f.profile.clone(),
                    std_error_per_a3: f.profile_std_error.clone(),
                })
                .collect(),
            windows: r
                .windows
                .iter()
                .map(|w| DensityWindowView {
                    run: w.run,
                    window: w.window,
                    t_start_ps: w.t_start_ps,
                    t_end_ps: w.t_end_ps,
                    density_per_a3: w.profile.clone(),
                })
                .collect(),
            tolerance_relative: r.tolerance,
            scale_checks: r.scale.clone(),
            summary: r.text(),
        }
    }
}

/// The density section: the planar-average profile at the reported width with its 95 % band
/// (± 1.96 standard errors from block averaging), the other widths and the time windows as
/// lines, and the scale-separation table (change of the field between widths against its noise).
pub fn density_sections(v: &MdDensityView) -> Vec<Section> {
    let mut blocks = vec![Block::Pre(v.summary.clone())];
    let x = &v.coordinate_a;
    let mut plot = XyPlot {
        title: format!(
            "{} density along {}, averaged over the run",
            v.species, v.axis
        ),
        x_label: format!("{} (Å)", v.axis),
        y_label: "density (ions/Å^3)".into(),
        h_lines: vec![(v.mean_density_per_a3, "N/V".into())],
        ..Default::default()
    };
    let mut csv = format!("{}_A", v.axis);
    for p in &v.profiles {
        let _ = write!(
            csv,
            ",density_w{w}A_per_A3,density_se_w{w}A_per_A3",
            w = p.width_a
        );
    }
    csv.push_str(",concentration_mol_per_m3\n");
    if let Some(p) = v.profiles.first() {
        plot.bands.push(Band {
            label: "95 % band (block-averaged standard error)".into(),
            x: x.clone(),
            lo: p
                .density_per_a3
                .iter()
                .zip(&p.std_error_per_a3)
                .map(|(m, s)| m - 1.96 * s)
                .collect(),
            hi: p
                .density_per_a3
                .iter()
                .zip(&p.std_error_per_a3)
                .map(|(m, s)| m + 1.96 * s)
                .collect(),
            color: 0,
            opacity: 0.25,
        });
    }
    // Time windows first, so the run-mean profiles are drawn over them.
    for (k, w) in v.windows.iter().enumerate() {
        plot.lines.push(Line {
            label: if k == 0 {
                "time windows".into()
            } else {
                String::new()
            },
            x: x.clone(),
            y: w.density_per_a3.clone(),
            color: 1,
            dashed: true,
        });
    }
    for (k, p) in v.profiles.iter().enumerate() {
        plot.lines.push(Line {
            label: format!(
                "kernel width {} Å{}",
                p.width_a,
                if k == 0 { " (reported)" } else { "" }
            ),
            x: x.clone(),
            y: p.density_per_a3.clone(),
            color: if k == 0 { 0 } else { k + 1 },
            dashed: k > 0,
        });
    }
    for (j, xj) in x.iter().enumerate() {
        csv.push_str(&g(*xj));
        for p in &v.profiles {
            let _ = write!(
                csv,
                ",{},{}",
                g(p.density_per_a3[j]),
                g(p.std_error_per_a3[j])
            );
        }
        let first = v.profiles.first().map_or(f64::NAN, |p| p.density_per_a3[j]);
        let _ = writeln!(csv, ",{}", g(first * PER_A3_IN_MOL_PER_M3));
    }
    match xy_figure(&plot) {
        Ok(figure) => blocks.push(Block::Figure(ReportFigure {
            name: "md_density".into(),
            caption: format!(
                "Planar average along {} of the coarse-grained density (periodic Gaussian kernel) over the whole run at the reported kernel width with its 95 % band from block-averaged standard errors; dashed: the other kernel widths and the time-window averages; the horizontal line is N/V.",
                v.axis
            ),
            figure,
            csv,
        })),
        Err(e) => blocks.push(Block::Warning(format!("density figure not drawn: {e}"))),
    }
    let pct = |f: f64| format!("{:.2}", 100.0 * f);
    blocks.push(Block::Table(Table {
        caption: format!(
            "Scale separation: change of the run-mean field from the reported width ({} Å), rms over the grid, against its sampling noise; independent of the width when the change beyond the noise is at most {} % of the mean density",
            v.profiles.first().map_or(f64::NAN, |p| p.width_a),
            pct(v.tolerance_relative)
        ),
        header: vec![
            "kernel width (Å)".into(),
            "rms change (% of mean)".into(),
            "noise (% of mean)".into(),
            "beyond noise (% of mean)".into(),
            "independent of width".into(),
        ],
        rows: v
            .scale_checks
            .iter()
            .map(|c| {
                vec![
                    c.width_a.to_string(),
                    pct(c.rms_change_relative),
                    pct(c.noise_relative),
                    pct(c.systematic_relative),
                    if c.independent { "yes" } else { "no" }.into(),
                ]
            })
            .collect(),
        warn_rows: v
            .scale_checks
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.independent)
            .map(|(i, _)| i)
            .collect(),
    }));
    vec![Section {
        heading: format!("Coarse-grained {} density", v.species),
        blocks,
        ..Default::default()
    }]
}
