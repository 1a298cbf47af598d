"""Puts a segmentation bar (`postprocessing.quality.thresholds.segmentation`) into a view_quality package, its ONNX
files untouched, and signs it again.

The runtime starts to segment once the smoothed quality reaches this bar on an apical view (instead of the
diagnostic bar, `thresholds.diagnostic`); frames it lets through under the diagnostic bar's exit make the EF's
quality `low` (docs/PROTOCOL.md, "Result state"). The bar may not be above the diagnostic one. The manifest is
validated against the schema, signed with KEY, and the package verified. `--remove` takes the bar out again.

    training/.venv/bin/python training/scripts/set_segmentation_bar.py PACKAGE 0.25
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))

from sonoedge_train import package as pk  # noqa: E402


def _args(ap) -> None:
    ap.add_argument("bar", nargs="?", type=float, help="the smoothed quality at which segmentation starts, in [0, diagnostic]")
    ap.add_argument("--remove", action="store_true", help="take thresholds.segmentation out instead")


def _check(ap, a) -> None:
    if (a.bar is None) == (not a.remove):
        ap.error("expected either a bar or --remove")


def _edit(ap, a, pkg, manifest) -> str:
    thresholds = manifest["postprocessing"]["quality"].setdefault("thresholds", {})
    if a.remove:
        thresholds.pop("segmentation", None)
        if not thresholds:
            del manifest["postprocessing"]["quality"]["thresholds"]
    else:
        diagnostic = thresholds.get("diagnostic", 0.5)
        if not 0 <= a.bar <= diagnostic:
            ap.error(f"expected a bar in [0, {diagnostic}] (the diagnostic bar) but received {a.bar}")
        thresholds["segmentation"] = a.bar
    return f"{pkg}: postprocessing.quality.thresholds.segmentation {thresholds.get('segmentation', '(none)')}"


def main(argv=None) -> int:
    return pk.edit_manifest_cli(__doc__, "view_quality", "a view_quality package folder (changed in place)", _args,
                                _edit, argv, check=_check)


if __name__ == "__main__":
    raise SystemExit(main())
