//! Current protocols: constant current (A or C-rate), rests, and measured current series from CSV.
//!
//! Sign convention inside the library: discharge current is positive.

use super::CellError;
use super::thermal::TemperatureSeries;
use crate::cycler::{CyclerTable, DuplicateTimes, ReadOptions};
use std::path::Path;

/// One step of a step protocol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Constant current \[A\] (discharge > 0) for `duration_s` \[s\].
    Current {
        /// Current \[A\], discharge positive.
        amps: f64,
        /// Duration \[s\].
        duration_s: f64,
    },
    /// Constant C-rate \[1/h\] relative to the nominal capacity (discharge > 0).
    CRate {
        /// C-rate \[1/h\], discharge positive.
        c_rate: f64,
        /// Duration \[s\].
        duration_s: f64,
    },
    /// Zero current for `duration_s` \[s\].
    Rest {
        /// Duration \[s\].
        duration_s: f64,
    },
}

pub use crate::cycler::SignConvention;

/// A measured current series I(t) \[A\] (discharge > 0), linearly interpolated between samples.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentSeries {
    /// Sample times \[s\], strictly increasing.
    pub time_s: Vec<f64>,
    /// Currents \[A\], discharge positive.
    pub current_a: Vec<f64>,
}

/// A current protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum Protocol {
    /// A sequence of constant-current steps and rests.
    Steps(Vec<Step>),
    /// A measured current series.
    Series(CurrentSeries),
}

/// A piece of the resolved current: I(t) linear from `i0` at `t0` to `i1` at `t1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Start time \[s\].
    pub t0: f64,
    /// End time \[s\].
    pub t1: f64,
    /// Current at `t0` \[A\], discharge positive.
    pub i0: f64,
    /// Current at `t1` \[A\], discharge positive.
    pub i1: f64,
}

impl Segment {
    /// Current \[A\] at time t within the segment.
    #[inline]
    pub fn current_at(&self, t: f64) -> f64 {
        if self.t1 == self.t0 {
            return self.i1;
        }
        if self.i0 == self.i1 {
            return self.i0;
        }
        let s = ((t - self.t0) / (self.t1 - self.t0)).clamp(0.0, 1.0);
        self.i0 + s * (self.i1 - self.i0)
    }
}

impl Protocol {
    /// Constant-current discharge (or charge, if negative) of `amps` \[A\] for `duration_s`.
    pub fn constant_current(amps: f64, duration_s: f64) -> Self {
        Self::Steps(vec![Step::Current { amps, duration_s }])
    }

    /// Constant C-rate discharge for `duration_s` (use e.g. 1.2/C hours to reach cut-off).
    pub fn c_rate(c_rate: f64, duration_s: f64) -> Self {
        Self::Steps(vec![Step::CRate { c_rate, duration_s }])
    }

    /// Read a current series from CSV text by the cycler-file reader ([`crate::cycler`]: a
    /// time and a current column, aliases, comments). The sign convention is the one the file
    /// states (`# sign_convention: discharge_positive|discharge_negative`), else `sign`; stated
    /// in neither place, or differently in both, is an error. Time is shifted to start at 0.
    pub fn series_from_csv_str(
        text: &str,
        source: &str,
        sign: Option<SignConvention>,
    ) -> Result<Self, CellError> {
        Ok(Self::series_from_table(text, source, sign, false, DuplicateTimes::Error)?.0)
    }

    /// [`Protocol::series_from_csv_str`] and the file's cell-temperature column (the cycler's
    /// sensor, K or °C by its name: [`crate::cycler`]) on the same time axis, for a solve with
    /// the measured temperature.
    pub fn series_with_temperature_from_csv_str(
        text: &str,
        source: &str,
        sign: Option<SignConvention>,
    ) -> Result<(Self, TemperatureSeries), CellError> {
        Self::series_with_temperature_from_table(text, source, sign, DuplicateTimes::Error)
    }

    fn series_with_temperature_from_table(
        text: &str,
        source: &str,
        sign: Option<SignConvention>,
        duplicate_times: DuplicateTimes,
    ) -> Result<(Self, TemperatureSeries), CellError> {
        let (protocol, temperature) =
            Self::series_from_table(text, source, sign, true, duplicate_times)?;
        match temperature {
            Some(t) => Ok((protocol, t)),
            None => Err(CellError::CurrentFile(format!(
                "{source}: no cell-temperature column"
            ))),
        }
    }

    fn series_from_table(
        text: &str,
        source: &str,
        sign: Option<SignConvention>,
        temperature: bool,
        duplicate_times: DuplicateTimes,
    ) -> Result<(Self, Option<TemperatureSeries>), CellError> {
        let bad = |e: crate::cycler::DataError| CellError::CurrentFile(e.to_string());
        let opts = ReadOptions {
            temperature,
            duplicate_times,
            ..ReadOptions::default()
        };
        let table = CyclerTable::parse_options(text, source, &opts).map_err(bad)?;
        Self::from_table(&table, sign)
    }

    /// The current series of a table read by the cycler-file reader (and its
    /// cell-temperature series if the table holds one), time shifted so that the file's first
    /// row is t = 0 and current made discharge-positive by the sign the file states, else
    /// `sign` (see [`CyclerTable::sign`]).
    pub fn from_table(
        table: &CyclerTable,
        sign: Option<SignConvention>,
    ) -> Result<(Self, Option<TemperatureSeries>), CellError> {
        let bad = |e: crate::cycler::DataError| CellError::CurrentFile(e.to_string());
        let f = table.sign(sign).map_err(bad)?.factor();
        let t0 = table.time_s[0];
        let time_s: Vec<f64> = table.time_s.iter().map(|v| v - t0).collect();
        let series = match (&table.temperature_k, &table.temperature_column) {
            (Some(t), Some(column)) => Some(TemperatureSeries::new(
                time_s.clone(),
                t.clone(),
                &format!("{} column '{column}'", table.file),
            )?),
            _ => None,
        };
        let protocol = Self::Series(CurrentSeries {
            time_s,
            current_a: table.current_a.iter().map(|v| v * f).collect(),
        });
        Ok((protocol, series))
    }

    /// Read a current series and the cell temperature from a CSV file (see
    /// [`Protocol::series_with_temperature_from_csv_str`]).
    pub fn series_with_temperature_from_csv_file(
        path: &Path,
        sign: Option<SignConvention>,
    ) -> Result<(Self, TemperatureSeries), CellError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CellError::CurrentFile(format!("reading '{}': {e}", path.display())))?;
        Self::series_with_temperature_from_csv_str(&text, &path.display().to_string(), sign)
    }

    /// Read a current series from a CSV file (see [`Protocol::series_from_csv_str`]).
    pub fn series_from_csv_file(
        path: &Path,
        sign: Option<SignConvention>,
    ) -> Result<Self, CellError> {
        Self::series_from_csv_file_with(path, sign, DuplicateTimes::Error)
    }

    /// [`Protocol::series_from_csv_file`] with repeated time stamps handled by
    /// `duplicate_times` ([`crate::cycler::DuplicateTimes`]).
    pub fn series_from_csv_file_with(
        path: &Path,
        sign: Option<SignConvention>,
        duplicate_times: DuplicateTimes,
    ) -> Result<Self, CellError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CellError::CurrentFile(format!("reading '{}': {e}", path.display())))?;
        let source = path.display().to_string();
        Ok(Self::series_from_table(&text, &source, sign, false, duplicate_times)?.0)
    }

    /// [`Protocol::series_with_temperature_from_csv_file`] with repeated time stamps handled
    /// by `duplicate_times`.
    pub fn series_with_temperature_from_csv_file_with(
        path: &Path,
        sign: Option<SignConvention>,
        duplicate_times: DuplicateTimes,
    ) -> Result<(Self, TemperatureSeries), CellError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CellError::CurrentFile(format!("reading '{}': {e}", path.display())))?;
        let source = path.display().to_string();
        Self::series_with_temperature_from_table(&text, &source, sign, duplicate_times)
    }

    /// The protocol up to `t_end` \[s\] (a series cut there, its current interpolated at
    /// `t_end`; steps shortened), so a run with output times up to `t_end` does not solve past
    /// them. `t_end` at or past the end, or not positive: the protocol unchanged.
    pub fn until(&self, t_end: f64) -> Self {
        if !(t_end > 0.0) || t_end >= self.duration() {
            return self.clone();
        }
        match self {
            Protocol::Series(s) => {
                let k = s.time_s.partition_point(|&t| t < t_end);
                let mut time_s = s.time_s[..k].to_vec();
                let mut current_a = s.current_a[..k].to_vec();
                if s.time_s[k] == t_end || k == 0 {
                    time_s.push(s.time_s[k]);
                    current_a.push(s.current_a[k]);
                } else {
                    let w = (t_end - s.time_s[k - 1]) / (s.time_s[k] - s.time_s[k - 1]);
                    time_s.push(t_end);
                    current_a.push(s.current_a[k - 1] + w * (s.current_a[k] - s.current_a[k - 1]));
                }
                Protocol::Series(CurrentSeries { time_s, current_a })
            }
            Protocol::Steps(steps) => {
                let (mut out, mut t) = (Vec::new(), 0.0);
                for s in steps {
                    let d = match *s {
                        Step::Current { duration_s, .. }
                        | Step::CRate { duration_s, .. }
                        | Step::Rest { duration_s } => duration_s,
                    };
                    let left = t_end - t;
                    if left <= 0.0 {
                        break;
                    }
                    let d_new = d.min(left);
                    out.push(match *s {
                        Step::Current { amps, .. } => Step::Current {
                            amps,
                            duration_s: d_new,
                        },
                        Step::CRate { c_rate, .. } => Step::CRate {
                            c_rate,
                            duration_s: d_new,
                        },
                        Step::Rest { .. } => Step::Rest { duration_s: d_new },
                    });
                    t += d;
                }
                Protocol::Steps(out)
            }
        }
    }

    /// Resolve into linear current segments \[A\] given the nominal capacity \[A·h\].
    pub fn segments(&self, nominal_capacity_ah: f64) -> Result<Vec<Segment>, CellError> {
        let mut out = Vec::new();
        match self {
            Protocol::Steps(steps) => {
                let mut t = 0.0;
                for (k, s) in steps.iter().enumerate() {
                    let (i, d) = match *s {
                        Step::Current { amps, duration_s } => (amps, duration_s),
                        Step::CRate { c_rate, duration_s } => {
                            (c_rate * nominal_capacity_ah, duration_s)
                        }
                        Step::Rest { duration_s } => (0.0, duration_s),
                    };
                    if !(d > 0.0) || !d.is_finite() || !i.is_finite() {
                        return Err(CellError::Protocol(format!(
                            "step {} has duration {d} s and current {i} A: need a positive finite duration and a finite current",
                            k + 1
                        )));
                    }
                    out.push(Segment {
                        t0: t,
                        t1: t + d,
                        i0: i,
                        i1: i,
                    });
                    t += d;
                }
                if out.is_empty() {
                    return Err(CellError::Protocol("empty protocol".into()));
                }
            }
            Protocol::Series(s) => {
                for k in 0..s.time_s.len() - 1 {
                    out.push(Segment {
                        t0: s.time_s[k],
                        t1: s.time_s[k + 1],
                        i0: s.current_a[k],
                        i1: s.current_a[k + 1],
                    });
                }
            }
        }
        Ok(out)
    }

    /// Total duration \[s\].
    pub fn duration(&self) -> f64 {
        match self {
            Protocol::Steps(steps) => steps
                .iter()
                .map(|s| match *s {
                    Step::Current { duration_s, .. }
                    | Step::CRate { duration_s, .. }
                    | Step::Rest { duration_s } => duration_s,
                })
                .sum(),
            Protocol::Series(s) => s.time_s.last().copied().unwrap_or(0.0),
        }
    }
}

/// The rate of a constant discharge: a current in A or a C-rate in 1/h relative to the
/// nominal capacity, discharge positive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DischargeRate {
    /// A current \[A\].
    Amps(f64),
    /// A C-rate \[1/h\].
    CRate(f64),
}

impl Protocol {
    /// A constant discharge at `rate` that the lower cut-off ends: it lasts `duration_s` (s)
    /// if given, else 1.5× the time to pass the nominal capacity `nominal_capacity_ah` (A·h) at
    /// that current, t = 1.5 · Q/|I| · 3600 s. The rate must be finite and > 0 (charges and
    /// rests go through a current series), the duration finite and > 0.
    pub fn constant_discharge(
        rate: DischargeRate,
        duration_s: Option<f64>,
        nominal_capacity_ah: f64,
    ) -> Result<Self, CellError> {
        let (given, amps, what) = match rate {
            DischargeRate::Amps(a) => (a, a, "current"),
            DischargeRate::CRate(c) => (c, c * nominal_capacity_ah, "C-rate"),
        };
        if !(given.is_finite() && given > 0.0 && amps.is_finite()) {
            return Err(CellError::Protocol(format!(
                "{what} {given}: expected a finite discharge rate > 0 (for charge or rest steps \
                 use a current series)"
            )));
        }
        let d = duration_s.unwrap_or(1.5 * nominal_capacity_ah / amps.abs() * 3600.0);
        if !(d.is_finite() && d > 0.0) {
            return Err(CellError::Protocol(format!(
                "duration {d}: expected a positive duration in s"
            )));
        }
        Ok(match rate {
            DischargeRate::Amps(_) => Self::constant_current(amps, d),
            DischargeRate::CRate(c) => Self::c_rate(c, d),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_series_with_stated_sign() {
        let txt = "# sign_convention: discharge_negative\ntime_s,current_A\n0,-1\n1,-2\n3,0\n";
        let p = Protocol::series_from_csv_str(txt, "f.csv", None).unwrap();
        let Protocol::Series(s) = p else { panic!() };
        assert_eq!(s.current_a, vec![1.0, 2.0, -0.0]);
    }

    #[test]
    fn decreasing_time_is_an_error_naming_file_and_line() {
        let txt = "# sign_convention: discharge_positive\ntime_s,current_A\n0,1\n2,1\n1,1\n";
        let e = Protocol::series_from_csv_str(txt, "drive.csv", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("drive.csv") && e.contains("line 5") && e.contains("time"),
            "{e}"
        );
    }

    #[test]
    fn unstated_sign_is_an_error() {
        let txt = "time_s,current_A\n0,1\n2,1\n";
        let e = Protocol::series_from_csv_str(txt, "x.csv", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("sign convention"), "{e}");
        assert!(
            Protocol::series_from_csv_str(txt, "x.csv", Some(SignConvention::DischargePositive))
                .is_ok()
        );
    }

    #[test]
    fn about_energy_header_is_understood() {
        let txt = "Time [s],I[A],U[V]\n0,-0.1,4.1\n1,-12.5,4.0\n";
        let p =
            Protocol::series_from_csv_str(txt, "ae.csv", Some(SignConvention::DischargeNegative))
                .unwrap();
        let segs = p.segments(12.5).unwrap();
        assert_eq!(segs.len(), 1);
        assert!((segs[0].i1 - 12.5).abs() < 1e-12);
    }
}
