"""A diagnosis, nothing chosen on it: which of our simulator's degradations go with the LV model's EF error. Reads a
`runtime_ef.py --sim N,SEED,FRAMES,BEAT --difficulty D` report, draws each cine's parameters again from its seed
(sample_cine_params, no simulation), and reports the Spearman correlation of the harness's absolute EF error (every
frame, no gate) with each parameter, and the mean error by the number of rib shadows.

    training/.venv/bin/python training/scripts/ef_error_by_params.py training/results/runtime_ef/w41_t3.json \\
        --sim 40,9129,128,43 --difficulty wide_iv
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))

from sonoedge_train.sim.simulator import sample_cine_params  # noqa: E402

PARAMS = {"gain_db": lambda p: p.gain_db, "dr_db": lambda p: p.dr_db, "haze": lambda p: p.haze,
          "noise": lambda p: p.noise, "fore": lambda p: p.fore, "|rot_deg|": lambda p: abs(p.rot_deg),
          "|dx|": lambda p: abs(p.dx), "ribs": lambda p: len(p.ribs), "motion_mm": lambda p: p.motion_mm,
          "clutter": lambda p: p.clutter, "lung": lambda p: p.lung, "psf_scale": lambda p: p.psf_scale,
          "depth_mm": lambda p: p.depth_mm}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("report", help="a runtime_ef.py --sim report")
    ap.add_argument("--sim", required=True, help="the report's N,SEED,FRAMES,BEAT")
    ap.add_argument("--difficulty", required=True)
    a = ap.parse_args(argv)
    _, seed, frames, _ = (int(v) for v in a.sim.split(","))
    cines = json.loads(Path(a.report).read_text())["cines"]
    params = [sample_cine_params(seed * 1000 + c["id"], c["view"], frames, a.difficulty) for c in cines]
    err = [abs(c["harness"] - c["ref"]) for c in cines]
    out = {"cines": len(cines), "harness_mae": round(float(np.mean(err)), 2),
           "spearman_with_abs_error": {k: round(float(spearmanr([f(p) for p in params], err).statistic), 2)
                                       for k, f in PARAMS.items()},
           "mae_by_ribs": {}}
    for n in sorted({len(p.ribs) for p in params}):
        e = [x for x, p in zip(err, params) if len(p.ribs) == n]
        out["mae_by_ribs"][str(n)] = [len(e), round(float(np.mean(e)), 2)]
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
