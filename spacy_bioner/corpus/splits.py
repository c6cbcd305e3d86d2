"""Training/development/test splits of the gold corpora, and the guard that keeps gold PMIDs out.

CDR protocol (METHOD.md): merge the official train and dev sets, hold out a seeded random 10% of
their documents as D, T is the rest; report on the official test set. NCBI Disease: T = train,
D = dev, test = test. :class:`LeakGuard` removes gold abstracts from any other data set.
"""

from __future__ import annotations

import random
import warnings
from pathlib import Path
from typing import (
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Sequence,
    Set,
    Tuple,
    TypeVar,
    Union,
)

from .document import Document

Item = TypeVar("Item")
PathLike = Union[str, Path]

#: The official files of each gold corpus, relative to the data folder (the data mirror's layout).
OFFICIAL_FILES: Dict[str, Dict[str, str]] = {
    "cdr": {
        "train": "cdr/CDR_TrainingSet.PubTator.txt",
        "dev": "cdr/CDR_DevelopmentSet.PubTator.txt",
        "test": "cdr/CDR_TestSet.PubTator.txt",
    },
    "ncbi": {
        "train": "ncbi_disease/NCBItrainset_corpus.txt",
        "dev": "ncbi_disease/NCBIdevelopset_corpus.txt",
        "test": "ncbi_disease/NCBItestset_corpus.txt",
    },
}


def pmid_of(item: object) -> str:
    """The PMID of a Document or of a Doc made by ``docs_from_documents``."""
    pmid = getattr(item, "pmid", None)
    if pmid is None:
        user_data = getattr(item, "user_data", None) or {}
        pmid = user_data.get("pmid")
    if pmid is None:
        raise ValueError(f"{type(item).__name__} {str(item)[:40]!r} has no PMID")
    return str(pmid)


def split_heldout(
    items: Sequence[Item], seed: int = 0, heldout: float = 0.1
) -> Tuple[List[Item], List[Item]]:
    """Hold out ``round(heldout * n)`` random PMIDs (seeded); return (rest, held out), input order.

    Items that share a PMID (sentence Docs, repeated abstracts) land on the same side.
    """
    if not 0.0 < heldout < 1.0:
        raise ValueError(f"heldout must be a fraction between 0 and 1, got {heldout}")
    pmids = list(dict.fromkeys(pmid_of(item) for item in items))
    n_heldout = round(heldout * len(pmids))
    if not 0 < n_heldout < len(pmids):
        side = "held-out share" if n_heldout == 0 else "rest"
        raise ValueError(
            f"holding out {heldout} of {len(pmids)} PMIDs leaves the {side} empty "
            f"({n_heldout} held out): use more documents or another --heldout"
        )
    chosen = set(random.Random(seed).sample(sorted(pmids), n_heldout))
    rest = [item for item in items if pmid_of(item) not in chosen]
    held = [item for item in items if pmid_of(item) in chosen]
    return rest, held


def split_cdr(
    train_docs: Iterable[Item], dev_docs: Iterable[Item], seed: int = 0, heldout: float = 0.1
) -> Tuple[List[Item], List[Item]]:
    """CDR's T and D: official train + dev merged; a seeded random ``heldout`` share is D.

    A PMID in both files must have the same record there (it is then kept twice, like a
    repeated record inside one file); with a different record it is a ValueError naming both.
    """
    train_docs, dev_docs = list(train_docs), list(dev_docs)
    first = {pmid_of(doc): doc for doc in train_docs}
    for doc in dev_docs:
        other = first.get(pmid_of(doc))
        if other is not None and _record(other) != _record(doc):
            raise ValueError(
                f"{_source(doc)}: PMID {pmid_of(doc)} is also in {_source(other)} with a "
                "different record; merged, they would make a file with two records for one PMID"
            )
    return split_heldout(train_docs + dev_docs, seed=seed, heldout=heldout)


def _source(item: object) -> str:
    return str(getattr(item, "source", None) or "?")


def _record(item: object) -> object:
    if isinstance(item, Document):
        return (item.title, item.abstract, tuple(item.mentions), tuple(item.relations))
    return getattr(item, "text", item)


def check_splits(splits: Mapping[str, Sequence[Item]]) -> None:
    """Raise ValueError when a split is empty or a PMID is in two splits (a leak between
    training and evaluation data), naming the split, the PMID and where each copy came from."""
    where: Dict[str, Tuple[str, object]] = {}
    for name, items in splits.items():
        if not items:
            raise ValueError(f"split {name} is empty")
        for item in items:
            pmid = pmid_of(item)
            seen = where.setdefault(pmid, (name, item))
            if seen[0] != name:
                raise ValueError(
                    f"{_source(item)}: PMID {pmid} of split {name} is also in split {seen[0]} "
                    f"({_source(seen[1])}): a document in two splits leaks between them"
                )


def official_files(corpus: str, data_dir: PathLike) -> Dict[str, Path]:
    """Paths of a corpus's official train/dev/test files ("cdr" or "ncbi") under ``data_dir``."""
    if corpus not in OFFICIAL_FILES:
        raise ValueError(f"unknown corpus {corpus!r}: use one of {sorted(OFFICIAL_FILES)}")
    paths = {split: Path(data_dir) / rel for split, rel in OFFICIAL_FILES[corpus].items()}
    for split, path in paths.items():
        if path.is_dir():
            raise FileNotFoundError(f"{path}: is a directory, not the official {corpus} {split} file")
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no such file (the official {corpus} {split} file, expected under "
                f"{data_dir} as in the data mirror's layout)"
            )
    return paths


def read_official(corpus: str, data_dir: PathLike) -> Dict[str, List[Document]]:
    """The official train/dev/test Documents; NCBI's four types are mapped to Disease."""
    from .pubtator import NCBI_DISEASE_TYPE_MAP, read_pubtator

    type_map = NCBI_DISEASE_TYPE_MAP if corpus == "ncbi" else None
    return {
        split: list(read_pubtator(path, type_map=type_map))
        for split, path in official_files(corpus, data_dir).items()
    }


def cdr_splits(
    data_dir: PathLike, seed: int = 0, heldout: float = 0.1
) -> Tuple[List[Document], List[Document], List[Document]]:
    """CDR (T, D, test) from the three official files."""
    official = read_official("cdr", data_dir)
    train, dev = split_cdr(official["train"], official["dev"], seed=seed, heldout=heldout)
    check_splits({"T": train, "D": dev, "test": official["test"]})
    return train, dev, official["test"]


def ncbi_splits(data_dir: PathLike) -> Tuple[List[Document], List[Document], List[Document]]:
    """NCBI Disease (T, D, test): the official train, dev and test sets as given."""
    official = read_official("ncbi", data_dir)
    check_splits({"T": official["train"], "D": official["dev"], "test": official["test"]})
    return official["train"], official["dev"], official["test"]


def _pmid_key(pmid: object) -> str:
    """A PMID as the leak guard compares it: without surrounding blanks or leading zeros."""
    key = str(pmid).strip()
    return (key.lstrip("0") or key) if key.isascii() and key.isdigit() else key


class GoldLeakError(ValueError):
    """A gold PMID was found in a data set that must not contain it."""


class LeakGuard:
    """Keeps gold abstracts (by PMID) out of other data sets.

    ``filter`` drops every document whose PMID is gold and records it in ``removed``
    (``(pmid, source)`` pairs); with ``strict=True`` it raises :class:`GoldLeakError` instead.
    PMIDs compare without surrounding blanks and leading zeros (``0123`` is gold ``123``). A gold
    file that cannot be read completely (CR-only line endings, truncation, ...) raises a
    ``CorpusFormatError`` from :meth:`from_files`: a guard never holds part of a file's PMIDs.
    """

    def __init__(self, gold_pmids: Iterable[str], strict: bool = False) -> None:
        self.gold_pmids: Set[str] = {_pmid_key(p) for p in gold_pmids}
        self.strict = strict
        self.removed: List[Tuple[str, str]] = []
        self.seen = 0

    @classmethod
    def from_files(cls, paths: Iterable[PathLike], strict: bool = False) -> "LeakGuard":
        """The gold PMIDs of PubTator files (plain or .gz)."""
        from .pubtator import DuplicateRecordWarning, read_pubtator

        pmids: Set[str] = set()
        with warnings.catch_warnings():  # a repeated identical record adds no PMID
            warnings.simplefilter("ignore", DuplicateRecordWarning)
            for path in paths:
                pmids.update(doc.pmid for doc in read_pubtator(path))
        return cls(pmids, strict=strict)

    @classmethod
    def from_data_dir(cls, data_dir: PathLike, strict: bool = False) -> "LeakGuard":
        """The PMIDs of every official split of CDR and NCBI Disease under ``data_dir``."""
        paths = [p for corpus in OFFICIAL_FILES for p in official_files(corpus, data_dir).values()]
        return cls.from_files(paths, strict=strict)

    def __contains__(self, pmid: object) -> bool:
        return _pmid_key(pmid) in self.gold_pmids

    def __len__(self) -> int:
        return len(self.gold_pmids)

    def filter(self, documents: Iterable[Item]) -> Iterator[Item]:
        """Yield the documents whose PMID is not gold (lazily); record or raise on the others."""
        for doc in documents:
            self.seen += 1
            pmid = pmid_of(doc)
            if _pmid_key(pmid) in self.gold_pmids:
                source = getattr(doc, "source", None) or "?"
                if self.strict:
                    raise GoldLeakError(f"{source}: gold PMID {pmid} in a non-gold data set")
                self.removed.append((pmid, source))
                continue
            yield doc

    def report(self) -> str:
        """One line per removed document, after a count."""
        lines = [
            f"LeakGuard: {len(self.gold_pmids)} gold PMIDs; {len(self.removed)} of {self.seen} "
            "documents removed"
        ]
        lines.extend(f"  removed PMID {pmid} ({source})" for pmid, source in self.removed)
        return "\n".join(lines)

    def to_dict(self) -> Mapping[str, object]:
        return {
            "gold_pmids": len(self.gold_pmids),
            "seen": self.seen,
            "removed": [{"pmid": p, "source": s} for p, s in self.removed],
        }


__all__ = [
    "GoldLeakError",
    "LeakGuard",
    "OFFICIAL_FILES",
    "cdr_splits",
    "check_splits",
    "ncbi_splits",
    "official_files",
    "pmid_of",
    "read_official",
    "split_cdr",
    "split_heldout",
]
