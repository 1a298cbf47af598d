"""What the shown view (the runtime's ClassSmoother) does on cines of several beats, for smoother settings side by side.

The runtime shows a view only after an exponential moving average of the view probabilities (weight `alpha` for the
newest frame) has another class ahead of the shown one by `margin` for `hold` frames in a row
(src/pipeline/postprocess.ts, ClassSmoother). This script runs the view/quality package on each cine's sector
(cropped and area-resized as the harness does: the runtime's own preprocessing differs by resampling only) and
replays that rule in Python for each setting, reporting per setting:
- `true_share`: frames whose shown view is the cine's own view;
- `true_share_at_gate`: the same among frames whose smoothed quality (weight 0.3) is at the package's gate (its segmentation bar when it has one);
- `flips`: changes of the shown view per cine;
- `shown_probability_under`: the shown view's averaged probability under 0.7 and 0.8 (a view state `uncertain`
  would follow it): the share of the frames shown right, shown wrong and at the gate, and the cines with one at the
  gate;
- `shown_probability_quantiles`: the 1st, 2nd, 5th and 10th percentiles of the shown view's averaged
  probability over the frames shown right, and the share of the frames shown wrong under each;
- `switch_frames`: after a cine of one view is followed by a cine of the other apical view (each cine followed by
  the next one of the other view), the frames until the new view is shown (median and 90th percentile; a cine that
  never shows it counts as its length);
- `confidence` (not with `--negatives`): the view model's probability of its best view on each frame, unsmoothed,
  for the frames where that view is the cine's and where it is not, and the share of each under 0.5-0.9;
- with `--negatives`: `apical_share` of the turned and flipped hearts' and non-cardiac scenes' frames shown as A4C
  or A2C at the gate (where the runtime would segment, the state aside).

It is a design aid: choosing reads the runtime (`runtime_ef.py`), not this.

    training/.venv/bin/python training/scripts/view_display.py --phantom training/data_cache/phantom_dev50 \
        --setting 0.3,0.1,3 --setting 0.1,0.1,8
    training/.venv/bin/python training/scripts/view_display.py --sim 40,9117,128,43 --difficulty wide_iv ...
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))
sys.path.insert(0, str(ROOT / "training" / "scripts"))

from runtime_ef import model_crop, phantom_cines, sim_cines  # noqa: E402
from sonoedge_train.transfer import Packages  # noqa: E402


def shown_views(probs, alpha, margin, hold, with_average=False):
    """The class ClassSmoother shows on each frame of probs [F, C] (the same rule, in Python); with_average, also
    the shown class's averaged probability on each frame."""
    avg = np.array(probs[0], float)
    shown, cand, streak = int(avg.argmax()), -1, 0
    out, kept = [shown], [avg[shown]]
    for p in probs[1:]:
        avg = alpha * p + (1 - alpha) * avg
        best = int(avg.argmax())
        if best != shown and avg[best] - avg[shown] >= margin:
            streak = streak + 1 if best == cand else 1
            cand = best
            if streak >= hold:
                shown, streak, cand = best, 0, -1
        else:
            streak, cand = 0, -1
        out.append(shown)
        kept.append(avg[shown])
    return (np.array(out), np.array(kept)) if with_average else np.array(out)


UNCERTAIN = (0.7, 0.8)
QUANTILES = (0.01, 0.02, 0.05, 0.1)


def share_under(values, th):
    """The share of values under th (0 without values)."""
    return round(float(np.mean(np.asarray(values) < th)), 4) if len(values) else 0.0


def quantile_row(right, wrong, q):
    """The q-quantile of the shown view's averaged probability over the frames shown right, and the share of the
    frames shown wrong under it."""
    th = float(np.quantile(right, q)) if right else float("nan")
    return {"threshold": round(th, 4), "wrong_under": share_under(wrong, th) if wrong else None}


def ema(x, a=0.3):
    out = np.empty(len(x))
    v = x[0]
    for i, s in enumerate(x):
        v = s if i == 0 else a * s + (1 - a) * v
        out[i] = v
    return out


def confidence_split(cines, views, thresholds=(0.5, 0.6, 0.7, 0.8, 0.9)):
    """The view model's own probability of its best view on each frame (no smoothing), split by whether that view
    is the cine's: the frames right and wrong, and the share of each under each threshold (how far the calibrated
    probability tells a wrong view from a right one)."""
    right, wrong = [], []
    for c in cines:
        best, top = c["prob"].argmax(1), c["prob"].max(1)
        ok = best == views.index(c["view"])
        right += top[ok].tolist()
        wrong += top[~ok].tolist()
    r, w = np.array(right), np.array(wrong)
    return {"frames_right": len(r), "frames_wrong": len(w),
            "under": {str(t): [round(float(np.mean(r < t)), 3) if len(r) else None,
                               round(float(np.mean(w < t)), 3) if len(w) else None] for t in thresholds}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--phantom", default="", help="independent generator folder")
    ap.add_argument("--sim", default="", metavar="N,SEED,FRAMES,BEAT_FRAMES",
                    help="our simulator's apical cines (as runtime_ef.py --sim)")
    ap.add_argument("--difficulty", default="wide_iv")
    ap.add_argument("--models", default="models")
    ap.add_argument("--negatives", action="store_true")
    ap.add_argument("--setting", action="append", default=[], metavar="ALPHA,MARGIN,HOLD")
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    if bool(a.phantom) == bool(a.sim) or (a.negatives and not a.phantom):
        ap.error("give exactly one of --phantom and --sim (--negatives needs --phantom)")
    p = Packages(a.models)
    views = list(p.vq_manifest["postprocessing"]["view"]["labels"])
    cines = []
    source = phantom_cines(a.phantom, a.negatives) if a.phantom else sim_cines(a.sim, a.difficulty)
    for cid, view, frames, roi, _, _, fps in source:
        o = p.view_quality(model_crop(frames, roi))
        cines.append({"id": cid, "view": view, "fps": fps, "prob": o["prob"],
                      "gate": ema(np.asarray(o["quality"], float).reshape(-1)) >= p.seg_gate})
    apical = [views.index(v) for v in ("A4C", "A2C")]
    rep = {"source": a.phantom or f"sim {a.sim} {a.difficulty}", "cines": len(cines), "settings": {}}
    if not a.negatives:
        rep["confidence"] = confidence_split(cines, views)
        print("confidence", json.dumps(rep["confidence"]), flush=True)
    for s in a.setting or ["0.3,0.1,3"]:
        alpha, margin, hold = (f(v) for f, v in zip((float, float, int), s.split(",")))
        r = {}
        if a.negatives:
            tot = sum(len(c["prob"]) for c in cines)
            ap_ = sum(int((np.isin(shown_views(c["prob"], alpha, margin, hold), apical) & c["gate"]).sum())
                      for c in cines)
            r["apical_share_at_gate"] = round(ap_ / tot, 4)
        else:
            true, n, tg, ng, flips, sw = 0, 0, 0, 0, [], []
            low = {th: [0, 0] for th in UNCERTAIN}  # frames at the gate and low, cines with one
            kept_right, kept_wrong = [], []
            for i, c in enumerate(cines):
                t = views.index(c["view"])
                # one pass over the cine followed by the next cine of the other apical view: the rule is causal, so
                # the first len(cine) frames are the cine's own, the rest the switch
                nxt = next((d for d in cines[i + 1:] + cines[:i] if d["view"] != c["view"]), None)
                k = len(c["prob"])
                both, kept = shown_views(c["prob"] if nxt is None else np.concatenate([c["prob"], nxt["prob"]]),
                                         alpha, margin, hold, with_average=True)
                sv, kept = both[:k], kept[:k]
                kept_right += kept[sv == t].tolist()
                kept_wrong += kept[sv != t].tolist()
                for th in UNCERTAIN:
                    lo = kept < th
                    low[th][0] += int((lo & c["gate"]).sum())
                    low[th][1] += int((lo & c["gate"]).any())
                true += int((sv == t).sum())
                n += len(sv)
                tg += int(((sv == t) & c["gate"]).sum())
                ng += int(c["gate"].sum())
                flips.append(int((sv[1:] != sv[:-1]).sum()))
                if nxt is not None:
                    hit = np.flatnonzero(both[k:] == views.index(nxt["view"]))
                    sw.append(int(hit[0]) if len(hit) else len(both) - k)
            r = {"true_share": round(true / n, 4), "true_share_at_gate": round(tg / max(ng, 1), 4),
                 "gate_share": round(ng / n, 4), "flips_per_cine": round(float(np.mean(flips)), 2),
                 "cines_with_flips": int(sum(f > 0 for f in flips)),
                 "switch_frames_median": float(np.median(sw)), "switch_frames_p90": float(np.percentile(sw, 90)),
                 # the shown view's averaged probability under a threshold: the share of the frames shown right,
                 # shown wrong and at the gate, and the cines with such a frame at the gate
                 "shown_probability_under": {str(th): {
                     "right": share_under(kept_right, th), "wrong": share_under(kept_wrong, th),
                     "at_gate": round(v[0] / max(1, ng), 4), "cines_at_gate": v[1]} for th, v in low.items()},
                 # its quantiles over the frames shown right (a threshold that flags that share of them) and the
                 # share of the frames shown wrong under each
                 "shown_probability_quantiles": {str(q): quantile_row(kept_right, kept_wrong, q) for q in QUANTILES}}
        rep["settings"][s] = r
        print(s, json.dumps(r), flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps(rep, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
