//! `bridgelaw calibrate` on the shipped chain study: the fast MAP mode, and bad input.

use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bridgelaw"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("bridgelaw-cli-cal-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn map_mode_moves_the_barrier_toward_the_synthetic_truth() {
    let out = scratch("map");
    let r = bin()
        .args([
            "calibrate",
            "models/lgm50_chain_calibration.toml",
            "--map",
            "--report",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&r.stdout);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{stdout}\n{stderr}");
    // How the optimiser stopped, in words; the report of a --map run is written.
    assert!(
        stdout.contains("L-BFGS converged after") && !stdout.contains("Some("),
        "{stdout}"
    );
    assert!(
        !stdout.contains("warning") && !stdout.contains("wrote"),
        "{stdout}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Laplace approximation"));
    // `bridgelaw report` redraws it from the folder.
    let again = scratch("map-report");
    let r = bin()
        .arg("report")
        .arg(&out)
        .arg("--out")
        .arg(&again)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(again.join("report.html").is_file());
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("lgm50_chain_calibration_map.json")).unwrap(),
    )
    .unwrap();
    let text = json.to_string();
    assert!(text.contains("E_m"), "{text}");
    // The E_m row of the table: MAP near the synthetic truth 0.40 eV, far from the NEB 0.293 eV.
    let row = stdout
        .lines()
        .find(|l| l.starts_with("| E_m |"))
        .unwrap_or_else(|| panic!("{stdout}"));
    let map: f64 = row.split('|').nth(3).unwrap().trim().parse().unwrap();
    assert!((map - 0.40).abs() < 0.03, "MAP E_m = {map}");
}

#[test]
fn bad_calibration_input_exits_2_naming_the_problem() {
    let dir = scratch("bad");
    // A study without data experiments.
    let r = bin()
        .args([
            "calibrate",
            "models/lgm50_chain_voltage_band.toml",
            "--map",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("data"));
    // A data file with a NaN voltage replacing the study's.
    let bad = dir.join("nan.csv");
    std::fs::write(
        &bad,
        "time_s,current_A,voltage_V\n0,5,4.0\n10,5,NaN\n20,5,3.9\n",
    )
    .unwrap();
    let map_with_data = |files: &[&std::path::Path]| {
        bin()
            .args([
                "calibrate",
                "models/lgm50_chain_calibration.toml",
                "--map",
                "--data",
            ])
            .args(files)
            .arg("--out")
            .arg(&dir)
            .output()
            .unwrap()
    };
    let r = map_with_data(&[&bad, &bad, &bad]);
    assert_eq!(r.status.code(), Some(2));
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(e.contains("nan.csv"), "{e}");
    // Wrong number of --data files.
    let r = map_with_data(&[&bad]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("expected 3 files"));
    // --data files whose current is twice the study curve's (the model would be driven by the
    // study's current, so these curves come from another experiment)
    let models = std::path::Path::new("models");
    let mut doubled = Vec::new();
    for name in ["1C_25C", "2C_25C", "1C_10C"] {
        let text =
            std::fs::read_to_string(models.join(format!("demo/data/lgm50_synthetic_{name}.csv")))
                .unwrap();
        let mut lines = text.lines();
        let mut out = format!("{}\n", lines.next().unwrap());
        for l in lines {
            let f: Vec<f64> = l.split(',').map(|x| x.trim().parse().unwrap()).collect();
            out.push_str(&format!("{},{},{}\n", f[0], 2.0 * f[1], f[2]));
        }
        let p = dir.join(format!("doubled_{name}.csv"));
        std::fs::write(&p, out).unwrap();
        doubled.push(p);
    }
    let r = map_with_data(&doubled.iter().map(|p| p.as_path()).collect::<Vec<_>>());
    assert_eq!(r.status.code(), Some(2));
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(
        e.contains("doubled_1C_25C.csv") && e.contains("current differs"),
        "{e}"
    );
}

#[test]
fn report_reads_a_nuts_calibrate_folder_made_without_report() {
    let out = scratch("nuts");
    let r = bin()
        .args([
            "calibrate",
            "models/lgm50_chain_calibration.toml",
            "--chains",
            "1",
            "--tune",
            "4",
            "--draws",
            "4",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&r.stdout);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{stdout}\n{stderr}");
    // Results on stdout, diagnostics (4 draws: R-hat and ESS warnings) and file names on stderr.
    assert!(
        stdout.contains("R-hat") && !stdout.contains("warning:"),
        "{stdout}"
    );
    assert!(
        stderr.contains("warning:") && stderr.contains("wrote"),
        "{stderr}"
    );
    assert!(!out.join("report.html").exists());
    let r = bin().arg("report").arg(&out).output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Trace plots"));
}

/// With stderr not a terminal (a batch job's log) a run still says how far it is: a plain line
/// per interval with the count, the share and each chain's own count.
#[test]
fn progress_lines_when_stderr_is_not_a_terminal() {
    let out = scratch("progress");
    let r = bin()
        .env("BRIDGELAW_PROGRESS_SECONDS", "0.01")
        .args([
            "calibrate",
            "models/lgm50_chain_calibration.toml",
            "--chains",
            "2",
            "--tune",
            "20",
            "--draws",
            "20",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("calibrate: ") && l.contains("/80 iterations ("))
        .unwrap_or_else(|| panic!("no progress line in:\n{stderr}"));
    assert!(
        line.contains("elapsed") && line.contains("chain 0: ") && line.contains("chain 1: "),
        "{line}"
    );
}
