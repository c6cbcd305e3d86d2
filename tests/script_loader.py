"""Load a script of ``benchmarks/`` or ``scripts/`` as a module (they are not a package)."""

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Union

ROOT = Path(__file__).resolve().parent.parent


def load_script(relative: Union[str, Path]) -> ModuleType:
    """The module of ``ROOT/relative`` (e.g. ``benchmarks/ensemble.py``; an absolute path as is), executed afresh."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
