//! MAP + Laplace calibration of the SPMe against the About:Energy NMC rate tests (C/2, 1C, 2C),
//! the fast version of `examples/calibrate_about_energy.rs`: free D_n, D_p, k_n, k_p,
//! R_contact (priors/about_energy_nmc_kinetics.toml) and one noise sd per curve. Guards the fit
//! (RMSE per curve), a finite mode and positive Laplace sds.
//!
//! Data: About:Energy open parameterisation, CC BY-SA 4.0, shipped in data/about_energy_nmc (see its README).

use bridgelaw::calibrate::map::{MapOptions, find_map};
use bridgelaw::calibrate::{
    Likelihood, Noise, Posterior, SigmaPrior, SignConvention, bind_discharge_curves, read_curve,
};
use bridgelaw::cell::{CellModelKind, SolverOptions, read_bpx_file};
use bridgelaw::dist::file::load_priors;
use std::path::Path;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/about_energy_nmc");
const PRIORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/priors/about_energy_nmc_kinetics.toml"
);

#[test]
fn about_energy_rate_tests_map_laplace_fit() {
    let bpx = read_bpx_file(&Path::new(DATA).join("nmc_pouch_cell_BPX.json")).unwrap();
    let prior = load_priors(Path::new(PRIORS)).unwrap();
    assert_eq!(prior.names(), ["D_n", "D_p", "k_n", "k_p", "R_contact"]);
    let curves: Vec<_> = [
        "NMC_25degC_Co2.csv",
        "NMC_25degC_1C.csv",
        "NMC_25degC_2C.csv",
    ]
    .iter()
    .map(|f| read_curve(&Path::new(DATA).join(f), SignConvention::DischargeNegative).unwrap())
    .collect();
    let solver = SolverOptions {
        model: CellModelKind::Spme,
        ..SolverOptions::default()
    };
    let problem = bind_discharge_curves(
        &bpx.params,
        &prior.names(),
        &curves,
        150,
        &solver,
        Some(100),
        Noise::Inferred {
            prior: SigmaPrior::HalfNormal { scale: 0.05 },
        },
    )
    .unwrap();
    // The currents read off the files: C/2, 1C, 2C of the 12.5 Ah cell.
    for (c, want) in problem.curves.iter().zip([6.25, 12.5, 25.0]) {
        assert!(
            (c.current_a / want - 1.0).abs() < 0.01,
            "{}: {}",
            c.name,
            c.current_a
        );
    }
    let post = Posterior::new(
        &problem.model,
        &prior,
        problem.observations.clone(),
        Likelihood::Gaussian,
    )
    .unwrap();
    let rmse0 = post.curve_rmse(&prior.median_natural()).unwrap();
    let map = find_map(&post, &MapOptions::default()).unwrap();
    let rmse = post.curve_rmse(&map.x[..post.n_theta()]).unwrap();
    eprintln!(
        "RMSE C/2, 1C, 2C [mV]: BPX values {:?}, MAP {:?}; MAP {:?}; {} iterations, {}",
        rmse0.iter().map(|r| r * 1e3).collect::<Vec<_>>(),
        rmse.iter().map(|r| r * 1e3).collect::<Vec<_>>(),
        map.x,
        map.iterations,
        map.termination
    );
    assert!(map.z.iter().chain(&map.x).all(|v| v.is_finite()));
    assert!(map.log_density.is_finite());
    // σ at the mode is the curve's RMSE (the Gaussian ML estimate), up to the prior's pull.
    for (k, r) in rmse.iter().enumerate() {
        let s = map.x[post.n_theta() + k];
        assert!((s / r - 1.0).abs() < 0.05, "sigma {s} vs RMSE {r}");
    }
    let lap = map
        .laplace
        .as_ref()
        .expect("Hessian positive definite at the mode");
    assert_eq!(lap.dim(), post.dim());
    assert!(map.summary.iter().all(|p| p.sd > 0.0 && p.sd.is_finite()));
    // The fit improves on the BPX values for every curve, and stays within the guard.
    let guard_mv = [GUARD_CO2_MV, GUARD_1C_MV, GUARD_2C_MV];
    for k in 0..3 {
        assert!(
            rmse[k] <= rmse0[k],
            "curve {k}: MAP {} > BPX {}",
            rmse[k],
            rmse0[k]
        );
        assert!(
            rmse[k] * 1e3 < guard_mv[k],
            "curve {k}: {} mV",
            rmse[k] * 1e3
        );
    }
}

/// RMSE guards [mV]: the MAP fit measured when the test was written (150 points and 100 time
/// steps per curve: C/2 14.4, 1C 11.4, 2C 16.5 mV; BPX values 21.8, 30.2, 42.3 mV) plus 25 %.
const GUARD_CO2_MV: f64 = 18.0;
const GUARD_1C_MV: f64 = 14.3;
const GUARD_2C_MV: f64 = 20.6;
