"""Diagnoses, nothing chosen on them (training/RESULTS.md, forty-eighth wave): three runtime-side levers that need no
training, asked of the bundled packages in the harness before a rule was written for any.

1. `view`: would the view head read the real apical recordings better at full display gain (as the quality already
   is, `postprocessing.quality.full_gain`)? The share of frames called each view, on the frame and at full gain
   (train.full_gain, 99th percentile), on pydicom's real cine (examples_ybr_color), pydicom-data's recording when
   installed, and the development phantom's apical cines by variant.
2. `lv`: would the LV model outline dim or hazy frames better at full gain? The LV Dice against the label, on the
   frame and at full gain, on the development phantom's apical cines by variant.
3. `area`: where does the EF calibration's correction come from? The LV area the model draws at the labelled ED and
   ES frames over the label's (argmax and soft: the sum of the LV probability), on our simulator's test sets (test,
   wide_test) and the independent generator's (the development phantom, phantom_t675; the latter already reported).
4. `mirror`: the mirror check's look before its rule: over frames the runtime would segment (Packages' _measured,
   per frame), how often the view head on the mirror image calls A4C, more so than the frame, at a quality over the
   frame's by more than 0 and 0.1, on true apical frames and on the negatives (the development sets and the
   forty-seventh wave's t675, t676 and n677).

    training/.venv/bin/python training/scripts/transfer_levers.py [view lv area mirror] [--out /tmp/levers.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.special import softmax

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))
sys.path.insert(0, str(ROOT / "training" / "scripts"))

from runtime_ef import CACHE, model_crop, real_a4c_frames  # noqa: E402
from sonoedge_train.constants import MEAN, STD, VIEWS  # noqa: E402
from sonoedge_train.data.phantom import load_phantom  # noqa: E402
from sonoedge_train.data.synthetic import SimDataset  # noqa: E402
from sonoedge_train.export import run_ort, to_model_input  # noqa: E402
from sonoedge_train.metrics import dice  # noqa: E402
from sonoedge_train.quality import full_gain_input  # noqa: E402
from sonoedge_train.transfer import REAL_BOXES, Packages, _measured, pydicom_files  # noqa: E402

A4C = VIEWS.index("A4C")
DEV = ("phantom", "dg_clean", "dg_deg")


def _at_full_gain(frames_u8):
    return full_gain_input(to_model_input(frames_u8), MEAN, STD, 99.0)


def _apical(root):
    """(variant, frames, label masks, cine ids, ED/ES frame indices) per variant of a phantom set's apical cines."""
    ph = load_phantom(CACHE / root)
    for v in sorted({c["variant"] for c in ph.cines}):
        cines = [c for c in ph.cines if c["variant"] == v and c["view"] in ("A4C", "A2C")]
        if cines:
            sel = np.isin(ph.cine, [c["id"] for c in cines])
            edes = [np.nonzero(ph.cine == c["id"])[0][[c["ed"], c["es"]]] for c in cines]
            yield v, ph.frames[sel], ph.masks[sel], np.array(edes), ph


def view(p: Packages) -> dict:
    def shares(frames):
        own = p.view_quality(frames)["prob"].argmax(1)
        fg = softmax(run_ort(p.vq, _at_full_gain(frames))["view"].astype(np.float64) / p.temperature, 1).argmax(1)
        return {k: {VIEWS[i]: round(float((x == i).mean()), 3) for i in range(len(VIEWS))} for k, x in (("own", own), ("full_gain", fg))}
    rows = {"real examples_ybr_color": shares(real_a4c_frames())}
    item = pydicom_files().get("color3d_jpeg_baseline.dcm")
    if item and "error" not in item:
        rows["real color3d_jpeg_baseline (pydicom-data)"] = shares(model_crop(item["frames"], REAL_BOXES.get("color3d_jpeg_baseline.dcm") or _region(item)))
    for v, frames, _, _, _ in _apical("phantom"):
        rows[f"phantom {v}"] = shares(frames)
    return rows


def _region(item):
    x0, y0, x1, y1 = item["region"]
    return [x0, y0, x1 + 1 - x0, y1 + 1 - y0]


def lv(p: Packages) -> dict:
    rows = {}
    for root in DEV:
        for v, frames, masks, _, _ in _apical(root):
            own = p.lv(frames)
            fg = np.concatenate([run_ort(p.seg, x)["logits"].argmax(1) == 1 for x in np.array_split(_at_full_gain(frames), max(1, len(frames) // 256))])
            gt = masks == 1
            rows[f"{root} {v}"] = {"frames": len(frames), "dice": round(float(np.mean([dice(a, b) for a, b in zip(own, gt)])), 3),
                                   "dice_full_gain": round(float(np.mean([dice(a, b) for a, b in zip(fg, gt)])), 3)}
    return rows


def _areas(p: Packages, frames, masks):
    """Per frame: the model's LV area (argmax), its soft area (sum of the LV probability) and the label's, pixels."""
    logits = np.concatenate(list(p.seg_logits(frames)))
    soft = softmax(logits, 1)[:, 1].reshape(len(frames), -1).sum(1)
    hard = (logits.argmax(1) == 1).reshape(len(frames), -1).sum(1)
    return hard.astype(float), soft, (masks == 1).reshape(len(masks), -1).sum(1).astype(float)


def _area_row(p, frames, masks):
    h, s, t = (a.reshape(-1, 2) for a in _areas(p, frames, masks))
    ok = (t > 0).all(1)
    h, s, t = h[ok], s[ok], t[ok]
    return {"cines": int(ok.sum()), **{f"{ph}_{kind}": round(float(np.median(a[:, i] / t[:, i])), 3)
                                       for i, ph in enumerate(("ed", "es")) for kind, a in (("argmax", h), ("soft", s))}}


def area(p: Packages) -> dict:
    rows = {}
    for name in ("test", "wide_test"):
        ds = SimDataset(CACHE / name)
        idx = np.array([[c["start"] + c["ed"], c["start"] + c["es"]] for c in ds.cines if c["view"] in ("A4C", "A2C")]).reshape(-1)
        rows[f"ours {name}"] = _area_row(p, ds.frames[idx], ds.masks[idx])
    for root in ("phantom", "phantom_t675"):
        for v, _, _, edes, ph in _apical(root):
            if v in ("clean", "gain_low", "gain_high", "noisy"):
                idx = edes.reshape(-1)
                rows[f"independent {root} {v}"] = _area_row(p, ph.frames[idx], ph.masks[idx])
    return rows


def mirror(p: Packages) -> dict:
    p.mirror_margin = None  # the frames the runtime would segment before any check: the check is what is asked
    rows = {}
    for root in DEV + ("phantom_t675", "phantom_t676", "phantom_n677"):
        ph = load_phantom(CACHE / root)
        neg = np.array([c["variant"] in ("rotated", "flipped", "noncardiac") or c["view"] == "OTHER" for c in ph.cines])
        is_neg = neg[np.searchsorted([c["id"] for c in ph.cines], ph.cine)]
        vq = p.view_quality(ph.frames)
        elig = _measured(p, vq)
        m = p.view_quality(np.ascontiguousarray(ph.frames[:, :, ::-1]))
        pref = (m["prob"].argmax(1) == A4C) & (m["prob"][:, A4C] > vq["prob"][:, A4C])
        gain = np.asarray(m["quality"]).reshape(-1) - np.asarray(vq["quality"]).reshape(-1)
        for kind, k in (("apical", ~is_neg), ("negatives", is_neg)):
            e = elig & k
            if e.any():
                rows[f"{root} {kind}"] = {"measured": int(e.sum()), "fired_margin_0": int((e & pref & (gain > 0)).sum()),
                                          "fired_margin_0.1": int((e & pref & (gain > 0.1)).sum())}
        # each negative cine with a measured frame: what fires, and the median quality of the frame and its mirror
        for c, neg_c in zip(ph.cines, neg):
            e = elig & (ph.cine == c["id"])
            if neg_c and e.any():
                rows[f"{root} negative cine {c['id']} ({c['variant']}, flip {c.get('flip')})"] = {
                    "measured": int(e.sum()), "fired_margin_0": int((e & pref & (gain > 0)).sum()),
                    "quality_median": round(float(np.median(np.asarray(vq["quality"]).reshape(-1)[e])), 3),
                    "mirror_quality_median": round(float(np.median(np.asarray(m["quality"]).reshape(-1)[e])), 3)}
    # pydicom's real cine mirrored: what the view head calls it, and its quality
    x = real_a4c_frames()
    m = p.view_quality(np.ascontiguousarray(x[:, :, ::-1]))
    rows["real examples_ybr_color mirrored"] = {
        "views": {VIEWS[i]: int(n) for i, n in enumerate(np.bincount(m["prob"].argmax(1), minlength=len(VIEWS))) if n},
        "quality_median": round(float(np.median(m["quality"])), 4)}
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("parts", nargs="*", default=["view", "lv", "area", "mirror"], choices=["view", "lv", "area", "mirror"])
    ap.add_argument("--models", default=str(ROOT / "models"))
    ap.add_argument("--out", default="/tmp/transfer_levers.json")
    a = ap.parse_args(argv)
    p = Packages(a.models)
    out = {}
    for part in a.parts:
        out[part] = globals()[part](p)
        for name, row in out[part].items():
            print(f"{part:6s} {name:44s} {json.dumps(row)}", flush=True)
    Path(a.out).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
