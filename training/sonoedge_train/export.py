"""PyTorch -> ONNX export: pinned opset, static shapes, named inputs and outputs, the ONNX checker, onnxslim graph
simplification, and an ONNX Runtime vs PyTorch parity check on real (simulated) frames.

Uses the TorchScript-based exporter (`dynamo=False`): the torch.export-based one needs onnxscript, which the
harness does not install, and these small convolutional models export exactly with the TorchScript path.
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from scipy.special import softmax

from .constants import INPUT_SIZE, MEAN, STD
from .errors import ExportError

OPSET = 17
INPUT_NAME = "image"
OUTPUTS = {"ds_unet": ["logits"], "view_quality": ["view", "quality", "guidance"]}
TASKS = {"ds_unet": "lv_segmentation", "view_quality": "view_quality"}
PARITY_ATOL = 1e-4
# Outputs that are class logits (softmax over axis 1 in the manifests' postprocessing).
CLASS_OUTPUTS = frozenset({"view", "guidance", "logits"})


class _Named(nn.Module):
    """Turns a dict-returning model into a tuple in the output-name order (ONNX outputs are positional)."""

    def __init__(self, model, names):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, x):
        o = self.model(x)
        return tuple(o[n] for n in self.names) if isinstance(o, dict) else o


def output_names(model_name: str, model_args: dict | None = None, model: nn.Module | None = None) -> list[str]:
    if model_name not in OUTPUTS:
        raise ExportError("E_EXPORT_INPUT", f"Expected a model name in {sorted(OUTPUTS)} but received {model_name!r}")
    names = list(OUTPUTS[model_name])
    if model_name == "view_quality" and not (model_args or {}).get("guidance", True):
        names.remove("guidance")
    if getattr(model, "id_head", None) is not None:  # calibrated: the in-distribution score (calibrate.py)
        names.append("id_score")
    return names


def to_model_input(frames_u8: np.ndarray) -> np.ndarray:
    """uint8 [N, H, W] -> float32 [N, 1, H, W], normalised as preprocess.json says (the runtime does the same)."""
    x = frames_u8.astype(np.float32) / 255.0
    return ((x - MEAN) / STD)[:, None].astype(np.float32)


def simulated_frames(n: int, seed: int = 7, size=INPUT_SIZE, difficulty: str = "train") -> np.ndarray:
    """n real simulated B-mode frames (all five views in turn) at the model input size, uint8 [n, H, W]."""
    from .data.synthetic import resize_frames
    from .sim.simulator import sample_cine_params, simulate_cine
    views = ["A4C", "A2C", "PLAX", "PSAX", "OTHER"]
    out, i = [], 0
    while sum(len(f) for f in out) < n:
        c = simulate_cine(sample_cine_params(seed * 1000 + i, views[i % 5], 4, difficulty), with_masks=False)
        out.append(resize_frames(c.sector, size))
        i += 1
    return np.concatenate(out)[:n]


def export_onnx(model: nn.Module, model_name: str, out, opset: int = OPSET, size=INPUT_SIZE, simplify: bool = True,
                dynamic_batch: bool = False, model_args: dict | None = None) -> dict:
    """Exports `model` (eval mode, CPU) to `out`; returns {"path", "input", "outputs", "opset", "nodes", "bytes"}.

    Static shapes [1, 1, H, W] unless `dynamic_batch`. Raises ExportError E_EXPORT_CHECKER when the ONNX checker
    rejects the graph (before or after simplification)."""
    import onnx
    names = output_names(model_name, model_args, model)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    x = torch.zeros(1, 1, *size)
    dyn = None
    if dynamic_batch:
        dyn = {INPUT_NAME: {0: "batch"}, **{n: {0: "batch"} for n in names}}
    with tempfile.TemporaryDirectory() as td, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = Path(td) / "raw.onnx"
        torch.onnx.export(_Named(model, names), (x,), str(raw), input_names=[INPUT_NAME], output_names=names,
                          opset_version=opset, dynamic_axes=dyn, do_constant_folding=True, dynamo=False)
        m = onnx.load(str(raw))
    _check(m, out, "after export")
    if simplify:
        import onnxslim
        m = onnxslim.slim(m)
        _check(m, out, "after onnxslim")
    m.producer_name, m.producer_version = "sonoedge_train", torch.__version__
    m.doc_string = f"sonoedge {TASKS[model_name]} ({model_name}), opset {opset}"
    onnx.save(m, str(out))
    return {"path": str(out), "input": INPUT_NAME, "outputs": names, "opset": opset, "nodes": len(m.graph.node),
            "bytes": out.stat().st_size}


def _check(m, out, when):
    import onnx
    try:
        onnx.checker.check_model(m, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportError("E_EXPORT_CHECKER", f"{out}: the ONNX checker rejected the graph {when}: {e}", out) from None


def ort_session(path, threads: int = 1, level=None):
    """A CPU session; level: an onnxruntime.GraphOptimizationLevel (default ONNX Runtime's, ORT_ENABLE_ALL)."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    if level is not None:
        so.graph_optimization_level = level
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def run_ort(sess, x: np.ndarray, chunk: int = 256) -> dict[str, np.ndarray]:
    """Runs a static-batch (or dynamic) session over x [N, 1, H, W]: in the session's batch size, or in chunks of at
    most `chunk` frames for a dynamic batch (a whole test set in one run holds every layer's activations at once)."""
    names = [o.name for o in sess.get_outputs()]
    in_name = sess.get_inputs()[0].name
    batch = sess.get_inputs()[0].shape[0]
    step = max(1, min(len(x), chunk)) if not isinstance(batch, int) else batch
    outs = {n: [] for n in names}
    for s in range(0, len(x), step):
        for n, v in zip(names, sess.run(None, {in_name: x[s:s + step]})):
            outs[n].append(v)
    return {n: np.concatenate(v) for n, v in outs.items()}


@torch.no_grad()
def run_torch(model, names, x: np.ndarray, bs: int = 32) -> dict[str, np.ndarray]:
    model = model.cpu().eval()
    outs = {n: [] for n in names}
    for s in range(0, len(x), bs):
        o = model(torch.from_numpy(x[s:s + bs]))
        o = o if isinstance(o, dict) else {names[0]: o}
        for n in names:
            outs[n].append(o[n].numpy())
    return {n: np.concatenate(v) for n, v in outs.items()}


def parity(model, model_name: str, onnx_path, frames_u8: np.ndarray, atol: float = PARITY_ATOL,
           model_args: dict | None = None) -> dict:
    """ONNX Runtime (CPU) vs PyTorch on the same frames: {"max_abs": {output: err}, "frames": n, "atol": atol}.
    Raises ExportError E_EXPORT_PARITY naming the output when any error exceeds `atol`."""
    names = output_names(model_name, model_args, model)
    x = to_model_input(frames_u8)
    ref = run_torch(model, names, x)
    got = run_ort(ort_session(onnx_path), x)

    def consumed(n, v):
        # Class logits are compared as the runtime reads them: softmax over the class axis (invariant to a
        # constant shift, and bounded); scores as they are. Raw logit differences are reported beside.
        v = v.astype(np.float64)
        return softmax(v, axis=1) if n in CLASS_OUTPUTS else v

    err = {n: float(np.abs(consumed(n, ref[n]) - consumed(n, got[n])).max()) for n in names}
    raw = {n: float(np.abs(ref[n].astype(np.float64) - got[n].astype(np.float64)).max()) for n in names}
    res = {"max_abs": err, "max_abs_raw": raw, "compared": {n: "softmax" if n in CLASS_OUTPUTS else "raw" for n in names},
           "frames": int(len(x)), "atol": atol}
    worst = max(err, key=err.get)
    if err[worst] > atol:
        raise ExportError("E_EXPORT_PARITY", f"{onnx_path}: ONNX Runtime differs from PyTorch on output {worst!r} by "
                                             f"max abs {err[worst]:.3g} over {len(x)} frames; expected at most "
                                             f"{atol:g}", onnx_path)
    return res


def export_checkpoint(ckpt, out, opset: int = OPSET, simplify: bool = True, dynamic_batch: bool = False,
                      parity_frames: int = 16, atol: float = PARITY_ATOL, frames_u8=None) -> dict:
    """Library entry behind `export`: checkpoint -> ONNX + checker + parity on simulated frames."""
    from .train import model_from_checkpoint
    model, ck = model_from_checkpoint(ckpt)
    info = export_onnx(model, ck["model_name"], out, opset, simplify=simplify, dynamic_batch=dynamic_batch,
                       model_args=ck["model_args"])
    if frames_u8 is None:
        frames_u8 = simulated_frames(parity_frames)
    info["parity"] = parity(model, ck["model_name"], out, frames_u8, atol, ck["model_args"])
    info["task"] = TASKS[ck["model_name"]]
    return info
