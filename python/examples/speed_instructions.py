"""Call overhead of the Python package in instructions (valgrind's callgrind), which a loaded
machine does not change: each case runs in a fresh interpreter under callgrind with N = 20 and
N = 220 calls, and the difference over 200 is the cost of one call (start-up and set-up cancel).

    python python/examples/speed_instructions.py        # needs valgrind; ~5 minutes

simulate: Python ``bridgelaw.simulate`` (SPM, 1C, LG M50 BPX, 20 shells, the setting of
speed.py) against the same solve in Rust's loop (``_core._bench_simulate``). logp_and_grad:
Python ``LogDensity.logp_and_grad`` on the test suite's SPM problem against Rust's loop
(``LogDensity._bench_logp_and_grad``).
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CASE = r'''
import sys, tempfile
from pathlib import Path
import bridgelaw
from bridgelaw import _core
what, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if what == "simulate":
    cell = bridgelaw.load_bpx(sys.argv[4] + "/models/cells/lgm50_chen2020.bpx.json")
    py = lambda: bridgelaw.simulate(cell, c_rate=1.0, duration=4000.0)
    rust = lambda k: _core._bench_simulate(cell, 1.0, 4000.0, k, 1)
else:
    sys.path.insert(0, sys.argv[4] + "/python/tests")
    from spm_problem import write_spm_problem
    ld = bridgelaw.LogDensity(write_spm_problem(Path(tempfile.mkdtemp())))
    theta = ld.initial_point()
    py = lambda: ld.logp_and_grad(theta)
    rust = lambda k: ld._bench_logp_and_grad(theta, k, 1)
py(); rust(1)  # first calls (lazy initialisations) outside the difference
if mode == "py":
    for _ in range(n):
        py()
else:
    rust(n)
'''


def instructions(what, mode, n):
    with tempfile.TemporaryDirectory() as d:
        script, out = Path(d) / "case.py", Path(d) / "callgrind.out"
        script.write_text(CASE)
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, str(script), what, mode,
             str(n), str(REPO)],
            check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        return int(re.search(r"^summary: (\d+)", out.read_text(), re.M).group(1))


for what in ["simulate", "logp_and_grad"]:
    per = {m: (instructions(what, m, 220) - instructions(what, m, 20)) / 200 for m in ["rust", "py"]}
    print(f"{what}: Rust {per['rust'] / 1e3:.0f} k instructions per call, Python {per['py'] / 1e3:.0f} k "
          f"({100 * (per['py'] - per['rust']) / per['rust']:+.2f} %)")
