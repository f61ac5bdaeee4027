//! Physical constants, CODATA 2018 exact values, in one place.

/// Boltzmann constant k_B \[J/K\].
pub const K_B: f64 = 1.380_649e-23;
/// Boltzmann constant k_B \[eV/K\] (k_B / e).
pub const K_B_EV: f64 = K_B / E_CHARGE;
/// Elementary charge e \[C\].
pub const E_CHARGE: f64 = 1.602_176_634e-19;
/// Avogadro constant N_A \[1/mol\].
pub const N_A: f64 = 6.022_140_76e23;
/// Faraday constant F = e·N_A \[C/mol\].
pub const FARADAY: f64 = E_CHARGE * N_A;
/// Molar gas constant R = k_B·N_A \[J/(mol·K)\].
pub const R_GAS: f64 = K_B * N_A;
/// Planck constant h \[J·s\].
pub const PLANCK: f64 = 6.626_070_15e-34;
/// Joules per electronvolt \[J/eV\].
pub const EV: f64 = E_CHARGE;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_constants_match_codata() {
        assert!((FARADAY - 96_485.332_12).abs() < 1e-5);
        assert!((R_GAS - 8.314_462_618).abs() < 1e-8);
        assert!((K_B_EV - 8.617_333_262e-5).abs() < 1e-14);
    }
}
