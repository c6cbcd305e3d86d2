"""Do several CRF taggers together beat the best of them? (teachers that disagree usefully, issue 26)

A distilled student learns what its teachers know together; when their ensemble is no better
than its best member, distillation has nothing to add over that member. Each pipeline tags the
gold documents (use D: settings are chosen on D, never on the test set). Printed: each model's
mention-level F (its own Viterbi path, as the pipeline tags), the share of tokens on which each
pair's paths agree, and for each subset the F of two ensembles: (1) averaged potentials, the
Viterbi path of one CRF whose emission and transition scores are the members' means (a subset of
one model is that model); (2) averaged marginals, the Viterbi path over the log of the members'
mean CRF token marginals under the BIO constraints (``O -> I-X`` forbidden), compared with each
member decoded the same way (a subset of one model).

    python benchmarks/ensemble.py --gold corpus/cdr/D.PubTator MODEL MODEL [MODEL ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy
import spacy
import torch

from spacy_bioner.corpus.document import Document
from spacy_bioner.corpus.pubtator import read_pubtator
from spacy_bioner.evaluation.predict import mentions_from_ents
from spacy_bioner.evaluation.scorer import score_documents
from spacy_bioner.models.crf import LinearChainCRF, get_torch_module
from spacy_bioner.training.teachers import crf_pipe

#: every subset is scored up to this many models; beyond, pairs and the whole set only
ALL_SUBSETS_UP_TO = 6


class Tagged(NamedTuple):
    """One model's output on the gold documents."""

    name: str
    f: float
    paths: List[numpy.ndarray]
    marginals: List[numpy.ndarray]
    emissions: List[numpy.ndarray]
    crf: Dict[str, torch.Tensor]  # transitions, start, end


def tag_documents(model: Path, gold: Sequence[Document], batch_size: int = 32) -> Tuple[Tagged, Any, List[List[str]]]:
    """Tag ``gold`` with the pipeline at ``model``; return its output, its pipeline and its tokens."""
    nlp = spacy.load(model)
    _, ner = crf_pipe(nlp)
    docs = [nlp.make_doc(doc.text) for doc in gold]
    paths: List[numpy.ndarray] = []
    marginals: List[numpy.ndarray] = []
    emissions: List[numpy.ndarray] = []
    for start in range(0, len(docs), batch_size):
        scores = ner.model.predict(docs[start : start + batch_size])
        batch_paths, batch_marginals = ner.decode(scores)
        paths.extend(batch_paths)
        marginals.extend(batch_marginals)
        emissions.extend(numpy.asarray(s, dtype="float32") for s in scores)
    ner.set_annotations(docs, (paths, marginals))
    f = score(gold, docs)
    module = get_torch_module(ner.crf)
    crf = {name: getattr(module, name).detach().clone() for name in ("transitions", "start", "end")}
    return Tagged(str(model), f, paths, marginals, emissions, crf), nlp, [[t.text for t in d] for d in docs]


def score(gold: Sequence[Document], docs: Sequence) -> float:
    """Mention-level micro F of tagged Docs against the gold documents (same order)."""
    pred = [dataclasses.replace(g, mentions=mentions_from_ents(d)) for g, d in zip(gold, docs)]
    return score_documents(gold, pred).micro.f


def ensemble_paths(members: Sequence[Tagged], decoder: LinearChainCRF) -> List[numpy.ndarray]:
    """Viterbi paths over the log of the members' averaged marginals (BIO-constrained)."""
    out = []
    with torch.no_grad():
        for i in range(len(members[0].marginals)):
            mean = sum(m.marginals[i] for m in members) / len(members)
            if len(mean) == 0:
                out.append(numpy.zeros((0,), dtype="int64"))
                continue
            emissions = torch.from_numpy(numpy.log(mean.astype("float64") + 1e-9))[None]
            path, _ = decoder.decode(emissions, torch.ones((1, len(mean)), dtype=torch.bool))
            out.append(path[0].numpy())
    return out


def potential_paths(members: Sequence[Tagged], tags: Sequence[str]) -> List[numpy.ndarray]:
    """Viterbi paths of one CRF whose emissions and transition scores are the members' averages."""
    decoder = LinearChainCRF.from_tags(tags)
    out = []
    with torch.no_grad():
        for name in ("transitions", "start", "end"):
            getattr(decoder, name).copy_(sum(m.crf[name] for m in members) / len(members))
        for i in range(len(members[0].emissions)):
            mean = sum(m.emissions[i] for m in members) / len(members)
            if len(mean) == 0:
                out.append(numpy.zeros((0,), dtype="int64"))
                continue
            path, _ = decoder.decode(torch.from_numpy(mean)[None], torch.ones((1, len(mean)), dtype=torch.bool))
            out.append(path[0].numpy())
    return out


def agreement(a: Tagged, b: Tagged) -> float:
    """Share of tokens on which two models' Viterbi paths agree."""
    same = sum(int((x == y).sum()) for x, y in zip(a.paths, b.paths))
    total = sum(len(x) for x in a.paths)
    return same / total if total else 1.0


def subsets(n: int) -> List[Tuple[int, ...]]:
    """Each model alone (decoded like an ensemble), then the subsets of two or more models."""
    singles = [(i,) for i in range(n)]
    if n <= ALL_SUBSETS_UP_TO:
        return singles + [s for k in range(2, n + 1) for s in itertools.combinations(range(n), k)]
    return singles + list(itertools.combinations(range(n), 2)) + [tuple(range(n))]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="+", help="trained pipelines with one bioner_crf tagger")
    parser.add_argument("--gold", type=Path, required=True, help="gold PubTator file (D: choose by D)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if len(args.models) < 2:
        parser.error("give at least two models")
    for model in args.models:
        if not (model / "meta.json").is_file():
            parser.error(f"{model}: not a saved spaCy pipeline (no meta.json)")
    gold = list(read_pubtator(args.gold))
    tagged: List[Tagged] = []
    first: Any = None
    tokens: Optional[List[List[str]]] = None
    for model in args.models:
        out, nlp, model_tokens = tag_documents(model, gold)
        if first is not None and crf_pipe(nlp)[1].tags != crf_pipe(first)[1].tags:
            parser.error(f"{model}: tags {crf_pipe(nlp)[1].tags} differ from {args.models[0]}'s")
        if tokens is not None and model_tokens != tokens:
            parser.error(f"{model}: tokenizes {args.gold} differently from {args.models[0]}")
        first, tokens = (nlp if first is None else first), model_tokens
        tagged.append(out)
        print(f"tagged {len(gold)} documents with {model}: F {100 * out.f:.2f}", file=sys.stderr, flush=True)

    _, ner = crf_pipe(first)
    decoder = LinearChainCRF.from_tags(ner.tags)
    with torch.no_grad():
        for param in (decoder.transitions, decoder.start, decoder.end):
            param.zero_()
    rows: List[Dict[str, Any]] = []
    for subset in subsets(len(tagged)):
        members = [tagged[i] for i in subset]
        docs = [first.make_doc(doc.text) for doc in gold]
        mean_marginals = [sum(m.marginals[i] for m in members) / len(members) for i in range(len(docs))]
        ner.set_annotations(docs, (ensemble_paths(members, decoder), mean_marginals))
        f = score(gold, docs)
        docs = [first.make_doc(doc.text) for doc in gold]
        ner.set_annotations(docs, (potential_paths(members, ner.tags), mean_marginals))
        f_potentials = score(gold, docs)
        rows.append({"members": [i + 1 for i in subset], "f": f, "f_potentials": f_potentials,
                     "best_member_f": max(m.f for m in members)})
    alone = {row["members"][0]: row["f"] for row in rows if len(row["members"]) == 1}
    for row in rows:
        row["best_member_same_decoding_f"] = max(alone[i] for i in row["members"])
        row["gain"] = row["f"] - row["best_member_f"]
        row["gain_same_decoding"] = row["f"] - row["best_member_same_decoding_f"]
        row["gain_potentials"] = row["f_potentials"] - row["best_member_f"]

    names = {i + 1: t.name for i, t in enumerate(tagged)}
    print(f"gold: {args.gold} ({len(gold)} documents), mention-level micro F (%)\n")
    print("| # | model | F |")
    print("|---:|---|---:|")
    for i, t in enumerate(tagged, 1):
        print(f"| {i} | {t.name} | {100 * t.f:.2f} |")
    print("\n| pair | tokens on which the Viterbi paths agree |")
    print("|---|---:|")
    pairs = {}
    for i, j in itertools.combinations(range(len(tagged)), 2):
        pairs[f"{i + 1}+{j + 1}"] = agreement(tagged[i], tagged[j])
        print(f"| {i + 1}+{j + 1} | {100 * pairs[f'{i + 1}+{j + 1}']:.2f} % |")
    print("\n| models | F, averaged potentials | best member F (its Viterbi) | gain | F, averaged marginals "
          "| best member F, same decoding | gain |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        members = "+".join(map(str, row["members"]))
        print(f"| {members} | {100 * row['f_potentials']:.2f} | {100 * row['best_member_f']:.2f} "
              f"| {100 * row['gain_potentials']:+.2f} | {100 * row['f']:.2f} "
              f"| {100 * row['best_member_same_decoding_f']:.2f} | {100 * row['gain_same_decoding']:+.2f} |")
    ensembles = [r for r in rows if len(r["members"]) > 1]
    by_potentials = max(ensembles, key=lambda r: r["gain_potentials"])
    by_marginals = max(ensembles, key=lambda r: r["gain_same_decoding"])
    print(f"\nlargest gain of an ensemble over its best member: averaged potentials "
          f"{100 * by_potentials['gain_potentials']:+.2f} (models {'+'.join(map(str, by_potentials['members']))}), "
          f"averaged marginals {100 * by_marginals['gain_same_decoding']:+.2f} against the member decoded the same way "
          f"(models {'+'.join(map(str, by_marginals['members']))})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"gold": str(args.gold), "models": names,
                                         "single_f": {i + 1: t.f for i, t in enumerate(tagged)},
                                         "agreement": pairs, "ensembles": rows}, indent=2), encoding="utf8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
