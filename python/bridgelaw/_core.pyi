"""Type stubs of the compiled module bridgelaw._core (PyO3). Units are SI unless the name says."""

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

PathLike = Union[str, os.PathLike]
Document = Dict[str, Any]

__version__: str

class InputError(ValueError):
    """An input file, field, array or setting is not what was expected (the message names
    it); the command line exits 2 on these."""

class RunError(RuntimeError):
    """A run failed on valid input; the command line exits 1 on these."""

class Cell:
    """A cell read from a BPX file: every SPM/SPMe parameter in SI units."""

    @property
    def title(self) -> str: ...
    @property
    def nominal_capacity_Ah(self) -> float:
        """Nominal capacity [A h]."""
    @property
    def temperature_K(self) -> float:
        """Cell temperature [K]."""

def load_bpx(bpx: Union[PathLike, Document, Cell]) -> Cell:
    """Read a BPX file (path) or document (dict). Raises InputError naming file and field."""

class Simulation:
    """One voltage curve: a row per output time reached, then the cut-off row if the run
    stopped there. Columns: time_s, current_A (discharge > 0), voltage_V, theta_n_surf,
    theta_p_surf, theta_n_avg, theta_p_avg, ocp_n_V, ocp_p_V, eta_n_V, eta_p_V, eta_c_V,
    dphi_e_V, dphi_s_V, capacity_Ah."""

    @property
    def columns(self) -> Tuple[str, ...]: ...
    def __getitem__(self, name: str) -> npt.NDArray[np.float64]: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str) -> bool: ...
    def keys(self) -> List[str]: ...
    @property
    def data(self) -> npt.NDArray[np.float64]:
        """The table, rows × columns."""
    def to_dict(self) -> Dict[str, npt.NDArray[np.float64]]: ...
    def to_pandas(self) -> Any:
        """A pandas DataFrame (needs pandas)."""
    @property
    def stop(self) -> str:
        """"end_of_protocol", "lower_cutoff", "upper_cutoff" or "surface_limit"."""
    @property
    def summary(self) -> str:
        """How the solve ended, in words with units."""
    @property
    def steps(self) -> int: ...
    @property
    def capacity_Ah(self) -> float:
        """Discharged capacity at the end [A h]."""

def simulate(
    bpx: Union[PathLike, Document, Cell],
    model: str = "spm",
    *,
    c_rate: Optional[float] = None,
    current: Optional[float] = None,
    current_series: Optional[Tuple[npt.ArrayLike, npt.ArrayLike]] = None,
    current_file: Optional[PathLike] = None,
    sign: Optional[str] = None,
    duration: Optional[float] = None,
    temperature: Optional[float] = None,
    shells: int = 20,
    electrolyte_mesh: Tuple[int, int, int] = (20, 20, 20),
    output_dt: float = 10.0,
) -> Simulation:
    """One SPM/SPMe voltage curve (``bridgelaw simulate``). One of ``c_rate`` [1/h] or
    ``current`` [A] (constant discharge, > 0, until the cut-off or ``duration`` [s]),
    ``current_series`` (time [s], current [A], discharge > 0) or ``current_file`` (cycler CSV,
    ``sign`` "discharge_negative"/"discharge_positive" unless stated in the file); default
    1C. ``temperature`` [K], ``shells`` per particle, SPMe ``electrolyte_mesh``,
    ``output_dt`` [s]."""

class Study:
    """A study file resolved: model, bound inputs, joint prior, engine settings."""

    @property
    def path(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def parameters(self) -> List[Dict[str, Any]]:
        """Free inputs: name, unit, transform, mean, sd, q05, q50, q95 (natural units)."""
    @property
    def outputs(self) -> List[Dict[str, Any]]:
        """Outputs: name, unit, and for curves axis, axis_unit, axis_values."""
    def evaluate(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Flat model outputs at natural inputs ``x`` (``parameters`` order and units)."""

def load_study(study: Union[PathLike, Document, Study], base_dir: Optional[PathLike] = None) -> Study:
    """Read a study file (path) or document (dict; relative paths against ``base_dir``,
    default the working folder)."""

class Priors:
    """A joint prior: a multivariate normal in a transformed space z, x = T(z)."""

    @property
    def title(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def names(self) -> List[str]: ...
    @property
    def units(self) -> List[str]: ...
    @property
    def parameters(self) -> List[Dict[str, Any]]: ...
    @property
    def correlation(self) -> npt.NDArray[np.float64]:
        """Correlation matrix of z."""
    def sample(self, n: int, seed: int = 0) -> npt.NDArray[np.float64]:
        """(n, parameters) draws in natural units."""

def load_priors(priors: Union[PathLike, Document], base_dir: Optional[PathLike] = None) -> Priors: ...

class LogDensity:
    """ln p(θ | data) of a cell study's calibration, up to a constant, with its exact
    gradient. θ: each model parameter in its prior's transformed space (see ``transforms``),
    then ln σ [ln V] per curve whose noise is inferred."""

    def __init__(self, study: Union[PathLike, Document, Study], data: Optional[Sequence[PathLike]] = None) -> None: ...
    @property
    def dim(self) -> int: ...
    @property
    def names(self) -> List[str]: ...
    @property
    def units(self) -> List[str]: ...
    @property
    def transforms(self) -> List[str]: ...
    def logp_and_grad(self, theta: npt.NDArray[np.float64]) -> Tuple[float, npt.NDArray[np.float64]]:
        """ln p and ∂ln p/∂θ. Raises RunError where the cell model fails."""
    def logp(self, theta: npt.NDArray[np.float64]) -> float: ...
    def to_natural(self, theta: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """θ → natural units (parameters in their units, σ in V)."""
    def initial_point(self) -> npt.NDArray[np.float64]:
        """The prior centre in θ."""

def report(run_dir: PathLike, out: Optional[PathLike] = None) -> os.PathLike:
    """Render report.html from a run folder into ``out`` (default the folder); its path."""

def laws() -> List[Tuple[str, str]]:
    """The bridging-law catalogue: (name, equation and units)."""

def _propagate(
    study: Any,
    method: Optional[str] = None,
    samples: Optional[int] = None,
    seed: Optional[int] = None,
    levels: Optional[List[float]] = None,
    rel_err: Optional[float] = None,
    return_samples: int = 0,
) -> Tuple[str, Optional[Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]]: ...
def _sensitivity(
    study: Any, method: str = "all", seed: Optional[int] = None, samples: Optional[int] = None
) -> Tuple[str, List[Tuple[str, str, str, str, Optional[float]]], List[str]]: ...
def _calibrate(
    study: Any,
    data: Optional[List[str]] = None,
    chains: Optional[int] = None,
    draws: Optional[int] = None,
    tune: Optional[int] = None,
    seed: Optional[int] = None,
    progress: bool = False,
    predictive_draws: int = 100,
) -> Dict[str, Any]: ...
def _calibrate_map(
    study: Any, data: Optional[List[str]] = None, seed: Optional[int] = None
) -> Dict[str, Any]: ...
