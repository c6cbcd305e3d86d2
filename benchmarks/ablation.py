"""Ablation of the training levers of issue #26: one gold-only BiLSTM-CRF per row, same seed and data.

Each row is ``configs/bilstm_crf.cfg`` with some sections replaced (see ``ROWS``), trained on T
with ``spacy train`` until F on D has not risen for ``--patience`` evaluations (one evaluation
per epoch's worth of tokens), then scored on the CDR test set by ``spacy_bioner evaluate``.
The table gives, per row: best F on D, test P/R/F (mention level, both types), the epochs and
the wall seconds of training. Rows run ``--jobs`` at a time, one torch thread each; a row whose
``metrics.json`` exists is read, not trained again (delete its folder to redo it).

    python benchmarks/ablation.py --train corpus/cdr/T.spacy --dev corpus/cdr/D.spacy \\
        --test corpus/cdr/test.PubTator --vectors vectors/w2v --output training/ablation

Choose settings by the D column; the test column is reported, never used to choose.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional

from spacy import util

ROOT = Path(__file__).resolve().parent.parent

#: row name -> (description, tokens per step (for one evaluation per epoch), config sections replaced)
ROWS: Dict[str, Any] = {
    "abstracts": (
        "whole abstracts, 4 per step (the workflow before sentence chunks)", 919,
        {"corpora.train.augmenter": None,
         "training.batcher": {"@batchers": "spacy.batch_by_sequence.v1", "size": 4, "get_length": None}},
    ),
    "chunks64": (
        "sentence chunks of <= 64 tokens, 2,000 padded tokens per step (configs/bilstm_crf.cfg)", 1628, {},
    ),
    "chunks64-4k": (
        "sentence chunks of <= 64 tokens, 4,000 padded tokens per step", 2913,
        {"training.batcher.size": 4000},
    ),
    "chunks64-4k-lr2": (
        "sentence chunks of <= 64 tokens, 4,000 padded tokens per step, learning rate 2e-3", 2913,
        {"training.batcher.size": 4000, "training.optimizer.learn_rate": 0.002},
    ),
    "chunks64-4k-dict": (
        "chunks64-4k + dictionary features (BiLSTMCRF.v3, 20-wide, --dictionary)", 2913,
        {"training.batcher.size": 4000, "components.bioner.model.@architectures": "spacy_bioner.BiLSTMCRF.v3",
         "components.bioner.model.dictionary_width": 20, "initialize.components.bioner": {"dictionary": None}},
    ),
    "chunks64-4k-dict-lr2": (
        "chunks64-4k-dict with learning rate 2e-3 (fewer epochs to the best F on D?)", 2913,
        {"training.batcher.size": 4000, "training.optimizer.learn_rate": 0.002,
         "components.bioner.model.@architectures": "spacy_bioner.BiLSTMCRF.v3",
         "components.bioner.model.dictionary_width": 20, "initialize.components.bioner": {"dictionary": None}},
    ),
    "chunks64-4k-dict-pretrained": (
        "chunks64-4k-dict, encoder initialised by BiLM pretraining (--pretrained, `spacy_bioner pretrain`)", 2913,
        {"training.batcher.size": 4000, "components.bioner.model.@architectures": "spacy_bioner.BiLSTMCRF.v3",
         "components.bioner.model.dictionary_width": 20,
         "initialize.components.bioner": {"dictionary": None, "pretrained": None}},
    ),
}
#: rows that read the dictionary features file (``--dictionary``)
DICTIONARY_ROWS = ("chunks64-4k-dict", "chunks64-4k-dict-lr2", "chunks64-4k-dict-pretrained")
#: rows that read pretrained encoder weights (``--pretrained``)
PRETRAINED_ROWS = ("chunks64-4k-dict-pretrained",)


def row_config(base: Path, sections: Dict[str, Any], out: Path) -> Path:
    """``base`` with the dotted ``sections`` replaced (``None`` -> null), written to ``out``."""
    config = util.load_config(base, interpolate=False)
    for dotted, value in sections.items():
        *parents, key = dotted.split(".")
        node = config
        for part in parents:
            node = node[part]
        node[key] = value
    config.to_disk(out)
    return out


def run_row(name: str, args: argparse.Namespace) -> Dict[str, Any]:
    description, tokens_per_step, sections = ROWS[name]
    folder = args.output / name
    metrics_path = folder / "metrics" / "metrics.json"
    result_path = folder / "row.json"
    if metrics_path.exists() and result_path.exists():
        return json.loads(result_path.read_text(encoding="utf8"))
    folder.mkdir(parents=True, exist_ok=True)
    config = row_config(args.config, sections, folder / "config.cfg")
    n_tokens = sum(len(d) for d in _docs(args.train))
    eval_frequency = max(1, round(n_tokens / tokens_per_step))
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    train = [sys.executable, "-m", "spacy", "train", str(config), "--output", str(folder / "model"),
             "--paths.train", str(args.train), "--paths.dev", str(args.dev),
             "--paths.vectors", str(args.vectors) if args.vectors else "null",
             "--training.max_epochs", str(args.max_epochs), "--training.eval_frequency", str(eval_frequency),
             "--training.patience", str(args.patience * eval_frequency), "--training.seed", str(args.seed)]
    if name in DICTIONARY_ROWS:
        train += ["--initialize.components.bioner.dictionary", str(args.dictionary)]
    if name in PRETRAINED_ROWS:
        train += ["--initialize.components.bioner.pretrained", str(args.pretrained)]
    start = time.perf_counter()
    with open(folder / "train.log", "w", encoding="utf8") as log:
        subprocess.run(train, check=True, stdout=log, stderr=subprocess.STDOUT, env=env)
    seconds = time.perf_counter() - start
    with open(folder / "evaluate.log", "w", encoding="utf8") as log:
        subprocess.run([sys.executable, "-m", "spacy_bioner", "evaluate", str(folder / "model" / "model-best"),
                        str(args.test), "--output", str(folder / "metrics"), "--report-docs", "0"], check=True,
                       env=env, stdout=log, stderr=subprocess.STDOUT)
    meta = json.loads((folder / "model" / "model-best" / "meta.json").read_text(encoding="utf8"))
    test = json.loads(metrics_path.read_text(encoding="utf8"))["scores"]["micro"]
    steps = _last_step(folder / "train.log")
    result = {"row": name, "description": description, "dev_f": meta["performance"]["ents_f"],
              "test_p": test["p"], "test_r": test["r"], "test_f": test["f"], "eval_frequency": eval_frequency,
              "steps": steps, "epochs": steps / eval_frequency if steps else None, "seconds": seconds}
    result_path.write_text(json.dumps(result, indent=2), encoding="utf8")
    return result


def _docs(path: Path) -> List[Any]:
    import spacy
    from spacy.tokens import DocBin

    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def _last_step(log: Path) -> Optional[int]:
    """The step of the last evaluation line of spaCy's console log."""
    last = None
    for line in log.read_text(encoding="utf8").splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].isdigit() and parts[1].isdigit():
            last = int(parts[1])
    return last


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--dev", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True, help="gold PubTator file (CDR test)")
    parser.add_argument("--vectors", type=Path, default=None)
    parser.add_argument("--dictionary", type=Path, default=None,
                        help="dictionary features file (`spacy_bioner weak dictionary-features`) for the *-dict rows")
    parser.add_argument("--pretrained", type=Path, default=None,
                        help="encoder weights (`spacy_bioner pretrain`, encoder.pt) for the *-pretrained rows")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "bilstm_crf.cfg")
    parser.add_argument("--output", type=Path, default=Path("training/ablation"))
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of: {', '.join(ROWS)}")
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument("--patience", type=int, default=5, help="evaluations (epochs) without a better F on D")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    rows = args.rows.split(",")
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; known: {', '.join(ROWS)}")
    if any(r in DICTIONARY_ROWS for r in rows) and args.dictionary is None:
        parser.error(f"rows {', '.join(r for r in rows if r in DICTIONARY_ROWS)} need --dictionary")
    if any(r in PRETRAINED_ROWS for r in rows) and args.pretrained is None:
        parser.error(f"rows {', '.join(r for r in rows if r in PRETRAINED_ROWS)} need --pretrained")
    extra = tuple(p for p in (args.dictionary, args.pretrained) if p is not None)
    for path in (args.train, args.dev, args.test) + extra:
        if not path.exists():
            parser.error(f"{path} not found")
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda r: run_row(r, args), rows))
    print(f"Gold-only BiLSTM-CRF on {args.train}, seed {args.seed}, until F on D stops rising "
          f"(patience {args.patience} epochs, at most {args.max_epochs}); {args.jobs} rows at a time, one thread each\n")
    print("| row | setting | D F | test P | test R | test F | epochs | train s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['row']} | {r['description']} | {100 * r['dev_f']:.2f} | {100 * r['test_p']:.2f} | "
              f"{100 * r['test_r']:.2f} | {100 * r['test_f']:.2f} | {r['epochs'] or 0:.1f} | {r['seconds']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
