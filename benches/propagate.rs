//! Criterion benchmark of Monte Carlo propagation: Arrhenius D(T = 300 K) with a correlated
//! lognormal D0 and normal E_a, 10^7 samples, mean/sd/quantiles (pseudo-random on all threads
//! and on one thread, and Sobol), and the delta method on the same model. The numpy script it
//! is compared with (issue 4) draws the same correlated normals, computes
//! D = exp(ln D0)·exp(−E_a/(k_B T)), then mean, sd and np.quantile at 2.5/16/50/84/97.5 %.
//! The model implements `Model::eval_batch` (vectorised over a chunk, as numpy is);
//! `mc_per_sample_eval` runs the same model through the default per-sample `eval`.

use bridgelaw::constants::K_B_EV;
use bridgelaw::dist::{JointDistribution, Parameter, Transform};
use bridgelaw::laws::arrhenius::arrhenius_diffusivity;
use bridgelaw::model::{InputSpec, Model, ModelError, OutputSpec, Scalar};
use bridgelaw::numerics::fastmath::exp_in_place;
use bridgelaw::propagate::{Design, McSettings, delta_method, monte_carlo};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nalgebra::{DMatrix, DVector};
use std::hint::black_box;

/// D(T) at a fixed T: inputs (D0 [m^2/s], E_a [eV]).
struct ArrheniusAtT {
    t: f64,
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl Model for ArrheniusAtT {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, x: &[D], out: &mut [D]) -> Result<(), ModelError> {
        out[0] = arrhenius_diffusivity(x[0], x[1], D::from(self.t));
        Ok(())
    }
    /// The same law over a block of samples (columns D0, E_a): −E_a·(1/(k_B·T)) for the block,
    /// the engine's vectorised e^x, times D0 — the shape of the numpy script.
    fn eval_batch(
        &self,
        x: &[f64],
        count: usize,
        out: &mut [f64],
        _failed: &mut Vec<(usize, ModelError)>,
    ) {
        let (d0, ea) = (&x[..count], &x[count..2 * count]);
        let out = &mut out[..count];
        let minus_inv_kt = -1.0 / (self.t * K_B_EV);
        for (o, e) in out.iter_mut().zip(ea) {
            *o = e * minus_inv_kt;
        }
        exp_in_place(out);
        for (o, d) in out.iter_mut().zip(d0) {
            *o *= d;
        }
    }
}

/// The same model evaluated sample by sample (the default `Model::eval_batch`).
struct PerSample(ArrheniusAtT);

impl Model for PerSample {
    fn inputs(&self) -> &[InputSpec] {
        self.0.inputs()
    }
    fn outputs(&self) -> &[OutputSpec] {
        self.0.outputs()
    }
    fn eval<D: Scalar>(&self, x: &[D], out: &mut [D]) -> Result<(), ModelError> {
        self.0.eval(x, out)
    }
}

fn setup() -> (ArrheniusAtT, JointDistribution) {
    let (mu0, s0, mue, se, rho) = ((1e-8f64).ln(), 0.4, 0.45, 0.02, 0.3);
    let d = JointDistribution::new(
        "bench".into(),
        String::new(),
        vec![
            Parameter {
                name: "D0".into(),
                unit: "m^2/s".into(),
                transform: Transform::Log,
                source: None,
            },
            Parameter {
                name: "E_a".into(),
                unit: "eV".into(),
                transform: Transform::Identity,
                source: None,
            },
        ],
        DVector::from_column_slice(&[mu0, mue]),
        DMatrix::from_row_slice(2, 2, &[s0 * s0, rho * s0 * se, rho * s0 * se, se * se]),
    )
    .expect("valid distribution");
    let m = ArrheniusAtT {
        t: 300.0,
        inputs: vec![InputSpec::new("D0", "m^2/s"), InputSpec::new("E_a", "eV")],
        outputs: vec![OutputSpec::scalar("D", "m^2/s")],
    };
    (m, d)
}

fn bench(c: &mut Criterion) {
    let (m, d) = setup();
    let n = 10_000_000u64;
    let mut g = c.benchmark_group("arrhenius_1e7");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    for design in [Design::Pseudo, Design::Sobol] {
        let s = McSettings {
            design,
            samples: n,
            seed: 1,
            progress: false,
            ..McSettings::default()
        };
        g.bench_function(design.short_name(), |b| {
            b.iter(|| black_box(monte_carlo(&m, &d, &s).expect("run")))
        });
        if design == Design::Pseudo {
            // One thread: the per-core throughput, less sensitive to other load on the machine.
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .expect("pool");
            g.bench_function("mc_1thread", |b| {
                b.iter(|| pool.install(|| black_box(monte_carlo(&m, &d, &s).expect("run"))))
            });
            // The generic path: Model::eval per sample (libm e^x), all threads.
            let per_sample = PerSample(setup().0);
            g.bench_function("mc_per_sample_eval", |b| {
                b.iter(|| black_box(monte_carlo(&per_sample, &d, &s).expect("run")))
            });
        }
    }
    g.finish();
    c.bench_function("delta_arrhenius", |b| {
        b.iter(|| black_box(delta_method(&m, &d).expect("delta")))
    });
}

// Plots off: criterion's plotters backend has no font registered in this crate's feature set.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
