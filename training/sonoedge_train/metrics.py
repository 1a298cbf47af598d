"""Clinical metrics. All functions are numpy, deterministic, and tested against hand-computed cases."""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    """2|A and B| / (|A| + |B|); 1.0 when both are empty."""
    p, g = pred.astype(bool), gt.astype(bool)
    s = p.sum() + g.sum()
    return 1.0 if s == 0 else float(2.0 * (p & g).sum() / s)


def _surface(m, border_value: int = 0):
    """A mask's pixels with an 8-neighbour outside it; beyond the image counts as outside with border_value 0, as
    inside with 1."""
    return m & ~ndimage.binary_erosion(m, structure=np.ones((3, 3), bool), border_value=border_value)


def hd95(pred: np.ndarray, gt: np.ndarray, spacing=(1.0, 1.0)) -> float:
    """95th-percentile Hausdorff distance in mm between the boundaries (max of the two directed 95th
    percentiles, as MONAI computes it). 0 when both are empty, nan when only one is."""
    p, g = pred.astype(bool), gt.astype(bool)
    if not p.any() and not g.any():
        return 0.0
    if not p.any() or not g.any():
        return float("nan")
    sp, sg = _surface(p), _surface(g)
    dt_g = ndimage.distance_transform_edt(~sg, sampling=spacing)
    dt_p = ndimage.distance_transform_edt(~sp, sampling=spacing)
    return float(max(np.percentile(dt_g[sp], 95), np.percentile(dt_p[sg], 95)))


def lv_area_length(mask: np.ndarray, spacing_mm):
    """Area (mm^2) and long-axis length (mm) of a mask whose pixels are spacing_mm wide: one number (square pixels)
    or (sx, sy). Pixel centres are placed in millimetres (x * sx, y * sy) before the principal-axis fit; the length is
    their extent along the axis plus one pixel's length along it, sqrt((ux sx)^2 + (uy sy)^2)."""
    ys, xs = np.nonzero(mask)
    if len(xs) < 3:
        return 0.0, 0.0
    sx, sy = (float(spacing_mm), float(spacing_mm)) if np.ndim(spacing_mm) == 0 else (float(v) for v in spacing_mm)
    area = len(xs) * sx * sy
    pts = np.stack([xs * sx, ys * sy], 1).astype(np.float64)
    pts -= pts.mean(0)
    w, v = np.linalg.eigh(pts.T @ pts)
    u = v[:, -1]
    proj = pts @ u
    length = proj.max() - proj.min() + math.hypot(u[0] * sx, u[1] * sy)
    return area, length


def area_length_volume(area_mm2: float, length_mm: float) -> float:
    """Single-plane area-length volume (mm^3): 8 A^2 / (3 pi L); 0 without a length."""
    return 0.0 if length_mm == 0 else 8 * area_mm2 * area_mm2 / (3 * math.pi * length_mm)


def ef_percent(edv: float, esv: float) -> float:
    """Ejection fraction (%) from the end-diastolic and end-systolic volumes; 0 without a diastolic volume."""
    return 0.0 if edv == 0 else 100.0 * (edv - esv) / edv


def ef_from_masks(lv_masks: np.ndarray, spacing_mm):
    """EF (%) from per-frame LV masks: single-plane area-length volumes, ED = max volume, ES = min volume."""
    vols = []
    for m in lv_masks:
        vols.append(area_length_volume(*lv_area_length(m, spacing_mm)))
    vols = np.array(vols)
    ed, es = int(np.argmax(vols)), int(np.argmin(vols))
    return ef_percent(vols[ed], vols[es]), ed, es, vols / 1000.0


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a binary mask (ties: the one met first in raster order), as the
    runtime's MaskAnalyzer.largestComponent keeps it."""
    lab, n = ndimage.label(mask.astype(bool), structure=np.ones((3, 3), bool))
    if n == 0:
        return np.zeros(mask.shape, bool)
    sizes = np.bincount(lab.ravel())[1:]
    return lab == (int(np.argmax(sizes)) + 1)


# The LV probability band whose pixels count as the LV border's uncertain band (calibration.lv_border low, high).
BORDER_LOW, BORDER_HIGH = 0.2, 0.8


def border_pixels(mask: np.ndarray) -> np.ndarray:
    """The pixels of a mask with at least one of their 8 neighbours inside the image and not in the mask (an image
    edge alone does not make a border pixel), as the runtime counts them."""
    return _surface(np.asarray(mask, bool), border_value=1)


def border_band(logits: np.ndarray, lv_mask: np.ndarray, lv: int = 1, low: float = BORDER_LOW,
                high: float = BORDER_HIGH) -> float | None:
    """The mean width in pixels of the LV's uncertain border band in one frame, as the runtime measures it for
    calibration.lv_border: the pixels anywhere in the frame whose LV probability (softmax over the class logits
    [C, H, W]) lies strictly between low and high, over the border pixels of the LV mask (the largest component the
    runtime keeps). None when the mask has no border pixel (no LV)."""
    n_border = int(border_pixels(lv_mask).sum())
    if n_border == 0:
        return None
    z = np.asarray(logits, np.float64)
    z = z - z.max(0, keepdims=True)
    e = np.exp(z)
    p = e[lv] / e.sum(0)
    return float(((p > low) & (p < high)).sum()) / n_border


def frame_volume_ml(mask: np.ndarray, spacing_mm) -> tuple[float, float]:
    """(volume in ml, length in mm) of one frame as the runtime measures it: area-length on the largest 8-connected
    LV component; (0, 0) with fewer than 3 LV pixels."""
    a, l = lv_area_length(largest_component(mask), spacing_mm)
    return (area_length_volume(a, l) / 1000.0 if l > 0 else 0.0), l


def trim_count(trim: float, n: int) -> int:
    """How many volumes a trimmed ED or ES averages: max(1, floor(trim x n + 0.5)), as the runtime rounds
    (Math.round; Python's round would take 2.5 to 2)."""
    return max(1, int(math.floor(trim * n + 0.5)))


def smooth_volumes(v: np.ndarray, k: int) -> np.ndarray:
    """Each value replaced by the mean of the k (odd) values centred on it; at the ends, of those there."""
    if k <= 1 or len(v) < 2:
        return np.asarray(v, np.float64)
    h = k // 2
    c = np.concatenate([[0.0], np.cumsum(np.asarray(v, np.float64))])
    lo = np.maximum(np.arange(len(v)) - h, 0)
    hi = np.minimum(np.arange(len(v)) + h + 1, len(v))
    return (c[hi] - c[lo]) / (hi - lo)


def ef_runtime(lv_masks: np.ndarray, spacing_mm, **rule) -> dict:
    """EF and its validity as the runtime reports them after the last frame of a one-beat cine (src/pipeline/
    postprocess.ts EjectionFraction, fed per frame by src/pipeline/index.ts): each frame keeps the largest
    8-connected LV component; a frame with fewer than 3 LV pixels, or whose volume differs from the window's previous
    one by more than a factor max_step per frame since that one (step_frames; 0: off), is skipped, and the
    (max_skip + 1)-th such frame in a row empties the window; the window holds the last `window` frames; ED/ES are its
    largest/smallest area-length
    volumes (the runtime's rule until a beat is confirmed: with confirmed beats it reports their median EF, which a
    16-frame cine of about one beat does not have); valid with at least `min_frames` frames and an EF inside
    `ef_range` (percent, inclusive). spacing_mm: one number or (sx, sy). Not modelled: view and quality gating, the
    in-distribution state and the package's EF calibration (calibrate.ef_measurements applies it). `bands` (per
    frame, border_band's width or None) adds `border_band`: their mean over the frames in the window that carry one
    (None when none does), what the runtime compares with calibration.lv_border's threshold. `smooth` (odd): the
    window's volumes are first replaced by their centred `smooth`-frame means (smooth_volumes); 1 = as they are.
    `trim` (0..0.5; the package's calibration.ef.trim): ED and ES volumes are the means of the window's
    k = trim_count(trim, n) largest and k smallest volumes instead of the largest and the smallest (a share of the
    beat, not a number of frames). The rule's parameters (window, min_frames, ef_range, max_skip, max_step, bands,
    smooth, trim) are ef_runtime_from's, by keyword."""
    return ef_runtime_from(frame_volumes(lv_masks, spacing_mm), **rule)


def frame_volumes(lv_masks: np.ndarray, spacing_mm) -> list:
    """Each frame's (volume in ml, long axis in mm) as ef_runtime takes them (frame_volume_ml): computed once, so
    that several EF rules can be applied to the same cine (ef_runtime_from)."""
    return [frame_volume_ml(m, spacing_mm) for m in lv_masks]


def step_frames(seq_diff: int, bridged: int, max_skip: int) -> int:
    """The frames the step rule spans between a volume and the window's last one, as the runtime counts them
    (src/pipeline/postprocess.ts stepFrames): the larger of the frame numbers' difference and the bridged frames
    (the volumes the rule refused among them) plus one, at least 1 and at most max_skip + 1. Frame indices are
    integers here."""
    return min(max(seq_diff, bridged + 1, 1), max(1, max_skip + 1))


def ef_runtime_from(volumes, window: int = 128, min_frames: int = 16, ef_range=(5.0, 90.0), max_skip: int = 3,
                    max_step: float = 2.0, bands=None, smooth: int = 1, trim: float = 0.0) -> dict:
    """ef_runtime on frame_volumes' output instead of the masks (the same result; ef_runtime documents the
    parameters)."""
    vols, gap, run, kept = [], False, 0, []
    for i, (v, l) in enumerate(volumes):
        # fewer than 3 LV pixels (lv_area_length gives 0, 0), or a jump no ventricle makes between two frames: a
        # factor max_step per frame since the window's last volume (step_frames)
        f = max_step ** step_frames(i - kept[-1], run, max_skip) if vols and max_step > 0 else 0
        if l == 0 or (f > 0 and (v * f < vols[-1] or v > vols[-1] * f)):
            run += 1
            if run > max_skip:
                vols, kept, gap, run = [], [], True, 0
            continue
        run = 0
        vols = (vols + [v])[-window:]
        kept = (kept + [i])[-window:]
    band = {}
    if bands is not None:
        b = [bands[i] for i in kept if bands[i] is not None]
        band = {"border_band": float(np.mean(b)) if b else None}
    if not vols:
        return {"ef": 0.0, "valid": False, "reason": "frames had no LV mask" if gap or run else "no frames", **band}
    v = smooth_volumes(np.array(vols), smooth)
    if trim > 0:
        k = trim_count(trim, len(v))
        srt = np.sort(v)
        ef = ef_percent(float(srt[-k:].mean()), float(srt[:k].mean()))
    else:
        ef = ef_percent(v.max(), v.min())
    reason = None
    if len(v) < min_frames:
        reason = f"{len(v)} of {min_frames} frames"
    elif ef < ef_range[0] or ef > ef_range[1]:
        reason = f"EF {ef:.1f}% outside {ef_range[0]:g}-{ef_range[1]:g}%"
    return {"ef": float(ef), "valid": reason is None, "reason": reason, **band}


def regression(pred, true) -> dict:
    pred, true = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    err = pred - true
    ss_tot = ((true - true.mean()) ** 2).sum()
    return {"mae": float(np.abs(err).mean()), "rmse": float(np.sqrt((err ** 2).mean())),
            "r2": float(1 - (err ** 2).sum() / ss_tot) if ss_tot > 0 else float("nan"), "bias": float(err.mean()),
            "loa": float(1.96 * err.std(ddof=1)) if len(err) > 1 else float("nan"),
            "r": float(np.corrcoef(pred, true)[0, 1]) if len(err) > 1 and pred.std() > 0 and true.std() > 0
            else float("nan")}


def confusion(pred, true, n: int) -> np.ndarray:
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (np.asarray(true), np.asarray(pred)), 1)
    return cm  # rows: true, columns: predicted


def ece(confidence, correct, n_bins: int = 15):
    """Expected calibration error with equal-width bins on (0, 1]; returns (ece, bin_conf, bin_acc, bin_count)."""
    conf = np.asarray(confidence, np.float64)
    corr = np.asarray(correct, np.float64)
    edges = np.linspace(0, 1, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    cnt = np.bincount(idx, minlength=n_bins).astype(np.float64)
    sc = np.bincount(idx, conf, minlength=n_bins)
    sa = np.bincount(idx, corr, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        bc, ba = sc / cnt, sa / cnt
    e = float(np.nansum(cnt / max(1, len(conf)) * np.abs(ba - bc)))
    return e, bc, ba, cnt


def bootstrap_ci(stat, *arrays, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05):
    """Percentile bootstrap (resampling cases with replacement) of stat(*arrays); returns (lo, hi)."""
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    rng = np.random.default_rng(seed)
    vals = np.empty(n_boot)
    for b in range(n_boot):
        i = rng.integers(0, n, n)
        vals[b] = stat(*[a[i] for a in arrays])
    return float(np.nanpercentile(vals, 100 * alpha / 2)), float(np.nanpercentile(vals, 100 * (1 - alpha / 2)))
