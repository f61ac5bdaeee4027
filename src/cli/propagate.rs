//! `bridgelaw propagate STUDY`: parameter sets with error bars (delta method and Monte Carlo).

use super::CliError;
use bridgelaw::propagate::{self, McSettings, Method, PropagateSection};
use bridgelaw::report::{propagate_report::propagation_report, provenance};
use bridgelaw::run_folder::RunFolder;
use bridgelaw::shard::{PartFile, PartHeader, ShardSpec, study_hash};
use bridgelaw::study::{Study, load_study};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct PropagateArgs {
    /// A study file (models/*.toml).
    pub study: PathBuf,
    /// delta | mc | qmc | lhs | all (default from the study's [propagate], else all).
    #[arg(long)]
    pub method: Option<String>,
    /// Monte Carlo samples (the maximum with --rel-err).
    #[arg(long)]
    pub samples: Option<u64>,
    /// Seed of every random stream (results are identical for a seed whatever the thread count).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run until every Monte Carlo standard error / |value| is below this.
    #[arg(long)]
    pub rel_err: Option<f64>,
    /// Interval levels, comma-separated (default 0.68,0.95).
    #[arg(long, value_delimiter = ',')]
    pub levels: Option<Vec<f64>>,
    /// Output directory (default reports/<study name>/propagate).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write report.html (figures, tables, provenance) into the output directory.
    #[arg(long)]
    pub report: bool,
    /// Run shard K of N (1 ≤ K ≤ N) of the Monte Carlo samples and write the part file
    /// propagate-part-K-of-N.json into --out (default reports/<study name>/propagate-parts);
    /// `bridgelaw merge` combines the N parts into the run folder a single process writes.
    #[arg(long)]
    pub shard: Option<ShardSpec>,
    /// A calibration run folder whose posterior draws (jointly, with their correlations)
    /// replace the priors of the study's uncertain inputs, which must all be calibrated
    /// parameters: the calibrated model at the study's conditions, with predictive bands.
    /// --samples caps the draws used (evenly thinned; default all); --levels default 0.9,0.95.
    /// Writes posterior_propagation.json and posterior_band_<output>.csv.
    #[arg(long, conflicts_with_all = ["method", "rel_err", "shard"])]
    pub posterior: Option<PathBuf>,
    /// Replace the result of a previous run in --out (kept until the new run is complete).
    #[arg(long)]
    pub force: bool,
}

/// Part-file kind of a sharded propagation.
pub const PART_KIND: &str = "propagate";

/// Default output folder for a study: reports/<stem>/<what>.
pub fn default_out(study: &Path, what: &str) -> PathBuf {
    let stem = study
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "study".into());
    PathBuf::from("reports").join(stem).join(what)
}

pub fn run(a: PropagateArgs) -> Result<(), CliError> {
    let study = load_study(&a.study).map_err(CliError::bad)?;
    let mut sec: PropagateSection = study.section("propagate").map_err(CliError::bad)?;
    if let Some(run_dir) = &a.posterior {
        return run_posterior(&a, &study, &sec, run_dir);
    }
    let method_from_flag = a.method.is_some();
    sec.method = a.method.or(sec.method);
    sec.samples = a.samples.or(sec.samples);
    sec.seed = a.seed.or(sec.seed);
    sec.levels = a.levels.or(sec.levels);
    sec.rel_err = a.rel_err.or(sec.rel_err);
    let method = sec.method().map_err(|e| {
        CliError::bad(if method_from_flag {
            format!("--method: {e}")
        } else {
            format!("{}: [propagate] {e}", a.study.display())
        })
    })?;
    let mut mc = sec
        .mc_settings()
        .map_err(|e| CliError::bad(format!("{}: {e}", a.study.display())))?;
    // A signal stops the run at its next chunk (the signal thread cleans up and exits).
    mc.cancel = bridgelaw::run_folder::interrupted().clone();
    if let Some(shard) = a.shard {
        return run_shard(&a.study, &study, method, &mc, shard, a.out, a.report);
    }
    let out = a.out.unwrap_or_else(|| default_out(&a.study, "propagate"));
    #[cfg(feature = "mpi")]
    if let Some(ranks) = super::mpi::ranks() {
        return run_ranks(
            ranks, &a.study, &study, method, &mc, &out, a.force, a.report,
        );
    }
    // Locked and checked before the work: a busy or occupied --out is said at once.
    let run = super::begin_run_folder(&out, a.force)?;
    let res =
        propagate::propagate(&study.model, &study.dist, method, &mc).map_err(CliError::failed)?;
    write_run(&a.study, &study, method, &mc, res, run, a.report)
}

/// The settings a sharded run records in its part files' headers, as (name, value); floats in
/// Rust's shortest round-trip form, read back exactly by [`settings_of_part`].
fn part_settings(method: Method, mc: &McSettings) -> Vec<(String, String)> {
    vec![
        ("method".into(), format!("{method:?}").to_lowercase()),
        ("samples".into(), mc.samples.to_string()),
        ("replicates".into(), mc.replicates.to_string()),
        (
            "levels".into(),
            mc.levels
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
    ]
}

/// The method and settings recorded by [`part_settings`] in a part's header.
pub fn settings_of_part(h: &PartHeader) -> Result<(Method, McSettings), String> {
    let get = |k: &str| {
        h.run
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| format!("setting '{k}' missing from the header"))
    };
    let num = |k: &str| -> Result<u64, String> {
        get(k)?.parse().map_err(|e| format!("setting '{k}': {e}"))
    };
    let method: Method = get("method")?.parse().map_err(|e| format!("{e}"))?;
    let levels = get("levels")?
        .split(',')
        .map(|l| {
            l.parse::<f64>()
                .map_err(|e| format!("setting 'levels': {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mc = McSettings {
        samples: num("samples")?,
        seed: h.seed,
        levels,
        rel_err: None,
        replicates: num("replicates")? as usize,
        ..McSettings::default()
    };
    mc.validate().map_err(|e| e.to_string())?;
    Ok((method, mc))
}

/// `--shard K/N`: this shard's part of every Monte Carlo design, written atomically to
/// `out/propagate-part-K-of-N.json`.
fn run_shard(
    study_path: &Path,
    study: &Study,
    method: Method,
    mc: &McSettings,
    shard: ShardSpec,
    out: Option<PathBuf>,
    report: bool,
) -> Result<(), CliError> {
    if report {
        return Err(CliError::bad(
            "--report with --shard: the report is written by `bridgelaw merge --report`",
        ));
    }
    let parts = propagate::propagate_part(&study.model, &study.dist, method, mc, shard).map_err(
        |e| match e {
            propagate::PropagateError::InvalidSetting { .. } => {
                CliError::bad(format!("{}: {e}", study_path.display()))
            }
            e => CliError::failed(e),
        },
    )?;
    let total = parts.first().map_or(0, |p| p.n_chunks);
    let file = PartFile {
        header: PartHeader::new(
            PART_KIND,
            study_path,
            study_hash(study),
            mc.seed,
            part_settings(method, mc),
            shard,
            total,
        ),
        body: parts,
    };
    let out = out.unwrap_or_else(|| default_out(study_path, "propagate-parts"));
    super::merge::write_part(&out, &file, "chunks")
}

/// Under an MPI launcher: rank r runs shard r + 1 of R (progress on rank 0 only), rank 0 merges
/// the parts in rank order and writes the run folder (see [`super::mpi`]); only rank 0 takes
/// the folder's lock, after the gather, so every rank reaches the gather.
#[cfg(feature = "mpi")]
#[allow(clippy::too_many_arguments)]
fn run_ranks(
    ranks: super::mpi::Ranks,
    study_path: &Path,
    study: &Study,
    method: Method,
    mc: &McSettings,
    out: &Path,
    force: bool,
    report: bool,
) -> Result<(), CliError> {
    // The same refusals as --shard, on every rank alike (exit 2, before any work).
    if method == Method::Delta || mc.rel_err.is_some() {
        return Err(CliError::bad(format!(
            "{}: a run over MPI ranks shards the Monte Carlo samples: use --method mc, qmc, lhs or all, without --rel-err",
            study_path.display()
        )));
    }
    let shard = ShardSpec::new(ranks.rank() + 1, ranks.size()).map_err(CliError::failed)?;
    let mine = McSettings {
        progress: mc.progress && ranks.rank() == 0,
        ..mc.clone()
    };
    let part = propagate::propagate_part(&study.model, &study.dist, method, &mine, shard)
        .map_err(|e| e.to_string())
        .and_then(|p| serde_json::to_vec(&p).map_err(|e| e.to_string()));
    let Some(all) = ranks.gather(part)? else {
        return Ok(());
    };
    let run = super::begin_run_folder(out, force)?;
    let parts = all
        .iter()
        .map(|b| serde_json::from_slice(b))
        .collect::<Result<Vec<Vec<propagate::McPart>>, _>>()
        .map_err(CliError::failed)?;
    eprintln!("merged the parts of {} MPI ranks", ranks.size());
    let res = propagate::merge_propagation(&study.model, &study.dist, method, mc, &parts)
        .map_err(CliError::failed)?;
    write_run(study_path, study, method, mc, res, run, report)
}

/// Write a propagation's run folder (results, provenance, optional report), put it in place and
/// print its Markdown: the one writer behind a single-process run and `bridgelaw merge`, so both leave
/// the same files.
pub fn write_run(
    study_path: &Path,
    study: &Study,
    method: Method,
    mc: &McSettings,
    mut res: propagate::PropagationResults,
    run: RunFolder,
    report: bool,
) -> Result<(), CliError> {
    if !study.title.is_empty() {
        res.title = study.title.clone();
    }
    propagate::report::write_results(run.path(), &res).map_err(CliError::failed)?;
    println!("{}", propagate::report::to_markdown(&res));
    // Warnings on stderr (the Markdown above keeps them with the results they qualify).
    for rep in res.nonlinearity.iter().filter(|r| r.any_nonlinear) {
        for m in &rep.messages {
            eprintln!("warning: ({}) {m}", rep.method);
        }
    }
    let mut prov = provenance::Provenance::from_study(study_path, &study.priors_files);
    prov.seed = Some(mc.seed);
    prov.settings = vec![
        ("method".into(), format!("{method:?}").to_lowercase()),
        ("samples".into(), mc.samples.to_string()),
        ("levels".into(), format!("{:?}", mc.levels)),
        ("rel_err".into(), format!("{:?}", mc.rel_err)),
        ("replicates".into(), mc.replicates.to_string()),
    ];
    super::finish_run_folder(run, "propagate", &mut prov, |prov| {
        report.then(|| propagation_report(&res, prov))
    })
}

/// `propagate STUDY --posterior RUN_DIR`: the study's model at the calibration's draws.
fn run_posterior(
    a: &PropagateArgs,
    study: &Study,
    sec: &PropagateSection,
    run_dir: &Path,
) -> Result<(), CliError> {
    use bridgelaw::propagate::posterior::{PosteriorDraws, propagate_posterior};
    let draws = PosteriorDraws::read_run(run_dir).map_err(CliError::bad)?;
    let levels = a
        .levels
        .clone()
        .or(sec.levels.clone())
        .unwrap_or(bridgelaw::calibrate::summary::COVERAGE_LEVELS.to_vec());
    let seed = a.seed.or(sec.seed).unwrap_or(0);
    let max_draws = a
        .samples
        .or(sec.samples)
        .map_or(usize::MAX, |n| n.try_into().unwrap_or(usize::MAX));
    // Inputs the calibration does not cover, bad levels: the user's input (exit 2); the model
    // failing everywhere: a failed run.
    draws.columns_for(&study.model).map_err(|e| {
        CliError::bad(format!(
            "{} with --posterior {}: {e}",
            a.study.display(),
            run_dir.display()
        ))
    })?;
    bridgelaw::calibrate::summary::check_levels(&levels)
        .map_err(|e| CliError::bad(format!("--levels: {e}")))?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| default_out(&a.study, "propagate-posterior"));
    // Locked and checked before the work: a busy or occupied --out is said at once.
    let run = super::begin_run_folder(&out, a.force)?;
    let res = propagate_posterior(&study.model, &draws, max_draws, seed, &levels)
        .map_err(CliError::failed)?;
    println!(
        "{} of {} posterior draws of {} used ({} failed to evaluate)",
        res.draws_used,
        res.draws_in_run,
        run_dir.display(),
        res.draws_failed
    );
    for b in res.outputs.iter().filter(|b| b.axis_values.is_empty()) {
        let band = b.bands.last().expect("at least one level");
        println!(
            "{}: mean {:.6e} {}, sd {:.3e}, {:.0} % band [{:.6e}, {:.6e}]",
            b.output,
            b.mean[0],
            b.unit,
            b.sd[0],
            100.0 * band.level,
            band.lo[0],
            band.hi[0]
        );
    }
    res.write(run.path()).map_err(CliError::failed)?;
    let mut prov = provenance::Provenance::from_study(&a.study, &study.priors_files);
    prov.seed = Some(seed);
    prov.settings = vec![
        ("method".into(), "posterior draws".into()),
        ("posterior".into(), run_dir.display().to_string()),
        ("draws used".into(), res.draws_used.to_string()),
    ];
    super::finish_run_folder(run, "propagate", &mut prov, |_| None)
}
