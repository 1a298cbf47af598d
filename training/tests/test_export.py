"""Export (checker, parity), compression (int8 QDQ symmetric, fp16 with float32 I/O) and the accuracy budget."""
import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from sonoedge_train import package as pk
from sonoedge_train.compress import (check_budget, convert_fp16, cpu_latency_ms, fidelity, ort_metrics,
                                     quantize_int8, variant_table)
from sonoedge_train.errors import BudgetError, ExportError
from sonoedge_train.export import (export_onnx, output_names, ort_session, parity, run_ort, simulated_frames,
                                   to_model_input)
from sonoedge_train.models import build_model

MODELS = pk.REPO_ROOT / "models"


@pytest.fixture(scope="module")
def frames():
    return simulated_frames(8, seed=5)


def tiny(name):
    torch.manual_seed(0)
    args = {"widths": [4, 8, 8, 8, 8]} if name == "ds_unet" else {"width": 4}
    m = build_model(name, **args).eval()
    for mod in m.modules():  # non-trivial BN statistics, so that folding them is exercised
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
    return m, args


@pytest.mark.parametrize("name", ["ds_unet", "view_quality"])
def test_export_static_named_checked_and_in_parity(tmp_path, frames, name):
    m, args = tiny(name)
    info = export_onnx(m, name, tmp_path / "m.onnx", model_args=args)
    g = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(g, full_check=True)
    assert [o.version for o in g.opset_import if o.domain in ("", "ai.onnx")] == [17]
    assert [i.name for i in g.graph.input] == ["image"]
    assert [o.name for o in g.graph.output] == output_names(name, args) == info["outputs"]
    dims = [d.dim_value for d in g.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 1, 112, 112]
    r = parity(m, name, tmp_path / "m.onnx", frames, model_args=args)
    assert r["frames"] == 8 and max(r["max_abs"].values()) < 1e-4


def test_export_is_deterministic(tmp_path):
    m, args = tiny("view_quality")
    export_onnx(m, "view_quality", tmp_path / "a.onnx", model_args=args)
    export_onnx(m, "view_quality", tmp_path / "b.onnx", model_args=args)
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()


def test_parity_failure_names_output_and_tolerance(tmp_path, frames):
    m, args = tiny("view_quality")
    export_onnx(m, "view_quality", tmp_path / "m.onnx", model_args=args)
    with torch.no_grad():  # a constant shift of every class logit changes no probability: still in parity
        m.view_head.bias += 0.5
    res = parity(m, "view_quality", tmp_path / "m.onnx", frames, atol=1e-4, model_args=args)
    assert res["compared"] == {"view": "softmax", "quality": "raw", "guidance": "softmax"}
    assert res["max_abs"]["view"] < 1e-5 and abs(res["max_abs_raw"]["view"] - 0.5) < 1e-4
    with torch.no_grad():  # one class moved: the ONNX file now disagrees with the PyTorch model
        m.view_head.bias[0] += 0.5
    with pytest.raises(ExportError) as e:
        parity(m, "view_quality", tmp_path / "m.onnx", frames, atol=1e-4, model_args=args)
    assert e.value.code == "E_EXPORT_PARITY"
    assert re.search(r"on output 'view' by max abs 0\.\d+ over 8 frames; expected at most 0\.0001", e.value.message)


def test_unknown_model_name():
    with pytest.raises(ExportError) as e:
        output_names("resnet")
    assert e.value.message == "Expected a model name in ['ds_unet', 'view_quality'] but received 'resnet'"


def test_int8_is_symmetric_per_channel_qdq_and_fp16_keeps_float32_io(tmp_path, frames):
    m, args = tiny("ds_unet")
    export_onnx(m, "ds_unet", tmp_path / "m.onnx", model_args=args)
    d = quantize_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", frames, "percentile")
    assert d["format"] == "QDQ" and d["calibration"] == "percentile"
    q = onnx.load(str(tmp_path / "q.onnx"))
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in q.graph.initializer}
    zps = [inits[n.input[2]] for n in q.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
           and len(n.input) > 2 and n.input[2] in inits]
    assert zps and all(z.dtype in (np.int8, np.int32) and not z.any() for z in zps)  # zero points 0: symmetric
    assert any(inits[n.input[1]].size > 1 for n in q.graph.node if n.op_type == "DequantizeLinear")  # per-channel
    y = run_ort(ort_session(tmp_path / "q.onnx"), to_model_input(frames))["logits"]
    assert y.shape == (8, 4, 112, 112) and np.isfinite(y).all()
    convert_fp16(tmp_path / "m.onnx", tmp_path / "h.onnx")
    s = ort_session(tmp_path / "h.onnx")
    assert s.get_inputs()[0].type == "tensor(float)" and s.get_outputs()[0].type == "tensor(float)"
    ref = run_ort(ort_session(tmp_path / "m.onnx"), to_model_input(frames))["logits"]
    half = run_ort(s, to_model_input(frames))["logits"]
    assert np.abs(half - ref).max() < 0.05
    assert cpu_latency_ms(tmp_path / "h.onnx", runs=3, warmup=1) > 0


def test_bad_calibration_inputs(tmp_path, frames):
    with pytest.raises(ExportError) as e:
        quantize_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", frames, "kl")
    assert e.value.message == "Expected a calibration method in ['minmax', 'entropy', 'percentile'] but received 'kl'"
    with pytest.raises(ExportError) as e:
        quantize_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", frames[:0])
    assert e.value.message == "Expected at least 1 calibration frame but received 0"


def test_budget_refusal_with_numbers():
    base = {"dice_lv": 0.9012, "dice_myo": 0.8}
    assert check_budget("lv_segmentation", "int8", base, {"dice_lv": 0.8950})["drop"] == 0.0062
    with pytest.raises(BudgetError) as e:
        check_budget("lv_segmentation", "int8", base, {"dice_lv": 0.8800})
    assert e.value.code == "E_VARIANT_BUDGET"
    assert e.value.message == ("variant int8 refused: dice_lv 0.8800 vs fp32 0.9012, a drop of 0.0212; expected a "
                               "drop of at most 0.0100")
    assert e.value.numbers == {"variant": "int8", "metric": "dice_lv", "baseline": 0.9012, "value": 0.88,
                               "drop": 0.0212, "budget": 0.01}
    with pytest.raises(BudgetError):
        check_budget("view_quality", "fp16", {"view_accuracy": 0.95}, {"view_accuracy": 0.9390})
    check_budget("view_quality", "fp16", {"view_accuracy": 0.95}, {"view_accuracy": 0.9390}, budget=0.02)


def test_fidelity():
    ref = {"view": np.array([[2.0, 0, 0], [0, 2.0, 0]])}
    assert fidelity("view_quality", ref, {"view": np.array([[2.0, 0, 0], [2.0, 0, 0]])}) == 0.5
    lg = np.zeros((1, 4, 4, 4))
    lg[0, 1, :2] = 1
    assert fidelity("lv_segmentation", {"logits": lg}, {"logits": lg}) == 1.0


def test_variant_table():
    t = variant_table([{"package": "p", "variant": "int8", "file": "m.onnx", "bytes": 2048,
                        "metrics": {"dice_lv": 0.9, "frames": 3}, "latency_ms_cpu": 1.5, "drop": 0.002,
                        "verdict": "kept"}])
    assert t.splitlines()[2] == "| p | int8 | m.onnx | 2.0 | dice_lv 0.9 | 0.0020 | 1.5 | kept |"


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    from sonoedge_train.data.synthetic import SimDataset, write_dataset
    p = tmp_path_factory.mktemp("small") / "test"
    write_dataset(p, 10, 3, 4, (112, 112), "hard", None, progress=False)
    return SimDataset(p)


@pytest.mark.skipif(not (MODELS / "lv_segmentation" / "manifest.json").exists(), reason="no bundled packages")
@pytest.mark.parametrize("task", ["lv_segmentation", "view_quality"])
def test_bundled_int8_loads_and_stays_within_budget(labelled, task):
    pk.verify_package(MODELS / task, MODELS / "trust")
    man = json.loads((MODELS / task / "manifest.json").read_text())
    assert {"fp32", "int8"} <= set(man["variants"]) <= {"fp32", "int8", "fp32_pruned"}
    for v in man["variants"].values():
        assert v["bytes"] < 5 * 1024 * 1024
    args = dict(masks=labelled.masks, views=labelled.view, quality=labelled.quality)
    base = ort_metrics(task, MODELS / task / "model.fp32.onnx", labelled.frames, **args)
    q = ort_metrics(task, MODELS / task / "model.int8.onnx", labelled.frames, **args)
    # 40 frames: one view flip is 2.5 points, so the view model gets one frame of slack on this small set
    budget = None if task == "lv_segmentation" else 0.026
    check_budget(task, "int8", base, q, budget)


def test_int8_guard_keeps_dense_convs_in_float_until_the_target(tmp_path, frames):
    m, args = tiny("view_quality")
    export_onnx(m, "view_quality", tmp_path / "m.onnx", model_args=args)
    logs = []
    d = quantize_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", frames[:4], task="view_quality",
                      select_frames_u8=frames, min_fidelity=1.01, log=logs.append)  # unreachable: all dense float
    g = onnx.load(str(tmp_path / "q.onnx"))
    dense = [n for n in g.graph.node if n.op_type == "Conv" and all(a.name != "group" or a.i == 1 for a in n.attribute)]
    assert d["convs"] == 19 and len(d["float_convs"]) == 12 == len(dense)
    assert d["selection_frames"] == 8 and 0 <= d["fidelity"] <= 1 and logs
    d = quantize_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", frames[:4], task="view_quality",
                      select_frames_u8=frames, min_fidelity=0.0)
    assert d["float_convs"] == [] and d["fidelity"] == d["fidelity_all_int8"]


def test_cli_export_and_compress(tmp_path, labelled, capsys):
    from sonoedge_train.cli import main
    from sonoedge_train.train import _atomic_save
    m, args = tiny("view_quality")
    _atomic_save({"model": m.state_dict(), "model_name": "view_quality", "model_args": args, "config": {}},
                 tmp_path / "c.pt")
    assert main(["export", str(tmp_path / "c.pt"), "--out", str(tmp_path / "m.onnx"), "--parity-frames", "4"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["outputs"] == ["view", "quality", "guidance"] and info["parity"]["frames"] == 4
    data = str(labelled.root)
    rc = main(["compress", str(tmp_path / "m.onnx"), "--task", "view_quality", "--out-dir", str(tmp_path / "v"),
               "--variants", "fp16", "--calib-data", data, "--test-data", data])
    out = capsys.readouterr().out
    assert rc == 0 and "| view_quality | fp16 | model.fp16.onnx |" in out
    assert main(["export", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x.onnx")]) == 2
    assert "E_CKPT_MISSING" in capsys.readouterr().err


def test_bundled_manifests_and_sample():
    import jsonschema
    jsonschema.Draft202012Validator.check_schema(json.loads(pk.SCHEMA_PATH.read_text()))
    for task in ("view_quality", "lv_segmentation"):
        if (MODELS / task / "manifest.json").exists():
            man = pk.verify_package(MODELS / task, MODELS / "trust")["manifest"]
            assert "DEVELOPMENT ONLY" in man["provenance"]["signing"]
            assert man["preprocessing"]["options"]["normalize"] == {"mean": 0.5, "std": 0.5,
                                                                    "scale": 0.00392156862745098}
    sample = MODELS / "samples" / "a4c_cine_16f.dcm"
    if sample.exists():
        import pydicom
        ds = pydicom.dcmread(sample)
        assert ds.NumberOfFrames == 16 and sample.stat().st_size < 5 * 1024 * 1024


def test_pruning_removes_channels_physically(tmp_path, frames, labelled):
    import copy
    from sonoedge_train.config import resolve
    from sonoedge_train.prune import count, fine_tune, prune_view_quality
    torch.manual_seed(0)
    m = build_model("view_quality", width=8).eval()
    x = torch.from_numpy(to_model_input(frames[:2]))
    same = prune_view_quality(copy.deepcopy(m), 0.01)  # rounds to every channel kept: the same function
    with torch.no_grad():
        assert all(torch.equal(m(x)[k], same(x)[k]) for k in ("view", "quality", "guidance"))
    p = prune_view_quality(copy.deepcopy(m), 0.5)
    assert not p.training and count(p) < 0.4 * count(m)
    assert p.backbone[0][0].out_channels == 4 and p.view_head.in_features == 64
    export_onnx(m, "view_quality", tmp_path / "a.onnx", model_args={"width": 8})
    export_onnx(p, "view_quality", tmp_path / "b.onnx", model_args={"width": 8})
    assert (tmp_path / "b.onnx").stat().st_size < 0.5 * (tmp_path / "a.onnx").stat().st_size
    parity(p, "view_quality", tmp_path / "b.onnx", frames[:2])
    cfg = resolve([], ["task=view", "model.name=view_quality"])
    fine_tune(p, cfg, labelled, steps=2, bs=4)
    assert not p.training
    with pytest.raises(ExportError) as e:
        prune_view_quality(m, 1.0)
    assert e.value.message == "Expected a pruning ratio in (0, 1) but received 1.0"


def test_failed_package_build_leaves_the_existing_package_untouched(tmp_path):
    from sonoedge_train.bundle import build_package
    from sonoedge_train.train import _atomic_save
    m, args = tiny("ds_unet")
    _atomic_save({"model": m.state_dict(), "model_name": "ds_unet", "model_args": args, "config": {}}, tmp_path / "seg.pt")
    pkg = tmp_path / "view_quality"
    pkg.mkdir()
    (pkg / "manifest.json").write_text("the package in service")
    with pytest.raises(ExportError, match="expected a view_quality checkpoint"):
        build_package("view_quality", tmp_path / "seg.pt", pkg, None, None, None, None, log=lambda *_: None)
    assert (pkg / "manifest.json").read_text() == "the package in service"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg.pt", "view_quality"]


def test_package_build_replaces_the_old_package_by_renames(tmp_path, monkeypatch):
    from sonoedge_train import bundle
    pkg = tmp_path / "view_quality"
    pkg.mkdir()
    (pkg / "manifest.json").write_text("old")

    def fake_build(out, *args):
        assert (pkg / "manifest.json").read_text() == "old"  # the old package serves while the new one builds
        (out / "manifest.json").write_text("new")
        return [{"variant": "fp32"}]

    monkeypatch.setattr(bundle, "_build_package_in", fake_build)
    assert bundle.build_package("view_quality", "ck.pt", pkg, None, None, None, None) == [{"variant": "fp32"}]
    assert (pkg / "manifest.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["view_quality"]  # no .building or .old folder left


def test_requantize_rebuilds_only_int8_with_7_bit_weights_and_resigns(tmp_path, labelled):
    import shutil
    from sonoedge_train.bundle import requantize_bundled
    models = tmp_path / "models"
    shutil.copytree(MODELS / "lv_segmentation", models / "lv_segmentation")
    shutil.copytree(MODELS / "trust", models / "trust")
    (models / "VARIANTS.md").write_text("| package | variant |\n| --- | --- |\n| view_quality | fp32 |\n"
                                        "| lv_segmentation | fp32 |\n| lv_segmentation | int8 |\n")
    before = {p.name: p.read_bytes() for p in (models / "lv_segmentation").iterdir()}
    data = str(labelled.root)
    with pytest.raises(BudgetError) as e:  # a refused int8 leaves the package as it was, byte for byte
        requantize_bundled(models, budget=-1.0, only="lv_segmentation", log=lambda *_: None, test_dir=data,
                           val_dir=data)
    assert e.value.code == "E_VARIANT_BUDGET"
    assert re.fullmatch(r"lv_segmentation: the re-quantized int8 variant was refused: a drop of -?\d\.\d{4} in dice_lv "
                        r"against fp32, more than the budget; the package stays as it was", e.value.message)
    assert {p.name: p.read_bytes() for p in (models / "lv_segmentation").iterdir()} == before
    assert sorted(p.name for p in models.iterdir()) == ["VARIANTS.md", "lv_segmentation", "trust"]

    r = requantize_bundled(models, only="lv_segmentation", log=lambda *_: None, test_dir=data, val_dir=data)
    pkg = models / "lv_segmentation"
    man = pk.verify_package(pkg, models / "trust")["manifest"]
    assert (pkg / "model.fp32.onnx").read_bytes() == before["model.fp32.onnx"]
    assert (pkg / "model.int8.onnx").read_bytes() != before["model.int8.onnx"]
    c = man["variants"]["int8"]["compression"]
    assert c["weights"] == "int8 symmetric per-channel, 7-bit range (reduce_range)"
    assert c["requantized"]["from"] == "model.fp32.onnx"
    q = onnx.load(str(pkg / "model.int8.onnx"))
    w = [onnx.numpy_helper.to_array(t) for t in q.graph.initializer if t.data_type == onnx.TensorProto.INT8
         and len(t.dims) == 4]
    assert len(w) == 36 and min(x.min() for x in w) >= -64 and max(x.max() for x in w) <= 64
    args = dict(masks=labelled.masks, views=labelled.view, quality=labelled.quality)
    for v in ("fp32", "int8"):
        m = ort_metrics("lv_segmentation", pkg / f"model.{v}.onnx", labelled.frames, **args)
        assert man["variants"][v]["metrics"] == {k: x for k, x in m.items() if k != "frames"}
    assert [(x["variant"], x["verdict"]) for x in r["rows"]] == [("fp32", "kept"), ("int8", "kept")]
    rows = [ln.split(" | ")[:2] for ln in (models / "VARIANTS.md").read_text().splitlines()
            if ln.startswith("| ") and not ln.startswith(("| package", "| ---"))]
    assert rows == [["| view_quality", "fp32 |"], ["| lv_segmentation", "fp32"], ["| lv_segmentation", "int8"]]



@pytest.mark.skipif(not (MODELS / "lv_segmentation" / "manifest.json").exists(), reason="no bundled packages")
@pytest.mark.parametrize("task", ["lv_segmentation", "view_quality"])
def test_bundled_int8_computes_what_its_file_says_on_this_cpu(labelled, task):
    """ONNX Runtime's fused int8 kernels (the session the runtime opens) against the same QDQ file run unfused
    (every QuantizeLinear/DequantizeLinear in float: the file's arithmetic with no CPU-specific int8 kernel). With
    full-range weights the two parted on an x86 CPU without VNNI (LV argmax 0.993 of pixels, view 0.975 of frames
    on 600 test frames, quantized without the guard); with the 7-bit weights they agree (0.9998 and 0.998)."""
    import onnxruntime as ort
    x = to_model_input(labelled.frames)

    def run(level):
        return run_ort(ort_session(MODELS / task / "model.int8.onnx", threads=2, level=level), x)

    fused, ref = run(ort.GraphOptimizationLevel.ORT_ENABLE_ALL), run(ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    k = "logits" if task == "lv_segmentation" else "view"
    agree = float((fused[k].argmax(1) == ref[k].argmax(1)).mean())
    assert agree >= (0.999 if task == "lv_segmentation" else 39 / 40), agree


def test_val_used_for_names_only_the_calibrations_fitted_on_it():
    from sonoedge_train.bundle import set_val_used_for
    val = "training/data_cache/wide_val"
    twins = "training/data_cache/wide_val_beats_np_iv_16,training/data_cache/wide_val_beats_np_iv_32"

    def manifest(task, ef_on=None, border_on=None):
        cal = {k: {"fitted_on": f"{on} (60 apical cines the runtime's rule accepts)"}
               for k, on in (("ef", ef_on), ("lv_border", border_on)) if on}
        return {"task": task, "provenance": {"dataset": {"val": {"path": val, "used_for": "stale"}}},
                **({"calibration": cal} if cal else {})}

    cases = [
        (manifest("view_quality"), "checkpoint selection, calibration (temperature, in-distribution score), "
                                   "int8 calibration frames"),
        (manifest("lv_segmentation", val, val), "checkpoint selection, EF calibration, LV border band, "
                                                "int8 calibration frames"),
        # fitted on other cines, among them one whose path starts with the validation set's
        (manifest("lv_segmentation", twins, f"{val}_x,{val}"), "checkpoint selection, LV border band, "
                                                               "int8 calibration frames"),
        (manifest("lv_segmentation", twins), "checkpoint selection, int8 calibration frames"),
    ]
    for m, want in cases:
        set_val_used_for(m)
        assert m["provenance"]["dataset"]["val"]["used_for"] == want
