"""unpack.checkpoint_from_package: a bundled package's fp32 ONNX back into the PyTorch model (eval mode exact against
ONNX Runtime, training-mode BatchNorm unfolded from data), `train.init_from` given a package folder, and the
refusals."""
import json
import shutil

import numpy as np
import pytest
import torch
from scipy.special import softmax

from sonoedge_train import package as pk
from sonoedge_train.errors import CheckpointError, PackageError
from sonoedge_train.export import ort_session, run_ort, simulated_frames, to_model_input
from sonoedge_train.models import build_model
from sonoedge_train.train import load_checkpoint, train
from sonoedge_train.unpack import _module_path, checkpoint_from_package

from test_train_aug import _view_cfg

MODELS = pk.REPO_ROOT / "models"
ATOL = 1e-4  # export.PARITY_ATOL: softmax probabilities and quality, PyTorch against ONNX Runtime


@pytest.fixture(scope="module")
def unpacked():
    return {p: checkpoint_from_package(MODELS / p) for p in ("view_quality", "lv_segmentation")}


def _model(ck, train_mode=False):
    m = build_model(ck["model_name"], **ck["model_args"])
    m.load_state_dict(ck["model"])
    m.train(train_mode)
    for d in m.modules():
        if isinstance(d, torch.nn.Dropout):
            d.eval()
    return m


def test_module_paths_from_node_names():
    assert _module_path("/model/backbone/backbone.0/backbone.0.0/Conv") == "backbone.0.0"
    assert _module_path("/model/backbone/backbone.7/fc/fc.1/Conv") == "backbone.7.fc.1"
    assert _module_path("/model/up.3/up.3.1/up.3.1.1/up.3.1.1.2/Conv") == "up.3.1.1.2"
    assert _module_path("/model/view_head/Gemm") == "view_head"


@pytest.mark.parametrize("name,out", [("view_quality", "view"), ("lv_segmentation", "logits")])
def test_eval_mode_is_the_packaged_model(unpacked, name, out):
    ck = unpacked[name]
    man = json.loads((MODELS / name / "manifest.json").read_text())
    assert ck["model_args"] == man["provenance"]["config"]["model"]["args"]
    assert ck["source_package"]["sha256"] == man["variants"]["fp32"]["sha256"]
    x = to_model_input(simulated_frames(8, seed=31))  # other frames than the unpacking's own check
    got = run_ort(ort_session(MODELS / name / "model.fp32.onnx"), x)
    with torch.no_grad():
        ref = _model(ck)(torch.from_numpy(x))
    ref = ref if isinstance(ref, dict) else {"logits": ref}
    assert np.abs(softmax(ref[out].numpy(), 1) - softmax(got[out], 1)).max() <= ATOL
    if name == "view_quality":
        assert np.abs(ref["quality"].numpy() - got["quality"]).max() <= ATOL


def test_training_mode_batchnorm_starts_near_the_packaged_model(unpacked):
    ck = unpacked["view_quality"]
    x = torch.from_numpy(to_model_input(simulated_frames(64, seed=99)))
    with torch.no_grad():
        ev, tr = _model(ck)(x), _model(ck, train_mode=True)(x)
    agree = (ev["view"].argmax(1) == tr["view"].argmax(1)).float().mean().item()
    assert agree >= 0.95
    # the same folded weights with the BatchNorm as the identity (g = 1, m = 0): eval is the same function, but a
    # training-mode batch is normalised to unit variance per channel and the views are lost
    sd = {k: v.clone() for k, v in ck["model"].items()}
    for k in [k for k in sd if k.endswith("running_mean")]:
        b = k[: -len("running_mean")]
        sd[b + "bias"] -= sd[k]
        sd[b + "weight"].fill_(1.0)
        sd[k].zero_()
        sd[b + "running_var"].fill_(1.0 - 1e-5)
    with torch.no_grad():
        ident = _model(dict(ck, model=sd), train_mode=True)(x)
    assert (ev["view"].argmax(1) == ident["view"].argmax(1)).float().mean().item() < 0.8


def test_init_from_a_package_folder(tiny_dataset, tmp_path, unpacked):
    ck = load_checkpoint(MODELS / "view_quality")
    assert ck["model_name"] == "view_quality" and ck["global_step"] == 0
    res = train(_view_cfg(tiny_dataset, tmp_path / "ft", 'model.args={"width": 14}',
                          f"train.init_from={MODELS / 'view_quality'}", "train.max_steps=1", "train.lr=1e-9"))
    got = torch.load(tmp_path / "ft" / "final.pt", weights_only=False)["model"]
    learned = [k for k in got if "running" not in k and "num_batches" not in k]
    assert res["global_step"] == 1 and len(learned) > 40
    assert all(torch.allclose(got[k], unpacked["view_quality"]["model"][k], atol=1e-6) for k in learned)


def _resigned(tmp_path, edit):
    """A copy of the bundled view package with `edit(manifest)` applied and signed with a new test key."""
    pkg, trust = tmp_path / "pkg" / "view_quality", tmp_path / "trust"
    shutil.copytree(MODELS / "view_quality", pkg)
    man = json.loads((pkg / "manifest.json").read_text())
    edit(man)
    (pkg / "manifest.json").write_bytes(pk.dump_manifest(man))
    pk.keygen(tmp_path / "k.pem", trust, "test")
    pk.sign_package(pkg, pk.load_private_key(tmp_path / "k.pem"))
    return pkg, trust


def test_refusals(tmp_path):
    pkg, trust = _resigned(tmp_path / "a", lambda m: m["provenance"]["config"].pop("model"))
    with pytest.raises(CheckpointError) as e:
        checkpoint_from_package(pkg, trust)
    assert e.value.code == "E_CKPT_PACKAGE" and e.value.message == (
        f"{pkg}: expected provenance.config.model (the training config the package was built from) in manifest.json "
        "but it is not there")

    pkg, trust = _resigned(tmp_path / "b", lambda m: m["provenance"]["config"]["model"].update(args={"width": 8}))
    with pytest.raises(CheckpointError) as e:
        checkpoint_from_package(pkg, trust)
    assert e.value.code == "E_CKPT_PACKAGE" and e.value.message == (
        f"{pkg}: module 'backbone.0.0' expected weight (8, 1, 3, 3) and bias (8,) but the node "
        "'/model/backbone/backbone.0/backbone.0.0/Conv' has (14, 1, 3, 3) and (14,)")

    # verified before anything is read: a changed weight file, or the bundled package without its trust store
    pkg, trust = _resigned(tmp_path / "c", lambda m: None)
    data = bytearray((pkg / "model.fp32.onnx").read_bytes())
    data[-1] ^= 1
    (pkg / "model.fp32.onnx").write_bytes(bytes(data))
    with pytest.raises(PackageError) as e:
        checkpoint_from_package(pkg, trust)
    assert e.value.code == "E_PACKAGE_CHECKSUM" and e.value.where == "model.fp32.onnx"
    with pytest.raises(PackageError) as e:
        checkpoint_from_package(MODELS / "view_quality", tmp_path / "c" / "trust")
    assert e.value.code == "E_PACKAGE_UNKNOWN_KEY"


def test_unpack_writes_the_run_the_recipe_starts_from(tiny_dataset, tmp_path, capsys):
    from sonoedge_train.cli import main
    from sonoedge_train.config import resolve
    run = tmp_path / "bundled_lv"
    assert main(["unpack", str(MODELS / "lv_segmentation"), "--out", str(run)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["model"] == "ds_unet" and res["parity_max_abs"]["logits"] <= ATOL
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["out_dir"] == str(run) and cfg["train"]["init_from"] == "" and cfg["task"] == "seg"
    # the package's own extra training sets (the bundled LV's wide_valve_train) are not the user's: left out
    assert cfg["data"]["extra_train"] == []
    # the recipe: the written config, the written checkpoint, the user's data
    ft = resolve([run / "config.json"], [f"train.init_from={run / 'final.pt'}", f"data.train={tiny_dataset / 'train'}",
                                         f"data.val={tiny_dataset / 'val'}", f"out_dir={tmp_path / 'ft'}",
                                         "train.max_steps=1", "train.lr=1e-9", "train.max_minutes=0"])
    assert train(ft)["global_step"] == 1
    assert main(["unpack", str(MODELS / "lv_segmentation"), "--out", str(run)]) == 2
    assert capsys.readouterr().err == (f"error: E_CKPT_EXISTS: {run / 'final.pt'}: expected a run folder without a "
                                       "final.pt but one is there (unpack never overwrites a checkpoint)\n")
