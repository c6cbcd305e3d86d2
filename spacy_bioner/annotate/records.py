"""What the annotate readers yield and the writers take: records, entities, failures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional, Tuple


@dataclass
class Record:
    """One input document. ``abstract is None`` for inputs that carry one text (JSONL, plain text).

    ``text`` is what the pipeline tags: ``title + " " + abstract`` (PubTator's convention, so
    offsets index the same string in every format), or the title alone when there is no abstract
    field at all. A PubMed citation without abstract has ``abstract == ""`` and is tagged on its title.
    """

    id: str
    title: str
    abstract: Optional[str]
    where: str  # "file:line" (or "file:record N") where the record starts

    @property
    def text(self) -> str:
        return self.title if self.abstract is None else self.title + " " + self.abstract


@dataclass(frozen=True)
class Failure:
    """An input record (or the rest of a file) that was not tagged, and why."""

    where: str
    reason: str


@dataclass(frozen=True)
class Deleted:
    """A PubMed ``DeleteCitation`` entry: reported in the manifest and deleted.tsv, not tagged."""

    id: str
    where: str


class Entity(NamedTuple):
    """A predicted entity: character offsets into ``Record.text`` (end exclusive)."""

    start: int
    end: int
    text: str
    label: str
    confidence: Optional[float]
    kb_id: str = ""
    kb_ents: Tuple[Tuple[str, float], ...] = ()
