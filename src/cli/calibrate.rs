//! `bridgelaw calibrate STUDY`: NUTS (or MAP + Laplace) calibration of a cell study's free
//! parameters against its measured curves, with the atomistic priors as the prior.

use super::CliError;
use super::propagate::default_out;
use bridgelaw::calibrate::study::{CalibrateSection, held_out, observations};
use bridgelaw::calibrate::validate::{
    CurveRole, FitPoints, ValidationReport, held_out_bands, held_out_noise, rmse_rows,
};
use bridgelaw::calibrate::{self, Posterior};
use bridgelaw::output::write_atomic;
use bridgelaw::report::calibrate_report::{
    CALIBRATION_VIEW_JSON, LAPLACE_DRAWS, calibration_report, view_from_map, view_from_run,
};
use bridgelaw::report::provenance;
use bridgelaw::study::load_study;
use clap::Args;
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
    /// Measured curves held out of the fit (validation): each is simulated under its own
    /// current (same sign convention and point count as the study's first data curve) and
    /// gets a posterior-predictive band, its RMS residual and the coverage of its 90 % and
    /// 95 % bands, written to STEM_validation.json and STEM_validate_ppc_*.csv.
    #[arg(long, num_args = 1..)]
    pub validate: Vec<PathBuf>,
    /// Cell temperature [K] of the --validate curves: one for all or one per file (default:
    /// the temperature of the study's first data experiment).
    #[arg(long, num_args = 1.., requires = "validate")]
    pub validate_temperature: Vec<f64>,
    /// Output directory (default reports/<study name>/calibrate).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write report.html (figures, tables, provenance) into the output directory.
    #[arg(long)]
    pub report: bool,
    /// Replace the result of a previous run in --out (kept until the new run is complete).
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: CalibrateArgs) -> Result<(), CliError> {
    let study = load_study(&a.study).map_err(CliError::bad)?;
    let mut sec: CalibrateSection = study.section("calibrate").map_err(CliError::bad)?;
    sec.tune = a.tune.or(sec.tune);
    sec.draws = a.draws.or(sec.draws);
    sec.chains = a.chains.or(sec.chains);
    sec.seed = a.seed.or(sec.seed);
    let cfg = sec.nuts_config(&a.study).map_err(CliError::bad)?;
    let noise = sec.noise();
    let (obs, notes) = observations(&study, &a.data, noise).map_err(CliError::bad)?;
    for n in notes {
        eprintln!("{n}");
    }
    let post = Posterior::new(
        &study.model,
        &study.dist,
        obs,
        sec.likelihood.unwrap_or_default(),
    )
    .map_err(CliError::bad)?;
    // Held-out curves are read and their model built before the fit, so bad input stops the
    // run at once.
    let held = if a.validate.is_empty() {
        None
    } else {
        Some(
            held_out(
                &study,
                &a.validate,
                &a.validate_temperature,
                held_out_noise(&post),
            )
            .map_err(CliError::bad)?,
        )
    };
    let held_post = match &held {
        None => None,
        Some(h) => Some(
            Posterior::new(
                &h.model,
                &study.dist,
                h.observations.clone(),
                post.likelihood(),
            )
            .map_err(CliError::bad)?,
        ),
    };
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| default_out(&a.study, "calibrate"));
    // Locked and checked once the input is known good, before the work.
    let run = super::begin_run_folder(&out, a.force)?;
    let out = run.path().to_path_buf();
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
    // Filled by either method: the draws in z (for the held-out bands), the MAP in z and the
    // posterior mean in natural units (for the residual table).
    let draws_z: Vec<Vec<f64>>;
    let map_z: Option<Vec<f64>>;
    let posterior_mean: Option<Vec<f64>>;
    let view = if a.map {
        let (r, _) = calibrate::map_and_write(&post, &Default::default(), &out, &stem)
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
        draws_z = r.laplace_draws_z(LAPLACE_DRAWS, cfg.seed);
        map_z = Some(r.z.clone());
        posterior_mean =
            (!r.summary.is_empty()).then(|| r.summary.iter().map(|p| p.mean).collect());
        for w in r.warnings() {
            eprintln!("warning: {w}");
        }
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
        draws_z = res.run.draws_z().iter().map(|z| z.to_vec()).collect();
        map_z = res.run.map_z.clone();
        posterior_mean = Some(res.summary.params.iter().map(|p| p.mean).collect());
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
    let points = FitPoints::new(&post, map_z.as_deref(), posterior_mean);
    let fit_rows = rmse_rows(&post, CurveRole::Fit, &points);
    let validation = match (&held, &held_post) {
        (Some(h), Some(hp)) => {
            let refs: Vec<&[f64]> = draws_z.iter().map(Vec::as_slice).collect();
            let bands = held_out_bands(
                &post,
                hp,
                &refs,
                calibrate::BAND_DRAWS,
                cfg.seed,
                &calibrate::summary::COVERAGE_LEVELS,
            )
            .map_err(calibrate_error)?;
            let files = calibrate::summary::write_bands(&bands, &out, &format!("{stem}_validate"))
                .map_err(calibrate_error)?;
            for f in files {
                eprintln!("wrote {}", f.display());
            }
            ValidationReport::new(
                &points,
                fit_rows,
                rmse_rows(hp, CurveRole::HeldOut, &points),
                &bands,
                &h.files,
                &h.temperatures_k,
            )
        }
        _ => ValidationReport::new(&points, fit_rows, vec![], &[], &[], &[]),
    };
    for line in validation.lines() {
        println!("{line}");
    }
    let vfile = validation.write(&out, &stem).map_err(calibrate_error)?;
    eprintln!("wrote {}", vfile.display());
    prov.settings.extend(
        a.validate
            .iter()
            .map(|p| ("validate".into(), p.display().to_string())),
    );
    // The run folder: the report's inputs always (`bridgelaw report` reads any calibrate
    // folder), the HTML with --report.
    let view_file = out.join(CALIBRATION_VIEW_JSON);
    write_atomic(
        &view_file,
        serde_json::to_string(&view)
            .map_err(CliError::failed)?
            .as_bytes(),
    )
    .map_err(|e| CliError::failed(format!("{}: {e}", run.shown(&view_file).display())))?;
    super::finish_run_folder(run, "calibrate", &mut prov, |prov| {
        a.report.then(|| calibration_report(&view, prov))
    })
}

/// A calibration error as the CLI reports it: no workable start point is the user's input
/// (exit 2: the prior and the data do not fit the model anywhere near the prior centre), the
/// rest a failed run.
pub(super) fn calibrate_error(e: calibrate::CalibrateError) -> CliError {
    match e {
        calibrate::CalibrateError::NoValidStart { .. } | calibrate::CalibrateError::Input(_) => {
            CliError::bad(e)
        }
        e => CliError::failed(e),
    }
}
