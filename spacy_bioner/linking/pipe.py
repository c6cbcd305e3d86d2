"""The ``bioner_linker`` pipeline component: scispaCy-style entity linking over our MeSH/CTD index.

For each entity of ``doc.ents`` it sets scispaCy's ``ent._.kb_ents`` (a list of ``(concept_id,
score)``, best first, scores above ``threshold``, at most ``max_entities_per_mention``), restricted
to the concept type that ``type_map`` gives the entity's label (``Chemical`` -> chemical concepts,
``Disease`` -> disease concepts; labels not in the map are unrestricted). With
``resolve_abbreviations`` and scispaCy's ``abbreviation_detector`` earlier in the pipeline, an
abbreviation is linked by its long form's text, as scispaCy's EntityLinker does. With
``set_kb_id`` the top concept also becomes ``ent.kb_id_`` ("" when there is none).

The index folder (``link build-kb``) is named by ``index_path`` and loaded on first use;
``nlp.to_disk`` copies it into the pipeline folder and ``spacy.load`` reads it from there, so a
saved pipeline needs no path outside itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import minibatch

from .evaluate import DEFAULT_TYPE_MAP

if TYPE_CHECKING:
    from .kb import BioKnowledgeBase
    from .linker import Scored, TypedLinker

# The index, the knowledge base and the linker (nmslib, scikit-learn via scispaCy's candidate
# generator) are imported when a linker is built or loaded, not when spaCy registers the factory:
# spaCy imports every installed factory on its first Language, so these imports would otherwise
# slow down every spacy.blank / spacy.load in an environment with spacy_bioner installed.

DEFAULT_CONFIG: Dict[str, Any] = {
    "index_path": None,
    "k": 30,
    "threshold": 0.7,
    "max_entities_per_mention": 5,
    "resolve_abbreviations": True,
    "restrict_types": True,
    "type_map": dict(DEFAULT_TYPE_MAP),
    "ef_search": 200,
    "set_kb_id": True,
}


class BioNerLinker:
    """Links ``doc.ents`` to MeSH/CTD concepts; see the module docstring."""

    def __init__(
        self,
        nlp: Language,
        name: str = "bioner_linker",
        *,
        index_path: Optional[Union[str, Path]] = None,
        k: int = 30,
        threshold: float = 0.7,
        max_entities_per_mention: int = 5,
        resolve_abbreviations: bool = True,
        restrict_types: bool = True,
        type_map: Optional[Dict[str, str]] = None,
        ef_search: int = 200,
        set_kb_id: bool = True,
    ) -> None:
        Span.set_extension("kb_ents", default=[], force=True)
        self.name = name
        self.index_dir: Optional[Path] = Path(index_path) if index_path else None
        self.k = k
        self.threshold = threshold
        self.max_entities_per_mention = max_entities_per_mention
        self.resolve_abbreviations = resolve_abbreviations
        self.restrict_types = restrict_types
        self.type_map = dict(DEFAULT_TYPE_MAP if type_map is None else type_map)
        self.ef_search = ef_search
        self.set_kb_id = set_kb_id
        self._linker: Optional[TypedLinker] = None

    # -- loading ---------------------------------------------------------------------------
    @property
    def linker(self) -> TypedLinker:
        """The loaded linker (the index is read on first use)."""
        if self._linker is None:
            if self.index_dir is None:
                raise ValueError(
                    f"{self.name}: no linking index; set the config's index_path to a folder made by "
                    "`python -m spacy_bioner link build-kb`, or load a saved pipeline"
                )
            from .index import load_index
            from .linker import TypedLinker

            generator = load_index(self.index_dir, ef_search=self.ef_search)
            self._linker = TypedLinker(
                generator, k=self.k, threshold=self.threshold,
                max_entities_per_mention=self.max_entities_per_mention,
            )
        return self._linker

    @property
    def kb(self) -> BioKnowledgeBase:
        """The knowledge base, as scispaCy's ``linker.kb`` (``kb.cui_to_entity[id]``)."""
        return self.linker.kb

    @property
    def candidate_generator(self):  # noqa: ANN201 - scispaCy's CandidateGenerator
        return self.linker.generator

    def initialize(self, get_examples: Any = None, *, nlp: Optional[Language] = None, index_path: Optional[str] = None) -> None:
        """Load the index (from ``index_path`` when given, else the configured one)."""
        if index_path is not None:
            self.index_dir = Path(index_path)
            self._linker = None
        self.linker  # noqa: B018 - load now, so a bad path fails here

    # -- processing ------------------------------------------------------------------------
    def __call__(self, doc: Doc) -> Doc:
        self._link([doc])
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        for batch in minibatch(stream, size=batch_size):
            self._link(batch)
            yield from batch

    def mention_text(self, ent: Span) -> str:
        """The text to link: the long form of an abbreviation (when resolving), else the text."""
        if self.resolve_abbreviations and Doc.has_extension("abbreviations") and Span.has_extension("long_form"):
            long_form = ent._.long_form
            if isinstance(long_form, Span):
                return long_form.text
            if isinstance(long_form, str) and long_form:
                return long_form
        return ent.text

    def _link(self, docs: Sequence[Doc]) -> None:
        linker = self.linker  # fails with a clear message when no index is configured, ents or not
        texts: List[str] = []
        types: List[Optional[str]] = []
        for doc in docs:
            for ent in doc.ents:
                texts.append(self.mention_text(ent))
                types.append(self.type_map.get(ent.label_) if self.restrict_types else None)
        results: List[List[Scored]] = linker.link(texts, types) if texts else []
        position = 0
        for doc in docs:
            ents = list(doc.ents)
            chosen = results[position: position + len(ents)]
            position += len(ents)
            for ent, cands in zip(ents, chosen):
                ent._.kb_ents = list(cands)
            if self.set_kb_id and ents:
                doc.ents = [
                    Span(doc, ent.start, ent.end, label=ent.label, kb_id=cands[0][0] if cands else "", span_id=ent.id)
                    for ent, cands in zip(ents, chosen)
                ]

    # -- serialisation ---------------------------------------------------------------------
    def to_disk(self, path: Union[str, Path], *, exclude: Tuple[str, ...] = tuple()) -> None:
        """Copy the index folder's files into ``path`` (the component's folder of a pipeline)."""
        if self.index_dir is None:
            raise ValueError(f"{self.name}: cannot save a linker without an index (index_path is not set)")
        from .index import copy_index

        copy_index(self.index_dir, path)

    def from_disk(self, path: Union[str, Path], *, exclude: Tuple[str, ...] = tuple()) -> "BioNerLinker":
        """Use the index saved in ``path`` (a pipeline's component folder) and load it."""
        from .index import check_index_dir

        self.index_dir = check_index_dir(path)
        self._linker = None
        self.linker  # noqa: B018
        return self


@Language.factory("bioner_linker", default_config=DEFAULT_CONFIG)
def make_bioner_linker(
    nlp: Language,
    name: str,
    index_path: Optional[str],
    k: int,
    threshold: float,
    max_entities_per_mention: int,
    resolve_abbreviations: bool,
    restrict_types: bool,
    type_map: Dict[str, str],
    ef_search: int,
    set_kb_id: bool,
) -> BioNerLinker:
    """Factory of the ``bioner_linker`` component (entry point in setup.cfg)."""
    return BioNerLinker(
        nlp, name, index_path=index_path, k=k, threshold=threshold,
        max_entities_per_mention=max_entities_per_mention, resolve_abbreviations=resolve_abbreviations,
        restrict_types=restrict_types, type_map=type_map, ef_search=ef_search, set_kb_id=set_kb_id,
    )


__all__ = ["BioNerLinker", "DEFAULT_CONFIG", "make_bioner_linker"]
