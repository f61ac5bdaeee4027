//! `bridgelaw calibrate STUDY`: NUTS (or MAP + Laplace) calibration of a cell study's free
//! parameters against its measured curves, with the atomistic priors as the prior.

use super::CliError;
use super::propagate::default_out;
use bridgelaw::Model;
use bridgelaw::calibrate::{
    self, CurveObservation, InitStrategy, Likelihood, MassMatrix, Noise, NutsConfig, Posterior,
    SigmaPrior, read_curve,
};
use bridgelaw::output::write_atomic;
use bridgelaw::report::calibrate_report::{
    CALIBRATION_VIEW_JSON, calibration_report, view_from_map, view_from_run,
};
use bridgelaw::report::provenance;
use bridgelaw::study::{Study, load_study};
use clap::Args;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// A cell study file (models/*.toml) whose experiments carry measured data.
    pub study: PathBuf,
    /// Measured curves replacing the study's, in the order of its data experiments (same sign
    /// convention; read at the experiment's output times).
    #[arg(long, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Chains (run in parallel).
    #[arg(long)]
    pub chains: Option<usize>,
    /// Kept draws per chain.
    #[arg(long)]
    pub draws: Option<u64>,
    /// Warm-up iterations per chain.
    #[arg(long)]
    pub tune: Option<u64>,
    /// Master seed (chain c uses stream c): the run is reproducible for a seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Fast mode: MAP (L-BFGS on the exact gradient) and a Laplace approximation, no sampling.
    #[arg(long)]
    pub map: bool,
    /// Output directory (default reports/<study name>/calibrate).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write report.html (figures, tables, provenance) into the output directory.
    #[arg(long)]
    pub report: bool,
}

/// The study file's [calibrate] section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrateSection {
    pub chains: Option<usize>,
    pub draws: Option<u64>,
    pub tune: Option<u64>,
    pub seed: Option<u64>,
    pub target_accept: Option<f64>,
    pub max_depth: Option<u64>,
    /// "prior" or "map".
    pub init: Option<String>,
    /// "diag" or "low_rank".
    pub mass_matrix: Option<String>,
    /// Noise model of every curve (default: σ inferred, half-normal prior with scale 10 mV).
    pub noise: Option<Noise>,
    pub likelihood: Option<Likelihood>,
}

/// The observations of a study: one per experiment with data (σ named `sigma_<experiment>`).
pub fn observations(
    study: &Study,
    replace: &[PathBuf],
    noise: Noise,
) -> Result<Vec<CurveObservation>, CliError> {
    let chain = study.model.inner.as_chain().ok_or_else(|| {
        CliError::bad(format!(
            "{}: field 'model': calibration needs a cell study (`cell = \"spm\"|\"spme\"`) with measured data on its experiments",
            study.path.display()
        ))
    })?;
    let with_data: Vec<usize> = (0..chain.experiments().len())
        .filter(|&k| chain.experiments()[k].data.is_some())
        .collect();
    if with_data.is_empty() {
        return Err(CliError::bad(format!(
            "{}: field 'model.experiment': expected at least one experiment with `data = \"FILE.csv\"`, found none",
            study.path.display()
        )));
    }
    if !replace.is_empty() && replace.len() != with_data.len() {
        return Err(CliError::bad(format!(
            "--data: expected {} files (one per data experiment: {}), found {}",
            with_data.len(),
            with_data
                .iter()
                .map(|&k| chain.experiments()[k].name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            replace.len()
        )));
    }
    let mut obs = Vec::new();
    for (j, &k) in with_data.iter().enumerate() {
        let e = &chain.experiments()[k];
        let d = e.data.as_ref().expect("filtered on data");
        if d.step > 1 {
            eprintln!(
                "curve {}: {} of the {} rows of {} used (every {}-th row; max_points)",
                e.name,
                d.curve.time_s.len(),
                d.rows_in_file,
                d.path.display(),
                d.step
            );
        }
        let values = match replace.get(j) {
            None => d.curve.voltage_v.clone(),
            Some(p) => {
                let mut c = read_curve(p, d.curve.sign).map_err(CliError::bad)?;
                let t0 = c.time_s[0];
                c.time_s.iter_mut().for_each(|t| *t -= t0);
                same_current(&c, &d.curve, p, &d.path)?;
                c.voltage_at(&e.times)
                    .map_err(|err| CliError::bad(format!("--data {}: {err}", p.display())))?
            }
        };
        // The model output sits on the experiment's times, which are the data's own.
        let output = study
            .model
            .outputs()
            .iter()
            .position(|o| o.name == format!("voltage_{}", e.name))
            .expect("every experiment has a voltage output");
        obs.push(CurveObservation {
            name: e.name.clone(),
            output,
            values,
            noise,
        });
    }
    Ok(obs)
}

pub fn run(a: CalibrateArgs) -> Result<(), CliError> {
    let study = load_study(&a.study).map_err(CliError::bad)?;
    let sec: CalibrateSection = study.section("calibrate").map_err(CliError::bad)?;
    let bad_field = |field: &str, expected: &str, found: &str| {
        CliError::bad(format!(
            "{}: field 'calibrate.{field}': expected {expected}, found '{found}'",
            a.study.display()
        ))
    };
    let d = NutsConfig::default();
    let cfg = NutsConfig {
        tune: a.tune.or(sec.tune).unwrap_or(d.tune),
        draws: a.draws.or(sec.draws).unwrap_or(d.draws),
        chains: a.chains.or(sec.chains).unwrap_or(d.chains),
        seed: a.seed.or(sec.seed).unwrap_or(d.seed),
        target_accept: sec.target_accept.unwrap_or(d.target_accept),
        max_depth: sec.max_depth.unwrap_or(d.max_depth),
        init: match sec.init.as_deref() {
            None | Some("map") => InitStrategy::Map,
            Some("prior") => InitStrategy::Prior,
            Some(o) => return Err(bad_field("init", "\"map\" or \"prior\"", o)),
        },
        mass_matrix: match sec.mass_matrix.as_deref() {
            None | Some("diag") => MassMatrix::Diag,
            Some("low_rank") => MassMatrix::LowRank,
            Some(o) => return Err(bad_field("mass_matrix", "\"diag\" or \"low_rank\"", o)),
        },
        progress: true,
    };
    cfg.validate()
        .map_err(|e| CliError::bad(format!("{}: {e}", a.study.display())))?;
    let noise = sec.noise.unwrap_or(Noise::Inferred {
        prior: SigmaPrior::HalfNormal { scale: 0.01 },
    });
    let obs = observations(&study, &a.data, noise)?;
    let post = Posterior::new(
        &study.model,
        &study.dist,
        obs,
        sec.likelihood.unwrap_or_default(),
    )
    .map_err(CliError::bad)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| default_out(&a.study, "calibrate"));
    std::fs::create_dir_all(&out)
        .map_err(|e| CliError::failed(format!("creating {}: {e}", out.display())))?;
    let stem = a
        .study
        .file_stem()
        .map_or("study".into(), |s| s.to_string_lossy().into_owned());
    let title = if study.title.is_empty() {
        stem.clone()
    } else {
        study.title.clone()
    };
    let mut prov = provenance::Provenance::from_study(&a.study, &study.priors_files);
    prov.seed = Some(cfg.seed);
    prov.data_files = if a.data.is_empty() {
        study
            .model
            .inner
            .as_chain()
            .map(|c| {
                c.experiments()
                    .iter()
                    .filter_map(|e| e.data.as_ref())
                    .map(|d| d.path.display().to_string())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        a.data.iter().map(|p| p.display().to_string()).collect()
    };
    let view = if a.map {
        let (r, path) = calibrate::map_and_write(&post, &Default::default(), &out, &stem)
            .map_err(calibrate_error)?;
        println!(
            "MAP + Laplace approximation: {} ln p at the MAP = {:.3}.",
            r.stop_sentence(),
            r.log_density
        );
        let s = &r.starts;
        println!(
            "starts: {} optimisations, {} ended at this mode, {} stopped early; the log density failed at {} of {} start points",
            s.runs.len(),
            s.agreeing,
            s.stopped_early(),
            s.failed,
            s.tried
        );
        println!(
            "| parameter | unit | MAP | Laplace mean | sd | 5 % | 95 % |\n|---|---|---|---|---|---|---|"
        );
        for p in &r.summary {
            println!(
                "| {} | {} | {:.5e} | {:.5e} | {:.3e} | {:.5e} | {:.5e} |",
                p.name, p.unit, p.mode, p.mean, p.sd, p.q5, p.q95
            );
        }
        let mut map_theta = vec![0.0; post.dim()];
        post.natural_from_z(&r.z, &mut map_theta);
        map_theta.truncate(post.n_theta());
        print_curve_rmse(&post, &[("MAP", map_theta)]);
        for w in r.warnings() {
            eprintln!("warning: {w}");
        }
        eprintln!("wrote {}", path.display());
        prov.settings = vec![
            ("method".into(), "MAP + Laplace".into()),
            ("noise".into(), format!("{noise:?}")),
        ];
        view_from_map(&title, &post, &r, cfg.seed).map_err(calibrate_error)?
    } else {
        let model_name = match study.model.inner.as_chain() {
            Some(_) => "bridgelaw-chain",
            None => "bridgelaw",
        };
        let res = calibrate::calibrate_and_write(&post, &cfg, &out, &stem, model_name)
            .map_err(calibrate_error)?;
        println!("{}", res.summary.to_table());
        let mean: Vec<f64> = res.summary.params[..post.n_theta()]
            .iter()
            .map(|p| p.mean)
            .collect();
        print_curve_rmse(&post, &[("posterior mean", mean)]);
        for w in &res.summary.warnings {
            eprintln!("warning: {w}");
        }
        for b in &res.bands {
            println!(
                "{}: {:.0} % of {} points inside the 90 % predictive band (median prediction: RMS residual {:.2} mV)",
                b.name,
                100.0 * b.coverage90,
                b.data.len(),
                1e3 * b.rmse
            );
        }
        for f in &res.files {
            eprintln!("wrote {}", f.display());
        }
        prov.settings = vec![
            ("method".into(), "NUTS".into()),
            ("chains".into(), cfg.chains.to_string()),
            ("tune".into(), cfg.tune.to_string()),
            ("draws".into(), cfg.draws.to_string()),
            ("target_accept".into(), cfg.target_accept.to_string()),
            ("max_depth".into(), cfg.max_depth.to_string()),
            ("noise".into(), format!("{noise:?}")),
        ];
        view_from_run(&title, &post, &res)
    };
    // The run folder: the report's inputs always (`bridgelaw report` reads any calibrate
    // folder), the HTML with --report.
    let view_file = out.join(CALIBRATION_VIEW_JSON);
    write_atomic(
        &view_file,
        serde_json::to_string(&view)
            .map_err(CliError::failed)?
            .as_bytes(),
    )
    .map_err(|e| CliError::failed(format!("{}: {e}", view_file.display())))?;
    eprintln!("wrote {}", view_file.display());
    super::finish_run_folder(
        &out,
        &prov,
        a.report.then(|| calibration_report(&view, &prov)),
    )
}

/// A calibration error as the CLI reports it: no workable start point is the user's input
/// (exit 2: the prior and the data do not fit the model anywhere near the prior centre), the
/// rest a failed run.
fn calibrate_error(e: calibrate::CalibrateError) -> CliError {
    match e {
        calibrate::CalibrateError::NoValidStart { .. } => CliError::bad(e),
        e => CliError::failed(e),
    }
}

/// A `--data` file replaces a study curve's voltage only: the model is driven by the study
/// curve's current, so the file's current must be that current (within 2 % of its largest
/// magnitude, at the study curve's times inside the file's range), else the fit would compare
/// the model with a different experiment.
fn same_current(
    file: &calibrate::MeasuredCurve,
    study: &calibrate::MeasuredCurve,
    file_path: &std::path::Path,
    study_path: &std::path::Path,
) -> Result<(), CliError> {
    let si = study.discharge_current();
    let imax = si.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let t_end = *file.time_s.last().unwrap_or(&0.0);
    let n = study.time_s.partition_point(|&t| t <= t_end);
    let fi = file
        .discharge_current_at(&study.time_s[..n])
        .map_err(|e| CliError::bad(format!("--data {}: {e}", file_path.display())))?;
    let worst = fi
        .iter()
        .zip(&si)
        .zip(&study.time_s)
        .map(|((f, s), &t)| ((f - s).abs(), t))
        .fold((0.0f64, 0.0), |a, b| if b.0 > a.0 { b } else { a });
    if worst.0 > 0.02 * imax.max(1e-3) {
        return Err(CliError::bad(format!(
            "--data {}: its current differs from that of the study's curve {} by {:.4} A at t = {:.1} s \
             (largest study current {imax:.4} A, discharge positive); the model is driven by the study's \
             current, so --data must come from the same protocol",
            file_path.display(),
            study_path.display(),
            worst.0,
            worst.1
        )));
    }
    Ok(())
}

/// Per curve, the RMS residual [mV] at each of `fits` (label, natural model parameters) and at
/// the prior centre: how far the data moved the fit.
fn print_curve_rmse<M: bridgelaw::Model>(
    post: &calibrate::Posterior<'_, M>,
    fits: &[(&str, Vec<f64>)],
) {
    let mut centre = vec![0.0; post.dim()];
    post.natural_from_z(&post.prior_centre(), &mut centre);
    centre.truncate(post.n_theta());
    let rmse: Vec<(&str, Result<Vec<f64>, _>)> = fits
        .iter()
        .map(|(label, theta)| (*label, post.curve_rmse(theta)))
        .chain([("prior centre", post.curve_rmse(&centre))])
        .collect();
    for c in 0..post.n_curves() {
        let at: Vec<String> = rmse
            .iter()
            .map(|(label, r)| match r {
                Ok(v) => format!("{:.2} mV at the {label}", 1e3 * v[c]),
                Err(_) => format!("model fails at the {label}"),
            })
            .collect();
        println!("{}: RMS residual {}", post.curve_name(c), at.join(", "));
    }
}
