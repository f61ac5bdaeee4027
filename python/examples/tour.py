"""A notebook-style tour of the bridgelaw Python package, run end to end by the test suite
(python/tests/test_examples.py) and by hand:  python python/examples/tour.py

Cells are separated by `# %%` (VS Code / Jupytext run them one by one).
"""

# %% Setup: the shipped studies, priors and cells live in the repository.
from pathlib import Path
import tempfile

import numpy as np

import bridgelaw

REPO = Path(__file__).resolve().parents[2]

# %% 1. One voltage curve from a BPX file: SPMe, 1C, 25 °C.
cell = bridgelaw.load_bpx(REPO / "models/cells/lgm50_chen2020.bpx.json")
sim = bridgelaw.simulate(cell, model="spme", c_rate=1.0)
print(sim)
df = sim.to_pandas()  # time_s, current_A, voltage_V, stoichiometries, overpotentials [V], capacity_Ah
print(df[["time_s", "voltage_V", "capacity_Ah"]].iloc[::60])

# %% 2. Atomistic priors: the NEB barrier and attempt frequency of Li in graphite.
priors = bridgelaw.load_priors(REPO / "priors/graphite_neb.toml")
for p in priors.parameters:
    print(f"{p['name']:>4} [{p['unit']}]: median {p['q50']:.4g}, 90 % in [{p['q05']:.4g}, {p['q95']:.4g}]")

# %% 3. Parameter set with error bars: D_tr(T) from the barrier (delta method and Monte Carlo).
res = bridgelaw.propagate(REPO / "models/graphite_diffusivity_neb.toml", method="all", samples=20_000)
table = res.to_pandas()
print(table[table["output"] == "D_tr"][["method", "mean", "sd", "unit"]])
for w in res.warnings:
    print("warning:", w)

# %% 4. Which input to refine next (Sobol indices with bootstrap intervals).
sens = bridgelaw.sensitivity(REPO / "models/graphite_diffusivity_neb.toml", method="sobol", samples=1024)
print("refine next:", " → ".join(sens.refine_next))
s = sens.to_pandas()
print(s[(s.method == "sobol") & (s.metric.isin(["ST", "ST_low", "ST_high"]))].head(6))

# %% 5. Calibration against a measured curve: a small synthetic SPM problem (see the tests).
import sys

sys.path.insert(0, str(REPO / "python/tests"))
from spm_problem import write_spm_problem  # noqa: E402

study = write_spm_problem(Path(tempfile.mkdtemp()))
idata = bridgelaw.calibrate(study, chains=2, tune=200, draws=200, seed=1)
import arviz as az  # noqa: E402

print(az.summary(idata, var_names=["D_n", "D_p", "sigma_1C"]))

# %% 6. The same posterior as a log density with gradient, for any optimiser or sampler.
from scipy.optimize import minimize  # noqa: E402

ld = bridgelaw.LogDensity(study)
# L-BFGS-B: its first step is bounded by the gradient's scale; BFGS's unit first step in ln D can
# leave the cell model's range (bridgelaw.RunError, e.g. an emptied particle surface).
fit = minimize(lambda t: tuple(-v for v in ld.logp_and_grad(t)), ld.initial_point(), jac=True, method="L-BFGS-B")
print("MAP:", dict(zip(ld.names, ld.to_natural(fit.x))))

# %% 7. Errors are Python exceptions naming the file and field.
try:
    bridgelaw.load_study({"title": "typo", "propogate": {"samples": 10}})
except bridgelaw.InputError as e:
    print("InputError:", e)
print("tour done")
