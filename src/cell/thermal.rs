//! The cell temperature of a solve: constant (isothermal), the lumped thermal model, or a
//! measured series.
//!
//! Lumped model (PyBaMM's `thermal: "lumped"`), the whole cell one thermal mass:
//! C·dT/dt = Q(t) − G·(T − T_amb), T(0) = T_init, with C = ρ·c_p·V [J/K], G = h·A_cool [W/K]
//! and Q the heat the cell generates ([`super::spm::Heat`]). The temperature is a state of
//! the solve: it steps on the shared BDF2 grid with the particles and the electrolyte,
//! (β0·T_{n+1} − β1·T_n + β2·T_{n−1})·C/h = Q_{n+1} − G·(T_{n+1} − T_amb), so every
//! Arrhenius factor, the OCPs' entropic terms and 2RT/F carry exact derivatives through it.
//! The heat generated and the heat removed are integrated by the same formula, so the discrete
//! energy balance C·(T − T_init) = ∫Q dt − ∫G·(T − T_amb) dt holds to round-off.
//!
//! Within a step the diffusion operators use the temperature extrapolated from the two step
//! ends before it (T* = T_n + ω·(T_n − T_{n−1}), ω the step ratio: second order, as the
//! extrapolated state of a θ-dependent D_s), and the voltage and heat at the step's end use
//! T_{n+1} itself, found by fixed-point iteration (the map T ↦ T_{n+1}(Q(T)) contracts by
//! h·∂Q/∂T/C, ~1e-3 at 10 s steps). A measured temperature enters the same way, its values at
//! the step ends taken from the series, so a measured series equal to the model's own T(t)
//! reproduces the model's voltage.

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
    /// A series from times [s] (increasing) and temperatures [K] (finite, > 0); `source`
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

    /// T at time `t` [s] [K].
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
    /// The lumped model: heat capacity C [J/K], conductance G [W/K], ambient T [K].
    Lumped {
        capacity: D,
        conductance: D,
        ambient: D,
    },
    Measured(Arc<TemperatureSeries>),
}

/// Fixed-point iterations of the implicit temperature at most, and their tolerance [K]: the
/// voltage is then that of a temperature within 1e-7 K of the step end's (~1e-10 V), usually
/// after two evaluations from the extrapolated one.
const MAX_ITERATIONS: usize = 20;
const TOLERANCE_K: f64 = 1e-7;

/// The temperature of a non-isothermal solve at the last two step ends, with the heat
/// generated and removed since t = 0 [J] (lumped model).
#[derive(Debug, Clone)]
pub struct CellTemperature<D> {
    source: Source<D>,
    /// T at t = 0 [K]
    t_init: D,
    t: D,
    t_old: D,
    generated: [D; 2],
    removed: [D; 2],
}

/// The temperature and heats at a step's end (not yet accepted).
#[derive(Debug, Clone, Copy)]
pub struct StepEnd<D> {
    pub temperature: D,
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
            generated: [z; 2],
            removed: [z; 2],
        }))
    }

    /// Whether the temperature is a state of the solve (the lumped model), so that it carries
    /// the derivatives of every input.
    pub fn is_state(&self) -> bool {
        matches!(self.source, Source::Lumped { .. })
    }

    /// The temperature at t = 0 [K].
    pub fn initial(&self) -> D {
        self.t_init
    }

    /// The temperature the diffusion operators of a step use: extrapolated from the last two
    /// step ends with the step ratio `omega` (0 after a restart: the last step end's).
    pub fn predicted(&self, omega: f64) -> D {
        if omega == 0.0 {
            self.t
        } else {
            self.t + (self.t - self.t_old) * omega
        }
    }

    /// The state at the end of a step of size `h` [s] ending at `t_end` [s] with BDF
    /// coefficients `bdf`, where `heat_at(T)` is the heat generation rate Q [W] at the step's
    /// end with the cell at T (an error of it is returned): the lumped model's implicit
    /// T_{n+1} by fixed-point iteration from `guess`; the measured value at `t_end`.
    /// `heat_at` is last called at the returned temperature's iterate, within
    /// [`TOLERANCE_K`] of it.
    pub fn step_end<E>(
        &self,
        h: f64,
        bdf: Bdf,
        t_end: f64,
        guess: D,
        mut heat_at: impl FnMut(D) -> Result<D, E>,
    ) -> Result<StepEnd<D>, E> {
        let (capacity, conductance, ambient) = match &self.source {
            Source::Measured(series) => {
                let temperature = D::from(series.at(t_end));
                heat_at(temperature)?;
                return Ok(StepEnd {
                    temperature,
                    generated: self.generated[1],
                    removed: self.removed[1],
                });
            }
            Source::Lumped {
                capacity,
                conductance,
                ambient,
            } => (*capacity, *conductance, *ambient),
        };
        // β0·X_{n+1} − β1·X_n + β2·X_{n−1} = h·f_{n+1}, for T, ∫Q dt and ∫G·(T − T_amb) dt
        let history = |x: D, x_old: D| x * bdf.b1 - x_old * bdf.b2;
        let t_hist = history(self.t, self.t_old) * capacity;
        let denominator = capacity * bdf.b0 + conductance * h;
        let mut t = guess;
        let mut q;
        let mut next;
        let mut k = 0;
        loop {
            q = heat_at(t)?;
            next = (t_hist + (q + conductance * ambient) * h) / denominator;
            k += 1;
            if (next.re() - t.re()).abs() <= TOLERANCE_K || k == MAX_ITERATIONS {
                break;
            }
            t = next;
        }
        Ok(StepEnd {
            temperature: next,
            generated: (history(self.generated[1], self.generated[0]) + q * h) * (1.0 / bdf.b0),
            removed: (history(self.removed[1], self.removed[0])
                + (next - ambient) * conductance * h)
                * (1.0 / bdf.b0),
        })
    }

    /// Accept a step's end as the new state.
    pub fn accept(&mut self, end: StepEnd<D>) {
        self.t_old = self.t;
        self.t = end.temperature;
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

/// The lumped model's heat since t = 0 [J], as its time stepping integrates it: generated
/// ∫Q dt, removed ∫h·A_cool·(T − T_amb) dt and stored ρ·c_p·V·(T − T_init). The discrete
/// balance stored = generated − removed holds to round-off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeatBalance<D> {
    pub generated_j: D,
    pub removed_j: D,
    pub stored_j: D,
}
