//! Reports: figures (plotters → SVG and PNG, with the CSV behind each one) and one
//! self-contained HTML file per run.

pub mod calibrate_report;
pub mod fleet_report;
pub mod html;
pub mod md_report;
pub mod plots;
pub mod propagate_report;
pub mod provenance;
pub mod run;
pub mod sensitivity_report;

#[cfg(test)]
mod tests;
