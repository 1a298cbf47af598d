"""The quality at full display gain (`postprocessing.quality.full_gain`; sonoedge_train/quality.py): the harness's
inputs at full gain are train.full_gain's, the reported quality is the larger of the two, the harness's Packages and
evaluate-real's package reader both apply it, and training/scripts/set_full_gain.py writes it into a signed package."""
import json
import shutil

import numpy as np
import pytest
import torch

from script_module import ROOT, load_script

sfg = load_script("set_full_gain")
from sonoedge_train import package as pk  # noqa: E402
from sonoedge_train.constants import MEAN, STD  # noqa: E402
from sonoedge_train.evaluate_real import Package, _Frames  # noqa: E402
from sonoedge_train.export import run_ort, to_model_input  # noqa: E402
from sonoedge_train.quality import full_gain_input, full_gain_percentile, with_full_gain  # noqa: E402
from sonoedge_train.train import full_gain  # noqa: E402
from sonoedge_train.transfer import Packages  # noqa: E402


def test_full_gain_input_is_train_full_gain_on_the_normalised_input():
    # Shares 1/40 .. 16/40 with four black pixels: the 50th percentile of the 16 over 2/255 is 8.5/40.
    share = np.array([0, 0, 1 / 255, 0] + [(i + 1) / 40 for i in range(16)], np.float32).reshape(1, 1, 4, 5)
    x = (share - MEAN) / STD
    got = full_gain_input(x, MEAN, STD, 50) * STD + MEAN
    want = np.minimum(1, share / np.float32(8.5 / 40))
    np.testing.assert_allclose(got, want, atol=3.6e-7)  # float32: 3 ulps at 1
    rng = np.random.default_rng(5)
    frames = rng.integers(0, 256, (6, 112, 112)).astype(np.float32) / 255 * rng.uniform(0.2, 1, (6, 1, 1)).astype(np.float32)
    x = ((frames - MEAN) / STD)[:, None]
    np.testing.assert_allclose(full_gain_input(x, MEAN, STD, 99)[:, 0] * STD + MEAN,
                               full_gain(torch.as_tensor(frames), 99).numpy(), atol=3.6e-7)


def test_with_full_gain_is_the_larger_quality_and_nothing_without_a_percentile():
    q = np.array([[0.2], [0.9]], np.float32)
    x = np.zeros((2, 1, 4, 4), np.float32)
    assert with_full_gain(q, lambda xf: np.array([0.5, 0.5]), x, MEAN, STD, None) is q
    np.testing.assert_array_equal(with_full_gain(q, lambda xf: np.array([0.5, 0.5]), x, MEAN, STD, 99),
                                  np.array([[0.5], [0.9]], np.float32))
    # not a number: a full-gain quality that is not one is left out, a quality that is not one stays so (the runtime's rule)
    nan = np.float32("nan")
    got = with_full_gain(np.array([0.2, nan, 0.4], np.float32), lambda xf: np.array([nan, 0.9, 0.7]),
                         np.zeros((3, 1, 4, 4), np.float32), MEAN, STD, 99)
    assert got[0] == np.float32(0.2) and np.isnan(got[1]) and got[2] == np.float32(0.7)
    assert full_gain_percentile({"quality": {"thresholds": {"diagnostic": 0.5}}}) is None
    assert full_gain_percentile({"quality": {"full_gain": {"percentile": 99}}}) == 99.0


def _models_copy(tmp_path_factory, name, argv):
    models = tmp_path_factory.mktemp(name) / "models"
    for sub in ("view_quality", "lv_segmentation", "trust"):
        shutil.copytree(ROOT / "models" / sub, models / sub)
    assert sfg.main([str(models / "view_quality"), *argv]) == 0
    return models


@pytest.fixture(scope="module")
def full_gain_models(tmp_path_factory):
    """A copy of the bundled models with full_gain 99 in the view package (as bundled), signed again by the script."""
    return _models_copy(tmp_path_factory, "fg", ["99"])


@pytest.fixture(scope="module")
def plain_models(tmp_path_factory):
    """A copy of the bundled models with full_gain taken out of the view package."""
    return _models_copy(tmp_path_factory, "plain", ["--remove"])


def _dim_frames():
    from sonoedge_train.export import simulated_frames
    fr = simulated_frames(8, seed=3, difficulty="wide")
    return np.concatenate([fr, np.round(fr * 0.35).astype(np.uint8)])


def test_the_harness_reports_the_larger_quality_the_view_unchanged(full_gain_models, plain_models):
    frames = _dim_frames()
    plain, fg = Packages(plain_models), Packages(full_gain_models)
    a, b = plain.view_quality(frames), fg.view_quality(frames)
    x = to_model_input(frames)
    at_full = run_ort(plain.vq, full_gain_input(x, MEAN, STD, 99))["quality"]
    np.testing.assert_array_equal(b["quality"], np.maximum(a["quality"], at_full))
    np.testing.assert_array_equal(b["quality_displayed"], a["quality"])
    assert "quality_displayed" not in a
    np.testing.assert_array_equal(b["prob"], a["prob"])
    np.testing.assert_array_equal(b["id_score"], a["id_score"])
    # the dimmed frames read lower as displayed and higher at full gain
    assert np.mean(a["quality"][8:]) < np.mean(a["quality"][:8]) and np.mean(b["quality"][8:]) > np.mean(a["quality"][8:])


def test_evaluate_real_reads_the_same_quality(full_gain_models, plain_models):
    frames = _dim_frames()
    trust = pk.load_trust_store(full_gain_models / "trust")
    rows = []
    for models in (plain_models, full_gain_models):
        fr = _Frames(Package(models / "view_quality", "fp32", trust))
        for i, f in enumerate(frames):
            fr.add("c", i, f.astype(np.float32), (0, 112, 0, 112), "A4C")
        rows.append(np.array([r["quality"] for r in fr.rows], np.float32))
    q = Packages(full_gain_models).view_quality(frames)["quality"].reshape(-1)
    np.testing.assert_allclose(rows[1], q, atol=1e-6)
    assert (rows[1] >= rows[0]).all() and (rows[1][8:] > rows[0][8:]).any()


def test_set_full_gain_writes_it_signed_refuses_a_bad_percentile_and_takes_it_out(tmp_path, capsys):
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models" / "view_quality", models / "view_quality")
    shutil.copytree(ROOT / "models" / "trust", models / "trust")
    pkg = models / "view_quality"
    assert sfg.main([str(pkg), "--remove"]) == 0  # the bundled package has it
    before = json.loads((pkg / "manifest.json").read_text())
    assert "full_gain" not in before["postprocessing"]["quality"]
    assert sfg.main([str(pkg), "99"]) == 0
    after = json.loads((pkg / "manifest.json").read_text())
    assert after["postprocessing"]["quality"] == {**before["postprocessing"]["quality"], "full_gain": {"percentile": 99.0}}
    assert after["variants"] == before["variants"]
    pk.verify_package(pkg, pk.load_trust_store(ROOT / "models" / "trust"))
    # the card says it (sonoedge_train/card.py), and says nothing of it once it is taken out
    line = ("- `postprocessing.quality.full_gain` percentile 99.0: the quality reported is the larger of the model's "
            "quality on the frame and on the frame at full display gain")
    assert line in (pkg / "README.md").read_text()
    for argv in ([str(pkg), "0"], [str(pkg), "101"], [str(pkg)]):
        with pytest.raises(SystemExit) as e:
            sfg.main(argv)
        assert e.value.code == 2
    err = capsys.readouterr().err
    assert "expected a percentile in (0, 100] but received 0.0" in err and "received 101.0" in err
    assert "expected either a percentile or --remove" in err
    assert json.loads((pkg / "manifest.json").read_text()) == after
    assert sfg.main([str(pkg), "--remove"]) == 0
    assert json.loads((pkg / "manifest.json").read_text())["postprocessing"] == before["postprocessing"]
    assert "full_gain" not in (pkg / "README.md").read_text()
    pk.verify_package(pkg, pk.load_trust_store(ROOT / "models" / "trust"))
