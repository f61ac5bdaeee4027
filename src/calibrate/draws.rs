//! Draws as CmdStan CSV, one file per chain, in the layout of CmdStan 2.36 `sample` output:
//! a `#` comment header with the run configuration, the column line (`lp__, accept_stat__,
//! stepsize__, treedepth__, n_leapfrog__, divergent__, energy__`, then the unknowns in natural
//! units), the adaptation block (step size, diagonal of the inverse mass matrix in z), the kept
//! draws, and the elapsed-time block. ArviZ `from_cmdstan`, CmdStanPy and other Stan tooling
//! read it. Numbers are written with Rust's shortest round-trip formatting (no precision lost).

use super::CalibrateError;
use super::nuts::{MassMatrix, NutsRun};
use super::posterior::sanitize;
use crate::output::write_atomic;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The CmdStan `__` columns, in order.
pub const STAT_COLUMNS: [&str; 7] = [
    "lp__",
    "accept_stat__",
    "stepsize__",
    "treedepth__",
    "n_leapfrog__",
    "divergent__",
    "energy__",
];

/// Column names of the unknowns: each name with characters other than ASCII letters, digits and
/// `_` replaced by `_` (a `.` or `[` would be read as an array index by Stan tools).
pub fn column_names(run: &NutsRun) -> Vec<String> {
    run.names.iter().map(|n| sanitize(n)).collect()
}

/// The CmdStan CSV text of chain `chain` (0-based index into `run.chains`). The adaptation
/// block holds the chain's adapted step size and, for the diagonal metric, the diagonal of the
/// inverse mass matrix in z (the unconstrained coordinates, in the order of the parameter
/// columns), as CmdStan writes them; the low-rank metric has no CmdStan equivalent
/// (`metric = low_rank`, no matrix), which ArviZ reads and cmdstanpy rejects.
/// `stem` names the output file in the `# output` block (`{stem}-{chain+1}.csv`).
pub fn cmdstan_csv(run: &NutsRun, chain: usize, stem: &str, model_name: &str) -> String {
    let c = &run.chains[chain];
    let cfg = &run.config;
    let mut s = String::new();
    let mut line = |t: &str| {
        s.push_str(t);
        s.push('\n');
    };
    // The configuration block in CmdStan 2.36's layout: cmdstanpy's `from_csv` needs model,
    // method, num_samples, num_warmup, save_warmup, thin, max_depth, metric and the stan_version
    // lines; ArviZ's `from_cmdstan` reads the same keys. bridgelaw's own lines follow CmdStan's.
    line("# stan_version_major = 2");
    line("# stan_version_minor = 36");
    line("# stan_version_patch = 0");
    line(&format!("# model = {}", sanitize(model_name)));
    line("# method = sample (Default)");
    line("#   sample");
    line(&format!("#     num_samples = {}", cfg.draws));
    line(&format!("#     num_warmup = {}", cfg.tune));
    line("#     save_warmup = 0");
    line("#     thin = 1 (Default)");
    line("#     adapt");
    line(&format!("#       engaged = {}", u8::from(cfg.tune > 0)));
    line(&format!("#       delta = {:?}", cfg.target_accept));
    line("#     algorithm = hmc (Default)");
    line("#       hmc");
    line("#         engine = nuts (Default)");
    line("#           nuts");
    line(&format!("#             max_depth = {}", cfg.max_depth));
    line(&format!(
        "#         metric = {}",
        metric_name(cfg.mass_matrix)
    ));
    line(&format!(
        "#         stepsize_jitter = {}",
        c.step_size_jitter
    ));
    line(&format!("#     num_chains = {}", run.chains.len()));
    line(&format!("# id = {}", c.chain + 1));
    line("# random");
    line(&format!("#   seed = {}", cfg.seed));
    line("# output");
    line(&format!("#   file = {}", chain_file_name(stem, chain)));
    line(&format!(
        "# generator = bridgelaw {} (nuts-rs 0.19)",
        env!("CARGO_PKG_VERSION")
    ));
    line(&format!("# model_errors = {}", c.model_errors));
    line(&format!("# warmup_divergences = {}", c.divergences_warmup));
    let mut header: Vec<String> = STAT_COLUMNS.iter().map(|x| x.to_string()).collect();
    header.extend(column_names(run));
    line(&header.join(","));
    line("# Adaptation terminated");
    line(&format!("# Step size = {}", c.step_size));
    if let (MassMatrix::Diag, Some(m)) = (cfg.mass_matrix, &c.inv_mass_diag) {
        line("# Diagonal elements of inverse mass matrix:");
        line(&format!(
            "# {}",
            m.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut body = String::with_capacity(c.stats.len() * (run.dim + 7) * 20);
    for (k, st) in c.stats.iter().enumerate() {
        let _ = write!(
            body,
            "{},{},{},{},{},{},{}",
            st.lp,
            st.accept_stat,
            st.step_size,
            st.treedepth,
            st.n_leapfrog,
            u8::from(st.divergent),
            st.energy
        );
        for v in &c.x[k * run.dim..(k + 1) * run.dim] {
            let _ = write!(body, ",{v}");
        }
        body.push('\n');
    }
    s.push_str(&body);
    let total = c.seconds_warmup + c.seconds_sampling;
    s.push_str(&format!(
        "# \n#  Elapsed Time: {:.3} seconds (Warm-up)\n#                {:.3} seconds (Sampling)\n#                {:.3} seconds (Total)\n# \n",
        c.seconds_warmup, c.seconds_sampling, total
    ));
    s
}

/// The file name of chain `chain` (0-based): `{stem}-{chain+1}.csv`, CmdStan's naming.
pub fn chain_file_name(stem: &str, chain: usize) -> String {
    format!("{stem}-{}.csv", chain + 1)
}

/// CmdStan's name of the metric (`diag_e`); the low-rank metric has none (`low_rank`).
fn metric_name(m: MassMatrix) -> &'static str {
    match m {
        MassMatrix::Diag => "diag_e",
        MassMatrix::LowRank => "low_rank",
    }
}

/// Write one CmdStan CSV per chain to `dir/{stem}-{chain+1}.csv` atomically; returns the paths.
/// Chain files of an earlier run into the same folder with the same stem and more chains
/// (`{stem}-{k}.csv`, k above this run's chain count) are removed first, so the folder holds
/// exactly this run's chains (tools that read every chain file of a stem then see one run).
pub fn write_cmdstan_csv(
    run: &NutsRun,
    dir: &Path,
    stem: &str,
    model_name: &str,
) -> Result<Vec<PathBuf>, CalibrateError> {
    remove_stale_chain_files(dir, stem, run.chains.len())?;
    (0..run.chains.len())
        .map(|c| {
            let p = dir.join(chain_file_name(stem, c));
            write_atomic(&p, cmdstan_csv(run, c, stem, model_name).as_bytes()).map_err(
                |source| CalibrateError::Io {
                    path: p.display().to_string(),
                    source,
                },
            )?;
            Ok(p)
        })
        .collect()
}

/// Remove `dir/{stem}-{k}.csv` for every k > `chains` (k a decimal chain number).
fn remove_stale_chain_files(dir: &Path, stem: &str, chains: usize) -> Result<(), CalibrateError> {
    let io = |path: &Path, source| CalibrateError::Io {
        path: path.display().to_string(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(dir, e)),
    };
    let prefix = format!("{stem}-");
    for entry in entries {
        let entry = entry.map_err(|e| io(dir, e))?;
        let name = entry.file_name();
        let Some(k) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.strip_suffix(".csv"))
            .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|k| k.parse::<usize>().ok())
        else {
            continue;
        };
        if k > chains {
            std::fs::remove_file(entry.path()).map_err(|e| io(&entry.path(), e))?;
        }
    }
    Ok(())
}

/// A CmdStan CSV read back: column names and rows of numbers (comments skipped).
pub fn read_cmdstan_csv(text: &str) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut cols = Vec::new();
    let mut rows = Vec::new();
    for l in text.lines() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if cols.is_empty() {
            cols = l.split(',').map(str::to_string).collect();
        } else {
            rows.push(
                l.split(',')
                    .map(|v| v.parse().unwrap_or(f64::NAN))
                    .collect(),
            );
        }
    }
    (cols, rows)
}
