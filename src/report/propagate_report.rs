//! The propagation report: input table with error bars and units, output tables per method,
//! the delta-method-vs-Monte-Carlo comparison, one band figure per curve output (68 %/95 %
//! bands; two-phase plateaus shaded; D(T) as an Arrhenius plot ln D vs 1000/T) and the
//! nonlinearity verdicts highlighted.

use super::html::{Block, Report, ReportFigure, Section, Table};
use super::plots::{Band, BarPlot, Line, XRegion, XyPlot, bar_figure, xy_figure};
use super::provenance::Provenance;
use crate::model::OutputShape;
use crate::propagate::PropagationResults;
use std::fmt::Write as _;

/// A number in 4 significant digits (scientific notation outside 1e-3 … 1e5).
pub fn g(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.3e}")
    } else {
        let s = format!("{v:.4}");
        let d = if a >= 1000.0 {
            0
        } else if a >= 100.0 {
            1
        } else if a >= 10.0 {
            2
        } else if a >= 1.0 {
            3
        } else {
            4
        };
        if d == 4 { s } else { format!("{v:.d$}") }
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(g).unwrap_or_else(|| "–".into())
}

fn csv_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:e}")
    } else {
        String::new()
    }
}

/// A file-name-safe stem.
pub fn stem(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Picks one end of an interval (level, lower, upper).
type IntervalPick = dyn Fn(&(f64, Option<f64>, Option<f64>)) -> Option<f64>;

/// One method's summary of one flat output.
#[derive(Debug, Clone)]
struct Row {
    mean: f64,
    sd: f64,
    median: Option<f64>,
    /// (level, lower, upper)
    intervals: Vec<(f64, Option<f64>, Option<f64>)>,
}

/// Per method (name, rows per flat output): the delta method (normal intervals μ ± z·σ) and
/// every Monte Carlo run.
fn method_rows(r: &PropagationResults) -> Vec<(String, Vec<Row>)> {
    let levels: Vec<f64> = r
        .monte_carlo
        .first()
        .map(|m| m.levels.clone())
        .unwrap_or_else(|| vec![0.68, 0.95]);
    let mut v = Vec::new();
    if let Some(d) = &r.delta {
        let rows = d
            .mean
            .iter()
            .zip(&d.sd)
            .map(|(&m, &s)| Row {
                mean: m,
                sd: s,
                median: Some(m),
                intervals: levels
                    .iter()
                    .map(|&l| {
                        let z = crate::dist::sample::standard_normal_quantile(0.5 + l / 2.0);
                        (l, Some(m - z * s), Some(m + z * s))
                    })
                    .collect(),
            })
            .collect();
        v.push(("delta".to_string(), rows));
    }
    for m in &r.monte_carlo {
        let rows = m
            .outputs
            .iter()
            .map(|o| Row {
                mean: o.mean,
                sd: o.sd,
                median: o
                    .quantiles
                    .iter()
                    .find(|q| (q.p - 0.5).abs() < 1e-12)
                    .and_then(|q| q.value),
                intervals: o
                    .intervals
                    .iter()
                    .map(|i| (i.level, i.lower, i.upper))
                    .collect(),
            })
            .collect();
        v.push((m.design.short_name().to_string(), rows));
    }
    v
}

/// Flat output metadata: (label, unit, curve index or None).
fn flat_meta(r: &PropagationResults) -> Vec<(String, String, Option<usize>)> {
    let mut v = Vec::new();
    let mut ci = 0;
    for o in &r.outputs {
        match &o.shape {
            OutputShape::Scalar => v.push((o.name.clone(), o.unit.clone(), None)),
            OutputShape::Curve(a) => {
                for x in &a.values {
                    v.push((
                        format!("{}[{}={}]", o.name, a.name, g(*x)),
                        o.unit.clone(),
                        Some(ci),
                    ));
                }
                ci += 1;
            }
        }
    }
    v
}

fn pct(l: f64) -> String {
    format!("{}", (100.0 * l * 10.0).round() / 10.0)
}

/// Runs of consecutive axis points (at least 3) where the median is identical (relative to the
/// curve's range, 1e-9): the flat plateau of a two-phase region. Returns (x0, x1) per run.
pub fn flat_regions(x: &[f64], median: &[f64]) -> Vec<(f64, f64)> {
    let n = x.len().min(median.len());
    if n < 3 {
        return vec![];
    }
    let (lo, hi) = median[..n]
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let tol = 1e-9 * (hi - lo).abs().max(lo.abs().max(hi.abs()) * 1e-6);
    // Runs as (first index, last index, value); a run that resumes within three points at the
    // same level (a Monte Carlo median wobbling at one point) continues the previous one.
    let mut runs: Vec<(usize, usize, f64)> = Vec::new();
    let mut start = 0;
    for i in 1..=n {
        let same = i < n && (median[i] - median[start]).abs() <= tol;
        if !same {
            if i - start >= 3 {
                match runs.last_mut() {
                    Some(r)
                        if start - r.1 <= 3
                            && (median[start] - r.2).abs() <= 1e-6 * (hi - lo).abs().max(tol) =>
                    {
                        r.1 = i - 1
                    }
                    _ => runs.push((start, i - 1, median[start])),
                }
            }
            start = i;
        }
    }
    runs.into_iter().map(|(a, b, _)| (x[a], x[b])).collect()
}

/// Whether a curve output on this axis is a diffusivity/rate versus temperature, drawn as an
/// Arrhenius plot (ln y vs 1000/T): axis in kelvin and all values positive.
fn is_arrhenius(axis_name: &str, axis_unit: &str, values: &[f64]) -> bool {
    (axis_unit.trim() == "K" || axis_name == "T")
        && !values.is_empty()
        && values.iter().all(|v| v.is_finite() && *v > 0.0)
}

fn curve_figure(
    r: &PropagationResults,
    curve: usize,
    methods: &[(String, Vec<Row>)],
) -> Option<(ReportFigure, Vec<Block>)> {
    let (spec, range) = r.curves().into_iter().nth(curve)?;
    let OutputShape::Curve(axis) = &spec.shape else {
        return None;
    };
    // The band comes from the first Monte Carlo run, else from the delta method.
    let (mname, rows) = methods
        .iter()
        .find(|(m, _)| m != "delta")
        .or(methods.first())?;
    let rows = &rows[range.clone()];
    let xs = &axis.values;
    let median: Vec<f64> = rows.iter().map(|r| r.median.unwrap_or(r.mean)).collect();
    let arr = is_arrhenius(&axis.name, &axis.unit, &median)
        && rows.iter().all(|r| {
            r.intervals
                .iter()
                .all(|(_, a, b)| a.is_some_and(|v| v > 0.0) && b.is_some_and(|v| v > 0.0))
        });
    let tx = |x: f64| if arr { 1000.0 / x } else { x };
    let ty = |y: f64| if arr { y.ln() } else { y };
    let px: Vec<f64> = xs.iter().map(|&x| tx(x)).collect();
    let mut bands = Vec::new();
    let mut levels: Vec<f64> = rows
        .first()
        .map(|r| r.intervals.iter().map(|i| i.0).collect())
        .unwrap_or_default();
    levels.sort_by(|a, b| b.total_cmp(a));
    for (k, l) in levels.iter().enumerate() {
        let get = |f: &IntervalPick| -> Vec<f64> {
            rows.iter()
                .map(|r| {
                    r.intervals
                        .iter()
                        .find(|i| i.0 == *l)
                        .and_then(f)
                        .map(ty)
                        .unwrap_or(f64::NAN)
                })
                .collect()
        };
        bands.push(Band {
            label: format!("{} % interval ({mname})", pct(*l)),
            x: px.clone(),
            lo: get(&|i| i.1),
            hi: get(&|i| i.2),
            color: 0,
            opacity: if k == 0 { 0.15 } else { 0.32 },
        });
    }
    let mut lines = vec![Line {
        label: format!("median ({mname})"),
        x: px.clone(),
        y: median.iter().map(|&y| ty(y)).collect(),
        color: 0,
        dashed: false,
    }];
    if mname != "delta"
        && let Some((_, d)) = methods.iter().find(|(m, _)| m == "delta")
    {
        lines.push(Line {
            label: "delta-method mean".into(),
            x: px.clone(),
            y: d[range.clone()].iter().map(|r| ty(r.mean)).collect(),
            color: 1,
            dashed: true,
        });
    }
    let mut blocks = Vec::new();
    // A flat stretch is a two-phase plateau only on a composition axis (U vs x); a voltage held
    // after a cut-off (V vs t) is flat too and must not be labelled a phase region.
    let composition_axis = matches!(axis.name.as_str(), "x" | "theta" | "stoichiometry");
    let regions: Vec<XRegion> = if arr || !composition_axis {
        vec![]
    } else {
        // The centre curve (delta method: the model at the input medians) is exactly flat across
        // its two-phase region; a Monte Carlo median only nearly so.
        let centre: Vec<f64> = match methods.iter().find(|(m, _)| m == "delta") {
            Some((_, d)) => d[range.clone()].iter().map(|r| r.mean).collect(),
            None => median.clone(),
        };
        flat_regions(xs, &centre)
            .into_iter()
            .map(|(a, b)| XRegion {
                label: "two-phase region (flat at the input medians)".into(),
                x0: a,
                x1: b,
            })
            .collect()
    };
    for reg in &regions {
        blocks.push(Block::Paragraph(format!(
            "{}: flat for {} = {} … {} {} at the input medians — a two-phase plateau, shaded in the figure.",
            spec.name,
            axis.name,
            g(reg.x0),
            g(reg.x1),
            axis.unit
        )));
    }
    let (x_label, y_label, title) = if arr {
        (
            format!("1000/{} (1/{})", axis.name, axis.unit),
            format!("ln({} / ({}))", spec.name, spec.unit),
            format!("Arrhenius plot of {}", spec.name),
        )
    } else {
        (
            format!("{} ({})", axis.name, axis.unit),
            format!("{} ({})", spec.name, spec.unit),
            format!("{} vs {}", spec.name, axis.name),
        )
    };
    let plot = XyPlot {
        title,
        x_label,
        y_label,
        log_y: false,
        bands,
        lines,
        points: vec![],
        regions,
        h_lines: vec![],
    };
    let figure = xy_figure(&plot).ok()?;
    // CSV: axis value, then per method mean, sd, median and interval bounds (natural units).
    let mut csv = format!("{} [{}]", axis.name, axis.unit);
    for (m, rs) in methods {
        let _ = write!(
            csv,
            ",{m}_mean [{u}],{m}_sd [{u}],{m}_median [{u}]",
            u = spec.unit
        );
        if let Some(r0) = rs.get(range.start) {
            for (l, _, _) in &r0.intervals {
                let _ = write!(
                    csv,
                    ",{m}_lower_{p} [{u}],{m}_upper_{p} [{u}]",
                    p = pct(*l),
                    u = spec.unit
                );
            }
        }
    }
    csv.push('\n');
    for (i, x) in xs.iter().enumerate() {
        csv.push_str(&csv_num(*x));
        for (_, rs) in methods {
            let row = &rs[range.start + i];
            let _ = write!(
                csv,
                ",{},{},{}",
                csv_num(row.mean),
                csv_num(row.sd),
                row.median.map(csv_num).unwrap_or_default()
            );
            for (_, a, b) in &row.intervals {
                let _ = write!(
                    csv,
                    ",{},{}",
                    a.map(csv_num).unwrap_or_default(),
                    b.map(csv_num).unwrap_or_default()
                );
            }
        }
        csv.push('\n');
    }
    let caption = if arr {
        format!(
            "{} versus {}: Arrhenius plot, ln {} against 1000/{}; shaded 68 % and 95 % intervals ({mname}), median line{}. The CSV holds the untransformed values.",
            spec.name,
            axis.name,
            spec.name,
            axis.name,
            if mname != "delta" {
                " and the delta-method mean (dashed)"
            } else {
                ""
            }
        )
    } else {
        format!(
            "{} versus {}: shaded 68 % and 95 % intervals ({mname}), median line{}.",
            spec.name,
            axis.name,
            if mname != "delta" {
                " and the delta-method mean (dashed)"
            } else {
                ""
            }
        )
    };
    Some((
        ReportFigure {
            name: format!("band_{}", stem(&spec.name)),
            caption,
            figure,
            csv,
        },
        blocks,
    ))
}

/// The delta-vs-Monte-Carlo figure: for every scalar output (and the worst point of each curve)
/// the relative difference (MC − delta)/|delta| of mean and sd in %, with 95 % Monte Carlo error
/// bars, one series per Monte Carlo design.
fn comparison_figure(r: &PropagationResults) -> Option<ReportFigure> {
    if r.nonlinearity.is_empty() {
        return None;
    }
    let first = &r.nonlinearity[0];
    // Pick rows: scalar outputs, and for curves the point with the largest |sd_rel| in the first run.
    let mut picks: Vec<usize> = Vec::new();
    let base = |l: &str| l.split('[').next().unwrap_or(l).to_string();
    let mut i = 0;
    while i < first.outputs.len() {
        let b = base(&first.outputs[i].label);
        let mut j = i;
        let mut worst = i;
        while j < first.outputs.len() && base(&first.outputs[j].label) == b {
            let w = |k: usize| {
                first.outputs[k]
                    .sd_rel
                    .abs()
                    .max(first.outputs[k].mean_rel.abs())
            };
            if w(j).is_finite() && w(j) > w(worst) {
                worst = j;
            }
            j += 1;
        }
        picks.push(worst);
        i = j;
    }
    picks.truncate(12);
    let mut labels = Vec::new();
    for &k in &picks {
        let l = &first.outputs[k].label;
        labels.push(format!("{l}: mean"));
        labels.push(format!("{l}: sd"));
    }
    let mut series = Vec::new();
    let mut csv = String::from(
        "output,statistic,method,delta,monte_carlo,se_monte_carlo,rel_diff_percent,ci95_lo_percent,ci95_hi_percent\n",
    );
    for rep in &r.nonlinearity {
        let mut vals = Vec::new();
        let mut cis = Vec::new();
        for &k in &picks {
            let Some(o) = rep.outputs.get(k) else {
                continue;
            };
            for (stat, d, m, se) in [
                ("mean", o.delta_mean, o.mc_mean, o.se_mean),
                ("sd", o.delta_sd, o.mc_sd, o.se_sd),
            ] {
                let scale = if d != 0.0 { 100.0 / d.abs() } else { f64::NAN };
                let v = (m - d) * scale;
                let (a, b) = (v - 1.96 * se * scale, v + 1.96 * se * scale);
                vals.push(v);
                cis.push((a, b));
                let _ = writeln!(
                    csv,
                    "\"{}\",{stat},{},{},{},{},{},{},{}",
                    o.label.replace('"', "'"),
                    rep.method,
                    csv_num(d),
                    csv_num(m),
                    csv_num(se),
                    csv_num(v),
                    csv_num(a),
                    csv_num(b)
                );
            }
        }
        series.push((rep.method.clone(), vals, Some(cis)));
    }
    let plot = BarPlot {
        title: "Monte Carlo vs delta method".into(),
        x_label: "(Monte Carlo − delta) / |delta| (%)".into(),
        labels,
        series,
    };
    let figure = bar_figure(&plot).ok()?;
    Some(ReportFigure {
        name: "delta_vs_mc".into(),
        caption: "Relative difference between the Monte Carlo and the delta-method mean and standard deviation of each output (for a curve, its worst point), with 95 % Monte Carlo error bars. Bars near zero: the linearisation is adequate.".into(),
        figure,
        csv,
    })
}

/// The sections of a propagation report (without title or provenance), for combining with
/// other reports.
pub fn propagation_sections(r: &PropagationResults) -> Vec<Section> {
    let methods = method_rows(r);
    let meta = flat_meta(r);
    let mut secs = Vec::new();

    // Inputs.
    let mut t = Table {
        caption: "Inputs (atomistic estimates with their uncertainty)".into(),
        header: vec![
            "input".into(),
            "unit".into(),
            "transform".into(),
            "mean ± sd".into(),
            "median".into(),
            "relative sd".into(),
        ],
        ..Default::default()
    };
    for i in &r.inputs {
        t.rows.push(vec![
            i.name.clone(),
            i.unit.clone(),
            i.transform.clone(),
            format!("{} ± {}", g(i.mean), g(i.sd)),
            g(i.median),
            if i.mean != 0.0 {
                format!("{:.1} %", 100.0 * i.sd / i.mean.abs())
            } else {
                "–".into()
            },
        ]);
    }
    let mut blocks = vec![];
    if !r.source.trim().is_empty() {
        blocks.push(Block::Paragraph(format!("Source: {}", r.source.trim())));
    }
    blocks.push(Block::Table(t));
    secs.push(Section {
        heading: "Inputs".into(),
        blocks,
    });

    // Scalar outputs, per method.
    let scalar_idx: Vec<usize> = (0..meta.len()).filter(|&k| meta[k].2.is_none()).collect();
    if !scalar_idx.is_empty() && !methods.is_empty() {
        let levels: Vec<f64> = methods[0].1[0].intervals.iter().map(|i| i.0).collect();
        let mut header = vec![
            "output".into(),
            "unit".into(),
            "method".into(),
            "mean ± sd".into(),
            "median".into(),
        ];
        for l in &levels {
            header.push(format!("{} % interval", pct(*l)));
        }
        let mut t = Table {
            caption: "Outputs (continuum parameters) with error bars".into(),
            header,
            ..Default::default()
        };
        for &k in &scalar_idx {
            for (m, rows) in &methods {
                let row = &rows[k];
                let mut cells = vec![
                    meta[k].0.clone(),
                    meta[k].1.clone(),
                    m.clone(),
                    format!("{} ± {}", g(row.mean), g(row.sd)),
                    opt(row.median),
                ];
                for (_, a, b) in &row.intervals {
                    cells.push(format!("[{}, {}]", opt(*a), opt(*b)));
                }
                let flagged = r
                    .nonlinearity
                    .iter()
                    .any(|n| n.method == *m && n.outputs.get(k).is_some_and(|o| o.nonlinear));
                if flagged {
                    t.warn_rows.push(t.rows.len());
                }
                t.rows.push(cells);
            }
        }
        secs.push(Section {
            heading: "Outputs".into(),
            blocks: vec![
                Block::Paragraph("Delta-method intervals are normal, μ ± z·σ; Monte Carlo intervals are empirical quantiles. Highlighted rows: the Monte Carlo run disagrees with the delta method.".into()),
                Block::Table(t),
            ],
        });
    }

    // Curves.
    let n_curves = r.curves().len();
    if n_curves > 0 {
        let mut blocks = Vec::new();
        for c in 0..n_curves {
            if let Some((f, extra)) = curve_figure(r, c, &methods) {
                blocks.extend(extra);
                blocks.push(Block::Figure(f));
            }
        }
        secs.push(Section {
            heading: "Curves with uncertainty bands".into(),
            blocks,
        });
    }

    // Delta vs MC and nonlinearity.
    if !r.nonlinearity.is_empty() {
        let mut blocks = Vec::new();
        for n in &r.nonlinearity {
            for m in &n.messages {
                if n.any_nonlinear {
                    blocks.push(Block::Warning(format!("[{}] {m}", n.method)));
                } else {
                    blocks.push(Block::Paragraph(format!("[{}] {m}", n.method)));
                }
            }
        }
        if let Some(f) = comparison_figure(r) {
            blocks.push(Block::Figure(f));
        }
        secs.push(Section {
            heading: "Delta method vs Monte Carlo (nonlinearity check)".into(),
            blocks,
        });
    }

    // Run details.
    if !r.monte_carlo.is_empty() {
        let mut t = Table {
            caption: "Monte Carlo runs".into(),
            header: vec![
                "design".into(),
                "seed".into(),
                "samples".into(),
                "valid".into(),
                "failed".into(),
                "stop".into(),
                "standard errors".into(),
            ],
            ..Default::default()
        };
        for m in &r.monte_carlo {
            if m.failure_fraction > 0.0 {
                t.warn_rows.push(t.rows.len());
            }
            t.rows.push(vec![
                m.design.short_name().into(),
                m.seed.to_string(),
                m.samples_evaluated.to_string(),
                m.n_valid.to_string(),
                format!(
                    "{} ({:.2} %)",
                    m.n_failed + m.n_nonfinite,
                    100.0 * m.failure_fraction
                ),
                format!("{:?}", m.stop),
                m.se_method.clone(),
            ]);
        }
        let mut blocks = vec![Block::Table(t)];
        for m in &r.monte_carlo {
            if let Some(f) = &m.first_failure {
                blocks.push(Block::Warning(format!(
                    "{}: {} evaluations failed; first: {f}",
                    m.design.short_name(),
                    m.n_failed + m.n_nonfinite
                )));
            }
        }
        secs.push(Section {
            heading: "Run details".into(),
            blocks,
        });
    }
    secs
}

/// The HTML report of a propagation run.
pub fn propagation_report(r: &PropagationResults, prov: &Provenance) -> Report {
    Report {
        title: if r.title.is_empty() {
            "Uncertainty propagation".into()
        } else {
            r.title.clone()
        },
        subtitle: "Uncertainty propagation: atomistic inputs → continuum parameters (bridgelaw)"
            .into(),
        sections: propagation_sections(r),
        provenance: prov.entries(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_region_detection() {
        let x: Vec<f64> = (0..10).map(|i| i as f64 / 9.0).collect();
        let y = [4.0, 3.9, 3.5, 3.5, 3.5, 3.5, 3.2, 3.1, 3.1, 3.0];
        assert_eq!(flat_regions(&x, &y), vec![(x[2], x[5])]);
        let y2 = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert!(flat_regions(&x, &y2).is_empty());
    }

    #[test]
    fn number_format() {
        assert_eq!(g(1.23456), "1.235");
        assert_eq!(g(1.5e-12), "1.500e-12");
        assert_eq!(g(250.0), "250.0");
    }
}
