"""Benchmark: BiLSTM-CRF training steps on CDR T, unpacked BiLSTM (default) against packed.

Trains ``configs/bilstm_crf.cfg`` (initialised on T, optionally with the project's word vectors)
for the same batches with ``BiLSTMEmitter.unpacked_training`` on and off, timed in the same run,
and prints seconds per step and tokens per second per batch size and thread count. The packed
LSTM is the baseline: torch's CPU backprop through it slices the input once per time step.

    python benchmarks/train_step.py --train corpus/cdr/T.spacy --vectors vectors/w2v
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Dict, List

import torch
from spacy import util
from spacy.tokens import DocBin
from spacy.training import Example
from spacy.training.initialize import init_nlp
from thinc.api import fix_random_seed, registry

from spacy_bioner.models.bilstm_crf import BiLSTMEmitter

ROOT = Path(__file__).resolve().parent.parent


def time_steps(nlp, optimizer, batches: List[List[Example]], unpacked: bool) -> float:
    """Mean seconds per ``nlp.update`` over ``batches`` (after one warm-up step)."""
    BiLSTMEmitter.unpacked_training = unpacked
    try:
        nlp.update(batches[0], sgd=optimizer)
        start = time.perf_counter()
        for batch in batches:
            nlp.update(batch, sgd=optimizer)
        return (time.perf_counter() - start) / len(batches)
    finally:
        BiLSTMEmitter.unpacked_training = True


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="gold DocBin (CDR T)")
    parser.add_argument("--vectors", type=Path, default=None, help="spaCy vectors model (default: hashed words)")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "bilstm_crf.cfg")
    parser.add_argument("--batch", default="4,8", help="documents per step, comma-separated")
    parser.add_argument("--threads", default="1,2", help="torch threads, comma-separated")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per setting")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if not args.train.exists():
        parser.error(f"{args.train} not found")
    overrides = {"paths.train": str(args.train), "paths.dev": str(args.train),
                 "paths.vectors": str(args.vectors) if args.vectors else None}
    config = util.load_config(args.config, overrides=overrides, interpolate=False)
    fix_random_seed(0)
    nlp = init_nlp(config)
    optimizer = registry.resolve({"optimizer": config.interpolate()["training"]["optimizer"]})["optimizer"]
    docs = list(DocBin().from_disk(args.train).get_docs(nlp.vocab))
    rows: List[Dict[str, object]] = []
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for size in [int(b) for b in args.batch.split(",")]:
            rng = random.Random(0)
            batches = [[Example(nlp.make_doc(d.text), d) for d in rng.sample(docs, size)] for _ in range(args.steps)]
            tokens = sum(len(eg.reference) for batch in batches for eg in batch) / len(batches)
            packed = time_steps(nlp, optimizer, batches, unpacked=False)
            unpacked = time_steps(nlp, optimizer, batches, unpacked=True)
            rows.append({"threads": threads, "batch": size, "tokens_per_step": tokens, "packed_s": packed,
                         "unpacked_s": unpacked, "speedup": packed / unpacked})
    print(f"BiLSTM-CRF training steps on {args.train} ({len(docs)} documents; {args.steps} steps per setting)\n")
    print("| threads | docs/step | tokens/step | packed s/step (baseline) | unpacked s/step | packed tokens/s | unpacked tokens/s | speedup |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['threads']} | {r['batch']} | {r['tokens_per_step']:,.0f} | {r['packed_s']:.3f} | {r['unpacked_s']:.3f} "
              f"| {r['tokens_per_step'] / r['packed_s']:,.0f} | {r['tokens_per_step'] / r['unpacked_s']:,.0f} | {r['speedup']:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
