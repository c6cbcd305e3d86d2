"""CLI command: parallel (run independent workflow steps side by side, one share of the cores each).

On a CPU a BiLSTM-CRF training process gains little from a second thread (a training step on CDR
T: 0.36 s on one thread, 0.28 s on two; ``benchmarks/train_step.py``), so two independent trainings
(the two re-corrections, the two teachers) finish sooner as two one-thread processes than one after
the other on two threads. ``project.yml`` runs them through this command.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Dict, List, Optional, Sequence

import typer

from ._app import app
from ._helpers import fail


def _argv(command: str) -> List[str]:
    """Split a command line; a leading ``python``/``python3`` becomes this interpreter (as spaCy does)."""
    argv = shlex.split(command)
    if not argv:
        raise ValueError("empty command")
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


def _run(index: int, argv: List[str], env: Dict[str, str], out: IO[str], lock: threading.Lock) -> int:
    """Run one command, relaying its output lines tagged ``[index]`` as they come; its exit code."""
    tag = f"[{index}]"
    with lock:
        out.write(f"{tag} $ {shlex.join(argv)}\n")
        out.flush()
    with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            with lock:
                out.write(f"{tag} {line}" if line.endswith("\n") else f"{tag} {line}\n")
                out.flush()
    return proc.returncode


def run_parallel(
    commands: Sequence[str], jobs: int, threads: Optional[int] = None, out: Optional[IO[str]] = None
) -> Dict[int, int]:
    """Run each command line as its own process, at most ``jobs`` at once; return {index: exit code}.

    Each process gets ``threads`` torch/BLAS threads (default: the cores divided among the jobs)
    unless the caller's environment already fixes OMP_NUM_THREADS. Output lines are relayed as they
    come, tagged ``[i]`` with the command's 1-based index. A failing command does not stop the others
    (re-correction and teacher training resume from what they wrote), it shows in its exit code.
    """
    out = sys.stdout if out is None else out
    argvs = [_argv(command) for command in commands]
    jobs = max(1, min(jobs, len(argvs)))
    if threads is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        threads = max(1, cores // jobs)
    env = dict(os.environ)
    if "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=jobs) as pool:  # started in order, as workers come free
        futures = {index: pool.submit(_run, index, argv, env, out, lock) for index, argv in enumerate(argvs, start=1)}
        return {index: future.result() for index, future in futures.items()}


@app.command("parallel")
def parallel_command(
    commands: List[str] = typer.Argument(..., help="Command lines, each one quoted argument."),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="Commands run at once."),
    threads: Optional[int] = typer.Option(
        None, "--threads", min=1, help="torch/BLAS threads per command (default: cores / jobs; OMP_NUM_THREADS wins)."
    ),
) -> None:
    """Run independent commands side by side; fail, naming them, if any of them failed."""
    try:
        codes = run_parallel(commands, jobs, threads)
    except ValueError as err:
        fail(str(err))
    failed = [i for i, code in sorted(codes.items()) if code != 0]
    for i in failed:
        typer.echo(f"error: [{i}] exited with {codes[i]}: {commands[i - 1]}", err=True)
    if failed:
        raise typer.Exit(code=1)
