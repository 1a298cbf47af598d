"""Heart geometry per view and the cardiac cycle.

Coordinates: millimetres in the imaging plane, x lateral (positive to the image right), z depth (positive
away from the probe). The sector apex (the probe face centre) is at (0, 0).

Each view places a "heart frame" (u, v): v runs along the LV long axis from the apex towards the base, u is
perpendicular (for the apical views u points to the image right). Chambers are ellipses in that frame.

Volume method (the EF ground truth): single-plane area-length, V = 8 A^2 / (3 pi L). The LV cavity is an
ellipse with semi-axes a (short) and b (long), so A = pi a b and L = 2 b, giving V = 4/3 pi a^2 b (the prolate
ellipsoid). EF = (V_ED - V_ES) / V_ED, with ED and ES the sampled frames of largest and smallest volume.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# Internal tissue codes of the scene (not the segmentation labels).
T_BACKGROUND, T_LV, T_MYO, T_LA, T_BLOOD, T_HEART, T_PERICARDIUM, T_VALVE, T_WALL, T_VESSEL, T_LIVER = range(11)
# Codes of the randomised ("wide") anatomy only: trabeculae inside the LV cavity (labelled LV, as clinical tracings
# include them in the cavity), lung beside the heart, and the non-cardiac scenes' tissues (negatives.py).
T_TRAB, T_LUNG, T_FAT, T_NODE, T_FLUID, T_MUSCLE, T_CWALL = range(11, 18)
N_TISSUES = 18
# Mean echo amplitude (linear, myocardium = 1) and scatterer density (fraction of cells with a scatterer).
TISSUE_AMPLITUDE = np.array([0.32, 0.012, 1.0, 0.012, 0.012, 0.9, 2.6, 2.0, 0.8, 0.03, 0.55,
                             0.45, 0.05, 0.7, 0.35, 0.01, 0.6, 0.9], np.float32)
TISSUE_DENSITY = np.array([0.8, 0.15, 1.0, 0.15, 0.15, 1.0, 1.0, 1.0, 0.9, 0.15, 1.0,
                           0.6, 0.25, 0.9, 0.9, 0.1, 1.0, 1.0], np.float32)
# Segmentation labels: 0 background, 1 LV cavity, 2 LV myocardium, 3 LA.
SEG_OF_TISSUE = np.zeros(N_TISSUES, np.uint8)
SEG_OF_TISSUE[T_LV] = 1
SEG_OF_TISSUE[T_TRAB] = 1
SEG_OF_TISSUE[T_MYO] = 2
SEG_OF_TISSUE[T_LA] = 3


def area_length_volume(area_mm2, length_mm):
    """Single-plane area-length volume in mm^3 (ml = /1000)."""
    return 8.0 * np.asarray(area_mm2, np.float64) ** 2 / (3.0 * math.pi * np.asarray(length_mm, np.float64))


def contraction(phase: np.ndarray, ivc: float = 0.0, ivr: float = 0.0) -> np.ndarray:
    """Contraction state s in [0, 1] over one cycle (phase in [0, 1), 0 = end-diastole, s = 1 end-systole).

    Systole 0-0.35 (cosine ramp), rapid filling 0.35-0.6, diastasis, atrial kick 0.85-1. With `ivc` and `ivr`
    (shares of the cycle; 0, 0: the curve of before, to the bit) the isovolumic phases of a real beat: the volume
    stays at end-diastole for the first `ivc` of systole (isovolumic contraction, the valves shut) and at end-systole
    for `ivr` after it (isovolumic relaxation), the ejection ramp running over 0.35 - ivc and rapid filling over
    0.25 - ivr, so that end-systole stays at 0.35 and the cycle's other phases where they were.
    """
    p = np.mod(phase, 1.0)
    s = np.empty_like(p)
    m0 = p < ivc
    s[m0] = 0.0
    m1 = (p >= ivc) & (p < 0.35)
    s[m1] = 0.5 * (1 - np.cos(np.pi * (p[m1] - ivc) / (0.35 - ivc)))
    mr = (p >= 0.35) & (p < 0.35 + ivr)
    s[mr] = 1.0
    m2 = (p >= 0.35 + ivr) & (p < 0.6)
    s[m2] = 1 - 0.85 * 0.5 * (1 - np.cos(np.pi * (p[m2] - (0.35 + ivr)) / (0.25 - ivr)))
    m3 = (p >= 0.6) & (p < 0.85)
    s[m3] = 0.15
    m4 = p >= 0.85
    s[m4] = 0.15 * 0.5 * (1 + np.cos(np.pi * (p[m4] - 0.85) / 0.15))
    return s


@dataclass
class HeartShape:
    """LV semi-axes at ED and the target EF; es axes derived so the prolate volume gives exactly that EF."""

    a_ed: float
    b_ed: float
    ef_target: float
    wall: float
    long_short: float  # longitudinal shortening fraction at ES

    @property
    def b_es(self):
        return self.b_ed * (1 - self.long_short)

    @property
    def a_es(self):
        return self.a_ed * math.sqrt((1 - self.ef_target) * self.b_ed / self.b_es)

    def axes(self, s):
        s = np.asarray(s, np.float64)
        return self.a_ed + s * (self.a_es - self.a_ed), self.b_ed + s * (self.b_es - self.b_ed)


def _ell(u, v, cu, cv, au, av):
    du = (u - cu) / au
    dv = (v - cv) / av
    return du * du + dv * dv


def _ell_rot(u, v, cu, cv, au, av, rot):
    c, s = math.cos(rot), math.sin(rot)
    du, dv = u - cu, v - cv
    ru = (c * du + s * dv) / au
    rv = (-s * du + c * dv) / av
    return ru * ru + rv * rv


def lv_profile(t, shape):
    """Half-width factor g(t) in [0, 1] of the parametric LV along its axis, t = v / L from the apex (0) to the
    mitral annulus (1): a bullet (sine ramp to the power p) up to the widest point t_m, then narrowing
    quadratically to beta at the annulus, times a small longitudinal harmonic perturbation that vanishes at the
    apex. shape = (t_m, p, beta, curvature, e2, e3, phase2, phase3)."""
    tm, p, beta, _, e2, e3, ph2, ph3 = shape
    t = np.clip(np.asarray(t, np.float64), 0.0, 1.0)
    g = np.where(t <= tm, np.sin(0.5 * np.pi * np.minimum(1.0, t / tm)) ** p,
                 1 - (1 - beta) * ((t - tm) / (1 - tm)) ** 2)
    return g * (1 + (e2 * np.sin(2 * np.pi * t + ph2) + e3 * np.sin(3 * np.pi * t + ph3)) * np.sin(np.pi * t))


def lv_area_factor(shape) -> float:
    """G = integral over t in [0, 1] of 2 g(t): the LV area is a * L * G (G = pi / 2 for the ellipse)."""
    if not shape:
        return math.pi / 2
    t = (np.arange(4000) + 0.5) / 4000
    return float(2 * lv_profile(t, shape).mean())


@dataclass
class FrameState:
    """Everything that fixes the geometry of one frame."""

    view: str
    a: float  # LV short semi-axis (mm) as displayed
    b: float  # LV long semi-axis (mm) as displayed (foreshortened)
    a_ed: float
    b_ed: float
    s: float  # contraction state
    wall: float
    apex_thick: float
    apex: tuple  # heart-frame origin in image mm (x, z)
    phi: float  # heart axis angle (rad), v direction = (sin phi, cos phi)
    other_kind: int = 0
    other_params: tuple = ()
    chest_wall: float = 12.0
    # Randomised anatomy ("wide" cines; empty/0 = the legacy ellipse model): LV shape parameters (lv_profile),
    # trabeculation level in [0, 1], lung beside the heart (0 none, else the lung's lateral edge in mm from the axis),
    # and a seed for the trabeculae's pattern.
    shape: tuple = ()
    trab: float = 0.0
    lung: float = 0.0
    pattern: tuple = (0.0, 0.0, 0.0)
    # Varied anatomy of the other chambers (difficulties "wide_anat*"; empty = the fixed chambers of before): the
    # values indexed by the AN_* constants below.
    anatomy: tuple = ()
    # The LA joined to the LV at the mitral annulus (difficulties "wide_mitral*", apical views of the parametric LV):
    # no gap and no atrial wall between the two cavities, only the leaflets (a line when shut, two hinges when
    # open), as in a real apical view; the LV label still ends at the annulus line. 0: the LA apart (before).
    la_join: float = 0.0
    # The mitral leaflets of a joined LA (difficulties "wide_valve*"; empty: the leaflets at the annulus, as before):
    # (tent, open_len) in mm, see _mitral_leaflets.
    leaflets: tuple = ()
    # Whether the mitral valve is shut in this frame (difficulties "wide_valve_t*": from the cardiac phase, shut from
    # end-diastole through systole and isovolumic relaxation, open while the LV fills); None: the rule of before, shut
    # while the contraction state s > 0.4 (open at end-diastole and in early systole).
    mv_closed: bool | None = None
    # Papillary muscles of an apical view (difficulties "wide_pap*"; empty: none, as before): per muscle (side, level,
    # half-width, half-length, tilt): the wall it stands on (+1 lateral, -1 septal / inferior), the level along the
    # LV from the apex (fraction of its length), its half-width across and half-length along the LV (mm, at
    # end-diastole; thicker in systole) and its tilt towards the LV's axis (rad). Bright like myocardium and
    # labelled LV, as clinical tracings include them in the cavity (see _papillary).
    papillary: tuple = ()


# Varied anatomy (FrameState.anatomy / CineParams.anatomy): RV half-width at its base as a fraction of the LV's ED
# short semi-axis, RV length as a fraction of the LV length, the RV profile's exponent (below 1 rounder, above 1 a
# sharper triangle), RV free-wall thickness (mm), the moderator band's position along the RV (0 none), the
# tricuspid annulus's apical offset from the mitral annulus (mm), LA and RA semi-axes (mm, across and along the
# long axis), interatrial-septum dropout (0/1), LA appendage and coronary sinus radii (mm, 0 none; two-chamber
# view), the RV's and aortic root's half-widths in the long-axis view (mm) and the RV's scale in the short-axis view.
(AN_RV_W, AN_RV_LEN, AN_RV_P, AN_RV_WALL, AN_MB, AN_TV_OFF, AN_LA_U, AN_LA_V, AN_RA_U, AN_RA_V, AN_IAS_GAP, AN_LAA,
 AN_CS, AN_PLAX_RV, AN_AO, AN_PSAX_RV) = range(16)
# The values of the fixed chambers (legacy), with the varied model's ranges about them (simulator._anatomy_params).
ANATOMY_LEGACY = (0.75, 0.85, 1.0, 2.0, 0.0, 0.0, 17.0, 19.0, 15.0, 18.0, 0.0, 0.0, 0.0, 11.0, 11.0, 1.0)
N_ANATOMY = len(ANATOMY_LEGACY)


def heart_coords(st: FrameState, x, z):
    rx = x - st.apex[0]
    rz = z - st.apex[1]
    sp, cp = math.sin(st.phi), math.cos(st.phi)
    v = rx * sp + rz * cp
    u = rx * cp - rz * sp
    return u, v


def scene(st: FrameState, x, z, want_material=True, seg_only=False):
    """Tissue code map for positions (x, z), and material coordinates for the speckle (moving with tissue).

    Returns (tissue uint8, mu, mv) where mu, mv are None when want_material is False. With seg_only only the
    structures that carry segmentation labels (LV, myocardium, LA) are evaluated.
    """
    tissue = np.zeros(np.shape(x), np.uint8)
    if st.view == "OTHER":
        return _other_scene(st, x, z, tissue, want_material, seg_only)
    u, v = heart_coords(st, x, z)
    a, b, t, ta = st.a, st.b, st.wall, st.apex_thick
    s = st.s
    if st.view == "PSAX":
        # apex here is the LV centre; circles.
        r2 = u * u + v * v
        k_rv = st.anatomy[AN_PSAX_RV] if st.anatomy else 1.0
        rv_c = _ell_rot(u, v, -0.55 * a - 4, -(a + t + 7) - 6 * (k_rv - 1), (1.55 * a + 6) * k_rv,
                        12.0 * (1 - 0.2 * s) * k_rv, 0.35)
        env = _ell(u, v, -0.2 * a, -4.0, a + t + 22, a + t + 24)
        if not seg_only:
            tissue[env < 1] = T_HEART
            peri = (env >= 1) & (env < 1.12) & (v > -0.2 * a)
            tissue[peri] = T_PERICARDIUM
            tissue[(rv_c < 1) & (r2 > (a + t + 3) ** 2)] = T_BLOOD
        tissue[r2 < (a + t) ** 2] = T_MYO
        tissue[r2 < a * a] = T_LV
        if not seg_only:
            for sx in (-1, 1):
                pm = _ell(u, v, sx * 0.5 * a, 0.45 * a, 3.5 + 1.5 * s, 4.5 + 1.5 * s)
                tissue[(pm < 1) & (r2 < a * a)] = T_VALVE  # papillary muscle: bright but labelled LV
        mat = None
        if want_material:
            k = np.where(r2 < (a + t + 25) ** 2, st.a_ed / a, 1.0)
            mat = (u * k, v * k)
        return (tissue,) + (mat if mat else (None, None))

    if st.shape:
        # parametric LV: open at the mitral annulus (v = L = 2b), the cavity closed there by the annulus line
        L = 2 * b
        uc = st.shape[3] * a * np.sin(np.pi * np.clip(v / L, 0, 1))
        inside_lv = (v >= 0) & (v <= L) & (np.abs(u - uc) < a * lv_profile(v / L, st.shape))
        lv = np.where(inside_lv, 0.0, 2.0)
        to = (v + ta) / (L + ta)
        myo = (v >= -ta) & (v <= L) & (np.abs(u - uc) < (a + t) * lv_profile(to, st.shape))
    else:
        lv = _ell(u, v, 0.0, b, a, b)
        outer_cv = (-ta + 2 * b + t) / 2
        outer_bv = (2 * b + t + ta) / 2
        myo = (_ell(u, v, 0.0, outer_cv, a + t, outer_bv) < 1) & (v < 1.82 * b)
    gap = 3.0
    an = st.anatomy if (st.anatomy and st.shape) else ()
    la_a, la_b = (an[AN_LA_U], an[AN_LA_V]) if an else (17.0, 19.0)
    la_a, la_b = la_a * (1 + 0.15 * s), la_b * (1 + 0.12 * s)
    joined = bool(st.la_join) and bool(st.shape) and st.view in ("A4C", "A2C")
    if st.view == "PLAX":
        la_cu, la_cv = -0.25 * a - 4, 2 * b + gap + la_b + 2
    else:
        la_cu, la_cv = 0.1 * a, 2 * b + (0.0 if joined else gap) + la_b
    la = _ell(u, v, la_cu, la_cv, la_a, la_b)
    if not seg_only:
        blood = np.zeros(tissue.shape, bool)
        walls = bright = None
        if an:
            blood, walls, bright, (u0, u1, v0, v1) = _chambers(st, u, v, la_cu, la_cv, la_a, la_b)
        elif st.view == "A4C":
            a_rv, b_rv = 0.75 * st.a_ed * (1 - 0.2 * s), 0.82 * b
            cu_rv = -(a + t + 3 + a_rv)
            blood |= _ell(u, v, cu_rv, 0.95 * b_rv + 10, a_rv, b_rv) < 1
            blood |= _ell(u, v, cu_rv + 2, 2 * b + gap + 18, 15.0 * (1 + 0.1 * s), 18.0) < 1
            u0, u1 = cu_rv - a_rv - 6, a + t + 6
            v0, v1 = -ta - 4, 2 * b + gap + 2 * la_b + 5
        elif st.view == "A2C":
            u0, u1 = -(a + t + 7), a + t + 7
            v0, v1 = -ta - 4, 2 * b + gap + 2 * la_b + 5
        else:  # PLAX: u > 0 is anterior (towards the probe)
            a_rv = 11.0 * (1 - 0.2 * s)
            blood |= _ell(u, v, a + t + 3 + a_rv, 1.05 * b, a_rv, 0.95 * b) < 1
            blood |= _ell_rot(u, v, 0.55 * a + 6, 2 * b + 16, 11.0, 24.0, -0.5) < 1  # aortic root
            u0, u1 = -(a + t + 8), a + t + 3 + 2 * a_rv + 5
            v0, v1 = -ta - 4, 2 * b + gap + 2 * la_b + 8
        cu, cv = (u0 + u1) / 2, (v0 + v1) / 2
        env = _ell(u, v, cu, cv, (u1 - u0) / 2 * 1.12, (v1 - v0) / 2 * 1.12)
        tissue[env < 1] = T_HEART
        tissue[(env >= 1) & (env < 1.09)] = T_PERICARDIUM
        if st.shape:
            # walls of the other chambers (RV free wall, atrial walls, aortic root): 3 mm shells round the blood
            shell = cv2.dilate(blood.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2).astype(bool) \
                if blood.ndim == 2 and blood.shape[0] > 8 else blood
            tissue[shell] = T_CWALL
            tissue[(la < 1.35) & (env < 1)] = T_CWALL
            if walls is not None:
                tissue[walls] = T_CWALL
        tissue[blood] = T_BLOOD
        if bright is not None:
            tissue[bright] = T_VALVE
    if st.lung > 0 and not seg_only:
        # lung beside the heart: everything lateral of +-lung mm (in the heart frame) outside the heart envelope
        tissue[(np.abs(u) > st.lung) & (tissue == T_BACKGROUND)] = T_LUNG
    tissue[myo] = T_MYO
    tissue[lv < 1] = T_LV
    if st.trab > 0 and st.shape:
        # trabeculae: a blob pattern (fixed to the heart) in the apical third and along the lateral wall's inner band
        k = st.a_ed / a
        pu, pv = u * k, v * (st.b_ed / b)
        ph = st.pattern
        blob = np.sin(0.9 * pu + 0.5 * pv + ph[0]) + np.sin(0.45 * pu - 1.1 * pv + ph[1]) \
            + np.sin(1.3 * pu + 0.25 * pv + ph[2])
        near = (v < 0.3 * 2 * b) | (u - uc > a * lv_profile(v / (2 * b), st.shape) - 4.0)
        tissue[(lv < 1) & near & (blob > 2.4 - 1.2 * st.trab)] = T_TRAB
    if st.papillary and st.shape and not seg_only and st.view in ("A4C", "A2C"):
        tissue[_papillary(st, u, v, a, 2 * b) & (lv < 1)] = T_MYO
    tissue[la < 1] = T_LA
    if not seg_only:
        # mitral leaflets: closed (a line across the annulus) in systole, open (two hinges) in diastole
        shut = mitral_shut(st)
        if joined and st.leaflets:
            leaf = _mitral_leaflets(u, v, 2 * b, a * float(lv_profile(1.0, st.shape)), shut, *st.leaflets)
        elif shut:
            # joined: the shut leaflets lie just atrial of the annulus line, over the LA blood
            leaf = (np.abs(v - (2 * b + (1.0 if joined else gap * 0.5))) < 1.0) & (np.abs(u) < a * 0.95)
        else:
            leaf = (np.abs(np.abs(u) - a * 0.75) < 1.1) & (v > 2 * b - 0.15 * b) & (v < 2 * b + gap)
        tissue[leaf & ((tissue != T_LA) | joined)] = T_VALVE
    mat = None
    if want_material:
        inside = (u > -(a + 60)) & (u < a + 60) & (v > -20) & (v < 2 * b + 60)
        ku = np.where(inside, st.a_ed / a, 1.0)
        kv = np.where(inside, st.b_ed / b, 1.0)
        mat = (u * ku, v * kv)
    return (tissue,) + (mat if mat else (None, None))


def _papillary(st, u, v, a, L):
    """Where the papillary muscles of an apical view are (bool over the grid): each an ellipse standing on the LV
    wall at its level, a tenth of its width inside the myocardium and the rest in the cavity, its tip tilted towards
    the LV's axis. In apical views the anterolateral muscle stands on the lateral wall (A4C) and the two muscles on
    the anterior and inferior walls (A2C), mid-cavity; they are myocardium, echo like it, and thicken in systole,
    and the chamber guidelines include them in the LV cavity when it is traced for volumes (Lang et al., J Am Soc
    Echocardiogr 2015;28:1-39.e14), so they are drawn here but labelled LV. The cavity narrows round them at
    end-systole, where a model that never saw one would stop the cavity at their edge."""
    out = np.zeros(u.shape, bool)
    for side, level, w, h, tilt in st.papillary:
        w = w * (1 + 0.35 * st.s)
        axis_u = st.shape[3] * a * math.sin(math.pi * level)  # the LV's bent axis at that level (as in scene)
        wall_u = a * float(lv_profile(level, st.shape))
        out |= _ell_rot(u, v, axis_u + side * (wall_u - 0.8 * w), level * L, w, h, side * tilt) < 1
    return out


def _segment_distance(u, v, p0, p1):
    """Distance (mm) of the points (u, v) to the segment p0-p1."""
    du, dv = p1[0] - p0[0], p1[1] - p0[1]
    t = np.clip(((u - p0[0]) * du + (v - p0[1]) * dv) / (du * du + dv * dv), 0.0, 1.0)
    return np.hypot(u - p0[0] - t * du, v - p0[1] - t * dv)


def mitral_shut(st) -> bool:
    """Whether a frame's mitral valve is shut: FrameState.mv_closed where set, else the rule of before (s > 0.4)."""
    return st.s > 0.4 if st.mv_closed is None else bool(st.mv_closed)


# Mitral valve timing over the cycle of `contraction` (phase 0 = end-diastole, when the valve shuts; systole to
# 0.35; isovolumic relaxation after it, the valve opening when the LV starts to fill).
MV_OPENS_AT_PHASE = 0.38


def mitral_closed_at(phase: float, ivr: float = 0.0) -> bool:
    """Shut from end-diastole (phase 0) through systole and isovolumic relaxation, open from MV_OPENS_AT_PHASE (with
    an isovolumic relaxation `ivr` of contraction's: from its end, 0.35 + ivr, when that is later) to the next
    end-diastole (filling, diastasis, atrial kick)."""
    return float(np.mod(phase, 1.0)) < max(MV_OPENS_AT_PHASE, 0.35 + ivr)


def _mitral_leaflets(u, v, L, hw, shut, tent, open_len):
    """The mitral leaflets hinged on the annulus (u = +-hw at v = L), 1.8 mm thick: shut (`shut`, mitral_shut), the
    two meeting at a coaptation point `tent` mm apical of the annulus line (systolic tenting); open in diastole,
    lying into the LV towards the apex, the anterior (septal side, u < 0) `open_len` mm long and the posterior 0.6
    of it. They lie inside the LV label, which ends at the annulus line as a clinical tracing does."""
    if shut:
        c = (-0.15 * hw, L - tent)
        d = np.minimum(_segment_distance(u, v, (-hw, L), c), _segment_distance(u, v, (hw, L), c))
    else:
        d = np.minimum(_segment_distance(u, v, (-hw, L), (-0.55 * hw, L - open_len)),
                       _segment_distance(u, v, (hw, L), (0.6 * hw, L - 0.6 * open_len)))
    return d < 0.9


def _chambers(st: FrameState, u, v, la_cu, la_cv, la_a, la_b):
    """The blood pools of the chambers other than the LV and LA in the varied anatomy, with the RV free wall and the
    bright structures (moderator band, tricuspid leaflets), and the heart's extent (u0, u1, v0, v1).

    Apical four-chamber: the RV lies along the septum (its septal side follows the LV myocardium's outer border
    1 mm away), from its apex to the tricuspid annulus, which sits tv_off mm nearer the apex than the mitral
    annulus; its width rises from the apex as a sine ramp to the power rv_p and holds from three quarters of its
    length. The RA lies under the tricuspid annulus beside the LA, the two divided by a 3 mm interatrial septum that
    may drop out (a thin septum parallel to the beam returns no echo). Two-chamber: the LA appendage (beside the LA
    towards the annulus, image right) and the coronary sinus (in the atrioventricular groove, image left). Long
    axis: the RV in front of the LV and the aortic root, both sized."""
    an, a, b, t, ta, s = st.anatomy, st.a, st.b, st.wall, st.apex_thick, st.s
    L, gap = 2 * b, 3.0
    blood = np.zeros(np.shape(u), bool)
    walls = np.zeros(np.shape(u), bool)
    bright = np.zeros(np.shape(u), bool)
    v1e = L + gap + 2 * la_b + 5
    if st.view == "A4C":
        uc = st.shape[3] * a * np.sin(np.pi * np.clip(v / L, 0, 1))
        inner = uc - (a + t) * lv_profile((v + ta) / (L + ta), st.shape) - 1.0  # RV side of the septum
        w_rv = 2 * an[AN_RV_W] * st.a_ed * (1 - 0.2 * s)
        tv = L + 0.5 * gap - an[AN_TV_OFF]
        rv0 = tv - an[AN_RV_LEN] * L
        wall = an[AN_RV_WALL]

        rv_shape = (0.75, an[AN_RV_P], 1.0, 0.0, 0.0, 0.0, 0.0, 0.0)  # lv_profile's ramp, held from 3/4 on

        def width(lo, w):
            return w * lv_profile((v - lo) / max(1e-6, tv - lo), rv_shape)
        span = (v <= tv) & (u < inner)
        rv = span & (v >= rv0) & (u > inner - width(rv0, w_rv))
        walls |= span & (v >= rv0 - wall) & (u > inner - width(rv0 - wall, w_rv + wall))
        blood |= rv
        if an[AN_MB] > 0:  # the moderator band: from the septum obliquely across to the free wall
            vm = rv0 + an[AN_MB] * (tv - rv0)
            bright |= rv & (np.abs(v - vm - 0.3 * (inner - u)) < 1.2)
        ra_u, ra_v = an[AN_RA_U] * (1 + 0.1 * s), an[AN_RA_V]
        ra_cu, ra_cv = la_cu - la_a - 3.0 - ra_u, tv + gap + ra_v
        blood |= _ell(u, v, ra_cu, ra_cv, ra_u, ra_v) < 1
        if an[AN_IAS_GAP] > 0:
            blood |= (np.abs(u - (la_cu - la_a - 1.5)) < 3.0) & (np.abs(v - la_cv) < 0.45 * la_b) \
                & (np.abs(v - ra_cv) < 0.6 * ra_v)
        tv_inner = float(np.min(inner[np.abs(v - tv) < 1.5])) if np.any(np.abs(v - tv) < 1.5) else -(a + t + 1)
        if s > 0.4:  # tricuspid leaflets: closed across the annulus in systole, two hinges open in diastole
            bright |= (np.abs(v - tv) < 1.0) & (u < inner) & (u > inner - w_rv)
        else:
            bright |= (np.abs(np.abs(u - (tv_inner - 0.5 * w_rv)) - 0.38 * w_rv) < 1.1) & (v > tv - 0.12 * L) & (v < tv)
        u0 = min(tv_inner - w_rv - wall, ra_cu - ra_u) - 6
        u1 = a + t + 6
        v1e = max(v1e, tv + gap + 2 * ra_v + 5)
    elif st.view == "A2C":
        if an[AN_LAA] > 0:
            r = an[AN_LAA]
            blood |= _ell_rot(u, v, la_cu + 0.8 * la_a, la_cv - 0.6 * la_b, r, 1.7 * r, -0.6) < 1
        if an[AN_CS] > 0:
            r = an[AN_CS]
            blood |= _ell(u, v, -(a + t) * st.shape[2] - 2 - r, L + gap, r, r) < 1
        u0, u1 = -(a + t + 7), a + t + 7
    else:  # PLAX: u > 0 is anterior (towards the probe)
        a_rv = an[AN_PLAX_RV] * (1 - 0.2 * s)
        ao = an[AN_AO]
        blood |= _ell(u, v, a + t + 3 + a_rv, 1.05 * b, a_rv, 0.95 * b) < 1
        blood |= _ell_rot(u, v, 0.55 * a + 6 + 0.5 * (ao - 11.0), 2 * b + 16, ao, 24.0, -0.5) < 1  # aortic root
        u0, u1 = -(a + t + 8), a + t + 3 + 2 * a_rv + 5
        v1e += 3
    walls &= ~blood
    return blood, walls, bright, (u0, u1, -ta - 4, v1e)


def _other_scene(st, x, z, tissue, want_material, seg_only):
    if seg_only:
        return tissue, None, None
    kind = st.other_kind
    p = st.other_params
    if kind == 0:  # liver with vessels and the diaphragm
        tissue[:] = T_LIVER
        for i in range(0, len(p) - 3, 4):
            tissue[_ell(x, z, p[i], p[i + 1], p[i + 2], p[i + 3]) < 1] = T_VESSEL
        r = np.sqrt(x * x + z * z)
        tissue[np.abs(r - p[-1]) < 2.0] = T_PERICARDIUM
        tissue[r > p[-1] + 2.0] = T_BLOOD  # beyond the diaphragm: dark (lung)
    elif kind == 1:  # lung: pleural line then air (reverberations are added by the image formation)
        tissue[:] = T_BACKGROUND
        tissue[np.abs(z - p[0]) < 1.5] = T_PERICARDIUM
        tissue[z > p[0] + 1.5] = T_BLOOD
    elif kind == 2:  # probe in the air or lifted: almost nothing
        tissue[:] = T_BLOOD
    else:  # wide cines' non-cardiac scenes: superficial tissue (fat over muscle) with organ-like inclusions
        tissue[:] = T_FAT
        tissue[z > p[-1]] = T_MUSCLE if kind in (3, 5) else T_LIVER
        for i in range(0, len(p) - 3, 4):
            e = _ell(x, z, p[i], p[i + 1], p[i + 2], p[i + 3])
            if kind == 3:  # lymph nodes: hypoechoic cortex, echogenic hilum
                tissue[e < 1] = T_NODE
                tissue[e < 0.12] = T_HEART
            elif kind == 4:  # fluid: bladder, cyst, pelvis; bright wall
                tissue[(e >= 1) & (e < 1.3)] = T_PERICARDIUM
                tissue[e < 1] = T_FLUID
            elif kind == 5:  # vessels through muscle
                tissue[e < 1] = T_VESSEL
                tissue[(e >= 1) & (e < 1.2)] = T_WALL
            else:
                tissue[e < 1] = T_VESSEL if i % 8 == 0 else T_NODE
        if kind == 5:  # fascia lines
            for k in range(3):
                tissue[np.abs(z - p[-1] * (0.5 + 0.4 * k)) < 0.8] = T_PERICARDIUM
    mat = (x.copy(), z.copy()) if want_material else (None, None)
    return (tissue,) + mat
