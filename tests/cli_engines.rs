//! The engines through the CLI on the shipped studies: every study loads; propagate and
//! sensitivity write their result files; bad study files exit 2.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bridgelaw"))
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn every_shipped_study_loads() {
    let mut n = 0;
    for e in std::fs::read_dir(repo("models")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            bridgelaw::study::load_study(&p).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 3);
}

#[test]
fn propagate_writes_json_csv_markdown_and_bands() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["propagate"])
        .arg(repo("models/graphite_diffusivity_neb.toml"))
        .args(["--samples", "20000", "--seed", "3", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "propagation.json",
        "propagation.csv",
        "propagation.md",
        "band_D_tr_vs_T.csv",
    ] {
        let p = dir.path().join(f);
        assert!(
            std::fs::metadata(&p)
                .map(|m| m.len() > 100)
                .unwrap_or(false),
            "{f} missing"
        );
    }
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.contains("| D_tr | m^2/s | mc |"), "{md}");
    assert!(
        md.contains("not trustworthy"),
        "a lognormal prefactor and an exponential must trigger the nonlinearity warning"
    );
}

#[test]
fn sensitivity_ranks_the_barrier_first() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["sensitivity"])
        .arg(repo("models/graphite_diffusivity_neb.toml"))
        .args(["--method", "sobol", "--samples", "1024", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(
        s.contains("Refine next, most useful first: E_m → nu0"),
        "{s}"
    );
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("sensitivity.json")).unwrap())
            .unwrap();
    assert!(j["sobol"].is_object() && j["ranking"].is_object() && j["morris"].is_null());
}

/// `--report` on propagate and sensitivity writes report.html whose every figure reference
/// exists beside it and is non-empty.
#[test]
fn report_flag_writes_a_complete_html_report() {
    for (cmd, extra) in [
        ("propagate", ["--samples", "4000"]),
        ("sensitivity", ["--samples", "512"]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = bin()
            .arg(cmd)
            .arg(repo("models/graphite_diffusivity_neb.toml"))
            .args(extra)
            .args(["--report", "--out"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
        assert!(
            html.contains("graphite_diffusivity_neb.toml"),
            "{cmd}: no provenance"
        );
        let mut figures = 0;
        for piece in html.split("href=\"").skip(1) {
            let target = &piece[..piece.find('"').unwrap()];
            if target.starts_with("figures/") {
                let len = std::fs::metadata(dir.path().join(target)).map(|m| m.len());
                assert!(len.is_ok_and(|l| l > 0), "{cmd}: {target} missing or empty");
                figures += 1;
            }
        }
        assert!(figures >= 2, "{cmd}: only {figures} figure links");
        assert!(html.contains("<svg"), "{cmd}: no inline figure");
    }
}

#[test]
fn bad_study_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(&f, "[model]\nlaw = \"warp_drive\"\n").unwrap();
    for cmd in ["propagate", "sensitivity"] {
        let out = bin().arg(cmd).arg(&f).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let e = String::from_utf8(out.stderr).unwrap();
        assert!(
            e.contains("bad.toml") && e.contains("model.law") && e.contains("warp_drive"),
            "{e}"
        );
    }
    let out = bin()
        .args(["propagate"])
        .arg(repo("models/graphite_diffusivity_neb.toml"))
        .args(["--method", "magic"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A curve grid of 2³² or i64::MAX points is refused at load (exit 2 naming the field), not
/// allocated.
#[test]
fn huge_grid_is_refused_at_load() {
    let study = std::fs::read_to_string(repo("models/graphite_diffusivity_neb.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for n in ["4294967296", "9223372036854775807", "100000000"] {
        let text = study
            .replace("n = 21 }", &format!("n = {n} }}"))
            .replace("../priors/", &format!("{}/", repo("priors").display()));
        assert!(text.contains(n));
        let f = dir.path().join("huge.toml");
        std::fs::write(&f, text).unwrap();
        let out = bin().arg("propagate").arg(&f).output().unwrap();
        let e = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "n = {n}: {e}");
        assert!(
            e.contains("T_grid") && e.contains("1000000"),
            "n = {n}: {e}"
        );
    }
}

/// One method with `--report`: the methods that did not run are absent from sensitivity.json
/// (they were written as `null`, which the report's reader refused: exit 1).
#[test]
fn sensitivity_report_with_one_method() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["sensitivity"])
        .arg(repo("models/graphite_diffusivity_neb.toml"))
        .args(["--method", "local", "--report", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("sensitivity.json")).unwrap();
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        j["local"].is_object() && j.get("sobol").is_none(),
        "{text:.200}"
    );
    assert!(dir.path().join("report.html").exists());
}
