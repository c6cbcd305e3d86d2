"""`python -m spacy_bioner parallel`: independent commands side by side, failures named."""

from __future__ import annotations

import io
import shlex
import sys
from pathlib import Path

from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.cli.parallel import run_parallel


def _py(code: str) -> str:
    return f"python -c {shlex.quote(code)}"


def _rendezvous(me: str, other: str, folder: Path) -> str:
    # each process writes its flag and waits for the other's: only finishes when both run at once
    return _py(
        "import os, pathlib, time; "
        f"d = pathlib.Path({str(folder)!r}); (d / {me!r}).write_text('x'); t = time.time()\n"
        f"while not (d / {other!r}).exists():\n"
        "    assert time.time() - t < 20, 'not run side by side'; time.sleep(0.05)\n"
        f"print({me!r}, os.environ['OMP_NUM_THREADS'])"
    )


def test_commands_run_side_by_side_with_tagged_output_and_their_thread_share(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    out = io.StringIO()
    codes = run_parallel([_rendezvous("a", "b", tmp_path), _rendezvous("b", "a", tmp_path)], jobs=2, threads=3, out=out)
    assert codes == {1: 0, 2: 0}
    lines = out.getvalue().splitlines()
    assert "[1] a 3" in lines and "[2] b 3" in lines
    assert lines[0].startswith(f"[1] $ {sys.executable} -c ")


def test_one_job_runs_them_in_order_and_a_set_thread_count_wins(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    log = tmp_path / "log"
    write = "import os, sys; open(sys.argv[1], 'a').write(sys.argv[2] + os.environ['OMP_NUM_THREADS'])"
    out = io.StringIO()
    codes = run_parallel([f"{_py(write)} {log} 1", f"{_py(write)} {log} 2", f"{_py(write)} {log} 3"], jobs=1, threads=2, out=out)
    assert codes == {1: 0, 2: 0, 3: 0} and log.read_text() == "152535"


def test_cli_names_every_failed_command_and_still_runs_the_others(tmp_path: Path) -> None:
    done = tmp_path / "done"
    write = "import sys; open(sys.argv[1], 'w').write('ok')"
    ok = f"{_py(write)} {done}"
    bad = _py("import sys; print('boom'); sys.exit(3)")
    result = CliRunner().invoke(app, ["parallel", bad, ok, "--jobs", "1"])
    assert result.exit_code == 1
    assert "[1] boom" in result.output and "error: [1] exited with 3: python -c" in result.output
    assert "[2] exited" not in result.output and done.read_text() == "ok"


def test_empty_command_is_an_error() -> None:
    result = CliRunner().invoke(app, ["parallel", "python -c pass", "  "])
    assert result.exit_code == 1 and "empty command" in result.output


def test_default_thread_share_is_the_usable_cores_divided_among_the_jobs(monkeypatch) -> None:
    import os

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    show = _py("import os; print(os.environ['OMP_NUM_THREADS'], os.environ['MKL_NUM_THREADS'])")
    out = io.StringIO()
    assert run_parallel([show, show], jobs=2, out=out) == {1: 0, 2: 0}
    share = max(1, cores // 2)
    assert f"[1] {share} {share}" in out.getvalue().splitlines()
