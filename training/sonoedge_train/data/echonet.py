"""EchoNet-Dynamic reader for the layout as published.

<root>/FileList.csv        FileName,EF,ESV,EDV,FrameHeight,FrameWidth,FPS,NumberOfFrames,Split
                           (FileName without ".avi"; Split TRAIN/VAL/TEST, any case; releases without the Split
                           column are read too, then no split can be selected)
<root>/VolumeTracings.csv  FileName,X1,Y1,X2,Y2,Frame (FileName with ".avi"; coordinates are floats in pixels)
<root>/Videos/<FileName>.avi  112x112 MJPG, three equal channels (the release's DICOM-to-AVI notebook merges one
                           gray plane into BGR)

Tracings: per traced frame, the first row is the long axis (apex first), the others are the chords of the method
of disks, X1/Y1 on one wall and X2/Y2 on the other. The cavity polygon is (X1, Y1) of the chords followed by the
chords' (X2, Y2) in reverse order (the convention of the release's own loader, echonet/datasets/echo.py). The
order of the traced frames in the file is not used: of a video's traced frames the one of largest traced area is
ED and the one of smallest area is ES.

What the reader accepts, and what it was checked against (public loaders and the release notebook; the files
themselves are behind a data use agreement and were not available here):
- checked: the header above, FileName with/without ".avi" in the two files, a Split column, MJPG 112x112 3-channel
  videos, FPS other than 50, hexadecimal names of 17 as well as 18 characters, listed videos without tracings
  (the release loader drops "a small number of videos missing traces") and with one traced frame.
- tolerated without being confirmed in the published files: more than two traced frames (the release loader keeps
  any video with at least two), tracings of videos that FileList.csv does not list (ignored, counted in
  `unlisted_traced`), a UTF-8 byte order mark, CRLF line ends, blank trailing lines, spaces around cells.
"""
from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import DatasetError

FILELIST_COLUMNS = ["FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames"]
SPLIT_COLUMN = "Split"
TRACING_COLUMNS = ["FileName", "X1", "Y1", "X2", "Y2", "Frame"]
SPLITS = ("TRAIN", "VAL", "TEST")


@dataclass
class EchoNetItem:
    name: str  # FileName without ".avi"
    video: Path
    ef: float
    esv: float
    edv: float
    fps: float
    n_frames: int  # NumberOfFrames as listed
    height: int
    width: int
    split: str | None  # TRAIN, VAL, TEST; None without a Split column
    traced: dict = field(default_factory=dict)  # frame index -> reference LV mask (uint8 0/1 [H, W])
    ed: int | None = None  # the traced frame of largest LV area (None with fewer than two traced frames)
    es: int | None = None  # the traced frame of smallest LV area

    @property
    def ed_mask(self):
        return None if self.ed is None else self.traced[self.ed]

    @property
    def es_mask(self):
        return None if self.es is None else self.traced[self.es]


class EchoNet(list):
    """The listed videos (EchoNetItem) of one split, plus what the reader noticed on the way."""

    def __init__(self, items, root: Path, unlisted_traced: list[str], untraced: list[str],
                 one_frame: list[str], more_frames: list[str]):
        super().__init__(items)
        self.root = root
        self.unlisted_traced = unlisted_traced  # names in VolumeTracings.csv that FileList.csv does not list
        self.untraced = untraced  # listed (in the split) without any tracing
        self.one_frame = one_frame  # listed with exactly one traced frame (no ED/ES)
        self.more_frames = more_frames  # listed with more than two traced frames

    def notes(self) -> dict:
        return {"videos": len(self), "with_ed_es": sum(1 for i in self if i.ed is not None),
                "untraced": len(self.untraced), "one_traced_frame": len(self.one_frame),
                "more_than_two_traced_frames": len(self.more_frames),
                "tracings_of_unlisted_videos": len(self.unlisted_traced)}


def _read_table(path: Path, required: list[str]):
    """(header, rows as (line number, dict)) of a CSV file; BOM, CRLF, blank lines and cell padding tolerated."""
    if not path.is_file():
        raise DatasetError("E_DATASET_MISSING", f"{path}: file not found (expected the EchoNet-Dynamic release's "
                           f"{path.name} in {path.parent})", path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: expected UTF-8 text but byte {e.start} is "
                           f"{e.object[e.start]:#04x}", path) from None
    lines = [(n, [c.strip() for c in row]) for n, row in enumerate(csv.reader(io.StringIO(text, newline="")), 1)]
    lines = [(n, row) for n, row in lines if any(row)]
    if not lines:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: empty file; expected the header "
                           f"{','.join(required)}", path)
    header = lines[0][1]
    missing = [c for c in required if c not in header]
    if missing:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: missing column(s) {', '.join(missing)}; expected "
                           f"{', '.join(required)} but received {', '.join(header)}", path)
    rows = []
    for n, row in lines[1:]:
        if len(row) != len(header):
            raise DatasetError("E_DATASET_CORRUPT", f"{path}: line {n} has {len(row)} cells, expected "
                               f"{len(header)} ({','.join(header)})", path)
        rows.append((n, dict(zip(header, row))))
    return header, rows


def _number(path, n, row, col, kind=float):
    v = row[col]
    try:
        x = float(v)
        if not math.isfinite(x):  # nan, inf: not a number of the release (a NaN vertex would draw garbage)
            raise ValueError
        if kind is int:
            if not x.is_integer():
                raise ValueError
            return int(x)
        return x
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: line {n}: {col} expected {what} but received {v!r}",
                           path) from None


def stem(name: str) -> str:
    return name[:-4] if name.lower().endswith(".avi") else name


def trace_to_mask(chords, height: int, width: int) -> np.ndarray:
    """Reference LV mask (uint8 0/1) of one traced frame; chords: [(x1, y1, x2, y2)] with the long axis first.

    Vertices are rounded to the nearest pixel centre and the polygon is filled with its border (cv2.fillPoly)."""
    c = np.asarray(chords, np.float64)[1:]
    x = np.concatenate([c[:, 0], c[::-1, 2]])
    y = np.concatenate([c[:, 1], c[::-1, 3]])
    pts = np.stack([np.rint(x), np.rint(y)], 1).astype(np.int32)
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [pts], 1)
    return mask


def bgr_to_luma(frames_bgr: np.ndarray) -> np.ndarray:
    """BT.601 luma 0.299 R + 0.587 G + 0.114 B in float32 (docs/PREPROCESSING.md section 2), [..., 3] BGR -> [...]."""
    f = frames_bgr.astype(np.float32)
    return (np.float32(0.299) * f[..., 2] + np.float32(0.587) * f[..., 1]) + np.float32(0.114) * f[..., 0]


def read_video_bgr(path) -> np.ndarray:
    """Decoded frames as uint8 BGR [F, H, W, 3]."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError("E_DATASET_MISSING", f"{path}: video file not found", path)
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        frames.append(fr if fr.ndim == 3 else cv2.cvtColor(fr, cv2.COLOR_GRAY2BGR))
    cap.release()
    if not frames:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: no frame could be decoded (expected an AVI video)", path)
    return np.stack(frames)


def read_video(path) -> np.ndarray:
    """Frames as float32 BT.601 luma [F, H, W] (what the runtime computes from an RGB frame)."""
    return bgr_to_luma(read_video_bgr(path))


def read_item_video(it: EchoNetItem) -> np.ndarray:
    """read_video of a listed video, checked against FileList.csv (FrameHeight x FrameWidth: the traced masks are
    drawn at that size) and against its traced ED/ES frames (they must decode)."""
    luma = read_video(it.video)
    if luma.shape[1:] != (it.height, it.width):
        raise DatasetError("E_DATASET_CORRUPT", f"{it.video}: frames are {luma.shape[1]}x{luma.shape[2]} but "
                           f"FileList.csv lists FrameHeight x FrameWidth {it.height}x{it.width}", it.video)
    if it.ed is not None and max(it.ed, it.es) >= len(luma):
        raise DatasetError("E_DATASET_CORRUPT", f"{it.video}: traced frame {max(it.ed, it.es)} but the video "
                           f"decodes to {len(luma)} frames", it.video)
    return luma


def load_echonet(root, split: str | None = None) -> EchoNet:
    root = Path(root)
    if split is not None and split.upper() not in SPLITS:
        raise DatasetError("E_DATASET_SPLIT", f"split expected one of {', '.join(SPLITS)} (any case) but received "
                           f"{split!r}", root)
    fl_path, tr_path = root / "FileList.csv", root / "VolumeTracings.csv"
    header, files = _read_table(fl_path, FILELIST_COLUMNS)
    has_split = SPLIT_COLUMN in header
    if split is not None and not has_split:
        raise DatasetError("E_DATASET_SPLIT", f"{fl_path}: no Split column, so split {split.upper()} cannot be "
                           f"selected; expected the columns {','.join(FILELIST_COLUMNS + [SPLIT_COLUMN])} or no "
                           "split", fl_path)
    _, tracings = _read_table(tr_path, TRACING_COLUMNS)
    traces: dict[str, dict[int, list]] = defaultdict(dict)
    for n, r in tracings:
        f = _number(tr_path, n, r, "Frame", int)
        xy = tuple(_number(tr_path, n, r, c) for c in ("X1", "Y1", "X2", "Y2"))
        traces[stem(r["FileName"])].setdefault(f, []).append(xy)
    listed, items = set(), []
    untraced, one_frame, more_frames = [], [], []
    for n, r in files:
        name = stem(r["FileName"])
        if name in listed:
            raise DatasetError("E_DATASET_CORRUPT", f"{fl_path}: line {n}: FileName {name} is listed twice", fl_path)
        listed.add(name)
        sp = None
        if has_split:
            sp = r[SPLIT_COLUMN].upper()
            if sp not in SPLITS:
                raise DatasetError("E_DATASET_CORRUPT", f"{fl_path}: line {n}: Split expected one of "
                                   f"{', '.join(SPLITS)} (any case) but received {r[SPLIT_COLUMN]!r}", fl_path)
        if split is not None and sp != split.upper():
            continue
        ef = _number(fl_path, n, r, "EF")
        if not 0 <= ef <= 100:
            raise DatasetError("E_LABEL_RANGE", f"{fl_path}: line {n}: EF of {name} is {ef} but the expected range "
                               "is 0..100", fl_path)
        h, w = _number(fl_path, n, r, "FrameHeight", int), _number(fl_path, n, r, "FrameWidth", int)
        if h < 1 or w < 1:
            raise DatasetError("E_DATASET_CORRUPT", f"{fl_path}: line {n}: FrameHeight x FrameWidth of {name} is "
                               f"{h}x{w}; expected positive sizes", fl_path)
        it = EchoNetItem(name, root / "Videos" / f"{name}.avi", ef, _number(fl_path, n, r, "ESV"),
                         _number(fl_path, n, r, "EDV"), _number(fl_path, n, r, "FPS"),
                         _number(fl_path, n, r, "NumberOfFrames", int), h, w, sp)
        frames = traces.get(name, {})
        for f, chords in frames.items():
            if len(chords) < 3:
                raise DatasetError("E_DATASET_CORRUPT", f"{tr_path}: {name}.avi frame {f} has {len(chords)} row(s); "
                                   "expected the long axis and at least 2 chords", tr_path)
            if not 0 <= f < it.n_frames:
                raise DatasetError("E_DATASET_CORRUPT", f"{tr_path}: {name}.avi has a tracing at frame {f} but "
                                   f"FileList.csv lists {it.n_frames} frames (expected 0..{it.n_frames - 1})", tr_path)
            far = [(x, y) for r in chords for x, y in (r[:2], r[2:]) if not (-w <= x <= 2 * w and -h <= y <= 2 * h)]
            if far:  # not a tracing of this frame (and 1e12 overflowed the int32 vertices)
                raise DatasetError("E_DATASET_CORRUPT", f"{tr_path}: {name}.avi frame {f} has the point "
                                   f"({far[0][0]:g}, {far[0][1]:g}), more than a frame outside the frame of "
                                   f"FrameWidth {w} and FrameHeight {h}", tr_path)
            it.traced[f] = trace_to_mask(chords, h, w)
        if not frames:
            untraced.append(name)
        elif len(frames) == 1:
            one_frame.append(name)
        else:
            if len(frames) > 2:
                more_frames.append(name)
            areas = {f: int(m.sum()) for f, m in it.traced.items()}
            it.ed = max(areas, key=lambda f: (areas[f], -f))
            it.es = min(areas, key=lambda f: (areas[f], f))
        items.append(it)
    if not items:
        raise DatasetError("E_DATASET_EMPTY", f"{fl_path}: no video listed" + (f" for split {split.upper()}" if split
                                                                                else ""), fl_path)
    absent = [it.video.name for it in items if not it.video.is_file()]
    if absent:
        raise DatasetError("E_DATASET_MISSING", f"{root / 'Videos'}: {len(absent)} listed video(s) not found, first "
                           f"{absent[0]}", root / "Videos" / absent[0])
    unlisted = sorted(set(traces) - listed)
    return EchoNet(items, root, unlisted, untraced, one_frame, more_frames)
