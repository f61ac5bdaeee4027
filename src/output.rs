//! Writing result files atomically: write to a temporary file beside the target, then rename,
//! so an interrupted run never leaves a half-written file and never clobbers a good one.
//!
//! The product's CSV convention (every CSV it writes but the CmdStan draws, whose format is
//! CmdStan's): the first line is the header, the rest are numbers, no comment lines, so
//! `numpy.genfromtxt(names=True)`, `pandas.read_csv` and spreadsheets read them as they are.
//! Units go in the header names (`time_s`, `voltage_V`, `t [s]`, `q5 [V]`) or, in long tables,
//! in a `unit` column; anything else about a file (provenance, what was run) goes in a JSON
//! beside it. Fields are quoted by [`csv_field`].

use std::io::Write;
use std::path::Path;
use std::sync::{LazyLock, RwLock, RwLockReadGuard};

/// The write gate: every file write holds it shared; [`crate::run_folder::abandon_for_exit`]
/// takes it exclusively (waiting for the write in flight) and never gives it back, so nothing
/// is written between its clean-up and the process's exit.
pub(crate) fn gate() -> &'static RwLock<()> {
    static GATE: LazyLock<RwLock<()>> = LazyLock::new(|| RwLock::new(()));
    &GATE
}

/// The gate held shared for one write, or [`std::io::ErrorKind::Interrupted`] once the process
/// is being interrupted ([`crate::run_folder::interrupted`]).
pub(crate) fn open_gate() -> std::io::Result<RwLockReadGuard<'static, ()>> {
    let g = gate().read().unwrap_or_else(|e| e.into_inner());
    if crate::run_folder::interrupted().is_cancelled() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "interrupted: nothing more is written",
        ));
    }
    Ok(g)
}

/// Write `bytes` to `path` atomically (temp file in the same directory, fsync, rename).
/// Fails with [`std::io::ErrorKind::Interrupted`] once the process is being interrupted
/// ([`crate::run_folder::interrupted`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let _g = open_gate()?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `std::fs::create_dir_all` under the write gate (see [`write_atomic`]): a folder of a run
/// being interrupted is not created again after the clean-up.
pub fn create_dir_all(dir: &Path) -> std::io::Result<()> {
    let _g = open_gate()?;
    std::fs::create_dir_all(dir)
}

/// One CSV field: quoted (with inner quotes doubled, RFC 4180) when it holds a comma, a quote
/// or a line break, as is otherwise.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
