//! Free energy per intercalation site g(x, T): regular solution and Redlich–Kister, with closed-form μ, ∂²g/∂x², ∂g/∂T.
//!
//! Units throughout: energies in eV per site (equivalently eV per Li at full occupancy), T in K,
//! x the dimensionless Li site fraction in (0, 1), k_B = [`K_B_EV`] in eV/K.

use crate::constants::K_B_EV;
use crate::model::Scalar;

use super::ThermoError;

/// Redlich–Kister free energy per site, generic over the scalar:
///
/// $$ g(x,T) = x\,\mu_0 + x(1-x)\sum_k A_k(T)\,(1-2x)^k + k_B T\,[x\ln x + (1-x)\ln(1-x)],
///    \qquad A_k(T) = a_k + b_k T $$
///
/// Units: μ0, a_k in eV per site, b_k in eV/(site·K), T in K. The regular solution is the
/// one-term case A_0 = Ω (see [`FreeEnergy::regular_solution`]). μ0 and the a_k, b_k carry
/// the parameters' dual parts, so everything derived from a `FreeEnergy<D>` is differentiable
/// with respect to them.
#[derive(Debug, Clone, PartialEq)]
pub struct FreeEnergy<D> {
    /// Reference chemical potential μ0 \[eV\]: the slope of the linear term x·μ0.
    pub mu0: D,
    /// Temperature-independent parts a_k \[eV\] of the Redlich–Kister coefficients.
    pub a: Vec<D>,
    /// Temperature slopes b_k \[eV/K\] of the coefficients (missing entries are 0).
    pub b: Vec<D>,
    /// Temperature T \[K\].
    pub t: D,
}

impl<D: Scalar> FreeEnergy<D> {
    /// Regular solution g = x·μ0 + Ω·x(1−x) + k_B·T·[x ln x + (1−x) ln(1−x)]
    /// (Ω, μ0 in eV per site, T in K).
    pub fn regular_solution(omega: D, mu0: D, t: D) -> Self {
        Self {
            mu0,
            a: vec![omega],
            b: Vec::new(),
            t,
        }
    }

    /// Redlich–Kister free energy with A_k(T) = a_k + b_k·T (a_k \[eV\], b_k \[eV/K\]).
    pub fn redlich_kister(mu0: D, a: Vec<D>, b: Vec<D>, t: D) -> Self {
        Self { mu0, a, b, t }
    }

    /// Check T > 0 and every parameter finite.
    pub fn validate(&self) -> Result<(), ThermoError> {
        let t = self.t.re();
        if !(t.is_finite() && t > 0.0) {
            return Err(ThermoError::InvalidParameter {
                name: "T".into(),
                value: t,
                expected: "finite T > 0 K".into(),
            });
        }
        let all = std::iter::once(("mu0", self.mu0.re()))
            .chain(self.a.iter().map(|v| ("a_k", v.re())))
            .chain(self.b.iter().map(|v| ("b_k", v.re())));
        for (name, v) in all {
            if !v.is_finite() {
                return Err(ThermoError::InvalidParameter {
                    name: name.into(),
                    value: v,
                    expected: "a finite value".into(),
                });
            }
        }
        Ok(())
    }

    /// Number of Redlich–Kister terms (max of the a and b lengths).
    pub fn n_terms(&self) -> usize {
        self.a.len().max(self.b.len())
    }

    /// a_k (0 when absent).
    fn a_k(&self, k: usize) -> D {
        self.a.get(k).copied().unwrap_or(D::from(0.0))
    }

    /// b_k (0 when absent).
    fn b_k(&self, k: usize) -> D {
        self.b.get(k).copied().unwrap_or(D::from(0.0))
    }

    /// A_k(T) = a_k + b_k·T \[eV\].
    pub fn coefficient(&self, k: usize) -> D {
        self.a_k(k) + self.b_k(k) * self.t
    }

    /// Free energy per site g(x, T) \[eV\]. `x` must lie in (0, 1) (not checked here; see
    /// [`check_composition`]).
    pub fn g(&self, x: D) -> D {
        self.g_xy(x, -x + 1.0)
    }

    /// Chemical potential μ(x, T) = ∂g/∂x \[eV per Li\]:
    /// μ = μ0 + Σ_k A_k(T)·φ_k'(x) + k_B·T·ln(x/(1−x)), φ_k = x(1−x)(1−2x)^k.
    pub fn mu(&self, x: D) -> D {
        self.mu_xy(x, -x + 1.0)
    }

    /// Curvature ∂²g/∂x² = ∂μ/∂x \[eV\]: Σ_k A_k·φ_k''(x) + k_B·T/(x(1−x)).
    pub fn d2g(&self, x: D) -> D {
        self.d2g_xy(x, -x + 1.0)
    }

    /// ∂g/∂T at fixed x \[eV/K\] (minus the entropy per site):
    /// Σ_k b_k·φ_k(x) + k_B·[x ln x + (1−x) ln(1−x)].
    pub fn dg_dt(&self, x: D) -> D {
        self.dg_dt_xy(x, -x + 1.0)
    }

    /// ∂μ/∂T at fixed x \[eV/K\]: Σ_k b_k·φ_k'(x) + k_B·ln(x/(1−x)).
    pub fn dmu_dt(&self, x: D) -> D {
        self.dmu_dt_xy(x, -x + 1.0)
    }

    /// [`Self::g`] with the vacancy fraction y = 1 − x passed separately, so compositions
    /// within 1e-16 of 1 keep full relative precision in y.
    pub fn g_xy(&self, x: D, y: D) -> D {
        let mut ex = D::from(0.0);
        for k in 0..self.n_terms() {
            ex += self.coefficient(k) * phi(k, x, y);
        }
        x * self.mu0 + ex + self.t * ideal_mixing(x, y) * K_B_EV
    }

    /// [`Self::mu`] with y = 1 − x passed separately.
    pub fn mu_xy(&self, x: D, y: D) -> D {
        let mut ex = D::from(0.0);
        for k in 0..self.n_terms() {
            ex += self.coefficient(k) * phi_d1(k, x, y);
        }
        self.mu0 + ex + self.t * (x.ln() - y.ln()) * K_B_EV
    }

    /// [`Self::d2g`] with y = 1 − x passed separately.
    pub fn d2g_xy(&self, x: D, y: D) -> D {
        let mut ex = D::from(0.0);
        for k in 0..self.n_terms() {
            ex += self.coefficient(k) * phi_d2(k, x, y);
        }
        ex + self.t * (x * y).recip() * K_B_EV
    }

    /// [`Self::dg_dt`] with y = 1 − x passed separately.
    pub fn dg_dt_xy(&self, x: D, y: D) -> D {
        let mut ex = D::from(0.0);
        for k in 0..self.b.len() {
            ex += self.b[k] * phi(k, x, y);
        }
        ex + ideal_mixing(x, y) * K_B_EV
    }

    /// [`Self::dmu_dt`] with y = 1 − x passed separately.
    pub fn dmu_dt_xy(&self, x: D, y: D) -> D {
        let mut ex = D::from(0.0);
        for k in 0..self.b.len() {
            ex += self.b[k] * phi_d1(k, x, y);
        }
        ex + (x.ln() - y.ln()) * K_B_EV
    }

    /// Thermodynamic factor Θ = ∂ln a/∂ln x = (x/(k_B·T))·∂μ/∂x (dimensionless).
    /// Regular solution: Θ = 1/(1−x) − 2Ω·x/(k_B·T); ideal lattice gas (Ω = 0): 1/(1−x).
    pub fn thermodynamic_factor(&self, x: D) -> D {
        x * self.d2g(x) / (self.t * K_B_EV)
    }

    /// Same free energy with real (f64) parameters.
    pub fn to_f64(&self) -> FreeEnergy<f64> {
        FreeEnergy {
            mu0: self.mu0.re(),
            a: self.a.iter().map(|v| v.re()).collect(),
            b: self.b.iter().map(|v| v.re()).collect(),
            t: self.t.re(),
        }
    }
}

/// Fail unless 0 < x < 1 (the ideal mixing term diverges at the end members).
pub fn check_composition(x: f64) -> Result<(), ThermoError> {
    if x > 0.0 && x < 1.0 {
        Ok(())
    } else {
        Err(ThermoError::InvalidComposition { x })
    }
}

/// x ln x + y ln y with y = 1 − x (dimensionless).
fn ideal_mixing<D: Scalar>(x: D, y: D) -> D {
    x * x.ln() + y * y.ln()
}

/// ln(x/(1−x)).
fn logit<D: Scalar>(x: D) -> D {
    x.ln() - (-x + 1.0).ln()
}

/// z^n with z^0 = 1 (also for z = 0) and z^negative treated as 0 (unused).
fn pw<D: Scalar>(z: D, n: i64) -> D {
    match n {
        n if n < 0 => D::from(0.0),
        0 => D::from(1.0),
        1 => z,
        n => z.powi(n as i32),
    }
}

/// φ_k(x) = x(1−x)(1−2x)^k, with y = 1 − x and 1 − 2x = y − x.
fn phi<D: Scalar>(k: usize, x: D, y: D) -> D {
    x * y * pw(y - x, k as i64)
}

/// φ_k'(x) = (1−2x)^{k+1} − 2k·x(1−x)(1−2x)^{k−1}.
fn phi_d1<D: Scalar>(k: usize, x: D, y: D) -> D {
    let p = x * y;
    let z = y - x;
    let k = k as i64;
    let mut r = pw(z, k + 1);
    if k >= 1 {
        r -= p * pw(z, k - 1) * (2 * k) as f64;
    }
    r
}

/// φ_k''(x) = −2(2k+1)(1−2x)^k + 4k(k−1)·x(1−x)(1−2x)^{k−2}.
fn phi_d2<D: Scalar>(k: usize, x: D, y: D) -> D {
    let p = x * y;
    let z = y - x;
    let k = k as i64;
    let mut r = pw(z, k) * (-2 * (2 * k + 1)) as f64;
    if k >= 2 {
        r += p * pw(z, k - 2) * (4 * k * (k - 1)) as f64;
    }
    r
}

/// Regular-solution chemical potential μ = μ0 + Ω(1−2x) + k_B·T·ln(x/(1−x)) \[eV\]
/// (Ω, μ0 in eV per site, T in K).
pub fn regular_solution_mu<D: Scalar>(x: D, omega: D, mu0: D, t: D) -> D {
    mu0 + omega * (-x * 2.0 + 1.0) + t * logit(x) * K_B_EV
}

/// Regular-solution thermodynamic factor Θ = 1/(1−x) − 2Ω·x/(k_B·T) (dimensionless).
pub fn regular_solution_theta<D: Scalar>(x: D, omega: D, t: D) -> D {
    (-x + 1.0).recip() - omega * x * 2.0 / (t * K_B_EV)
}

/// Critical temperature of the symmetric regular solution T_c = Ω/(2k_B) \[K\] (Ω in eV).
pub fn regular_solution_critical_temperature<D: Scalar>(omega: D) -> D {
    omega / (2.0 * K_B_EV)
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_dual::Dual64;

    fn rk_asym() -> FreeEnergy<f64> {
        FreeEnergy::redlich_kister(
            -3.4,
            vec![0.12, 0.03, -0.02, 0.015],
            vec![1e-5, -2e-5, 0.0, 3e-6],
            310.0,
        )
    }

    fn lift(f: &FreeEnergy<f64>) -> FreeEnergy<Dual64> {
        FreeEnergy {
            mu0: Dual64::from(f.mu0),
            a: f.a.iter().map(|&v| Dual64::from(v)).collect(),
            b: f.b.iter().map(|&v| Dual64::from(v)).collect(),
            t: Dual64::from(f.t),
        }
    }

    #[test]
    fn mu_and_curvature_equal_ad_derivatives() {
        for f in [
            rk_asym(),
            FreeEnergy::regular_solution(0.1158, -3.42, 298.15),
        ] {
            let fd = lift(&f);
            for &x in &[1e-6, 0.03, 0.2, 0.5, 0.61, 0.9, 1.0 - 1e-7] {
                let xd = Dual64::new(x, 1.0);
                let g = fd.g(xd);
                assert!(
                    (g.eps - f.mu(x)).abs() <= 1e-12 * (1.0 + f.mu(x).abs()),
                    "mu at {x}"
                );
                let m = fd.mu(xd);
                assert!(
                    (m.eps - f.d2g(x)).abs() <= 1e-10 * (1.0 + f.d2g(x).abs()),
                    "d2g at {x}"
                );
                // ∂/∂T by AD through T.
                let mut ft = lift(&f);
                ft.t = Dual64::new(f.t, 1.0);
                assert!((ft.g(Dual64::from(x)).eps - f.dg_dt(x)).abs() < 1e-14);
                assert!((ft.mu(Dual64::from(x)).eps - f.dmu_dt(x)).abs() < 1e-13);
            }
        }
    }

    #[test]
    fn regular_solution_closed_forms() {
        let (om, mu0, t): (f64, f64, f64) = (0.1158, -3.42, 298.15);
        let f = FreeEnergy::regular_solution(om, mu0, t);
        for &x in &[0.01f64, 0.3, 0.5, 0.77] {
            assert!((f.mu(x) - regular_solution_mu(x, om, mu0, t)).abs() < 1e-14);
            let th = f.thermodynamic_factor(x);
            assert!((th - regular_solution_theta(x, om, t)).abs() < 1e-12);
        }
        // Ideal lattice gas: Θ = 1/(1−x).
        let ideal = FreeEnergy::regular_solution(0.0, -3.0, 300.0);
        for &x in &[0.001, 0.25, 0.5, 0.9, 0.999] {
            let th: f64 = ideal.thermodynamic_factor(x);
            assert!((th - 1.0 / (1.0 - x)).abs() < 1e-12 * th, "x={x}: {th}");
        }
        assert!((regular_solution_critical_temperature(0.1158f64) - 671.9).abs() < 0.1);
    }

    #[test]
    fn composition_check() {
        assert!(check_composition(0.5).is_ok());
        assert!(check_composition(0.0).is_err());
        assert!(check_composition(1.0).is_err());
        assert!(check_composition(f64::NAN).is_err());
    }

    #[test]
    fn dual_real_part_equals_f64() {
        let f = rk_asym();
        let fd = lift(&f);
        let x = 0.37;
        assert_eq!(fd.mu(Dual64::from(x)).re, f.mu(x));
    }
}
