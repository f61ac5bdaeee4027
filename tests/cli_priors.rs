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
