//! Trajectories with a known diffusivity, for tests and benchmarks: independent walkers in a
//! periodic cubic box, either Brownian (Gaussian steps) or hopping on a simple cubic lattice, and
//! writers for both trajectory formats (positions wrapped into the box, so reading them back
//! exercises the unwrapping).

use crate::numerics::rng::{LaneRng, fill_standard_normals_fast};
use std::fmt::Write as _;

/// How the walkers move.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WalkKind {
    /// Gaussian steps of variance 2·D·Δt per Cartesian component.
    Brownian,
    /// Hops of length `hop_a` (Å) to one of the 6 simple-cubic neighbours, with probability
    /// p = 6·D·Δt/a² per frame (so D = p·a²/(6Δt)); p must be ≤ 1.
    Lattice {
        /// Hop length a \[Å\].
        hop_a: f64,
    },
}

/// A generator of independent walkers with tracer diffusivity `d_a2_per_ps` (Å²/ps), frames
/// `frame_interval_ps` apart, in a cubic box of edge `box_a` (Å). Streams frames (unwrapped
/// positions) from the reproducible stream `seed`.
#[derive(Debug, Clone)]
pub struct Walkers {
    /// Brownian or lattice walk.
    pub kind: WalkKind,
    /// Tracer diffusivity \[Å²/ps\].
    pub d_a2_per_ps: f64,
    /// Time between frames \[ps\].
    pub frame_interval_ps: f64,
    /// Edge of the cubic box \[Å\].
    pub box_a: f64,
    positions: Vec<[f64; 3]>,
    rng: LaneRng,
    normals: Vec<f64>,
    words: Vec<u64>,
}

impl Walkers {
    /// `n_ions` walkers starting on a regular grid in the box.
    pub fn new(
        kind: WalkKind,
        n_ions: usize,
        d_a2_per_ps: f64,
        frame_interval_ps: f64,
        box_a: f64,
        seed: u64,
    ) -> Self {
        let side = (n_ions as f64).cbrt().ceil() as usize;
        let spacing = box_a / side as f64;
        let positions = (0..n_ions)
            .map(|i| {
                let (x, y, z) = (i % side, (i / side) % side, i / (side * side));
                [x as f64 * spacing, y as f64 * spacing, z as f64 * spacing]
            })
            .collect();
        Walkers {
            kind,
            d_a2_per_ps,
            frame_interval_ps,
            box_a,
            positions,
            rng: LaneRng::new(seed, 0x6d64),
            normals: vec![0.0; 3 * n_ions],
            words: vec![0; n_ions],
        }
    }

    /// Current unwrapped positions in Å.
    pub fn positions(&self) -> &[[f64; 3]] {
        &self.positions
    }

    /// Advance every walker by one frame interval.
    pub fn step(&mut self) {
        match self.kind {
            WalkKind::Brownian => {
                let s = (2.0 * self.d_a2_per_ps * self.frame_interval_ps).sqrt();
                fill_standard_normals_fast(&mut self.rng, &mut self.normals);
                for (r, g) in self.positions.iter_mut().zip(self.normals.chunks_exact(3)) {
                    r[0] += s * g[0];
                    r[1] += s * g[1];
                    r[2] += s * g[2];
                }
            }
            WalkKind::Lattice { hop_a } => {
                let p = 6.0 * self.d_a2_per_ps * self.frame_interval_ps / (hop_a * hop_a);
                self.rng.fill_u64(&mut self.words);
                for (r, w) in self.positions.iter_mut().zip(&self.words) {
                    // 53 bits decide whether to hop, the top bits which of 6 directions.
                    let u = (w >> 11) as f64 / (1u64 << 53) as f64;
                    if u < p {
                        let dir = ((w & 0x7ff) % 6) as usize;
                        let sign = if dir.is_multiple_of(2) { 1.0 } else { -1.0 };
                        r[dir / 2] += sign * hop_a;
                    }
                }
            }
        }
    }

    /// Positions wrapped into [0, box).
    pub fn wrapped(&self) -> Vec<[f64; 3]> {
        self.positions
            .iter()
            .map(|r| r.map(|v| v.rem_euclid(self.box_a)))
            .collect()
    }
}

/// One extended-XYZ frame (ASE layout) of `species` ions at `positions` with a `Time=` key in ps;
/// `extra` framework atoms of species "O" at fixed positions are appended, so selection is tested.
pub fn write_xyz_frame(
    out: &mut String,
    box_a: f64,
    time_ps: f64,
    species: &str,
    positions: &[[f64; 3]],
    framework: &[[f64; 3]],
) {
    let _ = writeln!(out, "{}", positions.len() + framework.len());
    let _ = writeln!(
        out,
        "Lattice=\"{box_a} 0.0 0.0 0.0 {box_a} 0.0 0.0 0.0 {box_a}\" Properties=species:S:1:pos:R:3 Time={time_ps} pbc=\"T T T\""
    );
    // Interleave the framework atoms so selection by species is not by position in the file.
    let mut fw = framework.iter();
    for r in positions {
        let _ = writeln!(out, "{species} {:.10} {:.10} {:.10}", r[0], r[1], r[2]);
        if let Some(f) = fw.next() {
            let _ = writeln!(out, "O {:.10} {:.10} {:.10}", f[0], f[1], f[2]);
        }
    }
    for f in fw {
        let _ = writeln!(out, "O {:.10} {:.10} {:.10}", f[0], f[1], f[2]);
    }
}

/// One LAMMPS dump frame (`ITEM: ATOMS id type x y z`, wrapped Cartesian), mobile ions of type 1
/// and framework atoms of type 2, written in a shuffled id order (as LAMMPS does on several
/// processors) so the reader's sort by id is tested.
pub fn write_lammps_frame(
    out: &mut String,
    box_a: f64,
    timestep: u64,
    positions: &[[f64; 3]],
    framework: &[[f64; 3]],
) {
    let n = positions.len() + framework.len();
    let _ = writeln!(
        out,
        "ITEM: TIMESTEP\n{timestep}\nITEM: NUMBER OF ATOMS\n{n}"
    );
    let _ = writeln!(
        out,
        "ITEM: BOX BOUNDS pp pp pp\n0.0 {box_a}\n0.0 {box_a}\n0.0 {box_a}\nITEM: ATOMS id type x y z"
    );
    // Odd ids first, then even: a fixed permutation of the id order.
    let atoms: Vec<(usize, u8, [f64; 3])> = positions
        .iter()
        .map(|r| (1u8, *r))
        .chain(framework.iter().map(|r| (2u8, *r)))
        .enumerate()
        .map(|(i, (t, r))| (i + 1, t, r))
        .collect();
    for parity in [1, 0] {
        for (id, t, r) in atoms.iter().filter(|a| a.0 % 2 == parity) {
            let _ = writeln!(out, "{id} {t} {:.10} {:.10} {:.10}", r[0], r[1], r[2]);
        }
    }
}
