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
import time
from typing import IO, Dict, List, Optional, Sequence

import typer

from ._app import app


def _argv(command: str) -> List[str]:
    """Split a command line; a leading ``python``/``python3`` becomes this interpreter (as spaCy does)."""
    argv = shlex.split(command)
    if not argv:
        raise ValueError("empty command")
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


def _relay(stream: IO[str], tag: str, out: IO[str], lock: threading.Lock) -> None:
    for line in stream:
        with lock:
            out.write(f"{tag} {line}" if line.endswith("\n") else f"{tag} {line}\n")
            out.flush()


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
    codes: Dict[int, int] = {}
    pending = list(enumerate(argvs, start=1))
    running: List[tuple] = []
    while pending or running:
        while pending and len(running) < jobs:
            index, argv = pending.pop(0)
            with lock:
                out.write(f"[{index}] $ {shlex.join(argv)}\n")
                out.flush()
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            relay = threading.Thread(target=_relay, args=(proc.stdout, f"[{index}]", out, lock), daemon=True)
            relay.start()
            running.append((index, proc, relay))
        finished = [job for job in running if job[1].poll() is not None]
        if not finished:
            time.sleep(0.2)
        for index, proc, relay in finished:
            relay.join()
            codes[index] = proc.returncode
            running.remove((index, proc, relay))
    return codes


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
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1)
    failed = [i for i, code in sorted(codes.items()) if code != 0]
    for i in failed:
        typer.echo(f"error: [{i}] exited with {codes[i]}: {commands[i - 1]}", err=True)
    if failed:
        raise typer.Exit(code=1)
