"""import-real (sonoedge-real/1), SimDataset's acceptance of it, and the losses' partial-annotation labels."""
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sonoedge_train.cli import main
from sonoedge_train.data.camus import load_camus
from sonoedge_train.data.echonet import load_echonet, read_video
from sonoedge_train.data.labels import IGNORE, NOT_LV
from sonoedge_train.data.synthetic import SimDataset
from sonoedge_train.errors import DatasetError
from sonoedge_train.evaluate_real import resize, sector_box
from sonoedge_train.import_real import DARK, echonet_outside_sector, import_real, resize_labels
from sonoedge_train.losses import DiceCELoss, focal_loss, partial_cross_entropy, soft_dice_loss
from sonoedge_train.real_fixtures import notebook_sector_mask, write_camus_mhd, write_echonet


def test_import_echonet(tmp_path):
    write_echonet(tmp_path / "data")
    assert main(["import-real", "--echonet", str(tmp_path / "data"), "--split", "train", "--out",
                 str(tmp_path / "ds")]) == 0
    index = json.loads((tmp_path / "ds" / "index.json").read_text())
    assert index["format"] == "sonoedge-real/1" and index["image_size"] == [112, 112]
    assert index["special_labels"] == {"not_lv": 254, "ignore": 255}
    assert index["source"]["dataset"] == "EchoNet-Dynamic" and index["source"]["split"] == "TRAIN"
    items = load_echonet(tmp_path / "data", "TRAIN")
    assert [(c["name"], c["ed"], c["es"], c["ef"], c["spacing_mm"], c["view"]) for c in index["cines"]] == \
        [(it.name, it.ed, it.es, it.ef, None, "A4C") for it in items]
    ds = SimDataset(tmp_path / "ds")
    assert len(ds) == 4 and ds.view.tolist() == [0] * 4 and ds.quality.tolist() == [-1] * 4
    assert ds.guidance.tolist() == [-1] * 4 and ds.cine.tolist() == [0, 0, 1, 1]
    assert ds.frame.tolist() == [items[0].ed, items[0].es, items[1].ed, items[1].es]
    assert np.isnan(ds.spacing).all()
    for k, it in enumerate(items):
        luma = read_video(it.video)
        outside = echonet_outside_sector(luma)
        # background: outside the notebook's sector mask and dark in every frame; never inside the tracing
        assert np.array_equal(outside, (notebook_sector_mask(112) == 0) & (luma.max(0) < DARK)) and outside.sum() > 3000
        for j, f in enumerate((it.ed, it.es)):
            i = 2 * k + j
            assert np.array_equal(ds.frames[i], np.clip(np.rint(luma[f]), 0, 255).astype(np.uint8))
            want = np.full((112, 112), NOT_LV, np.uint8)
            want[outside] = 0
            want[it.traced[f] == 1] = 1
            assert np.array_equal(ds.masks[i], want)


def test_import_camus_resized(tmp_path):
    write_camus_mhd(tmp_path / "data")
    import_real(tmp_path / "ds", camus=tmp_path / "data", size=64, log=lambda *_: None)
    ds = SimDataset(tmp_path / "ds")
    with np.load(tmp_path / "ds" / "shard_00000.npz") as z:
        spacing_xy = z["spacing_xy"]
    views = load_camus(tmp_path / "data")
    assert len(ds) == 8 and ds.view.tolist() == [1, 1, 0, 0, 1, 1, 0, 0]  # 2CH -> A2C, 4CH -> A4C
    for k, it in enumerate(views):
        y0, y1, x0, x1 = sector_box(np.stack([it.ed_image, it.es_image]))
        assert spacing_xy[2 * k].tolist() == pytest.approx([0.9 * (x1 - x0) / 64, 0.6 * (y1 - y0) / 64])
        for j, (img, m) in enumerate(((it.ed_image, it.ed_mask), (it.es_image, it.es_mask))):
            assert np.array_equal(ds.frames[2 * k + j], np.clip(np.rint(resize(img[y0:y1, x0:x1], (64, 64))), 0, 255))
            assert np.array_equal(ds.masks[2 * k + j], resize_labels(m[y0:y1, x0:x1], (64, 64)))
    assert set(np.unique(ds.masks)) == {0, 1, 2, 3}
    assert json.loads((tmp_path / "ds" / "index.json").read_text())["cines"][0]["spacing_mm"] == \
        pytest.approx(spacing_xy[0].tolist())


def test_import_errors(tmp_path):
    with pytest.raises(DatasetError) as e:
        import_real(tmp_path / "ds", camus=tmp_path, split="TRAIN")
    assert str(e.value) == ("E_DATASET_SPLIT: --split expected only with --echonet (CAMUS has no split column) but "
                            "received 'TRAIN'")
    with pytest.raises(DatasetError) as e:
        import_real(tmp_path / "ds", echonet=tmp_path, camus=tmp_path)
    assert str(e.value) == "E_DATASET_ARGS: expected exactly one of --echonet DIR and --camus DIR but received both"
    with pytest.raises(DatasetError) as e:
        import_real(tmp_path / "ds", camus=tmp_path, size=4)
    assert str(e.value) == "E_DATASET_ARGS: --size expected an integer of at least 8 but received 4"


def test_resize_labels():
    m = np.array([[1, 1, NOT_LV, NOT_LV], [1, 1, NOT_LV, 0], [0, 0, 3, 3], [0, 0, 3, IGNORE]], np.uint8)
    assert resize_labels(m, (2, 2)).tolist() == [[1, NOT_LV], [0, 3]]
    assert np.array_equal(resize_labels(m, (4, 4)), m)


def _shard(path, n, masks, quality):
    np.savez(path, frames=np.zeros((n, 4, 4), np.uint8), masks=masks, view=np.zeros(n, np.int64),
             quality=quality, guidance=np.full(n, -1), cine=np.zeros(n, np.int32), frame=np.arange(n, dtype=np.int32),
             spacing=np.full(n, np.nan, np.float32))


@pytest.mark.parametrize("fmt, mask_value, q, err", [
    ("sonoedge-real/1", NOT_LV, -1.0, None), ("sonoedge-real/1", IGNORE, 0.5, None),
    ("sonoedge-real/1", 200, -1.0, "masks holds label 200 but the expected range is 0..3"),
    ("sonoedge-sim/1", NOT_LV, 0.5, "masks holds label 254 but the expected range is 0..3"),
    ("sonoedge-sim/1", 1, -1.0, "quality holds -1.0 but the expected range is [0, 1]"),
])
def test_simdataset_real_format(tmp_path, fmt, mask_value, q, err):
    masks = np.zeros((2, 4, 4), np.uint8)
    masks[1, 0, 0] = mask_value
    _shard(tmp_path / "s.npz", 2, masks, np.array([q, q], np.float32))
    (tmp_path / "index.json").write_text(json.dumps({"format": fmt, "shards": [{"file": "s.npz", "n_frames": 2}]}))
    if err is None:
        ds = SimDataset(tmp_path)
        assert ds.masks[1, 0, 0] == mask_value and ds.quality.tolist() == [q, q]
        return
    with pytest.raises(DatasetError) as e:
        SimDataset(tmp_path)
    assert e.value.code == "E_LABEL_RANGE" and e.value.message == f"{tmp_path / 's.npz'}: {err}"


# --- losses with partial annotations ----------------------------------------------------------------------------

def test_cross_entropy_not_lv_and_ignore():
    logits = torch.zeros(1, 4, 1, 3)  # p = 1/4 for every class
    t = torch.tensor([[[NOT_LV, IGNORE, 2]]])
    # NOT_LV: -log(1 - p_LV) = -log(3/4); IGNORE: nothing; class 2: -log(1/4)
    assert partial_cross_entropy(logits, t).item() == pytest.approx((-math.log(0.75) - math.log(0.25)) / 2)
    assert focal_loss(logits, t, gamma=0.0).item() == pytest.approx((-math.log(0.75) - math.log(0.25)) / 2)
    assert focal_loss(logits, t, gamma=2.0).item() == pytest.approx(
        (-(0.25 ** 2) * math.log(0.75) - (0.75 ** 2) * math.log(0.25)) / 2)
    assert partial_cross_entropy(logits, torch.full((1, 1, 3), IGNORE)).item() == 0.0
    plain = torch.randint(0, 4, (2, 5, 5))
    lg = torch.randn(2, 4, 5, 5)
    assert partial_cross_entropy(lg, plain).item() == pytest.approx(F.cross_entropy(lg, plain).item(), rel=1e-6)


def test_not_lv_pushes_lv_down_only():
    logits = torch.zeros(1, 4, 1, 1, requires_grad=True)
    partial_cross_entropy(logits, torch.tensor([[[NOT_LV]]])).backward()
    g = logits.grad[0, :, 0, 0]
    assert g[1] > 0 and (g[[0, 2, 3]] < 0).all()  # descent lowers the LV logit, raises the others alike
    assert g[0] == pytest.approx(g[2].item()) and g[2] == pytest.approx(g[3].item())


def test_dice_with_partial_labels():
    # 2 pixels: LV and NOT_LV; probabilities 1/4 each. LV class: |P| = 0.25 + 0.25, |G| = 1, inter 0.25;
    # myocardium and LA: only the LV pixel counts, |P| = 0.25, |G| = 0
    logits = torch.zeros(1, 4, 1, 2)
    t = torch.tensor([[[1, NOT_LV]]])
    lv = 2 * 0.25 / 1.5
    assert soft_dice_loss(logits, t, smooth=0).item() == pytest.approx(1 - (lv + 0 + 0) / 3)
    # an IGNORE pixel changes nothing
    t2 = torch.tensor([[[1, NOT_LV, IGNORE]]])
    assert soft_dice_loss(torch.zeros(1, 4, 1, 3), t2, smooth=0).item() == pytest.approx(1 - lv / 3)
    full = torch.randint(0, 4, (2, 6, 6))
    lg = torch.randn(2, 4, 6, 6)
    assert DiceCELoss()(lg, full).item() == pytest.approx(
        (soft_dice_loss(lg, full) + F.cross_entropy(lg, full)).item(), rel=1e-6)


def _rewrite_video(path, n_frames, size):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 50, (size, size))
    for i in range(n_frames):
        w.write(np.full((size, size, 3), 15 * i, np.uint8))
    w.release()


def test_import_echonet_video_disagrees(tmp_path, capsys):
    """A video whose size is not FileList.csv's FrameHeight x FrameWidth (the tracings are drawn at that size: it
    was an IndexError), or that decodes to fewer frames than its traced ED/ES: one error line, exit 2, no output."""
    truth = write_echonet(tmp_path / "data")
    name = "0X1A05DFFFCAFB253B"
    video = tmp_path / "data" / "Videos" / f"{name}.avi"
    _rewrite_video(video, 16, 96)
    args = ["import-real", "--echonet", str(tmp_path / "data"), "--out", str(tmp_path / "ds")]
    assert main(args) == 2
    assert capsys.readouterr().err == (f"error: E_DATASET_CORRUPT: {video}: frames are 96x96 but FileList.csv lists "
                                       "FrameHeight x FrameWidth 112x112\n")
    assert not (tmp_path / "ds").exists()
    _rewrite_video(video, 3, 112)
    with pytest.raises(DatasetError) as e:
        import_real(tmp_path / "ds", echonet=tmp_path / "data", log=lambda *_: None)
    last = max(truth[name]["ed"], truth[name]["es"])
    assert e.value.code == "E_DATASET_CORRUPT" and e.value.path == str(video)
    assert e.value.message == f"{video}: traced frame {last} but the video decodes to 3 frames"
    assert not (tmp_path / "ds").exists()


def test_import_out_not_a_folder(tmp_path, capsys, monkeypatch):
    """--out that is a file, or under one (a FileExistsError / NotADirectoryError traceback after all the work), and a
    folder that cannot be made."""
    write_camus_mhd(tmp_path / "data")
    (tmp_path / "f").write_text("x")
    assert main(["import-real", "--camus", str(tmp_path / "data"), "--out", str(tmp_path / "f")]) == 2
    assert capsys.readouterr().err == f"error: E_DATASET_ARGS: --out expected a folder but {tmp_path / 'f'} is a file\n"
    with pytest.raises(DatasetError) as e:
        import_real(tmp_path / "f" / "ds", camus=tmp_path / "data", log=lambda *_: None)
    assert e.value.code == "E_DATASET_ARGS" and e.value.path == str(tmp_path / "f" / "ds")
    assert e.value.message == f"--out expected a folder but {tmp_path / 'f'} is a file"
    assert (tmp_path / "f").read_text() == "x"

    def refuse(self, *a, **k):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(DatasetError) as e:
        import_real(tmp_path / "ds", camus=tmp_path / "data", log=lambda *_: None)
    assert str(e.value) == f"E_DATASET_ARGS: --out: cannot create the folder {tmp_path / 'ds'} (Permission denied)"
