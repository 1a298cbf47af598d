"""Model packages: the shared verdict fixtures, signing round trip, tamper detection, trust store errors."""
import json
import shutil
from pathlib import Path

import pytest

from sonoedge_train import package as pk
from sonoedge_train.cli import main
from sonoedge_train.errors import PackageError, SigningError
from sonoedge_train.fixtures import FIXTURE_SEED, make_fixtures

FIXTURES = pk.REPO_ROOT / "test" / "fixtures" / "model-packages"
CASES = json.loads((FIXTURES / "cases.json").read_text())["cases"]


def verdict(folder, trust, allow_unsigned=False):
    try:
        pk.verify_package(folder, trust, allow_unsigned)
    except PackageError as e:
        return {"valid": False, "code": e.code, "where": e.where}
    return {"valid": True}


@pytest.mark.parametrize("c", CASES, ids=[f"{c['case']}{'+allow_unsigned' if c['allow_unsigned'] else ''}"
                                          for c in CASES])
def test_fixture_verdict(c):
    expected = {k: c[k] for k in ("valid", "code", "where") if k in c}
    assert verdict(FIXTURES / c["case"], FIXTURES / "trust", c["allow_unsigned"]) == expected


def test_fixtures_cover_every_code():
    codes = {c.get("code") for c in CASES}
    assert codes >= {"E_PACKAGE_SCHEMA", "E_PACKAGE_CHECKSUM", "E_PACKAGE_MISSING_FILE", "E_PACKAGE_SIGNATURE",
                     "E_PACKAGE_UNSIGNED", "E_PACKAGE_UNKNOWN_KEY", "E_PACKAGE_MANIFEST_JSON",
                     "E_PACKAGE_UNLISTED_FILE", None}


def test_make_fixtures_is_deterministic_and_matches_the_committed_files(tmp_path):
    make_fixtures(tmp_path / "fx")
    ours = sorted(p.relative_to(tmp_path / "fx").as_posix() for p in (tmp_path / "fx").rglob("*") if p.is_file())
    theirs = sorted(p.relative_to(FIXTURES).as_posix() for p in FIXTURES.rglob("*") if p.is_file())
    assert ours == theirs
    for rel in ours:
        assert (tmp_path / "fx" / rel).read_bytes() == (FIXTURES / rel).read_bytes(), rel


def test_fixture_models_load_in_onnxruntime():
    import numpy as np
    import onnxruntime as ort
    s = ort.InferenceSession(str(FIXTURES / "valid-signed" / "model.fp32.onnx"), providers=["CPUExecutionProvider"])
    (y,) = s.run(None, {"image": np.ones((1, 1, 112, 112), np.float32)})
    assert y.shape == (1, 4, 112, 112)


@pytest.fixture()
def signed_pkg(tmp_path):
    pkg = tmp_path / "pkg"
    shutil.copytree(FIXTURES / "valid-signed", pkg)
    (pkg / pk.SIGNATURE).unlink()
    priv = tmp_path / "k.pem"
    trust = tmp_path / "trust"
    kid = pk.keygen(priv, trust, "test")
    pk.sign_package(pkg, pk.load_private_key(priv))
    return pkg, trust, kid


def test_sign_verify_round_trip(signed_pkg):
    pkg, trust, kid = signed_pkg
    r = pk.verify_package(pkg, trust)
    assert r["signed"] and r["key_id"] == kid and r["manifest"]["name"] == "fixture-lv-segmentation"
    assert json.loads((pkg / pk.SIGNATURE).read_text())["key_id"] == kid
    assert (trust / f"test-{kid}.pub").is_file()


def test_tampering_any_byte_of_the_manifest_breaks_the_signature(signed_pkg):
    pkg, trust, _ = signed_pkg
    m = pkg / pk.MANIFEST
    data = m.read_bytes()
    for i in (0, len(data) // 2, len(data) - 1):
        b = bytearray(data)
        b[i] ^= 0x20
        m.write_bytes(bytes(b))
        with pytest.raises(PackageError) as e:
            pk.verify_package(pkg, trust)
        assert (e.value.code, e.value.where) == ("E_PACKAGE_SIGNATURE", "manifest.sig")
    m.write_bytes(data)
    pk.verify_package(pkg, trust)


def test_tampered_variant_message_names_file_and_both_digests(signed_pkg):
    pkg, trust, _ = signed_pkg
    f = pkg / "model.fp32.onnx"
    want = pk.sha256_file(f)
    b = bytearray(f.read_bytes())
    b[10] ^= 1
    f.write_bytes(bytes(b))
    with pytest.raises(PackageError) as e:
        pk.verify_package(pkg, trust)
    assert e.value.code == "E_PACKAGE_CHECKSUM" and e.value.where == "model.fp32.onnx"
    assert e.value.message == (f"Expected sha256 {want} for model.fp32.onnx but received {pk.sha256_file(f)}")


def test_keygen_never_overwrites(tmp_path):
    pk.keygen(tmp_path / "k.pem", tmp_path / "t", "a")
    with pytest.raises(SigningError) as e:
        pk.keygen(tmp_path / "k.pem", tmp_path / "t", "a")
    assert e.value.code == "E_KEY_EXISTS"


def test_bad_private_key_files(tmp_path):
    with pytest.raises(SigningError) as e:
        pk.load_private_key(tmp_path / "nope.pem")
    assert e.value.code == "E_KEY_MISSING"
    (tmp_path / "bad.pem").write_text("not a key\n")
    with pytest.raises(SigningError) as e:
        pk.load_private_key(tmp_path / "bad.pem")
    assert e.value.code == "E_KEY_FORMAT" and "bad.pem" in e.value.message


def test_development_key_pair_matches_and_is_labelled():
    priv = pk.load_private_key(pk.REPO_ROOT / "training" / "keys" / "DEVELOPMENT-ONLY-signing-key.pem")
    kid = pk.key_id(pk.public_raw(priv))
    pub = pk.REPO_ROOT / "models" / "trust" / f"development-{kid}.pub"
    assert pk.parse_public_file(pub) == pk.public_raw(priv)
    assert "DEVELOPMENT-ONLY" in pub.read_text()
    assert "DEVELOPMENT ONLY" in (pk.REPO_ROOT / "training" / "keys" / "DEVELOPMENT-ONLY-signing-key.pem").read_text()


@pytest.mark.parametrize("name,text,message", [
    ("x-0000000000000000.pub", "# two keys\nAAAA\nBBBB\n", "Expected exactly one base64 key line in {n} but received 2"),
    ("x-0000000000000000.pub", "# short\nAAAA\n", "Expected the base64 of a 32-byte ed25519 public key in {n} but "
                                                   "received 3 bytes"),
    ("x-0000000000000000.pub", "# junk\n!!!!\n", "Expected the base64 of a 32-byte ed25519 public key in {n} but "
                                                  "received not base64"),
])
def test_trust_store_bad_files(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(PackageError) as e:
        pk.load_trust_store(tmp_path)
    assert (e.value.code, e.value.where, e.value.message) == ("E_TRUST_STORE", name, message.format(n=name))


def test_trust_store_misnamed_key(tmp_path):
    src = next((FIXTURES / "trust").glob("*.pub"))
    (tmp_path / "renamed.pub").write_bytes(src.read_bytes())
    kid = pk.key_id(pk.private_key_from_seed(FIXTURE_SEED).public_key().public_bytes_raw())
    with pytest.raises(PackageError) as e:
        pk.load_trust_store(tmp_path)
    assert e.value.code == "E_TRUST_STORE"
    assert e.value.message == f"Expected the file name of the key with id {kid} to end with '{kid}.pub' but " \
                              "received renamed.pub"


def test_cli_verify_and_sign(signed_pkg, tmp_path, capsys):
    pkg, trust, kid = signed_pkg
    assert main(["verify", str(pkg), "--trust", str(trust)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] and out["key_id"] == kid and out["variants"] == ["fp32", "int8"]
    assert main(["verify", str(FIXTURES / "unknown-key"), "--trust", str(FIXTURES / "trust")]) == 1
    out = json.loads(capsys.readouterr().out)
    assert (out["code"], out["where"]) == ("E_PACKAGE_UNKNOWN_KEY", "manifest.sig")
    assert main(["sign", str(pkg), "--key", str(tmp_path / "missing.pem")]) == 2
    assert "E_KEY_MISSING" in capsys.readouterr().err


def test_a_file_for_its_package_is_not_a_folder(tmp_path, capsys):
    # models verify models/x/model.fp32.onnx (or its manifest.json): not "no manifest.json in <file>"
    valid = FIXTURES / "valid-signed"
    for name in ("model.fp32.onnx", "manifest.json"):
        with pytest.raises(PackageError) as e:
            pk.verify_package(valid / name, FIXTURES / "trust")
        assert (e.value.code, e.value.where) == ("E_PACKAGE_NOT_FOLDER", ".")
        assert e.value.message == f"Expected a model package folder but received {valid / name}, which is a file; " \
                                  f"give its package folder {valid}"
    loose = tmp_path / "model.onnx"
    loose.write_bytes(b"\x00")
    assert main(["verify", str(loose), "--trust", str(FIXTURES / "trust")]) == 1
    out = json.loads(capsys.readouterr().out)
    assert (out["code"], out["where"], out["message"]) == (
        "E_PACKAGE_NOT_FOLDER", ".", f"Expected a model package folder but received {loose}, which is a file")
