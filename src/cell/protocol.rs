//! Current protocols: constant current (A or C-rate), rests, and measured current series from CSV.
//!
//! Sign convention inside the library: discharge current is positive.

use super::CellError;
use std::path::Path;

/// One step of a step protocol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Constant current [A] (discharge > 0) for `duration_s` [s].
    Current { amps: f64, duration_s: f64 },
    /// Constant C-rate [1/h] relative to the nominal capacity (discharge > 0).
    CRate { c_rate: f64, duration_s: f64 },
    /// Zero current for `duration_s` [s].
    Rest { duration_s: f64 },
}

/// Which sign a file's current column uses for discharge (current files of the cell model and
/// measured curves of the calibrator alike).
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
    fn factor(self) -> f64 {
        match self {
            Self::DischargePositive => 1.0,
            Self::DischargeNegative => -1.0,
        }
    }
}

/// A measured current series I(t) [A] (discharge > 0), linearly interpolated between samples.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentSeries {
    /// Sample times [s], strictly increasing.
    pub time_s: Vec<f64>,
    /// Currents [A], discharge positive.
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
    pub t0: f64,
    pub t1: f64,
    pub i0: f64,
    pub i1: f64,
}

impl Segment {
    /// Current [A] at time t within the segment.
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
    /// Constant-current discharge (or charge, if negative) of `amps` [A] for `duration_s`.
    pub fn constant_current(amps: f64, duration_s: f64) -> Self {
        Self::Steps(vec![Step::Current { amps, duration_s }])
    }

    /// Constant C-rate discharge for `duration_s` (use e.g. 1.2/C hours to reach cut-off).
    pub fn c_rate(c_rate: f64, duration_s: f64) -> Self {
        Self::Steps(vec![Step::CRate { c_rate, duration_s }])
    }

    /// Read a current series from CSV text. Columns: a time column (`time_s`, `Time [s]`, `t`)
    /// and a current column (`current_A`, `I[A]`, `Current [A]`, `I`). The sign convention
    /// is taken from a comment line `# sign_convention: discharge_positive|discharge_negative`
    /// in the file, or from `sign` if the file does not state it; stated in neither place is an
    /// error. Time must be strictly increasing.
    pub fn series_from_csv_str(
        text: &str,
        source: &str,
        sign: Option<SignConvention>,
    ) -> Result<Self, CellError> {
        let bad = |line: usize, msg: String| CellError::CurrentFile {
            file: source.to_string(),
            line,
            msg,
        };
        let mut stated: Option<SignConvention> = None;
        let mut header: Option<(usize, usize)> = None;
        let mut t = Vec::new();
        let mut cur = Vec::new();
        for (k, line) in text.lines().enumerate() {
            let ln = k + 1;
            let l = line.trim();
            if l.is_empty() {
                continue;
            }
            if let Some(c) = l.strip_prefix('#') {
                let c = c.trim();
                if let Some(rest) = c
                    .strip_prefix("sign_convention")
                    .or_else(|| c.strip_prefix("sign convention"))
                    .or_else(|| c.strip_prefix("sign"))
                {
                    let v = rest.trim_start_matches([':', '=', ' ']);
                    stated = Some(SignConvention::parse(v).ok_or_else(|| {
                        bad(ln, format!("unknown sign convention '{v}' (expected discharge_positive or discharge_negative)"))
                    })?);
                }
                continue;
            }
            let cols: Vec<&str> = l.split(',').map(str::trim).collect();
            match header {
                None => {
                    let find = |names: &[&str]| {
                        cols.iter().position(|c| {
                            let c = c.to_ascii_lowercase().replace(' ', "");
                            names.iter().any(|n| c == *n)
                        })
                    };
                    let ti = find(&["time_s", "time[s]", "t", "time", "t_s"]);
                    let ii = find(&["current_a", "i[a]", "current[a]", "i", "current"]);
                    match (ti, ii) {
                        (Some(a), Some(b)) => header = Some((a, b)),
                        _ => {
                            return Err(bad(
                                ln,
                                format!(
                                    "header '{l}' must name a time column (time_s) and a current column (current_A)"
                                ),
                            ));
                        }
                    }
                }
                Some((ti, ii)) => {
                    let get = |i: usize, name: &str| -> Result<f64, CellError> {
                        let s = cols
                            .get(i)
                            .ok_or_else(|| bad(ln, format!("missing column {name}")))?;
                        let v: f64 = s
                            .parse()
                            .map_err(|_| bad(ln, format!("{name} = '{s}' is not a number")))?;
                        if !v.is_finite() {
                            return Err(bad(ln, format!("{name} is not finite")));
                        }
                        Ok(v)
                    };
                    let tv = get(ti, "time_s")?;
                    let iv = get(ii, "current_A")?;
                    if let Some(&prev) = t.last()
                        && tv <= prev
                    {
                        return Err(bad(
                            ln,
                            format!(
                                "time_s = {tv} is not after the previous time {prev} (time must increase)"
                            ),
                        ));
                    }
                    t.push(tv);
                    cur.push(iv);
                }
            }
        }
        if t.len() < 2 {
            return Err(bad(0, "need at least two samples".into()));
        }
        let sign = stated.or(sign).ok_or_else(|| {
            bad(0, "the file does not state its sign convention: add '# sign_convention: discharge_positive' (or discharge_negative), or pass it explicitly".into())
        })?;
        let f = sign.factor();
        let t0 = t[0];
        Ok(Self::Series(CurrentSeries {
            time_s: t.iter().map(|v| v - t0).collect(),
            current_a: cur.iter().map(|v| v * f).collect(),
        }))
    }

    /// Read a current series from a CSV file (see [`Protocol::series_from_csv_str`]).
    pub fn series_from_csv_file(
        path: &Path,
        sign: Option<SignConvention>,
    ) -> Result<Self, CellError> {
        let text = std::fs::read_to_string(path).map_err(|e| CellError::CurrentFile {
            file: path.display().to_string(),
            line: 0,
            msg: e.to_string(),
        })?;
        Self::series_from_csv_str(&text, &path.display().to_string(), sign)
    }

    /// Resolve into linear current segments [A] given the nominal capacity [A·h].
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

    /// Total duration [s].
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
