"""An anatomical check for the LV (tenth wave, training/RESULTS.md), measured on the bundled packages before
building it: in every apical view the probe sits at the LV apex, so the left atrium lies beyond the LV along the
beam. A heart turned inside its sector breaks this; a true apical view, foreshortened or off-axis, keeps it.

Per frame that the runtime's rule would measure (apical view shown, quality at the gate, not unknown), from the
LV package's own labels (LV, myocardium, LA): the angle between the beam through the LV (from the probe, taken at
the top centre of the frame, to the LV centroid) and the LV-to-LA direction (LV centroid to the LA centroid). A
frame without an LA (fewer than MIN_LA pixels) is reported apart and kept. The threshold is chosen on the
simulator's validation apical frames only (the angle below which 99% of them fall); the independent generator,
and the simulator's own turned hearts are the check (pydicom's real apical cine has no frame at the
quality gate, so no LV to check).

  training/.venv/bin/python training/scripts/apical_geometry.py [--models models] [--json OUT]
"""
from __future__ import annotations

import json

import numpy as np

from runtime_rules import packages_from_args, turned_in_sector
from sonoedge_train.constants import APICAL_IDS, APICAL_VIEWS
from sonoedge_train.data.phantom import load_phantom
from sonoedge_train.data.synthetic import SimDataset
from sonoedge_train.export import run_ort, to_model_input
from sonoedge_train.metrics import largest_component
from sonoedge_train.transfer import Packages, _measured

LV, LA = 1, 3
MIN_LA = 20
THRESHOLDS = (30, 45, 60, 75, 90, 120)


def angles(p: Packages, frames: np.ndarray, chunk: int = 256):
    """Per frame: whether the runtime would measure it, and the beam-to-LA angle in degrees (nan: no LV;
    inf: an LV but no LA)."""
    elig = _measured(p, p.view_quality(frames), frames)
    out = np.full(len(frames), np.nan)
    h, w = frames.shape[1:]
    probe = np.array([(w - 1) / 2, 0.0])
    for i in range(0, len(frames), chunk):
        labels = run_ort(p.seg, to_model_input(frames[i:i + chunk]))["logits"].argmax(1)
        for j, lab in enumerate(labels):
            lv = largest_component(lab == LV)
            if not lv.any():
                continue
            la = lab == LA
            if la.sum() < MIN_LA:
                out[i + j] = np.inf
                continue
            la = largest_component(la)
            ys, xs = np.nonzero(lv)
            c_lv = np.array([xs.mean(), ys.mean()])
            ys, xs = np.nonzero(la)
            c_la = np.array([xs.mean(), ys.mean()])
            beam, base = c_lv - probe, c_la - c_lv
            cos = beam @ base / max(np.linalg.norm(beam) * np.linalg.norm(base), 1e-9)
            out[i + j] = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    return elig, out


def summary(elig, ang, thr: float) -> dict:
    n = len(ang)
    shown = elig & ~np.isnan(ang)
    return {"frames": int(n), "lv_shown": float(shown.mean()),
            "no_la": float((shown & np.isinf(ang)).sum() / max(shown.sum(), 1)),
            "kept": float((shown & ((ang <= thr) | np.isinf(ang))).mean())}


def main() -> None:
    p, json_out = packages_from_args(__doc__)
    sets = {}
    val = SimDataset("training/data_cache/wide_val")
    apv = np.isin(val.view, APICAL_IDS)
    sets["simulator val apical"] = angles(p, val.frames[apv])
    sets["simulator val turned in sector"] = angles(p, turned_in_sector(val, np.unique(val.cine[apv]))[0])
    test = SimDataset("training/data_cache/wide_test")
    sets["simulator wide_hard test apical"] = angles(p, test.frames[np.isin(test.view, APICAL_IDS)])
    clean = load_phantom("training/data_cache/phantom_clean")
    sets["independent clean, 60 apical cines"] = angles(p, clean.frames[np.isin(clean.view, APICAL_IDS)])
    ph = load_phantom("training/data_cache/phantom")
    for v in ("rotated", "flipped", "off_axis", "foreshortened", "shadow"):
        ids = [c["id"] for c in ph.cines if c["variant"] == v and (v in ("rotated", "flipped") or c["view"] in APICAL_VIEWS)]
        sets[f"independent {v}"] = angles(p, ph.frames[np.isin(ph.cine, ids)])
    va = sets["simulator val apical"]
    finite = va[1][va[0] & np.isfinite(va[1])]
    chosen = float(np.percentile(finite, 99))
    res = {"chosen_on_simulator_val": chosen, "angle_percentiles_val": {q: float(np.percentile(finite, q)) for q in (50, 90, 95, 99)},
           "sets": {name: {str(t): summary(e, g, t) for t in (*THRESHOLDS, round(chosen, 1))} for name, (e, g) in sets.items()}}
    print(f"beam-to-LA angle on simulator val apical frames the runtime measures: "
          + ", ".join(f"p{q} {v:.1f}" for q, v in res["angle_percentiles_val"].items()) + f"; chosen {chosen:.1f} deg\n")
    cols = [str(t) for t in THRESHOLDS] + [str(round(chosen, 1))]
    print("| set | frames | LV shown now | shown without an LA | " + " | ".join(f"kept at <= {c} deg" for c in cols) + " |")
    print("|" + " --- |" * (4 + len(cols)))
    for name, row in res["sets"].items():
        r0 = row[cols[0]]
        print(f"| {name} | {r0['frames']} | {r0['lv_shown']:.3f} | {r0['no_la']:.3f} | " + " | ".join(f"{row[c]['kept']:.3f}" for c in cols) + " |")
    if json_out:
        with open(json_out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
