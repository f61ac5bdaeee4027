//! Coarse-graining of atom positions into a continuum density field — the first step of the
//! seed document ("averaging over a small, but not too small, region of space called a
//! representative elementary volume", and over time windows longer than the vibrations).
//!
//! # The field
//! At each frame t and grid point x (orthorhombic box of edges L_d, n_d points per axis,
//! x_j = (j/n_d)·L_d), with a periodic Gaussian kernel of sd w (Å) in each Cartesian direction:
//!
//! $$ ρ_w(x, t) = \sum_i \prod_{d} g_{w,d}(x_d − r_{i,d}(t)), \qquad
//!    g_{w,d}(u) ∝ \sum_{m ∈ ℤ} e^{−(u + m L_d)^2 / (2w^2)} $$
//!
//! in ions/Å³. Each ion's weights along an axis are normalised to sum to 1/h_d (h_d = L_d/n_d),
//! so Σ_x ρ·h_x h_y h_z = N exactly on any grid (the sampled Gaussian's own sum differs from 1/h
//! by about e^{−2π²w²/h²}, negligible once w ≥ h). The concentration is c = ρ·10³⁰/N_A mol/m³.
//!
//! # Time averages and their errors
//! The run mean ρ̄_w(x) averages all frames; window means average consecutive windows (of a
//! length in ps, or a tenth of each run). At every grid point the per-frame series is block
//! averaged as it streams ([`crate::dist::estimate::BlockAccumulator`], Flyvbjerg–Petersen):
//! the standard error of ρ̄_w(x) and the statistical inefficiency s = n·Var(mean)/Var(ρ) (frames
//! per independent sample). Memory is O(grid · widths · log frames), whatever the run's length.
//! Several trajectories are taken as one series in the given order (segments of one run, or
//! independent runs of one system).
//!
//! # Scale separation
//! The averaged field is a continuum quantity only when it does not depend on the averaging
//! volume. For each further width w against the reported width w₀:
//!
//! $$ δ_w = \frac{\mathrm{rms}_x\,(ρ̄_w − ρ̄_{w_0})}{ρ̄}, \qquad
//!    ν_w = \frac{\mathrm{rms}_x\, SE[ρ̄_w − ρ̄_{w_0}]}{ρ̄} $$
//!
//! (ρ̄ = N/V; the standard error of the change is block-averaged from the per-frame series
//! ρ_w − ρ_w0 itself, so the strong correlation of the two fields is counted). Sampling noise
//! adds to the change in quadrature, E\[δ²\] = Δ² + E\[ν²\], so the systematic change is
//! Δ_w = √max(δ_w² − ν_w², 0), and the field is taken as width-independent in [min w, max w]
//! when Δ_w ≤ tol. When ν_w itself exceeds tol the check cannot resolve a change of tol and
//! says so (run longer).
//! A warning names each width where it is not (a profile steeper than the kernel, e.g. an
//! interface narrower than w, or a kernel narrower than the atomic structure).

use super::trajectory::{
    Selection, TimeSource, TrajectoryError, TrajectoryFormat, open_trajectory,
};
use crate::constants::N_A;
use crate::dist::estimate::BlockAccumulator;
use crate::dist::summary::sig4;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// 1 ion/Å³ in mol/m³ (10³⁰ Å³ per m³ over Avogadro's number).
pub const PER_A3_IN_MOL_PER_M3: f64 = 1e30 / N_A;

/// Largest default grid size per axis (memory and time grow as its cube).
pub const DEFAULT_GRID_MAX: usize = 40;

/// How long the time windows are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WindowLength {
    /// Windows of this many ps from each run's first frame.
    Ps(f64),
    /// A tenth of each run (by frames).
    TenthOfRun,
}

/// Settings of a coarse-graining.
#[derive(Debug, Clone)]
pub struct DensitySettings {
    /// Kernel sds in Å; the first is the field reported, the others check scale separation.
    pub widths_a: Vec<f64>,
    /// Grid points per axis; `None`: one per smallest width (spacing ≤ w), at most
    /// [`DEFAULT_GRID_MAX`], at least 4.
    pub grid: Option<[usize; 3]>,
    /// Length of the time windows whose mean profiles are reported.
    pub window: WindowLength,
    /// Axis (0, 1, 2 = x, y, z) of the planar-average profile.
    pub axis: usize,
    /// Relative tolerance of the scale-separation check (fraction of the mean density).
    pub tolerance: f64,
    /// Use every `stride`-th frame.
    pub stride: usize,
}

/// A time window's mean profile.
#[derive(Debug, Clone, Serialize)]
pub struct WindowProfile {
    /// Trajectory (1-based, in the order given) and window (1-based) within it.
    pub run: usize,
    /// Window (1-based) within the run.
    pub window: usize,
    /// Start of the window \[ps\].
    pub t_start_ps: f64,
    /// End of the window \[ps\].
    pub t_end_ps: f64,
    /// Frames in the window.
    pub frames: usize,
    /// Planar-average density along the profile axis at the reported width, ions/Å³.
    #[serde(skip)]
    pub profile: Vec<f64>,
    /// Mean of the window's profile (= N/V averaged over the window), ions/Å³.
    pub mean_density_per_a3: f64,
}

/// The field at one kernel width.
#[derive(Debug, Clone)]
pub struct WidthField {
    /// Kernel sd \[Å\].
    pub width_a: f64,
    /// Run-mean field (x-major, then y, then z), ions/Å³, and its block-averaged standard error.
    pub mean: Vec<f64>,
    /// Block-averaged standard error of `mean` at each point, ions/Å³.
    pub std_error: Vec<f64>,
    /// Statistical inefficiency at each point (NaN where the series is constant).
    pub inefficiency: Vec<f64>,
    /// Points where block averaging found no plateau (the standard error is then a lower bound).
    pub unconverged: usize,
    /// Planar-average profile along the axis, ions/Å³, with its standard error.
    pub profile: Vec<f64>,
    /// Standard error of `profile`, ions/Å³.
    pub profile_std_error: Vec<f64>,
}

/// The scale-separation check of one width against the reported one.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleCheck {
    /// Kernel sd \[Å\].
    pub width_a: f64,
    /// δ_w: rms over the grid of the change of the run-mean field, over the mean density.
    pub rms_change_relative: f64,
    /// ν_w: rms over the grid of the standard error of that change, over the mean density.
    pub noise_relative: f64,
    /// The change beyond the noise, √max(δ_w² − ν_w², 0).
    pub systematic_relative: f64,
    /// √max(δ_w² − ν_w², 0) ≤ tol.
    pub independent: bool,
}

/// The coarse-grained density of a set of trajectories.
#[derive(Debug, Clone)]
pub struct DensityResult {
    /// The trajectory files, in the order given.
    pub files: Vec<PathBuf>,
    /// Ions of the species.
    pub n_ions: usize,
    /// Frames used (after the stride) and their summed time span in ps.
    pub frames: usize,
    /// Summed time span of the frames used \[ps\].
    pub duration_ps: f64,
    /// Grid points per axis.
    pub shape: [usize; 3],
    /// Axis (0, 1, 2 = x, y, z) of the planar-average profile.
    pub axis: usize,
    /// Mean box edges in Å and mean volume in Å³.
    pub mean_box_a: [f64; 3],
    /// Mean volume \[Å³\].
    pub mean_volume_a3: f64,
    /// N/V averaged over frames, ions/Å³.
    pub mean_density_per_a3: f64,
    /// One field per kernel width, the reported one first.
    pub fields: Vec<WidthField>,
    /// Mean profile of each time window.
    pub windows: Vec<WindowProfile>,
    /// Scale-separation check of each further width against the reported one.
    pub scale: Vec<ScaleCheck>,
    /// Relative tolerance of the scale-separation check.
    pub tolerance: f64,
    /// What the user should know (unconverged block averages, widths the field depends on).
    pub warnings: Vec<String>,
}

/// Weights of one ion on the `n` points of one axis: a periodic Gaussian of sd `sd_grid` (grid
/// spacings) centred at grid coordinate `g` ∈ [0, n), normalised to sum 1; (index, weight) pairs.
fn axis_weights(g: f64, n: usize, sd_grid: f64, out: &mut Vec<(usize, f64)>) {
    out.clear();
    // 5 sd: the Gaussian has fallen to 4e-6 of its peak.
    let half = (5.0 * sd_grid).ceil() as i64;
    let ni = n as i64;
    if 2 * half + 1 >= ni {
        // The kernel covers the box: every point, summing the periodic images.
        let images = (half / ni) + 1;
        for j in 0..ni {
            let mut s = 0.0;
            for m in -images..=images {
                let u = (j + m * ni) as f64 - g;
                s += (-0.5 * (u / sd_grid).powi(2)).exp();
            }
            out.push((j as usize, s));
        }
    } else {
        let c = g.floor() as i64;
        for k in (c - half)..=(c + half + 1) {
            let u = k as f64 - g;
            out.push((
                k.rem_euclid(ni) as usize,
                (-0.5 * (u / sd_grid).powi(2)).exp(),
            ));
        }
    }
    let total: f64 = out.iter().map(|p| p.1).sum();
    for p in out.iter_mut() {
        p.1 /= total;
    }
}

/// Streaming accumulator of the coarse-grained fields.
struct Accumulator {
    widths: Vec<f64>,
    shape: [usize; 3],
    axis: usize,
    sums: Vec<Vec<f64>>,
    blocks: Vec<Vec<BlockAccumulator>>,
    /// Per further width, per point: the series ρ_w − ρ_w0 (its own standard error, which
    /// counts the strong correlation of the two fields).
    change_blocks: Vec<Vec<BlockAccumulator>>,
    reference_field: Vec<f64>,
    profile_blocks: Vec<Vec<BlockAccumulator>>,
    field: Vec<f64>,
    weights: [Vec<(usize, f64)>; 3],
    frames: usize,
    box_sum: [f64; 3],
    volume_sum: f64,
    density_sum: f64,
    windows: Vec<WindowProfile>,
}

impl Accumulator {
    fn new(widths: &[f64], shape: [usize; 3], axis: usize) -> Self {
        let p = shape.iter().product();
        let w = widths.len();
        Accumulator {
            widths: widths.to_vec(),
            shape,
            axis,
            sums: vec![vec![0.0; p]; w],
            blocks: vec![vec![BlockAccumulator::default(); p]; w],
            change_blocks: vec![vec![BlockAccumulator::default(); p]; w.saturating_sub(1)],
            reference_field: vec![0.0; p],
            profile_blocks: vec![vec![BlockAccumulator::default(); shape[axis]]; w],
            field: vec![0.0; p],
            weights: Default::default(),
            frames: 0,
            box_sum: [0.0; 3],
            volume_sum: 0.0,
            density_sum: 0.0,
            windows: Vec::new(),
        }
    }

    /// The planar average of `field` along the profile axis.
    fn profile_of(&self, field: &[f64]) -> Vec<f64> {
        let [nx, ny, nz] = self.shape;
        let mut prof = vec![0.0; self.shape[self.axis]];
        for ix in 0..nx {
            for iy in 0..ny {
                for iz in 0..nz {
                    let k = [ix, iy, iz][self.axis];
                    prof[k] += field[(ix * ny + iy) * nz + iz];
                }
            }
        }
        let per_plane = (nx * ny * nz / self.shape[self.axis]) as f64;
        prof.iter_mut().for_each(|v| *v /= per_plane);
        prof
    }

    /// Add one frame: box edges `l` (Å), positions (Å, any image), and the window it falls in.
    fn push(&mut self, l: [f64; 3], positions: &[[f64; 3]], window: (usize, usize, f64)) {
        let [_, ny, nz] = self.shape;
        let h: [f64; 3] = std::array::from_fn(|d| l[d] / self.shape[d] as f64);
        let cell = h[0] * h[1] * h[2];
        let mut reference_profile = Vec::new();
        for wi in 0..self.widths.len() {
            let w = self.widths[wi];
            self.field.iter_mut().for_each(|v| *v = 0.0);
            for r in positions {
                for d in 0..3 {
                    let n = self.shape[d];
                    let g = (r[d] / l[d]).rem_euclid(1.0) * n as f64;
                    axis_weights(g.min(n as f64 - 1e-12), n, w / h[d], &mut self.weights[d]);
                }
                let [wx, wy, wz] = &self.weights;
                for &(ix, a) in wx {
                    for &(iy, b) in wy {
                        let ab = a * b / cell;
                        let base = (ix * ny + iy) * nz;
                        for &(iz, c) in wz {
                            self.field[base + iz] += ab * c;
                        }
                    }
                }
            }
            for ((s, b), v) in self.sums[wi]
                .iter_mut()
                .zip(self.blocks[wi].iter_mut())
                .zip(&self.field)
            {
                *s += v;
                b.push(*v);
            }
            if wi == 0 {
                self.reference_field.copy_from_slice(&self.field);
            } else {
                for ((b, v), r) in self.change_blocks[wi - 1]
                    .iter_mut()
                    .zip(&self.field)
                    .zip(&self.reference_field)
                {
                    b.push(v - r);
                }
            }
            let prof = self.profile_of(&self.field);
            for (b, v) in self.profile_blocks[wi].iter_mut().zip(&prof) {
                b.push(*v);
            }
            if wi == 0 {
                reference_profile = prof;
            }
        }
        let volume = l[0] * l[1] * l[2];
        let density = positions.len() as f64 / volume;
        self.frames += 1;
        for d in 0..3 {
            self.box_sum[d] += l[d];
        }
        self.volume_sum += volume;
        self.density_sum += density;
        let (run, index, t) = window;
        match self.windows.last_mut() {
            Some(w) if w.run == run && w.window == index => {
                w.frames += 1;
                w.t_end_ps = t;
                w.mean_density_per_a3 += density;
                for (a, b) in w.profile.iter_mut().zip(&reference_profile) {
                    *a += b;
                }
            }
            _ => self.windows.push(WindowProfile {
                run,
                window: index,
                t_start_ps: t,
                t_end_ps: t,
                frames: 1,
                profile: reference_profile,
                mean_density_per_a3: density,
            }),
        }
    }
}

fn finish_block(b: &BlockAccumulator) -> (f64, f64, bool) {
    match b.finish() {
        Some(a) => (
            a.std_error,
            a.statistical_inefficiency().unwrap_or(f64::NAN),
            a.converged,
        ),
        None => (f64::NAN, f64::NAN, false),
    }
}

fn rms(v: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for x in v {
        s += x * x;
        n += 1;
    }
    if n == 0 { 0.0 } else { (s / n as f64).sqrt() }
}

fn content(path: &Path, what: String) -> TrajectoryError {
    TrajectoryError::Content {
        file: path.to_path_buf(),
        what,
    }
}

/// Coarse-grain the selected ions of `files` (each with its format) into density fields at the
/// settings' kernel widths, with window means, block-averaged errors and the scale check.
pub fn density_of_trajectories(
    files: &[(PathBuf, TrajectoryFormat)],
    selection: &Selection,
    time: TimeSource,
    s: &DensitySettings,
) -> Result<DensityResult, TrajectoryError> {
    let mut acc: Option<Accumulator> = None;
    let mut n_ions = 0;
    let mut duration_ps = 0.0;
    let stride = s.stride.max(1);
    for (run, (path, format)) in files.iter().enumerate() {
        let tenth = match s.window {
            WindowLength::TenthOfRun => {
                let f = super::count_frames(path, *format)?;
                (f.div_ceil(stride)).div_ceil(10).max(1)
            }
            WindowLength::Ps(_) => 0,
        };
        let mut t0 = None;
        let mut t_last = 0.0;
        let mut used = 0usize;
        for (k, frame) in open_trajectory(path, *format, selection, time)?.enumerate() {
            let f = frame?;
            if k % stride != 0 {
                continue;
            }
            let v = f.lattice.vectors;
            let l = [v[0][0], v[1][1], v[2][2]];
            let scale = l.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
            let off = [v[0][1], v[0][2], v[1][0], v[1][2], v[2][0], v[2][1]];
            if off.iter().any(|x| x.abs() > 1e-9 * scale) || l.iter().any(|x| *x <= 0.0) {
                return Err(content(
                    path,
                    format!(
                        "frame {} (line {}): a non-orthorhombic box {:?} Å; expected the lattice vectors along x, y and z (md density's kernel is separable in Cartesian axes)",
                        f.number, f.line, v
                    ),
                ));
            }
            let a = match &mut acc {
                Some(a) => {
                    if f.positions.len() != n_ions {
                        return Err(content(
                            path,
                            format!(
                                "frame {} (line {}): {} ions of species '{}', expected {n_ions} as in {} (the runs must be of one system)",
                                f.number,
                                f.line,
                                f.positions.len(),
                                selection.0,
                                files[0].0.display()
                            ),
                        ));
                    }
                    a
                }
                None => {
                    n_ions = f.positions.len();
                    let w_min = s.widths_a.iter().copied().fold(f64::INFINITY, f64::min);
                    let shape = s.grid.unwrap_or_else(|| {
                        std::array::from_fn(|d| {
                            ((l[d] / w_min).ceil() as usize).clamp(4, DEFAULT_GRID_MAX)
                        })
                    });
                    acc.insert(Accumulator::new(&s.widths_a, shape, s.axis))
                }
            };
            let start = *t0.get_or_insert(f.time_ps);
            let index = match s.window {
                WindowLength::Ps(w) => ((f.time_ps - start) / w + 1e-9).floor() as usize,
                WindowLength::TenthOfRun => used / tenth,
            };
            a.push(l, &f.positions, (run + 1, index + 1, f.time_ps));
            t_last = f.time_ps;
            used += 1;
        }
        match t0 {
            Some(t) => duration_ps += t_last - t,
            None => return Err(content(path, "no frame; expected at least one".into())),
        }
    }
    let a = acc.ok_or_else(|| {
        content(
            files
                .first()
                .map(|f| f.0.as_path())
                .unwrap_or(Path::new("")),
            "no frame".into(),
        )
    })?;
    if a.frames < 32 {
        return Err(content(
            &files[0].0,
            format!(
                "{} frames in all (stride {stride}); expected at least 32 for block-averaged errors",
                a.frames
            ),
        ));
    }
    Ok(finish(a, files, n_ions, duration_ps, s))
}

fn finish(
    a: Accumulator,
    files: &[(PathBuf, TrajectoryFormat)],
    n_ions: usize,
    duration_ps: f64,
    s: &DensitySettings,
) -> DensityResult {
    let nf = a.frames as f64;
    let mean_box_a = a.box_sum.map(|v| v / nf);
    let rho = a.density_sum / nf;
    let fields: Vec<WidthField> = (0..a.widths.len())
        .map(|wi| {
            let mean: Vec<f64> = a.sums[wi].iter().map(|v| v / nf).collect();
            let mut unconverged = 0;
            let (std_error, inefficiency): (Vec<f64>, Vec<f64>) = a.blocks[wi]
                .iter()
                .map(|b| {
                    let (se, ineff, ok) = finish_block(b);
                    unconverged += usize::from(!ok);
                    (se, ineff)
                })
                .unzip();
            let profile = a.profile_of(&mean);
            let profile_std_error = a.profile_blocks[wi]
                .iter()
                .map(|b| finish_block(b).0)
                .collect();
            WidthField {
                width_a: a.widths[wi],
                mean,
                std_error,
                inefficiency,
                unconverged,
                profile,
                profile_std_error,
            }
        })
        .collect();
    let mut windows = a.windows;
    for w in windows.iter_mut() {
        let n = w.frames as f64;
        w.profile.iter_mut().for_each(|v| *v /= n);
        w.mean_density_per_a3 /= n;
    }
    let reference = &fields[0];
    let scale: Vec<ScaleCheck> = fields[1..]
        .iter()
        .zip(&a.change_blocks)
        .map(|(f, blocks)| {
            let change = rms(f.mean.iter().zip(&reference.mean).map(|(a, b)| a - b)) / rho;
            let noise = rms(blocks
                .iter()
                .map(|b| finish_block(b).0)
                .filter(|v| v.is_finite()))
                / rho;
            let systematic = (change * change - noise * noise).max(0.0).sqrt();
            ScaleCheck {
                width_a: f.width_a,
                rms_change_relative: change,
                noise_relative: noise,
                systematic_relative: systematic,
                independent: systematic <= s.tolerance,
            }
        })
        .collect();
    let mut warnings = Vec::new();
    for c in scale.iter().filter(|c| c.noise_relative > s.tolerance) {
        warnings.push(format!(
            "the sampling noise of the change between kernel widths {} and {} Å ({:.1} % of the mean density) exceeds the tolerance {:.1} %: the scale-separation check cannot resolve it; a longer run (or wider kernels) can",
            reference.width_a,
            c.width_a,
            100.0 * c.noise_relative,
            100.0 * s.tolerance
        ));
    }
    for c in scale.iter().filter(|c| !c.independent) {
        warnings.push(format!(
            "no scale separation between kernel widths {} and {} Å: the averaged field changes by {:.1} % of the mean density beyond the sampling noise (rms over the grid {:.1} %, tolerance {:.1} %, noise {:.1} %). The density varies on the kernel's scale (an interface or structure narrower than the kernel, or a kernel narrower than the atomic structure); state the width with the field, or choose widths over which it is flat",
            reference.width_a,
            c.width_a,
            100.0 * c.systematic_relative,
            100.0 * c.rms_change_relative,
            100.0 * s.tolerance,
            100.0 * c.noise_relative
        ));
    }
    let h: [f64; 3] = std::array::from_fn(|d| mean_box_a[d] / a.shape[d] as f64);
    let h_max = h.iter().copied().fold(0.0, f64::max);
    let l_min = mean_box_a.iter().copied().fold(f64::INFINITY, f64::min);
    for &w in &a.widths {
        if w < h_max {
            warnings.push(format!(
                "kernel width {} Å is below the grid spacing {} Å: the grid does not resolve the field between its points (use a finer --grid)",
                sig4(w),
                sig4(h_max)
            ));
        }
        if w > 0.25 * l_min {
            warnings.push(format!(
                "kernel width {} Å is over a quarter of the smallest box edge ({} Å): the field is close to uniform by construction",
                sig4(w),
                sig4(l_min)
            ));
        }
    }
    let p = reference.mean.len();
    if reference.unconverged * 10 > p {
        warnings.push(format!(
            "block averaging found no plateau at {} of {} grid points: the run is short for the field's correlation time, and those standard errors are lower bounds",
            reference.unconverged, p
        ));
    }
    DensityResult {
        files: files.iter().map(|f| f.0.clone()).collect(),
        n_ions,
        frames: a.frames,
        duration_ps,
        shape: a.shape,
        axis: a.axis,
        mean_box_a,
        mean_volume_a3: a.volume_sum / nf,
        mean_density_per_a3: rho,
        fields,
        windows,
        scale,
        tolerance: s.tolerance,
        warnings,
    }
}

const AXES: [&str; 3] = ["x", "y", "z"];

fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.8e}")
    } else {
        "nan".into()
    }
}

fn width_tag(w: f64) -> String {
    format!("{w}").replace('.', "p")
}

/// Summary statistics of a list, NaNs left out: (median, max).
fn median_max(v: &[f64]) -> (f64, f64) {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    s.sort_by(f64::total_cmp);
    (
        crate::calibrate::diagnostics::quantile_sorted(&s, 0.5),
        s[s.len() - 1],
    )
}

/// The JSON summary (`density_summary.json`): units in the field names.
#[derive(Debug, Clone, Serialize)]
pub struct DensitySummary {
    /// The trajectory files.
    pub files: Vec<String>,
    /// The species coarse-grained (element symbol).
    pub species: String,
    /// Ions of the species.
    pub n_ions: usize,
    /// Frames used.
    pub frames: usize,
    /// Their summed time span \[ps\].
    pub duration_ps: f64,
    /// Grid points per axis.
    pub grid: [usize; 3],
    /// Grid spacing on the mean box \[Å\].
    pub grid_spacing_angstrom: [f64; 3],
    /// Mean box edges \[Å\].
    pub mean_box_angstrom: [f64; 3],
    /// Mean box volume \[Å³\].
    pub mean_volume_angstrom3: f64,
    /// The kernel, in words.
    pub kernel: String,
    /// Widths in Å: the first is the field reported.
    pub kernel_widths_angstrom: Vec<f64>,
    /// N/V averaged over frames \[1/Å³\].
    pub mean_density_per_angstrom3: f64,
    /// The same as a concentration \[mol/m³\].
    pub mean_concentration_mol_per_m3: f64,
    /// Smallest value of the reported field \[1/Å³\].
    pub field_min_per_angstrom3: f64,
    /// Largest value of the reported field \[1/Å³\].
    pub field_max_per_angstrom3: f64,
    /// Median over the grid of the field's standard error \[1/Å³\].
    pub standard_error_median_per_angstrom3: f64,
    /// Largest standard error over the grid \[1/Å³\].
    pub standard_error_max_per_angstrom3: f64,
    /// Median over the grid of the statistical inefficiency \[1\].
    pub statistical_inefficiency_median: f64,
    /// Largest statistical inefficiency over the grid \[1\].
    pub statistical_inefficiency_max: f64,
    /// Grid points where block averaging found no plateau.
    pub block_average_unconverged_points: usize,
    /// Profile axis: "x", "y" or "z".
    pub profile_axis: String,
    /// The scale-separation check.
    pub scale_separation: ScaleSummary,
    /// Mean profile of each time window.
    pub windows: Vec<WindowProfile>,
    /// What the user should know.
    pub warnings: Vec<String>,
}

/// The scale-separation part of the summary.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleSummary {
    /// The reported kernel width \[Å\].
    pub reference_width_angstrom: f64,
    /// Smallest and largest width checked \[Å\].
    pub range_angstrom: [f64; 2],
    /// The check's tolerance, relative to the mean density.
    pub tolerance_relative: f64,
    /// The criterion, in words.
    pub criterion: String,
    /// Every width passes: the field does not depend on the kernel width.
    pub independent_of_width: bool,
    /// One check per further width.
    pub checks: Vec<ScaleCheck>,
}

impl DensityResult {
    fn coordinate(&self, d: usize, j: usize) -> f64 {
        j as f64 * self.mean_box_a[d] / self.shape[d] as f64
    }

    /// Grid coordinates along the profile axis in Å (on the mean box).
    pub fn profile_coordinates_a(&self) -> Vec<f64> {
        (0..self.shape[self.axis])
            .map(|j| self.coordinate(self.axis, j))
            .collect()
    }

    /// Name of the profile axis: "x", "y" or "z".
    pub fn axis_name(&self) -> &'static str {
        AXES[self.axis]
    }

    /// The field CSV: one row per grid point, the reported width's density, its standard error,
    /// the concentration and the statistical inefficiency, then the density at each other width.
    pub fn field_csv(&self) -> String {
        let mut s = String::from(
            "x_angstrom,y_angstrom,z_angstrom,density_per_angstrom3,density_se_per_angstrom3,concentration_mol_per_m3,concentration_se_mol_per_m3,statistical_inefficiency",
        );
        for f in &self.fields[1..] {
            let _ = write!(
                s,
                ",density_w{}A_per_angstrom3,density_se_w{}A_per_angstrom3",
                width_tag(f.width_a),
                width_tag(f.width_a)
            );
        }
        s.push('\n');
        let [nx, ny, nz] = self.shape;
        let r = &self.fields[0];
        for ix in 0..nx {
            for iy in 0..ny {
                for iz in 0..nz {
                    let p = (ix * ny + iy) * nz + iz;
                    let _ = write!(
                        s,
                        "{},{},{},{},{},{},{},{}",
                        num(self.coordinate(0, ix)),
                        num(self.coordinate(1, iy)),
                        num(self.coordinate(2, iz)),
                        num(r.mean[p]),
                        num(r.std_error[p]),
                        num(r.mean[p] * PER_A3_IN_MOL_PER_M3),
                        num(r.std_error[p] * PER_A3_IN_MOL_PER_M3),
                        num(r.inefficiency[p])
                    );
                    for f in &self.fields[1..] {
                        let _ = write!(s, ",{},{}", num(f.mean[p]), num(f.std_error[p]));
                    }
                    s.push('\n');
                }
            }
        }
        s
    }

    /// The profile CSV: the planar average along the axis at each width, with standard errors.
    pub fn profile_csv(&self) -> String {
        let a = AXES[self.axis];
        let mut s = format!("{a}_angstrom");
        for f in &self.fields {
            let t = width_tag(f.width_a);
            let _ = write!(
                s,
                ",density_w{t}A_per_angstrom3,density_se_w{t}A_per_angstrom3"
            );
        }
        s.push_str(",concentration_mol_per_m3\n");
        for j in 0..self.shape[self.axis] {
            s.push_str(&num(self.coordinate(self.axis, j)));
            for f in &self.fields {
                let _ = write!(s, ",{},{}", num(f.profile[j]), num(f.profile_std_error[j]));
            }
            let _ = writeln!(
                s,
                ",{}",
                num(self.fields[0].profile[j] * PER_A3_IN_MOL_PER_M3)
            );
        }
        s
    }

    /// The windows CSV (long format): each window's mean profile at the reported width.
    pub fn windows_csv(&self) -> String {
        let a = AXES[self.axis];
        let mut s =
            format!("run,window,t_start_ps,t_end_ps,frames,{a}_angstrom,density_per_angstrom3\n");
        for w in &self.windows {
            for (j, v) in w.profile.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "{},{},{},{},{},{},{}",
                    w.run,
                    w.window,
                    num(w.t_start_ps),
                    num(w.t_end_ps),
                    w.frames,
                    num(self.coordinate(self.axis, j)),
                    num(*v)
                );
            }
        }
        s
    }

    /// The JSON summary.
    pub fn summary(&self, species: &str) -> DensitySummary {
        let r = &self.fields[0];
        let (se_med, se_max) = median_max(&r.std_error);
        let (s_med, s_max) = median_max(&r.inefficiency);
        let widths: Vec<f64> = self.fields.iter().map(|f| f.width_a).collect();
        let lo = widths.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = widths.iter().copied().fold(0.0, f64::max);
        DensitySummary {
            files: self.files.iter().map(|p| p.display().to_string()).collect(),
            species: species.into(),
            n_ions: self.n_ions,
            frames: self.frames,
            duration_ps: self.duration_ps,
            grid: self.shape,
            grid_spacing_angstrom: std::array::from_fn(|d| {
                self.mean_box_a[d] / self.shape[d] as f64
            }),
            mean_box_angstrom: self.mean_box_a,
            mean_volume_angstrom3: self.mean_volume_a3,
            kernel: "periodic Gaussian, sd = kernel width in each Cartesian direction, weights normalised per ion".into(),
            kernel_widths_angstrom: widths,
            mean_density_per_angstrom3: self.mean_density_per_a3,
            mean_concentration_mol_per_m3: self.mean_density_per_a3 * PER_A3_IN_MOL_PER_M3,
            field_min_per_angstrom3: r.mean.iter().copied().fold(f64::INFINITY, f64::min),
            field_max_per_angstrom3: r.mean.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            standard_error_median_per_angstrom3: se_med,
            standard_error_max_per_angstrom3: se_max,
            statistical_inefficiency_median: s_med,
            statistical_inefficiency_max: s_max,
            block_average_unconverged_points: r.unconverged,
            profile_axis: AXES[self.axis].into(),
            scale_separation: ScaleSummary {
                reference_width_angstrom: r.width_a,
                range_angstrom: [lo, hi],
                tolerance_relative: self.tolerance,
                criterion: "sqrt(max(change^2 - noise^2, 0)) <= tolerance, change = rms_x(field_w - field_w0)/mean density, noise = rms_x(se[field_w - field_w0])/mean density".into(),
                independent_of_width: self.scale.iter().all(|c| c.independent),
                checks: self.scale.clone(),
            },
            windows: self.windows.clone(),
            warnings: self.warnings.clone(),
        }
    }

    /// A plain-text summary with units, then the warnings.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let r = &self.fields[0];
        let _ = writeln!(
            s,
            "{} ions, {} frames, {} ps; grid {}x{}x{}, mean box {} x {} x {} Å",
            self.n_ions,
            self.frames,
            sig4(self.duration_ps),
            self.shape[0],
            self.shape[1],
            self.shape[2],
            sig4(self.mean_box_a[0]),
            sig4(self.mean_box_a[1]),
            sig4(self.mean_box_a[2])
        );
        let (se_med, _) = median_max(&r.std_error);
        let (s_med, s_max) = median_max(&r.inefficiency);
        let _ = writeln!(
            s,
            "mean density N/V = {:.5e} 1/Å^3 ({:.5e} mol/m^3); field at width {} Å from {:.5e} to {:.5e} 1/Å^3, median standard error {:.3e} 1/Å^3, statistical inefficiency median {:.2} (max {:.2}) frames",
            self.mean_density_per_a3,
            self.mean_density_per_a3 * PER_A3_IN_MOL_PER_M3,
            sig4(r.width_a),
            r.mean.iter().copied().fold(f64::INFINITY, f64::min),
            r.mean.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            se_med,
            s_med,
            s_max
        );
        for c in &self.scale {
            let _ = writeln!(
                s,
                "scale separation: width {} Å vs {} Å: change {:.2} % of the mean density (noise {:.2} %, beyond the noise {:.2} %), tolerance {:.1} % -> {}",
                c.width_a,
                r.width_a,
                100.0 * c.rms_change_relative,
                100.0 * c.noise_relative,
                100.0 * c.systematic_relative,
                100.0 * self.tolerance,
                if c.independent {
                    "independent"
                } else {
                    "DEPENDS ON THE WIDTH"
                }
            );
        }
        for w in &self.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_weights_sum_to_one_and_wrap() {
        let mut w = Vec::new();
        axis_weights(0.2, 20, 1.5, &mut w);
        assert!((w.iter().map(|p| p.1).sum::<f64>() - 1.0).abs() < 1e-12);
        // Centred near 0: the neighbours on the far side of the box get weight by periodicity.
        let at = |j: usize| w.iter().filter(|p| p.0 == j).map(|p| p.1).sum::<f64>();
        assert!(at(19) > 0.1 && at(0) > at(19) && at(1) > at(19));
        // A kernel wider than the box: every point, nearly uniform.
        axis_weights(3.3, 8, 40.0, &mut w);
        assert_eq!(w.len(), 8);
        assert!(w.iter().all(|p| (p.1 - 0.125).abs() < 1e-3));
    }
}
