"""`build-bundled`: the signed packages in models/ (view_quality and lv_segmentation, fp32 + int8 each) and the
demo cine (models/samples/).

From checkpoints (`--seg-checkpoint`, `--view-checkpoint`) or, without them, by training both models first with
the committed configs (long on a CPU). Then, per model: export fp32 (checker, onnxslim, parity), INT8 (guarded,
see compress.quantize_int8), held-out metrics of every variant on the test set, CPU latency, the accuracy budget,
manifest, and a signature by the development key. The ONNX files are deterministic for a given checkpoint; the
manifest's latencies and `created` (SOURCE_DATE_EPOCH when set) are not.
"""
from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np

from . import package as pk
from .card import sync_card
from .compress import PRIMARY, check_budget, convert_fp16, cpu_latency_ms, ort_metrics, quantize_int8, variant_table
from .constants import GUIDANCE, INPUT_SIZE, PREPROCESS, SEG_LABELS, VIEWS
from .errors import BudgetError, ExportError
from .export import OPSET, export_checkpoint, export_onnx, parity, simulated_frames

DEV_KEY = pk.REPO_ROOT / "training" / "keys" / "DEVELOPMENT-ONLY-signing-key.pem"
DATA = {"val": {"cines": 60, "seed": 2, "difficulty": "train"},
        "test": {"cines": 150, "seed": 3, "difficulty": "hard"},
        "train": {"cines": 480, "seed": 1, "difficulty": "train"}}
VERSION = "1.0.0"
MAX_FILE_BYTES = 5 * 1024 * 1024
# int8 lists cpu only when it is at least as fast as fp32 on the CPU provider (QDQ graphs with float fallback
# often are not: they are built for TensorRT).
PROVIDERS = {"fp32": ["tensorrt", "cuda", "cpu"], "fp16": ["tensorrt", "cuda"], "int8": ["tensorrt"],
             "fp32_pruned": ["tensorrt", "cuda", "cpu"]}


def ensure_dataset(root, split: str, log=print):
    from .data.synthetic import SimDataset, write_dataset
    p = Path(root) / split
    if not (p / "index.json").exists():
        d = DATA[split]
        log(f"simulating {split} set at {p} ({d['cines']} cines, seed {d['seed']}, {d['difficulty']})")
        write_dataset(p, d["cines"], d["seed"], 16, INPUT_SIZE, d["difficulty"], None, progress=False,
                      workers=max(1, min(4, os.cpu_count() or 1)))
    return SimDataset(p)


def harness_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=pk.REPO_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "training"], cwd=pk.REPO_ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def created_time() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    t = dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc) if epoch else dt.datetime.now(dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _tools() -> dict:
    import onnx
    import onnxruntime
    import onnxslim
    import torch
    return {"python": platform.python_version(), "torch": torch.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__, "onnxslim": onnxslim.__version__}


def _id_outputs(ck) -> tuple[dict, dict, dict]:
    """The in-distribution output, its postprocessing and the view temperature of a calibrated view checkpoint
    (calibrate.calibrate_view); empty for one without."""
    head = ck.get("id_head")
    if not head:
        return {}, {}, {}
    r = head["report"]
    out = {"id_score": {"type": "scalar", "format": "score", "num_channels": 1, "spatial_shape": [], "shape": [1],
                        "dtype": "float32", "value_range": [0.0, 1.0],
                        "channel_def": {"0": "in-distribution score (1 = like the training data)"}}}
    post = {"id_score": {
        "activation": "none", "argmax": False, "thresholds": {k: round(v, 6) for k, v in r["thresholds"].items()},
        "method": "logistic combination of the Mahalanobis distance of the pooled features to the nearest heart "
                  "view (tied shrunk covariance, training frames) and the free energy of the temperature-scaled "
                  "view logits; fitted on held-out frames against generated negatives (sonoedge_train/calibrate.py)",
        "calibration": {"fitted_on": r["fitted_on"], "auroc": r["auroc"], "unknown_rate": r["unknown_rate"]}}}
    view = {"temperature": round(float(r["temperature"]), 6),
            "calibration": {"method": "temperature scaling (NLL on held-out frames)", "fitted_on": r["fitted_on"],
                            "ece_before": round(r["ece_before"], 5), "ece_after": round(r["ece_after"], 5)}}
    return out, post, view


def _tensors(task, ck=None):
    image = {"type": "image", "format": "magnitude", "modality": "US", "num_channels": 1,
             "spatial_shape": list(INPUT_SIZE), "shape": [1, 1, *INPUT_SIZE], "dtype": "float32",
             "value_range": [-1.0, 1.0], "channel_def": {"0": "B-mode intensity (normalised)"}}
    if task == "lv_segmentation":
        outputs = {"logits": {"type": "image", "format": "segmentation", "num_channels": len(SEG_LABELS),
                              "spatial_shape": list(INPUT_SIZE), "shape": [1, len(SEG_LABELS), *INPUT_SIZE],
                              "dtype": "float32", "value_range": [],
                              "channel_def": {str(i): n for i, n in enumerate(SEG_LABELS)}}}
        post = {"logits": {"activation": "softmax", "axis": 1, "argmax": True, "labels": list(SEG_LABELS)}}
    else:
        outputs = {
            "view": {"type": "vector", "format": "classes", "num_channels": len(VIEWS), "spatial_shape": [],
                     "shape": [1, len(VIEWS)], "dtype": "float32", "value_range": [],
                     "channel_def": {str(i): n for i, n in enumerate(VIEWS)}},
            "quality": {"type": "scalar", "format": "score", "num_channels": 1, "spatial_shape": [], "shape": [1],
                        "dtype": "float32", "value_range": [0.0, 1.0],
                        "channel_def": {"0": "image quality (1 = diagnostic)"}},
            "guidance": {"type": "vector", "format": "classes", "num_channels": len(GUIDANCE), "spatial_shape": [],
                         "shape": [1, len(GUIDANCE)], "dtype": "float32", "value_range": [],
                         "channel_def": {str(i): n for i, n in enumerate(GUIDANCE)}}}
        post = {"view": {"activation": "softmax", "axis": 1, "argmax": True, "labels": list(VIEWS)},
                "quality": {"activation": "none", "argmax": False, "thresholds": {"diagnostic": 0.5}},
                "guidance": {"activation": "softmax", "axis": 1, "argmax": True, "labels": list(GUIDANCE)}}
        id_out, id_post, view_extra = _id_outputs(ck or {})
        outputs.update(id_out)
        post.update(id_post)
        post["view"].update(view_extra)
    return {"image": image}, outputs, post


def _preprocessing():
    return {"input": "image", "source": "scan_converted", "crop": "sector_bounding_box",
            "options": {"output": {"width": INPUT_SIZE[1], "height": INPUT_SIZE[0], "channels": 1, "dtype": "float32",
                                   "layout": "NCHW"},
                        "resize": PREPROCESS["resize"], "letterbox": False, "padValue": 0,
                        "normalize": {"mean": PREPROCESS["mean"], "std": PREPROCESS["std"],
                                      "scale": PREPROCESS["scale"]}}}


DESCRIPTIONS = {
    "lv_segmentation": "Left-ventricle segmentation of one B-mode frame (background, LV, myocardium, LA); EF comes "
                       "from the per-frame LV areas over a cine (area-length). Trained on simulated echo only.",
    "view_quality": "Standard view (A4C, A2C, PLAX, PSAX, other), image quality in [0, 1] and probe guidance from one "
                    "B-mode frame. Trained on simulated echo only.",
}


def build_package(task, ckpt, out_dir, test_ds, calib, select, key, budget=None, calibration="minmax",
                  fp16=False, log=print, created=None, prune=None, data_info=None) -> list[dict]:
    """One signed package folder; returns the variant table rows (refused variants included).

    Built in a sibling folder and moved into place only once signed: a build that fails at any step
    (export parity, quantization budget, signing) leaves the existing package as it was."""
    return _in_place(Path(out_dir), lambda out: _build_package_in(out, task, ckpt, test_ds, calib, select, key, budget,
                                                                  calibration, fp16, log, created, prune, data_info))


def _in_place(final: Path, fill):
    """fill(folder) on an empty sibling of `final`, which then replaces `final` by renames only (the old folder is
    removed once the new one is in place, and put back if the move fails); nothing changes when fill raises."""
    out = final.with_name(f".{final.name}.building")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    try:
        result = fill(out)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    old = final.with_name(f".{final.name}.old")
    if old.exists():
        shutil.rmtree(old)
    had = final.exists()
    if had:
        final.rename(old)
    try:
        out.rename(final)
    except BaseException:
        if had:
            old.rename(final)
        shutil.rmtree(out, ignore_errors=True)
        raise
    if had:
        shutil.rmtree(old)
    return result


def _build_package_in(out: Path, task, ckpt, test_ds, calib, select, key, budget, calibration, fp16, log, created,
                      prune, data_info=None) -> list[dict]:
    from .train import load_checkpoint
    ck = load_checkpoint(ckpt)  # its config and model arguments go into the model card (and pruning)
    info = export_checkpoint(ckpt, out / "model.fp32.onnx", frames_u8=simulated_frames(16, seed=5))
    if info["task"] != task:
        raise ExportError("E_EXPORT_INPUT", f"{ckpt}: expected a {task} checkpoint but received a {info['task']} one",
                          ckpt)
    log(f"{task}: exported fp32, parity max abs {info['parity']['max_abs']}")
    compression = {"fp32": {"method": "none", "parity_max_abs_vs_pytorch": info["parity"]["max_abs"],
                            "parity_frames": info["parity"]["frames"]}}
    compression["int8"] = quantize_int8(out / "model.fp32.onnx", out / "model.int8.onnx", calib, calibration,
                                        task=task, select_frames_u8=select, log=log)
    if fp16:
        compression["fp16"] = convert_fp16(out / "model.fp32.onnx", out / "model.fp16.onnx")
    if prune:  # (ratio, steps, train dataset): structured pruning + fine-tuning, exported as its own variant
        from .prune import count, fine_tune, prune_view_quality
        from .train import model_from_checkpoint
        ratio, steps, train_ds = prune
        m, _ = model_from_checkpoint(ckpt)
        n0 = count(m)
        prune_view_quality(m, ratio)
        fine_tune(m, ck["config"], train_ds, steps=steps, seed=int(ck["config"].get("seed", 0)), log=log)
        export_onnx(m, ck["model_name"], out / "model.fp32_pruned.onnx", model_args=ck["model_args"])
        par = parity(m, ck["model_name"], out / "model.fp32_pruned.onnx", simulated_frames(16, seed=5),
                     model_args=ck["model_args"])
        compression["fp32_pruned"] = {
            "method": "structured channel pruning (|BN gamma|, channels physically removed) + fine-tuning",
            "ratio": ratio, "fine_tune_steps": steps, "parameters": {"before": n0, "after": count(m)},
            "parity_max_abs_vs_pytorch": par["max_abs"]}
    names = [v for v in ("fp32", "fp16", "int8", "fp32_pruned") if v in compression]
    rows, variants = _measure_variants(out, task, names, compression, test_ds, budget, log)
    inputs, outputs, post = _tensors(task, ck)
    readme = out / "README.md"
    readme.write_text(_model_card(task, rows, ck, test_ds))
    cfg = ck["config"]
    manifest = {
        "format_version": 1, "name": f"sonoedge-{task.replace('_', '-')}", "version": VERSION, "task": task,
        "description": DESCRIPTIONS[task], "license": "Apache-2.0",
        "inputs": inputs, "outputs": outputs, "preprocessing": _preprocessing(), "postprocessing": post,
        "variants": variants, "files": {"README.md": pk.file_entry(readme)},
        "provenance": {
            "dataset": {"name": "sonoedge simulated echocardiography (python -m sonoedge_train simulate)",
                        "train": {"path": cfg["data"]["train"], **DATA["train"]},
                        "val": {"path": cfg["data"]["val"], **DATA["val"]},
                        "test": {**DATA["test"], "frames": int(len(test_ds)), "used_for": "variant metrics"},
                        "checkpoint": str(Path(ckpt)), "global_step": int(ck.get("global_step", 0))},
            "seed": int(cfg.get("seed", 0)), "config": cfg, "harness_commit": harness_commit(),
            "created": created or created_time(), "signing": pk.DEV_KEY_WARNING, "tools": _tools()},
    }
    if ck.get("ef_calibration"):
        manifest["calibration"] = {"ef": manifest_ef_calibration(ck["ef_calibration"])}
    if ck.get("lv_border"):
        manifest.setdefault("calibration", {})["lv_border"] = manifest_lv_border(ck["lv_border"])
    if data_info:
        manifest["provenance"]["dataset"] = {**data_info, "val": dict(data_info["val"]), "checkpoint": str(Path(ckpt)),
                                             "global_step": int(ck.get("global_step", 0))}
        set_val_used_for(manifest)
    manifest = sync_card(out, manifest)
    pk.validate_manifest(manifest)
    (out / pk.MANIFEST).write_bytes(pk.dump_manifest(manifest))
    pk.sign_package(out, pk.load_private_key(key))
    return rows


def set_val_used_for(manifest: dict) -> None:
    """provenance.dataset.val.used_for from what the package holds: checkpoint selection and int8 calibration
    frames always; a view package's temperature and in-distribution score; an LV package's EF calibration and LV
    border band only where their `fitted_on` names this validation set (they are often fitted on other cines:
    calibration_twins.py, set_ef_calibration.py)."""
    val = manifest["provenance"]["dataset"]["val"]
    uses = ["checkpoint selection"]
    if manifest["task"] == "view_quality":
        uses.append("calibration (temperature, in-distribution score)")
    for key, what in (("ef", "EF calibration"), ("lv_border", "LV border band")):
        fitted = manifest.get("calibration", {}).get(key, {}).get("fitted_on", "")
        if val.get("path") in fitted.split(" (")[0].split(","):
            uses.append(what)
    val["used_for"] = ", ".join([*uses, "int8 calibration frames"])


def manifest_ef_calibration(c: dict) -> dict:
    """A calibrated checkpoint's `ef_calibration` (calibrate --seg) as the manifest's calibration.ef."""
    return {"slope": round(c["slope"], 6), "intercept": round(c["intercept"], 6), "residual_sd": round(c["residual_sd"], 4),
            "fitted_on": c["fitted_on"], "n": c["n"], **({"trim": c["trim"]} if c.get("trim") else {}),
            **({"interval": c["interval"]} if c.get("interval") else {})}


def manifest_lv_border(b: dict) -> dict:
    """A calibrated checkpoint's `lv_border` (calibrate --seg) as the manifest's calibration.lv_border."""
    return {"low": b["low"], "high": b["high"], "threshold": round(b["threshold"], 4), "fitted_on": b["fitted_on"],
            "n": b["n"], "quantile": b["quantile"]}


def _measure_variants(out: Path, task, names, compression, test_ds, budget, log) -> tuple[list[dict], dict]:
    """Held-out metrics, CPU latency and the accuracy budget of each variant file `out/model.<name>.onnx`: the
    variant table rows (a refused variant's file is deleted and its row says why) and the manifest's `variants`."""
    labels = dict(masks=test_ds.masks, views=test_ds.view, quality=test_ds.quality)
    rows, variants, base = [], {}, None
    key_metric = PRIMARY[task][0]
    for v in names:
        f = out / f"model.{v}.onnx"
        m = ort_metrics(task, f, test_ds.frames, **labels)
        lat = cpu_latency_ms(f)
        row = {"package": task, "variant": v, "file": f.name, "bytes": f.stat().st_size, "metrics": m,
               "latency_ms_cpu": lat, "drop": None, "verdict": "kept"}
        if v == "fp32":
            base = m
        else:
            try:
                nums = check_budget(task, v, base, m, budget)
                row["drop"] = nums["drop"]
                compression[v]["accuracy_budget"] = {"metric": key_metric, "max_drop": nums["budget"],
                                                     "drop": nums["drop"]}
            except BudgetError as e:
                row.update(drop=e.numbers["drop"], verdict=f"refused ({e.code})")
                log(f"{task}: {e}")
                f.unlink()
                rows.append(row)
                continue
        if row["bytes"] > MAX_FILE_BYTES:
            raise ExportError("E_EXPORT_INPUT", f"{f}: {row['bytes']} bytes; expected at most {MAX_FILE_BYTES}", f)
        log(f"{task} {v}: {row['bytes']} bytes, {m}, {lat} ms")
        rows.append(row)
        providers = list(PROVIDERS[v])
        if v == "int8" and lat <= variants["fp32"]["latency_ms_cpu"]:
            providers.append("cpu")
        variants[v] = {"file": f.name, **pk.file_entry(f), "providers": providers, "opset": OPSET,
                       "metrics": {k: val for k, val in m.items() if k != "frames"}, "latency_ms_cpu": lat,
                       "compression": compression[v]}
    return rows, variants


def _describe(ds) -> str:
    """The test set as its own index says it was made (seed and difficulty), not as the defaults would make it."""
    idx = getattr(ds, "index", None) or {}
    return (f"{len(ds)} simulated frames (seed {idx.get('seed', DATA['test']['seed'])}, difficulty "
            f"{idx.get('difficulty', DATA['test']['difficulty'])})")


def _model_card(task, rows, ck, test_ds) -> str:
    lines = [f"# sonoedge {task} (bundled, version {VERSION})", "", DESCRIPTIONS[task], "",
             f"Held-out test set: {_describe(test_ds)}. Latency: ONNX Runtime CPU, 1 thread, median.", "",
             variant_table(rows), "",
             "Signed with the DEVELOPMENT-ONLY key (models/trust/); production deployments re-sign with their own "
             "key. Not for clinical use: trained on simulated data only.", ""]
    return "\n".join(lines)


def write_sample_dicom(path, seed=0, frames=16) -> Path:
    from .sim.dicom import write_cine_dicom
    from .sim.simulator import sample_cine_params, simulate_cine
    prm = sample_cine_params(seed, "A4C", frames, "train")
    c = simulate_cine(prm)
    meta = {"view": prm.view, "ed": c.ed, "es": c.es, "ef": round(c.ef, 4), "seed": prm.seed}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return Path(write_cine_dicom(path, c.sector, c.spacing_mm, seed=seed, meta=meta))


def train_default(task, out_dir, minutes, log=print):
    from .config import resolve
    from .train import train
    cfg_file = pk.REPO_ROOT / "training" / "configs" / ("lvseg.json" if task == "lv_segmentation" else
                                                         "view_quality.json")
    cfg = resolve([str(cfg_file)], [f"out_dir={out_dir}", f"train.max_minutes={minutes}"])
    log(f"training {task} into {out_dir} ({minutes} min budget; 0 = the configured epochs)")
    train(cfg, resume=True)
    return Path(out_dir) / "final.pt"


def _merge_rows(new_table: str, old_text: str, package: str) -> str:
    """The table of old_text (VARIANTS.md) with the rows of `package` replaced by those of new_table."""
    mark = f"| {package} |"
    new_rows = [ln for ln in new_table.splitlines() if ln.startswith(mark)]
    lines = [ln for ln in old_text.splitlines() if ln.startswith("|")]
    at = next((i for i, ln in enumerate(lines) if ln.startswith(mark)), min(2, len(lines)))
    kept = [ln for ln in lines if not ln.startswith(mark)]
    if len(kept) < 2:  # no table in old_text
        return new_table
    return "\n".join(kept[:at] + new_rows + kept[at:]) + "\n"


def build_bundled(out="models", seg_ckpt=None, view_ckpt=None, data_root="training/data_cache", key=DEV_KEY,
                  budget=None, calibration="minmax", train_minutes=0.0, fp16=False, prune_view=0.0,
                  prune_steps=1500, only="", log=print, test_dir=None, val_dir=None, sample=True) -> dict:
    """only: build just this package ("view_quality" or "lv_segmentation"): the other package and the sample
    DICOM stay as they are, and VARIANTS.md keeps the other package's rows. test_dir / val_dir: rendered
    evaluation sets (domain.render_dataset) instead of data_root's legacy test and val sets; sample=False keeps
    the sample DICOM as it is."""
    from .data.synthetic import SimDataset
    if only not in ("", "view_quality", "lv_segmentation"):
        raise ValueError(f"only expected view_quality or lv_segmentation but received {only!r}")
    out = Path(out)
    test_ds = SimDataset(test_dir) if test_dir else ensure_dataset(data_root, "test", log)
    val = SimDataset(val_dir) if val_dir else ensure_dataset(data_root, "val", log)
    data_info = None
    if test_dir:
        def describe(ds, path, used):
            ix = ds.index
            return {"path": str(path), "format": ix["format"], "difficulty": ix.get("difficulty"),
                    "seed": ix.get("seed"), "cines": len(ds.cines), "frames": int(len(ds)), "used_for": used,
                    **({"rendered_from": ix["rendered_from"]} if "rendered_from" in ix else {})}
        data_info = {"name": "sonoedge simulated echocardiography, randomised realism (simulate --difficulty wide; "
                             "domain randomisation at training time, sonoedge_train/domain.py)",
                     "val": describe(val, val_dir, ""),  # used_for per package: set_val_used_for
                     "test": describe(test_ds, test_dir, "variant metrics")}
    train_ds = None
    if not ((seg_ckpt or only == "view_quality") and (view_ckpt or only == "lv_segmentation")) or prune_view:
        train_ds = ensure_dataset(data_root, "train", log)
    calib, select = _int8_frames(val)
    created = created_time()
    rows = []
    for task, ck, sub in (("view_quality", view_ckpt, "view"), ("lv_segmentation", seg_ckpt, "lvseg")):
        if only and task != only:
            continue
        if not ck:
            ck = train_default(task, f"training/runs/bundled/{sub}", train_minutes, log)
        prune = (prune_view, prune_steps, train_ds) if task == "view_quality" and prune_view else None
        rows += build_package(task, ck, out / task, test_ds, calib, _selection(task, select), key, budget,
                              calibration, fp16, log, created, prune, data_info)
    sample = out / "samples" / "a4c_cine_16f.dcm"
    if not only and sample:
        write_sample_dicom(sample)
    table = _write_variants(out, rows, test_ds, [only] if only else [])
    return {"rows": rows, "sample": str(sample), "table": table}


def _int8_frames(val) -> tuple[np.ndarray, np.ndarray]:
    """The int8 calibration frames (64 spread over the validation set) and the guard's selection frames."""
    calib = val.frames[np.linspace(0, len(val) - 1, 64).astype(int)]
    select = np.concatenate([simulated_frames(256, seed=11, difficulty="hard"), simulated_frames(64, seed=12)])
    return calib, select


def _selection(task, select):
    return select if task == "view_quality" else select[::3]  # Dice agreement is continuous: fewer frames do


def cpu_summary() -> str:
    """The CPU the latencies and int8 numbers were taken on: model name, architecture and whether it has VNNI."""
    name, flags = platform.processor() or "unknown CPU", []
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        name = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), name)
        flags = next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags")), [])
    except OSError:
        pass
    x86 = platform.machine() in ("x86_64", "AMD64")
    vnni = "" if not x86 else (", VNNI" if {"avx_vnni", "avx512_vnni"} & set(flags) else ", no VNNI")
    return f"{name}, {platform.machine()}{vnni}"


def _write_variants(out: Path, rows, test_ds, only: list[str]) -> str:
    """models/VARIANTS.md from `rows`; with `only`, the other packages' rows stay as they were."""
    table = variant_table(rows)
    if only and (out / "VARIANTS.md").exists():
        merged = (out / "VARIANTS.md").read_text()
        for package in only:
            merged = _merge_rows(table, merged, package)
        table = merged
    (out / "VARIANTS.md").write_text(
        "# Bundled variants (generated by `python -m sonoedge_train build-bundled`)\n\n"
        f"Held-out test set: {_describe(test_ds)}. Sizes of the ONNX files; latency: ONNX Runtime {_tools()['onnxruntime']} "
        f"CPU provider, 1 thread, batch 1, median of 50 runs on the build machine ({cpu_summary()}). Budget: a drop "
        "of at most 0.01 in dice_lv / view_accuracy against fp32.\n\n" + table)
    return table


def requantize_bundled(out="models", key=DEV_KEY, budget=None, calibration="minmax", only="", log=print,
                       test_dir=None, val_dir=None) -> dict:
    """The int8 variant of each bundled package quantized again from the package's own model.fp32.onnx (no
    checkpoint, no training; compress.quantize_int8 as build-bundled runs it), every variant measured again on the
    test set, and the package re-signed. The fp32 files stay byte for byte; the calibration and test sets are the
    ones the manifest names unless val_dir / test_dir are given."""
    from .data.synthetic import SimDataset
    out = Path(out)
    rows, test_ds = [], None
    for task in ("view_quality", "lv_segmentation"):
        if only and task != only:
            continue
        final = out / task
        manifest = pk.verify_package(final, out / "trust")["manifest"]
        data = manifest["provenance"]["dataset"]
        test_ds = SimDataset(test_dir or data["test"]["path"])
        calib, select = _int8_frames(SimDataset(val_dir or data["val"]["path"]))
        rows += _in_place(final, lambda tmp: _requantize_in(tmp, final, task, manifest, test_ds, calib,
                                                            _selection(task, select), key, budget, calibration, log))
    table = _write_variants(out, rows, test_ds, [r["package"] for r in rows if r["variant"] == "fp32"])
    return {"rows": rows, "table": table}


def _requantize_in(tmp: Path, final: Path, task, manifest, test_ds, calib, select, key, budget, calibration,
                   log) -> list[dict]:
    """requantize_bundled's work for one package, into the empty folder `tmp`: the package's files copied, int8
    quantized again, every variant measured, model card, manifest and signature written."""
    for f in final.iterdir():
        if f.name != pk.SIGNATURE and f.is_file():
            shutil.copy2(f, tmp / f.name)
    compression = {v: dict(e["compression"]) for v, e in manifest["variants"].items()}
    compression["int8"] = quantize_int8(tmp / "model.fp32.onnx", tmp / "model.int8.onnx", calib, calibration,
                                        task=task, select_frames_u8=select, log=log)
    compression["int8"]["requantized"] = {"from": "model.fp32.onnx", "harness_commit": harness_commit(),
                                          "created": created_time(), "cpu": cpu_summary()}
    rows, variants = _measure_variants(tmp, task, list(manifest["variants"]), compression, test_ds, budget, log)
    if "int8" not in variants:
        refused = next(r for r in rows if r["variant"] == "int8")
        raise BudgetError("E_VARIANT_BUDGET", f"{task}: the re-quantized int8 variant was refused: a drop of "
                                              f"{refused['drop']:.4f} in {PRIMARY[task][0]} against fp32, more than the "
                                              "budget; the package stays as it was",
                          {"variant": "int8", "metric": PRIMARY[task][0], "drop": refused["drop"]})
    readme = tmp / "README.md"
    readme.write_text(_model_card(task, rows, None, test_ds))
    manifest = sync_card(tmp, {**manifest, "variants": variants})  # README.md's files entry from the card written
    pk.validate_manifest(manifest)
    (tmp / pk.MANIFEST).write_bytes(pk.dump_manifest(manifest))
    pk.sign_package(tmp, pk.load_private_key(key))
    return rows
