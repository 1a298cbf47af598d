"""train.phase_balance: frames drawn with weights that balance cardiac phases (train.phase_sampling_p)."""

import numpy as np
import pytest
import torch

from sonoedge_train.config import resolve
from sonoedge_train.errors import ConfigError
from sonoedge_train.train import PHASE_CAP, load_checkpoint, phase_sampling_p, train
from test_train import _cfg


def _masks(areas):
    """One 8x8 mask per area: the first `area` pixels LV (1), the rest background."""
    m = np.zeros((len(areas), 64), np.uint8)
    for i, a in enumerate(areas):
        m[i, :a] = 1
    return m.reshape(-1, 8, 8)


def test_phase_sampling_p_by_hand():
    # Cine 0: three frames at its largest LV (phase 1.0, tenth 9) and one at half (tenth 5); cine 1 has no LV.
    # Shares 3/4 and 1/4; alpha 1: weights (3/4 / 3/4)^-1 = 1 and (1/4 / 3/4)^-1 = 3, scaled to average 1 over
    # the LV frames (mean 6/4): 2/3 and 2; the four frames without LV weigh 1. Sum 8.
    p = phase_sampling_p(_masks([10, 10, 10, 5, 0, 0, 0, 0]), np.array([0, 0, 0, 0, 1, 1, 1, 1]), 1.0)
    np.testing.assert_allclose(p, np.array([2 / 3, 2 / 3, 2 / 3, 2, 1, 1, 1, 1]) / 8, rtol=1e-12)
    # alpha 0.5: sqrt(3) for the rare phase.
    p = phase_sampling_p(_masks([10, 10, 10, 5]), np.zeros(4, int), 0.5)
    np.testing.assert_allclose(p, np.array([1, 1, 1, np.sqrt(3)]) / (3 + np.sqrt(3)), rtol=1e-12)


def test_phase_sampling_p_caps_and_keeps_cines_apart():
    # 99 frames at the peak, one at 0.35 of it: (1/99) ** -1 = 99, capped at PHASE_CAP.
    p = phase_sampling_p(_masks([20] * 99 + [7]), np.zeros(100, int), 1.0)
    assert p[-1] / p[0] == pytest.approx(PHASE_CAP, rel=1e-12)
    # Two folders concatenated whose cine ids both start at 0 ([1] then [0, 0, 0] is one run each): each frame is
    # at its own cine's peak, so all weigh alike; read as one cine (ids all 0), 10 is a quarter of 40 and weighs 3.
    p = phase_sampling_p(_masks([10, 40, 40, 40]), np.array([1, 0, 0, 0]), 1.0)
    np.testing.assert_allclose(p, 0.25, rtol=1e-12)
    p = phase_sampling_p(_masks([10, 40, 40, 40]), np.zeros(4, int), 1.0)
    np.testing.assert_allclose(p, np.array([3, 1, 1, 1]) / 6, rtol=1e-12)


def test_phase_balance_is_checked():
    for bad, task in ((1.5, "seg"), (-0.1, "seg"), (0.5, "view")):
        with pytest.raises(ConfigError) as e:
            resolve(sets=[f"task={task}", f"train.phase_balance={bad}"] + (["model.name=view_quality"] if task == "view"
                                                                             else []))
        assert str(e.value) == ("E_CONFIG_VALUE: train.phase_balance expected a number in [0, 1] (above 0 for task "
                                f"'seg' only) but received {bad!r} for task {task!r}")


def test_phase_balanced_training_draws_other_frames_and_resumes_exactly(tiny_dataset, tmp_path):
    sets = ["train.epochs=2", "train.max_steps=10"]
    train(_cfg(tiny_dataset, tmp_path / "plain", *sets))
    train(_cfg(tiny_dataset, tmp_path / "full", "train.phase_balance=1", *sets))
    with pytest.raises(RuntimeError, match="simulated crash after step 7"):
        train(_cfg(tiny_dataset, tmp_path / "crash", "train.phase_balance=1", *sets), crash_after_steps=7)
    train(_cfg(tiny_dataset, tmp_path / "crash", "train.phase_balance=1", *sets))
    plain, a, b = (load_checkpoint(tmp_path / d / "final.pt")["model"] for d in ("plain", "full", "crash"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], plain[k]) for k in a)
