//! The law catalogue: every bridging law by name, built from a study file's `[options]` table, behind one enum that implements [`Model`].
//!
//! A study file names a law (`law = "tracer_diffusivity"`) and may give options; the study
//! loader calls [`build_law`] once and hands the resulting [`Law`] to the engines. [`Law`] is an
//! enum over the concrete models (enum dispatch: `Model::eval` is generic, so no `dyn`).
//!
//! # Options (TOML)
//! - Grids for curve outputs, any of:
//!   `T_grid = { start = 250.0, stop = 400.0, n = 16 }` (n evenly spaced points, ends included),
//!   `T_grid = [250.0, 300.0, 350.0]`, or `T = [250.0, 300.0, 350.0]`. Likewise `x_grid`/`x`
//!   (site fractions in (0, 1)) and `r_grid`/`r` (r/R from 0 to 1; in the table form `start`
//!   defaults to 0 and `stop` to 1). No grid, no curve.
//! - `d` — lattice dimension 1, 2 or 3 (default 3) for hop-based diffusivities.
//! - `D_tr` — `"input"` (default: D_tr is an input, e.g. from MD) or `"hop"` (D_tr from ν0, E_m,
//!   a, f, z and T).
//! - `theta` — thermodynamic factor, `"ideal"` (default, Θ = 1/(1−x)) or `"regular"`
//!   (Θ = 1/(1−x) − 2Ω·x/(k_B·T), adds the input Ω \[eV\]).
//! - `symmetry` — `"cubic"` (default for `elastic_moduli`), `"hexagonal"`, `"orthorhombic"`,
//!   `"triclinic"`: which C_ij \[GPa\] are inputs. For `griffith` and `sphere_stress`, giving a
//!   symmetry replaces the inputs E, nu by the C_ij (Hill averages); without it E \[GPa\], nu are
//!   inputs.
//! - `concentration` — for `sphere_stress`: `"surface_avg"` (default; inputs c_avg, c_surf) or
//!   `"steady_flux"` (inputs c_avg, J, R, D; c_surf = c_avg + J·R/(5D)).
//!
//! An unknown option key is an error listing the keys the law accepts.

use crate::laws::arrhenius::ArrheniusModel;
use crate::laws::mechanics::{
    ConcentrationSource, ElasticModuliModel, ElasticSource, GriffithModel, MechanicsError,
    SphereStressModel, Symmetry,
};
use crate::laws::transport::{
    ArrheniusFitModel, ChemicalDiffusivityModel, NernstEinsteinModel, ThermoFactor,
    TracerDiffusionModel, TracerSource, TransportError,
};
use crate::model::{InputSpec, MAX_GRID_POINTS, Model, ModelError, OutputSpec, Scalar};
use thiserror::Error;

/// Why a law could not be built from its name and options.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum LawError {
    /// A law name the catalogue does not know.
    #[error("unknown law '{name}'; known laws: {known}")]
    UnknownLaw {
        /// The name given.
        name: String,
        /// The catalogue's names.
        known: String,
    },
    /// An option the law does not take.
    #[error("law '{law}': unknown option '{option}'; allowed options: {allowed}")]
    UnknownOption {
        /// The law.
        law: String,
        /// The option given.
        option: String,
        /// The law's options.
        allowed: String,
    },
    /// An option with a value of the wrong kind or out of range.
    #[error("law '{law}', option '{option}': expected {expected}")]
    BadOption {
        /// The law.
        law: String,
        /// The option.
        option: String,
        /// What it must hold.
        expected: String,
    },
    /// A transport law refused its options.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A mechanics law refused its options.
    #[error(transparent)]
    Mechanics(#[from] MechanicsError),
    /// A thermodynamic law refused its options.
    #[error(transparent)]
    Thermo(#[from] crate::laws::thermo::ThermoError),
}

/// Declares [`Law`] with one variant per wrapped model, its `Model` impl (dispatching every
/// method) and a `From` conversion per variant. A wrapped type only needs `Model + Debug + Clone`
/// (another enum of models, such as the thermodynamics `ThermoLaw`, works the same way).
macro_rules! law_enum {
    ($($(#[$doc:meta])* $variant:ident($ty:ty)),* $(,)?) => {
        /// Every bridging law the study loader can name, as one [`Model`] (enum dispatch).
        #[derive(Debug, Clone)]
        pub enum Law {
            $($(#[$doc])* $variant($ty),)*
        }

        impl Model for Law {
            fn inputs(&self) -> &[InputSpec] {
                match self { $(Law::$variant(m) => m.inputs(),)* }
            }
            fn outputs(&self) -> &[OutputSpec] {
                match self { $(Law::$variant(m) => m.outputs(),)* }
            }
            fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
                match self { $(Law::$variant(m) => m.eval(theta, out),)* }
            }
            fn eval_batch(
                &self,
                x: &[f64],
                count: usize,
                out: &mut [f64],
                failed: &mut Vec<(usize, ModelError)>,
            ) {
                match self { $(Law::$variant(m) => m.eval_batch(x, count, out, failed),)* }
            }
        }

        $(impl From<$ty> for Law {
            fn from(m: $ty) -> Self {
                Law::$variant(m)
            }
        })*
    };
}

law_enum! {
    /// `arrhenius`: D = D0·exp(−E_a/(k_B·T)).
    Arrhenius(ArrheniusModel),
    /// `arrhenius_fit`: D(T) from a fitted (ln D0, E_a).
    ArrheniusFit(ArrheniusFitModel),
    /// `tracer_diffusivity`: hop → Γ, D0, D_tr.
    TracerDiffusion(TracerDiffusionModel),
    /// `chemical_diffusivity`: D_chem = D_tr·Θ.
    ChemicalDiffusivity(ChemicalDiffusivityModel),
    /// `nernst_einstein`: σ = n·q²·D_tr/(k_B·T·H_R).
    NernstEinstein(NernstEinsteinModel),
    /// `elastic_moduli`: Voigt/Reuss/Hill moduli from C_ij.
    ElasticModuli(ElasticModuliModel),
    /// `griffith`: K_IC = sqrt(E'·2γ_s).
    Griffith(GriffithModel),
    /// `sphere_stress`: diffusion-induced hoop stress in a sphere and fracture risk.
    SphereStress(SphereStressModel),
    /// Thermodynamics laws (regular solution, Redlich–Kister, 0 K hull).
    Thermo(crate::laws::thermo::ThermoLaw),
    /// `tst_rate`: k = (k_B·T/h)·exp(−ΔG‡/(k_B·T)).
    TstRate(crate::laws::kinetics::TstRateModel),
    /// `exchange_current`: i0 = m(T)·c_e^½·c_s^½·(c_s,max − c_s)^½.
    ExchangeCurrent(crate::laws::kinetics::ExchangeCurrentModel),
    /// `overpotential`: Butler–Volmer inverse η(i).
    Overpotential(crate::laws::kinetics::OverpotentialModel),
}

/// The laws this module builds: (name, one-line description with the equation and units).
const CATALOGUE: &[(&str, &str)] = &[
    (
        "arrhenius",
        "D = D0·exp(−E_a/(k_B·T)); inputs D0 [m²/s], E_a [eV], T [K]; output D [m²/s]",
    ),
    (
        "arrhenius_fit",
        "D = exp(ln D0 − E_a/(k_B·T)) from a fitted line; inputs ln_D0, E_a [eV], T [K]; \
         outputs D, ln_D; curves D_vs_T, ln_D_vs_invT on T_grid",
    ),
    (
        "tracer_diffusivity",
        "Γ = ν0·exp(−E_m/(k_B·T)), D_tr = f·z·a²·Γ/(2d); inputs nu0 [Hz], E_m [eV], a [m], f, z, \
         T [K]; outputs Gamma [1/s], D0, D_tr [m²/s]; curves on T_grid; option d",
    ),
    (
        "chemical_diffusivity",
        "D_chem = D_tr·Θ, Θ = 1/(1−x) (ideal) or 1/(1−x) − 2Ω·x/(k_B·T) (regular); outputs Theta, \
         D_tr, D_chem [m²/s]; curves on x_grid; options D_tr, d, theta",
    ),
    (
        "nernst_einstein",
        "σ = n·(z_q·e)²·D_tr/(k_B·T·H_R) [S/m]; inputs D_tr (or hop inputs), T [K], n [1/m³], \
         z_q, H_R; curve sigma_vs_T on T_grid with D_tr = \"hop\"",
    ),
    (
        "elastic_moduli",
        "Voigt/Reuss/Hill K, G [GPa], E_H = 9KG/(3K+G), ν_H = (3K−2G)/(2(3K+G)), \
         A^U = 5G_V/G_R + K_V/K_R − 6 from C_ij [GPa]; Born stability checked; option symmetry",
    ),
    (
        "griffith",
        "K_IC = sqrt(E/(1−ν²)·2γ_s) [MPa·m^½]; inputs E [GPa], nu (or C_ij with symmetry), \
         gamma_s [J/m²]; outputs G_c, E_prime, K_IC",
    ),
    (
        "sphere_stress",
        "σ_θ(R) = Ω_v·E·(c_avg − c_surf)/(3(1−ν)) [MPa] for a parabolic c(r), σ_θ(r) profile on \
         r_grid, K_IC, strength K_IC/(Y·sqrt(π·a_flaw)), fracture_risk = σ_θ(R)/strength; \
         options symmetry, concentration",
    ),
];

/// The kinetics laws: (name, description).
const KINETICS: &[(&str, &str)] = &[
    (
        "tst_rate",
        "k = (k_B·T/h)·exp(−ΔG‡/(k_B·T)) [1/s]; inputs dG [eV], T [K]",
    ),
    (
        "exchange_current",
        "i0 = m(T)·c_e^½·c_s^½·(c_s,max − c_s)^½ [A/m²], m(T) = m_ref·exp(−E_a/R·(1/T − 1/T_ref)); \
         inputs m_ref, E_a [J/mol], T, T_ref [K], c_e, c_s, c_s_max [mol/m³]",
    ),
    (
        "overpotential",
        "Butler–Volmer inverse η(i) [V] for any α (Newton, exact derivatives); inputs i, i0 [A/m²], \
         alpha, T [K]",
    ),
];

/// Every law [`build_law`] knows: (name, one-line description with the equation and units).
pub fn law_catalogue() -> Vec<(&'static str, &'static str)> {
    let mut v = CATALOGUE.to_vec();
    v.extend_from_slice(crate::laws::thermo::models::THERMO_LAWS);
    v.extend_from_slice(KINETICS);
    v
}

/// Builds the law `name` with the study file's `options` (see the module doc for the keys).
/// Every option has a default, so an empty table builds every law.
pub fn build_law(name: &str, options: &toml::Table) -> Result<Law, LawError> {
    if crate::laws::thermo::THERMO_LAW_NAMES.contains(&name) {
        return Ok(Law::Thermo(crate::laws::thermo::build_thermo_law(
            name, options,
        )?));
    }
    let o = Options::read(name, options)?;
    match name {
        "arrhenius" => {
            o.allow(&[])?;
            Ok(ArrheniusModel::default().into())
        }
        "arrhenius_fit" => {
            o.allow(&["T_grid", "T"])?;
            Ok(ArrheniusFitModel::new(o.grid("T", None)?)?.into())
        }
        "tracer_diffusivity" => {
            o.allow(&["d", "T_grid", "T"])?;
            Ok(TracerDiffusionModel::new(o.dim()?, o.grid("T", None)?)?.into())
        }
        "chemical_diffusivity" => {
            o.allow(&["D_tr", "d", "theta", "x_grid", "x"])?;
            let factor = match o.typed.theta.as_deref().unwrap_or("ideal") {
                "ideal" => ThermoFactor::IdealLatticeGas,
                "regular" => ThermoFactor::RegularSolution,
                _ => return Err(o.bad("theta", "\"ideal\" or \"regular\"")),
            };
            let m = ChemicalDiffusivityModel::new(o.source()?, factor, o.grid("x", None)?)?;
            Ok(m.into())
        }
        "nernst_einstein" => {
            o.allow(&["D_tr", "d", "T_grid", "T"])?;
            Ok(NernstEinsteinModel::new(o.source()?, o.grid("T", None)?)?.into())
        }
        "elastic_moduli" => {
            o.allow(&["symmetry"])?;
            let s = Symmetry::parse(o.typed.symmetry.as_deref().unwrap_or("cubic"))?;
            Ok(ElasticModuliModel::new(s).into())
        }
        "griffith" => {
            o.allow(&["symmetry"])?;
            Ok(GriffithModel::new(o.elastic()?).into())
        }
        "sphere_stress" => {
            o.allow(&["symmetry", "concentration", "r_grid", "r"])?;
            let conc = match o.typed.concentration.as_deref().unwrap_or("surface_avg") {
                "surface_avg" => ConcentrationSource::SurfaceAverage,
                "steady_flux" => ConcentrationSource::SteadyFlux,
                _ => return Err(o.bad("concentration", "\"surface_avg\" or \"steady_flux\"")),
            };
            let grid = o.grid("r", Some((0.0, 1.0)))?;
            Ok(SphereStressModel::new(o.elastic()?, conc, grid)?.into())
        }
        "tst_rate" => {
            o.allow(&[])?;
            Ok(crate::laws::kinetics::TstRateModel::default().into())
        }
        "exchange_current" => {
            o.allow(&[])?;
            Ok(crate::laws::kinetics::ExchangeCurrentModel::default().into())
        }
        "overpotential" => {
            o.allow(&[])?;
            Ok(crate::laws::kinetics::OverpotentialModel::default().into())
        }
        _ => Err(LawError::UnknownLaw {
            name: name.to_string(),
            known: law_catalogue()
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// A grid option: a list of points, or `{ start, stop, n }` for `n` evenly spaced points with
/// both ends included (`start`/`stop` may have defaults where the option is read).
#[derive(Debug, Clone, PartialEq)]
pub enum GridSpec {
    /// The points, in the grid variable's unit.
    Points(Vec<f64>),
    /// `n` evenly spaced points from `start` to `stop`.
    Even {
        /// First point.
        start: Option<f64>,
        /// Last point.
        stop: Option<f64>,
        /// Number of points.
        n: Option<i64>,
    },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EvenGrid {
    start: Option<f64>,
    stop: Option<f64>,
    n: Option<i64>,
}

impl<'de> serde::Deserialize<'de> for GridSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = GridSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of numbers or a table { start, stop, n }")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, a: A) -> Result<GridSpec, A::Error> {
                serde::Deserialize::deserialize(SeqAccessDeserializer::new(a)).map(GridSpec::Points)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, a: A) -> Result<GridSpec, A::Error> {
                let g: EvenGrid = serde::Deserialize::deserialize(MapAccessDeserializer::new(a))?;
                Ok(GridSpec::Even {
                    start: g.start,
                    stop: g.stop,
                    n: g.n,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Every option key a law of this module reads (each law accepts a subset, checked by
/// [`Options::allow`]); the thermodynamics laws read their own.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LawOptions {
    d: Option<i64>,
    #[serde(rename = "D_tr")]
    d_tr: Option<String>,
    theta: Option<String>,
    symmetry: Option<String>,
    concentration: Option<String>,
    #[serde(rename = "T_grid")]
    t_grid: Option<GridSpec>,
    #[serde(rename = "T")]
    t: Option<Vec<f64>>,
    x_grid: Option<GridSpec>,
    x: Option<Vec<f64>>,
    r_grid: Option<GridSpec>,
    r: Option<Vec<f64>>,
}

/// One law's typed options, with errors naming the law and the key.
struct Options<'a> {
    law: &'a str,
    keys: Vec<String>,
    typed: LawOptions,
}

impl<'a> Options<'a> {
    /// The options table read into [`LawOptions`]; a value of the wrong type is a
    /// [`LawError::BadOption`] naming the key (an unknown key is refused by [`Self::allow`]).
    fn read(law: &'a str, options: &toml::Table) -> Result<Self, LawError> {
        let keys: Vec<String> = options.keys().cloned().collect();
        let typed =
            match crate::schema::from_value::<LawOptions>(toml::Value::Table(options.clone())) {
                Ok(t) => t,
                // An unknown top-level key: reported by `allow` with the law's own list.
                Err(e) if e.message.starts_with("unknown field") && !e.field.contains('.') => {
                    LawOptions::default()
                }
                Err(e) => {
                    return Err(LawError::BadOption {
                        law: law.to_string(),
                        option: e.field,
                        expected: e.message,
                    });
                }
            };
        Ok(Options { law, keys, typed })
    }

    fn bad(&self, option: &str, expected: &str) -> LawError {
        LawError::BadOption {
            law: self.law.to_string(),
            option: option.to_string(),
            expected: expected.to_string(),
        }
    }

    /// Rejects keys outside `allowed`.
    fn allow(&self, allowed: &[&str]) -> Result<(), LawError> {
        match self.keys.iter().find(|k| !allowed.contains(&k.as_str())) {
            None => Ok(()),
            Some(k) => Err(LawError::UnknownOption {
                law: self.law.to_string(),
                option: k.clone(),
                allowed: if allowed.is_empty() {
                    "(none)".into()
                } else {
                    allowed.join(", ")
                },
            }),
        }
    }

    fn dim(&self) -> Result<usize, LawError> {
        match self.typed.d {
            None => Ok(3),
            Some(d @ 1..=3) => Ok(d as usize),
            Some(_) => Err(self.bad("d", "an integer 1, 2 or 3")),
        }
    }

    fn source(&self) -> Result<TracerSource, LawError> {
        match self.typed.d_tr.as_deref().unwrap_or("input") {
            "input" => Ok(TracerSource::Input),
            "hop" => Ok(TracerSource::Hop { dim: self.dim()? }),
            _ => Err(self.bad("D_tr", "\"input\" or \"hop\"")),
        }
    }

    fn elastic(&self) -> Result<ElasticSource, LawError> {
        match &self.typed.symmetry {
            None => Ok(ElasticSource::Isotropic),
            Some(s) => Ok(ElasticSource::Stiffness(Symmetry::parse(s)?)),
        }
    }

    /// The grid under `{base}_grid` (table {start, stop, n} or array) or `{base}` (array).
    /// `range` gives defaults for `start` and `stop` in the table form.
    fn grid(&self, base: &str, range: Option<(f64, f64)>) -> Result<Option<Vec<f64>>, LawError> {
        let key_grid = format!("{base}_grid");
        let (grid, points) = match base {
            "T" => (&self.typed.t_grid, &self.typed.t),
            "x" => (&self.typed.x_grid, &self.typed.x),
            "r" => (&self.typed.r_grid, &self.typed.r),
            _ => (&None, &None),
        };
        match (grid, points) {
            (Some(_), Some(_)) => Err(self.bad(base, &format!("either '{key_grid}' or '{base}'"))),
            (None, None) => Ok(None),
            (None, Some(p)) => Ok(Some(p.clone())),
            (Some(GridSpec::Points(p)), None) => Ok(Some(p.clone())),
            (Some(GridSpec::Even { start, stop, n }), None) => {
                let get = |k: &str, v: Option<f64>, default: Option<f64>| {
                    v.or(default)
                        .ok_or_else(|| self.bad(&key_grid, &format!("'{k}' given")))
                };
                let start = get("start", *start, range.map(|r| r.0))?;
                let stop = get("stop", *stop, range.map(|r| r.1))?;
                match n {
                    Some(n) if (1..=MAX_GRID_POINTS).contains(n) => {
                        Ok(Some(linspace(start, stop, *n as usize)))
                    }
                    _ => Err(self.bad(
                        &key_grid,
                        &format!("'n' an integer from 1 to {MAX_GRID_POINTS}"),
                    )),
                }
            }
        }
    }
}

/// `n` evenly spaced points from `start` to `stop`, both included (`[start]` for n = 1).
pub fn linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    (0..n)
        .map(|i| {
            if i == n - 1 {
                stop
            } else {
                start + (stop - start) * i as f64 / (n - 1) as f64
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::laws::transport::tests::assert_ad_matches_fd;
    use crate::model::{evaluate, n_outputs, output_range};

    /// A typical physical value for every input name the catalogue's laws use.
    fn typical(name: &str) -> f64 {
        match name {
            "D0" => 1e-7,
            "E_a" => 0.4,
            "E_m" => 0.35,
            "T" => 300.0,
            "ln_D0" => -16.0,
            "nu0" => 1e13,
            "a" => 2.9e-10,
            "f" => 0.78,
            "z" => 6.0,
            "D_tr" => 1e-14,
            "x" => 0.4,
            "Omega" => 0.05,
            "n" => 1e28,
            "z_q" => 1.0,
            "H_R" => 0.5,
            "C11" => 165.7,
            "C12" => 63.9,
            "C44" => 79.6,
            "E" => 150.0,
            "nu" => 0.25,
            "gamma_s" => 1.2,
            "Omega_v" => 3e-6,
            "c_avg" => 2e4,
            "c_surf" => 1.5e4,
            "J" => -1e-3,
            "R" => 5e-6,
            "D" => 1e-13,
            "a_flaw" => 1e-6,
            "Y" => 1.12,
            "mu0" => -3.4,
            "dG_act" => 0.5,
            "m_ref" => 2e-6,
            "T_ref" => 298.15,
            "c_e" => 1000.0,
            "c_s" => 2e4,
            "c_s_max" => 3e4,
            "i" => 10.0,
            "i0" => 2.0,
            "alpha" => 0.4,
            "a_0" => 0.1,
            "b_0" => 1e-5,
            "E_0" | "E_4" => 0.0,
            "E_1" => -0.15,
            "E_2" => -0.2,
            "E_3" => -0.1,
            other if other.starts_with("a_") => 0.01,
            other if other.starts_with("b_") => 0.0,
            other => panic!("no typical value for input '{other}'"),
        }
    }

    fn typical_point(m: &Law) -> Vec<f64> {
        m.inputs().iter().map(|i| typical(&i.name)).collect()
    }

    fn table(s: &str) -> toml::Table {
        s.parse().unwrap()
    }

    #[test]
    fn every_law_builds_with_defaults_and_evaluates_finite() {
        let cat = law_catalogue();
        assert!(cat.len() >= 8);
        for (name, desc) in cat {
            assert!(!desc.is_empty());
            let opts = if name == "hull_voltage_0k" {
                table("x_points = [0.0, 0.25, 0.5, 0.75, 1.0]")
            } else if name.starts_with("redlich_kister") {
                table("terms = 2")
            } else {
                toml::Table::new()
            };
            let law = build_law(name, &opts).unwrap();
            let mut theta = typical_point(&law);
            if name.ends_with("_plateau") {
                // below T_c = Ω/(2k_B) ≈ 290 K for the typical Ω, so a plateau exists
                *theta.last_mut().unwrap() = 250.0;
            }
            let v = evaluate(&law, &theta).unwrap();
            assert_eq!(v.len(), n_outputs(&law));
            assert!(v.iter().all(|x| x.is_finite()), "{name}: {v:?}");
        }
    }

    #[test]
    fn every_law_with_curve_options_has_exact_gradients() {
        let cases = [
            ("arrhenius", ""),
            ("arrhenius_fit", "T_grid = {start = 250, stop = 400, n = 4}"),
            ("tracer_diffusivity", "d = 2\nT = [250.0, 300.0, 350.0]"),
            (
                "chemical_diffusivity",
                "D_tr = \"hop\"\ntheta = \"regular\"\nx_grid = [0.1, 0.5, 0.9]",
            ),
            (
                "chemical_diffusivity",
                "x_grid = {start = 0.05, stop = 0.95, n = 5}",
            ),
            ("nernst_einstein", "D_tr = \"hop\"\nT_grid = [260.0, 330.0]"),
            ("nernst_einstein", ""),
            ("elastic_moduli", "symmetry = \"cubic\""),
            ("griffith", "symmetry = \"cubic\""),
            ("griffith", ""),
            ("sphere_stress", "r_grid = {n = 6}"),
            (
                "sphere_stress",
                "symmetry = \"cubic\"\nconcentration = \"steady_flux\"\nr = [0.0, 0.5, 1.0]",
            ),
        ];
        for (name, opts) in cases {
            let law = build_law(name, &table(opts)).unwrap();
            let theta = typical_point(&law);
            let v = evaluate(&law, &theta).unwrap();
            assert!(v.iter().all(|x| x.is_finite()), "{name} {opts}: {v:?}");
            assert_ad_matches_fd(&law, &theta, 1e-6);
        }
        // The table grid form gives n evenly spaced points with both ends.
        let law = build_law("sphere_stress", &table("r_grid = {n = 6}")).unwrap();
        let r = output_range(&law, "sigma_theta_vs_r").unwrap();
        assert_eq!(r.len(), 6);
        assert_eq!(linspace(0.0, 1.0, 6)[5], 1.0);
    }

    #[test]
    fn unknown_law_lists_the_known_ones() {
        let e = build_law("tracer_diffusion_typo", &toml::Table::new()).unwrap_err();
        let msg = e.to_string();
        for (name, _) in law_catalogue() {
            assert!(msg.contains(name), "{msg} lacks {name}");
        }
    }

    #[test]
    fn bad_options_are_errors_naming_the_key() {
        let e = build_law("tracer_diffusivity", &table("dim = 3")).unwrap_err();
        assert!(e.to_string().contains("'dim'") && e.to_string().contains("d, T_grid, T"));
        let e = build_law("tracer_diffusivity", &table("d = 4")).unwrap_err();
        assert!(matches!(e, LawError::BadOption { ref option, .. } if option == "d"));
        let e = build_law("elastic_moduli", &table("symmetry = \"cubicc\"")).unwrap_err();
        assert!(e.to_string().contains("cubicc"));
        let e = build_law("arrhenius_fit", &table("T_grid = {start = 300}")).unwrap_err();
        assert!(e.to_string().contains("'stop'"), "{e}");
        let e = build_law("arrhenius_fit", &table("T_grid = [300, -1]")).unwrap_err();
        assert!(matches!(
            e,
            LawError::Transport(TransportError::BadGrid { .. })
        ));
        let e = build_law("arrhenius_fit", &table("T = [300]\nT_grid = [300]")).unwrap_err();
        assert!(matches!(e, LawError::BadOption { .. }));
        let e = build_law("nernst_einstein", &table("T = [300.0]")).unwrap_err();
        assert!(e.to_string().contains("hop"), "{e}");
    }

    #[test]
    fn law_evaluation_errors_are_recoverable() {
        // A Born-unstable crystal through the catalogue is an OutOfPhysicalRange naming C44.
        let law = build_law("elastic_moduli", &toml::Table::new()).unwrap();
        match evaluate(&law, &[165.7, 63.9, -1.0]) {
            Err(ModelError::OutOfPhysicalRange { quantity, .. }) => {
                assert!(quantity.contains("C44"), "{quantity}")
            }
            other => panic!("{other:?}"),
        }
    }
}
