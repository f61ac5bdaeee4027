//! The exact (exponential) step loop of the SPM with constant solid diffusivities: one step
//! per must-hit time (output times, segment ends), with a cut-off located inside its step on
//! the exact state.

use super::{
    CellError, Eval, ExactSteps, Fixed, Hints, Row, Solution, SolverOptions, Step, StopReason,
    check_particle_range, voltage,
};
use crate::cell::params::CellParams;
use crate::cell::particle::Particle;
use crate::cell::protocol::Segment;
use crate::model::Scalar;

/// Most steps advanced as one batch (a cut-off inside a batch wastes the steps after it).
const BATCH: usize = 16;

/// Where a solve stopped at a cut-off: the row there, the crossing time [s] with its
/// derivatives, and which cut-off.
struct Cutoff<D> {
    row: Row<D>,
    time: D,
    stop: StopReason,
}

/// The state of an exact SPM solve between steps.
pub(super) struct ExactRun<'a, D: Scalar> {
    p: &'a CellParams<D>,
    f: &'a Fixed<D>,
    segs: &'a [Segment],
    opts: &'a SolverOptions,
    pn: Particle<D>,
    pp: Particle<D>,
    hints: Hints,
    rows: Vec<Row<D>>,
    /// discharged charge at the end of the last step [A·s]
    cap_prev: f64,
    nsteps: usize,
    /// (segment, V) at the end of the last step
    v_last: Option<(usize, f64)>,
}

impl<'a, D: Scalar> ExactRun<'a, D> {
    /// A run from the initial particles (`rows`: the output row at t = 0, if requested).
    pub(super) fn new(
        p: &'a CellParams<D>,
        f: &'a Fixed<D>,
        segs: &'a [Segment],
        opts: &'a SolverOptions,
        (pn, pp): (Particle<D>, Particle<D>),
        hints: Hints,
        rows: Vec<Row<D>>,
    ) -> Self {
        Self {
            p,
            f,
            segs,
            opts,
            pn,
            pp,
            hints,
            rows,
            cap_prev: 0.0,
            nsteps: 0,
            v_last: None,
        }
    }

    /// Step through the grid of `outs` to the end of the protocol or the cut-off.
    pub(super) fn run(mut self, outs: Vec<f64>) -> Result<Solution<D>, CellError> {
        let mut grid = ExactSteps::new(self.segs, &outs, 10.0 * self.opts.dt_max);
        let mut cutoff = None;
        // runs of steps at one constant current go through the particles as a batch
        let mut batch = Vec::with_capacity(BATCH);
        while grid.next_batch(&mut batch, BATCH) {
            let c = if batch.len() > 1 {
                self.step_batch(&batch)?
            } else {
                self.step(&batch[0])?
            };
            batch.clear();
            if let Some(c) = c {
                cutoff = Some(c);
                break;
            }
        }
        let (cutoff, cutoff_time, stop) = match cutoff {
            Some(c) => (Some(c.row), Some(c.time), c.stop),
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

    /// One step: the particles advanced, then [`ExactRun::finish_step`].
    fn step(&mut self, st: &Step) -> Result<Option<Cutoff<D>>, CellError> {
        let (p, fixed) = (self.p, self.f);
        let seg = &self.segs[st.seg];
        let h = st.t1 - st.t0;
        let i_old = seg.current_at(st.t0);
        let i_new = seg.current_at(st.t1);
        self.pn
            .step_exact(h, i_old, i_new, &p.neg.diffusivity, fixed.kin_n.fac_d);
        self.pp
            .step_exact(h, i_old, i_new, &p.pos.diffusivity, fixed.kin_p.fac_d);
        self.finish_step(st, i_old, i_new)
    }

    /// Steps `sts` (one segment, constant current, at most [`BATCH`]) with the particles
    /// advanced as one batch, then each step's voltage, row and cut-off test in turn — the
    /// same results as [`ExactRun::step`] for each.
    fn step_batch(&mut self, sts: &[Step]) -> Result<Option<Cutoff<D>>, CellError> {
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
            if let Some(c) = self.finish_step(st, i, i)? {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// The end of step `st` (currents `i_old`, `i_new` at its ends), the particles standing
    /// there: its voltage, the output row if `st` ends at an output time, and the cut-off (Some)
    /// if the voltage crosses it inside the step.
    #[inline(always)]
    fn finish_step(
        &mut self,
        st: &Step,
        i_old: f64,
        i_new: f64,
    ) -> Result<Option<Cutoff<D>>, CellError> {
        let (p, fixed, opts) = (self.p, self.f, self.opts);
        let (pn, pp, hints) = (&self.pn, &self.pp, &mut self.hints);
        let h = st.t1 - st.t0;
        self.nsteps += 1;
        let cap_new = self.cap_prev + 0.5 * (i_old + i_new) * h;
        let ev = voltage(p, fixed, pn, pp, None, i_new, i_new, st.t1, hints);
        let low = i_new > 0.0;
        let crossed = opts.stop_at_cutoff
            && i_new != 0.0
            && match &ev {
                Ok(e) => (low && e.v.re() < p.v_min) || (!low && e.v.re() > p.v_max),
                Err(_) => true,
            };
        if crossed {
            return self.cutoff_in_step(st, i_old, low, ev).map(Some);
        }
        let ev = ev?;
        if st.output.is_some() {
            check_particle_range(p, pn, pp, st.t1)?;
            self.rows
                .push(fixed.row(&ev, pn, pp, None, st.t1, i_new, D::from(cap_new / 3600.0)));
        }
        self.cap_prev = cap_new;
        self.v_last = Some((st.seg, ev.v.re()));
        Ok(None)
    }

    /// The cut-off crossing inside step `st` (started at current `i_old`, whose end voltage
    /// `ev` lies beyond the cut-off or outside the range): its time by regula falsi on the
    /// exact state, the row there and the crossing time's derivatives.
    fn cutoff_in_step(
        &mut self,
        st: &Step,
        i_old: f64,
        low: bool,
        ev: Result<Eval<D>, CellError>,
    ) -> Result<Cutoff<D>, CellError> {
        let (p, fixed) = (self.p, self.f);
        let seg = &self.segs[st.seg];
        let h = st.t1 - st.t0;
        let (pn, pp, hints) = (&mut self.pn, &mut self.pp, &mut self.hints);
        let vc = if low { p.v_min } else { p.v_max };
        let sign = if low { 1.0 } else { -1.0 };
        // the state at t0 + τ is exact for any τ in the step: V(t0 + τ) and
        // f(τ) = ±(V − V_cut), positive before the crossing (None: outside the range)
        let at = |tau: f64,
                  pn: &mut Particle<D>,
                  pp: &mut Particle<D>,
                  hints: &mut Hints|
         -> (Result<Eval<D>, CellError>, f64) {
            let i_t = seg.current_at(st.t0 + tau);
            pn.restep_exact(tau, i_old, i_t, &p.neg.diffusivity, fixed.kin_n.fac_d);
            pp.restep_exact(tau, i_old, i_t, &p.pos.diffusivity, fixed.kin_p.fac_d);
            let e = voltage(p, fixed, pn, pp, None, i_t, i_t, st.t0 + tau, hints);
            (e, i_t)
        };
        let f_of = |e: &Result<Eval<D>, CellError>| -> Option<f64> {
            e.as_ref().ok().map(|e| sign * (e.v.re() - vc))
        };
        // f(0): the previous step's end voltage if it ran on the same segment (same
        // current, so the same state and flux term), else evaluated
        let (e0, fa0) = match self.v_last {
            Some((sg, v)) if sg == st.seg => (None, Some(sign * (v - vc))),
            _ => {
                let (e0, _) = at(0.0, pn, pp, hints);
                let f = f_of(&e0);
                (Some(e0), f)
            }
        };
        let tc_re = match fa0 {
            Some(f) if f > 0.0 => {
                // Illinois regula falsi (bisection while the right end is out of
                // range); `ga`, `gb` are the true values at the bracket ends
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
                    let (em, _) = at(m, pn, pp, hints);
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
                            if fm < 1e-14 {
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
                // final linear interpolation between the true end values
                let fb = gb.map(|g| {
                    if ga - g > 0.0 {
                        (a + ga * (b - a) / (ga - g)).clamp(a, b)
                    } else {
                        b
                    }
                });
                match fb {
                    Some(t) => t,
                    None => {
                        // the range is left before the voltage reaches the cut-off
                        let (eb, _) = at(b, pn, pp, hints);
                        eb?;
                        b
                    }
                }
            }
            Some(_) => 0.0,
            None => {
                // out of range right at the step start: report the error
                if let Some(e0) = e0 {
                    e0?;
                }
                ev?;
                0.0
            }
        };
        // dV/dt at the crossing: second-order differences of the exact state, δ = 20 ms
        // (V carries ~1e-11 V of round-off: relative slope error ~1e-7 from it and
        // δ²·V'''/(6·V') < 1e-6 from truncation); central, or forward near the step start.
        // A node out of range means the range edge, where V(t) is singular (i0 → 0), lies
        // within δ: δ shrinks 4× until the nodes fit (then d < 4δ), then 64× more, so that
        // the truncation error ~ (δ/d)²/3 of a logarithmic singularity at distance d stays
        // below 1e-4.
        let mut dlt = 0.02f64;
        let mut near_edge = false;
        let mut fv = [0.0f64; 2];
        let stencil = loop {
            let nodes: [f64; 2] = if tc_re >= dlt {
                [-1.0, 1.0]
            } else {
                [1.0, 2.0]
            };
            let ok = nodes.iter().zip(fv.iter_mut()).all(|(&c, f)| {
                at(tc_re + c * dlt, pn, pp, hints)
                    .0
                    .map(|e| *f = e.v.re())
                    .is_ok()
            });
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
        // (the state is left at the crossing for the row)
        let (ec, i_c) = at(tc_re, pn, pp, hints);
        let ec = ec?;
        let v0 = ec.v.re();
        let slope = match stencil {
            None => f64::NAN,
            Some(nodes) if nodes[0] < 0.0 => (fv[1] - fv[0]) / (2.0 * dlt),
            Some(_) => (-3.0 * v0 + 4.0 * fv[0] - fv[1]) / (2.0 * dlt),
        };
        // implicit function theorem: dt_c/dθ = −(∂V/∂θ)/(dV/dt) at V(t_c) = V_cut
        let tc = if slope.is_finite() && slope != 0.0 {
            (ec.v - ec.v.re()) * (-1.0 / slope) + (st.t0 + tc_re)
        } else {
            D::from(st.t0 + tc_re)
        };
        let cap_re = self.cap_prev + 0.5 * (i_old + i_c) * tc_re;
        let cap_c = (tc - tc.re()) * (i_c / 3600.0) + cap_re / 3600.0;
        let mut row = fixed.row(&ec, pn, pp, None, tc.re(), i_c, cap_c);
        row.voltage = D::from(vc);
        Ok(Cutoff {
            row,
            time: tc,
            stop: if low {
                StopReason::LowerCutoff
            } else {
                StopReason::UpperCutoff
            },
        })
    }
}
