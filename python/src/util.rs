//! Running long engine calls without the GIL and interruptibly, and reading Python arguments
//! (paths or dicts) as the library's file formats.

use crate::errors;
use bridgelaw::cancel::CancelToken;
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

/// How often a waiting call lets Python run its signal handlers (Ctrl-C).
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Run `work` on a worker thread with the GIL released, while this thread checks for Python
/// signals every [`SIGNAL_POLL`]: on Ctrl-C (or any handler raising) the token is raised, the
/// worker is waited for (engines that poll the token stop within one iteration; the others
/// finish their call) and the handler's exception (`KeyboardInterrupt`) is returned. A panic in
/// the worker becomes a `RunError`, never an interpreter abort.
pub fn run_interruptible<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&CancelToken) -> T + Send,
{
    let cancel = CancelToken::new();
    std::thread::scope(|s| {
        let (tx, mut rx) = mpsc::channel();
        let token = &cancel;
        let worker = s.spawn(move || {
            // the receiver lives until the result is read, so a failed send cannot happen
            let _ = tx.send(work(token));
        });
        loop {
            // the receiver is Send but not Sync: it moves into the GIL-free wait and back
            let (got, back) = py.detach(move || (rx.recv_timeout(SIGNAL_POLL), rx));
            rx = back;
            match got {
                Ok(v) => {
                    let _ = py.detach(|| worker.join());
                    return Ok(v);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(e) = py.check_signals() {
                        cancel.cancel();
                        let _ = py.detach(|| worker.join());
                        return Err(e);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let msg = match py.detach(|| worker.join()) {
                        Err(p) => p
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "unknown panic".into()),
                        Ok(()) => "the worker ended without a result".into(),
                    };
                    return Err(errors::run(format!(
                        "internal error (please report it): {msg}"
                    )));
                }
            }
        }
    })
}

/// A file argument: a path (str or os.PathLike) or an in-memory document (dict).
pub enum Source {
    Path(PathBuf),
    /// The document as TOML text and the path it stands for (relative paths inside it resolve
    /// against that path's folder; errors name it).
    Text(String, PathBuf),
}

/// Read `obj` as a path or a dict. A dict is converted through JSON to TOML (so `None`
/// values, which TOML cannot hold, are an error naming the document); `what` names it in
/// messages ("study", "priors") and `base_dir` (default the working folder) is where its
/// relative paths resolve.
pub fn source(obj: &Bound<'_, PyAny>, what: &str, base_dir: Option<PathBuf>) -> PyResult<Source> {
    if obj.is_instance_of::<pyo3::types::PyDict>() {
        let json: String = obj
            .py()
            .import("json")?
            .call_method1("dumps", (obj,))?
            .extract()?;
        let dir = match base_dir {
            Some(d) => d,
            None => std::env::current_dir().map_err(errors::input)?,
        };
        let name = dir.join(format!("<{what} dict>"));
        let value: serde_json::Value = serde_json::from_str(&json).map_err(errors::input)?;
        let t = toml::Value::try_from(value).map_err(|e| {
            errors::input(format!(
                "{}: cannot be written as TOML ({e}); use numbers, strings, lists and dicts, no None",
                name.display()
            ))
        })?;
        let text = toml::to_string(&t).map_err(|e| {
            errors::input(format!(
                "{}: cannot be written as TOML ({e}); tables must come after plain keys",
                name.display()
            ))
        })?;
        return Ok(Source::Text(text, name));
    }
    let p: PathBuf = obj.extract().map_err(|_| {
        errors::input(format!(
            "{what}: expected a path (str or os.PathLike) or a dict, found {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    Ok(Source::Path(p))
}
