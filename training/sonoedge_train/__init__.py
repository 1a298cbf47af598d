"""sonoedge_train: the sonoedge training harness (simulator, readers, models, training, evaluation)."""
import os

# ONNX Runtime 1.29 and later send telemetry on Linux (a device id and an event cache under
# ~/.cache/Microsoft/DeveloperTools/.onnxruntime, uploaded when a network answers); the harness runs it with that
# off, as the runtime does (native/engine/engine.cc), unless the environment already says (ORT_DISABLE_TELEMETRY=0).
# It is read when the library starts: every onnxruntime import in the harness comes after this package's.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
