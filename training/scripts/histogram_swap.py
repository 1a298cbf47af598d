"""A diagnosis, nothing chosen on it (training/RESULTS.md, forty-fourth wave's second aside): is it the real cine's
grey levels or what they draw that keeps its quality under the gate? Each set's frames have their sector's grey
levels (pixels over 4 of 255) mapped, by quantile, onto another set's, which keeps every frame's shapes and
ordering of brightness and swaps only the intensity distribution; the bundled view/quality model then reads them
(the harness; per frame, unsmoothed): median quality, the share at the quality gate (0.5), the share called A4C,
the share the guidance head calls tilt_to_apex (its "foreshortened").

Sets (already reported): pydicom's real apical cine (examples_ybr_color, its fan as `replay --sector auto` finds
it); our validation frames (wide_val shard 0, A4C with a quality label of at least 0.6); the independent
generator's clean A4C cines of phantom_t659 (every 16th frame).

    training/.venv/bin/python training/scripts/histogram_swap.py [--out /tmp/histogram_swap.json]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))
sys.path.insert(0, str(ROOT / "training" / "scripts"))

from runtime_ef import CACHE, diagnosis_args, model_crop, phantom_cines, real_a4c_frames, table_and_json  # noqa: E402
from sonoedge_train.constants import GUIDANCE, VIEWS  # noqa: E402
from sonoedge_train.transfer import Packages  # noqa: E402

FLOOR = 4  # grey levels at or under it: outside the sector or black; left as they are
QUANTILES = np.linspace(0.0, 1.0, 257)


def sector_values(frames_u8) -> np.ndarray:
    return frames_u8[frames_u8 > FLOOR].astype(np.float32)


def swap(frames_u8, reference_values) -> np.ndarray:
    """Each frame's sector grey levels mapped by quantile onto reference_values' distribution (uint8 out): a grey
    level goes to the reference's quantile at its mid-rank in the frame (the share of the sector's pixels below it
    plus half its own), so that a level many pixels share is not pulled to one end of its run. A frame with no pixel
    over the floor is left as it is."""
    target = np.quantile(reference_values, QUANTILES)
    out = frames_u8.copy()
    for k, f in enumerate(frames_u8):
        m = f > FLOOR
        if not m.any():
            continue
        levels, inverse, counts = np.unique(f[m], return_inverse=True, return_counts=True)
        mid = (np.cumsum(counts) - counts / 2) / counts.sum()
        out[k][m] = np.clip(np.rint(np.interp(mid, QUANTILES, target)), 0, 255).astype(np.uint8)[inverse]
    return out


def read(p: Packages, frames_u8) -> dict:
    o = p.view_quality(frames_u8)
    q = o["quality"].reshape(-1)
    return {"frames": len(q), "median_quality": round(float(np.median(q)), 3),
            "at_gate": round(float(np.mean(q >= p.gate)), 3),
            "a4c": round(float(np.mean(o["prob"].argmax(1) == VIEWS.index("A4C"))), 3),
            "tilt_to_apex": round(float(np.mean(o["guidance"].argmax(1) == GUIDANCE.index("tilt_to_apex"))), 3)}


def main(argv=None) -> int:
    a = diagnosis_args(__doc__, "/tmp/histogram_swap.json", argv)
    p = Packages(a.models)
    real = real_a4c_frames()
    s = np.load(CACHE / "wide_val" / "shard_00000.npz")
    ours = s["frames"][(s["view"] == VIEWS.index("A4C")) & (s["quality"] >= 0.6)]
    ind = np.concatenate([model_crop(fr[::16], roi) for _, view, fr, roi, *_ in phantom_cines(CACHE / "phantom_t659")
                          if view == "A4C"])
    vals = {"real": sector_values(real), "ours": sector_values(ours), "independent": sector_values(ind)}
    rows = {
        "real": read(p, real),
        "real, grey levels of ours": read(p, swap(real, vals["ours"])),
        "real, grey levels of the independent generator's": read(p, swap(real, vals["independent"])),
        "ours (A4C, label >= 0.6)": read(p, ours),
        "ours, grey levels of the real cine": read(p, swap(ours, vals["real"])),
        "independent (clean A4C)": read(p, ind),
        "independent, grey levels of the real cine": read(p, swap(ind, vals["real"])),
    }
    keys = ("frames", "median_quality", "at_gate", "a4c", "tilt_to_apex")
    table_and_json(rows, keys, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
