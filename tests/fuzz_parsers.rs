//! Mutation fuzzing of every parser of user files: priors TOML, study TOML, measured-curve CSV,
//! current CSV, BPX JSON and BPX expressions. Each target starts from valid files of the repo,
//! applies a few random edits (bytes and lines deleted, duplicated or swapped; numbers replaced
//! by edge values; tokens of the format inserted) and asserts that the parser neither panics nor
//! returns anything but a user-input error naming the file.
//!
//! `cargo test --test fuzz_parsers` runs 300 cases per target (seconds). The long run is
//! ignored: `FUZZ_SECONDS=180 cargo test --release --test fuzz_parsers -- --ignored` runs each
//! target for that long. A crashing input is written to `$TMPDIR/bridgelaw-fuzz-crash-TARGET-N.txt`; keep
//! it as a regression case in tests/bad_inputs.

use bridgelaw::cell::expr::Expr;
use bridgelaw::cell::{CellError, Protocol, SignConvention, read_bpx_str};
use bridgelaw::cycler::DataError;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn read(p: &str) -> String {
    std::fs::read_to_string(repo(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// Edge values a number may be replaced by.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "0.5",
    "1e308",
    "-1e308",
    "1e-320",
    "nan",
    "inf",
    "-inf",
    "NaN",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "4294967296",
    "1e400",
    "0x10",
    "1_000",
    "+1",
    ".5",
    "5.",
    "1e",
    "--1",
    "",
];

/// Tokens of the formats, inserted at random places.
const TOKENS: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    "=",
    ",",
    ":",
    "\n",
    "#",
    "[[parameter]]",
    "[model]",
    "[[model.experiment]]",
    "[inputs]",
    "name = \"x\"",
    "unit = \"eV\"",
    "\"prior\"",
    "null",
    "true",
    "\\",
    "é",
    "\u{0}",
    "\r\n",
    ";",
    "(",
    ")",
    "**",
    "x",
    "exp(",
    "log(",
    "/",
    "*",
    "e",
    "-",
    "+",
    "time_s",
    "current_A",
    "voltage_V",
    "# sign_convention: discharge_positive",
    "\"\"\"",
];

/// One random edit of `text`.
fn mutate_once(text: &str, rng: &mut ChaCha8Rng) -> String {
    let b = text.as_bytes();
    let n = b.len();
    let at = |rng: &mut ChaCha8Rng| if n == 0 { 0 } else { rng.random_range(0..=n) };
    let mut out: Vec<u8> = b.to_vec();
    match rng.random_range(0..9) {
        0 => {
            // delete a byte range
            let i = at(rng);
            let j = (i + rng.random_range(1..16)).min(n);
            out.drain(i..j);
        }
        1 => {
            let i = at(rng);
            let t = TOKENS[rng.random_range(0..TOKENS.len())];
            out.splice(i..i, t.bytes());
        }
        2 => {
            // replace one number by an edge value
            let starts: Vec<usize> = (0..n)
                .filter(|&i| b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()))
                .collect();
            if let Some(&i) = starts.get(rng.random_range(0..starts.len().max(1))) {
                let mut j = i;
                while j < n && (b[j].is_ascii_alphanumeric() || b"._-+".contains(&b[j])) {
                    j += 1;
                }
                let v = NUMBERS[rng.random_range(0..NUMBERS.len())];
                out.splice(i..j, v.bytes());
            }
        }
        3..=5 => {
            // line edits: delete, duplicate, swap
            let mut lines: Vec<&str> = text.split('\n').collect();
            if !lines.is_empty() {
                let i = rng.random_range(0..lines.len());
                let j = rng.random_range(0..lines.len());
                match rng.random_range(0..3) {
                    0 => {
                        lines.remove(i);
                    }
                    1 => lines.insert(j, lines[i]),
                    _ => lines.swap(i, j),
                }
            }
            out = lines.join("\n").into_bytes();
        }
        6 => {
            // a random byte
            let i = at(rng);
            out.insert(i, rng.random());
        }
        7 => out.truncate(at(rng)),
        _ => {
            // flip a sign or a digit
            if n > 0 {
                let i = rng.random_range(0..n);
                out[i] = match out[i] {
                    b'-' => b'+',
                    c if c.is_ascii_digit() => b'0' + rng.random_range(0..10u8),
                    _ => b'-',
                };
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mutate(seed: &str, rng: &mut ChaCha8Rng) -> String {
    let mut s = seed.to_string();
    for _ in 0..rng.random_range(1..=4) {
        s = mutate_once(&s, rng);
    }
    s
}

/// A parser under test: `Ok(())` for accepted input, `Err(reason)` when it returned something
/// other than a user-input error (a panic is caught by the driver).
type Target = fn(&str) -> Result<(), String>;

/// Run `target` on mutants of `seeds` for `cases` cases or until `deadline`.
fn drive(name: &str, seeds: &[String], target: Target, cases: usize, deadline: Option<Instant>) {
    // Fixed streams in `cargo test`; FUZZ_SEED gives the long run fresh ones.
    let base: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng =
        ChaCha8Rng::seed_from_u64(base ^ (name.len() as u64) << 32 ^ name.as_bytes()[0] as u64);
    let mut n = 0usize;
    let mut crashes = Vec::new();
    while deadline.map_or(n < cases, |d| Instant::now() < d) {
        let seed = &seeds[rng.random_range(0..seeds.len())];
        let input = mutate(seed, &mut rng);
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| target(&input)));
        let why = match r {
            Ok(Ok(())) => None,
            Ok(Err(why)) => Some(why),
            Err(p) => Some(format!(
                "panic: {}",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
        };
        if let Some(why) = why {
            let f = std::env::temp_dir()
                .join(format!("bridgelaw-fuzz-crash-{name}-{}.txt", crashes.len()));
            let _ = std::fs::write(&f, &input);
            crashes.push(format!("{why} (input in {})", f.display()));
        }
        n += 1;
    }
    eprintln!("fuzz {name}: {n} cases, {} failures", crashes.len());
    assert!(crashes.is_empty(), "{name}: {crashes:#?}");
}

const FILE: &str = "fuzzed.input";

fn names_file(msg: &str) -> Result<(), String> {
    if msg.contains(FILE) {
        Ok(())
    } else {
        Err(format!("error does not name the file: {msg}"))
    }
}

fn priors(text: &str) -> Result<(), String> {
    match bridgelaw::dist::file::parse_priors(text, Path::new(FILE)) {
        Ok(_) => Ok(()),
        Err(bridgelaw::dist::file::PriorsFileError::Io { .. }) => Err("Io from text".into()),
        Err(e) => names_file(&e.to_string()),
    }
}

fn study(text: &str) -> Result<(), String> {
    // Relative paths in the seeds resolve from models/, where the seeds live.
    let path = repo("models").join(FILE);
    match bridgelaw::study::parse_study(text, &path) {
        Ok(_) => Ok(()),
        Err(e) => {
            let m = e.to_string();
            // An error in a file the study names (priors, BPX, data) names that file instead.
            if m.contains(FILE) || m.contains(".toml") || m.contains(".json") || m.contains(".csv")
            {
                Ok(())
            } else {
                Err(format!("error names no file: {m}"))
            }
        }
    }
}

fn data_csv(text: &str) -> Result<(), String> {
    match bridgelaw::calibrate::data::parse_curve(
        text,
        FILE,
        "fuzzed",
        SignConvention::DischargePositive,
    ) {
        Ok(_) => Ok(()),
        Err(DataError::Io { .. }) => Err("Io from text".into()),
        Err(e) => names_file(&e.to_string()),
    }
}

fn current_csv(text: &str) -> Result<(), String> {
    match Protocol::series_from_csv_str(text, FILE, None) {
        Ok(_) => Ok(()),
        Err(CellError::CurrentFile(m)) => names_file(&m),
        Err(e) => Err(format!("not a current-file error: {e:?}")),
    }
}

fn bpx(text: &str) -> Result<(), String> {
    match read_bpx_str(text, FILE) {
        Ok(_) => Ok(()),
        Err(e @ CellError::Bpx { .. }) => names_file(&e.to_string()),
        Err(e) => Err(format!("not a BPX error: {e:?}")),
    }
}

fn expression(text: &str) -> Result<(), String> {
    // Parsing refuses bad text; a parsed expression evaluates to a number (maybe not finite,
    // which the BPX reader checks over the domain) without panicking.
    if let Ok(e) = Expr::parse(text) {
        for k in 0..=10 {
            let _ = e.eval(k as f64 / 10.0 + 1e-3);
        }
    }
    Ok(())
}

fn priors_seeds() -> Vec<String> {
    [
        "priors/graphite_neb.toml",
        "priors/lfp_regular_solution.toml",
        "priors/graphite_exchange_current.toml",
        "priors/llzo_md_arrhenius.toml",
        "priors/about_energy_nmc_kinetics.toml",
    ]
    .iter()
    .map(|p| read(p))
    .collect()
}

fn study_seeds() -> Vec<String> {
    [
        "models/graphite_diffusivity_neb.toml",
        "models/lfp_thermodynamic_factor.toml",
        "models/llzo_conductivity_300K.toml",
        "models/lgm50_chain_voltage_band.toml",
    ]
    .iter()
    .map(|p| read(p))
    .collect()
}

fn data_seeds() -> Vec<String> {
    let full = read("models/demo/data/lgm50_synthetic_1C_25C.csv");
    vec![full.lines().take(30).collect::<Vec<_>>().join("\n")]
}

fn current_seeds() -> Vec<String> {
    vec![
        "# sign_convention: discharge_positive\ntime_s,current_A\n0,5\n100,5\n200,0\n300,-2.5\n"
            .into(),
        "Time [s], Current [A]\n0,-1\n10,-1\n20,-1\n".into(),
    ]
}

fn bpx_seeds() -> Vec<String> {
    vec![read("models/cells/lgm50_chen2020.bpx.json")]
}

fn expression_seeds() -> Vec<String> {
    [
        "1.9793 * exp(-39.3631 * x) + 0.2482 - 0.0909 * tanh(29.8538 * (x - 0.1234))",
        "0.1297 * (x / 1000) ** 3 - 2.51 * (x / 1000) ** 1.5 + 3.329 * (x / 1000)",
        "-0.8090 * x + 4.4875 - 0.0428 * tanh(18.5138 * (x - 0.5542)) + log10(x) / sqrt(x)",
        "3.3e-14 * abs(sin(x) * cos(x) / tan(x + 1)) + arctan(sinh(x) - cosh(x))",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A fuzz target: name, its seed files, the parser under test.
type Fuzzed = (&'static str, fn() -> Vec<String>, Target);

fn targets() -> Vec<Fuzzed> {
    vec![
        ("priors", priors_seeds, priors),
        ("study", study_seeds, study),
        ("data_csv", data_seeds, data_csv),
        ("current_csv", current_seeds, current_csv),
        ("bpx", bpx_seeds, bpx),
        ("expression", expression_seeds, expression),
    ]
}

macro_rules! short_run {
    ($($test:ident: $name:literal),*) => {$(
        #[test]
        fn $test() {
            let (name, seeds, target) = targets().into_iter().find(|t| t.0 == $name).unwrap();
            drive(name, &seeds(), target, 300, None);
        }
    )*};
}

short_run!(
    fuzz_priors: "priors",
    fuzz_study: "study",
    fuzz_data_csv: "data_csv",
    fuzz_current_csv: "current_csv",
    fuzz_bpx: "bpx",
    fuzz_expression: "expression"
);

/// Every target for FUZZ_SECONDS seconds each (default 60); FUZZ_TARGET picks one.
#[test]
#[ignore]
fn fuzz_long() {
    let secs: u64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let only = std::env::var("FUZZ_TARGET").ok();
    for (name, seeds, target) in targets() {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        drive(name, &seeds(), target, usize::MAX, Some(deadline));
    }
}
