"""One cine from a seed, and a whole dataset on disk (index.json + one cine_XXXXX.npz per cine)."""
from __future__ import annotations

import io
import json
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .echo import Imager, Settings
from .errors import PhantomError
from .heart import DEG, Heart, sample_heart
from .labels import APICAL, CARDIAC_VIEWS, FORMAT, SCENES, SEG_LABELS, VARIANTS, VIEWS
from .measure import area_length, cine_ef
from .probe import Probe, ScanConverter, make_layout, sector_mask
from .scenes import Chest, HeartScene, PlaneScene
from .views import pose_for

GOLDEN = 0.6180339887498949
VERSION = 1


@dataclass
class Cine:
    frames: np.ndarray        # uint8 [F, H, W]
    masks: np.ndarray         # uint8 [F, H, W]
    meta: dict                # the index entry, without id and file
    volume_3d: np.ndarray     # ml per frame (NaN when there is no heart)
    volume_al: np.ndarray     # area-length ml per frame (NaN unless apical with a measurable cavity)


def _settings(rng, variant, chest_depth):
    kw = dict(dynamic_range=rng.uniform(52, 62), ref_grey=rng.uniform(0.48, 0.56), gamma=rng.uniform(1.0, 1.3),
              noise_db=rng.uniform(-34, -24), clutter_db=rng.uniform(-12, -5), clutter_depth=rng.uniform(7, 14),
              reverb_depth=chest_depth if rng.random() < 0.5 else 0.0, tgc_alpha=rng.uniform(0.4, 0.5),
              tgc_wiggle=tuple(float(v) for v in rng.normal(0, 1.2, 4)), gain_db=float(rng.normal(0, 1.5)))
    if variant == "noisy":
        kw["noise_db"] = rng.uniform(-4, 6)
        kw["clutter_db"] += rng.uniform(3, 7)
    elif variant == "gain_low":
        kw["gain_db"] = -rng.uniform(12, 20)
    elif variant == "gain_high":
        kw["gain_db"] = rng.uniform(10, 16)
    return Settings(**kw)


def _noncardiac_probe(rng, scene):
    if scene in ("lymph_node", "muscle"):
        f0 = rng.uniform(5, 8)
        depth = rng.uniform(30, 45) if scene == "lymph_node" else rng.uniform(35, 60)
        return Probe("linear", f0, depth, width=rng.uniform(38, 50), aperture=rng.uniform(7, 10),
                     focus=depth * 0.5, cycles=rng.uniform(1.8, 2.4))
    curved = rng.random() < 0.7
    f0 = rng.uniform(2.5, 4.5)
    depth = rng.uniform(120, 180) if scene in ("liver", "kidney") else rng.uniform(100, 150)
    if curved:
        return Probe("curved", f0, depth, half_angle=rng.uniform(30, 37.5) * DEG, radius=rng.uniform(40, 60),
                     aperture=rng.uniform(24, 32), focus=depth * rng.uniform(0.45, 0.65), cycles=rng.uniform(1.8, 2.4))
    return Probe("phased", f0, depth, half_angle=rng.uniform(30, 42) * DEG, aperture=rng.uniform(16, 20),
                 focus=depth * rng.uniform(0.45, 0.65), cycles=rng.uniform(1.8, 2.4))


def _cardiac_depth(rng, view, heart, chest):
    p = heart.p
    if view in APICAL:
        need = chest + 12 + p.apex_wall + p.length + p.la_height + p.la_r[2]
        return float(np.clip(need + rng.uniform(0, 25), 120, 200))
    return float(rng.uniform(140, 180) if view == "PLAX" else rng.uniform(120, 165))


def _check_masks(masks, view, sector):
    """A usable positive: the LV cavity in every frame, clear of the sector edge (PLAX: the apex may leave the
    sector, as it usually does); apical views need a measurable area-length volume in every frame."""
    edge = sector & ~_erode(sector, 2)
    for m in masks:
        cav = m == 1
        if cav.sum() < 30 or (view != "PLAX" and (cav & edge).any()):
            return False
        if view in APICAL and area_length(m, (1.0, 1.0)) is None:
            return False
    return True


def _erode(mask, n):
    out = mask.copy()
    for _ in range(n):
        e = out.copy()
        e[1:, :] &= out[:-1, :]
        e[:-1, :] &= out[1:, :]
        e[:, 1:] &= out[:, :-1]
        e[:, :-1] &= out[:, 1:]
        out = e
    return out


def generate_cine(seed: int, view: str, variant: str, n_frames: int = 16, size=(256, 256), ef: float | None = None,
                  anisotropic: bool = False, scene: str | None = None, images: bool = True,
                  fps: float | None = None) -> Cine:
    """One cine. view: one of A4C, A2C, PLAX, PSAX (ignored for noncardiac); ef: target EF fraction of the heart
    model (drawn in 0.20..0.75 when None); images=False skips image formation (masks and geometry only); fps: a
    fixed frame rate, so that n_frames / fps seconds hold as many beats as they do (None: the cine spans 1.05-1.35
    beats, the frame rate follows). The random draws are the same either way: a cine with fps differs from its
    twin without only in its times."""
    rng = np.random.default_rng(seed)
    size = (int(size[0]), int(size[1]))
    labelled = variant not in ("rotated", "flipped", "noncardiac")
    heart_scene = None
    if variant == "noncardiac":
        scene = scene or SCENES[int(rng.integers(len(SCENES)))]
        probe = _noncardiac_probe(rng, scene)
        fps_drawn = float(rng.uniform(15, 40))
        fps = fps_drawn if fps is None else float(fps)
        times = np.arange(n_frames) / fps
        sc = PlaneScene(scene, rng, probe, times)
        heart_rate = None
        settings = _settings(rng, "clean", 0.0)
        layout = make_layout(probe, size, 4 / 3 if anisotropic else None)
        sector = sector_mask(probe, layout)
        masks = np.zeros((n_frames, size[0], size[1]), np.uint8)
    else:
        heart_rate = float(rng.uniform(50, 110))
        ef = float(rng.uniform(0.2, 0.75)) if ef is None else float(ef)
        heart = Heart(sample_heart(rng, ef, heart_rate))
        period = 60.0 / heart_rate
        fps_drawn = float(np.clip(n_frames / (period * rng.uniform(1.05, 1.35)), 8.0, 90.0))
        fps = fps_drawn if fps is None else float(fps)
        times = rng.uniform(0, period) + np.arange(n_frames) / fps
        chest_depth = rng.uniform(14, 26) if view in APICAL else rng.uniform(12, 22)
        depth = _cardiac_depth(rng, view, heart, chest_depth)
        probe = Probe("phased", float(rng.uniform(1.8, 3.2)), depth, half_angle=float(rng.uniform(30, 45) * DEG),
                      aperture=float(rng.uniform(16, 20)), focus=float(depth * rng.uniform(0.4, 0.6)),
                      cycles=float(rng.uniform(1.8, 2.6)))
        rib = None
        if variant == "shadow":
            th = rng.choice([-1, 1]) * rng.uniform(0.05, 0.6) * probe.half_angle
            rr = chest_depth * rng.uniform(0.7, 0.9)
            rib = (rr * np.sin(th), rr * np.cos(th), rng.uniform(3, 4.5), rng.uniform(2.5, 3.5))
        chest = Chest.sample(rng, chest_depth, rib)
        settings = _settings(rng, variant, chest_depth)
        layout = make_layout(probe, size, 4 / 3 if anisotropic else None)
        sector = sector_mask(probe, layout)
        X, Z = layout.pixel_centres()
        for _ in range(16):  # poses are redrawn until the positive is usable
            pose = pose_for(rng, view, variant, heart, chest_depth, depth)
            sc = HeartScene(heart, pose, probe, chest, times, labelled=True, lung=variant != "rotated")
            masks = np.stack([sc.labels(X, Z, k) for k in range(n_frames)]) * sector
            if not labelled or _check_masks(masks, view, sector):
                break
        sc.labelled = labelled
        heart_scene = sc
        masks = (masks if labelled else np.zeros_like(masks)).astype(np.uint8)
    frames = np.zeros((n_frames, size[0], size[1]), np.uint8)
    if images:
        frames = _render(sc, probe, layout, settings, rng, n_frames)
    # orientation negatives: the whole frame mirrored or upside down
    flip = "none"
    if variant == "flipped":
        flip = str(rng.choice(["lr", "ud"])) if view in ("A4C", "PLAX") else "ud"
        ax = 2 if flip == "lr" else 1
        frames, masks, sector = np.flip(frames, ax).copy(), np.flip(masks, ax).copy(), np.flip(sector, ax - 1)
    meta = _meta(view, variant, scene, probe, layout, sector, flip, n_frames, fps, heart_rate, settings, seed)
    vol3 = np.full(n_frames, np.nan)
    vol_al = np.full(n_frames, np.nan)
    if heart_scene is not None:
        vol3 = np.array([heart_scene.volume_3d(k) for k in range(n_frames)])
        meta["ef_3d"] = round(float(100 * (vol3.max() - vol3.min()) / vol3.max()), 4)
        meta["ef_design"] = round(100 * heart_scene.heart.p.ef_design, 4)
        meta["ed"], meta["es"] = int(np.argmax(vol3)), int(np.argmin(vol3))
        if labelled and view in APICAL:
            res = cine_ef(masks, (meta["spacing_mm"][0], meta["spacing_mm"][1]))
            if res is not None:
                meta["ef"], meta["ed"], meta["es"] = round(res[0], 4), res[1], res[2]
                vol_al = res[3]
    return Cine(frames=frames, masks=masks, meta=meta, volume_3d=vol3, volume_al=vol_al)


def _render(sc, probe, layout, settings, rng, n_frames):
    imager = Imager(probe, settings, np.random.default_rng(rng.integers(2 ** 63)))
    n = int(rng.poisson(imager.density * probe.area()))
    X0, Z0 = probe.sample_uniform(rng, n)
    z_amp = rng.standard_normal(n).astype(np.float32)
    keep_u = rng.random(n).astype(np.float32)
    tex = _texture(rng, X0, Z0)
    # the grey image is decimated 2x in range before scan conversion: row m lies at r0 + (2m + 0.5) dr
    scan = ScanConverter(probe, layout, probe.r0 + 0.5 * imager.dr, 2 * imager.dr, imager.n_u)
    cx, cz = imager.coarse_xz
    frames = np.zeros((n_frames, layout.height, layout.width), np.uint8)
    for k in range(n_frames):
        X, Z = sc.move(X0, Z0, k)
        tissue, gain = sc.tissues(X, Z, k)
        S = imager.scatter_map(X, Z, tissue, z_amp, keep_u, gain * tex, rng.uniform(0, 2 * np.pi, n))
        tc, _ = sc.tissues(cx, cz, k)
        att = imager.attenuation(tc)
        db = imager.envelope_db(S, att, tc, sc.ref_tissue)
        g = imager.grey(db)
        g = g[: (len(g) // 2) * 2].reshape(-1, 2, g.shape[1]).mean(1)
        frames[k] = np.clip(np.rint(scan(g) * 255), 0, 255).astype(np.uint8)
    return frames


def _texture(rng, X, Z, waves=8, db=3.0):
    """A smooth random echogenicity field (sum of plane waves, 8-40 mm wavelengths, about +-db dB), fixed to the
    material points so it moves with the tissue."""
    f = np.zeros(len(X))
    for _ in range(waves):
        k = 2 * np.pi / rng.uniform(8, 40)
        a = rng.uniform(0, 2 * np.pi)
        f += np.cos(k * (X * np.cos(a) + Z * np.sin(a)) + rng.uniform(0, 2 * np.pi))
    return (10 ** (db / 20 * f * np.sqrt(2.0 / waves))).astype(np.float32)


def _meta(view, variant, scene, probe, layout, sector, flip, n_frames, fps, heart_rate, settings, seed):
    h, w = sector.shape
    ys, xs = np.nonzero(sector)
    roi = {"x": int(xs.min()), "y": int(ys.min()), "width": int(xs.max() - xs.min() + 1),
           "height": int(ys.max() - ys.min() + 1)}
    x0, y0 = layout.x0, layout.y0
    a0, a1 = probe.u_range if probe.kind != "linear" else (0.0, 0.0)
    if flip == "lr":
        x0, a0, a1 = (w - 1) - x0, -a1, -a0
    elif flip == "ud":
        y0 = (h - 1) - y0
    meta = {"seed": int(seed), "view": view if variant not in ("rotated", "flipped", "noncardiac") else "OTHER",
            "variant": variant, "scene": scene if variant == "noncardiac" else "heart",
            "source_view": view if variant in ("rotated", "flipped") else None,
            "n_frames": int(n_frames), "fps": round(float(fps), 4),
            "heart_rate": None if heart_rate is None else round(heart_rate, 3),
            "ed": None, "es": None, "ef": None, "ef_3d": None, "ef_design": None,
            "spacing_mm": [round(layout.sx, 6), round(layout.sy, 6)],
            "probe": probe.kind, "f0_mhz": round(probe.f0, 4),
            "apex": [round(x0, 4), round(y0, 4)],
            "angle_start": round(float(a0), 6), "angle_end": round(float(a1), 6),
            "depth_start": round(probe.r0, 4), "depth_end": round(probe.r1, 4),
            "width_mm": round(probe.width, 4) if probe.kind == "linear" else None,
            "flip": flip, "roi": roi,
            "gain_db": round(settings.gain_db, 3), "dynamic_range_db": round(settings.dynamic_range, 3),
            "noise_db": round(settings.noise_db, 3)}
    return meta


# ---------------------------------------------------------------- the dataset

EF_SCHEDULES = ("index", "seeded")


def cine_plan(n_cines: int, seed: int, variants, views, ef_schedule: str = "index"):
    """(id, seed, view, variant, scene, target EF, anisotropic) of every cine: variants cycle fastest, then views
    (or scenes, for noncardiac); target EFs follow a golden-ratio sequence over 20..75% so any run of cines
    spreads over the range; every third cine has non-square pixels. ef_schedule "index" (the default, as every set
    before it): the sequence, the view cycle and the non-square cines start at cine 0 for every seed, so cine i of
    two sets has the same target EF, view and pixel aspect; "seeded": each starts at a point drawn from the seed,
    so that sets of different seeds share no schedule (the spread over the range stays)."""
    start, first_view, first_aniso = 0.0, 0, 0
    if ef_schedule == "seeded":
        s = np.random.SeedSequence([int(seed), 0x5EED]).generate_state(3, np.uint32)
        start, first_view, first_aniso = float(s[0]) / 2 ** 32, int(s[1]), int(s[2]) % 3
    elif ef_schedule != "index":
        raise PhantomError("E_ARG", f"unknown EF schedule {ef_schedule!r}; expected one of "
                           f"{', '.join(EF_SCHEDULES)}")
    plan = []
    nv = len(variants)
    for i in range(n_cines):
        variant = variants[i % nv]
        j = i // nv
        cseed = int(np.random.SeedSequence([int(seed), i]).generate_state(1, np.uint32)[0])
        if variant == "noncardiac":
            view, scene = "OTHER", SCENES[(j + first_view) % len(SCENES)]
        else:
            view, scene = views[(j + first_view) % len(views)], None
        ef = 0.20 + 0.55 * ((start + i * GOLDEN) % 1.0)
        plan.append((i, cseed, view, variant, scene, ef, (i + first_aniso) % 3 == 2))
    return plan


def save_npz(path, arrays: dict):
    """np.load-compatible .npz with fixed zip timestamps, so that the same arrays give the same bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            zf.writestr(info, buf.getvalue())


def _job(args):
    out, i, cseed, view, variant, scene, ef, aniso, n_frames, size, images, fps = args
    c = generate_cine(cseed, view, variant, n_frames, size, ef=ef, anisotropic=aniso, scene=scene, images=images,
                      fps=fps)
    name = f"cine_{i:05d}.npz"
    tmp = Path(out) / (name + ".tmp")
    save_npz(tmp, {"frames": c.frames, "masks": c.masks, "volume_3d": c.volume_3d.astype(np.float32),
                   "volume_al": c.volume_al.astype(np.float32)})
    os.replace(tmp, Path(out) / name)
    return {"id": i, "file": name, **c.meta}


def check_request(n_cines, n_frames, variants, views, size, fps=None):
    if not isinstance(n_cines, int) or n_cines < 1:
        raise PhantomError("E_ARG", f"expected a positive integer for cines but received {n_cines!r}")
    if not isinstance(n_frames, int) or not 2 <= n_frames <= 512:
        raise PhantomError("E_ARG", f"expected an integer in 2..512 for frames but received {n_frames!r}")
    for v in variants:
        if v not in VARIANTS:
            raise PhantomError("E_ARG", f"unknown variant {v!r}; expected one of {', '.join(VARIANTS)}")
    for v in views:
        if v not in CARDIAC_VIEWS:
            raise PhantomError("E_ARG", f"unknown view {v!r}; expected one of {', '.join(CARDIAC_VIEWS)}")
    if not variants or not views:
        raise PhantomError("E_ARG", "expected at least one variant and one view but received none")
    if len(size) != 2 or min(size) < 32 or max(size) > 2048:
        raise PhantomError("E_ARG", f"expected a frame size of 32..2048 pixels but received {list(size)}")
    if fps is not None and not (isinstance(fps, (int, float)) and 8 <= fps <= 120):
        raise PhantomError("E_ARG", f"expected a frame rate of 8..120 per second but received {fps!r}")


def write_phantom(out_dir, n_cines: int, seed: int, n_frames: int = 16, variants=None, views=None, size=(256, 256),
                  workers: int = 1, images: bool = True, progress=None, fps: float | None = None,
                  ef_schedule: str = "index"):
    """Generate n_cines cines into out_dir; identical bytes for any number of workers. Returns the index path.
    fps: a fixed frame rate for every cine (see generate_cine); ef_schedule: see cine_plan (index.json records
    "ef_schedule" only when it is "seeded", so the default's bytes are as before)."""
    variants = list(variants or VARIANTS)
    views = list(views or CARDIAC_VIEWS)
    size = tuple(int(v) for v in size)
    check_request(n_cines, n_frames, variants, views, size, fps)
    plan = cine_plan(n_cines, seed, variants, views, ef_schedule)  # checks ef_schedule before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(str(out), *p, n_frames, size, images, fps) for p in plan]
    t0 = time.perf_counter()
    if workers > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
            entries = list(ex.map(_job, jobs))
    else:
        entries = []
        for j in jobs:
            entries.append(_job(j))
            if progress:
                progress(len(entries), len(jobs))
    index = {"format": FORMAT, "generator": f"sonoedge_phantom/{VERSION}", "seed": int(seed),
             "image_size": list(size), "frames_per_cine": n_frames, "views": VIEWS, "seg_labels": SEG_LABELS,
             "variants": variants, **({} if fps is None else {"fps": float(fps)}),
             **({} if ef_schedule == "index" else {"ef_schedule": ef_schedule}), "cines": entries}
    tmp = out / "index.json.tmp"
    tmp.write_text(json.dumps(index, indent=1))
    os.replace(tmp, out / "index.json")
    return out / "index.json", time.perf_counter() - t0
