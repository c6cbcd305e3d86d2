"""A Chemical/Disease knowledge base for linking, built offline from the data mirror.

Sources (paths relative to the data folder):

- ``mesh/mesh_descriptor_terms.tsv.gz``: MeSH descriptors, one row per entry term
  (DescriptorUI, DescriptorName, TermName, tree tops). A descriptor under tree ``D`` is a
  Chemical; one under ``C`` or ``F03`` (mental disorders) is a Disease.
- ``ctd/CTD_diseases.tsv.gz``: CTD's disease vocabulary (MEDIC). Every row is a Disease; its
  name and ``|``-separated synonyms are aliases and its definition is kept. Ids are normalised
  as everywhere (:func:`spacy_bioner.vocabularies.normalise_id`: ``MESH:D003920`` -> ``D003920``,
  ``OMIM:`` ids as they are).
- ``mesh/{chemical,disease}_terms_lower.tsv.gz``: lower-cased term -> MeSH id dictionaries; a
  term adds an alias, and the file adds its type.
- optionally, annotated training documents: each mention text becomes an alias of its gold id.

Concepts that no source types as Chemical or Disease (anatomy, organisms, ...) are left out.
The result is a list of scispaCy :class:`~scispacy.linking_utils.Entity`, written as the jsonl
file that scispaCy's :class:`~scispacy.linking_utils.KnowledgeBase` reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Union

from scispacy.linking_utils import Entity, KnowledgeBase

from ..corpus.document import CorpusFormatError, Document
from ..vocabularies import CHEMICAL, DISEASE, mesh_types, normalise_id, read_term_dictionary, tsv_rows

PathLike = Union[str, Path]

MESH_TERMS = Path("mesh/mesh_descriptor_terms.tsv.gz")
CTD_DISEASES = Path("ctd/CTD_diseases.tsv.gz")
LOWER_TERMS = {CHEMICAL: Path("mesh/chemical_terms_lower.tsv.gz"), DISEASE: Path("mesh/disease_terms_lower.tsv.gz")}

MESH_HEADER = ["DescriptorUI", "DescriptorName", "TermName", "tree_tops"]
CTD_FIELDS = [
    "DiseaseName", "DiseaseID", "AltDiseaseIDs", "Definition", "ParentIDs",
    "TreeNumbers", "ParentTreeNumbers", "Synonyms", "SlimMappings",
]


def normalise_alias(text: str) -> str:
    """The form aliases are indexed and matched by: lower case, single spaces."""
    return " ".join(text.lower().split())


@dataclass
class _Concept:
    name: str
    aliases: Dict[str, None] = field(default_factory=dict)  # insertion-ordered set
    types: Set[str] = field(default_factory=set)
    definition: Optional[str] = None

    def entity(self, concept_id: str) -> Entity:
        return Entity(
            concept_id=concept_id,
            canonical_name=self.name,
            aliases=[a for a in self.aliases if a != self.name],
            types=sorted(self.types),
            definition=self.definition,
        )


class KBBuilder:
    """Collects concepts from several sources; the first source to name a concept names it."""

    def __init__(self) -> None:
        self.concepts: Dict[str, _Concept] = {}

    def add(
        self,
        concept_id: str,
        name: str,
        aliases: Iterable[str] = (),
        types: Iterable[str] = (),
        definition: Optional[str] = None,
    ) -> None:
        concept = self.concepts.get(concept_id)
        if concept is None:
            concept = self.concepts[concept_id] = _Concept(name)
        for alias in (name, *aliases):
            alias = alias.strip()
            if alias:
                concept.aliases.setdefault(alias, None)
        concept.types.update(types)
        if definition and not concept.definition:
            concept.definition = definition

    def entities(self) -> List[Entity]:
        """Typed concepts as scispaCy entities, in id order."""
        return [c.entity(cid) for cid, c in sorted(self.concepts.items()) if c.types]


def add_mesh_terms(builder: KBBuilder, path: PathLike) -> int:
    """Add MeSH descriptors (typed by tree top); returns the number of rows read."""
    path = Path(path)
    rows = tsv_rows(path)
    first = next(rows, None)
    if first is None or first[1] != MESH_HEADER:
        raise CorpusFormatError(path, first[0] if first else None, f"expected header {MESH_HEADER}")
    count = 0
    for lineno, cols in rows:
        if len(cols) != 4 or not cols[0] or not cols[1]:
            raise CorpusFormatError(path, lineno, f"expected 4 columns with an id and a name, got {cols!r}")
        ui, name, term, tops = cols
        builder.add(ui, name, [term], mesh_types(t for t in tops.split("|") if t))
        count += 1
    return count


def add_ctd_diseases(builder: KBBuilder, path: PathLike) -> int:
    """Add CTD's MEDIC diseases (all typed Disease); returns the number of rows read."""
    path = Path(path)
    count = 0
    for lineno, cols in tsv_rows(path):
        if len(cols) < 8 or not cols[0] or ":" not in cols[1]:
            raise CorpusFormatError(
                path, lineno, f"expected {len(CTD_FIELDS)} columns starting DiseaseName, DiseaseID (MESH:/OMIM:)"
            )
        synonyms = [s for s in cols[7].split("|") if s]
        builder.add(normalise_id(cols[1]), cols[0], synonyms, [DISEASE], cols[3] or None)
        count += 1
    return count


def add_lower_terms(builder: KBBuilder, path: PathLike, entity_type: str) -> int:
    """Add a lower-cased ``id<TAB>term`` dictionary whose terms are all of ``entity_type``."""
    count = 0
    for term, term_id in read_term_dictionary(path):
        builder.add(term_id, term, (), [entity_type])
        count += 1
    return count


def add_gold_aliases(builder: KBBuilder, documents: Iterable[Document], types: Iterable[str] = (CHEMICAL, DISEASE)) -> int:
    """Add annotated mention texts as aliases of their id (training data; never test data).

    Only mentions of ``types`` with exactly one id (not ``-1``, not composite) count; an id the
    KB lacks (e.g. a MeSH supplementary chemical) becomes a concept named by its first mention.
    Returns the number of mentions used.
    """
    wanted = set(types)
    count = 0
    for document in documents:
        for m in document.mentions:
            ids = [normalise_id(p) for i in m.ids for p in i.split("|") if p.strip()]
            if m.type not in wanted or len(ids) != 1 or ids[0] in ("", "-1") or not m.text.strip():
                continue
            builder.add(ids[0], m.text, [m.text], [m.type])
            count += 1
    return count


def build_entities(data_dir: PathLike, extra_documents: Iterable[Document] = ()) -> List[Entity]:
    """All Chemical and Disease concepts of the data mirror's MeSH, CTD and term dictionaries.

    ``extra_documents``: annotated documents whose mentions add aliases (:func:`add_gold_aliases`).
    """
    data_dir = Path(data_dir)
    builder = KBBuilder()
    add_mesh_terms(builder, data_dir / MESH_TERMS)
    add_ctd_diseases(builder, data_dir / CTD_DISEASES)
    for entity_type, rel in LOWER_TERMS.items():
        add_lower_terms(builder, data_dir / rel, entity_type)
    add_gold_aliases(builder, extra_documents)
    return builder.entities()


def write_entities(entities: Iterable[Entity], path: PathLike) -> int:
    """Write entities as scispaCy's jsonl (one ``Entity._asdict()`` per line); returns the count."""
    path = Path(path)
    if path.suffix != ".jsonl":
        raise ValueError(f"{path}: scispaCy reads a knowledge base only from a file ending .jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for entity in entities:
            handle.write(json.dumps(entity._asdict(), ensure_ascii=False) + "\n")
            count += 1
    return count


class BioKnowledgeBase(KnowledgeBase):
    """scispaCy's KnowledgeBase that also maps every alias's normalised form to its concepts.

    The index stores normalised aliases (:func:`normalise_alias`), so that ``Dopamine`` and
    ``dopamine`` are one index entry whose concepts are looked up in ``alias_to_cuis``.
    """

    def __init__(self, file_path: Union[str, Path, Iterable[Entity]]) -> None:
        if isinstance(file_path, (str, Path)) and not Path(file_path).is_file():
            raise FileNotFoundError(f"{file_path}: knowledge-base jsonl file not found")
        try:
            super().__init__(str(file_path) if isinstance(file_path, Path) else file_path)
        except (json.JSONDecodeError, TypeError) as err:
            raise ValueError(f"{file_path}: not a scispaCy knowledge-base jsonl file ({err})") from err
        for alias, cuis in list(self.alias_to_cuis.items()):
            key = normalise_alias(alias)
            if key != alias:
                self.alias_to_cuis.setdefault(key, set()).update(cuis)

    def types_of(self, concept_id: str) -> List[str]:
        return list(self.cui_to_entity[concept_id].types)

    def index_aliases(self) -> List[str]:
        """The distinct normalised aliases, sorted: what the TF-IDF index holds."""
        return sorted({normalise_alias(a) for a in self.alias_to_cuis} - {""})


__all__ = [
    "CHEMICAL",
    "DISEASE",
    "BioKnowledgeBase",
    "KBBuilder",
    "add_ctd_diseases",
    "add_gold_aliases",
    "add_lower_terms",
    "add_mesh_terms",
    "build_entities",
    "mesh_types",
    "normalise_alias",
    "normalise_id",
    "write_entities",
]
