//! The atomistic MD front end: trajectories → MSD with its covariance → diffusivities as
//! posteriors → priors files.
//!
//! - [`trajectory`]: streaming extended-XYZ and LAMMPS-dump readers that unwrap through the box;
//! - [`msd`]: tracer and collective MSD over all time origins at a set of lags;
//! - [`analysis`]: transport at one temperature (with its checks), Arrhenius over several;
//! - [`coarse`]: coarse-graining of positions into density fields with errors and a scale check;
//! - [`diffusion`]: the MSD covariance, the GLS fit of D, conductivity and Haven ratio;
//! - [`synthetic`]: walkers with a known D and writers for both formats (tests, benchmarks).

pub mod analysis;
pub mod coarse;
pub mod diffusion;
pub mod msd;
pub mod synthetic;
pub mod trajectory;

use msd::{MsdAccumulator, MsdCurve, lag_set};
use std::io::BufRead;
use std::path::Path;
use trajectory::{Selection, TimeSource, TrajectoryError, TrajectoryFormat, open_trajectory};

/// Which lags the MSD is computed at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LagChoice {
    /// Longest lag in ps; `None`: half the run, (F − 1)/2 frames. Memory is
    /// (longest lag + 1)·N·3 numbers.
    pub max_lag_ps: Option<f64>,
    /// Number of lags (half geometric from one frame, half linear).
    pub count: usize,
}

impl Default for LagChoice {
    fn default() -> Self {
        LagChoice {
            max_lag_ps: None,
            count: 80,
        }
    }
}

/// An MSD curve of one trajectory with what the conductivity needs from it.
#[derive(Debug, Clone)]
pub struct TrajectoryMsd {
    pub curve: MsdCurve,
    /// Mean box volume over the frames in Å³.
    pub mean_volume_a3: f64,
}

/// Count the frames of a trajectory without parsing the atom lines (a cheap first pass that
/// fixes the lag set, and so the memory, before the MSD pass).
pub fn count_frames(path: &Path, format: TrajectoryFormat) -> Result<usize, TrajectoryError> {
    let io = |e: std::io::Error| TrajectoryError::Io {
        file: path.to_path_buf(),
        message: e.to_string(),
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let mut r = std::io::BufReader::with_capacity(1 << 16, f);
    let mut line = String::new();
    let mut frames = 0;
    match format {
        TrajectoryFormat::LammpsDump => loop {
            line.clear();
            if r.read_line(&mut line).map_err(io)? == 0 {
                break;
            }
            if line.starts_with("ITEM: TIMESTEP") {
                frames += 1;
            }
        },
        TrajectoryFormat::ExtendedXyz => loop {
            line.clear();
            if r.read_line(&mut line).map_err(io)? == 0 {
                break;
            }
            let Ok(n) = line.trim().parse::<usize>() else {
                // Blank separators are skipped; anything else is left for the full reader to name.
                if line.trim().is_empty() {
                    continue;
                }
                break;
            };
            frames += 1;
            for _ in 0..n + 1 {
                line.clear();
                if r.read_line(&mut line).map_err(io)? == 0 {
                    break;
                }
            }
        },
    }
    Ok(frames)
}

/// Stream a trajectory file into tracer and collective MSD curves of the selected ions.
pub fn msd_of_trajectory(
    path: &Path,
    format: TrajectoryFormat,
    selection: &Selection,
    time: TimeSource,
    lags: LagChoice,
) -> Result<TrajectoryMsd, TrajectoryError> {
    let n_frames = count_frames(path, format)?;
    let mut frames = open_trajectory(path, format, selection, time)?;
    let content = |what: String| TrajectoryError::Content {
        file: path.to_path_buf(),
        what,
    };
    let first = frames
        .next()
        .transpose()?
        .ok_or_else(|| content("no frame".into()))?;
    let second = frames
        .next()
        .transpose()?
        .ok_or_else(|| content("one frame only; expected at least 4 frames for an MSD".into()))?;
    let dt = second.time_ps - first.time_ps;
    let max_lag = match lags.max_lag_ps {
        Some(t) => ((t / dt).round() as usize).min(n_frames.saturating_sub(1)),
        None => n_frames.saturating_sub(1) / 2,
    }
    .max(1);
    let mut acc = MsdAccumulator::new(lag_set(max_lag, lags.count), first.positions.len());
    let mut volume = first.lattice.volume() + second.lattice.volume();
    acc.push(&first.positions);
    acc.push(&second.positions);
    for f in frames {
        let f = f?;
        volume += f.lattice.volume();
        acc.push(&f.positions);
    }
    if acc.frames() < 4 {
        return Err(content(format!(
            "{} frames; expected at least 4 frames for an MSD",
            acc.frames()
        )));
    }
    Ok(TrajectoryMsd {
        mean_volume_a3: volume / acc.frames() as f64,
        curve: acc.finish(dt),
    })
}
