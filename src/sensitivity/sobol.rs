//! Sobol first-order and total indices on scrambled Sobol samples, with bootstrap intervals.
//!
//! Design (Saltelli et al. 2010, "Variance based sensitivity analysis of model output",
//! Comput. Phys. Commun. 181, 259): N base rows of a 2d-dimensional Owen-scrambled Sobol
//! sequence give two independent matrices A (first d coordinates) and B (last d); AB_i is A
//! with column i taken from B. With f the model, V = Var(f) over the 2N rows of A and B:
//!
//! $$ S_i = \frac{1}{N V}\sum_j f(B)_j\,[f(AB_i)_j - f(A)_j] \quad\text{(Saltelli 2010, first order)} $$
//! $$ S_{Ti} = \frac{1}{2 N V}\sum_j [f(A)_j - f(AB_i)_j]^2 \quad\text{(Jansen 1999, total)} $$
//!
//! Outputs are centred by their overall sample mean before the sums (a constant shift, which
//! leaves both estimators' expectations unchanged and avoids cancellation when |mean| ≫ sd).
//! Cost: N·(d + 2) evaluations. Confidence intervals come from a row bootstrap (resampling the
//! N rows with replacement, seeded): both the percentile interval and the bootstrap standard
//! error (SALib's `conf` is z_{(1+level)/2}·se). Indices are dimensionless.
//!
//! For curve outputs the indices are given per flat output entry and, per curve, aggregated as
//! Σ_k V_k S_{i,k} / Σ_k V_k (variance-weighted; Gamboa et al. 2014).

use super::{
    DistModelFn, LongRow, OutputLayout, SensitivityError, SensitivityTable, UnitCubeFn, fmt_num,
    md, variance_weighted,
};
use crate::calibrate::diagnostics::quantile_sorted;
use crate::cancel::CancelToken;
use crate::dist::JointDistribution;
use crate::dist::sample::stream_rng;
use crate::dist::sobol::{MAX_DIM, ScrambledSobol};
use crate::model::{Model, ModelError};
use crate::shard::{ShardSpec, hex_f64s};
use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Settings for [`sobol()`] / [`sobol_fn`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SobolSettings {
    /// N, the number of base rows (a power of two keeps the Sobol net balanced). Default 4096.
    pub base_samples: usize,
    /// Scrambling seed of the Sobol sequence and seed of the bootstrap. Default 0.
    pub seed: u64,
    /// Number of bootstrap resamples (0 = none). Default 100.
    pub bootstrap: usize,
    /// Confidence level of the intervals. Default 0.95.
    pub confidence: f64,
    /// Largest tolerated fraction of base rows with a failed evaluation (dropped). Default 0.1.
    pub max_failure_fraction: f64,
    /// Show progress on stderr ([`crate::progress`]). Default true.
    pub progress: bool,
    /// Raised by the caller to stop the run ([`SensitivityError::Cancelled`]): checked before
    /// each chunk of 256 base rows. Not a setting of the results (never serialised).
    #[serde(skip)]
    pub cancel: CancelToken,
}

impl Default for SobolSettings {
    fn default() -> Self {
        Self {
            base_samples: 4096,
            seed: 0,
            bootstrap: 100,
            confidence: 0.95,
            max_failure_fraction: 0.1,
            progress: true,
            cancel: CancelToken::new(),
        }
    }
}

impl SobolSettings {
    fn validate(&self, dim: usize) -> Result<(), SensitivityError> {
        if self.base_samples < 8 || self.base_samples > u32::MAX as usize {
            return Err(SensitivityError::setting(
                "sobol.base_samples",
                self.base_samples,
                "8 ≤ N < 2^32",
            ));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(SensitivityError::setting(
                "sobol.confidence",
                self.confidence,
                "a level in (0, 1)",
            ));
        }
        if !(0.0..=1.0).contains(&self.max_failure_fraction) {
            return Err(SensitivityError::setting(
                "sobol.max_failure_fraction",
                self.max_failure_fraction,
                "a fraction in [0, 1]",
            ));
        }
        if dim == 0 || 2 * dim > MAX_DIM {
            return Err(SensitivityError::setting("dimension", dim, "1 ≤ d ≤ 500"));
        }
        Ok(())
    }

    /// Every row of the N·(d + 2) evaluations is kept for the estimator and the bootstrap
    /// (`n_out` values of 8 bytes each): checked against the memory before evaluating.
    fn check_memory(&self, dim: usize, n_out: usize) -> Result<(), SensitivityError> {
        let bytes = self.base_samples as f64 * ((dim + 2) * n_out.max(1)) as f64 * 8.0;
        crate::budget::check_memory(
            &format!(
                "{} base samples × {} evaluations × {n_out} outputs",
                self.base_samples,
                dim + 2
            ),
            bytes,
            "sobol.base_samples",
        )
        .map_err(|m| {
            SensitivityError::setting(
                "sobol.base_samples",
                self.base_samples,
                &format!("a size that fits in memory ({m})"),
            )
        })
    }
}

/// Indices of every input for one output (a flat entry or a curve aggregate).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SobolOutput {
    /// Flat output label, or `name[variance-weighted]` for a curve aggregate.
    pub output: String,
    /// Sample mean of the output (output unit).
    pub mean: f64,
    /// Sample variance of the output (output unit squared); for aggregates, Σ_k V_k.
    pub variance: f64,
    /// First-order indices S_i, one per input.
    pub first: Vec<f64>,
    /// Percentile bootstrap interval of S_i, [low, high].
    pub first_ci: Vec<[f64; 2]>,
    /// Bootstrap standard error of S_i.
    pub first_se: Vec<f64>,
    /// Total indices S_Ti.
    pub total: Vec<f64>,
    /// Percentile bootstrap interval of S_Ti, [low, high].
    pub total_ci: Vec<[f64; 2]>,
    /// Bootstrap standard error of S_Ti.
    pub total_se: Vec<f64>,
}

/// Result of a Sobol analysis.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SobolResult {
    /// Input names: named inputs, or for a correlated distribution the independent normals
    /// of the Cholesky decomposition (see `note`).
    pub inputs: Vec<String>,
    /// One entry per flat output.
    pub per_output: Vec<SobolOutput>,
    /// One variance-weighted aggregate per curve output.
    pub aggregated: Vec<SobolOutput>,
    /// N, the number of base rows.
    pub base_samples: usize,
    /// Model evaluations made, N·(d + 2).
    pub evaluations: usize,
    /// Base rows dropped because an evaluation failed.
    pub failed_rows: usize,
    /// Seed: a seed gives identical results whatever the thread count. Default 0.
    pub seed: u64,
    /// Number of bootstrap resamples.
    pub bootstrap: usize,
    /// Confidence level of the intervals.
    pub confidence: f64,
    /// True when the inputs are correlated.
    pub correlated: bool,
    /// What the indices mean (in particular for correlated inputs).
    pub note: String,
}

const NOTE_INDEPENDENT: &str = "Inputs independent: S_i is the share of Var(y) explained by input i alone, \
S_Ti the share involving input i (alone or in interactions).";
const NOTE_CORRELATED: &str = "Inputs are CORRELATED: these indices are computed on the independent standard \
normals n of the Cholesky decomposition z = mu + L n, NOT on the named inputs. n_1 carries input 1 together with \
everything correlated with it (a 'full' index of Mara & Tarantola 2012); n_i (i > 1) carries only the part of input \
i not explained by inputs 1..i-1 (an 'independent' index). The order of inputs changes them. For the named inputs \
use the Shapley effects (method shapley), which split dependence and interaction contributions fairly.";

/// Sobol indices of a model under its input distribution (u → Φ⁻¹ → Cholesky → transforms).
pub fn sobol<M: Model + ?Sized>(
    model: &M,
    dist: &JointDistribution,
    settings: &SobolSettings,
) -> Result<SobolResult, SensitivityError> {
    sobol_of_dist(model, dist, settings, |f| {
        sobol_rows(f, settings, 0..settings.base_samples as u64)
    })
}

/// Shard `shard` of [`sobol()`]'s evaluations: the base rows [`ShardSpec::range`] of N.
pub fn sobol_part<M: Model + ?Sized>(
    model: &M,
    dist: &JointDistribution,
    settings: &SobolSettings,
    shard: ShardSpec,
) -> Result<SobolRows, SensitivityError> {
    let f = DistModelFn::new(model, dist)?;
    settings.validate(f.dim())?;
    settings.check_memory(f.dim(), f.n_out())?;
    sobol_rows(&f, settings, shard.range(settings.base_samples as u64))
}

/// [`sobol()`]'s result from the evaluations of all shards (in shard order), bit for bit: the
/// estimator and the bootstrap need every row (the centring uses the overall mean, the
/// bootstrap resamples rows), so parts carry rows, and the estimation runs once on their
/// concatenation, exactly as in a single process.
pub fn sobol_merge<M: Model + ?Sized>(
    model: &M,
    dist: &JointDistribution,
    settings: &SobolSettings,
    parts: &[SobolRows],
) -> Result<SobolResult, SensitivityError> {
    sobol_of_dist(model, dist, settings, |f| {
        let stride = (f.dim() + 2) * f.n_out();
        let n = settings.base_samples as u64;
        let mut all = SobolRows {
            rows: [0, 0],
            stride,
            values: Vec::with_capacity(settings.base_samples * stride),
            ok: Vec::with_capacity(settings.base_samples),
            first_error: None,
        };
        for (i, part) in parts.iter().enumerate() {
            let len = part.rows[1].saturating_sub(part.rows[0]) as usize;
            if part.rows[0] != all.rows[1]
                || part.stride != stride
                || part.ok.len() != len
                || part.values.len() != len * stride
            {
                return Err(SensitivityError::setting(
                    "sobol part",
                    format!(
                        "{} (rows {:?}, {} values per row)",
                        i + 1,
                        part.rows,
                        part.stride
                    ),
                    &format!("rows from {} on with {stride} values per row", all.rows[1]),
                ));
            }
            all.rows[1] = part.rows[1];
            all.values.extend_from_slice(&part.values);
            all.ok.extend_from_slice(&part.ok);
            if all.first_error.is_none() {
                all.first_error = part.first_error.clone();
            }
        }
        if all.rows[1] != n {
            return Err(SensitivityError::setting(
                "sobol parts",
                format!("rows 0..{}", all.rows[1]),
                &format!("all {n} base rows"),
            ));
        }
        Ok(all)
    })
}

/// The named-input front of [`sobol`] and [`sobol_merge`]: input names, the estimator on the
/// rows `rows` gives, and the note on correlated inputs.
fn sobol_of_dist<M: Model + ?Sized>(
    model: &M,
    dist: &JointDistribution,
    settings: &SobolSettings,
    rows: impl FnOnce(&DistModelFn<'_, M>) -> Result<SobolRows, SensitivityError>,
) -> Result<SobolResult, SensitivityError> {
    let f = DistModelFn::new(model, dist)?;
    let correlated = is_correlated(dist);
    let inputs: Vec<String> = dist
        .params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if correlated && i > 0 {
                format!("{} (independent part)", p.name)
            } else if correlated {
                format!("{} (full)", p.name)
            } else {
                p.name.clone()
            }
        })
        .collect();
    let mut r = sobol_core_with(&f, &OutputLayout::of(model), inputs, settings, || rows(&f))?;
    r.correlated = correlated;
    r.note = if correlated {
        NOTE_CORRELATED
    } else {
        NOTE_INDEPENDENT
    }
    .to_string();
    Ok(r)
}

/// True if any off-diagonal correlation exceeds 1e-12 in magnitude.
pub fn is_correlated(dist: &JointDistribution) -> bool {
    let c = dist.correlation();
    (0..dist.dim()).any(|i| (0..i).any(|j| c[(i, j)].abs() > 1e-12))
}

/// Sobol indices of any function of the unit hypercube (analytic test functions, custom
/// input samplers). Inputs are named `x1..xd`, outputs `y0..`.
pub fn sobol_fn<F: UnitCubeFn + ?Sized>(
    f: &F,
    settings: &SobolSettings,
) -> Result<SobolResult, SensitivityError> {
    let inputs = (1..=f.dim()).map(|i| format!("x{i}")).collect();
    let mut r = sobol_core(f, &OutputLayout::scalars(f.n_out()), inputs, settings)?;
    r.note = NOTE_INDEPENDENT.to_string();
    Ok(r)
}

/// Rows per parallel chunk (fixed, so results do not depend on the thread count).
const CHUNK: usize = 256;

/// The model evaluations of a contiguous range of Saltelli base rows: row j (the j-th point of
/// the 2d-dimensional scrambled Sobol sequence) holds f(A_j), f(B_j), f(AB_1,j), …, f(AB_d,j),
/// m outputs each (`stride` = (d + 2)·m values, output units). Rows are independent, so any
/// split of 0..N into ranges evaluates the same values. Floats are stored as bit patterns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SobolRows {
    /// Base rows [start, end).
    pub rows: [u64; 2],
    /// Values per row, (d + 2)·m.
    pub stride: usize,
    /// Row-major values; a failed row's values are unspecified.
    #[serde(with = "hex_f64s")]
    pub values: Vec<f64>,
    /// Per row: every evaluation of the row succeeded.
    pub ok: Vec<bool>,
    /// The failure of the lowest failed row.
    pub first_error: Option<ModelError>,
}

/// Evaluate base rows `rows` of the design (in parallel, in chunks of 256 rows).
pub fn sobol_rows<F: UnitCubeFn + ?Sized>(
    f: &F,
    settings: &SobolSettings,
    rows: std::ops::Range<u64>,
) -> Result<SobolRows, SensitivityError> {
    let d = f.dim();
    let m = f.n_out();
    let n = (rows.end - rows.start) as usize;
    let stride = (d + 2) * m;
    let seq = ScrambledSobol::new(2 * d, settings.seed);
    let seconds = super::check_size(
        "sobol.base_samples",
        settings.base_samples,
        &format!("{n} base samples × {} evaluations", d + 2),
        0.0,
        n as f64 * (d + 2) as f64,
        || {
            let _ = f.eval(&vec![0.5; d], &mut vec![0.0; m]);
        },
    )?;
    let mut values = vec![0.0; n * stride];
    let mut ok = vec![true; n];
    let pb = crate::progress::Progress::new("sobol", "rows", n as u64, settings.progress);
    pb.announce_estimate(seconds);
    let errors: Vec<Option<ModelError>> = values
        .par_chunks_mut(CHUNK * stride)
        .zip(ok.par_chunks_mut(CHUNK))
        .enumerate()
        .map(|(c, (chunk, okc))| {
            if settings.cancel.is_cancelled() {
                return None;
            }
            let mut u = vec![0.0; 2 * d];
            let mut ab = vec![0.0; d];
            let mut first_err = None;
            for (r, (row, okr)) in chunk
                .chunks_exact_mut(stride)
                .zip(okc.iter_mut())
                .enumerate()
            {
                let j = rows.start + (c * CHUNK + r) as u64;
                seq.point(j, &mut u);
                let (a, b) = u.split_at(d);
                let mut res = f
                    .eval(a, &mut row[..m])
                    .and_then(|_| f.eval(b, &mut row[m..2 * m]));
                for i in 0..d {
                    if res.is_err() {
                        break;
                    }
                    ab.copy_from_slice(a);
                    ab[i] = b[i];
                    res = f.eval(&ab, &mut row[(2 + i) * m..(3 + i) * m]);
                }
                if let Err(e) = res {
                    *okr = false;
                    first_err.get_or_insert(e);
                }
            }
            pb.inc(0, okc.len() as u64);
            first_err
        })
        .collect();
    pb.finish();
    if settings.cancel.is_cancelled() {
        return Err(SensitivityError::Cancelled);
    }
    Ok(SobolRows {
        rows: [rows.start, rows.end],
        stride,
        values,
        ok,
        first_error: errors.into_iter().flatten().next(),
    })
}

/// The shared estimator behind [`sobol()`] and [`sobol_fn`].
pub fn sobol_core<F: UnitCubeFn + ?Sized>(
    f: &F,
    layout: &OutputLayout,
    inputs: Vec<String>,
    settings: &SobolSettings,
) -> Result<SobolResult, SensitivityError> {
    sobol_core_with(f, layout, inputs, settings, || {
        sobol_rows(f, settings, 0..settings.base_samples as u64)
    })
}

/// The estimator on the N rows `rows` gives (evaluated here or merged from shards).
fn sobol_core_with<F: UnitCubeFn + ?Sized>(
    f: &F,
    layout: &OutputLayout,
    inputs: Vec<String>,
    settings: &SobolSettings,
    rows: impl FnOnce() -> Result<SobolRows, SensitivityError>,
) -> Result<SobolResult, SensitivityError> {
    let d = f.dim();
    settings.validate(d)?;
    let m = f.n_out();
    settings.check_memory(d, m)?;
    let n = settings.base_samples;
    let stride = (d + 2) * m;
    let SobolRows {
        values: mut rows,
        ok,
        first_error,
        ..
    } = rows()?;
    let failed = ok.iter().filter(|o| !**o).count();
    if failed > 0 && (failed == n || failed as f64 > settings.max_failure_fraction * n as f64) {
        let first = first_error.unwrap_or(ModelError::SolverFailed("unknown".into()));
        return Err(SensitivityError::TooManyFailures {
            failed,
            total: n,
            first,
        });
    }
    // Compact the valid rows.
    if failed > 0 {
        let mut w = 0;
        for j in 0..n {
            if ok[j] {
                rows.copy_within(j * stride..(j + 1) * stride, w * stride);
                w += 1;
            }
        }
        rows.truncate(w * stride);
    }
    let nv = n - failed;
    // Centre by the overall mean of A and B.
    let mut shift = vec![0.0; m];
    for row in rows.chunks_exact(stride) {
        for k in 0..m {
            shift[k] += row[k] + row[m + k];
        }
    }
    shift.iter_mut().for_each(|s| *s /= (2 * nv) as f64);
    // Column layout (block b, output k) → cols[(b·m + k)·nv + j], centred: the estimator
    // passes are then sequential and vectorise.
    let mut cols = vec![0.0; nv * stride];
    for (j, row) in rows.chunks_exact(stride).enumerate() {
        for b in 0..d + 2 {
            for k in 0..m {
                cols[(b * m + k) * nv + j] = row[b * m + k] - shift[k];
            }
        }
    }
    drop(rows);
    let est = Estimates::compute(&cols, &vec![1.0; nv], d, m);

    // Bootstrap: resample r draws its own ChaCha stream and turns the N row draws (with
    // replacement) into multiplicity weights; resamples run in parallel, collected in order.
    let boots: Vec<Estimates> = (0..settings.bootstrap)
        .into_par_iter()
        .map(|r| {
            let mut rng = stream_rng(settings.seed ^ 0x5eed_b007, r as u64);
            let w = bootstrap_weights(&mut rng, nv);
            Estimates::compute(&cols, &w, d, m)
        })
        .collect();

    let alpha = 1.0 - settings.confidence;
    let summarise =
        |label: String, mean: f64, variance: f64, pick: &dyn Fn(&Estimates, usize, bool) -> f64| {
            let mut out = SobolOutput {
                output: label,
                mean,
                variance,
                first: Vec::with_capacity(d),
                first_ci: Vec::with_capacity(d),
                first_se: Vec::with_capacity(d),
                total: Vec::with_capacity(d),
                total_ci: Vec::with_capacity(d),
                total_se: Vec::with_capacity(d),
            };
            for i in 0..d {
                for total in [false, true] {
                    let point = pick(&est, i, total);
                    let mut bs: Vec<f64> = boots
                        .iter()
                        .map(|b| pick(b, i, total))
                        .filter(|v| v.is_finite())
                        .collect();
                    let (ci, se) = if bs.len() >= 2 {
                        bs.sort_by(f64::total_cmp);
                        let mu = bs.iter().sum::<f64>() / bs.len() as f64;
                        let var = bs.iter().map(|v| (v - mu).powi(2)).sum::<f64>()
                            / (bs.len() - 1) as f64;
                        (
                            [
                                quantile_sorted(&bs, alpha / 2.0),
                                quantile_sorted(&bs, 1.0 - alpha / 2.0),
                            ],
                            var.sqrt(),
                        )
                    } else {
                        ([f64::NAN, f64::NAN], f64::NAN)
                    };
                    if total {
                        out.total.push(point);
                        out.total_ci.push(ci);
                        out.total_se.push(se);
                    } else {
                        out.first.push(point);
                        out.first_ci.push(ci);
                        out.first_se.push(se);
                    }
                }
            }
            out
        };
    let per_output = (0..m)
        .map(|k| {
            summarise(
                layout.labels[k].clone(),
                est.mean[k] + shift[k],
                est.var[k],
                &|e: &Estimates, i, t| e.index(i, k, t),
            )
        })
        .collect();
    let aggregated = layout
        .groups
        .iter()
        .filter(|g| g.is_curve && g.len > 0)
        .map(|g| {
            let r = g.start..g.start + g.len;
            let vsum: f64 = est.var[r.clone()].iter().sum();
            summarise(
                format!("{}[variance-weighted]", g.name),
                f64::NAN,
                vsum,
                &|e: &Estimates, i, t| {
                    let vals: Vec<f64> = r.clone().map(|k| e.index(i, k, t)).collect();
                    variance_weighted(&vals, &e.var[r.clone()])
                },
            )
        })
        .collect();
    Ok(SobolResult {
        inputs,
        per_output,
        aggregated,
        base_samples: n,
        evaluations: n * (d + 2),
        failed_rows: failed,
        seed: settings.seed,
        bootstrap: settings.bootstrap,
        confidence: settings.confidence,
        correlated: false,
        note: String::new(),
    })
}

/// Multiplicities of a bootstrap resample of `n` rows drawn with replacement: each draw takes
/// 32 random bits r and picks row ⌊r·n/2³²⌋ (bias ≤ n/2³², negligible for a bootstrap).
fn bootstrap_weights<R: Rng>(rng: &mut R, n: usize) -> Vec<f64> {
    let mut w = vec![0.0; n];
    let pick = |r: u32| ((r as u64 * n as u64) >> 32) as usize;
    for _ in 0..n / 2 {
        let x = rng.next_u64();
        w[pick(x as u32)] += 1.0;
        w[pick((x >> 32) as u32)] += 1.0;
    }
    if n % 2 == 1 {
        w[pick(rng.next_u32())] += 1.0;
    }
    w
}

/// Four-lane weighted sums Σ w·x(j), vectorisable; fixed order, so deterministic.
#[inline]
fn lanes<const K: usize>(n: usize, mut term: impl FnMut(usize) -> [f64; K]) -> [f64; K] {
    let mut acc = [[0.0; K]; 4];
    let n4 = n / 4 * 4;
    let mut j = 0;
    while j < n4 {
        for (l, a) in acc.iter_mut().enumerate() {
            let t = term(j + l);
            for q in 0..K {
                a[q] += t[q];
            }
        }
        j += 4;
    }
    for j in n4..n {
        let t = term(j);
        for q in 0..K {
            acc[0][q] += t[q];
        }
    }
    let mut out = [0.0; K];
    for a in &acc {
        for q in 0..K {
            out[q] += a[q];
        }
    }
    out
}

/// Point estimates from one (re)sample: weights w_j are the row multiplicities.
struct Estimates {
    /// Mean of the centred output over A and B, per output.
    mean: Vec<f64>,
    /// Variance over A and B (population, as SALib), per output.
    var: Vec<f64>,
    /// Σ f_B (f_ABi − f_A) / N, index i·m + k.
    s1_num: Vec<f64>,
    /// Σ (f_A − f_ABi)² / (2N), index i·m + k.
    st_num: Vec<f64>,
}

impl Estimates {
    fn compute(cols: &[f64], w: &[f64], d: usize, m: usize) -> Self {
        let nv = w.len();
        let col = |b: usize, k: usize| &cols[(b * m + k) * nv..(b * m + k + 1) * nv];
        let cnt: f64 = w.iter().sum();
        let mut mean = vec![0.0; m];
        let mut var = vec![0.0; m];
        let mut s1 = vec![0.0; d * m];
        let mut st = vec![0.0; d * m];
        for k in 0..m {
            let (a, b) = (col(0, k), col(1, k));
            let [s, s2] = lanes(nv, |j| {
                let (fa, fb) = (a[j], b[j]);
                [w[j] * (fa + fb), w[j] * (fa * fa + fb * fb)]
            });
            mean[k] = s / (2.0 * cnt);
            var[k] = s2 / (2.0 * cnt) - mean[k] * mean[k];
            for i in 0..d {
                let ab = col(2 + i, k);
                let [x1, xt] = lanes(nv, |j| {
                    let (fa, fb, fab) = (a[j], b[j], ab[j]);
                    let diff = fa - fab;
                    [w[j] * fb * (fab - fa), w[j] * diff * diff]
                });
                s1[i * m + k] = x1 / cnt;
                st[i * m + k] = xt / (2.0 * cnt);
            }
        }
        Self {
            mean,
            var,
            s1_num: s1,
            st_num: st,
        }
    }

    fn index(&self, i: usize, k: usize, total: bool) -> f64 {
        let m = self.var.len();
        let num = if total {
            self.st_num[i * m + k]
        } else {
            self.s1_num[i * m + k]
        };
        if self.var[k] > 0.0 {
            num / self.var[k]
        } else {
            f64::NAN
        }
    }
}

impl SensitivityTable for SobolResult {
    fn to_markdown(&self) -> String {
        let pct = (self.confidence * 100.0).round();
        let mut s = format!(
            "## Sobol indices\n\nN = {} base rows, {} evaluations, {} failed rows dropped, seed {}, {} bootstrap \
             resamples ({pct}% percentile intervals).\n\n{}\n",
            self.base_samples,
            self.evaluations,
            self.failed_rows,
            self.seed,
            self.bootstrap,
            self.note
        );
        for o in self.aggregated.iter().chain(&self.per_output) {
            s += &format!(
                "\n### {} (variance {})\n\n",
                md(&o.output),
                fmt_num(Some(o.variance))
            );
            s += "| input | S1 | S1 interval | ST | ST interval |\n|---|---|---|---|---|\n";
            for (i, name) in self.inputs.iter().enumerate() {
                s += &format!(
                    "| {} | {} | [{}, {}] | {} | [{}, {}] |\n",
                    md(name),
                    fmt_num(Some(o.first[i])),
                    fmt_num(Some(o.first_ci[i][0])),
                    fmt_num(Some(o.first_ci[i][1])),
                    fmt_num(Some(o.total[i])),
                    fmt_num(Some(o.total_ci[i][0])),
                    fmt_num(Some(o.total_ci[i][1])),
                );
            }
        }
        s
    }

    fn long_rows(&self) -> Vec<LongRow> {
        let mut rows = Vec::new();
        for o in self.aggregated.iter().chain(&self.per_output) {
            for (i, name) in self.inputs.iter().enumerate() {
                let vals = [
                    ("S1", o.first[i]),
                    ("S1_low", o.first_ci[i][0]),
                    ("S1_high", o.first_ci[i][1]),
                    ("S1_se", o.first_se[i]),
                    ("ST", o.total[i]),
                    ("ST_low", o.total_ci[i][0]),
                    ("ST_high", o.total_ci[i][1]),
                    ("ST_se", o.total_se[i]),
                ];
                for (metric, v) in vals {
                    rows.push(LongRow {
                        method: "sobol".into(),
                        output: o.output.clone(),
                        input: name.clone(),
                        metric: metric.into(),
                        value: v.is_finite().then_some(v),
                    });
                }
            }
        }
        rows
    }
}
