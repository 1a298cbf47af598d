"""One process of `npm run bench:engine`: python onnxruntime on the same model,
input and thread settings as bench/engine-case.mjs. Prints one JSON line and
writes the first output to <out_dir>/python.<model>.bin.
    python bench/ort_python.py MODEL THREADS ITERATIONS OUT_DIR [PROVIDER]
PROVIDER: cpu (default), cuda or tensorrt (scripts/gpu-bench.mjs); the line names
the providers the session ended up with, first the one that runs the graph.
THREADS 0: ONNX Runtime's default.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort


PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def noise(n: int, seed: int) -> np.ndarray:
    """The same deterministic input as bench/engine-case.mjs."""
    out = np.empty(n, np.float64)
    s = seed & 0xFFFFFFFF
    for i in range(n):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = s / 2**31 - 1
    return out.astype(np.float32)


def main() -> None:
    model, threads, iterations, out_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    provider = sys.argv[5] if len(sys.argv) > 5 else "cpu"
    if provider not in PROVIDERS:
        sys.exit(f"ort_python.py: provider must be one of {', '.join(PROVIDERS)} but received {provider!r}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # ONNX Runtime's default for this build (pool threads spin before they sleep), set explicitly
    # so that the benchmark's table states it for certain.
    so.add_session_config_entry("session.intra_op.allow_spinning", "1")
    so.add_session_config_entry("session.inter_op.allow_spinning", "1")
    sess = ort.InferenceSession(model, sess_options=so, providers=PROVIDERS[provider])
    inp = sess.get_inputs()[0]
    dims = [d if isinstance(d, int) else 1 for d in inp.shape]
    x = noise(int(np.prod(dims)), 7).reshape(dims)
    out_name = sess.get_outputs()[0].name
    # Preallocated output through IOBinding: python's fastest path, no copy out.
    out = np.zeros([d if isinstance(d, int) else 1 for d in sess.get_outputs()[0].shape], np.float32)
    binding = sess.io_binding()
    binding.bind_cpu_input(inp.name, x)
    binding.bind_output(out_name, "cpu", 0, np.float32, list(out.shape), out.ctypes.data)
    for _ in range(10):
        sess.run_with_iobinding(binding)
    times = []
    for _ in range(5 * iterations):
        t0 = time.perf_counter_ns()
        sess.run_with_iobinding(binding)
        times.append((time.perf_counter_ns() - t0) / 1e6)
    name = Path(model).stem
    (out_dir / f"python.{name}.bin").write_bytes(out.tobytes())
    times.sort()
    print(json.dumps({"model": name, "threads": threads, "onnxruntime": ort.__version__,
                      "median": times[len(times) // 2], "p99": times[min(len(times) - 1, int(len(times) * 0.99))],
                      "n": len(times), "providers": sess.get_providers()}))


if __name__ == "__main__":
    main()
