"""Puts a mirror check (`postprocessing.view.mirror_check`) into a view_quality package, its ONNX files untouched,
and signs it again.

With it, the runtime and the harness draw and measure no LV on a frame whose mirror image (left-right) the view
model calls A4C, more so than the frame, at a quality over the frame's by more than the margin: a four-chamber heart
shown mirrored (src/pipeline/index.ts StreamProcessor, sonoedge_train/transfer.py Packages.mirrored; training/
RESULTS.md, forty-eighth wave). The manifest is validated against the schema, signed with KEY, and the package
verified. `--remove` takes it out again.

    training/.venv/bin/python training/scripts/set_mirror_check.py PACKAGE 0
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))

from sonoedge_train import package as pk  # noqa: E402


def _args(ap) -> None:
    ap.add_argument("margin", nargs="?", type=float, help="how much higher the mirror's quality must be, in [0, 1]")
    ap.add_argument("--remove", action="store_true", help="take mirror_check out instead")


def _check(ap, a) -> None:
    if (a.margin is None) == (not a.remove):
        ap.error("expected either a margin or --remove")
    if a.margin is not None and not 0 <= a.margin <= 1:
        ap.error(f"expected a margin in [0, 1] but received {a.margin}")


def _edit(ap, a, pkg, manifest) -> str:
    view = manifest["postprocessing"]["view"]
    if a.remove:
        view.pop("mirror_check", None)
    else:
        if "A4C" not in (view.get("labels") or []):
            ap.error(f"{pkg}: expected view labels that include A4C but received {view.get('labels')}")
        view["mirror_check"] = {"margin": a.margin}
    return f"{pkg}: postprocessing.view.mirror_check {view.get('mirror_check', '(none)')}"


def main(argv=None) -> int:
    return pk.edit_manifest_cli(__doc__, "view_quality", "a view_quality package folder (changed in place)", _args,
                                _edit, argv, check=_check)


if __name__ == "__main__":
    raise SystemExit(main())
