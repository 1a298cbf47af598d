"""python -m sonoedge_train <command>"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .errors import SonoedgeError

# sim.simulator.DIFFICULTY's names, written out so that the CLI starts without importing the simulator (a test keeps
# the two the same)
DIFFICULTIES = ("train", "hard", "wide", "wide_hard", "wide_anat", "wide_anat_hard", "wide_rv", "wide_rv_hard",
                "wide_mitral", "wide_mitral_hard", "wide_valve", "wide_valve_hard", "wide_valve_t", "wide_valve_t_hard",
                "wide_apex", "wide_apex_hard", "wide_pap", "wide_pap_hard", "wide_nopersist", "wide_nopersist_hard",
                "wide_iv", "wide_iv_hard", "wide_nopersist_iv", "wide_nopersist_iv_hard")


def _threads(n):
    import os
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    try:
        import torch
        torch.set_num_threads(n)
    except ImportError:
        pass


def cmd_simulate(a):
    from .data.synthetic import write_dataset
    views = a.views.split(",") if a.views else None
    p = write_dataset(a.out, a.cines, a.seed, a.frames, (a.size, a.size), a.difficulty, views, progress=not a.quiet,
                      workers=a.workers, max_minutes=a.max_minutes,
                      cines_per_shard=a.shard_cines, strength=a.strength, turn=a.turn)
    print(f"wrote {p}")
    if a.dicom:
        from .sim.dicom import write_cine_dicom
        from .sim.simulator import sample_cine_params, simulate_cine
        prm = sample_cine_params(a.seed, "A4C", a.dicom_frames, a.difficulty)
        c = simulate_cine(prm)
        meta = {"view": prm.view, "ed": c.ed, "es": c.es, "ef": round(c.ef, 4), "seed": prm.seed}
        d = write_cine_dicom(a.dicom, c.sector, c.spacing_mm, seed=a.seed, meta=meta)
        print(f"wrote {d}")
    return 0


def cmd_bench_sim(a):
    from .sim.simulator import ImagingConfig, sample_cine_params, simulate_cine
    _threads(a.threads)
    cfg = ImagingConfig(image_size=a.size)
    views = ["A4C", "A2C", "PLAX", "PSAX", "OTHER"]
    simulate_cine(sample_cine_params(0, "A4C", 2), cfg)  # warm caches
    n = 0
    t = time.perf_counter()
    for i in range(a.cines):
        c = simulate_cine(sample_cine_params(1000 + i, views[i % 5], a.frames), cfg, with_masks=True)
        n += len(c.sector)
    dt = time.perf_counter() - t
    res = {"frames": n, "seconds": round(dt, 3), "fps": round(n / dt, 1), "image_size": a.size,
           "polar": [cfg.n_samples, cfg.n_lines], "with_masks": True, "threads": a.threads}
    print(json.dumps(res))
    return 0


def cmd_train(a):
    from .config import resolve
    from .train import train
    cfg = resolve(a.config, a.set + ([f"train.init_from={a.init_from}"] if a.init_from else []))
    _threads(cfg["train"]["threads"])
    train(cfg, resume=not a.no_resume)
    return 0


def cmd_evaluate(a):
    from .evaluate import evaluate
    _threads(a.threads)
    res = evaluate(a.data, a.out, seg_ckpt=a.seg, view_ckpt=a.view, n_boot=a.boot, device=a.device)
    print(json.dumps(res["summary"], indent=1))
    return 0


def cmd_dicom(a):
    from .sim.dicom import write_cine_dicom
    from .sim.simulator import sample_cine_params, simulate_cine
    prm = sample_cine_params(a.seed, a.view, a.frames, a.difficulty)
    c = simulate_cine(prm)
    meta = {"view": prm.view, "ed": c.ed, "es": c.es, "ef": round(c.ef, 4), "seed": prm.seed}
    print(f"wrote {write_cine_dicom(a.out, c.sector, c.spacing_mm, seed=a.seed, meta=meta)}")
    return 0


def cmd_make_fixtures(a):
    from .fixtures import make_fixtures
    cases = make_fixtures(a.out)
    print(f"wrote {len(cases)} cases to {a.out}")
    return 0


def cmd_keygen(a):
    from .package import keygen
    kid = keygen(a.private_out, a.trust_dir, a.label)
    print(json.dumps({"key_id": kid, "private_key": a.private_out, "public_key": f"{a.trust_dir}/{a.label}-{kid}.pub"}))
    return 0


def cmd_sign(a):
    from .package import load_private_key, sign_package
    kid = sign_package(a.package, load_private_key(a.key))
    print(json.dumps({"package": a.package, "key_id": kid}))
    return 0


def cmd_card(a):
    from . import package as pk
    for p in a.package:
        manifest = json.loads((Path(p) / pk.MANIFEST).read_text(encoding="utf-8"))
        written = pk.resign_manifest(p, manifest, a.key)
        print(json.dumps({"package": p, "readme": written["files"].get("README.md")}))
    return 0


def cmd_verify(a):
    from .errors import PackageError
    from .package import verify_package
    try:
        r = verify_package(a.package, a.trust, allow_unsigned=a.allow_unsigned)
    except PackageError as e:
        print(json.dumps({"package": a.package, "valid": False, "code": e.code, "where": e.where,
                          "message": e.message}))
        return 1
    m = r["manifest"]
    print(json.dumps({"package": a.package, "valid": True, "name": m["name"], "version": m["version"],
                      "signed": r["signed"], "key_id": r["key_id"], "variants": sorted(m["variants"])}))
    return 0


def cmd_export(a):
    from .export import export_checkpoint
    _threads(1)
    info = export_checkpoint(a.checkpoint, a.out, opset=a.opset, simplify=not a.no_simplify,
                             dynamic_batch=a.dynamic_batch, parity_frames=a.parity_frames, atol=a.atol)
    print(json.dumps(info))
    return 0


def cmd_unpack(a):
    from .unpack import write_run
    _threads(1)
    res = write_run(a.package, a.out, trust=a.trust)
    print(json.dumps(res))
    return 0


def cmd_compress(a):
    from .compress import (check_budget, convert_fp16, cpu_latency_ms, ort_metrics, quantize_int8, variant_table)
    from .data.synthetic import SimDataset
    from .errors import BudgetError
    from .export import simulated_frames
    import numpy as np
    from pathlib import Path
    _threads(1)
    task = a.task
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    calib_ds = SimDataset(a.calib_data)
    calib = calib_ds.frames[np.linspace(0, len(calib_ds) - 1, min(a.calib_frames, len(calib_ds))).astype(int)]
    files = {"fp32": Path(a.fp32)}
    desc = {}
    if "int8" in a.variants:
        select = None if a.no_guard else np.concatenate([simulated_frames(256, 11, difficulty="hard"),
                                                         simulated_frames(64, 12)])
        files["int8"] = out / "model.int8.onnx"
        desc["int8"] = quantize_int8(a.fp32, files["int8"], calib, a.calibration, task=task, select_frames_u8=select,
                                     min_fidelity=a.min_fidelity)
    if "fp16" in a.variants:
        files["fp16"] = out / "model.fp16.onnx"
        desc["fp16"] = convert_fp16(a.fp32, files["fp16"])
    test = SimDataset(a.test_data)
    rows, base, refused = [], None, []
    for v, f in files.items():
        m = ort_metrics(task, f, test.frames, test.masks, test.view, test.quality)
        row = {"package": task, "variant": v, "file": f.name, "bytes": f.stat().st_size, "metrics": m,
               "latency_ms_cpu": cpu_latency_ms(f), "drop": None, "verdict": "kept"}
        if v == "fp32":
            base = m
        else:
            try:
                row["drop"] = check_budget(task, v, base, m, a.budget)["drop"]
            except BudgetError as e:
                row.update(drop=e.numbers["drop"], verdict=f"refused ({e.code})")
                refused.append(e)
        rows.append(row)
    print(variant_table(rows))
    print(json.dumps({"compression": desc}, default=str))
    for e in refused:
        print(f"error: {e}", file=sys.stderr)
    return 2 if refused else 0


def cmd_build_bundled(a):
    from .bundle import build_bundled, requantize_bundled
    _threads(1)
    if a.requantize:
        r = requantize_bundled(a.out, a.key, a.budget, a.calibration, a.only or "", test_dir=a.test_dir or None,
                               val_dir=a.val_dir or None)
        print(r["table"])
        print("wrote " + ", ".join(f"{a.out}/{p}" for p in dict.fromkeys(row["package"] for row in r["rows"])))
        return 0
    r = build_bundled(a.out, a.seg_checkpoint or None, a.view_checkpoint or None, a.data_root, a.key, a.budget,
                      a.calibration, a.train_minutes, a.fp16, a.prune_view, a.prune_steps, a.only or "",
                      test_dir=a.test_dir or None, val_dir=a.val_dir or None, sample=not a.keep_sample)
    print(r["table"])
    wrote = [f"{a.out}/{a.only}"] if a.only else [f"{a.out}/view_quality", f"{a.out}/lv_segmentation", r["sample"]]
    print("wrote " + ", ".join(wrote))
    return 0


def cmd_render(a):
    from .domain import render_dataset
    print(f"wrote {render_dataset(a.src, a.out, a.size)}")
    return 0


def _trim(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 0.5] but received {text!r}") from None
    if not 0 <= v <= 0.5:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 0.5] but received {text!r}")
    return v


def cmd_calibrate(a):
    from .calibrate import calibrate_seg, calibrate_view
    _threads(a.threads)
    if a.view:
        r = calibrate_view(a.view, a.train, a.val_raw, a.view_out)
        print(json.dumps({k: r[k] for k in ("temperature", "ece_before", "ece_after", "thresholds", "auroc",
                                            "unknown_rate")}, indent=1))
    if a.seg:
        print(json.dumps(calibrate_seg(a.seg, a.val, a.seg_out, trim=a.trim), indent=1))
    return 0


def cmd_transfer(a):
    from .transfer import transfer_report
    _threads(a.threads)
    r = transfer_report(a.out, a.models, test=a.test, legacy_test=a.legacy_test or None, val=a.val,
                        phantom=a.phantom or None, variant=a.variant, turned=a.turned or None,
                        measured_walls=a.measured_walls)
    print((Path(a.out) / "transfer.md").read_text(), end="")
    return 0 if r else 1


def cmd_import_real(a):
    from .import_real import import_real
    import_real(a.out, echonet=a.echonet, camus=a.camus, split=a.split, size=a.size)
    return 0


def cmd_evaluate_real(a):
    from .evaluate_real import evaluate_real
    _threads(a.threads)
    res = evaluate_real(a.out, echonet=a.echonet, camus=a.camus, split=a.split, packages=a.packages,
                        variant=a.variant, trust=a.trust or None, n_boot=a.boot)
    print((Path(a.out) / "report.md").read_text(), end="")
    print(f"wrote {Path(a.out) / 'metrics.json'}, {Path(a.out) / 'report.md'}, {Path(a.out) / 'frames.csv'} "
          f"({res['frames']} frames)")
    return 0


def _real_source(p, split_help):
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--echonet", default=None, help="EchoNet-Dynamic folder (FileList.csv, VolumeTracings.csv, Videos/)")
    g.add_argument("--camus", default=None, help="CAMUS folder (the release's root, training/ or database_nifti/)")
    p.add_argument("--split", default=None, type=str.upper, choices=["TRAIN", "VAL", "TEST"], help=split_help)


def _turn_range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI degrees (e.g. 60,300) but received {text!r}") from None
    if not 0 < lo <= hi < 360:
        raise argparse.ArgumentTypeError(f"expected 0 < LO <= HI < 360 degrees but received {text!r}")
    return lo, hi


def build_parser():
    ap = argparse.ArgumentParser(prog="python -m sonoedge_train")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("simulate", help="write a simulated dataset (npz shards + index.json)")
    s.add_argument("--out", required=True)
    s.add_argument("--cines", type=int, default=100)
    s.add_argument("--frames", type=int, default=16)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--size", type=int, default=112)
    s.add_argument("--difficulty", choices=DIFFICULTIES, default="train")
    s.add_argument("--strength", type=float, default=None,
                   help="wide difficulties: randomisation strength (0 = the legacy look, 1 = the default ranges; "
                        "the varied anatomy of wide_anat* keeps its own strength, 1)")
    s.add_argument("--views", default="", help="comma-separated subset of A4C,A2C,PLAX,PSAX,OTHER")
    s.add_argument("--turn", type=_turn_range, default=None, metavar="LO,HI",
                   help="every heart turned inside the scene by LO..HI degrees (a probe held the wrong way) and "
                        "labelled OTHER: negatives for the view model")
    s.add_argument("--dicom", default="", help="also write one A4C cine as DICOM to this path")
    s.add_argument("--dicom-frames", type=int, default=32)
    s.add_argument("--quiet", action="store_true")
    s.add_argument("--workers", type=int, default=1,
                   help="processes to shard the cines over (one job per shard); same result for any N")
    s.add_argument("--shard-cines", type=int, default=64, help="cines per shard file (and per worker job)")
    s.add_argument("--max-minutes", type=float, default=0.0,
                   help="wall-clock budget; when it runs out the finished shards are kept (0 = no limit)")
    s.set_defaults(fn=cmd_simulate)
    b = sub.add_parser("bench-sim", help="simulator throughput, 256x256 sector frames with labels")
    b.add_argument("--cines", type=int, default=20)
    b.add_argument("--frames", type=int, default=16)
    b.add_argument("--size", type=int, default=256)
    b.add_argument("--threads", type=int, default=1)
    b.set_defaults(fn=cmd_bench_sim)
    t = sub.add_parser("train", help="train a model from config overrides")
    t.add_argument("--config", action="append", default=[], help="JSON/YAML override file (repeatable)")
    t.add_argument("--set", action="append", default=[], help="key.path=value override (repeatable)")
    t.add_argument("--no-resume", action="store_true", help="start fresh even if out_dir holds last.pt")
    t.add_argument("--init-from", default="", metavar="CKPT",
                   help="start from this checkpoint's weights (same as --set train.init_from=CKPT)")
    t.set_defaults(fn=cmd_train)
    e = sub.add_parser("evaluate", help="clinical metrics + markdown report with plots")
    e.add_argument("--data", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--seg", default="")
    e.add_argument("--view", default="")
    e.add_argument("--boot", type=int, default=1000)
    e.add_argument("--threads", type=int, default=1)
    e.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (cuda when available)")
    e.set_defaults(fn=cmd_evaluate)
    d = sub.add_parser("dicom", help="write one simulated cine as Ultrasound Multi-frame DICOM")
    d.add_argument("--out", required=True)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--view", default="A4C")
    d.add_argument("--frames", type=int, default=32)
    d.add_argument("--difficulty", choices=DIFFICULTIES, default="train")
    d.set_defaults(fn=cmd_dicom)
    f = sub.add_parser("make-fixtures", help="write the model package verdict fixtures (deterministic)")
    f.add_argument("--out", default="test/fixtures/model-packages")
    f.set_defaults(fn=cmd_make_fixtures)
    k = sub.add_parser("keygen", help="new ed25519 signing key pair (private PEM + trust store .pub)")
    k.add_argument("--private-out", required=True, help="where the PEM private key goes (never overwritten)")
    k.add_argument("--trust-dir", required=True, help="trust store folder for <label>-<key_id>.pub")
    k.add_argument("--label", default="signing", help="file name prefix of the public key")
    k.set_defaults(fn=cmd_keygen)
    g = sub.add_parser("sign", help="write PACKAGE/manifest.sig over PACKAGE/manifest.json")
    g.add_argument("package")
    g.add_argument("--key", required=True, help="PEM ed25519 private key")
    g.set_defaults(fn=cmd_sign)
    cd = sub.add_parser("card", help="rewrite each PACKAGE/README.md's thresholds section from its manifest, sign "
                                     "the manifest again and verify it against ../trust (sonoedge_train/card.py)")
    cd.add_argument("package", nargs="+")
    cd.add_argument("--key", required=True, help="PEM ed25519 private key")
    cd.set_defaults(fn=cmd_card)
    v = sub.add_parser("verify", help="verify a package against a trust store; JSON verdict, exit 1 when invalid")
    v.add_argument("package")
    v.add_argument("--trust", default="models/trust", help="trust store folder (*.pub)")
    v.add_argument("--allow-unsigned", action="store_true", help="accept a package without manifest.sig")
    v.set_defaults(fn=cmd_verify)
    x = sub.add_parser("export", help="checkpoint -> ONNX (opset 17, static shapes, checker, onnxslim, parity)")
    x.add_argument("checkpoint")
    x.add_argument("--out", required=True)
    x.add_argument("--opset", type=int, default=17)
    x.add_argument("--no-simplify", action="store_true")
    x.add_argument("--dynamic-batch", action="store_true", help="batch dimension named 'batch' instead of 1")
    x.add_argument("--parity-frames", type=int, default=16, help="simulated frames for the ORT vs PyTorch check")
    x.add_argument("--atol", type=float, default=1e-4, help="largest allowed max abs difference")
    x.set_defaults(fn=cmd_export)
    u = sub.add_parser("unpack", help="a model package's fp32 weights back into a training checkpoint: OUT/final.pt "
                                      "and OUT/config.json, to fine-tune the bundled models (--init-from)")
    u.add_argument("package")
    u.add_argument("--out", required=True, help="run folder to write (must not hold a final.pt)")
    u.add_argument("--trust", default=None, help="trust store folder (default: the trust folder beside the package)")
    u.set_defaults(fn=cmd_unpack)
    c = sub.add_parser("compress", help="int8 / fp16 variants of an fp32 ONNX with size, accuracy, latency, budget")
    c.add_argument("fp32")
    c.add_argument("--task", required=True, choices=["lv_segmentation", "view_quality"])
    c.add_argument("--out-dir", required=True)
    c.add_argument("--variants", default="int8,fp16")
    c.add_argument("--calibration", choices=["minmax", "entropy", "percentile"], default="minmax")
    c.add_argument("--calib-data", default="training/data_cache/val")
    c.add_argument("--calib-frames", type=int, default=64)
    c.add_argument("--test-data", default="training/data_cache/test")
    c.add_argument("--budget", type=float, default=None, help="largest allowed drop of the primary metric (0.01)")
    c.add_argument("--min-fidelity", type=float, default=None,
                   help="int8 guard: agreement with fp32 to reach (default 0.98 segmentation, 0.995 view)")
    c.add_argument("--no-guard", action="store_true", help="quantize every layer (no float fallback)")
    c.set_defaults(fn=cmd_compress)
    bb = sub.add_parser("build-bundled", help="build the signed bundled packages in models/ and the demo DICOM")
    bb.add_argument("--out", default="models")
    bb.add_argument("--seg-checkpoint", default="", help="use this LV segmentation checkpoint instead of training")
    bb.add_argument("--view-checkpoint", default="", help="use this view/quality checkpoint instead of training")
    bb.add_argument("--data-root", default="training/data_cache", help="val/test (and train) sets; simulated if absent")
    bb.add_argument("--key", default="training/keys/DEVELOPMENT-ONLY-signing-key.pem")
    bb.add_argument("--budget", type=float, default=None)
    bb.add_argument("--calibration", choices=["minmax", "entropy", "percentile"], default="minmax")
    bb.add_argument("--train-minutes", type=float, default=0.0,
                    help="wall-clock budget per model when training (0 = the configured epochs)")
    bb.add_argument("--fp16", action="store_true", help="also ship an fp16 variant")
    bb.add_argument("--prune-view", type=float, default=0.0,
                    help="also build fp32_pruned for the view model: this fraction of channels removed (0 = off)")
    bb.add_argument("--prune-steps", type=int, default=1500, help="fine-tuning steps after pruning")
    bb.add_argument("--only", choices=["view_quality", "lv_segmentation"], default=None,
                    help="rebuild just this package (the other one and the sample DICOM stay as they are)")
    bb.add_argument("--test-dir", default="", help="rendered test set (render) instead of DATA_ROOT/test")
    bb.add_argument("--val-dir", default="", help="rendered validation set (render) instead of DATA_ROOT/val")
    bb.add_argument("--keep-sample", action="store_true", help="leave models/samples/ as it is")
    bb.add_argument("--requantize", action="store_true",
                    help="only quantize the int8 variants again from the packages' own fp32 files (no checkpoint, "
                         "no training), measure every variant again and re-sign; the test and calibration sets "
                         "are the ones each manifest names unless --test-dir / --val-dir are given")
    bb.set_defaults(fn=cmd_build_bundled)
    rd = sub.add_parser("render", help="a wide dataset (sonoedge-sim/2) framed by its sector boxes at the model "
                                       "size, quality labels recomputed (sonoedge-sim/1), for evaluation")
    rd.add_argument("src")
    rd.add_argument("--out", required=True)
    rd.add_argument("--size", type=int, default=112)
    rd.set_defaults(fn=cmd_render)
    cb = sub.add_parser("calibrate", help="fit the view temperature and in-distribution score, and the EF "
                                          "calibration, on held-out data (writes calibrated checkpoints)")
    cb.add_argument("--view", default="", help="view/quality checkpoint to calibrate")
    cb.add_argument("--view-out", default="training/runs/wide/view_calibrated.pt")
    cb.add_argument("--train", default="training/data_cache/wide_train", help="wide training set (features)")
    cb.add_argument("--val-raw", default="training/data_cache/wide_val_raw", help="wide validation set")
    cb.add_argument("--seg", default="", help="LV segmentation checkpoint to calibrate")
    cb.add_argument("--seg-out", default="training/runs/wide/lvseg_calibrated.pt")
    cb.add_argument("--val", default="training/data_cache/wide_val",
                    help="rendered validation set (EF); several joined by commas are fitted as one")
    cb.add_argument("--trim", type=_trim, default=0.0,
                    help="EF rule: ED and ES as the means of this share (0 < trim <= 0.5) of the window's largest and "
                         "smallest volumes (calibration.ef.trim); 0 = the largest and the smallest")
    cb.add_argument("--threads", type=int, default=2)
    cb.set_defaults(fn=cmd_calibrate)
    tr = sub.add_parser("transfer", help="the packaged models in- and out of distribution: test sets, the "
                                         "independent generator, negatives, real DICOM smoke checks")
    tr.add_argument("--out", required=True)
    tr.add_argument("--models", default="models")
    tr.add_argument("--variant", default="fp32")
    tr.add_argument("--test", default="training/data_cache/wide_test")
    tr.add_argument("--legacy-test", default="training/data_cache/test")
    tr.add_argument("--val", default="training/data_cache/wide_val")
    tr.add_argument("--phantom", default="training/data_cache/phantom")
    tr.add_argument("--turned", default="training/data_cache/wide_turned_test",
                    help="a `simulate --turn` set: a negative family of hearts turned inside the scene (skipped "
                         "when missing)")
    tr.add_argument("--threads", type=int, default=2)
    tr.add_argument("--measured-walls", action="store_true",
                    help="a view/quality model trained with loss.quality_target geometric: quality is its output "
                         "times the walls measured on the frame around the LV package's labels")
    tr.set_defaults(fn=cmd_transfer)
    ir = sub.add_parser("import-real", help="EchoNet-Dynamic / CAMUS annotated frames -> training dataset "
                                            "(sonoedge-real/1)")
    _real_source(ir, "EchoNet-Dynamic split to import (default: every listed video)")
    ir.add_argument("--out", required=True)
    ir.add_argument("--size", type=int, default=112, help="frame size (square) of the dataset")
    ir.set_defaults(fn=cmd_import_real)
    er = sub.add_parser("evaluate-real", help="the bundled ONNX packages on EchoNet-Dynamic or CAMUS: view, quality, "
                                              "LV Dice, EF")
    _real_source(er, "EchoNet-Dynamic split to evaluate (default: every listed video)")
    er.add_argument("--packages", default="models", help="folder with view_quality/ and lv_segmentation/")
    er.add_argument("--variant", default="fp32", help="package variant to run (fp32, int8, ...)")
    er.add_argument("--trust", default="", help="trust store folder (default: PACKAGES/trust)")
    er.add_argument("--out", required=True)
    er.add_argument("--boot", type=int, default=1000, help="bootstrap resamples for the CIs")
    er.add_argument("--threads", type=int, default=1)
    er.set_defaults(fn=cmd_evaluate_real)
    return ap


def main(argv=None):
    a = build_parser().parse_args(argv)
    try:
        return a.fn(a)
    except SonoedgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
