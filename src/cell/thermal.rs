//! The cell temperature of a solve: constant (isothermal), the lumped thermal model, or a
//! measured series.
//!
//! Lumped model (PyBaMM's `thermal: "lumped"`), the whole cell one thermal mass:
//! C·dT/dt = Q(t) − G·(T − T_amb), T(0) = T_init, with C = ρ·c_p·V \[J/K\], G = h·A_cool \[W/K\]
//! and Q the heat the cell generates ([`super::spm::Heat`]). The temperature is a state of
//! the solve that steps with the run's steps by variable-step BDF2 (backward Euler for the
//! first), (β0·T_{n+1} − β1·T_n + β2·T_{n−1})·C/h = Q* − G·(T_{n+1} − T_amb), so every Arrhenius
//! factor, the OCPs' entropic terms and 2RT/F carry exact derivatives through it. The heat
//! generated and the heat removed are integrated by the same formula, so the discrete energy
//! balance C·(T − T_init) = ∫Q dt − ∫G·(T − T_amb) dt holds to round-off.
//!
//! Linearly implicit: the cell is evaluated (voltage, heat Q*) once per step, at the
//! temperature T* = T_n + (T_n − T_{n−1})·h/h_b extrapolated from the two step ends before
//! (second order), and the linear cooling term is implicit. T* misses T_{n+1} by O(h²·T''),
//! a few mK at 10 s steps early in a 1C discharge of LG M50 where T'' is largest, so the local
//! error h·(∂Q/∂T)·(T* − T_{n+1})/C stays third order; iterating to T_{n+1} would cost a second
//! evaluation of the cell per step (against PyBaMM the voltage stays within 0.19 mV (SPM) and
//! 0.77 mV (SPMe), the temperature within 0.013 K at 1C, as with the iteration). A restart step
//! (t = 0, a current jump), where the extrapolation has no slope to go on, is evaluated a
//! second time at T_{n+1}. Components that step beside
//! the temperature take it where they need it from the same extrapolation ([`CellTemperature::at`]):
//! exact particle steps at the step's midpoint, an electrolyte on its own grid at its step's
//! end. A measured temperature enters the same way, its values taken from the series, so a
//! measured series equal to the model's own T(t) reproduces the model's voltage.

use super::CellError;
use super::params::CellParams;
use crate::model::Scalar;
use crate::numerics::bdf::Bdf;
use std::sync::Arc;

/// How a solve sets the cell temperature.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum ThermalOption {
    /// Constant at the cell's temperature ([`CellParams::temperature`]).
    #[default]
    Isothermal,
    /// The lumped thermal model with the cell's [`super::params::ThermalParams`].
    Lumped,
    /// A measured temperature series (e.g. the cycler's cell-temperature column).
    Measured(Arc<TemperatureSeries>),
}

impl ThermalOption {
    /// Parse "isothermal" or "lumped" (a measured series comes from a file, not a name).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "isothermal" => Some(Self::Isothermal),
            "lumped" => Some(Self::Lumped),
            _ => None,
        }
    }
}

/// A measured temperature T(t), linear between its points and constant beyond its ends.
#[derive(Debug, Clone, PartialEq)]
pub struct TemperatureSeries {
    time_s: Vec<f64>,
    temperature_k: Vec<f64>,
}

impl TemperatureSeries {
    /// A series from times \[s\] (increasing) and temperatures \[K\] (finite, > 0); `source`
    /// names where they come from in an error (the file and column).
    pub fn new(time_s: Vec<f64>, temperature_k: Vec<f64>, source: &str) -> Result<Self, CellError> {
        let bad = |msg: String| CellError::Protocol(format!("temperature series {source}: {msg}"));
        if time_s.is_empty() || time_s.len() != temperature_k.len() {
            return Err(bad(format!(
                "{} times and {} temperatures: expected the same, at least one",
                time_s.len(),
                temperature_k.len()
            )));
        }
        for (k, w) in time_s.windows(2).enumerate() {
            if !(w[1] > w[0]) {
                return Err(bad(format!(
                    "time {} s at point {} does not follow {} s: expected increasing times",
                    w[1],
                    k + 2,
                    w[0]
                )));
            }
        }
        if let Some((k, &t)) = temperature_k
            .iter()
            .enumerate()
            .find(|&(_, &t)| !(t > 0.0 && t.is_finite()))
        {
            return Err(bad(format!(
                "temperature {t} K at point {}: expected a finite absolute temperature > 0 K",
                k + 1
            )));
        }
        Ok(Self {
            time_s,
            temperature_k,
        })
    }

    /// T at time `t` \[s\] \[K\].
    pub fn at(&self, t: f64) -> f64 {
        let (ts, ys) = (&self.time_s, &self.temperature_k);
        let k = ts.partition_point(|&x| x <= t);
        if k == 0 {
            return ys[0];
        }
        if k == ts.len() {
            return ys[k - 1];
        }
        let w = (t - ts[k - 1]) / (ts[k] - ts[k - 1]);
        ys[k - 1] + w * (ys[k] - ys[k - 1])
    }
}

/// Where the temperature of a non-isothermal solve comes from.
#[derive(Debug, Clone)]
enum Source<D> {
    /// The lumped model: heat capacity C \[J/K\], conductance G \[W/K\], ambient T \[K\].
    Lumped {
        capacity: D,
        conductance: D,
        ambient: D,
    },
    Measured(Arc<TemperatureSeries>),
}

/// The temperature of a non-isothermal solve at the last two step ends, with the heat
/// generated and removed since t = 0 \[J\] (lumped model).
#[derive(Debug, Clone)]
pub struct CellTemperature<D> {
    source: Source<D>,
    /// T at t = 0 \[K\]
    t_init: D,
    t: D,
    t_old: D,
    /// the time of the last step end \[s\] and the size of that step \[s\] (NaN before the first)
    time_s: f64,
    h_last: f64,
    generated: [D; 2],
    removed: [D; 2],
}

/// The temperature and heats at a step's end (not yet accepted).
#[derive(Debug, Clone, Copy)]
pub struct StepEnd<D> {
    /// Cell temperature at the step's end \[K\].
    pub temperature: D,
    time_s: f64,
    generated: D,
    removed: D,
}

impl<D: Scalar> CellTemperature<D> {
    /// The temperature of a solve of `p` with `option`: None for an isothermal solve.
    pub fn new(p: &CellParams<D>, option: &ThermalOption) -> Result<Option<Self>, CellError> {
        let (source, t0) = match option {
            ThermalOption::Isothermal => return Ok(None),
            ThermalOption::Lumped => {
                let th = p
                    .thermal
                    .as_ref()
                    .ok_or_else(|| CellError::InvalidParameter {
                        name: "cell thermal properties".into(),
                        value: f64::NAN,
                        expected: "density, specific heat capacity, volume and external surface \
                               area (BPX Parameterisation/Cell) for the lumped thermal model"
                            .into(),
                    })?;
                (
                    Source::Lumped {
                        capacity: th.heat_capacity(),
                        conductance: th.conductance(),
                        ambient: p.temperature,
                    },
                    th.initial_temperature,
                )
            }
            ThermalOption::Measured(series) => {
                (Source::Measured(series.clone()), D::from(series.at(0.0)))
            }
        };
        let z = D::zero();
        Ok(Some(Self {
            source,
            t_init: t0,
            t: t0,
            t_old: t0,
            time_s: 0.0,
            h_last: f64::NAN,
            generated: [z; 2],
            removed: [z; 2],
        }))
    }

    /// The temperature at t = 0 \[K\].
    pub fn initial(&self) -> D {
        self.t_init
    }

    /// The temperature at time `time_s` \[s\] (at or after the last step end): the measured
    /// value, or the lumped model's extrapolation from the last two step ends (the last one's
    /// before the first step).
    pub fn at(&self, time_s: f64) -> D {
        match &self.source {
            Source::Measured(series) => D::from(series.at(time_s)),
            Source::Lumped { .. } if self.h_last.is_nan() => self.t,
            Source::Lumped { .. } => {
                self.t + (self.t - self.t_old) * ((time_s - self.time_s) / self.h_last)
            }
        }
    }

    /// The state at the step end `time_s` \[s\] with the cell generating heat Q = `heat` \[W\]
    /// there, evaluated at [`CellTemperature::at`]`(time_s)`: the lumped model's T_{n+1}
    /// (BDF2 with the step ratio to the last step; backward Euler for the first step, after a
    /// current jump (`restart`: Q jumps, and BDF2's history would spread the jump over the
    /// steps after it, an O(h·ΔQ) error in the heat integrals) or at a ratio above 2.4, where
    /// variable-step BDF2 loses zero-stability); the measured value.
    pub fn step_end(&self, time_s: f64, heat: D, restart: bool) -> StepEnd<D> {
        let (capacity, conductance, ambient) = match &self.source {
            Source::Measured(series) => {
                return StepEnd {
                    temperature: D::from(series.at(time_s)),
                    time_s,
                    generated: self.generated[1],
                    removed: self.removed[1],
                };
            }
            Source::Lumped {
                capacity,
                conductance,
                ambient,
            } => (*capacity, *conductance, *ambient),
        };
        let h = time_s - self.time_s;
        let omega = h / self.h_last;
        let bdf = if !restart && omega <= 2.4 {
            Bdf::bdf2(omega)
        } else {
            Bdf::EULER
        };
        // β0·X_{n+1} − β1·X_n + β2·X_{n−1} = h·f_{n+1}, for T, ∫Q dt and ∫G·(T − T_amb) dt
        let history = |x: D, x_old: D| x * bdf.b1 - x_old * bdf.b2;
        let temperature = (history(self.t, self.t_old) * capacity
            + (heat + conductance * ambient) * h)
            / (capacity * bdf.b0 + conductance * h);
        StepEnd {
            temperature,
            time_s,
            generated: (history(self.generated[1], self.generated[0]) + heat * h) * (1.0 / bdf.b0),
            removed: (history(self.removed[1], self.removed[0])
                + (temperature - ambient) * conductance * h)
                * (1.0 / bdf.b0),
        }
    }

    /// Accept a step's end as the new state.
    pub fn accept(&mut self, end: StepEnd<D>) {
        self.t_old = self.t;
        self.t = end.temperature;
        self.h_last = end.time_s - self.time_s;
        self.time_s = end.time_s;
        self.generated = [self.generated[1], end.generated];
        self.removed = [self.removed[1], end.removed];
    }

    /// The lumped model's energy balance at the last accepted step end; None for a measured
    /// temperature.
    pub fn balance(&self) -> Option<HeatBalance<D>> {
        match &self.source {
            Source::Lumped { capacity, .. } => Some(HeatBalance {
                generated_j: self.generated[1],
                removed_j: self.removed[1],
                stored_j: (self.t - self.t_init) * *capacity,
            }),
            Source::Measured(_) => None,
        }
    }
}

/// The lumped model's heat since t = 0 \[J\], as its time stepping integrates it: generated
/// ∫Q dt, removed ∫h·A_cool·(T − T_amb) dt and stored ρ·c_p·V·(T − T_init). The discrete
/// balance stored = generated − removed holds to round-off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeatBalance<D> {
    /// Heat generated, ∫Q dt \[J\].
    pub generated_j: D,
    /// Heat removed by cooling, ∫h·A_cool·(T − T_amb) dt \[J\].
    pub removed_j: D,
    /// Heat stored, ρ·c_p·V·(T − T_init) \[J\].
    pub stored_j: D,
}
