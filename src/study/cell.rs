//! The `[model] cell = ...` form of a study file: a cell model whose parameters come from a BPX
//! file, from priors, or from laws ([`crate::chain::ChainModel`]).
//!
//! ```toml
//! [model]
//! cell = "spme"                          # spm | spme
//! bpx = "cells/lfp_graphite.json"        # relative to the study file
//! shells = 20                            # finite-volume shells per particle (default 20)
//! electrolyte_mesh = [20, 20, 20]        # SPMe cells in negative, separator, positive (default)
//! dt_max = 10.0                          # largest time step [s] (default 10; BDF2, error ∝ dt²)
//! ocp_p = "regular_solution"             # optional: U_p from the regular-solution law (U0_p, Omega_p)
//!
//! [[model.experiment]]                   # one or more
//! name = "1C_25C"
//! temperature = 298.15                   # K (default: the BPX temperature)
//! c_rate = 1.0                           # or current = 5.0 [A], or current_file = "i.csv" + sign
//! times = { start = 0.0, stop = 3600.0, n = 361 }   # output times [s], or a list
//! voltage_at = [1800.0]                  # optional scalar outputs V(t) [V]
//! # or, for calibration: data = "curve.csv", sign = "discharge_negative", max_points = 300
//! # (output times are the data's; the data's current drives the cell unless c_rate/current is given)
//!
//! [model.link.D_n]                       # a cell parameter from a law output
//! law = "tracer_diffusivity"
//! output = "D_tr"                        # default: the law's first scalar output
//! options = { d = 2 }                    # the law's options
//! rename = { E_m = "E_m_n" }             # law input → study input name (optional)
//! ```
//! Any cell parameter named in `[inputs]`, or matching a prior's name, becomes an input bound
//! there; everything else keeps its BPX value.

use super::StudyError;
use crate::cell::{CellModelKind, ElectrolyteMesh, SignConvention, SolverOptions};
use crate::chain::{ChainModel, Drive, Experiment, LinkSpec, base_from_bpx, is_cell_parameter};
use crate::model::MAX_GRID_POINTS;
use std::path::Path;

fn err(file: &Path, field: &str, expected: &str, found: String) -> StudyError {
    StudyError::Field {
        file: file.to_path_buf(),
        field: field.into(),
        expected: expected.into(),
        found,
    }
}

fn number(v: &toml::Value) -> Option<f64> {
    v.as_float()
        .or_else(|| v.as_integer().map(|i| i as f64))
        .filter(|x| x.is_finite())
}

/// Output times: `{ start, stop, n }` or a list of numbers.
fn times(v: &toml::Value, file: &Path, field: &str) -> Result<Vec<f64>, StudyError> {
    let expected = &format!(
        "{{ start = ..., stop = ..., n = 2 to {MAX_GRID_POINTS} }} or a list of increasing times [s]"
    );
    match v {
        toml::Value::Array(a) => a
            .iter()
            .map(|x| number(x).ok_or_else(|| err(file, field, expected, x.to_string())))
            .collect(),
        toml::Value::Table(t) => {
            let g = |k: &str| t.get(k).and_then(number);
            match (
                g("start"),
                g("stop"),
                t.get("n").and_then(|n| n.as_integer()),
            ) {
                (Some(a), Some(b), Some(n)) if (2..=MAX_GRID_POINTS).contains(&n) && b > a => {
                    Ok((0..n)
                        .map(|k| a + (b - a) * k as f64 / (n - 1) as f64)
                        .collect())
                }
                _ => Err(err(file, field, expected, v.to_string())),
            }
        }
        _ => Err(err(file, field, expected, v.to_string())),
    }
}

fn experiment(
    t: &toml::Table,
    k: usize,
    dir: &Path,
    file: &Path,
    default_t: f64,
) -> Result<Experiment, StudyError> {
    let f = |key: &str| format!("model.experiment[{k}].{key}");
    let allowed = [
        "name",
        "temperature",
        "c_rate",
        "current",
        "current_file",
        "sign",
        "times",
        "voltage_at",
        "data",
        "max_points",
    ];
    if let Some(bad) = t.keys().find(|key| !allowed.contains(&key.as_str())) {
        return Err(err(
            file,
            &f(bad),
            &format!("one of {}", allowed.join(", ")),
            format!("'{bad}'"),
        ));
    }
    let name = match t.get("name") {
        None => format!("e{k}"),
        Some(v) => v
            .as_str()
            .filter(|s| {
                !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c))
            })
            .ok_or_else(|| {
                err(
                    file,
                    &f("name"),
                    "a short name (letters, digits, _ - .)",
                    v.to_string(),
                )
            })?
            .to_string(),
    };
    let num = |key: &str| -> Result<Option<f64>, StudyError> {
        t.get(key)
            .map(|v| number(v).ok_or_else(|| err(file, &f(key), "a finite number", v.to_string())))
            .transpose()
    };
    let temperature_k = num("temperature")?.unwrap_or(default_t);
    if temperature_k <= 0.0 {
        return Err(err(
            file,
            &f("temperature"),
            "a temperature in K (> 0)",
            temperature_k.to_string(),
        ));
    }
    let sign_of = |required_by: &str| -> Result<SignConvention, StudyError> {
        let s = t.get("sign").and_then(|v| v.as_str()).ok_or_else(|| {
            err(
                file,
                &f("sign"),
                &format!(
                    "\"discharge_positive\" or \"discharge_negative\" (required with {required_by})"
                ),
                t.get("sign").map_or("nothing".into(), |v| v.to_string()),
            )
        })?;
        SignConvention::parse(s).ok_or_else(|| {
            err(
                file,
                &f("sign"),
                "\"discharge_positive\" or \"discharge_negative\"",
                format!("'{s}'"),
            )
        })
    };
    let drive = match (num("c_rate")?, num("current")?, t.get("current_file")) {
        (Some(c), None, None) => Drive::CRate(c),
        (None, Some(a), None) => Drive::Current(a),
        (None, None, Some(p)) => {
            let p = p
                .as_str()
                .ok_or_else(|| err(file, &f("current_file"), "a path string", p.to_string()))?;
            Drive::CurrentFile {
                path: dir.join(p),
                sign: sign_of("current_file")?,
            }
        }
        (None, None, None) if t.contains_key("data") => Drive::Measured,
        _ => {
            return Err(err(
                file,
                &f("c_rate"),
                "exactly one of c_rate, current, current_file (or a data file whose current drives the cell)",
                "none or several".into(),
            ));
        }
    };
    // A zero rate never reaches a cut-off: the run would go on to its last output time at
    // every sample. Rests and charges are a current_file.
    for (key, v) in [("c_rate", num("c_rate")?), ("current", num("current")?)] {
        if v == Some(0.0) {
            return Err(err(
                file,
                &f(key),
                "a rate ≠ 0 (discharge > 0; a rest is a current_file)",
                "0".into(),
            ));
        }
    }
    let voltage_at = match t.get("voltage_at") {
        None => vec![],
        Some(v) => times(v, file, &f("voltage_at"))?,
    };
    let mut e = Experiment {
        name,
        temperature_k,
        drive,
        times: vec![],
        voltage_at,
        data: None,
        dt_max: None,
    };
    if let Some(d) = t.get("data") {
        let p = d
            .as_str()
            .ok_or_else(|| err(file, &f("data"), "a path string", d.to_string()))?;
        let sign = sign_of("data")?;
        let max_points = match t.get("max_points") {
            None => 300,
            Some(v) => v
                .as_integer()
                .filter(|n| *n >= 2)
                .ok_or_else(|| err(file, &f("max_points"), "an integer ≥ 2", v.to_string()))?
                as usize,
        };
        if t.contains_key("times") {
            return Err(err(
                file,
                &f("times"),
                "no times with a data file (the data's times are the output grid)",
                "both".into(),
            ));
        }
        e = e
            .with_data(&dir.join(p), sign, max_points)
            .map_err(|m| StudyError::Model {
                file: file.to_path_buf(),
                field: f("data"),
                message: m,
            })?;
    } else {
        let v = t.get("times").ok_or_else(|| {
            err(
                file,
                &f("times"),
                "output times (or a data file)",
                "nothing".into(),
            )
        })?;
        e.times = times(v, file, &f("times"))?;
    }
    Ok(e)
}

fn link(target: &str, v: &toml::Value, file: &Path) -> Result<LinkSpec, StudyError> {
    let f = |key: &str| format!("model.link.{target}.{key}");
    let t = v.as_table().ok_or_else(|| {
        err(
            file,
            &format!("model.link.{target}"),
            "a table with law = \"NAME\"",
            v.to_string(),
        )
    })?;
    let allowed = ["law", "output", "options", "rename"];
    if let Some(bad) = t.keys().find(|key| !allowed.contains(&key.as_str())) {
        return Err(err(
            file,
            &f(bad),
            &format!("one of {}", allowed.join(", ")),
            format!("'{bad}'"),
        ));
    }
    let law = t.get("law").and_then(|v| v.as_str()).ok_or_else(|| {
        err(
            file,
            &f("law"),
            "a law name (`bridgelaw laws`)",
            "nothing".into(),
        )
    })?;
    let output = t
        .get("output")
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| err(file, &f("output"), "an output name", v.to_string()))
        })
        .transpose()?;
    let options = match t.get("options") {
        None => toml::Table::new(),
        Some(v) => v
            .as_table()
            .cloned()
            .ok_or_else(|| err(file, &f("options"), "a table", v.to_string()))?,
    };
    let rename = match t.get("rename") {
        None => vec![],
        Some(v) => v
            .as_table()
            .ok_or_else(|| {
                err(
                    file,
                    &f("rename"),
                    "a table { law_input = \"name\" }",
                    v.to_string(),
                )
            })?
            .iter()
            .map(|(a, b)| {
                b.as_str()
                    .map(|b| (a.clone(), b.to_string()))
                    .ok_or_else(|| err(file, &f(&format!("rename.{a}")), "a name", b.to_string()))
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(LinkSpec {
        target: target.to_string(),
        law: law.to_string(),
        options,
        output,
        rename,
    })
}

/// Build the chain of a `[model] cell = "..."` study. `candidates` are the names in `[inputs]`
/// and in the priors files: those that are cell parameters (and not linked) become inputs.
pub(super) fn build_chain(
    model_t: &toml::Table,
    kind: &str,
    dir: &Path,
    candidates: &[String],
    file: &Path,
) -> Result<ChainModel, StudyError> {
    let allowed = [
        "cell",
        "bpx",
        "shells",
        "electrolyte_mesh",
        "dt_max",
        "ocp_n",
        "ocp_p",
        "experiment",
        "link",
    ];
    if let Some(bad) = model_t.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(err(
            file,
            &format!("model.{bad}"),
            &format!("one of {}", allowed.join(", ")),
            format!("'{bad}'"),
        ));
    }
    let kind = match kind {
        "spm" => CellModelKind::Spm,
        "spme" => CellModelKind::Spme,
        other => {
            return Err(err(
                file,
                "model.cell",
                "\"spm\" or \"spme\"",
                format!("'{other}'"),
            ));
        }
    };
    let bpx = model_t.get("bpx").and_then(|v| v.as_str()).ok_or_else(|| {
        err(
            file,
            "model.bpx",
            "the path of a BPX parameter file",
            "nothing".into(),
        )
    })?;
    let shells = match model_t.get("shells") {
        None => 20,
        Some(v) => v
            .as_integer()
            .filter(|n| (3..=200).contains(n))
            .ok_or_else(|| {
                err(
                    file,
                    "model.shells",
                    "an integer from 3 to 200",
                    v.to_string(),
                )
            })? as usize,
    };
    let electrolyte_mesh = match model_t.get("electrolyte_mesh") {
        None => ElectrolyteMesh::default(),
        Some(v) => {
            let bad = |why: String| err(file, "model.electrolyte_mesh", &why, v.to_string());
            let counts: Option<Vec<usize>> = v.as_array().and_then(|a| {
                a.iter()
                    .map(|x| x.as_integer().and_then(|n| usize::try_from(n).ok()))
                    .collect()
            });
            match counts.as_deref() {
                Some(&[neg, sep, pos]) => ElectrolyteMesh::new(neg, sep, pos).map_err(bad)?,
                _ => {
                    return Err(bad(
                        "three cell counts [N_n, N_s, N_p], e.g. [20, 20, 20]".into()
                    ));
                }
            }
        }
    };
    let dt_max = match model_t.get("dt_max") {
        None => SolverOptions::default().dt_max,
        Some(v) => number(v).filter(|x| *x > 0.0).ok_or_else(|| {
            err(
                file,
                "model.dt_max",
                "a positive time step in s",
                v.to_string(),
            )
        })?,
    };
    let ocp = |key: &str| -> Result<bool, StudyError> {
        match model_t.get(key) {
            None => Ok(false),
            Some(v) if v.as_str() == Some("regular_solution") => Ok(true),
            Some(v) => Err(err(
                file,
                &format!("model.{key}"),
                "\"regular_solution\"",
                v.to_string(),
            )),
        }
    };
    let base = base_from_bpx(&dir.join(bpx), ocp("ocp_n")?, ocp("ocp_p")?).map_err(|m| {
        StudyError::Model {
            file: file.to_path_buf(),
            field: "model.bpx".into(),
            message: m,
        }
    })?;
    let links = match model_t.get("link") {
        None => vec![],
        Some(toml::Value::Table(t)) => t
            .iter()
            .map(|(k, v)| link(k, v, file))
            .collect::<Result<Vec<_>, _>>()?,
        Some(v) => {
            return Err(err(
                file,
                "model.link",
                "tables [model.link.PARAMETER]",
                v.to_string(),
            ));
        }
    };
    let exps = match model_t.get("experiment") {
        Some(toml::Value::Array(a)) if !a.is_empty() => a
            .iter()
            .enumerate()
            .map(|(k, v)| {
                let t = v.as_table().ok_or_else(|| {
                    err(
                        file,
                        &format!("model.experiment[{k}]"),
                        "a table",
                        v.to_string(),
                    )
                })?;
                experiment(t, k, dir, file, base.temperature)
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(err(
                file,
                "model.experiment",
                "one or more [[model.experiment]] tables",
                other.map_or("nothing".into(), |v| v.to_string()),
            ));
        }
    };
    let mut names: Vec<&str> = exps.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(err(
            file,
            "model.experiment",
            "distinct experiment names",
            format!("'{}' twice", w[0]),
        ));
    }
    let mut direct: Vec<String> = Vec::new();
    for c in candidates {
        if is_cell_parameter(c) && !links.iter().any(|l| &l.target == c) && !direct.contains(c) {
            direct.push(c.clone());
        }
    }
    let solver = SolverOptions {
        model: kind,
        shells,
        electrolyte_mesh,
        dt_max,
        ..SolverOptions::default()
    };
    ChainModel::new(base, solver, &links, &direct, exps).map_err(|m| StudyError::Model {
        file: file.to_path_buf(),
        field: "model".into(),
        message: m,
    })
}
