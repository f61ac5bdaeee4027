//! Building joint distributions from raw atomistic results:
//! (a) independent replicas → mean and covariance of the mean;
//! (b) one correlated time series → mean with a Flyvbjerg–Petersen block-averaging error;
//! (c) MD diffusivities D(T_i) ± σ_i → weighted least-squares Arrhenius fit (ln D0, E_a) with
//!     their covariance.

use super::{DistError, JointDistribution, Parameter, Transform};
use crate::constants::K_B_EV;
use nalgebra::{DMatrix, DVector};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A CSV of raw results that cannot be used; names the file, row and column.
#[derive(Debug, Error)]
pub enum CsvInputError {
    /// The file cannot be read.
    #[error("{file}: cannot read the file: {message}")]
    Io {
        /// The CSV file.
        file: PathBuf,
        /// The operating system's error.
        message: String,
    },
    /// A cell is not a finite number, or a header unit is not a known one.
    #[error("{file}: row {row}, column {column} ('{name}'): expected {expected}, found '{found}'")]
    Cell {
        /// The CSV file.
        file: PathBuf,
        /// Line in the file, 1-based (the header is line 1).
        row: usize,
        /// Column, 1-based.
        column: usize,
        /// The column's header name.
        name: String,
        /// What the cell must hold.
        expected: String,
        /// The cell as found.
        found: String,
    },
    /// A row with a different number of fields from the header.
    #[error("{file}: row {row} has {found} fields, expected {expected} (one per header column)")]
    Ragged {
        /// The CSV file.
        file: PathBuf,
        /// Line in the file, 1-based.
        row: usize,
        /// Fields in the row.
        found: usize,
        /// Fields in the header.
        expected: usize,
    },
    /// The file as a whole is unusable (no header, too few rows, an unreadable record).
    #[error("{file}: {what}")]
    Content {
        /// The CSV file.
        file: PathBuf,
        /// What is wrong, in words.
        what: String,
    },
    /// The estimate built from the rows is not a valid distribution.
    #[error("{file}: {source}")]
    Dist {
        /// The CSV file.
        file: PathBuf,
        /// The distribution's error.
        #[source]
        source: DistError,
    },
}

/// A numeric table read from CSV: header names (with optional units in brackets,
/// `E_m [eV]`) and rows.
#[derive(Debug, Clone)]
pub struct Table {
    /// The CSV file.
    pub file: PathBuf,
    /// Column names, without their units.
    pub names: Vec<String>,
    /// Column units from the header (`name [unit]`), if given.
    pub units: Vec<Option<String>>,
    /// The rows, each one value per column.
    pub rows: Vec<Vec<f64>>,
}

impl Table {
    /// Index of the column `name`, if any.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

/// Split `E_m [eV]` into ("E_m", Some("eV")).
pub fn split_name_unit(h: &str) -> (String, Option<String>) {
    let h = h.trim();
    if let (Some(a), true) = (h.find('['), h.ends_with(']')) {
        let unit = h[a + 1..h.len() - 1].trim();
        (
            h[..a].trim().to_string(),
            (!unit.is_empty()).then(|| unit.to_string()),
        )
    } else {
        (h.to_string(), None)
    }
}

/// Read a numeric CSV with a header row; lines starting with `#` are comments. Every cell must be
/// a finite number; errors name the row (1-based, header = row 1) and column.
pub fn read_numeric_csv(path: &Path) -> Result<Table, CsvInputError> {
    let text = std::fs::read_to_string(path).map_err(|e| CsvInputError::Io {
        file: path.to_path_buf(),
        message: e.to_string(),
    })?;
    parse_numeric_csv(&text, path)
}

/// Parse CSV text (see [`read_numeric_csv`]).
pub fn parse_numeric_csv(text: &str, path: &Path) -> Result<Table, CsvInputError> {
    let file = path.to_path_buf();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .comment(Some(b'#'))
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = rdr.headers().map_err(|e| CsvInputError::Content {
        file: file.clone(),
        what: format!("cannot read the header row: {e}"),
    })?;
    if headers.is_empty() || headers.iter().all(|h| h.is_empty()) {
        return Err(CsvInputError::Content {
            file,
            what: "expected a header row naming the columns, found an empty file".into(),
        });
    }
    let (names, units): (Vec<_>, Vec<_>) = headers.iter().map(split_name_unit).unzip();
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| CsvInputError::Content {
            file: file.clone(),
            what: e.to_string(),
        })?;
        let row = rec.position().map_or(rows.len() + 2, |p| p.line() as usize);
        if rec.len() != names.len() {
            return Err(CsvInputError::Ragged {
                file,
                row,
                found: rec.len(),
                expected: names.len(),
            });
        }
        let mut vals = Vec::with_capacity(names.len());
        for (c, cell) in rec.iter().enumerate() {
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() => vals.push(v),
                _ => {
                    return Err(CsvInputError::Cell {
                        file,
                        row,
                        column: c + 1,
                        name: names[c].clone(),
                        expected: "a finite number".into(),
                        found: cell.to_string(),
                    });
                }
            }
        }
        rows.push(vals);
    }
    Ok(Table {
        file,
        names,
        units,
        rows,
    })
}

/// Units for every column: from the header (`name [unit]`) or from `overrides` (name, unit).
fn column_units(t: &Table, overrides: &[(String, String)]) -> Result<Vec<String>, CsvInputError> {
    t.names
        .iter()
        .zip(&t.units)
        .enumerate()
        .map(|(c, (n, u))| {
            overrides
                .iter()
                .find(|(on, _)| on == n)
                .map(|(_, ou)| ou.clone())
                .or_else(|| u.clone())
                .ok_or_else(|| CsvInputError::Cell {
                    file: t.file.clone(),
                    row: 1,
                    column: c + 1,
                    name: n.clone(),
                    expected: "a unit in the header, e.g. 'E_m [eV]' (or --unit NAME=UNIT)".into(),
                    found: n.clone(),
                })
                .and_then(|u| {
                    // The priors file written from it would be refused at load otherwise.
                    if crate::units::is_known(&u) {
                        Ok(u)
                    } else {
                        Err(CsvInputError::Cell {
                            file: t.file.clone(),
                            row: 1,
                            column: c + 1,
                            name: n.clone(),
                            expected: format!(
                                "one of the known units ({})",
                                crate::units::known_list()
                            ),
                            found: format!("'{u}'"),
                        })
                    }
                })
        })
        .collect()
}

/// (a) Independent replicas, a row per run, a column per quantity: the estimate is the sample
/// mean, its covariance the sample covariance divided by the number of runs, S/n.
pub fn from_replicas(
    t: &Table,
    overrides: &[(String, String)],
    title: &str,
    source: &str,
) -> Result<JointDistribution, CsvInputError> {
    let units = column_units(t, overrides)?;
    let n = t.rows.len();
    let k = t.names.len();
    if n < k + 1 || n < 2 {
        return Err(CsvInputError::Content {
            file: t.file.clone(),
            what: format!(
                "expected at least {} replica rows for {k} quantities (a covariance needs more runs than quantities), found {n}",
                (k + 1).max(2)
            ),
        });
    }
    let mean = DVector::from_fn(k, |j, _| {
        t.rows.iter().map(|r| r[j]).sum::<f64>() / n as f64
    });
    let cov = DMatrix::from_fn(k, k, |a, b| {
        t.rows
            .iter()
            .map(|r| (r[a] - mean[a]) * (r[b] - mean[b]))
            .sum::<f64>()
            / ((n - 1) * n) as f64
    });
    let params = t
        .names
        .iter()
        .zip(units)
        .map(|(name, unit)| Parameter {
            name: name.clone(),
            unit,
            transform: Transform::Identity,
            source: Some(format!(
                "mean of {n} independent replicas; sd = standard error of the mean"
            )),
        })
        .collect();
    JointDistribution::new(title.into(), source.into(), params, mean, cov).map_err(|source| {
        CsvInputError::Dist {
            file: t.file.clone(),
            source,
        }
    })
}

/// One level of the blocking transformation.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BlockLevel {
    /// Block length in samples (2^level).
    pub block_length: usize,
    /// Blocks of that length.
    pub n_blocks: usize,
    /// Estimated standard error of the mean at this level.
    pub std_error: f64,
    /// Uncertainty of that estimate, std_error / sqrt(2(n_blocks − 1)).
    pub std_error_uncertainty: f64,
}

/// Result of block averaging a correlated series.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BlockAverage {
    /// Mean of the series.
    pub mean: f64,
    /// Standard error of the mean at the plateau.
    pub std_error: f64,
    /// The level whose estimate was taken as the plateau.
    pub plateau: BlockLevel,
    /// Every level, block length 1, 2, 4, ...
    pub levels: Vec<BlockLevel>,
    /// False when no plateau was found (the series is too short for its correlation time);
    /// the largest reliable estimate is then returned and should be treated as a lower bound.
    pub converged: bool,
}

/// (b) Flyvbjerg–Petersen block averaging (J. Chem. Phys. 91, 461, 1989): repeatedly average
/// neighbouring pairs; the estimate s²/(n−1) of Var(mean) grows with block length until the
/// blocks are longer than the correlation time, then stays flat. The plateau is the first level
/// whose estimate is matched, within its own uncertainty, by the next two levels (levels with
/// fewer than 16 blocks are too noisy and are not used). `None` below 32 samples.
pub fn block_average(series: &[f64]) -> Option<BlockAverage> {
    let mut acc = BlockAccumulator::default();
    for &v in series {
        acc.push(v);
    }
    acc.finish()
}

impl BlockAverage {
    /// The statistical inefficiency s = n·Var(mean)/Var(x) = (plateau error / naive error)²:
    /// the number of correlated samples worth one independent sample (1 for white noise,
    /// (1+φ)/(1−φ) for an AR(1) series of coefficient φ). `None` for a constant series.
    pub fn statistical_inefficiency(&self) -> Option<f64> {
        let naive = self.levels.first()?.std_error;
        (naive > 0.0).then(|| (self.std_error / naive).powi(2))
    }
}

/// Running sums of one blocking level: the count, mean and sum of squared deviations of its
/// block means (Welford's update), and a first half waiting for its partner.
#[derive(Debug, Clone, Copy, Default)]
struct LevelSums {
    count: u64,
    mean: f64,
    m2: f64,
    pending: Option<f64>,
}

/// Flyvbjerg–Petersen block averaging streamed one sample at a time: memory is O(log n) per
/// series whatever its length (used for the per-grid-point series of the coarse-grained MD
/// fields, which are too many to keep). [`block_average`] is this accumulator over a slice.
#[derive(Debug, Clone, Default)]
pub struct BlockAccumulator {
    levels: Vec<LevelSums>,
}

impl BlockAccumulator {
    /// Add the next sample; the completed pair averages cascade up the levels.
    pub fn push(&mut self, x: f64) {
        let mut v = x;
        let mut k = 0;
        loop {
            if k == self.levels.len() {
                self.levels.push(LevelSums::default());
            }
            let l = &mut self.levels[k];
            l.count += 1;
            let d = v - l.mean;
            l.mean += d / l.count as f64;
            l.m2 += d * (v - l.mean);
            match l.pending.take() {
                None => {
                    l.pending = Some(v);
                    return;
                }
                Some(first) => {
                    v = 0.5 * (first + v);
                    k += 1;
                }
            }
        }
    }

    /// Samples pushed so far.
    pub fn count(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.count)
    }

    /// The block average of the samples so far (`None` below 32 samples).
    pub fn finish(&self) -> Option<BlockAverage> {
        let n0 = self.count();
        if n0 < 32 {
            return None;
        }
        let mean = self.levels[0].mean;
        let levels: Vec<BlockLevel> = self
            .levels
            .iter()
            .enumerate()
            .take_while(|(_, l)| l.count >= 16)
            .map(|(k, l)| {
                let n = l.count as f64;
                let se = (l.m2 / n / (n - 1.0)).max(0.0).sqrt();
                BlockLevel {
                    block_length: 1 << k,
                    n_blocks: l.count as usize,
                    std_error: se,
                    std_error_uncertainty: se / (2.0 * (n - 1.0)).sqrt(),
                }
            })
            .collect();
        let plateau = (0..levels.len().saturating_sub(2)).find(|&k| {
            let l = levels[k];
            levels[k + 1..=k + 2].iter().all(|m| {
                (m.std_error - l.std_error).abs()
                    <= l.std_error_uncertainty + m.std_error_uncertainty
            })
        });
        let (idx, converged) = match plateau {
            Some(k) => (k, true),
            None => {
                let k = (0..levels.len())
                    .max_by(|&a, &b| levels[a].std_error.total_cmp(&levels[b].std_error))
                    .unwrap_or(0);
                (k, false)
            }
        };
        Some(BlockAverage {
            mean,
            std_error: levels[idx].std_error,
            plateau: levels[idx],
            levels,
            converged,
        })
    }
}

/// A weighted least-squares Arrhenius fit ln D = ln D0 − E_a/(k_B·T).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ArrheniusFit {
    /// ln of D0 in the unit of the input D.
    pub ln_d0: f64,
    /// Activation energy \[eV\].
    pub e_a: f64,
    /// Covariance of (ln D0, E_a), E_a in eV.
    pub cov: [[f64; 2]; 2],
    /// χ² of the fit and its degrees of freedom.
    pub chi2: f64,
    /// Degrees of freedom of χ² (temperatures minus 2).
    pub dof: usize,
}

impl ArrheniusFit {
    /// Sd of ln D0.
    pub fn sd_ln_d0(&self) -> f64 {
        self.cov[0][0].sqrt()
    }
    /// Sd of E_a \[eV\].
    pub fn sd_e_a(&self) -> f64 {
        self.cov[1][1].sqrt()
    }
    /// Correlation of ln D0 and E_a.
    pub fn correlation(&self) -> f64 {
        self.cov[0][1] / (self.sd_ln_d0() * self.sd_e_a())
    }
}

/// (c) Weighted least squares of y_i = ln D_i on x_i = 1/(k_B·T_i), with σ(y_i) = σ_i/D_i
/// (first-order error of the log). Returns (ln D0, E_a \[eV\]) and their covariance (AᵀWA)⁻¹,
/// not rescaled by χ² (χ²/dof is reported so the user can judge the error model).
pub fn arrhenius_fit(t_kelvin: &[f64], d: &[f64], sd: &[f64]) -> Result<ArrheniusFit, String> {
    let n = t_kelvin.len();
    if n < 2 || d.len() != n || sd.len() != n {
        return Err(format!(
            "expected at least 2 temperatures with D and its sd, found {n}"
        ));
    }
    let distinct = t_kelvin
        .iter()
        .any(|&t| (t - t_kelvin[0]).abs() > 1e-9 * t_kelvin[0].abs());
    if !distinct {
        return Err("expected at least 2 distinct temperatures".into());
    }
    let (mut s, mut sx, mut sxx, mut sy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 0..n {
        if t_kelvin[i].is_nan() || t_kelvin[i] <= 0.0 {
            return Err(format!(
                "row {}: temperature must be > 0 K, found {}",
                i + 1,
                t_kelvin[i]
            ));
        }
        if d[i].is_nan() || d[i] <= 0.0 {
            return Err(format!("row {}: D must be > 0, found {}", i + 1, d[i]));
        }
        if sd[i].is_nan() || sd[i] <= 0.0 {
            return Err(format!(
                "row {}: sd of D must be > 0, found {}",
                i + 1,
                sd[i]
            ));
        }
        let x = 1.0 / (K_B_EV * t_kelvin[i]);
        let y = d[i].ln();
        let w = (d[i] / sd[i]).powi(2);
        s += w;
        sx += w * x;
        sxx += w * x * x;
        sy += w * y;
        sxy += w * x * y;
    }
    // Model y = a + b·x with a = ln D0, b = −E_a.
    let det = s * sxx - sx * sx;
    let a = (sxx * sy - sx * sxy) / det;
    let b = (s * sxy - sx * sy) / det;
    let (var_a, var_b, cov_ab) = (sxx / det, s / det, -sx / det);
    let chi2 = (0..n)
        .map(|i| {
            let x = 1.0 / (K_B_EV * t_kelvin[i]);
            ((d[i].ln() - a - b * x) * d[i] / sd[i]).powi(2)
        })
        .sum();
    Ok(ArrheniusFit {
        ln_d0: a,
        e_a: -b,
        cov: [[var_a, -cov_ab], [-cov_ab, var_b]],
        chi2,
        dof: n - 2,
    })
}

impl ArrheniusFit {
    /// The fit as a joint distribution of D0 (lognormal, unit `d_unit`) and E_a (normal, eV).
    pub fn to_distribution(
        &self,
        d_unit: &str,
        title: &str,
        source: &str,
    ) -> Result<JointDistribution, DistError> {
        let note = format!(
            "weighted least-squares Arrhenius fit, chi2 = {:.3} on {} dof",
            self.chi2, self.dof
        );
        JointDistribution::new(
            title.into(),
            source.into(),
            vec![
                Parameter {
                    name: "D0".into(),
                    unit: d_unit.into(),
                    transform: Transform::Log,
                    source: Some(note.clone()),
                },
                Parameter {
                    name: "E_a".into(),
                    unit: "eV".into(),
                    transform: Transform::Identity,
                    source: Some(note),
                },
            ],
            DVector::from_vec(vec![self.ln_d0, self.e_a]),
            DMatrix::from_fn(2, 2, |i, j| self.cov[i][j]),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_header_units() {
        assert_eq!(
            split_name_unit("E_m [eV]"),
            ("E_m".into(), Some("eV".into()))
        );
        assert_eq!(split_name_unit(" nu0 "), ("nu0".into(), None));
    }

    /// The LLZO AIMD set of He, Zhu, Epstein & Mo, npj Comput. Mater. 4, 18 (2018) (the test set of
    /// mogroupumd/aimd, as in priors/raw/llzo_aimd_diffusivity.csv):
    /// E_a = 0.2581 ± 0.0168 eV, ln D0 = −8.82 ± 0.21 (D in cm²/s), corr +0.963, χ² = 3.97.
    #[test]
    fn arrhenius_fit_reproduces_llzo_reference() {
        let t = [600., 650., 700., 720., 800., 900., 1050., 1200., 1500.];
        let d = [1.24, 1.56, 2.13, 1.85, 3.51, 4.85, 8.24, 13.8, 18.3].map(|v| v * 1e-6);
        let s = [0.340, 0.405, 0.557, 0.387, 0.700, 0.699, 1.34, 1.49, 2.58].map(|v| v * 1e-6);
        let f = arrhenius_fit(&t, &d, &s).unwrap();
        assert!((f.e_a - 0.2581).abs() < 5e-4, "{}", f.e_a);
        assert!((f.sd_e_a() - 0.0168).abs() < 5e-4, "{}", f.sd_e_a());
        assert!((f.ln_d0 + 8.82).abs() < 0.01, "{}", f.ln_d0);
        assert!((f.sd_ln_d0() - 0.21).abs() < 0.01);
        assert!((f.correlation() - 0.963).abs() < 0.002);
        assert!((f.chi2 - 3.97).abs() < 0.01);
        assert_eq!(f.dof, 7);
    }
}
