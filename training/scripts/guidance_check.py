"""A diagnosis, nothing chosen on it (training/RESULTS.md, forty-second wave): does the view package's probe guidance
head (hold, slide_left, slide_right, rotate_cw, rotate_ccw, tilt_to_apex) transfer? It reaches only the API's
PipelineResult.guidance today; no output carries it.

With the bundled packages in the harness: on our simulator's validation frames (wide_val, the apical frames of its
first shards, which carry the guidance label), its accuracy and what it says per true label; on the independent
generator's apical cines of the `phantom` set (already reported; 8 cines a variant, 32 frames each), what it says per
variant; and on pydicom's real apical cine (examples_ybr_color, read from the installed package). The independent
generator has no guidance label (phantom_a652, 40 longer cines of four image variants, already reported, adds
frames to those variants), so only the direction of change is a check: a clean cine
should read mostly `hold`, a foreshortened one more `tilt_to_apex`, an off-axis one more slides and rotations.

    training/.venv/bin/python training/scripts/guidance_check.py [--out /tmp/guidance_check.json]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))
sys.path.insert(0, str(ROOT / "training" / "scripts"))

from runtime_ef import CACHE, diagnosis_args, model_crop, real_a4c_frames  # noqa: E402
from sonoedge_train.constants import APICAL_IDS, GUIDANCE  # noqa: E402
from sonoedge_train.transfer import Packages  # noqa: E402


def shares(pred: np.ndarray) -> dict:
    return {g: round(float((pred == i).mean()), 3) for i, g in enumerate(GUIDANCE)}


def ours(p: Packages, shards=(0, 1, 2, 3)) -> dict:
    preds, labels = [], []
    for s in shards:
        f = CACHE / "wide_val" / f"shard_{s:05d}.npz"
        if not f.exists():
            continue
        d = np.load(f)
        sel = np.isin(d["view"], APICAL_IDS) & (d["guidance"] >= 0)
        preds.append(np.asarray(p.view_quality(d["frames"][sel])["guidance"]).argmax(1))
        labels.append(d["guidance"][sel])
    pred, lab = np.concatenate(preds), np.concatenate(labels)
    return {"frames": int(len(pred)), "accuracy": round(float((pred == lab).mean()), 3),
            "label shares": shares(lab), "said": shares(pred),
            "said, per true label": {GUIDANCE[g]: {"frames": int((lab == g).sum()), **shares(pred[lab == g])}
                                     for g in range(len(GUIDANCE)) if (lab == g).any()}}


def independent(p: Packages, root=CACHE / "phantom") -> dict:
    index = json.loads((root / "index.json").read_text())
    by: dict[str, list] = {}
    for c in index["cines"]:
        if c["view"] not in ("A4C", "A2C"):
            continue
        frames = np.load(root / c["file"])["frames"]
        r = c["roi"]
        x = model_crop(frames, (r["x"], r["y"], r["width"], r["height"]))
        by.setdefault(c["variant"], []).append(np.asarray(p.view_quality(x)["guidance"]).argmax(1))
    return {v: {"cines": len(ps), "frames": int(sum(len(q) for q in ps)), **shares(np.concatenate(ps))} for v, ps in sorted(by.items())}


def real(p: Packages) -> dict:
    x = real_a4c_frames()
    return {"frames": int(len(x)), **shares(np.asarray(p.view_quality(x)["guidance"]).argmax(1))}


def main(argv=None) -> int:
    a = diagnosis_args(__doc__, "/tmp/guidance_check.json", argv)
    p = Packages(a.models)
    s = {"ours (wide_val, apical frames with a label)": ours(p), "independent (phantom, apical cines by variant)": independent(p),
         "independent (phantom_a652, 40 apical cines of 128 frames by variant)": independent(p, CACHE / "phantom_a652"),
         "real: pydicom examples_ybr_color": real(p)}
    Path(a.out).write_text(json.dumps(s, indent=1))
    print(json.dumps(s, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
