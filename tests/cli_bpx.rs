//! `bridgelaw bpx export`: a calibration (`--map`) and a propagation of a small SPM study become
//! BPX 1.x files whose parameters are the run's central values and whose User-defined section
//! holds each distribution; bad input exits 2 naming the folder or file; and (with
//! BRIDGELAW_PYTHON, in CI) the `bpx` package's strict parser and PyBaMM accept an export.

use bridgelaw::cell::{CellModelKind, Protocol, SolverOptions, read_bpx_file};
use bridgelaw::chain::ChainModel;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BPX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/models/cells/lgm50_chen2020.bpx.json"
);
/// The truth of the synthetic curve: the BPX file's graphite diffusivity [m²/s].
const D_N_TRUE: f64 = 3.3e-14;

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bridgelaw"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A folder with a 1C SPM discharge at `D_N_TRUE` and the file's k_n (no noise, every 30 s to
/// 3000 s) and a study fitting D_n (log-normal prior 6× off) and k_n (log-normal, 1.5× off).
/// Returns the folder, the study and the file's k_n.
fn setup(name: &str) -> (PathBuf, PathBuf, f64) {
    let dir = std::env::temp_dir().join(format!("bridgelaw-bpx-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let base = read_bpx_file(Path::new(BPX)).unwrap().params;
    let current = base.nominal_capacity_ah;
    let k_n = base.neg.rate_constant;
    let times: Vec<f64> = (0..=100).map(|k| 30.0 * k as f64).collect();
    let solver = SolverOptions {
        model: CellModelKind::Spm,
        ..SolverOptions::default()
    };
    let m = ChainModel::cell(
        base,
        solver,
        &["D_n"],
        Protocol::c_rate(1.0, 3000.0),
        times.clone(),
    )
    .unwrap();
    let v = bridgelaw::model::evaluate(&m, &[D_N_TRUE]).unwrap();
    let mut csv = String::from("time_s,current_A,voltage_V\n");
    for (k, t) in times.iter().enumerate() {
        csv.push_str(&format!("{t},{current},{}\n", v[k]));
    }
    std::fs::write(dir.join("1C.csv"), csv).unwrap();
    std::fs::write(
        dir.join("priors.toml"),
        format!(
            r#"title = "graphite diffusivity and rate constant, off"
[[parameter]]
name = "D_n"
unit = "m^2/s"
distribution = "lognormal"
median = 2.0e-13
log_sd = 0.8
[[parameter]]
name = "k_n"
unit = "A m^-2 (m^3/mol)^1.5"
distribution = "lognormal"
median = {:e}
log_sd = 0.5
"#,
            1.5 * k_n
        ),
    )
    .unwrap();
    let study = dir.join("study.toml");
    std::fs::write(
        &study,
        format!(
            r#"title = "BPX export on a synthetic SPM curve"
priors = ["priors.toml"]
[model]
cell = "spm"
bpx = "{BPX}"
shells = 10
[[model.experiment]]
name = "1C"
data = "1C.csv"
sign = "discharge_positive"
[inputs]
D_n = "prior"
k_n = "prior"
[calibrate]
noise = {{ kind = "fixed", sigma = 0.003 }}
"#
        ),
    )
    .unwrap();
    (dir, study, k_n)
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// `calibrate --map`, then `bpx export`: the file's D_n is the MAP (bit for bit) and its k_n
/// (stored normalised, k_norm = k·c_max·√c_e0/F) the MAP to rounding, its other values the
/// study's BPX file; the distributions are in User-defined/Distributions with the prior's kind
/// (log-normal), k_n's in BPX's unit.
#[test]
fn export_of_a_map_calibration() {
    let (dir, study, k_n) = setup("map");
    let run = dir.join("cal");
    ok(&bin(&[
        "calibrate",
        s(&study),
        "--map",
        "--seed",
        "3",
        "--out",
        s(&run),
    ]));
    let out = dir.join("export.json");
    let err = ok(&bin(&["bpx", "export", s(&run), "--out", s(&out)]));
    assert!(err.contains("MAP"), "{err}");
    let validation = std::fs::read_dir(&run)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("_validation.json"))
        .unwrap();
    let v = read_json(&validation);
    let map = |name: &str| {
        v["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["map"]
            .as_f64()
            .unwrap()
    };
    let cell = read_bpx_file(&out).unwrap();
    let base = read_bpx_file(Path::new(BPX)).unwrap().params;
    assert_eq!(cell.params.neg.diffusivity.scale, map("D_n"));
    assert!((cell.params.neg.rate_constant / map("k_n") - 1.0).abs() < 1e-14);
    assert_eq!(
        cell.params.pos.diffusivity.scale,
        base.pos.diffusivity.scale
    );
    assert!((map("D_n") / D_N_TRUE - 1.0).abs() < 0.05, "{}", map("D_n"));
    assert!(
        (map("k_n") / k_n - 1.0).abs() < 0.05,
        "{} vs {k_n}",
        map("k_n")
    );
    let doc = read_json(&out);
    assert_eq!(doc["Header"]["BPX"], "1.1.1");
    let desc = doc["Header"]["Description"].as_str().unwrap();
    assert!(
        desc.contains("MAP") && desc.contains("calibration"),
        "{desc}"
    );
    let d = &doc["Parameterisation"]["User-defined"]["Distributions"];
    let dn = &d["Negative electrode diffusivity [m2.s-1]"];
    assert_eq!(dn["Value written"].as_f64(), Some(map("D_n")));
    let (lo, hi) = (
        dn["Interval lower (95 %)"].as_f64().unwrap(),
        dn["Interval upper (95 %)"].as_f64().unwrap(),
    );
    assert!(lo < map("D_n") && map("D_n") < hi, "{dn}");
    let sigma = dn["Log-normal"]["Standard deviation of ln x"]
        .as_f64()
        .unwrap();
    assert!(sigma > 0.0 && sigma < 0.8, "{dn}");
    // k_n in BPX's normalised unit: the value written is the file's k_norm.
    let kn = &d["Negative electrode reaction rate constant [mol.m-2.s-1]"];
    let k_norm =
        doc["Parameterisation"]["Negative electrode"]["Reaction rate constant [mol.m-2.s-1]"]
            .as_f64()
            .unwrap();
    assert_eq!(kn["Value written"].as_f64(), Some(k_norm));
    let mu = kn["Log-normal"]["Mean of ln x"].as_f64().unwrap();
    assert!((mu - k_norm.ln()).abs() < 0.05, "{kn}");
    // --at mean: the mean of the Laplace draws instead.
    let out_mean = dir.join("mean.json");
    ok(&bin(&[
        "bpx",
        "export",
        s(&run),
        "--at",
        "mean",
        "--out",
        s(&out_mean),
    ]));
    let mean = read_bpx_file(&out_mean)
        .unwrap()
        .params
        .neg
        .diffusivity
        .scale;
    assert!(mean != map("D_n") && (mean / map("D_n") - 1.0).abs() < 0.05);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `propagate` (Monte Carlo of the prior through the study's model), then `bpx export`: the
/// inputs that are cell parameters at their prior mean, with their prior's distribution.
#[test]
fn export_of_a_propagation() {
    let (dir, study, _) = setup("prop");
    let run = dir.join("prop");
    ok(&bin(&[
        "propagate",
        s(&study),
        "--method",
        "delta",
        "--out",
        s(&run),
    ]));
    let out = dir.join("export.json");
    let base = dir.join("base.json");
    std::fs::copy(BPX, &base).unwrap();
    let err = ok(&bin(&[
        "bpx",
        "export",
        s(&run),
        "--base",
        s(&base),
        "--out",
        s(&out),
    ]));
    assert!(err.contains("propagated mean"), "{err}");
    let cell = read_bpx_file(&out).unwrap().params;
    // log-normal prior, median 2e-13, log sd 0.8: mean = median·e^(σ²/2)
    let mean = 2.0e-13 * (0.32f64).exp();
    assert!((cell.neg.diffusivity.scale / mean - 1.0).abs() < 1e-12);
    let doc = read_json(&out);
    let dn = &doc["Parameterisation"]["User-defined"]["Distributions"]["Negative electrode diffusivity [m2.s-1]"];
    let mu = dn["Log-normal"]["Mean of ln x"].as_f64().unwrap();
    let sigma = dn["Log-normal"]["Standard deviation of ln x"]
        .as_f64()
        .unwrap();
    assert!(
        (mu - 2.0e-13f64.ln()).abs() < 1e-9 && (sigma - 0.8).abs() < 1e-9,
        "{dn}"
    );
    assert!(
        doc["Header"]["Description"]
            .as_str()
            .unwrap()
            .contains(s(&base))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bad input exits 2 naming the folder or file: not a run folder, a missing base file, a run
/// with no cell parameters, a bad --at.
#[test]
fn bad_input_exits_2_naming_what() {
    let dir = std::env::temp_dir().join(format!("bridgelaw-bpx-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let out = dir.join("x.json");
    let law_run = dir.join("law");
    ok(&bin(&[
        "propagate",
        "models/graphite_diffusivity_neb.toml",
        "--method",
        "delta",
        "--out",
        s(&law_run),
    ]));
    let missing = dir.join("missing.json");
    for (args, expect) in [
        (
            vec!["bpx", "export", s(&dir.join("empty")), "--out", s(&out)],
            vec!["empty", "expected a calibration run folder"],
        ),
        (
            vec!["bpx", "export", s(&dir.join("nowhere")), "--out", s(&out)],
            vec!["nowhere", "not a folder"],
        ),
        (
            vec!["bpx", "export", s(&law_run), "--out", s(&out)],
            vec!["law", "no cell parameters"],
        ),
        (
            vec![
                "bpx",
                "export",
                s(&law_run),
                "--at",
                "mean",
                "--out",
                s(&out),
            ],
            vec!["--at", "calibration"],
        ),
    ] {
        let o = bin(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        for e in expect {
            assert!(err.contains(e), "{args:?}: expected '{e}' in: {err}");
        }
        assert!(!out.exists());
    }
    let (sdir, study, _) = setup("bad");
    let run = sdir.join("prop");
    ok(&bin(&[
        "propagate",
        s(&study),
        "--method",
        "delta",
        "--out",
        s(&run),
    ]));
    let o = bin(&[
        "bpx",
        "export",
        s(&run),
        "--base",
        s(&missing),
        "--out",
        s(&out),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("missing.json"), "{err}");
    // The study's BPX file gone: the default base names the study and its field.
    std::fs::write(
        &study,
        std::fs::read_to_string(&study)
            .unwrap()
            .replace(BPX, "gone.json"),
    )
    .unwrap();
    let o = bin(&["bpx", "export", s(&run), "--out", s(&out)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("gone.json") && err.contains("--base"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&sdir);
}

/// The `bpx` package (strict, not the legacy parser) validates an export of a propagation of
/// the shipped LG M50 chain study, and PyBaMM's `create_from_bpx` loads it and solves a 1C SPM
/// discharge that agrees with bridgelaw's on the same file (scripts/bpx_check.py). Needs
/// BRIDGELAW_PYTHON naming a python with `bpx` and `pybamm`; `.ci/run` makes that venv and runs
/// this test by name with `--ignored`. Without it the test fails.
#[test]
#[ignore = "needs BRIDGELAW_PYTHON=<python with bpx and pybamm>; .ci/run runs it"]
fn bpx_package_and_pybamm_accept_an_export() {
    let python = std::env::var("BRIDGELAW_PYTHON")
        .expect("set BRIDGELAW_PYTHON to a python that has bpx and pybamm installed");
    let dir = std::env::temp_dir().join(format!("bridgelaw-bpx-py-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let run = dir.join("band");
    ok(&bin(&[
        "propagate",
        "models/lgm50_chain_voltage_band.toml",
        "--method",
        "delta",
        "--out",
        s(&run),
    ]));
    let out = dir.join("lgm50_band.bpx.json");
    ok(&bin(&["bpx", "export", s(&run), "--out", s(&out)]));
    let doc = read_json(&out);
    let d = doc["Parameterisation"]["User-defined"]["Distributions"]
        .as_object()
        .unwrap();
    assert!(
        d.contains_key("Negative electrode diffusivity [m2.s-1]"),
        "{d:?}"
    );
    let curve = dir.join("spm_1C.csv");
    ok(&bin(&[
        "simulate",
        "--bpx",
        s(&out),
        "--model",
        "spm",
        "--c-rate",
        "1",
        "--shells",
        "20",
        "--out",
        s(&curve),
    ]));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bpx_check.py");
    let o = Command::new(&python)
        .arg(script)
        .arg(&out)
        .arg(&curve)
        .output()
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    println!("{stdout}");
    assert!(o.status.success(), "bpx check failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("OK"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
