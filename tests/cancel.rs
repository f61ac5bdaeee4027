//! Cooperative cancellation of the sampling engines: a run whose CancelToken is raised stops
//! with a `Cancelled` error after at most one chunk per thread, never evaluating the rest of its
//! design (what lets Ctrl-C in Python and a signal to the CLI stop a long run).

use bridgelaw::Model;
use bridgelaw::cancel::CancelToken;
use bridgelaw::dist::{JointDistribution, Parameter, Transform};
use bridgelaw::model::{InputSpec, ModelError, OutputSpec, Scalar};
use bridgelaw::propagate::{
    CHUNK_SIZE as MC_CHUNK, Design, McSettings, PropagateError, monte_carlo,
};
use bridgelaw::sensitivity::{SensitivityError, SobolSettings, sobol};
use nalgebra::{DMatrix, DVector};
use std::sync::atomic::{AtomicUsize, Ordering};

/// y = a + 2b, counting its evaluations and raising `cancel` at the `raise_at`-th.
struct Counting {
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
    evals: AtomicUsize,
    raise_at: usize,
    cancel: CancelToken,
}

impl Counting {
    fn new(raise_at: usize) -> Self {
        Self {
            inputs: vec![InputSpec::new("a", "m"), InputSpec::new("b", "m")],
            outputs: vec![OutputSpec::scalar("y", "m")],
            evals: AtomicUsize::new(0),
            raise_at,
            cancel: CancelToken::new(),
        }
    }
    fn evals(&self) -> usize {
        self.evals.load(Ordering::Relaxed)
    }
}

impl Model for Counting {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, x: &[D], out: &mut [D]) -> Result<(), ModelError> {
        if self.evals.fetch_add(1, Ordering::Relaxed) + 1 == self.raise_at {
            self.cancel.cancel();
        }
        out[0] = x[0] + x[1] * 2.0;
        Ok(())
    }
}

fn dist() -> JointDistribution {
    let p = |n: &str| Parameter {
        name: n.into(),
        unit: "m".into(),
        transform: Transform::Identity,
        source: None,
    };
    JointDistribution::new(
        "test".into(),
        "unit test".into(),
        vec![p("a"), p("b")],
        DVector::from_column_slice(&[1.0, 2.0]),
        DMatrix::from_row_slice(2, 2, &[0.04, 0.0, 0.0, 0.09]),
    )
    .unwrap()
}

#[test]
fn a_raised_token_stops_every_monte_carlo_design_within_a_chunk_per_thread() {
    let threads = rayon::current_num_threads();
    for design in [Design::Pseudo, Design::Sobol, Design::LatinHypercube] {
        // raised in the middle of the serial pilot's first chunk, then during the parallel
        // waves
        for raise_at in [100, 20 * MC_CHUNK + 7] {
            let m = Counting::new(raise_at);
            let s = McSettings {
                design,
                samples: 4_000_000,
                progress: false,
                cancel: m.cancel.clone(),
                ..McSettings::default()
            };
            let r = monte_carlo(&m, &dist(), &s);
            assert!(
                matches!(r, Err(PropagateError::Cancelled)),
                "{design:?}: {r:?}"
            );
            // the chunk that raised it and at most one more chunk per thread
            let chunks = m.evals().div_ceil(MC_CHUNK);
            let raised_in = raise_at.div_ceil(MC_CHUNK);
            assert!(
                chunks <= raised_in + threads,
                "{design:?}: {} evaluations after raising at {raise_at} ({threads} threads)",
                m.evals()
            );
        }
    }
}

#[test]
fn an_unraised_token_changes_nothing() {
    let m = Counting::new(usize::MAX);
    let s = McSettings {
        samples: 20_000,
        progress: false,
        ..McSettings::default()
    };
    let a = monte_carlo(&m, &dist(), &s).unwrap();
    let b = monte_carlo(
        &m,
        &dist(),
        &McSettings {
            cancel: CancelToken::new(),
            ..s.clone()
        },
    )
    .unwrap();
    assert_eq!(a.outputs[0].mean.to_bits(), b.outputs[0].mean.to_bits());
    assert_eq!(a.samples_evaluated, 20_000);
}

#[test]
fn a_raised_token_stops_the_sobol_evaluations_within_a_chunk_per_thread() {
    let threads = rayon::current_num_threads();
    // (d + 2) = 4 evaluations per base row, 256 rows per chunk
    let per_chunk = 4 * 256;
    let raise_at = 10 * per_chunk + 3;
    let m = Counting::new(raise_at);
    let s = SobolSettings {
        base_samples: 1 << 18,
        bootstrap: 0,
        progress: false,
        cancel: m.cancel.clone(),
        ..SobolSettings::default()
    };
    let r = sobol(&m, &dist(), &s);
    assert!(matches!(r, Err(SensitivityError::Cancelled)), "{r:?}");
    assert!(
        m.evals().div_ceil(per_chunk) <= raise_at.div_ceil(per_chunk) + threads,
        "{} evaluations after raising at {raise_at} ({threads} threads)",
        m.evals()
    );
}
