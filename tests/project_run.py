"""Helpers of the workflow tests: copy the project into a folder and run `scripts/smoke.sh` there."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("workflow_benchmark", ROOT / "benchmarks" / "workflow.py")
_workflow = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_workflow)
# one list of the files a project copy needs, the benchmark's (it times the same workflow)
copy_project: Callable[[Path], None] = _workflow.copy_project


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
