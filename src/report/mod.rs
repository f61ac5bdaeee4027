//! Reports: figures (plotters → SVG and PNG, with the CSV behind each one) and one
//! self-contained HTML file per run.

pub mod html;
pub mod plots;
