"""EchoNet-Dynamic reader: Videos/*.avi, FileList.csv, VolumeTracings.csv.

VolumeTracings.csv rows (FileName, X1, Y1, X2, Y2, Frame): for each traced frame the first row is the long axis,
the others are the chords of the method of disks. The cavity polygon is (X1,Y1)[1:] followed by the reversed
(X2,Y2)[1:] (the EchoNet convention). Of the two traced frames, the one of larger area is ED, the other ES.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import DatasetError

FILELIST_COLUMNS = ["FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames", "Split"]
TRACING_COLUMNS = ["FileName", "X1", "Y1", "X2", "Y2", "Frame"]


@dataclass
class EchoNetItem:
    name: str
    video: Path
    ef: float
    split: str
    ed: int | None
    es: int | None
    ed_mask: np.ndarray | None
    es_mask: np.ndarray | None


def _read_csv(path: Path, columns):
    if not path.exists():
        raise DatasetError("E_DATASET_MISSING", f"{path}: file not found", path)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError("E_DATASET_CORRUPT", f"{path}: missing column(s) {', '.join(missing)}; expected "
                               f"{', '.join(columns)}", path)
        return list(reader)


def _stem(name: str) -> str:
    return name[:-4] if name.lower().endswith(".avi") else name


def trace_to_mask(rows, height: int, width: int) -> np.ndarray:
    x1 = np.array([float(r["X1"]) for r in rows])
    y1 = np.array([float(r["Y1"]) for r in rows])
    x2 = np.array([float(r["X2"]) for r in rows])
    y2 = np.array([float(r["Y2"]) for r in rows])
    x = np.concatenate([x1[1:], x2[1:][::-1]])
    y = np.concatenate([y1[1:], y2[1:][::-1]])
    pts = np.stack([np.rint(x), np.rint(y)], 1).astype(np.int32)
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [pts], 1)
    return mask


def read_video(path: Path) -> np.ndarray:
    """uint8 gray frames [F, H, W]."""
    if not path.exists():
        raise DatasetError("E_DATASET_MISSING", f"{path}: video file not found", path)
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(fr, cv2.COLOR_BGR2GRAY) if fr.ndim == 3 else fr)
    cap.release()
    if not frames:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: no frame could be decoded", path)
    return np.stack(frames)


def load_echonet(root, split: str | None = None) -> list[EchoNetItem]:
    root = Path(root)
    files = _read_csv(root / "FileList.csv", FILELIST_COLUMNS)
    tr = _read_csv(root / "VolumeTracings.csv", TRACING_COLUMNS)
    traces = defaultdict(lambda: defaultdict(list))
    for r in tr:
        try:
            traces[_stem(r["FileName"])][int(r["Frame"])].append(r)
        except ValueError:
            raise DatasetError("E_DATASET_CORRUPT", f"{root / 'VolumeTracings.csv'}: Frame {r['Frame']!r} is not an "
                               "integer", root / "VolumeTracings.csv") from None
    items = []
    for r in files:
        if split is not None and r["Split"].upper() != split.upper():
            continue
        name = _stem(r["FileName"])
        h, w = int(r["FrameHeight"]), int(r["FrameWidth"])
        try:
            ef = float(r["EF"])
        except ValueError:
            raise DatasetError("E_DATASET_CORRUPT", f"{root / 'FileList.csv'}: EF {r['EF']!r} of {name} is not a "
                               "number", root / "FileList.csv") from None
        if not 0 <= ef <= 100:
            raise DatasetError("E_LABEL_RANGE", f"{root / 'FileList.csv'}: EF of {name} is {ef} but the expected range "
                               "is 0..100", root / "FileList.csv")
        ed = es = ed_m = es_m = None
        fr = traces.get(name)
        if fr:
            if len(fr) != 2:
                raise DatasetError("E_DATASET_CORRUPT", f"{root / 'VolumeTracings.csv'}: {name} has {len(fr)} traced "
                                   "frames, expected 2 (ED and ES)", root / "VolumeTracings.csv")
            (f0, r0), (f1, r1) = sorted(fr.items())
            m0, m1 = trace_to_mask(r0, h, w), trace_to_mask(r1, h, w)
            if m0.sum() >= m1.sum():
                ed, es, ed_m, es_m = f0, f1, m0, m1
            else:
                ed, es, ed_m, es_m = f1, f0, m1, m0
        items.append(EchoNetItem(name, root / "Videos" / f"{name}.avi", ef, r["Split"].upper(), ed, es, ed_m, es_m))
    if not items:
        raise DatasetError("E_DATASET_EMPTY", f"{root / 'FileList.csv'}: no video listed"
                           + (f" for split {split}" if split else ""), root / "FileList.csv")
    return items
