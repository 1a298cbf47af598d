"""`evaluate-real`: the bundled ONNX packages on a user's copy of EchoNet-Dynamic or CAMUS.

Packages: <packages>/view_quality and <packages>/lv_segmentation, verified against the trust store like the
runtime does, then read from their manifest.json: the input name and size, the normalisation
(x = (v * scale - mean) / std), the resize rule, the output names, postprocessing.quality.thresholds.diagnostic
and, when the view package has an `id_score` output, postprocessing.id_score.thresholds {ok, unknown}.

Preprocessing as the runtime does (docs/PREPROCESSING.md): an RGB frame becomes BT.601 luma in float32; the crop
is the whole 112x112 frame for EchoNet (the release's videos are the sector already) and, for CAMUS, the sector's
bounding box (the bounding box of the non-zero pixels of the view's images and sequence, one box per view, as a
stream has one sector ROI); the crop is resized to the model size by the manifest's rule (area: exact overlap
weights, upscaling included) and normalised.

What runs where: view and quality (and id_score) on every frame of every video / sequence; LV segmentation on
the reference frames (EchoNet: the traced ED and ES frames; CAMUS: the ED and ES images). The segmentation logits
are resized back to the crop (bilinear, per class) and the argmax placed in the full image, so Dice is measured
against the reference masks at the release's own resolution (EchoNet: the rasterised tracings).

EF: single-plane area-length V = 8 A^2 / (3 pi L) on the predicted LV at the reference ED and ES frames, with
separate x and y spacing (area_length_volume_xy). EchoNet has no pixel spacing: its pixels are square (the
notebook crops a square and resizes it), and the area-length EF does not depend on a common scale, so sx = sy = 1.
The reference EF is FileList.csv's EF (EchoNet) or the cfg's LVef / EF (CAMUS: biplane, from both views), compared
per video / per view; `ef_reference_masks` applies the same area-length rule to the reference masks, which shows how
much of the error is the single-plane method rather than the segmentation.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np

from .errors import DatasetError, PackageError
from .metrics import area_length_volume, bootstrap_ci, dice, ef_percent
from .quality import full_gain_percentile, with_full_gain

ID_STATES = ("ok", "uncertain", "unknown")


# --- geometry ---------------------------------------------------------------------------------------------------

def lv_area_length_xy(mask: np.ndarray, sx: float, sy: float):
    """Area (mm^2) and long-axis length (mm) of a binary mask whose pixels are sx (columns) by sy (rows) mm.

    A = pixels * sx * sy. The long axis u is the principal axis of the pixel centres placed in mm (x * sx, y * sy);
    L = the extent of their projections on u plus the pixel's size along u, |(ux * sx, uy * sy)|: the runtime's
    rule (src/pipeline/postprocess.ts areaLength), and for sx = sy = s metrics.lv_area_length ((extent + 1) * s)."""
    ys, xs = np.nonzero(mask)
    if len(xs) < 3:
        return 0.0, 0.0
    area = len(xs) * sx * sy
    pts = np.stack([xs * float(sx), ys * float(sy)], 1).astype(np.float64)
    pts -= pts.mean(0)
    _, v = np.linalg.eigh(pts.T @ pts)
    u = v[:, -1]
    proj = pts @ u
    return float(area), float(proj.max() - proj.min() + math.hypot(u[0] * sx, u[1] * sy))


def area_length_volume_xy(mask: np.ndarray, sx: float, sy: float) -> float:
    """Single-plane area-length volume (mm^3) of a binary mask with pixel spacing sx (x) by sy (y) mm."""
    return area_length_volume(*lv_area_length_xy(mask, sx, sy))


def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] weights of the runtime's area rule: output i covers [i*s, (i+1)*s), s = n_in / n_out; source
    pixel k weighs overlap([k, k+1), that interval) / s (docs/PREPROCESSING.md section 4)."""
    s = n_in / n_out
    lo = np.arange(n_out)[:, None] * s
    k = np.arange(n_in)[None, :]
    return np.clip(np.minimum(k + 1, lo + s) - np.maximum(k, lo), 0, None) / s


def _linear_weights(n_in: int, n_out: int) -> np.ndarray:
    s = n_in / n_out
    f = np.clip((np.arange(n_out) + 0.5) * s - 0.5, 0, n_in - 1)
    k0 = np.floor(f).astype(int)
    k1 = np.minimum(k0 + 1, n_in - 1)
    w = np.zeros((n_out, n_in))
    np.add.at(w, (np.arange(n_out), k0), 1 - (f - k0))
    np.add.at(w, (np.arange(n_out), k1), f - k0)
    return w


def _nearest_weights(n_in: int, n_out: int) -> np.ndarray:
    k = np.minimum(np.floor((np.arange(n_out) + 0.5) * n_in / n_out).astype(int), n_in - 1)
    w = np.zeros((n_out, n_in))
    w[np.arange(n_out), k] = 1
    return w


RESIZE = {"area": area_weights, "bilinear": _linear_weights, "nearest": _nearest_weights}


def resize(img: np.ndarray, out_hw, rule: str = "area") -> np.ndarray:
    """float [..., H, W] -> [..., out_h, out_w] by the runtime's separable rule (area, bilinear or nearest)."""
    wy = RESIZE[rule](img.shape[-2], out_hw[0])
    wx = RESIZE[rule](img.shape[-1], out_hw[1])
    return (wy @ img.astype(np.float64) @ wx.T).astype(np.float32)


def sector_box(images: np.ndarray):
    """(y0, y1, x0, x1) bounding box of the non-zero pixels of [..., H, W] (the whole image when all are zero)."""
    nz = np.asarray(images).reshape(-1, *images.shape[-2:]).any(0)
    if not nz.any():
        return 0, images.shape[-2], 0, images.shape[-1]
    rows, cols = np.nonzero(nz.any(1))[0], np.nonzero(nz.any(0))[0]
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def out_folder(out) -> Path:
    """--out checked before any work: neither it nor a parent may be an existing file (mkdir would raise at the end)."""
    out = Path(out)
    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                raise DatasetError("E_DATASET_ARGS", f"--out expected a folder but {p} is a file", out)
            break
    return out


def make_out_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError("E_DATASET_ARGS", f"--out: cannot create the folder {out} ({e.strerror or e})",
                           out) from None


# --- packages ---------------------------------------------------------------------------------------------------

class Package:
    """A verified model package and one variant's ORT session, described by its manifest."""

    def __init__(self, pkg_dir, variant: str, trust):
        from .export import ort_session
        from .package import verify_package
        self.path = Path(pkg_dir)
        r = verify_package(self.path, trust)
        m = self.manifest = r["manifest"]
        if variant not in m["variants"]:
            raise PackageError("E_PACKAGE_VARIANT", f"{self.path}: variant {variant!r} expected to be one of "
                               f"{', '.join(sorted(m['variants']))}", f"/variants/{variant}", self.path)
        self.variant = variant
        self.file = self.path / m["variants"][variant]["file"]
        pre = m["preprocessing"]
        opts = pre["options"]
        self.input = pre["input"]
        spec = m["inputs"][self.input]
        self.size = tuple(int(v) for v in spec["spatial_shape"])
        self.rule = opts.get("resize", "area")
        if opts.get("letterbox", False) or self.rule not in RESIZE or spec["num_channels"] != 1:
            raise PackageError("E_PACKAGE_PREPROCESSING", f"{self.path}: evaluate-real supports one-channel inputs "
                               "resized by area, bilinear or nearest without letterbox but received "
                               f"{spec['num_channels']} channel(s), resize {self.rule!r}, letterbox "
                               f"{opts.get('letterbox')}", "/preprocessing/options", self.path)
        n = opts["normalize"]
        self.mean, self.std, self.scale = float(n["mean"]), float(n["std"]), float(n["scale"])
        self.outputs = list(m["outputs"])
        self.post = m.get("postprocessing", {})
        self.session = ort_session(self.file)

    def describe(self) -> dict:
        v = self.manifest["variants"][self.variant]
        return {"path": str(self.path), "name": self.manifest["name"], "version": self.manifest["version"],
                "variant": self.variant, "file": v["file"], "sha256": v["sha256"]}

    def tensor(self, luma: np.ndarray, box) -> np.ndarray:
        """float luma [H, W] of a frame and its crop box -> the model input [1, 1, h, w] float32."""
        y0, y1, x0, x1 = box
        v = resize(luma[y0:y1, x0:x1], self.size, self.rule)
        return ((v * np.float32(self.scale) - np.float32(self.mean)) / np.float32(self.std))[None, None]

    def run(self, x: np.ndarray) -> dict:
        return dict(zip([o.name for o in self.session.get_outputs()], self.session.run(None, {self.input: x})))


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _labels_back(logits: np.ndarray, box, shape) -> np.ndarray:
    """Segmentation logits [C, h, w] -> labels [H, W] of the full image: bilinear per class onto the crop, argmax,
    background outside the crop."""
    y0, y1, x0, x1 = box
    up = resize(logits, (y1 - y0, x1 - x0), "bilinear")
    out = np.zeros(shape, np.uint8)
    out[y0:y1, x0:x1] = up.argmax(0)
    return out


# --- the evaluation ---------------------------------------------------------------------------------------------

class _Frames:
    """Per-frame view/quality/id_score records."""

    def __init__(self, vq: Package):
        self.vq = vq
        self.labels = list(vq.post.get("view", {}).get("labels") or vq.manifest["outputs"]["view"]["channel_def"]
                           .values())
        self.has_id = "id_score" in vq.outputs
        self.full_gain = full_gain_percentile(vq.post)  # postprocessing.quality.full_gain (quality.py), or None
        self.rows = []

    def add(self, case: str, frame: int, luma: np.ndarray, box, expected: str):
        x = self.vq.tensor(luma, box)
        out = self.vq.run(x)
        p = _softmax(out["view"][0].astype(np.float64))
        # postprocessing.quality.full_gain: the larger of the quality on the frame and at full gain (quality.py)
        q = with_full_gain(np.ravel(out["quality"]), lambda xf: np.ravel(self.vq.run(xf)["quality"]), x,
                           self.vq.mean, self.vq.std, self.full_gain)
        row = {"case": case, "frame": frame, "view": self.labels[int(p.argmax())], "view_prob": float(p.max()),
               "expected_view": expected, "quality": float(q[0])}
        if self.has_id:
            row["id_score"] = float(np.ravel(out["id_score"])[0])
        self.rows.append(row)


def id_states(scores, ok: float, unknown: float) -> np.ndarray:
    """The in-distribution state of each id_score: "ok" at or above `ok`, "unknown" below `unknown`, else
    "uncertain"."""
    s = np.asarray(scores, np.float64)
    return np.where(s >= ok, "ok", np.where(s < unknown, "unknown", "uncertain"))


def _stats_or_none(x):
    return None if x is None or not np.isfinite(x) else float(x)


def _view_quality_summary(fr: _Frames) -> dict:
    rows = fr.rows
    n = len(rows)
    counts = {lab: sum(1 for r in rows if r["view"] == lab) for lab in fr.labels}
    expected = sorted({r["expected_view"] for r in rows})
    q = np.array([r["quality"] for r in rows])
    thr = fr.vq.post.get("quality", {}).get("thresholds", {}).get("diagnostic")
    res = {"frames": n, "view": {"counts": counts, "fractions": {k: v / n for k, v in counts.items()},
                                 "expected": expected,
                                 "expected_fraction": sum(1 for r in rows if r["view"] == r["expected_view"]) / n},
           "quality": {"diagnostic_threshold": thr, "mean": float(q.mean()), "median": float(np.median(q)),
                       "diagnostic_fraction": None if thr is None else float((q >= thr).mean())},
           "id_state": None}
    if fr.has_id:
        th = fr.vq.post.get("id_score", {}).get("thresholds")
        if th is None:
            raise PackageError("E_PACKAGE_SCHEMA", f"{fr.vq.path}: the view package has an id_score output but no "
                               "postprocessing.id_score.thresholds {ok, unknown}", "/postprocessing/id_score",
                               fr.vq.path)
        states = id_states([r["id_score"] for r in rows], th["ok"], th["unknown"])
        for r, st in zip(rows, states):
            r["id_state"] = str(st)
        cnt = {k: int((states == k).sum()) for k in ID_STATES}
        res["id_state"] = {"thresholds": {"ok": th["ok"], "unknown": th["unknown"]}, "counts": cnt,
                           "fractions": {k: v / n for k, v in cnt.items()}}
    return res


def _ef_summary(pred, ref, n_boot, seed=0) -> dict:
    pred, ref = np.asarray(pred, np.float64), np.asarray(ref, np.float64)
    if len(pred) == 0:
        return {"n": 0, "mae": None, "bias": None, "corr": None, "mae_ci": None}
    err = pred - ref
    corr = float(np.corrcoef(pred, ref)[0, 1]) if len(pred) > 1 and pred.std() > 0 and ref.std() > 0 else None
    ci = bootstrap_ci(lambda p, t: float(np.abs(p - t).mean()), pred, ref, n_boot=n_boot, seed=seed) \
        if len(pred) > 1 and n_boot > 0 else None
    return {"n": int(len(pred)), "mae": float(np.abs(err).mean()), "bias": float(err.mean()),
            "corr": _stats_or_none(corr), "mae_ci": None if ci is None else [float(ci[0]), float(ci[1])]}


def _dice_summary(values, n_boot, seed=0) -> dict:
    v = np.asarray(values, np.float64)
    if len(v) == 0:
        return {"n": 0, "mean": None, "ci": None}
    ci = bootstrap_ci(lambda a: float(a.mean()), v, n_boot=n_boot, seed=seed) if len(v) > 1 and n_boot > 0 else None
    return {"n": int(len(v)), "mean": float(v.mean()), "ci": None if ci is None else [float(ci[0]), float(ci[1])]}


def _ef(mask_ed, mask_es, sx, sy):
    ved, ves = area_length_volume_xy(mask_ed, sx, sy), area_length_volume_xy(mask_es, sx, sy)
    return ef_percent(ved, ves) if ved > 0 else None


def _eval_echonet(root, split, vq, seg, fr, log):
    from .data.echonet import load_echonet, read_item_video
    data = load_echonet(root, split)
    cases = []
    for k, it in enumerate(data):
        luma = read_item_video(it)
        box = (0, luma.shape[1], 0, luma.shape[2])
        for f in range(len(luma)):
            fr.add(it.name, f, luma[f], box, "A4C")
        case = {"case": it.name, "split": it.split, "frames": int(len(luma)), "ef_ref": it.ef, "ed": it.ed,
                "es": it.es}
        if it.ed is not None:
            pred = {}
            for name, f, ref in (("ed", it.ed, it.ed_mask), ("es", it.es, it.es_mask)):
                logits = seg.run(seg.tensor(luma[f], box))["logits"][0]
                pred[name] = _labels_back(logits, box, luma.shape[1:]) == 1
                case[f"dice_{name}"] = dice(pred[name], ref == 1)
            case["ef_pred"] = _ef(pred["ed"], pred["es"], 1.0, 1.0)
            case["ef_ref_masks"] = _ef(it.ed_mask == 1, it.es_mask == 1, 1.0, 1.0)
        cases.append(case)
        if log and (k + 1) % 100 == 0:
            log(f"evaluate-real: {k + 1}/{len(data)} videos")
    return {"name": "EchoNet-Dynamic", "root": str(root), "split": split.upper() if split else None,
            "notes": data.notes()}, cases


def _eval_camus(root, vq, seg, fr, log):
    from .data.camus import load_camus
    data = load_camus(root)
    cases = []
    for k, it in enumerate(data):
        seq = it.sequence()
        box = sector_box(np.concatenate([seq, it.ed_image[None], it.es_image[None]]))
        name = f"{it.patient}_{it.view}"
        for f in range(len(seq)):
            fr.add(name, f, seq[f].astype(np.float32), box, it.runtime_view)
        case = {"case": name, "patient": it.patient, "view": it.view, "release": it.release, "frames": int(len(seq)),
                "ef_ref": it.ef, "sx": it.sx, "sy": it.sy, "box": list(box)}
        labels = {}
        for phase, img, ref in (("ed", it.ed_image, it.ed_mask), ("es", it.es_image, it.es_mask)):
            logits = seg.run(seg.tensor(img.astype(np.float32), box))["logits"][0]
            labels[phase] = _labels_back(logits, box, img.shape)
            case[f"dice_{phase}"] = dice(labels[phase] == 1, ref == 1)
            case[f"dice_myo_{phase}"] = dice(labels[phase] == 2, ref == 2)
            case[f"dice_la_{phase}"] = dice(labels[phase] == 3, ref == 3)
        case["ef_pred"] = _ef(labels["ed"] == 1, labels["es"] == 1, it.sx, it.sy)
        case["ef_ref_masks"] = _ef(it.ed_mask == 1, it.es_mask == 1, it.sx, it.sy)
        cases.append(case)
        if log and (k + 1) % 50 == 0:
            log(f"evaluate-real: {k + 1}/{len(data)} views")
    return {"name": "CAMUS", "root": str(root), "release": data[0].release, "views": len(data)}, cases


def evaluate_real(out, echonet=None, camus=None, split=None, packages="models", variant="fp32", trust=None,
                  n_boot=1000, log=print) -> dict:
    """Writes metrics.json, report.md and frames.csv into `out`; returns the metrics."""
    if (echonet is None) == (camus is None):
        raise DatasetError("E_DATASET_ARGS", "expected exactly one of --echonet DIR and --camus DIR but received "
                           + ("both" if echonet else "neither"), None)
    if camus is not None and split is not None:
        raise DatasetError("E_DATASET_SPLIT", f"--split expected only with --echonet (CAMUS has no split column) but "
                           f"received {split!r}", camus)
    out = out_folder(out)
    packages = Path(packages)
    trust = Path(trust) if trust else packages / "trust"
    vq = Package(packages / "view_quality", variant, trust)
    seg = Package(packages / "lv_segmentation", variant, trust)
    fr = _Frames(vq)
    if echonet is not None:
        dataset, cases = _eval_echonet(Path(echonet), split, vq, seg, fr, log)
    else:
        dataset, cases = _eval_camus(Path(camus), vq, seg, fr, log)
    res = {"dataset": dataset, "packages": {"view_quality": vq.describe(), "lv_segmentation": seg.describe()}}
    res.update(_view_quality_summary(fr))
    with_ref = [c for c in cases if "dice_ed" in c]
    res["lv_dice"] = {**_dice_summary([c[f"dice_{p}"] for c in with_ref for p in ("ed", "es")], n_boot),
                      "ed_mean": float(np.mean([c["dice_ed"] for c in with_ref])) if with_ref else None,
                      "es_mean": float(np.mean([c["dice_es"] for c in with_ref])) if with_ref else None}
    if camus is not None:
        res["myo_dice"] = _dice_summary([c[f"dice_myo_{p}"] for c in with_ref for p in ("ed", "es")], n_boot)
        res["la_dice"] = _dice_summary([c[f"dice_la_{p}"] for c in with_ref for p in ("ed", "es")], n_boot)
    ok = [c for c in with_ref if c["ef_pred"] is not None and c["ef_ref"] is not None]
    res["ef"] = {**_ef_summary([c["ef_pred"] for c in ok], [c["ef_ref"] for c in ok], n_boot),
                 "without_prediction": len(with_ref) - len(ok),
                 "reference": "FileList.csv EF" if echonet is not None else "Info_*.cfg LVef / EF (biplane)"}
    okm = [c for c in with_ref if c["ef_ref_masks"] is not None and c["ef_ref"] is not None]
    res["ef_reference_masks"] = _ef_summary([c["ef_ref_masks"] for c in okm], [c["ef_ref"] for c in okm], n_boot)
    res["cases"] = cases
    cols = ["case", "frame", "view", "view_prob", "expected_view", "quality"] + \
        (["id_score", "id_state"] if fr.has_id else [])
    frames = io.StringIO()
    w = csv.DictWriter(frames, cols, lineterminator="\n")
    w.writeheader()
    w.writerows(fr.rows)
    make_out_folder(out)
    write_outputs(out, {"frames.csv": frames.getvalue(), "report.md": report_markdown(res),
                        "metrics.json": json.dumps(res, indent=1)})
    return res


def write_outputs(out: Path, texts: dict) -> None:
    """Writes each name -> text into the folder `out`, all or nothing: every file is written under a temporary name
    beside its own (.NAME.PID.partial) and only when all are written are they renamed into place (os.replace). A
    failure or Ctrl-C midway removes the temporary files and leaves earlier files as they were, never a partial one
    nor a report.md beside the frames.csv of another run."""
    tmps = {}
    try:
        for name, text in texts.items():
            tmps[name] = out / f".{name}.{os.getpid()}.partial"
            with open(tmps[name], "w", encoding="utf-8", newline="") as f:
                f.write(text)
    except BaseException:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)
        raise
    for name, tmp in tmps.items():
        os.replace(tmp, out / name)


def _f(x, nd=3):
    return "n/a" if x is None else f"{x:.{nd}f}"


def _ci(ci, nd=3):
    return "" if not ci else f" ({ci[0]:.{nd}f}-{ci[1]:.{nd}f})"


def report_markdown(res: dict) -> str:
    d = res["dataset"]
    pk = res["packages"]
    title = d["name"] + (f" {d['split']}" if d.get("split") else "") + (f" ({d['release']})" if d.get("release")
                                                                         else "")
    q = res["quality"]
    lines = [f"# sonoedge on real data: {title}", "",
             f"Packages: {pk['view_quality']['name']} {pk['view_quality']['version']} and "
             f"{pk['lv_segmentation']['name']} {pk['lv_segmentation']['version']}, variant "
             f"{pk['view_quality']['variant']}. Frames: {res['frames']}. CIs: 95% bootstrap.", "",
             "| metric | value |", "| --- | --- |",
             f"| frames of the expected view ({', '.join(res['view']['expected'])}) | "
             f"{_f(res['view']['expected_fraction'])} |",
             f"| diagnostic quality (>= {q['diagnostic_threshold']}) | {_f(q['diagnostic_fraction'])} |",
             f"| quality, mean / median | {_f(q['mean'])} / {_f(q['median'])} |",
             f"| LV Dice at ED/ES (n {res['lv_dice']['n']}) | {_f(res['lv_dice']['mean'])}"
             f"{_ci(res['lv_dice']['ci'])} |"]
    for k, name in (("myo_dice", "myocardium"), ("la_dice", "LA")):
        if k in res:
            lines.append(f"| {name} Dice at ED/ES | {_f(res[k]['mean'])}{_ci(res[k]['ci'])} |")
    e, em = res["ef"], res["ef_reference_masks"]
    lines += [f"| EF MAE, predicted masks vs {e['reference']} (n {e['n']}) | {_f(e['mae'], 2)}{_ci(e['mae_ci'], 2)} |",
              f"| EF bias / correlation | {_f(e['bias'], 2)} / {_f(e['corr'])} |",
              f"| EF MAE, reference masks (same method) | {_f(em['mae'], 2)}{_ci(em['mae_ci'], 2)} |", "",
              "| view | frames | fraction |", "| --- | --- | --- |"]
    lines += [f"| {k} | {v} | {res['view']['fractions'][k]:.3f} |" for k, v in res["view"]["counts"].items()]
    if res["id_state"]:
        s = res["id_state"]
        lines += ["", f"In-distribution state (ok >= {s['thresholds']['ok']}, unknown < {s['thresholds']['unknown']}):",
                  "", "| state | frames | fraction |", "| --- | --- | --- |"]
        lines += [f"| {k} | {s['counts'][k]} | {s['fractions'][k]:.3f} |" for k in ID_STATES]
    else:
        lines += ["", "The view package has no id_score output: no in-distribution state."]
    return "\n".join(lines) + "\n"
