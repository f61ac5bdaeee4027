//! Uniform cubic Hermite tables: a smooth function of one variable sampled once — value and
//! slope at equally spaced nodes — then evaluated with one index computation and one cubic, for
//! functions a solver evaluates many times per step (the SPMe's D_e(c_e) in every cell).
//!
//! On the interval [x_k, x_k + h] with t = (x − x_k)/h the table is the cubic Hermite
//! interpolant p(t) = y_k·H00 + h·y′_k·H10 + y_{k+1}·H01 + h·y′_{k+1}·H11, C¹ across nodes,
//! exact for cubics, with error ≤ h⁴·max|f⁗|/384.

/// A function sampled on a uniform grid (see the module doc).
#[derive(Debug, Clone)]
pub struct UniformHermite {
    x0: f64,
    x1: f64,
    inv_h: f64,
    /// per interval the coefficients (c0, c1, c2, c3) of p(t) = ((c3·t + c2)·t + c1)·t + c0
    cubic: Vec<[f64; 4]>,
}

impl UniformHermite {
    /// `intervals` ≥ 1 equal intervals over [x0, x1] (x0 < x1), `f(x)` giving the value and
    /// slope at a node.
    pub fn new(x0: f64, x1: f64, intervals: usize, f: impl Fn(f64) -> (f64, f64)) -> Self {
        let n = intervals.max(1);
        let h = (x1 - x0) / n as f64;
        let nodes: Vec<(f64, f64)> = (0..=n).map(|k| f(x0 + k as f64 * h)).collect();
        let cubic = nodes
            .windows(2)
            .map(|w| {
                let ((y0, d0), (y1, d1)) = (w[0], w[1]);
                let (m0, m1) = (h * d0, h * d1);
                [
                    y0,
                    m0,
                    3.0 * (y1 - y0) - 2.0 * m0 - m1,
                    2.0 * (y0 - y1) + m0 + m1,
                ]
            })
            .collect();
        Self {
            x0,
            x1,
            inv_h: 1.0 / h,
            cubic,
        }
    }

    /// Value and slope at `x`, or None outside [x0, x1] (or for NaN).
    #[inline(always)]
    pub fn value_slope(&self, x: f64) -> Option<(f64, f64)> {
        if !(x >= self.x0 && x <= self.x1) {
            return None;
        }
        let s = (x - self.x0) * self.inv_h;
        // SAFETY: x0 ≤ x ≤ x1 makes s finite and in [0, intervals] (rounding may give a hair
        // over intervals, clamped below), so the conversion is exact truncation; the checked
        // `as usize` costs a saturation sequence per call in the SPMe's innermost loop
        let k = unsafe { s.to_int_unchecked::<usize>() }.min(self.cubic.len() - 1);
        let t = s - k as f64;
        let [c0, c1, c2, c3] = self.cubic[k];
        let v = ((c3 * t + c2) * t + c1) * t + c0;
        let dv = ((3.0 * c3 * t + 2.0 * c2) * t + c1) * self.inv_h;
        Some((v, dv))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_for_cubics_and_fourth_order_for_smooth_functions() {
        let cubic = |x: f64| (x * x * x - 2.0 * x + 1.0, 3.0 * x * x - 2.0);
        let t = UniformHermite::new(-1.0, 2.0, 7, cubic);
        for k in 0..=300 {
            let x = -1.0 + 3.0 * k as f64 / 300.0;
            let (v, d) = t.value_slope(x).unwrap();
            assert!(
                (v - cubic(x).0).abs() < 1e-13 && (d - cubic(x).1).abs() < 1e-12,
                "{x}"
            );
        }
        assert!(t.value_slope(2.0 + 1e-12).is_none() && t.value_slope(f64::NAN).is_none());
        // e^x on [0, 1]: error ≤ h⁴·e/384, 16× smaller per halving of h
        let err = |n: usize| {
            let t = UniformHermite::new(0.0, 1.0, n, |x: f64| (x.exp(), x.exp()));
            (0..=997)
                .map(|k| {
                    let x = k as f64 / 997.0;
                    (t.value_slope(x).unwrap().0 - x.exp()).abs()
                })
                .fold(0.0, f64::max)
        };
        let (e8, e16) = (err(8), err(16));
        let bound = std::f64::consts::E / 384.0 / 8f64.powi(4);
        assert!(e8 < bound && (e8 / e16).log2() > 3.8, "{e8} {e16}");
    }
}
