//! `bridgelaw calibrate-fleet STUDY --cells DIR`: the calibrate study run on every cell of a
//! fleet (one subfolder of DIR per cell, see [`bridgelaw::calibrate::fleet`]), giving one table
//! of per-cell posteriors, diagnostics and residuals. Cells are the shard unit: `--shard K/N`
//! calibrates a contiguous share of the cells (in id order) into a part file, and under an MPI
//! launcher each rank takes one share; `bridgelaw merge` and rank 0 build the same run folder
//! a single process writes, bit for bit (each cell's seed comes from the study seed and its id).

use super::CliError;
use super::calibrate::{SamplerArgs, calibrate_error, sampler_settings};
use super::propagate::default_out;
use bridgelaw::calibrate::fleet::{
    CellResult, FleetCell, FleetTable, calibrate_cell, cell_posterior, cells_fingerprint,
    data_experiments, read_cells,
};
use bridgelaw::calibrate::study::CalibrateSection;
use bridgelaw::calibrate::{NutsConfig, Posterior};
use bridgelaw::report::fleet_report::fleet_report;
use bridgelaw::report::propagate_report::g;
use bridgelaw::report::provenance;
use bridgelaw::run_folder::RunFolder;
use bridgelaw::shard::{PartFile, PartHeader, ShardSpec, study_hash};
use bridgelaw::study::{Study, load_study};
use clap::Args;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct CalibrateFleetArgs {
    /// A cell study file whose `[calibrate]` section and data experiments every cell shares
    /// (the experiments' data files give the protocols; each cell brings its own curves).
    pub study: PathBuf,
    /// The fleet: one subfolder per cell (its name is the cell id) holding `<experiment>.csv`
    /// for every data experiment of the study.
    #[arg(long)]
    pub cells: PathBuf,
    /// Per cell (--chains, --draws, --tune); cell c's sampler seed is derived from --seed and
    /// c's id.
    #[command(flatten)]
    pub sampler: SamplerArgs,
    /// Calibrate shard K of N of the cells (in id order) and write the part file
    /// calibrate-fleet-part-K-of-N.json into --out (default
    /// reports/<study name>/calibrate-fleet-parts); `bridgelaw merge` combines the N parts.
    #[arg(long)]
    pub shard: Option<ShardSpec>,
    /// Output directory (default reports/<study name>/calibrate-fleet).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write report.html (the cells compared: parameter spread, residuals) into --out.
    #[arg(long)]
    pub report: bool,
    /// Replace the result of a previous run in --out (kept until the new run is complete).
    #[arg(long)]
    pub force: bool,
}

/// Part-file kind of a sharded fleet calibration.
pub const PART_KIND: &str = "calibrate-fleet";

type CellPosterior<'a> = Posterior<'a, bridgelaw::bound::BoundModel<bridgelaw::study::StudyModel>>;

pub fn run(a: CalibrateFleetArgs) -> Result<(), CliError> {
    let study = load_study(&a.study).map_err(CliError::bad)?;
    let mut sec: CalibrateSection = study.section("calibrate").map_err(CliError::bad)?;
    a.sampler.apply(&mut sec);
    let cfg = sec.nuts_config(&a.study).map_err(calibrate_error)?;
    let experiments = data_experiments(&study).map_err(calibrate_error)?;
    let cells = read_cells(&a.cells, &experiments).map_err(calibrate_error)?;
    let settings = run_settings(&a.cells, &cfg, &sec, &cells)?;
    // Every cell's data is read and checked before any sampling (bad input stops the run at
    // once, on every shard and rank alike); it is small beside the sampling.
    let posts = cells
        .iter()
        .map(|c| cell_posterior(&study, &sec, c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(calibrate_error)?;
    if let Some(shard) = a.shard {
        if a.report {
            return Err(CliError::bad(
                "--report with --shard: the report is written by `bridgelaw merge --report`",
            ));
        }
        let out = a
            .out
            .clone()
            .unwrap_or_else(|| default_out(&a.study, "calibrate-fleet-parts"));
        return run_shard(&a, &study, &cfg, &cells, &posts, settings, shard, &out);
    }
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| default_out(&a.study, "calibrate-fleet"));
    #[cfg(feature = "mpi")]
    if let Some(ranks) = super::mpi::ranks() {
        return run_ranks(ranks, &a, &study, &cfg, &cells, &posts, settings, &out);
    }
    // Locked and checked once the input is known good, before the work.
    let run = super::begin_run_folder(&out, a.force)?;
    let results = calibrate_range(&cfg, &cells, &posts, &a.cells, 0..cells.len() as u64);
    let table = table(&a.study, &study, &a.cells, cfg.seed, settings, results);
    write_run(&a.study, &study, table, run, a.report)
}

/// The settings that fix a fleet run, as (name, value): recorded in part headers (shards of
/// different settings or different cell data are refused) and in the provenance.
fn run_settings(
    cells_dir: &Path,
    cfg: &NutsConfig,
    sec: &CalibrateSection,
    cells: &[FleetCell],
) -> Result<Vec<(String, String)>, CliError> {
    let mut v = vec![
        ("method".to_string(), "NUTS".to_string()),
        ("cells".into(), cells_dir.display().to_string()),
        (
            "cells fingerprint (ids and data)".into(),
            cells_fingerprint(cells).map_err(calibrate_error)?,
        ),
    ];
    v.extend(sampler_settings(cfg, sec));
    Ok(v)
}

/// Calibrate the cells with positions in `range` (in parallel; the results in cell order),
/// one line per cell on stderr as each ends.
fn calibrate_range(
    cfg: &NutsConfig,
    cells: &[FleetCell],
    posts: &[CellPosterior<'_>],
    cells_dir: &Path,
    range: std::ops::Range<u64>,
) -> Vec<CellResult> {
    let (a, b) = (range.start as usize, range.end as usize);
    let total = cells.len();
    cells[a..b]
        .par_iter()
        .zip(&posts[a..b])
        .enumerate()
        .map(|(i, (cell, post))| {
            let r = calibrate_cell(post, cfg, cell, cells_dir);
            eprintln!("cell {}/{total} {}", a + i + 1, one_line(&r));
            r
        })
        .collect()
}

/// A cell's result in one line: its first unknown's median and 90 % interval, the worst R̂,
/// the divergences.
fn one_line(r: &CellResult) -> String {
    if let Some(f) = &r.failure {
        return format!("{}: failed: {f}", r.cell);
    }
    let p = r.params.first();
    format!(
        "{}: {} R-hat ≤ {:.3}, {} divergences{}",
        r.cell,
        p.map_or(String::new(), |p| format!(
            "{} {} [{}, {}] {},",
            p.name,
            g(p.q50),
            g(p.q5),
            g(p.q95),
            p.unit
        )),
        r.max_rhat(),
        r.divergences,
        if r.warnings.is_empty() {
            String::new()
        } else {
            format!(", {} warnings", r.warnings.len())
        }
    )
}

fn table(
    study_path: &Path,
    study: &Study,
    cells_dir: &Path,
    seed: u64,
    settings: Vec<(String, String)>,
    cells: Vec<CellResult>,
) -> FleetTable {
    FleetTable {
        title: if study.title.is_empty() {
            study_path.display().to_string()
        } else {
            study.title.clone()
        },
        study: study_path.display().to_string(),
        cells_dir: cells_dir.display().to_string(),
        seed,
        settings,
        cells,
    }
}

/// `--shard K/N`: this shard's cells, written atomically to
/// `out/calibrate-fleet-part-K-of-N.json`.
#[allow(clippy::too_many_arguments)]
fn run_shard(
    a: &CalibrateFleetArgs,
    study: &Study,
    cfg: &NutsConfig,
    cells: &[FleetCell],
    posts: &[CellPosterior<'_>],
    settings: Vec<(String, String)>,
    shard: ShardSpec,
    out: &Path,
) -> Result<(), CliError> {
    let total = cells.len() as u64;
    let range = shard.range(total);
    let results = calibrate_range(cfg, cells, posts, &a.cells, range);
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
        body: results,
    };
    super::merge::write_part(out, &file, "cells")
}

/// Under an MPI launcher: rank r calibrates shard r + 1 of R of the cells, rank 0 gathers the
/// results in rank order and writes the run folder (see [`super::mpi`]).
#[cfg(feature = "mpi")]
#[allow(clippy::too_many_arguments)]
fn run_ranks(
    ranks: super::mpi::Ranks,
    a: &CalibrateFleetArgs,
    study: &Study,
    cfg: &NutsConfig,
    cells: &[FleetCell],
    posts: &[CellPosterior<'_>],
    settings: Vec<(String, String)>,
    out: &Path,
) -> Result<(), CliError> {
    let shard = ShardSpec::new(ranks.rank() + 1, ranks.size()).map_err(CliError::failed)?;
    let range = shard.range(cells.len() as u64);
    let mine = calibrate_range(cfg, cells, posts, &a.cells, range);
    let Some(all) = ranks.gather(serde_json::to_vec(&mine).map_err(|e| e.to_string()))? else {
        return Ok(());
    };
    let run = super::begin_run_folder(out, a.force)?;
    let mut results = Vec::with_capacity(cells.len());
    for b in &all {
        results.extend(serde_json::from_slice::<Vec<CellResult>>(b).map_err(CliError::failed)?);
    }
    eprintln!("merged the cells of {} MPI ranks", ranks.size());
    let table = table(&a.study, study, &a.cells, cfg.seed, settings, results);
    write_run(&a.study, study, table, run, a.report)
}

/// `bridgelaw merge` of fleet parts (checked by [`bridgelaw::shard::check_parts`], given in
/// shard order): the cells concatenated, which is the single-process table.
pub fn merge(
    h: &PartHeader,
    study_path: &Path,
    study: &Study,
    parts: Vec<((PathBuf, PartHeader), Vec<CellResult>)>,
    run: RunFolder,
    report: bool,
) -> Result<(), CliError> {
    let mut cells: Vec<CellResult> = Vec::with_capacity(h.total_units as usize);
    for ((path, hp), body) in parts {
        let expected = (hp.units[1] - hp.units[0]) as usize;
        if body.len() != expected {
            return Err(CliError::bad(format!(
                "{}: holds {} cells, but its shard {} should hold {expected}",
                path.display(),
                body.len(),
                hp.shard
            )));
        }
        if let (Some(prev), Some(first)) = (cells.last(), body.first())
            && prev.cell >= first.cell
        {
            return Err(CliError::bad(format!(
                "{}: cell '{}' follows '{}' of the previous shard; cells must be in id order",
                path.display(),
                first.cell,
                prev.cell
            )));
        }
        cells.extend(body);
    }
    let setting = |k: &str| {
        h.run
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| CliError::bad(format!("setting '{k}' missing from the part header")))
    };
    let cells_dir = PathBuf::from(setting("cells")?);
    let table = table(study_path, study, &cells_dir, h.seed, h.run.clone(), cells);
    write_run(study_path, study, table, run, report)
}

/// Write a fleet's run folder (fleet.csv, fleet.json, provenance, optional report), put it in
/// place and print the table: the one writer behind a single process, MPI rank 0 and
/// `bridgelaw merge`, so all leave the same files.
fn write_run(
    study_path: &Path,
    study: &Study,
    table: FleetTable,
    run: RunFolder,
    report: bool,
) -> Result<(), CliError> {
    table.write(run.path()).map_err(CliError::failed)?;
    let (params, _) = table.columns();
    println!(
        "| cell | {} | max R-hat | divergences | warnings |",
        params
            .iter()
            .map(|(n, u)| format!("{n} median [5 %, 95 %] ({u})"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|{}---|---|---|", "---|".repeat(params.len()));
    for c in &table.cells {
        match &c.failure {
            Some(f) => println!("| {} | failed: {f} |", c.cell),
            None => println!(
                "| {} | {} | {:.3} | {} | {} |",
                c.cell,
                c.params
                    .iter()
                    .map(|p| format!("{} [{}, {}]", g(p.q50), g(p.q5), g(p.q95)))
                    .collect::<Vec<_>>()
                    .join(" | "),
                c.max_rhat(),
                c.divergences,
                c.warnings.len()
            ),
        }
    }
    for c in &table.cells {
        for w in &c.warnings {
            eprintln!("warning: cell {}: {w}", c.cell);
        }
    }
    let mut prov = provenance::Provenance::from_study(study_path, &study.priors_files);
    prov.seed = Some(table.seed);
    prov.data_files = vec![table.cells_dir.clone()];
    prov.settings = table.settings.clone();
    super::finish_run_folder(run, "calibrate-fleet", &mut prov, |prov| {
        report.then(|| fleet_report(&table, prov))
    })
}
