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
from dataclasses import asdict, dataclass, field, replace

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
    # Randomised realism (training data of the transfer models): wide ranges of geometry, anatomy and image
    # formation; strength = how far each realism parameter may move from the legacy look (simulate --difficulty
    # wide / wide_hard --strength S).
    "wide": dict(dx_sd=9.0, rot_sd=10.0, fore_max=0.3, gain_sd=7.0, dr=(40, 72), depth=(105, 200),
                 rib_p=0.4, haze_max=0.8, noise_max=0.7, motion_max=3.0, tgc_err=0.12, wide=True,
                 sector=(60.0, 100.0), strength=1.0),
    "wide_hard": dict(dx_sd=12.0, rot_sd=13.0, fore_max=0.35, gain_sd=9.0, dr=(38, 75), depth=(100, 210),
                      rib_p=0.55, haze_max=0.85, noise_max=0.85, motion_max=4.0, tgc_err=0.18, wide=True,
                      sector=(60.0, 100.0), strength=1.0),
}
# The same with varied anatomy of the other chambers (RV size, shape and wall, atria, valves; heart.AN_*), drawn
# after every other draw so a cine of "wide_anat" is its "wide" twin (same seed) with other chambers.
DIFFICULTY["wide_anat"] = dict(DIFFICULTY["wide"], anatomy=1.0)
DIFFICULTY["wide_anat_hard"] = dict(DIFFICULTY["wide_hard"], anatomy=1.0)
# The same with the RV's width against the LV's (heart.AN_RV_W) drawn from 0.4-0.8 instead of 0.45-1.1: a normal RV
# looks smaller than the LV in the apical four-chamber view, usually no more than two thirds of it, and one as large
# as the LV is dilated (Rudski et al., J Am Soc Echocardiogr 2010;23:685-713), while "wide" keeps 0.75 and
# "wide_anat" draws a mean of 0.78 (a quarter of its cines 0.94 or more). From the
# same uniform draw, so a "wide_rv" cine is its "wide_anat" twin with a narrower RV (twelfth wave, RESULTS.md).
DIFFICULTY["wide_rv"] = dict(DIFFICULTY["wide_anat"], anatomy_ranges={H.AN_RV_W: (0.4, 0.8)})
DIFFICULTY["wide_rv_hard"] = dict(DIFFICULTY["wide_anat_hard"], anatomy_ranges={H.AN_RV_W: (0.4, 0.8)})
# The same with the LA joined to the LV at the mitral annulus in a share `mitral` of the apical cines (heart.FrameState
# .la_join), drawn from a stream of its own so every other parameter is the "wide_anat" twin's.
DIFFICULTY["wide_mitral"] = dict(DIFFICULTY["wide_anat"], mitral=0.7)
DIFFICULTY["wide_mitral_hard"] = dict(DIFFICULTY["wide_anat_hard"], mitral=0.7)
# The same with leaflets that move off the annulus line in the joined cines: systolic tenting 0-8 mm into the LV,
# open leaflets 10-22 mm long lying into the LV in diastole (heart._mitral_leaflets), drawn after la_join from its
# stream, so a "wide_valve" cine is its "wide_mitral" twin with other leaflets.
DIFFICULTY["wide_valve"] = dict(DIFFICULTY["wide_mitral"], leaflets=True)
DIFFICULTY["wide_valve_hard"] = dict(DIFFICULTY["wide_mitral_hard"], leaflets=True)
# The same with the mitral valve's timing from the cardiac phase (heart.mitral_closed_at): shut at end-diastole and
# through systole and isovolumic relaxation, open while the LV fills. Before (and in the difficulties above) it was
# shut only while the contraction state s > 0.4, so open at end-diastole and in early systole, which a real valve is
# not. Nothing is drawn for it: a "wide_valve_t" cine is its "wide_valve" twin but for the frames where the two
# rules differ.
DIFFICULTY["wide_valve_t"] = dict(DIFFICULTY["wide_valve"], valve_timing=True)
DIFFICULTY["wide_valve_t_hard"] = dict(DIFFICULTY["wide_valve_hard"], valve_timing=True)
# The same as "wide_anat" with the apical wall of a share of the apical cines drawn thicker (CineParams.apex_wall)
# whatever their foreshortening: (share, (lo, hi)). Until now only a foreshortened view had a thick apex (1 + 3 f,
# up to 2x), so a thick apex alone told the model "foreshortened"; a real apex often looks thick and bright without
# being foreshortened (near-field clutter and reverberation over it, apical trabeculation: Lediju et al. 2008), and a
# foreshortened one is told by the LV's length. Drawn from a stream of its own, so a "wide_apex" cine is its
# "wide_anat" twin with another apex (thirteenth wave, RESULTS.md).
DIFFICULTY["wide_apex"] = dict(DIFFICULTY["wide_anat"], apex_wall=(0.6, (0.3, 1.2)))
DIFFICULTY["wide_apex_hard"] = dict(DIFFICULTY["wide_anat_hard"], apex_wall=(0.6, (0.3, 1.2)))
# The same as "wide_valve" with papillary muscles in a share of the apical cines (CineParams.papillary, heart.
# _papillary): myocardium-bright masses standing on the lateral wall (A4C; a second on the septal side in 30% of them)
# or on either wall (A2C), mid-cavity, labelled LV as the chamber guidelines trace them. Until now only PSAX had
# them, so in apical views anything bright inside the cavity was wall to the LV model. Drawn from a stream of their
# own, so a "wide_pap" cine is its "wide_valve" twin with papillary muscles (fourteenth wave, RESULTS.md).
DIFFICULTY["wide_pap"] = dict(DIFFICULTY["wide_valve"], papillary=0.8)
DIFFICULTY["wide_pap_hard"] = dict(DIFFICULTY["wide_valve_hard"], papillary=0.8)
# "wide" without the scanner's frame averaging (CineParams.persistence 0 on every cine, where "wide" draws
# U(0, 0.6) on half of them): echocardiography presets keep persistence low or off, because averaging frames blurs
# the moving walls. Set after every draw, so a "wide_nopersist" cine is its "wide" twin in every other value
# (twenty-second wave, RESULTS.md: what the EF calibration owes to frame averaging).
DIFFICULTY["wide_nopersist"] = dict(DIFFICULTY["wide"], persistence_scale=0.0)
DIFFICULTY["wide_nopersist_hard"] = dict(DIFFICULTY["wide_hard"], persistence_scale=0.0)
# "wide" whose beats have the isovolumic phases of a real one (CineParams.isovolumic, heart.contraction): the volume
# stays at end-diastole through isovolumic contraction and at end-systole through isovolumic relaxation, where the
# legacy curve turns at both at once. Drawn from a stream of their own after every other draw, so a "wide_iv" cine is
# its "wide" twin with the beat's timing changed and nothing else (twenty-third wave, RESULTS.md).
DIFFICULTY["wide_iv"] = dict(DIFFICULTY["wide"], isovolumic=True)
DIFFICULTY["wide_iv_hard"] = dict(DIFFICULTY["wide_hard"], isovolumic=True)
DIFFICULTY["wide_nopersist_iv"] = dict(DIFFICULTY["wide_nopersist"], isovolumic=True)
DIFFICULTY["wide_nopersist_iv_hard"] = dict(DIFFICULTY["wide_nopersist_hard"], isovolumic=True)
# Shares of the cardiac cycle of the isovolumic phases: contraction 30-60 ms and relaxation 60-100 ms in adults
# (Nagueh et al., J Am Soc Echocardiogr 2016;29:277-314 for the relaxation time) at 60-100 beats a minute
ISOVOLUMIC_CONTRACTION = (0.03, 0.07)
ISOVOLUMIC_RELAXATION = (0.06, 0.12)
WIDE_IMAGE_SIZE = 160  # sector images of "wide" cines: square pixels, the whole sector, apex at the top centre


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
    # Randomised realism ("wide" difficulties; the defaults reproduce the legacy simulator exactly): sector angle,
    # PSF size and side-lobe level, attenuation, scatterer cell size, per-tissue amplitude factors, specular
    # interface echoes, blood-pool clutter, temporal persistence, LV shape (heart.lv_profile), trabeculation,
    # lung beside the heart, and the trabeculae's pattern phases.
    sector_deg: float = 75.0
    psf_scale: float = 1.0
    sidelobe: float = 0.0
    atten: float = 0.5
    cell_mm: float = 0.35
    amp_scale: list = field(default_factory=list)
    specular: float = 0.0
    clutter: float = 0.0
    persistence: float = 0.0
    shape: list = field(default_factory=list)
    trab: float = 0.0
    lung: float = 0.0
    pattern: list = field(default_factory=list)
    image_size: int = 0  # 0: ImagingConfig.image_size
    hetero: float = 0.0  # tissue heterogeneity: sd of a smooth log-amplitude field over the image
    anatomy: list = field(default_factory=list)  # varied anatomy of the other chambers (heart.AN_*); empty: fixed
    la_join: float = 0.0  # 1: the LA joined to the LV at the mitral annulus (heart.FrameState.la_join)
    # degrees the whole heart is turned about a point 40 mm down its long axis, that point placed mid-sector, inside
    # the scene (the image formation, near field and depth effects stay the probe's): a heart the probe shows turned,
    # not a finished image turned
    turn_deg: float = 0.0
    leaflets: list = field(default_factory=list)  # joined: (tent, open_len) mm (heart._mitral_leaflets); empty: as before
    valve_timing: float = 0.0  # 1: the mitral valve shut or open by the cardiac phase (heart.mitral_closed_at); 0: by s
    # the apical wall drawn thicker by this fraction whatever the foreshortening (which thickens it by 3 f as before):
    # a thick-looking apex of a view that is not foreshortened (DIFFICULTY's apex_wall); 0: as before
    apex_wall: float = 0.0
    # papillary muscles of an apical view: [(side, level, half-width mm, half-length mm, tilt rad), ...]
    # (heart.FrameState.papillary); empty: none, as before
    papillary: list = field(default_factory=list)
    # [ivc, ivr]: shares of the cycle of isovolumic contraction and relaxation (heart.contraction; DIFFICULTY's
    # isovolumic); empty: none, the legacy beat
    isovolumic: list = field(default_factory=list)


def sample_cine_params(seed: int, view: str | None = None, n_frames: int = 16, difficulty: str = "train",
                       strength: float | None = None) -> CineParams:
    """strength (wide difficulties): how far the realism parameters may move from the legacy look, 0..1 and
    beyond (default the difficulty's, 1)."""
    rng = np.random.default_rng([seed, 7919])
    d = DIFFICULTY[difficulty]
    if strength is not None:
        if not d.get("wide"):
            raise ValueError(f"Expected a wide difficulty for a randomisation strength but received {difficulty!r}")
        d = {**d, "strength": float(strength)}
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
    p = CineParams(
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
        **({"other_kind": other_kind, "other_params": other_params} | (_wide_params(rng, view, d) if d.get("wide")
                                                                       else {})),
    )
    if d.get("anatomy"):
        p.anatomy = _anatomy_params(rng, float(d["anatomy"]), d.get("anatomy_ranges"))
    if d.get("mitral") and view in ("A4C", "A2C"):
        r = np.random.default_rng([seed, 7927])
        p.la_join = float(r.random() < float(d["mitral"]))
        tent, open_len = float(r.uniform(0.0, 8.0)), float(r.uniform(10.0, 22.0))
        if d.get("leaflets") and p.la_join:
            p.leaflets = [tent, open_len]
    if d.get("valve_timing"):
        p.valve_timing = 1.0
    if d.get("apex_wall") and view in ("A4C", "A2C"):
        share, (lo, hi) = d["apex_wall"]
        r = np.random.default_rng([seed, 7933])
        on, k = r.random() < share, float(r.uniform(lo, hi))
        p.apex_wall = k if on else 0.0
    if d.get("papillary") and view in ("A4C", "A2C"):
        p.papillary = _papillary_params(np.random.default_rng([seed, 7937]), view, float(d["papillary"]))
    if "persistence_scale" in d:
        p.persistence *= float(d["persistence_scale"])
    if d.get("isovolumic"):
        r = np.random.default_rng([seed, 7949])
        p.isovolumic = [float(r.uniform(*ISOVOLUMIC_CONTRACTION)), float(r.uniform(*ISOVOLUMIC_RELAXATION))]
    return p


def _papillary_params(r, view: str, share: float) -> list:
    """The papillary muscles of one apical cine (CineParams.papillary): none with probability 1 - share; else A4C the
    lateral one and, in 30%, a smaller one on the septal side; A2C each wall's with probability 0.7, at least one.
    A fixed number of draws, so the choice of one muscle does not move another's values."""
    on = r.random() < share
    draws = [(float(r.random()), float(r.uniform(0.35, 0.6)), float(r.uniform(3.5, 5.5)), float(r.uniform(7, 11)),
              float(r.uniform(0.1, 0.4))) for _ in range(2)]
    if not on:
        return []
    if view == "A4C":
        keep = [(1.0, *draws[0][1:])]
        if draws[1][0] < 0.3:
            keep.append((-1.0, draws[1][1], 0.8 * draws[1][2], 0.8 * draws[1][3], draws[1][4]))
        return [list(m) for m in keep]
    sides = [side for side, d in zip((1.0, -1.0), draws) if d[0] < 0.7] or [1.0]
    return [[side, *draws[0 if side > 0 else 1][1:]] for side in sides]


def _anatomy_params(rng, k: float, ranges_over: dict | None = None) -> list:
    """The varied anatomy (heart.AN_*): every value drawn for every view (a fixed number of draws), each range shrunk
    towards the fixed chambers' value by k; the optional structures appear with probability proportional to k.
    ranges_over: other ranges for some of the drawn values (heart.AN_* index -> (lo, hi)), drawn in their place."""
    legacy = H.ANATOMY_LEGACY
    ranges = {H.AN_RV_W: (0.45, 1.1), H.AN_RV_LEN: (0.55, 0.95), H.AN_RV_P: (0.5, 1.6), H.AN_RV_WALL: (1.5, 5.0),
              H.AN_LA_U: (12.0, 23.0), H.AN_LA_V: (14.0, 27.0), H.AN_RA_U: (10.0, 22.0), H.AN_RA_V: (12.0, 25.0),
              H.AN_PLAX_RV: (7.0, 16.0), H.AN_AO: (8.5, 14.0), H.AN_PSAX_RV: (0.7, 1.35)} | (ranges_over or {})
    optional = {H.AN_MB: (0.5, (0.25, 0.5)), H.AN_TV_OFF: (1.0, (0.0, 10.0)), H.AN_IAS_GAP: (0.35, (1.0, 1.0)),
                H.AN_LAA: (0.4, (4.0, 8.0)), H.AN_CS: (0.4, (3.0, 5.5))}
    out = list(legacy)
    for i in range(H.N_ANATOMY):
        if i in ranges:
            out[i] = float(legacy[i] + (rng.uniform(*ranges[i]) - legacy[i]) * k)
        else:
            prob, rg = optional[i]
            on, val = rng.random() < prob * k, float(rng.uniform(*rg))
            out[i] = val if on else 0.0
    return out


def _wide_params(rng, view: str, d: dict) -> dict:
    """The realism parameters of a "wide" cine, drawn after (so without changing) the legacy draws."""
    k = float(d.get("strength", 1.0))

    def jit(lo, hi, mid):  # a range shrunk towards the legacy value mid by the strength
        return float(mid + (rng.uniform(lo, hi) - mid) * k)
    amp = np.exp(rng.normal(0, 0.35 * k, 18))
    amp[12] = np.exp(rng.uniform(-1.5, 1.0) * k)  # lung: from black to grey
    amp[0] = np.exp(rng.uniform(-2.6, 0.4) * k)  # tissue around the heart: mostly dark (fat, lung), up to bright
    amp[1] = amp[3] = amp[4] = np.exp(rng.uniform(-0.8, 1.3) * k)  # blood-pool echo (clutter, harmonics off/on)
    amp[5] = np.exp(rng.uniform(-2.2, 0.1) * k)  # filler between the chambers (fat, AV groove): often dim
    shape = [float(rng.uniform(0.42, 0.68)), float(rng.uniform(0.55, 1.05)), float(rng.uniform(0.55, 0.85)),
             float(rng.uniform(-0.12, 0.12)), float(rng.normal(0, 0.04)), float(rng.normal(0, 0.03)),
             float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0, 2 * math.pi))]
    lo, hi = d["sector"]
    return dict(
        sector_deg=jit(lo, hi, 75.0), psf_scale=float(np.exp(rng.uniform(-0.35, 0.55) * k)),
        sidelobe=float(rng.uniform(0, 0.12) * k), atten=jit(0.3, 0.8, 0.5), cell_mm=jit(0.22, 0.5, 0.35),
        amp_scale=[float(v) for v in amp], specular=float(rng.uniform(0, 1.0) * k),
        clutter=float(rng.uniform(0, 1.0) * k) if rng.random() < 0.6 else 0.0,
        persistence=float(rng.uniform(0, 0.6) * k) if rng.random() < 0.5 else 0.0,
        shape=shape if view != "PSAX" else [], trab=float(rng.uniform(0, 1.0) * k) if rng.random() < 0.6 else 0.0,
        lung=float(rng.uniform(28, 55)) if (view in ("A4C", "A2C") and rng.random() < 0.6) else 0.0,
        pattern=[float(v) for v in rng.uniform(0, 2 * math.pi, 3)], image_size=WIDE_IMAGE_SIZE,
        hetero=float(rng.uniform(0, 0.6) * k), **_wide_other(rng, view))


def _wide_other(rng, view: str) -> dict:
    """OTHER views of wide cines: also non-cardiac scenes (kinds 3-6: lymph nodes, fluid, vessels in muscle,
    parenchyma), with inclusions (x, z, half-axes mm) and the depth of the tissue below the superficial layer."""
    if view != "OTHER" or rng.random() < 0.4:
        return {}
    kind = int(rng.integers(3, 7))
    params = []
    for _ in range(int(rng.integers(1, 5))):
        params += [float(rng.uniform(-45, 45)), float(rng.uniform(15, 110)), float(rng.uniform(4, 25)),
                   float(rng.uniform(3, 16))]
    params.append(float(rng.uniform(8, 40)))
    return dict(other_kind=kind, other_params=params)


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
    quality_geom: np.ndarray | None = None  # wide cines: the geometric part of the quality label [F]
    wall_vis: np.ndarray | None = None  # wide cines: wall visibility of each frame as simulated [F]

    def screen(self, i: int) -> np.ndarray:
        return screen_layout(self, i)


def _frame_states(p: CineParams, rng):
    F = p.n_frames
    phase = p.phase0 + np.arange(F) / p.cycle_frames
    ivc, ivr = p.isovolumic or (0.0, 0.0)
    s = H.contraction(phase, ivc, ivr)
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
    if p.turn_deg:
        # turned about a point 40 mm down the axis, that point then placed mid-sector (at half the depth, on the
        # probe's axis), so that the whole turned heart stays in view as a probe would show it
        t = math.radians(p.turn_deg)
        phi0 += t
        cx, cz = 0.0, 0.5 * p.depth_mm
        apex0 = (cx - 40.0 * math.sin(phi0), cz - 40.0 * math.cos(phi0))
    c, sn = math.cos(-rot), math.sin(-rot)
    ax = c * apex0[0] + sn * apex0[1] - p.dx
    az = -sn * apex0[0] + c * apex0[1]
    states = []
    for i in range(F):
        fb = b[i] * (1 - p.fore)
        states.append(H.FrameState(
            view=p.view, a=float(a[i]) if p.view != "PSAX" else float(a[i]) * 0.92, b=float(fb),
            a_ed=p.a_ed if p.view != "PSAX" else p.a_ed * 0.92, b_ed=p.b_ed * (1 - p.fore), s=float(s[i]),
            wall=p.wall * (1 + 0.45 * s[i]), apex_thick=p.wall * (1 + 0.45 * s[i]) * (1 + 3 * p.fore) * (1 + p.apex_wall),
            apex=(ax + walk[i, 0], az + walk[i, 1]), phi=phi0 - rot, other_kind=p.other_kind,
            other_params=tuple(p.other_params), chest_wall=p.chest_wall, shape=tuple(p.shape), trab=p.trab,
            lung=p.lung, pattern=tuple(p.pattern) if p.pattern else (0.0, 0.0, 0.0), anatomy=tuple(p.anatomy),
            la_join=p.la_join, leaflets=tuple(p.leaflets),
            mv_closed=H.mitral_closed_at(float(phase[i]), ivr) if p.valve_timing else None,
            papillary=tuple(tuple(m) for m in p.papillary)))
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


def is_wide(p: CineParams) -> bool:
    """Whether the cine uses the randomised realism parameters (difficulty "wide" / "wide_hard")."""
    return bool(p.amp_scale)


def wide_config(p: CineParams, cfg: ImagingConfig) -> ImagingConfig:
    """The imaging configuration of a wide cine: its sector angle (scan lines in proportion), PSF size, scatterer cell
    and attenuation, and the square sector image of WIDE_IMAGE_SIZE pixels."""
    return replace(cfg, sector_deg=p.sector_deg, n_lines=int(round(cfg.n_lines * p.sector_deg / 75.0)),
                   axial_sigma_mm=cfg.axial_sigma_mm * p.psf_scale, beam_w0_mm=cfg.beam_w0_mm * p.psf_scale,
                   table_cell_mm=p.cell_mm, atten_db_cm_mhz=p.atten, image_size=p.image_size or cfg.image_size)


def sector_box(geo: dict) -> list:
    """The sector's bounding box [x, y, width, height] in pixels of the sector image (apex at the top centre)."""
    half, sp, n = -geo["angle_start"], geo["spacing_mm"], geo["image_size"]
    w = 2 * geo["depth_mm"] * math.sin(min(half, math.pi / 2)) / sp
    h = geo["depth_mm"] / sp
    x0 = max(0.0, n / 2 - w / 2)
    return [x0, 0.0, min(float(n), n / 2 + w / 2) - x0, min(float(n), h)]


# Wall visibility (the image part of the quality label of wide cines): the LV border split into N_WALL_SEGMENTS
# angular segments about the LV centroid; a segment's visibility rises linearly with the contrast between its
# myocardium and the cavity beside it (0 at 0.03, 1 at 0.15 of the display range: real scanners display myocardium
# at a fifth to a third of the range over a near-black cavity) and falls when the myocardium is black or the cavity
# washed out. Thresholds on display values in [0, 1]; documented in training/SIMULATOR.md.
N_WALL_SEGMENTS = 12
VIS_CONTRAST_LO, VIS_CONTRAST_HI = 0.03, 0.15
VIS_MYO_MIN, VIS_CAV_MAX = 0.08, 0.50


def wall_segments(labels: np.ndarray):
    """The LV wall's segments as wall_visibility reads them (labels 0 bg / 1 LV / 2 myocardium / 3 LA, uint8 [H, W]):
    (myocardium, cavity) boolean masks [H, W] per angular segment about the LV centroid that shows at least 3
    myocardium pixels within 4 px outside the LV and 2 cavity pixels within 2 px inside it; none without an LV of at
    least 12 pixels."""
    lv = (labels == 1).astype(np.uint8)
    if int(lv.sum()) < 12:
        return []
    h, w = lv.shape
    k3 = np.ones((3, 3), np.uint8)
    inner = lv & (1 - cv2.erode(lv, k3, iterations=2))
    d1 = cv2.dilate(lv, k3, iterations=1)
    d4 = cv2.dilate(lv, k3, iterations=4)
    outer = (d4 & (1 - d1)).astype(bool) & (labels == 2)
    yy, xx = np.nonzero(lv)
    cy, cx = yy.mean(), xx.mean()
    Y, X = np.mgrid[0:h, 0:w]
    seg = ((np.arctan2(Y - cy, X - cx) + math.pi) / (2 * math.pi) * N_WALL_SEGMENTS).astype(int) % N_WALL_SEGMENTS
    inner = inner.astype(bool)
    out = []
    for k in range(N_WALL_SEGMENTS):
        o = outer & (seg == k)
        i = inner & (seg == k)
        if o.sum() >= 3 and i.sum() >= 2:
            out.append((o, i))
    return out


def wall_visibility(img01: np.ndarray, labels: np.ndarray) -> float:
    """Fraction (0..1) of the LV wall's segments a reader can see in one frame (float [H, W] in [0, 1], labels
    0 bg / 1 LV / 2 myocardium / 3 LA at the same size). 0 without an LV of at least 12 pixels."""
    segments = wall_segments(labels)
    if not segments:
        return 0.0
    vis = 0.0
    for o, i in segments:
        mo, mi = float(img01[o].mean()), float(img01[i].mean())
        vis += _ramp(mo - mi, VIS_CONTRAST_LO, VIS_CONTRAST_HI) * _sig((mo - VIS_MYO_MIN) / 0.02) \
            * _sig((VIS_CAV_MAX - mi) / 0.06)
    return vis / max(len(segments), 8)  # a wall of which under 8 segments show counts the missing ones as unseen


def _ramp(x, lo, hi):
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


def _sig(x):
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def quality_from_parts(q_geom, vis):
    """The quality label of a wide cine's frame: the geometric part (pose, foreshortening, walls inside the sector,
    depth, motion) times the image part (wall visibility); 0.1 of the geometric part survives invisible walls."""
    return np.clip(np.asarray(q_geom, np.float32) * (0.1 + 0.9 * np.asarray(vis, np.float32)), 0, 1)


def _depth_factor(r_bottom: float) -> float:
    """Depth setting: the deepest LV point at r_bottom of the depth; best 0.38-0.72 (the atria fit below)."""
    return float(min(1.0, max(0.3, 1 - 3 * max(0.0, r_bottom - 0.72) - 2 * max(0.0, 0.38 - r_bottom))))


def simulate_cine(p: CineParams, cfg: ImagingConfig | None = None, with_masks: bool = True) -> Cine:
    cfg = cfg or ImagingConfig()
    wide = is_wide(p)
    if wide:
        cfg = wide_config(p, cfg)
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
    Hl = np.exp(-2 * (math.pi * sig[:, None] * fl[None, :]) ** 2)
    if p.sidelobe > 0:  # a weaker lobe three times as wide: side-lobe clutter across the beam
        Hl = (1 - p.sidelobe) * Hl + p.sidelobe * np.exp(-2 * (math.pi * 3 * sig[:, None] * fl[None, :]) ** 2)
    Hl = Hl.astype(np.complex64)
    amp_t, dens_t = H.TISSUE_AMPLITUDE, H.TISSUE_DENSITY
    if wide:
        amp_t = (amp_t * np.asarray(p.amp_scale, np.float32)).astype(np.float32)
    q_geom = np.zeros(p.n_frames, np.float32)
    vis = np.zeros(p.n_frames, np.float32)
    prev_img = None
    hetero = None
    if wide and p.hetero > 0:  # a smooth log-normal amplitude field (patchy tissue echo), fixed over the cine
        f = cv2.GaussianBlur(rng.standard_normal((S, L)).astype(np.float32), (0, 0), sigmaX=4, sigmaY=10)
        hetero = np.exp(p.hetero * f / max(1e-6, float(f.std()))).astype(np.float32)
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
        if wide and p.clutter > 0:  # near-field clutter over the blood pools (strongest near the probe)
            amp = amp + blood * np.float32(p.clutter * 0.12) * np.exp(-r_col / 45.0).astype(np.float32)
        if hetero is not None:
            amp = amp * hetero
        refl = sc * (amp * present * shadow)
        refl += (rib_echo + rev) * tab[(iv + 37) % T, (iu + 11 * i) % T]
        if wide and p.specular > 0:
            # specular interfaces: an impedance step crossed along the beam (a jump of the mean amplitude down a scan
            # line) echoes coherently; walls parallel to the beam (the septum in A4C) stay dim
            la = np.log(amp_t[tissue] + 0.02)
            step = np.zeros_like(la)
            step[1:-1] = np.abs(la[2:] - la[:-2]) * 0.5
            step = cv2.GaussianBlur(step, (1, 5), 0, sigmaY=1.2)
            refl += (p.specular * 0.35 * np.minimum(step, 3.0) * shadow) * tab[(iv + 91) % T, (iu + 53) % T]
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
        if wide and p.persistence > 0 and prev_img is not None:  # the scanner's frame averaging
            img = (1 - p.persistence) * img + p.persistence * prev_img
        prev_img = img
        polar[i] = (img * 255 + 0.5).astype(np.uint8)
        sector[i] = cv2.remap(polar[i], g["map_col"], g["map_row"], cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if with_masks and p.view != "OTHER":
            t2, _, _ = H.scene(st, g["X"], g["Z"], want_material=False, seg_only=True)
            m = H.SEG_OF_TISSUE[t2]
            if wide:
                q_geom[i] = _geometric_quality(p, m, g, disp[i])
            m[~g["inside"]] = 0
            masks[i] = m
            if wide:
                vis[i] = wall_visibility(sector[i].astype(np.float32) / 255.0, m)
    # EF by the area-length method on the sampled (displayed) frames
    area = H.lv_area_factor(p.shape) * a * 2 * b * (1 - p.fore)
    length = 2 * b * (1 - p.fore)
    vol = H.area_length_volume(area, length) / 1000.0
    ed, es = int(np.argmax(vol)), int(np.argmin(vol))
    ef = float(100.0 * (vol[ed] - vol[es]) / vol[ed])
    geo = dict(depth_mm=p.depth_mm, angle_start=-g["half"], angle_end=g["half"], n_lines=L, n_samples=S,
               start_depth_mm=cfg.start_depth_mm, spacing_mm=g["spacing"], image_size=N,
               apex_px=[0.0, N / 2.0], screen_size=list(cfg.screen_size),
               screen_sector_origin=list(cfg.screen_sector_origin))
    axes = np.stack([a, b * (1 - p.fore)], 1)
    if wide:
        quality = quality_from_parts(q_geom, vis) if p.view != "OTHER" else np.zeros(p.n_frames, np.float32)
        geo["sector_box"] = sector_box(geo)
    return Cine(params=p, polar=polar, sector=sector, masks=masks, polar_masks=polar_masks, quality=quality,
                guidance=guidance, view=VIEWS.index(p.view), ed=ed, es=es, ef=ef, volumes_ml=vol,
                lv_axes_mm=axes, spacing_mm=float(g["spacing"]), geometry=geo,
                quality_geom=q_geom if wide else None, wall_vis=vis if wide else None)


def _geometric_quality(p: CineParams, labels_full: np.ndarray, g: dict, disp_mm: float) -> float:
    """The geometric part of a wide cine's quality label for one frame: probe pose (off-axis offset and rotation),
    foreshortening, the fraction of the LV border inside the sector (walls cut off by the sector edge or the depth
    are missing walls), the depth setting, near-field clutter (haze) and motion blur. labels_full: the frame's labels
    before the sector clip."""
    lv = (labels_full == 1).astype(np.uint8)
    if lv.sum() < 12:
        return 0.0
    border = lv & (1 - cv2.erode(lv, np.ones((3, 3), np.uint8)))
    inside = g["inside"][border.astype(bool)]
    frac_in = float(inside.mean()) if inside.size else 0.0
    z_bottom = float(g["Z"][lv.astype(bool)].max()) / p.depth_mm
    q = float(quality_pose_factor(p.dx, p.rot_deg)) * max(0.0, 1 - 1.5 * p.fore)
    q *= min(1.0, max(0.0, (frac_in - 0.55) / 0.4)) * _depth_factor(z_bottom)
    # near-field clutter over the apex, which the wall contrast sees only in part (it fills the apical cavity)
    q *= 1 - 0.3 * p.haze
    return q * (1 - 0.3 * min(1.0, disp_mm / 6.0))


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
