"""The randomised ("wide") simulator, its quality label, domain randomisation, negatives and calibration."""
import dataclasses
import math

import cv2
import numpy as np
import pytest
import torch

from sonoedge_train.calibrate import (HEART, attach, auroc, distance, fit_ef_calibration, fit_logistic,
                                      fit_mahalanobis, fit_temperature, id_inputs, id_score, thresholds)
from sonoedge_train.domain import (acquire_batch, artefact_arcs, beam_dropout, cavity_clutter, crop_box, dark_surround,
                                   edge_loss,
                                   frame_batch,
                                   overlay, quality_labels, random_texture)
from sonoedge_train.metrics import lv_area_length
from sonoedge_train.models import build_model
from sonoedge_train.negatives import FAMILIES, negatives, transform_hearts, transform_in_sector
from sonoedge_train.sim import heart as H
from sonoedge_train.sim import simulator as S
from sonoedge_train.sim.simulator import (quality_from_parts, sample_cine_params, sector_box, simulate_cine,
                                          wall_segments, wall_visibility)


def _clean(seed=3, view="A4C", frames=4, **over):
    """A wide cine's parameters with the pose and every degradation switched off, then `over` applied."""
    p = sample_cine_params(seed, view, frames, "wide")
    base = dict(dx=0.0, rot_deg=0.0, fore=0.0, gain_db=0.0, dr_db=55.0, ribs=[], haze=0.0, noise=0.0, motion_mm=0.0,
                clutter=0.0, tgc_err=0.0, tgc_knobs=[0.0] * 8, depth_mm=150.0, sector_deg=80.0, lung=0.0)
    amp = list(p.amp_scale)
    amp[0], amp[1], amp[3], amp[4], amp[5] = 0.3, 0.5, 0.5, 0.5, 0.5  # dim surroundings, dark blood pools
    return dataclasses.replace(p, **{**base, "amp_scale": amp, **over})


def test_legacy_difficulties_draw_as_before():
    p = sample_cine_params(7, "A4C", 16, "train")
    assert p.amp_scale == [] and p.sector_deg == 75.0 and p.shape == [] and p.image_size == 0
    w = sample_cine_params(7, "A4C", 16, "wide")
    # the wide draws come after the legacy ones: the shared fields of the first draws are identical
    assert (w.a_ed, w.b_ed, w.ef_target, w.seed) == (p.a_ed, p.b_ed, p.ef_target, p.seed)
    assert 60.0 <= w.sector_deg <= 100.0 and len(w.amp_scale) == H.N_TISSUES and len(w.shape) == 8


def test_wide_cine_geometry_masks_and_ef():
    c = simulate_cine(_clean(frames=6))
    n = c.geometry["image_size"]
    assert c.sector.shape == (6, n, n) and n == 160
    g = c.geometry
    box = g["sector_box"]
    # 80-degree sector, 150 mm deep: width 2 * 150 * sin(40 deg), apex at the top centre
    sp = g["spacing_mm"]
    assert box[2] == pytest.approx(2 * 150 * math.sin(math.radians(40)) / sp, rel=1e-6)
    assert box[3] == pytest.approx(min(n, 150 / sp), rel=1e-6)
    assert box == sector_box(g)
    # every labelled pixel lies inside the sector (radius and angle about the apex at the top centre)
    ys, xs = np.nonzero(c.masks.max(0))
    X, Z = (xs + 0.5 - n / 2) * sp, (ys + 0.5) * sp
    assert (np.hypot(X, Z) <= 150 + 1e-6).all() and (np.abs(np.arctan2(X, Z)) <= math.radians(40) + 1e-6).all()
    # the label EF (area-length on the parametric shape, L = apex to annulus midpoint) against area-length measured
    # on the simulated masks (principal axis): within 3 EF points at this resolution
    vols = [8 * a * a / (3 * math.pi * ln) for a, ln in (lv_area_length(m == 1, sp) for m in c.masks)]
    ef_masks = 100 * (max(vols) - min(vols)) / max(vols)
    assert abs(ef_masks - c.ef) < 3.0


def test_lv_profile_area_factor():
    assert H.lv_area_factor(()) == pytest.approx(math.pi / 2)
    shape = (0.5, 0.8, 0.7, 0.0, 0.0, 0.0, 0.0, 0.0)
    t = np.linspace(0, 1, 200001)
    assert H.lv_area_factor(shape) == pytest.approx(float(np.trapezoid(2 * H.lv_profile(t, shape), t)), rel=1e-4)
    assert H.lv_profile(0.0, shape) == 0.0 and H.lv_profile(1.0, shape) == pytest.approx(0.7)


def _disc_labels():
    """A 64x64 label image: an LV disc of radius 12 in a myocardium ring to radius 18; with the pixel grid and the
    distance from the centre."""
    labels = np.zeros((64, 64), np.uint8)
    yy, xx = np.mgrid[0:64, 0:64]
    r = np.hypot(yy - 32, xx - 32)
    labels[r < 18] = 2
    labels[r < 12] = 1
    return labels, xx, r


def test_wall_visibility_reads_contrast():
    labels, _, _ = _disc_labels()
    img = np.where(labels == 1, 0.05, np.where(labels == 2, 0.5, 0.2)).astype(np.float32)
    assert wall_visibility(img, labels) > 0.95
    assert wall_visibility(np.full((64, 64), 0.3, np.float32), labels) < 0.05
    dark_myo = np.where(labels == 2, 0.06, img).astype(np.float32)
    assert wall_visibility(dark_myo, labels) < 0.05
    half = img.copy()
    half[:, 32:][labels[:, 32:] == 2] = 0.06  # one side of the wall lost (a shadow)
    assert 0.3 < wall_visibility(half, labels) < 0.7
    assert wall_visibility(img, np.zeros_like(labels)) == 0.0


def test_wall_segments_are_twelve_arcs_of_myocardium_and_cavity_about_the_lv():
    labels, xx, r = _disc_labels()
    segs = wall_segments(labels)
    assert len(segs) == 12
    o = np.any([s[0] for s in segs], 0)
    i = np.any([s[1] for s in segs], 0)
    # the myocardium 2-4 px (square steps) outside the LV's edge, the cavity within 2 px inside it; no overlap
    assert (labels[o] == 2).all() and (labels[i] == 1).all()
    assert r[o].min() >= 12 and r[o].max() < 12 + 4 * np.sqrt(2) and r[i].min() >= 9 and r[i].max() < 12
    assert sum(int(s[0].sum()) for s in segs) == int(o.sum())
    # only the myocardium on the right half: the left segments show none and drop out
    right = np.where((labels == 2) & (xx < 32), 0, labels).astype(np.uint8)
    assert 5 <= len(wall_segments(right)) <= 7
    small = np.zeros((64, 64), np.uint8)
    small[30:33, 30:33] = 1  # 9 pixels: under the 12 an LV needs
    assert wall_segments(small) == [] and wall_segments(np.zeros_like(labels)) == []


@pytest.fixture(scope="module")
def clean_cine():
    return simulate_cine(_clean())


@pytest.mark.parametrize("change", [dict(noise=1.0), dict(gain_db=-24.0), dict(gain_db=22.0), dict(rot_deg=28.0),
                                    dict(dx=22.0), dict(fore=0.3), "rib over the lateral wall", dict(haze=0.9),
                                    dict(depth_mm=95.0)])
def test_each_degradation_lowers_the_quality_label(change, clean_cine):
    clean = clean_cine
    if change == "rib over the lateral wall":  # a shadow beside the LV's centre, over its lateral (right) wall
        n, sp = clean.geometry["image_size"], clean.geometry["spacing_mm"]
        ys, xs = np.nonzero(clean.masks[0] == 1)
        lv_angle = math.atan2((xs.mean() + 0.5 - n / 2) * sp, (ys.mean() + 0.5) * sp)
        change = dict(ribs=[[lv_angle + 0.25, 0.12, 15.0, 0.04]])
    worse = simulate_cine(_clean(**change))
    assert float(clean.quality.mean()) > 0.6
    assert float(worse.quality.mean()) < float(clean.quality.mean()) - 0.05, change


def test_quality_label_parts():
    assert quality_from_parts(1.0, 1.0) == pytest.approx(1.0)
    assert quality_from_parts(0.8, 0.0) == pytest.approx(0.08)
    np.testing.assert_allclose(quality_from_parts([1.0, 0.5], [0.5, 1.0]), [0.55, 0.5], rtol=1e-6)


def test_framing_follows_the_sector_box_and_masks():
    c = simulate_cine(_clean(frames=2))
    box = np.tile(np.asarray(c.geometry["sector_box"], np.float32), (2, 1))
    rng = np.random.default_rng(0)
    f, m, crops = frame_batch(c.sector, c.masks, box, rng, modes=["exact", "full"])
    np.testing.assert_allclose(crops[0], box[0])
    assert crops[1].tolist() == [0.0, 0.0, 160.0, 160.0]
    assert f.shape == (2, 112, 112) and m.shape == (2, 112, 112)
    # the exact sector box fills the frame: the sector's top centre and bottom centre are inside the image
    assert f[0, 2, 56] > 0 and f[0, 109, 56] > 0
    # the LV keeps its place: the mask's centroid maps through the crop
    ys, xs = np.nonzero(c.masks[0] == 1)
    ys2, xs2 = np.nonzero(m[0] == 1)
    bx, by, bw, bh = box[0]
    assert (xs.mean() + 0.5 - bx) / bw * 112 == pytest.approx(xs2.mean() + 0.5, abs=1.0)
    assert (ys.mean() + 0.5 - by) / bh * 112 == pytest.approx(ys2.mean() + 0.5, abs=1.0)
    for mode in ("bbox", "square", "aspect"):
        x0, y0, w, h = crop_box(box[0], mode, np.random.default_rng(1), 160)
        assert w > 0.5 * box[0][2] and h > 0.5 * box[0][3]
        if mode == "square":
            assert w == pytest.approx(h)


def test_acquisition_chain_keeps_the_outside_black_without_spreading_ops():
    f = np.zeros((3, 40, 40), np.uint8)
    f[:, 10:30, 10:30] = 120
    cfg = {"curve_p": 1.0, "lut_p": 1.0, "gain_p": 1.0, "gain": 0.15, "tgc_p": 1.0, "tgc": 0.2, "blur_p": 0.0,
           "median_p": 0.0, "bilateral_p": 0.0, "down_p": 0.0, "jpeg_p": 0.0, "noise_p": 1.0, "noise": 0.06}
    x = acquire_batch(f, np.random.default_rng(2), cfg)
    assert x.dtype == np.float32 and x.shape == f.shape
    assert (x[:, :10] == 0).all() and (x[:, 30:] == 0).all()
    assert 0 <= x.min() and x.max() <= 1
    a = acquire_batch(f, np.random.default_rng(5), cfg)
    b = acquire_batch(f, np.random.default_rng(5), cfg)
    np.testing.assert_array_equal(a, b)


def test_artefact_arcs_cross_the_image_at_constant_range_and_only_inside():
    f = np.zeros((112, 112), np.uint8)
    yy, xx = np.mgrid[0:112, 0:112]
    inside = (np.abs(xx - 56) <= (yy - 4) * 0.7) & (yy >= 4)  # a sector with its apex at (56, 4)
    f[inside] = 40
    x0 = f.astype(np.float32) / 255
    x = artefact_arcs(x0, inside, np.random.default_rng(3))
    assert (x[~inside] == 0).all() and 0 <= x.min() and x.max() <= 1
    d = x - x0
    assert d.min() >= 0 and d.max() > 0.1  # bright bands added, nothing darkened
    # brightest added ring: constant range from the apex, so the band's pixels share one radius within its width
    r = np.hypot(xx - 56, yy - 4)
    band = d > 0.5 * d.max()
    assert np.ptp(r[band]) < 8
    np.testing.assert_array_equal(x, artefact_arcs(x0, inside, np.random.default_rng(3)))
    cfg = dict(_NO_CHAIN, artefact_p=1.0)
    assert (acquire_batch(f[None], np.random.default_rng(1), cfg) > x0).any()
    assert (acquire_batch(f[None], np.random.default_rng(1), _NO_CHAIN) == x0).all()  # default off


def _ellipse_scene():
    """A 112 px frame: a dark LV cavity (label 1) inside a bright wall ring (label 2) inside a sector."""
    yy, xx = np.mgrid[0:112, 0:112]
    inside = (np.abs(xx - 56) <= (yy - 4) * 0.7) & (yy >= 4)
    e = ((xx - 56) / 16.0) ** 2 + ((yy - 55) / 30.0) ** 2
    labels = np.zeros((112, 112), np.uint8)
    labels[(e <= 1.6) & inside] = 2
    labels[e <= 1.0] = 1
    f = np.where(inside, 60, 0).astype(np.uint8)
    f[labels == 2], f[labels == 1] = 200, 15
    return f, labels, inside


def test_cavity_clutter_brightens_only_the_cavity_and_most_near_its_wall():
    f, labels, _ = _ellipse_scene()
    x0 = f.astype(np.float32) / 255
    cav = labels == 1
    d = cv2.distanceTransform(cav.astype(np.uint8), cv2.DIST_L2, 3)
    near, deep = cav & (d <= 2), cav & (d >= 10)
    gains = []
    for seed in range(8):
        x = cavity_clutter(x0, labels, np.random.default_rng(seed))
        assert (x[~cav] == x0[~cav]).all() and (x >= x0).all() and x.max() <= 1
        gains.append(((x - x0)[near].mean(), (x - x0)[deep].mean()))
        np.testing.assert_array_equal(x, cavity_clutter(x0, labels, np.random.default_rng(seed)))
    g = np.array(gains)
    assert (g[:, 0] > 0.02).all()  # every draw echoes near the wall
    assert (g[:, 0] > 2 * g[:, 1]).all()  # ... and more there than deep in the pool
    # never brighter than the wall itself plus a margin: the border stays a contrast step
    assert max(cavity_clutter(x0, labels, np.random.default_rng(s))[near].mean() for s in range(8)) < 200 / 255
    # no cavity (a negative, or a view without LV): unchanged
    np.testing.assert_array_equal(cavity_clutter(x0, np.zeros_like(labels), np.random.default_rng(0)), x0)
    cfg = dict(_NO_CHAIN, clutter_p=1.0)
    assert (acquire_batch(f[None], np.random.default_rng(1), cfg, labels[None]) > x0).any()
    assert (acquire_batch(f[None], np.random.default_rng(1), cfg) == x0).all()  # no labels, no clutter


def test_cavity_clutter_level_and_width_are_configuration():
    f, labels, _ = _ellipse_scene()
    x0 = f.astype(np.float32) / 255
    cav = labels == 1
    d = cv2.distanceTransform(cav.astype(np.uint8), cv2.DIST_L2, 3)
    mid = cav & (d >= 7) & (d <= 9)
    # the defaults are the stage as it was: the same draws give the same frame
    np.testing.assert_array_equal(cavity_clutter(x0, labels, np.random.default_rng(4)),
                                  cavity_clutter(x0, labels, np.random.default_rng(4), 9.0, 0.9))
    weak = [cavity_clutter(x0, labels, np.random.default_rng(s), 2.0, 0.3)[mid].mean() for s in range(6)]
    strong = [cavity_clutter(x0, labels, np.random.default_rng(s), 14.0, 1.2)[mid].mean() for s in range(6)]
    assert all(w < t for w, t in zip(weak, strong)), (weak, strong)  # wider and brighter, draw for draw
    cfg = dict(_NO_CHAIN, clutter_p=1.0, clutter_width_max=14.0, clutter_level_max=1.2)
    np.testing.assert_array_equal(acquire_batch(f[None], np.random.default_rng(2), cfg, labels[None])[0],
                                  np.clip(cavity_clutter(x0, labels, _after_one_draw(2), 14.0, 1.2), 0, 1))


def _after_one_draw(seed):
    rng = np.random.default_rng(seed)
    rng.random()  # acquire_batch's first draw (clutter_p with labels, else artefact_p)
    return rng


def test_beam_dropout_darkens_wedges_from_the_probe_and_nothing_else():
    f, labels, inside = _ellipse_scene()
    x0 = f.astype(np.float32) / 255
    yy, xx = np.mgrid[0:112, 0:112]
    ang = np.arctan2(xx - 56, yy - 4)
    for seed in range(6):
        x = beam_dropout(x0, inside, np.random.default_rng(seed))
        assert (x <= x0 + 1e-7).all() and (x[~inside] == 0).all()
        dark = inside & (x < 0.6 * x0)
        assert dark.sum() > 50
        # wedges from the probe: far from it (r 40-100 px) the darkened angles form one or two runs of 0.05 rad bins
        r = np.hypot(xx - 56, yy - 4)
        far = dark & (r >= 40) & (r <= 100)
        hist = np.histogram(ang[far], bins=np.arange(-1.0, 1.0001, 0.05))[0] > 0
        runs = int(hist[0]) + int((hist[1:] & ~hist[:-1]).sum())
        assert 1 <= runs <= 2
    cfg = dict(_NO_CHAIN, dropout_p=1.0)
    assert (acquire_batch(f[None], np.random.default_rng(1), cfg) < x0).any()


def test_edge_loss_fades_the_sector_sides_and_keeps_its_middle():
    f, labels, inside = _ellipse_scene()
    x0 = f.astype(np.float32) / 255
    yy, xx = np.mgrid[0:112, 0:112]
    rel = np.arctan2(xx - 56, yy - 4) / math.atan(0.7)  # beam angle over the half-sector angle, -1..1
    middle = inside & (np.abs(xx - 56) <= 4) & (yy >= 40)
    for seed in range(8):
        x = edge_loss(x0, inside, np.random.default_rng(seed))
        np.testing.assert_array_equal(x, edge_loss(x0, inside, np.random.default_rng(seed)))
        assert (x <= x0 + 1e-7).all() and (x[~inside] == 0).all()
        np.testing.assert_allclose(x[middle], x0[middle], rtol=1e-6)  # the middle of the sector keeps its echo
        ratio = np.where(inside, x / np.maximum(x0, 1e-6), 1.0)
        sides = []
        for s in (-1, 1):
            edge = inside & (s * rel >= 0.9)
            mid = inside & (s * rel >= 0.4) & (s * rel <= 0.5) & (yy >= 30)
            sides.append((ratio[edge].mean(), ratio[mid].mean()))
        faded = [e for e, m in sides if e < 0.8]
        assert faded, sides  # at least one side loses a fifth or more of its echo along its edge ...
        assert all(e <= m + 1e-6 for e, m in sides), sides  # ... and fades outward, never brightens
    cfg = dict(_NO_CHAIN, edge_p=1.0)
    assert (acquire_batch(f[None], np.random.default_rng(1), cfg) < x0 - 0.01).any()
    assert (acquire_batch(f[None], np.random.default_rng(1), _NO_CHAIN) == x0).all()  # off by default


def test_dark_surround_darkens_the_tissue_and_spares_the_myocardium_when_it_can():
    f, labels, inside = _ellipse_scene()
    x0 = f.astype(np.float32) / 255
    tissue = inside & (labels == 0)
    tissue &= cv2.distanceTransform((labels == 0).astype(np.uint8), cv2.DIST_L2, 3) >= 12  # well away from the wall
    core = cv2.erode((labels == 2).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    spared, whole = 0, 0
    for seed in range(16):
        x = dark_surround(x0, labels, np.random.default_rng(seed))
        np.testing.assert_array_equal(x, dark_surround(x0, labels, np.random.default_rng(seed)))
        assert (x <= x0 + 1e-6).all() and (x[~inside] == 0).all()
        # the mid-grey tissue (60/255) loses at least 0.6 (1 - 0.2353**0.5) of its echo at the weakest draw
        assert x[tissue].max() < 0.85 * x0[tissue].min()
        if x[core].mean() > 0.97 * x0[core].mean():
            spared += 1
        else:
            whole += 1
            # over the whole frame, the same curve everywhere: the wall keeps more of its echo than the tissue
            assert x[core].mean() / x0[core].mean() > x[tissue].mean() / x0[tissue].mean()
    assert spared >= 4 and whole >= 4, (spared, whole)  # both forms are drawn
    # without labels, or with too little myocardium, always over the whole frame
    for lab in (None, np.zeros_like(labels)):
        for seed in range(6):
            assert dark_surround(x0, lab, np.random.default_rng(seed))[core].mean() < 0.97 * x0[core].mean()
    cfg = dict(_NO_CHAIN, surround_p=1.0)
    rng = _after_one_draw(5)
    rng.random()  # and for surround_p
    np.testing.assert_allclose(acquire_batch(f[None], np.random.default_rng(5), cfg, None, labels[None])[0],
                               np.clip(dark_surround(x0, labels, rng), 0, 1), rtol=0, atol=1e-7)
    assert (acquire_batch(f[None], np.random.default_rng(5), _NO_CHAIN, None, labels[None]) == x0).all()  # off


def test_random_texture_remaps_the_texture_keeps_the_polarity_and_the_outside():
    f, labels, inside = _ellipse_scene()
    x0 = f.astype(np.float32) / 255
    changed = 0
    for seed in range(16):
        x = random_texture(x0, inside, np.random.default_rng(seed))
        np.testing.assert_array_equal(x, random_texture(x0, inside, np.random.default_rng(seed)))
        assert x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
        assert (x[~inside] == 0).all()
        assert np.corrcoef(x[inside], x0[inside])[0, 1] > 0  # blood stays darker than wall on the whole
        changed += np.abs(x - x0).max() > 0.1
    assert changed >= 12, changed  # most draws change the frame visibly (the blend weight is U(0, 1))
    # a flat frame has no texture to remap, and a frame with no image inside is returned as it is
    flat = np.where(inside, np.float32(0.4), np.float32(0))
    assert random_texture(flat, inside, np.random.default_rng(0)) is flat
    assert random_texture(x0, np.zeros_like(inside), np.random.default_rng(0)) is x0
    # in the chain: the last stage, drawn after the eleven draws of the chain without labels
    cfg = dict(_NO_CHAIN, texture_p=1.0)
    rng = np.random.default_rng(5)
    for _ in range(12):  # artefact_p, curve, lut, gain, tgc, blur, median, bilateral, down, noise, jpeg, texture_p
        rng.random()
    np.testing.assert_allclose(acquire_batch(f[None], np.random.default_rng(5), cfg)[0],
                               random_texture(x0, inside, rng), rtol=0, atol=1e-7)
    assert (acquire_batch(f[None], np.random.default_rng(5), _NO_CHAIN) == x0).all()  # off by default


_NO_CHAIN = {"curve_p": 0.0, "lut_p": 0.0, "gain_p": 0.0, "gain": 0.0, "tgc_p": 0.0, "tgc": 0.0, "blur_p": 0.0,
             "median_p": 0.0, "bilateral_p": 0.0, "down_p": 0.0, "jpeg_p": 0.0, "noise_p": 0.0, "noise": 0.0}


def test_overlay_draws_only_screen_elements():
    x = np.full((112, 112), 0.25, np.float32)
    y = overlay(x.copy(), np.random.default_rng(3))
    changed = y != 0.25
    assert 0 < changed.mean() < 0.3
    assert (y[changed] >= 150 / 255 - 1e-6).all() or (y[changed] > 0).all()


def test_quality_labels_of_negatives_are_zero():
    x = np.random.default_rng(0).random((2, 32, 32)).astype(np.float32)
    q = quality_labels(x, np.zeros((2, 32, 32), np.uint8), np.array([0.9, 0.0], np.float32), np.array([4, 0]), 4)
    assert q.tolist() == [0.0, 0.0]


def test_geometric_quality_target_times_the_measured_walls_is_the_label():
    # loss.quality_target "geometric": the target is the label's geometric part (0 for OTHER); the label's formula
    # with that part and the walls measured on the frame around the reference labels (measured_quality) gives the
    # quality label itself, exactly
    from sonoedge_train.domain import measured_quality
    c = simulate_cine(_clean(frames=4, dx=6.0, fore=0.1))
    x = c.sector.astype(np.float32) / 255
    view = np.array([0, 0, 4, 0])
    qg = c.quality_geom.copy()
    g = quality_labels(x, c.masks, qg, view, 4, "geometric")
    assert g.tolist() == [float(qg[0]), float(qg[1]), 0.0, float(qg[3])] and 0.3 < qg[0] < 0.95
    full = quality_labels(x, c.masks, qg, view, 4)
    np.testing.assert_allclose(measured_quality(g, x, c.masks)[[0, 1, 3]], full[[0, 1, 3]], rtol=1e-6)
    np.testing.assert_allclose(full[[0, 1, 3]], c.quality[[0, 1, 3]], atol=1e-6)
    # without an LV the walls are not seen: a tenth of the geometric part is left
    assert measured_quality(np.array([0.8]), x[:1], np.zeros((1,) + x.shape[1:], np.uint8)).tolist() == pytest.approx([0.08])


def test_transform_in_sector_turns_the_heart_and_keeps_the_sector():
    f, labels, inside = _ellipse_scene()
    f = f.copy()
    f[inside & (labels == 0)] = 60
    f[labels == 2] = 200
    f[(labels == 2) & (np.mgrid[0:112, 0:112][0] < 55)] = 250  # the wall's upper half brighter: up and down differ
    hull = np.zeros((112, 112), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(cv2.findNonZero((f > 0).astype(np.uint8))), 1)
    yy = np.mgrid[0:112, 0:112][0]
    moved = 0
    for seed in range(10):
        out = transform_in_sector(f[None], np.random.default_rng(seed))[0]
        np.testing.assert_array_equal(out, transform_in_sector(f[None], np.random.default_rng(seed))[0])
        assert (out[hull == 0] == 0).all()  # nothing outside the frame's own sector
        assert (out[hull == 1] > 0).mean() > 0.99  # and the sector filled: no black wedge where the turn left a gap
        assert np.abs(out.astype(int) - f).mean() > 10  # the heart moved
        # the bright half of the wall is no longer where it was (up), or the wall turned away
        moved += int(yy[out >= 245].mean() > yy[f >= 245].mean() + 5) if (out >= 245).any() else 1
    assert moved >= 8, moved
    blank = np.zeros((1, 112, 112), np.uint8)
    np.testing.assert_array_equal(transform_in_sector(blank, np.random.default_rng(0)), blank)


def test_negative_families_are_deterministic_and_distinct():
    for fam in FAMILIES:
        a, fa = negatives(3, np.random.default_rng(9), 64, [fam])
        b, _ = negatives(3, np.random.default_rng(9), 64, [fam])
        assert a.dtype == np.uint8 and a.shape == (3, 64, 64) and fa == [fam] * 3
        np.testing.assert_array_equal(a, b)
    hearts = np.zeros((2, 20, 20), np.uint8)
    hearts[:, :5] = 200  # bright top rows: any rotation >= 60 degrees or an upside-down turn moves them
    t = transform_hearts(hearts, np.array([1, 1]), np.random.default_rng(1), ["A4C", "A2C", "PLAX", "PSAX", "OTHER"])
    assert not (t[:, :5] == 200).all()
    # every branch (turned, upside down, mirrored for A4C) over a few seeds: each frame changed
    many = np.repeat(hearts[:1], 12, 0)
    many[:, :, :4] = 120  # a darker left edge: the mirror moves it too
    names = ["A4C", "A2C", "PLAX", "PSAX", "OTHER"]
    for seed in range(4):
        t = transform_hearts(many, np.zeros(12, int), np.random.default_rng(seed), names)
        assert all((t[i] != many[i]).any() for i in range(12))


def test_temperature_and_reliability():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 4000)
    true_logits = rng.normal(0, 1, (4000, 5))
    true_logits[np.arange(4000), labels] += 2.0
    # sample labels from softmax(true_logits) and hand the model logits 3x too sharp: T recovers ~3
    p = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    y = np.array([rng.choice(5, p=pi) for pi in p])
    assert fit_temperature(3.0 * true_logits, y) == pytest.approx(3.0, rel=0.1)


def test_mahalanobis_logistic_and_head_agree():
    rng = np.random.default_rng(1)
    d = 8
    feats = np.concatenate([rng.normal(c, 0.3, (300, d)) for c in range(4)]).astype(np.float32)
    labels = np.repeat(np.array(HEART), 300)
    chol, centers = fit_mahalanobis(feats, labels)
    far = rng.normal(10, 0.3, (300, d)).astype(np.float32)
    assert distance(far, chol, centers).min() > distance(feats, chol, centers).max()
    logits = rng.normal(0, 1, (1200, 5)).astype(np.float32)
    x_id = id_inputs(feats, logits, chol, centers, 1.5)
    x_ood = id_inputs(far, logits[:300], chol, centers, 1.5)
    w = fit_logistic(x_id, x_ood)
    s_id, s_ood = id_score(x_id, w), id_score(x_ood, w)
    assert auroc(s_id, s_ood) == 1.0
    th = thresholds(s_id)
    assert th["unknown"] <= th["ok"] and (s_ood < th["unknown"]).all()
    # the model's head computes the same score as the numpy fit
    m = build_model("view_quality", width=1, guidance=False)  # 16 features; only the head matters here
    feats16 = np.concatenate([feats, feats], 1)
    chol16, centers16 = fit_mahalanobis(feats16, labels)
    x16 = id_inputs(feats16[:50], logits[:50], chol16, centers16, 1.5)
    head = attach(m, chol16, centers16, w, 1.5)
    with torch.no_grad():
        got = head(torch.from_numpy(feats16[:50]), torch.from_numpy(logits[:50])).numpy()
    np.testing.assert_allclose(got, id_score(x16, w), rtol=1e-4, atol=1e-5)


def test_auroc_and_ef_calibration():
    assert auroc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert auroc(np.array([1.0]), np.array([1.0])) == 0.5
    x = np.array([30.0, 40.0, 50.0, 60.0])
    c = fit_ef_calibration(x, 1.1 * x - 2)
    assert c["slope"] == pytest.approx(1.1) and c["intercept"] == pytest.approx(-2.0) and c["n"] == 4
    assert c["residual_sd"] == pytest.approx(0.0, abs=1e-9)


def test_anisotropic_area_length_by_hand():
    # a 10 x 4 pixel rectangle (x by y), pixels 0.5 mm wide and 2 mm tall: 5 mm x 8 mm, long axis along y
    m = np.zeros((8, 16), bool)
    m[2:6, 3:13] = True
    area, length = lv_area_length(m, (0.5, 2.0))
    assert area == pytest.approx(40 * 1.0)
    # centres span 3 rows * 2 mm = 6 mm along y, plus one pixel's length along y (2 mm)
    assert length == pytest.approx(8.0)
    a2, l2 = lv_area_length(m, 1.0)
    assert (a2, l2) == (pytest.approx(40.0), pytest.approx(10.0))


def test_randomisation_strength():
    p0 = sample_cine_params(11, "A4C", 4, "wide", strength=0.0)
    assert (p0.sector_deg, p0.psf_scale, p0.atten, p0.cell_mm) == (75.0, 1.0, 0.5, 0.35)
    assert p0.amp_scale == [1.0] * H.N_TISSUES and (p0.specular, p0.clutter, p0.persistence, p0.hetero) == (0, 0, 0, 0)
    p1 = sample_cine_params(11, "A4C", 4, "wide")
    assert p1 == sample_cine_params(11, "A4C", 4, "wide", strength=1.0)
    p2 = sample_cine_params(11, "A4C", 4, "wide", strength=0.5)
    assert p2.sector_deg - 75.0 == pytest.approx(0.5 * (p1.sector_deg - 75.0))
    with pytest.raises(ValueError, match="Expected a wide difficulty for a randomisation strength but received 'train'"):
        sample_cine_params(11, "A4C", 4, "train", strength=0.5)


def test_varied_anatomy_is_the_wide_twin_with_other_chambers():
    w = sample_cine_params(21, "A4C", 4, "wide")
    v = sample_cine_params(21, "A4C", 4, "wide_anat")
    # drawn after every other draw: the wide twin's fields are identical, only the anatomy is added
    assert w.anatomy == [] and dataclasses.replace(v, anatomy=[]) == w
    assert len(v.anatomy) == H.N_ANATOMY and v.anatomy != list(H.ANATOMY_LEGACY)
    assert 0.45 <= v.anatomy[H.AN_RV_W] <= 1.1 and 12.0 <= v.anatomy[H.AN_LA_U] <= 23.0
    # strength 0 gives the fixed chambers' values, optional structures off
    from sonoedge_train.sim.simulator import _anatomy_params
    assert _anatomy_params(np.random.default_rng(0), 0.0) == list(H.ANATOMY_LEGACY)
    # every view draws the same number of values (so a cine's later draws do not depend on its view)
    assert all(len(sample_cine_params(21, view, 4, "wide_anat_hard").anatomy) == H.N_ANATOMY
               for view in ("A2C", "PLAX", "PSAX", "OTHER"))


def test_no_persistence_is_the_wide_twin_without_frame_averaging():
    for seed in range(40):
        for hard in ("", "_hard"):
            w = sample_cine_params(seed, "A2C", 8, "wide" + hard)
            n = sample_cine_params(seed, "A2C", 8, "wide_nopersist" + hard)
            assert n.persistence == 0.0 and dataclasses.replace(w, persistence=0.0) == n
    # "wide" draws it on about half of its cines, so the twins differ there
    assert sum(sample_cine_params(s, "A4C", 8, "wide").persistence > 0 for s in range(40)) >= 10


def test_isovolumic_beats_are_the_twins_with_the_beats_timing_changed():
    from sonoedge_train.sim.simulator import ISOVOLUMIC_CONTRACTION, ISOVOLUMIC_RELAXATION
    for seed in range(40):
        for base, iv in (("wide", "wide_iv"), ("wide_hard", "wide_iv_hard"), ("wide_nopersist", "wide_nopersist_iv"),
                         ("wide_nopersist_hard", "wide_nopersist_iv_hard")):
            w = sample_cine_params(seed, "A4C", 8, base)
            i = sample_cine_params(seed, "A4C", 8, iv)
            assert w.isovolumic == [] and dataclasses.replace(i, isovolumic=[]) == w
            assert ISOVOLUMIC_CONTRACTION[0] <= i.isovolumic[0] <= ISOVOLUMIC_CONTRACTION[1]
            assert ISOVOLUMIC_RELAXATION[0] <= i.isovolumic[1] <= ISOVOLUMIC_RELAXATION[1]
    # drawn from a stream of their own: the same for every view and difficulty of a seed
    assert sample_cine_params(5, "A2C", 8, "wide_iv").isovolumic == sample_cine_params(5, "A4C", 8,
                                                                                      "wide_nopersist_iv_hard").isovolumic


def test_contraction_with_isovolumic_phases_holds_ed_and_es():
    p = phase = np.arange(1000) / 1000
    # without them the curve of before, to the bit (the legacy formula written out here)
    legacy = np.where(p < 0.35, 0.5 * (1 - np.cos(np.pi * p / 0.35)),
                      np.where(p < 0.6, 1 - 0.85 * 0.5 * (1 - np.cos(np.pi * (p - 0.35) / 0.25)),
                               np.where(p < 0.85, 0.15, 0.15 * 0.5 * (1 + np.cos(np.pi * (p - 0.85) / 0.15)))))
    assert np.array_equal(H.contraction(phase), legacy) and np.array_equal(H.contraction(phase, 0.0, 0.0), legacy)
    s = H.contraction(phase, 0.05, 0.1)
    assert np.all(s[phase < 0.05] == 0.0)  # isovolumic contraction: the volume stays at end-diastole
    assert np.all(s[(phase >= 0.35) & (phase < 0.45)] == 1.0)  # isovolumic relaxation: at end-systole
    assert H.contraction(np.array([0.2]), 0.05, 0.1)[0] == pytest.approx(0.5)  # ejection's midpoint, (0.05 + 0.35) / 2
    assert H.contraction(np.array([0.525]), 0.05, 0.1)[0] == pytest.approx(1 - 0.425)  # rapid filling's midpoint
    assert np.array_equal(s[phase >= 0.6], legacy[phase >= 0.6])  # diastasis and the atrial kick unchanged
    assert np.all(np.diff(s[phase < 0.35]) >= 0) and np.all(np.diff(s[(phase >= 0.35) & (phase < 0.85)]) <= 0)
    # the same extremes, so the cine's EF label is unchanged; ES still at 0.35
    assert s.min() == 0.0 and s.max() == 1.0 and phase[np.argmax(s)] == 0.35
    # the mitral valve opens when the relaxation ends, or at MV_OPENS_AT_PHASE as before when that is later
    assert [H.mitral_closed_at(f, 0.1) for f in (0.0, 0.38, 0.449, 0.45, 0.9)] == [True, True, True, False, False]
    assert [H.mitral_closed_at(f, 0.02) for f in (0.379, 0.38)] == [True, False]


def test_an_isovolumic_cine_keeps_its_ef_and_dwells_at_es():
    # the same heart as its wide twin: the same EF label within the sampling of its frames, more frames near ES
    w = simulate_cine(sample_cine_params(8, "A4C", 32, "wide_nopersist"))
    i = simulate_cine(sample_cine_params(8, "A4C", 32, "wide_nopersist_iv"))
    assert i.ef == pytest.approx(w.ef, abs=1.0)
    near = lambda c: int((c.volumes_ml <= c.volumes_ml.min() + 0.02 * (c.volumes_ml.max() - c.volumes_ml.min())).sum())
    assert near(i) > near(w)


def test_narrow_rv_is_the_varied_anatomy_twin_with_the_rv_width_redrawn():
    # wide_rv: the RV's width against the LV's drawn from 0.4-0.8 (a normal RV: at most about two thirds of the LV) in
    # place of wide_anat's 0.45-1.1, from the same uniform draw, so every other value is the wide_anat twin's
    for seed in range(40):
        v = sample_cine_params(seed, "A4C", 4, "wide_anat")
        r = sample_cine_params(seed, "A4C", 4, "wide_rv")
        assert 0.4 <= r.anatomy[H.AN_RV_W] <= 0.8
        u = (v.anatomy[H.AN_RV_W] - 0.45) / (1.1 - 0.45)
        assert r.anatomy[H.AN_RV_W] == pytest.approx(0.4 + u * 0.4, abs=1e-9)
        rest = [i for i in range(H.N_ANATOMY) if i != H.AN_RV_W]
        assert [r.anatomy[i] for i in rest] == [v.anatomy[i] for i in rest]
        assert dataclasses.replace(r, anatomy=[]) == dataclasses.replace(v, anatomy=[])
    h = sample_cine_params(3, "A4C", 4, "wide_rv_hard")
    assert h.dx == sample_cine_params(3, "A4C", 4, "wide_anat_hard").dx and 0.4 <= h.anatomy[H.AN_RV_W] <= 0.8


def test_thick_apex_is_the_varied_anatomy_twin_with_a_thicker_apical_wall():
    # wide_apex: a share (0.6) of the apical cines get apex_wall from 0.3-1.2 whatever their foreshortening, drawn
    # from a stream of their own, so every other value is the wide_anat twin's; other views never
    from sonoedge_train.cli import DIFFICULTIES
    from sonoedge_train.sim.simulator import DIFFICULTY
    assert DIFFICULTIES == tuple(DIFFICULTY)
    drawn = []
    for seed in range(60):
        v = sample_cine_params(seed, "A2C" if seed % 2 else "A4C", 4, "wide_anat")
        t = sample_cine_params(seed, "A2C" if seed % 2 else "A4C", 4, "wide_apex")
        assert v.apex_wall == 0.0 and dataclasses.replace(t, apex_wall=0.0) == v
        assert t.apex_wall == 0.0 or 0.3 <= t.apex_wall <= 1.2
        drawn.append(t.apex_wall > 0)
        assert sample_cine_params(seed, "PLAX", 4, "wide_apex").apex_wall == 0.0
    assert 0.45 <= np.mean(drawn) <= 0.75
    # the apical wall of the scene is thicker by that fraction, the foreshortening's thickening kept
    p = sample_cine_params(5, "A4C", 4, "wide_apex_hard")
    p = dataclasses.replace(p, apex_wall=1.0)
    from sonoedge_train.sim.simulator import simulate_cine
    thin = simulate_cine(dataclasses.replace(p, apex_wall=0.0))
    thick = simulate_cine(p)
    myo = H.SEG_OF_TISSUE[H.T_MYO]
    assert (thick.masks == myo).sum() > (thin.masks == myo).sum()
    assert np.array_equal(thick.masks == 1, thin.masks == 1)


def test_papillary_muscles_are_the_valve_twin_drawn_bright_inside_an_unchanged_lv_label():
    # wide_pap: a share (0.8) of the apical cines get papillary muscles, drawn from a stream of their own, so every
    # other value is the wide_valve twin's; A4C the lateral one (+1) first, A2C at least one; other views never
    from sonoedge_train.sim.simulator import simulate_cine
    drawn = []
    for seed in range(60):
        view = "A2C" if seed % 2 else "A4C"
        v = sample_cine_params(seed, view, 4, "wide_valve")
        t = sample_cine_params(seed, view, 4, "wide_pap")
        assert v.papillary == [] and dataclasses.replace(t, papillary=[]) == v
        for side, level, w, h, tilt in t.papillary:
            assert side in (1.0, -1.0) and 0.35 <= level <= 0.6 and 2.8 <= w <= 5.5 and 5.6 <= h <= 11
            assert 0.1 <= tilt <= 0.4
        if view == "A4C" and t.papillary:
            assert t.papillary[0][0] == 1.0 and len(t.papillary) <= 2
        drawn.append(bool(t.papillary))
        assert sample_cine_params(seed, "PSAX", 4, "wide_pap").papillary == []
    assert 0.65 <= np.mean(drawn) <= 0.95
    p = sample_cine_params(2, "A4C", 16, "wide_pap_hard")
    assert p.papillary, "seed 2 draws a muscle"
    plain, pap = simulate_cine(dataclasses.replace(p, papillary=[])), simulate_cine(p)
    assert np.array_equal(plain.masks, pap.masks)  # labelled LV, as clinical tracings include them in the cavity
    changed = pap.sector != plain.sector
    lv = pap.masks == 1
    # drawn inside the LV (the scan conversion and the PSF spread them a few pixels), brighter than the cavity there
    assert changed.any() and lv[changed].mean() > 0.6
    assert pap.sector[changed & lv].astype(float).mean() > plain.sector[changed & lv].astype(float).mean() + 20


def _anatomy_state(view="A4C", **values):
    an = list(H.ANATOMY_LEGACY)
    for k, val in values.items():
        an[getattr(H, "AN_" + k.upper())] = val
    return H.FrameState(view=view, a=22.0, b=40.0, a_ed=22.0, b_ed=40.0, s=0.0, wall=9.0, apex_thick=9.0,
                        apex=(0.0, 0.0), phi=0.0, shape=(0.55, 0.8, 0.7, 0.0, 0.0, 0.0, 0.0, 0.0),
                        anatomy=tuple(an))


_GRID = np.meshgrid(np.arange(-110, 90, 0.5), np.arange(-20, 160, 0.5))


def _anatomy_scene(view="A4C", **values):
    x, z = _GRID
    return H.scene(_anatomy_state(view, **values), x, z, want_material=False)[0], x, z


def test_varied_anatomy_moves_only_the_other_chambers():
    narrow, x, z = _anatomy_scene(rv_w=0.5)
    wide, _, _ = _anatomy_scene(rv_w=1.0)
    # the RV (blood left of the septum, above the annuli at v = 2b = 80 mm) doubles in width with rv_w
    rv = (x < -31) & (z < 80)
    n1, n2 = int(((narrow == H.T_BLOOD) & rv).sum()), int(((wide == H.T_BLOOD) & rv).sum())
    assert n1 > 400 and 1.7 < n2 / n1 < 2.3
    # the labelled structures do not move: LV cavity and myocardium identical, everywhere
    for t in (H.T_LV, H.T_MYO):
        assert np.array_equal(narrow == t, wide == t)
    # the RV and its free wall, as drawn before the labelled structures are painted over them, never reach the LV
    # cavity or myocardium (the septum stays whole), whatever the RV's size, profile and the tricuspid offset
    for values in ({"rv_w": 1.1, "rv_p": 0.5}, {"rv_w": 1.1, "rv_len": 0.95, "tv_off": 10.0}, {"rv_wall": 5.0}):
        st = _anatomy_state(**values)
        u, v = H.heart_coords(st, x, z)
        blood, walls, _, _ = H._chambers(st, u, v, 0.1 * 22, 80 + 3 + 19, 17.0, 19.0)
        seg = H.scene(st, x, z, want_material=False, seg_only=True)[0]
        rv = (blood | walls) & (v < 80 + 1.5 - st.anatomy[H.AN_TV_OFF])  # above the tricuspid annulus
        assert rv.sum() > 400 and not (rv & ((seg == H.T_LV) | (seg == H.T_MYO))).any(), values
    # the LA follows its size; the interatrial septum's dropout joins the atria through blood
    big, _, _ = _anatomy_scene(la_u=22.0)
    assert ((big == H.T_LA).sum()) > 1.2 * ((wide == H.T_LA).sum())
    joined, _, _ = _anatomy_scene(ias_gap=1.0)
    la_cv = 80 + 3 + 19
    at = (np.abs(x - (0.1 * 22 - 17 - 1.5)) < 0.3) & (np.abs(z - la_cv) < 0.3)  # the septum's middle
    assert (joined[at] == H.T_BLOOD).all() and not (wide[at] == H.T_BLOOD).any()


def test_varied_anatomy_two_chamber_extras_and_sizes():
    plain, x, z = _anatomy_scene("A2C")
    both, _, _ = _anatomy_scene("A2C", laa=6.0, cs=4.0)
    assert not (plain == H.T_BLOOD).any()  # the two-chamber view has no other chamber by default
    extra = (both == H.T_BLOOD)
    assert extra[x > 0].sum() > 50 and extra[x < 0].sum() > 30  # appendage right, coronary sinus left
    small, _, _ = _anatomy_scene("PLAX", plax_rv=7.0)
    large, _, _ = _anatomy_scene("PLAX", plax_rv=16.0)
    assert (large == H.T_BLOOD).sum() > (small == H.T_BLOOD).sum() + 500


def test_mitral_join_is_the_anat_twin_with_the_la_on_the_annulus():
    # wide_mitral: the wide_anat twin (every field equal) with la_join drawn from a stream of its own, apical only
    a = sample_cine_params(21, "A4C", 4, "wide_anat")
    m = [sample_cine_params(s, "A4C", 4, "wide_mitral") for s in range(21, 41)]
    assert dataclasses.replace(m[0], la_join=0.0) == a and a.la_join == 0.0
    assert {p.la_join for p in m} == {0.0, 1.0}
    assert sample_cine_params(21, "PLAX", 4, "wide_mitral_hard").la_join == 0.0
    x, z = _GRID
    for s, v in ((0.0, "open"), (1.0, "shut")):
        apart = dataclasses.replace(_anatomy_state(), s=s)
        joined = dataclasses.replace(apart, la_join=1.0)
        ta, tj = (H.scene(st, x, z, want_material=False)[0] for st in (apart, joined))
        sa, sj = (H.scene(st, x, z, want_material=False, seg_only=True)[0] for st in (apart, joined))
        # the labelled LV and myocardium do not move; the LA does, up to the annulus line (v = 2b = 80 mm here)
        for t_ in (H.T_LV, H.T_MYO):
            assert np.array_equal(sa == t_, sj == t_), v
        col = np.abs(x - 0.0) < 0.3  # the LV's axis, the annulus at z = 80
        la_top_apart = z[col & (sa == H.T_LA)].min()
        la_top_joined = z[col & (sj == H.T_LA)].min()
        assert la_top_apart == pytest.approx(83.0, abs=0.6) and la_top_joined == pytest.approx(80.0, abs=0.6), v
        # apart: atrial wall between the cavities; joined: blood and at most the leaflets (shut: a 2 mm line)
        gap = col & (z > 80.2) & (z < 82.8)
        assert (ta[gap] == H.T_CWALL).any(), v
        assert set(np.unique(tj[gap])) <= {H.T_LA, H.T_VALVE}, v
        assert ((tj[gap] == H.T_VALVE).sum() > 0) == (v == "shut"), v


def test_valve_leaflets_move_off_the_annulus_inside_the_lv_label():
    # wide_valve: the wide_mitral twin with leaflets on the joined cines only
    for seed in range(21, 41):
        m, v = (sample_cine_params(seed, "A2C", 4, d) for d in ("wide_mitral", "wide_valve"))
        assert dataclasses.replace(v, leaflets=[]) == m
        assert (len(v.leaflets) == 2) == bool(v.la_join) and all(0.0 <= x <= 22.0 for x in v.leaflets)
    x, z = _GRID
    base = dataclasses.replace(_anatomy_state(), la_join=1.0)
    for s, tent, where in ((1.0, 6.0, "shut"), (0.0, 6.0, "open")):
        st = dataclasses.replace(base, s=s, leaflets=(tent, 18.0))
        t_new = H.scene(st, x, z, want_material=False)[0]
        seg = H.scene(st, x, z, want_material=False, seg_only=True)[0]
        seg_old = H.scene(dataclasses.replace(st, leaflets=()), x, z, want_material=False, seg_only=True)[0]
        assert np.array_equal(seg, seg_old), where  # labels do not depend on the leaflets
        valve = (t_new == H.T_VALVE) & (np.abs(x) < 22 * float(H.lv_profile(1.0, st.shape)) + 1)
        # every leaflet pixel lies within 1 mm of the annulus line or apical of it, inside the LV label
        assert valve.sum() > 40 and (z[valve] <= 80.0 + 1.0).all(), where
        assert ((seg[valve] == H.T_LV) | (z[valve] > 79.0)).all(), where
        if where == "shut":  # the coaptation point tent mm apical of the annulus line
            assert z[valve].min() == pytest.approx(80.0 - tent - 0.9, abs=0.6)
        else:  # the anterior leaflet reaches 18 mm towards the apex
            assert z[valve].min() == pytest.approx(80.0 - 18.0 - 0.9, abs=0.6)


def test_valve_timing_shuts_the_mitral_valve_from_end_diastole_through_relaxation():
    # the timing over the cycle: shut from end-diastole (phase 0) through systole (to 0.35) and isovolumic
    # relaxation, open from 0.38 while the LV fills, to the next end-diastole
    assert [H.mitral_closed_at(p) for p in (0.0, 0.1, 0.349, 0.379, 0.38, 0.6, 0.9, 0.999, 1.0, 1.2)] == \
        [True, True, True, True, False, False, False, False, True, True]
    # before (mv_closed None): shut only while s > 0.4, so open at end-diastole (s = 0)
    st = dataclasses.replace(_anatomy_state(), la_join=1.0, leaflets=(6.0, 18.0))
    assert H.mitral_shut(dataclasses.replace(st, s=0.0)) is False and H.mitral_shut(dataclasses.replace(st, s=1.0))
    assert H.mitral_shut(dataclasses.replace(st, s=0.0, mv_closed=True)) is True
    assert H.mitral_shut(dataclasses.replace(st, s=1.0, mv_closed=False)) is False
    # at end-diastole with the timing the joined cine's leaflets are the shut ones (the same pixels as at s = 1 by the
    # rule of before), and the labels do not change
    x, z = _GRID
    ed_t = H.scene(dataclasses.replace(st, s=0.0, mv_closed=True), x, z, want_material=False)[0]
    ed_old = H.scene(dataclasses.replace(st, s=0.0), x, z, want_material=False)[0]
    shut_old = H.scene(dataclasses.replace(st, s=1.0), x, z, want_material=False)[0]
    # the mitral region (the tricuspid leaflets elsewhere move with s)
    mv = (np.abs(x) < 22 * float(H.lv_profile(1.0, st.shape)) + 1) & (z > 50) & (z < 82)
    assert (mv & (ed_t == H.T_VALVE)).sum() > 40
    assert np.array_equal(mv & (ed_t == H.T_VALVE), mv & (shut_old == H.T_VALVE))
    assert not np.array_equal(mv & (ed_t == H.T_VALVE), mv & (ed_old == H.T_VALVE))
    diff = ed_t != ed_old  # only leaflets move: each changed pixel is a leaflet on one side
    assert diff.any() and ((ed_t[diff] == H.T_VALVE) | (ed_old[diff] == H.T_VALVE)).all()
    seg_t, seg_old = (H.scene(dataclasses.replace(st, s=0.0, mv_closed=c), x, z, want_material=False,
                              seg_only=True)[0] for c in (True, None))
    assert np.array_equal(seg_t, seg_old)
    # the legacy leaflet line of the LA-apart cines follows the same timing
    apart = dataclasses.replace(_anatomy_state(), s=0.0)
    line_t, line_old = (H.scene(dataclasses.replace(apart, mv_closed=c), x, z, want_material=False)[0] == H.T_VALVE
                        for c in (True, None))
    assert line_t.sum() > 20 and not np.array_equal(line_t, line_old)


def test_valve_timing_is_the_wide_valve_twin_drawing_nothing():
    for seed in range(21, 31):
        v, t_ = (sample_cine_params(seed, "A4C", 16, d) for d in ("wide_valve", "wide_valve_t"))
        assert dataclasses.replace(t_, valve_timing=0.0) == v and t_.valve_timing == 1.0
    assert sample_cine_params(21, "PLAX", 4, "wide_valve_t_hard").valve_timing == 1.0
    # a simulated cine: every frame's state carries the timing from its phase; without it, None
    p = sample_cine_params(23, "A2C", 16, "wide_valve_t")
    states = S._frame_states(p, np.random.default_rng(0))[0]
    phase = p.phase0 + np.arange(16) / p.cycle_frames
    assert [st.mv_closed for st in states] == [H.mitral_closed_at(f) for f in phase]
    old = S._frame_states(dataclasses.replace(p, valve_timing=0.0), np.random.default_rng(0))[0]
    assert {st.mv_closed for st in old} == {None}


def test_transform_in_sector_min_deg_keeps_turns_away_from_upright():
    # domain.neg_in_sector_min_deg: turns of min_deg..360-min_deg about the sector's centre. The bright upper half of
    # the wall, seen from that centre, turns by at least min_deg (an upside-down flip moves it to about 180); the
    # default 60 also draws turns nearer upright
    f, labels, inside = _ellipse_scene()
    f = f.copy()
    f[inside & (labels == 0)] = 60
    f[labels == 2] = 200
    yy, xx = np.mgrid[0:112, 0:112]
    f[(labels == 2) & (yy < 55)] = 250
    ys, xs = np.nonzero(f > 0)  # the sector (convex here): its centre is the turn's
    cy, cx = ys.mean(), xs.mean()

    def angle(img):
        b = img >= 245
        return np.degrees(np.arctan2(yy[b].mean() - cy, xx[b].mean() - cx))

    def turn(seed, **kw):
        d = abs(angle(transform_in_sector(f[None], np.random.default_rng(seed), **kw)[0]) - angle(f)) % 360
        return min(d, 360 - d)

    assert min(turn(s, min_deg=130.0) for s in range(16)) > 120
    assert min(turn(s) for s in range(16)) < 110
