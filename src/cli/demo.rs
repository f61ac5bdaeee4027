//! `bridgelaw demo`: the whole pipeline on the shipped studies, ending with an HTML report.

use super::CliError;
use bridgelaw::demo::{DemoOptions, make_synthetic_data, run_demo};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output folder of the report.
    #[arg(long, default_value = "reports/demo")]
    pub out: PathBuf,
    /// Reduced sample counts (seconds instead of a minute; for tests).
    #[arg(long)]
    pub quick: bool,
    /// Seed of every random stream.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Regenerate the synthetic curves in models/demo/data from models/demo/synthetic_truth.toml
    /// and stop.
    #[arg(long)]
    pub make_data: bool,
    /// Folder holding models/ and priors/ (default: the current folder).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
}

pub fn run(a: DemoArgs) -> Result<(), CliError> {
    if a.make_data {
        let files = make_synthetic_data(
            &a.root.join("models/demo/synthetic_truth.toml"),
            &a.root.join("models/demo/data"),
        )
        .map_err(CliError::bad)?;
        for f in files {
            eprintln!("wrote {} (SYNTHETIC)", f.display());
        }
        return Ok(());
    }
    if !a.root.join("models").is_dir() {
        return Err(CliError::bad(format!(
            "--root {}: expected the bridgelaw folder holding models/ and priors/ (run from the repository root)",
            a.root.display()
        )));
    }
    let out = run_demo(&DemoOptions {
        root: a.root.clone(),
        out: a.out.clone(),
        quick: a.quick,
        seed: a.seed,
        progress: true,
    })
    .map_err(CliError::failed)?;
    println!("\n{}", out.table);
    if !out.refine_next.is_empty() {
        println!(
            "Refine next, most useful first: {}",
            out.refine_next.join(" → ")
        );
    }
    println!(
        "\nReport: {} ({:.0} s). Open it in a browser.",
        out.report.display(),
        out.seconds
    );
    Ok(())
}
