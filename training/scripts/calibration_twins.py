"""What the EF calibration owes one part of the simulator (twenty-second wave, training/RESULTS.md): the calibration
cines (wide_val_beats: 20 apical cines each at 16, 32 and 48 frames, seeds 75, 76, 77, difficulty `wide`) simulated
again with one part switched off, every other draw the same, and the bundled LV model's EF calibration fitted on
them with the runtime's trimmed rule, beside the one fitted on the cines as drawn.

Variants: `nopersist` (no frame averaging: `--difficulty wide_nopersist`); `nothick` (the LV wall keeps the mean of
its drawn thickness instead of thickening 45% in systole: es_ablation.py's); `nomotion` (no frame displacement
blur, motion_mm 0); `nohaze` (no near-field haze); `nonoise` (no electronic noise); `allclean` (es_ablation.py's
five off at once: frame averaging, wall thickening, trabeculae, blood-pool clutter, specular echoes).

    training/.venv/bin/python training/scripts/calibration_twins.py --seg training/runs/wide/lvseg_ft17/final.pt \\
        [--variants nopersist,nothick,nomotion,nohaze,nonoise,allclean] [--data training/data_cache] [--out-dir training/runs/wide]

Writes DATA/wide_val_beats_TAG_{16,32,48}(_raw) (TAG np, nt, nm, nh, nn, ac) and OUT_DIR/calibration_twins_{base,nopersist,nothick}.pt
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
from sonoedge_train.data import synthetic  # noqa: E402
from sonoedge_train.sim import simulator as S  # noqa: E402

SETS = ((16, 75), (32, 76), (48, 77))
# name: (set tag, difficulty, CineParams fields set to 0 after every draw, constant wall)
VARIANTS = {
    "nopersist": ("np", "wide_nopersist", (), False),
    "nothick": ("nt", "wide", (), True),
    "nomotion": ("nm", "wide", ("motion_mm",), False),
    "nohaze": ("nh", "wide", ("haze",), False),
    "nonoise": ("nn", "wide", ("noise",), False),
    "allclean": ("ac", "wide", ("persistence", "trab", "clutter", "specular"), True),
}


def twins(data: Path, variant: str) -> str:
    """Simulates and renders the calibration cines of `variant` (once); returns them joined by commas."""
    tag, difficulty, zero, const_wall = VARIANTS[variant]
    states, params = S._frame_states, synthetic.sample_cine_params

    def zeroed(*args, **kw):
        p = params(*args, **kw)
        for name in zero:
            setattr(p, name, 0.0)
        return p
    if const_wall:
        S._frame_states = _constant_wall(states)
    synthetic.sample_cine_params = zeroed
    try:
        for frames, seed in SETS:
            out = data / f"wide_val_beats_{tag}_{frames}"
            if (out / "index.json").exists():
                continue
            cli(["simulate", "--out", f"{out}_raw", "--cines", "20", "--seed", str(seed), "--views", "A4C,A2C",
                 "--difficulty", difficulty, "--frames", str(frames), "--quiet"])
            cli(["render", f"{out}_raw", "--out", str(out)])
    finally:
        S._frame_states, synthetic.sample_cine_params = states, params
    return ",".join(str(data / f"wide_val_beats_{tag}_{f}") for f, _ in SETS)


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
        if v not in VARIANTS:
            ap.error(f"expected variants among {', '.join(VARIANTS)} but received {v!r}")
        sets[v] = twins(data, v)
    print("| calibration cines | EF bias before calibration | slope | intercept | residual SD |")
    print("| --- | --- | --- | --- | --- |")
    for name, val in sets.items():
        r = calibrate_seg(a.seg, val, Path(a.out_dir) / f"calibration_twins_{name}.pt", log=lambda *_: None, trim=0.1)
        print(f"| {name} | {r['bias_before']:+.2f} | {r['slope']:.3f} | {r['intercept']:+.2f} | {r['residual_sd']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
