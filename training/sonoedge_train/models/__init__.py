"""Small edge models. build_model(name, **args) is how checkpoints are rebuilt (name + args are saved)."""
import torch.nn as nn

from .unet import DSUNet
from .viewnet import ViewQualityNet

REGISTRY = {"view_quality": ViewQualityNet, "ds_unet": DSUNet}


def build_model(name: str, **args) -> nn.Module:
    if name not in REGISTRY:
        raise KeyError(f"Expected model name in {sorted(REGISTRY)} but received {name!r}")
    return REGISTRY[name](**args)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
