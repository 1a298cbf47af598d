"""Generated negatives: frames that are not a standard echo view, for the view model's OTHER class and for measuring
the in-distribution score (what the runtime reports as `unknown`).

Families (FAMILIES), each a function (rng, size) -> uint8 [H, W]:
- `noise`: Gaussian, uniform, salt-and-pepper or smooth noise, full frame or inside an ultrasound-shaped region;
- `flat`: black, saturated, grey or a gradient, full frame or in a sector;
- `screen`: a scanner screen without an image: text, bars, an ECG trace, a colour bar on black;
- `natural`: procedural natural-looking images (shapes, stripes, 1/f clouds, edges);
- `us_texture`: non-cardiac ultrasound: speckle (log-compressed Rayleigh) with organ-like regions (a hypoechoic
  lymph-node oval with a bright hilum, a fluid-filled bladder with a bright wall, vessels, muscle fibres, liver with
  vessels), in a sector, a linear-probe rectangle or a curvilinear fan;
- `rotated` (needs heart frames, `transform_hearts`): a heart view rotated by 60-300 degrees, turned upside down, or
  mirrored left-right (A4C and PLAX, whose sides are not interchangeable).
Held out from training (evaluation only): `photo` (the photographs that ship with matplotlib, random crops), the
independent generator's negatives (sonoedge_phantom) and real non-cardiac ultrasound (pydicom's test files).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from .domain import overlay


def _region(rng, size: int) -> np.ndarray:
    """An ultrasound image's footprint: a sector, a linear-probe rectangle or a curvilinear fan (bool [H, W])."""
    H = W = size
    kind = int(rng.integers(3))
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    if kind == 0:
        half = math.radians(rng.uniform(30, 50))
        r = np.hypot(xx - W / 2, yy)
        th = np.arctan2(xx - W / 2, yy + 1e-3)
        return (r < rng.uniform(0.8, 1.0) * H) & (np.abs(th) < half)
    if kind == 1:
        x0, x1 = rng.uniform(0, 0.15) * W, rng.uniform(0.85, 1.0) * W
        return (xx >= x0) & (xx <= x1) & (yy >= rng.uniform(0, 0.1) * H)
    R = rng.uniform(0.3, 0.8) * H  # virtual apex above the image
    r = np.hypot(xx - W / 2, yy + R)
    th = np.arctan2(xx - W / 2, yy + R)
    return (r > R) & (r < R + rng.uniform(0.75, 0.95) * H) & (np.abs(th) < math.radians(rng.uniform(25, 40)))


def _smooth(rng, size, sigma):
    f = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), sigma)
    return (f - f.mean()) / max(1e-6, float(f.std()))


def noise(rng, size):
    k = int(rng.integers(4))
    if k == 0:
        x = rng.normal(rng.uniform(0.2, 0.6), rng.uniform(0.05, 0.3), (size, size))
    elif k == 1:
        x = rng.uniform(0, rng.uniform(0.3, 1.0), (size, size))
    elif k == 2:
        x = np.full((size, size), rng.uniform(0, 0.5))
        m = rng.random((size, size))
        p = rng.uniform(0.02, 0.2)
        x[m < p / 2] = 0
        x[m > 1 - p / 2] = 1
    else:
        x = 0.45 + 0.2 * _smooth(rng, size, rng.uniform(1, 8))
    if rng.random() < 0.5:
        x = x * _region(rng, size)
    return _u8(x)


def flat(rng, size):
    k = int(rng.integers(4))
    if k == 0:
        x = np.zeros((size, size))
    elif k == 1:
        x = np.full((size, size), rng.uniform(0.9, 1.0))
    elif k == 2:
        x = np.full((size, size), rng.uniform(0.1, 0.8))
    else:
        g = np.linspace(rng.uniform(0, 1), rng.uniform(0, 1), size)
        x = g[:, None] * np.ones(size) if rng.random() < 0.5 else g[None, :] * np.ones((size, 1))
    if rng.random() < 0.4:
        x = x * _region(rng, size)
    return _u8(x)


def screen(rng, size):
    x = np.zeros((size, size), np.float32)
    for _ in range(int(rng.integers(2, 6))):
        overlay(x, rng)
    if rng.random() < 0.5:  # header / footer bars
        h = int(rng.integers(6, 18))
        x[:h] = np.maximum(x[:h], rng.uniform(0.2, 0.5))
    return _u8(x)


def natural(rng, size):
    x = 0.5 + 0.25 * _smooth(rng, size, rng.uniform(6, 20))
    for _ in range(int(rng.integers(3, 12))):
        v = rng.uniform(0, 1)
        k = int(rng.integers(4))
        c = tuple(int(t) for t in rng.integers(0, size, 2))
        if k == 0:
            cv2.ellipse(x, c, tuple(int(t) for t in rng.integers(4, size // 2, 2)), float(rng.uniform(0, 180)), 0, 360,
                        v, -1)
        elif k == 1:
            pts = rng.integers(0, size, (int(rng.integers(3, 7)), 2)).astype(np.int32)
            cv2.fillPoly(x, [pts], v)
        elif k == 2:
            cv2.line(x, c, tuple(int(t) for t in rng.integers(0, size, 2)), v, int(rng.integers(1, 6)))
        else:  # stripes inside a box
            x0, y0 = c
            w, h = (int(t) for t in rng.integers(8, size // 2, 2))
            period = rng.uniform(3, 10)
            yy, xx = np.mgrid[0:h, 0:w]
            patch = 0.5 + 0.5 * np.sin((xx * math.cos(v * 3) + yy * math.sin(v * 3)) * 2 * math.pi / period)
            ys, xs = slice(y0, min(size, y0 + h)), slice(x0, min(size, x0 + w))
            x[ys, xs] = patch[:x[ys, xs].shape[0], :x[ys, xs].shape[1]]
    x += rng.normal(0, rng.uniform(0, 0.05), x.shape)
    return _u8(x)


def _speckle(rng, size, mean_db):
    """Log-compressed fully developed speckle: 20 log10 of a Rayleigh amplitude, as display values."""
    ray = rng.rayleigh(1.0, (size, size)).astype(np.float32)
    ray = cv2.GaussianBlur(ray, (0, 0), rng.uniform(0.6, 1.4))
    return mean_db + 20 * np.log10(ray + 1e-3) / 50.0


def us_texture(rng, size):
    """Non-cardiac B-mode: parenchyma speckle with organ-like regions inside a probe footprint."""
    base = rng.uniform(0.3, 0.6)
    level = np.full((size, size), base, np.float32) + 0.08 * _smooth(rng, size, rng.uniform(4, 15))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for _ in range(int(rng.integers(1, 5))):
        k = int(rng.integers(5))
        cx, cy = rng.uniform(0.1, 0.9) * size, rng.uniform(0.2, 0.9) * size
        ax, ay = rng.uniform(0.06, 0.3) * size, rng.uniform(0.04, 0.2) * size
        rot = rng.uniform(0, math.pi)
        u = ((xx - cx) * math.cos(rot) + (yy - cy) * math.sin(rot)) / ax
        v = (-(xx - cx) * math.sin(rot) + (yy - cy) * math.cos(rot)) / ay
        d = u * u + v * v
        if k == 0:  # lymph node: hypoechoic oval, bright hilum
            level[d < 1] = base * 0.45
            level[d < 0.15] = base * 1.3
        elif k == 1:  # bladder / cyst: anechoic with a bright wall
            level[(d >= 1) & (d < 1.25)] = min(1.0, base * 1.6)
            level[d < 1] = 0.02
        elif k == 2:  # vessel: a dark tube
            level[np.abs(v) < 1] = 0.03
            level[(np.abs(v) >= 1) & (np.abs(v) < 1.3)] = min(1.0, base * 1.4)
        elif k == 3:  # muscle fibres: bright parallel lines
            level += 0.15 * (np.sin(v * ay * 2 * math.pi / rng.uniform(3, 7)) > 0.7)
        else:  # a bright interface (fascia, diaphragm)
            level[np.abs(v) < 0.15] = min(1.0, base * 1.8)
    x = level + (_speckle(rng, size, 0.0)) * level * rng.uniform(0.5, 1.2)
    x = x * np.exp(-rng.uniform(0, 1.2) * yy / size)  # attenuation, uncompensated
    return _u8(x * _region(rng, size))


def transform_hearts(frames: np.ndarray, views: np.ndarray, rng, view_names) -> np.ndarray:
    """Heart frames (uint8 [B, H, W]) turned into negatives: rotated by 60-300 degrees about the image centre,
    upside down, or (A4C, PLAX) mirrored left-right."""
    out = np.empty_like(frames)
    B, H, W = frames.shape
    for i in range(B):
        k = int(rng.integers(3))
        name = view_names[int(views[i])]
        if k == 2 and name not in ("A4C", "PLAX"):
            k = 0
        if k == 0:
            m = cv2.getRotationMatrix2D((W / 2, H / 2), float(rng.uniform(60, 300)), 1.0)
            out[i] = cv2.warpAffine(frames[i], m, (W, H), flags=cv2.INTER_LINEAR)
        elif k == 1:
            out[i] = frames[i][::-1]
        else:
            out[i] = frames[i][:, ::-1]
    return out


def transform_in_sector(frames: np.ndarray, rng, min_deg: float = 60.0, turn_range: tuple[float, float] | None = None) -> np.ndarray:
    """Heart frames (uint8 [B, H, W]) turned into negatives inside their own sector, as a probe held the wrong way
    shows them: the content rotated by min_deg to 360 - min_deg degrees about the sector's centre (config
    domain.neg_in_sector_min_deg), or upside down, and cut back to the frame's sector (the convex hull of its
    non-zero pixels), so the sector's outline says nothing (transform_hearts turns the outline with the heart). What
    the turn brings in from outside the sector is speckle drawn from the frame's own pixels inside it. With
    turn_range (lo, hi) degrees every frame is turned by a draw from it instead (never upside down): the same
    resampling for frames that stay upright, so that a model comparing the two cannot tell them by it."""
    out = np.empty_like(frames)
    B, H, W = frames.shape
    for i in range(B):
        f = frames[i]
        pts = cv2.findNonZero((f > 0).astype(np.uint8))
        if pts is None or len(pts) < 3:
            out[i] = f
            continue
        hull = np.zeros((H, W), np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(pts), 1)
        inside = hull.astype(bool)
        vals = f[inside]
        fill = vals[rng.integers(len(vals), size=(H, W))].astype(np.float32)
        filled = np.where(inside, f, cv2.GaussianBlur(fill, (0, 0), 0.7).astype(np.uint8))
        ys, xs = np.nonzero(inside)
        if turn_range is not None or rng.random() < 0.5:
            turn = float(rng.uniform(*turn_range)) if turn_range is not None else float(rng.uniform(min_deg, 360 - min_deg))
            m = cv2.getRotationMatrix2D((float(xs.mean()), float(ys.mean())), turn, 1.0)
            g = cv2.warpAffine(filled, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        else:
            g = filled.copy()
            g[ys.min():ys.max() + 1] = filled[ys.min():ys.max() + 1][::-1]
        out[i] = g * hull
    return out


def _u8(x):
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


FAMILIES = {"noise": noise, "flat": flat, "screen": screen, "natural": natural, "us_texture": us_texture}


def negatives(n: int, rng, size: int = 112, families=None) -> tuple[np.ndarray, list[str]]:
    """n frames drawn from the procedural families (uniformly), uint8 [n, size, size], and each frame's family."""
    names = list(families or FAMILIES)
    pick = rng.integers(len(names), size=n)
    return np.stack([FAMILIES[names[k]](rng, size) for k in pick]) if n else np.zeros((0, size, size), np.uint8), \
        [names[k] for k in pick]


def photos(n: int, rng, size: int = 112) -> np.ndarray:
    """Random grey crops of the photographs that ship with matplotlib (held out: never used for training)."""
    from matplotlib import cbook
    imgs = []
    for name in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "logo2.png"):
        try:
            with cbook.get_sample_data(name) as f:
                data = np.frombuffer(f.read(), np.uint8)
            im = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
            if im is not None:
                imgs.append(im)
        except (OSError, ValueError):
            continue
    out = []
    for _ in range(n):
        im = imgs[int(rng.integers(len(imgs)))]
        h, w = im.shape
        s = int(rng.uniform(0.3, 1.0) * min(h, w))
        y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        out.append(cv2.resize(im[y:y + s, x:x + s], (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(out) if out else np.zeros((0, size, size), np.uint8)
