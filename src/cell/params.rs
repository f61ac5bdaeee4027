//! Cell parameters for SPM/SPMe, generic over the scalar so any of them can carry derivatives.

use super::CellError;
use super::ocp::{Coefficient, Ocp, Pchip, Shape};
use crate::model::Scalar;
use std::sync::Arc;

/// One porous electrode with a representative spherical particle (SI units).
#[derive(Debug, Clone)]
pub struct ElectrodeParams<D> {
    /// Electrode thickness L \[m\].
    pub thickness: D,
    /// Particle radius R \[m\].
    pub particle_radius: D,
    /// Active-material volume fraction ε_s \[1\]; surface area per volume a = 3ε_s/R \[1/m\].
    pub active_fraction: D,
    /// Electrolyte volume fraction (porosity) ε_e \[1\].
    pub porosity: D,
    /// Bruggeman exponent b for electrolyte transport: D_e,eff = ε_e^b·D_e, κ_eff = ε_e^b·κ \[1\].
    pub bruggeman: D,
    /// Maximum lithium concentration in the particle c_max \[mol/m³\].
    pub c_max: D,
    /// Particle diffusivity at T_ref as a function of stoichiometry θ = c/c_max, D_s(θ) \[m²/s\].
    pub diffusivity: Coefficient<D>,
    /// Activation energy of the particle diffusivity E_a,D \[J/mol\]:
    /// D_s(θ, T) = D_s(θ)·exp(E_a,D/R·(1/T_ref − 1/T)).
    pub diffusivity_ea: D,
    /// Reaction-rate constant m_ref at T_ref \[A·m⁻²·(m³/mol)^1.5\], PyBaMM's form
    /// i0 = m·c_e^½·c_s^½·(c_max − c_s)^½.
    pub rate_constant: D,
    /// Activation energy of the reaction-rate constant E_a,k \[J/mol\].
    pub rate_constant_ea: D,
    /// Anodic transfer coefficient α \[1\] (½ gives PyBaMM's symmetric Butler–Volmer).
    pub alpha: D,
    /// Open-circuit potential U(θ) \[V vs Li/Li⁺\] at T_ref.
    pub ocp: Ocp<D>,
    /// Entropic coefficient dU/dT(θ) \[V/K\]: U(θ, T) = U(θ) + (T − T_ref)·dU/dT(θ).
    pub entropic: Coefficient<D>,
    /// Effective solid-phase electronic conductivity σ_s \[S/m\] (used by SPMe's solid ohmic drop).
    pub conductivity: D,
    /// Stoichiometry at 0 % state of charge (fully discharged cell) \[1\].
    pub theta_soc0: D,
    /// Stoichiometry at 100 % state of charge (fully charged cell) \[1\].
    pub theta_soc100: D,
}

impl<D: Scalar> ElectrodeParams<D> {
    /// Surface area per unit electrode volume a = 3ε_s/R \[1/m\].
    pub fn surface_area_density(&self) -> D {
        self.active_fraction * 3.0 / self.particle_radius
    }
    /// Stoichiometry at state of charge `soc` ∈ [0, 1]: θ = θ0 + soc·(θ100 − θ0).
    pub fn theta_at_soc(&self, soc: D) -> D {
        self.theta_soc0 + soc * (self.theta_soc100 - self.theta_soc0)
    }
}

/// The separator (SI units).
#[derive(Debug, Clone)]
pub struct SeparatorParams<D> {
    /// Thickness L_s \[m\].
    pub thickness: D,
    /// Porosity ε_s \[1\].
    pub porosity: D,
    /// Bruggeman exponent \[1\].
    pub bruggeman: D,
}

/// The electrolyte (SI units).
#[derive(Debug, Clone)]
pub struct ElectrolyteParams<D> {
    /// Initial (and typical) concentration c_e0 \[mol/m³\].
    pub initial_concentration: D,
    /// Cation transference number t+ \[1\].
    pub transference: D,
    /// Diffusivity D_e(c_e) at T_ref \[m²/s\], c_e in mol/m³.
    pub diffusivity: Coefficient<D>,
    /// Activation energy of D_e \[J/mol\].
    pub diffusivity_ea: D,
    /// Conductivity κ_e(c_e) at T_ref \[S/m\], c_e in mol/m³.
    pub conductivity: Coefficient<D>,
    /// Activation energy of κ_e \[J/mol\].
    pub conductivity_ea: D,
}

/// The cell as one lumped thermal mass (SI units), PyBaMM's `thermal: "lumped"` option:
/// ρ·c_p·V·dT/dt = Q(t) − h·A_cool·(T − T_amb), T(0) = T_init, with Q the heat the cell
/// generates (`super::thermal`) and T_amb the cell's [`CellParams::temperature`]. BPX:
/// `Cell/Density`, `Specific heat capacity`, `Volume`, `External surface area`,
/// `State/Thermal environment/Heat transfer coefficient` and the initial temperature.
#[derive(Debug, Clone)]
pub struct ThermalParams<D> {
    /// Cell-averaged density ρ \[kg/m³\].
    pub density: D,
    /// Cell-averaged specific heat capacity c_p \[J/(kg·K)\].
    pub specific_heat: D,
    /// Cell volume V \[m³\].
    pub volume: D,
    /// Cooling (external) surface area A_cool \[m²\].
    pub cooling_area: D,
    /// Heat-transfer coefficient to the surroundings h \[W/(m²·K)\] (0: adiabatic).
    pub heat_transfer_coefficient: D,
    /// Cell temperature at t = 0, T_init \[K\].
    pub initial_temperature: D,
}

impl<D: Scalar> ThermalParams<D> {
    /// Heat capacity of the cell ρ·c_p·V \[J/K\].
    pub fn heat_capacity(&self) -> D {
        self.density * self.specific_heat * self.volume
    }
    /// Heat-transfer conductance to the surroundings h·A_cool \[W/K\].
    pub fn conductance(&self) -> D {
        self.heat_transfer_coefficient * self.cooling_area
    }
}

/// All parameters of the SPM/SPMe cell model (SI units). `D` is the scalar type: `f64` for
/// plain solves, a dual number to carry derivatives with respect to any of them.
#[derive(Debug, Clone)]
pub struct CellParams<D> {
    /// Negative electrode.
    pub neg: ElectrodeParams<D>,
    /// Positive electrode.
    pub pos: ElectrodeParams<D>,
    /// Separator.
    pub separator: SeparatorParams<D>,
    /// Electrolyte.
    pub electrolyte: ElectrolyteParams<D>,
    /// Total electrode (current-collector) area A \[m²\], all parallel electrode pairs together.
    pub area: D,
    /// Cell temperature T \[K\] of an isothermal run, which is the ambient temperature T_amb of a
    /// run with the thermal model (as in PyBaMM).
    pub temperature: D,
    /// Reference temperature T_ref of the Arrhenius laws and OCPs \[K\].
    pub t_ref: D,
    /// Contact resistance R_c \[Ω\]; V includes −I·R_c.
    pub contact_resistance: D,
    /// Initial state of charge \[1\], mapping to the initial stoichiometries.
    pub initial_soc: D,
    /// Lower voltage cut-off \[V\].
    pub v_min: f64,
    /// Upper voltage cut-off \[V\].
    pub v_max: f64,
    /// Nominal capacity \[A·h\] (defines the C-rate).
    pub nominal_capacity_ah: f64,
    /// The lumped thermal properties, when known (needed by a run with the thermal model).
    pub thermal: Option<ThermalParams<D>>,
}

fn pos_check(name: impl std::fmt::Display, v: f64) -> Result<(), CellError> {
    if !(v > 0.0) || !v.is_finite() {
        return Err(CellError::InvalidParameter {
            name: name.to_string(),
            value: v,
            expected: "a positive finite value".into(),
        });
    }
    Ok(())
}

fn range_check(name: impl std::fmt::Display, v: f64, lo: f64, hi: f64) -> Result<(), CellError> {
    if !(v > lo && v < hi) {
        return Err(CellError::InvalidParameter {
            name: name.to_string(),
            value: v,
            expected: format!("{lo} < value < {hi}"),
        });
    }
    Ok(())
}

/// "{electrode} electrode {field}", the name of an electrode parameter in error messages.
struct ElectrodeField(&'static str, &'static str);

impl std::fmt::Display for ElectrodeField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} electrode {}", self.0, self.1)
    }
}

impl<D: Scalar> CellParams<D> {
    /// Check every parameter's physical range; names the field on failure.
    pub fn validate(&self) -> Result<(), CellError> {
        for (tag, e) in [("negative", &self.neg), ("positive", &self.pos)] {
            // the name is formatted only for an error (validation runs before every solve)
            let n = |f| ElectrodeField(tag, f);
            pos_check(n("thickness [m]"), e.thickness.re())?;
            pos_check(n("particle radius [m]"), e.particle_radius.re())?;
            range_check(
                n("active material volume fraction"),
                e.active_fraction.re(),
                0.0,
                1.0,
            )?;
            range_check(n("porosity"), e.porosity.re(), 0.0, 1.0)?;
            pos_check(n("maximum concentration [mol.m-3]"), e.c_max.re())?;
            pos_check(n("diffusivity [m2.s-1]"), e.diffusivity.scale.re())?;
            if !e.diffusivity.is_constant() {
                // check the function over the stoichiometry range
                for k in 0..=20 {
                    let th = D::from(0.001 + 0.998 * k as f64 / 20.0);
                    pos_check(
                        format!(
                            "{tag} electrode diffusivity [m2.s-1] at stoichiometry {}",
                            th.re()
                        ),
                        e.diffusivity.eval(th).re(),
                    )?;
                }
            }
            pos_check(n("reaction rate constant"), e.rate_constant.re())?;
            range_check(n("transfer coefficient alpha"), e.alpha.re(), 0.0, 1.0)?;
            pos_check(n("conductivity [S.m-1]"), e.conductivity.re())?;
            range_check(n("stoichiometry at 0% SOC"), e.theta_soc0.re(), 0.0, 1.0)?;
            range_check(
                n("stoichiometry at 100% SOC"),
                e.theta_soc100.re(),
                0.0,
                1.0,
            )?;
            if !e.diffusivity_ea.re().is_finite() || !e.rate_constant_ea.re().is_finite() {
                return Err(CellError::InvalidParameter {
                    name: n("activation energy").to_string(),
                    value: f64::NAN,
                    expected: "finite".into(),
                });
            }
        }
        pos_check("separator thickness [m]", self.separator.thickness.re())?;
        range_check("separator porosity", self.separator.porosity.re(), 0.0, 1.0)?;
        pos_check(
            "electrolyte initial concentration [mol.m-3]",
            self.electrolyte.initial_concentration.re(),
        )?;
        range_check(
            "electrolyte cation transference number",
            self.electrolyte.transference.re(),
            -1.0,
            1.0,
        )?;
        pos_check(
            "electrolyte diffusivity [m2.s-1]",
            self.electrolyte
                .diffusivity
                .eval(self.electrolyte.initial_concentration)
                .re(),
        )?;
        pos_check(
            "electrolyte conductivity [S.m-1]",
            self.electrolyte
                .conductivity
                .eval(self.electrolyte.initial_concentration)
                .re(),
        )?;
        pos_check("electrode area [m2]", self.area.re())?;
        pos_check("temperature [K]", self.temperature.re())?;
        pos_check("reference temperature [K]", self.t_ref.re())?;
        if !(self.contact_resistance.re() >= 0.0) {
            return Err(CellError::InvalidParameter {
                name: "contact resistance [Ohm]".into(),
                value: self.contact_resistance.re(),
                expected: ">= 0".into(),
            });
        }
        if !(self.initial_soc.re() >= 0.0 && self.initial_soc.re() <= 1.0) {
            return Err(CellError::InvalidParameter {
                name: "initial state of charge".into(),
                value: self.initial_soc.re(),
                expected: "0 <= soc <= 1".into(),
            });
        }
        pos_check("nominal cell capacity [A.h]", self.nominal_capacity_ah)?;
        if let Some(th) = &self.thermal {
            pos_check("cell density [kg.m-3]", th.density.re())?;
            pos_check(
                "cell specific heat capacity [J.K-1.kg-1]",
                th.specific_heat.re(),
            )?;
            pos_check("cell volume [m3]", th.volume.re())?;
            pos_check("cell external surface area [m2]", th.cooling_area.re())?;
            pos_check("initial temperature [K]", th.initial_temperature.re())?;
            let h = th.heat_transfer_coefficient.re();
            if !(h >= 0.0 && h.is_finite()) {
                return Err(CellError::InvalidParameter {
                    name: "heat transfer coefficient [W.m-2.K-1]".into(),
                    value: h,
                    expected: "a finite value >= 0 (0: adiabatic)".into(),
                });
            }
        }
        if !(self.v_min < self.v_max) {
            return Err(CellError::InvalidParameter {
                name: "lower voltage cut-off [V]".into(),
                value: self.v_min,
                expected: format!("below the upper cut-off {}", self.v_max),
            });
        }
        Ok(())
    }

    /// Theoretical capacity of the cyclable window of electrode `e` \[A·h\]:
    /// F·c_max·ε_s·L·A·|θ100 − θ0|/3600.
    pub fn electrode_capacity_ah(&self, e: &ElectrodeParams<D>) -> D {
        e.c_max
            * e.active_fraction
            * e.thickness
            * self.area
            * (e.theta_soc100 - e.theta_soc0).abs()
            * (crate::constants::FARADAY / 3600.0)
    }
}

impl CellParams<f64> {
    /// Copy into another scalar type (all values as constants: zero derivatives).
    /// Fails only for an `Ocp::Custom` closure, which is tied to its scalar type.
    pub fn to_scalar<E: Scalar>(&self) -> Result<CellParams<E>, CellError> {
        let c = |v: f64| E::from(v);
        let el = |e: &ElectrodeParams<f64>, tag: &str| -> Result<ElectrodeParams<E>, CellError> {
            Ok(ElectrodeParams {
                thickness: c(e.thickness),
                particle_radius: c(e.particle_radius),
                active_fraction: c(e.active_fraction),
                porosity: c(e.porosity),
                bruggeman: c(e.bruggeman),
                c_max: c(e.c_max),
                diffusivity: e.diffusivity.map_scale(c),
                diffusivity_ea: c(e.diffusivity_ea),
                rate_constant: c(e.rate_constant),
                rate_constant_ea: c(e.rate_constant_ea),
                alpha: c(e.alpha),
                ocp: e.ocp.convert(c).ok_or_else(|| CellError::InvalidParameter {
                    name: format!("{tag} electrode OCP"),
                    value: f64::NAN,
                    expected: "a table, expression or law (a custom closure cannot change scalar type)".into(),
                })?,
                entropic: e.entropic.map_scale(c),
                conductivity: c(e.conductivity),
                theta_soc0: c(e.theta_soc0),
                theta_soc100: c(e.theta_soc100),
            })
        };
        Ok(CellParams {
            neg: el(&self.neg, "negative")?,
            pos: el(&self.pos, "positive")?,
            separator: SeparatorParams {
                thickness: c(self.separator.thickness),
                porosity: c(self.separator.porosity),
                bruggeman: c(self.separator.bruggeman),
            },
            electrolyte: ElectrolyteParams {
                initial_concentration: c(self.electrolyte.initial_concentration),
                transference: c(self.electrolyte.transference),
                diffusivity: self.electrolyte.diffusivity.map_scale(c),
                diffusivity_ea: c(self.electrolyte.diffusivity_ea),
                conductivity: self.electrolyte.conductivity.map_scale(c),
                conductivity_ea: c(self.electrolyte.conductivity_ea),
            },
            area: c(self.area),
            temperature: c(self.temperature),
            t_ref: c(self.t_ref),
            contact_resistance: c(self.contact_resistance),
            initial_soc: c(self.initial_soc),
            v_min: self.v_min,
            v_max: self.v_max,
            nominal_capacity_ah: self.nominal_capacity_ah,
            thermal: self.thermal.as_ref().map(|t| ThermalParams {
                density: c(t.density),
                specific_heat: c(t.specific_heat),
                volume: c(t.volume),
                cooling_area: c(t.cooling_area),
                heat_transfer_coefficient: c(t.heat_transfer_coefficient),
                initial_temperature: c(t.initial_temperature),
            }),
        })
    }

    /// A Chen2020-like LG M50 parameter set (SPM/SPMe subset), as in PyBaMM's `Chen2020`.
    ///
    /// Source: C.-H. Chen, F. Brosa Planella, K. O'Regan, D. Gastol, W. D. Widanage, E. Kendrick,
    /// "Development of Experimental Techniques for Parameterization of Multi-scale Lithium-ion
    /// Battery Models", J. Electrochem. Soc. 167, 080534 (2020); electrolyte from Nyman et al.
    /// (2008). OCPs are the measured half-cell tables `graphite_LGM50_ocp_Chen2020.csv` and
    /// `nmc_LGM50_ocp_Chen2020.csv` (PCHIP), passed in by the caller.
    pub fn chen2020(ocp_neg: Pchip, ocp_pos: Pchip) -> Self {
        let nyman_de = super::expr::Expr::parse(
            "8.794e-11 * (x / 1000) ** 2 - 3.972e-10 * (x / 1000) + 4.862e-10",
        )
        .expect("valid expression");
        let nyman_k = super::expr::Expr::parse(
            "0.1297 * (x / 1000) ** 3 - 2.51 * (x / 1000) ** 1.5 + 3.329 * (x / 1000)",
        )
        .expect("valid expression");
        CellParams {
            neg: ElectrodeParams {
                thickness: 85.2e-6,
                particle_radius: 5.86e-6,
                active_fraction: 0.75,
                porosity: 0.25,
                bruggeman: 1.5,
                c_max: 33133.0,
                diffusivity: Coefficient::constant(3.3e-14),
                diffusivity_ea: 0.0,
                rate_constant: 6.48e-7,
                rate_constant_ea: 35000.0,
                alpha: 0.5,
                ocp: Ocp::Table(Arc::new(ocp_neg)),
                entropic: Coefficient::constant(0.0),
                conductivity: 215.0,
                theta_soc0: 0.0279,
                theta_soc100: 29866.0 / 33133.0,
            },
            pos: ElectrodeParams {
                thickness: 75.6e-6,
                particle_radius: 5.22e-6,
                active_fraction: 0.665,
                porosity: 0.335,
                bruggeman: 1.5,
                c_max: 63104.0,
                diffusivity: Coefficient::constant(4.0e-15),
                diffusivity_ea: 0.0,
                rate_constant: 3.42e-6,
                rate_constant_ea: 17800.0,
                alpha: 0.5,
                ocp: Ocp::Table(Arc::new(ocp_pos)),
                entropic: Coefficient::constant(0.0),
                conductivity: 0.18,
                theta_soc0: 0.9084,
                theta_soc100: 17038.0 / 63104.0,
            },
            separator: SeparatorParams {
                thickness: 12e-6,
                porosity: 0.47,
                bruggeman: 1.5,
            },
            electrolyte: ElectrolyteParams {
                initial_concentration: 1000.0,
                transference: 0.2594,
                diffusivity: Coefficient {
                    scale: 1.0,
                    shape: Shape::Expr(Arc::new(nyman_de)),
                },
                diffusivity_ea: 0.0,
                conductivity: Coefficient {
                    scale: 1.0,
                    shape: Shape::Expr(Arc::new(nyman_k)),
                },
                conductivity_ea: 0.0,
            },
            area: 0.065 * 1.58,
            temperature: 298.15,
            t_ref: 298.15,
            contact_resistance: 0.0,
            initial_soc: 1.0,
            v_min: 2.5,
            v_max: 4.2,
            nominal_capacity_ah: 5.0,
            // PyBaMM Chen2020's cell: cooling area, volume and h as there; ρ·c_p its
            // thickness-averaged effective heat capacity over current collectors, electrodes
            // and separator (1.7676e6 J/(K·m³)), ρ the thickness-averaged density
            thermal: Some(ThermalParams {
                density: 2705.51593625498,
                specific_heat: 653.3224510351805,
                volume: 2.42e-5,
                cooling_area: 0.00531,
                heat_transfer_coefficient: 10.0,
                initial_temperature: 298.15,
            }),
        }
    }

    /// [`CellParams::chen2020`] with the OCP tables read from `dir`
    /// (`graphite_LGM50_ocp_Chen2020.csv`, `nmc_LGM50_ocp_Chen2020.csv`).
    pub fn chen2020_from_dir(dir: &std::path::Path) -> Result<Self, CellError> {
        let n = Pchip::from_csv_file(&dir.join("graphite_LGM50_ocp_Chen2020.csv"))?;
        let p = Pchip::from_csv_file(&dir.join("nmc_LGM50_ocp_Chen2020.csv"))?;
        Ok(Self::chen2020(n, p))
    }
}
