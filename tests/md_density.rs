//! Coarse-graining (`bridgelaw md density`) on trajectories the tests generate with known answers:
//! a uniform density recovered with block-averaged errors that match the known variance of the
//! sampled field (independent frames, and frames held for 4 steps: statistical inefficiency 4);
//! a two-phase slab whose averaged field depends on the kernel width (the scale-separation
//! warning) while the uniform one does not; the CLI's files with units in their headers; bad
//! input exits 2 naming the file, the frame or the flag.

use bridgelaw::md::coarse::{DensitySettings, WindowLength, density_of_trajectories};
use bridgelaw::md::synthetic::write_xyz_frame;
use bridgelaw::md::trajectory::{Selection, TimeSource, TrajectoryFormat};
use bridgelaw::numerics::rng::LaneRng;
use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use std::process::Command;

const L: f64 = 16.0;

fn uniform(rng: &mut LaneRng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// An XYZ file of `frames` frames; each configuration (from `place`) is held for `hold` frames.
fn write_xyz(
    path: &Path,
    frames: usize,
    hold: usize,
    seed: u64,
    mut place: impl FnMut(&mut LaneRng) -> Vec<[f64; 3]>,
) {
    let mut rng = LaneRng::new(seed, 7);
    let fw: Vec<[f64; 3]> = (0..5).map(|i| [i as f64 * 3.0, 1.0, 2.0]).collect();
    let mut text = String::new();
    let mut pos = Vec::new();
    for k in 0..frames {
        if k % hold == 0 {
            pos = place(&mut rng);
        }
        write_xyz_frame(&mut text, L, 0.1 * k as f64, "Li", &pos, &fw);
    }
    std::fs::write(path, text).unwrap();
}

fn uniform_ions(n: usize) -> impl FnMut(&mut LaneRng) -> Vec<[f64; 3]> {
    move |rng| {
        (0..n)
            .map(|_| [L * uniform(rng), L * uniform(rng), L * uniform(rng)])
            .collect()
    }
}

fn settings(widths: &[f64], grid: Option<[usize; 3]>) -> DensitySettings {
    DensitySettings {
        widths_a: widths.to_vec(),
        grid,
        window: WindowLength::TenthOfRun,
        axis: 2,
        tolerance: 0.05,
        stride: 1,
    }
}

fn run(path: &Path, s: &DensitySettings) -> bridgelaw::md::coarse::DensityResult {
    density_of_trajectories(
        &[(path.to_path_buf(), TrajectoryFormat::ExtendedXyz)],
        &Selection("Li".into()),
        TimeSource::File { md_step_ps: None },
        s,
    )
    .unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Ions placed independently and uniformly: the averaged field is N/V everywhere within its
/// errors, and the per-point standard error is the known one. At a grid point the sampled field
/// is a sum of N independent kernel values K, so Var(ρ) = N·(⟨K²⟩ − ⟨K⟩²) with ⟨K⟩ = 1/V and
/// ⟨K²⟩ = (1/V)·∫K² dV = (1/V)·(2√π·w)⁻³ (w ≪ L); the standard error of the mean over F frames
/// is √(s·Var(ρ)/F), s = 1 for independent frames and s = 4 when each configuration is held for
/// 4 frames.
#[test]
fn uniform_density_is_recovered_with_the_known_error() {
    let dir = tempfile::tempdir().unwrap();
    let n = 64;
    let w = 1.5;
    for (hold, frames) in [(1usize, 200usize), (4, 400)] {
        let p = dir.path().join(format!("uniform{hold}.xyz"));
        write_xyz(&p, frames, hold, 3 + hold as u64, uniform_ions(n));
        let r = run(&p, &settings(&[w, 1.0, 2.5], None));
        let v = L * L * L;
        let rho = n as f64 / v;
        assert!((r.mean_density_per_a3 - rho).abs() < 1e-12 * rho);
        let f = &r.fields[0];
        // The grid sum conserves the ion count exactly.
        let grid_mean = f.mean.iter().sum::<f64>() / f.mean.len() as f64;
        assert!((grid_mean - rho).abs() < 1e-9 * rho, "{grid_mean} vs {rho}");
        let z: Vec<f64> = f
            .mean
            .iter()
            .zip(&f.std_error)
            .map(|(m, se)| (m - rho) / se)
            .collect();
        let max_z = z.iter().fold(0.0_f64, |a, b| a.max(b.abs()));
        let rms_z = (z.iter().map(|v| v * v).sum::<f64>() / z.len() as f64).sqrt();
        assert!(
            max_z < 5.5 && (0.7..1.3).contains(&rms_z),
            "hold {hold}: max |z| {max_z}, rms z {rms_z}"
        );
        let var = n as f64 * ((2.0 * PI.sqrt() * w).powi(-3) / v - 1.0 / (v * v));
        let known_se = (hold as f64 * var / frames as f64).sqrt();
        let se = median(f.std_error.clone());
        assert!(
            (se / known_se - 1.0).abs() < 0.1,
            "hold {hold}: median standard error {se} vs known {known_se}"
        );
        let s = median(f.inefficiency.clone());
        assert!(
            (s / hold as f64 - 1.0).abs() < 0.2,
            "hold {hold}: statistical inefficiency {s}, expected {hold}"
        );
        // A uniform field does not depend on the width: no scale-separation warning.
        assert!(r.scale.iter().all(|c| c.independent), "{:?}", r.scale);
        assert!(
            !r.warnings.iter().any(|w| w.contains("scale separation")),
            "{:?}",
            r.warnings
        );
        // Ten windows, each with N/V.
        assert_eq!(r.windows.len(), 10);
        assert!(
            r.windows
                .iter()
                .all(|w| (w.mean_density_per_a3 - rho).abs() < 1e-12 * rho)
        );
    }
}

/// Two phases: 96 ions in z < L/2 and 32 in z > L/2 (densities 3:1, a sharp interface). A kernel
/// of 0.5 Å keeps the step; one of 3 Å smears it over the interface, so the averaged field
/// depends on the width and the check warns. The narrow kernel's profile recovers both phases.
#[test]
fn two_phase_slab_field_depends_on_the_width_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("slab.xyz");
    write_xyz(&p, 100, 1, 5, |rng| {
        (0..128)
            .map(|i| {
                let z0 = if i < 96 { 0.0 } else { 0.5 * L };
                [
                    L * uniform(rng),
                    L * uniform(rng),
                    z0 + 0.5 * L * uniform(rng),
                ]
            })
            .collect()
    });
    let r = run(&p, &settings(&[0.5, 3.0], None));
    assert_eq!(r.shape, [32, 32, 32]);
    let c = r.scale[0];
    assert!(!c.independent && c.rms_change_relative > 0.15, "{c:?}");
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("no scale separation between kernel widths 0.5 and 3 Å")),
        "{:?}",
        r.warnings
    );
    let prof = &r.fields[0].profile;
    let (rho1, rho2) = (96.0 / (L * L * 0.5 * L), 32.0 / (L * L * 0.5 * L));
    // Mid-phase planes (z = 4 Å and 12 Å: indices 8 and 24).
    assert!((prof[8] / rho1 - 1.0).abs() < 0.1, "{} vs {rho1}", prof[8]);
    assert!(
        (prof[24] / rho2 - 1.0).abs() < 0.15,
        "{} vs {rho2}",
        prof[24]
    );
    let text = r.text();
    assert!(text.contains("DEPENDS ON THE WIDTH"), "{text}");
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bridgelaw"))
}

fn density_cmd(traj: &Path, out: &Path) -> Command {
    let mut c = bin();
    c.args(["md", "density"])
        .arg(traj)
        .args([
            "--species",
            "Li",
            "--kernel-width",
            "2",
            "--grid",
            "8",
            "--out",
        ])
        .arg(out);
    c
}

/// The command writes the field, profile and window CSVs (units in the column names, every
/// cell a number) and the JSON summary; a second run needs --force.
#[test]
fn cli_writes_csv_and_json_with_units() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("u.xyz");
    write_xyz(&p, 64, 1, 9, uniform_ions(20));
    let out = dir.path().join("dens");
    let o = density_cmd(&p, &out).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("1/Å^3") && stdout.contains("mol/m^3"),
        "{stdout}"
    );
    let field = std::fs::read_to_string(out.join("density_field.csv")).unwrap();
    let header = field.lines().next().unwrap();
    assert!(
        header.starts_with("x_angstrom,y_angstrom,z_angstrom,density_per_angstrom3,density_se_per_angstrom3,concentration_mol_per_m3"),
        "{header}"
    );
    // W/2 and 2W checked when one width is given.
    assert!(
        header.contains("density_w1A_per_angstrom3")
            && header.contains("density_w4A_per_angstrom3"),
        "{header}"
    );
    let cols = header.split(',').count();
    let rows: Vec<&str> = field.lines().skip(1).collect();
    assert_eq!(rows.len(), 8 * 8 * 8);
    for r in &rows {
        let cells: Vec<&str> = r.split(',').collect();
        assert_eq!(cells.len(), cols);
        assert!(cells.iter().all(|c| c.parse::<f64>().is_ok()), "{r}");
    }
    let prof = std::fs::read_to_string(out.join("density_profile.csv")).unwrap();
    assert!(
        prof.starts_with("z_angstrom,density_w2A_per_angstrom3,density_se_w2A_per_angstrom3"),
        "{prof}"
    );
    assert_eq!(prof.lines().count(), 9);
    let win = std::fs::read_to_string(out.join("density_windows.csv")).unwrap();
    assert!(
        win.starts_with("run,window,t_start_ps,t_end_ps,frames,z_angstrom,density_per_angstrom3\n")
    );
    let js: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("density_summary.json")).unwrap())
            .unwrap();
    let rho = 20.0 / (L * L * L);
    assert!((js["mean_density_per_angstrom3"].as_f64().unwrap() - rho).abs() < 1e-12);
    assert_eq!(js["kernel_widths_angstrom"][0].as_f64(), Some(2.0));
    assert!(js["scale_separation"]["checks"].as_array().unwrap().len() == 2);
    assert!(js["statistical_inefficiency_median"].as_f64().unwrap() > 0.0);
    // Never overwritten without --force.
    let o = density_cmd(&p, &out).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = density_cmd(&p, &out).arg("--force").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn exit2(cmd: &mut Command, needles: &[&str]) {
    let o = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for n in needles {
        assert!(err.contains(n), "'{n}' not in: {err}");
    }
}

#[test]
fn bad_input_exits_2_naming_file_frame_or_flag() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("g.xyz");
    write_xyz(&good, 40, 1, 1, uniform_ions(8));
    let out = |n: &str| -> PathBuf { dir.path().join(n) };
    exit2(
        bin()
            .args(["md", "density"])
            .arg(&good)
            .args(["--species", "Li", "--kernel-width", "0", "--out"])
            .arg(out("a")),
        &["--kernel-width", "> 0"],
    );
    exit2(
        bin()
            .args(["md", "density"])
            .arg(&good)
            .args([
                "--species",
                "Li",
                "--kernel-width",
                "1",
                "--grid",
                "1,8,8",
                "--out",
            ])
            .arg(out("b")),
        &["--grid"],
    );
    exit2(
        bin()
            .args(["md", "density"])
            .arg(&good)
            .args([
                "--species",
                "Li",
                "--kernel-width",
                "1",
                "--window=-1",
                "--out",
            ])
            .arg(out("c")),
        &["--window"],
    );
    // A triclinic box in frame 3.
    let text = std::fs::read_to_string(&good).unwrap();
    let mut frames: Vec<String> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for chunk in lines.chunks(15) {
        frames.push(chunk.join("\n") + "\n");
    }
    frames[2] = frames[2].replacen("Lattice=\"16 0.0 0.0", "Lattice=\"16 2.0 0.0", 1);
    let tri = dir.path().join("tri.xyz");
    std::fs::write(&tri, frames.concat()).unwrap();
    exit2(
        &mut density_cmd(&tri, &out("d")),
        &["tri.xyz", "frame 3", "orthorhombic"],
    );
    // A truncated last frame.
    let cut = dir.path().join("cut.xyz");
    std::fs::write(&cut, &text[..text.len() - 40]).unwrap();
    exit2(&mut density_cmd(&cut, &out("e")), &["cut.xyz", "frame 40"]);
    // Too few frames for block averaging.
    let short = dir.path().join("short.xyz");
    write_xyz(&short, 10, 1, 1, uniform_ions(8));
    exit2(
        &mut density_cmd(&short, &out("f")),
        &["short.xyz", "at least 32"],
    );
    // A species the file lacks.
    exit2(
        bin()
            .args(["md", "density"])
            .arg(&good)
            .args(["--species", "Na", "--kernel-width", "1", "--out"])
            .arg(out("g")),
        &["g.xyz", "Na"],
    );
}
