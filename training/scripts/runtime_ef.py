"""The runtime's EF as shipped, on cines of several beats, beside the harness's EF on the same cines.

`transfer` and `ef_rules.py` measure EF in Python (metrics.ef_runtime): the runtime's window rule over a whole cine
of about one beat, every frame used, no view or quality gate. A scanner's cine holds several beats at 30-60 frames
per second, and there the runtime (src/pipeline) reports the median of its detected beats, on the frames its
view/quality gate lets through. This script runs `sonoedge replay` (the TypeScript pipeline, the ONNX models, beat
detection, the trimmed rule, the calibration: nothing re-implemented) on each apical cine and reads the EF the last
frame reports, beside the harness's window EF on the same frames. It chooses nothing.

Cines:
- `--phantom DIR`: the independent generator's cines (`python -m sonoedge_phantom generate ... --fps N`);
- `--sim N,SEED,FRAMES,BEAT_FRAMES`: our simulator's apical cines (difficulty --difficulty, A4C and A2C in turn)
  whose beat lasts BEAT_FRAMES x U(0.8, 1) frames instead of FRAMES x U(0.8, 1) (the one change; every other draw
  is the cine's own), so that FRAMES holds several beats;
- `--phantom DIR --negatives`: the independent generator's turned and flipped hearts and non-cardiac scenes;
- `--ours-negatives N,SEED,FRAMES`: N cines of FRAMES frames per family of our generated negatives
  (sonoedge_train/negatives.py) and of the held-out photographs.
An apical `--phantom` set of several variants (the generator's degradations) gets its main numbers per variant as
well (frames at the gate, EFs, their error, the paired change). A negatives report gives, per family, the frames
with an LV, the cines with an EF and the frames the runtime rejects (state unknown or view OTHER), as the display
shows them (smoothed and held, which the harness does not model).

    training/.venv/bin/python training/scripts/runtime_ef.py --phantom training/data_cache/phantom_beats50 \
        --cli base=/tmp/base/dist/cli/main.js --cli new=dist/cli/main.js \
        --out training/results/runtime_ef/phantom_beats50.json

(training/RESULTS.md, nineteenth wave, has the sets and the builds.)

`--published SIZE[,QUALITY]` replays each cine as public echo datasets store clips (EchoNet-Dynamic's 112x112
videos): the sector's box padded to a square with black, centred (its aspect kept), area-resized to SIZE x SIZE, each frame
through JPEG at QUALITY (default 75), no sector box given (`--published-sector whole`: replay's default, the whole
frame) or `auto` (replay finds the sector); the harness gets the same frames, whole.

Needs dist/ built (`npx tsc -p tsconfig.json`). Reference EF: the cine's label EF (area-length on its label masks,
largest and smallest volume over the cine; the same every beat).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))

from sonoedge_train.data.synthetic import resize_frames  # noqa: E402
from sonoedge_train.metrics import ef_runtime  # noqa: E402
from sonoedge_train.transfer import REAL_BOXES, Packages, pydicom_example  # noqa: E402

MODEL_SIZE = (112, 112)
# The generated sets (ours rendered, the independent generator's) the scripts read.
CACHE = ROOT / "training" / "data_cache"


def phantom_cines(root, negatives=False):
    """(id, view, frames [F, H, W] uint8, roi (x, y, w, h), spacing (sx, sy) mm per frame pixel, reference EF, fps)
    of every apical cine with a reference EF; with `negatives`, of every heart turned or flipped and every
    non-cardiac scene (view OTHER, reference None)."""
    index = json.loads((Path(root) / "index.json").read_text())
    for c in index["cines"]:
        if negatives:
            if c["variant"] not in ("rotated", "flipped", "noncardiac"):
                continue
        elif c["view"] not in ("A4C", "A2C") or not c.get("ef"):
            continue
        frames = np.load(Path(root) / c["file"])["frames"]
        r = c["roi"]
        yield (c["id"], c["view"], frames, (r["x"], r["y"], r["width"], r["height"]), tuple(c["spacing_mm"]),
               None if negatives else float(c["ef"]), float(c["fps"]))


def sim_cines(spec, difficulty):
    from sonoedge_train.sim.simulator import sample_cine_params, simulate_cine
    n, seed, frames, beat = (int(v) for v in spec.split(","))
    for i in range(n):
        view = ("A4C", "A2C")[i % 2]
        p = sample_cine_params(seed * 1000 + i, view, frames, difficulty)
        p.cycle_frames *= beat / frames
        c = simulate_cine(p)
        h, w = c.sector.shape[1:]
        # the frame rate is only replay's --fps, which paces --realtime (not used here)
        yield (i, view, c.sector, (0, 0, w, h), (c.spacing_mm, c.spacing_mm), float(c.ef), 50.0)


OURS_NEGATIVE_SIZE = 256


def ours_negative_families():
    """Our generated negative families (sonoedge_train/negatives.py) and the held-out photographs, in order."""
    from sonoedge_train import negatives as ng
    return [*ng.FAMILIES, "photo"]


def ours_negative_ids(n):
    """(cine id, family) of `--ours-negatives` with N cines per family: the families in order, N ids each."""
    return [(f * n + i, name) for f, name in enumerate(ours_negative_families()) for i in range(n)]


def ours_negative_cines(spec):
    """(id, "OTHER", frames, roi, spacing, None, fps) of N cines per family of our generated negatives (`--ours-negatives
    N,SEED,FRAMES`): a frozen image of the family with a little noise on each frame (sigma 3 grey levels: a still probe or
    a frozen screen), except `noise`, drawn afresh on every frame; 256 x 256, the whole frame as the sector, 0.3 mm."""
    from sonoedge_train import negatives as ng
    n, seed, frames = (int(v) for v in spec.split(","))
    size = OURS_NEGATIVE_SIZE
    for cid, name in ours_negative_ids(n):
        rng = np.random.default_rng([seed, cid // n, cid % n])
        if name == "noise":
            cine = np.stack([ng.noise(rng, size) for _ in range(frames)])
        else:
            base = ng.photos(1, rng, size)[0] if name == "photo" else ng.FAMILIES[name](rng, size)
            jitter = rng.normal(0, 3, (frames, size, size))
            cine = np.clip(base[None].astype(np.float32) + jitter, 0, 255).round().astype(np.uint8)
        yield (cid, "OTHER", cine, (0, 0, size, size), (0.3, 0.3), None, 30.0)


def write_raw(frames, tmp) -> Path:
    """The cine as raw GRAY8 frames back to back, once for every CLI that replays it."""
    raw = Path(tmp) / "cine.raw"
    np.ascontiguousarray(frames).tofile(raw)
    return raw


def published(frames, roi, spacing, size, quality=75):
    """The cine as a public dataset stores it (module docstring, --published): frames [F, size, size] uint8 and the
    spacing of their pixels (mm)."""
    x, y, w, h = roi
    s = max(w, h)
    sq = np.zeros((len(frames), s, s), np.uint8)
    ox, oy = (s - w) // 2, (s - h) // 2
    sq[:, oy:oy + h, ox:ox + w] = frames[:, y:y + h, x:x + w]
    out = np.empty((len(frames), size, size), np.uint8)
    for i, f in enumerate(sq):
        small = cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        out[i] = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return out, (spacing[0] * s / size, spacing[1] * s / size)


def replay(raw, frames, roi, spacing, fps, models, tmp, cli):
    """`sonoedge replay` of the cine; roi (x, y, w, h), "auto", or None (replay's default: the whole frame)."""
    out = Path(tmp) / "cine.jsonl"
    f, h, w = frames.shape
    sector = [] if roi is None else ["--sector", roi if isinstance(roi, str) else ",".join(str(v) for v in roi)]
    cmd = ["node", str(cli), "replay", str(raw), "--geometry", f"{w}x{h}:GRAY8",
           "--pixel-spacing", f"{spacing[0]},{spacing[1]}", *sector,
           "--fps", f"{fps}", "-o", str(out)]
    if models:
        cmd += ["--models", str(models)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return runtime_from_lines([json.loads(s) for s in out.read_text().splitlines() if s.strip()])


def runtime_from_lines(lines):
    """One runtime's reading of a cine from replay's JSON lines: the last EF and its details, and per-frame traces."""
    last_ef = next((ln["ef"] for ln in reversed(lines) if "ef" in ln), None)
    # frames with an LV shown: the LV model ran (an apical view shown, the smoothed quality at the gate, the state not
    # unknown) and its LV was not withheld (lvRejected, counted apart)
    shown = sum(1 for ln in lines if "lvAreaMm2" in ln)
    return {"ef": None if last_ef is None else last_ef["percent"],
            # what the screen shows when the cine ends: a rule that withholds the EF late leaves "ef" at an earlier one
            "ef_on_last_frame": lines[-1]["ef"]["percent"] if lines and "ef" in lines[-1] else None,
            "method": None if last_ef is None else last_ef.get("method"),
            "beats": None if last_ef is None else last_ef.get("beats"),
            "quality": None if last_ef is None else last_ef.get("quality"),
            "quality_reason": None if last_ef is None else last_ef.get("qualityReason"),
            "ci": None if last_ef is None else last_ef.get("ci"),
            "gated_frames": shown, "frames": len(lines),
            # frames due for segmentation whose LV was not shown (lvRejected, either code: its long axis across the
            # beam, LV_ACROSS_BEAM; a heart read as mirrored, LV_MIRRORED, counted again on its own)
            "lv_rejected": sum(1 for ln in lines if "lvRejected" in ln),
            "lv_mirrored": sum(1 for ln in lines if ln.get("lvRejected", {}).get("code") == "LV_MIRRORED"),
            "ed_flags": sum(1 for ln in lines if "edSeq" in ln), "es_flags": sum(1 for ln in lines if "esSeq" in ln),
            # per frame: the quality score, the shown view, the state, the LV area (mm^2; null when not segmented) and beam angle,
            # ED / ES confirmed on this frame, and the beats (ED frame, ES frame) the EF rests on
            "trace": {"quality": [round(ln["quality"], 3) for ln in lines], "view": [ln["viewShown"] for ln in lines],
                      "state": [ln["state"] for ln in lines],
                      "lv_area": [None if "lvAreaMm2" not in ln else round(ln["lvAreaMm2"], 1) for ln in lines],
                      # the LV's long axis against the beam through it (degrees; null when not segmented or not reported)
                      "lv_beam": [None if ln.get("lvBeamAngleDeg") is None else round(ln["lvBeamAngleDeg"], 1)
                                  for ln in lines],
                      "ed": [ln["edSeq"] for ln in lines if "edSeq" in ln],
                      "es": [ln["esSeq"] for ln in lines if "esSeq" in ln],
                      "beats": sorted({(ln["ef"]["edFrame"], ln["ef"]["esFrame"]) for ln in lines
                                       if "ef" in ln and ln["ef"].get("method") == "beats"})}}


def model_crop(frames, roi):
    """The cine's sector box (x, y, w, h) cropped and area-resized to the model input, as the harness runs the
    packages (the runtime's own preprocessing differs by resampling only)."""
    x, y, w, h = roi
    return resize_frames(np.ascontiguousarray(frames[:, y:y + h, x:x + w]), MODEL_SIZE)


def diagnosis_args(doc: str, default_out: str, argv=None, flags=()):
    """The diagnosis scripts' arguments (band_diag, mirror_check, guidance_check, wall_contrast, histogram_swap):
    --models (default the bundled models), --out, and boolean flags given as (name, help)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--models", default=str(ROOT / "models"))
    ap.add_argument("--out", default=default_out)
    for name, text in flags:
        ap.add_argument(name, action="store_true", help=text)
    return ap.parse_args(argv)


def table_and_json(rows: dict, keys, out) -> None:
    """A diagnosis script's result: a markdown table of rows (name -> dict) over keys on stdout, and the rows as JSON
    at `out`."""
    print("| set | " + " | ".join(keys) + " |")
    print("|" + " --- |" * (len(keys) + 1))
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(str(r[k]) for k in keys) + " |")
    Path(out).write_text(json.dumps(rows, indent=1))


# pydicom's real apical four-chamber cine: its fan (x, y, w, h) as `sonoedge replay --sector auto` finds it (the
# harness's transfer.REAL_BOXES).
REAL_A4C_SECTOR = tuple(REAL_BOXES["examples_ybr_color.dcm"])


def real_a4c_frames():
    """pydicom's real apical cine (examples_ybr_color, read from the installed package) at the model input, uint8
    [30, 112, 112]: its fan cropped and area-resized as model_crop does (for the diagnosis scripts)."""
    return model_crop(pydicom_example("examples_ybr_color.dcm")["frames"], REAL_A4C_SECTOR)


def harness(p: Packages, frames, roi, spacing):
    """The harness's EF on the same cine: the sector cropped and area-resized to the model input, the LV model on
    every frame, metrics.ef_runtime with the package's trim, then the package's calibration (what `transfer` does)."""
    _, _, w, h = roi
    small = model_crop(frames, roi)
    sp = (spacing[0] * w / MODEL_SIZE[1], spacing[1] * h / MODEL_SIZE[0])
    r = ef_runtime(p.lv(small), sp, min_frames=min(16, len(small)), trim=p.ef_trim)
    return None if not r.get("valid") else p.calibrated(r["ef"])


def boot_ci(d, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    m = [float(np.mean(d[rng.integers(0, len(d), len(d))])) for _ in range(n)]
    return [round(float(np.percentile(m, 2.5)), 2), round(float(np.percentile(m, 97.5)), 2)]


def negatives_summary(rows):
    """The runtime on hearts turned or flipped and non-cardiac scenes (OTHER): frames with an LV shown, cines with an
    EF, and the frames it rejects (state unknown or view OTHER; with `uncertain` too), overall and per family (the
    generator's variant, when the rows carry one)."""
    def part(rs):
        frames = sum(r["runtime"]["frames"] for r in rs)
        t = [r["runtime"]["trace"] for r in rs]
        pairs = [(v, st) for tr in t for v, st in zip(tr["view"], tr.get("state", []))]
        rejected = [st == "unknown" or v == "OTHER" for v, st in pairs]
        not_ok = [st != "ok" or v == "OTHER" for v, st in pairs]
        return {"cines": len(rs), "frames": frames,
                "lv_shown_share": round(sum(r["runtime"]["gated_frames"] for r in rs) / max(1, frames), 4),
                "unknown_or_other_share": round(float(np.mean(rejected)), 4) if rejected else None,
                "not_ok_or_other_share": round(float(np.mean(not_ok)), 4) if not_ok else None,
                "lv_rejected": sum(r["runtime"].get("lv_rejected", 0) for r in rs),
                "lv_mirrored": sum(r["runtime"].get("lv_mirrored", 0) for r in rs),
                "cines_with_lv": sum(1 for r in rs if r["runtime"]["gated_frames"] > 0),
                "cines_with_ef": sum(1 for r in rs if r["runtime"]["ef"] is not None)}
    out = part(rows)
    families = sorted({r["family"] for r in rows if r.get("family")})
    if families:
        out["families"] = {f: part([r for r in rows if r.get("family") == f]) for f in families}
    return out


def view_summary(rows):
    """The shown view against the cine's own: the share of all frames and of the frames the LV model ran on that
    show it, and the changes of the shown view per cine (the thirty-third wave); the share of frames whose state is
    not ok among those shown right, shown wrong and segmented, and the last EFs of quality low (the thirty-fourth)."""
    t = [r["runtime"]["trace"] for r in rows]
    true = sum(sum(v == r["view"] for v in tr["view"]) for r, tr in zip(rows, t))
    gated = [(v == r["view"]) for r, tr in zip(rows, t) for v, a in zip(tr["view"], tr["lv_area"]) if a is not None]
    flips = [sum(a != b for a, b in zip(tr["view"], tr["view"][1:])) for tr in t]
    # the state (not ok: uncertain or unknown) on the frames shown right and wrong, and where the LV model ran (the
    # thirty-fourth wave); a trace without states counts nothing
    right, wrong, gated_state = [], [], []
    for r, tr in zip(rows, t):
        for v, st, a in zip(tr["view"], tr.get("state", []), tr["lv_area"]):
            (right if v == r["view"] else wrong).append(st != "ok")
            if a is not None:
                gated_state.append(st != "ok")
    share = (lambda x: round(float(np.mean(x)), 4) if x else None)
    efs = [r["runtime"] for r in rows if r["runtime"]["ef"] is not None]
    return {"view_true_share": round(true / max(1, sum(len(tr["view"]) for tr in t)), 4),
            "view_true_share_gated": round(float(np.mean(gated)), 4) if gated else None,
            "view_flips_per_cine": round(float(np.mean(flips)), 2) if flips else None,
            "cines_with_view_flips": sum(1 for x in flips if x > 0),
            "state_not_ok_shown_right": share(right), "state_not_ok_shown_wrong": share(wrong),
            "state_not_ok_gated": share(gated_state),
            "ef_quality_low": sum(1 for x in efs if x.get("quality") == "low"), "ef_cines": len(efs)}


def _paired(d):
    """A paired change over cines: its count, mean and 95% bootstrap interval; None without cines."""
    d = np.asarray(d, float)
    return None if not len(d) else {"n": len(d), "mean": round(float(d.mean()), 2), "ci95": boot_ci(d)}


def summary(rows, paired_with_base=False):
    """EF as reported by one runtime (r["runtime"]) against the harness on the same cines; with paired_with_base,
    also its paired change of absolute error against the first runtime (r["base"]) on the cines both report, and
    the paired change of its distance to the harness's EF of the same cine (the model's whole-cine reading, so the
    model's own bias cancels: what a runtime rule changes by itself; the thirtieth wave, training/RESULTS.md)."""
    out = {"cines": len(rows)}
    both = [r for r in rows if r["runtime"]["ef"] is not None and r["harness"] is not None]
    hv = [r for r in rows if r["harness"] is not None]
    rv = [r for r in rows if r["runtime"]["ef"] is not None]
    out["runtime_ef_shown"] = len(rv)
    out["runtime_ef_on_last_frame"] = sum(1 for r in rows if r["runtime"].get("ef_on_last_frame") is not None)
    out["runtime_method_beats"] = sum(1 for r in rv if r["runtime"]["method"] == "beats")
    out["runtime_beats_median"] = float(np.median([r["runtime"]["beats"] for r in rv])) if rv else None
    out["gated_share"] = round(float(np.mean([r["runtime"]["gated_frames"] / r["runtime"]["frames"] for r in rows])), 3)
    out.update(view_summary(rows))
    for name, sel, key in (("harness_all", hv, "h"), ("harness_on_shown", both, "h"), ("runtime", both, "r")):
        e = np.array([(r["harness"] if key == "h" else r["runtime"]["ef"]) - r["ref"] for r in sel])
        out[name] = None if not len(e) else {"n": len(e), "mae": round(float(np.abs(e).mean()), 2),
                                               "bias": round(float(e.mean()), 2)}
    if both:
        d = np.array([abs(r["runtime"]["ef"] - r["ref"]) - abs(r["harness"] - r["ref"]) for r in both])
        out["paired_abs_error_runtime_minus_harness"] = {"mean": round(float(d.mean()), 2), "ci95": boot_ci(d)}
        inside = [r for r in both if r["runtime"]["ci"]]
        out["ref_inside_runtime_ci"] = round(float(np.mean([r["runtime"]["ci"][0] <= r["ref"] <= r["runtime"]["ci"][1]
                                                            for r in inside])), 3) if inside else None
    e = [abs(r["runtime"]["ef"] - r["ref"]) for r in rv]
    out["errors_over_20"] = sum(1 for x in e if x > 20)
    if paired_with_base:
        pb = [r for r in rows if r["runtime"]["ef"] is not None and r["base"]["ef"] is not None]
        out["paired_abs_error_vs_first"] = _paired(
            [abs(r["runtime"]["ef"] - r["ref"]) - abs(r["base"]["ef"] - r["ref"]) for r in pb])
        out["paired_abs_diff_to_harness_vs_first"] = _paired(
            [abs(r["runtime"]["ef"] - r["harness"]) - abs(r["base"]["ef"] - r["harness"])
             for r in pb if r["harness"] is not None])
    return out


VARIANT_KEYS = ("cines", "gated_share", "runtime_ef_shown", "view_true_share", "runtime", "paired_abs_error_vs_first")


def summaries(rows, clis, negatives=False):
    """Each runtime's summary over `rows` (report cines), paired against the first runtime; an apical set of
    several variants (the generator's degradations) gets the main numbers per variant too."""
    first = next(iter(clis))
    out = {}
    variants = sorted({r["family"] for r in rows if r.get("family")})
    for name in clis:
        rs = [dict(r, runtime=r["runtimes"][name], base=r["runtimes"][first]) for r in rows]
        out[name] = negatives_summary(rs) if negatives else summary(rs, name != first)
        if not negatives and len(variants) > 1:
            out[name]["variants"] = {v: {k: x for k, x in summary([r for r in rs if r.get("family") == v],
                                                                   name != first).items() if k in VARIANT_KEYS}
                                     for v in variants}
    return out


def pool(paths):
    """The summaries of several reports' cines taken together (the same runtimes in each): a rule's pooled clause."""
    reps = [json.loads(Path(f).read_text()) for f in paths]
    clis = reps[0]["clis"]
    # a negatives report's cines have no reference EF (reports before the flag was written carry none)
    neg = {r.get("negatives", all(c["ref"] is None for c in r["cines"])) for r in reps}
    if len(neg) > 1:
        raise SystemExit("runtime_ef.py: --pool expects apical reports or negatives reports, not both")
    if any(list(r["clis"]) != list(clis) for r in reps):
        raise SystemExit(f"runtime_ef.py: --pool expects reports of the same runtimes but received "
                         f"{[list(r['clis']) for r in reps]}")
    return {"pooled": [str(f) for f in paths], "clis": clis,
            "summary": summaries([c for r in reps for c in r["cines"]], clis, neg.pop())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--phantom", default="", help="independent generator folder")
    ap.add_argument("--sim", default="", metavar="N,SEED,FRAMES,BEAT_FRAMES", help="our simulator's apical cines")
    ap.add_argument("--difficulty", default="wide_hard")
    ap.add_argument("--models", default="models")
    ap.add_argument("--cli", action="append", default=[], metavar="NAME=PATH[@MODELS]",
                    help="a sonoedge CLI to run, repeatable (builds of other commits, compared on the same cines; "
                         "paired changes against the first), with the models folder it replays with (default "
                         "--models); default runtime=dist/cli/main.js")
    ap.add_argument("--negatives", action="store_true", help="--phantom's turned and flipped hearts: LV and EF shown")
    ap.add_argument("--ours-negatives", default="", metavar="N,SEED,FRAMES",
                    help="N cines per family of our generated negatives and the held-out photographs (a negatives report)")
    ap.add_argument("--limit", type=int, default=0, help="the first N cines only")
    ap.add_argument("--published", default="", metavar="SIZE[,QUALITY]",
                    help="replay each cine as public datasets store clips (see the module docstring)")
    ap.add_argument("--published-sector", choices=("whole", "auto"), default="whole",
                    help="with --published: no sector box (replay's default) or --sector auto")
    ap.add_argument("--pool", nargs="+", default=[], metavar="REPORT",
                    help="no replay: the summaries of these reports' cines taken together")
    ap.add_argument("--out", help="JSON report (required unless --pool)")
    a = ap.parse_args(argv)
    if a.pool:
        rep = pool(a.pool)
        if a.out:
            Path(a.out).write_text(json.dumps(rep, indent=1))
        print(json.dumps(rep["summary"], indent=1))
        return 0
    if not a.out:
        ap.error("--out is required")
    if sum(map(bool, (a.phantom, a.sim, a.ours_negatives))) != 1:
        ap.error("give exactly one of --phantom, --sim and --ours-negatives")
    if a.negatives and not a.phantom:
        ap.error("--negatives needs --phantom")
    clis = dict(c.split("=", 1) for c in a.cli) if a.cli else {"runtime": str(ROOT / "dist/cli/main.js")}
    # NAME=PATH@MODELS: this build replays with its own models folder (a package that differs only in calibration)
    runs = {name: (c.partition("@")[0], c.partition("@")[2] or a.models) for name, c in clis.items()}
    cines = (phantom_cines(a.phantom, a.negatives) if a.phantom else sim_cines(a.sim, a.difficulty) if a.sim
             else ours_negative_cines(a.ours_negatives))
    size, _, quality = a.published.partition(",")
    p = Packages(a.models)
    # a row of the independent generator names its family (the generator's variant), so the summary gives a
    # negatives set's rejection, and an apical set's main numbers, per family
    family = ({c["id"]: c["variant"] for c in json.loads((Path(a.phantom) / "index.json").read_text())["cines"]}
              if a.phantom else dict(ours_negative_ids(int(a.ours_negatives.split(",")[0])))
              if a.ours_negatives else {})
    negatives = a.negatives or bool(a.ours_negatives)
    rows = []
    with tempfile.TemporaryDirectory(prefix="sonoedge-runtime-ef-") as tmp:
        for k, (cid, view, frames, roi, spacing, ref, fps) in enumerate(cines):
            if a.limit and k >= a.limit:
                break
            replay_roi = roi
            if a.published:
                frames, spacing = published(frames, roi, spacing, int(size), int(quality or 75))
                roi = (0, 0, frames.shape[2], frames.shape[1])
                replay_roi = None if a.published_sector == "whole" else "auto"
            raw = write_raw(frames, tmp)
            rts = {name: replay(raw, frames, replay_roi, spacing, fps, models, tmp, cli)
                   for name, (cli, models) in runs.items()}
            h = None if negatives else harness(p, frames, roi, spacing)
            rows.append({"id": cid, "view": view, "ref": None if ref is None else round(ref, 2), "fps": fps,
                         "frames": len(frames), "harness": None if h is None else round(h, 2), "runtimes": rts,
                         **({"family": family[cid]} if cid in family else {})})
            hs = "-" if h is None else f"{h:5.1f}"
            line = f"{cid:4d} {view} ref {ref or 0:5.1f} harness {hs}"
            for name, rt in rts.items():
                rs = "-" if rt["ef"] is None else f"{rt['ef']:5.1f}"
                line += f" | {name} {rs} {rt['method']} beats {rt['beats']} gated {rt['gated_frames']}/{rt['frames']}"
            print(line, file=sys.stderr, flush=True)
    summ = summaries(rows, clis, negatives)
    rep = {"source": a.phantom or f"sim {a.sim} {a.difficulty}", "models": a.models, "clis": clis,
           "published": a.published and f"{a.published} {a.published_sector}", "negatives": negatives,
           "summary": summ, "cines": rows}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(rep, indent=1))
    print(json.dumps(rep["summary"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
