"""int8 on ONNX Runtime's CPU provider: which formulation wins (issue 16, part 1). A measurement study only.

Starts from the bundled fp32 graphs (models/*/model.fp32.onnx), builds int8 candidates with
onnxruntime.quantization (static calibration on wide_val frames, dynamic for comparison), and measures each
against fp32 in the same process: latency at 1 and 2 intra-op threads (median of interleaved rounds, so a noisy
shared machine affects every candidate alike), agreement with fp32 on wide_test frames (LV: Dice of the argmax LV
mask to fp32's; view: top-1 agreement and the change in quality MAE), the label metrics, and the file size.
Writes results.json and table.md under --out and prints the table.

    training/.venv/bin/python training/scripts/int8_cpu_study.py [--out DIR] [--runs 300] [--rounds 10]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quantize_dynamic,  # noqa: E402
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process  # noqa: E402

from sonoedge_train.compress import _Reader as Reader  # noqa: E402  (one frame per call)
from sonoedge_train.data.synthetic import SimDataset  # noqa: E402
from sonoedge_train.export import to_model_input  # noqa: E402
from sonoedge_train.metrics import dice  # noqa: E402

MODELS = {"lv_segmentation": ROOT / "models/lv_segmentation", "view_quality": ROOT / "models/view_quality"}
LEVELS = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
          "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
          "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
TARGET_SPEEDUP, DICE_BUDGET = 1.5, 0.01


def session(path, threads, level="all", profile_prefix=None, optimized_path=None):
    disabled = []
    if level.endswith("-wbq"):  # keep float-weight convs in float: no WeightBiasQuantization transformer
        level, disabled = level[:-4], ["WeightBiasQuantization"]
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = LEVELS[level]
    so.log_severity_level = 3
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    if optimized_path:
        so.optimized_model_filepath = str(optimized_path)
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"], disabled_optimizers=disabled)


def run_all(sess, x):
    names = [o.name for o in sess.get_outputs()]
    inp = sess.get_inputs()[0].name
    outs = {n: [] for n in names}
    for i in range(len(x)):
        for n, v in zip(names, sess.run(None, {inp: x[i:i + 1]})):
            outs[n].append(v)
    return {n: np.concatenate(v) for n, v in outs.items()}


def build_candidates(task, pkg, work, calib_x):
    """{name: (path, level, description)}; the fp32 and bundled int8 files are used as they are."""
    fp32 = pkg / "model.fp32.onnx"
    prep = work / f"{task}.prep.onnx"
    quant_pre_process(str(fp32), str(prep), skip_symbolic_shape=True)
    # the view model's in-distribution head stays in float (as sonoedge_train/compress.py keeps it)
    keep = [n.name for n in onnx.load(str(prep)).graph.node if "id_head" in n.name]
    inp = onnx.load(str(prep)).graph.input[0].name
    c = {"fp32": (fp32, "all", "fp32, ORT_ENABLE_ALL"),
         "fp32@basic": (fp32, "basic", "fp32, ORT_ENABLE_BASIC"),
         "bundled int8": (pkg / "model.int8.onnx", "all",
                          "the shipped TensorRT-shaped QDQ: s8 symmetric activations, s8 per-channel weights")}

    def static(name, fmt, act, wt, per_channel, reduce_range, symmetric_act, desc):
        out = work / f"{task}.{name.replace(' ', '_')}.onnx"
        extra = {"ActivationSymmetric": symmetric_act, "WeightSymmetric": True}
        t0 = time.perf_counter()
        quantize_static(str(prep), str(out), Reader(inp, calib_x), quant_format=fmt, activation_type=act,
                        weight_type=wt, per_channel=per_channel, reduce_range=reduce_range,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep, extra_options=extra)
        print(f"  {task}: {name} quantized in {time.perf_counter() - t0:.1f} s", flush=True)
        c[name] = (out, "all", desc)
        return out

    S8, U8 = QuantType.QInt8, QuantType.QUInt8
    q = static("qdq u8s8 pc", QuantFormat.QDQ, U8, S8, True, False, False,
               "QDQ, u8 asymmetric activations, s8 symmetric per-channel weights")
    c["qdq u8s8 pc@basic"] = (q, "basic", "the same file, ORT_ENABLE_BASIC")
    c["qdq u8s8 pc@extended"] = (q, "extended", "the same file, ORT_ENABLE_EXTENDED")
    static("qdq u8s8 pc rr", QuantFormat.QDQ, U8, S8, True, True, False,
           "as qdq u8s8 pc, reduce_range (7-bit weights)")
    static("qdq u8s8 pt", QuantFormat.QDQ, U8, S8, False, False, False,
           "QDQ, u8 asymmetric activations, s8 per-tensor weights")
    static("qdq s8s8 pc asym", QuantFormat.QDQ, S8, S8, True, False, False,
           "QDQ, s8 asymmetric activations, s8 per-channel weights")
    static("qop u8s8 pc", QuantFormat.QOperator, U8, S8, True, False, False,
           "QOperator (QLinearConv), u8 activations, s8 per-channel weights")
    static("qop u8s8 pc rr", QuantFormat.QOperator, U8, S8, True, True, False,
           "as qop u8s8 pc, reduce_range")
    # depthwise convs (and their ReLU6) in float, dense convs in int8: MLAS's int8 depthwise kernel is the slow one
    g = onnx.load(str(prep)).graph
    dw = [n.name for n in g.node if n.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in n.attribute)]
    if dw:
        cons = {i: n for n in g.node for i in n.input}
        clips = [cons[n.output[0]].name for n in g.node if n.name in dw and n.output[0] in cons
                 and cons[n.output[0]].op_type == "Clip"]
        keep0, keep = keep, keep + dw + clips
        q = static("qdq u8s8 pc dw-float", QuantFormat.QDQ, U8, S8, True, False, False,
                   "QDQ u8s8 per-channel, depthwise convs and their ReLU6 excluded (float), session without "
                   "WeightBiasQuantization (which would quantize them again)")
        c["qdq u8s8 pc dw-float"] = (q, "all-wbq", c["qdq u8s8 pc dw-float"][2])
        keep = keep0
    out = work / f"{task}.dynamic_u8.onnx"
    quantize_dynamic(str(prep), str(out), weight_type=U8, per_channel=False, nodes_to_exclude=keep)
    c["dynamic u8"] = (out, "all", "dynamic quantization (ConvInteger / MatMulInteger), u8 weights")
    return c


def accuracy(task, ref, got, labels):
    if task == "lv_segmentation":
        a, b = ref["logits"].argmax(1) == 1, got["logits"].argmax(1) == 1
        sel = a.reshape(len(a), -1).any(1)
        fid = float(np.mean([dice(x, y) for x, y in zip(b[sel], a[sel])]))
        masks = labels["masks"]
        has = np.array([(m == 1).any() for m in masks])
        lv = float(np.mean([dice(p == 1, g == 1) for p, g in zip(got["logits"].argmax(1)[has], masks[has])]))
        return {"dice_to_fp32": round(fid, 4), "dice_lv": round(lv, 4)}
    agree = float((ref["view"].argmax(1) == got["view"].argmax(1)).mean())
    acc = float((got["view"].argmax(1) == labels["view"]).mean())
    mae = float(np.abs(got["quality"].reshape(-1) - labels["quality"]).mean())
    idd = float(np.abs(got["id_score"].reshape(-1) - ref["id_score"].reshape(-1)).max())
    return {"top1_agree": round(agree, 4), "view_accuracy": round(acc, 4), "quality_mae": round(mae, 4),
            "id_score_max_abs_to_fp32": round(idd, 5)}


def latency(cands, x1, runs, rounds, threads_list):
    """Interleaved rounds: every round runs every (candidate, threads) session runs/rounds times in turn."""
    sess = {(n, t): session(p, t, lvl) for n, (p, lvl, _) in cands.items() for t in threads_list}
    name = {k: s.get_inputs()[0].name for k, s in sess.items()}
    for k, s in sess.items():  # warm-up
        for _ in range(20):
            s.run(None, {name[k]: x1})
    times = collections.defaultdict(list)
    per = max(1, runs // rounds)
    order = list(sess)
    for r in range(rounds):
        for k in (order if r % 2 == 0 else order[::-1]):
            s, nm = sess[k], name[k]
            for _ in range(per):
                t0 = time.perf_counter()
                s.run(None, {nm: x1})
                times[k].append((time.perf_counter() - t0) * 1e3)
    return {k: float(np.median(v)) for k, v in times.items()}, {k: len(v) for k, v in times.items()}


def kernel_profile(path, level, x1, work, runs=50):
    """Time per op type over `runs` 1-thread runs, from ORT's profiler, with convolutions split into depthwise
    and dense (from the group attribute in ORT's optimized graph), and the optimized graph's op counts."""
    so_path = work / "opt.onnx"
    s = session(path, 1, level, profile_prefix=str(work / "prof"), optimized_path=so_path)
    g = onnx.load(str(so_path)).graph
    so_path.unlink()
    group = {n.name: next((a.i for a in n.attribute if a.name == "group"), 1) for n in g.node}
    nm = s.get_inputs()[0].name
    for _ in range(runs):
        s.run(None, {nm: x1})
    f = s.end_profiling()
    ev = json.loads(Path(f).read_text())
    Path(f).unlink()
    tot, cnt = collections.Counter(), collections.Counter()
    for e in ev:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            op = e.get("args", {}).get("op_name", "?")
            if "Conv" in op:
                op += " dw" if group.get(e["name"][:-len("_kernel_time")], 1) > 1 else " dense"
            tot[op] += e.get("dur", 0) / runs / 1000.0
            cnt[op] += 1
    return ({k: {"ms_per_run": round(v, 4), "nodes": cnt[k] // runs} for k, v in tot.most_common()},
            dict(collections.Counter(n.op_type for n in g.node).most_common()))


def cpu_flags():
    try:
        flags = next(l for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("flags")).split()
        model = next(l for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name"))
    except (OSError, StopIteration):
        return {}, "?"
    want = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "amx_int8"]
    return {f: f in flags for f in want}, model.split(":", 1)[1].strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "int8_cpu_study"))
    ap.add_argument("--calib", type=int, default=300, help="calibration frames from wide_val")
    ap.add_argument("--test", type=int, default=600, help="accuracy frames from wide_test")
    ap.add_argument("--runs", type=int, default=300, help="timed runs per candidate and thread count")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--models", default="lv_segmentation,view_quality")
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    flags, cpu = cpu_flags()
    val = SimDataset(ROOT / "training/data_cache/wide_val")
    test = SimDataset(ROOT / "training/data_cache/wide_test")
    rng = np.random.default_rng(0)
    ci = np.sort(rng.choice(len(val.frames), min(args.calib, len(val.frames)), replace=False))
    ti = np.arange(min(args.test, len(test.frames)))
    calib_x = to_model_input(val.frames[ci])
    test_x = to_model_input(test.frames[ti])
    labels = {"masks": np.asarray(test.masks)[ti], "view": np.asarray(test.view)[ti],
              "quality": np.asarray(test.quality)[ti]}
    x1 = test_x[:1].copy()
    res = {"machine": {"cpu": cpu, "cores": os.cpu_count(), "flags": flags, "onnxruntime": ort.__version__,
                       "python": platform.python_version(), "load_before": os.getloadavg()},
           "command": "training/.venv/bin/python training/scripts/int8_cpu_study.py " + " ".join(sys.argv[1:]),
           "calibration_frames": int(len(ci)), "test_frames": int(len(ti)), "models": {}}
    for task in args.models.split(","):
        print(f"{task}: building candidates", flush=True)
        cands = build_candidates(task, MODELS[task], out, calib_x)
        ref = run_all(session(cands["fp32"][0], 2), test_x)
        rows = {}
        for n, (p, lvl, desc) in cands.items():
            got = run_all(session(p, 2, lvl), test_x)
            rows[n] = {"description": desc, "file": str(p), "level": lvl, "bytes": Path(p).stat().st_size,
                       **accuracy(task, ref, got, labels)}
            print(f"  {task}: {n}: {rows[n]}", flush=True)
        print(f"{task}: timing {len(cands)} candidates x threads 1,2, {args.runs} runs in {args.rounds} rounds",
              flush=True)
        med, nruns = latency(cands, x1, args.runs, args.rounds, (1, 2))
        for n in cands:
            for t in (1, 2):
                rows[n][f"ms_{t}t"] = round(med[(n, t)], 4)
                rows[n][f"ratio_{t}t"] = round(med[("fp32", t)] / med[(n, t)], 3)  # > 1: faster than fp32
                rows[n]["runs"] = nruns[(n, t)]
        prof = {}
        for n in ("fp32", "bundled int8", "qdq u8s8 pc", "qop u8s8 pc", "qdq u8s8 pc dw-float"):
            if n in cands:
                k, ops = kernel_profile(cands[n][0], cands[n][1], x1, out)
                prof[n] = {"kernels": k, "optimized_graph_ops": ops}
        res["models"][task] = {"rows": rows, "profile": prof}
    res["machine"]["load_after"] = os.getloadavg()
    (out / "results.json").write_text(json.dumps(res, indent=1))
    md = table(res)
    (out / "table.md").write_text(md)
    print(md)


def table(res):
    m = res["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, onnxruntime {m['onnxruntime']}; flags "
             + ", ".join(f for f, on in m["flags"].items() if on)
             + f" (absent: {', '.join(f for f, on in m['flags'].items() if not on)}); load "
             f"{m['load_before'][0]:.2f} before, {m['load_after'][0]:.2f} after.",
             f"Command: `{res['command'].strip()}`; calibration {res['calibration_frames']} wide_val frames (MinMax), "
             f"accuracy on {res['test_frames']} wide_test frames.", ""]
    for task, d in res["models"].items():
        rows = d["rows"]
        if task == "lv_segmentation":
            base = rows["fp32"]["dice_lv"]
            lines += [f"**{task}** (target: >= {TARGET_SPEEDUP}x fp32 at 1 thread, dice_lv drop <= {DICE_BUDGET})", "",
                      "| candidate | 1 thread ms | x fp32 | 2 threads ms | x fp32 | Dice to fp32 | dice_lv (drop) "
                      "| bytes | target |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
            for n, r in rows.items():
                drop = base - r["dice_lv"]
                ok = r["ratio_1t"] >= TARGET_SPEEDUP and drop <= DICE_BUDGET
                tgt = "-" if n.startswith("fp32") else ("met" if ok else "missed")
                lines.append(f"| {n} | {r['ms_1t']:.3f} | {r['ratio_1t']:.2f} | {r['ms_2t']:.3f} | {r['ratio_2t']:.2f} "
                             f"| {r['dice_to_fp32']:.4f} | {r['dice_lv']:.4f} ({drop:+.4f}) | {r['bytes']} | {tgt} |")
        else:
            base = rows["fp32"]
            lines += [f"**{task}**", "", "| candidate | 1 thread ms | x fp32 | 2 threads ms | x fp32 | top-1 agree "
                      "| view acc | quality MAE (diff) | id_score max abs diff | bytes |",
                      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
            for n, r in rows.items():
                lines.append(f"| {n} | {r['ms_1t']:.3f} | {r['ratio_1t']:.2f} | {r['ms_2t']:.3f} | {r['ratio_2t']:.2f} "
                             f"| {r['top1_agree']:.4f} | {r['view_accuracy']:.4f} | {r['quality_mae']:.4f} "
                             f"({r['quality_mae'] - base['quality_mae']:+.4f}) | {r['id_score_max_abs_to_fp32']} "
                             f"| {r['bytes']} |")
        lines += ["", "Kernel time per op type, 1 thread (ORT profiler, ms per run):", ""]
        for n, p in d["profile"].items():
            k = ", ".join(f"{op} {v['ms_per_run']:.3f} ({v['nodes']})" for op, v in list(p["kernels"].items())[:8])
            lines.append(f"- {n}: {k}")
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
