"""Write tagged records to one output shard: PubTator, BioC XML, BioC JSON or JSONL.

A shard is written to a temporary name beside its final name and renamed by ``ShardWriter.commit``
once complete, so a finished shard is never partial. ``write`` formats the whole record before
writing a byte, so a record that the format cannot hold (a PMID with a space for PubTator, a
control character for XML) raises ``ValueError`` and leaves the shard as it was.

Offsets are into ``Record.text`` in every format. Per format:

- ``pubtator``: ``ID|t|title``, ``ID|a|abstract`` (empty for single-text records), mention lines
  ``ID start end text label`` and, with linking, the top concept id (``-1`` when none). Tabs and
  newlines inside the text are written as spaces (offsets do not move).
- ``bioc-xml`` / ``bioc-json``: a collection with a ``title`` passage at offset 0 and an
  ``abstract`` passage at ``len(title) + 1`` (no abstract passage for single-text records);
  annotations carry the infons ``type``, ``confidence`` and, with linking, ``identifier``. Written
  with the ``bioc`` package's encoders.
- ``jsonl``: one object per record, ``{"id", "text", "entities": [{"start", "end", "text",
  "label", "confidence", "kb_id", "kb_ents"}]}`` (``kb_*`` only with linking).

Confidences are rounded to 4 decimals, linker scores to 4 decimals.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Dict, List, Sequence

from ..atomic import temp_path
from .records import Entity, Record

__all__ = ["OUTPUT_FORMATS", "SHARD_SUFFIXES", "ShardWriter", "open_shard"]

OUTPUT_FORMATS = ("pubtator", "bioc-xml", "bioc-json", "jsonl")
SHARD_SUFFIXES: Dict[str, str] = {
    "pubtator": ".PubTator",
    "bioc-xml": ".BioC.xml",
    "bioc-json": ".BioC.json",
    "jsonl": ".jsonl",
}
_BIOC_SOURCE = "spacy_bioner annotate"


class ShardWriter:
    """Base class: owns the temporary file; subclasses format records."""

    def __init__(self, path: Path, link: bool) -> None:
        self.path = Path(path)
        self.tmp_path = temp_path(self.path)
        self.link = link
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] = open(self.tmp_path, "w", encoding="utf-8", newline="\n")
        self._n = 0
        self.start()

    def start(self) -> None:
        """Write what comes before the first record."""

    def end(self) -> None:
        """Write what comes after the last record."""

    def format(self, record: Record, entities: Sequence[Entity]) -> str:  # pragma: no cover
        raise NotImplementedError

    def write(self, record: Record, entities: Sequence[Entity]) -> None:
        """Write one record. RAISES: ValueError when the format cannot hold it (nothing is written)."""
        text = self.format(record, entities)
        self._fh.write(text)
        self._n += 1

    def commit(self) -> None:
        """Finish the shard and rename it to its final name."""
        self.end()
        self._fh.close()
        os.replace(self.tmp_path, self.path)

    def abort(self) -> None:
        """Drop the temporary file."""
        self._fh.close()
        self.tmp_path.unlink(missing_ok=True)


class PubTatorWriter(ShardWriter):
    def format(self, record: Record, entities: Sequence[Entity]) -> str:
        from ..corpus.document import Document, Mention
        from ..corpus.pubtator import format_pubtator

        title, abstract = _one_line(record.title), _one_line(record.abstract or "")
        text = title + " " + abstract
        mentions = [
            Mention(e.start, e.end, text[e.start : e.end], e.label, ((e.kb_id or "-1"),) if self.link else ())
            for e in entities
        ]
        return format_pubtator(Document(record.id, title, abstract, mentions)) + "\n"


class JSONLWriter(ShardWriter):
    def format(self, record: Record, entities: Sequence[Entity]) -> str:
        ents = []
        for e in entities:
            ent: Dict[str, object] = {"start": e.start, "end": e.end, "text": e.text, "label": e.label}
            ent["confidence"] = None if e.confidence is None else round(e.confidence, 4)
            if self.link:
                ent["kb_id"] = e.kb_id
                ent["kb_ents"] = [[cid, round(score, 4)] for cid, score in e.kb_ents]
            ents.append(ent)
        obj = {"id": record.id, "text": record.text, "entities": ents}
        return json.dumps(obj, ensure_ascii=False) + "\n"


def _bioc_document(record: Record, entities: Sequence[Entity], link: bool):  # -> bioc.BioCDocument
    import bioc

    doc = bioc.BioCDocument()
    doc.id = record.id
    passages: List = []
    for ptype, offset, text in (("title", 0, record.title), ("abstract", len(record.title) + 1, record.abstract)):
        if text is None:
            continue
        passage = bioc.BioCPassage()
        passage.infons["type"] = ptype
        passage.offset = offset
        passage.text = text
        passages.append(passage)
        doc.add_passage(passage)
    for n, e in enumerate(entities):
        ann = bioc.BioCAnnotation()
        ann.id = str(n)
        ann.infons["type"] = e.label
        if e.confidence is not None:
            ann.infons["confidence"] = f"{e.confidence:.4f}"
        if link:
            ann.infons["identifier"] = e.kb_id or "-1"
        ann.add_location(bioc.BioCLocation(e.start, e.end - e.start))
        ann.text = e.text
        owner = passages[-1] if len(passages) > 1 and e.start >= passages[-1].offset else passages[0]
        owner.add_annotation(ann)
    return doc


class BioCXMLWriter(ShardWriter):
    def start(self) -> None:
        from lxml import etree

        self._etree = etree
        self._fh.write('<?xml version=\'1.0\' encoding=\'utf8\' standalone=\'yes\'?>\n<collection>')
        for tag in ("source", "date", "key"):
            elem = etree.Element(tag)
            elem.text = _BIOC_SOURCE if tag == "source" else ""
            self._fh.write(etree.tostring(elem, encoding="unicode"))
        self._fh.write("\n")

    def format(self, record: Record, entities: Sequence[Entity]) -> str:
        from bioc.biocxml.encoder import encode_document

        return self._etree.tostring(encode_document(_bioc_document(record, entities, self.link)), encoding="unicode") + "\n"

    def end(self) -> None:
        self._fh.write("</collection>\n")


class BioCJSONWriter(ShardWriter):
    def start(self) -> None:
        head = {"source": _BIOC_SOURCE, "date": "", "key": "", "version": "1.0", "infons": {}}
        self._fh.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "documents": [\n')

    def format(self, record: Record, entities: Sequence[Entity]) -> str:
        from bioc.biocjson import toJSON

        body = json.dumps(toJSON(_bioc_document(record, entities, self.link)), ensure_ascii=False)
        return body if self._n == 0 else ",\n" + body

    def end(self) -> None:
        self._fh.write("\n]}\n")


_WRITERS = {"pubtator": PubTatorWriter, "bioc-xml": BioCXMLWriter, "bioc-json": BioCJSONWriter, "jsonl": JSONLWriter}


def open_shard(path: Path, fmt: str, link: bool = False) -> ShardWriter:
    """A writer for ``fmt`` that writes ``path`` (through a temporary name; call ``commit``)."""
    if fmt not in _WRITERS:
        raise ValueError(f"unknown output format {fmt!r}; use one of {', '.join(OUTPUT_FORMATS)}")
    return _WRITERS[fmt](path, link)


def _one_line(text: str) -> str:
    """Tabs, CR and LF as spaces (one for one, so offsets keep their meaning)."""
    return text.translate(_ONE_LINE) if any(c in text for c in "\t\r\n") else text


_ONE_LINE = str.maketrans({"\t": " ", "\r": " ", "\n": " "})
