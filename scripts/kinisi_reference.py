"""The kinisi cross-check reference of `tests/md_diffusion.rs` (kinisi_reference_*):

1. writes data/kinisi/brownian_walk.xyz: 16 Li Brownian walkers (D = 0.05 Å²/ps = 5e-10 m²/s) among 4
   fixed O in a 12 Å cubic box, 200 frames 0.1 ps apart, wrapped positions, ASE extended XYZ with Time= in ps;
2. runs kinisi on it with kinisi's defaults (every lag from one frame to the full run, drift correction
   against the O, emcee with 32 walkers, 1000 samples, 500 burn-in, thinning 10), the diffusive window
   from 1 ps, for 4 random states, and writes data/kinisi/kinisi_reference.json: D and sd (m²/s) of
   kinisi's posterior samples for each state and their means, with the versions used.

Run in a scratch environment (pip install kinisi==2.1.0 ase); not part of the product or of CI.
Usage: python scripts/kinisi_reference.py [OUT_DIR]   (default data/kinisi)"""
import json, os, platform, sys
import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else "data/kinisi"
os.makedirs(out, exist_ok=True)
xyz = os.path.join(out, "brownian_walk.xyz")
SEED, N, NO, F, DT, D, L = 20261206, 16, 4, 200, 0.1, 0.05, 12.0
rng = np.random.default_rng(SEED)
r = rng.uniform(0, L, (N, 3))
o = rng.uniform(0, L, (NO, 3))
olines = "".join(f"O {p[0]:.6f} {p[1]:.6f} {p[2]:.6f}\n" for p in o)
with open(xyz, "w") as f:
    for k in range(F):
        f.write(f'{N + NO}\nLattice="{L} 0.0 0.0 0.0 {L} 0.0 0.0 0.0 {L}" '
                f'Properties=species:S:1:pos:R:3 Time={k * DT:.6f} pbc="T T T"\n')
        f.write("".join(f"Li {p[0]:.6f} {p[1]:.6f} {p[2]:.6f}\n" for p in np.mod(r, L)))
        f.write(olines)
        r = r + rng.normal(0, np.sqrt(2 * D * DT), (N, 3))

import ase, ase.io, scipp as sc, kinisi
from kinisi.analyze import DiffusionAnalyzer

traj = ase.io.read(xyz, index=":")
runs = []
for state in (1, 2, 3, 4):
    a = DiffusionAnalyzer.from_ase(traj, specie="Li", time_step=sc.scalar(DT, unit="ps"),
                                   step_skip=sc.scalar(1, unit=sc.units.dimensionless), progress=False)
    a.diffusion(sc.scalar(1.0, unit="ps"), progress=False, random_state=np.random.RandomState(state))
    assert str(a.D.unit) in ("cm^2/s", "cm**2/s"), a.D.unit
    s = a.D.values * 1e-4  # cm²/s → m²/s
    runs.append({"random_state": state, "D_m2_s": float(s.mean()), "sd_m2_s": float(s.std(ddof=1))})
ref = {
    "what": "kinisi DiffusionAnalyzer.from_ase(..., specie='Li', time_step=0.1 ps, step_skip=1) defaults, "
            "diffusion(start_dt=1 ps): mean and sd of the posterior samples of D",
    "file": "brownian_walk.xyz",
    "true_D_m2_s": D * 1e-8,
    "generator_seed": SEED,
    "kinisi_version": kinisi.__version__,
    "ase_version": ase.__version__,
    "numpy_version": np.__version__,
    "python_version": platform.python_version(),
    "runs": runs,
    "D_m2_s": float(np.mean([x["D_m2_s"] for x in runs])),
    "sd_m2_s": float(np.mean([x["sd_m2_s"] for x in runs])),
}
with open(os.path.join(out, "kinisi_reference.json"), "w") as f:
    json.dump(ref, f, indent=2)
    f.write("\n")
print(json.dumps(ref, indent=2))
