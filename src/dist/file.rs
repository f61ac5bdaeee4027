//! The priors file (`priors/*.toml`): read, validate, write.
//!
//! ```toml
//! title = "Li migration in graphite (NEB)"
//! source = "vdW-GGA NEB, ... (reference)"
//!
//! [[parameter]]
//! name = "E_m"              # unique
//! unit = "eV"               # required
//! distribution = "normal"   # normal | lognormal | logitnormal
//! mean = 0.293
//! sd = 0.03
//!
//! [[parameter]]
//! name = "nu0"
//! unit = "Hz"
//! distribution = "lognormal"
//! median = 1e13             # with log_sd; or mean and sd (converted exactly)
//! log_sd = 0.7
//!
//! [[parameter]]
//! name = "alpha"
//! unit = "1"
//! distribution = "logitnormal"
//! lower = 0.0
//! upper = 1.0
//! mode = 0.5                # with sd (natural units, converted exactly); or median and logit_sd
//! sd = 0.1
//!
//! [correlation]             # optional, over any subset of names, in the transformed space
//! names = ["E_m", "nu0"]
//! matrix = [[1.0, 0.3], [0.3, 1.0]]
//! # or [covariance] with names and a full covariance matrix in the transformed space
//! ```

use super::sample::{logit_normal_mode_to_mu, logit_normal_sd_to_sigma};
use super::{DistError, JointDistribution, Parameter, Transform};
use nalgebra::{DMatrix, DVector};
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A priors file that could not be read or is invalid: names the file and what is wrong.
#[derive(Debug, Error)]
pub enum PriorsFileError {
    /// The file cannot be read.
    #[error("{file}: cannot read the file: {message}")]
    Io {
        /// The priors file.
        file: PathBuf,
        /// The operating system's error.
        message: String,
    },
    /// The file is not TOML, or does not fit the priors schema.
    #[error("{file}: not a valid priors TOML file: {message}")]
    Syntax {
        /// The priors file.
        file: PathBuf,
        /// The parser's message, with the line or field.
        message: String,
    },
    /// The distribution the file specifies is invalid.
    #[error("{file}: {source}")]
    Invalid {
        /// The priors file.
        file: PathBuf,
        /// What is wrong with the distribution.
        #[source]
        source: DistError,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    title: Option<String>,
    source: Option<String>,
    #[serde(default)]
    parameter: Vec<RawParameter>,
    correlation: Option<RawMatrix>,
    covariance: Option<RawMatrix>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParameter {
    name: Option<String>,
    unit: Option<String>,
    distribution: Option<String>,
    mean: Option<f64>,
    sd: Option<f64>,
    median: Option<f64>,
    log_sd: Option<f64>,
    logit_sd: Option<f64>,
    mode: Option<f64>,
    lower: Option<f64>,
    upper: Option<f64>,
    source: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatrix {
    names: Vec<String>,
    matrix: Vec<Vec<f64>>,
}

/// Read and validate a priors file.
pub fn load_priors(path: &Path) -> Result<JointDistribution, PriorsFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| PriorsFileError::Io {
        file: path.to_path_buf(),
        message: e.to_string(),
    })?;
    parse_priors(&text, path)
}

/// Parse and validate priors TOML text; `path` is used in error messages.
pub fn parse_priors(text: &str, path: &Path) -> Result<JointDistribution, PriorsFileError> {
    let raw: RawFile = crate::schema::from_str(text).map_err(|e| PriorsFileError::Syntax {
        file: path.to_path_buf(),
        message: e.to_string(),
    })?;
    build(raw).map_err(|source| PriorsFileError::Invalid {
        file: path.to_path_buf(),
        source,
    })
}

fn positive(field: String, v: Option<f64>, what: &str) -> Result<f64, DistError> {
    match v {
        None => Err(DistError::invalid(
            field,
            format!("{what} (a number > 0)"),
            "nothing",
        )),
        Some(x) if x.is_finite() && x > 0.0 => Ok(x),
        Some(x) => Err(DistError::invalid(
            field,
            format!("{what} > 0 and finite"),
            x,
        )),
    }
}

fn finite(field: String, v: Option<f64>, what: &str) -> Result<f64, DistError> {
    match v {
        None => Err(DistError::invalid(
            field,
            format!("{what} (a finite number)"),
            "nothing",
        )),
        Some(x) if x.is_finite() => Ok(x),
        Some(x) => Err(DistError::invalid(field, format!("{what} to be finite"), x)),
    }
}

/// One parameter's marginal: (parameter, μ_z, σ_z or None when the covariance block gives it).
fn build_parameter(i: usize, r: &RawParameter) -> Result<(Parameter, MarginalSpec), DistError> {
    let f = |k: &str| format!("parameter[{i}].{k}");
    let name = match &r.name {
        Some(n) if !n.trim().is_empty() => n.trim().to_string(),
        _ => return Err(DistError::invalid(f("name"), "a non-empty name", "nothing")),
    };
    let fp = |k: &str| format!("parameter[{i}] ({name}).{k}");
    let unit = match &r.unit {
        Some(u) if !u.trim().is_empty() => u.trim().to_string(),
        _ => {
            return Err(DistError::invalid(
                fp("unit"),
                "a unit (e.g. \"eV\", \"Hz\", \"m^2/s\"; \"1\" for dimensionless)",
                "nothing",
            ));
        }
    };
    // An unknown unit would pass silently where it is never converted (priors summary, a
    // model input of the same spelling): refused here, with the list.
    if !crate::units::is_known(&unit) {
        return Err(DistError::invalid(
            fp("unit"),
            format!("one of the known units ({})", crate::units::known_list()),
            format!("'{unit}'"),
        ));
    }
    let dist = r.distribution.as_deref().unwrap_or("");
    // one way to give the location and spread: a second pair is refused, not silently dropped
    let allowed: &[&str] = match dist {
        "normal" => &["mean", "sd"],
        "lognormal" if r.median.is_some() => &["median", "log_sd"],
        "lognormal" => &["mean", "sd"],
        "logitnormal" if r.median.is_some() => &["lower", "upper", "median", "logit_sd"],
        "logitnormal" => &["lower", "upper", "mode", "sd"],
        _ => &[
            "mean", "sd", "median", "log_sd", "logit_sd", "mode", "lower", "upper",
        ],
    };
    let given = [
        ("mean", r.mean),
        ("sd", r.sd),
        ("median", r.median),
        ("log_sd", r.log_sd),
        ("logit_sd", r.logit_sd),
        ("mode", r.mode),
        ("lower", r.lower),
        ("upper", r.upper),
    ];
    if let Some((k, Some(v))) = given
        .iter()
        .find(|(k, v)| v.is_some() && !allowed.contains(k))
    {
        return Err(DistError::invalid(
            fp(k),
            format!(
                "no '{k}' with distribution = \"{dist}\" given this way (one of its forms: {})",
                allowed.join(", ")
            ),
            v,
        ));
    }
    let (transform, spec) = match dist {
        "normal" => {
            let mean = finite(fp("mean"), r.mean, "mean")?;
            (
                Transform::Identity,
                MarginalSpec::Normal { mu: mean, sd: r.sd },
            )
        }
        "lognormal" => {
            if let Some(median) = r.median {
                let median = positive(fp("median"), Some(median), "median")?;
                (
                    Transform::Log,
                    MarginalSpec::Normal {
                        mu: median.ln(),
                        sd: match r.log_sd {
                            Some(s) => Some(positive(fp("log_sd"), Some(s), "log_sd")?),
                            None => None,
                        },
                    },
                )
            } else {
                let mean = positive(fp("mean"), r.mean, "mean (or median with log_sd)")?;
                let sd = positive(fp("sd"), r.sd, "sd")?;
                let (mu, sigma) = super::transform::lognormal_from_mean_sd(mean, sd);
                (
                    Transform::Log,
                    MarginalSpec::Normal {
                        mu,
                        sd: Some(sigma),
                    },
                )
            }
        }
        "logitnormal" => {
            let lower = finite(fp("lower"), r.lower, "lower bound")?;
            let upper = finite(fp("upper"), r.upper, "upper bound")?;
            if lower >= upper {
                return Err(DistError::invalid(
                    fp("upper"),
                    format!("upper > lower = {lower}"),
                    upper,
                ));
            }
            let t = Transform::Logit { lower, upper };
            let inside = |k: &str, v: f64| -> Result<f64, DistError> {
                t.to_unconstrained(v).ok_or_else(|| {
                    DistError::invalid(
                        fp(k),
                        format!("a value strictly inside ({lower}, {upper})"),
                        v,
                    )
                })
            };
            if let Some(median) = r.median {
                let mu = inside("median", median)?;
                let sd = match r.logit_sd {
                    Some(s) => Some(positive(fp("logit_sd"), Some(s), "logit_sd")?),
                    None => None,
                };
                (t, MarginalSpec::Normal { mu, sd })
            } else {
                let mode = finite(fp("mode"), r.mode, "mode (or median with logit_sd)")?;
                inside("mode", mode)?;
                let sd = positive(fp("sd"), r.sd, "sd")?;
                if sd >= 0.5 * (upper - lower) {
                    return Err(DistError::invalid(
                        fp("sd"),
                        format!("sd < (upper − lower)/2 = {}", 0.5 * (upper - lower)),
                        sd,
                    ));
                }
                (t, MarginalSpec::ModeSd { mode, sd })
            }
        }
        other => {
            return Err(DistError::invalid(
                fp("distribution"),
                "\"normal\", \"lognormal\" or \"logitnormal\"",
                format!("\"{other}\""),
            ));
        }
    };
    if let MarginalSpec::Normal { sd: Some(s), .. } = spec {
        positive(fp("sd"), Some(s), "sd")?;
    }
    Ok((
        Parameter {
            name,
            unit,
            transform,
            source: r.source.clone(),
        },
        spec,
    ))
}

#[derive(Debug, Clone, Copy)]
enum MarginalSpec {
    /// z ~ N(mu, sd²); sd None when the covariance block supplies it.
    Normal { mu: f64, sd: Option<f64> },
    /// Logit-normal given by its natural-space mode and sd.
    ModeSd { mode: f64, sd: f64 },
}

fn matrix_block(
    field: &str,
    raw: &RawMatrix,
    params: &[Parameter],
) -> Result<(Vec<usize>, DMatrix<f64>), DistError> {
    let known = params
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut idx = Vec::with_capacity(raw.names.len());
    for (k, n) in raw.names.iter().enumerate() {
        let i = params
            .iter()
            .position(|p| &p.name == n)
            .ok_or_else(|| DistError::UnknownName {
                field: format!("{field}.names[{k}]"),
                name: n.clone(),
                known: known.clone(),
            })?;
        if idx.contains(&i) {
            return Err(DistError::DuplicateName {
                field: format!("{field}.names"),
                name: n.clone(),
            });
        }
        idx.push(i);
    }
    let m = idx.len();
    if raw.matrix.len() != m {
        return Err(DistError::invalid(
            format!("{field}.matrix"),
            format!("{m} rows, one per name in {field}.names"),
            format!("{} rows", raw.matrix.len()),
        ));
    }
    for (r, row) in raw.matrix.iter().enumerate() {
        if row.len() != m {
            return Err(DistError::invalid(
                format!("{field}.matrix[{r}]"),
                format!("{m} columns, one per name in {field}.names"),
                format!("{} columns", row.len()),
            ));
        }
    }
    Ok((idx, DMatrix::from_fn(m, m, |i, j| raw.matrix[i][j])))
}

fn build(raw: RawFile) -> Result<JointDistribution, DistError> {
    if raw.parameter.is_empty() {
        return Err(DistError::invalid(
            "parameter",
            "at least one [[parameter]] table",
            "none (empty or truncated file?)",
        ));
    }
    if raw.correlation.is_some() && raw.covariance.is_some() {
        return Err(DistError::invalid(
            "covariance",
            "either [correlation] or [covariance], not both",
            "both",
        ));
    }
    let mut params = Vec::new();
    let mut specs = Vec::new();
    for (i, r) in raw.parameter.iter().enumerate() {
        let (p, s) = build_parameter(i, r)?;
        if let Some(j) = params.iter().position(|q: &Parameter| q.name == p.name) {
            return Err(DistError::DuplicateName {
                field: format!("parameter[{i}].name (first at parameter[{j}])"),
                name: p.name,
            });
        }
        params.push(p);
        specs.push(s);
    }
    let n = params.len();
    let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();

    let mut cov = DMatrix::zeros(n, n);
    let mut sd = vec![0.0; n];
    if let Some(c) = &raw.covariance {
        let (idx, m) = matrix_block("covariance", c, &params)?;
        if idx.len() != n {
            return Err(DistError::invalid(
                "covariance.names",
                format!("all {n} parameters ({})", names.join(", ")),
                format!("{} names", idx.len()),
            ));
        }
        let sub_names: Vec<&str> = idx.iter().map(|&i| names[i]).collect();
        super::validate_covariance("covariance.matrix", &m, &sub_names)?;
        for a in 0..n {
            for b in 0..n {
                cov[(idx[a], idx[b])] = m[(a, b)];
            }
        }
        for i in 0..n {
            sd[i] = cov[(i, i)].sqrt();
            if let MarginalSpec::Normal { sd: Some(s), .. } = specs[i]
                && (s - sd[i]).abs() > 1e-6 * s
            {
                return Err(DistError::invalid(
                    format!("parameter[{i}] ({}).sd", names[i]),
                    format!("the sd implied by [covariance], {:.6e}, or no sd", sd[i]),
                    s,
                ));
            }
        }
    } else {
        for i in 0..n {
            sd[i] = match specs[i] {
                MarginalSpec::Normal { sd: Some(s), .. } => s,
                MarginalSpec::Normal { sd: None, .. } => {
                    let key = match params[i].transform {
                        Transform::Identity => "sd",
                        Transform::Log => "log_sd",
                        Transform::Logit { .. } => "logit_sd",
                    };
                    return Err(DistError::invalid(
                        format!("parameter[{i}] ({}).{key}", names[i]),
                        "a spread (a number > 0) or a [covariance] block",
                        "nothing",
                    ));
                }
                MarginalSpec::ModeSd { mode, sd } => {
                    let Transform::Logit { lower, upper } = params[i].transform else {
                        unreachable!("mode/sd is only parsed for logitnormal")
                    };
                    logit_normal_sd_to_sigma(lower, upper, mode, sd).ok_or_else(|| {
                        DistError::invalid(
                            format!("parameter[{i}] ({}).sd", names[i]),
                            "an sd a logit-normal with this mode and bounds can have",
                            sd,
                        )
                    })?
                }
            };
            cov[(i, i)] = sd[i] * sd[i];
        }
        if let Some(c) = &raw.correlation {
            let (idx, m) = matrix_block("correlation", c, &params)?;
            for a in 0..idx.len() {
                for b in 0..idx.len() {
                    let r = m[(a, b)];
                    let field = format!("correlation.matrix[{a}][{b}]");
                    if !r.is_finite() {
                        return Err(DistError::invalid(field, "a finite number", r));
                    }
                    if a == b && (r - 1.0).abs() > 1e-12 {
                        return Err(DistError::invalid(field, "1 on the diagonal", r));
                    }
                    if !(-1.0..=1.0).contains(&r) {
                        return Err(DistError::invalid(field, "a correlation in [−1, 1]", r));
                    }
                }
            }
            let sub_names: Vec<&str> = idx.iter().map(|&i| names[i]).collect();
            super::validate_covariance("correlation.matrix", &m, &sub_names)?;
            for a in 0..idx.len() {
                for b in 0..idx.len() {
                    let (i, j) = (idx[a], idx[b]);
                    cov[(i, j)] = m[(a, b)] * sd[i] * sd[j];
                }
            }
        }
    }

    let mean = DVector::from_iterator(
        n,
        specs
            .iter()
            .zip(&params)
            .zip(&sd)
            .map(|((s, p), &sigma)| match *s {
                MarginalSpec::Normal { mu, .. } => mu,
                MarginalSpec::ModeSd { mode, .. } => match p.transform {
                    Transform::Logit { lower, upper } => {
                        logit_normal_mode_to_mu(lower, upper, mode, sigma)
                    }
                    _ => unreachable!("mode/sd is only parsed for logitnormal"),
                },
            }),
    );
    JointDistribution::new(
        raw.title.unwrap_or_default(),
        raw.source.unwrap_or_default(),
        params,
        mean,
        cov,
    )
}

/// Write a distribution as priors TOML. Every parameter is written by its exact transformed-space
/// location and spread (normal: mean/sd; lognormal: median/log_sd; logit-normal: median/logit_sd),
/// and the correlation matrix when any off-diagonal entry is non-zero, so reading the text back
/// gives the same distribution.
pub fn to_toml(d: &JointDistribution) -> String {
    let mut s = String::new();
    let q = |t: &str| toml::Value::String(t.to_string()).to_string();
    let _ = writeln!(s, "title = {}", q(&d.title));
    let _ = writeln!(s, "source = {}", q(&d.source));
    let sd = d.sd_z();
    for (i, p) in d.params.iter().enumerate() {
        let _ = writeln!(s, "\n[[parameter]]");
        let _ = writeln!(s, "name = {}", q(&p.name));
        let _ = writeln!(s, "unit = {}", q(&p.unit));
        let mu = d.mean_z[i];
        match p.transform {
            Transform::Identity => {
                let _ = writeln!(
                    s,
                    "distribution = \"normal\"\nmean = {mu:e}\nsd = {:e}",
                    sd[i]
                );
            }
            Transform::Log => {
                let _ = writeln!(
                    s,
                    "distribution = \"lognormal\"\nmedian = {:e}\nlog_sd = {:e}",
                    mu.exp(),
                    sd[i]
                );
            }
            Transform::Logit { lower, upper } => {
                let med: f64 = p.transform.to_natural(mu);
                let _ = writeln!(
                    s,
                    "distribution = \"logitnormal\"\nlower = {lower:e}\nupper = {upper:e}\nmedian = {med:e}\nlogit_sd = {:e}",
                    sd[i]
                );
            }
        }
        if let Some(src) = &p.source {
            let _ = writeln!(s, "source = {}", q(src));
        }
    }
    let corr = d.correlation();
    let n = d.dim();
    if (0..n).any(|i| (0..i).any(|j| corr[(i, j)] != 0.0)) {
        let _ = writeln!(s, "\n[correlation]");
        let names: Vec<String> = d.params.iter().map(|p| q(&p.name)).collect();
        let _ = writeln!(s, "names = [{}]", names.join(", "));
        let _ = writeln!(s, "matrix = [");
        for i in 0..n {
            let row: Vec<String> = (0..n)
                .map(|j| {
                    if i == j {
                        "1.0".into()
                    } else {
                        format!("{:e}", corr[(i, j)])
                    }
                })
                .collect();
            let _ = writeln!(s, "  [{}],", row.join(", "));
        }
        let _ = writeln!(s, "]");
    }
    s
}
