"""Where the LV model's EF deficit sits on the frame (twenty-third wave, training/RESULTS.md): per apical frame the
LV area the model draws (largest component) against the label's, split by the frame's place in its beat (the label
area over the cine's largest) and by the heart's size, on rendered sets of our simulator and on the independent
generator. A diagnosis; it chooses nothing.

    training/.venv/bin/python training/scripts/es_area_bias.py --seg models/lv_segmentation \\
        --sim training/data_cache/wide_val_beats_np_48 --phantom training/data_cache/phantom_beats_diag

Prints, per set: the area ratio (model / label) in bins of the label area over the cine's largest (1.0 = its ED),
the mean ratio at the ED frames against at the ES frames (the cine's smallest label area), the ES excess
expressed as an EF deficit with the ED kept (100 x (ES_model - ES_label) / ED_label, areas), and per view the
runtime's trimmed EF on the model's masks against the same rule on the label masks, with the model / label area and
length at the label's tenth largest and smallest volumes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))

from sonoedge_train.constants import APICAL_VIEWS  # noqa: E402
from sonoedge_train.data.labels import LV  # noqa: E402
from sonoedge_train.data.phantom import load_phantom  # noqa: E402
from sonoedge_train.data.synthetic import SimDataset  # noqa: E402
from sonoedge_train.evaluate import _predict  # noqa: E402
from sonoedge_train.metrics import (area_length_volume, ef_runtime_from, largest_component, lv_area_length,  # noqa: E402
                                    trim_count)
from sonoedge_train.train import model_from_checkpoint  # noqa: E402

BINS = (0.0, 0.55, 0.7, 0.85, 0.95, 1.01)
TRIM = 0.1  # the bundled package's calibration.ef.trim


def lv_masks(model, frames) -> np.ndarray:
    """The model's LV mask (argmax) of every frame, as the runtime draws it before taking the largest component."""
    return np.concatenate([o.argmax(1).numpy() == LV for o in _predict(model, frames)])


def rows(model, frames, masks, cine_ids, cines, spacing) -> tuple[list, list]:
    """Per frame of an apical cine (label area, model area, label / cine's largest label area, is ED, is ES); per
    cine (label EF, model EF, by the runtime's trimmed rule on the masks, and at the label's tenth largest and
    smallest volumes the model / label ratios of area and length: ED area, ED length, ES area, ES length)."""
    pred = lv_masks(model, frames)
    out, per_cine = [], []
    for c in cines:
        if c["view"] not in APICAL_VIEWS:
            continue
        sel = np.nonzero(cine_ids == c["id"])[0]
        lab = np.array([(masks[i] == LV).sum() for i in sel], np.float64)
        comp = [largest_component(pred[i]) for i in sel]
        mod = np.array([m.sum() for m in comp], np.float64)
        if lab.max() <= 0:
            continue
        ed, es = int(lab.argmax()), int(lab.argmin())
        sp = tuple(float(v) for v in spacing[sel[0]])
        # (area, length) per frame of the largest component, as the runtime measures it (metrics.frame_volume_ml)
        al = [lv_area_length(largest_component(masks[i] == LV), sp) for i in sel]
        am = [lv_area_length(m, sp) for m in comp]
        # (volume in ml, length) per frame, as metrics.frame_volumes gives them
        vl, vm = ([(area_length_volume(a, ln) / 1000.0, ln) for a, ln in x] for x in (al, am))
        rl, rm = (ef_runtime_from(v, min_frames=min(16, len(sel)), trim=TRIM) for v in (vl, vm))
        order = np.argsort([v for v, _ in vl])
        k = trim_count(TRIM, len(sel))

        def ratio(idx, q):
            return float(np.mean([am[i][q] / max(al[i][q], 1e-9) for i in idx]))
        if rl["valid"] and rm["valid"]:
            per_cine.append((rl["ef"], rm["ef"], ratio(order[-k:], 0), ratio(order[-k:], 1), ratio(order[:k], 0),
                             ratio(order[:k], 1), APICAL_VIEWS.index(c["view"])))
        for j in range(len(sel)):
            out.append((lab[j], mod[j], lab[j] / lab.max(), j == ed, j == es))
    return out, per_cine


def report(name: str, r: list, per_cine: list) -> None:
    a = np.array(r, np.float64)
    lab, mod, rel, ed, es = a[:, 0], a[:, 1], a[:, 2], a[:, 3] > 0, a[:, 4] > 0
    ok = lab > 0
    ratio = np.where(ok, mod / np.maximum(lab, 1), np.nan)
    print(f"\n{name}: {int(ed.sum())} cines, {len(a)} frames")
    print("| label area / cine's largest | frames | model / label area, mean [p10, p90] |")
    print("| --- | --- | --- |")
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        m = ok & (rel >= lo) & (rel < hi)
        if m.any():
            q = np.nanpercentile(ratio[m], [10, 90])
            print(f"| {lo:.2f}-{min(hi, 1.0):.2f} | {int(m.sum())} | {np.nanmean(ratio[m]):.3f} [{q[0]:.3f}, {q[1]:.3f}] |")
    ed_lab, es_lab = lab[ed], lab[es]
    ed_mod, es_mod = mod[ed], mod[es]
    print(f"- at ED: model / label {np.mean(ed_mod / ed_lab):.3f}; at ES: {np.mean(es_mod / np.maximum(es_lab, 1)):.3f}")
    print(f"- ES excess as EF points (areas, ED kept): {100 * np.mean((es_mod - es_lab) / ed_lab):+.2f}; "
          f"ED shortfall: {100 * np.mean((ed_lab - ed_mod) / ed_lab):+.2f}")
    # the heart's size alone: the ED frames of small hearts against those of large ones
    small = ed_lab < np.median(ed_lab)
    print(f"- ED frames of the smaller half of hearts: {np.mean(ed_mod[small] / ed_lab[small]):.3f}; larger half: "
          f"{np.mean(ed_mod[~small] / ed_lab[~small]):.3f}; ES frames whose label area is within the ED areas' range: "
          f"{np.mean((es_mod / np.maximum(es_lab, 1))[es_lab >= ed_lab.min()]):.3f} "
          f"({int((es_lab >= ed_lab.min()).sum())})")
    every = np.array(per_cine, np.float64)
    for view, c in [("both views", every)] + [(v, every[every[:, 6] == i]) for i, v in enumerate(APICAL_VIEWS)]:
        if not len(c):
            continue
        print(f"- {view}: the runtime's trimmed EF on the masks ({len(c)} cines): label {c[:, 0].mean():.1f}, model "
              f"{c[:, 1].mean():.1f}, model - label {np.mean(c[:, 1] - c[:, 0]):+.2f}; model / label at ED: area "
              f"{c[:, 2].mean():.3f}, length {c[:, 3].mean():.3f}; at ES: area {c[:, 4].mean():.3f}, length "
              f"{c[:, 5].mean():.3f}")


def diagnosis_sets(argv, description: str):
    """The command line this diagnosis shares with es_edge.py: the --seg model and, lazily, each set as (name,
    dataset, pixel spacing (x, y), True for the independent generator's)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--seg", required=True)
    ap.add_argument("--sim", action="append", default=[], help="a rendered set of our simulator (repeatable)")
    ap.add_argument("--phantom", action="append", default=[], help="an independent generator's set (repeatable)")
    a = ap.parse_args(argv)
    model, _ = model_from_checkpoint(a.seg)

    def sets():
        for d in a.sim:
            ds = SimDataset(d)
            yield d, ds, ds.spacing_xy, False
        for d in a.phantom:
            ds = load_phantom(d, size=(112, 112))
            yield d, ds, ds.spacing, True
    return model, sets()


def main(argv=None) -> int:
    model, sets = diagnosis_sets(argv, __doc__.split("\n\n")[0])
    for name, ds, spacing, _ in sets:
        report(name, *rows(model, ds.frames, ds.masks, ds.cine, ds.cines, spacing))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
