//! `bridgelaw sensitivity STUDY`: which atomistic input matters most, and which calculation to
//! refine next.

use super::CliError;
use super::propagate::default_out;
use bridgelaw::output::write_atomic;
use bridgelaw::report::provenance;
use bridgelaw::report::sensitivity_report::{SensitivityParts, sensitivity_report};
use bridgelaw::sensitivity::{self, AllSettings};
use bridgelaw::study::load_study;
use clap::Args;
use std::path::PathBuf;

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
}

pub fn run(a: SensitivityArgs) -> Result<(), CliError> {
    let study = load_study(&a.study).map_err(CliError::bad)?;
    let mut s: AllSettings = study.section("sensitivity").map_err(CliError::bad)?;
    if let Some(seed) = a.seed {
        s.sobol.seed = seed;
        s.morris.seed = seed;
        s.shapley.seed = seed;
        s.ranking.seed = seed;
    }
    if let Some(n) = a.samples {
        s.sobol.base_samples = n;
    }
    // The method name is checked before any work (a bad name is the user's input, exit 2).
    if a.method != "all" && !sensitivity::METHODS.contains(&a.method.as_str()) {
        return Err(CliError::bad(format!(
            "--method: expected one of local, variance, sobol, morris, shapley, all; found '{}'",
            a.method
        )));
    }
    let (m, d) = (&study.model, &study.dist);
    let f = sensitivity::run_methods(m, d, &s, &a.method, &study.title)
        .map_err(|e| CliError::failed(format!("{}: {e}", a.study.display())))?;
    let mut md = String::new();
    md.push_str(&format!("# Sensitivity: {}\n\n", study.title));
    let mut rows = Vec::new();
    for t in f.tables() {
        md.push_str(&t.to_markdown());
        md.push('\n');
        rows.extend(t.long_rows());
    }
    let out = a
        .out
        .unwrap_or_else(|| default_out(&a.study, "sensitivity"));
    let csv = sensitivity::long_rows_csv(&rows).map_err(CliError::failed)?;
    let json = serde_json::to_string_pretty(&f).map_err(CliError::failed)?;
    for (name, bytes) in [
        ("sensitivity.json", json.as_bytes()),
        ("sensitivity.csv", csv.as_bytes()),
        ("sensitivity.md", md.as_bytes()),
    ] {
        let p = out.join(name);
        write_atomic(&p, bytes)
            .map_err(|e| CliError::failed(format!("{}: cannot write: {e}", p.display())))?;
        eprintln!("wrote {}", p.display());
    }
    println!("{md}");
    let mut prov = provenance::Provenance::from_study(&a.study, &study.priors_files);
    prov.seed = Some(s.sobol.seed);
    prov.settings = vec![
        ("method".into(), a.method.clone()),
        (
            "sobol base samples".into(),
            s.sobol.base_samples.to_string(),
        ),
        ("morris seed".into(), s.morris.seed.to_string()),
        ("shapley seed".into(), s.shapley.seed.to_string()),
        ("ranking seed".into(), s.ranking.seed.to_string()),
    ];
    let report = if a.report {
        let parts = SensitivityParts::from_json(&json).map_err(CliError::failed)?;
        Some(sensitivity_report(&parts, &study.title, &prov))
    } else {
        None
    };
    super::finish_run_folder(&out, &prov, report)?;
    if let Some(r) = &f.ranking {
        println!(
            "Refine next, most useful first: {}",
            r.headline().join(" → ")
        );
    }
    Ok(())
}
