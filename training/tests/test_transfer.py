"""The transfer report's per-set numbers from a stand-in for the packages (the ONNX sessions are tested elsewhere)."""
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import softmax

from sonoedge_train.constants import VIEWS
from sonoedge_train.metrics import ef_runtime
from sonoedge_train.transfer import labelled_set, negatives_report


class _Packages:
    """Calls view k on frame i as scripted; quality 0.8; the LV model returns the frame's own reference LV; no EF
    calibration and no trim."""

    gate = 0.5
    seg_gate = 0.5
    ef_trim = 0.0
    mirror_margin = None  # no postprocessing.view.mirror_check

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
    # A package with a segmentation bar under its quality gate (thresholds.segmentation): frame 2 (0.4) is measured
    # too; the share at the quality gate stays the gate's.
    pk.seg_gate = 0.3
    r = labelled_set(pk, np.zeros((6, 8, 8), np.uint8), masks, np.full(6, other), [], np.zeros(6), None, n_boot=10)
    assert r["lv_shown"] == 3 / 6 and r["quality_above_gate"] == 5 / 6


def two_apical_cines(packages_class=None):
    """Two A4C cines of 4 frames whose reference LV shrinks (references EF 50 and 60), run through labelled_set with
    the stand-in packages (of `packages_class`, default _Packages) returning the reference LV. Measured on those
    masks cine 0 reads 48.8; cine 1 reads 65.7 (its second and third volumes jump from the first by more than a factor
    2 per frame and are skipped; the fourth, 3 frames on, lies within 2^3 of it)."""
    a4c = VIEWS.index("A4C")
    masks = np.zeros((8, 32, 32), np.uint8)
    for i, h in enumerate([20, 16, 12, 16, 20, 14, 10, 14]):
        masks[i, 4:4 + h, 10:10 + h // 2] = 1
    cines = [{"id": 0, "view": "A4C", "ef": 50.0}, {"id": 1, "view": "A4C", "ef": 60.0}]
    pk = (packages_class or _Packages)(np.full(8, a4c), masks)
    return labelled_set(pk, np.zeros((8, 32, 32), np.uint8), masks, np.full(8, a4c), cines, np.repeat([0, 1], 4),
                        np.ones((8, 2)), n_boot=10)


def test_ef_before_and_after_the_packages_calibration():
    # the stand-in calibration adds 5 points
    class Shifted(_Packages):
        def calibrated(self, ef):
            return ef + 5.0

    raw, cal = two_apical_cines(), two_apical_cines(Shifted)
    assert raw["ef_uncalibrated"] == raw["ef"] == cal["ef_uncalibrated"]
    assert abs(cal["ef"]["bias"] - raw["ef"]["bias"] - 5.0) < 1e-9
    assert raw["ef_n"] == 2


def test_ef_follows_the_packages_trim():
    # a package with calibration.ef.trim 0.5: each cine's EDV and ESV are the means of its 2 largest and 2 smallest
    # of 4 volumes, as metrics.ef_runtime(trim=0.5) computes them on the same masks
    class Trimmed(_Packages):
        ef_trim = 0.5

    plain, trimmed = two_apical_cines(), two_apical_cines(Trimmed)
    masks = np.zeros((8, 32, 32), np.uint8)
    for i, h in enumerate([20, 16, 12, 16, 20, 14, 10, 14]):
        masks[i, 4:4 + h, 10:10 + h // 2] = 1
    want = [ef_runtime(masks[c * 4:c * 4 + 4] == 1, (1.0, 1.0), min_frames=4, trim=0.5)["ef"] - ref
            for c, ref in enumerate([50.0, 60.0])]
    assert abs(trimmed["ef_uncalibrated"]["bias"] - np.mean(want)) < 1e-9
    assert trimmed["ef_uncalibrated"]["bias"] < plain["ef_uncalibrated"]["bias"]


def test_ef_interval_coverage_counts_the_cines_inside_the_runtimes_interval():
    # with a stand-in interval of +-5 only cine 0's reference (50, read 48.8) is inside; cine 1's (60, read 65.7) is not
    class WithInterval(_Packages):
        def ef_half_width(self, beats=2):
            assert beats == 2
            return 5.0

    r = two_apical_cines(WithInterval)
    assert r["ef_interval_half"] == 5.0 and r["ef_interval_coverage"] == 0.5
    plain = two_apical_cines()
    assert "ef_interval_coverage" not in plain


def test_ef_interval_coverage_with_the_uncalibrated_ef_spans_both_readings():
    # calibrated 12 points above the raw reading (48.8 -> 60.8 against 50; 65.7 -> 77.7 against 60), interval +-5:
    # around the calibrated EF alone neither reference is inside; spanning both readings cine 0's is (43.8-65.8),
    # cine 1's is not (60.7-82.7)
    class Shifted(_Packages):
        ef_cal = {"slope": 1.0, "intercept": 12.0, "residual_sd": 1.0}

        def ef_half_width(self, beats=2):
            return 5.0

        def calibrated(self, ef):
            return ef + 12.0

    class Spanning(Shifted):
        ef_cal = {**Shifted.ef_cal, "interval": "with_uncalibrated"}

    assert two_apical_cines(Shifted)["ef_interval_coverage"] == 0.0
    assert two_apical_cines(Spanning)["ef_interval_coverage"] == 0.5


def test_ef_half_width_is_the_runtimes_interval_for_agreeing_beats():
    from types import SimpleNamespace

    from sonoedge_train.transfer import Packages
    p = SimpleNamespace(ef_cal={"slope": 1.0, "intercept": 0.0, "residual_sd": 3.0})
    # 1.96 sqrt(3^2 + (5 / beats)^2): two beats 1.96 * sqrt(9 + 6.25), one beat 1.96 * sqrt(34)
    assert abs(Packages.ef_half_width(p, 2) - 1.96 * 15.25 ** 0.5) < 1e-12
    assert abs(Packages.ef_half_width(p, 1) - 1.96 * 34 ** 0.5) < 1e-12
    assert Packages.ef_half_width(SimpleNamespace(ef_cal=None), 2) is None


def test_ef_border_flag_splits_the_cines_by_the_runtimes_rule():
    # a stand-in border band of 1.0 px on cine 0's frames and 2.0 on cine 1's, threshold 1.5: cine 1 is flagged; its
    # EF error (|65.7 - 60|) is the flagged MAE, cine 0's (|48.8 - 50|) the rest
    class WithBorder(_Packages):
        border = {"low": 0.2, "high": 0.8, "threshold": 1.5}

        def lv_bands(self, frames):
            return self.masks == 1, [1.0] * 4 + [2.0] * 4

    r = two_apical_cines(WithBorder)
    assert r["ef_border_flagged"] == 0.5
    assert abs(r["ef_mae_border_flagged"] - 5.7) < 1e-9
    assert abs(r["ef_mae_border_kept"] - 1.2) < 1e-9
    plain = two_apical_cines()
    assert "ef_border_flagged" not in plain


def test_pydicom_files_adds_pydicom_datas_ultrasound_when_installed():
    """pydicom-data's real ultrasound files join pydicom's, named by source, decoded grey; never downloaded."""
    pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    from sonoedge_train.transfer import PYDICOM_DATA_US, pydicom_files
    if get_testdata_file("color3d_jpeg_baseline.dcm", download=False) is None:
        pytest.skip("pydicom-data is not installed (training/pyproject.toml lists it)")
    files = pydicom_files()
    assert {n for n, f in files.items() if f.get("source") == "pydicom-data"} == set(PYDICOM_DATA_US)
    assert files["examples_ybr_color.dcm"]["source"] == "pydicom"
    shapes = {n: files[n]["frames"].shape for n in PYDICOM_DATA_US}
    assert shapes == {"color3d_jpeg_baseline.dcm": (120, 480, 640), "JPGLosslessP14SV1_1s_1f_8b.dcm": (1, 768, 1024),
                      "color-px.dcm": (1, 120, 256), "OBXXXX1A.dcm": (1, 600, 800), "gdcm-US-ALOKA-16.dcm": (1, 480, 640)}
    assert all(files[n]["frames"].dtype == np.uint8 for n in PYDICOM_DATA_US)
    # the recording examples_ybr_color is cut from: its DICOM region is this image's (it overhangs the 320x240 cut)
    assert files["color3d_jpeg_baseline.dcm"]["region"] == [84, 31, 595, 414]


def test_real_smoke_counts_states_under_plain_names(monkeypatch):
    """The report's states column reads {'ok': 2, ...}: numpy's string scalars once printed as np.str_('ok')."""
    from sonoedge_train import transfer
    monkeypatch.setattr(transfer, "pydicom_files", lambda: {
        "x.dcm": {"frames": np.zeros((3, 40, 30), np.uint8), "region": None, "source": "pydicom"}})
    a4c = VIEWS.index("A4C")
    pk = _Packages(np.array([a4c] * 3), np.zeros((3, 8, 8), np.uint8), states=np.array(["ok", "unknown", "ok"]))
    r = transfer.real_smoke(pk)["x.dcm"]
    assert repr(r["states"]) == "{'ok': 2, 'unknown': 1}"
    assert (r["box"], r["box_from"], r["views"]) == ([0, 0, 30, 40], "whole frame", {"A4C": 3})


def test_transfer_report_on_a_test_set_of_apical_cines_only(tmp_path):
    # wide_ef_test holds A4C and A2C cines only: no simulated OTHER frames to report as negatives (it once crashed
    # on the empty family); the other families and the set's own numbers are there
    from sonoedge_train import package as pk
    from sonoedge_train.data.synthetic import write_dataset
    from sonoedge_train.domain import render_dataset
    from sonoedge_train.transfer import transfer_report
    write_dataset(tmp_path / "raw", 2, 7, 4, (160, 160), "wide_hard", ["A4C", "A2C"], progress=False)
    render_dataset(tmp_path / "raw", tmp_path / "apical")
    rep = transfer_report(tmp_path / "out", pk.REPO_ROOT / "models", test=tmp_path / "apical", n_neg=10)
    fams = set(rep["negatives"])
    assert "simulated OTHER (in-distribution negatives)" not in fams
    assert "photo (held out)" in fams and len(fams) >= 3
    assert rep["sets"]["in_distribution_test"]["frames"] == 8 and rep["sets"]["in_distribution_test"]["ef_n"] == 2
    assert (tmp_path / "out" / "transfer.md").exists()


def test_the_committed_transfer_report_is_the_bundled_packages():
    """training/results/transfer (the report RESULTS.md cites) was made with the packages in models/: its EF
    calibration, view temperature and in-distribution thresholds are those the manifests hold. A package rebuilt
    without regenerating the report fails here (the report showed an eighth-wave LV package until 2026-12-06)."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    report = json.loads((root / "training" / "results" / "transfer" / "transfer.json").read_text())
    lv = json.loads((root / "models" / "lv_segmentation" / "manifest.json").read_text())
    vq = json.loads((root / "models" / "view_quality" / "manifest.json").read_text())
    assert (report["models"], report["variant"]) == ("models", "fp32")
    assert report["ef_calibration"] == lv["calibration"]["ef"]
    assert report["temperature"] == vq["postprocessing"]["view"]["temperature"]
    assert report["id_thresholds"] == vq["postprocessing"]["id_score"]["thresholds"]
