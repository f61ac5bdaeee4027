//! Cooperative cancellation of long runs: a flag the caller raises (the Python package on
//! Ctrl-C) and the engines poll between iterations, so a run stops cleanly with an error
//! instead of being killed mid-write.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A shared stop flag. Clones share the flag; [`CancelToken::default`] is never raised unless
/// [`CancelToken::cancel`] is called on it or a clone.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A fresh, unraised flag.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask every run polling this token (or a clone) to stop at its next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`Self::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag() {
        let t = CancelToken::new();
        let c = t.clone();
        assert!(!c.is_cancelled());
        t.cancel();
        assert!(c.is_cancelled());
    }
}
