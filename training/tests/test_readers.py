"""EchoNet-Dynamic and CAMUS readers on generated trees in the published layouts (real_fixtures.py)."""
import csv
import zlib

import cv2
import nibabel as nib
import numpy as np
import pytest

from sonoedge_train.data.camus import load_camus, read_cfg, read_mhd
from sonoedge_train.data.echonet import load_echonet, read_video, read_video_bgr
from sonoedge_train.errors import DatasetError
from sonoedge_train.metrics import dice
from sonoedge_train.real_fixtures import (CAMUS_SPACING, ECHONET_VIDEOS, write_camus_mhd, write_camus_nifti,
                                          write_echonet)

# MJPG is lossy: the decoded luma of a video differs from the frames written by at most this, on average
MJPG_MEAN_ABS = 3.0


@pytest.fixture(scope="module")
def echonet(tmp_path_factory):
    root = tmp_path_factory.mktemp("echonet")
    return root, write_echonet(root)


@pytest.fixture(scope="module")
def camus(tmp_path_factory):
    root = tmp_path_factory.mktemp("camus")
    return root, write_camus_mhd(root / "mhd"), write_camus_nifti(root / "nifti")


def test_echonet_files_have_the_published_form(echonet):
    root, truth = echonet
    fl = (root / "FileList.csv").read_bytes()
    tr = (root / "VolumeTracings.csv").read_bytes()
    assert fl.startswith(b"FileName,EF,ESV,EDV,FrameHeight,FrameWidth,FPS,NumberOfFrames,Split\n")
    assert tr.startswith(b"FileName,X1,Y1,X2,Y2,Frame\n")
    assert b"\r" not in fl + tr and not fl.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(fl.decode().splitlines()))[1:]
    assert [r[0] for r in rows] == [v[0] for v in ECHONET_VIDEOS]  # no ".avi" in FileList.csv
    assert rows[0][1:] == [f"{truth[rows[0][0]][k]:.8f}" for k in ("ef", "esv", "edv")] + ["112", "112", "50", "16",
                                                                                          "TRAIN"]
    first = tr.decode().splitlines()[1].split(",")
    name = ECHONET_VIDEOS[0][0]
    assert first[0] == f"{name}.avi" and first[5] == str(min(truth[name]["tracing"]))
    traced = {r.split(",")[0] for r in tr.decode().splitlines()[1:]}
    assert traced == {f"{v[0]}.avi" for v in ECHONET_VIDEOS if v[4]}
    cap = cv2.VideoCapture(str(root / "Videos" / f"{name}.avi"))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode()
    assert (fourcc, cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == ("MJPG", 112, 112)
    cap.release()


def test_echonet_reads_back(echonet):
    root, truth = echonet
    items = load_echonet(root, split="test")  # any case
    assert [it.name for it in items] == ["0X4F2E6B1C0D3A5978", "0X5D0A7C3E8B1F6294", "0X7B3E9D2A6C1F0845"]
    assert items.notes() == {"videos": 3, "with_ed_es": 2, "untraced": 1, "one_traced_frame": 0,
                             "more_than_two_traced_frames": 0, "tracings_of_unlisted_videos": 0}
    for it in items:
        t = truth[it.name]
        assert (it.split, it.fps, it.n_frames, it.height, it.width) == ("TEST", t["fps"], 16, 112, 112)
        assert (it.ef, it.esv, it.edv) == (t["ef"], t["esv"], t["edv"])
        assert (it.ed, it.es) == (t["ed"], t["es"])
        assert it.video == root / "Videos" / f"{it.name}.avi"
        if it.ed is None:
            assert it.traced == {} and it.ed_mask is None
            continue
        assert sorted(it.traced) == sorted((t["ed"], t["es"]))
        for f in (it.ed, it.es):
            assert np.array_equal(it.traced[f], t["ref_masks"][f])
            # the 20-chord tracing of the simulator's LV covers it closely (polygon vertex order and fill are right)
            assert dice(it.traced[f] == 1, t["lv"][f]) > 0.93
        assert it.ed_mask.sum() > it.es_mask.sum()
    v = read_video(items[0].video)
    bgr = read_video_bgr(items[0].video)
    assert v.shape == (16, 112, 112) and v.dtype == np.float32 and bgr.shape == (16, 112, 112, 3)
    assert np.abs(v - truth[items[0].name]["frames"]).mean() < MJPG_MEAN_ABS
    expect = 0.299 * bgr[..., 2].astype(np.float32) + 0.587 * bgr[..., 1] + 0.114 * bgr[..., 0]
    assert np.abs(v - expect).max() < 1e-4  # BT.601 luma in float32


def test_echonet_without_split_column(tmp_path):
    write_echonet(tmp_path, split_column=False)
    assert (tmp_path / "FileList.csv").read_text().splitlines()[0] == \
        "FileName,EF,ESV,EDV,FrameHeight,FrameWidth,FPS,NumberOfFrames"
    items = load_echonet(tmp_path)
    assert len(items) == 6 and {it.split for it in items} == {None}
    with pytest.raises(DatasetError) as e:
        load_echonet(tmp_path, split="TEST")
    assert str(e.value) == (f"E_DATASET_SPLIT: {tmp_path / 'FileList.csv'}: no Split column, so split TEST cannot be "
                            "selected; expected the columns FileName,EF,ESV,EDV,FrameHeight,FrameWidth,FPS,"
                            "NumberOfFrames,Split or no split")


def test_echonet_tolerated_variants(echonet, tmp_path):
    """Not confirmed in the published files, accepted all the same: BOM, CRLF, padded cells, blank lines, lower-case
    Split, a third traced frame, tracings of a video the file list does not list."""
    root, truth = echonet
    (tmp_path / "Videos").symlink_to(root / "Videos")
    fl = (root / "FileList.csv").read_text().replace("TEST", "test").replace(",", " , ")
    (tmp_path / "FileList.csv").write_bytes(b"\xef\xbb\xbf" + fl.replace("\n", "\r\n").encode() + b"\r\n\r\n")
    tr = (root / "VolumeTracings.csv").read_text().splitlines()
    name = "0X4F2E6B1C0D3A5978"
    es = truth[name]["es"]
    small = [ln for ln in tr if ln.startswith(name) and ln.endswith(f",{es}")]
    extra = [ln.rsplit(",", 1)[0] + ",15" for ln in small]  # a third traced frame, same contour as ES
    unlisted = [ln.replace(name, "0X0000000000000001") for ln in small]
    (tmp_path / "VolumeTracings.csv").write_text("\r\n".join(tr + extra + unlisted) + "\r\n")
    items = load_echonet(tmp_path, "Test")
    it = items[0]
    assert it.name == name and it.split == "TEST" and sorted(it.traced) == sorted([truth[name]["ed"], es, 15])
    assert (it.ed, it.es) == (truth[name]["ed"], es)  # equal areas: the earlier frame is ES
    assert items.unlisted_traced == ["0X0000000000000001"] and items.more_frames == [name]
    assert items.notes()["more_than_two_traced_frames"] == 1 and items.notes()["tracings_of_unlisted_videos"] == 1


def _cell(text, line, col, value):
    """text with the cell `col` (0-based) of line `line` (1-based) replaced."""
    lines = text.split("\n")
    cells = lines[line - 1].split(",")
    cells[col] = value
    lines[line - 1] = ",".join(cells)
    return "\n".join(lines)


def _rewrite(root, name, fn):
    p = root / name
    p.write_text(fn(p.read_text()))


@pytest.mark.parametrize("change, message", [
    (("FileList.csv", lambda s: s.replace("EF,", "", 1)),
     "{fl}: missing column(s) EF; expected FileName, EF, ESV, EDV, FrameHeight, FrameWidth, FPS, NumberOfFrames but "
     "received FileName, ESV, EDV, FrameHeight, FrameWidth, FPS, NumberOfFrames, Split"),
    (("FileList.csv", lambda s: s.replace(",TRAIN\n", ",TRAINING\n", 1)),
     "{fl}: line 2: Split expected one of TRAIN, VAL, TEST (any case) but received 'TRAINING'"),
    (("FileList.csv", lambda s: s.replace(",16,VAL", ",sixteen,VAL")),
     "{fl}: line 4: NumberOfFrames expected an integer but received 'sixteen'"),
    (("FileList.csv", lambda s: s + s.splitlines()[1] + "\n"),
     "{fl}: line 8: FileName 0X1A05DFFFCAFB253B is listed twice"),
    (("FileList.csv", lambda s: s.replace(",112,112,50,16,TRAIN", ",112,112,50,6,TRAIN", 1)),
     "{tr}: 0X1A05DFFFCAFB253B.avi has a tracing at frame 8 but FileList.csv lists 6 frames (expected 0..5)"),
    (("VolumeTracings.csv", lambda s: s.replace(",8\n", ",8.5\n", 1)),
     "{tr}: line 2: Frame expected an integer but received '8.5'"),
    (("FileList.csv", lambda s: s.replace("0X1A05DFFFCAFB253B,", "0X1A05DFFFCAFB253B,140", 1)),
     "{fl}: line 2: EF of 0X1A05DFFFCAFB253B is 14054.79924615 but the expected range is 0..100"),
    # not finite: a NaN or infinite vertex used to be cast to int32 garbage and drawn; nan/inf in FileList.csv too
    (("VolumeTracings.csv", lambda s: _cell(s, 3, 1, "nan")), "{tr}: line 3: X1 expected a number but received 'nan'"),
    (("VolumeTracings.csv", lambda s: _cell(s, 5, 4, "-inf")),
     "{tr}: line 5: Y2 expected a number but received '-inf'"),
    (("FileList.csv", lambda s: _cell(s, 2, 1, "NaN")), "{fl}: line 2: EF expected a number but received 'NaN'"),
    (("FileList.csv", lambda s: _cell(s, 3, 2, "inf")), "{fl}: line 3: ESV expected a number but received 'inf'"),
    # a point far off the frame: 1e12 was cast to int32 garbage and drawn; a frame's size off is still read
    (("VolumeTracings.csv", lambda s: _cell(_cell(s, 3, 1, "1e12"), 3, 2, "7")),
     "{tr}: 0X1A05DFFFCAFB253B.avi frame 8 has the point (1e+12, 7), more than a frame outside the frame of "
     "FrameWidth 112 and FrameHeight 112"),
    (("VolumeTracings.csv", lambda s: _cell(_cell(s, 4, 3, "50.5"), 4, 4, "-112.25")),
     "{tr}: 0X1A05DFFFCAFB253B.avi frame 8 has the point (50.5, -112.25), more than a frame outside the frame of "
     "FrameWidth 112 and FrameHeight 112"),
])
def test_echonet_errors(echonet, tmp_path, change, message):
    root, _ = echonet
    (tmp_path / "Videos").symlink_to(root / "Videos")
    for n in ("FileList.csv", "VolumeTracings.csv"):
        (tmp_path / n).write_bytes((root / n).read_bytes())
    _rewrite(tmp_path, *change)
    with pytest.raises(DatasetError) as e:
        load_echonet(tmp_path)
    assert e.value.message == message.format(fl=tmp_path / "FileList.csv", tr=tmp_path / "VolumeTracings.csv")
    assert e.value.code == ("E_LABEL_RANGE" if "EF of" in message else "E_DATASET_CORRUPT")


def test_echonet_missing_files(echonet, tmp_path):
    root, _ = echonet
    with pytest.raises(DatasetError) as e:
        load_echonet(tmp_path)
    assert str(e.value) == (f"E_DATASET_MISSING: {tmp_path / 'FileList.csv'}: file not found (expected the "
                            f"EchoNet-Dynamic release's FileList.csv in {tmp_path})")
    for n in ("FileList.csv", "VolumeTracings.csv"):
        (tmp_path / n).write_bytes((root / n).read_bytes())
    (tmp_path / "Videos").mkdir()
    with pytest.raises(DatasetError) as e:
        load_echonet(tmp_path, "VAL")
    assert str(e.value) == (f"E_DATASET_MISSING: {tmp_path / 'Videos'}: 1 listed video(s) not found, first "
                            "0X3C8D5A2B9E7F1046.avi")
    with pytest.raises(DatasetError) as e:
        load_echonet(tmp_path, "validation")
    assert str(e.value) == ("E_DATASET_SPLIT: split expected one of TRAIN, VAL, TEST (any case) but received "
                            "'validation'")


def test_echonet_hand_made_tracing(tmp_path):
    """A rectangle traced by hand: long axis, then chords from (x0, y) to (x1, y)."""
    (tmp_path / "Videos").mkdir()
    w = cv2.VideoWriter(str(tmp_path / "Videos" / "0X1A.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 50, (112, 112))
    for i in range(5):
        w.write(np.full((112, 112, 3), 40 * i, np.uint8))
    w.release()
    (tmp_path / "FileList.csv").write_text("FileName,EF,ESV,EDV,FrameHeight,FrameWidth,FPS,NumberOfFrames,Split\n"
                                           "0X1A,55.0,30.0,66.7,112,112,50,5,TRAIN\n")
    rows = ["FileName,X1,Y1,X2,Y2,Frame"]
    for frame, (x0, x1, y0, y1) in ((4, (40, 60, 30, 70)), (1, (30, 70, 20, 80))):  # ES listed first
        rows.append(f"0X1A.avi,{(x0 + x1) / 2},{y0},{(x0 + x1) / 2},{y1},{frame}")
        rows += [f"0X1A.avi,{x0},{y},{x1},{y},{frame}" for y in range(y0, y1 + 1, 10)]
    (tmp_path / "VolumeTracings.csv").write_text("\n".join(rows) + "\n")
    it = load_echonet(tmp_path, split="train")[0]
    assert (it.name, it.ef, it.split, it.ed, it.es) == ("0X1A", 55.0, "TRAIN", 1, 4)
    # polygon (x0,y0)..(x0,y1) then (x1,y1)..(x1,y0): the filled rectangle with its border
    assert it.ed_mask.sum() == 41 * 61 and it.es_mask.sum() == 21 * 41
    assert it.ed_mask[20, 30] == 1 and it.ed_mask[19, 30] == 0
    v = read_video(it.video)
    assert v.shape == (5, 112, 112) and abs(float(v[2].mean()) - 80) <= 2


# --- CAMUS ------------------------------------------------------------------------------------------------------

def test_camus_mhd_files_have_the_published_form(camus):
    root, truth, _ = camus
    p = root / "mhd" / "training" / "patient0001"
    n = truth[("patient0001", "2CH")]["n_frames"]
    rows, cols = truth[("patient0001", "2CH")]["images"].shape[1:]
    head = ("ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\nCompressedData = False\n"
            "TransformMatrix = 1 0 0 0 1 0 0 0 1\nOffset = 0 0 0\nCenterOfRotation = 0 0 0\n"
            "AnatomicalOrientation = RAI\nElementSpacing = 0.90000000000000002 0.59999999999999998 1\n")
    assert (p / "patient0001_2CH_ED.mhd").read_bytes() == (
        head + f"DimSize = {cols} {rows} 1\nElementType = MET_UCHAR\n"
               "ElementDataFile = patient0001_2CH_ED.raw\n").encode()
    assert (p / "patient0001_2CH_sequence.mhd").read_bytes() == (
        head + f"DimSize = {cols} {rows} {n}\nElementType = MET_UCHAR\n"
               "ElementDataFile = patient0001_2CH_sequence.raw\n").encode()
    assert (p / "patient0001_2CH_ED.raw").stat().st_size == rows * cols
    cfg = (p / "Info_2CH.cfg").read_text()
    assert [ln.split(": ")[0] for ln in cfg.splitlines()] == ["ED", "ES", "NbFrame", "Sex", "Age", "ImageQuality",
                                                              "LVedv", "LVesv", "LVef"]
    assert cfg.startswith(f"ED: 1\nES: {n}\nNbFrame: {n}\nSex: F\nAge: 64\nImageQuality: Good\nLVedv: ")
    names = sorted(f.name for f in p.iterdir())
    assert names == sorted([f"patient0001_{v}_{s}" for v in ("2CH", "4CH")
                            for s in ("ED.mhd", "ED.raw", "ED_gt.mhd", "ED_gt.raw", "ES.mhd", "ES.raw", "ES_gt.mhd",
                                      "ES_gt.raw", "sequence.mhd", "sequence.raw")] + ["Info_2CH.cfg", "Info_4CH.cfg"])


def test_camus_nifti_files_have_the_published_form(camus):
    root, _, truth = camus
    p = root / "nifti" / "database_nifti" / "patient0002"
    t = truth[("patient0002", "4CH")]
    img = nib.load(str(p / "patient0002_4CH_half_sequence.nii.gz"))
    rows, cols = t["images"].shape[1:]
    assert img.shape == (cols, rows, t["n_frames"]) and img.get_data_dtype() == np.uint8  # [x, y, t]
    assert np.allclose(img.affine, np.diag([-0.9, -0.6, 1, 1])) and img.header.get_xyzt_units() == ("mm", "sec")
    assert nib.load(str(p / "patient0002_4CH_ED_gt.nii.gz")).shape == (cols, rows)
    cfg = (p / "Info_4CH.cfg").read_text()
    assert [ln.split(": ")[0] for ln in cfg.splitlines()] == ["ED", "ES", "NbFrame", "Sex", "Age", "ImageQuality",
                                                              "EF", "FrameRate"]
    assert cfg == (f"ED: 1\nES: {t['n_frames']}\nNbFrame: {t['n_frames']}\nSex: M\nAge: 71\nImageQuality: Medium\n"
                   f"EF: {int(t['ef'])}\nFrameRate: 50\n")


@pytest.mark.parametrize("release", ["mhd", "nifti"])
def test_camus_reads_back(camus, release):
    root, t_mhd, t_nii = camus
    truth = t_mhd if release == "mhd" else t_nii
    sub = "training" if release == "mhd" else "database_nifti"
    for where in (root / release, root / release / sub):  # the release root or its patients folder
        items = load_camus(where)
        assert [(it.patient, it.view) for it in items] == [("patient0001", "2CH"), ("patient0001", "4CH"),
                                                          ("patient0002", "2CH"), ("patient0002", "4CH")]
    for it in items:
        t = truth[(it.patient, it.view)]
        n = t["n_frames"]
        assert (it.release, it.ed, it.es, it.n_frames, it.ef) == (release, 0, n - 1, n, t["ef"])
        assert it.spacing_mm == pytest.approx(CAMUS_SPACING) and (it.sx, it.sy) == pytest.approx((0.9, 0.6))
        assert np.array_equal(it.ed_image, t["images"][0]) and np.array_equal(it.es_image, t["images"][-1])
        assert np.array_equal(it.ed_mask, t["masks"][0]) and np.array_equal(it.es_mask, t["masks"][-1])
        assert np.array_equal(it.sequence(), t["images"])
        assert it.runtime_view == {"2CH": "A2C", "4CH": "A4C"}[it.view]
        assert it.info == read_cfg(it.sequence_path.parent / f"Info_{it.view}.cfg")
        assert (it.sequence_gt_path is None) == (release == "mhd")
        assert sorted(np.unique(it.ed_mask).tolist()) == [0, 1, 2, 3]


def _copy_patient(src, dst):
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())


def test_camus_errors(camus, tmp_path):
    root, _, _ = camus
    p = tmp_path / "training" / "patient0001"
    _copy_patient(root / "mhd" / "training" / "patient0001", p)
    gt = p / "patient0001_2CH_ED_gt.mhd"
    raw = p / "patient0001_2CH_ED_gt.raw"
    data = bytearray(raw.read_bytes())
    data[0] = 5
    raw.write_bytes(bytes(data))
    with pytest.raises(DatasetError) as e:
        load_camus(tmp_path)
    assert str(e.value) == f"E_LABEL_RANGE: {gt}: mask holds label 5 but the expected range is 0..3"
    raw.write_bytes(b"\x00" * 10)
    with pytest.raises(DatasetError) as e:
        read_mhd(gt)
    assert e.value.code == "E_DATASET_CORRUPT" and e.value.message.startswith(f"{raw}: holds 10 bytes but DimSize [")
    cfg = p / "Info_4CH.cfg"
    cfg.write_text(cfg.read_text().replace("ES: ", "ES: 9"))
    raw.write_bytes(bytes(data[:1]) + bytes(len(data) - 1))
    with pytest.raises(DatasetError) as e:
        load_camus(tmp_path, views=("4CH",))
    n = read_cfg(cfg)["NbFrame"]
    assert e.value.message == f"{cfg}: ED 1 and ES {read_cfg(cfg)['ES']} expected frame numbers in 1..NbFrame ({n})"
    cfg.unlink()
    with pytest.raises(DatasetError) as e:
        load_camus(tmp_path, views=("4CH",))
    assert e.value.code == "E_DATASET_MISSING" and e.value.message.startswith(f"{cfg}: file not found")
    with pytest.raises(DatasetError) as e:
        load_camus(tmp_path / "nowhere")
    assert str(e.value) == f"E_DATASET_MISSING: {tmp_path / 'nowhere'}: CAMUS folder not found"
    (tmp_path / "e").mkdir()
    with pytest.raises(DatasetError) as e:
        load_camus(tmp_path / "e")
    assert str(e.value) == f"E_DATASET_EMPTY: {tmp_path / 'e'}: no patientXXXX folder with CAMUS images"


def test_mhd_variants(tmp_path):
    """2-D and zlib-compressed MetaImages, big-endian 16-bit."""
    a = (np.arange(30 * 20) % 256).astype(np.uint8).reshape(30, 20)
    (tmp_path / "a.zraw").write_bytes(zlib.compress(a.tobytes()))
    (tmp_path / "a.mhd").write_text("ObjectType = Image\nNDims = 2\nCompressedData = True\nElementSpacing = 0.2 0.3\n"
                                    "DimSize = 20 30\nElementType = MET_UCHAR\nElementDataFile = a.zraw\n")
    arr, sp = read_mhd(tmp_path / "a.mhd")
    assert np.array_equal(arr, a) and sp == (0.3, 0.2)
    b = np.arange(6, dtype=">u2").reshape(2, 3)
    (tmp_path / "b.raw").write_bytes(b.tobytes())
    (tmp_path / "b.mhd").write_text("NDims = 2\nBinaryDataByteOrderMSB = True\nDimSize = 3 2\n"
                                    "ElementType = MET_USHORT\nElementDataFile = b.raw\n")
    arr, sp = read_mhd(tmp_path / "b.mhd")
    assert arr.tolist() == [[0, 1, 2], [3, 4, 5]] and arr.dtype == np.uint16 and sp == (1.0, 1.0)


def _mhd(tmp_path, **keys):
    """A 2-D 3x2 MET_UCHAR MetaImage with these header values (None: the key left out)."""
    (tmp_path / "m.raw").write_bytes(bytes(range(6)))
    hdr = {"NDims": "2", "DimSize": "3 2", "ElementSpacing": "0.5 0.25", "ElementType": "MET_UCHAR",
           "ElementDataFile": "m.raw", **keys}
    (tmp_path / "m.mhd").write_text("".join(f"{k} = {v}\n" for k, v in hdr.items() if v is not None))
    return tmp_path / "m.mhd"


@pytest.mark.parametrize("keys, message", [
    # was a ValueError traceback
    ({"NDims": "two"}, "{mhd}: NDims expected an integer but received 'two'"),
    # were "holds 6 bytes but DimSize [-3, -2] of MET_UCHAR needs 6" (and so accepted) or "... needs 0"
    ({"DimSize": "-3 -2"}, "{mhd}: DimSize expected positive integers but received '-3 -2'"),
    ({"DimSize": "0 2"}, "{mhd}: DimSize expected positive integers but received '0 2'"),
    # nan was reported as the other phase's spacing differing; 0 was accepted (no area, EF None)
    ({"ElementSpacing": "nan 0.25"}, "{mhd}: ElementSpacing expected positive numbers (mm) but received 'nan 0.25'"),
    ({"ElementSpacing": "0 0"}, "{mhd}: ElementSpacing expected positive numbers (mm) but received '0 0'"),
    ({"ElementSpacing": "-0.5 0.25"},
     "{mhd}: ElementSpacing expected positive numbers (mm) but received '-0.5 0.25'"),
    # data inside the header, a list of files, a file pattern: were E_DATASET_MISSING '<folder>/LOCAL: ... not found'
    ({"ElementDataFile": "LOCAL"}, "{mhd}: ElementDataFile LOCAL is not supported; expected the name of one data "
                                   "file beside the header"),
    ({"ElementDataFile": "LIST 2D"}, "{mhd}: ElementDataFile LIST 2D is not supported; expected the name of one data "
                                     "file beside the header"),
    ({"ElementDataFile": "m%03d.raw 1 2 1"}, "{mhd}: ElementDataFile m%03d.raw 1 2 1 is not supported; expected the "
                                             "name of one data file beside the header"),
    # already typed: kept as they were
    ({"DimSize": "3 2 1"}, "{mhd}: NDims 2, DimSize '3 2 1' and ElementSpacing '0.5 0.25' disagree; expected 2 or 3 "
                           "values each"),
    ({"ElementType": "MET_LONG"}, "{mhd}: ElementType MET_LONG is not supported; expected one of MET_UCHAR, "
                                  "MET_CHAR, MET_USHORT, MET_SHORT, MET_UINT, MET_INT, MET_FLOAT, MET_DOUBLE"),
    ({"ElementDataFile": None}, "{mhd}: header lacks ElementDataFile (expected an ITK MetaImage header with NDims, "
                                "DimSize, ElementType and ElementDataFile)"),
    # empty: was E_DATASET_MISSING '<folder>: data file named by m.mhd not found'
    ({"ElementDataFile": ""}, "{mhd}: header lacks ElementDataFile (expected an ITK MetaImage header with NDims, "
                              "DimSize, ElementType and ElementDataFile)"),
])
def test_mhd_header_errors(tmp_path, keys, message):
    mhd = _mhd(tmp_path, **keys)
    with pytest.raises(DatasetError) as e:
        read_mhd(mhd)
    assert e.value.code == "E_DATASET_CORRUPT" and e.value.path == str(mhd)
    assert e.value.message == message.format(mhd=mhd)


def test_mhd_header_baseline(tmp_path):
    arr, sp = read_mhd(_mhd(tmp_path))
    assert arr.tolist() == [[0, 1, 2], [3, 4, 5]] and sp == (0.25, 0.5)


@pytest.mark.parametrize("pixdim", [float("nan"), float("inf")])
def test_nifti_pixel_spacing_not_finite(tmp_path, pixdim):
    """A NaN or infinite pixdim was read as the spacing (NaN areas and EF). (nibabel itself turns 0 into 1 and a
    negative value into its absolute value on load, with a warning.)"""
    from sonoedge_train.data.camus import read_nifti
    img = nib.Nifti1Image(np.zeros((3, 2), np.uint8), np.eye(4))
    img.header["pixdim"][1:3] = [0.4, pixdim]
    nib.save(img, str(tmp_path / "a.nii.gz"))
    with pytest.raises(DatasetError) as e:
        read_nifti(tmp_path / "a.nii.gz")
    assert e.value.code == "E_DATASET_CORRUPT" and e.value.message == (
        f"{tmp_path / 'a.nii.gz'}: pixel spacing (pixdim x, y) expected positive numbers (mm) but received "
        f"0.4000000059604645, {pixdim}")


@pytest.mark.parametrize("key, value", [("ED", "inf"), ("ES", "4.5"), ("NbFrame", "nan"), ("ED", "-inf")])
def test_camus_cfg_frame_not_an_integer(camus, tmp_path, key, value):
    """ED, ES, NbFrame: inf was an OverflowError traceback, 4.5 was read as 4."""
    root, _, _ = camus
    p = tmp_path / "training" / "patient0001"
    _copy_patient(root / "mhd" / "training" / "patient0001", p)
    cfg = p / "Info_2CH.cfg"
    cfg.write_text("".join(f"{key}: {value}\n" if ln.startswith(f"{key}:") else ln + "\n"
                           for ln in cfg.read_text().splitlines()))
    with pytest.raises(DatasetError) as e:
        load_camus(tmp_path)
    assert str(e.value) == f"E_DATASET_CORRUPT: {cfg}: {key} expected an integer but received {value!r}"


def test_camus_es_shape_differs(camus, tmp_path, capsys):
    """An ES image (and mask) of another size than the ED image: import-real and evaluate-real stacked them and died
    on a numpy ValueError."""
    from sonoedge_train.cli import main
    from sonoedge_train.real_fixtures import write_mhd
    root, _, _ = camus
    p = tmp_path / "training" / "patient0001"
    _copy_patient(root / "mhd" / "training" / "patient0001", p)
    ed = read_mhd(p / "patient0001_4CH_ED.mhd")[0][0]
    write_mhd(p / "patient0001_4CH_ES.mhd", np.full((50, 60), 30, np.uint8), CAMUS_SPACING)
    write_mhd(p / "patient0001_4CH_ES_gt.mhd", np.zeros((50, 60), np.uint8), CAMUS_SPACING)
    with pytest.raises(DatasetError) as e:
        load_camus(tmp_path, views=("4CH",))
    es = p / "patient0001_4CH_ES.mhd"
    assert e.value.code == "E_DATASET_CORRUPT" and e.value.path == str(es)
    assert e.value.message == f"{es}: shape (50, 60) differs from the ED image's {ed.shape}"
    assert main(["import-real", "--camus", str(tmp_path), "--out", str(tmp_path / "ds")]) == 2
    assert capsys.readouterr().err == f"error: {e.value}\n" and not (tmp_path / "ds").exists()


@pytest.mark.parametrize("name, value, error", [
    ("patient0001_2CH_ED_gt", 1.5, "E_LABEL_RANGE: {p}: mask holds the value 1.5 but the expected labels are the "
                                   "integers 0..3"),
    ("patient0001_2CH_ED_gt", float("nan"), "E_LABEL_RANGE: {p}: mask holds the value nan but the expected labels "
                                            "are the integers 0..3"),
    ("patient0001_2CH_ED", float("inf"), "E_DATASET_CORRUPT: {p}: pixel values span 0.0..inf; expected 0..255 (8-bit "
                                         "B-mode)"),  # as before
    ("patient0001_2CH_ED", float("nan"), "E_DATASET_CORRUPT: {p}: pixel values include nan; expected 0..255 (8-bit "
                                         "B-mode)"),
])
def test_camus_float_values(camus, tmp_path, name, value, error):
    """MET_FLOAT masks and images: a fractional or NaN label and a NaN pixel were cast to uint8 silently."""
    root, _, _ = camus
    p = tmp_path / "training" / "patient0001"
    _copy_patient(root / "mhd" / "training" / "patient0001", p)
    mhd = p / f"{name}.mhd"
    a, _ = read_mhd(mhd)
    f = a.astype(np.float32)
    f[0, 0, 0] = value
    (p / f"{name}.raw").write_bytes(f.tobytes())
    mhd.write_text(mhd.read_text().replace("MET_UCHAR", "MET_FLOAT"))
    with pytest.raises(DatasetError) as e:
        load_camus(tmp_path, views=("2CH",))
    assert str(e.value) == error.format(p=mhd)
    f[0, 0, 0] = 2.0  # whole-valued floats are read as before
    (p / f"{name}.raw").write_bytes(f.tobytes())
    assert load_camus(tmp_path, views=("2CH",))[0].ed_mask.dtype == np.uint8


def test_echonet_point_off_the_frame_within_its_size(echonet, tmp_path):
    """Points off the frame by up to its size are read (the long axis end here; fillPoly clips chords)."""
    root, truth = echonet
    (tmp_path / "Videos").symlink_to(root / "Videos")
    (tmp_path / "FileList.csv").write_bytes((root / "FileList.csv").read_bytes())
    tr = (root / "VolumeTracings.csv").read_text()
    (tmp_path / "VolumeTracings.csv").write_text(_cell(_cell(tr, 2, 1, "-112"), 2, 2, "224"))
    it = load_echonet(tmp_path, "TRAIN")[0]
    assert it.name == "0X1A05DFFFCAFB253B" and (it.ed, it.es) == (truth[it.name]["ed"], truth[it.name]["es"])
