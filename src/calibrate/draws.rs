//! Draws as CmdStan CSV, one file per chain, in the layout of CmdStan 2.36 `sample` output:
//! a `#` comment header with the run configuration, the column line (`lp__, accept_stat__,
//! stepsize__, treedepth__, n_leapfrog__, divergent__, energy__`, then the unknowns in natural
//! units), the adaptation block (step size, diagonal of the inverse mass matrix in z), the kept
//! draws, and the elapsed-time block. ArviZ `from_cmdstan`, CmdStanPy and other Stan tooling
//! read it. Numbers are written with Rust's shortest round-trip formatting (no precision lost).

use super::CalibrateError;
use super::nuts::NutsRun;
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

/// The CmdStan CSV text of chain `chain` (0-based index into `run.chains`).
pub fn cmdstan_csv(run: &NutsRun, chain: usize, model_name: &str) -> String {
    let c = &run.chains[chain];
    let cfg = &run.config;
    let mut s = String::new();
    let mut line = |t: &str| {
        s.push_str(t);
        s.push('\n');
    };
    line("# stan_version_major = 2");
    line("# stan_version_minor = 36");
    line("# stan_version_patch = 0");
    line(&format!("# model = {}", sanitize(model_name)));
    line(&format!(
        "# generator = bridgelaw {} (nuts-rs 0.19)",
        env!("CARGO_PKG_VERSION")
    ));
    line("# method = sample (Default)");
    line("#   sample");
    line(&format!("#     num_samples = {}", cfg.draws));
    line(&format!("#     num_warmup = {}", cfg.tune));
    line("#     save_warmup = 0");
    line("#     thin = 1 (Default)");
    line("#     adapt");
    line("#       engaged = 1 (Default)");
    line(&format!("#       delta = {:?}", cfg.target_accept));
    line("#     algorithm = hmc (Default)");
    line("#       hmc");
    line("#         engine = nuts (Default)");
    line("#           nuts");
    line(&format!("#             max_depth = {}", cfg.max_depth));
    line(&format!(
        "#         metric = {}",
        match cfg.mass_matrix {
            super::nuts::MassMatrix::Diag => "diag_e",
            super::nuts::MassMatrix::LowRank => "low_rank",
        }
    ));
    line(&format!("#     num_chains = {}", run.chains.len()));
    line(&format!("# id = {}", c.chain + 1));
    line("# random");
    line(&format!("#   seed = {}", cfg.seed));
    line(&format!("# model_errors = {}", c.model_errors));
    line(&format!("# warmup_divergences = {}", c.divergences_warmup));
    let mut header: Vec<String> = STAT_COLUMNS.iter().map(|x| x.to_string()).collect();
    header.extend(column_names(run));
    line(&header.join(","));
    line("# Adaptation terminated");
    line(&format!("# Step size = {}", c.step_size));
    if let Some(m) = &c.inv_mass_diag {
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

/// Write one CmdStan CSV per chain to `dir/{stem}-{chain+1}.csv` atomically; returns the paths.
pub fn write_cmdstan_csv(
    run: &NutsRun,
    dir: &Path,
    stem: &str,
    model_name: &str,
) -> Result<Vec<PathBuf>, CalibrateError> {
    (0..run.chains.len())
        .map(|c| {
            let p = dir.join(format!("{stem}-{}.csv", c + 1));
            write_atomic(&p, cmdstan_csv(run, c, model_name).as_bytes()).map_err(|source| {
                CalibrateError::Io {
                    path: p.display().to_string(),
                    source,
                }
            })?;
            Ok(p)
        })
        .collect()
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
