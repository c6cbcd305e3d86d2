"""Mention-level scoring as the BioCreative V CDR evaluation kit does it.

A predicted mention is a true positive when its (document id, start offset, end offset, type)
equals a gold mention's; the mention text and ids play no part. Gold and predicted mentions are
sets of such keys, so a duplicate prediction counts once. FP = predicted keys not in gold,
FN = gold keys not predicted. P = TP / (TP + FP), R = TP / (TP + FN), F = 2PR / (P + R); an
undefined ratio (no prediction, no gold, P + R = 0) is 0.0. Scores are given per type and micro
over all scored types (the pooled counts).

Each error is also given a kind (``MentionScores.errors``), looking at the other side of the same
document: a *type* error has the offsets of a mention of another type, a *boundary* error overlaps
a mention with other offsets, and the rest are *spurious* (FP) or *missed* (FN).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from ..corpus.document import Document

MentionKey = Tuple[str, int, int, str]  # (document id, start, end, type)

TP, FP, FN = "TP", "FP", "FN"
ERROR_KINDS = {FP: ("type", "boundary", "spurious"), FN: ("type", "boundary", "missed")}


@dataclass
class PRF:
    """True positives, false positives and false negatives, with P, R and F as fractions."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def p(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def r(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f(self) -> float:
        p, r = self.p, self.r
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def n_gold(self) -> int:
        return self.tp + self.fn

    @property
    def n_pred(self) -> int:
        return self.tp + self.fp

    def __iadd__(self, other: "PRF") -> "PRF":
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        return self

    def to_dict(self) -> Dict[str, float]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "p": self.p, "r": self.r, "f": self.f}


@dataclass
class MentionScores:
    """Per-type and micro scores, and the documents that were present on one side only."""

    per_type: Dict[str, PRF]
    micro: PRF
    n_gold_docs: int = 0
    n_pred_docs: int = 0
    pred_docs_not_in_gold: List[str] = field(default_factory=list)
    gold_docs_not_in_pred: List[str] = field(default_factory=list)
    text_mismatches: List[str] = field(default_factory=list)
    outcomes: List[Tuple[str, MentionKey]] = field(default_factory=list, repr=False)

    @property
    def types(self) -> List[str]:
        return list(self.per_type)

    def to_dict(self) -> Dict[str, object]:
        """A JSON-ready summary (fractions, not percentages)."""
        return {
            "micro": self.micro.to_dict(),
            "per_type": {t: s.to_dict() for t, s in self.per_type.items()},
            "n_gold_docs": self.n_gold_docs,
            "n_pred_docs": self.n_pred_docs,
            "pred_docs_not_in_gold": list(self.pred_docs_not_in_gold),
            "gold_docs_not_in_pred": list(self.gold_docs_not_in_pred),
            "text_mismatches": list(self.text_mismatches),
            "errors": self.errors(),
        }

    def errors(self) -> Dict[str, Dict[str, int]]:
        """FP and FN counts by kind (``fp_type``, ``fn_missed``, ...), per type and for ``all``."""
        return error_kinds(self.outcomes, self.types)

    def error_line(self) -> str:
        """``FP 223 (type 11, boundary 129, spurious 83); FN 254 (...)``, all types together."""
        counts = self.errors()["all"]
        parts = []
        for side in (FP, FN):
            kinds = ERROR_KINDS[side]
            total = sum(counts[f"{side.lower()}_{k}"] for k in kinds)
            detail = ", ".join(f"{k} {counts[f'{side.lower()}_{k}']}" for k in kinds)
            parts.append(f"{side} {total} ({detail})")
        return "; ".join(parts)

    def table(self, markdown: bool = False) -> str:
        """P, R, F (percent) and counts per type and for all types together."""
        header = ["type", "P", "R", "F", "TP", "FP", "FN"]
        rows = [_row(t, s) for t, s in self.per_type.items()]
        rows.append(_row("all (micro)", self.micro))
        if markdown:
            lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * 6) + "|"]
            lines += ["| " + " | ".join(row) + " |" for row in rows]
            return "\n".join(lines)
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        fmt = lambda row: "  ".join(  # noqa: E731
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
        )
        rule = "-" * len(fmt(header))
        return "\n".join([fmt(header), rule] + [fmt(r) for r in rows[:-1]] + [rule, fmt(rows[-1])])

    def outcome_lines(self) -> List[str]:
        """The kit's debug lines: ``{TP|FP|FN}<TAB>mention<TAB>docid<TAB>start<TAB>end<TAB>type``."""
        return [
            "\t".join([kind, "mention", key[0], str(key[1]), str(key[2]), key[3]])
            for kind, key in self.outcomes
        ]


def error_kinds(
    outcomes: Iterable[Tuple[str, MentionKey]], types: Sequence[str] = ()
) -> Dict[str, Dict[str, int]]:
    """Count each FP and FN by kind (module docstring), per mention type and for ``all``."""
    outcomes = list(outcomes)
    gold = _spans_by_doc(key for kind, key in outcomes if kind != FP)
    pred = _spans_by_doc(key for kind, key in outcomes if kind != FN)
    sides = {FP: gold, FN: pred}  # what a FP is compared with, and a FN
    names = [f"{side.lower()}_{k}" for side, kinds in ERROR_KINDS.items() for k in kinds]
    seen = sorted({key[3] for _, key in outcomes} - set(types))
    counts = {t: dict.fromkeys(names, 0) for t in ["all", *types, *seen]}
    for kind, key in outcomes:
        if kind == TP:
            continue
        other = sides[kind].get(key[0])
        what = (other and other.kind(key[1], key[2])) or ERROR_KINDS[kind][2]
        counts["all"][f"{kind.lower()}_{what}"] += 1
        counts[key[3]][f"{kind.lower()}_{what}"] += 1
    return counts


def _spans_by_doc(keys: Iterable[MentionKey]) -> Dict[str, "_Spans"]:
    by_doc: Dict[str, List[MentionKey]] = defaultdict(list)
    for key in keys:
        by_doc[key[0]].append(key)
    return {doc: _Spans(doc_keys) for doc, doc_keys in by_doc.items()}


class _Spans:
    """One document's mentions on one side: is a span at their offsets, or overlapping one?"""

    def __init__(self, keys: Iterable[MentionKey]):
        spans = sorted((k[1], k[2]) for k in keys)
        self.exact = set(spans)
        self.starts = [start for start, _ in spans]
        self.reach = list(accumulate((end for _, end in spans), max))  # furthest end so far

    def kind(self, start: int, end: int) -> Optional[str]:
        if (start, end) in self.exact:
            return "type"
        before = bisect_left(self.starts, end)  # the spans that start before this one ends
        return "boundary" if before and self.reach[before - 1] > start else None


def _row(name: str, s: PRF) -> List[str]:
    return [name, f"{100 * s.p:.2f}", f"{100 * s.r:.2f}", f"{100 * s.f:.2f}", str(s.tp), str(s.fp), str(s.fn)]


def mention_keys(docs: Iterable[Document]) -> Tuple[Set[MentionKey], Dict[str, str]]:
    """The set of (pmid, start, end, type) keys of some documents, and each pmid's text."""
    keys: Set[MentionKey] = set()
    texts: Dict[str, str] = {}
    for doc in docs:
        texts.setdefault(doc.pmid, doc.text)
        keys.update((doc.pmid, m.start, m.end, m.type) for m in doc.mentions)
    return keys, texts


def score_keys(
    gold: Set[MentionKey], pred: Set[MentionKey], types: Optional[Sequence[str]] = None
) -> Tuple[Dict[str, PRF], PRF, List[Tuple[str, MentionKey]]]:
    """Count TP/FP/FN per type over two key sets. ``types=None`` scores every type seen."""
    if types is None:
        types = sorted({k[3] for k in gold} | {k[3] for k in pred})
    wanted = set(types)
    gold = {k for k in gold if k[3] in wanted}
    pred = {k for k in pred if k[3] in wanted}
    per_type = {t: PRF() for t in types}
    outcomes: List[Tuple[str, MentionKey]] = []
    for key in sorted(gold | pred, key=_sort_key):
        counts = per_type[key[3]]
        if key in gold and key in pred:
            counts.tp += 1
            outcomes.append((TP, key))
        elif key in pred:
            counts.fp += 1
            outcomes.append((FP, key))
        else:
            counts.fn += 1
            outcomes.append((FN, key))
    micro = PRF()
    for counts in per_type.values():
        micro += counts
    return per_type, micro, outcomes


def _sort_key(key: MentionKey) -> Tuple[object, ...]:
    pmid = key[0]
    return (0, int(pmid), "", key[1:]) if _numeric(pmid) else (1, 0, pmid, key[1:])


def _numeric(pmid: str) -> bool:
    """ASCII digits only (``str.isdigit`` is also true of "²", which ``int`` rejects)."""
    return pmid.isascii() and pmid.isdigit()


def score_documents(
    gold: Iterable[Document], pred: Iterable[Document], types: Optional[Sequence[str]] = None
) -> MentionScores:
    """Score predicted documents against gold ones, mention by mention (BioCreative V CDR).

    ``types``: the mention types to score (others are ignored on both sides); ``None`` scores
    every type found in gold or predictions. Predicted documents absent from gold make false
    positives and are listed in ``pred_docs_not_in_gold``; gold documents absent from the
    predictions make false negatives and are listed in ``gold_docs_not_in_pred``. Documents whose
    text differs between the two sides (offsets then mean different things) are listed in
    ``text_mismatches``.
    """
    gold_keys, gold_texts = mention_keys(gold)
    pred_keys, pred_texts = mention_keys(pred)
    per_type, micro, outcomes = score_keys(gold_keys, pred_keys, types)
    return MentionScores(
        per_type=per_type,
        micro=micro,
        n_gold_docs=len(gold_texts),
        n_pred_docs=len(pred_texts),
        pred_docs_not_in_gold=_sorted_ids(set(pred_texts) - set(gold_texts)),
        gold_docs_not_in_pred=_sorted_ids(set(gold_texts) - set(pred_texts)),
        text_mismatches=_sorted_ids(
            p for p in set(gold_texts) & set(pred_texts) if gold_texts[p] != pred_texts[p]
        ),
        outcomes=outcomes,
    )


def _sorted_ids(ids: Iterable[str]) -> List[str]:
    return sorted(ids, key=lambda p: (0, int(p), "") if _numeric(p) else (1, 0, p))
