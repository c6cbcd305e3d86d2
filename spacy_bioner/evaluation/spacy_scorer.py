"""The BioCreative mention-level measure as a spaCy scorer, for pipe configs and ``nlp.evaluate``.

Use it in a pipe's config: ``scorer = {"@scorers":"spacy_bioner.mention_scorer.v1"}``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional, Set

import spacy
from spacy.training import Example

from .scorer import MentionKey, score_keys


def _keys(doc_id: str, doc: spacy.tokens.Doc) -> Set[MentionKey]:
    return {(doc_id, e.start_char, e.end_char, e.label_) for e in doc.ents}


def score_mentions(
    examples: Iterable[Example], types: Optional[List[str]] = None, **kwargs: Any
) -> Dict[str, Any]:
    """``ents_p/r/f`` (micro, fractions) and ``ents_per_type`` from reference vs predicted ents.

    Each example is its own document; entities match on (start_char, end_char, label).
    Undefined ratios are 0.0. Extra keyword arguments (spaCy passes some) are ignored.
    """
    gold: Set[MentionKey] = set()
    pred: Set[MentionKey] = set()
    for i, eg in enumerate(examples):
        gold |= _keys(str(i), eg.reference)
        pred |= _keys(str(i), eg.predicted)
    per_type, micro, _ = score_keys(gold, pred, types)
    return {
        "ents_p": micro.p,
        "ents_r": micro.r,
        "ents_f": micro.f,
        "ents_per_type": {t: {"p": s.p, "r": s.r, "f": s.f} for t, s in per_type.items()},
    }


@spacy.registry.scorers("spacy_bioner.mention_scorer.v1")
def make_mention_scorer(
    types: Optional[List[str]] = None,
) -> Callable[..., Dict[str, Any]]:
    """A scorer function for spaCy; ``types`` limits scoring to those labels (default: all)."""

    def scorer(examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        return score_mentions(examples, types=types, **kwargs)

    return scorer
