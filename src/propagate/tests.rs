//! Known-answer tests of the propagation engine: tolerances are in Monte Carlo standard errors.

use super::*;
use crate::constants::K_B_EV;
use crate::dist::sample::standard_normal_quantile;
use crate::dist::{JointDistribution, Parameter, Transform};
use crate::laws::arrhenius::arrhenius_diffusivity;
use crate::model::{Axis, InputSpec, ModelError, OutputSpec, Scalar};
use crate::shard::ShardSpec;
use nalgebra::{DMatrix, DVector};

fn dist(params: &[(&str, &str, Transform)], mean: &[f64], cov: &[f64]) -> JointDistribution {
    let k = params.len();
    JointDistribution::new(
        "test".into(),
        "unit test".into(),
        params
            .iter()
            .map(|(n, u, t)| Parameter {
                name: n.to_string(),
                unit: u.to_string(),
                transform: *t,
                source: None,
            })
            .collect(),
        DVector::from_column_slice(mean),
        DMatrix::from_row_slice(k, k, cov),
    )
    .unwrap()
}

/// y = A·x + b with 3 inputs and 2 outputs.
struct Linear {
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

const A: [[f64; 3]; 2] = [[2.0, -1.0, 0.5], [0.3, 0.0, 4.0]];
const B: [f64; 2] = [1.0, -3.0];

impl Linear {
    fn new() -> Self {
        Self {
            inputs: vec![
                InputSpec::new("a", "m"),
                InputSpec::new("b", "m"),
                InputSpec::new("c", "m"),
            ],
            outputs: vec![OutputSpec::scalar("y1", "m"), OutputSpec::scalar("y2", "m")],
        }
    }
}

impl Model for Linear {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, x: &[D], out: &mut [D]) -> Result<(), ModelError> {
        for r in 0..2 {
            out[r] = x[0] * A[r][0] + x[1] * A[r][1] + x[2] * A[r][2] + B[r];
        }
        Ok(())
    }
}

fn linear_dist() -> JointDistribution {
    let id = Transform::Identity;
    dist(
        &[("a", "m", id), ("b", "m", id), ("c", "m", id)],
        &[1.0, 2.0, -0.5],
        &[0.04, 0.012, 0.0, 0.012, 0.09, -0.01, 0.0, -0.01, 0.01],
    )
}

/// Arrhenius D at a fixed temperature: inputs (D0 \[m^2/s\], E_a \[eV\]).
struct ArrheniusAtT {
    t: f64,
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl ArrheniusAtT {
    fn new(t: f64) -> Self {
        Self {
            t,
            inputs: vec![InputSpec::new("D0", "m^2/s"), InputSpec::new("E_a", "eV")],
            outputs: vec![OutputSpec::scalar("D", "m^2/s")],
        }
    }
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
}

/// ln D0 ~ N(ln 1e-8, 0.4²), E_a ~ N(0.45, 0.02²) eV, correlation 0.3.
fn arrhenius_dist() -> (JointDistribution, f64, f64, f64) {
    let (mu0, s0, mue, se, rho) = ((1e-8f64).ln(), 0.4, 0.45, 0.02, 0.3);
    let d = dist(
        &[
            ("D0", "m^2/s", Transform::Log),
            ("E_a", "eV", Transform::Identity),
        ],
        &[mu0, mue],
        &[s0 * s0, rho * s0 * se, rho * s0 * se, se * se],
    );
    let t = 300.0;
    let b = 1.0 / (K_B_EV * t);
    // ln D = ln D0 − b·E_a is normal.
    let m = mu0 - b * mue;
    let v = s0 * s0 + b * b * se * se - 2.0 * b * rho * s0 * se;
    (d, t, m, v)
}

fn settings(design: Design, n: u64, seed: u64) -> McSettings {
    McSettings {
        design,
        samples: n,
        seed,
        progress: false,
        ..McSettings::default()
    }
}

#[test]
fn linear_model_delta_is_exact_and_mc_agrees() {
    let m = Linear::new();
    let d = linear_dist();
    let delta = delta_method(&m, &d).unwrap();
    let mu = [1.0, 2.0, -0.5];
    for r in 0..2 {
        let exact: f64 = (0..3).map(|i| A[r][i] * mu[i]).sum::<f64>() + B[r];
        assert!((delta.mean[r] - exact).abs() < 1e-14);
        let mut var = 0.0;
        for i in 0..3 {
            for j in 0..3 {
                var += A[r][i] * A[r][j] * d.cov_z[(i, j)];
            }
        }
        assert!((delta.sd[r] - var.sqrt()).abs() < 1e-14);
        // The decomposition adds up to the variance.
        let b = &delta.decomposition[r];
        let sum: f64 = b.terms.iter().map(|t| t.contribution).sum::<f64>()
            + b.cross_terms.iter().map(|c| c.contribution).sum::<f64>();
        assert!((sum - b.variance).abs() < 1e-13 * b.variance);
        assert!((b.variance - var).abs() < 1e-13);
    }
    // Cross terms only where Σ_ij ≠ 0: (a, b) and (b, c).
    assert_eq!(delta.decomposition[0].cross_terms.len(), 2);
    let mc = monte_carlo(&m, &d, &settings(Design::Pseudo, 100_000, 1)).unwrap();
    for r in 0..2 {
        let o = &mc.outputs[r];
        assert!((o.mean - delta.mean[r]).abs() < 3.0 * o.se_mean, "{o:?}");
        assert!((o.sd - delta.sd[r]).abs() < 3.0 * o.se_sd, "{o:?}");
        assert!(o.se_mean > 0.0 && o.se_sd > 0.0);
    }
    let cov = mc.covariance.as_ref().unwrap();
    assert!((cov[0][1] - delta.covariance[0][1]).abs() < 0.02 * delta.sd[0] * delta.sd[1]);
    let rep = compare(&delta, &mc);
    assert!(!rep.any_nonlinear, "{:?}", rep.messages);
}

#[test]
fn lognormal_arrhenius_mc_matches_closed_form_and_delta_is_biased() {
    let (d, t, m, v) = arrhenius_dist();
    let model = ArrheniusAtT::new(t);
    let exact_mean = (m + 0.5 * v).exp();
    let exact_sd = exact_mean * v.exp_m1().sqrt();
    let mc = monte_carlo(&model, &d, &settings(Design::Pseudo, 1 << 17, 7)).unwrap();
    let o = &mc.outputs[0];
    assert!(
        (o.mean - exact_mean).abs() < 3.0 * o.se_mean,
        "mean {} vs {exact_mean} ± {}",
        o.mean,
        o.se_mean
    );
    assert!(
        (o.sd - exact_sd).abs() < 3.0 * o.se_sd,
        "sd {} vs {exact_sd} ± {}",
        o.sd,
        o.se_sd
    );
    // Quantiles of a lognormal are exp(m + √v·Φ⁻¹(p)).
    for q in &o.quantiles {
        let exact = (m + v.sqrt() * standard_normal_quantile(q.p)).exp();
        let got = q.value.unwrap();
        assert!(
            (got - exact).abs() < 4.0 * q.se,
            "p={} {got} vs {exact} ± {}",
            q.p,
            q.se
        );
    }
    // The delta method linearises at the median: mean exp(m), biased low by e^(v/2).
    let delta = delta_method(&model, &d).unwrap();
    assert!((delta.mean[0] - m.exp()).abs() < 1e-12 * m.exp());
    assert!((delta.mean[0] - o.mean).abs() > 20.0 * o.se_mean);
    let rep = compare(&delta, &mc);
    assert!(rep.any_nonlinear);
    assert!(rep.outputs[0].nonlinear);
    assert!(
        rep.messages[0].contains("not trustworthy"),
        "{}",
        rep.messages[0]
    );
    assert!(rep.messages[0].starts_with("D:"));
}

/// A smooth function of 3 standard normals with a known mean: E = e^{a²/2}·… computed exactly.
struct Smooth {
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl Model for Smooth {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, x: &[D], out: &mut [D]) -> Result<(), ModelError> {
        // E[e^{0.3 x0}] = e^{0.045}, E[0.5 x1²] = 0.5, E[x0 x2] = 0, E[sin x2] = 0.
        out[0] = (x[0] * 0.3).exp() + x[1] * x[1] * 0.5 + x[0] * x[2] + x[2].sin();
        Ok(())
    }
}

fn smooth() -> (Smooth, JointDistribution, f64) {
    let id = Transform::Identity;
    let d = dist(
        &[("a", "1", id), ("b", "1", id), ("c", "1", id)],
        &[0.0; 3],
        &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
    );
    let m = Smooth {
        inputs: vec![
            InputSpec::new("a", "1"),
            InputSpec::new("b", "1"),
            InputSpec::new("c", "1"),
        ],
        outputs: vec![OutputSpec::scalar("y", "1")],
    };
    (m, d, 0.045f64.exp() + 0.5)
}

#[test]
fn qmc_beats_pseudo_random_at_equal_n() {
    let (m, d, exact) = smooth();
    let n = 1 << 15;
    let (mut e_mc, mut e_qmc, mut e_lhs) = (0.0, 0.0, 0.0);
    let seeds = 6;
    for seed in 0..seeds {
        let mc = monte_carlo(&m, &d, &settings(Design::Pseudo, n, seed)).unwrap();
        let qmc = monte_carlo(&m, &d, &settings(Design::Sobol, n, seed)).unwrap();
        let lhs = monte_carlo(&m, &d, &settings(Design::LatinHypercube, n, seed)).unwrap();
        assert_eq!(qmc.samples_evaluated, n);
        e_mc += (mc.outputs[0].mean - exact).powi(2);
        e_qmc += (qmc.outputs[0].mean - exact).powi(2);
        e_lhs += (lhs.outputs[0].mean - exact).powi(2);
        // The QMC standard error is honest: the error is within 4 of them.
        let q = &qmc.outputs[0];
        assert!(
            (q.mean - exact).abs() < 4.0 * q.se_mean,
            "{} ± {}",
            q.mean,
            q.se_mean
        );
        assert!(q.se_mean < 0.5 * mc.outputs[0].se_mean);
        let l = &lhs.outputs[0];
        assert!(
            (l.mean - exact).abs() < 4.0 * l.se_mean,
            "{} ± {}",
            l.mean,
            l.se_mean
        );
    }
    let rms = |e: f64| (e / seeds as f64).sqrt();
    assert!(
        rms(e_qmc) < 0.3 * rms(e_mc),
        "QMC rms {} vs MC rms {}",
        rms(e_qmc),
        rms(e_mc)
    );
    assert!(
        rms(e_lhs) < rms(e_mc),
        "LHS rms {} vs MC rms {}",
        rms(e_lhs),
        rms(e_mc)
    );
}

#[test]
fn identical_output_for_one_and_two_threads() {
    let (d, t, _, _) = arrhenius_dist();
    let model = ArrheniusAtT::new(t);
    let run = |threads: usize, s: &McSettings| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let r = pool.install(|| monte_carlo(&model, &d, s)).unwrap();
        serde_json::to_string(&r).unwrap()
    };
    for design in [Design::Pseudo, Design::Sobol, Design::LatinHypercube] {
        let s = settings(design, 150_000, 42);
        let one = run(1, &s);
        assert_eq!(one, run(2, &s), "{design:?}");
        assert_eq!(one, run(3, &s), "{design:?}");
    }
    // Also with the stopping rule (checkpoints do not depend on the thread count).
    let s = McSettings {
        rel_err: Some(0.01),
        ..settings(Design::Pseudo, 2_000_000, 3)
    };
    assert_eq!(run(1, &s), run(2, &s));
}

/// y = x, one normal input.
struct Identity1 {
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl Identity1 {
    fn new() -> Self {
        Self {
            inputs: vec![InputSpec::new("x", "V")],
            outputs: vec![OutputSpec::scalar("y", "V")],
        }
    }
}

impl Model for Identity1 {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, x: &[D], out: &mut [D]) -> Result<(), ModelError> {
        out[0] = x[0];
        Ok(())
    }
}

#[test]
fn normal_quantiles_match_the_inverse_cdf_within_their_standard_error() {
    let m = Identity1::new();
    let (mu, sd) = (2.0, 0.5);
    let d = dist(&[("x", "V", Transform::Identity)], &[mu], &[sd * sd]);
    let s = McSettings {
        levels: vec![0.5, 0.68, 0.9, 0.95, 0.99],
        ..settings(Design::Pseudo, 200_000, 5)
    };
    let mc = monte_carlo(&m, &d, &s).unwrap();
    let o = &mc.outputs[0];
    let n = mc.n_valid as f64;
    assert_eq!(o.quantiles.len(), 11);
    for q in &o.quantiles {
        let z = standard_normal_quantile(q.p);
        let exact = mu + sd * z;
        let got = q.value.unwrap();
        assert!(
            (got - exact).abs() < 3.5 * q.se,
            "p={} {got} vs {exact} ± {}",
            q.p,
            q.se
        );
        // The standard error matches the asymptotic formula with the true density.
        let dens = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt() / sd;
        let asym = (q.p * (1.0 - q.p) / n).sqrt() / dens;
        assert!(
            (q.se / asym - 1.0).abs() < 0.25,
            "p={} se {} vs {asym}",
            q.p,
            q.se
        );
    }
    let i95 = o.intervals.iter().find(|i| i.level == 0.95).unwrap();
    assert!((i95.lower.unwrap() - (mu - 1.959_964 * sd)).abs() < 0.01);
    assert_eq!(o.below_range + o.above_range, 0, "{o:?}");
}

#[test]
fn chunked_merge_equals_single_pass() {
    use super::design::NormalSource;
    use super::summary::Moments;
    let (d, t, _, _) = arrhenius_dist();
    let model = ArrheniusAtT::new(t);
    let n = 3 * CHUNK_SIZE + 1234;
    let mc = monte_carlo(&model, &d, &settings(Design::Pseudo, n as u64, 9)).unwrap();
    // Recompute every sample serially and summarise in one pass.
    let src = NormalSource::new(Design::Pseudo, 9, 2, 1);
    let l = d.cholesky();
    let mut ys = Vec::with_capacity(n);
    let mut normals = vec![0.0; CHUNK_SIZE * 2];
    let mut perm = Vec::new();
    for c in 0..n.div_ceil(CHUNK_SIZE) {
        let count = (n - c * CHUNK_SIZE).min(CHUNK_SIZE);
        src.fill(c as u64, count, &mut normals, &mut perm);
        for i in 0..count {
            // Column-major normals: dimension d at d·count.
            let (n0, n1) = (normals[i], normals[count + i]);
            let z0 = d.mean_z[0] + l[(0, 0)] * n0;
            let z1 = d.mean_z[1] + l[(1, 0)] * n0 + l[(1, 1)] * n1;
            let mut d0 = [z0];
            crate::numerics::fastmath::exp_in_place(&mut d0); // the engine's batched e^z (≤ 2 ulp from libm)
            ys.push(arrhenius_diffusivity(d0[0], z1, t));
        }
    }
    let whole = Moments::from_rows(&ys, 1, true);
    let o = &mc.outputs[0];
    assert_eq!(mc.n_valid, n as u64);
    assert!((o.mean - whole.mean[0]).abs() < 1e-13 * whole.mean[0]);
    assert!((o.sd - whole.sd(0)).abs() < 1e-12 * whole.sd(0));
    assert_eq!(o.min, whole.min[0]);
    assert_eq!(o.max, whole.max[0]);
    // Histogram quantiles vs the sorted sample: between the neighbouring order statistics
    // (their gap in the tail, ~1/(n·f(q)), can exceed the bin resolution), up to a small
    // fraction of the sd for the bin width.
    ys.sort_by(f64::total_cmp);
    for q in &o.quantiles {
        let i = ((q.p * n as f64) as usize).min(n - 1);
        let (lo, hi) = (ys[i.saturating_sub(1)], ys[(i + 1).min(n - 1)]);
        let v = q.value.unwrap();
        assert!(
            v >= lo - 0.003 * o.sd && v <= hi + 0.003 * o.sd,
            "p={}: {v} not within [{lo}, {hi}]",
            q.p
        );
    }
}

/// Fails (model error) for x < 0, returns NaN for x > 3.
struct Fragile {
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl Model for Fragile {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, x: &[D], out: &mut [D]) -> Result<(), ModelError> {
        if x[0].re() < 0.0 {
            return Err(ModelError::out_of_range("x", x[0].re(), "x ≥ 0"));
        }
        out[0] = if x[0].re() > 3.0 {
            D::from(f64::NAN)
        } else {
            x[0].sqrt()
        };
        Ok(())
    }
}

#[test]
fn model_failures_are_counted_and_excluded() {
    let m = Fragile {
        inputs: vec![InputSpec::new("x", "1")],
        outputs: vec![OutputSpec::scalar("y", "1")],
    };
    let d = dist(&[("x", "1", Transform::Identity)], &[1.0], &[1.0]);
    let n = 100_000u64;
    let mc = monte_carlo(&m, &d, &settings(Design::Pseudo, n, 2)).unwrap();
    assert_eq!(mc.samples_evaluated, n);
    assert_eq!(mc.n_valid + mc.n_failed + mc.n_nonfinite, n);
    let p_fail = crate::dist::sample::standard_normal_cdf(-1.0);
    let p_nan = crate::dist::sample::standard_normal_cdf(-2.0);
    let se = |p: f64| (p * (1.0 - p) / n as f64).sqrt();
    assert!((mc.n_failed as f64 / n as f64 - p_fail).abs() < 4.0 * se(p_fail));
    assert!((mc.n_nonfinite as f64 / n as f64 - p_nan).abs() < 4.0 * se(p_nan));
    assert!((mc.failure_fraction - (p_fail + p_nan)).abs() < 0.01);
    // The failure with the lowest index, of either kind (which one depends on the stream).
    let first = mc.first_failure.as_ref().unwrap();
    assert!(
        first.contains("outside its physical range") || first.contains("non-finite output #0"),
        "{first}"
    );
    assert!(mc.outputs[0].min >= 0.0 && mc.outputs[0].max <= 3f64.sqrt());
    // A model that always fails gives an error, not a panic.
    let d_bad = dist(&[("x", "1", Transform::Identity)], &[-10.0], &[0.01]);
    match monte_carlo(&m, &d_bad, &settings(Design::Pseudo, 1000, 0)) {
        Err(PropagateError::AllFailed { evaluated, .. }) => assert_eq!(evaluated, 1000),
        other => panic!("expected AllFailed, got {other:?}"),
    }
    // The delta method reports the failure at the centre.
    assert!(matches!(
        delta_method(&m, &d_bad),
        Err(PropagateError::DeltaEvaluation { .. })
    ));
}

/// [`Fragile`] with a vectorised `eval_batch` override (same values and failures).
struct FragileBatch(Fragile);

impl Model for FragileBatch {
    fn inputs(&self) -> &[InputSpec] {
        self.0.inputs()
    }
    fn outputs(&self) -> &[OutputSpec] {
        self.0.outputs()
    }
    fn eval<D: Scalar>(&self, x: &[D], out: &mut [D]) -> Result<(), ModelError> {
        self.0.eval(x, out)
    }
    fn eval_batch(
        &self,
        x: &[f64],
        count: usize,
        out: &mut [f64],
        failed: &mut Vec<(usize, ModelError)>,
    ) {
        for (i, (o, &v)) in out[..count].iter_mut().zip(&x[..count]).enumerate() {
            *o = if v > 3.0 { f64::NAN } else { v.sqrt() };
            if v < 0.0 {
                failed.push((i, ModelError::out_of_range("x", v, "x ≥ 0")));
            }
        }
    }
}

/// [`ArrheniusAtT`] with a vectorised `eval_batch` (the engine's e^x instead of libm's).
struct ArrheniusBatch(ArrheniusAtT);

impl Model for ArrheniusBatch {
    fn inputs(&self) -> &[InputSpec] {
        self.0.inputs()
    }
    fn outputs(&self) -> &[OutputSpec] {
        self.0.outputs()
    }
    fn eval<D: Scalar>(&self, x: &[D], out: &mut [D]) -> Result<(), ModelError> {
        self.0.eval(x, out)
    }
    fn eval_batch(
        &self,
        x: &[f64],
        count: usize,
        out: &mut [f64],
        _: &mut Vec<(usize, ModelError)>,
    ) {
        let kt = self.0.t * K_B_EV;
        for (o, e) in out[..count].iter_mut().zip(&x[count..2 * count]) {
            *o = -e / kt;
        }
        crate::numerics::fastmath::exp_in_place(&mut out[..count]);
        for (o, d) in out[..count].iter_mut().zip(&x[..count]) {
            *o *= d;
        }
    }
}

#[test]
fn batched_evaluation_matches_the_per_sample_path() {
    // Failures and non-finite outputs: the same counts, first failure and statistics.
    let fragile = || Fragile {
        inputs: vec![InputSpec::new("x", "1")],
        outputs: vec![OutputSpec::scalar("y", "1")],
    };
    let d = dist(&[("x", "1", Transform::Identity)], &[1.0], &[1.0]);
    let s = settings(Design::Pseudo, 3 * CHUNK_SIZE as u64 + 77, 4);
    let a = monte_carlo(&fragile(), &d, &s).unwrap();
    let b = monte_carlo(&FragileBatch(fragile()), &d, &s).unwrap();
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    assert!(a.n_failed > 0 && a.n_nonfinite > 0);
    // A vectorised law: the same statistics up to the ≤ 2 ulp of the engine's e^x.
    let (d, t, _, _) = arrhenius_dist();
    let s = settings(Design::Pseudo, 50_000, 8);
    let a = monte_carlo(&ArrheniusAtT::new(t), &d, &s).unwrap();
    let b = monte_carlo(&ArrheniusBatch(ArrheniusAtT::new(t)), &d, &s).unwrap();
    let (oa, ob) = (&a.outputs[0], &b.outputs[0]);
    assert!((oa.mean / ob.mean - 1.0).abs() < 1e-14);
    assert!((oa.sd / ob.sd - 1.0).abs() < 1e-13);
    for (qa, qb) in oa.quantiles.iter().zip(&ob.quantiles) {
        assert!((qa.value.unwrap() / qb.value.unwrap() - 1.0).abs() < 1e-12);
    }
}

#[test]
fn histogram_quantiles_are_within_a_small_fraction_of_their_standard_error() {
    // 2^18 lognormal outputs: every reported quantile vs the exact sorted-sample quantile
    // (the order statistic ⌈pN⌉); the binning error must be far below the Monte Carlo error.
    let (d, t, _, _) = arrhenius_dist();
    let model = ArrheniusBatch(ArrheniusAtT::new(t));
    let n = 1usize << 18;
    let s = McSettings {
        levels: vec![0.5, 0.68, 0.9, 0.95, 0.99],
        ..settings(Design::Pseudo, n as u64, 12)
    };
    let mc = monte_carlo(&model, &d, &s).unwrap();
    let src = super::design::NormalSource::new(Design::Pseudo, 12, 2, 1);
    let l = d.cholesky();
    let mut ys = Vec::with_capacity(n);
    let mut normals = vec![0.0; CHUNK_SIZE * 2];
    let mut x = vec![0.0; CHUNK_SIZE * 2];
    let mut y = vec![0.0; CHUNK_SIZE];
    let mut perm = Vec::new();
    for c in 0..n / CHUNK_SIZE {
        src.fill(c as u64, CHUNK_SIZE, &mut normals, &mut perm);
        for i in 0..CHUNK_SIZE {
            let (n0, n1) = (normals[i], normals[CHUNK_SIZE + i]);
            x[i] = d.mean_z[0] + l[(0, 0)] * n0;
            x[CHUNK_SIZE + i] = d.mean_z[1] + l[(1, 0)] * n0 + l[(1, 1)] * n1;
        }
        crate::numerics::fastmath::exp_in_place(&mut x[..CHUNK_SIZE]);
        model.eval_batch(&x, CHUNK_SIZE, &mut y, &mut Vec::new());
        ys.extend_from_slice(&y);
    }
    ys.sort_by(f64::total_cmp);
    let o = &mc.outputs[0];
    assert_eq!(o.quantiles.len(), 11);
    for q in &o.quantiles {
        let exact = ys[((q.p * n as f64).ceil() as usize - 1).min(n - 1)];
        let v = q.value.unwrap();
        assert!(
            (v - exact).abs() < 0.1 * q.se,
            "p={}: histogram {v} vs sorted {exact} (se {})",
            q.p,
            q.se
        );
    }
}

#[test]
fn stopping_rule_reaches_the_target() {
    let m = Identity1::new();
    let d = dist(&[("x", "V", Transform::Identity)], &[2.0], &[0.25]);
    let s = McSettings {
        rel_err: Some(0.005),
        ..settings(Design::Pseudo, 10_000_000, 1)
    };
    let mc = monte_carlo(&m, &d, &s).unwrap();
    assert_eq!(mc.stop, StopReason::TargetReached);
    assert!(mc.samples_evaluated < 10_000_000);
    assert!(mc.outputs[0].max_rel_err() < 0.005);
    // An unreachable target runs to the maximum.
    let s = McSettings {
        rel_err: Some(1e-9),
        ..settings(Design::Pseudo, 100_000, 1)
    };
    let mc = monte_carlo(&m, &d, &s).unwrap();
    assert_eq!(mc.stop, StopReason::SamplesExhausted);
    assert_eq!(mc.samples_evaluated, 100_000);
}

#[test]
fn bad_settings_and_bindings_are_errors() {
    let m = Identity1::new();
    let d = linear_dist();
    assert!(matches!(
        monte_carlo(&m, &d, &McSettings::default()),
        Err(PropagateError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        delta_method(&m, &d),
        Err(PropagateError::DimensionMismatch { .. })
    ));
    let d1 = dist(&[("x", "V", Transform::Identity)], &[0.0], &[1.0]);
    for s in [
        McSettings {
            levels: vec![1.2],
            ..McSettings::default()
        },
        McSettings {
            samples: 1,
            ..McSettings::default()
        },
        McSettings {
            rel_err: Some(-1.0),
            ..McSettings::default()
        },
        McSettings {
            design: Design::Sobol,
            replicates: 1,
            ..McSettings::default()
        },
    ] {
        assert!(matches!(
            monte_carlo(&m, &d1, &s),
            Err(PropagateError::InvalidSetting { .. })
        ));
    }
    assert!("bogus".parse::<Method>().is_err());
    assert_eq!("QMC".parse::<Method>().unwrap(), Method::Qmc);
}

/// Arrhenius D vs T as a curve, plus a scalar: D at 300 K and the log10 of D over a T grid.
struct ArrheniusCurve {
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
    temps: Vec<f64>,
}

impl ArrheniusCurve {
    fn new() -> Self {
        let temps = vec![250.0, 300.0, 400.0, 600.0];
        Self {
            inputs: vec![InputSpec::new("D0", "m^2/s"), InputSpec::new("E_a", "eV")],
            outputs: vec![
                OutputSpec::scalar("E_a_copy", "eV"),
                OutputSpec::curve(
                    "D",
                    "m^2/s",
                    Axis {
                        name: "T".into(),
                        unit: "K".into(),
                        values: temps.clone(),
                    },
                ),
            ],
            temps,
        }
    }
}

impl Model for ArrheniusCurve {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, x: &[D], out: &mut [D]) -> Result<(), ModelError> {
        out[0] = x[1];
        for (o, t) in out[1..].iter_mut().zip(&self.temps) {
            *o = arrhenius_diffusivity(x[0], x[1], D::from(*t));
        }
        Ok(())
    }
}

#[test]
fn delta_jacobians_match_finite_differences_and_transforms() {
    let (d, _, _, _) = arrhenius_dist();
    let m = ArrheniusCurve::new();
    let delta = delta_method(&m, &d).unwrap();
    let x0 = d.median_natural();
    let fd = crate::model::jacobian_central_fd(&m, &x0, 1e-6).unwrap();
    for r in 0..5 {
        for c in 0..2 {
            let a = delta.jacobian_x[r][c];
            assert!(
                (a - fd[(r, c)]).abs() <= 1e-6 * a.abs().max(1e-30),
                "[{r}][{c}] {a} vs {}",
                fd[(r, c)]
            );
        }
        // Log input: ∂y/∂z = x·∂y/∂x.
        assert!(
            (delta.jacobian_z[r][0] - x0[0] * delta.jacobian_x[r][0]).abs()
                <= 1e-12 * delta.jacobian_z[r][0].abs()
        );
    }
}

#[test]
fn writers_produce_json_csv_markdown_and_bands_with_units() {
    let (d, _, _, _) = arrhenius_dist();
    let m = ArrheniusCurve::new();
    let s = settings(Design::Pseudo, 20_000, 1);
    let res = propagate(&m, &d, Method::All, &s).unwrap();
    assert_eq!(res.monte_carlo.len(), 3);
    assert_eq!(res.nonlinearity.len(), 3);
    // E_a_copy is linear in the inputs: never flagged; D is flagged at every temperature.
    for rep in &res.nonlinearity {
        assert!(!rep.outputs[0].nonlinear);
        // One verdict for the whole curve, naming the worst point.
        assert_eq!(rep.messages.len(), 1, "{:?}", rep.messages);
        assert!(
            rep.messages[0].starts_with(
                "D (a curve): the delta method disagrees with Monte Carlo at 4 of 4 points; worst at D[T=250]"
            ),
            "{}",
            rep.messages[0]
        );
        assert!(
            rep.outputs[1..].iter().all(|o| o.nonlinear),
            "{:?}",
            rep.messages
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let files = write_results(dir.path(), &res).unwrap();
    assert_eq!(files.len(), 4);
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("propagation.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["monte_carlo"].as_array().unwrap().len(), 3);
    let csv = std::fs::read_to_string(dir.path().join("propagation.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(header.contains("unit") && header.contains("lower_95") && header.contains("upper_68"));
    // 4 methods × 5 flat outputs + header.
    assert_eq!(csv.lines().count(), 21);
    assert!(
        csv.lines().any(|l| l.starts_with("qmc,D,m^2/s,T,K,4e2,")),
        "{csv}"
    );
    let band = std::fs::read_to_string(dir.path().join("band_D.csv")).unwrap();
    let bh = band.lines().next().unwrap();
    assert!(
        bh.starts_with("T [K],delta_mean [m^2/s],delta_sd [m^2/s]"),
        "{bh}"
    );
    assert!(bh.contains("lhs_upper_95 [m^2/s]"));
    assert_eq!(band.lines().count(), 5);
    let md = std::fs::read_to_string(dir.path().join("propagation.md")).unwrap();
    assert!(md.contains("| E_a_copy | eV | delta |"));
    assert!(md.contains("## Curve D [m^2/s] vs T [K]"));
    assert!(md.contains("not trustworthy"), "{md}");
    assert!(md.contains("2·cov(D0, E_a)"));
}

/// A long streaming run for memory and speed checks, not part of the suite:
/// `BRIDGELAW_BIG_N=1000000000 cargo test --release --lib big_streaming_run -- --ignored --nocapture`
/// under `/usr/bin/time -v` (reports the maximum resident set size).
#[test]
#[ignore]
fn big_streaming_run() {
    let n: u64 = std::env::var("BRIDGELAW_BIG_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let design = match std::env::var("BRIDGELAW_BIG_DESIGN").as_deref() {
        Ok("qmc") => Design::Sobol,
        Ok("lhs") => Design::LatinHypercube,
        _ => Design::Pseudo,
    };
    let (d, t, m, v) = arrhenius_dist();
    let model = ArrheniusAtT::new(t);
    let start = std::time::Instant::now();
    let mc = monte_carlo(&model, &d, &settings(design, n, 1)).unwrap();
    let secs = start.elapsed().as_secs_f64();
    let o = &mc.outputs[0];
    let exact_mean = (m + 0.5 * v).exp();
    println!(
        "{n} samples ({design:?}) in {secs:.3} s = {:.1} M samples/s; mean {:.6e} ± {:.1e} (exact {exact_mean:.6e}), sd {:.6e}, median {:?}",
        n as f64 / secs / 1e6,
        o.mean,
        o.se_mean,
        o.sd,
        o.quantile(0.5).and_then(|q| q.value)
    );
}

#[test]
fn fast_exp_agrees_with_libm() {
    let mut xs: Vec<f64> = (0..20_001)
        .map(|i| -745.0 + i as f64 * (1460.0 / 20_000.0))
        .collect();
    xs.extend([
        0.0,
        -0.0,
        1e-300,
        -1e-12,
        0.5 * std::f64::consts::LN_2,
        709.5,
        710.0,
        -720.0,
        f64::NAN,
    ]);
    // In range: the block (AVX2) path equals the one-value (scalar) path bit for bit.
    let inside: Vec<f64> = xs.iter().copied().filter(|x| x.abs() < 700.0).collect();
    let mut block = inside.clone();
    crate::numerics::fastmath::exp_in_place(&mut block);
    for (x, b) in inside.iter().zip(&block) {
        let mut one = [*x];
        crate::numerics::fastmath::exp_in_place(&mut one);
        assert_eq!(one[0].to_bits(), b.to_bits(), "x = {x}");
    }
    let mut got = xs.clone();
    crate::numerics::fastmath::exp_in_place(&mut got);
    for (x, g) in xs.iter().zip(&got) {
        let e = x.exp();
        if e.is_nan() {
            assert!(g.is_nan());
        } else if e == 0.0 || e.is_infinite() {
            assert_eq!(*g, e, "x = {x}");
        } else {
            assert!((g / e - 1.0).abs() < 5e-16, "x = {x}: {g} vs {e}");
        }
    }
}

/// Shard parts (through their JSON form) merged in shard order, as a JSON string.
fn merged_via_parts<M: Model>(
    model: &M,
    d: &JointDistribution,
    s: &McSettings,
    n: usize,
) -> String {
    let parts: Vec<McPart> = (1..=n)
        .map(|k| {
            let part = monte_carlo_part(model, d, s, ShardSpec::new(k, n).unwrap()).unwrap();
            serde_json::from_str(&serde_json::to_string(&part).unwrap()).unwrap()
        })
        .collect();
    let refs: Vec<&McPart> = parts.iter().collect();
    serde_json::to_string(&merge_parts(model, d, s, &refs).unwrap()).unwrap()
}

#[test]
fn merged_shards_equal_the_single_run_bitwise() {
    let (d, t, _, _) = arrhenius_dist();
    let model = ArrheniusAtT::new(t);
    for design in [Design::Pseudo, Design::Sobol, Design::LatinHypercube] {
        // 17 chunks (Sobol: rounded up to 24, three per replicate), a short last chunk.
        let s = settings(design, 16 * 4096 + 1000, 11);
        let single = serde_json::to_string(&monte_carlo(&model, &d, &s).unwrap()).unwrap();
        for n in [1, 2, 5, 30] {
            assert_eq!(
                single,
                merged_via_parts(&model, &d, &s, n),
                "{design:?}, {n} shards"
            );
        }
    }
    // Failed and non-finite evaluations (first failure, counts) merge the same way.
    let m = Fragile {
        inputs: vec![InputSpec::new("x", "1")],
        outputs: vec![OutputSpec::scalar("y", "1")],
    };
    let d = dist(&[("x", "1", Transform::Identity)], &[1.0], &[1.0]);
    let s = settings(Design::Pseudo, 9 * 4096, 2);
    let single = serde_json::to_string(&monte_carlo(&m, &d, &s).unwrap()).unwrap();
    assert_eq!(single, merged_via_parts(&m, &d, &s, 4));
}

#[test]
fn parts_that_do_not_fit_are_refused() {
    let (d, t, _, _) = arrhenius_dist();
    let model = ArrheniusAtT::new(t);
    let s = settings(Design::Pseudo, 8 * 4096, 1);
    let part = |k, n, s: &McSettings| {
        monte_carlo_part(&model, &d, s, ShardSpec::new(k, n).unwrap()).unwrap()
    };
    let (a, b) = (part(1, 2, &s), part(2, 2, &s));
    // Missing, out of order, duplicated, other design.
    assert!(merge_parts(&model, &d, &s, &[&a]).is_err());
    assert!(merge_parts(&model, &d, &s, &[&b, &a]).is_err());
    assert!(merge_parts(&model, &d, &s, &[&a, &a]).is_err());
    let lhs = settings(Design::LatinHypercube, 8 * 4096, 1);
    assert!(merge_parts(&model, &d, &lhs, &[&a, &b]).is_err());
    // A stopping rule cannot be sharded.
    let r = McSettings {
        rel_err: Some(0.01),
        ..s.clone()
    };
    assert!(matches!(
        monte_carlo_part(&model, &d, &r, ShardSpec::WHOLE),
        Err(PropagateError::InvalidSetting { .. })
    ));
}
