"""Ultrasound-physics augmentations on log-compressed sector frames (uint8 -> float in [0, 1]).

In the log domain a gain change is an offset, attenuation and TGC errors are depth (radius) dependent offsets,
a rib shadow is a large negative offset in an angular band beyond a depth (with a bright rib echo at that depth),
a dynamic-range change rescales the dB below the top of the display, and multiplicative speckle noise is additive
noise (log of a unit-mean Rayleigh variable). All in dB, divided by the dynamic range.
Pixels outside the sector (value 0) stay 0. Masks are unchanged (intensity-only augmentations).

Label-aware mode (augment.label_aware, simulated data): the quality label is a documented function of the gain,
dynamic range and rib-shadow fraction of the frame (sim/simulator.py docstring), so an augmentation that changes
them must change the label too, or the model learns to ignore exactly the cues the label is made of. Given each
frame's cine parameters (`degradations`, re-drawn from the cine seed), augment_batch then returns a per-frame
factor that turns the stored quality into the quality of the augmented frame:
  gain:   the display was 20 log10(env) - ref - gain_db, so brightening by g dB is gain_db' = gain_db - g;
  DR:     x = 1 + dB/DR, so x' = 1 + (dB + offsets)/DR' is exact except where the original clipped at 0;
  ribs:   the shadowed fraction of the sector angle grows by 2 half-width / sector angle.
TGC, attenuation and speckle are not part of the label and leave it unchanged.
"""
from __future__ import annotations

import numpy as np

# The factors of the simulator's quality definition that augmentations change (sim/simulator.py,
# quality_and_guidance), shared with it so that the label and its update cannot drift apart.
from .sim.simulator import (SECTOR_HALF_RAD, quality_dr_factor, quality_gain_factor,  # noqa: F401 (re-exported)
                            quality_shadow_factor, rib_shadow_fraction, sample_cine_params)


def _polar_maps(h, w):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xx = xx + 0.5 - w / 2
    yy = yy + 0.5
    r = np.sqrt(xx * xx + yy * yy) / h
    th = np.arctan2(xx, yy)
    return r, th


_MAPS = {}


def degradations(index: dict, cine_of_frame: np.ndarray) -> dict | None:
    """Per-frame gain_db, dr_db and rib-shadow fraction of a simulated dataset, from each cine's parameters
    (sample_cine_params is deterministic from the cine seed, view, frame count and difficulty). None when the
    index does not describe simulated cines."""
    cines = index.get("cines") or []
    if not cines or any("seed" not in c for c in cines):
        return None
    diff = index.get("difficulty", "train")
    table = {}
    for c in cines:
        p = sample_cine_params(c["seed"], c["view"], c["n_frames"], diff)
        table[c["id"]] = (p.gain_db, p.dr_db, rib_shadow_fraction(p.ribs))
    rows = np.array([table[int(i)] for i in cine_of_frame], np.float32).reshape(-1, 3)
    return {"gain_db": rows[:, 0], "dr_db": rows[:, 1], "shadow": rows[:, 2]}


def augment_batch(frames: np.ndarray, cfg: dict, rng: np.random.Generator, deg: dict | None = None,
                  return_quality: bool = False):
    """frames uint8 [B, H, W] -> float32 [B, H, W] in [0, 1]; with return_quality also the float32 [B] factor
    by which the quality label changes (1 unless cfg label_aware and `deg` holds the frames' degradations)."""
    x = frames.astype(np.float32) / 255.0
    B, h, w = x.shape
    qf = np.ones(B, np.float32)
    if not cfg.get("enabled", True):
        return (x, qf) if return_quality else x
    if (h, w) not in _MAPS:
        _MAPS[(h, w)] = _polar_maps(h, w)
    r, th = _MAPS[(h, w)]
    inside = frames > 0
    aware = bool(cfg.get("label_aware", False)) and deg is not None
    dr = cfg["dynamic_range_db"]
    off = np.zeros_like(x)
    gain = rng.uniform(-cfg["gain_db"], cfg["gain_db"], (B, 1, 1)).astype(np.float32)
    off += gain
    knots = rng.uniform(-cfg["tgc_db"], cfg["tgc_db"], (B, 5)).astype(np.float32)
    kx = np.linspace(0, 1.0, 5)
    for i in range(B):
        off[i] += np.interp(r, kx, knots[i]).astype(np.float32)
    off -= (rng.uniform(-1, 1, (B, 1, 1)) * cfg["attenuation_db"]).astype(np.float32) * r[None]
    s_lo, s_hi = cfg.get("shadow_db", [30.0, 30.0])
    echo = cfg.get("rib_echo_db", 0.0)
    added = np.zeros(B, np.float32)
    for i in range(B):
        for _ in range(int(cfg.get("shadow_max", 1))):
            if rng.random() >= cfg["shadow_prob"]:
                break
            c, hw, r0 = rng.uniform(-0.6, 0.6), rng.uniform(0.04, 0.12), rng.uniform(0.05, 0.2)
            depth_db = 30.0 if s_lo == s_hi == 30.0 else rng.uniform(s_lo, s_hi)
            ang = np.clip(1 - (np.abs(th - c) - hw) / 0.03, 0, 1)
            off[i] -= depth_db * ang * (r > r0)
            if echo > 0:  # the rib's own bright echo at the top of its shadow
                off[i] += echo * ang * np.exp(-0.5 * ((r - r0) / 0.01) ** 2)
            added[i] += 2 * hw / (2 * SECTOR_HALF_RAD)
    lo, hi = cfg.get("dr_range", [0.0, 0.0])
    if aware:
        dr0 = deg["dr_db"].astype(np.float32)
        dr1 = rng.uniform(lo, hi, B).astype(np.float32) if hi > 0 else dr0
        # dB below the top of the display, shifted by the offsets, re-compressed to the new dynamic range
        x = 1 + ((x - 1) * dr0[:, None, None] + off) / dr1[:, None, None]
        g0 = deg["gain_db"]
        qf *= (quality_gain_factor(g0 - gain[:, 0, 0]) / quality_gain_factor(g0)).astype(np.float32)
        qf *= (quality_dr_factor(dr1) / quality_dr_factor(dr0)).astype(np.float32)
        s0 = deg["shadow"]
        qf *= (quality_shadow_factor(s0 + added) / np.maximum(1e-6, quality_shadow_factor(s0))).astype(np.float32)
        dr_s = dr1[:, None, None]
    else:
        x = x + off / dr
        dr_s = dr
    if cfg["speckle"] > 0:
        ray = rng.rayleigh(1.0, x.shape).astype(np.float32)
        x = x + cfg["speckle"] * (20 * np.log10(ray / 1.2533 + 1e-3)) / dr_s
    x = np.clip(x, 0, 1)
    x[~inside] = 0
    return (x, qf) if return_quality else x
