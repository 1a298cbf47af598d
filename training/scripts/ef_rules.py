"""The runtime's EF rule against a candidate on the same LV masks: per apical cine, the EF from the largest and
smallest area-length volume of the window (the present rule), from the volumes smoothed by a centred k-frame mean
first (`metrics.smooth_volumes`), from the means of the window's largest and smallest share of its volumes
(`ef_runtime(trim=...)`), and, as a bound, at the reference's own ED and ES frames (the frames of the
largest and smallest reference volume). Each rule gets its own EF calibration, fitted on the calibration set's
cines with `calibrate.fit_ef_calibration` (the same least squares `calibrate --seg` uses); then, per set, the
calibrated EF's MAE and bias and the paired change of its absolute error against the present rule (bootstrap over
cines, 5,000 resamples, seed 0). Per set also the present rule on the reference LV masks themselves against the
reference EF (what the method alone gets wrong).

    training/.venv/bin/python training/scripts/ef_rules.py [--models models] [--fit training/data_cache/wide_val]
        [--smooth 3] [--trim 0.1] [--fit-b SET,SET] SET [SET ...]

A set is a rendered simulator set or an independent-generator set (`python -m sonoedge_phantom generate`); SET,SET
(comma-separated) reads several as one. `--fit-b` fits a second calibration per rule on other cines: the rules
with it are reported again as "RULE, fit B", paired against the present rule with the first calibration.
"""
from __future__ import annotations

import argparse

import numpy as np

from sonoedge_train.calibrate import fit_ef_calibration
from sonoedge_train.data.phantom import load_labelled
from sonoedge_train.metrics import ef_percent, ef_runtime_from, frame_volumes
from sonoedge_train.transfer import Packages, apical_ef_cines

RULES = ("extremes", "smoothed", "trimmed", "reference frames")


def set_efs(p: Packages, paths: str, k: int, trim: float) -> dict:
    """{rule: EF before calibration per cine, "ref": reference EF per cine} over the apical cines with a reference EF
    that every rule finds valid, of one set or of several (comma-separated) read as one."""
    out = {r: [] for r in RULES + ("ref", "on the reference masks")}
    for path in paths.split(","):
        _set_efs(p, path, k, trim, out)
    return {key: np.array(v) for key, v in out.items()}


def _set_efs(p: Packages, path: str, k: int, trim: float, out: dict) -> None:
    ds, spacing, _ = load_labelled(path)
    for c in apical_ef_cines(ds.cines):
        sel = np.flatnonzero(ds.cine == c["id"])
        sp = tuple(float(v) for v in spacing[sel[0]])
        lv = p.lv(ds.frames[sel])
        n = min(16, len(sel))
        vols = frame_volumes(lv, sp)  # once; each rule below takes them
        a, b = ef_runtime_from(vols, min_frames=n), ef_runtime_from(vols, min_frames=n, smooth=k)
        t = ef_runtime_from(vols, min_frames=n, trim=trim)
        if not (a["valid"] and b["valid"] and t["valid"]):
            continue
        ref_vols = frame_volumes(ds.masks[sel] == 1, sp)
        ref = np.array([v for v, _ in ref_vols])
        ed, es = int(np.argmax(ref)), int(np.argmin(ref))
        out["extremes"].append(a["ef"])
        out["smoothed"].append(b["ef"])
        out["trimmed"].append(t["ef"])
        out["reference frames"].append(ef_percent(vols[ed][0], vols[es][0]))
        out["ref"].append(float(c["ef"]))
        out["on the reference masks"].append(ef_runtime_from(ref_vols, min_frames=n)["ef"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--models", default="models")
    ap.add_argument("--fit", default="training/data_cache/wide_val")
    ap.add_argument("--smooth", type=int, default=3)
    ap.add_argument("--trim", type=float, default=0.1)
    ap.add_argument("--fit-b", default="")
    a = ap.parse_args()
    p = Packages(a.models)
    fit = set_efs(p, a.fit, a.smooth, a.trim)
    cal = {r: fit_ef_calibration(fit[r], fit["ref"]) for r in RULES}
    rows = [(r, r) for r in RULES]
    if a.fit_b:
        fit_b = set_efs(p, a.fit_b, a.smooth, a.trim)
        for r in RULES:
            cal[f"{r}, fit B"] = fit_ef_calibration(fit_b[r], fit_b["ref"])
            rows.append((f"{r}, fit B", r))
        print(f"fit B: {a.fit_b} ({len(fit_b['ref'])} cines)")
    print(f"models: {a.models}; smoothed: centred {a.smooth}-frame mean; trimmed: the means of the {a.trim:g} "
          f"largest and smallest; calibrations fitted on {a.fit} "
          f"({len(fit['ref'])} cines): " + "; ".join(f"{r} slope {c['slope']:.3f} intercept {c['intercept']:+.2f}"
                                                  for r, c in cal.items()) + "\n")
    print("| set | cines | rule | bias before calibration | EF MAE, bias (calibrated) | paired change of |error| "
          "against extremes, 95% CI |")
    print("| --- | --- | --- | --- | --- | --- |")
    notes = []
    for path in a.sets:
        e = set_efs(p, path, a.smooth, a.trim)
        m = e["on the reference masks"] - e["ref"]
        notes.append(f"{path}: the present rule on the reference LV masks minus the reference EF: bias "
                     f"{m.mean():+.2f}, MAE {np.abs(m).mean():.2f}")
        err = {name: np.clip(cal[name]["slope"] * e[r] + cal[name]["intercept"], 0, 100) - e["ref"]
               for name, r in rows}
        for name, r in rows:
            d = np.abs(err[name]) - np.abs(err["extremes"])
            rng = np.random.default_rng(0)
            boot = np.array([d[rng.integers(0, len(d), len(d))].mean() for _ in range(5000)])
            ci = "" if name == "extremes" else (f"{d.mean():+.2f} [{np.percentile(boot, 2.5):+.2f}, "
                                             f"{np.percentile(boot, 97.5):+.2f}]")
            label = ",".join(q.rstrip("/").split("/")[-1] for q in path.split(","))
            print(f"| {label} | {len(d)} | {name} | {(e[r] - e['ref']).mean():+.2f} | "
                  f"{np.abs(err[name]).mean():.2f}, {err[name].mean():+.2f} | {ci} |")
    print("\n" + "\n".join(notes))


if __name__ == "__main__":
    main()
