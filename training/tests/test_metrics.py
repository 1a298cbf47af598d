import math

import numpy as np
import pytest

from sonoedge_train.metrics import (bootstrap_ci, confusion, dice, ece, ef_from_masks, hd95, lv_area_length,
                                    regression)


def test_dice_hand_case():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[0, :4] = True  # 4 px
    b[0, 2:4] = True
    b[1, 0:2] = True  # 4 px, overlap 2
    assert dice(a, b) == 0.5
    assert dice(np.zeros((2, 2)), np.zeros((2, 2))) == 1.0
    assert dice(a, np.zeros((4, 4))) == 0.0


def test_hd95_hand_case():
    a = np.zeros((20, 20), bool)
    a[5:10, 5:10] = True
    b = np.zeros((20, 20), bool)
    b[5:10, 8:13] = True  # shifted 3 columns
    # every boundary pixel of a square shifted by 3 px is within 3 px of the other boundary, the 95th pct is 3
    assert hd95(a, b, (1.0, 1.0)) == pytest.approx(3.0)
    assert hd95(a, b, (0.5, 0.5)) == pytest.approx(1.5)
    assert hd95(a, a) == 0.0
    assert math.isnan(hd95(a, np.zeros_like(a)))
    assert hd95(np.zeros_like(a), np.zeros_like(a)) == 0.0


def test_area_length_and_ef():
    m = np.zeros((10, 10), bool)
    m[2:8, 4:6] = True  # 12 px, 6 long
    a, l = lv_area_length(m, 0.5)
    assert a == pytest.approx(3.0) and l == pytest.approx(3.0)
    ed = np.zeros((40, 40), bool)
    ed[5:35, 10:20] = True  # A 300, L 30 -> V = 8*300^2/(3 pi 30)
    es = np.zeros((40, 40), bool)
    es[5:35, 12:17] = True  # A 150, L 30
    ef, i_ed, i_es, vols = ef_from_masks(np.stack([es, ed, es]), 1.0)
    assert (i_ed, i_es) == (1, 0) and ef == pytest.approx(75.0)
    assert vols[1] == pytest.approx(8 * 300 ** 2 / (3 * math.pi * 30) / 1000)


def test_regression_hand_case():
    r = regression([1, 2, 3, 5], [1, 2, 3, 4])
    assert r["mae"] == 0.25 and r["rmse"] == 0.5 and r["bias"] == 0.25
    assert r["r2"] == pytest.approx(1 - 1 / 5)


def test_confusion_and_ece():
    cm = confusion([0, 1, 1, 2], [0, 1, 2, 2], 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    # bin (0.8667, 0.9333]: conf 0.9 x2, one right -> |0.5 - 0.9| = 0.4 weight 0.5
    # bin (0.5333, 0.6]: conf 0.6 x2, both right -> |1 - 0.6| = 0.4 weight 0.5
    e, bc, ba, cnt = ece([0.9, 0.9, 0.6, 0.6], [1, 0, 1, 1], n_bins=15)
    assert e == pytest.approx(0.4) and cnt.sum() == 4


def test_bootstrap_ci_deterministic_and_brackets():
    x = np.arange(100, dtype=float)
    lo, hi = bootstrap_ci(np.mean, x, n_boot=500, seed=1)
    assert (lo, hi) == bootstrap_ci(np.mean, x, n_boot=500, seed=1)
    assert lo < 49.5 < hi and hi - lo < 15
    assert bootstrap_ci(np.mean, np.full(10, 2.0), n_boot=50) == (2.0, 2.0)
