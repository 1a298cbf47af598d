"""Domain randomisation at training time: how a frame reaches the model on real carts, not only in our simulator.

Three stages, each drawn per frame from the step's RNG (config `domain`):
1. **Framing** (`frame_batch`): the runtime crops the sector's bounding box when the scanner or the DICOM says where it
   is, but real inputs arrive framed in many ways. A wide cine's whole sector image (sim/simulator.py, "wide"
   difficulties) is cut to 112x112 as
   - `bbox`: the sector's bounding box with margins of -6..+12 % per side (what the runtime does with a sector box;
     not square, so the sector is stretched as the runtime stretches it),
   - `square`: a square about the probe apex that cuts the sector's sides (how public echo datasets store clips),
   - `full`: the stored square canvas with the sector at the top (the bundled sample DICOM's framing),
   - `aspect`: a bounding box with the aspect changed by 0.7-1.4 (non-square source pixels, e.g. 4:3 captures).
   Masks are cut the same way (nearest), so segmentation and the quality label follow.
2. **Acquisition chain** (`acquire_batch`): what scanners and archives do to the displayed image: first, with
   probability `artefact_p`, beam artefacts that cross the blood pools (`artefact_arcs`: reverberation and side-lobe
   arcs at constant range from the probe, which real apical views show across the apex and mid-cavity, Feigenbaum's
   Echocardiography ch. 2 and Bushberg et al., The Essential Physics of Medical Imaging, ch. 14; the segmentation label
   does not move with them); then a log-compression
   curve (gamma and a random monotone look-up table: colour maps converted back to grey are monotone curves too),
   a gain offset and a depth ramp (TGC), speckle-reduction filters (Gaussian, median, bilateral), down- and
   up-sampling, JPEG compression, additive noise. Before the chain, with probability `clutter_p` and when the
   labels are given (segmentation batches), **echoes inside the LV cavity near its wall** (`cavity_clutter`):
   trabeculae and the partial-volume smear of the wall into the blood pool (the beam is several millimetres wide in
   elevation and laterally, so the pool near the endocardium echoes; Feigenbaum's Echocardiography ch. 2, and
   trabeculation ch. 6), a brightness that rises toward the wall over a random width with a strand texture, and
   papillary muscles, bright bodies attached to the wall inside the cavity. The label does not move: by the ASE/EACVI
   chamber-quantification convention (Lang et al., J Am Soc Echocardiogr 2015) the endocardial border is traced
   outside trabeculae and papillary muscles, which belong to the cavity.
   With probability `dropout_p`, **beam dropout** (`beam_dropout`): one or two wedges from the probe, from some depth
   on, lose most of their echo, as walls parallel to the beam do (the lateral wall and the thin RV free wall of
   apical views reflect little back; Feigenbaum ch. 2) and as a rib or lung edge shadows a sector. Labels stay; the
   quality label, recomputed from the frame the model sees, falls where the LV wall is hidden.
   With probability `edge_p`, **sensitivity lost toward the sector's sides** (`edge_loss`): a phased array steered
   to large angles loses sensitivity (each element's directivity falls off with the steering angle, and grating
   and side lobes take energy from the main lobe; Szabo, Diagnostic Ultrasound Imaging, ch. 7; Bushberg et al.
   ch. 14), so apical views show the lateral LV wall and the RV free wall near the sector's sides faint or
   missing while the septum in the middle is bright. One or both sides fade linearly from a random fraction of
   the half-sector angle to a random floor at the edge. Labels stay; the quality label follows the LV wall.
   With probability `surround_p`, **dark surroundings** (`dark_surround`): real apical views often show the tissue
   round the heart (lung, fat, the mediastinum) and the blood pools nearly black, the heart's walls and specular
   interfaces (septum, valves, pericardium) standing out of a dark image, where our simulator fills the sector
   with mid-grey speckle. A strong compression curve (gamma 1.5-3.5), either over the whole frame or, half the
   time when the labels are given, everywhere but a soft band round the LV myocardium (whose echo then stays).
   Labels stay; the quality label is recomputed from the frame, so a wall that loses its contrast lowers it.
   Last, with probability `texture_p`, **random local texture** (`random_texture`): a shallow convolutional net
   with random weights, drawn per frame (global intensity non-linear augmentation, GIN: Ouyang et al., "Causality-
   inspired single-source domain generalization for medical image segmentation", IEEE TMI 2022), remaps each pixel
   from its 3x3 neighbourhood, and the frame is blended with it. Speckle statistics, edge sharpness and the local
   grey-level mapping all change while shapes stay where they are, so the model has to segment by shape rather than
   by our simulator's texture. Unlike the original, which aims at CT against MRI, the result keeps the frame's
   polarity (blood dark): the remap is negated when it correlates negatively with the frame.
3. **Screen overlays** (`overlay_batch`): text, caliper crosses with a dotted line, depth-scale dots, an ECG trace,
   a colour bar; what is left of a full-screen capture inside the crop.

The quality label of wide cines is recomputed after stage 2 from the frame the model sees
(`quality = quality_from_parts(q_geom, wall_visibility(frame, labels))`, sim/simulator.py): whatever the chain did to
the walls' contrast moves the label with it; overlays do not.
"""
from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from .config import DEFAULTS as CONFIG_DEFAULTS
from .sim.simulator import quality_from_parts, wall_visibility

DEFAULTS = CONFIG_DEFAULTS["domain"]


def crop_box(box, mode: str, rng: np.random.Generator, canvas: int):
    """The crop (x0, y0, w, h) in canvas pixels for one frame whose sector box is `box` (x, y, w, h)."""
    bx, by, bw, bh = (float(v) for v in box)
    if mode == "full":
        return 0.0, 0.0, float(canvas), float(canvas)
    if mode == "square":
        side = max(bw, bh) * rng.uniform(0.72, 1.08)
        cx = bx + bw / 2 + rng.uniform(-0.05, 0.05) * side
        return cx - side / 2, by + rng.uniform(-0.04, 0.06) * side, side, side
    m = rng.uniform(-0.06, 0.12, 4)
    x0, y0 = bx - m[0] * bw, by - m[1] * bh
    w, h = bw * (1 + m[0] + m[2]), bh * (1 + m[1] + m[3])
    if mode == "aspect":
        k = math.exp(rng.uniform(math.log(0.7), math.log(1.4)))
        cx = x0 + w / 2
        w *= k
        x0 = cx - w / 2
    return x0, y0, w, h


def _cut(img: np.ndarray, x0: float, y0: float, w: float, h: float, size: int, interp: int) -> np.ndarray:
    """img's region (x0, y0, w, h), zero outside img, resized to size x size."""
    H, W = img.shape
    xi0, yi0 = int(math.floor(x0)), int(math.floor(y0))
    xi1, yi1 = int(math.ceil(x0 + w)), int(math.ceil(y0 + h))
    pad = max(0, -xi0, -yi0, xi1 - W, yi1 - H)
    src = np.pad(img, pad) if pad else img
    reg = src[yi0 + pad:yi1 + pad, xi0 + pad:xi1 + pad]
    return cv2.resize(reg, (size, size), interpolation=interp)


def frame_batch(frames, masks, boxes, rng, cfg=None, size: int = 112, modes=None):
    """Framing of a batch of wide frames (uint8 [B, N, N], labels [B, N, N], sector boxes [B, 4]) -> frames uint8
    [B, size, size], labels [B, size, size] and the crops [B, 4] (x0, y0, w, h in canvas pixels). `modes` forces a
    framing per frame (e.g. ["bbox"] * B with zero margins is render_dataset's)."""
    cfg = cfg or DEFAULTS
    names = list(cfg["framing"])
    probs = np.array([cfg["framing"][k] for k in names], np.float64)
    probs /= probs.sum()
    B, N = len(frames), frames.shape[-1]
    out_f = np.empty((B, size, size), np.uint8)
    out_m = np.empty((B, size, size), np.uint8)
    crops = np.empty((B, 4), np.float32)
    for i in range(B):
        mode = modes[i] if modes is not None else names[int(rng.choice(len(names), p=probs))]
        c = tuple(float(v) for v in boxes[i]) if mode == "exact" else crop_box(boxes[i], mode, rng, N)
        crops[i] = c
        out_f[i] = _cut(frames[i], *c, size, cv2.INTER_AREA)
        out_m[i] = _cut(masks[i], *c, size, cv2.INTER_NEAREST)
    return out_f, out_m, crops


def _monotone_lut(rng) -> np.ndarray:
    """A random increasing look-up table [256] in [0, 1] with lut[0] = 0: a few random knots, linearly joined."""
    k = int(rng.integers(3, 7))
    xs = np.concatenate([[0.0], np.sort(rng.uniform(0.05, 0.95, k)), [1.0]])
    ys = np.concatenate([[0.0], np.sort(rng.uniform(0.0, 1.0, k)), [rng.uniform(0.75, 1.0)]])
    ys = np.maximum.accumulate(ys)
    return np.interp(np.linspace(0, 1, 256), xs, ys).astype(np.float32)


def artefact_arcs(x: np.ndarray, inside: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Reverberation / side-lobe arcs added to one float [H, W] frame in [0, 1] (returned, clipped): 1-3 thin bright
    bands at constant range from the probe (the top of the image's inside, or above the frame when nothing is
    inside), either at multiples of one depth (reverberation between the probe and a strong reflector) or at
    independent depths, with an amplitude that varies smoothly across the beam and fades with depth."""
    H, W = x.shape
    r, ang = _polar(inside, rng)
    n = int(rng.integers(1, 4))
    if rng.random() < 0.5:
        r0 = rng.uniform(0.12, 0.35) * H
        radii = r0 * np.arange(1, n + 1)
    else:
        radii = np.sort(rng.uniform(0.12, 0.9, n)) * H
    knots = rng.uniform(0.2, 1.0, 9)  # amplitude across the beam, smooth
    across = np.interp(ang, np.linspace(-1.2, 1.2, 9), knots).astype(np.float32)
    add = np.zeros((H, W), np.float32)
    for k, rad in enumerate(radii):
        w = rng.uniform(0.6, 1.8)
        a = rng.uniform(0.15, 0.6) * (0.75 ** k)
        add += a * np.exp(-0.5 * ((r - rad) / w) ** 2)
    return np.clip(x + add * across * inside, 0, 1)


def cavity_clutter(x: np.ndarray, labels: np.ndarray, rng: np.random.Generator, width_max: float = 9.0,
                   level_max: float = 0.9) -> np.ndarray:
    """Echoes inside the LV cavity (label 1) near its wall, added to one float [H, W] frame in [0, 1] (returned,
    clipped): a brightness that rises toward the endocardium over a random width (1.5 to `width_max` px at 112 px),
    modulated by a strand texture (trabeculae), up to a fraction (0.25 to `level_max`) of the contrast between the
    myocardium's median brightness and the pool's (above 1: echoes as bright as the wall, the trabeculated and
    papillary-filled cavity of end-systole, where only the compact myocardium outside marks the border); and with probability 0.5 one
    or two papillary muscles, elliptical bodies about as bright as the wall, attached to it inside the cavity. Nothing
    outside the cavity changes; the labels are not moved (the cavity includes both, see the module's docstring)."""
    cav = labels == 1
    if cav.sum() < 20:
        return x
    myo = labels == 2
    if myo.any():
        wall = float(np.median(x[myo]))
    elif (x > 0).any():
        wall = float(np.percentile(x[x > 0], 75))
    else:
        wall = 0.5
    pool = float(np.median(x[cav]))
    span = max(wall - pool, 0.05)
    d = cv2.distanceTransform(cav.astype(np.uint8), cv2.DIST_L2, 3)
    width = rng.uniform(1.5, width_max)
    ramp = np.exp(-np.maximum(d - 0.5, 0) / width) if rng.random() < 0.5 else np.clip(1 - (d - 0.5) / width, 0, 1)
    H, W = x.shape
    # strands: smooth noise stretched along a random direction, thresholded softly
    n = rng.random((H, W)).astype(np.float32)
    sx, sy = rng.uniform(0.6, 2.5, 2)
    n = cv2.GaussianBlur(n, (0, 0), sigmaX=float(sx), sigmaY=float(sy))
    n = (n - n.mean()) / (n.std() + 1e-6)
    texture = np.clip(0.5 + rng.uniform(0.2, 0.6) * n, 0, 1.2)
    add = rng.uniform(0.25, level_max) * span * ramp * texture
    if rng.random() < 0.5:
        ys, xs = np.nonzero(cav & (d <= 1.5))
        yy, xx = _grid(H, W)
        cy0, cx0 = np.nonzero(cav)
        cyc, cxc = float(cy0.mean()), float(cx0.mean())
        for _ in range(int(rng.integers(1, 3))):
            k = int(rng.integers(len(ys)))
            # the body sits on the wall and points toward the cavity's centre
            vy, vx = cyc - ys[k], cxc - xs[k]
            norm = math.hypot(vy, vx) + 1e-6
            vy, vx = vy / norm, vx / norm
            L, T = rng.uniform(3.0, 9.0), rng.uniform(1.2, 3.0)
            py, px = ys[k] + vy * L * 0.6, xs[k] + vx * L * 0.6
            along = (yy - py) * vy + (xx - px) * vx
            across = -(yy - py) * vx + (xx - px) * vy
            body = np.exp(-0.5 * ((along / L) ** 2 + (across / T) ** 2) * 4)
            add = np.maximum(add, rng.uniform(0.5, 1.0) * span * body)
    return np.clip(x + add * cav, 0, 1)


@functools.lru_cache(maxsize=8)
def _grid(H: int, W: int):
    """The pixel coordinates (yy, xx) float32 [H, W] of a frame size, read-only and shared between frames."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    yy.flags.writeable = xx.flags.writeable = False
    return yy, xx


def _polar(inside: np.ndarray, rng: np.random.Generator):
    """Range and beam angle (0 straight down) of every pixel from the probe, for one frame: the probe sits above the
    top of the image's inside, or above the frame when nothing is inside."""
    H, W = inside.shape
    rows = np.flatnonzero(inside.any(1))
    if rows.size:
        top = int(rows[0])
        cols = np.flatnonzero(inside[top])
        cx, cy = float(cols.mean()) + rng.uniform(-2, 2), top - rng.uniform(0, 4)
    else:
        cx, cy = W / 2 + rng.uniform(-5, 5), -rng.uniform(0, 8)
    yy, xx = _grid(H, W)
    return np.hypot(xx - cx, yy - cy), np.arctan2(xx - cx, yy - cy)


def beam_dropout(x: np.ndarray, inside: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One or two wedges from the probe (angle from the probe's axis in [-0.75, 0.75] rad, width 0.08-0.45 rad, soft
    edges), from a random depth on (0-60 % of the image height), multiplied by 0.05-0.5: echo dropout of walls
    parallel to the beam, or an acoustic shadow. One float [H, W] frame in [0, 1], returned."""
    H, W = x.shape
    r, ang = _polar(inside, rng)
    gain = np.ones((H, W), np.float32)
    for _ in range(int(rng.integers(1, 3))):
        c, half = rng.uniform(-0.75, 0.75), rng.uniform(0.04, 0.225)
        edge = rng.uniform(0.02, 0.08)
        a = np.clip((half + edge - np.abs(ang - c)) / edge, 0, 1)  # 1 inside the wedge, soft edges
        r0 = rng.uniform(0, 0.6) * H
        a = a * np.clip((r - r0) / 4.0, 0, 1)
        gain *= 1 - a * (1 - rng.uniform(0.05, 0.5))
    return x * gain


def edge_loss(x: np.ndarray, inside: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensitivity lost toward the sector's sides: both sides (half the time) or one of them is multiplied by a gain
    falling linearly from 1 at a fraction 0.3-0.8 of the half-sector angle to 0.05-0.6 at the sector's edge (the
    wider side's angle; on a lopsided crop the narrower side does not reach its floor).
    One float [H, W] frame in [0, 1], returned."""
    H, W = x.shape
    _, ang = _polar(inside, rng)
    half = float(np.abs(ang[inside]).max()) if inside.any() else 0.6
    gain = np.ones((H, W), np.float32)
    sides = [-1, 1] if rng.random() < 0.5 else [int(rng.choice([-1, 1]))]
    for side in sides:
        t0, floor = rng.uniform(0.3, 0.8), rng.uniform(0.05, 0.6)
        a = np.clip((side * ang / max(half, 1e-3) - t0) / (1 - t0), 0, 1)
        gain *= 1 - a * (1 - floor)
    return x * gain


def random_texture(x: np.ndarray, inside: np.ndarray, rng: np.random.Generator, layers: int = 4,
                   width: int = 2) -> np.ndarray:
    """Random local texture (module docstring) on one float [H, W] frame in [0, 1], returned. The frame, centred on
    its mean inside the image (and 0 outside it), goes through `layers` convolutions of random N(0, 1) weights
    (1 -> `width` -> ... -> 1 channels; each kernel 1x1 or 3x3, drawn; leaky ReLU 0.2 between), is rescaled to the
    frame's standard deviation inside the image and its mean restored (negated first if it correlates negatively
    with the frame), then blended with the frame at a weight drawn from U(0, 1). Pixels outside the image (`inside`
    False) stay 0."""
    m = inside.astype(bool)
    if m.sum() < 2:
        return x
    mu, sd = float(x[m].mean()), float(x[m].std())
    h = [((x - mu) * m).astype(np.float32)]  # 0 outside: the sector's edge adds no step of its own
    for layer in range(layers):
        n_out = 1 if layer == layers - 1 else width
        k = 3 if rng.random() < 0.5 else 1
        w = rng.normal(0.0, 1.0, (n_out, len(h), k, k)).astype(np.float32)
        nxt = []
        for o in range(n_out):
            acc = np.zeros_like(h[0])
            for c, hc in enumerate(h):
                acc += cv2.filter2D(hc, -1, w[o, c], borderType=cv2.BORDER_REFLECT)
            nxt.append(acc if layer == layers - 1 else np.where(acc > 0, acc, np.float32(0.2) * acc))
        h = nxt
    y = h[0]
    y = y - float(y[m].mean())
    y_sd = float(y[m].std())
    if y_sd < 1e-6:
        return x
    if float((y[m] * (x[m] - mu)).sum()) < 0:
        y = -y
    y = y * np.float32(sd / y_sd) + np.float32(mu)
    a = np.float32(rng.uniform(0.0, 1.0))
    return (np.clip(a * y + (1 - a) * x, 0, 1) * m).astype(np.float32)


def dark_surround(x: np.ndarray, labels: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Dark surroundings (module docstring) on one float [H, W] frame in [0, 1], returned: x blended with x**gamma
    (gamma 1.5-3.5) at a weight of 0.6-1.0, everywhere, or (half the time, when `labels` hold at least 20 pixels of
    myocardium, label 2) outside a band round the myocardium that a Gaussian of sigma 1.5-4 px softens. Never
    brightens a pixel; 0 stays 0."""
    gamma, strength = rng.uniform(1.5, 3.5), rng.uniform(0.6, 1.0)
    w = np.float32(strength)
    if labels is not None and rng.random() < 0.5:
        myo = (labels == 2).astype(np.float32)
        if myo.sum() >= 20:
            keep = np.clip(cv2.GaussianBlur(myo, (0, 0), rng.uniform(1.5, 4.0)) * 1.6, 0, 1)
            w = (1 - keep) * np.float32(strength)
    return x * (1 - w) + np.power(x, np.float32(gamma)) * w


def acquire_batch(frames_u8: np.ndarray, rng: np.random.Generator, cfg=None, labels=None,
                  surround_labels=None) -> np.ndarray:
    """The acquisition chain on a batch of uint8 [B, H, W] frames -> float32 [B, H, W] in [0, 1]. Pixels that were
    0 (outside the image) stay 0 except where blur, resampling or JPEG spread the edge. `labels` (uint8 [B, H, W]
    segmentation labels of the frames, or None) enables the cavity clutter stage (`clutter_p`); `surround_labels`
    (the same, defaulting to `labels`) lets the dark-surroundings stage (`surround_p`) spare the myocardium."""
    cfg = cfg or DEFAULTS
    B, H, W = frames_u8.shape
    out = frames_u8.astype(np.float32) / 255.0
    rows = (np.arange(H, dtype=np.float32) / H)[:, None]
    # read once; drawn only when on, so configs without these stages draw the same numbers as before them
    clutter_p = cfg.get("clutter_p", 0.0) if labels is not None else 0.0
    dropout_p = cfg.get("dropout_p", 0.0)
    edge_p = cfg.get("edge_p", 0.0)
    surround_p = cfg.get("surround_p", 0.0)
    texture_p = cfg.get("texture_p", 0.0)
    if surround_labels is None:
        surround_labels = labels
    for i in range(B):
        x = out[i]
        inside = frames_u8[i] > 0
        if clutter_p > 0 and rng.random() < clutter_p:
            x = cavity_clutter(x, labels[i], rng, cfg.get("clutter_width_max", 9.0), cfg.get("clutter_level_max", 0.9))
        if rng.random() < cfg.get("artefact_p", 0.0):
            x = artefact_arcs(x, inside, rng)
        if dropout_p > 0 and rng.random() < dropout_p:
            x = beam_dropout(x, inside, rng)
        if edge_p > 0 and rng.random() < edge_p:
            x = edge_loss(x, inside, rng)
        if surround_p > 0 and rng.random() < surround_p:
            x = dark_surround(x, None if surround_labels is None else surround_labels[i], rng)
        if rng.random() < cfg["curve_p"]:
            x = x ** math.exp(rng.uniform(-0.55, 0.55))
        if rng.random() < cfg["lut_p"]:
            lut = _monotone_lut(rng)
            x = lut[np.clip((x * 255 + 0.5).astype(np.int32), 0, 255)]
        if rng.random() < cfg["gain_p"]:
            x = x + rng.uniform(-cfg["gain"], cfg["gain"])
        if rng.random() < cfg["tgc_p"]:
            x = x + rng.uniform(-cfg["tgc"], cfg["tgc"]) * (rows - 0.5)
        x = np.clip(x, 0, 1) * inside
        if rng.random() < cfg["blur_p"]:
            x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.4, 1.2))
        if rng.random() < cfg["median_p"]:
            x = cv2.medianBlur((x * 255).astype(np.uint8), 3).astype(np.float32) / 255
        if rng.random() < cfg["bilateral_p"]:
            x = cv2.bilateralFilter(x.astype(np.float32), 5, rng.uniform(0.05, 0.2), rng.uniform(1.5, 4))
        if rng.random() < cfg["down_p"]:
            f = rng.uniform(0.4, 0.85)
            small = cv2.resize(x, (max(8, int(W * f)), max(8, int(H * f))), interpolation=cv2.INTER_AREA)
            x = cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)
        if rng.random() < cfg["noise_p"]:
            x = x + rng.normal(0, rng.uniform(0.005, cfg["noise"]), x.shape).astype(np.float32) * (x > 0.005)
        if rng.random() < cfg["jpeg_p"]:
            ok, enc = cv2.imencode(".jpg", (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8),
                                   [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 91))])
            x = cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
        if texture_p > 0 and rng.random() < texture_p:
            x = random_texture(np.clip(x, 0, 1), inside, rng)
        out[i] = np.clip(x, 0, 1)
    return out


_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .:/-%"


def overlay(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Screen elements drawn into one float [H, W] frame in [0, 1] (in place and returned)."""
    H, W = x.shape
    x_out, x = x, np.zeros((H, W), np.uint8)  # drawn as uint8 (cv2's text needs it), then pasted
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(5))
        v = int(rng.uniform(150, 256))
        if kind == 0:  # text in a corner or along an edge
            s = "".join(rng.choice(list(_CHARS), int(rng.integers(2, 10))))
            org = (int(rng.integers(0, max(1, W - 30))), int(rng.choice([rng.integers(6, 16), rng.integers(H - 6, H)])))
            cv2.putText(x, s, org, cv2.FONT_HERSHEY_SIMPLEX, float(rng.uniform(0.2, 0.4)), v, 1, cv2.LINE_AA)
        elif kind == 1:  # calipers: two crosses and a dotted line inside the image
            p0 = rng.integers(15, [W - 15, H - 15])
            p1 = np.clip(p0 + rng.integers(-40, 40, 2), 5, [W - 5, H - 5])
            for (cx, cy) in (p0, p1):
                cv2.line(x, (int(cx) - 3, int(cy)), (int(cx) + 3, int(cy)), v, 1)
                cv2.line(x, (int(cx), int(cy) - 3), (int(cx), int(cy) + 3), v, 1)
            for t in np.linspace(0, 1, 10):
                q = (p0 + t * (p1 - p0)).astype(int)
                x[q[1], q[0]] = v
        elif kind == 2:  # depth-scale dots along one side
            col = int(rng.choice([rng.integers(1, 6), rng.integers(W - 6, W - 1)]))
            for r in range(int(rng.integers(2, 10)), H, int(rng.integers(8, 20))):
                x[r, col] = v
        elif kind == 3:  # ECG trace near the bottom
            base = int(rng.integers(H - 14, H - 3))
            xs = np.arange(W)
            ph = rng.uniform(0, 1)
            ys = base - (6 * np.exp(-((((xs / W * 3 + ph) % 1) - 0.5) / 0.02) ** 2)).astype(int)
            x[np.clip(ys, 0, H - 1), xs] = int(v * 0.8)
        else:  # a grey-scale / colour bar at one side
            c0 = int(rng.choice([rng.integers(0, 4), rng.integers(W - 8, W - 4)]))
            r0 = int(rng.integers(5, H // 3))
            x[r0:r0 + H // 3, c0:c0 + 4] = np.linspace(255, 1, H // 3).astype(np.uint8)[:, None]
    drawn = x > 0
    x_out[drawn] = x[drawn].astype(np.float32) / 255.0
    return x_out


def overlay_batch(x: np.ndarray, rng: np.random.Generator, p: float) -> np.ndarray:
    for i in range(len(x)):
        if rng.random() < p:
            overlay(x[i], rng)
    return x


def quality_labels(x01: np.ndarray, labels: np.ndarray, q_geom: np.ndarray, view: np.ndarray,
                   other_view: int, target: str = "label") -> np.ndarray:
    """The wide quality label of frames as the model sees them (float [B, H, W] in [0, 1]). target "geometric"
    (config loss.quality_target): only the label's geometric part (the pose, foreshortening, depth, haze and motion
    of the simulator's q_geom, 0 for OTHER), for a model whose quality is multiplied by a wall visibility measured
    on its frame (measured_quality)."""
    q = np.zeros(len(x01), np.float32)
    for i in range(len(x01)):
        if view[i] != other_view and q_geom[i] > 0:
            q[i] = q_geom[i] if target == "geometric" else quality_from_parts(q_geom[i], wall_visibility(x01[i], labels[i]))
    return q


def measured_quality(q_geom: np.ndarray, x01: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The quality label's formula with its geometric part given (a model's, trained with loss.quality_target
    "geometric") and its wall visibility measured on each frame (float [B, H, W] in [0, 1]) around an LV and
    myocardium labelled there (uint8 [B, H, W]: a segmentation's, or the reference)."""
    vis = np.array([wall_visibility(x, m) for x, m in zip(x01, labels)], np.float32)
    return quality_from_parts(np.asarray(q_geom, np.float32).reshape(-1), vis)


def render_dataset(src, out, size: int = 112, cines_per_shard: int = 64):
    """A wide dataset (format sonoedge-sim/2) as the runtime frames it when the sector box is known: the tight
    sector bounding box area-resized to size x size (masks per label by area, then argmax), the quality label
    recomputed at that size, and each frame's anisotropic model-pixel spacing (spacing_xy). Written in format
    sonoedge-sim/1 for evaluation and export checks."""
    import json
    from pathlib import Path

    from .constants import VIEWS
    from .data.synthetic import FORMAT, SimDataset, resize_masks
    ds = SimDataset(src)
    if not ds.wide:
        raise ValueError(f"{src}: expected a wide dataset (sonoedge-sim/2)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n = len(ds)
    frames = np.empty((n, size, size), np.uint8)
    masks = np.empty((n, size, size), np.uint8)
    for i in range(n):
        x0, y0, w, h = (float(v) for v in ds.box[i])
        frames[i] = _cut(ds.frames[i], x0, y0, w, h, size, cv2.INTER_AREA)
        big = _cut(ds.masks[i], x0, y0, w, h, max(size, int(round(max(w, h)))), cv2.INTER_NEAREST)
        masks[i] = resize_masks(big[None], (size, size))[0]
    q = quality_labels(frames.astype(np.float32) / 255, masks, ds.quality_geom, ds.view, VIEWS.index("OTHER"))
    sp_xy = np.stack([ds.box[:, 2] * ds.spacing / size, ds.box[:, 3] * ds.spacing / size], 1).astype(np.float32)
    index = dict(ds.index)
    index.update(format=FORMAT, image_size=[size, size], rendered_from=str(src), framing="sector bounding box",
                 shards=[])
    arrays = dict(frames=frames, masks=masks, view=ds.view, quality=q, guidance=ds.guidance, cine=ds.cine,
                  frame=ds.frame, spacing=np.sqrt(sp_xy[:, 0] * sp_xy[:, 1]).astype(np.float32), spacing_xy=sp_xy)
    cines, rows, k = [], [], 0

    def flush(rows, k):
        sel = np.concatenate(rows)
        name = f"shard_{k:05d}.npz"
        np.savez_compressed(out / name, **{a: v[sel] for a, v in arrays.items()})
        index["shards"].append({"file": name, "n_frames": int(len(sel))})

    start = 0
    for c in ds.cines:
        sel = np.flatnonzero(ds.cine == c["id"])
        cines.append(dict(c, shard=k, start=start, spacing_mm=float(arrays["spacing"][sel[0]]),
                          spacing_xy=[float(v) for v in sp_xy[sel[0]]]))
        rows.append(sel)
        start += len(sel)
        if len(rows) >= cines_per_shard:
            flush(rows, k)
            rows, k, start = [], k + 1, 0
    if rows:
        flush(rows, k)
    index["cines"] = cines
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return out / "index.json"
