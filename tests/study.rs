//! Study files: binding model inputs to priors and fixed values, with unit checks, and clear
//! errors for unknown models, unbound inputs and unit mismatches.

use bridgelaw::model::{Model, evaluate};
use bridgelaw::study::parse_study;
use std::path::{Path, PathBuf};

fn study_path() -> PathBuf {
    // Relative priors paths resolve against the study's folder: pretend it lives in models/.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join("test_study.toml")
}

fn load(text: &str) -> Result<bridgelaw::study::Study, String> {
    parse_study(text, &study_path()).map_err(|e| e.to_string())
}

const BASE: &str = r#"
title = "LLZO D at 300 K"
priors = ["../priors/llzo_md_arrhenius.toml"]
[model]
law = "arrhenius"
[inputs]
T = { value = 300.0, unit = "K" }
"#;

#[test]
fn auto_binds_priors_by_name_and_fixes_the_rest() {
    let s = load(BASE).unwrap();
    assert_eq!(s.dist.names(), vec!["D0", "E_a"]);
    assert_eq!(s.model.inputs()[0].unit, "m^2/s");
    let x = s.dist.median_natural();
    let d = evaluate(&s.model, &x).unwrap()[0];
    // D(300 K) = 6.81e-9 cm²/s (shared/reference/atomistic_literature.md §3)
    assert!((d / 6.81e-13 - 1.0).abs() < 0.01, "{d}");
}

#[test]
fn converts_units_of_fixed_values_and_priors() {
    let text = BASE.replace(
        "T = { value = 300.0, unit = \"K\" }",
        "T = 300\nE_a = { prior = \"E_a\" }",
    );
    assert!(load(&text).is_ok());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "[[parameter]]\nname = \"D0\"\nunit = \"cm^2/s\"\ndistribution = \"lognormal\"\nmedian = 1e-4\nlog_sd = 0.2\n\
         [[parameter]]\nname = \"Ea\"\nunit = \"kJ/mol\"\ndistribution = \"normal\"\nmean = 25.0\nsd = 2.0\n",
    )
    .unwrap();
    let text = "priors = [\"p.toml\"]\n[model]\nlaw = \"arrhenius\"\n[inputs]\nT = 300.0\nE_a = { prior = \"Ea\" }\n";
    let s = parse_study(text, &dir.path().join("s.toml")).unwrap();
    let x = s.dist.median_natural();
    assert!(
        (x[0] - 1e-8).abs() < 1e-20,
        "D0 converted to m^2/s: {}",
        x[0]
    );
    assert!(
        (x[1] - 25.0 / 96.485_332_12).abs() < 1e-9,
        "E_a converted to eV: {}",
        x[1]
    );
    assert!((s.dist.sd_z()[1] - 2.0 / 96.485_332_12).abs() < 1e-9);
}

#[test]
fn unknown_law_is_named() {
    let e = load(&BASE.replace("law = \"arrhenius\"", "law = \"flux_capacitor\"")).unwrap_err();
    assert!(
        e.contains("test_study.toml") && e.contains("model.law") && e.contains("flux_capacitor"),
        "{e}"
    );
    assert!(e.contains("known laws:"), "{e}");
}

#[test]
fn unbound_input_is_named_with_its_unit() {
    let e = load(&BASE.replace("T = { value = 300.0, unit = \"K\" }", "")).unwrap_err();
    assert!(
        e.contains("inputs.T") && e.contains("unbound") && e.contains("[K]"),
        "{e}"
    );
}

#[test]
fn unit_mismatch_is_an_error() {
    let e = load(&BASE.replace("unit = \"K\"", "unit = \"eV\"")).unwrap_err();
    assert!(
        e.contains("inputs.T.unit") && e.contains("'K'") && e.contains("'eV'"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "[[parameter]]\nname = \"E_a\"\nunit = \"m\"\ndistribution = \"normal\"\nmean = 1.0\nsd = 0.1\n",
    )
    .unwrap();
    let text =
        "priors = \"p.toml\"\n[model]\nlaw = \"arrhenius\"\n[inputs]\nT = 300.0\nD0 = 1e-8\n";
    let e = parse_study(text, &dir.path().join("s.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("inputs.E_a") && e.contains("prior 'E_a' in 'm'") && e.contains("'eV'"),
        "{e}"
    );
}

#[test]
fn other_bad_studies() {
    let e = load(&BASE.replace("[inputs]", "[inputs]\nbogus = 1.0")).unwrap_err();
    assert!(
        e.contains("inputs.bogus") && e.contains("D0, E_a, T"),
        "{e}"
    );
    let e = load(&BASE.replace("llzo_md_arrhenius", "nonexistent")).unwrap_err();
    assert!(
        e.contains("nonexistent.toml") && e.contains("cannot read"),
        "{e}"
    );
    let e = load("[model]\nlaw = \"arrhenius\"\n[inputs]\nD0 = 1.0\nE_a = 0.1\nT = 300.0\n")
        .unwrap_err();
    assert!(e.contains("at least one input bound to a prior"), "{e}");
    let e = load("title = \"x\"\n").unwrap_err();
    assert!(e.contains("field 'model'"), "{e}");
    let e = load("[model\n").unwrap_err();
    assert!(e.contains("not a valid study TOML"), "{e}");
    // a misspelt engine section is refused, not ignored with the engine on its defaults
    let e = load(&format!("{BASE}[propogate]\nsamples = 10\n")).unwrap_err();
    assert!(
        e.contains("test_study.toml")
            && e.contains("unknown field `propogate`")
            && e.contains("`propagate`"),
        "{e}"
    );
    let e = load(&format!("titel = \"x\"\n{BASE}")).unwrap_err();
    assert!(e.contains("unknown field `titel`"), "{e}");
    // an sd on a fixed input is refused, not dropped
    let e = load(&BASE.replace("unit = \"K\" }", "unit = \"K\", sd = 5.0 }")).unwrap_err();
    assert!(
        e.contains("inputs.T.sd") && e.contains("priors file"),
        "{e}"
    );
}

/// Fixed inputs are checked at load: finite, and in the physical range of the model's unit
/// (an absolute temperature > 0 K), naming the field; not at the first sample.
#[test]
fn fixed_inputs_out_of_range_or_not_finite_are_refused_at_load() {
    for (t, needle) in [
        ("T = 0.0", "> 0"),
        ("T = -5", "> 0"),
        ("T = nan", "finite"),
        ("T = inf", "finite"),
        ("T = { value = -273.15, unit = \"K\" }", "> 0"),
        ("T = { value = nan, unit = \"K\" }", "finite"),
    ] {
        let text = BASE.replace("T = { value = 300.0, unit = \"K\" }", t);
        let e = load(&text).unwrap_err();
        assert!(
            e.contains("test_study.toml") && e.contains("inputs.T") && e.contains(needle),
            "{t}: {e}"
        );
    }
}

/// `thermal = "lumped"` in a cell study runs the lumped thermal model (the cell warms, so the
/// voltage late in a 2C discharge is above the isothermal one); a misspelt value and a BPX file
/// without thermal data are refused naming `model.thermal`.
#[test]
fn cell_study_with_the_lumped_thermal_model() {
    let study = |bpx: &str, thermal: &str| {
        format!(
            r#"
title = "thermal"
priors = ["../priors/graphite_exchange_current.toml"]
[model]
cell = "spm"
bpx = "{bpx}"
{thermal}
[[model.experiment]]
name = "2C"
temperature = 298.15
c_rate = 2.0
times = {{ start = 0.0, stop = 1500.0, n = 4 }}
[inputs]
E_a_k_n = {{ prior = "E_a_i0_n" }}
"#
        )
    };
    let with_thermal = "../data/pybamm/lgm50_chen2020_thermal.bpx.json";
    let run = |text: String| {
        let s = load(&text).unwrap();
        // (E_a_k_n at 50 kJ/mol, in the model's J/mol)
        evaluate(&s.model, &[50e3]).unwrap()
    };
    let iso = run(study(with_thermal, ""));
    let lumped = run(study(with_thermal, "thermal = \"lumped\""));
    let last = iso.len() - 1;
    assert!(
        lumped[last] > iso[last] + 0.005,
        "{} vs {}",
        lumped[last],
        iso[last]
    );
    let e = load(&study(with_thermal, "thermal = \"hot\"")).unwrap_err();
    assert!(e.contains("model.thermal") && e.contains("lumped"), "{e}");
    let e = load(&study(
        "cells/lgm50_chen2020.bpx.json",
        "thermal = \"lumped\"",
    ))
    .unwrap_err();
    assert!(e.contains("model.thermal") && e.contains("Density"), "{e}");
}
