"""How each generator's frames look, against pydicom's real apical four-chamber cine (tenth wave,
training/RESULTS.md): in-image grey-level statistics per frame at the model input (112 x 112), and what the
bundled view/quality model says when the real cine's look is changed (a diagnosis of one unlabelled cine; no model
or setting is chosen on it).

Per frame, over the image's own pixels (grey level above 6, closed with a 9 x 9 square: the fan without the black
surround): the share of the frame they cover, their mean, median, 90th and 99th percentiles and the share below
20 (black: cavities, dropout, reject). Reported as the 10th, 50th and 90th percentile over the frames of a set.

  training/.venv/bin/python training/scripts/look_stats.py
"""
from __future__ import annotations

import cv2
import numpy as np

from sonoedge_train.constants import APICAL_IDS, VIEWS
from sonoedge_train.data.phantom import load_phantom
from sonoedge_train.data.synthetic import SimDataset
from sonoedge_train.transfer import REAL_BOXES, Packages, pydicom_files

COLUMNS = ("image share", "mean", "p50", "p90", "p99", "share < 20")


def frame_stats(frames: np.ndarray) -> np.ndarray:
    rows = []
    for f in frames:
        m = cv2.morphologyEx((f > 6).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8)).astype(bool)
        v = f[m].astype(float)
        if len(v) < 100:
            continue
        rows.append((m.mean(), v.mean(), *np.percentile(v, [50, 90, 99]), (v < 20).mean()))
    return np.percentile(np.array(rows), [10, 50, 90], axis=0)


def crop(frames: np.ndarray, box) -> np.ndarray:
    x, y, w, h = box
    return np.stack([cv2.resize(f[y:y + h, x:x + w], (112, 112), interpolation=cv2.INTER_AREA) for f in frames])


def main() -> None:
    real = crop(pydicom_files()["examples_ybr_color.dcm"]["frames"], REAL_BOXES["examples_ybr_color.dcm"])
    clean = load_phantom("training/data_cache/phantom_clean")
    val = SimDataset("training/data_cache/wide_val")
    train = SimDataset("training/data_cache/wide_train")
    sets = {"real A4C (pydicom examples_ybr_color), 30 frames": real,
            "independent clean apical, every 4th frame": clean.frames[np.isin(clean.view, APICAL_IDS)][::4],
            "simulator wide_val apical, every 2nd frame": val.frames[np.isin(val.view, APICAL_IDS)][::2],
            "simulator wide_train, every 97th frame": train.frames[::97]}
    print("| set | percentile over frames | " + " | ".join(COLUMNS) + " |\n|" + " --- |" * (len(COLUMNS) + 2))
    for name, fr in sets.items():
        for q, row in zip((10, 50, 90), frame_stats(fr)):
            print(f"| {name} | p{q} | " + " | ".join(f"{v:.2f}" for v in row) + " |")

    p = Packages("models")
    rng = np.random.default_rng(0)
    probes = {"as read": real,
              "gamma 0.5": (255 * (real / 255.0) ** 0.5).astype(np.uint8),
              "contrast x2, -20": np.clip(real.astype(float) * 2 - 20, 0, 255).astype(np.uint8),
              "haze +25 inside the image": np.where(real > 4, np.clip(real.astype(int) + 25, 0, 255), real).astype(np.uint8),
              "Rayleigh speckle floor (scale 12) inside the image":
                  np.where(real > 4, np.clip(real + rng.rayleigh(12, real.shape), 0, 255), real).astype(np.uint8),
              "Gaussian blur 3x3": np.stack([cv2.GaussianBlur(f, (3, 3), 0) for f in real])}
    print("\n| the real cine changed | quality median / max | views |\n| --- | --- | --- |")
    for name, fr in probes.items():
        vq = p.view_quality(fr)
        pred = vq["prob"].argmax(1)
        views = ", ".join(f"{VIEWS[k]} {int((pred == k).sum())}" for k in np.unique(pred))
        print(f"| {name} | {np.median(vq['quality']):.2f} / {np.max(vq['quality']):.2f} | {views} |")


if __name__ == "__main__":
    main()
