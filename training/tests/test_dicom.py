import numpy as np
import pydicom
import pytest

from sonoedge_train.errors import DatasetError
from sonoedge_train.sim.dicom import US_MULTIFRAME, read_cine_dicom, write_cine_dicom


def test_dicom_round_trip(tmp_path):
    frames = (np.arange(3 * 20 * 30) % 251).astype(np.uint8).reshape(3, 20, 30)
    p = write_cine_dicom(tmp_path / "c.dcm", frames, spacing_mm=0.75, fps=25, seed=4, meta={"ef": 55.5, "ed": 0})
    ds = pydicom.dcmread(p)
    assert ds.SOPClassUID == US_MULTIFRAME == "1.2.840.10008.5.1.4.1.1.3.1"
    assert ds.file_meta.MediaStorageSOPClassUID == US_MULTIFRAME
    assert int(ds.NumberOfFrames) == 3 and ds.Rows == 20 and ds.Columns == 30
    r = ds.SequenceOfUltrasoundRegions[0]
    assert r.PhysicalUnitsXDirection == 3 and r.PhysicalUnitsYDirection == 3
    assert float(r.PhysicalDeltaX) == pytest.approx(0.075) and float(r.PhysicalDeltaY) == pytest.approx(0.075)
    arr, spacing, meta = read_cine_dicom(p)
    assert np.array_equal(arr, frames) and spacing == pytest.approx((0.75, 0.75)) and meta == {"ed": 0, "ef": 55.5}
    # deterministic UIDs from the seed
    p2 = write_cine_dicom(tmp_path / "d.dcm", frames, 0.75, 25, seed=4)
    assert pydicom.dcmread(p2).SOPInstanceUID == ds.SOPInstanceUID


def test_dicom_bad_files(tmp_path):
    with pytest.raises(DatasetError) as e:
        read_cine_dicom(tmp_path / "none.dcm")
    assert e.value.code == "E_DATASET_MISSING"
    assert str(e.value) == f"E_DATASET_MISSING: {tmp_path / 'none.dcm'}: DICOM file not found"
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not a dicom file at all")
    with pytest.raises(DatasetError) as e:
        read_cine_dicom(bad)
    assert e.value.code == "E_DATASET_CORRUPT" and str(e.value).startswith(f"E_DATASET_CORRUPT: {bad}: cannot read DICOM")


def _sim_file(tmp_path, name="c.dcm", **kw):
    """A harness-written cine (2 frames of 4x5), then edited with pydicom; returns (path, dataset)."""
    p = write_cine_dicom(tmp_path / name, np.full((2, 4, 5), 7, np.uint8), spacing_mm=0.5, **kw)
    return p, pydicom.dcmread(p)


def _refused(p, ds, message):
    """Saves the edited dataset, reads it back and asserts the exact E_DATASET_CORRUPT error naming the file."""
    ds.save_as(p)
    with pytest.raises(DatasetError) as e:
        read_cine_dicom(p)
    assert type(e.value) is DatasetError and e.value.code == "E_DATASET_CORRUPT" and e.value.path == str(p)
    assert str(e.value) == f"E_DATASET_CORRUPT: {p}: {message}"


@pytest.mark.parametrize("comments, received", [
    ("scanned by hand", "text that is not JSON (Expecting value: line 1 column 1)"),
    ('{"ef": 55.5', "text that is not JSON (Expecting ',' delimiter: line 1 column 12)"),
    ("[1, 2]", "an array"),
    ('"ef"', "a string"),
    ("42", "a number"),
    ("null", "null"),
])
def test_dicom_image_comments_not_a_json_object(tmp_path, comments, received):
    p, ds = _sim_file(tmp_path, meta={"ef": 60.0})
    ds.ImageComments = comments
    _refused(p, ds, f"ImageComments must be a JSON object (the simulator's metadata) but received {received}")


def test_dicom_image_comments_absent_or_empty_is_no_meta(tmp_path):
    p, ds = _sim_file(tmp_path)
    assert "ImageComments" not in ds and read_cine_dicom(p)[2] == {}
    ds.ImageComments = ""
    ds.save_as(p)
    assert read_cine_dicom(p)[2] == {}


@pytest.mark.parametrize("drop, lacks", [
    (["PhysicalUnitsXDirection"], "PhysicalUnitsXDirection"),
    (["PhysicalUnitsYDirection"], "PhysicalUnitsYDirection"),
    (["PhysicalDeltaX"], "PhysicalDeltaX"),
    (["PhysicalDeltaY"], "PhysicalDeltaY"),
    (["PhysicalUnitsXDirection", "PhysicalDeltaY"], "PhysicalUnitsXDirection, PhysicalDeltaY"),
])
def test_dicom_region_lacks_attribute(tmp_path, drop, lacks):
    p, ds = _sim_file(tmp_path)
    for k in drop:
        delattr(ds.SequenceOfUltrasoundRegions[0], k)
    _refused(p, ds, f"ultrasound region 0 (SequenceOfUltrasoundRegions) lacks {lacks}")


def test_dicom_region_empty_attribute_is_lacking(tmp_path):
    p, ds = _sim_file(tmp_path)
    ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX = None
    ds.save_as(p)
    with pytest.raises(DatasetError) as e:
        read_cine_dicom(p)
    assert str(e.value) == (f"E_DATASET_CORRUPT: {p}: ultrasound region 0 (SequenceOfUltrasoundRegions) "
                            f"lacks PhysicalDeltaX")


@pytest.mark.parametrize("key, value, shown", [
    ("PhysicalDeltaX", 0.0, "0.0"),
    ("PhysicalDeltaY", -0.05, "-0.05"),
    ("PhysicalDeltaX", float("nan"), "nan"),
    ("PhysicalDeltaY", float("inf"), "inf"),
])
def test_dicom_region_delta_not_a_spacing(tmp_path, key, value, shown):
    p, ds = _sim_file(tmp_path)
    setattr(ds.SequenceOfUltrasoundRegions[0], key, value)
    ds.save_as(p)
    with pytest.raises(DatasetError) as e:
        read_cine_dicom(p)
    assert type(e.value) is DatasetError and e.value.code == "E_DATASET_CORRUPT"
    assert str(e.value) == (f"E_DATASET_CORRUPT: {p}: ultrasound region 0 (SequenceOfUltrasoundRegions): {key} must be "
                            f"a finite number of cm above 0 but received {shown}")


def test_dicom_region_delta_with_two_values(tmp_path):
    p, ds = _sim_file(tmp_path)
    ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX = [0.05, 0.06]
    ds.save_as(p)
    with pytest.raises(DatasetError) as e:
        read_cine_dicom(p)
    assert str(e.value) == (f"E_DATASET_CORRUPT: {p}: ultrasound region 0 (SequenceOfUltrasoundRegions): "
                            f"PhysicalDeltaX must be one number but received [0.05, 0.06]")


def test_dicom_region_units_not_cm_unchanged(tmp_path):
    p, ds = _sim_file(tmp_path)
    ds.SequenceOfUltrasoundRegions[0].PhysicalUnitsYDirection = 2
    ds.save_as(p)
    with pytest.raises(DatasetError) as e:
        read_cine_dicom(p)
    assert str(e.value) == f"E_DATASET_CORRUPT: {p}: PhysicalUnitsX/YDirection must be 3 (cm) but received 3/2"


def test_dicom_without_regions_has_no_spacing(tmp_path):
    p, ds = _sim_file(tmp_path)
    del ds.SequenceOfUltrasoundRegions
    ds.save_as(p)
    arr, spacing, meta = read_cine_dicom(p)
    assert spacing is None and arr.shape == (2, 4, 5) and meta == {}


def _sixteen_bit(ds):
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelData = np.full((2, 4, 5), 300, np.uint16).tobytes()  # 300 was read back as 44


def _thirty_two_bit(ds):
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 32, 32, 31
    ds.PixelData = np.full((2, 4, 5), 70000, np.uint32).tobytes()


def _one_bit(ds):
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 1, 0
    ds.PixelData = bytes(6)


def _signed(ds):
    ds.PixelRepresentation = 1
    ds.PixelData = np.full((2, 4, 5), -1, np.int8).tobytes()  # read back as 255


def _rgb(ds):
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration, ds.NumberOfFrames = 3, "RGB", 0, 1
    ds.PixelData = np.arange(60, dtype=np.uint8).tobytes()  # read back as 4 frames of 5x3


def _monochrome1(ds):
    ds.PhotometricInterpretation = "MONOCHROME1"  # read back uninverted


@pytest.mark.parametrize("edit, message", [
    (_sixteen_bit, "BitsAllocated 16 is not supported; expected 8 (8-bit frames, as write_cine_dicom writes)"),
    (_thirty_two_bit, "BitsAllocated 32 is not supported; expected 8 (8-bit frames, as write_cine_dicom writes)"),
    (_one_bit, "BitsAllocated 1 is not supported; expected 8 (8-bit frames, as write_cine_dicom writes)"),
    (_signed, "PixelRepresentation 1 (signed) is not supported; expected 0 (unsigned)"),
    (_rgb, "PhotometricInterpretation RGB is not supported; expected MONOCHROME2"),
    (_monochrome1, "PhotometricInterpretation MONOCHROME1 is not supported; expected MONOCHROME2"),
])
def test_dicom_pixels_not_8bit_unsigned_monochrome2(tmp_path, edit, message):
    p, ds = _sim_file(tmp_path)
    edit(ds)
    _refused(p, ds, message)


def test_dicom_missing_bits_allocated_still_cannot_read(tmp_path):
    p, ds = _sim_file(tmp_path)
    del ds.BitsAllocated
    ds.save_as(p)
    with pytest.raises(DatasetError) as e:
        read_cine_dicom(p)
    assert str(e.value) == (f"E_DATASET_CORRUPT: {p}: cannot read DICOM (AttributeError: Missing required element: "
                            f"(0028,0100) 'Bits Allocated')")
