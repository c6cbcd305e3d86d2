"""Build the two weakly labelled datasets of METHOD.md section 1, streaming, one abstract at a time.

- CDWC (coverage): every Chemical and Disease span PubTator produced for the abstract; spans of
  other types (Gene, Species, ...) are counted as ``filtered_by_type``.
- CDWA (accuracy): the CDWC spans whose normalised id the knowledge bases associate with the
  same PMID (:meth:`KnowledgeBase.supports`); every other span is removed and counted. With
  ``require_kb`` (the default) an abstract the knowledge bases know nothing about is left out of
  CDWA altogether (an empty label set there would only teach "no entity"), and counted.

Gold abstracts (any split of CDR or NCBI Disease) are dropped by a :class:`LeakGuard`; a PMID
seen in an earlier input is a duplicate (the first copy is kept). Optionally, abstracts without
PubTator annotations (``unlabeled``) are labelled by a :class:`DictionaryLabeller` and join CDWC
(and CDWA, filtered by the knowledge bases, when their PMID is known there). Every mention read
is either written or counted in :class:`BuildReport` (see :meth:`BuildReport.accounting_errors`).

Memory does not grow with the corpus: documents are processed one by one, PubTator output is
written as it comes, DocBin output is flushed in shards (``CDWC.spacy`` becomes a folder of
shard files once it exceeds ``shard_size`` documents; spaCy's corpus readers accept both). What
grows is the set of PMIDs seen, the per-type id sets of the statistics and the report's lists.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy
import srsly
from spacy.attrs import DEP, ENT_ID, ENT_KB_ID, ENT_TYPE, LEMMA, MORPH, NORM, ORTH, SPACY, TAG
from spacy.language import Language
from spacy.tokens import Doc, DocBin

from ..corpus.docbin import AlignmentReport, doc_from_document
from ..corpus.document import Document, Mention
from ..corpus.pubtator import format_pubtator, read_pubtator
from ..corpus.splits import LeakGuard
from ..corpus.tokenizer import make_bio_nlp
from .kb import CHEMICAL, DISEASE, KnowledgeBase, split_ids
from .stats import DatasetStats, count_tokens, write_stats

PathLike = Union[str, Path]
KEEP_TYPES: Tuple[str, ...] = (CHEMICAL, DISEASE)
MAX_RECORDS = 200  # examples kept per list in the reports (counts are always complete)


# --------------------------------------------------------------------------------------------
# Incremental writers


class PubTatorWriter:
    """Append documents to a PubTator file (gzip with a zero timestamp when the name ends .gz)."""

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._raw = open(self.path, "wb")
        binary: IO[bytes] = self._raw
        if self.path.name.endswith(".gz"):
            binary = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
        self._out = io.TextIOWrapper(binary, encoding="utf-8", newline="\n")
        self.count = 0

    def write(self, document: Document) -> None:
        self._out.write(format_pubtator(document))
        self._out.write("\n")
        self.count += 1

    def close(self) -> None:
        self._out.close()
        self._raw.close()

    def __enter__(self) -> "PubTatorWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FastDocBin(DocBin):
    """A DocBin (with user data) whose :meth:`add` writes the same bytes as ``DocBin.add`` but
    collects the strings once per distinct hash instead of once per token attribute, and packs
    ``user_data`` with one reused msgpack packer (``srsly.msgpack_dumps`` builds a packer, and
    scans the package entry points, on every call)."""

    STRING_ATTRS = (ORTH, NORM, TAG, LEMMA, MORPH, DEP, ENT_TYPE, ENT_KB_ID, ENT_ID)

    def __init__(self) -> None:
        super().__init__(store_user_data=True)
        self._packer = srsly.msgpack.Packer(use_bin_type=True)

    def add(self, doc: Doc) -> None:
        if len(doc.spans):
            super().add(doc)  # span groups: the general path
            return
        array = doc.to_array(self.attrs)
        if len(array.shape) == 1:
            array = array.reshape((array.shape[0], 1))
        self.tokens.append(array)
        spaces = doc.to_array(SPACY).reshape((len(doc), 1))
        self.spaces.append(numpy.asarray(spaces, dtype=bool))
        self.flags.append({"has_unknown_spaces": doc.has_unknown_spaces})
        strings = doc.vocab.strings
        for key in numpy.unique(doc.to_array(list(self.STRING_ATTRS))).tolist():
            self.strings.add(strings[key] if key else "")
        self.cats.append(doc.cats)
        self.user_data.append(self._packer.pack(doc.user_data))
        self.span_groups.append(doc.spans.to_bytes())


class DocBinWriter:
    """Write Docs to ``path`` (a ``.spacy`` file) or, once a shard is full (``shard_size``
    Docs or ``shard_tokens`` tokens), to a folder of that name holding ``shard-00000.spacy``,
    ``shard-00001.spacy``, ... (spaCy's corpus readers take the folder as they take a file).
    Serialising a DocBin briefly needs several times its size, hence shards by tokens too."""

    def __init__(self, path: PathLike, shard_size: int = 1000,
                 shard_tokens: int = 200_000) -> None:
        if shard_size < 1 or shard_tokens < 1:
            raise ValueError(f"shard sizes must be positive, got {shard_size}, {shard_tokens}")
        self.path = Path(path)
        self.shard_size = shard_size
        self.shard_tokens = shard_tokens
        self.count = 0
        self.shards = 0
        self._tokens = 0
        self._bin = FastDocBin()
        if self.path.is_dir():
            shutil.rmtree(self.path)
        elif self.path.exists():
            self.path.unlink()

    def add(self, doc: Doc) -> None:
        self._bin.add(doc)
        self.count += 1
        self._tokens += len(doc)
        if len(self._bin) >= self.shard_size or self._tokens >= self.shard_tokens:
            self._flush()

    def _flush(self) -> None:
        if self.shards == 0:
            self.path.mkdir(parents=True)
        self._bin.to_disk(self.path / f"shard-{self.shards:05d}.spacy")
        self.shards += 1
        self._bin = FastDocBin()
        self._tokens = 0

    def close(self) -> None:
        if self.shards == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._bin.to_disk(self.path)
        elif len(self._bin):
            self._flush()


class TokenCache:
    """Stands in for ``nlp`` in :func:`doc_from_document`: tokenises a text once and hands out
    copies while the same text comes again (CDWA reuses the tokens of CDWC).

    With a ``factory``, the pipeline is replaced by a fresh one every ``refresh`` texts, so that
    its vocabulary (every token string seen) does not grow with the corpus; Docs of different
    vocabularies can share a DocBin, which stores strings and hash values."""

    def __init__(self, nlp: Language, factory: Optional[Callable[[], Language]] = None,
                 refresh: int = 2000) -> None:
        self.nlp = nlp
        self.factory = factory
        self.refresh = refresh
        self._texts = 0
        self._text: Optional[str] = None
        self._doc: Optional[Doc] = None

    def make_doc(self, text: str) -> Doc:
        if self._doc is None or text != self._text:
            self._texts += 1
            if self.factory is not None and self._texts % self.refresh == 0:
                self.nlp = self.factory()
            self._text, self._doc = text, self.nlp.make_doc(text)
        return self._doc.copy()

    def __getattr__(self, name: str) -> object:
        return getattr(self.nlp, name)


# --------------------------------------------------------------------------------------------
# Report


@dataclass
class BuildReport:
    """Counts of a build. ``mentions[category][type]``; categories:

    read, duplicate_document, gold_document (mentions of dropped abstracts), filtered_by_type,
    dictionary_labels (mentions the dictionary found in the unlabeled inputs, whose own
    annotation lines are not read), cdwc, cdwa, removed_no_id, removed_not_in_kb,
    removed_no_kb_entry.
    """

    inputs: List[Dict[str, object]] = field(default_factory=list)
    documents_read: int = 0
    duplicates: int = 0
    duplicate_examples: List[Dict[str, str]] = field(default_factory=list)
    leak_guard: Dict[str, object] = field(default_factory=dict)
    documents: Counter = field(default_factory=Counter)
    mentions: Dict[str, Counter] = field(default_factory=dict)
    alignment: Dict[str, Dict[str, object]] = field(default_factory=dict)
    knowledge_base: Dict[str, object] = field(default_factory=dict)
    outputs: Dict[str, str] = field(default_factory=dict)

    def count(self, category: str, mentions: Iterable[Mention]) -> None:
        counter = self.mentions.setdefault(category, Counter())
        for mention in mentions:
            counter[mention.type] += 1

    def total(self, category: str) -> int:
        return sum(self.mentions.get(category, Counter()).values())

    def accounting_errors(self) -> List[str]:
        """Identities that must hold (empty list = every mention read is written or reported)."""
        t = self.total
        errors = []
        dropped = t("duplicate_document") + t("gold_document") + t("filtered_by_type")
        if t("read") != dropped + t("cdwc") - t("dictionary_labels"):
            errors.append(f"read {t('read')} != dropped {dropped} + CDWC {t('cdwc')} "
                          f"- dictionary labels {t('dictionary_labels')}")
        removed = t("removed_no_id") + t("removed_not_in_kb") + t("removed_no_kb_entry")
        if t("cdwc") != t("cdwa") + removed:
            errors.append(f"CDWC {t('cdwc')} != CDWA {t('cdwa')} + removed {removed}")
        docs = self.documents
        accepted = self.documents_read - self.duplicates - len(self.leak_guard.get("removed", []))
        if docs["CDWC"] != accepted:
            errors.append(f"CDWC documents {docs['CDWC']} != read {self.documents_read} "
                          f"- duplicates - gold")
        if docs["CDWC"] != docs["CDWA"] + docs["cdwa_skipped_no_kb_entry"]:
            errors.append("CDWC documents != CDWA documents + documents without KB entry")
        return errors

    def to_dict(self) -> Dict[str, object]:
        return {
            "inputs": self.inputs,
            "documents_read": self.documents_read,
            "duplicates": {"count": self.duplicates, "examples": self.duplicate_examples},
            "leak_guard": self.leak_guard,
            "documents": dict(self.documents),
            "mentions": {k: dict(v) for k, v in self.mentions.items()},
            "mention_totals": {k: sum(v.values()) for k, v in self.mentions.items()},
            "alignment": self.alignment,
            "knowledge_base": self.knowledge_base,
            "outputs": self.outputs,
            "accounting_errors": self.accounting_errors(),
        }


@dataclass
class BuildResult:
    report: BuildReport
    stats: List[DatasetStats]


# --------------------------------------------------------------------------------------------
# Per-document steps


def coverage_document(document: Document, types: Sequence[str] = KEEP_TYPES
                      ) -> Tuple[Document, List[Mention]]:
    """The CDWC version of an abstract (mentions of ``types`` only) and the filtered mentions."""
    kept = [m for m in document.mentions if m.type in types]
    filtered = [m for m in document.mentions if m.type not in types]
    return _with_mentions(document, kept), filtered


def accuracy_document(document: Document, kb: KnowledgeBase
                      ) -> Tuple[Document, List[Mention], List[Mention]]:
    """The CDWA version of a CDWC abstract, the mentions without an id, and those not in the KB."""
    kept, no_id, not_in_kb = [], [], []
    for mention in document.mentions:
        if not split_ids(mention.ids):
            no_id.append(mention)
        elif kb.supports(document.pmid, mention):
            kept.append(mention)
        else:
            not_in_kb.append(mention)
    return _with_mentions(document, kept), no_id, not_in_kb


def _with_mentions(document: Document, mentions: List[Mention]) -> Document:
    return Document(document.pmid, document.title, document.abstract, mentions, [],
                    document.source)


def _trim(report: AlignmentReport) -> None:
    for records in (report.expanded_mentions, report.lost_mentions, report.overlap_mentions):
        del records[MAX_RECORDS:]


def _alignment_dict(report: AlignmentReport) -> Dict[str, object]:
    data = report.to_dict()
    for key in ("expanded_mentions", "lost_mentions", "overlap_mentions"):
        data[key] = [str(r) for r in getattr(report, key)[:MAX_RECORDS]]
    return data


# --------------------------------------------------------------------------------------------
# The build


def _read_inputs(paths: Sequence[PathLike], labelled: bool, report: BuildReport
                 ) -> Iterator[Tuple[Document, bool]]:
    """``(document, labelled)`` from each file in turn; records per-file document counts."""
    for path in paths:
        entry: Dict[str, object] = {"path": str(path), "documents": 0,
                                    "kind": "pubtator" if labelled else "dictionary"}
        if not labelled:
            entry["annotations"] = "ignored (text only): the dictionary labels these abstracts"
        report.inputs.append(entry)
        for document in read_pubtator(path, text_only=not labelled):
            entry["documents"] = int(entry["documents"]) + 1  # type: ignore[arg-type]
            report.documents_read += 1
            report.count("read", document.mentions)
            yield document, labelled


def _dedup(items: Iterable[Tuple[Document, bool]], report: BuildReport
           ) -> Iterator[Tuple[Document, bool]]:
    first: Dict[str, str] = {}
    for document, labelled in items:
        if document.pmid in first:
            report.duplicates += 1
            report.count("duplicate_document", document.mentions)
            if len(report.duplicate_examples) < MAX_RECORDS:
                report.duplicate_examples.append({"pmid": document.pmid,
                                                  "source": document.source or "?",
                                                  "kept": first[document.pmid]})
            continue
        first[document.pmid] = document.source or "?"
        yield document, labelled


def _guard(items: Iterable[Tuple[Document, bool]], guard: Optional[LeakGuard],
           report: BuildReport) -> Iterator[Tuple[Document, bool]]:
    for document, labelled in items:
        if guard is not None and not list(guard.filter([document])):
            report.count("gold_document", document.mentions)
            continue
        yield document, labelled


def build_weak_datasets(
    pubtator: Sequence[PathLike],
    kb: KnowledgeBase,
    output_dir: PathLike,
    *,
    guard: Optional[LeakGuard] = None,
    unlabeled: Sequence[PathLike] = (),
    labeller: Optional[Callable[[Document], List[Mention]]] = None,
    nlp: Optional[Language] = None,
    docbin: bool = True,
    shard_size: int = 1000,
    shard_tokens: int = 200_000,
    require_kb: bool = True,
    types: Sequence[str] = KEEP_TYPES,
    progress: bool = True,
) -> BuildResult:
    """Write CDWC/CDWA (PubTator .gz and DocBin), ``stats.json``, ``stats.md`` and
    ``report.json`` to ``output_dir`` from PubTator inputs (and dictionary-labelled
    ``unlabeled`` inputs, which need ``labeller``: a function from a Document to its mentions).
    Without ``nlp``, the biomedical tokenizer is used and renewed now and then (see
    :class:`TokenCache`); a given ``nlp`` is used throughout (its vocabulary then grows)."""
    if unlabeled and labeller is None:
        raise ValueError("unlabeled inputs need a dictionary labeller")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokens = TokenCache(nlp) if nlp is not None else TokenCache(make_bio_nlp(), make_bio_nlp)
    report = BuildReport(knowledge_base={"pmids": len(kb), **kb.report.to_dict()})
    stats = {name: DatasetStats(name) for name in ("CDWC", "CDWA")}
    dict_stats = DatasetStats("CDWC (dictionary part)")
    align = {name: AlignmentReport(name=name) for name in ("CDWC", "CDWA")}
    bins = ({name: DocBinWriter(out / f"{name}.spacy", shard_size, shard_tokens)
             for name in ("CDWC", "CDWA")} if docbin else {})

    items = _read_inputs(list(pubtator), True, report)
    items = _chain(items, _read_inputs(list(unlabeled), False, report))
    items = _guard(_dedup(items, report), guard, report)
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="weak build", unit="doc", mininterval=1.0)
    with PubTatorWriter(out / "CDWC.PubTator.gz") as cdwc_out, \
            PubTatorWriter(out / "CDWA.PubTator.gz") as cdwa_out:
        for document, labelled in items:
            if labelled:
                coverage, filtered = coverage_document(document, types)
                report.count("filtered_by_type", filtered)
            else:
                coverage = _with_mentions(document, list(labeller(document)))  # type: ignore[misc]
                report.count("dictionary_labels", coverage.mentions)
                report.documents["dictionary_labelled"] += 1
            accuracy, no_id, not_in_kb = accuracy_document(coverage, kb)
            sets = [("CDWC", coverage, cdwc_out)]
            report.count("cdwc", coverage.mentions)
            if require_kb and document.pmid not in kb:
                report.count("removed_no_kb_entry", coverage.mentions)
                report.documents["cdwa_skipped_no_kb_entry"] += 1
            else:
                report.count("removed_no_id", no_id)
                report.count("removed_not_in_kb", not_in_kb)
                report.count("cdwa", accuracy.mentions)
                sets.append(("CDWA", accuracy, cdwa_out))
            for name, doc_out, writer in sets:
                writer.write(doc_out)
                report.documents[name] += 1
                spacy_doc = doc_from_document(tokens, doc_out, align[name],  # type: ignore[arg-type]
                                              types=types)
                _trim(align[name])
                n_tokens = count_tokens(spacy_doc)
                stats[name].add(doc_out, n_tokens)
                if name == "CDWC" and not labelled:
                    dict_stats.add(doc_out, n_tokens)
                if docbin:
                    bins[name].add(spacy_doc)
    for writer in bins.values():
        writer.close()
    if guard is not None:
        report.leak_guard = dict(guard.to_dict())
    report.alignment = {name: _alignment_dict(a) for name, a in align.items()}
    report.outputs = {name: str(out / f"{name}.PubTator.gz") for name in ("CDWC", "CDWA")}
    report.outputs.update({f"{name}.spacy": str(w.path) for name, w in bins.items()})
    all_stats = list(stats.values()) + ([dict_stats] if dict_stats.abstracts else [])
    write_stats(all_stats, out / "stats.json", out / "stats.md")
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n",
                                     encoding="utf-8")
    return BuildResult(report, all_stats)


def _chain(*iterators: Iterator[Tuple[Document, bool]]) -> Iterator[Tuple[Document, bool]]:
    for iterator in iterators:
        yield from iterator
