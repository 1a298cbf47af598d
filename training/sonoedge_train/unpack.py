"""A training checkpoint from a signed model package, so that `train --init-from models/view_quality` (or any
package folder) fine-tunes the bundled models without the checkpoint they were built from.

The packages hold ONNX only, and the exporter folds every BatchNorm into the convolution before it (eval mode):
the fp32 file has W' = W g / sqrt(v + eps) and b' = beta + (0 - m) g / sqrt(v + eps) per channel, and the four
BatchNorm tensors are gone. Any (W, g, beta, m, v) with the same W' and b' computes the same function in eval mode,
so the folded pair alone cannot say which one the model was trained as. Fine-tuning runs BatchNorm in training
mode, where each batch is normalised by its own statistics: a BatchNorm set to the identity (g = 1, m = 0) would
normalise every channel to unit variance and start from a different function. So the BatchNorm is unfolded from
data: the convolution gets W', and the BatchNorm the running mean m and variance v of W'x over real simulated
frames with g = sqrt(v + eps) and beta = b' + m. Eval mode is then exactly the packaged function (the parity check
below, against ONNX Runtime on the same frames), and training mode is close to it (batch statistics near m and v).

Module names come from the exported node names ("/model/backbone/backbone.0/backbone.0.0/Conv" is module
backbone.0.0; the leading "/model" is export._Named's attribute). Every Conv2d and Linear of the model must be
found with the shape the model expects, once; anything else raises CheckpointError E_CKPT_PACKAGE.

The checkpoint is the plain model: a calibrated view package's in-distribution head (id_score) is not rebuilt
(`calibrate` fits it again on the new weights), nor are the manifest's temperature and EF calibration.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .errors import CheckpointError
from .package import MANIFEST, verify_package

# frames whose convolution outputs give the unfolded BatchNorm statistics (all five views in turn)
STAT_FRAMES = 160


def is_package(path) -> bool:
    """A folder with a manifest.json (what load_checkpoint reads as a package instead of a torch file)."""
    p = Path(path)
    return p.is_dir() and (p / MANIFEST).is_file()


def _module_path(node_name: str) -> str:
    """'/model/backbone/backbone.7/fc/fc.1/Conv' -> 'backbone.7.fc.1' (each scope repeats its parent's prefix
    for the children of a Sequential, not for named attributes)."""
    parts = node_name.strip("/").split("/")[1:-1]  # drop "model" and the op
    path, prev = "", ""
    for seg in parts:
        if prev and seg.startswith(prev + "."):
            path += seg[len(prev):]
        else:
            path = f"{path}.{seg}" if path else seg
        prev = seg
    return path


def _fail(pkg, msg):
    raise CheckpointError("E_CKPT_PACKAGE", f"{pkg}: {msg}", pkg)


def _followed_by_bn(model: nn.Module, name: str) -> nn.BatchNorm2d | None:
    """The BatchNorm2d right after module `name` in its parent Sequential (ConvBNAct), if any."""
    parent_name, _, idx = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if isinstance(parent, nn.Sequential) and idx.isdigit() and int(idx) + 1 < len(parent):
        nxt = parent[int(idx) + 1]
        if isinstance(nxt, nn.BatchNorm2d):
            return nxt
    return None


def _load_weights(model: nn.Module, onnx_path: Path, pkg) -> list[tuple[nn.Conv2d, nn.BatchNorm2d, torch.Tensor]]:
    """Copies every Conv and Gemm of the ONNX graph into the module it came from. Returns the (conv, bn, folded
    bias) triples whose BatchNorm still has to be unfolded."""
    import onnx
    from onnx import numpy_helper
    g = onnx.load(str(onnx_path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    wanted = {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))
              and not n.startswith("id_head")}
    done, folded = set(), []
    for node in g.node:
        if node.op_type not in ("Conv", "Gemm") or node.name.startswith("/model/id_head"):
            continue
        name = _module_path(node.name)
        mod = wanted.get(name)
        if mod is None or name in done:
            _fail(pkg, f"the {node.op_type} node {node.name!r} maps to module {name!r}, which the model "
                       f"{'has already taken' if name in done else 'does not have as a Conv2d or Linear'}")
        if any(i not in inits for i in node.input[1:]) or len(node.input) < 3:
            _fail(pkg, f"the {node.op_type} node {node.name!r} expected constant weight and bias inputs")
        w, b = (torch.from_numpy(np.array(inits[i], dtype=np.float32)) for i in node.input[1:3])
        if node.op_type == "Gemm":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if attrs.get("transB", 0) != 1 or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
                _fail(pkg, f"the Gemm node {node.name!r} expected transB=1, alpha=beta=1 but has {attrs}")
        if tuple(w.shape) != tuple(mod.weight.shape) or b.shape != (mod.weight.shape[0],):
            _fail(pkg, f"module {name!r} expected weight {tuple(mod.weight.shape)} and bias "
                       f"({mod.weight.shape[0]},) but the node {node.name!r} has {tuple(w.shape)} and {tuple(b.shape)}")
        with torch.no_grad():
            mod.weight.copy_(w)
            if mod.bias is not None:
                mod.bias.copy_(b)
            else:
                bn = _followed_by_bn(model, name)
                if bn is None:
                    _fail(pkg, f"module {name!r} has no bias and no BatchNorm after it, but the node "
                               f"{node.name!r} has a bias")
                folded.append((mod, bn, b))
        done.add(name)
    missing = sorted(set(wanted) - done)
    if missing:
        _fail(pkg, f"expected a Conv or Gemm node for every module but found none for {', '.join(missing)}")
    return folded


@torch.no_grad()
def _unfold_batchnorm(model: nn.Module, folded, x: torch.Tensor) -> None:
    """Sets each BatchNorm from the statistics of its convolution's output on x (module docstring)."""
    for conv, bn, b in folded:  # the identity first: eval output W'x + b'
        eps = bn.eps
        bn.weight.fill_(1.0)
        bn.bias.copy_(b)
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - eps)
    stats, hooks = {}, []
    for conv, _, _ in folded:
        def hook(mod, _inp, out):
            acc = stats.setdefault(id(mod), [0, 0.0, 0.0])
            o = out.double().transpose(0, 1).reshape(out.shape[1], -1)
            acc[0] += o.shape[1]
            acc[1] = acc[1] + o.sum(1)
            acc[2] = acc[2] + (o * o).sum(1)
        hooks.append(conv.register_forward_hook(hook))
    model.eval()
    try:
        for s in range(0, len(x), 32):
            model(x[s:s + 32])
    finally:
        for h in hooks:
            h.remove()
    for conv, bn, b in folded:
        n, s1, s2 = stats[id(conv)]
        mean = s1 / n
        var = (s2 / n - mean * mean).clamp_min(0.0)
        bn.running_mean.copy_(mean.float())
        bn.running_var.copy_(var.float())
        bn.weight.copy_(torch.sqrt(var + bn.eps).float())
        bn.bias.copy_((b.double() + mean).float())
        bn.num_batches_tracked.zero_()


def checkpoint_from_package(pkg_dir, trust=None, frames_u8: np.ndarray | None = None) -> dict:
    """Verifies the package (against `trust`, default the `trust` folder beside it, as models/trust is beside
    models/view_quality), rebuilds its model from the fp32 variant and returns a checkpoint dict that load_checkpoint
    callers accept. `parity` in the result is export.parity's report of PyTorch against ONNX Runtime on the same
    frames. Raises PackageError (verification) or CheckpointError E_CKPT_PACKAGE."""
    from .export import parity, simulated_frames, to_model_input
    from .models import build_model
    pkg = Path(pkg_dir)
    trust = Path(trust) if trust is not None else pkg.parent / "trust"
    man = verify_package(pkg, trust)["manifest"]
    cfg = (man.get("provenance") or {}).get("config")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict) or "name" not in cfg["model"]:
        _fail(pkg, "expected provenance.config.model (the training config the package was built from) in "
                   f"{MANIFEST} but it is not there")
    name, args = cfg["model"]["name"], dict(cfg["model"].get("args") or {})
    if "fp32" not in man["variants"]:
        _fail(pkg, f"expected an fp32 variant but the package has {sorted(man['variants'])}")
    onnx_path = pkg / man["variants"]["fp32"]["file"]
    try:
        model = build_model(name, **args)
    except (KeyError, TypeError, ValueError) as e:
        _fail(pkg, f"cannot build model {name!r} with args {args} ({type(e).__name__}: {e})")
    folded = _load_weights(model, onnx_path, pkg)
    if frames_u8 is None:
        frames_u8 = simulated_frames(STAT_FRAMES)
    _unfold_batchnorm(model, folded, torch.from_numpy(to_model_input(frames_u8)))
    model.eval()
    rep = parity(model, name, onnx_path, frames_u8[:32], model_args=args)
    return {"model": model.state_dict(), "model_name": name, "model_args": args, "config": cfg,
            "task": cfg.get("task"), "global_step": 0,
            "source_package": {"path": str(pkg), "name": man["name"], "version": man["version"],
                               "sha256": man["variants"]["fp32"]["sha256"],
                               "checkpoint": man["provenance"].get("dataset", {}).get("checkpoint")},
            "parity": rep}


def write_run(pkg_dir, out, trust=None) -> dict:
    """`unpack`: OUT/final.pt (the checkpoint above, `parity` left out) and OUT/config.json (the package's training
    config with out_dir OUT, no init_from and no data.extra_train), the run folder the fine-tuning recipe starts from (training/README).
    Refuses (E_CKPT_EXISTS) an OUT that already holds a final.pt: a trained run is never overwritten."""
    import json
    from .train import _atomic_save
    out = Path(out)
    if (out / "final.pt").exists():
        raise CheckpointError("E_CKPT_EXISTS", f"{out / 'final.pt'}: expected a run folder without a final.pt but one "
                                               "is there (unpack never overwrites a checkpoint)", out / "final.pt")
    ck = checkpoint_from_package(pkg_dir, trust)
    rep = ck.pop("parity")
    cfg = dict(ck["config"], out_dir=str(out))
    cfg["train"] = dict(cfg.get("train") or {}, init_from="")
    # The package's extra training sets are ours (simulated cines a user's machine need not have): the recipe adds
    # its own with --set data.extra_train=[...] (training/README).
    cfg["data"] = dict(cfg.get("data") or {}, extra_train=[])
    ck["config"] = cfg
    out.mkdir(parents=True, exist_ok=True)
    _atomic_save(ck, out / "final.pt")
    (out / "config.json").write_text(json.dumps(cfg, indent=1) + "\n")
    return {"package": str(pkg_dir), "checkpoint": str(out / "final.pt"), "config": str(out / "config.json"),
            "model": ck["model_name"], "model_args": ck["model_args"], "parity_max_abs": rep["max_abs"]}
