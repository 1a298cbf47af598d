import torch
import torch.nn as nn

from .blocks import ConvBNAct, DSConv, SqueezeExcite


class IdScoreHead(nn.Module):
    """In-distribution score in [0, 1] from the backbone's pooled features and the view logits (calibrate.py fits
    its buffers on held-out data; docs/MODEL_PACKAGE.md "In-distribution score"):

      d      = min over the heart views c of (f - mu_c)^T P (f - mu_c)      (Mahalanobis, tied precision P = L L^T)
      energy = -T log sum_k exp(logit_k / T)                                (free energy of the calibrated logits)
      score  = sigmoid(w0 log(1 + d / D) + w1 energy + w2)                  (D = feature dimension)

    All in float: int8 builds exclude these nodes from quantization (compress.quantize_int8)."""

    def __init__(self, feat_dim: int, n_centers: int):
        super().__init__()
        self.register_buffer("chol", torch.eye(feat_dim))
        self.register_buffer("centers", torch.zeros(n_centers, feat_dim))  # mu_c @ L
        self.register_buffer("coef", torch.zeros(3))
        self.register_buffer("temperature", torch.ones(1))

    def distance(self, f):
        z = f @ self.chol
        return ((z.unsqueeze(1) - self.centers.unsqueeze(0)) ** 2).sum(-1).min(1).values

    def energy(self, logits):
        t = self.temperature
        return -t * torch.logsumexp(logits / t, dim=1)

    def forward(self, f, logits):
        d = self.distance(f)
        x = self.coef[0] * torch.log1p(d / f.shape[1]) + self.coef[1] * self.energy(logits) + self.coef[2]
        return torch.sigmoid(x)


class ViewQualityNet(nn.Module):
    """One depthwise-separable backbone, heads: view logits, quality in [0, 1] (sigmoid), guidance logits, and, once
    calibrated (attach_id_head), the in-distribution score."""

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
        self.id_head = None
        self.feat_dim = 16 * w

    def attach_id_head(self, n_centers: int) -> IdScoreHead:
        self.id_head = IdScoreHead(self.feat_dim, n_centers)
        return self.id_head

    def forward(self, x, features: bool = False):
        f = self.backbone(x)
        out = {"view": self.view_head(f), "quality": torch.sigmoid(self.quality_head(f)).squeeze(1)}
        if self.guidance_head is not None:
            out["guidance"] = self.guidance_head(f)
        if self.id_head is not None:
            out["id_score"] = self.id_head(f, out["view"])
        if features:
            out["features"] = f
        return out
