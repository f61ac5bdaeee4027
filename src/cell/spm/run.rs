//! The one time loop of the SPM and SPMe: steps from one must-hit time (output times, segment
//! ends) to the next, each component advanced by its integrator, the voltage and the stop
//! tests at every step end, and one search that locates a stop inside its step.
//!
//! Integrators (chosen in [`super::simulate`]):
//! - particles with a constant diffusivity in modal form: the exact (exponential) step, no
//!   time-discretisation error, one step per must-hit interval (at most 10·`dt_max`);
//! - otherwise (θ-dependent D_s, the tridiagonal form, second-order duals, or
//!   `exponential = false`) and for the SPMe electrolyte: variable-step BDF2 with steps of at
//!   most `dt_max`, restarted with backward Euler and graded step sizes at t = 0 and at every
//!   current jump ([`BdfSteps`]); exact particles then take the same steps.
//!
//! A step is re-evaluated at any point t0 + τ inside it: exact particles re-step from their
//! start modes, BDF2 components take the step again from a copy of their start state with
//! size τ, so V(t0 + τ) is continuous in τ.

use super::{
    CellError, Eval, Fixed, Hints, Row, Solution, SolverOptions, StopReason, check_particle_range,
    voltage,
};
use crate::cell::params::CellParams;
use crate::cell::particle::{Bdf, Particle};
use crate::cell::protocol::Segment;
use crate::cell::spme::{ElectrolyteState, Side};
use crate::model::Scalar;

/// Most steps advanced as one batch (a cut-off inside a batch wastes the steps after it).
const BATCH: usize = 16;

/// Step-size growth per BDF2 step after a restart.
const GROWTH: f64 = 1.25;

/// Where a solve stopped before the end of its protocol: the row there, the stop time [s]
/// with its derivatives, and why.
struct Stop<D> {
    row: Row<D>,
    time: D,
    reason: StopReason,
}

/// One step of the time loop from `t0` to `t1` [s] in segment `seg`, ending at output time
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
            restart: false,
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
    /// the size the next step grows from [s]
    h_last: f64,
    /// size of the last step [s] (NaN before the first)
    h_prev: f64,
    grading: bool,
    restart: bool,
    t_restart: f64,
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
                self.h_last = dt_max / 1000.0 / GROWTH;
                self.grading = true;
                self.restart = true;
                self.t_restart = self.iv.a;
            }
        }
        let (t, b) = (self.t, self.iv.b);
        let rem = b - t;
        let h = if self.grading {
            // ratio ≤ GROWTH; a short remainder is split rather than left as a sliver
            let cap = dt_max.min(self.h_last * GROWTH);
            if rem <= cap * (1.0 + 1e-9) {
                rem
            } else if rem <= 1.5 * cap {
                0.5 * rem
            } else {
                cap
            }
        } else {
            let cap = dt_max.min(2.0 * self.h_last);
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
/// unless they step exactly, the electrolyte if there is one.
struct Start<D> {
    particles: Option<(Particle<D>, Particle<D>)>,
    el: Option<ElectrolyteState<D>>,
}

impl<D: Scalar> Start<D> {
    /// Take the components' state from the run.
    fn save(&mut self, pn: &Particle<D>, pp: &Particle<D>, el: Option<&ElectrolyteState<D>>) {
        if let Some((n, p)) = self.particles.as_mut() {
            n.copy_state_from(pn);
            p.copy_state_from(pp);
        }
        if let (Some(s), Some(e)) = (self.el.as_mut(), el) {
            s.copy_state_from(e);
        }
    }

    /// Put the saved state back into the run.
    fn restore(
        &self,
        pn: &mut Particle<D>,
        pp: &mut Particle<D>,
        el: Option<&mut ElectrolyteState<D>>,
    ) {
        if let Some((n, p)) = self.particles.as_ref() {
            pn.copy_state_from(n);
            pp.copy_state_from(p);
        }
        if let (Some(e), Some(s)) = (el, self.el.as_ref()) {
            e.copy_state_from(s);
        }
    }
}

/// The state of a solve between steps.
pub(super) struct Run<'a, D: Scalar> {
    p: &'a CellParams<D>,
    f: &'a Fixed<D>,
    segs: &'a [Segment],
    opts: &'a SolverOptions,
    pn: Particle<D>,
    pp: Particle<D>,
    /// the particles take exact steps (else BDF2 steps)
    exact: bool,
    /// the SPMe electrolyte (BDF2 steps)
    el: Option<ElectrolyteState<D>>,
    /// the BDF2 components' state at the start of the step (None: every component is exact)
    start: Option<Start<D>>,
    hints: Hints,
    rows: Vec<Row<D>>,
    /// discharged charge at the end of the last step [A·s]
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
        f: &'a Fixed<D>,
        segs: &'a [Segment],
        opts: &'a SolverOptions,
        (pn, pp): (Particle<D>, Particle<D>),
        exact: bool,
        el: Option<ElectrolyteState<D>>,
        hints: Hints,
        rows: Vec<Row<D>>,
    ) -> Self {
        let start = (!exact || el.is_some()).then(|| Start {
            particles: (!exact).then(|| (pn.clone(), pp.clone())),
            el: el.clone(),
        });
        Self {
            p,
            f,
            segs,
            opts,
            pn,
            pp,
            exact,
            el,
            start,
            hints,
            rows,
            cap_prev: 0.0,
            nsteps: 0,
            v_last: None,
        }
    }

    /// Step through the grid of `outs` to the end of the protocol or a stop.
    pub(super) fn run(mut self, outs: Vec<f64>) -> Result<Solution<D>, CellError> {
        // exact steps span up to 10·dt_max (the voltage is watched at their ends)
        let mut grid = match self.start {
            None => Grid::Exact(ExactSteps::new(self.segs, &outs, 10.0 * self.opts.dt_max)),
            Some(_) => Grid::Bdf(BdfSteps::new(self.segs, &outs, self.opts.dt_max)),
        };
        let mut stop = None;
        // runs of exact steps at one constant current go through the particles as a batch
        let batch_max = if self.start.is_none() { BATCH } else { 1 };
        let mut batch = Vec::with_capacity(batch_max);
        while grid.next_batch(&mut batch, batch_max) {
            let s = if batch.len() > 1 {
                self.step_batch(&batch)?
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
        })
    }

    /// One step: every component advanced, then [`Run::finish_step`].
    fn step(&mut self, st: &Step) -> Result<Option<Stop<D>>, CellError> {
        let seg = &self.segs[st.seg];
        let (i_old, i_new) = (seg.current_at(st.t0), seg.current_at(st.t1));
        if let Some(start) = self.start.as_mut() {
            start.save(&self.pn, &self.pp, self.el.as_ref());
        }
        if self.exact {
            let (p, f) = (self.p, self.f);
            let h = st.t1 - st.t0;
            self.pn
                .step_exact(h, i_old, i_new, &p.neg.diffusivity, f.kin_n.fac_d);
            self.pp
                .step_exact(h, i_old, i_new, &p.pos.diffusivity, f.kin_p.fac_d);
        }
        self.advance_bdf(st, st.t1)?;
        self.finish_step(st, i_old, i_new, self.el.is_some())
    }

    /// The BDF2 components (if any) from their state at the step start to `t_end` (the step's
    /// end, or a point inside it for a re-step).
    fn advance_bdf(&mut self, st: &Step, t_end: f64) -> Result<(), CellError> {
        let h = t_end - st.t0;
        if self.start.is_none() || !(h > 0.0) {
            return Ok(());
        }
        let (p, f) = (self.p, self.f);
        let (bdf, omega) = st.bdf(h);
        let i = self.segs[st.seg].current_at(t_end);
        if !self.exact {
            self.pn
                .step_current(h, bdf, omega, i, &p.neg.diffusivity, f.kin_n.fac_d);
            self.pp
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
                return Err(CellError::OutOfRange {
                    quantity: "electrolyte concentration".into(),
                    value: e.min(),
                    time_s: t_end,
                    msg: "must stay > 0 mol/m^3 (electrolyte depleted)".into(),
                });
            }
        }
        Ok(())
    }

    /// Steps `sts` (one segment, constant current, at most [`BATCH`], exact particles and no
    /// BDF2 component) with the particles advanced as one batch, then each step's voltage,
    /// row and stop test in turn — the same results as [`Run::step`] for each.
    fn step_batch(&mut self, sts: &[Step]) -> Result<Option<Stop<D>>, CellError> {
        let (p, fixed) = (self.p, self.f);
        let i = self.segs[sts[0].seg].i0;
        let mut hs = [0.0f64; BATCH];
        for (h, st) in hs.iter_mut().zip(sts) {
            *h = st.t1 - st.t0;
        }
        let hs = &hs[..sts.len()];
        self.pn
            .step_exact_batch(hs, i, &p.neg.diffusivity, fixed.kin_n.fac_d);
        self.pp
            .step_exact_batch(hs, i, &p.pos.diffusivity, fixed.kin_p.fac_d);
        for (j, st) in sts.iter().enumerate() {
            self.pn.show_exact_step(j);
            self.pp.show_exact_step(j);
            // (no electrolyte in a batch: the literal lets the SPM's evaluation drop its branches)
            if let Some(c) = self.finish_step(st, i, i, false)? {
                return Ok(Some(c));
            }
        }
        Ok(None)
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
        let (p, fixed, opts) = (self.p, self.f, self.opts);
        let el = if electrolyte { self.el.as_ref() } else { None };
        let h = st.t1 - st.t0;
        self.nsteps += 1;
        let cap_new = self.cap_prev + 0.5 * (i_old + i_new) * h;
        let ev = voltage(
            p,
            fixed,
            &self.pn,
            &self.pp,
            el,
            i_new,
            i_new,
            st.t1,
            &mut self.hints,
        );
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
        let (pn, pp) = (&self.pn, &self.pp);
        if !(pn.is_modal() && pp.is_modal()) || st.output.is_some() {
            // (the modal form reconstructs its extremes; the surface, where the range is left
            // first, is checked every step by the voltage)
            check_particle_range(p, pn, pp, st.t1)?;
        }
        if st.output.is_some() {
            self.rows
                .push(fixed.row(&ev, pn, pp, el, st.t1, i_new, D::from(cap_new / 3600.0)));
        }
        self.cap_prev = cap_new;
        self.v_last = Some((st.seg, ev.v.re()));
        Ok(None)
    }

    /// The state at t0 + τ inside step `st` (started at current `i_old`): every component
    /// re-stepped from the step start, and its voltage. Returns the evaluation and the
    /// current there.
    fn state_at(&mut self, st: &Step, i_old: f64, tau: f64) -> (Result<Eval<D>, CellError>, f64) {
        let (p, fixed) = (self.p, self.f);
        let t = st.t0 + tau;
        let i_t = self.segs[st.seg].current_at(t);
        if self.exact {
            self.pn
                .restep_exact(tau, i_old, i_t, &p.neg.diffusivity, fixed.kin_n.fac_d);
            self.pp
                .restep_exact(tau, i_old, i_t, &p.pos.diffusivity, fixed.kin_p.fac_d);
        }
        if let Some(start) = self.start.as_ref() {
            start.restore(&mut self.pn, &mut self.pp, self.el.as_mut());
            if let Err(e) = self.advance_bdf(st, t) {
                return (Err(e), i_t);
            }
        }
        let ev = voltage(
            p,
            fixed,
            &self.pn,
            &self.pp,
            self.el.as_ref(),
            i_t,
            i_t,
            t,
            &mut self.hints,
        );
        (ev, i_t)
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
            &ec,
            &self.pn,
            &self.pp,
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
