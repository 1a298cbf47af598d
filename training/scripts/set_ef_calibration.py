"""Puts a new EF calibration into an LV segmentation package, its ONNX files untouched, and signs it again.

`calibrate --seg` fits the EF calibration into a checkpoint; `build-bundled` would export, compress and measure the
whole package again (and its int8 file depends on the CPU it is built on). When only the calibration changes (a
calibration fitted on other validation cines, the twenty-second wave in training/RESULTS.md), this writes the
checkpoint's `ef_calibration` into the package's manifest (calibration.ef; calibration.lv_border too with
--with-border) and what its provenance says the validation set was used for (bundle.set_val_used_for), validates
the manifest against the schema, signs it with KEY and verifies the package.

    training/.venv/bin/python training/scripts/set_ef_calibration.py PACKAGE CALIBRATED.pt [--key KEY] [--with-border]
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))

from sonoedge_train import package as pk  # noqa: E402
from sonoedge_train.bundle import manifest_ef_calibration, manifest_lv_border, set_val_used_for  # noqa: E402
from sonoedge_train.train import load_checkpoint  # noqa: E402


def _args(ap) -> None:
    ap.add_argument("checkpoint", help="a checkpoint written by calibrate --seg")
    ap.add_argument("--with-border", action="store_true", help="also the checkpoint's LV border threshold")


def _edit(ap, a, pkg, manifest) -> str:
    ck = load_checkpoint(a.checkpoint)
    if not ck.get("ef_calibration"):
        ap.error(f"{a.checkpoint}: expected a checkpoint with ef_calibration (calibrate --seg) but it has none")
    cal = manifest.setdefault("calibration", {})
    before = dict(cal.get("ef", {}))
    cal["ef"] = manifest_ef_calibration(ck["ef_calibration"])
    if a.with_border:
        cal["lv_border"] = manifest_lv_border(ck["lv_border"])
    if "val" in manifest.get("provenance", {}).get("dataset", {}):
        set_val_used_for(manifest)
    return f"{pkg}: calibration.ef {before} -> {cal['ef']}"


def main(argv=None) -> int:
    return pk.edit_manifest_cli(__doc__, "lv_segmentation", "an lv_segmentation package folder (changed in place)",
                                _args, _edit, argv)


if __name__ == "__main__":
    raise SystemExit(main())
