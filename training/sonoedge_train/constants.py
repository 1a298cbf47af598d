"""Constants shared with the runtime, loaded from preprocess.json (the one source)."""
import json
from pathlib import Path

import numpy as np

PREPROCESS_PATH = Path(__file__).with_name("preprocess.json")
PREPROCESS = json.loads(PREPROCESS_PATH.read_text())

INPUT_SIZE = tuple(PREPROCESS["input_size"])  # (H, W)
MEAN = float(PREPROCESS["mean"])
STD = float(PREPROCESS["std"])
SCALE = float(PREPROCESS["scale"])
VIEWS = list(PREPROCESS["views"])
GUIDANCE = list(PREPROCESS["guidance"])
SEG_LABELS = list(PREPROCESS["seg_labels"])
APICAL_VIEWS = ("A4C", "A2C")
# Their class indices (the view head's outputs, the datasets' view labels).
APICAL_IDS = tuple(VIEWS.index(v) for v in APICAL_VIEWS)


def normalize_uint8(frames: np.ndarray) -> np.ndarray:
    """uint8 [..., H, W] -> float32 normalised as the runtime does: (x*scale - mean)/std."""
    return ((frames.astype(np.float32) * SCALE) - MEAN) / STD
