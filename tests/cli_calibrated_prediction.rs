//! A calibration's result used for prediction, on curves made by the SPM itself at a known
//! truth with known noise: `calibrate --validate` (held-out curves get a posterior-predictive
//! band whose coverage is near its level; the residual table at the prior centre, MAP and
//! posterior mean is written for every curve) and `propagate --posterior` (the draws drive the
//! model at new conditions and reproduce the calibration's own band at its own).

use bridgelaw::cell::{CellModelKind, Protocol, SolverOptions, read_bpx_file};
use bridgelaw::chain::ChainModel;
use bridgelaw::dist::sample::stream_rng;
use rand_distr::{Distribution, StandardNormal};
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bridgelaw"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

const BPX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/models/cells/lgm50_chen2020.bpx.json"
);
/// The synthetic truth: the BPX file's graphite diffusivity [m²/s].
const D_N_TRUE: f64 = 3.3e-14;
/// Noise sd of the fitted curves [V].
const SIGMA: f64 = 0.003;

/// A constant-C-rate discharge of the SPM at `D_N_TRUE`, sampled every `dt` s up to `stop` s,
/// plus Gaussian noise of sd `sigma` (stream `seed`), written as time_s,current_A,voltage_V.
fn synthetic_curve(path: &Path, c_rate: f64, stop: f64, dt: f64, sigma: f64, seed: u64) {
    let base = read_bpx_file(Path::new(BPX)).unwrap().params;
    let current = c_rate * base.nominal_capacity_ah;
    let times: Vec<f64> = (0..=(stop / dt) as usize).map(|k| k as f64 * dt).collect();
    let solver = SolverOptions {
        model: CellModelKind::Spm,
        ..SolverOptions::default()
    };
    let m = ChainModel::cell(
        base,
        solver,
        &["D_n"],
        Protocol::c_rate(c_rate, stop),
        times.clone(),
    )
    .unwrap();
    let out = bridgelaw::model::evaluate(&m, &[D_N_TRUE]).unwrap();
    let mut rng = stream_rng(seed, 0);
    let mut s = String::from("time_s,current_A,voltage_V\n");
    for (k, t) in times.iter().enumerate() {
        let e: f64 = StandardNormal.sample(&mut rng);
        s.push_str(&format!("{t},{current},{}\n", out[k] + sigma * e));
    }
    std::fs::write(path, s).unwrap();
}

/// A study fitting D_n (log-normal prior centred 6× off the truth) to 1C and 2C curves, and a
/// held-out 1.5C curve with noise sd `held_sigma`.
fn setup(name: &str, held_sigma: f64) -> (PathBuf, PathBuf, PathBuf) {
    let dir =
        std::env::temp_dir().join(format!("bridgelaw-validate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    synthetic_curve(&dir.join("fit_1C.csv"), 1.0, 3000.0, 25.0, SIGMA, 1);
    synthetic_curve(&dir.join("fit_2C.csv"), 2.0, 1500.0, 12.5, SIGMA, 2);
    let held = dir.join("held_1p5C.csv");
    synthetic_curve(&held, 1.5, 2000.0, 16.0, held_sigma, 3);
    std::fs::write(
        dir.join("priors.toml"),
        r#"title = "graphite diffusivity, deliberately off"
[[parameter]]
name = "D_n"
unit = "m^2/s"
distribution = "lognormal"
median = 2.0e-13
log_sd = 0.8
"#,
    )
    .unwrap();
    let study = dir.join("study.toml");
    std::fs::write(
        &study,
        format!(
            r#"title = "validation on synthetic SPM curves"
priors = ["priors.toml"]
[model]
cell = "spm"
bpx = "{BPX}"
[[model.experiment]]
name = "fit_1C"
data = "fit_1C.csv"
sign = "discharge_positive"
[[model.experiment]]
name = "fit_2C"
data = "fit_2C.csv"
sign = "discharge_positive"
[inputs]
D_n = "prior"
[calibrate]
chains = 2
tune = 300
draws = 400
seed = 5
noise = {{ kind = "inferred", prior = {{ kind = "half_normal", scale = 0.01 }} }}
"#
        ),
    )
    .unwrap();
    (dir, study, held)
}

fn run(args: &[&str], study: &Path, held: &Path, out: &Path) -> serde_json::Value {
    let r = bin()
        .arg("calibrate")
        .arg(study)
        .args(args)
        .arg("--validate")
        .arg(held)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(
        r.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(stdout.contains("held_1p5C (held out"), "{stdout}");
    serde_json::from_str(&std::fs::read_to_string(out.join("study_validation.json")).unwrap())
        .unwrap()
}

fn coverage(v: &serde_json::Value, level: f64) -> f64 {
    v["held_out"][0]["coverage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| (c["level"].as_f64().unwrap() - level).abs() < 1e-9)
        .unwrap()["fraction"]
        .as_f64()
        .unwrap()
}

#[test]
fn held_out_band_coverage_is_near_its_level_on_synthetic_curves() {
    let (dir, study, held) = setup("nuts", SIGMA);
    let out = dir.join("nuts");
    let v = run(&[], &study, &held, &out);
    // 126 held-out points with the fitted noise: coverage within ~2 binomial sds of the level.
    let (c95, c90) = (coverage(&v, 0.95), coverage(&v, 0.90));
    eprintln!("held-out coverage: {c95:.3} of the 95 % band, {c90:.3} of the 90 % band");
    assert!((c95 - 0.95).abs() <= 0.05, "95 % band covers {c95}");
    assert!((c90 - 0.90).abs() <= 0.07, "90 % band covers {c90}");
    assert_eq!(v["held_out"][0]["points"], 126);
    // The median prediction is as close to the held-out data as the noise allows.
    let rmse = v["held_out"][0]["rmse_median_v"].as_f64().unwrap();
    assert!(rmse < 1.3 * SIGMA, "held-out median RMSE {rmse}");
    // Residual rows for the two fitted curves and the held-out one, at all three points; the
    // fit improves on the prior centre for every curve, the held-out one included.
    let rows = v["rmse"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2]["role"], "held_out");
    for r in rows {
        let at = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{r}"));
        assert!(at("posterior_mean_v") < at("prior_centre_v"), "{r}");
        assert!(at("map_v") < 1.3 * SIGMA, "{r}");
    }
    // The band files sit beside the fit's.
    assert!(out.join("study_validate_ppc_held_1p5C.csv").is_file());
    assert!(out.join("study_validate_ppc.json").is_file());
}

#[test]
fn held_out_curve_noisier_than_the_fit_is_under_covered() {
    // The control that shows the check can fail: a held-out curve with 4× the fitted noise
    // lies mostly outside the 95 % band (Laplace draws, the fast mode).
    let (dir, study, held) = setup("noisy", 4.0 * SIGMA);
    let v = run(&["--map"], &study, &held, &dir.join("map"));
    let c95 = coverage(&v, 0.95);
    eprintln!("95 % band coverage of a 4x noisier held-out curve: {c95:.3}");
    assert!(c95 < 0.6, "95 % band covers {c95} of a 4× noisier curve");
}

#[test]
fn bad_validate_input_exits_2_naming_the_problem() {
    let (dir, study, held) = setup("bad", SIGMA);
    let missing = dir.join("no_such_curve.csv");
    for (args, expect) in [
        (
            vec![
                "--validate".to_string(),
                missing.display().to_string(),
                "--map".into(),
            ],
            "no_such_curve.csv",
        ),
        (
            vec![
                "--validate".to_string(),
                held.display().to_string(),
                "--validate-temperature".into(),
                "0".into(),
                "--map".into(),
            ],
            "--validate-temperature",
        ),
        (
            vec![
                "--validate".to_string(),
                held.display().to_string(),
                held.display().to_string(),
                "--map".into(),
            ],
            "already in the study or the --validate list",
        ),
    ] {
        let r = bin()
            .arg("calibrate")
            .arg(&study)
            .args(&args)
            .arg("--out")
            .arg(dir.join("bad-out"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }
}

/// Columns of a CSV by header name.
fn csv_columns(path: &Path) -> std::collections::HashMap<String, Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let head: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    let mut cols = vec![Vec::new(); head.len()];
    for l in lines {
        for (c, v) in cols.iter_mut().zip(l.split(',')) {
            c.push(v.parse::<f64>().unwrap());
        }
    }
    head.into_iter().zip(cols).collect()
}

#[test]
fn posterior_propagated_to_the_calibration_experiment_reproduces_its_band() {
    let (dir, study, held) = setup("posterior", SIGMA);
    let cal = dir.join("cal");
    run(&[], &study, &held, &cal);
    // The prediction study: the calibrated curves' conditions stated as C-rates (not data),
    // and a new 3C discharge.
    let pred = dir.join("pred.toml");
    std::fs::write(
        &pred,
        format!(
            r#"title = "prediction with the calibrated D_n"
priors = ["priors.toml"]
[model]
cell = "spm"
bpx = "{BPX}"
[[model.experiment]]
name = "fit_1C"
c_rate = 1.0
times = {{ start = 0.0, stop = 3000.0, n = 121 }}
[[model.experiment]]
name = "new_3C"
c_rate = 3.0
times = {{ start = 0.0, stop = 900.0, n = 46 }}
[inputs]
D_n = "prior"
"#
        ),
    )
    .unwrap();
    let out = dir.join("pred");
    let r = bin()
        .args(["propagate"])
        .arg(&pred)
        .arg("--posterior")
        .arg(&cal)
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
    // All 800 draws (2 chains × 400) against the calibration's 400 thinned ones.
    assert!(stdout.contains("800 of 800 posterior draws"), "{stdout}");
    let mine = csv_columns(&out.join("posterior_band_voltage_fit_1C.csv"));
    let theirs = csv_columns(&cal.join("study_ppc_fit_1C.csv"));
    let worst = |a: &str, b: &str| {
        mine[a]
            .iter()
            .zip(&theirs[b])
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f64, f64::max)
    };
    // The model band (parameter uncertainty): the same draws, so equal to MC error of its
    // quantiles and the solver's protocol (C-rate vs the measured current): < 0.3 mV.
    for q in ["q5", "q50", "q95"] {
        let d = worst(&format!("{q} [V]"), &format!("{q} [V]"));
        eprintln!("{q}: largest difference {:.3} mV", 1e3 * d);
        assert!(d < 3e-4, "{q}: {d} V");
    }
    // A new measurement's band: noise from other streams and the pooled σ of both curves
    // instead of this curve's own. The MC error of a 5 % quantile of N(0, 3 mV) is
    // √(0.05·0.95/n)/φ(1.645)·σ ≈ 0.34 mV at n = 400 and 0.24 mV at 800, so the difference of
    // the two bands has an sd of ~0.41 mV per point: its mean over points stays well below
    // that and its largest of 121 points below ~5 sds.
    for q in ["q5", "q95"] {
        let (a, b) = (
            &mine[&format!("{q}_obs [V]")],
            &theirs[&format!("{q}_obs [V]")],
        );
        let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| (x - y).abs()).collect();
        let (mean, max) = (
            d.iter().sum::<f64>() / d.len() as f64,
            d.iter().fold(0.0f64, |m, x| m.max(*x)),
        );
        eprintln!(
            "{q}_obs: mean difference {:.3} mV, largest {:.3} mV",
            1e3 * mean,
            1e3 * max
        );
        assert!(
            mean < 0.5e-3 && max < 2e-3,
            "{q}_obs: mean {mean} V, max {max} V"
        );
    }
    // The band is a real one (not a point), and the new condition has its own.
    let w: f64 = mine["q95_obs [V]"][60] - mine["q5_obs [V]"][60];
    assert!(w > 2.0 * 1.645 * 0.8 * SIGMA, "90 % band width {w}");
    assert!(out.join("posterior_band_voltage_new_3C.csv").is_file());

    // simulate --params: the MAP applied to the BPX cell gives the MAP's residual on the 1C
    // curve (the calibration's own figure, computed with the chain under the measured current).
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cal.join("study_validation.json")).unwrap())
            .unwrap();
    let map_d_n = v["parameters"][0]["map"].as_f64().unwrap();
    let map_rmse = v["rmse"][0]["map_v"].as_f64().unwrap();
    let sim = dir.join("sim.csv");
    let r = bin()
        .args(["simulate", "--bpx", BPX, "--model", "spm", "--c-rate", "1"])
        .args(["--duration", "3000", "--output-dt", "25", "--params"])
        .arg(&cal)
        .arg("--out")
        .arg(&sim)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("D_n = {map_d_n:e} m^2/s (map of")),
        "{stderr}"
    );
    let simulated = csv_columns(&sim);
    let data = csv_columns(&dir.join("fit_1C.csv"));
    let (mut ss, mut n) = (0.0, 0);
    for (t, v) in simulated["time_s"].iter().zip(&simulated["voltage_V"]) {
        if let Some(k) = data["time_s"].iter().position(|d| (d - t).abs() < 1e-6) {
            ss += (v - data["voltage_V"][k]).powi(2);
            n += 1;
        }
    }
    let rmse = (ss / n as f64).sqrt();
    eprintln!(
        "simulate --params at the MAP: RMS residual {:.4} mV on {n} points; the calibration's {:.4} mV",
        1e3 * rmse,
        1e3 * map_rmse
    );
    assert!(
        n == 121 && (rmse - map_rmse).abs() < 5e-5,
        "{rmse} vs {map_rmse} on {n}"
    );
    let r = bin()
        .args(["simulate", "--bpx", BPX, "--params"])
        .arg(dir.join("no_such_run"))
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("no_such_run"));

    // A study input the calibration did not cover is refused (exit 2), naming it.
    let bad = dir.join("pred_bad.toml");
    std::fs::write(
        dir.join("priors_k.toml"),
        "title = \"k_n\"\n[[parameter]]\nname = \"k_n\"\nunit = \"A m^-2 (m^3/mol)^1.5\"\ndistribution = \"lognormal\"\nmedian = 1e-6\nlog_sd = 0.5\n",
    )
    .unwrap();
    std::fs::write(
        &bad,
        std::fs::read_to_string(&pred)
            .unwrap()
            .replace(
                r#"priors = ["priors.toml"]"#,
                r#"priors = ["priors.toml", "priors_k.toml"]"#,
            )
            .replace(r#"D_n = "prior""#, "D_n = \"prior\"\nk_n = \"prior\""),
    )
    .unwrap();
    for (study, run_dir, expect) in [
        (&bad, &cal, "k_n"),
        (&pred, &dir.join("no_such_run"), "calibration_view.json"),
    ] {
        let r = bin()
            .arg("propagate")
            .arg(study)
            .arg("--posterior")
            .arg(run_dir)
            .arg("--out")
            .arg(dir.join("bad-pred"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expect), "{stderr}");
    }
}
