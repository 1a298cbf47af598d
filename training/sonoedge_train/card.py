"""The model card's thresholds section: every threshold and calibration the runtime reads from a package's manifest,
with what it does and what it was fitted on, written into the package's README.md between two markers.

The section is generated from the manifest, never written by hand: `build-bundled` writes it with the card, and
package.resign_manifest rewrites it whenever a manifest changes (the training/scripts/set_*.py scripts), so
the card cannot disagree with the numbers the runtime uses.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

BEGIN = "<!-- manifest-thresholds:begin (generated from manifest.json by sonoedge_train/card.py) -->"
END = "<!-- manifest-thresholds:end -->"
README = "README.md"

# What each threshold does in the runtime (docs/PROTOCOL.md), by (postprocessing output, threshold key).
MEANING = {
    ("quality", "diagnostic"): "the default quality bar (`pipeline.qualityThreshold` overrides it): without a "
                               "segmentation bar the LV is segmented once the smoothed quality reaches it on an "
                               "apical view, and the gate stays "
                               "open down to 0.1 under it (`qualityHysteresis`); a dip below that is still measured "
                               "for up to 16 frames (`qualityHold`), making the EF's quality `low`; the LOW_QUALITY "
                               "flag is the same bar",
    ("quality", "segmentation"): "the smoothed quality at which the LV is segmented instead of the quality bar "
                                 "(at most it; `pipeline.qualityThreshold` overrides both): frames measured while "
                                 "the quality state is poor make the EF's quality `low`; the quality state and the "
                                 "LOW_QUALITY flag keep the quality bar",
    ("id_score", "ok"): "the in-distribution score at or above it: state `ok`; under it: `uncertain`, and an EF "
                        "whose window holds such frames has quality `low`",
    ("id_score", "unknown"): "under it: state `unknown`; while the shown state is `unknown` nothing is segmented "
                             "and there is no EF, and a frame unknown on its own is left out of the EF",
    ("view", "uncertain"): "the shown view's averaged probability under it makes the state at least `uncertain` "
                           "(the display only; it gates nothing)",
}
FULL_GAIN = ("the quality reported is the larger of the model's quality on the frame and on the frame at full "
             "display gain (each pixel's share of white divided by that percentile of the shares above 2/255, clipped "
             "to white); the view and the in-distribution score are the frame's own (set by rule, not fitted)")
MIRROR_CHECK = ("no LV is drawn or measured on a frame whose mirror image the model reads as a four-chamber view, more "
                "so than the frame and at a higher quality by more than the margin (a heart shown mirrored; a scanner "
                "that shows hearts mirrored by convention sets the stream's flip) (set by rule, not fitted)")
# Each calibration's keys the runtime reads, and what it does with them; any other key is provenance.
CALIBRATION = {
    "ef": (("slope", "intercept", "residual_sd", "trim", "interval"),
           "the runtime reports EF = slope x EF_raw + intercept, clamped to 0-100, with a 95% interval of "
           "+-1.96 sqrt(residual_sd^2 + s^2 / n) (s the beat-to-beat spread, n the beats); with trim, the EDV and "
           "ESV are the means of the trim share of the window's largest and smallest volumes; with interval "
           "with_uncalibrated, the interval also covers EF_raw (from the lower of the two minus that half-width to "
           "the higher plus it)"),
    "lv_border": (("low", "high", "threshold"),
                  "an EF whose window's mean LV border band (pixels with an LV probability strictly between low "
                  "and high, per border pixel) is wider than threshold pixels has quality `low`"),
}


def _fields(d: dict, skip=("fitted_on", "method")) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items() if k not in skip and not isinstance(v, (dict, list)))


def _source(d) -> str:
    """' (method: ...; fitted on ...)' from a dict's method and fitted_on, where it has them."""
    if not isinstance(d, dict):
        return ""
    parts = [f"method: {d['method']}" if d.get("method") else "",
             f"fitted on {d['fitted_on']}" if d.get("fitted_on") else ""]
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
            ece = (f"; ECE {cal['ece_before']} before, {cal['ece_after']} after"
                   if "ece_before" in cal and "ece_after" in cal else "")
            items.append(f"- `postprocessing.{name}.temperature` {post['temperature']}: the logits are divided "
                         f"by it before the softmax{ece}{_source(cal)}.")
        # a threshold's own provenance (calibration.KEY), else the output's, given once for its thresholds
        shared = _source({"method": post.get("method"), "fitted_on": cal.get("fitted_on")})
        for key, value in (post.get("thresholds") or {}).items():
            meaning = MEANING.get((name, key), "a threshold on this output")
            own = cal.get(key) if isinstance(cal.get(key), dict) else None
            src = _source(own) if own else shared or " (no fit recorded in the manifest)"
            if not own and shared:
                shared = " (the same fit)"
            items.append(f"- `postprocessing.{name}.thresholds.{key}` {value}: {meaning}{src}.")
        if name == "quality" and isinstance(post.get("full_gain"), dict):
            items.append(f"- `postprocessing.quality.full_gain` percentile {post['full_gain'].get('percentile')}: "
                         f"{FULL_GAIN}.")
        if name == "view" and isinstance(post.get("mirror_check"), dict):
            items.append(f"- `postprocessing.view.mirror_check` margin {post['mirror_check'].get('margin')}: "
                         f"{MIRROR_CHECK}.")
    for key, cal in (manifest.get("calibration") or {}).items():
        if isinstance(cal, dict):
            reads, meaning = CALIBRATION.get(key, ((), "a calibration this card does not describe"))
            used = {k: v for k, v in cal.items() if k in reads}
            rest = {k: v for k, v in cal.items() if k not in reads}
            prov = _fields(rest)
            items.append(f"- `calibration.{key}`: {_fields(used) or 'nothing the runtime reads'}: {meaning}"
                         f"{f'; provenance: {prov}' if prov else ''}{_source(cal)}.")
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


def synced_card(pkg_dir, manifest: dict) -> tuple[dict, bytes | None]:
    """The package's README.md with its section rewritten from the manifest (bytes; None for a package without a
    README.md among its files, or when nothing changes) and the manifest with README.md's files entry for those
    bytes. Nothing is written: the caller writes the card with the manifest it signs (package.resign_manifest), so
    a refused manifest leaves the package as it was."""
    pkg = Path(pkg_dir)
    if README not in (manifest.get("files") or {}) or not (pkg / README).is_file():
        return manifest, None
    old = (pkg / README).read_bytes()
    new = with_thresholds(old.decode("utf-8"), manifest).encode("utf-8")
    entry = {"sha256": hashlib.sha256(new).hexdigest(), "bytes": len(new)}
    return {**manifest, "files": {**manifest["files"], README: entry}}, (None if new == old else new)


def sync_card(pkg_dir, manifest: dict) -> dict:
    """synced_card, the card written at once: for a package folder being built (bundle.py), which is signed or
    discarded as a whole."""
    manifest, card = synced_card(pkg_dir, manifest)
    if card is not None:
        (Path(pkg_dir) / README).write_bytes(card)
    return manifest
