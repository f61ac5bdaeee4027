//! Known-answer tests of the sensitivity engines: analytic test functions, linear Gaussian
//! models in closed form, an Arrhenius law whose ranking is obvious, reproducibility across
//! thread counts.

use super::testfns::*;
use super::*;
use crate::dist::{JointDistribution, Parameter, Transform};
use crate::laws::arrhenius::ArrheniusModel;
use crate::model::{Axis, InputSpec, Model, ModelError, OutputSpec, Scalar};
use nalgebra::{DMatrix, DVector};

fn dist(names: &[&str], tr: &[Transform], mean: &[f64], cov: DMatrix<f64>) -> JointDistribution {
    let params = names
        .iter()
        .zip(tr)
        .map(|(n, t)| Parameter {
            name: n.to_string(),
            unit: "1".into(),
            transform: *t,
            source: None,
        })
        .collect();
    JointDistribution::new(
        "t".into(),
        "test".into(),
        params,
        DVector::from_column_slice(mean),
        cov,
    )
    .unwrap()
}

fn quiet_sobol(n: usize, seed: u64) -> SobolSettings {
    SobolSettings {
        base_samples: n,
        seed,
        bootstrap: 100,
        progress: false,
        ..Default::default()
    }
}

fn cov3(sd: [f64; 3], rho: [[f64; 3]; 3]) -> DMatrix<f64> {
    DMatrix::from_fn(3, 3, |i, j| rho[i][j] * sd[i] * sd[j])
}

#[test]
fn ishigami_indices_within_0_01_at_2_14() {
    let f = ScalarCubeFn {
        dim: 3,
        f: |u: &[f64]| ishigami_unit(u, 7.0, 0.1),
    };
    let r = sobol_fn(&f, &quiet_sobol(1 << 14, 1)).unwrap();
    let o = &r.per_output[0];
    let (s1, st) = ishigami_indices(7.0, 0.1);
    for i in 0..3 {
        assert!(
            (o.first[i] - s1[i]).abs() < 0.01,
            "S1 {:?} vs {s1:?}",
            o.first
        );
        assert!(
            (o.total[i] - st[i]).abs() < 0.01,
            "ST {:?} vs {st:?}",
            o.total
        );
        // The bootstrap interval covers the analytic value.
        assert!(
            o.first_ci[i][0] <= s1[i] && s1[i] <= o.first_ci[i][1],
            "{i}: {:?} {s1:?}",
            o.first_ci
        );
        assert!(
            o.total_ci[i][0] <= st[i] && st[i] <= o.total_ci[i][1],
            "{i}: {:?} {st:?}",
            o.total_ci
        );
        assert!(o.first_se[i] > 0.0 && o.first_se[i] < 0.02);
    }
    assert_eq!(r.evaluations, (1 << 14) * 5);
    assert!(!r.to_markdown().is_empty());
    assert_eq!(r.long_rows().len(), 3 * 8);
}

#[test]
fn g_function_known_indices() {
    let a = [0.0, 1.0, 4.5, 9.0, 99.0, 99.0];
    let f = ScalarCubeFn {
        dim: 6,
        f: |u: &[f64]| g_function(u, &a),
    };
    let r = sobol_fn(&f, &quiet_sobol(1 << 14, 3)).unwrap();
    let (s1, st) = g_function_indices(&a);
    let o = &r.per_output[0];
    for i in 0..6 {
        assert!(
            (o.first[i] - s1[i]).abs() < 0.02,
            "S1 {:?} vs {s1:?}",
            o.first
        );
        assert!(
            (o.total[i] - st[i]).abs() < 0.02,
            "ST {:?} vs {st:?}",
            o.total
        );
    }
    // Ordering recovered by Morris too (per unit of u; |4u − 2| has slope ±4).
    let m = morris_fn(
        &f,
        &MorrisSettings {
            trajectories: 40,
            progress: false,
            ..Default::default()
        },
    )
    .unwrap();
    let ms = &m.per_output[0].mu_star;
    assert!(
        ms[0] > ms[1] && ms[1] > ms[2] && ms[2] > ms[3] && ms[3] > ms[4],
        "{ms:?}"
    );
}

#[test]
fn linear_gaussian_independent_closed_form() {
    let beta = [1.0, 2.0, -3.0];
    let sd = [1.0, 0.5, 0.4];
    let id = Transform::Identity;
    let dd = dist(
        &["x1", "x2", "x3"],
        &[id, id, id],
        &[1.0, -2.0, 0.5],
        cov3(sd, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
    );
    let m = LinearModel::new(beta.to_vec());
    let v: f64 = (0..3).map(|i| (beta[i] * sd[i]).powi(2)).sum();
    let exact: Vec<f64> = (0..3).map(|i| (beta[i] * sd[i]).powi(2) / v).collect();

    let s = sobol(&m, &dd, &quiet_sobol(1 << 13, 0)).unwrap();
    assert!(!s.correlated);
    for i in 0..3 {
        assert!(
            (s.per_output[0].first[i] - exact[i]).abs() < 0.01,
            "{:?} {exact:?}",
            s.per_output[0].first
        );
        assert!(
            (s.per_output[0].total[i] - exact[i]).abs() < 0.01,
            "{:?} {exact:?}",
            s.per_output[0].total
        );
    }
    // Delta method is exact for a linear model; no cross terms without correlation.
    let dv = delta_variance(&m, &dd).unwrap();
    assert!((dv.per_output[0].variance - v).abs() < 1e-12);
    assert!(dv.per_output[0].cross.is_empty());
    for i in 0..3 {
        assert!((dv.per_output[0].own_share[i] - exact[i]).abs() < 1e-12);
    }
    // Shapley = Sobol for independent inputs.
    let sh = shapley(
        &m,
        &dd,
        &ShapleySettings {
            outer: 2000,
            progress: false,
            ..Default::default()
        },
    )
    .unwrap();
    for i in 0..3 {
        assert!(
            (sh.per_output[0].shares[i] - exact[i]).abs() < 0.03,
            "{:?}",
            sh.per_output[0].shares
        );
    }
    // Morris: EE per sd is exactly β_i·sd_i, σ = 0.
    let mo = morris(
        &m,
        &dd,
        &MorrisSettings {
            trajectories: 10,
            progress: false,
            ..Default::default()
        },
    )
    .unwrap();
    for i in 0..3 {
        assert!((mo.per_output[0].mu_star[i] - (beta[i] * sd[i]).abs()).abs() < 1e-9);
        assert!((mo.per_output[0].mu[i] - beta[i] * sd[i]).abs() < 1e-9);
        assert!(mo.per_output[0].sigma[i] < 1e-9);
    }
}

#[test]
fn linear_gaussian_correlated_closed_form() {
    let beta = [1.0, 2.0, -1.5];
    let sd = [1.0, 0.8, 1.2];
    let rho = [[1.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 1.0]];
    let cov = cov3(sd, rho);
    let id = Transform::Identity;
    let dd = dist(
        &["x1", "x2", "x3"],
        &[id, id, id],
        &[0.0, 0.0, 0.0],
        cov.clone(),
    );
    let m = LinearModel::new(beta.to_vec());
    let b = DVector::from_column_slice(&beta);
    let var = (b.transpose() * &cov * &b)[(0, 0)];

    // Sobol indices on the Cholesky normals: (βᵀL)_i² / Var — not those of the named inputs.
    let s = sobol(&m, &dd, &quiet_sobol(1 << 13, 0)).unwrap();
    assert!(s.correlated && s.note.contains("Shapley"));
    let bl = b.transpose() * dd.cholesky();
    for i in 0..3 {
        let e = bl[i] * bl[i] / var;
        assert!(
            (s.per_output[0].first[i] - e).abs() < 0.01,
            "{:?} vs {e}",
            s.per_output[0].first
        );
        assert!((s.per_output[0].total[i] - e).abs() < 0.01);
    }

    // Delta-method cross terms 2 β_i β_j Σ_ij, and the sum is exact.
    let dv = delta_variance(&m, &dd).unwrap();
    let o = &dv.per_output[0];
    assert!((o.variance - var).abs() < 1e-12);
    assert_eq!(o.cross.len(), 3);
    for c in &o.cross {
        assert!((c.value - 2.0 * beta[c.i] * beta[c.j] * cov[(c.i, c.j)]).abs() < 1e-12);
    }

    // Shapley effects against the exact formula with conditional variances (d = 3).
    let exact = linear_gaussian_shapley(&beta, &cov);
    assert!((exact.iter().sum::<f64>() - var).abs() < 1e-10);
    let sh = shapley(
        &m,
        &dd,
        &ShapleySettings {
            outer: 4000,
            var_samples: 40_000,
            progress: false,
            ..Default::default()
        },
    )
    .unwrap();
    let o = &sh.per_output[0];
    assert!(
        (o.variance - var).abs() < 0.03 * var,
        "{} vs {var}",
        o.variance
    );
    for i in 0..3 {
        assert!(
            (o.effects[i] - exact[i]).abs() < 0.03 * var,
            "{:?} vs {exact:?}",
            o.effects
        );
        assert!(
            (o.effects[i] - exact[i]).abs() < 4.0 * o.effects_se[i] + 0.02 * var,
            "se {:?}",
            o.effects_se
        );
    }
    assert!((o.shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);

    // The permutation scheme agrees too.
    let shp = shapley(
        &m,
        &dd,
        &ShapleySettings {
            exact_max_dim: 2,
            permutations: 3000,
            var_samples: 40_000,
            progress: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(shp.scheme, "random permutations");
    for i in 0..3 {
        assert!(
            (shp.per_output[0].effects[i] - exact[i]).abs() < 0.06 * var,
            "{:?} vs {exact:?}",
            shp.per_output[0].effects
        );
    }

    // Halving ranking under the delta method: check against S Σ' Sᵀ directly.
    let rk = ranking(
        &m,
        &dd,
        &RankingSettings {
            mc_samples: 4096,
            progress: false,
            ..Default::default()
        },
    )
    .unwrap();
    for i in 0..3 {
        let mut dmat = DMatrix::identity(3, 3);
        dmat[(i, i)] = 0.5;
        let c2 = &dmat * &cov * &dmat;
        let v2 = (b.transpose() * c2 * &b)[(0, 0)];
        assert!((rk.per_output[0].reduction[i] - (var - v2)).abs() < 1e-12);
        let mc = rk.per_output[0].reduction_mc.as_ref().unwrap()[i];
        assert!(
            (mc - (var - v2)).abs() < 0.02 * var,
            "mc {mc} vs {}",
            var - v2
        );
    }
}

#[test]
fn arrhenius_ranking_loose_barrier_first() {
    // D0 known to 2 % (lognormal), E_a to ±50 meV, T to ±0.1 K: E_a must be refined first.
    let m = ArrheniusModel::default();
    let tr = [Transform::Log, Transform::Identity, Transform::Identity];
    let cov = DMatrix::from_diagonal(&DVector::from_vec(vec![
        0.02f64.powi(2),
        0.05f64.powi(2),
        0.1f64.powi(2),
    ]));
    let dd = dist(&["D0", "E_a", "T"], &tr, &[(1e-7f64).ln(), 0.3, 300.0], cov);
    let r = ranking(
        &m,
        &dd,
        &RankingSettings {
            mc_samples: 2048,
            progress: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.headline()[0], "E_a");
    assert_eq!(r.per_output[0].order[0], 1);
    assert!(r.per_output[0].reduction_fraction[1] > 0.7);
    assert!(
        r.to_markdown().contains("| 1 | E_a |"),
        "{}",
        r.to_markdown()
    );
    let csv = long_rows_csv(&r.long_rows()).unwrap();
    assert!(
        csv.starts_with("method,output,input,metric,value\nranking,D,E_a,rank,1"),
        "{csv}"
    );
    if std::env::var("SHOW_MD").is_ok() {
        println!(
            "{}\n{}\n{csv}",
            r.to_markdown(),
            local(&m, &dd).unwrap().to_markdown()
        );
    }

    // Local elasticities: ∂lnD/∂lnD0 = 1, ∂lnD/∂lnE_a = −E_a/(k_B T), ∂lnD/∂lnT = +E_a/(k_B T).
    let l = local(&m, &dd).unwrap();
    let x = 0.3 / (crate::constants::K_B_EV * 300.0);
    let e = &l.elasticity[0];
    assert!((e[0].unwrap() - 1.0).abs() < 1e-12);
    assert!((e[1].unwrap() + x).abs() < 1e-10);
    assert!((e[2].unwrap() - x).abs() < 1e-10);

    // Shapley ranks E_a first too.
    let sh = shapley(
        &m,
        &dd,
        &ShapleySettings {
            outer: 200,
            var_samples: 4000,
            progress: false,
            ..Default::default()
        },
    )
    .unwrap();
    let s = &sh.per_output[0].shares;
    assert!(s[1] > s[0] && s[1] > s[2], "{s:?}");
}

/// y(t) = x1 + t·x2 on t = (0, 1, 2): a curve with per-point indices 1/(1+t²), t²/(1+t²).
struct Line {
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl Line {
    fn new() -> Self {
        let axis = Axis {
            name: "t".into(),
            unit: "s".into(),
            values: vec![0.0, 1.0, 2.0],
        };
        Self {
            inputs: vec![InputSpec::new("x1", "1"), InputSpec::new("x2", "1")],
            outputs: vec![
                OutputSpec::curve("y", "1", axis),
                OutputSpec::scalar("s", "1"),
            ],
        }
    }
}

impl Model for Line {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, th: &[D], out: &mut [D]) -> Result<(), ModelError> {
        for (k, t) in [0.0, 1.0, 2.0].iter().enumerate() {
            out[k] = th[0] + th[1] * *t;
        }
        out[3] = th[0] * th[1];
        Ok(())
    }
}

#[test]
fn curve_outputs_aggregate_variance_weighted() {
    let m = Line::new();
    let id = Transform::Identity;
    let dd = dist(
        &["x1", "x2"],
        &[id, id],
        &[1.0, 2.0],
        DMatrix::identity(2, 2),
    );
    let s = sobol(&m, &dd, &quiet_sobol(1 << 12, 0)).unwrap();
    assert_eq!(s.per_output.len(), 4);
    assert_eq!(s.aggregated.len(), 1);
    // Σ_k V_k S1_k / Σ V_k = Σ 1 / Σ (1 + t²) = 3/8.
    assert!(
        (s.aggregated[0].first[0] - 0.375).abs() < 0.01,
        "{:?}",
        s.aggregated[0].first
    );
    assert!((s.aggregated[0].first[1] - 0.625).abs() < 0.01);
    assert!((s.per_output[2].first[1] - 0.8).abs() < 0.01);
    let v = delta_variance(&m, &dd).unwrap();
    assert!((v.aggregated[0].variance - 8.0).abs() < 1e-12);
    let rk = ranking(
        &m,
        &dd,
        &RankingSettings {
            progress: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(rk.headline(), vec!["x2", "x1"]);
    let sh = shapley(
        &m,
        &dd,
        &ShapleySettings {
            outer: 500,
            progress: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        (sh.aggregated[0].shares[0] - 0.375).abs() < 0.05,
        "{:?}",
        sh.aggregated[0].shares
    );
    let all_r = all(
        &m,
        &dd,
        &AllSettings {
            ranking: RankingSettings {
                progress: false,
                ..Default::default()
            },
            sobol: quiet_sobol(256, 0),
            morris: MorrisSettings {
                progress: false,
                ..Default::default()
            },
            shapley: ShapleySettings {
                outer: 50,
                var_samples: 500,
                progress: false,
                ..Default::default()
            },
        },
    )
    .unwrap();
    assert!(all_r.to_markdown().contains("y[variance-weighted]"));
    let json = serde_json::to_string(&all_r).unwrap();
    assert!(json.contains("\"ranking\""));
    assert!(!all_r.long_rows().is_empty());
}

#[test]
fn identical_results_for_one_and_two_threads() {
    let beta = [1.0, 2.0, -1.5];
    let cov = cov3(
        [1.0, 0.8, 1.2],
        [[1.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 1.0]],
    );
    let tr = [Transform::Identity, Transform::Log, Transform::Identity];
    let dd = dist(&["x1", "x2", "x3"], &tr, &[0.0, 0.0, 0.0], cov);
    let m = LinearModel::new(beta.to_vec());
    let run = |k: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(k)
            .build()
            .unwrap()
            .install(|| {
                (
                    sobol(&m, &dd, &quiet_sobol(1 << 11, 5)).unwrap(),
                    morris(
                        &m,
                        &dd,
                        &MorrisSettings {
                            progress: false,
                            seed: 3,
                            ..Default::default()
                        },
                    )
                    .unwrap(),
                    shapley(
                        &m,
                        &dd,
                        &ShapleySettings {
                            outer: 300,
                            var_samples: 3000,
                            progress: false,
                            ..Default::default()
                        },
                    )
                    .unwrap(),
                    shapley(
                        &m,
                        &dd,
                        &ShapleySettings {
                            exact_max_dim: 1,
                            permutations: 50,
                            var_samples: 3000,
                            progress: false,
                            ..Default::default()
                        },
                    )
                    .unwrap(),
                    ranking(
                        &m,
                        &dd,
                        &RankingSettings {
                            mc_samples: 1000,
                            progress: false,
                            seed: 2,
                        },
                    )
                    .unwrap(),
                )
            })
    };
    let (a, b) = (run(1), run(2));
    // JSON (shortest round-trip floats; NaN as null) compares bit-identical values.
    let js = |x: &dyn erased::Ser| x.json();
    assert_eq!(js(&a.0), js(&b.0));
    assert_eq!(js(&a.1), js(&b.1));
    assert_eq!(js(&a.2), js(&b.2));
    assert_eq!(js(&a.3), js(&b.3));
    assert_eq!(js(&a.4), js(&b.4));
    // A different seed gives a different result (the seed is used).
    let c = sobol(&m, &dd, &quiet_sobol(1 << 11, 6)).unwrap();
    assert_ne!(a.0.per_output[0].first, c.per_output[0].first);
}

mod erased {
    pub trait Ser {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap()
        }
    }
}

/// Fails for x1 > 2 (a recoverable model error): rows are dropped and counted.
struct Fragile(LinearModel);

impl Model for Fragile {
    fn inputs(&self) -> &[InputSpec] {
        self.0.inputs()
    }
    fn outputs(&self) -> &[OutputSpec] {
        self.0.outputs()
    }
    fn eval<D: Scalar>(&self, th: &[D], out: &mut [D]) -> Result<(), ModelError> {
        if th[0].re() > 2.0 {
            return Err(ModelError::out_of_range("x1", th[0].re(), "x1 ≤ 2"));
        }
        self.0.eval(th, out)
    }
}

#[test]
fn errors_are_values_not_panics() {
    let id = Transform::Identity;
    let dd = dist(
        &["x1", "x2"],
        &[id, id],
        &[0.0, 0.0],
        DMatrix::identity(2, 2),
    );
    // Wrong dimension.
    let m3 = LinearModel::new(vec![1.0, 2.0, 3.0]);
    assert!(matches!(
        local(&m3, &dd),
        Err(SensitivityError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        sobol(&m3, &dd, &quiet_sobol(64, 0)),
        Err(SensitivityError::DimensionMismatch { .. })
    ));
    // Bad settings.
    let m2 = LinearModel::new(vec![1.0, 2.0]);
    assert!(sobol(&m2, &dd, &quiet_sobol(2, 0)).is_err());
    assert!(
        morris(
            &m2,
            &dd,
            &MorrisSettings {
                levels: 3,
                ..Default::default()
            }
        )
        .is_err()
    );
    assert!(
        shapley(
            &m2,
            &dd,
            &ShapleySettings {
                inner: 1,
                ..Default::default()
            }
        )
        .is_err()
    );
    // About 2 % of draws fail: dropped and counted, not fatal; 50 % fail: an error.
    let f = Fragile(LinearModel::new(vec![1.0, 2.0]));
    let r = sobol(&f, &dd, &quiet_sobol(1024, 0)).unwrap();
    assert!(r.failed_rows > 0);
    let dd_bad = dist(
        &["x1", "x2"],
        &[id, id],
        &[2.0, 0.0],
        DMatrix::identity(2, 2),
    );
    assert!(matches!(
        sobol(&f, &dd_bad, &quiet_sobol(1024, 0)),
        Err(SensitivityError::TooManyFailures { .. })
    ));
}

/// Robustness of the known-answer tolerances over seeds (run with `--ignored`).
#[test]
#[ignore]
fn tolerances_hold_over_many_seeds() {
    let f = ScalarCubeFn {
        dim: 3,
        f: |u: &[f64]| ishigami_unit(u, 7.0, 0.1),
    };
    let (s1, st) = ishigami_indices(7.0, 0.1);
    let (mut worst, mut missed) = (0.0f64, 0);
    for seed in 0..30 {
        let r = sobol_fn(&f, &quiet_sobol(1 << 14, seed)).unwrap();
        let o = &r.per_output[0];
        for i in 0..3 {
            worst = worst
                .max((o.first[i] - s1[i]).abs())
                .max((o.total[i] - st[i]).abs());
            missed += usize::from(!(o.first_ci[i][0] <= s1[i] && s1[i] <= o.first_ci[i][1]));
            missed += usize::from(!(o.total_ci[i][0] <= st[i] && st[i] <= o.total_ci[i][1]));
        }
    }
    println!("Ishigami 2^14 over 30 seeds: worst error {worst:.4}, CI misses {missed}/180");
    assert!(worst < 0.01);
    let beta = [1.0, 2.0, -1.5];
    let cov = cov3(
        [1.0, 0.8, 1.2],
        [[1.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 1.0]],
    );
    let id = Transform::Identity;
    let dd = dist(&["x1", "x2", "x3"], &[id, id, id], &[0.0; 3], cov.clone());
    let m = LinearModel::new(beta.to_vec());
    let exact = linear_gaussian_shapley(&beta, &cov);
    let var: f64 = exact.iter().sum();
    let mut worst_sh = 0.0f64;
    for seed in 0..10 {
        let sh = shapley(
            &m,
            &dd,
            &ShapleySettings {
                outer: 4000,
                var_samples: 40_000,
                seed,
                progress: false,
                ..Default::default()
            },
        )
        .unwrap();
        for i in 0..3 {
            worst_sh = worst_sh.max((sh.per_output[0].effects[i] - exact[i]).abs() / var);
        }
    }
    println!("Shapley linear Gaussian over 10 seeds: worst |error|/Var {worst_sh:.4}");
    assert!(worst_sh < 0.03);
}
