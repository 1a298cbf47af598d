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


def test_teacher_quality_target_is_the_frozen_init_model_on_the_same_frames(tiny_dataset, tmp_path, monkeypatch):
    # loss.quality_target "teacher": every step's quality target is what the init_from model (eval mode, frozen)
    # says on that step's augmented input, not the label
    import sonoedge_train.train as tr
    from sonoedge_train.train import Task, model_from_checkpoint
    train(_view_cfg(tiny_dataset, tmp_path / "a", "train.max_steps=2"))
    init = tmp_path / "a" / "final.pt"
    seen, targets = [], []
    real_teacher, real_loss = tr.teacher_quality, Task.loss
    monkeypatch.setattr(tr, "teacher_quality", lambda m, x: seen.append(x.clone()) or real_teacher(m, x))
    monkeypatch.setattr(Task, "loss", lambda self, out, t: targets.append(t["quality"].clone()) or real_loss(self, out, t))
    res = train(_view_cfg(tiny_dataset, tmp_path / "b", f"train.init_from={init}", "train.max_steps=3",
                          "train.lr=0.01", "loss.quality_target=teacher"))
    assert res["global_step"] == 3 and len(seen) == len(targets) == 3
    ref = model_from_checkpoint(init)[0]
    label = torch.from_numpy(SimDataset(tiny_dataset / "train").quality)
    for x, q in zip(seen, targets):
        with torch.no_grad():
            want = ref(x)["quality"].float().reshape(-1)
        assert torch.allclose(q, want, atol=1e-6)  # the starting model's quality, unchanged by three steps at lr 0.01
        assert not any(torch.allclose(q, label[i:i + len(q)]) for i in range(len(label) - len(q) + 1))
