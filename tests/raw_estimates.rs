//! Building distributions from raw atomistic results: replicas, block averaging, Arrhenius fits,
//! and the CSV errors that name row and column.

use bridgelaw::constants::K_B_EV;
use bridgelaw::dist::estimate::{arrhenius_fit, block_average, from_replicas, parse_numeric_csv};
use bridgelaw::dist::sample::{fill_standard_normals, stream_rng};
use std::path::Path;

#[test]
fn replicas_give_mean_and_covariance_of_the_mean() {
    let text = "E_m [eV],nu0 [THz]\n0.30,5.0\n0.32,6.0\n0.28,4.5\n0.31,5.5\n";
    let t = parse_numeric_csv(text, Path::new("r.csv")).unwrap();
    let d = from_replicas(&t, &[], "t", "s").unwrap();
    assert!((d.mean_z[0] - 0.3025).abs() < 1e-12);
    // sample variance of E_m = 0.000291666..., divided by n = 4
    let var = [0.30f64, 0.32, 0.28, 0.31]
        .iter()
        .map(|v| (v - 0.3025).powi(2))
        .sum::<f64>()
        / 3.0;
    assert!((d.cov_z[(0, 0)] - var / 4.0).abs() < 1e-15);
    assert_eq!(d.params[1].unit, "THz");
}

#[test]
fn replicas_need_units_and_enough_rows() {
    let t = parse_numeric_csv("E_m,nu0\n0.3,5\n0.31,6\n0.29,5.5\n", Path::new("r.csv")).unwrap();
    let e = from_replicas(&t, &[], "", "").unwrap_err().to_string();
    assert!(
        e.contains("r.csv") && e.contains("column 1") && e.contains("unit"),
        "{e}"
    );
    let ok = from_replicas(
        &t,
        &[("E_m".into(), "eV".into()), ("nu0".into(), "THz".into())],
        "",
        "",
    );
    assert!(ok.is_ok());
    let t = parse_numeric_csv("a [eV],b [eV]\n1,2\n", Path::new("r.csv")).unwrap();
    assert!(
        from_replicas(&t, &[], "", "")
            .unwrap_err()
            .to_string()
            .contains("at least 3 replica rows")
    );
}

#[test]
fn csv_errors_name_row_and_column() {
    let e = parse_numeric_csv("a [eV],b [eV]\n1,2\n3\n", Path::new("x.csv"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("x.csv") && e.contains("row 3") && e.contains("1 fields, expected 2"),
        "{e}"
    );
    let e = parse_numeric_csv("a [eV],b [eV]\n1,2\n3,four\n", Path::new("x.csv"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("row 3, column 2 ('b')") && e.contains("'four'"),
        "{e}"
    );
    let e = parse_numeric_csv("a [eV]\nNaN\n", Path::new("x.csv"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("row 2, column 1") && e.contains("finite"), "{e}");
    let e = parse_numeric_csv("", Path::new("x.csv"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("x.csv") && e.contains("header"), "{e}");
}

/// AR(1) x_t = φ x_{t−1} + e_t with unit innovations: Var(x) = 1/(1−φ²) and, for large N,
/// Var(mean) = Var(x)/N · (1+φ)/(1−φ). Block averaging must find that within its error.
#[test]
fn block_averaging_recovers_ar1_variance_of_the_mean() {
    let phi: f64 = 0.9;
    let n = 1 << 18;
    let mut rng = stream_rng(11, 0);
    let mut e = vec![0.0; n];
    fill_standard_normals(&mut rng, &mut e);
    let mut x = vec![0.0; n];
    x[0] = e[0] / (1.0 - phi * phi).sqrt();
    for t in 1..n {
        x[t] = phi * x[t - 1] + e[t];
    }
    let b = block_average(&x).unwrap();
    let exact = (1.0 / (1.0 - phi * phi) / n as f64 * (1.0 + phi) / (1.0 - phi)).sqrt();
    assert!(b.converged);
    // The naive estimate (block length 1) is ~sqrt(19) ≈ 4.4 times too small.
    assert!(b.levels[0].std_error < 0.3 * exact);
    let tol = 3.0 * b.plateau.std_error_uncertainty + 0.05 * exact;
    assert!(
        (b.std_error - exact).abs() < tol,
        "{} vs exact {exact} (level {:?})",
        b.std_error,
        b.plateau
    );
    // Statistical inefficiency (1+φ)/(1−φ) = 19 samples per independent one.
    let s = b.statistical_inefficiency().unwrap();
    assert!(
        (s - 19.0).abs() < 0.2 * 19.0,
        "statistical inefficiency {s}"
    );
}

#[test]
fn block_averaging_of_white_noise_is_the_naive_error() {
    let mut rng = stream_rng(3, 0);
    let mut x = vec![0.0; 1 << 14];
    fill_standard_normals(&mut rng, &mut x);
    let b = block_average(&x).unwrap();
    assert_eq!(b.plateau.block_length, 1);
    assert_eq!(b.statistical_inefficiency(), Some(1.0));
    assert!(block_average(&x[..10]).is_none());
}

/// A case computed by hand: three exact points on ln D = ln D0 − E_a/(k_B T) with equal relative
/// errors give the generating parameters, χ² = 0, and the textbook unweighted-regression
/// covariance σ²·(XᵀX)⁻¹ with σ = the relative error.
#[test]
fn arrhenius_fit_hand_case() {
    let (ln_d0, e_a) = (-16.0, 0.5);
    let t = [400.0, 500.0, 800.0];
    let d: Vec<f64> = t
        .iter()
        .map(|&tk| (ln_d0 - e_a / (K_B_EV * tk)).exp())
        .collect();
    let rel = 0.1;
    let sd: Vec<f64> = d.iter().map(|v| rel * v).collect();
    let f = arrhenius_fit(&t, &d, &sd).unwrap();
    assert!((f.ln_d0 - ln_d0).abs() < 1e-9 && (f.e_a - e_a).abs() < 1e-10);
    assert!(f.chi2 < 1e-15 && f.dof == 1);
    let x: Vec<f64> = t.iter().map(|&tk| 1.0 / (K_B_EV * tk)).collect();
    let n = 3.0;
    let sx: f64 = x.iter().sum();
    let sxx: f64 = x.iter().map(|v| v * v).sum();
    let det = n * sxx - sx * sx;
    let var_e = rel * rel * n / det;
    let var_a = rel * rel * sxx / det;
    let cov = rel * rel * sx / det; // cov(ln D0, E_a) = −cov(a, b) with b = −E_a
    assert!((f.cov[1][1] - var_e).abs() < 1e-12 * var_e);
    assert!((f.cov[0][0] - var_a).abs() < 1e-12 * var_a);
    assert!((f.cov[0][1] - cov).abs() < 1e-12 * cov.abs());
    assert!(
        f.correlation() > 0.9,
        "ln D0 and E_a are positively correlated"
    );
}
