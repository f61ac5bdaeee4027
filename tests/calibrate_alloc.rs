//! The log density + gradient path allocates nothing per call (counting global allocator).

use bridgelaw::calibrate::{CurveObservation, Likelihood, Noise, Posterior, SigmaPrior};
use bridgelaw::dist::{JointDistribution, Parameter, Transform};
use bridgelaw::model::{Axis, InputSpec, Model, ModelError, OutputSpec, Scalar};
use nalgebra::{DMatrix, DVector};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// V(t) = E0 − R − A·(1 − exp(−t/τ)) on 100 points: allocation-free itself.
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
            *o = th[0] - th[1] - th[2] * (-(th[3].recip() * t)).exp_m1() * (-1.0);
        }
        Ok(())
    }
}

#[test]
fn logp_and_gradient_allocate_nothing_per_call() {
    let names = ["E0", "R", "A", "tau"];
    let model = Stand {
        inputs: names.iter().map(|n| InputSpec::new(n, "1")).collect(),
        outputs: vec![OutputSpec::curve(
            "V",
            "V",
            Axis {
                name: "t".into(),
                unit: "s".into(),
                values: (0..100).map(f64::from).collect(),
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
        "t".into(),
        "t".into(),
        params,
        DVector::from_vec(vec![4.0, -3.0, -1.0, 3.0]),
        DMatrix::identity(4, 4) * 0.25,
    )
    .unwrap();
    let data: Vec<f64> = (0..100)
        .map(|k| 3.9 - 0.2 * (1.0 - (-(k as f64) / 20.0).exp()))
        .collect();
    for lik in [Likelihood::Gaussian, Likelihood::StudentT { nu: 5.0 }] {
        let post = Posterior::new(
            &model,
            &prior,
            vec![CurveObservation {
                name: "c".into(),
                output: 0,
                values: data.clone(),
                noise: Noise::Inferred {
                    prior: SigmaPrior::HalfNormal { scale: 0.01 },
                },
            }],
            lik,
        )
        .unwrap();
        let mut k = post.gradient_kernel();
        let z = [3.95, -2.9, -1.2, 3.1, -5.0];
        let mut g = [0.0; 5];
        k.logp_grad(&z, &mut g).unwrap();
        let before = ALLOCS.load(Ordering::SeqCst);
        for _ in 0..100 {
            k.logp_grad(&z, &mut g).unwrap();
        }
        let after = ALLOCS.load(Ordering::SeqCst);
        assert_eq!(
            after - before,
            0,
            "{lik:?}: {} allocations in 100 calls",
            after - before
        );
    }
}
