import json

import numpy as np
import pytest

from sonoedge_train.config import DEFAULTS, resolve
from sonoedge_train.data.synthetic import FORMAT, SimDataset
from sonoedge_train.errors import ConfigError, DatasetError


def _write(root, **over):
    root.mkdir(parents=True, exist_ok=True)
    n = 3
    arrays = dict(frames=np.zeros((n, 8, 8), np.uint8), masks=np.zeros((n, 8, 8), np.uint8),
                  view=np.zeros(n, np.int64), quality=np.full(n, 0.5, np.float32), guidance=np.zeros(n, np.int64),
                  cine=np.zeros(n, np.int32), frame=np.arange(n, dtype=np.int32), spacing=np.ones(n, np.float32))
    arrays.update(over)
    np.savez_compressed(root / "shard_00000.npz", **arrays)
    (root / "index.json").write_text(json.dumps({"format": FORMAT, "shards": [{"file": "shard_00000.npz",
                                                                               "n_frames": len(arrays["frames"])}]}))


def test_dataset_ok_and_errors(tmp_path):
    _write(tmp_path / "ok")
    assert len(SimDataset(tmp_path / "ok")) == 3
    with pytest.raises(DatasetError) as e:
        SimDataset(tmp_path / "missing")
    assert e.value.code == "E_DATASET_MISSING"
    assert str(e.value) == (f"E_DATASET_MISSING: {tmp_path / 'missing' / 'index.json'}: dataset index not found "
                            "(expected index.json written by `python -m sonoedge_train simulate`)")
    bad = np.zeros((3, 8, 8), np.uint8)
    bad[1, 2, 2] = 7
    _write(tmp_path / "lab", masks=bad)
    with pytest.raises(DatasetError) as e:
        SimDataset(tmp_path / "lab")
    assert str(e.value) == (f"E_LABEL_RANGE: {tmp_path / 'lab' / 'shard_00000.npz'}: masks holds label 7 but the "
                            "expected range is 0..3")
    _write(tmp_path / "q", quality=np.array([0.1, 1.5, 0.2], np.float32))
    with pytest.raises(DatasetError) as e:
        SimDataset(tmp_path / "q")
    assert str(e.value) == (f"E_LABEL_RANGE: {tmp_path / 'q' / 'shard_00000.npz'}: quality holds 1.5 but the "
                            "expected range is [0, 1]")
    _write(tmp_path / "empty", frames=np.zeros((0, 8, 8), np.uint8), masks=np.zeros((0, 8, 8), np.uint8),
           view=np.zeros(0, np.int64), quality=np.zeros(0, np.float32), guidance=np.zeros(0, np.int64),
           cine=np.zeros(0, np.int32), frame=np.zeros(0, np.int32), spacing=np.zeros(0, np.float32))
    with pytest.raises(DatasetError) as e:
        SimDataset(tmp_path / "empty")
    assert str(e.value) == f"E_DATASET_EMPTY: {tmp_path / 'empty' / 'index.json'}: dataset has no frames"
    _write(tmp_path / "corrupt")
    (tmp_path / "corrupt" / "shard_00000.npz").write_bytes(b"garbage")
    with pytest.raises(DatasetError) as e:
        SimDataset(tmp_path / "corrupt")
    assert e.value.code == "E_DATASET_CORRUPT"
    assert str(e.value).startswith(f"E_DATASET_CORRUPT: {tmp_path / 'corrupt' / 'shard_00000.npz'}: cannot read shard")
    (tmp_path / "corrupt" / "index.json").write_text("{not json")
    with pytest.raises(DatasetError) as e:
        SimDataset(tmp_path / "corrupt")
    assert str(e.value) == (f"E_DATASET_CORRUPT: {tmp_path / 'corrupt' / 'index.json'}: not valid JSON (Expecting "
                            "property name enclosed in double quotes)")
    (tmp_path / "corrupt" / "shard_00000.npz").unlink()
    _write(tmp_path / "gone")
    (tmp_path / "gone" / "shard_00000.npz").unlink()
    with pytest.raises(DatasetError) as e:
        SimDataset(tmp_path / "gone")
    assert str(e.value) == (f"E_DATASET_MISSING: {tmp_path / 'gone' / 'shard_00000.npz'}: shard listed in index.json "
                            "is missing")


def test_config_overrides(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"train": {"epochs": 3, "lr": 1}, "model": {"args": {"widths": [8, 16]}}}))
    cfg = resolve([f], ["train.batch_size=4", "loss.seg=focal"])
    assert cfg["train"]["epochs"] == 3 and cfg["train"]["lr"] == 1.0 and isinstance(cfg["train"]["lr"], float)
    assert cfg["train"]["batch_size"] == 4 and cfg["loss"]["seg"] == "focal"
    assert cfg["model"]["args"] == {"widths": [8, 16]} and cfg["data"] == DEFAULTS["data"]
    f.write_text(json.dumps({"train": {"epoch": 3}}))
    with pytest.raises(ConfigError) as e:
        resolve([f])
    assert e.value.code == "E_CONFIG_UNKNOWN_KEY"
    assert str(e.value).startswith(f"E_CONFIG_UNKNOWN_KEY: {f}: unknown key 'train.epoch'; did you mean 'train.epochs'?")
    f.write_text(json.dumps({"train": {"epochs": "ten"}}))
    with pytest.raises(ConfigError) as e:
        resolve([f])
    assert str(e.value) == f"E_CONFIG_TYPE: {f}: train.epochs expected int but received 'ten' of type str"
    f.write_text('{"train": {"epochs": 3,}}')
    with pytest.raises(ConfigError) as e:
        resolve([f])
    assert str(e.value) == (f"E_CONFIG_PARSE: {f}: invalid JSON at line 1 column 24: Expecting property name "
                            "enclosed in double quotes")
    with pytest.raises(ConfigError) as e:
        resolve([], ["adversarial.mode=cw"])
    assert str(e.value) == "E_CONFIG_VALUE: adversarial.mode expected one of ['fgsm', 'none', 'pgd'] but received 'cw'"
    with pytest.raises(ConfigError) as e:
        resolve([], ["loss.quality_target=walls"])
    assert str(e.value) == ("E_CONFIG_VALUE: loss.quality_target expected one of ['geometric', 'label', 'teacher'] but "
                            "received 'walls'")
    with pytest.raises(ConfigError) as e:
        resolve([], ["task=view", "model.name=view_quality", "loss.quality_target=teacher"])
    assert str(e.value) == ("E_CONFIG_VALUE: loss.quality_target teacher expected task view with a train.init_from "
                            "model but received task 'view' and init_from ''")
    with pytest.raises(ConfigError) as e:
        resolve([], ["loss.teacher_full_gain=99"])
    assert str(e.value) == ("E_CONFIG_VALUE: loss.teacher_full_gain expected 0, or a percentile in (50, 100] with "
                            "loss.quality_target teacher, but received 99.0 with quality_target 'label'")
    with pytest.raises(ConfigError) as e:
        resolve([], ["task=view", "model.name=view_quality", "loss.quality_target=teacher", "train.init_from=x.pt",
                     "loss.teacher_full_gain=40"])
    assert str(e.value) == ("E_CONFIG_VALUE: loss.teacher_full_gain expected 0, or a percentile in (50, 100] with "
                            "loss.quality_target teacher, but received 40.0 with quality_target 'teacher'")
    assert resolve([], ["task=view", "model.name=view_quality", "loss.quality_target=teacher", "train.init_from=x.pt",
                        "loss.teacher_full_gain=100"])["loss"]["teacher_full_gain"] == 100.0
    for sets, got in ((["domain.dim_p=1.5"], "1.5 and 0.35"), (["domain.dim_min=0"], "0.0 and 0.0")):
        with pytest.raises(ConfigError) as e:
            resolve([], sets)
        assert str(e.value) == ("E_CONFIG_VALUE: domain.dim_p and dim_min expected values in [0, 1] and (0, 1] but "
                                f"received {got}")
    with pytest.raises(ConfigError) as e:
        resolve([tmp_path / "nope.yaml"])
    assert e.value.code == "E_CONFIG_MISSING"
    y = tmp_path / "c.yaml"
    y.write_text("task: view\nmodel:\n  name: view_quality\n")
    assert resolve([y])["task"] == "view"
