"""Read and write the PubTator text format (plain or gzip), streaming and strict.

A record is a title line ``PMID|t|title``, an abstract line ``PMID|a|abstract``, then
tab-separated annotation lines::

    PMID  start  end  text  type  [ids  [extra ...]]     a mention (ids split on "|")
    PMID  CID    id   id                                 a relation (2nd column not an offset,
                                                         and not 5+ columns with an integer 3rd)

Records are separated by blank lines; blank lines carry no meaning, so missing separators,
extra blank lines and files that start with blank lines (NCBI Disease) are all fine.
Offsets index ``title + " " + abstract``. Every malformed line raises ``CorpusFormatError``
naming the file, the line and the problem; nothing is dropped silently. Lines end in LF or
CRLF; a CR anywhere else (CR-only line endings), a byte-order mark starting any line but the
first, and a file whose last line has no newline (a truncated file) are errors too.

Quirks of real files that are read, not rejected:

- a record with no abstract line (PubTator's export of an article without abstract, e.g. 19
  records of ChemDisGene's files) reads with ``abstract == ""``; its mentions must then lie in
  the title. ``require_abstract=True`` makes it an error; writing adds an empty ``|a|`` line.
- a mention text column that differs from ``text[start:end]`` only by surrounding whitespace
  (NCBI Disease train, PMID 10923035): the offsets win and ``Mention.text`` is the real span.
  Tabs inside a span (an abstract may hold tabs) are written as spaces in the text column, which
  cannot hold a tab, and read back the same way.

Round trip: an ids column that is present but empty reads as ``ids == ("",)`` and further
columns (CDR's composite mentions) are kept verbatim in ``Mention.extra``, so
``write_pubtator(read_pubtator(f))`` reproduces ``f`` byte for byte except blank lines and
the order of relation lines (written after the mentions).

A PMID repeated within a file is an error, unless the repeated record is identical to the
first one: the NCBI Disease training file holds PMID 8528200 twice, verbatim, and its
published counts (593 abstracts, 5145 mentions) include both copies. Such a repeat is
yielded again, with a ``DuplicateRecordWarning``.
"""

from __future__ import annotations

import gzip
import io
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import (
    IO,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    TextIO,
    Tuple,
    Union,
)

from ..atomic import atomic_open
from .document import CorpusFormatError, Document, Mention, Relation

__all__ = [
    "NCBI_DISEASE_TYPE_MAP",
    "DuplicateRecordWarning",
    "format_pubtator",
    "parse_pubtator",
    "parse_type_map",
    "read_pubtator",
    "write_pubtator",
]

#: The NCBI Disease corpus's four mention classes are all "Disease" for NER.
NCBI_DISEASE_TYPE_MAP: Dict[str, str] = {
    "SpecificDisease": "Disease",
    "DiseaseClass": "Disease",
    "CompositeMention": "Disease",
    "Modifier": "Disease",
}


def parse_type_map(type_map: Union[None, str, Mapping[str, str]]) -> Optional[Dict[str, str]]:
    """A renaming of mention types from a config or command line: ``None``, a mapping, ``"ncbi"``
    (or ``"ncbi_disease"``: :data:`NCBI_DISEASE_TYPE_MAP`), ``"none"`` or ``""`` (no renaming), or
    ``"FROM=TO,FROM=TO"``. Names are case-insensitive. RAISES: ValueError naming the value."""
    if type_map is None or isinstance(type_map, Mapping):
        return None if type_map is None else dict(type_map)
    value = type_map.strip()
    if value.lower() in ("", "none"):
        return None
    if value.lower() in ("ncbi", "ncbi_disease"):
        return dict(NCBI_DISEASE_TYPE_MAP)
    mapping: Dict[str, str] = {}
    for pair in value.split(","):
        source, sep, target = pair.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise ValueError(
                f"unknown type map {type_map!r}: {pair!r} is not FROM=TO; use 'ncbi', 'none' or FROM=TO pairs"
            )
        mapping[source.strip()] = target.strip()
    return mapping

_GZIP_MAGIC = b"\x1f\x8b"
_BLANK_CHARS = " \t\r"

Source = Union[str, Path, TextIO, IO[bytes]]


class DuplicateRecordWarning(UserWarning):
    """A PMID repeats, with a record identical to its first occurrence in the same file."""


# ---------------------------------------------------------------------------------------------
# Reading


def read_pubtator(
    source: Source,
    *,
    type_map: Optional[Mapping[str, str]] = None,
    name: Optional[str] = None,
    require_abstract: bool = False,
    text_only: bool = False,
) -> Iterator[Document]:
    """Stream the documents of a PubTator file (path, gzip path, or open text/binary stream).

    source: a path (gzip is detected from the content, not the name) or an open stream.
    type_map: maps mention types (e.g. ``NCBI_DISEASE_TYPE_MAP``); unmapped types stay as read.
    name: the name used in ``Document.source`` and error messages (default: the path).
    require_abstract: reject title-only records instead of reading them with an empty abstract.
    text_only: keep titles and abstracts only; annotation lines must still belong to their
        record, but are neither parsed nor checked (for text whose annotations are not used).
    RAISES: CorpusFormatError on any malformed line, or when the file holds no document.
    """
    if isinstance(source, (str, Path)):
        label = name if name is not None else str(source)
        with open_binary(source, label) as fh:
            lines = _numbered_lines(fh, label)
            yield from _parse_lines(lines, label, type_map, require_abstract, text_only)
    else:
        label = name if name is not None else str(getattr(source, "name", "<stream>"))
        lines = _numbered_lines(source, label)
        yield from _parse_lines(lines, label, type_map, require_abstract, text_only)


def parse_pubtator(
    text: str,
    *,
    name: str = "<string>",
    type_map: Optional[Mapping[str, str]] = None,
    require_abstract: bool = False,
    text_only: bool = False,
) -> List[Document]:
    """Parse PubTator text held in memory (e.g. an HTTP response body); see ``read_pubtator``."""
    lines = _numbered_lines(io.StringIO(text, newline="\n"), name, final_newline=False)
    return list(_parse_lines(lines, name, type_map, require_abstract, text_only))


@contextmanager
def open_binary(path: Union[str, Path], label: Optional[str] = None) -> Iterator[Iterable[bytes]]:
    """Open a file as an iterable of byte lines, decompressing gzip content (found by its magic).

    Corrupt gzip data raises CorpusFormatError naming ``label`` (default: the path).
    """
    label = label if label is not None else str(path)
    raw = open(path, "rb")
    try:
        if raw.peek(2)[:2] == _GZIP_MAGIC:
            yield _GzipLines(gzip.GzipFile(fileobj=raw, mode="rb"), label)
        else:
            yield raw
    finally:
        raw.close()


class _GzipLines:
    """Iterate the lines of a gzip stream; corrupt or truncated data is a CorpusFormatError."""

    def __init__(self, fh: gzip.GzipFile, label: str) -> None:
        self._fh = io.BufferedReader(fh, buffer_size=1 << 16)
        self._label = label

    def __iter__(self) -> Iterator[bytes]:
        n_read = 0
        try:
            for line in self._fh:
                n_read += 1
                yield line
        except (OSError, EOFError, zlib.error) as err:
            raise CorpusFormatError(
                self._label, n_read + 1, f"corrupt or truncated gzip data ({err})"
            ) from err


def _numbered_lines(
    stream: Iterable[Union[str, bytes]], label: str, final_newline: bool = True
) -> Iterator[Tuple[int, str]]:
    """Yield (line number, line without its end-of-line), decoding bytes as strict UTF-8.

    A carriage return left inside a line (old Mac CR-only line endings, or a stray one) and a
    byte-order mark at the start of a later line are errors: each would otherwise merge lines or
    hide inside a PMID. With ``final_newline``, a last line without its newline (a file cut
    short) is an error too.
    """
    for lineno, raw in enumerate(stream, 1):
        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                bad = raw[err.start]
                raise CorpusFormatError(
                    label, lineno, f"not valid UTF-8: byte 0x{bad:02x} at column {err.start + 1}"
                ) from None
        else:
            line = raw
        complete = line.endswith("\n")
        if complete:
            line = line[:-2] if line.endswith("\r\n") else line[:-1]
        if lineno == 1 and line.startswith("\ufeff"):
            line = line[1:]
        if "\r" in line and line.strip(_BLANK_CHARS):
            column = line.index("\r") + 1
            raise CorpusFormatError(
                label,
                lineno,
                f"carriage return (\\r) inside the line at column {column}: "
                "CR-only (old Mac) line endings? Convert the file to LF (or CRLF) line endings",
            )
        if line.startswith("\ufeff"):
            raise CorpusFormatError(
                label,
                lineno,
                "the line starts with a byte-order mark (U+FEFF, invisible): only the first line "
                "of a file may (were two files concatenated?)",
            )
        if not complete and final_newline and line.strip(_BLANK_CHARS):
            raise CorpusFormatError(
                label,
                lineno,
                "the file ends inside this line, without a newline: it looks truncated "
                "(a complete PubTator file ends with a newline)",
            )
        yield lineno, line


def _parse_lines(
    lines: Iterable[Tuple[int, str]],
    label: str,
    type_map: Optional[Mapping[str, str]],
    require_abstract: bool = False,
    text_only: bool = False,
) -> Iterator[Document]:
    """The PubTator state machine: one Document per title/abstract record."""
    doc: Optional[Document] = None
    doc_line = 0
    text: Optional[str] = None  # title + " " + abstract, once known
    title_only = False  # the record went on without an abstract line
    seen: Dict[str, Tuple[int, int]] = {}  # pmid -> (record hash, title line)
    n_docs = 0
    for lineno, line in lines:
        if not line or (line[0] in _BLANK_CHARS and not line.strip(_BLANK_CHARS)):
            continue
        bar = line.find("|")
        if bar > 0 and line[bar : bar + 3] in ("|t|", "|a|") and "\t" not in line[:bar]:
            pmid = line[:bar]
            if line[bar + 1] == "t":
                if doc is not None:
                    if text is None and require_abstract:
                        raise _no_abstract(label, doc, doc_line)
                    check_duplicate(doc, doc_line, seen, label)
                    n_docs += 1
                    yield doc
                if any(c.isspace() for c in pmid):
                    raise CorpusFormatError(label, lineno, f"PMID {pmid!r} contains whitespace")
                doc = Document(pmid, line[bar + 3 :], "", [], [], f"{label}:{lineno}")
                doc_line = lineno
                text = None
                title_only = False
                continue
            if doc is None or (text is not None and pmid != doc.pmid):
                raise CorpusFormatError(
                    label, lineno, f"abstract line of PMID {pmid} without a title line"
                )
            if pmid != doc.pmid:
                raise CorpusFormatError(
                    label,
                    lineno,
                    f"abstract line of PMID {pmid} follows the title of PMID {doc.pmid} "
                    f"(line {doc_line})",
                )
            if title_only:
                raise CorpusFormatError(
                    label, lineno, f"abstract line of PMID {pmid} after its annotation lines"
                )
            if text is not None:
                raise CorpusFormatError(
                    label,
                    lineno,
                    f"second abstract line for PMID {pmid} (title at line {doc_line})",
                )
            doc.abstract = line[bar + 3 :]
            text = doc.title + " " + doc.abstract
            continue
        if "\t" not in line:
            raise CorpusFormatError(
                label,
                lineno,
                "unrecognised line: expected 'PMID|t|title', 'PMID|a|abstract', a tab-separated "
                f"annotation or a blank line, got {_preview(line)}",
            )
        cols = line.split("\t")
        pmid = cols[0]
        if doc is None:
            raise CorpusFormatError(
                label, lineno, f"annotation line for PMID {pmid} before any title line"
            )
        if pmid != doc.pmid:
            raise CorpusFormatError(
                label,
                lineno,
                f"annotation line for PMID {pmid!r} inside the record of PMID {doc.pmid} "
                f"(title at line {doc_line})",
            )
        if text is None:
            if require_abstract:
                raise _no_abstract(label, doc, doc_line)
            text = doc.title + " "
            title_only = True
        if text_only:
            continue
        second = cols[1]
        if second and not (second[0].isdigit() or second[0] in "+-") and not _mention_shaped(cols):
            if len(cols) < 3:
                raise CorpusFormatError(
                    label,
                    lineno,
                    f"relation line {second!r} has no arguments (need PMID, type, id...)",
                )
            doc.relations.append(Relation(second, tuple(cols[2:])))
            continue
        doc.mentions.append(_parse_mention(cols, text, type_map, label, lineno, title_only))
    if doc is not None:
        if text is None and require_abstract:
            raise _no_abstract(label, doc, doc_line)
        check_duplicate(doc, doc_line, seen, label)
        n_docs += 1
        yield doc
    if n_docs == 0:
        raise CorpusFormatError(label, None, "no documents (empty file)")


def _parse_mention(
    cols: List[str],
    text: str,
    type_map: Optional[Mapping[str, str]],
    label: str,
    lineno: int,
    title_only: bool,
) -> Mention:
    if len(cols) < 5:
        raise CorpusFormatError(
            label,
            lineno,
            f"truncated mention line: {len(cols)} tab-separated columns, need at least 5 "
            "(PMID, start, end, text, type)",
        )
    start = _offset(cols[1], "start", label, lineno)
    end = _offset(cols[2], "end", label, lineno)
    if start >= end:
        raise CorpusFormatError(
            label, lineno, f"start offset {start} is not before end offset {end}"
        )
    if end > len(text):
        hint = " (the record has no abstract line)" if title_only else ""
        raise CorpusFormatError(
            label,
            lineno,
            f"end offset {end} is past the end of the text ({len(text)} characters){hint}",
        )
    span = text[start:end]
    if cols[3] != span and cols[3].strip() != span.replace("\t", " ").strip():
        raise CorpusFormatError(
            label,
            lineno,
            f"mention text {cols[3]!r} differs from the document text at {start}-{end}: {span!r}",
        )
    etype = cols[4]
    if not etype:
        raise CorpusFormatError(label, lineno, "empty mention type")
    if type_map is not None:
        etype = type_map.get(etype, etype)
    ids = tuple(cols[5].split("|")) if len(cols) > 5 else ()
    return Mention(start, end, span, etype, ids, tuple(cols[6:]))


def _mention_shaped(cols: List[str]) -> bool:
    """Five or more columns with an integer third one: a mention line, whatever its second
    column holds (a relation line is ``PMID, type, id, id``), so that a damaged start offset
    (``x22``, `` 22``, ``NA``) is an error instead of a relation."""
    return len(cols) >= 5 and cols[2].isascii() and cols[2].isdigit()


def _offset(value: str, which: str, label: str, lineno: int) -> int:
    if value.isascii() and value.isdigit():
        return int(value)
    if value[:1] == "-" and value[1:].isascii() and value[1:].isdigit():
        raise CorpusFormatError(label, lineno, f"negative {which} offset {value}")
    raise CorpusFormatError(label, lineno, f"{which} offset {value!r} is not an integer")


def _no_abstract(label: str, doc: Document, doc_line: int) -> CorpusFormatError:
    return CorpusFormatError(
        label, doc_line, f"title line of PMID {doc.pmid} is not followed by its abstract line"
    )


def check_duplicate(
    doc: Document, doc_line: int, seen: Dict[str, Tuple[int, int]], label: str
) -> None:
    """Record ``doc`` in ``seen``; warn on an identical repeat of a PMID, raise on another."""
    digest = hash((doc.title, doc.abstract, tuple(doc.mentions), tuple(doc.relations)))
    first = seen.get(doc.pmid)
    if first is None:
        seen[doc.pmid] = (digest, doc_line)
    elif first[0] == digest:
        warnings.warn(
            f"{label}:{doc_line}: PMID {doc.pmid} repeats the identical record of line {first[1]}",
            DuplicateRecordWarning,
            stacklevel=4,
        )
    else:
        raise CorpusFormatError(
            label,
            doc_line,
            f"duplicated PMID {doc.pmid}: already at line {first[1]} with a different record",
        )


def _preview(line: str, width: int = 60) -> str:
    return repr(line if len(line) <= width else line[:width] + "...")


# ---------------------------------------------------------------------------------------------
# Writing


def format_pubtator(doc: Document) -> str:
    """One record: title, abstract, mention then relation lines, each ending in a newline.

    RAISES: ValueError when the document cannot be written so that it reads back the same
    (a tab or newline inside a field, a mention text that differs from the document text, ...).
    """
    pmid = doc.pmid
    if not pmid or "|" in pmid or any(c.isspace() for c in pmid):
        raise ValueError(f"PMID {pmid!r} must be non-empty, without '|' or whitespace")
    for what, value in (("title", doc.title), ("abstract", doc.abstract)):
        if "\n" in value or value.endswith("\r"):
            raise ValueError(f"PMID {pmid}: the {what} contains a newline or ends with '\\r'")
    lines = [f"{pmid}|t|{doc.title}", f"{pmid}|a|{doc.abstract}"]
    text = doc.text
    for mention in doc.mentions:
        lines.append(_format_mention(pmid, mention, text))
    for rel in doc.relations:
        cols = [pmid, rel.type, *rel.args]
        if not rel.type or rel.type[0].isdigit() or rel.type[0] in "+-" or not rel.args:
            raise ValueError(
                f"PMID {pmid}: relation {rel} needs a type that is not an offset and arguments"
            )
        if _mention_shaped(cols):
            raise ValueError(
                f"PMID {pmid}: relation {rel} has the shape of a mention line (5+ columns, an "
                "integer 3rd one) and would read back as one"
            )
        lines.append(_join_columns(pmid, cols, f"relation {rel}"))
    return "\n".join(lines) + "\n"


def _format_mention(pmid: str, m: Mention, text: str) -> str:
    if not (0 <= m.start < m.end <= len(text)) or text[m.start : m.end] != m.text:
        raise ValueError(
            f"PMID {pmid}: mention {m.text!r} at {m.start}-{m.end} does not match the document text"
        )
    if not m.type:
        raise ValueError(f"PMID {pmid}: mention {m.text!r} at {m.start}-{m.end} has an empty type")
    cols = [pmid, str(m.start), str(m.end), m.text.replace("\t", " "), m.type]
    if m.ids or m.extra:
        if not m.ids:
            raise ValueError(
                f"PMID {pmid}: mention at {m.start}-{m.end} has extra columns but no ids column"
            )
        if any("|" in i for i in m.ids):
            raise ValueError(f"PMID {pmid}: an id of mention at {m.start}-{m.end} contains '|'")
        cols.append("|".join(m.ids))
        cols.extend(m.extra)
    return _join_columns(pmid, cols, f"mention at {m.start}-{m.end}")


def _join_columns(pmid: str, cols: List[str], what: str) -> str:
    for col in cols:
        if "\t" in col or "\n" in col:
            raise ValueError(f"PMID {pmid}: {what} has a tab or newline inside column {col!r}")
    line = "\t".join(cols)
    if line.endswith("\r"):
        raise ValueError(f"PMID {pmid}: {what} ends with '\\r'")
    return line


def write_pubtator(docs: Iterable[Document], path: Union[str, Path]) -> int:
    """Write documents to ``path`` (gzip if the name ends in .gz), one blank line after each.

    Gzip output has a zero timestamp, so equal documents give equal bytes. The file is written
    under a temporary name and renamed when complete: a document that cannot be written
    (``ValueError``) leaves no file behind.
    RETURNS: the number of documents written.
    """
    path = Path(path)
    n = 0
    with atomic_open(path, "wb") as raw:
        binary: IO[bytes]
        if path.name.endswith(".gz"):
            binary = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
        else:
            binary = raw
        with io.TextIOWrapper(binary, encoding="utf-8", newline="\n") as out:
            for doc in docs:
                out.write(format_pubtator(doc))
                out.write("\n")
                n += 1
    return n
