//! Calibration on a window of a cycler file with rests, a charge and a pulse: the profile is made
//! by the SPM itself at known diffusivities (plus noise) and written as a cycler would (a step
//! column, a current jump logged 0.01 s after the step starts); the fit uses only the rows of the
//! window (or of the chosen steps), the cell being driven by the file's full-resolution current
//! from its first row. The truth must come back within a few posterior sds, which fails if the
//! cell started the window in the file's initial state, if the current were thinned with the
//! fitted rows (the steps smeared over ~100 s), or if the run stopped at a cut-off.

use bridgelaw::calibrate::map::{MapOptions, find_map};
use bridgelaw::calibrate::posterior::{Likelihood, Noise, Posterior};
use bridgelaw::calibrate::study::observations;
use bridgelaw::cell::{CellModelKind, CurrentSeries, Protocol, SolverOptions, read_bpx_file};
use bridgelaw::chain::ChainModel;
use bridgelaw::dist::sample::stream_rng;
use bridgelaw::study::load_study;
use rand_distr::{Distribution, StandardNormal};
use std::path::{Path, PathBuf};

const BPX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/models/cells/lgm50_chen2020.bpx.json"
);
/// The truth: the negative and positive particle diffusivities [m²/s].
const TRUTH: [f64; 2] = [3.3e-14, 4.0e-15];
/// Noise sd of the voltage [V].
const SIGMA: f64 = 0.002;

/// The steps of the profile: (step index, current [A] discharge > 0, duration [s]).
const STEPS: [(i64, f64, f64); 7] = [
    (1, 0.0, 300.0),  // rest
    (2, 5.0, 1800.0), // 1C discharge, half the capacity
    (3, 0.0, 600.0),  // rest
    (4, -2.5, 900.0), // C/2 charge
    (5, 0.0, 600.0),  // rest
    (6, 10.0, 120.0), // 2C pulse
    (7, 0.0, 480.0),  // rest
];

/// The profile's rows: every 10 s within each step and one 0.01 s after each step starts (the
/// current jumps there), as (time [s], current [A], step).
fn rows() -> Vec<(f64, f64, i64)> {
    let mut out = vec![(0.0, 0.0, 1)];
    let mut t0 = 0.0;
    for (k, &(step, amps, d)) in STEPS.iter().enumerate() {
        if k > 0 {
            out.push((t0 + 0.01, amps, step));
        }
        let n = (d / 10.0) as usize;
        for j in 1..=n {
            out.push((t0 + 10.0 * j as f64, amps, step));
        }
        t0 += d;
    }
    out
}

/// The profile simulated by the SPM at the truth (driven by the rows' own current), with
/// Gaussian noise, written as `time_s,current_A,voltage_V,Step`; returns the noise-free
/// voltages.
fn write_profile(path: &Path) -> Vec<f64> {
    let rows = rows();
    let base = read_bpx_file(Path::new(BPX)).unwrap().params;
    let times: Vec<f64> = rows.iter().map(|r| r.0).collect();
    let protocol = Protocol::Series(CurrentSeries {
        time_s: times.clone(),
        current_a: rows.iter().map(|r| r.1).collect(),
    });
    let solver = SolverOptions {
        model: CellModelKind::Spm,
        shells: 10,
        ..SolverOptions::default()
    };
    let m = ChainModel::cell(base, solver, &["D_n", "D_p"], protocol, times).unwrap();
    let v = bridgelaw::model::evaluate(&m, &TRUTH).unwrap();
    let mut rng = stream_rng(11, 0);
    let mut s = String::from("time_s,current_A,voltage_V,Step\n");
    for (k, (t, i, step)) in rows.iter().enumerate() {
        let e: f64 = StandardNormal.sample(&mut rng);
        s.push_str(&format!("{t},{i},{},{step}\n", v[k] + SIGMA * e));
    }
    std::fs::write(path, s).unwrap();
    v[..rows.len()].to_vec()
}

/// A study fitting D_n and D_p (log-normal priors 3× off the truth) to the profile's rows that
/// `select` picks (TOML lines of the experiment), σ fixed.
fn study(dir: &Path, select: &str) -> PathBuf {
    std::fs::write(
        dir.join("priors.toml"),
        r#"title = "diffusivities, deliberately off"
[[parameter]]
name = "D_n"
unit = "m^2/s"
distribution = "lognormal"
median = 1.0e-13
log_sd = 1.5
[[parameter]]
name = "D_p"
unit = "m^2/s"
distribution = "lognormal"
median = 1.2e-14
log_sd = 1.5
"#,
    )
    .unwrap();
    let path = dir.join(format!("study_{}.toml", select.len()));
    std::fs::write(
        &path,
        format!(
            r#"title = "windowed calibration on a synthetic profile"
priors = ["priors.toml"]
[model]
cell = "spm"
bpx = "{BPX}"
shells = 10
[[model.experiment]]
name = "profile"
data = "profile.csv"
sign = "discharge_positive"
max_points = 60
{select}
[inputs]
D_n = "prior"
D_p = "prior"
[calibrate]
noise = {{ kind = "fixed", sigma = {SIGMA} }}
"#
        ),
    )
    .unwrap();
    path
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bridgelaw-window-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The MAP in natural units and the Laplace sds of D_n and D_p of the study at `path`.
fn fit(path: &Path) -> (Vec<f64>, Vec<f64>) {
    let s = load_study(path).unwrap();
    let (obs, _) = observations(&s, &[], Noise::Fixed { sigma: SIGMA }).unwrap();
    let post = Posterior::new(&s.model, &s.dist, obs, Likelihood::Gaussian).unwrap();
    let r = find_map(&post, &MapOptions::default()).unwrap();
    let get = |name: &str| r.summary.iter().find(|p| p.name == name).unwrap();
    let mode = ["D_n", "D_p"].iter().map(|n| get(n).mode).collect();
    let sd = ["D_n", "D_p"].iter().map(|n| get(n).sd).collect();
    (mode, sd)
}

#[test]
fn windowed_calibration_with_rests_and_charge_recovers_the_truth() {
    let dir = scratch("map");
    let clean = write_profile(&dir.join("profile.csv"));
    // The window holds the rest after the discharge, the charge, a rest, the pulse and its
    // relaxation: the discharge before it sets the state the window starts in.
    let path = study(&dir, "window = [2100.0, 4800.0]");
    let s = load_study(&path).unwrap();
    let chain = s.model.inner.as_chain().unwrap();
    let d = chain.experiments()[0].data.as_ref().unwrap();
    let all = rows();
    let in_window = all
        .iter()
        .filter(|r| r.0 >= 2100.0 && r.0 <= 4800.0)
        .count();
    assert_eq!(d.rows_selected, in_window);
    assert!(d.curve.time_s.len() <= 60 && d.curve.time_s[0] >= 2100.0);
    // the drive: every row from the file's first to the window's last, the jumps kept
    assert_eq!(
        d.drive.time_s.len(),
        all.iter().filter(|r| r.0 <= 4800.0).count()
    );
    assert!(d.drive.time_s.contains(&4200.01));
    // Not one-way: the run follows the measured current past any cut-off.
    assert!(!chain.experiments()[0].stops_at_cutoff());
    // At the truth the model reproduces the noise-free window rows.
    use bridgelaw::model::Model;
    let theta: Vec<f64> = chain
        .inputs()
        .iter()
        .map(|i| if i.name == "D_n" { TRUTH[0] } else { TRUTH[1] })
        .collect();
    let out = bridgelaw::model::evaluate(chain, &theta).unwrap();
    for (k, t) in d.curve.time_s.iter().enumerate() {
        let j = all.iter().position(|r| r.0 == *t).unwrap();
        assert!(
            (out[k] - clean[j]).abs() < 1e-9,
            "t = {t}: {} vs {}",
            out[k],
            clean[j]
        );
    }
    let t0 = std::time::Instant::now();
    let (mode, sd) = fit(&path);
    eprintln!(
        "window MAP {mode:?} sd {sd:?} truth {TRUTH:?} in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    for k in 0..2 {
        let z = (mode[k] - TRUTH[k]) / sd[k];
        assert!(
            z.abs() < 3.0,
            "parameter {k}: MAP {} truth {} sd {} ({z:.2} sd)",
            mode[k],
            TRUTH[k],
            sd[k]
        );
        // informative: the posterior is much narrower than the prior (log sd 1.5)
        assert!(
            sd[k] / mode[k] < 0.3,
            "parameter {k}: sd {} at {}",
            sd[k],
            mode[k]
        );
    }
    // The same rows chosen by their steps (the charge and the rest after it: 2700 s to 4200 s).
    let path = study(&dir, "steps = [4, 5]\nstep_column = \"step\"");
    let s = load_study(&path).unwrap();
    let d = s.model.inner.as_chain().unwrap().experiments()[0]
        .data
        .clone()
        .unwrap();
    assert_eq!(d.curve.time_s.first(), Some(&2700.01));
    assert_eq!(d.curve.time_s.last(), Some(&4200.0));
    let (mode, sd) = fit(&path);
    for k in 0..2 {
        let z = (mode[k] - TRUTH[k]) / sd[k];
        assert!(z.abs() < 3.0, "steps, parameter {k}: {z:.2} sd");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Bad selections are refused naming the field, the file, the line and the column.
#[test]
fn bad_selections_name_field_file_line_and_column() {
    let dir = scratch("bad");
    write_profile(&dir.join("profile.csv"));
    for (select, want) in [
        (
            "window = [0.0, 9000.0]",
            vec![
                "model.experiment[0].window",
                "profile.csv",
                "column 'time_s'",
                "line 2",
                "9000",
            ],
        ),
        (
            "steps = [9]",
            vec![
                "model.experiment[0].steps",
                "profile.csv",
                "column 'Step' holds steps 1, 2, 3",
            ],
        ),
        (
            "steps = [4]\nstep_column = \"Step_Index\"",
            vec![
                "model.experiment[0].step_column",
                "profile.csv",
                "line 1",
                "'Step_Index'",
            ],
        ),
        (
            "window = [5.0, 1.0]",
            vec!["model.experiment[0].window", "t0 < t1"],
        ),
    ] {
        let e = load_study(&study(&dir, select)).unwrap_err().to_string();
        for w in want {
            assert!(e.contains(w), "{select}: '{w}' not in: {e}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
