"""bridgelaw: atomistic estimates with their uncertainty → continuum battery parameters →
SPM/SPMe voltage curves → NUTS calibration → sensitivity ranking, at Rust speed.

    >>> import bridgelaw
    >>> cell = bridgelaw.load_bpx("models/cells/lgm50_chen2020.bpx.json")
    >>> sim = bridgelaw.simulate(cell, model="spme", c_rate=1.0)
    >>> sim["voltage_V"][:3]                      # NumPy arrays; sim.to_pandas() a DataFrame
    >>> idata = bridgelaw.calibrate("models/lgm50_chain_calibration.toml")   # arviz.InferenceData

Units are SI unless a name says otherwise (``time_s``, ``voltage_V``, ``capacity_Ah``);
parameters carry the units their priors files state. Bad input raises :class:`InputError`
(a ``ValueError``) naming the file and field; a failed run raises :class:`RunError`. Long runs
release the GIL and stop on Ctrl-C (``KeyboardInterrupt``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ._core import (  # noqa: F401  (re-exported)
    Cell,
    InputError,
    LogDensity,
    Priors,
    RunError,
    Simulation,
    Study,
    __version__,
    laws,
    load_bpx,
    load_priors,
    load_study,
    simulate,
)
from . import _core

__all__ = [
    "Cell",
    "InputError",
    "LogDensity",
    "MapFit",
    "PropagationResult",
    "Priors",
    "RunError",
    "SensitivityResult",
    "Simulation",
    "Study",
    "calibrate",
    "laws",
    "load_bpx",
    "load_priors",
    "load_study",
    "propagate",
    "report",
    "sensitivity",
    "simulate",
]


@dataclass
class PropagationResult:
    """What :func:`propagate` returns.

    ``results`` is the full result (the CLI's ``propagation.json``: inputs, delta method with
    Jacobians and variance decomposition, one entry per Monte Carlo design with quantiles and
    intervals, the nonlinearity check). ``samples``, when asked for, holds ``inputs`` (draws ×
    parameters, natural units), ``outputs`` (draws × flat outputs, NaN rows where the model
    failed) and their ``input_names`` and ``output_labels``.
    """

    results: Dict[str, Any]
    samples: Optional[Dict[str, Any]] = None

    @property
    def title(self) -> str:
        return self.results.get("title", "")

    @property
    def warnings(self) -> List[str]:
        """Plain-words verdicts of the delta-method vs Monte Carlo check where it failed."""
        return [m for r in self.results.get("nonlinearity", []) if r["any_nonlinear"] for m in r["messages"]]

    def records(self) -> List[Dict[str, Any]]:
        """One record per (method, flat output): mean, sd, unit, and for Monte Carlo the
        standard errors and the central intervals (``lower_<level>``, ``upper_<level>``)."""
        rows: List[Dict[str, Any]] = []
        d = self.results.get("delta")
        if d:
            for j, label in enumerate(d["labels"]):
                rows.append(
                    {"method": "delta", "output": label, "unit": d["units"][j], "mean": d["mean"][j], "sd": d["sd"][j]}
                )
        for mc in self.results.get("monte_carlo", []):
            design = mc["design"] if isinstance(mc["design"], str) else json.dumps(mc["design"])
            for o in mc["outputs"]:
                r = {
                    "method": design,
                    "output": o["label"],
                    "unit": o["unit"],
                    "mean": o["mean"],
                    "sd": o["sd"],
                    "se_mean": o["se_mean"],
                    "se_sd": o["se_sd"],
                }
                for iv in o["intervals"]:
                    lv = f"{iv['level']:g}"
                    r[f"lower_{lv}"] = iv["lower"]
                    r[f"upper_{lv}"] = iv["upper"]
                rows.append(r)
        return rows

    def to_pandas(self):
        """The records as a pandas DataFrame (needs pandas)."""
        import pandas as pd

        return pd.DataFrame.from_records(self.records())


def propagate(
    study,
    *,
    method: Optional[str] = None,
    samples: Optional[int] = None,
    seed: Optional[int] = None,
    levels: Optional[Sequence[float]] = None,
    rel_err: Optional[float] = None,
    return_samples: int = 0,
) -> PropagationResult:
    """Propagate a study's atomistic uncertainty to its outputs (``bridgelaw propagate``).

    ``study`` is a :class:`Study`, a study file path or a dict with the file's structure.
    Keywords override the study's ``[propagate]`` section: ``method`` "delta", "mc", "qmc",
    "lhs" or "all"; ``samples`` Monte Carlo draws N; ``seed``; ``levels`` central interval
    levels in (0, 1); ``rel_err`` a stopping target for the relative Monte Carlo error.
    ``return_samples`` > 0 also draws that many inputs (seeded, pseudo-random, a stream apart
    from the engine's) and returns them with the model outputs as NumPy arrays.
    """
    text, arrays = _core._propagate(
        study,
        method=method,
        samples=samples,
        seed=seed,
        levels=list(levels) if levels is not None else None,
        rel_err=rel_err,
        return_samples=int(return_samples),
    )
    res = json.loads(text)
    smp = None
    if arrays is not None:
        labels: List[str] = []
        for o in res["outputs"]:
            shape = o["shape"]
            if isinstance(shape, dict) and "Curve" in shape:
                ax = shape["Curve"]
                labels.extend(f"{o['name']}[{ax['name']}={v:g}]" for v in ax["values"])
            else:
                labels.append(o["name"])
        smp = {
            "inputs": arrays[0],
            "outputs": arrays[1],
            "input_names": [i["name"] for i in res["inputs"]],
            "output_labels": labels,
        }
    return PropagationResult(results=res, samples=smp)


@dataclass
class SensitivityResult:
    """What :func:`sensitivity` returns.

    ``results`` is the CLI's ``sensitivity.json`` (one entry per method that ran, the
    refine-next ``ranking`` always); ``rows`` the long format: (method, output, input, metric,
    value), where Sobol confidence intervals are the metrics ``S1_low``/``S1_high``,
    ``ST_low``/``ST_high`` and so on (value None where undefined).
    """

    results: Dict[str, Any]
    rows: List[Tuple[str, str, str, str, Optional[float]]] = field(default_factory=list)
    #: Inputs ordered by the output variance halving each one's sd would remove, most useful
    #: first (the first aggregated output's order): which calculation to refine next.
    refine_next: List[str] = field(default_factory=list)

    def to_pandas(self):
        """The long-format rows as a DataFrame with columns method, output, input, metric,
        value (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=["method", "output", "input", "metric", "value"])


def sensitivity(
    study, *, method: str = "all", seed: Optional[int] = None, samples: Optional[int] = None
) -> SensitivityResult:
    """Rank a study's atomistic inputs by how much each matters (``bridgelaw sensitivity``).

    ``method``: "local" (elasticities ∂ln y/∂ln θ), "variance" (delta-method shares), "sobol"
    (first-order and total indices with bootstrap CIs), "morris", "shapley" or "all"; the
    refine-next ranking always runs. ``seed`` overrides every method's seed, ``samples`` the
    Sobol base sample count N (N·(d+2) model evaluations). Defaults from ``[sensitivity]``.
    """
    text, rows, order = _core._sensitivity(study, method=method, seed=seed, samples=samples)
    return SensitivityResult(results=json.loads(text), rows=rows, refine_next=list(order))


@dataclass
class MapFit:
    """What :func:`calibrate` returns with ``map=True`` (``bridgelaw calibrate --map``).

    ``results`` is the CLI's ``*_map.json``: ``mode`` (natural units) and ``mode_z``,
    ``log_density`` (ln p at the mode, up to a constant), the optimiser's ``iterations`` and
    ``termination``, the multi-start report ``starts``, the Laplace summaries ``params`` (MAP,
    mean, sd, q5/q50/q95 in natural units; empty when the Hessian is not positive definite) and
    ``laplace_cov_z``. ``validation`` is the CLI's ``*_validation.json``: each model parameter
    at the prior centre, the MAP and the Laplace mean (``posterior_mean``), and each curve's RMS
    residual [V] there (``rmse``).
    ``shift_prior_sd`` is each unknown's MAP minus its prior mean in prior sds (in the
    transformed space where the prior is normal).
    """

    results: Dict[str, Any]
    validation: Dict[str, Any]
    names: List[str]
    units: List[str]
    shift_prior_sd: Dict[str, float]
    #: The optimiser's stop, in words.
    stop: str = ""
    warnings: List[str] = field(default_factory=list)
    _view_json: str = field(default="", repr=False)

    @property
    def mode(self) -> Dict[str, float]:
        """The MAP point, natural units (``sigma_<curve>`` in V)."""
        return dict(zip(self.names, self.results["mode"]))

    @property
    def rmse(self) -> Dict[str, Dict[str, Optional[float]]]:
        """Per curve: RMS residual [V] at the prior centre, the MAP and the Laplace mean."""
        return {
            r["curve"]: {"prior_centre": r["prior_centre_v"], "map": r["map_v"], "laplace_mean": r["posterior_mean_v"]}
            for r in self.validation["rmse"]
        }

    def records(self) -> List[Dict[str, Any]]:
        """One record per unknown: name, unit, map, shift_prior_sd and the Laplace mean, sd,
        q5, q50, q95 (absent without a Laplace approximation)."""
        laplace = {p["name"]: p for p in self.results.get("params", [])}
        rows = []
        for n, u, m in zip(self.names, self.units, self.results["mode"]):
            r: Dict[str, Any] = {"name": n, "unit": u, "map": m, "shift_prior_sd": self.shift_prior_sd[n]}
            lp = laplace.get(n)
            if lp:
                r.update({k: lp[k] for k in ("mean", "sd", "q5", "q50", "q95")})
            rows.append(r)
        return rows

    def to_pandas(self):
        """The records as a pandas DataFrame (needs pandas)."""
        import pandas as pd

        return pd.DataFrame.from_records(self.records())


def calibrate(
    study,
    *,
    data: Optional[Sequence[str]] = None,
    chains: Optional[int] = None,
    draws: Optional[int] = None,
    tune: Optional[int] = None,
    seed: Optional[int] = None,
    progress: bool = False,
    predictive_draws: int = 100,
    map: bool = False,
):
    """Calibrate a cell study against its measured curves with NUTS (``bridgelaw calibrate``).

    With ``map=True``, the CLI's fast ``--map`` mode instead: the posterior mode and the
    Laplace approximation around it, no MCMC, returned as a :class:`MapFit` (``seed`` fixes the
    Laplace draws behind the report's bands; chains, draws, tune and predictive_draws do not
    apply). Needs no arviz.

    The same settings and seed give the same draws as the command line. Keywords override the
    study's ``[calibrate]`` section; ``data`` replaces its measured curves (one CSV per data
    experiment, as ``--data``). Returns an ``arviz.InferenceData`` with groups

    - ``posterior``: every unknown in natural units (its unit in the variable's ``units``
      attribute; ``sigma_<curve>`` noise sds in V), dims (chain, draw);
    - ``sample_stats``: lp, acceptance_rate, step_size, tree_depth, n_steps, diverging,
      energy, reached_max_treedepth;
    - ``observed_data``: each measured curve ``<curve>`` [V] on its ``time_<curve>`` [s];
    - ``posterior_predictive``: simulated data (model at a draw plus its noise) at every
      ``draw_stride``-th draw of each chain, at most ``predictive_draws`` per chain.

    ``posterior.attrs["bridgelaw_summary"]`` is the library's summary as JSON (R̂, ESS, MCSE,
    prior→posterior shift; what the CLI writes to ``*_summary.json``) and
    ``posterior.attrs["warnings"]`` its warnings. Needs arviz.
    """
    if map:
        raw = _core._calibrate_map(
            study, data=[str(d) for d in data] if data is not None else None, seed=seed
        )
        names = list(raw["names"])
        return MapFit(
            results=json.loads(raw["map_json"]),
            validation=json.loads(raw["validation_json"]),
            names=names,
            units=list(raw["units"]),
            shift_prior_sd=dict(zip(names, raw["shift_prior_sd"])),
            stop=raw["stop"],
            warnings=list(raw["warnings"]),
            _view_json=raw["calibration_view_json"],
        )
    import arviz as az

    raw = _core._calibrate(
        study,
        data=[str(d) for d in data] if data is not None else None,
        chains=chains,
        draws=draws,
        tune=tune,
        seed=seed,
        progress=progress,
        predictive_draws=predictive_draws,
    )
    return _inference_data(raw, az)


def _inference_data(raw: Dict[str, Any], az):
    names: List[str] = list(raw["names"])
    post = raw["posterior"]
    posterior = {n: post[:, :, k] for k, n in enumerate(names)}
    observed: Dict[str, np.ndarray] = {}
    predictive: Dict[str, np.ndarray] = {}
    coords: Dict[str, Any] = {}
    dims: Dict[str, List[str]] = {}
    kind, nu = raw["likelihood"]
    rng = np.random.default_rng(int(raw["seed"]))
    for c in raw["curves"]:
        name = c["name"]
        tdim = f"time_{name}"
        coords[tdim] = c["time_s"]
        dims[name] = [tdim]
        observed[name] = c["observed"]
        mean = c["prediction"]
        sigma = c["sigma"][:, :, None]
        if kind == "student_t":
            noise = rng.standard_t(nu, size=mean.shape)
        else:
            noise = rng.standard_normal(size=mean.shape)
        predictive[name] = mean + sigma * noise
    idata = az.from_dict(
        posterior=posterior,
        sample_stats=raw["sample_stats"],
        observed_data=observed,
        posterior_predictive=predictive,
        coords=coords,
        dims=dims,
    )
    for n, u in zip(names, raw["units"]):
        idata.posterior[n].attrs["units"] = u
    idata.posterior.attrs["bridgelaw_summary"] = raw["summary_json"]
    idata.posterior.attrs["bridgelaw_calibration_view"] = raw["calibration_view_json"]
    idata.posterior.attrs["warnings"] = list(raw["warnings"])
    idata.posterior_predictive.attrs["draw_stride"] = int(raw["draw_stride"])
    return idata


def summary_table(idata) -> List[Dict[str, Any]]:
    """The library's posterior summary carried by a :func:`calibrate` result: one dict per
    unknown with mean, sd, q5/q50/q95, rhat, ess_bulk, ess_tail, mcse_mean, mcse_sd, unit and
    the prior→posterior shift."""
    return json.loads(idata.posterior.attrs["bridgelaw_summary"])["params"]


def report(run, out=None):
    """Render one self-contained HTML report (``bridgelaw report``) and return its path.

    ``run`` is a run folder of the command line (propagate, sensitivity or calibrate output),
    or results of this package — a :class:`PropagationResult`, a :class:`SensitivityResult`, an
    InferenceData from :func:`calibrate`, or a list of them — whose JSON is written into
    ``out`` (required then) as the command line writes it, then rendered there with the
    figures beside it.
    """
    import os
    from pathlib import Path

    if isinstance(run, (str, os.PathLike)):
        return Path(_core.report(run, out))
    if out is None:
        raise InputError("report: results of this package need out= (the folder to write the report in)")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    items = run if isinstance(run, (list, tuple)) else [run]
    for r in items:
        if isinstance(r, PropagationResult):
            (folder / "propagation.json").write_text(json.dumps(r.results))
        elif isinstance(r, SensitivityResult):
            (folder / "sensitivity.json").write_text(json.dumps(r.results))
        elif isinstance(r, MapFit):
            (folder / "calibration_view.json").write_text(r._view_json)
        elif hasattr(r, "posterior") and "bridgelaw_calibration_view" in r.posterior.attrs:
            (folder / "calibration_view.json").write_text(r.posterior.attrs["bridgelaw_calibration_view"])
        else:
            raise InputError(
                f"report: expected a run folder, a PropagationResult, a SensitivityResult, a MapFit or "
                f"an InferenceData from bridgelaw.calibrate, found {type(r).__name__}"
            )
    return Path(_core.report(folder, None))
