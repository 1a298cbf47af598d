"""Tiny EchoNet-Dynamic and CAMUS trees in the published layouts, generated (nothing binary is committed).

The image content is simulated echo (sim/simulator.py, apical views) so that the reference masks, ED/ES and EF are
known exactly and the bundled models see images like those they were trained on; the file layout, the text files'
headers, key order, separators and line ends follow the releases:

EchoNet-Dynamic (write_echonet): FileList.csv with the header FileName,EF,ESV,EDV,FrameHeight,FrameWidth,FPS,
NumberOfFrames,Split (or without Split), FileName without ".avi", Split upper case; VolumeTracings.csv with the
header FileName,X1,Y1,X2,Y2,Frame, FileName with ".avi", per traced frame the long axis (apex first) then 20 chords
(X1/Y1 on the left wall), Frame an integer; Videos/<name>.avi MJPG 112x112 with three equal channels (as the
release's DICOM-to-AVI notebook writes them, its sector mask applied). LF line ends and 8 decimals: the release's
own loaders do not tell (they strip each line); names of 17 and 18 characters, an FPS of 55 and a listed video
without tracings are in the release (see data/echonet.py).

CAMUS mhd/raw (write_camus_mhd): training/patientXXXX/ with the ED/ES images and masks as 3-D MetaImages of one
slice and the sequence as a 3-D MetaImage, each header exactly as ITK writes it (key order, `Key = value`, LF, the
raw file beside it), and Info_{2CH,4CH}.cfg with `ED: `, `ES: `, `NbFrame: `, `Sex: `, `Age: `, `ImageQuality: `,
`LVedv: `, `LVesv: `, `LVef: ` lines. CAMUS NIfTI (write_camus_nifti): database_nifti/patientXXXX/ with
_{ED,ES}[_gt].nii.gz (arrays [x, y]), _half_sequence[_gt].nii.gz ([x, y, t], ED first, ES last) as SimpleITK
writes them (affine diag(-sx, -sy, 1), mm), and Info_*.cfg with `EF: ` and `FrameRate: ` in place of the volumes.
Pixels are anisotropic (sx != sy) in both, as in the release.
"""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from .data.echonet import trace_to_mask
from .data.synthetic import resize_frames, resize_masks
from .sim.simulator import sample_cine_params, simulate_cine

ECHONET_SIZE = 112
N_CHORDS = 20
FILELIST_HEADER = ["FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames", "Split"]
TRACING_HEADER = ["FileName", "X1", "Y1", "X2", "Y2", "Frame"]
# name, split, fps, simulator seed, traced: the names have the release's form (0X + 15 or 16 hex digits)
ECHONET_VIDEOS = [("0X1A05DFFFCAFB253B", "TRAIN", 50, 5, True), ("0X2B6E0C91D5A3F47", "TRAIN", 50, 4, True),
                  ("0X3C8D5A2B9E7F1046", "VAL", 55, 9, True), ("0X4F2E6B1C0D3A5978", "TEST", 50, 12, True),
                  ("0X5D0A7C3E8B1F6294", "TEST", 52, 21, True), ("0X7B3E9D2A6C1F0845", "TEST", 50, 30, False)]
CAMUS_SPACING = (0.6, 0.9)  # (row, col) mm per pixel: anisotropic, as in the release
CAMUS_PATIENTS = [("patient0001", "F", 64, "Good", 3), ("patient0002", "M", 71, "Medium", 11)]


def area_length_ef(mask_ed: np.ndarray, mask_es: np.ndarray, sx: float = 1.0, sy: float = 1.0) -> float:
    v_ed, v_es = area_length_volume_xy_ml(mask_ed, sx, sy), area_length_volume_xy_ml(mask_es, sx, sy)
    return 100.0 * (v_ed - v_es) / v_ed


def area_length_volume_xy_ml(mask, sx, sy) -> float:
    from .evaluate_real import area_length_volume_xy
    return area_length_volume_xy(mask, sx, sy) / 1000.0


def tracing_from_mask(lv: np.ndarray, n_chords: int = N_CHORDS) -> list[tuple]:
    """EchoNet-style tracing of a binary LV mask: the long axis (principal axis, apex = top end first), then
    n_chords chords perpendicular to it, evenly spaced, each from the left wall (X1, Y1) to the right (X2, Y2)."""
    ys, xs = np.nonzero(lv)
    pts = np.stack([xs, ys], 1).astype(np.float64)
    c = pts.mean(0)
    w, vecs = np.linalg.eigh((pts - c).T @ (pts - c))
    v = vecs[:, -1] if vecs[1, -1] >= 0 else -vecs[:, -1]  # long axis, pointing down (apex at the top)
    n = np.array([-v[1], v[0]])  # perpendicular, pointing left (image x to the right, y down)
    t, u = (pts - c) @ v, (pts - c) @ n
    t0, t1 = t.min() - 0.5, t.max() + 0.5
    rows = [(*(c + t0 * v), *(c + t1 * v))]
    for k in range(n_chords):
        tk = t0 + (k + 0.5) * (t1 - t0) / n_chords
        band = np.abs(t - tk) <= 0.75
        if not band.any():
            continue
        left, right = c + tk * v + (u[band].max() + 0.5) * n, c + tk * v + (u[band].min() - 0.5) * n
        rows.append((*left, *right))
    return rows


def notebook_sector_mask(d: int) -> np.ndarray:
    """uint8 [d, d]: 1 inside the sector mask of the release's DICOM-to-AVI notebook (x + y > d/2 + d/10 and
    x - y < d/2 + d/10, integer parts), which zeroes everything else of every frame."""
    x, y = np.meshgrid(np.arange(d), np.arange(d))
    lim = int(d / 2) + int(d / 10)
    return (((x + y) > lim) & ((x - y) < lim)).astype(np.uint8)


def _fmt(x: float) -> str:
    return f"{x:.8f}"


def _apical_cine(seed: int, view: str, ed_first: bool = False):
    """A simulated apical cine; with ed_first, the first seed from `seed` on whose ED comes 3+ frames before ES."""
    while True:
        c = simulate_cine(sample_cine_params(seed, view, 16, "train"))
        if not ed_first or c.es - c.ed >= 3:
            return c
        seed += 1


def write_echonet(root, split_column: bool = True) -> dict:
    """The tiny EchoNet-Dynamic tree; returns the truth per video name: split, fps, frames (uint8 [F, 112, 112] as
    written), ed, es (None when untraced), lv (the simulator's LV masks at ED and ES), tracing rows, EF/ESV/EDV."""
    root = Path(root)
    (root / "Videos").mkdir(parents=True, exist_ok=True)
    truth = {}
    files, traces = [], []
    for name, split, fps, seed, traced in ECHONET_VIDEOS:
        c = _apical_cine(seed, "A4C")
        frames = resize_frames(c.sector, (ECHONET_SIZE, ECHONET_SIZE)) * notebook_sector_mask(ECHONET_SIZE)
        masks = resize_masks(c.masks, (ECHONET_SIZE, ECHONET_SIZE))
        w = cv2.VideoWriter(str(root / "Videos" / f"{name}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), fps,
                            (ECHONET_SIZE, ECHONET_SIZE))
        for f in frames:
            w.write(cv2.merge([f, f, f]))
        w.release()
        px = c.spacing_mm * c.sector.shape[-1] / ECHONET_SIZE
        rows = {f: tracing_from_mask(masks[f] == 1) for f in (c.ed, c.es)}
        ref = {f: trace_to_mask(r, ECHONET_SIZE, ECHONET_SIZE) for f, r in rows.items()}
        edv, esv = (area_length_volume_xy_ml(ref[f], px, px) for f in (c.ed, c.es))
        ef = 100.0 * (edv - esv) / edv
        files.append([name, _fmt(ef), _fmt(esv), _fmt(edv), str(ECHONET_SIZE), str(ECHONET_SIZE), str(fps),
                      str(len(frames)), split])
        if traced:
            for f in sorted(rows):
                traces += [[f"{name}.avi", *(_fmt(x) for x in r), str(f)] for r in rows[f]]
        truth[name] = {"split": split, "fps": fps, "frames": frames, "ed": c.ed if traced else None,
                       "es": c.es if traced else None, "lv": {f: masks[f] == 1 for f in (c.ed, c.es)},
                       "tracing": rows if traced else {}, "ef": float(_fmt(ef)), "esv": float(_fmt(esv)),
                       "edv": float(_fmt(edv)), "ref_masks": ref if traced else {}}
    cols = FILELIST_HEADER if split_column else FILELIST_HEADER[:-1]
    with open(root / "FileList.csv", "w", newline="") as f:
        cw = csv.writer(f, lineterminator="\n")
        cw.writerow(cols)
        cw.writerows(r[:len(cols)] for r in files)
    with open(root / "VolumeTracings.csv", "w", newline="") as f:
        cw = csv.writer(f, lineterminator="\n")
        cw.writerow(TRACING_HEADER)
        cw.writerows(traces)
    return truth


def mhd_header(dims_xyz, spacing_xyz, element_data_file: str, element_type: str = "MET_UCHAR") -> str:
    """A 3-D ITK MetaImage header exactly as ITK (SimpleITK 2.x) writes it for an uncompressed image."""
    def num(x):
        return f"{x:.17g}"
    return ("ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
            "CompressedData = False\nTransformMatrix = 1 0 0 0 1 0 0 0 1\nOffset = 0 0 0\nCenterOfRotation = 0 0 0\n"
            "AnatomicalOrientation = RAI\n"
            f"ElementSpacing = {' '.join(num(s) for s in spacing_xyz)}\n"
            f"DimSize = {' '.join(str(int(d)) for d in dims_xyz)}\n"
            f"ElementType = {element_type}\nElementDataFile = {element_data_file}\n")


def write_mhd(path, arr: np.ndarray, spacing_rc) -> None:
    """arr uint8 [rows, cols] (written as one slice) or [frames, rows, cols]; spacing_rc (row, col) mm."""
    path = Path(path)
    a = np.ascontiguousarray(arr[None] if arr.ndim == 2 else arr, np.uint8)
    raw = path.with_suffix(".raw")
    raw.write_bytes(a.tobytes())
    path.write_text(mhd_header((a.shape[2], a.shape[1], a.shape[0]), (spacing_rc[1], spacing_rc[0], 1), raw.name),
                    newline="\n")


def write_nifti(path, arr: np.ndarray, spacing_rc) -> None:
    """arr uint8 [rows, cols] or [frames, rows, cols] -> NIfTI [x, y(, t)] with SimpleITK's affine and units."""
    import nibabel as nib
    a = np.ascontiguousarray(arr.T if arr.ndim == 2 else np.transpose(arr, (2, 1, 0)), np.uint8)
    sx, sy = spacing_rc[1], spacing_rc[0]
    img = nib.Nifti1Image(a, np.diag([-sx, -sy, 1.0, 1.0]))
    img.header.set_xyzt_units("mm", "sec")
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    nib.save(img, str(path))


def _camus_view(seed: int, view: str, spacing_rc=CAMUS_SPACING):
    """Half sequence (ED .. ES) of a simulated apical cine, resampled to the anisotropic CAMUS grid and placed with
    a margin (so the sector's bounding box is not the whole image): images, masks [F, rows, cols]."""
    c = _apical_cine(seed, "A2C" if view == "2CH" else "A4C", ed_first=True)
    size_mm = c.spacing_mm * c.sector.shape[-1]
    rows, cols = round(size_mm / spacing_rc[0]), round(size_mm / spacing_rc[1])
    frames = resize_frames(c.sector[c.ed:c.es + 1], (rows, cols))
    masks = resize_masks(c.masks[c.ed:c.es + 1], (rows, cols))
    top, left = 9, 14
    img = np.zeros((len(frames), rows + top + 5, cols + left + 7), np.uint8)
    gt = np.zeros_like(img)
    img[:, top:top + rows, left:left + cols] = frames
    gt[:, top:top + rows, left:left + cols] = masks
    return img, gt


def _camus_tree(root: Path, fmt: str) -> dict:
    truth = {}
    for patient, sex, age, quality, seed in CAMUS_PATIENTS:
        pdir = root / patient
        pdir.mkdir(parents=True, exist_ok=True)
        views = {v: _camus_view(seed + k, v) for k, v in enumerate(("2CH", "4CH"))}
        sy, sx = CAMUS_SPACING
        vols = {v: [area_length_volume_xy_ml(gt[i] == 1, sx, sy) for i in (0, -1)] for v, (_, gt) in views.items()}
        edv, esv = (float(np.mean([vols[v][k] for v in vols])) for k in (0, 1))
        ef = 100.0 * (edv - esv) / edv
        for view, (img, gt) in views.items():
            n = len(img)
            base = pdir / f"{patient}_{view}"
            if fmt == "mhd":
                for phase, i in (("ED", 0), ("ES", n - 1)):
                    write_mhd(f"{base}_{phase}.mhd", img[i], CAMUS_SPACING)
                    write_mhd(f"{base}_{phase}_gt.mhd", gt[i], CAMUS_SPACING)
                write_mhd(f"{base}_sequence.mhd", img, CAMUS_SPACING)
                cfg = (f"ED: 1\nES: {n}\nNbFrame: {n}\nSex: {sex}\nAge: {age}\nImageQuality: {quality}\n"
                       f"LVedv: {edv:.1f}\nLVesv: {esv:.1f}\nLVef: {ef:.1f}\n")
            else:
                for phase, i in (("ED", 0), ("ES", n - 1)):
                    write_nifti(f"{base}_{phase}.nii.gz", img[i], CAMUS_SPACING)
                    write_nifti(f"{base}_{phase}_gt.nii.gz", gt[i], CAMUS_SPACING)
                write_nifti(f"{base}_half_sequence.nii.gz", img, CAMUS_SPACING)
                write_nifti(f"{base}_half_sequence_gt.nii.gz", gt, CAMUS_SPACING)
                cfg = (f"ED: 1\nES: {n}\nNbFrame: {n}\nSex: {sex}\nAge: {age}\nImageQuality: {quality}\n"
                       f"EF: {round(ef)}\nFrameRate: 50\n")
            (pdir / f"Info_{view}.cfg").write_text(cfg, newline="\n")
            truth[(patient, view)] = {"images": img, "masks": gt, "n_frames": n, "cfg": cfg,
                                      "ef": float(f"{ef:.1f}") if fmt == "mhd" else float(round(ef)),
                                      "ef_masks": area_length_ef(gt[0] == 1, gt[-1] == 1, sx, sy)}
    return truth


def write_camus_mhd(root) -> dict:
    """<root>/training/patient0001..0002 in the mhd/raw release layout; returns the truth per (patient, view)."""
    return _camus_tree(Path(root) / "training", "mhd")


def write_camus_nifti(root) -> dict:
    """<root>/database_nifti/patient0001..0002 in the NIfTI release layout; returns the truth per (patient, view)."""
    return _camus_tree(Path(root) / "database_nifti", "nifti")
