"""B-mode image formation, vectorised numpy, deterministic from a seed.

Pipeline per frame (complex baseband / IQ domain):
  scatterers (tissue-dependent amplitude and density, moving with the tissue)
  -> rib shadows, reverberation and haze added to the reflectivity
  -> point-spread function: axially the Gaussian-modulated pulse, which in baseband is its Gaussian envelope;
     laterally a Gaussian beam whose width depends on depth (focused beam: w(r) = w0 sqrt(1 + ((r-rf)/zR)^2))
  -> depth attenuation (alpha dB/cm/MHz, round trip) -> electronic noise -> time-gain compensation
  -> envelope |IQ| -> log compression to a dynamic range with a gain offset -> uint8.
The polar frame (rows = samples along depth, row 0 = start depth; columns = scan lines spread uniformly over
[angle_start, angle_end] radians from the probe axis, positive to the image right) is scan-converted to a sector
image with the apex at the top centre, which is also placed inside a larger screen layout.

Quality label (in [0, 1]), defined from the degradations of the frame:
  q = q_pose * q_fore * (1 - 0.35 p_gain) * (1 - 0.25 p_dr) * (1 - 0.8 p_shadow) * (1 - 0.5 p_haze)
        * (1 - 0.3 p_noise) * (1 - 0.3 p_motion)
  q_pose = exp(-0.5 ((dx / 15 mm)^2 + (drot / 20 deg)^2))    probe lateral offset dx, rotation drot
  q_fore = max(0, 1 - 1.5 f)                                  foreshortening fraction f of the LV length
  p_gain = min(1, |gain_db| / 20), p_dr = min(1, |DR - 55| / 30), p_shadow = fraction of the sector angle
  shadowed by ribs, p_haze = haze level in [0, 1], p_noise = noise level in [0, 1],
  p_motion = min(1, frame displacement from the cine's mean position in mm / 6).
  The OTHER view (no heart) has q = 0.
Guidance label: "hold" when |dx| < 8 mm, |drot| < 10 deg and f < 0.12; otherwise the largest of |dx|/8, |drot|/10,
f/0.12 decides: dx > 0 (probe right of the ideal window) -> slide_left, dx < 0 -> slide_right, drot > 0 ->
rotate_ccw, drot < 0 -> rotate_cw, foreshortening -> tilt_to_apex. OTHER: -1 (no guidance).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, asdict

import cv2
import numpy as np
import scipy.fft as sfft

from ..constants import GUIDANCE, VIEWS
from . import heart as H

C_SOUND = 1540.0  # m/s


@dataclass
class ImagingConfig:
    n_lines: int = 128
    n_samples: int = 256
    image_size: int = 256
    sector_deg: float = 75.0
    start_depth_mm: float = 1.0
    f0_mhz: float = 2.5
    axial_sigma_mm: float = 0.55
    beam_w0_mm: float = 1.1
    beam_zr_mm: float = 35.0
    atten_db_cm_mhz: float = 0.5
    table_cell_mm: float = 0.35
    table_size: int = 768
    screen_size: tuple = (384, 512)
    screen_sector_origin: tuple = (56, 128)


# Ranges of the random cine parameters for the two difficulties.
DIFFICULTY = {
    "train": dict(dx_sd=9.0, rot_sd=10.0, fore_max=0.25, gain_sd=6.0, dr=(45, 68), depth=(130, 175),
                  rib_p=0.35, haze_max=0.6, noise_max=0.6, motion_max=2.5, tgc_err=0.2),
    "hard": dict(dx_sd=12.0, rot_sd=13.0, fore_max=0.35, gain_sd=9.0, dr=(38, 75), depth=(120, 185),
                 rib_p=0.55, haze_max=0.85, noise_max=0.85, motion_max=4.0, tgc_err=0.3),
}


@dataclass
class CineParams:
    seed: int
    view: str
    n_frames: int
    depth_mm: float
    a_ed: float
    b_ed: float
    ef_target: float
    long_short: float
    wall: float
    cycle_frames: float
    phase0: float
    dx: float
    rot_deg: float
    fore: float
    gain_db: float
    dr_db: float
    tgc_err: float
    tgc_knobs: list
    ribs: list  # (centre angle rad, half width rad, depth mm, transmission)
    haze: float
    noise: float
    motion_mm: float
    chest_wall: float
    heart_jitter: list
    other_kind: int = 0
    other_params: list = field(default_factory=list)


def sample_cine_params(seed: int, view: str | None = None, n_frames: int = 16, difficulty: str = "train") -> CineParams:
    rng = np.random.default_rng([seed, 7919])
    d = DIFFICULTY[difficulty]
    if view is None:
        view = VIEWS[int(rng.integers(len(VIEWS)))]
    if view not in VIEWS:
        raise ValueError(f"Expected view in {VIEWS} but received {view!r}")
    ef = float(rng.uniform(0.2, 0.75))
    ribs = []
    half = math.radians(75.0) / 2
    while rng.random() < d["rib_p"] and len(ribs) < 2:
        ribs.append([float(rng.uniform(-half, half)), float(rng.uniform(0.035, 0.1)), float(rng.uniform(10, 22)),
                     float(rng.uniform(0.04, 0.2))])
    other_kind = int(rng.integers(3))
    other_params = []
    for _ in range(int(rng.integers(1, 4))):
        other_params += [float(rng.uniform(-50, 50)), float(rng.uniform(30, 120)), float(rng.uniform(4, 14)),
                         float(rng.uniform(4, 14))]
    other_params.append(float(rng.uniform(90, 140)) if other_kind == 0 else float(rng.uniform(15, 35)))
    fore = float(rng.uniform(0, d["fore_max"])) if (view in ("A4C", "A2C") and rng.random() < 0.5) else 0.0
    return CineParams(
        seed=int(seed), view=view, n_frames=int(n_frames), depth_mm=float(rng.uniform(*d["depth"])),
        a_ed=float(rng.uniform(19, 26)), b_ed=float(rng.uniform(36, 45)), ef_target=ef,
        long_short=float(0.05 + 0.15 * ef), wall=float(rng.uniform(7, 11)),
        cycle_frames=float(n_frames * rng.uniform(0.8, 1.0)), phase0=float(rng.uniform(0, 1)),
        dx=float(np.clip(rng.normal(0, d["dx_sd"]), -28, 28)) if rng.random() < 0.7 else 0.0,
        rot_deg=float(np.clip(rng.normal(0, d["rot_sd"]), -35, 35)) if rng.random() < 0.7 else 0.0,
        fore=fore, gain_db=float(np.clip(rng.normal(0, d["gain_sd"]), -25, 25)),
        dr_db=float(rng.uniform(*d["dr"])), tgc_err=float(rng.uniform(-d["tgc_err"], d["tgc_err"])),
        tgc_knobs=[float(v) for v in rng.normal(0, 2.0, 8)], ribs=ribs,
        haze=float(rng.uniform(0, d["haze_max"])) if rng.random() < 0.5 else 0.0,
        noise=float(rng.uniform(0, d["noise_max"])),
        motion_mm=float(rng.uniform(0, d["motion_max"])) if rng.random() < 0.5 else 0.0,
        chest_wall=float(rng.uniform(8, 16)), heart_jitter=[float(v) for v in rng.normal(0, 3, 3)],
        other_kind=other_kind, other_params=other_params,
    )


# ---------------------------------------------------------------------------------------------------------
# Geometry caches (per depth and config): polar sample positions and scan-conversion maps.
_GEOM_CACHE: dict = {}


def geometry(cfg: ImagingConfig, depth_mm: float):
    key = (cfg.n_lines, cfg.n_samples, cfg.image_size, cfg.sector_deg, cfg.start_depth_mm, round(depth_mm, 4))
    g = _GEOM_CACHE.get(key)
    if g is not None:
        return g
    half = math.radians(cfg.sector_deg) / 2
    angles = np.linspace(-half, half, cfg.n_lines)
    r = np.linspace(cfg.start_depth_mm, depth_mm, cfg.n_samples)
    R, A = np.meshgrid(r, angles, indexing="ij")
    px, pz = (R * np.sin(A)).astype(np.float32), (R * np.cos(A)).astype(np.float32)
    # sector image: square pixels, width covers the sector, apex at row 0 centre
    width_mm = 2 * depth_mm * math.sin(half)
    sp = max(width_mm, depth_mm) / cfg.image_size
    n = cfg.image_size
    xs = (np.arange(n) + 0.5 - n / 2) * sp
    zs = (np.arange(n) + 0.5) * sp
    X, Z = np.meshgrid(xs, zs)
    RR = np.sqrt(X * X + Z * Z)
    TH = np.arctan2(X, Z)
    inside = (RR >= cfg.start_depth_mm) & (RR <= depth_mm) & (np.abs(TH) <= half)
    map_col = ((TH + half) / (2 * half) * (cfg.n_lines - 1)).astype(np.float32)
    map_row = ((RR - cfg.start_depth_mm) / (depth_mm - cfg.start_depth_mm) * (cfg.n_samples - 1)).astype(np.float32)
    map_col[~inside] = -10
    map_row[~inside] = -10
    dtheta = 2 * half / (cfg.n_lines - 1)
    g = dict(half=half, angles=angles, r=r, px=px, pz=pz, spacing=sp, X=X.astype(np.float32),
             Z=Z.astype(np.float32), inside=inside, map_col=map_col, map_row=map_row, dtheta=dtheta)
    _GEOM_CACHE[key] = g
    return g


def _lateral_sigma_lines(cfg, g, depth_mm):
    """Lateral PSF sigma in scan lines for each depth row: a focused Gaussian beam, focus at 55% of the depth."""
    r = g["r"]
    rf = 0.55 * depth_mm
    w = cfg.beam_w0_mm * np.sqrt(1 + ((r - rf) / cfg.beam_zr_mm) ** 2)
    return np.clip(w / (np.maximum(r, 1.0) * g["dtheta"]), 0.5, 10.0)


@dataclass
class Cine:
    params: CineParams
    polar: np.ndarray  # uint8 [F, n_samples, n_lines]
    sector: np.ndarray  # uint8 [F, N, N]
    masks: np.ndarray  # uint8 [F, N, N] 0 bg, 1 LV, 2 myocardium, 3 LA
    polar_masks: np.ndarray  # uint8 [F, n_samples, n_lines]
    quality: np.ndarray  # float32 [F]
    guidance: int
    view: int
    ed: int
    es: int
    ef: float  # percent, area-length method on the sampled frames
    volumes_ml: np.ndarray  # float64 [F]
    lv_axes_mm: np.ndarray  # [F, 2] displayed (a, b)
    spacing_mm: float
    geometry: dict

    def screen(self, i: int) -> np.ndarray:
        return screen_layout(self, i)


def _frame_states(p: CineParams, rng):
    F = p.n_frames
    phase = p.phase0 + np.arange(F) / p.cycle_frames
    s = H.contraction(phase)
    shape = H.HeartShape(p.a_ed, p.b_ed, p.ef_target, p.wall, p.long_short)
    a, b = shape.axes(s)
    # motion: a smooth random walk of the heart in the image (patient/probe motion)
    steps = rng.normal(0, 1, (F, 2))
    walk = np.cumsum(steps, 0)
    walk -= walk.mean(0)
    scale = p.motion_mm / max(1e-6, np.abs(walk).max()) if p.motion_mm > 0 else 0.0
    walk *= scale
    rot = math.radians(p.rot_deg)
    jx, jz, jphi = p.heart_jitter
    if p.view in ("A4C", "A2C"):
        apex0 = (2.0 + jx, p.chest_wall + 16 + abs(jz))
        phi0 = math.radians((12.0 if p.view == "A4C" else 4.0) + 2 * jphi)
    elif p.view == "PLAX":
        apex0 = (-72.0 + 2 * jx, p.chest_wall + 58 + jz)
        phi0 = math.radians(84.0 + 2 * jphi)
    else:  # PSAX (apex = LV centre), OTHER (unused)
        apex0 = (0.0 + jx, p.chest_wall + 50 + jz + 0.15 * p.depth_mm)
        phi0 = math.radians(2 * jphi)
    c, sn = math.cos(-rot), math.sin(-rot)
    ax = c * apex0[0] + sn * apex0[1] - p.dx
    az = -sn * apex0[0] + c * apex0[1]
    states = []
    for i in range(F):
        fb = b[i] * (1 - p.fore)
        states.append(H.FrameState(
            view=p.view, a=float(a[i]) if p.view != "PSAX" else float(a[i]) * 0.92, b=float(fb),
            a_ed=p.a_ed if p.view != "PSAX" else p.a_ed * 0.92, b_ed=p.b_ed * (1 - p.fore), s=float(s[i]),
            wall=p.wall * (1 + 0.45 * s[i]), apex_thick=p.wall * (1 + 0.45 * s[i]) * (1 + 3 * p.fore),
            apex=(ax + walk[i, 0], az + walk[i, 1]), phi=phi0 - rot, other_kind=p.other_kind,
            other_params=tuple(p.other_params), chest_wall=p.chest_wall))
    disp = np.sqrt((walk ** 2).sum(1))
    return states, a, b, s, disp


SECTOR_HALF_RAD = math.radians(75.0) / 2  # the sector of the quality definition (ImagingConfig.sector_deg)


# The factors of the quality definition that the label-aware augmentation (augment.py) also changes.
def quality_gain_factor(gain_db):
    return 1 - 0.35 * np.minimum(1.0, np.abs(gain_db) / 20)


def quality_dr_factor(dr_db):
    return 1 - 0.25 * np.minimum(1.0, np.abs(np.asarray(dr_db) - 55) / 30)


def quality_shadow_factor(shadow_fraction):
    return 1 - 0.8 * np.minimum(1.0, shadow_fraction)


def quality_pose_factor(dx_mm, rot_deg):
    return np.exp(-0.5 * ((np.asarray(dx_mm) / 15.0) ** 2 + (np.asarray(rot_deg) / 20.0) ** 2))


# Guidance rule of the module docstring, vectorised: GUIDANCE index per (dx, rot, fore).
_GUIDE = [GUIDANCE.index(g) for g in ("hold", "slide_left", "slide_right", "rotate_ccw", "rotate_cw", "tilt_to_apex")]


def guidance_index(dx_mm, rot_deg, fore):
    dx, rot, fore = (np.asarray(v, np.float64) for v in (dx_mm, rot_deg, fore))
    scores = np.stack(np.broadcast_arrays(np.abs(dx) / 8.0, np.abs(rot) / 10.0, fore / 0.12))
    k = np.argmax(scores, 0)
    out = np.where(k == 0, np.where(dx > 0, _GUIDE[1], _GUIDE[2]),
                   np.where(k == 1, np.where(rot > 0, _GUIDE[3], _GUIDE[4]), _GUIDE[5]))
    return np.where(scores.max(0) < 1, _GUIDE[0], out).astype(np.int64)


def rib_shadow_fraction(ribs) -> float:
    """Fraction of the sector angle shadowed by ribs ((centre, half-width, ...) in radians)."""
    return min(1.0, sum(2 * r[1] for r in ribs) / (2 * SECTOR_HALF_RAD))


def quality_and_guidance(p: CineParams, disp_mm: np.ndarray):
    if p.view == "OTHER":
        return np.zeros(len(disp_mm), np.float32), -1
    q_fore = max(0.0, 1 - 1.5 * p.fore)
    base = float(quality_pose_factor(p.dx, p.rot_deg)) * q_fore * quality_gain_factor(p.gain_db) \
        * quality_dr_factor(p.dr_db) * quality_shadow_factor(rib_shadow_fraction(p.ribs)) * (1 - 0.5 * p.haze) \
        * (1 - 0.3 * p.noise)
    q = base * (1 - 0.3 * np.minimum(1.0, disp_mm / 6.0))
    return np.clip(q, 0, 1).astype(np.float32), int(guidance_index(p.dx, p.rot_deg, p.fore))


def _tables(seed):
    rng = np.random.default_rng([seed, 104729])
    return rng


def simulate_cine(p: CineParams, cfg: ImagingConfig | None = None, with_masks: bool = True) -> Cine:
    cfg = cfg or ImagingConfig()
    rng = np.random.default_rng([p.seed, 31337])
    g = geometry(cfg, p.depth_mm)
    S, L = cfg.n_samples, cfg.n_lines
    T = cfg.table_size
    # scatterer tables: complex Gaussian amplitude and a uniform number for the density test
    tab = (rng.standard_normal((T, T), np.float32) + 1j * rng.standard_normal((T, T), np.float32)).astype(np.complex64)
    tab *= np.float32(1 / math.sqrt(2))
    utab = rng.random((T, T), np.float32)
    states, a, b, s, disp = _frame_states(p, rng)
    quality, guidance = quality_and_guidance(p, disp)

    r = g["r"].astype(np.float32)
    r_col = r[:, None]
    # depth-dependent terms
    alpha = cfg.atten_db_cm_mhz * cfg.f0_mhz * 2 / 10.0  # dB per mm, round trip
    atten = (10 ** (-alpha * r / 20)).astype(np.float32)
    knob_depths = np.linspace(0, p.depth_mm, len(p.tgc_knobs))
    tgc_db = alpha * (1 + p.tgc_err) * r + np.interp(r, knob_depths, p.tgc_knobs)
    tgc = (10 ** (tgc_db / 20)).astype(np.float32)
    # rib shadows and their bright rib echo (polar mask, per cine)
    shadow = np.ones((S, L), np.float32)
    rib_echo = np.zeros((S, L), np.float32)
    for (ca, hw, rd, tr) in p.ribs:
        w = np.clip(1.0 - (np.abs(g["angles"] - ca) - hw) / 0.02, 0, 1)[None, :]
        deep = (r_col > rd).astype(np.float32)
        shadow *= 1 - w * deep * (1 - tr)
        rib_echo += 3.0 * w * np.exp(-0.5 * ((r_col - rd) / 1.2) ** 2)
    # reverberation (copies of the chest wall interface) and haze
    rev = np.zeros((S, 1), np.float32)
    if p.haze > 0:
        for k in (2, 3, 4):
            rev += (p.haze * 0.9 / k) * np.exp(-0.5 * ((r_col - k * p.chest_wall) / 1.5) ** 2)
        rev += p.haze * 0.22 * np.exp(-r_col / 60.0)
    if p.view == "OTHER" and p.other_kind == 1:  # lung A-lines
        pl = p.other_params[-1]
        for k in (2, 3, 4, 5):
            rev += (1.2 / k) * np.exp(-0.5 * ((r_col - k * pl) / 1.5) ** 2)
    if p.view == "OTHER" and p.other_kind == 2:  # probe in air: ring-down
        rev += 1.5 * np.exp(-r_col / 8.0)
    noise_amp = np.float32(2e-4 + 2.5e-3 * p.noise)
    # PSF kernels
    dz = (p.depth_mm - cfg.start_depth_mm) / (S - 1)
    Sp, Lp = S + 16, L + 64
    fz = np.fft.fftfreq(Sp, d=dz)
    Ha = np.exp(-2 * (math.pi * cfg.axial_sigma_mm * fz) ** 2).astype(np.complex64)[:, None]
    sig = _lateral_sigma_lines(cfg, g, p.depth_mm)
    fl = np.fft.fftfreq(Lp)
    Hl = np.exp(-2 * (math.pi * sig[:, None] * fl[None, :]) ** 2).astype(np.complex64)
    amp_t, dens_t = H.TISSUE_AMPLITUDE, H.TISSUE_DENSITY
    ref_db = 20 * math.log10(3.0)
    F = p.n_frames
    polar = np.empty((F, S, L), np.uint8)
    N = cfg.image_size
    sector = np.empty((F, N, N), np.uint8)
    masks = np.zeros((F, N, N), np.uint8)
    polar_masks = np.zeros((F, S, L), np.uint8)
    px, pz = g["px"], g["pz"]
    wall = p.chest_wall
    rr = np.sqrt(px * px + pz * pz)
    wall_region = rr < wall
    inv_cell = 1.0 / cfg.table_cell_mm
    for i, st in enumerate(states):
        tissue, mu, mv = H.scene(st, px, pz, want_material=True)
        polar_masks[i] = H.SEG_OF_TISSUE[tissue]
        tissue = np.where(wall_region, np.uint8(H.T_WALL), tissue)
        blood = (tissue == H.T_LV) | (tissue == H.T_LA) | (tissue == H.T_BLOOD) | (tissue == H.T_VESSEL)
        iu = (mu * inv_cell).astype(np.int64)
        iv = (mv * inv_cell).astype(np.int64)
        iu = np.where(blood, iu + 131 * i, iu) % T  # blood speckle decorrelates every frame
        iv %= T
        sc = tab[iv, iu]
        present = utab[iv, iu] < dens_t[tissue]
        amp = amp_t[tissue] / np.sqrt(dens_t[tissue])
        refl = sc * (amp * present * shadow)
        refl += (rib_echo + rev) * tab[(iv + 37) % T, (iu + 11 * i) % T]
        # PSF: axial then depth-dependent lateral, both as exact Gaussian transfer functions (FFT)
        spec = sfft.fft(refl, n=Sp, axis=0)
        spec *= Ha
        x_ax = sfft.ifft(spec, axis=0)[:S]
        spec = sfft.fft(x_ax, n=Lp, axis=1)
        spec *= Hl
        iq = sfft.ifft(spec, axis=1)[:, :L]
        acc_re = np.ascontiguousarray(iq.real)
        acc_im = np.ascontiguousarray(iq.imag)
        iq_re = acc_re * atten[:, None]
        iq_im = acc_im * atten[:, None]
        iq_re += noise_amp * rng.standard_normal((S, L), np.float32)
        iq_im += noise_amp * rng.standard_normal((S, L), np.float32)
        env = np.sqrt(iq_re * iq_re + iq_im * iq_im) * tgc[:, None]
        db = 20 * np.log10(env + 1e-7) - ref_db - p.gain_db
        img = np.clip((db + p.dr_db) / p.dr_db, 0, 1)
        polar[i] = (img * 255 + 0.5).astype(np.uint8)
        sector[i] = cv2.remap(polar[i], g["map_col"], g["map_row"], cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if with_masks and p.view != "OTHER":
            t2, _, _ = H.scene(st, g["X"], g["Z"], want_material=False, seg_only=True)
            m = H.SEG_OF_TISSUE[t2]
            m[~g["inside"]] = 0
            masks[i] = m
    # EF by the area-length method on the sampled (displayed) frames
    area = math.pi * a * b * (1 - p.fore)
    length = 2 * b * (1 - p.fore)
    vol = H.area_length_volume(area, length) / 1000.0
    ed, es = int(np.argmax(vol)), int(np.argmin(vol))
    ef = float(100.0 * (vol[ed] - vol[es]) / vol[ed])
    geo = dict(depth_mm=p.depth_mm, angle_start=-g["half"], angle_end=g["half"], n_lines=L, n_samples=S,
               start_depth_mm=cfg.start_depth_mm, spacing_mm=g["spacing"], image_size=N,
               apex_px=[0.0, N / 2.0], screen_size=list(cfg.screen_size),
               screen_sector_origin=list(cfg.screen_sector_origin))
    axes = np.stack([a, b * (1 - p.fore)], 1)
    return Cine(params=p, polar=polar, sector=sector, masks=masks, polar_masks=polar_masks, quality=quality,
                guidance=guidance, view=VIEWS.index(p.view), ed=ed, es=es, ef=ef, volumes_ml=vol,
                lv_axes_mm=axes, spacing_mm=float(g["spacing"]), geometry=geo)


def screen_layout(cine: Cine, i: int) -> np.ndarray:
    """The sector placed in a larger screen: depth ticks every 10 mm, an ECG strip, header blocks."""
    H_, W_ = cine.geometry["screen_size"]
    r0, c0 = cine.geometry["screen_sector_origin"]
    n = cine.sector.shape[1]
    scr = np.zeros((H_, W_), np.uint8)
    scr[r0:r0 + n, c0:c0 + n] = cine.sector[i]
    sp = cine.spacing_mm
    for k in range(0, int(cine.geometry["depth_mm"]) + 1, 10):
        row = r0 + int(round(k / sp))
        if row < H_:
            scr[row, c0 + n + 6:c0 + n + (14 if k % 50 == 0 else 10)] = 200
    F = cine.sector.shape[0]
    xs = np.arange(W_ - 40)
    ph = (xs / (W_ - 40) * F - cine.ed) % max(1, F)
    ecg = np.where(np.abs(ph) < 0.3, 18.0, 3 * np.sin(2 * math.pi * ph / F))
    rows = (H_ - 30 - ecg).astype(int).clip(0, H_ - 1)
    scr[rows, xs + 20] = 180
    scr[8:20, 10:120] = 120
    scr[8:20, W_ - 130:W_ - 10] = 120
    return scr


def params_dict(p: CineParams) -> dict:
    return asdict(p)
