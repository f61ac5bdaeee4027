//! Unit strings and the few exact conversions between the units atomistic and continuum codes
//! use. A unit that is neither equal nor convertible is a mismatch (an error, never a guess).

use crate::constants::{EV, N_A};

/// Canonical spelling: spaces removed, `**` → `^`, `·` → `*`, `Å`/`Angstrom` → `A`.
pub fn canonical(u: &str) -> String {
    u.replace(' ', "")
        .replace("**", "^")
        .replace('·', "*")
        .replace("Å", "A")
        .replace("Angstrom", "A")
        .replace("angstrom", "A")
}

/// Factor c with value_in_`to` = c · value_in_`from`, if the units are the same or one of the
/// known exact conversions apply.
pub fn conversion_factor(from: &str, to: &str) -> Option<f64> {
    let (f, t) = (canonical(from), canonical(to));
    if f == t {
        return Some(1.0);
    }
    let scale = |u: &str| -> Option<(&'static str, f64)> {
        Some(match u {
            "eV" => ("J", EV),
            "meV" => ("J", 1e-3 * EV),
            "J" => ("J", 1.0),
            "kJ/mol" => ("J/mol", 1e3),
            "J/mol" => ("J/mol", 1.0),
            "eV/mol" => ("J/mol", EV),
            "m^2/s" => ("m^2/s", 1.0),
            "cm^2/s" => ("m^2/s", 1e-4),
            "m" => ("m", 1.0),
            "cm" => ("m", 1e-2),
            "um" | "µm" => ("m", 1e-6),
            "nm" => ("m", 1e-9),
            "A" => ("m", 1e-10),
            "Pa" => ("Pa", 1.0),
            "MPa" => ("Pa", 1e6),
            "GPa" => ("Pa", 1e9),
            "Hz" | "1/s" | "s^-1" => ("Hz", 1.0),
            "THz" => ("Hz", 1e12),
            "K" => ("K", 1.0),
            "1" | "" | "-" => ("1", 1.0),
            _ => return None,
        })
    };
    let (bf, cf) = scale(&f)?;
    let (bt, ct) = scale(&t)?;
    if bf == bt {
        Some(cf / ct)
    } else if bf == "J" && bt == "J/mol" {
        // per particle → per mole
        Some(cf * N_A / ct)
    } else if bf == "J/mol" && bt == "J" {
        Some(cf / N_A / ct)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(conversion_factor("eV", "eV"), Some(1.0));
        assert_eq!(conversion_factor("m^2 / s", "m**2/s"), Some(1.0));
        assert!((conversion_factor("cm^2/s", "m^2/s").unwrap() - 1e-4).abs() < 1e-20);
        assert!((conversion_factor("eV", "kJ/mol").unwrap() - 96.485_332_12).abs() < 1e-6);
        assert!((conversion_factor("Å", "m").unwrap() - 1e-10).abs() < 1e-25);
        assert_eq!(conversion_factor("eV", "m"), None);
        assert_eq!(conversion_factor("furlong", "m"), None);
    }
}
