"""Does the predicted quality say where the LV model is right? LV Dice per bin of the view/quality package's quality.

The runtime segments the LV only on frames whose smoothed quality reaches the package's bar (0.5, no fit recorded);
the quality label is diagnostic quality (pose, foreshortening, walls seen), not the LV model's reliability. This
script bins the apical frames with a reference LV of an independent generator's folder (per variant) and of a
rendered simulator folder by the package's predicted quality, and gives per bin the frames, the mean and 10th
percentile of the LV package's Dice, and the share with Dice at least 0.85 (for the simulator, the mean label too).
A diagnosis: it chooses nothing.

    training/.venv/bin/python training/scripts/quality_vs_dice.py --models models \
        --phantom training/data_cache/phantom --sim training/data_cache/wide_val
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))

from sonoedge_train.constants import VIEWS  # noqa: E402
from sonoedge_train.data.phantom import load_phantom  # noqa: E402
from sonoedge_train.data.synthetic import SimDataset  # noqa: E402
from sonoedge_train.metrics import dice  # noqa: E402
from sonoedge_train.transfer import Packages  # noqa: E402

BINS = (0.0, 0.2, 0.3, 0.4, 0.45, 0.5, 0.6, 1.01)
APICAL = (VIEWS.index("A4C"), VIEWS.index("A2C"))


def table(p: Packages, frames, masks, label=None) -> dict:
    """Per quality bin of these frames: frames, Dice mean, 10th percentile, share >= 0.85 (and the mean label where
    given)."""
    q = p.view_quality(frames)["quality"].reshape(-1)
    d = np.array([dice(a, b == 1) for a, b in zip(p.lv(frames), masks)])
    rows = []
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        s = (q >= lo) & (q < hi)
        if s.any():
            r = {"bin": [lo, min(hi, 1.0)], "frames": int(s.sum()), "dice_mean": round(float(d[s].mean()), 3),
                 "dice_p10": round(float(np.percentile(d[s], 10)), 3), "dice_085": round(float((d[s] >= 0.85).mean()), 3)}
            if label is not None:
                r["label_mean"] = round(float(label[s].mean()), 3)
            rows.append(r)
    return {"frames": len(frames), "quality_median": round(float(np.median(q)), 3),
            "dice_mean": round(float(d.mean()), 3), "bins": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="models")
    ap.add_argument("--phantom", default="training/data_cache/phantom")
    ap.add_argument("--sim", default="training/data_cache/wide_val", help="a rendered simulator folder")
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    p = Packages(a.models)
    rep = {}
    ph = load_phantom(a.phantom)
    index = json.loads((Path(a.phantom) / "index.json").read_text())
    variant = np.array([index["cines"][c]["variant"] for c in ph.cine])
    has = np.array([(m == 1).sum() >= 12 for m in ph.masks])
    for v in sorted(set(variant)):
        keep = np.isin(ph.view, APICAL) & has & (variant == v)
        if keep.any():  # the models run on the kept frames only
            rep[f"independent {v}"] = table(p, ph.frames[keep], ph.masks[keep])
    ds = SimDataset(a.sim)
    n = min(len(ds), 4000)
    frames, masks = ds.frames[:n], ds.masks[:n]
    keep = np.isin(ds.view[:n], APICAL) & np.array([(m == 1).sum() >= 12 for m in masks])
    rep[f"simulator {Path(a.sim).name}"] = table(p, frames[keep], masks[keep], ds.quality[:n][keep])
    for name, r in rep.items():
        print(f"{name}: {r['frames']} frames, median quality {r['quality_median']}, Dice {r['dice_mean']}")
        for b in r["bins"]:
            print(f"  quality [{b['bin'][0]:.2f}, {b['bin'][1]:.2f}): {b['frames']:5d} frames, Dice {b['dice_mean']:.3f} "
                  f"(p10 {b['dice_p10']:.3f}, >= 0.85 on {b['dice_085']:.3f})"
                  + (f", label {b['label_mean']:.3f}" if "label_mean" in b else ""))
    if a.out:
        Path(a.out).write_text(json.dumps(rep, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
