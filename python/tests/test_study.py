"""Studies and priors from files or dicts; propagate() and sensitivity() on them."""

import numpy as np
import pytest

import bridgelaw
from conftest import REPO

NEB = REPO / "models" / "graphite_diffusivity_neb.toml"


def test_study_from_a_dict_gives_the_law_at_the_prior_medians():
    study_dict = {
        "title": "NEB diffusivity (dict)",
        "priors": [str(REPO / "priors" / "graphite_neb.toml")],
        "model": {"law": "tracer_diffusivity", "options": {"d": 2}},
        "inputs": {
            "E_m": "prior",
            "nu0": "prior",
            "a": {"value": 2.46, "unit": "A"},
            "f": 1.0,
            "z": 6.0,
            "T": {"value": 298.15, "unit": "K"},
        },
    }
    s = bridgelaw.load_study(study_dict)
    assert sorted(p["name"] for p in s.parameters) == ["E_m", "nu0"]
    r = bridgelaw.propagate(s, method="delta")
    d = r.results["delta"]
    i = d["labels"].index("D_tr")
    # D_tr = f z a² ν0 exp(−E_m/kT)/(2d) at the medians
    k_b = 8.617333262e-5
    expected = 6 * (2.46e-10) ** 2 * 5e12 * np.exp(-0.293 / (k_b * 298.15)) / 4
    assert d["mean"][i] == pytest.approx(expected, rel=1e-6)


NEB_PRIORS = {
    "title": "NEB (dict)",
    "parameter": [
        {"name": "E_m", "unit": "eV", "distribution": "normal", "mean": 0.293, "sd": 0.03},
        {"name": "nu0", "unit": "Hz", "distribution": "lognormal", "median": 5.0e12, "log_sd": 0.8},
    ],
    "correlation": {"names": ["E_m", "nu0"], "matrix": [[1.0, 0.3], [0.3, 1.0]]},
}


def neb_study(priors):
    return {
        "title": "NEB diffusivity (dict)",
        "priors": priors,
        "model": {"law": "tracer_diffusivity", "options": {"d": 2}},
        "inputs": {
            "E_m": "prior",
            "nu0": "prior",
            "a": {"value": 2.46, "unit": "A"},
            "f": 1.0,
            "z": 6.0,
            "T": {"value": 298.15, "unit": "K"},
        },
    }


def test_a_study_dict_with_embedded_priors_equals_the_one_naming_the_file():
    """priors as a dict, a Priors object or a list mixing them with paths: the same study (the
    dict restates priors/graphite_neb.toml) as the file's."""
    ref = bridgelaw.propagate(neb_study([str(REPO / "priors" / "graphite_neb.toml")]), method="delta")
    for priors in [NEB_PRIORS, [NEB_PRIORS], bridgelaw.load_priors(NEB_PRIORS), (bridgelaw.load_priors(NEB_PRIORS),)]:
        r = bridgelaw.propagate(neb_study(priors), method="delta")
        assert r.results["delta"]["mean"] == ref.results["delta"]["mean"], type(priors)
        assert r.results["delta"]["sd"] == ref.results["delta"]["sd"], type(priors)
    # a dict beside a path: the parameters of both (E_m from the dict, nu0 from the file)
    e_m = {"title": "E_m", "parameter": [NEB_PRIORS["parameter"][0]]}
    nu0 = REPO / "priors" / "no_such_priors.toml"
    with pytest.raises(bridgelaw.InputError) as e:
        bridgelaw.load_study(neb_study([e_m, str(nu0)]))
    assert "priors[1]" in str(e.value) and "no_such_priors.toml" in str(e.value)
    s = bridgelaw.load_study(neb_study([e_m, {"title": "nu0", "parameter": [NEB_PRIORS["parameter"][1]]}]))
    assert sorted(p["name"] for p in s.parameters) == ["E_m", "nu0"]


def test_a_bad_embedded_priors_dict_is_an_input_error_naming_it():
    bad = {"title": "p", "parameter": [{"name": "E_m", "unit": "eV", "distribution": "normal", "mean": 0.3}]}
    with pytest.raises(bridgelaw.InputError) as e:
        bridgelaw.load_study(neb_study([bad]))
    assert "priors[0]" in str(e.value) and "sd" in str(e.value)


def test_unknown_keys_are_input_errors_naming_the_field():
    with pytest.raises(bridgelaw.InputError) as e:
        bridgelaw.load_study({"title": "x", "propogate": {"samples": 10}})
    assert "propogate" in str(e.value)
    with pytest.raises(bridgelaw.InputError) as e:
        bridgelaw.load_priors(
            {"title": "p", "parameter": [{"name": "a", "unit": "eV", "distribution": "normal", "mean": 1.0}]}
        )
    assert "sd" in str(e.value)
    with pytest.raises(bridgelaw.InputError) as e:
        bridgelaw.load_study(REPO / "models" / "no_such_study.toml")
    assert "no_such_study.toml" in str(e.value)


def test_priors_from_file_and_dict():
    p = bridgelaw.load_priors(REPO / "priors" / "graphite_neb.toml")
    assert p.names == ["E_m", "nu0"] and p.units == ["eV", "Hz"]
    x = p.sample(20000, seed=1)
    assert x.shape == (20000, 2)
    assert x[:, 0].mean() == pytest.approx(0.293, abs=4 * 0.03 / np.sqrt(20000))
    q = bridgelaw.load_priors(
        {
            "title": "t",
            "parameter": [
                {"name": "E", "unit": "eV", "distribution": "normal", "mean": 0.5, "sd": 0.1},
                {"name": "D", "unit": "m^2/s", "distribution": "lognormal", "median": 1e-14, "log_sd": 0.5},
            ],
            "correlation": {"names": ["E", "D"], "matrix": [[1.0, -0.6], [-0.6, 1.0]]},
        }
    )
    np.testing.assert_allclose(q.correlation, [[1.0, -0.6], [-0.6, 1.0]], atol=1e-12)
    assert q.parameters[1]["q50"] == pytest.approx(1e-14, rel=1e-9)


def test_propagate_monte_carlo_with_samples():
    r = bridgelaw.propagate(NEB, method="all", samples=20000, seed=4, return_samples=500)
    df = r.to_pandas()
    assert set(df["method"]) == {"delta", "pseudo", "sobol", "latinhypercube"}
    s = r.samples
    assert s["inputs"].shape == (500, 2) and s["outputs"].shape == (500, len(s["output_labels"]))
    st = bridgelaw.load_study(NEB)
    assert s["input_names"] == [p["name"] for p in st.parameters]
    # the returned outputs are the model at the returned inputs
    np.testing.assert_allclose(st.evaluate(s["inputs"][3]), s["outputs"][3], rtol=1e-12)
    # same seed, same answer
    again = bridgelaw.propagate(NEB, method="all", samples=20000, seed=4)
    assert again.results["monte_carlo"] == r.results["monte_carlo"]


def test_bad_settings_are_input_errors():
    with pytest.raises(bridgelaw.InputError) as e:
        bridgelaw.propagate(NEB, method="bootstrap")
    assert "method" in str(e.value)
    with pytest.raises(bridgelaw.InputError):
        bridgelaw.propagate(NEB, levels=[1.5])
    with pytest.raises(bridgelaw.InputError):
        bridgelaw.sensitivity(NEB, method="fast")


def test_sensitivity_indices_with_intervals():
    r = bridgelaw.sensitivity(NEB, method="sobol", samples=512, seed=2)
    df = r.to_pandas()
    assert set(df.columns) == {"method", "output", "input", "metric", "value"}
    sobol = df[df["method"] == "sobol"]
    assert {"S1", "ST"} <= set(sobol["metric"])
    assert any(m.endswith("_low") for m in sobol["metric"]) and any(m.endswith("_high") for m in sobol["metric"])
    assert r.refine_next[0] in ("E_m", "nu0") and sorted(r.refine_next) == ["E_m", "nu0"]


def test_report_from_results(tmp_path):
    prop = bridgelaw.propagate(NEB, method="all", samples=5000)
    sens = bridgelaw.sensitivity(NEB, method="local")
    html = bridgelaw.report([prop, sens], out=tmp_path / "rep")
    text = html.read_text()
    assert html.name == "report.html" and "D_tr" in text
    assert "uncertainty propagation, sensitivity analysis" in text
    with pytest.raises(bridgelaw.InputError) as e:
        bridgelaw.report(tmp_path / "empty_dir_that_does_not_exist")
    assert "no such folder" in str(e.value)
    with pytest.raises(bridgelaw.InputError):
        bridgelaw.report(prop)
