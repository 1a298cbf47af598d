"""On-disk layout of a simulated dataset, its writer and its validating reader.

<dir>/index.json   {"format": "sonoedge-sim/1", "image_size": [H, W], "views", "guidance", "seg_labels",
                    "difficulty", "seed", "frames_per_cine", "shards": [{"file", "n_frames"}],
                    "cines": [{"id", "seed", "shard", "start", "n_frames", "view", "ed", "es", "ef",
                               "spacing_mm", "guidance"}]}
<dir>/shard_00000.npz  frames uint8 [N,H,W] (scan-converted sector, area-resized to image_size),
                       masks uint8 [N,H,W] (0 background, 1 LV, 2 myocardium, 3 LA),
                       view int64 [N], quality float32 [N], guidance int64 [N] (-1 = none),
                       cine int32 [N] (cine id), frame int32 [N] (index in the cine), spacing float32 [N] (mm/px)
"""
from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np

from ..constants import GUIDANCE, SEG_LABELS, VIEWS
from ..errors import DatasetError
from .labels import SPECIAL
from ..sim.simulator import DIFFICULTY, WIDE_IMAGE_SIZE, ImagingConfig, sample_cine_params, simulate_cine

FORMAT = "sonoedge-sim/1"
# real, partly annotated datasets written by `import-real` (import_real.py): the same arrays; masks may also hold
# data/labels.py's NOT_LV (254) and IGNORE (255), quality -1 (not labelled), spacing NaN beside spacing_xy [N, 2]
FORMAT_REAL = "sonoedge-real/1"
# "wide" difficulties (randomised realism, sim/simulator.py) keep each frame's whole sector image at
# WIDE_IMAGE_SIZE (square pixels, apex at the top centre) so that training can frame it in many ways
# (sonoedge_train/domain.py); their shards add the geometric part of the quality label and the sector's box.
FORMAT_WIDE = "sonoedge-sim/2"
ARRAYS = {"frames": np.uint8, "masks": np.uint8, "view": np.int64, "quality": np.float32, "guidance": np.int64,
          "cine": np.int32, "frame": np.int32, "spacing": np.float32}
WIDE_ARRAYS = {"quality_geom": np.float32, "box": np.float32}


def resize_frames(frames: np.ndarray, size) -> np.ndarray:
    h, w = size
    if frames.shape[1:] == (h, w):
        return frames
    return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])


def resize_masks(masks: np.ndarray, size, n_labels: int = 4) -> np.ndarray:
    """Area-resize each label's indicator and take the argmax (no label is lost to nearest sampling)."""
    h, w = size
    if masks.shape[1:] == (h, w):
        return masks
    out = np.empty((len(masks), h, w), np.uint8)
    for i, m in enumerate(masks):
        planes = [cv2.resize((m == c).astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) for c in range(n_labels)]
        out[i] = np.argmax(np.stack(planes), 0)
    return out


def _simulate_shard(job):
    """Simulate cines [a, b) into shard file `name` (written atomically); returns (name, n_frames, cine entries).

    Every cine depends only on (seed, its index), so the output does not depend on which process runs the job."""
    out, name, a, b, seed, frames_per_cine, size, difficulty, views, strength, turn = job
    cfg = ImagingConfig()
    wide = bool(DIFFICULTY[difficulty].get("wide"))
    arrays_spec = {**ARRAYS, **WIDE_ARRAYS} if wide else ARRAYS
    buf = {k: [] for k in arrays_spec}
    cines = []
    start = 0
    for i in range(a, b):
        cseed = seed * 1_000_003 + i
        view = views[i % len(views)]
        p = sample_cine_params(cseed, view, frames_per_cine, difficulty, strength)
        if turn is not None:  # a stream of its own: the cine is its upright twin (same seed) turned
            p = dataclasses.replace(p, turn_deg=float(np.random.default_rng([cseed, 4421]).uniform(*turn)))
        c = simulate_cine(p, cfg)
        if turn is not None:  # no standard view shows a heart turned: OTHER, no guidance, no quality
            c.view, c.guidance, c.quality = VIEWS.index("OTHER"), -1, np.zeros_like(c.quality)
            c.quality_geom = np.zeros_like(c.quality_geom)
        F = p.n_frames
        if wide:  # the whole sector image, as simulated
            sp = c.spacing_mm
            buf["frames"].append(c.sector)
            buf["masks"].append(c.masks)
            buf["quality_geom"].append(c.quality_geom)
            buf["box"].append(np.tile(np.asarray(c.geometry["sector_box"], np.float32), (F, 1)))
        else:
            sp = c.spacing_mm * cfg.image_size / size[1]
            buf["frames"].append(resize_frames(c.sector, size))
            buf["masks"].append(resize_masks(c.masks, size))
        buf["view"].append(np.full(F, c.view))
        buf["quality"].append(c.quality)
        buf["guidance"].append(np.full(F, c.guidance))
        buf["cine"].append(np.full(F, i))
        buf["frame"].append(np.arange(F))
        buf["spacing"].append(np.full(F, sp))
        cines.append({"id": i, "seed": cseed, "start": start, "n_frames": F, "view": VIEWS[c.view], "ed": c.ed,
                      "es": c.es, "ef": round(c.ef, 4), "spacing_mm": sp,
                      "guidance": GUIDANCE[c.guidance] if c.guidance >= 0 else None,
                      **({"shown_view": p.view, "turn_deg": round(p.turn_deg, 3)} if turn is not None else {})})
        start += F
    arrays = {key: np.concatenate(buf[key]).astype(arrays_spec[key]) for key in arrays_spec}
    tmp = Path(out) / (name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(Path(out) / name)
    return name, int(len(arrays["frames"])), cines


def _worker_init():
    cv2.setNumThreads(1)


def write_dataset(out_dir, n_cines: int, seed: int, frames_per_cine: int = 16, size=(112, 112),
                  difficulty: str = "train", views=None, cines_per_shard: int = 64, progress: bool = False,
                  workers: int = 1, max_minutes: float = 0.0, strength: float | None = None,
                  turn: tuple[float, float] | None = None):
    """Simulate n_cines cines into out_dir. workers > 1 shards the cines over processes (one job per shard of
    cines_per_shard cines): the dataset is identical for any number of workers. max_minutes > 0 is a wall-clock
    budget: when it runs out, the shards finished so far are kept (their cines keep their ids) and the rest dropped.
    turn (lo, hi) degrees: every cine's heart turned inside the scene by a draw from it (CineParams.turn_deg), a
    probe held the wrong way, and labelled OTHER with quality 0 and no guidance (negatives for the view model); the
    index keeps each cine's shown_view and turn_deg."""
    import time
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = ImagingConfig()
    views = list(views or VIEWS)
    size = tuple(int(v) for v in size)
    wide = bool(DIFFICULTY[difficulty].get("wide"))
    if wide:
        size = (WIDE_IMAGE_SIZE, WIDE_IMAGE_SIZE)
    index = {"format": FORMAT_WIDE if wide else FORMAT, "image_size": list(size), "views": VIEWS, "guidance": GUIDANCE,
             "seg_labels": SEG_LABELS, "difficulty": difficulty, "seed": seed, "frames_per_cine": frames_per_cine,
             **({"strength": strength} if strength is not None else {}),
             **({"turn_deg": [float(v) for v in turn]} if turn is not None else {}),
             "imaging": {k: v for k, v in vars(cfg).items()}, "shards": [], "cines": []}
    jobs = [(str(out), f"shard_{k:05d}.npz", a, min(a + cines_per_shard, n_cines), seed, frames_per_cine, size,
             difficulty, views, strength, turn) for k, a in enumerate(range(0, n_cines, cines_per_shard))]
    deadline = time.monotonic() + max_minutes * 60 if max_minutes > 0 else None
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=n_cines, desc="simulate", unit="cine")
    done = {}
    workers = max(1, min(int(workers), len(jobs)))
    if workers == 1:
        for k, job in enumerate(jobs):
            if deadline is not None and time.monotonic() > deadline:
                break
            done[k] = _simulate_shard(job)
            if bar:
                bar.update(job[3] - job[2])
    else:
        import multiprocessing as mp
        # spawn: no state (cv2 / OpenMP thread pools, torch) inherited from the parent
        pool = mp.get_context("spawn").Pool(workers, initializer=_worker_init)
        try:
            pending = {k: pool.apply_async(_simulate_shard, (job,)) for k, job in enumerate(jobs)}
            while pending:
                if deadline is not None and time.monotonic() > deadline:
                    break
                for k in [k for k, r in pending.items() if r.ready()]:
                    done[k] = pending.pop(k).get()
                    if bar:
                        bar.update(jobs[k][3] - jobs[k][2])
                if pending:
                    time.sleep(0.05)
        finally:
            pool.terminate()
            pool.join()
    if bar:
        bar.close()
    for k in sorted(done):
        name, nf, cines = done[k]
        k_shard = len(index["shards"])
        index["cines"] += [{"id": c["id"], "seed": c["seed"], "shard": k_shard, **c} for c in cines]
        index["shards"].append({"file": name, "n_frames": nf})
    if len(done) < len(jobs):
        index["requested_cines"] = n_cines
        print(f"simulate: time budget of {max_minutes} min ran out; kept {len(index['cines'])} of {n_cines} cines "
              f"({len(done)} of {len(jobs)} shards)", flush=True)
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return out / "index.json"


class SimDataset:
    """All frames of a simulated dataset in memory, validated on load."""

    def __init__(self, root):
        root = Path(root)
        idx_path = root / "index.json" if root.is_dir() or not root.suffix else root
        if not idx_path.exists():
            raise DatasetError("E_DATASET_MISSING", f"{idx_path}: dataset index not found (expected index.json "
                               "written by `python -m sonoedge_train simulate`)", idx_path)
        try:
            index = json.loads(idx_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DatasetError("E_DATASET_CORRUPT", f"{idx_path}: not valid JSON ({e.msg if hasattr(e, 'msg') else e})",
                               idx_path) from None
        if not isinstance(index, dict) or index.get("format") not in (FORMAT, FORMAT_WIDE, FORMAT_REAL):
            got = index.get("format") if isinstance(index, dict) else type(index).__name__
            raise DatasetError("E_DATASET_CORRUPT", f"{idx_path}: expected format {FORMAT!r}, {FORMAT_WIDE!r} or "
                               f"{FORMAT_REAL!r} but "
                               f"received {got!r}", idx_path)
        self.root = idx_path.parent
        self.index = index
        self.wide = index["format"] == FORMAT_WIDE
        # optional arrays: spacing_xy float32 [N, 2] (mm per pixel x, y) of rendered sets (domain.render_dataset)
        spec = {**ARRAYS, **WIDE_ARRAYS} if self.wide else dict(ARRAYS)
        optional = ("spacing_xy",)
        parts = {k: [] for k in spec}
        for sh in index.get("shards", []):
            path = self.root / sh["file"]
            if not path.exists():
                raise DatasetError("E_DATASET_MISSING", f"{path}: shard listed in index.json is missing", path)
            try:
                with np.load(path) as z:
                    data = {k: z[k] for k in spec}
                    for k in optional:
                        if k in z.files:
                            data[k] = z[k]
                            parts.setdefault(k, [])
            except KeyError as e:
                raise DatasetError("E_DATASET_CORRUPT", f"{path}: shard lacks array {e.args[0]}", path) from None
            except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
                raise DatasetError("E_DATASET_CORRUPT", f"{path}: cannot read shard ({e})", path) from None
            n = len(data["frames"])
            if n != sh["n_frames"]:
                raise DatasetError("E_DATASET_CORRUPT", f"{path}: index.json says {sh['n_frames']} frames but the "
                                   f"shard holds {n}", path)
            for k, arr in data.items():
                if len(arr) != n:
                    raise DatasetError("E_DATASET_CORRUPT", f"{path}: array {k} has {len(arr)} rows, expected {n}",
                                       path)
            real = index["format"] == FORMAT_REAL
            masks = data["masks"][~np.isin(data["masks"], SPECIAL)] if real else data["masks"]
            _check_range(path, "masks", masks, 0, len(SEG_LABELS) - 1)
            _check_range(path, "view", data["view"], 0, len(VIEWS) - 1)
            _check_range(path, "guidance", data["guidance"], -1, len(GUIDANCE) - 1)
            q = data["quality"]
            if real:  # -1 = not labelled; the appended 0 keeps the range test defined when nothing is labelled
                q = np.append(q[q != -1], np.float32(0))
            if n and (not np.isfinite(q).all() or q.min() < 0 or q.max() > 1):
                bad = q[~(np.isfinite(q) & (q >= 0) & (q <= 1))][0]
                raise DatasetError("E_LABEL_RANGE", f"{path}: quality holds {float(bad)!r} but the expected range "
                                   "is [0, 1]", path)
            for k in data:
                parts[k].append(data[k])
        if not parts["frames"] or sum(len(p) for p in parts["frames"]) == 0:
            raise DatasetError("E_DATASET_EMPTY", f"{idx_path}: dataset has no frames", idx_path)
        for k in parts:
            if len(parts[k]) != len(parts["frames"]):
                raise DatasetError("E_DATASET_CORRUPT", f"{idx_path}: array {k} is in some shards but not all", idx_path)
            setattr(self, k, np.concatenate(parts[k]))
        if not hasattr(self, "spacing_xy"):
            self.spacing_xy = np.stack([self.spacing, self.spacing], 1).astype(np.float32)
        self.cines = index.get("cines", [])

    def __len__(self):
        return len(self.frames)


def _check_range(path, name, arr, lo, hi):
    if arr.size == 0:
        return
    mn, mx = int(arr.min()), int(arr.max())
    if mn < lo or mx > hi:
        bad = mx if mx > hi else mn
        raise DatasetError("E_LABEL_RANGE", f"{path}: {name} holds label {bad} but the expected range is {lo}..{hi}",
                           path)
