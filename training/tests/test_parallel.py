"""Sharded simulation (simulate --workers) and DataLoader workers give the same results as one process."""
import json

import numpy as np
import torch

from sonoedge_train.cli import main
from sonoedge_train.data.synthetic import ARRAYS, SimDataset, write_dataset


def _load(root):
    ds = SimDataset(root)
    return json.loads((root / "index.json").read_text()), ds


def test_simulate_workers_identical_for_any_n(tmp_path):
    kw = dict(n_cines=7, seed=9, frames_per_cine=2, size=(32, 32), cines_per_shard=2)
    write_dataset(tmp_path / "w1", workers=1, **kw)
    write_dataset(tmp_path / "w3", workers=3, **kw)
    assert main(["simulate", "--out", str(tmp_path / "cli"), "--cines", "7", "--seed", "9", "--frames", "2",
                 "--size", "32", "--workers", "2", "--quiet"]) == 0
    i1, d1 = _load(tmp_path / "w1")
    i3, d3 = _load(tmp_path / "w3")
    assert i1 == i3 and len(i1["shards"]) == 4 and [c["id"] for c in i1["cines"]] == list(range(7))
    for k in ARRAYS:
        assert np.array_equal(getattr(d1, k), getattr(d3, k)), k
    # the CLI (64-cine shards) holds the same cines and arrays
    ic, dc = _load(tmp_path / "cli")
    assert [{k: v for k, v in c.items() if k not in ("shard", "start")} for c in ic["cines"]] == \
        [{k: v for k, v in c.items() if k not in ("shard", "start")} for c in i1["cines"]]
    for k in ARRAYS:
        assert np.array_equal(getattr(d1, k), getattr(dc, k)), k


def test_simulate_time_budget_keeps_finished_shards(tmp_path):
    write_dataset(tmp_path / "t", n_cines=4, seed=1, frames_per_cine=2, size=(32, 32), cines_per_shard=2,
                  max_minutes=1e-9)
    idx = json.loads((tmp_path / "t" / "index.json").read_text())
    assert idx["requested_cines"] == 4 and len(idx["cines"]) < 4


def test_dataloader_workers_same_weights(tiny_dataset, tmp_path):
    from test_train import _cfg
    from sonoedge_train.train import train
    sets = ["train.epochs=1", "train.max_steps=4", "augment.shadow_prob=0.5"]
    train(_cfg(tiny_dataset, tmp_path / "w0", *sets))
    train(_cfg(tiny_dataset, tmp_path / "w2", *sets, "train.workers=2"))
    a = torch.load(tmp_path / "w0" / "final.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "w2" / "final.pt", weights_only=False)["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_time_schedule_runs(tiny_dataset, tmp_path):
    from test_train import _cfg
    from sonoedge_train.train import train
    res = train(_cfg(tiny_dataset, tmp_path / "ts", "train.epochs=1", "train.max_steps=3", "train.time_schedule=true",
                     "train.max_minutes=5.0"))
    assert res["global_step"] == 3
