"""The MeSH and CTD vocabularies, read once for weak labelling (:mod:`spacy_bioner.weak`) and
linking (:mod:`spacy_bioner.linking`): id normalisation, the tab-separated readers, MEDIC
diseases, MeSH descriptors, lower-cased term dictionaries and MeSH indexing per PMID.

Ids are normalised by :func:`normalise_id`: ``MESH:`` prefixes are stripped (``MESH:D001`` ->
``D001``), other prefixes (``OMIM:``) are kept, supplementary ``C`` ids stay their own ids and
``-``, ``-1`` and the empty string mean "no id". A composite id ``D1|D2`` matches when any part does.
"""

from __future__ import annotations

import gzip
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Set, TextIO, Tuple, Union

from .corpus.document import CorpusFormatError

PathLike = Union[str, Path]
CHEMICAL = "Chemical"
DISEASE = "Disease"
NO_ID = frozenset({"", "-", "-1"})
_ID_SPLIT = re.compile(r"[|;]")
_SUPPLEMENTARY = re.compile(r"^C\d{6,}$")


# --------------------------------------------------------------------------------------------
# Ids


def normalise_id(raw: str) -> str:
    """One id in canonical form: ``MESH:`` stripped, whitespace trimmed; ``""`` for no id."""
    value = raw.strip()
    if value.upper().startswith("MESH:"):
        value = value[5:].strip()
    return "" if value in NO_ID else value


def split_ids(ids: Union[str, Iterable[str]]) -> Tuple[str, ...]:
    """The normalised parts of one id string or of several (``|`` and ``;`` separate parts)."""
    raw = [ids] if isinstance(ids, str) else list(ids)
    parts: List[str] = []
    for value in raw:
        for part in _ID_SPLIT.split(value):
            norm = normalise_id(part)
            if norm and norm not in parts:
                parts.append(norm)
    return tuple(parts)


def is_supplementary(mesh_id: str) -> bool:
    """Whether an id is a MeSH supplementary concept record (``C`` followed by 6+ digits)."""
    return bool(_SUPPLEMENTARY.match(mesh_id))


def mesh_types(tree_tops: Iterable[str]) -> Set[str]:
    """Chemical for a MeSH tree top under ``D``, Disease for one under ``C`` or ``F03`` (mental
    disorders, which CTD's MEDIC counts as diseases)."""
    types: Set[str] = set()
    for top in tree_tops:
        if top.startswith("D"):
            types.add(CHEMICAL)
        elif top.startswith("C") or top.startswith("F03"):
            types.add(DISEASE)
    return types


# --------------------------------------------------------------------------------------------
# Tab-separated files


def open_text(path: PathLike) -> TextIO:
    """Open a text file for reading, gunzipping it when its name ends with ``.gz``."""
    path = Path(path)
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def tsv_rows(path: PathLike) -> Iterator[Tuple[int, List[str]]]:
    """``(line number, tab-separated fields)`` of every line of a (gzipped) vocabulary file that is
    not blank or a ``#`` comment. RAISES: FileNotFoundError naming the file."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: vocabulary file not found")
    with open_text(path) as handle:
        for lineno, line in enumerate(handle, start=1):
            line = line.rstrip("\n\r")
            if not line.strip() or line.startswith("#"):
                continue
            yield lineno, line.split("\t")


# --------------------------------------------------------------------------------------------
# Vocabularies


@dataclass(frozen=True)
class DiseaseEntry:
    """One MEDIC disease: primary id, name, alternative ids, tree numbers and synonyms."""

    id: str
    name: str
    alt_ids: Tuple[str, ...] = ()
    tree_numbers: Tuple[str, ...] = ()
    synonyms: Tuple[str, ...] = ()

    @property
    def names(self) -> Tuple[str, ...]:
        return (self.name,) + self.synonyms


class DiseaseVocabulary:
    """CTD's disease vocabulary (MEDIC): ``DiseaseName, DiseaseID, AltDiseaseIDs, Definition,
    ParentIDs, TreeNumbers, ParentTreeNumbers, Synonyms, SlimMappings`` with a ``#`` header."""

    def __init__(self, entries: Iterable[DiseaseEntry] = ()) -> None:
        self.entries: Dict[str, DiseaseEntry] = {}
        self._primary: Dict[str, str] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: DiseaseEntry) -> None:
        self.entries[entry.id] = entry
        self._primary[entry.id] = entry.id
        for alt in entry.alt_ids:
            self._primary.setdefault(alt, entry.id)

    @classmethod
    def from_file(cls, path: PathLike) -> "DiseaseVocabulary":
        vocab = cls()
        for lineno, fields in tsv_rows(path):
            if len(fields) < 8:
                raise CorpusFormatError(path, lineno, f"expected >= 8 tab-separated fields of "
                                        f"CTD_diseases (name, id, alt ids, ...), got {len(fields)}")
            name, raw_id = fields[0].strip(), fields[1]
            disease_id = normalise_id(raw_id)
            if not disease_id:
                raise CorpusFormatError(path, lineno, f"disease {name!r} has no DiseaseID")
            vocab.add(DiseaseEntry(
                id=sys.intern(disease_id),
                name=name,
                alt_ids=split_ids(fields[2].split("|")),
                tree_numbers=tuple(t for t in fields[5].split("|") if t),
                synonyms=tuple(s for s in fields[7].split("|") if s.strip()),
            ))
        return vocab

    def __contains__(self, disease_id: object) -> bool:
        return isinstance(disease_id, str) and normalise_id(disease_id) in self._primary

    def __len__(self) -> int:
        return len(self.entries)

    def canonical(self, disease_id: str) -> str:
        """The primary id of a disease id or alternative id (the id itself when unknown)."""
        norm = normalise_id(disease_id)
        return self._primary.get(norm, norm)

    def names(self) -> Iterator[Tuple[str, str]]:
        """``(name or synonym, primary id)`` pairs."""
        for entry in self.entries.values():
            for name in entry.names:
                yield name, entry.id


@dataclass(frozen=True)
class MeshDescriptor:
    """A MeSH descriptor: UI, preferred name, entry terms and the tops of its tree numbers."""

    ui: str
    name: str
    terms: Tuple[str, ...] = ()
    tree_tops: Tuple[str, ...] = ()

    @property
    def is_chemical(self) -> bool:
        return CHEMICAL in mesh_types(self.tree_tops)

    @property
    def is_disease(self) -> bool:
        return DISEASE in mesh_types(self.tree_tops)


class MeshVocabulary:
    """MeSH descriptors from a TSV with one row per entry term:
    ``DescriptorUI, DescriptorName, TermName, tree_tops`` (tops ``|``-separated), header line."""

    def __init__(self, descriptors: Iterable[MeshDescriptor] = ()) -> None:
        self.descriptors: Dict[str, MeshDescriptor] = {d.ui: d for d in descriptors}

    @classmethod
    def from_file(cls, path: PathLike) -> "MeshVocabulary":
        rows: Dict[str, Tuple[str, List[str], Tuple[str, ...]]] = {}
        for lineno, fields in tsv_rows(path):
            if fields[0] == "DescriptorUI":
                continue
            if len(fields) < 4:
                raise CorpusFormatError(path, lineno, "expected 4 tab-separated fields "
                                        f"(DescriptorUI, DescriptorName, TermName, tree tops), "
                                        f"got {len(fields)}")
            ui = normalise_id(fields[0])
            if not ui:
                raise CorpusFormatError(path, lineno, "empty DescriptorUI")
            if ui not in rows:
                tops = tuple(t for t in fields[3].split("|") if t)
                rows[ui] = (fields[1], [], tops)
            rows[ui][1].append(fields[2])
        return cls(MeshDescriptor(sys.intern(ui), name, tuple(terms), tops)
                   for ui, (name, terms, tops) in rows.items())

    def __contains__(self, ui: object) -> bool:
        return isinstance(ui, str) and normalise_id(ui) in self.descriptors

    def __len__(self) -> int:
        return len(self.descriptors)

    def get(self, ui: str) -> Optional[MeshDescriptor]:
        return self.descriptors.get(normalise_id(ui))

    def category(self, ui: str) -> Optional[str]:
        """``Chemical`` for D-tree descriptors, ``Disease`` for C-tree/F03 ones, else ``None``
        (also when a descriptor sits in both trees)."""
        desc = self.get(ui)
        if desc is None or desc.is_chemical == desc.is_disease:
            return None
        return CHEMICAL if desc.is_chemical else DISEASE


_MESH_ID = re.compile(r"^[CD]\d{6,9}$")


def read_term_dictionary(path: PathLike) -> Iterator[Tuple[str, str]]:
    """``(term, id)`` rows of a lower-cased term dictionary, whose lines are ``MeSH id<TAB>term``
    (the layout of ``mesh/{chemical,disease}_terms_lower.tsv.gz``)."""
    for lineno, fields in tsv_rows(path):
        if len(fields) != 2:
            raise CorpusFormatError(path, lineno, f"expected 'MeSH id<TAB>term', got {len(fields)} fields")
        term_id, term = normalise_id(fields[0]), fields[1].strip()
        if not _MESH_ID.match(term_id):
            raise CorpusFormatError(path, lineno, f"expected 'MeSH id<TAB>term', the first field {fields[0]!r} "
                                    "is not a MeSH id (C/D + digits)")
        if term:
            yield term, term_id


# --------------------------------------------------------------------------------------------
# MeSH indexing per PMID


class MeshIndexing:
    """MeSH descriptors (and supplementary concepts) indexed for each PMID.

    File form: ``pmid<TAB>id[|id...]`` per line (several lines per PMID add up), ``#`` comments.
    """

    def __init__(self, mapping: Optional[Mapping[str, Iterable[str]]] = None) -> None:
        self._ids: Dict[str, Set[str]] = {}
        for pmid, ids in (mapping or {}).items():
            self.add(pmid, ids)

    def add(self, pmid: str, ids: Iterable[str]) -> None:
        self._ids.setdefault(str(pmid).strip(), set()).update(split_ids(ids))

    def get(self, pmid: str) -> Set[str]:
        return self._ids.get(str(pmid), set())

    def __contains__(self, pmid: object) -> bool:
        return str(pmid) in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def items(self) -> Iterator[Tuple[str, Set[str]]]:
        return iter(self._ids.items())

    @classmethod
    def from_file(cls, path: PathLike) -> "MeshIndexing":
        index = cls()
        for lineno, fields in tsv_rows(path):
            if len(fields) != 2 or not fields[0].strip():
                raise CorpusFormatError(path, lineno, "expected 'pmid<TAB>id|id|...'")
            index.add(fields[0], fields[1].split("|"))
        return index

    def to_file(self, path: PathLike) -> None:
        with open(path, "w", encoding="utf-8") as out:
            for pmid, ids in sorted(self._ids.items()):
                out.write(f"{pmid}\t{'|'.join(sorted(ids))}\n")


__all__ = [
    "CHEMICAL",
    "DISEASE",
    "NO_ID",
    "DiseaseEntry",
    "DiseaseVocabulary",
    "MeshDescriptor",
    "MeshIndexing",
    "MeshVocabulary",
    "is_supplementary",
    "mesh_types",
    "normalise_id",
    "open_text",
    "read_term_dictionary",
    "split_ids",
    "tsv_rows",
]
