//! Calibrate the SPMe against the About:Energy NMC rate tests (C/2, 1C, 2C at 25 °C) with NUTS.
//!
//! Free parameters: D_n, D_p [m²/s], k_n, k_p [A·m⁻²·(m³/mol)^1.5], R_contact [Ω]; priors from
//! `priors/about_energy_nmc_kinetics.toml` (centred on the cell's BPX values, widths assumed);
//! one noise sd per curve with a half-normal prior. Prints the posterior table (mean, sd,
//! 5/50/95 %, R-hat, ESS, units), the prior→posterior shift, and the fit RMSE per curve [mV]
//! at the BPX values and at the posterior mean; writes CmdStan CSVs, the summary and the
//! posterior-predictive bands with `calibrate_and_write`.
//!
//! ```text
//! cargo run --release --example calibrate_about_energy -- [OUT_DIR] [--chains 4] [--tune 500]
//!     [--draws 500] [--points 300] [--steps 300] [--seed 42] [--model spme|spm] [--init map|prior]
//!     [--dry-run]
//! ```
//!
//! Data: About:Energy open parameterisation, CC BY-SA 4.0 (data/about_energy_nmc, shipped with its licence).

use anyhow::{Context, Result, bail};
use bridgelaw::calibrate::{
    InitStrategy, Likelihood, Noise, NutsConfig, Posterior, SigmaPrior, SignConvention,
    bind_discharge_curves, calibrate_and_write, read_curve,
};
use bridgelaw::cell::{CellModelKind, SolverOptions, read_bpx_file};
use bridgelaw::dist::file::load_priors;
use std::path::{Path, PathBuf};
use std::time::Instant;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/about_energy_nmc");
const PRIORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/priors/about_energy_nmc_kinetics.toml"
);
/// The rate tests used, in order.
const CURVES: [&str; 3] = [
    "NMC_25degC_Co2.csv",
    "NMC_25degC_1C.csv",
    "NMC_25degC_2C.csv",
];
/// Half-normal scale of each curve's noise sd [V].
const SIGMA_SCALE: f64 = 0.05;

struct Args {
    out: PathBuf,
    cfg: NutsConfig,
    points: usize,
    steps: Option<usize>,
    model: CellModelKind,
    dry_run: bool,
}

fn parse_args() -> Result<Args> {
    let mut out = PathBuf::from("/tmp");
    let mut cfg = NutsConfig {
        tune: 500,
        draws: 500,
        chains: 4,
        init: InitStrategy::Map,
        ..NutsConfig::default()
    };
    let mut points = 300;
    let mut steps = Some(300);
    let mut dry_run = false;
    let mut model = CellModelKind::Spme;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--chains" => cfg.chains = val("--chains")?.parse()?,
            "--tune" => cfg.tune = val("--tune")?.parse()?,
            "--draws" => cfg.draws = val("--draws")?.parse()?,
            "--seed" => cfg.seed = val("--seed")?.parse()?,
            "--points" => points = val("--points")?.parse()?,
            "--steps" => {
                let v: usize = val("--steps")?.parse()?;
                steps = (v > 0).then_some(v)
            }
            "--dry-run" => dry_run = true,
            "--model" => {
                let v = val("--model")?;
                model = CellModelKind::parse(&v).with_context(|| format!("--model {v}"))?
            }
            "--init" => {
                cfg.init = match val("--init")?.as_str() {
                    "map" => InitStrategy::Map,
                    "prior" => InitStrategy::Prior,
                    v => bail!("--init: expected map or prior, found {v}"),
                }
            }
            "-h" | "--help" => {
                println!(
                    "calibrate_about_energy [OUT_DIR=/tmp] [--chains N] [--tune N] [--draws N] \
                     [--points N] [--steps N (time steps per curve; 0: dt_max 5 s)] [--seed N] \
                     [--model spme|spm] [--init map|prior] [--dry-run (setup and timing only)]"
                );
                std::process::exit(0);
            }
            s if s.starts_with("--") => bail!("unknown option {s}"),
            s => out = PathBuf::from(s),
        }
    }
    Ok(Args {
        out,
        cfg,
        points,
        steps,
        model,
        dry_run,
    })
}

fn mv(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{:.1}", 1e3 * x))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let bpx = read_bpx_file(&Path::new(DATA).join("nmc_pouch_cell_BPX.json"))?;
    let prior = load_priors(Path::new(PRIORS))?;
    let curves = CURVES
        .iter()
        .map(|f| read_curve(&Path::new(DATA).join(f), SignConvention::DischargeNegative))
        .collect::<Result<Vec<_>, _>>()?;
    let solver = SolverOptions {
        model: args.model,
        ..SolverOptions::default()
    };
    let names = prior.names();
    let problem = bind_discharge_curves(
        &bpx.params,
        &names,
        &curves,
        args.points,
        &solver,
        args.steps,
        Noise::Inferred {
            prior: SigmaPrior::HalfNormal { scale: SIGMA_SCALE },
        },
    )?;
    let post = Posterior::new(
        &problem.model,
        &prior,
        problem.observations.clone(),
        Likelihood::Gaussian,
    )?;
    println!(
        "About:Energy NMC pouch cell (data: About:Energy, CC BY-SA 4.0), {:?}, {} points and {} per curve",
        args.model,
        args.points,
        match args.steps {
            Some(n) => format!("{n} time steps"),
            None => format!("dt_max {} s", solver.dt_max),
        }
    );
    for c in &problem.curves {
        println!(
            "  {:<18} I = {:.3} A, t = {:.0}..{:.0} s",
            c.name,
            c.current_a,
            c.times[0],
            c.times.last().unwrap_or(&0.0)
        );
    }
    let x0 = prior.median_natural();
    let curve_names: Vec<&str> = problem.curves.iter().map(|c| c.name.as_str()).collect();
    println!(
        "RMSE at the BPX values ({}): {} mV",
        curve_names.join(" / "),
        mv(&post.curve_rmse(&x0)?)
    );
    let mut kernel = post.gradient_kernel();
    let z0 = post.prior_centre();
    let mut g = vec![0.0; post.dim()];
    let t = Instant::now();
    let reps = 5;
    for _ in 0..reps {
        kernel.logp_grad(&z0, &mut g)?;
    }
    println!(
        "one ln p + exact gradient (dim {}): {:.1} ms",
        post.dim(),
        1e3 * t.elapsed().as_secs_f64() / reps as f64
    );
    drop(kernel);
    if args.dry_run {
        return Ok(());
    }
    println!(
        "NUTS: {} chains x ({} tune + {} draws), init {:?}, seed {}",
        args.cfg.chains, args.cfg.tune, args.cfg.draws, args.cfg.init, args.cfg.seed
    );
    std::fs::create_dir_all(&args.out)?;
    let t = Instant::now();
    let out = calibrate_and_write(
        &post,
        &args.cfg,
        &args.out,
        "about_energy_nmc",
        "spme_about_energy_nmc",
    )?;
    let secs = t.elapsed().as_secs_f64();
    println!("\nwall time {secs:.1} s\n");
    print!("{}", out.summary.to_table());
    for w in &out.summary.warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "\nprior -> posterior (natural units; shift = posterior mean of z minus prior mean, in prior sds)"
    );
    for p in &out.summary.params {
        println!(
            "  {:<22} prior {:>10.3e} [{:.3e}, {:.3e}]  ->  posterior {:>10.3e} [{:.3e}, {:.3e}]  shift {:+.2} sd, sd ratio {:.3}  {}",
            p.name,
            p.prior_mean,
            p.prior_q5,
            p.prior_q95,
            p.mean,
            p.q5,
            p.q95,
            p.shift_prior_sd,
            p.sd_ratio,
            p.unit
        );
    }
    let n_theta = post.n_theta();
    let xm: Vec<f64> = out.summary.params[..n_theta]
        .iter()
        .map(|p| p.mean)
        .collect();
    println!(
        "\nRMSE at the posterior mean ({}): {} mV",
        curve_names.join(" / "),
        mv(&post.curve_rmse(&xm)?)
    );
    let h = &out.run.health();
    println!(
        "divergences per chain {:?}, tree-depth saturation {:?}, E-BFMI {:?}, model errors {:?}",
        h.divergences,
        h.treedepth_saturated,
        h.e_bfmi
            .iter()
            .map(|e| format!("{e:.2}"))
            .collect::<Vec<_>>(),
        h.model_errors
    );
    for n in &out.run.notes {
        println!("note: {n}");
    }
    println!("\nwrote:");
    for f in &out.files {
        println!("  {}", f.display());
    }
    Ok(())
}
