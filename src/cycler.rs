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
//! - step index, read only when steps are selected ([`Selection::steps`]): the column named
//!   by `step_column`, else the first of `step`, `step_index`, `stepindex`, `step_id`,
//!   `stepid`, `step_number`, `stepnumber`, `ns` (Maccor/PyProBE `Step`, Arbin `Step_Index`,
//!   Neware `Step Index`/`Step ID`, BioLogic `Ns`).
//!
//! So bridgelaw's own `time_s,current_A,voltage_V`, About:Energy's `Time [s],I[A],U[V]` and the
//! LG M50 files' `timeVec,currVec,volVec,…` are all read as they are. Every value read must be a
//! finite number and time must increase strictly; errors name the file, the line and the column.
//! Repeated time stamps (a cycler logging the last row of one step and the first of the next at
//! the same instant) are an error unless [`DuplicateTimes`] says to drop the repeats (the first
//! row of each run of equal times is kept) or to average them (one row at that time holding the
//! mean of each column, the first row's step index and line).
//!
//! Which rows a fit uses is a [`Selection`]: a time window [t0, t1] in the file's own time and/or
//! a set of step indices; [`CyclerTable::select`] says which rows it keeps, or why none.

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

/// What the reader does with a repeated time stamp (a row whose time equals the one before).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateTimes {
    /// Refuse the file, naming the line (the default: a repeat may be a corrupt export).
    #[default]
    Error,
    /// Keep the first row of each run of equal times, drop the rest.
    Drop,
    /// Replace each run of equal times by one row holding the mean of each column (current,
    /// voltage, temperature); the step index and line number are the first row's.
    Average,
}

impl DuplicateTimes {
    /// Parse `error`, `drop` or `average`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "error" => Some(Self::Error),
            "drop" => Some(Self::Drop),
            "average" => Some(Self::Average),
            _ => None,
        }
    }

    /// `error` / `drop` / `average`, as written in a study file.
    pub fn label(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Drop => "drop",
            Self::Average => "average",
        }
    }
}

/// Which column holds the cycler's step index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepColumn {
    /// The first column with one of the common names (module doc).
    Any,
    /// The column with this header name (case and spaces ignored).
    Named(String),
}

/// What [`CyclerTable::parse_options`] reads besides time and current, and how.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOptions {
    /// The voltage column is required.
    pub voltage: bool,
    /// The cell-temperature column is required.
    pub temperature: bool,
    /// Read this step-index column (`None`: none).
    pub step_column: Option<StepColumn>,
    /// What to do with repeated time stamps.
    pub duplicate_times: DuplicateTimes,
}

/// The rows of a file a fit uses: those inside a time window and with one of the given step
/// indices (each criterion given; neither: every row).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// [t0, t1] \[s\], in the file's own time (not shifted), both ends included.
    pub window: Option<(f64, f64)>,
    /// Step indices to keep (values of the step column); empty: any step.
    pub steps: Vec<i64>,
    /// The step column's header name (`None`: the first with a common name).
    pub step_column: Option<String>,
}

impl Selection {
    /// Parse a window `t0:t1` (seconds, the file's time; t0 < t1, both finite), as the command
    /// line's `--window` takes it.
    pub fn parse_window(s: &str) -> Result<(f64, f64), String> {
        let expected =
            "expected T0:T1, two times in s (the file's own time) with T0 < T1, e.g. 3600:7200";
        let (a, b) = s
            .split_once(':')
            .ok_or_else(|| format!("'{s}': {expected}"))?;
        match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
            (Ok(a), Ok(b)) if a.is_finite() && b.is_finite() && a < b => Ok((a, b)),
            _ => Err(format!("'{s}': {expected}")),
        }
    }

    /// Every row: no window, no steps.
    pub fn is_all(&self) -> bool {
        self.window.is_none() && self.steps.is_empty()
    }

    /// The step column the reader must read for this selection, if any.
    pub fn step_column(&self) -> Option<StepColumn> {
        if self.steps.is_empty() {
            return None;
        }
        Some(match &self.step_column {
            Some(n) => StepColumn::Named(n.clone()),
            None => StepColumn::Any,
        })
    }

    /// `window [t0, t1] s, steps [4, 5] (column 'Step')`, for messages.
    pub fn describe(&self) -> String {
        let mut parts = vec![];
        if let Some((a, b)) = self.window {
            parts.push(format!("window [{a}, {b}] s"));
        }
        if !self.steps.is_empty() {
            parts.push(format!(
                "steps {:?}{}",
                self.steps,
                self.step_column
                    .as_ref()
                    .map(|c| format!(" (column '{c}')"))
                    .unwrap_or_default()
            ));
        }
        if parts.is_empty() {
            "every row".into()
        } else {
            parts.join(", ")
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
        "'{file}' line {row}, column '{column}': time must increase strictly, but {value} s follows {previous} s{hint}"
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
        /// For a repeated time stamp: how to accept it (the `duplicate_times` option).
        hint: String,
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
    SignUndeclared {
        /// The file, as given.
        file: String,
        /// Where the convention can be declared.
        detail: String,
    },
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
    /// The step-index column asked for is not in the header (line `row`).
    #[error("'{file}' line {row} (header): no step-index column {wanted}; header is: {found}")]
    NoStepColumn {
        /// The file, as given.
        file: String,
        /// 1-based line of the header.
        row: usize,
        /// The name asked for, or the accepted names.
        wanted: String,
        /// The header as read.
        found: String,
    },
    /// A time window that does not lie inside the file's time range.
    #[error(
        "'{file}' column '{column}': window [{t0}, {t1}] s is not inside the data's time range \
         [{first} s (line {first_row}), {last} s (line {last_row})]; expected {expected}"
    )]
    WindowOutside {
        /// The file, as given.
        file: String,
        /// Header name of the time column.
        column: String,
        /// Window start \[s\].
        t0: f64,
        /// Window end \[s\].
        t1: f64,
        /// First time in the file \[s\].
        first: f64,
        /// Last time in the file \[s\].
        last: f64,
        /// 1-based line of the first data row.
        first_row: usize,
        /// 1-based line of the last data row.
        last_row: usize,
        /// What a window must be.
        expected: String,
    },
    /// No row is in the selection.
    #[error("'{file}': no row is in the selection ({selection}){detail}")]
    EmptySelection {
        /// The file, as given.
        file: String,
        /// The selection asked for (window, steps).
        selection: String,
        /// What the file holds instead (its steps, its time range).
        detail: String,
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

/// Step-index column names (normalised: lower case, no spaces), first match wins.
const STEP_NAMES: [&str; 8] = [
    "step",
    "step_index",
    "stepindex",
    "step_id",
    "stepid",
    "step_number",
    "stepnumber",
    "ns",
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
    /// The step index of each row, if asked for.
    pub step: Option<Vec<f64>>,
    /// Header name of the step-index column, if read.
    pub step_column: Option<String>,
    /// 1-based line number of each row.
    pub rows: Vec<usize>,
    /// 1-based line number of the header.
    pub header_row: usize,
    /// Rows dropped or merged by [`DuplicateTimes::Drop`] / [`DuplicateTimes::Average`].
    pub repeated_rows: usize,
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
        let opts = ReadOptions {
            voltage,
            temperature,
            ..ReadOptions::default()
        };
        Self::parse_options(text, file, &opts)
    }

    /// Parse CSV text (`file` names it in errors) with the columns and the handling of
    /// repeated time stamps `opts` asks for.
    pub fn parse_options(text: &str, file: &str, opts: &ReadOptions) -> Result<Self, DataError> {
        let (voltage, temperature) = (opts.voltage, opts.temperature);
        let mut stated_sign = None;
        let mut stated_sign_row = 0;
        let mut header_row = 0;
        let mut header: Option<(Vec<String>, [Option<usize>; 5], f64)> = None;
        let (mut t, mut i, mut v, mut temp, mut step, mut rows) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        // rows merged into the last kept one (DuplicateTimes::Average), counting it
        let mut merged = 1usize;
        let mut repeated_rows = 0;
        let normal = |h: &str| h.to_ascii_lowercase().replace(' ', "");
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
                    let k = names
                        .iter()
                        .position(|h| aliases.contains(&normal(h).as_str()));
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
                let step_col = match &opts.step_column {
                    None => None,
                    Some(StepColumn::Any) => Some(find(&STEP_NAMES, "step index", false)?.ok_or(
                        DataError::NoStepColumn {
                            file: file.into(),
                            row,
                            wanted: format!(
                                "(expected one of '{}', or name it with step_column)",
                                STEP_NAMES.join("', '")
                            ),
                            found: l.to_string(),
                        },
                    )?),
                    Some(StepColumn::Named(n)) => Some(
                        find(&[normal(n).as_str()], "step index", false)?.ok_or_else(|| {
                            DataError::NoStepColumn {
                                file: file.into(),
                                row,
                                wanted: format!("'{n}' (step_column)"),
                                found: l.to_string(),
                            }
                        })?,
                    ),
                };
                let cols = [
                    find(&TIME_NAMES, "time [s]", true)?,
                    find(&CURRENT_NAMES, "current [A]", true)?,
                    find(&VOLTAGE_NAMES, "voltage [V]", voltage)?.filter(|_| voltage),
                    temp_col,
                    step_col,
                ];
                header = Some((names, cols, offset));
                header_row = row;
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
            let mut vals = [0.0; 5];
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
            if let Some(&prev) = t.last() {
                let repeat = vals[0] == prev;
                match opts.duplicate_times {
                    DuplicateTimes::Drop if repeat => {
                        repeated_rows += 1;
                        continue;
                    }
                    DuplicateTimes::Average if repeat => {
                        // running mean of the run of equal times, in the last kept row
                        repeated_rows += 1;
                        merged += 1;
                        let w = 1.0 / merged as f64;
                        for (col, x) in [(&mut i, vals[1]), (&mut v, vals[2]), (&mut temp, vals[3])]
                        {
                            let last = col.last_mut().expect("a row before");
                            *last += (x - *last) * w;
                        }
                        continue;
                    }
                    _ if vals[0] <= prev => {
                        return Err(DataError::TimeNotIncreasing {
                            file: file.into(),
                            row,
                            column: names[cols[0].unwrap_or(0)].clone(),
                            previous: prev,
                            value: vals[0],
                            hint: if repeat {
                                " (a repeated time stamp: to accept repeats set \
                                 duplicate_times = \"drop\" or \"average\" on the study \
                                 experiment, or --duplicate-times drop|average)"
                                    .into()
                            } else {
                                String::new()
                            },
                        });
                    }
                    _ => merged = 1,
                }
            }
            t.push(vals[0]);
            i.push(vals[1]);
            v.push(vals[2]);
            temp.push(vals[3]);
            step.push(vals[4]);
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
            step: cols[4].map(|_| step),
            step_column: cols[4].map(|c| names[c].clone()),
            rows,
            header_row,
            repeated_rows,
            stated_sign,
            stated_sign_row,
        })
    }

    /// The indices (into this table's rows) of the rows `sel` keeps, in order. Errors: a window
    /// that is not an interval \[t0 < t1\] inside the file's time range (naming the time column
    /// and the first and last lines), steps asked for without a step column read, no row kept
    /// (naming the steps the file holds).
    pub fn select(&self, sel: &Selection) -> Result<Vec<usize>, DataError> {
        let n = self.time_s.len();
        let (first, last) = (self.time_s[0], self.time_s[n - 1]);
        if let Some((t0, t1)) = sel.window {
            let ok = t0.is_finite() && t1.is_finite() && t0 < t1;
            if !ok || t0 < first || t1 > last {
                return Err(DataError::WindowOutside {
                    file: self.file.clone(),
                    column: self.time_column.clone(),
                    t0,
                    t1,
                    first,
                    last,
                    first_row: self.rows[0],
                    last_row: self.rows[n - 1],
                    expected: if ok {
                        format!("{first} ≤ t0 < t1 ≤ {last} (times as in the file)")
                    } else {
                        "finite t0 < t1".into()
                    },
                });
            }
        }
        let steps = match (&self.step, sel.steps.is_empty()) {
            (_, true) => None,
            (Some(s), false) => Some(s),
            (None, false) => {
                return Err(DataError::NoStepColumn {
                    file: self.file.clone(),
                    row: self.header_row,
                    wanted: "(the step column was not read)".into(),
                    found: String::new(),
                });
            }
        };
        let keep: Vec<usize> = (0..n)
            .filter(|&k| {
                sel.window
                    .is_none_or(|(a, b)| self.time_s[k] >= a && self.time_s[k] <= b)
                    && steps.is_none_or(|s| sel.steps.iter().any(|&x| x as f64 == s[k]))
            })
            .collect();
        if keep.is_empty() {
            let detail = match (steps, &self.step_column) {
                (Some(s), Some(c)) => {
                    let mut seen: Vec<f64> = Vec::new();
                    for &x in s {
                        if !seen.contains(&x) {
                            seen.push(x);
                        }
                    }
                    let shown: Vec<String> = seen.iter().take(30).map(|x| x.to_string()).collect();
                    format!(
                        "; column '{c}' holds steps {}{}",
                        shown.join(", "),
                        if seen.len() > 30 { ", …" } else { "" }
                    )
                }
                _ => format!("; the data span [{first}, {last}] s"),
            };
            return Err(DataError::EmptySelection {
                file: self.file.clone(),
                selection: sel.describe(),
                detail,
            });
        }
        Ok(keep)
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

    fn with(dup: DuplicateTimes) -> ReadOptions {
        ReadOptions {
            voltage: true,
            duplicate_times: dup,
            ..ReadOptions::default()
        }
    }

    /// A repeated time stamp: refused by default with the option named; dropped (the first row
    /// kept) or averaged (the mean of each column) when asked; a decreasing time is refused
    /// whatever the option.
    #[test]
    fn repeated_time_stamps_follow_the_option() {
        let text = "t,i,v\n0,1,4.0\n1,1,3.9\n1,3,3.7\n1,5,3.5\n2,0,3.8\n";
        let e = CyclerTable::parse_options(text, "f.csv", &with(DuplicateTimes::Error))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'f.csv' line 4, column 't'") && e.contains("duplicate_times"),
            "{e}"
        );
        let t = CyclerTable::parse_options(text, "f.csv", &with(DuplicateTimes::Drop)).unwrap();
        assert_eq!(t.time_s, vec![0.0, 1.0, 2.0]);
        assert_eq!(t.current_a, vec![1.0, 1.0, 0.0]);
        assert_eq!((t.rows.clone(), t.repeated_rows), (vec![2, 3, 6], 2));
        let t = CyclerTable::parse_options(text, "f.csv", &with(DuplicateTimes::Average)).unwrap();
        assert_eq!(t.time_s, vec![0.0, 1.0, 2.0]);
        assert!((t.current_a[1] - 3.0).abs() < 1e-12);
        assert!((t.voltage_v.as_ref().unwrap()[1] - 3.7).abs() < 1e-12);
        assert_eq!((t.rows.clone(), t.repeated_rows), (vec![2, 3, 6], 2));
        let back = "t,i,v\n0,1,4.0\n2,1,3.9\n1,1,3.8\n";
        for dup in [DuplicateTimes::Drop, DuplicateTimes::Average] {
            let e = CyclerTable::parse_options(back, "f.csv", &with(dup))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("line 4") && !e.contains("duplicate_times"),
                "{e}"
            );
        }
        for (s, d) in [
            ("error", DuplicateTimes::Error),
            ("Drop", DuplicateTimes::Drop),
            ("average", DuplicateTimes::Average),
        ] {
            assert_eq!(DuplicateTimes::parse(s), Some(d));
        }
        assert_eq!(DuplicateTimes::parse("mean"), None);
    }

    /// The LG M50 file's repeated time stamps, averaged: every time then increases.
    #[test]
    fn lgm50_file_reads_with_repeats_averaged() {
        let f = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/lgm50/LGM50_RateTest_T25_cRate_1C.csv"
        );
        let text = std::fs::read_to_string(f).unwrap();
        let opts = ReadOptions {
            temperature: true,
            ..with(DuplicateTimes::Average)
        };
        let t = CyclerTable::parse_options(&text, "lgm50.csv", &opts).unwrap();
        assert!(t.repeated_rows > 0 && t.time_s.windows(2).all(|w| w[1] > w[0]));
        assert!(
            t.temperature_k
                .unwrap()
                .iter()
                .all(|&x| x > 290.0 && x < 330.0)
        );
    }

    /// Windows and steps pick rows; a step column is found by its common names or by name;
    /// what cannot be selected is named.
    #[test]
    fn selections_pick_rows_and_name_what_is_wrong() {
        let text = "time,I,V,Step Index\n0,0,4.0,1\n10,1,3.9,2\n20,1,3.8,2\n30,0,3.9,3\n";
        let opts = ReadOptions {
            step_column: Some(StepColumn::Any),
            ..with(DuplicateTimes::Error)
        };
        let t = CyclerTable::parse_options(text, "f.csv", &opts).unwrap();
        assert_eq!(t.step_column.as_deref(), Some("Step Index"));
        let pick = |window, steps: Vec<i64>| {
            t.select(&Selection {
                window,
                steps,
                step_column: None,
            })
        };
        assert_eq!(pick(Some((10.0, 30.0)), vec![]).unwrap(), vec![1, 2, 3]);
        assert_eq!(pick(None, vec![2]).unwrap(), vec![1, 2]);
        assert_eq!(pick(Some((15.0, 30.0)), vec![2]).unwrap(), vec![2]);
        let e = pick(Some((10.0, 31.0)), vec![]).unwrap_err().to_string();
        assert!(
            e.contains("'f.csv' column 'time'") && e.contains("line 2") && e.contains("line 5"),
            "{e}"
        );
        let e = pick(None, vec![7]).unwrap_err().to_string();
        assert!(e.contains("column 'Step Index' holds steps 1, 2, 3"), "{e}");
        let e = pick(Some((11.0, 19.0)), vec![]).unwrap_err().to_string();
        assert!(
            e.contains("no row is in the selection (window [11, 19] s)"),
            "{e}"
        );
        let named = ReadOptions {
            step_column: Some(StepColumn::Named("stepindex".into())),
            ..opts.clone()
        };
        assert!(CyclerTable::parse_options(text, "f.csv", &named).is_ok());
        let named = ReadOptions {
            step_column: Some(StepColumn::Named("Cycle".into())),
            ..opts.clone()
        };
        let e = CyclerTable::parse_options(text, "f.csv", &named)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'f.csv' line 1 (header): no step-index column 'Cycle'"),
            "{e}"
        );
        let e = CyclerTable::parse_options("t,i\n0,1\n1,1\n", "f.csv", &opts)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 1 (header)") && e.contains("step_column"),
            "{e}"
        );
        assert_eq!(Selection::parse_window("3600:7200"), Ok((3600.0, 7200.0)));
        assert!(Selection::parse_window("7200:3600").is_err());
        assert!(Selection::parse_window("3600").is_err());
    }
}
