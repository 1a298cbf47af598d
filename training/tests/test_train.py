import json
from pathlib import Path

import pytest
import torch

from sonoedge_train.config import resolve
from sonoedge_train.errors import ConfigError
from sonoedge_train.evaluate import evaluate
from sonoedge_train.train import load_checkpoint, train

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def _cfg(tiny_dataset, out, *sets, base="tiny_seg.json"):
    return resolve([CONFIGS / base], [f"data.train={tiny_dataset / 'train'}", f"data.val={tiny_dataset / 'val'}",
                                      f"out_dir={out}", *sets])


def test_resume_after_crash_gives_identical_weights(tiny_dataset, tmp_path):
    sets = ["train.epochs=2", "train.max_steps=10"]
    train(_cfg(tiny_dataset, tmp_path / "full", *sets))
    with pytest.raises(RuntimeError, match="simulated crash after step 7"):
        train(_cfg(tiny_dataset, tmp_path / "crash", *sets), crash_after_steps=7)  # mid-epoch 2 (7 steps/epoch)
    ck = load_checkpoint(tmp_path / "crash" / "last.pt")
    assert (ck["epoch"], ck["step_in_epoch"], ck["global_step"]) == (0, 6, 6)  # checkpoint_every = 2
    assert ck["config"]["out_dir"] == str(tmp_path / "crash") and ck["model_args"] == {"widths": [8, 16, 24]}
    res = train(_cfg(tiny_dataset, tmp_path / "crash", *sets))
    assert res["global_step"] == 10
    a = torch.load(tmp_path / "full" / "final.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "crash" / "final.pt", weights_only=False)["model"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    saved = json.loads((tmp_path / "crash" / "config.json").read_text())
    assert saved["train"]["max_steps"] == 10 and saved["model"]["name"] == "ds_unet"
    rows = (tmp_path / "crash" / "log.csv").read_text().splitlines()
    assert rows[0] == "global_step,epoch,step,loss,lr,elapsed_s,val"
    assert (tmp_path / "crash" / "tb").is_dir()


def test_task_model_mismatch(tiny_dataset, tmp_path):
    with pytest.raises(ConfigError) as e:
        train(_cfg(tiny_dataset, tmp_path / "x", "task=view"))
    assert str(e.value) == "E_CONFIG_VALUE: model.name expected 'view_quality' for task 'view' but received 'ds_unet'"


def test_end_to_end_train_then_evaluate(tiny_dataset, tmp_path):
    seg = train(_cfg(tiny_dataset, tmp_path / "seg", "train.epochs=2"))
    view = train(_cfg(tiny_dataset, tmp_path / "view", "task=view", "model.name=view_quality",
                      'model.args={"width": 8}', "adversarial.mode=fgsm", "train.epochs=2"))
    assert seg["global_step"] == 14 and view["global_step"] == 14
    res = evaluate(tiny_dataset / "val", tmp_path / "report", seg_ckpt=str(tmp_path / "seg" / "final.pt"),
                   view_ckpt=str(tmp_path / "view" / "final.pt"), n_boot=50)
    s = res["summary"]
    assert 0.0 <= s["seg"]["lv_dice"] <= 1.0 and s["seg"]["ef_n"] == 2  # val: 5 cines, one per view
    assert 0.0 <= s["view"]["view_acc"] <= 1.0 and sum(map(sum, s["view"]["confusion"])) == 30
    assert res["files"] == ["ef_bland_altman.png", "lv_dice_hist.png", "view_quality.png"]
    report = (tmp_path / "report" / "report.md").read_text()
    assert report.startswith("# sonoedge evaluation report") and "| LV Dice (" in report and "| view accuracy (" in report
    for f in res["files"]:
        assert (tmp_path / "report" / f).read_bytes()[:4] == b"\x89PNG"


def test_geometric_quality_target_trains_and_validates_on_the_measured_label(tmp_path):
    # loss.quality_target "geometric" on a wide set: the head learns the geometric part, and validation scores the
    # label's formula with the walls measured on each validation frame around its reference labels
    import numpy as np
    from sonoedge_train.constants import VIEWS
    from sonoedge_train.data.synthetic import SimDataset, write_dataset
    from sonoedge_train.domain import measured_quality, render_dataset
    from sonoedge_train.train import _val_indices, model_from_checkpoint, to_input, validate
    write_dataset(tmp_path / "train", n_cines=5, seed=8, frames_per_cine=4, size=(112, 112), difficulty="wide")
    write_dataset(tmp_path / "val_raw", n_cines=5, seed=9, frames_per_cine=4, size=(112, 112), difficulty="wide")
    render_dataset(tmp_path / "val_raw", tmp_path / "val")
    cfg = resolve([CONFIGS / "tiny_seg.json"], [f"data.train={tmp_path / 'train'}", f"data.val={tmp_path / 'val'}",
                                                f"out_dir={tmp_path / 'run'}", "task=view", "model.name=view_quality",
                                                'model.args={"width": 8}', "train.epochs=1", "train.max_steps=2",
                                                "loss.quality_target=geometric", "domain.negatives=0.25"])
    assert train(cfg)["global_step"] == 2
    model = model_from_checkpoint(tmp_path / "run" / "final.pt")[0]
    val = SimDataset(tmp_path / "val")
    res = validate(model, cfg, val, torch.device("cpu"))
    i = _val_indices(len(val), cfg["train"]["val_max_frames"])
    x = val.frames[i].astype(np.float32) / 255
    model.eval()
    with torch.no_grad():
        q = model(to_input(x, torch.device("cpu")))["quality"].float().numpy()
    want = np.where(val.view[i] == VIEWS.index("OTHER"), 0.0, measured_quality(q, x, val.masks[i]))
    assert res["val_quality_mae"] == pytest.approx(float(np.mean(np.abs(want - val.quality[i]))), rel=1e-5)
