"""A beating 3D heart in its own coordinates, asked point by point what tissue and which label lies there.

Heart coordinates (mm): z along the left-ventricular long axis, from the LV endocardial apex (z = 0) towards the
mitral annulus; phi is the angle about that axis, 0 towards the right ventricle (septum), 90 degrees anterior.

Left ventricle: the endocardium is a truncated bullet, a prolate half-ellipsoid (semi-axes a, c; centre at z = c)
continued by a gently tapering section up to the mitral plane z = L. Its radius carries two circumferential
harmonics, r * (1 + e2 cos 2(phi - p2) + e3 cos 3(phi - p3)). The epicardium is the same bullet grown by the wall
thickness (less at the apex). Contraction scales the cavity radially by (1 - r f) and longitudinally by (1 - b f)
with the apex fixed (the base descends), f being the emptying curve of cycle.py; the wall thickens so that the
myocardial volume stays constant (solved per time point). The cavity volume is therefore exact,
V(t) = V_ED (1 - r f)^2 (1 - b f), and r, b are chosen from the target EF.

Around it: a crescent right ventricle wrapping the septum (phi0..phi1), rising into an outflow tract anteriorly;
left and right atria as bulbs rising from the mitral and tricuspid annuli; mitral, tricuspid and aortic leaflets
that open and close with the beat; the aortic root with its sinus; the descending aorta behind the left atrium;
papillary muscles; the pericardium (a bright shell over a thin fluid layer), fat in the atrioventricular groove,
mediastinal tissue, and lung lateral to the heart outside the anterior (parasternal) window.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from .cycle import Beat, sample_beat
from .tissue import ID

DEG = np.pi / 180
AO_WALL = 2.2  # aortic root wall (mm)


@dataclass(frozen=True)
class HeartParams:
    a: float            # LV endocardial equatorial radius at ED (mm)
    length: float       # LV endocardial length, apex to mitral plane, at ED (mm)
    kappa: float        # ellipsoid centre height / length
    taper: float        # radius lost towards the annulus (fraction)
    e2: float
    p2: float
    e3: float
    p3: float
    wall: float         # lateral wall thickness at ED (mm)
    apex_wall: float    # apical wall thickness at ED (mm)
    shorten_long: float  # b: longitudinal shortening at ES
    shorten_rad: float   # r: radial shortening at ES
    rv_phi0: float
    rv_phi1: float
    rv_width: float
    rv_apex: float      # RV apex height as a fraction of L
    tv_drop: float      # tricuspid annulus below the mitral plane (mm)
    rv_wall: float
    rv_short: float
    la_phi: float
    la_off: float
    la_height: float
    la_r: tuple         # (along la_phi, across, up)
    la_grow: float
    atrial_wall: float
    ra_phi: float
    ra_r: tuple
    ao_phi: float
    ao_r: float
    ao_tilt: float
    da_r: float
    da_phi: float
    da_dist: float
    peri_gap: float
    peri_thick: float
    lung_gap: float
    papillary: tuple    # ((phi, z fraction), ...)
    leaflet: float      # leaflet thickness (mm)
    beat: Beat

    @property
    def ef_design(self) -> float:
        return 1.0 - (1.0 - self.shorten_rad) ** 2 * (1.0 - self.shorten_long)


def sample_heart(rng: np.random.Generator, ef: float, heart_rate: float) -> HeartParams:
    """A heart with EF `ef` (fraction) at ED/ES of its own beat. Low EF goes with a dilated, thinner ventricle.

    Angles follow the short-axis clock seen from the apex: septum phi = 0 (9 o'clock on a PSAX image), anterior
    90 (12), lateral 180 (3), inferior 270 (6). The RV wraps the septum between its insertions (about -60 and +75),
    the aortic root leaves anteriorly-septally (40-55), the left atrium lies posterior (215-240), the right atrium
    behind the tricuspid annulus on the septal side (-35..-15)."""
    dil = np.clip((0.55 - ef) / 0.35, 0.0, 1.0)
    a = rng.uniform(19.0, 25.0) + dil * rng.uniform(2.0, 7.0)
    length = rng.uniform(74.0, 94.0) + dil * rng.uniform(0.0, 10.0)
    b = float(np.clip(0.27 * ef + rng.normal(0, 0.015), 0.03, 0.22))
    r = 1.0 - np.sqrt((1.0 - ef) / (1.0 - b))
    wall = rng.uniform(8.0, 11.0) - dil * rng.uniform(0.5, 2.5)
    la_r = (rng.uniform(21, 27), rng.uniform(19, 25), rng.uniform(26, 34))
    ra_r = (rng.uniform(19, 24), rng.uniform(18, 23), rng.uniform(24, 30))
    taper = rng.uniform(0.06, 0.16)
    return HeartParams(
        a=a, length=length, kappa=rng.uniform(0.56, 0.7), taper=taper,
        e2=rng.uniform(0.0, 0.07), p2=rng.uniform(0, np.pi), e3=rng.uniform(0.0, 0.03), p3=rng.uniform(0, 2 * np.pi),
        wall=wall, apex_wall=wall * rng.uniform(0.6, 0.8), shorten_long=b, shorten_rad=float(r),
        rv_phi0=rng.uniform(-66, -54) * DEG, rv_phi1=rng.uniform(68, 80) * DEG, rv_width=rng.uniform(19, 27),
        rv_apex=rng.uniform(0.22, 0.35), tv_drop=rng.uniform(5, 11), rv_wall=rng.uniform(3, 4.5),
        rv_short=rng.uniform(0.2, 0.35) * (0.5 + ef),
        la_phi=rng.uniform(215, 240) * DEG, la_off=rng.uniform(4, 9), la_height=rng.uniform(18, 26), la_r=la_r,
        la_grow=rng.uniform(0.08, 0.18), atrial_wall=rng.uniform(1.8, 2.6),
        ra_phi=rng.uniform(-35, -15) * DEG, ra_r=ra_r,
        ao_phi=rng.uniform(40, 55) * DEG, ao_r=rng.uniform(9.5, 12), ao_tilt=rng.uniform(5, 15) * DEG,
        da_r=rng.uniform(8, 11), da_phi=rng.uniform(225, 250) * DEG, da_dist=rng.uniform(44, 54),
        peri_gap=rng.uniform(0.6, 1.8), peri_thick=rng.uniform(1.8, 3.0), lung_gap=rng.uniform(5, 12),
        papillary=((rng.uniform(180, 210) * DEG, rng.uniform(0.4, 0.5)),
                   (rng.uniform(265, 295) * DEG, rng.uniform(0.4, 0.5))),
        leaflet=rng.uniform(0.9, 1.3), beat=sample_beat(rng, heart_rate))


@dataclass(frozen=True)
class HeartState:
    f: float
    a: float
    c: float
    L: float
    wall: float
    apex_wall: float
    rv_scale: float
    la_scale: float
    mitral: float   # opening 0..1
    aortic: float
    t: float


def _epi_volume(p: HeartParams, a, c, L, wall, apex_wall, n=400):
    z = np.linspace(-apex_wall, L, n)
    r = _epi_radius(z, a, c, L, p.taper, wall, apex_wall)
    return np.trapezoid(np.pi * r * r, z) * _h2(p)


def _endo_volume(p: HeartParams, a, c, L, n=400):
    z = np.linspace(0, L, n)
    r = _endo_radius(z, a, c, L, p.taper)
    return np.trapezoid(np.pi * r * r, z) * _h2(p)


def _h2(p: HeartParams):
    """Mean of the squared harmonic factor over phi."""
    return 1.0 + 0.5 * p.e2 ** 2 + 0.5 * p.e3 ** 2


def _endo_radius(z, a, c, L, taper):
    zz = np.clip(z, 0.0, L)
    ell = a * np.sqrt(np.clip(1.0 - ((c - zz) / c) ** 2, 0.0, None))
    bul = a * (1.0 - taper * ((zz - c) / (L - c)) ** 2)
    return np.where(zz <= c, ell, bul)


def _epi_radius(z, a, c, L, taper, wall, apex_wall):
    zz = np.clip(z, -apex_wall, L)
    ell = (a + wall) * np.sqrt(np.clip(1.0 - ((c - zz) / (c + apex_wall)) ** 2, 0.0, None))
    bul = a * (1.0 - taper * ((zz - c) / (L - c)) ** 2) + wall
    return np.where(zz <= c, ell, bul)


class Heart:
    """The anatomy of one cine: parameters plus per-time states."""

    def __init__(self, p: HeartParams):
        self.p = p
        self.c_ed = p.kappa * p.length
        self.v_endo_ed = _endo_volume(p, p.a, self.c_ed, p.length)
        self.v_myo = _epi_volume(p, p.a, self.c_ed, p.length, p.wall, p.apex_wall) - self.v_endo_ed

    def state(self, t: float) -> HeartState:
        p = self.p
        f = float(p.beat.emptying(t))
        a = p.a * (1 - p.shorten_rad * f)
        L = p.length * (1 - p.shorten_long * f)
        c = self.c_ed * (1 - p.shorten_long * f)
        v_endo = self.v_endo_ed * (1 - p.shorten_rad * f) ** 2 * (1 - p.shorten_long * f)
        if f > 1e-6:
            g = brentq(lambda g: _epi_volume(p, a, c, L, p.wall * g, p.apex_wall * g) - v_endo - self.v_myo,
                       0.5, 3.0, xtol=1e-5)
        else:
            g = 1.0
        return HeartState(f=f, a=a, c=c, L=L, wall=p.wall * g, apex_wall=p.apex_wall * g,
                          rv_scale=1 - p.rv_short * f, la_scale=1 + p.la_grow * f,
                          mitral=float(p.beat.valve_opening(t, "mitral")),
                          aortic=float(p.beat.valve_opening(t, "aortic")), t=float(t))

    def volume(self, st: HeartState) -> float:
        """Cavity volume (ml), exact for the model: affine scaling of the ED cavity."""
        p = self.p
        return self.v_endo_ed * (st.a / p.a) ** 2 * (st.L / p.length) / 1000.0

    # ---- geometry, points as arrays (mm) ----

    def _prep(self, pts):
        """Per-point quantities shared by every structure: cylindrical coordinates about the LV axis and the
        harmonic radius factor at phi and at phi + 180 degrees."""
        p = self.p
        x, y, z = pts[:, 0], pts[:, 1], pts[:, 2]
        rho = np.hypot(x, y)
        safe = np.maximum(rho, 1e-9)
        c1, s1 = np.where(rho > 0, x / safe, 1.0), np.where(rho > 0, y / safe, 0.0)
        c2, s2 = c1 * c1 - s1 * s1, 2 * s1 * c1
        c3, s3 = c1 * (4 * c1 * c1 - 3), s1 * (3 - 4 * s1 * s1)
        k2 = p.e2 * (c2 * np.cos(2 * p.p2) + s2 * np.sin(2 * p.p2))
        k3 = p.e3 * (c3 * np.cos(3 * p.p3) + s3 * np.sin(3 * p.p3))
        return _Pts(x=x, y=y, z=z, rho=rho, phi=np.arctan2(y, x), c1=c1, s1=s1, h=1 + k2 + k3, h_opp=1 + k2 - k3)

    def _lv(self, q: "_Pts", st):
        """Signed distances (approximate, mm; negative inside) to the endocardium and the epicardium."""
        p = self.p
        rn = q.rho / q.h
        zb = (np.clip(q.z, st.c, st.L) - st.c) / (st.L - st.c)
        r_bul = st.a * (1 - p.taper * zb * zb)
        out = []
        for A, C, bulge in ((st.a, st.c, 0.0), (st.a + st.wall, st.c + st.apex_wall, st.wall)):
            dz = q.z - st.c
            qq = np.sqrt((rn / A) ** 2 + (dz / C) ** 2)
            grad = 2 * np.sqrt((rn / A ** 2) ** 2 + (dz / C ** 2) ** 2) + 1e-9
            sd = np.where(dz < 0, (qq - 1) * 2 * qq / grad, rn - r_bul - bulge)
            out.append(np.maximum(sd * q.h, q.z - st.L))
        return out[0], out[1]

    def _epi_r(self, q: "_Pts", st):
        """Epicardial radius at each point's height and angle (held at the base value above the base)."""
        p = self.p
        return _epi_radius(np.minimum(q.z, st.L), st.a, st.c, st.L, p.taper, st.wall, st.apex_wall) * q.h

    def _rv(self, q: "_Pts", st, epi_r):
        """(inside the cavity, inside the outer wall, signed distance of the outer surface)."""
        p = self.p
        span = p.rv_phi1 - p.rv_phi0
        u = (np.mod(q.phi - p.rv_phi0 + np.pi, 2 * np.pi) - np.pi) / span
        inr = (u > 0) & (u < 1)
        su = np.sqrt(np.sin(np.pi * np.clip(u, 0, 1)))
        # tricuspid annulus for u < 0.55; the outflow tract rises above the mitral plane anteriorly
        rise = np.clip((u - 0.55) / 0.3, 0, 1)
        top = st.L - p.tv_drop + rise * (p.tv_drop + 22.0)
        bottom = p.rv_apex * st.L
        zp = np.clip((top - q.z) / (top - bottom), 0, None)
        wid = p.rv_width * st.rv_scale * su * np.sqrt(np.clip(1 - zp * zp, 0, None))
        zpo = np.clip((top - q.z) / (top - bottom + 2 * p.rv_wall), 0, None)
        wid_out = (p.rv_width * st.rv_scale + p.rv_wall) * su * np.sqrt(np.clip(1 - zpo * zpo, 0, None))
        rr = q.rho - epi_r
        ok = inr & (q.z <= top) & (rr > 0)
        cav = ok & (rr <= wid)
        outer = ok & (rr <= wid_out)
        sd_out = np.where(inr & (wid_out > 0), np.maximum(rr - wid_out, q.z - top), 1e3)
        return cav, outer, sd_out

    @staticmethod
    def _bulb(q: "_Pts", base_xy, base_z, base_r, centre_xy, centre_z, radii, axis_phi):
        """A bulb rising from a circular annulus (base) to an ellipsoidal body: signed distance (approximate, mm;
        1e3 for points more than 10 mm below the annulus or above the body)."""
        rc = radii[2]
        out = np.full(q.z.shape, 1e3)
        i = np.nonzero((q.z > base_z - 10) & (q.z < centre_z + rc + 10))[0]
        out[i] = Heart._bulb_sd(q.take(i), base_xy, base_z, base_r, centre_xy, centre_z, radii, axis_phi)
        return out

    @staticmethod
    def _bulb_sd(q: "_Pts", base_xy, base_z, base_r, centre_xy, centre_z, radii, axis_phi):
        ra, rb, rc = radii
        s = np.clip((q.z - base_z) / max(centre_z - base_z, 1e-6), 0, 1)
        cx = base_xy[0] + s * (centre_xy[0] - base_xy[0])
        cy = base_xy[1] + s * (centre_xy[1] - base_xy[1])
        grow = np.sqrt(s)
        A = base_r + (ra - base_r) * grow
        B = base_r + (rb - base_r) * grow
        dx, dy = q.x - cx, q.y - cy
        ca, sa = np.cos(axis_phi), np.sin(axis_phi)
        d1 = dx * ca + dy * sa
        d2 = -dx * sa + dy * ca
        above = q.z > centre_z
        cap = np.sqrt(np.clip(1 - ((q.z - centre_z) / rc) ** 2, 1e-4, None))
        A = np.where(above, ra * cap, A)
        B = np.where(above, rb * cap, B)
        qq = np.sqrt((d1 / A) ** 2 + (d2 / B) ** 2)
        sd = (qq - 1) * np.minimum(A, B)
        sd = np.where(above, np.maximum(sd, (q.z - centre_z - rc) * 0.8), sd)
        return np.where(q.z < base_z, np.maximum(sd, base_z - q.z), sd)

    def _atria(self, q: "_Pts", st):
        """Signed distances of the left and right atrial cavities, split by a septum where they meet: returns
        (la cavity, ra cavity, septum, sd_la, sd_ra, tricuspid plane height)."""
        p = self.p
        r_ann = self._r_ann(st)
        sc = st.la_scale
        la_c = (p.la_off * np.cos(p.la_phi), p.la_off * np.sin(p.la_phi))
        sd_la = self._bulb(q, (0.0, 0.0), st.L, r_ann * 0.98, la_c, st.L + p.la_height * sc,
                           tuple(v * sc for v in p.la_r), p.la_phi)
        tv_z = st.L - p.tv_drop
        epi_tv = _epi_radius(np.array([tv_z]), st.a, st.c, st.L, p.taper, st.wall, st.apex_wall)[0]
        w = p.rv_width * st.rv_scale
        ra_rho = epi_tv + 0.5 * w
        ra_base = (ra_rho * np.cos(p.ra_phi), ra_rho * np.sin(p.ra_phi))
        ra_centre = ((ra_rho - 3) * np.cos(p.ra_phi), (ra_rho - 3) * np.sin(p.ra_phi))
        grow = 1 + 0.6 * p.la_grow * st.f
        sd_ra = self._bulb(q, ra_base, tv_z, 0.5 * w + 1.0, ra_centre, tv_z + p.ra_r[2] * 0.9,
                           tuple(v * grow for v in p.ra_r), p.ra_phi)
        in_la = (sd_la <= 0) & (q.z > st.L)
        in_ra = (sd_ra <= 0) & (q.z > tv_z)
        both = in_la & in_ra
        d = sd_la - sd_ra
        half = 0.5 * (p.atrial_wall + 1.0)
        la = in_la & ~(both & (d > -half))
        ra = in_ra & ~(both & (d < half))
        septum = both & (np.abs(d) <= half)
        return la, ra, septum, sd_la, sd_ra, tv_z

    def _r_ann(self, st):
        return float(_endo_radius(np.array([st.L]), st.a, st.c, st.L, self.p.taper)[0])

    def _aorta_frame(self, st):
        p = self.p
        u = np.array([np.cos(p.ao_phi), np.sin(p.ao_phi), 0.0])
        # the aortic annulus sits anterior to the mitral orifice, overlapping the LV base ring by most of its width
        origin = (self._r_ann(st) + 0.3 * p.ao_r) * u + np.array([0, 0, st.L - 4.0])
        axis = np.cos(p.ao_tilt) * np.array([0, 0, 1.0]) + np.sin(p.ao_tilt) * u
        return origin, axis / np.linalg.norm(axis)

    def _aorta(self, pts, st):
        """(axial position, radial distance, lumen radius) in the aortic root."""
        o, ax = self._aorta_frame(st)
        s, rr = self._tube(pts, o, ax)
        return s, rr, self.p.ao_r * (1 + 0.1 * np.exp(-((s - 14.0) / 9.0) ** 2))

    def _da_frame(self):
        p = self.p
        u = np.array([np.cos(p.da_phi), np.sin(p.da_phi), 0.0])
        centre = p.da_dist * u + np.array([0, 0, p.length + 22.0])
        axis = np.cross(np.array([0, 0, 1.0]), u) + 0.6 * np.array([0, 0, 1.0])
        return centre, axis / np.linalg.norm(axis)

    @staticmethod
    def _tube(pts, origin, axis):
        d = pts - origin
        s = d @ axis
        rr = np.sqrt(np.maximum((d * d).sum(1) - s * s, 0))
        return s, rr

    @staticmethod
    def _segment_dist(px, pz, ax, az, bx, bz):
        """Distance from (px, pz) to the segment (ax, az)-(bx, bz), all arrays broadcastable."""
        vx, vz = bx - ax, bz - az
        wx, wz = px - ax, pz - az
        t = np.clip((wx * vx + wz * vz) / (vx * vx + vz * vz + 1e-9), 0, 1)
        return np.hypot(wx - t * vx, wz - t * vz)

    def _leaflets(self, q: "_Pts", st, r_ann):
        """Distance to the mitral leaflets, seen in the (rho, z) half-plane through each point: its own side's
        leaflet, and the opposite side's leaflet mirrored (they meet near the axis when shut)."""
        p = self.p
        o = st.mitral
        beta = (-12 + o * 90) * DEG  # below the horizontal: -12 = bulging into the atrium, 78 = towards the apex
        ant0 = q.c1 * np.cos(p.ao_phi) + q.s1 * np.sin(p.ao_phi)  # the anterior leaflet is the longer one
        dmin = None
        for h, ant, sgn in ((q.h, ant0, 1.0), (q.h_opp, -ant0, -1.0)):
            hinge = r_ann * h
            length = (1 - o) * hinge * (1.0 + 0.18 * ant) / np.cos(12 * DEG) + o * hinge * (0.72 + 0.22 * ant)
            d = self._segment_dist(q.rho, q.z, sgn * hinge, st.L, sgn * (hinge - length * np.cos(beta)),
                                   st.L - length * np.sin(beta))
            dmin = d if dmin is None else np.minimum(dmin, d)
        return dmin

    def _cusps(self, rr, s, st):
        """Distance to the aortic cusps in the root's (radius, axial) half-plane: hinged 4 mm up the root; shut they
        meet at the centre, open they lie along the wall."""
        p = self.p
        o = st.aortic
        beta = (8 + o * 80) * DEG  # elevation from the inward horizontal
        length = p.ao_r * ((1 - o) / np.cos(8 * DEG) + o * 0.85)
        dmin = None
        for sgn in (1.0, -1.0):
            d = self._segment_dist(rr, s, sgn * p.ao_r, 4.0, sgn * (p.ao_r - length * np.cos(beta)),
                                   4.0 + length * np.sin(beta))
            dmin = d if dmin is None else np.minimum(dmin, d)
        return dmin

    # ---- the two questions ----

    def labels(self, pts: np.ndarray, st: HeartState) -> np.ndarray:
        """Segmentation labels (0 background, 1 LV cavity, 2 LV myocardium, 3 LA) at heart points [N, 3]."""
        q = self._prep(pts)
        sd_endo, sd_epi = self._lv(q, st)
        out = np.zeros(len(pts), np.uint8)
        out[sd_epi <= 0] = 2
        out[sd_endo <= 0] = 1
        la = self._atria(q, st)[0]
        s, rr, rad = self._aorta(pts, st)
        in_ao = (s > 0) & (s < 70) & (q.z > st.L - 1) & (rr <= rad + AO_WALL)
        out[la & ~in_ao & (out == 0)] = 3
        return out

    def normals(self, pts: np.ndarray, st: HeartState) -> np.ndarray:
        """Approximate outward unit normals of the LV-centred shells through each point (radial on the body,
        along the ellipsoid gradient over the apex)."""
        q = self._prep(pts)
        A, C = st.a + st.wall, st.c + st.apex_wall
        dz = q.z - st.c
        n_r = np.where(dz < 0, q.rho / q.h / A ** 2, 1.0 / A)
        n_z = np.where(dz < 0, dz / C ** 2, 0.0)
        n = np.stack([n_r * q.c1, n_r * q.s1, n_z], 1)
        return n / (np.linalg.norm(n, axis=1, keepdims=True) + 1e-12)

    def tissues(self, pts: np.ndarray, st: HeartState) -> np.ndarray:
        """Tissue ids at heart points [N, 3]."""
        p = self.p
        q = self._prep(pts)
        z, rho = q.z, q.rho
        sd_endo, sd_epi = self._lv(q, st)
        epi_r = self._epi_r(q, st)
        rv_cav, rv_out, sd_rv = self._rv(q, st, epi_r)
        la, ra, septum, sd_la, sd_ra, tv_z = self._atria(q, st)
        r_ann = self._r_ann(st)
        sd_vent = np.minimum(sd_epi, sd_rv)
        sd_atria = np.minimum(sd_la, sd_ra)

        out = np.full(len(pts), ID["soft"], np.int8)
        # lung lateral to the heart, away from the anterior window and the posterior mediastinum
        phd = np.mod(q.phi / DEG, 360)
        window = (phd > 5) & (phd < 135) & (z < st.L + 35)
        gap = p.peri_gap + p.peri_thick + p.lung_gap
        lung = ((sd_vent > gap) & (sd_atria > 6 + p.lung_gap) & (z > 0.12 * p.length) & (z < st.L + 45)
                & ~window & ~((z > st.L - 5) & (rho < 50)))
        out[lung] = ID["lung"]
        out[lung & ((sd_vent < gap + 1.5) | (sd_atria < 7.5 + p.lung_gap))] = ID["pleura"]
        # fat in the atrioventricular groove, pericardial fluid, pericardium
        out[(np.abs(z - st.L + 2) < 7) & (sd_vent > 0) & (sd_vent < 10)] = ID["fat"]
        peri_zone = z < st.L + 6
        out[peri_zone & (sd_vent > 0) & (sd_vent <= p.peri_gap)] = ID["pericardial_fluid"]
        out[peri_zone & (sd_vent > p.peri_gap) & (sd_vent <= p.peri_gap + p.peri_thick)] = ID["pericardium"]
        # descending aorta
        da_c, da_ax = self._da_frame()
        _, da_rr = self._tube(pts, da_c, da_ax)
        out[da_rr <= p.da_r + 2.0] = ID["vessel_wall"]
        out[da_rr <= p.da_r] = ID["blood"]
        # right ventricle
        out[rv_out] = ID["myocardium"]
        out[rv_cav] = ID["blood"]
        # atria: walls, cavities, the interatrial septum
        out[(z > tv_z) & (sd_ra > 0) & (sd_ra <= p.atrial_wall)] = ID["myocardium"]
        out[(z > st.L) & (sd_la > 0) & (sd_la <= p.atrial_wall)] = ID["myocardium"]
        out[ra | la] = ID["blood"]
        out[septum] = ID["myocardium"]
        # left ventricle, with a thin trabecular layer lining the cavity
        out[sd_epi <= 0] = ID["myocardium"]
        out[sd_endo <= 0] = ID["blood"]
        out[(sd_endo <= 0) & (sd_endo > -1.8) & (z < 0.8 * st.L)] = ID["trabeculae"]
        for ph, zf in p.papillary:  # papillary muscles, moving with the wall
            zc = zf * st.L
            rc = _endo_radius(np.array([zc]), st.a, st.c, st.L, p.taper)[0] * 0.72
            d = ((q.x - rc * np.cos(ph)) / 5.0) ** 2 + ((q.y - rc * np.sin(ph)) / 5.0) ** 2 + \
                ((z - zc) / (0.2 * st.L)) ** 2
            out[(d <= 1) & (sd_endo <= 0)] = ID["myocardium"]
        # aortic root above the mitral plane: wall, lumen, cusps
        s, rr, rad = self._aorta(pts, st)
        tube = (s > 0) & (s < 70) & (z > st.L - 1)
        out[tube & (rr <= rad + AO_WALL)] = ID["fibrous"]
        out[tube & (rr <= rad)] = ID["blood"]
        i = np.nonzero(tube & (s < 30) & (rr <= rad))[0]  # the leaflet distances only where they can matter
        out[i[self._cusps(rr[i], s[i], st) <= p.leaflet * 0.5]] = ID["valve"]
        # mitral leaflets and annulus
        i = np.nonzero((np.abs(z - st.L) < 30) & (rho < 1.3 * r_ann) & ((sd_endo <= 0.5) | la))[0]
        out[i[self._leaflets(q.take(i), st, r_ann) <= p.leaflet * 0.5]] = ID["valve"]
        out[np.hypot(rho - r_ann * q.h, z - st.L) <= 2.2] = ID["fibrous"]
        # tricuspid leaflets in the RV's (rho, z) half-plane: hinged at the septum and at the free wall
        w = p.rv_width * st.rv_scale
        rr_tv = rho - epi_r
        u = (np.mod(q.phi - p.rv_phi0 + np.pi, 2 * np.pi) - np.pi) / (p.rv_phi1 - p.rv_phi0)
        wl = w * np.sqrt(np.sin(np.pi * np.clip(u, 0, 1)))
        beta_t = (-8 + st.mitral * 85) * DEG
        i = np.nonzero((u > 0.02) & (u < 0.55) & (rr_tv > -1) & (rr_tv < wl + 1) & (np.abs(z - tv_z) < 25))[0]
        for h0, sgn in ((0.0, 1.0), (1.0, -1.0)):
            hx = h0 * wl[i]
            ln = 0.55 * wl[i]
            dd = self._segment_dist(rr_tv[i], z[i], hx, tv_z, hx + sgn * ln * np.cos(beta_t),
                                    tv_z - ln * np.sin(beta_t))
            out[i[dd <= p.leaflet * 0.5]] = ID["valve"]
        return out

    def warp(self, pts: np.ndarray, st: HeartState) -> np.ndarray:
        """Move material points, given at end-diastole, to where the tissue is at state st (heart coords)."""
        p = self.p
        ed = self.state_ed
        q = self._prep(pts)
        z, rho = q.z, q.rho
        zb = np.minimum(z, p.length)
        qb = _Pts(x=q.x, y=q.y, z=zb, rho=rho, phi=q.phi, c1=q.c1, s1=q.s1, h=q.h, h_opp=q.h_opp)
        sd_endo, sd_epi = self._lv(qb, ed)
        s_r, s_l = st.a / p.a, st.L / p.length
        # endocardial map: affine about the apex; epicardial map: the epicardium onto the epicardium
        z_en, r_en = zb * s_l, rho * s_r
        C_e, C_t = ed.c + ed.apex_wall, st.c + st.apex_wall
        z_ep = np.where(zb <= ed.c, st.c + (zb - ed.c) * C_t / C_e, zb * s_l)
        r0 = _epi_radius(zb, ed.a, ed.c, ed.L, p.taper, ed.wall, ed.apex_wall)
        r1 = _epi_radius(z_ep, st.a, st.c, st.L, p.taper, st.wall, st.apex_wall)
        r_ep = rho * np.where(r0 > 1.0, r1 / np.maximum(r0, 1.0), 1.0)
        tau = np.where(sd_endo <= 0, 0.0, np.clip(sd_endo / np.maximum(sd_endo - sd_epi, 1e-3), 0, 1))
        fade = np.exp(-np.maximum(sd_epi, 0) / 15.0) * np.exp(-np.maximum(z - p.length, 0) / 30.0)
        dz = ((1 - tau) * z_en + tau * z_ep - zb) * fade
        rn = rho + ((1 - tau) * r_en + tau * r_ep - rho) * fade
        return np.stack([rn * q.c1, rn * q.s1, z + dz], 1)

    @property
    def state_ed(self) -> HeartState:
        p = self.p
        return HeartState(f=0.0, a=p.a, c=self.c_ed, L=p.length, wall=p.wall, apex_wall=p.apex_wall, rv_scale=1.0,
                          la_scale=1.0, mitral=0.0, aortic=0.0, t=0.0)


@dataclass
class _Pts:
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    rho: np.ndarray
    phi: np.ndarray
    c1: np.ndarray
    s1: np.ndarray
    h: np.ndarray
    h_opp: np.ndarray

    def take(self, i):
        return _Pts(**{k: v[i] for k, v in vars(self).items()})
