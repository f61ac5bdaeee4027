"""The notebook-style tour runs end to end."""

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_tour_runs_end_to_end():
    r = subprocess.run([sys.executable, str(EXAMPLES / "tour.py")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "tour done" in r.stdout
    assert "InputError:" in r.stdout and "propogate" in r.stdout
