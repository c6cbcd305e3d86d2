"""Helpers of the workflow tests: copy the project into a folder and run `scripts/smoke.sh` there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
# the project is the checkout: its package step also builds the spacy_bioner wheel from it
PROJECT_FILES = ("project.yml", "configs", "scripts", "setup.cfg", "pyproject.toml", "README.md", "spacy_bioner")


def copy_project(dest: Path) -> None:
    """Copy project.yml, configs/, scripts/ and the package sources of the checkout into ``dest``."""
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copyfile(src, dest / name)


def smoke_env(data_dir: Optional[Path] = None, workflow: str = "smoke") -> Dict[str, str]:
    """This interpreter's bin/ first on PATH; the mirror (when given) and the workflow for smoke.sh."""
    env = {**os.environ, "SMOKE_WORKFLOW": workflow,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if data_dir is not None:
        env["BIONER_DATA_MIRROR"] = str(data_dir.resolve())
    return env


def run_smoke(project: Path, data_dir: Path, workflow: str = "smoke") -> str:
    """Run ``workflow`` at the tiny scale of smoke.sh in ``project``; fail with the log's end; return the log.

    The timeout only guards against a hang: speed is measured by benchmarks/workflow.py, not here.
    """
    log_path = project / f"{workflow}.log"
    with log_path.open("w", encoding="utf8") as log:
        try:
            proc = subprocess.run(["bash", "scripts/smoke.sh"], cwd=project, env=smoke_env(data_dir, workflow),
                                  stdout=log, stderr=subprocess.STDOUT, text=True, timeout=3600)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{workflow} workflow hung for an hour; its log ends:\n{log_path.read_text()[-6000:]}")
    text = log_path.read_text(encoding="utf8")
    assert proc.returncode == 0, text[-6000:]
    return text
