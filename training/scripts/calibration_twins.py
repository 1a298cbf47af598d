"""What the EF calibration owes one part of the simulator (twenty-second wave, training/RESULTS.md): the calibration
cines (wide_val_beats: 20 apical cines each at 16, 32 and 48 frames, seeds 75, 76, 77, difficulty `wide`) simulated
again with one part switched off, every other draw the same, and the bundled LV model's EF calibration fitted on
them with the runtime's trimmed rule, beside the one fitted on the cines as drawn.

Variants: `nopersist` (no frame averaging: `--difficulty wide_nopersist`); `nothick` (the LV wall keeps the mean of
its drawn thickness instead of thickening 45% in systole: es_ablation.py's).

    training/.venv/bin/python training/scripts/calibration_twins.py --seg training/runs/wide/lvseg_ft17/final.pt \\
        [--variants nopersist,nothick] [--data training/data_cache] [--out-dir training/runs/wide]

Writes DATA/wide_val_beats_{np,nt}_{16,32,48}(_raw) and OUT_DIR/calibration_twins_{base,nopersist,nothick}.pt
(calibrated checkpoints: `set_ef_calibration.py` puts one into a package); prints each calibration.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))

from es_ablation import _constant_wall  # noqa: E402
from sonoedge_train.calibrate import calibrate_seg  # noqa: E402
from sonoedge_train.cli import main as cli  # noqa: E402
from sonoedge_train.sim import simulator as S  # noqa: E402

SETS = ((16, 75), (32, 76), (48, 77))
TAG = {"nopersist": "np", "nothick": "nt"}


def twins(data: Path, variant: str) -> str:
    """Simulates and renders the calibration cines of `variant` (once); returns them joined by commas."""
    original = S._frame_states
    if variant == "nothick":
        S._frame_states = _constant_wall(original)
    try:
        for frames, seed in SETS:
            out = data / f"wide_val_beats_{TAG[variant]}_{frames}"
            if (out / "index.json").exists():
                continue
            cli(["simulate", "--out", f"{out}_raw", "--cines", "20", "--seed", str(seed), "--views", "A4C,A2C",
                 "--difficulty", "wide_nopersist" if variant == "nopersist" else "wide", "--frames", str(frames),
                 "--quiet"])
            cli(["render", f"{out}_raw", "--out", str(out)])
    finally:
        S._frame_states = original
    return ",".join(str(data / f"wide_val_beats_{TAG[variant]}_{f}") for f, _ in SETS)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seg", required=True, help="the LV checkpoint the bundled package was built from")
    ap.add_argument("--variants", default="nopersist,nothick")
    ap.add_argument("--data", default="training/data_cache", help="where the sets are (as written into fitted_on)")
    ap.add_argument("--out-dir", default="training/runs/wide")
    a = ap.parse_args(argv)
    data = Path(a.data)
    sets = {"base": ",".join(str(data / f"wide_val_beats_{f}") for f, _ in SETS)}
    for v in a.variants.split(","):
        if v not in TAG:
            ap.error(f"expected variants among {', '.join(TAG)} but received {v!r}")
        sets[v] = twins(data, v)
    print("| calibration cines | EF bias before calibration | slope | intercept | residual SD |")
    print("| --- | --- | --- | --- | --- |")
    for name, val in sets.items():
        r = calibrate_seg(a.seg, val, Path(a.out_dir) / f"calibration_twins_{name}.pt", log=lambda *_: None, trim=0.1)
        print(f"| {name} | {r['bias_before']:+.2f} | {r['slope']:.3f} | {r['intercept']:+.2f} | {r['residual_sd']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
