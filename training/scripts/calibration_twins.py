"""What the EF calibration owes one part of the simulator (twenty-second and twenty-third waves, training/RESULTS.md):
the calibration cines (wide_val_beats: 20 apical cines each at 16, 32 and 48 frames, seeds 75, 76, 77, difficulty
`wide`) simulated again with one part changed, every other draw the same, and the bundled LV model's EF calibration
fitted on them with the runtime's trimmed rule, beside the one fitted on the cines as drawn (`base`, simulated
first when missing).

Variants (VARIANTS below has each one's fields): `nopersist` (no frame averaging: `--difficulty wide_nopersist`);
`nothick` (the LV wall keeps the mean of its drawn thickness instead of thickening 45% in systole: es_ablation.py's);
`nomotion` (no frame displacement blur, motion_mm 0); `nohaze` (no near-field haze); `nonoise` (no electronic
noise); `allclean` (es_ablation.py's five off at once: frame averaging, wall thickening, trabeculae, blood-pool
clutter, specular echoes). Starting from `nopersist` (the cines the bundled calibration is fitted on since the
twenty-second wave), one image part at its legacy value: `np_sidelobe`, `np_psf`, `np_cell`, `np_hetero`,
`np_atten`, `np_gain`, `np_amp`, `np_blood`, `np_lung`, `np_sector`; `np_bare` (all of those with allclean's);
`np_legacy` (randomisation strength 0); `np_iv` (beats with isovolumic phases, `--difficulty wide_nopersist_iv`:
the cines the bundled calibration is fitted on since the twenty-third wave).

    training/.venv/bin/python training/scripts/calibration_twins.py --seg models/lv_segmentation \\
        [--variants nopersist,nothick,...] [--data training/data_cache] [--out-dir training/runs/wide]

(--seg: a checkpoint or a package folder, unpacked to the same function.) Writes
DATA/wide_val_beats_TAG_{16,32,48}(_raw) (TAG the variant's, VARIANTS) and OUT_DIR/calibration_twins_VARIANT.pt
(calibrated checkpoints: `set_ef_calibration.py` puts one into a package); prints each calibration.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))

from es_ablation import _constant_wall  # noqa: E402
from sonoedge_train.calibrate import calibrate_seg  # noqa: E402
from sonoedge_train.cli import main as cli  # noqa: E402
from sonoedge_train.data import synthetic  # noqa: E402
from sonoedge_train.sim import simulator as S  # noqa: E402

SETS = ((16, 75), (32, 76), (48, 77))
NP = "wide_nopersist"


class Twin(NamedTuple):
    """One variant: its sets' tag, its difficulty, CineParams fields set after every draw ({field: value, or a
    function of the drawn value}), the constant wall (es_ablation.py's), `simulate --strength` (None: the
    difficulty's)."""
    tag: str
    difficulty: str
    fixed: dict = {}
    const_wall: bool = False
    strength: float | None = None


# The twenty-third wave's variants (np_*) start from the no-averaging twins, the cines the bundled calibration is
# fitted on since the twenty-second wave.
VARIANTS = {
    "base": Twin("", "wide"),
    "nopersist": Twin("np", NP),
    "nothick": Twin("nt", "wide", const_wall=True),
    "nomotion": Twin("nm", "wide", {"motion_mm": 0.0}),
    "nohaze": Twin("nh", "wide", {"haze": 0.0}),
    "nonoise": Twin("nn", "wide", {"noise": 0.0}),
    "allclean": Twin("ac", "wide", {k: 0.0 for k in ("persistence", "trab", "clutter", "specular")}, True),
    "np_sidelobe": Twin("np_sl", NP, {"sidelobe": 0.0}),  # no side-lobe clutter across the beam
    "np_psf": Twin("np_psf", NP, {"psf_scale": 1.0}),  # the legacy point-spread function's size
    "np_cell": Twin("np_cell", NP, {"cell_mm": 0.35}),  # the legacy speckle cell
    "np_hetero": Twin("np_het", NP, {"hetero": 0.0}),  # no patchy tissue echo
    "np_atten": Twin("np_att", NP, {"atten": 0.5, "tgc_err": 0.0, "tgc_knobs": lambda v: [0.0] * len(v)}),
    "np_gain": Twin("np_gdr", NP, {"gain_db": 0.0, "dr_db": 55.0}),  # gain and dynamic range at the middle
    "np_amp": Twin("np_amp", NP, {"amp_scale": lambda v: [1.0] * len(v)}),  # every tissue at its legacy echo
    "np_blood": Twin("np_bl", NP, {"amp_scale": lambda v: [1.0 if i in (1, 3, 4) else x for i, x in enumerate(v)]}),
    "np_lung": Twin("np_lung", NP, {"lung": 0.0, "ribs": []}),  # no lung beside the heart, no rib shadows
    "np_sector": Twin("np_sec", NP, {"sector_deg": 75.0}),  # the legacy sector angle
}
# (np_blood: the blood pool at its legacy echo.) Every np_* part at once (np_amp's every tissue, which np_blood's
# blood pool is part of), with allclean's parts and the constant wall: the barest image of the same hearts
VARIANTS["np_bare"] = Twin("np_bare", NP, {k: v for name, t in VARIANTS.items() if name.startswith("np_")
                                           and name != "np_blood" for k, v in t.fixed.items()}
                           | VARIANTS["allclean"].fixed, True)
# the same hearts at randomisation strength 0: the legacy look, the LV shape included
VARIANTS["np_legacy"] = Twin("np_leg", NP, strength=0.0)
# the same hearts with the isovolumic phases of a real beat
VARIANTS["np_iv"] = Twin("np_iv", "wide_nopersist_iv")


def set_path(data: Path, tag: str, frames: int) -> Path:
    return data / (f"wide_val_beats_{tag}_{frames}" if tag else f"wide_val_beats_{frames}")


def twins(data: Path, variant: str) -> str:
    """Simulates and renders the calibration cines of `variant` (once); returns them joined by commas."""
    tag, difficulty, fixed, const_wall, strength = VARIANTS[variant]
    states, params = S._frame_states, synthetic.sample_cine_params

    def fixed_params(*args, **kw):
        p = params(*args, **kw)
        for name, value in fixed.items():
            setattr(p, name, value(getattr(p, name)) if callable(value) else value)
        return p
    if const_wall:
        S._frame_states = _constant_wall(states)
    synthetic.sample_cine_params = fixed_params
    try:
        for frames, seed in SETS:
            out = set_path(data, tag, frames)
            if (out / "index.json").exists():
                continue
            cli(["simulate", "--out", f"{out}_raw", "--cines", "20", "--seed", str(seed), "--views", "A4C,A2C",
                 "--difficulty", difficulty, "--frames", str(frames), "--quiet",
                 *([] if strength is None else ["--strength", str(strength)])])
            cli(["render", f"{out}_raw", "--out", str(out)])
    finally:
        S._frame_states, synthetic.sample_cine_params = states, params
    return ",".join(str(set_path(data, tag, f)) for f, _ in SETS)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seg", required=True, help="the LV checkpoint the bundled package was built from")
    ap.add_argument("--variants", default="nopersist,nothick")
    ap.add_argument("--data", default="training/data_cache", help="where the sets are (as written into fitted_on)")
    ap.add_argument("--out-dir", default="training/runs/wide")
    a = ap.parse_args(argv)
    data = Path(a.data)
    sets = {"base": twins(data, "base")}
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
