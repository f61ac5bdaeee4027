//! `bridgelaw sensitivity STUDY`: which atomistic input matters most, and which calculation to
//! refine next.

use super::CliError;
use super::propagate::default_out;
use bridgelaw::output::write_atomic;
use bridgelaw::report::provenance;
use bridgelaw::report::sensitivity_report::{SensitivityParts, sensitivity_report};
use bridgelaw::run_folder::RunFolder;
use bridgelaw::sensitivity::{self, AllSettings};
use bridgelaw::shard::{PartFile, PartHeader, ShardSpec, study_hash};
use bridgelaw::study::{Study, load_study};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct SensitivityArgs {
    /// A study file (models/*.toml).
    pub study: PathBuf,
    /// local | variance | sobol | morris | shapley | all (the refine-next ranking is always included).
    #[arg(long, default_value = "all")]
    pub method: String,
    /// Seed of every random stream and scramble (overrides the study's [sensitivity] seeds).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Sobol base samples N (the design evaluates the model N·(d+2) times).
    #[arg(long)]
    pub samples: Option<usize>,
    /// Output directory (default reports/<study name>/sensitivity).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write report.html (figures, tables, provenance) into the output directory.
    #[arg(long)]
    pub report: bool,
    /// Evaluate shard K of N (1 ≤ K ≤ N) of the Sobol design's base rows (--method sobol) and
    /// write the part file sobol-part-K-of-N.json into --out (default reports/<study
    /// name>/sensitivity-parts); `bridgelaw merge` combines the N parts into the run folder a
    /// single process writes.
    #[arg(long)]
    pub shard: Option<ShardSpec>,
    /// Replace the result of a previous run in --out (kept until the new run is complete).
    #[arg(long)]
    pub force: bool,
}

/// Part-file kind of a sharded Sobol analysis.
pub const PART_KIND: &str = "sobol";

/// The study's [sensitivity] settings with the command line's overrides.
fn settings(
    study: &Study,
    seed: Option<u64>,
    samples: Option<usize>,
) -> Result<AllSettings, CliError> {
    let mut s = study
        .section::<AllSettings>("sensitivity")
        .map_err(CliError::bad)?
        .with_overrides(seed, samples);
    // A signal stops the Sobol evaluations at their next chunk (the signal thread cleans up
    // and exits).
    s.sobol.cancel = bridgelaw::run_folder::interrupted().clone();
    Ok(s)
}

pub fn run(a: SensitivityArgs) -> Result<(), CliError> {
    let study = load_study(&a.study).map_err(CliError::bad)?;
    let s = settings(&study, a.seed, a.samples)?;
    // The method name is checked before any work (a bad name is the user's input, exit 2).
    if a.method != "all" && !sensitivity::METHODS.contains(&a.method.as_str()) {
        return Err(CliError::bad(format!(
            "--method: expected one of local, variance, sobol, morris, shapley, all; found '{}'",
            a.method
        )));
    }
    if let Some(shard) = a.shard {
        if a.method != "sobol" || a.report {
            return Err(CliError::bad(
                "--shard splits the Sobol design only: use --method sobol, without --report (the report is written by `bridgelaw merge --report`)",
            ));
        }
        return run_shard(&a, &study, &s, shard);
    }
    let (m, d) = (&study.model, &study.dist);
    let sobol = |s: &sensitivity::SobolSettings| sensitivity::sobol(m, d, s);
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| default_out(&a.study, "sensitivity"));
    #[cfg(feature = "mpi")]
    if let Some(ranks) = super::mpi::ranks() {
        return run_ranks(ranks, &a, &study, &s, &out);
    }
    let run = super::begin_run_folder(&out, a.force)?;
    write_run(&a.study, &study, &s, &a.method, sobol, run, a.report)
}

/// The header settings of a sharded Sobol run: the command-line overrides the merge applies
/// again to the study's [sensitivity] section (whose contents the study hash covers).
fn part_settings(seed: Option<u64>, samples: Option<usize>) -> Vec<(String, String)> {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "none".into());
    vec![
        ("--seed".into(), opt(seed.map(|x| x.to_string()))),
        ("--samples".into(), opt(samples.map(|x| x.to_string()))),
    ]
}

/// The overrides recorded by [`part_settings`].
fn overrides_of_part(h: &PartHeader) -> Result<(Option<u64>, Option<usize>), String> {
    let get = |k: &str| -> Result<Option<u64>, String> {
        let v = h
            .run
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| format!("setting '{k}' missing from the header"))?;
        if v == "none" {
            return Ok(None);
        }
        v.parse()
            .map(Some)
            .map_err(|e| format!("setting '{k}': {e}"))
    };
    Ok((get("--seed")?, get("--samples")?.map(|n| n as usize)))
}

/// `--shard K/N --method sobol`: this shard's Sobol rows, written atomically to
/// `out/sobol-part-K-of-N.json`.
fn run_shard(
    a: &SensitivityArgs,
    study: &Study,
    s: &AllSettings,
    shard: ShardSpec,
) -> Result<(), CliError> {
    let rows = sensitivity::sobol_part(&study.model, &study.dist, &s.sobol, shard)
        .map_err(|e| CliError::failed(format!("{}: {e}", a.study.display())))?;
    let file = PartFile {
        header: PartHeader::new(
            PART_KIND,
            &a.study,
            study_hash(study),
            s.sobol.seed,
            part_settings(a.seed, a.samples),
            shard,
            s.sobol.base_samples as u64,
        ),
        body: rows,
    };
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| default_out(&a.study, "sensitivity-parts"));
    super::merge::write_part(&out, &file, "base rows")
}

/// Under an MPI launcher (`--method sobol` only): rank r evaluates shard r + 1 of R of the Sobol
/// design's base rows, rank 0 gathers the rows in rank order (see [`super::mpi`]) and merges
/// them as `bridgelaw merge` does, so the run folder is the single process's, bit for bit.
#[cfg(feature = "mpi")]
fn run_ranks(
    ranks: super::mpi::Ranks,
    a: &SensitivityArgs,
    study: &Study,
    s: &AllSettings,
    out: &Path,
) -> Result<(), CliError> {
    // The same refusal on every rank alike (exit 2, before any work).
    if a.method != "sobol" {
        return Err(CliError::bad(format!(
            "--method {}: a run over MPI ranks shards the Sobol design only: use --method sobol",
            a.method
        )));
    }
    let shard = ShardSpec::new(ranks.rank() + 1, ranks.size()).map_err(CliError::failed)?;
    let rows = sensitivity::sobol_part(&study.model, &study.dist, &s.sobol, shard)
        .map_err(|e| format!("{}: {e}", a.study.display()))
        .and_then(|r| serde_json::to_vec(&r).map_err(|e| e.to_string()));
    let Some(all) = ranks.gather(rows)? else {
        return Ok(());
    };
    let run = super::begin_run_folder(out, a.force)?;
    let parts = all
        .iter()
        .map(|b| serde_json::from_slice(b))
        .collect::<Result<Vec<sensitivity::SobolRows>, _>>()
        .map_err(CliError::failed)?;
    eprintln!("merged the Sobol rows of {} MPI ranks", ranks.size());
    let (m, d) = (&study.model, &study.dist);
    let sobol = |s: &sensitivity::SobolSettings| sensitivity::sobol_merge(m, d, s, &parts);
    write_run(&a.study, study, s, "sobol", sobol, run, a.report)
}

/// Merge Sobol parts (in shard order) into the run folder `sensitivity --method sobol` writes.
pub fn merge(
    header: &PartHeader,
    study_path: &Path,
    study: &Study,
    parts: &[sensitivity::SobolRows],
    run: RunFolder,
    report: bool,
) -> Result<(), CliError> {
    let (seed, samples) =
        overrides_of_part(header).map_err(|e| CliError::bad(format!("part header: {e}")))?;
    let s = settings(study, seed, samples)?;
    let (m, d) = (&study.model, &study.dist);
    let sobol = |s: &sensitivity::SobolSettings| sensitivity::sobol_merge(m, d, s, parts);
    write_run(study_path, study, &s, "sobol", sobol, run, report)
}

/// Run `methods` (with the refine-next ranking), write the run folder and put it in place; Sobol indices come
/// from `sobol` (a single-process run or a merge of shards), so both write the same files.
#[allow(clippy::too_many_arguments)]
fn write_run(
    study_path: &Path,
    study: &Study,
    s: &AllSettings,
    method_arg: &str,
    sobol: impl FnOnce(
        &sensitivity::SobolSettings,
    ) -> Result<sensitivity::SobolResult, sensitivity::SensitivityError>,
    run: RunFolder,
    report: bool,
) -> Result<(), CliError> {
    let (m, d) = (&study.model, &study.dist);
    let f = sensitivity::run_methods_with(m, d, s, method_arg, &study.title, sobol).map_err(
        |e| match e {
            // A setting out of range (the study's or --samples) is the user's input.
            sensitivity::SensitivityError::InvalidSetting { .. } => {
                CliError::bad(format!("{}: {e}", study_path.display()))
            }
            e => CliError::failed(format!("{}: {e}", study_path.display())),
        },
    )?;
    let mut md = String::new();
    md.push_str(&format!("# Sensitivity: {}\n\n", study.title));
    let mut rows = Vec::new();
    for t in f.tables() {
        md.push_str(&t.to_markdown());
        md.push('\n');
        rows.extend(t.long_rows());
    }
    let csv = sensitivity::long_rows_csv(&rows).map_err(CliError::failed)?;
    let json = serde_json::to_string_pretty(&f).map_err(CliError::failed)?;
    for (name, bytes) in [
        ("sensitivity.json", json.as_bytes()),
        ("sensitivity.csv", csv.as_bytes()),
        ("sensitivity.md", md.as_bytes()),
    ] {
        let p = run.path().join(name);
        write_atomic(&p, bytes).map_err(|e| {
            CliError::failed(format!("{}: cannot write: {e}", run.shown(&p).display()))
        })?;
    }
    println!("{md}");
    let mut prov = provenance::Provenance::from_study(study_path, &study.priors_files);
    prov.seed = Some(s.sobol.seed);
    prov.settings = vec![
        ("method".into(), method_arg.to_string()),
        (
            "sobol base samples".into(),
            s.sobol.base_samples.to_string(),
        ),
        ("morris seed".into(), s.morris.seed.to_string()),
        ("shapley seed".into(), s.shapley.seed.to_string()),
        ("ranking seed".into(), s.ranking.seed.to_string()),
    ];
    let parts = if report {
        Some(SensitivityParts::from_json(&json).map_err(CliError::failed)?)
    } else {
        None
    };
    super::finish_run_folder(run, "sensitivity", &mut prov, |prov| {
        parts.map(|p| sensitivity_report(&p, &study.title, prov))
    })?;
    if let Some(r) = &f.ranking {
        println!(
            "Refine next, most useful first: {}",
            r.headline().join(" → ")
        );
    }
    Ok(())
}
