import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import ConvBNAct, DSConv


class DSBlock(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(DSConv(cin, cout), DSConv(cout, cout))


class DSUNet(nn.Module):
    """U-Net with depthwise-separable blocks. Output: logits [N, n_classes, H, W] (0 bg, 1 LV, 2 myo, 3 LA)."""

    def __init__(self, in_ch=1, n_classes=4, widths=(16, 32, 64, 128, 160)):
        super().__init__()
        widths = list(widths)
        self.stem = nn.Sequential(ConvBNAct(in_ch, widths[0]), DSConv(widths[0], widths[0]))
        self.down = nn.ModuleList(DSBlock(widths[i], widths[i + 1]) for i in range(len(widths) - 1))
        self.up = nn.ModuleList(DSBlock(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(len(widths) - 1)))
        self.head = nn.Conv2d(widths[0], n_classes, 1)

    def forward(self, x):
        skips = []
        x = self.stem(x)
        for d in self.down:
            skips.append(x)
            x = d(F.max_pool2d(x, 2))
        for u in self.up:
            s = skips.pop()
            x = F.interpolate(x, size=s.shape[-2:], mode="bilinear", align_corners=False)
            x = u(torch.cat([x, s], 1))
        return self.head(x)
