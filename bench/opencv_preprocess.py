"""OpenCV worker of bench/preprocess.mjs: the same frames, the pipeline a
Python user writes (cvtColor to RGB for BGR8, RGBA8, BGRA8, YUYV and NV12 (BT.601
limited range, as ours), resize INTER_AREA, astype float32,
normalise, transpose to NCHW). Prints one JSON line like preprocess-case.mjs,
with the largest difference from the native output of the same case.
  python opencv_preprocess.py TOOL WIDTH HEIGHT FORMAT OUTS OUT_DIR [CONTENT [BUDGET_MS]]
CONTENT (random or in-range) names the frame file preprocess-case.mjs wrote;
BUDGET_MS is how long each output size is timed (default 1500)."""
import json
import os
import sys
import time

import cv2
import numpy as np

cv2.setNumThreads(1)
tool, ws, hs, fmt, outs_arg, out_dir = sys.argv[1:7]
content = sys.argv[7] if len(sys.argv) > 7 else "random"
budget_s = float(sys.argv[8]) / 1000.0 if len(sys.argv) > 8 else 1.5
suffix = "" if content == "random" else f"-{content}"
width, height = int(ws), int(hs)
outs = [int(x) for x in outs_arg.split(",")]
bpp = {"GRAY8": 1, "RGB8": 3, "BGR8": 3, "RGBA8": 4, "BGRA8": 4, "YUYV": 2, "NV12": 1}[fmt]
channels = 1 if fmt == "GRAY8" else 3
mean = np.array([0.485, 0.456, 0.406][:channels], dtype=np.float32)
std = np.array([0.229, 0.224, 0.225][:channels], dtype=np.float32)
raw = np.fromfile(os.path.join(out_dir, f"frame-{width}x{height}-{fmt}{suffix}.bin"), dtype=np.uint8)
if fmt == "GRAY8":
    frame = raw.reshape(height, width)
elif fmt == "NV12":
    frame = raw.reshape(height * 3 // 2, width)
else:
    frame = raw.reshape(height, width, bpp)
CONVERT = {"BGR8": cv2.COLOR_BGR2RGB, "RGBA8": cv2.COLOR_RGBA2RGB, "BGRA8": cv2.COLOR_BGRA2RGB,
           "YUYV": cv2.COLOR_YUV2RGB_YUYV, "NV12": cv2.COLOR_YUV2RGB_NV12}


def pipeline(o):
    img = frame
    if fmt in CONVERT:
        img = cv2.cvtColor(img, CONVERT[fmt])
    img = cv2.resize(img, (o, o), interpolation=cv2.INTER_AREA)
    x = img.astype(np.float32) * (1.0 / 255.0)
    x = (x - mean) / std
    if channels == 1:
        return x[np.newaxis, :, :]
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def stats(times):
    s = sorted(times)
    q = lambda p: s[min(len(s) - 1, int(p * (len(s) - 1) + 0.5))]
    return {"median": q(0.5), "p99": q(0.99), "n": len(s)}


results = []
for o in outs:
    for _ in range(3):
        pipeline(o)
    times = []
    start = time.perf_counter()
    while (len(times) < 5 or time.perf_counter() - start < budget_s) and len(times) < 2000:
        t0 = time.perf_counter_ns()
        y = pipeline(o)
        times.append((time.perf_counter_ns() - t0) / 1000.0)
    r = {"out": o, **stats(times)}
    native = os.path.join(out_dir, f"native-{width}x{height}-{fmt}{suffix}-{o}.f32")
    if os.path.exists(native):
        n = np.fromfile(native, dtype=np.float32).reshape(y.shape)
        r["maxDiffVsNative"] = float(np.abs(n - y).max())
    results.append(r)
print(json.dumps({"tool": tool, "width": width, "height": height, "format": fmt, "content": content,
                  "results": results}))
