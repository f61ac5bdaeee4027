//! The fleet report: the cells of a `calibrate-fleet` run compared. Per calibrated unknown a
//! forest plot (each cell's posterior median and 90 % interval over the prior's 90 % interval)
//! and the spread across the fleet: the sd of the cell medians (between cells) beside the mean
//! posterior sd (within a cell) — a ratio well above 1 says the cells really differ, near or
//! below 1 that the data cannot tell them apart. Then the RMS residual of every curve per cell
//! and the sampler diagnostics, cells with warnings highlighted.

use super::format::num as g;
use super::html::{Block, Report, ReportFigure, Section, Table};
use super::plots::{BarPlot, ForestPlot, bar_figure, forest_figure};
use super::propagate_report::stem;
use super::provenance::Provenance;
use crate::calibrate::diagnostics::quantile_sorted;
use crate::calibrate::fleet::{CellResult, FleetTable};
use crate::output::csv_field;
use std::fmt::Write as _;

/// R̂ above which a cell is flagged (the usual 1.01).
const RHAT_FLAG: f64 = 1.01;

fn ok_cells(t: &FleetTable) -> Vec<&CellResult> {
    t.cells.iter().filter(|c| c.failure.is_none()).collect()
}

/// Sample sd (n − 1) of `v`; NaN for fewer than two values.
fn sd(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return f64::NAN;
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

/// The sections of the fleet report.
pub fn fleet_sections(t: &FleetTable) -> Vec<Section> {
    let cells = ok_cells(t);
    let failed: Vec<&CellResult> = t.cells.iter().filter(|c| c.failure.is_some()).collect();
    let (params, curves) = t.columns();
    let mut overview = Section {
        heading: "Fleet".into(),
        blocks: vec![Block::Paragraph(format!(
            "{} cells from {} calibrated with the study {} (one NUTS run per cell; each cell's \
             seed is derived from the master seed {} and its id). Intervals are central 90 % \
             posterior intervals (5 % to 95 %).",
            t.cells.len(),
            t.cells_dir,
            t.study,
            t.seed
        ))],
        ..Default::default()
    };
    for c in &failed {
        overview.blocks.push(Block::Warning(format!(
            "cell {}: no result: {}",
            c.cell,
            c.failure.as_deref().unwrap_or_default()
        )));
    }
    let mut spread = Table {
        caption: "Spread across the fleet (cell medians) against the uncertainty within a cell"
            .into(),
        header: vec![
            "unknown".into(),
            "unit".into(),
            "median of cell medians".into(),
            "lowest cell".into(),
            "highest cell".into(),
            "sd between cells".into(),
            "mean posterior sd within a cell".into(),
            "between / within".into(),
        ],
        ..Default::default()
    };
    let mut figures = Vec::new();
    for (k, (name, unit)) in params.iter().enumerate() {
        let medians: Vec<f64> = cells.iter().map(|c| c.params[k].q50).collect();
        let mut sorted = medians.clone();
        sorted.sort_by(f64::total_cmp);
        let (lo_i, hi_i) = (
            (0..cells.len()).min_by(|&a, &b| medians[a].total_cmp(&medians[b])),
            (0..cells.len()).max_by(|&a, &b| medians[a].total_cmp(&medians[b])),
        );
        let between = sd(&medians);
        let within = cells.iter().map(|c| c.params[k].sd).sum::<f64>() / cells.len().max(1) as f64;
        let at = |i: Option<usize>| {
            i.map_or(String::new(), |i| {
                format!("{} ({})", g(medians[i]), cells[i].cell)
            })
        };
        spread.rows.push(vec![
            name.clone(),
            unit.clone(),
            if sorted.is_empty() {
                String::new()
            } else {
                g(quantile_sorted(&sorted, 0.5))
            },
            at(lo_i),
            at(hi_i),
            g(between),
            g(within),
            g(between / within),
        ]);
        let reference = cells
            .first()
            .map(|c| &c.params[k])
            .filter(|p| p.prior_q5.is_finite() && p.prior_q95.is_finite())
            .map(|p| {
                (
                    p.prior_q5,
                    p.prior_mean,
                    p.prior_q95,
                    "prior 90 % interval and mean".to_string(),
                )
            });
        let plot = ForestPlot {
            title: format!("{name}: each cell's posterior median and 90 % interval"),
            x_label: format!("{name} ({unit})"),
            labels: cells.iter().map(|c| c.cell.clone()).collect(),
            estimate: medians.clone(),
            intervals: cells
                .iter()
                .map(|c| (c.params[k].q5, c.params[k].q95))
                .collect(),
            reference,
        };
        let mut csv = format!(
            "cell,{},{},{}\n",
            csv_field(&format!("q5 [{unit}]")),
            csv_field(&format!("q50 [{unit}]")),
            csv_field(&format!("q95 [{unit}]"))
        );
        for c in &cells {
            let p = &c.params[k];
            let _ = writeln!(csv, "{},{},{},{}", csv_field(&c.cell), p.q5, p.q50, p.q95);
        }
        match forest_figure(&plot) {
            Ok(figure) => figures.push(Block::Figure(ReportFigure {
                name: format!("fleet_forest_{}", stem(name)),
                caption: format!(
                    "{name} per cell: posterior median (dot) and 90 % interval (bar); shaded: \
                     the prior's 90 % interval, line: its mean."
                ),
                figure,
                csv,
            })),
            Err(e) => figures.push(Block::Warning(format!("figure {name}: {e}"))),
        }
    }
    let mut parameters = Section {
        heading: "Parameters across the fleet".into(),
        blocks: vec![Block::Table(spread)],
        ..Default::default()
    };
    parameters.blocks.extend(figures);
    // Residuals: one bar series per curve (posterior mean, mV).
    let mut residuals = Section {
        heading: "Fit per cell".into(),
        blocks: vec![],
        ..Default::default()
    };
    if !curves.is_empty() && !cells.is_empty() {
        let series = curves
            .iter()
            .enumerate()
            .map(|(j, name)| {
                (
                    name.clone(),
                    cells
                        .iter()
                        .map(|c| {
                            c.curves[j]
                                .rmse_posterior_mean_v
                                .map_or(f64::NAN, |v| 1e3 * v)
                        })
                        .collect(),
                    None,
                )
            })
            .collect();
        let plot = BarPlot {
            title: "RMS residual per cell at the posterior mean".into(),
            x_label: "RMS residual (mV)".into(),
            labels: cells.iter().map(|c| c.cell.clone()).collect(),
            series,
        };
        let mut csv = String::from("cell");
        for name in &curves {
            let _ = write!(csv, ",{}", csv_field(&format!("rmse_{name} [mV]")));
        }
        csv.push('\n');
        for c in &cells {
            csv.push_str(&csv_field(&c.cell));
            for k in &c.curves {
                let _ = write!(
                    csv,
                    ",{}",
                    k.rmse_posterior_mean_v
                        .map_or(String::new(), |v| (1e3 * v).to_string())
                );
            }
            csv.push('\n');
        }
        match bar_figure(&plot) {
            Ok(figure) => residuals.blocks.push(Block::Figure(ReportFigure {
                name: "fleet_rmse".into(),
                caption: "RMS residual √(Σ(model − data)²/n) of each curve of each cell, with the \
                          model at the cell's posterior mean."
                    .into(),
                figure,
                csv,
            })),
            Err(e) => residuals
                .blocks
                .push(Block::Warning(format!("figure RMS residuals: {e}"))),
        }
    }
    let mut diag = Table {
        caption: format!(
            "Sampler diagnostics per cell (highlighted: R̂ > {RHAT_FLAG}, divergences or warnings)"
        ),
        header: vec![
            "cell".into(),
            "max R̂".into(),
            "min ESS bulk".into(),
            "divergences".into(),
            "max-depth draws".into(),
            "model errors".into(),
            "min E-BFMI".into(),
            "warnings".into(),
        ],
        ..Default::default()
    };
    for c in &cells {
        let rhat = c.max_rhat();
        let flagged =
            rhat.is_nan() || rhat > RHAT_FLAG || c.divergences > 0 || !c.warnings.is_empty();
        if flagged {
            diag.warn_rows.push(diag.rows.len());
        }
        diag.rows.push(vec![
            c.cell.clone(),
            format!("{:.3}", c.max_rhat()),
            format!("{:.0}", c.min_ess_bulk()),
            c.divergences.to_string(),
            c.treedepth_saturated.to_string(),
            c.model_errors.to_string(),
            format!("{:.2}", c.min_e_bfmi),
            c.warnings.join(" "),
        ]);
    }
    residuals.blocks.push(Block::Table(diag));
    vec![overview, parameters, residuals]
}

/// The HTML report of a fleet run.
pub fn fleet_report(t: &FleetTable, prov: &Provenance) -> Report {
    Report {
        title: t.title.clone(),
        subtitle: format!("fleet calibration of {} cells (bridgelaw)", t.cells.len()),
        sections: fleet_sections(t),
        provenance: prov.entries(),
    }
}
