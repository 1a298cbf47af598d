"""The quality at full display gain (a view package's `postprocessing.quality.full_gain`), as the runtime computes it
(src/pipeline/full-gain.ts): the view/quality model runs a second time on its input brightened so that the given
percentile of the sector's pixels is white (`train.full_gain`), and the quality is the larger of the two."""
from __future__ import annotations

import numpy as np


def full_gain_percentile(post: dict | None) -> float | None:
    """A view package's postprocessing.quality.full_gain.percentile (the schema holds it to (0, 100]); None without."""
    fg = ((post or {}).get("quality") or {}).get("full_gain")
    return None if fg is None else float(fg["percentile"])


def full_gain_input(x: np.ndarray, mean: float, std: float, percentile: float) -> np.ndarray:
    """Normalised one-channel model inputs [N, 1, H, W] ((share of white - mean) / std) at full gain, normalised the
    same way."""
    import torch

    from .train import full_gain
    share = torch.as_tensor(np.asarray(x, np.float32)[:, 0] * np.float32(std) + np.float32(mean))
    return ((full_gain(share, percentile).numpy() - np.float32(mean)) / np.float32(std))[:, None].astype(np.float32)


def with_full_gain(quality: np.ndarray, run_quality, x: np.ndarray, mean: float, std: float,
                   percentile: float | None) -> np.ndarray:
    """quality (the model's on the inputs x) and, with a percentile, the larger of it and run_quality(inputs at full
    gain), element by element, in quality's shape; as the runtime (ModelRunner.quality), a full-gain quality that is
    not a number is left out and a quality that is not a number stays so."""
    if percentile is None or len(x) == 0:
        return quality
    q_fg = np.asarray(run_quality(full_gain_input(x, mean, std, percentile)), np.float32).reshape(np.shape(quality))
    return np.where(np.isnan(q_fg), quality, np.maximum(quality, q_fg))
