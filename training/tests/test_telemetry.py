"""The harness runs ONNX Runtime with its telemetry off (sonoedge_train/__init__.py) unless the environment says
otherwise: a real process with a fresh HOME opens a session; nothing is written there. The control with
ORT_DISABLE_TELEMETRY=0 shows the library does write its device id (if a later ONNX Runtime stops, it fails and this
test is revisited)."""
import os
import subprocess
import sys

from sonoedge_train import package as pk

CI_VARIABLES = ("CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL",
                "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER")
CODE = ("import sonoedge_train.export as e, numpy as np; "
        f"s = e.ort_session({str(pk.REPO_ROOT / 'models' / 'view_quality' / 'model.fp32.onnx')!r}); "
        "s.run(None, {'image': np.zeros((1, 1, 112, 112), np.float32)})")


def _run(home, telemetry):
    # ONNX Runtime sends nothing when it sees a CI service (these variables, read from the library): without them,
    # as on a cart, so that the first test means something in CI too
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "ORT_DISABLE_TELEMETRY", *CI_VARIABLES)}
    env["HOME"] = str(home)
    if telemetry is not None:
        env["ORT_DISABLE_TELEMETRY"] = telemetry
    subprocess.run([sys.executable, "-c", CODE], env=env, check=True, capture_output=True, timeout=120)
    return sorted(p.relative_to(home).as_posix() for p in home.rglob("*"))


def test_telemetry_off_by_default(tmp_path):
    assert _run(tmp_path, None) == []


def test_control_telemetry_left_on_when_asked(tmp_path):
    assert ".cache/Microsoft/DeveloperTools/.onnxruntime/deviceid" in _run(tmp_path, "0")
