"""The LV border band (metrics.border_band, the runtime's calibration.lv_border measure) and its threshold
(calibrate.fit_border_threshold), on hand-made logits."""
import re

import numpy as np
import pytest

from sonoedge_train.calibrate import fit_border_threshold
from sonoedge_train.errors import DatasetError
from sonoedge_train.metrics import border_band, border_pixels, ef_runtime


def hand_logits():
    """6x6, two classes (background, LV), logits (0, d): LV probability sigmoid(d). The LV is the 3x3 block at rows
    1-3, columns 1-3 (d = +3, p 0.953), except (1, 1) with d = 0.5 (p 0.622: LV and in the band); outside d = -3
    (p 0.047) except (0, 0), (4, 4), (5, 5) with d = -0.5 (p 0.378), (0, 5) with d = -1.2 (p 0.231): in the band
    but not LV, and (5, 0) with d = -1.5 (p 0.182): neither. 5 band pixels over the block's 8 border pixels."""
    d = np.full((6, 6), -3.0)
    d[1:4, 1:4] = 3.0
    d[1, 1] = 0.5
    d[0, 0] = d[4, 4] = d[5, 5] = -0.5
    d[0, 5] = -1.2
    d[5, 0] = -1.5
    return np.stack([np.zeros((6, 6)), d])


def test_band_over_border_hand_case():
    z = hand_logits()
    mask = z.argmax(0) == 1
    assert mask.sum() == 9 and border_pixels(mask).sum() == 8 and not border_pixels(mask)[2, 2]
    assert border_band(z, mask) == 5 / 8


def test_band_bounds_are_strict_and_classes_beyond_two_count():
    # three classes: the LV probability of a pixel with logits (0, 0, 0) is 1/3; with (ln 4, 0, 0) it is 1/6
    z = np.zeros((3, 3, 3))
    z[1, 1, 1] = 5.0  # one LV pixel, p > 0.98: its own border pixel (its neighbours are not LV)
    z[0, 0, 0] = np.log(4.0)
    mask = z.argmax(0) == 1
    assert border_pixels(mask).sum() == 1
    assert border_band(z, mask) == 7  # the 7 pixels at 1/3; not the one at 1/6 nor the LV pixel
    assert border_band(z, mask, low=1 / 3) == 0  # strictly above low
    assert border_band(z, mask, low=0.1, high=1 / 3) == 1  # strictly below high: only the one at 1/6


def test_an_image_edge_alone_makes_no_border_pixel():
    m = np.zeros((5, 5), bool)
    m[0:3, 0:3] = True  # in the corner: border where it meets the rest of the image only
    b = border_pixels(m)
    assert sorted(zip(*np.nonzero(b))) == [(0, 2), (1, 2), (2, 0), (2, 1), (2, 2)]
    assert border_pixels(np.ones((4, 4), bool)).sum() == 0
    assert border_band(np.zeros((2, 4, 4)), np.zeros((4, 4), bool)) is None


def test_ef_window_mean_band_counts_the_frames_in_the_window():
    m = np.zeros((16, 64, 64), bool)
    for i, L in enumerate([40] * 8 + [30] * 8):
        m[i, 2:2 + L, 20:30] = True
    bands = [1.0] * 8 + [3.0] * 8
    assert ef_runtime(m, 1.0, bands=bands)["border_band"] == 2.0
    bands[15] = None  # a frame without a band (no LV border) does not count
    assert ef_runtime(m, 1.0, bands=bands)["border_band"] == pytest.approx((8 * 1.0 + 7 * 3.0) / 15)
    m[4:8] = False  # four frames in a row without an LV empty the window: only the last 8 frames' bands count
    r = ef_runtime(m, 1.0, bands=[1.0] * 8 + [3.0] * 8)
    assert r["border_band"] == 3.0 and r["reason"] == "8 of 16 frames"
    assert "border_band" not in ef_runtime(m, 1.0)


def test_threshold_is_the_quantile_of_the_cines_with_a_band():
    assert fit_border_threshold(np.array([1.0, 2.0, 3.0, np.nan, 4.0, 5.0]), 0.5) == 3.0
    assert fit_border_threshold(np.arange(11.0)) == 9.0  # the default quantile, 0.9
    with pytest.raises(DatasetError) as e:
        fit_border_threshold(np.array([np.nan]))
    assert e.value.code == "E_DATASET_EMPTY"
    assert e.value.message == "expected validation cines with an LV border to fit calibration.lv_border but received none"


def test_calibrate_seg_needs_three_valid_apical_cines(tiny_dataset, tmp_path):
    # the tiny validation set has one cine per view: two apical cines, too few to fit a line and its residual
    from pathlib import Path

    from sonoedge_train.calibrate import calibrate_seg
    from sonoedge_train.config import resolve
    from sonoedge_train.train import train
    configs = Path(__file__).resolve().parent.parent / "configs"
    train(resolve([configs / "tiny_seg.json"], [f"data.train={tiny_dataset / 'train'}",
                                                f"data.val={tiny_dataset / 'val'}", f"out_dir={tmp_path / 'seg'}",
                                                "train.epochs=1"]))
    with pytest.raises(DatasetError) as e:
        calibrate_seg(tmp_path / "seg" / "final.pt", tiny_dataset / "val", tmp_path / "cal.pt", log=lambda *_: None)
    assert e.value.code == "E_DATASET_EMPTY"
    assert re.fullmatch(rf"{re.escape(str(tiny_dataset / 'val'))}: expected at least 3 apical cines with a valid EF to "
                        r"fit the EF calibration but received [0-2] \(of 2 apical cines\)", e.value.message)
    assert not (tmp_path / "cal.pt").exists()
