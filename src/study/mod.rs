//! The study file (`models/*.toml`): which model, which priors, how every model input is bound,
//! and the settings of each engine. Names and units are resolved once, here; the engines get a
//! [`BoundModel`] whose inputs are, index by index, the parameters of a [`JointDistribution`].
//!
//! ```toml
//! title = "Li diffusivity in graphite from an NEB barrier"
//! priors = ["../priors/graphite_neb.toml"]   # relative to this file
//!
//! [model]
//! law = "tracer_diffusivity"                 # a law of the catalogue (`bridgelaw laws`)
//! [model.options]                            # the law's options (grids, dimension, ...)
//! T = 298.15
//!
//! [inputs]                                   # bind every model input:
//! E_m = "prior"                              #   to the prior of the same name
//! nu0 = { prior = "nu0" }                    #   to a prior of any name
//! a = { value = 2.46, unit = "A" }           #   to a fixed value (converted to the model's unit)
//! f = 1.0                                    #   to a fixed value in the model's unit
//! # inputs not listed bind to a prior of the same name if there is one
//!
//! [propagate]                                # engine settings (see each engine)
//! samples = 100000
//! ```

mod cell;

use crate::bound::{Binding, BoundModel};
use crate::dist::{JointDistribution, load_priors};
use crate::model::{InputSpec, Model, ModelError, OutputSpec, Scalar};
use crate::units::conversion_factor;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A study file that cannot be used: names the file, the field and what was expected.
#[derive(Debug, Error)]
pub enum StudyError {
    /// The study file cannot be read.
    #[error("{file}: cannot read the file: {message}")]
    Io {
        /// The study file.
        file: PathBuf,
        /// The operating system's error.
        message: String,
    },
    /// The study file is not valid TOML.
    #[error("{file}: not a valid study TOML file: {message}")]
    Syntax {
        /// The study file.
        file: PathBuf,
        /// The TOML parser's message, with the line.
        message: String,
    },
    /// TOML that does not fit the study schema (an unknown key, a value of the wrong type).
    #[error("{file}: {error}")]
    Schema {
        /// The study file.
        file: PathBuf,
        /// Where and how it does not fit.
        error: crate::schema::SchemaError,
    },
    /// A field holds a value of the wrong kind or out of range.
    #[error("{file}: field '{field}': expected {expected}, found {found}")]
    Field {
        /// The study file.
        file: PathBuf,
        /// The field's dotted path (`inputs.T`, `model.experiment[1].c_rate`).
        field: String,
        /// What the field must hold.
        expected: String,
        /// What it holds.
        found: String,
    },
    /// The model named cannot be built from the `[model]` table (an unknown law, a bad option).
    #[error("{file}: field '{field}': {message}")]
    Model {
        /// The study file.
        file: PathBuf,
        /// The `[model]` field at fault.
        field: String,
        /// What is wrong, in words.
        message: String,
    },
    /// A priors file the study names cannot be used.
    #[error("{0}")]
    Priors(#[from] crate::dist::file::PriorsFileError),
}

/// Every model a study can name. Enum dispatch: the engines are generic over `Model`, and a
/// study picks its model at run time.
#[derive(Debug, Clone)]
pub enum StudyModel {
    /// A bridging law of the catalogue ([`crate::laws::catalogue`]).
    Law(crate::laws::catalogue::Law),
    /// A cell model, with its parameters optionally linked to laws (the multiscale chain).
    Chain(Box<crate::chain::ChainModel>),
}

impl StudyModel {
    /// The chain, for a `[model] cell = ...` study.
    pub fn as_chain(&self) -> Option<&crate::chain::ChainModel> {
        match self {
            StudyModel::Chain(c) => Some(c),
            StudyModel::Law(_) => None,
        }
    }
}

impl Model for StudyModel {
    fn inputs(&self) -> &[InputSpec] {
        match self {
            StudyModel::Law(m) => m.inputs(),
            StudyModel::Chain(m) => m.inputs(),
        }
    }
    fn outputs(&self) -> &[OutputSpec] {
        match self {
            StudyModel::Law(m) => m.outputs(),
            StudyModel::Chain(m) => m.outputs(),
        }
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        match self {
            StudyModel::Law(m) => m.eval(theta, out),
            StudyModel::Chain(m) => m.eval(theta, out),
        }
    }
    fn eval_batch(
        &self,
        x: &[f64],
        count: usize,
        out: &mut [f64],
        failed: &mut Vec<(usize, ModelError)>,
    ) {
        match self {
            StudyModel::Law(m) => m.eval_batch(x, count, out, failed),
            StudyModel::Chain(m) => m.eval_batch(x, count, out, failed),
        }
    }
}

/// A loaded study.
#[derive(Debug, Clone)]
pub struct Study {
    /// The study file, as given.
    pub path: PathBuf,
    /// The study's `title` (empty if none).
    pub title: String,
    /// The study's `description` (empty if none).
    pub description: String,
    /// The model with its inputs bound; `model.inputs()[k]` is `dist.params[k]`.
    pub model: BoundModel<StudyModel>,
    /// The joint distribution of the free inputs, in the model's units.
    pub dist: JointDistribution,
    /// The priors files the study names, resolved against the study's folder.
    pub priors_files: Vec<PathBuf>,
    /// The engines' own sections (`[propagate]`, `[sensitivity]`, `[calibrate]`).
    pub engines: EngineSections,
}

impl Study {
    /// An engine's settings section, e.g. `section("propagate")`, deserialised into `T`
    /// (missing section → `T::default()`).
    pub fn section<T: serde::de::DeserializeOwned + Default>(
        &self,
        name: &str,
    ) -> Result<T, StudyError> {
        let section = match name {
            "propagate" => &self.engines.propagate,
            "sensitivity" => &self.engines.sensitivity,
            "calibrate" => &self.engines.calibrate,
            _ => &None,
        };
        match section {
            None => Ok(T::default()),
            Some(v) => crate::schema::from_value(v.clone()).map_err(|mut e| {
                e.field = if e.field.is_empty() {
                    name.to_string()
                } else {
                    format!("{name}.{}", e.field)
                };
                StudyError::Schema {
                    file: self.path.clone(),
                    error: e,
                }
            }),
        }
    }
}

/// Build the named model. `kind` is the key used in [model] ("law").
fn build_model(kind: &str, name: &str, options: &toml::Table) -> Result<StudyModel, String> {
    match kind {
        "law" => crate::laws::catalogue::build_law(name, options)
            .map(StudyModel::Law)
            .map_err(|e| e.to_string()),
        _ => Err(format!("a model kind of: law (found '{kind}')")),
    }
}

/// The top level of a study file: the known keys and sections, anything else (a misspelt
/// `[propogate]`) refused at load instead of silently leaving an engine on its defaults. The
/// engines' sections are read by each engine's typed settings ([`Study::section`]).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StudyFile {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    priors: PriorsPaths,
    model: Option<cell::ModelSection>,
    #[serde(default)]
    inputs: std::collections::BTreeMap<String, InputBinding>,
    propagate: Option<toml::Value>,
    sensitivity: Option<toml::Value>,
    calibrate: Option<toml::Value>,
}

/// `priors = "file.toml"` or `priors = ["a.toml", "b.toml"]`.
#[derive(Debug, Default)]
struct PriorsPaths(Vec<String>);

impl<'de> serde::Deserialize<'de> for PriorsPaths {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = PriorsPaths;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a path or a list of paths")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<PriorsPaths, E> {
                Ok(PriorsPaths(vec![s.to_string()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                a: A,
            ) -> Result<PriorsPaths, A::Error> {
                serde::Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(a))
                    .map(PriorsPaths)
            }
        }
        d.deserialize_any(V)
    }
}

/// How one model input is bound in `[inputs]`: `"prior"`, a number in the model's unit,
/// `{ prior = "NAME" }` or `{ value = NUMBER, unit = "UNIT" }`.
#[derive(Debug)]
enum InputBinding {
    /// The prior of the input's own name.
    SameNamePrior,
    /// A fixed value in the model's unit.
    Number(f64),
    /// The table form, checked for one of its two shapes after reading.
    Table(InputTable),
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InputTable {
    prior: Option<String>,
    value: Option<f64>,
    unit: Option<String>,
}

const INPUT_FORMS: &str =
    "\"prior\", a number, { prior = \"NAME\" } or { value = NUMBER, unit = \"UNIT\" }";

impl<'de> serde::Deserialize<'de> for InputBinding {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, Unexpected};
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = InputBinding;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(INPUT_FORMS)
            }
            fn visit_str<E: Error>(self, s: &str) -> Result<InputBinding, E> {
                if s == "prior" {
                    Ok(InputBinding::SameNamePrior)
                } else {
                    Err(E::invalid_value(Unexpected::Str(s), &self))
                }
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<InputBinding, E> {
                Ok(InputBinding::Number(v as f64))
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<InputBinding, E> {
                Ok(InputBinding::Number(v as f64))
            }
            fn visit_f64<E: Error>(self, v: f64) -> Result<InputBinding, E> {
                Ok(InputBinding::Number(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                a: A,
            ) -> Result<InputBinding, A::Error> {
                serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(a))
                    .map(InputBinding::Table)
            }
        }
        d.deserialize_any(V)
    }
}

/// The engines' sections of a study, each read by the engine's typed settings
/// ([`Study::section`]).
#[derive(Debug, Clone, Default)]
pub struct EngineSections {
    propagate: Option<toml::Value>,
    sensitivity: Option<toml::Value>,
    calibrate: Option<toml::Value>,
}

/// Read and resolve a study file.
pub fn load_study(path: &Path) -> Result<Study, StudyError> {
    let text = std::fs::read_to_string(path).map_err(|e| StudyError::Io {
        file: path.to_path_buf(),
        message: e.to_string(),
    })?;
    parse_study(&text, path)
}

/// Parse and resolve study text; `path` locates relative priors files and names errors.
pub fn parse_study(text: &str, path: &Path) -> Result<Study, StudyError> {
    parse_study_with(text, path, &load_priors)
}

/// [`parse_study`] reading each priors file (its path resolved against the study's folder)
/// with `read_priors`: how a caller holding priors documents in memory (the Python package's
/// study dicts with embedded priors dicts) supplies them under the names the study gives.
pub fn parse_study_with(
    text: &str,
    path: &Path,
    read_priors: &dyn Fn(&Path) -> Result<JointDistribution, crate::dist::file::PriorsFileError>,
) -> Result<Study, StudyError> {
    let file = path.to_path_buf();
    let field = |field: &str, expected: &str, found: String| StudyError::Field {
        file: file.clone(),
        field: field.into(),
        expected: expected.into(),
        found,
    };
    // A fixed input: finite and in the physical range of the model's unit, checked at load
    // (a NaN or a temperature of 0 K would otherwise fail every sample, naming nothing).
    let fixed_value = |f: &str, v: f64, unit: &str| -> Result<f64, StudyError> {
        if !v.is_finite() {
            return Err(field(f, "a finite number", v.to_string()));
        }
        if let Some((what, ok)) = crate::units::physical_range(unit)
            && !ok(v)
        {
            return Err(field(
                f,
                &format!("a value {what} (in {unit}, the model's unit)"),
                v.to_string(),
            ));
        }
        Ok(v)
    };
    let top: StudyFile = crate::schema::from_str(text).map_err(|mut e| {
        if e.syntax {
            StudyError::Syntax {
                file: file.clone(),
                message: e.to_string(),
            }
        } else {
            // A key the input table does not know (an `sd` beside a fixed value): say where
            // uncertainty belongs.
            if e.field.starts_with("inputs.") && e.message.starts_with("unknown field") {
                e.message.push_str(
                    " (an uncertain input is a parameter of a priors file, bound with { prior = \"NAME\" })",
                );
            }
            StudyError::Schema {
                file: file.clone(),
                error: e,
            }
        }
    })?;

    // priors
    let dir = path.parent().unwrap_or(Path::new("."));
    let priors_files: Vec<PathBuf> = top.priors.0.iter().map(|s| dir.join(s)).collect();
    let parts = priors_files
        .iter()
        .enumerate()
        .map(|(i, p)| {
            read_priors(p).map_err(|e| match e {
                // A file that cannot be read: say which field named it and where a relative
                // path was looked for (a study copied elsewhere keeps its relative paths).
                crate::dist::file::PriorsFileError::Io { .. } => field(
                    &format!("priors[{i}]"),
                    &format!(
                        "a readable priors file (a relative path is resolved from the study's folder {})",
                        std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()).display()
                    ),
                    e.to_string(),
                ),
                e => e.into(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let all = if parts.is_empty() {
        None
    } else {
        Some(JointDistribution::concat(&parts).map_err(|e| {
            field(
                "priors",
                "priors files with distinct parameter names",
                e.to_string(),
            )
        })?)
    };

    // [model]
    let model_t = top
        .model
        .as_ref()
        .ok_or_else(|| field("model", "a [model] table naming a law", "nothing".into()))?;
    let (kind, name) = match (&model_t.law, &model_t.cell) {
        (Some(l), None) => ("law", l.as_str()),
        (None, Some(c)) => ("cell", c.as_str()),
        (l, c) => {
            return Err(field(
                "model",
                "one key `law = \"NAME\"` or `cell = \"spm\" | \"spme\"`",
                if l.is_some() && c.is_some() {
                    "both".into()
                } else {
                    "neither".into()
                },
            ));
        }
    };
    let inputs_t = &top.inputs;
    let inner = if kind == "cell" {
        let prior_names: Vec<String> = all.as_ref().map_or(vec![], |d| {
            d.names().iter().map(|s| s.to_string()).collect()
        });
        let candidates: Vec<String> = inputs_t.keys().cloned().chain(prior_names).collect();
        StudyModel::Chain(Box::new(cell::build_chain(
            model_t,
            name,
            dir,
            &candidates,
            &file,
        )?))
    } else {
        if let Some(k) = model_t.cell_keys_given().first() {
            return Err(field(
                &format!("model.{k}"),
                "only `law` and `options` with a law model (the other keys are a cell's)",
                format!("'{k}'"),
            ));
        }
        let empty = toml::Table::new();
        let options = model_t.options.as_ref().unwrap_or(&empty);
        build_model(kind, name, options).map_err(|e| StudyError::Model {
            file: file.clone(),
            field: format!("model.{kind}"),
            message: e,
        })?
    };

    // [inputs]
    let model_inputs = inner.inputs().to_vec();
    for k in inputs_t.keys() {
        if !model_inputs.iter().any(|i| &i.name == k) {
            return Err(field(
                &format!("inputs.{k}"),
                &format!(
                    "an input of {kind} '{name}' ({})",
                    model_inputs
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                format!("'{k}'"),
            ));
        }
    }
    let prior_names: Vec<String> = all.as_ref().map_or(vec![], |d| {
        d.names().iter().map(|s| s.to_string()).collect()
    });
    let mut bindings = Vec::new();
    let mut chosen: Vec<(usize, f64, String)> = Vec::new(); // (index in `all`, unit factor, model unit)
    let mut free_specs = Vec::new();
    for inp in &model_inputs {
        let f = format!("inputs.{}", inp.name);
        let before = bindings.len();
        let spec = inputs_t.get(&inp.name);
        let prior_name: Option<String> = match spec {
            None => prior_names.iter().find(|n| **n == inp.name).cloned(),
            Some(InputBinding::SameNamePrior) => Some(inp.name.clone()),
            Some(InputBinding::Number(v)) => {
                bindings.push(Binding::Fixed(fixed_value(&f, *v, &inp.unit)?));
                None
            }
            Some(InputBinding::Table(t)) => match (&t.prior, t.value) {
                (Some(p), None) if t.unit.is_none() => Some(p.clone()),
                (None, Some(v)) => {
                    if !v.is_finite() {
                        return Err(field(
                            &format!("{f}.value"),
                            "a finite number",
                            v.to_string(),
                        ));
                    }
                    let unit = t.unit.clone().unwrap_or_else(|| inp.unit.clone());
                    let c = conversion_factor(&unit, &inp.unit).ok_or_else(|| {
                        field(
                            &format!("{f}.unit"),
                            &format!("'{}' or a unit convertible to it", inp.unit),
                            format!("'{unit}'"),
                        )
                    })?;
                    bindings.push(Binding::Fixed(fixed_value(
                        &format!("{f}.value"),
                        v * c,
                        &inp.unit,
                    )?));
                    None
                }
                _ => {
                    return Err(field(
                        &f,
                        "{ prior = \"NAME\" } or { value = NUMBER, unit = \"UNIT\" } (one of the two)",
                        format!(
                            "keys {}",
                            [
                                ("prior", t.prior.is_some()),
                                ("value", t.value.is_some()),
                                ("unit", t.unit.is_some())
                            ]
                            .iter()
                            .filter(|(_, g)| *g)
                            .map(|(k, _)| *k)
                            .collect::<Vec<_>>()
                            .join(", ")
                        ),
                    ));
                }
            },
        };
        if let Some(pn) = prior_name {
            let d = all.as_ref().ok_or_else(|| {
                field(
                    &f,
                    "a priors file (top-level `priors = [...]`) holding this parameter",
                    "no priors files".into(),
                )
            })?;
            let idx = d.index_of(&pn).ok_or_else(|| {
                field(
                    &f,
                    &format!(
                        "a parameter of the priors files ({})",
                        prior_names.join(", ")
                    ),
                    format!("'{pn}'"),
                )
            })?;
            if chosen.iter().any(|(i, _, _)| *i == idx) {
                return Err(field(
                    &f,
                    "each prior bound to one input only",
                    format!("'{pn}' bound twice"),
                ));
            }
            let pu = &d.params[idx].unit;
            let c = conversion_factor(pu, &inp.unit).ok_or_else(|| {
                field(
                    &f,
                    &format!(
                        "a prior in '{}' (the model's unit) or a convertible unit",
                        inp.unit
                    ),
                    format!("prior '{pn}' in '{pu}'"),
                )
            })?;
            bindings.push(Binding::Free(chosen.len()));
            chosen.push((idx, c, inp.unit.clone()));
            free_specs.push(InputSpec::new(&pn, &inp.unit));
        }
        if bindings.len() != before + 1 {
            return Err(field(
                &f,
                &format!(
                    "a binding for input '{}' [{}]: a prior of that name, or `{} = {{ value = ..., unit = \"{}\" }}`",
                    inp.name, inp.unit, inp.name, inp.unit
                ),
                "no binding (unbound input)".into(),
            ));
        }
    }
    if chosen.is_empty() {
        return Err(field(
            "inputs",
            "at least one input bound to a prior (nothing is uncertain otherwise)",
            "all inputs fixed".into(),
        ));
    }
    let all = all.expect("chosen is non-empty only with priors");
    let names: Vec<&str> = chosen
        .iter()
        .map(|(i, _, _)| all.params[*i].name.as_str())
        .collect();
    let mut dist = all
        .marginal(&names)
        .map_err(|e| field("priors", "a valid joint distribution", e.to_string()))?;
    for (k, (_, c, unit)) in chosen.iter().enumerate() {
        dist.rescale(k, *c, unit);
    }
    let model = BoundModel::new(inner, bindings, free_specs)
        .map_err(|e| field("inputs", "consistent bindings", e))?;
    Ok(Study {
        path: file.clone(),
        title: top.title,
        description: top.description,
        model,
        dist,
        priors_files,
        engines: EngineSections {
            propagate: top.propagate,
            sensitivity: top.sensitivity,
            calibrate: top.calibrate,
        },
    })
}
