//! Posterior summaries.
pub struct CalibrationSummary;
pub fn summarize() {}
