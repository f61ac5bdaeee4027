#!/usr/bin/env python3
"""CI check of a BPX file written by `bridgelaw bpx export`: the `bpx` package's strict parser
accepts it, and PyBaMM's `create_from_bpx` loads it and solves a 1C SPM discharge.

Usage: bpx_check.py FILE.json [BRIDGELAW_SPM_1C.csv]

1. `bpx.parse_bpx_file(FILE, convert_legacy=False)` with deprecation warnings as errors: the
   file must be valid BPX 1.x as written, not a legacy file the package converts. Warnings about
   the stoichiometry limits against the voltage cut-offs (advice, not schema) are printed.
2. `pybamm.ParameterValues.create_from_bpx(FILE)`, then a 1C SPM discharge to the lower cut-off
   (PyBaMM's defaults: IDAKLU, 20 points per particle). It must stop at the cut-off within 0.5 to
   1.5 h.
3. With bridgelaw's own 1C SPM curve of the same file (`bridgelaw simulate --bpx FILE --model spm
   --c-rate 1 --shells 20 --out CSV`): PyBaMM again with the file's initial state as BPX defines
   it (each electrode's stoichiometry linear in the initial state of charge between its limits),
   which is what bridgelaw simulates; the largest voltage difference after the first 60 s must be
   under 3 mV (the two codes' surface-concentration extrapolations differ by ~2 mV at 20 points).
   PyBaMM's default initial state (`set_initial_state`, 100 % SOC where the OCV equals the upper
   cut-off) is reported beside it.
Prints what it checked, then "OK" and exits 0; prints the failure and exits 1 otherwise.
"""
import csv
import json
import sys
import warnings

import bpx
import numpy as np
import pybamm


def strict_parse(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", DeprecationWarning)
        parsed = bpx.parse_bpx_file(path, convert_legacy=False)
    for w in caught:
        print(f"bpx warning (not a schema error): {w.message}")
    version = parsed.header.bpx
    if not version.startswith("1."):
        raise SystemExit(f"FAIL: Header/BPX is '{version}', expected a 1.x version")
    print(f"bpx {bpx.__version__} strict parser: valid BPX {version}, model {parsed.header.model}")
    return parsed


def solve_spm(pv):
    pv = pybamm.ParameterValues(dict(pv.items()))
    pv["Current function [A]"] = pv["Nominal cell capacity [A.h]"]
    sim = pybamm.Simulation(pybamm.lithium_ion.SPM(), parameter_values=pv)
    t_end = 1.6 * 3600.0
    sol = sim.solve([0, t_end], t_interp=np.arange(0.0, t_end, 10.0))
    return sol["Time [s]"].entries, sol["Voltage [V]"].entries, sol.termination


def bpx_initial_state(pv, doc):
    """PyBaMM's parameters with the initial concentrations BPX defines: at SOC s, each
    electrode's stoichiometry is linear in s between its limits."""
    p = doc["Parameterisation"]
    soc = doc["State"]["Initial conditions"]["Initial state-of-charge"]
    n, pos = p["Negative electrode"], p["Positive electrode"]
    th_n = n["Minimum stoichiometry"] + soc * (n["Maximum stoichiometry"] - n["Minimum stoichiometry"])
    th_p = pos["Maximum stoichiometry"] - soc * (pos["Maximum stoichiometry"] - pos["Minimum stoichiometry"])
    pv = pybamm.ParameterValues(dict(pv.items()))
    pv.update(
        {
            "Initial concentration in negative electrode [mol.m-3]": th_n * n["Maximum concentration [mol.m-3]"],
            "Initial concentration in positive electrode [mol.m-3]": th_p * pos["Maximum concentration [mol.m-3]"],
        }
    )
    return pv


def read_curve(path):
    with open(path) as f:
        rows = [r for r in csv.reader(line for line in f if not line.startswith("#"))]
    head = rows[0]
    it, iv = head.index("time_s"), head.index("voltage_V")
    data = np.array([[float(r[it]), float(r[iv])] for r in rows[1:]])
    return data[:, 0], data[:, 1]


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__)
        return 2
    path = argv[1]
    doc = json.load(open(path))
    strict_parse(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pv = pybamm.ParameterValues.create_from_bpx(path)
    print(f"PyBaMM {pybamm.__version__} create_from_bpx: loaded")
    t, v, why = solve_spm(pv)
    print(f"PyBaMM SPM 1C (its default initial state): {v[0]:.4f} V at t = 0, stops at {t[-1]:.1f} s ({why})")
    if "Minimum voltage" not in why or not (1800.0 <= t[-1] <= 5400.0):
        print("FAIL: expected the 1C discharge to stop at the lower cut-off within 0.5 to 1.5 h")
        return 1
    if len(argv) == 3:
        tb, vb = read_curve(argv[2])
        t2, v2, why2 = solve_spm(bpx_initial_state(pv, doc))
        late = (tb >= 60.0) & (tb <= min(t2[-1], tb[-1]) - 10.0)
        dv = np.abs(np.interp(tb[late], t2, v2) - vb[late])
        dv_default = np.abs(np.interp(tb[late], t, v) - vb[late])
        print(
            f"PyBaMM SPM 1C at the BPX initial state: {v2[0]:.4f} V at t = 0 (bridgelaw {vb[0]:.4f} V), "
            f"stops at {t2[-1]:.1f} s (bridgelaw {tb[-1]:.1f} s); largest |dV| after 60 s {1e3 * dv.max():.2f} mV "
            f"(PyBaMM's default initial state: {1e3 * dv_default.max():.2f} mV)"
        )
        if dv.max() > 3e-3:
            print("FAIL: bridgelaw and PyBaMM differ by more than 3 mV on the same BPX file")
            return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
