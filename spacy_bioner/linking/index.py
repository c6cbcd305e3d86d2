"""The TF-IDF + approximate-nearest-neighbour alias index, built and stored the way scispaCy does.

An index folder holds scispaCy's four files (``LinkerPaths.from_directory`` loads them):
``tfidf_vectorizer.joblib``, ``tfidf_vectors_sparse.npz``, ``nmslib_index.bin`` and
``concept_aliases.json``, plus ``kb.jsonl`` (the knowledge base) and ``meta.json`` (what was built,
with which parameters, how long it took).

Differences from ``scispacy.candidate_generation.create_tfidf_ann_index``: every alias is kept
(``min_df=1``: no rare character 3-gram is dropped, so no alias ends up with an empty vector);
aliases are indexed in normalised form (lower case, single spaces), one entry per distinct
form; vectors are stored as float32 (scipy >= 1.11 has no float16 sparse matrices; scispaCy's
loader casts to float32 anyway). The nmslib HNSW parameters default to scispaCy's
(M=100, efConstruction=2000, efSearch=200), with one indexing thread per CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Union

import joblib
import nmslib
import numpy
import scipy.sparse
from scispacy.candidate_generation import CandidateGenerator, LinkerPaths
from scispacy.linking_utils import Entity
from sklearn.feature_extraction.text import TfidfVectorizer

from .kb import BioKnowledgeBase, write_entities

PathLike = Union[str, Path]

KB_FILE = "kb.jsonl"
META_FILE = "meta.json"
SCISPACY_FILES = (
    "tfidf_vectorizer.joblib",
    "tfidf_vectors_sparse.npz",
    "nmslib_index.bin",
    "concept_aliases.json",
)
INDEX_FILES = (KB_FILE, META_FILE) + SCISPACY_FILES
FORMAT_VERSION = 1


@dataclass
class IndexParams:
    """nmslib HNSW parameters; the defaults are scispaCy's."""

    m: int = 100
    ef_construction: int = 2000
    ef_search: int = 200
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)

    def index_params(self) -> Dict[str, int]:
        return {"M": self.m, "indexThreadQty": self.threads, "efConstruction": self.ef_construction, "post": 0}


def make_vectorizer() -> TfidfVectorizer:
    """scispaCy's vectorizer (char 3-grams within word boundaries), keeping every 3-gram."""
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), min_df=1, dtype=numpy.float32)


def new_ann_index() -> "nmslib.dist.FloatIndex":
    return nmslib.init(method="hnsw", space="cosinesimil_sparse", data_type=nmslib.DataType.SPARSE_VECTOR)


def build_index(
    entities: Iterable[Entity],
    out_dir: PathLike,
    params: Optional[IndexParams] = None,
    *,
    print_progress: bool = False,
    sources: Optional[Dict[str, object]] = None,
) -> CandidateGenerator:
    """Write the KB and its alias index to ``out_dir``; return a ready CandidateGenerator.

    ``sources`` (what the KB was built from) is recorded in ``meta.json``.
    """
    params = params or IndexParams()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_entities = write_entities(entities, out / KB_FILE)
    if n_entities == 0:
        raise ValueError(f"{out / KB_FILE}: no entities to index")
    kb = BioKnowledgeBase(out / KB_FILE)
    aliases = kb.index_aliases()
    paths = LinkerPaths.from_directory(str(out))

    started = time.perf_counter()
    vectorizer = make_vectorizer()
    vectors = vectorizer.fit_transform(aliases).astype(numpy.float32)
    nonempty = numpy.asarray(vectors.getnnz(axis=1) > 0)
    dropped = [a for a, keep in zip(aliases, nonempty) if not keep]
    aliases = [a for a, keep in zip(aliases, nonempty) if keep]
    vectors = vectors[nonempty]
    tfidf_s = time.perf_counter() - started

    started = time.perf_counter()
    ann_index = new_ann_index()
    ann_index.addDataPointBatch(vectors)
    ann_index.createIndex(params.index_params(), print_progress=print_progress)
    ann_s = time.perf_counter() - started
    ann_index.setQueryTimeParams({"efSearch": params.ef_search})

    joblib.dump(vectorizer, paths.tfidf_vectorizer)
    scipy.sparse.save_npz(paths.tfidf_vectors, vectors.tocsr())
    ann_index.saveIndex(paths.ann_index)
    with open(paths.concept_aliases_list, "w", encoding="utf-8") as handle:
        json.dump(aliases, handle, ensure_ascii=False)
    meta = {
        "format_version": FORMAT_VERSION,
        "entities": n_entities,
        "sources": dict(sources or {}),
        "aliases_indexed": len(aliases),
        "aliases_without_3grams": dropped,
        "vocabulary_size": len(vectorizer.vocabulary_),
        "params": asdict(params),
        "tfidf_seconds": round(tfidf_s, 2),
        "ann_build_seconds": round(ann_s, 2),
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return CandidateGenerator(ann_index, vectorizer, aliases, kb)


class ExactIndex:
    """Brute-force cosine k-NN over the stored vectors, with nmslib's ``knnQueryBatch`` interface.

    A reference for the approximate index: ``CandidateGenerator(ExactIndex(vectors), ...)``.
    """

    def __init__(self, vectors: scipy.sparse.spmatrix, batch_size: int = 256) -> None:
        matrix = scipy.sparse.csr_matrix(vectors, dtype=numpy.float32)
        norms = numpy.sqrt(numpy.asarray(matrix.multiply(matrix).sum(axis=1))).ravel()
        norms[norms == 0] = 1.0
        self.matrix_t = scipy.sparse.diags(1.0 / norms).dot(matrix).T.tocsr()
        self.batch_size = batch_size

    def knnQueryBatch(self, queries: scipy.sparse.spmatrix, k: int = 10, num_threads: int = 0):  # noqa: N802
        queries = scipy.sparse.csr_matrix(queries, dtype=numpy.float32)
        results = []
        for start in range(0, queries.shape[0], self.batch_size):
            block = queries[start: start + self.batch_size]
            norms = numpy.sqrt(numpy.asarray(block.multiply(block).sum(axis=1))).ravel()
            norms[norms == 0] = 1.0
            sims = (scipy.sparse.diags(1.0 / norms).dot(block)).dot(self.matrix_t).toarray()
            kk = min(k, sims.shape[1])
            for row in sims:
                top = numpy.argpartition(-row, kk - 1)[:kk]
                top = top[numpy.argsort(-row[top], kind="stable")]
                results.append((top.astype(numpy.int32), (1.0 - row[top]).astype(numpy.float32)))
        return results


def load_exact(index_dir: PathLike) -> CandidateGenerator:
    """Like :func:`load_index`, with exact search over the stored vectors instead of nmslib."""
    path = check_index_dir(index_dir)
    paths = LinkerPaths.from_directory(str(path))
    vectors = scipy.sparse.load_npz(paths.tfidf_vectors)
    return CandidateGenerator(
        ExactIndex(vectors), paths.get_tfidf_vectorizer(), paths.get_concept_aliases(), BioKnowledgeBase(path / KB_FILE)
    )


def check_index_dir(index_dir: PathLike) -> Path:
    """The folder, if it holds every index file; else a FileNotFoundError naming what is missing."""
    path = Path(index_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: linking index folder not found (build it with `link build-kb`)")
    missing = [name for name in INDEX_FILES if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{path}: not a complete linking index, missing {', '.join(missing)}")
    return path


def read_meta(index_dir: PathLike) -> Dict[str, object]:
    path = check_index_dir(index_dir) / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from err
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: index format {meta.get('format_version')!r}, expected {FORMAT_VERSION}")
    return meta


def load_index(index_dir: PathLike, *, ef_search: Optional[int] = None) -> CandidateGenerator:
    """Load an index folder with scispaCy's loader; ``ef_search`` defaults to the built one."""
    path = check_index_dir(index_dir)
    meta = read_meta(path)
    if ef_search is None:
        ef_search = int(meta.get("params", {}).get("ef_search", 200))  # type: ignore[union-attr]
    aliases, vectorizer, ann_index = LinkerPaths.from_directory(str(path)).load(ef_search=ef_search)
    kb = BioKnowledgeBase(path / KB_FILE)
    unknown = [a for a in aliases[:1000] if a not in kb.alias_to_cuis]
    if unknown:
        raise ValueError(f"{path}: concept_aliases.json does not match {KB_FILE} (e.g. {unknown[0]!r})")
    return CandidateGenerator(ann_index, vectorizer, aliases, kb)


def copy_index(src: PathLike, dest: PathLike) -> Path:
    """Copy an index folder's files to ``dest`` (nothing to do when both are the same folder)."""
    src_path = check_index_dir(src)
    dest_path = Path(dest)
    dest_path.mkdir(parents=True, exist_ok=True)
    if dest_path.resolve() == src_path.resolve():
        return dest_path
    for name in INDEX_FILES:
        shutil.copyfile(src_path / name, dest_path / name)
    return dest_path


__all__ = [
    "INDEX_FILES",
    "ExactIndex",
    "IndexParams",
    "build_index",
    "check_index_dir",
    "copy_index",
    "load_exact",
    "load_index",
    "make_vectorizer",
    "read_meta",
]
