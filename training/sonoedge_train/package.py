"""Model packages: manifest, ed25519 signing, trust store and the verifier (docs/MODEL_PACKAGE.md).

A package is a folder: manifest.json (validated by models/schema/model-package.schema.json), an optional detached
signature manifest.sig, and the files the manifest lists with their sha256. The TypeScript runtime implements the
same verification order and gives the same verdicts on test/fixtures/model-packages (cases.json).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from pathlib import Path

from .errors import PackageError, SigningError

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "models" / "schema" / "model-package.schema.json"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
VARIANTS = ("fp32", "fp16", "int8", "fp32_pruned", "int8_pruned")
DEV_KEY_WARNING = ("DEVELOPMENT ONLY: signed with the development key committed at "
                   "training/keys/DEVELOPMENT-ONLY-signing-key.pem; production deployments use their own keys "
                   "and a trust store without the development key")
_KEY_ID_RE = re.compile(r"^[0-9a-f]{16}$")
_B64_RE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


# --- hashing and keys -------------------------------------------------------------------------------------------

def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def key_id(public_raw: bytes) -> str:
    """First 16 hex characters of sha256 over the 32-byte raw ed25519 public key."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def _ed25519():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    return ed25519, serialization


def private_key_from_seed(seed32: bytes):
    ed25519, _ = _ed25519()
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed32)


def public_raw(private_key) -> bytes:
    _, ser = _ed25519()
    return private_key.public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)


def private_pem(private_key, comment: str) -> bytes:
    _, ser = _ed25519()
    pem = private_key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    return head.encode() + pem


def public_file_text(public: bytes, comment: str) -> str:
    """The trust store format: '#' comment lines, then one line with the base64 of the 32-byte raw key."""
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    return head + base64.b64encode(public).decode() + "\n"


def load_private_key(path):
    """PKCS#8 PEM ed25519 private key; '#' comment lines before the PEM block are allowed."""
    ed25519, ser = _ed25519()
    p = Path(path)
    if not p.is_file():
        raise SigningError("E_KEY_MISSING", f"Expected an ed25519 private key file at {p} but it does not exist", p)
    data = p.read_bytes()
    try:
        key = ser.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise SigningError("E_KEY_FORMAT", f"Expected an unencrypted PKCS#8 PEM private key in {p} but could not "
                                           f"read it ({e})", p) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise SigningError("E_KEY_FORMAT", f"Expected an ed25519 private key in {p} but received a "
                                           f"{type(key).__name__}", p)
    return key


def parse_public_file(path) -> bytes:
    """Reads one trust store file; raises PackageError E_TRUST_STORE naming the file when it is malformed."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PackageError("E_TRUST_STORE", f"Expected a UTF-8 text file in {p.name} but could not read it ({e})",
                           p.name, p) from None
    lines = [ln.strip() for ln in text.splitlines()]
    keys = [ln for ln in lines if ln and not ln.startswith("#")]
    if len(keys) != 1:
        raise PackageError("E_TRUST_STORE", f"Expected exactly one base64 key line in {p.name} but received "
                                            f"{len(keys)}", p.name, p)
    raw = _b64(keys[0])
    if raw is None or len(raw) != 32:
        got = "not base64" if raw is None else f"{len(raw)} bytes"
        raise PackageError("E_TRUST_STORE", f"Expected the base64 of a 32-byte ed25519 public key in {p.name} but "
                                            f"received {got}", p.name, p)
    kid = key_id(raw)
    if not p.name.endswith(f"{kid}.pub"):
        raise PackageError("E_TRUST_STORE", f"Expected the file name of the key with id {kid} to end with "
                                            f"'{kid}.pub' but received {p.name}", p.name, p)
    return raw


def load_trust_store(folder) -> dict[str, bytes]:
    """{key_id: raw public key} from every *.pub file in `folder` (other files are ignored)."""
    d = Path(folder)
    if not d.is_dir():
        raise PackageError("E_TRUST_STORE", f"Expected a trust store folder at {d} but it does not exist", str(d), d)
    out = {}
    for p in sorted(d.glob("*.pub")):
        raw = parse_public_file(p)
        out[key_id(raw)] = raw
    return out


def keygen(private_out, public_dir, label: str, comment: str = "") -> str:
    """A new ed25519 key pair: the PEM private key at `private_out`, `<label>-<key_id>.pub` in `public_dir`."""
    ed25519, _ = _ed25519()
    k = ed25519.Ed25519PrivateKey.generate()
    pub = public_raw(k)
    kid = key_id(pub)
    po = Path(private_out)
    if po.exists():
        raise SigningError("E_KEY_EXISTS", f"Expected no file at {po} (keygen never overwrites a key) but one exists",
                           po)
    po.parent.mkdir(parents=True, exist_ok=True)
    note = comment or f"sonoedge ed25519 signing key {label} (key id {kid}); keep it secret"
    po.write_bytes(private_pem(k, note))
    os.chmod(po, 0o600)
    Path(public_dir).mkdir(parents=True, exist_ok=True)
    pub_note = comment or f"sonoedge ed25519 public key {label} (key id {kid})"
    (Path(public_dir) / f"{label}-{kid}.pub").write_text(public_file_text(pub, pub_note))
    return kid


# --- signing ----------------------------------------------------------------------------------------------------

def signature_bytes(private_key, data: bytes) -> bytes:
    return private_key.sign(data)


def signature_document(private_key, manifest_bytes: bytes, kid: str | None = None) -> bytes:
    """manifest.sig: {"algorithm": "ed25519", "key_id": ..., "signature": base64(64 bytes)}."""
    doc = {"algorithm": "ed25519", "key_id": kid or key_id(public_raw(private_key)),
           "signature": base64.b64encode(private_key.sign(manifest_bytes)).decode()}
    return (json.dumps(doc, indent=2) + "\n").encode()


def sign_package(pkg_dir, private_key) -> str:
    pkg = Path(pkg_dir)
    m = pkg / MANIFEST
    if not m.is_file():
        raise PackageError("E_PACKAGE_MISSING_FILE", f"Expected {MANIFEST} in {pkg} but it does not exist", MANIFEST, m)
    (pkg / SIGNATURE).write_bytes(signature_document(private_key, m.read_bytes()))
    return key_id(public_raw(private_key))


# The development signing key the scripts that change a package's manifest default to (never for production).
DEV_KEY_PATH = Path(__file__).resolve().parents[1] / "keys" / "DEVELOPMENT-ONLY-signing-key.pem"


def manifest_of_task(pkg_dir, task: str) -> dict:
    """The manifest of the package in pkg_dir, which must be of `task` (ValueError naming the task it is of)."""
    pkg = Path(pkg_dir)
    manifest = json.loads((pkg / MANIFEST).read_text())
    if manifest.get("task") != task:
        article = "an" if task == "lv_segmentation" else "a"  # as said: "an el-vee segmentation package"
        raise ValueError(f"{pkg}: expected {article} {task} package but received task {manifest.get('task')!r}")
    return manifest


def resign_manifest(pkg_dir, manifest: dict, key_path) -> dict:
    """Writes a changed manifest into a package after validating it against the schema, signs it with the key at
    key_path, and verifies the package against the trust store beside it (../trust). Its other files are untouched
    but for the model card's thresholds section (README.md, card.sync_card), rewritten from the manifest so that the
    card never disagrees with it. Returns the manifest as written."""
    from .card import README, synced_card
    pkg = Path(pkg_dir)
    manifest, card = synced_card(pkg, manifest)
    # everything that can refuse (the schema, the key) before anything is written
    validate_manifest(manifest)
    key = load_private_key(key_path)
    if card is not None:
        (pkg / README).write_bytes(card)
    (pkg / MANIFEST).write_bytes(dump_manifest(manifest))
    sign_package(pkg, key)
    verify_package(pkg, load_trust_store(pkg.parent / "trust"))
    return manifest


def edit_manifest_cli(doc: str, task: str, package_help: str, add_args, edit, argv=None, check=None) -> int:
    """The command line of the training/scripts/set_*.py scripts, which change one thing in a built package's
    manifest: PACKAGE (of `task`; anything else is refused with argparse's usage error, exit 2), the script's own
    arguments (add_args(parser)), --key (default the development key). check(parser, args), when given, refuses
    arguments before the package is read; edit(parser, args, pkg, manifest) changes the manifest in place (refusing
    through parser.error) and returns the line to print; the manifest is then validated, signed and verified
    (resign_manifest). Returns 0."""
    import argparse
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("package", help=package_help)
    add_args(ap)
    ap.add_argument("--key", default=str(DEV_KEY_PATH))
    a = ap.parse_args(argv)
    if check is not None:
        check(ap, a)
    pkg = Path(a.package)
    try:
        manifest = manifest_of_task(pkg, task)
    except ValueError as e:
        ap.error(str(e))
    line = edit(ap, a, pkg, manifest)
    resign_manifest(pkg, manifest, a.key)
    print(line)
    return 0


# --- manifest helpers -------------------------------------------------------------------------------------------

def dump_manifest(manifest: dict) -> bytes:
    """The canonical bytes the harness writes (2-space indent, key order kept, UTF-8, final newline)."""
    return (json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def file_entry(path) -> dict:
    p = Path(path)
    return {"sha256": sha256_file(p), "bytes": p.stat().st_size}


def _schema():
    return json.loads(SCHEMA_PATH.read_text())


def _pointer(parts) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _schema_where(err) -> str:
    """The JSON pointer of the offending field, as documented: a missing required property's own pointer, an
    unknown property's own pointer, otherwise the failing value's pointer."""
    path = list(err.absolute_path)
    inst = err.instance
    if err.validator == "required" and isinstance(inst, dict):
        missing = [k for k in err.validator_value if k not in inst]
        if missing:
            return _pointer(path + [missing[0]])
    if err.validator == "additionalProperties" and isinstance(inst, dict) and err.validator_value is False:
        known = set(err.schema.get("properties", {}))
        extra = [k for k in inst if k not in known]
        if extra:
            return _pointer(path + [extra[0]])
    if err.validator == "propertyNames" and isinstance(inst, dict):
        for ctx in err.context or []:
            if isinstance(ctx.instance, str):
                return _pointer(path + [ctx.instance])
    return _pointer(path)


def validate_manifest(manifest) -> None:
    """Raises PackageError E_PACKAGE_SCHEMA with `where` = JSON pointer of the offending field."""
    import jsonschema
    v = jsonschema.Draft202012Validator(_schema())
    errors = list(v.iter_errors(manifest))
    if not errors:
        return
    err = jsonschema.exceptions.best_match(errors)
    where = _schema_where(err)
    raise PackageError("E_PACKAGE_SCHEMA", f"manifest.json {where or '(root)'}: {err.message}", where)


def _b64(s: str):
    if not isinstance(s, str) or len(s) % 4 or not _B64_RE.match(s):
        return None
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return None


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


# --- the verifier -----------------------------------------------------------------------------------------------

def verify_package(pkg_dir, trust_store, allow_unsigned: bool = False) -> dict:
    """Verifies a package folder; returns {"manifest": dict, "key_id": str | None, "signed": bool}.

    `trust_store` is a folder or a {key_id: raw public key} dict. The order (the TypeScript runtime follows it):
    0 the path is a folder (a file is E_PACKAGE_NOT_FOLDER); 1 manifest.json present; 2 signature (unsigned, malformed, unknown key, bad signature); 3 JSON; 4 schema;
    5 every variant file then every `files` entry, in manifest order: present, byte count, sha256;
    6 no file in the folder that the manifest does not list. The first failure raises PackageError with `code`
    and `where` (a path relative to the package, or a JSON pointer for E_PACKAGE_SCHEMA).
    """
    from cryptography.exceptions import InvalidSignature
    ed25519, _ = _ed25519()
    pkg = Path(pkg_dir)
    keys = trust_store if isinstance(trust_store, dict) else load_trust_store(trust_store)
    if pkg.exists() and not pkg.is_dir():
        # a file given for its package (model.fp32.onnx, manifest.json) is said as such; inside a package, name it
        hint = f"; give its package folder {pkg.parent}" if (pkg.parent / MANIFEST).is_file() else ""
        raise PackageError("E_PACKAGE_NOT_FOLDER", f"Expected a model package folder but received {pkg}, which is "
                           f"{'a file' if pkg.is_file() else 'not a folder'}{hint}", ".", pkg)
    mpath = pkg / MANIFEST
    if not mpath.is_file():
        raise PackageError("E_PACKAGE_MISSING_FILE", f"Expected {MANIFEST} in {pkg} but it does not exist",
                           MANIFEST, mpath)
    mbytes = mpath.read_bytes()

    # 2. signature over the exact bytes
    spath = pkg / SIGNATURE
    kid = None
    if not spath.is_file():
        if not allow_unsigned:
            raise PackageError("E_PACKAGE_UNSIGNED", f"Expected a signature {SIGNATURE} in {pkg} but there is none "
                                                     "(unsigned packages load only when explicitly allowed)",
                               SIGNATURE, spath)
    else:
        try:
            sig = json.loads(spath.read_bytes().decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as e:
            raise PackageError("E_PACKAGE_SIGNATURE", f"Expected {SIGNATURE} to be a JSON object but it is not "
                                                      f"JSON ({e})", SIGNATURE, spath) from None
        want = ["algorithm", "key_id", "signature"]
        if not isinstance(sig, dict) or sorted(sig) != want:
            got = sorted(sig) if isinstance(sig, dict) else type(sig).__name__
            raise PackageError("E_PACKAGE_SIGNATURE", f"Expected {SIGNATURE} to hold exactly the keys {want} but "
                                                      f"received {got}", SIGNATURE, spath)
        if sig["algorithm"] != "ed25519":
            raise PackageError("E_PACKAGE_SIGNATURE", f"Expected algorithm 'ed25519' in {SIGNATURE} but received "
                                                      f"{sig['algorithm']!r}", SIGNATURE, spath)
        kid = sig["key_id"]
        if not isinstance(kid, str) or not _KEY_ID_RE.match(kid):
            raise PackageError("E_PACKAGE_SIGNATURE", f"Expected key_id of 16 lowercase hex characters in "
                                                      f"{SIGNATURE} but received {kid!r}", SIGNATURE, spath)
        raw = _b64(sig["signature"])
        if raw is None or len(raw) != 64:
            got = "not base64" if raw is None else f"{len(raw)} bytes"
            raise PackageError("E_PACKAGE_SIGNATURE", f"Expected signature in {SIGNATURE} to be the base64 of 64 "
                                                      f"bytes but received {got}", SIGNATURE, spath)
        if kid not in keys:
            raise PackageError("E_PACKAGE_UNKNOWN_KEY", f"Expected {SIGNATURE} to name a key in the trust store "
                                                        f"({', '.join(sorted(keys)) or 'empty'}) but received key "
                                                        f"id {kid}", SIGNATURE, spath)
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(keys[kid]).verify(raw, mbytes)
        except InvalidSignature:
            raise PackageError("E_PACKAGE_SIGNATURE", f"Expected the signature in {SIGNATURE} to verify "
                                                      f"{MANIFEST} with key {kid} but it does not (the manifest "
                                                      "or the signature was changed, or another key signed it)",
                               SIGNATURE, spath) from None

    # 3. JSON
    try:
        manifest = json.loads(mbytes.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise PackageError("E_PACKAGE_MANIFEST_JSON", f"Expected {MANIFEST} to be UTF-8 JSON but it is not ({e})",
                           MANIFEST, mpath) from None

    # 4. schema
    validate_manifest(manifest)

    # 5. files
    listed = [(v["file"], v) for v in manifest["variants"].values()]
    listed += list(manifest["files"].items())
    for rel, entry in listed:
        p = pkg / rel
        if not p.is_file():
            raise PackageError("E_PACKAGE_MISSING_FILE", f"Expected {rel} (listed in {MANIFEST}) in {pkg} but it "
                                                         "does not exist", rel, p)
        size = p.stat().st_size
        if size != entry["bytes"]:
            raise PackageError("E_PACKAGE_CHECKSUM", f"Expected {rel} to be {entry['bytes']} bytes but it is "
                                                     f"{size} bytes", rel, p)
        digest = sha256_file(p)
        if digest != entry["sha256"]:
            raise PackageError("E_PACKAGE_CHECKSUM", f"Expected sha256 {entry['sha256']} for {rel} but received "
                                                     f"{digest}", rel, p)

    # 6. nothing unlisted
    names = {rel for rel, _ in listed} | {MANIFEST, SIGNATURE}
    for p in sorted(pkg.rglob("*")):
        if p.is_dir():
            continue
        rel = p.relative_to(pkg).as_posix()
        if rel not in names:
            raise PackageError("E_PACKAGE_UNLISTED_FILE", f"Expected only the files listed in {MANIFEST} in {pkg} "
                                                          f"but found {rel}", rel, p)
    return {"manifest": manifest, "key_id": kid, "signed": kid is not None}
