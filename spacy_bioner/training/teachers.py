"""Frozen CRF teachers: trained pipelines that tag documents for distillation (METHOD.md section 4).

A :class:`Teacher` runs its pipeline up to its ``bioner_crf`` tagger and gives, per document,
the emission scores and the Viterbi path (:class:`TeacherOutput`); a :class:`TeacherCache`
keeps one teacher's outputs over a whole :class:`~spacy_bioner.corpus.docbin.DocStore` on disk.
Also here: finding the CRF component of a pipeline or config, and scoring a pipeline on gold
documents.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy
import spacy
import srsly
from spacy.language import Language
from spacy.tokens import Doc
from thinc.api import Model
from tqdm import tqdm

from ..corpus.docbin import DocStore
from ..corpus.document import Document
from ..evaluation.predict import predict_documents
from ..evaluation.scorer import score_documents
from ..pipeline.crf_ner import CRFEntityRecognizer

PathLike = Union[str, Path]


@dataclass
class TeacherOutput:
    """A teacher's view of one document: emission scores ``(n, K)`` and its Viterbi tag ids."""

    emissions: numpy.ndarray
    path: numpy.ndarray


def crf_pipe(nlp: Language, name: Optional[str] = None) -> Tuple[str, CRFEntityRecognizer]:
    """The CRF tagger pipe of ``nlp`` (by name, else the only one)."""
    if name is not None:
        if name not in nlp.pipe_names:
            raise ValueError(f"pipeline has no component {name!r} (it has {nlp.pipe_names})")
        pipe = nlp.get_pipe(name)
        if not isinstance(pipe, CRFEntityRecognizer):
            raise ValueError(f"component {name!r} is a {type(pipe).__name__}, not a bioner_crf tagger")
        return name, pipe
    found = [(n, p) for n, p in nlp.pipeline if isinstance(p, CRFEntityRecognizer)]
    if len(found) != 1:
        raise ValueError(f"need exactly one bioner_crf component, found {[n for n, _ in found]} in {nlp.pipe_names}")
    return found[0]


def torch_modules(model: Model) -> List[Any]:
    """Every torch module held by the layers of a thinc model."""
    modules = []
    for node in model.walk():
        for shim in node.shims:
            module = getattr(shim, "_model", None)
            if module is not None and hasattr(module, "parameters"):
                modules.append(module)
    return modules


class Teacher:
    """A trained pipeline with a CRF tagger, frozen: prediction only, no gradients."""

    def __init__(self, path: PathLike, component: Optional[str] = None, batch_size: int = 64):
        self.path = Path(path)
        try:
            self.nlp = spacy.load(self.path)
        except (OSError, ValueError, ImportError) as err:
            raise ValueError(f"{self.path}: cannot load the teacher pipeline ({err})") from err
        self.name, self.ner = crf_pipe(self.nlp, component)
        self.batch_size = batch_size
        index = self.nlp.pipe_names.index(self.name)
        self.before = [proc for _, proc in self.nlp.pipeline[:index]]
        for module in torch_modules(self.ner.model):
            module.eval()
            for param in module.parameters():
                param.requires_grad_(False)
        self._fingerprint: Optional[str] = None

    @property
    def tags(self) -> List[str]:
        return self.ner.tags

    def fingerprint(self) -> str:
        """A hash of the tagger's weights and tags (for cache keys)."""
        if self._fingerprint is None:
            digest = hashlib.sha1(self.ner.model.to_bytes())
            digest.update(" ".join(self.tags).encode("utf8"))
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def predict_docs(self, docs: List[Doc]) -> List[TeacherOutput]:
        """Emissions and Viterbi paths (numpy) for Docs in this teacher's vocab."""
        for proc in self.before:
            docs = list(proc.pipe(docs))
        scores = self.ner.model.predict(docs)
        paths, _ = self.ner.decode(scores)
        return [
            TeacherOutput(_to_numpy(s).astype("float32"), numpy.asarray(p, dtype="int64"))
            for s, p in zip(scores, paths)
        ]

    def outputs(self, store: DocStore, indices: Sequence[int]) -> List[TeacherOutput]:
        """Teacher outputs for documents of ``store``, computed now (``batch_size`` docs a call)."""
        out: List[TeacherOutput] = []
        for start in range(0, len(indices), self.batch_size):
            chunk = indices[start : start + self.batch_size]
            out.extend(self.predict_docs(store.docs(self.nlp.vocab, chunk)))
        return out


def _to_numpy(array: Any) -> numpy.ndarray:
    return array.get() if hasattr(array, "get") else numpy.asarray(array)


class TeacherCache:
    """One teacher's outputs over a whole DocStore, in shards of ``.npy`` files.

    Layout: ``<cache_dir>/<key>/shard-00000.{emissions,paths,lengths}.npy`` and ``manifest.json``;
    the key hashes the teacher's weights, the documents and the shard size, so a changed teacher
    or data set never reads stale outputs. Shards are written atomically (the ``lengths`` file
    last), so an interrupted build resumes with the missing shards.
    """

    def __init__(self, teacher: Teacher, store: DocStore, cache_dir: PathLike, shard_size: int = 1000):
        if shard_size < 1:
            raise ValueError(f"shard_size must be positive, got {shard_size}")
        self.teacher = teacher
        self.store = store
        self.shard_size = shard_size
        key = hashlib.sha1(
            f"{teacher.fingerprint()} {store.fingerprint()} {shard_size}".encode("utf8")
        ).hexdigest()[:20]
        self.dir = Path(cache_dir) / key
        self.n_shards = (len(store) + shard_size - 1) // shard_size
        self._loaded: Dict[int, List[TeacherOutput]] = {}
        self.computed = 0

    def _file(self, shard: int, what: str) -> Path:
        return self.dir / f"shard-{shard:05d}.{what}.npy"

    def has(self, shard: int) -> bool:
        return self._file(shard, "lengths").is_file()

    def build(self, progress: bool = False) -> int:
        """Compute and write the missing shards; return how many were computed."""
        self.dir.mkdir(parents=True, exist_ok=True)
        manifest = {
            "teacher": str(self.teacher.path),
            "tags": self.teacher.tags,
            "documents": len(self.store),
            "shard_size": self.shard_size,
            "shards": self.n_shards,
        }
        srsly.write_json(self.dir / "manifest.json", manifest)
        missing = [s for s in range(self.n_shards) if not self.has(s)]
        for shard in tqdm(missing, desc=f"teacher {self.teacher.path.name}", unit="shard", disable=not progress):
            indices = list(range(shard * self.shard_size, min((shard + 1) * self.shard_size, len(self.store))))
            outputs = self.teacher.outputs(self.store, indices)
            self._save(shard, "emissions", numpy.concatenate([o.emissions for o in outputs]))
            self._save(shard, "paths", numpy.concatenate([o.path for o in outputs]).astype("int8"))
            self._save(shard, "lengths", numpy.asarray([len(o.path) for o in outputs], dtype="int64"))
        self.computed += len(missing)
        return len(missing)

    def _save(self, shard: int, what: str, array: numpy.ndarray) -> None:
        target = self._file(shard, what)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp.npy")  # one per process: runs may share a cache
        numpy.save(tmp, array)
        os.replace(tmp, target)

    def shard(self, shard: int) -> List[TeacherOutput]:
        """The outputs of one shard (read from disk; the last two shards stay in memory)."""
        if shard not in self._loaded:
            if not self.has(shard):
                self.build()
            lengths = numpy.load(self._file(shard, "lengths"))
            emissions = numpy.load(self._file(shard, "emissions"))
            paths = numpy.load(self._file(shard, "paths")).astype("int64")
            expected = min(self.shard_size, len(self.store) - shard * self.shard_size)
            if len(lengths) != expected or int(lengths.sum()) != len(emissions) or len(paths) != len(emissions):
                raise ValueError(f"{self.dir}: shard {shard} is inconsistent; delete the folder to rebuild it")
            bounds = numpy.concatenate([[0], numpy.cumsum(lengths)])
            outputs = [
                TeacherOutput(emissions[a:b], paths[a:b]) for a, b in zip(bounds[:-1], bounds[1:])
            ]
            while len(self._loaded) >= 2:
                self._loaded.pop(next(iter(self._loaded)))
            self._loaded[shard] = outputs
        return self._loaded[shard]

    def outputs(self, store: DocStore, indices: Sequence[int]) -> List[TeacherOutput]:
        """Cached outputs for documents of the store this cache was built for."""
        if store is not self.store:
            raise ValueError("TeacherCache.outputs: a cache serves only the DocStore it was built for")
        return [self.shard(i // self.shard_size)[i % self.shard_size] for i in indices]


TeacherSource = Union[Teacher, TeacherCache]


def crf_component_name(config: Dict[str, Any], name: Optional[str] = None) -> str:
    """The name of the ``bioner_crf`` component of a config (the given one is checked)."""
    components = config.get("components", {})
    crfs = [n for n in config.get("nlp", {}).get("pipeline", []) if components.get(n, {}).get("factory") == "bioner_crf"]
    if name is not None:
        if name not in components:
            raise ValueError(f"the config has no component {name!r} (it has {list(components)})")
        return name
    if len(crfs) != 1:
        raise ValueError(f"the config needs exactly one bioner_crf component in [nlp] pipeline, found {crfs}")
    return crfs[0]


def score_pipeline(nlp: Language, gold: Sequence[Document], types: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Mention-level scores (BioCreative) of ``nlp`` on gold documents, as a dict."""
    pred, wps = predict_documents(nlp, gold)
    result = score_documents(gold, pred, types=types).to_dict()
    result["words_per_second"] = wps
    return result
