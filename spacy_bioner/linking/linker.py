"""Typed candidate ranking over a scispaCy CandidateGenerator.

Scores are scispaCy's EntityLinker scores: a concept's score is the highest cosine similarity
(char 3-gram TF-IDF) between the mention text and any of its aliases among the k nearest
neighbours. What this adds:

- type restriction: a mention typed ``Chemical`` gets only concepts typed ``Chemical`` (and
  likewise ``Disease``); untyped mentions (``None``) get every concept. When fewer than
  ``max_entities_per_mention`` candidates of the type are among the k neighbours, the mention is
  looked up again with ``k * widen`` neighbours;
- exact matches: a concept with an alias equal to the (normalised) mention scores 1.0 even when
  the approximate index missed that alias (``exact_match``; the index also scores it ~1.0);
- a deterministic order for equal scores (compared to 5 decimals) (many aliases belong to several concepts): first a
  concept whose canonical name is the mention (normalised), then MeSH descriptors (``D...``)
  before supplementary records (``C...``) before other vocabularies (``OMIM:...``), then id.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from scispacy.candidate_generation import CandidateGenerator, MentionCandidate

from .kb import BioKnowledgeBase, normalise_alias

Scored = Tuple[str, float]


def source_rank(concept_id: str) -> int:
    """0 for a MeSH descriptor, 1 for a MeSH supplementary record, 2 for anything else."""
    if concept_id[:1] == "D" and concept_id[1:].isdigit():
        return 0
    if concept_id[:1] == "C" and concept_id[1:].isdigit():
        return 1
    return 2


class TypedLinker:
    """Ranks KB concepts for mention strings, restricted to each mention's KB type."""

    def __init__(
        self,
        generator: CandidateGenerator,
        *,
        k: int = 30,
        threshold: float = 0.7,
        max_entities_per_mention: int = 5,
        widen: int = 4,
        exact_match: bool = True,
    ) -> None:
        if k < 1 or max_entities_per_mention < 1 or widen < 1:
            raise ValueError("k, max_entities_per_mention and widen must be positive")
        self.generator = generator
        self.k = k
        self.threshold = threshold
        self.max_entities_per_mention = max_entities_per_mention
        self.widen = widen
        self.exact_match = exact_match

    @property
    def kb(self) -> BioKnowledgeBase:
        return self.generator.kb  # type: ignore[return-value]

    def rank(self, texts: Sequence[str], types: Sequence[Optional[str]]) -> List[List[Scored]]:
        """Every candidate of the right type, best first, with its score (no threshold)."""
        if len(texts) != len(types):
            raise ValueError(f"{len(texts)} mention texts but {len(types)} types")
        ranked = self._rank_batch(texts, types, self.k)
        retry = [
            i for i, cands in enumerate(ranked)
            if types[i] is not None and len(cands) < self.max_entities_per_mention
        ]
        if retry and self.widen > 1:
            wider = self._rank_batch([texts[i] for i in retry], [types[i] for i in retry], self.k * self.widen)
            for i, cands in zip(retry, wider):
                ranked[i] = cands
        return ranked

    def link(self, texts: Sequence[str], types: Sequence[Optional[str]]) -> List[List[Scored]]:
        """Candidates scoring above ``threshold``, at most ``max_entities_per_mention`` each."""
        return [
            [c for c in cands if c[1] > self.threshold][: self.max_entities_per_mention]
            for cands in self.rank(texts, types)
        ]

    def _rank_batch(self, texts: Sequence[str], types: Sequence[Optional[str]], k: int) -> List[List[Scored]]:
        queries = [normalise_alias(t) for t in texts]
        batch = self.generator(queries, k) if queries else []
        return [self._order(query, etype, cands) for query, etype, cands in zip(queries, types, batch)]

    def _order(self, query: str, etype: Optional[str], cands: List[MentionCandidate]) -> List[Scored]:
        entities = self.kb.cui_to_entity
        scores = {cand.concept_id: max(cand.similarities) for cand in cands}
        if self.exact_match:
            for concept_id in self.kb.alias_to_cuis.get(query, ()):
                scores[concept_id] = 1.0
        keyed = []
        for concept_id, score in scores.items():
            entity = entities[concept_id]
            if etype is not None and etype not in entity.types:
                continue
            named = normalise_alias(entity.canonical_name) == query
            keyed.append(((-round(score, 5), not named, source_rank(concept_id), concept_id), score))
        keyed.sort(key=lambda pair: pair[0])
        return [(key[3], score) for key, score in keyed]


__all__ = ["Scored", "TypedLinker", "source_rank"]
