//! Run folders that are whole or absent: a run writes into a staging folder beside its target
//! and the finished folder replaces the target in one rename, under a lock that refuses a second
//! concurrent writer.
//!
//! The semantics, for a target `DIR` (the `--out` of propagate, sensitivity, calibrate, merge
//! and demo):
//!
//! - **Lock.** [`RunFolder::begin`] takes an advisory lock (`flock`) on `.DIR.lock` beside
//!   `DIR`; a second writer of the same target is refused at once ([`RunFolderError::Busy`],
//!   exit 2). The kernel releases the lock when the process dies, even by SIGKILL, so a stale
//!   lock never blocks; the file itself is removed by its holder (or the next run).
//! - **Staging.** Results go to `.DIR.tmp-PID` beside `DIR` (same file system, so the final
//!   rename is atomic). Stale staging folders of killed runs are removed by the next
//!   [`RunFolder::begin`] of the same target: under the lock, no live run owns them.
//! - **Commit.** [`RunFolder::commit`] writes the manifest [`MANIFEST_FILE`] (the run id and
//!   every file with its size and fingerprint), then swaps the staging folder into place: a
//!   plain rename when `DIR` is absent or empty, otherwise an atomic exchange
//!   (`renameat2(RENAME_EXCHANGE)`, Linux) after which the previous result, now under the
//!   staging name, is deleted. Until that instant the previous result is untouched; after it
//!   the new one is complete. Where the exchange is not supported, the previous result is
//!   renamed aside (`.DIR.tmp-PID-old`) first; a run killed between the two renames leaves it
//!   there and the next [`RunFolder::begin`] puts it back.
//! - **Existing results.** A target holding a previous result is replaced only with
//!   [`Existing::Replace`] (the CLI's `--force`; the demo always, its folder being regenerated
//!   by design). A non-empty target that holds no bridgelaw output (no manifest, provenance or
//!   report) is never replaced, whatever the flag: the swap would delete the user's files.
//! - **Interrupts.** [`abandon_for_exit`] (called by the CLI on SIGINT/SIGTERM/SIGHUP) raises
//!   the process's [`CancelToken`], waits for any file write in flight, deletes every staging
//!   folder and lock of this process and keeps every later write from starting, so the process
//!   can exit leaving the previous result as it was.
//! - **Checking.** [`check_run_folder`] verifies a folder against its manifest; `bridgelaw
//!   report` refuses a folder whose files do not all belong to the run its manifest names.

use crate::cancel::CancelToken;
use crate::output::{gate, write_atomic};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use thiserror::Error;

/// The manifest of a run folder: its run id and every file it holds.
pub const MANIFEST_FILE: &str = "run.json";

/// Files and folders a report writes into a run folder afterwards (`bridgelaw report RUN_DIR`):
/// views of the results, not results, so the manifest neither lists nor checks them.
const REPORT_OUTPUTS: [&str; 2] = ["report.html", "figures"];

/// Errors of writing or checking a run folder.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RunFolderError {
    /// Another run holds the target's lock.
    #[error(
        "{target}: being written by another run (process {pid}, lock {lock}); wait for it to finish or choose another --out"
    )]
    Busy {
        /// The run folder.
        target: PathBuf,
        /// The lock file beside it.
        lock: PathBuf,
        /// The process id the lock names.
        pid: String,
    },
    /// The target holds a result and `--force` was not given.
    #[error(
        "{target}: already holds a result; pass --force to replace it (the previous result stays until the new one is complete) or choose another --out"
    )]
    Exists {
        /// The run folder.
        target: PathBuf,
    },
    /// The target holds files but no bridgelaw output: it is never replaced.
    #[error(
        "{target}: expected a run folder, found a folder holding other files (no {MANIFEST_FILE}, provenance.json or report.html); refusing to replace it: choose an empty or new --out"
    )]
    NotARunFolder {
        /// The folder.
        target: PathBuf,
    },
    /// The path given for the results is not a folder.
    #[error("{target}: expected a folder for the results, found {found}")]
    NotAFolder {
        /// The path given for the results.
        target: PathBuf,
        /// What it is instead ("a file", ...).
        found: &'static str,
    },
    /// The folder's files are not those its manifest lists: they come from different runs.
    #[error("{dir}: files from different runs: {file} {why}; run the command again with --force")]
    Mixed {
        /// The run folder.
        dir: PathBuf,
        /// The file that does not match the manifest.
        file: PathBuf,
        /// How it differs (size, fingerprint, not listed, missing).
        why: String,
    },
    /// The folder's manifest (`run.json`) cannot be read or written.
    #[error("{file}: {message}")]
    Manifest {
        /// The manifest file.
        file: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A signal (Ctrl-C, SIGTERM, SIGHUP) stopped the run before its folder was complete.
    #[error("interrupted")]
    Interrupted,
    /// A file or folder cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl RunFolderError {
    /// Whether the user can fix it (a busy, occupied or mixed target): exit 2 in the CLI.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, Self::Io { .. } | Self::Interrupted)
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunFolderError + '_ {
    move |source| {
        if source.kind() == std::io::ErrorKind::Interrupted && interrupted().is_cancelled() {
            RunFolderError::Interrupted
        } else {
            RunFolderError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// What to do with a target that holds a previous result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Refuse ([`RunFolderError::Exists`]): the CLI's default.
    Refuse,
    /// Replace it when the new run is complete (`--force`).
    Replace,
}

impl Existing {
    /// [`Existing::Replace`] when the command line says `--force`, else [`Existing::Refuse`].
    pub fn from_force(force: bool) -> Self {
        if force { Self::Replace } else { Self::Refuse }
    }
}

/// The process's interrupt flag, raised by [`abandon_for_exit`]: engines that poll a
/// [`CancelToken`] may be given it, and no file write starts once it is raised.
pub fn interrupted() -> &'static CancelToken {
    static TOKEN: LazyLock<CancelToken> = LazyLock::new(CancelToken::new);
    &TOKEN
}

/// Staging folders and lock files this process owns, removed by [`abandon_for_exit`].
static OWNED: LazyLock<Mutex<Vec<PathBuf>>> = LazyLock::new(|| Mutex::new(Vec::new()));

fn own(p: &Path) {
    OWNED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(p.to_path_buf());
}

fn disown(p: &Path) {
    OWNED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|q| q != p);
}

/// For a signal handler about to exit the process: raise [`interrupted`], wait for the file
/// write in flight (if any), delete this process's staging folders and lock files, and keep
/// the write gate closed so that nothing is written afterwards. Returns once it is safe to
/// exit; the previous result of every target is then as it was. Runs once per process: a
/// second caller (the main thread, finding its run cancelled) waits for the first to finish.
pub fn abandon_for_exit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(abandon_now);
}

fn abandon_now() {
    interrupted().cancel();
    let guard = gate().write().unwrap_or_else(|e| e.into_inner());
    let owned = std::mem::take(&mut *OWNED.lock().unwrap_or_else(|e| e.into_inner()));
    for p in owned {
        if p.is_dir() {
            let _ = std::fs::remove_dir_all(&p);
        } else {
            let _ = std::fs::remove_file(&p);
        }
    }
    // The gate stays closed until the process exits: a write that starts now would recreate
    // what was just deleted.
    std::mem::forget(guard);
}

/// `parent` and file name of a target, with an error for a path that has none (`/`, `..`).
fn split(target: &Path) -> Result<(PathBuf, String), RunFolderError> {
    let abs = std::path::absolute(target).map_err(io(target))?;
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => Ok((parent.to_path_buf(), name.to_string_lossy().into())),
        _ => Err(RunFolderError::NotAFolder {
            target: target.to_path_buf(),
            found: "a path with no folder name",
        }),
    }
}

/// An exclusive lock on a target (`.NAME.lock` beside it), held until dropped.
#[derive(Debug)]
pub struct TargetLock {
    file: File,
    path: PathBuf,
}

impl TargetLock {
    /// Lock `target` (a folder or a file) for writing, or [`RunFolderError::Busy`] if another
    /// process holds it. Creates the parent folder.
    pub fn acquire(target: &Path) -> Result<Self, RunFolderError> {
        let (parent, name) = split(target)?;
        // Under the write gate, so that an interrupt cannot fall between creating the lock
        // file and recording it for deletion.
        let _g = open_gate()?;
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        let path = parent.join(format!(".{name}.lock"));
        loop {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io(&path))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    let mut pid = String::new();
                    let _ = file.read_to_string(&mut pid);
                    return Err(RunFolderError::Busy {
                        target: target.to_path_buf(),
                        lock: path,
                        pid: if pid.trim().is_empty() {
                            "unknown".into()
                        } else {
                            pid.trim().into()
                        },
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
            }
            // The holder before us unlinks the file before unlocking it: if the name now
            // points elsewhere (or nowhere), we locked a dead inode, so try again.
            if same_file(&file, &path) {
                file.set_len(0).map_err(io(&path))?;
                write!(file, "{}", std::process::id()).map_err(io(&path))?;
                own(&path);
                return Ok(Self { file, path });
            }
        }
    }
}

#[cfg(unix)]
fn same_file(f: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (f.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_: &File, path: &Path) -> bool {
    path.exists()
}

impl Drop for TargetLock {
    fn drop(&mut self) {
        // Unlink first, then unlock (on close): a process that opened the old name meanwhile
        // sees the inode change and retries.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
        disown(&self.path);
    }
}

/// The write gate of [`crate::output`], or [`RunFolderError::Interrupted`].
fn open_gate() -> Result<std::sync::RwLockReadGuard<'static, ()>, RunFolderError> {
    crate::output::open_gate().map_err(|_| RunFolderError::Interrupted)
}

/// Entries beside a target that a run of it leaves while it writes (`.NAME.tmp-…`).
fn temp_entries(parent: &Path, name: &str) -> Vec<PathBuf> {
    let prefix = format!(".{name}.tmp-");
    let Ok(rd) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

fn remove_any(p: &Path) -> std::io::Result<()> {
    if p.is_dir() && !p.is_symlink() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    }
}

/// Whether a folder holds bridgelaw output (so that replacing it deletes nothing else).
fn holds_bridgelaw_output(dir: &Path) -> bool {
    [MANIFEST_FILE, "provenance.json", "report.html"]
        .iter()
        .any(|f| dir.join(f).is_file())
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut rd| rd.next().is_none())
}

/// A run folder being written: files go into [`Self::path`]; [`Self::commit`] puts the whole
/// folder in place; dropping it uncommitted deletes what was written and leaves the target as
/// it was.
#[derive(Debug)]
pub struct RunFolder {
    target: PathBuf,
    staging: PathBuf,
    // Declared last: dropped after the staging folder is gone.
    _lock: TargetLock,
}

impl RunFolder {
    /// Lock `target`, repair and clean what killed runs left beside it, check what it holds
    /// against `existing`, and create the staging folder. See the module doc for the rules.
    pub fn begin(target: &Path, existing: Existing) -> Result<Self, RunFolderError> {
        match std::fs::symlink_metadata(target) {
            Ok(m) if m.is_file() => {
                return Err(RunFolderError::NotAFolder {
                    target: target.to_path_buf(),
                    found: "a file",
                });
            }
            Ok(m) if m.file_type().is_symlink() && !target.is_dir() => {
                return Err(RunFolderError::NotAFolder {
                    target: target.to_path_buf(),
                    found: "a link to no folder",
                });
            }
            _ => {}
        }
        // `--out` naming a link to a folder: the run replaces the folder the link points to
        // and the link stays (renaming onto the link's own name would replace the link by a
        // folder). The staging folder is made beside the real folder, on its file system.
        let resolved;
        let target = if target.is_symlink() {
            resolved = std::fs::canonicalize(target).map_err(io(target))?;
            resolved.as_path()
        } else {
            target
        };
        let lock = TargetLock::acquire(target)?;
        let (parent, name) = split(target)?;
        let temps = temp_entries(&parent, &name);
        {
            let _g = open_gate()?;
            // A run killed between the two renames of the fallback swap left the previous
            // result aside: put it back before anything else.
            if !target.exists()
                && let Some(old) = temps.iter().find(|p| p.to_string_lossy().ends_with("-old"))
            {
                std::fs::rename(old, target).map_err(io(old))?;
            }
            for t in temp_entries(&parent, &name) {
                remove_any(&t).map_err(io(&t))?;
            }
        }
        if target.is_dir() && !is_empty_dir(target) {
            if !holds_bridgelaw_output(target) {
                return Err(RunFolderError::NotARunFolder {
                    target: target.to_path_buf(),
                });
            }
            if existing == Existing::Refuse {
                return Err(RunFolderError::Exists {
                    target: target.to_path_buf(),
                });
            }
        }
        let staging = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        {
            let _g = open_gate()?;
            std::fs::create_dir(&staging).map_err(io(&staging))?;
            own(&staging);
        }
        Ok(Self {
            target: target.to_path_buf(),
            staging,
            _lock: lock,
        })
    }

    /// Where the run writes its files (the staging folder).
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The folder the results end up in.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// A path under the staging folder shown as where it ends up (for messages).
    pub fn shown(&self, p: &Path) -> PathBuf {
        match p.strip_prefix(&self.staging) {
            Ok(rel) => self.target.join(rel),
            Err(_) => p.to_path_buf(),
        }
    }

    /// Write the manifest (`command`, `run_id` and every file written), then put the folder in
    /// place of the target in one step. Returns the files as they are named after the swap.
    pub fn commit(self, command: &str, run_id: &str) -> Result<Vec<PathBuf>, RunFolderError> {
        let manifest = Manifest::of_folder(&self.staging, command, run_id)?;
        let json =
            serde_json::to_string_pretty(&manifest).map_err(|e| RunFolderError::Manifest {
                file: self.staging.join(MANIFEST_FILE),
                message: e.to_string(),
            })?;
        let mp = self.staging.join(MANIFEST_FILE);
        write_atomic(&mp, json.as_bytes()).map_err(io(&mp))?;
        {
            let _g = open_gate()?;
            swap_into_place(&self.staging, &self.target)?;
        }
        let mut files: Vec<PathBuf> = manifest
            .files
            .iter()
            .map(|f| self.target.join(&f.path))
            .collect();
        files.push(self.target.join(MANIFEST_FILE));
        Ok(files)
        // Drop deletes the staging name, which now holds the previous result (if any).
    }
}

impl Drop for RunFolder {
    fn drop(&mut self) {
        if let Ok(_g) = open_gate() {
            let _ = remove_any(&self.staging);
        }
        disown(&self.staging);
    }
}

/// Put `staging` at `target`: a rename when the target is absent or empty, else an atomic
/// exchange, else (no exchange on this system or file system) two renames.
fn swap_into_place(staging: &Path, target: &Path) -> Result<(), RunFolderError> {
    if !target.exists() || is_empty_dir(target) {
        return std::fs::rename(staging, target).map_err(io(target));
    }
    if exchange(staging, target).is_ok() {
        return Ok(());
    }
    swap_by_two_renames(staging, target)
}

/// The fallback swap: the previous result aside as `STAGING-old`, the new one in its place,
/// the old folder then moved back under the staging name for its owner to delete.
fn swap_by_two_renames(staging: &Path, target: &Path) -> Result<(), RunFolderError> {
    let aside = PathBuf::from(format!("{}-old", staging.display()));
    std::fs::rename(target, &aside).map_err(io(target))?;
    own(&aside);
    if let Err(e) = std::fs::rename(staging, target) {
        let _ = std::fs::rename(&aside, target);
        disown(&aside);
        return Err(io(target)(e));
    }
    let _ = std::fs::rename(&aside, staging);
    disown(&aside);
    Ok(())
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: both are valid NUL-terminated paths; AT_FDCWD resolves relative ones.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// One file of a run folder as the manifest records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Path relative to the run folder, `/`-separated.
    pub path: String,
    /// Size, bytes.
    pub bytes: u64,
    /// [`crate::shard::fingerprint`] of the contents.
    pub fingerprint: String,
}

/// `run.json`: which run wrote the folder and every file it wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The command that wrote the folder (propagate, sensitivity, calibrate, demo).
    pub command: String,
    /// The run id: a fingerprint of the command, its inputs and settings (see
    /// [`run_id`]), also recorded in the run's `provenance.json`.
    pub run_id: String,
    /// Every file of the run, sorted by path (the report's views excluded).
    pub files: Vec<ManifestFile>,
}

/// The id of a run: a fingerprint of the command and of everything its provenance records
/// (study, priors, data files, seed, settings, version). Deterministic on purpose: a run is
/// reproducible bit for bit (an MPI run writes the single process's folder byte for byte), so
/// two runs with the same id write the same results, and any mix of runs that differ is caught
/// by the fingerprints of the files in the manifest.
pub fn run_id(command: &str, provenance_json: &str) -> String {
    crate::shard::fingerprint(format!("{command}\n{provenance_json}").as_bytes())
}

fn is_report_output(rel: &Path) -> bool {
    rel.components()
        .next()
        .is_some_and(|c| REPORT_OUTPUTS.iter().any(|r| c.as_os_str() == *r))
}

/// Every file under `dir` (relative paths, sorted), skipping the report's views, the manifest
/// and subfolders that are run folders of their own.
fn result_files(dir: &Path) -> Result<Vec<PathBuf>, RunFolderError> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<PathBuf>) -> Result<(), RunFolderError> {
        for e in std::fs::read_dir(d).map_err(io(d))? {
            let e = e.map_err(io(d))?;
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap_or(&p).to_path_buf();
            if is_report_output(&rel) || rel == Path::new(MANIFEST_FILE) {
                continue;
            }
            if p.is_dir() {
                if !p.join(MANIFEST_FILE).is_file() {
                    walk(root, &p, out)?;
                }
            } else {
                out.push(rel);
            }
        }
        Ok(())
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v)?;
    v.sort();
    Ok(v)
}

fn rel_string(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn file_entry(dir: &Path, rel: &Path) -> Result<ManifestFile, RunFolderError> {
    let p = dir.join(rel);
    let bytes = std::fs::read(&p).map_err(io(&p))?;
    Ok(ManifestFile {
        path: rel_string(rel),
        bytes: bytes.len() as u64,
        fingerprint: crate::shard::fingerprint(&bytes),
    })
}

impl Manifest {
    /// The manifest of what `dir` holds now.
    pub fn of_folder(dir: &Path, command: &str, run_id: &str) -> Result<Self, RunFolderError> {
        let files = result_files(dir)?
            .iter()
            .map(|rel| file_entry(dir, rel))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            command: command.into(),
            run_id: run_id.into(),
            files,
        })
    }

    /// Read `dir/run.json`, or `None` when the folder has none (written before manifests).
    pub fn read(dir: &Path) -> Result<Option<Self>, RunFolderError> {
        let p = dir.join(MANIFEST_FILE);
        if !p.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&p).map_err(io(&p))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| RunFolderError::Manifest {
                file: p,
                message: e.to_string(),
            })
    }
}

/// Check that every file of the run folder `dir` is the one its manifest lists (same size and
/// fingerprint), that no file beyond them is there, and that `provenance.json`, if present,
/// names the manifest's run id. Returns the manifest, or `None` for a folder without one
/// (written before manifests existed: nothing to check against).
pub fn check_run_folder(dir: &Path) -> Result<Option<Manifest>, RunFolderError> {
    let Some(m) = Manifest::read(dir)? else {
        return Ok(None);
    };
    let mixed = |file: &Path, why: String| RunFolderError::Mixed {
        dir: dir.to_path_buf(),
        file: file.to_path_buf(),
        why,
    };
    for f in &m.files {
        let p = dir.join(&f.path);
        if !p.is_file() {
            return Err(mixed(&p, format!("is missing (run {})", m.run_id)));
        }
        let now = file_entry(dir, Path::new(&f.path))?;
        if now.bytes != f.bytes || now.fingerprint != f.fingerprint {
            return Err(mixed(
                &p,
                format!(
                    "is not the file run {} wrote ({} bytes, fingerprint {}; the manifest lists {} bytes, {})",
                    m.run_id, now.bytes, now.fingerprint, f.bytes, f.fingerprint
                ),
            ));
        }
    }
    for rel in result_files(dir)? {
        let s = rel_string(&rel);
        if !m.files.iter().any(|f| f.path == s) {
            return Err(mixed(
                &dir.join(&rel),
                format!("is not part of run {} ({MANIFEST_FILE})", m.run_id),
            ));
        }
    }
    let prov = dir.join("provenance.json");
    if let Ok(text) = std::fs::read_to_string(&prov)
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        && let Some(id) = v.get("run_id").and_then(|x| x.as_str())
        && id != m.run_id
    {
        return Err(mixed(
            &prov,
            format!("names run {id}, the manifest run {}", m.run_id),
        ));
    }
    Ok(Some(m))
}

/// Write one result file (not a folder: `priors ... --out FILE`, `simulate --out FILE`) under
/// the target's lock, so a second concurrent writer is refused ([`RunFolderError::Busy`])
/// instead of both reporting success, after deleting the temporary files killed writers of
/// the same file left (`.NAME.tmp-PID`). An existing file is replaced only with
/// [`Existing::Replace`], checked under the lock so two writers cannot both see it absent. The
/// file itself is written atomically.
pub fn write_result_file(
    path: &Path,
    bytes: &[u8],
    existing: Existing,
) -> Result<(), RunFolderError> {
    if path.is_dir() {
        return Err(RunFolderError::NotAFolder {
            target: path.to_path_buf(),
            found: "a folder where a file is to be written",
        });
    }
    let _lock = TargetLock::acquire(path)?;
    if existing == Existing::Refuse && path.exists() {
        return Err(RunFolderError::Exists {
            target: path.to_path_buf(),
        });
    }
    let (parent, name) = split(path)?;
    {
        let _g = open_gate()?;
        for t in temp_entries(&parent, &name) {
            let _ = remove_any(&t);
        }
    }
    write_atomic(path, bytes).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_into(target: &Path, existing: Existing, seed: &str) -> Result<(), RunFolderError> {
        let r = RunFolder::begin(target, existing)?;
        write_atomic(&r.path().join("a.json"), seed.as_bytes()).unwrap();
        write_atomic(&r.path().join("sub/b.csv"), b"x,y\n1,2\n").unwrap();
        write_atomic(&r.path().join("provenance.json"), b"{}").unwrap();
        r.commit("test", seed).map(|_| ())
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_run_replaces_the_previous_only_with_force_and_leaves_nothing_beside() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("out");
        run_into(&t, Existing::Refuse, "one").unwrap();
        assert_eq!(check_run_folder(&t).unwrap().unwrap().run_id, "one");
        let e = run_into(&t, Existing::Refuse, "two").unwrap_err();
        assert!(matches!(e, RunFolderError::Exists { .. }), "{e}");
        assert!(e.to_string().contains("--force"), "{e}");
        assert_eq!(check_run_folder(&t).unwrap().unwrap().run_id, "one");
        run_into(&t, Existing::Replace, "two").unwrap();
        assert_eq!(check_run_folder(&t).unwrap().unwrap().run_id, "two");
        assert_eq!(listing(d.path()), vec!["out"]);
    }

    #[test]
    fn an_out_that_links_to_a_folder_keeps_the_link_and_fills_the_folder() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        let link = d.path().join("link");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        run_into(&link, Existing::Refuse, "one").unwrap();
        run_into(&link, Existing::Replace, "two").unwrap();
        assert!(link.is_symlink(), "the link was replaced");
        assert_eq!(check_run_folder(&real).unwrap().unwrap().run_id, "two");
        assert_eq!(listing(d.path()), vec!["link", "real"]);
    }

    #[test]
    fn an_abandoned_run_leaves_the_previous_result_and_no_staging() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("out");
        run_into(&t, Existing::Refuse, "one").unwrap();
        {
            let r = RunFolder::begin(&t, Existing::Replace).unwrap();
            write_atomic(&r.path().join("a.json"), b"half").unwrap();
            // Dropped without commit, as on an error.
        }
        assert_eq!(check_run_folder(&t).unwrap().unwrap().run_id, "one");
        assert_eq!(listing(d.path()), vec!["out"]);
    }

    #[test]
    fn a_second_writer_is_refused_while_the_first_holds_the_lock() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("out");
        let first = RunFolder::begin(&t, Existing::Refuse).unwrap();
        let e = RunFolder::begin(&t, Existing::Replace).unwrap_err();
        assert!(matches!(e, RunFolderError::Busy { .. }), "{e}");
        assert!(
            e.to_string().contains(&std::process::id().to_string()),
            "{e}"
        );
        drop(first);
        RunFolder::begin(&t, Existing::Refuse).unwrap();
    }

    #[test]
    fn stale_staging_is_removed_and_a_half_swapped_previous_result_restored() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("out");
        run_into(&t, Existing::Refuse, "one").unwrap();
        // A killed run's staging folder and a killed fallback swap's previous result.
        std::fs::create_dir(d.path().join(".out.tmp-999999")).unwrap();
        std::fs::rename(&t, d.path().join(".out.tmp-999998-old")).unwrap();
        let r = RunFolder::begin(&t, Existing::Replace).unwrap();
        assert_eq!(check_run_folder(&t).unwrap().unwrap().run_id, "one");
        drop(r);
        assert_eq!(listing(d.path()), vec!["out"]);
    }

    #[test]
    fn the_fallback_swap_replaces_the_previous_result() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("out");
        run_into(&t, Existing::Refuse, "one").unwrap();
        let s = d.path().join(".out.tmp-1");
        std::fs::create_dir(&s).unwrap();
        std::fs::write(s.join("new"), b"n").unwrap();
        swap_by_two_renames(&s, &t).unwrap();
        assert!(t.join("new").is_file() && s.join("a.json").is_file());
    }

    #[test]
    fn a_folder_of_other_files_or_a_file_is_never_replaced() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("notes.txt"), b"mine").unwrap();
        let e = RunFolder::begin(d.path(), Existing::Replace).unwrap_err();
        assert!(matches!(e, RunFolderError::NotARunFolder { .. }), "{e}");
        let f = d.path().join("notes.txt");
        let e = RunFolder::begin(&f, Existing::Replace).unwrap_err();
        assert!(e.to_string().contains("found a file"), "{e}");
        assert_eq!(listing(d.path()), vec!["notes.txt"]);
    }

    #[test]
    fn a_mixed_folder_is_refused_naming_the_file() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        run_into(&a, Existing::Refuse, "one").unwrap();
        run_into(&b, Existing::Refuse, "two").unwrap();
        std::fs::copy(b.join("a.json"), a.join("a.json")).unwrap();
        let e = check_run_folder(&a).unwrap_err();
        assert!(e.to_string().contains("a.json") && e.is_user_error(), "{e}");
        // A stray file, and a provenance naming another run.
        run_into(&a, Existing::Replace, "one").unwrap();
        std::fs::write(a.join("stray.csv"), b"1").unwrap();
        assert!(
            check_run_folder(&a)
                .unwrap_err()
                .to_string()
                .contains("stray.csv")
        );
        run_into(&a, Existing::Replace, "one").unwrap();
        std::fs::write(a.join("figures.csv"), b"1").unwrap();
        assert!(check_run_folder(&a).is_err());
    }
}
