//! BPX (Battery Parameter eXchange, JSON) import and export for the SPM/SPMe parameters, with uncertainties in "User-defined".
//!
//! Reads BPX 1.x (initial conditions and thermal environment under `State`) and legacy 0.x
//! (the electrolyte's initial concentration under `Parameterisation/Electrolyte`, temperatures
//! under `Parameterisation/Cell`, always 100 % SOC); writes BPX 1.x ([`write_bpx`], the layout
//! the `bpx` package's strict parser accepts and PyBaMM's `create_from_bpx` loads).
//! Conventions of the standard and how they map to [`CellParams`] (as PyBaMM's own BPX reader
//! does, so results are comparable):
//! - Values are numbers, expression strings in `x` (Python syntax, parsed by [`Expr`]) or
//!   tables `{"x": [...], "y": [...]}` (interpolated here with PCHIP, C¹; PyBaMM uses linear).
//!   Particle diffusivity and OCP are functions of stoichiometry x = c/c_max; electrolyte
//!   diffusivity and conductivity of c_e \[mol/m³\].
//! - Kinetics normalisation: BPX gives a "Reaction rate constant \[mol.m-2.s-1\]" k_norm with
//!   j0 = F·k_norm·√((c_e/c_e0)·(c_s/c_max)·(1 − c_s/c_max)). PyBaMM's (and our) form is
//!   j0 = m·√(c_e·c_s·(c_max − c_s)), so m = F·k_norm/(c_max·√c_e0) \[A·m⁻²·(m³/mol)^1.5\].
//! - Activation energies E_a \[J/mol\] multiply D, k and the electrolyte properties by
//!   exp(E_a/R·(1/T_ref − 1/T)); missing activation energies are 0.
//! - "Surface area per unit volume \[m-1\]" a gives the active fraction ε_s = a·R/3.
//! - "Transport efficiency" τ gives the porosity ε = τ^(1/1.5) with Bruggeman exponent 1.5
//!   (so ε^1.5 = τ); solid conductivities are already effective (no correction).
//! - The electrode area is per electrode pair; the cell's total area is
//!   "Electrode area \[m2\]" × "Number of electrode pairs connected in parallel to make a cell".
//! - Stoichiometry windows: 100 % SOC is (negative "Maximum stoichiometry", positive
//!   "Minimum stoichiometry"), 0 % SOC the other two, linear in between; the initial state is
//!   `State/Initial conditions/Initial state-of-charge` (1.x; default 1) or 100 % SOC (0.x).
//!   PyBaMM's `create_from_bpx` instead solves for the stoichiometries where the OCV equals the
//!   upper cut-off (for the About:Energy file 4.181 V vs 4.2 V: up to ~40 mV apart near the end).
//! - Temperature of an isothermal run: the ambient temperature, else the initial one, else
//!   "Reference temperature \[K\]", which is T_ref. The lumped thermal model starts at the
//!   initial temperature (else the ambient one) and cools to the ambient one through
//!   `Cell/External surface area [m2]` with `State/Thermal environment/Heat transfer
//!   coefficient \[W.m-2.K-1\]` (1.x; without it the cell is adiabatic, as in PyBaMM); its heat
//!   capacity is `Density [kg.m-3]` × `Specific heat capacity [J.K-1.kg-1]` × `Volume [m3]`.
//!   A file with density and specific heat capacity has thermal data (and then needs volume and
//!   external surface area too); volume and external surface area alone are geometry
//!   ([`CellGeometry`]), which PyBaMM needs even for an isothermal run.

use super::CellError;
use super::expr::Expr;
use super::ocp::{Coefficient, Ocp, Pchip, Shape};
use super::params::{
    CellParams, ElectrodeParams, ElectrolyteParams, SeparatorParams, ThermalParams,
};
use crate::constants::FARADAY;
use serde_json::{Map, Value, json};
use std::path::Path;
use std::sync::Arc;

/// A cell read from BPX: the parameters plus header information.
#[derive(Debug, Clone)]
pub struct BpxCell {
    /// The SPM/SPMe parameters.
    pub params: CellParams<f64>,
    /// Header "Title".
    pub title: String,
    /// Header "Model" (SPM, SPMe, DFN).
    pub model: String,
    /// The "User-defined" section as read (uncertainties etc.), untouched.
    pub user_defined: Map<String, Value>,
    /// `Parameterisation/Cell` volume and external surface area, when the file has both
    /// (with or without thermal data).
    pub geometry: Option<CellGeometry>,
}

/// The cell's outer geometry: what PyBaMM's `create_from_bpx` needs (as "Cell volume \[m3\]" and
/// "Cell cooling surface area \[m2\]") even for an isothermal model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellGeometry {
    /// `Volume [m3]`: the cell's volume V \[m³\].
    pub volume_m3: f64,
    /// `External surface area [m2]`: the cell's outer (cooling) surface A_cool \[m²\].
    pub external_surface_area_m2: f64,
}

impl CellGeometry {
    /// The geometry of `p`'s thermal data, if any.
    pub fn of_thermal(p: &CellParams<f64>) -> Option<Self> {
        p.thermal.as_ref().map(|th| Self {
            volume_m3: th.volume,
            external_surface_area_m2: th.cooling_area,
        })
    }

    /// A stand-in for a cell whose file gave no geometry: the electrode stack's volume
    /// V = A·(L_n + L_s + L_p) \[m³\] (no current collectors or casing, so an underestimate) and
    /// the surface of a cube of that volume, 6·V^(2/3) \[m²\]. Used only by thermal models, which
    /// also need density and heat capacity the cell does not have; for the LG M50 (Chen 2020)
    /// set it gives 1.77e-5 m³ and 4.1e-3 m² against PyBaMM's 2.42e-5 m³ and 5.31e-3 m².
    pub fn estimated(p: &CellParams<f64>) -> Self {
        let v = p.area * (p.neg.thickness + p.separator.thickness + p.pos.thickness);
        Self {
            volume_m3: v,
            external_surface_area_m2: 6.0 * v.powf(2.0 / 3.0),
        }
    }
}

/// The shape of a parameter's distribution, in the unit of its [`ParamUncertainty`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DistributionKind {
    /// x ~ N(mean, sd²).
    Normal {
        /// Mean [unit].
        mean: f64,
        /// Standard deviation [unit].
        sd: f64,
    },
    /// ln x ~ N(mu, sigma²) (x in the unit): median e^mu, mean e^(mu + sigma²/2).
    LogNormal {
        /// Mean of ln x [ln unit].
        mu: f64,
        /// Standard deviation of ln x \[1\].
        sigma: f64,
    },
    /// x = lower + (upper − lower)/(1 + e^(−z)), z ~ N(mu, sigma²).
    LogitNormal {
        /// Lower bound of x (the parameter's unit).
        lower: f64,
        /// Upper bound of x (the parameter's unit).
        upper: f64,
        /// Mean of z \[1\].
        mu: f64,
        /// Standard deviation of z \[1\].
        sigma: f64,
    },
    /// Only the summaries (of samples: posterior draws, Monte Carlo outputs): no closed form.
    Empirical {
        /// Number of samples summarised, when counted.
        samples: Option<usize>,
    },
}

/// One parameter's distribution to export in the "User-defined" section.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamUncertainty {
    /// The BPX-style parameter name with its unit, e.g. "Negative electrode diffusivity
    /// \[m2.s-1\]": the key of its entry under "User-defined"/[`DISTRIBUTIONS_KEY`].
    pub name: String,
    /// The value written in the file's parameterisation [unit].
    pub central: f64,
    /// Mean [unit].
    pub mean: f64,
    /// Standard deviation [unit].
    pub sd: f64,
    /// Median [unit], when known.
    pub median: Option<f64>,
    /// A central interval (lower, upper [unit], level, e.g. 0.95), when known.
    pub interval: Option<(f64, f64, f64)>,
    /// The distribution's kind and parameters.
    pub kind: DistributionKind,
}

struct Reader<'a> {
    file: &'a str,
}

impl Reader<'_> {
    fn err(&self, field: &str, msg: impl Into<String>) -> CellError {
        CellError::Bpx {
            file: self.file.to_string(),
            field: field.to_string(),
            msg: msg.into(),
        }
    }
    fn section<'v>(
        &self,
        v: &'v Value,
        path: &str,
        name: &str,
    ) -> Result<&'v Map<String, Value>, CellError> {
        v.get(name).and_then(Value::as_object).ok_or_else(|| {
            self.err(
                &format!("{path}{name}"),
                "missing section (needed by SPM/SPMe)",
            )
        })
    }
    fn num(&self, m: &Map<String, Value>, path: &str, name: &str) -> Result<f64, CellError> {
        let f = format!("{path}/{name}");
        let v = m
            .get(name)
            .ok_or_else(|| self.err(&f, "missing (needed by SPM/SPMe)"))?;
        match v {
            Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| self.err(&f, "not a finite number")),
            Value::String(s) => {
                let e = Expr::parse(s).map_err(|e| self.err(&f, e.to_string()))?;
                if e.is_constant() {
                    Ok(e.eval(0.0))
                } else {
                    Err(self.err(&f, "expected a number, got a function of x"))
                }
            }
            _ => Err(self.err(&f, "expected a number")),
        }
    }
    fn num_or(
        &self,
        m: &Map<String, Value>,
        path: &str,
        name: &str,
        default: f64,
    ) -> Result<f64, CellError> {
        if m.contains_key(name) {
            self.num(m, path, name)
        } else {
            Ok(default)
        }
    }
    /// A number, an expression in x, or an {x, y} table, as a coefficient.
    fn func(
        &self,
        m: &Map<String, Value>,
        path: &str,
        name: &str,
    ) -> Result<Coefficient<f64>, CellError> {
        let f = format!("{path}/{name}");
        let v = m
            .get(name)
            .ok_or_else(|| self.err(&f, "missing (needed by SPM/SPMe)"))?;
        self.func_value(v, &f)
    }
    fn func_value(&self, v: &Value, f: &str) -> Result<Coefficient<f64>, CellError> {
        match v {
            Value::Number(n) => Ok(Coefficient::constant(
                n.as_f64().ok_or_else(|| self.err(f, "not finite"))?,
            )),
            Value::String(s) => {
                let e = Expr::parse(s).map_err(|e| self.err(f, e.to_string()))?;
                if e.is_constant() {
                    Ok(Coefficient::constant(e.eval(0.0)))
                } else {
                    Ok(Coefficient {
                        scale: 1.0,
                        shape: Shape::Expr(Arc::new(e)),
                    })
                }
            }
            Value::Object(o) => {
                let arr = |k: &str| -> Result<Vec<f64>, CellError> {
                    o.get(k)
                        .and_then(Value::as_array)
                        .ok_or_else(|| self.err(f, format!("table needs an array '{k}'")))?
                        .iter()
                        .map(|x| {
                            x.as_f64()
                                .ok_or_else(|| self.err(f, format!("table '{k}' has a non-number")))
                        })
                        .collect()
                };
                let t =
                    Pchip::new(arr("x")?, arr("y")?, f).map_err(|e| self.err(f, e.to_string()))?;
                Ok(Coefficient {
                    scale: 1.0,
                    shape: Shape::Table(Arc::new(t)),
                })
            }
            _ => Err(self.err(
                f,
                "expected a number, an expression string in x, or an {x, y} table",
            )),
        }
    }
    /// Evaluate `f` at 65 points spanning [lo, hi] (ends included) and refuse the first value
    /// that fails `ok` (NaN fails every test), naming `path/name`.
    #[allow(clippy::too_many_arguments)]
    fn probe(
        &self,
        path: &str,
        name: &str,
        lo: f64,
        hi: f64,
        f: impl Fn(f64) -> f64,
        ok: impl Fn(f64) -> bool,
        expected: &str,
    ) -> Result<(), CellError> {
        const N: usize = 65;
        for i in 0..N {
            let x = lo + (hi - lo) * i as f64 / (N - 1) as f64;
            let v = f(x);
            if !ok(v) {
                return Err(self.err(
                    &format!("{path}/{name}"),
                    format!(
                        "{v} at x = {x}: expected {expected} over the stoichiometry window [{lo}, {hi}]"
                    ),
                ));
            }
        }
        Ok(())
    }
    /// Refuse a key of `m` that is not in `known` (a misspelt key would otherwise be ignored
    /// and its default used silently).
    fn known_keys(
        &self,
        m: &Map<String, Value>,
        path: &str,
        known: &[&str],
    ) -> Result<(), CellError> {
        match m.keys().find(|k| !known.contains(&k.as_str())) {
            None => Ok(()),
            Some(k) => Err(self.err(
                &format!("{path}/{k}"),
                format!(
                    "unknown key (misspelt?): expected one of {}",
                    known.join("; ")
                ),
            )),
        }
    }
    fn ocp(&self, m: &Map<String, Value>, path: &str) -> Result<Ocp<f64>, CellError> {
        let c = self.func(m, path, "OCP [V]")?;
        Ok(match c.shape {
            Shape::One => {
                return Err(self.err(
                    &format!("{path}/OCP [V]"),
                    "a constant OCP cannot drive a cell; give a function of x or a table",
                ));
            }
            Shape::Expr(e) => Ocp::Expr(e),
            Shape::Table(t) => Ocp::Table(t),
        })
    }
}

fn electrode(
    r: &Reader,
    m: &Map<String, Value>,
    path: &str,
    negative: bool,
    ce0: f64,
) -> Result<ElectrodeParams<f64>, CellError> {
    let radius = r.num(m, path, "Particle radius [m]")?;
    let a = r.num(m, path, "Surface area per unit volume [m-1]")?;
    let c_max = r.num(m, path, "Maximum concentration [mol.m-3]")?;
    let k_norm = r.num(m, path, "Reaction rate constant [mol.m-2.s-1]")?;
    let (porosity, brugg) = porosity_from(r, m, path)?;
    let smin = r.num(m, path, "Minimum stoichiometry")?;
    let smax = r.num(m, path, "Maximum stoichiometry")?;
    for (name, v) in [
        ("Minimum stoichiometry", smin),
        ("Maximum stoichiometry", smax),
    ] {
        if !(v > 0.0 && v < 1.0) {
            return Err(r.err(
                &format!("{path}/{name}"),
                format!("{v}: expected 0 < value < 1"),
            ));
        }
    }
    if smin >= smax {
        return Err(r.err(
            &format!("{path}/Minimum stoichiometry"),
            format!("{smin}: expected below the maximum stoichiometry ({smax})"),
        ));
    }
    let entropic = if m.contains_key("Entropic change coefficient [V.K-1]") {
        r.func(m, path, "Entropic change coefficient [V.K-1]")?
    } else {
        Coefficient::constant(0.0)
    };
    let diffusivity = r.func(m, path, "Diffusivity [m2.s-1]")?;
    let ocp = r.ocp(m, path)?;
    // The functions of stoichiometry, probed over the window the cell runs in: an expression
    // that divides by zero or takes the log of a negative number there is refused here, naming
    // the field, not at the first time step of every run.
    let t_ref = 298.15;
    r.probe(
        path,
        "OCP [V]",
        smin,
        smax,
        |x| ocp.eval(x, t_ref),
        |v| v.is_finite(),
        "finite",
    )?;
    r.probe(
        path,
        "Diffusivity [m2.s-1]",
        smin,
        smax,
        |x| diffusivity.eval(x),
        |v| v > 0.0,
        "finite and > 0",
    )?;
    r.probe(
        path,
        "Entropic change coefficient [V.K-1]",
        smin,
        smax,
        |x| entropic.eval(x),
        |v| v.is_finite(),
        "finite",
    )?;
    Ok(ElectrodeParams {
        thickness: r.num(m, path, "Thickness [m]")?,
        particle_radius: radius,
        active_fraction: a * radius / 3.0,
        porosity,
        bruggeman: brugg,
        c_max,
        diffusivity,
        diffusivity_ea: r.num_or(m, path, "Diffusivity activation energy [J.mol-1]", 0.0)?,
        rate_constant: FARADAY * k_norm / (c_max * ce0.sqrt()),
        rate_constant_ea: r.num_or(
            m,
            path,
            "Reaction rate constant activation energy [J.mol-1]",
            0.0,
        )?,
        alpha: 0.5,
        ocp,
        entropic,
        conductivity: r.num(m, path, "Conductivity [S.m-1]")?,
        theta_soc0: if negative { smin } else { smax },
        theta_soc100: if negative { smax } else { smin },
    })
}

fn porosity_from(r: &Reader, m: &Map<String, Value>, path: &str) -> Result<(f64, f64), CellError> {
    // A porosity is a volume fraction, in (0, 1), even where the transport efficiency is what
    // the model uses (a file with both is checked for both).
    if m.contains_key("Porosity") {
        let e = r.num(m, path, "Porosity")?;
        if !(e > 0.0 && e < 1.0) {
            return Err(r.err(
                &format!("{path}/Porosity"),
                format!("{e}: expected a volume fraction, 0 < value < 1"),
            ));
        }
    }
    if m.contains_key("Transport efficiency") {
        let te = r.num(m, path, "Transport efficiency")?;
        if !(te > 0.0 && te < 1.0) {
            return Err(r.err(
                &format!("{path}/Transport efficiency"),
                format!("{te}: expected 0 < value < 1"),
            ));
        }
        Ok((te.powf(1.0 / 1.5), 1.5))
    } else {
        Ok((r.num(m, path, "Porosity")?, 1.5))
    }
}

/// The initial state and the temperature of an isothermal run, from where the file's BPX
/// version keeps them.
struct InitialState {
    electrolyte_concentration: f64,
    /// Ambient (else initial) temperature \[K\]; `None`: the reference temperature.
    temperature: Option<f64>,
    /// Initial (else ambient) temperature \[K\]; `None`: the reference temperature.
    initial_temperature: Option<f64>,
    /// Heat-transfer coefficient to the surroundings \[W/(m²·K)\] (1.x only).
    heat_transfer_coefficient: Option<f64>,
    /// Initial state of charge in [0, 1] (BPX definition: linear in each electrode's
    /// stoichiometry between its limits).
    soc: f64,
}

/// BPX 1.x (`Header/BPX` a version string "1.…" or a number ≥ 1) keeps the initial
/// conditions and the thermal environment under `State`; legacy 0.x files keep the electrolyte
/// concentration under `Parameterisation/Electrolyte/Initial concentration [mol.m-3]` and the
/// temperatures under `Parameterisation/Cell`, and start at 100 % SOC.
fn initial_state(
    r: &Reader,
    root: &Value,
    cell: &Map<String, Value>,
    ely: &Map<String, Value>,
) -> Result<InitialState, CellError> {
    let version = root.get("Header").and_then(|h| h.get("BPX"));
    let major = match version {
        None => 0,
        Some(Value::Number(n)) if n.as_f64().is_some_and(|v| v >= 0.0) => {
            n.as_f64().unwrap_or(0.0).floor() as u32
        }
        Some(Value::String(v)) => v
            .split('.')
            .next()
            .and_then(|m| m.trim().parse::<u32>().ok())
            .ok_or_else(|| {
                r.err(
                    "Header/BPX",
                    format!("'{v}': expected a version such as \"1.1.0\""),
                )
            })?,
        Some(other) => {
            return Err(r.err(
                "Header/BPX",
                format!("{other}: expected a version such as \"1.1.0\" (or a legacy 0.x number)"),
            ));
        }
    };
    if major == 0 {
        let t = |name: &str| -> Result<Option<f64>, CellError> {
            cell.contains_key(name)
                .then(|| r.num(cell, "Parameterisation/Cell", name))
                .transpose()
        };
        return Ok(InitialState {
            electrolyte_concentration: r.num(
                ely,
                "Parameterisation/Electrolyte",
                "Initial concentration [mol.m-3]",
            )?,
            temperature: t("Ambient temperature [K]")?.or(t("Initial temperature [K]")?),
            initial_temperature: t("Initial temperature [K]")?.or(t("Ambient temperature [K]")?),
            // (where this tool's 0.x export keeps it)
            heat_transfer_coefficient: root
                .pointer("/Parameterisation/User-defined/Heat transfer coefficient [W.m-2.K-1]")
                .and_then(Value::as_f64),
            soc: 1.0,
        });
    }
    if major > 1 {
        return Err(r.err(
            "Header/BPX",
            format!("version {major}.x: this bridgelaw reads BPX 0.x and 1.x"),
        ));
    }
    let state = r.section(root, "", "State")?;
    let sv = Value::Object(state.clone());
    let ic = r.section(&sv, "State/", "Initial conditions")?;
    let pic = "State/Initial conditions";
    let thermal = state.get("Thermal environment").and_then(Value::as_object);
    let ambient = thermal
        .filter(|t| t.contains_key("Ambient temperature [K]"))
        .map(|t| r.num(t, "State/Thermal environment", "Ambient temperature [K]"))
        .transpose()?;
    let initial_t = ic
        .contains_key("Initial temperature [K]")
        .then(|| r.num(ic, pic, "Initial temperature [K]"))
        .transpose()?;
    let h = "Heat transfer coefficient [W.m-2.K-1]";
    let heat_transfer_coefficient = thermal
        .filter(|t| t.contains_key(h))
        .map(|t| r.num(t, "State/Thermal environment", h))
        .transpose()?;
    let soc = r.num_or(ic, pic, "Initial state-of-charge", 1.0)?;
    if !(0.0..=1.0).contains(&soc) {
        return Err(r.err(
            &format!("{pic}/Initial state-of-charge"),
            format!("{soc}: expected a fraction from 0 to 1"),
        ));
    }
    Ok(InitialState {
        electrolyte_concentration: r.num(ic, pic, "Initial electrolyte concentration [mol.m-3]")?,
        temperature: ambient.or(initial_t),
        initial_temperature: initial_t.or(ambient),
        heat_transfer_coefficient,
        soc,
    })
}

/// The keys of the BPX standard's sections this reader accepts (those it reads and the thermal
/// and geometric ones it does not need); "User-defined" is free.
const ROOT_KEYS: &[&str] = &["Header", "Parameterisation", "State", "Validation"];
const PARAMETERISATION_KEYS: &[&str] = &[
    "Cell",
    "Electrolyte",
    "Negative electrode",
    "Positive electrode",
    "Separator",
    "User-defined",
];
const THERMAL_KEYS: [&str; 3] = [
    "Density [kg.m-3]",
    "Specific heat capacity [J.K-1.kg-1]",
    "Thermal conductivity [W.m-1.K-1]",
];
const CELL_KEYS: &[&str] = &[
    "Ambient temperature [K]",
    "Initial temperature [K]",
    "Reference temperature [K]",
    "Electrode area [m2]",
    "External surface area [m2]",
    "Volume [m3]",
    "Number of electrode pairs connected in parallel to make a cell",
    "Lower voltage cut-off [V]",
    "Upper voltage cut-off [V]",
    "Nominal cell capacity [A.h]",
    THERMAL_KEYS[0],
    THERMAL_KEYS[1],
    THERMAL_KEYS[2],
];
const ELECTROLYTE_KEYS: &[&str] = &[
    "Initial concentration [mol.m-3]",
    "Cation transference number",
    "Diffusivity [m2.s-1]",
    "Diffusivity activation energy [J.mol-1]",
    "Conductivity [S.m-1]",
    "Conductivity activation energy [J.mol-1]",
    THERMAL_KEYS[0],
    THERMAL_KEYS[1],
    THERMAL_KEYS[2],
];
/// The BPX field behind a cell parameter named as [`CellParams::validate`] names it
/// ("negative electrode thickness \[m\]" → "Parameterisation/Negative electrode/Thickness \[m\]"):
/// the section from the name's first words, the key whose name the rest begins or is begun by.
/// A derived quantity with no key of its own names its section.
fn bpx_field_of(param: &str) -> String {
    let sections: [(&str, &str, &[&str]); 5] = [
        ("negative electrode ", "Negative electrode", ELECTRODE_KEYS),
        ("positive electrode ", "Positive electrode", ELECTRODE_KEYS),
        ("separator ", "Separator", SEPARATOR_KEYS),
        ("electrolyte ", "Electrolyte", ELECTROLYTE_KEYS),
        ("", "Cell", CELL_KEYS),
    ];
    let p = param.to_lowercase();
    for (prefix, section, keys) in sections {
        let Some(rest) = p.strip_prefix(prefix) else {
            continue;
        };
        let key = keys.iter().find(|k| {
            let k = k.to_lowercase();
            k.starts_with(rest) || rest.starts_with(&k)
        });
        return match key {
            Some(k) => format!("Parameterisation/{section}/{k}"),
            None => format!("Parameterisation/{section}"),
        };
    }
    "Parameterisation".to_string()
}

const ELECTRODE_KEYS: &[&str] = &[
    "Minimum stoichiometry",
    "Maximum stoichiometry",
    "Maximum concentration [mol.m-3]",
    "Particle radius [m]",
    "Surface area per unit volume [m-1]",
    "Porosity",
    "Transport efficiency",
    "Reaction rate constant [mol.m-2.s-1]",
    "Reaction rate constant activation energy [J.mol-1]",
    "Diffusivity [m2.s-1]",
    "Diffusivity activation energy [J.mol-1]",
    "OCP [V]",
    "Entropic change coefficient [V.K-1]",
    "Conductivity [S.m-1]",
    "Thickness [m]",
    THERMAL_KEYS[0],
    THERMAL_KEYS[1],
    THERMAL_KEYS[2],
];
const SEPARATOR_KEYS: &[&str] = &[
    "Thickness [m]",
    "Porosity",
    "Transport efficiency",
    THERMAL_KEYS[0],
    THERMAL_KEYS[1],
    THERMAL_KEYS[2],
];

/// Parse BPX JSON text (BPX 1.x, or legacy 0.x); `file` names the source in error messages.
pub fn read_bpx_str(text: &str, file: &str) -> Result<BpxCell, CellError> {
    let r = Reader { file };
    let root: Value = serde_json::from_str(text)
        .map_err(|e| r.err("(document)", format!("invalid JSON: {e}")))?;
    let header = root.get("Header").and_then(Value::as_object);
    let title = header
        .and_then(|h| h.get("Title"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let model = header
        .and_then(|h| h.get("Model"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(m) = root.as_object() {
        r.known_keys(m, "", ROOT_KEYS)?;
    }
    let par = r.section(&root, "", "Parameterisation")?;
    r.known_keys(par, "Parameterisation", PARAMETERISATION_KEYS)?;
    let pv = Value::Object(par.clone());
    let cell = r.section(&pv, "Parameterisation/", "Cell")?;
    let ely = r.section(&pv, "Parameterisation/", "Electrolyte")?;
    let neg = r.section(&pv, "Parameterisation/", "Negative electrode")?;
    let pos = r.section(&pv, "Parameterisation/", "Positive electrode")?;
    let sep = r.section(&pv, "Parameterisation/", "Separator")?;
    let pc = "Parameterisation/Cell";
    let pe = "Parameterisation/Electrolyte";
    r.known_keys(cell, pc, CELL_KEYS)?;
    r.known_keys(ely, pe, ELECTROLYTE_KEYS)?;
    r.known_keys(neg, "Parameterisation/Negative electrode", ELECTRODE_KEYS)?;
    r.known_keys(pos, "Parameterisation/Positive electrode", ELECTRODE_KEYS)?;
    r.known_keys(sep, "Parameterisation/Separator", SEPARATOR_KEYS)?;
    let initial = initial_state(&r, &root, cell, ely)?;
    let ce0 = initial.electrolyte_concentration;
    if !(ce0.is_finite() && ce0 > 0.0) {
        return Err(r.err(
            if root.get("State").is_some() {
                "State/Initial conditions/Initial electrolyte concentration [mol.m-3]"
            } else {
                "Parameterisation/Electrolyte/Initial concentration [mol.m-3]"
            },
            format!("{ce0}: expected a concentration > 0"),
        ));
    }
    let pairs = r.num_or(
        cell,
        pc,
        "Number of electrode pairs connected in parallel to make a cell",
        1.0,
    )?;
    let t_ref = r.num(cell, pc, "Reference temperature [K]")?;
    let temperature = initial.temperature.unwrap_or(t_ref);
    let (sep_por, sep_b) = porosity_from(&r, sep, "Parameterisation/Separator")?;
    let params = CellParams {
        neg: electrode(&r, neg, "Parameterisation/Negative electrode", true, ce0)?,
        pos: electrode(&r, pos, "Parameterisation/Positive electrode", false, ce0)?,
        separator: SeparatorParams {
            thickness: r.num(sep, "Parameterisation/Separator", "Thickness [m]")?,
            porosity: sep_por,
            bruggeman: sep_b,
        },
        electrolyte: ElectrolyteParams {
            initial_concentration: ce0,
            transference: r.num(ely, pe, "Cation transference number")?,
            diffusivity: r.func(ely, pe, "Diffusivity [m2.s-1]")?,
            diffusivity_ea: r.num_or(ely, pe, "Diffusivity activation energy [J.mol-1]", 0.0)?,
            conductivity: r.func(ely, pe, "Conductivity [S.m-1]")?,
            conductivity_ea: r.num_or(ely, pe, "Conductivity activation energy [J.mol-1]", 0.0)?,
        },
        area: r.num(cell, pc, "Electrode area [m2]")? * pairs,
        temperature,
        t_ref,
        contact_resistance: match par
            .get("User-defined")
            .and_then(|u| u.get("Contact resistance [Ohm]"))
        {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
            _ => 0.0,
        },
        initial_soc: initial.soc,
        v_min: r.num(cell, pc, "Lower voltage cut-off [V]")?,
        v_max: r.num(cell, pc, "Upper voltage cut-off [V]")?,
        nominal_capacity_ah: r.num(cell, pc, "Nominal cell capacity [A.h]")?,
        thermal: thermal_params(&r, cell, &initial, t_ref)?,
    };
    // Validate now so a bad value names the file.
    params.validate().map_err(|e| {
        let field = match &e {
            CellError::InvalidParameter { name, .. } => bpx_field_of(name),
            _ => "Parameterisation".to_string(),
        };
        r.err(&field, e.to_string())
    })?;
    let user_defined = par
        .get("User-defined")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let geometry = match (
        cell.contains_key("Volume [m3]"),
        cell.contains_key("External surface area [m2]"),
    ) {
        (true, true) => Some(CellGeometry {
            volume_m3: r.num(cell, pc, "Volume [m3]")?,
            external_surface_area_m2: r.num(cell, pc, "External surface area [m2]")?,
        }),
        _ => None,
    };
    Ok(BpxCell {
        params,
        title,
        model,
        user_defined,
        geometry,
    })
}

/// The lumped thermal properties when the file has all of density, specific heat capacity,
/// volume and external surface area (`None` when it has neither density nor specific heat
/// capacity: volume and external surface area alone are geometry; otherwise a missing one is an
/// error naming it). No heat-transfer coefficient means an adiabatic cell, as PyBaMM's BPX
/// reader assumes.
fn thermal_params(
    r: &Reader,
    cell: &Map<String, Value>,
    initial: &InitialState,
    t_ref: f64,
) -> Result<Option<ThermalParams<f64>>, CellError> {
    const NEEDED: [&str; 4] = [
        THERMAL_KEYS[0],
        THERMAL_KEYS[1],
        "Volume [m3]",
        "External surface area [m2]",
    ];
    let pc = "Parameterisation/Cell";
    if !NEEDED[..2].iter().any(|k| cell.contains_key(*k)) {
        return Ok(None);
    }
    let present = NEEDED.iter().filter(|k| cell.contains_key(**k)).count();
    if let Some(missing) = NEEDED.iter().find(|k| !cell.contains_key(**k)) {
        return Err(r.err(
            &format!("{pc}/{missing}"),
            format!(
                "missing: the lumped thermal model needs all of {} (the file has {present} of them)",
                NEEDED.join(", ")
            ),
        ));
    }
    Ok(Some(ThermalParams {
        density: r.num(cell, pc, NEEDED[0])?,
        specific_heat: r.num(cell, pc, NEEDED[1])?,
        volume: r.num(cell, pc, NEEDED[2])?,
        cooling_area: r.num(cell, pc, NEEDED[3])?,
        heat_transfer_coefficient: initial.heat_transfer_coefficient.unwrap_or(0.0),
        initial_temperature: initial.initial_temperature.unwrap_or(t_ref),
    }))
}

/// Read a BPX file.
pub fn read_bpx_file(path: &Path) -> Result<BpxCell, CellError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| CellError::Bpx {
        file: name.clone(),
        field: "(file)".into(),
        msg: e.to_string(),
    })?;
    read_bpx_str(&text, &name)
}

fn num(v: f64) -> Value {
    serde_json::Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn coef_value(c: &Coefficient<f64>) -> Value {
    match &c.shape {
        Shape::One => num(c.scale),
        Shape::Expr(e) => {
            if c.scale == 1.0 {
                Value::String(e.source().to_string())
            } else {
                Value::String(format!("{:e} * ({})", c.scale, e.source()))
            }
        }
        Shape::Table(t) => {
            json!({"x": t.xs(), "y": t.ys().iter().map(|y| y * c.scale).collect::<Vec<_>>()})
        }
    }
}

fn ocp_value(o: &Ocp<f64>, t: f64) -> Value {
    match o {
        Ocp::Table(tb) => json!({"x": tb.xs(), "y": tb.ys()}),
        Ocp::Expr(e) => Value::String(e.source().to_string()),
        Ocp::RegularSolution { u0, omega_ev } => Value::String(format!(
            "{u0:e} - ({omega_ev:e} * (1 - 2 * x) + {:e} * log(x / (1 - x)))",
            crate::constants::K_B_EV * t
        )),
        other => {
            // tabulate
            let xs: Vec<f64> = (0..=200)
                .map(|k| 0.001 + 0.998 * k as f64 / 200.0)
                .collect();
            let ys: Vec<f64> = xs.iter().map(|&x| other.eval(x, t)).collect();
            json!({"x": xs, "y": ys})
        }
    }
}

/// BPX's "Reaction rate constant \[mol.m-2.s-1\]" of electrode `e`, k_norm = m·c_max·√c_e0/F,
/// with c_e0 = `ce0` \[mol/m³\] (see the module doc).
pub(crate) fn normalised_rate_constant(e: &ElectrodeParams<f64>, ce0: f64) -> f64 {
    e.rate_constant * e.c_max * ce0.sqrt() / FARADAY
}

fn electrode_json(e: &ElectrodeParams<f64>, negative: bool, ce0: f64, t: f64) -> Value {
    let (smin, smax) = if negative {
        (e.theta_soc0, e.theta_soc100)
    } else {
        (e.theta_soc100, e.theta_soc0)
    };
    let mut m = Map::new();
    m.insert("Particle radius [m]".into(), num(e.particle_radius));
    m.insert("Thickness [m]".into(), num(e.thickness));
    m.insert("Diffusivity [m2.s-1]".into(), coef_value(&e.diffusivity));
    m.insert("OCP [V]".into(), ocp_value(&e.ocp, t));
    m.insert(
        "Entropic change coefficient [V.K-1]".into(),
        coef_value(&e.entropic),
    );
    m.insert("Conductivity [S.m-1]".into(), num(e.conductivity));
    m.insert(
        "Surface area per unit volume [m-1]".into(),
        num(3.0 * e.active_fraction / e.particle_radius),
    );
    m.insert("Porosity".into(), num(e.porosity));
    m.insert(
        "Transport efficiency".into(),
        num(e.porosity.powf(e.bruggeman)),
    );
    m.insert(
        "Reaction rate constant [mol.m-2.s-1]".into(),
        num(normalised_rate_constant(e, ce0)),
    );
    m.insert("Minimum stoichiometry".into(), num(smin));
    m.insert("Maximum stoichiometry".into(), num(smax));
    m.insert("Maximum concentration [mol.m-3]".into(), num(e.c_max));
    m.insert(
        "Diffusivity activation energy [J.mol-1]".into(),
        num(e.diffusivity_ea),
    );
    m.insert(
        "Reaction rate constant activation energy [J.mol-1]".into(),
        num(e.rate_constant_ea),
    );
    Value::Object(m)
}

/// The BPX version [`write_bpx`] writes: the schema of the `bpx` package 1.1 (whose strict
/// parser accepts the files, and which PyBaMM's `create_from_bpx` reads).
pub const BPX_VERSION_WRITTEN: &str = "1.1.1";

/// The "User-defined" key under which [`write_bpx`] writes the distributions, one object per
/// parameter. One nested object, not a key per parameter: PyBaMM's `create_from_bpx` copies
/// every "User-defined" key into its parameter values, where a BPX-style name such as
/// "Negative electrode diffusivity \[m2.s-1\] ..." would collide with its own (renamed)
/// parameters; a nested object it keeps untouched. (A string, "description" included, makes
/// it fail: it converts the value to a number.)
pub const DISTRIBUTIONS_KEY: &str = "Distributions";

/// What a BPX export writes besides the cell's parameters.
#[derive(Debug, Clone, Default)]
pub struct BpxExport {
    /// Header "Title".
    pub title: String,
    /// Header "Description" (empty: a line saying bridgelaw wrote the SPM/SPMe subset).
    pub description: String,
    /// Header "Model": "SPM", "SPMe" or "DFN" (empty: "SPMe", the richest model these
    /// parameters drive).
    pub model: String,
    /// Volume and external surface area of a cell without thermal data (a cell with them is
    /// written with its thermal data's); `None`: [`CellGeometry::estimated`] (said in the
    /// description).
    pub geometry: Option<CellGeometry>,
    /// The distributions written to "User-defined", one entry each (see [`write_bpx`]).
    pub uncertainties: Vec<ParamUncertainty>,
    /// Further "User-defined" entries kept from the source file (numbers, expressions, tables
    /// or nested objects of them, as the standard allows); this writer's own keys win.
    pub user_defined: Map<String, Value>,
}

/// The "User-defined" object of one parameter's distribution: "Value written" (the central
/// value in the parameterisation), "Mean", "Standard deviation", "Median" (if known),
/// "Interval lower (L %)" / "Interval upper (L %)" (if known), and the kind as one key whose
/// object holds its parameters: "Normal" {"Mean", "Standard deviation"}, "Log-normal"
/// {"Mean of ln x", "Standard deviation of ln x"}, "Logit-normal" {"Lower bound", "Upper
/// bound", "Mean of z", "Standard deviation of z"} or "Empirical" {"Samples"} (no kind key when
/// only the moments are known). Numbers only
/// (the standard reads a string in "User-defined" as an expression in x).
fn uncertainty_value(u: &ParamUncertainty) -> Value {
    let mut m = Map::new();
    m.insert("Value written".into(), num(u.central));
    m.insert("Mean".into(), num(u.mean));
    m.insert("Standard deviation".into(), num(u.sd));
    if let Some(q) = u.median {
        m.insert("Median".into(), num(q));
    }
    if let Some((lo, hi, level)) = u.interval {
        let pct = (level * 100.0 * 1e6).round() / 1e6;
        m.insert(format!("Interval lower ({pct} %)"), num(lo));
        m.insert(format!("Interval upper ({pct} %)"), num(hi));
    }
    let (kind, params) = match u.kind {
        // (an empty object is no valid BPX value: no kind key when nothing is known of it)
        DistributionKind::Empirical { samples: None } => return Value::Object(m),
        DistributionKind::Normal { mean, sd } => (
            "Normal",
            json!({"Mean": num(mean), "Standard deviation": num(sd)}),
        ),
        DistributionKind::LogNormal { mu, sigma } => (
            "Log-normal",
            json!({"Mean of ln x": num(mu), "Standard deviation of ln x": num(sigma)}),
        ),
        DistributionKind::LogitNormal {
            lower,
            upper,
            mu,
            sigma,
        } => (
            "Logit-normal",
            json!({"Lower bound": num(lower), "Upper bound": num(upper),
                   "Mean of z": num(mu), "Standard deviation of z": num(sigma)}),
        ),
        DistributionKind::Empirical { samples } => ("Empirical", json!({ "Samples": samples })),
    };
    m.insert(kind.into(), params);
    Value::Object(m)
}

/// Export `p` as BPX 1.x JSON text ([`BPX_VERSION_WRITTEN`]): the parameterisation (one
/// electrode pair of the total area), `State/Initial conditions` (initial state of charge,
/// temperature and electrolyte concentration), `State/Thermal environment` (ambient temperature
/// and heat-transfer coefficient, 0 for a cell without thermal data), the thermal data under
/// `Parameterisation/Cell` where the cell has them, and "User-defined": the contact resistance
/// as "Contact resistance \[Ohm\]" (not a BPX field) and each distribution of
/// `export.uncertainties` under [`DISTRIBUTIONS_KEY`] and its name (the layout of
/// `uncertainty_value`). Reading the text
/// back with [`read_bpx_str`] gives `p` again (to rounding in the quantities BPX stores in
/// another form: porosity via the transport efficiency, the rate constant normalised, the
/// active fraction as a surface area per volume).
pub fn write_bpx(p: &CellParams<f64>, export: &BpxExport) -> String {
    let ce0 = p.electrolyte.initial_concentration;
    let estimated = export.geometry.is_none() && p.thermal.is_none();
    // (the thermal data's, which the thermal model uses, first)
    let geometry = CellGeometry::of_thermal(p)
        .or(export.geometry)
        .unwrap_or_else(|| CellGeometry::estimated(p));
    let mut ud = export.user_defined.clone();
    ud.insert("Contact resistance [Ohm]".into(), num(p.contact_resistance));
    if !export.uncertainties.is_empty() {
        let d: Map<String, Value> = export
            .uncertainties
            .iter()
            .map(|u| (u.name.clone(), uncertainty_value(u)))
            .collect();
        ud.insert(DISTRIBUTIONS_KEY.into(), Value::Object(d));
    }
    let mut description = if export.description.is_empty() {
        "Exported by bridgelaw (SPM/SPMe parameter subset).".to_string()
    } else {
        export.description.clone()
    };
    if estimated {
        description.push_str(
            " Volume and external surface area are estimates (the electrode stack's volume and \
             the surface of a cube of that volume): the source had neither them nor thermal data.",
        );
    }
    let mut cell = json!({
        "Electrode area [m2]": num(p.area),
        "External surface area [m2]": num(geometry.external_surface_area_m2),
        "Volume [m3]": num(geometry.volume_m3),
        "Number of electrode pairs connected in parallel to make a cell": 1,
        "Lower voltage cut-off [V]": num(p.v_min),
        "Upper voltage cut-off [V]": num(p.v_max),
        "Nominal cell capacity [A.h]": num(p.nominal_capacity_ah),
        "Reference temperature [K]": num(p.t_ref)
    });
    let (initial_t, h) = match &p.thermal {
        Some(th) => {
            if let Some(c) = cell.as_object_mut() {
                c.insert(THERMAL_KEYS[0].into(), num(th.density));
                c.insert(THERMAL_KEYS[1].into(), num(th.specific_heat));
            }
            (th.initial_temperature, th.heat_transfer_coefficient)
        }
        None => (p.temperature, 0.0),
    };
    let doc = json!({
        "Header": {
            "BPX": BPX_VERSION_WRITTEN,
            "Title": export.title,
            "Description": description,
            "Model": if export.model.is_empty() { "SPMe" } else { export.model.as_str() }
        },
        "Parameterisation": {
            "Cell": cell,
            "Electrolyte": {
                "Cation transference number": num(p.electrolyte.transference),
                "Conductivity [S.m-1]": coef_value(&p.electrolyte.conductivity),
                "Diffusivity [m2.s-1]": coef_value(&p.electrolyte.diffusivity),
                "Conductivity activation energy [J.mol-1]": num(p.electrolyte.conductivity_ea),
                "Diffusivity activation energy [J.mol-1]": num(p.electrolyte.diffusivity_ea)
            },
            "Negative electrode": electrode_json(&p.neg, true, ce0, p.temperature),
            "Positive electrode": electrode_json(&p.pos, false, ce0, p.temperature),
            "Separator": {
                "Thickness [m]": num(p.separator.thickness),
                "Porosity": num(p.separator.porosity),
                "Transport efficiency": num(p.separator.porosity.powf(p.separator.bruggeman))
            },
            "User-defined": Value::Object(ud)
        },
        "State": {
            "Initial conditions": {
                "Initial state-of-charge": num(p.initial_soc),
                "Initial temperature [K]": num(initial_t),
                "Initial electrolyte concentration [mol.m-3]": num(ce0)
            },
            "Thermal environment": {
                "Ambient temperature [K]": num(p.temperature),
                "Heat transfer coefficient [W.m-2.K-1]": num(h)
            }
        }
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// [`write_bpx`] with a title and distributions only (description, model and geometry by
/// default).
pub fn to_bpx_json(p: &CellParams<f64>, title: &str, uncertainties: &[ParamUncertainty]) -> String {
    write_bpx(
        p,
        &BpxExport {
            title: title.to_string(),
            uncertainties: uncertainties.to_vec(),
            ..BpxExport::default()
        },
    )
}

#[cfg(test)]
mod field_tests {
    use super::bpx_field_of;

    #[test]
    fn a_cell_parameter_error_names_its_bpx_field() {
        for (param, field) in [
            (
                "negative electrode thickness [m]",
                "Parameterisation/Negative electrode/Thickness [m]",
            ),
            (
                "positive electrode diffusivity [m2.s-1] at stoichiometry 0.5",
                "Parameterisation/Positive electrode/Diffusivity [m2.s-1]",
            ),
            (
                "positive electrode reaction rate constant",
                "Parameterisation/Positive electrode/Reaction rate constant [mol.m-2.s-1]",
            ),
            (
                "separator thickness [m]",
                "Parameterisation/Separator/Thickness [m]",
            ),
            (
                "electrolyte cation transference number",
                "Parameterisation/Electrolyte/Cation transference number",
            ),
            (
                "nominal cell capacity [A.h]",
                "Parameterisation/Cell/Nominal cell capacity [A.h]",
            ),
            (
                "negative electrode stoichiometry at 0% SOC",
                "Parameterisation/Negative electrode",
            ),
        ] {
            assert_eq!(bpx_field_of(param), field, "{param}");
        }
    }
}
