"""Linking evaluation: normalisation of gold mentions, and end-to-end mention + id scoring.

Gold ids: ``MESH:`` prefixes are dropped; a composite id (``D1|D2``, read as ``("D1", "D2")``;
also ``D1+D2``) is a set of parts and a prediction is right when it is ANY part. A mention
whose only id is ``-1`` (or none) is unnormalisable: it is counted apart and not scored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple

from spacy.language import Language

from ..corpus.document import Document, Mention
from ..evaluation.scorer import PRF
from ..vocabularies import normalise_id

if TYPE_CHECKING:  # scispaCy's candidate generator imports scikit-learn: only when linking runs
    from .linker import TypedLinker

DEFAULT_TYPE_MAP: Dict[str, str] = {"Chemical": "Chemical", "Disease": "Disease"}
UNNORMALISED = "-1"


def gold_ids(mention: Mention) -> FrozenSet[str]:
    """A gold mention's ids as a set of parts, without ``-1`` and empty ids."""
    parts = {normalise_id(p) for i in mention.ids for piece in i.split("|") for p in piece.split("+")}
    return frozenset(p for p in parts if p and p != UNNORMALISED)


@dataclass
class NormCounts:
    """Counts of one mention type: accuracy = hits at rank 1 / evaluated mentions."""

    mentions: int = 0
    unnormalisable: int = 0
    evaluated: int = 0
    gold_in_kb: int = 0
    no_candidate: int = 0
    hits: Dict[int, int] = field(default_factory=dict)

    def accuracy(self) -> float:
        return self.recall_at(1)

    def recall_at(self, k: int) -> float:
        return self.hits.get(k, 0) / self.evaluated if self.evaluated else 0.0

    def add(self, other: "NormCounts") -> None:
        self.mentions += other.mentions
        self.unnormalisable += other.unnormalisable
        self.evaluated += other.evaluated
        self.gold_in_kb += other.gold_in_kb
        self.no_candidate += other.no_candidate
        for k, n in other.hits.items():
            self.hits[k] = self.hits.get(k, 0) + n

    def to_dict(self, ks: Sequence[int]) -> Dict[str, object]:
        out: Dict[str, object] = {
            "mentions": self.mentions,
            "unnormalisable": self.unnormalisable,
            "evaluated": self.evaluated,
            "gold_in_kb": self.gold_in_kb,
            "no_candidate": self.no_candidate,
            "accuracy": self.accuracy(),
        }
        for k in ks:
            out[f"recall@{k}"] = self.recall_at(k)
        return out


@dataclass
class NormalisationScores:
    """Gold-mention normalisation per type and over all types."""

    per_type: Dict[str, NormCounts]
    ks: Tuple[int, ...]
    settings: Dict[str, object] = field(default_factory=dict)

    @property
    def overall(self) -> NormCounts:
        total = NormCounts()
        for counts in self.per_type.values():
            total.add(counts)
        return total

    def to_dict(self) -> Dict[str, object]:
        return {
            "per_type": {t: c.to_dict(self.ks) for t, c in self.per_type.items()},
            "overall": self.overall.to_dict(self.ks),
            "settings": dict(self.settings),
            "notes": "accuracy = top candidate is a gold id (composite ids: any part) over mentions "
            "with a gold id; unnormalisable (-1) mentions are counted apart; gold_in_kb = mentions "
            "with a gold id present in the KB (the accuracy ceiling)",
        }

    def table(self) -> str:
        header = ["type", "mentions", "-1", "evaluated", "in KB", "acc"] + [f"R@{k}" for k in self.ks if k != 1]
        rows = [self._row(t, c) for t, c in self.per_type.items()]
        rows.append(self._row("all", self.overall))
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        fmt = lambda row: "  ".join(  # noqa: E731
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
        )
        rule = "-" * len(fmt(header))
        return "\n".join([fmt(header), rule] + [fmt(r) for r in rows[:-1]] + [rule, fmt(rows[-1])])

    def _row(self, name: str, c: NormCounts) -> List[str]:
        pct = lambda x: f"{100 * x:.2f}"  # noqa: E731
        return [name, str(c.mentions), str(c.unnormalisable), str(c.evaluated), str(c.gold_in_kb),
                pct(c.accuracy())] + [pct(c.recall_at(k)) for k in self.ks if k != 1]


def abbreviation_long_forms(nlp: Language, documents: Sequence[Document]) -> Dict[Tuple[str, int, int], str]:
    """(pmid, start, end) of every abbreviation that ``nlp`` finds -> its long form's text.

    ``nlp`` must end with scispaCy's ``abbreviation_detector``.
    """
    long_forms: Dict[Tuple[str, int, int], str] = {}
    for document, doc in zip(documents, nlp.pipe(d.text for d in documents)):
        for short in doc._.abbreviations:
            long_form = short._.long_form
            text = long_form if isinstance(long_form, str) else getattr(long_form, "text", None)
            if text:
                long_forms[(document.pmid, short.start_char, short.end_char)] = text
    return long_forms


def evaluate_normalisation(
    linker: TypedLinker,
    gold_docs: Iterable[Document],
    *,
    ks: Sequence[int] = (1, 5),
    types: Optional[Sequence[str]] = None,
    type_map: Optional[Mapping[str, str]] = DEFAULT_TYPE_MAP,
    threshold: Optional[float] = None,
    abbreviation_nlp: Optional[Language] = None,
) -> NormalisationScores:
    """Link every gold mention's text and count how often a gold id comes first / in the top k.

    ``type_map`` maps mention types to KB types for the type restriction (``None``: no
    restriction); ``threshold`` defaults to the linker's (candidates at or below it do not count);
    ``abbreviation_nlp`` (a pipeline ending with ``abbreviation_detector``) makes abbreviations
    be linked by their long form, as the ``bioner_linker`` pipe does.
    """
    documents = list(gold_docs)
    ks = tuple(sorted(set(ks) | {1}))
    threshold = linker.threshold if threshold is None else threshold
    long_forms = abbreviation_long_forms(abbreviation_nlp, documents) if abbreviation_nlp else {}
    wanted = set(types) if types is not None else None
    per_type: Dict[str, NormCounts] = {}
    queries: List[Tuple[str, Optional[str]]] = []
    golds: List[Tuple[str, FrozenSet[str]]] = []
    for document in documents:
        for m in document.mentions:
            if wanted is not None and m.type not in wanted:
                continue
            counts = per_type.setdefault(m.type, NormCounts())
            counts.mentions += 1
            ids = gold_ids(m)
            if not ids:
                counts.unnormalisable += 1
                continue
            counts.evaluated += 1
            counts.gold_in_kb += any(i in linker.kb.cui_to_entity for i in ids)
            text = long_forms.get((document.pmid, m.start, m.end), m.text)
            queries.append((text, type_map.get(m.type) if type_map is not None else None))
            golds.append((m.type, ids))
    ranked = linker.rank([q[0] for q in queries], [q[1] for q in queries]) if queries else []
    for (mtype, ids), cands in zip(golds, ranked):
        counts = per_type[mtype]
        top = [cid for cid, score in cands if score > threshold][: max(ks)]
        if not top:
            counts.no_candidate += 1
        for k in ks:
            if any(cid in ids for cid in top[:k]):
                counts.hits[k] = counts.hits.get(k, 0) + 1
    settings = {
        "k": linker.k,
        "threshold": threshold,
        "type_restriction": type_map is not None,
        "abbreviations": abbreviation_nlp is not None,
        "abbreviations_resolved": len(long_forms),
    }
    return NormalisationScores(dict(sorted(per_type.items())), ks, settings)


@dataclass
class EndToEndScores:
    """Mention + id scores: a true positive has the gold (pmid, start, end, type) and a gold id."""

    per_type: Dict[str, PRF]
    unnormalisable_gold: int = 0

    @property
    def micro(self) -> PRF:
        total = PRF()
        for counts in self.per_type.values():
            total += counts
        return total

    def to_dict(self) -> Dict[str, object]:
        return {
            "per_type": {t: s.to_dict() for t, s in self.per_type.items()},
            "micro": self.micro.to_dict(),
            "unnormalisable_gold": self.unnormalisable_gold,
        }


def end_to_end(
    gold_docs: Iterable[Document], pred_docs: Iterable[Document], types: Optional[Sequence[str]] = None
) -> EndToEndScores:
    """Score predicted mentions whose ``ids[0]`` is the predicted (top) id against gold.

    TP: the prediction's (pmid, start, end, type) is a gold mention's and its id is one of that
    mention's gold ids (any part of a composite). FP: any other prediction (one without an id
    too). FN: a normalisable gold mention without such a prediction. Gold mentions with only
    ``-1`` are left out, and so are predictions on exactly their span and type.
    """
    gold: Dict[Tuple[str, int, int, str], FrozenSet[str]] = {}
    unnormalisable = set()
    for document in gold_docs:
        for m in document.mentions:
            key = (document.pmid, m.start, m.end, m.type)
            ids = gold_ids(m)
            if ids:
                gold[key] = gold.get(key, frozenset()) | ids
            else:
                unnormalisable.add(key)
    unnormalisable -= set(gold)
    pred: Dict[Tuple[str, int, int, str], Optional[str]] = {}
    for document in pred_docs:
        for m in document.mentions:
            key = (document.pmid, m.start, m.end, m.type)
            if key not in pred or pred[key] is None:
                pred[key] = normalise_id(m.ids[0]) if m.ids and m.ids[0] else None
    if types is None:
        types = sorted({k[3] for k in gold} | {k[3] for k in pred} | {k[3] for k in unnormalisable})
    per_type = {t: PRF() for t in types}
    for key, pid in pred.items():
        if key[3] not in per_type or key in unnormalisable:
            continue
        if pid is not None and pid in gold.get(key, frozenset()):
            per_type[key[3]].tp += 1
        else:
            per_type[key[3]].fp += 1
    for key, ids in gold.items():
        if key[3] in per_type and not (pred.get(key) in ids):
            per_type[key[3]].fn += 1
    n_unnormalisable = sum(1 for k in unnormalisable if k[3] in per_type)
    return EndToEndScores(per_type, n_unnormalisable)


__all__ = [
    "DEFAULT_TYPE_MAP",
    "EndToEndScores",
    "NormCounts",
    "NormalisationScores",
    "abbreviation_long_forms",
    "end_to_end",
    "evaluate_normalisation",
    "gold_ids",
]
