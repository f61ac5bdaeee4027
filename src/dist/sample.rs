//! Drawing from a [`JointDistribution`]: seeded pseudo-random draws (ChaCha8 streams, Cholesky)
//! and scrambled-Sobol quasi-random draws through the inverse normal CDF, mapped back through
//! the transforms. Streams are keyed by (seed, stream index) so parallel chunks are
//! reproducible whatever the thread count. For bulk Monte Carlo, [`crate::numerics::rng`] fills
//! whole blocks of normals several times faster than ChaCha8 with `rand_distr`'s sampler.

use super::sobol::ScrambledSobol;
use super::{JointDistribution, Transform};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Φ⁻¹(p), the standard normal quantile, p ∈ (0, 1).
pub fn standard_normal_quantile(p: f64) -> f64 {
    -std::f64::consts::SQRT_2 * statrs::function::erf::erfc_inv(2.0 * p)
}

/// Φ(x), the standard normal CDF.
pub fn standard_normal_cdf(x: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(-x / std::f64::consts::SQRT_2)
}

/// The RNG for stream `stream` of a run seeded with `seed`: independent ChaCha8 streams.
pub fn stream_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Fill `n` with independent standard normals from `rng`.
pub fn fill_standard_normals<R: rand::Rng + ?Sized>(rng: &mut R, n: &mut [f64]) {
    for v in n.iter_mut() {
        *v = StandardNormal.sample(rng);
    }
}

/// `count` pseudo-random draws in natural units, row-major (count × dim), from stream
/// (seed, stream).
pub fn draw_pseudo(d: &JointDistribution, count: usize, seed: u64, stream: u64) -> Vec<f64> {
    let k = d.dim();
    let mut rng = stream_rng(seed, stream);
    let mut n = vec![0.0; k];
    let mut z = vec![0.0; k];
    let mut out = vec![0.0; count * k];
    for row in out.chunks_exact_mut(k) {
        fill_standard_normals(&mut rng, &mut n);
        d.z_from_standard_normals(&n, &mut z);
        d.natural_from_z(&z, row);
    }
    out
}

/// `count` scrambled-Sobol draws in natural units starting at point `start`, row-major.
pub fn draw_sobol(d: &JointDistribution, start: u64, count: usize, seed: u64) -> Vec<f64> {
    let k = d.dim();
    let sobol = ScrambledSobol::new(k, seed);
    let mut u = vec![0.0; k];
    let mut n = vec![0.0; k];
    let mut z = vec![0.0; k];
    let mut out = vec![0.0; count * k];
    let mut pts = sobol.points_from(start);
    for row in out.chunks_exact_mut(k) {
        pts.next_into(&mut u);
        for (ni, ui) in n.iter_mut().zip(&u) {
            *ni = standard_normal_quantile(*ui);
        }
        d.z_from_standard_normals(&n, &mut z);
        d.natural_from_z(&z, row);
    }
    out
}

/// Mean and sd of T(Z), Z ~ N(mu, s²), by the trapezoid rule on ±12 s (spectrally accurate for
/// this smooth, rapidly decaying integrand).
pub fn normal_moments_through(t: &Transform, mu: f64, s: f64) -> (f64, f64) {
    let m = 2400;
    let h = 24.0 / m as f64;
    let (mut w0, mut w1, mut w2) = (0.0, 0.0, 0.0);
    for k in 0..=m {
        let u = -12.0 + k as f64 * h;
        let w = (-0.5 * u * u).exp();
        let x: f64 = t.to_natural(mu + s * u);
        w0 += w;
        w1 += w * x;
        w2 += w * x * x;
    }
    let mean = w1 / w0;
    (mean, (w2 / w0 - mean * mean).max(0.0).sqrt())
}

/// μ of a logit-normal on (a, b) whose mode is `mode`, given σ. The mode y ∈ (0, 1) of the
/// standard logit-normal satisfies logit(y) = μ + σ²·(2y − 1).
pub fn logit_normal_mode_to_mu(a: f64, b: f64, mode: f64, sigma: f64) -> f64 {
    let y = (mode - a) / (b - a);
    (y / (1.0 - y)).ln() - sigma * sigma * (2.0 * y - 1.0)
}

/// σ of a logit-normal on (a, b) with the given mode and natural-space sd, found by bisection
/// on ln σ. `None` when no σ gives that sd (the sd is too large for the bounds).
pub fn logit_normal_sd_to_sigma(a: f64, b: f64, mode: f64, sd: f64) -> Option<f64> {
    let t = Transform::Logit { lower: a, upper: b };
    let sd_of = |sigma: f64| {
        normal_moments_through(&t, logit_normal_mode_to_mu(a, b, mode, sigma), sigma).1
    };
    // sd grows with σ on the unimodal branch (σ² < 2 for the standard logit-normal).
    let (mut lo, mut hi) = (1e-8_f64.ln(), 2.0_f64.sqrt().ln());
    if sd_of(hi.exp()) < sd || sd_of(lo.exp()) > sd {
        return None;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if sd_of(mid.exp()) < sd {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-13 {
            break;
        }
    }
    Some((0.5 * (lo + hi)).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantile_and_cdf_agree() {
        for &p in &[1e-10, 0.001, 0.025, 0.16, 0.5, 0.84, 0.975, 0.999] {
            let x = standard_normal_quantile(p);
            assert!((standard_normal_cdf(x) - p).abs() < 1e-14 + 1e-10 * p);
        }
        assert!((standard_normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-12);
    }

    #[test]
    fn logit_normal_mode_and_sd_are_reproduced() {
        let (a, b, mode, sd) = (0.0, 1.0, 0.3, 0.08);
        let sigma = logit_normal_sd_to_sigma(a, b, mode, sd).unwrap();
        let mu = logit_normal_mode_to_mu(a, b, mode, sigma);
        let t = Transform::Logit { lower: a, upper: b };
        assert!((normal_moments_through(&t, mu, sigma).1 - sd).abs() < 1e-9);
        // The density of x peaks at the mode: check on a fine grid.
        let dens = |x: f64| {
            let z = (x / (1.0 - x)).ln();
            (-(z - mu).powi(2) / (2.0 * sigma * sigma)).exp() / (x * (1.0 - x))
        };
        let best = (1..10000)
            .map(|k| k as f64 / 10000.0)
            .max_by(|p, q| dens(*p).total_cmp(&dens(*q)))
            .unwrap();
        assert!((best - mode).abs() < 2e-4, "peak at {best}");
    }
}
