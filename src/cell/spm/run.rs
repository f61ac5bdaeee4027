//! The one time loop of the SPM and SPMe: steps from one must-hit time (output times, segment
//! ends) to the next, each component advanced by its integrator, the voltage and the stop
//! tests at every step end, and one search that locates a stop inside its step.
//!
//! Integrators (chosen in [`super::simulate`]):
//! - particles with a constant diffusivity in modal form: the exact (exponential) step, no
//!   time-discretisation error, one step per must-hit interval (at most 10·`dt_max`);
//! - otherwise (θ-dependent D_s, the tridiagonal form, second-order duals, or
//!   `exponential = false`): variable-step BDF2 with steps of at most `dt_max`, restarted with
//!   backward Euler and graded step sizes at t = 0 and at every current jump ([`BdfSteps`]);
//!   an SPMe electrolyte then takes the same steps;
//! - an SPMe electrolyte beside exact particles: BDF2 on its own grid, restarted the same
//!   way, each step sized by its local error estimate (`electrolyte_rtol`) and passing output
//!   times (ending on the last one it reaches; segment ends are hit). The loop's steps are
//!   split where an electrolyte step ends, so each lies inside one electrolyte step, where
//!   the electrolyte's state is its BDF2 interpolant. In a 1C discharge this takes tens of
//!   electrolyte steps (77 at rtol 1e-4) where one per output time took ~420.
//!
//! A temperature that changes in time (lumped model, measured) steps with the loop's steps
//! ([`CellTemperature`]); exact particle steps then take at most `dt_max` each, one at a
//! time, at the temperature of the step's midpoint, and an electrolyte on its own grid at the
//! temperature of its step's end.
//!
//! A step is re-evaluated at any point t0 + τ inside it: exact particles re-step from their
//! start modes, BDF2 components on the shared grid take the step again from a copy of their
//! start state with size τ, an electrolyte on its own grid is interpolated, so V(t0 + τ) is
//! continuous in τ.

use super::{
    CellError, Eval, Fixed, Hints, Row, Solution, SolverOptions, StopReason, check_particle_range,
    voltage,
};
use crate::cell::electrode::Electrode;
use crate::cell::params::CellParams;
use crate::cell::protocol::Segment;
use crate::cell::spme::{ElectrolyteState, Side};
use crate::cell::thermal::{CellTemperature, StepEnd};
use crate::model::Scalar;
use crate::numerics::bdf::Bdf;

/// Most steps advanced as one batch (a cut-off inside a batch wastes the steps after it).
const BATCH: usize = 16;

/// Step-size growth per BDF2 step after a restart.
const GROWTH: f64 = 1.25;

/// Largest electrolyte step on its own grid, in units of `dt_max` (the error estimate sets the
/// size; this bounds what an estimate of a nearly steady state would allow).
const ELECTROLYTE_STEP_CAP: f64 = 60.0;

/// Where a solve stopped before the end of its protocol: the row there, the stop time \[s\]
/// with its derivatives, and why.
struct Stop<D> {
    row: Row<D>,
    time: D,
    reason: StopReason,
}

/// One step of the time loop from `t0` to `t1` \[s\] in segment `seg`, ending at output time
/// `output` if any. BDF2 grid only: `h_before` the size of the step before (NaN for the
/// first), `restart` for the first step after t = 0 or a current jump.
struct Step {
    t0: f64,
    t1: f64,
    seg: usize,
    output: Option<usize>,
    h_before: f64,
    restart: bool,
}

impl Step {
    /// BDF coefficients and the extrapolation ratio ω for this step taken with size `h` (its
    /// full size, or less when a re-step ends inside it): backward Euler after a restart or
    /// when ω = h/h_before > 2.4 (variable-step BDF2 is zero-stable for ω < 1 + √2).
    #[inline]
    fn bdf(&self, h: f64) -> (Bdf, f64) {
        let omega = h / self.h_before;
        if self.restart || !(omega <= 2.4) {
            (Bdf::EULER, 0.0)
        } else {
            (Bdf::bdf2(omega), omega)
        }
    }
}

/// The times every grid must hit — t = 0, then the segment ends and the output times in
/// (0, t_end] merged in increasing order, a point within `tol` of the one before dropped —
/// produced lazily (the exact solver takes one step per point).
#[derive(Clone)]
struct MustHit<'a> {
    segs: &'a [Segment],
    outs: &'a [f64],
    /// next segment end and next output time
    ie: usize,
    io: usize,
    t_end: f64,
    tol: f64,
    last: Option<f64>,
}

impl<'a> MustHit<'a> {
    /// The points of `segs` (contiguous, in time order) and `outs` (increasing).
    fn new(segs: &'a [Segment], outs: &'a [f64]) -> Self {
        let t_end = segs.last().map(|s| s.t1).unwrap_or(0.0);
        Self {
            segs,
            outs,
            ie: 0,
            // outputs at t ≤ 0 are not step ends
            io: outs.iter().take_while(|&&o| o <= 0.0).count(),
            t_end,
            tol: 1e-9 * t_end.max(1.0),
            last: None,
        }
    }
}

impl Iterator for MustHit<'_> {
    type Item = f64;
    #[inline]
    fn next(&mut self) -> Option<f64> {
        let Some(last) = self.last else {
            self.last = Some(0.0);
            return Some(0.0);
        };
        loop {
            let o = self.outs.get(self.io).copied().filter(|&o| o <= self.t_end);
            let e = self.segs.get(self.ie).map(|s| s.t1);
            // an output time goes before a segment end at the same time (then deduplicated)
            let t = match (o, e) {
                (Some(o), Some(e)) if e < o => {
                    self.ie += 1;
                    e
                }
                (Some(o), _) => {
                    self.io += 1;
                    o
                }
                (None, Some(e)) => {
                    self.ie += 1;
                    e
                }
                (None, None) => return None,
            };
            if (t - last).abs() > self.tol {
                self.last = Some(t);
                return Some(t);
            }
        }
    }
}

/// The must-hit intervals [a, b] in time order, each with the segment it lies in and the
/// output time (if any) at its end.
#[derive(Clone)]
struct Intervals<'a> {
    segs: &'a [Segment],
    outs: &'a [f64],
    hits: MustHit<'a>,
    a: f64,
    b: f64,
    seg: usize,
    /// next output index
    oi: usize,
}

impl<'a> Intervals<'a> {
    /// Before the first interval (standing at t = 0).
    fn new(segs: &'a [Segment], outs: &'a [f64]) -> Self {
        let mut hits = MustHit::new(segs, outs);
        let tol = hits.tol;
        let a = hits.next().unwrap_or(0.0);
        Self {
            segs,
            outs,
            hits,
            a,
            b: a,
            seg: 0,
            // an output at t = 0 is not the end of a step
            oi: outs.iter().take_while(|&&o| o <= tol).count(),
        }
    }

    /// Move to the next interval; false at the end of the protocol.
    #[inline]
    fn advance(&mut self) -> bool {
        let Some(b) = self.hits.next() else {
            return false;
        };
        (self.a, self.b) = (self.b, b);
        while self.segment_ended(self.seg, self.a) {
            self.seg += 1;
        }
        true
    }

    /// Whether segment `seg` is not the last and ends by time `t` (within the must-hit tolerance):
    /// a step starting at `t` then belongs to a later segment.
    #[inline(always)]
    fn segment_ended(&self, seg: usize, t: f64) -> bool {
        seg + 1 < self.segs.len() && self.segs[seg].t1 <= t + self.hits.tol
    }

    /// The current interval ends where its segment does (or the protocol).
    fn ends_its_segment(&self) -> bool {
        self.segs[self.seg].t1 <= self.b + self.hits.tol
    }

    /// Move over the must-hit points after this interval's end, up to time `t` \[s\], within
    /// the current segment: the interval then ends at the last of them (an electrolyte step
    /// longer than the output spacing ends on an output time).
    fn extend_to(&mut self, t: f64) {
        let mut next = self.clone();
        while !next.ends_its_segment() && next.advance() && next.b <= t {
            *self = next.clone();
        }
    }

    /// The current interval starts at t = 0 or where the current jumps.
    fn starts_at_a_jump(&self) -> bool {
        let (a, tol, seg) = (self.a, self.hits.tol, self.seg);
        a <= tol
            || seg > 0 && (a - self.segs[seg].t0).abs() <= tol && {
                let (prev, next) = (self.segs[seg - 1].i1, self.segs[seg].i0);
                (prev - next).abs() > 1e-12 * prev.abs().max(next.abs()).max(1e-300)
            }
    }

    /// The output index at the end of the current interval, if it is an output time (once).
    #[inline]
    fn take_output(&mut self) -> Option<usize> {
        let hit = self.oi < self.outs.len() && (self.outs[self.oi] - self.b).abs() <= self.hits.tol;
        hit.then(|| {
            self.oi += 1;
            self.oi - 1
        })
    }
}

/// Steps of the exact (exponential) integrator, produced lazily: from one must-hit point
/// (t = 0, segment ends, output times) to the next, split evenly into steps of at most `h_cap`.
struct ExactSteps<'a> {
    iv: Intervals<'a>,
    h_cap: f64,
    /// the interval is split into n steps of h; k of them taken
    n: usize,
    k: usize,
    h: f64,
}

impl<'a> ExactSteps<'a> {
    fn new(segs: &'a [Segment], outs: &'a [f64], h_cap: f64) -> Self {
        Self {
            iv: Intervals::new(segs, outs),
            h_cap,
            n: 0,
            k: 0,
            h: 0.0,
        }
    }

    /// Push the next step to `batch` and, if its segment's current is constant, the steps after
    /// it in the same segment, up to `max` steps in all. False at the end of the protocol.
    fn next_batch(&mut self, batch: &mut Vec<Step>, max: usize) -> bool {
        let Some(st) = self.next() else {
            return false;
        };
        let seg = st.seg;
        batch.push(st);
        if self.iv.segs[seg].i0 != self.iv.segs[seg].i1 {
            return true;
        }
        while batch.len() < max {
            // at the end of an interval the next one may start a new segment
            if self.k == self.n && self.iv.segment_ended(seg, self.iv.b) {
                break;
            }
            match self.next() {
                Some(s) => batch.push(s),
                None => break,
            }
        }
        true
    }
}

impl Iterator for ExactSteps<'_> {
    type Item = Step;
    #[inline]
    fn next(&mut self) -> Option<Step> {
        if self.k == self.n {
            if !self.iv.advance() {
                return None;
            }
            let w = self.iv.b - self.iv.a;
            // (the usual case, one step per interval, without divisions or a libm ceil call)
            (self.n, self.h) = if w <= self.h_cap * (1.0 + 1e-9) {
                (1, w)
            } else {
                let n = (w / self.h_cap - 1e-9).ceil() as usize;
                (n, w / n as f64)
            };
            self.k = 0;
        }
        let (a, h, k) = (self.iv.a, self.h, self.k);
        self.k += 1;
        let last = self.k == self.n;
        Some(Step {
            t0: a + k as f64 * h,
            t1: if last {
                self.iv.b
            } else {
                a + (k + 1) as f64 * h
            },
            seg: self.iv.seg,
            output: if last { self.iv.take_output() } else { None },
            h_before: f64::NAN,
            // (only the cell temperature, when it changes, steps by BDF beside exact particles)
            restart: k == 0 && self.iv.starts_at_a_jump(),
        })
    }
}

/// Steps of the BDF2 integrator, produced lazily: each must-hit interval split into steps of
/// at most `dt_max`. After a restart (t = 0 or a current jump) sizes start at `dt_max`/1000
/// and grow by [`GROWTH`] per step (for 20·`dt_max` at most); otherwise each step is at most
/// twice the one before, and an interval is split into equal steps.
struct BdfSteps<'a> {
    iv: Intervals<'a>,
    dt_max: f64,
    /// time reached in the interval
    t: f64,
    /// the size the next step grows from \[s\]
    h_last: f64,
    /// size of the last step \[s\] (NaN before the first)
    h_prev: f64,
    grading: bool,
    restart: bool,
    t_restart: f64,
    /// the largest next step an error estimate allows \[s\]
    h_limit: f64,
    /// steps may pass output times, ending on the last one they reach (segment ends are
    /// still hit): the electrolyte's own grid beside exact particles
    pass_outputs: bool,
}

impl<'a> BdfSteps<'a> {
    fn new(segs: &'a [Segment], outs: &'a [f64], dt_max: f64) -> Self {
        let iv = Intervals::new(segs, outs);
        Self {
            t: iv.b,
            iv,
            dt_max,
            h_last: dt_max,
            h_prev: f64::NAN,
            grading: false,
            restart: false,
            t_restart: 0.0,
            h_limit: f64::INFINITY,
            pass_outputs: false,
        }
    }
}

impl Iterator for BdfSteps<'_> {
    type Item = Step;
    fn next(&mut self) -> Option<Step> {
        let (dt_max, tol) = (self.dt_max, self.iv.hits.tol);
        while self.iv.b - self.t <= tol {
            if !self.iv.advance() {
                return None;
            }
            self.t = self.iv.a;
            if self.iv.starts_at_a_jump() {
                self.h_limit = f64::INFINITY;
                self.h_last = dt_max / 1000.0 / GROWTH;
                self.grading = true;
                self.restart = true;
                self.t_restart = self.iv.a;
            }
        }
        if self.pass_outputs {
            return Some(self.next_passing_outputs());
        }
        let (t, b) = (self.t, self.iv.b);
        let rem = b - t;
        let h = if self.grading {
            // ratio ≤ GROWTH; a short remainder is split rather than left as a sliver
            let cap = dt_max.min(self.h_last * GROWTH).min(self.h_limit);
            if rem <= cap * (1.0 + 1e-9) {
                rem
            } else if rem <= 1.5 * cap {
                0.5 * rem
            } else {
                cap
            }
        } else {
            let cap = dt_max.min(2.0 * self.h_last).min(self.h_limit);
            let r = rem / cap;
            if r <= 1.0 + 1e-9 {
                rem
            } else if r <= 2.0 + 1e-9 {
                0.5 * rem
            } else {
                rem / (r - 1e-9).ceil()
            }
        };
        let t1 = if rem - h <= tol { b } else { t + h };
        let step = Step {
            t0: t,
            t1,
            seg: self.iv.seg,
            output: if t1 == b { self.iv.take_output() } else { None },
            h_before: self.h_prev,
            restart: std::mem::take(&mut self.restart),
        };
        self.h_last = t1 - t;
        self.h_prev = t1 - t;
        if self.grading
            && (self.h_last >= dt_max * (1.0 - 1e-9) || t1 - self.t_restart > 20.0 * dt_max)
        {
            self.grading = false;
        }
        self.t = t1;
        Some(step)
    }
}

impl BdfSteps<'_> {
    /// Steps after the next one at most `h` \[s\] (from an error estimate), until a restart.
    fn limit_steps(&mut self, h: f64) {
        self.h_limit = h;
    }

    /// The next step when steps may pass output times (`pass_outputs`; the interval at hand is
    /// not finished): the allowed size is the last one's grown by [`GROWTH`] while grading
    /// after a restart, else doubled, within `dt_max`, the error estimate's limit and twice the
    /// last step taken (BDF2's step-ratio bound); the step ends on the last must-hit point
    /// within it, or, short of the next one, takes the allowed size (half the remainder when
    /// less than half a step would be left). The allowed size, not the step taken, is what
    /// grows, so that output times met on the way do not hold the growth back.
    fn next_passing_outputs(&mut self) -> Step {
        let (t, tol) = (self.t, self.iv.hits.tol);
        let grow = if self.grading { GROWTH } else { 2.0 };
        let mut cap = self.dt_max.min(self.h_last * grow).min(self.h_limit);
        if self.h_prev.is_finite() {
            cap = cap.min(2.0 * self.h_prev);
        }
        self.iv.extend_to(t + cap * (1.0 + 1e-9));
        let b = self.iv.b;
        let rem = b - t;
        let h = if rem <= cap * (1.0 + 1e-9) {
            rem
        } else if rem <= 1.5 * cap {
            0.5 * rem
        } else {
            cap
        };
        let t1 = if rem - h <= tol { b } else { t + h };
        let step = Step {
            t0: t,
            t1,
            seg: self.iv.seg,
            output: None,
            h_before: self.h_prev,
            restart: std::mem::take(&mut self.restart),
        };
        self.h_last = cap;
        self.h_prev = t1 - t;
        if self.grading
            && (cap >= self.dt_max * (1.0 - 1e-9) || t1 - self.t_restart > 20.0 * self.dt_max)
        {
            self.grading = false;
        }
        self.t = t1;
        step
    }
}

/// The loop's steps: exact ones (batched at a constant current) or BDF2 ones.
enum Grid<'a> {
    Exact(ExactSteps<'a>),
    Bdf(BdfSteps<'a>),
}

impl Grid<'_> {
    /// Push the next step(s) to `batch` (see [`ExactSteps::next_batch`]; one BDF2 step at a
    /// time). False at the end of the protocol.
    #[inline(always)]
    fn next_batch(&mut self, batch: &mut Vec<Step>, max: usize) -> bool {
        match self {
            Grid::Exact(g) => g.next_batch(batch, max),
            Grid::Bdf(g) => g.next().map(|st| batch.push(st)).is_some(),
        }
    }
}

/// The BDF2 components at the start of the current step, for re-stepping: the particles
/// unless they step exactly, the electrolyte if there is one. (The cell temperature is only
/// changed when a step is accepted, so it needs no copy.)
struct Start<D> {
    neg: Electrode<D>,
    pos: Electrode<D>,
    el: Option<ElectrolyteState<D>>,
}

impl<D: Scalar> Start<D> {
    /// Take the components' state from the run.
    fn save(&mut self, neg: &Electrode<D>, pos: &Electrode<D>, el: Option<&ElectrolyteState<D>>) {
        self.neg.copy_state_from(neg);
        self.pos.copy_state_from(pos);
        if let (Some(s), Some(e)) = (self.el.as_mut(), el) {
            s.copy_state_from(e);
        }
    }

    /// Put the saved state back into the run.
    fn restore(
        &self,
        neg: &mut Electrode<D>,
        pos: &mut Electrode<D>,
        el: Option<&mut ElectrolyteState<D>>,
    ) {
        neg.copy_state_from(&self.neg);
        pos.copy_state_from(&self.pos);
        if let (Some(e), Some(s)) = (el, self.el.as_ref()) {
            e.copy_state_from(s);
        }
    }
}

/// The state of a solve between steps.
pub(super) struct Run<'a, D: Scalar> {
    p: &'a CellParams<D>,
    /// the solve's constants, with those of the present temperature
    f: Fixed<D>,
    segs: &'a [Segment],
    opts: &'a SolverOptions,
    /// the electrodes' particles
    neg: Electrode<D>,
    pos: Electrode<D>,
    /// the particles take exact steps (else BDF2 steps)
    exact: bool,
    /// the SPMe electrolyte (BDF2 steps)
    el: Option<ElectrolyteState<D>>,
    /// a cell temperature that changes in time (lumped model or measured)
    temperature: Option<CellTemperature<D>>,
    /// the BDF2 components' state at the start of the step (None: the particles are exact)
    start: Option<Start<D>>,
    /// exact particles with an electrolyte: the electrolyte's last step on its own grid (the
    /// loop's steps lie inside one of them, where the electrolyte is evaluated by the step's
    /// interpolating polynomial)
    el_step: Option<(f64, f64)>,
    /// the must-hit tolerance \[s\]
    tol: f64,
    hints: Hints,
    rows: Vec<Row<D>>,
    /// discharged charge at the end of the last step \[A·s\]
    cap_prev: f64,
    nsteps: usize,
    /// (segment, V) at the end of the last step
    v_last: Option<(usize, f64)>,
}

impl<'a, D: Scalar> Run<'a, D> {
    /// A run from the initial state (`rows`: the output row at t = 0, if requested); the
    /// particles step exactly if `exact` (both must be modal).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        p: &'a CellParams<D>,
        f: Fixed<D>,
        segs: &'a [Segment],
        opts: &'a SolverOptions,
        (neg, pos): (Electrode<D>, Electrode<D>),
        exact: bool,
        el: Option<ElectrolyteState<D>>,
        temperature: Option<CellTemperature<D>>,
        hints: Hints,
        rows: Vec<Row<D>>,
    ) -> Self {
        // BDF2 particles: the electrolyte steps with them (one grid, re-stepped from a saved
        // start); exact particles: the electrolyte steps on its own grid
        let start = (!exact).then(|| Start {
            neg: neg.clone(),
            pos: pos.clone(),
            el: el.clone(),
        });
        Self {
            p,
            f,
            segs,
            opts,
            neg,
            pos,
            exact,
            el,
            temperature,
            start,
            el_step: None,
            tol: 1e-9 * segs.last().map_or(0.0, |s| s.t1).max(1.0),
            hints,
            rows,
            cap_prev: 0.0,
            nsteps: 0,
            v_last: None,
        }
    }

    /// Step through the grid of `outs` to the end of the protocol or a stop.
    pub(super) fn run(mut self, outs: Vec<f64>) -> Result<Solution<D>, CellError> {
        // exact steps span up to 10·dt_max (the voltage is watched at their ends), dt_max
        // with a temperature that changes (it steps with them)
        let thermal = self.temperature.is_some();
        let exact_cap = if thermal { 1.0 } else { 10.0 } * self.opts.dt_max;
        let mut grid = match self.start {
            None => Grid::Exact(ExactSteps::new(self.segs, &outs, exact_cap)),
            Some(_) => Grid::Bdf(BdfSteps::new(self.segs, &outs, self.opts.dt_max)),
        };
        // exact particles with an electrolyte: the electrolyte's own BDF2 grid, with steps
        // controlled by its error estimate, passing output times
        let mut el_grid = (self.start.is_none() && self.el.is_some()).then(|| BdfSteps {
            pass_outputs: true,
            ..BdfSteps::new(self.segs, &outs, ELECTROLYTE_STEP_CAP * self.opts.dt_max)
        });
        let mut stop = None;
        // runs of exact steps at one constant current and temperature go through the particles
        // as a batch
        let batch_max = if self.start.is_none() && self.el.is_none() && !thermal {
            BATCH
        } else {
            1
        };
        let mut batch = Vec::with_capacity(batch_max);
        while grid.next_batch(&mut batch, batch_max) {
            let s = if batch.len() > 1 {
                self.step_batch(&batch)?
            } else if let Some(g) = el_grid.as_mut() {
                self.step_within_electrolyte_steps(&batch[0], g)?
            } else {
                self.step(&batch[0])?
            };
            batch.clear();
            if let Some(s) = s {
                stop = Some(s);
                break;
            }
        }
        let (cutoff, cutoff_time, stop) = match stop {
            Some(s) => (Some(s.row), Some(s.time), s.reason),
            None => (None, None, StopReason::EndOfProtocol),
        };
        Ok(Solution {
            rows: self.rows,
            cutoff,
            cutoff_time,
            stop,
            steps: self.nsteps,
            output_times: outs,
            heat_balance: self.temperature.as_ref().and_then(CellTemperature::balance),
        })
    }

    /// One step: every component advanced, then [`Run::finish_step`].
    fn step(&mut self, st: &Step) -> Result<Option<Stop<D>>, CellError> {
        let seg = &self.segs[st.seg];
        let (i_old, i_new) = (seg.current_at(st.t0), seg.current_at(st.t1));
        if let Some(start) = self.start.as_mut() {
            start.save(&self.neg, &self.pos, self.el.as_ref());
        }
        if self.exact {
            let h = st.t1 - st.t0;
            self.set_temperature_at(st.t0 + 0.5 * h);
            let (p, f) = (self.p, &self.f);
            self.neg
                .step_exact(h, i_old, i_new, &p.neg.diffusivity, f.kin_n.fac_d);
            self.pos
                .step_exact(h, i_old, i_new, &p.pos.diffusivity, f.kin_p.fac_d);
        }
        self.advance_bdf(st, st.t1)?;
        self.electrolyte_at(st.t1)?;
        self.finish_step(st, i_old, i_new, self.el.is_some())
    }

    /// Exact particles with an electrolyte: step `st` of the particles' grid, split where the
    /// electrolyte's own steps end, so that each part lies inside one electrolyte step (where
    /// its interpolating polynomial gives the state at any time, for the voltage and the stop
    /// search).
    fn step_within_electrolyte_steps(
        &mut self,
        st: &Step,
        grid: &mut BdfSteps,
    ) -> Result<Option<Stop<D>>, CellError> {
        let mut t0 = st.t0;
        loop {
            let e_end = self.electrolyte_step_past(t0, grid);
            let last = e_end >= st.t1 - self.tol;
            let part = Step {
                t0,
                t1: if last { st.t1 } else { e_end },
                seg: st.seg,
                output: if last { st.output } else { None },
                h_before: f64::NAN,
                restart: st.restart && t0 == st.t0,
            };
            let stop = self.step(&part)?;
            if stop.is_some() || last {
                return Ok(stop);
            }
            t0 = part.t1;
        }
    }

    /// Step the electrolyte on its own grid until its last step ends after `t` \[s\]; returns
    /// that end (the protocol's end at the latest).
    fn electrolyte_step_past(&mut self, t: f64, grid: &mut BdfSteps) -> f64 {
        let (p, f) = (self.p, &self.f);
        loop {
            if let Some((_, t1)) = self.el_step
                && t1 > t + self.tol
            {
                return t1;
            }
            let Some(el) = self.el.as_mut() else {
                unreachable!("called only with an electrolyte");
            };
            let Some(e) = grid.next() else {
                return self.el_step.map_or(t, |(_, t1)| t1);
            };
            let h = e.t1 - e.t0;
            let (bdf, omega) = e.bdf(h);
            let i = self.segs[e.seg].current_at(e.t1);
            let fac_de = match self.temperature.as_ref() {
                Some(temp) => Fixed::electrolyte_diffusion_factor(p, temp.at(e.t1)),
                None => f.fac_de,
            };
            el.step(
                h,
                bdf,
                omega,
                f.area.recip() * i,
                &p.electrolyte.diffusivity,
                fac_de,
            );
            // (no depletion test here: the step may end beyond the stop, where c_e may be
            // ≤ 0; the state is tested where the run evaluates it)
            self.el_step = Some((e.t0, e.t1));
            if let Some(err) = el.error_estimate() {
                grid.limit_steps(next_step_size(h, err, self.opts.electrolyte_rtol));
            }
        }
    }

    /// The electrolyte on its own grid: its state at `t` \[s\] (inside its last step) for the
    /// voltage. Nothing to do otherwise.
    fn electrolyte_at(&mut self, t: f64) -> Result<(), CellError> {
        if let (Some((t0, _)), Some(el)) = (self.el_step, self.el.as_mut()) {
            let lowest = el.evaluate_at(t - t0);
            if !(lowest > 0.0) {
                return Err(depleted(lowest, t));
            }
        }
        Ok(())
    }

    /// The BDF2 components (if any) from their state at the step start to `t_end` (the step's
    /// end, or a point inside it for a re-step).
    fn advance_bdf(&mut self, st: &Step, t_end: f64) -> Result<(), CellError> {
        let h = t_end - st.t0;
        if self.start.is_none() || !(h > 0.0) {
            return Ok(());
        }
        let (bdf, omega) = st.bdf(h);
        // the diffusion operators at the step end's (extrapolated) temperature
        self.set_temperature_at(t_end);
        let (p, f) = (self.p, &self.f);
        let i = self.segs[st.seg].current_at(t_end);
        if !self.exact {
            self.neg
                .step_current(h, bdf, omega, i, &p.neg.diffusivity, f.kin_n.fac_d);
            self.pos
                .step_current(h, bdf, omega, i, &p.pos.diffusivity, f.kin_p.fac_d);
        }
        if let Some(e) = self.el.as_mut() {
            e.step(
                h,
                bdf,
                omega,
                f.area.recip() * i,
                &p.electrolyte.diffusivity,
                f.fac_de,
            );
            if !(e.min() > 0.0) {
                return Err(depleted(e.min(), t_end));
            }
        }
        Ok(())
    }

    /// With a temperature that changes in time: the run's constants at its temperature at
    /// time `t` \[s\] ([`CellTemperature::at`]). Nothing to do otherwise.
    #[inline(always)]
    fn set_temperature_at(&mut self, t: f64) {
        if let Some(temp) = self.temperature.as_ref() {
            self.f
                .set_temperature(self.p, temp.at(t), self.neg.particle(), self.pos.particle());
        }
    }

    /// Steps `sts` (one segment, constant current, at most [`BATCH`], exact particles and no
    /// BDF2 component) with the particles advanced as one batch, then each step's voltage,
    /// row and stop test in turn — the same results as [`Run::step`] for each.
    fn step_batch(&mut self, sts: &[Step]) -> Result<Option<Stop<D>>, CellError> {
        let (p, fixed) = (self.p, &self.f);
        let i = self.segs[sts[0].seg].i0;
        let mut hs = [0.0f64; BATCH];
        for (h, st) in hs.iter_mut().zip(sts) {
            *h = st.t1 - st.t0;
        }
        let hs = &hs[..sts.len()];
        self.neg
            .step_exact_batch(hs, i, &p.neg.diffusivity, fixed.kin_n.fac_d);
        self.pos
            .step_exact_batch(hs, i, &p.pos.diffusivity, fixed.kin_p.fac_d);
        for (j, st) in sts.iter().enumerate() {
            self.neg.show_exact_step(j);
            self.pos.show_exact_step(j);
            // (no electrolyte in a batch: the literal lets the SPM's evaluation drop its branches)
            if let Some(c) = self.finish_step(st, i, i, false)? {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// The voltage at time `t_end` \[s\] of step `st` (the step's end, or a point inside it for a
    /// re-step), the components standing there, with current `current` \[A\]; `electrolyte`:
    /// the run has one. With a temperature that changes in time, the voltage at the
    /// temperature extrapolated to `t_end` and the temperature's step end with the heat there
    /// ([`CellTemperature::step_end`], to accept if the step is); the run's constants are left
    /// at that temperature.
    #[inline(always)]
    fn evaluate(
        &mut self,
        st: &Step,
        t_end: f64,
        current: f64,
        electrolyte: bool,
    ) -> (Result<Eval<D>, CellError>, Option<StepEnd<D>>) {
        self.set_temperature_at(t_end);
        let mut out = self.voltage_and_heat(st, t_end, current, electrolyte);
        // after a restart the extrapolation has no slope to go on (the first step) or the one
        // from before a jump of the heat: one more evaluation, at the step end's temperature,
        // keeps the voltage that of T_{n+1} there too (a fixed count of evaluations, so the
        // discrete solution stays smooth in the parameters)
        if st.restart
            && let Some(end) = out.1
        {
            let (neg, pos) = (self.neg.particle(), self.pos.particle());
            self.f.set_temperature(self.p, end.temperature, neg, pos);
            out = self.voltage_and_heat(st, t_end, current, electrolyte);
        }
        out
    }

    /// [`Run::evaluate`] at the run's present constants: the voltage, and with a temperature
    /// that changes, its step end with the heat there.
    #[inline(always)]
    fn voltage_and_heat(
        &mut self,
        st: &Step,
        t_end: f64,
        current: f64,
        electrolyte: bool,
    ) -> (Result<Eval<D>, CellError>, Option<StepEnd<D>>) {
        let (p, f) = (self.p, &self.f);
        let el = if electrolyte { self.el.as_ref() } else { None };
        let ev = voltage(
            p,
            f,
            &self.neg,
            &self.pos,
            el,
            current,
            current,
            t_end,
            &mut self.hints,
        );
        let end = match (self.temperature.as_ref(), ev.as_ref()) {
            (Some(temp), Ok(e)) => {
                Some(temp.step_end(t_end, e.heat(p, f, current).total(), st.restart))
            }
            _ => None,
        };
        (ev, end)
    }

    /// The end of step `st` (currents `i_old`, `i_new` at its ends), the components standing
    /// there: its voltage, the output row if `st` ends at an output time, and the stop (Some)
    /// if the voltage crosses its cut-off or a particle surface leaves (0, 1) inside the step.
    /// `electrolyte`: the run has one (SPMe).
    #[inline(always)]
    fn finish_step(
        &mut self,
        st: &Step,
        i_old: f64,
        i_new: f64,
        electrolyte: bool,
    ) -> Result<Option<Stop<D>>, CellError> {
        let (p, opts) = (self.p, self.opts);
        let h = st.t1 - st.t0;
        self.nsteps += 1;
        let cap_new = self.cap_prev + 0.5 * (i_old + i_new) * h;
        let (ev, end) = self.evaluate(st, st.t1, i_new, electrolyte);
        let low = i_new > 0.0;
        let watch_cutoff = opts.stop_at_cutoff && i_new != 0.0;
        let stopped = match &ev {
            Ok(e) => watch_cutoff && ((low && e.v.re() < p.v_min) || (!low && e.v.re() > p.v_max)),
            Err(e) => watch_cutoff || surface_limit(e).is_some(),
        };
        if stopped {
            return self.stop_in_step(st, i_old, low, watch_cutoff).map(Some);
        }
        let ev = ev?;
        if let (Some(temp), Some(end)) = (self.temperature.as_mut(), end) {
            temp.accept(end);
        }
        let (fixed, neg, pos) = (&self.f, &self.neg, &self.pos);
        let el = if electrolyte { self.el.as_ref() } else { None };
        if !(neg.is_modal() && pos.is_modal()) || st.output.is_some() {
            // (the modal form reconstructs its extremes; the surface, where the range is left
            // first, is checked every step by the voltage)
            check_particle_range(p, neg, pos, st.t1)?;
        }
        if st.output.is_some() {
            let cap = D::from(cap_new / 3600.0);
            let row = fixed.row(p, &ev, neg, pos, el, st.t1, i_new, cap);
            self.rows.push(row);
        }
        self.cap_prev = cap_new;
        self.v_last = Some((st.seg, ev.v.re()));
        Ok(None)
    }

    /// The state at t0 + τ inside step `st` (started at current `i_old`): every component
    /// re-stepped from the step start, and its voltage. Returns the evaluation and the
    /// current there.
    fn state_at(&mut self, st: &Step, i_old: f64, tau: f64) -> (Result<Eval<D>, CellError>, f64) {
        let t = st.t0 + tau;
        let i_t = self.segs[st.seg].current_at(t);
        if self.exact {
            self.set_temperature_at(st.t0 + 0.5 * tau);
            let (p, fixed) = (self.p, &self.f);
            self.neg
                .restep_exact(tau, i_old, i_t, &p.neg.diffusivity, fixed.kin_n.fac_d);
            self.pos
                .restep_exact(tau, i_old, i_t, &p.pos.diffusivity, fixed.kin_p.fac_d);
        }
        if let Some(start) = self.start.as_ref() {
            start.restore(&mut self.neg, &mut self.pos, self.el.as_mut());
            if let Err(e) = self.advance_bdf(st, t) {
                return (Err(e), i_t);
            }
        }
        if let Err(e) = self.electrolyte_at(t) {
            return (Err(e), i_t);
        }
        let electrolyte = self.el.is_some();
        (self.evaluate(st, t, i_t, electrolyte).0, i_t)
    }

    /// The stop inside step `st` (started at current `i_old`), whose end lies beyond the
    /// voltage cut-off or outside the physical range: the first of (a) the cut-off crossing, by
    /// Illinois regula falsi on the re-stepped state (when `watch_cutoff`), and (b) a particle
    /// surface reaching θ = 0 or 1, by bisection on the range; the row there and the stop
    /// time's derivatives by the implicit function theorem. Any other failure is returned.
    fn stop_in_step(
        &mut self,
        st: &Step,
        i_old: f64,
        low: bool,
        watch_cutoff: bool,
    ) -> Result<Stop<D>, CellError> {
        let p = self.p;
        let h = st.t1 - st.t0;
        let vc = if low { p.v_min } else { p.v_max };
        let sign = if low { 1.0 } else { -1.0 };
        // f(τ) positive before the stop, None outside the range: ±(V − V_cut) when watching
        // the cut-off, else 1 (bisection for the range edge)
        let f_of = |e: &Result<Eval<D>, CellError>| -> Option<f64> {
            e.as_ref().ok().map(|e| {
                if watch_cutoff {
                    sign * (e.v.re() - vc)
                } else {
                    1.0
                }
            })
        };
        // f(0): the previous step's end voltage if it ran on the same segment (same
        // current, so the same state and flux term), else evaluated
        let (e0, fa0) = match self.v_last {
            Some((sg, v)) if sg == st.seg => {
                (None, Some(if watch_cutoff { sign * (v - vc) } else { 1.0 }))
            }
            _ => {
                let (e0, _) = self.state_at(st, i_old, 0.0);
                let f = f_of(&e0);
                (Some(e0), f)
            }
        };
        let (ev, _) = self.state_at(st, i_old, h);
        // (τ of the stop, the surface at its limit if that is the stop)
        let (tc_re, limit) = match fa0 {
            Some(f) if f > 0.0 => {
                // Illinois regula falsi (bisection while the right end is out of range);
                // `ga`, `gb` are the true values at the bracket ends
                let (mut a, mut fa, mut ga) = (0.0f64, f, f);
                let (mut b, mut fb) = (h, f_of(&ev));
                let mut gb = fb;
                let mut side = 0i32;
                let tol_t = 1e-13 * st.t1.max(1.0);
                for _ in 0..200 {
                    if b - a <= tol_t {
                        break;
                    }
                    let m = match fb {
                        Some(fbv) => {
                            let m = a + fa * (b - a) / (fa - fbv);
                            if m > a && m < b { m } else { 0.5 * (a + b) }
                        }
                        None => 0.5 * (a + b),
                    };
                    let (em, _) = self.state_at(st, i_old, m);
                    match f_of(&em) {
                        Some(fm) if fm > 0.0 => {
                            a = m;
                            fa = fm;
                            ga = fm;
                            if side == -1
                                && let Some(v) = fb.as_mut()
                            {
                                *v *= 0.5;
                            }
                            side = -1;
                            if watch_cutoff && fm < 1e-14 {
                                break;
                            }
                        }
                        fm => {
                            b = m;
                            fb = fm;
                            gb = fm;
                            if side == 1 {
                                fa *= 0.5;
                            }
                            side = 1;
                            if matches!(fm, Some(v) if v > -1e-14) {
                                break;
                            }
                        }
                    }
                }
                match gb {
                    // final linear interpolation between the true end values
                    Some(g) if ga - g > 0.0 => ((a + ga * (b - a) / (ga - g)).clamp(a, b), None),
                    Some(_) => (b, None),
                    None => {
                        // the range is left before the voltage reaches the cut-off: a surface
                        // limit ends the run at the last point inside the range
                        let err = match self.state_at(st, i_old, b).0 {
                            Ok(_) => unreachable_in_range(b + st.t0),
                            Err(e) => e,
                        };
                        match surface_limit(&err) {
                            Some(l) => (a, Some(l)),
                            None => return Err(err),
                        }
                    }
                }
            }
            Some(_) => (0.0, None),
            None => {
                // out of range right at the step start: report the error
                if let Some(e0) = e0 {
                    e0?;
                }
                ev?;
                (0.0, None)
            }
        };
        // the stopping quantity g (V at a cut-off, θ_s at a surface limit) and its time
        // derivative at the stop by second-order differences of the re-stepped state, δ = 20
        // ms (V carries ~1e-11 V of round-off: relative slope error ~1e-7 from it and
        // δ²·g'''/(6·g') < 1e-6 from truncation): central, or one-sided near the step start
        // and (backward) at a surface limit. A node out of range means the range edge, where
        // V(t) is singular (i0 → 0), lies within δ: δ shrinks 4× until the nodes fit (then
        // d < 4δ), then 64× more, so that the truncation error ~ (δ/d)²/3 of a logarithmic
        // singularity at distance d stays below 1e-4.
        let g_of = |e: &Eval<D>| -> D {
            match limit {
                None => e.v,
                Some((Side::Negative, _)) => e.th_n,
                Some((Side::Positive, _)) => e.th_p,
            }
        };
        let mut dlt = 0.02f64;
        let mut near_edge = false;
        let mut fv = [0.0f64; 2];
        let stencil = loop {
            let nodes: [f64; 2] = if limit.is_some() {
                [-1.0, -2.0]
            } else if tc_re >= dlt {
                [-1.0, 1.0]
            } else {
                [1.0, 2.0]
            };
            let mut ok = tc_re + nodes[1] * dlt >= 0.0 || limit.is_none();
            for (&c, f) in nodes.iter().zip(fv.iter_mut()) {
                if !ok {
                    break;
                }
                match self.state_at(st, i_old, tc_re + c * dlt).0 {
                    Ok(e) => *f = g_of(&e).re(),
                    Err(_) => ok = false,
                }
            }
            match (ok, near_edge) {
                (true, false) => break Some(nodes),
                (true, true) => {
                    dlt /= 64.0;
                    near_edge = false;
                }
                (false, _) if dlt > 1e-9 => {
                    dlt *= 0.25;
                    near_edge = true;
                }
                (false, _) => break None,
            }
        };
        // (the state is left at the stop for the row)
        let (ec, i_c) = self.state_at(st, i_old, tc_re);
        let ec = ec?;
        let g = g_of(&ec);
        let g0 = g.re();
        let slope = match stencil {
            None => f64::NAN,
            Some([a, _]) if a < 0.0 && limit.is_none() => (fv[1] - fv[0]) / (2.0 * dlt),
            Some([a, _]) if a < 0.0 => (3.0 * g0 - 4.0 * fv[0] + fv[1]) / (2.0 * dlt),
            Some(_) => (-3.0 * g0 + 4.0 * fv[0] - fv[1]) / (2.0 * dlt),
        };
        // implicit function theorem: dt_s/dθ = −(∂g/∂θ)/(dg/dt) at g(t_s) = its stop value
        let tc = if slope.is_finite() && slope != 0.0 {
            (g - g0) * (-1.0 / slope) + (st.t0 + tc_re)
        } else {
            D::from(st.t0 + tc_re)
        };
        let cap_re = self.cap_prev + 0.5 * (i_old + i_c) * tc_re;
        let cap_c = (tc - tc.re()) * (i_c / 3600.0) + cap_re / 3600.0;
        let mut row = self.f.row(
            p,
            &ec,
            &self.neg,
            &self.pos,
            self.el.as_ref(),
            tc.re(),
            i_c,
            cap_c,
        );
        let reason = match limit {
            Some((electrode, full)) => StopReason::SurfaceLimit { electrode, full },
            None => {
                row.voltage = D::from(vc);
                if low {
                    StopReason::LowerCutoff
                } else {
                    StopReason::UpperCutoff
                }
            }
        };
        Ok(Stop {
            row,
            time: tc,
            reason,
        })
    }
}

/// The next electrolyte step after one of `h` \[s\] with local error `err` relative to c_e,
/// for the tolerance `rtol`: the error scales as h³, aim at 0.7 of the tolerance, change by
/// 0.2–2×; rounded up to 2^(k/4) s (so within 1.19³·0.7 < 1.2 times the tolerance), so that
/// the sizes — and the discrete solution — are piecewise constant in the parameters and a
/// gradient is the exact derivative of the discrete solution.
fn next_step_size(h: f64, err: f64, rtol: f64) -> f64 {
    let factor = (0.7 * rtol / err).cbrt().clamp(0.2, 2.0);
    ((h * factor).log2() * 4.0).ceil().mul_add(0.25, 0.0).exp2()
}

/// The electrolyte concentration `value` \[mol/m³\] reached 0 at time `t` \[s\].
fn depleted(value: f64, t: f64) -> CellError {
    CellError::OutOfRange {
        quantity: "electrolyte concentration".into(),
        value,
        time_s: t,
        msg: "must stay > 0 mol/m^3 (electrolyte depleted)".into(),
    }
}

/// A bisection's right end always failed (that is how it became the right end).
#[cold]
fn unreachable_in_range(t: f64) -> CellError {
    CellError::OutOfRange {
        quantity: "stop search".into(),
        value: t,
        time_s: t,
        msg: "the state outside the range evaluated inside it on a re-step".into(),
    }
}

/// The particle surface at its limit, if `e` says a surface stoichiometry left (0, 1): which
/// electrode, and whether it is full (θ → 1) or empty (θ → 0).
fn surface_limit(e: &CellError) -> Option<(Side, bool)> {
    match e {
        CellError::OutOfRange {
            quantity, value, ..
        } => {
            let side = match quantity.as_str() {
                super::NEG_SURFACE => Side::Negative,
                super::POS_SURFACE => Side::Positive,
                _ => return None,
            };
            Some((side, *value >= 1.0))
        }
        _ => None,
    }
}
