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


def _wide_view_run(tmp_path, *sets):
    """A tiny wide training set and its rendered validation set, and a 2-step view model trained on them (the
    teacher and starting point): (resolve(overrides) for a run on the same sets, the model's final.pt)."""
    from sonoedge_train.data.synthetic import write_dataset
    from sonoedge_train.domain import render_dataset
    from test_train import CONFIGS as C
    write_dataset(tmp_path / "train", n_cines=5, seed=8, frames_per_cine=4, size=(112, 112), difficulty="wide")
    write_dataset(tmp_path / "val_raw", n_cines=5, seed=9, frames_per_cine=4, size=(112, 112), difficulty="wide")
    render_dataset(tmp_path / "val_raw", tmp_path / "val")
    base = [f"data.train={tmp_path / 'train'}", f"data.val={tmp_path / 'val'}", "task=view", "model.name=view_quality",
            'model.args={"width": 8}', "train.epochs=1", *sets]

    def cfg(*more):
        return resolve([C / "tiny_seg.json"], base + list(more))
    train(cfg(f"out_dir={tmp_path / 'a'}", "train.max_steps=2"))
    return cfg, tmp_path / "a" / "final.pt"


def test_teacher_quality_target_on_a_wide_set_with_negatives(tmp_path, monkeypatch):
    # the wide path (domain randomisation, generated negatives as OTHER): the teacher's quality is the target there
    # too, negatives included (the starting model's quality on them, not 0)
    import sonoedge_train.train as tr
    cfg, init = _wide_view_run(tmp_path, "domain.negatives=0.25")
    rec = _spy_teacher(monkeypatch)
    labels, real_get = [], tr.WideStepBatches.__getitem__
    monkeypatch.setattr(tr.WideStepBatches, "__getitem__",
                        lambda self, step: (lambda r: labels.append(torch.as_tensor(np.asarray(r[3]["quality"]))) or r)(real_get(self, step)))
    res = train(cfg(f"out_dir={tmp_path / 'b'}", f"train.init_from={init}", "train.max_steps=2", "train.lr=0.01",
                    "loss.quality_target=teacher"))
    assert res["global_step"] == 2
    _check_teacher_targets(rec, init, labels, 2)


def test_full_gain_scales_each_frame_to_its_sector_percentile():
    from sonoedge_train.train import full_gain
    x = torch.zeros(3, 8, 8)
    x[0, :4, :5] = 0.2  # 20 pixels at 0.2 and 20 at 0.4 inside the "sector", the rest black (left out)
    x[0, 4:, :5] = 0.4
    x[1, 0, :8] = 0.3  # 8 pixels above the floor: too few, left as it is
    x[2] = 1.0  # already white: not darkened
    top = full_gain(x, 100.0)
    assert torch.allclose(top[0, :4, :5], torch.full((4, 5), 0.5)) and torch.allclose(top[0, 4:, :5], torch.ones(4, 5))
    assert torch.equal(top[0, :, 5:], torch.zeros(8, 3))  # the black outside the sector stays black
    assert torch.equal(top[1], x[1]) and torch.equal(top[2], x[2])
    mid = full_gain(x, 75.0)  # the 75th percentile of 20 x 0.2 and 20 x 0.4 (linear between ranks): 0.4
    assert torch.allclose(mid[0], top[0])
    half = full_gain(x, 51.0)  # between rank 19 (0.2) and 20 (0.4) at 0.89: 0.378
    assert abs(float(half[0, 0, 0]) - 0.2 / (0.2 + 0.2 * 0.89)) < 1e-5 and float(half[0, 7, 0]) == 1.0
    assert torch.equal(x[0, 0, 0], torch.tensor(0.2))  # the input is not changed in place


def test_dim_input_scales_the_pixels_not_the_normalised_values():
    from sonoedge_train.constants import MEAN, STD
    from sonoedge_train.train import dim_input
    x01 = 0.05 + 0.95 * torch.rand(64, 1, 4, 4, generator=torch.Generator().manual_seed(0))  # no pixel near 0
    x = (x01 - MEAN) / STD
    d = dim_input(x, np.random.default_rng(0), 0.5, 0.35)
    back = d * STD + MEAN
    c = (back / x01).mean(dim=(1, 2, 3))
    assert torch.allclose(back, c.view(-1, 1, 1, 1) * x01, atol=1e-5)  # one factor per frame, on the [0, 1] pixels
    dimmed = c < 1 - 1e-5
    assert 20 < int(dimmed.sum()) < 44 and float(c.min()) >= 0.35 - 1e-5 and torch.allclose(c[~dimmed], torch.ones(1))
    assert torch.equal(dim_input(x, np.random.default_rng(0), 0.0, 0.35), x)


def test_teacher_at_full_gain_and_a_dimmed_student(tmp_path, monkeypatch):
    # loss.teacher_full_gain: the target is the larger of the teacher's quality on the frame and on the frame at full
    # gain; domain.dim_p: the student sees the frame dimmed after that (the teacher saw it undimmed)
    import sonoedge_train.train as tr
    from sonoedge_train.train import Task
    cfg, init = _wide_view_run(tmp_path)
    # a stand-in teacher whose quality is the mean normalised brightness of what it sees, so that the two looks differ
    rec = {"x": [], "loss": []}
    f = lambda x: torch.sigmoid(x.mean(dim=(1, 2, 3)))
    monkeypatch.setattr(tr, "teacher_quality", lambda m, x: rec["x"].append(x.clone()) or f(x))
    real_loss = Task.loss
    monkeypatch.setattr(Task, "loss", lambda self, out, t: rec["loss"].append(t["quality"].clone()) or real_loss(self, out, t))
    dims, real_dim = [], tr.dim_input
    monkeypatch.setattr(tr, "dim_input", lambda x, *a: (lambda d: dims.append((x.clone(), d.clone())) or d)(real_dim(x, *a)))
    res = train(cfg(f"out_dir={tmp_path / 'b'}", f"train.init_from={init}", "train.max_steps=2", "train.lr=0.01",
                    "loss.quality_target=teacher", "loss.teacher_full_gain=99", "domain.dim_p=1", "domain.dim_min=0.5"))
    assert res["global_step"] == 2 and len(rec["x"]) == 4 and len(rec["loss"]) == 2 and len(dims) == 2
    from sonoedge_train.constants import MEAN, STD
    for k in range(2):
        x, full = rec["x"][2 * k], rec["x"][2 * k + 1]
        x01 = (x * STD + MEAN).squeeze(1)
        want_full = tr.to_input(tr.full_gain(x01, 99.0).numpy(), "cpu")
        assert torch.allclose(full, want_full, atol=1e-4)  # the second look is the same frames at full gain
        assert torch.allclose(rec["loss"][k], torch.maximum(f(x), f(full)), atol=1e-6)
        assert bool((f(full) > f(x) + 1e-3).any())  # the full-gain look raised some targets
        before, after = dims[k]
        assert torch.equal(before, x)  # the student's frames are the teacher's, then dimmed
        a01, b01 = (before * STD + MEAN).flatten(1), (after * STD + MEAN).flatten(1)
        c = torch.stack([(b[a > 0.05] / a[a > 0.05]).median() for a, b in zip(a01, b01) if (a > 0.05).sum() > 16])
        assert float(c.min()) >= 0.5 - 1e-3 and float(c.max()) <= 1 + 1e-3 and float(c.std()) > 0.01
