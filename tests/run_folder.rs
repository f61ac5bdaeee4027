//! Run folders are whole or absent: interrupted runs (SIGINT, SIGTERM, SIGKILL at random points
//! of a propagate and a calibrate run) leave either the previous result or the new one, never a
//! mix, and no temporary file (after the next run, for SIGKILL); a second concurrent writer is
//! refused with exit 2; a previous result is replaced only with --force; `report` refuses a
//! folder mixing two runs.
//!
//! The short trials run in the normal suite; `interrupt_trials_long` (#[ignore]d, about five
//! minutes on 2 cores) runs 40 trials per signal and command.

use bridgelaw::run_folder::check_run_folder;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bridgelaw"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// A propagate run of about a second, the seed last.
const PROPAGATE: &[&str] = &[
    "propagate",
    "models/graphite_diffusivity_neb.toml",
    "--method",
    "mc",
    "--samples",
    "1000000",
    "--seed",
];

/// A propagate run of a few milliseconds, the seed last.
const QUICK: &[&str] = &[
    "propagate",
    "models/graphite_diffusivity_neb.toml",
    "--samples",
    "2000",
    "--seed",
];

/// A short NUTS calibrate run (about a second), the seed last.
const CALIBRATE: &[&str] = &[
    "calibrate",
    "models/lgm50_chain_calibration.toml",
    "--chains",
    "2",
    "--tune",
    "20",
    "--draws",
    "20",
    "--seed",
];

fn start(cmd: &[&str], seed: u64, out: &Path, force: bool) -> Child {
    let mut c = bin();
    c.args(cmd).arg(seed.to_string()).arg("--out").arg(out);
    if force {
        c.arg("--force");
    }
    c.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> Output {
    child.wait_with_output().unwrap()
}

fn run(cmd: &[&str], seed: u64, out: &Path, force: bool) -> Output {
    finish(start(cmd, seed, out, force))
}

/// The seed of the run a whole folder holds; panics if the folder is not whole (a file missing,
/// changed or extra against its manifest, or no manifest).
fn seed_of_whole_folder(out: &Path) -> u64 {
    let m = check_run_folder(out)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("{}: no manifest", out.display()));
    let prov: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("provenance.json")).unwrap()).unwrap();
    assert_eq!(prov["run_id"].as_str(), Some(m.run_id.as_str()));
    prov["seed"].as_u64().unwrap()
}

/// What is beside the target in its parent folder (the target itself excluded).
fn leftovers(parent: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "out")
        .collect();
    v.sort();
    v
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// A small deterministic generator for the kill points (xorshift64*).
struct Points(u64);
impl Points {
    fn next_unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug, Default)]
struct Outcomes {
    previous: usize,
    new: usize,
}

/// `trials` runs of `cmd` into a folder holding a previous result, each sent `sig` at a random
/// point between its start and 1.2 × the duration of an uninterrupted run (so that some land
/// in the write phase and some after the end). After each: the folder is whole and holds the
/// previous run or the new one; for SIGINT/SIGTERM nothing else is beside it; for SIGKILL the
/// next run removes what was left, checked after a final complete run.
fn interrupt_trials(cmd: &[&str], sig: i32, trials: usize, seed: u64) -> Outcomes {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let t0 = Instant::now();
    let r = run(cmd, 1, &out, false);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let full = t0.elapsed().as_secs_f64();
    let mut previous_seed = 1;
    let mut points = Points(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut o = Outcomes::default();
    for trial in 0..trials {
        let new_seed = 100 + trial as u64;
        let child = start(cmd, new_seed, &out, true);
        std::thread::sleep(Duration::from_secs_f64(1.2 * full * points.next_unit()));
        signal(&child, sig);
        let r = finish(child);
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        let got = seed_of_whole_folder(&out);
        if got == new_seed {
            o.new += 1;
            previous_seed = new_seed;
        } else {
            assert_eq!(got, previous_seed, "trial {trial}: {stderr}");
            o.previous += 1;
            // Interrupted before the swap: the handler's exit code (or, in the first
            // milliseconds before the handler is installed, the signal's default action).
            if sig != libc::SIGKILL {
                use std::os::unix::process::ExitStatusExt;
                assert!(
                    r.status.code() == Some(128 + sig) || r.status.signal() == Some(sig),
                    "trial {trial}: {:?} {stderr}",
                    r.status
                );
            }
        }
        if sig != libc::SIGKILL {
            assert_eq!(leftovers(dir.path()), Vec::<String>::new(), "trial {trial}");
        }
    }
    if sig == libc::SIGKILL {
        let r = run(cmd, 7, &out, true);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        assert_eq!(seed_of_whole_folder(&out), 7);
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
    }
    eprintln!(
        "{} {sig}: {trials} trials, previous result kept {}, new result {} (uninterrupted run {full:.2} s)",
        cmd[0], o.previous, o.new
    );
    o
}

#[test]
fn interrupted_runs_leave_the_previous_or_the_new_result() {
    for cmd in [PROPAGATE, CALIBRATE] {
        for (sig, trials) in [(libc::SIGINT, 3), (libc::SIGTERM, 1), (libc::SIGKILL, 3)] {
            interrupt_trials(cmd, sig, trials, sig as u64);
        }
    }
}

#[test]
#[ignore = "about five minutes: 40 interrupt trials per signal and command"]
fn interrupt_trials_long() {
    for cmd in [PROPAGATE, CALIBRATE] {
        for sig in [libc::SIGINT, libc::SIGKILL] {
            let o = interrupt_trials(cmd, sig, 40, 1000 + sig as u64);
            assert_eq!(o.previous + o.new, 40);
        }
    }
}

#[test]
fn a_second_concurrent_writer_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let first = start(PROPAGATE, 1, &out, false);
    let lock = dir.path().join(".out.lock");
    let t0 = Instant::now();
    while !lock.exists() {
        assert!(t0.elapsed() < Duration::from_secs(20), "no lock file");
        std::thread::sleep(Duration::from_millis(5));
    }
    let second = run(PROPAGATE, 2, &out, true);
    let e = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{e}");
    assert!(
        e.contains("being written by another run") && e.contains("out"),
        "{e}"
    );
    let r = finish(first);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(seed_of_whole_folder(&out), 1);
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}

#[test]
fn a_previous_result_is_replaced_only_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert!(run(QUICK, 1, &out, false).status.success());
    let again = run(QUICK, 2, &out, false);
    let e = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(2), "{e}");
    assert!(e.contains("--force") && e.contains("out"), "{e}");
    assert_eq!(seed_of_whole_folder(&out), 1);
    assert!(run(QUICK, 2, &out, true).status.success());
    assert_eq!(seed_of_whole_folder(&out), 2);
    // A folder of other files is never replaced, even with --force; a file is not a folder.
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "keep").unwrap();
    let r = run(QUICK, 1, &mine, true);
    let e = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{e}");
    assert!(e.contains("other files"), "{e}");
    assert_eq!(
        std::fs::read_to_string(mine.join("notes.txt")).unwrap(),
        "keep"
    );
    let r = run(QUICK, 1, &mine.join("notes.txt"), true);
    let e = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{e}");
    assert!(
        e.contains("notes.txt: expected a folder") && e.contains("found a file"),
        "{e}"
    );
}

#[test]
fn report_refuses_a_folder_mixing_two_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(run(QUICK, 1, &a, false).status.success());
    assert!(run(QUICK, 2, &b, false).status.success());
    let ok = bin().arg("report").arg(&a).output().unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // The report's own files do not make the folder mixed: a second report reads it again.
    assert!(
        bin()
            .arg("report")
            .arg(&a)
            .output()
            .unwrap()
            .status
            .success()
    );
    std::fs::copy(b.join("propagation.csv"), a.join("propagation.csv")).unwrap();
    let r = bin().arg("report").arg(&a).output().unwrap();
    let e = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{e}");
    assert!(
        e.contains("propagation.csv") && e.contains("different runs"),
        "{e}"
    );
}
