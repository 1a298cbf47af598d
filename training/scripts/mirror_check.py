"""A diagnosis, nothing chosen on it (training/RESULTS.md, forty-second wave): does the view head know a heart
shown mirrored left-right? The view model was trained with mirrored four-chamber and long-axis frames as OTHER
(negatives.transform_hearts), yet the independent generator's mirrored four-chamber cines are the negatives on
which the runtime still shows an LV. A second judgment that needs no threshold: the view head on the frame and on
its mirror image; a frame is "mirror-preferred" when the mirror is called A4C and scores A4C higher than the frame
itself does (an upright four-chamber heart, mirrored, is the trained OTHER, so it should never be).

Per frame, with the bundled packages in the harness (calibrated probabilities, the package's temperature):
our simulator's validation frames (wide_val, A4C and A2C; shards 0-1), the independent generator's clean apical
cines of sets already reported (phantom_t659, phantom_t660, every 4th frame), its negatives of sets already
reported (phantom_n646, n651, n655, n658, n661, every 2nd frame; split by variant and, for flipped, by the flip),
and pydicom's real apical cine (examples_ybr_color, read from the installed package, its fan at 39,21,262,181 as
`replay --sector auto` finds it). The fresh sets (phantom_t662, t663, t665, n664) are not read.

With --stored, instead: two tables from stored runtime_ef.py reports (no run): which independent negatives the
bundled runtime (each report's H) showed an LV on, by the generator's variant, flip and source view; and the
forty-first wave's EFs by their quality (`ok`, `low`) with the MAE of each.

    training/.venv/bin/python training/scripts/mirror_check.py [--out /tmp/mirror_check.json] [--stored]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))
sys.path.insert(0, str(ROOT / "training" / "scripts"))

from runtime_ef import CACHE, diagnosis_args, model_crop, phantom_cines, real_a4c_frames  # noqa: E402
from sonoedge_train.constants import VIEWS  # noqa: E402
from sonoedge_train.transfer import Packages  # noqa: E402

A4C, A2C = VIEWS.index("A4C"), VIEWS.index("A2C")


def judge(p: Packages, frames_u8: np.ndarray) -> dict:
    """Per frame: the view called on the frame and on its mirror, their A4C probabilities, the quality."""
    o, m = p.view_quality(frames_u8), p.view_quality(np.ascontiguousarray(frames_u8[:, :, ::-1]))
    return {"view": o["prob"].argmax(1), "view_mirror": m["prob"].argmax(1), "a4c": o["prob"][:, A4C],
            "a4c_mirror": m["prob"][:, A4C], "quality": np.asarray(o["quality"]).reshape(-1)}


def preferred(j: dict) -> np.ndarray:
    return (j["view_mirror"] == A4C) & (j["a4c_mirror"] > j["a4c"])


def group(rows: list[dict]) -> dict:
    """Frames, the share the head calls A4C or A2C, the share mirror-preferred (of all, and of those called
    apical with the quality at the package's bar: the frames on which the runtime could show an LV), cines with
    any mirror-preferred frame."""
    if not rows:
        return {"frames": 0}
    j = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    pref = preferred(j)
    apical = np.isin(j["view"], (A4C, A2C))
    gated = apical & (j["quality"] >= 0.5)
    return {"cines": len(rows), "frames": int(len(pref)), "called_apical": round(float(apical.mean()), 3),
            "mirror_preferred": round(float(pref.mean()), 3),
            "mirror_preferred_of_apical_at_bar": [int((pref & gated).sum()), int(gated.sum())],
            "cines_with_any": int(sum(bool(preferred(r).any()) for r in rows)),
            "cines_over_half": int(sum(bool(preferred(r).mean() > 0.5) for r in rows))}


def ours(p: Packages, shards=(0, 1)) -> dict:
    out = {"A4C": [], "A2C": []}
    for s in shards:
        d = np.load(CACHE / "wide_val" / f"shard_{s:05d}.npz")
        for name, v in (("A4C", A4C), ("A2C", A2C)):
            sel = d["view"] == v
            out[name].append(judge(p, d["frames"][sel]))
    return {f"ours wide_val {k}": group(v) for k, v in out.items()}


def independent(p: Packages) -> dict:
    out = {"A4C": [], "A2C": []}
    for s in ("phantom_t659", "phantom_t660"):
        for _, view, frames, roi, _, _, _ in phantom_cines(CACHE / s):
            out[view].append(judge(p, model_crop(frames[::4], roi)))
    return {f"independent clean {k} (t659, t660)": group(v) for k, v in out.items()}


def negatives(p: Packages, sets=("phantom_n646", "phantom_n651", "phantom_n655", "phantom_n658", "phantom_n661")) -> dict:
    out: dict[str, list] = {}
    for s in sets:
        index = {c["id"]: c for c in json.loads((CACHE / s / "index.json").read_text())["cines"]}
        for cid, _, frames, roi, _, _, _ in phantom_cines(CACHE / s, negatives=True):
            c = index[cid]
            key = c["variant"] if c["variant"] != "flipped" else f"flipped {c['flip']} {c['source_view']}"
            if c["variant"] == "rotated":
                key = f"rotated {c['source_view']}"
            out.setdefault(key, []).append(judge(p, model_crop(frames[::2], roi)))
    return {f"independent negatives: {k}": group(v) for k, v in sorted(out.items())}


def real(p: Packages) -> dict:
    fr = real_a4c_frames()
    j = judge(p, fr)
    g = group([j])
    g["a4c_median"] = round(float(np.median(j["a4c"])), 3)
    g["a4c_mirror_median"] = round(float(np.median(j["a4c_mirror"])), 3)
    g["views"] = {VIEWS[v]: int((j["view"] == v).sum()) for v in np.unique(j["view"])}
    g["views_mirror"] = {VIEWS[v]: int((j["view_mirror"] == v).sum()) for v in np.unique(j["view_mirror"])}
    return {"real: pydicom examples_ybr_color (30 frames)": g}


REPORTS = ROOT / "training" / "results" / "runtime_ef"


def lv_by_family(names=("w37_n646", "w38_n651", "w39_n655", "w40_n658", "w41_n661")) -> dict:
    """Per report: {variant flip source_view: [frames with an LV, frames, cines with one]} of its H runtime."""
    out = {}
    for name in names:
        r = json.loads((REPORTS / f"{name}.json").read_text())
        index = {c["id"]: c for c in json.loads((CACHE / f"phantom_{name.split('_')[1]}" / "index.json").read_text())["cines"]}
        fam: dict[str, list] = {}
        for c in r["cines"]:
            m = index[c["id"]]
            lv = c["runtimes"]["H"]["trace"]["lv_area"]
            n = sum(a is not None for a in lv)
            f = fam.setdefault(f"{m['variant']} {m['flip']} {m['source_view']}", [0, 0, 0])
            f[0], f[1], f[2] = f[0] + n, f[1] + len(lv), f[2] + (n > 0)
        out[name] = {k: v for k, v in fam.items() if v[0]}
    return out


def ef_by_quality(names=("w41_t3", "w41_t659", "w41_t660", "w41_n661"), clis=("H", "K0", "K25")) -> dict:
    """Per report and runtime: [EFs of quality ok, their MAE, EFs of quality low, their MAE] (MAE None without a
    reference)."""
    out = {}
    for name in names:
        r = json.loads((REPORTS / f"{name}.json").read_text())
        for k in clis:
            by = {"ok": [], "low": []}
            for c in r["cines"]:
                x = c["runtimes"][k]
                if x["ef"] is not None:
                    by["low" if x["quality"] == "low" else "ok"].append(None if c["ref"] is None else abs(x["ef"] - c["ref"]))
            mae = lambda v: round(float(np.mean(v)), 2) if v and v[0] is not None else None  # noqa: E731
            out[f"{name} {k}"] = [len(by["ok"]), mae(by["ok"]), len(by["low"]), mae(by["low"])]
    return out


def main(argv=None) -> int:
    a = diagnosis_args(__doc__, "/tmp/mirror_check.json", argv, [("--stored", "the two tables from stored reports instead (no run)")])
    if a.stored:
        print(json.dumps({"lv_by_family": lv_by_family(), "ef_by_quality": ef_by_quality()}, indent=1))
        return 0
    p = Packages(a.models)
    s = {**ours(p), **independent(p), **negatives(p), **real(p)}
    Path(a.out).write_text(json.dumps(s, indent=1))
    print(json.dumps(s, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
