"""Ultrasound-physics augmentations on log-compressed sector frames (uint8 -> float in [0, 1]).

In the log domain a gain change is an offset, attenuation and TGC errors are depth (radius) dependent offsets,
a rib shadow is a large negative offset in an angular band beyond a depth, and multiplicative speckle noise is
additive noise (log of a unit-mean Rayleigh variable). All in dB, divided by the dynamic range.
Pixels outside the sector (value 0) stay 0. Labels are unchanged (intensity-only augmentations).
"""
from __future__ import annotations

import numpy as np


def _polar_maps(h, w):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xx = xx + 0.5 - w / 2
    yy = yy + 0.5
    r = np.sqrt(xx * xx + yy * yy) / h
    th = np.arctan2(xx, yy)
    return r, th


_MAPS = {}


def augment_batch(frames: np.ndarray, cfg: dict, rng: np.random.Generator) -> np.ndarray:
    """frames uint8 [B, H, W] -> float32 [B, H, W] in [0, 1]."""
    x = frames.astype(np.float32) / 255.0
    if not cfg.get("enabled", True):
        return x
    B, h, w = x.shape
    if (h, w) not in _MAPS:
        _MAPS[(h, w)] = _polar_maps(h, w)
    r, th = _MAPS[(h, w)]
    inside = frames > 0
    dr = cfg["dynamic_range_db"]
    off = np.zeros_like(x)
    off += rng.uniform(-cfg["gain_db"], cfg["gain_db"], (B, 1, 1)).astype(np.float32)
    knots = rng.uniform(-cfg["tgc_db"], cfg["tgc_db"], (B, 5)).astype(np.float32)
    kx = np.linspace(0, 1.0, 5)
    for i in range(B):
        off[i] += np.interp(r, kx, knots[i]).astype(np.float32)
    off -= (rng.uniform(-1, 1, (B, 1, 1)) * cfg["attenuation_db"]).astype(np.float32) * r[None]
    for i in range(B):
        if rng.random() < cfg["shadow_prob"]:
            c, hw, r0 = rng.uniform(-0.6, 0.6), rng.uniform(0.04, 0.12), rng.uniform(0.05, 0.2)
            band = np.clip(1 - (np.abs(th - c) - hw) / 0.03, 0, 1) * (r > r0)
            off[i] -= 30.0 * band
    x = x + off / dr
    if cfg["speckle"] > 0:
        ray = rng.rayleigh(1.0, x.shape).astype(np.float32)
        x = x + cfg["speckle"] * (20 * np.log10(ray / 1.2533 + 1e-3)) / dr
    x = np.clip(x, 0, 1)
    x[~inside] = 0
    return x
