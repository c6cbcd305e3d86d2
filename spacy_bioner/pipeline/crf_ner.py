"""``bioner_crf``: a trainable NER pipe that tags tokens with BIO (or BILOU) tags through a linear-chain CRF.

The model is any ``spacy_bioner.*CRF`` architecture: it maps docs to per-token emission scores
(one column per tag; ``tag_scheme`` "BIO" or "BILOU", see :mod:`spacy_bioner.models.tags`) and carries the CRF under ``model.get_ref("crf")``. Training minimises
the CRF negative log-likelihood of the gold tags (tokens whose gold tag is unknown are
marginalised); prediction is Viterbi. Each predicted entity gets ``span._.confidence``: the MEAN
over its tokens of the CRF marginal probability of the predicted tag (``confidence = "min"`` in
the component config uses the minimum instead). Confidences live in ``doc.user_data`` (spaCy's
store for extension values), so they survive ``DocBin(store_user_data=True)``.

Forked processes (``nlp.pipe(texts, n_process=N)``, spaCy's default on Linux) run torch on one
thread: torch's OpenMP thread pool does not survive a fork, and a forked child that enters a
parallel region waits forever for the parent's threads (whatever the caller's
``OMP_NUM_THREADS``). Importing this module registers the fork handler that sees to it.
"""

import os

from itertools import islice
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy
from spacy.attrs import ENT_IOB, ENT_TYPE, ORTH, SPACY
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, set_dropout_rate
from thinc.types import Floats2d

from ..evaluation import spacy_scorer  # noqa: F401  (registers spacy_bioner.mention_scorer.v1)
from ..models import bilstm_crf, transformer_crf  # noqa: F401  (registers the architectures)
from ..models.crf import crf_decode, use_torch_averages
from ..models.dictionary_features import DictionaryFeatures, dictionary_layer
from ..models.pretrained import load_encoder
from ..models.tags import MISSING, SCHEMES, biluo_to_scheme, entity_tags, tag_ids_to_spans

CONFIDENCE_ATTR = "confidence"

DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "spacy_bioner.BiLSTMCRF.v1"
finetune_vectors = true
embed_width = 100
embed_rows = 20000
char_width = 50
char_filters = 50
char_window = 3
hidden_width = 150
tanh_width = 150
dropout = 0.5
window_size = 1000
window_overlap = 100
mixed_precision = false
"""
DEFAULT_CRF_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]

if not Span.has_extension(CONFIDENCE_ATTR):
    Span.set_extension(CONFIDENCE_ATTR, default=None)


def _one_torch_thread_after_fork() -> None:
    """In a forked child: torch on one thread, so that it never enters the OpenMP pool that
    the fork left without its threads (``nlp.pipe(n_process=N)`` would otherwise hang)."""
    import torch

    torch.set_num_threads(1)


if hasattr(os, "register_at_fork"):  # POSIX; spawned workers (Windows, macOS) start afresh
    os.register_at_fork(after_in_child=_one_torch_thread_after_fork)


@Language.factory(
    "bioner_crf",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type"],
    default_config={
        "model": DEFAULT_CRF_MODEL,
        "confidence": "mean",
        "decode_batch_tokens": 65536,
        "tag_scheme": "BIO",
        "scorer": {"@scorers": "spacy_bioner.mention_scorer.v1"},
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_crf_ner(
    nlp: Language,
    name: str,
    model: Model,
    confidence: str,
    decode_batch_tokens: int,
    scorer: Optional[Callable],
    tag_scheme: str = "BIO",
) -> "CRFEntityRecognizer":
    """Create a :class:`CRFEntityRecognizer` (entity labels come from ``initialize``).

    ``tag_scheme``: "BIO" (pipelines saved before it existed load as BIO) or "BILOU"."""
    return CRFEntityRecognizer(
        nlp.vocab, model, name, confidence=confidence, decode_batch_tokens=decode_batch_tokens, scorer=scorer,
        tag_scheme=tag_scheme,
    )


class CRFEntityRecognizer(TrainablePipe):
    """BIO or BILOU tagging with a CRF head; writes ``doc.ents`` and ``span._.confidence``."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "bioner_crf",
        *,
        confidence: str = "mean",
        decode_batch_tokens: int = 65536,
        scorer: Optional[Callable] = None,
        tag_scheme: str = "BIO",
    ):
        if tag_scheme not in SCHEMES:
            raise ValueError(f"{name}: tag_scheme must be one of {list(SCHEMES)}, got {tag_scheme!r}")
        if confidence not in ("mean", "min"):
            raise ValueError(f"{name}: confidence must be 'mean' or 'min', got {confidence!r}")
        if decode_batch_tokens < 1:
            raise ValueError(f"{name}: decode_batch_tokens must be positive, got {decode_batch_tokens}")
        self.vocab = vocab
        self.model = model
        self.name = name
        self.confidence = confidence
        self.decode_batch_tokens = decode_batch_tokens
        self.tag_scheme = tag_scheme
        self.scorer = scorer
        self._rehearsal_model = None
        self.cfg: Dict[str, list] = {"labels": []}

    # -- labels and tags ----------------------------------------------------------------------
    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> Tuple[str, ...]:
        return self.labels

    @property
    def tags(self) -> List[str]:
        """The tags (of ``tag_scheme``), in the order of the emission columns."""
        return entity_tags(self.labels, self.tag_scheme)

    @property
    def crf(self) -> Model:
        """The CRF layer (see :mod:`spacy_bioner.models.crf`)."""
        return self.model.get_ref("crf")

    @property
    def is_resizable(self) -> bool:
        return False

    def _is_initialized(self) -> bool:
        return self.crf.shims[0]._model is not None

    def add_label(self, label: str) -> int:
        """Add an entity label before ``initialize``; the tag set is fixed afterwards."""
        if not isinstance(label, str) or not label:
            raise ValueError(f"{self.name}: entity labels must be non-empty strings, got {label!r}")
        if label in self.labels:
            return 0
        if self._is_initialized():
            raise ValueError(
                f"{self.name}: cannot add label {label!r} to an initialised CRF (its tag set is "
                f"fixed: {list(self.labels)}); initialise again with all labels"
            )
        entity_tags([label], self.tag_scheme)  # validates
        self.cfg["labels"] = sorted(self.cfg["labels"] + [label])
        self.vocab.strings.add(label)
        return 1

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Sequence[str]] = None,
        dictionary: Optional[Path] = None,
        pretrained: Optional[Path] = None,
    ) -> None:
        """Collect the entity labels (unless given), size the model and initialise its weights.
        ``dictionary``: the features file of a model with dictionary features (BiLSTMCRF.v3).
        ``pretrained``: encoder weights from ``spacy_bioner pretrain`` for a BiLSTM-CRF model
        (char-CNN, dictionary embedding and BiLSTM start from them; the tag layers do not)."""
        validate_get_examples(get_examples, f"{type(self).__name__}.initialize")
        self._set_dictionary(dictionary)
        if labels is None:
            found = set()
            for example in get_examples():
                found.update(ent.label_ for ent in example.reference.ents)
            labels = sorted(found)
        if not labels:
            raise ValueError(f"{self.name}: no entity labels in the initialisation examples and none given")
        self.cfg["labels"] = sorted(set(labels))
        for label in self.labels:
            self.vocab.strings.add(label)
        self.model.attrs["set_tags"](self.model, self.tags)
        doc_sample = [eg.predicted for eg in islice(get_examples(), 10)]
        if not doc_sample:
            raise ValueError(f"{self.name}: initialize got no examples")
        self.model.initialize(X=doc_sample)
        if pretrained is not None:
            try:
                load_encoder(self.model, pretrained)
            except ValueError as err:
                raise ValueError(f"{self.name}: [initialize.components.{self.name}] pretrained: {err}") from None

    def _set_dictionary(self, path: Optional[Path]) -> None:
        layer = dictionary_layer(self.model)
        setting = f"[initialize.components.{self.name}] dictionary"
        if path is not None and layer is None:
            raise ValueError(f"{self.name}: {setting} is set ({path}), but the model takes no dictionary "
                             "features: use the architecture spacy_bioner.BiLSTMCRF.v3")
        if layer is None:
            return
        if path is None:
            raise ValueError(f"{self.name}: the model uses dictionary features (spacy_bioner.BiLSTMCRF.v3): "
                             f"set {setting} = PATH, a file made by `python -m spacy_bioner weak dictionary-features`")
        layer.attrs["dictionary"] = DictionaryFeatures.from_disk(path)

    # -- serialisation: the torch modules rebuild themselves from the saved bytes (their sizes
    # and tags travel with the weights); check that they agree with the saved labels ----------
    def _check_loaded_tags(self) -> None:
        saved = self.crf.attrs.get("tags")
        if self._is_initialized() and list(saved or []) != self.tags:
            raise ValueError(f"{self.name}: model tags {saved} do not match the labels {list(self.labels)} in cfg")

    def from_bytes(self, bytes_data: bytes, *, exclude=tuple()) -> "CRFEntityRecognizer":
        super().from_bytes(bytes_data, exclude=exclude)
        self._check_loaded_tags()
        return self

    def from_disk(self, path, *, exclude=tuple()) -> "CRFEntityRecognizer":
        super().from_disk(path, exclude=exclude)
        self._check_loaded_tags()
        return self

    # -- training -----------------------------------------------------------------------------
    def gold_tag_ids(self, examples: Sequence[Example]) -> List[numpy.ndarray]:
        """Gold tag ids per predicted token (``-1`` where the annotation is missing)."""
        index = {tag: i for i, tag in enumerate(self.tags)}
        by_type = {self.vocab.strings[label]: _tag_ids_of_label(index, label) for label in self.labels}
        out = []
        for i, eg in enumerate(examples):
            same = _tag_ids_same_tokens(eg, by_type)
            if same is not None:
                out.append(same)
                continue
            ids = numpy.full((len(eg.predicted),), MISSING, dtype="int64")
            for j, tag in enumerate(biluo_to_scheme(eg.get_aligned_ner(), self.tag_scheme)):
                if tag is None:
                    continue
                if tag not in index:
                    doc_id = eg.reference.user_data.get("pmid", None)
                    where = f"example {i}" + (f" (pmid {doc_id})" if doc_id is not None else "")
                    raise ValueError(
                        f"{self.name}: entity label {tag[2:]!r} in {where}, token {j} "
                        f"({eg.predicted[j].text!r}) was not seen at initialize; known labels: "
                        f"{list(self.labels)}. Initialise with data (or labels=) that include it."
                    )
                ids[j] = index[tag]
            out.append(ids)
        return out

    def crf_loss(self, scores: List[Floats2d], gold: List[numpy.ndarray]) -> Tuple[float, List[Floats2d]]:
        """Summed CRF NLL of ``gold`` tag ids and its gradient w.r.t. the emission ``scores``.

        Accumulates the gradient of the CRF's own parameters (applied by ``finish_update``).
        """
        ops = self.model.ops
        nll, backprop = self.crf.begin_update((scores, [ops.asarray(g, dtype="int64") for g in gold]))
        loss = float(nll.sum())
        if not numpy.isfinite(loss):
            raise ValueError(f"{self.name}: the CRF loss is {loss}; training diverged")
        return loss, backprop(ops.xp.ones((len(scores),), dtype="float32"))

    def get_loss(self, examples: Iterable[Example], scores: List[Floats2d]) -> Tuple[float, List[Floats2d]]:
        examples = list(examples)
        validate_examples(examples, f"{type(self).__name__}.get_loss")
        return self.crf_loss(scores, self.gold_tag_ids(examples))

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Callable] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """One gradient step on the CRF NLL of the examples' gold entities."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, f"{type(self).__name__}.update")
        if not any(len(eg.predicted) for eg in examples):
            return losses
        gold = self.gold_tag_ids(examples)
        set_dropout_rate(self.model, drop)  # no-op for the torch layers: they use the model's own dropout
        scores, backprop_scores = self.model.begin_update([eg.predicted for eg in examples])
        loss, d_scores = self.crf_loss(scores, gold)
        backprop_scores(d_scores)
        if sgd not in (None, False):
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def use_params(self, params: dict) -> Iterator[None]:
        """Use ``params`` (the optimizer's averages when ``use_averages = true``) inside the block,
        for the torch modules too (see :func:`~spacy_bioner.models.crf.use_torch_averages`).

        A plain generator like spaCy's own ``TrainablePipe.use_params``: ``Language.use_params``
        drives it with ``next()``."""
        with self.model.use_params(params), use_torch_averages(self.model, params):
            yield

    # -- prediction ---------------------------------------------------------------------------
    def decode(self, scores: List[Floats2d]) -> Tuple[List[numpy.ndarray], List[numpy.ndarray]]:
        """Viterbi tag ids and token marginals ``(n_tokens, n_tags)`` per doc (numpy)."""
        return crf_decode(self.crf, scores, self.decode_batch_tokens)

    def predict(self, docs: Iterable[Doc]) -> Tuple[List[numpy.ndarray], List[numpy.ndarray]]:
        docs = list(docs)
        if not any(len(doc) for doc in docs):
            n_tags = len(self.tags)
            return [numpy.zeros((0,), "int64") for _ in docs], [numpy.zeros((0, n_tags), "float32") for _ in docs]
        return self.decode(self.model.predict(docs))

    def set_annotations(self, docs: Iterable[Doc], predictions: Tuple[List[numpy.ndarray], List[numpy.ndarray]]) -> None:
        tags = self.tags
        for doc, path, marginals in zip(docs, *predictions):
            for key in [k for k in doc.user_data if _is_confidence_key(k)]:
                del doc.user_data[key]
            spans = without_space_edges(doc, tag_ids_to_spans(path, tags))
            ents = [Span(doc, start, end, label=label) for start, end, label in spans]
            doc.set_ents(ents, default="outside")
            for ent, value in zip(ents, span_confidences(marginals, path, spans, self.confidence)):
                ent._.set(CONFIDENCE_ATTR, value)


def _tag_ids_of_label(index: Dict[str, int], label: str) -> Tuple[int, int, int, int]:
    """The ids of ``label``'s B, I, L and U tags (BIO: L is I's id and U is B's)."""
    b_id, i_id = index[f"B-{label}"], index[f"I-{label}"]
    return b_id, i_id, index.get(f"L-{label}", i_id), index.get(f"U-{label}", b_id)


def _tag_ids_same_tokens(eg: Example, by_type: Dict[int, Tuple[int, int, int, int]]) -> Optional[numpy.ndarray]:
    """Gold tag ids read straight off the reference's ENT_IOB/ENT_TYPE arrays when the predicted
    doc has the reference's tokens (the usual case in training), else ``None``.

    Equal to the tags that ``eg.get_aligned_ner()`` gives through the alignment, without its
    per-token Python work; ``None`` also for a type the pipe does not know (the aligned path
    then raises its error).
    """
    x, y = eg.predicted, eg.reference
    if len(x) != len(y) or not numpy.array_equal(x.to_array([ORTH, SPACY]), y.to_array([ORTH, SPACY])):
        return None
    iob_type = y.to_array([ENT_IOB, ENT_TYPE])
    iob, types = iob_type[:, 0], iob_type[:, 1]
    ids = numpy.full((len(y),), MISSING, dtype="int64")
    ids[iob == 2] = 0  # O
    last = None
    for type_hash in numpy.unique(types[(iob == 1) | (iob == 3)]):
        if int(type_hash) not in by_type:
            return None
        b_id, i_id, l_id, u_id = by_type[int(type_hash)]
        begins, inside = (types == type_hash) & (iob == 3), (types == type_hash) & (iob == 1)
        ids[begins] = b_id
        ids[inside] = i_id
        if (l_id, u_id) != (i_id, b_id):  # BILOU: a mention's last token (the next is no I) is L or U
            if last is None:
                last = numpy.append(iob[1:] != 1, True)
            ids[begins & last] = u_id
            ids[inside & last] = l_id
    return ids


def without_space_edges(doc: Doc, spans: Sequence[Tuple[int, int, str]]) -> List[Tuple[int, int, str]]:
    """The spans without the whitespace-only tokens at their edges (``"\\n\\t  "``): such a
    token never starts or ends an entity; a span of nothing else is dropped."""
    out = []
    for start, end, label in spans:
        while start < end and doc[start].is_space:
            start += 1
        while end > start and doc[end - 1].is_space:
            end -= 1
        if start < end:
            out.append((start, end, label))
    return out


def span_confidences(marginals: numpy.ndarray, path: numpy.ndarray, spans: Sequence, how: str = "mean") -> List[float]:
    """Per span, the mean (or min) over its tokens of the marginal of the predicted tag."""
    if not spans:
        return []
    chosen = marginals[numpy.arange(len(path)), path].astype("float64")
    if how == "min":
        return [float(chosen[start:end].min()) for start, end, _ in spans]
    starts = numpy.asarray([s[0] for s in spans])
    ends = numpy.asarray([s[1] for s in spans])
    cumsum = numpy.concatenate([[0.0], numpy.cumsum(chosen)])
    return ((cumsum[ends] - cumsum[starts]) / (ends - starts)).tolist()


def _is_confidence_key(key: object) -> bool:
    return isinstance(key, tuple) and len(key) == 4 and key[0] == "._." and key[1] == CONFIDENCE_ATTR
