"""CAMUS reader: the mhd/raw release and the NIfTI release. Labels 0 background, 1 LV, 2 myocardium, 3 LA.

mhd/raw: <root>/patientXXXX/patientXXXX_{2CH,4CH}_{ED,ES}.mhd (+ .raw) and ..._gt.mhd; Info_{2CH,4CH}.cfg.
NIfTI:   <root>/patientXXXX/patientXXXX_{2CH,4CH}_{ED,ES}.nii.gz and ..._gt.nii.gz; Info_{2CH,4CH}.cfg.
Arrays are returned as [rows, cols] (nibabel gives [x, y], so NIfTI data are transposed).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError

MET_TYPES = {"MET_UCHAR": np.uint8, "MET_CHAR": np.int8, "MET_USHORT": np.uint16, "MET_SHORT": np.int16,
             "MET_UINT": np.uint32, "MET_INT": np.int32, "MET_FLOAT": np.float32, "MET_DOUBLE": np.float64}


def read_mhd(path):
    """Returns (array [rows, cols] or [frames, rows, cols], spacing in mm (row, col))."""
    path = Path(path)
    if not path.exists():
        raise DatasetError("E_DATASET_MISSING", f"{path}: file not found", path)
    hdr = {}
    for line in path.read_text(errors="replace").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            hdr[k.strip()] = v.strip()
    for key in ("NDims", "DimSize", "ElementType", "ElementDataFile"):
        if key not in hdr:
            raise DatasetError("E_DATASET_CORRUPT", f"{path}: header lacks {key}", path)
    try:
        dims = [int(v) for v in hdr["DimSize"].split()]
        spacing = [float(v) for v in hdr.get("ElementSpacing", " ".join(["1"] * len(dims))).split()]
    except ValueError:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: DimSize {hdr['DimSize']!r} is not a list of integers",
                           path) from None
    if hdr["ElementType"] not in MET_TYPES:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: ElementType {hdr['ElementType']} is not supported; expected "
                           f"one of {', '.join(MET_TYPES)}", path)
    dtype = np.dtype(MET_TYPES[hdr["ElementType"]])
    if hdr.get("ElementByteOrderMSB", hdr.get("BinaryDataByteOrderMSB", "False")).lower() == "true":
        dtype = dtype.newbyteorder(">")
    raw = path.parent / hdr["ElementDataFile"]
    if not raw.exists():
        raise DatasetError("E_DATASET_MISSING", f"{raw}: data file named by {path.name} not found", raw)
    data = raw.read_bytes()
    if hdr.get("CompressedData", "False").lower() == "true":
        try:
            data = zlib.decompress(data)
        except zlib.error as e:
            raise DatasetError("E_DATASET_CORRUPT", f"{raw}: cannot decompress ({e})", raw) from None
    n = int(np.prod(dims))
    if len(data) != n * dtype.itemsize:
        raise DatasetError("E_DATASET_CORRUPT", f"{raw}: holds {len(data)} bytes but DimSize {dims} of "
                           f"{hdr['ElementType']} needs {n * dtype.itemsize}", raw)
    arr = np.frombuffer(data, dtype).reshape(dims[::-1]).astype(dtype.newbyteorder("="))
    return arr, (spacing[1], spacing[0])


def read_nifti(path):
    import nibabel as nib

    path = Path(path)
    if not path.exists():
        raise DatasetError("E_DATASET_MISSING", f"{path}: file not found", path)
    try:
        img = nib.load(str(path))
        arr = np.asarray(img.dataobj)
    except Exception as e:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: cannot read NIfTI ({type(e).__name__}: {e})", path) from None
    zooms = img.header.get_zooms()
    arr = np.swapaxes(arr, 0, 1)  # [x, y, ...] -> [rows, cols, ...]
    if arr.ndim == 3:
        arr = np.moveaxis(arr, 2, 0)
    return arr, (float(zooms[1]), float(zooms[0]))


def read_cfg(path):
    path = Path(path)
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


@dataclass
class CamusItem:
    patient: str
    view: str  # "2CH" or "4CH"
    phase: str  # "ED" or "ES"
    image: np.ndarray  # uint8 [rows, cols]
    mask: np.ndarray  # uint8 [rows, cols]
    spacing_mm: tuple
    info: dict


def _read_any(base: Path):
    for ext, fn in ((".mhd", read_mhd), (".nii.gz", read_nifti), (".nii", read_nifti)):
        p = base.parent / (base.name + ext)
        if p.exists():
            return fn(p), p
    raise DatasetError("E_DATASET_MISSING", f"{base}.mhd: file not found (nor .nii.gz, .nii)", str(base) + ".mhd")


def load_camus(root, views=("2CH", "4CH")) -> list[CamusItem]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError("E_DATASET_MISSING", f"{root}: CAMUS folder not found", root)
    items = []
    for pdir in sorted(d for d in root.iterdir() if d.is_dir() and d.name.startswith("patient")):
        for view in views:
            if not any(pdir.glob(f"{pdir.name}_{view}_ED*")):
                continue
            info = read_cfg(pdir / f"Info_{view}.cfg")
            for phase in ("ED", "ES"):
                (img, sp), _ = _read_any(pdir / f"{pdir.name}_{view}_{phase}")
                (gt, _), gpath = _read_any(pdir / f"{pdir.name}_{view}_{phase}_gt")
                if img.shape != gt.shape:
                    raise DatasetError("E_DATASET_CORRUPT", f"{gpath}: mask shape {gt.shape} differs from image "
                                       f"shape {img.shape}", gpath)
                if gt.size and (gt.min() < 0 or gt.max() > 3):
                    bad = int(gt.max()) if gt.max() > 3 else int(gt.min())
                    raise DatasetError("E_LABEL_RANGE", f"{gpath}: mask holds label {bad} but the expected range is "
                                       "0..3", gpath)
                items.append(CamusItem(pdir.name, view, phase, img.astype(np.uint8), gt.astype(np.uint8), sp, info))
    if not items:
        raise DatasetError("E_DATASET_EMPTY", f"{root}: no patientXXXX folder with CAMUS images", root)
    return items
