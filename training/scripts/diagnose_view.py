"""Where do the view and quality errors of a checkpoint come from? Per-frame errors on a simulated dataset joined
with the cine's degradation parameters (re-drawn from its seed with sample_cine_params), binned per parameter.

  training/.venv/bin/python training/scripts/diagnose_view.py --data training/data_cache/val --view CKPT [--json OUT]
      [--cines]   (also every cine with a wrong view: its frames, the views read and its pose and degradations)
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from sonoedge_train.constants import VIEWS
from sonoedge_train.data.synthetic import SimDataset
from sonoedge_train.evaluate import _predict
from sonoedge_train.metrics import confusion
from sonoedge_train.sim.simulator import rib_shadow_fraction, sample_cine_params
from sonoedge_train.train import model_from_checkpoint


def degradations(ds):
    """Per-frame degradation parameters of a simulated dataset (from each cine's seed)."""
    rows = {}
    diff = ds.index.get("difficulty", "train")
    for c in ds.cines:
        p = sample_cine_params(c["seed"], c["view"], c["n_frames"], diff)
        rows[c["id"]] = {"abs_dx": abs(p.dx), "abs_rot": abs(p.rot_deg), "fore": p.fore, "abs_gain": abs(p.gain_db),
                         "dr_dev": abs(p.dr_db - 55), "shadow": rib_shadow_fraction(p.ribs),
                         "haze": p.haze, "noise": p.noise, "motion": p.motion_mm, "depth": p.depth_mm,
                         "abs_tgc_err": abs(p.tgc_err)}
    keys = list(next(iter(rows.values())))
    return {k: np.array([rows[int(ci)][k] for ci in ds.cine]) for k in keys}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--view", required=True)
    ap.add_argument("--json", default="")
    ap.add_argument("--cines", action="store_true", help="list every cine with a wrong view")
    a = ap.parse_args()
    torch.set_num_threads(1)
    ds = SimDataset(a.data)
    m, _ = model_from_checkpoint(a.view)
    outs = _predict(m, ds.frames, 128)
    pred = torch.cat([o["view"] for o in outs]).argmax(1).numpy()
    q = torch.cat([o["quality"] for o in outs]).float().numpy()
    err, ok = q - ds.quality, pred == ds.view
    print(f"{a.data}: view acc {ok.mean():.4f}, quality MAE {np.abs(err).mean():.4f}, bias {err.mean():+.4f}")
    print("confusion (rows true, cols pred)", VIEWS, confusion(pred, ds.view, len(VIEWS)).tolist())
    for v in range(len(VIEWS)):
        s = ds.view == v
        print(f"  {VIEWS[v]:5s} acc {ok[s].mean():.3f} qMAE {np.abs(err[s]).mean():.3f} qbias {err[s].mean():+.3f}")
    d = degradations(ds)
    heart = ds.view != VIEWS.index("OTHER")
    out = {}
    for k, v in d.items():
        qs = np.quantile(v[heart], [0, 0.5, 0.8, 0.95, 1.0])
        line = []
        for lo, hi in zip(qs[:-1], qs[1:]):
            s = heart & (v >= lo) & (v <= hi)
            if s.any():
                line.append((round(float(lo), 2), round(float(hi), 2), int(s.sum()), round(float(ok[s].mean()), 3),
                             round(float(np.abs(err[s]).mean()), 3), round(float(err[s].mean()), 3)))
        out[k] = line
        print(f"{k:12s} " + "  ".join(f"[{lo},{hi}] n={n} acc={ac} qMAE={qm} bias={b:+}" for lo, hi, n, ac, qm, b in line))
    if a.cines:
        diff = ds.index.get("difficulty", "train")
        for c in ds.cines:
            sel = ds.cine == c["id"]
            bad = ~ok[sel]
            if not bad.any():
                continue
            p = sample_cine_params(c["seed"], c["view"], c["n_frames"], diff)
            got = ", ".join(f"{VIEWS[v]} x{n}" for v, n in zip(*np.unique(pred[sel][bad], return_counts=True)))
            print(f"cine {c['id']} {c['view']}: {int(bad.sum())} of {int(sel.sum())} frames wrong ({got}); "
                  f"dx {p.dx:.1f} mm, rot {p.rot_deg:.1f} deg, fore {p.fore:.2f}, depth {p.depth_mm:.0f} mm, "
                  f"gain {p.gain_db:.1f} dB, DR {p.dr_db:.0f} dB, ribs {len(p.ribs)}, haze {p.haze:.2f}, "
                  f"noise {p.noise:.2f}")
    if a.json:
        json.dump(out, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
