"""Losses: soft Dice, Dice + cross-entropy (nnU-Net style), focal loss (Lin et al. 2017).

Segmentation targets may hold the partial-annotation values of data/labels.py: IGNORE (255, not annotated: no
term) and NOT_LV (254, one of background / myocardium / LA: cross-entropy and focal terms use p = 1 - p_LV, the LV
Dice counts it as not LV, the other classes' Dice leave it out). Without them every loss is what it was."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .data.labels import IGNORE, LV, NOT_LV


def target_log_prob(logp, target):
    """log-probability of each target's label set from log-softmax `logp` [N, C, ...] and `target` [N, ...]:
    log p_y for a class y, log(1 - p_LV) for NOT_LV; returns (log p, valid) where IGNORE is not valid."""
    valid = target != IGNORE
    not_lv = target == NOT_LV
    t = torch.where(valid & ~not_lv, target, torch.zeros_like(target)).long()
    logpt = logp.gather(1, t.unsqueeze(1)).squeeze(1)
    if bool(not_lv.any()):
        others = torch.cat([logp[:, :LV], logp[:, LV + 1:]], 1)
        logpt = torch.where(not_lv, torch.logsumexp(others, 1), logpt)
    return logpt, valid


def soft_dice_loss(logits, target, include_background=False, smooth=1e-5):
    """1 - mean over classes of 2|P.G| / (|P| + |G|), softmax probabilities, sums over the batch and pixels (the
    pixels whose label for that class is known: IGNORE never, NOT_LV only for the LV class, as not LV)."""
    n_cls = logits.shape[1]
    prob = logits.softmax(1)
    known = (target != IGNORE) & (target != NOT_LV)
    t = torch.where(known, target, torch.zeros_like(target)).long()
    onehot = F.one_hot(t, n_cls).permute(0, 3, 1, 2).to(prob.dtype) * known.unsqueeze(1).to(prob.dtype)
    if not bool(known.all()):
        counted = known.unsqueeze(1).repeat(1, n_cls, 1, 1)
        counted[:, LV] |= target == NOT_LV
        prob = prob * counted.to(prob.dtype)
    start = 0 if include_background else 1
    p, g = prob[:, start:], onehot[:, start:]
    dims = (0, 2, 3)
    inter = (p * g).sum(dims)
    denom = p.sum(dims) + g.sum(dims)
    dice = (2 * inter + smooth) / (denom + smooth)
    return 1 - dice.mean()


def partial_cross_entropy(logits, target):
    """Mean over the annotated pixels of -log p(label set) (target_log_prob); F.cross_entropy without specials."""
    logpt, valid = target_log_prob(F.log_softmax(logits, 1), target)
    if not bool(valid.any()):
        return logits.sum() * 0
    return -(logpt[valid]).mean()


class DiceCELoss(nn.Module):
    def __init__(self, dice_weight=1.0, ce_weight=1.0, include_background=False):
        super().__init__()
        self.dw, self.cw, self.bg = dice_weight, ce_weight, include_background

    def forward(self, logits, target):
        return self.dw * soft_dice_loss(logits, target, self.bg) + self.cw * partial_cross_entropy(logits,
                                                                                                   target.long())


def lv_area_loss(logits, target):
    """Mean over the frames with a labelled LV of |sum of p_LV - LV pixels| / LV pixels (the soft LV area's relative
    error per frame; IGNORE pixels count in neither sum, NOT_LV as not LV). A Dice term sums over the batch, so it
    lets the smallest LVs of a batch (end-systole) read a little large; this term weighs every frame's area alike."""
    prob = logits.softmax(1)[:, LV]
    known = (target != IGNORE).to(prob.dtype)
    p_area = (prob * known).sum((1, 2))
    g_area = (target == LV).sum((1, 2)).to(prob.dtype)
    has = g_area > 0
    if not bool(has.any()):
        return logits.sum() * 0
    return ((p_area - g_area).abs() / g_area.clamp(min=1))[has].mean()


def focal_loss(logits, target, gamma=2.0, alpha=None, ignore_index=-100, reduction="mean"):
    """-alpha_t (1 - p_t)^gamma log p_t over classes (dim 1); works for [N, C] and [N, C, H, W]. Targets equal to
    ignore_index or IGNORE do not count; for NOT_LV, p_t = 1 - p_LV (and alpha_t = 1)."""
    logp = F.log_softmax(logits, 1)
    keep = target != ignore_index
    t = torch.where(keep, target, torch.zeros_like(target)).long()
    logpt, valid = target_log_prob(logp, t)
    valid = valid & keep
    pt = logpt.exp()
    loss = -((1 - pt) ** gamma) * logpt
    if alpha is not None:
        a = torch.as_tensor(alpha, dtype=logits.dtype, device=logits.device)
        cls = (t < len(a)) & valid
        loss = torch.where(cls, a[torch.where(cls, t, torch.zeros_like(t))] * loss, loss)
    loss = loss * valid
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    return loss.sum() / valid.sum().clamp(min=1)
