//! Monte Carlo propagation (pseudo-random, scrambled Sobol, Latin hypercube) with streaming,
//! bit-reproducible parallel summaries.
//!
//! Samples are processed in chunks of [`CHUNK_SIZE`]; chunk c's normals depend only on (seed, c).
//! Each chunk yields a partial summary (moments, batch statistics, failures); partials are merged
//! strictly in chunk order, and histogram counts (integers) are summed, so the result is
//! bit-identical whatever the number of threads. Chunks run in waves of 32 × threads; only one
//! wave's partials are alive at a time, so memory does not grow with the number of samples.
//! The histogram axes are fixed from a deterministic pilot (the first chunks, ≥ 1024 valid
//! samples), processed serially before the waves.

use super::PropagateError;
use super::delta::flat_units;
use super::design::{CHUNK_SIZE, Design, NormalSource};
use super::summary::{
    BatchStats, BinCoord, HistAxis, Histograms, LocalCounts, MAX_COV_OUTPUTS, Moments, bins_for,
    hall_sheather_bandwidth,
};
use crate::cancel::CancelToken;
use crate::dist::{JointDistribution, Transform};
use crate::model::{Model, flat_output_labels, n_outputs};
use crate::numerics::fastmath::exp_in_place;
use crate::progress::Progress;
use crate::shard::{ShardSpec, SparseCounts, hex_f64, hex_f64s, hex_f64s_opt};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Minimum number of valid pilot samples used to fix the histogram ranges.
const PILOT_MIN_VALID: usize = 1024;
/// If the first this-many chunks give no valid sample at all, the run stops with an error.
const PILOT_MAX_EMPTY_CHUNKS: u64 = 64;
/// The stopping rule is checked every this-many chunks (rounded up to a multiple of the number
/// of Sobol replicates), a schedule independent of the thread count.
const CHECK_EVERY_CHUNKS: u64 = 16;
/// LHS standard errors use batch means over chunks when at least this many chunks ran; fewer
/// chunks fall back to the (conservative) i.i.d. formulas.
const MIN_BATCHES: u64 = 10;

/// Settings of a Monte Carlo run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct McSettings {
    /// Sampling design. Default: pseudo-random.
    pub design: Design,
    /// Number of samples N (the maximum when `rel_err` is set). Sobol runs round N up to a
    /// whole number of chunks per replicate. Default 100 000.
    pub samples: u64,
    /// Seed of every random stream and scramble. Default 0.
    pub seed: u64,
    /// Central interval levels in (0, 1). Default [0.68, 0.95].
    pub levels: Vec<f64>,
    /// Optional stopping rule: stop at the first checkpoint (every 16 chunks = 65 536 samples)
    /// where every reported standard error (mean, sd, quantiles) divided by
    /// max(|value|, sd of that output) is below this target, or at `samples`. Default none.
    pub rel_err: Option<f64>,
    /// Independent Sobol scrambles (≥ 2) used for QMC standard errors. Default 8.
    pub replicates: usize,
    /// Show progress on stderr for runs longer than ~1 s: a bar on a terminal, else a line
    /// every 30 s ([`crate::progress`]). Default true.
    pub progress: bool,
    /// Raised by the caller to stop the run ([`PropagateError::Cancelled`]): checked before each
    /// chunk, so a run stops within one chunk's worth of work per thread. Not a setting of the
    /// run's results (never serialised). Default: a token nobody raises.
    #[serde(skip)]
    pub cancel: CancelToken,
}

impl Default for McSettings {
    fn default() -> Self {
        Self {
            design: Design::Pseudo,
            samples: 100_000,
            seed: 0,
            levels: vec![0.68, 0.95],
            rel_err: None,
            replicates: 8,
            progress: true,
            cancel: CancelToken::new(),
        }
    }
}

impl McSettings {
    /// Check the settings: N ≥ 2, levels in (0, 1), rel_err > 0, replicates ≥ 2 for Sobol and
    /// at most 2³² points per Sobol sequence.
    pub fn validate(&self) -> Result<(), PropagateError> {
        let bad = |field: &str, value: String, expected: &str| PropagateError::InvalidSetting {
            field: field.into(),
            value,
            expected: expected.into(),
        };
        if self.samples < 2 {
            return Err(bad("samples", self.samples.to_string(), "at least 2"));
        }
        for l in &self.levels {
            if !(*l > 0.0 && *l < 1.0) {
                return Err(bad(
                    "levels",
                    l.to_string(),
                    "interval levels strictly between 0 and 1",
                ));
            }
        }
        if let Some(r) = self.rel_err
            && !(r > 0.0 && r.is_finite())
        {
            return Err(bad("rel_err", r.to_string(), "a positive relative error"));
        }
        if self.design == Design::Sobol {
            if self.replicates < 2 {
                return Err(bad(
                    "replicates",
                    self.replicates.to_string(),
                    "at least 2 Sobol replicates",
                ));
            }
            if self.samples / self.replicates as u64 > (1u64 << 32) - CHUNK_SIZE as u64 {
                return Err(bad(
                    "samples",
                    self.samples.to_string(),
                    "at most 2^32 points per Sobol replicate (raise replicates)",
                ));
            }
        }
        Ok(())
    }
}

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// All requested samples were drawn.
    SamplesExhausted,
    /// The `rel_err` target was reached.
    TargetReached,
}

/// A quantile estimate with its Monte Carlo standard error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantileEstimate {
    /// Probability level p.
    pub p: f64,
    /// The p-quantile \[output unit\]; `None` when it lies outside the histogram range
    /// (see `below_range`/`above_range`).
    pub value: Option<f64>,
    /// Asymptotic standard error √(p(1−p)/N)/f(q) with the sparsity 1/f estimated from the
    /// histogram, (Q(p+h) − Q(p−h))/(2h), Hall–Sheather bandwidth h \[output unit\].
    pub se: f64,
}

/// A central interval [Q((1−L)/2), Q((1+L)/2)] at level L.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Level L in (0, 1).
    pub level: f64,
    /// Q((1−L)/2) \[output unit\]; `None` outside the histogram range.
    pub lower: Option<f64>,
    /// Q((1+L)/2) \[output unit\]; `None` outside the histogram range.
    pub upper: Option<f64>,
}

/// Summary of one flat output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputStats {
    /// Flat output label.
    pub label: String,
    /// Unit of the output.
    pub unit: String,
    /// Sample mean \[unit\].
    pub mean: f64,
    /// Sample standard deviation \[unit\].
    pub sd: f64,
    /// Monte Carlo standard error of the mean \[unit\].
    pub se_mean: f64,
    /// Monte Carlo standard error of the sd \[unit\].
    pub se_sd: f64,
    /// Exact minimum and maximum over valid samples \[unit\].
    pub min: f64,
    /// Exact maximum over valid samples \[unit\].
    pub max: f64,
    /// Median and interval end points, with standard errors.
    pub quantiles: Vec<QuantileEstimate>,
    /// Central intervals, one per level.
    pub intervals: Vec<Interval>,
    /// Values below / above the histogram range (their quantiles are unresolved).
    pub below_range: u64,
    /// Values above the histogram range.
    pub above_range: u64,
}

impl OutputStats {
    /// The estimate at level p, if reported.
    pub fn quantile(&self, p: f64) -> Option<&QuantileEstimate> {
        self.quantiles.iter().find(|q| (q.p - p).abs() < 1e-12)
    }

    /// The largest standard error relative to max(|value|, sd), over mean, sd and quantiles.
    pub fn max_rel_err(&self) -> f64 {
        let scale = |v: f64| v.abs().max(self.sd);
        let mut r = (self.se_mean / scale(self.mean)).max(self.se_sd / scale(self.sd));
        for q in &self.quantiles {
            match q.value {
                Some(v) => r = r.max(q.se / scale(v)),
                None => r = f64::INFINITY,
            }
        }
        if r.is_nan() { f64::INFINITY } else { r }
    }
}

/// The result of a Monte Carlo run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McResult {
    /// Sampling design.
    pub design: Design,
    /// Seed of the run.
    pub seed: u64,
    /// Samples asked for (N).
    pub samples_requested: u64,
    /// Samples drawn and evaluated (valid + failed).
    pub samples_evaluated: u64,
    /// Samples with a finite output (the ones summarised).
    pub n_valid: u64,
    /// Evaluations that returned a model error (excluded).
    pub n_failed: u64,
    /// Evaluations that returned a non-finite output (excluded).
    pub n_nonfinite: u64,
    /// (n_failed + n_nonfinite) / samples_evaluated.
    pub failure_fraction: f64,
    /// The failure with the lowest sample index: "sample i: message".
    pub first_failure: Option<String>,
    /// Samples per chunk (the unit of parallel work and of batch-means errors).
    pub chunk_size: usize,
    /// Sobol replicates (None for other designs).
    pub replicates: Option<usize>,
    /// Why the run stopped.
    pub stop: StopReason,
    /// Central interval levels.
    pub levels: Vec<f64>,
    /// How the standard errors were computed, in words.
    pub se_method: String,
    /// Histogram bins per output used for quantiles.
    pub histogram_bins: usize,
    /// Per flat output summary.
    pub outputs: Vec<OutputStats>,
    /// Sample covariance of the flat outputs (up to 64 outputs) \[unit_j·unit_k\].
    pub covariance: Option<Vec<Vec<f64>>>,
}

/// The partial summary of one chunk.
#[derive(Debug, Clone)]
struct ChunkPartial {
    index: u64,
    count: usize,
    moments: Moments,
    n_failed: u64,
    n_nonfinite: u64,
    first_failure: Option<(u64, String)>,
}

/// Per-task scratch space: no allocation per sample.
struct Scratch {
    normals: Vec<f64>,
    /// Natural input values, column-major (input a at a·count, count = the chunk's length).
    xs: Vec<f64>,
    /// Outputs, column-major (output j at j·count); after [`Kernel::run_chunk`] the valid
    /// samples' values are compacted to the front of each column.
    ys: Vec<f64>,
    /// Per sample: 1 when its evaluation failed or gave a non-finite output.
    bad: Vec<u8>,
    failed: Vec<(usize, crate::model::ModelError)>,
    perm: Vec<u32>,
}

impl Scratch {
    fn new(k: usize, p: usize) -> Self {
        Self {
            normals: vec![0.0; CHUNK_SIZE * k],
            xs: vec![0.0; CHUNK_SIZE * k],
            ys: vec![0.0; CHUNK_SIZE * p],
            bad: vec![0; CHUNK_SIZE],
            failed: Vec::new(),
            perm: Vec::with_capacity(CHUNK_SIZE),
        }
    }
}

/// Natural inputs of sample i of a chunk of `count` samples (column-major `xs`).
fn x_of(xs: &[f64], i: usize, count: usize, k: usize) -> Vec<f64> {
    (0..k).map(|a| xs[a * count + i]).collect()
}

/// The sample kernel: normals → z = μ + L·n → x = T(z) → y = f(x).
struct Kernel<'a, M: Model> {
    model: &'a M,
    mean: Vec<f64>,
    /// Lower Cholesky factor, row-major k × k.
    chol: Vec<f64>,
    transforms: Vec<Transform>,
    k: usize,
    p: usize,
    with_cov: bool,
    source: NormalSource,
    n_total: u64,
}

impl<M: Model> Kernel<'_, M> {
    fn chunk_len(&self, c: u64) -> usize {
        (self.n_total - c * CHUNK_SIZE as u64).min(CHUNK_SIZE as u64) as usize
    }

    /// Run chunk c: the valid samples' outputs are left column-major in `s.ys`, output j in
    /// `s.ys[j·count..j·count + n_valid]` (count = the chunk's length, n_valid = the
    /// partial's `moments.n`), in sample order.
    fn run_chunk(&self, c: u64, s: &mut Scratch) -> ChunkPartial {
        let (k, p) = (self.k, self.p);
        let count = self.chunk_len(c);
        self.source.fill(c, count, &mut s.normals, &mut s.perm);
        // z = μ + L·n and x = T(z), one input column at a time (batched transforms).
        // The normals are column-major (column b at b·count), so each term is a vectorisable
        // axpy over the chunk; the terms are added in the fixed order b = 0..=a.
        for a in 0..k {
            let col = &mut s.xs[a * count..(a + 1) * count];
            // z = μ_a + L_a0·n_0 in one pass (the same rounding as adding the term to μ_a).
            let (mu, la0) = (self.mean[a], self.chol[a * k]);
            for (z, n) in col.iter_mut().zip(&s.normals[..count]) {
                *z = mu + la0 * n;
            }
            for b in 1..=a {
                let lab = self.chol[a * k + b];
                let nb = &s.normals[b * count..(b + 1) * count];
                for (z, n) in col.iter_mut().zip(nb) {
                    *z += lab * n;
                }
            }
            match self.transforms[a] {
                Transform::Identity => {}
                Transform::Log => exp_in_place(col),
                t => col.iter_mut().for_each(|z| *z = t.to_natural(*z)),
            }
        }
        // y = f(x) for the whole chunk (batched when the model overrides eval_batch).
        s.failed.clear();
        let ys = &mut s.ys[..count * p];
        self.model
            .eval_batch(&s.xs[..count * k], count, ys, &mut s.failed);
        let bad = &mut s.bad[..count];
        bad.fill(0);
        let n_failed = s.failed.len() as u64;
        for (i, _) in &s.failed {
            bad[*i] = 1;
        }
        // Non-finite outputs of samples that did not fail (a vectorisable scan per column).
        let mut n_nonfinite = 0;
        let mut first_nonfinite: Option<(usize, usize)> = None;
        for j in 0..p {
            let col = &ys[j * count..(j + 1) * count];
            if col.iter().fold(true, |ok, v| ok & v.is_finite()) {
                continue;
            }
            for (i, v) in col.iter().enumerate() {
                if !v.is_finite() && bad[i] == 0 {
                    bad[i] = 2;
                    n_nonfinite += 1;
                    if first_nonfinite.is_none_or(|(i0, _)| i < i0) {
                        first_nonfinite = Some((i, j));
                    }
                }
            }
        }
        // The failure with the lowest sample index, either kind.
        let first_error = s.failed.first().map(|(i, e)| (*i, e));
        let first_failure = match (first_error, first_nonfinite) {
            (Some((i, e)), nf) if nf.is_none_or(|(i1, _)| i < i1) => Some((
                c * CHUNK_SIZE as u64 + i as u64,
                format!("{e} at x = {:?}", x_of(&s.xs, i, count, k)),
            )),
            (_, Some((i, j))) => Some((
                c * CHUNK_SIZE as u64 + i as u64,
                format!(
                    "non-finite output #{j} ({}) at x = {:?}",
                    ys[j * count + i],
                    x_of(&s.xs, i, count, k)
                ),
            )),
            _ => None,
        };
        // Drop the bad samples, keeping the order of the rest.
        let n_bad = n_failed as usize + n_nonfinite as usize;
        let n_valid = count - n_bad;
        if n_bad > 0 {
            for j in 0..p {
                let col = &mut ys[j * count..(j + 1) * count];
                let mut w = 0;
                for i in 0..count {
                    if bad[i] == 0 {
                        col[w] = col[i];
                        w += 1;
                    }
                }
            }
        }
        ChunkPartial {
            index: c,
            count,
            moments: Moments::from_columns(ys, count, n_valid, p, self.with_cov),
            n_failed,
            n_nonfinite,
            first_failure,
        }
    }
}

/// Running state: merged in chunk order.
struct Accumulator {
    moments: Moments,
    batches: BatchStats,
    replicates: Vec<Moments>,
    design: Design,
    n_evaluated: u64,
    n_failed: u64,
    n_nonfinite: u64,
    first_failure: Option<(u64, String)>,
    next_chunk: u64,
}

impl Accumulator {
    fn new(p: usize, with_cov: bool, design: Design, replicates: usize) -> Self {
        Self {
            moments: Moments::new(p, with_cov),
            batches: BatchStats::new(p),
            replicates: if design == Design::Sobol {
                vec![Moments::new(p, false); replicates]
            } else {
                Vec::new()
            },
            design,
            n_evaluated: 0,
            n_failed: 0,
            n_nonfinite: 0,
            first_failure: None,
            next_chunk: 0,
        }
    }

    fn push(&mut self, part: &ChunkPartial) {
        debug_assert_eq!(
            part.index, self.next_chunk,
            "partials must be merged in chunk order"
        );
        self.next_chunk = part.index + 1;
        self.moments.merge(&part.moments);
        if part.count == CHUNK_SIZE {
            self.batches.push(&part.moments);
        }
        if self.design == Design::Sobol {
            let r = (part.index % self.replicates.len() as u64) as usize;
            let mut m = part.moments.clone();
            m.comoment = None;
            self.replicates[r].merge(&m);
        }
        self.n_evaluated += part.count as u64;
        self.n_failed += part.n_failed;
        self.n_nonfinite += part.n_nonfinite;
        if self.first_failure.is_none() {
            self.first_failure = part.first_failure.clone();
        }
    }

    /// (se_mean, se_sd) of output j for this design, and a description of the method.
    fn standard_errors(&self, j: usize) -> (f64, f64) {
        let m = &self.moments;
        match self.design {
            Design::Pseudo => (m.se_mean_iid(j), m.se_sd_iid(j)),
            Design::LatinHypercube => {
                if self.batches.n >= MIN_BATCHES {
                    (
                        self.batches.se_mean(j),
                        self.batches.se_var(j) / (2.0 * m.sd(j)),
                    )
                } else {
                    (m.se_mean_iid(j), m.se_sd_iid(j))
                }
            }
            Design::Sobol => {
                let r = self.replicates.iter().filter(|x| x.n >= 2).count();
                if r < 2 {
                    return (f64::NAN, f64::NAN);
                }
                let (mut b1, mut b2) = (BatchStats::new(1), BatchStats::new(1));
                for rep in self.replicates.iter().filter(|x| x.n >= 2) {
                    let mut one = Moments::new(1, false);
                    one.n = 2;
                    one.mean[0] = rep.mean[j];
                    b1.push(&one);
                    one.mean[0] = rep.sd(j);
                    b2.push(&one);
                }
                (b1.se_mean(0), b2.se_mean(0))
            }
        }
    }

    fn se_method(&self) -> String {
        match self.design {
            Design::Pseudo => "i.i.d. formulas: mean s/sqrt(N); sd from the fourth central moment, \
                               sqrt((m4 - m2^2)/N)/(2s); quantiles sqrt(p(1-p)/N)/f(q) with f from the \
                               histogram (Hall-Sheather bandwidth)"
                .into(),
            Design::LatinHypercube => {
                if self.batches.n >= MIN_BATCHES {
                    format!(
                        "batch means over {} independent Latin-hypercube chunks of {CHUNK_SIZE} samples \
                         (mean: sd of chunk means/sqrt(chunks); sd: sd of chunk variances/sqrt(chunks)/(2s)); \
                         quantiles: the i.i.d. asymptotic formula (an upper bound for LHS)",
                        self.batches.n
                    )
                } else {
                    "too few chunks for batch means: i.i.d. formulas (conservative for LHS)".into()
                }
            }
            Design::Sobol => format!(
                "spread of {} independent scrambles: mean and sd SE = sd of replicate estimates/sqrt(R); \
                 quantiles: the i.i.d. asymptotic formula (an upper bound for randomised QMC)",
                self.replicates.len()
            ),
        }
    }
}

/// Quantile levels reported for a set of interval levels: the median and both ends of every
/// interval, sorted.
pub fn quantile_levels(levels: &[f64]) -> Vec<f64> {
    let mut ps = vec![0.5];
    for l in levels {
        ps.push(0.5 * (1.0 - l));
        ps.push(0.5 * (1.0 + l));
    }
    ps.sort_by(f64::total_cmp);
    ps.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    ps
}

fn finalize_outputs(
    acc: &Accumulator,
    hist: &Histograms,
    labels: &[String],
    units: &[String],
    levels: &[f64],
) -> Vec<OutputStats> {
    let m = &acc.moments;
    let n = m.n as f64;
    let ps = quantile_levels(levels);
    (0..m.dim())
        .map(|j| {
            let (min, max) = (m.min[j], m.max[j]);
            let q = |p: f64| hist.quantile(j, p, min, max);
            let quantiles: Vec<QuantileEstimate> = ps
                .iter()
                .map(|&p| {
                    let h = hall_sheather_bandwidth(p, n).min(0.5 * p.min(1.0 - p));
                    let se = match (q(p - h), q(p + h)) {
                        (Some(a), Some(b)) => (p * (1.0 - p) / n).sqrt() * (b - a) / (2.0 * h),
                        _ => f64::NAN,
                    };
                    QuantileEstimate { p, value: q(p), se }
                })
                .collect();
            let intervals = levels
                .iter()
                .map(|&l| Interval {
                    level: l,
                    lower: q(0.5 * (1.0 - l)),
                    upper: q(0.5 * (1.0 + l)),
                })
                .collect();
            let (se_mean, se_sd) = acc.standard_errors(j);
            let (below_range, above_range) = hist.out_of_range(j);
            OutputStats {
                label: labels[j].clone(),
                unit: units[j].clone(),
                mean: m.mean[j],
                sd: m.sd(j),
                se_mean,
                se_sd,
                min,
                max,
                quantiles,
                intervals,
                below_range,
                above_range,
            }
        })
        .collect()
}

/// A pilot chunk: its partial and its valid outputs (column-major, n_valid per column).
type PilotChunk = (ChunkPartial, Vec<f64>);

/// A run's fixed plan: the sample kernel, the number of chunks and of Sobol replicates, and the
/// caller's stop flag.
struct Plan<'a, M: Model> {
    kernel: Kernel<'a, M>,
    n_chunks: u64,
    replicates: usize,
    cancel: CancelToken,
}

impl<'a, M: Model> Plan<'a, M> {
    /// Check the binding and settings and fix the chunks of the run.
    fn new(
        model: &'a M,
        dist: &JointDistribution,
        settings: &McSettings,
    ) -> Result<Self, PropagateError> {
        super::check_binding(model, dist)?;
        settings.validate()?;
        let k = dist.dim();
        let p = n_outputs(model);
        if p == 0 {
            return Err(PropagateError::NoOutputs);
        }
        let design = settings.design;
        let replicates = if design == Design::Sobol {
            settings.replicates
        } else {
            1
        };
        let chunk = CHUNK_SIZE as u64;
        let n_total = if design == Design::Sobol {
            let per = (replicates as u64) * chunk;
            settings.samples.div_ceil(per) * per
        } else {
            settings.samples
        };
        let chol = dist.cholesky();
        let kernel = Kernel {
            model,
            mean: dist.mean_z.iter().copied().collect(),
            chol: (0..k * k)
                .map(|i| {
                    if i % k <= i / k {
                        chol[(i / k, i % k)]
                    } else {
                        0.0
                    }
                })
                .collect(),
            transforms: dist.params.iter().map(|p| p.transform).collect(),
            k,
            p,
            with_cov: p <= MAX_COV_OUTPUTS,
            source: NormalSource::new(design, settings.seed, k, replicates),
            n_total,
        };
        Ok(Self {
            kernel,
            n_chunks: n_total.div_ceil(chunk),
            replicates,
            cancel: settings.cancel.clone(),
        })
    }

    fn accumulator(&self, design: Design) -> Accumulator {
        Accumulator::new(self.kernel.p, self.kernel.with_cov, design, self.replicates)
    }

    /// The pilot: chunks 0, 1, … run serially until at least [`PILOT_MIN_VALID`] valid samples
    /// fix the histogram axes. Returns the pilot chunks' partials with their valid outputs
    /// (column-major, n_valid per column) and the axes; an error when the first
    /// [`PILOT_MAX_EMPTY_CHUNKS`] chunks gave no valid sample.
    fn pilot(&self) -> Result<(Vec<PilotChunk>, Vec<HistAxis>), PropagateError> {
        let (k, p) = (self.kernel.k, self.kernel.p);
        let mut scratch = Scratch::new(k, p);
        let mut chunks = Vec::new();
        let mut n_valid_total = 0;
        let mut c = 0u64;
        while c < self.n_chunks && n_valid_total < PILOT_MIN_VALID {
            if self.cancel.is_cancelled() {
                return Err(PropagateError::Cancelled);
            }
            let part = self.kernel.run_chunk(c, &mut scratch);
            let (count, n_valid) = (part.count, part.moments.n as usize);
            let mut values = Vec::with_capacity(p * n_valid);
            for j in 0..p {
                values.extend_from_slice(&scratch.ys[j * count..j * count + n_valid]);
            }
            n_valid_total += n_valid;
            chunks.push((part, values));
            c += 1;
            if n_valid_total == 0 && c >= PILOT_MAX_EMPTY_CHUNKS {
                break;
            }
        }
        if n_valid_total == 0 {
            return Err(PropagateError::AllFailed {
                evaluated: chunks.iter().map(|(part, _)| part.count as u64).sum(),
                first_failure: chunks
                    .iter()
                    .find_map(|(part, _)| part.first_failure.as_ref())
                    .map(|(i, m)| format!("sample {i}: {m}"))
                    .unwrap_or_default(),
            });
        }
        let nbins = bins_for(p);
        let axes = (0..p)
            .map(|j| {
                let column: Vec<f64> = chunks
                    .iter()
                    .flat_map(|(part, v)| {
                        let n = part.moments.n as usize;
                        v[j * n..(j + 1) * n].iter().copied()
                    })
                    .collect();
                HistAxis::from_pilot(&column, nbins)
            })
            .collect();
        Ok((chunks, axes))
    }

    /// Run chunks [start, end) in parallel, count their valid outputs into `hist` and return
    /// their partials in chunk order. At most 65 536 chunks (32-bit task counts).
    /// [`PropagateError::Cancelled`] once the caller's token is raised: the chunks not yet
    /// started are skipped.
    fn wave(
        &self,
        hist: &mut Histograms,
        start: u64,
        end: u64,
    ) -> Result<Vec<ChunkPartial>, PropagateError> {
        let (k, p) = (self.kernel.k, self.kernel.p);
        let len = (end - start) as usize;
        // Chunks are shared out by work stealing (a busy core holds nobody up); each fold
        // segment covers consecutive chunks, keeps its own scratch and 32-bit histogram counts
        // (at most 65 536 chunks of CHUNK_SIZE samples per wave, far below 2³² per slot),
        // and the segments come back in chunk order.
        let results: Vec<(Vec<ChunkPartial>, LocalCounts)> = (0..len)
            .into_par_iter()
            .with_min_len(16)
            .fold(
                || (Vec::new(), hist.local_counts(), Scratch::new(k, p)),
                |(mut parts, mut h, mut s), i| {
                    if self.cancel.is_cancelled() {
                        return (parts, h, s);
                    }
                    let part = self.kernel.run_chunk(start + i as u64, &mut s);
                    let (count, n_valid) = (part.count, part.moments.n as usize);
                    hist.add_columns_local(&mut h, &s.ys, count, n_valid);
                    parts.push(part);
                    (parts, h, s)
                },
            )
            .map(|(parts, h, _)| (parts, h))
            .collect();
        if self.cancel.is_cancelled() {
            return Err(PropagateError::Cancelled);
        }
        let mut parts: Vec<ChunkPartial> = Vec::with_capacity(len);
        for (ps, h) in results {
            parts.extend(ps);
            hist.merge_local(&h);
        }
        // Already in order; the sort makes the merge order independent of how rayon split.
        parts.sort_by_key(|part| part.index);
        Ok(parts)
    }

    /// The end of the wave starting at chunk `c` (32 chunks per thread, at most 65 536, and
    /// never past `end`). Wave boundaries do not affect the result (partials are merged in
    /// chunk order, counts are integers).
    fn wave_end(&self, c: u64, end: u64) -> u64 {
        let threads = rayon::current_num_threads().max(1) as u64;
        end.min(c + (32 * threads).min(65_536))
    }
}

/// Monte Carlo propagation of `dist` through `model` with the chosen design: streaming mean,
/// sd, covariance, quantiles and intervals of every flat output, each with its Monte Carlo
/// standard error; failed evaluations are counted and excluded.
///
/// Runs on the current rayon pool; the result is bit-identical for a given seed whatever the
/// number of threads, and to [`merge_parts`] of the [`monte_carlo_part`]s of any number of
/// shards (both fold the same chunk partials in chunk order). `dist.params` must correspond
/// index-by-index to `model.inputs()`.
pub fn monte_carlo<M: Model>(
    model: &M,
    dist: &JointDistribution,
    settings: &McSettings,
) -> Result<McResult, PropagateError> {
    let plan = Plan::new(model, dist, settings)?;
    let (n_chunks, replicates) = (plan.n_chunks, plan.replicates as u64);
    let mut acc = plan.accumulator(settings.design);
    let progress = Progress::new(
        "propagate",
        "samples",
        plan.kernel.n_total,
        settings.progress,
    );
    let started = Instant::now();

    // Pilot: serial, fixes the histogram axes; its chunks are the run's first.
    let (pilot, axes) = plan.pilot()?;
    let mut hist = Histograms::new(axes);
    for (part, values) in &pilot {
        count_pilot_chunk(&mut hist, part, values);
        acc.push(part);
    }
    let mut c = pilot.len() as u64;
    drop(pilot);
    // the pilot ran serially: the rest at its rate spread over the pool
    progress.set(0, acc.n_evaluated);
    if acc.n_evaluated > 0 {
        let per_sample = started.elapsed().as_secs_f64() / acc.n_evaluated as f64;
        let rest = plan.kernel.n_total.saturating_sub(acc.n_evaluated) as f64;
        progress.announce_estimate(per_sample * rest / rayon::current_num_threads().max(1) as f64);
    }

    let labels = flat_output_labels(model);
    let units = flat_units(model.outputs());
    let check_every = CHECK_EVERY_CHUNKS.div_ceil(replicates) * replicates;
    let mut stop = StopReason::SamplesExhausted;
    while c < n_chunks {
        if let Some(target) = settings.rel_err
            && c.is_multiple_of(check_every)
        {
            let outs = finalize_outputs(&acc, &hist, &labels, &units, &settings.levels);
            if outs.iter().all(|o| o.max_rel_err() < target) {
                stop = StopReason::TargetReached;
                break;
            }
        }
        // With a stopping rule, a wave also ends at the next checkpoint.
        let mut wave_end = plan.wave_end(c, n_chunks);
        if settings.rel_err.is_some() {
            wave_end = wave_end.min((c / check_every + 1) * check_every);
        }
        for part in plan.wave(&mut hist, c, wave_end)? {
            acc.push(&part);
        }
        c = wave_end;
        progress.set(0, acc.n_evaluated);
    }
    progress.finish();
    Ok(finish(acc, &hist, &labels, &units, settings, stop))
}

/// Count a pilot chunk's valid outputs (column-major, n_valid per column) into `hist`.
fn count_pilot_chunk(hist: &mut Histograms, part: &ChunkPartial, values: &[f64]) {
    let n = part.moments.n as usize;
    for j in 0..hist.axes.len() {
        hist.add_column(j, &values[j * n..(j + 1) * n]);
    }
}

/// The result from the folded partials and the histogram counts.
fn finish(
    acc: Accumulator,
    hist: &Histograms,
    labels: &[String],
    units: &[String],
    settings: &McSettings,
    stop: StopReason,
) -> McResult {
    let mut outputs = finalize_outputs(&acc, hist, labels, units, &settings.levels);
    if acc.moments.n < 2 {
        for o in outputs.iter_mut() {
            o.sd = f64::NAN;
        }
    }
    let bad = acc.n_failed + acc.n_nonfinite;
    let design = settings.design;
    McResult {
        design,
        seed: settings.seed,
        samples_requested: settings.samples,
        samples_evaluated: acc.n_evaluated,
        n_valid: acc.moments.n,
        n_failed: acc.n_failed,
        n_nonfinite: acc.n_nonfinite,
        failure_fraction: bad as f64 / acc.n_evaluated.max(1) as f64,
        first_failure: acc
            .first_failure
            .as_ref()
            .map(|(i, m)| format!("sample {i}: {m}")),
        chunk_size: CHUNK_SIZE,
        replicates: (design == Design::Sobol).then_some(acc.replicates.len()),
        stop,
        levels: settings.levels.clone(),
        se_method: acc.se_method(),
        histogram_bins: hist.axes.first().map_or(0, |a| a.nbins),
        covariance: acc.moments.covariance(),
        outputs,
    }
}

/// One shard's share of a Monte Carlo run ([`monte_carlo_part`]): the partial summary of every
/// chunk in its range (not their sum: see [`crate::shard`]), the histogram counts of those
/// chunks' valid outputs, and the histogram axes of the run's pilot (the same in every shard).
/// Floats are stored as bit patterns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McPart {
    /// Sampling design of the run.
    pub design: Design,
    /// Chunks of the whole run.
    pub n_chunks: u64,
    /// This shard's chunks [start, end).
    pub chunks: [u64; 2],
    /// Histogram axis per output, from the run's pilot.
    pub axes: Vec<AxisRecord>,
    /// Per output: histogram counts of this shard's valid samples.
    pub counts: Vec<SparseCounts>,
    /// One record per chunk of the range, in chunk order.
    pub partials: Vec<ChunkRecord>,
}

/// A histogram axis, exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisRecord {
    /// How values map to the binned coordinate.
    pub coord: BinCoord,
    /// Lower end of the binned coordinate's range.
    #[serde(with = "hex_f64")]
    pub lo: f64,
    /// Bin width in the binned coordinate.
    #[serde(with = "hex_f64")]
    pub width: f64,
    /// 1/width, stored so every shard bins with the same float.
    #[serde(with = "hex_f64")]
    pub inv_width: f64,
    /// Number of bins (besides underflow and overflow).
    pub nbins: usize,
}

/// One chunk's partial summary, exactly (moments as in [`super::summary::Moments`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkRecord {
    /// Chunk index in the run.
    pub index: u64,
    /// Samples in the chunk (valid or not).
    pub count: usize,
    /// Valid samples.
    pub n: u64,
    /// Per output mean ȳ \[unit\].
    #[serde(with = "hex_f64s")]
    pub mean: Vec<f64>,
    /// Per output M2 = Σ(y − ȳ)² \[unit²\].
    #[serde(with = "hex_f64s")]
    pub m2: Vec<f64>,
    /// Per output M3 = Σ(y − ȳ)³ \[unit³\].
    #[serde(with = "hex_f64s")]
    pub m3: Vec<f64>,
    /// Per output M4 = Σ(y − ȳ)⁴ \[unit⁴\].
    #[serde(with = "hex_f64s")]
    pub m4: Vec<f64>,
    /// Per output minimum \[unit\].
    #[serde(with = "hex_f64s")]
    pub min: Vec<f64>,
    /// Per output maximum \[unit\].
    #[serde(with = "hex_f64s")]
    pub max: Vec<f64>,
    /// Co-moments C_jk = Σ(y_j − ȳ_j)(y_k − ȳ_k), upper triangle row-major, when tracked.
    #[serde(with = "hex_f64s_opt")]
    pub comoment: Option<Vec<f64>>,
    /// Evaluations that returned a model error.
    pub n_failed: u64,
    /// Evaluations with a non-finite output.
    pub n_nonfinite: u64,
    /// The chunk's first failure: (sample index, message).
    pub first_failure: Option<(u64, String)>,
}

impl ChunkRecord {
    fn of(part: &ChunkPartial) -> Self {
        let m = &part.moments;
        Self {
            index: part.index,
            count: part.count,
            n: m.n,
            mean: m.mean.clone(),
            m2: m.m2.clone(),
            m3: m.m3.clone(),
            m4: m.m4.clone(),
            min: m.min.clone(),
            max: m.max.clone(),
            comoment: m.comoment.clone(),
            n_failed: part.n_failed,
            n_nonfinite: part.n_nonfinite,
            first_failure: part.first_failure.clone(),
        }
    }

    /// The partial, if its arrays have `p` outputs (and a p × p co-moment iff `with_cov`).
    fn to_partial(&self, p: usize, with_cov: bool) -> Option<ChunkPartial> {
        let lens = [
            &self.mean, &self.m2, &self.m3, &self.m4, &self.min, &self.max,
        ];
        if lens.iter().any(|v| v.len() != p)
            || self.comoment.as_ref().map(|c| c.len()) != with_cov.then_some(p * p)
            || self.n + self.n_failed + self.n_nonfinite != self.count as u64
        {
            return None;
        }
        Some(ChunkPartial {
            index: self.index,
            count: self.count,
            moments: Moments {
                n: self.n,
                mean: self.mean.clone(),
                m2: self.m2.clone(),
                m3: self.m3.clone(),
                m4: self.m4.clone(),
                min: self.min.clone(),
                max: self.max.clone(),
                comoment: self.comoment.clone(),
            },
            n_failed: self.n_failed,
            n_nonfinite: self.n_nonfinite,
            first_failure: self.first_failure.clone(),
        })
    }
}

/// Shard `shard` of the Monte Carlo run [`monte_carlo`] would make with these settings: the
/// pilot (run by every shard, for the histogram axes), then the chunks of this shard's range
/// ([`ShardSpec::range`] of the run's chunks). A stopping rule (`rel_err`) is refused: whether
/// to stop depends on every earlier chunk, which a shard does not see.
pub fn monte_carlo_part<M: Model>(
    model: &M,
    dist: &JointDistribution,
    settings: &McSettings,
    shard: ShardSpec,
) -> Result<McPart, PropagateError> {
    if let Some(r) = settings.rel_err {
        return Err(PropagateError::InvalidSetting {
            field: "rel_err".into(),
            value: r.to_string(),
            expected: "no stopping rule in a sharded run (a fixed number of samples)".into(),
        });
    }
    let plan = Plan::new(model, dist, settings)?;
    let range = shard.range(plan.n_chunks);
    let (pilot, axes) = plan.pilot()?;
    let mut hist = Histograms::new(axes);
    let mut partials = Vec::new();
    for (part, values) in &pilot {
        if range.contains(&part.index) {
            count_pilot_chunk(&mut hist, part, values);
            partials.push(ChunkRecord::of(part));
        }
    }
    let mut c = range.start.max(pilot.len() as u64);
    drop(pilot);
    // (this part's share of the run's samples)
    let share = (range.end - range.start) * plan.kernel.n_total / plan.n_chunks.max(1);
    let progress = Progress::new("propagate", "samples", share, settings.progress);
    while c < range.end {
        let end = plan.wave_end(c, range.end);
        partials.extend(plan.wave(&mut hist, c, end)?.iter().map(ChunkRecord::of));
        c = end;
        progress.set(0, partials.iter().map(|r| r.count as u64).sum());
    }
    progress.finish();
    Ok(McPart {
        design: settings.design,
        n_chunks: plan.n_chunks,
        chunks: [range.start, range.end],
        axes: hist
            .axes
            .iter()
            .map(|a| AxisRecord {
                coord: a.coord,
                lo: a.lo,
                width: a.width,
                inv_width: a.inv_width,
                nbins: a.nbins,
            })
            .collect(),
        counts: hist
            .counts
            .iter()
            .map(|c| SparseCounts::from_dense(c))
            .collect(),
        partials,
    })
}

/// The Monte Carlo result of a run from the parts of all its shards (in shard order): the
/// chunk partials folded in chunk order exactly as [`monte_carlo`] folds them, the histogram
/// counts summed, so the result equals the single-process one bit for bit. Errors name the
/// part (1-based, in the order given) that does not fit the run these settings describe.
pub fn merge_parts<M: Model>(
    model: &M,
    dist: &JointDistribution,
    settings: &McSettings,
    parts: &[&McPart],
) -> Result<McResult, PropagateError> {
    let plan = Plan::new(model, dist, settings)?;
    let (p, with_cov) = (plan.kernel.p, plan.kernel.with_cov);
    let bad = |i: usize, what: String| PropagateError::InvalidSetting {
        field: format!(
            "part {} of the {} design",
            i + 1,
            settings.design.short_name()
        ),
        value: what,
        expected: "a part of this run".into(),
    };
    let first = parts.first().ok_or_else(|| bad(0, "no parts".into()))?;
    let axes: Vec<HistAxis> = first
        .axes
        .iter()
        .map(|a| HistAxis {
            coord: a.coord,
            lo: a.lo,
            width: a.width,
            inv_width: a.inv_width,
            nbins: a.nbins,
        })
        .collect();
    let mut hist = Histograms::new(axes);
    let mut acc = plan.accumulator(settings.design);
    let mut next = 0u64;
    for (i, part) in parts.iter().enumerate() {
        if part.design != settings.design || part.n_chunks != plan.n_chunks {
            return Err(bad(
                i,
                format!(
                    "{} design with {} chunks, not {} with {}",
                    part.design.short_name(),
                    part.n_chunks,
                    settings.design.short_name(),
                    plan.n_chunks
                ),
            ));
        }
        if part.axes != first.axes || part.axes.len() != p || part.counts.len() != p {
            return Err(bad(i, "histogram axes differ from the first part's".into()));
        }
        if part.chunks[0] != next || part.partials.len() as u64 != part.chunks[1] - part.chunks[0] {
            return Err(bad(
                i,
                format!("chunks {:?} where chunk {next} comes next", part.chunks),
            ));
        }
        for (j, c) in part.counts.iter().enumerate() {
            c.add_to(&mut hist.counts[j])
                .ok_or_else(|| bad(i, format!("histogram counts of output {j}")))?;
        }
        for r in &part.partials {
            let chunk = r
                .to_partial(p, with_cov)
                .filter(|c| c.index == next)
                .ok_or_else(|| bad(i, format!("the record of chunk {next}")))?;
            acc.push(&chunk);
            next += 1;
        }
    }
    if next != plan.n_chunks {
        return Err(bad(
            parts.len() - 1,
            format!("the parts end at chunk {next} of {}", plan.n_chunks),
        ));
    }
    let labels = flat_output_labels(model);
    let units = flat_units(model.outputs());
    Ok(finish(
        acc,
        &hist,
        &labels,
        &units,
        settings,
        StopReason::SamplesExhausted,
    ))
}
