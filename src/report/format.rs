//! Numbers, units and labels as the report prints them, in one place.
//!
//! A value with an uncertainty is rounded by its uncertainty: the sd to two significant digits,
//! the value to the same decimal (`3.45 ± 0.10 V`). Scientific form is used only when the
//! magnitude needs it (outside 10⁻³ … 10⁵), with one exponent shared by every number of the
//! quantity: `(3.45 ± 0.10) × 10⁻¹⁴ m²/s`, `[3.25, 3.65] × 10⁻¹⁴ m²/s`; never `e0`. Units are
//! printed with superscripts (`m^2/s` → `m²/s`) and dimensionless values (`1`) carry none.
//! Labels turn the model's internal names into what a reader expects (`U[x=0.9899999999999999]`
//! → `U at x = 0.99`).

/// A no-break space: a quantity (`3.45 ± 0.10 V`) does not wrap inside a table cell.
pub const NBSP: char = '\u{a0}';

/// Magnitudes printed without an exponent: 10⁻³ ≤ |v| < 10⁵.
const PLAIN: std::ops::Range<f64> = 1e-3..1e5;

/// An integer as Unicode superscript digits (`-14` → `⁻¹⁴`).
pub fn superscript(n: i32) -> String {
    n.to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            '9' => '⁹',
            c => c,
        })
        .collect()
}

/// A unit as printed: `^n` exponents as superscripts, `1` (dimensionless) and blank as nothing.
pub fn unit(u: &str) -> String {
    let u = u.trim();
    if matches!(u, "" | "1" | "-" | "dimensionless") {
        return String::new();
    }
    let mut out = String::new();
    let mut chars = u.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '^' {
            let mut digits = String::new();
            while let Some(&d) = chars.peek() {
                if d.is_ascii_digit() || (d == '-' && digits.is_empty()) {
                    digits.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            match digits.parse::<i32>() {
                Ok(n) => out.push_str(&superscript(n)),
                Err(_) => {
                    out.push('^');
                    out.push_str(&digits);
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` followed by its unit (none for a dimensionless value).
pub fn with_unit(text: &str, u: &str) -> String {
    let u = unit(u);
    if u.is_empty() {
        text.to_string()
    } else {
        format!("{text}{NBSP}{u}")
    }
}

/// An axis or column label: `name (unit)`, or the name alone when dimensionless.
pub fn axis_label(name: &str, u: &str) -> String {
    let u = unit(u);
    if u.is_empty() {
        name.to_string()
    } else {
        format!("{name} ({u})")
    }
}

/// `v` rounded to `sig` significant digits.
fn round_sig(v: f64, sig: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let e = v.abs().log10().floor() as i32;
    let f = 10f64.powi(sig - 1 - e);
    (v * f).round() / f
}

fn decade(v: f64) -> i32 {
    if v == 0.0 || !v.is_finite() {
        0
    } else {
        v.abs().log10().floor() as i32
    }
}

/// How the numbers of one quantity are printed: a shared power of ten and the decimals after
/// scaling by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// Power of ten factored out (0: plain).
    pub exp: i32,
    /// Decimals of the scaled numbers; negative: rounded to tens (−1), hundreds (−2), ….
    pub decimals: i32,
}

impl Scale {
    /// The scale of a value with standard deviation `sd` (same unit): the sd to two significant
    /// digits, the value to the same decimal. A zero or non-finite sd prints four significant
    /// digits of the value.
    pub fn of(value: f64, sd: f64) -> Scale {
        let big = value.abs().max(if sd.is_finite() { sd.abs() } else { 0.0 });
        let exp = if big == 0.0 || PLAIN.contains(&big) {
            0
        } else {
            decade(big)
        };
        let last = if sd.is_finite() && sd > 0.0 {
            // Decade of the sd's second significant digit (after rounding: 0.0999 → 0.10).
            decade(round_sig(sd, 2)) - 1
        } else if value != 0.0 && value.is_finite() {
            decade(value) - 3
        } else {
            0
        };
        Scale {
            exp,
            decimals: exp - last,
        }
    }

    /// The scale for an interval `[lo, hi]` alone: enough digits that the ends differ (two
    /// significant digits of the width).
    pub fn of_interval(lo: f64, hi: f64) -> Scale {
        let w = (hi - lo).abs();
        let mid = lo.abs().max(hi.abs());
        if w > 0.0 && w.is_finite() {
            Scale::of(mid, w / 2.0)
        } else {
            Scale::of(mid, 0.0)
        }
    }

    /// This scale, with enough decimals that `v` keeps two significant digits (at most three
    /// more): a median or interval end far below the sd (a skewed positive quantity) is not
    /// rounded to 0.
    fn at_least_two_digits(&self, v: f64) -> Scale {
        let s = v / 10f64.powi(self.exp);
        if s == 0.0 || !s.is_finite() {
            return *self;
        }
        let need = 1 - decade(s);
        Scale {
            exp: self.exp,
            decimals: self.decimals.max(need.min(self.decimals.max(0) + 3)),
        }
    }

    fn scaled(&self, v: f64) -> String {
        if !v.is_finite() {
            return "–".into();
        }
        let mut s = v / 10f64.powi(self.exp);
        if self.decimals < 0 {
            let f = 10f64.powi(-self.decimals);
            s = (s / f).round() * f;
        }
        let d = self.decimals.max(0) as usize;
        let t = format!("{s:.d$}");
        // No "-0.00".
        if t.trim_start_matches('-')
            .chars()
            .all(|c| c == '0' || c == '.')
        {
            t.trim_start_matches('-').to_string()
        } else {
            t.replace('-', "−")
        }
    }

    fn times(&self) -> String {
        if self.exp == 0 {
            String::new()
        } else {
            format!("{NBSP}×{NBSP}10{}", superscript(self.exp))
        }
    }

    /// One number on this scale (at least two significant digits): `3.44` or `3.44 × 10⁻¹⁴`.
    pub fn num(&self, v: f64) -> String {
        format!("{}{}", self.at_least_two_digits(v).scaled(v), self.times())
    }

    /// `v ± sd` on this scale: `3.45 ± 0.10` or `(3.45 ± 0.10) × 10⁻¹⁴`.
    pub fn pm(&self, v: f64, sd: f64) -> String {
        if self.exp == 0 {
            format!("{}{NBSP}±{NBSP}{}", self.scaled(v), self.scaled(sd))
        } else {
            format!(
                "({}{NBSP}±{NBSP}{}){}",
                self.scaled(v),
                self.scaled(sd),
                self.times()
            )
        }
    }

    /// `[lo, hi]` on this scale, each end to at least two significant digits, widened by
    /// digits until the two ends differ.
    pub fn interval(&self, lo: f64, hi: f64) -> String {
        let (mut a, mut b) = (self.at_least_two_digits(lo), self.at_least_two_digits(hi));
        while lo != hi && a.scaled(lo) == b.scaled(hi) && a.decimals < 12 {
            a.decimals += 1;
            b.decimals = b.decimals.max(a.decimals);
        }
        format!("[{}, {}]{}", a.scaled(lo), b.scaled(hi), self.times())
    }
}

/// A value with its sd and unit, rounded by the sd: `3.45 ± 0.10 V`,
/// `(3.45 ± 0.10) × 10⁻¹⁴ m²/s`.
pub fn value_sd(v: f64, sd: f64, u: &str) -> String {
    with_unit(&Scale::of(v, sd).pm(v, sd), u)
}

/// A value without an uncertainty, to four significant digits: `0.2930`, `5.000 × 10¹²`.
pub fn num(v: f64) -> String {
    Scale::of(v, 0.0).num(v)
}

/// A value without an uncertainty with its unit.
pub fn num_unit(v: f64, u: &str) -> String {
    with_unit(&num(v), u)
}

/// An interval with its unit, its ends to two significant digits of its width.
pub fn interval(lo: f64, hi: f64, u: &str) -> String {
    with_unit(&Scale::of_interval(lo, hi).interval(lo, hi), u)
}

/// A percentage to one decimal (`12.3 %`); "–" when not finite.
pub fn percent(fraction: f64) -> String {
    if fraction.is_finite() {
        format!("{:.1} %", 100.0 * fraction).replace('-', "−")
    } else {
        "–".into()
    }
}

/// An axis tick: the shortest of up to four significant digits, `2.5 × 10⁻¹²` outside
/// 10⁻³ … 10⁵; 0 as `0`.
pub fn tick(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v == 0.0 { "0".into() } else { String::new() };
    }
    let a = v.abs();
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if PLAIN.contains(&a) {
        trim(format!("{v:.4}")).replace('-', "−")
    } else {
        let e = decade(v);
        let m = trim(format!("{:.3}", v / 10f64.powi(e))).replace('-', "−");
        if m == "1" {
            format!("10{}", superscript(e))
        } else {
            format!("{m}×10{}", superscript(e))
        }
    }
}

/// Axis ticks for an axis spanning `lo … hi`: values closer to 0 than 10⁻⁹ of the span are the
/// rounding noise of a tick placed at 0 and print as `0`.
pub fn tick_in(v: f64, lo: f64, hi: f64) -> String {
    let span = (hi - lo).abs();
    if span > 0.0 && v.abs() < 1e-9 * span {
        "0".into()
    } else {
        tick(v)
    }
}

/// A curve's name without a trailing `_vs_<axis>` (`D_tr_vs_T` on a T axis → `D_tr`), as a
/// reader reads it ([`name`]).
pub fn curve_name(n: &str, axis: &str) -> String {
    name(n.strip_suffix(&format!("_vs_{axis}")).unwrap_or(n))
}

/// A CamelCase variant name in words: `SamplesExhausted` → `samples exhausted`.
pub fn words(camel: &str) -> String {
    let mut s = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            s.push(' ');
        }
        s.extend(c.to_lowercase());
    }
    s
}

/// A human label for a flat output of a curve: `U at x = 0.99` for the model's
/// `U[x=0.9899999999999999]`; other labels pass through [`name`].
pub fn label(l: &str) -> String {
    if let Some(open) = l.find('[')
        && l.ends_with(']')
    {
        let base = &l[..open];
        let inner = &l[open + 1..l.len() - 1];
        if let Some((axis, val)) = inner.split_once('=')
            && let Ok(v) = val.trim().parse::<f64>()
        {
            return format!("{} at {} = {}", name(base), axis.trim(), tick(v));
        }
        return format!("{} ({})", name(base), inner);
    }
    name(l)
}

/// A model name as a reader reads it: a cell chain's `capacity_1C_25C` → `capacity, 1C_25C`
/// (the experiment's own name kept), `V_1C_25C_at_3000s` → `V at t = 3000 s, 1C_25C`,
/// `D_tr_vs_T` → `D_tr vs T`; a symbol with one subscript (`E_m`, `D_tr`) stays as written, and
/// a longer snake-case name reads as a symbol with a qualifier (`E_a_i0_n` → `E_a (i0 n)`).
pub fn name(n: &str) -> String {
    if let Some(rest) = n.strip_prefix("ln_") {
        return format!("ln {}", name(rest));
    }
    if let Some(exp) = n.strip_prefix("sigma_") {
        return format!("noise sd, {exp}");
    }
    for prefix in ["voltage", "capacity", "energy"] {
        if let Some(exp) = n.strip_prefix(prefix).and_then(|r| r.strip_prefix('_'))
            && !exp.is_empty()
        {
            return format!("{prefix}, {exp}");
        }
    }
    if let Some(rest) = n.strip_prefix("V_")
        && let Some((exp, t)) = rest.rsplit_once("_at_")
        && let Some(t) = t.strip_suffix('s')
        && t.parse::<f64>().is_ok()
    {
        return format!("V at t = {t} s, {exp}");
    }
    let n = n.replace("_vs_invT", " vs 1/T").replace("_vs_", " vs ");
    n.split(' ')
        .map(|w| {
            if w.matches('_').count() >= 2 {
                let mut parts = w.splitn(3, '_');
                let a = parts.next().unwrap_or("");
                let b = parts.next().unwrap_or("");
                let rest = parts.next().unwrap_or("").replace('_', " ");
                if a.len() <= 2 && b.len() <= 3 {
                    format!("{a}_{b} ({rest})")
                } else {
                    format!("{a} {b} {rest}")
                }
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_sd(v: f64, sd: f64, u: &str) -> String {
        super::value_sd(v, sd, u).replace(NBSP, " ")
    }

    fn interval(lo: f64, hi: f64, u: &str) -> String {
        super::interval(lo, hi, u).replace(NBSP, " ")
    }

    fn num(v: f64) -> String {
        super::num(v).replace(NBSP, " ")
    }

    #[test]
    fn value_rounded_by_its_sd() {
        assert_eq!(value_sd(3.4494, 0.0989, "V"), "3.449 ± 0.099 V");
        assert_eq!(value_sd(3.4494, 0.0999, "V"), "3.45 ± 0.10 V");
        assert_eq!(
            value_sd(3.4494e-14, 0.0999e-14, "m^2/s"),
            "(3.45 ± 0.10) × 10⁻¹⁴ m²/s"
        );
        assert_eq!(value_sd(0.293, 0.03, "eV"), "0.293 ± 0.030 eV");
        assert_eq!(value_sd(45_600.0, 1234.0, "1"), "45600 ± 1200");
        assert_eq!(value_sd(17.6013, 0.00042, "W h"), "17.60130 ± 0.00042 W h");
        assert_eq!(value_sd(-2.5, 0.0, ""), "−2.500 ± 0.000");
        // Never an exponent zero.
        for v in [1.0, 3.0, 0.5, 9.99, 1e5, 1e-3, 2e-4] {
            let s = value_sd(v, v / 10.0, "1");
            assert!(!s.contains("e0") && !s.contains("10⁰"), "{s}");
        }
    }

    #[test]
    fn intervals_show_their_width() {
        assert_eq!(interval(17.601, 17.6034, "W h"), "[17.6010, 17.6034] W h");
        assert_eq!(
            interval(3.2e-14, 3.7e-14, "m^2/s"),
            "[3.20, 3.70] × 10⁻¹⁴ m²/s"
        );
        let s = Scale::of(17.6, 0.5);
        assert_eq!(s.interval(17.601, 17.6034), "[17.601, 17.603]");
        // A skewed positive quantity: the lower end keeps two digits instead of rounding to 0.
        let s = Scale::of(1.1e-11, 2.9e-11);
        assert_eq!(
            s.interval(2.0e-13, 5.3e-11).replace(NBSP, " "),
            "[0.020, 5.3] × 10⁻¹¹"
        );
        assert_eq!(s.num(0.52e-11).replace(NBSP, " "), "0.52 × 10⁻¹¹");
        assert_eq!(words("SamplesExhausted"), "samples exhausted");
        assert_eq!(curve_name("D_tr_vs_T", "T"), "D_tr");
    }

    #[test]
    fn units_and_labels() {
        assert_eq!(unit("m^2/s"), "m²/s");
        assert_eq!(unit("m^-3"), "m⁻³");
        assert_eq!(unit("1"), "");
        assert_eq!(axis_label("θ", "1"), "θ");
        assert_eq!(label("U[x=0.9899999999999999]"), "U at x = 0.99");
        assert_eq!(name("D_tr_vs_T"), "D_tr vs T");
        assert_eq!(name("E_m"), "E_m");
        assert_eq!(name("capacity_1C_25C"), "capacity, 1C_25C");
        assert_eq!(name("V_1C_25C_at_3000s"), "V at t = 3000 s, 1C_25C");
        assert_eq!(name("E_a_i0_n"), "E_a (i0 n)");
        assert_eq!(name("ln_D_tr_vs_invT"), "ln D_tr vs 1/T");
        assert_eq!(name("sigma_1C_25C"), "noise sd, 1C_25C");
        assert_eq!(tick(-8.7e-19), "−8.7×10⁻¹⁹");
        assert_eq!(tick_in(-8.7e-19, -0.005, 0.005), "0");
        assert_eq!(tick(1e-12), "10⁻¹²");
        assert_eq!(tick(250.0), "250");
        assert_eq!(num(5e12), "5.000 × 10¹²");
    }
}
