"""evaluate-real: the bundled packages on the generated EchoNet-Dynamic and CAMUS trees (real_fixtures.py)."""
import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from sonoedge_train.cli import main
from sonoedge_train.errors import DatasetError, PackageError
from sonoedge_train.evaluate_real import (area_length_volume_xy, area_weights, evaluate_real, id_states,
                                          lv_area_length_xy, resize, sector_box)
from sonoedge_train.metrics import area_length_volume, dice, lv_area_length
from sonoedge_train.real_fixtures import write_camus_mhd, write_camus_nifti, write_echonet

MODELS = Path(__file__).resolve().parents[2] / "models"
# The bundled models were trained on the simulator and the fixtures' images are simulated apical frames, so the
# LV is found well (measured: EchoNet fixture 0.965, CAMUS 0.983); the bounds catch a transposed, shifted or
# mis-scaled pipeline (those give Dice far below 0.5), not model changes of a few points.
MIN_LV_DICE = 0.9
MAX_EF_MAE = 6.0  # measured 1.4 (EchoNet fixture) and 4.4 (CAMUS fixture, single plane vs the biplane reference)
ROUNDING = 1e-6  # the fixtures write EF with 8 decimals (EchoNet) or 1 decimal (CAMUS cfg, compared to its own)


def _manifest(task):
    return json.loads((MODELS / task / "manifest.json").read_text())


def _independent(task, luma01_255, box):
    """The model input and outputs computed here without evaluate_real: crop, cv2 area resize, the manifest's
    normalisation, a plain ORT session."""
    m = _manifest(task)
    n = m["preprocessing"]["options"]["normalize"]
    y0, y1, x0, x1 = box
    h, w = m["inputs"]["image"]["spatial_shape"]
    crop = luma01_255[y0:y1, x0:x1].astype(np.float32)
    v = crop if crop.shape == (h, w) else cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
    x = ((v * n["scale"] - n["mean"]) / n["std"]).astype(np.float32)[None, None]
    s = ort.InferenceSession(str(MODELS / task / m["variants"]["fp32"]["file"]), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, {"image": x})))


def test_area_length_xy():
    rng = np.random.default_rng(0)
    for _ in range(5):  # square pixels: the harness's rule exactly
        m = cv2.GaussianBlur(rng.random((60, 50)), (0, 0), 4) > 0.5
        a, l = lv_area_length_xy(m, 0.7, 0.7)
        assert (a, l) == pytest.approx(lv_area_length(m, 0.7), rel=1e-12)
    tall = np.zeros((40, 40), bool)
    tall[5:35, 10:20] = True  # 30 rows by 10 columns: the long axis runs along y
    assert lv_area_length_xy(tall, 0.9, 0.6) == pytest.approx((300 * 0.9 * 0.6, 30 * 0.6))
    assert lv_area_length_xy(tall, 0.2, 0.6) == pytest.approx((300 * 0.2 * 0.6, 30 * 0.6))
    # 0.1 mm columns make the same pixels 3 mm wide and 18 mm long: still along y; 3 mm rows: along x
    assert lv_area_length_xy(tall, 0.1, 3.0) == pytest.approx((300 * 0.3, 30 * 3.0))
    assert area_length_volume_xy(tall, 0.9, 0.6) == pytest.approx(area_length_volume(162.0, 18.0))
    assert lv_area_length_xy(np.zeros((5, 5), bool), 1, 1) == (0.0, 0.0)
    # a tilted blob on a non-square grid against the runtime's formulation (postprocess.ts areaLength)
    m = cv2.GaussianBlur(rng.random((60, 50)), (0, 0), 4) > 0.5
    m[:30, :25] = np.tri(30, 25, dtype=bool)
    ys, xs = np.nonzero(m)
    x, y = xs * 0.9 - (xs * 0.9).mean(), ys * 0.6 - (ys * 0.6).mean()
    th = 0.5 * np.arctan2(2 * (x * y).sum(), (x * x).sum() - (y * y).sum())
    proj = x * np.cos(th) + y * np.sin(th)
    want = proj.max() - proj.min() + np.hypot(np.cos(th) * 0.9, np.sin(th) * 0.6)
    assert lv_area_length_xy(m, 0.9, 0.6) == pytest.approx((len(xs) * 0.54, want), rel=1e-9)


def test_resize_rules():
    w = area_weights(7, 3)
    assert w.sum(1) == pytest.approx(np.ones(3)) and w[0, :3] == pytest.approx([3 / 7, 3 / 7, 1 / 7])
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (300, 217)).astype(np.float32)
    # OpenCV's area downscaling is the same overlap rule (float rounding apart)
    assert np.abs(resize(img, (112, 112)) - cv2.resize(img, (112, 112), interpolation=cv2.INTER_AREA)).max() < 1e-3
    assert np.array_equal(resize(img, img.shape), img)
    assert np.abs(resize(img, (150, 400), "bilinear") - cv2.resize(img, (400, 150))).max() < 1e-3
    assert sector_box(np.pad(np.ones((2, 3, 4)), ((0, 0), (5, 1), (2, 7)))) == (5, 8, 2, 6)
    assert sector_box(np.zeros((4, 6))) == (0, 4, 0, 6)


def test_id_states():
    assert id_states([0.9, 0.8, 0.5, 0.3, 0.29], ok=0.8, unknown=0.3).tolist() == \
        ["ok", "ok", "uncertain", "uncertain", "unknown"]


@pytest.fixture(scope="module")
def echonet_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("echonet")
    truth = write_echonet(root / "data")
    return root, truth, evaluate_real(root / "out", echonet=root / "data", split="TEST", packages=MODELS, n_boot=200,
                                      log=None)


def test_echonet(echonet_run):
    root, truth, res = echonet_run
    assert res["dataset"]["split"] == "TEST" and res["dataset"]["notes"]["untraced"] == 1
    assert res["frames"] == 48 and sum(res["view"]["counts"].values()) == 48 and res["view"]["expected"] == ["A4C"]
    assert res["quality"]["diagnostic_threshold"] == _manifest("view_quality")["postprocessing"]["quality"][
        "thresholds"]["diagnostic"]
    # the bundled view package has an id_score output: every frame gets a state under the manifest's thresholds
    th = _manifest("view_quality")["postprocessing"]["id_score"]["thresholds"]
    assert res["id_state"]["thresholds"] == th and sum(res["id_state"]["counts"].values()) == 48
    assert res["packages"]["lv_segmentation"]["sha256"] == _manifest("lv_segmentation")["variants"]["fp32"]["sha256"]
    cases = {c["case"]: c for c in res["cases"]}
    assert cases["0X7B3E9D2A6C1F0845"]["ed"] is None and "dice_ed" not in cases["0X7B3E9D2A6C1F0845"]
    # the area-length EF of the reference tracings is FileList.csv's EF (the fixture wrote it with that rule)
    assert res["ef_reference_masks"]["n"] == 2 and res["ef_reference_masks"]["mae"] < ROUNDING
    assert res["lv_dice"]["n"] == 4 and res["lv_dice"]["mean"] > MIN_LV_DICE
    assert res["ef"]["n"] == 2 and res["ef"]["mae"] < MAX_EF_MAE and res["ef"]["corr"] is not None
    # one frame recomputed independently: decode, BT.601 luma, whole frame, normalise, ORT, argmax
    name = "0X4F2E6B1C0D3A5978"
    cap = cv2.VideoCapture(str(root / "data" / "Videos" / f"{name}.avi"))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f.astype(np.float32) @ np.array([0.114, 0.587, 0.299], np.float32))
    box = (0, 112, 0, 112)
    ed = truth[name]["ed"]
    pred = _independent("lv_segmentation", frames[ed], box)["logits"][0].argmax(0) == 1
    assert cases[name]["dice_ed"] == pytest.approx(dice(pred, truth[name]["ref_masks"][ed] == 1), abs=1e-9)
    with open(root / "out" / "frames.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 48 and list(rows[0]) == ["case", "frame", "view", "view_prob", "expected_view", "quality",
                                                 "id_score", "id_state"]
    vq = _independent("view_quality", frames[0], box)
    assert float(rows[0]["quality"]) == pytest.approx(float(vq["quality"].ravel()[0]), abs=1e-4)
    assert rows[0]["view"] == ["A4C", "A2C", "PLAX", "PSAX", "OTHER"][int(vq["view"].argmax())]
    saved = json.loads((root / "out" / "metrics.json").read_text())
    assert saved["lv_dice"] == res["lv_dice"] and saved["cases"] == json.loads(json.dumps(res["cases"]))
    report = (root / "out" / "report.md").read_text()
    assert report.startswith("# sonoedge on real data: EchoNet-Dynamic TEST\n")
    assert f"| LV Dice at ED/ES (n 4) | {res['lv_dice']['mean']:.3f} (" in report
    assert f"In-distribution state (ok >= {th['ok']}, unknown < {th['unknown']}):" in report


@pytest.mark.parametrize("release", ["mhd", "nifti"])
def test_camus(tmp_path, release):
    truth = (write_camus_mhd if release == "mhd" else write_camus_nifti)(tmp_path / "data")
    res = evaluate_real(tmp_path / "out", camus=tmp_path / "data", packages=MODELS, n_boot=100, log=None)
    assert res["dataset"] == {"name": "CAMUS", "root": str(tmp_path / "data"), "release": release, "views": 4}
    assert res["frames"] == sum(t["n_frames"] for t in truth.values()) and res["view"]["expected"] == ["A2C", "A4C"]
    assert res["lv_dice"]["n"] == 8 and res["lv_dice"]["mean"] > MIN_LV_DICE
    assert res["myo_dice"]["n"] == 8 and res["la_dice"]["n"] == 8
    assert res["ef"]["n"] == 4 and res["ef"]["mae"] < MAX_EF_MAE
    for c in res["cases"]:
        t = truth[(c["patient"], c["view"])]
        assert c["box"] == list(sector_box(t["images"]))
        assert (c["sx"], c["sy"]) == pytest.approx((0.9, 0.6), rel=1e-7) and c["ef_ref"] == t["ef"]
        # NIfTI keeps the spacing in float32, which moves the anisotropic area-length EF by ~1e-6 points
        assert c["ef_ref_masks"] == pytest.approx(t["ef_masks"], abs=1e-9 if release == "mhd" else 1e-5)
    c = res["cases"][0]
    t = truth[(c["patient"], c["view"])]
    vq = _independent("view_quality", t["images"][0].astype(np.float32), c["box"])
    with open(tmp_path / "out" / "frames.csv") as f:
        row = next(csv.DictReader(f))
    assert (row["case"], row["frame"], row["expected_view"]) == ("patient0001_2CH", "0", "A2C")
    assert float(row["quality"]) == pytest.approx(float(vq["quality"].ravel()[0]), abs=1e-3)


def test_cli_and_errors(tmp_path, capsys):
    write_camus_nifti(tmp_path / "data")
    assert main(["evaluate-real", "--camus", str(tmp_path / "data"), "--packages", str(MODELS), "--boot", "20",
                 "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# sonoedge on real data: CAMUS (nifti)\n") and "frames.csv (22 frames)" in out
    with pytest.raises(PackageError) as e:
        evaluate_real(tmp_path / "o", camus=tmp_path / "data", packages=MODELS, variant="fp8", log=None)
    assert e.value.code == "E_PACKAGE_VARIANT" and e.value.message == \
        f"{MODELS / 'view_quality'}: variant 'fp8' expected to be one of fp32, int8"
    pk = tmp_path / "models"
    shutil.copytree(MODELS / "view_quality", pk / "view_quality")
    shutil.copytree(MODELS / "lv_segmentation", pk / "lv_segmentation")
    with open(pk / "lv_segmentation" / "README.md", "a") as f:
        f.write("tampered\n")
    with pytest.raises(PackageError) as e:
        evaluate_real(tmp_path / "o", camus=tmp_path / "data", packages=pk, trust=MODELS / "trust", log=None)
    assert e.value.code == "E_PACKAGE_CHECKSUM" and e.value.where == "README.md"
    with pytest.raises(DatasetError) as e:
        evaluate_real(tmp_path / "o", packages=MODELS, log=None)
    assert str(e.value) == "E_DATASET_ARGS: expected exactly one of --echonet DIR and --camus DIR but received neither"
    with pytest.raises(DatasetError) as e:
        evaluate_real(tmp_path / "o", camus=tmp_path / "data", split="TEST", packages=MODELS, log=None)
    assert str(e.value) == ("E_DATASET_SPLIT: --split expected only with --echonet (CAMUS has no split column) but "
                            "received 'TEST'")
    assert main(["evaluate-real", "--echonet", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"),
                 "--packages", str(MODELS)]) == 2
    assert capsys.readouterr().err == (f"error: E_DATASET_MISSING: {tmp_path / 'nowhere' / 'FileList.csv'}: file not "
                                       f"found (expected the EchoNet-Dynamic release's FileList.csv in "
                                       f"{tmp_path / 'nowhere'})\n")


def test_echonet_video_disagrees(tmp_path, capsys):
    """A video whose size is not FileList.csv's FrameHeight x FrameWidth (the reference masks are drawn at that size:
    Dice raised a broadcasting ValueError): one error line, exit 2, no output."""
    write_echonet(tmp_path / "data")
    video = tmp_path / "data" / "Videos" / "0X1A05DFFFCAFB253B.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 50, (96, 80))
    for i in range(16):
        w.write(np.full((80, 96, 3), 15 * i, np.uint8))
    w.release()
    assert main(["evaluate-real", "--echonet", str(tmp_path / "data"), "--split", "train", "--packages", str(MODELS),
                 "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (f"error: E_DATASET_CORRUPT: {video}: frames are 80x96 but FileList.csv lists "
                                       "FrameHeight x FrameWidth 112x112\n")
    assert not (tmp_path / "out").exists()


def test_outputs_all_or_nothing(tmp_path):
    """A write that fails midway (here the file size limit, RLIMIT_FSIZE: EFBIG on the third file, after frames.csv
    and report.md were written) leaves the earlier report.md, frames.csv and metrics.json exactly as they were and
    no partial file; before, metrics.json was cut short in place and the earlier one lost."""
    import errno
    import resource
    write_camus_nifti(tmp_path / "data")
    out = tmp_path / "out"
    evaluate_real(out, camus=tmp_path / "data", packages=MODELS, n_boot=20, log=None)
    names = ["frames.csv", "metrics.json", "report.md"]
    assert sorted(p.name for p in out.iterdir()) == names
    sizes = {n: (out / n).stat().st_size for n in names}
    limit = 3000
    assert sizes["frames.csv"] < limit and sizes["report.md"] < limit < sizes["metrics.json"], sizes
    for n in names:
        (out / n).write_text(f"earlier {n}\n")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        with pytest.raises(OSError) as e:
            evaluate_real(out, camus=tmp_path / "data", packages=MODELS, n_boot=20, log=None)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert e.value.errno == errno.EFBIG
    assert sorted(p.name for p in out.iterdir()) == names
    assert {n: (out / n).read_text() for n in names} == {n: f"earlier {n}\n" for n in names}


def test_out_is_a_file(tmp_path, capsys):
    """--out that is a file: refused before the packages load (it was a FileExistsError traceback at the end)."""
    (tmp_path / "f").write_text("x")
    assert main(["evaluate-real", "--camus", str(tmp_path / "nowhere"), "--packages", str(MODELS), "--out",
                 str(tmp_path / "f")]) == 2
    assert capsys.readouterr().err == f"error: E_DATASET_ARGS: --out expected a folder but {tmp_path / 'f'} is a file\n"
    assert (tmp_path / "f").read_text() == "x"


ID_SCALE = 0.002
ID_MODEL = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "id-score" / "view_id.onnx"


def _id_score_packages(tmp_path):
    """models/ with a view package that has an id_score output (the runtime's tiny test model: 64x64 input,
    id_score = clip(10 * mean - 0.3, 0, 1)), its input scaled by 0.002 so that the fixture's patients (crop means
    about 39, 40 and 65) score about 0.47, 0.5 and 1.0, and thresholds {ok 0.8, unknown 0.48}; signed by a test
    key."""
    from sonoedge_train.package import dump_manifest, file_entry, keygen, load_private_key, sign_package
    pk = tmp_path / "pk"
    shutil.copytree(MODELS / "lv_segmentation", pk / "lv_segmentation")
    vq = pk / "view_quality"
    vq.mkdir()
    shutil.copy(ID_MODEL, vq / "model.fp32.onnx")
    shutil.copy(MODELS / "view_quality" / "README.md", vq / "README.md")
    m = _manifest("view_quality")
    m["inputs"]["image"].update(spatial_shape=[64, 64], shape=[1, 1, 64, 64])
    m["preprocessing"]["options"]["output"].update(width=64, height=64)
    m["preprocessing"]["options"]["normalize"] = {"mean": 0.0, "std": 1.0, "scale": ID_SCALE}
    m["outputs"]["id_score"] = {**m["outputs"]["quality"], "channel_def": {"0": "in-distribution score"}}
    del m["outputs"]["guidance"], m["postprocessing"]["guidance"]
    m["postprocessing"]["id_score"] = {"activation": "none", "argmax": False,
                                       "thresholds": {"ok": 0.8, "unknown": 0.48}}
    m["variants"] = {"fp32": {**m["variants"]["fp32"], **file_entry(vq / "model.fp32.onnx")}}
    m["files"] = {"README.md": file_entry(vq / "README.md")}
    (vq / "manifest.json").write_bytes(dump_manifest(m))
    keygen(tmp_path / "k.pem", tmp_path / "trust", "test")
    for pub in (MODELS / "trust").glob("*.pub"):
        shutil.copy(pub, tmp_path / "trust" / pub.name)
    sign_package(vq, load_private_key(tmp_path / "k.pem"))
    return pk


def test_id_score_states(tmp_path):
    truth = write_camus_nifti(tmp_path / "data")
    pk = _id_score_packages(tmp_path)
    res = evaluate_real(tmp_path / "out", camus=tmp_path / "data", packages=pk, trust=tmp_path / "trust", n_boot=0,
                        log=None)
    with open(tmp_path / "out" / "frames.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[-2:] == ["id_score", "id_state"] and len(rows) == res["frames"] == 22
    boxes = {c["case"]: c["box"] for c in res["cases"]}
    for r in rows:
        patient, view = r["case"].split("_")
        y0, y1, x0, x1 = boxes[r["case"]]
        crop = truth[(patient, view)]["images"][int(r["frame"])][y0:y1, x0:x1].astype(np.float32)
        mean = cv2.resize(crop, (64, 64), interpolation=cv2.INTER_AREA).mean() * ID_SCALE
        assert float(r["id_score"]) == pytest.approx(min(1.0, max(0.0, 10 * mean - 0.3)), abs=1e-4)
        assert r["view"] == "A4C"  # the test model's constant logits
    states = id_states([float(r["id_score"]) for r in rows], 0.8, 0.48)
    assert [r["id_state"] for r in rows] == states.tolist()
    s = res["id_state"]
    assert s["thresholds"] == {"ok": 0.8, "unknown": 0.48} and min(s["counts"].values()) > 0
    assert s["counts"] == {k: int((states == k).sum()) for k in ("ok", "uncertain", "unknown")}
    assert sum(s["counts"].values()) == 22 and s["fractions"]["ok"] == s["counts"]["ok"] / 22
    assert "In-distribution state (ok >= 0.8, unknown < 0.48):" in (tmp_path / "out" / "report.md").read_text()
