//! Open-circuit potentials and one-variable coefficient functions: C¹ PCHIP tables, BPX expressions, thermodynamic laws.
//!
//! Every function here is evaluated at a scalar `D`, so derivatives flow through the argument
//! (stoichiometry, concentration) and, for law-based OCPs, through the law's own parameters.

use super::expr::Expr;
use crate::constants::{E_CHARGE, FARADAY, K_B_EV, R_GAS};
use crate::model::Scalar;
use std::fmt;
use std::sync::Arc;
use thiserror::Error;

/// Errors building tables and functions.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum TableError {
    /// Fewer than 2 points.
    #[error("{source_name}: table needs at least 2 points, got {n}")]
    TooShort {
        /// The table's file or field.
        source_name: String,
        /// Points given.
        n: usize,
    },
    /// x and y of different lengths.
    #[error("{source_name}: x and y have different lengths ({nx} vs {ny})")]
    LengthMismatch {
        /// The table's file or field.
        source_name: String,
        /// Length of x.
        nx: usize,
        /// Length of y.
        ny: usize,
    },
    /// x not strictly increasing.
    #[error(
        "{source_name}: x must be strictly increasing (non-monotone table): row {row} has x = {x} after {prev}"
    )]
    NotIncreasing {
        /// The table's file or field.
        source_name: String,
        /// The row, 1-based.
        row: usize,
        /// x at that row.
        x: f64,
        /// x at the row before.
        prev: f64,
    },
    /// A NaN or infinite entry.
    #[error("{source_name}: non-finite value at row {row}")]
    NonFinite {
        /// The table's file or field.
        source_name: String,
        /// The row, 1-based.
        row: usize,
    },
    /// The table's file cannot be read.
    #[error("{source_name}: cannot read: {msg}")]
    Io {
        /// The file.
        source_name: String,
        /// The operating system's error.
        msg: String,
    },
    /// A line of the table's file is not two numbers.
    #[error("{source_name}, line {line}: {msg}")]
    Syntax {
        /// The file.
        source_name: String,
        /// Line number, 1-based.
        line: usize,
        /// What is wrong.
        msg: String,
    },
}

/// A monotone piecewise-cubic Hermite interpolant (PCHIP, Fritsch–Carlson derivatives as in
/// SciPy's `PchipInterpolator`): C¹, shape-preserving, never overshoots the data. Outside the
/// table it continues linearly with the end slope (still C¹).
#[derive(Debug, Clone, PartialEq)]
pub struct Pchip {
    x: Vec<f64>,
    y: Vec<f64>,
    d: Vec<f64>,
    /// per interval k, the cubic in power form about x_k: [y_k, c1, c2, c3] with
    /// U(x_k + u) = y_k + u·(c1 + u·(c2 + u·c3)) (no division when evaluating)
    cubic: Vec<[f64; 4]>,
}

impl Pchip {
    /// Build from strictly increasing `x` and values `y`; `name` is used in error messages.
    pub fn new(x: Vec<f64>, y: Vec<f64>, name: &str) -> Result<Self, TableError> {
        let n = x.len();
        if n != y.len() {
            return Err(TableError::LengthMismatch {
                source_name: name.into(),
                nx: n,
                ny: y.len(),
            });
        }
        if n < 2 {
            return Err(TableError::TooShort {
                source_name: name.into(),
                n,
            });
        }
        for i in 0..n {
            if !x[i].is_finite() || !y[i].is_finite() {
                return Err(TableError::NonFinite {
                    source_name: name.into(),
                    row: i + 1,
                });
            }
            if i > 0 && x[i] <= x[i - 1] {
                return Err(TableError::NotIncreasing {
                    source_name: name.into(),
                    row: i + 1,
                    x: x[i],
                    prev: x[i - 1],
                });
            }
        }
        let h: Vec<f64> = (0..n - 1).map(|i| x[i + 1] - x[i]).collect();
        let del: Vec<f64> = (0..n - 1).map(|i| (y[i + 1] - y[i]) / h[i]).collect();
        let mut d = vec![0.0; n];
        if n == 2 {
            d[0] = del[0];
            d[1] = del[0];
        } else {
            for k in 1..n - 1 {
                if del[k - 1] * del[k] <= 0.0 {
                    d[k] = 0.0;
                } else {
                    let w1 = 2.0 * h[k] + h[k - 1];
                    let w2 = h[k] + 2.0 * h[k - 1];
                    d[k] = (w1 + w2) / (w1 / del[k - 1] + w2 / del[k]);
                }
            }
            d[0] = end_slope(h[0], h[1], del[0], del[1]);
            d[n - 1] = end_slope(h[n - 2], h[n - 3], del[n - 2], del[n - 3]);
        }
        // Hermite → power form: c1 = d_k, c2 = (3δ_k − 2d_k − d_{k+1})/h_k,
        // c3 = (d_k + d_{k+1} − 2δ_k)/h_k²
        let cubic = (0..n - 1)
            .map(|k| {
                let (hk, dk, dk1) = (h[k], d[k], d[k + 1]);
                [
                    y[k],
                    dk,
                    (3.0 * del[k] - 2.0 * dk - dk1) / hk,
                    (dk + dk1 - 2.0 * del[k]) / (hk * hk),
                ]
            })
            .collect();
        Ok(Self { x, y, d, cubic })
    }

    /// Read a two-column CSV (`x,y`; lines starting with `#` and a non-numeric header are skipped).
    pub fn from_csv_file(path: &std::path::Path) -> Result<Self, TableError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| TableError::Io {
            source_name: name.clone(),
            msg: e.to_string(),
        })?;
        Self::from_csv_str(&text, &name)
    }

    /// Parse two-column CSV text (see [`Pchip::from_csv_file`]).
    pub fn from_csv_str(text: &str, name: &str) -> Result<Self, TableError> {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let mut it = l.split(',');
            let a = it.next().unwrap_or("").trim();
            let b = it.next().unwrap_or("").trim();
            match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(u), Ok(v)) => {
                    x.push(u);
                    y.push(v);
                }
                _ if x.is_empty() => continue, // header
                _ => {
                    return Err(TableError::Syntax {
                        source_name: name.into(),
                        line: i + 1,
                        msg: format!("expected two numbers 'x,y', got '{l}'"),
                    });
                }
            }
        }
        Self::new(x, y, name)
    }

    /// Tabulated abscissae.
    pub fn xs(&self) -> &[f64] {
        &self.x
    }
    /// Tabulated values.
    pub fn ys(&self) -> &[f64] {
        &self.y
    }

    /// Interpolated value at `t` (derivatives flow through `t`).
    #[inline]
    pub fn eval<D: Scalar>(&self, t: D) -> D {
        let mut hint = usize::MAX;
        self.eval_hinted(t, &mut hint)
    }

    /// [`Pchip::eval`] with a bracketing hint: the interval index found by the previous call
    /// (any value works; neighbouring intervals are tried before a binary search).
    #[inline(always)]
    pub fn eval_hinted<D: Scalar>(&self, t: D, hint: &mut usize) -> D {
        if D::NDERIV <= 1 {
            let (v, dv) = self.value_slope(t.re(), hint);
            return lift(t, v, dv);
        }
        let n = self.x.len();
        let tr = t.re();
        if tr <= self.x[0] {
            return (t - self.x[0]) * self.d[0] + self.y[0];
        }
        if tr >= self.x[n - 1] {
            return (t - self.x[n - 1]) * self.d[n - 1] + self.y[n - 1];
        }
        let k = self.locate(tr, hint);
        let [y0, c1, c2, c3] = self.cubic[k];
        let u = t - self.x[k];
        ((u * c3 + c2) * u + c1) * u + y0
    }

    /// Interval k with x_k ≤ t < x_{k+1} (t strictly inside the table), starting from `hint`.
    #[inline(always)]
    fn locate(&self, t: f64, hint: &mut usize) -> usize {
        let x = &self.x;
        let k = *hint;
        let n = x.len();
        if k < n - 1 && x[k] <= t {
            if t < x[k + 1] {
                return k;
            }
            if k + 2 < n && t < x[k + 2] {
                *hint = k + 1;
                return k + 1;
            }
        } else if k >= 1 && k < n && x[k - 1] <= t && t < x[k] {
            *hint = k - 1;
            return k - 1;
        }
        let k = x.partition_point(|&v| v <= t) - 1;
        *hint = k;
        k
    }

    /// Value and slope dU/dt at a real `t` (linear continuation outside the table).
    // always inlined: for f64 the unused slope (a division) is then dropped
    #[inline(always)]
    pub fn value_slope(&self, t: f64, hint: &mut usize) -> (f64, f64) {
        let n = self.x.len();
        if t <= self.x[0] {
            return ((t - self.x[0]) * self.d[0] + self.y[0], self.d[0]);
        }
        if t >= self.x[n - 1] {
            return (
                (t - self.x[n - 1]) * self.d[n - 1] + self.y[n - 1],
                self.d[n - 1],
            );
        }
        let k = self.locate(t, hint);
        let [y0, c1, c2, c3] = self.cubic[k];
        let u = t - self.x[k];
        let v = ((u * c3 + c2) * u + c1) * u + y0;
        let dv = (u * (3.0 * c3) + 2.0 * c2) * u + c1;
        (v, dv)
    }
}

/// A function value f(x.re) with slope f'(x.re) as a scalar of x's type: f + (x − x.re)·f'
/// — exact first-order propagation for f64 and first-order dual numbers (`D::NDERIV ≤ 1`;
/// callers use the full dual arithmetic for higher orders).
#[inline]
pub fn lift<D: Scalar>(x: D, f: f64, df: f64) -> D {
    if D::NDERIV == 0 {
        D::from(f)
    } else {
        (x - x.re()) * df + f
    }
}

fn end_slope(h0: f64, h1: f64, m0: f64, m1: f64) -> f64 {
    let d = ((2.0 * h0 + h1) * m0 - h0 * m1) / (h0 + h1);
    if d.signum() != m0.signum() {
        0.0
    } else if m0.signum() != m1.signum() && d.abs() > 3.0 * m0.abs() {
        3.0 * m0
    } else {
        d
    }
}

/// An expression of one variable at x: for first-order dual numbers evaluated once with a
/// single-direction dual (value and slope) and lifted, otherwise directly.
#[inline]
fn eval_expr_fast<D: Scalar>(e: &Expr, x: D) -> D {
    if D::NDERIV == 1 {
        let r = e.eval(num_dual::Dual64::new(x.re(), 1.0));
        lift(x, r.re, r.eps)
    } else {
        e.eval(x)
    }
}

/// The shape of a one-variable coefficient: constant 1, an expression, or a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// f(x) = 1.
    One,
    /// f(x) from an expression string.
    Expr(Arc<Expr>),
    /// f(x) from a PCHIP table.
    Table(Arc<Pchip>),
}

impl Shape {
    /// f(x).
    #[inline]
    pub fn eval<D: Scalar>(&self, x: D) -> D {
        match self {
            Shape::One => D::one(),
            Shape::Expr(e) => eval_expr_fast(e, x),
            Shape::Table(t) => t.eval(x),
        }
    }
}

/// A coefficient c(x) = scale·shape(x): a constant (`shape = One`), or a function of one
/// variable (stoichiometry for a particle diffusivity, concentration in mol/m³ for electrolyte
/// properties). `scale` is of type `D`, so it can carry derivatives (e.g. a calibrated
/// diffusivity, or one computed by a transport law); for a function-valued coefficient it
/// multiplies the function (1 for an imported BPX function).
#[derive(Debug, Clone, PartialEq)]
pub struct Coefficient<D> {
    /// Multiplier (the value itself for a constant), in the coefficient's unit.
    pub scale: D,
    /// Dimensionless shape (or the function in the coefficient's unit when scale = 1).
    pub shape: Shape,
}

impl<D: Scalar> Coefficient<D> {
    /// A constant value.
    pub fn constant(v: D) -> Self {
        Self {
            scale: v,
            shape: Shape::One,
        }
    }
    /// A function from an expression with scale 1.
    pub fn expr(e: Expr) -> Self {
        Self {
            scale: D::one(),
            shape: Shape::Expr(Arc::new(e)),
        }
    }
    /// Whether the coefficient is constant.
    pub fn is_constant(&self) -> bool {
        matches!(self.shape, Shape::One)
    }
    /// Value at x.
    #[inline]
    pub fn eval(&self, x: D) -> D {
        match &self.shape {
            Shape::One => self.scale,
            s => self.scale * s.eval(x),
        }
    }
    /// Convert the scale to another scalar type (keeping only the real part's value).
    pub fn map_scale<E: Scalar>(&self, f: impl Fn(D) -> E) -> Coefficient<E> {
        Coefficient {
            scale: f(self.scale),
            shape: self.shape.clone(),
        }
    }
}

/// A law-based or user OCP U(θ, T) closure at a fixed scalar type: (stoichiometry, T \[K\]) → U \[V\].
pub type OcpFn<D> = Arc<dyn Fn(D, D) -> D + Send + Sync>;

/// An electrode's open-circuit potential U(θ) \[V vs Li/Li⁺\] as a function of the stoichiometry
/// θ = c/c_max (dimensionless) and, for law-based forms, of temperature.
#[derive(Clone)]
pub enum Ocp<D> {
    /// A measured table (PCHIP, C¹), θ → U.
    Table(Arc<Pchip>),
    /// An expression in x = θ (BPX).
    Expr(Arc<Expr>),
    /// Regular solution (physics.md §1): U = U0 − [Ω·(1 − 2θ) + k_B·T·ln(θ/(1 − θ))]/e with
    /// U0 in V and Ω in eV. Both can be dual numbers (e.g. from a DFT free-energy law).
    RegularSolution {
        /// U0 \[V\].
        u0: D,
        /// Interaction energy Ω \[eV\].
        omega_ev: D,
    },
    /// Redlich–Kister: U = U0 − k_B·T/e·ln(θ/(1−θ)) − (1/F)·∂g_ex/∂θ with
    /// g_ex = θ(1−θ)·Σ_k A_k(1−2θ)^k, A_k in J/mol.
    RedlichKister {
        /// U0 \[V\].
        u0: D,
        /// Coefficients A_k \[J/mol\], k = 0, 1, ...
        a_j_mol: Vec<D>,
    },
    /// Any closure (θ, T) → U, e.g. a composed law whose parameters are dual numbers.
    Custom(OcpFn<D>),
}

impl<D> fmt::Debug for Ocp<D>
where
    D: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ocp::Table(t) => write!(f, "Ocp::Table({} points)", t.xs().len()),
            Ocp::Expr(e) => write!(f, "Ocp::Expr({})", e.source()),
            Ocp::RegularSolution { u0, omega_ev } => {
                write!(
                    f,
                    "Ocp::RegularSolution {{ u0: {u0:?}, omega_ev: {omega_ev:?} }}"
                )
            }
            Ocp::RedlichKister { u0, a_j_mol } => {
                write!(f, "Ocp::RedlichKister {{ u0: {u0:?}, a: {a_j_mol:?} }}")
            }
            Ocp::Custom(_) => write!(f, "Ocp::Custom(<closure>)"),
        }
    }
}

impl<D: Scalar> Ocp<D> {
    /// U(θ, T) \[V\].
    #[inline]
    pub fn eval(&self, theta: D, t_kelvin: D) -> D {
        let mut hint = usize::MAX;
        self.eval_hinted(theta, t_kelvin, &mut hint)
    }

    /// [`Ocp::eval`] with a table bracketing hint (see [`Pchip::eval_hinted`]).
    #[inline(always)]
    pub fn eval_hinted(&self, theta: D, t_kelvin: D, hint: &mut usize) -> D {
        match self {
            Ocp::Table(t) => t.eval_hinted(theta, hint),
            _ => self.eval_closed_form(theta, t_kelvin),
        }
    }

    /// [`Ocp::eval`] of the forms other than a table.
    fn eval_closed_form(&self, theta: D, t_kelvin: D) -> D {
        match self {
            Ocp::Table(t) => t.eval(theta),
            Ocp::Expr(e) => eval_expr_fast(e, theta),
            Ocp::RegularSolution { u0, omega_ev } => {
                let ln = (theta / (-theta + 1.0)).ln();
                *u0 - (*omega_ev * (-theta * 2.0 + 1.0) + t_kelvin * K_B_EV * ln)
            }
            Ocp::RedlichKister { u0, a_j_mol } => {
                // g_ex' = Σ A_k [ (1−2θ)^{k+1} − 2kθ(1−θ)(1−2θ)^{k−1} ]
                let s = -theta * 2.0 + 1.0;
                let tt = theta * (-theta + 1.0);
                let mut dg = D::zero();
                for (k, a) in a_j_mol.iter().enumerate() {
                    let term = if k == 0 {
                        s
                    } else {
                        s.powi(k as i32 + 1) - tt * s.powi(k as i32 - 1) * (2.0 * k as f64)
                    };
                    dg += *a * term;
                }
                let ln = (theta / (-theta + 1.0)).ln();
                *u0 - t_kelvin * (R_GAS / FARADAY) * ln - dg / FARADAY
            }
            Ocp::Custom(f) => f(theta, t_kelvin),
        }
    }

    /// Convert to another scalar type; `f` maps the law parameters (tables and expressions are
    /// shared). A `Custom` closure cannot be converted and yields `None`.
    pub fn convert<E: Scalar>(&self, f: impl Fn(D) -> E) -> Option<Ocp<E>> {
        Some(match self {
            Ocp::Table(t) => Ocp::Table(t.clone()),
            Ocp::Expr(e) => Ocp::Expr(e.clone()),
            Ocp::RegularSolution { u0, omega_ev } => Ocp::RegularSolution {
                u0: f(*u0),
                omega_ev: f(*omega_ev),
            },
            Ocp::RedlichKister { u0, a_j_mol } => Ocp::RedlichKister {
                u0: f(*u0),
                a_j_mol: a_j_mol.iter().map(|&a| f(a)).collect(),
            },
            Ocp::Custom(_) => return None,
        })
    }
}

/// k_B/e in V/K, for reference in doc examples and tests.
pub const KB_OVER_E: f64 = crate::constants::K_B / E_CHARGE;

#[cfg(test)]
mod tests {
    use super::*;
    use num_dual::Dual64;

    #[test]
    fn pchip_interpolates_and_is_c1() {
        let x = vec![0.0, 0.1, 0.3, 0.6, 1.0];
        let y = vec![1.0, 0.6, 0.5, 0.45, 0.1];
        let p = Pchip::new(x.clone(), y.clone(), "t").unwrap();
        for (a, b) in x.iter().zip(&y) {
            assert!((p.eval(*a) - b).abs() < 1e-15);
        }
        // derivative continuity at knots, monotone between
        for &k in &[0.1, 0.3, 0.6] {
            let l = p.eval(Dual64::new(k - 1e-12, 1.0)).eps;
            let r = p.eval(Dual64::new(k + 1e-12, 1.0)).eps;
            assert!((l - r).abs() < 1e-6 * l.abs().max(1.0), "{l} {r}");
        }
        let mut prev = f64::INFINITY;
        for i in 0..=1000 {
            let v: f64 = p.eval(i as f64 / 1000.0);
            assert!(v <= prev + 1e-15);
            prev = v;
        }
    }

    #[test]
    fn non_monotone_x_is_an_error() {
        let e = Pchip::new(vec![0.0, 0.5, 0.4], vec![1.0, 2.0, 3.0], "my.csv").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("my.csv") && s.contains("row 3"), "{s}");
    }

    #[test]
    fn chen2020_tables_load() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/ocp/");
        let g = Pchip::from_csv_file(std::path::Path::new(&format!(
            "{dir}graphite_LGM50_ocp_Chen2020.csv"
        )))
        .unwrap();
        let n = Pchip::from_csv_file(std::path::Path::new(&format!(
            "{dir}nmc_LGM50_ocp_Chen2020.csv"
        )))
        .unwrap();
        assert!(g.eval(0.5) > 0.05 && g.eval(0.5) < 0.2);
        assert!(n.eval(0.5) > 3.6 && n.eval(0.5) < 4.0);
    }

    #[test]
    fn regular_solution_symmetric_point() {
        // At θ = ½ the entropy and Ω terms vanish: U = U0.
        let o: Ocp<f64> = Ocp::RegularSolution {
            u0: 3.9,
            omega_ev: 0.05,
        };
        assert!((o.eval(0.5, 298.0) - 3.9).abs() < 1e-15);
        // Redlich–Kister with A_0 = Ω·N_A e equals the regular solution
        let rk: Ocp<f64> = Ocp::RedlichKister {
            u0: 3.9,
            a_j_mol: vec![0.05 * FARADAY],
        };
        for &t in &[0.1, 0.3, 0.8] {
            assert!((rk.eval(t, 298.0) - o.eval(t, 298.0)).abs() < 1e-6);
        }
    }
}
