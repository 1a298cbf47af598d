"""`make-fixtures`: the shared model package verdict fixtures (test/fixtures/model-packages/).

Deterministic: the fixture keys are derived from fixed, published seeds (throwaway keys, never trust them outside
tests), ed25519 signatures are deterministic, and the tiny ONNX files are built from fixed weights. Each invalid
case is a valid signed package with exactly one defect, so every verification order that the docs allow gives the
same verdict; cases.json lists each folder with its expected verdict.
"""
from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path

from . import package as pk

FIXTURE_SEED = hashlib.sha256(b"sonoedge test fixture key 1 (public, throwaway)").digest()
OTHER_SEED = hashlib.sha256(b"sonoedge test fixture key 2 (public, throwaway, not in the trust store)").digest()
CREATED = "2026-01-01T00:00:00Z"


def tiny_onnx(n_out: int, scale: float) -> bytes:
    """A real, loadable ONNX model of a few hundred bytes: 1x1 conv, image [1,1,112,112] -> logits [1,n,112,112]."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array((np.arange(n_out, dtype=np.float32).reshape(n_out, 1, 1, 1) - 1.5) * scale, "w")
    b = numpy_helper.from_array(np.zeros(n_out, dtype=np.float32), "b")
    node = helper.make_node("Conv", ["image", "w", "b"], ["logits"], name="conv")
    g = helper.make_graph([node], "fixture", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 112, 112])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, n_out, 112, 112])], [w, b])
    m = helper.make_model(g, producer_name="sonoedge-fixture", opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m.SerializeToString()


def fixture_manifest(files: dict[str, bytes]) -> dict:
    def entry(name):
        return {"sha256": hashlib.sha256(files[name]).hexdigest(), "bytes": len(files[name])}

    labels = ["background", "lv", "myocardium", "la"]
    return {
        "format_version": 1,
        "name": "fixture-lv-segmentation",
        "version": "1.0.0",
        "task": "lv_segmentation",
        "description": "Test fixture: a fake LV segmentation package (1x1 conv models), not a real model.",
        "inputs": {"image": {
            "type": "image", "format": "magnitude", "modality": "US", "num_channels": 1, "spatial_shape": [112, 112],
            "shape": [1, 1, 112, 112], "dtype": "float32", "value_range": [-1.0, 1.0],
            "channel_def": {"0": "B-mode intensity"}}},
        "outputs": {"logits": {
            "type": "image", "format": "segmentation", "num_channels": 4, "spatial_shape": [112, 112],
            "shape": [1, 4, 112, 112], "dtype": "float32", "value_range": [],
            "channel_def": {str(i): n for i, n in enumerate(labels)}}},
        "preprocessing": {
            "input": "image", "source": "scan_converted", "crop": "sector_bounding_box",
            "options": {"output": {"width": 112, "height": 112, "channels": 1, "dtype": "float32", "layout": "NCHW"},
                        "resize": "area", "letterbox": False, "padValue": 0,
                        "normalize": {"mean": 0.5, "std": 0.5, "scale": 0.00392156862745098}}},
        "postprocessing": {"logits": {"activation": "softmax", "axis": 1, "argmax": True, "labels": labels}},
        "variants": {
            "fp32": {"file": "model.fp32.onnx", **entry("model.fp32.onnx"), "providers": ["tensorrt", "cuda", "cpu"],
                     "opset": 17, "metrics": {"dice_lv": 0.9}, "latency_ms_cpu": 1.0},
            "int8": {"file": "model.int8.onnx", **entry("model.int8.onnx"), "providers": ["tensorrt", "cpu"],
                     "opset": 17, "metrics": {"dice_lv": 0.895}, "latency_ms_cpu": 0.8},
        },
        "files": {"README.md": entry("README.md")},
        "provenance": {"dataset": {"name": "none (fixture)"}, "seed": 0, "config": {}, "harness_commit": "unknown",
                       "created": CREATED, "signing": "throwaway test fixture key, derived from a published seed"},
    }


def _write(folder: Path, files: dict[str, bytes]):
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def make_fixtures(out) -> list[dict]:
    out = Path(out)
    key = pk.private_key_from_seed(FIXTURE_SEED)
    other = pk.private_key_from_seed(OTHER_SEED)
    kid = pk.key_id(pk.public_raw(key))
    other_kid = pk.key_id(pk.public_raw(other))
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    # signatures are over exact bytes: no line-ending conversion on checkout, whatever core.autocrlf says
    (out / ".gitattributes").write_text("* -text\n")
    trust = out / "trust"
    trust.mkdir()
    (trust / f"fixture-{kid}.pub").write_text(pk.public_file_text(
        pk.public_raw(key), f"sonoedge TEST FIXTURE key (key id {kid}): throwaway, derived from a published seed in\n"
                            "training/sonoedge_train/fixtures.py; never trust it outside tests"))

    files = {"model.fp32.onnx": tiny_onnx(4, 0.5), "model.int8.onnx": tiny_onnx(4, 0.25),
             "README.md": b"Test fixture package: fake 1x1 conv models.\n"}
    manifest = fixture_manifest(files)
    good = pk.dump_manifest(manifest)
    cases = []

    def case(name, desc, verdict, mbytes=good, sig="key", drop=(), edit=None, extra=None, allow_unsigned=None):
        folder = out / name
        fs = dict(files)
        if edit:
            fs.update(edit)
        for d in drop:
            fs.pop(d)
        if extra:
            fs.update(extra)
        _write(folder, fs)
        if mbytes is not None:
            (folder / pk.MANIFEST).write_bytes(mbytes)
        signed_bytes = mbytes if mbytes is not None else good
        if sig == "key":
            (folder / pk.SIGNATURE).write_bytes(pk.signature_document(key, signed_bytes))
        elif sig == "other-claims-fixture":
            (folder / pk.SIGNATURE).write_bytes(pk.signature_document(other, signed_bytes, kid))
        elif sig == "other":
            (folder / pk.SIGNATURE).write_bytes(pk.signature_document(other, signed_bytes))
        elif isinstance(sig, bytes):
            (folder / pk.SIGNATURE).write_bytes(sig)
        entries = [(False, verdict)] + ([(True, allow_unsigned)] if allow_unsigned is not None else [])
        cases.extend({"case": name, "allow_unsigned": au, **v, "description": desc} for au, v in entries)

    def mutate(fn):
        m = json.loads(good)
        fn(m)
        return pk.dump_manifest(m)

    def bad(code, where):
        return {"valid": False, "code": code, "where": where}

    ok = {"valid": True}
    sig_doc = json.loads(pk.signature_document(key, good))
    case("valid-signed", "a valid package signed by the fixture key", ok, allow_unsigned=ok)
    case("valid-unsigned", "a valid package without manifest.sig: valid only when unsigned packages are allowed",
         bad("E_PACKAGE_UNSIGNED", "manifest.sig"), sig=None, allow_unsigned=ok)
    tampered = bytearray(files["model.int8.onnx"])
    tampered[-1] ^= 0x01
    case("tampered-variant-file", "one byte of model.int8.onnx flipped after signing (same size)",
         bad("E_PACKAGE_CHECKSUM", "model.int8.onnx"), edit={"model.int8.onnx": bytes(tampered)})
    case("truncated-variant-file", "model.fp32.onnx lost its last 10 bytes",
         bad("E_PACKAGE_CHECKSUM", "model.fp32.onnx"), edit={"model.fp32.onnx": files["model.fp32.onnx"][:-10]})
    case("tampered-listed-file", "README.md (a `files` entry) edited after signing",
         bad("E_PACKAGE_CHECKSUM", "README.md"), edit={"README.md": b"Test fixture package: edited.\n"})
    case("missing-variant-file", "model.int8.onnx is not in the folder",
         bad("E_PACKAGE_MISSING_FILE", "model.int8.onnx"), drop=("model.int8.onnx",))
    case("missing-manifest", "the folder has no manifest.json", bad("E_PACKAGE_MISSING_FILE", "manifest.json"),
         mbytes=None, sig=None)
    case("unlisted-file", "a file the manifest does not list sits in the folder",
         bad("E_PACKAGE_UNLISTED_FILE", "extra.bin"), extra={"extra.bin": b"\x00" * 16})
    case("manifest-edited-after-signing", "the description was changed after signing; the signature is the original",
         bad("E_PACKAGE_SIGNATURE", "manifest.sig"),
         mbytes=good.replace(b"not a real model.", b"a real model!!!!."), sig=pk.signature_document(key, good))
    case("wrong-signature", "signed by another key but naming the fixture key's id",
         bad("E_PACKAGE_SIGNATURE", "manifest.sig"), sig="other-claims-fixture",
         allow_unsigned=bad("E_PACKAGE_SIGNATURE", "manifest.sig"))
    case("unknown-key", f"signed by another key (id {other_kid}) that the trust store does not hold",
         bad("E_PACKAGE_UNKNOWN_KEY", "manifest.sig"), sig="other")
    case("signature-malformed", "the signature is the base64 of 63 bytes",
         bad("E_PACKAGE_SIGNATURE", "manifest.sig"),
         sig=(json.dumps({**sig_doc, "signature": base64.b64encode(bytes(63)).decode()}, indent=2)
              + "\n").encode())
    case("signature-wrong-algorithm", "manifest.sig names algorithm rsa-pss",
         bad("E_PACKAGE_SIGNATURE", "manifest.sig"),
         sig=(json.dumps({**sig_doc, "algorithm": "rsa-pss"}, indent=2) + "\n").encode())
    case("signature-not-json", "manifest.sig is not JSON", bad("E_PACKAGE_SIGNATURE", "manifest.sig"),
         sig=b"c2lnbmF0dXJl\n")
    case("signature-missing-field", "manifest.sig has no key_id", bad("E_PACKAGE_SIGNATURE", "manifest.sig"),
         sig=(json.dumps({"algorithm": "ed25519", "signature": sig_doc["signature"]}, indent=2) + "\n").encode())
    case("manifest-not-json", "manifest.json is truncated (not JSON); the signature covers those bytes",
         bad("E_PACKAGE_MANIFEST_JSON", "manifest.json"), mbytes=good[:200])
    case("manifest-nan", "manifest.json holds NaN, which JSON does not allow",
         bad("E_PACKAGE_MANIFEST_JSON", "manifest.json"),
         mbytes=good.replace(b'"latency_ms_cpu": 0.8', b'"latency_ms_cpu": NaN'))
    case("schema-not-object", "manifest.json is a JSON array", bad("E_PACKAGE_SCHEMA", ""), mbytes=b"[]\n")
    case("schema-missing-field", "the required field version is missing", bad("E_PACKAGE_SCHEMA", "/version"),
         mbytes=mutate(lambda m: m.pop("version")))
    case("schema-wrong-type", "variants.fp32.bytes is a string", bad("E_PACKAGE_SCHEMA", "/variants/fp32/bytes"),
         mbytes=mutate(lambda m: m["variants"]["fp32"].__setitem__("bytes", str(m["variants"]["fp32"]["bytes"]))))
    case("schema-unknown-variant", "a variant named int9", bad("E_PACKAGE_SCHEMA", "/variants/int9"),
         mbytes=mutate(lambda m: m["variants"].__setitem__("int9", m["variants"].pop("int8"))))
    case("schema-bad-enum", "preprocessing.options.resize is bicubic",
         bad("E_PACKAGE_SCHEMA", "/preprocessing/options/resize"),
         mbytes=mutate(lambda m: m["preprocessing"]["options"].__setitem__("resize", "bicubic")))
    case("schema-bad-version", "version 1.0 is not semver", bad("E_PACKAGE_SCHEMA", "/version"),
         mbytes=mutate(lambda m: m.__setitem__("version", "1.0")))
    case("schema-path-escape", "a variant file ../model.int8.onnx outside the package",
         bad("E_PACKAGE_SCHEMA", "/variants/int8/file"),
         mbytes=mutate(lambda m: m["variants"]["int8"].__setitem__("file", "../model.int8.onnx")))
    case("schema-bad-sha256", "the sha256 of README.md is upper-case hex",
         bad("E_PACKAGE_SCHEMA", "/files/README.md/sha256"),
         mbytes=mutate(lambda m: m["files"]["README.md"].__setitem__("sha256", m["files"]["README.md"]["sha256"].upper())))
    case("schema-unknown-field", "an unknown top-level field signature", bad("E_PACKAGE_SCHEMA", "/signature"),
         mbytes=mutate(lambda m: m.__setitem__("signature", "abc")))

    doc = {"comment": "Expected verdicts of the model package verifier (Python and TypeScript). Generated by "
                      "`python -m sonoedge_train make-fixtures`; do not edit by hand. Verify each `case` folder "
                      "against the trust store folder `trust_store`, with unsigned packages allowed only when "
                      "`allow_unsigned` is true. `where` is a path relative to the package, or for "
                      "E_PACKAGE_SCHEMA the JSON pointer of the offending field. See docs/MODEL_PACKAGE.md.",
           "trust_store": "trust", "fixture_key_id": kid, "other_key_id": other_kid, "cases": cases}
    (out / "cases.json").write_text(json.dumps(doc, indent=2) + "\n")
    return cases
