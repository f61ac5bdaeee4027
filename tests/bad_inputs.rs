//! The bad-input corpus (`tests/bad_inputs/cases.toml` and the files beside it): every case runs
//! the command line on a bad priors file, study, data or current CSV, BPX file, expression or
//! flag, and must exit 2 with a message naming the file and the field (or row), never panic and
//! never hang.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a case may run: a bad input is refused at load, in well under a second.
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// Arguments of `bridgelaw`, run from the repository root; `{out}` is a fresh empty folder.
    args: Vec<String>,
    /// Strings stderr must hold (the file, the field or row, what was expected).
    expect: Vec<String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run one case; `Err` says what was wrong.
fn run_case(c: &Case, scratch: &Path) -> Result<(), String> {
    let out = scratch.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let args: Vec<String> = c
        .args
        .iter()
        .map(|a| a.replace("{out}", &out.display().to_string()))
        .collect();
    let (so, se) = (scratch.join("stdout"), scratch.join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_bridgelaw"))
        .current_dir(root())
        .args(&args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&so).unwrap())
        .stderr(std::fs::File::create(&se).unwrap())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("hang: still running after {} s", TIMEOUT.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stderr = std::fs::read_to_string(&se).unwrap_or_default();
    if stderr.contains("panicked") {
        return Err(format!("panic: {stderr}"));
    }
    if status.code() != Some(2) {
        return Err(format!("exit {status}, expected 2: {}", stderr.trim()));
    }
    let missing: Vec<&String> = c.expect.iter().filter(|e| !stderr.contains(*e)).collect();
    if !missing.is_empty() {
        return Err(format!("stderr lacks {missing:?}: {}", stderr.trim()));
    }
    Ok(())
}

#[test]
fn every_bad_input_exits_2_naming_file_and_field() {
    let text = std::fs::read_to_string(root().join("tests/bad_inputs/cases.toml")).unwrap();
    let m: Manifest = toml::from_str(&text).unwrap();
    assert!(m.case.len() >= 150, "{} cases", m.case.len());
    let mut names: Vec<&str> = m.case.iter().map(|c| c.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), m.case.len(), "case names must be unique");
    let dir = tempfile::tempdir().unwrap();
    // Two workers: the cases are independent processes.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(c) = m.case.get(i) else { break };
                    let scratch = dir.path().join(&c.name);
                    if let Err(e) = run_case(c, &scratch) {
                        failures.lock().unwrap().push(format!("{}: {e}", c.name));
                    }
                }
            });
        }
    });
    let mut f = failures.into_inner().unwrap();
    f.sort();
    eprintln!(
        "bad-input corpus: {} cases, {} failed",
        m.case.len(),
        f.len()
    );
    assert!(
        f.is_empty(),
        "{} of {} cases:\n{}",
        f.len(),
        m.case.len(),
        f.join("\n")
    );
}
