"""Documents <-> spaCy Docs: entity alignment, sentence splitting, reading a corpus file, and
spaCy's corpus reader over PubTator (DocBin files are :mod:`.docbin`'s).

A :class:`Document`'s mentions become ``doc.ents`` (label = mention type, ``kb_id`` = its ids joined
by ``|``). Every Doc carries ``user_data`` with ``pmid``, ``offset`` (its character offset in the
abstract-level text, 0 for a whole abstract) and ``title_end`` (``len(title)``, in abstract-level
offsets), so that :func:`mentions_from_doc` and :func:`documents_from_docs` give back
abstract-level character offsets, also for sentence-level Docs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import (
    Any,
    Callable,
    Collection,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    Union,
)

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example

from .document import Document, Mention
from .pubtator import parse_type_map, read_pubtator

PMID_KEY = "pmid"
OFFSET_KEY = "offset"
TITLE_END_KEY = "title_end"

SENTENCE_END_CHARS = frozenset(".!?")


@dataclass(frozen=True)
class MentionRecord:
    """A mention that did not align exactly, with what happened to it."""

    pmid: str
    start: int
    end: int
    text: str
    type: str
    detail: str

    def __str__(self) -> str:
        return f"{self.pmid} {self.start}-{self.end} {self.type} {self.text!r}: {self.detail}"


@dataclass
class AlignmentReport:
    """How gold mentions mapped onto token spans.

    ``exact + expanded + lost + overlap_removed + duplicates`` is the number of mentions of the
    kept types; ``skipped_types`` counts mentions of other types (see ``types=``).
    """

    name: str = ""
    documents: int = 0
    exact: int = 0
    expanded: int = 0
    lost: int = 0
    overlap_removed: int = 0
    duplicates: int = 0
    skipped_types: int = 0
    expanded_mentions: List[MentionRecord] = field(default_factory=list)
    lost_mentions: List[MentionRecord] = field(default_factory=list)
    overlap_mentions: List[MentionRecord] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.exact + self.expanded + self.lost + self.overlap_removed + self.duplicates

    @property
    def expanded_share(self) -> float:
        return self.expanded / self.total if self.total else 0.0

    def merge(self, other: "AlignmentReport") -> "AlignmentReport":
        """Add ``other``'s counts and records to this report (in place); return self."""
        for name in ("documents", "exact", "expanded", "lost", "overlap_removed", "duplicates",
                     "skipped_types"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.expanded_mentions.extend(other.expanded_mentions)
        self.lost_mentions.extend(other.lost_mentions)
        self.overlap_mentions.extend(other.overlap_mentions)
        return self

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict: counts, ``total``, ``expanded_share`` and the mention records."""
        data = asdict(self)
        data["total"] = self.total
        data["expanded_share"] = self.expanded_share
        return data

    def summary(self) -> str:
        """One line: name, counts."""
        return (
            f"{self.name or 'alignment'}: {self.documents} docs, {self.total} mentions: "
            f"exact {self.exact}, expanded {self.expanded} ({100 * self.expanded_share:.3f}%), "
            f"lost {self.lost}, overlap_removed {self.overlap_removed}, "
            f"duplicates {self.duplicates}, skipped_types {self.skipped_types}"
        )

    def format(self, max_examples: int = 10) -> str:
        """Multi-line text: the counts and up to ``max_examples`` records of each kind."""
        lines = [f"Alignment report: {self.name or '-'}", f"  documents        {self.documents:>8}"]
        for label in ("exact", "expanded", "lost", "overlap_removed", "duplicates"):
            count = getattr(self, label)
            share = 100 * count / self.total if self.total else 0.0
            lines.append(f"  {label:<16} {count:>8}  {share:7.3f}%")
        lines.append(f"  {'total':<16} {self.total:>8}")
        lines.append(f"  {'skipped_types':<16} {self.skipped_types:>8}")
        for title, records in (
            ("expanded", self.expanded_mentions),
            ("lost", self.lost_mentions),
            ("overlap_removed", self.overlap_mentions),
        ):
            if records and max_examples > 0:
                lines.append(f"  {title} (first {min(len(records), max_examples)}):")
                lines.extend(f"    {record}" for record in records[:max_examples])
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def _kb_id(mention: Mention) -> str:
    return "|".join(mention.ids)


def _record(pmid: str, mention: Mention, text: str, detail: str) -> MentionRecord:
    return MentionRecord(pmid, mention.start, mention.end, text, mention.type, detail)


def doc_from_document(
    nlp: Language,
    document: Document,
    report: Optional[AlignmentReport] = None,
    *,
    types: Optional[Collection[str]] = None,
) -> Doc:
    """Tokenise ``document.text`` with ``nlp`` and set ``doc.ents`` from its mentions.

    Alignment: ``char_span`` in "strict" mode, else "expand" (counted as expanded), else the
    mention is lost. Overlapping spans: the longer mention (in characters, then the earlier) is
    kept; the others are counted as ``overlap_removed`` (``duplicates`` for the same span/type).
    """
    report = report if report is not None else AlignmentReport()
    text = document.text
    doc = nlp.make_doc(text)
    doc.user_data[PMID_KEY] = document.pmid
    doc.user_data[OFFSET_KEY] = 0
    doc.user_data[TITLE_END_KEY] = len(document.title)
    candidates: List[Tuple[Span, Mention, bool]] = []
    for mention in document.mentions:
        if types is not None and mention.type not in types:
            report.skipped_types += 1
            continue
        if not 0 <= mention.start < mention.end <= len(text):
            report.lost += 1
            report.lost_mentions.append(_record(
                document.pmid, mention, mention.text,
                f"offsets outside the text (length {len(text)}) in {document.source or '?'}"))
            continue
        covered = text[mention.start:mention.end]
        kwargs = {"label": mention.type, "kb_id": _kb_id(mention)}
        span = doc.char_span(mention.start, mention.end, alignment_mode="strict", **kwargs)
        exact = span is not None
        if span is None:
            span = doc.char_span(mention.start, mention.end, alignment_mode="expand", **kwargs)
        if span is None or not covered.strip() or all(t.is_space for t in span):
            report.lost += 1
            report.lost_mentions.append(_record(
                document.pmid, mention, covered, "no token span (whitespace only)"
                if not covered.strip() else "no token span"))
            continue
        candidates.append((span, mention, exact))
    # longer mentions first; ties: earlier start, then input order (sort is stable)
    candidates.sort(key=lambda c: (-(c[1].end - c[1].start), c[1].start))
    owner: Dict[int, Tuple[Span, Mention]] = {}
    kept: List[Span] = []
    for span, mention, exact in candidates:
        clash = next((owner[i] for i in range(span.start, span.end) if i in owner), None)
        if clash is not None:
            other_span, other = clash
            if (other.start, other.end, other.type) == (mention.start, mention.end, mention.type):
                report.duplicates += 1
                continue
            report.overlap_removed += 1
            report.overlap_mentions.append(_record(
                document.pmid, mention, text[mention.start:mention.end],
                f"overlaps kept {other.start}-{other.end} {other.type} {other_span.text!r}"))
            continue
        for i in range(span.start, span.end):
            owner[i] = (span, mention)
        kept.append(span)
        if exact:
            report.exact += 1
        else:
            report.expanded += 1
            report.expanded_mentions.append(_record(
                document.pmid, mention, text[mention.start:mention.end],
                f"expanded to {span.start_char}-{span.end_char} {span.text!r}"))
    doc.ents = sorted(kept, key=lambda s: s.start)
    report.documents += 1
    return doc


def _after_number(doc: Doc, i: int) -> bool:
    """Whether token ``i`` (a period) follows a number, as in a split decimal ``18. 5%``."""
    return i > 0 and doc[i - 1].like_num


def sentence_starts(doc: Doc) -> List[int]:
    """Token indices where sentences start (always 0 for a non-empty doc).

    Boundaries: the start of the abstract (after ``user_data["title_end"]``), and after a ``.``,
    ``!`` or ``?`` token followed by whitespace and a token that starts with an upper-case letter,
    an opening bracket, or a digit (unless a number precedes the period). Never inside an entity.
    """
    if len(doc) == 0:
        return []
    inside = [False] * len(doc)
    for ent in doc.ents:
        for i in range(ent.start + 1, ent.end):
            inside[i] = True
    offset = doc.user_data.get(OFFSET_KEY, 0)
    title_end = doc.user_data.get(TITLE_END_KEY)
    starts = [0]
    title_split = False
    for i in range(1, len(doc)):
        token = doc[i]
        if token.is_space or inside[i]:
            continue
        prev = i - 1
        while prev > 0 and doc[prev].is_space:
            prev -= 1
        if title_end is not None and not title_split and token.idx + offset > title_end:
            title_split = True
            if doc[prev].idx + offset < title_end:
                starts.append(i)
                continue
        prev_token = doc[prev]
        first = token.text[0]
        opens = first.isupper() or first in "([" or (
            first.isdigit() and not _after_number(doc, prev)
        )
        if (
            prev_token.text in SENTENCE_END_CHARS
            and (prev_token.whitespace_ or prev != i - 1)
            and opens
        ):
            starts.append(i)
    return starts


def split_sentences(doc: Doc) -> List[Doc]:
    """Sentence Docs of ``doc`` (see :func:`sentence_starts`), entities and ids kept.

    Each keeps ``pmid`` and ``title_end`` and has ``offset`` = its character offset in the
    abstract-level text; their texts concatenate back to ``doc.text``.
    """
    starts = sentence_starts(doc)
    base = doc.user_data.get(OFFSET_KEY, 0)
    sentences = []
    for begin, end in zip(starts, starts[1:] + [len(doc)]):
        sent = doc[begin:end].as_doc()
        sent.user_data.update(doc.user_data)
        sent.user_data[OFFSET_KEY] = base + doc[begin].idx
        sentences.append(sent)
    return sentences


def docs_from_documents(
    nlp: Language,
    documents: Iterable[Document],
    report: Optional[AlignmentReport] = None,
    *,
    sentence_level: bool = False,
    types: Optional[Collection[str]] = None,
) -> Iterator[Doc]:
    """Docs with ``doc.ents`` from the documents' mentions (see :func:`doc_from_document`).

    ``sentence_level=True`` yields one Doc per sentence instead (for training);
    ``types`` keeps only mentions of those types. Counts go to ``report`` when given.
    """
    for document in documents:
        doc = doc_from_document(nlp, document, report, types=types)
        if sentence_level:
            yield from split_sentences(doc)
        else:
            yield doc


def mentions_from_doc(doc: Doc) -> List[Mention]:
    """``doc.ents`` as mentions with offsets into the abstract-level text (type = label).

    Adds ``user_data["offset"]`` for sentence Docs; ``ids`` come from the entity's ``kb_id``.
    """
    offset = doc.user_data.get(OFFSET_KEY, 0)
    return [
        Mention(
            ent.start_char + offset,
            ent.end_char + offset,
            ent.text,
            ent.label_,
            tuple(ent.kb_id_.split("|")) if ent.kb_id_ else (),
        )
        for ent in doc.ents
    ]


def documents_from_docs(docs: Iterable[Doc]) -> List[Document]:
    """Regroup Docs (whole abstracts or sentences, in any order) into abstract-level Documents.

    Docs are grouped by ``user_data["pmid"]`` (first-seen order) and joined by ``offset``; a
    piece whose offset its PMID already has starts another copy (a corpus may repeat an
    abstract). The title is the text up to ``title_end``. Raises ``ValueError`` when user_data
    is missing or the pieces of an abstract leave a gap or overlap.
    """
    groups: Dict[str, List[Dict[int, Doc]]] = {}
    order: List[Tuple[str, int]] = []
    for number, doc in enumerate(docs):
        missing = [k for k in (PMID_KEY, TITLE_END_KEY) if k not in doc.user_data]
        if missing:
            raise ValueError(
                f"doc #{number} ({doc.text[:40]!r}) has no user_data {missing}: "
                "make it with docs_from_documents"
            )
        pmid = str(doc.user_data[PMID_KEY])
        offset = int(doc.user_data.get(OFFSET_KEY, 0))
        copies = groups.setdefault(pmid, [])
        copy = next((i for i, pieces in enumerate(copies) if offset not in pieces), len(copies))
        if copy == len(copies):
            copies.append({})
            order.append((pmid, copy))
        copies[copy][offset] = doc
    return [_join_pieces(pmid, groups[pmid][copy]) for pmid, copy in order]


def _join_pieces(pmid: str, pieces: Dict[int, Doc]) -> Document:
    """One Document from the Docs of one abstract, keyed by their offsets."""
    text_parts: List[str] = []
    mentions: List[Mention] = []
    length = 0
    for offset in sorted(pieces):
        if offset != length:
            problem = "a gap" if offset > length else "an overlap"
            raise ValueError(
                f"PMID {pmid}: {problem} between its docs at character {length} "
                f"(next doc starts at {offset})"
            )
        piece = pieces[offset]
        text_parts.append(piece.text)
        length += len(piece.text)
        mentions.extend(mentions_from_doc(piece))
    text = "".join(text_parts)
    title_end = int(pieces[0].user_data[TITLE_END_KEY])
    if title_end >= len(text) or text[title_end] != " ":
        raise ValueError(
            f"PMID {pmid}: no title/abstract separator (a space) at title_end={title_end}"
        )
    mentions.sort(key=lambda m: (m.start, m.end, m.type))
    return Document(
        pmid=pmid, title=text[:title_end], abstract=text[title_end + 1:], mentions=mentions
    )


def read_documents(
    path: Union[str, Path],
    *,
    fmt: str = "pubtator",
    type_map: Union[None, str, Mapping[str, str]] = None,
) -> Iterator[Document]:
    """Documents of a PubTator (plain or .gz) or BioC XML file."""
    mapping = parse_type_map(type_map)
    if fmt == "pubtator":
        return read_pubtator(path, type_map=mapping)
    if fmt == "bioc":
        from .bioc import read_bioc

        return read_bioc(path, type_map=mapping)
    raise ValueError(f"unknown corpus format {fmt!r}: use 'pubtator' or 'bioc'")


@spacy.registry.readers("spacy_bioner.PubTatorCorpus.v1")
def create_pubtator_corpus_reader(
    path: Optional[Union[str, Path]],
    type_map: Union[None, str, Dict[str, str]] = None,
    types: Optional[List[str]] = None,
    sentence_level: bool = False,
    limit: int = 0,
) -> Callable[[Language], Iterator[Example]]:
    """A spaCy corpus reader over a PubTator file, for ``[corpora]`` in a training config.

    Each abstract (or sentence, with ``sentence_level``) becomes an Example whose reference has
    the gold entities, tokenised by the pipeline's tokenizer. ``type_map`` renames types
    ("ncbi" or a mapping), ``types`` keeps only those, ``limit`` caps the documents (0 = all).
    """
    if path is None:
        return lambda nlp: iter(())
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such PubTator file")
    mapping = parse_type_map(type_map)
    keep = set(types) if types else None

    def read(nlp: Language) -> Iterator[Example]:
        documents: Iterable[Document] = read_pubtator(source, type_map=mapping)
        if limit:
            documents = (doc for i, doc in zip(range(limit), documents))
        for reference in docs_from_documents(
            nlp, documents, sentence_level=sentence_level, types=keep
        ):
            yield Example(nlp.make_doc(reference.text), reference)

    return read


__all__ = [
    "AlignmentReport",
    "MentionRecord",
    "create_pubtator_corpus_reader",
    "doc_from_document",
    "docs_from_documents",
    "documents_from_docs",
    "mentions_from_doc",
    "read_documents",
    "sentence_starts",
    "split_sentences",
]
