//! Bayesian calibration of model parameters against measured curves: posterior, NUTS, MAP +
//! Laplace, convergence diagnostics, CmdStan CSV draws and posterior summaries.
//!
//! Flow: [`data::read_curve`] reads measured curves; the caller builds a [`Model`](crate::Model)
//! whose curve outputs sit on the data grid and a [`posterior::Posterior`] binding each measured
//! curve to a model output; [`nuts::sample`] draws from it (or [`map::find_map`] finds the mode
//! and a Laplace approximation); [`summary::summarize`] turns the draws into the table, the
//! prior→posterior shifts and warnings; [`draws::write_cmdstan_csv`] writes one CmdStan CSV per
//! chain and [`summary::predictive_bands`] the posterior-predictive bands.

pub mod data;
pub mod diagnostics;
pub mod draws;
pub mod map;
pub mod nuts;
pub mod posterior;
pub mod summary;

use thiserror::Error;

pub use data::{MeasuredCurve, SignConvention, read_curve};
pub use map::{MapResult, find_map};
pub use nuts::{InitStrategy, MassMatrix, NutsConfig, NutsRun, sample};
pub use posterior::{CurveObservation, Likelihood, Noise, Posterior, SigmaPrior};
pub use summary::{CalibrationSummary, summarize};

/// Everything that can go wrong in a calibration run.
#[derive(Debug, Error)]
pub enum CalibrateError {
    #[error(transparent)]
    Data(#[from] data::DataError),
    #[error("posterior setup: {0}")]
    Setup(String),
    #[error("no valid starting point for chain {chain} after {tries} tries: last error: {last}")]
    Init {
        chain: u64,
        tries: usize,
        last: String,
    },
    #[error("sampler error in chain {chain}: {message}")]
    Sampler { chain: u64, message: String },
    #[error("MAP optimisation failed: {0}")]
    Map(String),
    #[error("writing '{path}': {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("model evaluation failed: {0}")]
    Model(#[from] crate::model::ModelError),
}
