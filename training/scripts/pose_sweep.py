"""What the bundled view/quality model reads on pydicom's real apical four-chamber cine that keeps its quality under
the gate (thirteenth wave, training/RESULTS.md): a diagnosis; nothing is chosen on it and no model changes. Sets:
pydicom's real recording and pydicom-data's longer one, the independent generator's clean A4C frames and our
simulator's A4C frames whose quality label is at the gate (the occlusion script's sets), all at the model input.

1. Per set: the median predicted quality and the share at the gate; the guidance head's call (hold, tilt_to_apex:
   foreshortened, any other pose correction); the long-to-short axis ratio of the LV the LV package segments (a
   foreshortened LV is short and round); and the quality label's own wall visibility (simulator.wall_visibility,
   computed on the LV package's labels), with the label it would give at a perfect pose (0.1 + 0.9 x visibility).
2. Every frame warped about the probe (the top centre, the sector's apex in every set) and shown again: zoomed (the
   heart larger or smaller, as a shallower or deeper depth setting shows it), stretched sideways (another sector-box
   aspect), turned about the apex, moved sideways. If a warp brings one set to the gate and takes the others from
   it, the sets differ in that geometry.
3. With --apex-twins DIR: our simulator's apical cines with a thick apex that is not foreshortened against their
   twins (simulate --difficulty wide_apex_hard against wide_anat_hard, seed 61, 80 cines each, simulated into DIR
   when not there): before this wave only foreshortened views had a thick apex in our simulator, so this measures
   how much of the model's foreshortening reading a thick apex alone makes.

  training/.venv/bin/python training/scripts/pose_sweep.py [--models models] [--apex-twins /tmp/apex_twins]
"""
from __future__ import annotations

import argparse
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from occlusion import A4, sets
from sonoedge_train.constants import GUIDANCE
from sonoedge_train.data.synthetic import SimDataset
from sonoedge_train.metrics import largest_component
from sonoedge_train.sim.simulator import sample_cine_params, wall_visibility
from sonoedge_train.transfer import Packages

APEX = (56.0, 0.0)
HOLD, TILT = GUIDANCE.index("hold"), GUIDANCE.index("tilt_to_apex")


def warp(frames: np.ndarray, zoom: float = 1.0, stretch: float = 1.0, turn_deg: float = 0.0, shift: float = 0.0) -> np.ndarray:
    """frames (uint8 [B, 112, 112]) through one affine map about APEX: turned by turn_deg, scaled by zoom (x also by
    stretch), then moved sideways by shift pixels; what comes from outside the frame is black."""
    t = math.radians(turn_deg)
    a = np.array([[zoom * stretch * math.cos(t), -zoom * math.sin(t)],
                  [zoom * stretch * math.sin(t), zoom * math.cos(t)]])
    c = np.array(APEX)
    m = np.hstack([a, (c - a @ c + np.array([shift, 0.0]))[:, None]]).astype(np.float32)
    return np.stack([cv2.warpAffine(f, m, (112, 112), flags=cv2.INTER_LINEAR, borderValue=0) for f in frames])


WARPS = {"as read": {}, "zoom 0.7": {"zoom": 0.7}, "zoom 0.85": {"zoom": 0.85}, "zoom 1.2": {"zoom": 1.2},
         "zoom 1.4": {"zoom": 1.4}, "narrower x0.8": {"stretch": 0.8}, "wider x1.25": {"stretch": 1.25},
         "turned -15 deg": {"turn_deg": -15}, "turned +15 deg": {"turn_deg": 15}, "moved left 10 px": {"shift": -10},
         "moved right 10 px": {"shift": 10}}


def read(p: Packages, frames: np.ndarray) -> dict:
    """The package's quality, view and guidance call per frame."""
    o = p.view_quality(frames)
    return {"quality": o["quality"].reshape(-1), "view": o["prob"].argmax(1), "guidance": o["guidance"].argmax(1)}


def long_short(lv: np.ndarray) -> float | None:
    """Long-to-short side ratio of the minimum-area rectangle around one frame's largest LV component (None under
    60 pixels)."""
    ys, xs = np.nonzero(largest_component(lv))
    if len(ys) < 60:
        return None
    (_, _), (w, h), _ = cv2.minAreaRect(np.stack([xs, ys], 1).astype(np.float32))
    return max(w, h) / max(1e-3, min(w, h))


def reading(p: Packages, frames: np.ndarray) -> str:
    r = read(p, frames)
    labels = p.seg_labels(frames)
    ratios = [v for m in labels if (v := long_short(m == 1)) is not None]
    vis = np.array([wall_visibility(f.astype(np.float32) / 255, m) for f, m in zip(frames, labels)])
    g = r["guidance"]
    return (f"{len(frames)} | {np.median(r['quality']):.2f} / {np.mean(r['quality'] >= p.gate):.2f} | "
            f"{np.mean(g == HOLD):.2f} / {np.mean(g == TILT):.2f} / {np.mean((g != HOLD) & (g != TILT)):.2f} | "
            f"{np.median(ratios):.2f} | {np.median(vis):.2f} [{np.percentile(vis, 10):.2f}, {np.percentile(vis, 90):.2f}] | "
            f"{np.median(0.1 + 0.9 * vis):.2f}")


def apex_twins(p: Packages, root: Path) -> list[str]:
    """Table 3's rows: per group of twin cines (thick apex or not, foreshortened or not), the quality label and the
    model's quality, share at the gate and tilt_to_apex share, plain twin / thick-apex twin."""
    for diff in ("wide_apex_hard", "wide_anat_hard"):
        if not (root / diff / "index.json").exists():
            for cmd in (["simulate", "--out", str(root / f"{diff}_raw"), "--cines", "80", "--seed", "61", "--difficulty",
                         diff, "--views", "A4C,A2C", "--quiet"], ["render", str(root / f"{diff}_raw"), "--out", str(root / diff)]):
                subprocess.run([sys.executable, "-m", "sonoedge_train", *cmd], check=True, stdout=subprocess.DEVNULL)
    thick, plain = SimDataset(str(root / "wide_apex_hard")), SimDataset(str(root / "wide_anat_hard"))
    # per frame of each twin: the quality label, the model's quality, at the gate, called foreshortened
    cols = [(d.quality, r["quality"], r["quality"] >= p.gate, r["guidance"] == TILT)
            for d, r in ((plain, read(p, plain.frames)), (thick, read(p, thick.frames)))]
    groups: dict = {}
    for c in thick.cines:
        prm = sample_cine_params(c["seed"], c["view"], c["n_frames"], "wide_apex_hard")
        key = ("thick apex" if prm.apex_wall > 0 else "the same apex") + (", foreshortened" if prm.fore > 0 else ", not foreshortened")
        groups.setdefault(key, []).append(c["id"])
    rows = []
    for key, ids in sorted(groups.items()):
        m = np.isin(thick.cine, ids)
        cells = " | ".join(f"{a[m].mean():.3f} / {b[m].mean():.3f}" for a, b in zip(*cols))
        rows.append(f"| {key} | {len(ids)} | {cells} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="models")
    ap.add_argument("--apex-twins", default="")
    a = ap.parse_args()
    p = Packages(a.models)
    data = sets()
    print("| set | frames | median quality / at gate | guidance: hold / tilt_to_apex / other | LV long/short (median) | "
          "wall visibility (label's formula) median [p10, p90] | label at a perfect pose (median) |")
    print("|" + " --- |" * 7)
    for name, fr in data.items():
        print(f"| {name} | {reading(p, fr)} |")
    names = list(data)
    print("\n| warp | " + " | ".join(f"{n}: median quality / at gate / A4C / tilt_to_apex" for n in names) + " |")
    print("|" + " --- |" * (len(names) + 1))
    for wname, kw in WARPS.items():
        cells = []
        for n in names:
            r = read(p, warp(data[n], **kw))
            cells.append(f"{np.median(r['quality']):.2f} / {np.mean(r['quality'] >= p.gate):.2f} / "
                         f"{np.mean(r['view'] == A4):.2f} / {np.mean(r['guidance'] == TILT):.2f}")
        print(f"| {wname} | " + " | ".join(cells) + " |")
    if a.apex_twins:
        print("\n| twin cines (wide_apex_hard / wide_anat_hard, seed 61) | cines | quality label: plain / thick | "
              "predicted quality: plain / thick | at gate: plain / thick | tilt_to_apex: plain / thick |")
        print("|" + " --- |" * 6)
        print("\n".join(apex_twins(p, Path(a.apex_twins))))


if __name__ == "__main__":
    main()
