//! Measured voltage curves: read by the one cycler-file reader ([`crate::cycler`]: columns,
//! aliases, comments and errors are described there) with a declared current sign convention.
//!
//! The declared sign convention is checked against the data: in the longest run of rows with a
//! significant current of one sign (|I| > 5 % of max |I|), voltage falls on discharge and rises
//! on charge; the sign of that run's current must match the declaration. The reader stores
//! current in the declared convention and offers [`MeasuredCurve::discharge_current`]
//! (discharge positive, A).
//!
//! [`read_curve_selected`] reads with the options of [`ReadOptions`] (temperature and step
//! columns, repeated time stamps) and says which rows a [`Selection`] (time window, steps) keeps.

use crate::cycler::CyclerTable;
use std::path::Path;

pub use crate::cycler::{DataError, DuplicateTimes, ReadOptions, Selection, SignConvention};

/// A measured curve: time (s), current (A) in the file's declared convention, voltage (V).
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredCurve {
    /// Short name (the file stem), used for σ parameter names and output files.
    pub name: String,
    /// Source path or label.
    pub source: String,
    /// Time \[s\], increasing.
    pub time_s: Vec<f64>,
    /// Current \[A\], in the convention `sign`.
    pub current_a: Vec<f64>,
    /// Terminal voltage \[V\].
    pub voltage_v: Vec<f64>,
    /// The sign convention of `current_a`.
    pub sign: SignConvention,
    /// Cell temperature \[K\] of each row, if its column was read.
    pub temperature_k: Option<Vec<f64>>,
    /// 1-based line of each row in the file (for messages).
    pub rows: Vec<usize>,
}

/// A measured curve read whole, with the rows a [`Selection`] keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectedCurve {
    /// Every row of the file (after [`DuplicateTimes`] handling).
    pub curve: MeasuredCurve,
    /// Indices into `curve`'s rows of the selected rows, increasing, at least one.
    pub selected: Vec<usize>,
    /// Rows dropped or merged as repeated time stamps.
    pub repeated_rows: usize,
}

/// A curve file's text and its name (the file stem, used for σ names and output files).
fn read_text_and_name(path: &Path) -> Result<(String, String), DataError> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
        file: path.display().to_string(),
        source,
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "curve".into());
    Ok((text, name))
}

/// Read a measured curve with the declared sign convention and the reader options `opts`
/// (the voltage column is always read), and select its rows by `sel` (a step selection reads
/// the step column whatever `opts` says). Errors name the file, the line and the column.
pub fn read_curve_selected(
    path: &Path,
    sign: SignConvention,
    opts: &ReadOptions,
    sel: &Selection,
) -> Result<SelectedCurve, DataError> {
    let (text, name) = read_text_and_name(path)?;
    let opts = ReadOptions {
        voltage: true,
        step_column: sel.step_column().or(opts.step_column.clone()),
        ..opts.clone()
    };
    let file = path.display().to_string();
    let table = CyclerTable::parse_options(&text, &file, &opts)?;
    let selected = table.select(sel)?;
    let repeated_rows = table.repeated_rows;
    let curve = curve_of(table, &file, &name, sign)?;
    Ok(SelectedCurve {
        curve,
        selected,
        repeated_rows,
    })
}

/// Read a measured curve from a CSV file with the declared sign convention.
pub fn read_curve(path: &Path, sign: SignConvention) -> Result<MeasuredCurve, DataError> {
    let (text, name) = read_text_and_name(path)?;
    parse_curve(&text, &path.display().to_string(), &name, sign)
}

/// Parse a measured curve from CSV text (`file` is used in error messages, `name` as its name).
/// A sign convention stated in the file must agree with `sign`.
pub fn parse_curve(
    text: &str,
    file: &str,
    name: &str,
    sign: SignConvention,
) -> Result<MeasuredCurve, DataError> {
    curve_of(CyclerTable::parse(text, file, true)?, file, name, sign)
}

/// The curve of a table read with its voltage column, its sign checked against `sign`.
fn curve_of(
    table: CyclerTable,
    file: &str,
    name: &str,
    sign: SignConvention,
) -> Result<MeasuredCurve, DataError> {
    let sign = table.sign(Some(sign))?;
    let v = table.voltage_v.unwrap_or_default();
    check_sign(
        file,
        &table.current_column,
        &table.current_a,
        &v,
        &table.rows,
        sign,
    )?;
    Ok(MeasuredCurve {
        name: name.into(),
        source: file.into(),
        time_s: table.time_s,
        current_a: table.current_a,
        voltage_v: v,
        sign,
        temperature_k: table.temperature_k,
        rows: table.rows,
    })
}

/// The sign check described in the module doc.
fn check_sign(
    file: &str,
    column: &str,
    i: &[f64],
    v: &[f64],
    rows: &[usize],
    sign: SignConvention,
) -> Result<(), DataError> {
    let imax = i.iter().fold(0.0_f64, |a, x| a.max(x.abs()));
    if imax == 0.0 {
        return Ok(());
    }
    let thr = 0.05 * imax;
    // Longest run of same-sign significant current.
    let (mut best, mut start) = ((0usize, 0usize), None::<usize>);
    for k in 0..=i.len() {
        let s = if k < i.len() && i[k].abs() > thr {
            i[k].signum()
        } else {
            0.0
        };
        match start {
            Some(a) if s != i[a].signum() => {
                if k - a > best.1 - best.0 {
                    best = (a, k);
                }
                start = if s != 0.0 { Some(k) } else { None };
            }
            None if s != 0.0 => start = Some(k),
            _ => {}
        }
    }
    let (a, b) = best;
    if b < a + 2 {
        return Ok(());
    }
    let (v0, v1) = (v[a], v[b - 1]);
    if v0 == v1 {
        return Ok(());
    }
    let discharging = v1 < v0;
    let mean = i[a..b].iter().sum::<f64>() / (b - a) as f64;
    let positive = mean > 0.0;
    let expected_positive = discharging == (sign == SignConvention::DischargePositive);
    if positive != expected_positive {
        let kind = if discharging {
            "discharge (voltage falls)"
        } else {
            "charge (voltage rises)"
        };
        return Err(DataError::WrongSignConvention {
            file: file.into(),
            first_row: rows[a],
            last_row: rows[b - 1],
            detail: format!(
                "column '{column}': declared {}, but in this {kind} segment (voltage {v0:.4} V → {v1:.4} V) \
                 the current is {} (mean {mean:.4} A); expected {} current on {}. Declare the other sign \
                 convention if the file is right.",
                sign.label(),
                if positive { "positive" } else { "negative" },
                if expected_positive {
                    "positive"
                } else {
                    "negative"
                },
                if discharging { "discharge" } else { "charge" }
            ),
        });
    }
    Ok(())
}

impl MeasuredCurve {
    /// Current with discharge positive (A), whatever the file's convention.
    pub fn discharge_current(&self) -> Vec<f64> {
        let f = self.sign.factor();
        self.current_a.iter().map(|x| x * f).collect()
    }

    /// Voltage linearly interpolated at the times `t` (s) (each must lie inside the measured
    /// time range), e.g. to put the data on a model's output grid.
    pub fn voltage_at(&self, t: &[f64]) -> Result<Vec<f64>, DataError> {
        self.interpolate(&self.voltage_v, t)
    }

    /// Discharge-positive current \[A\] linearly interpolated at the times `t` (s) (each inside
    /// the measured time range).
    pub fn discharge_current_at(&self, t: &[f64]) -> Result<Vec<f64>, DataError> {
        self.interpolate(&self.discharge_current(), t)
    }

    /// `y` (one value per row) linearly interpolated at the times `t` inside the measured range.
    fn interpolate(&self, y: &[f64], t: &[f64]) -> Result<Vec<f64>, DataError> {
        let (t0, t1) = (
            self.time_s[0],
            *self.time_s.last().unwrap_or(&self.time_s[0]),
        );
        t.iter()
            .map(|&tq| {
                if !(tq >= t0 && tq <= t1) {
                    return Err(DataError::OutsideMeasuredRange {
                        file: self.source.clone(),
                        requested: tq,
                        first: t0,
                        last: t1,
                    });
                }
                let k = self
                    .time_s
                    .partition_point(|&x| x <= tq)
                    .clamp(1, self.time_s.len() - 1);
                let (ta, tb) = (self.time_s[k - 1], self.time_s[k]);
                let w = (tq - ta) / (tb - ta);
                Ok(y[k - 1] * (1.0 - w) + y[k] * w)
            })
            .collect()
    }

    /// A copy keeping every `step`-th row (and always the last), for cheaper likelihoods.
    pub fn thinned(&self, step: usize) -> MeasuredCurve {
        let n = self.time_s.len();
        self.pick(&thin(&(0..n).collect::<Vec<_>>(), step))
    }

    /// A copy keeping the rows `idx` (indices into this curve's rows, increasing).
    pub fn pick(&self, idx: &[usize]) -> MeasuredCurve {
        let pick = |v: &[f64]| idx.iter().map(|&k| v[k]).collect();
        MeasuredCurve {
            name: self.name.clone(),
            source: self.source.clone(),
            time_s: pick(&self.time_s),
            current_a: pick(&self.current_a),
            voltage_v: pick(&self.voltage_v),
            sign: self.sign,
            temperature_k: self.temperature_k.as_deref().map(pick),
            rows: idx.iter().map(|&k| self.rows[k]).collect(),
        }
    }
}

/// Every `step`-th entry of `idx` (step ≥ 1), and always its last.
pub fn thin(idx: &[usize], step: usize) -> Vec<usize> {
    let mut out: Vec<usize> = idx.iter().copied().step_by(step.max(1)).collect();
    if let Some(&last) = idx.last()
        && out.last() != Some(&last)
    {
        out.push(last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "time_s,current_A,voltage_V\n0,0,4.2\n1,1.0,4.1\n2,1.0,4.0\n3,1.0,3.9\n";

    fn parse(text: &str, sign: SignConvention) -> Result<MeasuredCurve, DataError> {
        parse_curve(text, "test.csv", "test", sign)
    }

    #[test]
    fn reads_own_format() {
        let c = parse(GOOD, SignConvention::DischargePositive).unwrap();
        assert_eq!(c.time_s, vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(c.discharge_current(), vec![0.0, 1.0, 1.0, 1.0]);
        let v = c.voltage_at(&[0.5, 3.0]).unwrap();
        assert!((v[0] - 4.15).abs() < 1e-12 && (v[1] - 3.9).abs() < 1e-12);
        assert!(c.voltage_at(&[4.0]).is_err());
    }

    #[test]
    fn reads_about_energy_files() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/about_energy_nmc/");
        for f in [
            "NMC_25degC_1C.csv",
            "NMC_25degC_2C.csv",
            "NMC_25degC_Co2.csv",
            "NMC_25degC_Co20.csv",
            "NMC_25degC_DriveCycle.csv",
        ] {
            let c = read_curve(&Path::new(dir).join(f), SignConvention::DischargeNegative).unwrap();
            assert!(c.time_s.len() > 1000, "{f}");
            let i = c.discharge_current();
            assert!(
                i[10] > 0.0,
                "{f}: discharge current should be positive, got {}",
                i[10]
            );
            // The same file declared the wrong way is rejected and the message names the file.
            let e =
                read_curve(&Path::new(dir).join(f), SignConvention::DischargePositive).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, DataError::WrongSignConvention { .. }), "{msg}");
            assert!(
                msg.contains(f) && msg.contains("discharge-positive") && msg.contains("I[A]"),
                "{msg}"
            );
        }
    }

    #[test]
    fn lgm50_columns_are_recognised_and_its_repeated_time_stamp_reported() {
        let f = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/lgm50/LGM50_RateTest_T25_cRate_1C.csv"
        );
        match read_curve(Path::new(f), SignConvention::DischargeNegative).unwrap_err() {
            DataError::TimeNotIncreasing {
                row,
                column,
                value,
                hint,
                ..
            } => {
                assert_eq!((row, column.as_str(), value), (88, "timeVec", 75.024));
                assert!(hint.contains("duplicate_times"), "{hint}");
            }
            other => panic!("wrong error {other}"),
        }
    }

    #[test]
    fn missing_column_is_named() {
        let e = parse(
            "time_s,voltage_V\n0,4.2\n1,4.1\n",
            SignConvention::DischargePositive,
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, DataError::MissingColumn { .. }), "{msg}");
        assert!(
            msg.contains("current") && msg.contains("test.csv") && msg.contains("time_s,voltage_V"),
            "{msg}"
        );
    }

    #[test]
    fn non_increasing_time_names_the_row() {
        let e = parse(
            "time_s,current_A,voltage_V\n0,1,4.2\n1,1,4.1\n1,1,4.0\n",
            SignConvention::DischargePositive,
        )
        .unwrap_err();
        match e {
            DataError::TimeNotIncreasing {
                row,
                previous,
                value,
                ..
            } => {
                assert_eq!((row, previous, value), (4, 1.0, 1.0));
            }
            other => panic!("wrong error {other}"),
        }
    }

    #[test]
    fn nan_and_garbage_name_row_and_column() {
        let e = parse(
            "time_s,current_A,voltage_V\n0,1,4.2\n1,1,NaN\n",
            SignConvention::DischargePositive,
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, DataError::NotFinite { row: 3, .. }), "{msg}");
        assert!(msg.contains("voltage_V") && msg.contains("line 3"), "{msg}");
        let e = parse(
            "time_s,current_A,voltage_V\n0,1,4.2\n1,x,4.1\n",
            SignConvention::DischargePositive,
        )
        .unwrap_err();
        assert!(matches!(e, DataError::NotANumber { row: 3, .. }), "{e}");
        let e = parse(
            "time_s,current_A,voltage_V\n0,1,4.2\n1,4.1\n",
            SignConvention::DischargePositive,
        )
        .unwrap_err();
        assert!(matches!(e, DataError::RowLength { row: 3, .. }), "{e}");
        let e = parse(
            "time_s,current_A,voltage_V\n0,1,4.2\n",
            SignConvention::DischargePositive,
        )
        .unwrap_err();
        assert!(matches!(e, DataError::TooShort { .. }), "{e}");
    }

    #[test]
    fn wrong_sign_convention_is_detected() {
        let text = "time_s,current_A,voltage_V\n0,0,4.2\n1,-1.0,4.1\n2,-1.0,4.0\n3,-1.0,3.9\n";
        let e = parse(text, SignConvention::DischargePositive).unwrap_err();
        match &e {
            DataError::WrongSignConvention {
                first_row,
                last_row,
                ..
            } => assert_eq!((*first_row, *last_row), (3, 5)),
            other => panic!("wrong error {other}"),
        }
        assert!(parse(text, SignConvention::DischargeNegative).is_ok());
        // A charge with positive current is fine for discharge-negative files, wrong otherwise.
        let charge = "time_s,current_A,voltage_V\n0,1.0,3.5\n1,1.0,3.6\n2,1.0,3.7\n";
        assert!(parse(charge, SignConvention::DischargeNegative).is_ok());
        assert!(parse(charge, SignConvention::DischargePositive).is_err());
    }
}
