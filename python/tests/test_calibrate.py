"""calibrate() → arviz.InferenceData: groups, units, and the library's (the CLI's) R-hat and
ESS reproduced by arviz.summary to 1e-9."""

import json
import os
import subprocess

import numpy as np
import pytest

import bridgelaw

az = pytest.importorskip("arviz", reason="arviz is in the test extra")


@pytest.fixture(scope="module")
def idata(spm_study):
    return bridgelaw.calibrate(spm_study)


def test_groups_shapes_and_units(idata):
    for g in ("posterior", "sample_stats", "observed_data", "posterior_predictive"):
        assert g in idata.groups()
    post = idata.posterior
    assert list(post.data_vars) == ["D_n", "D_p", "sigma_1C"]
    assert post["D_n"].shape == (2, 200)
    assert post["D_n"].attrs["units"] == "m^2/s" and post["sigma_1C"].attrs["units"] == "V"
    assert idata.sample_stats["diverging"].dtype == bool
    obs = idata.observed_data["1C"]
    # max_points = 60 thins the 357-row curve to every 6th row
    n = obs.shape[0]
    assert obs.dims == ("time_1C",) and 55 <= n <= 61
    assert np.all(np.diff(idata.observed_data["time_1C"].values) > 0)
    pp = idata.posterior_predictive["1C"]
    assert pp.shape[0] == 2 and pp.shape[2] == n


def test_posterior_recovers_the_synthetic_truth(idata):
    from conftest import NOISE_V, TRUTH

    post = idata.posterior
    for name, truth in TRUTH.items():
        draws = np.log(post[name].values.ravel())
        # within 4 posterior sds in log space (the priors' medians are a factor 2 off)
        assert abs(draws.mean() - np.log(truth)) < 4 * draws.std(), name
    sigma = post["sigma_1C"].values.ravel()
    assert 0.5 * NOISE_V < sigma.mean() < 1.5 * NOISE_V
    # the predictive draws scatter around the data by about the noise
    resid = idata.posterior_predictive["1C"].values - idata.observed_data["1C"].values
    assert 0.5 * NOISE_V < resid.std() < 3 * NOISE_V


def test_arviz_summary_matches_the_library_summary(idata):
    s = az.summary(idata, round_to="none")
    ours = {p["name"]: p for p in bridgelaw.summary_table(idata)}
    assert set(ours) == set(s.index)
    for name, p in ours.items():
        for a, b in (("r_hat", "rhat"), ("ess_bulk", "ess_bulk"), ("ess_tail", "ess_tail"), ("mean", "mean")):
            assert s.loc[name, a] == pytest.approx(p[b], rel=1e-9, abs=0), (name, a)
        assert s.loc[name, "mcse_mean"] == pytest.approx(p["mcse_mean"], rel=1e-9), name


def test_same_seed_same_draws(spm_study, idata):
    again = bridgelaw.calibrate(spm_study)
    np.testing.assert_array_equal(again.posterior["D_n"].values, idata.posterior["D_n"].values)
    other = bridgelaw.calibrate(spm_study, seed=4, draws=50, tune=50)
    assert other.posterior["D_n"].shape == (2, 50)


def test_not_a_cell_study_is_an_input_error():
    from conftest import REPO

    with pytest.raises(bridgelaw.InputError) as e:
        bridgelaw.calibrate(REPO / "models" / "graphite_diffusivity_neb.toml")
    assert "cell study" in str(e.value)


@pytest.mark.cli
def test_the_cli_summary_equals_arviz_on_the_python_run(spm_study, idata, tmp_path):
    """The CLI on the same study and seed: its *_summary.json R-hat and ESS are what
    arviz.summary computes from the Python run's InferenceData, to 1e-9."""
    cli = os.environ.get("BRIDGELAW_CLI")
    assert cli, "set BRIDGELAW_CLI to the bridgelaw command line binary"
    out = tmp_path / "cli"
    subprocess.run([cli, "calibrate", str(spm_study), "--out", str(out)], check=True, capture_output=True)
    cli_summary = json.loads((out / "spm_calibration_summary.json").read_text())["params"]
    s = az.summary(idata, round_to="none")
    for p in cli_summary:
        for a, b in (("r_hat", "rhat"), ("ess_bulk", "ess_bulk"), ("ess_tail", "ess_tail")):
            assert s.loc[p["name"], a] == pytest.approx(p[b], rel=1e-9, abs=0), (p["name"], a)


def test_report_of_a_calibration(idata, tmp_path):
    html = bridgelaw.report(idata, out=tmp_path)
    text = html.read_text()
    assert html.name == "report.html" and "calibration" in text and "D_n" in text
    assert "R̂" in text or "R-hat" in text
