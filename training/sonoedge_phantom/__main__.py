"""python -m sonoedge_phantom generate --out DIR --cines N --seed S [--frames F] [--variants a,b] [--views a,b]"""
from __future__ import annotations

import argparse
import sys

from .errors import PhantomError
from .labels import CARDIAC_VIEWS, VARIANTS


def _size(text: str):
    parts = text.lower().split("x")
    try:
        vals = [int(v) for v in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW or N (pixels) but received {text!r}") from None
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2:
        raise argparse.ArgumentTypeError(f"expected HxW or N (pixels) but received {text!r}")
    return tuple(vals)


def _list(text: str):
    return [v.strip() for v in text.split(",") if v.strip()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sonoedge_phantom",
                                 description="Independent echo phantom: labelled cines for measuring transfer.")
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="write DIR/index.json and one cine_XXXXX.npz per cine")
    g.add_argument("--out", required=True, help="output folder")
    g.add_argument("--cines", type=int, required=True, help="number of cines")
    g.add_argument("--seed", type=int, required=True, help="dataset seed (same seed, same bytes)")
    g.add_argument("--frames", type=int, default=16, help="frames per cine (default 16)")
    g.add_argument("--variants", type=_list, default=list(VARIANTS),
                   help=f"comma-separated, cycled per cine (default all: {','.join(VARIANTS)})")
    g.add_argument("--views", type=_list, default=list(CARDIAC_VIEWS),
                   help=f"comma-separated cardiac views, cycled (default {','.join(CARDIAC_VIEWS)})")
    g.add_argument("--size", type=_size, default=(256, 256), help="frame size HxW or N (default 256)")
    g.add_argument("--workers", type=int, default=1, help="processes (output identical for any number)")
    g.add_argument("--fps", type=float, default=None,
                   help="a fixed frame rate (8..120), so that a long cine holds several beats (default: each cine "
                        "spans 1.05-1.35 beats)")
    g.add_argument("--ef-schedule", default="index", metavar="{index,seeded}",
                   help="index (default): cine i has the same target EF, view and pixel aspect in every set; seeded: "
                        "the schedule starts where the seed says, so sets of other seeds are fresh in those too")
    g.add_argument("--masks-only", action="store_true", help="labels and geometry only, frames left black (fast)")
    g.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    try:
        from .generate import write_phantom
        progress = None if a.quiet else (lambda i, n: print(f"\rcine {i}/{n}", end="", file=sys.stderr, flush=True))
        path, seconds = write_phantom(a.out, a.cines, a.seed, a.frames, a.variants, a.views, a.size,
                                      workers=a.workers, images=not a.masks_only, progress=progress,
                                      fps=a.fps, ef_schedule=a.ef_schedule)
    except PhantomError as e:
        print(f"python -m sonoedge_phantom: {e}", file=sys.stderr)
        return 2
    if not a.quiet:
        n = a.cines * a.frames
        print(f"\rwrote {path} ({a.cines} cines, {n} frames, {seconds:.1f} s, {seconds / n:.3f} s/frame)",
              file=sys.stderr)
    return 0


if __name__ == "__main__":  # guarded: worker processes (spawn) import this module
    raise SystemExit(main())
