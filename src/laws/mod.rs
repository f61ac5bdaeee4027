//! Bridging laws: pure functions generic over the scalar, each also exposed through
//! [`crate::model::Model`] so every engine can use it.

pub mod arrhenius;
pub mod catalogue;
pub mod kinetics;
pub mod mechanics;
pub mod thermo;
pub mod transport;
