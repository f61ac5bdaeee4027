"""simulate(): the CLI's one voltage curve as NumPy arrays, and its input errors."""

import numpy as np
import pytest

import bridgelaw
from conftest import BPX


@pytest.fixture(scope="module")
def cell():
    return bridgelaw.load_bpx(BPX)


def test_spm_1c_discharge_reaches_the_cutoff(cell):
    sim = bridgelaw.simulate(cell, model="spm", c_rate=1.0)
    assert sim.stop == "lower_cutoff"
    v = sim["voltage_V"]
    assert v.dtype == np.float64 and v.shape == (len(sim),)
    assert v[-1] == pytest.approx(2.5, abs=1e-6)
    assert np.all(np.diff(sim["time_s"]) > 0)
    # 1C of a 5 A h cell: 5 A, about an hour, most of the capacity
    assert np.allclose(sim["current_A"], cell.nominal_capacity_Ah)
    assert 0.9 * 5.0 < sim.capacity_Ah < 5.0
    assert sim.data.shape == (len(sim), len(sim.columns))
    np.testing.assert_array_equal(sim.data[:, 2], v)


def test_path_dict_and_cell_give_the_same_curve(cell):
    import json

    a = bridgelaw.simulate(cell, c_rate=2.0)["voltage_V"]
    b = bridgelaw.simulate(str(BPX), c_rate=2.0)["voltage_V"]
    c = bridgelaw.simulate(json.loads(BPX.read_text()), c_rate=2.0)["voltage_V"]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_current_series_equals_the_constant_current(cell):
    a = bridgelaw.simulate(cell, current=5.0, duration=1200.0)
    t = np.array([0.0, 1200.0])
    b = bridgelaw.simulate(cell, current_series=(t, np.array([5.0, 5.0])))
    np.testing.assert_allclose(a["voltage_V"], b["voltage_V"], rtol=0, atol=1e-9)


def test_spme_and_temperature(cell):
    warm = bridgelaw.simulate(cell, model="spme", c_rate=1.0, duration=600.0)
    cold = bridgelaw.simulate(cell, model="spme", c_rate=1.0, duration=600.0, temperature=273.15)
    assert warm.stop == "end_of_protocol" and len(warm) == 61
    # colder: slower kinetics and transport, lower voltage under load
    assert np.all(cold["voltage_V"][1:] < warm["voltage_V"][1:])


def test_to_pandas(cell):
    pd = pytest.importorskip("pandas", reason="pandas is in the test extra")
    df = bridgelaw.simulate(cell, c_rate=1.0).to_pandas()
    assert list(df.columns) == list(bridgelaw.simulate(cell).columns)
    assert df["voltage_V"].iloc[0] > 4.0


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"model": "dfn"}, "expected \"spm\" or \"spme\""),
        ({"c_rate": -1.0}, "discharge rate > 0"),
        ({"current": float("nan")}, "discharge rate > 0"),
        ({"c_rate": 1.0, "current": 5.0}, "give one of"),
        ({"temperature": -3.0}, "positive temperature"),
        ({"electrolyte_mesh": (0, 20, 20)}, "electrolyte_mesh"),
        ({"sign": "discharge_positive"}, "only to current_file"),
    ],
)
def test_bad_input_raises_input_error(cell, kwargs, words):
    with pytest.raises(bridgelaw.InputError, match=None) as e:
        bridgelaw.simulate(cell, **kwargs)
    assert words in str(e.value)
    assert isinstance(e.value, ValueError)


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(bridgelaw.InputError) as e:
        bridgelaw.load_bpx(tmp_path / "missing.json")
    assert "missing.json" in str(e.value)
    bad = tmp_path / "bad.csv"
    bad.write_text("time_s,current_A\n0,5\n10,abc\n")
    with pytest.raises(bridgelaw.InputError) as e:
        bridgelaw.simulate(BPX, current_file=bad, sign="discharge_positive")
    assert "bad.csv" in str(e.value) and "line 3" in str(e.value)
    with pytest.raises(bridgelaw.InputError):
        bridgelaw.load_bpx({"Header": {}})
