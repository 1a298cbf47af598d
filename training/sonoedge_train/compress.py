"""Compressed variants and their proof: INT8 static quantization (QDQ, symmetric, per-channel; TensorRT can
consume it), FP16 with float32 inputs and outputs, and for every variant the file size, held-out accuracy and CPU
latency, with a typed refusal (E_VARIANT_BUDGET) when a variant loses more accuracy than its budget."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from .errors import BudgetError, ExportError
from .export import ort_session, run_ort, to_model_input
from .metrics import dice

CALIBRATION = ("minmax", "entropy", "percentile")
# Primary metric per task, whether higher is better, and the default budget (the largest allowed drop).
PRIMARY = {"lv_segmentation": ("dice_lv", True, 0.01), "view_quality": ("view_accuracy", True, 0.01)}
# INT8 guard targets (agreement with fp32 on the selection frames, see `fidelity`). The segmentation target is
# lower: with every dense conv in float the depthwise convs alone still leave about 0.985 LV-map Dice to fp32.
MIN_FIDELITY = {"lv_segmentation": 0.98, "view_quality": 0.995}


class _Reader:
    """onnxruntime.quantization CalibrationDataReader over preprocessed frames, one frame per call."""

    def __init__(self, name, x):
        self.name, self.x, self.i = name, x, 0

    def get_next(self):
        if self.i >= len(self.x):
            return None
        self.i += 1
        return {self.name: self.x[self.i - 1:self.i]}

    def rewind(self):
        self.i = 0


def _prep(fp32_path, out):
    from onnxruntime.quantization.shape_inference import quant_pre_process
    quant_pre_process(str(fp32_path), str(out), skip_symbolic_shape=True)


def _quantize(prep, out, calib_x, method, per_channel, exclude, percentile, reduce_range):
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    cm = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
          "percentile": CalibrationMethod.Percentile}[method]
    extra = {"ActivationSymmetric": True, "WeightSymmetric": True}
    if method == "percentile":
        extra["CalibPercentile"] = percentile
    name = ort_session(prep).get_inputs()[0].name
    quantize_static(str(prep), str(out), _Reader(name, calib_x), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=per_channel,
                    calibrate_method=cm, nodes_to_exclude=list(exclude), reduce_range=reduce_range,
                    extra_options=extra)


def fidelity(task: str, ref: dict, got: dict) -> float:
    """Label-free agreement of a variant with fp32 on the same frames: the mean LV Dice between the two argmax
    maps (frames where fp32 finds LV), or the fraction of frames where both give the same view (the accuracy
    drop is at most one minus it)."""
    if task == "lv_segmentation":
        a, b = ref["logits"].argmax(1) == 1, got["logits"].argmax(1) == 1
        sel = a.reshape(len(a), -1).any(1)
        return float(np.mean([dice(x, y) for x, y in zip(b[sel], a[sel])])) if sel.any() else 1.0
    return float((ref["view"].argmax(1) == got["view"].argmax(1)).mean())


def quantize_int8(fp32_path, out, calib_frames_u8: np.ndarray, method: str = "minmax", per_channel: bool = True,
                  task: str | None = None, select_frames_u8: np.ndarray | None = None, min_fidelity: float | None = None,
                  percentile: float = 99.999, log=None, reduce_range: bool = True) -> dict:
    """Static INT8 in QDQ format: quant_pre_process, calibration on real frames (minmax, entropy or percentile),
    symmetric int8 activations and weights (zero points 0, as TensorRT requires), per-channel weights.

    reduce_range (the default) keeps the weights in 7 bits (-64..64). ONNX Runtime's x86 int8 convolutions on a
    CPU without VNNI multiply unsigned 8-bit activations by signed 8-bit weights and add pairs in a saturating
    16-bit intermediate (255 x 127 x 2 overflows it; 255 x 64 x 2 does not), so full-range weights give other
    numbers there than on a VNNI or arm64 CPU: the bundled files built with them lost 0.011 dice_lv and view
    accuracy on an AVX2-only CPU against 0.001-0.003 on an AVX-512 VNNI one (docs/BENCHMARKS.md). The 7-bit
    weights are still int8 to TensorRT.

    Symmetric int8 halves the resolution of the non-negative ReLU6 outputs (step 6/127), which costs these small
    ReLU6 networks several points. When `task` and `select_frames_u8` are given, the quantization is guarded: if
    its agreement with fp32 on the selection frames (label-free, see `fidelity`) is below `min_fidelity`, the
    dense (group 1) convolutions are ranked by how much keeping each one in float recovers, and the fewest of them
    are kept in float (no QDQ around them: TensorRT runs those layers in fp16/fp32) until the agreement is reached.
    Returns a description for the manifest's `compression`."""
    import onnx
    if method not in CALIBRATION:
        raise ExportError("E_EXPORT_INPUT", f"Expected a calibration method in {list(CALIBRATION)} but received "
                                            f"{method!r}")
    if len(calib_frames_u8) < 1:
        raise ExportError("E_EXPORT_INPUT", "Expected at least 1 calibration frame but received 0")
    out = Path(out)
    if min_fidelity is None:
        min_fidelity = MIN_FIDELITY.get(task, 0.995)
    calib_x = to_model_input(calib_frames_u8)
    desc = {"method": "static int8 (onnxruntime.quantization)", "format": "QDQ", "calibration": method,
            "calibration_frames": int(len(calib_frames_u8)), "activations": "int8 symmetric",
            "weights": "int8 symmetric " + ("per-channel" if per_channel else "per-tensor")
                       + (", 7-bit range (reduce_range)" if reduce_range else "")}
    if method == "percentile":
        desc["percentile"] = percentile
    with tempfile.TemporaryDirectory() as td:
        prep = Path(td) / "prep.onnx"
        _prep(fp32_path, prep)
        # the in-distribution head (models/viewnet.py IdScoreHead) stays in float: a Mahalanobis distance in int8
        # would move the thresholds fitted in float
        keep = [n.name for n in onnx.load(str(prep)).graph.node if "id_head" in n.name]
        if keep:
            desc["float_nodes"] = keep
        _quantize(prep, out, calib_x, method, per_channel, keep, percentile, reduce_range)
        if task is None or select_frames_u8 is None:
            return desc
        sel_x = to_model_input(select_frames_u8)
        ref = run_ort(ort_session(fp32_path, threads=2), sel_x)

        def score(exclude):
            _quantize(prep, out, calib_x, method, per_channel, [*keep, *exclude], percentile, reduce_range)
            return fidelity(task, ref, run_ort(ort_session(out, threads=2), sel_x))

        f0 = score(())
        desc.update(selection_frames=int(len(sel_x)), min_fidelity=min_fidelity, fidelity_all_int8=round(f0, 4))
        convs = [n for n in onnx.load(str(prep)).graph.node if n.op_type == "Conv"]
        dense = [n.name for n in convs if all(a.name != "group" or a.i == 1 for a in n.attribute)]
        desc["convs"] = len(convs)
        if f0 >= min_fidelity:
            desc.update(float_convs=[], fidelity=round(f0, 4))
            return desc
        loss = {}  # each dense conv's damage alone: quantized while the other dense convs stay in float
        for n in dense:
            loss[n] = 1.0 - score([d for d in dense if d != n])
        order = sorted(dense, key=lambda n: (-loss[n], dense.index(n)))
        lo, hi, best = 1, len(order), None
        while lo <= hi:  # the fewest float layers that reach min_fidelity (agreement mostly rises with k)
            k = (lo + hi) // 2
            f = score(order[:k])
            if log:
                log(f"int8 guard: {k} dense convs in float -> fidelity {f:.4f}")
            if f >= min_fidelity:
                best, hi = k, k - 1
            else:
                lo = k + 1
        # target not reached: every dense conv in float, the most conservative (agreement is noisy in k, and
        # picking the best k seen on the selection frames was measured to overfit them)
        k = len(order) if best is None else best
        f = score(order[:k])  # the file on disk holds the last configuration tried
        desc.update(float_convs=order[:k], fidelity=round(f, 4))
    return desc


def convert_fp16(fp32_path, out) -> dict:
    """FP16 weights and compute, float32 inputs and outputs (onnxruntime.transformers.float16, keep_io_types)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16
    m = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    _toposort(m.graph)  # the converter appends its input Casts at the end of the node list
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, str(out))
    return {"method": "fp16 (onnxruntime.transformers.float16)", "io": "float32 inputs and outputs"}


def _toposort(graph):
    """Reorders graph.node topologically (stable: keeps the given order where it is already valid)."""
    known = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        rest = []
        for n in pending:
            if all(i in known for i in n.input):
                ordered.append(n)
                known.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise ExportError("E_EXPORT_CHECKER", f"graph {graph.name!r} has a cycle or an undefined input at node "
                                                  f"{rest[0].name!r}")
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)


def ort_metrics(task: str, onnx_path, frames_u8, masks=None, views=None, quality=None) -> dict:
    """Held-out metrics of one ONNX file with ONNX Runtime (CPU): dice_lv (frames that contain LV) and dice_myo,
    or view_accuracy and quality_mae."""
    got = run_ort(ort_session(onnx_path, threads=2), to_model_input(frames_u8))
    if task == "lv_segmentation":
        pred = got["logits"].argmax(1)
        has = np.array([(m == 1).any() for m in masks])
        lv = [dice(p == 1, g == 1) for p, g in zip(pred[has], masks[has])]
        myo = [dice(p == 2, g == 2) for p, g in zip(pred[has], masks[has])]
        return {"dice_lv": round(float(np.mean(lv)), 4), "dice_myo": round(float(np.mean(myo)), 4),
                "frames": int(has.sum())}
    acc = float((got["view"].argmax(1) == views).mean())
    q = float(np.abs(got["quality"].reshape(-1) - quality).mean())
    return {"view_accuracy": round(acc, 4), "quality_mae": round(q, 4), "frames": int(len(frames_u8))}


def batch1_input(session) -> tuple[str, list[int]]:
    """The session's first input: its name and its shape with every free dimension set to 1."""
    inp = session.get_inputs()[0]
    return inp.name, [d if isinstance(d, int) else 1 for d in inp.shape]


def cpu_latency_ms(onnx_path, runs: int = 50, warmup: int = 5) -> float:
    """Median wall time of one batch-1 inference, ONNX Runtime CPU provider, 1 thread."""
    s = ort_session(onnx_path, threads=1)
    name, shape = batch1_input(s)
    x = np.zeros(shape, np.float32)
    for _ in range(warmup):
        s.run(None, {name: x})
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        s.run(None, {name: x})
        t.append((time.perf_counter() - t0) * 1e3)
    return round(float(np.median(t)), 3)


def check_budget(task: str, variant: str, baseline: dict, metrics: dict, budget: float | None = None) -> dict:
    """Raises BudgetError E_VARIANT_BUDGET when `variant` lost more of the task's primary metric than `budget`."""
    key, higher, default = PRIMARY[task]
    budget = default if budget is None else budget
    drop = (baseline[key] - metrics[key]) if higher else (metrics[key] - baseline[key])
    numbers = {"variant": variant, "metric": key, "baseline": baseline[key], "value": metrics[key],
               "drop": round(drop, 4), "budget": budget}
    if drop > budget + 1e-12:
        raise BudgetError("E_VARIANT_BUDGET", f"variant {variant} refused: {key} {metrics[key]:.4f} vs fp32 "
                                              f"{baseline[key]:.4f}, a drop of {drop:.4f}; expected a drop of at "
                                              f"most {budget:.4f}", numbers)
    return numbers


def variant_table(rows: list[dict]) -> str:
    """Markdown: one row per (package, variant) with size, metrics, latency and verdict."""
    lines = ["| package | variant | file | size (KB) | metrics (held-out) | drop vs fp32 | CPU latency, 1 thread (ms) | verdict |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        ms = ", ".join(f"{k} {v}" for k, v in r["metrics"].items() if k != "frames")
        drop = "" if r.get("drop") is None else f"{r['drop']:.4f}"
        lines.append(f"| {r['package']} | {r['variant']} | {r['file']} | {r['bytes'] / 1024:.1f} | {ms} | {drop} | "
                     f"{r['latency_ms_cpu']} | {r['verdict']} |")
    return "\n".join(lines) + "\n"
