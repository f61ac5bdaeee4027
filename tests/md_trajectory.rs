//! Trajectory readers: both formats written by `bridgelaw::md::synthetic` read back unwrapped, selection by
//! species and type, and every kind of bad input named with file, frame and line.

use bridgelaw::md::synthetic::{WalkKind, Walkers, write_lammps_frame, write_xyz_frame};
use bridgelaw::md::trajectory::*;
use std::io::Cursor;
use std::path::Path;

fn read_all(
    text: &str,
    format: TrajectoryFormat,
    sel: &str,
    time: TimeSource,
) -> Result<Vec<Frame>, TrajectoryError> {
    Trajectory::new(
        Cursor::new(text.as_bytes().to_vec()),
        Path::new("traj.test"),
        format,
        &Selection(sel.into()),
        time,
    )
    .collect()
}

/// Walkers moving several Å per frame in a 10 Å box: wrapped files, unwrapped read-back.
fn walk(frames: usize) -> (Vec<Vec<[f64; 3]>>, String, String) {
    let mut w = Walkers::new(WalkKind::Brownian, 5, 1.0, 1.0, 10.0, 7);
    let framework = vec![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]];
    let (mut xyz, mut lmp, mut truth) = (String::new(), String::new(), Vec::new());
    for k in 0..frames {
        truth.push(w.positions().to_vec());
        write_xyz_frame(
            &mut xyz,
            10.0,
            0.5 * k as f64,
            "Li",
            &w.wrapped(),
            &framework,
        );
        write_lammps_frame(&mut lmp, 10.0, 100 * k as u64, &w.wrapped(), &framework);
        w.step();
    }
    (truth, xyz, lmp)
}

fn assert_unwrapped_like(frames: &[Frame], truth: &[Vec<[f64; 3]>]) {
    assert_eq!(frames.len(), truth.len());
    for (f, t) in frames.iter().zip(truth) {
        for (i, (r, q)) in f.positions.iter().zip(t).enumerate() {
            // The same displacement from frame 1 as the true (unwrapped) walk.
            for d in 0..3 {
                let want = q[d] - truth[0][i][d];
                let got = r[d] - frames[0].positions[i][d];
                assert!(
                    (want - got).abs() < 1e-6,
                    "frame {} ion {i}: {got} vs {want}",
                    f.number
                );
            }
        }
    }
}

#[test]
fn xyz_reads_back_unwrapped_with_times() {
    let (truth, xyz, _) = walk(30);
    let f = read_all(
        &xyz,
        TrajectoryFormat::ExtendedXyz,
        "Li",
        TimeSource::File { md_step_ps: None },
    )
    .unwrap();
    assert_eq!(f[0].positions.len(), 5);
    assert!((f[3].time_ps - 1.5).abs() < 1e-12);
    assert!((f[0].lattice.volume() - 1000.0).abs() < 1e-9);
    assert_unwrapped_like(&f, &truth);
}

#[test]
fn lammps_reads_back_unwrapped_sorted_by_id() {
    let (truth, _, lmp) = walk(30);
    let f = read_all(
        &lmp,
        TrajectoryFormat::LammpsDump,
        "1",
        TimeSource::File {
            md_step_ps: Some(0.002),
        },
    )
    .unwrap();
    assert_eq!(f[0].positions.len(), 5);
    assert!((f[2].time_ps - 0.4).abs() < 1e-12);
    assert_unwrapped_like(&f, &truth);
}

#[test]
fn lammps_unwrapped_scaled_and_image_columns() {
    let header = |cols: &str| {
        format!(
            "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS pp pp pp\n0 10\n0 10\n0 10\nITEM: ATOMS id type {cols}\n"
        )
    };
    let two = |cols: &str, a: &str, b: &str| {
        let h = header(cols);
        format!("{h}{a}\n{}{b}\n", h.replace("TIMESTEP\n0", "TIMESTEP\n1"))
    };
    let step = TimeSource::File {
        md_step_ps: Some(1.0),
    };
    let f = read_all(
        &two("xu yu zu", "1 1 9.5 0 0", "1 1 10.5 0 0"),
        TrajectoryFormat::LammpsDump,
        "1",
        step,
    )
    .unwrap();
    assert!((f[1].positions[0][0] - 10.5).abs() < 1e-12);
    let f = read_all(
        &two("xs ys zs", "1 1 0.95 0 0", "1 1 0.05 0 0"),
        TrajectoryFormat::LammpsDump,
        "1",
        step,
    )
    .unwrap();
    assert!((f[1].positions[0][0] - f[0].positions[0][0] - 1.0).abs() < 1e-9);
    let f = read_all(
        &two("x y z ix iy iz", "1 1 9.5 0 0 0 0 0", "1 1 0.5 0 0 1 0 0"),
        TrajectoryFormat::LammpsDump,
        "1",
        step,
    )
    .unwrap();
    assert!((f[1].positions[0][0] - 10.5).abs() < 1e-12);
}

/// A triclinic box (a = 10 x̂, b = 3 x̂ + 9 ŷ, c = 11 ẑ): an ion crossing the b face moves by
/// the minimum image, not by a box vector.
#[test]
fn triclinic_box_unwraps_across_the_tilted_face() {
    let frame = |step: u64, x: f64, y: f64| {
        format!(
            "ITEM: TIMESTEP\n{step}\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS xy xz yz pp pp pp\n0 13 3\n0 9 0\n0 11 0\nITEM: ATOMS id type x y z\n1 1 {x} {y} 1\n"
        )
    };
    // From (3 + 0.2·3, 8.8·... ) near the top face to just above y = 0 after wrapping by −b.
    let a = frame(0, 5.0, 8.8);
    let b = frame(1, 5.0 + 0.3 - 3.0, 9.1 - 9.0);
    let f = read_all(
        &(a + &b),
        TrajectoryFormat::LammpsDump,
        "1",
        TimeSource::File {
            md_step_ps: Some(1.0),
        },
    )
    .unwrap();
    assert!((f[0].lattice.volume() - 990.0).abs() < 1e-9);
    let d: Vec<f64> = (0..3)
        .map(|k| f[1].positions[0][k] - f[0].positions[0][k])
        .collect();
    assert!(
        (d[0] - 0.3).abs() < 1e-9 && (d[1] - 0.3).abs() < 1e-9 && d[2].abs() < 1e-12,
        "{d:?}"
    );
}

#[test]
fn frame_interval_overrides_file_times() {
    let (_, xyz, _) = walk(4);
    let f = read_all(
        &xyz,
        TrajectoryFormat::ExtendedXyz,
        "Li",
        TimeSource::FrameInterval(0.25),
    )
    .unwrap();
    assert!((f[3].time_ps - 0.75).abs() < 1e-12);
}

fn err(text: &str, format: TrajectoryFormat, sel: &str) -> String {
    let time = match format {
        TrajectoryFormat::ExtendedXyz => TimeSource::File { md_step_ps: None },
        TrajectoryFormat::LammpsDump => TimeSource::File {
            md_step_ps: Some(0.001),
        },
    };
    read_all(text, format, sel, time).unwrap_err().to_string()
}

#[test]
fn truncated_frame_is_named() {
    let (_, xyz, lmp) = walk(3);
    let cut = &xyz[..xyz.len() - 40];
    let e = err(cut, TrajectoryFormat::ExtendedXyz, "Li");
    assert!(
        e.contains("traj.test") && e.contains("frame 3") && e.contains("ends at line"),
        "{e}"
    );
    let cut = &lmp[..lmp.len() - 60];
    let e = err(cut, TrajectoryFormat::LammpsDump, "1");
    assert!(e.contains("frame 3") && e.contains("ends at line"), "{e}");
}

#[test]
fn inconsistent_atom_count_is_named() {
    let (_, xyz, lmp) = walk(3);
    let second = xyz.match_indices("8\nLattice").nth(1).unwrap().0;
    let bad = format!("{}7{}", &xyz[..second], &xyz[second + 1..]);
    let e = err(&bad, TrajectoryFormat::ExtendedXyz, "Li");
    assert!(
        e.contains("frame 2") && e.contains("7 atoms, expected 8") && e.contains("line 11"),
        "{e}"
    );
    let second = lmp.match_indices("NUMBER OF ATOMS\n8").nth(1).unwrap().0;
    let bad = format!(
        "{}NUMBER OF ATOMS\n9{}",
        &lmp[..second],
        &lmp[second + 17..]
    );
    let e = err(&bad, TrajectoryFormat::LammpsDump, "1");
    assert!(
        e.contains("frame 2") && e.contains("9 atoms, expected 8"),
        "{e}"
    );
}

#[test]
fn missing_lattice_is_named() {
    let (_, xyz, lmp) = walk(3);
    let bad = xyz.replace("Lattice=\"10 0.0 0.0 0.0 10 0.0 0.0 0.0 10\" ", "");
    let e = err(&bad, TrajectoryFormat::ExtendedXyz, "Li");
    assert!(
        e.contains("frame 1 (line 2)") && e.contains("no lattice") && e.contains("Lattice="),
        "{e}"
    );
    let first_atoms = lmp.find("ITEM: BOX BOUNDS").unwrap();
    let end = lmp[first_atoms..].find("ITEM: ATOMS").unwrap() + first_atoms;
    let bad = format!("{}{}", &lmp[..first_atoms], &lmp[end..]);
    let e = err(&bad, TrajectoryFormat::LammpsDump, "1");
    assert!(e.contains("frame 1") && e.contains("no lattice"), "{e}");
}

#[test]
fn non_monotone_time_is_named() {
    let (_, xyz, lmp) = walk(4);
    let bad = xyz.replace("Time=1.5", "Time=0.5");
    let e = err(&bad, TrajectoryFormat::ExtendedXyz, "Li");
    assert!(
        e.contains("frame 4") && e.contains("not after") && e.contains("strictly increasing"),
        "{e}"
    );
    let bad = lmp.replace("TIMESTEP\n200\n", "TIMESTEP\n50\n");
    let e = err(&bad, TrajectoryFormat::LammpsDump, "1");
    assert!(e.contains("frame 3") && e.contains("not after"), "{e}");
    let bad = xyz.replace("Time=1.5", "Time=1.7");
    let e = err(&bad, TrajectoryFormat::ExtendedXyz, "Li");
    assert!(e.contains("frame 4") && e.contains("evenly spaced"), "{e}");
}

#[test]
fn unknown_species_and_bad_numbers_are_named() {
    let (_, xyz, _) = walk(2);
    let e = err(&xyz, TrajectoryFormat::ExtendedXyz, "Na");
    assert!(
        e.contains("no atom of species 'Na'") && e.contains("Li") && e.contains("O"),
        "{e}"
    );
    let third_line = xyz.lines().nth(2).unwrap().to_string();
    let bad = xyz.replacen(&third_line, "Li 1.0 nan-ish 2.0", 1);
    let e = err(&bad, TrajectoryFormat::ExtendedXyz, "Li");
    assert!(
        e.contains("frame 1, line 3") && e.contains("nan-ish"),
        "{e}"
    );
    let e = read_all(
        &xyz,
        TrajectoryFormat::LammpsDump,
        "1",
        TimeSource::File { md_step_ps: None },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("ITEM: TIMESTEP"), "{e}");
}

#[test]
fn lammps_without_md_step_asks_for_it() {
    let (_, _, lmp) = walk(2);
    let e = read_all(
        &lmp,
        TrajectoryFormat::LammpsDump,
        "1",
        TimeSource::File { md_step_ps: None },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("--timestep") && e.contains("frame 1"), "{e}");
}
