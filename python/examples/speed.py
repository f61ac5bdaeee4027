"""Call overhead of the Python package: the same work timed from Python (timeit) and in Rust
with no Python in the loop (bridgelaw._core._bench_*), best of several repeats each.

    python python/examples/speed.py

1. simulate: LG M50 (models/cells/lgm50_chen2020.bpx.json), SPM, 1C for up to 4000 s to the
   cut-off, 20 shells, outputs every 10 s (the setting of `cargo bench --bench cell`'s
   spm_1c_f64, with the BPX file's cell instead of the bench's Chen2020 tables).
2. LogDensity.logp_and_grad: the test suite's SPM calibration (1C, D_n, D_p, σ; 61 points) at
   the prior centre.
"""

import sys
import tempfile
import timeit
from pathlib import Path

import numpy as np

import bridgelaw
from bridgelaw import _core

REPO = Path(__file__).resolve().parents[2]


def best(stmt, number, repeat=7):
    return min(timeit.repeat(stmt, number=number, repeat=repeat)) / number


cell = bridgelaw.load_bpx(REPO / "models/cells/lgm50_chen2020.bpx.json")
# Rust and Python batches interleaved, the best of each: a shared machine's load drifts
# between separate runs by more than the overhead being measured.
rust, py, py_v = [], [], []
for _ in range(40):
    rust.append(_core._bench_simulate(cell, 1.0, 4000.0, 100, 1))
    py.append(best(lambda: bridgelaw.simulate(cell, c_rate=1.0, duration=4000.0), 100, 1))
    py_v.append(best(lambda: bridgelaw.simulate(cell, c_rate=1.0, duration=4000.0)["voltage_V"], 100, 1))
rust, py, py_v = min(rust), min(py), min(py_v)
print(f"simulate SPM 1C: Rust {1e6 * rust:.2f} µs, Python call {1e6 * py:.2f} µs "
      f"(overhead {100 * (py - rust) / rust:+.1f} %), with the voltage array {1e6 * py_v:.2f} µs "
      f"({100 * (py_v - rust) / rust:+.1f} %)")

sys.path.insert(0, str(REPO / "python/tests"))
from spm_problem import write_spm_problem  # noqa: E402

ld = bridgelaw.LogDensity(write_spm_problem(Path(tempfile.mkdtemp())))
theta = ld.initial_point()
rust, py = [], []
for _ in range(40):
    rust.append(ld._bench_logp_and_grad(theta, 100, 1))
    py.append(best(lambda: ld.logp_and_grad(theta), 100, 1))
rust, py = min(rust), min(py)
print(f"logp_and_grad (dim {ld.dim}): Rust {1e6 * rust:.2f} µs, Python {1e6 * py:.2f} µs "
      f"(overhead {100 * (py - rust) / rust:+.1f} %)")
