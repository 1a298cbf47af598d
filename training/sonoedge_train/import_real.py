"""`import-real`: the annotated frames of a user's EchoNet-Dynamic or CAMUS copy as a training dataset that
SimDataset and the training loop read (format sonoedge-real/1, layout of data/synthetic.py):

<out>/index.json   {"format": "sonoedge-real/1", "image_size", "views", "guidance", "seg_labels", "special_labels",
                    "source": {dataset, root, split | release}, "shards", "cines": [{"id", "name", "shard", "start",
                    "n_frames", "view", "ed", "es", "ef", "spacing_mm": [x, y] | null}]}
<out>/shard_XXXXX.npz  the arrays of sonoedge-sim/1 plus spacing_xy float32 [N, 2] (mm per pixel, x and y):
                       frames uint8, masks uint8 (0..3, NOT_LV 254, IGNORE 255, data/labels.py), view, quality
                       float32 (-1: not labelled), guidance (-1), cine, frame (index in the source video/sequence),
                       spacing float32 (NaN: see spacing_xy)

Frames imported: the reference frames (EchoNet: the traced ED and ES frames of videos with at least two traced
frames; CAMUS: the ED and ES images). Frames are the runtime's input before normalisation: BT.601 luma rounded to
uint8; EchoNet's whole 112x112 frame, CAMUS's sector bounding box; resized to --size by the area rule.

Masks. CAMUS: the reference labels (area-resized per label, argmax). EchoNet traces only the LV cavity: LV inside
the tracing, NOT_LV elsewhere, except the pixels outside the sector of the release's DICOM-to-AVI notebook (its
mask keeps x + y > 67 and x - y < 67 on 112x112) that are also dark (< 32) in every frame of the video, which are
background. Quality is -1 (not labelled: the releases' image quality grades are not the runtime's score); view is
A4C for EchoNet and A2C / A4C for CAMUS 2CH / 4CH. EchoNet has no pixel spacing (spacing_mm null, NaN arrays).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .constants import GUIDANCE, SEG_LABELS, VIEWS
from .data.labels import IGNORE, LV, NOT_LV
from .data.synthetic import ARRAYS, FORMAT_REAL
from .errors import DatasetError
from .evaluate_real import make_out_folder, out_folder, resize, sector_box

SHARD_FRAMES = 4096
DARK = 32


def echonet_outside_sector(luma: np.ndarray) -> np.ndarray:
    """bool [H, W]: outside the release notebook's sector mask and dark (< DARK) in every frame of luma [F, H, W]."""
    f, h, w = luma.shape
    if h != w:
        return np.zeros((h, w), bool)
    x, y = np.meshgrid(np.arange(w), np.arange(h))
    lim = int(w / 2) + int(w / 10)
    inside = ((x + y) > lim) & ((x - y) < lim)
    return ~inside & (luma.max(0) < DARK)


def resize_labels(mask: np.ndarray, size) -> np.ndarray:
    """uint8 labels [H, W] -> [h, w]: each present value's indicator area-resized, argmax (ties: the lower value)."""
    if mask.shape == tuple(size):
        return mask.copy()
    values = np.unique(mask)
    planes = np.stack([resize((mask == v).astype(np.float32), size, "area") for v in values])
    return values[planes.argmax(0)].astype(np.uint8)


def to_u8(luma: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)


def _echonet_cines(root, split, size, log):
    from .data.echonet import load_echonet, read_item_video
    data = load_echonet(root, split)
    cines = []
    for it in data:
        if it.ed is None:
            continue
        luma = read_item_video(it)
        outside = echonet_outside_sector(luma)
        frames, masks = [], []
        for f, ref in ((it.ed, it.ed_mask), (it.es, it.es_mask)):
            m = np.full(ref.shape, NOT_LV, np.uint8)
            m[outside] = 0
            m[ref == 1] = LV
            frames.append(to_u8(resize(luma[f], size, "area")))
            masks.append(resize_labels(m, size))
        cines.append({"name": it.name, "view": "A4C", "frames": np.stack(frames), "masks": np.stack(masks),
                      "source_frames": [it.ed, it.es], "ef": it.ef, "spacing": None})
    notes = data.notes()
    log(f"import-real: EchoNet-Dynamic {split.upper() if split else 'all splits'}: {notes['videos']} videos listed, "
        f"{len(cines)} with ED/ES tracings imported ({notes['untraced']} untraced, {notes['one_traced_frame']} with "
        "one traced frame)")
    return cines, {"dataset": "EchoNet-Dynamic", "root": str(root), "split": split.upper() if split else None,
                   "notes": notes}


def _camus_cines(root, size, log):
    from .data.camus import load_camus
    data = load_camus(root)
    cines = []
    for it in data:
        box = sector_box(np.stack([it.ed_image, it.es_image]))
        y0, y1, x0, x1 = box
        frames = [to_u8(resize(img[y0:y1, x0:x1].astype(np.float32), size, "area"))
                  for img in (it.ed_image, it.es_image)]
        masks = [resize_labels(m[y0:y1, x0:x1], size) for m in (it.ed_mask, it.es_mask)]
        sp = [it.sx * (x1 - x0) / size[1], it.sy * (y1 - y0) / size[0]]
        cines.append({"name": f"{it.patient}_{it.view}", "view": it.runtime_view, "frames": np.stack(frames),
                      "masks": np.stack(masks), "source_frames": [it.ed, it.es], "ef": it.ef, "spacing": sp})
    log(f"import-real: CAMUS ({data[0].release} release): {len(cines)} views imported")
    return cines, {"dataset": "CAMUS", "root": str(root), "release": data[0].release}


def import_real(out, echonet=None, camus=None, split=None, size=112, log=print) -> Path:
    if (echonet is None) == (camus is None):
        raise DatasetError("E_DATASET_ARGS", "expected exactly one of --echonet DIR and --camus DIR but received "
                           + ("both" if echonet else "neither"), None)
    if camus is not None and split is not None:
        raise DatasetError("E_DATASET_SPLIT", f"--split expected only with --echonet (CAMUS has no split column) but "
                           f"received {split!r}", camus)
    if not isinstance(size, int) or size < 8:
        raise DatasetError("E_DATASET_ARGS", f"--size expected an integer of at least 8 but received {size!r}", None)
    out = out_folder(out)
    hw = (size, size)
    cines, source = (_echonet_cines(Path(echonet), split, hw, log) if echonet is not None
                     else _camus_cines(Path(camus), hw, log))
    if not cines:
        raise DatasetError("E_DATASET_EMPTY", f"{echonet or camus}: no annotated frame to import (expected ED/ES "
                           "tracings or reference masks)", echonet or camus)
    make_out_folder(out)
    index = {"format": FORMAT_REAL, "image_size": list(hw), "views": VIEWS, "guidance": GUIDANCE,
             "seg_labels": SEG_LABELS, "special_labels": {"not_lv": NOT_LV, "ignore": IGNORE},
             "source": source, "shards": [], "cines": []}
    buf = {k: [] for k in (*ARRAYS, "spacing_xy")}
    start = 0

    def flush():
        nonlocal start
        if not buf["frames"]:
            return
        name = f"shard_{len(index['shards']):05d}.npz"
        arrays = {k: np.concatenate(v).astype(ARRAYS.get(k, np.float32)) for k, v in buf.items()}
        tmp = out / (name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(out / name)
        index["shards"].append({"file": name, "n_frames": int(len(arrays["frames"]))})
        for v in buf.values():
            v.clear()
        start = 0

    for i, c in enumerate(cines):
        n = len(c["frames"])
        if start + n > SHARD_FRAMES:
            flush()
        sp = c["spacing"]
        buf["frames"].append(c["frames"])
        buf["masks"].append(c["masks"])
        buf["view"].append(np.full(n, VIEWS.index(c["view"])))
        buf["quality"].append(np.full(n, -1.0))
        buf["guidance"].append(np.full(n, -1))
        buf["cine"].append(np.full(n, i))
        buf["frame"].append(np.asarray(c["source_frames"]))
        buf["spacing"].append(np.full(n, np.nan))
        buf["spacing_xy"].append(np.tile(np.asarray(sp if sp else [np.nan, np.nan], np.float32), (n, 1)))
        index["cines"].append({"id": i, "name": c["name"], "shard": len(index["shards"]), "start": start,
                               "n_frames": n, "view": c["view"], "ed": c["source_frames"][0],
                               "es": c["source_frames"][1], "ef": c["ef"],
                               "spacing_mm": None if sp is None else [float(sp[0]), float(sp[1])]})
        start += n
    flush()
    (out / "index.json").write_text(json.dumps(index, indent=1))
    log(f"import-real: wrote {sum(s['n_frames'] for s in index['shards'])} frames of {len(cines)} cines to {out}")
    return out / "index.json"
