"""``spacy_bioner.BiLSTMCRF.v1``, ``.v2`` and ``.v3`` (dictionary features): word vectors + char-CNN -> BiLSTM -> tanh layer -> CRF.

Token features are computed once per distinct word form in a batch (vector row or hashed
embedding id, and the char-CNN), then gathered per token. Documents longer than ``window_size``
tokens are cut into overlapping windows (``window_overlap`` tokens of context on each side); each
token's emission comes from the window where it is in the core, so memory stays bounded on
100,000-token documents while documents up to ``window_size`` tokens are seen whole. At inference
on CPU the emissions come from :meth:`BiLSTMEmitter._projected_forward` (the same function, less
work: the LSTM's input projection per distinct word, one step loop for both directions).

The word-feature mode is fixed at initialize from ``nlp.vocab.vectors``:

- ``"vectors"``: an embedding initialised from the table and fine-tuned (``finetune_vectors``);
  unknown words share one trainable row; lookups try the exact form, then the lower-cased form.
- ``"frozen"``: the table's rows are read at every call (not stored in the model, not trained).
- ``"hash"`` (empty table): a trainable bloom embedding of the lower-cased form, ``embed_width``
  wide, ``embed_rows`` rows, two hashes summed.

``dropout`` is applied inside the torch module (token features and BiLSTM outputs) in training
only; spaCy's ``[training] dropout`` does not change it. ``spacy_bioner.BiLSTMCRF.v2`` adds
``word_dropout``: in training, each token's word feature is replaced by the unknown word's (the
shared unknown row, or zeros for frozen and hashed features) with that probability, so the
model learns to tag from characters and context the words it will meet unseen (Lample et al.
2016 replace singletons; here every token is eligible). Characters are kept.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy
import spacy
import torch
from spacy.attrs import ORTH
from spacy.strings import get_string_id
from spacy.tokens import Doc
from thinc.api import ArgsKwargs, Model, NumpyOps, torch2xp, xp2torch
from thinc.types import Floats2d

from .dictionary_features import N_TAGS as N_DICT_TAGS
from .dictionary_features import DictionaryFeatures
from .crf import crf_tagger, get_torch_module, lazy_torch_shim, register_torch_module, set_torch_module, torch_device

CHAR_ROWS = 1024  # row 0 is padding; code points are hashed into rows 1..1023 (ASCII/Greek exact)
MAX_WORD_CHARS = 48  # longer words keep their first and last 24 characters
CHAR_CHUNK = 4096  # words per char-CNN call
CHAR_BUCKETS = (4, 8, 12, 16, 24)  # word lengths where a new char-CNN call starts
WINDOW_TOKENS = 8192  # padded token positions per BiLSTM call: bounds the memory a long document takes


@contextlib.contextmanager
def single_torch_thread() -> Iterator[None]:
    """Torch on one intra-op thread inside the block (the thread count is restored after)."""
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Dropout(torch.nn.Module):
    """Inverted dropout with a mask drawn by ``rand_like`` (on CPU about twice as fast as
    ``torch.nn.Dropout``'s Bernoulli sampling); the identity outside training."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * (torch.rand_like(x) >= self.p).to(x.dtype).mul_(1.0 / (1.0 - self.p))


class TanhHead(torch.nn.Module):
    """The paper's "tanh layer": ``Linear -> tanh -> Linear`` giving one score per tag."""

    def __init__(self, n_in: int, width: int, n_out: int, dropout: float = 0.0):
        super().__init__()
        self.config = {"n_in": n_in, "width": width, "n_out": n_out, "dropout": dropout}
        self.drop = Dropout(dropout)
        self.hidden = torch.nn.Linear(n_in, width)
        self.out = torch.nn.Linear(width, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(self.drop(x))))


class CharCNN(torch.nn.Module):
    """Char embeddings -> 1-d convolution -> max-pool over the word's characters."""

    def __init__(self, rows: int, width: int, filters: int, window: int):
        super().__init__()
        self.embed = torch.nn.Embedding(rows, width, padding_idx=0)
        self.conv = torch.nn.Conv1d(width, filters, window, padding=window // 2)

    def forward(self, chars: torch.Tensor, chunks: Sequence[Tuple[int, int, int]]) -> torch.Tensor:
        outputs = []
        for start, end, longest in chunks:
            ids = chars[start:end, :longest]
            hidden = self.conv(self.embed(ids).transpose(1, 2))[..., :longest]
            hidden = hidden.masked_fill((ids == 0).unsqueeze(1), float("-inf"))
            outputs.append(hidden.max(dim=2).values)
        return torch.cat(outputs, dim=0)


def unpacked_bilstm(lstm: torch.nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """A one-layer bidirectional, batch-first ``lstm`` over right-padded ``x`` ``(B, L, D)``.

    Inside ``lengths`` the outputs ``(B, L, 2H)`` equal the LSTM's on the packed sequence;
    padded positions are zero. Each direction runs on an unpacked batch (the reverse one on
    every sequence reversed within its length): torch's CPU LSTM slices a packed input once
    per time step, and each slice's backward writes into a zero tensor the size of the
    whole input, so backprop through a packed LSTM costs O(L^2) in time; this is O(L).
    """
    if lstm.num_layers != 1 or not lstm.bidirectional or not lstm.batch_first or lstm.proj_size:
        raise ValueError("unpacked_bilstm needs a one-layer bidirectional batch-first LSTM")
    batch, longest, _ = x.shape
    positions = torch.arange(longest, device=x.device)
    lengths = lengths.to(x.device)
    inside = positions < lengths[:, None]
    # position i of a reversed sequence reads position len - 1 - i; padding stays in place
    order = torch.where(inside, lengths[:, None] - 1 - positions, positions).unsqueeze(-1)
    weights = lstm._flat_weights
    per_direction = len(weights) // 2
    zeros = x.new_zeros((1, batch, lstm.hidden_size))
    outputs = []
    for direction, inputs in ((0, x), (1, x.gather(1, order.expand_as(x)))):
        params = weights[direction * per_direction : (direction + 1) * per_direction]
        hidden = torch._VF.lstm(inputs, (zeros, zeros), params, lstm.bias, 1, 0.0, lstm.training, False, True)[0]
        outputs.append(hidden if direction == 0 else hidden.gather(1, order.expand_as(hidden)))
    return torch.cat(outputs, dim=-1) * inside.unsqueeze(-1).to(x.dtype)


class BiLSTMEmitter(torch.nn.Module):
    """Token features -> BiLSTM over windows -> tanh layer: emissions ``(n_tokens, n_tags)``."""

    #: with gradients on, run the BiLSTM through :func:`unpacked_bilstm` (O(L) backprop);
    #: False trains through the packed LSTM, as inference always runs (benchmarks compare both)
    unpacked_training = True
    #: at inference on CPU, compute the emissions through :meth:`_projected_forward`
    projected_inference = True

    def __init__(
        self,
        n_tags: int,
        word_mode: str,
        word_rows: int,
        word_width: int,
        char_width: int = 50,
        char_filters: int = 50,
        char_window: int = 3,
        hidden_width: int = 150,
        tanh_width: int = 150,
        dropout: float = 0.5,
        word_dropout: float = 0.0,
        dict_tags: int = 0,
        dict_width: int = 0,
    ):
        super().__init__()
        if not 0.0 <= word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1), got {word_dropout}")
        if word_mode not in ("vectors", "frozen", "hash"):
            raise ValueError(f"Unknown word_mode {word_mode!r}")
        self.config = dict(
            n_tags=n_tags, word_mode=word_mode, word_rows=word_rows, word_width=word_width,
            char_width=char_width, char_filters=char_filters, char_window=char_window,
            hidden_width=hidden_width, tanh_width=tanh_width, dropout=dropout, word_dropout=word_dropout,
        )  # fmt: skip
        if dict_width:
            self.config.update(dict_tags=dict_tags, dict_width=dict_width)
        self.word_mode = word_mode
        self.word_dropout = word_dropout
        self.words = torch.nn.Embedding(word_rows, word_width) if word_mode != "frozen" else None
        self.chars = CharCNN(CHAR_ROWS, char_width, char_filters, char_window)
        self.drop = Dropout(dropout)
        self.dict_tags = torch.nn.Embedding(dict_tags, dict_width) if dict_width else None
        self.lstm = torch.nn.LSTM(word_width + char_filters + dict_width, hidden_width, batch_first=True, bidirectional=True)
        self.head = TanhHead(2 * hidden_width, tanh_width, n_tags)

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "BiLSTMEmitter":
        return cls(**config)

    def word_features(self, words: torch.Tensor) -> torch.Tensor:
        if self.word_mode == "frozen":
            return words.to(self.lstm.weight_ih_l0.dtype)
        if self.word_mode == "hash":
            return self.words(words).sum(dim=1)
        return self.words(words)

    def forward(
        self,
        words: torch.Tensor,
        chars: torch.Tensor,
        char_chunks: Sequence[Tuple[int, int, int]],
        inverse: torch.Tensor,
        windows: torch.Tensor,
        window_lengths: torch.Tensor,
        core: torch.Tensor,
        dict_tags: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        if self.projected_inference and not self.training and not torch.is_grad_enabled() and words.device.type == "cpu":
            if self.dict_tags is not None and dict_tags is None:
                raise ValueError("this BiLSTMEmitter has dictionary features: pass dict_tags")
            # on one intra-op thread: the step loops are many small ops, for which threads cost
            # more than they give (on a busy machine each op waits for a descheduled thread)
            with single_torch_thread():
                char_types = self.chars(chars, char_chunks)
                return self._projected_forward(self.word_features(words), char_types, inverse, dict_tags,
                                               windows, window_lengths, core)
        tokens = self.token_features(words, chars, char_chunks, inverse, dict_tags)
        outputs = []
        width = windows.shape[1]
        per_call = max(1, WINDOW_TOKENS // max(1, width))
        starts = list(range(0, windows.shape[0], per_call))
        # outside training the head sees only the core tokens (``core`` rises with the token
        # index, so each call's core tokens are one run of it), not every padded position
        bounds = torch.searchsorted(core, torch.as_tensor(starts[1:] + [windows.shape[0]], device=core.device) * width)
        bounds = [0] + bounds.tolist()
        for call, start in enumerate(starts):
            x = tokens[windows[start : start + per_call]]
            lengths = window_lengths[start : start + per_call]
            if torch.is_grad_enabled() and self.unpacked_training:
                hidden = unpacked_bilstm(self.lstm, x, lengths)
            else:
                packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
                hidden, _ = self.lstm(packed)
                hidden, _ = torch.nn.utils.rnn.pad_packed_sequence(hidden, batch_first=True, total_length=x.shape[1])
            if self.training:
                outputs.append(self.head(self.drop(hidden)))
            else:
                rows = core[bounds[call] : bounds[call + 1]] - start * width
                outputs.append(self.head(hidden.reshape(-1, hidden.shape[-1])[rows]))
        scores = torch.cat(outputs, dim=0)
        if not self.training:
            return scores.float()
        return scores.reshape(-1, scores.shape[-1])[core].float()

    def _projected_forward(
        self,
        word_types: torch.Tensor,
        char_types: torch.Tensor,
        inverse: torch.Tensor,
        dict_tags: Optional[torch.Tensor],
        windows: torch.Tensor,
        window_lengths: torch.Tensor,
        core: torch.Tensor,
    ) -> torch.Tensor:
        """Inference on CPU: the emissions of :meth:`forward`, with less work for the same function.

        The BiLSTM's input projection is linear, so it is computed once per distinct (word,
        dictionary tag) pair of the batch instead of once per token; both directions step
        together (one batched matmul per step) over the windows sorted by length, each step on
        the windows still running (as a packed LSTM does), with ``tanh(x) = 2 sigmoid(2x) - 1``;
        the head sees only the core tokens. Equal to the packed LSTM up to float rounding
        (``tests/test_inference_speed.py``).
        """
        lstm = self.lstm
        hidden = lstm.hidden_size
        dtype = lstm.weight_ih_l0.dtype
        type_features = torch.cat([word_types.to(dtype), char_types.to(dtype)], dim=1)
        n_type = type_features.shape[1]
        w_ih = torch.cat([lstm.weight_ih_l0, lstm.weight_ih_l0_reverse], dim=0)  # (8H, D): both directions
        bias = torch.cat([lstm.bias_ih_l0 + lstm.bias_hh_l0, lstm.bias_ih_l0_reverse + lstm.bias_hh_l0_reverse])
        type_proj = type_features @ w_ih[:, :n_type].T
        # one input projection per distinct (word, dictionary tag) pair of the batch
        if self.dict_tags is not None:
            n_dict = self.dict_tags.num_embeddings
            pairs, token_pair = torch.unique(inverse * n_dict + dict_tags, return_inverse=True)
            pair_dict = torch.remainder(pairs, n_dict)
            dict_proj = torch.addmm(bias, self.dict_tags.weight.to(dtype), w_ih[:, n_type:].T)
            table = type_proj.index_select(0, torch.div(pairs, n_dict, rounding_mode="floor"))
            table += dict_proj.index_select(0, pair_dict)
        else:
            token_pair = inverse
            table = type_proj + bias
        n_pairs = table.shape[0]
        # tanh(x) = 2 sigmoid(2x) - 1 (on CPU torch's sigmoid is several times faster than its
        # tanh): the cell-input gate's rows are doubled (exact in floating point), so one sigmoid
        # serves all four gates
        table[:, 2 * hidden : 3 * hidden] *= 2
        table[:, 6 * hidden : 7 * hidden] *= 2
        # rows [0, P): forward direction, [P, 2P): reverse direction
        table = torch.cat([table[:, : 4 * hidden], table[:, 4 * hidden :]], dim=0)
        token_pair = torch.cat([token_pair, token_pair.new_zeros((1,))])  # padding position reads pair 0
        w_hh = torch.stack([lstm.weight_hh_l0.T, lstm.weight_hh_l0_reverse.T])  # (2, H, 4H)
        w_hh[:, :, 2 * hidden : 3 * hidden] *= 2
        n_windows, width = windows.shape
        token_window = torch.div(core, width, rounding_mode="floor")
        token_pos = core - token_window * width
        lengths = window_lengths.to(windows.device)
        order = torch.argsort(lengths, descending=True, stable=True)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(n_windows, device=order.device)
        sorted_lengths = lengths[order].tolist()
        token_rank = rank[token_window]
        scores = table.new_empty((len(core), self.head.out.out_features))
        first = 0
        while first < n_windows:
            longest = max(1, sorted_lengths[first])
            # a position costs this path less than half of what it costs the packed LSTM (no
            # per-token inputs, no padded outputs): twice the budget of padded tokens per loop
            last = min(n_windows, first + max(1, 2 * WINDOW_TOKENS // longest))
            size = last - first
            chunk_lengths = lengths[order[first:last]]
            positions = torch.arange(longest, device=windows.device)
            inside = positions < chunk_lengths[:, None]
            # (time, direction, window) rows of the table; padding positions read row 0 (never used)
            forward_ids = token_pair[windows[order[first:last], :longest]]
            reverse_ids = forward_ids.gather(1, torch.where(inside, chunk_lengths[:, None] - 1 - positions, positions))
            ids = torch.stack([forward_ids.T, reverse_ids.T + n_pairs], dim=1)
            out = table.new_empty((longest, 2, size, hidden))
            running = inside.sum(dim=0).tolist()
            h = table.new_zeros((2, size, hidden))
            c2 = table.new_zeros((2, size, hidden))  # twice the cell state (exact): tanh(c) = 2 sigmoid(c2) - 1
            n = size
            for t, ids_t in enumerate(ids.unbind(0)):
                if running[t] != n:  # windows that ended leave the batch (they are sorted by length)
                    n = running[t]
                    if n == 0:
                        break
                    h, c2 = h[:, :n], c2[:, :n]
                step = torch.baddbmm(torch.nn.functional.embedding(ids_t[:, :n] if n < size else ids_t, table), h, w_hh)
                in_gate, forget, cell, out_gate = torch.sigmoid(step).chunk(4, dim=-1)
                # c2 = f * c2 + 2 i tanh(g), tanh(g) = 2 sigmoid(2g) - 1 (the g rows are doubled)
                c2 = torch.addcmul((forget * c2).sub_(in_gate, alpha=2.0), in_gate, cell, value=4.0)
                # h = o * tanh(c) = 2 o sigmoid(c2) - o, written straight into the outputs
                h = torch.addcmul(out_gate.neg(), out_gate, torch.sigmoid(c2), value=2.0, out=out[t, :, :n])
            members = torch.nonzero((token_rank >= first) & (token_rank < last)).squeeze(1)
            local = token_rank[members] - first
            pos = token_pos[members]
            flat = out.view(-1, hidden)
            features = torch.cat([flat.index_select(0, pos * 2 * size + local),
                                  flat.index_select(0, ((chunk_lengths[local] - 1 - pos) * 2 + 1) * size + local)], dim=1)
            scores[members] = self.head(features)
            first = last
        return scores.float()

    def token_features(
        self,
        words: torch.Tensor,
        chars: torch.Tensor,
        char_chunks: Sequence[Tuple[int, int, int]],
        inverse: torch.Tensor,
        dict_tags: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """The BiLSTM's input per token ``(n_tokens + 1, width)``: word, characters, dictionary
        tag (dropout applied in training); the last row is zeros, the windows' padding."""
        word_types = self.word_features(words)
        word_tokens = word_types[inverse]
        if self.training and self.word_dropout > 0.0:
            word_tokens = self._drop_words(word_tokens)
        features = [word_tokens, self.chars(chars, char_chunks)[inverse]]
        if self.dict_tags is not None:
            if dict_tags is None:
                raise ValueError("this BiLSTMEmitter has dictionary features: pass dict_tags")
            features.append(self.dict_tags(dict_tags))
        tokens = self.drop(torch.cat(features, dim=1))
        return torch.cat([tokens, tokens.new_zeros((1, tokens.shape[1]))], dim=0)

    def _drop_words(self, word_tokens: torch.Tensor) -> torch.Tensor:
        """Replace each token's word feature by the unknown word's with probability ``word_dropout``."""
        mask = torch.rand(word_tokens.shape[0], 1, device=word_tokens.device) < self.word_dropout
        if self.word_mode == "vectors":
            unknown = self.words.weight[-1].to(word_tokens.dtype).expand_as(word_tokens)
        else:
            unknown = torch.zeros_like(word_tokens)
        return torch.where(mask, unknown, word_tokens)


register_torch_module("BiLSTMEmitter", BiLSTMEmitter.from_config)
register_torch_module("TanhHead", lambda config: TanhHead(**config))


@spacy.registry.architectures("spacy_bioner.BiLSTMCRF.v1")
def build_bilstm_crf(
    finetune_vectors: bool = True,
    embed_width: int = 100,
    embed_rows: int = 20000,
    char_width: int = 50,
    char_filters: int = 50,
    char_window: int = 3,
    hidden_width: int = 150,
    tanh_width: int = 150,
    dropout: float = 0.5,
    window_size: int = 1000,
    window_overlap: int = 100,
    mixed_precision: bool = False,
    nO: Optional[int] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """BiLSTM-CRF tagger; output = emissions per doc, CRF under ``model.get_ref("crf")``."""
    return build_bilstm_crf_v2(
        finetune_vectors, embed_width, embed_rows, char_width, char_filters, char_window, hidden_width,
        tanh_width, dropout, 0.0, window_size, window_overlap, mixed_precision, nO,
    )  # fmt: skip


@spacy.registry.architectures("spacy_bioner.BiLSTMCRF.v2")
def build_bilstm_crf_v2(
    finetune_vectors: bool = True,
    embed_width: int = 100,
    embed_rows: int = 20000,
    char_width: int = 50,
    char_filters: int = 50,
    char_window: int = 3,
    hidden_width: int = 150,
    tanh_width: int = 150,
    dropout: float = 0.5,
    word_dropout: float = 0.0,
    window_size: int = 1000,
    window_overlap: int = 100,
    mixed_precision: bool = False,
    nO: Optional[int] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """v1 + ``word_dropout`` (see the module docstring)."""
    if not 0.0 <= word_dropout < 1.0:
        raise ValueError(f"word_dropout must be in [0, 1), got {word_dropout}")
    if window_size < 1 or not 0 <= 2 * window_overlap < window_size:
        raise ValueError(f"Need window_size > 2 * window_overlap >= 0, got {window_size}, {window_overlap}")
    emitter = Model(
        "bioner_bilstm",
        _emitter_forward,
        init=_emitter_init,
        dims={"nO": nO},
        attrs={
            "finetune_vectors": finetune_vectors,
            "embed_width": embed_width,
            "embed_rows": embed_rows,
            "char_width": char_width,
            "char_filters": char_filters,
            "char_window": char_window,
            "hidden_width": hidden_width,
            "tanh_width": tanh_width,
            "dropout": dropout,
            "word_dropout": word_dropout,
            "window_size": window_size,
            "window_overlap": window_overlap,
        },
        shims=[lazy_torch_shim(mixed_precision)],
    )
    return crf_tagger(emitter)


@spacy.registry.architectures("spacy_bioner.BiLSTMCRF.v3")
def build_bilstm_crf_v3(
    finetune_vectors: bool = True,
    embed_width: int = 100,
    embed_rows: int = 20000,
    char_width: int = 50,
    char_filters: int = 50,
    char_window: int = 3,
    hidden_width: int = 150,
    tanh_width: int = 150,
    dropout: float = 0.5,
    word_dropout: float = 0.0,
    dictionary_width: int = 20,
    window_size: int = 1000,
    window_overlap: int = 100,
    mixed_precision: bool = False,
    nO: Optional[int] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """v2 + dictionary features: each token's B/I x Chemical/Disease match of the weak
    labeller's dictionary (:mod:`.dictionary_features`) gets a trainable embedding of
    ``dictionary_width``, joined to the word and character features. The dictionary is read at
    initialize (``[initialize.components.NAME] dictionary = PATH``) and saved with the weights."""
    if dictionary_width < 1:
        raise ValueError(f"dictionary_width must be >= 1, got {dictionary_width}")
    model = build_bilstm_crf_v2(
        finetune_vectors, embed_width, embed_rows, char_width, char_filters, char_window, hidden_width,
        tanh_width, dropout, word_dropout, window_size, window_overlap, mixed_precision, nO,
    )  # fmt: skip
    emitter = model.layers[0]
    emitter.attrs["dictionary_width"] = dictionary_width
    emitter.attrs["dictionary"] = DictionaryFeatures()
    return model


def _emitter_init(model: Model, X: Optional[List[Doc]] = None, Y: Any = None) -> None:
    n_tags = model.get_dim("nO")
    attrs = model.attrs
    vectors = X[0].vocab.vectors if X else None
    has_vectors = vectors is not None and vectors.shape[0] > 0 and vectors.shape[1] > 0
    if has_vectors and vectors.mode == "default" and attrs["finetune_vectors"]:
        mode, rows, width = "vectors", vectors.shape[0] + 1, vectors.shape[1]
    elif has_vectors:
        mode, rows, width = "frozen", 0, vectors.shape[1]
    else:
        mode, rows, width = "hash", attrs["embed_rows"], attrs["embed_width"]
    module = BiLSTMEmitter(
        n_tags, mode, rows, width,
        char_width=attrs["char_width"], char_filters=attrs["char_filters"],
        char_window=attrs["char_window"], hidden_width=attrs["hidden_width"],
        tanh_width=attrs["tanh_width"], dropout=attrs["dropout"],
        word_dropout=attrs.get("word_dropout", 0.0),
        dict_tags=N_DICT_TAGS if attrs.get("dictionary_width") else 0,
        dict_width=attrs.get("dictionary_width", 0),
    )  # fmt: skip
    if mode == "vectors":
        with torch.no_grad():
            module.words.weight[: rows - 1] = torch.as_tensor(_to_numpy(vectors.data), dtype=torch.float32)
            module.words.weight[rows - 1] = 0.0
    set_torch_module(model, module)


def _to_numpy(array: Any) -> numpy.ndarray:
    return array.get() if hasattr(array, "get") else numpy.asarray(array)


def _char_ids(word: str) -> numpy.ndarray:
    codes = numpy.frombuffer(word.encode("utf-32-le"), dtype=numpy.uint32).astype("int64")
    if len(codes) > MAX_WORD_CHARS:
        half = MAX_WORD_CHARS // 2
        codes = numpy.concatenate([codes[:half], codes[-half:]])
    return codes % (CHAR_ROWS - 1) + 1


def _word_ids(module: BiLSTMEmitter, docs: List[Doc], words: List[str], keys: numpy.ndarray) -> Any:
    """Per distinct word: vector rows, hashed ids or the frozen vectors themselves."""
    mode = module.word_mode
    lowers = numpy.asarray([get_string_id(w.lower()) for w in words], dtype="uint64")
    if mode == "hash":
        hashed = NumpyOps().hash(lowers, 7).astype("int64")[:, :2]
        return hashed % module.config["word_rows"]
    vectors = docs[0].vocab.vectors
    if vectors.mode != "default":
        return _to_numpy(vectors.get_batch(list(words))).astype("float32")
    rows = numpy.asarray(vectors.find(keys=keys), dtype="int64")
    missing = rows < 0
    if missing.any():
        rows[missing] = numpy.asarray(vectors.find(keys=lowers[missing]), dtype="int64")
    if mode == "vectors":
        unknown = module.config["word_rows"] - 1
        return numpy.where((rows < 0) | (rows >= unknown), unknown, rows)
    data = _to_numpy(vectors.data)
    found = rows >= 0
    out = numpy.zeros((len(rows), data.shape[1]), dtype="float32")
    out[found] = data[rows[found]]
    return out


def _windows(lengths: Sequence[int], size: int, overlap: int) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Window token indices (padding = total), window lengths, and each token's flat position
    in the ``(n_windows, longest)`` output of the window in which it is a core token."""
    total = sum(lengths)
    core_step = size - 2 * overlap
    rows: List[numpy.ndarray] = []
    core_win = numpy.zeros((total,), dtype="int64")
    core_pos = numpy.zeros((total,), dtype="int64")
    offset = 0
    for n in lengths:
        if n <= size:
            spans = [(0, n, 0, n)] if n else []
        else:
            spans = []
            for core_start in range(0, n, core_step):
                core_end = min(core_start + core_step, n)
                spans.append((max(0, core_start - overlap), min(n, core_end + overlap), core_start, core_end))
        for lo, hi, core_start, core_end in spans:
            core_win[offset + core_start : offset + core_end] = len(rows)
            core_pos[offset + core_start : offset + core_end] = numpy.arange(core_start - lo, core_end - lo)
            rows.append(numpy.arange(offset + lo, offset + hi))
        offset += n
    longest = max((len(r) for r in rows), default=0)
    windows = numpy.full((len(rows), longest), total, dtype="int64")
    for i, r in enumerate(rows):
        windows[i, : len(r)] = r
    window_lengths = numpy.asarray([len(r) for r in rows], dtype="int64")
    return windows, window_lengths, core_win * longest + core_pos


def char_id_array(words: Sequence[str]) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """The char ids of each word (as :func:`_char_ids`: words over ``MAX_WORD_CHARS`` keep their
    first and last halves) as one zero-padded ``(n_words, longest)`` array, and the lengths,
    computed for all words at once."""
    lengths = numpy.fromiter((len(w) for w in words), dtype="int64", count=len(words))
    if not len(words):
        return numpy.zeros((0, 0), dtype="int64"), lengths
    codes = numpy.frombuffer("".join(words).encode("utf-32-le"), dtype=numpy.uint32).astype("int64")
    kept = numpy.minimum(lengths, MAX_WORD_CHARS)
    offsets = numpy.cumsum(lengths) - lengths
    column = numpy.arange(max(1, int(kept.max())))[None, :]
    half = MAX_WORD_CHARS // 2
    source = numpy.where((lengths[:, None] > MAX_WORD_CHARS) & (column >= half),
                         lengths[:, None] - MAX_WORD_CHARS + column, column)
    inside = column < kept[:, None]
    ids = codes[numpy.where(inside, offsets[:, None] + source, 0)] % (CHAR_ROWS - 1) + 1
    return numpy.where(inside, ids, 0), kept


def char_chunks(lengths: Sequence[int]) -> List[Tuple[int, int, int]]:
    """``(start, end, longest)`` char-CNN calls over words sorted by length: at most
    ``CHAR_CHUNK`` words each, a new call where the length passes the next of
    ``CHAR_BUCKETS``, so short words are not padded to the longest word of the batch
    (the outputs do not depend on the padding)."""
    lengths = numpy.asarray(lengths, dtype="int64")
    if not len(lengths):
        return []
    buckets = numpy.searchsorted(numpy.asarray(CHAR_BUCKETS, dtype="int64"), lengths, side="left")
    changes = (numpy.flatnonzero(buckets[1:] != buckets[:-1]) + 1).tolist()
    chunks: List[Tuple[int, int, int]] = []
    for start, end in zip([0] + changes, changes + [len(lengths)]):
        for piece in range(start, end, CHAR_CHUNK):
            stop = min(piece + CHAR_CHUNK, end)
            chunks.append((piece, stop, int(lengths[stop - 1])))
    return chunks


def featurize(model: Model, docs: List[Doc]) -> ArgsKwargs:
    """The torch inputs of :class:`BiLSTMEmitter` for a batch of non-empty-in-total docs."""
    module: BiLSTMEmitter = get_torch_module(model)
    device = torch_device(model)
    orths = numpy.concatenate([doc.to_array(ORTH) for doc in docs if len(doc)]).astype("uint64")
    keys, inverse = numpy.unique(orths, return_inverse=True)
    strings = docs[0].vocab.strings
    words = [strings[int(k)] for k in keys]
    char_array, char_lengths = char_id_array(words)
    # sort distinct words by length so char-CNN chunks carry little padding
    order = numpy.argsort(char_lengths, kind="stable")
    rank = numpy.empty_like(order)
    rank[order] = numpy.arange(len(order))
    char_array = char_array[order]
    words = [words[i] for i in order]
    keys = keys[order]
    inverse = rank[inverse]
    chunks = char_chunks(char_lengths[order])
    word_feats = _word_ids(module, docs, words, keys)
    windows, window_lengths, core = _windows([len(d) for d in docs], model.attrs["window_size"], model.attrs["window_overlap"])
    as_t = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
    kwargs = {}
    if module.dict_tags is not None:
        features: DictionaryFeatures = model.attrs["dictionary"]
        kwargs["dict_tags"] = as_t(numpy.concatenate([features.token_tags(doc) for doc in docs if len(doc)]))
    return ArgsKwargs(
        args=(
            as_t(word_feats), as_t(char_array), chunks, as_t(inverse), as_t(windows),
            torch.as_tensor(window_lengths), as_t(core),
        ),
        kwargs=kwargs,
    )  # fmt: skip


def _emitter_forward(model: Model, docs: List[Doc], is_train: bool):
    ops = model.ops
    n_tags = model.get_dim("nO")
    lengths = [len(doc) for doc in docs]
    if sum(lengths) == 0:
        return [ops.alloc2f(0, n_tags) for _ in docs], lambda dY: []
    inputs = featurize(model, docs)
    output, torch_backprop = model.shims[0](inputs, is_train)
    flat = torch2xp(output.detach())
    Y = ops.unflatten(flat, ops.asarray1i(lengths))

    def backprop(dY: List[Floats2d]) -> List[Doc]:
        d_flat = xp2torch(ops.flatten(dY), device=output.device)
        torch_backprop(ArgsKwargs(args=(output,), kwargs={"grad_tensors": (d_flat,)}))
        return []

    return Y, backprop
