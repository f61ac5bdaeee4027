//! The sensitivity report: "which calculation to refine next" (ranking table), Sobol S1/ST
//! tornado charts with bootstrap confidence intervals, Shapley bars, local elasticities,
//! the delta-method variance shares with covariance terms, and Morris screening.

use super::format as fmt;
use super::html::{Block, Report, ReportFigure, Section, Table};
use super::plots::{BarPlot, BarSeries, bar_figure};
use super::propagate_report::stem;
use super::provenance::Provenance;
use crate::sensitivity::{
    AllResults, LocalResult, MorrisResult, RankingResult, ShapleyResult, SobolResult,
    VarianceResult,
};
use std::fmt::Write as _;

/// File name the sensitivity CLI writes its results to (an [`AllResults`] or one method's result).
pub const SENSITIVITY_JSON: &str = "sensitivity.json";

/// Whichever sensitivity results a run produced (any subset of the methods).
#[derive(Debug, Clone, Default)]
pub struct SensitivityParts {
    /// Local elasticities at the median.
    pub local: Option<LocalResult>,
    /// Delta-method variance decomposition ("known exactly" shares).
    pub variance: Option<VarianceResult>,
    /// Refine-next ranking ("sd halved" shares).
    pub ranking: Option<RankingResult>,
    /// Sobol indices.
    pub sobol: Option<SobolResult>,
    /// Morris screening.
    pub morris: Option<MorrisResult>,
    /// Shapley effects.
    pub shapley: Option<ShapleyResult>,
}

impl From<AllResults> for SensitivityParts {
    fn from(a: AllResults) -> Self {
        Self {
            local: Some(a.local),
            variance: Some(a.variance),
            ranking: Some(a.ranking),
            sobol: Some(a.sobol),
            morris: Some(a.morris),
            shapley: Some(a.shapley),
        }
    }
}

impl SensitivityParts {
    /// Parse `sensitivity.json`: an [`AllResults`], one method's result, or an object whose
    /// keys are method names (`local`, `variance`, `ranking`, `sobol`, `morris`, `shapley`)
    /// holding some of them.
    ///
    /// serde_json writes NaN (e.g. an undefined index) as `null`, which does not read back
    /// into an `f64`; when the plain parse fails, `null`s are read as a sentinel and mapped back
    /// to NaN (or `None` for optional fields).
    pub fn from_json(text: &str) -> Result<Self, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        match Self::from_value(v.clone()) {
            Ok(p) => Ok(p),
            Err(e) => {
                let mut w = v;
                nulls_to_sentinel(&mut w);
                let mut p = Self::from_value(w).map_err(|e2| format!("{e} (retry: {e2})"))?;
                p.sentinel_to_nan();
                Ok(p)
            }
        }
    }

    fn sentinel_to_nan(&mut self) {
        fn f(v: &mut [f64]) {
            for x in v {
                if *x == SENTINEL {
                    *x = f64::NAN;
                }
            }
        }
        fn o(v: &mut [Option<f64>]) {
            for x in v {
                if *x == Some(SENTINEL) {
                    *x = None;
                }
            }
        }
        fn c(v: &mut [[f64; 2]]) {
            for a in v {
                f(a);
            }
        }
        if let Some(s) = &mut self.sobol {
            for out in s.per_output.iter_mut().chain(s.aggregated.iter_mut()) {
                f(&mut out.first);
                f(&mut out.total);
                f(&mut out.first_se);
                f(&mut out.total_se);
                c(&mut out.first_ci);
                c(&mut out.total_ci);
                f(std::slice::from_mut(&mut out.mean));
                f(std::slice::from_mut(&mut out.variance));
            }
        }
        if let Some(s) = &mut self.shapley {
            for out in s.per_output.iter_mut().chain(s.aggregated.iter_mut()) {
                f(&mut out.effects);
                f(&mut out.effects_se);
                f(&mut out.shares);
                f(std::slice::from_mut(&mut out.variance));
            }
        }
        if let Some(r) = &mut self.ranking {
            for out in r.per_output.iter_mut().chain(r.aggregated.iter_mut()) {
                f(&mut out.reduction);
                f(&mut out.reduction_fraction);
                f(std::slice::from_mut(&mut out.variance));
                if out.variance_mc == Some(SENTINEL) {
                    out.variance_mc = None;
                }
                if let Some(m) = &mut out.reduction_mc {
                    f(m);
                }
            }
        }
        if let Some(l) = &mut self.local {
            for e in &mut l.elasticity {
                o(e);
            }
            for a in &mut l.aggregated {
                o(&mut a.rms_elasticity);
            }
            f(&mut l.values);
        }
        if let Some(v) = &mut self.variance {
            for out in v.per_output.iter_mut().chain(v.aggregated.iter_mut()) {
                f(&mut out.own);
                f(&mut out.own_share);
                f(std::slice::from_mut(&mut out.value));
                for t in &mut out.cross {
                    f(std::slice::from_mut(&mut t.value));
                    f(std::slice::from_mut(&mut t.share));
                }
            }
        }
        if let Some(m) = &mut self.morris {
            for out in m.per_output.iter_mut().chain(m.aggregated.iter_mut()) {
                f(&mut out.mu);
                f(&mut out.mu_star);
                f(&mut out.sigma);
            }
        }
    }

    fn from_value(v: serde_json::Value) -> Result<Self, String> {
        if let Ok(a) = serde_json::from_value::<AllResults>(v.clone()) {
            return Ok(a.into());
        }
        let mut p = SensitivityParts::default();
        // Keyed subset.
        if let Some(obj) = v.as_object() {
            let mut any = false;
            macro_rules! key {
                ($k:literal, $field:ident) => {
                    if let Some(x) = obj.get($k) {
                        p.$field = Some(
                            serde_json::from_value(x.clone())
                                .map_err(|e| format!("{}: {e}", $k))?,
                        );
                        any = true;
                    }
                };
            }
            key!("local", local);
            key!("variance", variance);
            key!("ranking", ranking);
            key!("sobol", sobol);
            key!("morris", morris);
            key!("shapley", shapley);
            if any {
                return Ok(p);
            }
        }
        // A single method's result (tried from the most to the least specific field set).
        if let Ok(r) = serde_json::from_value::<SobolResult>(v.clone()) {
            p.sobol = Some(r);
        } else if let Ok(r) = serde_json::from_value::<ShapleyResult>(v.clone()) {
            p.shapley = Some(r);
        } else if let Ok(r) = serde_json::from_value::<MorrisResult>(v.clone()) {
            p.morris = Some(r);
        } else if let Ok(r) = serde_json::from_value::<RankingResult>(v.clone()) {
            p.ranking = Some(r);
        } else if let Ok(r) = serde_json::from_value::<LocalResult>(v.clone()) {
            p.local = Some(r);
        } else if let Ok(r) = serde_json::from_value::<VarianceResult>(v.clone()) {
            p.variance = Some(r);
        } else {
            let why = serde_json::from_value::<AllResults>(v)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            return Err(format!(
                "not a sensitivity result (expected AllResults or one method's result; as AllResults: {why})"
            ));
        }
        Ok(p)
    }
}

/// Stand-in for a `null` (a NaN written by serde_json) while parsing.
const SENTINEL: f64 = -1.234_567_890_123e300;

fn nulls_to_sentinel(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Null => *v = serde_json::json!(SENTINEL),
        serde_json::Value::Array(a) => a.iter_mut().for_each(nulls_to_sentinel),
        // `reduction_mc` is an Option<Vec<f64>>: its null means None.
        serde_json::Value::Object(o) => o
            .iter_mut()
            .filter(|(k, _)| k.as_str() != "reduction_mc")
            .for_each(|(_, v)| nulls_to_sentinel(v)),
        _ => {}
    }
}

/// Headline outputs: scalar flat outputs (labels without `[`) and curve aggregates, at most 6.
fn headline<'a, T>(
    per_output: &'a [T],
    aggregated: &'a [T],
    label: impl Fn(&T) -> &str,
) -> Vec<&'a T> {
    let mut v: Vec<&T> = per_output
        .iter()
        .filter(|o| !label(o).contains('['))
        .collect();
    v.extend(aggregated.iter());
    if v.is_empty() {
        v.extend(per_output.iter().take(1));
    }
    v.truncate(6);
    v
}

fn pc(v: f64) -> String {
    fmt::percent(v)
}

fn ranking_section(r: &RankingResult) -> Section {
    let mut blocks = Vec::new();
    let h = r.headline();
    if !h.is_empty() {
        blocks.push(Block::Paragraph(format!(
            "Refine next: {}. (Order of the output variance removed if that input's sd were halved.)",
            h.iter().map(|n| fmt::name(n)).collect::<Vec<_>>().join(" → ")
        )));
    }
    for o in headline(&r.per_output, &r.aggregated, |o| &o.output) {
        let mut t = Table {
            caption: format!(
                "Which calculation to refine next — {}",
                fmt::label(&o.output)
            ),
            header: vec![
                "rank".into(),
                "input".into(),
                "variance removed if its sd were halved".into(),
                "the same by Monte Carlo".into(),
            ],
            ..Default::default()
        };
        for (rank, &i) in o.order.iter().enumerate() {
            t.rows.push(vec![
                (rank + 1).to_string(),
                r.inputs.get(i).map(|n| fmt::name(n)).unwrap_or_default(),
                pc(o.reduction_fraction.get(i).copied().unwrap_or(f64::NAN)),
                match (&o.reduction_mc, o.variance_mc) {
                    (Some(m), Some(vm)) if vm > 0.0 => {
                        pc(m.get(i).copied().unwrap_or(f64::NAN) / vm)
                    }
                    _ => "–".into(),
                },
            ]);
        }
        blocks.push(Block::Table(t));
    }
    // Two answers to two questions: halving an sd removes ¾ of an uncorrelated input's own
    // share, and a correlated input takes part of its partners' variance with it; the variance
    // decomposition's "known exactly" share is the own term alone. Said once, here.
    blocks.push(Block::Paragraph(
        "These shares are for halving an input's sd; the variance decomposition's shares are for knowing it exactly. For an uncorrelated input halving removes ¾ of its known-exactly share; with correlated inputs the two differ further, because halving one input's sd also shrinks its covariance terms (see “Reading this report”).".into(),
    ));
    Section::new("Which calculation to refine next", blocks)
}

fn sobol_section(s: &SobolResult) -> Section {
    let mut blocks = Vec::new();
    if s.failed_rows > 0 {
        blocks.push(Block::Warning(format!(
            "{} of {} base rows were dropped because an evaluation failed.",
            s.failed_rows, s.base_samples
        )));
    }
    for o in headline(&s.per_output, &s.aggregated, |o| &o.output) {
        let ci = |c: &[[f64; 2]]| c.iter().map(|a| (a[0], a[1])).collect::<Vec<_>>();
        let series: Vec<BarSeries> = vec![
            (
                "first order S1".into(),
                o.first.clone(),
                (o.first_ci.len() == o.first.len()).then(|| ci(&o.first_ci)),
            ),
            (
                "total ST".into(),
                o.total.clone(),
                (o.total_ci.len() == o.total.len()).then(|| ci(&o.total_ci)),
            ),
        ];
        let mut csv = String::from("input,S1,S1_lo,S1_hi,ST,ST_lo,ST_hi\n");
        for (i, name) in s.inputs.iter().enumerate() {
            let c =
                |v: &[[f64; 2]], k: usize| v.get(i).map(|a| a[k].to_string()).unwrap_or_default();
            let _ = writeln!(
                csv,
                "\"{name}\",{},{},{},{},{},{}",
                o.first.get(i).copied().unwrap_or(f64::NAN),
                c(&o.first_ci, 0),
                c(&o.first_ci, 1),
                o.total.get(i).copied().unwrap_or(f64::NAN),
                c(&o.total_ci, 0),
                c(&o.total_ci, 1)
            );
        }
        if let Ok(figure) = bar_figure(&BarPlot {
            title: format!("Sobol indices — {}", fmt::label(&o.output)),
            x_label: "Sobol index (fraction of output variance)".into(),
            labels: s.inputs.iter().map(|n| fmt::name(n)).collect(),
            series,
        }) {
            blocks.push(Block::Figure(ReportFigure {
                name: format!("sobol_{}", stem(&o.output)),
                caption: format!(
                    "Sobol first-order (S1) and total (ST) indices of {} with {:.0} % bootstrap intervals ({} resamples, N = {}).",
                    o.output,
                    100.0 * s.confidence,
                    s.bootstrap,
                    s.base_samples
                ),
                figure,
                csv,
            }));
        }
    }
    if !s.note.is_empty() {
        blocks.push(Block::Paragraph(s.note.clone()));
    }
    Section {
        heading: "Sobol indices".into(),
        blocks,
        ..Default::default()
    }
}

fn shapley_section(s: &ShapleyResult) -> Section {
    let outs = headline(&s.per_output, &s.aggregated, |o| &o.output);
    let mut series = Vec::new();
    let mut csv = String::from("output,input,shapley_effect,se,share\n");
    for o in &outs {
        let ci: Vec<(f64, f64)> = o
            .shares
            .iter()
            .zip(&o.effects_se)
            .map(|(&sh, &se)| {
                let e = if o.variance > 0.0 && se.is_finite() {
                    1.96 * se / o.variance
                } else {
                    0.0
                };
                (sh - e, sh + e)
            })
            .collect();
        let has_ci = o.effects_se.iter().any(|v| v.is_finite());
        series.push((
            fmt::label(&o.output),
            o.shares.clone(),
            has_ci.then_some(ci),
        ));
        for (i, name) in s.inputs.iter().enumerate() {
            let _ = writeln!(
                csv,
                "\"{}\",\"{name}\",{},{},{}",
                o.output,
                o.effects.get(i).copied().unwrap_or(f64::NAN),
                o.effects_se.get(i).copied().unwrap_or(f64::NAN),
                o.shares.get(i).copied().unwrap_or(f64::NAN)
            );
        }
    }
    let mut blocks = Vec::new();
    if let Ok(figure) = bar_figure(&BarPlot {
        title: "Shapley effects".into(),
        x_label: "share of output variance".into(),
        labels: s.inputs.iter().map(|n| fmt::name(n)).collect(),
        series,
    }) {
        blocks.push(Block::Figure(ReportFigure {
            name: "shapley".into(),
            caption: format!(
                "Shapley effects as shares of each output's variance ({}; error bars ±1.96 standard errors where available). They sum to 1 and split covariance fairly between correlated inputs.",
                s.scheme
            ),
            figure,
            csv,
        }));
    }
    if !s.note.is_empty() {
        blocks.push(Block::Paragraph(s.note.clone()));
    }
    Section {
        heading: "Shapley effects".into(),
        blocks,
        ..Default::default()
    }
}

fn local_section(l: &LocalResult) -> Section {
    // Rows: inputs; columns: scalar outputs and curve aggregates (RMS).
    let mut cols: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    for (k, o) in l.outputs.iter().enumerate() {
        if !o.contains('[') {
            cols.push((
                fmt::label(o),
                l.elasticity.get(k).cloned().unwrap_or_default(),
            ));
        }
    }
    for a in &l.aggregated {
        cols.push((
            format!("{} (RMS)", fmt::label(&a.output)),
            a.rms_elasticity.clone(),
        ));
    }
    cols.truncate(6);
    let mut header = vec!["input".to_string(), "unit".into(), "median".into()];
    header.extend(cols.iter().map(|c| c.0.clone()));
    let mut t = Table {
        caption: "Local elasticities d ln y / d ln θ at the median".into(),
        header,
        ..Default::default()
    };
    let mut csv = String::from("input");
    for c in &cols {
        let _ = write!(csv, ",\"{}\"", c.0);
    }
    csv.push('\n');
    for (i, name) in l.inputs.iter().enumerate() {
        let mut row = vec![
            fmt::name(name),
            l.input_units.get(i).cloned().unwrap_or_default(),
            l.nominal.get(i).map(|v| fmt::num(*v)).unwrap_or_default(),
        ];
        let _ = write!(csv, "\"{name}\"");
        for c in &cols {
            let v = c.1.get(i).copied().flatten();
            row.push(v.map(fmt::num).unwrap_or_else(|| "–".into()));
            let _ = write!(csv, ",{}", v.map(|x| x.to_string()).unwrap_or_default());
        }
        csv.push('\n');
        t.rows.push(row);
    }
    let mut blocks = vec![Block::Table(t)];
    let series: Vec<BarSeries> = cols
        .iter()
        .map(|(n, v)| {
            (
                n.clone(),
                v.iter().map(|x| x.unwrap_or(f64::NAN)).collect(),
                None,
            )
        })
        .collect();
    if !series.is_empty()
        && let Ok(figure) = bar_figure(&BarPlot {
            title: "Local elasticities at the median".into(),
            x_label: "elasticity d ln y / d ln θ (dimensionless)".into(),
            labels: l.inputs.iter().map(|n| fmt::name(n)).collect(),
            series,
        })
    {
        blocks.push(Block::Figure(ReportFigure {
            name: "elasticities".into(),
            caption: "Local elasticities: the % change of each output per 1 % change of each input at the median (curves: root-mean-square over the curve).".into(),
            figure,
            csv,
        }));
    }
    if !l.note.is_empty() {
        blocks.push(Block::Paragraph(l.note.clone()));
    }
    Section {
        heading: "Local sensitivities".into(),
        blocks,
        ..Default::default()
    }
}

fn variance_section(v: &VarianceResult) -> Section {
    let mut blocks = Vec::new();
    for o in headline(&v.per_output, &v.aggregated, |o| &o.output) {
        let mut t = Table {
            caption: format!(
                "Delta-method variance shares — {} (sd {})",
                fmt::label(&o.output),
                fmt::num(o.sd)
            ),
            header: vec![
                "term".into(),
                "variance (output unit squared)".into(),
                "share (removed if known exactly)".into(),
            ],
            ..Default::default()
        };
        for (i, name) in v.inputs.iter().enumerate() {
            t.rows.push(vec![
                fmt::name(name),
                o.own.get(i).map(|x| fmt::num(*x)).unwrap_or_default(),
                pc(o.own_share.get(i).copied().unwrap_or(f64::NAN)),
            ]);
        }
        for c in &o.cross {
            if c.share < 0.0 {
                // A negative covariance term: highlight, it narrows the output.
                t.warn_rows.push(t.rows.len());
            }
            t.rows.push(vec![
                format!("covariance {}", c.pair),
                fmt::num(c.value),
                pc(c.share),
            ]);
        }
        blocks.push(Block::Table(t));
    }
    if blocks
        .iter()
        .any(|b| matches!(b, Block::Table(t) if !t.warn_rows.is_empty()))
    {
        blocks.push(Block::Paragraph(
            "Highlighted covariance terms are negative: the correlation between those inputs narrows the output."
                .into(),
        ));
    }
    Section {
        heading: "Variance decomposition (delta method, with covariance terms)".into(),
        blocks,
        ..Default::default()
    }
}

fn morris_section(m: &MorrisResult) -> Section {
    let mut blocks = Vec::new();
    if m.failed > 0 {
        blocks.push(Block::Warning(format!(
            "{} of {} Morris trajectories had a failed evaluation.",
            m.failed, m.trajectories
        )));
    }
    for o in headline(&m.per_output, &m.aggregated, |o| &o.output) {
        let mut t = Table {
            caption: format!(
                "Morris screening — {} ({})",
                fmt::label(&o.output),
                m.coordinate
            ),
            header: vec!["input".into(), "μ*".into(), "μ".into(), "σ".into()],
            ..Default::default()
        };
        for (i, name) in m.inputs.iter().enumerate() {
            t.rows.push(vec![
                fmt::name(name),
                o.mu_star.get(i).map(|x| fmt::num(*x)).unwrap_or_default(),
                o.mu.get(i).map(|x| fmt::num(*x)).unwrap_or_default(),
                o.sigma.get(i).map(|x| fmt::num(*x)).unwrap_or_default(),
            ]);
        }
        blocks.push(Block::Table(t));
    }
    if !m.note.is_empty() {
        blocks.push(Block::Paragraph(m.note.clone()));
    }
    Section {
        heading: "Morris screening".into(),
        blocks,
        ..Default::default()
    }
}

/// The sections of a sensitivity run: one part whose summary names the methods run, the
/// refine-next answer and the warnings, with one detail section per method.
pub fn sensitivity_sections(p: &SensitivityParts) -> Vec<Section> {
    let mut v = Vec::new();
    let mut ran = Vec::new();
    let mut summary = Vec::new();
    if let Some(r) = &p.ranking {
        ran.push("refine-next ranking");
        v.push(ranking_section(r));
        if let Some(o) = r.aggregated.first().or(r.per_output.first()) {
            let top: Vec<String> = o
                .order
                .iter()
                .take(3)
                .map(|&i| {
                    format!(
                        "{} ({})",
                        fmt::name(&r.inputs[i]),
                        pc(o.reduction_fraction.get(i).copied().unwrap_or(f64::NAN))
                    )
                })
                .collect();
            summary.push(Block::Paragraph(format!(
                "Refine next, for {}: {} — the share of its variance removed if that input's sd were halved.",
                fmt::label(&o.output),
                top.join(" → ")
            )));
        }
    }
    if let Some(s) = &p.sobol {
        ran.push("Sobol indices");
        v.push(sobol_section(s));
        if s.failed_rows > 0 {
            summary.push(Block::Warning(format!(
                "Sobol: {} of {} base rows dropped after a failed evaluation.",
                s.failed_rows, s.base_samples
            )));
        }
    }
    if let Some(s) = &p.shapley {
        ran.push("Shapley effects");
        v.push(shapley_section(s));
    }
    if let Some(l) = &p.local {
        ran.push("local elasticities");
        v.push(local_section(l));
    }
    if let Some(x) = &p.variance {
        ran.push("delta-method variance decomposition");
        v.push(variance_section(x));
    }
    if let Some(m) = &p.morris {
        ran.push("Morris screening");
        v.push(morris_section(m));
        if m.failed > 0 {
            summary.push(Block::Warning(format!(
                "Morris: {} of {} trajectories had a failed evaluation.",
                m.failed, m.trajectories
            )));
        }
    }
    summary.insert(
        0,
        Block::Paragraph(format!(
            "Sensitivity analysis of the outputs to the inputs: {}.",
            ran.join(", ")
        )),
    );
    vec![Section::part("Sensitivity analysis", summary, v)]
}

/// The HTML report of a sensitivity run (any subset of the methods).
pub fn sensitivity_report(p: &SensitivityParts, title: &str, prov: &Provenance) -> Report {
    Report {
        title: if title.is_empty() {
            "Sensitivity analysis".into()
        } else {
            title.into()
        },
        subtitle: "Which atomistic input matters most (bridgelaw)".into(),
        sections: sensitivity_sections(p),
        provenance: prov.entries(),
    }
}

/// The HTML report of `--method all`.
pub fn sensitivity_report_all(a: &AllResults, title: &str, prov: &Provenance) -> Report {
    sensitivity_report(&a.clone().into(), title, prov)
}
