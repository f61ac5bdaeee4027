//! The `bridgelaw priors` commands: the README's first command works, bad input exits 2 with a
//! message naming the file and field, and existing outputs are never clobbered.

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bridgelaw"))
}

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn summary_of_shipped_priors() {
    let out = bin()
        .args(["priors", "summary"])
        .arg(repo("priors/graphite_neb.toml"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("| E_m | eV | normal | 0.2930 |"), "{s}");
    assert!(s.contains("95 % interval") && s.contains("+0.300"), "{s}");
}

#[test]
fn bad_priors_file_exits_2_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(&f, "[[parameter]]\nname = \"x\"\nunit = \"eV\"\ndistribution = \"normal\"\nmean = 1\nsd = -1\n").unwrap();
    let out = bin().args(["priors", "summary"]).arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(
        e.contains("bad.toml") && e.contains("parameter[0] (x).sd") && e.contains("> 0"),
        "{e}"
    );
    let out = bin()
        .args(["priors", "summary"])
        .arg(dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn from_arrhenius_writes_a_loadable_file_and_refuses_to_clobber() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("fit.toml");
    let run = |extra: &[&str]| {
        bin()
            .args(["priors", "from-arrhenius"])
            .arg(repo("priors/raw/llzo_aimd_diffusivity.csv"))
            .arg("--out")
            .arg(&out_path)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = bridgelaw::dist::load_priors(&out_path).unwrap();
    assert!((d.mean_z[1] - 0.2581).abs() < 5e-4);
    std::fs::write(&out_path, "precious").unwrap();
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "precious");
}

#[test]
fn from_series_reports_plateau_and_bad_csv_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("series.csv");
    let mut text = String::from("step,msd [A^2]\n");
    let mut x: f64 = 0.0;
    let mut s: u64 = 12345;
    for i in 0..4096 {
        // a small deterministic AR(1)-like series
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let u = (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        x = 0.8 * x + u;
        text.push_str(&format!("{i},{}\n", 10.0 + x));
    }
    std::fs::write(&csv, &text).unwrap();
    let out = bin()
        .args(["priors", "from-series"])
        .arg(&csv)
        .args(["--column", "msd"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("plateau at block length"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("unit = \"A^2\""));
    std::fs::write(&csv, "step,msd [A^2]\n1,2\n2,x\n").unwrap();
    let out = bin()
        .args(["priors", "from-series"])
        .arg(&csv)
        .args(["--column", "msd"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(
        e.contains("series.csv") && e.contains("row 3, column 2"),
        "{e}"
    );
}

/// The positive-definiteness test does not depend on the units: E_m in eV (sd ~0.01) beside ν0
/// in Hz (~5e12) is accepted like the same numbers in THz, and a file with an unknown unit is
/// refused naming the field and the accepted units.
#[test]
fn from_replicas_accepts_ev_beside_hz_and_unknown_units_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("neb.csv");
    let rows = [
        (0.291, 4.8e12),
        (0.305, 5.3e12),
        (0.287, 4.6e12),
        (0.299, 5.1e12),
        (0.312, 5.6e12),
        (0.296, 4.9e12),
    ];
    let mut text = String::from("E_m [eV],nu0 [Hz]\n");
    for (e, nu) in rows {
        text.push_str(&format!("{e},{nu:e}\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let out_path = dir.path().join("neb.toml");
    let out = bin()
        .args(["priors", "from-replicas"])
        .arg(&csv)
        .arg("--out")
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = bridgelaw::dist::load_priors(&out_path).unwrap();
    assert!((d.mean_z[1] / 5.05e12 - 1.0).abs() < 1e-2);
    // A perfectly correlated pair is still refused, whatever the units.
    let m = nalgebra::DMatrix::from_row_slice(2, 2, &[1e-4, 1e4, 1e4, 1e12]);
    let e = bridgelaw::dist::validate_covariance("covariance", &m, &["E_m", "nu0"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("not positive definite"), "{e}");
    // An unknown unit in a priors file.
    let f = dir.path().join("furlong.toml");
    std::fs::write(
        &f,
        "[[parameter]]\nname = \"x\"\nunit = \"furlong\"\ndistribution = \"normal\"\nmean = 1\nsd = 1\n",
    )
    .unwrap();
    let out = bin().args(["priors", "summary"]).arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(
        e.contains("furlong.toml")
            && e.contains("parameter[0] (x).unit")
            && e.contains("'furlong'")
            && e.contains("m^2/s"),
        "{e}"
    );
}
