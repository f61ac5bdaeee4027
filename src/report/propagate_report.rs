//! The propagation report: input table with error bars and units, output tables per method,
//! the delta-method-vs-Monte-Carlo comparison, one band figure per curve output (68 %/95 %
//! bands; two-phase plateaus shaded; D(T) as an Arrhenius plot ln D vs 1000/T) and the
//! nonlinearity verdicts highlighted.

use super::format::{self as fmt, Scale};
use super::html::{Block, Report, ReportFigure, Section, Table};
use super::plots::{
    Band, BarPlot, Line, XRegion, XyPlot, bar_figure, xy_figure, xy_with_residuals,
};
use super::provenance::Provenance;
use crate::model::OutputShape;
use crate::propagate::PropagationResults;
use std::fmt::Write as _;

/// A number in 4 significant digits (scientific notation outside 1e-3 … 1e5) for plain-text
/// terminal output; the report itself formats with [`super::format`].
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
            OutputShape::Scalar => v.push((fmt::name(&o.name), o.unit.clone(), None)),
            OutputShape::Curve(a) => {
                for x in &a.values {
                    v.push((
                        format!(
                            "{} at {} = {}",
                            fmt::curve_name(&o.name, &a.name),
                            a.name,
                            fmt::tick(*x)
                        ),
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
            label: format!("{} % interval ({})", pct(*l), design_name(mname)),
            x: px.clone(),
            lo: get(&|i| i.1),
            hi: get(&|i| i.2),
            color: 0,
            opacity: if k == 0 { 0.15 } else { 0.32 },
        });
    }
    let mut lines = vec![Line {
        label: format!("median ({})", design_name(mname)),
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
            "{}: flat for {} = {} … {} at the input medians — a two-phase plateau, shaded in the figure.",
            fmt::name(&spec.name),
            axis.name,
            fmt::tick(reg.x0),
            fmt::with_unit(&fmt::tick(reg.x1), &axis.unit),
        )));
    }
    let name = fmt::curve_name(&spec.name, &axis.name);
    let (x_label, y_label, title) = if arr {
        (
            format!(
                "1000/{} ({})",
                axis.name,
                fmt::unit(&format!("{}^-1", axis.unit))
            ),
            format!("ln({name} / ({}))", fmt::unit(&spec.unit)),
            format!("Arrhenius plot of {name}"),
        )
    } else {
        (
            fmt::axis_label(&axis.name, &axis.unit),
            fmt::axis_label(&name, &spec.unit),
            format!("{name} vs {}", axis.name),
        )
    };
    // A positive quantity spanning more than two decades is drawn on a log axis.
    let all_y = bands
        .iter()
        .flat_map(|b| b.lo.iter().chain(&b.hi))
        .chain(lines.iter().flat_map(|l| &l.y))
        .copied()
        .filter(|v| v.is_finite());
    let (ymin, ymax) = all_y.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let log_y = !arr && ymin > 0.0 && ymax / ymin > 100.0;
    // The widest band's typical (median) width against the axis range: under 1 % it is invisible
    // at full scale over most of the curve, so a panel below shows the band about the median.
    let typical = bands.first().map_or(0.0, |b| {
        let mut w: Vec<f64> =
            b.lo.iter()
                .zip(&b.hi)
                .map(|(a, c)| c - a)
                .filter(|w| w.is_finite())
                .collect();
        w.sort_by(f64::total_cmp);
        w.get(w.len() / 2).copied().unwrap_or(0.0)
    });
    let thin = !log_y && ymax > ymin && typical < 0.01 * (ymax - ymin);
    let zoom = thin.then(|| XyPlot {
        title: format!("{name}: the band about the median (zoomed)"),
        x_label: x_label.clone(),
        y_label: if arr {
            "ln(value / median)".into()
        } else {
            fmt::axis_label("value − median", &spec.unit)
        },
        bands: bands
            .iter()
            .map(|b| Band {
                lo: b.lo.iter().zip(&lines[0].y).map(|(a, m)| a - m).collect(),
                hi: b.hi.iter().zip(&lines[0].y).map(|(a, m)| a - m).collect(),
                label: String::new(),
                ..b.clone()
            })
            .collect(),
        h_lines: vec![(0.0, String::new())],
        ..Default::default()
    });
    let plot = XyPlot {
        title,
        x_label,
        y_label,
        log_y,
        bands,
        lines,
        points: vec![],
        regions,
        h_lines: vec![],
    };
    let figure = match &zoom {
        Some(z) => xy_with_residuals(&plot, z).ok()?,
        None => xy_figure(&plot).ok()?,
    };
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
    let dashed = if mname != "delta" {
        " and the delta-method mean (dashed)"
    } else {
        ""
    };
    let zoom_note = if zoom.is_some() {
        " The band is typically under 1 % of the axis range, so the lower panel shows it about the median."
    } else {
        ""
    };
    let caption = if arr {
        format!(
            "{name} versus {}: Arrhenius plot; shaded 68 % and 95 % intervals ({}), median line{dashed}.{zoom_note} The CSV holds the untransformed values.",
            axis.name,
            design_name(mname),
        )
    } else {
        format!(
            "{name} versus {}: shaded 68 % and 95 % intervals ({}), median line{dashed}{}.{zoom_note}",
            axis.name,
            design_name(mname),
            if log_y { ", on a log axis" } else { "" }
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

/// The relative difference (Monte Carlo − delta)/|delta| of a mean or sd; `None` when the
/// delta-method value is exactly 0 (undefined, not a large number).
fn rel_diff(delta: f64, mc: f64) -> Option<f64> {
    (delta != 0.0 && delta.is_finite() && mc.is_finite()).then(|| (mc - delta) / delta.abs())
}

/// How far the delta method is off at one point: the larger relative difference of mean and sd
/// (undefined differences rank last).
fn badness(o: &crate::propagate::OutputCheck) -> f64 {
    let m = rel_diff(o.delta_mean, o.mc_mean).map_or(-1.0, f64::abs);
    let s = rel_diff(o.delta_sd, o.mc_sd).map_or(-1.0, f64::abs);
    m.max(s)
}

/// Flat outputs grouped by output (a curve's points together): (name, indices).
fn groups(n: &crate::propagate::NonlinearityReport) -> Vec<(String, Vec<usize>)> {
    let base = |l: &str| l.split('[').next().unwrap_or(l).to_string();
    let mut g: Vec<(String, Vec<usize>)> = Vec::new();
    for (k, o) in n.outputs.iter().enumerate() {
        let b = base(&o.label);
        match g.last_mut() {
            Some((name, v)) if *name == b => v.push(k),
            _ => g.push((b, vec![k])),
        }
    }
    g
}

/// The point shown for each output in the comparison figure and named in its verdict: the
/// worst flagged point if any, else the worst point.
fn worst_points(n: &crate::propagate::NonlinearityReport) -> Vec<usize> {
    groups(n)
        .into_iter()
        .filter_map(|(_, idx)| {
            let flagged: Vec<usize> = idx
                .iter()
                .copied()
                .filter(|&k| n.outputs[k].nonlinear)
                .collect();
            let pool = if flagged.is_empty() { idx } else { flagged };
            pool.into_iter()
                .max_by(|&a, &b| badness(&n.outputs[a]).total_cmp(&badness(&n.outputs[b])))
        })
        .collect()
}

/// One statistic's disagreement in words: `0.52 V vs Monte Carlo 0.50 ± 0.01 V (+4.0 %)`, or
/// "undefined" when the delta value is exactly 0.
fn disagreement(what: &str, delta: f64, mc: f64, se: f64, unit: &str) -> String {
    let sc = Scale::of(mc, se);
    let rel = match rel_diff(delta, mc) {
        Some(r) => format!("Monte Carlo differs by {}", fmt::percent(r)),
        None => "the relative difference is undefined (the delta-method value is exactly 0)".into(),
    };
    format!(
        "delta-method {what} {} vs Monte Carlo {}: {rel}",
        fmt::with_unit(&sc.num(delta), unit),
        fmt::with_unit(&sc.pm(mc, se), unit)
    )
}

/// The nonlinearity verdicts in words, one per flagged output (a curve's points together), or
/// one all-clear line; `true` when any output is flagged.
fn verdicts(n: &crate::propagate::NonlinearityReport, design: &str) -> (bool, Vec<String>) {
    let mut v = Vec::new();
    for (name, idx) in groups(n) {
        let flagged: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&k| n.outputs[k].nonlinear)
            .collect();
        let Some(&worst) = flagged
            .iter()
            .max_by(|&&a, &&b| badness(&n.outputs[a]).total_cmp(&badness(&n.outputs[b])))
        else {
            continue;
        };
        let o = &n.outputs[worst];
        let mut parts = Vec::new();
        if o.mean_z.abs() > crate::propagate::NONLINEARITY_Z {
            parts.push(disagreement(
                "mean",
                o.delta_mean,
                o.mc_mean,
                o.se_mean,
                &o.unit,
            ));
        }
        if o.sd_z.abs() > crate::propagate::NONLINEARITY_Z {
            parts.push(disagreement("sd", o.delta_sd, o.mc_sd, o.se_sd, &o.unit));
        }
        let what = if idx.len() == 1 {
            format!("{}: {}", fmt::label(&o.label), parts.join("; "))
        } else {
            format!(
                "{} (a curve): the delta method disagrees with Monte Carlo at {} of {} points; worst at {}: {}",
                fmt::name(&name),
                flagged.len(),
                idx.len(),
                fmt::label(&o.label)
                    .split_once(" at ")
                    .map_or(o.label.clone(), |(_, x)| x.to_string()),
                parts.join("; ")
            )
        };
        v.push(format!(
            "{what}. The linearisation is not trustworthy here; use the Monte Carlo result ({design})."
        ));
    }
    let any = !v.is_empty();
    if !any {
        v.push(format!(
            "The delta method agrees with Monte Carlo ({design}) for every output: the linearisation is adequate at this input uncertainty."
        ));
    }
    (any, v)
}

/// The delta-vs-Monte-Carlo figure: for every scalar output and the worst point of each curve
/// (the point its verdict names), the relative difference (MC − delta)/|delta| of mean and sd in
/// %, with 95 % Monte Carlo error bars, one series per Monte Carlo design. Points where the
/// delta value is exactly 0 have no relative difference; they are left out and named in the
/// caption.
fn comparison_figure(r: &PropagationResults) -> Option<ReportFigure> {
    let first = r.nonlinearity.first()?;
    let mut picks = worst_points(first);
    picks.truncate(12);
    let mut rows: Vec<(usize, &str)> = Vec::new();
    let mut undefined = Vec::new();
    for &k in &picks {
        let o = &first.outputs[k];
        for (stat, d) in [("mean", o.delta_mean), ("sd", o.delta_sd)] {
            if d != 0.0 && d.is_finite() {
                rows.push((k, stat));
            } else {
                undefined.push(format!("{} ({stat})", fmt::label(&o.label)));
            }
        }
    }
    if rows.is_empty() {
        return None;
    }
    let labels: Vec<String> = rows
        .iter()
        .map(|(k, stat)| format!("{}: {stat}", fmt::label(&first.outputs[*k].label)))
        .collect();
    let mut series = Vec::new();
    let mut csv = String::from(
        "output,statistic,method,delta,monte_carlo,se_monte_carlo,rel_diff_percent,ci95_lo_percent,ci95_hi_percent\n",
    );
    for rep in &r.nonlinearity {
        let mut vals = Vec::new();
        let mut cis = Vec::new();
        for &(k, stat) in &rows {
            let Some(o) = rep.outputs.get(k) else {
                continue;
            };
            let (d, m, se) = if stat == "mean" {
                (o.delta_mean, o.mc_mean, o.se_mean)
            } else {
                (o.delta_sd, o.mc_sd, o.se_sd)
            };
            let scale = 100.0 / d.abs();
            let v = (m - d) * scale;
            let (a, b) = (v - 1.96 * se * scale, v + 1.96 * se * scale);
            vals.push(v);
            cis.push((a, b));
            let _ = writeln!(
                csv,
                "\"{}\",{stat},{},{},{},{},{},{},{}",
                fmt::label(&o.label).replace('"', "'"),
                rep.method,
                csv_num(d),
                csv_num(m),
                csv_num(se),
                csv_num(v),
                csv_num(a),
                csv_num(b)
            );
        }
        series.push((design_name(&rep.method), vals, Some(cis)));
    }
    let plot = BarPlot {
        title: "Monte Carlo vs delta method".into(),
        x_label: "(Monte Carlo − delta) / |delta| (%)".into(),
        labels,
        series,
    };
    let figure = bar_figure(&plot).ok()?;
    let undefined_note = if undefined.is_empty() {
        String::new()
    } else {
        format!(
            " Not shown, because the delta-method value is exactly 0 there and a relative difference is undefined: {}.",
            undefined.join(", ")
        )
    };
    Some(ReportFigure {
        name: "delta_vs_mc".into(),
        caption: format!(
            "Relative difference between the Monte Carlo and the delta-method mean and standard deviation of each output (for a curve, the point its verdict names), with 95 % Monte Carlo error bars. Bars near zero: the linearisation is adequate.{undefined_note}"
        ),
        figure,
        csv,
    })
}

/// A Monte Carlo design's short name as a reader reads it.
fn design_name(short: &str) -> String {
    match short {
        "mc" => "Monte Carlo".into(),
        "qmc" => "quasi-Monte Carlo (Sobol)".into(),
        "lhs" => "Latin hypercube".into(),
        "delta" => "delta method".into(),
        s => s.into(),
    }
}

/// A transform's label as the distribution a reader knows.
fn distribution_name(transform: &str) -> String {
    match transform {
        "identity" => "normal".into(),
        "log" => "log-normal".into(),
        t if t.starts_with("logit") => format!("logit-normal on {}", &t[5..]),
        t => t.into(),
    }
}

/// Whether flat output `k` is a positive quantity: every Monte Carlo interval lies above 0.
fn positive(methods: &[(String, Vec<Row>)], k: usize) -> bool {
    let mut any = false;
    for (m, rows) in methods {
        if m == "delta" {
            continue;
        }
        any = true;
        let Some(row) = rows.get(k) else {
            return false;
        };
        if row.mean <= 0.0
            || row
                .intervals
                .iter()
                .any(|(_, a, _)| a.is_none_or(|v| v <= 0.0))
        {
            return false;
        }
    }
    any
}

/// The physical range of an output, as the Monte Carlo draws show it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bounds {
    /// Any real value.
    Real,
    /// Above 0 (every Monte Carlo interval above 0).
    Positive,
    /// A dimensionless fraction in (0, 1).
    Fraction,
}

fn range_of(methods: &[(String, Vec<Row>)], k: usize, unit: &str) -> Bounds {
    if !positive(methods, k) {
        return Bounds::Real;
    }
    let below_one = methods
        .iter()
        .filter(|(m, _)| m != "delta")
        .all(|(_, rows)| {
            rows.get(k).is_some_and(|r| {
                r.intervals
                    .iter()
                    .all(|(_, _, b)| b.is_some_and(|v| v < 1.0))
            })
        });
    if below_one && fmt::unit(unit).is_empty() {
        Bounds::Fraction
    } else {
        Bounds::Positive
    }
}

/// The delta method's interval on the scale where the output is unbounded: for a positive
/// output the delta method applied to ln y (sd σ/μ), exp(ln μ ± z·σ/μ); for a fraction to
/// logit y (sd σ/(μ(1 − μ))), logistic(logit μ ± z·σ/(μ(1 − μ)));
/// `None` for an unbounded output, or where the linear-scale interval stays in range and the
/// relative sd is under 10 % (the two agree to the digits shown).
fn transformed_interval(
    range: Bounds,
    mean: f64,
    sd: f64,
    level: f64,
) -> Option<(f64, f64, &'static str)> {
    let z = crate::dist::sample::standard_normal_quantile(0.5 + level / 2.0);
    let (lo, hi) = (mean - z * sd, mean + z * sd);
    let leaves = match range {
        Bounds::Real => return None,
        Bounds::Positive => lo <= 0.0,
        Bounds::Fraction => lo <= 0.0 || hi >= 1.0,
    };
    if !(leaves || sd > 0.1 * mean.abs()) || mean <= 0.0 {
        return None;
    }
    match range {
        Bounds::Fraction if mean < 1.0 => {
            let s = sd / (mean * (1.0 - mean));
            let l = (mean / (1.0 - mean)).ln();
            let f = |x: f64| 1.0 / (1.0 + (-x).exp());
            Some((f(l - z * s), f(l + z * s), "logit"))
        }
        _ => {
            let s = sd / mean;
            Some((mean * (-z * s).exp(), mean * (z * s).exp(), "log"))
        }
    }
}

/// The sections of a propagation run: one part whose summary gives what was run, the key
/// numbers and the warnings, with the details (inputs, outputs per method, curves, the delta
/// method vs Monte Carlo, run details) below it.
pub fn propagation_sections(r: &PropagationResults) -> Vec<Section> {
    let methods = method_rows(r);
    let meta = flat_meta(r);
    let mut details = Vec::new();
    let design = r
        .monte_carlo
        .first()
        .map(|m| format!("{}, {} samples", m.design.describe(), m.samples_evaluated))
        .unwrap_or_default();
    let verdict: Vec<(bool, Vec<String>)> = r
        .nonlinearity
        .iter()
        .map(|n| {
            let d = r
                .monte_carlo
                .iter()
                .find(|m| m.design.short_name() == n.method)
                .map_or(n.method.clone(), |m| m.design.describe().to_string());
            verdicts(n, &d)
        })
        .collect();

    // Inputs.
    let mut t = Table {
        caption: "Inputs (atomistic estimates with their uncertainty)".into(),
        header: vec![
            "input".into(),
            "distribution".into(),
            "mean ± sd".into(),
            "median".into(),
            "relative sd".into(),
        ],
        ..Default::default()
    };
    for i in &r.inputs {
        let sc = Scale::of(i.mean, i.sd);
        t.rows.push(vec![
            fmt::name(&i.name),
            distribution_name(&i.transform),
            fmt::with_unit(&sc.pm(i.mean, i.sd), &i.unit),
            fmt::with_unit(&sc.num(i.median), &i.unit),
            if i.mean != 0.0 {
                fmt::percent(i.sd / i.mean.abs())
            } else {
                "–".into()
            },
        ]);
    }
    let mut blocks = vec![];
    if !r.source.trim().is_empty() {
        blocks.push(Block::Paragraph(
            "Source, as the priors file states it:".into(),
        ));
        blocks.push(Block::Quote(r.source.trim().to_string()));
    }
    blocks.push(Block::Table(t));
    details.push(Section::new("Inputs", blocks));

    // Scalar outputs, per method; the key numbers for the summary.
    let scalar_idx: Vec<usize> = (0..meta.len()).filter(|&k| meta[k].2.is_none()).collect();
    let mut key = Table {
        caption: "Key numbers".into(),
        header: vec![
            "output".into(),
            "mean ± sd".into(),
            "95 % interval".into(),
            "from".into(),
        ],
        ..Default::default()
    };
    let mut unphysical = Vec::new();
    if !scalar_idx.is_empty() && !methods.is_empty() {
        let levels: Vec<f64> = methods[0].1[0].intervals.iter().map(|i| i.0).collect();
        let mut header = vec![
            "output".into(),
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
            let (label, unit) = (&meta[k].0, &meta[k].1);
            let range = range_of(&methods, k, unit);
            for (m, rows) in &methods {
                let row = &rows[k];
                let sc = Scale::of(row.mean, row.sd);
                let u = |s: String| fmt::with_unit(&s, unit);
                let tr: Vec<Option<(f64, f64, &str)>> = row
                    .intervals
                    .iter()
                    .map(|(l, _, _)| {
                        if m == "delta" {
                            transformed_interval(range, row.mean, row.sd, *l)
                        } else {
                            None
                        }
                    })
                    .collect();
                let scale_name = tr.iter().flatten().map(|t| t.2).next();
                let mut cells = vec![
                    label.clone(),
                    match scale_name {
                        Some(n) => format!("delta method ({n} scale)"),
                        None => design_name(m),
                    },
                    u(sc.pm(row.mean, row.sd)),
                    row.median.map_or("–".into(), |v| u(sc.num(v))),
                ];
                for ((_, a, b), t) in row.intervals.iter().zip(&tr) {
                    let (a, b) = match (scale_name, t) {
                        (Some(_), Some((x, y, _))) => (Some(*x), Some(*y)),
                        _ => (*a, *b),
                    };
                    cells.push(match (a, b) {
                        (Some(a), Some(b)) => u(sc.interval(a, b)),
                        _ => "–".into(),
                    });
                }
                let flagged = r
                    .nonlinearity
                    .iter()
                    .any(|n| n.method == *m && n.outputs.get(k).is_some_and(|o| o.nonlinear));
                if flagged {
                    t.warn_rows.push(t.rows.len());
                }
                t.rows.push(cells);
                // The linear-scale delta interval, where it leaves the physical range.
                let outside = |a: f64, b: f64| -> Option<&'static str> {
                    if a < 0.0 {
                        Some("below 0")
                    } else if range == Bounds::Fraction && b > 1.0 {
                        Some("above 1")
                    } else {
                        None
                    }
                };
                if scale_name.is_some()
                    && row.intervals.iter().any(|(_, a, b)| match (a, b) {
                        (Some(a), Some(b)) => outside(*a, *b).is_some(),
                        _ => false,
                    })
                {
                    let mut cells = vec![
                        label.clone(),
                        "delta method (linear scale)".into(),
                        u(sc.pm(row.mean, row.sd)),
                        "–".into(),
                    ];
                    for (_, a, b) in &row.intervals {
                        cells.push(match (a, b) {
                            (Some(a), Some(b)) => match outside(*a, *b) {
                                Some(why) => {
                                    format!("{} — {why}: unphysical", u(sc.interval(*a, *b)))
                                }
                                None => u(sc.interval(*a, *b)),
                            },
                            _ => "–".into(),
                        });
                    }
                    t.warn_rows.push(t.rows.len());
                    t.rows.push(cells);
                    unphysical.push(label.clone());
                }
            }
            // Key number: the first Monte Carlo run, else the delta method (log scale when positive).
            if key.rows.len() < 10 {
                let (m, rows) = methods
                    .iter()
                    .find(|(m, _)| m != "delta")
                    .unwrap_or(&methods[0]);
                let row = &rows[k];
                let sc = Scale::of(row.mean, row.sd);
                let i95 = row
                    .intervals
                    .iter()
                    .find(|i| (i.0 - 0.95).abs() < 1e-9)
                    .map(|&(l, a, b)| {
                        match (m == "delta")
                            .then(|| transformed_interval(range, row.mean, row.sd, l))
                            .flatten()
                        {
                            Some((x, y, _)) => (Some(x), Some(y)),
                            None => (a, b),
                        }
                    });
                key.rows.push(vec![
                    label.clone(),
                    fmt::with_unit(&sc.pm(row.mean, row.sd), unit),
                    match i95 {
                        Some((Some(a), Some(b))) => fmt::with_unit(&sc.interval(a, b), unit),
                        _ => "–".into(),
                    },
                    design_name(m),
                ]);
            }
        }
        details.push(Section::new(
            "Outputs",
            vec![
                Block::Paragraph(
                    "Highlighted rows: the Monte Carlo run disagrees with the delta method, or the delta method's linear-scale interval leaves the physical range (see “Reading this report”).".into(),
                ),
                Block::Table(t),
            ],
        ));
    }

    // Curves.
    let n_curves = r.curves().len();
    let mut curve_names = Vec::new();
    if n_curves > 0 {
        let mut blocks = Vec::new();
        // A curve of ln y against 1/T beside a curve of y against T is the same Arrhenius plot:
        // drawn once (the y curve's), the ln curve named in words.
        let names: Vec<String> = r.curves().iter().map(|(s, _)| s.name.clone()).collect();
        let base = |n: &str| n.split("_vs_").next().unwrap_or(n).to_string();
        for c in 0..n_curves {
            if let Some(rest) = names[c].strip_prefix("ln_")
                && let Some(other) = names.iter().find(|o| base(o) == base(rest))
            {
                blocks.push(Block::Paragraph(format!(
                    "{} is the Arrhenius plot of {}, drawn once in this section.",
                    fmt::name(&names[c]),
                    fmt::name(other)
                )));
                curve_names.push(fmt::name(&names[c]));
                continue;
            }
            if let Some((f, extra)) = curve_figure(r, c, &methods) {
                blocks.extend(extra);
                blocks.push(Block::Figure(f));
            }
            if let Some((spec, _)) = r.curves().into_iter().nth(c) {
                curve_names.push(fmt::name(&spec.name));
            }
        }
        details.push(Section::new("Curves with uncertainty bands", blocks));
    }

    // Delta vs MC and nonlinearity.
    if !r.nonlinearity.is_empty() {
        let mut blocks = Vec::new();
        for (n, (any, msgs)) in r.nonlinearity.iter().zip(&verdict) {
            for m in msgs {
                let who = design_name(&n.method);
                if *any {
                    blocks.push(Block::Warning(format!("{who}: {m}")));
                } else {
                    blocks.push(Block::Paragraph(format!("{who}: {m}")));
                }
            }
        }
        match comparison_figure(r) {
            Some(f) => blocks.push(Block::Figure(f)),
            None => blocks.push(Block::Paragraph(
                "No comparison figure: at every point it would show, the delta-method value is exactly 0, where a relative difference is undefined; the verdicts above give the values.".into(),
            )),
        }
        details.push(Section::new(
            "Delta method vs Monte Carlo (nonlinearity check)",
            blocks,
        ));
    }

    // Run details.
    let mut run_warnings = Vec::new();
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
                m.design.describe().into(),
                m.seed.to_string(),
                m.samples_evaluated.to_string(),
                m.n_valid.to_string(),
                format!(
                    "{} ({})",
                    m.n_failed + m.n_nonfinite,
                    fmt::percent(m.failure_fraction)
                ),
                fmt::words(&format!("{:?}", m.stop)),
                m.se_method.clone(),
            ]);
        }
        let mut blocks = vec![Block::Table(t)];
        for m in &r.monte_carlo {
            if let Some(f) = &m.first_failure {
                let w = format!(
                    "{}: {} evaluations failed; first: {f}",
                    m.design.describe(),
                    m.n_failed + m.n_nonfinite
                );
                run_warnings.push(w.clone());
                blocks.push(Block::Warning(w));
            }
        }
        details.push(Section::new("Run details", blocks));
    }

    // The summary: what was run, key numbers, warnings.
    let mut summary = Vec::new();
    let inputs: Vec<String> = r.inputs.iter().map(|i| fmt::name(&i.name)).collect();
    let mut what = format!(
        "Uncertainty propagation of {} input{} ({}) through the model",
        inputs.len(),
        if inputs.len() == 1 { "" } else { "s" },
        inputs.join(", ")
    );
    match (r.delta.is_some(), design.is_empty()) {
        (true, false) => {
            let _ = write!(what, " by the delta method and by {design}");
        }
        (true, true) => what.push_str(" by the delta method"),
        (false, false) => {
            let _ = write!(what, " by {design}");
        }
        (false, true) => {}
    }
    what.push('.');
    if !curve_names.is_empty() {
        let _ = write!(
            what,
            " Curves with uncertainty bands: {}.",
            curve_names.join(", ")
        );
    }
    summary.push(Block::Paragraph(what));
    if !key.rows.is_empty() {
        summary.push(Block::Table(key));
    }
    for (n, (any, msgs)) in r.nonlinearity.iter().zip(&verdict) {
        if *any {
            summary.push(Block::Warning(format!(
                "{}: the delta method is not trustworthy for {} output{} (details below: “Delta method vs Monte Carlo”).",
                design_name(&n.method),
                msgs.len(),
                if msgs.len() == 1 { "" } else { "s" }
            )));
        }
    }
    if !unphysical.is_empty() {
        summary.push(Block::Warning(format!(
            "The delta method's linear-scale interval leaves the physical range (below 0, or above 1 for a fraction) for {}; the interval shown is taken on the log (logit) scale.",
            unphysical.join(", ")
        )));
    }
    for w in run_warnings {
        summary.push(Block::Warning(w));
    }
    let heading = if r.title.is_empty() {
        "Uncertainty propagation".to_string()
    } else {
        r.title.clone()
    };
    vec![Section::part(heading, summary, details)]
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
        assert_eq!(rel_diff(0.0, 1e-3), None);
        assert_eq!(distribution_name("log"), "log-normal");
        assert_eq!(g(1.5e-12), "1.500e-12");
        assert_eq!(g(250.0), "250.0");
    }
}
