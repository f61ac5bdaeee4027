//! `bridgelaw calibrate STUDY`: NUTS (or MAP + Laplace) calibration of a cell study's free
//! parameters against its measured curves, with the atomistic priors as the prior.

use super::CliError;
use super::propagate::default_out;
use bridgelaw::calibrate::NutsConfig;
use bridgelaw::calibrate::part::NutsPart;
use bridgelaw::calibrate::study::{
    CalibrateSection, DataOverrides, held_out, observations, override_data,
};
use bridgelaw::calibrate::validate::{
    CurveRole, FitPoints, ValidationReport, held_out_bands, held_out_noise, rmse_rows,
};
use bridgelaw::calibrate::{self, Posterior};
use bridgelaw::cycler::{DuplicateTimes, Selection};
use bridgelaw::model::Model;
use bridgelaw::output::write_atomic;
use bridgelaw::report::calibrate_report::{
    CALIBRATION_VIEW_JSON, LAPLACE_DRAWS, calibration_report, view_from_map, view_from_run,
};
use bridgelaw::report::provenance;
use bridgelaw::run_folder::{RunFolder, interrupted};
use bridgelaw::shard::{
    PartFile, PartHeader, ShardSpec, files_fingerprint, read_part_body, study_hash,
};
use bridgelaw::study::{Study, load_study};
use calibrate::NutsRun;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// A cell study file (models/*.toml) whose experiments carry measured data.
    pub study: PathBuf,
    /// Measured curves replacing the study's, in the order of its data experiments (same sign
    /// convention; read at the experiment's output times).
    #[arg(long, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Fit only the rows of each data file with T0 ≤ t ≤ T1 [s, the file's own time]: one
    /// window for every data experiment or one per data experiment, in order; replaces the
    /// study's window and steps. The cell is still driven by the measured current from each
    /// file's first row, so its state at T0 is that of the protocol before.
    #[arg(long, num_args = 1.., value_name = "T0:T1", value_parser = Selection::parse_window)]
    pub window: Vec<(f64, f64)>,
    /// Repeated time stamps in the data files: error (default), drop (keep the first row of
    /// each run of equal times) or average (one row with the mean of each column); replaces
    /// the study's duplicate_times.
    #[arg(long, value_name = "error|drop|average", value_parser = parse_duplicate_times)]
    pub duplicate_times: Option<DuplicateTimes>,
    #[command(flatten)]
    pub sampler: SamplerArgs,
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
    /// Sample shard K of N (1 ≤ K ≤ N) of the chains (chains ⌊(K−1)·C/N⌋ … ⌊K·C/N⌋−1 of C)
    /// and write the part file calibrate-part-K-of-N.json into --out (default
    /// reports/<study name>/calibrate-parts); `bridgelaw merge` combines the N parts into the
    /// run folder a single process writes.
    #[arg(long, conflicts_with_all = ["map", "report"])]
    pub shard: Option<ShardSpec>,
    /// Replace the result of a previous run in --out (kept until the new run is complete).
    #[arg(long)]
    pub force: bool,
}

/// The sampler settings `calibrate` and `calibrate-fleet` take on the command line, each
/// overriding the study's `[calibrate]` value.
#[derive(Debug, Clone, Default, Args)]
pub struct SamplerArgs {
    /// Chains (run in parallel).
    #[arg(long)]
    pub chains: Option<usize>,
    /// Kept draws per chain.
    #[arg(long)]
    pub draws: Option<u64>,
    /// Warm-up iterations per chain.
    #[arg(long)]
    pub tune: Option<u64>,
    /// Master seed of every random stream: the run is reproducible for a seed.
    #[arg(long)]
    pub seed: Option<u64>,
}

impl SamplerArgs {
    /// The study's `[calibrate]` section with these overrides.
    pub fn apply(&self, sec: &mut CalibrateSection) {
        sec.tune = self.tune.or(sec.tune);
        sec.draws = self.draws.or(sec.draws);
        sec.chains = self.chains.or(sec.chains);
        sec.seed = self.seed.or(sec.seed);
    }
}

/// Part-file kind of a sharded calibration.
pub const PART_KIND: &str = "calibrate";

/// Where a calibration's chains come from.
enum Chains {
    /// Sampled here (over MPI ranks when started by an MPI launcher).
    Sampled,
    /// Shard K/N of them sampled here and written as a part file (no run folder).
    Shard(ShardSpec),
    /// Read from part files (in shard order, with their paths) by `bridgelaw merge`, which
    /// took the run folder.
    Merged {
        header: Box<PartHeader>,
        parts: Vec<(PathBuf, NutsPart)>,
        run: RunFolder,
    },
}

pub fn run(a: CalibrateArgs) -> Result<(), CliError> {
    match a.shard {
        Some(shard) => execute(&a, Chains::Shard(shard)),
        None => execute(&a, Chains::Sampled),
    }
}

/// `--duplicate-times error|drop|average` (also for `simulate`).
pub(super) fn parse_duplicate_times(s: &str) -> Result<DuplicateTimes, String> {
    DuplicateTimes::parse(s).ok_or_else(|| format!("'{s}': expected error, drop or average"))
}

fn execute(a: &CalibrateArgs, chains: Chains) -> Result<(), CliError> {
    let mut study = load_study(&a.study).map_err(CliError::bad)?;
    let overrides = DataOverrides {
        windows: a.window.clone(),
        duplicate_times: a.duplicate_times,
    };
    override_data(&mut study, &overrides).map_err(CliError::bad)?;
    let study = study;
    let mut sec: CalibrateSection = study.section("calibrate").map_err(CliError::bad)?;
    a.sampler.apply(&mut sec);
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
    let data_files = data_files(a, &study);
    let settings = part_settings(a, &cfg, &sec, &data_files)?;
    // The run folder (locked and checked once the input is known good, before the work) and
    // the chains when they come from elsewhere.
    let (run, sampled) = match chains {
        Chains::Shard(shard) => return write_part(a, &study, &post, &cfg, settings, shard),
        Chains::Merged { header, parts, run } => {
            let merged = merge_parts(&header, &settings, &cfg, parts)?;
            (run, Some(merged))
        }
        Chains::Sampled => match begin_sampled(a, &post, &cfg)? {
            Some(r) => r,
            // An MPI rank other than 0: its chains went to rank 0.
            None => return Ok(()),
        },
    };
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
    prov.data_files = data_files.iter().map(|p| p.display().to_string()).collect();
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
        let nuts = match sampled {
            Some(r) => r,
            None => calibrate::sample(&post, &cfg).map_err(calibrate_error)?,
        };
        let res = calibrate::write_nuts_run(&post, nuts, &out, &stem, model_name)
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

/// The data files the fit reads: the study's data experiments' files, or `--data`.
fn data_files(a: &CalibrateArgs, study: &Study) -> Vec<PathBuf> {
    if !a.data.is_empty() {
        return a.data.clone();
    }
    study
        .model
        .inner
        .as_chain()
        .map(|c| {
            c.experiments()
                .iter()
                .filter_map(|e| e.data.as_ref())
                .map(|d| d.path.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The sampler settings that fix a NUTS run (besides its seed), as (name, value): recorded in
/// the part headers of `calibrate --shard` and `calibrate-fleet --shard` (shards of different
/// settings are refused, naming the setting) and in the fleet's provenance.
pub(super) fn sampler_settings(cfg: &NutsConfig, sec: &CalibrateSection) -> Vec<(String, String)> {
    vec![
        ("chains".into(), cfg.chains.to_string()),
        ("tune".into(), cfg.tune.to_string()),
        ("draws".into(), cfg.draws.to_string()),
        ("target_accept".into(), cfg.target_accept.to_string()),
        ("max_depth".into(), cfg.max_depth.to_string()),
        ("init".into(), format!("{:?}", cfg.init)),
        ("mass_matrix".into(), format!("{:?}", cfg.mass_matrix)),
        ("noise".into(), format!("{:?}", sec.noise())),
        (
            "likelihood".into(),
            format!("{:?}", sec.likelihood.unwrap_or_default()),
        ),
    ]
}

/// The header settings of a sharded calibration: the command line's file arguments (which the
/// merge reads again), a fingerprint of every curve file's bytes (data edited between the
/// shards and the merge is refused) and the sampler settings.
fn part_settings(
    a: &CalibrateArgs,
    cfg: &NutsConfig,
    sec: &CalibrateSection,
    data_files: &[PathBuf],
) -> Result<Vec<(String, String)>, CliError> {
    let list = |v: &[PathBuf]| {
        serde_json::to_string(
            &v.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>(),
        )
        .map_err(CliError::failed)
    };
    let curves: Vec<&Path> = data_files
        .iter()
        .chain(&a.validate)
        .map(PathBuf::as_path)
        .collect();
    let mut v = vec![
        ("method".to_string(), "NUTS".to_string()),
        ("--data".into(), list(&a.data)?),
        ("--validate".into(), list(&a.validate)?),
        (
            "--window".into(),
            a.window
                .iter()
                .map(|(t0, t1)| format!("{t0}:{t1}"))
                .collect::<Vec<_>>()
                .join(","),
        ),
        (
            "--duplicate-times".into(),
            a.duplicate_times.map_or("", |d| d.label()).into(),
        ),
        (
            "--validate-temperature".into(),
            a.validate_temperature
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        (
            "curves fingerprint (fitted and held-out data files)".into(),
            files_fingerprint(&curves).map_err(CliError::bad)?,
        ),
    ];
    v.extend(sampler_settings(cfg, sec));
    Ok(v)
}

/// The arguments of the run whose parts carry `h` (written by [`part_settings`]), with the
/// study at `study_path`.
fn args_of_part(h: &PartHeader, study_path: &Path, report: bool) -> Result<CalibrateArgs, String> {
    let get = |k: &str| {
        h.run
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| format!("setting '{k}' missing from the part header"))
    };
    let paths = |k: &str| -> Result<Vec<PathBuf>, String> {
        serde_json::from_str::<Vec<String>>(get(k)?)
            .map(|v| v.into_iter().map(PathBuf::from).collect())
            .map_err(|e| format!("setting '{k}': {e}"))
    };
    let num = |k: &str| -> Result<u64, String> {
        get(k)?.parse().map_err(|e| format!("setting '{k}': {e}"))
    };
    let validate_temperature = get("--validate-temperature")?
        .split(',')
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<f64>()
                .map_err(|e| format!("setting '--validate-temperature': {e}"))
        })
        .collect::<Result<_, _>>()?;
    let window = get("--window")?
        .split(',')
        .filter(|w| !w.is_empty())
        .map(|w| Selection::parse_window(w).map_err(|e| format!("setting '--window': {e}")))
        .collect::<Result<_, _>>()?;
    let duplicate_times = match get("--duplicate-times")? {
        "" => None,
        d => Some(
            parse_duplicate_times(d).map_err(|e| format!("setting '--duplicate-times': {e}"))?,
        ),
    };
    Ok(CalibrateArgs {
        study: study_path.to_path_buf(),
        data: paths("--data")?,
        window,
        duplicate_times,
        sampler: SamplerArgs {
            chains: Some(num("chains")? as usize),
            draws: Some(num("draws")?),
            tune: Some(num("tune")?),
            seed: Some(h.seed),
        },
        map: false,
        validate: paths("--validate")?,
        validate_temperature,
        out: None,
        report,
        shard: None,
        force: false,
    })
}

/// `--shard K/N`: this shard's chains, written atomically to `out/calibrate-part-K-of-N.json`.
fn write_part<M: Model>(
    a: &CalibrateArgs,
    study: &Study,
    post: &Posterior<'_, M>,
    cfg: &NutsConfig,
    settings: Vec<(String, String)>,
    shard: ShardSpec,
) -> Result<(), CliError> {
    let total = cfg.chains as u64;
    let range = shard.range(total);
    let nuts =
        calibrate::sample_chains(post, cfg, range, interrupted()).map_err(calibrate_error)?;
    let file = PartFile {
        header: PartHeader::new(
            PART_KIND,
            &a.study,
            study_hash(study),
            cfg.seed,
            settings,
            shard,
            total,
        ),
        body: NutsPart::from(&nuts),
    };
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| default_out(&a.study, "calibrate-parts"));
    super::merge::write_part(&out, &file, "chains")
}

/// The merged chains of the parts (in shard order), after the settings of the run as the merge
/// sees it now (`settings`) were checked against those the parts recorded: a data file edited
/// since is refused naming the fingerprint.
fn merge_parts(
    h: &PartHeader,
    settings: &[(String, String)],
    cfg: &NutsConfig,
    parts: Vec<(PathBuf, NutsPart)>,
) -> Result<NutsRun, CliError> {
    let first = parts.first().map(|p| p.0.clone()).unwrap_or_default();
    for ((name, now), (_, then)) in settings.iter().zip(&h.run) {
        if now != then {
            return Err(CliError::bad(format!(
                "{}: {name} is {then} in the parts, but {now} now: the inputs changed since the shards ran",
                first.display()
            )));
        }
    }
    let paths: Vec<PathBuf> = parts.iter().map(|p| p.0.clone()).collect();
    calibrate::part::merge_nuts_parts(cfg, parts.into_iter().map(|p| p.1).collect())
        .map_err(|(i, e)| CliError::bad(format!("{}: {e}", paths[i].display())))
}

/// `bridgelaw merge` of calibrate parts (checked by [`bridgelaw::shard::check_parts`], given
/// in shard order): the run folder of the single run, written by the same code.
pub fn merge(
    h: &PartHeader,
    study_path: &Path,
    paths: &[PathBuf],
    run: RunFolder,
    report: bool,
) -> Result<(), CliError> {
    let a = args_of_part(h, study_path, report).map_err(|e| {
        CliError::bad(format!(
            "{}: {e}",
            paths
                .first()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ))
    })?;
    let parts = paths
        .iter()
        .map(|p| Ok((p.clone(), read_part_body(p).map_err(CliError::bad)?)))
        .collect::<Result<Vec<_>, CliError>>()?;
    eprintln!("merging the chains of {} parts", parts.len());
    execute(
        &a,
        Chains::Merged {
            header: Box::new(h.clone()),
            parts,
            run,
        },
    )
}

/// The run folder of a run that samples its chains here, and under an MPI launcher the chains
/// the ranks sampled; `None` on ranks other than 0 once their chains are sent.
fn begin_sampled<M: Model>(
    a: &CalibrateArgs,
    post: &Posterior<'_, M>,
    cfg: &NutsConfig,
) -> Result<Option<(RunFolder, Option<NutsRun>)>, CliError> {
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| default_out(&a.study, "calibrate"));
    #[cfg(feature = "mpi")]
    if let Some(ranks) = super::mpi::ranks() {
        return run_ranks(ranks, a, post, cfg, &out);
    }
    let _ = (post, cfg);
    Ok(Some((super::begin_run_folder(&out, a.force)?, None)))
}

/// Under an MPI launcher: rank r samples shard r + 1 of R of the chains (progress on rank 0
/// only), rank 0 gathers them in rank order (see [`super::mpi`]) and takes the run folder; the
/// rest of the run (summary, bands, files) is the single process's code on rank 0.
#[cfg(feature = "mpi")]
fn run_ranks<M: Model>(
    ranks: super::mpi::Ranks,
    a: &CalibrateArgs,
    post: &Posterior<'_, M>,
    cfg: &NutsConfig,
    out: &Path,
) -> Result<Option<(RunFolder, Option<NutsRun>)>, CliError> {
    if a.map {
        return Err(CliError::bad(
            "--map under an MPI launcher: the MAP is one optimisation; run it as one process",
        ));
    }
    let shard = ShardSpec::new(ranks.rank() + 1, ranks.size()).map_err(CliError::failed)?;
    let mine = NutsConfig {
        progress: cfg.progress && ranks.rank() == 0,
        ..cfg.clone()
    };
    let part = calibrate::sample_chains(post, &mine, shard.range(cfg.chains as u64), interrupted())
        .map_err(|e| e.to_string())
        .and_then(|r| serde_json::to_vec(&NutsPart::from(&r)).map_err(|e| e.to_string()));
    let Some(all) = ranks.gather(part)? else {
        return Ok(None);
    };
    let run = super::begin_run_folder(out, a.force)?;
    let parts = all
        .iter()
        .map(|b| serde_json::from_slice(b))
        .collect::<Result<Vec<NutsPart>, _>>()
        .map_err(CliError::failed)?;
    let merged = calibrate::part::merge_nuts_parts(cfg, parts)
        .map_err(|(r, e)| CliError::failed(format!("rank {r}: {e}")))?;
    eprintln!("merged the chains of {} MPI ranks", ranks.size());
    Ok(Some((run, Some(merged))))
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
