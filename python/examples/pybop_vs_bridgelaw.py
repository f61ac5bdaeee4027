"""The same SPM calibration with PyBOP and with bridgelaw, timed side by side.

The problem: the LG M50 cell (Chen et al. 2020) discharged at 1C, 3 mV Gaussian noise on the
voltage; unknown the negative and positive particle diffusivities D_n, D_p [m^2/s], priors
lognormal a factor 2 off the truth with ln-sd 1 (python/tests/spm_problem.py writes the files).

- PyBOP (PyBaMM's SPM, IDAKLU): least squares with SciPy's L-BFGS-B in log10 D from the prior
  medians — PyBOP's usual fit; no posterior.
- bridgelaw: `calibrate` — NUTS, 2 chains × (200 warm-up + 200 draws), the full posterior with
  R-hat and ESS; and `LogDensity` + SciPy L-BFGS-B on the exact gradient for the mode.

PyBOP is not a dependency of bridgelaw: run this in a scratch environment that has both,
    pip install pybop ./python        # then
    python python/examples/pybop_vs_bridgelaw.py
Timings are wall-clock on whatever else the machine is doing; run it on an idle machine.
"""

import os

# One BLAS thread: SciPy's L-BFGS-B (both fits use it) otherwise spends ~0.2 s per fit in
# OpenBLAS thread hand-offs on a loaded 2-core machine, hiding what is being compared.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import bridgelaw

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python" / "tests"))
from spm_problem import NOISE_V, TRUTH, write_spm_problem  # noqa: E402

folder = Path(tempfile.mkdtemp())
study = write_spm_problem(folder)
data = np.genfromtxt(folder / "curve_1C.csv", delimiter=",", names=True)
print(f"data: {len(data)} points, 1C, noise {1e3 * NOISE_V:.0f} mV; truth D_n = {TRUTH['D_n']:.3g}, D_p = {TRUTH['D_p']:.3g} m^2/s")

# ---------------------------------------------------------------------------- bridgelaw
bridgelaw.calibrate(study, chains=2, tune=20, draws=20, seed=1)  # warm: thread pool, page faults
t0 = time.perf_counter()
idata = bridgelaw.calibrate(study, chains=2, tune=200, draws=200, seed=1)
t_nuts = time.perf_counter() - t0
post = {p["name"]: p for p in bridgelaw.summary_table(idata)}

ld = bridgelaw.LogDensity(study)
from scipy.optimize import minimize  # noqa: E402

t0 = time.perf_counter()
fit = minimize(lambda t: tuple(-v for v in ld.logp_and_grad(t)), ld.initial_point(), jac=True, method="L-BFGS-B")
t_map = time.perf_counter() - t0
x_map = dict(zip(ld.names, ld.to_natural(fit.x)))

# ---------------------------------------------------------------------------- PyBOP
import pybamm  # noqa: E402
import pybop  # noqa: E402

model = pybamm.lithium_ion.SPM()
values = pybamm.ParameterValues("Chen2020")
names = {"D_n": "Negative particle diffusivity [m2.s-1]", "D_p": "Positive particle diffusivity [m2.s-1]"}
start = {"D_n": 2 * TRUTH["D_n"], "D_p": 0.5 * TRUTH["D_p"]}  # the priors' medians
for k, n in names.items():
    values[n] = pybop.Parameter(
        initial_value=start[k],
        bounds=[start[k] * np.exp(-3.0), start[k] * np.exp(3.0)],
        transformation=pybop.LogTransformation(),
    )
dataset = pybop.Dataset(
    {"Time [s]": data["time_s"], "Current [A]": data["current_A"], "Voltage [V]": data["voltage_V"]}
)
t0 = time.perf_counter()
simulator = pybop.pybamm.Simulator(model, parameter_values=values, protocol=dataset)
problem = pybop.Problem(simulator, pybop.SumSquaredError(dataset))
optim = pybop.SciPyMinimize(problem, pybop.SciPyMinimizeOptions(method="L-BFGS-B", maxiter=200))
t_build = time.perf_counter() - t0
t0 = time.perf_counter()
result = optim.run()
t_pybop = time.perf_counter() - t0
x_pybop = {k: float(np.ravel(result.best_inputs[n])[0]) for k, n in names.items()}

# ---------------------------------------------------------------------------- side by side
print()
print("| method | D_n [m^2/s] | D_p [m^2/s] | wall time [s] | what you get |")
print("|---|---|---|---|---|")
print(
    f"| PyBOP {pybop.__version__} SciPyMinimize (L-BFGS-B), PyBaMM SPM | {x_pybop['D_n']:.4g} | {x_pybop['D_p']:.4g} | "
    f"{t_pybop:.3f} (+ {t_build:.2f} build) | point estimate, {result.n_evaluations} evaluations |"
)
print(
    f"| bridgelaw LogDensity + SciPy L-BFGS-B (exact gradient) | {x_map['D_n']:.4g} | {x_map['D_p']:.4g} | "
    f"{t_map:.3f} | mode, {fit.nfev} evaluations |"
)
print(
    f"| bridgelaw.calibrate NUTS 2×(200+200) | {post['D_n']['mean']:.4g} ± {post['D_n']['sd']:.2g} | "
    f"{post['D_p']['mean']:.4g} ± {post['D_p']['sd']:.2g} | {t_nuts:.2f} | posterior, R-hat {max(p['rhat'] for p in post.values()):.3f} |"
)
