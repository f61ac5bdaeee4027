#!/usr/bin/env python3
"""Interop check: read bridgelaw's CmdStan CSV draws with cmdstanpy's from_csv and ArviZ's
from_cmdstan.

Usage: stan_interop.py [--summary SUMMARY.json] [--adaptation ADAPTATION.json] CHAIN1.csv [...]

Checks that both tools parse every file (chains, draws, parameter and sampler-stat columns) and
see the same draws. With a bridgelaw summary JSON: the posterior means both compute, and ArviZ's
rank-normalised R-hat, bulk and tail ESS, MCSE and sd, agree with bridgelaw's to 1e-6
(relative). With an adaptation JSON (a list, per chain, of {"step_size", "inv_metric"}):
cmdstanpy's step_size and metric equal it to 1e-12 (relative). Prints one line per compared
quantity, then "OK" and exits 0 on success; prints what differs and exits 1 otherwise.
"""
import json
import sys

import arviz as az
import cmdstanpy
import numpy as np

TOL = 1e-6


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def main(argv):
    args = argv[1:]
    summary = adaptation = None
    while args and args[0].startswith("--"):
        flag, value, args = args[0], args[1], args[2:]
        if flag == "--summary":
            summary = json.load(open(value))
        elif flag == "--adaptation":
            adaptation = json.load(open(value))
        else:
            print(__doc__)
            return 2
    files = args
    if not files:
        print(__doc__)
        return 2
    problems = []
    worst = {"value": 0.0, "what": "nothing compared"}

    def compare(what, ours, theirs, tol=TOL):
        r = rel(ours, theirs)
        if r > worst["value"] or worst["what"] == "nothing compared":
            worst.update(value=r, what=what)
        if not r <= tol:
            problems.append(f"{what}: bridgelaw {ours!r}, reader {theirs!r} (rel diff {r:.2e})")

    # cmdstanpy: the Stan project's own reader, strict about the comment blocks.
    fit = cmdstanpy.from_csv(path=files, method="sample")
    cs_draws = fit.draws()  # (draws, chains, columns)
    if fit.chains != len(files):
        problems.append(f"cmdstanpy chains: {fit.chains}, expected {len(files)}")
    print(f"cmdstanpy {cmdstanpy.__version__}: {fit.chains} chains x {fit.num_draws_sampling} "
          f"draws, metric {fit.metric_type}, columns {list(fit.column_names)}")
    if adaptation is not None:
        for c, a in enumerate(adaptation):
            compare(f"chain {c + 1} step size (cmdstanpy)", a["step_size"], float(fit.step_size[c]),
                    1e-12)
            metric = np.asarray(fit.metric[c])
            if metric.shape != (len(a["inv_metric"]),):
                problems.append(f"chain {c + 1} metric shape {metric.shape}, "
                                f"expected ({len(a['inv_metric'])},)")
                continue
            for k, v in enumerate(a["inv_metric"]):
                compare(f"chain {c + 1} inverse metric [{k}] (cmdstanpy)", v, float(metric[k]),
                        1e-12)

    # ArviZ.
    idata = az.from_cmdstan(posterior=files)
    post = idata.posterior
    stats = idata.sample_stats
    print(f"ArviZ {az.__version__}: {post.sizes['chain']} chains x {post.sizes['draw']} draws, "
          f"variables {list(post.data_vars)}")
    if post.sizes["chain"] != len(files):
        problems.append(f"ArviZ chains: {post.sizes['chain']}, expected {len(files)}")
    for name in ["lp", "diverging", "energy", "step_size", "tree_depth", "n_steps",
                 "acceptance_rate"]:
        if name not in stats:
            problems.append(f"sample_stats lacks '{name}' (has {list(stats.data_vars)})")

    if summary is not None:
        draws = summary["config"]["draws"]
        for tool, n in [("cmdstanpy", fit.num_draws_sampling), ("ArviZ", post.sizes["draw"])]:
            if n != draws:
                problems.append(f"draws: {tool} sees {n}, summary says {draws}")
        for p in summary["params"]:
            name = p["name"]
            if name not in post or name not in fit.column_names:
                problems.append(f"parameter '{name}' missing (ArviZ has {list(post.data_vars)}, "
                                f"cmdstanpy {list(fit.column_names)})")
                continue
            x = post[name].values  # (chain, draw)
            y = cs_draws[:, :, list(fit.column_names).index(name)].T
            if not np.array_equal(x, y):
                problems.append(f"{name}: cmdstanpy and ArviZ read different draws")
            compare(f"{name}.mean (cmdstanpy)", p["mean"], float(np.mean(y)))
            theirs = {
                "mean": float(np.mean(x)),
                "sd": float(np.std(x, ddof=1)),
                "rhat": float(az.rhat(x, method="rank")),
                "ess_bulk": float(az.ess(x, method="bulk")),
                "ess_tail": float(az.ess(x, method="tail")),
                "mcse_mean": float(az.mcse(x, method="mean")),
                "mcse_sd": float(az.mcse(x, method="sd")),
            }
            for k, t in theirs.items():
                compare(f"{name}.{k} (ArviZ)", p[k], t)
            print(f"  {name}: mean {p['mean']:.10g} (cmdstanpy {np.mean(y):.10g}, ArviZ "
                  f"{theirs['mean']:.10g}); R-hat {p['rhat']:.8f} (ArviZ {theirs['rhat']:.8f}); "
                  f"ESS bulk {p['ess_bulk']:.4f} (ArviZ {theirs['ess_bulk']:.4f})")
    print(f"largest relative difference: {worst['value']:.2e} ({worst['what']})")
    if problems:
        print("FAILED")
        for p in problems:
            print("  " + p)
        return 1
    print(f"OK: cmdstanpy and ArviZ read {len(files)} chains")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
