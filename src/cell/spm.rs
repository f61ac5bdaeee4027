//! The SPM/SPMe solver: one generic solve gives the voltage curve and, with dual numbers, its exact parameter derivatives.
//!
//! Terminal voltage (PyBaMM's lithium-ion SPM, and SPMe with its electrolyte terms):
//! V = U_p(θ_p,s) − U_n(θ_n,s) + η_p − η_n − I·R_c  [+ η_c + Δφ_e + Δφ_s for SPMe],
//! j_n = i/(a_n·L_n), j_p = −i/(a_p·L_p), i = I/A (I > 0 on discharge),
//! η_k from Butler–Volmer with i0_k = m_k(T)·c_e^½·c_s^½·(c_max − c_s)^½
//! (α = ½: η = (2RT/F)·asinh(j/(2·i0))), c_e = c_e0 (SPM); for the SPMe η_k is averaged over
//! the electrode with the local c_e(x) in i0, and η_c, Δφ_e are as in [`super::spme`];
//! Δφ_s = −i·(L_n/(3σ_n) + L_p/(3σ_p)) (SPMe only, as in PyBaMM).

use super::CellError;
use super::electrode::Electrode;
use super::ocp::lift;
use super::params::{CellParams, ElectrodeParams};
use super::particle::Particle;
use super::protocol::Protocol;
use super::spme::{ElectrolyteMesh, ElectrolyteState, Side};
use super::thermal;
use crate::constants::{FARADAY, R_GAS};
use crate::laws::kinetics::{arrhenius_factor, bv_overpotential};
use crate::model::Scalar;
use crate::numerics::fastmath;

mod run;

/// Which cell model to solve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CellModelKind {
    /// Single-particle model.
    #[default]
    Spm,
    /// Single-particle model with electrolyte.
    Spme,
}

impl CellModelKind {
    /// Parse "spm" or "spme".
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "spm" => Some(Self::Spm),
            "spme" => Some(Self::Spme),
            _ => None,
        }
    }
}

/// Solver settings. Defaults (see [`Default`]): SPM, 20 shells per particle, electrolyte mesh
/// 20/20/20, largest BDF2 step 10 s, outputs every 10 s, stop at the voltage cut-offs.
#[derive(Debug, Clone, PartialEq)]
pub struct SolverOptions {
    /// SPM or SPMe.
    pub model: CellModelKind,
    /// Finite-volume shells per particle.
    pub shells: usize,
    /// Electrolyte mesh (SPMe).
    pub electrolyte_mesh: ElectrolyteMesh,
    /// Largest time step \[s\] of the BDF2 integrator on the shared grid (particles stepped
    /// exactly take up to 10·`dt_max`; an SPMe electrolyte beside them, up to 60·`dt_max`,
    /// sized by `electrolyte_rtol`).
    pub dt_max: f64,
    /// SPMe with exact particles: the electrolyte takes its own BDF2 steps, passing output
    /// times, each sized so that its local error estimate stays near this tolerance relative
    /// to c_e \[1\]; between its step ends the state is the BDF2 interpolant. Default 5e-4: a
    /// voltage within 0.07 mV of the time-converged solve (rtol 1e-7) on Chen2020 and
    /// Marquis2019, 0.1C–2C, 273–318 K, 20 shells, after the first 60 s (1e-4: 0.03 mV with
    /// 17 % more instructions per solve; 1e-3: 0.12 mV).
    pub electrolyte_rtol: f64,
    /// Requested output times \[s\] (increasing, ≥ 0). `None`: every `output_dt` seconds.
    pub output_times: Option<Vec<f64>>,
    /// Output spacing \[s\] when `output_times` is `None`.
    pub output_dt: f64,
    /// Stop when V crosses the lower (discharge) or upper (charge) cut-off.
    pub stop_at_cutoff: bool,
    /// Solve constant-diffusivity particles in the eigenbasis of the shell operator (the same
    /// discrete solution as the tridiagonal solve, several times faster). Default true.
    pub modal: bool,
    /// Particles with constant diffusivities (modal form, f64 or first-order duals): integrate
    /// the modes exactly in time (exponential integrator, exact for piecewise-linear current),
    /// for the SPM stepping from one output time / current change to the next (steps at most
    /// 10·`dt_max`), for the SPMe on the electrolyte's BDF2 steps. Otherwise (θ-dependent D,
    /// `modal` off, second-order duals, or this flag false) BDF2 with steps ≤ `dt_max`. Either
    /// way a stop is located by a root find on the re-stepped state. Default true.
    pub exponential: bool,
    /// How the cell temperature is set: isothermal (default), the lumped thermal model, or a
    /// measured series ([`thermal::ThermalOption`]). A temperature that changes in time steps
    /// with the run's steps; exact particle steps then take at most `dt_max` each.
    pub thermal: thermal::ThermalOption,
}

impl Default for SolverOptions {
    fn default() -> Self {
        Self {
            model: CellModelKind::Spm,
            shells: 20,
            electrolyte_mesh: ElectrolyteMesh::default(),
            dt_max: 10.0,
            electrolyte_rtol: 5e-4,
            output_times: None,
            output_dt: 10.0,
            stop_at_cutoff: true,
            modal: true,
            exponential: true,
            thermal: thermal::ThermalOption::Isothermal,
        }
    }
}

/// Why a solve ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The protocol ran to its end.
    EndOfProtocol,
    /// The lower voltage cut-off was crossed (discharge).
    LowerCutoff,
    /// The upper voltage cut-off was crossed (charge).
    UpperCutoff,
    /// A particle surface reached the end of its stoichiometry range — the electrode is empty
    /// (θ_s → 0) or full (θ_s → 1) at its surface: the end of the (dis)charge, where i0 → 0
    /// and the voltage falls away. The run ends at the last point inside (0, 1).
    SurfaceLimit {
        /// Which electrode's particle.
        electrode: Side,
        /// θ_s → 1 (full) rather than 0 (empty).
        full: bool,
    },
}

/// Names of the surface-stoichiometry range errors (a surface limit is a stop, not a failure).
const NEG_SURFACE: &str = "negative surface stoichiometry";
const POS_SURFACE: &str = "positive surface stoichiometry";

/// One output row. Quantities of type `D` carry derivatives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row<D> {
    /// Time \[s\] (for a cut-off row, the real part of the interpolated crossing time).
    pub time_s: f64,
    /// Applied current \[A\], discharge positive.
    pub current_a: f64,
    /// Terminal voltage \[V\].
    pub voltage: D,
    /// Negative surface stoichiometry θ_s = c_s/c_max \[1\].
    pub theta_n_surf: D,
    /// Positive surface stoichiometry θ_s = c_s/c_max \[1\].
    pub theta_p_surf: D,
    /// Negative volume-average stoichiometry \[1\].
    pub theta_n_avg: D,
    /// Positive volume-average stoichiometry \[1\].
    pub theta_p_avg: D,
    /// Negative open-circuit potential at the surface stoichiometry \[V\].
    pub ocp_n: D,
    /// Positive open-circuit potential at the surface stoichiometry \[V\].
    pub ocp_p: D,
    /// Negative reaction overpotential \[V\] (η_n > 0 on discharge).
    pub eta_n: D,
    /// Positive reaction overpotential \[V\] (η_p < 0 on discharge).
    pub eta_p: D,
    /// SPMe: electrolyte concentration overpotential \[V\] (0 for SPM).
    pub eta_c: D,
    /// SPMe: electrolyte ohmic drop \[V\] (0 for SPM).
    pub dphi_e: D,
    /// SPMe: solid-phase ohmic drop \[V\] (0 for SPM).
    pub dphi_s: D,
    /// Discharged capacity since t = 0 \[A·h\].
    pub capacity_ah: D,
    /// Lithium in both particles' active material \[mol\].
    pub li_solid_mol: D,
    /// Lithium in the electrolyte \[mol\] (SPMe; c_e0-based constant for SPM).
    pub li_electrolyte_mol: D,
    /// Cell temperature \[K\] (the isothermal run's, the thermal model's or the measured one).
    pub temperature_k: D,
    /// Irreversible reaction heat \[W\] ([`Heat::reaction`]).
    pub heat_reaction_w: D,
    /// Ohmic heat \[W\]: electrolyte, solid and contact resistance ([`Heat::ohmic`]).
    pub heat_ohmic_w: D,
    /// Reversible (entropic) heat \[W\] ([`Heat::reversible`]).
    pub heat_reversible_w: D,
}

impl<D: Scalar> Row<D> {
    /// Total heat generation Q \[W\] (the sum of the three sources).
    pub fn heat_w(&self) -> D {
        self.heat_reaction_w + self.heat_ohmic_w + self.heat_reversible_w
    }
}

/// The heat the cell generates \[W\], PyBaMM's lumped-model sources integrated over the cell
/// (I the current, discharge positive; η, Δφ and U as in the voltage; U at the surface
/// stoichiometries):
/// reaction Q_rxn = I·(η_n − η_p), ohmic Q_ohm = −I·(η_c + Δφ_e + Δφ_s) + I²·R_c (the SPMe's
/// electrolyte term −∫i_e·∂φ_e/∂x dx integrates to −I·(η_c + Δφ_e)), reversible
/// Q_rev = I·T·(∂U_n/∂T − ∂U_p/∂T). So Q_rxn + Q_ohm = I·(U_p − U_n − V): the electrical
/// work lost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heat<D> {
    /// Q_rxn = I·(η_n − η_p) \[W\].
    pub reaction: D,
    /// Q_ohm = −I·(η_c + Δφ_e + Δφ_s) + I²·R_c \[W\].
    pub ohmic: D,
    /// Q_rev = I·T·(∂U_n/∂T − ∂U_p/∂T) \[W\].
    pub reversible: D,
}

impl<D: Scalar> Heat<D> {
    /// The heat generation rate Q = reaction + ohmic + reversible \[W\].
    pub fn total(&self) -> D {
        self.reaction + self.ohmic + self.reversible
    }
}

/// A solve's result: one row per requested output time reached, then (if the solve stopped at
/// a cut-off) one row at the interpolated crossing.
#[derive(Debug, Clone)]
pub struct Solution<D> {
    /// Rows at the requested output times that were reached, in order.
    pub rows: Vec<Row<D>>,
    /// The row at the cut-off crossing, if the solve stopped there.
    pub cutoff: Option<Row<D>>,
    /// The crossing time \[s\] with its derivatives, if stopped at a cut-off.
    pub cutoff_time: Option<D>,
    /// Why the solve ended.
    pub stop: StopReason,
    /// Number of time steps taken.
    pub steps: usize,
    /// The requested output times (all of them, reached or not).
    pub output_times: Vec<f64>,
    /// With the lumped thermal model: the heat generated, removed and stored from t = 0 to the
    /// last step end before the end of the run (the stop row lies inside the step after it).
    pub heat_balance: Option<thermal::HeatBalance<D>>,
}

impl<D: Scalar> Solution<D> {
    /// Voltages at the reached output times.
    pub fn voltages(&self) -> Vec<D> {
        self.rows.iter().map(|r| r.voltage).collect()
    }
    /// Discharged capacity at the end of the solve (at the cut-off if stopped there) \[A·h\].
    pub fn final_capacity_ah(&self) -> D {
        self.cutoff
            .as_ref()
            .or(self.rows.last())
            .map(|r| r.capacity_ah)
            .unwrap_or(D::zero())
    }

    /// How the solve ended, in words with units: why, when \[s\], at what voltage \[V\] and after
    /// how much discharged capacity \[A·h\] (e.g. "stopped at the lower voltage cut-off at
    /// t = 3521.3 s, V = 2.5000 V, 4.871 A h discharged").
    pub fn end_summary(&self) -> String {
        let why = match self.stop {
            StopReason::EndOfProtocol => "ran to the end of the protocol".to_string(),
            StopReason::LowerCutoff => "stopped at the lower voltage cut-off".to_string(),
            StopReason::UpperCutoff => "stopped at the upper voltage cut-off".to_string(),
            StopReason::SurfaceLimit { electrode, full } => format!(
                "stopped where the {} electrode's particle surface became {} (end of {})",
                match electrode {
                    Side::Negative => "negative",
                    Side::Positive => "positive",
                },
                if full { "full" } else { "empty" },
                // a full negative or an empty positive surface ends a charge
                if full == (electrode == Side::Negative) {
                    "charge"
                } else {
                    "discharge"
                }
            ),
        };
        match self.cutoff.as_ref().or(self.rows.last()) {
            Some(r) => format!(
                "{why} at t = {:.1} s, V = {:.4} V, {:.4} A h discharged",
                r.time_s,
                r.voltage.re(),
                r.capacity_ah.re()
            ),
            None => why,
        }
    }
}

/// Quantities that stay fixed during a solve.
struct Fixed<D> {
    t: D,
    area: D,
    fac_de: D,
    fac_ke: D,
    ce0: D,
    dphi_s_per_i: D,
    two_rt_f: D,
    spme: bool,
    dt_ent: D,
    vol_n: D,
    vol_p: D,
    kin_n: Kinetics<D>,
    kin_p: Kinetics<D>,
    /// SPM electrolyte inventory c_e0·Σ ε·L·A \[mol\]
    li_e_spm: D,
}

impl<D: Scalar> Fixed<D> {
    /// Set everything that depends on the cell temperature `t` \[K\]: 2RT/F, T − T_ref of the
    /// entropic term, and the Arrhenius factors exp(E_a/R·(1/T_ref − 1/T)) of D_e, κ_e and of
    /// each electrode's rate constant and particle diffusivity (with the surface flux term
    /// that uses D_s). An isothermal solve sets it once; a thermal one at every step.
    fn set_temperature(&mut self, p: &CellParams<D>, t: D, neg: &Particle<D>, pos: &Particle<D>) {
        let arrhenius = |ea: D| arrhenius_factor(ea, t, p.t_ref);
        self.t = t;
        self.two_rt_f = t * (2.0 * R_GAS / FARADAY);
        self.dt_ent = t - p.t_ref;
        self.fac_de = Self::electrolyte_diffusion_factor(p, t);
        self.fac_ke = arrhenius(p.electrolyte.conductivity_ea);
        for (k, e, part) in [
            (&mut self.kin_n, &p.neg, neg),
            (&mut self.kin_p, &p.pos, pos),
        ] {
            k.m = e.rate_constant * arrhenius(e.rate_constant_ea);
            k.half_inv_m = (k.m * 2.0).recip();
            k.fac_d = arrhenius(e.diffusivity_ea);
            if e.diffusivity.is_constant() {
                k.flux_term = Some(k.qu * part.surface_coef(e.diffusivity.scale * k.fac_d));
            }
        }
    }

    /// The Arrhenius factor of D_e at the cell temperature `t` \[K\] (an electrolyte on its own
    /// grid steps at temperatures of its own).
    fn electrolyte_diffusion_factor(p: &CellParams<D>, t: D) -> D {
        arrhenius_factor(p.electrolyte.diffusivity_ea, t, p.t_ref)
    }

    /// The output row of an evaluated state.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn row(
        &self,
        p: &CellParams<D>,
        ev: &Eval<D>,
        neg: &Electrode<D>,
        pos: &Electrode<D>,
        el: Option<&ElectrolyteState<D>>,
        time_s: f64,
        current_a: f64,
        capacity_ah: D,
    ) -> Row<D> {
        let cn = neg.average();
        let cp = pos.average();
        let heat = ev.heat(p, self, current_a);
        Row {
            time_s,
            current_a,
            voltage: ev.v,
            theta_n_surf: ev.th_n,
            theta_p_surf: ev.th_p,
            theta_n_avg: cn * self.kin_n.inv_c_max,
            theta_p_avg: cp * self.kin_p.inv_c_max,
            ocp_n: ev.u_n,
            ocp_p: ev.u_p,
            eta_n: ev.eta_n,
            eta_p: ev.eta_p,
            eta_c: ev.eta_c,
            dphi_e: ev.dphi_e,
            dphi_s: ev.dphi_s,
            capacity_ah,
            li_solid_mol: cn * self.vol_n + cp * self.vol_p,
            // (the electrolyte inventory is per electrode area)
            li_electrolyte_mol: match el {
                Some(e) => e.inventory() * self.area,
                None => self.li_e_spm,
            },
            temperature_k: self.t,
            heat_reaction_w: heat.reaction,
            heat_ohmic_w: heat.ohmic,
            heat_reversible_w: heat.reversible,
        }
    }
}

/// Table bracketing hints of the two OCPs.
#[derive(Default)]
struct Hints {
    n: usize,
    p: usize,
}

/// asinh(x) = sign(x)·ln(|x| + √(1 + x²)), with one chain-rule step for the
/// derivatives (first order), or the dual number's own asinh otherwise.
#[inline(always)]
fn asinh_fast<D: Scalar>(x: D) -> D {
    if D::NDERIV > 1 {
        return x.asinh();
    }
    let r = x.re();
    let a = r.abs();
    // ln(a + √(1 + a²)) rather than log1p: only the absolute error (≤ 2.3e-16, times 2RT/F in
    // the overpotential) matters here; the inlined ln keeps the step loop free of libm calls
    let (v, d) = if a > 1e8 {
        (fastmath::ln(a) + std::f64::consts::LN_2, 1.0 / a)
    } else {
        let w = (1.0 + a * a).sqrt();
        (fastmath::ln(a + w), 1.0 / w)
    };
    lift(x, v.copysign(r), d)
}

/// Every shell of every particle inside (0, c_max) at `time_s` \[s\], else the out-of-range error.
#[inline(always)]
fn check_particle_range<D: Scalar>(
    p: &CellParams<D>,
    neg: &Electrode<D>,
    pos: &Electrode<D>,
    time_s: f64,
) -> Result<(), CellError> {
    for (electrode, cm, name) in [
        (neg, p.neg.c_max.re(), "negative particle stoichiometry"),
        (pos, p.pos.c_max.re(), "positive particle stoichiometry"),
    ] {
        let (lo, hi) = electrode.min_max();
        if !(lo > 0.0 && hi < cm) {
            let value = if lo <= 0.0 { lo / cm } else { hi / cm };
            return Err(out_of_range(name, value, time_s, "must stay in (0, 1)"));
        }
    }
    Ok(())
}

/// The out-of-range error of a solve (kept out of line: the hot path only tests).
#[cold]
#[inline(never)]
fn out_of_range(quantity: &str, value: f64, time_s: f64, msg: &str) -> CellError {
    CellError::OutOfRange {
        quantity: quantity.into(),
        value,
        time_s,
        msg: msg.into(),
    }
}

/// Reaction overpotential η \[V\] at interfacial current density j \[A/m²\] for the electrode's
/// kinetics: with α = ½ the closed form η = (2RT/F)·asinh(j/(2·i0)) evaluated as
/// (2RT/F)·asinh(j·(1/(2m))/√(c_e·c_s·(c_max − c_s))) (i0 = m·√(c_e·c_s·(c_max − c_s))),
/// otherwise Butler–Volmer inverted for α.
#[inline(always)]
fn overpotential<D: Scalar>(
    e: &ElectrodeParams<D>,
    k: &Kinetics<D>,
    j: D,
    ce: D,
    cs: D,
    f: &Fixed<D>,
) -> Result<D, CellError> {
    let b = ce * cs * (e.c_max - cs);
    if k.symmetric {
        Ok(f.two_rt_f * asinh_fast(j * k.half_inv_m / b.sqrt()))
    } else {
        let i0 = k.m * b.sqrt();
        bv_overpotential(j, i0, e.alpha, f.t).map_err(|err| {
            out_of_range(
                "Butler–Volmer overpotential",
                j.re() / i0.re(),
                f64::NAN,
                &err.to_string(),
            )
        })
    }
}

/// Per-electrode constants of the voltage evaluation.
struct Kinetics<D> {
    /// rate constant with its Arrhenius factor, m(T)
    m: D,
    /// 1/(2m) (α = ½)
    half_inv_m: D,
    /// α = ½: the closed-form overpotential applies
    symmetric: bool,
    /// 1/c_max \[m³/mol\]
    inv_c_max: D,
    /// interfacial current density per ampere j/I \[1/m²\] (negative electrode positive)
    ju: D,
    /// constant D_s: the surface-value flux term per ampere κ_s·q/I \[mol/m³/A\]
    flux_term: Option<D>,
    /// particle flux per ampere q/I \[mol/m²/s/A\]
    qu: D,
    /// Arrhenius factor of D_s
    fac_d: D,
}

impl<D: Scalar> Kinetics<D> {
    /// The electrode's constants; the temperature-dependent ones are set by
    /// [`Fixed::set_temperature`].
    fn new(e: &ElectrodeParams<D>, ju: D) -> Self {
        Self {
            m: D::zero(),
            half_inv_m: D::zero(),
            symmetric: e.alpha.re() == 0.5,
            inv_c_max: e.c_max.recip(),
            ju,
            flux_term: None,
            qu: ju / FARADAY,
            fac_d: D::zero(),
        }
    }

    /// Surface concentration c_s \[mol/m³\] of `part` whose boundary flux follows the current
    /// `flux_current` \[A\] (0 before the first step, the old current right at a jump), checked
    /// to lie in (0, c_max).
    #[inline(always)]
    fn surface(
        &self,
        e: &ElectrodeParams<D>,
        part: &Particle<D>,
        flux_current: f64,
        time_s: f64,
        name: &str,
    ) -> Result<D, CellError> {
        let cs = if flux_current == 0.0 {
            part.surface_with(D::zero())
        } else {
            let ft = match self.flux_term {
                Some(ft) => ft,
                None => {
                    // surface diffusivity from the outer shell
                    let th = part.c[part.shells() - 1] * self.inv_c_max;
                    self.qu * part.surface_coef(e.diffusivity.eval(th) * self.fac_d)
                }
            };
            part.surface_with(ft * flux_current)
        };
        let th = cs.re() * self.inv_c_max.re();
        if !(th > 0.0 && th < 1.0) {
            return Err(out_of_range(name, th, time_s, "must stay in (0, 1)"));
        }
        Ok(cs)
    }
}

struct Eval<D> {
    v: D,
    th_n: D,
    th_p: D,
    u_n: D,
    u_p: D,
    eta_n: D,
    eta_p: D,
    eta_c: D,
    dphi_e: D,
    dphi_s: D,
}

impl<D: Scalar> Eval<D> {
    /// The heat generated at this state with current `current` \[A\] (see [`Heat`]), with the
    /// temperature and entropic coefficients of `f`.
    fn heat(&self, p: &CellParams<D>, f: &Fixed<D>, current: f64) -> Heat<D> {
        let entropic = p.neg.entropic.eval(self.th_n) - p.pos.entropic.eval(self.th_p);
        Heat {
            reaction: (self.eta_n - self.eta_p) * current,
            ohmic: (self.eta_c + self.dphi_e + self.dphi_s) * (-current)
                + p.contact_resistance * (current * current),
            reversible: f.t * entropic * current,
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn voltage<D: Scalar>(
    p: &CellParams<D>,
    f: &Fixed<D>,
    neg: &Electrode<D>,
    pos: &Electrode<D>,
    el: Option<&ElectrolyteState<D>>,
    current: f64,
    flux_current: f64,
    time_s: f64,
    hints: &mut Hints,
) -> Result<Eval<D>, CellError> {
    let (kn, kp) = (&f.kin_n, &f.kin_p);
    let cs_n = kn.surface(&p.neg, neg.particle(), flux_current, time_s, NEG_SURFACE)?;
    let cs_p = kp.surface(&p.pos, pos.particle(), flux_current, time_s, POS_SURFACE)?;
    let th_n = cs_n * kn.inv_c_max;
    let th_p = cs_p * kp.inv_c_max;
    let (j_n, j_p) = (kn.ju * current, kp.ju * current);
    // SPMe: the overpotential with the local exchange current, averaged over each electrode,
    // and ⟨ln c_e⟩_p − ⟨ln c_e⟩_n for the concentration overpotential
    let (eta_n, eta_p, ln_difference) = match el {
        Some(e) if kn.symmetric && kp.symmetric => {
            let a = |e: &ElectrodeParams<D>, k: &Kinetics<D>, j: D, cs: D| {
                j * k.half_inv_m / (cs * (e.c_max - cs)).sqrt()
            };
            let (ln_n, asinh_n) = e.ln_and_asinh_averages(Side::Negative, a(&p.neg, kn, j_n, cs_n));
            let (ln_p, asinh_p) = e.ln_and_asinh_averages(Side::Positive, a(&p.pos, kp, j_p, cs_p));
            (f.two_rt_f * asinh_n, f.two_rt_f * asinh_p, ln_p - ln_n)
        }
        Some(e) => (
            e.electrode_average(Side::Negative, |ce| {
                overpotential(&p.neg, kn, j_n, ce, cs_n, f)
            })?,
            e.electrode_average(Side::Positive, |ce| {
                overpotential(&p.pos, kp, j_p, ce, cs_p, f)
            })?,
            e.ln_difference(),
        ),
        None => (
            overpotential(&p.neg, kn, j_n, f.ce0, cs_n, f)?,
            overpotential(&p.pos, kp, j_p, f.ce0, cs_p, f)?,
            D::zero(),
        ),
    };
    let mut u_n = p.neg.ocp.eval_hinted(th_n, f.t, &mut hints.n);
    let mut u_p = p.pos.ocp.eval_hinted(th_p, f.t, &mut hints.p);
    if f.dt_ent.re() != 0.0 {
        u_n += p.neg.entropic.eval(th_n) * f.dt_ent;
        u_p += p.pos.entropic.eval(th_p) * f.dt_ent;
    }
    let mut v = u_p - u_n + eta_p - eta_n - p.contact_resistance * current;
    let (mut eta_c, mut dphi_e, mut dphi_s) = (D::zero(), D::zero(), D::zero());
    if let Some(e) = el {
        let i = f.area.recip() * current;
        eta_c = (-p.electrolyte.transference + 1.0) * f.two_rt_f * ln_difference;
        dphi_e = -i * e.ohmic_resistance(&p.electrolyte.conductivity, f.fac_ke);
        dphi_s = -i * f.dphi_s_per_i;
        v += eta_c + dphi_e + dphi_s;
    }
    if !v.re().is_finite() {
        return Err(out_of_range(
            "voltage",
            v.re(),
            time_s,
            "non-finite voltage",
        ));
    }
    Ok(Eval {
        v,
        th_n,
        th_p,
        u_n,
        u_p,
        eta_n,
        eta_p,
        eta_c,
        dphi_e,
        dphi_s,
    })
}

/// Most output rows one solve writes (a row holds ~30 scalars: 10⁷ rows are several GB).
pub const MAX_OUTPUT_ROWS: usize = 10_000_000;
/// Most time steps one solve may take (at ~3 µs per SPMe step, about a minute).
pub const MAX_STEPS: usize = 20_000_000;

/// Simulate the cell under `protocol` (see the module doc for the equations and
/// [`SolverOptions`] for the numerics). Errors: invalid parameters or options, including more
/// than [`MAX_OUTPUT_ROWS`] rows or [`MAX_STEPS`] steps (before any step), a state leaving the
/// physical range (stoichiometry outside (0, 1), c_e ≤ 0) — never a panic.
pub fn simulate<D: Scalar>(
    p: &CellParams<D>,
    protocol: &Protocol,
    opts: &SolverOptions,
) -> Result<Solution<D>, CellError> {
    p.validate()?;
    if opts.shells < 2 || opts.shells > 10_000 {
        return Err(CellError::Options(format!(
            "shells = {}: expected 2..=10000",
            opts.shells
        )));
    }
    if !(opts.dt_max > 0.0) || !opts.dt_max.is_finite() {
        return Err(CellError::Options(format!(
            "dt_max = {}: expected > 0",
            opts.dt_max
        )));
    }
    if !(opts.electrolyte_rtol > 0.0 && opts.electrolyte_rtol < 1.0) {
        return Err(CellError::Options(format!(
            "electrolyte_rtol = {}: expected in (0, 1)",
            opts.electrolyte_rtol
        )));
    }
    let segs = protocol.segments(p.nominal_capacity_ah)?;
    let t_end = segs.last().map(|s| s.t1).unwrap_or(0.0);
    // The BDF2 grid holds every step; the exact path steps lazily but at least once per output.
    let steps = t_end / opts.dt_max;
    if !(steps <= MAX_STEPS as f64) {
        return Err(CellError::Options(format!(
            "a run of {t_end:e} s at dt_max = {} s needs {steps:.3e} time steps: at most {MAX_STEPS:e} \
             (about a minute of solving): shorten the run (duration) or raise dt_max",
            opts.dt_max
        )));
    }
    let outs: Vec<f64> = match &opts.output_times {
        Some(v) => {
            for (k, w) in v.windows(2).enumerate() {
                if !(w[1] > w[0]) {
                    return Err(CellError::Options(format!(
                        "output times must increase: entry {} = {} after {}",
                        k + 2,
                        w[1],
                        w[0]
                    )));
                }
            }
            if let Some(&f) = v.first()
                && !(f >= 0.0)
            {
                return Err(CellError::Options(format!("output time {f} < 0")));
            }
            v.clone()
        }
        None => {
            if !(opts.output_dt > 0.0) {
                return Err(CellError::Options(format!(
                    "output_dt = {}: expected > 0",
                    opts.output_dt
                )));
            }
            let n = t_end / opts.output_dt + 1e-9;
            if !(n <= MAX_OUTPUT_ROWS as f64) {
                return Err(CellError::Options(format!(
                    "output_dt = {} s over a {t_end:e} s run gives {n:.3e} output rows: at most {MAX_OUTPUT_ROWS:e} \
                     (raise the output spacing or shorten the run)",
                    opts.output_dt
                )));
            }
            (0..=n.floor() as usize)
                .map(|k| k as f64 * opts.output_dt)
                .collect()
        }
    };

    let area = p.area;
    let temperature = thermal::CellTemperature::new(p, &opts.thermal)?;
    // j/I: i/(a·L) with i = I/A, positive in the negative electrode on discharge
    let ju_n = (area * p.neg.surface_area_density() * p.neg.thickness).recip();
    let ju_p = -(area * p.pos.surface_area_density() * p.pos.thickness).recip();
    let zero = D::zero();
    let mut fixed = Fixed {
        t: zero,
        area,
        fac_de: zero,
        fac_ke: zero,
        ce0: p.electrolyte.initial_concentration,
        dphi_s_per_i: p.neg.thickness / (p.neg.conductivity * 3.0)
            + p.pos.thickness / (p.pos.conductivity * 3.0),
        two_rt_f: zero,
        spme: opts.model == CellModelKind::Spme,
        dt_ent: zero,
        vol_n: p.neg.active_fraction * p.neg.thickness * area,
        vol_p: p.pos.active_fraction * p.pos.thickness * area,
        kin_n: Kinetics::new(&p.neg, ju_n),
        kin_p: Kinetics::new(&p.pos, ju_p),
        li_e_spm: p.electrolyte.initial_concentration
            * (p.neg.porosity * p.neg.thickness
                + p.separator.porosity * p.separator.thickness
                + p.pos.porosity * p.pos.thickness)
            * area,
    };
    let th_n0 = p.neg.theta_at_soc(p.initial_soc);
    let th_p0 = p.pos.theta_at_soc(p.initial_soc);
    // A temperature that changes in time changes a diffusivity with an activation energy from
    // step to step, with derivatives that change too (a state carries those of every input; a
    // measured one, those of the activation energy): the modal form's one tangent (∂/∂s at a
    // fixed s), a factorisation cached by value and an electrolyte stepped in f64 would not
    // describe that (see [`Particle::let_diffusion_derivatives_vary`]). A zero activation
    // energy that is not an input keeps the Arrhenius factor at exactly 1, without derivatives.
    let varies_with_temperature = |activation_energy: D| {
        temperature.is_some()
            && D::NDERIV > 0
            && (activation_energy.re() != 0.0 || activation_energy.depends_on_inputs())
    };
    // one particle size per electrode ([`Electrode`])
    let particle = |e: &ElectrodeParams<D>, th0: D| {
        let mut part = Particle::new(
            opts.shells,
            e.particle_radius,
            e.c_max,
            th0 * e.c_max,
            opts.modal && e.diffusivity.is_constant(),
        );
        if varies_with_temperature(e.diffusivity_ea) {
            part.let_diffusion_derivatives_vary();
        }
        part
    };
    let mut neg = Electrode::single(particle(&p.neg, th_n0));
    let mut pos = Electrode::single(particle(&p.pos, th_p0));
    neg.set_flux_unit(fixed.kin_n.qu);
    pos.set_flux_unit(fixed.kin_p.qu);
    let t0 = temperature.as_ref().map_or(p.temperature, |t| t.initial());
    fixed.set_temperature(p, t0, neg.particle(), pos.particle());
    let mut hints = Hints::default();
    let el = if fixed.spme {
        Some(ElectrolyteState::new(
            p,
            opts.electrolyte_mesh,
            area,
            fixed.fac_de,
            varies_with_temperature(p.electrolyte.diffusivity_ea),
        ))
    } else {
        None
    };
    let mut rows = Vec::with_capacity(outs.len() + 1);
    // initial voltage with the first current
    let i_first = segs[0].i0;
    let ev0 = voltage(
        p,
        &fixed,
        &neg,
        &pos,
        el.as_ref(),
        i_first,
        0.0,
        0.0,
        &mut hints,
    )?;
    if !outs.is_empty() && outs[0] <= 1e-9 * t_end.max(1.0) {
        rows.push(fixed.row(p, &ev0, &neg, &pos, el.as_ref(), 0.0, i_first, D::zero()));
    }
    let exact = opts.exponential && neg.is_modal() && pos.is_modal();
    run::Run::new(
        p,
        fixed,
        &segs,
        opts,
        (neg, pos),
        exact,
        el,
        temperature,
        hints,
        rows,
    )
    .run(outs)
}

/// CSV text of a solution: `time_s,current_A,voltage_V,theta_n_surf,theta_p_surf,theta_n_avg,
/// theta_p_avg,ocp_n_V,ocp_p_V,eta_n_V,eta_p_V,eta_c_V,dphi_e_V,dphi_s_V,capacity_Ah,
/// temperature_K,heat_W,heat_reaction_W,heat_ohmic_W,heat_reversible_W` (discharge current
/// positive), with the cut-off row last if the solve stopped there.
pub fn solution_to_csv(sol: &Solution<f64>) -> String {
    let mut s = String::with_capacity(64 * (sol.rows.len() + 2));
    s.push_str("time_s,current_A,voltage_V,theta_n_surf,theta_p_surf,theta_n_avg,theta_p_avg,ocp_n_V,ocp_p_V,eta_n_V,eta_p_V,eta_c_V,dphi_e_V,dphi_s_V,capacity_Ah,temperature_K,heat_W,heat_reaction_W,heat_ohmic_W,heat_reversible_W\n");
    for r in sol.rows.iter().chain(sol.cutoff.iter()) {
        s.push_str(&format!(
            "{},{},{:.9},{:.9},{:.9},{:.9},{:.9},{:.9},{:.9},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{:.9},{:.9},{:.9e},{:.9e},{:.9e},{:.9e}\n",
            r.time_s,
            r.current_a,
            r.voltage,
            r.theta_n_surf,
            r.theta_p_surf,
            r.theta_n_avg,
            r.theta_p_avg,
            r.ocp_n,
            r.ocp_p,
            r.eta_n,
            r.eta_p,
            r.eta_c,
            r.dphi_e,
            r.dphi_s,
            r.capacity_ah,
            r.temperature_k,
            r.heat_w(),
            r.heat_reaction_w,
            r.heat_ohmic_w,
            r.heat_reversible_w
        ));
    }
    s
}
