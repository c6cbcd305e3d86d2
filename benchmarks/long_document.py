"""Benchmark: peak memory of tagging one long document (issue 26: 100,000 tokens within 1 GB RSS).

The texts of a PubTator file (e.g. the CDR test set), joined and repeated, are cut at ``--tokens``
tokens of the pipeline's tokenizer: one document. Each row is a fresh child process of
``--python`` (default: this interpreter; give a plain install's, without the ``trf`` extra, for the
figure a user sees) that loads the pipeline, reads the document and tags it with ``nlp(text)``,
with the BiLSTM's padded tokens per call (``spacy_bioner.models.bilstm_crf.WINDOW_TOKENS``) set to
one of ``--window-tokens``; the first value is the baseline (64,000: the 64 windows of 1,000
tokens per call before the budget). Printed per row: peak RSS after loading, peak RSS after
tagging (``VmHWM`` of ``/proc/self/status``, else ``ru_maxrss``), the seconds of ``nlp(text)`` and the entities found; the target
(peak <= ``--max-rss-mb``) is checked on every row but the baseline.

    python benchmarks/long_document.py MODEL --gold corpus/cdr/test.PubTator --python /tmp/bioner-plain/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

MAX_RSS_MB = 1024.0
CHILD = r"""
import json, resource, sys, time
import spacy, torch
torch.set_num_threads(1)
import spacy_bioner.models.bilstm_crf as bilstm
model, text_path, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
bilstm.WINDOW_TOKENS = budget
nlp = spacy.load(model)
text = open(text_path, encoding="utf8").read()
def rss():
    # VmHWM: this process image's peak (ru_maxrss can keep the forking parent's peak across exec)
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
loaded = rss()
start = time.perf_counter()
doc = nlp(text)
seconds = time.perf_counter() - start
print(json.dumps({"tokens": len(doc), "ents": len(doc.ents), "seconds": seconds, "rss_loaded_mb": loaded,
                  "rss_peak_mb": rss()}))
"""


def long_text(model: str, gold: Path, tokens: int) -> str:
    """The texts of ``gold`` joined (and repeated) and cut to ``tokens`` tokens of ``model``'s tokenizer."""
    import spacy

    from spacy_bioner.corpus.pubtator import read_pubtator

    texts = [doc.text for doc in read_pubtator(gold)]
    if not texts:
        raise SystemExit(f"{gold}: no documents")
    nlp = spacy.load(model)
    text = " ".join(texts)
    while len(nlp.make_doc(text)) < tokens:
        text = text + " " + " ".join(texts)
    doc = nlp.make_doc(text)
    return text if len(doc) == tokens else text[: doc[tokens].idx].rstrip()


def measure(python: str, model: str, text_path: Path, budget: int) -> Dict[str, float]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([python, "-c", CHILD, model, str(text_path), str(budget)], capture_output=True,
                          text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"child ({python}, WINDOW_TOKENS={budget}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def format_table(rows: List[Dict[str, object]], max_rss_mb: float) -> str:
    lines = ["| BiLSTM padded tokens per call | tokens | RSS after load MB | peak RSS MB | tagging MB | seconds | entities | target |",
             "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for i, row in enumerate(rows):
        verdict = "baseline" if i == 0 else ("PASS" if row["rss_peak_mb"] <= max_rss_mb else "FAIL") + f" (<= {max_rss_mb:.0f} MB)"
        lines.append(f"| {row['window_tokens']:,} | {row['tokens']:,} | {row['rss_loaded_mb']:.0f} | {row['rss_peak_mb']:.0f} "
                     f"| {row['rss_peak_mb'] - row['rss_loaded_mb']:.0f} | {row['seconds']:.1f} | {row['ents']:,} | {verdict} |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="pipeline folder or installed package name")
    parser.add_argument("--gold", type=Path, required=True, help="PubTator file whose texts make the document")
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--python", default=sys.executable, help="interpreter of the children (a plain install)")
    parser.add_argument("--window-tokens", default="64000,8192",
                        help="comma-separated WINDOW_TOKENS values; the first is the baseline")
    parser.add_argument("--max-rss-mb", type=float, default=MAX_RSS_MB)
    parser.add_argument("--output", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    if args.tokens < 1:
        parser.error("--tokens must be positive")
    try:
        budgets = [int(v) for v in args.window_tokens.split(",") if v.strip()]
    except ValueError:
        parser.error(f"--window-tokens {args.window_tokens!r}: give integers")
    if len(budgets) < 2 or min(budgets) < 1:
        parser.error("--window-tokens: give a baseline and at least one more positive value")
    rows: List[Dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        text_path = Path(tmp) / "long.txt"
        text_path.write_text(long_text(args.model, args.gold, args.tokens), encoding="utf8")
        for budget in budgets:
            rows.append({"window_tokens": budget, **measure(args.python, args.model, text_path, budget)})
    print(f"one document of {rows[0]['tokens']:,} tokens from {args.gold}; model {args.model}; python {args.python}; "
          "one torch thread, a fresh process per row")
    print(format_table(rows, args.max_rss_mb))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(rows, indent=2), encoding="utf8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
