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
  pose:   rotating the sector about the probe apex by d degrees is the simulator's probe rotation rot' = rot + d
          (exact for dx = 0; with a lateral offset dx the heart also moves |dx| sin d mm in depth), so the pose
          factor exp(-0.5 ((dx/15)^2 + (rot/20)^2)) and the guidance label are recomputed with rot'.
TGC, attenuation, speckle and the zoom (a depth change: content scaled about the apex) are not part of the label
and leave it unchanged.

Pose augmentation (augment.pose_prob > 0) assumes the simulator's sector geometry (apex at the top centre, a
75-degree sector as wide as the image); content that the rotation or zoom-out brings in from outside the sector is
mirrored back at the sector edge. Masks are not warped, so it is for the view task (train.py refuses it for seg).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from .constants import VIEWS
# The factors of the simulator's quality definition that augmentations change (sim/simulator.py,
# quality_and_guidance), shared with it so that the label and its update cannot drift apart.
from .sim.simulator import (SECTOR_HALF_RAD, guidance_index, quality_dr_factor,  # noqa: F401 (re-exported)
                            quality_gain_factor, quality_pose_factor, quality_shadow_factor, rib_shadow_fraction,
                            sample_cine_params)


def _polar_maps(h, w):
    """Radius (in units of the frame height) and angle of every pixel centre about the apex (top centre)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xx = xx + 0.5 - w / 2
    yy = yy + 0.5
    r = np.sqrt(xx * xx + yy * yy) / h
    th = np.arctan2(xx, yy)
    return r, th


_MAPS = {}


def _cached_polar_maps(h, w):
    if (h, w) not in _MAPS:
        _MAPS[(h, w)] = _polar_maps(h, w)
    return _MAPS[(h, w)]


def pose_maps(h: int, w: int, rot_deg: float, zoom: float):
    """cv2.remap source maps (x, y) for an h x w sector frame whose content is rotated about the probe apex by
    rot_deg (the simulator's probe rotation: content at angle t comes from angle t + rot_deg) and scaled by zoom
    about it (zoom 1.1 = depth / 1.1). Sources beyond the sector edge or its depth are mirrored back inside."""
    r0, th0 = _cached_polar_maps(h, w)
    r = r0 * (h / zoom)
    th = th0 + math.radians(rot_deg)
    rmax = min(float(h), w / (2 * math.sin(SECTOR_HALF_RAD))) - 0.5
    half = SECTOR_HALF_RAD
    th = np.where(np.abs(th) > half, np.sign(th) * (2 * half - np.abs(th)), th)
    edge = half - 0.5 / np.maximum(r, 1.0)  # half a pixel inside the edge: bilinear samples stay near it
    th = np.clip(th, -edge, edge)
    r = np.where(r > rmax, 2 * rmax - r, r)
    return (r * np.sin(th) + w / 2 - 0.5).astype(np.float32), (r * np.cos(th) - 0.5).astype(np.float32)


def pose_warp(img: np.ndarray, rot_deg: float, zoom: float = 1.0, nearest: bool = False) -> np.ndarray:
    """One frame (or label mask, with nearest) under pose_maps. Pixels outside the sector get values from inside it
    (augment_batch zeroes them again)."""
    mx, my = pose_maps(img.shape[0], img.shape[1], rot_deg, zoom)
    return cv2.remap(img, mx, my, cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def pose_labels(deg: dict, rot_delta: np.ndarray, on: np.ndarray):
    """Quality factor [B] and guidance labels [B] (-2 = the stored label stands: frames not rotated, OTHER) of
    frames whose probe rotation changed by rot_delta degrees (the simulator's definitions with rot + rot_delta)."""
    r0, r1 = deg["rot_deg"], deg["rot_deg"] + rot_delta
    qf = (quality_pose_factor(deg["dx"], r1) / quality_pose_factor(deg["dx"], r0)).astype(np.float32)
    heart = deg["view"] != VIEWS.index("OTHER")
    guid = np.where(heart & on, guidance_index(deg["dx"], r1, deg["fore"]), -2).astype(np.int64)
    return qf, guid


def degradations(index: dict, cine_of_frame: np.ndarray) -> dict | None:
    """Per-frame gain_db, dr_db, rib-shadow fraction, probe pose (dx, rot_deg, fore) and view of a simulated dataset, from each cine's parameters
    (sample_cine_params is deterministic from the cine seed, view, frame count and difficulty). None when the
    index does not describe simulated cines."""
    cines = index.get("cines") or []
    if not cines or any("seed" not in c for c in cines):
        return None
    diff = index.get("difficulty", "train")
    table = {}
    for c in cines:
        p = sample_cine_params(c["seed"], c["view"], c["n_frames"], diff)
        table[c["id"]] = (p.gain_db, p.dr_db, rib_shadow_fraction(p.ribs), p.dx, p.rot_deg, p.fore,
                          VIEWS.index(p.view))
    rows = np.array([table[int(i)] for i in cine_of_frame], np.float32).reshape(-1, 7)
    out = {k: rows[:, j] for j, k in enumerate(("gain_db", "dr_db", "shadow", "dx", "rot_deg", "fore"))}
    out["view"] = rows[:, 6].astype(np.int64)
    return out


def augment_batch(frames: np.ndarray, cfg: dict, rng: np.random.Generator, deg: dict | None = None,
                  return_quality: bool = False, return_labels: bool = False):
    """frames uint8 [B, H, W] -> float32 [B, H, W] in [0, 1]; with return_quality also the float32 [B] factor
    by which the quality label changes (1 unless cfg label_aware and `deg` holds the frames' degradations); with
    return_labels also the int64 [B] guidance label of the augmented frame (-2 = the stored label stands)."""
    x = frames.astype(np.float32) / 255.0
    B, h, w = x.shape
    qf = np.ones(B, np.float32)
    guid = np.full(B, -2, np.int64)

    def result():
        if return_labels:
            return x, qf, guid
        return (x, qf) if return_quality else x

    if not cfg.get("enabled", True):
        return result()
    r, th = _cached_polar_maps(h, w)
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
    if cfg.get("pose_prob", 0.0) > 0:  # drawn only when on: other configs draw exactly as before
        on = rng.random(B) < cfg["pose_prob"]
        rot = np.where(on, rng.uniform(-1, 1, B) * cfg["rotate_deg"], 0.0)
        zmax = math.log(1 + cfg["zoom"])
        zoom = np.where(on, np.exp(rng.uniform(-zmax, zmax, B)), 1.0)
        x = np.clip(x, 0, 1)
        for i in np.flatnonzero(on):
            x[i] = pose_warp(x[i], float(rot[i]), float(zoom[i]))
        if aware and "rot_deg" in deg:
            pq, guid = pose_labels(deg, rot, on)
            qf *= pq
    if cfg["speckle"] > 0:
        ray = rng.rayleigh(1.0, x.shape).astype(np.float32)
        x = x + cfg["speckle"] * (20 * np.log10(ray / 1.2533 + 1e-3)) / dr_s
    x = np.clip(x, 0, 1)
    x[~inside] = 0
    return result()
