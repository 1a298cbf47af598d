"""The independent phantom (sonoedge_phantom) and its reader in the harness (sonoedge_train.data.phantom)."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from sonoedge_phantom.errors import PhantomError
from sonoedge_phantom.generate import write_phantom
from sonoedge_phantom.measure import area_length, cine_ef
from sonoedge_train.data.phantom import FORMAT, load_phantom
from sonoedge_train.data.synthetic import resize_masks
from sonoedge_train.errors import DatasetError

EF_ROUNDING = 5e-5          # the index stores EF rounded to 4 decimals
EF_3D_AGREEMENT = 3.0       # points of EF: area-length on standard apical slices vs the 3D cavity volume
VIEWS = ["A4C", "A2C", "PLAX", "PSAX", "OTHER"]


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    """One cine per variant in A4C (negatives included), then A2C, PLAX and PSAX clean cines; 3 frames, 96 px.
    Cines 2, 5, 8, 11 have non-square pixels."""
    root = tmp_path_factory.mktemp("phantom")
    write_phantom(root / "all", 10, seed=7, n_frames=3, size=(96, 96))
    write_phantom(root / "views", 3, seed=8, n_frames=3, size=(96, 96), variants=["clean"],
                  views=["A2C", "PLAX", "PSAX"])
    return root


def _index(root):
    return json.loads((Path(root) / "index.json").read_text())


def _cine(root, c):
    with np.load(Path(root) / c["file"]) as z:
        return z["frames"], z["masks"]


def _sector(c, shape):
    """The field of view recomputed from the index geometry alone."""
    h, w = shape
    jj, ii = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    x0, y0 = c["apex"]
    sx, sy = c["spacing_mm"]
    X = (jj - x0) * sx
    Z = (y0 - ii) * sy if c["flip"] == "ud" else (ii - y0) * sy
    if c["probe"] == "linear":
        return (np.abs(X) <= c["width_mm"] / 2) & (Z >= c["depth_start"]) & (Z <= c["depth_end"])
    r, th = np.hypot(X, Z), np.arctan2(X, Z)
    return ((r >= c["depth_start"]) & (r <= c["depth_end"]) & (th >= c["angle_start"] - 1e-6)
            & (th <= c["angle_end"] + 1e-6))


def test_index_layout(phantom):
    idx = _index(phantom / "all")
    assert idx["format"] == FORMAT == "sonoedge-phantom/1"
    assert idx["views"] == VIEWS and idx["seg_labels"] == ["background", "lv", "myocardium", "la"]
    got = [(c["id"], c["file"], c["view"], c["variant"], c["n_frames"]) for c in idx["cines"]]
    assert got == [(0, "cine_00000.npz", "A4C", "clean", 3), (1, "cine_00001.npz", "A4C", "noisy", 3),
                   (2, "cine_00002.npz", "A4C", "shadow", 3), (3, "cine_00003.npz", "A4C", "gain_low", 3),
                   (4, "cine_00004.npz", "A4C", "gain_high", 3), (5, "cine_00005.npz", "A4C", "off_axis", 3),
                   (6, "cine_00006.npz", "A4C", "foreshortened", 3), (7, "cine_00007.npz", "OTHER", "rotated", 3),
                   (8, "cine_00008.npz", "OTHER", "flipped", 3), (9, "cine_00009.npz", "OTHER", "noncardiac", 3)]
    assert [c["view"] for c in _index(phantom / "views")["cines"]] == ["A2C", "PLAX", "PSAX"]
    for c in idx["cines"]:
        frames, masks = _cine(phantom / "all", c)
        assert frames.dtype == masks.dtype == np.uint8 and frames.shape == masks.shape == (3, 96, 96)
        sx, sy = c["spacing_mm"]
        assert (sx != sy) == (c["id"] % 3 == 2)


def test_masks_and_frames_lie_inside_the_sector(phantom):
    for part in ("all", "views"):
        for c in _index(phantom / part)["cines"]:
            frames, masks = _cine(phantom / part, c)
            sector = _sector(c, frames.shape[1:])
            ys, xs = np.nonzero(sector)
            assert c["roi"] == {"x": int(xs.min()), "y": int(ys.min()), "width": int(xs.max() - xs.min() + 1),
                                "height": int(ys.max() - ys.min() + 1)}, c["id"]
            assert not masks[:, ~sector].any() and not frames[:, ~sector].any(), c["id"]
            assert frames[:, sector].mean() > 10, c["id"]  # an image was formed in the sector
            if c["view"] != "OTHER":
                assert all((m == 1).sum() > 20 and (m == 2).any() for m in masks), c["id"]


def test_stored_ef_is_the_area_length_ef_of_the_masks(phantom):
    checked = 0
    for part in ("all", "views"):
        for c in _index(phantom / part)["cines"]:
            frames, masks = _cine(phantom / part, c)
            if c["view"] in ("A4C", "A2C"):
                ef, ed, es, vols = cine_ef(masks, c["spacing_mm"])
                assert abs(c["ef"] - ef) <= EF_ROUNDING and (c["ed"], c["es"]) == (ed, es), c["id"]
                assert (ed, es) == (int(np.argmax(vols)), int(np.argmin(vols)))
                with np.load(Path(phantom / part) / c["file"]) as z:
                    np.testing.assert_allclose(z["volume_al"], vols, rtol=1e-6)
                checked += 1
            else:
                assert c["ef"] is None, c["id"]
    assert checked == 8


def test_area_length_by_hand():
    """A 20 x 10 pixel cavity above an LA block, pixels 0.5 mm wide and 0.8 mm tall."""
    m = np.zeros((40, 30), np.uint8)
    m[10:30, 10:20] = 1
    m[30:36, 8:22] = 3
    r = area_length(m, (0.5, 0.8))
    length = np.hypot(4.5 * 0.5, 19 * 0.8)  # apex (10, 10) to the annulus midpoint (14.5, 29)
    assert r["hinges"] == ((10, 29), (19, 29)) and r["mid"] == (14.5, 29.0) and r["apex"] == (10, 10)
    assert r["area_mm2"] == pytest.approx(200 * 0.4, rel=1e-12)
    assert r["length_mm"] == pytest.approx(length, rel=1e-12)
    assert r["volume_ml"] == pytest.approx(8 * 80.0 ** 2 / (3 * np.pi * length) / 1000, rel=1e-12)
    small = m.copy()
    small[10:14, 10:20] = 0  # a shorter cavity: the end-systolic frame
    ef, ed, es, vols = cine_ef(np.stack([small, m, small]), (0.5, 0.8))
    assert (ed, es) == (1, 0) and ef == pytest.approx(100 * (vols[1] - vols[0]) / vols[1], rel=1e-12)
    assert area_length(np.where(m == 3, 0, m), (0.5, 0.8)) is None  # no LA: no annulus
    assert cine_ef(np.zeros((2, 8, 8), np.uint8), (1, 1)) is None


def test_ef_spread_and_agreement_with_the_3d_volume(tmp_path):
    """Masks-only cines: EF covers 25-70 %, ED/ES are the max/min-volume frames, and the 2D area-length EF of a
    standard apical slice agrees with the 3D EF of the model."""
    write_phantom(tmp_path, 24, seed=3, n_frames=16, size=(112, 112), variants=["clean"], views=["A4C", "A2C"],
                  images=False)
    idx = _index(tmp_path)
    efs = [c["ef"] for c in idx["cines"]]
    assert min(efs) <= 25 and max(efs) >= 70
    for c in idx["cines"]:
        _, masks = _cine(tmp_path, c)
        ef, ed, es, vols = cine_ef(masks, c["spacing_mm"])
        assert (c["ed"], c["es"]) == (int(np.argmax(vols)), int(np.argmin(vols)))
        assert abs(c["ef"] - c["ef_3d"]) <= EF_3D_AGREEMENT, c["id"]


def test_fixed_frame_rate_gives_several_beats_of_the_same_heart(tmp_path):
    """--fps: the same cines (same draws) sampled at a fixed rate. 96 frames at 30/s hold 2.7-5.9 beats of a
    50-110/min heart: the label volume curve has as many maxima, the stored EF is the same heart's (within the
    sampling of its extremes), and the frame rate is in the index and every entry."""
    kw = dict(n_frames=96, size=(96, 96), variants=["clean"], views=["A4C", "A2C"], images=False)
    write_phantom(tmp_path / "free", 4, seed=5, **kw)
    write_phantom(tmp_path / "fixed", 4, seed=5, fps=30, **kw)
    free, fixed = _index(tmp_path / "free"), _index(tmp_path / "fixed")
    assert "fps" not in free and fixed["fps"] == 30.0
    for a, b in zip(free["cines"], fixed["cines"]):
        assert b["fps"] == 30.0 and a["fps"] != 30.0
        assert (a["heart_rate"], a["spacing_mm"], a["roi"]) == (b["heart_rate"], b["spacing_mm"], b["roi"])
        beats = 96 / 30 * b["heart_rate"] / 60
        assert 2.6 <= beats <= 5.9
        _, masks = _cine(tmp_path / "fixed", b)
        vols = cine_ef(masks, b["spacing_mm"])[3]
        # ED once per beat: the frames within 3% of the largest volume come in one run a beat (a cut beat may have none)
        runs = np.flatnonzero(np.diff((vols >= vols.max() * 0.97).astype(int)) == 1)
        assert len(runs) >= int(beats) - 1, (b["id"], beats, runs)
        assert abs(a["ef"] - b["ef"]) <= 3.0, (a["id"], a["ef"], b["ef"])
    with pytest.raises(PhantomError, match=r"^E_ARG: expected a frame rate of 8\.\.120 per second but received 200$"):
        write_phantom(tmp_path / "bad", 1, seed=5, fps=200, **kw)


def test_negatives_are_other_with_empty_masks(phantom):
    cines = {c["variant"]: c for c in _index(phantom / "all")["cines"]}
    for variant in ("rotated", "flipped", "noncardiac"):
        c = cines[variant]
        _, masks = _cine(phantom / "all", c)
        assert c["view"] == "OTHER" and c["ef"] is None and not masks.any()
    assert cines["rotated"]["source_view"] == "A4C" and cines["flipped"]["flip"] in ("lr", "ud")
    assert cines["flipped"]["ef_3d"] is not None and cines["noncardiac"]["ef_3d"] is None
    assert cines["noncardiac"]["scene"] == "liver" and cines["noncardiac"]["ed"] is None


def test_same_seed_same_bytes(tmp_path):
    args = dict(n_frames=2, size=(64, 64), variants=["clean", "noncardiac"], views=["PSAX"])
    write_phantom(tmp_path / "a", 3, 11, **args)
    write_phantom(tmp_path / "b", 3, 11, workers=1, **args)
    r = subprocess.run([sys.executable, "-m", "sonoedge_phantom", "generate", "--out", str(tmp_path / "c"),
                        "--cines", "3", "--seed", "11", "--frames", "2", "--size", "64", "--variants",
                        "clean,noncardiac", "--views", "PSAX", "--quiet"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["cine_00000.npz", "cine_00001.npz", "cine_00002.npz", "index.json"]
    for other in ("b", "c"):
        assert sorted(p.name for p in (tmp_path / other).iterdir()) == names
        for n in names:
            assert (tmp_path / "a" / n).read_bytes() == (tmp_path / other / n).read_bytes(), (other, n)
    write_phantom(tmp_path / "d", 3, 12, **args)
    assert (tmp_path / "d" / "cine_00000.npz").read_bytes() != (tmp_path / "a" / "cine_00000.npz").read_bytes()


def test_cli_usage_errors(tmp_path):
    base = [sys.executable, "-m", "sonoedge_phantom", "generate", "--out", str(tmp_path), "--seed", "1"]
    r = subprocess.run(base + ["--cines", "2", "--variants", "clean,blurry"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr == (
        "python -m sonoedge_phantom: E_ARG: unknown variant 'blurry'; expected one of clean, noisy, shadow, "
        "gain_low, gain_high, off_axis, foreshortened, rotated, flipped, noncardiac\n")
    r = subprocess.run(base + ["--cines", "0"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr == (
        "python -m sonoedge_phantom: E_ARG: expected a positive integer for cines but received 0\n")
    assert not (tmp_path / "index.json").exists()


def test_reader_crops_resizes_and_scales_spacing(phantom):
    root = phantom / "all"
    ds = load_phantom(root, size=(64, 80))
    idx = _index(root)
    assert len(ds) == 30 and ds.frames.shape == ds.masks.shape == (30, 64, 80)
    assert ds.frames.dtype == ds.masks.dtype == np.uint8 and ds.spacing.dtype == np.float32
    assert ds.view.dtype == np.int64 and ds.cine.dtype == ds.frame.dtype == np.int32
    assert ds.cines == idx["cines"]
    assert ds.view.tolist() == [0] * 21 + [4] * 9
    assert ds.cine.tolist() == [i for i in range(10) for _ in range(3)] and ds.frame.tolist() == [0, 1, 2] * 10
    c = idx["cines"][5]  # non-square pixels
    sx, sy = c["spacing_mm"]
    assert sx != sy
    r = c["roi"]
    rows = ds.cine == 5
    np.testing.assert_array_equal(ds.spacing[rows], np.tile(np.array([sx * r["width"] / 80, sy * r["height"] / 64],
                                                                      np.float32), (3, 1)))
    frames, masks = _cine(root, c)
    crop = (slice(None), slice(r["y"], r["y"] + r["height"]), slice(r["x"], r["x"] + r["width"]))
    np.testing.assert_array_equal(ds.frames[rows], np.stack([cv2.resize(f, (80, 64), interpolation=cv2.INTER_AREA)
                                                             for f in frames[crop]]))
    np.testing.assert_array_equal(ds.masks[rows], resize_masks(np.ascontiguousarray(masks[crop]), (64, 80)))


def _copy(src, dst):
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_reader_errors(phantom, tmp_path):
    src = phantom / "all"
    with pytest.raises(DatasetError) as e:
        load_phantom(tmp_path / "nowhere")
    assert str(e.value) == (f"E_DATASET_MISSING: {tmp_path / 'nowhere' / 'index.json'}: phantom index not found "
                            "(expected index.json written by `python -m sonoedge_phantom generate`)")
    d = _copy(src, tmp_path / "fmt")
    idx = _index(d)
    (d / "index.json").write_text(json.dumps({**idx, "format": "sonoedge-sim/1"}))
    with pytest.raises(DatasetError) as e:
        load_phantom(d)
    assert str(e.value) == (f"E_DATASET_CORRUPT: {d / 'index.json'}: expected format 'sonoedge-phantom/1' but "
                            "received 'sonoedge-sim/1'")
    (d / "index.json").write_text("[1, 2")
    with pytest.raises(DatasetError) as e:
        load_phantom(d)
    assert e.value.code == "E_DATASET_CORRUPT" and str(e.value).startswith(f"E_DATASET_CORRUPT: {d / 'index.json'}: "
                                                                           "not valid JSON (")
    d = _copy(src, tmp_path / "npz")
    (d / "cine_00004.npz").unlink()
    with pytest.raises(DatasetError) as e:
        load_phantom(d)
    assert str(e.value) == (f"E_DATASET_MISSING: {d / 'cine_00004.npz'}: cine file listed in index.json is "
                            "missing")
    d = _copy(src, tmp_path / "len")
    idx = _index(d)
    idx["cines"][3]["n_frames"] = 4
    (d / "index.json").write_text(json.dumps(idx))
    with pytest.raises(DatasetError) as e:
        load_phantom(d)
    assert str(e.value) == (f"E_DATASET_CORRUPT: {d / 'cine_00003.npz'}: index.json says 4 frames but the file "
                            "holds 3")
    d = _copy(src, tmp_path / "arr")
    with np.load(d / "cine_00001.npz") as z:
        np.savez(d / "cine_00001.npz", frames=z["frames"], masks=z["masks"][:2])
    with pytest.raises(DatasetError) as e:
        load_phantom(d)
    assert str(e.value) == (f"E_DATASET_CORRUPT: {d / 'cine_00001.npz'}: masks [2, 96, 96] must match frames "
                            "[3, 96, 96]")
    np.savez(d / "cine_00001.npz", frames=np.zeros((3, 96, 96), np.uint8), masks=np.full((3, 96, 96), 4, np.uint8))
    with pytest.raises(DatasetError) as e:
        load_phantom(d)
    assert str(e.value) == (f"E_LABEL_RANGE: {d / 'cine_00001.npz'}: masks holds label 4 but the expected range is "
                            "0..3")
    d = _copy(src, tmp_path / "entry")
    idx = _index(d)
    idx["cines"][2]["spacing_mm"] = [0.5]
    (d / "index.json").write_text(json.dumps(idx))
    with pytest.raises(DatasetError) as e:
        load_phantom(d)
    assert str(e.value) == (f"E_DATASET_CORRUPT: {d / 'index.json'}: cines[2].spacing_mm must be [sx, sy] in mm "
                            "(two positive numbers) but received [0.5]")
    del idx["cines"][2]["roi"]
    (d / "index.json").write_text(json.dumps(idx))
    with pytest.raises(DatasetError) as e:
        load_phantom(d)
    assert str(e.value) == (f"E_DATASET_CORRUPT: {d / 'index.json'}: cines[2] lacks 'roi' (expected "
                            "{x, y, width, height})")
    (d / "index.json").write_text(json.dumps({"format": FORMAT, "cines": []}))
    with pytest.raises(DatasetError) as e:
        load_phantom(d)
    assert str(e.value) == f"E_DATASET_EMPTY: {d / 'index.json'}: dataset has no cines"


def test_ef_schedule_index_repeats_across_seeds_and_seeded_does_not(tmp_path):
    from sonoedge_phantom.generate import GOLDEN, cine_plan
    views = ["A4C", "A2C"]
    # "index" (the default): cine i's target EF, view and pixel aspect do not depend on the seed.
    a, b = cine_plan(6, 620, ["clean"], views), cine_plan(6, 621, ["clean"], views)
    assert [p[2:] for p in a] == [p[2:] for p in b]
    assert [round(p[5], 12) for p in a] == [round(0.20 + 0.55 * ((i * GOLDEN) % 1.0), 12) for i in range(6)]
    assert [p[2] for p in a] == ["A4C", "A2C"] * 3 and [p[6] for p in a] == [False, False, True] * 2
    assert a[0][1] != b[0][1]  # the cine seeds (anatomy, probe, speckle) do
    # "seeded": the schedule starts where the seed says; the same seed gives the same plan, and a run of cines still
    # spreads over 20..75% (a golden-ratio sequence from any start).
    s1, s2 = cine_plan(40, 620, ["clean"], views, "seeded"), cine_plan(40, 621, ["clean"], views, "seeded")
    assert s1 == cine_plan(40, 620, ["clean"], views, "seeded")
    assert [round(p[5], 6) for p in s1] != [round(p[5], 6) for p in s2]
    for plan in (s1, s2):
        ef = np.array([p[5] for p in plan])
        assert 0.20 <= ef.min() and ef.max() < 0.75
        assert np.histogram(ef, bins=5, range=(0.20, 0.75))[0].min() >= 6  # 40 cines, 8 per fifth of the range
        assert sum(p[6] for p in plan) in (13, 14) and {p[2] for p in plan} == set(views)
    with pytest.raises(PhantomError, match="E_ARG: unknown EF schedule 'random'; expected one of index, seeded"):
        write_phantom(tmp_path / "x", 2, 1, ef_schedule="random")
    assert not (tmp_path / "x").exists()
    write_phantom(tmp_path / "s", 2, 5, n_frames=2, size=(64, 64), variants=["clean"], views=views,
                  ef_schedule="seeded", images=False)
    index = json.loads((tmp_path / "s" / "index.json").read_text())
    assert index["ef_schedule"] == "seeded"
    write_phantom(tmp_path / "i", 2, 5, n_frames=2, size=(64, 64), variants=["clean"], views=views, images=False)
    assert "ef_schedule" not in json.loads((tmp_path / "i" / "index.json").read_text())
