"""Which part of the simulator makes the LV package over-segment the contracted heart? The same apical cines
rendered again with one factor of the wide simulator switched off at a time, each framed as the runtime frames
it (the sector box area-resized to 112 px, masks per label by area), and the package's LV area over the
label's LV area per frame: its mean at ED and ES, and the slope of that ratio against the frame's LV area
relative to the cine's largest (negative: the more contracted, the larger the LV it reads).

  training/.venv/bin/python training/scripts/es_ablation.py [--models models] [--cines 48] [--seed 1000]
      [--variants base,nopersist,nothick,notrab,noclutter,nospec,allclean]

Variants: base (as drawn, difficulty `wide`); nopersist (no frame averaging); nothick (the wall keeps a
constant thickness, the mean of its drawn range, instead of thickening 45% in systole); notrab (no
trabeculae); noclutter (no blood-pool clutter); nospec (no specular interface echoes); allclean (all five).
"""
from __future__ import annotations

import argparse
import dataclasses

import cv2
import numpy as np

from sonoedge_train.data.synthetic import resize_masks
from sonoedge_train.domain import _cut
from sonoedge_train.metrics import largest_component
from sonoedge_train.sim import simulator as S
from sonoedge_train.transfer import Packages

VARIANTS = ("base", "nopersist", "nothick", "notrab", "noclutter", "nospec", "allclean")
OFF = {"nopersist": "persistence", "notrab": "trab", "noclutter": "clutter", "nospec": "specular"}


def _constant_wall(frame_states):
    def states(p, rng):
        st, a, b, s, disp = frame_states(p, rng)
        wall = p.wall * (1 + 0.45 * 0.5)
        return [dataclasses.replace(x, wall=wall, apex_thick=wall * (1 + 3 * p.fore)) for x in st], a, b, s, disp
    return states


def framed_cine(seed: int, view: str, variant: str, size: int = 112):
    """One cine of `variant` as the runtime frames it: frames uint8 [F, size, size], labels [F, size, size]."""
    p = S.sample_cine_params(seed, view, 16, "wide")
    for v, field in OFF.items():
        if variant in (v, "allclean"):
            setattr(p, field, 0.0)
    original = S._frame_states
    if variant in ("nothick", "allclean"):
        S._frame_states = _constant_wall(original)
    try:
        c = S.simulate_cine(p)
    finally:
        S._frame_states = original
    x0, y0, w, h = c.geometry["sector_box"]
    frames = np.stack([_cut(f, x0, y0, w, h, size, cv2.INTER_AREA) for f in c.sector])
    big = np.stack([_cut(m, x0, y0, w, h, max(size, int(round(max(w, h)))), cv2.INTER_NEAREST) for m in c.masks])
    return frames, resize_masks(big, (size, size))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="models")
    ap.add_argument("--cines", type=int, default=48)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    a = ap.parse_args()
    variants = a.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variants {unknown}; expected some of {list(VARIANTS)}")
    pk = Packages(a.models)
    rows = {v: [] for v in variants}
    for k in range(a.cines):
        view = ("A4C", "A2C")[k % 2]
        for v in variants:
            frames, masks = framed_cine(a.seed + k, view, v)
            ref = (masks == 1).sum((1, 2)).astype(float)
            pred = np.array([largest_component(m).sum() for m in pk.lv(frames)], float)
            ratio, rel = pred / ref, ref / ref.max()
            rows[v].append((ratio[ref.argmax()], ratio[ref.argmin()], np.polyfit(rel, ratio, 1)[0]))
    print(f"{a.cines} apical cines (seeds {a.seed}..{a.seed + a.cines - 1}, A4C and A2C alternating), {a.models}")
    print("| variant | LV area ratio at ED | at ES | ES - ED | slope against relative area |")
    print("| --- | --- | --- | --- | --- |")
    for v in variants:
        x = np.array(rows[v])
        print(f"| {v} | {x[:, 0].mean():.3f} | {x[:, 1].mean():.3f} | {np.mean(x[:, 1] - x[:, 0]):+.3f} | "
              f"{x[:, 2].mean():+.3f} |")


if __name__ == "__main__":
    main()
