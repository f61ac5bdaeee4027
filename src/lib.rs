//! bridgelaw: carry atomistic estimates (DFT, NEB, MD) with their uncertainty up to the
//! parameters continuum battery models need, calibrate them against measured voltage curves with
//! NUTS, and rank which atomistic input matters most.
//!
//! Data flow: priors file → [`dist`] (joint normal in a transformed space) → [`laws`] and cell
//! models behind the one [`model::Model`] trait → propagation, calibration, sensitivity.

pub mod bound;
pub mod budget;
pub mod calibrate;
pub mod cancel;
pub mod cell;
pub mod chain;
pub mod constants;
pub mod cycler;
pub mod demo;
pub mod dist;
pub mod laws;
pub mod md;
pub mod model;
pub mod numerics;
pub mod output;
pub mod progress;
pub mod propagate;
pub mod report;
pub mod run_folder;
pub mod schema;
pub mod sensitivity;
pub mod shard;
pub mod study;
pub mod units;

pub use model::{Model, ModelError, Scalar};
