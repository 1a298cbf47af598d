"""Two ONNX files with the same input, timed interleaved in one process (ONNX Runtime's CPU provider, 1 intra-op
thread, one random input in [-1, 1]): the median latency of each and their ratio. For telling whether a retrained
model of the same architecture runs at its predecessor's speed without re-running every benchmark table.

    training/.venv/bin/python training/scripts/onnx_speed_pair.py OLD.onnx NEW.onnx [--runs 400] [--warmup 50]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from sonoedge_train.compress import batch1_input
from sonoedge_train.export import ort_session


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--runs", type=int, default=400)
    ap.add_argument("--warmup", type=int, default=50)
    a = ap.parse_args()
    sessions = [ort_session(f, threads=1) for f in (a.a, a.b)]
    name, shape = batch1_input(sessions[0])
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    times = [[], []]
    for _ in range(a.runs):
        for k, s in enumerate(sessions):
            t = time.perf_counter()
            s.run(None, {name: x})
            times[k].append(time.perf_counter() - t)
    med = [1000 * float(np.median(t[a.warmup:])) for t in times]
    print(f"{a.a}: median {med[0]:.3f} ms; {a.b}: median {med[1]:.3f} ms; ratio {med[1] / med[0]:.3f} "
          f"({a.runs - a.warmup} interleaved runs each, 1 thread)")


if __name__ == "__main__":
    main()
