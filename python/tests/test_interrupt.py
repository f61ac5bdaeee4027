"""Ctrl-C stops a long calibration, propagation or sensitivity analysis cleanly
(KeyboardInterrupt, interpreter alive) within a fraction of the run's time; the GIL is free
while it runs."""

import os
import signal
import threading
import time

import pytest

import bridgelaw


def test_ctrl_c_interrupts_a_long_calibration(spm_study):
    # ~100× the fixture's run: tens of seconds uninterrupted
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        bridgelaw.calibrate(spm_study, tune=20000, draws=20000)
    elapsed = time.perf_counter() - t0
    timer.cancel()
    assert elapsed < 5.0, elapsed
    # the interpreter and the package still work
    assert bridgelaw.calibrate(spm_study, tune=20, draws=20).posterior["D_n"].shape == (2, 20)


def _interrupted_after(seconds, run):
    """Run `run()` with a SIGINT to this process after `seconds`; return the time it took to
    raise KeyboardInterrupt."""
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run()
    finally:
        timer.cancel()
    return time.perf_counter() - t0


def test_ctrl_c_interrupts_a_long_propagation(spm_study):
    # 2 million SPM solves: ~4 minutes uninterrupted on two cores
    for method in ["mc", "qmc", "lhs"]:
        elapsed = _interrupted_after(1.0, lambda: bridgelaw.propagate(spm_study, method=method, samples=2_000_000))
        assert elapsed < 5.0, (method, elapsed)
    # the draws returned beside the summaries stop too
    elapsed = _interrupted_after(
        1.0, lambda: bridgelaw.propagate(spm_study, method="delta", return_samples=300_000)
    )
    assert elapsed < 5.0, elapsed
    r = bridgelaw.propagate(spm_study, method="mc", samples=64)
    assert r.results["monte_carlo"][0]["samples_evaluated"] == 64


def test_ctrl_c_interrupts_a_long_sensitivity_analysis(spm_study):
    # 2^16 base rows × 4 SPM solves each: ~15 s uninterrupted on two cores
    elapsed = _interrupted_after(1.0, lambda: bridgelaw.sensitivity(spm_study, method="sobol", samples=1 << 16))
    assert elapsed < 5.0, elapsed
    r = bridgelaw.sensitivity(spm_study, method="sobol", samples=64)
    assert r.results["sobol"]["inputs"] == ["D_n", "D_p"]


def test_other_python_threads_run_during_a_calibration(spm_study):
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.01)

    th = threading.Thread(target=count)
    th.start()
    try:
        t0 = time.perf_counter()
        bridgelaw.calibrate(spm_study, tune=400, draws=400)
        t1 = time.perf_counter()
    finally:
        done.set()
        th.join()
    during = [t for t in ticks if t0 <= t <= t1]
    # a thread blocked by the GIL would tick only at the poll instants (every 50 ms)
    assert len(during) >= 0.3 * (t1 - t0) / 0.01, (len(during), t1 - t0)
