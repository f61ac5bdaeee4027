//! SPMe electrolyte: finite-volume diffusion of Li⁺ across negative electrode, separator and positive electrode.
//!
//! ε·∂c_e/∂t = ∂/∂x(ε^b·D_e(c_e, T)·∂c_e/∂x) + (1 − t+)·a·j/F, zero flux at x = 0 and x = L,
//! with the uniform SPM reaction: source (1 − t+)·i/(F·L_n) in the negative electrode and
//! −(1 − t+)·i/(F·L_p) in the positive (i = I/A [A/m²], discharge > 0). Faces between cells use
//! the series (harmonic) resistance of the two half cells. Time stepping as in
//! [`super::particle`] (variable-step BDF2, D_e linearised at the extrapolated state).
//!
//! Voltage terms as in PyBaMM's SPMe (Marquis et al. 2019), from the x-averages of φ_e over
//! each electrode: concentration overpotential η_c = 2(1 − t+)·(RT/F)·(⟨ln c_e⟩_p − ⟨ln c_e⟩_n),
//! and electrolyte ohmic drop Δφ_e = −i·∫₀ᴸ s(x)²/κ_eff(c_e(x)) dx with the current shape
//! s = x/L_n, 1, (L − x)/L_p (for constant κ this is −i·(L_n/(3κ_n) + L_s/κ_s + L_p/(3κ_p))).

use super::ocp::Coefficient;
use super::params::CellParams;
use super::particle::{Bdf, thomas};
use crate::constants::FARADAY;
use crate::model::Scalar;

/// Number of finite-volume cells per region of the electrolyte mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElectrolyteMesh {
    pub neg: usize,
    pub sep: usize,
    pub pos: usize,
}

impl Default for ElectrolyteMesh {
    /// 10 cells in each electrode, 5 in the separator.
    fn default() -> Self {
        Self {
            neg: 10,
            sep: 5,
            pos: 10,
        }
    }
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
    /// ∫_cell s(x)² dx [m]
    w_ohm: Vec<D>,
    ln_n: D,
    ln_p: D,
    /// cell concentrations [mol/m³]
    pub c: Vec<D>,
    c_old: Vec<D>,
    l: Vec<D>,
    d: Vec<D>,
    u: Vec<D>,
    r: Vec<D>,
    cp: Vec<D>,
    half: Vec<D>,
}

impl<D: Scalar> Electrolyte<D> {
    /// Build the mesh and the initial uniform state.
    pub fn new(p: &CellParams<D>, mesh: ElectrolyteMesh) -> Self {
        let (ln, ls, lp) = (p.neg.thickness, p.separator.thickness, p.pos.thickness);
        let m = mesh.neg + mesh.sep + mesh.pos;
        let mut dx = Vec::with_capacity(m);
        let mut eps_dx = Vec::with_capacity(m);
        let mut tort = Vec::with_capacity(m);
        let mut src = Vec::with_capacity(m);
        let mut w = Vec::with_capacity(m);
        let tp = -p.electrolyte.transference + 1.0;
        let regions = [
            (mesh.neg, ln, p.neg.porosity, p.neg.bruggeman, 0u8),
            (
                mesh.sep,
                ls,
                p.separator.porosity,
                p.separator.bruggeman,
                1u8,
            ),
            (mesh.pos, lp, p.pos.porosity, p.pos.bruggeman, 2u8),
        ];
        for (cnt, len, eps, b, reg) in regions {
            let h = len / cnt as f64;
            for k in 0..cnt {
                dx.push(h);
                eps_dx.push(eps * h);
                tort.push(eps.powd(b));
                match reg {
                    0 => {
                        src.push(tp * h / (ln * FARADAY));
                        let x0 = h * k as f64;
                        let x1 = h * (k + 1) as f64;
                        w.push((x1.powi(3) - x0.powi(3)) / (ln * ln * 3.0));
                    }
                    1 => {
                        src.push(D::zero());
                        w.push(h);
                    }
                    _ => {
                        src.push(-tp * h / (lp * FARADAY));
                        // ξ = distance from x = L
                        let xi0 = lp - h * k as f64;
                        let xi1 = lp - h * (k + 1) as f64;
                        w.push((xi0.powi(3) - xi1.powi(3)) / (lp * lp * 3.0));
                    }
                }
            }
        }
        let c0 = p.electrolyte.initial_concentration;
        let z = D::zero();
        Self {
            m,
            nn: mesh.neg,
            np: mesh.pos,
            dx,
            eps_dx,
            tort,
            src,
            w_ohm: w,
            ln_n: ln,
            ln_p: lp,
            c: vec![c0; m],
            c_old: vec![c0; m],
            l: vec![z; m],
            d: vec![z; m],
            u: vec![z; m],
            r: vec![z; m],
            cp: vec![z; m],
            half: vec![z; m],
        }
    }

    /// Total electrolyte lithium per unit area Σ ε_j·Δx_j·c_j [mol/m²].
    pub fn inventory(&self) -> D {
        let mut s = D::zero();
        for j in 0..self.m {
            s += self.eps_dx[j] * self.c[j];
        }
        s
    }

    /// Advance one step; `i_dens` is the applied current density at the new time [A/m²],
    /// `dfac` the Arrhenius factor of D_e.
    pub fn step(
        &mut self,
        h: f64,
        bdf: Bdf,
        omega: f64,
        i_dens: D,
        diff: &Coefficient<D>,
        dfac: D,
    ) {
        let m = self.m;
        for j in 0..m {
            let cstar = if diff.is_constant() {
                self.c[j]
            } else {
                self.c[j] + (self.c[j] - self.c_old[j]) * omega
            };
            let de = diff.eval(cstar) * dfac * self.tort[j];
            // half-cell resistance Δx/(2 D_eff)
            self.half[j] = self.dx[j] / (de * 2.0);
        }
        for j in 0..m {
            let gl = if j > 0 {
                (self.half[j - 1] + self.half[j]).recip()
            } else {
                D::zero()
            };
            let gu = if j + 1 < m {
                (self.half[j] + self.half[j + 1]).recip()
            } else {
                D::zero()
            };
            self.l[j] = -gl;
            self.u[j] = -gu;
            self.d[j] = gl + gu + self.eps_dx[j] * (bdf.b0 / h);
            let mut v = self.c[j] * bdf.b1;
            if bdf.b2 != 0.0 {
                v -= self.c_old[j] * bdf.b2;
            }
            self.r[j] = v * self.eps_dx[j] / h + self.src[j] * i_dens;
        }
        thomas(&self.l, &self.d, &self.u, &mut self.r, &mut self.cp);
        std::mem::swap(&mut self.c_old, &mut self.c);
        self.c.copy_from_slice(&self.r);
    }

    /// x-averaged concentrations over the negative and positive electrodes [mol/m³].
    pub fn averages(&self) -> (D, D) {
        let mut sn = D::zero();
        for j in 0..self.nn {
            sn += self.c[j] * self.dx[j];
        }
        let mut sp = D::zero();
        for j in self.m - self.np..self.m {
            sp += self.c[j] * self.dx[j];
        }
        (sn / self.ln_n, sp / self.ln_p)
    }

    /// ⟨ln c_e⟩_p − ⟨ln c_e⟩_n.
    pub fn ln_difference(&self) -> D {
        let mut sn = D::zero();
        for j in 0..self.nn {
            sn += self.c[j].ln() * self.dx[j];
        }
        let mut sp = D::zero();
        for j in self.m - self.np..self.m {
            sp += self.c[j].ln() * self.dx[j];
        }
        sp / self.ln_p - sn / self.ln_n
    }

    /// ∫ s²/κ_eff dx [m²·Ω... i.e. Ω·m²]: the electrolyte ohmic drop is −i times this.
    pub fn ohmic_resistance(&self, kappa: &Coefficient<D>, kfac: D) -> D {
        let mut s = D::zero();
        for j in 0..self.m {
            let k = kappa.eval(self.c[j]) * kfac * self.tort[j];
            s += self.w_ohm[j] / k;
        }
        s
    }

    /// Minimum cell concentration (real part).
    pub fn min(&self) -> f64 {
        self.c.iter().map(|c| c.re()).fold(f64::INFINITY, f64::min)
    }
}
