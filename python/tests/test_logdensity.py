"""LogDensity: the calibration's log posterior with its exact gradient, driven by scipy."""

import numpy as np
import pytest

import bridgelaw

optimize = pytest.importorskip("scipy.optimize", reason="scipy is in the test extra")


@pytest.fixture(scope="module")
def ld(spm_study):
    return bridgelaw.LogDensity(spm_study)


def test_gradient_matches_central_differences(ld):
    rng = np.random.default_rng(0)
    centre = ld.initial_point()
    for _ in range(3):
        theta = centre + 0.3 * rng.standard_normal(ld.dim)
        lp, g = ld.logp_and_grad(theta)
        assert lp == pytest.approx(ld.logp(theta), rel=1e-12)
        h = 1e-5
        for k in range(ld.dim):
            e = np.zeros(ld.dim)
            e[k] = h
            fd = (ld.logp(theta + e) - ld.logp(theta - e)) / (2 * h)
            # central differences err by O(h²·f''') + rounding ~ε·|lp|/h (4e-8 here)
            assert g[k] == pytest.approx(fd, rel=1e-5, abs=1e-6 * (1 + abs(lp))), k


def test_scipy_finds_the_mode_near_the_truth(ld):
    from conftest import NOISE_V, TRUTH

    res = optimize.minimize(
        lambda t: tuple(-v for v in ld.logp_and_grad(t)),
        ld.initial_point(),
        jac=True,
        method="L-BFGS-B",
    )
    assert res.success, res.message
    x = ld.to_natural(res.x)
    names = ld.names
    assert names == ["D_n", "D_p", "sigma_1C"] and ld.transforms == ["log", "log", "log"]
    assert x[0] == pytest.approx(TRUTH["D_n"], rel=0.2)
    assert x[1] == pytest.approx(TRUTH["D_p"], rel=0.2)
    assert x[2] == pytest.approx(NOISE_V, rel=0.3)
    # the gradient vanishes at the optimum (relative to its size at the start)
    g0 = np.abs(ld.logp_and_grad(ld.initial_point())[1]).max()
    assert np.abs(ld.logp_and_grad(res.x)[1]).max() < 1e-3 * g0


def test_wrong_length_is_an_input_error(ld):
    with pytest.raises(bridgelaw.InputError) as e:
        ld.logp_and_grad(np.zeros(ld.dim + 1))
    assert "expected 3 values" in str(e.value)


def test_model_failure_is_a_run_error(ld):
    theta = ld.initial_point()
    theta[0] -= 20.0  # D_n × e^-20: the particle surface empties at once
    with pytest.raises(bridgelaw.RunError) as e:
        ld.logp_and_grad(theta)
    assert "stoichiometry" in str(e.value) and isinstance(e.value, RuntimeError)
