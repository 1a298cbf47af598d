"""training/scripts/set_segmentation_bar.py: the segmentation bar written into a copy of the bundled view package,
which verifies against the development trust store; a bar above the diagnostic one is refused; --remove takes it out."""
import json
import shutil

import pytest

from script_module import ROOT, load_script

ssb = load_script("set_segmentation_bar")
from sonoedge_train import package as pk  # noqa: E402


def test_it_writes_the_bar_into_a_signed_package_and_takes_it_out_again(tmp_path, capsys):
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models" / "view_quality", models / "view_quality")
    shutil.copytree(ROOT / "models" / "trust", models / "trust")
    pkg = models / "view_quality"
    before = json.loads((pkg / "manifest.json").read_text())
    assert ssb.main([str(pkg), "0.25"]) == 0
    after = json.loads((pkg / "manifest.json").read_text())
    assert after["postprocessing"]["quality"]["thresholds"] == {**before["postprocessing"]["quality"]["thresholds"], "segmentation": 0.25}
    assert after["variants"] == before["variants"]
    pk.verify_package(pkg, pk.load_trust_store(models / "trust"))
    # Above the diagnostic bar (0.5 in the bundled package), or neither a bar nor --remove: refused, the package as it was.
    for argv in ([str(pkg), "0.6"], [str(pkg)]):
        with pytest.raises(SystemExit) as e:
            ssb.main(argv)
        assert e.value.code == 2
    assert "expected a bar in [0, 0.5] (the diagnostic bar) but received 0.6" in capsys.readouterr().err
    assert json.loads((pkg / "manifest.json").read_text()) == after
    assert ssb.main([str(pkg), "--remove"]) == 0
    assert json.loads((pkg / "manifest.json").read_text())["postprocessing"] == before["postprocessing"]
    pk.verify_package(pkg, pk.load_trust_store(models / "trust"))
