"""Stream the records of one input file: PubMed XML, PubTator, BioC XML/JSON, JSONL or plain text.

Every reader yields, in file order, ``Record``s, ``Failure``s (a record that cannot be read, with
file and line, after which reading goes on) and, for PubMed, ``Deleted`` entries. A problem that
ends the file (truncated gzip, invalid XML) is a last ``Failure`` naming the line where it
stopped; the records before it are still yielded. Gzip is found by its magic bytes, whatever
the name. ``InputFile.position`` is the byte offset reached in the (compressed) file, for progress.

Parsers: PubMed XML and BioC XML stream with ``lxml.etree.iterparse`` (each element is cleared
once converted, so memory stays flat); a BioC XML ``<document>`` is converted by the project's
BioC reader (``spacy_bioner.corpus.bioc``), a PubTator record by its PubTator parser
(``spacy_bioner.corpus.pubtator.parse_pubtator``), BioC JSON by the ``bioc`` package (which
loads the whole collection: BioC JSON is one JSON object).
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib
from pathlib import Path
from typing import IO, Iterable, Iterator, List, Optional, Tuple, Union

from lxml import etree

from ..corpus.document import CorpusFormatError

from .records import Deleted, Failure, Record

__all__ = ["INPUT_FORMATS", "InputFile", "detect_format"]

INPUT_FORMATS = ("pubmed", "pubtator", "bioc-xml", "bioc-json", "jsonl", "text")
Item = Union[Record, Failure, Deleted]

_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_ERRORS = (OSError, EOFError, zlib.error)
_PUBTATOR_TITLE = re.compile(r"^[^\t|]+\|t\|")
_LINE_REF = re.compile(r"\bline (\d+)\)")
_PUBMED_ELEMENTS = ("PubmedArticle", "PubmedBookArticle", "DeleteCitation")
_CONTROL_WS = re.compile(r"[ \t\n\r\x0b\x0c]*[\t\n\r\x0b\x0c][ \t\n\r\x0b\x0c]*")


class InputFile:
    """An input file opened for reading (a context manager); ``items()`` streams its records."""

    def __init__(self, path: Union[str, Path], input_format: str = "auto") -> None:
        self.path = Path(path)
        self.label = str(path)
        self.input_format = input_format
        self._raw: Optional[IO[bytes]] = None

    def __enter__(self) -> "InputFile":
        self._raw = open(self.path, "rb")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._raw is not None:
            self._raw.close()

    @property
    def position(self) -> int:
        """Bytes of the file read so far (of the compressed file, for gzip)."""
        return self._raw.tell() if self._raw is not None and not self._raw.closed else 0

    def _stream(self) -> IO[bytes]:
        assert self._raw is not None, "use InputFile as a context manager"
        self._raw.seek(0)
        if self._raw.peek(2)[:2] == _GZIP_MAGIC:
            return gzip.GzipFile(fileobj=self._raw, mode="rb")  # type: ignore[return-value]
        return self._raw

    def items(self) -> Iterator[Item]:
        """Records, failures and deletions in file order (see the module docstring)."""
        fmt = self.input_format
        if fmt == "auto":
            try:
                fmt = detect_format(self._stream(), self.label)
            except CorpusFormatError as err:
                yield Failure(_where(err), err.problem)
                return
        self.input_format = fmt
        readers = {
            "pubmed": self._pubmed,
            "pubtator": self._pubtator,
            "bioc-xml": self._bioc_xml,
            "bioc-json": self._bioc_json,
            "jsonl": self._jsonl,
            "text": self._text,
        }
        if fmt not in readers:
            raise ValueError(f"unknown input format {fmt!r}; use one of {', '.join(INPUT_FORMATS)}")
        yield from readers[fmt]()

    # -- line-based formats ---------------------------------------------------------------------

    def _lines(self) -> Iterator[Tuple[int, str, Optional[str]]]:
        """(line number, line without end-of-line, decoding problem or None).

        A line that is not UTF-8 comes with its problem, decoded with replacement characters.

        A truncated or corrupt gzip ends the iteration with a CorpusFormatError.
        """
        stream = self._stream()  # buffered (8 KiB for gzip: little is lost before a truncation)
        lineno = 0
        try:
            for raw in stream:
                lineno += 1
                problem = None
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    line = raw.decode("utf-8", errors="replace")
                    problem = f"not valid UTF-8: byte 0x{raw[err.start]:02x} at column {err.start + 1}"
                if line.endswith("\n"):
                    line = line[:-2] if line.endswith("\r\n") else line[:-1]
                if lineno == 1 and line.startswith("\ufeff"):
                    line = line[1:]
                yield lineno, line, problem
        except _GZIP_ERRORS as err:
            raise CorpusFormatError(
                self.label, lineno + 1, f"corrupt or truncated gzip data ({err}); the rest of the file was not read"
            ) from None

    def _pubtator(self) -> Iterator[Item]:
        from ..corpus.pubtator import parse_pubtator

        def flush(start: int, lines: List[str], bad: Optional[Tuple[int, str]]) -> Iterator[Item]:
            if bad is not None:
                yield Failure(f"{self.label}:{bad[0]}", bad[1])
                return
            if not any(line.strip() for line in lines):
                return
            try:
                docs = parse_pubtator("\n".join(lines) + "\n", name=self.label, text_only=True)
            except CorpusFormatError as err:
                line = start + err.line - 1 if err.line is not None else start
                # the parser numbers the record's lines from 1: its "(line N)" references too
                problem = _LINE_REF.sub(lambda m: f"line {int(m.group(1)) + start - 1})", err.problem)
                yield Failure(f"{self.label}:{line}", problem)
                return
            doc = docs[0]
            yield Record(doc.pmid, doc.title, doc.abstract, f"{self.label}:{start}")

        start, lines, bad = 1, [], None
        try:
            for lineno, line, problem in self._lines():
                if _PUBTATOR_TITLE.match(line) and (lines or bad):
                    yield from flush(start, lines, bad)
                    start, lines, bad = lineno, [], None
                if not lines and bad is None:
                    start = lineno
                if problem is not None:
                    bad = bad or (lineno, problem)
                lines.append(line)
            yield from flush(start, lines, bad)
        except CorpusFormatError as err:  # the file ends here: the record being read is lost too
            pending = bad is not None or any(line.strip() for line in lines)
            yield Failure(f"{self.label}:{start}" if pending else _where(err), err.problem)

    def _jsonl(self) -> Iterator[Item]:
        try:
            for lineno, line, problem in self._lines():
                where = f"{self.label}:{lineno}"
                if problem is not None:
                    yield Failure(where, problem)
                    continue
                if not line or not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as err:
                    yield Failure(where, f"invalid JSON: {err.msg} at column {err.colno}")
                    continue
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    yield Failure(where, 'expected a JSON object with a string "text" (and an "id")')
                    continue
                doc_id = obj.get("id", lineno)
                if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool):
                    yield Failure(where, f'"id" must be a string or an integer, got {doc_id!r}')
                    continue
                yield Record(str(doc_id), obj["text"], None, where)
        except CorpusFormatError as err:
            yield Failure(_where(err), err.problem)

    def _text(self) -> Iterator[Item]:
        """One document per non-blank line; its id is the line number."""
        try:
            for lineno, line, problem in self._lines():
                where = f"{self.label}:{lineno}"
                if problem is not None:
                    yield Failure(where, problem)
                elif line and line.strip():
                    yield Record(str(lineno), line, None, where)
        except CorpusFormatError as err:
            yield Failure(_where(err), err.problem)

    # -- XML formats ----------------------------------------------------------------------------

    def _iterparse(self, tags: Iterable[str]) -> Iterator[Union[etree._Element, Failure]]:
        """Yield each element with one of ``tags`` once parsed (then clear it); a fatal problem is a Failure."""
        events = etree.iterparse(
            self._stream(),
            events=("end",),
            tag=tuple(tags),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=True,
        )
        while True:
            try:
                _, elem = next(events)
            except StopIteration:
                return
            except etree.XMLSyntaxError as err:
                yield Failure(f"{self.label}:{err.lineno}", f"invalid XML: {err.msg}; the rest of the file was not read")
                return
            except _GZIP_ERRORS as err:
                yield Failure(self.label, f"corrupt or truncated gzip data ({err}); the rest of the file was not read")
                return
            yield elem
            elem.clear()
            parent = elem.getparent()
            while parent is not None and elem.getprevious() is not None:
                del parent[0]

    def _pubmed(self) -> Iterator[Item]:
        for elem in self._iterparse(_PUBMED_ELEMENTS):
            if isinstance(elem, Failure):
                yield elem
                continue
            where = f"{self.label}:{elem.sourceline}"
            if elem.tag == "DeleteCitation":
                for pmid in elem.iterfind("PMID"):
                    yield Deleted(_clean(pmid), where)
                continue
            yield _pubmed_record(elem, where)

    def _bioc_xml(self) -> Iterator[Item]:
        from ..corpus.bioc import _document

        for elem in self._iterparse(("document",)):
            if isinstance(elem, Failure):
                yield elem
                continue
            try:
                doc = _document(elem, self.label, None)
            except CorpusFormatError as err:
                yield Failure(_where(err), err.problem)
                continue
            yield Record(doc.pmid, doc.title, doc.abstract, f"{self.label}:{elem.sourceline}")

    def _bioc_json(self) -> Iterator[Item]:
        from bioc.biocjson.decoder import parse_doc

        try:
            with io.TextIOWrapper(self._stream(), encoding="utf-8") as text:  # type: ignore[arg-type]
                obj = json.load(text)
        except json.JSONDecodeError as err:
            yield Failure(f"{self.label}:{err.lineno}", f"invalid JSON: {err.msg}; the file was not read")
            return
        except UnicodeDecodeError as err:
            yield Failure(self.label, f"not valid UTF-8 ({err.reason} at byte {err.start}); the file was not read")
            return
        except _GZIP_ERRORS as err:
            yield Failure(self.label, f"corrupt or truncated gzip data ({err}); the file was not read")
            return
        documents = obj.get("documents") if isinstance(obj, dict) else None
        if not isinstance(documents, list):
            yield Failure(self.label, 'not a BioC JSON collection (no "documents" list)')
            return
        for index, raw_doc in enumerate(documents, 1):
            where = f"{self.label}:document {index}"
            try:
                record = _bioc_json_record(parse_doc(raw_doc), where)
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                reason = f"missing field {err}" if isinstance(err, KeyError) else str(err)
                yield Failure(where, f"malformed BioC document: {reason}")
                continue
            yield record


def detect_format(stream: IO[bytes], label: str) -> str:
    """The input format of a (decompressed) stream, from its first 64 KiB.

    XML with a PubMed root or element is ``pubmed``, with ``<collection>`` ``bioc-xml``; a first line
    that is a JSON object is ``jsonl``, a JSON object over several lines with ``"documents"``
    ``bioc-json``; a first line ``PMID|t|...`` is ``pubtator``; anything else is ``text``.
    RAISES: CorpusFormatError for an empty file, corrupt gzip data or unrecognised XML.
    """
    head = b""
    while len(head) < 1 << 16:
        try:
            chunk = stream.read(1 << 13)
        except _GZIP_ERRORS as err:  # a truncated file is read up to its cut, and reported there
            if head:
                break
            raise CorpusFormatError(label, 1, f"corrupt or truncated gzip data ({err}); the file was not read") from None
        if not chunk:
            break
        head += chunk
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text:
        raise CorpusFormatError(label, None, "empty file: no documents")
    if text.startswith("<"):
        if re.search(r"<(PubmedArticleSet|PubmedArticle|PubmedBookArticle|DeleteCitation|MedlineCitationSet)\b", text):
            return "pubmed"
        if re.search(r"<collection\b", text):
            return "bioc-xml"
        raise CorpusFormatError(label, 1, "XML that is neither PubMed (PubmedArticleSet) nor BioC (collection)")
    first = text.split("\n", 1)[0].strip()
    if first.startswith("{"):
        try:
            obj = json.loads(first)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and "documents" not in obj:
            return "jsonl"
        if re.search(r'"documents"\s*:', text):
            return "bioc-json"
        return "jsonl"
    if _PUBTATOR_TITLE.match(first):
        return "pubtator"
    return "text"


def _where(err: CorpusFormatError) -> str:
    return f"{err.path}:{err.line}" if err.line is not None else err.path


def _clean(elem: Optional[etree._Element]) -> str:
    """The element's text with its inline markup (<i>, <sup>...), tabs and newlines as spaces."""
    if elem is None:
        return ""
    return _CONTROL_WS.sub(" ", "".join(elem.itertext())).strip()


def _pubmed_record(elem: etree._Element, where: str) -> Union[Record, Failure]:
    """A ``PubmedArticle`` (or ``PubmedBookArticle``): PMID, title, abstract sections as PubMed shows them.

    A labelled section reads ``LABEL: text``; sections are joined with a space. A citation without
    abstract is tagged on its title (``abstract == ""``).
    """
    pmid = _clean(elem.find(".//PMID"))
    if not pmid:
        return Failure(where, f"<{elem.tag}> without a <PMID>")
    title = _clean(elem.find(".//ArticleTitle"))
    if not title:
        title = _clean(elem.find(".//VernacularTitle")) or _clean(elem.find(".//BookTitle"))
    sections = []
    abstract = elem.find(".//Abstract")
    if abstract is not None:
        for part in abstract.iterfind("AbstractText"):
            body = _clean(part)
            label = (part.get("Label") or "").strip()
            if label and body:
                sections.append(f"{label}: {body}")
            elif body:
                sections.append(body)
    if not title and not sections:
        return Failure(where, f"PMID {pmid} has neither a title nor an abstract")
    return Record(pmid, title, " ".join(sections), where)


def _bioc_json_record(doc: object, where: str) -> Record:
    """A BioC document with a title passage at offset 0 and an optional abstract at len(title) + 1.

    The same rules as the BioC XML reader of ``spacy_bioner.corpus.bioc``.
    RAISES: ValueError naming the problem.
    """
    doc_id = str(getattr(doc, "id", "") or "").strip()
    if not doc_id:
        raise ValueError("document without an id")
    title: Optional[str] = None
    abstract: Optional[str] = None
    for passage in doc.passages:  # type: ignore[attr-defined]
        ptype = passage.infons.get("type", "")
        if ptype in ("title", "front") and title is None:
            if passage.offset != 0:
                raise ValueError(f"{doc_id}: title passage at offset {passage.offset}, not 0")
            title = passage.text or ""
        elif ptype == "abstract" and abstract is None and title is not None:
            if passage.offset != len(title) + 1:
                raise ValueError(
                    f"{doc_id}: abstract passage at offset {passage.offset}, expected {len(title) + 1} (title length + 1)"
                )
            abstract = passage.text or ""
        else:
            raise ValueError(f"{doc_id}: unexpected passage type {ptype!r} (want one title, then one abstract)")
    if title is None:
        raise ValueError(f"{doc_id}: no title passage")
    return Record(doc_id, title, abstract or "", where)
