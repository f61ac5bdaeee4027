//! Thinning a sampled signal for a solver that steps at every sample: the fewest samples whose
//! piecewise-linear interpolant stays within a tolerance of every sample dropped
//! (Ramer–Douglas–Peucker on the vertical distance).

/// Indices (ascending, first and last included) of the samples (t_k, y_k) to keep so that the
/// piecewise-linear interpolant through them differs from every dropped y_k by at most `tol`
/// (same unit as y). `t` must increase strictly. Jumps and ramps larger than `tol` keep their
/// corners; noise below it is smoothed into straight segments. The charge (∫y dt) of the
/// thinned signal differs from the sampled one's by at most `tol`·(t_last − t_first).
pub fn simplify(t: &[f64], y: &[f64], tol: f64) -> Vec<usize> {
    let n = t.len().min(y.len());
    if n <= 2 {
        return (0..n).collect();
    }
    let mut keep = vec![false; n];
    keep[0] = true;
    keep[n - 1] = true;
    // (no recursion: a long noisy record would nest deeply)
    let mut spans = vec![(0usize, n - 1)];
    while let Some((a, b)) = spans.pop() {
        if b <= a + 1 {
            continue;
        }
        let slope = (y[b] - y[a]) / (t[b] - t[a]);
        let (mut worst, mut at) = (0.0f64, a);
        for k in a + 1..b {
            let dev = (y[k] - (y[a] + slope * (t[k] - t[a]))).abs();
            if dev > worst {
                worst = dev;
                at = k;
            }
        }
        if worst > tol {
            keep[at] = true;
            spans.push((a, at));
            spans.push((at, b));
        }
    }
    (0..n).filter(|&k| keep[k]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_corners_and_drops_what_the_line_already_holds() {
        // a rest, a jump to a noisy plateau, a ramp back
        let t: Vec<f64> = (0..200).map(f64::from).collect();
        let y: Vec<f64> = t
            .iter()
            .map(|&x| match x {
                x if x < 50.0 => 0.0,
                x if x < 150.0 => 5.0 + 1e-3 * (x * 7.3).sin(),
                x => 5.0 * (199.0 - x) / 49.0,
            })
            .collect();
        let k = simplify(&t, &y, 0.01);
        assert!(k.len() < 12, "{k:?}");
        for w in k.windows(2) {
            for j in w[0]..=w[1] {
                let f = (t[j] - t[w[0]]) / (t[w[1]] - t[w[0]]);
                let line = y[w[0]] + f * (y[w[1]] - y[w[0]]);
                assert!((line - y[j]).abs() <= 0.01, "row {j}");
            }
        }
        // the corners of the jump are kept
        assert!(k.contains(&49) && k.contains(&50), "{k:?}");
        // nothing is dropped at zero tolerance from a signal with no straight run
        let wavy: Vec<f64> = t.iter().map(|x| (x * x).sin()).collect();
        assert_eq!(simplify(&t, &wavy, 0.0).len(), 200);
        assert_eq!(simplify(&t[..2], &y[..2], 1.0), vec![0, 1]);
    }
}
