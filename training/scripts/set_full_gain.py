"""Puts a full-gain quality (`postprocessing.quality.full_gain`) into a view_quality package, its ONNX files
untouched, and signs it again.

With it, the quality the runtime and the harness report is the larger of the model's quality on the frame and on the
frame at full display gain (src/pipeline/full-gain.ts, sonoedge_train/quality.py): a dim frame is judged by what it
shows. The manifest is validated against the schema, signed with KEY, and the package verified. `--remove` takes it
out again.

    training/.venv/bin/python training/scripts/set_full_gain.py PACKAGE 99
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))

from sonoedge_train import package as pk  # noqa: E402


def _args(ap) -> None:
    ap.add_argument("percentile", nargs="?", type=float, help="the percentile of the sector's pixels made white, in (0, 100]")
    ap.add_argument("--remove", action="store_true", help="take full_gain out instead")


def _check(ap, a) -> None:
    if (a.percentile is None) == (not a.remove):
        ap.error("expected either a percentile or --remove")
    if a.percentile is not None and not 0 < a.percentile <= 100:
        ap.error(f"expected a percentile in (0, 100] but received {a.percentile}")


def _edit(ap, a, pkg, manifest) -> str:
    quality = manifest["postprocessing"]["quality"]
    if a.remove:
        quality.pop("full_gain", None)
    else:
        quality["full_gain"] = {"percentile": a.percentile}
    return f"{pkg}: postprocessing.quality.full_gain {quality.get('full_gain', '(none)')}"


def main(argv=None) -> int:
    return pk.edit_manifest_cli(__doc__, "view_quality", "a view_quality package folder (changed in place)", _args,
                                _edit, argv, check=_check)


if __name__ == "__main__":
    raise SystemExit(main())
