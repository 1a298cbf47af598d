"""python -m sonoedge_train <command>"""
from __future__ import annotations

import argparse
import json
import sys
import time

from .errors import SonoedgeError


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
                      cines_per_shard=a.shard_cines)
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
    cfg = resolve(a.config, a.set)
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


def build_parser():
    ap = argparse.ArgumentParser(prog="python -m sonoedge_train")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("simulate", help="write a simulated dataset (npz shards + index.json)")
    s.add_argument("--out", required=True)
    s.add_argument("--cines", type=int, default=100)
    s.add_argument("--frames", type=int, default=16)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--size", type=int, default=112)
    s.add_argument("--difficulty", choices=["train", "hard"], default="train")
    s.add_argument("--views", default="", help="comma-separated subset of A4C,A2C,PLAX,PSAX,OTHER")
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
    d.add_argument("--difficulty", choices=["train", "hard"], default="train")
    d.set_defaults(fn=cmd_dicom)
    return ap


def main(argv=None):
    a = build_parser().parse_args(argv)
    try:
        return a.fn(a)
    except SonoedgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
