"""training/scripts/set_ef_interval.py: the EF interval mode written into a copy of the bundled LV package, which
verifies against the development trust store, the calibration's numbers untouched; an unknown mode or a package
without an EF calibration is refused. calibrate.ef_interval: the mode a new calibration gets from its validation
sets' format; bundle.manifest_ef_calibration carries it into the manifest."""
import json
import shutil
from types import SimpleNamespace

import pytest

from script_module import ROOT, load_script

sei = load_script("set_ef_interval")
from sonoedge_train import package as pk  # noqa: E402


def _copy(tmp_path, task):
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models" / task, models / task)
    shutil.copytree(ROOT / "models" / "trust", models / "trust", dirs_exist_ok=True)
    return models, models / task


def test_it_writes_the_mode_into_a_signed_package_and_back(tmp_path, capsys):
    models, pkg = _copy(tmp_path, "lv_segmentation")
    before = json.loads((pkg / "manifest.json").read_text())
    assert sei.main([str(pkg), "with_uncalibrated"]) == 0
    after = json.loads((pkg / "manifest.json").read_text())
    assert after["calibration"]["ef"] == {**before["calibration"]["ef"], "interval": "with_uncalibrated"}
    # the model card (README.md, in files) is written again and says so; nothing else changes
    assert {k: v for k, v in after.items() if k not in ("calibration", "files")} == \
        {k: v for k, v in before.items() if k not in ("calibration", "files")}
    assert {k: v for k, v in after["files"].items() if k != "README.md"} == \
        {k: v for k, v in before["files"].items() if k != "README.md"}
    assert "trim 0.1, interval with_uncalibrated: the runtime reports" in (pkg / "README.md").read_text()
    assert after["calibration"]["lv_border"] == before["calibration"]["lv_border"]
    pk.verify_package(pkg, pk.load_trust_store(models / "trust"))
    assert capsys.readouterr().out == f"{pkg}: calibration.ef.interval with_uncalibrated\n"
    assert sei.main([str(pkg), "statistical"]) == 0
    assert json.loads((pkg / "manifest.json").read_text())["calibration"]["ef"]["interval"] == "statistical"
    pk.verify_package(pkg, pk.load_trust_store(models / "trust"))


def test_an_unknown_mode_or_a_package_without_an_ef_calibration_is_refused(tmp_path, capsys):
    models, pkg = _copy(tmp_path, "lv_segmentation")
    manifest = (pkg / "manifest.json").read_text()
    with pytest.raises(SystemExit) as e:
        sei.main([str(pkg), "both"])
    assert e.value.code == 2
    assert "invalid choice: 'both' (choose from 'statistical', 'with_uncalibrated')" in capsys.readouterr().err
    assert (pkg / "manifest.json").read_text() == manifest
    _, vq = _copy(tmp_path, "view_quality")
    with pytest.raises(SystemExit) as e:
        sei.main([str(vq), "statistical"])
    assert e.value.code == 2
    assert f"{vq}: expected an lv_segmentation package but received task 'view_quality'" in capsys.readouterr().err
    # An LV package whose manifest has no EF calibration: refused, nothing written.
    m = json.loads(manifest)
    del m["calibration"]["ef"]
    pk.resign_manifest(pkg, m, pk.DEV_KEY_PATH)
    bare = (pkg / "manifest.json").read_text()
    with pytest.raises(SystemExit) as e:
        sei.main([str(pkg), "statistical"])
    assert e.value.code == 2
    assert f"{pkg}: expected a package with calibration.ef but it has none" in capsys.readouterr().err
    assert (pkg / "manifest.json").read_text() == bare


def test_calibrate_chooses_the_mode_from_the_validation_sets_format_and_bundle_carries_it():
    from sonoedge_train.bundle import manifest_ef_calibration
    from sonoedge_train.calibrate import ef_interval
    from sonoedge_train.data.synthetic import FORMAT, FORMAT_REAL, FORMAT_WIDE
    real, sim, wide = (SimpleNamespace(index={"format": f}) for f in (FORMAT_REAL, FORMAT, FORMAT_WIDE))
    assert ef_interval([real]) == "statistical"
    assert ef_interval([real, real]) == "statistical"
    assert ef_interval([sim]) == ef_interval([wide]) == ef_interval([real, sim]) == "with_uncalibrated"
    cal = {"slope": 0.9806321, "intercept": 6.3405361, "residual_sd": 3.97884, "fitted_on": "v", "n": 60, "trim": 0.1}
    assert manifest_ef_calibration({**cal, "interval": "with_uncalibrated"}) == {
        "slope": 0.980632, "intercept": 6.340536, "residual_sd": 3.9788, "fitted_on": "v", "n": 60, "trim": 0.1,
        "interval": "with_uncalibrated"}
    assert "interval" not in manifest_ef_calibration(cal), "a checkpoint calibrated before the mode existed"
