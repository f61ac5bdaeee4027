"""A small synthetic SPM calibration problem (one 1C discharge of the LG M50 cell, D_n and D_p
unknown), written to a folder: the tests' fixture and the examples' problem (no pytest needed)."""

from pathlib import Path

import numpy as np

import bridgelaw

REPO = Path(__file__).resolve().parents[2]
BPX = REPO / "models" / "cells" / "lgm50_chen2020.bpx.json"

# The synthetic truth [m^2/s]: the priors' medians sit a factor 2 away from it.
TRUTH = {"D_n": 3.3e-14, "D_p": 4.0e-15}
NOISE_V = 0.003


def write_spm_problem(folder: Path, seed: int = 7) -> Path:
    """Write a measured curve (SPM at TRUTH + 3 mV Gaussian noise), a priors file and a study
    calibrating D_n, D_p against it; return the study's path."""
    cell = bridgelaw.load_bpx(BPX)
    sim = bridgelaw.simulate(cell, model="spm", c_rate=1.0)
    rng = np.random.default_rng(seed)
    t, i, v = sim["time_s"], sim["current_A"], sim["voltage_V"]
    # The run's cut-off row is off the 10 s grid; the measured curve keeps the grid rows.
    keep = np.isclose(np.mod(t, 10.0), 0.0)
    v = v + NOISE_V * rng.standard_normal(v.shape)
    lines = ["time_s,current_A,voltage_V"] + [f"{a},{b},{c:.6f}" for a, b, c in zip(t[keep], i[keep], v[keep])]
    (folder / "curve_1C.csv").write_text("\n".join(lines) + "\n")
    (folder / "priors.toml").write_text(
        'title = "SPM diffusivities (test)"\nsource = "synthetic"\n\n'
        '[[parameter]]\nname = "D_n"\nunit = "m^2/s"\ndistribution = "lognormal"\n'
        f'median = {2 * TRUTH["D_n"]:e}\nlog_sd = 1.0\n\n'
        '[[parameter]]\nname = "D_p"\nunit = "m^2/s"\ndistribution = "lognormal"\n'
        f'median = {0.5 * TRUTH["D_p"]:e}\nlog_sd = 1.0\n'
    )
    study = folder / "spm_calibration.toml"
    study.write_text(
        'title = "SPM diffusivities from one 1C curve (test)"\n'
        'priors = ["priors.toml"]\n\n'
        "[model]\n"
        'cell = "spm"\n'
        f'bpx = "{BPX.as_posix()}"\n'
        "shells = 10\n\n"
        "[[model.experiment]]\n"
        'name = "1C"\n'
        "temperature = 298.15\n"
        'data = "curve_1C.csv"\n'
        'sign = "discharge_positive"\n'
        "max_points = 60\n\n"
        "[inputs]\n"
        'D_n = "prior"\n'
        'D_p = "prior"\n\n'
        "[calibrate]\n"
        "chains = 2\n"
        "tune = 200\n"
        "draws = 200\n"
        "seed = 3\n"
        'init = "map"\n'
    )
    return study
