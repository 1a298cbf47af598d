"""training/scripts/set_view_uncertain.py: the threshold read from a view_display.py report, written into a copy of
the bundled view package, which verifies against the development trust store."""
import json
import shutil

import pytest

from script_module import ROOT, load_script

svu = load_script("set_view_uncertain")
from sonoedge_train import package as pk  # noqa: E402

REPORT = {"source": "sim 4,1,8,4 wide_iv", "cines": 4, "settings": {"0.3,0.1,3": {"shown_probability_quantiles": {
    "0.05": {"threshold": 0.8123, "wrong_under": 0.9}, "0.01": {"threshold": 0.6, "wrong_under": 0.5}}}}}


def test_the_threshold_and_its_provenance_come_from_the_report():
    fit = svu.uncertain_from_report(REPORT, 0.01)
    assert fit["threshold"] == 0.6
    assert fit["calibration"]["fitted_on"] == "sim 4,1,8,4 wide_iv (4 cines; training/scripts/view_display.py)"
    assert fit["calibration"]["wrong_under"] == 0.5
    with pytest.raises(ValueError, match=r"quantile 0.1 \(setting 0.3,0.1,3\) but received \['0.01', '0.05'\]"):
        svu.uncertain_from_report(REPORT, 0.1)


def test_it_writes_the_threshold_into_a_signed_package_and_keeps_the_rest(tmp_path):
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models" / "view_quality", models / "view_quality")
    shutil.copytree(ROOT / "models" / "trust", models / "trust")
    report = tmp_path / "r.json"
    report.write_text(json.dumps(REPORT))
    before = json.loads((models / "view_quality" / "manifest.json").read_text())
    assert svu.main([str(models / "view_quality"), str(report)]) == 0
    after = json.loads((models / "view_quality" / "manifest.json").read_text())
    assert after["postprocessing"]["view"]["thresholds"] == {"uncertain": 0.8123}
    assert after["postprocessing"]["view"]["calibration"]["uncertain"]["wrong_under"] == 0.9
    assert after["postprocessing"]["view"]["temperature"] == before["postprocessing"]["view"]["temperature"]
    assert after["variants"] == before["variants"]
    pk.verify_package(models / "view_quality", pk.load_trust_store(models / "trust"))
    with pytest.raises(SystemExit):
        svu.main([str(models / "view_quality"), str(report), "--quantile", "0.5"])
