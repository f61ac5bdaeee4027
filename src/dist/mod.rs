//! Atomistic estimates as joint distributions: named, united parameters, each with a transform
//! to an unconstrained space z in which the joint distribution is multivariate normal,
//! z ~ N(μ, Σ), x_i = T_i(z_i).

pub mod estimate;
pub mod file;
pub mod sample;
pub mod sobol;
pub mod summary;
pub mod transform;

use nalgebra::{DMatrix, DVector};
use thiserror::Error;

pub use file::{load_priors, parse_priors};
pub use transform::Transform;

/// What is wrong with a distribution specification. `field` names the place in the priors
/// file (e.g. `parameter[2].sd`, `correlation.matrix[0][1]`).
#[derive(Debug, Clone, Error, PartialEq)]
pub enum DistError {
    /// A field's value is not what the specification needs (a non-positive sd, a bound outside its range).
    #[error("field '{field}': expected {expected}, found {found}")]
    Invalid {
        /// The field's path in the priors file.
        field: String,
        /// What it must hold.
        expected: String,
        /// What it holds.
        found: String,
    },
    /// A correlation or covariance matrix that is not symmetric.
    #[error(
        "field '{field}': the matrix is not symmetric: entry [{i}][{j}] = {a} but [{j}][{i}] = {b}"
    )]
    NotSymmetric {
        /// The matrix's field.
        field: String,
        /// Row of the entry (0-based).
        i: usize,
        /// Column of the entry (0-based).
        j: usize,
        /// Entry \[i\]\[j\].
        a: f64,
        /// Entry \[j\]\[i\].
        b: f64,
    },
    /// A correlation matrix that is not positive definite.
    #[error(
        "field '{field}': the matrix is not positive definite: its smallest eigenvalue is {value:.6e} \
         on the correlation scale, where the units do not matter (expected > 0); the eigenvector \
         loads mostly on {names}"
    )]
    NotPositiveDefinite {
        /// The matrix's field.
        field: String,
        /// Its smallest eigenvalue on the correlation scale.
        value: f64,
        /// The parameters the corresponding eigenvector loads on most.
        names: String,
    },
    /// A parameter name that is not one of the distribution's.
    #[error("field '{field}': unknown parameter name '{name}' (known: {known})")]
    UnknownName {
        /// The field naming it.
        field: String,
        /// The name.
        name: String,
        /// The known names.
        known: String,
    },
    /// A parameter name given twice.
    #[error("field '{field}': parameter name '{name}' appears more than once")]
    DuplicateName {
        /// The field naming it again.
        field: String,
        /// The name.
        name: String,
    },
}

impl DistError {
    /// An [`DistError::Invalid`] error.
    pub fn invalid(
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl ToString,
    ) -> Self {
        Self::Invalid {
            field: field.into(),
            expected: expected.into(),
            found: found.to_string(),
        }
    }
}

/// One named parameter of a joint distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// Parameter name, as studies bind it.
    pub name: String,
    /// Unit of the natural value x (e.g. "eV", "Hz", "m^2/s", "1").
    pub unit: String,
    /// How z maps to the natural value x = T(z).
    pub transform: Transform,
    /// Optional free text for this parameter (method, reference).
    pub source: Option<String>,
}

/// A joint distribution of named parameters: z ~ N(μ, Σ) in the transformed space,
/// x_i = T_i(z_i) in natural units.
#[derive(Debug, Clone)]
pub struct JointDistribution {
    /// Title of the priors.
    pub title: String,
    /// Free text: method, functional, supercell, reference.
    pub source: String,
    /// The parameters, in order.
    pub params: Vec<Parameter>,
    /// μ in the transformed space.
    pub mean_z: DVector<f64>,
    /// Σ in the transformed space.
    pub cov_z: DMatrix<f64>,
    /// Lower Cholesky factor L, Σ = L·Lᵀ.
    chol: DMatrix<f64>,
}

impl JointDistribution {
    /// Build and validate: names unique, μ and Σ finite, Σ symmetric positive definite.
    pub fn new(
        title: String,
        source: String,
        params: Vec<Parameter>,
        mean_z: DVector<f64>,
        cov_z: DMatrix<f64>,
    ) -> Result<Self, DistError> {
        let n = params.len();
        if n == 0 {
            return Err(DistError::invalid(
                "parameter",
                "at least one [[parameter]]",
                "none",
            ));
        }
        for (i, p) in params.iter().enumerate() {
            if params[..i].iter().any(|q| q.name == p.name) {
                return Err(DistError::DuplicateName {
                    field: format!("parameter[{i}].name"),
                    name: p.name.clone(),
                });
            }
        }
        if mean_z.len() != n || cov_z.nrows() != n || cov_z.ncols() != n {
            return Err(DistError::invalid(
                "covariance",
                format!("a {n}×{n} matrix for {n} parameters"),
                format!("{}×{}", cov_z.nrows(), cov_z.ncols()),
            ));
        }
        for (i, v) in mean_z.iter().enumerate() {
            if !v.is_finite() {
                return Err(DistError::invalid(
                    format!("parameter[{i}] ({})", params[i].name),
                    "a finite location",
                    v,
                ));
            }
        }
        let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
        let chol = validate_covariance("covariance", &cov_z, &names)?;
        Ok(Self {
            title,
            source,
            params,
            mean_z,
            cov_z,
            chol,
        })
    }

    /// Number of parameters.
    pub fn dim(&self) -> usize {
        self.params.len()
    }

    /// Parameter names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.params.iter().map(|p| p.name.as_str()).collect()
    }

    /// Index of the parameter `name`, if any.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.params.iter().position(|p| p.name == name)
    }

    /// Lower Cholesky factor of Σ.
    pub fn cholesky(&self) -> &DMatrix<f64> {
        &self.chol
    }

    /// Standard deviations in the transformed space.
    pub fn sd_z(&self) -> Vec<f64> {
        (0..self.dim()).map(|i| self.cov_z[(i, i)].sqrt()).collect()
    }

    /// Correlation matrix (the same in z and, for monotone transforms, the rank correlation in x).
    pub fn correlation(&self) -> DMatrix<f64> {
        let sd = self.sd_z();
        DMatrix::from_fn(self.dim(), self.dim(), |i, j| {
            self.cov_z[(i, j)] / (sd[i] * sd[j])
        })
    }

    /// z = μ + L·n for a vector of independent standard normals n.
    pub fn z_from_standard_normals(&self, n: &[f64], z: &mut [f64]) {
        let d = self.dim();
        for i in 0..d {
            let mut acc = self.mean_z[i];
            for j in 0..=i {
                acc += self.chol[(i, j)] * n[j];
            }
            z[i] = acc;
        }
    }

    /// x_i = T_i(z_i).
    pub fn natural_from_z(&self, z: &[f64], x: &mut [f64]) {
        for ((p, zi), xi) in self.params.iter().zip(z).zip(x.iter_mut()) {
            *xi = p.transform.to_natural(*zi);
        }
    }

    /// The natural value at the centre of the distribution, x_i = T_i(μ_i) (the median).
    pub fn median_natural(&self) -> Vec<f64> {
        let mut x = vec![0.0; self.dim()];
        self.natural_from_z(self.mean_z.as_slice(), &mut x);
        x
    }

    /// Marginal quantile of parameter i in natural units (transforms are monotone).
    pub fn marginal_quantile(&self, i: usize, p: f64) -> f64 {
        let z = self.mean_z[i] + self.cov_z[(i, i)].sqrt() * sample::standard_normal_quantile(p);
        self.params[i].transform.to_natural(z)
    }

    /// Marginal mean and sd of parameter i in natural units: exact for normal and lognormal,
    /// by quadrature for logit-normal.
    pub fn marginal_mean_sd(&self, i: usize) -> (f64, f64) {
        let mu = self.mean_z[i];
        let s = self.cov_z[(i, i)].sqrt();
        match self.params[i].transform {
            Transform::Identity => (mu, s),
            Transform::Log => {
                let m = (mu + 0.5 * s * s).exp();
                (m, m * (s * s).exp_m1().sqrt())
            }
            t @ Transform::Logit { .. } => sample::normal_moments_through(&t, mu, s),
        }
    }

    /// Express parameter `i` in another unit, x' = c·x with c > 0: the transformed-space
    /// distribution changes exactly (identity: μ·c, Σ rows/columns ·c; log: μ + ln c; logit:
    /// bounds ·c).
    pub fn rescale(&mut self, i: usize, c: f64, unit: &str) {
        match &mut self.params[i].transform {
            Transform::Identity => {
                self.mean_z[i] *= c;
                for j in 0..self.dim() {
                    self.cov_z[(i, j)] *= c;
                    self.cov_z[(j, i)] *= c;
                    self.chol[(i, j)] *= c;
                }
            }
            Transform::Log => self.mean_z[i] += c.ln(),
            Transform::Logit { lower, upper } => {
                *lower *= c;
                *upper *= c;
            }
        }
        self.params[i].unit = unit.to_string();
    }

    /// Independent distributions side by side (block-diagonal covariance). Names must be unique
    /// across the parts.
    pub fn concat(parts: &[JointDistribution]) -> Result<Self, DistError> {
        let params: Vec<Parameter> = parts
            .iter()
            .flat_map(|d| d.params.iter().cloned())
            .collect();
        let n = params.len();
        let mut mean = DVector::zeros(n);
        let mut cov = DMatrix::zeros(n, n);
        let mut o = 0;
        for d in parts {
            let k = d.dim();
            mean.rows_mut(o, k).copy_from(&d.mean_z);
            cov.view_mut((o, o), (k, k)).copy_from(&d.cov_z);
            o += k;
        }
        let title = parts
            .iter()
            .map(|d| d.title.as_str())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let source = parts
            .iter()
            .map(|d| d.source.trim())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n");
        Self::new(title, source, params, mean, cov)
    }

    /// The marginal of a subset of parameters, by name, in the given order.
    pub fn marginal(&self, names: &[&str]) -> Result<Self, DistError> {
        let idx: Vec<usize> = names
            .iter()
            .map(|n| {
                self.index_of(n).ok_or_else(|| DistError::UnknownName {
                    field: "marginal".into(),
                    name: n.to_string(),
                    known: self.names().join(", "),
                })
            })
            .collect::<Result<_, _>>()?;
        let params = idx.iter().map(|&i| self.params[i].clone()).collect();
        let mean = DVector::from_iterator(idx.len(), idx.iter().map(|&i| self.mean_z[i]));
        let cov = DMatrix::from_fn(idx.len(), idx.len(), |a, b| self.cov_z[(idx[a], idx[b])]);
        Self::new(self.title.clone(), self.source.clone(), params, mean, cov)
    }
}

/// Check that `m` is finite, symmetric and positive definite and return its lower Cholesky
/// factor. The error names the offending entry or the negative eigenvalue.
pub fn validate_covariance(
    field: &str,
    m: &DMatrix<f64>,
    names: &[&str],
) -> Result<DMatrix<f64>, DistError> {
    let n = m.nrows();
    for i in 0..n {
        for j in 0..n {
            let v = m[(i, j)];
            if !v.is_finite() {
                return Err(DistError::invalid(
                    format!("{field}[{i}][{j}]"),
                    "a finite number",
                    v,
                ));
            }
        }
    }
    for i in 0..n {
        for j in 0..i {
            let (a, b) = (m[(i, j)], m[(j, i)]);
            if (a - b).abs() > 1e-12 * a.abs().max(b.abs()).max(f64::MIN_POSITIVE) {
                return Err(DistError::NotSymmetric {
                    field: field.into(),
                    i,
                    j,
                    a,
                    b,
                });
            }
        }
    }
    // Every test on the correlation matrix R = D^-1/2 Σ D^-1/2, so that it does not depend on
    // the units: a barrier in eV (variance 1e-4) beside a frequency in Hz (variance 1e24) is
    // as well conditioned as the same numbers in THz. Σ = D^1/2 R D^1/2, so its Cholesky factor
    // is D^1/2 times that of R.
    let mut scale = vec![0.0; n];
    for i in 0..n {
        let v = m[(i, i)];
        if v <= 0.0 {
            return Err(DistError::invalid(
                format!("{field}[{i}][{i}]"),
                format!(
                    "a variance > 0 (the diagonal of a covariance, {})",
                    names.get(i).copied().unwrap_or("")
                ),
                v,
            ));
        }
        scale[i] = v.sqrt();
    }
    let r = DMatrix::from_fn(n, n, |i, j| m[(i, j)] / (scale[i] * scale[j]));
    match r.clone().cholesky() {
        Some(c) => {
            // A Cholesky factor can exist for a numerically singular matrix; require a sane
            // condition so sampling and the delta method stay meaningful.
            let l = c.l();
            let dmin = (0..n).map(|i| l[(i, i)]).fold(f64::INFINITY, f64::min);
            let dmax = (0..n).map(|i| l[(i, i)]).fold(0.0, f64::max);
            if dmin <= 1e-12 * dmax {
                return Err(not_pd(field, &r, names));
            }
            Ok(DMatrix::from_fn(n, n, |i, j| scale[i] * l[(i, j)]))
        }
        None => Err(not_pd(field, &r, names)),
    }
}

fn not_pd(field: &str, m: &DMatrix<f64>, names: &[&str]) -> DistError {
    let eig = m.clone().symmetric_eigen();
    let (k, &value) = eig
        .eigenvalues
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .expect("non-empty matrix");
    let v = eig.eigenvectors.column(k);
    let mut load: Vec<(usize, f64)> = v.iter().map(|x| x.abs()).enumerate().collect();
    load.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top: Vec<String> = load
        .iter()
        .take(2)
        .filter(|(_, w)| *w > 0.1)
        .map(|(i, _)| names.get(*i).map_or(format!("#{i}"), |s| s.to_string()))
        .collect();
    DistError::NotPositiveDefinite {
        field: field.into(),
        value,
        names: top.join(" and "),
    }
}
