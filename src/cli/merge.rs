//! `bridgelaw merge PARTS... --out DIR`: the run folder of a sharded run from its part files,
//! identical to the one a single process writes.

use super::CliError;
use bridgelaw::shard::{
    PartFile, PartHeader, check_parts, read_part_body, read_part_header, study_hash,
};
use bridgelaw::study::load_study;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The part files of one run, in any order (`propagate --shard K/N`,
    /// `sensitivity --method sobol --shard K/N`, `calibrate --shard K/N` or
    /// `calibrate-fleet --shard K/N`); every shard
    /// exactly once.
    #[arg(required = true)]
    pub parts: Vec<PathBuf>,
    /// Output directory: the run folder a single process would write.
    #[arg(long)]
    pub out: PathBuf,
    /// The study file, when it is not where the parts were run from (it must be the same
    /// study: its fingerprint is checked).
    #[arg(long)]
    pub study: Option<PathBuf>,
    /// Also write report.html (figures, tables, provenance) into the output directory.
    #[arg(long)]
    pub report: bool,
    /// Replace the result of a previous run in --out (kept until the new run is complete).
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: MergeArgs) -> Result<(), CliError> {
    // Headers first (bodies skipped), so a set that does not fit is refused before any body
    // is held in memory; then the bodies, typed, in shard order.
    let mut headers = Vec::with_capacity(a.parts.len());
    for p in &a.parts {
        headers.push((p.clone(), read_part_header(p).map_err(CliError::bad)?));
    }
    let order = check_parts(&headers).map_err(CliError::bad)?;
    let (first_path, h) = &headers[order[0]];
    let study_path = a.study.clone().unwrap_or_else(|| PathBuf::from(&h.study));
    let study = load_study(&study_path).map_err(CliError::bad)?;
    let hash = study_hash(&study);
    if hash != h.study_hash {
        return Err(CliError::bad(format!(
            "{}: the parts were run on a different study (fingerprint {} in {}, {hash} now): \
             the model, its inputs or its settings changed since",
            study_path.display(),
            h.study_hash,
            first_path.display()
        )));
    }
    let ordered: Vec<PathBuf> = order.iter().map(|&i| headers[i].0.clone()).collect();
    let run = super::begin_run_folder(&a.out, a.force)?;
    eprintln!(
        "merging {} shards of a {} run of {}",
        order.len(),
        h.kind,
        study_path.display()
    );
    match h.kind.as_str() {
        super::propagate::PART_KIND => merge_propagate(h, &study_path, &study, ordered, &a, run),
        super::sensitivity::PART_KIND => {
            let parts = typed(&ordered)?;
            super::sensitivity::merge(h, &study_path, &study, &parts, run, a.report)
        }
        super::calibrate::PART_KIND => {
            super::calibrate::merge(h, &study_path, &ordered, run, a.report)
        }
        super::fleet::PART_KIND => {
            let bodies = typed(&ordered)?;
            let parts = order
                .iter()
                .map(|&i| headers[i].clone())
                .zip(bodies)
                .collect();
            super::fleet::merge(h, &study_path, &study, parts, run, a.report)
        }
        other => Err(CliError::bad(format!(
            "{}: unknown part kind '{other}'",
            first_path.display()
        ))),
    }
}

/// The bodies of `paths` as the engine's part type; a body that does not fit names its file.
fn typed<T: serde::de::DeserializeOwned>(paths: &[PathBuf]) -> Result<Vec<T>, CliError> {
    paths
        .iter()
        .map(|p| read_part_body(p).map_err(CliError::bad))
        .collect()
}

fn merge_propagate(
    h: &PartHeader,
    study_path: &Path,
    study: &bridgelaw::study::Study,
    paths: Vec<PathBuf>,
    a: &MergeArgs,
    run: bridgelaw::run_folder::RunFolder,
) -> Result<(), CliError> {
    let (method, mc) = super::propagate::settings_of_part(h)
        .map_err(|e| CliError::bad(format!("{}: {e}", a.parts[0].display())))?;
    let parts: Vec<Vec<bridgelaw::propagate::McPart>> = typed(&paths)?;
    let res =
        bridgelaw::propagate::merge_propagation(&study.model, &study.dist, method, &mc, &parts)
            .map_err(|e| match e {
                bridgelaw::propagate::PropagateError::InvalidSetting { .. } => {
                    CliError::bad(format!(
                        "parts {}: {e}",
                        paths
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }
                e => CliError::failed(e),
            })?;
    super::propagate::write_run(study_path, study, method, &mc, res, run, a.report)
}

/// Write a shard's part file atomically as `out/<kind>-part-K-of-N.json` and say on stderr which
/// of the run's work units (`unit`: chunks, base rows, chains, cells) it holds.
pub(super) fn write_part<T: serde::Serialize>(
    out: &Path,
    file: &PartFile<T>,
    unit: &str,
) -> Result<(), CliError> {
    let h = &file.header;
    let path = out.join(format!("{}-part-{}.json", h.kind, h.shard.tag()));
    let json = serde_json::to_string(file).map_err(CliError::failed)?;
    bridgelaw::output::write_atomic(&path, json.as_bytes())
        .map_err(|e| CliError::failed(format!("{}: {e}", path.display())))?;
    eprintln!(
        "wrote {} (shard {}: {unit} {}..{} of {})",
        path.display(),
        h.shard,
        h.units[0],
        h.units[1],
        h.total_units
    );
    Ok(())
}
