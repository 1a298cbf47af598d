"""The bundled packages (models/, ONNX Runtime as the runtime runs them) as properties, not as scores: quality falls
when a cine is degraded, the independent generator's clean cines are not unknown (passing the gate and getting their
view are known misses, strict xfail), generated negatives are answered
with `unknown` or OTHER, and the in-distribution score and temperature are what the manifest says."""
import dataclasses
import json
import math

import numpy as np
import pytest

from sonoedge_train import package as pk
from sonoedge_train.calibrate import negative_set
from sonoedge_train.data.synthetic import resize_frames
from sonoedge_train.domain import _cut
from sonoedge_train.sim.simulator import sample_cine_params, simulate_cine
from sonoedge_train.transfer import OTHER, Packages, _measured

MODELS = pk.REPO_ROOT / "models"


@pytest.fixture(scope="module")
def packages():
    return Packages(MODELS)


def _clean(seed=3, view="A4C", frames=6, **over):
    p = sample_cine_params(seed, view, frames, "wide")
    base = dict(dx=0.0, rot_deg=0.0, fore=0.0, gain_db=0.0, dr_db=55.0, ribs=[], haze=0.0, noise=0.0, motion_mm=0.0,
                clutter=0.0, tgc_err=0.0, tgc_knobs=[0.0] * 8, depth_mm=150.0, sector_deg=80.0, lung=0.0)
    amp = list(p.amp_scale)
    amp[0], amp[1], amp[3], amp[4], amp[5] = 0.3, 0.5, 0.5, 0.5, 0.5
    return dataclasses.replace(p, **{**base, "amp_scale": amp, **over})


def _unknown_or_other(packages, vq):
    """Per frame: answered with `unknown` or OTHER (no LV, no EF)."""
    return (packages.state(vq["id_score"]) == "unknown") | (vq["prob"].argmax(1) == OTHER)


def _model_frames(c):
    """A wide cine as the runtime frames it with a known sector box: the box, area-resized to 112."""
    x0, y0, w, h = c.geometry["sector_box"]
    import cv2
    return np.stack([_cut(f, x0, y0, w, h, 112, cv2.INTER_AREA) for f in c.sector])


def test_manifest_carries_the_calibration(packages):
    m = json.loads((MODELS / "view_quality" / "manifest.json").read_text())
    assert "id_score" in m["outputs"] and m["postprocessing"]["id_score"]["thresholds"]["unknown"] <= \
        m["postprocessing"]["id_score"]["thresholds"]["ok"]
    assert m["postprocessing"]["view"]["temperature"] > 0
    # the view state (training/RESULTS.md, thirty-sixth wave; refitted for the fortieth wave's view model): fitted on
    # our simulator's cines, its provenance kept
    view = m["postprocessing"]["view"]
    assert view["thresholds"] == {"uncertain": 0.9206}
    assert view["calibration"]["uncertain"]["fitted_on"].startswith("sim 40,9117,128,43 wide_iv (40 cines")
    s = json.loads((MODELS / "lv_segmentation" / "manifest.json").read_text())
    assert s["calibration"]["ef"]["slope"] > 0 and s["calibration"]["ef"]["residual_sd"] >= 0


# The simulator subtracts gain_db from the log-compressed echo (sim/simulator.py, "a gain offset"), so a positive
# gain_db darkens the frame and a negative one brightens it until the echoes clip; the quality label counts either.
CHANGES = {"noise": dict(noise=1.0), "too bright, echoes clipped": dict(gain_db=-24.0), "too dark": dict(gain_db=22.0),
           "probe rotated 28 degrees": dict(rot_deg=28.0), "probe 22 mm off": dict(dx=22.0),
           "foreshortened": dict(fore=0.3), "too shallow": dict(depth_mm=95.0)}


def _medians(packages, cine) -> tuple[float, float]:
    """The median quality reported and the median quality as displayed (the same without full_gain)."""
    out = packages.view_quality(_model_frames(cine))
    return float(np.median(out["quality"])), float(np.median(out.get("quality_displayed", out["quality"])))


@pytest.fixture(scope="module")
def clean_quality(packages):
    return _medians(packages, simulate_cine(_clean()))


@pytest.mark.parametrize("name", list(CHANGES))
def test_each_degradation_lowers_the_predicted_quality(packages, clean_quality, name):
    (clean, clean_shown), (q, shown) = clean_quality, _medians(packages, simulate_cine(_clean(**CHANGES[name])))
    assert clean > packages.gate
    # As displayed, every change lowers the quality.
    assert shown < clean_shown - 0.05, f"{name}: {shown:.3f} vs clean {clean_shown:.3f} as displayed"
    if name == "too dark" and packages.full_gain is not None:
        # With postprocessing.quality.full_gain the dark cine is read at full gain, as bright as the clean one
        # (training/RESULTS.md, forty-seventh wave): the quality reported no longer falls with the gain alone.
        assert abs(q - clean) <= 0.05, f"{name}: {q:.3f} vs clean {clean:.3f} at full gain"
    else:
        assert q < clean - 0.05, f"{name}: {q:.3f} vs clean {clean:.3f}"


@pytest.fixture(scope="module")
def phantom_clean(tmp_path_factory):
    from sonoedge_phantom.__main__ import main as generate
    out = tmp_path_factory.mktemp("phantom")
    assert generate(["generate", "--out", str(out), "--cines", "4", "--seed", "77", "--frames", "8", "--variants", "clean",
                     "--views", "A4C,A2C", "--size", "192", "--quiet"]) == 0
    from sonoedge_train.data.phantom import load_phantom
    return load_phantom(out)


@pytest.fixture(scope="module")
def phantom_vq(packages, phantom_clean):
    return packages.view_quality(phantom_clean.frames)


def test_independent_clean_cines_are_not_unknown(packages, phantom_vq):
    # A heart the models were not trained on, but a plausible one: the in-distribution score must not reject it.
    st = packages.state(phantom_vq["id_score"])
    assert (st == "unknown").mean() <= 0.25


# On the independent generator's clean apical cines (issue 12, training/RESULTS.md "Fourth wave"): the fourth
# wave's view/quality model scores a median 0.56 here (gate 0.5; 0.47 before it, when this was a strict xfail) and
# calls 91% of these frames' views right (78% before; 94% over the 60-cine set).
def test_independent_clean_cines_pass_the_gate(packages, phantom_vq):
    assert float(np.median(phantom_vq["quality"])) > packages.gate


def test_independent_clean_cines_get_their_view(phantom_vq, phantom_clean):
    assert (phantom_vq["prob"].argmax(1) == phantom_clean.view).mean() >= 0.85


def test_generated_negatives_are_unknown_or_other(packages):
    hearts = np.stack([_model_frames(simulate_cine(_clean(seed=s, view=v, frames=2)))[0]
                       for s, v in ((1, "A4C"), (2, "A2C"), (3, "PLAX"), (4, "PSAX"))] * 10)
    views = np.array([0, 1, 2, 3] * 10)
    neg, fam = negative_set(200, 1234, hearts, views)
    vq = packages.view_quality(neg)
    caught = _unknown_or_other(packages, vq)
    fam = np.array(fam)
    for f in sorted(set(fam)):
        rate = float(caught[fam == f].mean())
        assert rate >= 0.9, f"{f}: {rate:.2f} of {int((fam == f).sum())} frames unknown or OTHER"
    assert float(caught.mean()) >= 0.95


# Hearts turned inside the scene (simulate --turn, CineParams.turn_deg: a probe held the wrong way; eleventh wave in
# training/RESULTS.md): wide_hard looks, as the runtime frames them. The view model before the eleventh wave called
# 29% of such frames unknown or OTHER (its negatives turned the finished image instead); the floor is below the
# 92% the adopted one measures on 2,048 held-out frames.
def test_hearts_turned_inside_the_scene_are_unknown_or_other(packages):
    frames = []
    for k, turn in enumerate((75.0, 120.0, 165.0, 210.0, 255.0, 290.0)):
        for v in ("A4C", "A2C"):
            p = dataclasses.replace(sample_cine_params(7100 + 2 * k + (v == "A2C"), v, 4, "wide_hard"), turn_deg=turn)
            frames.append(_model_frames(simulate_cine(p)))
    frames = np.concatenate(frames)
    vq = packages.view_quality(frames)
    caught = _unknown_or_other(packages, vq)
    assert float(caught.mean()) >= 0.8, f"{caught.mean():.2f} of {len(caught)} frames unknown or OTHER"
    shown = _measured(packages, vq, frames)
    assert not shown.any(), f"an LV would be shown on {int(shown.sum())} turned frames"


# The seventh wave's LV model (training/RESULTS.md): on these four independent clean cines the LV as the runtime keeps
# it (largest component) has a mean Dice of 0.931 against the reference; the model before it, which ended the cavity
# at the mitral leaflets instead of the annulus, 0.912. The floor sits between the two.
def test_independent_clean_cines_lv_dice(packages, phantom_clean):
    from sonoedge_train.metrics import dice, largest_component
    has = np.array([(m == 1).any() for m in phantom_clean.masks])
    lv = packages.lv(phantom_clean.frames[has])
    d = [dice(largest_component(a), m == 1) for a, m in zip(lv, phantom_clean.masks[has])]
    assert len(d) == 32 and float(np.mean(d)) >= 0.92


def test_bundled_models_call_every_real_non_apical_file_other_or_unknown():
    """Issue 12's negatives target on the real files we have: every frame of every real file that is not an apical
    cine is OTHER or unknown; none passes the quality gate."""
    pytest.importorskip("pydicom")
    from sonoedge_train.transfer import REAL_BOXES, real_smoke
    r = real_smoke(Packages("models"), REAL_BOXES)
    apical = {"examples_ybr_color.dcm", "color3d_jpeg_baseline.dcm"}
    others = {n: v for n, v in r.items() if n not in apical and "error" not in v}
    assert len(others) >= 4
    for name, v in others.items():
        other = v["views"].get("OTHER", 0)
        unknown = v["states"].get("unknown", 0)
        assert other == v["frames"] or unknown == v["frames"], (name, v["views"], v["states"])
        assert v["quality_above_gate"] == 0.0, name


def test_measured_walls_quality_is_the_labels_formula_on_the_lv_packages_labels(packages):
    """Packages(measured_walls=True): the same views; quality is the quality label's formula with the model's output
    as its geometric part and the walls measured around the LV and myocardium the LV package segments on the frame."""
    from sonoedge_train.domain import measured_quality
    from sonoedge_train.export import run_ort, to_model_input
    f = _model_frames(simulate_cine(_clean(frames=4)))
    plain, walls = packages.view_quality(f), Packages(MODELS, measured_walls=True).view_quality(f)
    labels = run_ort(packages.seg, to_model_input(f))["logits"].argmax(1).astype(np.uint8)
    assert (labels == 1).sum((1, 2)).min() > 200 and (labels == 2).any()
    want = measured_quality(plain["quality"], f.astype(np.float32) / 255, labels)
    np.testing.assert_allclose(walls["quality"].reshape(-1), want, rtol=1e-6)
    np.testing.assert_array_equal(walls["prob"], plain["prob"])
    assert walls["quality"].shape == plain["quality"].shape
