//! The calibration report, built from plain data ([`CalibrationView`](crate::report::calibrate_report::CalibrationView)) that the calibrate CLI
//! fills from its results: posterior marginals with the atomistic prior density overlaid, a pair
//! (corner) plot, trace plots per chain, the posterior-predictive band over the measured data
//! with a residual panel, and the diagnostics table with warnings highlighted.

use super::format::{self as fmt, Scale};
use super::html::{Block, Report, ReportFigure, Section, Table};
use super::plots::{
    Band, Line, Points, XyPlot, kde, pair_figure, trace_figure, xy_figure, xy_stack,
    xy_with_residuals,
};
use super::propagate_report::stem;
use super::provenance::Provenance;
use crate::calibrate::diagnostics::quantile_sorted;
use crate::dist::Transform;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// File name of a serialised [`CalibrationView`] that `bridgelaw report` picks up.
pub const CALIBRATION_VIEW_JSON: &str = "calibration_view.json";

/// The atomistic prior of one parameter: z ~ N(mean_z, sd_z²), x = T(z).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorView {
    /// The transform x = T(z) from the normal space to natural units.
    pub transform: Transform,
    /// Mean μ of z (in the transformed space: ln of the unit for a log transform).
    pub mean_z: f64,
    /// Standard deviation σ of z (transformed space; > 0).
    pub sd_z: f64,
}

impl PriorView {
    /// Prior density of the natural value, p(x) = φ((z − μ)/σ)/(σ·|dx/dz|) at z = T⁻¹(x)
    /// \[1/unit of x\]; 0 outside the transform's domain.
    pub fn density(&self, x: f64) -> f64 {
        let Some(z) = self.transform.to_unconstrained(x) else {
            return 0.0;
        };
        let u = (z - self.mean_z) / self.sd_z;
        let phi = (-0.5 * u * u).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let j = self.transform.dx_dz(z).abs();
        if j > 0.0 && self.sd_z > 0.0 {
            phi / (self.sd_z * j)
        } else {
            0.0
        }
    }
}

/// One calibrated parameter: posterior draws per chain (natural units, after warm-up) and its
/// atomistic prior.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamView {
    /// Parameter name as in the study.
    pub name: String,
    /// Unit of the draws (SI or the study's stated unit).
    pub unit: String,
    /// Posterior draws after warm-up, one list per chain, in `unit`.
    pub draws_per_chain: Vec<Vec<f64>>,
    /// The atomistic prior, if the parameter has one (noise sds do not).
    pub prior: Option<PriorView>,
}

/// One row of the diagnostics table. A diagnostic that is undefined (too few draws) is NaN,
/// which JSON writes as `null` and which reads back as NaN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticsRow {
    /// Parameter name.
    pub name: String,
    #[serde(deserialize_with = "nan_if_null")]
    /// Rank-normalised split R̂ (dimensionless; ≤ 1.01 is good).
    pub rhat: f64,
    #[serde(deserialize_with = "nan_if_null")]
    /// Bulk effective sample size (draws).
    pub ess_bulk: f64,
    #[serde(deserialize_with = "nan_if_null")]
    /// Tail effective sample size (draws).
    pub ess_tail: f64,
    #[serde(deserialize_with = "nan_if_null")]
    /// Monte Carlo standard error of the posterior mean, in the parameter's unit.
    pub mcse_mean: f64,
}

/// JSON has no NaN (serde_json writes `null`): read `null` back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl DiagnosticsRow {
    /// Vehtari et al. (2021) thresholds: R̂ > 1.01 or an ESS below 400 is a warning.
    pub fn is_warning(&self) -> bool {
        let ok = self.rhat <= 1.01 && self.ess_bulk >= 400.0 && self.ess_tail >= 400.0;
        !ok
    }
}

/// A measured curve with the posterior-predictive band over it (same abscissa `t`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurveView {
    /// Curve name (the experiment).
    pub name: String,
    /// Abscissa label with unit, e.g. "t (s)".
    pub x_label: String,
    /// Ordinate label with unit, e.g. "V (V)".
    pub y_label: String,
    /// Abscissa values, in the unit of `x_label` (time in s for a discharge).
    pub t: Vec<f64>,
    /// Measured values, in the unit of `y_label` (V for a voltage).
    pub measured: Vec<f64>,
    /// Median of the posterior prediction, unit of `y_label`.
    pub pred_median: Vec<f64>,
    /// 5–95 % of the model prediction over the posterior (parameter uncertainty alone).
    pub param_lo90: Vec<f64>,
    /// Upper end (95 % quantile) of the parameter-uncertainty band, unit of `y_label`.
    pub param_hi90: Vec<f64>,
    /// 5–95 % of a new measurement (prediction plus noise).
    pub pred_lo90: Vec<f64>,
    /// Upper end (95 % quantile) of the predictive band, unit of `y_label`.
    pub pred_hi90: Vec<f64>,
}

/// How the posterior shown was obtained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationMethod {
    /// NUTS draws, one list per chain.
    #[default]
    Nuts,
    /// Independent draws from the Laplace approximation N(ẑ, H⁻¹) at the MAP (`calibrate
    /// --map`): no chains, so no trace plots or convergence diagnostics.
    Laplace,
}

/// Everything the calibration report shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CalibrationView {
    /// Title of the calibration (the study's).
    pub title: String,
    /// NUTS or MAP + Laplace (files written before this field read as NUTS).
    #[serde(default)]
    pub method: CalibrationMethod,
    /// The calibrated parameters.
    pub params: Vec<ParamView>,
    /// Convergence diagnostics, one row per parameter (empty for Laplace draws).
    pub diagnostics: Vec<DiagnosticsRow>,
    /// Sampler-level facts (name, value): chains, draws, divergences, E-BFMI, …
    pub sampler: Vec<(String, String)>,
    /// Plain-language warnings (divergences, low E-BFMI, R̂, …), shown highlighted.
    pub warnings: Vec<String>,
    /// The measured curves with their predictive bands.
    pub curves: Vec<CurveView>,
}

fn all_draws(p: &ParamView) -> Vec<f64> {
    p.draws_per_chain
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect()
}

fn label(p: &ParamView) -> String {
    fmt::axis_label(&fmt::name(&p.name), &p.unit)
}

/// The posterior on the prior's scale: the prior density (±4 sd in the transformed space,
/// widened to take in the posterior) scaled to a peak of 1, with the posterior's 90 % interval
/// drawn as a marker and a bar, so that a posterior far narrower than the prior stays visible
/// (a density scaled to the prior's axis would be a one-pixel spike). `None` when the posterior
/// spans over a fifth of the prior's range: then one panel shows both.
fn prior_scale_panel(p: &ParamView, pr: &PriorView, draws_sorted: &[f64]) -> Option<XyPlot> {
    let a = pr.transform.to_natural(pr.mean_z - 4.0 * pr.sd_z);
    let b = pr.transform.to_natural(pr.mean_z + 4.0 * pr.sd_z);
    let (plo, phi) = (a.min(b), a.max(b));
    let q5 = quantile_sorted(draws_sorted, 0.05);
    let q95 = quantile_sorted(draws_sorted, 0.95);
    let med = quantile_sorted(draws_sorted, 0.5);
    if !(plo.is_finite() && phi.is_finite() && q5.is_finite() && q95.is_finite()) {
        return None;
    }
    let inside = q5 >= plo && q95 <= phi;
    if inside && (q95 - q5) > 0.2 * (phi - plo) {
        return None;
    }
    let (lo, hi) = (plo.min(q5), phi.max(q95));
    let xs: Vec<f64> = (0..=400)
        .map(|k| lo + (hi - lo) * k as f64 / 400.0)
        .collect();
    let prior: Vec<f64> = xs.iter().map(|&x| pr.density(x)).collect();
    let peak = prior.iter().copied().fold(0.0, f64::max);
    if peak <= 0.0 {
        return None;
    }
    Some(XyPlot {
        title: format!("{} on the prior's scale", fmt::name(&p.name)),
        x_label: label(p),
        y_label: "prior density / its peak".into(),
        lines: vec![
            Line {
                label: "atomistic prior".into(),
                x: xs,
                y: prior.iter().map(|y| y / peak).collect(),
                color: 1,
                dashed: true,
            },
            Line {
                label: "posterior 90 % interval".into(),
                x: vec![q5, q95],
                y: vec![0.5, 0.5],
                color: 0,
                dashed: false,
            },
        ],
        points: vec![Points {
            label: "posterior median".into(),
            x: vec![med],
            y: vec![0.5],
            y_err: Some(vec![0.08]),
            color: 0,
            size: 6,
        }],
        ..Default::default()
    })
}

/// Posterior summary and prior → posterior shift table.
fn summary_table(v: &CalibrationView) -> Table {
    let mut t = Table {
        caption: "Posterior (and the atomistic prior it started from)".into(),
        header: vec![
            "parameter".into(),
            "posterior mean ± sd".into(),
            "90 % interval".into(),
            "prior median".into(),
            "prior 90 % interval".into(),
            "sd posterior / prior".into(),
        ],
        ..Default::default()
    };
    for p in &v.params {
        let mut d = all_draws(p);
        d.sort_by(f64::total_cmp);
        let n = d.len().max(1) as f64;
        let mean = d.iter().sum::<f64>() / n;
        let sd = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
        let (pm, pi, ratio) = match &p.prior {
            Some(pr) => {
                let q = |u: f64| pr.transform.to_natural(pr.mean_z + u * pr.sd_z);
                // Prior sd by quadrature on a z grid.
                let (mut s0, mut s1, mut s2) = (0.0, 0.0, 0.0);
                for k in 0..=400 {
                    let u = -6.0 + 12.0 * k as f64 / 400.0;
                    let w = (-0.5 * u * u).exp();
                    let x = q(u);
                    s0 += w;
                    s1 += w * x;
                    s2 += w * x * x;
                }
                let pmean = s1 / s0;
                let psd = (s2 / s0 - pmean * pmean).max(0.0).sqrt();
                (
                    fmt::num_unit(q(0.0), &p.unit),
                    fmt::interval(q(-1.6449), q(1.6449), &p.unit),
                    if psd > 0.0 {
                        format!("{:.2}", sd / psd)
                    } else {
                        "–".into()
                    },
                )
            }
            None => ("–".into(), "–".into(), "–".into()),
        };
        let sc = Scale::of(mean, sd);
        t.rows.push(vec![
            fmt::name(&p.name),
            fmt::with_unit(&sc.pm(mean, sd), &p.unit),
            fmt::with_unit(
                &sc.interval(quantile_sorted(&d, 0.05), quantile_sorted(&d, 0.95)),
                &p.unit,
            ),
            pm,
            pi,
            ratio,
        ]);
    }
    t
}

/// The sections of a calibration report.
///
/// One part: the summary says what was run, gives the posterior table (the key numbers) and
/// every warning (a reader must see a failed run before its numbers); the details are the
/// diagnostics, the posterior marginals and pair plot, the trace plots and the posterior
/// predictive check.
pub fn calibration_sections(v: &CalibrationView) -> Vec<Section> {
    let mut secs = Vec::new();
    // The calibration's own warnings name parameters as the model does: read them as a reader
    // would (longest names first, so that no name is replaced inside a longer one).
    let mut names: Vec<&str> = v.params.iter().map(|p| p.name.as_str()).collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let human = |w: &str| {
        let mut w = w.to_string();
        for n in &names {
            w = w.replace(n, &fmt::name(n));
        }
        w
    };
    let mut warnings: Vec<Block> = v
        .warnings
        .iter()
        .map(|w| Block::Warning(human(w)))
        .collect();
    let mut blocks = Vec::new();
    if !v.diagnostics.is_empty() {
        let mut t = Table {
            caption: "Convergence diagnostics (rank-normalised split R̂, bulk/tail ESS)".into(),
            header: vec![
                "parameter".into(),
                "R̂".into(),
                "ESS bulk".into(),
                "ESS tail".into(),
                "MCSE of mean".into(),
            ],
            ..Default::default()
        };
        for (i, d) in v.diagnostics.iter().enumerate() {
            if d.is_warning() {
                t.warn_rows.push(i);
            }
            t.rows.push(vec![
                fmt::name(&d.name),
                format!("{:.3}", d.rhat),
                format!("{:.0}", d.ess_bulk),
                format!("{:.0}", d.ess_tail),
                fmt::num(d.mcse_mean),
            ]);
        }
        let bad: Vec<String> = v
            .diagnostics
            .iter()
            .filter(|d| d.is_warning())
            .map(|d| fmt::name(&d.name))
            .collect();
        if !bad.is_empty() {
            warnings.push(Block::Warning(format!(
                "R̂ > 1.01 or ESS < 400 for {}: the chains have not mixed well enough to trust these posteriors; run longer or reparameterise.",
                bad.join(", ")
            )));
        }
        blocks.push(Block::Table(t));
    }
    if !v.sampler.is_empty() {
        blocks.push(Block::Table(Table {
            caption: "Sampler".into(),
            header: vec!["quantity".into(), "value".into()],
            rows: v
                .sampler
                .iter()
                .map(|(a, b)| vec![a.clone(), b.clone()])
                .collect(),
            warn_rows: vec![],
        }));
    }
    secs.push(Section {
        heading: "Diagnostics".into(),
        blocks,
        ..Default::default()
    });

    // Marginals with the prior overlaid (the posterior table is in the summary).
    let mut blocks = Vec::new();
    for p in &v.params {
        let mut d = all_draws(p);
        if d.is_empty() {
            continue;
        }
        d.sort_by(f64::total_cmp);
        let (lo, hi) = (d[0], d[d.len() - 1]);
        let w = (hi - lo).max(hi.abs() * 1e-9).max(1e-300);
        // The posterior's own range, where its density is visible; the prior density over it
        // in the same unit (nearly flat when the data dominate).
        let (a, b) = (lo - 0.15 * w, hi + 0.15 * w);
        let xs: Vec<f64> = (0..=240).map(|k| a + (b - a) * k as f64 / 240.0).collect();
        let post = kde(&d, &xs);
        let (edges, heights) = super::plots::histogram(&d, 40);
        let mut csv = format!(
            "{} [{}],posterior_kde_density,prior_density,posterior_histogram_density\n",
            p.name, p.unit
        );
        let prior_y: Option<Vec<f64>> = p
            .prior
            .as_ref()
            .map(|pr| xs.iter().map(|&x| pr.density(x)).collect());
        for (k, x) in xs.iter().enumerate() {
            let h = edges
                .windows(2)
                .position(|e| *x >= e[0] && *x < e[1])
                .map(|i| heights[i].to_string())
                .unwrap_or_default();
            let pr = prior_y
                .as_ref()
                .map(|y| format!("{:e}", y[k]))
                .unwrap_or_default();
            let _ = writeln!(csv, "{x:e},{:e},{pr},{h}", post[k]);
        }
        let mut lines = vec![Line {
            label: "posterior (kernel density)".into(),
            x: xs.clone(),
            y: post,
            color: 0,
            dashed: false,
        }];
        if let Some(y) = prior_y {
            lines.push(Line {
                label: "atomistic prior".into(),
                x: xs,
                y,
                color: 1,
                dashed: true,
            });
        }
        let main = XyPlot {
            title: format!("Posterior of {}", fmt::name(&p.name)),
            x_label: label(p),
            y_label: if fmt::unit(&p.unit).is_empty() {
                "density".into()
            } else {
                format!("density (1/({}))", fmt::unit(&p.unit))
            },
            lines,
            ..Default::default()
        };
        let overview = p.prior.as_ref().and_then(|pr| prior_scale_panel(p, pr, &d));
        let figure = match &overview {
            Some(o) => xy_stack(&main, o, 300),
            None => xy_figure(&main),
        };
        if let Ok(figure) = figure {
            let zoom_note = if overview.is_some() {
                " The posterior is far narrower than the prior (or outside it): the upper panel shows it on its own range, the lower panel where it lies on the prior's scale."
            } else {
                ""
            };
            blocks.push(Block::Figure(ReportFigure {
                name: format!("posterior_{}", stem(&p.name)),
                caption: format!(
                    "Posterior marginal of {} (Gaussian kernel density, Silverman bandwidth, all chains) with the atomistic prior density (dashed).{zoom_note} The CSV holds the histogram as well.",
                    fmt::name(&p.name)
                ),
                figure,
                csv,
            }));
        }
    }
    // Pair plot.
    if v.params.len() >= 2 {
        let cols: Vec<(String, Vec<f64>)> = v
            .params
            .iter()
            .take(6)
            .map(|p| {
                (
                    label(p),
                    p.draws_per_chain.iter().flatten().copied().collect(),
                )
            })
            .collect();
        let n = cols.iter().map(|c| c.1.len()).min().unwrap_or(0);
        // Thin to at most 2000 points so the SVG stays small.
        let step = (n / 2000).max(1);
        let cols: Vec<(String, Vec<f64>)> = cols
            .into_iter()
            .map(|(l, v)| (l, v.into_iter().take(n).step_by(step).collect()))
            .collect();
        let mut csv = cols
            .iter()
            .map(|c| format!("\"{}\"", c.0))
            .collect::<Vec<_>>()
            .join(",");
        csv.push('\n');
        for i in 0..cols.first().map(|c| c.1.len()).unwrap_or(0) {
            let row: Vec<String> = cols.iter().map(|c| format!("{:e}", c.1[i])).collect();
            let _ = writeln!(csv, "{}", row.join(","));
        }
        if let Ok(figure) = pair_figure("Posterior pair plot", &cols) {
            blocks.push(Block::Figure(ReportFigure {
                name: "pairs".into(),
                caption: format!(
                    "Pair (corner) plot of the posterior draws{}: marginals on the diagonal, pairs below.",
                    if step > 1 { format!(" (every {step}th draw)") } else { String::new() }
                ),
                figure,
                csv,
            }));
        }
    }
    secs.push(Section {
        heading: "Posterior".into(),
        blocks,
        ..Default::default()
    });

    // Traces (NUTS only: Laplace draws are independent, there is no chain to watch).
    let mut blocks = Vec::new();
    for p in &v.params {
        if p.draws_per_chain.is_empty() || v.method == CalibrationMethod::Laplace {
            continue;
        }
        let len = p.draws_per_chain.iter().map(|c| c.len()).max().unwrap_or(0);
        let mut csv = String::from("draw");
        for c in 0..p.draws_per_chain.len() {
            let _ = write!(csv, ",chain_{} [{}]", c + 1, p.unit);
        }
        csv.push('\n');
        for i in 0..len {
            csv.push_str(&i.to_string());
            for c in &p.draws_per_chain {
                let _ = write!(
                    csv,
                    ",{}",
                    c.get(i).map(|x| format!("{x:e}")).unwrap_or_default()
                );
            }
            csv.push('\n');
        }
        if let Ok(figure) = trace_figure(
            &format!("Trace of {}", fmt::name(&p.name)),
            &label(p),
            &p.draws_per_chain,
        ) {
            blocks.push(Block::Figure(ReportFigure {
                name: format!("trace_{}", stem(&p.name)),
                caption: format!(
                    "Trace of {} per chain: chains should overlap and look like stationary noise.",
                    fmt::name(&p.name)
                ),
                figure,
                csv,
            }));
        }
    }
    if !blocks.is_empty() {
        secs.push(Section {
            heading: "Trace plots".into(),
            blocks,
            ..Default::default()
        });
    }

    // Posterior predictive.
    let mut blocks = Vec::new();
    for c in &v.curves {
        let n = c.t.len();
        let ok = [
            &c.measured,
            &c.pred_median,
            &c.param_lo90,
            &c.param_hi90,
            &c.pred_lo90,
            &c.pred_hi90,
        ]
        .iter()
        .all(|v| v.len() == n);
        if !ok || n == 0 {
            blocks.push(Block::Warning(format!(
                "{}: the predictive band and the data have different lengths; figure skipped.",
                c.name
            )));
            continue;
        }
        let resid: Vec<f64> = c
            .measured
            .iter()
            .zip(&c.pred_median)
            .map(|(m, p)| m - p)
            .collect();
        let rmse = (resid.iter().map(|r| r * r).sum::<f64>() / n as f64).sqrt();
        let dot = if n > 300 { 1 } else { 2 };
        let top = XyPlot {
            title: format!("Posterior predictive — {}", c.name),
            x_label: c.x_label.clone(),
            y_label: c.y_label.clone(),
            bands: vec![
                Band {
                    label: "90 % predictive (parameters + noise)".into(),
                    x: c.t.clone(),
                    lo: c.pred_lo90.clone(),
                    hi: c.pred_hi90.clone(),
                    color: 0,
                    opacity: 0.15,
                },
                Band {
                    label: "90 % from parameter uncertainty".into(),
                    x: c.t.clone(),
                    lo: c.param_lo90.clone(),
                    hi: c.param_hi90.clone(),
                    color: 0,
                    opacity: 0.32,
                },
            ],
            lines: vec![Line {
                label: "predictive median".into(),
                x: c.t.clone(),
                y: c.pred_median.clone(),
                color: 0,
                dashed: false,
            }],
            points: vec![Points {
                label: "measured".into(),
                x: c.t.clone(),
                y: c.measured.clone(),
                y_err: None,
                color: 1,
                size: dot,
            }],
            ..Default::default()
        };
        let bottom = XyPlot {
            title: String::new(),
            x_label: c.x_label.clone(),
            y_label: format!("residual ({})", super::plots::unit_of(&c.y_label)),
            bands: vec![Band {
                label: "90 % predictive − median".into(),
                x: c.t.clone(),
                lo: c
                    .pred_lo90
                    .iter()
                    .zip(&c.pred_median)
                    .map(|(a, m)| a - m)
                    .collect(),
                hi: c
                    .pred_hi90
                    .iter()
                    .zip(&c.pred_median)
                    .map(|(a, m)| a - m)
                    .collect(),
                color: 0,
                opacity: 0.15,
            }],
            points: vec![Points {
                label: "measured − median".into(),
                x: c.t.clone(),
                y: resid.clone(),
                y_err: None,
                color: 1,
                size: dot,
            }],
            h_lines: vec![(0.0, String::new())],
            ..Default::default()
        };
        let mut csv = format!(
            "\"{}\",\"measured {}\",pred_median,param_lo90,param_hi90,pred_lo90,pred_hi90,residual\n",
            c.x_label, c.y_label
        );
        for i in 0..n {
            let _ = writeln!(
                csv,
                "{:e},{:e},{:e},{:e},{:e},{:e},{:e},{:e}",
                c.t[i],
                c.measured[i],
                c.pred_median[i],
                c.param_lo90[i],
                c.param_hi90[i],
                c.pred_lo90[i],
                c.pred_hi90[i],
                resid[i]
            );
        }
        let outside = (0..n)
            .filter(|&i| c.measured[i] < c.pred_lo90[i] || c.measured[i] > c.pred_hi90[i])
            .count();
        blocks.push(Block::Paragraph(format!(
            "{}: RMS residual {}; {} of {} measured points ({:.1} %) lie outside the 90 % predictive band.",
            c.name,
            fmt::with_unit(&fmt::num(rmse), &super::plots::unit_of(&c.y_label)),
            outside,
            n,
            100.0 * outside as f64 / n as f64
        )));
        if outside as f64 > 0.1 * n as f64 {
            warnings.push(Block::Warning(format!(
                "{}: more than 10 % of the measured points fall outside the 90 % predictive band — the model or the noise model misses part of the data.",
                c.name
            )));
        }
        if let Ok(figure) = xy_with_residuals(&top, &bottom) {
            blocks.push(Block::Figure(ReportFigure {
                name: format!("predictive_{}", stem(&c.name)),
                caption: format!(
                    "{}: measured data over the 90 % posterior-predictive bands (parameter uncertainty alone, and with measurement noise), with the residuals (data − predictive median) below.",
                    c.name
                ),
                figure,
                csv,
            }));
        }
    }
    if !blocks.is_empty() {
        secs.push(Section {
            heading: "Posterior predictive check".into(),
            blocks,
            ..Default::default()
        });
    }
    let what = match v.method {
        CalibrationMethod::Nuts => "Bayesian calibration with NUTS",
        CalibrationMethod::Laplace => {
            "Calibration by the maximum a posteriori (MAP) estimate and its Laplace approximation"
        }
    };
    let facts: Vec<String> = v
        .sampler
        .iter()
        .filter(|(k, _)| {
            k == "chains"
                || k.starts_with("draws per chain")
                || k == "warm-up per chain"
                || k.starts_with("divergences")
        })
        .map(|(k, val)| format!("{k} {val}"))
        .collect();
    let mut summary = vec![Block::Paragraph(format!(
        "{what} of {} against {} measured curve{}{}{}.",
        v.params
            .iter()
            .map(|p| fmt::name(&p.name))
            .collect::<Vec<_>>()
            .join(", "),
        v.curves.len(),
        if v.curves.len() == 1 { "" } else { "s" },
        if v.curves.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                v.curves
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        if facts.is_empty() {
            String::new()
        } else {
            format!("; {}", facts.join(", "))
        }
    ))];
    summary.extend(warnings);
    summary.push(Block::Table(summary_table(v)));
    let heading = if v.title.is_empty() {
        "Calibration".to_string()
    } else {
        v.title.clone()
    };
    vec![Section::part(heading, summary, secs)]
}

/// The HTML report of a calibration run.
pub fn calibration_report(v: &CalibrationView, prov: &Provenance) -> Report {
    Report {
        title: if v.title.is_empty() {
            "Calibration".into()
        } else {
            v.title.clone()
        },
        subtitle: match v.method {
            CalibrationMethod::Nuts => {
                "Bayesian calibration against measured curves (NUTS, bridgelaw)".into()
            }
            CalibrationMethod::Laplace => {
                "Calibration against measured curves: MAP and its Laplace approximation (bridgelaw)"
                    .into()
            }
        },
        sections: calibration_sections(v),
        provenance: prov.entries(),
    }
}

/// The report's view of a finished NUTS calibration: draws per chain, atomistic priors (the
/// model parameters' exact marginals; none for the noise sds), diagnostics, sampler health and
/// the posterior-predictive bands over each measured curve.
pub fn view_from_run<M: crate::model::Model>(
    title: &str,
    post: &crate::calibrate::Posterior<'_, M>,
    out: &crate::calibrate::CalibrationOutput,
) -> CalibrationView {
    let run = &out.run;
    let prior = post.prior();
    let zs = post.prior_z_mean_sd();
    let params = (0..run.dim)
        .map(|k| ParamView {
            name: run.names[k].clone(),
            unit: run.units[k].clone(),
            draws_per_chain: run.param_chains(k),
            prior: prior.params.get(k).map(|p| PriorView {
                transform: p.transform,
                mean_z: zs[k].0,
                sd_z: zs[k].1,
            }),
        })
        .collect();
    let diagnostics = out
        .summary
        .params
        .iter()
        .map(|p| DiagnosticsRow {
            name: p.name.clone(),
            rhat: p.rhat,
            ess_bulk: p.ess_bulk,
            ess_tail: p.ess_tail,
            mcse_mean: p.mcse_mean,
        })
        .collect();
    let h = &out.summary.health;
    let sampler = vec![
        ("chains".into(), h.chains.to_string()),
        (
            "draws per chain (after warm-up)".into(),
            h.draws_per_chain.to_string(),
        ),
        ("warm-up per chain".into(), run.config.tune.to_string()),
        ("divergences (per chain)".into(), per_chain(&h.divergences)),
        (
            format!("tree depth saturated (max {}, per chain)", h.max_depth),
            per_chain(&h.treedepth_saturated),
        ),
        (
            "E-BFMI".into(),
            h.e_bfmi
                .iter()
                .map(|v| format!("{v:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "failed model evaluations (per chain)".into(),
            per_chain(&h.model_errors),
        ),
        ("seed".into(), run.config.seed.to_string()),
    ];
    let curves = curve_views(&out.bands);
    let mut warnings = out.summary.warnings.clone();
    warnings.extend(run.notes.iter().cloned());
    CalibrationView {
        title: title.to_string(),
        method: CalibrationMethod::Nuts,
        params,
        diagnostics,
        sampler,
        warnings,
        curves,
    }
}

/// Counts, one per chain, as a list a reader reads: `0, 0, 3, 0`.
fn per_chain<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each measured curve under its predictive bands, as the report plots it.
fn curve_views(bands: &[crate::calibrate::summary::CurveBand]) -> Vec<CurveView> {
    bands
        .iter()
        .map(|b| CurveView {
            name: b.name.clone(),
            x_label: fmt::axis_label(&b.axis_name, &b.axis_unit),
            y_label: fmt::axis_label(&fmt::name(&b.output), &b.unit),
            t: b.axis.clone(),
            measured: b.data.clone(),
            pred_median: b.q50.clone(),
            param_lo90: b.q5.clone(),
            param_hi90: b.q95.clone(),
            pred_lo90: b.q5_obs.clone(),
            pred_hi90: b.q95_obs.clone(),
        })
        .collect()
}

/// Independent draws from the Laplace approximation that a `--map` report shows as the
/// posterior.
pub const LAPLACE_DRAWS: usize = 1000;

/// The report's view of a MAP + Laplace run: [`LAPLACE_DRAWS`] draws of N(ẑ, H⁻¹) (in z,
/// mapped to natural units; stream (seed, 0)) stand for the posterior, and the predictive bands
/// over each measured curve come from the same draws; without a Laplace approximation (the
/// Hessian is not positive definite) the MAP alone. No convergence diagnostics: nothing was
/// sampled by MCMC.
pub fn view_from_map<M: crate::model::Model>(
    title: &str,
    post: &crate::calibrate::Posterior<'_, M>,
    map: &crate::calibrate::MapResult,
    seed: u64,
) -> Result<CalibrationView, crate::calibrate::CalibrateError> {
    let dim = post.dim();
    let z = map.laplace_draws_z(LAPLACE_DRAWS, seed);
    let x: Vec<Vec<f64>> = z
        .iter()
        .map(|z| {
            let mut x = vec![0.0; dim];
            post.natural_from_z(z, &mut x);
            x
        })
        .collect();
    let zs: Vec<&[f64]> = z.iter().map(|z| z.as_slice()).collect();
    let bands = crate::calibrate::summary::predictive_bands_from_z(
        post,
        &zs,
        LAPLACE_DRAWS,
        seed,
        &crate::calibrate::summary::COVERAGE_LEVELS,
    )?;
    let prior = post.prior();
    let prior_z = post.prior_z_mean_sd();
    let params = (0..dim)
        .map(|k| ParamView {
            name: post.names()[k].clone(),
            unit: post.parameters()[k].unit.clone(),
            draws_per_chain: vec![x.iter().map(|x| x[k]).collect()],
            prior: prior.params.get(k).map(|p| PriorView {
                transform: p.transform,
                mean_z: prior_z[k].0,
                sd_z: prior_z[k].1,
            }),
        })
        .collect();
    let s = &map.starts;
    let sampler = vec![
        (
            "method".into(),
            "MAP (L-BFGS on the exact gradient, multi-start) and the Laplace approximation N(ẑ, H⁻¹); no MCMC".into(),
        ),
        ("optimiser".into(), map.stop_sentence()),
        ("ln p at the MAP".into(), format!("{:.3}", map.log_density)),
        (
            "starts".into(),
            format!(
                "{} optimisations, {} ended at this mode; the log density failed at {} of {} start points",
                s.runs.len(),
                s.agreeing,
                s.failed,
                s.tried
            ),
        ),
        (
            "draws shown".into(),
            match map.laplace {
                Some(_) => format!("{LAPLACE_DRAWS} from the Laplace approximation"),
                None => "the MAP only (no Laplace approximation)".into(),
            },
        ),
        ("seed".into(), seed.to_string()),
    ];
    Ok(CalibrationView {
        title: title.to_string(),
        method: CalibrationMethod::Laplace,
        params,
        diagnostics: Vec::new(),
        sampler,
        warnings: map.warnings(),
        curves: curve_views(&bands),
    })
}
