"""The LV package on rendered twin test sets (the same cines drawn with and without one simulator feature, e.g.
`wide_pap_hard` against `wide_valve_hard` of the same seed), and on independent-generator sets: per set, LV Dice over
the frames with an LV, and per cine at its end-diastolic and end-systolic frames (the largest and smallest reference
LV area) the predicted over reference LV area and the Dice; for the first set's cines where the feature is drawn (a
CineParams field that is not empty) the same again, on each simulated set.

    training/.venv/bin/python training/scripts/lv_twins.py [--models models] [--field papillary] SET_A [SET ...]

A set is a rendered simulator set or an independent-generator set (`python -m sonoedge_phantom generate`).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from sonoedge_train.data.phantom import load_labelled
from sonoedge_train.metrics import dice
from sonoedge_train.transfer import Packages


def per_cine(ds, pred):
    """{cine: (ed ratio, ed dice, es ratio, es dice)} at the reference's largest and smallest LV area."""
    out = {}
    for c in np.unique(ds.cine):
        idx = np.nonzero(ds.cine == c)[0]
        area = np.array([(ds.masks[i] == 1).sum() for i in idx])
        if area.max() == 0:
            continue
        row = []
        for i in (idx[area.argmax()], idx[np.where(area > 0, area, area.max() + 1).argmin()]):
            ref, got = ds.masks[i] == 1, pred[i]
            row += [got.sum() / ref.sum(), dice(got, ref)]
        out[int(c)] = row
    return out


def featured(ds, field: str) -> set:
    """Cines whose CineParams has `field` drawn, re-drawn from each cine's seed and view with the raw set's
    difficulty (a rendered set names its raw set in rendered_from)."""
    from sonoedge_train.sim.simulator import sample_cine_params
    raw = json.loads((Path(ds.index.get("rendered_from", ds.root)) / "index.json").read_text())
    return {i for i, c in enumerate(raw["cines"])
            if getattr(sample_cine_params(c["seed"], c["view"], c["n_frames"], raw["difficulty"]), field)}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--models", default="models")
    ap.add_argument("--field", default="papillary")
    a = ap.parse_args(argv)
    pk = Packages(a.models)
    rows, feat = [], None
    for k, path in enumerate(a.sets):
        ds, _, phantom = load_labelled(path)
        pred = pk.lv(ds.frames)
        has = np.array([(m == 1).any() for m in ds.masks])
        d = np.array([dice(p, m == 1) if h else np.nan for p, m, h in zip(pred, ds.masks, has)])
        pc = per_cine(ds, pred)
        if k == 0:
            feat = set() if phantom else featured(ds, a.field)
        subsets = [("all cines", lambda c: True)]
        if feat and not phantom:
            subsets.append((f"cines with {a.field} (set A's)", lambda c: c in feat))
        for name, keep in subsets:
            cs = [c for c in pc if keep(c)]
            fr = np.isin(ds.cine, cs) & has
            v = np.array([pc[c] for c in cs])
            rows.append(f"| {Path(path).name} | {name} | {len(cs)} | {np.nanmean(d[fr]):.3f} | {v[:, 0].mean():.3f} / "
                        f"{v[:, 1].mean():.3f} | {v[:, 2].mean():.3f} / {v[:, 3].mean():.3f} |")
    print(f"models: {a.models}\n")
    print("| set | cines | n | LV Dice (frames with LV) | ED area ratio / Dice | ES area ratio / Dice |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
