"""Does giving every occurrence of a predicted surface form in the same document its label pay?

A tagger may tag "cisplatin" in one sentence of an abstract and miss it in the next. Propagation
adds, for every predicted mention text of at least MIN_LENGTH characters, each other exact
occurrence in the same document that starts and ends at a word boundary and overlaps no
prediction, with the form's most frequent predicted type. Printed: mention-level P, R, F before
and after, for each predictions file and each minimum length (choose on D, never on the test set).
The predictions are the ``predictions.PubTator`` that ``python -m spacy_bioner evaluate`` writes.

    python benchmarks/propagation.py --gold corpus/cdr/D.PubTator PRED [PRED ...] [--min-length 3 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter, defaultdict
from typing import Dict, List, Sequence, Tuple

from spacy_bioner.corpus.document import Document, Mention
from spacy_bioner.corpus.pubtator import read_pubtator
from spacy_bioner.evaluation.scorer import score_documents
from spacy_bioner.weak.dictionary import word_boundary


def propagate(doc: Document, min_length: int) -> Tuple[Document, int]:
    """``doc`` with every free occurrence of its predicted forms labelled; the number added."""
    text = doc.text
    forms: Dict[str, Counter] = defaultdict(Counter)
    for m in doc.mentions:
        forms[m.text][m.type] += 1
    taken = [(m.start, m.end) for m in doc.mentions]
    added: List[Mention] = []
    for form, types in forms.items():
        if len(form) < min_length:
            continue
        label = types.most_common(1)[0][0]
        at = text.find(form)
        while at >= 0:
            end = at + len(form)
            if word_boundary(text, at, end) and not any(at < b and a < end for a, b in taken):
                taken.append((at, end))
                added.append(Mention(at, end, form, label))
            at = text.find(form, at + 1)
    return dataclasses.replace(doc, mentions=list(doc.mentions) + added), len(added)


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions", nargs="+", help="predictions.PubTator files of `evaluate`")
    parser.add_argument("--gold", required=True, help="gold PubTator file (D or test)")
    parser.add_argument("--min-length", type=int, nargs="+", default=[3, 4])
    args = parser.parse_args(list(argv) or None)
    gold = list(read_pubtator(args.gold))
    print(f"gold: {args.gold}")
    print("| predictions | min length | added | P | R | F | P after | R after | F after | F change |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path in args.predictions:
        pred = list(read_pubtator(path))
        before = score_documents(gold, pred).micro
        for min_length in args.min_length:
            results = [propagate(doc, min_length) for doc in pred]
            after = score_documents(gold, [doc for doc, _ in results]).micro
            added = sum(n for _, n in results)
            print(f"| {path} | {min_length} | {added} | {100 * before.p:.2f} | {100 * before.r:.2f} | "
                  f"{100 * before.f:.2f} | {100 * after.p:.2f} | {100 * after.r:.2f} | {100 * after.f:.2f} | "
                  f"{100 * (after.f - before.f):+.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
