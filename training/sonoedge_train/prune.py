"""Structured channel pruning of the view/quality network that physically removes channels, then fine-tuning.

Every feature map the backbone's ConvBNAct layers produce (the stem and each block's pointwise conv) keeps the
channels with the largest |BatchNorm gamma|; the producer's output channels, the next depthwise conv's channels
(and its group count), the next pointwise conv's input channels, the squeeze-excite convs on the way and the
heads' input features are sliced to match, so the result is a smaller dense network (fewer FLOPs and bytes), not a
mask. Fine-tuning then recovers accuracy with the model's own training loss and augmentations.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from .errors import ExportError
from .models.blocks import ConvBNAct, DSConv, SqueezeExcite


def _conv(c: nn.Conv2d, out_idx=None, in_idx=None) -> nn.Conv2d:
    w = c.weight.detach()
    groups = c.groups
    if out_idx is not None:
        w = w[out_idx]
    if in_idx is not None and groups == 1:
        w = w[:, in_idx]
    if groups > 1:  # depthwise: channels follow out_idx (== in_idx)
        groups = w.shape[0]
    n = nn.Conv2d(w.shape[1] * groups, w.shape[0], c.kernel_size, c.stride, c.padding, groups=groups,
                  bias=c.bias is not None)
    n.weight.data.copy_(w)
    if c.bias is not None:
        n.bias.data.copy_(c.bias.detach() if out_idx is None else c.bias.detach()[out_idx])
    return n


def _bn(b: nn.BatchNorm2d, idx) -> nn.BatchNorm2d:
    n = nn.BatchNorm2d(len(idx), b.eps, b.momentum)
    for name in ("weight", "bias"):
        getattr(n, name).data.copy_(getattr(b, name).detach()[idx])
    n.running_mean.copy_(b.running_mean[idx])
    n.running_var.copy_(b.running_var[idx])
    return n


def _keep(bn: nn.BatchNorm2d, ratio: float, multiple: int = 4):
    c = bn.num_features
    k = max(multiple, int(round(c * (1 - ratio) / multiple)) * multiple)
    k = min(c, k)
    order = torch.argsort(bn.weight.detach().abs(), descending=True)[:k]
    return torch.sort(order).values


def prune_view_quality(model, ratio: float = 0.3):
    """Returns the model with `ratio` of the channels of every backbone feature map removed (in place)."""
    if not 0 < ratio < 1:
        raise ExportError("E_EXPORT_INPUT", f"Expected a pruning ratio in (0, 1) but received {ratio!r}")
    training = model.training
    bb = model.backbone
    producers = []  # (index in backbone, ConvBNAct producing the map)
    for i, m in enumerate(bb):
        if isinstance(m, DSConv):
            producers.append((i, m[1]))
        elif isinstance(m, ConvBNAct):
            producers.append((i, m))
    for pos, (i, prod) in enumerate(producers):
        idx = _keep(prod[1], ratio)
        prod[0] = _conv(prod[0], out_idx=idx)
        prod[1] = _bn(prod[1], idx)
        # consumers up to the next producer (or the heads)
        nxt = producers[pos + 1][0] if pos + 1 < len(producers) else len(bb)
        for j in range(i + 1, nxt + (1 if nxt < len(bb) else 0)):
            m = bb[j]
            if isinstance(m, SqueezeExcite):
                m.fc[1] = _conv(m.fc[1], in_idx=idx)
                m.fc[3] = _conv(m.fc[3], out_idx=idx)
            elif isinstance(m, DSConv):
                dw = m[0]
                dw[0] = _conv(dw[0], out_idx=idx)
                dw[1] = _bn(dw[1], idx)
                m[1][0] = _conv(m[1][0], in_idx=idx)
        if nxt == len(bb):
            for name in ("view_head", "quality_head", "guidance_head"):
                h = getattr(model, name, None)
                if h is None:
                    continue
                n = nn.Linear(len(idx), h.out_features)
                n.weight.data.copy_(h.weight.detach()[:, idx])
                n.bias.data.copy_(h.bias.detach())
                setattr(model, name, n)
    return model.train(training)  # the new modules are created in training mode


def count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def fine_tune(model, cfg: dict, train_ds, steps: int = 600, lr: float = 1e-3, bs: int = 32, seed: int = 0,
              log=None):
    """A short fine-tune with the model's own loss and augmentations (cosine LR, Adam), CPU."""
    from .augment import augment_batch
    from .train import Task, to_input
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    task = Task(cfg, torch.device("cpu"))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.train()
    n = len(train_ds)
    for s in range(steps):
        idx = np.sort(rng.choice(n, bs, replace=False))
        x = to_input(augment_batch(train_ds.frames[idx], cfg["augment"], rng), "cpu")
        loss = task.loss(model(x), task.targets(train_ds, idx))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if log and (s % 100 == 0 or s == steps - 1):
            log(f"prune fine-tune step {s}/{steps} loss {loss.item():.4f}")
    return model.eval()
