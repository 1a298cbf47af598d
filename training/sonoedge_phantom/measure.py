"""The clinical reference EF from 2D LV cavity masks: single-plane area-length (Lang et al., JASE 2015).

V = 8 A^2 / (3 pi L): A the cavity area, L the distance from the apex to the midpoint of the mitral annulus.
On a label mask (1 LV cavity, 3 LA) with pixel spacing (sx, sy) mm:
  annulus  the cavity pixels 4-adjacent to LA pixels (the mitral line); its hinge points are the two of them
           furthest apart, the annulus midpoint M is halfway between them
  apex     the cavity pixel furthest from M (the endocardial point furthest from the annulus)
  A        the number of cavity pixels times sx * sy;  L = |apex - M|, distances in mm on pixel centres
EF = (EDV - ESV) / EDV with ED and ES the frames of largest and smallest volume.
"""
from __future__ import annotations

import numpy as np

LV, LA = 1, 3


def area_length(mask: np.ndarray, spacing) -> dict | None:
    """Area-length volume of one frame: {volume_ml, area_mm2, length_mm, apex, hinges, mid} with points as
    (x, y) pixel coordinates, or None when the frame has no cavity or no cavity pixel touching the LA."""
    sx, sy = float(spacing[0]), float(spacing[1])
    cav = mask == LV
    if not cav.any():
        return None
    la = mask == LA
    touch = np.zeros_like(cav)
    touch[1:, :] |= la[:-1, :]
    touch[:-1, :] |= la[1:, :]
    touch[:, 1:] |= la[:, :-1]
    touch[:, :-1] |= la[:, 1:]
    ys, xs = np.nonzero(cav & touch)
    if len(xs) == 0:
        return None
    px, py = xs * sx, ys * sy
    d2 = (px[:, None] - px[None, :]) ** 2 + (py[:, None] - py[None, :]) ** 2
    i, j = np.unravel_index(int(np.argmax(d2)), d2.shape)
    mx, my = (xs[i] + xs[j]) / 2.0, (ys[i] + ys[j]) / 2.0
    cy, cx = np.nonzero(cav)
    dist = np.hypot((cx - mx) * sx, (cy - my) * sy)
    k = int(np.argmax(dist))
    length = float(dist[k])
    area = float(cav.sum()) * sx * sy
    if length <= 0:
        return None
    vol = 8.0 * area ** 2 / (3.0 * np.pi * length) / 1000.0
    return {"volume_ml": vol, "area_mm2": area, "length_mm": length, "apex": (int(cx[k]), int(cy[k])),
            "hinges": ((int(xs[i]), int(ys[i])), (int(xs[j]), int(ys[j]))), "mid": (float(mx), float(my))}


def ef_from_volumes(volumes) -> tuple[float, int, int]:
    """(EF percent, ED index, ES index): ED/ES the frames of largest/smallest volume (first one on ties)."""
    v = np.asarray(volumes, np.float64)
    ed, es = int(np.argmax(v)), int(np.argmin(v))
    return float(100.0 * (v[ed] - v[es]) / v[ed]), ed, es


def cine_ef(masks: np.ndarray, spacing) -> tuple[float, int, int, np.ndarray] | None:
    """Area-length EF of a cine [F, H, W]: (EF percent, ED, ES, volumes ml), or None when a frame has no
    measurable cavity."""
    vols = []
    for m in masks:
        r = area_length(m, spacing)
        if r is None:
            return None
        vols.append(r["volume_ml"])
    ef, ed, es = ef_from_volumes(vols)
    return ef, ed, es, np.asarray(vols)
