//! Writers for propagation results: JSON for machines, CSV and Markdown tables for people, and
//! one band table per curve output (axis value, mean, sd, interval bounds). Every number carries
//! its unit (in a `unit` column or in the column header). Files are written atomically.

use super::{PropagateError, PropagationResults};
use crate::dist::sample::standard_normal_quantile;
use crate::model::OutputShape;
use crate::output::{csv_field, write_atomic};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// File names written by [`write_results`] (curve band tables are `band_<output>.csv`).
pub const JSON_FILE: &str = "propagation.json";
/// Name of the CSV results file in a propagate run folder.
pub const CSV_FILE: &str = "propagation.csv";
/// Name of the Markdown results file in a propagate run folder.
pub const MARKDOWN_FILE: &str = "propagation.md";

/// One method's estimate of one flat output, as the tables show it.
struct Row {
    mean: f64,
    sd: f64,
    se_mean: Option<f64>,
    se_sd: Option<f64>,
    median: Option<f64>,
    /// (level, lower, upper)
    intervals: Vec<(f64, Option<f64>, Option<f64>)>,
}

/// The levels shown: those of the first Monte Carlo run, else 68 % and 95 %.
fn levels(r: &PropagationResults) -> Vec<f64> {
    r.monte_carlo
        .first()
        .map(|m| m.levels.clone())
        .unwrap_or_else(|| vec![0.68, 0.95])
}

/// (method name, one row per flat output) for the delta method and every Monte Carlo run.
/// Delta-method intervals are the normal approximation mean ± Φ⁻¹((1+L)/2)·sd.
fn method_rows(r: &PropagationResults) -> Vec<(String, Vec<Row>)> {
    let lv = levels(r);
    let mut v = Vec::new();
    if let Some(d) = &r.delta {
        let rows = d
            .mean
            .iter()
            .zip(&d.sd)
            .map(|(&m, &s)| Row {
                mean: m,
                sd: s,
                se_mean: None,
                se_sd: None,
                median: Some(m),
                intervals: lv
                    .iter()
                    .map(|&l| {
                        let z = standard_normal_quantile(0.5 * (1.0 + l));
                        (l, Some(m - z * s), Some(m + z * s))
                    })
                    .collect(),
            })
            .collect();
        v.push(("delta".to_string(), rows));
    }
    for mc in &r.monte_carlo {
        let rows = mc
            .outputs
            .iter()
            .map(|o| Row {
                mean: o.mean,
                sd: o.sd,
                se_mean: Some(o.se_mean),
                se_sd: Some(o.se_sd),
                median: o.quantile(0.5).and_then(|q| q.value),
                intervals: lv
                    .iter()
                    .map(|&l| {
                        let i = o.intervals.iter().find(|i| (i.level - l).abs() < 1e-12);
                        (l, i.and_then(|i| i.lower), i.and_then(|i| i.upper))
                    })
                    .collect(),
            })
            .collect();
        v.push((mc.design.short_name().to_string(), rows));
    }
    v
}

fn pct(l: f64) -> String {
    let s = format!("{:.2}", 100.0 * l);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Full-precision number for CSV (empty when absent or not finite).
fn num(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:e}"),
        _ => String::new(),
    }
}

/// Four significant digits for people.
fn sig(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if (1e-3..1e5).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{x:.digits$}")
    } else {
        format!("{x:.3e}")
    }
}

fn sig_opt(x: Option<f64>) -> String {
    x.map_or("–".into(), sig)
}

/// The flat outputs as (output name, unit, axis name, axis unit, axis value) in order.
fn flat_meta(r: &PropagationResults) -> Vec<(String, String, String, String, Option<f64>)> {
    let mut v = Vec::new();
    for o in &r.outputs {
        match &o.shape {
            OutputShape::Scalar => v.push((
                o.name.clone(),
                o.unit.clone(),
                String::new(),
                String::new(),
                None,
            )),
            OutputShape::Curve(a) => {
                for x in &a.values {
                    v.push((
                        o.name.clone(),
                        o.unit.clone(),
                        a.name.clone(),
                        a.unit.clone(),
                        Some(*x),
                    ));
                }
            }
        }
    }
    v
}

/// The long CSV: one row per (method, flat output); every number of a row is in its `unit`
/// column (the axis value in `axis_unit`).
pub fn to_csv(r: &PropagationResults) -> String {
    let lv = levels(r);
    let mut s =
        String::from("method,output,unit,axis,axis_unit,axis_value,mean,sd,se_mean,se_sd,median");
    for l in &lv {
        let _ = write!(s, ",lower_{p},upper_{p}", p = pct(*l));
    }
    s.push('\n');
    let meta = flat_meta(r);
    for (method, rows) in method_rows(r) {
        for (row, (name, unit, axis, axis_unit, x)) in rows.iter().zip(&meta) {
            let _ = write!(
                s,
                "{method},{},{},{},{},{},{},{},{},{},{}",
                csv_field(name),
                csv_field(unit),
                csv_field(axis),
                csv_field(axis_unit),
                num(*x),
                num(Some(row.mean)),
                num(Some(row.sd)),
                num(row.se_mean),
                num(row.se_sd),
                num(row.median)
            );
            for (_, lo, hi) in &row.intervals {
                let _ = write!(s, ",{},{}", num(*lo), num(*hi));
            }
            s.push('\n');
        }
    }
    s
}

/// The band table of one curve output: axis value, then per method mean, sd and interval
/// bounds; units in the headers.
pub fn band_csv(r: &PropagationResults, curve: usize) -> Option<String> {
    let (spec, range) = r.curves().into_iter().nth(curve)?;
    let OutputShape::Curve(axis) = &spec.shape else {
        return None;
    };
    let lv = levels(r);
    let methods = method_rows(r);
    let u = &spec.unit;
    let mut s = csv_field(&format!("{} [{}]", axis.name, axis.unit));
    for (m, _) in &methods {
        let _ = write!(s, ",{}", csv_field(&format!("{m}_mean [{u}]")));
        let _ = write!(s, ",{}", csv_field(&format!("{m}_sd [{u}]")));
        for l in &lv {
            let _ = write!(s, ",{}", csv_field(&format!("{m}_lower_{} [{u}]", pct(*l))));
            let _ = write!(s, ",{}", csv_field(&format!("{m}_upper_{} [{u}]", pct(*l))));
        }
    }
    s.push('\n');
    for (i, x) in axis.values.iter().enumerate() {
        s.push_str(&num(Some(*x)));
        for (_, rows) in &methods {
            let row = &rows[range.start + i];
            let _ = write!(s, ",{},{}", num(Some(row.mean)), num(Some(row.sd)));
            for (_, lo, hi) in &row.intervals {
                let _ = write!(s, ",{},{}", num(*lo), num(*hi));
            }
        }
        s.push('\n');
    }
    Some(s)
}

/// A Markdown report: inputs, scalar outputs per method, curve bands, the delta-method
/// variance decomposition, the nonlinearity verdicts and the Monte Carlo run details.
pub fn to_markdown(r: &PropagationResults) -> String {
    let lv = levels(r);
    let mut s = String::new();
    let _ = writeln!(s, "# Propagation: {}\n", r.title);
    if !r.source.is_empty() {
        let _ = writeln!(s, "Source: {}\n", r.source);
    }
    let _ = writeln!(s, "## Inputs\n");
    let _ = writeln!(s, "| input | unit | transform | mean | sd | median |");
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for i in &r.inputs {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            i.name,
            i.unit,
            i.transform,
            sig(i.mean),
            sig(i.sd),
            sig(i.median)
        );
    }
    let methods = method_rows(r);
    let meta = flat_meta(r);
    let mut header = String::from("| output | unit | method | mean | sd | median |");
    let mut rule = String::from("|---|---|---|---|---|---|");
    for l in &lv {
        let _ = write!(header, " {} % interval |", pct(*l));
        rule.push_str("---|");
    }
    let scalars: Vec<usize> = (0..meta.len()).filter(|&j| meta[j].4.is_none()).collect();
    if !scalars.is_empty() {
        let _ = writeln!(
            s,
            "\n## Outputs\n\nMonte Carlo values are followed by ± their Monte Carlo standard error; delta-method intervals are the normal approximation mean ± z·sd.\n"
        );
        let _ = writeln!(s, "{header}\n{rule}");
        for &j in &scalars {
            for (m, rows) in &methods {
                let row = &rows[j];
                let pm = |v: f64, se: Option<f64>| match se {
                    Some(e) => format!("{} ± {}", sig(v), sig(e)),
                    None => sig(v),
                };
                let _ = write!(
                    s,
                    "| {} | {} | {m} | {} | {} | {} |",
                    meta[j].0,
                    meta[j].1,
                    pm(row.mean, row.se_mean),
                    pm(row.sd, row.se_sd),
                    sig_opt(row.median)
                );
                for (_, lo, hi) in &row.intervals {
                    let _ = write!(s, " [{}, {}] |", sig_opt(*lo), sig_opt(*hi));
                }
                s.push('\n');
            }
        }
    }
    for (spec, range) in r.curves() {
        let OutputShape::Curve(axis) = &spec.shape else {
            continue;
        };
        let _ = writeln!(
            s,
            "\n## Curve {} [{}] vs {} [{}]\n",
            spec.name, spec.unit, axis.name, axis.unit
        );
        for (m, rows) in &methods {
            let _ = writeln!(s, "\n{m}:\n");
            let mut h = format!(
                "| {} [{}] | mean [{u}] | sd [{u}] |",
                axis.name,
                axis.unit,
                u = spec.unit
            );
            let mut ru = String::from("|---|---|---|");
            for l in &lv {
                let _ = write!(h, " {} % interval [{}] |", pct(*l), spec.unit);
                ru.push_str("---|");
            }
            let _ = writeln!(s, "{h}\n{ru}");
            for (i, x) in axis.values.iter().enumerate() {
                let row = &rows[range.start + i];
                let _ = write!(s, "| {} | {} | {} |", sig(*x), sig(row.mean), sig(row.sd));
                for (_, lo, hi) in &row.intervals {
                    let _ = write!(s, " [{}, {}] |", sig_opt(*lo), sig_opt(*hi));
                }
                s.push('\n');
            }
        }
    }
    if let Some(d) = &r.delta {
        let _ = writeln!(
            s,
            "\n## Delta-method variance decomposition\n\nVar(y) ≈ Σ S_i²·Var(z_i) + 2·Σ S_i·S_j·Cov(z_i, z_j), with z the transformed inputs (ln x for log inputs) and S_i = ∂y/∂z_i at the centre.\n"
        );
        for &j in &scalars {
            let b = &d.decomposition[j];
            let _ = writeln!(
                s,
                "{} (variance {} {}²):\n",
                b.output,
                sig(b.variance),
                b.unit
            );
            let _ = writeln!(
                s,
                "| term | S_i [{}/z unit] | contribution [{}²] | share |",
                b.unit, b.unit
            );
            let _ = writeln!(s, "|---|---|---|---|");
            for t in &b.terms {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} % |",
                    t.input,
                    sig(t.sensitivity),
                    sig(t.contribution),
                    sig(100.0 * t.fraction)
                );
            }
            for c in &b.cross_terms {
                let _ = writeln!(
                    s,
                    "| 2·cov({}, {}) (ρ = {}) | | {} | {} % |",
                    c.input_a,
                    c.input_b,
                    sig(c.correlation),
                    sig(c.contribution),
                    sig(100.0 * c.fraction)
                );
            }
            s.push('\n');
        }
    }
    if !r.nonlinearity.is_empty() {
        let _ = writeln!(s, "\n## Is the linearisation trustworthy?\n");
        for rep in &r.nonlinearity {
            for m in &rep.messages {
                let _ = writeln!(s, "- ({}) {m}", rep.method);
            }
        }
    }
    if !r.monte_carlo.is_empty() {
        let _ = writeln!(s, "\n## Monte Carlo runs\n");
        let _ = writeln!(
            s,
            "| method | samples | valid | failed | failure fraction | stop | seed |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for m in &r.monte_carlo {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} % | {:?} | {} |",
                m.design.describe(),
                m.samples_evaluated,
                m.n_valid,
                m.n_failed + m.n_nonfinite,
                sig(100.0 * m.failure_fraction),
                m.stop,
                m.seed
            );
        }
        s.push('\n');
        for m in &r.monte_carlo {
            let _ = writeln!(
                s,
                "- {}: standard errors by {}.",
                m.design.short_name(),
                m.se_method
            );
            if let Some(f) = &m.first_failure {
                let _ = writeln!(
                    s,
                    "- {}: first failed evaluation: {f}",
                    m.design.short_name()
                );
            }
        }
    }
    s
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Write `propagation.json`, `propagation.csv`, `propagation.md` and one `band_<output>.csv`
/// per curve output into `dir` (created if needed), each atomically. Returns the paths written.
pub fn write_results(
    dir: &Path,
    results: &PropagationResults,
) -> Result<Vec<PathBuf>, PropagateError> {
    let mut written = Vec::new();
    let mut put = |name: String, bytes: &[u8]| -> Result<(), PropagateError> {
        let path = dir.join(name);
        write_atomic(&path, bytes).map_err(|source| PropagateError::Io {
            path: path.display().to_string(),
            source,
        })?;
        written.push(path);
        Ok(())
    };
    put(
        JSON_FILE.into(),
        serde_json::to_string_pretty(results)?.as_bytes(),
    )?;
    put(CSV_FILE.into(), to_csv(results).as_bytes())?;
    put(MARKDOWN_FILE.into(), to_markdown(results).as_bytes())?;
    let names: Vec<String> = results
        .curves()
        .iter()
        .map(|(o, _)| o.name.clone())
        .collect();
    for (i, name) in names.iter().enumerate() {
        if let Some(t) = band_csv(results, i) {
            put(format!("band_{}.csv", sanitize(name)), t.as_bytes())?;
        }
    }
    Ok(written)
}
