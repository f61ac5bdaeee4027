//! Which atomistic calculation to refine next, using the library directly: load a study (by
//! default the shipped graphite diffusivity from an NEB barrier and attempt frequency, or any
//! models/*.toml given), then rank its inputs two ways — the refine-next ranking (variance
//! removed by halving each input's uncertainty, correlations included) and Sobol first-order and
//! total indices with bootstrap intervals.
//!
//! ```text
//! cargo run --release --example sensitivity_ranking -- [models/STUDY.toml]
//! ```

use bridgelaw::sensitivity::{RankingSettings, SensitivityTable, SobolSettings, ranking, sobol};
use bridgelaw::study::load_study;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/graphite_diffusivity_neb.toml")
        });
    let study = load_study(&path)?;
    println!("# {}\n", study.title);
    let (model, dist) = (&study.model, &study.dist);

    let rank = ranking(model, dist, &RankingSettings::default())?;
    let sobol = sobol(
        model,
        dist,
        &SobolSettings {
            base_samples: 4096,
            seed: 11,
            ..SobolSettings::default()
        },
    )?;
    for table in [&rank as &dyn SensitivityTable, &sobol] {
        println!("{}", table.to_markdown());
    }
    println!(
        "Refine next, most useful first: {}",
        rank.headline().join(" → ")
    );
    Ok(())
}
