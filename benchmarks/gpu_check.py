"""GPU check: train, distil and evaluate on a GPU, and compare with the CPU on the same weights.

1. ``spacy train`` one epoch on T (``--gpu-id``): the teacher.
2. ``spacy_bioner distill`` a student from it for ``--steps`` updates over ``--data`` (default T's
   texts), T mixed in (``--gpu-id``).
3. ``spacy_bioner evaluate`` the student on the test set twice: on the GPU and on the CPU (the
   same saved weights), and compare the two prediction files mention by mention.

Prints one table: seconds per step and device, test F of each run, and the share of predicted
mentions the two devices agree on. With ``--gpu-id -1`` every step runs on the CPU (the tests do
this at a tiny scale); on an H100 the default scale finishes in a few minutes.

    python benchmarks/gpu_check.py --train corpus/cdr/T.spacy --dev corpus/cdr/D.spacy \\
        --dev-gold corpus/cdr/D.PubTator --test corpus/cdr/test.PubTator --vectors vectors/w2v --gpu-id 0
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent


def run(argv: List[str], log: Path) -> float:
    """Run a command with its output in ``log``; seconds taken. A failure names the log."""
    start = time.perf_counter()
    with open(log, "w", encoding="utf8") as out:
        code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT).returncode
    if code:
        raise SystemExit(f"gpu_check: {' '.join(argv[:5])} ... failed (exit {code}); see {log}")
    return time.perf_counter() - start


def mentions(path: Path) -> Set[Tuple[str, int, int, str]]:
    """(pmid, start, end, type) of every mention line of a PubTator file."""
    out = set()
    for line in path.read_text(encoding="utf8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 5 and parts[1].isdigit():
            out.add((parts[0], int(parts[1]), int(parts[2]), parts[4]))
    return out


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="gold DocBin (CDR T)")
    parser.add_argument("--dev", type=Path, required=True, help="gold DocBin (CDR D)")
    parser.add_argument("--dev-gold", type=Path, required=True, help="gold PubTator of D")
    parser.add_argument("--test", type=Path, required=True, help="gold PubTator (CDR test)")
    parser.add_argument("--data", type=Path, default=None, help="DocBin to distil over (default: --train)")
    parser.add_argument("--vectors", type=Path, default=None)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "bilstm_crf.cfg")
    parser.add_argument("--gpu-id", type=int, default=0)
    parser.add_argument("--steps", type=int, default=300, help="distillation updates")
    parser.add_argument("--max-steps", type=int, default=0, help="cap on the teacher's updates (0: one epoch)")
    parser.add_argument("--output", type=Path, default=Path("training/gpu_check"))
    parser.add_argument("--json", type=Path, help="also write the table as JSON here")
    args = parser.parse_args(argv)
    for path in (args.train, args.dev, args.dev_gold, args.test):
        if not path.exists():
            parser.error(f"{path} not found")
    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    vectors = str(args.vectors) if args.vectors else "null"
    device = "GPU %d" % args.gpu_id if args.gpu_id >= 0 else "CPU"
    seconds: Dict[str, float] = {}
    seconds["train"] = run([py, "-m", "spacy", "train", str(args.config), "--output", str(out / "teacher"),
                            "--gpu-id", str(args.gpu_id), "--paths.train", str(args.train), "--paths.dev", str(args.dev),
                            "--paths.vectors", vectors, "--training.max_epochs", "1",
                            "--training.max_steps", str(args.max_steps)], out / "train.log")  # fmt: skip
    seconds["distill"] = run([py, "-m", "spacy_bioner", "distill", "--teacher", str(out / "teacher" / "model-last"),
                              "--data", str(args.data or args.train), "--config", str(args.config),
                              "--output", str(out / "student"), "--distance", "kd", "--epochs", "1000",
                              "--max-steps", str(args.steps), "--mix-gold", str(args.train),
                              "--dev", str(args.dev), "--dev-gold", str(args.dev_gold),
                              "--overrides", f"paths.vectors={vectors}", "--gpu-id", str(args.gpu_id)],
                             out / "distill.log")  # fmt: skip
    student = out / "student" / "model-last"
    runs = {}
    for name, gpu in (("device", args.gpu_id), ("cpu", -1)):
        seconds[f"evaluate ({name})"] = run([py, "-m", "spacy_bioner", "evaluate", str(student), str(args.test),
                                             "--output", str(out / f"eval-{name}"), "--gpu-id", str(gpu),
                                             "--report-docs", "0"], out / f"eval-{name}.log")  # fmt: skip
        metrics = json.loads((out / f"eval-{name}" / "metrics.json").read_text(encoding="utf8"))
        runs[name] = (metrics["scores"]["micro"], mentions(out / f"eval-{name}" / "predictions.PubTator"))
    (dev_scores, dev_pred), (cpu_scores, cpu_pred) = runs["device"], runs["cpu"]
    union = dev_pred | cpu_pred
    agreement = len(dev_pred & cpu_pred) / len(union) if union else 1.0
    rows = [{"step": "train 1 epoch on T", "device": device, "seconds": seconds["train"]},
            {"step": f"distil {args.steps} steps (T mixed in)", "device": device, "seconds": seconds["distill"]},
            {"step": "evaluate student on test", "device": device, "seconds": seconds["evaluate (device)"],
             "f": dev_scores["f"], "mentions": len(dev_pred)},
            {"step": "evaluate student on test", "device": "CPU", "seconds": seconds["evaluate (cpu)"],
             "f": cpu_scores["f"], "mentions": len(cpu_pred)}]  # fmt: skip
    print(f"GPU check ({device} against CPU, same student weights; {args.test})\n")
    print("| step | device | seconds | test F | mentions |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        f = f"{100 * r['f']:.2f}" if "f" in r else ""
        print(f"| {r['step']} | {r['device']} | {r['seconds']:.1f} | {f} | {r.get('mentions', '')} |")
    print(f"\npredicted mentions identical on both devices: {100 * agreement:.2f}% "
          f"({len(dev_pred & cpu_pred)} of {len(union)}); total {sum(seconds.values()):.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "agreement": agreement}, indent=2), encoding="utf8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
