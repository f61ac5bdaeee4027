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
