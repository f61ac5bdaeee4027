//! The main job end to end on the shipped studies (`bridgelaw demo`): atomistic priors →
//! parameter sets with error bars → the multiscale chain's voltage band → NUTS calibration of
//! the atomistic inputs against (synthetic) discharge curves → which calculation to refine next
//! → one HTML report.
//!
//! The demo's voltage curves are SYNTHETIC: made by [`make_synthetic_data`] from the chain
//! `models/demo/synthetic_truth.toml` at the stated parameters [`TRUTH`] plus Gaussian noise of
//! [`NOISE_V`], so the calibration can be checked against a known answer.

use crate::calibrate::{
    self, CurveObservation, InitStrategy, Likelihood, Noise, NutsConfig, Posterior, SigmaPrior,
};
use crate::model::{Model, evaluate};
use crate::propagate::{self, McSettings, Method, PropagationResults};
use crate::report::calibrate_report::{calibration_sections, view_from_run};
use crate::report::html::{Block, Report, Section, Table, write_report};
use crate::report::propagate_report::propagation_sections;
use crate::report::provenance::Provenance;
use crate::report::sensitivity_report::{SensitivityParts, sensitivity_sections};
use crate::sensitivity::{self, RankingSettings};
use crate::study::{Study, load_study};
use crate::units::conversion_factor;
use rand_distr::{Distribution, StandardNormal};
use std::path::{Path, PathBuf};
use std::time::Instant;
use thiserror::Error;

/// The stated parameters of the synthetic curves: (name, value, unit). The NEB prior puts E_m
/// at 0.293 ± 0.03 eV; the "true" effective barrier of the demo is higher (0.40 eV), as cell-level
/// diffusivities of graphite are (D_n ≈ 8e-14 m²/s at 25 °C here vs 3.3e-14 m²/s measured by
/// Chen et al. 2020), so the calibration has a prior–data conflict to find.
pub const TRUTH: &[(&str, f64, &str)] = &[
    ("E_m", 0.40, "eV"),
    ("nu0", 5.0e12, "Hz"),
    ("E_a_i0_n", 35.0, "kJ/mol"),
];

/// Noise sd of the synthetic voltages \[V\].
pub const NOISE_V: f64 = 0.003;

/// Seed of the synthetic noise.
pub const DATA_SEED: u64 = 20_261_125;

/// What can stop the demo.
#[derive(Debug, Error)]
pub enum DemoError {
    /// A shipped study cannot be loaded.
    #[error(transparent)]
    Study(#[from] crate::study::StudyError),
    /// A step of the pipeline failed.
    #[error("{what}: {message}")]
    Step {
        /// The step.
        what: String,
        /// Its error.
        message: String,
    },
    /// A result file cannot be written.
    #[error("writing '{path}': {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

fn step(what: &str, e: impl std::fmt::Display) -> DemoError {
    DemoError::Step {
        what: what.into(),
        message: e.to_string(),
    }
}

/// The free inputs of `study` at the stated [`TRUTH`] (converted to the model's units).
fn truth_theta(study: &Study) -> Result<Vec<f64>, DemoError> {
    study
        .model
        .inputs()
        .iter()
        .map(|i| {
            let (_, v, u) = TRUTH.iter().find(|(n, _, _)| *n == i.name).ok_or_else(|| {
                step(
                    "synthetic data",
                    format!("no stated value for '{}'", i.name),
                )
            })?;
            let c = conversion_factor(u, &i.unit)
                .ok_or_else(|| step("synthetic data", format!("unit '{u}' vs '{}'", i.unit)))?;
            Ok(v * c)
        })
        .collect()
}

/// Write one CSV per experiment of `truth_study` (time_s,current_A,voltage_V, discharge
/// positive, up to the cut-off) into `out_dir`, the chain's voltage at [`TRUTH`] plus
/// N(0, [`NOISE_V`]²) noise. Returns the files written.
pub fn make_synthetic_data(truth_study: &Path, out_dir: &Path) -> Result<Vec<PathBuf>, DemoError> {
    let study = load_study(truth_study)?;
    let chain = study
        .model
        .inner
        .as_chain()
        .ok_or_else(|| step("synthetic data", "the truth study must be a cell study"))?;
    let theta = truth_theta(&study)?;
    let y = evaluate(&study.model, &theta).map_err(|e| step("synthetic data", e))?;
    let outs = study.model.outputs();
    let mut rng = crate::dist::sample::stream_rng(DATA_SEED, 0);
    let mut files = Vec::new();
    let nominal = 5.0; // A h, the LG M50's nominal capacity (the BPX's)
    for (k, e) in chain.experiments().iter().enumerate() {
        let crate::chain::Drive::CRate(c) = e.drive else {
            return Err(step(
                "synthetic data",
                "experiments must be constant C-rate",
            ));
        };
        let current = c * nominal;
        let vi = chain.voltage_output(k);
        let off: usize = outs[..vi].iter().map(|o| o.len()).sum();
        let capacity = y[off + e.times.len()];
        let t_end = capacity / current * 3600.0;
        let mut csv = String::from("time_s,current_A,voltage_V\n");
        for (j, &t) in e.times.iter().enumerate() {
            if t > t_end {
                break;
            }
            let n: f64 = StandardNormal.sample(&mut rng);
            csv.push_str(&format!("{t},{current},{:.6}\n", y[off + j] + NOISE_V * n));
        }
        let p = out_dir.join(format!("lgm50_synthetic_{}.csv", e.name));
        crate::output::write_atomic(&p, csv.as_bytes()).map_err(|source| DemoError::Io {
            path: p.clone(),
            source,
        })?;
        files.push(p);
    }
    Ok(files)
}

/// Demo settings: `quick` cuts every sample count (for tests), `root` is the folder holding
/// `models/` and `priors/`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The folder holding `models/` and `priors/` (the repository).
    pub root: PathBuf,
    /// The output folder (`reports/demo` by default in the CLI).
    pub out: PathBuf,
    /// Reduced sample counts.
    pub quick: bool,
    /// Seed of every engine run.
    pub seed: u64,
    /// Show progress bars (only on a terminal).
    pub progress: bool,
}

/// What the demo produced.
#[derive(Debug, Clone)]
pub struct DemoOutput {
    /// The HTML report written.
    pub report: PathBuf,
    /// Short parameter table (Markdown) printed at the end.
    pub table: String,
    /// The atomistic inputs in refine-next order.
    pub refine_next: Vec<String>,
    /// Wall time of the whole demo \[s\].
    pub seconds: f64,
}

struct Log {
    t0: Instant,
    progress: bool,
}

impl Log {
    fn say(&self, msg: &str) {
        if self.progress {
            eprintln!("[{:6.1} s] {msg}", self.t0.elapsed().as_secs_f64());
        }
    }
}

fn propagate_study(
    opts: &DemoOptions,
    rel: &str,
    samples: u64,
) -> Result<(Study, PropagationResults), DemoError> {
    let study = load_study(&opts.root.join(rel))?;
    let mc = McSettings {
        samples,
        seed: opts.seed,
        progress: opts.progress,
        ..McSettings::default()
    };
    let mut r = propagate::propagate(&study.model, &study.dist, Method::Mc, &mc)
        .map_err(|e| step(rel, e))?;
    r.delta = Some(propagate::delta_method(&study.model, &study.dist).map_err(|e| step(rel, e))?);
    r.nonlinearity = r
        .monte_carlo
        .iter()
        .map(|m| propagate::compare(r.delta.as_ref().expect("set above"), m))
        .collect();
    if !study.title.is_empty() {
        r.title = study.title.clone();
    }
    Ok((study, r))
}

/// Give every figure of `sections` a file-name prefix, so that the figures (and the CSV behind
/// them) of several runs in one report do not overwrite each other.
fn prefix_figures(sections: &mut [Section], prefix: &str) {
    for s in sections {
        for f in s.figures_mut() {
            f.name = format!("{prefix}_{}", f.name);
        }
    }
}

fn fmt_pm(mean: f64, sd: f64, unit: &str) -> String {
    crate::report::format::value_sd(mean, sd, unit)
}

/// Run the demo: see the module documentation. Writes `report.html` (+ figures and the CSV/JSON
/// behind them) into `opts.out`.
pub fn run_demo(opts: &DemoOptions) -> Result<DemoOutput, DemoError> {
    let log = Log {
        t0: Instant::now(),
        progress: opts.progress,
    };
    let q = opts.quick;
    let mut sections: Vec<Section> = Vec::new();
    let mut table = String::from("| quantity | value | source |\n|---|---|---|\n");
    let mut prov = Provenance::new();
    prov.seed = Some(opts.seed);

    // 1. Parameter sets with error bars from the atomistic priors.
    let studies = [
        ("models/graphite_diffusivity_neb.toml", "D_tr"),
        ("models/lfp_plateau.toml", "U_plateau"),
        ("models/lfp_ocv_phase_separation.toml", ""),
        ("models/lfp_thermodynamic_factor.toml", ""),
        ("models/graphite_exchange_current.toml", "i0"),
        ("models/llzo_conductivity_300K.toml", ""),
    ];
    for (k, (rel, headline)) in studies.iter().enumerate() {
        log.say(&format!("1.{} propagate {rel}", k + 1));
        let (study, r) = propagate_study(opts, rel, if q { 1000 } else { 20_000 })?;
        for p in &study.priors_files {
            let pf = Provenance::from_study(&opts.root.join(rel), std::slice::from_ref(p));
            for e in pf.priors {
                if !prov.priors.iter().any(|x| x.path == e.path) {
                    prov.priors.push(e);
                }
            }
        }
        if !headline.is_empty()
            && let Some(mc) = r.monte_carlo.first()
            && let Some(o) = mc.outputs.iter().find(|o| o.label == *headline)
        {
            table.push_str(&format!(
                "| {} | {} | {} |\n",
                crate::report::format::label(&o.label),
                fmt_pm(o.mean, o.sd, &o.unit),
                rel
            ));
        }
        let mut s = propagation_sections(&r);
        let stem = Path::new(rel)
            .file_stem()
            .map_or(String::new(), |x| x.to_string_lossy().into_owned());
        prefix_figures(&mut s, &stem);
        sections.extend(s);
    }

    // 2. The chain's voltage band: atomistic inputs → D_n(T), i0(T) → SPMe voltage.
    let chain_rel = "models/lgm50_chain_voltage_band.toml";
    log.say(&format!("2   voltage band through the chain ({chain_rel})"));
    let (chain_study, band) = propagate_study(opts, chain_rel, if q { 48 } else { 400 })?;
    if let Some(mc) = band.monte_carlo.first() {
        for o in mc.outputs.iter().filter(|o| {
            o.label.starts_with("capacity_") || o.label.starts_with("V_") || o.label == "D_n"
        }) {
            table.push_str(&format!(
                "| {} | {} | {chain_rel} |\n",
                crate::report::format::label(&o.label),
                fmt_pm(o.mean, o.sd, &o.unit)
            ));
        }
    }
    let mut s = propagation_sections(&band);
    prefix_figures(&mut s, "chain_band");
    sections.extend(s);

    // 3. Which atomistic calculation to refine next, for the device-level prediction.
    log.say("3   sensitivity of the voltage curve to the atomistic inputs");
    let (m, d) = (&chain_study.model, &chain_study.dist);
    let parts = SensitivityParts {
        local: Some(sensitivity::local(m, d).map_err(|e| step("sensitivity", e))?),
        variance: Some(sensitivity::delta_variance(m, d).map_err(|e| step("sensitivity", e))?),
        ranking: Some(
            sensitivity::ranking(
                m,
                d,
                &RankingSettings {
                    mc_samples: if q { 0 } else { 128 },
                    seed: opts.seed,
                    progress: opts.progress,
                },
            )
            .map_err(|e| step("sensitivity", e))?,
        ),
        ..Default::default()
    };
    let refine_next: Vec<String> = parts
        .ranking
        .as_ref()
        .map(|r| r.headline().iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    let mut s = sensitivity_sections(&parts);
    prefix_figures(&mut s, "chain_sensitivity");
    sections.extend(s);

    // 4. Calibration of the atomistic inputs against the (synthetic) discharge curves.
    let cal_rel = "models/lgm50_chain_calibration.toml";
    log.say(&format!("4   NUTS calibration ({cal_rel})"));
    let cal = load_study(&opts.root.join(cal_rel))?;
    let cal_chain = cal
        .model
        .inner
        .as_chain()
        .ok_or_else(|| step(cal_rel, "not a cell study"))?;
    let mut obs = Vec::new();
    for (k, e) in cal_chain.experiments().iter().enumerate() {
        if let Some(dat) = &e.data {
            prov.data_files.push(dat.path.display().to_string());
            obs.push(CurveObservation {
                name: e.name.clone(),
                output: cal_chain.voltage_output(k),
                values: dat.curve.voltage_v.clone(),
                noise: Noise::Inferred {
                    prior: SigmaPrior::HalfNormal { scale: 0.01 },
                },
            });
        }
    }
    let post = Posterior::new(&cal.model, &cal.dist, obs, Likelihood::Gaussian)
        .map_err(|e| step(cal_rel, e))?;
    let cfg = NutsConfig {
        tune: if q { 60 } else { 300 },
        draws: if q { 60 } else { 300 },
        chains: if q { 2 } else { 4 },
        seed: opts.seed,
        init: InitStrategy::Map,
        max_depth: 6,
        progress: opts.progress,
        ..NutsConfig::default()
    };
    let cal_dir = opts.out.join("calibrate");
    crate::output::create_dir_all(&cal_dir).map_err(|source| DemoError::Io {
        path: cal_dir.clone(),
        source,
    })?;
    let res =
        calibrate::calibrate_and_write(&post, &cfg, &cal_dir, "lgm50_chain", "bridgelaw-chain")
            .map_err(|e| step(cal_rel, e))?;
    for p in &res.summary.params {
        let truth =
            TRUTH
                .iter()
                .find(|(n, _, _)| *n == p.name)
                .map_or(String::new(), |(_, v, u)| {
                    // In the posterior's unit, so that the two compare at a glance.
                    let t = conversion_factor(u, &p.unit).map_or_else(
                        || crate::report::format::num_unit(*v, u),
                        |c| crate::report::format::num_unit(v * c, &p.unit),
                    );
                    format!(" (synthetic truth {t})")
                });
        table.push_str(&format!(
            "| posterior {} | {}, 90 % interval {}, moved {} prior sd{truth} | {cal_rel} |\n",
            crate::report::format::name(&p.name),
            fmt_pm(p.mean, p.sd, &p.unit),
            crate::report::format::with_unit(
                &crate::report::format::Scale::of(p.mean, p.sd).interval(p.q5, p.q95),
                &p.unit
            ),
            format!("{:+.1}", p.shift_prior_sd).replace('-', "−")
        ));
    }
    let view = view_from_run(&cal.title, &post, &res);
    // So that `bridgelaw report reports/demo/calibrate` can redraw this part on its own.
    let view_path = cal_dir.join(crate::report::calibrate_report::CALIBRATION_VIEW_JSON);
    let view_json = serde_json::to_string(&view).map_err(|e| step(cal_rel, e))?;
    crate::output::write_atomic(&view_path, view_json.as_bytes()).map_err(|source| {
        DemoError::Io {
            path: view_path.clone(),
            source,
        }
    })?;
    let mut cs = calibration_sections(&view);
    if let Some(first) = cs.first_mut() {
        first.blocks.insert(
            0,
            Block::Warning(format!(
                "The measured curves of this calibration are SYNTHETIC: made by the project's own SPMe chain \
                 (models/demo/synthetic_truth.toml) at E_m = 0.40 eV, nu0 = 5 × 10¹² Hz and an exchange-current activation energy of 35 kJ/mol, \
                 plus {:.0} mV Gaussian noise (`bridgelaw demo --make-data`).",
                NOISE_V * 1e3
            )),
        );
    }
    prefix_figures(&mut cs, "calibration");
    sections.extend(cs);

    // 5. The report.
    log.say("5   report");
    let mut summary = Section {
        heading: "Summary".into(),
        blocks: vec![Block::Paragraph(
            "The whole chain on the shipped studies: atomistic priors (priors/) → parameter sets with error bars → \
             the SPMe voltage band through the chain → the sensitivity ranking → NUTS calibration of the \
             atomistic inputs against synthetic discharge curves."
                .into(),
        )],
        ..Default::default()
    };
    let mut t = Table {
        caption: "Headline numbers (mean ± sd, Monte Carlo or posterior)".into(),
        header: vec!["quantity".into(), "value".into(), "study".into()],
        ..Default::default()
    };
    for line in table.lines().skip(2) {
        let cells: Vec<String> = line
            .trim_matches('|')
            .split(" | ")
            .map(|c| c.trim().to_string())
            .collect();
        t.rows.push(cells);
    }
    summary.blocks.push(Block::Table(t));
    if !refine_next.is_empty() {
        summary.blocks.push(Block::Paragraph(format!(
            "Refine next (largest reduction of the voltage-curve variance if its sd were halved): {}.",
            refine_next
                .iter()
                .map(|n| crate::report::format::name(n))
                .collect::<Vec<_>>()
                .join(" → ")
        )));
    }
    sections.insert(0, summary);
    sections.insert(
        1,
        crate::report::run::reading_guide(crate::report::run::Contents {
            propagation: true,
            sensitivity: true,
            calibration: true,
        }),
    );
    prov.settings = vec![
        (
            "mode".into(),
            if q { "quick".into() } else { "full".into() },
        ),
        (
            "NUTS".into(),
            format!(
                "{} chains × ({} tune + {} draws)",
                cfg.chains, cfg.tune, cfg.draws
            ),
        ),
    ];
    let report = Report {
        title: "bridgelaw demo: from NEB barriers to LG M50 discharge curves".into(),
        subtitle: "propagation, multiscale chain, sensitivity and calibration (bridgelaw)".into(),
        sections,
        provenance: prov.entries(),
    };
    let html = write_report(&opts.out, &report).map_err(|source| DemoError::Io {
        path: opts.out.clone(),
        source,
    })?;
    log.say("done");
    Ok(DemoOutput {
        report: html,
        table,
        refine_next,
        seconds: log.t0.elapsed().as_secs_f64(),
    })
}
