"""Scenes: what lies in the image plane, asked in image millimetres, frame by frame.

A scene answers three questions for arrays of image points (X, Z):
  tissues(X, Z, k) -> tissue ids and an optional amplitude factor per point (texture such as muscle fibres)
  labels(X, Z, k)  -> segmentation labels (zeros except for labelled heart views)
  move(X0, Z0, k)  -> where material points, placed at the reference time, are at frame k
HeartScene wraps the 3D heart seen through a pose, under a chest wall; the non-cardiac scenes are drawn directly
in the plane: liver (with vessels, diaphragm), kidney (below liver), lymph node (in fat and muscle), bladder
(fluid, posterior enhancement, uterus/prostate, bowel gas), skeletal muscle (pennate fibres, fascia, bone).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .heart import Heart
from .probe import Probe
from .tissue import ID
from .views import Pose


@dataclass(frozen=True)
class Chest:
    skin: float
    fat: float
    depth: float        # total wall depth below the face
    fibre_period: float
    fibre_tilt: float
    rib: tuple | None = None  # (X, Z, half width, half height) of a rib in image mm

    @staticmethod
    def sample(rng, depth, rib=None):
        skin = rng.uniform(1.5, 2.5)
        return Chest(skin=skin, fat=skin + rng.uniform(0.25, 0.45) * (depth - skin), depth=depth,
                     fibre_period=rng.uniform(1.6, 3.0), fibre_tilt=rng.uniform(-0.12, 0.12), rib=rib)

    def apply(self, tissue, gain, X, Z, below):
        wall = below < self.depth
        t = np.where(below < self.skin, ID["skin"], np.where(below < self.fat, ID["subcutaneous_fat"], ID["muscle"]))
        tissue[wall] = t[wall]
        m = wall & (t == ID["muscle"])
        g = _fibres(X[m], below[m], self.fibre_period, self.fibre_tilt)
        gain[m] = g
        # fascia between fat and muscle, and under the muscle
        fas = wall & ((np.abs(below - self.fat) < 0.7) | (np.abs(below - self.depth + 0.6) < 0.6))
        tissue[fas] = ID["fibrous"]
        if self.rib is not None:
            rx, rz, a, b = self.rib
            tissue[((X - rx) / a) ** 2 + ((Z - rz) / b) ** 2 <= 1] = ID["bone"]


def _fibres(x, z, period, tilt):
    """Bright thin striations along the fibre direction: amplitude factor 0.6 .. 2.5."""
    ph = (z + tilt * x) / period * 2 * np.pi + 0.8 * np.sin(x / 11.0)
    return 0.6 + 1.9 * np.cos(ph) ** 8


class HeartScene:
    def __init__(self, heart: Heart, pose: Pose, probe: Probe, chest: Chest, times, labelled: bool = True,
                 lung: bool = True):
        self.heart = heart
        self.lung = lung  # False: lung drawn as soft tissue (a heart turned in the image must stay visible)
        self.pose = pose
        self.probe = probe
        self.chest = chest
        self.labelled = labelled
        self.states = [heart.state(t) for t in times]
        self.ref_tissue = ID["myocardium"]

    def tissues(self, X, Z, k):
        shape = np.shape(X)
        X, Z = np.ravel(X), np.ravel(Z)
        P = self.pose.to_heart(X, Z)
        st = self.states[k]
        t = self.heart.tissues(P, st)
        if not self.lung:
            t[(t == ID["lung"]) | (t == ID["pleura"])] = ID["soft"]
        gain = np.ones(len(X), np.float32)
        # specular reflection: walls and the pericardium echo strongest where the beam meets them square on
        sel = np.nonzero((t == ID["myocardium"]) | (t == ID["pericardium"]))[0]
        if len(sel):
            n = self.heart.normals(P[sel], st)
            b = P[sel] - self.pose.origin[None, :]
            cos2 = ((n * b).sum(1) / (np.linalg.norm(b, axis=1) + 1e-9)) ** 2
            peri = t[sel] == ID["pericardium"]
            gain[sel] = np.where(peri, 0.25 + 1.1 * cos2, 0.45 + 0.75 * cos2)
        self.chest.apply(t, gain, X, Z, self.probe.below_face(X, Z))
        return t.reshape(shape), gain.reshape(shape)

    def labels(self, X, Z, k):
        shape = np.shape(X)
        if not self.labelled:
            return np.zeros(shape, np.uint8)
        X, Z = np.ravel(X), np.ravel(Z)
        lab = self.heart.labels(self.pose.to_heart(X, Z), self.states[k])
        lab[self.probe.below_face(X, Z) < self.chest.depth] = 0
        return lab.reshape(shape)

    def move(self, X0, Z0, k):
        P = self.heart.warp(self.pose.to_heart(X0, Z0), self.states[k])
        X, Z = self.pose.to_image(P)
        fixed = self.probe.below_face(X0, Z0) < self.chest.depth + 2
        return np.where(fixed, X0, X), np.where(fixed, Z0, Z)

    def volume_3d(self, k):
        return self.heart.volume(self.states[k])


# ---------------------------------------------------------------- non-cardiac scenes

def _ellipse(X, Z, cx, cz, a, b, ang=0.0):
    c, s = np.cos(ang), np.sin(ang)
    dx, dz = X - cx, Z - cz
    u = (dx * c + dz * s) / a
    v = (-dx * s + dz * c) / b
    return np.sqrt(u * u + v * v)


def _capsule(X, Z, x0, z0, x1, z1):
    vx, vz = x1 - x0, z1 - z0
    t = np.clip(((X - x0) * vx + (Z - z0) * vz) / (vx * vx + vz * vz), 0, 1)
    return np.hypot(X - x0 - t * vx, Z - z0 - t * vz)


class PlaneScene:
    """A non-cardiac scene defined in the image plane, with a slow drift (breathing, probe pressure)."""

    def __init__(self, kind: str, rng: np.random.Generator, probe: Probe, times):
        self.kind = kind
        self.probe = probe
        self.times = np.asarray(times)
        self.rng = rng
        self.breath = (rng.uniform(3.0, 5.0), rng.uniform(0, 2 * np.pi),
                       rng.uniform(1.0, 5.0) if kind in ("liver", "kidney") else rng.uniform(0.0, 0.6))
        self.layers = self._layers(kind)
        self.items = getattr(self, "_" + kind)()
        self.ref_tissue = {"liver": ID["liver"], "kidney": ID["liver"], "lymph_node": ID["muscle"],
                           "bladder": ID["soft"], "muscle": ID["muscle"]}[kind]

    def _layers(self, kind):
        rng = self.rng
        skin = rng.uniform(1.2, 2.2)
        fat = skin + (rng.uniform(4, 12) if kind != "lymph_node" else rng.uniform(5, 9))
        musc = fat + (rng.uniform(5, 12) if kind in ("liver", "kidney", "bladder") else rng.uniform(3, 6))
        return skin, fat, musc, rng.uniform(1.5, 2.8), rng.uniform(-0.25, 0.25)

    def _shift(self, k):
        period, ph, amp = self.breath
        t = self.times[k]
        return 0.3 * amp * np.sin(2 * np.pi * t / period + ph), amp * np.sin(2 * np.pi * t / period + ph)

    # each builder returns a list of (tissue name, shape function (X, Z) -> bool, moves with breathing)
    def _liver(self):
        rng = self.rng
        d = self.probe.depth
        items = []
        dia_r = rng.uniform(90, 160)
        dia_c = (rng.uniform(-40, 40), self.probe.r0 + d * rng.uniform(0.75, 0.95) - dia_r)  # dome towards the probe
        items.append(("liver", lambda X, Z: np.ones(X.shape, bool), True))
        items.append(("lung", lambda X, Z, c=dia_c, r=dia_r: np.hypot(X - c[0], Z - c[1]) > r + 3, True))
        items.append(("fibrous", lambda X, Z, c=dia_c, r=dia_r: np.abs(np.hypot(X - c[0], Z - c[1]) - r) <= 3,
                      True))
        x_span = d * np.sin(max(self.probe.half_angle, 0.3))
        for _ in range(int(rng.integers(3, 7))):
            portal = rng.random() < 0.5
            r = rng.uniform(2.5, 7)
            z0 = self.probe.r0 + rng.uniform(0.25, 0.75) * d
            x0 = rng.uniform(-0.6, 0.6) * x_span
            if rng.random() < 0.5:  # cut across: an ellipse
                shape = (lambda X, Z, x0=x0, z0=z0, r=r, e=rng.uniform(1, 1.8), a=rng.uniform(0, np.pi):
                         _ellipse(X, Z, x0, z0, r * e, r, a))
            else:
                ang = rng.uniform(0, np.pi)
                ln = rng.uniform(20, 60)
                x1, z1 = x0 + ln * np.cos(ang), z0 + ln * np.sin(ang)
                shape = (lambda X, Z, x0=x0, z0=z0, x1=x1, z1=z1, r=r: _capsule(X, Z, x0, z0, x1, z1) / r)
            if portal:
                items.append(("vessel_wall", lambda X, Z, f=shape: f(X, Z) <= 1.25, True))
            items.append(("blood", lambda X, Z, f=shape: f(X, Z) <= 1.0, True))
        if rng.random() < 0.4:  # gallbladder
            gx, gz = rng.uniform(-0.4, 0.4) * x_span, self.probe.r0 + rng.uniform(0.25, 0.45) * d
            a, b, ang = rng.uniform(18, 30), rng.uniform(8, 14), rng.uniform(-0.4, 0.4)
            items.append(("vessel_wall", lambda X, Z: _ellipse(X, Z, gx, gz, a + 1.5, b + 1.5, ang) <= 1, True))
            items.append(("fluid", lambda X, Z: _ellipse(X, Z, gx, gz, a, b, ang) <= 1, True))
        return items

    def _kidney(self):
        rng = self.rng
        d = self.probe.depth
        items = self._liver()[:1]
        kx, kz = rng.uniform(-15, 15), self.probe.r0 + rng.uniform(0.5, 0.62) * d
        a, b, ang = rng.uniform(45, 58), rng.uniform(20, 27), rng.uniform(-0.35, 0.35)
        items.append(("fat", lambda X, Z: _ellipse(X, Z, kx, kz, a + 6, b + 6, ang) <= 1, True))
        items.append(("fibrous", lambda X, Z: _ellipse(X, Z, kx, kz, a + 1.5, b + 1.5, ang) <= 1, True))
        items.append(("kidney_cortex", lambda X, Z: _ellipse(X, Z, kx, kz, a, b, ang) <= 1, True))
        c, s = np.cos(ang), np.sin(ang)
        for i in range(7):  # medullary pyramids around the sinus
            t = -0.8 + 1.6 * i / 6
            side = 1 if i % 2 == 0 else -1
            px = kx + c * t * a * 0.85 - s * side * b * 0.45
            pz = kz + s * t * a * 0.85 + c * side * b * 0.45
            items.append(("kidney_medulla", lambda X, Z, px=px, pz=pz: _ellipse(X, Z, px, pz, 6.5, 5.0, ang) <= 1,
                          True))
        items.append(("renal_sinus", lambda X, Z: _ellipse(X, Z, kx, kz, a * 0.6, b * 0.38, ang) <= 1, True))
        return items

    def _lymph_node(self):
        rng = self.rng
        d = self.probe.depth
        nx, nz = rng.uniform(-6, 6), rng.uniform(0.4, 0.6) * d
        a, b, ang = rng.uniform(7, 14), rng.uniform(4, 8), rng.uniform(-0.3, 0.3)
        items = [("subcutaneous_fat", lambda X, Z: np.ones(X.shape, bool), False),
                 ("muscle", lambda X, Z, z0=nz + b + rng.uniform(2, 8): Z > z0, False),
                 ("fibrous", lambda X, Z: _ellipse(X, Z, nx, nz, a + 0.8, b + 0.8, ang) <= 1, False),
                 ("node_cortex", lambda X, Z: _ellipse(X, Z, nx, nz, a, b, ang) <= 1, False),
                 ("node_hilum", lambda X, Z, o=rng.uniform(-0.3, 0.3) * a:
                  _ellipse(X, Z, nx + o, nz, a * 0.45, b * 0.35, ang) <= 1, False)]
        for _ in range(int(rng.integers(2, 5))):  # fat septa
            z0 = rng.uniform(0.15, 0.9) * d
            items.insert(1, ("fibrous", lambda X, Z, z0=z0, t=rng.uniform(-0.2, 0.2):
                             np.abs(Z - z0 - t * X - 2 * np.sin(X / 7)) < 0.5, False))
        return items

    def _bladder(self):
        rng = self.rng
        d = self.probe.depth
        bx, bz = rng.uniform(-10, 10), self.probe.r0 + rng.uniform(0.3, 0.45) * d
        a, b = rng.uniform(30, 55), rng.uniform(22, 38)
        items = [("soft", lambda X, Z: np.ones(X.shape, bool), False),
                 ("organ", lambda X, Z, oz=bz + b + rng.uniform(10, 22), oa=rng.uniform(20, 35):
                  _ellipse(X, Z, bx, oz, oa, oa * 0.7) <= 1, False),
                 ("gas", lambda X, Z, gx=bx + rng.choice([-1, 1]) * rng.uniform(30, 50), gz=bz + b * 0.8:
                  _ellipse(X, Z, gx, gz, 12, 5) <= 1, False)]
        # rounded-rectangle bladder: superellipse
        se = lambda X, Z, a=a, b=b: (np.abs((X - bx) / a) ** 3 + np.abs((Z - bz) / b) ** 3) ** (1 / 3)
        items.append(("fibrous", lambda X, Z: se(X, Z) <= 1 + 3.0 / b, False))
        items.append(("fluid", lambda X, Z: se(X, Z) <= 1, False))
        return items

    def _muscle(self):
        rng = self.rng
        d = self.probe.depth
        bone_z = rng.uniform(0.65, 0.85) * d
        br = rng.uniform(40, 120)
        items = [("muscle", lambda X, Z: np.ones(X.shape, bool), False),
                 ("fibrous", lambda X, Z, z0=rng.uniform(0.35, 0.55) * d, t=rng.uniform(-0.15, 0.15):
                  np.abs(Z - z0 - t * X) < 0.8, False),
                 ("bone", lambda X, Z: Z > bone_z + X ** 2 / (2 * br), False)]
        self.pennation = rng.uniform(0.15, 0.45) * rng.choice([-1, 1])
        return items

    def _base(self, X, Z, k):
        dx, dz = self._shift(k)
        Xs, Zs = X - dx, Z - dz
        t = np.full(X.shape, ID["soft"], np.int8)
        for name, fn, moves in self.items:
            sel = fn(Xs, Zs) if moves else fn(X, Z)
            t[sel] = ID[name]
        return t

    def tissues(self, X, Z, k):
        shape = np.shape(X)
        X, Z = np.ravel(X).astype(np.float64), np.ravel(Z).astype(np.float64)
        t = self._base(X, Z, k)
        gain = np.ones(len(X), np.float32)
        below = self.probe.below_face(X, Z)
        skin, fat, musc, period, tilt = self.layers
        if self.kind == "muscle":
            m = t == ID["muscle"]
            gain[m] = _fibres(X[m], below[m] + self.pennation * X[m], period, 0.0)
        wall = below < musc
        lay = np.where(below < skin, ID["skin"], np.where(below < fat, ID["subcutaneous_fat"], ID["muscle"]))
        if self.kind in ("lymph_node", "muscle"):
            wall = below < fat
        t[wall] = lay[wall]
        mw = wall & (lay == ID["muscle"])
        gain[mw] = _fibres(X[mw], below[mw], period, tilt)
        t[wall & (np.abs(below - fat) < 0.6)] = ID["fibrous"]
        return t.reshape(shape), gain.reshape(shape)

    def labels(self, X, Z, k):
        return np.zeros(np.shape(X), np.uint8)

    def move(self, X0, Z0, k):
        dx, dz = self._shift(k)
        below = self.probe.below_face(X0, Z0)
        moving = below > self.layers[2] + 2 if self.kind in ("liver", "kidney") else np.zeros(np.shape(X0), bool)
        return np.where(moving, X0 + dx, X0), np.where(moving, Z0 + dz, Z0)
