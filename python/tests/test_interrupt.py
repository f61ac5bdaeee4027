"""Ctrl-C stops a long calibration cleanly (KeyboardInterrupt, interpreter alive) within a
fraction of the run's time; the GIL is free while it runs."""

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
