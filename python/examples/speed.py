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
rust = min(_core._bench_simulate(cell, 1.0, 4000.0, 300, 1) for _ in range(7))
py = best(lambda: bridgelaw.simulate(cell, c_rate=1.0, duration=4000.0), 300)
py_v = best(lambda: bridgelaw.simulate(cell, c_rate=1.0, duration=4000.0)["voltage_V"], 300)
print(f"simulate SPM 1C: Rust {1e6 * rust:.2f} µs, Python call {1e6 * py:.2f} µs "
      f"(overhead {100 * (py - rust) / rust:+.1f} %), with the voltage array {1e6 * py_v:.2f} µs "
      f"({100 * (py_v - rust) / rust:+.1f} %)")

sys.path.insert(0, str(REPO / "python/tests"))
from spm_problem import write_spm_problem  # noqa: E402

ld = bridgelaw.LogDensity(write_spm_problem(Path(tempfile.mkdtemp())))
theta = ld.initial_point()
rust = min(ld._bench_logp_and_grad(theta, 300, 1) for _ in range(7))
py = best(lambda: ld.logp_and_grad(theta), 300)
print(f"logp_and_grad (dim {ld.dim}): Rust {1e6 * rust:.2f} µs, Python {1e6 * py:.2f} µs "
      f"(overhead {100 * (py - rust) / rust:+.1f} %)")
