"""Losses: soft Dice, Dice + cross-entropy (nnU-Net style), focal loss (Lin et al. 2017)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


def soft_dice_loss(logits, target, include_background=False, smooth=1e-5):
    """1 - mean over classes of 2|P.G| / (|P| + |G|), softmax probabilities, sums over the batch and pixels."""
    n_cls = logits.shape[1]
    prob = logits.softmax(1)
    onehot = F.one_hot(target.long(), n_cls).permute(0, 3, 1, 2).to(prob.dtype)
    start = 0 if include_background else 1
    p, g = prob[:, start:], onehot[:, start:]
    dims = (0, 2, 3)
    inter = (p * g).sum(dims)
    denom = p.sum(dims) + g.sum(dims)
    dice = (2 * inter + smooth) / (denom + smooth)
    return 1 - dice.mean()


class DiceCELoss(nn.Module):
    def __init__(self, dice_weight=1.0, ce_weight=1.0, include_background=False):
        super().__init__()
        self.dw, self.cw, self.bg = dice_weight, ce_weight, include_background

    def forward(self, logits, target):
        return self.dw * soft_dice_loss(logits, target, self.bg) + self.cw * F.cross_entropy(logits, target.long())


def focal_loss(logits, target, gamma=2.0, alpha=None, ignore_index=-100, reduction="mean"):
    """-alpha_t (1 - p_t)^gamma log p_t over classes (dim 1); works for [N, C] and [N, C, H, W]."""
    logp = F.log_softmax(logits, 1)
    valid = target != ignore_index
    t = torch.where(valid, target, torch.zeros_like(target)).long()
    logpt = logp.gather(1, t.unsqueeze(1)).squeeze(1)
    pt = logpt.exp()
    loss = -((1 - pt) ** gamma) * logpt
    if alpha is not None:
        a = torch.as_tensor(alpha, dtype=logits.dtype, device=logits.device)[t]
        loss = a * loss
    loss = loss * valid
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    return loss.sum() / valid.sum().clamp(min=1)
