"""Loads a training/scripts/*.py file as a module for the tests (the scripts are not a package), with the scripts
folder and the harness on sys.path as the scripts put them there themselves."""
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "training" / "scripts"


def load_script(name: str):
    for p in (ROOT / "training", SCRIPTS):
        if str(p) not in sys.path:
            sys.path.insert(0, str(p))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
