"""CAMUS reader for both published releases. Labels 0 background, 1 LV cavity, 2 LV myocardium, 3 LA.

mhd/raw release (2019):  <root>/training/patientXXXX/patientXXXX_{2CH,4CH}_{ED,ES}[_gt].mhd + .raw,
                         patientXXXX_{2CH,4CH}_sequence.mhd + .raw, Info_{2CH,4CH}.cfg
                         (ED:, ES:, NbFrame:, Sex:, Age:, ImageQuality:, LVedv:, LVesv:, LVef:)
NIfTI release (2023):    <root>/database_nifti/patientXXXX/patientXXXX_{2CH,4CH}_{ED,ES}[_gt].nii.gz,
                         patientXXXX_{2CH,4CH}_half_sequence[_gt].nii.gz, Info_{2CH,4CH}.cfg
                         (ED:, ES:, NbFrame:, Sex:, Age:, ImageQuality:, EF:, FrameRate:)
<root> may also be the folder holding the patientXXXX folders.

The mhd headers are ITK MetaImage as ITK writes them; the ED/ES images are 3-D with one slice (DimSize W H 1),
the sequences W H F. NIfTI arrays are [x, y(, t)] = [cols, rows(, frames)]. Arrays are returned as [rows, cols]
(and [frames, rows, cols]). ED and ES in the cfg are 1-based frame numbers of the (half) sequence.

Pixel spacing is anisotropic: every array comes with spacing_mm = (row, col) = (y, x) in mm, and CamusView has
sx (columns) and sy (rows); nothing here reduces it to one number.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError

MET_TYPES = {"MET_UCHAR": np.uint8, "MET_CHAR": np.int8, "MET_USHORT": np.uint16, "MET_SHORT": np.int16,
             "MET_UINT": np.uint32, "MET_INT": np.int32, "MET_FLOAT": np.float32, "MET_DOUBLE": np.float64}
VIEWS = ("2CH", "4CH")
RUNTIME_VIEW = {"2CH": "A2C", "4CH": "A4C"}  # the view label the runtime's model should give


def read_mhd(path):
    """Returns (array [rows, cols] or [frames, rows, cols], spacing in mm (row, col))."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError("E_DATASET_MISSING", f"{path}: file not found", path)
    hdr = {}
    for line in path.read_bytes().decode("latin-1").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            hdr[k.strip().lstrip("\ufeff")] = v.strip()
    for key in ("NDims", "DimSize", "ElementType", "ElementDataFile"):
        if not hdr.get(key):  # absent or empty
            raise DatasetError("E_DATASET_CORRUPT", f"{path}: header lacks {key} (expected an ITK MetaImage header "
                               "with NDims, DimSize, ElementType and ElementDataFile)", path)
    try:
        ndims = int(hdr["NDims"])
    except ValueError:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: NDims expected an integer but received {hdr['NDims']!r}",
                           path) from None
    try:
        dims = [int(v) for v in hdr["DimSize"].split()]
    except ValueError:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: DimSize expected integers but received "
                           f"{hdr['DimSize']!r}", path) from None
    if any(d < 1 for d in dims):
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: DimSize expected positive integers but received "
                           f"{hdr['DimSize']!r}", path)
    try:
        spacing = [float(v) for v in hdr.get("ElementSpacing", " ".join(["1"] * len(dims))).split()]
    except ValueError:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: ElementSpacing expected numbers but received "
                           f"{hdr['ElementSpacing']!r}", path) from None
    if not all(math.isfinite(s) and s > 0 for s in spacing):  # nan or 0 mm: no area, no volume, no EF
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: ElementSpacing expected positive numbers (mm) but received "
                           f"{hdr['ElementSpacing']!r}", path)
    if len(dims) != ndims or len(spacing) != len(dims) or len(dims) not in (2, 3):
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: NDims {hdr['NDims']}, DimSize {hdr['DimSize']!r} and "
                           f"ElementSpacing {hdr.get('ElementSpacing')!r} disagree; expected 2 or 3 values each", path)
    if hdr["ElementType"] not in MET_TYPES:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: ElementType {hdr['ElementType']} is not supported; expected "
                           f"one of {', '.join(MET_TYPES)}", path)
    dtype = np.dtype(MET_TYPES[hdr["ElementType"]])
    if hdr.get("ElementByteOrderMSB", hdr.get("BinaryDataByteOrderMSB", "False")).lower() == "true":
        dtype = dtype.newbyteorder(">")
    edf = hdr["ElementDataFile"]
    if edf == "LOCAL" or edf.split()[:1] == ["LIST"] or "%" in edf:  # was "<folder>/LOCAL: data file ... not found"
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: ElementDataFile {edf} is not supported; expected the name "
                           "of one data file beside the header", path)
    raw = path.parent / edf
    if not raw.is_file():
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
    """Returns (array [rows, cols] or [frames, rows, cols], spacing in mm (row, col))."""
    import nibabel as nib

    path = Path(path)
    if not path.is_file():
        raise DatasetError("E_DATASET_MISSING", f"{path}: file not found", path)
    try:
        img = nib.load(str(path))
        arr = np.asarray(img.dataobj)
    except Exception as e:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: cannot read NIfTI ({type(e).__name__}: {e})", path) from None
    if arr.ndim not in (2, 3):
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: expected a 2-D image or a 2-D+t sequence but received "
                           f"shape {arr.shape}", path)
    zooms = img.header.get_zooms()
    if not all(math.isfinite(z) and z > 0 for z in zooms[:2]):
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: pixel spacing (pixdim x, y) expected positive numbers (mm) "
                           f"but received {float(zooms[0])}, {float(zooms[1])}", path)
    arr = np.swapaxes(arr, 0, 1)  # [x, y, ...] -> [rows, cols, ...]
    if arr.ndim == 3:
        arr = np.moveaxis(arr, 2, 0)
    return arr, (float(zooms[1]), float(zooms[0]))


def read_cfg(path) -> dict:
    """`Key: value` lines of an Info_*.cfg, as strings."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError("E_DATASET_MISSING", f"{path}: file not found (expected the CAMUS view info with ED:, "
                           "ES: and NbFrame:)", path)
    out = {}
    for line in path.read_bytes().decode("utf-8-sig", errors="replace").splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def _single(arr, spacing, path):
    if arr.ndim == 3 and arr.shape[0] == 1:  # the mhd release's ED/ES images: DimSize W H 1
        arr = arr[0]
    if arr.ndim != 2:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: expected one 2-D image but received shape {arr.shape}", path)
    return arr, spacing


def _read_any(base: Path):
    for ext, fn in ((".mhd", read_mhd), (".nii.gz", read_nifti), (".nii", read_nifti)):
        p = base.parent / (base.name + ext)
        if p.is_file():
            return fn(p), p
    raise DatasetError("E_DATASET_MISSING", f"{base}.mhd: file not found (nor .nii.gz, .nii)", str(base) + ".mhd")


def _as_labels(gt, path):
    if gt.dtype.kind == "f":  # a float mask: 1.5 was cast to 1 and nan to 0 without a word
        bad = gt[~np.isfinite(gt) | (gt != np.round(gt))]
        if bad.size:
            raise DatasetError("E_LABEL_RANGE", f"{path}: mask holds the value {float(bad.flat[0])} but the expected "
                               "labels are the integers 0..3", path)
    if gt.size and (gt.min() < 0 or gt.max() > 3):
        bad = int(gt.max()) if gt.max() > 3 else int(gt.min())
        raise DatasetError("E_LABEL_RANGE", f"{path}: mask holds label {bad} but the expected range is 0..3", path)
    return gt.astype(np.uint8)


def _as_image(img, path):
    if img.dtype.kind == "f" and np.isnan(img).any():  # nan passed the range check and was cast to 0
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: pixel values include nan; expected 0..255 (8-bit B-mode)",
                           path)
    if img.dtype != np.uint8:
        if img.size and (img.min() < 0 or img.max() > 255):
            raise DatasetError("E_DATASET_CORRUPT", f"{path}: pixel values span {img.min()}..{img.max()}; expected "
                               "0..255 (8-bit B-mode)", path)
        img = img.astype(np.uint8)
    return img


@dataclass
class CamusView:
    patient: str
    view: str  # "2CH" or "4CH"
    release: str  # "mhd" or "nifti"
    ed_image: np.ndarray  # uint8 [rows, cols]
    ed_mask: np.ndarray  # uint8 [rows, cols], labels 0..3
    es_image: np.ndarray
    es_mask: np.ndarray
    spacing_mm: tuple  # (row, col) mm per pixel
    info: dict  # the cfg as strings
    ed: int  # 0-based index of ED in the (half) sequence
    es: int
    n_frames: int  # NbFrame
    ef: float | None  # LVef (mhd) or EF (NIfTI): the release's reference EF, biplane
    sequence_path: Path | None  # _sequence.mhd or _half_sequence.nii.gz when present
    sequence_gt_path: Path | None  # _half_sequence_gt.nii.gz (NIfTI release) when present

    @property
    def sx(self) -> float:  # mm per pixel along x (columns)
        return float(self.spacing_mm[1])

    @property
    def sy(self) -> float:  # mm per pixel along y (rows)
        return float(self.spacing_mm[0])

    @property
    def runtime_view(self) -> str:
        return RUNTIME_VIEW[self.view]

    def sequence(self) -> np.ndarray:
        """uint8 [frames, rows, cols] of the sequence (the ED and ES images when the release has none)."""
        if self.sequence_path is None:
            return np.stack([self.ed_image, self.es_image])
        p = Path(self.sequence_path)
        seq, _ = read_mhd(p) if p.suffix == ".mhd" else read_nifti(p)
        if seq.ndim == 2:
            seq = seq[None]
        if seq.shape[1:] != self.ed_image.shape:
            raise DatasetError("E_DATASET_CORRUPT", f"{p}: frames of shape {seq.shape[1:]} differ from the ED image "
                               f"shape {self.ed_image.shape}", p)
        return _as_image(seq, p)


def _int_field(info, key, path):
    try:
        x = float(info[key])
        if not x.is_integer():  # 1.5 was read as 1; inf raised an OverflowError
            raise ValueError
        return int(x)
    except KeyError:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: lacks {key}: (expected ED:, ES: and NbFrame: lines)",
                           path) from None
    except ValueError:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: {key} expected an integer but received {info[key]!r}",
                           path) from None


def _ef(info, path):
    key = "LVef" if "LVef" in info else "EF" if "EF" in info else None
    if key is None:
        return None
    try:
        ef = float(info[key])
    except ValueError:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: {key} expected a number but received {info[key]!r}",
                           path) from None
    if not 0 <= ef <= 100:
        raise DatasetError("E_LABEL_RANGE", f"{path}: {key} is {ef} but the expected range is 0..100", path)
    return ef


def patients_folder(root) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError("E_DATASET_MISSING", f"{root}: CAMUS folder not found", root)
    for sub in ("training", "database_nifti"):
        if (root / sub).is_dir():
            return root / sub
    return root


def load_camus(root, views=VIEWS) -> list[CamusView]:
    root = Path(root)
    pdir_root = patients_folder(root)
    items = []
    for pdir in sorted(d for d in pdir_root.iterdir() if d.is_dir() and d.name.startswith("patient")):
        p = pdir.name
        for view in views:
            if not any(pdir.glob(f"{p}_{view}_ED.*")):
                continue
            cfg_path = pdir / f"Info_{view}.cfg"
            info = read_cfg(cfg_path)
            n = _int_field(info, "NbFrame", cfg_path)
            ed, es = _int_field(info, "ED", cfg_path), _int_field(info, "ES", cfg_path)
            if not (1 <= ed <= n and 1 <= es <= n):
                raise DatasetError("E_DATASET_CORRUPT", f"{cfg_path}: ED {ed} and ES {es} expected frame numbers in "
                                   f"1..NbFrame ({n})", cfg_path)
            phases = {}
            spacing = None
            for phase in ("ED", "ES"):
                (img, sp), ipath = _read_any(pdir / f"{p}_{view}_{phase}")
                img, sp = _single(img, sp, ipath)
                (gt, _), gpath = _read_any(pdir / f"{p}_{view}_{phase}_gt")
                gt, _ = _single(gt, sp, gpath)
                if img.shape != gt.shape:
                    raise DatasetError("E_DATASET_CORRUPT", f"{gpath}: mask shape {gt.shape} differs from image "
                                       f"shape {img.shape}", gpath)
                if spacing is not None and not np.allclose(sp, spacing):
                    raise DatasetError("E_DATASET_CORRUPT", f"{ipath}: spacing {sp} differs from the ED image's "
                                       f"{spacing}", ipath)
                if phase == "ES" and img.shape != phases["ED"][0].shape:  # import-real stacks them, evaluate-real too
                    raise DatasetError("E_DATASET_CORRUPT", f"{ipath}: shape {img.shape} differs from the ED image's "
                                       f"{phases['ED'][0].shape}", ipath)
                spacing = sp
                phases[phase] = (_as_image(img, ipath), _as_labels(gt, gpath))
            release = "mhd" if ipath.suffix == ".mhd" else "nifti"
            seq = gseq = None
            for name in (f"{p}_{view}_sequence", f"{p}_{view}_half_sequence"):
                for ext in (".mhd", ".nii.gz", ".nii"):
                    if (pdir / (name + ext)).is_file():
                        seq = pdir / (name + ext)
                        g = pdir / (name + "_gt" + ext)
                        gseq = g if g.is_file() else None
            items.append(CamusView(p, view, release, phases["ED"][0], phases["ED"][1], phases["ES"][0],
                                   phases["ES"][1], tuple(float(v) for v in spacing), info, ed - 1, es - 1, n,
                                   _ef(info, cfg_path), seq, gseq))
    if not items:
        raise DatasetError("E_DATASET_EMPTY", f"{pdir_root}: no patientXXXX folder with CAMUS images", pdir_root)
    return items
