import torch
import torch.nn as nn

from .blocks import ConvBNAct, DSConv, SqueezeExcite


class ViewQualityNet(nn.Module):
    """One depthwise-separable backbone, heads: view logits, quality in [0, 1] (sigmoid), guidance logits."""

    def __init__(self, in_ch=1, width=16, n_views=5, n_guidance=6, dropout=0.1, guidance=True):
        super().__init__()
        w = width
        self.backbone = nn.Sequential(
            ConvBNAct(in_ch, w, 3, 2),
            DSConv(w, 2 * w, 2), DSConv(2 * w, 2 * w),
            DSConv(2 * w, 4 * w, 2), DSConv(4 * w, 4 * w),
            DSConv(4 * w, 8 * w, 2), DSConv(8 * w, 8 * w), SqueezeExcite(8 * w),
            DSConv(8 * w, 16 * w, 2), SqueezeExcite(16 * w),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout))
        self.view_head = nn.Linear(16 * w, n_views)
        self.quality_head = nn.Linear(16 * w, 1)
        self.guidance_head = nn.Linear(16 * w, n_guidance) if guidance else None

    def forward(self, x):
        f = self.backbone(x)
        out = {"view": self.view_head(f), "quality": torch.sigmoid(self.quality_head(f)).squeeze(1)}
        if self.guidance_head is not None:
            out["guidance"] = self.guidance_head(f)
        return out
