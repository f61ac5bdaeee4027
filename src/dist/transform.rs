//! Per-parameter transforms between natural units x and the unconstrained space z in which the
//! joint distribution is normal (and in which NUTS samples).

use crate::model::Scalar;
use serde::{Deserialize, Serialize};

/// The map x = T(z) from the unconstrained, normally distributed z to the natural value x.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Transform {
    /// x = z (normal marginal).
    Identity,
    /// x = exp(z), x > 0 (lognormal marginal).
    Log,
    /// x = a + (b − a)·σ(z), σ(z) = 1/(1 + e^(−z)), a < x < b (logit-normal marginal).
    Logit {
        /// Lower bound a, in the parameter's unit.
        lower: f64,
        /// Upper bound b, in the parameter's unit.
        upper: f64,
    },
}

impl Transform {
    /// z = T⁻¹(x). `None` when x is outside the transform's domain (x ≤ 0 for log, x ∉ (a, b)
    /// for logit) or not finite.
    pub fn to_unconstrained(&self, x: f64) -> Option<f64> {
        if !x.is_finite() {
            return None;
        }
        match *self {
            Transform::Identity => Some(x),
            Transform::Log => (x > 0.0).then(|| x.ln()),
            Transform::Logit { lower, upper } => {
                (x > lower && x < upper).then(|| ((x - lower) / (upper - x)).ln())
            }
        }
    }

    /// x = T(z), generic over the scalar so derivatives pass through.
    #[inline]
    pub fn to_natural<D: Scalar>(&self, z: D) -> D {
        match *self {
            Transform::Identity => z,
            Transform::Log => z.exp(),
            Transform::Logit { lower, upper } => {
                let s = ((-z).exp() + 1.0).recip();
                s * (upper - lower) + lower
            }
        }
    }

    /// dx/dz at z.
    pub fn dx_dz(&self, z: f64) -> f64 {
        match *self {
            Transform::Identity => 1.0,
            Transform::Log => z.exp(),
            Transform::Logit { lower, upper } => {
                let s = 1.0 / (1.0 + (-z).exp());
                (upper - lower) * s * (1.0 - s)
            }
        }
    }

    /// ln|dx/dz|, the log-Jacobian term a density in x picks up when expressed in z.
    /// Logit: ln(b − a) − softplus(−z) − softplus(z), written to stay finite for large |z|.
    #[inline]
    pub fn ln_abs_dx_dz<D: Scalar>(&self, z: D) -> D {
        match *self {
            Transform::Identity => D::from(0.0),
            Transform::Log => z,
            Transform::Logit { lower, upper } => {
                D::from((upper - lower).ln()) - softplus(-z) - softplus(z)
            }
        }
    }

    /// Short human label: "identity", "log", "logit[a, b]".
    pub fn label(&self) -> String {
        match self {
            Transform::Identity => "identity".into(),
            Transform::Log => "log".into(),
            Transform::Logit { lower, upper } => format!("logit[{lower}, {upper}]"),
        }
    }
}

/// The parameters (μ, σ) of ln x for a log-normal x with mean `mean` and sd `sd` (both > 0), by
/// exact moment matching: σ² = ln(1 + (sd/mean)²), μ = ln(mean) − σ²/2.
pub fn lognormal_from_mean_sd(mean: f64, sd: f64) -> (f64, f64) {
    let s2 = (sd / mean).powi(2).ln_1p();
    (mean.ln() - 0.5 * s2, s2.sqrt())
}

/// softplus(z) = ln(1 + e^z), stable for large |z|.
#[inline]
pub fn softplus<D: Scalar>(z: D) -> D {
    if z.re() > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_dual::Dual64;

    const TRANSFORMS: [Transform; 3] = [
        Transform::Identity,
        Transform::Log,
        Transform::Logit {
            lower: 0.2,
            upper: 0.9,
        },
    ];

    #[test]
    fn round_trip() {
        for t in TRANSFORMS {
            for &z in &[-3.0, -0.4, 0.0, 1.3, 4.0] {
                let x: f64 = t.to_natural(z);
                let z2 = t.to_unconstrained(x).unwrap();
                assert!((z - z2).abs() < 1e-12, "{t:?} z={z} z2={z2}");
            }
        }
    }

    #[test]
    fn jacobian_matches_finite_difference_and_dual() {
        for t in TRANSFORMS {
            for &z in &[-3.0, -0.4, 0.0, 1.3, 4.0] {
                let h = 1e-6;
                let fd = (t.to_natural(z + h) - t.to_natural(z - h)) / (2.0 * h);
                let d = t.to_natural(Dual64::new(z, 1.0)).eps;
                assert!((fd - t.dx_dz(z)).abs() <= 1e-8 * fd.abs().max(1.0));
                assert!((d - t.dx_dz(z)).abs() <= 1e-14 * d.abs().max(1.0));
                let lj: f64 = t.ln_abs_dx_dz(z);
                assert!((lj - t.dx_dz(z).ln()).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn domain_is_checked() {
        assert_eq!(Transform::Log.to_unconstrained(0.0), None);
        assert_eq!(Transform::Log.to_unconstrained(-1.0), None);
        let l = Transform::Logit {
            lower: 0.0,
            upper: 1.0,
        };
        assert_eq!(l.to_unconstrained(1.0), None);
        assert_eq!(Transform::Identity.to_unconstrained(f64::NAN), None);
    }

    #[test]
    fn logit_log_jacobian_is_finite_far_out() {
        let l = Transform::Logit {
            lower: 0.0,
            upper: 1.0,
        };
        let v: f64 = l.ln_abs_dx_dz(800.0);
        assert!(v.is_finite() && (v + 800.0).abs() < 1e-9);
    }
}
