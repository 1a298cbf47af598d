"""Reader of the independent phantom (format "sonoedge-phantom/1", written by `python -m sonoedge_phantom generate`).

The phantom is a second echo generator that shares no code with sonoedge_train.sim; it exists to measure transfer
and is never trained or tuned on. This module only reads its files (it does not import the generator).

<dir>/index.json        {"format": "sonoedge-phantom/1", "image_size": [H, W], "cines": [{"id", "file", "seed",
                         "view", "variant", "n_frames", "fps", "ed", "es", "ef", "ef_3d", "spacing_mm": [sx, sy],
                         "apex", "angle_start", "angle_end", "depth_start", "depth_end", "roi": {x, y, width,
                         height}, ...}]}
<dir>/cine_XXXXX.npz    frames uint8 [F, H, W] (the scan-converted image), masks uint8 [F, H, W] (0 background,
                        1 LV cavity, 2 LV myocardium, 3 LA)

load_phantom crops every frame to its cine's sector bounding box (roi) and area-resizes frames and masks to `size`
(masks: per-label area fractions, then argmax), as the runtime crops the sector before its model input.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from ..constants import SEG_LABELS, VIEWS
from ..errors import DatasetError
from .synthetic import resize_frames, resize_masks

FORMAT = "sonoedge-phantom/1"
# key -> (accepted types, what is expected), checked on every cine entry
_KEYS = {"id": ((int,), "an integer"), "file": ((str,), "a file name"), "view": ((str,), "a view name"),
         "variant": ((str,), "a variant name"), "n_frames": ((int,), "a positive integer"),
         "spacing_mm": ((list,), "[sx, sy] in mm"), "roi": ((dict,), "{x, y, width, height}")}


class PhantomDataset:
    """All frames of a phantom dataset in memory, validated on load.

    frames uint8 [N, H, W], masks uint8 [N, H, W], view int64 [N] (index in VIEWS), cine int32 [N] (cine id),
    frame int32 [N] (index in the cine), spacing float32 [N, 2] (mm per model pixel in x and y, after the crop and
    resize); cines: the index entries; index: the whole index."""

    def __init__(self, root, index, cines, arrays):
        self.root = root
        self.index = index
        self.cines = cines
        for k, v in arrays.items():
            setattr(self, k, v)

    def __len__(self):
        return len(self.frames)


def load_phantom(root, size=(112, 112)) -> PhantomDataset:
    root = Path(root)
    idx_path = root / "index.json" if root.is_dir() or not root.suffix else root
    if not idx_path.exists():
        raise DatasetError("E_DATASET_MISSING", f"{idx_path}: phantom index not found (expected index.json written "
                           "by `python -m sonoedge_phantom generate`)", idx_path)
    try:
        index = json.loads(idx_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError("E_DATASET_CORRUPT", f"{idx_path}: not valid JSON ({getattr(e, 'msg', e)})",
                           idx_path) from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        got = index.get("format") if isinstance(index, dict) else type(index).__name__
        raise DatasetError("E_DATASET_CORRUPT", f"{idx_path}: expected format {FORMAT!r} but received {got!r}",
                           idx_path)
    cines = index.get("cines")
    if not isinstance(cines, list):
        raise DatasetError("E_DATASET_CORRUPT", f"{idx_path}: expected a list of cines but received "
                           f"{type(cines).__name__}", idx_path)
    h, w = int(size[0]), int(size[1])
    parts = {k: [] for k in ("frames", "masks", "view", "cine", "frame", "spacing")}
    for pos, c in enumerate(cines):
        _check_entry(idx_path, pos, c)
        path = idx_path.parent / c["file"]
        frames, masks = _read_cine(path, c)
        r = c["roi"]
        fh, fw = frames.shape[1:]
        if not (0 <= r["x"] and 0 <= r["y"] and r["width"] > 0 and r["height"] > 0 and r["x"] + r["width"] <= fw
                and r["y"] + r["height"] <= fh):
            raise DatasetError("E_DATASET_CORRUPT", f"{idx_path}: cine {c['id']}: roi {r} does not fit in its "
                               f"{fw}x{fh} frames", idx_path)
        sl = (slice(None), slice(r["y"], r["y"] + r["height"]), slice(r["x"], r["x"] + r["width"]))
        n = len(frames)
        parts["frames"].append(resize_frames(np.ascontiguousarray(frames[sl]), (h, w)))
        parts["masks"].append(resize_masks(np.ascontiguousarray(masks[sl]), (h, w), len(SEG_LABELS)))
        parts["view"].append(np.full(n, VIEWS.index(c["view"]), np.int64))
        parts["cine"].append(np.full(n, c["id"], np.int32))
        parts["frame"].append(np.arange(n, dtype=np.int32))
        sx, sy = c["spacing_mm"]
        parts["spacing"].append(np.tile(np.array([sx * r["width"] / w, sy * r["height"] / h], np.float32), (n, 1)))
    if not parts["frames"]:
        raise DatasetError("E_DATASET_EMPTY", f"{idx_path}: dataset has no cines", idx_path)
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    return PhantomDataset(idx_path.parent, index, cines, arrays)


def load_labelled(root):
    """A rendered simulator set or an independent-generator set, by its index.json's format: (the dataset, its
    per-frame (sx, sy) model-pixel spacing, whether it is the independent generator's)."""
    from .synthetic import SimDataset
    phantom = json.loads((Path(root) / "index.json").read_text()).get("format") == FORMAT
    ds = load_phantom(root) if phantom else SimDataset(root)
    return ds, (ds.spacing if phantom else ds.spacing_xy), phantom


def _check_entry(idx_path, pos, c):
    if not isinstance(c, dict):
        raise DatasetError("E_DATASET_CORRUPT", f"{idx_path}: cines[{pos}] must be an object but received "
                           f"{type(c).__name__}", idx_path)
    for key, (types, what) in _KEYS.items():
        if key not in c:
            raise DatasetError("E_DATASET_CORRUPT", f"{idx_path}: cines[{pos}] lacks {key!r} (expected {what})",
                               idx_path)
        v = c[key]
        if not isinstance(v, types) or isinstance(v, bool):
            raise DatasetError("E_DATASET_CORRUPT", f"{idx_path}: cines[{pos}].{key} must be {what} but received "
                               f"{v!r}", idx_path)
    if c["n_frames"] < 1:
        raise DatasetError("E_DATASET_CORRUPT", f"{idx_path}: cines[{pos}].n_frames must be a positive integer but "
                           f"received {c['n_frames']!r}", idx_path)
    sp = c["spacing_mm"]
    if len(sp) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in sp):
        raise DatasetError("E_DATASET_CORRUPT", f"{idx_path}: cines[{pos}].spacing_mm must be [sx, sy] in mm (two "
                           f"positive numbers) but received {sp!r}", idx_path)
    roi = c["roi"]
    if any(k not in roi or not isinstance(roi[k], int) or isinstance(roi[k], bool) for k in ("x", "y", "width",
                                                                                               "height")):
        raise DatasetError("E_DATASET_CORRUPT", f"{idx_path}: cines[{pos}].roi must be {{x, y, width, height}} in "
                           f"whole pixels but received {roi!r}", idx_path)
    if c["view"] not in VIEWS:
        raise DatasetError("E_LABEL_RANGE", f"{idx_path}: cines[{pos}].view is {c['view']!r} but the expected "
                           f"views are {', '.join(VIEWS)}", idx_path)


def _read_cine(path, c):
    if not path.exists():
        raise DatasetError("E_DATASET_MISSING", f"{path}: cine file listed in index.json is missing", path)
    try:
        with np.load(path) as z:
            frames, masks = z["frames"], z["masks"]
    except KeyError as e:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: cine file lacks array {e.args[0]}", path) from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: cannot read cine file ({e})", path) from None
    for name, arr in (("frames", frames), ("masks", masks)):
        if arr.dtype != np.uint8 or arr.ndim != 3:
            raise DatasetError("E_DATASET_CORRUPT", f"{path}: {name} must be uint8 [F, H, W] but received "
                               f"{arr.dtype} {list(arr.shape)}", path)
    if masks.shape != frames.shape:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: masks {list(masks.shape)} must match frames "
                           f"{list(frames.shape)}", path)
    if len(frames) != c["n_frames"]:
        raise DatasetError("E_DATASET_CORRUPT", f"{path}: index.json says {c['n_frames']} frames but the file "
                           f"holds {len(frames)}", path)
    if masks.size and int(masks.max()) > len(SEG_LABELS) - 1:
        raise DatasetError("E_LABEL_RANGE", f"{path}: masks holds label {int(masks.max())} but the expected range "
                           f"is 0..{len(SEG_LABELS) - 1}", path)
    return frames, masks
