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

/// Every unit a priors file or a fixed input may name: those of the exact conversions in
/// [`conversion_factor`] and those the laws and cell models declare for their inputs (a unit
/// test holds the list to the catalogue). Compared after [`canonical`].
pub const KNOWN: &[&str] = &[
    // energies
    "eV",
    "meV",
    "J",
    "kJ/mol",
    "J/mol",
    "eV/mol",
    "eV/K",
    "V/K",
    // transport and kinetics
    "m^2/s",
    "cm^2/s",
    "ln(m^2/s)",
    "A/m^2",
    "A m^-2 (m^3/mol)^1.5",
    "mol/(m^2*s)",
    "S/m",
    // lengths and amounts
    "m",
    "cm",
    "um",
    "µm",
    "nm",
    "A",
    "m^2",
    "cm^2",
    "nm^2",
    "A^2",
    "mol/m^3",
    "m^3/mol",
    "1/m^3",
    "J/m^2",
    // mechanics
    "Pa",
    "MPa",
    "GPa",
    "MPa*m^0.5",
    // rates, time, temperature, electric
    "Hz",
    "1/s",
    "s^-1",
    "THz",
    "s",
    "K",
    "1/K",
    "V",
    "Ohm",
    // thermal
    "W/m^2/K",
    "J/kg/K",
    // dimensionless
    "1",
    "-",
];

/// Whether `u` is one of the [`KNOWN`] units (after [`canonical`]).
pub fn is_known(u: &str) -> bool {
    let c = canonical(u);
    KNOWN.iter().any(|k| canonical(k) == c)
}

/// The [`KNOWN`] units as a comma-separated list, for messages.
pub fn known_list() -> String {
    KNOWN.join(", ")
}

/// A physical range: (words for messages, e.g. "> 0"; the test).
pub type PhysicalRange = (&'static str, fn(f64) -> bool);

/// The range any quantity in `unit` lies in, whatever the model, as (words for messages,
/// test): absolute temperatures, lengths, diffusivities, frequencies, conductivities and
/// capacities of a particle are > 0; concentrations ≥ 0. `None` for units whose quantities may
/// take any sign (energies, potentials, stresses, dimensionless numbers).
pub fn physical_range(unit: &str) -> Option<PhysicalRange> {
    fn positive(x: f64) -> bool {
        x > 0.0
    }
    fn non_negative(x: f64) -> bool {
        x >= 0.0
    }
    let c = canonical(unit);
    let is = |list: &[&str]| list.iter().any(|k| canonical(k) == c);
    if is(&[
        "K", "m", "cm", "um", "µm", "nm", "A", "m^2/s", "cm^2/s", "Hz", "1/s", "s^-1", "THz",
        "S/m", "J/kg/K",
    ]) {
        Some(("> 0", positive))
    } else if is(&["mol/m^3", "W/m^2/K"]) {
        // (a heat-transfer coefficient of 0: an adiabatic cell)
        Some(("≥ 0", non_negative))
    } else {
        None
    }
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

    #[test]
    fn physical_ranges_refuse_zero_kelvin_and_allow_negative_energies() {
        let (_, ok) = physical_range("K").unwrap();
        assert!(ok(298.15) && !ok(0.0) && !ok(-1.0) && !ok(f64::NAN));
        let (_, ok) = physical_range("mol/m^3").unwrap();
        assert!(ok(0.0) && !ok(-1.0));
        assert!(physical_range("eV").is_none() && physical_range("1").is_none());
    }

    #[test]
    fn known_units_cover_every_law_and_cell_input_and_no_misspelling() {
        for (name, _) in crate::laws::catalogue::law_catalogue() {
            // Laws that need options to build are covered by the ones that do not.
            if let Ok(law) = crate::laws::catalogue::build_law(name, &toml::Table::new()) {
                use crate::Model;
                for i in law.inputs() {
                    assert!(
                        is_known(&i.unit),
                        "law {name}: input {} in '{}'",
                        i.name,
                        i.unit
                    );
                }
            }
        }
        for (name, unit, _) in crate::cell::model::FREE_PARAMETERS {
            assert!(is_known(unit), "cell parameter {name} in '{unit}'");
        }
        assert!(is_known("Å") && is_known("m**2 / s") && is_known("1"));
        for bad in ["eVV", "furlong", "m2/s", "ev", ""] {
            assert!(!is_known(bad), "{bad}");
        }
    }
}
