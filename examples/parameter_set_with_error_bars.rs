//! A continuum parameter with error bars, using the library directly: the graphite NEB barrier
//! and attempt frequency (`priors/graphite_neb.toml`, a joint distribution with their
//! correlation) carried through a model written here — the in-plane tracer diffusivity
//! D_tr(T) = f·z·a²·ν0·exp(−E_m/(k_B·T))/(2d) [m²/s] at three temperatures — by the delta
//! method and Monte Carlo, with the nonlinearity check between them.
//!
//! ```text
//! cargo run --release --example parameter_set_with_error_bars
//! ```

use bridgelaw::dist::load_priors;
use bridgelaw::laws::transport::{jump_rate, tracer_diffusivity};
use bridgelaw::model::{InputSpec, Model, ModelError, OutputSpec, Scalar};
use bridgelaw::propagate::{McSettings, Method, propagate, report::to_markdown};
use std::path::Path;

/// D_tr of Li in LiC6 (d = 2, z = 6, a = 2.46 Å, f = 1) at 250, 298.15 and 350 K.
/// Inputs E_m [eV], ν0 [Hz]; outputs D_tr [m²/s].
struct GraphiteTracerDiffusivity {
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
    temperatures: [f64; 3],
}

impl GraphiteTracerDiffusivity {
    fn new() -> Self {
        let temperatures = [250.0, 298.15, 350.0];
        Self {
            inputs: vec![InputSpec::new("E_m", "eV"), InputSpec::new("nu0", "Hz")],
            outputs: temperatures
                .iter()
                .map(|t| OutputSpec::scalar(&format!("D_tr_{t}K"), "m^2/s"))
                .collect(),
            temperatures,
        }
    }
}

impl Model for GraphiteTracerDiffusivity {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    // Generic over the scalar: f64 gives values, dual numbers give the delta method's exact
    // Jacobian from the same code.
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        let (e_m, nu0) = (theta[0], theta[1]);
        for (o, &t) in out.iter_mut().zip(&self.temperatures) {
            let gamma = jump_rate(nu0, e_m, D::from(t));
            *o = tracer_diffusivity(D::one(), D::from(6.0), D::from(2.46e-10), gamma, 2);
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let priors = Path::new(env!("CARGO_MANIFEST_DIR")).join("priors/graphite_neb.toml");
    // The engines take the distribution of exactly the model's inputs, in the model's order.
    let dist = load_priors(&priors)?.marginal(&["E_m", "nu0"])?;
    let model = GraphiteTracerDiffusivity::new();
    let settings = McSettings {
        samples: 200_000,
        seed: 7,
        ..McSettings::default()
    };
    let results = propagate(&model, &dist, Method::All, &settings)?;
    println!("{}", to_markdown(&results));
    Ok(())
}
