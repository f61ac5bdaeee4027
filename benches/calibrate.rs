//! Calibration engine overhead: ln p + exact gradient per call against the bare model
//! evaluation, and a full NUTS run, on a cheap stand-in model (360-point relaxation curve,
//! 4 parameters + 1 noise sd), so the figures measure the engine, not a cell solver; then the
//! per-call cost of ln p + exact gradient on the SPM benchmark posterior (Chen2020 SPM, D_n and
//! D_p + noise sd, one synthetic 1C discharge of 360 points). The full timed NUTS run on that SPM
//! posterior (4 chains × (1000 tune + 1000 draws), priors 15× off) is the example
//! `bench_calibrate_spm`: one run takes tens of seconds, too long for criterion's ≥ 10 samples.

use bridgelaw::calibrate::{
    CurveObservation, Likelihood, Noise, NutsConfig, Posterior, SigmaPrior, sample,
};
use bridgelaw::cell::{CellParams, Protocol, SolverOptions};
use bridgelaw::chain::ChainModel;
use bridgelaw::dist::{JointDistribution, Parameter, Transform};
use bridgelaw::model::{Axis, InputSpec, Model, ModelError, OutputSpec, Scalar};
use criterion::{Criterion, criterion_group, criterion_main};
use nalgebra::{DMatrix, DVector};
use std::hint::black_box;

const N: usize = 360;

/// V(t) = E0 − R·I(t) − A·(1 − exp(−t/τ)), I(t) = 1 + 0.5·sin(t/20 s) [A], t = 0..359 s.
struct Stand {
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl Model for Stand {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, th: &[D], out: &mut [D]) -> Result<(), ModelError> {
        for (k, o) in out.iter_mut().enumerate() {
            let t = k as f64;
            *o = th[0] - th[1] * current(t) + th[2] * (-(th[3].recip() * t)).exp_m1();
        }
        Ok(())
    }
}

fn current(t: f64) -> f64 {
    1.0 + 0.5 * (t / 20.0).sin()
}

fn setup() -> (Stand, JointDistribution, Vec<f64>) {
    let names = ["E0", "R", "A", "tau"];
    let model = Stand {
        inputs: names.iter().map(|n| InputSpec::new(n, "1")).collect(),
        outputs: vec![OutputSpec::curve(
            "V",
            "V",
            Axis {
                name: "t".into(),
                unit: "s".into(),
                values: (0..N).map(|k| k as f64).collect(),
            },
        )],
    };
    let params = names
        .iter()
        .enumerate()
        .map(|(i, n)| Parameter {
            name: n.to_string(),
            unit: "1".into(),
            transform: if i == 0 {
                Transform::Identity
            } else {
                Transform::Log
            },
            source: None,
        })
        .collect();
    let prior = JointDistribution::new(
        "bench".into(),
        "bench".into(),
        params,
        DVector::from_vec(vec![4.0, (0.05f64).ln(), (0.2f64).ln(), (60.0f64).ln()]),
        DMatrix::from_diagonal(&DVector::from_vec(vec![0.01, 0.25, 0.25, 0.25])),
    )
    .unwrap();
    let data: Vec<f64> = (0..N)
        .map(|k| {
            let t = k as f64;
            4.0 - 0.05 * current(t) - 0.2 * (1.0 - (-t / 60.0).exp())
                + 0.002 * ((k * 7919 % 13) as f64 - 6.0) / 4.0
        })
        .collect();
    (model, prior, data)
}

fn bench(c: &mut Criterion) {
    let (model, prior, data) = setup();
    let post = Posterior::new(
        &model,
        &prior,
        vec![CurveObservation {
            name: "c".into(),
            output: 0,
            values: data,
            noise: Noise::Inferred {
                prior: SigmaPrior::HalfNormal { scale: 0.01 },
            },
        }],
        Likelihood::Gaussian,
    )
    .unwrap();
    let z = [
        4.0,
        (0.05f64).ln(),
        (0.2f64).ln(),
        (60.0f64).ln(),
        (0.002f64).ln(),
    ];
    let x = [4.0, 0.05, 0.2, 60.0];
    let mut out = vec![0.0; N];
    c.bench_function("model eval f64 (360 points)", |b| {
        b.iter(|| model.eval(black_box(&x[..]), &mut out).unwrap())
    });
    c.bench_function("log density f64", |b| {
        b.iter(|| post.log_density_f64(black_box(&z)).unwrap())
    });
    let mut k = post.gradient_kernel();
    let mut g = [0.0; 5];
    c.bench_function("log density + AD gradient (dim 5)", |b| {
        b.iter(|| k.logp_grad(black_box(&z), &mut g).unwrap())
    });
    let mut group = c.benchmark_group("nuts");
    group.sample_size(10);
    let cfg = NutsConfig {
        tune: 1000,
        draws: 1000,
        chains: 4,
        progress: false,
        ..NutsConfig::default()
    };
    group.bench_function("4 chains x (1000 tune + 1000 draws)", |b| {
        b.iter(|| sample(&post, &cfg).unwrap())
    });
    group.finish();
    spm_posterior(c);
}

/// ln p + exact gradient (dim 3) of the SPM benchmark posterior at the prior centre (15× off).
fn spm_posterior(c: &mut Criterion) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/ocp");
    let p = CellParams::chen2020_from_dir(std::path::Path::new(dir)).expect("Chen2020 OCP tables");
    let truth = [p.neg.diffusivity.scale, p.pos.diffusivity.scale];
    let times: Vec<f64> = (0..N).map(|k| 10.0 * k as f64).collect();
    let model = ChainModel::cell(
        p,
        SolverOptions::default(),
        &["D_n", "D_p"],
        Protocol::c_rate(1.0, 4000.0),
        times,
    )
    .unwrap();
    let data = bridgelaw::model::evaluate(&model, &truth).unwrap()[..N].to_vec();
    let param = |n: &str| Parameter {
        name: n.into(),
        unit: "m^2/s".into(),
        transform: Transform::Log,
        source: None,
    };
    let prior = JointDistribution::new(
        "spm".into(),
        "bench".into(),
        vec![param("D_n"), param("D_p")],
        DVector::from_vec(vec![(truth[0] * 15.0).ln(), (truth[1] * 15.0).ln()]),
        DMatrix::from_diagonal_element(2, 2, 4.0),
    )
    .unwrap();
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
    )
    .unwrap();
    let z = post.prior_centre();
    let mut k = post.gradient_kernel();
    let mut g = [0.0; 3];
    c.bench_function(
        "SPM 1C 360 points: log density + AD gradient (dim 3)",
        |b| b.iter(|| k.logp_grad(black_box(&z), &mut g).unwrap()),
    );
}

// Plots off: criterion's plotters backend has no font registered in this crate's feature set.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
