"""Two runtime rules for knowing when the models do not know, measured on the bundled packages before building
either (ninth wave, training/RESULTS.md). Both are fitted or chosen on the simulator only; the independent
generator is the check.

1. View stability: show an LV only where the shown apical view's mean probability over the last n frames
   (causal, as a stream sees them) is at least p, on top of the runtime's rule (apical view, quality at the gate,
   not unknown). Reported: the fraction of frames with an LV shown, per set, for a grid of (n, p). Sets: the
   independent generator's 60 clean apical cines and its rotated, flipped, clean, off-axis and foreshortened
   variants; the simulator's validation apical cines; the same cines turned inside their own sector
   (negatives.transform_in_sector, one turn per cine), our own turned-heart family.
2. An EF interval that widens with the LV border band: the calibrated EF's absolute error on the simulator's
   validation cines fitted as a + b x (the window's mean border band), its standard deviation
   sqrt(pi / 2) (a + b band), against the constant residual_sd the package carries; coverage of the 95% interval
   for two agreeing beats on validation, the simulator's test and the independent generator's 60 clean cines.

  training/.venv/bin/python training/scripts/runtime_rules.py [--models models] [--json OUT]
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from sonoedge_train.constants import APICAL_IDS, APICAL_VIEWS
from sonoedge_train.data.phantom import load_phantom
from sonoedge_train.data.synthetic import SimDataset
from sonoedge_train.metrics import ef_runtime
from sonoedge_train.negatives import transform_in_sector
from sonoedge_train.transfer import SINGLE_BEAT_SD, Packages, _measured



def per_cine(p: Packages, frames, cine_of):
    """Per cine, in frame order: view probabilities [F, V] and the runtime's per-frame eligibility [F]."""
    vq = p.view_quality(frames)
    elig = _measured(p, vq, frames)
    return [(vq["prob"][s], elig[s]) for s in (np.flatnonzero(cine_of == c) for c in np.unique(cine_of))]


def shown(cines, n: int, thr: float) -> float:
    """Fraction of frames with an LV shown under the stability rule (n frames, mean probability >= thr)."""
    total = kept = 0
    for prob, elig in cines:
        for i in range(len(prob)):
            v = int(prob[i].argmax())
            stable = v in APICAL_IDS and prob[max(0, i - n + 1):i + 1, v].mean() >= thr
            kept += int(elig[i] and stable)
        total += len(prob)
    return kept / total


def turned_in_sector(ds, cine_ids):
    """The given cines turned inside their own sector, one turn per cine (the rng state is reset per frame)."""
    frames, cine_of = [], []
    for c in cine_ids:
        rng = np.random.default_rng(int(c))
        state = rng.bit_generator.state
        for i in np.flatnonzero(ds.cine == c):
            rng.bit_generator.state = state
            frames.append(transform_in_sector(ds.frames[i:i + 1], rng)[0])
            cine_of.append(c)
    return np.stack(frames), np.array(cine_of)


def stability(p: Packages) -> dict:
    sets = {}
    clean = load_phantom("training/data_cache/phantom_clean")
    ap = np.isin(clean.view, APICAL_IDS)
    sets["independent clean, 60 apical cines"] = per_cine(p, clean.frames[ap], clean.cine[ap])
    ph = load_phantom("training/data_cache/phantom")
    for v in ("rotated", "flipped", "clean", "off_axis", "foreshortened"):
        ids = [c["id"] for c in ph.cines if c["variant"] == v and (v in ("rotated", "flipped") or c["view"] in APICAL_VIEWS)]
        sel = np.isin(ph.cine, ids)
        sets[f"independent {v}"] = per_cine(p, ph.frames[sel], ph.cine[sel])
    val = SimDataset("training/data_cache/wide_val")
    apv = np.isin(val.view, APICAL_IDS)
    sets["simulator val apical"] = per_cine(p, val.frames[apv], val.cine[apv])
    sets["simulator val turned in sector"] = per_cine(p, *turned_in_sector(val, np.unique(val.cine[apv])))
    return {f"n={n} p>={thr}": {k: round(shown(v, n, thr), 3) for k, v in sets.items()}
            for n in (1, 4, 8, 16) for thr in (0.0, 0.6, 0.7, 0.8, 0.9)}


def ef_rows(p: Packages, frames, cines, cine_of, spacing) -> np.ndarray:
    """Per apical cine with a reference EF: (reference, calibrated runtime EF, window mean border band)."""
    lv, bands = p.lv_bands(frames)
    out = []
    for c in cines:
        if c["view"] not in APICAL_VIEWS or not c.get("ef"):
            continue
        sel = np.flatnonzero(cine_of == c["id"])
        r = ef_runtime(lv[sel], tuple(float(v) for v in spacing[sel[0]]), min_frames=min(16, len(sel)),
                       bands=[bands[i] for i in sel], trim=p.ef_trim)
        if r["border_band"] is not None:
            out.append((c["ef"], p.calibrated(r["ef"]), r["border_band"]))
    return np.array(out)


def band_interval(p: Packages) -> dict:
    val = SimDataset("training/data_cache/wide_val")
    test = SimDataset("training/data_cache/wide_test")
    ph = load_phantom("training/data_cache/phantom_clean")
    sets = {"simulator val": ef_rows(p, val.frames, val.cines, val.cine, val.spacing_xy),
            "simulator wide_hard test": ef_rows(p, test.frames, test.cines, test.cine, test.spacing_xy),
            "independent clean, 60 cines": ef_rows(p, ph.frames, ph.cines, ph.cine, ph.spacing)}
    v = sets["simulator val"]
    a, b = np.linalg.lstsq(np.c_[np.ones(len(v)), v[:, 2]], np.abs(v[:, 1] - v[:, 0]), rcond=None)[0]
    beats = (SINGLE_BEAT_SD / 2) ** 2
    const = 1.96 * np.sqrt(p.ef_cal["residual_sd"] ** 2 + beats)
    out = {"fit": {"a": float(a), "b": float(b)}, "sets": {}}
    for name, x in sets.items():
        err = np.abs(x[:, 1] - x[:, 0])
        half = 1.96 * np.sqrt(np.maximum(np.sqrt(np.pi / 2) * (a + b * x[:, 2]), 0.5) ** 2 + beats)
        out["sets"][name] = {"cines": int(len(x)), "band_median": float(np.median(x[:, 2])), "ef_mae": float(err.mean()),
                             "corr_abs_error_band": float(np.corrcoef(err, x[:, 2])[0, 1]),
                             "constant_half": float(const), "constant_coverage": float((err <= const).mean()),
                             "band_half_median": float(np.median(half)), "band_coverage": float((err <= half).mean())}
    return out


def packages_from_args(doc: str) -> tuple[Packages, str | None]:
    """The rule scripts' command line (--models DIR, default models; --json OUT): the packages opened, and OUT."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--models", default="models")
    ap.add_argument("--json")
    a = ap.parse_args()
    return Packages(a.models), a.json


def main() -> None:
    p, json_out = packages_from_args(__doc__)
    res = {"stability": stability(p), "band_interval": band_interval(p)}
    keys = list(next(iter(res["stability"].values())))
    print("LV shown (fraction of frames) under the view-stability rule\n")
    print("| rule | " + " | ".join(keys) + " |\n|" + " --- |" * (len(keys) + 1))
    for rule, row in res["stability"].items():
        print(f"| {rule} | " + " | ".join(f"{row[k]:.3f}" for k in keys) + " |")
    bi = res["band_interval"]
    print(f"\nEF interval from the border band: |error| = {bi['fit']['a']:.2f} + {bi['fit']['b']:.2f} band on simulator val\n")
    print("| set | cines | band median | EF MAE | corr(abs error, band) | constant half / coverage | band half (median) / coverage |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, r in bi["sets"].items():
        print(f"| {name} | {r['cines']} | {r['band_median']:.3f} | {r['ef_mae']:.2f} | {r['corr_abs_error_band']:.2f} | "
              f"{r['constant_half']:.2f} / {r['constant_coverage']:.3f} | {r['band_half_median']:.2f} / {r['band_coverage']:.3f} |")
    if json_out:
        with open(json_out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
