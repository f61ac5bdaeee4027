//! The README's first command, with reduced sample counts: `bridgelaw demo --quick` runs the
//! whole pipeline on the shipped studies and writes a readable report.

use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bridgelaw"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

#[test]
fn quick_demo_runs_end_to_end_and_writes_the_report() {
    let out = std::env::temp_dir().join(format!("bridgelaw-demo-{}", std::process::id()));
    let r = bin()
        .args(["demo", "--quick", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&r.stdout);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for needle in [
        "Summary",
        "SYNTHETIC",
        "D_tr",
        "U_plateau",
        "voltage_1C_25C",
        "E_m",
        "E_a_i0_n",
        "Refine next",
    ] {
        assert!(html.contains(needle), "report lacks '{needle}'");
    }
    assert!(html.matches("<svg").count() >= 10, "too few figures");
    // The closing lines: the parameter table and where the report is.
    assert!(stdout.contains("| posterior E_m |"), "{stdout}");
    assert!(stdout.contains("Report: "), "{stdout}");
    assert!(out.join("calibrate/lgm50_chain_summary.json").is_file());
}

#[test]
fn synthetic_data_regenerate_identically() {
    // `bridgelaw demo --make-data` into a scratch root reproduces the shipped curves bit for bit.
    let root = std::env::temp_dir().join(format!("bridgelaw-demo-data-{}", std::process::id()));
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for d in ["models/demo/data", "models/cells", "priors"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    for f in [
        "models/demo/synthetic_truth.toml",
        "models/cells/lgm50_chen2020.bpx.json",
        "priors/graphite_neb.toml",
        "priors/graphite_exchange_current.toml",
    ] {
        std::fs::copy(here.join(f), root.join(f)).unwrap();
    }
    let r = bin()
        .args(["demo", "--make-data", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    for name in ["1C_25C", "2C_25C", "1C_10C"] {
        let f = format!("models/demo/data/lgm50_synthetic_{name}.csv");
        assert_eq!(
            std::fs::read_to_string(root.join(&f)).unwrap(),
            std::fs::read_to_string(here.join(&f)).unwrap(),
            "{f} differs from its regeneration"
        );
    }
}
