"""The mirror check (`postprocessing.view.mirror_check`): the harness's Packages.mirrored judges a frame as the
runtime does (the view/quality model on the frame mirrored left-right: A4C, more so than the frame, at a quality over
the frame's by more than the margin), `transfer`'s LV-shown counts leave such frames out, and
training/scripts/set_mirror_check.py writes it into a signed package."""
import json
import shutil

import numpy as np
import pytest

from script_module import ROOT, load_script

smc = load_script("set_mirror_check")
from sonoedge_train import package as pk  # noqa: E402
from sonoedge_train.constants import VIEWS  # noqa: E402
from sonoedge_train import transfer  # noqa: E402
from sonoedge_train.transfer import Packages, _measured  # noqa: E402


def _models(tmp_path, argv):
    models = tmp_path / "models"
    for sub in ("view_quality", "lv_segmentation", "trust"):
        shutil.copytree(ROOT / "models" / sub, models / sub)
    if argv:
        assert smc.main([str(models / "view_quality"), *argv]) == 0
    return models


@pytest.fixture(scope="module")
def frames():
    """40 of our simulator's frames, upright (the five views in turn, 4 frames each)."""
    from sonoedge_train.export import simulated_frames
    return simulated_frames(40, seed=9400, difficulty="wide")


def test_mirrored_fires_on_the_four_chamber_hearts_shown_mirrored_and_on_nothing_upright(tmp_path, frames):
    models = _models(tmp_path, ["0"])
    p = Packages(models)
    plain = Packages(_models(tmp_path / "plain", ["--remove"]))  # the bundled package has it
    assert p.mirror_margin == 0.0 and plain.mirror_margin is None
    views = np.array([(i // 4) % 5 for i in range(len(frames))])  # simulated_frames: 4 frames a view, in turn
    x = np.ascontiguousarray(frames[:, :, ::-1])
    # Mirrored, our four-chamber hearts are fired on (their mirror is the upright heart, a confident A4C of good
    # quality) and nothing else is; upright, nothing is (a four-chamber heart's mirror is the OTHER the model was
    # trained on).
    np.testing.assert_array_equal(p.mirrored(x, p.view_quality(x)), views == VIEWS.index("A4C"))
    assert not p.mirrored(frames, p.view_quality(frames)).any()
    # Without the option nothing is judged.
    assert not plain.mirrored(x, plain.view_quality(x)).any()
    # A margin of 1: no quality passes it.
    wide = Packages(_models(tmp_path / "wide", ["1"]))
    x = np.ascontiguousarray(frames[:, :, ::-1])
    assert not wide.mirrored(x, wide.view_quality(x)).any()


def test_measured_leaves_out_the_frames_the_check_fires_on(tmp_path, frames, monkeypatch):
    p = Packages(_models(tmp_path, ["0"]))
    # Frames the runtime would segment whatever they show (OTHER among the segmented views, the segmentation bar at
    # 0, no unknown state), mirrored: the four-chamber ones' mirrors are upright A4C frames.
    monkeypatch.setattr(transfer, "APICAL_IDS", [VIEWS.index(v) for v in ("A4C", "A2C", "OTHER")])
    p.seg_gate, p.id_thresholds = 0.0, None
    x = np.ascontiguousarray(frames[:, :, ::-1])
    vq = p.view_quality(x)
    fired = p.mirrored(x, vq)
    p.mirror_margin = None
    base = _measured(p, vq)
    p.mirror_margin = 0.0
    with pytest.raises(ValueError, match="needs the frames"):
        _measured(p, vq)
    np.testing.assert_array_equal(_measured(p, vq, x), base & ~fired)
    assert (base & fired).any(), "some measured mirrored frame is fired on"


def test_set_mirror_check_writes_it_signed_refuses_a_bad_margin_and_takes_it_out(tmp_path, capsys):
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models" / "view_quality", models / "view_quality")
    shutil.copytree(ROOT / "models" / "trust", models / "trust")
    pkg = models / "view_quality"
    assert smc.main([str(pkg), "--remove"]) == 0  # the bundled package has it
    before = json.loads((pkg / "manifest.json").read_text())
    assert "mirror_check" not in before["postprocessing"]["view"]
    assert smc.main([str(pkg), "0"]) == 0
    after = json.loads((pkg / "manifest.json").read_text())
    assert after["postprocessing"]["view"] == {**before["postprocessing"]["view"], "mirror_check": {"margin": 0.0}}
    assert after["variants"] == before["variants"]
    pk.verify_package(pkg, pk.load_trust_store(ROOT / "models" / "trust"))
    assert "- `postprocessing.view.mirror_check` margin 0.0: no LV is drawn or measured" in (pkg / "README.md").read_text()
    for argv in ([str(pkg), "-0.1"], [str(pkg), "1.5"], [str(pkg)]):
        with pytest.raises(SystemExit) as e:
            smc.main(argv)
        assert e.value.code == 2
    err = capsys.readouterr().err
    assert "expected a margin in [0, 1] but received -0.1" in err and "received 1.5" in err
    assert "expected either a margin or --remove" in err
    assert json.loads((pkg / "manifest.json").read_text()) == after
    assert smc.main([str(pkg), "--remove"]) == 0
    assert json.loads((pkg / "manifest.json").read_text())["postprocessing"] == before["postprocessing"]
    assert "mirror_check" not in (pkg / "README.md").read_text()
    pk.verify_package(pkg, pk.load_trust_store(ROOT / "models" / "trust"))
