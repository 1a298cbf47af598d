"""Where the LV border lies in the echo, and where the model puts it, at ED and at ES (twenty-fourth wave,
training/RESULTS.md): is the model's end-systolic excess the label's (a label border that sits elsewhere in the
image at ES than at ED) or the model's? A diagnosis; it chooses nothing.

    training/.venv/bin/python training/scripts/es_edge.py --seg models/lv_segmentation \\
        --sim training/data_cache/wide_val_beats_np_iv_48 --phantom training/data_cache/phantom_beats_diag

Per apical cine, the two frames with the largest label LV area (ED) and the two with the smallest (ES); on each,
only the pixels within 4 px of the label's LV border that lie next to the label's myocardium (the walls, not the
mitral annulus or the sector's edge). Signed distance d to the label border: negative inside the LV, the label's
own edge pixels at -0.5. Prints per set and phase:
- the image's edge: where the mean intensity profile over d (0.5 px bins, -4..+4) crosses halfway between the
  cavity level (d < -2.5) and the wall level (d > +2.5);
- the model's edge: the mean d of the model mask's edge pixels on the same walls (-0.5 where it follows the label).
If the label's border moved against the echo between ED and ES, the image's edge would move; if the model's edge
moves and the image's does not, the excess is the model's.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))

from es_area_bias import diagnosis_sets, lv_masks  # noqa: E402
from sonoedge_train.constants import APICAL_VIEWS  # noqa: E402
from sonoedge_train.data.labels import LV  # noqa: E402

EDGES = np.arange(-4.0, 4.01, 0.5)
CENTRES = (EDGES[:-1] + EDGES[1:]) / 2
MYO = 2  # the label masks' myocardium (seg_labels: background, lv, myocardium, la)


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Distance to the mask's border in pixels: inside -(distance to the nearest outside pixel) + 0.5, outside
    (distance to the nearest inside pixel) - 0.5."""
    inside = ndi.distance_transform_edt(mask)
    outside = ndi.distance_transform_edt(~mask)
    return np.where(mask, -inside + 0.5, outside - 0.5)


def image_edge(frame: np.ndarray, d: np.ndarray, walls: np.ndarray) -> float:
    """Where the frame's mean intensity over d crosses halfway from the cavity's level to the wall's; NaN if none."""
    f = frame.astype(np.float64)
    b = np.digitize(d, EDGES) - 1
    prof = np.array([f[(b == k) & walls].mean() if ((b == k) & walls).any() else np.nan for k in range(len(CENTRES))])
    mid = (np.nanmean(prof[:3]) + np.nanmean(prof[-3:])) / 2
    for i in range(len(prof) - 1):
        a, c = prof[i] - mid, prof[i + 1] - mid
        if a * c <= 0 and prof[i] != prof[i + 1]:
            return float(CENTRES[i] + a / (prof[i] - prof[i + 1]) * (CENTRES[i + 1] - CENTRES[i]))
    return float("nan")


def edges(model, frames, masks, cine_ids, cines) -> dict:
    pred = lv_masks(model, frames)
    out = {"ED": [], "ES": []}
    for c in cines:
        if c["view"] not in APICAL_VIEWS:
            continue
        sel = np.nonzero(cine_ids == c["id"])[0]
        area = np.array([(masks[i] == LV).sum() for i in sel])
        for phase, pick in (("ED", np.argsort(-area)[:2]), ("ES", np.argsort(area)[:2])):
            for i in sel[pick]:
                d = signed_distance(masks[i] == LV)
                walls = ndi.binary_dilation(masks[i] == MYO, iterations=4)
                near = walls & (np.abs(d) <= 4)
                p = pred[i]
                rim = p & ~ndi.binary_erosion(p) & walls
                out[phase].append((image_edge(frames[i], d, near), float(d[rim].mean()) if rim.any() else np.nan))
    return out


def report(name: str, r: dict) -> None:
    print(f"{name}")
    for phase, rows in r.items():
        a = np.array(rows, np.float64).reshape(-1, 2)
        print(f"- {phase} ({len(a)} frames): image edge {np.nanmean(a[:, 0]):+.2f} px (median "
              f"{np.nanmedian(a[:, 0]):+.2f}), model edge {np.nanmean(a[:, 1]):+.2f} px (label's own: -0.50)")


def main(argv=None) -> int:
    model, sets = diagnosis_sets(argv, __doc__.split("\n\n")[0])
    for name, ds, _, independent in sets:
        if not independent:
            report(name, edges(model, ds.frames, ds.masks, ds.cine, ds.cines))
            continue
        for v in ("A4C", "A2C"):
            report(f"{name} {v}", edges(model, ds.frames, ds.masks, ds.cine, [c for c in ds.cines if c["view"] == v]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
