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

With ``n_process`` > 1 the work per abstract (dictionary labels, type and knowledge-base
filters, tokenisation, Docs) runs in worker processes, on chunks of abstracts, a few chunks at
a time, and so does the serialisation of DocBin shards; reading, duplicate and gold removal,
and the writing of the results stay in the building process, which takes them in input
order, so that every output (PubTator files, DocBin shards, statistics, report) is the one of
a build in one process, byte for byte.
"""

from __future__ import annotations

import gc
import gzip
import io
import json
import multiprocessing
import os
import shutil
from collections import Counter, deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import (IO, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple,
                    Union)

from spacy.language import Language
from spacy.tokens import Doc

from ..atomic import atomic_write_text, temp_path
from ..corpus.docbin import DocBinWriter, FastDocBin
from ..corpus.document import Document, Mention
from ..corpus.pubtator import format_pubtator, read_pubtator
from ..corpus.spacy_docs import AlignmentReport, doc_from_document
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
    """Append documents to a PubTator file (gzip with a zero timestamp when the name ends .gz).

    The file is written under a temporary name (:func:`~spacy_bioner.atomic.temp_path`) and
    renamed by :meth:`close`; leaving the ``with`` block on an exception removes it instead, so
    a failed build leaves no half-written file."""

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = temp_path(self.path)
        self._raw = open(self._tmp, "wb")
        binary: IO[bytes] = self._raw
        if self.path.name.endswith(".gz"):
            binary = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
        self._out = io.TextIOWrapper(binary, encoding="utf-8", newline="\n")
        self.count = 0

    def write(self, document: Document) -> None:
        self.write_record(format_pubtator(document))

    def write_record(self, record: str) -> None:
        """Append a record already formatted by :func:`format_pubtator`."""
        self._out.write(record)
        self._out.write("\n")
        self.count += 1

    def close(self) -> None:
        """Finish the file and give it its name."""
        self._out.close()
        self._raw.close()
        if self._tmp.exists():
            os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Drop what was written (the file keeps its previous content, if any)."""
        try:
            self._out.close()
        except (OSError, ValueError):  # e.g. a full disk: the file is dropped anyway
            pass
        self._raw.close()
        if self._tmp.exists():
            self._tmp.unlink()

    def __enter__(self) -> "PubTatorWriter":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class CachingTokenizer:
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
# Reading (always in the building process): parse, drop repeated PMIDs and gold abstracts

#: Mention counts by category -> per-type counts, both in first-count order. Adding them to the
#: report (:func:`_apply_counts`) in input order leaves it as a one-process build does, down to
#: the order of its keys.
Counts = Dict[str, Counter]


def _add_counts(counts: Counts, category: str, mentions: Iterable[Mention]) -> None:
    counter = counts.setdefault(category, Counter())
    for mention in mentions:
        counter[mention.type] += 1


def _apply_counts(report: BuildReport, counts: Counts) -> None:
    for category, counter in counts.items():
        report.mentions.setdefault(category, Counter()).update(counter)


class _Reader:
    """The abstracts to build from, in input order, as ``(document, labelled, counts)``: each
    file is parsed in turn, a PMID seen before is a duplicate (the first copy is kept) and the
    leak guard drops gold abstracts. ``counts`` are the mention counts of the reading since the
    previous abstract yielded (this one's ``read``, the ``duplicate_document`` and
    ``gold_document`` of those dropped in between): the report gets them right before the
    counts of this abstract's own build, in the order of a one-process build, also when the
    reading runs ahead of the workers. :meth:`take` hands out those left at the end."""

    def __init__(self, pubtator: Sequence[PathLike], unlabeled: Sequence[PathLike],
                 guard: Optional[LeakGuard], report: BuildReport) -> None:
        self.inputs = [(p, True) for p in pubtator] + [(p, False) for p in unlabeled]
        self.guard = guard
        self.report = report
        self._counts: Counts = {}

    def take(self) -> Counts:
        counts, self._counts = self._counts, {}
        return counts

    def __iter__(self) -> Iterator[Tuple[Document, bool, Counts]]:
        report = self.report
        first: Dict[str, str] = {}
        for path, labelled in self.inputs:
            entry: Dict[str, object] = {"path": str(path), "documents": 0,
                                        "kind": "pubtator" if labelled else "dictionary"}
            if not labelled:
                entry["annotations"] = "ignored (text only): the dictionary labels these abstracts"
            report.inputs.append(entry)
            for document in read_pubtator(path, text_only=not labelled):
                entry["documents"] = int(entry["documents"]) + 1  # type: ignore[arg-type]
                report.documents_read += 1
                _add_counts(self._counts, "read", document.mentions)
                if document.pmid in first:
                    report.duplicates += 1
                    _add_counts(self._counts, "duplicate_document", document.mentions)
                    if len(report.duplicate_examples) < MAX_RECORDS:
                        report.duplicate_examples.append({"pmid": document.pmid,
                                                          "source": document.source or "?",
                                                          "kept": first[document.pmid]})
                    continue
                first[document.pmid] = document.source or "?"
                if self.guard is not None and not list(self.guard.filter([document])):
                    _add_counts(self._counts, "gold_document", document.mentions)
                    continue
                yield document, labelled, self.take()


# --------------------------------------------------------------------------------------------
# The per-document work (in the building process, or in worker processes)

#: One abstract's results: its report counts, the ``BuildReport.documents`` keys it increments
#: (in order), and per data set it joins ("CDWC", then "CDWA") its PubTator record and its Doc
#: (packed by :meth:`FastDocBin.pack` when made in a worker; None without DocBin output).
DocResult = Tuple[Counts, List[str], List[Tuple[str, str, object]]]


class _Accumulators:
    """The statistics and alignment reports filled by :class:`_DocumentWork`."""

    def __init__(self) -> None:
        self.stats = {name: DatasetStats(name) for name in ("CDWC", "CDWA")}
        self.dict_stats = DatasetStats("CDWC (dictionary part)")
        self.align = {name: AlignmentReport(name=name) for name in ("CDWC", "CDWA")}

    def merge(self, part: "_Accumulators") -> None:
        """Add the accumulators of the next documents (those of a worker's chunk)."""
        for name in ("CDWC", "CDWA"):
            _merge_stats(self.stats[name], part.stats[name])
            self.align[name].merge(part.align[name])
            _trim(self.align[name])
        _merge_stats(self.dict_stats, part.dict_stats)


def _merge_stats(into: DatasetStats, part: DatasetStats) -> None:
    into.abstracts += part.abstracts
    into.tokens += part.tokens
    into.mentions.update(part.mentions)
    into.without_id.update(part.without_id)
    for entity_type, ids in part.ids.items():
        into.ids.setdefault(entity_type, set()).update(ids)


class _DocumentWork:
    """What a build does with one abstract once read: the dictionary labels (unlabeled inputs)
    or the type filter, the knowledge-base filter, the PubTator records, the tokenisation and
    the Docs, and their statistics (into the :class:`_Accumulators` given)."""

    def __init__(self, kb: KnowledgeBase, labeller: Optional[Callable[[Document], List[Mention]]],
                 tokens: CachingTokenizer, types: Sequence[str], require_kb: bool, docbin: bool,
                 pack: bool) -> None:
        self.kb = kb
        self.labeller = labeller
        self.tokens = tokens
        self.types = types
        self.require_kb = require_kb
        self.docbin = docbin
        self.packer = FastDocBin() if pack else None

    def __call__(self, document: Document, labelled: bool, acc: _Accumulators,
                 strings: Optional[Dict[int, str]] = None) -> DocResult:
        counts: Counts = {}
        keys: List[str] = []
        if labelled:
            coverage, filtered = coverage_document(document, self.types)
            _add_counts(counts, "filtered_by_type", filtered)
        else:
            coverage = _with_mentions(document, list(self.labeller(document)))  # type: ignore[misc]
            _add_counts(counts, "dictionary_labels", coverage.mentions)
            keys.append("dictionary_labelled")
        accuracy, no_id, not_in_kb = accuracy_document(coverage, self.kb)
        sets = [("CDWC", coverage)]
        _add_counts(counts, "cdwc", coverage.mentions)
        if self.require_kb and document.pmid not in self.kb:
            _add_counts(counts, "removed_no_kb_entry", coverage.mentions)
            keys.append("cdwa_skipped_no_kb_entry")
        else:
            _add_counts(counts, "removed_no_id", no_id)
            _add_counts(counts, "removed_not_in_kb", not_in_kb)
            _add_counts(counts, "cdwa", accuracy.mentions)
            sets.append(("CDWA", accuracy))
        outputs: List[Tuple[str, str, object]] = []
        for name, doc_out in sets:
            record = format_pubtator(doc_out)
            keys.append(name)
            spacy_doc = doc_from_document(
                self.tokens, doc_out, acc.align[name], types=self.types)  # type: ignore[arg-type]
            _trim(acc.align[name])
            n_tokens = count_tokens(spacy_doc)
            acc.stats[name].add(doc_out, n_tokens)
            if name == "CDWC" and not labelled:
                acc.dict_stats.add(doc_out, n_tokens)
            packed: object = None
            if self.docbin:
                packed = spacy_doc if self.packer is None else self.packer.pack(spacy_doc, strings)
            outputs.append((name, record, packed))
        return counts, keys, outputs


# Worker processes: each gets the knowledge bases, the labeller and a pipeline (the ``nlp``
# given, or a biomedical one made before the fork, so that what spaCy imports to make one is
# imported once) with the fork; a worker renews the biomedical one as a build in one process
# does (see :class:`CachingTokenizer`).
_WORK: Optional[_DocumentWork] = None


def _start_worker(kb: KnowledgeBase, labeller: Optional[Callable[[Document], List[Mention]]],
                  nlp: Language, renew: bool, types: Sequence[str], require_kb: bool,
                  docbin: bool) -> None:
    global _WORK
    tokens = CachingTokenizer(nlp, make_bio_nlp if renew else None)
    _WORK = _DocumentWork(kb, labeller, tokens, types, require_kb, docbin, pack=True)


def _work_chunk(items: Sequence[Tuple[Document, bool]]) -> Tuple[List[DocResult], _Accumulators]:
    """The results of a chunk of abstracts. An error is raised in the building process by the
    executor, as the same type with the same message (the worker's traceback as its cause)."""
    assert _WORK is not None, "worker not started"
    acc = _Accumulators()
    strings: Dict[int, str] = {}
    return [_WORK(document, labelled, acc, strings) for document, labelled in items], acc


def _mp_context() -> multiprocessing.context.BaseContext:
    """Fork where there is one: the workers share the knowledge bases and the labeller with
    the building process instead of unpickling a copy each."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


# --------------------------------------------------------------------------------------------
# The build


class _ResultWriter:
    """Puts the results of the abstracts, in input order, into the report and the outputs."""

    def __init__(self, report: BuildReport, writers: Dict[str, PubTatorWriter],
                 bins: Dict[str, DocBinWriter], packed: bool, progress: bool) -> None:
        self.report = report
        self.writers = writers
        self.bins = bins
        self.packed = packed
        self.progress = progress
        self.bar = None

    def add(self, counts: Counts, result: DocResult) -> None:
        """``counts`` (of the reading, see :class:`_Reader`), then the abstract's results."""
        report = self.report
        _apply_counts(report, counts)
        doc_counts, keys, outputs = result
        _apply_counts(report, doc_counts)
        for key in keys:
            report.documents[key] += 1
        for name, record, doc in outputs:
            self.writers[name].write_record(record)
            if doc is not None and name in self.bins:
                if self.packed:
                    self.bins[name].add_packed(doc)  # type: ignore[arg-type]
                else:
                    self.bins[name].add(doc)  # type: ignore[arg-type]
        if self.progress:
            if self.bar is None:  # made once the workers run (no thread of its own at fork)
                from tqdm import tqdm

                self.bar = tqdm(desc="weak build", unit="doc", mininterval=1.0)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Workers:
    """``n_process`` worker processes, started (forked) by the first :meth:`submit`."""

    def __init__(self, n_process: int, state: Tuple[object, ...]) -> None:
        self.n_process = n_process
        self.executor = ProcessPoolExecutor(n_process, mp_context=_mp_context(),
                                            initializer=_start_worker, initargs=state)
        self.started = False

    def submit(self, fn: Callable[..., object], *args: object) -> "Future[object]":
        if self.started:
            return self.executor.submit(fn, *args)
        gc.freeze()  # the collector of a worker then leaves alone the objects it inherits
        try:  # (which it would otherwise copy page by page, with their headers)
            return self.executor.submit(fn, *args)
        finally:
            gc.unfreeze()
            self.started = True

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def _build_in_workers(reader: _Reader, sink: _ResultWriter, acc: _Accumulators, workers: _Workers,
                      chunk_size: int) -> None:
    """The reading stays here and sends chunks of ``chunk_size`` abstracts to the workers, at
    most ``4 * n_process`` chunks at a time, whose results are taken in input order. A reading
    error is raised after those of the abstracts before it, as in one process."""
    in_flight: Deque[Tuple["Future[object]", List[Counts]]] = deque()

    def finish() -> None:
        future, counts = in_flight.popleft()
        results, part = future.result()  # type: ignore[misc]
        for before, result in zip(counts, results):
            sink.add(before, result)
        acc.merge(part)

    read_error: Optional[Exception] = None
    items = iter(reader)
    chunk: List[Tuple[Document, bool]] = []
    counts: List[Counts] = []
    while True:
        try:
            document, labelled, before = next(items)
        except StopIteration:
            last = True
        except Exception as err:  # raised once the abstracts before it are done
            read_error, last = err, True
        else:
            chunk.append((document, labelled))
            counts.append(before)
            last = False
        if chunk and (last or len(chunk) >= chunk_size):
            in_flight.append((workers.submit(_work_chunk, chunk), counts))
            chunk, counts = [], []
            if len(in_flight) >= 4 * workers.n_process:
                finish()
        if last:
            break
    while in_flight:
        finish()
    if read_error is not None:
        raise read_error


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
    n_process: int = 1,
    chunk_size: int = 32,
) -> BuildResult:
    """Write CDWC/CDWA (PubTator .gz and DocBin), ``stats.json``, ``stats.md`` and
    ``report.json`` to ``output_dir`` from PubTator inputs (and dictionary-labelled
    ``unlabeled`` inputs, which need ``labeller``: a function from a Document to its mentions).
    Without ``nlp``, the biomedical tokenizer is used and renewed now and then (see
    :class:`CachingTokenizer`); a given ``nlp`` is used throughout (its vocabulary then grows).

    With ``n_process`` > 1, the per-abstract work (labelling, filtering, tokenisation, Docs)
    runs in that many worker processes (forked where the platform can: they share ``kb``,
    ``labeller`` and ``nlp``), on chunks of ``chunk_size`` abstracts, and so does the
    serialisation of the DocBin shards; reading, duplicate and gold removal, and writing stay
    in this process. The outputs are the same, byte for byte, as with one process, and so is
    an error: same type, same message (the worker's traceback as its ``__cause__``)."""
    if unlabeled and labeller is None:
        raise ValueError("unlabeled inputs need a dictionary labeller")
    if n_process < 1 or chunk_size < 1:
        raise ValueError(f"n_process and chunk_size must be positive, got {n_process}, "
                         f"{chunk_size}")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = BuildReport(knowledge_base={"pmids": len(kb), **kb.report.to_dict()})
    acc = _Accumulators()
    bins = ({name: DocBinWriter(out / f"{name}.spacy", shard_size, shard_tokens)
             for name in ("CDWC", "CDWA")} if docbin else {})
    reader = _Reader(list(pubtator), list(unlabeled), guard, report)
    workers = None
    if n_process > 1:
        workers = _Workers(n_process, (kb, labeller, nlp if nlp is not None else make_bio_nlp(),
                                       nlp is None, tuple(types), require_kb, docbin))
        for writer in bins.values():
            writer.submit = workers.submit
    try:
        with PubTatorWriter(out / "CDWC.PubTator.gz") as cdwc_out, \
                PubTatorWriter(out / "CDWA.PubTator.gz") as cdwa_out:
            sink = _ResultWriter(report, {"CDWC": cdwc_out, "CDWA": cdwa_out}, bins, workers is not None,
                         progress)
            try:
                if workers is None:
                    tokens = (CachingTokenizer(nlp) if nlp is not None
                              else CachingTokenizer(make_bio_nlp(), make_bio_nlp))
                    work = _DocumentWork(kb, labeller, tokens, types, require_kb, docbin,
                                         pack=False)
                    for document, labelled, before in reader:
                        sink.add(before, work(document, labelled, acc))
                else:
                    _build_in_workers(reader, sink, acc, workers, chunk_size)
            finally:
                sink.close()
            _apply_counts(report, reader.take())
        for writer in bins.values():
            writer.close()
    except BaseException:  # no half-written DocBin output (the PubTator writers drop theirs)
        for writer in bins.values():
            if writer.path.is_dir():
                shutil.rmtree(writer.path, ignore_errors=True)
            elif writer.path.exists():
                writer.path.unlink()
        raise
    finally:
        if workers is not None:
            workers.close()
    if guard is not None:
        report.leak_guard = dict(guard.to_dict())
    report.alignment = {name: _alignment_dict(a) for name, a in acc.align.items()}
    report.outputs = {name: str(out / f"{name}.PubTator.gz") for name in ("CDWC", "CDWA")}
    report.outputs.update({f"{name}.spacy": str(w.path) for name, w in bins.items()})
    all_stats = list(acc.stats.values()) + ([acc.dict_stats] if acc.dict_stats.abstracts else [])
    write_stats(all_stats, out / "stats.json", out / "stats.md")
    atomic_write_text(out / "report.json", json.dumps(report.to_dict(), indent=2) + "\n")
    return BuildResult(report, all_stats)
