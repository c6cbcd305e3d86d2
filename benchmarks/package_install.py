"""Benchmark: install the packaged pipeline into a brand-new venv and load it with no network.

Rows, each in its own fresh virtual environment, measured in one run:
- en_bioner_cd: `pip install` of the two wheels the project's `package` step writes
  (packages/wheels/spacy_bioner-*.whl and packages/en_bioner_cd-*/dist/*.whl, dependencies from
  the configured package index, torch pinned by constraints.txt), then `spacy.load("en_bioner_cd")`
  and one document, inside `unshare -n` (a network namespace without any network) when available;
- baseline: `pip install spacy` alone (same constraints) and `spacy.blank("en")` + one document: the
  floor that any spaCy pipeline pays.

    python benchmarks/package_install.py --packages packages
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
TEXT = "Cisplatin-induced nephrotoxicity was reduced by N-acetylcysteine."


def timed(cmd: List[str], env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}")
    return seconds


def offline(cmd: List[str]) -> List[str]:
    """``cmd`` inside a network namespace without network, when this machine allows it."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"]).returncode == 0:
        return ["unshare", "-n", *cmd]
    return cmd


def measure(name: str, install: List[str], load_code: str, work: Path) -> Dict[str, object]:
    venv = work / "".join(c if c.isalnum() else "_" for c in name)
    t_venv = timed([sys.executable, "-m", "venv", str(venv)])
    py = str(venv / "bin" / "python")
    t_install = timed([py, "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"), *install])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = offline([py, "-c", load_code])
    t_load = timed(cmd, env=env, cwd=work)
    return {"name": name, "venv_s": t_venv, "install_s": t_install, "load_s": t_load,
            "total_s": t_venv + t_install + t_load, "offline": cmd[0] == "unshare"}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=Path, default=ROOT / "packages", help="the package step's output folder")
    parser.add_argument("--output", type=Path, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    lib = sorted((args.packages / "wheels").glob("spacy_bioner-*.whl"))
    model = sorted(args.packages.glob("en_bioner_cd-*/dist/en_bioner_cd-*.whl"))
    if not lib or not model:
        raise SystemExit(f"{args.packages}: no spacy_bioner or en_bioner_cd wheel (run `spacy project run package`)")
    load_model = (f"import spacy; nlp = spacy.load('en_bioner_cd'); doc = nlp({TEXT!r}); "
                  "print([(e.text, e.label_) for e in doc.ents])")
    load_blank = f"import spacy; nlp = spacy.blank('en'); print(len(nlp({TEXT!r})))"
    with tempfile.TemporaryDirectory(prefix="bioner-install-") as tmp:
        work = Path(tmp)
        rows = [measure("en_bioner_cd", [str(lib[-1]), str(model[-1])], load_model, work),
                measure("baseline: spacy alone", ["spacy"], load_blank, work)]
    header = f"{'install':24} {'venv s':>7} {'pip install s':>14} {'load + 1 doc s':>15} {'total s':>8}  offline"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['name']:24} {r['venv_s']:7.1f} {r['install_s']:14.1f} {r['load_s']:15.1f} {r['total_s']:8.1f}  "
              f"{'yes (unshare -n)' if r['offline'] else 'no network isolation available'}")
    print(f"target: en_bioner_cd install + load under 120 s -> {'met' if rows[0]['total_s'] < 120 else 'not met'}")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
