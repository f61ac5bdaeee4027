//! SPMe electrolyte: finite-volume diffusion of Li⁺ across negative electrode, separator and positive electrode.
//!
//! ε·∂c_e/∂t = ∂/∂x(ε^b·D_e(c_e, T)·∂c_e/∂x) + (1 − t+)·a·j/F, zero flux at x = 0 and x = L,
//! with the uniform SPM reaction: source (1 − t+)·i/(F·L_n) in the negative electrode and
//! −(1 − t+)·i/(F·L_p) in the positive (i = I/A [A/m²], discharge > 0). D_e is evaluated at each
//! cell's own c_e; faces between cells use the series (harmonic) resistance of the two half
//! cells, g = 2·D_l·D_r/(Δx_l·D_r + Δx_r·D_l) with D = ε^b·D_e. Time stepping as in
//! [`super::particle`] (variable-step BDF2, D_e linearised at the extrapolated state). A D_e
//! or κ_e given as an expression of c_e is tabulated once per solve ([`tabulate`]).
//! The mesh is uniform in each region ([`ElectrolyteMesh`], PyBaMM's default 20/20/20 cells).
//!
//! Voltage terms as in PyBaMM's SPMe (Marquis et al. 2019, composite electrolyte conductivity),
//! with these evaluation points:
//! - concentration overpotential η_c = 2(1 − t+)·(RT/F)·(⟨ln c_e⟩_p − ⟨ln c_e⟩_n), ⟨·⟩_k the
//!   average over electrode k;
//! - electrolyte ohmic drop Δφ_e = −i·(L_n/(3ε_n^b) + L_s/ε_s^b + L_p/(3ε_p^b))/κ_e(c̄_e), with κ_e
//!   at one concentration, the x-average c̄_e = (1/L)∫₀ᴸ c_e dx over the whole cell (PyBaMM
//!   evaluates it at ⟨ε·c_e⟩·⟨1/ε⟩ instead, a constant 1036 mol/m³ for Chen2020 and 1161 for
//!   Marquis2019 at c_e0 = 1000; the difference is stated with the cross-check);
//! - reaction overpotentials η_k = ⟨(2RT/F)·asinh(j_k/(2·i0_k(c_e(x), c_s,k)))⟩_k, the average
//!   over the electrode of the overpotential with the local exchange current (see
//!   [`ElectrolyteState::electrode_average`]; for α = ½ in one pass with ⟨ln c_e⟩_k,
//!   [`ElectrolyteState::ln_and_asinh_averages`]).

use super::ocp::{Coefficient, Shape, lift};
use super::params::CellParams;
use super::particle::Bdf;
use crate::constants::FARADAY;
use crate::model::{DependsOnInputs, Scalar};
use crate::numerics::fastmath;
use crate::numerics::table::UniformHermite;
use crate::numerics::tridiagonal;

/// ln c with the inlined [`fastmath::ln`] and one chain-rule step for f64 and first-order
/// scalars (no libm call in the voltage), the scalar's own ln otherwise.
#[inline(always)]
fn ln<D: Scalar>(c: D) -> D {
    if D::NDERIV > 1 {
        return c.ln();
    }
    lift(c, fastmath::ln(c.re()), 1.0 / c.re())
}

/// Number of finite-volume cells per region of the electrolyte mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElectrolyteMesh {
    pub neg: usize,
    pub sep: usize,
    pub pos: usize,
}

impl Default for ElectrolyteMesh {
    /// 20 cells in each region, as PyBaMM's default mesh (x_n = x_s = x_p = 20).
    fn default() -> Self {
        Self {
            neg: 20,
            sep: 20,
            pos: 20,
        }
    }
}

impl ElectrolyteMesh {
    /// Most cells per region (a larger mesh is a typing error, not a finer answer).
    pub const MAX_CELLS: usize = 2000;

    /// Cells per region from "N_n,N_s,N_p" (e.g. "20,20,20"); each from 1 to [`Self::MAX_CELLS`].
    /// Errors say what was expected.
    pub fn parse(s: &str) -> Result<Self, String> {
        let counts: Option<Vec<usize>> = s.split(',').map(|x| x.trim().parse().ok()).collect();
        match counts.as_deref() {
            Some(&[neg, sep, pos]) => Self::new(neg, sep, pos),
            _ => Err("three cell counts N_n,N_s,N_p, e.g. 20,20,20".into()),
        }
    }

    /// A mesh of `neg`, `sep`, `pos` cells; each from 1 to [`Self::MAX_CELLS`].
    pub fn new(neg: usize, sep: usize, pos: usize) -> Result<Self, String> {
        for (n, region) in [
            (neg, "negative electrode"),
            (sep, "separator"),
            (pos, "positive electrode"),
        ] {
            if !(1..=Self::MAX_CELLS).contains(&n) {
                return Err(format!(
                    "1 to {} cells in the {region}, not {n}",
                    Self::MAX_CELLS
                ));
            }
        }
        Ok(Self { neg, sep, pos })
    }
}

/// An electrolyte property's shape given as an expression of c_e, tabulated once per solve
/// (cubic Hermite from the expression's value and slope on 128 intervals over [0, 4·c_e0]; the
/// expression itself is evaluated outside the range). Chen2020's D_e (a cubic) is exact;
/// its κ_e, with a c_e^1.5 term, is within 2e-7 relative above c_e0/4 and 5e-5 above c_e0/20 —
/// below 1 µV in the ohmic drop. None for other shapes (a constant or a table already).
fn tabulate(shape: &Shape, c0: f64) -> Option<UniformHermite> {
    match shape {
        Shape::Expr(e) => Some(UniformHermite::new(0.0, 4.0 * c0, 128, |x| {
            let r = e.eval(num_dual::Dual64::new(x, 1.0));
            (r.re, r.eps)
        })),
        _ => None,
    }
}

/// An electrode of the cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The negative electrode (x from 0 to L_n).
    Negative,
    /// The positive electrode (x from L − L_p to L).
    Positive,
}

/// Electrolyte state and preallocated work arrays.
#[derive(Debug, Clone)]
pub struct Electrolyte<D> {
    m: usize,
    nn: usize,
    np: usize,
    dx: Vec<D>,
    eps_dx: Vec<D>,
    tort: Vec<D>,
    /// source per unit current density [mol/(m²·s) per (A/m²)] integrated over the cell
    src: Vec<D>,
    /// Σ_regions W_r/ε_r^b with W = L_n/3, L_s, L_p/3 [m]: Δφ_e = −i·this/κ_e(c̄_e)
    ohm_geometry: D,
    /// 1/L [1/m], for the x-average c̄_e
    inv_len: D,
    ln_n: D,
    ln_p: D,
    /// cell concentrations [mol/m³] at the end of the last step (t_{n+1}), at its start (t_n)
    /// and at the start of the step before (t_{n−1})
    c: Vec<D>,
    c_old: Vec<D>,
    c_older: Vec<D>,
    /// the concentrations at the time the voltage is evaluated [mol/m³] (the last step's end,
    /// or a point inside it: [`Electrolyte::evaluate_at`])
    at: Vec<D>,
    /// the smallest of `at` (real parts) [mol/m³], and whether `at` is the last step's end
    at_min: f64,
    at_is_end: bool,
    /// size of the last step [s], of the one before it [s], and whether the last step was
    /// BDF2 (else backward Euler)
    h_last: f64,
    h_before: f64,
    bdf2_last: bool,
    /// consecutive states on the solution since the last restart (a current jump), and the
    /// local error estimate of the last step ([`Electrolyte::error_estimate`])
    points: usize,
    error_estimate: Option<f64>,
    l: Vec<D>,
    d: Vec<D>,
    u: Vec<D>,
    r: Vec<D>,
    cp: Vec<D>,
    /// ε^b·D_e(c*)·dfac per cell [m²/s]
    deff: Vec<D>,
    /// the shapes of D_e(c_e) (first-order scalars) and κ_e(c_e), tabulated ([`tabulate`])
    de_table: Option<UniformHermite>,
    kappa_table: Option<UniformHermite>,
}

impl<D: Scalar> Electrolyte<D> {
    /// Build the mesh and the initial uniform state from parameters in scalar `P`, each taken
    /// into `D` by `to` (the identity, or the value part when no electrolyte input carries a
    /// derivative: [`ElectrolyteState::new`]).
    fn build<P: Scalar>(p: &CellParams<P>, mesh: ElectrolyteMesh, to: impl Fn(P) -> D) -> Self {
        let (ln, ls, lp) = (
            to(p.neg.thickness),
            to(p.separator.thickness),
            to(p.pos.thickness),
        );
        let m = mesh.neg + mesh.sep + mesh.pos;
        let mut dx = Vec::with_capacity(m);
        let mut eps_dx = Vec::with_capacity(m);
        let mut tort = Vec::with_capacity(m);
        let mut src = Vec::with_capacity(m);
        let tp = -to(p.electrolyte.transference) + 1.0;
        let (eps_n, eps_s, eps_p) = (
            to(p.neg.porosity),
            to(p.separator.porosity),
            to(p.pos.porosity),
        );
        let (b_n, b_s, b_p) = (
            to(p.neg.bruggeman),
            to(p.separator.bruggeman),
            to(p.pos.bruggeman),
        );
        let regions = [
            (mesh.neg, ln, eps_n, b_n, 0u8),
            (mesh.sep, ls, eps_s, b_s, 1u8),
            (mesh.pos, lp, eps_p, b_p, 2u8),
        ];
        for (cnt, len, eps, b, reg) in regions {
            let h = len / cnt as f64;
            for _ in 0..cnt {
                dx.push(h);
                eps_dx.push(eps * h);
                tort.push(eps.powd(b));
                src.push(match reg {
                    0 => tp * h / (ln * FARADAY),
                    1 => D::zero(),
                    _ => -tp * h / (lp * FARADAY),
                });
            }
        }
        // ∫₀ᴸ s(x)²/ε^b dx with the current shape s = x/L_n, 1, (L − x)/L_p
        let tau = |eps: D, b: D| eps.powd(b);
        let ohm_geometry =
            ln / (tau(eps_n, b_n) * 3.0) + ls / tau(eps_s, b_s) + lp / (tau(eps_p, b_p) * 3.0);
        let c0 = to(p.electrolyte.initial_concentration);
        let z = D::zero();
        Self {
            m,
            nn: mesh.neg,
            np: mesh.pos,
            dx,
            eps_dx,
            tort,
            src,
            ohm_geometry,
            inv_len: (ln + ls + lp).recip(),
            ln_n: ln,
            ln_p: lp,
            c: vec![c0; m],
            c_old: vec![c0; m],
            c_older: vec![c0; m],
            at: vec![c0; m],
            at_min: c0.re(),
            at_is_end: true,
            h_last: 0.0,
            h_before: f64::NAN,
            bdf2_last: false,
            points: 1,
            error_estimate: None,
            l: vec![z; m],
            d: vec![z; m],
            u: vec![z; m],
            r: vec![z; m],
            cp: vec![z; m],
            deff: vec![z; m],
            de_table: tabulate(&p.electrolyte.diffusivity.shape, c0.re())
                .filter(|_| D::NDERIV <= 1),
            kappa_table: tabulate(&p.electrolyte.conductivity.shape, c0.re()),
        }
    }

    /// Take the concentrations (this and the previous step) of `other`, an electrolyte on the
    /// same mesh: the state a re-step from a saved start needs.
    fn copy_state_from(&mut self, other: &Self) {
        self.c.clone_from(&other.c);
        self.c_old.clone_from(&other.c_old);
        self.at.clone_from(&other.at);
        (self.at_min, self.at_is_end) = (other.at_min, other.at_is_end);
    }

    /// Total electrolyte lithium per unit area Σ ε_j·Δx_j·c_j [mol/m²].
    fn inventory(&self) -> D {
        let mut s = D::zero();
        for j in 0..self.m {
            s += self.eps_dx[j] * self.at[j];
        }
        s
    }

    /// Advance one step; `i_dens` is the applied current density at the new time [A/m²],
    /// D_e = `scale`·`shape`(c_e) [m²/s] (the scale with its Arrhenius factor).
    fn step(&mut self, h: f64, bdf: Bdf, omega: f64, i_dens: D, scale: D, shape: &Shape) {
        let constant = matches!(shape, Shape::One);
        let table = self.de_table.as_ref();
        // slices of one length, so the loops below index without bounds checks
        let m = self.m;
        let (c, c_old, tort) = (&self.c[..m], &self.c_old[..m], &self.tort[..m]);
        let (dx, eps_dx, src) = (&self.dx[..m], &self.eps_dx[..m], &self.src[..m]);
        let deff = &mut self.deff[..m];
        // ε^b·D_e(c*)·dfac per cell, c* the extrapolated state (the current one if D_e is constant)
        for j in 0..m {
            let cstar = if constant {
                c[j]
            } else {
                c[j] + (c[j] - c_old[j]) * omega
            };
            let shape = match table.and_then(|t| t.value_slope(cstar.re())) {
                Some((v, dv)) => lift(cstar, v, dv),
                None => shape.eval(cstar),
            };
            deff[j] = shape * scale * tort[j];
        }
        // rows of (ε·Δx·b0/h + K)·c_new = ε·Δx·(b1·c − b2·c_old)/h + s·i, K the face conductances
        let b0_h = bdf.b0 / h;
        let (b1_h, b2_h) = (bdf.b1 / h, bdf.b2 / h);
        let (l, d, u, r) = (
            &mut self.l[..m],
            &mut self.d[..m],
            &mut self.u[..m],
            &mut self.r[..m],
        );
        let mut g_lo = D::zero();
        for j in 0..m {
            // conductance of the face above cell j: two half cells in series
            let g_hi = if j + 1 < m {
                let (a, b) = (deff[j], deff[j + 1]);
                a * b * 2.0 / (dx[j] * b + dx[j + 1] * a)
            } else {
                D::zero()
            };
            l[j] = -g_lo;
            u[j] = -g_hi;
            d[j] = g_lo + g_hi + eps_dx[j] * b0_h;
            let v = if bdf.b2 != 0.0 {
                c[j] * b1_h - c_old[j] * b2_h
            } else {
                c[j] * b1_h
            };
            r[j] = v * eps_dx[j] + src[j] * i_dens;
            g_lo = g_hi;
        }
        tridiagonal::solve_twisted(&self.l, &self.d, &self.u, &mut self.r, &mut self.cp);
        let bdf2 = bdf.b2 != 0.0;
        self.error_estimate = (bdf2 && self.points >= 3).then(|| {
            // the quadratic through the three states before the step, extrapolated to its end,
            // misses the new state by ≈ h·(h + h_b)·(h + h_b + h_bb)·c'''/6; BDF2's local error
            // is ≈ 2/9 of that at a constant step (the ratio varies little at the ratios used)
            let (hb, hbb) = (h / omega, self.h_before);
            let w0 = (h + hb) * (h + hb + hbb) / (hb * (hb + hbb));
            let w1 = -h * (h + hb + hbb) / (hb * hbb);
            let w2 = h * (h + hb) / ((hb + hbb) * hbb);
            let (c, c_old, c_older, new) = (
                &self.c[..m],
                &self.c_old[..m],
                &self.c_older[..m],
                &self.r[..m],
            );
            let mut worst = 0.0f64;
            for j in 0..m {
                let p = c[j].re() * w0 + c_old[j].re() * w1 + c_older[j].re() * w2;
                worst = worst.max(((new[j].re() - p) / new[j].re()).abs());
            }
            worst * (2.0 / 9.0)
        });
        self.points = if bdf2 { self.points + 1 } else { 2 };
        // (t_{n−1}, t_n, t_{n+1}) ← (t_n, t_{n+1}, new)
        std::mem::swap(&mut self.c_older, &mut self.c_old);
        std::mem::swap(&mut self.c_old, &mut self.c);
        self.c.copy_from_slice(&self.r);
        self.at.copy_from_slice(&self.r);
        self.at_min = self.r.iter().fold(f64::INFINITY, |m, c| m.min(c.re()));
        self.at_is_end = true;
        self.bdf2_last = bdf2;
        self.h_before = if bdf2 { h / omega } else { f64::NAN };
        self.h_last = h;
    }

    /// The state a time `s` [s] after the start of the last step (0 ≤ s ≤ h, its size) into
    /// [`Self::at`], by the polynomial the step's integrator defines: after a BDF2 step the
    /// quadratic through the states at t_{n−1}, t_n and t_{n+1} (the BDF2 dense output, of the
    /// method's own order), after a backward-Euler step the line through t_n and t_{n+1}.
    /// Returns the smallest concentration there [mol/m³] (real part).
    fn evaluate_at(&mut self, s: f64) -> f64 {
        let h = self.h_last;
        if s >= h {
            if !self.at_is_end {
                self.at.copy_from_slice(&self.c);
                self.at_min = self.c.iter().fold(f64::INFINITY, |m, c| m.min(c.re()));
                self.at_is_end = true;
            }
            return self.at_min;
        }
        let (w_older, w_old, w_new) = if self.bdf2_last {
            // Lagrange weights on the nodes −h_b, 0, h
            let hb = self.h_before;
            (
                s * (s - h) / (hb * (hb + h)),
                -(s + hb) * (s - h) / (hb * h),
                (s + hb) * s / ((hb + h) * h),
            )
        } else {
            (0.0, 1.0 - s / h, s / h)
        };
        let m = self.m;
        let (c, c_old, c_older) = (&self.c[..m], &self.c_old[..m], &self.c_older[..m]);
        let at = &mut self.at[..m];
        let mut lowest = f64::INFINITY;
        for j in 0..m {
            at[j] = c_older[j] * w_older + c_old[j] * w_old + c[j] * w_new;
            lowest = lowest.min(at[j].re());
        }
        (self.at_min, self.at_is_end) = (lowest, false);
        lowest
    }

    /// The cells of electrode `side` and its thickness [m].
    fn electrode_cells(&self, side: Side) -> (std::ops::Range<usize>, D) {
        match side {
            Side::Negative => (0..self.nn, self.ln_n),
            Side::Positive => (self.m - self.np..self.m, self.ln_p),
        }
    }

    /// ⟨ln c_e⟩_k and ⟨asinh(a/√c_e)⟩_k over electrode k in one pass, the two electrolyte terms
    /// of the voltage with a symmetric (α = ½) reaction: the overpotential (2RT/F)·asinh(j/(2·i0))
    /// with i0 = m·√(c_e·c_s·(c_max − c_s)) is (2RT/F)·asinh(a/√c_e) with a = j/(2m·√(c_s·(c_max
    /// − c_s))), and asinh(a/√c) = sgn(a)·(ln(|a| + √(c + a²)) − ½·ln c), which reuses ln c_e
    /// (one ln and one square root per cell instead of two square roots, a division and an ln).
    /// The absolute error stays at the level of ln's rounding (~1e−16 times a few), which is what
    /// the overpotential needs.
    fn ln_and_asinh_averages(&self, side: Side, a: D) -> (D, D) {
        let (cells, len) = self.electrode_cells(side);
        let negative = a.re() < 0.0;
        let a_abs = if negative { -a } else { a };
        let a2 = a * a;
        let (mut sum_ln, mut sum_asinh) = (D::zero(), D::zero());
        for (&c, &dx) in self.at[cells.clone()].iter().zip(&self.dx[cells]) {
            let ln_c = ln(c);
            sum_ln += ln_c * dx;
            sum_asinh += (ln(a_abs + (c + a2).sqrt()) - ln_c * 0.5) * dx;
        }
        let inv_len = len.recip();
        let mean_asinh = sum_asinh * inv_len;
        (
            sum_ln * inv_len,
            if negative { -mean_asinh } else { mean_asinh },
        )
    }

    /// ⟨g(c_e)⟩_k = (1/L_k)·Σ_{cells j of electrode k} g(c_j)·Δx_j, the average of a function of
    /// the local concentration over one electrode, with the state's scalar taken into the
    /// result's by `to`; the first error of `g` is returned.
    fn electrode_average<A: Scalar, E>(
        &self,
        side: Side,
        to: impl Fn(D) -> A,
        mut g: impl FnMut(A) -> Result<A, E>,
    ) -> Result<A, E> {
        let (cells, len) = self.electrode_cells(side);
        let mut s = A::zero();
        for j in cells {
            s += g(to(self.at[j]))? * to(self.dx[j]);
        }
        Ok(s / to(len))
    }

    /// The x-average over the whole cell c̄_e = (1/L)·Σ_j c_j·Δx_j [mol/m³].
    fn mean(&self) -> D {
        let mut s = D::zero();
        for j in 0..self.m {
            s += self.at[j] * self.dx[j];
        }
        s * self.inv_len
    }

    /// Minimum cell concentration at the evaluated time (real part).
    fn min(&self) -> f64 {
        self.at_min
    }
}

impl Electrolyte<f64> {
    /// [`Electrolyte::ln_and_asinh_averages`] of a state without derivatives at an `a` that may
    /// carry some: ∂⟨asinh(a/√c)⟩_k/∂a = ⟨1/√(c + a²)⟩_k, so a's derivatives enter once, by the
    /// chain rule on the average, and the cells are visited in f64. The mesh is uniform in each
    /// electrode, so ⟨g⟩_k = (1/N_k)·Σ_j g(c_j), and the sums of lns are lns of products
    /// ([`fastmath::sum_ln`]: one ln per eight cells).
    fn ln_and_asinh_averages_at<A: Scalar>(&self, side: Side, a: A) -> (A, A) {
        let (cells, _) = self.electrode_cells(side);
        let ar = a.re();
        let a_abs = ar.abs();
        let a2 = ar * ar;
        let c = &self.at[cells.clone()];
        let sum_ln_c = fastmath::sum_ln(c.len(), |j| c[j]);
        let sum_ln_aw = fastmath::sum_ln(c.len(), |j| a_abs + (c[j] + a2).sqrt());
        let sum_inv_w = if A::NDERIV > 0 {
            c.iter().map(|&c| (c + a2).sqrt().recip()).sum()
        } else {
            0.0
        };
        let inv_n = (cells.len() as f64).recip();
        let mean_ln = sum_ln_c * inv_n;
        let mean_asinh = sum_ln_aw * inv_n - mean_ln * 0.5;
        let mean_asinh = if ar < 0.0 { -mean_asinh } else { mean_asinh };
        (A::from(mean_ln), lift(a, mean_asinh, sum_inv_w * inv_n))
    }
}

/// The electrolyte in the scalar its state needs. Its equations (module doc) involve only the
/// electrode and separator thicknesses, porosities and Bruggeman exponents, t+, c_e0, D_e with
/// its Arrhenius factor, and the applied current density i = I/A: when none of these carries a
/// derivative, no c_e does, and the state steps in f64 — the same values, with the zero
/// derivatives (two thirds of the work of a solve with four gradients) not computed. The
/// gradient then enters the electrolyte terms of the voltage through the kinetics alone.
#[derive(Debug, Clone)]
pub enum ElectrolyteState<D> {
    /// No electrolyte input carries a derivative (always so for f64).
    Value(Electrolyte<f64>),
    /// Some input does: the state carries the derivatives.
    Dual(Electrolyte<D>),
}

impl<D: Scalar> ElectrolyteState<D> {
    /// The mesh and the uniform initial state c_e0 for parameters `p`, cell area `area` [m²] and
    /// the Arrhenius factor of D_e `fac_de` [1] (both as the solve uses them).
    pub fn new(p: &CellParams<D>, mesh: ElectrolyteMesh, area: D, fac_de: D) -> Self {
        let inputs = [
            p.neg.thickness,
            p.separator.thickness,
            p.pos.thickness,
            p.neg.porosity,
            p.separator.porosity,
            p.pos.porosity,
            p.neg.bruggeman,
            p.separator.bruggeman,
            p.pos.bruggeman,
            p.electrolyte.transference,
            p.electrolyte.initial_concentration,
            p.electrolyte.diffusivity.scale,
            fac_de,
            area,
        ];
        if inputs.iter().any(DependsOnInputs::depends_on_inputs) {
            Self::Dual(Electrolyte::build(p, mesh, |x| x))
        } else {
            Self::Value(Electrolyte::build(p, mesh, |x| x.re()))
        }
    }

    /// Take the concentrations (this and the previous step) of `other`, an electrolyte on the
    /// same mesh: the state a re-step from a saved start needs.
    pub fn copy_state_from(&mut self, other: &Self) {
        match (self, other) {
            (Self::Value(e), Self::Value(o)) => e.copy_state_from(o),
            (Self::Dual(e), Self::Dual(o)) => e.copy_state_from(o),
            _ => unreachable!("a saved electrolyte state has the run's scalar"),
        }
    }

    /// Advance one step of size `h` [s]: `i_dens` the applied current density at the new time
    /// [A/m²], D_e = `diff`·`dfac` (`dfac` its Arrhenius factor).
    pub fn step(
        &mut self,
        h: f64,
        bdf: Bdf,
        omega: f64,
        i_dens: D,
        diff: &Coefficient<D>,
        dfac: D,
    ) {
        let scale = diff.scale * dfac;
        match self {
            Self::Value(e) => e.step(h, bdf, omega, i_dens.re(), scale.re(), &diff.shape),
            Self::Dual(e) => e.step(h, bdf, omega, i_dens, scale, &diff.shape),
        }
    }

    /// The state a time `s` [s] after the start of the last step (0 ≤ s ≤ its size), by the
    /// step's interpolating polynomial (BDF2: the quadratic through the last three states), as
    /// the state the voltage terms below read. Returns the smallest concentration there
    /// [mol/m³].
    pub fn evaluate_at(&mut self, s: f64) -> f64 {
        match self {
            Self::Value(e) => e.evaluate_at(s),
            Self::Dual(e) => e.evaluate_at(s),
        }
    }

    /// The last step's local error estimate, relative to c_e [1] (largest over the cells):
    /// BDF2's error constant times the miss of the quadratic extrapolation of the three states
    /// before the step. None for the first two steps after a restart.
    pub fn error_estimate(&self) -> Option<f64> {
        match self {
            Self::Value(e) => e.error_estimate,
            Self::Dual(e) => e.error_estimate,
        }
    }

    /// Total electrolyte lithium per unit area Σ ε_j·Δx_j·c_j [mol/m²].
    pub fn inventory(&self) -> D {
        match self {
            Self::Value(e) => D::from(e.inventory()),
            Self::Dual(e) => e.inventory(),
        }
    }

    /// Minimum cell concentration [mol/m³] (real part).
    pub fn min(&self) -> f64 {
        match self {
            Self::Value(e) => e.min(),
            Self::Dual(e) => e.min(),
        }
    }

    /// ⟨ln c_e⟩_k and ⟨asinh(a/√c_e)⟩_k over electrode k in one pass, the two electrolyte terms
    /// of the voltage with a symmetric (α = ½) reaction: (2RT/F)·asinh(j/(2·i0)) with
    /// i0 = m·√(c_e·c_s·(c_max − c_s)) is (2RT/F)·asinh(a/√c_e), a = j/(2m·√(c_s·(c_max − c_s))).
    pub fn ln_and_asinh_averages(&self, side: Side, a: D) -> (D, D) {
        match self {
            Self::Value(e) => e.ln_and_asinh_averages_at(side, a),
            Self::Dual(e) => e.ln_and_asinh_averages(side, a),
        }
    }

    /// ⟨g(c_e)⟩_k over electrode k of a function of the local concentration (the reaction
    /// overpotential with the local exchange current); the first error of `g` is returned.
    pub fn electrode_average<E>(
        &self,
        side: Side,
        g: impl FnMut(D) -> Result<D, E>,
    ) -> Result<D, E> {
        match self {
            Self::Value(e) => e.electrode_average(side, D::from, g),
            Self::Dual(e) => e.electrode_average(side, |x| x, g),
        }
    }

    /// ⟨ln c_e⟩_p − ⟨ln c_e⟩_n, the electrode averages of ln c_e.
    pub fn ln_difference(&self) -> D {
        let avg = |side| {
            self.electrode_average(side, |c| Ok::<D, std::convert::Infallible>(ln(c)))
                .unwrap_or_else(|e| match e {})
        };
        avg(Side::Positive) - avg(Side::Negative)
    }

    /// The electrolyte's ohmic resistance per unit area [Ω·m²] (the drop is −i times this):
    /// (L_n/(3ε_n^b) + L_s/ε_s^b + L_p/(3ε_p^b))/κ_e(c̄_e), κ_e with its Arrhenius factor `kfac`
    /// at the x-average c̄_e = (1/L)∫₀ᴸ c_e dx.
    pub fn ohmic_resistance(&self, kappa: &Coefficient<D>, kfac: D) -> D {
        let (geometry, mean, table) = match self {
            Self::Value(e) => (D::from(e.ohm_geometry), D::from(e.mean()), &e.kappa_table),
            Self::Dual(e) => (e.ohm_geometry, e.mean(), &e.kappa_table),
        };
        let tabulated = table
            .as_ref()
            .filter(|_| D::NDERIV <= 1)
            .and_then(|t| t.value_slope(mean.re()));
        let kappa = match tabulated {
            Some((v, dv)) => kappa.scale * lift(mean, v, dv),
            None => kappa.eval(mean),
        };
        geometry / (kappa * kfac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tabulated D_e and κ_e shapes of Chen2020 agree with their expressions to 1e-6 over
    /// [c_e0/4, 4·c_e0] (the claim in [`tabulate`]'s doc).
    #[test]
    fn tabulated_electrolyte_properties_match_their_expressions() {
        let p = crate::cell::tests::chen();
        let c0 = p.electrolyte.initial_concentration;
        for shape in [
            &p.electrolyte.diffusivity.shape,
            &p.electrolyte.conductivity.shape,
        ] {
            let table = tabulate(shape, c0).expect("Chen2020's D_e and κ_e are expressions");
            let mut worst = 0.0f64;
            for k in 0..=4000 {
                let c = c0 / 4.0 + (4.0 * c0 - c0 / 4.0) * k as f64 / 4000.0;
                let (v, _) = table.value_slope(c).unwrap();
                let want: f64 = shape.eval(c);
                worst = worst.max(((v - want) / want).abs());
            }
            assert!(worst < 1e-6, "{worst}");
        }
    }

    /// After a BDF2 step the state inside it is the quadratic through the last three states:
    /// a state quadratic in time is reproduced exactly (a line would miss it by h·h_b/4·c''),
    /// and after a backward-Euler step the line through the last two.
    #[test]
    fn the_state_inside_a_step_is_the_integrators_interpolant() {
        let p = crate::cell::tests::chen();
        let mut e = Electrolyte::build(&p, ElectrolyteMesh::new(2, 1, 2).unwrap(), |x| x);
        let f = |t: f64, j: usize| 1000.0 + (j as f64 + 1.0) * (3.0 * t - 0.05 * t * t);
        let (hb, h) = (4.0, 6.0);
        for j in 0..e.m {
            e.c_older[j] = f(-hb, j);
            e.c_old[j] = f(0.0, j);
            e.c[j] = f(h, j);
        }
        (e.h_last, e.h_before, e.bdf2_last) = (h, hb, true);
        for s in [0.0, 1.5, 3.0, 5.9, 6.0] {
            let lowest = e.evaluate_at(s);
            for j in 0..e.m {
                assert!((e.at[j] - f(s, j)).abs() < 1e-9, "s = {s}, cell {j}");
            }
            assert_eq!(lowest, e.at[0]);
        }
        e.bdf2_last = false;
        e.evaluate_at(1.5);
        let line = f(0.0, 1) + (f(h, 1) - f(0.0, 1)) * 1.5 / h;
        assert!((e.at[1] - line).abs() < 1e-9);
    }
}
