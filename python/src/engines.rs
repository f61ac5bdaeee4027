//! Studies and priors, and the engines on them: propagate, sensitivity, calibrate, the log
//! density with its gradient, and the HTML report. Each calls the library entry point the CLI
//! calls, with the study's own settings sections as defaults.

use crate::errors;
use crate::util::{Source, run_interruptible, source};
use bridgelaw::Model;
use bridgelaw::bound::BoundModel;
use bridgelaw::calibrate::study::{CalibrateSection, observations};
use bridgelaw::calibrate::validate::{CurveRole, FitPoints, ValidationReport, rmse_rows};
use bridgelaw::calibrate::{self, Likelihood, Posterior};
use bridgelaw::cancel::CancelToken;
use bridgelaw::dist::{self as bdist, JointDistribution};
use bridgelaw::model::OutputShape;
use bridgelaw::propagate::{self, PropagateSection};
use bridgelaw::report::calibrate_report::{view_from_map, view_from_run};
use bridgelaw::sensitivity::{self, AllSettings};
use bridgelaw::study::{self as bstudy, StudyModel, load_study as read_study, parse_study_with};
use numpy::{PyArray1, PyArray2, PyArray3, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::PathBuf;
use std::sync::Arc;

/// A study file resolved: the model with its inputs bound, the joint prior of its free inputs
/// (natural units as the priors files state them, converted to the model's) and its engines'
/// settings sections.
#[pyclass(module = "bridgelaw", frozen)]
pub struct Study {
    pub inner: Arc<bstudy::Study>,
}

fn priors_summary<'py>(py: Python<'py>, d: &JointDistribution) -> PyResult<Bound<'py, PyList>> {
    let l = PyList::empty(py);
    for (i, p) in d.params.iter().enumerate() {
        let (mean, sd) = d.marginal_mean_sd(i);
        let row = PyDict::new(py);
        row.set_item("name", &p.name)?;
        row.set_item("unit", &p.unit)?;
        row.set_item("transform", p.transform.label())?;
        row.set_item("mean", mean)?;
        row.set_item("sd", sd)?;
        row.set_item("q05", d.marginal_quantile(i, 0.05))?;
        row.set_item("q50", d.marginal_quantile(i, 0.5))?;
        row.set_item("q95", d.marginal_quantile(i, 0.95))?;
        l.append(row)?;
    }
    Ok(l)
}

#[pymethods]
impl Study {
    /// The file it was read from (for a dict: ``<base_dir>/<study dict>``).
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.path.clone()
    }
    #[getter]
    fn title(&self) -> &str {
        &self.inner.title
    }
    #[getter]
    fn description(&self) -> &str {
        &self.inner.description
    }
    /// The free inputs with their prior marginals: a list of dicts with name, unit, transform,
    /// mean, sd and the 5/50/95 % quantiles in natural units.
    #[getter]
    fn parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        priors_summary(py, &self.inner.dist)
    }
    /// The model's outputs: a list of dicts with name, unit and (for curves) the axis name,
    /// unit and values.
    #[getter]
    fn outputs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let l = PyList::empty(py);
        for o in self.inner.model.outputs() {
            let row = PyDict::new(py);
            row.set_item("name", &o.name)?;
            row.set_item("unit", &o.unit)?;
            if let OutputShape::Curve(a) = &o.shape {
                row.set_item("axis", &a.name)?;
                row.set_item("axis_unit", &a.unit)?;
                row.set_item("axis_values", PyArray1::from_slice(py, &a.values))?;
            }
            l.append(row)?;
        }
        Ok(l)
    }
    /// Model outputs (flat, in ``outputs`` order) at natural input values ``x`` (one per
    /// parameter, in ``parameters`` order and units).
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let x = x.as_slice().map_err(errors::input)?.to_vec();
        let s = self.inner.clone();
        let y = py
            .detach(move || bridgelaw::model::evaluate(&s.model, &x))
            .map_err(errors::run)?;
        Ok(PyArray1::from_vec(py, y))
    }
    fn __repr__(&self) -> String {
        format!(
            "Study({:?}, {} free inputs, {} outputs)",
            self.inner.path.display().to_string(),
            self.inner.dist.dim(),
            self.inner.model.outputs().len()
        )
    }
}

/// Read a study (path, or dict with the TOML file's structure; a dict's relative paths resolve
/// against ``base_dir``, default the working folder; its ``priors`` may hold priors dicts and
/// :class:`Priors` beside file paths). Raises InputError naming file and field.
#[pyfunction]
#[pyo3(signature = (study, base_dir=None))]
pub fn load_study(study: &Bound<'_, PyAny>, base_dir: Option<PathBuf>) -> PyResult<Study> {
    if let Ok(s) = study.cast::<Study>() {
        return Ok(Study {
            inner: s.get().inner.clone(),
        });
    }
    let dir = match base_dir {
        Some(d) => d,
        None => std::env::current_dir().map_err(errors::input)?,
    };
    let (study, given) = match study.cast::<PyDict>() {
        Ok(d) => embedded_priors(d, &dir)?,
        Err(_) => (study.clone(), Vec::new()),
    };
    let src = source(&study, "study", Some(dir))?;
    let s = study.py().detach(|| match src {
        Source::Path(p) => read_study(&p),
        Source::Text(t, p) => parse_study_with(&t, &p, &|f| match given
            .iter()
            .find(|(name, _)| name == f)
        {
            Some((_, d)) => Ok(d.clone()),
            None => bdist::load_priors(f),
        }),
    });
    Ok(Study {
        inner: Arc::new(s.map_err(errors::input)?),
    })
}

/// A study dict's embedded priors: each priors dict or [`Priors`] in its `priors` (one, or a
/// list mixed with file paths) is read here and replaced in a copy of the dict by a name,
/// `<priors[i] dict>` or `<priors[i]>`, under which it is returned (resolved against `dir`, as
/// the study resolves its priors paths).
#[allow(clippy::type_complexity)]
fn embedded_priors<'py>(
    d: &Bound<'py, PyDict>,
    dir: &std::path::Path,
) -> PyResult<(Bound<'py, PyAny>, Vec<(PathBuf, JointDistribution)>)> {
    let unchanged = || Ok((d.clone().into_any(), Vec::new()));
    let Some(p) = d.get_item("priors")? else {
        return unchanged();
    };
    let items: Vec<Bound<'py, PyAny>> =
        if p.is_instance_of::<PyList>() || p.is_instance_of::<pyo3::types::PyTuple>() {
            p.try_iter()?.collect::<PyResult<_>>()?
        } else {
            vec![p]
        };
    let embedded =
        |i: &Bound<'py, PyAny>| i.is_instance_of::<PyDict>() || i.cast::<Priors>().is_ok();
    if !items.iter().any(embedded) {
        return unchanged();
    }
    let py = d.py();
    let names = PyList::empty(py);
    let mut given = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if let Ok(pr) = item.cast::<Priors>() {
            let name = format!("<priors[{i}]>");
            given.push((dir.join(&name), pr.get().inner.clone()));
            names.append(name)?;
        } else if let Source::Text(text, path) =
            source(item, &format!("priors[{i}]"), Some(dir.to_path_buf()))?
        {
            let dist = bdist::parse_priors(&text, &path).map_err(errors::input)?;
            names.append(path.file_name().map(|n| n.to_string_lossy().into_owned()))?;
            given.push((path, dist));
        } else {
            names.append(item)?;
        }
    }
    let copy = d.copy()?;
    copy.set_item("priors", names)?;
    Ok((copy.into_any(), given))
}

fn as_study(obj: &Bound<'_, PyAny>) -> PyResult<Arc<bstudy::Study>> {
    Ok(load_study(obj, None)?.inner)
}

/// A joint prior from a priors file: named parameters, a multivariate normal in a transformed
/// space z (identity, log, logit) and x = T(z) in natural units.
#[pyclass(module = "bridgelaw", frozen)]
pub struct Priors {
    inner: JointDistribution,
}

#[pymethods]
impl Priors {
    #[getter]
    fn title(&self) -> &str {
        &self.inner.title
    }
    #[getter]
    fn source(&self) -> &str {
        &self.inner.source
    }
    #[getter]
    fn names(&self) -> Vec<String> {
        self.inner.params.iter().map(|p| p.name.clone()).collect()
    }
    #[getter]
    fn units(&self) -> Vec<String> {
        self.inner.params.iter().map(|p| p.unit.clone()).collect()
    }
    /// Marginals: a list of dicts with name, unit, transform, mean, sd and 5/50/95 % quantiles
    /// in natural units.
    #[getter]
    fn parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        priors_summary(py, &self.inner)
    }
    /// Correlation matrix of the transformed variables z.
    #[getter]
    fn correlation<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        let c = self.inner.correlation();
        let n = c.nrows();
        let a = numpy::ndarray::Array2::from_shape_fn((n, n), |(i, j)| c[(i, j)]);
        PyArray2::from_owned_array(py, a)
    }
    /// ``n`` pseudo-random draws in natural units, an (n, parameters) array, reproducible for
    /// ``seed``.
    #[pyo3(signature = (n, seed=0))]
    fn sample<'py>(&self, py: Python<'py>, n: usize, seed: u64) -> Bound<'py, PyArray2<f64>> {
        let k = self.inner.dim();
        let v = py.detach(|| bridgelaw::dist::sample::draw_pseudo(&self.inner, n, seed, 0));
        let a = numpy::ndarray::Array2::from_shape_vec((n, k), v).expect("n × dim draws");
        PyArray2::from_owned_array(py, a)
    }
    fn __repr__(&self) -> String {
        format!("Priors({:?}, {:?})", self.inner.title, self.names())
    }
}

/// Read a priors file (path) or document (dict with the TOML file's structure). Raises
/// InputError naming file and field.
#[pyfunction]
#[pyo3(signature = (priors, base_dir=None))]
pub fn load_priors(priors: &Bound<'_, PyAny>, base_dir: Option<PathBuf>) -> PyResult<Priors> {
    let d = match source(priors, "priors", base_dir)? {
        Source::Path(p) => bdist::load_priors(&p),
        Source::Text(t, p) => bdist::parse_priors(&t, &p),
    }
    .map_err(errors::input)?;
    Ok(Priors { inner: d })
}

/// Propagation of a study (the engine of ``bridgelaw propagate``): returns the results as JSON
/// text (the CLI's propagation.json) and, when ``return_samples`` > 0, that many pseudo-random
/// input draws (natural units) with the model outputs at them (NaN rows where the model fails).
#[pyfunction]
#[pyo3(signature = (study, method=None, samples=None, seed=None, levels=None, rel_err=None,
    return_samples=0))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn _propagate<'py>(
    py: Python<'py>,
    study: &Bound<'py, PyAny>,
    method: Option<String>,
    samples: Option<u64>,
    seed: Option<u64>,
    levels: Option<Vec<f64>>,
    rel_err: Option<f64>,
    return_samples: usize,
) -> PyResult<(
    String,
    Option<(Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<f64>>)>,
)> {
    let st = as_study(study)?;
    let mut sec: PropagateSection = st.section("propagate").map_err(errors::input)?;
    sec.method = method.or(sec.method);
    sec.samples = samples.or(sec.samples);
    sec.seed = seed.or(sec.seed);
    sec.levels = levels.or(sec.levels);
    sec.rel_err = rel_err.or(sec.rel_err);
    let m = sec.method().map_err(errors::propagate)?;
    let mut mc = sec
        .mc_settings()
        .map_err(|e| errors::input(format!("{}: {e}", st.path.display())))?;
    mc.progress = false;
    let s2 = st.clone();
    let (res, draws) = run_interruptible(py, move |cancel| {
        mc.cancel = cancel.clone();
        let mut res = propagate::propagate(&s2.model, &s2.dist, m, &mc)?;
        if !s2.title.is_empty() {
            res.title = s2.title.clone();
        }
        let draws =
            (return_samples > 0).then(|| sample_outputs(&s2, return_samples, mc.seed, cancel));
        Ok::<_, propagate::PropagateError>((res, draws))
    })?
    .map_err(errors::propagate)?;
    let json = serde_json::to_string(&res).map_err(errors::run)?;
    let arrays = match draws {
        None => None,
        Some((x, y, k, p)) => {
            let n = return_samples;
            let xa = numpy::ndarray::Array2::from_shape_vec((n, k), x).map_err(errors::run)?;
            let ya = numpy::ndarray::Array2::from_shape_vec((n, p), y).map_err(errors::run)?;
            Some((
                PyArray2::from_owned_array(py, xa),
                PyArray2::from_owned_array(py, ya),
            ))
        }
    };
    Ok((json, arrays))
}

/// `n` pseudo-random input draws (natural units, row-major n × k) from stream (seed, 2⁶³) —
/// apart from the Monte Carlo engine's streams — and the model outputs at them (n × p, NaN
/// where the model fails), evaluated in parallel; rows not started once `cancel` is raised
/// stay NaN (the caller raises KeyboardInterrupt instead of returning them).
fn sample_outputs(
    st: &bstudy::Study,
    n: usize,
    seed: u64,
    cancel: &CancelToken,
) -> (Vec<f64>, Vec<f64>, usize, usize) {
    let k = st.dist.dim();
    let p = bridgelaw::model::n_outputs(&st.model);
    let x = bridgelaw::dist::sample::draw_pseudo(&st.dist, n, seed, 1 << 63);
    let mut y = vec![f64::NAN; n * p];
    // rayon through the library's model evaluation, one row per task
    use rayon::prelude::*;
    y.par_chunks_mut(p.max(1))
        .zip(x.par_chunks(k.max(1)))
        .for_each(|(out, row)| {
            if !cancel.is_cancelled() && st.model.eval(row, out).is_err() {
                out.iter_mut().for_each(|v| *v = f64::NAN);
            }
        });
    (x, y, k, p)
}

/// Sensitivity of a study (the engine of ``bridgelaw sensitivity``): the refine-next ranking
/// and ``method`` ("local", "variance", "sobol", "morris", "shapley" or "all"), as JSON text
/// (the CLI's sensitivity.json) and the long-format rows (method, output, input, metric,
/// value) and the refine-next order (inputs, most useful first).
#[pyfunction]
#[pyo3(signature = (study, method="all", seed=None, samples=None))]
#[allow(clippy::type_complexity)]
pub fn _sensitivity(
    py: Python<'_>,
    study: &Bound<'_, PyAny>,
    method: &str,
    seed: Option<u64>,
    samples: Option<usize>,
) -> PyResult<(
    String,
    Vec<(String, String, String, String, Option<f64>)>,
    Vec<String>,
)> {
    let st = as_study(study)?;
    let s: AllSettings = st.section("sensitivity").map_err(errors::input)?;
    let mut s = s.with_overrides(seed, samples);
    s.sobol.progress = false;
    let method = method.to_string();
    if method != "all" && !sensitivity::METHODS.contains(&method.as_str()) {
        return Err(errors::input(format!(
            "method: expected one of local, variance, sobol, morris, shapley, all; found '{method}'"
        )));
    }
    let s2 = st.clone();
    let f = run_interruptible(py, move |cancel| {
        s.sobol.cancel = cancel.clone();
        sensitivity::run_methods(&s2.model, &s2.dist, &s, &method, &s2.title)
    })?
    .map_err(errors::sensitivity)?;
    let json = serde_json::to_string(&f).map_err(errors::run)?;
    let rows = f
        .tables()
        .iter()
        .flat_map(|t| t.long_rows())
        .map(|r| (r.method, r.output, r.input, r.metric, r.value))
        .collect();
    let order = f
        .ranking
        .as_ref()
        .map(|r| r.headline().iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    Ok((json, rows, order))
}

/// The study's `[calibrate]` section with keyword overrides, its observations and noise.
fn calibration_setup(
    st: &bstudy::Study,
    data: Vec<PathBuf>,
    overrides: [Option<u64>; 4],
) -> PyResult<(
    calibrate::NutsConfig,
    Vec<calibrate::CurveObservation>,
    Likelihood,
)> {
    let mut sec: CalibrateSection = st.section("calibrate").map_err(errors::input)?;
    let [chains, draws, tune, seed] = overrides;
    sec.chains = chains.map(|c| c as usize).or(sec.chains);
    sec.draws = draws.or(sec.draws);
    sec.tune = tune.or(sec.tune);
    sec.seed = seed.or(sec.seed);
    let cfg = sec.nuts_config(&st.path).map_err(errors::calibrate)?;
    let (obs, _notes) = observations(st, &data, sec.noise()).map_err(errors::calibrate)?;
    Ok((cfg, obs, sec.likelihood.unwrap_or_default()))
}

/// A NUTS calibration of a cell study against its measured curves (the engine of ``bridgelaw
/// calibrate``, same settings and seed → same draws). Returns a dict of arrays the Python layer
/// turns into an ``arviz.InferenceData``.
#[pyfunction]
#[pyo3(signature = (study, data=None, chains=None, draws=None, tune=None, seed=None,
    progress=false, predictive_draws=100))]
#[allow(clippy::too_many_arguments)]
pub fn _calibrate<'py>(
    py: Python<'py>,
    study: &Bound<'py, PyAny>,
    data: Option<Vec<PathBuf>>,
    chains: Option<u64>,
    draws: Option<u64>,
    tune: Option<u64>,
    seed: Option<u64>,
    progress: bool,
    predictive_draws: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let st = as_study(study)?;
    let (mut cfg, obs, lik) =
        calibration_setup(&st, data.unwrap_or_default(), [chains, draws, tune, seed])?;
    cfg.progress = progress;
    let s2 = st.clone();
    let out = run_interruptible(py, move |cancel| {
        let post = Posterior::new(&s2.model, &s2.dist, obs, lik)?;
        let run = calibrate::sample_cancellable(&post, &cfg, cancel)?;
        let summary = calibrate::summarize(&post, &run);
        // What the CLI's report draws (`calibration_view.json`): bands from the same thinned
        // draws as the CLI's, so `report(idata)` renders the CLI's calibration section.
        let bands = calibrate::summary::predictive_bands(
            &post,
            &run,
            calibrate::BAND_DRAWS,
            run.config.seed,
            &calibrate::summary::COVERAGE_LEVELS,
        )?;
        let title = if s2.title.is_empty() {
            s2.path.display().to_string()
        } else {
            s2.title.clone()
        };
        let output = calibrate::CalibrationOutput {
            run,
            summary,
            bands,
            files: Vec::new(),
        };
        let view = serde_json::to_string(&view_from_run(&title, &post, &output))
            .map_err(|e| calibrate::CalibrateError::Setup(format!("calibration view: {e}")))?;
        let calibrate::CalibrationOutput { run, summary, .. } = output;
        let pred = predictions(&post, &run, predictive_draws);
        let curves: Vec<CurveInfo> = (0..post.n_curves())
            .map(|c| {
                let o = &post.model().outputs()[post.curve_output(c)];
                let axis = match &o.shape {
                    OutputShape::Curve(a) => a.values.clone(),
                    OutputShape::Scalar => vec![0.0],
                };
                CurveInfo {
                    name: post.curve_name(c).to_string(),
                    axis,
                }
            })
            .collect();
        // observed values and each draw's σ per curve
        let z0 = vec![0.0; post.dim()];
        let views: Vec<(std::ops::Range<usize>, Vec<f64>)> = post
            .curve_views(&z0)
            .into_iter()
            .map(|(r, v, _)| (r, v.to_vec()))
            .collect();
        let sigmas: Vec<Vec<f64>> = pred
            .1
            .iter()
            .map(|z| post.curve_views(z).into_iter().map(|v| v.2).collect())
            .collect();
        Ok::<_, calibrate::CalibrateError>((run, summary, pred.0, sigmas, curves, views, view))
    })?
    .map_err(errors::calibrate)?;
    let (run, summary, pred, sigmas, curves, views, view) = out;
    let d = PyDict::new(py);
    d.set_item("calibration_view_json", view)?;
    let nc = run.chains.len();
    let nd = run.config.draws as usize;
    let dim = run.dim;
    d.set_item("names", run.names.clone())?;
    d.set_item("units", run.units.clone())?;
    let post_x: Vec<f64> = run
        .chains
        .iter()
        .flat_map(|c| c.x.iter().copied())
        .collect();
    let post_z: Vec<f64> = run
        .chains
        .iter()
        .flat_map(|c| c.z.iter().copied())
        .collect();
    let arr3 = |v: Vec<f64>, a: usize, b: usize, c: usize| -> PyResult<Bound<'py, PyArray3<f64>>> {
        let a = numpy::ndarray::Array3::from_shape_vec((a, b, c), v).map_err(errors::run)?;
        Ok(PyArray3::from_owned_array(py, a))
    };
    d.set_item("posterior", arr3(post_x, nc, nd, dim)?)?;
    d.set_item("posterior_z", arr3(post_z, nc, nd, dim)?)?;
    let stats = PyDict::new(py);
    let stat =
        |f: &dyn Fn(&calibrate::nuts::DrawStats) -> f64| -> PyResult<Bound<'py, PyArray2<f64>>> {
            let v: Vec<f64> = run
                .chains
                .iter()
                .flat_map(|c| c.stats.iter().map(f))
                .collect();
            let a = numpy::ndarray::Array2::from_shape_vec((nc, nd), v).map_err(errors::run)?;
            Ok(PyArray2::from_owned_array(py, a))
        };
    stats.set_item("lp", stat(&|s| s.lp)?)?;
    stats.set_item("acceptance_rate", stat(&|s| s.accept_stat)?)?;
    stats.set_item("step_size", stat(&|s| s.step_size)?)?;
    stats.set_item("tree_depth", stat(&|s| s.treedepth as f64)?)?;
    stats.set_item("n_steps", stat(&|s| s.n_leapfrog as f64)?)?;
    stats.set_item("energy", stat(&|s| s.energy)?)?;
    stats.set_item(
        "diverging",
        stat(&|s| if s.divergent { 1.0 } else { 0.0 })?.call_method1("astype", ("bool",))?,
    )?;
    stats.set_item(
        "reached_max_treedepth",
        stat(&|s| if s.maxdepth_reached { 1.0 } else { 0.0 })?.call_method1("astype", ("bool",))?,
    )?;
    d.set_item("sample_stats", stats)?;
    let per_chain = pred.len() / nc.max(1);
    let cl = PyList::empty(py);
    for (c, (info, (range, values))) in curves.iter().zip(&views).enumerate() {
        let cd = PyDict::new(py);
        cd.set_item("name", &info.name)?;
        cd.set_item("time_s", PyArray1::from_slice(py, &info.axis))?;
        cd.set_item("observed", PyArray1::from_slice(py, values))?;
        let n = range.len();
        let mut m = Vec::with_capacity(pred.len() * n);
        for p in &pred {
            match p {
                Some(out) => m.extend_from_slice(&out[range.clone()]),
                None => m.extend(std::iter::repeat_n(f64::NAN, n)),
            }
        }
        cd.set_item("prediction", arr3(m, nc, per_chain, n)?)?;
        let s: Vec<f64> = sigmas.iter().map(|s| s[c]).collect();
        let sa = numpy::ndarray::Array2::from_shape_vec((nc, per_chain), s).map_err(errors::run)?;
        cd.set_item("sigma", PyArray2::from_owned_array(py, sa))?;
        cl.append(cd)?;
    }
    d.set_item("curves", cl)?;
    d.set_item(
        "likelihood",
        match lik {
            Likelihood::Gaussian => ("gaussian".to_string(), f64::INFINITY),
            Likelihood::StudentT { nu } => ("student_t".to_string(), nu),
        },
    )?;
    d.set_item("summary_json", summary.to_json())?;
    d.set_item("warnings", summary.warnings.clone())?;
    d.set_item("seed", run.config.seed)?;
    d.set_item("draw_stride", nd / per_chain.max(1))?;
    Ok(d)
}

/// The fast `--map` mode of ``bridgelaw calibrate``: the posterior mode (multi-start L-BFGS on
/// the exact gradient) and the Laplace approximation around it, as the CLI computes them.
/// Returns the CLI's ``*_map.json`` and ``*_validation.json`` (parameters at the prior centre
/// and the MAP, per-curve RMS residuals [V]) as JSON text, the MAP's shift from the prior
/// centre in prior sds per unknown, and the report's calibration view.
#[pyfunction]
#[pyo3(signature = (study, data=None, seed=None))]
pub fn _calibrate_map<'py>(
    py: Python<'py>,
    study: &Bound<'py, PyAny>,
    data: Option<Vec<PathBuf>>,
    seed: Option<u64>,
) -> PyResult<Bound<'py, PyDict>> {
    let st = as_study(study)?;
    let (cfg, obs, lik) =
        calibration_setup(&st, data.unwrap_or_default(), [None, None, None, seed])?;
    let seed = cfg.seed;
    let s2 = st.clone();
    let out = run_interruptible(py, move |_cancel| {
        let post = Posterior::new(&s2.model, &s2.dist, obs, lik)?;
        let r = calibrate::find_map(&post, &Default::default())?;
        let title = if s2.title.is_empty() {
            s2.path.display().to_string()
        } else {
            s2.title.clone()
        };
        let view = view_from_map(&title, &post, &r, seed)?;
        let view = serde_json::to_string(&view)
            .map_err(|e| calibrate::CalibrateError::Setup(format!("calibration view: {e}")))?;
        // As the CLI's residual table: the prior centre, the MAP and the Laplace mean.
        let laplace_mean =
            (!r.summary.is_empty()).then(|| r.summary.iter().map(|p| p.mean).collect());
        let points = FitPoints::new(&post, Some(&r.z), laplace_mean);
        let rows = rmse_rows(&post, CurveRole::Fit, &points);
        let validation = ValidationReport::new(&points, rows, vec![], &[], &[], &[]);
        let validation = serde_json::to_string(&validation)
            .map_err(|e| calibrate::CalibrateError::Setup(format!("validation: {e}")))?;
        // (ẑ − μ_z)/σ_z: how far the data moved each unknown from its prior, in prior sds.
        let shift: Vec<f64> = post
            .prior_z_mean_sd()
            .iter()
            .zip(&r.z)
            .map(|((mu, sd), z)| (z - mu) / sd)
            .collect();
        let names = post.names().to_vec();
        let units: Vec<String> = post.parameters().iter().map(|p| p.unit.clone()).collect();
        Ok::<_, calibrate::CalibrateError>((
            r.to_json(),
            validation,
            view,
            shift,
            names,
            units,
            r.stop_sentence(),
            r.warnings(),
        ))
    })?
    .map_err(errors::calibrate)?;
    let (map_json, validation, view, shift, names, units, stop, warnings) = out;
    let d = PyDict::new(py);
    d.set_item("map_json", map_json)?;
    d.set_item("validation_json", validation)?;
    d.set_item("calibration_view_json", view)?;
    d.set_item("shift_prior_sd", shift)?;
    d.set_item("names", names)?;
    d.set_item("units", units)?;
    d.set_item("stop", stop)?;
    d.set_item("warnings", warnings)?;
    d.set_item("seed", seed)?;
    Ok(d)
}

struct CurveInfo {
    name: String,
    axis: Vec<f64>,
}

type Predictions = (Vec<Option<Vec<f64>>>, Vec<Vec<f64>>);

/// Model outputs at every `stride`-th kept draw of each chain (at most `per_chain` per chain,
/// the same draws in every chain), with the z of those draws; `None` where the model fails.
fn predictions<M: Model>(
    post: &Posterior<'_, M>,
    run: &calibrate::NutsRun,
    per_chain: usize,
) -> Predictions {
    use rayon::prelude::*;
    let nd = run.config.draws as usize;
    let stride = nd.div_ceil(per_chain.clamp(1, nd.max(1))).max(1);
    let picks: Vec<usize> = (0..nd).step_by(stride).collect();
    let zs: Vec<Vec<f64>> = run
        .chains
        .iter()
        .flat_map(|c| {
            picks
                .iter()
                .map(|&i| c.z[i * run.dim..(i + 1) * run.dim].to_vec())
                .collect::<Vec<_>>()
        })
        .collect();
    let outs = zs.par_iter().map(|z| post.predict(z).ok()).collect();
    (outs, zs)
}

type StudyPosterior<'a> = Posterior<'a, BoundModel<StudyModel>>;

self_cell::self_cell!(
    /// A study and the posterior bound to its model (the posterior borrows the model).
    struct PosteriorCell {
        owner: Arc<bstudy::Study>,
        #[covariant]
        dependent: StudyPosterior,
    }
);

/// The log posterior density of a cell study's calibration, ln p(θ | data) up to a constant,
/// with its exact gradient (forward-mode AD through the cell model), for other samplers and
/// optimisers. θ is the unconstrained vector the NUTS engine samples: each model parameter in
/// its prior's transformed space (identity, log or logit, see ``transforms``), then ln σ [ln V]
/// per curve whose noise is inferred. ``to_natural`` maps θ to natural units.
#[pyclass(module = "bridgelaw", frozen)]
pub struct LogDensity {
    cell: PosteriorCell,
}

impl LogDensity {
    fn theta<'a>(&self, theta: &'a PyReadonlyArray1<'_, f64>) -> PyResult<&'a [f64]> {
        let t = theta.as_slice().map_err(errors::input)?;
        let dim = self.cell.borrow_dependent().dim();
        if t.len() != dim {
            return Err(errors::input(format!(
                "theta: expected {dim} values ({}), found {}",
                self.cell.borrow_dependent().names().join(", "),
                t.len()
            )));
        }
        Ok(t)
    }
}

#[pymethods]
impl LogDensity {
    /// Build the log density of ``study``'s calibration (its ``[calibrate]`` noise and
    /// likelihood; ``data`` replaces its measured curves as the CLI's ``--data``).
    #[new]
    #[pyo3(signature = (study, data=None))]
    fn new(study: &Bound<'_, PyAny>, data: Option<Vec<PathBuf>>) -> PyResult<Self> {
        let st = as_study(study)?;
        let (_cfg, obs, lik) = calibration_setup(&st, data.unwrap_or_default(), [None; 4])?;
        let cell = PosteriorCell::try_new(st, |s| Posterior::new(&s.model, &s.dist, obs, lik))
            .map_err(errors::calibrate)?;
        Ok(Self { cell })
    }
    /// Length of θ.
    #[getter]
    fn dim(&self) -> usize {
        self.cell.borrow_dependent().dim()
    }
    /// Names of θ's coordinates (model parameters, then ``sigma_<curve>``).
    #[getter]
    fn names(&self) -> Vec<String> {
        self.cell.borrow_dependent().names().to_vec()
    }
    /// Units of the natural values.
    #[getter]
    fn units(&self) -> Vec<String> {
        self.cell
            .borrow_dependent()
            .parameters()
            .iter()
            .map(|p| p.unit.clone())
            .collect()
    }
    /// Transform of each coordinate: x = T(θ) with T "identity", "log" or "logit(a, b)".
    #[getter]
    fn transforms(&self) -> Vec<String> {
        self.cell
            .borrow_dependent()
            .parameters()
            .iter()
            .map(|p| p.transform.label())
            .collect()
    }
    /// ln p(θ | data) up to a constant, and its gradient ∂ln p/∂θ (a new float64 array).
    /// Raises RunError where the cell model fails (e.g. a state leaves its physical range).
    fn logp_and_grad<'py>(
        &self,
        py: Python<'py>,
        theta: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<(f64, Bound<'py, PyArray1<f64>>)> {
        let t = self.theta(&theta)?;
        let mut g = vec![0.0; t.len()];
        let post = self.cell.borrow_dependent();
        let lp = py
            .detach(|| post.gradient_kernel().logp_grad(t, &mut g))
            .map_err(errors::run)?;
        Ok((lp, PyArray1::from_vec(py, g)))
    }
    /// ln p(θ | data) up to a constant (no gradient).
    fn logp(&self, py: Python<'_>, theta: PyReadonlyArray1<'_, f64>) -> PyResult<f64> {
        let t = self.theta(&theta)?;
        let post = self.cell.borrow_dependent();
        py.detach(|| post.log_density_f64(t)).map_err(errors::run)
    }
    /// θ → natural units (model parameters in their units, σ in V).
    fn to_natural<'py>(
        &self,
        py: Python<'py>,
        theta: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let t = self.theta(&theta)?;
        let mut x = vec![0.0; t.len()];
        self.cell.borrow_dependent().natural_from_z(t, &mut x);
        Ok(PyArray1::from_vec(py, x))
    }
    /// The Rust side of the `logp_and_grad` speed figure: seconds per evaluation at `theta`
    /// through the library's gradient kernel (built once, as NUTS uses it), the best of
    /// `repeats` loops of `n`, with no Python in the loop.
    #[pyo3(signature = (theta, n=200, repeats=5))]
    fn _bench_logp_and_grad(
        &self,
        py: Python<'_>,
        theta: PyReadonlyArray1<'_, f64>,
        n: usize,
        repeats: usize,
    ) -> PyResult<f64> {
        let t = self.theta(&theta)?;
        let post = self.cell.borrow_dependent();
        py.detach(|| {
            let mut k = post.gradient_kernel();
            let mut g = vec![0.0; t.len()];
            let mut best = f64::INFINITY;
            for _ in 0..repeats.max(1) {
                let t0 = std::time::Instant::now();
                for _ in 0..n.max(1) {
                    std::hint::black_box(k.logp_grad(t, &mut g))?;
                }
                best = best.min(t0.elapsed().as_secs_f64() / n.max(1) as f64);
            }
            Ok::<_, bridgelaw::model::ModelError>(best)
        })
        .map_err(errors::run)
    }
    /// The prior centre in θ (μ of the prior, ln of the median σ): a start for optimisers.
    fn initial_point<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.cell.borrow_dependent().prior_centre())
    }
    fn __repr__(&self) -> String {
        let p = self.cell.borrow_dependent();
        format!("LogDensity(dim={}, names={:?})", p.dim(), p.names())
    }
}

/// Render the HTML report of a run folder (propagate, sensitivity or calibrate output of the
/// CLI) into ``out`` (default the folder); returns the report's path.
#[pyfunction]
#[pyo3(signature = (run_dir, out=None))]
pub fn report(py: Python<'_>, run_dir: PathBuf, out: Option<PathBuf>) -> PyResult<PathBuf> {
    py.detach(|| bridgelaw::report::run::report_run_dir(&run_dir, out.as_deref()))
        .map_err(errors::report)
}

/// The bridging-law catalogue: (name, equation and units) pairs.
#[pyfunction]
pub fn laws() -> Vec<(String, String)> {
    bridgelaw::laws::catalogue::law_catalogue()
        .into_iter()
        .map(|(n, d)| (n.to_string(), d.to_string()))
        .collect()
}
