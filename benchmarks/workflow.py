"""Benchmark: wall time of every step of the `smoke` workflow (scripts/smoke.sh), side by side.

Each run copies the project (project.yml, configs/, scripts/, the package sources) into a fresh
folder, runs ``bash scripts/smoke.sh`` there with the assets from BIONER_DATA_MIRROR, and times
each step from the moment `spacy project run` prints its header to the next header. The runs of
one call share the machine in turn, never at once:

- ``jobs=N`` for each N of ``--jobs`` (default 2,1): the steps that run commands side by side
  (`recorrect`, `teachers`) with N processes; ``jobs=1`` is the one-after-the-other baseline.

    BIONER_DATA_MIRROR=/path/to/data python benchmarks/workflow.py [--jobs 2,1] [--keep DIR]

The table gives seconds per step and the whole workflow; #6's target for the smoke workflow is
under 5 minutes on 2 cores. Extra arguments after ``--`` go to scripts/smoke.sh.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("project.yml", "configs", "scripts", "setup.cfg", "pyproject.toml", "README.md", "spacy_bioner")
HEADER = re.compile(r"^(?:\x1b\[1m)?\s*=+ (\S+) =+")


def copy_project(dest: Path) -> None:
    """The files `spacy project run smoke` needs (the workflow tests copy the project with this too;
    the package step builds the spacy_bioner wheel from the copy)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copyfile(src, dest / name)


def step_times(lines: List[Tuple[float, str]], end: float) -> Dict[str, float]:
    """Seconds per step from ``(time, line)`` pairs: each header to the next one (or ``end``)."""
    starts = [(t, m.group(1)) for t, line in lines if (m := HEADER.match(line.replace("\x1b[0m", "")))]
    times: Dict[str, float] = {}
    for (t, name), (t_next, _) in zip(starts, starts[1:] + [(end, "")]):
        times[name] = times.get(name, 0.0) + t_next - t
    return times


def smoke_env(data_dir: Optional[Path] = None, workflow: str = "smoke") -> Dict[str, str]:
    """Environment for scripts/smoke.sh: this interpreter's bin/ first on PATH, ``workflow`` as
    SMOKE_WORKFLOW (never one inherited from the shell) and, when given, ``data_dir`` as the mirror."""
    env = {**os.environ, "SMOKE_WORKFLOW": workflow,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if data_dir is not None:
        env["BIONER_DATA_MIRROR"] = str(data_dir.resolve())
    return env


def run_smoke(project: Path, extra: List[str], log_path: Path) -> Tuple[Dict[str, float], float]:
    env = smoke_env()
    lines: List[Tuple[float, str]] = []
    start = time.perf_counter()
    with subprocess.Popen(["bash", "scripts/smoke.sh", *extra], cwd=project, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc, \
            log_path.open("w", encoding="utf8") as log:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.perf_counter() - start, line))
            log.write(line)
    total = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"smoke workflow failed ({proc.returncode}); log: {log_path}\n"
                         + "".join(line for _, line in lines[-40:]))
    return step_times(lines, total), total


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="2,1", help="comma-separated values of the jobs var, one run each")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (default: a temporary one)")
    parser.add_argument("extra", nargs="*", help="arguments for scripts/smoke.sh (after --)")
    args = parser.parse_args(argv)
    if not os.environ.get("BIONER_DATA_MIRROR"):
        parser.error("set BIONER_DATA_MIRROR to the data mirror: the benchmark never downloads")
    jobs = [int(j) for j in args.jobs.split(",")]
    work = args.keep or Path(tempfile.mkdtemp(prefix="bioner-workflow-"))
    results = []
    for n in jobs:
        project = work / f"jobs{n}"
        if project.exists():
            shutil.rmtree(project)
        copy_project(project)
        times, total = run_smoke(project, ["--vars.jobs", str(n), *args.extra], work / f"jobs{n}.log")
        results.append((f"jobs={n}", times, total))
        print(f"jobs={n}: {total:.1f} s", file=sys.stderr)
    steps: List[str] = []
    for _, times, _ in results:
        steps += [s for s in times if s not in steps]
    print("| step | " + " | ".join(f"{name} s" for name, _, _ in results) + " |")
    print("|---|" + "---:|" * len(results))
    for step in steps:
        print(f"| {step} | " + " | ".join(f"{times.get(step, 0.0):.1f}" for _, times, _ in results) + " |")
    print("| **whole workflow** | " + " | ".join(f"**{total:.1f}**" for _, _, total in results) + " |")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
