"""calibrate(..., map=True): the CLI's --map result (MAP point, Laplace summaries, prior shifts,
per-curve RMS residuals) from Python, equal to the CLI's files."""

import json
import math
import os
import subprocess

import pytest

import bridgelaw
from spm_problem import NOISE_V, TRUTH


@pytest.fixture(scope="module")
def fit(spm_study):
    return bridgelaw.calibrate(spm_study, map=True)


def test_the_map_recovers_the_truth_and_fits_to_the_noise(fit):
    assert isinstance(fit, bridgelaw.MapFit)
    assert fit.names[:2] == ["D_n", "D_p"] and fit.units[:2] == ["m^2/s", "m^2/s"]
    for name, truth in TRUTH.items():
        # the priors' medians sit a factor 2 from the truth; the MAP within 20 %
        assert abs(math.log(fit.mode[name] / truth)) < math.log(1.2), (name, fit.mode[name])
    (curve,) = fit.rmse
    r = fit.rmse[curve]
    assert r["map"] < r["prior_centre"]
    assert 0.7 * NOISE_V < r["map"] < 1.3 * NOISE_V, r
    # the priors' medians are ln 2 ≈ 0.69 prior sds (log_sd 1) from the truth, in opposite
    # directions
    assert fit.shift_prior_sd["D_n"] == pytest.approx(-math.log(2), abs=0.2)
    assert fit.shift_prior_sd["D_p"] == pytest.approx(math.log(2), abs=0.2)


def test_records_and_laplace(fit):
    rows = fit.records()
    assert [r["name"] for r in rows] == fit.names
    for r in rows:
        assert r["q5"] < r["map"] < r["q95"] and r["sd"] > 0, r
    df = fit.to_pandas()
    assert list(df["name"]) == fit.names and "shift_prior_sd" in df.columns
    assert fit.results["laplace_ok"] and fit.stop


def test_report_of_a_map_fit(fit, tmp_path):
    html = bridgelaw.report(fit, out=tmp_path)
    assert "D_n" in html.read_text()


@pytest.mark.cli
def test_the_cli_map_files_equal_the_python_result(spm_study, fit, tmp_path):
    cli = os.environ.get("BRIDGELAW_CLI")
    assert cli, "set BRIDGELAW_CLI to the bridgelaw command line binary"
    out = tmp_path / "cli"
    subprocess.run([cli, "calibrate", str(spm_study), "--map", "--out", str(out)], check=True, capture_output=True)
    assert json.loads((out / "spm_calibration_map.json").read_text()) == fit.results
    assert json.loads((out / "spm_calibration_validation.json").read_text()) == fit.validation
