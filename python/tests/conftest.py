"""Shared fixtures: the repository's shipped files and the small synthetic SPM calibration
problem of spm_problem.py, built once per session in a temporary folder."""

from pathlib import Path

import pytest

from spm_problem import BPX, NOISE_V, REPO, TRUTH, write_spm_problem  # noqa: F401  (re-exported)


@pytest.fixture(scope="session")
def spm_study(tmp_path_factory) -> Path:
    return write_spm_problem(tmp_path_factory.mktemp("spm"))
