"""Physics augmentations: deterministic from a seed, shapes and ranges, and the label-aware quality factor
against the simulator (same cine simulated with another gain / dynamic range / rib shadows)."""
import dataclasses
import math

import numpy as np
import pytest

from sonoedge_train.augment import (augment_batch, degradations, quality_dr_factor, quality_gain_factor,
                                    quality_shadow_factor)
from sonoedge_train.config import DEFAULTS
from sonoedge_train.sim.simulator import quality_and_guidance, sample_cine_params, simulate_cine

BROAD = dict(DEFAULTS["augment"], label_aware=True, gain_db=12.0, tgc_db=6.0, attenuation_db=10.0,
             dr_range=[36.0, 76.0], shadow_prob=0.45, shadow_max=2, shadow_db=[14.0, 30.0], rib_echo_db=10.0,
             speckle=0.3)
OFF = dict(DEFAULTS["augment"], label_aware=True, gain_db=0.0, tgc_db=0.0, attenuation_db=0.0, shadow_prob=0.0,
           speckle=0.0)


def _frames(seed=11, n=6):
    p = sample_cine_params(seed, "A4C", n)
    return p, simulate_cine(p, with_masks=False)


def _deg(p, n):
    half = math.radians(75.0) / 2
    return {"gain_db": np.full(n, p.gain_db, np.float32), "dr_db": np.full(n, p.dr_db, np.float32),
            "shadow": np.full(n, min(1.0, sum(2 * r[1] for r in p.ribs) / (2 * half)), np.float32)}


def test_deterministic_shapes_and_ranges():
    p, c = _frames()
    f = c.sector[:, ::4, ::4]
    deg = _deg(p, len(f))
    x1, q1 = augment_batch(f, BROAD, np.random.default_rng(3), deg, return_quality=True)
    x2, q2 = augment_batch(f, BROAD, np.random.default_rng(3), deg, return_quality=True)
    assert np.array_equal(x1, x2) and np.array_equal(q1, q2)
    x3, _ = augment_batch(f, BROAD, np.random.default_rng(4), deg, return_quality=True)
    assert not np.array_equal(x1, x3)
    assert x1.shape == f.shape and x1.dtype == np.float32 and q1.shape == (len(f),) and q1.dtype == np.float32
    assert x1.min() >= 0 and x1.max() <= 1 and (x1[f == 0] == 0).all()
    assert (q1 > 0).all() and (q1 <= 1 / (quality_gain_factor(20) * quality_dr_factor(85))).all()
    # without degradations (real data) or label_aware off the label never changes
    _, q = augment_batch(f, BROAD, np.random.default_rng(3), None, return_quality=True)
    assert (q == 1).all()
    # the default config draws exactly as before label-aware augmentation existed (one rib, 30 dB)
    old = augment_batch(f, DEFAULTS["augment"], np.random.default_rng(5))
    assert old.shape == f.shape and not np.array_equal(old, f / 255.0)


def test_quality_factors_match_the_simulator():
    p = sample_cine_params(21, "A2C", 4)
    disp = np.zeros(4)
    q0 = quality_and_guidance(p, disp)[0][0]
    for g, dr in ((-14.0, 40.0), (9.0, 72.0), (30.0, 55.0)):
        p2 = dataclasses.replace(p, gain_db=g, dr_db=dr)
        want = quality_and_guidance(p2, disp)[0][0] / q0
        got = quality_gain_factor(g) / quality_gain_factor(p.gain_db) * quality_dr_factor(dr) / quality_dr_factor(p.dr_db)
        assert got == pytest.approx(want, rel=1e-5)
    p3 = dataclasses.replace(p, ribs=[[0.1, 0.08, 15.0, 0.1]])
    half = math.radians(75.0) / 2
    want = quality_and_guidance(p3, disp)[0][0] / q0
    assert quality_shadow_factor(0.16 / (2 * half)) / quality_shadow_factor(0.0) == pytest.approx(want, rel=1e-5) \
        or p.ribs  # (the drawn cine had ribs of its own)


def test_dynamic_range_recompression_reproduces_the_simulator():
    """Re-compressing to another dynamic range in the augmentation gives the frame the simulator makes with that
    dynamic range (apart from pixels that clipped at 0 in the original), and the quality label it gives."""
    p, c = _frames(seed=12, n=2)
    p = dataclasses.replace(p, dr_db=50.0)
    c = simulate_cine(p, with_masks=False)
    c70 = simulate_cine(dataclasses.replace(p, dr_db=70.0), with_masks=False)
    cfg = dict(OFF, dr_range=[70.0, 70.0])
    x, qf = augment_batch(c.sector, cfg, np.random.default_rng(0), _deg(p, 2), return_quality=True)
    ok = c.sector > 0
    # uint8 rounding of both frames and of the scan conversion: about 1.3 grey levels on average
    assert np.abs(x[ok] * 255 - c70.sector[ok].astype(np.float32)).mean() < 2.0
    disp = np.zeros(2)
    want = quality_and_guidance(dataclasses.replace(p, dr_db=70.0), disp)[0][0] / quality_and_guidance(p, disp)[0][0]
    assert qf[0] == pytest.approx(want, rel=1e-5)


def test_gain_offset_reproduces_the_simulator():
    p, _ = _frames(seed=13, n=2)
    c = simulate_cine(p, with_masks=False)
    cfg = dict(OFF, gain_db=8.0)
    g = float(np.random.default_rng(7).uniform(-8.0, 8.0, (2, 1, 1))[0, 0, 0])  # the first draw of the augmentation
    x, qf = augment_batch(c.sector, cfg, np.random.default_rng(7), _deg(p, 2), return_quality=True)
    c2 = simulate_cine(dataclasses.replace(p, gain_db=p.gain_db - g), with_masks=False)
    ok = (c.sector > 0) & (c.sector < 255) & (c2.sector > 0) & (c2.sector < 255)
    assert np.abs(x[0][ok[0]] * 255 - c2.sector[0][ok[0]].astype(np.float32)).mean() < 1.0
    assert qf[0] == pytest.approx(quality_gain_factor(p.gain_db - g) / quality_gain_factor(p.gain_db), rel=1e-5)


def test_degradations_from_the_index():
    index = {"difficulty": "train", "cines": [{"id": 3, "seed": 21, "view": "A2C", "n_frames": 4}]}
    d = degradations(index, np.array([3, 3], np.int32))
    p = sample_cine_params(21, "A2C", 4)
    assert d["gain_db"].tolist() == pytest.approx([p.gain_db] * 2) and d["dr_db"].tolist() == pytest.approx([p.dr_db] * 2)
    assert degradations({"cines": [{"id": 0}]}, np.array([0])) is None


def test_variants_table_merge_keeps_the_other_package():
    from sonoedge_train.bundle import _merge_rows
    old = ("# Bundled variants\n\nintro\n\n| package | variant |\n| --- | --- |\n| view_quality | fp32 old |\n"
           "| view_quality | int8 old |\n| lv_segmentation | fp32 |\n")
    new = "| package | variant |\n| --- | --- |\n| view_quality | fp32 new |\n| view_quality | int8 new |\n"
    assert _merge_rows(new, old, "view_quality") == ("| package | variant |\n| --- | --- |\n| view_quality | fp32 new |\n"
                                                     "| view_quality | int8 new |\n| lv_segmentation | fp32 |\n")
    assert _merge_rows(new, "no table", "view_quality") == new


def _inside_dice(a, b, inside):
    a, b = a & inside, b & inside
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def test_pose_warp_reproduces_probe_rotation_and_depth():
    """Rotating the sector about the apex by d is the simulator's probe rotation rot + d, and zooming by k its
    depth / k: the warped LV mask of the unrotated cine matches the simulated one (and not the opposite rotation)."""
    from sonoedge_train.augment import pose_warp
    from sonoedge_train.data.synthetic import resize_frames, resize_masks
    p = dataclasses.replace(sample_cine_params(5, "A4C", 1), dx=0.0, rot_deg=0.0, motion_mm=0.0)

    def lv_and_sector(q):
        c = simulate_cine(q)
        return resize_masks(c.masks, (112, 112))[0], resize_frames(c.sector, (112, 112))[0] > 0

    m0, inside = lv_and_sector(p)
    plus, _ = lv_and_sector(dataclasses.replace(p, rot_deg=10.0))
    minus, _ = lv_and_sector(dataclasses.replace(p, rot_deg=-10.0))
    w = pose_warp(m0, 10.0, 1.0, nearest=True)
    assert _inside_dice(w == 1, plus == 1, inside) > 0.95  # 0.972 measured; unwarped 0.40
    assert _inside_dice(w == 1, minus == 1, inside) < 0.1
    deeper, _ = lv_and_sector(dataclasses.replace(p, depth_mm=p.depth_mm / 0.9))
    assert _inside_dice(pose_warp(m0, 0.0, 0.9, nearest=True) == 1, deeper == 1, inside) > 0.95  # 0.971; 0.69
    # no rotation, no zoom: the identity but for the sector's rim (half a pixel is kept off its edge)
    assert (pose_warp(m0, 0.0, 1.0, nearest=True)[inside] == m0[inside]).mean() > 0.97


def test_pose_labels_follow_the_simulator():
    from sonoedge_train.augment import pose_labels
    from sonoedge_train.constants import GUIDANCE, VIEWS
    disp = np.zeros(1)
    cases = [(21, "A2C", 14.0), (22, "A4C", -12.0), (23, "PLAX", 6.0), (24, "OTHER", 9.0)]
    ps = [sample_cine_params(s, v, 1) for s, v, _ in cases]
    deg = {"dx": np.array([p.dx for p in ps], np.float32), "rot_deg": np.array([p.rot_deg for p in ps], np.float32),
           "fore": np.array([p.fore for p in ps], np.float32), "view": np.array([VIEWS.index(p.view) for p in ps])}
    d = np.array([c[2] for c in cases])
    qf, guid = pose_labels(deg, d, np.array([True, True, True, True]))
    for i, p in enumerate(ps[:3]):
        q0, g0 = quality_and_guidance(p, disp)
        q1, g1 = quality_and_guidance(dataclasses.replace(p, rot_deg=p.rot_deg + d[i]), disp)
        assert qf[i] == pytest.approx(q1[0] / q0[0], rel=1e-4) and guid[i] == g1
    assert guid[3] == -2  # OTHER has no guidance
    _, off = pose_labels(deg, d, np.array([False] * 4))
    assert (off == -2).all()
    from sonoedge_train.sim.simulator import guidance_index
    got = guidance_index([0, 9, -9, 0, 0, 0, 9], [0, 0, 5, 12, -12, 0, 12], [0, 0, 0, 0, 0, 0.2, 0])
    assert [GUIDANCE[g] for g in got] == ["hold", "slide_left", "slide_right", "rotate_ccw", "rotate_cw",
                                          "tilt_to_apex", "rotate_ccw"]


def test_pose_augmentation_draws_and_labels():
    from sonoedge_train.constants import VIEWS
    p, c = _frames(seed=14, n=4)
    f = c.sector[:, ::4, ::4]
    deg = dict(_deg(p, 4), dx=np.full(4, p.dx, np.float32), rot_deg=np.full(4, p.rot_deg, np.float32),
               fore=np.full(4, p.fore, np.float32), view=np.full(4, VIEWS.index("A4C")))
    cfg = dict(BROAD, pose_prob=1.0, rotate_deg=10.0, zoom=0.1)
    x1, q1, g1 = augment_batch(f, cfg, np.random.default_rng(3), deg, return_labels=True)
    x2, q2, g2 = augment_batch(f, cfg, np.random.default_rng(3), deg, return_labels=True)
    assert np.array_equal(x1, x2) and np.array_equal(q1, q2) and np.array_equal(g1, g2)
    assert (g1 >= 0).all() and (x1[f == 0] == 0).all() and x1.max() <= 1
    # pose off: the same draws and frames as a config without the pose keys, and no label replaced
    x3, q3, g3 = augment_batch(f, BROAD, np.random.default_rng(3), deg, return_labels=True)
    x4, q4 = augment_batch(f, {k: v for k, v in BROAD.items() if k not in ("pose_prob", "rotate_deg", "zoom")},
                           np.random.default_rng(3), deg, return_quality=True)
    assert np.array_equal(x3, x4) and np.array_equal(q3, q4) and (g3 == -2).all()


def test_pose_augmentation_is_refused_for_segmentation():
    from sonoedge_train.config import resolve
    from sonoedge_train.errors import ConfigError
    with pytest.raises(ConfigError) as e:
        resolve(sets=["task=seg", "augment.pose_prob=0.5"])
    assert str(e.value) == (
        "E_CONFIG_VALUE: augment.pose_prob expected 0 for task 'seg' (the pose augmentation does not warp masks) but received 0.5")
    with pytest.raises(ConfigError) as e:
        resolve(sets=["task=view", "augment.zoom=1.5"])
    assert str(e.value) == ("E_CONFIG_VALUE: augment.pose_prob, rotate_deg and zoom expected values in [0, 1], "
                            "[0, 45] and [0, 1) but received 0.0, 0.0 and 1.5")
