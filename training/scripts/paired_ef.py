"""Two model folders' EF errors on the same apical cines, paired: per cine the EF the runtime would report on all
its frames (area-length on the largest LV component per frame, the largest and smallest volume, the package's EF
calibration) minus the reference, then the change in absolute error from A to B with a percentile bootstrap over
cines (5,000 resamples, seed 0). Tells whether a difference of EF MAE between two candidates on a 60-cine test set
is larger than that set can resolve.

    training/.venv/bin/python training/scripts/paired_ef.py SET MODELS_A MODELS_B

A set is a rendered simulator set or an independent-generator set (`python -m sonoedge_phantom generate`).
"""
from __future__ import annotations

import argparse

import numpy as np

from sonoedge_train.data.phantom import load_labelled
from sonoedge_train.transfer import Packages, apical_ef_cines, apical_ef_runs


def ef_errors(models: str, ds, spacing_xy) -> np.ndarray:
    """Calibrated EF minus reference EF, one per apical cine with a reference EF, in the set's cine order. The LV
    model runs on those cines' frames only."""
    p = Packages(models)
    keep = np.isin(ds.cine, [c["id"] for c in apical_ef_cines(ds.cines)])
    lv = np.zeros(ds.frames.shape, bool)
    lv[keep] = p.lv(ds.frames[keep])
    return np.array([p.calibrated(r["ef"]) - float(c["ef"])
                     for c, _, _, r in apical_ef_runs(lv, ds.cines, ds.cine, spacing_xy, trim=p.ef_trim)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("set")
    ap.add_argument("models_a")
    ap.add_argument("models_b")
    a = ap.parse_args()
    ds, spacing, _ = load_labelled(a.set)
    ea, eb = ef_errors(a.models_a, ds, spacing), ef_errors(a.models_b, ds, spacing)
    d = np.abs(eb) - np.abs(ea)
    rng = np.random.default_rng(0)
    boot = np.array([d[rng.integers(0, len(d), len(d))].mean() for _ in range(5000)])
    print(f"{a.set}: {len(d)} apical cines; EF MAE {np.abs(ea).mean():.2f} ({a.models_a}) -> {np.abs(eb).mean():.2f} "
          f"({a.models_b}); bias {ea.mean():+.2f} -> {eb.mean():+.2f}; paired change of |error| {d.mean():+.2f}, 95% "
          f"CI [{np.percentile(boot, 2.5):+.2f}, {np.percentile(boot, 97.5):+.2f}]; B worse on {(d > 0).sum()} of "
          f"{len(d)} cines")


if __name__ == "__main__":
    main()
