"""Helpers of the workflow tests: copy the project into a folder and run `scripts/smoke.sh` there."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable, Dict

import pytest

from script_loader import load_script

ROOT = Path(__file__).resolve().parent.parent
_workflow = load_script(ROOT / "benchmarks" / "workflow.py")
# the benchmark that times the same workflow: one list of project files, one environment
copy_project: Callable[[Path], None] = _workflow.copy_project
smoke_env: Callable[..., Dict[str, str]] = _workflow.smoke_env


def run_smoke(project: Path, data_dir: Path, workflow: str = "smoke") -> None:
    """Run ``workflow`` at the tiny scale of smoke.sh in ``project``; fail with the log's end.

    The timeout only guards against a hang: speed is measured by benchmarks/workflow.py, not here.
    """
    log_path = project / f"{workflow}.log"
    with log_path.open("w", encoding="utf8") as log:
        try:
            proc = subprocess.run(["bash", "scripts/smoke.sh"], cwd=project, env=smoke_env(data_dir, workflow),
                                  stdout=log, stderr=subprocess.STDOUT, text=True, timeout=3600)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{workflow} workflow hung for an hour; its log ends:\n{log_path.read_text()[-6000:]}")
    assert proc.returncode == 0, log_path.read_text(encoding="utf8")[-6000:]
