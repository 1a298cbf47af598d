"""Imaging planes: where the probe sits relative to the heart for each view, and how the plane is laid on the image.

A pose maps image millimetres (X right, Z down, origin at the probe) to heart coordinates: p = origin + X e + Z d.
It is built from a heart point Q shown at image position (Xq, Zq), two heart directions h and v spanning the plane
(h is drawn to the image right and v downwards when theta = 0), and an in-plane angle theta (v drawn at
(sin theta, cos theta) in the image).

  A4C   plane through the long axis, inferoseptum and anterolateral wall; apex at the top, LV to the right of the
        RV, atria below; the long axis leans 10-20 degrees to the right
  A2C   the long-axis plane through the anterior and inferior walls, no right heart; anterior on the right
  PLAX  the long-axis plane through the aortic root, probe anterior: RV on top, aorta and LA to the right
  PSAX  a plane across the long axis at mid-ventricle, probe anterior: LV ring, RV crescent to the upper left
Variants change the pose: off_axis turns the plane 25-35 degrees in the image about the apex (apical views) or the
LV centre, moves the heart off centre and twists the plane 5-12 degrees; foreshortened tilts the plane 15-25 degrees
out of the long axis so the true apex is missed (apical; PLAX/PSAX get oblique cuts); rotated turns the whole heart
60-300 degrees in the image.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .heart import DEG, Heart

Z_AXIS = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class Pose:
    origin: np.ndarray
    e: np.ndarray
    d: np.ndarray

    def to_heart(self, X, Z):
        X = np.asarray(X, np.float64).ravel()
        Z = np.asarray(Z, np.float64).ravel()
        return self.origin[None, :] + X[:, None] * self.e[None, :] + Z[:, None] * self.d[None, :]

    def to_image(self, P):
        D = P - self.origin[None, :]
        return D @ self.e, D @ self.d


def make_pose(Q, h, v, xq, zq, theta) -> Pose:
    h = np.asarray(h, np.float64) / np.linalg.norm(h)
    v = np.asarray(v, np.float64)
    v = v - (v @ h) * h
    v = v / np.linalg.norm(v)
    c, s = np.cos(theta), np.sin(theta)
    e = c * h + s * v
    d = -s * h + c * v
    return Pose(origin=np.asarray(Q, np.float64) - xq * e - zq * d, e=e, d=d)


def _rot_z(phi):
    return np.array([np.cos(phi), np.sin(phi), 0.0])


def _rotate(vec, axis, ang):
    """Rodrigues rotation of vec about the unit axis."""
    axis = axis / np.linalg.norm(axis)
    return vec * np.cos(ang) + np.cross(axis, vec) * np.sin(ang) + axis * (axis @ vec) * (1 - np.cos(ang))


@dataclass(frozen=True)
class PlaneSpec:
    Q: np.ndarray
    h: np.ndarray
    v: np.ndarray
    xq: float
    zq: float
    theta: float


def standard_plane(rng: np.random.Generator, view: str, heart: Heart, chest: float) -> PlaneSpec:
    p = heart.p
    L = p.length
    front = chest + 4.0  # first heart structure below the chest wall
    if view == "A4C":
        h = _rot_z(rng.uniform(145, 165) * DEG)  # anterolateral wall to the right, inferoseptum to the left
        return PlaneSpec(np.zeros(3), h, Z_AXIS, rng.uniform(-6, 4), front + p.apex_wall + p.peri_gap + p.peri_thick
                         + rng.uniform(3, 12), rng.uniform(10, 19) * DEG)
    if view == "A2C":
        h = _rot_z(rng.uniform(80, 100) * DEG)  # anterior wall to the right, inferior to the left
        return PlaneSpec(np.zeros(3), h, Z_AXIS, rng.uniform(-6, 4), front + p.apex_wall + p.peri_gap + p.peri_thick
                         + rng.uniform(3, 12), rng.uniform(2, 12) * DEG)
    if view == "PLAX":
        u = _rot_z(p.ao_phi + rng.uniform(-4, 4) * DEG)
        depth_axis = front + p.rv_width + p.rv_wall + p.wall + p.a + rng.uniform(2, 10)
        # mid-LV left of centre so that the valves sit mid-image with the aortic root and LA to their right
        return PlaneSpec(np.array([0, 0, 0.55 * L]), Z_AXIS, -u, rng.uniform(-40, -26), depth_axis,
                         rng.uniform(3, 14) * DEG)
    if view == "PSAX":
        phi_p = rng.uniform(70, 100) * DEG
        v = -_rot_z(phi_p)
        h = np.array([-np.sin(phi_p), np.cos(phi_p), 0.0])
        depth_axis = front + p.rv_width + p.rv_wall + p.wall + p.a + rng.uniform(2, 10)
        return PlaneSpec(np.array([0, 0, rng.uniform(0.42, 0.58) * L]), h, v, rng.uniform(-6, 8), depth_axis,
                         rng.uniform(-10, 10) * DEG)
    raise ValueError(view)


def pose_for(rng: np.random.Generator, view: str, variant: str, heart: Heart, chest: float, depth: float) -> Pose:
    """The probe pose for a view and variant (see the module docstring)."""
    ps = standard_plane(rng, view, heart, chest)
    Q, h, v, xq, zq, theta = ps.Q, ps.h, ps.v, ps.xq, ps.zq, ps.theta
    apical = view in ("A4C", "A2C")
    L = heart.p.length
    if variant == "off_axis":
        sgn = rng.choice([-1.0, 1.0])
        theta = theta + sgn * rng.uniform(25, 35) * DEG
        xq = xq + rng.choice([-1.0, 1.0]) * rng.uniform(8, 20)
        h = _rotate(h, v, rng.choice([-1.0, 1.0]) * rng.uniform(5, 12) * DEG)
    elif variant == "foreshortened":
        gamma = rng.choice([-1.0, 1.0]) * rng.uniform(15, 25) * DEG
        if apical:
            # tilt about h through a pivot near the base; keep the apparent apex where the apex would be
            pivot = np.array([0, 0, 0.9 * L])
            n = np.cross(h, v)
            v2 = np.cos(gamma) * v + np.sin(gamma) * n
            st = heart.state_ed
            b = np.linspace(0, 0.9 * L, 181)
            pts = pivot[None, :] - b[:, None] * v2[None, :]
            lab = heart.labels(pts, st)
            inside = np.nonzero(lab == 1)[0]
            b_app = b[inside.max()] if len(inside) else 0.6 * L
            shorten = 0.9 * L - b_app
            img_pivot = np.array([xq, zq]) + 0.9 * L * np.array([np.sin(theta), np.cos(theta)])
            img_pivot = img_pivot - shorten * np.array([np.sin(theta), np.cos(theta)])
            return make_pose(pivot, h, v2, img_pivot[0], img_pivot[1], theta)
        if view == "PLAX":
            h = _rotate(h, v, gamma)  # the plane leaves the long axis: a shorter, rounder LV
        else:
            v = _rotate(v, h, gamma * 1.2)  # PSAX: an oblique cut
    elif variant == "rotated":
        # turn the heart in the image about its centre, keeping the centre mid-sector
        centre = np.array([0, 0, 0.5 * L]) if apical else Q
        a_c, b_c = (centre - Q) @ h, (centre - Q) @ v
        theta = theta + rng.uniform(60, 300) * DEG
        c, s = np.cos(theta), np.sin(theta)
        img_c = np.array([rng.uniform(-10, 10), rng.uniform(0.42, 0.55) * depth])
        xq = img_c[0] - (c * a_c + s * b_c)
        zq = img_c[1] - (-s * a_c + c * b_c)
    return make_pose(Q, h, v, xq, zq, theta)
