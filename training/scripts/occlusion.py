"""Which parts of an apical four-chamber frame the bundled view/quality model reads (twelfth wave,
training/RESULTS.md): occlusion sensitivity on pydicom's real apical four-chamber recording, the independent
generator's clean A4C frames and our simulator's A4C frames at the quality gate (wide_hard, and wide_rv_hard's
narrower RVs when training/data_cache/wide_rv_test is there) (a diagnosis; nothing is chosen on
it and no model changes).

Each frame at the model input (112 x 112) is shown to the fp32 package again with one 16 x 16 square blacked out,
the square moved in steps of 8 (13 x 13 positions). Per position: the change of the A4C-minus-A2C log-probability
(positive: the square's content was evidence for A2C) and of the predicted quality (positive: the content lowered
quality). Each position is assigned to a region around the LV the LV package itself segments on that frame
(largest component; frames with an LV under 60 pixels are left out): the LV (its mask grown by 4 pixels), the near
field above it (apex side), the RV side (left of the LV at its rows: the septum and the RV in the standard display),
the lateral side (right of it), beyond it (below: the atria and valves). Reported per set and region: the mean
change over frames and positions, and the share of frames on which the region's mean change is positive.

  training/.venv/bin/python training/scripts/occlusion.py [--models models] [--png OUT.png]
      (OUT.png: per set, its mean frame, the mean view change and the mean quality change over it; red: the
      blacked-out content supported A2C / lowered quality, blue: it supported A4C / raised quality)
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from sonoedge_train.constants import VIEWS
from sonoedge_train.data.phantom import load_phantom
from sonoedge_train.data.synthetic import SimDataset, resize_frames
from sonoedge_train.transfer import REAL_BOXES, Packages, pydicom_files

K, S = 16, 8
REGIONS = ("LV", "near field", "RV side", "lateral side", "beyond (atria)")
A4, A2 = VIEWS.index("A4C"), VIEWS.index("A2C")


def _diff(prob: np.ndarray) -> np.ndarray:
    return np.log(prob[:, A4] + 1e-9) - np.log(prob[:, A2] + 1e-9)


def occlusion_maps(p: Packages, frames: np.ndarray):
    """Per frame: the base A4C-A2C log-probability and quality, and their changes with each square blacked out
    ([N, n, n], n = 13): change = occluded - base, so a square whose content supported A2C gets a positive view
    change, one whose content lowered quality a positive quality change."""
    base = p.view_quality(frames)
    n = (frames.shape[1] - K) // S + 1
    dv, dq = np.zeros((len(frames), n, n)), np.zeros((len(frames), n, n))
    for i in range(n):
        for j in range(n):
            f = frames.copy()
            f[:, i * S:i * S + K, j * S:j * S + K] = 0
            o = p.view_quality(f)
            dv[:, i, j] = _diff(o["prob"]) - _diff(base["prob"])
            dq[:, i, j] = o["quality"].reshape(-1) - base["quality"].reshape(-1)
    return base, dv, dq


def region_grid(lv: np.ndarray, n: int) -> np.ndarray | None:
    """The region index (into REGIONS) of each square's centre, from one frame's LV mask; None without an LV."""
    count, lab, stats, _ = cv2.connectedComponentsWithStats(lv.astype(np.uint8))
    if count < 2:
        return None
    big = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[big, cv2.CC_STAT_AREA] < 60:
        return None
    m = (lab == big).astype(np.uint8)
    grown = cv2.dilate(m, np.ones((9, 9), np.uint8)).astype(bool)
    ys, xs = np.nonzero(m)
    out = np.zeros((n, n), int)
    for i in range(n):
        for j in range(n):
            cy, cx = i * S + K // 2, j * S + K // 2
            if grown[cy, cx]:
                out[i, j] = 0
            elif cy < ys.min():
                out[i, j] = 1
            elif cy > ys.max():
                out[i, j] = 4
            else:  # beside the LV: left of its leftmost pixel on that row (a component has one on every row it spans)
                out[i, j] = 2 if cx < xs[ys == cy].min() else 3
    return out


def _mean_share(values: list) -> tuple[float, float]:
    """The mean of per-frame values and the share of them above 0 (nan, nan for none)."""
    v = np.asarray(values, float)
    return (float(v.mean()), float((v > 0).mean())) if len(v) else (float("nan"), float("nan"))


def summarise(p: Packages, frames: np.ndarray) -> dict:
    base, dv, dq = occlusion_maps(p, frames)
    lv = p.lv(frames)
    grids = [(k, g) for k in range(len(frames)) if (g := region_grid(lv[k], dv.shape[1])) is not None]
    per = {r: ([dv[k][g == ri].mean() for k, g in grids if (g == ri).any()],
               [dq[k][g == ri].mean() for k, g in grids if (g == ri).any()]) for ri, r in enumerate(REGIONS)}
    pred = base["prob"].argmax(1)
    return {"frames": len(frames), "A4C": int((pred == A4).sum()), "A2C": int((pred == A2).sum()),
            "quality": float(np.median(base["quality"])), "with_lv": len(grids),
            "regions": {r: (*_mean_share(v), *_mean_share(q)) for r, (v, q) in per.items()},
            "dv_mean": dv.mean(0), "dq_mean": dq.mean(0), "mean_frame": frames.mean(0)}


def _panel(frame: np.ndarray, m: np.ndarray, scale: float) -> np.ndarray:
    big = cv2.resize(frame.astype(np.uint8), (224, 224))
    hm = cv2.resize(m.astype(np.float32), (224, 224), interpolation=cv2.INTER_CUBIC)
    col = cv2.applyColorMap(np.clip(127 + hm / scale * 127, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.addWeighted(cv2.cvtColor(big, cv2.COLOR_GRAY2BGR), 0.55, col, 0.45, 0)


def _a4c_at_gate(data: str) -> np.ndarray:
    """About 60 of a simulated set's A4C frames whose quality label is at the gate, evenly spaced."""
    ds = SimDataset(data)
    good = (ds.view == A4) & (ds.quality >= 0.5)
    return ds.frames[good][:: max(1, int(good.sum()) // 60)]


def sets() -> dict:
    files = pydicom_files()
    x, y, w, h = REAL_BOXES["examples_ybr_color.dcm"]
    out = {"real: pydicom examples_ybr_color (every frame)":
           resize_frames(files["examples_ybr_color.dcm"]["frames"][:, y:y + h, x:x + w], (112, 112))}
    full = files.get("color3d_jpeg_baseline.dcm")
    if full and "frames" in full:
        x0, y0, x1, y1 = full["region"]
        out["real: pydicom-data color3d (every 4th frame)"] = resize_frames(full["frames"][::4, y0:y1 + 1, x0:x1 + 1], (112, 112))
    clean = load_phantom("training/data_cache/phantom_clean")
    out["independent clean A4C (every 16th frame)"] = clean.frames[clean.view == A4][::16]
    out["simulator wide_hard A4C at the gate (label)"] = _a4c_at_gate("training/data_cache/wide_test")
    if Path("training/data_cache/wide_rv_test/index.json").exists():  # the twelfth wave's narrow RVs, when simulated
        out["simulator wide_rv_hard A4C at the gate (label)"] = _a4c_at_gate("training/data_cache/wide_rv_test")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="models")
    ap.add_argument("--png", default="")
    a = ap.parse_args()
    p = Packages(a.models)
    res = {name: summarise(p, fr) for name, fr in sets().items()}
    print("| set | frames | called A4C / A2C | median quality | frames with an LV | "
          + " | ".join(f"{r}: view change (share > 0) / quality change (share > 0)" for r in REGIONS) + " |")
    print("|" + " --- |" * (5 + len(REGIONS)))
    for name, r in res.items():
        cells = " | ".join(f"{v:+.2f} ({sv:.2f}) / {q:+.3f} ({sq:.2f})" for v, sv, q, sq in r["regions"].values())
        print(f"| {name} | {r['frames']} | {r['A4C']} / {r['A2C']} | {r['quality']:.2f} | {r['with_lv']} | {cells} |")
    if a.png:
        grey = lambda f: cv2.cvtColor(cv2.resize(f.astype(np.uint8), (224, 224)), cv2.COLOR_GRAY2BGR)  # noqa: E731
        rows = [np.hstack([grey(r["mean_frame"]), _panel(r["mean_frame"], r["dv_mean"], 3.0),
                           _panel(r["mean_frame"], r["dq_mean"], 0.15)]) for r in res.values()]
        cv2.imwrite(a.png, np.vstack(rows))


if __name__ == "__main__":
    main()
