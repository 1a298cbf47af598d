"""Training with label-aware augmentation, extra training folders and init_from."""
import numpy as np
import pytest
import torch

from sonoedge_train.config import resolve
from sonoedge_train.data.synthetic import SimDataset
from sonoedge_train.errors import ConfigError
from sonoedge_train.train import load_training_set, train

from test_train import CONFIGS


def _view_cfg(tiny, out, *sets):
    return resolve([CONFIGS / "tiny_seg.json"], [f"data.train={tiny / 'train'}", f"data.val={tiny / 'val'}",
                                                 f"out_dir={out}", "task=view", "model.name=view_quality",
                                                 'model.args={"width": 8}', "train.epochs=1", *sets])


def test_training_set_with_extra_folders_and_degradations(tiny_dataset, tmp_path):
    cfg = _view_cfg(tiny_dataset, tmp_path, f'data.extra_train=["{tiny_dataset / "val"}"]', "augment.label_aware=true")
    ds, deg = load_training_set(cfg)
    a, b = SimDataset(tiny_dataset / "train"), SimDataset(tiny_dataset / "val")
    assert len(ds) == len(a) + len(b) == 90 and len(ds.cines) == 15
    assert np.array_equal(ds.quality, np.concatenate([a.quality, b.quality]))
    assert set(deg) == {"gain_db", "dr_db", "shadow", "dx", "rot_deg", "fore", "view"} and all(len(v) == 90 for v in deg.values())
    assert load_training_set(_view_cfg(tiny_dataset, tmp_path))[1] is None  # label_aware off


def test_label_aware_run_from_init(tiny_dataset, tmp_path):
    sets = ["augment.label_aware=true", "augment.dr_range=[36, 76]", "augment.shadow_max=2",
            "augment.shadow_db=[14, 30]", "augment.rib_echo_db=10", "augment.pose_prob=0.5", "augment.rotate_deg=10",
            "augment.zoom=0.1"]
    first = train(_view_cfg(tiny_dataset, tmp_path / "a", *sets))
    assert first["global_step"] == 7
    init = str(tmp_path / "a" / "final.pt")
    res = train(_view_cfg(tiny_dataset, tmp_path / "b", *sets, f"train.init_from={init}", "train.max_steps=1",
                          "train.lr=1e-9"))
    a = torch.load(init, weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "final.pt", weights_only=False)["model"]
    # one step at a negligible learning rate: the weights are those of the initial checkpoint (BatchNorm running
    # statistics do move in a training step)
    learned = [k for k in a if "running" not in k and "num_batches" not in k]
    assert res["global_step"] == 1 and len(learned) > 10
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in learned)
    with pytest.raises(ConfigError) as e:
        train(_view_cfg(tiny_dataset, tmp_path / "c", f"train.init_from={init}", 'model.args={"width": 4}'))
    assert e.value.code == "E_CONFIG_VALUE" and "train.init_from expected a view_quality checkpoint" in str(e.value)


def _spy_teacher(monkeypatch):
    """Records what the teacher saw, the targets the loss got, and the targets the batch carried before the teacher
    replaced the quality (Task.targets' labels on the plain path; on the wide one WideStepBatches' placeholder, since
    it computes no label for a teacher run)."""
    import sonoedge_train.train as tr
    from sonoedge_train.train import Task
    rec = {"x": [], "loss": []}
    real_teacher, real_loss = tr.teacher_quality, Task.loss
    monkeypatch.setattr(tr, "teacher_quality", lambda m, x: rec["x"].append(x.clone()) or real_teacher(m, x))
    monkeypatch.setattr(Task, "loss", lambda self, out, t: rec["loss"].append(t["quality"].clone()) or real_loss(self, out, t))
    return rec


def _check_teacher_targets(rec, init, labels, steps):
    """Every step's quality target is the init_from model's (eval mode) quality on the input it saw, and not the
    batch's own labels."""
    from sonoedge_train.train import model_from_checkpoint
    assert len(rec["x"]) == len(rec["loss"]) == len(labels) == steps
    ref = model_from_checkpoint(init)[0]
    for x, q, lab in zip(rec["x"], rec["loss"], labels):
        with torch.no_grad():
            want = ref(x)["quality"].float().reshape(-1)
        assert torch.allclose(q, want, atol=1e-6)  # the starting model's quality, unchanged by the steps at lr 0.01
        assert (q - lab.float()).abs().max() > 0.05  # not the labels the batch carried


def test_teacher_quality_target_is_the_frozen_init_model_on_the_same_frames(tiny_dataset, tmp_path, monkeypatch):
    # loss.quality_target "teacher" on a plain set: every step's quality target is what the init_from model (eval
    # mode, frozen) says on that step's augmented input, not the label
    from sonoedge_train.train import Task
    train(_view_cfg(tiny_dataset, tmp_path / "a", "train.max_steps=2"))
    init = tmp_path / "a" / "final.pt"
    rec = _spy_teacher(monkeypatch)
    labels, real_targets = [], Task.targets
    monkeypatch.setattr(Task, "targets", lambda self, *a: (lambda t: labels.append(t["quality"].clone()) or t)(real_targets(self, *a)))
    res = train(_view_cfg(tiny_dataset, tmp_path / "b", f"train.init_from={init}", "train.max_steps=3",
                          "train.lr=0.01", "loss.quality_target=teacher"))
    assert res["global_step"] == 3
    _check_teacher_targets(rec, init, labels, 3)


def test_teacher_quality_target_on_a_wide_set_with_negatives(tmp_path, monkeypatch):
    # the wide path (domain randomisation, generated negatives as OTHER): the teacher's quality is the target there
    # too, negatives included (the starting model's quality on them, not 0)
    import sonoedge_train.train as tr
    from sonoedge_train.data.synthetic import write_dataset
    from sonoedge_train.domain import render_dataset
    from test_train import CONFIGS as C
    write_dataset(tmp_path / "train", n_cines=5, seed=8, frames_per_cine=4, size=(112, 112), difficulty="wide")
    write_dataset(tmp_path / "val_raw", n_cines=5, seed=9, frames_per_cine=4, size=(112, 112), difficulty="wide")
    render_dataset(tmp_path / "val_raw", tmp_path / "val")
    base = [f"data.train={tmp_path / 'train'}", f"data.val={tmp_path / 'val'}", "task=view", "model.name=view_quality",
            'model.args={"width": 8}', "train.epochs=1", "domain.negatives=0.25"]
    train(resolve([C / "tiny_seg.json"], base + [f"out_dir={tmp_path / 'a'}", "train.max_steps=2"]))
    init = tmp_path / "a" / "final.pt"
    rec = _spy_teacher(monkeypatch)
    labels, real_get = [], tr.WideStepBatches.__getitem__
    monkeypatch.setattr(tr.WideStepBatches, "__getitem__",
                        lambda self, step: (lambda r: labels.append(torch.as_tensor(np.asarray(r[3]["quality"]))) or r)(real_get(self, step)))
    res = train(resolve([C / "tiny_seg.json"], base + [f"out_dir={tmp_path / 'b'}", f"train.init_from={init}",
                                                      "train.max_steps=2", "train.lr=0.01", "loss.quality_target=teacher"]))
    assert res["global_step"] == 2
    _check_teacher_targets(rec, init, labels, 2)
