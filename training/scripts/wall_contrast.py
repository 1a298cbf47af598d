"""A diagnosis, nothing chosen on it (training/RESULTS.md, forty-fourth wave's aside): how the LV wall stands out
from the cavity on pydicom's real apical cine against both generators, in the quality label's own segments
(simulator.wall_segments: 12 angular segments about the LV centroid, the myocardium within 4 px outside the LV
against the cavity within 2 px inside it). Per segment: the contrast the label ramps on (myocardium mean minus cavity
mean, display units 0-1; 0.03-0.15 makes a segment go from unseen to seen), and the contrast-to-noise ratio (the same
difference over sqrt(sd_myocardium^2 + sd_cavity^2): how far the wall stands out of the speckle, which a reader's
eye judges and which a display gain scales away; Smith et al., "Low contrast detectability and contrast/detail
analysis in medical ultrasound", IEEE Trans Sonics Ultrason 1983). Per frame: the label's wall visibility.

Sets, with the bundled packages in the harness: the real cine (examples_ybr_color, its fan as `replay --sector auto`
finds it) around the LV package's labels; our validation frames (wide_val shard 0, A4C and A2C, every 2nd frame)
around their reference labels and around the LV package's; the independent generator's clean apical cines of
phantom_t659 (already reported; every 16th frame) around the LV package's labels.

    training/.venv/bin/python training/scripts/wall_contrast.py [--out /tmp/wall_contrast.json]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))
sys.path.insert(0, str(ROOT / "training" / "scripts"))

from runtime_ef import CACHE, diagnosis_args, model_crop, phantom_cines, real_a4c_frames, table_and_json  # noqa: E402
from sonoedge_train.constants import APICAL_IDS  # noqa: E402
from sonoedge_train.sim.simulator import wall_segments, wall_visibility  # noqa: E402
from sonoedge_train.transfer import Packages  # noqa: E402


def measure(frames_u8, labels) -> dict:
    """Medians over the frames' segments (contrast, CNR, myocardium, cavity, their SDs) and over frames (the label's
    wall visibility), with the frame and segment counts."""
    segs, vis = [], []
    for f, m in zip(frames_u8, labels):
        x = f.astype(np.float32) / 255
        vis.append(wall_visibility(x, m))
        for o, i in wall_segments(m):
            segs.append((x[o].mean(), x[i].mean(), x[o].std(), x[i].std()))
    a = np.array(segs, np.float64).reshape(-1, 4)
    c = a[:, 0] - a[:, 1]
    cnr = c / np.sqrt(a[:, 2] ** 2 + a[:, 3] ** 2 + 1e-12)
    med = lambda v: round(float(np.median(v)), 3)  # noqa: E731
    return {"frames": len(vis), "segments": len(a), "visibility": med(vis),
            "visibility_p25": round(float(np.percentile(vis, 25)), 3), "contrast": med(c), "cnr": med(cnr),
            "myocardium": med(a[:, 0]), "cavity": med(a[:, 1]), "sd_myocardium": med(a[:, 2]),
            "sd_cavity": med(a[:, 3])}


def main(argv=None) -> int:
    a = diagnosis_args(__doc__, "/tmp/wall_contrast.json", argv)
    p = Packages(a.models)
    out = {}
    real = real_a4c_frames()
    out["real: examples_ybr_color (LV package's labels)"] = measure(real, p.seg_labels(real))
    s = np.load(CACHE / "wide_val" / "shard_00000.npz")
    idx = np.nonzero(np.isin(s["view"], APICAL_IDS))[0][::2]
    fr = s["frames"][idx]
    out["ours: wide_val apical (reference labels)"] = measure(fr, s["masks"][idx])
    out["ours: wide_val apical (LV package's labels)"] = measure(fr, p.seg_labels(fr))
    ind = np.concatenate([model_crop(frames[::16], roi) for _, _, frames, roi, *_ in phantom_cines(CACHE / "phantom_t659")])
    out["independent: t659 clean apical (LV package's labels)"] = measure(ind, p.seg_labels(ind))
    keys = ("frames", "segments", "visibility", "visibility_p25", "contrast", "cnr", "myocardium", "cavity",
            "sd_myocardium", "sd_cavity")
    table_and_json(out, keys, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
