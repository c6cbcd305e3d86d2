"""Entity linking of Chemical and Disease mentions to MeSH / CTD concepts, scispaCy-style.

- :mod:`.kb`: the knowledge base built offline from the data mirror (scispaCy ``Entity`` jsonl);
- :mod:`.index`: the char 3-gram TF-IDF + nmslib HNSW alias index, in scispaCy's file layout;
- :mod:`.linker`: typed candidate ranking over scispaCy's ``CandidateGenerator``;
- :mod:`.pipe`: the ``bioner_linker`` spaCy component (sets scispaCy's ``ent._.kb_ents``);
- :mod:`.evaluate`: gold-mention normalisation accuracy and end-to-end mention + id scores.

Importing this package also registers scispaCy's ``abbreviation_detector`` factory.
"""

import importlib
from typing import Any

import scispacy.abbreviation  # noqa: F401  (registers the "abbreviation_detector" factory)

from .evaluate import (
    DEFAULT_TYPE_MAP,
    EndToEndScores,
    NormalisationScores,
    end_to_end,
    evaluate_normalisation,
    gold_ids,
)
from .kb import BioKnowledgeBase, build_entities, normalise_alias, normalise_id, write_entities
from .pipe import BioNerLinker, make_bioner_linker

# nmslib and scikit-learn (through scispaCy's candidate generator) load on first use of these
# names: spaCy imports this package whenever it registers the bioner_linker factory.
_LAZY = {"IndexParams": "index", "build_index": "index", "copy_index": "index", "load_index": "index",
         "TypedLinker": "linker"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_TYPE_MAP",
    "BioKnowledgeBase",
    "BioNerLinker",
    "EndToEndScores",
    "IndexParams",
    "NormalisationScores",
    "TypedLinker",
    "build_entities",
    "build_index",
    "copy_index",
    "end_to_end",
    "evaluate_normalisation",
    "gold_ids",
    "load_index",
    "make_bioner_linker",
    "normalise_alias",
    "normalise_id",
    "write_entities",
]
