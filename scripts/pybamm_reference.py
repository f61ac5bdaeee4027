#!/usr/bin/env python3
"""Make the PyBaMM reference curves in data/pybamm/ that the cell tests compare against.

Run in a scratch venv outside the product (`python3 -m venv /tmp/pb && /tmp/pb/bin/pip install pybamm`):
    /tmp/pb/bin/python scripts/pybamm_reference.py
PyBaMM reads the shipped LG M50 (Chen2020, fitted OCPs) BPX file through `create_from_bpx`, so
both codes use the same functions. Choices, so that like is compared with like:
- initial state: c_max x the BPX 100 %-SOC stoichiometries (PyBaMM's own default solves for the
  state where the OCV equals the upper cut-off instead);
- isothermal at 298.15 K, contact resistance 0;
- 100 points per particle (PyBaMM's surface value extrapolates from the two outer cells; at 20
  points that alone differs from bridgelaw's flux-aware surface value by ~10 mV early on);
- PyBaMM's default electrolyte mesh (20/20/20), IDAKLU with rtol 1e-8, atol 1e-10;
- output every 10 s to the 2.5 V cut-off (the last row is the cut-off itself).
The lumped-thermal case reads data/pybamm/lgm50_chen2020_thermal.bpx.json (the same cell in the BPX
1.1 layout with PyBaMM Chen2020's thermal data) and runs with `thermal: "lumped"` from 298.15 K.
"""
import csv
import json
import os
import tempfile
import warnings

import numpy as np
import pybamm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BPX = os.path.join(ROOT, "models", "cells", "lgm50_chen2020.bpx.json")
OUT = os.path.join(ROOT, "data", "pybamm")
CASES = [("spm", pybamm.lithium_ion.SPM, 1.0), ("spme", pybamm.lithium_ion.SPMe, 2.0)]
T = 298.15
THERMAL_BPX = os.path.join(OUT, "lgm50_chen2020_thermal.bpx.json")


def parameters():
    with open(BPX) as f:
        d = json.load(f)
    # create_from_bpx needs these two (they feed thermal models only): PyBaMM Chen2020's values
    d["Parameterisation"]["Cell"].setdefault("External surface area [m2]", 0.00531)
    d["Parameterisation"]["Cell"].setdefault("Volume [m3]", 2.42e-05)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(d, f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pv = pybamm.ParameterValues.create_from_bpx(f.name)
    os.unlink(f.name)
    p = d["Parameterisation"]
    n, pos = p["Negative electrode"], p["Positive electrode"]
    pv.update(
        {
            "Initial concentration in negative electrode [mol.m-3]": n["Maximum stoichiometry"]
            * n["Maximum concentration [mol.m-3]"],
            "Initial concentration in positive electrode [mol.m-3]": pos["Minimum stoichiometry"]
            * pos["Maximum concentration [mol.m-3]"],
            "Ambient temperature [K]": T,
            "Initial temperature [K]": T,
            "Contact resistance [Ohm]": 0.0,
        },
        check_already_exists=False,
    )
    return pv


def thermal_case():
    """SPMe with the lumped thermal model at 1C: voltage and cell temperature every 10 s."""
    with open(THERMAL_BPX) as f:
        p = json.load(f)["Parameterisation"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pv = pybamm.ParameterValues.create_from_bpx(THERMAL_BPX)
    n, pos = p["Negative electrode"], p["Positive electrode"]
    pv.update(
        {
            "Initial concentration in negative electrode [mol.m-3]": n["Maximum stoichiometry"]
            * n["Maximum concentration [mol.m-3]"],
            "Initial concentration in positive electrode [mol.m-3]": pos["Minimum stoichiometry"]
            * pos["Maximum concentration [mol.m-3]"],
            "Contact resistance [Ohm]": 0.0,
            "Current function [A]": pv["Nominal cell capacity [A.h]"],
        },
        check_already_exists=False,
    )
    sim = pybamm.Simulation(
        pybamm.lithium_ion.SPMe({"thermal": "lumped"}),
        parameter_values=pv,
        solver=pybamm.IDAKLUSolver(rtol=1e-8, atol=1e-10),
        var_pts={"x_n": 20, "x_s": 20, "x_p": 20, "r_n": 100, "r_p": 100},
    )
    sol = sim.solve([0, 4320], t_interp=np.arange(0, 4320, 10.0))
    t, v = sol["Time [s]"].entries, sol["Voltage [V]"].entries
    temp = sol["Volume-averaged cell temperature [K]"].entries
    path = os.path.join(OUT, "lgm50_spme_1C_lumped_298K.csv")
    with open(path, "w", newline="") as f:
        f.write(f"# PyBaMM {pybamm.__version__} SPME thermal=lumped, see scripts/pybamm_reference.py\n")
        w = csv.writer(f)
        w.writerow(["time_s", "voltage_V", "temperature_K"])
        for a, b, c in zip(t, v, temp):
            w.writerow([f"{a:.6f}", f"{b:.9f}", f"{c:.6f}"])
    print(f"{path}: {len(t)} rows, cut-off at {t[-1]:.2f} s ({sol.termination})")


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, model, c_rate in CASES:
        pv = parameters()
        pv["Current function [A]"] = c_rate * pv["Nominal cell capacity [A.h]"]
        sim = pybamm.Simulation(
            model(),
            parameter_values=pv,
            solver=pybamm.IDAKLUSolver(rtol=1e-8, atol=1e-10),
            var_pts={"x_n": 20, "x_s": 20, "x_p": 20, "r_n": 100, "r_p": 100},
        )
        t_end = 1.2 * 3600 / c_rate
        sol = sim.solve([0, t_end], t_interp=np.arange(0, t_end, 10.0))
        t, v = sol["Time [s]"].entries, sol["Voltage [V]"].entries
        path = os.path.join(OUT, f"lgm50_{name}_{c_rate:g}C_298K.csv")
        with open(path, "w", newline="") as f:
            f.write(f"# PyBaMM {pybamm.__version__} {name.upper()}, see scripts/pybamm_reference.py\n")
            w = csv.writer(f)
            w.writerow(["time_s", "voltage_V"])
            for a, b in zip(t, v):
                w.writerow([f"{a:.6f}", f"{b:.9f}"])
        print(f"{path}: {len(t)} rows, cut-off at {t[-1]:.2f} s ({sol.termination})")


if __name__ == "__main__":
    main()
    thermal_case()
