//! `bridgelaw balance`: the four stoichiometry-window ends recovered from a synthetic
//! pseudo-OCV made with the cell's own OCPs at known windows, with a priors file that feeds a
//! rate calibration; bad input exits 2.

use bridgelaw::calibrate::balance::{ElectrodeBalance, WINDOW_PARAMETERS};
use bridgelaw::cell::read_bpx_file;
use bridgelaw::dist::sample::stream_rng;
use bridgelaw::model::evaluate;
use rand_distr::{Distribution, StandardNormal};
use std::path::{Path, PathBuf};
use std::process::Command;

const BPX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/models/cells/lgm50_chen2020.bpx.json"
);
/// The synthetic truth (theta100_n, theta0_n, theta100_p, theta0_p): the BPX windows
/// (0.9014, 0.0279, 0.2700, 0.9084) each moved by 0.01 to 0.03.
const TRUTH: [f64; 4] = [0.88, 0.04, 0.29, 0.89];
/// Noise sd of the synthetic curve [V].
const SIGMA: f64 = 0.001;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bridgelaw-balance-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A C/20 discharge of 20 h, 241 points, OCV at `TRUTH` plus noise, as time_s,current_A,voltage_V
/// (discharge positive). `charge_at`: make the current negative (a charge) from that row on.
fn pseudo_ocv(path: &Path, charge_at: Option<usize>) {
    let cell = read_bpx_file(Path::new(BPX)).unwrap().params;
    let current = cell.nominal_capacity_ah / 20.0;
    let t: Vec<f64> = (0..241).map(|k| 300.0 * k as f64).collect();
    let q: Vec<f64> = t.iter().map(|t| current * t / 3600.0).collect();
    let m = ElectrodeBalance::new(&cell, cell.temperature, &q).unwrap();
    let v = evaluate(&m, &TRUTH).unwrap();
    let mut rng = stream_rng(11, 0);
    let mut s = String::from("time_s,current_A,voltage_V\n");
    for k in 0..t.len() {
        let e: f64 = StandardNormal.sample(&mut rng);
        let i = if charge_at.is_some_and(|c| k >= c) {
            -current
        } else {
            current
        };
        s.push_str(&format!("{},{i},{}\n", t[k], v[k] + SIGMA * e));
    }
    std::fs::write(path, s).unwrap();
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bridgelaw"))
}

#[test]
fn balancing_recovers_known_windows_from_a_synthetic_pseudo_ocv() {
    let dir = scratch("ok");
    let data = dir.join("ocv.csv");
    pseudo_ocv(&data, None);
    let out = dir.join("out");
    let r = bin()
        .args([
            "balance",
            "--bpx",
            BPX,
            "--sign",
            "discharge-positive",
            "--data",
        ])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(
        r.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&r.stderr)
    );
    eprintln!("{stdout}");
    let res: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("balance.json")).unwrap()).unwrap();
    for (k, w) in res["windows"].as_array().unwrap().iter().enumerate() {
        assert_eq!(w["name"], WINDOW_PARAMETERS[k]);
        let (map, sd) = (w["map"].as_f64().unwrap(), w["sd"].as_f64().unwrap());
        // Within 3 Laplace sds of the truth, and the truth is resolved (0.01 or better).
        assert!(
            (map - TRUTH[k]).abs() < 3.0 * sd + 1e-4 && (map - TRUTH[k]).abs() < 0.01,
            "{}: MAP {map} ± {sd}, truth {}",
            WINDOW_PARAMETERS[k],
            TRUTH[k]
        );
        assert!(sd > 0.0 && sd < 0.01, "{w}");
    }
    // The balanced curve fits to the noise; the BPX windows do not.
    let (at_bpx, at_map) = (
        res["rmse_prior_centre_v"].as_f64().unwrap(),
        res["rmse_map_v"].as_f64().unwrap(),
    );
    assert!(
        at_map < 1.2 * SIGMA && at_bpx > 5.0 * SIGMA,
        "{at_bpx} → {at_map}"
    );
    // The priors file reads back as the four window ends (with their correlations), ready for a
    // rate study's `priors`.
    let pr = bridgelaw::dist::file::load_priors(&out.join("balance_priors.toml")).unwrap();
    assert_eq!(pr.names(), WINDOW_PARAMETERS.to_vec());
    for k in 0..4 {
        let med = pr.median_natural()[k];
        let map = res["windows"][k]["map"].as_f64().unwrap();
        assert!((med - map).abs() < 1e-9, "{med} vs {map}");
    }
}

#[test]
fn bad_balance_input_exits_2_naming_the_problem() {
    let dir = scratch("bad");
    let data = dir.join("with_charge.csv");
    pseudo_ocv(&data, Some(200));
    let missing = dir.join("missing.csv");
    for (file, sign, expect) in [
        (&data, "discharge-positive", "with_charge.csv"),
        (&missing, "discharge-positive", "missing.csv"),
        (&data, "upward", "--sign"),
    ] {
        let r = bin()
            .args(["balance", "--bpx", BPX, "--sign", sign, "--data"])
            .arg(file)
            .arg("--out")
            .arg(dir.join("out"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expect), "{stderr}");
    }
}
