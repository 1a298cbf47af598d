import torch.nn as nn


class ConvBNAct(nn.Sequential):
    def __init__(self, cin, cout, k=3, stride=1, groups=1, act=True):
        layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        if act:
            layers.append(nn.ReLU6(inplace=True))
        super().__init__(*layers)


class DSConv(nn.Sequential):
    """Depthwise 3x3 + pointwise 1x1 (MobileNet), each with BN and ReLU6."""

    def __init__(self, cin, cout, stride=1):
        super().__init__(ConvBNAct(cin, cin, 3, stride, groups=cin), ConvBNAct(cin, cout, 1))


class SqueezeExcite(nn.Module):
    """Channel attention (cheap: global pool + two 1x1)."""

    def __init__(self, c, r=4):
        super().__init__()
        self.fc = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, max(8, c // r), 1), nn.ReLU(inplace=True),
                                nn.Conv2d(max(8, c // r), c, 1), nn.Hardsigmoid())

    def forward(self, x):
        return x * self.fc(x)
