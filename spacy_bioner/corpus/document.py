"""The in-memory form of an annotated abstract, shared by every reader, writer and scorer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple


@dataclass(frozen=True)
class Mention:
    """An entity mention, with character offsets into ``Document.text`` (end exclusive).

    ``ids`` holds the normalised identifiers (``D012345``, ``MESH:D012345`` as read, ``-1`` for
    unnormalised); a composite id ``D1|D2`` is split into ``("D1", "D2")``.
    ``extra`` keeps any further column verbatim (CDR's composite mentions carry a 7th column
    with the individual mention texts), so that a write round-trips.
    """

    start: int
    end: int
    text: str
    type: str
    ids: Tuple[str, ...] = ()
    extra: Tuple[str, ...] = ()

    @property
    def key(self) -> Tuple[int, int, str]:
        return (self.start, self.end, self.type)


@dataclass(frozen=True)
class Relation:
    """A document-level relation line (``PMID<TAB>CID<TAB>chemical<TAB>disease``)."""

    type: str
    args: Tuple[str, ...]


@dataclass
class Document:
    """A PubMed abstract: title, abstract and its mentions. ``text`` is ``title + " " + abstract``."""

    pmid: str
    title: str
    abstract: str
    mentions: List[Mention] = field(default_factory=list)
    relations: List[Relation] = field(default_factory=list)
    source: Optional[str] = None  # "file:line" where the record started, for error messages

    @property
    def text(self) -> str:
        return self.title + " " + self.abstract

    @property
    def title_offset_end(self) -> int:
        return len(self.title)


class CorpusFormatError(ValueError):
    """A malformed corpus record. The message names the file, the line and what is wrong."""

    def __init__(self, path: object, line: Optional[int], problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> Tuple[type, Tuple[str, Optional[int], str]]:
        """Pickled as its three arguments, so that a worker process's error reads the same
        where a :class:`~concurrent.futures.ProcessPoolExecutor` raises it."""
        return (type(self), (self.path, self.line, self.problem))
