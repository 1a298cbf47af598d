"""The model card's thresholds section: every threshold and calibration the runtime reads from a package's manifest,
with what it does and what it was fitted on, written into the package's README.md between two markers.

The section is generated from the manifest, never written by hand: `build-bundled` writes it with the card, and
package.resign_manifest rewrites it whenever a manifest changes (set_ef_calibration.py, set_view_uncertain.py), so
the card cannot disagree with the numbers the runtime uses.
"""
from __future__ import annotations

from pathlib import Path

BEGIN = "<!-- manifest-thresholds:begin (generated from manifest.json by sonoedge_train/card.py) -->"
END = "<!-- manifest-thresholds:end -->"
README = "README.md"

# What each threshold does in the runtime (docs/PROTOCOL.md), by (postprocessing output, threshold key).
MEANING = {
    ("quality", "diagnostic"): "the quality gate: the LV is segmented and the EF measured only on frames whose "
                               "smoothed quality is at or above it (a short dip is held open)",
    ("id_score", "ok"): "the in-distribution score at or above it: state `ok`; under it: `uncertain`",
    ("id_score", "unknown"): "under it: state `unknown`, nothing segmented and no EF while the shown state is "
                             "`unknown`",
    ("view", "uncertain"): "the shown view's averaged probability under it makes the state at least `uncertain` "
                           "(the display only; it gates nothing)",
}
CALIBRATION_MEANING = {
    "ef": "the runtime reports EF = slope x EF_raw + intercept (clamped to 0-100) and widens the EF's 95% interval "
          "by residual_sd; trim is the EF rule it was fitted for",
    "lv_border": "an EF whose window's mean LV border band (pixels with an LV probability strictly between low "
                 "and high) is wider than threshold pixels has quality `low`",
}


def _num(v) -> str:
    return str(v)


def _fields(d: dict, skip=("fitted_on", "method")) -> str:
    return ", ".join(f"{k} {_num(v)}" for k, v in d.items() if k not in skip and not isinstance(v, (dict, list)))


def _source(d) -> str:
    """' Method: ...; fitted on ...' from a dict's method and fitted_on, where it has them."""
    if not isinstance(d, dict):
        return ""
    parts = [f"method: {d['method']}" if d.get("method") else "", f"fitted on {d['fitted_on']}" if d.get("fitted_on") else ""]
    text = "; ".join(p for p in parts if p)
    return f" ({text})" if text else ""


def thresholds_section(manifest: dict) -> str:
    """The section's Markdown (markers included) for a manifest; says so when the manifest has no threshold."""
    lines = [BEGIN, "## Thresholds and calibration", "",
             "From this package's manifest.json, which the runtime reads (docs/MODEL_PACKAGE.md, docs/PROTOCOL.md). "
             "Every one was fitted on simulated data or set by rule; none on real scans. How they hold outside our "
             "simulator (an independent generator, generated negatives, pydicom's real cines): training/RESULTS.md.",
             ""]
    items = []
    for name, post in (manifest.get("postprocessing") or {}).items():
        if not isinstance(post, dict):
            continue
        cal = post.get("calibration") if isinstance(post.get("calibration"), dict) else {}
        if "temperature" in post:
            ece = (f"; ECE {_num(cal['ece_before'])} before, {_num(cal['ece_after'])} after"
                   if "ece_before" in cal and "ece_after" in cal else "")
            items.append(f"- `postprocessing.{name}.temperature` {_num(post['temperature'])}: the logits are divided "
                         f"by it before the softmax{ece}{_source(cal)}.")
        # a threshold's own provenance (calibration.KEY), else the output's, given once for its thresholds
        shared = _source({"method": post.get("method"), "fitted_on": cal.get("fitted_on")})
        for key, value in (post.get("thresholds") or {}).items():
            meaning = MEANING.get((name, key), "a threshold on this output")
            own = cal.get(key) if isinstance(cal.get(key), dict) else None
            src = _source(own) if own else shared or " (no fit recorded in the manifest)"
            if not own and shared:
                shared = " (the same fit)"
            items.append(f"- `postprocessing.{name}.thresholds.{key}` {_num(value)}: {meaning}{src}.")
    for key, cal in (manifest.get("calibration") or {}).items():
        if isinstance(cal, dict):
            meaning = CALIBRATION_MEANING.get(key, "a calibration the runtime applies")
            items.append(f"- `calibration.{key}`: {_fields(cal)}: {meaning}{_source(cal)}.")
    lines += items or ["- none: this package's manifest has no threshold or calibration."]
    lines += ["", END]
    return "\n".join(lines)


def with_thresholds(text: str, manifest: dict) -> str:
    """The card's text with the section replaced, or, on a card without one, put before its signing note (the
    paragraph starting "Signed with") or at its end."""
    section = thresholds_section(manifest)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + section + rest.split(END, 1)[1]
    at = text.find("Signed with")
    if at >= 0:
        return text[:at] + section + "\n\n" + text[at:]
    return text.rstrip("\n") + "\n\n" + section + "\n"


def sync_card(pkg_dir, manifest: dict) -> dict:
    """Rewrites the package's README.md section from the manifest and returns the manifest with README.md's files
    entry updated (the manifest itself is not written). A package without a README.md among its files is left as it
    is."""
    from . import package as pk
    pkg = Path(pkg_dir)
    if README not in (manifest.get("files") or {}) or not (pkg / README).is_file():
        return manifest
    card = pkg / README
    text = card.read_text(encoding="utf-8")
    new = with_thresholds(text, manifest)
    if new != text:
        card.write_text(new, encoding="utf-8")
    return {**manifest, "files": {**manifest["files"], README: pk.file_entry(card)}}
