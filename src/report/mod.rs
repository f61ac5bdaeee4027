//! Reports: figures (plotters → SVG and PNG, with the CSV behind each one) and one
//! self-contained HTML file per run.

/// The calibration part: posterior, diagnostics, traces, predictive check.
pub mod calibrate_report;
/// The fleet-calibration part: one row per cell.
pub mod fleet_report;
/// Numbers rounded by their uncertainty, units and human labels: the one formatter.
pub mod format;
/// The report's structure (parts, sections, blocks) and its HTML.
pub mod html;
/// The molecular-dynamics parts: diffusion, Arrhenius, density.
pub mod md_report;
/// Figures (SVG and PNG).
pub mod plots;
/// The uncertainty-propagation part.
pub mod propagate_report;
/// What a report was made from.
pub mod provenance;
/// `bridgelaw report RUN_DIR` and the reading guide.
pub mod run;
/// The sensitivity part.
pub mod sensitivity_report;

#[cfg(test)]
mod dom_check;
#[cfg(test)]
mod tests;
