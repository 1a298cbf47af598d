"""The runtime's EF validity rule (src/pipeline/postprocess.ts EjectionFraction) in the evaluation, on hand-made
masks."""
import math

import numpy as np
import pytest

from sonoedge_train.metrics import ef_runtime, ef_runtime_from, largest_component, step_frames


def _cine(lengths, width=10, n=16, size=64):
    """One rectangle per frame: `width` px wide, lengths[i] px long (area-length volume grows with the length)."""
    m = np.zeros((n, size, size), bool)
    for i, L in enumerate(lengths):
        m[i, 2:2 + L, 20:20 + width] = True
    return m


def _vol(width, length, sp=1.0):
    a, l = width * length * sp * sp, length * sp
    return 8 * a * a / (3 * math.pi * l) / 1000.0


def test_valid_cine_matches_hand_ef():
    lengths = [40] * 8 + [30] * 8  # ED 10x40, ES 10x30
    r = ef_runtime(_cine(lengths), 1.0)
    want = 100 * (_vol(10, 40) - _vol(10, 30)) / _vol(10, 40)
    assert r == {"ef": pytest.approx(want), "valid": True, "reason": None}
    assert want == pytest.approx(25.0)  # V = 8 (wL)^2 / (3 pi L) grows as L: 1 - 30/40


def test_frames_without_lv_are_bridged_up_to_three():
    m = _cine([40] * 8 + [30] * 8)
    m[9] = False  # one frame without an LV is skipped (the runtime bridges up to 3): 15 frames, one short
    assert ef_runtime(m, 1.0) == {"ef": pytest.approx(25.0), "valid": False, "reason": "15 of 16 frames"}
    assert ef_runtime(m, 1.0, min_frames=15) == {"ef": pytest.approx(25.0), "valid": True, "reason": None}
    m[6:10] = False  # the 4th in a row empties the window: 6 frames follow
    assert ef_runtime(m, 1.0) == {"ef": pytest.approx(0.0), "valid": False, "reason": "6 of 16 frames"}


def test_empty_last_frames_and_tiny_masks():
    m = _cine([40] * 16)
    m[12:16] = False
    assert ef_runtime(m, 1.0) == {"ef": 0.0, "valid": False, "reason": "frames had no LV mask"}
    m[15, 0, 0:2] = True  # 2 px: not a usable mask either
    assert ef_runtime(m, 1.0)["reason"] == "frames had no LV mask"


def test_implausible_ef_is_invalid():
    r = ef_runtime(_cine([40] * 15 + [3]), 1.0, max_step=0)  # ES volume almost 0: EF near 100%
    assert not r["valid"] and r["ef"] > 90 and r["reason"] == f"EF {r['ef']:.1f}% outside 5-90%"
    r = ef_runtime(_cine([40] * 16), 1.0)  # no contraction
    assert r == {"ef": 0.0, "valid": False, "reason": "EF 0.0% outside 5-90%"}


def test_too_few_frames_and_window():
    assert ef_runtime(_cine([40] * 4 + [30] * 4, n=8), 1.0)["reason"] == "8 of 16 frames"
    assert ef_runtime(_cine([40] * 4 + [30] * 4, n=8), 1.0, min_frames=8)["valid"]
    # a 35-frame window keeps frames 5..39: the early small volume (length 20) falls out of it
    lengths = [20] + [40] * 10 + [30] * 29
    assert ef_runtime(_cine(lengths, n=40), 1.0, window=35)["ef"] == pytest.approx(25.0)
    assert ef_runtime(_cine(lengths, n=40), 1.0)["ef"] == pytest.approx(50.0)  # the default 128 keeps it


def test_largest_component_is_used():
    m = _cine([40] * 8 + [30] * 8)
    m[:, 50:52, 50:52] = True  # a 4-px island in every frame: dropped, as the runtime drops it
    assert ef_runtime(m, 1.0)["ef"] == pytest.approx(ef_runtime(_cine([40] * 8 + [30] * 8), 1.0)["ef"])
    a = np.zeros((6, 6), bool)
    a[0, 0:2] = True
    a[4:6, 4] = True  # two components of 2 px: the first in raster order wins
    assert largest_component(a).tolist() == (np.arange(36).reshape(6, 6) < 2).tolist()
    d = np.zeros((5, 5), bool)
    d[0, 0] = d[1, 1] = d[2, 2] = True  # diagonal: one 8-connected component
    assert largest_component(d).sum() == 3
    assert not largest_component(np.zeros((3, 3), bool)).any()


def test_a_volume_jump_no_ventricle_makes_is_bridged():
    # The cavity lost for one frame (length 3 after 40: a volume of a few percent) is skipped like a frame without
    # an LV, so the window's ES is the real one and the EF is that of lengths 40 -> 30.
    lengths = [40] * 8 + [30] * 8
    lengths[10] = 3
    r = ef_runtime(_cine(lengths), 1.0, min_frames=15)
    assert r == {"ef": pytest.approx(25.0), "valid": True, "reason": None}
    assert ef_runtime(_cine(lengths), 1.0, min_frames=15, max_step=0)["ef"] > 90  # the rule off: the dropout is ES
    # The 4th in a row empties the window, the frame itself not kept: the new window holds frames 14 and 15.
    lengths[10:14] = [3] * 4
    assert ef_runtime(_cine(lengths), 1.0, min_frames=1) == {"ef": 0.0, "valid": False, "reason": "EF 0.0% outside 5-90%"}


def test_the_step_rule_allows_a_factor_per_frame_of_a_gap():
    # the runtime's stepFrames cases (test/unit/pipeline.postprocess.test.ts): the larger of the index difference and
    # the bridged frames plus one, at least 1, at most max_skip + 1; the window's counts are the shared cases' (below)
    assert [step_frames(1, 0, 3), step_frames(2, 1, 3), step_frames(9, 0, 3), step_frames(1, 2, 3),
            step_frames(-7, 1, 3), step_frames(3, 0, 0)] == [1, 2, 4, 3, 2, 1]
    # a dropout in rapid filling: the EF of every volume but the missing one
    filling = [(v, 80.0) for v in [20, 30, 45, 0, 100, 120, 125, 126]]
    filling[3] = (0.0, 0.0)
    assert ef_runtime_from(filling, min_frames=7) == {"ef": pytest.approx(100 * (126 - 20) / 126), "valid": True,
                                                      "reason": None}


def test_the_step_rule_gives_the_shared_cases_counts():
    """test/fixtures/postprocess/ef-step-rule.json, which the runtime's test reads too."""
    import json
    from pathlib import Path
    cases = json.loads((Path(__file__).resolve().parents[2] / "test" / "fixtures" / "postprocess" /
                        "ef-step-rule.json").read_text())["cases"]
    assert len(cases) == 12
    for c in cases:
        vols = [(0.0, 0.0) if v is None else (float(v), 80.0) for v in c["volumes"]]
        n = len(vols) + 1
        reason = ef_runtime_from(vols, min_frames=n)["reason"]
        assert reason == (f"{c['kept']} of {n} frames" if c["kept"] else "frames had no LV mask"), c["name"]


def test_smooth_volumes_centred_mean_and_its_ends():
    from sonoedge_train.metrics import smooth_volumes
    v = np.array([3.0, 6.0, 0.0, 9.0])
    assert smooth_volumes(v, 3).tolist() == pytest.approx([4.5, 3.0, 5.0, 4.5])  # ends: the mean of the two there
    assert smooth_volumes(v, 1).tolist() == v.tolist()
    assert smooth_volumes(v[:1], 3).tolist() == [3.0]


def test_smoothed_ef_weighs_one_noisy_frame_a_third():
    # one frame read short (length 26 among 30s): the present rule takes it as ES; in the 3-frame means it
    # counts a third (the smallest mean, frames 10-12: (30 + 26 + 30) / 3)
    lengths = [40] * 8 + [30] * 3 + [26] + [30] * 4
    assert ef_runtime(_cine(lengths), 1.0)["ef"] == pytest.approx(35.0)  # 1 - 26/40
    assert ef_runtime(_cine(lengths), 1.0, smooth=3)["ef"] == pytest.approx(100 * (1 - 86 / 3 / 40))


def test_trimmed_ef_means_a_share_of_the_window():
    # 16 frames, trim 0.1: k = round(1.6) = 2; ED the mean of lengths 40 and 38, ES of 26 and 30
    lengths = [38, 40] + [34] * 6 + [30, 26] + [32] * 6
    assert ef_runtime(_cine(lengths), 1.0)["ef"] == pytest.approx(100 * (1 - 26 / 40))
    assert ef_runtime(_cine(lengths), 1.0, trim=0.1)["ef"] == pytest.approx(100 * (1 - 28 / 39))
    assert ef_runtime(_cine(lengths), 1.0, trim=0.01)["ef"] == pytest.approx(100 * (1 - 26 / 40))  # k at least 1


def test_trim_count_rounds_halves_up_as_the_runtime_does():
    from sonoedge_train.metrics import trim_count
    # Math.round in src/pipeline/postprocess.ts trimCount: 2.5 -> 3 (Python's round gives 2)
    assert [trim_count(0.1, n) for n in (5, 15, 16, 25, 32, 48)] == [1, 2, 2, 3, 3, 5]


def test_calibrate_cli_refuses_a_trim_past_a_half(capsys):
    from sonoedge_train.cli import main
    with pytest.raises(SystemExit) as e:
        main(["calibrate", "--seg", "x.pt", "--trim", "0.6"])
    assert e.value.code == 2
    assert "argument --trim: expected a number in [0, 0.5] but received '0.6'" in capsys.readouterr().err
