//! Cycler files: the one CSV reader for time series of current (and voltage) — measured curves
//! for calibration (`calibrate --data`, a study's `data`) and current files for simulation
//! (`simulate --current-file`, a study's `current_file`) alike.
//!
//! Format: a header line naming the columns, then one row of numbers per sample; fields
//! separated by commas, surrounding spaces ignored, extra columns ignored, blank lines skipped.
//! Lines starting with `#` are comments; `# sign_convention: discharge_positive` (or
//! `discharge_negative`) states the sign of the file's current. Column names are matched
//! case-insensitively with spaces removed:
//! - time \[s\]: `time_s`, `time[s]`, `time`, `t`, `t[s]`, `t_s`, `timevec` (LG M50);
//! - current \[A\]: `current_a`, `current[a]`, `current`, `i[a]`, `i`, `currvec` (LG M50);
//! - voltage \[V\]: `voltage_v`, `voltage[v]`, `voltage`, `u[v]`, `v[v]`, `v`, `volvec` (LG M50);
//! - cell temperature, read only when asked for ([`CyclerTable::parse_with`]): in K
//!   `temperature_k`, `temperature[k]`, `t_cell[k]`; in °C `temperature_c`, `temperature[c]`,
//!   `temperature[degc]`, `t_cell[c]`, `celltemp_mid`, `celltemp` (LG M50's mid-cell sensor).
//!
//! So bridgelaw's own `time_s,current_A,voltage_V`, About:Energy's `Time [s],I[A],U[V]` and the
//! LG M50 files' `timeVec,currVec,volVec,…` are all read as they are. Every value read must be a
//! finite number and time must increase strictly; errors name the file, the line and the column.

use thiserror::Error;

/// Which sign a file's current column uses for discharge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignConvention {
    /// Discharge current is positive (the library's convention).
    DischargePositive,
    /// Discharge current is negative (cycler convention, e.g. the About:Energy files).
    DischargeNegative,
}

impl SignConvention {
    /// Parse `discharge_positive` / `discharge_negative` (also `discharge positive`, `positive`, `negative`).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        match s.as_str() {
            "discharge_positive" | "positive" => Some(Self::DischargePositive),
            "discharge_negative" | "negative" => Some(Self::DischargeNegative),
            _ => None,
        }
    }

    /// `discharge-positive` / `discharge-negative`, for messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::DischargePositive => "discharge-positive",
            Self::DischargeNegative => "discharge-negative",
        }
    }

    /// The factor taking the file's current to discharge-positive current: ±1.
    pub fn factor(self) -> f64 {
        match self {
            Self::DischargePositive => 1.0,
            Self::DischargeNegative => -1.0,
        }
    }
}

/// What is wrong with a cycler file. `file` is the path as given, `row` the 1-based line
/// number in the file.
#[derive(Debug, Error)]
pub enum DataError {
    /// The file cannot be read.
    #[error("reading '{file}': {source}")]
    Io {
        /// The file, as given.
        file: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// No column of the header names a quantity the reader needs.
    #[error("'{file}': no column for {quantity} (expected one of {expected}); header is: {found}")]
    MissingColumn {
        /// The file, as given.
        file: String,
        /// The quantity (time, current, voltage, temperature).
        quantity: String,
        /// The column names accepted for it.
        expected: String,
        /// The header as found.
        found: String,
    },
    /// A field is not a number.
    #[error("'{file}' line {row}, column '{column}': expected a number, found '{found}'")]
    NotANumber {
        /// The file, as given.
        file: String,
        /// 1-based line number.
        row: usize,
        /// Column header name.
        column: String,
        /// The field's text.
        found: String,
    },
    /// A field is a number but NaN or infinite.
    #[error("'{file}' line {row}, column '{column}': expected a finite number, found {found}")]
    NotFinite {
        /// The file, as given.
        file: String,
        /// 1-based line number.
        row: usize,
        /// Column header name.
        column: String,
        /// The field's text.
        found: String,
    },
    /// Time does not increase strictly from one row to the next.
    #[error(
        "'{file}' line {row}, column '{column}': time must increase strictly, but {value} s follows {previous} s"
    )]
    TimeNotIncreasing {
        /// The file, as given.
        file: String,
        /// 1-based line number.
        row: usize,
        /// Column header name.
        column: String,
        /// Time on the line before \[s\].
        previous: f64,
        /// Time on this line \[s\].
        value: f64,
    },
    /// A value outside the range a cell's quantity can take (a voltage above 6 V, a temperature outside 200–400 K).
    #[error("'{file}' line {row}, column '{column}': expected {expected}, found {found}")]
    Implausible {
        /// The file, as given.
        file: String,
        /// 1-based line number.
        row: usize,
        /// Column header name.
        column: String,
        /// The plausible range, in words.
        expected: String,
        /// The value, in the column's unit.
        found: f64,
    },
    /// A row has a different number of fields from the header.
    #[error("'{file}' line {row}: expected {expected} fields, found {found}")]
    RowLength {
        /// The file, as given.
        file: String,
        /// 1-based line number.
        row: usize,
        /// Fields in the header.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
    /// Fewer data rows than the reader needs.
    #[error("'{file}': expected at least {expected} data rows, found {found}")]
    TooShort {
        /// The file, as given.
        file: String,
        /// Least number of rows.
        expected: usize,
        /// Rows found.
        found: usize,
    },
    /// The line stating the sign convention names an unknown one, or one that differs from
    /// the convention declared for the file.
    #[error("'{file}' line {row}: {detail}")]
    SignConvention {
        /// The file, as given.
        file: String,
        /// 1-based line number.
        row: usize,
        /// What the line says and what was expected.
        detail: String,
    },
    /// The file's sign convention is missing or disagrees with the declared one: a matter of
    /// the whole file (or of its stating line, named in `detail`), not of a data line.
    #[error("'{file}': {detail}")]
    SignUndeclared { file: String, detail: String },
    /// A time asked for lies outside the measured times.
    #[error(
        "'{file}': requested time {requested} s is outside the measured range [{first}, {last}] s"
    )]
    OutsideMeasuredRange {
        /// The file, as given.
        file: String,
        /// The time asked for \[s\].
        requested: f64,
        /// First measured time \[s\].
        first: f64,
        /// Last measured time \[s\].
        last: f64,
    },
    /// A run of rows contradicts the declared sign convention (e.g. a discharge with the current of a charge).
    #[error("'{file}' lines {first_row}–{last_row}: {detail}")]
    WrongSignConvention {
        /// The file, as given.
        file: String,
        /// First line of the segment (1-based).
        first_row: usize,
        /// Last line of the segment (1-based).
        last_row: usize,
        /// Column, declared convention, what the segment shows and what was expected.
        detail: String,
    },
}

const TIME_NAMES: [&str; 7] = ["time_s", "time[s]", "time", "t", "t[s]", "t_s", "timevec"];
const CURRENT_NAMES: [&str; 6] = ["current_a", "current[a]", "current", "i[a]", "i", "currvec"];
const VOLTAGE_NAMES: [&str; 7] = [
    "voltage_v",
    "voltage[v]",
    "voltage",
    "u[v]",
    "v[v]",
    "v",
    "volvec",
];

/// Cell-temperature column names in kelvin and in degrees Celsius (first match wins, K first).
const TEMPERATURE_K_NAMES: [&str; 3] = ["temperature_k", "temperature[k]", "t_cell[k]"];
const TEMPERATURE_C_NAMES: [&str; 6] = [
    "temperature_c",
    "temperature[c]",
    "temperature[degc]",
    "t_cell[c]",
    "celltemp_mid",
    "celltemp",
];

/// The plausible range of a cell temperature \[K\] (−73 °C to 127 °C): outside it the column is
/// most likely in other units (°C read as K) or not a temperature.
const CELL_TEMPERATURE_RANGE_K: (f64, f64) = (200.0, 400.0);

/// The highest voltage a measured curve may hold \[V\]: above any lithium-ion cell's charge
/// voltage (about 4.5 V at most), below any two cells in series.
const MAX_CELL_VOLTAGE: f64 = 6.0;

/// A cycler file's columns as read (current in the file's own sign, time as in the file).
#[derive(Debug, Clone, PartialEq)]
pub struct CyclerTable {
    /// The file, as given (for messages).
    pub file: String,
    /// Header names of the time, current and (if read) voltage columns.
    pub time_column: String,
    /// Header name of the current column.
    pub current_column: String,
    /// Time \[s\], as in the file.
    pub time_s: Vec<f64>,
    /// Current \[A\], in the file's own sign.
    pub current_a: Vec<f64>,
    /// The voltage \[V\], if asked for.
    pub voltage_v: Option<Vec<f64>>,
    /// The cell temperature \[K\] (converted from °C where the column is in °C) and its column's
    /// header name, if asked for.
    pub temperature_k: Option<Vec<f64>>,
    /// Header name of the temperature column, if read.
    pub temperature_column: Option<String>,
    /// 1-based line number of each row.
    pub rows: Vec<usize>,
    /// The sign convention stated in the file, if any.
    pub stated_sign: Option<SignConvention>,
    /// The 1-based line that states it (0 when none does).
    pub stated_sign_row: usize,
}

impl CyclerTable {
    /// Parse CSV text (`file` names it in errors); `voltage`: the voltage column is required.
    pub fn parse(text: &str, file: &str, voltage: bool) -> Result<Self, DataError> {
        Self::parse_with(text, file, voltage, false)
    }

    /// [`CyclerTable::parse`], with `temperature`: the cell-temperature column is required too.
    pub fn parse_with(
        text: &str,
        file: &str,
        voltage: bool,
        temperature: bool,
    ) -> Result<Self, DataError> {
        let mut stated_sign = None;
        let mut stated_sign_row = 0;
        let mut header: Option<(Vec<String>, [Option<usize>; 4], f64)> = None;
        let (mut t, mut i, mut v, mut temp, mut rows) = (vec![], vec![], vec![], vec![], vec![]);
        for (k, line) in text.lines().enumerate() {
            let row = k + 1;
            let l = line.trim();
            if l.is_empty() {
                continue;
            }
            if let Some(c) = l.strip_prefix('#') {
                if let Some(s) = stated_sign_of(c, file, row)? {
                    stated_sign = Some(s);
                    stated_sign_row = row;
                }
                continue;
            }
            let fields: Vec<&str> = l.split(',').map(str::trim).collect();
            let Some((names, cols, celsius_offset)) = &header else {
                let names: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
                let find = |aliases: &[&str], quantity: &str, needed: bool| {
                    let k = names.iter().position(|h| {
                        aliases.contains(&h.to_ascii_lowercase().replace(' ', "").as_str())
                    });
                    match k {
                        None if needed => Err(DataError::MissingColumn {
                            file: file.into(),
                            quantity: quantity.into(),
                            expected: format!("'{}'", aliases.join("', '")),
                            found: l.to_string(),
                        }),
                        k => Ok(k),
                    }
                };
                // a temperature column in K, else one in °C (offset 273.15 K)
                let (temp_col, offset) = if temperature {
                    match find(&TEMPERATURE_K_NAMES, "cell temperature [K]", false)? {
                        Some(k) => (Some(k), 0.0),
                        None => {
                            let mut all = TEMPERATURE_K_NAMES.to_vec();
                            all.extend(TEMPERATURE_C_NAMES);
                            let k = find(&TEMPERATURE_C_NAMES, "cell temperature", false)?;
                            if k.is_none() {
                                find(&all, "cell temperature (K or °C)", true)?;
                            }
                            (k, 273.15)
                        }
                    }
                } else {
                    (None, 0.0)
                };
                let cols = [
                    find(&TIME_NAMES, "time [s]", true)?,
                    find(&CURRENT_NAMES, "current [A]", true)?,
                    find(&VOLTAGE_NAMES, "voltage [V]", voltage)?.filter(|_| voltage),
                    temp_col,
                ];
                header = Some((names, cols, offset));
                continue;
            };
            if fields.len() != names.len() {
                return Err(DataError::RowLength {
                    file: file.into(),
                    row,
                    expected: names.len(),
                    found: fields.len(),
                });
            }
            let mut vals = [0.0; 4];
            for (slot, c) in cols.iter().enumerate() {
                let Some(c) = *c else { continue };
                let s = fields[c];
                let x: f64 = s.parse().map_err(|_| DataError::NotANumber {
                    file: file.into(),
                    row,
                    column: names[c].clone(),
                    found: s.into(),
                })?;
                if !x.is_finite() {
                    return Err(DataError::NotFinite {
                        file: file.into(),
                        row,
                        column: names[c].clone(),
                        found: s.into(),
                    });
                }
                // A voltage outside (0, 6) V is no single lithium-ion cell's (the models here
                // are of one cell): most likely mV, a pack or a misread column. Fitted, it
                // would give confident nonsense.
                if slot == 2 && !(x > 0.0 && x < MAX_CELL_VOLTAGE) {
                    return Err(DataError::Implausible {
                        file: file.into(),
                        row,
                        column: names[c].clone(),
                        expected: format!(
                            "a cell voltage in (0, {MAX_CELL_VOLTAGE}) V (is the column in mV, or of a pack?)"
                        ),
                        found: x,
                    });
                }
                vals[slot] = x;
                if slot == 3 {
                    let kelvin = x + celsius_offset;
                    let (lo, hi) = CELL_TEMPERATURE_RANGE_K;
                    if !(kelvin > lo && kelvin < hi) {
                        return Err(DataError::Implausible {
                            file: file.into(),
                            row,
                            column: names[c].clone(),
                            expected: format!(
                                "a cell temperature in ({lo}, {hi}) K (the column is read in {}; \
                                 name it temperature_K or temperature_C to say which)",
                                if *celsius_offset == 0.0 { "K" } else { "°C" }
                            ),
                            found: x,
                        });
                    }
                    vals[slot] = kelvin;
                }
            }
            if let Some(&prev) = t.last()
                && vals[0] <= prev
            {
                return Err(DataError::TimeNotIncreasing {
                    file: file.into(),
                    row,
                    column: names[cols[0].unwrap_or(0)].clone(),
                    previous: prev,
                    value: vals[0],
                });
            }
            t.push(vals[0]);
            i.push(vals[1]);
            v.push(vals[2]);
            temp.push(vals[3]);
            rows.push(row);
        }
        let Some((names, cols, _)) = header else {
            return Err(DataError::TooShort {
                file: file.into(),
                expected: 2,
                found: 0,
            });
        };
        if t.len() < 2 {
            return Err(DataError::TooShort {
                file: file.into(),
                expected: 2,
                found: t.len(),
            });
        }
        let name = |c: Option<usize>| c.map(|c| names[c].clone()).unwrap_or_default();
        Ok(Self {
            file: file.into(),
            time_column: name(cols[0]),
            current_column: name(cols[1]),
            time_s: t,
            current_a: i,
            voltage_v: voltage.then_some(v),
            temperature_k: temperature.then_some(temp),
            temperature_column: cols[3].map(|c| names[c].clone()),
            rows,
            stated_sign,
            stated_sign_row,
        })
    }

    /// The file's sign convention: the one it states, else `declared`; both given and
    /// different, or neither given, is an error.
    pub fn sign(&self, declared: Option<SignConvention>) -> Result<SignConvention, DataError> {
        match (self.stated_sign, declared) {
            (Some(s), Some(d)) if s != d => Err(DataError::SignConvention {
                file: self.file.clone(),
                row: self.stated_sign_row,
                detail: format!(
                    "the file states {} current but {} was declared for it; remove one",
                    s.label(),
                    d.label()
                ),
            }),
            (Some(s), _) | (None, Some(s)) => Ok(s),
            (None, None) => Err(DataError::SignUndeclared {
                file: self.file.clone(),
                detail: "the file does not state its sign convention: add '# sign_convention: \
                         discharge_positive' (or discharge_negative), or declare it (sign = ...)"
                    .into(),
            }),
        }
    }
}

/// The sign convention a comment line `c` (without its `#`) states, if it states one.
fn stated_sign_of(c: &str, file: &str, row: usize) -> Result<Option<SignConvention>, DataError> {
    let c = c.trim();
    let Some(rest) = c
        .strip_prefix("sign_convention")
        .or_else(|| c.strip_prefix("sign convention"))
        .or_else(|| c.strip_prefix("sign"))
    else {
        return Ok(None);
    };
    let v = rest.trim_start_matches([':', '=', ' ']);
    SignConvention::parse(v)
        .map(Some)
        .ok_or_else(|| DataError::SignConvention {
            file: file.into(),
            row,
            detail: format!(
                "unknown sign convention '{v}' (expected discharge_positive or discharge_negative)"
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The three header forms of the shipped data, comments and extra columns.
    #[test]
    fn the_shipped_header_forms_are_read() {
        for (text, voltage) in [
            ("time_s,current_A,voltage_V\n0,1,4.1\n1,1,4.0\n", true),
            ("Time [s],I[A],U[V]\n0,-1,4.1\n1,-1,4.0\n", true),
            (
                "timeVec,currVec,volVec,cellTemp\n0,-1,4.1,25\n1,-1,4.0,25.1\n",
                true,
            ),
            (
                "# sign_convention: discharge_negative\nTime [s], Current [A]\n0,-1\n1,-1\n",
                false,
            ),
        ] {
            let t = CyclerTable::parse(text, "f.csv", voltage).unwrap();
            assert_eq!(t.time_s, vec![0.0, 1.0], "{text}");
            assert_eq!(t.voltage_v.is_some(), voltage);
        }
        let t = CyclerTable::parse("# sign: negative\nt,i\n0,-1\n2,-1\n", "f.csv", false).unwrap();
        assert_eq!(t.stated_sign, Some(SignConvention::DischargeNegative));
        assert!(t.sign(Some(SignConvention::DischargePositive)).is_err());
        assert!(t.sign(None).is_ok());
        // A mismatch names the line that states the sign; a missing sign names no line.
        let e = t.sign(Some(SignConvention::DischargePositive)).unwrap_err();
        assert!(e.to_string().contains("line 1:"), "{e}");
        let t = CyclerTable::parse("t,i\n0,-1\n2,-1\n", "f.csv", false).unwrap();
        let e = t.sign(None).unwrap_err().to_string();
        assert!(!e.contains("line") && e.contains("f.csv"), "{e}");
    }

    /// Errors name the file, the line and the column.
    #[test]
    fn bad_rows_are_named() {
        let cases = [
            (
                "t,i\n0,1\n1,x\n",
                "line 3, column 'i': expected a number, found 'x'",
            ),
            ("t,i\n0,1\n0,1\n", "line 3, column 't': time must increase"),
            (
                "t,i\n0,1\n1,inf\n",
                "line 3, column 'i': expected a finite number",
            ),
            ("t,i\n0,1\n1\n", "line 3: expected 2 fields, found 1"),
            ("a,b\n0,1\n", "no column for time [s]"),
            (
                "# sign: sideways\nt,i\n0,1\n1,1\n",
                "line 1: unknown sign convention 'sideways'",
            ),
        ];
        for (text, want) in cases {
            let e = CyclerTable::parse(text, "f.csv", false)
                .unwrap_err()
                .to_string();
            assert!(e.contains("'f.csv'") && e.contains(want), "{e}");
        }
    }
}
