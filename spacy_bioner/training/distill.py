"""Knowledge distillation from frozen CRF teachers into a student (METHOD.md section 4).

For every document of the distillation set and every teacher j, the student minimises::

    [hard]  CRF NLL of teacher j's Viterbi path
    + w  *  d(soft labels of teacher j, soft labels of the student)

Soft labels are the softmax of a model's per-token emission scores (not CRF marginals).
Distances, per token over the K tags, with ``p`` the student's and ``q`` the teacher's soft labels:

- ``l1``: ``mean_k |p_k - q_k|``
- ``l2``: ``mean_k (p_k - q_k)^2``
- ``kd``: ``-t^2 * sum_k q_k log p_k`` with ``p = softmax(s / t)``, ``q = softmax(e / t)``
- ``none``: no soft term (hard labels only)

The soft term is summed over tokens, as the CRF NLL is summed over documents. Gold documents
(``gold``, e.g. T) can join every epoch: their batches, mixed at random among the distillation
batches, train the CRF NLL of the gold tags only. ``epoch_docs`` makes an epoch a slice of the
distillation set (successive epochs walk on through shuffled passes over it), so that large sets
and gold data can share epochs. Teachers are
loaded with ``spacy.load``, frozen (no gradients, prediction mode) and either run on the fly per
batch or once over the whole set into a shard cache (:class:`TeacherCache`). The student is built
from a spaCy training config (its ``[training]`` optimizer and batcher are used) and saved as
an ordinary pipeline (``model-best`` by dev F, ``model-last``).
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy
import spacy
import srsly
from spacy.language import Language
from spacy.schemas import ConfigSchemaTraining
from spacy.tokens import Doc
from spacy.util import load_config, registry
from thinc.api import Model, get_array_module
from tqdm import tqdm

from ..corpus.docbin import DocStore
from ..corpus.document import Document
from ..evaluation.predict import predict_documents
from ..evaluation.scorer import score_documents
from ..models.tags import spans_to_tag_ids
from ..pipeline.crf_ner import CRFEntityRecognizer

DISTANCES = ("none", "l1", "l2", "kd")
PathLike = Union[str, Path]


# -- soft labels and distances ------------------------------------------------------------------

def softmax(x, temperature: float = 1.0):
    """Row-wise softmax of ``x / temperature`` (numpy or cupy)."""
    xp = get_array_module(x)
    z = x / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = xp.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def soft_distance(student, teacher, kind: str, temperature: float = 1.0) -> Tuple[float, Any]:
    """Distance between soft labels, summed over tokens, and its gradient w.r.t. ``student``.

    ``student`` and ``teacher`` are emission scores ``(n_tokens, n_tags)``; see the module
    docstring for the distances. Returns ``(loss, d_student)``.
    """
    if kind not in DISTANCES:
        raise ValueError(f"unknown distance {kind!r}: use one of {', '.join(DISTANCES)}")
    if student.shape != teacher.shape:
        raise ValueError(f"student emissions {student.shape} and teacher emissions {teacher.shape} differ")
    xp = get_array_module(student)
    if kind == "none" or student.shape[0] == 0:
        return 0.0, xp.zeros_like(student)
    dtype = student.dtype if student.dtype == xp.float64 else xp.float32
    student = student.astype(dtype)
    teacher = xp.asarray(teacher, dtype=dtype)
    if kind == "kd":
        if temperature <= 0:
            raise ValueError(f"the KD temperature must be positive, got {temperature}")
        p = softmax(student, temperature)
        q = softmax(teacher, temperature)
        loss = -(temperature**2) * float((q * xp.log(xp.maximum(p, 1e-30))).sum())
        return loss, (temperature * (p - q)).astype(dtype)
    p = softmax(student)
    q = softmax(teacher)
    n_tags = student.shape[1]
    diff = p - q
    if kind == "l1":
        loss = float(xp.abs(diff).sum()) / n_tags
        d_p = xp.sign(diff) / n_tags
    else:
        loss = float((diff * diff).sum()) / n_tags
        d_p = 2.0 * diff / n_tags
    d_s = p * (d_p - (d_p * p).sum(axis=-1, keepdims=True))  # softmax Jacobian
    return loss, d_s.astype(dtype)


# -- documents ----------------------------------------------------------------------------------

# -- teachers -----------------------------------------------------------------------------------

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


# -- the student --------------------------------------------------------------------------------

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


def build_student(
    config_path: PathLike,
    init_data: PathLike,
    labels: Sequence[str],
    *,
    dev: Optional[PathLike] = None,
    overrides: Optional[Dict[str, Any]] = None,
    component: Optional[str] = None,
    gpu_id: int = -1,
) -> Tuple[Language, str]:
    """An initialised student pipeline from a training config, with the teachers' labels."""
    from spacy.training.initialize import init_nlp

    config_path = Path(config_path)
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path}: no such config file")
    paths = {"paths.train": str(init_data), "paths.dev": str(dev or init_data)}
    config = load_config(config_path, overrides={**paths, **(overrides or {})}, interpolate=False)
    name = crf_component_name(config, component)
    init = config.setdefault("initialize", {}).setdefault("components", {}).setdefault(name, {})
    init["labels"] = list(labels)
    nlp = init_nlp(config, use_gpu=gpu_id)
    _, ner = crf_pipe(nlp, name)
    index = nlp.pipe_names.index(name)
    for other, proc in nlp.pipeline[:index]:
        if hasattr(proc, "update") and hasattr(proc, "model"):
            raise ValueError(
                f"{config_path}: the student's CRF must be self-contained; component {other!r} before it is trainable"
            )
    return nlp, name


@dataclass
class DistillSettings:
    """What the student learns from the teachers, and for how long."""

    distance: str = "none"
    weight: float = 1.0
    temperature: float = 1.0
    hard: bool = True
    epochs: Optional[int] = None  # default: [training] max_epochs if positive, else 10
    max_steps: Optional[int] = None  # default: [training] max_steps (0 = no limit)
    patience: int = 0  # epochs without dev improvement before stopping (0 = never)
    shard_size: int = 1000
    teacher_batch_size: int = 64
    limit: Optional[int] = None  # documents per data file
    epoch_docs: Optional[int] = None  # distillation documents per epoch (default: all)
    seed: Optional[int] = None  # default: [training] seed

    def check(self) -> None:
        if self.distance not in DISTANCES:
            raise ValueError(f"unknown distance {self.distance!r}: use one of {', '.join(DISTANCES)}")
        if self.weight < 0:
            raise ValueError(f"the soft-label weight must be >= 0, got {self.weight}")
        if self.temperature <= 0:
            raise ValueError(f"the temperature must be positive, got {self.temperature}")
        if not self.hard and (self.distance == "none" or self.weight == 0):
            raise ValueError("nothing to learn: no hard labels and no soft-label term (distance none or weight 0)")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be positive, got {self.epochs}")
        if self.epoch_docs is not None and self.epoch_docs < 1:
            raise ValueError(f"epoch_docs must be positive, got {self.epoch_docs}")


@dataclass
class DistillResult:
    output: str
    model_best: str
    model_last: str
    best_epoch: Optional[int]
    epochs: List[Dict[str, Any]] = field(default_factory=list)
    settings: Dict[str, Any] = field(default_factory=dict)
    teachers: List[str] = field(default_factory=list)
    data: List[str] = field(default_factory=list)
    documents: int = 0
    tokens: int = 0
    gold: List[str] = field(default_factory=list)
    gold_documents: int = 0
    cache: Optional[Dict[str, Any]] = None
    seconds: Dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


class _Item:
    """A document index that batchers can measure (``len`` = tokens)."""

    __slots__ = ("index", "length")

    def __init__(self, index: int, length: int):
        self.index = index
        self.length = length

    def __len__(self) -> int:
        return self.length


def epoch_order(n_docs: int, block: int, rng: random.Random) -> List[List[int]]:
    """Shuffled blocks of consecutive indices (cache shards), each shuffled inside."""
    blocks = [list(range(s, min(s + block, n_docs))) for s in range(0, n_docs, block)]
    rng.shuffle(blocks)
    for b in blocks:
        rng.shuffle(b)
    return blocks


class EpochSlicer:
    """Epochs of ``epoch_docs`` documents cut from an endless run of :func:`epoch_order` passes.

    Every document comes once per pass; a slice keeps the pass's order, regrouped into blocks of
    one cache shard each so that the cache reads each shard once per slice.
    """

    def __init__(self, n_docs: int, block: int, rng: random.Random, epoch_docs: Optional[int] = None):
        self.n_docs, self.block, self.rng = n_docs, block, rng
        self.epoch_docs = min(epoch_docs or n_docs, n_docs)
        self._pending: List[int] = []

    def next_epoch(self) -> List[List[int]]:
        if self.epoch_docs == self.n_docs and not self._pending:
            return epoch_order(self.n_docs, self.block, self.rng)
        while len(self._pending) < self.epoch_docs:
            self._pending.extend(i for b in epoch_order(self.n_docs, self.block, self.rng) for i in b)
        taken, self._pending = self._pending[: self.epoch_docs], self._pending[self.epoch_docs :]
        blocks: Dict[int, List[int]] = {}
        for i in taken:
            blocks.setdefault(i // self.block, []).append(i)
        return list(blocks.values())


def mix_batches(first: List[Any], second: List[Any], rng: random.Random) -> List[Tuple[int, Any]]:
    """Both lists in one random order that keeps each list's own order: ``(0 | 1, item)`` pairs."""
    sides = [0] * len(first) + [1] * len(second)
    if first and second:  # one list alone keeps its order and leaves ``rng`` as it was
        rng.shuffle(sides)
    its = (iter(first), iter(second))
    return [(side, next(its[side])) for side in sides]


def gold_paths(store: DocStore, tags: Sequence[str]) -> List[numpy.ndarray]:
    """Gold tag ids of every document of a store read ``with_entities``; unknown labels name the document."""
    out = []
    for i in range(len(store)):
        try:
            out.append(spans_to_tag_ids(len(store.orths[i]), store.spans(i), tags))
        except ValueError as err:
            raise ValueError(f"{store.sources[i]}: document {store.ids[i]}: {err}") from err
    return out


def distill_step(
    ner: CRFEntityRecognizer,
    docs: List[Doc],
    teacher_outputs: Sequence[Sequence[TeacherOutput]],
    settings: DistillSettings,
    optimizer: Any,
) -> Tuple[float, float]:
    """One update of the student on a batch; returns (hard loss, weighted soft loss)."""
    ops = ner.model.ops
    scores, backprop = ner.model.begin_update(docs)
    lengths = [len(s) for s in scores]
    gradient = [ops.alloc2f(*s.shape) for s in scores]
    hard_loss = soft_loss = 0.0
    use_soft = settings.distance != "none" and settings.weight > 0
    flat = ops.flatten(scores) if use_soft else None
    for outputs in teacher_outputs:
        if settings.hard:
            loss, d_hard = ner.crf_loss(scores, [o.path for o in outputs])
            hard_loss += loss
            gradient = [g + d for g, d in zip(gradient, d_hard)]
        if use_soft:
            teacher = ops.asarray(numpy.concatenate([o.emissions for o in outputs]))
            loss, d_soft = soft_distance(flat, teacher, settings.distance, settings.temperature)
            soft_loss += settings.weight * loss
            d_soft = ops.unflatten(d_soft * settings.weight, ops.asarray1i(lengths))
            gradient = [g + d for g, d in zip(gradient, d_soft)]
    backprop(gradient)
    ner.finish_update(optimizer)
    return hard_loss, soft_loss


def score_pipeline(nlp: Language, gold: Sequence[Document], types: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Mention-level scores (BioCreative) of ``nlp`` on gold documents, as a dict."""
    pred, wps = predict_documents(nlp, gold)
    result = score_documents(gold, pred, types=types).to_dict()
    result["words_per_second"] = wps
    return result


def distill(
    teachers: Sequence[PathLike],
    data: Sequence[PathLike],
    config: PathLike,
    output: PathLike,
    settings: Optional[DistillSettings] = None,
    *,
    overrides: Optional[Dict[str, Any]] = None,
    dev: Optional[PathLike] = None,
    dev_gold: Optional[Sequence[Document]] = None,
    cache_dir: Optional[PathLike] = None,
    gold: Optional[Sequence[PathLike]] = None,
    gpu_id: int = -1,
    component: Optional[str] = None,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> DistillResult:
    """Train a student from ``config`` on the teachers' outputs over ``data``; save it in ``output``.

    ``gold`` DocBins (e.g. T) join every epoch, trained on their gold tags (CRF loss only).

    Writes ``model-best`` (best dev F, or the last epoch without ``dev_gold``), ``model-last``
    and ``distill.json`` (settings, per-epoch losses and dev scores, seconds).
    """
    settings = settings or DistillSettings()
    settings.check()
    if not teachers:
        raise ValueError("distillation needs at least one teacher")
    if not data:
        raise ValueError("distillation needs at least one data file")
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    seconds: Dict[str, float] = {}
    if gpu_id >= 0:
        from thinc.api import require_gpu, set_gpu_allocator

        set_gpu_allocator("pytorch")
        require_gpu(gpu_id)

    t0 = time.perf_counter()
    loaded = [Teacher(path, batch_size=settings.teacher_batch_size) for path in teachers]
    tags = loaded[0].tags
    for teacher in loaded[1:]:
        if teacher.tags != tags:
            raise ValueError(f"teachers disagree on tags: {loaded[0].path} has {tags}, {teacher.path} has {teacher.tags}")
    store = DocStore.from_docbins(data, settings.limit)
    log(f"{len(store)} documents, {sum(store.lengths)} tokens from {len(data)} file(s); {len(loaded)} teacher(s)")
    sources: List[TeacherSource] = list(loaded)
    cache_info = None
    if cache_dir is not None:
        caches = [TeacherCache(t, store, cache_dir, settings.shard_size) for t in loaded]
        computed = [c.build(progress=progress) for c in caches]
        cache_info = {"dirs": [str(c.dir) for c in caches], "shards": caches[0].n_shards, "computed": computed}
        sources = list(caches)
    gold_store = DocStore.from_docbins(gold, with_entities=True) if gold else None
    gold_tags = gold_paths(gold_store, tags) if gold_store is not None else []
    if gold_store is not None:
        log(f"{len(gold_store)} gold documents, {sum(gold_store.lengths)} tokens in every epoch")
    seconds["teachers"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    labels = sorted({tag[2:] for tag in tags if tag != "O"})
    nlp, name = build_student(config, data[0], labels, dev=dev, overrides=overrides, component=component, gpu_id=gpu_id)
    _, ner = crf_pipe(nlp, name)
    if ner.tags != tags:
        raise ValueError(f"student tags {ner.tags} differ from the teachers' {tags}")
    training = registry.resolve(nlp.config.interpolate()["training"], schema=ConfigSchemaTraining)
    optimizer = training["optimizer"]
    batcher = training["batcher"]
    epochs = settings.epochs or (training["max_epochs"] if training["max_epochs"] > 0 else 10)
    max_steps = settings.max_steps if settings.max_steps is not None else training["max_steps"]
    seed = settings.seed if settings.seed is not None else (training["seed"] or 0)
    rng = random.Random(seed)
    slicer = EpochSlicer(len(store), settings.shard_size, rng, settings.epoch_docs)
    gold_settings = DistillSettings(distance="none", hard=True)
    seconds["init"] = time.perf_counter() - t0

    best_f, best_epoch, stale, steps = -1.0, None, 0, 0
    history: List[Dict[str, Any]] = []
    lengths = store.lengths
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        hard_total = soft_total = gold_total = 0.0
        distill_batches = [
            [item.index for item in batch]
            for block in slicer.next_epoch()
            for batch in batcher([_Item(i, lengths[i]) for i in block])
        ]
        gold_batches = []
        if gold_store is not None:
            order = list(range(len(gold_store)))
            rng.shuffle(order)
            gold_batches = [[it.index for it in b] for b in batcher([_Item(i, len(gold_tags[i])) for i in order])]
        n_batches = 0
        total_docs = sum(map(len, distill_batches)) + sum(map(len, gold_batches))
        bar = tqdm(total=total_docs, desc=f"epoch {epoch}", unit="doc", disable=not progress)
        for is_gold, indices in mix_batches(distill_batches, gold_batches, rng):
            if is_gold:
                assert gold_store is not None
                docs = gold_store.docs(nlp.vocab, indices)
                outs = [[TeacherOutput(numpy.zeros((0, 0), dtype="float32"), gold_tags[i]) for i in indices]]
                gold_total += distill_step(ner, docs, outs, gold_settings, optimizer)[0]
            else:
                docs = store.docs(nlp.vocab, indices)
                outs = [source.outputs(store, indices) for source in sources]
                hard, soft = distill_step(ner, docs, outs, settings, optimizer)
                hard_total += hard
                soft_total += soft
            optimizer.step_schedules()
            steps += 1
            n_batches += 1
            bar.update(len(indices))
            if max_steps and steps >= max_steps:
                break
        bar.close()
        record: Dict[str, Any] = {
            "epoch": epoch, "steps": steps, "batches": n_batches, "loss_hard": hard_total,
            "loss_soft": soft_total, "loss_gold": gold_total, "train_seconds": time.perf_counter() - t0,
        }  # fmt: skip
        improved = dev_gold is None
        # as in spaCy's loop: scored and saved with the optimizer's averages (use_averages = true)
        with nlp.use_params(optimizer.averages):
            if dev_gold is not None:
                t1 = time.perf_counter()
                record["dev"] = score_pipeline(nlp, dev_gold, types=labels)
                record["dev_seconds"] = time.perf_counter() - t1
                f = record["dev"]["micro"]["f"]
                improved = f > best_f
                gold_part = f" gold {gold_total:.2f}" if gold_store is not None else ""
                log(f"epoch {epoch}: loss hard {hard_total:.2f} soft {soft_total:.4f}{gold_part}, dev F {100 * f:.2f}")
                if improved:
                    best_f = f
            else:
                log(f"epoch {epoch}: loss hard {hard_total:.2f} soft {soft_total:.4f}")
            if improved:
                best_epoch, stale = epoch, 0
                nlp.to_disk(output / "model-best")
            else:
                stale += 1
            history.append(record)
            last = (max_steps and steps >= max_steps) or (settings.patience and stale >= settings.patience)
            if last or epoch == epochs:
                nlp.to_disk(output / "model-last")
        if last:
            break
    seconds["total"] = time.perf_counter() - started
    result = DistillResult(
        output=str(output),
        model_best=str(output / "model-best"),
        model_last=str(output / "model-last"),
        best_epoch=best_epoch,
        epochs=history,
        settings=asdict(settings),
        teachers=[str(t) for t in teachers],
        data=[str(d) for d in data],
        documents=len(store),
        tokens=int(sum(lengths)),
        gold=[str(g) for g in gold or []],
        gold_documents=len(gold_store) if gold_store is not None else 0,
        cache=cache_info,
        seconds=seconds,
    )
    srsly.write_json(output / "distill.json", result.to_dict())
    return result
