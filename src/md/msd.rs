//! Mean squared displacements over all time origins, streamed frame by frame.
//!
//! Method: a direct O(F · N · L) accumulator over a chosen set of L lags (not an FFT). It keeps a
//! ring of the last `max lag + 1` frames of the mobile ions' unwrapped positions, so memory is
//! `(max lag + 1) · N · 3` numbers whatever the trajectory's length, and it also accumulates the
//! fourth moment ⟨Δr⁴⟩ at each lag (the non-Gaussian correction of the MSD's variance) which an
//! FFT correlation does not give cheaply. For each new frame t and each lag ℓ ≤ t it adds
//!
//! $$ Δr_i = r_i(t) − r_i(t−ℓ), \quad Σ |Δr_i|², \quad Σ |Δr_i|⁴, \quad |Σ_i Δr_i|², \quad |Σ_i Δr_i|⁴ $$
//!
//! The collective (centre-of-mass, charge) displacement Σ_i Δr_i is the difference of the ring's
//! summed positions, O(1) per lag.

use rayon::prelude::*;

/// Sums at one lag.
#[derive(Debug, Clone, Copy, Default)]
struct LagSums {
    origins: u64,
    sum_d2: f64,
    sum_d4: f64,
    sum_collective2: f64,
    sum_collective4: f64,
}

/// Lags in frames for an MSD: `count` lags up to `max_lag`, half spaced geometrically from 1
/// (to resolve the ballistic start) and half linearly (to fill the diffusive window evenly),
/// sorted, without repeats. There are at most `max_lag` distinct lags, so a larger `count`
/// gives every lag from 1 to `max_lag`.
pub fn lag_set(max_lag: usize, count: usize) -> Vec<usize> {
    let max_lag = max_lag.max(1);
    let count = count.clamp(2, (2 * max_lag).max(2));
    let half = (count / 2).max(1);
    let mut lags = Vec::with_capacity(count);
    for k in 0..half {
        let f = if half == 1 {
            1.0
        } else {
            k as f64 / (half - 1) as f64
        };
        lags.push(((max_lag as f64).powf(f)).round() as usize);
    }
    let lin = count - half;
    for k in 1..=lin {
        lags.push(((k as f64 / lin as f64) * max_lag as f64).round() as usize);
    }
    lags.retain(|&l| l >= 1 && l <= max_lag);
    lags.sort_unstable();
    lags.dedup();
    lags
}

/// Streaming MSD accumulator over all time origins for a fixed set of lags (in frames).
#[derive(Debug, Clone)]
pub struct MsdAccumulator {
    lags: Vec<usize>,
    n_ions: usize,
    capacity: usize,
    /// Ring of frames, each stored as x block, y block, z block (n_ions each), so the inner loop
    /// runs over contiguous arrays.
    ring: Vec<f64>,
    /// Σ_i r_i of each ring slot.
    ring_total: Vec<[f64; 3]>,
    frames: usize,
    sums: Vec<LagSums>,
}

/// Lanes of the inner loop's partial sums (independent accumulators the compiler vectorises).
const LANES: usize = 8;

impl MsdAccumulator {
    /// An accumulator for `n_ions` ions and the given lags (frames, ≥ 1; sorted and deduplicated
    /// here).
    pub fn new(mut lags: Vec<usize>, n_ions: usize) -> Self {
        lags.retain(|&l| l >= 1);
        lags.sort_unstable();
        lags.dedup();
        let capacity = lags.last().copied().unwrap_or(0) + 1;
        MsdAccumulator {
            sums: vec![LagSums::default(); lags.len()],
            lags,
            n_ions,
            capacity,
            ring: vec![0.0; capacity * 3 * n_ions],
            ring_total: vec![[0.0; 3]; capacity],
            frames: 0,
        }
    }

    /// Number of ions per frame.
    pub fn n_ions(&self) -> usize {
        self.n_ions
    }

    /// Frames pushed so far.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Add the next frame's unwrapped positions (Å); `positions.len()` must be `n_ions` (the
    /// trajectory readers guarantee a constant count).
    pub fn push(&mut self, positions: &[[f64; 3]]) {
        assert_eq!(
            positions.len(),
            self.n_ions,
            "ion count changed between frames"
        );
        let n = self.n_ions;
        let slot = self.frames % self.capacity;
        let mut total = [0.0; 3];
        {
            let dst = &mut self.ring[slot * 3 * n..(slot + 1) * 3 * n];
            for (i, r) in positions.iter().enumerate() {
                for d in 0..3 {
                    dst[d * n + i] = r[d];
                    total[d] += r[d];
                }
            }
        }
        self.ring_total[slot] = total;
        let t = self.frames;
        let (ring, ring_total, cap) = (&self.ring, &self.ring_total, self.capacity);
        let cur = &ring[slot * 3 * n..(slot + 1) * 3 * n];
        let work = |(lag, s): (&usize, &mut LagSums)| {
            if *lag > t {
                return;
            }
            let old_slot = (t - lag) % cap;
            let old = &ring[old_slot * 3 * n..(old_slot + 1) * 3 * n];
            let (d2, d4) = tracer_sums(cur, old, n);
            let ot = ring_total[old_slot];
            let c = [total[0] - ot[0], total[1] - ot[1], total[2] - ot[2]];
            let c2 = c[0] * c[0] + c[1] * c[1] + c[2] * c[2];
            s.origins += 1;
            s.sum_d2 += d2;
            s.sum_d4 += d4;
            s.sum_collective2 += c2;
            s.sum_collective4 += c2 * c2;
        };
        // Each lag's sums are accumulated in the same order either way, so the result is the
        // same bits whatever the thread count.
        if n * self.lags.len() >= 20_000 {
            self.lags
                .par_iter()
                .zip(self.sums.par_iter_mut())
                .for_each(work);
        } else {
            self.lags.iter().zip(self.sums.iter_mut()).for_each(work);
        }
        self.frames += 1;
    }

    /// The MSD curves; `frame_interval_ps` converts lags to times. Lags with no origin (longer
    /// than the trajectory) are left out.
    pub fn finish(&self, frame_interval_ps: f64) -> MsdCurve {
        let n = self.n_ions as f64;
        let mut c = MsdCurve {
            n_ions: self.n_ions,
            n_frames: self.frames,
            frame_interval_ps,
            ..MsdCurve::default()
        };
        for (lag, s) in self.lags.iter().zip(&self.sums) {
            if s.origins == 0 {
                continue;
            }
            let o = s.origins as f64;
            c.lag_frames.push(*lag);
            c.time_ps.push(*lag as f64 * frame_interval_ps);
            c.origins.push(s.origins as usize);
            c.tracer_msd.push(s.sum_d2 / (o * n));
            c.tracer_fourth_moment.push(s.sum_d4 / (o * n));
            c.collective_msd.push(s.sum_collective2 / (o * n));
            c.collective_fourth_moment
                .push(s.sum_collective4 / (o * n * n));
        }
        c
    }
}

/// Σ_i |r_i − r0_i|² and Σ_i |r_i − r0_i|⁴ over ions stored as x, y, z blocks of length n.
#[inline]
fn tracer_sums(cur: &[f64], old: &[f64], n: usize) -> (f64, f64) {
    let (cx, rest) = cur.split_at(n);
    let (cy, cz) = rest.split_at(n);
    let (ox, rest) = old.split_at(n);
    let (oy, oz) = rest.split_at(n);
    let mut s2 = [0.0; LANES];
    let mut s4 = [0.0; LANES];
    let chunks = n / LANES;
    for k in 0..chunks {
        let b = k * LANES;
        for l in 0..LANES {
            let dx = cx[b + l] - ox[b + l];
            let dy = cy[b + l] - oy[b + l];
            let dz = cz[b + l] - oz[b + l];
            let d2 = dx * dx + dy * dy + dz * dz;
            s2[l] += d2;
            s4[l] += d2 * d2;
        }
    }
    for i in chunks * LANES..n {
        let dx = cx[i] - ox[i];
        let dy = cy[i] - oy[i];
        let dz = cz[i] - oz[i];
        let d2 = dx * dx + dy * dy + dz * dz;
        s2[0] += d2;
        s4[0] += d2 * d2;
    }
    (s2.iter().sum(), s4.iter().sum())
}

/// MSD curves at a set of lags, averaged over all time origins (and over ions for the tracer).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MsdCurve {
    /// Ions averaged over.
    pub n_ions: usize,
    /// Frames of the trajectory.
    pub n_frames: usize,
    /// Time between frames in ps.
    pub frame_interval_ps: f64,
    /// Lags in frames.
    pub lag_frames: Vec<usize>,
    /// Lags in ps.
    pub time_ps: Vec<f64>,
    /// Number of time origins at each lag, F − ℓ.
    pub origins: Vec<usize>,
    /// Tracer MSD ⟨|Δr_i|²⟩ over ions and origins, in Å².
    pub tracer_msd: Vec<f64>,
    /// ⟨|Δr_i|⁴⟩ over ions and origins, in Å⁴.
    pub tracer_fourth_moment: Vec<f64>,
    /// Collective MSD ⟨|Σ_i Δr_i|²⟩ / N over origins, in Å² (equal to the tracer MSD for
    /// uncorrelated ions).
    pub collective_msd: Vec<f64>,
    /// ⟨|Σ_i Δr_i|⁴⟩ / N² over origins, in Å⁴.
    pub collective_fourth_moment: Vec<f64>,
}

impl MsdCurve {
    /// Length of the run in ps, (F − 1)·Δt.
    pub fn duration_ps(&self) -> f64 {
        (self.n_frames.saturating_sub(1)) as f64 * self.frame_interval_ps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The accumulator against a direct double loop over origins, on a short irregular path.
    #[test]
    fn accumulator_matches_direct_sums() {
        let n_ions = 11;
        let frames: Vec<Vec<[f64; 3]>> = (0..40)
            .map(|t| {
                (0..n_ions)
                    .map(|i| {
                        let x = (t * (i + 1)) as f64;
                        [(0.37 * x).sin() * 3.0, (0.11 * x).cos() + 0.01 * x, 0.2 * x]
                    })
                    .collect()
            })
            .collect();
        let lags = vec![1, 2, 5, 13, 39];
        let mut acc = MsdAccumulator::new(lags.clone(), n_ions);
        for f in &frames {
            acc.push(f);
        }
        let c = acc.finish(0.5);
        assert_eq!(c.lag_frames, lags);
        for (k, &l) in lags.iter().enumerate() {
            let (mut s2, mut s4, mut cc2, mut no) = (0.0, 0.0, 0.0, 0);
            for t0 in 0..frames.len() - l {
                let mut tot = [0.0; 3];
                for i in 0..n_ions {
                    let d: [f64; 3] =
                        std::array::from_fn(|j| frames[t0 + l][i][j] - frames[t0][i][j]);
                    let d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                    s2 += d2;
                    s4 += d2 * d2;
                    for j in 0..3 {
                        tot[j] += d[j];
                    }
                }
                cc2 += tot[0] * tot[0] + tot[1] * tot[1] + tot[2] * tot[2];
                no += 1;
            }
            let n = (no * n_ions) as f64;
            assert_eq!(c.origins[k], no);
            assert!(
                (c.tracer_msd[k] - s2 / n).abs() < 1e-9 * (s2 / n),
                "lag {l}"
            );
            assert!((c.tracer_fourth_moment[k] - s4 / n).abs() < 1e-9 * (s4 / n));
            assert!((c.collective_msd[k] - cc2 / n).abs() < 1e-9 * (cc2 / n));
            assert!((c.time_ps[k] - 0.5 * l as f64).abs() < 1e-12);
        }
    }

    #[test]
    fn lag_set_is_sorted_and_bounded() {
        let l = lag_set(500, 40);
        assert_eq!(l[0], 1);
        assert_eq!(*l.last().unwrap(), 500);
        assert!(l.windows(2).all(|w| w[0] < w[1]));
        assert!(l.len() > 30);
        // a count beyond what the frames hold gives every lag, allocating no more
        assert_eq!(lag_set(50, 1_000_000_000_000), (1..=50).collect::<Vec<_>>());
    }
}
