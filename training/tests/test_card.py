"""sonoedge_train/card.py: the model card's thresholds section, generated from the manifest, and kept in step by
package.resign_manifest."""
import json
import shutil

import pytest
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))
from sonoedge_train import card  # noqa: E402
from sonoedge_train import package as pk  # noqa: E402
from sonoedge_train.errors import SigningError  # noqa: E402

VIEW = json.loads((ROOT / "models" / "view_quality" / "manifest.json").read_text())
LV = json.loads((ROOT / "models" / "lv_segmentation" / "manifest.json").read_text())


def _lines(section):
    return [ln for ln in section.splitlines() if ln.startswith("- ")]


def test_every_threshold_of_the_bundled_view_package_is_on_its_card_with_its_value():
    post = VIEW["postprocessing"]
    lines = _lines(card.thresholds_section(VIEW))
    want = [f"- `postprocessing.view.temperature` {post['view']['temperature']}: "]
    want += [f"- `postprocessing.view.thresholds.{key}` {value}: " for key, value in post["view"]["thresholds"].items()]
    # the mirror check (forty-eighth wave), after the view's thresholds, set by rule
    want += [f"- `postprocessing.view.mirror_check` margin {post['view']['mirror_check']['margin']}: "]
    want += [f"- `postprocessing.quality.thresholds.{key}` {value}: " for key, value in post["quality"]["thresholds"].items()]
    # the full-gain quality (forty-seventh wave), after the quality's thresholds, set by rule
    want += [f"- `postprocessing.quality.full_gain` percentile {post['quality']['full_gain']['percentile']}: "]
    want += [f"- `postprocessing.id_score.thresholds.{key}` {value}: "
             for key, value in post["id_score"]["thresholds"].items()]
    assert [ln[:len(w)] for ln, w in zip(lines, want)] == want and len(lines) == len(want)
    # provenance: the view threshold's own fit, the id_score's method once, the gate without a recorded fit
    assert post["view"]["calibration"]["uncertain"]["fitted_on"] in lines[1]
    assert lines[2].endswith("(set by rule, not fitted).")
    assert lines[3].endswith("(no fit recorded in the manifest).")
    assert lines[4].endswith("(set by rule, not fitted).")
    assert post["id_score"]["method"] in lines[5] and lines[6].endswith("(the same fit).")


def test_the_lv_package_card_gives_the_ef_calibration_and_the_border_threshold():
    lines = _lines(card.thresholds_section(LV))
    ef, border = LV["calibration"]["ef"], LV["calibration"]["lv_border"]
    # the keys the runtime reads first, the rest as provenance
    assert lines[0].startswith(f"- `calibration.ef`: slope {ef['slope']}, intercept {ef['intercept']}, "
                               f"residual_sd {ef['residual_sd']}, trim {ef['trim']}, interval {ef['interval']}: "
                               "the runtime reports EF = ")
    assert "with interval with_uncalibrated, the interval also covers EF_raw" in lines[0]
    assert f"; provenance: n {ef['n']} (fitted on {ef['fitted_on']})." in lines[0]
    assert lines[1].startswith(f"- `calibration.lv_border`: low {border['low']}, high {border['high']}, "
                               f"threshold {border['threshold']}: an EF whose")
    assert border["fitted_on"] in lines[1] and f"provenance: n {border['n']}, quantile {border['quantile']}" in lines[1]
    assert len(lines) == 2
    assert _lines(card.thresholds_section({"postprocessing": {}})) == [
        "- none: this package's manifest has no threshold or calibration."]


def test_the_section_is_replaced_in_place_inserted_before_the_signing_note_or_appended():
    text = "# card\n\nintro\n\nSigned with the key.\n"
    once = card.with_thresholds(text, VIEW)
    assert once.startswith("# card\n\nintro\n\n" + card.BEGIN) and once.endswith(card.END + "\n\nSigned with the key.\n")
    assert card.with_thresholds(once, VIEW) == once, "idempotent"
    changed = json.loads(json.dumps(VIEW))
    changed["postprocessing"]["quality"]["thresholds"]["diagnostic"] = 0.45
    again = card.with_thresholds(once, changed)
    assert again.count(card.BEGIN) == 1 and "`postprocessing.quality.thresholds.diagnostic` 0.45: " in again
    assert again.replace("0.45", "0.5") == once
    assert card.with_thresholds("no note", LV) == "no note\n\n" + card.thresholds_section(LV) + "\n"


def test_resigning_a_manifest_rewrites_the_card_and_the_package_verifies(tmp_path):
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models" / "lv_segmentation", models / "lv_segmentation")
    shutil.copytree(ROOT / "models" / "trust", models / "trust")
    pkg = models / "lv_segmentation"
    manifest = json.loads((pkg / "manifest.json").read_text())
    manifest["calibration"]["ef"]["intercept"] = 1.25
    pk.resign_manifest(pkg, manifest, ROOT / "training" / "keys" / "DEVELOPMENT-ONLY-signing-key.pem")
    text = (pkg / "README.md").read_text()
    assert "intercept 1.25, " in text and text.count(card.BEGIN) == 1
    written = json.loads((pkg / "manifest.json").read_text())
    assert written["files"]["README.md"] == pk.file_entry(pkg / "README.md")
    assert written["variants"] == manifest["variants"]
    pk.verify_package(pkg, pk.load_trust_store(models / "trust"))


def test_a_refused_manifest_leaves_the_package_as_it_was(tmp_path):
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models" / "lv_segmentation", models / "lv_segmentation")
    shutil.copytree(ROOT / "models" / "trust", models / "trust")
    pkg = models / "lv_segmentation"
    before = {f.name: f.read_bytes() for f in pkg.iterdir()}
    manifest = json.loads((pkg / "manifest.json").read_text())
    manifest["calibration"]["ef"]["intercept"] = 1.25
    manifest["version"] = "not semver"
    with pytest.raises(pk.PackageError) as e:
        pk.resign_manifest(pkg, manifest, ROOT / "training" / "keys" / "DEVELOPMENT-ONLY-signing-key.pem")
    assert e.value.code == "E_PACKAGE_SCHEMA"
    manifest["version"] = "1.0.0"
    with pytest.raises(SigningError) as e:
        pk.resign_manifest(pkg, manifest, tmp_path / "no-such-key.pem")
    assert e.value.code == "E_KEY_MISSING"
    assert {f.name: f.read_bytes() for f in pkg.iterdir()} == before, "no file written"
    pk.verify_package(pkg, pk.load_trust_store(models / "trust"))
