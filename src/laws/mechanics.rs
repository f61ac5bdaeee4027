//! Mechanics laws: elastic constants → Voigt/Reuss/Hill moduli, Born stability, Griffith fracture toughness, diffusion-induced stress in a sphere.
//!
//! Units: stiffness constants C_ij and moduli in GPa (as DFT codes report them), surface energy
//! γ_s in J/m², fracture toughness K_IC in MPa·m^½, stresses in MPa, partial molar volume Ω_v in
//! m³/mol, concentrations in mol/m³. Voigt notation with engineering shear strains (C44 is the
//! shear stiffness, S = C⁻¹). Equations as in `shared/physics.md` §4.

use crate::laws::transport::{check_n_inputs, require_positive};
use crate::model::{Axis, InputSpec, Model, ModelError, OutputSpec, Scalar};
use thiserror::Error;

/// Why a mechanics computation failed or a mechanics law could not be built.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum MechanicsError {
    /// C is not positive definite; `condition` names the failing Born criterion.
    #[error(
        "Born stability violated: {condition} = {value} (must be > 0); smallest eigenvalue of C = {min_eigenvalue} GPa"
    )]
    BornUnstable {
        /// The Born criterion, as an expression in the C_ij.
        condition: String,
        /// Its value \[GPa\].
        value: f64,
        /// Smallest eigenvalue of C \[GPa\].
        min_eigenvalue: f64,
    },
    /// A symmetry name the law does not know.
    #[error(
        "unknown crystal symmetry '{0}': expected one of cubic, hexagonal, orthorhombic, triclinic"
    )]
    UnknownSymmetry(String),
    /// A grid option that cannot be used.
    #[error("grid '{name}': {reason}")]
    BadGrid {
        /// The grid option.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A number of elastic constants the symmetry does not have.
    #[error("expected {expected} elastic constants, got {found}")]
    WrongConstantCount {
        /// Independent constants of the symmetry.
        expected: usize,
        /// Constants given.
        found: usize,
    },
}

impl From<MechanicsError> for ModelError {
    fn from(e: MechanicsError) -> Self {
        match e {
            MechanicsError::BornUnstable {
                condition, value, ..
            } => ModelError::out_of_range(
                &format!("Born stability condition {condition}"),
                value,
                "> 0 (C positive definite)",
            ),
            other => ModelError::SolverFailed(other.to_string()),
        }
    }
}

/// A stiffness matrix in Voigt 6×6 form \[GPa\], symmetric.
pub type Stiffness<D> = [[D; 6]; 6];

// ---------------------------------------------------------------------------------------------
// Crystal symmetry → stiffness matrix
// ---------------------------------------------------------------------------------------------

/// Crystal symmetry class: which independent C_ij are inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symmetry {
    /// C11, C12, C44 (C11 = C22 = C33, C12 = C13 = C23, C44 = C55 = C66).
    Cubic,
    /// C11, C12, C13, C33, C44 (hexagonal axis along 3; C22 = C11, C23 = C13, C55 = C44,
    /// C66 = (C11 − C12)/2).
    Hexagonal,
    /// C11, C22, C33, C12, C13, C23, C44, C55, C66.
    Orthorhombic,
    /// All 21 C_ij with i ≤ j, row by row (C11, C12, …, C16, C22, …, C66).
    Triclinic,
}

const CUBIC_NAMES: [&str; 3] = ["C11", "C12", "C44"];
const HEXAGONAL_NAMES: [&str; 5] = ["C11", "C12", "C13", "C33", "C44"];
const ORTHORHOMBIC_NAMES: [&str; 9] = [
    "C11", "C22", "C33", "C12", "C13", "C23", "C44", "C55", "C66",
];
const TRICLINIC_NAMES: [&str; 21] = [
    "C11", "C12", "C13", "C14", "C15", "C16", "C22", "C23", "C24", "C25", "C26", "C33", "C34",
    "C35", "C36", "C44", "C45", "C46", "C55", "C56", "C66",
];

impl Symmetry {
    /// Parses `cubic`, `hexagonal`, `orthorhombic` or `triclinic` (case-insensitive).
    pub fn parse(s: &str) -> Result<Self, MechanicsError> {
        match s.to_ascii_lowercase().as_str() {
            "cubic" => Ok(Symmetry::Cubic),
            "hexagonal" => Ok(Symmetry::Hexagonal),
            "orthorhombic" => Ok(Symmetry::Orthorhombic),
            "triclinic" => Ok(Symmetry::Triclinic),
            _ => Err(MechanicsError::UnknownSymmetry(s.to_string())),
        }
    }

    /// The independent constants, in input order (all in GPa).
    pub fn constant_names(&self) -> &'static [&'static str] {
        match self {
            Symmetry::Cubic => &CUBIC_NAMES,
            Symmetry::Hexagonal => &HEXAGONAL_NAMES,
            Symmetry::Orthorhombic => &ORTHORHOMBIC_NAMES,
            Symmetry::Triclinic => &TRICLINIC_NAMES,
        }
    }

    /// The full symmetric 6×6 stiffness \[GPa\] from the independent constants `c`
    /// (in [`Symmetry::constant_names`] order).
    pub fn stiffness<D: Scalar>(&self, c: &[D]) -> Result<Stiffness<D>, MechanicsError> {
        let n = self.constant_names().len();
        if c.len() != n {
            return Err(MechanicsError::WrongConstantCount {
                expected: n,
                found: c.len(),
            });
        }
        let z = D::from(0.0);
        let mut m = [[z; 6]; 6];
        let mut set = |i: usize, j: usize, v: D| {
            m[i][j] = v;
            m[j][i] = v;
        };
        match self {
            Symmetry::Cubic => {
                let (c11, c12, c44) = (c[0], c[1], c[2]);
                for i in 0..3 {
                    set(i, i, c11);
                    set(i + 3, i + 3, c44);
                }
                set(0, 1, c12);
                set(0, 2, c12);
                set(1, 2, c12);
            }
            Symmetry::Hexagonal => {
                let (c11, c12, c13, c33, c44) = (c[0], c[1], c[2], c[3], c[4]);
                set(0, 0, c11);
                set(1, 1, c11);
                set(2, 2, c33);
                set(0, 1, c12);
                set(0, 2, c13);
                set(1, 2, c13);
                set(3, 3, c44);
                set(4, 4, c44);
                set(5, 5, (c11 - c12) * 0.5);
            }
            Symmetry::Orthorhombic => {
                set(0, 0, c[0]);
                set(1, 1, c[1]);
                set(2, 2, c[2]);
                set(0, 1, c[3]);
                set(0, 2, c[4]);
                set(1, 2, c[5]);
                set(3, 3, c[6]);
                set(4, 4, c[7]);
                set(5, 5, c[8]);
            }
            Symmetry::Triclinic => {
                let mut k = 0;
                for i in 0..6 {
                    for j in i..6 {
                        set(i, j, c[k]);
                        k += 1;
                    }
                }
            }
        }
        Ok(m)
    }

    /// The symmetry-specific necessary and sufficient Born conditions, as (name, value) pairs
    /// evaluated on the real part; all must be > 0. Triclinic has none beyond the leading
    /// principal minors (checked by [`born_stability`] for every symmetry).
    pub fn born_conditions(&self, c: &Stiffness<f64>) -> Vec<(String, f64)> {
        match self {
            // Mouhat & Coudert, Phys. Rev. B 90, 224104 (2014), eqs. (13), (15).
            Symmetry::Cubic => vec![
                ("C11 − C12".into(), c[0][0] - c[0][1]),
                ("C11 + 2·C12".into(), c[0][0] + 2.0 * c[0][1]),
                ("C44".into(), c[3][3]),
            ],
            Symmetry::Hexagonal => vec![
                ("C11 − |C12|".into(), c[0][0] - c[0][1].abs()),
                (
                    "(C11 + C12)·C33 − 2·C13²".into(),
                    (c[0][0] + c[0][1]) * c[2][2] - 2.0 * c[0][2] * c[0][2],
                ),
                ("C44".into(), c[3][3]),
            ],
            Symmetry::Orthorhombic => vec![
                ("C11".into(), c[0][0]),
                (
                    "C11·C22 − C12²".into(),
                    c[0][0] * c[1][1] - c[0][1] * c[0][1],
                ),
                ("det(C[1..3, 1..3])".into(), det3(c)),
                ("C44".into(), c[3][3]),
                ("C55".into(), c[4][4]),
                ("C66".into(), c[5][5]),
            ],
            Symmetry::Triclinic => vec![],
        }
    }
}

fn det3(c: &Stiffness<f64>) -> f64 {
    c[0][0] * (c[1][1] * c[2][2] - c[1][2] * c[2][1])
        - c[0][1] * (c[1][0] * c[2][2] - c[1][2] * c[2][0])
        + c[0][2] * (c[1][0] * c[2][1] - c[1][1] * c[2][0])
}

fn re_matrix<D: Scalar>(c: &Stiffness<D>) -> Stiffness<f64> {
    let mut m = [[0.0; 6]; 6];
    for i in 0..6 {
        for j in 0..6 {
            m[i][j] = c[i][j].re();
        }
    }
    m
}

/// Smallest eigenvalue of the real part of C \[GPa\] (for error messages).
pub fn min_eigenvalue(c: &Stiffness<f64>) -> f64 {
    let m = nalgebra::Matrix6::from_fn(|i, j| c[i][j]);
    m.symmetric_eigenvalues().min()
}

// ---------------------------------------------------------------------------------------------
// Cholesky, inverse, stability
// ---------------------------------------------------------------------------------------------

/// Cholesky factor L (C = L·Lᵀ, lower triangular) of a symmetric 6×6 matrix, generic over the
/// scalar. Fails with the order k (1..=6) of the first leading principal minor that is not
/// positive, and that minor's value (the product of the pivots).
#[allow(clippy::needless_range_loop)] // index loops read like the matrix algebra
pub fn cholesky6<D: Scalar>(c: &Stiffness<D>) -> Result<Stiffness<D>, (usize, f64)> {
    let z = D::from(0.0);
    let mut l = [[z; 6]; 6];
    let mut minor = 1.0;
    for j in 0..6 {
        let mut d = c[j][j];
        for k in 0..j {
            d -= l[j][k] * l[j][k];
        }
        minor *= d.re();
        if d.re() <= 0.0 || !d.re().is_finite() {
            return Err((j + 1, minor));
        }
        let ljj = d.sqrt();
        l[j][j] = ljj;
        for i in j + 1..6 {
            let mut s = c[i][j];
            for k in 0..j {
                s -= l[i][k] * l[j][k];
            }
            l[i][j] = s / ljj;
        }
    }
    Ok(l)
}

/// Born stability: C positive definite. Checks the symmetry's named conditions first (e.g. for
/// cubic C11 − C12 > 0, C11 + 2·C12 > 0, C44 > 0), then the six leading principal minors
/// (Sylvester's criterion, via Cholesky). Returns the Cholesky factor of C.
pub fn born_stability<D: Scalar>(
    symmetry: Option<Symmetry>,
    c: &Stiffness<D>,
) -> Result<Stiffness<D>, MechanicsError> {
    let cre = re_matrix(c);
    if let Some(s) = symmetry {
        for (name, v) in s.born_conditions(&cre) {
            if v <= 0.0 || !v.is_finite() {
                return Err(MechanicsError::BornUnstable {
                    condition: name,
                    value: v,
                    min_eigenvalue: min_eigenvalue(&cre),
                });
            }
        }
    }
    cholesky6(c).map_err(|(k, minor)| MechanicsError::BornUnstable {
        condition: format!("leading principal minor of order {k} (det C[1..{k}, 1..{k}])"),
        value: minor,
        min_eigenvalue: min_eigenvalue(&cre),
    })
}

/// Inverse of C = L·Lᵀ from its Cholesky factor: S = C⁻¹ \[1/GPa\], generic over the scalar.
#[allow(clippy::needless_range_loop)] // index loops read like the matrix algebra
pub fn inverse_from_cholesky<D: Scalar>(l: &Stiffness<D>) -> Stiffness<D> {
    let z = D::from(0.0);
    let mut s = [[z; 6]; 6];
    for col in 0..6 {
        // Solve L·y = e_col, then Lᵀ·x = y.
        let mut y = [z; 6];
        for i in 0..6 {
            let mut v = if i == col { D::from(1.0) } else { z };
            for k in 0..i {
                v -= l[i][k] * y[k];
            }
            y[i] = v / l[i][i];
        }
        for i in (0..6).rev() {
            let mut v = y[i];
            for k in i + 1..6 {
                v -= l[k][i] * s[k][col];
            }
            s[i][col] = v / l[i][i];
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Polycrystalline moduli
// ---------------------------------------------------------------------------------------------

/// Voigt, Reuss and Hill polycrystalline moduli \[GPa\], Hill E \[GPa\], Hill ν and A^U.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ElasticModuli<D> {
    /// 9K_V = (C11+C22+C33) + 2(C12+C23+C31).
    pub k_voigt: D,
    /// 1/K_R = (S11+S22+S33) + 2(S12+S23+S31).
    pub k_reuss: D,
    /// K_H = (K_V + K_R)/2.
    pub k_hill: D,
    /// 15G_V = (C11+C22+C33) − (C12+C23+C31) + 3(C44+C55+C66).
    pub g_voigt: D,
    /// 15/G_R = 4(S11+S22+S33) − 4(S12+S23+S31) + 3(S44+S55+S66).
    pub g_reuss: D,
    /// G_H = (G_V + G_R)/2.
    pub g_hill: D,
    /// E_H = 9·K_H·G_H/(3·K_H + G_H).
    pub e_hill: D,
    /// ν_H = (3·K_H − 2·G_H)/(2·(3·K_H + G_H)) (dimensionless).
    pub nu_hill: D,
    /// Universal anisotropy A^U = 5·G_V/G_R + K_V/K_R − 6 (dimensionless, 0 for isotropic).
    pub anisotropy: D,
}

/// Young's modulus from bulk and shear moduli, E = 9KG/(3K + G) (units of K and G).
#[inline]
pub fn youngs_modulus<D: Scalar>(k: D, g: D) -> D {
    k * g * 9.0 / (k * 3.0 + g)
}

/// Poisson's ratio from bulk and shear moduli, ν = (3K − 2G)/(2(3K + G)) (dimensionless).
#[inline]
pub fn poisson_ratio<D: Scalar>(k: D, g: D) -> D {
    (k * 3.0 - g * 2.0) / ((k * 3.0 + g) * 2.0)
}

/// Voigt–Reuss–Hill moduli of a stiffness matrix C \[GPa\] (see [`ElasticModuli`] for the
/// equations). Fails with [`MechanicsError::BornUnstable`] unless C is positive definite;
/// `symmetry` (if given) names the symmetry-specific condition that fails.
pub fn elastic_moduli<D: Scalar>(
    symmetry: Option<Symmetry>,
    c: &Stiffness<D>,
) -> Result<ElasticModuli<D>, MechanicsError> {
    let l = born_stability(symmetry, c)?;
    let s = inverse_from_cholesky(&l);
    let diag = c[0][0] + c[1][1] + c[2][2];
    let off = c[0][1] + c[1][2] + c[2][0];
    let shear = c[3][3] + c[4][4] + c[5][5];
    let k_voigt = (diag + off * 2.0) / 9.0;
    let g_voigt = (diag - off + shear * 3.0) / 15.0;
    let sdiag = s[0][0] + s[1][1] + s[2][2];
    let soff = s[0][1] + s[1][2] + s[2][0];
    let sshear = s[3][3] + s[4][4] + s[5][5];
    let k_reuss = (sdiag + soff * 2.0).recip();
    let g_reuss = D::from(15.0) / (sdiag * 4.0 - soff * 4.0 + sshear * 3.0);
    let k_hill = (k_voigt + k_reuss) * 0.5;
    let g_hill = (g_voigt + g_reuss) * 0.5;
    Ok(ElasticModuli {
        k_voigt,
        k_reuss,
        k_hill,
        g_voigt,
        g_reuss,
        g_hill,
        e_hill: youngs_modulus(k_hill, g_hill),
        nu_hill: poisson_ratio(k_hill, g_hill),
        anisotropy: g_voigt / g_reuss * 5.0 + k_voigt / k_reuss - 6.0,
    })
}

// ---------------------------------------------------------------------------------------------
// Fracture and diffusion-induced stress
// ---------------------------------------------------------------------------------------------

/// Griffith critical energy release rate G_c = 2·γ_s \[J/m²\] (γ_s the surface energy in J/m²).
#[inline]
pub fn griffith_energy_release_rate<D: Scalar>(gamma_s: D) -> D {
    gamma_s * 2.0
}

/// Plane-strain modulus E' = E/(1 − ν²) (units of E).
#[inline]
pub fn plane_strain_modulus<D: Scalar>(e: D, nu: D) -> D {
    e / (-(nu * nu) + 1.0)
}

/// Griffith fracture toughness K_IC = sqrt(E'·G_c), E' = E/(1 − ν²), G_c = 2·γ_s.
///
/// Units: E in GPa, ν dimensionless, γ_s in J/m²; K_IC in MPa·m^½
/// (sqrt(Pa · J/m²) = Pa·m^½, divided by 10⁶).
#[inline]
pub fn griffith_k_ic<D: Scalar>(e_gpa: D, nu: D, gamma_s: D) -> D {
    (plane_strain_modulus(e_gpa, nu) * 1e9 * griffith_energy_release_rate(gamma_s)).sqrt() * 1e-6
}

/// Fracture strength of a body with a flaw of size a: σ_f = K_IC/(Y·sqrt(π·a)).
///
/// Units: K_IC in MPa·m^½, a_flaw in m, Y (geometry factor) dimensionless; σ_f in MPa.
#[inline]
pub fn flaw_strength<D: Scalar>(k_ic: D, y: D, a_flaw: D) -> D {
    k_ic / (y * (a_flaw * std::f64::consts::PI).sqrt())
}

/// Tangential (hoop) stress at the surface of a sphere from a concentration difference,
/// σ_θ(R) = Ω_v·E·(c_avg − c_surf)/(3(1 − ν)) (Zhang, Shyy & Sastry 2007).
///
/// Units: Ω_v in m³/mol, c in mol/m³ (so Ω_v·c is a volumetric strain), E in any unit; σ in the
/// unit of E. Tensile (> 0) when the surface is depleted (c_surf < c_avg, delithiation).
#[inline]
pub fn sphere_surface_hoop_stress<D: Scalar>(omega_v: D, e: D, nu: D, c_avg: D, c_surf: D) -> D {
    omega_v * e * (c_avg - c_surf) / ((-nu + 1.0) * 3.0)
}

/// ∫₀^{ξ_k} c(ξ)·ξ² dξ at every node of a grid ξ (ξ[0] = 0), exact for the piecewise-linear
/// interpolant of c (so a uniform c integrates exactly to c·ξ³/3).
fn cumulative_r2_integral<D: Scalar>(xi: &[f64], c: &[D], out: &mut [D]) {
    out[0] = D::from(0.0);
    for k in 1..xi.len() {
        let (a, b) = (xi[k - 1], xi[k]);
        let s = (c[k] - c[k - 1]) / (b - a);
        let alpha = c[k - 1] - s * a;
        out[k] = out[k - 1]
            + alpha * ((b * b * b - a * a * a) / 3.0)
            + s * ((b.powi(4) - a.powi(4)) / 4.0);
    }
}

/// Checks a radial grid: at least 2 points, `r[0] = 0`, strictly increasing, finite.
pub fn check_radial_grid(r: &[f64]) -> Result<(), MechanicsError> {
    let bad = |reason: &str| MechanicsError::BadGrid {
        name: "r".into(),
        reason: reason.into(),
    };
    if r.len() < 2 {
        return Err(bad("needs at least 2 points"));
    }
    if r[0] != 0.0 {
        return Err(bad("must start at r = 0"));
    }
    if r.windows(2).any(|w| !w[1].is_finite() || w[1] <= w[0]) {
        return Err(bad("must be strictly increasing and finite"));
    }
    Ok(())
}

/// Tangential (hoop) stress profile in a sphere of radius R = r.last() for a concentration
/// profile c(r) on the grid r (`r[0] = 0`):
/// σ_θ(r) = Ω_v·E/(3(1−ν))·[(2/R³)∫₀^R c·r'²dr' + (1/r³)∫₀^r c·r'²dr' − c(r)]
/// (Zhang, Shyy & Sastry, J. Electrochem. Soc. 154, A910 (2007)); at r = 0 the middle term is its
/// limit c(0)/3. The integrals are exact for piecewise-linear c, so a uniform c gives zero
/// stress and the value at r = R equals [`sphere_surface_hoop_stress`] with c_avg = (3/R³)∫₀^R c r²dr.
///
/// Units: r in any length unit (only r/R matters), Ω_v in m³/mol, c in mol/m³, E in any unit;
/// σ in the unit of E. Writes one value per grid point into `out`.
pub fn sphere_hoop_stress_profile<D: Scalar>(
    omega_v: D,
    e: D,
    nu: D,
    r: &[f64],
    c: &[D],
    out: &mut [D],
) -> Result<(), MechanicsError> {
    check_radial_grid(r)?;
    if c.len() != r.len() || out.len() != r.len() {
        return Err(MechanicsError::BadGrid {
            name: "r".into(),
            reason: format!(
                "{} radii, {} concentrations, {} outputs",
                r.len(),
                c.len(),
                out.len()
            ),
        });
    }
    let big_r = *r.last().expect("checked len");
    let xi: Vec<f64> = r.iter().map(|v| v / big_r).collect();
    cumulative_r2_integral(&xi, c, out);
    let pre = omega_v * e / ((-nu + 1.0) * 3.0);
    let whole = out[r.len() - 1] * 2.0;
    for k in 0..r.len() {
        let inner = if k == 0 {
            c[0] / 3.0
        } else {
            out[k] / xi[k].powi(3)
        };
        out[k] = pre * (whole + inner - c[k]);
    }
    Ok(())
}

/// Parabolic concentration profile with volume average c_avg and surface value c_surf:
/// c(ξ) = c_avg + (5/2)·(c_surf − c_avg)·(ξ² − 3/5), ξ = r/R. This is the long-time
/// (steady-flux) profile of a sphere under constant surface flux (Crank §6.3).
///
/// Units: c in mol/m³, ξ dimensionless.
#[inline]
pub fn parabolic_concentration<D: Scalar>(c_avg: D, c_surf: D, xi: f64) -> D {
    c_avg + (c_surf - c_avg) * (2.5 * (xi * xi - 0.6))
}

/// Surface excess of the steady-flux sphere, c_surf − c_avg = J·R/(5·D).
///
/// Units: J the molar flux into the particle in mol/(m²·s) (negative on delithiation), R in m,
/// D in m²/s; result in mol/m³.
#[inline]
pub fn steady_flux_surface_excess<D: Scalar>(j_flux: D, radius: D, diffusivity: D) -> D {
    j_flux * radius / (diffusivity * 5.0)
}

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

/// Where a model's Young's modulus and Poisson's ratio come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElasticSource {
    /// Inputs E \[GPa\] and nu \[1\].
    Isotropic,
    /// Inputs the independent C_ij \[GPa\] of the symmetry; E and ν are the Hill averages.
    Stiffness(Symmetry),
}

impl ElasticSource {
    fn input_specs(&self) -> Vec<InputSpec> {
        match self {
            ElasticSource::Isotropic => {
                vec![InputSpec::new("E", "GPa"), InputSpec::new("nu", "1")]
            }
            ElasticSource::Stiffness(s) => s
                .constant_names()
                .iter()
                .map(|n| InputSpec::new(n, "GPa"))
                .collect(),
        }
    }

    fn n_inputs(&self) -> usize {
        match self {
            ElasticSource::Isotropic => 2,
            ElasticSource::Stiffness(s) => s.constant_names().len(),
        }
    }

    /// (E \[GPa\], ν) from the first `n_inputs()` entries of `theta`.
    fn e_nu<D: Scalar>(&self, theta: &[D]) -> Result<(D, D), ModelError> {
        let (e, nu) = match self {
            ElasticSource::Isotropic => (theta[0], theta[1]),
            ElasticSource::Stiffness(s) => {
                let c = s.stiffness(&theta[..self.n_inputs()])?;
                let m = elastic_moduli(Some(*s), &c)?;
                (m.e_hill, m.nu_hill)
            }
        };
        require_positive("E", e)?;
        let v = nu.re();
        if !(v > -1.0 && v < 0.5) {
            return Err(ModelError::out_of_range("nu", v, "-1 < nu < 0.5"));
        }
        Ok((e, nu))
    }
}

/// Voigt/Reuss/Hill moduli from the independent stiffness constants of a crystal symmetry.
///
/// Inputs: the symmetry's C_ij \[GPa\] (cubic: C11, C12, C44). Scalar outputs: K_V, K_R, K_H,
/// G_V, G_R, G_H, E_H \[GPa\], nu_H \[1\], A_U \[1\] (see [`ElasticModuli`]). An unstable C (not
/// positive definite) is a [`ModelError::OutOfPhysicalRange`] naming the failing Born condition.
#[derive(Debug, Clone)]
pub struct ElasticModuliModel {
    symmetry: Symmetry,
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl ElasticModuliModel {
    /// Model for one crystal symmetry.
    pub fn new(symmetry: Symmetry) -> Self {
        let inputs = ElasticSource::Stiffness(symmetry).input_specs();
        let outputs = [
            ("K_V", "GPa"),
            ("K_R", "GPa"),
            ("K_H", "GPa"),
            ("G_V", "GPa"),
            ("G_R", "GPa"),
            ("G_H", "GPa"),
            ("E_H", "GPa"),
            ("nu_H", "1"),
            ("A_U", "1"),
        ]
        .iter()
        .map(|(n, u)| OutputSpec::scalar(n, u))
        .collect();
        Self {
            symmetry,
            inputs,
            outputs,
        }
    }
}

impl Default for ElasticModuliModel {
    /// Cubic symmetry.
    fn default() -> Self {
        Self::new(Symmetry::Cubic)
    }
}

impl Model for ElasticModuliModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        check_n_inputs(theta, self.inputs.len())?;
        let c = self.symmetry.stiffness(theta)?;
        let m = elastic_moduli(Some(self.symmetry), &c)?;
        out[..9].copy_from_slice(&[
            m.k_voigt,
            m.k_reuss,
            m.k_hill,
            m.g_voigt,
            m.g_reuss,
            m.g_hill,
            m.e_hill,
            m.nu_hill,
            m.anisotropy,
        ]);
        Ok(())
    }
}

/// Griffith fracture toughness from a DFT surface energy.
///
/// Inputs: the elastic source's inputs (E \[GPa\], nu \[1\]; or the C_ij \[GPa\] of a symmetry, giving
/// Hill E and ν), then gamma_s \[J/m²\]. Scalar outputs: `G_c` = 2γ_s \[J/m²\], `E_prime` =
/// E/(1−ν²) \[GPa\], `K_IC` = sqrt(E'·G_c) \[MPa·m^½\].
#[derive(Debug, Clone)]
pub struct GriffithModel {
    elastic: ElasticSource,
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl GriffithModel {
    /// Model with E and ν from `elastic`.
    pub fn new(elastic: ElasticSource) -> Self {
        let mut inputs = elastic.input_specs();
        inputs.push(InputSpec::new("gamma_s", "J/m^2"));
        Self {
            elastic,
            inputs,
            outputs: vec![
                OutputSpec::scalar("G_c", "J/m^2"),
                OutputSpec::scalar("E_prime", "GPa"),
                OutputSpec::scalar("K_IC", "MPa*m^0.5"),
            ],
        }
    }
}

impl Default for GriffithModel {
    /// Isotropic E and ν as inputs.
    fn default() -> Self {
        Self::new(ElasticSource::Isotropic)
    }
}

impl Model for GriffithModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        check_n_inputs(theta, self.inputs.len())?;
        let (e, nu) = self.elastic.e_nu(theta)?;
        let gamma = theta[self.elastic.n_inputs()];
        require_positive("gamma_s", gamma)?;
        out[0] = griffith_energy_release_rate(gamma);
        out[1] = plane_strain_modulus(e, nu);
        out[2] = griffith_k_ic(e, nu, gamma);
        Ok(())
    }
}

/// How a sphere-stress model's concentration profile is specified (always parabolic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcentrationSource {
    /// Inputs c_avg and c_surf \[mol/m³\].
    SurfaceAverage,
    /// Inputs c_avg \[mol/m³\], J \[mol/(m²·s)\] (flux into the particle), R \[m\], D \[m²/s\]:
    /// c_surf = c_avg + J·R/(5D).
    SteadyFlux,
}

/// Diffusion-induced hoop stress in a spherical particle and its fracture risk.
///
/// Inputs: the elastic source's inputs (E \[GPa\], nu \[1\]; or C_ij \[GPa\]), Omega_v \[m³/mol\]
/// (partial molar volume), the concentration inputs (c_avg, c_surf \[mol/m³\]; or c_avg, J, R, D),
/// then gamma_s \[J/m²\], a_flaw \[m\] (flaw size), Y \[1\] (flaw geometry factor).
/// The profile is parabolic ([`parabolic_concentration`]). Scalar outputs: `sigma_surface` and
/// `sigma_center` \[MPa\] (σ_θ at r = R and r = 0), `K_IC` \[MPa·m^½\] (Griffith), `strength`
/// = K_IC/(Y·sqrt(π·a_flaw)) \[MPa\], `fracture_risk` = sigma_surface/strength \[1\] (> 1 predicts
/// cracking; ≤ 0 means a compressive surface). With a radial grid, curve `sigma_theta_vs_r`
/// \[MPa\] on r/R.
#[derive(Debug, Clone)]
pub struct SphereStressModel {
    elastic: ElasticSource,
    concentration: ConcentrationSource,
    xi_grid: Option<Vec<f64>>,
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
}

impl SphereStressModel {
    /// `xi_grid` (r/R, from 0 to 1, strictly increasing) adds the σ_θ(r) curve.
    pub fn new(
        elastic: ElasticSource,
        concentration: ConcentrationSource,
        xi_grid: Option<Vec<f64>>,
    ) -> Result<Self, MechanicsError> {
        let mut inputs = elastic.input_specs();
        inputs.push(InputSpec::new("Omega_v", "m^3/mol"));
        inputs.push(InputSpec::new("c_avg", "mol/m^3"));
        match concentration {
            ConcentrationSource::SurfaceAverage => {
                inputs.push(InputSpec::new("c_surf", "mol/m^3"));
            }
            ConcentrationSource::SteadyFlux => inputs.extend([
                InputSpec::new("J", "mol/(m^2*s)"),
                InputSpec::new("R", "m"),
                InputSpec::new("D", "m^2/s"),
            ]),
        }
        inputs.extend([
            InputSpec::new("gamma_s", "J/m^2"),
            InputSpec::new("a_flaw", "m"),
            InputSpec::new("Y", "1"),
        ]);
        let mut outputs = vec![
            OutputSpec::scalar("sigma_surface", "MPa"),
            OutputSpec::scalar("sigma_center", "MPa"),
            OutputSpec::scalar("K_IC", "MPa*m^0.5"),
            OutputSpec::scalar("strength", "MPa"),
            OutputSpec::scalar("fracture_risk", "1"),
        ];
        if let Some(g) = &xi_grid {
            check_radial_grid(g)?;
            if (g[g.len() - 1] - 1.0).abs() > 1e-12 {
                return Err(MechanicsError::BadGrid {
                    name: "r".into(),
                    reason: "the r/R grid must end at 1".into(),
                });
            }
            outputs.push(OutputSpec::curve(
                "sigma_theta_vs_r",
                "MPa",
                Axis {
                    name: "r/R".into(),
                    unit: "1".into(),
                    values: g.clone(),
                },
            ));
        }
        Ok(Self {
            elastic,
            concentration,
            xi_grid,
            inputs,
            outputs,
        })
    }

    /// Uniform r/R grid with `n` ≥ 2 points from 0 to 1.
    pub fn uniform_grid(n: usize) -> Vec<f64> {
        (0..n).map(|i| i as f64 / (n - 1).max(1) as f64).collect()
    }
}

impl Default for SphereStressModel {
    /// Isotropic E and ν, c_avg and c_surf as inputs, no curve.
    fn default() -> Self {
        Self::new(
            ElasticSource::Isotropic,
            ConcentrationSource::SurfaceAverage,
            None,
        )
        .expect("valid defaults")
    }
}

impl Model for SphereStressModel {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }
    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        check_n_inputs(theta, self.inputs.len())?;
        let (e, nu) = self.elastic.e_nu(theta)?;
        let mut k = self.elastic.n_inputs();
        let omega_v = theta[k];
        let c_avg = theta[k + 1];
        k += 2;
        let c_surf = match self.concentration {
            ConcentrationSource::SurfaceAverage => {
                k += 1;
                theta[k - 1]
            }
            ConcentrationSource::SteadyFlux => {
                let (j, r, d) = (theta[k], theta[k + 1], theta[k + 2]);
                require_positive("R", r)?;
                require_positive("D", d)?;
                k += 3;
                c_avg + steady_flux_surface_excess(j, r, d)
            }
        };
        let (gamma, a_flaw, y) = (theta[k], theta[k + 1], theta[k + 2]);
        require_positive("gamma_s", gamma)?;
        require_positive("a_flaw", a_flaw)?;
        require_positive("Y", y)?;
        let e_mpa = e * 1e3;
        let surface = sphere_surface_hoop_stress(omega_v, e_mpa, nu, c_avg, c_surf);
        let k_ic = griffith_k_ic(e, nu, gamma);
        let strength = flaw_strength(k_ic, y, a_flaw);
        out[0] = surface;
        // Parabolic profile: σ_θ(0) = −σ_θ(R).
        out[1] = -surface;
        out[2] = k_ic;
        out[3] = strength;
        out[4] = surface / strength;
        if let Some(g) = &self.xi_grid {
            let c: Vec<D> = g
                .iter()
                .map(|&xi| parabolic_concentration(c_avg, c_surf, xi))
                .collect();
            sphere_hoop_stress_profile(omega_v, e_mpa, nu, g, &c, &mut out[5..5 + g.len()])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::laws::transport::tests::assert_ad_matches_fd;
    use crate::model::{evaluate, output_range};

    const SI: [f64; 3] = [165.7, 63.9, 79.6];

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn silicon_hill_moduli_match_physics_md() {
        let c = Symmetry::Cubic.stiffness(&SI).unwrap();
        let m = elastic_moduli(Some(Symmetry::Cubic), &c).unwrap();
        // physics.md §4: K = 97.83, G_V = 68.12, G_R = 64.95, G_H = 66.54 GPa, E_H = 162.7 GPa,
        // ν_H = 0.2228, A^U = 0.244.
        assert!(close(m.k_voigt, 97.83, 0.005), "{}", m.k_voigt);
        assert!(close(m.k_reuss, 97.83, 0.005), "{}", m.k_reuss);
        assert!(close(m.k_hill, 97.83, 0.005));
        assert!(close(m.g_voigt, 68.12, 0.005), "{}", m.g_voigt);
        assert!(close(m.g_reuss, 64.95, 0.005), "{}", m.g_reuss);
        assert!(close(m.g_hill, 66.54, 0.005), "{}", m.g_hill);
        assert!(close(m.e_hill, 162.7, 0.05), "{}", m.e_hill);
        assert!(close(m.nu_hill, 0.2228, 0.00005), "{}", m.nu_hill);
        assert!(close(m.anisotropy, 0.244, 0.0005), "{}", m.anisotropy);
        // The model reports the same numbers.
        let v = evaluate(&ElasticModuliModel::default(), &SI).unwrap();
        assert_eq!(v[5], m.g_hill);
    }

    #[test]
    #[allow(clippy::needless_range_loop)] // index loops read like the matrix algebra
    fn inverse_is_inverse() {
        let c = Symmetry::Orthorhombic
            .stiffness(&[230.0, 210.0, 250.0, 90.0, 80.0, 95.0, 60.0, 55.0, 70.0])
            .unwrap();
        let l = born_stability(None, &c).unwrap();
        let s = inverse_from_cholesky(&l);
        for i in 0..6 {
            for j in 0..6 {
                let p: f64 = (0..6).map(|k| c[i][k] * s[k][j]).sum();
                assert!(
                    close(p, if i == j { 1.0 } else { 0.0 }, 1e-13),
                    "{i}{j}: {p}"
                );
            }
        }
    }

    #[test]
    fn born_instability_names_the_condition() {
        // C12 > C11 breaks C11 − C12 > 0.
        let c = Symmetry::Cubic.stiffness(&[100.0, 120.0, 50.0]).unwrap();
        let e = elastic_moduli(Some(Symmetry::Cubic), &c).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("C11 − C12"), "{msg}");
        assert!(msg.contains("smallest eigenvalue of C = -20"), "{msg}");
        let c = Symmetry::Cubic.stiffness(&[100.0, 50.0, -1.0]).unwrap();
        let msg = elastic_moduli(Some(Symmetry::Cubic), &c)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("C44"), "{msg}");
        let c = Symmetry::Cubic.stiffness(&[100.0, -60.0, 10.0]).unwrap();
        let msg = elastic_moduli(Some(Symmetry::Cubic), &c)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("C11 + 2·C12"), "{msg}");
        // Without a symmetry the failing leading principal minor is named.
        let c = Symmetry::Cubic.stiffness(&[100.0, 120.0, 50.0]).unwrap();
        let msg = elastic_moduli(None, &c).unwrap_err().to_string();
        assert!(msg.contains("leading principal minor of order 2"), "{msg}");
        // Through the model: a recoverable OutOfPhysicalRange naming the condition.
        match evaluate(&ElasticModuliModel::default(), &[100.0, 120.0, 50.0]) {
            Err(ModelError::OutOfPhysicalRange { quantity, .. }) => {
                assert!(quantity.contains("C11 − C12"), "{quantity}")
            }
            other => panic!("expected a Born error, got {other:?}"),
        }
    }

    #[test]
    fn reuss_hill_voigt_ordering_and_isotropic_limit() {
        for (sym, c) in [
            (Symmetry::Cubic, vec![165.7, 63.9, 79.6]),
            (Symmetry::Cubic, vec![100.0, 80.0, 10.0]),
            (Symmetry::Hexagonal, vec![160.0, 90.0, 60.0, 180.0, 40.0]),
            (
                Symmetry::Orthorhombic,
                vec![230.0, 210.0, 250.0, 90.0, 80.0, 95.0, 60.0, 55.0, 70.0],
            ),
        ] {
            let m = elastic_moduli(Some(sym), &sym.stiffness(&c).unwrap()).unwrap();
            assert!(m.k_reuss <= m.k_hill + 1e-12 && m.k_hill <= m.k_voigt + 1e-12);
            assert!(m.g_reuss <= m.g_hill && m.g_hill <= m.g_voigt);
            assert!(m.anisotropy >= -1e-12);
        }
        // Isotropic: C44 = (C11 − C12)/2.
        let m = elastic_moduli(
            Some(Symmetry::Cubic),
            &Symmetry::Cubic.stiffness(&[200.0, 80.0, 60.0]).unwrap(),
        )
        .unwrap();
        assert!(close(m.anisotropy, 0.0, 1e-12), "{}", m.anisotropy);
        assert!(close(m.k_voigt, m.k_reuss, 1e-10));
        assert!(close(m.g_voigt, m.g_reuss, 1e-10));
        assert!(close(m.k_hill, 120.0, 1e-10) && close(m.g_hill, 60.0, 1e-10));
        // E, ν of the isotropic solid: λ = 80, μ = 60 → E = μ(3λ+2μ)/(λ+μ), ν = λ/(2(λ+μ)).
        assert!(close(m.e_hill, 60.0 * 360.0 / 140.0, 1e-10));
        assert!(close(m.nu_hill, 80.0 / 280.0, 1e-12));
    }

    #[test]
    fn griffith_hand_computation() {
        // E = 160 GPa, ν = 0.25, γ_s = 1.2 J/m²: E' = 170.667 GPa, G_c = 2.4 J/m²,
        // K_IC = sqrt(1.70667e11 · 2.4) Pa·m^½ = 0.64 MPa·m^½.
        let k: f64 = griffith_k_ic(160.0, 0.25, 1.2);
        assert!(close(
            k,
            (160e9 / (1.0 - 0.0625) * 2.4f64).sqrt() / 1e6,
            1e-14
        ));
        assert!(close(k, 0.64, 1e-12), "{k}");
        let v = evaluate(&GriffithModel::default(), &[160.0, 0.25, 1.2]).unwrap();
        assert!(close(v[0], 2.4, 1e-15) && close(v[2], 0.64, 1e-12));
        // Strength for a 1 µm flaw with Y = 1: K_IC/sqrt(π·1e-6) [MPa].
        let s: f64 = flaw_strength(0.64, 1.0, 1e-6);
        assert!(close(s, 0.64 / (std::f64::consts::PI * 1e-6).sqrt(), 1e-9));
    }

    #[test]
    fn sphere_stress_analytic_checks() {
        let (omega_v, e, nu) = (3.5e-6, 150e3, 0.25);
        let grid = SphereStressModel::uniform_grid(41);
        // Uniform concentration: no stress anywhere.
        let c = vec![2.0e4f64; grid.len()];
        let mut out = vec![0.0f64; grid.len()];
        sphere_hoop_stress_profile(omega_v, e, nu, &grid, &c, &mut out).unwrap();
        assert!(out.iter().all(|s| s.abs() < 1e-9), "{out:?}");
        // Any profile: the r → R value equals the surface formula with the profile's c_avg.
        let c: Vec<f64> = grid
            .iter()
            .map(|x| 1e4 + 8e3 * x.powi(3) - 3e3 * x)
            .collect();
        sphere_hoop_stress_profile(omega_v, e, nu, &grid, &c, &mut out).unwrap();
        // c_avg = 3∫₀¹ c ξ² dξ = 1e4 + 3·8e3/6 − 3·3e3/4 exactly.
        let c_avg = 1e4 + 4e3 - 2.25e3;
        let surf = sphere_surface_hoop_stress(omega_v, e, nu, c_avg, *c.last().unwrap());
        assert!(
            close(out[40], surf, 2e-3 * surf.abs()),
            "{} vs {surf}",
            out[40]
        );
        // Parabolic profile: σ_θ(ξ) = k·(2A/5)(1 − 2ξ²) with A = (5/2)(c_surf − c_avg), so
        // σ_θ(0) = −σ_θ(R) and σ_θ = 0 at ξ = 1/√2.
        let (c_avg, c_surf) = (2.0e4, 1.6e4);
        let c: Vec<f64> = grid
            .iter()
            .map(|&x| parabolic_concentration(c_avg, c_surf, x))
            .collect();
        sphere_hoop_stress_profile(omega_v, e, nu, &grid, &c, &mut out).unwrap();
        let surf = sphere_surface_hoop_stress(omega_v, e, nu, c_avg, c_surf);
        assert!(surf > 0.0, "delithiation puts the surface in tension");
        for (x, s) in grid.iter().zip(&out) {
            let exact = -surf * (1.0 - 2.0 * x * x);
            assert!(close(*s, exact, 2e-3 * surf), "ξ = {x}: {s} vs {exact}");
        }
        assert!(close(out[40], surf, 1e-3 * surf));
    }

    #[test]
    fn sphere_model_outputs() {
        let grid = SphereStressModel::uniform_grid(11);
        let m = SphereStressModel::new(
            ElasticSource::Isotropic,
            ConcentrationSource::SteadyFlux,
            Some(grid),
        )
        .unwrap();
        // E = 100 GPa, ν = 0.3, Ω_v = 3e-6, c_avg = 2e4, J = −1e-5 mol/(m²s), R = 5e-6 m,
        // D = 1e-15 m²/s → c_surf − c_avg = −1e4 mol/m³; σ = 3e-6·1e5·1e4/(2.1) MPa.
        let theta = [100.0, 0.3, 3e-6, 2e4, -1e-5, 5e-6, 1e-15, 1.0, 1e-6, 1.12];
        let v = evaluate(&m, &theta).unwrap();
        let expect = 3e-6 * 1e5 * 1e4 / 2.1;
        assert!(close(v[0], expect, 1e-9 * expect), "{} vs {expect}", v[0]);
        assert!(close(v[1], -expect, 1e-9 * expect));
        let r = output_range(&m, "sigma_theta_vs_r").unwrap();
        assert!(close(v[r.end - 1], v[0], 2e-2 * expect));
        assert!(close(v[r.start], v[1], 2e-2 * expect));
        assert!(close(v[4], v[0] / v[3], 1e-12));
    }

    #[test]
    fn ad_gradients_match_finite_differences() {
        assert_ad_matches_fd(&ElasticModuliModel::default(), &SI, 1e-6);
        let hex = ElasticModuliModel::new(Symmetry::Hexagonal);
        assert_ad_matches_fd(&hex, &[160.0, 90.0, 60.0, 180.0, 40.0], 1e-6);
        let ortho = ElasticModuliModel::new(Symmetry::Orthorhombic);
        assert_ad_matches_fd(
            &ortho,
            &[230.0, 210.0, 250.0, 90.0, 80.0, 95.0, 60.0, 55.0, 70.0],
            1e-6,
        );
        assert_ad_matches_fd(&GriffithModel::default(), &[160.0, 0.25, 1.2], 1e-6);
        assert_ad_matches_fd(
            &GriffithModel::new(ElasticSource::Stiffness(Symmetry::Cubic)),
            &[165.7, 63.9, 79.6, 1.4],
            1e-6,
        );
        let grid = SphereStressModel::uniform_grid(9);
        for conc in [
            ConcentrationSource::SurfaceAverage,
            ConcentrationSource::SteadyFlux,
        ] {
            let m = SphereStressModel::new(
                ElasticSource::Stiffness(Symmetry::Cubic),
                conc,
                Some(grid.clone()),
            )
            .unwrap();
            let mut theta = vec![165.7, 63.9, 79.6, 3e-6, 2e4];
            match conc {
                ConcentrationSource::SurfaceAverage => theta.push(1.5e4),
                // D = 1e-13: the FD helper's step floor (1e-18) is then only 1e-5 relative.
                ConcentrationSource::SteadyFlux => theta.extend([-1e-3, 5e-6, 1e-13]),
            }
            theta.extend([1.0, 1e-6, 1.12]);
            assert_ad_matches_fd(&m, &theta, 1e-6);
        }
    }
}
