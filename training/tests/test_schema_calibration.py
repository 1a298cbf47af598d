"""The model package schema's optional in-distribution and calibration fields (docs/MODEL_PACKAGE.md), as the
harness validates them: the same schema file the runtime uses (models/schema/model-package.schema.json)."""
import copy

import pytest

from sonoedge_train import package as pk
from sonoedge_train.fixtures import fixture_manifest


def manifest() -> dict:
    files = {"model.fp32.onnx": b"x", "model.int8.onnx": b"y", "README.md": b"z"}
    return fixture_manifest(files)


def with_(edit) -> dict:
    m = copy.deepcopy(manifest())
    edit(m)
    return m


def test_old_manifests_stay_valid():
    pk.validate_manifest(manifest())


def test_new_optional_fields_are_accepted():
    def edit(m):
        m["postprocessing"]["logits"]["temperature"] = 1.37
        m["postprocessing"]["logits"]["method"] = "temperature scaling"
        m["postprocessing"]["logits"]["calibration"] = {"fitted_on": "val", "ece_before": 0.08, "ece_after": 0.02}
        m["postprocessing"]["id_score"] = {"activation": "none", "argmax": False,
                                           "thresholds": {"ok": 0.6, "unknown": 0.3}, "method": "Mahalanobis + logistic"}
        m["calibration"] = {"ef": {"slope": 1.05, "intercept": 2.1, "residual_sd": 4.2, "fitted_on": "sim val", "n": 60,
                                   "trim": 0.1, "interval": "with_uncalibrated"},
                            "lv_border": {"low": 0.2, "high": 0.8, "threshold": 0.63, "fitted_on": "sim val", "n": 60,
                                          "quantile": 0.9}}
    pk.validate_manifest(with_(edit))


@pytest.mark.parametrize("edit, where", [
    (lambda m: m["postprocessing"]["logits"].update(temperature=0), "/postprocessing/logits/temperature"),
    (lambda m: m["postprocessing"]["logits"].update(temperature="1"), "/postprocessing/logits/temperature"),
    (lambda m: m["postprocessing"].update(id_score={"activation": "none", "argmax": False}), "/postprocessing/id_score/thresholds"),
    (lambda m: m["postprocessing"].update(id_score={"activation": "none", "argmax": False, "thresholds": {"ok": 0.5}}),
     "/postprocessing/id_score/thresholds/unknown"),
    (lambda m: m["postprocessing"].update(id_score={"activation": "none", "argmax": False,
                                                    "thresholds": {"ok": 1.5, "unknown": 0.2}}), "/postprocessing/id_score/thresholds/ok"),
    (lambda m: m.update(calibration={"ef": {"slope": 1, "intercept": 0}}), "/calibration/ef/residual_sd"),
    (lambda m: m.update(calibration={"ef": {"slope": 0, "intercept": 0, "residual_sd": 1}}), "/calibration/ef/slope"),
    (lambda m: m.update(calibration={"ef": {"slope": 1, "intercept": 0, "residual_sd": -1}}), "/calibration/ef/residual_sd"),
    (lambda m: m.update(calibration={"ef": {"slope": 1, "intercept": 0, "residual_sd": 1, "trim": 0}}), "/calibration/ef/trim"),
    (lambda m: m.update(calibration={"ef": {"slope": 1, "intercept": 0, "residual_sd": 1, "trim": 0.6}}), "/calibration/ef/trim"),
    (lambda m: m.update(calibration={"ef": {"slope": 1, "intercept": 0, "residual_sd": 1, "interval": "both"}}),
     "/calibration/ef/interval"),
    (lambda m: m.update(calibration={"Ef": {}}), "/calibration/Ef"),
    (lambda m: m.update(calibration={"lv_border": {"low": 0.2, "high": 0.8}}), "/calibration/lv_border/threshold"),
    (lambda m: m.update(calibration={"lv_border": {"low": 0, "high": 0.8, "threshold": 1}}), "/calibration/lv_border/low"),
    (lambda m: m.update(calibration={"lv_border": {"low": 0.2, "high": 1, "threshold": 1}}), "/calibration/lv_border/high"),
    (lambda m: m.update(calibration={"lv_border": {"low": 0.2, "high": 0.8, "threshold": 0}}),
     "/calibration/lv_border/threshold"),
])
def test_bad_values_are_schema_errors(edit, where):
    with pytest.raises(pk.PackageError) as e:
        pk.validate_manifest(with_(edit))
    assert e.value.code == "E_PACKAGE_SCHEMA"
    assert e.value.where == where
