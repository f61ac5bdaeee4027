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

/// Whether the drift of the whole system is taken out before the MSD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DriftCorrection {
    /// Subtract from every ion's position the displacement of the framework's centre (the
    /// unweighted mean unwrapped position of all atoms not of the mobile species) since frame 1,
    /// r_i(t) − [c_fw(t) − c_fw(0)] — what kinisi (`drift_indices`, default: every atom not of
    /// the species) and pymatgen's `DiffusionAnalyzer` (its framework indices) do by default. A
    /// thermostat or barostat that lets the system's centre wander adds v²t² (and a random walk
    /// of the centre, a spurious diffusivity) to the MSD; measured against the framework, only
    /// the ions' motion through it remains. With no framework atoms nothing is subtracted.
    #[default]
    Framework,
    /// Use the positions as read.
    None,
}

/// An MSD curve of one trajectory with what the conductivity needs from it.
#[derive(Debug, Clone)]
pub struct TrajectoryMsd {
    /// The tracer and collective MSD curves.
    pub curve: MsdCurve,
    /// Mean box volume over the frames in Å³.
    pub mean_volume_a3: f64,
    /// With the framework drift corrected: the framework centre's largest distance from its
    /// frame-1 position over the run, in Å. `None`: not corrected (asked not to, or no framework
    /// atoms in the file).
    pub framework_drift_a: Option<f64>,
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
    drift: DriftCorrection,
) -> Result<TrajectoryMsd, TrajectoryError> {
    let n_frames = count_frames(path, format)?;
    let reader = open_trajectory(path, format, selection, time)?;
    let mut frames = match drift {
        DriftCorrection::Framework => reader.with_framework_centre(),
        DriftCorrection::None => reader,
    };
    let content = |what: String| TrajectoryError::Content {
        file: path.to_path_buf(),
        what,
    };
    let mut first = frames
        .next()
        .transpose()?
        .ok_or_else(|| content("no frame".into()))?;
    let origin = first.framework_centre;
    let mut largest_drift: f64 = 0.0;
    // Positions measured from the framework: r − (c_fw(t) − c_fw(0)).
    let mut correct = |f: &mut trajectory::Frame| {
        if let (Some(c0), Some(c)) = (origin, f.framework_centre) {
            let s = [c[0] - c0[0], c[1] - c0[1], c[2] - c0[2]];
            largest_drift = largest_drift.max((s[0] * s[0] + s[1] * s[1] + s[2] * s[2]).sqrt());
            for r in f.positions.iter_mut() {
                for d in 0..3 {
                    r[d] -= s[d];
                }
            }
        }
    };
    correct(&mut first);
    let mut second = frames
        .next()
        .transpose()?
        .ok_or_else(|| content("one frame only; expected at least 4 frames for an MSD".into()))?;
    correct(&mut second);
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
        let mut f = f?;
        correct(&mut f);
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
        framework_drift_a: origin.map(|_| largest_drift),
    })
}
