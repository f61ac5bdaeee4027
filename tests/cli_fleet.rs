//! `bridgelaw calibrate-fleet` on the shipped example fleet (models/fleet: an SPM study and
//! three synthetic cells): `--shard K/N` parts merged by `bridgelaw merge` give the run folder
//! a single process writes, byte for byte; parts of different runs are refused (exit 2, naming
//! the file and what differs); a bad cells folder is refused (exit 2, naming the cell and file).
//! Also the generator of the shipped cell curves, checked against the files.

use bridgelaw::dist::sample::stream_rng;
use rand_distr::{Distribution, StandardNormal};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const STUDY: &str = "models/fleet/graphite_barrier_fleet.toml";
const CELLS: &str = "models/fleet/cells";
/// The stated truth of each synthetic cell: its graphite hop barrier E_m [eV].
const TRUTH_E_M: [(&str, f64); 3] = [("cell_01", 0.37), ("cell_02", 0.39), ("cell_03", 0.41)];
/// Noise sd of the synthetic voltages [V] and the seed of its streams (stream k for cell k).
const NOISE_V: f64 = 0.003;
const NOISE_SEED: u64 = 20_261_206;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bridgelaw"))
        .current_dir(repo())
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> Output {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The cell curves: the study's SPM at each cell's E_m on the experiment's output times, 5 A
/// discharge, plus Gaussian noise; as (relative path, CSV text).
fn make_fleet_data() -> Vec<(PathBuf, String)> {
    let study = bridgelaw::study::load_study(&repo().join(STUDY)).unwrap();
    let chain = study.model.inner.as_chain().unwrap();
    let e = &chain.experiments()[0];
    let current = e.data.as_ref().unwrap().curve.current_a[0];
    use bridgelaw::model::Model;
    let offset: usize = study
        .model
        .outputs()
        .iter()
        .take_while(|o| o.name != format!("voltage_{}", e.name))
        .map(|o| o.len())
        .sum();
    TRUTH_E_M
        .iter()
        .enumerate()
        .map(|(k, (id, e_m))| {
            let v = bridgelaw::model::evaluate(&study.model, &[*e_m]).unwrap();
            let mut rng = stream_rng(NOISE_SEED, k as u64);
            let mut text = String::from("time_s,current_A,voltage_V\n");
            for (j, t) in e.times.iter().enumerate() {
                let n: f64 = StandardNormal.sample(&mut rng);
                text.push_str(&format!(
                    "{t},{current},{:.6}\n",
                    v[offset + j] + NOISE_V * n
                ));
            }
            (PathBuf::from(format!("{CELLS}/{id}/{}.csv", e.name)), text)
        })
        .collect()
}

/// The shipped curves are what the generator makes (BRIDGELAW_WRITE_FLEET=1 rewrites them).
#[test]
fn shipped_fleet_data_is_the_generators() {
    for (path, text) in make_fleet_data() {
        let p = repo().join(&path);
        if std::env::var_os("BRIDGELAW_WRITE_FLEET").is_some() {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &text).unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            text,
            "{} differs from its generator",
            path.display()
        );
    }
}

/// Every file of `a` equals the same file of `b`, and both hold the same names.
fn assert_same_folder(a: &Path, b: &Path) {
    let names = |d: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    let (na, nb) = (names(a), names(b));
    assert_eq!(na, nb);
    assert!(na.len() >= 5, "{na:?}");
    for n in na {
        assert!(
            std::fs::read(a.join(&n)).unwrap() == std::fs::read(b.join(&n)).unwrap(),
            "{n:?} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

#[test]
fn fleet_shards_merge_to_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let (single, parts, merged) = (
        dir.path().join("single"),
        dir.path().join("parts"),
        dir.path().join("merged"),
    );
    let base = ["calibrate-fleet", STUDY, "--cells", CELLS];
    let o = ok(&[&base[..], &["--report", "--out", s(&single)]].concat());
    // Shards in reverse order (the merge sorts them); 3 cells over 2 shards: 1 + 2.
    for k in ["2/2", "1/2"] {
        ok(&[&base[..], &["--shard", k, "--out", s(&parts)]].concat());
    }
    let p = |k: &str| format!("{}/calibrate-fleet-part-{k}.json", s(&parts));
    ok(&[
        "merge",
        &p("2-of-2"),
        &p("1-of-2"),
        "--report",
        "--out",
        s(&merged),
    ]);
    assert_same_folder(&single, &merged);
    assert!(single.join("report.html").is_file());
    // The table: one row per cell, units in the header, each cell's barrier near its truth.
    let csv = std::fs::read_to_string(single.join("fleet.csv")).unwrap();
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(head[..2], ["cell", "status"]);
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    let (q5, q95) = (col("E_m_q5 [eV]"), col("E_m_q95 [eV]"));
    col("E_m_rhat");
    col("divergences");
    col("rmse_1C_25C_posterior_mean [V]");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3);
    for (row, (id, truth)) in rows.iter().zip(TRUTH_E_M) {
        assert_eq!((row[0], row[1]), (id, "ok"));
        let (lo, hi): (f64, f64) = (row[q5].parse().unwrap(), row[q95].parse().unwrap());
        assert!(
            lo - 0.005 < truth && truth < hi + 0.005,
            "{id}: [{lo}, {hi}] vs {truth}"
        );
    }
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("| cell_03 |"), "{stdout}");
    let html = std::fs::read_to_string(single.join("report.html")).unwrap();
    assert!(html.contains("Parameters across the fleet") && html.contains("cell_02"));
    assert!(single.join("figures/fleet_forest_E_m.svg").is_file());
    // `bridgelaw report` renders a fleet folder's page from fleet.json, which reads back as
    // the table it was written from.
    let json = std::fs::read_to_string(single.join("fleet.json")).unwrap();
    let table = bridgelaw::calibrate::fleet::FleetTable::from_json(&json).unwrap();
    assert_eq!(table.to_json(), json);
    let rendered = dir.path().join("rendered");
    ok(&["report", s(&single), "--out", s(&rendered)]);
    let html = std::fs::read_to_string(rendered.join("report.html")).unwrap();
    assert!(
        html.contains("Parameters across the fleet")
            && html.contains("cell_03")
            && html.contains("fleet.json"),
        "{html}"
    );
    assert!(rendered.join("figures/fleet_forest_E_m.svg").is_file());
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("fleet.json"), json.replace("\"q50\"", "\"q51\"")).unwrap();
    let o = run(&["report", s(&bad)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("fleet.json") && err.contains("'q50'"), "{err}");
}

#[test]
fn merge_refuses_fleet_parts_of_different_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).display().to_string();
    let base = [
        "calibrate-fleet",
        STUDY,
        "--cells",
        CELLS,
        "--draws",
        "20",
        "--tune",
        "20",
    ];
    let shard = |k: &str, extra: &[&str], out: &str| {
        ok(&[&base[..], extra, &["--shard", k, "--out", &d(out)]].concat());
    };
    shard("1/2", &[], "a");
    shard("2/2", &["--seed", "5"], "seed");
    // The same study moved to another folder with another title: a different study.
    let text = std::fs::read_to_string(repo().join(STUDY)).unwrap();
    let abs = |rel: &str| repo().join("models/fleet").join(rel).display().to_string();
    let other = text
        .replace("A fleet of LG M50 cells", "Another fleet")
        .replace("../../priors/", &format!("{}/", abs("../../priors")))
        .replace("../cells/", &format!("{}/", abs("../cells")))
        .replace("../demo/", &format!("{}/", abs("../demo")));
    let other_study = d("other.toml");
    std::fs::write(&other_study, other).unwrap();
    ok(&[
        "calibrate-fleet",
        &other_study,
        "--cells",
        CELLS,
        "--draws",
        "20",
        "--tune",
        "20",
        "--shard",
        "2/2",
        "--out",
        &d("study"),
    ]);
    // Other cells: a copy of the fleet whose cell_03 is edited between the two shards, and one
    // with cell_03 left out.
    let copy = dir.path().join("copy");
    let fewer = dir.path().join("fewer");
    for id in ["cell_01", "cell_02", "cell_03"] {
        for to in [&copy, &fewer] {
            if to == &fewer && id == "cell_03" {
                continue;
            }
            std::fs::create_dir_all(to.join(id)).unwrap();
            std::fs::copy(
                repo().join(CELLS).join(id).join("1C_25C.csv"),
                to.join(id).join("1C_25C.csv"),
            )
            .unwrap();
        }
    }
    let fleet = |cells: &Path, k: &str, out: &str| {
        ok(&[
            "calibrate-fleet",
            STUDY,
            "--cells",
            s(cells),
            "--draws",
            "20",
            "--tune",
            "20",
            "--shard",
            k,
            "--out",
            &d(out),
        ]);
    };
    fleet(&copy, "1/2", "copy");
    let edited = copy.join("cell_03/1C_25C.csv");
    let text = std::fs::read_to_string(&edited).unwrap();
    std::fs::write(&edited, text.replacen("4.0", "4.1", 1)).unwrap();
    fleet(&copy, "2/2", "edited");
    fleet(&fewer, "2/2", "cells");
    let part = |dir: &str| {
        let k = if ["a", "copy"].contains(&dir) {
            "1-of-2"
        } else {
            "2-of-2"
        };
        format!("{}/calibrate-fleet-part-{k}.json", d(dir))
    };
    let refused_with = |first: &str, other: &str, what: &str| {
        let o = run(&["merge", &part(first), &part(other), "--out", &d("merged")]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{other}: {err}");
        assert!(err.contains(what), "{other}: expected '{what}' in: {err}");
        assert!(!dir.path().join("merged").exists());
    };
    let refused = |other: &str, what: &str| refused_with("a", other, what);
    refused("seed", &format!("{}: seed is 5", part("seed")));
    refused("study", &format!("{}: study_hash", part("study")));
    refused("cells", "total_units is 2");
    refused_with(
        "copy",
        "edited",
        &format!(
            "{}: setting 'cells fingerprint (ids and data)'",
            part("edited")
        ),
    );
    // A fleet part beside a part of another engine.
    ok(&[
        "propagate",
        "models/graphite_diffusivity_neb.toml",
        "--method",
        "mc",
        "--samples",
        "5000",
        "--shard",
        "2/2",
        "--out",
        &d("propagate"),
    ]);
    let o = run(&[
        "merge",
        &part("a"),
        &format!("{}/propagate-part-2-of-2.json", d("propagate")),
        "--out",
        &d("merged"),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("kind is propagate"), "{err}");
}

#[test]
fn bad_cells_folders_exit_2_naming_the_cell_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |cells: &Path, what: &[&str]| {
        let out = dir.path().join("out");
        let o = run(&[
            "calibrate-fleet",
            STUDY,
            "--cells",
            s(cells),
            "--out",
            s(&out),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        for w in what {
            assert!(err.contains(w), "expected '{w}' in: {err}");
        }
        assert!(!out.exists());
    };
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    refused(&empty, &["no cell folders found", "1C_25C.csv"]);
    refused(
        &dir.path().join("absent"),
        &["absent", "cannot read the folder"],
    );
    let missing = dir.path().join("missing");
    std::fs::create_dir_all(missing.join("cell_a")).unwrap();
    std::fs::create_dir_all(missing.join("cell_b")).unwrap();
    std::fs::copy(
        repo().join(CELLS).join("cell_01/1C_25C.csv"),
        missing.join("cell_a/1C_25C.csv"),
    )
    .unwrap();
    std::fs::write(missing.join("cell_b/1C_20C.csv"), "misnamed").unwrap();
    refused(
        &missing,
        &["cell 'cell_b' has no 1C_25C.csv", "cell_b/1C_25C.csv"],
    );
    // A curve that is not a curve: the cell and the file are named, and the reader's reason.
    std::fs::write(
        missing.join("cell_b/1C_25C.csv"),
        "time_s,current_A,voltage_V\n0,5,4.0\n100,5,x\n",
    )
    .unwrap();
    refused(&missing, &["cell 'cell_b'", "cell_b/1C_25C.csv", "line 3"]);
}
