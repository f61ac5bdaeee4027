#!/usr/bin/env python3
"""Interop check: read bridgelaw's CmdStan CSV draws with ArviZ's from_cmdstan.

Usage: arviz_interop.py [--summary SUMMARY.json] CHAIN1.csv [CHAIN2.csv ...]

Checks that ArviZ parses every file (chains, draws, parameter and sampler-stat columns), and,
when a bridgelaw summary JSON is given, that ArviZ's rank-normalised R-hat, bulk and tail ESS,
MCSE and mean/sd computed from the files agree with bridgelaw's to 1e-6 (relative).
Prints "OK" and exits 0 on success; prints what differs and exits 1 otherwise.
"""
import json
import sys

import arviz as az
import numpy as np


def main(argv):
    summary = None
    if len(argv) > 2 and argv[1] == "--summary":
        summary = json.load(open(argv[2]))
        files = argv[3:]
    else:
        files = argv[1:]
    if not files:
        print(__doc__)
        return 2
    idata = az.from_cmdstan(posterior=files)
    post = idata.posterior
    stats = idata.sample_stats
    problems = []
    if post.sizes["chain"] != len(files):
        problems.append(f"chains: ArviZ sees {post.sizes['chain']}, expected {len(files)}")
    for name in ["lp", "diverging", "energy", "step_size", "tree_depth", "n_steps", "acceptance_rate"]:
        if name not in stats:
            problems.append(f"sample_stats lacks '{name}' (has {list(stats.data_vars)})")
    if summary is not None:
        draws = summary["config"]["draws"]
        if post.sizes["draw"] != draws:
            problems.append(f"draws: ArviZ sees {post.sizes['draw']}, summary says {draws}")
        for p in summary["params"]:
            name = p["name"]
            if name not in post:
                problems.append(f"parameter '{name}' missing (ArviZ has {list(post.data_vars)})")
                continue
            x = post[name].values
            ours = {
                "rhat": p["rhat"],
                "ess_bulk": p["ess_bulk"],
                "ess_tail": p["ess_tail"],
                "mcse_mean": p["mcse_mean"],
                "mcse_sd": p["mcse_sd"],
                "mean": p["mean"],
                "sd": p["sd"],
            }
            theirs = {
                "rhat": float(az.rhat(x, method="rank")),
                "ess_bulk": float(az.ess(x, method="bulk")),
                "ess_tail": float(az.ess(x, method="tail")),
                "mcse_mean": float(az.mcse(x, method="mean")),
                "mcse_sd": float(az.mcse(x, method="sd")),
                "mean": float(np.mean(x)),
                "sd": float(np.std(x, ddof=1)),
            }
            for k, v in ours.items():
                t = theirs[k]
                rel = abs(v - t) / max(abs(t), 1e-300)
                if not rel < 1e-6:
                    problems.append(f"{name}.{k}: bridgelaw {v}, ArviZ {t} (rel diff {rel:.2e})")
    if problems:
        print("FAILED")
        for p in problems:
            print("  " + p)
        return 1
    print(f"OK: ArviZ {az.__version__} read {len(files)} chains x {post.sizes['draw']} draws, "
          f"variables {list(post.data_vars)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
