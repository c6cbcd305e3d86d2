"""Knowledge bases for the accuracy set (CDWA): which chemicals and diseases belong to a PMID.

Sources (METHOD.md section 1):

- CTD chemical–disease pairs per PMID, either from ChemDisGene's relationship files
  (``pmid<TAB>relation<TAB>id<TAB>id``; the order of the two ids is not reliable, so chemical and
  disease are told apart by vocabulary) or from CTD's own ``CTD_chemicals_diseases.tsv.gz``;
- the CTD disease vocabulary (MEDIC, ``CTD_diseases.tsv.gz``) and MeSH descriptors (names,
  entry terms, tree tops), which type the ids;
- MeSH indexing per PMID (a mapping that a caller fills, e.g. from E-utilities).

The vocabularies, the MeSH indexing and id normalisation come from :mod:`spacy_bioner.vocabularies`
(shared with linking); their names are importable from here too.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple, Union

from ..corpus.document import CorpusFormatError, Mention
from ..vocabularies import (  # re-exported: the weak labelling's names for them
    CHEMICAL,
    DISEASE,
    DiseaseVocabulary,
    MeshIndexing,
    MeshVocabulary,
    is_supplementary,
    normalise_id,
    open_text,
    read_term_dictionary,
    split_ids,
    tsv_rows,
)

PathLike = Union[str, Path]
#: ChemDisGene relation kinds that :meth:`KnowledgeBase.load_chemdisgene` understands.
RELATION_KINDS = ("chem_disease", "chem_gene", "gene_disease")


# --------------------------------------------------------------------------------------------
# Per-PMID entities


@dataclass
class PmidEntities:
    """The ids the knowledge bases associate with one PMID; ``untyped`` match either type."""

    chemicals: Set[str] = field(default_factory=set)
    diseases: Set[str] = field(default_factory=set)
    untyped: Set[str] = field(default_factory=set)

    def ids_for(self, mention_type: str) -> Set[str]:
        if mention_type == CHEMICAL:
            return self.chemicals
        if mention_type == DISEASE:
            return self.diseases
        return set()

    def __len__(self) -> int:
        return len(self.chemicals) + len(self.diseases) + len(self.untyped)


@dataclass
class KBLoadReport:
    """What loading the pair files did: rows read, pairs kept, how the id order was decided."""

    rows: int = 0
    pairs: int = 0
    skipped_relations: Counter = field(default_factory=Counter)
    order: Counter = field(default_factory=Counter)  # as_given / swapped / ambiguous
    indexing_ids: int = 0
    files: List[str] = field(default_factory=list)

    def to_dict(self) -> Dict[str, object]:
        return {"files": list(self.files), "rows": self.rows, "pairs": self.pairs,
                "skipped_relations": dict(self.skipped_relations), "order": dict(self.order),
                "indexing_ids": self.indexing_ids}


class KnowledgeBase:
    """Chemical and disease ids per PMID from CTD pairs and MeSH indexing, typed by vocabulary.

    A mention is *supported* when one of its normalised ids (or, for diseases, the MEDIC primary
    id of one) is among the ids of its type for its PMID, or among the untyped ones.
    """

    def __init__(self, diseases: Optional[DiseaseVocabulary] = None,
                 mesh: Optional[MeshVocabulary] = None) -> None:
        self.diseases = diseases or DiseaseVocabulary()
        self.mesh = mesh
        self.pmids: Dict[str, PmidEntities] = {}
        self.report = KBLoadReport()

    # -- typing ids -------------------------------------------------------------------------
    def role(self, entity_id: str) -> Optional[str]:
        """``Disease``, ``Chemical`` or ``None`` (unknown) for a normalised id."""
        if entity_id in self.diseases:
            return DISEASE
        if self.mesh is not None:
            category = self.mesh.category(entity_id)
            if category is not None:
                return category
        if is_supplementary(entity_id) or entity_id.startswith("CHEBI:"):
            return CHEMICAL  # a supplementary record not in MEDIC is a chemical one
        if entity_id.startswith(("OMIM:", "DO:")):
            return DISEASE
        return None

    def _entities(self, pmid: str) -> PmidEntities:
        entities = self.pmids.get(pmid)
        if entities is None:
            entities = self.pmids[sys.intern(pmid)] = PmidEntities()
        return entities

    def add_pair(self, pmid: str, first: str, second: str) -> str:
        """Add one chemical–disease pair whose column order is unknown; returns the decision
        (``as_given`` = first is the chemical, ``swapped``, ``ambiguous`` = both kept untyped)."""
        a, b = normalise_id(first), normalise_id(second)
        if not a or not b:
            raise ValueError(f"PMID {pmid}: pair ({first!r}, {second!r}) lacks an id")
        ra, rb = self.role(a), self.role(b)
        entities = self._entities(pmid)
        if (rb == DISEASE and ra != DISEASE) or (ra == CHEMICAL and rb != CHEMICAL):
            chem, dis, decision = a, b, "as_given"
        elif (ra == DISEASE and rb != DISEASE) or (rb == CHEMICAL and ra != CHEMICAL):
            chem, dis, decision = b, a, "swapped"
        else:
            entities.untyped.update((sys.intern(a), sys.intern(b)))
            self.report.order["ambiguous"] += 1
            return "ambiguous"
        entities.chemicals.add(sys.intern(chem))
        entities.diseases.add(sys.intern(self.diseases.canonical(dis)))
        self.report.order[decision] += 1
        return decision

    def add_indexing(self, pmid: str, ids: Iterable[str]) -> None:
        """Add MeSH indexing terms of one article, typed by vocabulary where possible."""
        entities = self._entities(str(pmid))
        for entity_id in split_ids(ids):
            role = self.role(entity_id)
            target = {CHEMICAL: entities.chemicals, DISEASE: entities.diseases}.get(
                role or "", entities.untyped)
            target.add(sys.intern(self.diseases.canonical(entity_id) if role == DISEASE
                                  else entity_id))
            self.report.indexing_ids += 1

    def add_mesh_indexing(self, indexing: MeshIndexing) -> None:
        for pmid, ids in indexing.items():
            self.add_indexing(pmid, ids)

    # -- loading pair files -----------------------------------------------------------------
    def load_pairs(self, path: PathLike, **kwargs: object) -> int:
        """Load a pair file of either supported format (detected from its first lines)."""
        fmt = detect_pair_format(path)
        if fmt == "ctd":
            return self.load_ctd_chemicals_diseases(path, **kwargs)  # type: ignore[arg-type]
        return self.load_chemdisgene(path, **kwargs)  # type: ignore[arg-type]

    def add_gene_partner(self, pmid: str, first: str, second: str, role: str) -> None:
        """Add the non-gene id of a chem_gene or gene_disease row (a gene id is a bare Entrez
        number) as a chemical or disease of the PMID."""
        ids = [normalise_id(first), normalise_id(second)]
        entities = [i for i in ids if i and not i.isdigit()]
        if len(entities) != 1:
            raise ValueError(f"PMID {pmid}: expected one gene (a number) and one MeSH id in "
                             f"({first!r}, {second!r})")
        target = self._entities(pmid)
        if role == CHEMICAL:
            target.chemicals.add(sys.intern(entities[0]))
        else:
            target.diseases.add(sys.intern(self.diseases.canonical(entities[0])))
        self.report.order["gene_partner"] += 1

    def load_chemdisgene(self, path: PathLike,
                         relations: Tuple[str, ...] = ("chem_disease",)) -> int:
        """ChemDisGene relationship rows ``pmid, relation, id, id``; keeps rows whose relation
        kind (``chem_disease``; the curated file's ``chem^disease`` is read the same) is in
        ``relations``. ``chem_gene`` and ``gene_disease`` may be added: their chemical or disease
        id then joins the PMID's ids too. Returns the number of rows used."""
        self.report.files.append(str(path))
        added = 0
        for lineno, fields in tsv_rows(path):
            if len(fields) != 4:
                raise CorpusFormatError(path, lineno, "expected 4 tab-separated fields "
                                        f"(pmid, relation, id, id), got {len(fields)}")
            pmid, relation = fields[0].strip(), fields[1].strip().replace("^", "_")
            if not pmid.isdigit():
                raise CorpusFormatError(path, lineno, f"PMID {pmid!r} is not a number")
            self.report.rows += 1
            kind = relation.split(":", 1)[0]
            if kind not in relations or kind not in RELATION_KINDS:
                self.report.skipped_relations[kind] += 1
                continue
            try:
                if kind == "chem_gene":
                    self.add_gene_partner(pmid, fields[2], fields[3], CHEMICAL)
                elif kind == "gene_disease":
                    self.add_gene_partner(pmid, fields[2], fields[3], DISEASE)
                else:
                    self.add_pair(pmid, fields[2], fields[3])
            except ValueError as err:
                raise CorpusFormatError(path, lineno, str(err)) from None
            added += 1
        self.report.pairs += added
        return added

    def load_ctd_chemicals_diseases(self, path: PathLike, direct_only: bool = True) -> int:
        """CTD's ``CTD_chemicals_diseases.tsv.gz`` (ChemicalName, ChemicalID, CasRN, DiseaseName,
        DiseaseID, DirectEvidence, InferenceGeneSymbol, InferenceScore, OmimIDs, PubMedIDs).
        ``direct_only`` keeps curated rows (non-empty DirectEvidence); inferred rows cite the
        papers of the inference chain, not papers about the pair. OmimIDs join the disease ids."""
        self.report.files.append(str(path))
        added = 0
        for lineno, fields in tsv_rows(path):
            if len(fields) < 10:
                raise CorpusFormatError(path, lineno, "expected 10 tab-separated fields of "
                                        f"CTD_chemicals_diseases, got {len(fields)}")
            self.report.rows += 1
            if direct_only and not fields[5].strip():
                self.report.skipped_relations["inferred"] += 1
                continue
            chem, dis = normalise_id(fields[1]), normalise_id(fields[4])
            if not chem or not dis:
                raise CorpusFormatError(path, lineno, "row lacks a ChemicalID or DiseaseID")
            omim = tuple(f"OMIM:{o.strip()}" for o in fields[8].split("|") if o.strip())
            for pmid in (p.strip() for p in fields[9].split("|")):
                if not pmid:
                    continue
                if not pmid.isdigit():
                    raise CorpusFormatError(path, lineno, f"PubMedID {pmid!r} is not a number")
                entities = self._entities(pmid)
                entities.chemicals.add(sys.intern(chem))
                entities.diseases.add(sys.intern(self.diseases.canonical(dis)))
                entities.diseases.update(sys.intern(o) for o in omim)
                self.report.order["typed_columns"] += 1
                added += 1
        self.report.pairs += added
        return added

    # -- queries -------------------------------------------------------------------------------
    def entities(self, pmid: str) -> Optional[PmidEntities]:
        return self.pmids.get(str(pmid))

    def __contains__(self, pmid: object) -> bool:
        return str(pmid) in self.pmids

    def __len__(self) -> int:
        return len(self.pmids)

    def supports(self, pmid: str, mention: Mention) -> bool:
        """Whether any normalised id of the mention is associated with the PMID for its type."""
        entities = self.pmids.get(str(pmid))
        if entities is None:
            return False
        typed = entities.ids_for(mention.type)
        for part in split_ids(mention.ids):
            if part in typed or part in entities.untyped:
                return True
            if mention.type == DISEASE and self.diseases.canonical(part) in typed:
                return True
        return False


def detect_pair_format(path: PathLike) -> str:
    """``ctd`` for CTD_chemicals_diseases (10 columns), ``chemdisgene`` for 4-column relation rows."""
    header_fields = ""
    with open_text(path) as handle:
        for lineno, line in enumerate(handle, start=1):
            if line.startswith("#"):
                if "ChemicalName" in line and "PubMedIDs" in line:
                    header_fields = line
                continue
            if not line.strip():
                continue
            n = len(line.rstrip("\n\r").split("\t"))
            if header_fields or n >= 10:
                return "ctd"
            if n == 4:
                return "chemdisgene"
            raise CorpusFormatError(path, lineno, f"neither ChemDisGene (4 fields) nor "
                                    f"CTD_chemicals_diseases (10 fields) format: {n} fields")
    raise CorpusFormatError(path, None, "no data lines")


def load_knowledge_base(
    pair_files: Iterable[PathLike],
    disease_vocabulary: Optional[PathLike] = None,
    mesh_descriptors: Optional[PathLike] = None,
    mesh_indexing: Optional[Union[PathLike, MeshIndexing]] = None,
    relations: Tuple[str, ...] = ("chem_disease",),
    direct_only: bool = True,
) -> KnowledgeBase:
    unknown = set(relations) - set(RELATION_KINDS)
    if unknown:
        raise ValueError(f"unknown relation kinds {sorted(unknown)}: use {RELATION_KINDS}")
    """Build a :class:`KnowledgeBase` from files (pairs of either format, vocabularies, indexing)."""
    diseases = DiseaseVocabulary.from_file(disease_vocabulary) if disease_vocabulary else None
    mesh = MeshVocabulary.from_file(mesh_descriptors) if mesh_descriptors else None
    kb = KnowledgeBase(diseases, mesh)
    for path in pair_files:
        if detect_pair_format(path) == "ctd":
            kb.load_ctd_chemicals_diseases(path, direct_only=direct_only)
        else:
            kb.load_chemdisgene(path, relations=relations)
    if mesh_indexing is not None:
        index = (mesh_indexing if isinstance(mesh_indexing, MeshIndexing)
                 else MeshIndexing.from_file(mesh_indexing))
        kb.add_mesh_indexing(index)
    return kb


__all__ = [
    "CHEMICAL",
    "DISEASE",
    "RELATION_KINDS",
    "DiseaseVocabulary",
    "KBLoadReport",
    "KnowledgeBase",
    "MeshIndexing",
    "MeshVocabulary",
    "PmidEntities",
    "detect_pair_format",
    "load_knowledge_base",
    "normalise_id",
    "read_term_dictionary",
    "split_ids",
]
