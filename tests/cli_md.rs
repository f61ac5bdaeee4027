//! The `bridgelaw md` commands on trajectories the test writes: a priors file with D lognormal in
//! m^2/s and a summary with units; Arrhenius from 4 temperatures; bad input exits 2 naming the
//! file and the frame; outputs are never overwritten without --force.

use bridgelaw::constants::K_B_EV;
use bridgelaw::md::synthetic::{WalkKind, Walkers, write_lammps_frame, write_xyz_frame};
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bridgelaw"))
}

const DT: f64 = 0.1;

/// Run `cmd`, assert it succeeded (stderr and stdout shown if not), and return its stdout.
fn run_ok(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&o.stderr)
    );
    stdout
}

/// An XYZ and a LAMMPS file of one Brownian walk (16 Li among 6 O) with D in Å²/ps.
fn write_walk(dir: &Path, stem: &str, d: f64, frames: usize, seed: u64) -> (PathBuf, PathBuf) {
    let mut w = Walkers::new(WalkKind::Brownian, 16, d, DT, 12.0, seed);
    let fw: Vec<[f64; 3]> = (0..6).map(|i| [i as f64 * 2.0, 6.0, 6.0]).collect();
    let (mut xyz, mut lmp) = (String::new(), String::new());
    for k in 0..frames {
        write_xyz_frame(&mut xyz, 12.0, DT * k as f64, "Li", &w.wrapped(), &fw);
        write_lammps_frame(&mut lmp, 12.0, 100 * k as u64, &w.wrapped(), &fw);
        w.step();
    }
    let (px, pl) = (
        dir.join(format!("{stem}.xyz")),
        dir.join(format!("{stem}.lammpstrj")),
    );
    std::fs::write(&px, xyz).unwrap();
    std::fs::write(&pl, lmp).unwrap();
    (px, pl)
}

#[test]
fn diffusion_writes_a_lognormal_prior_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (px, pl) = write_walk(dir.path(), "li", 0.2, 600, 11);
    let out = dir.path().join("priors/li.toml");
    let stdout = run_ok(
        bin()
            .args(["md", "diffusion"])
            .arg(&px)
            .args(["--species", "Li", "--temperature", "600", "--out"])
            .arg(&out),
    );
    assert!(
        stdout.contains("| D* tracer |") && stdout.contains("m^2/s") && stdout.contains("S/m"),
        "{stdout}"
    );
    assert!(stdout.contains("Haven ratio"), "{stdout}");
    let d = bridgelaw::dist::load_priors(&out).unwrap();
    assert_eq!(d.params[0].name, "D");
    assert_eq!(d.params[0].unit, "m^2/s");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("distribution = \"lognormal\"") && text.contains("GLS fit"),
        "{text}"
    );
    let (lo, hi) = (
        d.marginal_quantile(0, 0.0005),
        d.marginal_quantile(0, 0.9995),
    );
    assert!(
        lo < 0.2e-8 && 0.2e-8 < hi,
        "D = 2e-9 m^2/s outside [{lo}, {hi}]"
    );

    // The LAMMPS file of the same walk gives the same D.
    let s2 = run_ok(bin().args(["md", "diffusion"]).arg(&pl).args([
        "--species",
        "1",
        "--temperature",
        "600",
        "--timestep",
        "0.001",
    ]));
    let row = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("| D* tracer"))
            .unwrap()
            .to_string()
    };
    assert_eq!(row(&stdout), row(&s2));

    // No overwrite without --force.
    let again = bin()
        .args(["md", "diffusion"])
        .arg(&px)
        .args(["--species", "Li", "--temperature", "600", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
}

/// D(T) = D0·exp(−E_a/k_B T) with E_a = 0.3 eV at 4 temperatures: E_a recovered within its 95 %
/// interval, and the priors file carries (D0, E_a) with their correlation.
#[test]
fn arrhenius_from_four_temperatures() {
    let dir = tempfile::tempdir().unwrap();
    let (e_a, d0) = (0.3, 60.0); // eV, Å²/ps
    let temps = [600.0, 700.0, 800.0, 1000.0];
    let mut files = Vec::new();
    for (k, t) in temps.iter().enumerate() {
        let d = d0 * (-e_a / (K_B_EV * t)).exp();
        files.push(write_walk(dir.path(), &format!("t{t}"), d, 600, 40 + k as u64).0);
    }
    let out = dir.path().join("arr.toml");
    let stdout = run_ok(
        bin()
            .args(["md", "arrhenius"])
            .args(&files)
            .args([
                "--species",
                "Li",
                "--temperatures",
                "600,700,800,1000",
                "--at",
                "600",
                "--results",
            ])
            .arg(dir.path().join("arr_results"))
            .arg("--out")
            .arg(&out),
    );
    // The results folder renders as a report with the Arrhenius figure.
    let results = dir.path().join("arr_results");
    assert!(results.join("md_arrhenius.json").is_file());
    run_ok(bin().arg("report").arg(&results));
    let html = std::fs::read_to_string(results.join("report.html")).unwrap();
    assert!(
        html.contains("Arrhenius D(T)") && html.contains("md_arrhenius") && html.contains("<svg"),
        "no Arrhenius figure in the report"
    );
    let csv = std::fs::read_to_string(results.join("figures/md_arrhenius.csv")).unwrap();
    assert!(csv.starts_with("T_K,inv_T_1000_per_K,D_m2_s"), "{csv}");
    assert_eq!(csv.lines().count(), 5);
    assert!(
        stdout.contains("E_a = ") && stdout.contains("extrapolated") && stdout.contains("direct"),
        "{stdout}"
    );
    let d = bridgelaw::dist::load_priors(&out).unwrap();
    let i = d.index_of("E_a").unwrap();
    let (lo, hi) = (d.marginal_quantile(i, 0.025), d.marginal_quantile(i, 0.975));
    assert!(lo < e_a && e_a < hi, "E_a {e_a} outside [{lo}, {hi}]");
    assert!(hi - lo < 0.1, "[{lo}, {hi}]");
    assert!(d.correlation()[(0, 1)].abs() > 0.5);
    assert_eq!(d.params[0].unit, "m^2/s");
}

fn expect_exit_2(args: &[&str], file: &Path, needles: &[&str]) {
    let o = bin()
        .args(["md", "diffusion"])
        .arg(file)
        .args(args)
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(e.contains(name.as_ref()), "{e}");
    for n in needles {
        assert!(e.contains(n), "missing '{n}' in: {e}");
    }
}

#[test]
fn bad_trajectories_exit_2_naming_file_and_frame() {
    let dir = tempfile::tempdir().unwrap();
    let (px, pl) = write_walk(dir.path(), "ok", 0.2, 20, 1);
    let xyz = std::fs::read_to_string(&px).unwrap();
    let lmp = std::fs::read_to_string(&pl).unwrap();
    let xa = ["--species", "Li", "--temperature", "600"];
    let la = [
        "--species",
        "1",
        "--temperature",
        "600",
        "--timestep",
        "0.001",
    ];
    let put = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };

    let p = put("truncated.xyz", &xyz[..xyz.len() - 30]);
    expect_exit_2(&xa, &p, &["frame 20", "ends at line"]);
    let p = put("truncated.lammpstrj", &lmp[..lmp.len() - 30]);
    expect_exit_2(&la, &p, &["frame 20", "ends at line"]);

    let k = xyz.match_indices("22\nLattice").nth(4).unwrap().0;
    let p = put("count.xyz", &format!("{}21{}", &xyz[..k], &xyz[k + 2..]));
    expect_exit_2(&xa, &p, &["frame 5", "21 atoms, expected 22"]);

    let p = put(
        "nolattice.xyz",
        &xyz.replacen("Lattice=\"12 0.0 0.0 0.0 12 0.0 0.0 0.0 12\" ", "", 1),
    );
    expect_exit_2(&xa, &p, &["frame 1", "no lattice"]);

    let p = put(
        "backwards.xyz",
        &xyz.replace("Time=0.7000000000000001 ", "Time=0.2 ")
            .replace("Time=0.7 ", "Time=0.2 "),
    );
    expect_exit_2(&xa, &p, &["frame 8", "not after"]);
    let p = put(
        "backwards.lammpstrj",
        &lmp.replace("TIMESTEP\n700\n", "TIMESTEP\n300\n"),
    );
    expect_exit_2(&la, &p, &["frame 8", "not after"]);

    expect_exit_2(
        &["--species", "Na", "--temperature", "600"],
        &px,
        &["no atom of species 'Na'"],
    );
    expect_exit_2(
        &["--species", "1", "--temperature", "600"],
        &pl,
        &["--timestep"],
    );
    expect_exit_2(
        &[
            "--species",
            "Li",
            "--temperature",
            "600",
            "--window",
            "100,200",
        ],
        &px,
        &["window"],
    );
}

/// `md diffusion --results DIR --report`: the MSD figure (points, fitted line and its 95 % band)
/// in DIR/report.html, its SVG, PNG and CSV in DIR/figures; `bridgelaw report DIR` redraws it.
#[test]
fn diffusion_results_render_the_msd_figure() {
    let dir = tempfile::tempdir().unwrap();
    let (px, _) = write_walk(dir.path(), "li", 0.2, 400, 5);
    let results = dir.path().join("res");
    run_ok(
        bin()
            .args(["md", "diffusion"])
            .arg(&px)
            .args([
                "--species",
                "Li",
                "--temperature",
                "600",
                "--report",
                "--results",
            ])
            .arg(&results)
            .arg("--out")
            .arg(dir.path().join("li.toml")),
    );
    for f in [
        "md_diffusion.json",
        "provenance.json",
        "report.html",
        "figures/md_msd.svg",
        "figures/md_msd.png",
    ] {
        assert!(results.join(f).is_file(), "{f} missing");
    }
    let html = std::fs::read_to_string(results.join("report.html")).unwrap();
    assert!(
        html.contains("Diffusion at 600 K") && html.contains("fit, 95 % band"),
        "no MSD figure"
    );
    let csv = std::fs::read_to_string(results.join("figures/md_msd.csv")).unwrap();
    assert!(
        csv.starts_with(
            "file,t_ps,tracer_msd_A2,collective_msd_A2,fit_A2,fit_lo95_A2,fit_hi95_A2\n"
        )
    );
    // The band brackets the line and the data follow it inside the window.
    let rows: Vec<Vec<f64>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').skip(1).map(|c| c.parse().unwrap()).collect())
        .collect();
    assert!(rows.iter().all(|r| r[4] <= r[3] && r[3] <= r[5]));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results.join("md_diffusion.json")).unwrap())
            .unwrap();
    assert_eq!(v["temperature_k"].as_f64(), Some(600.0));
    // The report command on the folder.
    std::fs::remove_file(results.join("report.html")).unwrap();
    run_ok(bin().arg("report").arg(&results));
    assert!(results.join("report.html").is_file());
}

/// `md density --out DIR` then `bridgelaw report DIR`: the profile figure (reported width with
/// its 95 % standard-error band, other widths, time windows; axes with units) and the
/// scale-separation table.
#[test]
fn density_folder_renders_the_profile_and_the_scale_table() {
    let dir = tempfile::tempdir().unwrap();
    let (px, _) = write_walk(dir.path(), "li", 0.2, 200, 9);
    let out = dir.path().join("dens");
    run_ok(
        bin()
            .args(["md", "density"])
            .arg(&px)
            .args(["--species", "Li", "--kernel-width", "2", "--out"])
            .arg(&out),
    );
    run_ok(bin().arg("report").arg(&out));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for needle in [
        "Coarse-grained Li density",
        "95 % band (block-averaged standard error)",
        "Scale separation",
        "kernel width (Å)",
        "beyond noise (% of mean)",
    ] {
        assert!(html.contains(needle), "report lacks '{needle}'");
    }
    let svg = std::fs::read_to_string(out.join("figures/md_density.svg")).unwrap();
    assert!(
        svg.contains("z (Å)") && svg.contains("density (ions/Å^3)"),
        "axis labels with units missing"
    );
    assert!(out.join("figures/md_density.png").is_file());
    // The figure's data: the reported width (2 Å) and the two checked ones (1 and 4 Å), each with
    // its standard error; every profile averages to N/V (each ion's weights sum to one).
    let csv = std::fs::read_to_string(out.join("figures/md_density.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "z_A,density_w2A_per_A3,density_se_w2A_per_A3,density_w1A_per_A3,density_se_w1A_per_A3,density_w4A_per_A3,density_se_w4A_per_A3,concentration_mol_per_m3"
    );
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
        .collect();
    assert!(rows.len() >= 4 && rows.iter().all(|r| r[2] > 0.0 && r[4] > 0.0 && r[6] > 0.0));
    let n_over_v = 16.0 / 12f64.powi(3);
    for col in [1, 3, 5] {
        let mean = rows.iter().map(|r| r[col]).sum::<f64>() / rows.len() as f64;
        assert!(
            (mean / n_over_v - 1.0).abs() < 1e-4,
            "column {col}: mean {mean} vs N/V {n_over_v}"
        );
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("md_density.json")).unwrap())
            .unwrap();
    assert_eq!(v["scale_checks"].as_array().map(|a| a.len()), Some(2));
}
