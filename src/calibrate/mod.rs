//! Bayesian calibration of model parameters against measured curves: posterior, NUTS, MAP +
//! Laplace, convergence diagnostics, CmdStan CSV draws and posterior summaries.
//!
//! Flow: [`data::read_curve`] reads measured curves; the caller builds a [`Model`]
//! whose curve outputs sit on the data grid and a [`posterior::Posterior`] binding each measured
//! curve to a model output; [`nuts::sample`] draws from it (or [`map::find_map`] finds the mode
//! and a Laplace approximation); [`summary::summarize`] turns the draws into the table, the
//! prior→posterior shifts and warnings; [`draws::write_cmdstan_csv`] writes one CmdStan CSV per
//! chain and [`summary::predictive_bands`] the posterior-predictive bands.
//! [`calibrate_and_write`] and [`map_and_write`] do all of it in one call.
//!
//! ```text
//! let curve = read_curve(path, SignConvention::DischargeNegative)?;          // data.rs
//! let obs = CurveObservation::from_measured(&curve, &model, 0,
//!               Noise::Inferred { prior: SigmaPrior::HalfNormal { scale: 0.01 } })?;
//! let post = Posterior::new(&model, &prior, vec![obs], Likelihood::Gaussian)?;
//! let out = calibrate_and_write(&post, &NutsConfig::default(), dir, "study", "spm")?;
//! print!("{}", out.summary.to_table());
//! out.summary.warnings.iter().for_each(|w| eprintln!("warning: {w}"));
//! ```

pub mod balance;
pub mod data;
pub mod diagnostics;
pub mod discharge;
pub mod draws;
pub mod fleet;
pub mod map;
pub mod nuts;
pub mod part;
pub mod posterior;
pub mod study;
pub mod summary;
pub mod validate;

use crate::model::Model;
use std::path::{Path, PathBuf};
use thiserror::Error;

pub use data::{MeasuredCurve, SignConvention, read_curve};
pub use discharge::{DischargeProblem, bind_discharge_curves};
pub use map::{MapResult, find_map};
pub use nuts::{
    InitStrategy, MassMatrix, NutsConfig, NutsRun, sample, sample_cancellable, sample_chains,
};
pub use posterior::{CurveObservation, Likelihood, Noise, Posterior, SigmaPrior};
pub use summary::{CalibrationSummary, summarize};

/// Everything that can go wrong in a calibration run.
#[derive(Debug, Error)]
pub enum CalibrateError {
    /// A measured-curve file cannot be read or is not a curve.
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// The posterior cannot be set up from the model, prior and curves given (dimensions, output lengths, non-finite data, bad σ or ν).
    #[error("posterior setup: {0}")]
    Setup(String),
    /// A chain found no start point where the log density and its gradient are finite.
    #[error("no valid starting point for chain {chain} after {tries} tries: last error: {last}")]
    Init {
        /// The chain's index.
        chain: u64,
        /// Start points tried.
        tries: usize,
        /// The last start's error.
        last: String,
    },
    /// The sampler (nuts-rs) failed in a chain.
    #[error("sampler error in chain {chain}: {message}")]
    Sampler {
        /// The chain's index.
        chain: u64,
        /// The sampler's message.
        message: String,
    },
    /// The MAP search could not run or every optimisation failed.
    #[error("MAP optimisation failed: {0}")]
    Map(String),
    /// The log density fails at every start point the MAP search tried.
    #[error(
        "no start point works: the log density fails at all {tried} points tried (the prior \
         centre and its central region); last error: {last}"
    )]
    NoValidStart {
        /// Points tried: the prior centre and the candidates.
        tried: usize,
        /// The last point's error.
        last: String,
    },
    /// A results file cannot be written.
    #[error("writing '{path}': {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A model evaluation failed where the run needs its value (inside the sampler a failure
    /// counts as a divergence instead).
    #[error("model evaluation failed: {0}")]
    Model(#[from] crate::model::ModelError),
    /// The caller raised the run's [`CancelToken`](crate::cancel::CancelToken).
    #[error("cancelled")]
    Cancelled,
    /// A study, its data or its `[calibrate]` settings are not what a calibration needs (the
    /// message names the file and field): the user's input, not a failed run.
    #[error("{0}")]
    Input(String),
}

/// Everything [`calibrate_and_write`] produced.
#[derive(Debug, Clone)]
pub struct CalibrationOutput {
    /// The chains: draws, sampler statistics and adaptation.
    pub run: NutsRun,
    /// The posterior table, sampler health and warnings.
    pub summary: CalibrationSummary,
    /// One posterior-predictive band per measured curve.
    pub bands: Vec<summary::CurveBand>,
    /// Files written: CmdStan CSV per chain, summary JSON + CSV, one band CSV per curve.
    pub files: Vec<PathBuf>,
}

/// Draws per curve used for the posterior-predictive bands.
pub const BAND_DRAWS: usize = 400;

/// The whole NUTS calibration: sample, summarise, and write into `out_dir`:
/// `{stem}-{chain}.csv` (CmdStan), `{stem}_summary.json`/`.csv`, `{stem}_ppc_{curve}.csv`
/// (bands from up to [`BAND_DRAWS`] thinned draws). `model_name` goes into the CSV header.
pub fn calibrate_and_write<M: Model>(
    post: &Posterior<'_, M>,
    cfg: &NutsConfig,
    out_dir: &Path,
    stem: &str,
    model_name: &str,
) -> Result<CalibrationOutput, CalibrateError> {
    // Stops when the process is interrupted: its files would not be written anyway.
    let run = sample_cancellable(post, cfg, crate::run_folder::interrupted())?;
    write_nuts_run(post, run, out_dir, stem, model_name)
}

/// What [`calibrate_and_write`] does once the chains are sampled: `run` (one process's or
/// shards merged by [`part::merge_nuts_parts`]) summarised and written into `out_dir`.
pub fn write_nuts_run<M: Model>(
    post: &Posterior<'_, M>,
    run: NutsRun,
    out_dir: &Path,
    stem: &str,
    model_name: &str,
) -> Result<CalibrationOutput, CalibrateError> {
    let summary = summarize(post, &run);
    let seed = run.config.seed;
    let bands = summary::predictive_bands(post, &run, BAND_DRAWS, seed, &summary::COVERAGE_LEVELS)?;
    let mut files = draws::write_cmdstan_csv(&run, out_dir, stem, model_name)?;
    files.extend(summary.write(out_dir, stem)?);
    files.extend(summary::write_bands(&bands, out_dir, stem)?);
    Ok(CalibrationOutput {
        run,
        summary,
        bands,
        files,
    })
}

/// The fast `--map` mode: MAP + Laplace, written to `out_dir/{stem}_map.json`.
pub fn map_and_write<M: Model>(
    post: &Posterior<'_, M>,
    opts: &map::MapOptions,
    out_dir: &Path,
    stem: &str,
) -> Result<(MapResult, PathBuf), CalibrateError> {
    let r = find_map(post, opts)?;
    let p = out_dir.join(format!("{stem}_map.json"));
    crate::output::write_atomic(&p, r.to_json().as_bytes()).map_err(|source| {
        CalibrateError::Io {
            path: p.display().to_string(),
            source,
        }
    })?;
    Ok((r, p))
}
