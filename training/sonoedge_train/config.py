"""Configs: defaults here; files (JSON or YAML) and --set key=value are overrides that reject unknown keys."""
from __future__ import annotations

import copy
import difflib
import json
from pathlib import Path

from .errors import ConfigError

DEFAULTS = {
    "task": "seg",  # "seg" (LV segmentation) or "view" (view + quality + guidance)
    "seed": 0,
    "out_dir": "training/runs/default",
    # extra_train: more dataset folders appended to the training set (e.g. more simulated cines, other seeds)
    "data": {"train": "training/data_cache/train", "val": "training/data_cache/val", "max_frames": 0,
             "extra_train": []},
    "model": {"name": "ds_unet", "args": {}},
    "train": {"epochs": 10, "batch_size": 32, "lr": 0.003, "weight_decay": 0.0001, "max_minutes": 0.0,
              "max_steps": 0, "threads": 1, "amp": True, "checkpoint_every": 50, "log_every": 10,
              "progress": True, "val_max_frames": 512,
              "workers": 0, "time_schedule": False,
              # phase_balance (seg task, 0 = off): frames drawn with replacement, weighted by (their cardiac phase's
              # share / the commonest phase's) ** -phase_balance, at most 4 (train.phase_sampling_p), so that
              # end-systolic frames are not a minority
              "phase_balance": 0.0,
              "init_from": ""},  # a checkpoint whose model weights start a new run (same model and args)
    # area_weight: the weight of losses.lv_area_loss added to the segmentation loss (0 = off)
    "loss": {"seg": "dice_ce", "area_weight": 0.0, "focal_gamma": 2.0, "quality_weight": 5.0, "guidance_weight": 0.3,
             "view_loss": "ce",
             # "label": the quality head learns the quality label; "geometric": only its geometric part
             # (domain.quality_labels), the walls' visibility left to be measured on the frame (domain.measured_quality);
             # "teacher": the quality of the frozen train.init_from model on the same augmented frame, generated
             # negatives included (the view learns from new data while the quality stays what the starting model says)
             "quality_target": "label",
             # with "teacher": 0 = its quality on the frame; a percentile p in (50, 100]: the larger of its quality on
             # the frame and on the frame at full display gain (train.full_gain: scaled so that the p-th percentile
             # of its pixels above 2/255 reaches white: the sector, and screen overlays where drawn), so that a frame
             # whose walls are seen is not judged poor for its display gain alone
             "teacher_full_gain": 0.0},
    "augment": {"enabled": True, "gain_db": 6.0, "tgc_db": 4.0, "attenuation_db": 6.0, "shadow_prob": 0.2,
                "speckle": 0.15, "dynamic_range_db": 55.0,
                # augment.py: label_aware updates the quality label for gain / DR / rib shadows (simulated data);
                # dr_range [lo, hi] re-compresses to a random dynamic range (label-aware only; [0, 0] = off)
                "label_aware": False, "dr_range": [0.0, 0.0], "shadow_max": 1, "shadow_db": [30.0, 30.0],
                "rib_echo_db": 0.0,
                # probe pose (view task, simulated sector geometry): with probability pose_prob a frame is rotated
                # about the apex by up to +-rotate_deg (label-aware: the quality and guidance labels follow) and
                # zoomed by a factor in [1/(1+zoom), 1+zoom] (a depth change)
                "pose_prob": 0.0, "rotate_deg": 0.0, "zoom": 0.0},
    "adversarial": {"mode": "none", "eps": 0.02, "alpha": 0.01, "steps": 3, "weight": 0.5},
    # domain randomisation of wide training sets (format sonoedge-sim/2; sonoedge_train/domain.py): framing,
    # acquisition chain, screen overlays, and the fraction of generated negatives in view batches (negatives.py)
    "domain": {"enabled": True, "framing": {"bbox": 0.45, "square": 0.25, "full": 0.15, "aspect": 0.15},
               "curve_p": 0.7, "lut_p": 0.3, "gain_p": 0.6, "gain": 0.15, "tgc_p": 0.4, "tgc": 0.2,
               "blur_p": 0.3, "median_p": 0.12, "bilateral_p": 0.08, "down_p": 0.3, "jpeg_p": 0.35,
               "noise_p": 0.3, "noise": 0.06, "overlay_p": 0.3, "negatives": 0.2, "artefact_p": 0.0,
               "clutter_p": 0.0, "clutter_width_max": 9.0, "clutter_level_max": 0.9,
               "dropout_p": 0.0, "edge_p": 0.0, "surround_p": 0.0, "texture_p": 0.0, "neg_in_sector": 0.0,
               "neg_in_sector_min_deg": 60.0,
               # the model's input (wide sets, domain.enabled) scaled by a factor drawn in [dim_min, 1] with
               # probability dim_p after its targets are fixed (the label, or the teacher's quality, of the frame
               # undimmed): a display that is darker and lower in contrast, as real scans often are, screen overlays
               # dimmed with it (train.dim_input)
               "dim_p": 0.0, "dim_min": 0.35},
}
TASK_MODELS = {"seg": "ds_unet", "view": "view_quality"}
# loss.seg: "dice_ce" soft Dice + cross-entropy; "ce" cross-entropy alone (no soft Dice term, whose optimum is biased
# in volume where the border is uncertain: Bertels et al., BrainLes 2019, a MICCAI workshop); "focal" focal loss;
# "dice_focal" soft Dice + focal
SEG_LOSSES = ("ce", "dice_ce", "dice_focal", "focal")


def _type_name(v):
    return type(v).__name__


def merge(base: dict, over: dict, source: str, prefix: str = "") -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        path = f"{prefix}{k}"
        if k not in base:
            near = difflib.get_close_matches(k, list(base), n=1)
            hint = f"; did you mean {prefix + near[0]!r}?" if near else ""
            raise ConfigError("E_CONFIG_UNKNOWN_KEY", f"{source}: unknown key {path!r}{hint} (known keys: "
                              f"{', '.join(prefix + x for x in base)})", source)
        d = base[k]
        if isinstance(d, dict):
            if not isinstance(v, dict):
                raise ConfigError("E_CONFIG_TYPE", f"{source}: {path} expected an object but received {v!r} of type "
                                  f"{_type_name(v)}", source)
            if path == "model.args":  # free-form: checked by the model constructor
                out[k] = copy.deepcopy(v)
            else:
                out[k] = merge(d, v, source, path + ".")
            continue
        ok = (isinstance(v, type(d)) and not (isinstance(v, bool) and not isinstance(d, bool))) or \
            (isinstance(d, float) and isinstance(v, int) and not isinstance(v, bool))
        if not ok:
            raise ConfigError("E_CONFIG_TYPE", f"{source}: {path} expected {_type_name(d)} but received {v!r} of type "
                              f"{_type_name(v)}", source)
        out[k] = float(v) if isinstance(d, float) else v
    return out


def load_file(path) -> dict:
    path = Path(path)
    if not path.exists():
        raise ConfigError("E_CONFIG_MISSING", f"{path}: config file not found", path)
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError("E_CONFIG_PARSE", f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}",
                          path) from None
    except Exception as e:  # yaml.YAMLError
        raise ConfigError("E_CONFIG_PARSE", f"{path}: invalid YAML: {e}", path) from None
    if not isinstance(data, dict):
        raise ConfigError("E_CONFIG_TYPE", f"{path}: expected an object at the top level but received "
                          f"{_type_name(data)}", path)
    return data


def parse_set(item: str):
    if "=" not in item:
        raise ConfigError("E_CONFIG_PARSE", f"--set {item!r}: expected key=value", None)
    k, v = item.split("=", 1)
    try:
        val = json.loads(v)
    except json.JSONDecodeError:
        val = v
    node = {}
    cur = node
    parts = k.split(".")
    for p in parts[:-1]:
        cur[p] = {}
        cur = cur[p]
    cur[parts[-1]] = val
    return node


def resolve(files=(), sets=(), base: dict | None = None) -> dict:
    cfg = copy.deepcopy(base or DEFAULTS)
    for f in files:
        cfg = merge(cfg, load_file(f), str(f))
    for s in sets:
        cfg = merge(cfg, parse_set(s), f"--set {s}")
    if cfg["task"] not in TASK_MODELS:
        raise ConfigError("E_CONFIG_VALUE", f"task expected one of {sorted(TASK_MODELS)} but received "
                          f"{cfg['task']!r}", None)
    if cfg["adversarial"]["mode"] not in ("none", "fgsm", "pgd"):
        raise ConfigError("E_CONFIG_VALUE", f"adversarial.mode expected one of ['fgsm', 'none', 'pgd'] but received "
                          f"{cfg['adversarial']['mode']!r}", None)
    if cfg["loss"]["seg"] not in SEG_LOSSES:
        raise ConfigError("E_CONFIG_VALUE", f"loss.seg expected one of {sorted(SEG_LOSSES)} but received "
                          f"{cfg['loss']['seg']!r}", None)
    if cfg["loss"]["quality_target"] not in ("label", "geometric", "teacher"):
        raise ConfigError("E_CONFIG_VALUE", "loss.quality_target expected one of ['geometric', 'label', 'teacher'] but "
                          f"received {cfg['loss']['quality_target']!r}", None)
    if cfg["loss"]["quality_target"] == "teacher" and (cfg["task"] != "view" or not cfg["train"]["init_from"]):
        raise ConfigError("E_CONFIG_VALUE", "loss.quality_target teacher expected task view with a train.init_from "
                          f"model but received task {cfg['task']!r} and init_from {cfg['train']['init_from']!r}", None)
    fg = cfg["loss"]["teacher_full_gain"]
    if fg and (cfg["loss"]["quality_target"] != "teacher" or not 50 < fg <= 100):
        raise ConfigError("E_CONFIG_VALUE", "loss.teacher_full_gain expected 0, or a percentile in (50, 100] with "
                          f"loss.quality_target teacher, but received {fg!r} with quality_target "
                          f"{cfg['loss']['quality_target']!r}", None)
    d = cfg["domain"]
    if not (0 <= d["dim_p"] <= 1 and 0 < d["dim_min"] <= 1):
        raise ConfigError("E_CONFIG_VALUE", "domain.dim_p and dim_min expected values in [0, 1] and (0, 1] but "
                          f"received {d['dim_p']!r} and {d['dim_min']!r}", None)
    if not isinstance(cfg["loss"]["area_weight"], (int, float)) or cfg["loss"]["area_weight"] < 0:
        raise ConfigError("E_CONFIG_VALUE", "loss.area_weight expected a number >= 0 but received "
                          f"{cfg['loss']['area_weight']!r}", None)
    pb = cfg["train"]["phase_balance"]
    if not isinstance(pb, (int, float)) or not 0 <= pb <= 1 or (pb and cfg["task"] != "seg"):
        raise ConfigError("E_CONFIG_VALUE", "train.phase_balance expected a number in [0, 1] (above 0 for task "
                          f"'seg' only) but received {pb!r} for task {cfg['task']!r}", None)
    if cfg["train"]["batch_size"] < 1 or cfg["train"]["epochs"] < 1:
        raise ConfigError("E_CONFIG_VALUE", "train.batch_size and train.epochs expected positive integers but "
                          f"received {cfg['train']['batch_size']} and {cfg['train']['epochs']}", None)
    a = cfg["augment"]
    if a["pose_prob"] > 0 and cfg["task"] == "seg":
        raise ConfigError("E_CONFIG_VALUE", "augment.pose_prob expected 0 for task 'seg' (the pose augmentation "
                          f"does not warp masks) but received {a['pose_prob']}", None)
    if not (0 <= a["pose_prob"] <= 1 and 0 <= a["rotate_deg"] <= 45 and 0 <= a["zoom"] < 1):
        raise ConfigError("E_CONFIG_VALUE", "augment.pose_prob, rotate_deg and zoom expected values in [0, 1], "
                          f"[0, 45] and [0, 1) but received {a['pose_prob']}, {a['rotate_deg']} and {a['zoom']}", None)
    return cfg
