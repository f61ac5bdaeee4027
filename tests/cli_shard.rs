//! Sharded runs through the CLI: `--shard K/N` parts merged by `bridgelaw merge` give the run
//! folder a single process writes, byte for byte; parts of different runs are refused (exit 2,
//! naming the file and what differs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const STUDY: &str = "models/graphite_diffusivity_neb.toml";
const OTHER_STUDY: &str = "models/graphite_exchange_current.toml";

/// Run bridgelaw in the repository (so the study path recorded in parts is the same relative
/// path a single run records in its provenance).
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bridgelaw"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every file of `a` equals the same file of `b`, and both hold the same names.
fn assert_same_folder(a: &Path, b: &Path) {
    let names = |d: &Path| {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        v.sort();
        v.iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let (na, nb) = (names(a), names(b));
    assert_eq!(na, nb);
    assert!(na.len() >= 3, "{na:?}");
    for n in na {
        let (x, y) = (
            std::fs::read(a.join(&n)).unwrap(),
            std::fs::read(b.join(&n)).unwrap(),
        );
        assert!(
            x == y,
            "{n:?} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

/// Shards 1..=n of `args` (+ --shard K/N --out parts), merged, against the single run.
fn check_merge_equals_single(args: &[&str], n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (single, parts, merged) = (
        dir.path().join("single"),
        dir.path().join("parts"),
        dir.path().join("merged"),
    );
    ok(&[args, &["--out", s(&single)]].concat());
    let mut files = Vec::new();
    // Shards in reverse order: the merge sorts them.
    for k in (1..=n).rev() {
        let spec = format!("{k}/{n}");
        ok(&[args, &["--shard", &spec, "--out", s(&parts)]].concat());
    }
    for e in std::fs::read_dir(&parts).unwrap() {
        files.push(e.unwrap().path().display().to_string());
    }
    assert_eq!(files.len(), n);
    let mut merge = vec!["merge"];
    merge.extend(files.iter().map(String::as_str));
    merge.extend(["--out", s(&merged)]);
    ok(&merge);
    assert_same_folder(&single, &merged);
}

#[test]
fn propagate_mc_shards_merge_to_the_single_run() {
    let a = [
        "propagate",
        STUDY,
        "--method",
        "mc",
        "--samples",
        "20000",
        "--seed",
        "3",
    ];
    check_merge_equals_single(&a, 3);
}

#[test]
fn propagate_qmc_and_all_shards_merge_to_the_single_run() {
    let a = [
        "propagate",
        STUDY,
        "--method",
        "qmc",
        "--samples",
        "40000",
        "--seed",
        "4",
    ];
    check_merge_equals_single(&a, 4);
    let a = ["propagate", STUDY, "--method", "all", "--samples", "9000"];
    check_merge_equals_single(&a, 2);
}

#[test]
fn sobol_shards_merge_to_the_single_run() {
    let a = [
        "sensitivity",
        STUDY,
        "--method",
        "sobol",
        "--samples",
        "512",
        "--seed",
        "2",
    ];
    check_merge_equals_single(&a, 3);
}

#[test]
fn merge_refuses_parts_of_different_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).display().to_string();
    let base = ["propagate", STUDY, "--method", "mc", "--samples", "10000"];
    for (k, seed, out) in [("1/2", "1", "a"), ("2/2", "1", "a"), ("2/2", "2", "seed")] {
        ok(&[&base[..], &["--shard", k, "--seed", seed, "--out", &d(out)]].concat());
    }
    ok(&[
        "propagate",
        STUDY,
        "--method",
        "lhs",
        "--samples",
        "10000",
        "--seed",
        "1",
        "--shard",
        "2/2",
        "--out",
        &d("lhs"),
    ]);
    ok(&[
        "propagate",
        OTHER_STUDY,
        "--method",
        "mc",
        "--samples",
        "10000",
        "--seed",
        "1",
        "--shard",
        "2/2",
        "--out",
        &d("study"),
    ]);
    ok(&[
        &base[..],
        &["--seed", "1", "--shard", "2/3", "--out", &d("three")],
    ]
    .concat());
    let part = |dir: &str, k: &str| format!("{}/propagate-part-{k}.json", d(dir));
    let p1 = part("a", "1-of-2");
    let refused = |files: &[String], what: &str| {
        let mut args = vec!["merge".to_string()];
        args.extend(files.iter().cloned());
        args.extend(["--out".to_string(), d("merged")]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{files:?}: {err}");
        assert!(err.contains(what), "{files:?}: expected '{what}' in: {err}");
        assert!(!dir.path().join("merged").exists());
    };
    let bad_seed = part("seed", "2-of-2");
    refused(
        &[p1.clone(), bad_seed.clone()],
        &format!("{bad_seed}: seed is 2"),
    );
    let bad_design = part("lhs", "2-of-2");
    refused(
        &[p1.clone(), bad_design.clone()],
        &format!("{bad_design}: setting 'method' is lhs"),
    );
    let bad_study = part("study", "2-of-2");
    refused(
        &[p1.clone(), bad_study.clone()],
        &format!("{bad_study}: study_hash"),
    );
    refused(
        &[p1.clone(), part("three", "2-of-3")],
        "number of shards is 3",
    );
    refused(std::slice::from_ref(&p1), "shard(s) 2 of 2 missing");
    refused(&[p1.clone(), p1.clone()], "is also in");
    let junk = d("junk.json");
    std::fs::write(&junk, "{\"header\": 1}").unwrap();
    refused(
        std::slice::from_ref(&junk),
        &format!("{junk}: not a bridgelaw part file"),
    );
    // A shard that cannot be sharded: delta method, stopping rule, bad spec.
    for args in [
        vec!["propagate", STUDY, "--method", "delta", "--shard", "1/2"],
        vec!["propagate", STUDY, "--rel-err", "0.01", "--shard", "1/2"],
        vec!["propagate", STUDY, "--shard", "3/2"],
        vec!["sensitivity", STUDY, "--method", "all", "--shard", "1/2"],
    ] {
        let mut a = args.clone();
        let out = d("never");
        a.extend(["--out", &out]);
        assert_eq!(run(&a).status.code(), Some(2), "{args:?}");
    }
}

const CAL_STUDY: &str = "models/fleet/graphite_barrier_fleet.toml";

/// A calibrate run folder's file `name` as compared between runs: a chain's CmdStan CSV
/// without its measured elapsed times, the manifest without those CSVs' fingerprints (both
/// differ between any two runs, single or sharded); every other file as it is.
fn calibrate_file_compared(dir: &Path, name: &str) -> Vec<u8> {
    let bytes = std::fs::read(dir.join(name)).unwrap();
    let is_chain_csv = |n: &str| {
        n.strip_prefix("graphite_barrier_fleet-")
            .and_then(|r| r.strip_suffix(".csv"))
            .is_some_and(|k| k.parse::<usize>().is_ok())
    };
    if is_chain_csv(name) {
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("seconds (Total)"), "{name}");
        return text
            .lines()
            .filter(|l| !l.contains(" seconds ("))
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes();
    }
    if name == "run.json" {
        let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        for f in v["files"].as_array_mut().unwrap() {
            if is_chain_csv(f["path"].as_str().unwrap()) {
                f["bytes"] = serde_json::Value::Null;
                f["fingerprint"] = serde_json::Value::Null;
            }
        }
        return serde_json::to_vec(&v).unwrap();
    }
    bytes
}

fn assert_same_calibrate_folder(a: &Path, b: &Path) {
    let names = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    let (na, nb) = (names(a), names(b));
    assert_eq!(na, nb);
    assert!(
        na.iter().any(|n| n == "graphite_barrier_fleet-3.csv"),
        "{na:?}"
    );
    for n in na {
        assert!(
            calibrate_file_compared(a, &n) == calibrate_file_compared(b, &n),
            "{n} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

#[test]
fn calibrate_chain_shards_merge_to_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).display().to_string();
    // A copy of one cell's curve as --data, so the test can edit it.
    let curve = d("curve.csv");
    std::fs::copy("models/fleet/cells/cell_02/1C_25C.csv", &curve).unwrap();
    let base = [
        "calibrate",
        CAL_STUDY,
        "--data",
        &curve,
        "--chains",
        "3",
        "--tune",
        "60",
    ];
    let args = [&base[..], &["--draws", "60", "--seed", "5"]].concat();
    ok(&[&args[..], &["--out", &d("single")]].concat());
    // Shards 2/2 (chains 2 and 3) before 1/2 (chain 1): the merge orders them.
    for k in ["2/2", "1/2"] {
        ok(&[&args[..], &["--shard", k, "--out", &d("parts")]].concat());
    }
    let part = |k: &str| format!("{}/calibrate-part-{k}.json", d("parts"));
    let (p1, p2) = (part("1-of-2"), part("2-of-2"));
    ok(&["merge", &p2, &p1, "--out", &d("merged")]);
    assert_same_calibrate_folder(&dir.path().join("single"), &dir.path().join("merged"));
    // Three shards of three chains (one each) give the same folder.
    for k in ["1/3", "2/3", "3/3"] {
        ok(&[&args[..], &["--shard", k, "--out", &d("thirds")]].concat());
    }
    let third = |k: usize| format!("{}/calibrate-part-{k}-of-3.json", d("thirds"));
    ok(&[
        "merge",
        &third(3),
        &third(1),
        &third(2),
        "--out",
        &d("merged3"),
        "--report",
    ]);
    assert!(dir.path().join("merged3/report.html").is_file());
    std::fs::remove_dir_all(dir.path().join("merged3/figures")).unwrap();
    std::fs::remove_file(dir.path().join("merged3/report.html")).unwrap();
    assert_same_calibrate_folder(&dir.path().join("single"), &dir.path().join("merged3"));

    // Refusals (exit 2, naming the file and what differs), with nothing written.
    let refused = |files: &[&str], extra: &[&str], what: &str| {
        let out = d("refused");
        let mut a = vec!["merge"];
        a.extend(files);
        a.extend(["--out", &out]);
        a.extend(extra);
        let o = run(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{files:?}: {err}");
        assert!(err.contains(what), "{files:?}: expected '{what}' in: {err}");
        assert!(!dir.path().join("refused").exists());
    };
    let with = |draws: &str, seed: &str, out: &str| {
        let out = d(out);
        let a = [
            &base[..],
            &[
                "--draws", draws, "--seed", seed, "--shard", "2/2", "--out", &out,
            ],
        ];
        ok(&a.concat());
    };
    with("60", "6", "seed");
    let bad_seed = format!("{}/calibrate-part-2-of-2.json", d("seed"));
    refused(&[&p1, &bad_seed], &[], &format!("{bad_seed}: seed is 6"));
    with("61", "5", "draws");
    let bad_draws = format!("{}/calibrate-part-2-of-2.json", d("draws"));
    refused(
        &[&p1, &bad_draws],
        &[],
        &format!("{bad_draws}: setting 'draws' is 61"),
    );
    refused(&[&p1, &third(2)], &[], "number of shards is 3");
    refused(
        &[&p1, &p2],
        &["--study", STUDY],
        "the parts were run on a different study",
    );
    // The fitted curve's file edited after the shards ran (a trailing zero: the same
    // numbers, other bytes).
    let text = std::fs::read_to_string(&curve).unwrap();
    std::fs::write(&curve, format!("{}0\n", text.trim_end())).unwrap();
    refused(&[&p1, &p2], &[], "curves fingerprint");
    // Sharding with --map or --report is refused before any work.
    for extra in [["--map"], ["--report"]] {
        let never = d("never");
        let a = [&args[..], &extra[..], &["--shard", "1/2", "--out", &never]].concat();
        assert_eq!(run(&a).status.code(), Some(2), "{extra:?}");
    }
}
