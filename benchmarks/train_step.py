"""Benchmark: BiLSTM-CRF training throughput on CDR T, whole abstracts against sentence chunks.

Trains ``configs/bilstm_crf.cfg`` (initialised on T, optionally with the project's word vectors)
with several batch shapes, timed in the same run and interleaved round by round (so that a
busy machine slows every setting alike), and prints tokens per second per setting and thread
count. The baseline (the first setting) is the training as it was before these levers:
``legacy:abstracts:4``, 4 whole abstracts per step (``spacy.batch_by_sequence.v1``, size 4)
through the legacy code paths (:func:`legacy_code`). A setting is written ``abstracts:N`` (N
abstracts per step) or ``chunks:M:P`` (runs of whole sentences of at most M tokens, see
:mod:`spacy_bioner.corpus.chunks`, batched by ``spacy.batch_by_padded.v1`` with size P padded
tokens), either prefixed by ``legacy:``.

    python benchmarks/train_step.py --train corpus/cdr/T.spacy --vectors vectors/w2v
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import time
from pathlib import Path
from typing import Dict, Iterator, List

import torch
from spacy import util
from spacy.tokens import DocBin
from spacy.training import Example
from spacy.training.initialize import init_nlp
from spacy.util import registry
from thinc.api import fix_random_seed

from spacy_bioner.corpus.chunks import sentence_chunks
from spacy_bioner.models import bilstm_crf
from spacy_bioner.pipeline import crf_ner

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SETTINGS = "legacy:abstracts:4,abstracts:4,chunks:64:1000,chunks:64:2000,chunks:64:4000,chunks:128:4000"


@contextlib.contextmanager
def legacy_code(on: bool) -> Iterator[None]:
    """With ``on``, the training code as it was before this benchmark's levers: gold tags through
    spaCy's alignment, one char-CNN call padded to the batch's longest word, Bernoulli dropout."""
    if not on:
        yield
        return
    saved = (crf_ner._tag_ids_same_tokens, bilstm_crf.CHAR_BUCKETS, bilstm_crf.Dropout.forward)
    crf_ner._tag_ids_same_tokens = lambda eg, by_type: None
    bilstm_crf.CHAR_BUCKETS = ()
    bilstm_crf.Dropout.forward = lambda self, x: torch.nn.functional.dropout(x, self.p, self.training)
    try:
        yield
    finally:
        crf_ner._tag_ids_same_tokens, bilstm_crf.CHAR_BUCKETS, bilstm_crf.Dropout.forward = saved


def make_batches(nlp, docs, setting: str, seed: int = 0) -> List[List[Example]]:
    """All of T as batches of one setting, in a seeded random order."""
    kind, *params = setting.removeprefix("legacy:").split(":")
    rng = random.Random(seed)
    docs = list(docs)
    rng.shuffle(docs)
    if kind == "abstracts":
        (size,) = (int(p) for p in params)
        examples = [Example(nlp.make_doc(d.text), d) for d in docs]
        return [examples[i : i + size] for i in range(0, len(examples), size)]
    if kind == "chunks":
        max_tokens, padded = (int(p) for p in params)
        examples = [Example(nlp.make_doc(c.text), c) for d in docs for c in sentence_chunks(d, max_tokens)]
        batcher = registry.resolve({"b": {"@batchers": "spacy.batch_by_padded.v1", "size": padded,
                                          "buffer": 256, "discard_oversize": False}})["b"]
        return [list(b) for b in batcher(examples)]
    raise ValueError(f"unknown setting {setting!r} (abstracts:N or chunks:M:P)")


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="gold DocBin (CDR T)")
    parser.add_argument("--vectors", type=Path, default=None, help="spaCy vectors model (default: hashed words)")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "bilstm_crf.cfg")
    parser.add_argument("--settings", default=DEFAULT_SETTINGS, help="comma-separated, the first is the baseline")
    parser.add_argument("--threads", default="1", help="torch threads, comma-separated")
    parser.add_argument("--tokens", type=int, default=6000, help="tokens timed per setting and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (the median is reported)")
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
    settings = args.settings.split(",")
    batches = {s: make_batches(nlp, docs, s) for s in settings}
    cursor = {s: 0 for s in settings}
    rows: List[Dict[str, object]] = []
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        rates: Dict[str, List[float]] = {s: [] for s in settings}
        steps: Dict[str, List[int]] = {s: [] for s in settings}
        for s in settings:  # warm-up step per setting
            with legacy_code(s.startswith("legacy:")):
                nlp.update(batches[s][0], sgd=optimizer)
        for _ in range(args.rounds):
            for s in settings:
                tokens = n = 0
                with legacy_code(s.startswith("legacy:")):
                    start = time.perf_counter()
                    while tokens < args.tokens:
                        batch = batches[s][cursor[s] % len(batches[s])]
                        cursor[s] += 1
                        nlp.update(batch, sgd=optimizer)
                        tokens += sum(len(eg.reference) for eg in batch)
                        n += 1
                    rates[s].append(tokens / (time.perf_counter() - start))
                steps[s].append(n)
        base = statistics.median(rates[settings[0]])
        for s in settings:
            tokens_per_step = sum(len(eg.reference) for b in batches[s] for eg in b) / len(batches[s])
            rate = statistics.median(rates[s])
            rows.append({"threads": threads, "setting": s, "steps_per_epoch": len(batches[s]),
                         "tokens_per_step": tokens_per_step, "tokens_per_s": rate, "speedup": rate / base})
    print(f"BiLSTM-CRF training throughput on {args.train} ({len(docs)} documents, "
          f"{sum(len(d) for d in docs):,} tokens; median of {args.rounds} interleaved rounds of "
          f"{args.tokens:,} tokens per setting; baseline: {settings[0]})\n")
    print("| threads | setting | steps/epoch | tokens/step | tokens/s | vs baseline |")
    print("|---:|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['threads']} | {r['setting']} | {r['steps_per_epoch']:,} | {r['tokens_per_step']:,.0f} "
              f"| {r['tokens_per_s']:,.0f} | {r['speedup']:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
