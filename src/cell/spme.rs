//! SPMe electrolyte: finite-volume diffusion of Li⁺ across negative electrode, separator and positive electrode.
//!
//! ε·∂c_e/∂t = ∂/∂x(ε^b·D_e(c_e, T)·∂c_e/∂x) + (1 − t+)·a·j/F, zero flux at x = 0 and x = L,
//! with the uniform SPM reaction: source (1 − t+)·i/(F·L_n) in the negative electrode and
//! −(1 − t+)·i/(F·L_p) in the positive (i = I/A \[A/m²\], discharge > 0). D_e is evaluated at each
//! cell's own c_e; faces between cells use the series (harmonic) resistance of the two half
//! cells, g = 2·D_l·D_r/(Δx_l·D_r + Δx_r·D_l) with D = ε^b·D_e. Time stepping as in
//! [`super::particle`] (variable-step BDF2, D_e linearised at the extrapolated state). A D_e
//! or κ_e given as an expression of c_e is tabulated once per run (`tabulate`).
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
use crate::constants::FARADAY;
use crate::model::{DependsOnInputs, Scalar};
use crate::numerics::bdf::{self, Bdf};
use crate::numerics::fastmath;
use crate::numerics::table::UniformHermite;
use crate::numerics::tridiagonal;
use std::sync::Arc;

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
    /// Cells in the negative electrode.
    pub neg: usize,
    /// Cells in the separator.
    pub sep: usize,
    /// Cells in the positive electrode.
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

/// An electrolyte property's shape given as an expression of c_e, tabulated (cubic Hermite
/// from the expression's value and slope on 128 intervals over [0, 4·c_e0]; the expression
/// itself is evaluated outside the range), built once per run and c_e0 and kept with the
/// expression ([`super::expr::Expr::hermite_table`]). Chen2020's D_e (a cubic) is exact; its
/// κ_e, with a c_e^1.5 term, is within 2e-7 relative above c_e0/4 and 5e-5 above c_e0/20 —
/// below 1 µV in the ohmic drop. None for other shapes (a constant or a table already).
fn tabulate(shape: &Shape, c0: f64) -> Option<Arc<UniformHermite>> {
    match shape {
        Shape::Expr(e) => Some(e.hermite_table(0.0, 4.0 * c0, 128)),
        _ => None,
    }
}

/// What the voltage needs of a state besides its electrode cells, kept per state so that a state
/// interpolated between them ([`Electrolyte::evaluate_at`]) gets its linear functionals as the
/// same combination of theirs, without a pass over the cells.
#[derive(Debug, Clone, Copy)]
struct Summary<D> {
    /// x-average (1/L)·Σ_j c_j·Δx_j \[mol/m³\]
    mean: D,
    /// Σ_j ε_j·Δx_j·c_j \[mol/m²\]
    inventory: D,
    /// smallest and largest concentration (real parts) \[mol/m³\]
    lowest: f64,
    highest: f64,
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
    /// source per unit current density \[mol/(m²·s) per (A/m²)\] integrated over the cell
    src: Vec<D>,
    /// Σ_regions W_r/ε_r^b with W = L_n/3, L_s, L_p/3 \[m\]: Δφ_e = −i·this/κ_e(c̄_e)
    ohm_geometry: D,
    /// 1/L \[1/m\], for the x-average c̄_e
    inv_len: D,
    ln_n: D,
    ln_p: D,
    /// cell concentrations \[mol/m³\] at the end of the last step (t_{n+1}), at its start (t_n)
    /// and at the start of the step before (t_{n−1})
    c: Vec<D>,
    c_old: Vec<D>,
    c_older: Vec<D>,
    /// summaries of `c_older`, `c_old` and `c` (in that order)
    summaries: [Summary<D>; 3],
    /// the concentrations at the time the voltage is evaluated \[mol/m³\] (the last step's end,
    /// or a point inside it: [`Electrolyte::evaluate_at`]), their x-average and inventory
    at: Vec<D>,
    at_mean: D,
    at_inventory: D,
    /// a lower bound of the smallest of `at` (real parts) \[mol/m³\] when that is positive, else
    /// the smallest itself; and whether `at` is the last step's end
    at_floor: f64,
    at_is_end: bool,
    /// size of the last step \[s\], and of the one before it \[s\] if the last step was BDF2 (NaN
    /// after a backward-Euler step)
    h_last: f64,
    h_before: f64,
    /// consecutive states on the solution since the last restart (a current jump), and the
    /// local error estimate of the last step ([`Electrolyte::error_estimate`])
    points: usize,
    error_estimate: Option<f64>,
    l: Vec<D>,
    d: Vec<D>,
    u: Vec<D>,
    r: Vec<D>,
    cp: Vec<D>,
    /// ε^b·D_e(c*)·dfac per cell \[m²/s\]
    deff: Vec<D>,
    /// the shapes of D_e(c_e) (first-order scalars) and κ_e(c_e), tabulated ([`tabulate`])
    de_table: Option<Arc<UniformHermite>>,
    kappa_table: Option<Arc<UniformHermite>>,
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
        let len = ln + ls + lp;
        let uniform = Summary {
            mean: c0,
            inventory: eps_dx.iter().fold(z, |s, &e| s + e) * c0,
            lowest: c0.re(),
            highest: c0.re(),
        };
        Self {
            m,
            nn: mesh.neg,
            np: mesh.pos,
            dx,
            eps_dx,
            tort,
            src,
            ohm_geometry,
            inv_len: len.recip(),
            ln_n: ln,
            ln_p: lp,
            c: vec![c0; m],
            c_old: vec![c0; m],
            c_older: vec![c0; m],
            summaries: [uniform; 3],
            at: vec![c0; m],
            at_mean: uniform.mean,
            at_inventory: uniform.inventory,
            at_floor: c0.re(),
            at_is_end: true,
            h_last: 0.0,
            h_before: f64::NAN,
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

    /// Take the states (the last three step ends, with their summaries, and the evaluated one) of
    /// `other`, an electrolyte on the same mesh: the state a re-step from a saved start needs.
    fn copy_state_from(&mut self, other: &Self) {
        self.c.clone_from(&other.c);
        self.c_old.clone_from(&other.c_old);
        // (the oldest state too, so that the summaries copied with it describe the states held)
        self.c_older.clone_from(&other.c_older);
        self.summaries = other.summaries;
        self.at.clone_from(&other.at);
        (self.at_mean, self.at_inventory) = (other.at_mean, other.at_inventory);
        (self.at_floor, self.at_is_end) = (other.at_floor, other.at_is_end);
    }

    /// The summary of a state on this mesh.
    fn summary(&self, c: &[D]) -> Summary<D> {
        let (mut mean, mut inventory) = (D::zero(), D::zero());
        let (mut lowest, mut highest) = (f64::INFINITY, f64::NEG_INFINITY);
        for ((&c, &dx), &eps_dx) in c.iter().zip(&self.dx).zip(&self.eps_dx) {
            mean += c * dx;
            inventory += c * eps_dx;
            lowest = lowest.min(c.re());
            highest = highest.max(c.re());
        }
        Summary {
            mean: mean * self.inv_len,
            inventory,
            lowest,
            highest,
        }
    }

    /// Total electrolyte lithium per unit area Σ ε_j·Δx_j·c_j \[mol/m²\].
    fn inventory(&self) -> D {
        self.at_inventory
    }

    /// Advance one step; `i_dens` is the applied current density at the new time \[A/m²\],
    /// D_e = `scale`·`shape`(c_e) \[m²/s\] (the scale with its Arrhenius factor).
    fn step(&mut self, h: f64, bdf: Bdf, omega: f64, i_dens: D, scale: D, shape: &Shape) {
        // slices of one length, so the loops below index without bounds checks
        let m = self.m;
        let (c, c_old, tort) = (&self.c[..m], &self.c_old[..m], &self.tort[..m]);
        let (dx, eps_dx, src) = (&self.dx[..m], &self.eps_dx[..m], &self.src[..m]);
        let deff = &mut self.deff[..m];
        // ε^b·D_e(c*)·dfac per cell, c* the extrapolated state
        if let Shape::One = shape {
            for j in 0..m {
                deff[j] = scale * tort[j];
            }
        } else {
            let table = self.de_table.as_deref();
            for j in 0..m {
                let cstar = c[j] + (c[j] - c_old[j]) * omega;
                let shape = match table.and_then(|t| t.value_slope(cstar.re())) {
                    Some((v, dv)) => lift(cstar, v, dv),
                    None => shape.eval(cstar),
                };
                deff[j] = shape * scale * tort[j];
            }
        }
        // rows of (ε·Δx·b0/h + K)·c_new = ε·Δx·(b1·c − b2·c_old)/h + s·i, K the face conductances
        // (b2 = 0 for backward Euler, where c_old·b2/h adds an exact zero)
        let b0_h = bdf.b0 / h;
        let (b1_h, b2_h) = (bdf.b1 / h, bdf.b2 / h);
        let (l, d, u, r) = (
            &mut self.l[..m],
            &mut self.d[..m],
            &mut self.u[..m],
            &mut self.r[..m],
        );
        // the conductance of the face between cells j and j + 1: two half cells in series
        (l[0], u[m - 1]) = (D::zero(), D::zero());
        for j in 0..m - 1 {
            let (a, b) = (deff[j], deff[j + 1]);
            let g = a * b * 2.0 / (dx[j] * b + dx[j + 1] * a);
            (u[j], l[j + 1]) = (-g, -g);
        }
        for j in 0..m {
            d[j] = -(l[j] + u[j]) + eps_dx[j] * b0_h;
            r[j] = (c[j] * b1_h - c_old[j] * b2_h) * eps_dx[j] + src[j] * i_dens;
        }
        tridiagonal::solve_twisted(&self.l, &self.d, &self.u, &mut self.r, &mut self.cp);
        let bdf2 = bdf.b2 != 0.0;
        self.error_estimate = (bdf2 && self.points >= 3).then(|| {
            // the quadratic through the three states before the step, extrapolated to its end,
            // against the new state (see the weights' doc)
            let (w0, w1, w2) = bdf::extrapolation_weights(h, h / omega, self.h_before);
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
            worst * bdf::BDF2_ERROR_PER_EXTRAPOLATION_MISS
        });
        self.points = if bdf2 { self.points + 1 } else { 2 };
        // (t_{n−1}, t_n, t_{n+1}) ← (t_n, t_{n+1}, new)
        std::mem::swap(&mut self.c_older, &mut self.c_old);
        std::mem::swap(&mut self.c_old, &mut self.c);
        // (`r`, scratch, takes the oldest state's storage)
        std::mem::swap(&mut self.c, &mut self.r);
        let new = self.summary(&self.c);
        self.summaries = [self.summaries[1], self.summaries[2], new];
        self.show_end();
        self.h_before = if bdf2 { h / omega } else { f64::NAN };
        self.h_last = h;
    }

    /// The state a time `s` \[s\] after the start of the last step (0 ≤ s ≤ h, its size) into
    /// [`Self::at`], by the polynomial the step's integrator defines: after a BDF2 step the
    /// quadratic through the states at t_{n−1}, t_n and t_{n+1} (the BDF2 dense output, of the
    /// method's own order), after a backward-Euler step the line through t_n and t_{n+1}.
    /// Returns the smallest concentration there \[mol/m³\] (real part) if it is not positive, else
    /// a positive lower bound of it.
    fn evaluate_at(&mut self, s: f64) -> f64 {
        let h = self.h_last;
        if s >= h {
            if !self.at_is_end {
                self.show_end();
            }
            return self.at_floor;
        }
        let (w_older, w_old, w_new) = bdf::dense_output_weights(s, h, self.h_before);
        let m = self.m;
        let (c, c_old, c_older) = (&self.c[..m], &self.c_old[..m], &self.c_older[..m]);
        let at = &mut self.at[..m];
        for j in 0..m {
            at[j] = c_older[j] * w_older + c_old[j] * w_old + c[j] * w_new;
        }
        // the linear functionals as the same combination of the states' own; the smallest
        // concentration bounded below by the states' extremes, and found cell by cell only
        // when that bound is not positive (near depletion)
        let [older, old, new] = &self.summaries;
        self.at_mean = older.mean * w_older + old.mean * w_old + new.mean * w_new;
        self.at_inventory =
            older.inventory * w_older + old.inventory * w_old + new.inventory * w_new;
        let floor = [(older, w_older), (old, w_old), (new, w_new)]
            .iter()
            .map(|(s, w)| w * if *w >= 0.0 { s.lowest } else { s.highest })
            .sum::<f64>();
        self.at_floor = if floor > 0.0 {
            floor
        } else {
            at.iter().fold(f64::INFINITY, |m, c| m.min(c.re()))
        };
        self.at_is_end = false;
        self.at_floor
    }

    /// The last step's end as the evaluated state.
    fn show_end(&mut self) {
        self.at.copy_from_slice(&self.c);
        let end = &self.summaries[2];
        (self.at_mean, self.at_inventory) = (end.mean, end.inventory);
        (self.at_floor, self.at_is_end) = (end.lowest, true);
    }

    /// The cells of electrode `side` and its thickness \[m\].
    fn electrode_cells(&self, side: Side) -> (std::ops::Range<usize>, D) {
        match side {
            Side::Negative => (0..self.nn, self.ln_n),
            Side::Positive => (self.m - self.np..self.m, self.ln_p),
        }
    }

    /// ⟨ln c_e⟩_k and ⟨asinh(a/√c_e)⟩_k over electrode k in one pass, the two electrolyte terms
    /// of the voltage with a symmetric (α = ½) reaction: the overpotential (2RT/F)·asinh(j/(2·i0))
    /// with i0 = m·√(c_e·c_s·(c_max − c_s)) is (2RT/F)·asinh(a/√c_e) with a = j/(2m·√(c_s·(c_max
    /// − c_s))), and asinh(a/√c) = sgn(a)·(ln(|a| + w) − ½·ln c), w = √(c + a²), which reuses
    /// ln c_e. The mesh is uniform in each electrode, so ⟨g⟩_k = (1/N_k)·Σ_j g(c_j), and the
    /// sums of lns are lns of products ([`fastmath::sum_ln`]: one ln per 32 cells), in f64.
    /// The derivatives (of the state's scalar, taken into a's by `to`) enter once each, by the
    /// chain rule on the averages: d⟨ln c⟩ = ⟨ċ/c⟩ and
    /// d⟨asinh(a/√c)⟩ = ȧ·⟨1/w⟩ − (a/2)·⟨ċ/(c·w)⟩ — no logarithm of a dual number per cell.
    fn ln_and_asinh_averages<A: Scalar>(&self, side: Side, a: A, to: impl Fn(D) -> A) -> (A, A) {
        let (cells, _) = self.electrode_cells(side);
        let ar = a.re();
        let a_abs = ar.abs();
        let a2 = ar * ar;
        let c = &self.at[cells.clone()];
        let sum_ln_c = fastmath::sum_ln(c.len(), |j| c[j].re());
        let sum_ln_aw = fastmath::sum_ln(c.len(), |j| a_abs + (c[j].re() + a2).sqrt());
        let sum_inv_w = if A::NDERIV > 0 {
            c.iter().map(|&c| (c.re() + a2).sqrt().recip()).sum()
        } else {
            0.0
        };
        let inv_n = (cells.len() as f64).recip();
        let mean_ln = sum_ln_c * inv_n;
        let mean_asinh = sum_ln_aw * inv_n - mean_ln * 0.5;
        let mean_asinh = if ar < 0.0 { -mean_asinh } else { mean_asinh };
        let (mut ln_avg, mut asinh_avg) =
            (A::from(mean_ln), lift(a, mean_asinh, sum_inv_w * inv_n));
        if D::NDERIV > 0 {
            // the state's derivatives ċ_j/c_j, and over w_j
            let (mut d_ln, mut d_ln_w) = (A::zero(), A::zero());
            for &cj in c {
                let cr = cj.re();
                let rel = to(cj - cr) * cr.recip();
                d_ln += rel;
                d_ln_w += rel * (cr + a2).sqrt().recip();
            }
            ln_avg += d_ln * inv_n;
            asinh_avg -= d_ln_w * (0.5 * ar * inv_n);
        }
        (ln_avg, asinh_avg)
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

    /// The x-average over the whole cell c̄_e = (1/L)·Σ_j c_j·Δx_j \[mol/m³\].
    fn mean(&self) -> D {
        self.at_mean
    }

    /// Minimum cell concentration at the evaluated time (real part) if it is not positive, else
    /// a positive lower bound of it.
    fn min(&self) -> f64 {
        self.at_floor
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
    /// The mesh and the uniform initial state c_e0 for parameters `p`, cell area `area` \[m²\] and
    /// the Arrhenius factor of D_e `fac_de` \[1\] (both as the solve uses them);
    /// `temperature_carries_derivatives`: D_e's Arrhenius factor will carry derivatives through
    /// a cell temperature that changes, whatever it does at the start.
    pub fn new(
        p: &CellParams<D>,
        mesh: ElectrolyteMesh,
        area: D,
        fac_de: D,
        temperature_carries_derivatives: bool,
    ) -> Self {
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
        if temperature_carries_derivatives || inputs.iter().any(DependsOnInputs::depends_on_inputs)
        {
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

    /// Advance one step of size `h` \[s\]: `i_dens` the applied current density at the new time
    /// \[A/m²\], D_e = `diff`·`dfac` (`dfac` its Arrhenius factor).
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

    /// The state a time `s` \[s\] after the start of the last step (0 ≤ s ≤ its size), by the
    /// step's interpolating polynomial (BDF2: the quadratic through the last three states), as
    /// the state the voltage terms below read. Returns the smallest concentration there
    /// \[mol/m³\].
    pub fn evaluate_at(&mut self, s: f64) -> f64 {
        match self {
            Self::Value(e) => e.evaluate_at(s),
            Self::Dual(e) => e.evaluate_at(s),
        }
    }

    /// The last step's local error estimate, relative to c_e \[1\] (largest over the cells):
    /// BDF2's error constant times the miss of the quadratic extrapolation of the three states
    /// before the step. None for the first two steps after a restart.
    pub fn error_estimate(&self) -> Option<f64> {
        match self {
            Self::Value(e) => e.error_estimate,
            Self::Dual(e) => e.error_estimate,
        }
    }

    /// Total electrolyte lithium per unit area Σ ε_j·Δx_j·c_j \[mol/m²\].
    pub fn inventory(&self) -> D {
        match self {
            Self::Value(e) => D::from(e.inventory()),
            Self::Dual(e) => e.inventory(),
        }
    }

    /// Minimum cell concentration \[mol/m³\] (real part) if it is not positive, else a positive
    /// lower bound of it (exact at a step's end).
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
            Self::Value(e) => e.ln_and_asinh_averages(side, a, D::from),
            Self::Dual(e) => e.ln_and_asinh_averages(side, a, |x| x),
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

    /// The electrolyte's ohmic resistance per unit area \[Ω·m²\] (the drop is −i times this):
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
        (e.h_last, e.h_before) = (h, hb);
        e.summaries = [e.summary(&e.c_older), e.summary(&e.c_old), e.summary(&e.c)];
        for s in [0.0, 1.5, 3.0, 5.9, 6.0] {
            let floor = e.evaluate_at(s);
            let (mut mean, mut inventory) = (0.0, 0.0);
            for j in 0..e.m {
                assert!((e.at[j] - f(s, j)).abs() < 1e-9, "s = {s}, cell {j}");
                mean += f(s, j) * e.dx[j] * e.inv_len;
                inventory += f(s, j) * e.eps_dx[j];
            }
            // the functionals from the states' own; a positive floor below the smallest
            assert!((e.mean() - mean).abs() < 1e-9 && (e.inventory() - inventory).abs() < 1e-12);
            assert!(
                floor > 0.0 && floor <= e.at[0] + 1e-9,
                "{floor} vs {}",
                e.at[0]
            );
        }
        e.h_before = f64::NAN;
        e.evaluate_at(1.5);
        let line = f(0.0, 1) + (f(h, 1) - f(0.0, 1)) * 1.5 / h;
        assert!((e.at[1] - line).abs() < 1e-9);
        e.h_before = hb;
        // a state that crosses zero inside the step: the floor is the smallest value itself
        for j in 0..e.m {
            e.c_older[j] = 1.0;
            e.c_old[j] = 1.0 - j as f64;
            e.c[j] = 1.0 + j as f64;
        }
        e.summaries = [e.summary(&e.c_older), e.summary(&e.c_old), e.summary(&e.c)];
        let lowest = e.evaluate_at(1.0);
        assert!(lowest <= 0.0);
        assert_eq!(lowest, e.at.iter().fold(f64::INFINITY, |m, &c| m.min(c)));
    }
}
