"""The fine-tuning recipe of training/README.md ("Real data: evaluate and fine-tune"), end to end on the generated
EchoNet-Dynamic fixture, through the command line's entry point: import-real, train --init-from, build-bundled
--only lv_segmentation with the user's own key, verify. Tiny model, a few steps."""
import json
from pathlib import Path

import numpy as np

from sonoedge_train.cli import main
from sonoedge_train.data.labels import NOT_LV
from sonoedge_train.data.synthetic import SimDataset, write_dataset
from sonoedge_train.package import verify_package
from sonoedge_train.real_fixtures import write_echonet
from sonoedge_train.train import load_checkpoint

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def test_import_train_package_verify(tmp_path, capsys):
    write_echonet(tmp_path / "echonet")
    sim = tmp_path / "sim"  # the starting checkpoint's data, and the val/test sets build-bundled measures on
    write_dataset(sim / "train", 4, 5, 6, (112, 112))
    write_dataset(sim / "val", 2, 2, 4, (112, 112))
    write_dataset(sim / "test", 3, 3, 4, (112, 112), difficulty="hard")
    tiny = str(CONFIGS / "tiny_seg.json")
    assert main(["train", "--config", tiny, "--set", f"data.train={sim / 'train'}", "--set",
                 f"data.val={sim / 'val'}", "--set", f"out_dir={tmp_path / 'pre'}", "--set", "train.max_steps=3"]) == 0

    # 1. import the traced frames of the user's copy
    for split in ("TRAIN", "VAL"):
        assert main(["import-real", "--echonet", str(tmp_path / "echonet"), "--split", split, "--out",
                     str(tmp_path / f"real_{split.lower()}")]) == 0
    ds = SimDataset(tmp_path / "real_train")
    assert len(ds) == 4 and ds.index["format"] == "sonoedge-real/1" and set(np.unique(ds.masks)) == {0, 1, NOT_LV}

    # 2. fine-tune from the checkpoint; --init-from is train.init_from
    pre = tmp_path / "pre"  # the run to start from: its saved config and its checkpoint
    assert main(["train", "--config", str(pre / "config.json"), "--init-from", str(pre / "final.pt"),
                 "--set", f"data.train={tmp_path / 'real_train'}", "--set", f"data.val={tmp_path / 'real_val'}",
                 "--set", f"out_dir={tmp_path / 'ft'}", "--set", "train.batch_size=2", "--set",
                 "train.max_steps=4"]) == 0
    assert "initialised the weights from" in capsys.readouterr().out
    ck = load_checkpoint(tmp_path / "ft" / "final.pt")
    assert ck["config"]["train"]["init_from"] == str(pre / "final.pt") and ck["global_step"] == 4
    assert 0.0 <= ck["val"]["val_lv_dice"] <= 1.0

    # 3. package and sign with the user's own key; 4. verify against the user's trust store
    assert main(["keygen", "--private-out", str(tmp_path / "keys" / "mine.pem"), "--trust-dir",
                 str(tmp_path / "trust"), "--label", "mine"]) == 0
    kid = json.loads(capsys.readouterr().out)["key_id"]
    assert main(["build-bundled", "--seg-checkpoint", str(tmp_path / "ft" / "final.pt"), "--only", "lv_segmentation",
                 "--out", str(tmp_path / "models"), "--data-root", str(sim), "--key",
                 str(tmp_path / "keys" / "mine.pem")]) == 0
    r = verify_package(tmp_path / "models" / "lv_segmentation", tmp_path / "trust")
    assert r["signed"] and r["key_id"] == kid and r["manifest"]["task"] == "lv_segmentation"
    assert r["manifest"]["provenance"]["config"]["data"]["train"] == str(tmp_path / "real_train")
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "models" / "lv_segmentation"), "--trust", str(tmp_path / "trust")]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True
