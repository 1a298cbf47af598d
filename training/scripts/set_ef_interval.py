"""Sets how an LV segmentation package's EF interval treats its calibration (`calibration.ef.interval`), its ONNX
files and the calibration's numbers untouched, and signs it again.

`statistical`: the runtime's 95% interval is the EF +- 1.96 sqrt(residual_sd^2 + s^2 / n). `with_uncalibrated`: it
runs from the lower of the EF and the uncalibrated EF minus that half-width to the higher plus it, for a calibration
fitted on simulation that may not hold for a scan (training/RESULTS.md, forty-third and forty-fourth waves; the
bundled package has it). `calibrate --seg` chooses one for a new calibration; this sets it on a package built
before. The manifest is validated against the schema, signed with KEY, and the package verified.

    training/.venv/bin/python training/scripts/set_ef_interval.py PACKAGE with_uncalibrated
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))

from sonoedge_train import package as pk  # noqa: E402

INTERVALS = ("statistical", "with_uncalibrated")


def _edit(ap, a, pkg, manifest) -> str:
    ef = manifest.get("calibration", {}).get("ef")
    if ef is None:
        ap.error(f"{pkg}: expected a package with calibration.ef but it has none")
    ef["interval"] = a.interval
    return f"{pkg}: calibration.ef.interval {a.interval}"


def main(argv=None) -> int:
    return pk.edit_manifest_cli(__doc__, "lv_segmentation",
                                "an lv_segmentation package folder with an EF calibration (changed in place)",
                                lambda ap: ap.add_argument("interval", choices=INTERVALS), _edit, argv)


if __name__ == "__main__":
    raise SystemExit(main())
