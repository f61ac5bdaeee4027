//! Lower convex hull of tabulated formation energies and the 0 K step voltage profile built from it.
//!
//! Input: compositions x_i (Li per host formula unit, or per site) and energies E_i in eV per
//! formula unit, referenced to Li metal: E_i = E(Li_{x_i}H) − E(H) − x_i·E(Li, bcc). Each edge of
//! the lower convex hull of (x_i, E_i) is a two-phase region at 0 K, so the voltage against Li
//! metal is a step (this is how pymatgen builds 0 K voltage profiles):
//!
//! $$ V_{ab} = -\frac{E(x_b) - E(x_a)}{(x_b - x_a)\,e} \quad [\mathrm{V}] $$
//!
//! Points above the hull are unstable at 0 K and give no step; their energy above the hull is
//! reported. Hull selection is done on the real parts, voltages are generic over the scalar so
//! the step heights stay differentiable with respect to the energies.

use crate::model::Scalar;

use super::ThermoError;

/// Indices (into the input, ascending x) of the vertices of the lower convex hull of the points
/// (x_i, y_i). Collinear interior points are not vertices. Duplicate x: only the lowest y can be
/// a vertex. Needs at least two distinct x.
pub fn lower_hull_indices(x: &[f64], y: &[f64]) -> Result<Vec<usize>, ThermoError> {
    if x.len() != y.len() {
        return Err(ThermoError::LengthMismatch {
            what: "compositions and energies".into(),
            expected: x.len(),
            found: y.len(),
        });
    }
    for (i, (&xi, &yi)) in x.iter().zip(y).enumerate() {
        if !xi.is_finite() || !yi.is_finite() {
            return Err(ThermoError::InvalidParameter {
                name: format!("point {i}"),
                value: if xi.is_finite() { yi } else { xi },
                expected: "finite composition and energy".into(),
            });
        }
    }
    let mut order: Vec<usize> = (0..x.len()).collect();
    if !x.windows(2).all(|w| w[0] < w[1]) {
        order.sort_by(|&a, &b| x[a].total_cmp(&x[b]).then(y[a].total_cmp(&y[b])));
    }
    // Keep the lowest energy at each distinct x.
    order.dedup_by(|b, a| x[*a] == x[*b]);
    if order.len() < 2 {
        return Err(ThermoError::TooFewPoints {
            needed: 2,
            found: order.len(),
        });
    }
    let mut hull: Vec<usize> = Vec::with_capacity(order.len());
    for &p in &order {
        while hull.len() >= 2 {
            let o = hull[hull.len() - 2];
            let a = hull[hull.len() - 1];
            let cross = (x[a] - x[o]) * (y[p] - y[o]) - (y[a] - y[o]) * (x[p] - x[o]);
            if cross <= 0.0 {
                hull.pop();
            } else {
                break;
            }
        }
        hull.push(p);
    }
    Ok(hull)
}

/// One 0 K voltage step: the hull edge from x_lo to x_hi at voltage `voltage` \[V vs Li/Li+\].
#[derive(Debug, Clone, PartialEq)]
pub struct VoltageStep<D> {
    /// Composition at the start of the step.
    pub x_lo: f64,
    /// Composition at the end of the step.
    pub x_hi: f64,
    /// Step voltage V = −(E_hi − E_lo)/(x_hi − x_lo) \[V\].
    pub voltage: D,
}

/// The 0 K voltage profile: hull vertices, the steps between them, and each input point's
/// energy above the hull \[eV per formula unit\] (0 on the hull).
#[derive(Debug, Clone, PartialEq)]
pub struct StepProfile<D> {
    /// Input indices of the hull vertices, ascending in x.
    pub vertices: Vec<usize>,
    /// One step per hull edge, ascending in x.
    pub steps: Vec<VoltageStep<D>>,
    /// Energy above the hull of every input point \[eV\], in input order.
    pub e_above_hull: Vec<f64>,
}

impl<D: Scalar> StepProfile<D> {
    /// Voltage \[V\] at composition x: the step whose edge [x_lo, x_hi) contains x; the last step
    /// includes its right end. Outside the tabulated range this is an error.
    pub fn voltage_at(&self, x: f64) -> Result<D, ThermoError> {
        let first = self.steps.first().map(|s| s.x_lo).unwrap_or(f64::NAN);
        let last = self.steps.last().map(|s| s.x_hi).unwrap_or(f64::NAN);
        if !(x >= first && x <= last) {
            return Err(ThermoError::OutsideRange {
                x,
                lo: first,
                hi: last,
            });
        }
        let n = self.steps.len();
        for (i, s) in self.steps.iter().enumerate() {
            if x < s.x_hi || i + 1 == n {
                return Ok(s.voltage);
            }
        }
        unreachable!("steps cover [first, last]")
    }

    /// Average voltage over the whole tabulated range \[V\]: −(E_last − E_first)/(x_last − x_first),
    /// equal to the capacity-weighted mean of the steps.
    pub fn average_voltage(&self) -> D {
        let mut num = D::from(0.0);
        let mut den = 0.0;
        for s in &self.steps {
            num += s.voltage * (s.x_hi - s.x_lo);
            den += s.x_hi - s.x_lo;
        }
        num / den
    }
}

/// Build the 0 K step voltage profile from compositions `x` and energies `e` [eV per formula
/// unit, referenced to Li metal, see the module doc]. Hull vertices are chosen on the real parts.
pub fn step_voltage_profile<D: Scalar>(x: &[f64], e: &[D]) -> Result<StepProfile<D>, ThermoError> {
    let ere: Vec<f64> = e.iter().map(|v| v.re()).collect();
    let vertices = lower_hull_indices(x, &ere)?;
    let steps: Vec<VoltageStep<D>> = vertices
        .windows(2)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            VoltageStep {
                x_lo: x[a],
                x_hi: x[b],
                voltage: -(e[b] - e[a]) / (x[b] - x[a]),
            }
        })
        .collect();
    let e_above_hull = x
        .iter()
        .zip(&ere)
        .map(|(&xi, &ei)| {
            let seg = vertices
                .windows(2)
                .find(|w| xi >= x[w[0]] && xi <= x[w[1]])
                .map(|w| (w[0], w[1]));
            match seg {
                Some((a, b)) => {
                    let t = (xi - x[a]) / (x[b] - x[a]);
                    (ei - (ere[a] + t * (ere[b] - ere[a]))).max(0.0)
                }
                None => 0.0,
            }
        })
        .collect();
    Ok(StepProfile {
        vertices,
        steps,
        e_above_hull,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-made five-point set (x, E \[eV per formula unit vs Li metal\]):
    /// (0, 0), (0.25, −1.0), (0.5, −1.7), (0.75, −2.0), (1, −2.6).
    /// Chords: 0→0.25 slope −4; 0.25→0.5 slope −2.8; 0.5→0.75 slope −1.2; 0.75→1 slope −2.4.
    /// The last slope is below the one before, so (0.75, −2.0) is above the hull: the chord
    /// 0.5→1 has slope −1.8 and passes at −2.15 at x = 0.75, so E_above_hull = 0.15 eV.
    /// Hull: 0, 0.25, 0.5, 1 → steps 4.0 V, 2.8 V, 1.8 V; average 2.6 V.
    #[test]
    fn five_point_hull_and_steps_known_by_hand() {
        let x = [0.0, 0.25, 0.5, 0.75, 1.0];
        let e = [0.0, -1.0, -1.7, -2.0, -2.6];
        let p = step_voltage_profile(&x, &e).unwrap();
        assert_eq!(p.vertices, vec![0, 1, 2, 4]);
        let v: Vec<f64> = p.steps.iter().map(|s| s.voltage).collect();
        for (a, b) in v.iter().zip([4.0, 2.8, 1.8]) {
            assert!((a - b).abs() < 1e-12, "{v:?}");
        }
        assert!((p.e_above_hull[3] - 0.15).abs() < 1e-12);
        assert_eq!(p.e_above_hull[0], 0.0);
        assert_eq!(p.e_above_hull[2], 0.0);
        assert!((p.average_voltage() - 2.6).abs() < 1e-12);
        assert!((p.voltage_at(0.6).unwrap() - 1.8).abs() < 1e-12);
        assert!((p.voltage_at(1.0).unwrap() - 1.8).abs() < 1e-12);
        assert!((p.voltage_at(0.0).unwrap() - 4.0).abs() < 1e-12);
        assert!(p.voltage_at(1.1).is_err());
        // The voltage profile is non-increasing along x, as on any convex hull.
        assert!(v.windows(2).all(|w| w[1] <= w[0]));
    }

    #[test]
    fn unsorted_and_duplicate_input() {
        let x = [1.0, 0.5, 0.0, 0.5];
        let e = [-2.0, -0.5, 0.0, -1.5];
        let p = step_voltage_profile(&x, &e).unwrap();
        assert_eq!(p.vertices, vec![2, 3, 0]);
        assert!((p.e_above_hull[1] - 1.0).abs() < 1e-12);
        assert!(step_voltage_profile(&[0.3, 0.3], &[0.0, 1.0]).is_err());
        assert!(step_voltage_profile(&[0.3, f64::NAN], &[0.0, 1.0]).is_err());
    }
}
