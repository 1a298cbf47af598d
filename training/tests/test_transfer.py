"""The transfer report's per-set numbers from a stand-in for the packages (the ONNX sessions are tested elsewhere)."""
import numpy as np
from scipy.special import softmax

from sonoedge_train.constants import VIEWS
from sonoedge_train.transfer import labelled_set, negatives_report


class _Packages:
    """Calls view k on frame i as scripted; quality 0.8; the LV model returns the frame's own reference LV."""

    gate = 0.5

    def __init__(self, calls, masks, quality=0.8, states=None):
        self.calls, self.masks, self.quality, self.states = calls, masks, quality, states

    def view_quality(self, frames):
        logits = np.full((len(frames), len(VIEWS)), -4.0)
        logits[np.arange(len(frames)), self.calls] = 4.0
        return {"prob": softmax(logits, 1), "quality": np.broadcast_to(np.asarray(self.quality, float).reshape(-1, 1),
                                                                 (len(frames), 1)),
                "id_score": np.ones(len(frames))}

    def lv(self, frames):
        return self.masks == 1

    def state(self, id_score):
        return np.array(["ok"] * len(id_score) if self.states is None else self.states)

    def calibrated(self, ef):
        return ef


def test_view_calls_count_each_true_views_predictions():
    a4c, a2c, plax = (VIEWS.index(v) for v in ("A4C", "A2C", "PLAX"))
    views = np.array([a4c, a4c, a4c, a2c, a2c, plax])
    calls = np.array([a2c, a4c, a2c, a2c, a2c, plax])
    masks = np.zeros((6, 8, 8), np.uint8)
    masks[:, 2:6, 3:5] = 1
    r = labelled_set(_Packages(calls, masks), np.zeros((6, 8, 8), np.uint8), masks, views, [], np.zeros(6), None,
                     n_boot=10)
    assert r["view_calls"] == {"A4C": {"A4C": 1, "A2C": 2}, "A2C": {"A2C": 2}, "PLAX": {"PLAX": 1}}
    assert r["view_acc"] == 4 / 6 and r["lv_dice"] == 1.0 and r["quality_above_gate"] == 1.0


def test_lv_shown_counts_the_frames_the_runtime_would_measure():
    # apical and at the gate and not unknown: only frames 0 and 4 (1: PLAX, 2: below the gate, 3: unknown, 5: OTHER)
    a4c, a2c, plax, other = (VIEWS.index(v) for v in ("A4C", "A2C", "PLAX", "OTHER"))
    calls = np.array([a4c, plax, a2c, a4c, a2c, other])
    quality = np.array([0.9, 0.9, 0.4, 0.9, 0.5, 0.9])
    states = np.array(["ok", "ok", "ok", "unknown", "uncertain", "ok"])
    masks = np.zeros((6, 8, 8), np.uint8)
    pk = _Packages(calls, masks, quality, states)
    r = labelled_set(pk, np.zeros((6, 8, 8), np.uint8), masks, np.full(6, other), [], np.zeros(6), None, n_boot=10)
    assert r["lv_shown"] == 2 / 6 and r["quality_above_gate"] == 5 / 6
    n = negatives_report(pk, {"rotated": np.zeros((6, 8, 8), np.uint8)})["rotated"]
    assert n["lv_shown"] == 2 / 6 and n["unknown_or_other"] == 2 / 6 and n["unknown"] == 1 / 6
