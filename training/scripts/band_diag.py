"""A diagnosis, nothing chosen on it (training/RESULTS.md, forty-first wave): could the LV border band
(calibration.lv_border: the band of uncertain LV probability along the LV's border that the runtime measures) open
the segmentation gate where the quality head does not? Per frame, with the bundled packages in the harness: the
quality, the border band and, on our simulator, the LV Dice against the label, for 24 of the forty-first wave's T3
cines (`--sim 40,9129,128,43 --difficulty wide_iv`, every 4th frame), the independent negatives of phantom_n661 the
view head calls A4C or A2C (every 2nd frame), and pydicom's real apical cine (examples_ybr_color, read from the
installed package, its fan at 39,21,262,181 as `replay --sector auto` finds it). Also the real cine's quality
(per frame, unsmoothed: the median, and the share at or over the quality bar) with its frames' display gain, gamma,
blur and sharpness changed, and the brightness of the real cine, our validation frames and the independent cines.

    training/.venv/bin/python training/scripts/band_diag.py [--out /tmp/band_diag.json]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))
sys.path.insert(0, str(ROOT / "training" / "scripts"))

from runtime_ef import CACHE, diagnosis_args, model_crop, phantom_cines, real_a4c_frames  # noqa: E402
from sonoedge_train.constants import APICAL_IDS  # noqa: E402
from sonoedge_train.metrics import dice, largest_component  # noqa: E402
from sonoedge_train.sim.simulator import sample_cine_params, simulate_cine  # noqa: E402
from sonoedge_train.transfer import Packages  # noqa: E402


def ours(p, n=24, seed=9129):
    """(set, cine, quality, band, dice) per 4th frame of our simulator's multi-beat wide_iv cines."""
    for i in range(n):
        c = sample_cine_params(seed * 1000 + i, ("A4C", "A2C")[i % 2], 128, "wide_iv")
        c.cycle_frames *= 43 / 128
        cine = simulate_cine(c)
        idx = np.arange(0, 128, 4)
        h, w = cine.sector.shape[1:]
        fr = model_crop(cine.sector[idx], (0, 0, w, h))
        lab = np.stack([cv2.resize(m, (112, 112), interpolation=cv2.INTER_NEAREST) for m in cine.masks[idx]])
        q = p.view_quality(fr)["quality"].reshape(-1)
        masks, bands = p.lv_bands(fr)
        for k in range(len(idx)):
            d = dice(largest_component(masks[k]), lab[k] == 1) if masks[k].any() else 0.0
            yield ("ours", i, float(q[k]), None if bands[k] is None else float(bands[k]), float(d))


def negatives(p, root=CACHE / "phantom_n661"):
    for cid, _, frames, roi, _, _, _ in phantom_cines(root, negatives=True):
        fr = model_crop(frames[::2], roi)
        o = p.view_quality(fr)
        q, pred = o["quality"].reshape(-1), o["prob"].argmax(1)
        _, bands = p.lv_bands(fr)
        for k in range(len(fr)):
            if pred[k] in APICAL_IDS and bands[k] is not None:
                yield ("negatives", cid, float(q[k]), float(bands[k]), None)


def display_sweep(p, real_fr):
    """The real cine's median quality and share at the package's quality bar, its frames changed as named."""
    fr = real_fr.astype(np.float32)
    changes = {"as recorded": fr, "gain x1.3": fr * 1.3, "gain x2": fr * 2,
               "99.5th percentile stretched to white": fr * 255 / np.percentile(fr, 99.5),
               "gamma 0.7": 255 * (fr / 255) ** 0.7, "gamma 0.5": 255 * (fr / 255) ** 0.5,
               "Gaussian blur (3x3, sigma 0.8)": np.stack([cv2.GaussianBlur(f, (3, 3), 0.8) for f in fr]),
               "unsharp mask (1.8, -0.8)": np.stack([cv2.addWeighted(f, 1.8, cv2.GaussianBlur(f, (5, 5), 1.5), -0.8, 0) for f in fr])}
    out = {}
    for name, f in changes.items():
        q = p.view_quality(np.clip(f, 0, 255).astype(np.uint8))["quality"].reshape(-1)
        out[name] = {"median_quality": round(float(np.median(q)), 3), "at_bar": round(float((q >= p.gate).mean()), 2)}
    return out


def brightness(fr) -> float:
    """A frame's brightness at the model input: the 99th percentile of its tissue pixels (over 5 of 255)."""
    v = fr[fr > 5]
    return float(np.percentile(v, 99)) if v.size else 0.0


def brightness_table(real_fr):
    """The median over frames of `brightness`: the real cine; wide_val's first shard, every 10th frame (all views);
    each clean apical cine of phantom_t659, every 16th frame (the range over cines)."""
    val = np.load(CACHE / "wide_val" / "shard_00000.npz")["frames"][::10]
    ours = [brightness(f) for f in val]
    indep = [float(np.median([brightness(f) for f in model_crop(frames[::16], roi)]))
             for _, _, frames, roi, _, _, _ in phantom_cines(CACHE / "phantom_t659")]
    real_b = float(np.median([brightness(f) for f in real_fr]))
    return {"real cine": real_b,
            "ours (wide_val shard 0, every 10th frame)": {"frames": len(ours), "median": round(float(np.median(ours)), 1),
                                                          "p10_p90": [round(float(v), 1) for v in np.percentile(ours, [10, 90])],
                                                          "real_cine_percentile": round(float((np.array(ours) < real_b).mean() * 100), 1)},
            "independent (phantom_t659, per cine)": {"cines": len(indep), "range": [round(min(indep), 1), round(max(indep), 1)]}}


def real(p, fr):
    q = p.view_quality(fr)["quality"].reshape(-1)
    _, bands = p.lv_bands(fr)
    for k in range(len(fr)):
        yield ("real", 0, float(q[k]), None if bands[k] is None else float(bands[k]), None)


def summary(rows):
    out = {}
    groups = {"ours, quality >= 0.5": [r for r in rows if r[0] == "ours" and r[2] >= 0.5],
              "ours, quality < 0.5": [r for r in rows if r[0] == "ours" and r[2] < 0.5],
              "independent negatives called A4C/A2C": [r for r in rows if r[0] == "negatives"],
              "real cine": [r for r in rows if r[0] == "real"]}
    for name, sel in groups.items():
        b = [r[3] for r in sel if r[3] is not None]
        g = {"frames": len(sel), "band_median": round(float(np.median(b)), 2) if b else None,
             "band_p10_p90": [round(float(v), 2) for v in np.percentile(b, [10, 90])] if b else None}
        if sel and sel[0][0] == "ours":
            for t in (0.71, 1.0):
                lo = [r[4] for r in sel if r[3] is not None and r[3] <= t]
                hi = [r[4] for r in sel if r[3] is not None and r[3] > t]
                g[f"dice_band_le_{t}"] = [len(lo), round(float(np.mean(lo)), 3) if lo else None]
                g[f"dice_band_gt_{t}"] = [len(hi), round(float(np.mean(hi)), 3) if hi else None]
        out[name] = g
    return out


def main(argv=None) -> int:
    a = diagnosis_args(__doc__, "/tmp/band_diag.json", argv)
    p = Packages(a.models)
    real_fr = real_a4c_frames()
    rows = [*ours(p), *negatives(p), *real(p, real_fr)]
    s = summary(rows)
    s["real cine, display changed"] = display_sweep(p, real_fr)
    s["brightness (99th percentile of tissue pixels)"] = brightness_table(real_fr)
    Path(a.out).write_text(json.dumps({"summary": s, "rows": rows}))
    print(json.dumps(s, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
