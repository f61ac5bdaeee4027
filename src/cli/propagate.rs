//! `bridgelaw propagate STUDY`: parameter sets with error bars (delta method and Monte Carlo).

use super::CliError;
use bridgelaw::propagate::{self, PropagateSection};
use bridgelaw::report::{propagate_report::propagation_report, provenance};
use bridgelaw::study::load_study;
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
}

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
    sec.method = a.method.or(sec.method);
    sec.samples = a.samples.or(sec.samples);
    sec.seed = a.seed.or(sec.seed);
    sec.levels = a.levels.or(sec.levels);
    sec.rel_err = a.rel_err.or(sec.rel_err);
    let method = sec
        .method()
        .map_err(|e| CliError::bad(format!("--method: {e}")))?;
    let mc = sec
        .mc_settings()
        .map_err(|e| CliError::bad(format!("{}: {e}", a.study.display())))?;
    let out = a.out.unwrap_or_else(|| default_out(&a.study, "propagate"));
    let mut res =
        propagate::propagate(&study.model, &study.dist, method, &mc).map_err(CliError::failed)?;
    if !study.title.is_empty() {
        res.title = study.title.clone();
    }
    let written = propagate::report::write_results(&out, &res).map_err(CliError::failed)?;
    println!("{}", propagate::report::to_markdown(&res));
    for w in written {
        eprintln!("wrote {}", w.display());
    }
    // Warnings on stderr (the Markdown above keeps them with the results they qualify).
    for rep in res.nonlinearity.iter().filter(|r| r.any_nonlinear) {
        for m in &rep.messages {
            eprintln!("warning: ({}) {m}", rep.method);
        }
    }
    let mut prov = provenance::Provenance::from_study(&a.study, &study.priors_files);
    prov.seed = Some(mc.seed);
    prov.settings = vec![
        ("method".into(), format!("{method:?}").to_lowercase()),
        ("samples".into(), mc.samples.to_string()),
        ("levels".into(), format!("{:?}", mc.levels)),
        ("rel_err".into(), format!("{:?}", mc.rel_err)),
        ("replicates".into(), mc.replicates.to_string()),
    ];
    super::finish_run_folder(
        &out,
        &prov,
        a.report.then(|| propagation_report(&res, &prov)),
    )
}
