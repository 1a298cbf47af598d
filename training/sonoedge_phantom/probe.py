"""Probe geometries and the scan conversion from beam coordinates to a pixel grid.

Image coordinates (mm): X lateral (positive to the image right), Z downwards. Beam coordinates: a lateral beam
coordinate u and a range r.
  phased  (sector):       origin at the probe face; u = angle from the probe axis (rad), r = distance from origin
  curved  (curvilinear):  origin at the virtual apex, the centre of the face's curvature; the face lies at
                          r = radius, so the image starts `radius` mm below the origin
  linear  (rectangular):  u = X (mm), r = Z (mm), parallel beams
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SOUND_SPEED = 1.54  # mm / us


@dataclass(frozen=True)
class Probe:
    kind: str                 # "phased" | "curved" | "linear"
    f0: float                 # centre frequency (MHz)
    depth: float              # imaging depth below the face (mm)
    half_angle: float = 0.0   # phased, curved: half the sector angle (rad)
    radius: float = 0.0       # curved: radius of the face (mm)
    width: float = 0.0        # linear: field width (mm)
    aperture: float = 18.0    # active aperture (mm): sets the lateral resolution
    focus: float = 70.0       # transmit focus below the face (mm)
    cycles: float = 2.0       # pulse envelope length (cycles, FWHM)

    @property
    def r0(self) -> float:
        return self.radius if self.kind == "curved" else 0.0

    @property
    def r1(self) -> float:
        return self.r0 + self.depth

    @property
    def u_range(self):
        if self.kind == "linear":
            return -self.width / 2, self.width / 2
        return -self.half_angle, self.half_angle

    @property
    def wavelength(self) -> float:
        return SOUND_SPEED / self.f0

    def to_beam(self, X, Z):
        if self.kind == "linear":
            return np.asarray(X, np.float64), np.asarray(Z, np.float64)
        return np.arctan2(X, Z), np.hypot(X, Z)

    def to_image(self, u, r):
        if self.kind == "linear":
            return u, r
        return r * np.sin(u), r * np.cos(u)

    def below_face(self, X, Z):
        """Depth below the probe face (mm): layers of skin, fat and muscle follow the face."""
        if self.kind == "curved":
            return np.hypot(X, Z) - self.radius
        return np.asarray(Z, np.float64)

    def inside(self, X, Z):
        u, r = self.to_beam(X, Z)
        u0, u1 = self.u_range
        return (u >= u0) & (u <= u1) & (r >= self.r0) & (r <= self.r1)

    def box(self):
        """Bounding box of the field of view in image mm: (xmin, xmax, zmin, zmax)."""
        if self.kind == "linear":
            return -self.width / 2, self.width / 2, 0.0, self.depth
        s = np.sin(self.half_angle)
        return -self.r1 * s, self.r1 * s, self.r0 * np.cos(self.half_angle), self.r1

    def area(self) -> float:
        """Area of the field of view (mm^2)."""
        if self.kind == "linear":
            return self.width * self.depth
        return self.half_angle * (self.r1 ** 2 - self.r0 ** 2)

    def sample_uniform(self, rng: np.random.Generator, n: int):
        """n points uniformly distributed over the field of view (image mm)."""
        u0, u1 = self.u_range
        u = rng.uniform(u0, u1, n)
        if self.kind == "linear":
            return u, rng.uniform(0, self.depth, n)
        r = np.sqrt(rng.uniform(self.r0 ** 2, self.r1 ** 2, n))
        return self.to_image(u, r)


@dataclass(frozen=True)
class Layout:
    """Where the field of view lands on the output pixel grid. Pixel (row i, column j) has its centre at
    X = (j - x0) * sx, Z = (i - y0) * sy."""
    height: int
    width: int
    sx: float
    sy: float
    x0: float
    y0: float

    def pixel_centres(self, factor: int = 1):
        """Image mm of the pixel centres of a grid `factor` times finer: (X [h, w], Z [h, w])."""
        jj = (np.arange(self.width * factor) + 0.5) / factor - 0.5
        ii = (np.arange(self.height * factor) + 0.5) / factor - 0.5
        return np.meshgrid((jj - self.x0) * self.sx, (ii - self.y0) * self.sy)


def make_layout(probe: Probe, size, aspect=None, margin: float = 0.04) -> Layout:
    """Fit the field of view into a frame of `size` = (H, W) pixels. aspect=None gives square pixels; aspect = w/h
    (e.g. 4/3) lays the view out on a frame of that shape in mm, then resamples it to H x W: pixels are then
    non-square, sx / sy = aspect * H / W."""
    h, w = size
    xmin, xmax, zmin, zmax = probe.box()
    bw, bh = (xmax - xmin) * (1 + 2 * margin), (zmax - zmin) * (1 + 2 * margin)
    a = w / h if aspect is None else aspect
    frame_h = max(bh, bw / a)
    frame_w = frame_h * a
    sx, sy = frame_w / w, frame_h / h
    top = margin * (zmax - zmin)
    y0 = -0.5 + (top - zmin) / sy
    x0 = (w - 1) / 2.0 - (xmin + xmax) / 2 / sx
    return Layout(h, w, float(sx), float(sy), float(x0), float(y0))


def sector_mask(probe: Probe, layout: Layout) -> np.ndarray:
    X, Z = layout.pixel_centres()
    return probe.inside(X, Z)


class ScanConverter:
    """Beam-domain image [n_r, n_u] (row m at range r_first + m * r_step, n_u beams spread evenly over u_range) to
    the pixel grid: bilinear sampling on a 2x finer grid, then 2x2 area averaging; pixels outside the field of view
    are 0."""

    def __init__(self, probe: Probe, layout: Layout, r_first: float, r_step: float, n_u: int):
        X, Z = layout.pixel_centres(2)
        u, r = probe.to_beam(X, Z)
        u0, u1 = probe.u_range
        self.map_x = ((u - u0) / (u1 - u0) * (n_u - 1)).astype(np.float32)
        self.map_y = ((r - r_first) / r_step).astype(np.float32)
        self.mask = sector_mask(probe, layout)
        self.size = (layout.width, layout.height)

    def __call__(self, img: np.ndarray) -> np.ndarray:
        fine = cv2.remap(img.astype(np.float32), self.map_x, self.map_y, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        out = cv2.resize(fine, self.size, interpolation=cv2.INTER_AREA)
        out[~self.mask] = 0
        return out
