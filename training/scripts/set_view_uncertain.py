"""Puts a view threshold (`postprocessing.view.thresholds.uncertain`) into a view_quality package, its ONNX files
untouched, and signs it again.

While the shown view's averaged probability (the runtime's display rule) is under the threshold, the runtime's
result state is at least `uncertain` (docs/PROTOCOL.md, "Result state"). The threshold is a quantile of that
probability over the frames shown right, read from a `view_display.py --out` report (its
`shown_probability_quantiles`, the first setting unless --setting says which); its provenance goes into
`postprocessing.view.calibration.uncertain`. The manifest is validated against the schema, signed with KEY, and the
package verified.

    training/.venv/bin/python training/scripts/set_view_uncertain.py PACKAGE REPORT.json [--quantile 0.05]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))

from sonoedge_train import package as pk  # noqa: E402


def uncertain_from_report(report: dict, quantile: float, setting: str | None = None) -> dict:
    """The threshold and its provenance from a view_display.py report."""
    settings = report["settings"]
    key = setting or next(iter(settings))
    rows = settings[key].get("shown_probability_quantiles")
    if not rows or str(quantile) not in rows:
        raise ValueError(f"expected a report with shown_probability_quantiles for quantile {quantile} "
                         f"(setting {key}) but received {sorted(rows or {})}")
    row = rows[str(quantile)]
    return {"threshold": row["threshold"], "calibration": {
        "method": f"the {quantile} quantile of the shown view's averaged probability (display rule alpha, margin, "
                  f"hold {key}) over the frames shown right",
        "fitted_on": f"{report['source']} ({report['cines']} cines; training/scripts/view_display.py)",
        "wrong_under": row["wrong_under"]}}


def _args(ap) -> None:
    ap.add_argument("report", help="a view_display.py --out report")
    ap.add_argument("--quantile", type=float, default=0.05)
    ap.add_argument("--setting", help="the report's display setting ALPHA,MARGIN,HOLD (default: its first)")


def _edit(ap, a, pkg, manifest) -> str:
    try:
        fit = uncertain_from_report(json.loads(Path(a.report).read_text()), a.quantile, a.setting)
    except (ValueError, KeyError) as e:
        ap.error(f"{a.report}: {e}")
    view = manifest["postprocessing"]["view"]
    view["thresholds"] = {**view.get("thresholds", {}), "uncertain": fit["threshold"]}
    view.setdefault("calibration", {})["uncertain"] = fit["calibration"]
    return f"{pkg}: postprocessing.view.thresholds.uncertain {fit['threshold']}"


def main(argv=None) -> int:
    return pk.edit_manifest_cli(__doc__, "view_quality", "a view_quality package folder (changed in place)", _args,
                                _edit, argv)


if __name__ == "__main__":
    raise SystemExit(main())
