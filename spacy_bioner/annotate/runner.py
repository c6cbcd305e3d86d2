"""Run a pipeline over input files, one output shard per file, resumable, on one machine.

The work of a job is a list of ``FileTask``s (input file -> shard). ``plan`` drops the shards that
are finished (the shard and its record in ``OUTPUT/.shards/`` exist) unless ``force``. Records are
read in batches of ``batch_size``; each batch is one ``nlp.pipe`` batch, in this process or in a
pool of ``n_process`` worker processes started with ``spawn`` (not forked: a parent that already
ran torch would hang them, torch's OpenMP pool does not survive ``fork``). The parent reads, writes and
keeps at most ``2 * n_process`` batches in flight, so memory does not grow with the input.
Batches are the same in every backend (consecutive records of one file), so the shards are the
same bytes whichever runs them.

A shard is finished in this order: its record (counts, failures, deletions, seconds, CPU seconds
spent in ``nlp.pipe`` and peak RSS of the processes that tagged it) is written to ``OUTPUT/.shards/SHARD.json``, then the shard is
renamed from its temporary name. ``write_reports`` gathers these into ``manifest.json``,
``failures.tsv`` (file, line or record, reason) and ``deleted.tsv`` (PubMed DeleteCitation PMIDs).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import resource
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from ..atomic import atomic_write_text
from ..device import use_gpu
from .readers import InputFile
from .records import Deleted, Entity, Failure, Record
from .writers import SHARD_SUFFIXES, ShardWriter, open_shard

__all__ = [
    "FileTask",
    "JobMismatchError",
    "JobOptions",
    "PipelineSpec",
    "load_pipeline",
    "plan",
    "process_files",
    "run_local",
    "shard_name",
    "tag_texts",
    "write_reports",
]

STATE_DIR = ".shards"
TagResult = Union[List[Entity], str]  # a record's entities, or why the pipeline failed on it


class JobMismatchError(ValueError):
    """The output folder holds shards made by another model, format or linker index."""


@dataclass(frozen=True)
class PipelineSpec:
    """How a process loads the pipeline (picklable, so workers and Ray actors load it themselves)."""

    model: str
    link: Optional[str] = None  # linker index folder: adds abbreviation_detector + bioner_linker
    gpu_id: int = -1
    threads: Optional[int] = None  # torch threads in the loading process; None leaves torch's default


@dataclass(frozen=True)
class JobOptions:
    """What decides a shard's content: the pipeline, the output format and the batch size."""

    model: str
    output_format: str
    link: Optional[str] = None
    batch_size: int = 32

    @property
    def key(self) -> Dict[str, Any]:
        """Compared with a finished shard's record before it is skipped."""
        return {"model": self.model, "format": self.output_format, "link": self.link}


@dataclass(frozen=True)
class FileTask:
    input: str
    shard: str  # the output path
    input_format: str = "auto"


def shard_name(input_path: Union[str, Path], output_format: str) -> str:
    """``pubmed26n0001.xml.gz`` -> ``pubmed26n0001`` + the format's suffix (``.jsonl``, ``.PubTator``...)."""
    name = Path(input_path).name
    if name.endswith(".gz"):
        name = name[:-3]
    stem, dot, ext = name.rpartition(".")
    if dot and stem and ext.lower() in ("xml", "json", "jsonl", "txt", "pubtator", "bioc", "tsv"):
        name = stem
        if name.lower().endswith((".bioc", ".pubtator")):
            name = name.rpartition(".")[0]
    return name + SHARD_SUFFIXES[output_format]


def _state_path(shard: Union[str, Path]) -> Path:
    shard = Path(shard)
    return shard.parent / STATE_DIR / (shard.name + ".json")


def plan(
    inputs: Sequence[Path], output: Path, options: JobOptions, input_format: str = "auto", force: bool = False
) -> Tuple[List[FileTask], List[Dict[str, Any]]]:
    """The files still to do and the records of the finished shards that are skipped.

    Temporary shards of the files to do, left by a run that was killed, are deleted.

    RAISES: ValueError when two inputs map to the same shard; JobMismatchError when a finished
        shard was made with another model, format or index (and not ``force``).
    """
    todo: List[FileTask] = []
    done: List[Dict[str, Any]] = []
    seen: Dict[str, Path] = {}
    for path in inputs:
        name = shard_name(path, options.output_format)
        if name in seen:
            raise ValueError(f"{seen[name]} and {path} would both be written to the shard {name}; rename one")
        seen[name] = path
        shard = output / name
        state = _state_path(shard)
        if not force and shard.exists() and state.exists():
            record = json.loads(state.read_text(encoding="utf-8"))
            if record.get("job") != options.key:
                raise JobMismatchError(
                    f"{shard} was made with {record.get('job')}, not {options.key}: use --force to redo it "
                    "or write to another --output"
                )
            done.append(record)
            continue
        for stale in output.glob(f".{name}.*.tmp"):  # left by a run that was killed
            stale.unlink()
        todo.append(FileTask(str(path), str(shard), input_format))
    return todo, done


# ---------------------------------------------------------------------------------------------
# Pipeline and tagging


def load_pipeline(spec: PipelineSpec):  # -> spacy.language.Language
    """Load ``spec.model`` (a package name or path), on ``spec.gpu_id``, with the linker if asked."""
    import spacy

    if spec.threads is not None:
        import torch

        torch.set_num_threads(spec.threads)
    use_gpu(spec.gpu_id)
    nlp = spacy.load(spec.model)
    if spec.link is not None:
        from ..linking.index import check_index_dir

        check_index_dir(Path(spec.link))
        if "abbreviation_detector" not in nlp.pipe_names:
            import scispacy.abbreviation  # noqa: F401  (registers the factory)

            nlp.add_pipe("abbreviation_detector")
        if "bioner_linker" not in nlp.pipe_names:
            nlp.add_pipe("bioner_linker", config={"index_path": str(spec.link)})
        nlp.get_pipe("bioner_linker").initialize()
    return nlp


def doc_entities(doc: Any, link: bool) -> List[Entity]:
    """``doc.ents`` with ``span._.confidence`` (bioner_crf) and, with ``link``, the linker's concepts."""
    from spacy.tokens import Span

    has_conf = Span.has_extension("confidence")
    has_kb = link and Span.has_extension("kb_ents")
    entities = []
    for ent in doc.ents:
        confidence = ent._.confidence if has_conf else None
        kb_ents = tuple((str(cid), float(score)) for cid, score in ent._.kb_ents) if has_kb else ()
        entities.append(
            Entity(ent.start_char, ent.end_char, ent.text, ent.label_, confidence, ent.kb_id_ if link else "", kb_ents)
        )
    return entities


def tag_texts(nlp: Any, texts: Sequence[str], link: bool) -> List[TagResult]:
    """Tag ``texts`` as ONE ``nlp.pipe`` batch; if the pipeline raises, each text alone, to find the culprit.

    Runs in a spaCy memory zone: the strings and lexemes that the batch adds to the vocab are freed
    after it (the entities are copied out first), so a worker's vocab does not grow over millions
    of abstracts.
    """
    with nlp.memory_zone():
        try:
            return [doc_entities(doc, link) for doc in nlp.pipe(texts, batch_size=max(1, len(texts)))]
        except Exception:  # noqa: BLE001  (a bad text must not take its batch down with it)
            results: List[TagResult] = []
            for text in texts:
                try:
                    results.append(doc_entities(nlp(text), link))
                except Exception as err:  # noqa: BLE001
                    results.append(f"pipeline error: {type(err).__name__}: {err}")
            return results


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Done:
    def __init__(self, value: Any) -> None:
        self.value = value

    def get(self) -> Any:
        return self.value


class InlineTagger:
    """Tags batches in this process."""

    window = 0

    def __init__(self, nlp: Any, link: bool) -> None:
        self.nlp = nlp
        self.link = link

    def submit(self, texts: List[str]) -> _Done:
        cpu = time.process_time()
        results = tag_texts(self.nlp, texts, self.link)
        return _Done((results, peak_rss_mb(), time.process_time() - cpu))

    def close(self) -> None:
        pass


_WORKER: Dict[str, Any] = {}


def _init_worker(spec: PipelineSpec, ready: Any) -> None:
    # An initializer that raises makes multiprocessing restart the worker forever: keep the
    # error and raise it from the first task instead, where the parent sees it.
    try:
        _WORKER["nlp"] = load_pipeline(spec)
    except Exception as err:  # noqa: BLE001
        _WORKER["error"] = err
    _WORKER["link"] = spec.link is not None
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        pass


def _worker_tag(texts: List[str]) -> Tuple[List[TagResult], float, float]:
    """(results, peak RSS MB of this worker, CPU seconds the batch took)."""
    if "error" in _WORKER:
        raise _WORKER["error"]
    cpu = time.process_time()
    results = tag_texts(_WORKER["nlp"], texts, _WORKER["link"])
    return results, peak_rss_mb(), time.process_time() - cpu


class PoolTagger:
    """Tags batches in ``n_process`` worker processes, each loading the pipeline once.

    Workers are started with ``spawn``: a worker forked from a process that ran torch hangs (the
    OpenMP pool does not survive ``fork``), and workers forked from a ``forkserver`` that had
    imported torch took more CPU per batch in a quick check (not a benchmark of this repo). The constructor returns once every
    worker has loaded the pipeline (or failed to), so start-up is not counted in shard times.
    """

    def __init__(self, spec: PipelineSpec, n_process: int, timeout: float = 900.0) -> None:
        self.window = 2 * n_process
        context = multiprocessing.get_context("spawn")
        ready = context.Barrier(n_process + 1)
        self.pool = context.Pool(n_process, initializer=_init_worker, initargs=(spec, ready))
        try:
            ready.wait(timeout)
        except threading.BrokenBarrierError:
            pass  # a worker that did not load raises from its first task

    def submit(self, texts: List[str]) -> Any:
        return self.pool.apply_async(_worker_tag, (texts,))

    def close(self) -> None:
        self.pool.close()
        self.pool.join()

    def terminate(self) -> None:
        self.pool.terminate()
        self.pool.join()


# ---------------------------------------------------------------------------------------------
# Shards


@dataclass
class _Shard:
    task: FileTask
    options: JobOptions
    writer: ShardWriter
    input_format: str = "auto"
    documents: int = 0
    words: int = 0
    entities: int = 0
    failures: List[Failure] = field(default_factory=list)
    deleted: List[Deleted] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    cpu_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    started_at: float = field(default_factory=time.time)
    bytes_reported: int = 0

    def write(self, records: Sequence[Record], results: Sequence[TagResult], rss: float, cpu: float) -> None:
        from ..evaluation.predict import count_words

        self.peak_rss_mb = max(self.peak_rss_mb, rss)
        self.cpu_seconds += cpu
        fmt = self.options.output_format
        for record, result in zip(records, results):
            if isinstance(result, str):
                self.failures.append(Failure(record.where, result))
                continue
            try:
                self.writer.write(record, result)
            except ValueError as err:
                self.failures.append(Failure(record.where, f"cannot be written as {fmt}: {err}"))
                continue
            self.documents += 1
            self.words += count_words(record.text)
            self.entities += len(result)

    def finish(self) -> Dict[str, Any]:
        """Write the shard's record, then rename the shard into place; return the record."""
        failures = sorted(self.failures, key=lambda f: _where_key(f.where))
        record = {
            "input": self.task.input,
            "input_format": self.input_format,
            "shard": Path(self.task.shard).name,
            "job": self.options.key,
            "documents": self.documents,
            "words": self.words,
            "entities": self.entities,
            "failed": len(failures),
            "deleted": len(self.deleted),
            "seconds": round(time.perf_counter() - self.started, 3),
            "started_at": round(self.started_at, 3),
            "finished_at": round(time.time(), 3),
            "tag_cpu_seconds": round(self.cpu_seconds, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "failures": [[f.where, f.reason] for f in failures],
            "deleted_ids": [d.id for d in self.deleted],
        }
        atomic_write_text(_state_path(self.task.shard), json.dumps(record, ensure_ascii=False, indent=1) + "\n")
        self.writer.commit()
        return record


def _where_key(where: str) -> Tuple[str, int]:
    match = re.search(r"^(.*?)(\d+)$", where)
    return (match.group(1), int(match.group(2))) if match else (where, 0)


def process_files(
    tasks: Iterable[FileTask],
    tagger: Any,
    options: JobOptions,
    on_batch: Optional[Callable[[int, int], None]] = None,
    on_shard: Optional[Callable[[Dict[str, Any]], None]] = None,
) -> List[Dict[str, Any]]:
    """Tag every record of every task's file and write its shard; return the shards' records.

    on_batch(documents, bytes of input) after each batch written; on_shard(record) after each shard.
    """
    window: Deque[Tuple[str, _Shard, Any, Any, int]] = deque()
    done: List[Dict[str, Any]] = []
    open_shards: List[_Shard] = []

    def drain(limit: int) -> None:
        while len(window) > limit:
            kind, shard, records, future, position = window.popleft()
            if kind == "batch":
                results, rss, cpu = future.get()
                shard.write(records, results, rss, cpu)
                if on_batch is not None:
                    on_batch(len(records), position - shard.bytes_reported)
                    shard.bytes_reported = position
            else:
                done.append(shard.finish())
                open_shards.remove(shard)
                if on_batch is not None:
                    on_batch(0, position - shard.bytes_reported)
                if on_shard is not None:
                    on_shard(done[-1])

    try:
        for task in tasks:
            shard = _Shard(task, options, open_shard(Path(task.shard), options.output_format, options.link is not None))
            open_shards.append(shard)
            size = 0
            try:
                size = os.path.getsize(task.input)
                with InputFile(task.input, task.input_format) as infile:
                    batch: List[Record] = []
                    for item in infile.items():
                        if isinstance(item, Record):
                            batch.append(item)
                            if len(batch) >= options.batch_size:
                                future = tagger.submit([r.text for r in batch])
                                window.append(("batch", shard, batch, future, infile.position))
                                batch = []
                                drain(tagger.window)
                        elif isinstance(item, Failure):
                            shard.failures.append(item)
                        else:
                            shard.deleted.append(item)
                    if batch:
                        window.append(("batch", shard, batch, tagger.submit([r.text for r in batch]), infile.position))
                    shard.input_format = infile.input_format
            except OSError as err:
                shard.failures.append(Failure(task.input, f"cannot read the file: {err}"))
            window.append(("end", shard, None, None, size))
            drain(tagger.window)
        drain(0)
    finally:
        for shard in open_shards:
            shard.writer.abort()
    return done


# ---------------------------------------------------------------------------------------------
# Reports


def write_reports(output: Path, options: JobOptions, records: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    """Write manifest.json, failures.tsv and deleted.tsv for all shards; return the manifest."""
    shards = sorted(records, key=lambda r: r["shard"])
    totals = {k: sum(r[k] for r in shards) for k in ("documents", "words", "entities", "failed", "deleted")}
    totals["seconds"] = round(sum(r["seconds"] for r in shards), 3)
    manifest = {
        **options.key,
        "batch_size": options.batch_size,
        "shards": len(shards),
        "totals": totals,
        "per_shard": [{k: v for k, v in r.items() if k not in ("failures", "deleted_ids", "job")} for r in shards],
    }
    atomic_write_text(output / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    failures = ["file\tline_or_record\treason"]
    deleted = ["file\tpmid"]
    for r in shards:
        for where, reason in r["failures"]:
            prefix = r["input"] + ":"
            place = where[len(prefix) :] if where.startswith(prefix) else ("file" if where == r["input"] else where)
            failures.append(f"{r['input']}\t{place}\t{_tsv(reason)}")
        deleted.extend(f"{r['input']}\t{pmid}" for pmid in r["deleted_ids"])
    atomic_write_text(output / "failures.tsv", "\n".join(failures) + "\n")
    atomic_write_text(output / "deleted.tsv", "\n".join(deleted) + "\n")
    return manifest


def _tsv(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")


def run_local(
    tasks: Sequence[FileTask],
    spec: PipelineSpec,
    options: JobOptions,
    n_process: int = 1,
    progress: bool = False,
    on_shard: Optional[Callable[[Dict[str, Any]], None]] = None,
) -> List[Dict[str, Any]]:
    """Process ``tasks`` here (``n_process == 1``) or in a pool of worker processes; see the module docstring."""
    if not tasks:
        return []
    if n_process > 1:
        if spec.threads is None and "OMP_NUM_THREADS" not in os.environ:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            spec = PipelineSpec(spec.model, spec.link, spec.gpu_id, max(1, cores // n_process))
        tagger: Any = PoolTagger(spec, n_process)
    else:
        tagger = InlineTagger(load_pipeline(spec), spec.link is not None)
    total = sum(os.path.getsize(t.input) for t in tasks if os.path.exists(t.input))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, desc="annotate", file=sys.stderr, dynamic_ncols=True)
    counted = {"docs": 0, "t0": time.perf_counter()}

    def on_batch(n_docs: int, n_bytes: int) -> None:
        counted["docs"] += n_docs
        if bar is not None:
            elapsed = max(time.perf_counter() - counted["t0"], 1e-9)
            bar.set_postfix_str(f"{counted['docs']:,} docs, {counted['docs'] / elapsed:,.0f} docs/s", refresh=False)
            bar.update(n_bytes)

    ok = False
    try:
        records = process_files(tasks, tagger, options, on_batch=on_batch, on_shard=on_shard)
        ok = True
    finally:
        if bar is not None:
            bar.close()
        if isinstance(tagger, PoolTagger) and not ok:
            tagger.terminate()
        else:
            tagger.close()
    return records

