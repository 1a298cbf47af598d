"""A second judgment on the LV, independent of the LV and view models (tenth wave, training/RESULTS.md): a small
CNN trained only to tell an apical heart as the probe shows it from a turned one. Two kinds of turned hearts:
`--negatives image`, finished frames turned inside their sector (negatives.transform_in_sector: 60-300 degrees or
upside down; the upright ones turned by at most 20 degrees through the same resampling); `--negatives scene`,
hearts turned 60-300 degrees inside the simulator's scene (CineParams.turn_deg), so that the near field and the
depth effects stay the probe's, against upright ones simulated beside them. Measured as a runtime rule on the
bundled packages before building anything: an LV is shown only where the runtime shows one now AND this model
calls the frame upright. Its threshold is chosen on the simulator's validation apical frames only (the score 99% of
them reach); the independent generator's clean, rotated and flipped hearts are the check.

  training/.venv/bin/python training/scripts/orientation_check.py [--negatives image|scene] [--steps 1500] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn

from sonoedge_train.calibrate import auroc
from sonoedge_train.constants import APICAL_IDS, APICAL_VIEWS
from sonoedge_train.data.phantom import load_phantom
from sonoedge_train.data.synthetic import SimDataset, resize_frames
from sonoedge_train.negatives import transform_in_sector
from sonoedge_train.transfer import Packages, _measured

SIZE = 112


def small_cnn() -> nn.Module:
    layers, c = [], 1
    for w in (16, 32, 48, 64):
        layers += [nn.Conv2d(c, w, 3, stride=2, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
        c = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 1))


def resized(frames: np.ndarray) -> np.ndarray:
    return resize_frames(frames, (SIZE, SIZE))


def batch(frames: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Half as the probe shows them, turned by at most 20 degrees (label 1), half turned inside their sector
    (label 0); both through the same resampling (transform_in_sector), so that it is no tell."""
    n = len(frames) // 2
    x = np.concatenate([transform_in_sector(frames[:n], rng, turn_range=(-20.0, 20.0)), transform_in_sector(frames[n:], rng)])
    y = np.r_[np.ones(n), np.zeros(len(frames) - n)].astype(np.float32)
    return x, y


def to_tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy((x.astype(np.float32) / 255.0 - 0.5) / 0.25)[:, None]


def scores(model: nn.Module, frames: np.ndarray) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(frames), 256):
            out.append(torch.sigmoid(model(to_tensor(resized(frames[i:i + 256])))).numpy().reshape(-1))
    return np.concatenate(out) if out else np.zeros(0)


def scene_cines(seed0: int, n: int, turned: bool, rng) -> np.ndarray:
    """n apical cines of 8 frames from the training simulator (wide), each heart turned 60-300 degrees inside the
    scene (CineParams.turn_deg: the probe's image formation unchanged) or not turned."""
    import dataclasses

    from sonoedge_train.sim.simulator import sample_cine_params, simulate_cine
    out = []
    for i in range(n):
        p = sample_cine_params(seed0 + i, APICAL_VIEWS[i % len(APICAL_VIEWS)], 8, "wide")
        if turned:
            p = dataclasses.replace(p, turn_deg=float(rng.uniform(60, 300)))
        out.append(resized(simulate_cine(p, with_masks=False).sector))
    return np.concatenate(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--negatives", choices=("image", "scene"), default="image",
                    help="image: finished frames turned inside their sector (negatives.transform_in_sector); scene: "
                         "hearts turned inside the simulator's scene (CineParams.turn_deg), upright ones beside them")
    ap.add_argument("--cines", type=int, default=300, help="--negatives scene: cines of each class")
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    t0 = time.time()
    if a.negatives == "scene":
        up, down = scene_cines(900_000, a.cines, False, rng), scene_cines(910_000, a.cines, True, rng)
        print(f"{len(up)} upright and {len(down)} turned frames simulated in {time.time() - t0:.0f} s", flush=True)
    else:
        train = SimDataset("training/data_cache/wide_train")
        tr = resized(train.frames[np.isin(train.view, APICAL_IDS)])
    model = small_cnn()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    for step in range(a.steps):
        if a.negatives == "scene":
            x = np.concatenate([up[rng.integers(len(up), size=32)], down[rng.integers(len(down), size=32)]])
            y = np.r_[np.ones(32), np.zeros(32)].astype(np.float32)
        else:
            x, y = batch(tr[rng.integers(len(tr), size=64)], rng)
        if rng.random() < 0.5:  # a mirrored apical view is still upright: the check is not about left and right
            x = x[:, :, ::-1].copy()
        model.train()
        loss = loss_fn(model(to_tensor(x)).reshape(-1), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 250 == 0:
            print(f"step {step} loss {loss.item():.3f} ({time.time() - t0:.0f} s)", flush=True)
    p = Packages("models")
    val = SimDataset("training/data_cache/wide_val")
    vframes = val.frames[np.isin(val.view, APICAL_IDS)]
    turned = transform_in_sector(vframes, np.random.default_rng(1))
    scene_val = scene_cines(920_000, 60, True, np.random.default_rng(2))
    s_val, s_turn = scores(model, vframes), scores(model, turned)
    thr = float(np.percentile(s_val, 1))  # 99% of the simulator's validation apical frames keep their LV
    sets = {"simulator val apical": vframes, "simulator val turned in sector": turned,
            "simulator turned in the scene (60 new cines)": scene_val}
    clean = load_phantom("training/data_cache/phantom_clean")
    sets["independent clean, 60 apical cines"] = clean.frames[np.isin(clean.view, APICAL_IDS)]
    ph = load_phantom("training/data_cache/phantom")
    for v in ("rotated", "flipped", "off_axis", "foreshortened", "shadow"):
        ids = [c["id"] for c in ph.cines if c["variant"] == v and (v in ("rotated", "flipped") or c["view"] in APICAL_VIEWS)]
        sets[f"independent {v}"] = ph.frames[np.isin(ph.cine, ids)]
    res = {"negatives": a.negatives, "threshold": thr, "steps": a.steps, "train_seconds": time.time() - t0,
           "val_auroc": auroc(s_val, s_turn), "sets": {}}
    for name, fr in sets.items():
        x = resized(fr)
        shown = _measured(p, p.view_quality(x), x) & p.lv(x).reshape(len(fr), -1).any(1)
        up = scores(model, fr) >= thr
        res["sets"][name] = {"frames": int(len(fr)), "lv_shown": float(shown.mean()), "upright": float(up.mean()),
                             "lv_shown_and_upright": float((shown & up).mean())}
    print(f"\nthreshold {thr:.3f} (1st percentile of simulator val apical); simulator val AUROC upright vs turned "
          f"{res['val_auroc']:.3f}; {a.steps} steps in {res['train_seconds']:.0f} s\n")
    print("| set | frames | LV shown now | called upright | LV shown with the check |\n| --- | --- | --- | --- | --- |")
    for name, r in res["sets"].items():
        print(f"| {name} | {r['frames']} | {r['lv_shown']:.3f} | {r['upright']:.3f} | {r['lv_shown_and_upright']:.3f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
