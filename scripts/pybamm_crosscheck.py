"""Cross-check bridgelaw's SPM/SPMe against PyBaMM (not needed by CI).

Usage: python scripts/pybamm_crosscheck.py CSV_DIR
(run from anywhere: the OCP tables and the BPX file are read from the repository's data/), where CSV_DIR holds the curves written by `cargo test --release --lib export_for_pybamm -- --ignored`
(XCHECK_DIR=CSV_DIR). Prints the largest voltage difference per case.
"""
import sys
from pathlib import Path

import numpy as np
import pybamm

data = Path(__file__).resolve().parent.parent / "data"
csvdir = sys.argv[1]


def table(path):
    d = np.loadtxt(path, comments="#", delimiter=",")
    return d[:, 0], d[:, 1]


def ours(name):
    d = np.genfromtxt(f"{csvdir}/{name}", delimiter=",", names=True)
    return d["time_s"], d["voltage_V"]


def run(model, pv, t_end):
    pv["Current function [A]"] = pv["Nominal cell capacity [A.h]"]
    sim = pybamm.Simulation(model, parameter_values=pv,
                            solver=pybamm.IDAKLUSolver(rtol=1e-8, atol=1e-10))
    t_eval = np.arange(0, t_end, 1.0)
    sol = sim.solve([0, t_end], t_interp=t_eval)
    return sol["Time [s]"].entries, sol["Voltage [V]"].entries


def compare(label, t_b, v_b, t_p, v_p):
    tmax = min(t_b[-1], t_p[-1])
    m = t_b <= tmax - 1e-9
    vp = np.interp(t_b[m], t_p, v_p)
    diff = np.abs(vp - v_b[m])
    k = int(np.argmax(diff))
    print(f"{label}: max |dV| = {diff.max()*1e3:.2f} mV at t = {t_b[m][k]:.0f} s; "
          f"RMS {np.sqrt(np.mean(diff**2))*1e3:.2f} mV; end bridgelaw {t_b[-1]:.1f} s, PyBaMM {t_p[-1]:.1f} s")


# Chen2020 SPM with the measured OCP tables (PCHIP in both codes)
pv = pybamm.ParameterValues("Chen2020")
xg, yg = table(f"{data}/ocp/graphite_LGM50_ocp_Chen2020.csv")
xn, yn = table(f"{data}/ocp/nmc_LGM50_ocp_Chen2020.csv")
pv["Negative electrode OCP [V]"] = lambda sto: pybamm.Interpolant(xg, yg, sto, interpolator="pchip", extrapolate=True)
pv["Positive electrode OCP [V]"] = lambda sto: pybamm.Interpolant(xn, yn, sto, interpolator="pchip", extrapolate=True)
pv["Lower voltage cut-off [V]"] = 2.5
t_p, v_p = run(pybamm.lithium_ion.SPM(), pv, 3700)
t_b, v_b = ours("bridgelaw_chen_spm_1c.csv")
compare("Chen2020 SPM 1C", t_b, v_b, t_p, v_p)

# About:Energy BPX, SPM and SPMe at 1C
for name, model in [("spm", pybamm.lithium_ion.SPM()), ("spme", pybamm.lithium_ion.SPMe())]:
    pv = pybamm.ParameterValues.create_from_bpx(f"{data}/about_energy_nmc/nmc_pouch_cell_BPX.json")
    t_p, v_p = run(model, pv, 3800)
    t_b, v_b = ours(f"bridgelaw_ae_{name}_1c.csv")
    compare(f"About:Energy {name.upper()} 1C", t_b, v_b, t_p, v_p)
