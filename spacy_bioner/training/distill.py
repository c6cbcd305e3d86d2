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

import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy
import srsly
from spacy.language import Language
from spacy.schemas import ConfigSchemaTraining
from spacy.tokens import Doc
from spacy.util import load_config, registry
from thinc.api import get_array_module
from tqdm import tqdm

from ..corpus.docbin import DocStore
from ..corpus.document import Document
from ..device import use_gpu
from ..models.tags import spans_to_tag_ids
from ..pipeline.crf_ner import CRFEntityRecognizer
from .teachers import (Teacher, TeacherCache, TeacherOutput, TeacherSource, crf_component_name, crf_pipe,
                       score_pipeline)

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


# -- the student --------------------------------------------------------------------------------

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
    temperature: float = 2.0  # as the `distill` and `experiments` commands and ExperimentSettings
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


class _SizedIndex:
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


@dataclass
class DistillRun:
    """A distillation under way: what :func:`prepare_distillation` loads and builds, and what
    the epochs change (steps, the best dev F so far, the history)."""

    settings: DistillSettings
    output: Path
    started: float
    store: DocStore
    sources: List[TeacherSource]
    gold_store: Optional[DocStore]
    gold_tags: List[numpy.ndarray]
    nlp: Language
    ner: CRFEntityRecognizer
    labels: List[str]
    optimizer: Any
    batcher: Callable[[List[_SizedIndex]], Any]
    epochs: int
    max_steps: int
    rng: random.Random
    slicer: EpochSlicer
    cache: Optional[Dict[str, Any]] = None
    seconds: Dict[str, float] = field(default_factory=dict)
    steps: int = 0
    best_f: float = -1.0
    best_epoch: Optional[int] = None
    stale: int = 0
    history: List[Dict[str, Any]] = field(default_factory=list)


def prepare_distillation(
    teachers: Sequence[PathLike],
    data: Sequence[PathLike],
    config: PathLike,
    output: PathLike,
    settings: Optional[DistillSettings] = None,
    *,
    overrides: Optional[Dict[str, Any]] = None,
    dev: Optional[PathLike] = None,
    cache_dir: Optional[PathLike] = None,
    gold: Optional[Sequence[PathLike]] = None,
    gpu_id: int = -1,
    component: Optional[str] = None,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> DistillRun:
    """Load the teachers and the data (filling the teacher caches under ``cache_dir``), and
    build the student with its optimizer and batcher (see :func:`distill`)."""
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
    use_gpu(gpu_id)

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
    epochs = settings.epochs or (training["max_epochs"] if training["max_epochs"] > 0 else 10)
    max_steps = settings.max_steps if settings.max_steps is not None else training["max_steps"]
    seed = settings.seed if settings.seed is not None else (training["seed"] or 0)
    rng = random.Random(seed)
    slicer = EpochSlicer(len(store), settings.shard_size, rng, settings.epoch_docs)
    seconds["init"] = time.perf_counter() - t0
    return DistillRun(
        settings=settings, output=output, started=started, store=store, sources=sources,
        gold_store=gold_store, gold_tags=gold_tags, nlp=nlp, ner=ner, labels=labels,
        optimizer=training["optimizer"], batcher=training["batcher"], epochs=epochs,
        max_steps=max_steps, rng=rng, slicer=slicer, cache=cache_info, seconds=seconds,
    )  # fmt: skip


def run_epoch(run: DistillRun, epoch: int, progress: bool = False) -> Dict[str, Any]:
    """Train the student on one epoch (its slice of the distillation set, the gold documents
    mixed in); return the epoch's record: steps, batches, summed losses, seconds."""
    t0 = time.perf_counter()
    settings, store, gold_store, batcher, rng = run.settings, run.store, run.gold_store, run.batcher, run.rng
    gold_settings = DistillSettings(distance="none", hard=True)
    hard_total = soft_total = gold_total = 0.0
    lengths = store.lengths
    distill_batches = [
        [item.index for item in batch]
        for block in run.slicer.next_epoch()
        for batch in batcher([_SizedIndex(i, lengths[i]) for i in block])
    ]
    gold_batches = []
    if gold_store is not None:
        order = list(range(len(gold_store)))
        rng.shuffle(order)
        gold_batches = [[it.index for it in b] for b in batcher([_SizedIndex(i, len(run.gold_tags[i])) for i in order])]
    n_batches = 0
    total_docs = sum(map(len, distill_batches)) + sum(map(len, gold_batches))
    bar = tqdm(total=total_docs, desc=f"epoch {epoch}", unit="doc", disable=not progress)
    for is_gold, indices in mix_batches(distill_batches, gold_batches, rng):
        if is_gold:
            assert gold_store is not None
            docs = gold_store.docs(run.nlp.vocab, indices)
            outs = [[TeacherOutput(numpy.zeros((0, 0), dtype="float32"), run.gold_tags[i]) for i in indices]]
            gold_total += distill_step(run.ner, docs, outs, gold_settings, run.optimizer)[0]
        else:
            docs = store.docs(run.nlp.vocab, indices)
            outs = [source.outputs(store, indices) for source in run.sources]
            hard, soft = distill_step(run.ner, docs, outs, settings, run.optimizer)
            hard_total += hard
            soft_total += soft
        run.optimizer.step_schedules()
        run.steps += 1
        n_batches += 1
        bar.update(len(indices))
        if run.max_steps and run.steps >= run.max_steps:
            break
    bar.close()
    return {
        "epoch": epoch, "steps": run.steps, "batches": n_batches, "loss_hard": hard_total,
        "loss_soft": soft_total, "loss_gold": gold_total, "train_seconds": time.perf_counter() - t0,
    }  # fmt: skip


def evaluate_and_save(
    run: DistillRun,
    record: Dict[str, Any],
    dev_gold: Optional[Sequence[Document]] = None,
    log: Callable[[str], None] = print,
) -> bool:
    """Score the student on ``dev_gold`` (into ``record``), save ``model-best`` when it improved
    (always without ``dev_gold``) and ``model-last`` after the last epoch; return whether this
    epoch is the last (epochs, ``max_steps`` or ``patience`` reached)."""
    epoch, nlp, settings = record["epoch"], run.nlp, run.settings
    hard_total, soft_total, gold_total = record["loss_hard"], record["loss_soft"], record["loss_gold"]
    improved = dev_gold is None
    # as in spaCy's loop: scored and saved with the optimizer's averages (use_averages = true)
    with nlp.use_params(run.optimizer.averages):
        if dev_gold is not None:
            t1 = time.perf_counter()
            record["dev"] = score_pipeline(nlp, dev_gold, types=run.labels)
            record["dev_seconds"] = time.perf_counter() - t1
            f = record["dev"]["micro"]["f"]
            improved = f > run.best_f
            gold_part = f" gold {gold_total:.2f}" if run.gold_store is not None else ""
            log(f"epoch {epoch}: loss hard {hard_total:.2f} soft {soft_total:.4f}{gold_part}, dev F {100 * f:.2f}")
            if improved:
                run.best_f = f
        else:
            log(f"epoch {epoch}: loss hard {hard_total:.2f} soft {soft_total:.4f}")
        if improved:
            run.best_epoch, run.stale = epoch, 0
            nlp.to_disk(run.output / "model-best")
        else:
            run.stale += 1
        run.history.append(record)
        last = bool((run.max_steps and run.steps >= run.max_steps)
                    or (settings.patience and run.stale >= settings.patience))
        if last or epoch == run.epochs:
            nlp.to_disk(run.output / "model-last")
    return last


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
    run = prepare_distillation(
        teachers, data, config, output, settings, overrides=overrides, dev=dev, cache_dir=cache_dir,
        gold=gold, gpu_id=gpu_id, component=component, progress=progress, log=log,
    )  # fmt: skip
    for epoch in range(1, run.epochs + 1):
        record = run_epoch(run, epoch, progress)
        if evaluate_and_save(run, record, dev_gold, log):
            break
    run.seconds["total"] = time.perf_counter() - run.started
    result = DistillResult(
        output=str(run.output),
        model_best=str(run.output / "model-best"),
        model_last=str(run.output / "model-last"),
        best_epoch=run.best_epoch,
        epochs=run.history,
        settings=asdict(run.settings),
        teachers=[str(t) for t in teachers],
        data=[str(d) for d in data],
        documents=len(run.store),
        tokens=int(sum(run.store.lengths)),
        gold=[str(g) for g in gold or []],
        gold_documents=len(run.gold_store) if run.gold_store is not None else 0,
        cache=run.cache,
        seconds=run.seconds,
    )
    srsly.write_json(run.output / "distill.json", result.to_dict())
    return result
