import csv
import gzip

import cv2
import nibabel as nib
import numpy as np
import pytest

from sonoedge_train.data.camus import load_camus, read_mhd
from sonoedge_train.data.echonet import load_echonet, read_video
from sonoedge_train.errors import DatasetError


def _echonet(root, tracings=True, ef="55.0"):
    (root / "Videos").mkdir(parents=True)
    w = cv2.VideoWriter(str(root / "Videos" / "0X1A.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 50, (112, 112))
    for i in range(5):
        fr = np.full((112, 112, 3), 40 * i, np.uint8)
        w.write(fr)
    w.release()
    with open(root / "FileList.csv", "w", newline="") as f:
        cw = csv.writer(f)
        cw.writerow(["FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames", "Split"])
        cw.writerow(["0X1A", ef, "30.0", "66.7", "112", "112", "50", "5", "TRAIN"])
    with open(root / "VolumeTracings.csv", "w", newline="") as f:
        cw = csv.writer(f)
        cw.writerow(["FileName", "X1", "Y1", "X2", "Y2", "Frame"])
        if tracings:
            # frame 4: small trace (ES), listed first; frame 1: large trace (ED)
            for frame, (x0, x1, y0, y1) in ((4, (40, 60, 30, 70)), (1, (30, 70, 20, 80))):
                cw.writerow(["0X1A.avi", (x0 + x1) / 2, y0, (x0 + x1) / 2, y1, frame])  # long axis
                for y in range(y0, y1 + 1, 10):
                    cw.writerow(["0X1A.avi", x0, y, x1, y, frame])


def test_echonet_reader(tmp_path):
    _echonet(tmp_path)
    items = load_echonet(tmp_path, split="train")
    assert len(items) == 1
    it = items[0]
    assert (it.name, it.ef, it.split, it.ed, it.es) == ("0X1A", 55.0, "TRAIN", 1, 4)
    # polygon (x0,y0)..(x0,y1) then (x1,y1)..(x1,y0): filled rectangle incl. its border
    assert it.ed_mask.sum() == 41 * 61 and it.es_mask.sum() == 21 * 41
    assert it.ed_mask[20, 30] == 1 and it.ed_mask[19, 30] == 0
    v = read_video(it.video)
    assert v.shape == (5, 112, 112) and abs(int(v[2].mean()) - 80) <= 2


def test_echonet_errors(tmp_path):
    _echonet(tmp_path, ef="140")
    with pytest.raises(DatasetError) as e:
        load_echonet(tmp_path)
    assert str(e.value) == f"E_LABEL_RANGE: {tmp_path / 'FileList.csv'}: EF of 0X1A is 140.0 but the expected range is 0..100"
    (tmp_path / "VolumeTracings.csv").write_text("FileName,X1,Y1\n")
    with pytest.raises(DatasetError) as e:
        load_echonet(tmp_path)
    assert e.value.code == "E_DATASET_CORRUPT"
    assert str(e.value).endswith("VolumeTracings.csv: missing column(s) X2, Y2, Frame; expected FileName, X1, Y1, X2, Y2, Frame")
    with pytest.raises(DatasetError) as e:
        load_echonet(tmp_path / "nowhere")
    assert str(e.value) == f"E_DATASET_MISSING: {tmp_path / 'nowhere' / 'FileList.csv'}: file not found"


def _write_mhd(path, arr, spacing=(0.3, 0.2), etype="MET_UCHAR", compressed=False):
    raw = path.with_suffix(".raw")
    data = arr.tobytes()
    if compressed:
        import zlib
        data = zlib.compress(data)
        raw = path.with_suffix(".zraw")
    raw.write_bytes(data)
    path.write_text("ObjectType = Image\nNDims = 2\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
                    f"CompressedData = {compressed}\nElementSpacing = {spacing[1]} {spacing[0]}\n"
                    f"DimSize = {arr.shape[1]} {arr.shape[0]}\nElementType = {etype}\nElementDataFile = {raw.name}\n")


def _camus(root, fmt, gt_value=3):
    pdir = root / "patient0001"
    pdir.mkdir(parents=True)
    img = (np.arange(30 * 20) % 256).astype(np.uint8).reshape(30, 20)
    gt = np.zeros((30, 20), np.uint8)
    gt[5:10, 4:8], gt[12:20, 4:8], gt[22:28, 10:15] = 1, 2, gt_value
    for phase in ("ED", "ES"):
        base = pdir / f"patient0001_4CH_{phase}"
        if fmt == "mhd":
            _write_mhd(base.with_suffix(".mhd"), img, compressed=(phase == "ES"))
            _write_mhd(pdir / f"patient0001_4CH_{phase}_gt.mhd", gt)
        else:
            for a, name in ((img, base.name), (gt, base.name + "_gt")):
                ni = nib.Nifti1Image(np.ascontiguousarray(a.T), np.diag([0.2, 0.3, 1, 1]))
                ni.header.set_zooms((0.2, 0.3))
                nib.save(ni, str(pdir / f"{name}.nii.gz"))
    (pdir / "Info_4CH.cfg").write_text("ED: 1\nES: 12\nNbFrame: 20\nLVef: 51.2\nImageQuality: Good\n")
    return img, gt


@pytest.mark.parametrize("fmt", ["mhd", "nifti"])
def test_camus_reader(tmp_path, fmt):
    img, gt = _camus(tmp_path, fmt)
    items = load_camus(tmp_path)
    assert [(i.patient, i.view, i.phase) for i in items] == [("patient0001", "4CH", "ED"), ("patient0001", "4CH", "ES")]
    for it in items:
        assert np.array_equal(it.image, img) and np.array_equal(it.mask, gt)
        assert it.spacing_mm == pytest.approx((0.3, 0.2))
        assert it.info["LVef"] == "51.2" and it.info["ED"] == "1"
    assert sorted(np.unique(items[0].mask).tolist()) == [0, 1, 2, 3]


def test_camus_errors(tmp_path):
    _camus(tmp_path, "mhd", gt_value=5)
    with pytest.raises(DatasetError) as e:
        load_camus(tmp_path)
    gt = tmp_path / "patient0001" / "patient0001_4CH_ED_gt.mhd"
    assert str(e.value) == f"E_LABEL_RANGE: {gt}: mask holds label 5 but the expected range is 0..3"
    raw = tmp_path / "patient0001" / "patient0001_4CH_ED_gt.raw"
    raw.write_bytes(b"\x00" * 10)
    with pytest.raises(DatasetError) as e:
        read_mhd(gt)
    assert str(e.value) == f"E_DATASET_CORRUPT: {raw}: holds 10 bytes but DimSize [20, 30] of MET_UCHAR needs 600"
    with pytest.raises(DatasetError) as e:
        load_camus(tmp_path / "empty_dir_missing")
    assert e.value.code == "E_DATASET_MISSING"
    (tmp_path / "e").mkdir()
    with pytest.raises(DatasetError) as e:
        load_camus(tmp_path / "e")
    assert str(e.value) == f"E_DATASET_EMPTY: {tmp_path / 'e'}: no patientXXXX folder with CAMUS images"
