//! Mechanics laws (work in progress).
