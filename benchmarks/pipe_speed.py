"""Benchmark: ``nlp.pipe`` words/s of a ``bioner_crf`` pipeline at one torch thread, in one run with
spaCy's ``ner`` (issue 26, goal 4), with its predictions saved and compared across code versions.

Every row is a pipeline loaded once and tagging the texts of ``--gold`` ``--repeat`` times (rows
take turns, so a busy machine slows them alike; the best run of each is kept); its CDR test F is
scored by the project scorer (mention level, both types). ``--baseline`` adds a row (spaCy's
``ner``) and the ratio to it.

    python benchmarks/pipe_speed.py MODEL --gold cdr/test.PubTator --save before.json
    python benchmarks/pipe_speed.py MODEL --gold cdr/test.PubTator --compare before.json --baseline NER_MODEL

``--save`` writes each document's entities (token start, end, label, confidence) of the first row;
``--compare`` checks them against a saved file: the same ``(doc, start, end, label)`` set and every
confidence within ``--tolerance`` (exit status 1 otherwise). ``--profile N`` prints a cProfile of
one more pass of the model (its N functions of most cumulative and most own time).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

TYPES = ["Chemical", "Disease"]
Entity = Tuple[int, int, str, Optional[float]]


def entities(doc: Any) -> List[Entity]:
    """``(start, end, label, confidence)`` of each entity of ``doc`` (token offsets)."""
    return [(ent.start, ent.end, ent.label_, ent._.get("confidence") if ent.has_extension("confidence") else None)
            for ent in doc.ents]


def compare(saved: Sequence[Sequence[Entity]], new: Sequence[Sequence[Entity]], tolerance: float) -> Dict[str, Any]:
    """Entities that differ between two prediction lists, and the largest confidence difference
    over the entities in both."""
    if len(saved) != len(new):
        raise ValueError(f"the saved predictions cover {len(saved)} documents, this run {len(new)}")
    only_saved = only_new = 0
    worst = 0.0
    for old_doc, new_doc in zip(saved, new):
        old = {tuple(e[:3]): e[3] for e in old_doc}
        cur = {tuple(e[:3]): e[3] for e in new_doc}
        only_saved += len(old.keys() - cur.keys())
        only_new += len(cur.keys() - old.keys())
        for key in old.keys() & cur.keys():
            if old[key] is not None and cur[key] is not None:
                worst = max(worst, abs(float(old[key]) - float(cur[key])))
            elif (old[key] is None) != (cur[key] is None):
                worst = float("inf")
    same = only_saved == 0 and only_new == 0 and worst <= tolerance
    return {"entities": sum(len(d) for d in new), "only_saved": only_saved, "only_new": only_new,
            "max_confidence_diff": worst, "same": same}


def load_rows(model: Path, baseline: Optional[Path]) -> List[Tuple[str, Any]]:
    """``(label, nlp)`` per row: the model, then spaCy's ner."""
    import spacy

    rows = [("model", spacy.load(model))]
    if baseline is not None:
        rows.append(("baseline", spacy.load(baseline)))
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a trained bioner_crf pipeline")
    parser.add_argument("--gold", type=Path, required=True, help="PubTator file (e.g. the CDR test set)")
    parser.add_argument("--baseline", type=Path, help="a pipeline to compare the speed with (spaCy's ner)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--batch-size", type=int, default=64, help="nlp.pipe batch size")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per row (best kept)")
    parser.add_argument("--limit", type=int, default=0, help="tag only the first N documents")
    parser.add_argument("--save", type=Path, help="write the model's entities per document (JSON)")
    parser.add_argument("--compare", type=Path, help="compare the model's entities with a --save file")
    parser.add_argument("--tolerance", type=float, default=1e-5, help="largest confidence difference allowed")
    parser.add_argument("--output", type=Path, help="write the rows as JSON")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="after the timed runs, tag the texts once more under cProfile and print the model's "
                             "N functions of most cumulative and most own time")
    args = parser.parse_args(argv)

    import torch

    from spacy_bioner.corpus.pubtator import read_pubtator
    from spacy_bioner.evaluation.predict import mentions_from_ents, count_words
    from spacy_bioner.evaluation.scorer import score_documents
    from spacy_bioner.corpus.document import Document

    torch.set_num_threads(args.threads)
    gold = list(read_pubtator(args.gold))
    if args.limit:
        gold = gold[: args.limit]
    if not gold:
        raise SystemExit(f"{args.gold}: no documents")
    texts = [d.text for d in gold]
    n_words = sum(count_words(t) for t in texts)
    rows = load_rows(args.model, args.baseline)
    results: List[Dict[str, Any]] = [{"row": label, "runs": []} for label, _ in rows]
    docs_of: Dict[str, list] = {}
    for label, nlp in rows:  # warm-up (first calls allocate)
        list(nlp.pipe(texts[: args.batch_size], batch_size=args.batch_size))
    for _ in range(max(1, args.repeat)):
        for (label, nlp), result in zip(rows, results):
            start = time.perf_counter()
            docs = list(nlp.pipe(texts, batch_size=args.batch_size))
            result["runs"].append(n_words / (time.perf_counter() - start))
            docs_of[label] = docs
    for (label, _), result in zip(rows, results):
        predicted = [Document(pmid=g.pmid, title=g.title, abstract=g.abstract, mentions=mentions_from_ents(doc),
                              source=g.source) for g, doc in zip(gold, docs_of[label])]
        scores = score_documents(gold, predicted, types=TYPES)
        result.update(words_per_second=max(result["runs"]), f=scores.micro.f)
    ours = [entities(doc) for doc in docs_of["model"]]
    base = next((r for r in results if r["row"] == "baseline"), None)
    print(f"{len(gold)} documents, {n_words:,} words, torch threads {args.threads}, batch {args.batch_size}, "
          f"best of {args.repeat}")
    print(f"{'row':<24} {'all F':>7} {'words/s':>9} {'x baseline':>10}")
    for result in results:
        ratio = f"{result['words_per_second'] / base['words_per_second']:.2f}" if base else "-"
        print(f"{result['row']:<24} {100 * result['f']:>7.2f} {result['words_per_second']:>9,.0f} {ratio:>10}")
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        list(rows[0][1].pipe(texts, batch_size=args.batch_size))
        profiler.disable()
        for key in ("cumulative", "tottime"):
            pstats.Stats(profiler, stream=sys.stdout).sort_stats(key).print_stats(args.profile)
    status = 0
    if args.compare:
        saved = json.loads(args.compare.read_text(encoding="utf8"))["entities"]
        diff = compare(saved, ours, args.tolerance)
        print(f"compared with {args.compare}: {diff['entities']} entities, {diff['only_saved']} only there, "
              f"{diff['only_new']} only here, largest confidence difference {diff['max_confidence_diff']:.2e} "
              f"-> {'same' if diff['same'] else 'DIFFERENT'} (tolerance {args.tolerance:g})")
        status = 0 if diff["same"] else 1
    if args.save:
        tmp = args.save.with_name(args.save.name + ".tmp")
        tmp.write_text(json.dumps({"model": str(args.model), "gold": str(args.gold), "entities": ours}), encoding="utf8")
        tmp.replace(args.save)
    if args.output:
        tmp = args.output.with_name(args.output.name + ".tmp")
        tmp.write_text(json.dumps({"settings": vars(args), "rows": results}, indent=2, default=str), encoding="utf8")
        tmp.replace(args.output)
    return status


if __name__ == "__main__":
    sys.exit(main())
