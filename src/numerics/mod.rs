//! Numerics apart from the physics: vector kernels, fast elementary functions and random number
//! generation that the laws, the cell model and the engines share.
//!
//! Everything that touches `std::arch` lives here. Each SIMD kernel has a portable path that is
//! the same sequence of IEEE operations (so the same bits) and a test that runs both;
//! `BRIDGELAW_PORTABLE=1` forces the portable paths ([`cpu`]).
//! - [`bdf`]: variable-step BDF2 coefficients, dense output and error-estimate weights;
//! - [`gradient`]: the first-order gradient scalar `Grad<N>` (derivatives always present);
//! - [`fastmath`]: `ln` for the overpotential's asinh, batched `exp_in_place`;
//! - [`modal`]: the exact modal step of a particle fused with its output functionals;
//! - [`histogram`]: histogram slots of a column of Monte Carlo outputs;
//! - [`table`]: uniform cubic Hermite tables of functions evaluated many times per step;
//! - [`tridiagonal`]: tridiagonal solves (Thomas, and the twisted form for short latency);
//! - [`rng`]: lane-interleaved Xoshiro256++ and ziggurat normals for bulk Monte Carlo.

pub mod bdf;
pub mod cpu;
pub mod fastmath;
pub mod gradient;
pub mod histogram;
pub mod modal;
pub mod polyline;
pub mod rng;
pub mod table;
pub mod tridiagonal;
