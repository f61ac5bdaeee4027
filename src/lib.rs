//! bridgelaw: carry atomistic estimates (DFT, NEB, MD) with their uncertainty up to the
//! parameters continuum battery models need, calibrate them against measured voltage curves with
//! NUTS, and rank which atomistic input matters most.
//!
//! Data flow: priors file → [`dist`] (joint normal in a transformed space) → [`laws`] and cell
//! models behind the one [`model::Model`] trait → propagation, calibration, sensitivity.
//!
//! Units: every quantity is in SI units unless its doc says otherwise (atomistic energies in
//! eV, the units of `src/units.rs` in priors and study files); a unit is written in brackets
//! after the quantity, e.g. D \[m²/s\], and \[1\] marks a dimensionless quantity.
//!
//! # Examples
//!
//! The main entry points on the files the repository ships (`models/`, `priors/`, `data/`).
//!
//! Load a study ([`study::load_study`]): the model with its inputs bound, and the joint prior
//! of its free inputs in the model's units.
//!
//! ```
//! use bridgelaw::Model;
//! use std::path::Path;
//!
//! let root = Path::new(env!("CARGO_MANIFEST_DIR"));
//! let study = bridgelaw::study::load_study(&root.join("models/graphite_diffusivity_neb.toml"))?;
//! // Li hopping in graphite: the attempt frequency nu0 [Hz] and the NEB barrier E_m [eV] are
//! // uncertain (the free inputs, in the law's order).
//! assert_eq!(study.dist.names(), ["nu0", "E_m"]);
//! let outputs: Vec<&str> = study.model.outputs().iter().map(|o| o.name.as_str()).collect();
//! // Hop rate Γ [1/s], D0 [m²/s], the tracer diffusivity at 298.15 K [m²/s], D(T) curves.
//! assert_eq!(outputs[..3], ["Gamma", "D0", "D_tr"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Propagate the priors to the outputs ([`propagate::propagate`]): the delta method and a
//! Monte Carlo run per design, with a check of each against the delta method.
//!
//! ```
//! use bridgelaw::propagate::{McSettings, Method, propagate};
//! use std::path::Path;
//!
//! let root = Path::new(env!("CARGO_MANIFEST_DIR"));
//! let study = bridgelaw::study::load_study(&root.join("models/graphite_diffusivity_neb.toml"))?;
//! let mc = McSettings { samples: 16_384, seed: 1, progress: false, ..McSettings::default() };
//! let res = propagate(&study.model, &study.dist, Method::All, &mc)?;
//! let delta = res.delta.as_ref().expect("Method::All runs the delta method");
//! // D_tr at 298.15 K [m²/s]: the delta method's first-order mean is the median; D_tr is
//! // log-normal (the barrier sits in an exponent), so its Monte Carlo mean lies above.
//! let k = delta.labels.iter().position(|l| l == "D_tr").expect("an output of the law");
//! let d_tr = &res.monte_carlo[0].outputs[k];
//! assert!(d_tr.mean > delta.mean[k] && delta.mean[k] > 0.0);
//! // The Monte Carlo designs (pseudo-random, Sobol, Latin hypercube) each checked against it.
//! assert_eq!(res.nonlinearity.len(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Simulate a cell ([`cell::simulate`]): a 1C discharge of the LG M50 cell (Chen 2020
//! parameters, BPX file) with the single-particle model, to the lower voltage cut-off.
//!
//! ```
//! use bridgelaw::cell::{Protocol, SolverOptions, StopReason, read_bpx_file, simulate};
//! use std::path::Path;
//!
//! let root = Path::new(env!("CARGO_MANIFEST_DIR"));
//! let cell = read_bpx_file(&root.join("models/cells/lgm50_chen2020.bpx.json"))?;
//! let one_hour_and_a_bit = 1.2 * 3600.0; // [s]
//! let sol = simulate(&cell.params, &Protocol::c_rate(1.0, one_hour_and_a_bit), &SolverOptions::default())?;
//! assert_eq!(sol.stop, StopReason::LowerCutoff);
//! let q = sol.final_capacity_ah(); // discharged capacity [A·h] of a 5 A·h cell
//! assert!(q > 4.0 && q < 5.2, "{q}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Calibrate ([`calibrate::find_map`]; [`calibrate::sample`] runs NUTS on the same
//! [`calibrate::Posterior`]): the graphite NEB barrier E_m and the exchange current's
//! activation energy from three discharge curves of an LG M50 cell (SPMe; synthetic curves
//! made at E_m = 0.40 eV with 3 mV noise, while the NEB prior says 0.293 ± 0.03 eV), the MAP
//! point and the Laplace approximation around it (about a second of computing).
//!
//! ```
//! use bridgelaw::calibrate::study::{CalibrateSection, observations};
//! use bridgelaw::calibrate::{Posterior, find_map};
//! use std::path::Path;
//!
//! let root = Path::new(env!("CARGO_MANIFEST_DIR"));
//! let study = bridgelaw::study::load_study(&root.join("models/lgm50_chain_calibration.toml"))?;
//! let sec: CalibrateSection = study.section("calibrate")?;
//! let (curves, _notes) = observations(&study, &[], sec.noise())?;
//! let post = Posterior::new(&study.model, &study.dist, curves, sec.likelihood.unwrap_or_default())?;
//! let map = find_map(&post, &Default::default())?;
//! let e_m = &map.summary[0]; // the barrier [eV]: mode, Laplace mean, sd, 5/50/95 % quantiles
//! assert_eq!(e_m.name, "E_m");
//! assert!((e_m.mode - 0.40).abs() < 0.01, "{}", e_m.mode);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Sensitivity ([`sensitivity::ranking()`], one of the methods of [`sensitivity`]): which input
//! to refine next, by the output variance removed if its uncertainty were halved.
//!
//! ```
//! use bridgelaw::sensitivity::{RankingSettings, ranking};
//! use std::path::Path;
//!
//! let root = Path::new(env!("CARGO_MANIFEST_DIR"));
//! let study = bridgelaw::study::load_study(&root.join("models/graphite_diffusivity_neb.toml"))?;
//! let settings = RankingSettings { progress: false, ..RankingSettings::default() };
//! let r = ranking(&study.model, &study.dist, &settings)?;
//! // The barrier, in the exponent of D, matters more than the attempt frequency.
//! assert_eq!(r.headline(), ["E_m", "nu0"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

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
