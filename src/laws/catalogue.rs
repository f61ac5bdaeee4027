//! Law catalogue (work in progress).
