"""Benchmark: start-up cost of a plain install (no ``trf`` extra): ``spacy.load`` beside ``spacy.blank``.

In one run, in fresh subprocesses of a virtual environment that has spacy_bioner WITHOUT its
``trf`` extra (no spacy-transformers, no transformers), alternating, ``--repeat`` times each:

- baseline: ``import spacy; spacy.blank("en")``, the floor of any spaCy pipeline in that environment;
- the model: ``import spacy; spacy.load(MODEL)``.

Each row gives the wall time from starting the interpreter to the end of the call (median, min, max)
and the process's peak resident memory at that point (``ru_maxrss``), then one short text is tagged
to show that the pipeline works. The model row is checked against the targets (<= 3 s, <= 450 MB).

MODEL is an ``en_bioner_cd-*.whl`` (installed into the environment, loaded by its package name),
a pipeline folder, or the name of a package already installed there. The environment is built
(``python -m venv``; pip install of the project's wheel, built from this checkout unless
``--wheel`` names one, with constraints.txt pinning torch as scripts/setup.sh does) in a
temporary folder, or in ``--venv DIR`` (kept, and reused by a later run). ``--python`` measures
an existing interpreter as it is, installing nothing.

    python benchmarks/load.py /work/fresh/packages/en_bioner_cd-0.1.0/dist/en_bioner_cd-0.1.0-py3-none-any.whl --venv /tmp/bioner-plain
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
TEXT = "Cisplatin-induced nephrotoxicity was reduced by N-acetylcysteine."
WATCHED = ("spacy_transformers", "transformers", "torch._dynamo", "sklearn")
MAX_SECONDS = 3.0
MAX_RSS_MB = 450.0

# Run in a fresh interpreter: prints the wall clock after the call, the peak RSS, and which of the
# heavy modules were imported by then; then tags one text.
CHILD = """
import json, resource, sys, time
import spacy
nlp = {call}
done = time.time()
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
imported = [m for m in {watched!r} if m in sys.modules]
ents = len(nlp({text!r}).ents)
print(json.dumps({{"done": done, "rss_mb": rss_mb, "imported": imported, "ents": ents}}))
"""


def child_code(call: str) -> str:
    """The program one measurement runs: ``call`` is the expression that builds ``nlp``."""
    return CHILD.format(call=call, watched=WATCHED, text=TEXT)


def clean_env() -> Dict[str, str]:
    """This environment without what would make the child import from elsewhere."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


def measure(python: str, code: str, cwd: Path) -> Dict[str, object]:
    """Run ``code`` in a new ``python`` process; its wall time (start to ``done``), peak RSS, imports."""
    start = time.time()
    proc = subprocess.run([python, "-c", code], cwd=cwd, env=clean_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{python}: the measured program failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"seconds": result["done"] - start, "rss_mb": result["rss_mb"], "imported": result["imported"],
            "ents": result["ents"]}


def summarise(name: str, samples: Sequence[Dict[str, object]], targets: bool,
              max_seconds: float = MAX_SECONDS, max_rss_mb: float = MAX_RSS_MB) -> Dict[str, object]:
    """One table row from repeated samples: medians, ranges, and PASS/FAIL when ``targets``."""
    if not samples:
        raise ValueError(f"{name}: no samples")
    seconds = [float(s["seconds"]) for s in samples]
    rss = [float(s["rss_mb"]) for s in samples]
    row: Dict[str, object] = {
        "name": name, "runs": len(samples),
        "seconds": statistics.median(seconds), "seconds_min": min(seconds), "seconds_max": max(seconds),
        "rss_mb": statistics.median(rss), "rss_mb_max": max(rss),
        "imported": sorted({m for s in samples for m in s["imported"]}),  # type: ignore[union-attr]
        "ents": samples[-1]["ents"],
    }
    if targets:
        row["seconds_ok"] = row["seconds"] <= max_seconds
        row["rss_ok"] = row["rss_mb"] <= max_rss_mb
    return row


def format_table(rows: Sequence[Dict[str, object]], max_seconds: float = MAX_SECONDS,
                 max_rss_mb: float = MAX_RSS_MB) -> str:
    """A Markdown table of the rows; a row with targets says PASS or FAIL for each."""

    def verdict(row: Dict[str, object], key: str, limit: str) -> str:
        if key not in row:
            return "baseline"
        return f"{'PASS' if row[key] else 'FAIL'} (<= {limit})"

    lines = [
        "| call | runs | wall s (median) | min-max s | peak RSS MB (median) | max MB | time | memory | imported | ents |",
        "|---|---:|---:|---:|---:|---:|---|---|---|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['runs']} | {r['seconds']:.2f} | {r['seconds_min']:.2f}-{r['seconds_max']:.2f} | "
            f"{r['rss_mb']:.0f} | {r['rss_mb_max']:.0f} | {verdict(r, 'seconds_ok', f'{max_seconds:g} s')} | "
            f"{verdict(r, 'rss_ok', f'{max_rss_mb:g} MB')} | {', '.join(r['imported']) or '-'} | {r['ents']} |"  # type: ignore[arg-type]
        )
    return "\n".join(lines)


def run(cmd: List[str], what: str) -> None:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}")


def build_wheel(out: Path) -> Path:
    """The spacy_bioner wheel of this checkout (``pip wheel --no-deps``)."""
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--wheel-dir", str(out),
         str(ROOT)], "building the spacy_bioner wheel")
    wheels = sorted(out.glob("spacy_bioner-*.whl"))
    if not wheels:
        raise SystemExit(f"{out}: pip wheel wrote no spacy_bioner wheel")
    return wheels[-1]


def plain_venv(venv: Path, wheel: Path, model_wheel: Optional[Path]) -> str:
    """A venv with spacy_bioner (no extras) and the model wheel; reused when ``venv`` has one."""
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt")]
    extra = [str(model_wheel)] if model_wheel else []
    if not python.exists():
        run([sys.executable, "-m", "venv", str(venv)], f"creating {venv}")
        run(pip + [str(wheel)] + extra, f"installing into {venv}")
    else:  # the dependencies are there: put this checkout's code (and the model) in place
        run(pip + ["--no-deps", "--force-reinstall", str(wheel)] + extra, f"updating {venv}")
    return str(python)


def installed(python: str, modules: Sequence[str]) -> Dict[str, bool]:
    """Which of ``modules`` the interpreter could import (found on its path, not imported)."""
    code = ("import importlib.util, json, sys; "
            f"print(json.dumps({{m: importlib.util.find_spec(m) is not None for m in {list(modules)!r}}}))")
    proc = subprocess.run([python, "-c", code], env=clean_env(), cwd=tempfile.gettempdir(), stdout=subprocess.PIPE,
                          text=True, check=True)
    return json.loads(proc.stdout)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="en_bioner_cd wheel, pipeline folder, or installed package name")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--venv", type=Path, help="build (or reuse) the plain environment here; default: a temp folder")
    where.add_argument("--python", help="measure this interpreter as it is (installs nothing)")
    parser.add_argument("--wheel", type=Path, help="the spacy_bioner wheel to install (default: built from this checkout)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each call (alternating)")
    parser.add_argument("--max-seconds", type=float, default=MAX_SECONDS)
    parser.add_argument("--max-rss-mb", type=float, default=MAX_RSS_MB)
    parser.add_argument("--output", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    model = args.model
    model_wheel = Path(model) if model.endswith(".whl") else None
    if model_wheel is not None and not model_wheel.is_file():
        parser.error(f"{model_wheel}: no such wheel")
    if model_wheel is None and ("/" in model or Path(model).exists()) and not (Path(model) / "config.cfg").is_file():
        parser.error(f"{model}: not a pipeline folder (no config.cfg)")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bioner-load-") as tmp:
        work = Path(tmp)
        if args.python:  # absolute (the children run in a temp folder), symlinks kept (a venv's python is one)
            python = os.path.abspath(args.python) if os.sep in args.python else shutil.which(args.python) or args.python
            label = f"{python} (as it is)"
        else:
            wheel = args.wheel or build_wheel(work / "wheel")
            venv = args.venv or work / "venv"
            python, label = plain_venv(venv, wheel, model_wheel), f"{venv} (spacy_bioner {wheel.name}, no extras)"
        name = model_wheel.name.split("-")[0] if model_wheel else (str(Path(model).resolve()) if Path(model).exists() else model)
        found = installed(python, ["spacy_transformers", "transformers"])
        blank, load = child_code('spacy.blank("en")'), child_code(f"spacy.load({name!r})")
        samples: Dict[str, List[Dict[str, object]]] = {"blank": [], "load": []}
        for _ in range(args.repeat):
            samples["blank"].append(measure(python, blank, work))
            samples["load"].append(measure(python, load, work))
    rows = [summarise('spacy.blank("en") (baseline)', samples["blank"], False),
            summarise(f"spacy.load({Path(name).name!r})", samples["load"], True, args.max_seconds, args.max_rss_mb)]
    print(f"environment: {label}")
    print(f"load average (1 min) before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print("trf extra installed: " + ", ".join(f"{m} {'yes' if ok else 'no'}" for m, ok in found.items()))
    print(format_table(rows, args.max_seconds, args.max_rss_mb))
    passed = bool(rows[1]["seconds_ok"] and rows[1]["rss_ok"])
    print(f"targets (spacy.load <= {args.max_seconds:g} s and <= {args.max_rss_mb:g} MB peak RSS): "
          f"{'PASS' if passed else 'FAIL'}")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = args.output.with_name(args.output.name + ".tmp")
        tmp_out.write_text(json.dumps({"environment": label, "installed": found, "rows": rows,
                                       "loadavg": [load_before, os.getloadavg()[0]]}, indent=2) + "\n",
                           encoding="utf-8")
        tmp_out.replace(args.output)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
