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

/// Write `bytes` to `path` atomically (temp file in the same directory, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
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

/// One CSV field: quoted (with inner quotes doubled, RFC 4180) when it holds a comma, a quote
/// or a line break, as is otherwise.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
