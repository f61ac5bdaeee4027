//! Timed NUTS benchmark on the SPM: the two particle diffusivities (D_n, D_p) plus the noise sd,
//! from one synthetic 1C discharge of 360 points (the project's own SPM with Chen2020
//! parameters, plus Gaussian noise of 2 mV), with log-normal priors (sd of ln = 2) whose medians
//! sit 15× above the truth (below, the
//! prior centre itself would drive the positive surface stoichiometry past 1 before the cut-off); 4 chains × (1000 tune +
//! 1000 draws), initialised from the MAP. Target: < 20 s wall on 2 cores with R-hat < 1.01,
//! bulk ESS > 400 and no divergences.
//!
//! One timed run (a criterion bench would need ≥ 10 such runs); the per-call cost of ln p + its
//! gradient on the same posterior is in `benches/calibrate.rs`.
//!
//! ```text
//! cargo run --release --example bench_calibrate_spm -- [--chains 4] [--tune 1000]
//!     [--draws 1000] [--seed 42] [--init map|prior] [--low-rank]
//! ```

use anyhow::{Context, Result, bail};
use bridgelaw::calibrate::{
    CurveObservation, InitStrategy, Likelihood, MassMatrix, Noise, NutsConfig, Posterior,
    SigmaPrior, sample, summarize,
};
use bridgelaw::cell::{CellParams, Protocol, SolverOptions, simulate};
use bridgelaw::chain::ChainModel;
use bridgelaw::dist::sample::{fill_standard_normals, stream_rng};
use bridgelaw::dist::{JointDistribution, Parameter, Transform};
use bridgelaw::model::evaluate;
use nalgebra::{DMatrix, DVector};
use std::path::Path;
use std::time::Instant;

/// Output points on the discharge.
const POINTS: usize = 360;
/// Synthetic noise sd [V].
const NOISE: f64 = 0.002;
/// Prior medians are this factor away from the truth.
const OFF: f64 = 15.0;
/// Prior sd of ln D.
const LOG_SD: f64 = 2.0;

fn main() -> Result<()> {
    let mut cfg = NutsConfig {
        tune: 1000,
        draws: 1000,
        chains: 4,
        init: InitStrategy::Map,
        progress: false,
        ..NutsConfig::default()
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--chains" => cfg.chains = val("--chains")?.parse()?,
            "--tune" => cfg.tune = val("--tune")?.parse()?,
            "--draws" => cfg.draws = val("--draws")?.parse()?,
            "--seed" => cfg.seed = val("--seed")?.parse()?,
            "--low-rank" => cfg.mass_matrix = MassMatrix::LowRank,
            "--init" => {
                cfg.init = match val("--init")?.as_str() {
                    "map" => InitStrategy::Map,
                    "prior" => InitStrategy::Prior,
                    v => bail!("--init: expected map or prior, found {v}"),
                }
            }
            s => bail!("unknown argument {s}"),
        }
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/ocp");
    let p = CellParams::chen2020_from_dir(Path::new(dir))?;
    let truth = [p.neg.diffusivity.scale, p.pos.diffusivity.scale];
    let protocol = Protocol::c_rate(1.0, 4000.0);
    // Grid: 360 points from t = 0 to just before the true cut-off.
    let sol = simulate(&p, &protocol, &SolverOptions::default())?;
    let t_end = sol
        .cutoff_time
        .context("the 1C discharge should reach the cut-off")?;
    let times: Vec<f64> = (0..POINTS)
        .map(|k| 0.99 * t_end * k as f64 / (POINTS - 1) as f64)
        .collect();
    let model = ChainModel::cell(
        p.clone(),
        SolverOptions::default(),
        &["D_n", "D_p"],
        protocol,
        times,
    )
    .map_err(anyhow::Error::msg)?;
    let clean = evaluate(&model, &truth)?;
    let mut noise = vec![0.0; POINTS];
    fill_standard_normals(&mut stream_rng(7, 0), &mut noise);
    let data: Vec<f64> = clean[..POINTS]
        .iter()
        .zip(&noise)
        .map(|(v, n)| v + NOISE * n)
        .collect();
    let param = |name: &str| Parameter {
        name: name.into(),
        unit: "m^2/s".into(),
        transform: Transform::Log,
        source: Some(format!("median {OFF}x away from the synthetic truth")),
    };
    let prior = JointDistribution::new(
        "SPM diffusivities, 15x off".into(),
        "benchmark".into(),
        vec![param("D_n"), param("D_p")],
        DVector::from_vec(vec![(truth[0] * OFF).ln(), (truth[1] * OFF).ln()]),
        DMatrix::from_diagonal_element(2, 2, LOG_SD * LOG_SD),
    )?;
    let post = Posterior::new(
        &model,
        &prior,
        vec![CurveObservation {
            name: "spm_1C".into(),
            output: 0,
            values: data,
            noise: Noise::Inferred {
                prior: SigmaPrior::HalfNormal { scale: 0.01 },
            },
        }],
        Likelihood::Gaussian,
    )?;
    println!(
        "SPM (Chen2020), 1C to {t_end:.0} s, {POINTS} points, noise {:.1} mV; truth D_n = {:.3e}, \
         D_p = {:.3e} m^2/s; priors {OFF}x off (sd of ln {LOG_SD})",
        NOISE * 1e3,
        truth[0],
        truth[1]
    );
    let mut k = post.gradient_kernel();
    let z = post.prior_centre();
    let mut g = vec![0.0; post.dim()];
    let t = Instant::now();
    for _ in 0..20 {
        k.logp_grad(&z, &mut g)?;
    }
    println!(
        "ln p + exact gradient (dim {}): {:.2} ms per call",
        post.dim(),
        t.elapsed().as_secs_f64() / 20.0 * 1e3
    );
    drop(k);
    println!(
        "NUTS: {} chains x ({} tune + {} draws), init {:?}, {:?} mass matrix, {} threads",
        cfg.chains,
        cfg.tune,
        cfg.draws,
        cfg.init,
        cfg.mass_matrix,
        rayon::current_num_threads()
    );
    let t = Instant::now();
    let run = sample(&post, &cfg)?;
    let wall = t.elapsed().as_secs_f64();
    let s = summarize(&post, &run);
    print!("{}", s.to_table());
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
    let h = run.health();
    let rhat = s.params.iter().map(|p| p.rhat).fold(0.0, f64::max);
    let ess = s
        .params
        .iter()
        .map(|p| p.ess_bulk)
        .fold(f64::INFINITY, f64::min);
    let div: u64 = h.divergences.iter().sum();
    let leap: u64 = run
        .chains
        .iter()
        .flat_map(|c| c.stats.iter().map(|s| s.n_leapfrog))
        .sum();
    println!(
        "truth D_n {:.3e}, D_p {:.3e}; mean leapfrog steps per draw {:.1}; warm-up s per chain {:?}",
        truth[0],
        truth[1],
        leap as f64 / (cfg.draws as f64 * cfg.chains as f64),
        run.chains
            .iter()
            .map(|c| format!("{:.1}", c.seconds_warmup))
            .collect::<Vec<_>>()
    );
    println!(
        "RESULT wall {wall:.1} s (target < 20 s), max R-hat {rhat:.4} (< 1.01), min bulk ESS \
         {ess:.0} (> 400), divergences {div} (0): {}",
        if wall < 20.0 && rhat < 1.01 && ess > 400.0 && div == 0 {
            "MET"
        } else {
            "NOT MET"
        }
    );
    for n in &run.notes {
        println!("note: {n}");
    }
    Ok(())
}
