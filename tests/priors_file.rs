//! Priors files: round trip, sampling reproduces the specified moments, and every kind of bad
//! input gives an error naming the file, the field and what was expected.

use bridgelaw::dist::file::{parse_priors, to_toml};
use bridgelaw::dist::sample::{draw_pseudo, draw_sobol};
use bridgelaw::dist::{JointDistribution, load_priors};
use std::path::Path;

const P: &str = "test.toml";

fn parse(text: &str) -> Result<JointDistribution, String> {
    parse_priors(text, Path::new(P)).map_err(|e| e.to_string())
}

fn err(text: &str) -> String {
    let e = parse(text).expect_err("expected an error");
    assert!(
        e.starts_with("test.toml: "),
        "error must name the file: {e}"
    );
    e
}

const GOOD: &str = r#"
title = "t"
source = "made up for a test"
[[parameter]]
name = "E_m"
unit = "eV"
distribution = "normal"
mean = 0.3
sd = 0.05
[[parameter]]
name = "nu0"
unit = "Hz"
distribution = "lognormal"
mean = 1e13
sd = 5e12
[[parameter]]
name = "alpha"
unit = "1"
distribution = "logitnormal"
lower = 0.0
upper = 1.0
mode = 0.4
sd = 0.1
[correlation]
names = ["E_m", "nu0", "alpha"]
matrix = [[1.0, 0.5, -0.2], [0.5, 1.0, 0.0], [-0.2, 0.0, 1.0]]
"#;

#[test]
fn shipped_priors_files_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("priors");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let d = load_priors(&p).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                !d.source.trim().is_empty(),
                "{} must cite its source",
                p.display()
            );
            n += 1;
        }
    }
    assert!(n >= 3);
}

#[test]
fn round_trip_through_toml() {
    let d = parse(GOOD).unwrap();
    let text = to_toml(&d);
    let e = parse(&text).unwrap();
    assert_eq!(d.names(), e.names());
    for i in 0..d.dim() {
        assert!((d.mean_z[i] - e.mean_z[i]).abs() < 1e-12 * d.mean_z[i].abs().max(1.0));
        for j in 0..d.dim() {
            assert!((d.cov_z[(i, j)] - e.cov_z[(i, j)]).abs() < 1e-12 * d.cov_z[(i, i)]);
        }
        assert_eq!(d.params[i].transform, e.params[i].transform);
        assert_eq!(d.params[i].unit, e.params[i].unit);
    }
}

#[test]
fn lognormal_mean_sd_is_converted_exactly() {
    let d = parse(GOOD).unwrap();
    let (m, s) = d.marginal_mean_sd(1);
    assert!(
        (m / 1e13 - 1.0).abs() < 1e-12 && (s / 5e12 - 1.0).abs() < 1e-12,
        "{m} {s}"
    );
}

/// 10^5 pseudo-random draws reproduce mean and covariance (transformed space) within Monte
/// Carlo error, and the natural-space marginal means.
#[test]
fn draws_reproduce_mean_and_covariance() {
    let d = parse(GOOD).unwrap();
    let n = 100_000;
    let k = d.dim();
    let x = draw_pseudo(&d, n, 7, 0);
    let z: Vec<Vec<f64>> = x
        .chunks_exact(k)
        .map(|r| {
            r.iter()
                .zip(&d.params)
                .map(|(v, p)| p.transform.to_unconstrained(*v).unwrap())
                .collect()
        })
        .collect();
    for i in 0..k {
        let m = z.iter().map(|r| r[i]).sum::<f64>() / n as f64;
        let se = d.cov_z[(i, i)].sqrt() / (n as f64).sqrt();
        assert!(
            (m - d.mean_z[i]).abs() < 4.0 * se,
            "mean {i}: {m} vs {}",
            d.mean_z[i]
        );
        for j in 0..k {
            let c = z
                .iter()
                .map(|r| (r[i] - d.mean_z[i]) * (r[j] - d.mean_z[j]))
                .sum::<f64>()
                / n as f64;
            // sd of a sample covariance ≈ sqrt((Σii Σjj + Σij²)/n)
            let se =
                ((d.cov_z[(i, i)] * d.cov_z[(j, j)] + d.cov_z[(i, j)].powi(2)) / n as f64).sqrt();
            assert!(
                (c - d.cov_z[(i, j)]).abs() < 4.0 * se,
                "cov {i}{j}: {c} vs {}",
                d.cov_z[(i, j)]
            );
        }
        let (mx, sx) = d.marginal_mean_sd(i);
        let m_nat = x.chunks_exact(k).map(|r| r[i]).sum::<f64>() / n as f64;
        assert!(
            (m_nat - mx).abs() < 5.0 * sx / (n as f64).sqrt(),
            "natural mean {i}"
        );
    }
    // Quasi-random draws: same moments, smaller error.
    let xq = draw_sobol(&d, 0, 1 << 14, 3);
    let mq = xq.chunks_exact(k).map(|r| r[0]).sum::<f64>() / (1 << 14) as f64;
    assert!((mq - 0.3).abs() < 1e-3);
}

#[test]
fn same_seed_same_draws_other_seed_other_draws() {
    let d = parse(GOOD).unwrap();
    assert_eq!(draw_pseudo(&d, 10, 1, 0), draw_pseudo(&d, 10, 1, 0));
    assert_ne!(draw_pseudo(&d, 10, 1, 0), draw_pseudo(&d, 10, 2, 0));
    assert_ne!(draw_pseudo(&d, 10, 1, 0), draw_pseudo(&d, 10, 1, 1));
}

fn two(extra: &str, corr: &str) -> String {
    format!(
        r#"
[[parameter]]
name = "a"
unit = "eV"
distribution = "normal"
mean = 1.0
sd = 0.1
{extra}
[[parameter]]
name = "b"
unit = "Hz"
distribution = "lognormal"
median = 1e12
log_sd = 0.5
{corr}
"#
    )
}

#[test]
fn bad_non_symmetric_covariance() {
    let e = err(&two(
        "",
        "[covariance]\nnames = [\"a\", \"b\"]\nmatrix = [[0.01, 0.001], [0.002, 0.25]]",
    ));
    assert!(
        e.contains("covariance") && e.contains("not symmetric"),
        "{e}"
    );
}

#[test]
fn bad_non_positive_definite_covariance_names_negative_eigenvalue() {
    let e = err(&two(
        "",
        "[covariance]\nnames = [\"a\", \"b\"]\nmatrix = [[0.01, 0.1], [0.1, 0.25]]",
    ));
    assert!(
        e.contains("not positive definite") && e.contains("eigenvalue is -"),
        "{e}"
    );
    assert!(e.contains('a') && e.contains('b'));
}

#[test]
fn bad_correlation_outside_unit_interval() {
    let e = err(&two(
        "",
        "[correlation]\nnames = [\"a\", \"b\"]\nmatrix = [[1.0, 1.2], [1.2, 1.0]]",
    ));
    assert!(
        e.contains("correlation.matrix[0][1]") && e.contains("[−1, 1]") && e.contains("1.2"),
        "{e}"
    );
}

#[test]
fn bad_correlation_not_positive_definite() {
    let text = format!(
        "{}\n[[parameter]]\nname = \"c\"\nunit = \"1\"\ndistribution = \"normal\"\nmean = 0\nsd = 1\n\
         [correlation]\nnames = [\"a\", \"b\", \"c\"]\nmatrix = [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]",
        two("", "")
    );
    let e = err(&text);
    assert!(e.contains("not positive definite"), "{e}");
}

#[test]
fn bad_matrix_size() {
    let e = err(&two(
        "",
        "[correlation]\nnames = [\"a\", \"b\"]\nmatrix = [[1.0, 0.1, 0.0], [0.1, 1.0, 0.0]]",
    ));
    assert!(
        e.contains("correlation.matrix[0]") && e.contains("2 columns"),
        "{e}"
    );
    let e = err(&two(
        "",
        "[correlation]\nnames = [\"a\", \"b\"]\nmatrix = [[1.0, 0.1]]",
    ));
    assert!(e.contains("2 rows"), "{e}");
}

#[test]
fn bad_duplicate_and_unknown_names() {
    let text = two("", "").replace("name = \"b\"", "name = \"a\"");
    let e = err(&text);
    assert!(
        e.contains("'a' appears more than once") && e.contains("parameter[1]"),
        "{e}"
    );
    let e = err(&two(
        "",
        "[correlation]\nnames = [\"a\", \"c\"]\nmatrix = [[1.0, 0.1], [0.1, 1.0]]",
    ));
    assert!(
        e.contains("unknown parameter name 'c'") && e.contains("known: a, b"),
        "{e}"
    );
    let e = err(&two(
        "",
        "[correlation]\nnames = [\"a\", \"a\"]\nmatrix = [[1.0, 0.1], [0.1, 1.0]]",
    ));
    assert!(e.contains("more than once"), "{e}");
}

#[test]
fn bad_non_positive_sd() {
    let e = err(&two("", "").replace("sd = 0.1", "sd = 0.0"));
    assert!(
        e.contains("parameter[0] (a).sd") && e.contains("> 0"),
        "{e}"
    );
    let e = err(&two("", "").replace("log_sd = 0.5", "log_sd = -0.5"));
    assert!(e.contains("parameter[1] (b).log_sd"), "{e}");
}

#[test]
fn bad_log_transform_on_non_positive_value() {
    let e = err(&two("", "").replace("median = 1e12", "median = -3.0"));
    assert!(
        e.contains("parameter[1] (b).median") && e.contains("> 0") && e.contains("-3"),
        "{e}"
    );
    let text = two("", "").replace("median = 1e12\nlog_sd = 0.5", "mean = 0.0\nsd = 1.0");
    let e = err(&text);
    assert!(e.contains("parameter[1] (b).mean"), "{e}");
}

#[test]
fn bad_bounds() {
    let text = r#"
[[parameter]]
name = "alpha"
unit = "1"
distribution = "logitnormal"
lower = 1.0
upper = 0.0
mode = 0.5
sd = 0.1
"#;
    let e = err(text);
    assert!(e.contains("upper") && e.contains("upper > lower"), "{e}");
    let e = err(&text
        .replace("lower = 1.0\nupper = 0.0", "lower = 0.0\nupper = 1.0")
        .replace("mode = 0.5", "mode = 1.5"));
    assert!(e.contains("mode") && e.contains("strictly inside"), "{e}");
}

#[test]
fn bad_nan_and_inf() {
    let e = err(&two("", "").replace("mean = 1.0", "mean = nan"));
    assert!(
        e.contains("parameter[0] (a).mean") && e.contains("finite"),
        "{e}"
    );
    let e = err(&two("", "").replace("sd = 0.1", "sd = inf"));
    assert!(e.contains("parameter[0] (a).sd"), "{e}");
    let e = err(&two(
        "",
        "[correlation]\nnames = [\"a\", \"b\"]\nmatrix = [[1.0, nan], [nan, 1.0]]",
    ));
    assert!(
        e.contains("correlation.matrix") && e.contains("finite"),
        "{e}"
    );
    let e = err(&two(
        "",
        "[covariance]\nnames = [\"a\", \"b\"]\nmatrix = [[0.01, inf], [inf, 0.25]]",
    ));
    assert!(
        e.contains("covariance.matrix") && e.contains("finite"),
        "{e}"
    );
}

#[test]
fn bad_missing_unit() {
    let e = err(&two("", "").replace("unit = \"Hz\"\n", ""));
    assert!(
        e.contains("parameter[1] (b).unit") && e.contains("expected a unit"),
        "{e}"
    );
}

#[test]
fn bad_empty_or_truncated_file() {
    let e = err("");
    assert!(e.contains("at least one [[parameter]]"), "{e}");
    let full = two("", "");
    let cut = &full[..full.find("log_sd").unwrap() + 4];
    let e = err(cut);
    assert!(e.contains("not a valid priors TOML file"), "{e}");
    let e = err("[[parameter]]\nname = \"a\"\n");
    assert!(e.contains("unit"), "{e}");
}

#[test]
fn bad_unknown_distribution_and_field() {
    let e = err(&two("", "").replace("distribution = \"normal\"", "distribution = \"gamma\""));
    assert!(
        e.contains("parameter[0] (a).distribution") && e.contains("\"gamma\""),
        "{e}"
    );
    let e = err(&two("sdd = 3", ""));
    assert!(e.contains("unknown field") && e.contains("sdd"), "{e}");
}

#[test]
fn covariance_and_sd_must_agree() {
    let e = err(&two(
        "",
        "[covariance]\nnames = [\"a\", \"b\"]\nmatrix = [[0.04, 0.0], [0.0, 0.25]]",
    ));
    assert!(
        e.contains("parameter[0] (a).sd") && e.contains("implied by [covariance]"),
        "{e}"
    );
    let ok = two(
        "",
        "[covariance]\nnames = [\"a\", \"b\"]\nmatrix = [[0.01, 0.02], [0.02, 0.25]]",
    );
    let d = parse(&ok).unwrap();
    assert!((d.correlation()[(0, 1)] - 0.4).abs() < 1e-12);
}

/// A second way of giving a marginal's location and spread is refused, not silently dropped.
#[test]
fn bad_over_specified_marginal() {
    let e = err(&GOOD.replace(
        "mean = 1e13\nsd = 5e12",
        "mean = 1e13\nsd = 5e12\nlog_sd = 0.4",
    ));
    assert!(
        e.contains("parameter[1] (nu0).log_sd") && e.contains("mean, sd"),
        "{e}"
    );
    let e = err(&GOOD.replace("mode = 0.4", "mode = 0.4\nmedian = 0.5"));
    assert!(
        e.contains("parameter[2] (alpha).sd") && e.contains("logit_sd"),
        "{e}"
    );
    let e = err(&GOOD.replace("mean = 0.3", "mean = 0.3\nmedian = 0.3"));
    assert!(e.contains("parameter[0] (E_m).median"), "{e}");
}
