"""Cine loops as DICOM: Ultrasound Multi-frame Image Storage, pixel spacing in the Sequence of Ultrasound Regions."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from ..errors import DatasetError

US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
_ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's documented example root for generated UIDs


def write_cine_dicom(path, frames: np.ndarray, spacing_mm: float, fps: float = 30.0, seed: int = 0,
                     meta: dict | None = None):
    """frames uint8 [F, H, W] (MONOCHROME2). Deterministic UIDs derived from the seed."""
    frames = np.ascontiguousarray(frames, np.uint8)
    F, Hh, Ww = frames.shape
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = US_MULTIFRAME
    sop = generate_uid(_ROOT, entropy_srcs=[f"sop-{seed}"])
    fm.MediaStorageSOPInstanceUID = sop
    fm.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = fm
    ds.SOPClassUID = US_MULTIFRAME
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = generate_uid(_ROOT, entropy_srcs=[f"study-{seed}"])
    ds.SeriesInstanceUID = generate_uid(_ROOT, entropy_srcs=[f"series-{seed}"])
    ds.Modality = "US"
    ds.PatientName = "SYNTHETIC^SONOEDGE"
    ds.PatientID = f"SIM{seed:08d}"
    ds.Manufacturer = "sonoedge simulator"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = Hh, Ww
    ds.NumberOfFrames = F
    ds.FrameIncrementPointer = (0x0018, 0x1063)
    ds.FrameTime = f"{1000.0 / fps:.3f}"
    ds.CineRate = int(round(fps))
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    reg = Dataset()
    reg.RegionSpatialFormat = 1  # 2D
    reg.RegionDataType = 1  # tissue
    reg.RegionFlags = 0
    reg.RegionLocationMinX0 = 0
    reg.RegionLocationMinY0 = 0
    reg.RegionLocationMaxX1 = Ww - 1
    reg.RegionLocationMaxY1 = Hh - 1
    reg.ReferencePixelX0 = Ww // 2
    reg.ReferencePixelY0 = 0
    reg.PhysicalUnitsXDirection = 3  # cm
    reg.PhysicalUnitsYDirection = 3
    reg.PhysicalDeltaX = float(spacing_mm) / 10.0
    reg.PhysicalDeltaY = float(spacing_mm) / 10.0
    ds.SequenceOfUltrasoundRegions = Sequence([reg])
    if meta:
        ds.ImageComments = json.dumps(meta, sort_keys=True)
    ds.PixelData = frames.tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return Path(path)


def read_cine_dicom(path):
    """Returns (frames uint8 [F,H,W], spacing_mm (dy, dx), meta dict).

    Bad input is DatasetError E_DATASET_MISSING (no file) or E_DATASET_CORRUPT naming the file and what was wrong.
    Pixels must be 8-bit unsigned MONOCHROME2 (what write_cine_dicom writes); 16-bit and others are refused, not scaled.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError("E_DATASET_MISSING", f"{path}: DICOM file not found", path)
    def unreadable(e):
        return DatasetError("E_DATASET_CORRUPT", f"{path}: cannot read DICOM ({type(e).__name__}: {e})", path)
    try:
        ds = pydicom.dcmread(str(path))
    except Exception as e:  # pydicom raises many types for broken files
        raise unreadable(e) from None
    _check_pixel_format(ds, path)  # before decoding: a cast to uint8 would wrap wider pixels
    try:
        arr = ds.pixel_array
    except Exception as e:
        raise unreadable(e) from None
    if arr.ndim == 2:
        arr = arr[None]
    spacing = _read_spacing(ds, path)
    meta = _read_meta(ds, path)
    return arr.astype(np.uint8), spacing, meta


def _check_pixel_format(ds, path):
    """Only what write_cine_dicom writes: 8-bit unsigned MONOCHROME2. Wider, signed, colour or inverted pixels are
    refused rather than scaled: a cast to uint8 would wrap them, and any rescaling (which bits, which window) would
    be a guess that changes the intensities the models see. An absent attribute is left to pydicom to report."""
    bits = ds.get("BitsAllocated")
    if bits is not None and bits != 8:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: BitsAllocated {bits} is not supported; expected 8 "
                           f"(8-bit frames, as write_cine_dicom writes)", path)
    rep = ds.get("PixelRepresentation")
    if rep is not None and rep != 0:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: PixelRepresentation {rep} (signed) is not supported; "
                           f"expected 0 (unsigned)", path)
    pi = ds.get("PhotometricInterpretation")
    if pi is not None and str(pi).strip() != "MONOCHROME2":
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: PhotometricInterpretation {str(pi).strip()} is not "
                           f"supported; expected MONOCHROME2", path)


_REGION_KEYS = ("PhysicalUnitsXDirection", "PhysicalUnitsYDirection", "PhysicalDeltaX", "PhysicalDeltaY")


def _read_spacing(ds, path):
    """(dy, dx) in mm from the first ultrasound region (units 3, cm; deltas finite and above 0).
    None without regions."""
    if "SequenceOfUltrasoundRegions" not in ds or not len(ds.SequenceOfUltrasoundRegions):
        return None
    r = ds.SequenceOfUltrasoundRegions[0]
    where = f"{path}: ultrasound region 0 (SequenceOfUltrasoundRegions)"
    missing = [k for k in _REGION_KEYS if r.get(k) is None]
    if missing:
        raise DatasetError("E_DATASET_CORRUPT", f"{where} lacks {', '.join(missing)}", path)
    v = {}
    for k in _REGION_KEYS:
        try:
            v[k] = float(r.get(k))
        except (TypeError, ValueError):
            raise DatasetError("E_DATASET_CORRUPT", f"{where}: {k} must be one number but received {r.get(k)!r}",
                               path) from None
    if v["PhysicalUnitsXDirection"] != 3 or v["PhysicalUnitsYDirection"] != 3:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: PhysicalUnitsX/YDirection must be 3 (cm) but received "
                           f"{r.PhysicalUnitsXDirection}/{r.PhysicalUnitsYDirection}", path)
    for k in ("PhysicalDeltaX", "PhysicalDeltaY"):
        if not (math.isfinite(v[k]) and v[k] > 0):
            raise DatasetError("E_DATASET_CORRUPT", f"{where}: {k} must be a finite number of cm above 0 but received "
                               f"{v[k]}", path)
    return v["PhysicalDeltaY"] * 10.0, v["PhysicalDeltaX"] * 10.0


_JSON_KIND = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean",
              type(None): "null"}


def _read_meta(ds, path) -> dict:
    """ImageComments as write_cine_dicom writes it: a JSON object. Absent or empty: {}."""
    text = ds.get("ImageComments")
    if text is None or str(text).strip() == "":
        return {}
    try:
        meta = json.loads(str(text))
    except json.JSONDecodeError as e:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: ImageComments must be a JSON object (the simulator's "
                           f"metadata) but received text that is not JSON ({e.msg}: line {e.lineno} column {e.colno})",
                           path) from None
    if not isinstance(meta, dict):
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: ImageComments must be a JSON object (the simulator's "
                           f"metadata) but received {_JSON_KIND[type(meta)]}", path)
    return meta
