//! Variable-step BDF2 (with backward Euler to start): the coefficients of one step, the
//! polynomial through the last states that serves as dense output inside a step, and the
//! extrapolation behind the local error estimate. The diffusion operators of the cell model
//! (particles, electrolyte) step with these.
//!
//! One step of size h = t_{n+1} − t_n after one of size h_b, ω = h/h_b, solves
//! β0·y_{n+1} − β1·y_n + β2·y_{n−1} = h·f(t_{n+1}, y_{n+1}).

/// BDF coefficients (β0, β1, β2) for one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bdf {
    /// β0, the coefficient of y_{n+1}.
    pub b0: f64,
    /// β1, the coefficient of y_n (subtracted).
    pub b1: f64,
    /// β2, the coefficient of y_{n−1}.
    pub b2: f64,
}

impl Bdf {
    /// Backward Euler.
    pub const EULER: Bdf = Bdf {
        b0: 1.0,
        b1: 1.0,
        b2: 0.0,
    };

    /// Variable-step BDF2 with step ratio ω = h_n/h_{n−1}:
    /// β0 = (1 + 2ω)/(1 + ω), β1 = 1 + ω, β2 = ω²/(1 + ω).
    pub fn bdf2(omega: f64) -> Bdf {
        Bdf {
            b0: (1.0 + 2.0 * omega) / (1.0 + omega),
            b1: 1.0 + omega,
            b2: omega * omega / (1.0 + omega),
        }
    }
}

/// Weights (w_{n−1}, w_n, w_{n+1}) of the states at t_n − h_b, t_n and t_n + h that give the
/// state at t_n + s (0 ≤ s ≤ h) inside a step: after a BDF2 step (`h_b` finite) the quadratic
/// through the three (Lagrange), the method's own order, so a state quadratic in time is
/// reproduced exactly; after a backward-Euler step (`h_b` NaN) the line through the last two.
#[inline]
pub fn dense_output_weights(s: f64, h: f64, h_b: f64) -> (f64, f64, f64) {
    if h_b.is_nan() {
        return (0.0, 1.0 - s / h, s / h);
    }
    (
        s * (s - h) / (h_b * (h_b + h)),
        -(s + h_b) * (s - h) / (h_b * h),
        (s + h_b) * s / ((h_b + h) * h),
    )
}

/// Weights (w_n, w_{n−1}, w_{n−2}) of the states at t_n, t_n − h_b and t_n − h_b − h_bb whose
/// quadratic, extrapolated to t_n + h, predicts the state there. The prediction misses the
/// BDF2 solution by ≈ h·(h + h_b)·(h + h_b + h_bb)·y'''/6, and BDF2's local error is
/// ≈ [`BDF2_ERROR_PER_EXTRAPOLATION_MISS`] of that miss (exactly at a constant step; the ratio
/// varies little at the step ratios a controller uses).
#[inline]
pub fn extrapolation_weights(h: f64, h_b: f64, h_bb: f64) -> (f64, f64, f64) {
    (
        (h + h_b) * (h + h_b + h_bb) / (h_b * (h_b + h_bb)),
        -h * (h + h_b + h_bb) / (h_b * h_bb),
        h * (h + h_b) / ((h_b + h_bb) * h_bb),
    )
}

/// BDF2's local error per miss of the quadratic extrapolation ([`extrapolation_weights`]) at a
/// constant step: (2/9).
pub const BDF2_ERROR_PER_EXTRAPOLATION_MISS: f64 = 2.0 / 9.0;

#[cfg(test)]
mod tests {
    use super::*;

    /// Dense output reproduces a quadratic (BDF2) or a line (Euler); extrapolation predicts a
    /// quadratic exactly; BDF2 integrates y' = 2t (a quadratic solution) exactly at any ratio.
    #[test]
    fn weights_and_coefficients_are_exact_on_polynomials() {
        let q = |t: f64| 3.0 - 2.0 * t + 0.7 * t * t;
        let (h, hb, hbb) = (1.7, 0.9, 1.3);
        for s in [0.0, 0.4, 1.1, 1.7] {
            let (a, b, c) = dense_output_weights(s, h, hb);
            assert!((a * q(-hb) + b * q(0.0) + c * q(h) - q(s)).abs() < 1e-12);
            let (a, b, c) = dense_output_weights(s, h, f64::NAN);
            let line = |t: f64| 1.0 + 2.0 * t;
            assert!((a * 123.0 + b * line(0.0) + c * line(h) - line(s)).abs() < 1e-12);
        }
        let (a, b, c) = extrapolation_weights(h, hb, hbb);
        assert!((a * q(0.0) + b * q(-hb) + c * q(-hb - hbb) - q(h)).abs() < 1e-12);
        let y = |t: f64| t * t;
        let bdf = Bdf::bdf2(h / hb);
        let lhs = bdf.b0 * y(h) - bdf.b1 * y(0.0) + bdf.b2 * y(-hb);
        assert!((lhs - h * 2.0 * h).abs() < 1e-12, "{lhs}");
    }
}
