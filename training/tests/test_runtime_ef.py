"""training/scripts/runtime_ef.py's summary and its published-clip transform, on made-up cines (the script itself runs
`sonoedge replay`)."""
import json

import numpy as np
import pytest

from script_module import load_script

runtime_ef = load_script("runtime_ef")


def _rt(ef, views=("A4C",) * 10, lv=(1.0,) * 10, state=None, quality="ok"):
    return {"ef": ef, "ef_on_last_frame": ef, "method": "beats", "beats": 2, "gated_frames": sum(a is not None for a in lv),
            "frames": len(views), "ci": None if ef is None else [ef - 5, ef + 5], "quality": quality,
            "trace": {"view": list(views), "lv_area": list(lv), **({} if state is None else {"state": list(state)})}}


def _row(ref, harness, base, new):
    return {"view": "A4C", "ref": ref, "harness": harness, "base": _rt(base), "runtime": _rt(new)}


def test_summary_pairs_the_error_and_the_distance_to_the_harness_against_the_first_runtime():
    rows = [
        # the model reads 10 high; the new runtime measures what the model reads, the old one read 5 low of it
        _row(50.0, 60.0, 55.0, 60.0),
        # both runtimes read the harness's EF: no change either way
        _row(40.0, 42.0, 42.0, 42.0),
        # only the new runtime has an EF: not paired
        _row(30.0, 35.0, None, 33.0),
        # no harness EF: paired for the error, not for the distance to the harness
        _row(20.0, None, 26.0, 22.0),
    ]
    s = runtime_ef.summary(rows, paired_with_base=True)
    # errors: +5 (10 - 5), 0, -4 (2 - 6)
    assert s["paired_abs_error_vs_first"]["n"] == 3
    assert s["paired_abs_error_vs_first"]["mean"] == pytest.approx(round(1 / 3, 2))
    # distances to the harness: 0 - 5 = -5 and 0
    assert s["paired_abs_diff_to_harness_vs_first"]["n"] == 2
    assert s["paired_abs_diff_to_harness_vs_first"]["mean"] == -2.5
    lo, hi = s["paired_abs_diff_to_harness_vs_first"]["ci95"]
    assert -5.0 <= lo <= -2.5 <= hi <= 0.0
    assert s["runtime_ef_shown"] == 4 and s["errors_over_20"] == 0
    assert "paired_abs_diff_to_harness_vs_first" not in runtime_ef.summary(rows)


def test_published_pads_the_sector_box_to_a_square_keeps_its_aspect_and_scales_the_spacing():
    frames = np.zeros((2, 40, 60), np.uint8)
    frames[:, 5:25, 10:40] = 200  # the sector's box (x 10, y 5, 30 x 20), bright
    frames[:, 0:5, :] = 255  # outside the box: not kept
    out, spacing = runtime_ef.published(frames, (10, 5, 30, 20), (0.5, 0.4), 15, quality=95)
    assert out.shape == (2, 15, 15) and out.dtype == np.uint8
    assert spacing == pytest.approx((1.0, 0.8))  # 30 source pixels to 15
    # the 30 x 20 box in a 30 x 30 square: 5 black rows above and below, 2.5 at this scale
    assert np.abs(out[:, 4:11, :].astype(int) - 200).max() <= 6
    assert out[:, 0:2, :].max() <= 20 and out[:, 13:, :].max() <= 20


def _report(path, pairs, clis=("H", "HG")):
    """A runtime_ef report of cines (ref, harness, EF of each runtime)."""
    cines = [{"id": i, "view": "A4C", "ref": ref, "harness": h, "runtimes": {n: _rt(ef) for n, ef in zip(clis, efs)}}
             for i, (ref, h, *efs) in enumerate(pairs)]
    path.write_text(json.dumps({"clis": {n: f"{n}.js" for n in clis}, "cines": cines}))
    return path


def test_pool_summarises_the_cines_of_several_reports_together(tmp_path, capsys):
    a = _report(tmp_path / "a.json", [(50.0, 60.0, 55.0, 60.0), (40.0, 42.0, 42.0, 42.0)])
    b = _report(tmp_path / "b.json", [(20.0, 24.0, 26.0, 22.0)])
    rep = runtime_ef.pool([a, b])
    s = rep["summary"]["HG"]["paired_abs_error_vs_first"]
    # errors +5, 0, -4 over the three cines of both reports
    assert s["n"] == 3 and s["mean"] == pytest.approx(round(1 / 3, 2))
    # distances to the harness: -5, 0, 0 (22 and 26 are both 2 from 24)
    assert rep["summary"]["HG"]["paired_abs_diff_to_harness_vs_first"]["mean"] == pytest.approx(round(-5 / 3, 2))
    assert "paired_abs_error_vs_first" not in rep["summary"]["H"]
    assert runtime_ef.main(["--pool", str(a), str(b)]) == 0
    assert '"paired_abs_error_vs_first"' in capsys.readouterr().out
    other = _report(tmp_path / "c.json", [(20.0, 24.0, 26.0)], clis=("H",))
    with pytest.raises(SystemExit, match=r"--pool expects reports of the same runtimes but received \[\['H', 'HG'\], \['H'\]\]"):
        runtime_ef.pool([a, other])


def test_view_summary_counts_frames_shown_as_the_cines_own_view_and_the_flips():
    rows = [
        # A4C shown, A2C for 3 frames (two flips), A4C again; the LV model ran on the first 6 frames only
        # uncertain on its first frame and on the three A2C ones; its EF of quality low
        {"view": "A4C", "runtime": _rt(50.0, ["A4C"] * 3 + ["A2C"] * 3 + ["A4C"] * 4, [1.0] * 6 + [None] * 4,
                                       ["uncertain", "ok", "ok"] + ["uncertain"] * 3 + ["ok"] * 4, quality="low")},
        # an A2C cine shown as A2C throughout, never segmented, ok throughout
        {"view": "A2C", "runtime": _rt(None, ["A2C"] * 10, [None] * 10, ["ok"] * 10)},
    ]
    s = runtime_ef.view_summary(rows)
    assert s == {"view_true_share": 0.85, "view_true_share_gated": 0.5, "view_flips_per_cine": 1.0,
                 "cines_with_view_flips": 1, "state_not_ok_shown_right": round(1 / 17, 4),
                 "state_not_ok_shown_wrong": 1.0, "state_not_ok_gated": round(4 / 6, 4), "ef_quality_low": 1,
                 "ef_cines": 1}
    one = runtime_ef.view_summary(rows[1:])
    assert [one["view_true_share_gated"], one["state_not_ok_shown_wrong"], one["ef_cines"]] == [None, None, 0]


def test_pool_summarises_negatives_reports_as_negatives_and_refuses_a_mix(tmp_path):
    def neg(path, lv_frames):
        cines = [{"id": i, "view": "OTHER", "ref": None, "harness": None,
                  "runtimes": {"H": _rt(None, ("OTHER",) * 10, [1.0] * k + [None] * (10 - k))}}
                 for i, k in enumerate(lv_frames)]
        path.write_text(json.dumps({"clis": {"H": "H.js"}, "negatives": True, "cines": cines}))
        return path
    a, b = neg(tmp_path / "a.json", [0, 2]), neg(tmp_path / "b.json", [0])
    s = runtime_ef.pool([a, b])["summary"]["H"]
    # reports without states reject nothing they can count
    assert s == {"cines": 3, "frames": 30, "lv_shown_share": round(2 / 30, 4), "unknown_or_other_share": None,
                 "not_ok_or_other_share": None, "lv_rejected": 0, "lv_mirrored": 0, "cines_with_lv": 1,
                 "cines_with_ef": 0}
    apical = _report(tmp_path / "c.json", [(20.0, 24.0, 26.0)], clis=("H",))
    with pytest.raises(SystemExit, match=r"--pool expects apical reports or negatives reports, not both"):
        runtime_ef.pool([a, apical])


def test_negatives_summary_rejects_unknown_or_other_frames_per_family():
    turned = dict(runtime=dict(_rt(None, ("A2C",) * 6 + ("OTHER",) * 4, [1.0] * 3 + [None] * 7,
                                   ("ok",) * 3 + ("uncertain",) * 3 + ("ok",) * 4), lv_rejected=2, lv_mirrored=1),
                  family="rotated")
    scene = dict(runtime=_rt(None, ("OTHER",) * 10, [None] * 10, ("unknown",) * 10), family="noncardiac")
    s = runtime_ef.negatives_summary([turned, scene])
    # rotated: 4 OTHER frames rejected; with its 3 uncertain ones 7; an LV on 3
    assert s["families"]["rotated"] == {"cines": 1, "frames": 10, "lv_shown_share": 0.3, "unknown_or_other_share": 0.4,
                                        "not_ok_or_other_share": 0.7, "lv_rejected": 2, "lv_mirrored": 1,
                                        "cines_with_lv": 1, "cines_with_ef": 0}
    assert s["families"]["noncardiac"]["unknown_or_other_share"] == 1.0
    assert [s["frames"], s["lv_shown_share"], s["unknown_or_other_share"], s["not_ok_or_other_share"]] == [20, 0.15, 0.7, 0.85]
    assert "families" not in runtime_ef.negatives_summary([dict(turned, family=None)])


def test_ours_negative_cines_give_each_family_n_cines_deterministically():
    cines = list(runtime_ef.ours_negative_cines("2,5,4"))
    families = runtime_ef.ours_negative_families()
    assert families == ["noise", "flat", "screen", "natural", "us_texture", "photo"]
    assert [c[0] for c in cines] == list(range(12))
    for cid, view, frames, roi, spacing, ref, fps in cines:
        assert (view, frames.shape, frames.dtype, roi, spacing, ref, fps) == (
            "OTHER", (4, 256, 256), np.uint8, (0, 0, 256, 256), (0.3, 0.3), None, 30.0)
    again = list(runtime_ef.ours_negative_cines("2,5,4"))
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(cines, again)), "the same spec, the same bytes"
    assert not np.array_equal(cines[0][2], next(runtime_ef.ours_negative_cines("2,6,4"))[2]), "another seed, other bytes"
    # a frozen image with a little noise on each frame (sigma 3), except noise, drawn afresh
    for cid, _, frames, *_ in cines[2:]:
        d = np.abs(frames[1].astype(int) - frames[0].astype(int)).mean()
        assert d < 6, (families[cid // 2], d)


def test_runtime_from_lines_traces_the_beam_angle_and_the_lvs_withheld():
    base = {"view": "A4C", "viewShown": "A4C", "quality": 0.9, "state": "ok"}
    lines = [dict(base, seq=0, lvAreaMm2=2000.04, lvBeamAngleDeg=3.26),
             dict(base, seq=1, lvRejected={"code": "LV_ACROSS_BEAM", "beamAngleDeg": 71.0}),
             dict(base, seq=2, lvAreaMm2=1500.0, lvBeamAngleDeg=None),
             dict(base, seq=3)]
    r = runtime_ef.runtime_from_lines(lines)
    assert [r["gated_frames"], r["lv_rejected"], r["frames"], r["ef"]] == [2, 1, 4, None]
    assert r["trace"]["lv_area"] == [2000.0, None, 1500.0, None]
    assert r["trace"]["lv_beam"] == [3.3, None, None, None]


def test_summaries_of_an_apical_set_of_several_variants_give_each_variant_its_numbers():
    def row(ref, h, n, family, gated):
        lv = (1.0,) * gated + (None,) * (10 - gated)
        return {"view": "A4C", "ref": ref, "harness": ref, "family": family,
                "runtimes": {"H": _rt(h, lv=lv if h is not None else (None,) * 10), "K": _rt(n, lv=lv)}}
    rows = [row(50.0, 55.0, 52.0, "gain_low", 4), row(60.0, None, 66.0, "gain_low", 6),
            row(40.0, 44.0, 44.0, "off_axis", 2)]
    s = runtime_ef.summaries(rows, {"H": "a", "K": "b"})
    gl, oa = s["K"]["variants"]["gain_low"], s["K"]["variants"]["off_axis"]
    assert set(gl) == set(runtime_ef.VARIANT_KEYS) and gl["cines"] == 2 and gl["runtime_ef_shown"] == 2
    assert gl["gated_share"] == 0.5 and oa["gated_share"] == 0.2  # the mean of each cine's share
    assert gl["runtime"] == {"n": 2, "mae": 4.0, "bias": 4.0}  # +2 and +6
    assert gl["paired_abs_error_vs_first"]["n"] == 1 and gl["paired_abs_error_vs_first"]["mean"] == -3.0
    assert s["H"]["variants"]["gain_low"]["gated_share"] == 0.2 and "paired_abs_error_vs_first" not in s["H"]["variants"]["gain_low"]
    assert "variants" not in runtime_ef.summaries([dict(r, family="clean") for r in rows], {"H": "a", "K": "b"})["K"]
