"""A vectorised linear-chain CRF (torch) and the thinc glue that puts it into spaCy models.

The CRF scores a tag path ``y`` as ``start[y_0] + sum_t T[y_{t-1}, y_t] + sum_t E[t, y_t] + end[y_n]``.
All sums over paths are associative reductions of per-step ``K x K`` matrices in a semiring
(log-sum-exp for the partition function, max-plus for Viterbi), computed as a balanced binary tree:
``O(log T)`` sequential tensor ops, no Python loop over time steps and no host synchronisation,
so a 100,000-token document costs the same few kernel launches as a sentence. Marginals are the
gradient of ``log Z`` with respect to the emissions (forward-backward by autodiff) and the Viterbi
path is the gradient of the max-plus score (a one-hot per position; ``torch.max`` routes the
gradient to exactly one argument, so ties still give a single path). On CPU, :func:`crf_decode`
decodes sequences of abstract length by the textbook recursions in numpy instead
(:func:`sequential_decode`: same paths, marginals within float32 rounding, several times faster).

Masks must be prefix masks (``mask[b, t]`` is true for ``t < length[b]``); length 0 is allowed.
Everything is computed in float32 (float64 inputs stay float64) with autocast disabled.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy
import srsly
import torch
from thinc.api import ArgsKwargs, Model, PyTorchShim, get_torch_default_device, torch2xp, xp2torch
from thinc.types import Floats1d, Floats2d, Ints1d

from .tags import allowed_transitions

NEG = -1.0e4  # score of a forbidden move: exp(NEG) == 0 in float32 and float64


def _work(t: torch.Tensor) -> torch.Tensor:
    """Cast to the computation dtype: float64 stays, anything else becomes float32."""
    return t if t.dtype == torch.float64 else t.float()


def _log_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Log-semiring product of ``(..., K, K)`` matrices."""
    return torch.logsumexp(a.unsqueeze(-1) + b.unsqueeze(-3), dim=-2)


def _max_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Max-plus product of ``(..., K, K)`` matrices (gradient flows to one argmax)."""
    return (a.unsqueeze(-1) + b.unsqueeze(-3)).max(dim=-2).values


def _identity(n_tags: int, like: torch.Tensor) -> torch.Tensor:
    eye = torch.full((n_tags, n_tags), NEG, dtype=like.dtype, device=like.device)
    return eye.fill_diagonal_(0.0)


def _tree_reduce(mats: torch.Tensor, combine: Callable) -> Tuple[torch.Tensor, torch.Tensor]:
    """Ordered product ``M_0 (x) M_1 (x) ...`` of ``(B, N, K, K)`` along N, as a binary tree.

    Returns ``(P, offset)`` with the product equal to ``P + offset[:, None, None]``: every
    partial product is shifted by its (detached) maximum and the shifts are summed in float64,
    so entries stay small and float32 keeps its precision on very long sequences. Both
    semirings are shift-homogeneous, so the detached shifts leave all gradients exact.
    """
    batch, _, n_tags, _ = mats.shape
    offset = torch.zeros((batch,), dtype=torch.float64, device=mats.device)
    if mats.shape[1] == 0:
        return _identity(n_tags, mats).expand(batch, n_tags, n_tags), offset
    while mats.shape[1] > 1:
        if mats.shape[1] % 2:
            pad = _identity(n_tags, mats).expand(batch, 1, n_tags, n_tags)
            mats = torch.cat([mats, pad], dim=1)
        mats = combine(mats[:, 0::2], mats[:, 1::2])
        shift = mats.detach().amax(dim=(-2, -1), keepdim=True)
        mats = mats - shift
        offset = offset + shift.reshape(batch, -1).double().sum(dim=1)
    return mats[:, 0], offset


class LinearChainCRF(torch.nn.Module):
    """Linear-chain CRF with learned transition, start and end scores and constant masks.

    ``allowed``/``allowed_start``/``allowed_end`` are boolean masks; forbidden entries score
    ``NEG`` and get no gradient. Build a CRF constrained to valid BIO or BILOU paths with :meth:`from_tags`.
    """

    def __init__(
        self,
        num_tags: int,
        allowed: Optional[numpy.ndarray] = None,
        allowed_start: Optional[numpy.ndarray] = None,
        allowed_end: Optional[numpy.ndarray] = None,
        tags: Optional[Sequence[str]] = None,
    ):
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"LinearChainCRF needs at least one tag, got {num_tags}")
        self.num_tags = num_tags
        self.tags = list(tags) if tags is not None else None
        self.transitions = torch.nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))
        self.start = torch.nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.end = torch.nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        for name, value, shape in (
            ("allowed", allowed, (num_tags, num_tags)),
            ("allowed_start", allowed_start, (num_tags,)),
            ("allowed_end", allowed_end, (num_tags,)),
        ):
            mask = torch.ones(shape, dtype=torch.bool)
            if value is not None:
                mask = torch.as_tensor(numpy.asarray(value, dtype=bool))
                if tuple(mask.shape) != shape:
                    raise ValueError(f"{name} mask has shape {tuple(mask.shape)}, expected {shape}")
            self.register_buffer(name, mask, persistent=False)

    @classmethod
    def from_tags(cls, tags: Sequence[str]) -> "LinearChainCRF":
        """A CRF over BIO or BILOU ``tags`` with the invalid moves forbidden."""
        trans, start, end = allowed_transitions(tags)
        return cls(len(tags), trans, start, end, tags=tags)

    @property
    def config(self) -> Dict[str, Any]:
        """Constructor arguments (JSON-able) that rebuild this module's shapes and masks."""
        if self.tags is not None:
            return {"tags": self.tags}
        return {
            "num_tags": self.num_tags,
            "allowed": self.allowed.cpu().numpy().tolist(),
            "allowed_start": self.allowed_start.cpu().numpy().tolist(),
            "allowed_end": self.allowed_end.cpu().numpy().tolist(),
        }

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "LinearChainCRF":
        if "tags" in config:
            return cls.from_tags(config["tags"])
        return cls(**config)

    def scores(self, dtype: torch.dtype) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Effective ``(transitions, start, end)`` with forbidden moves set to ``NEG``."""
        neg = torch.tensor(NEG, dtype=dtype, device=self.transitions.device)
        return (
            torch.where(self.allowed, self.transitions.to(dtype), neg),
            torch.where(self.allowed_start, self.start.to(dtype), neg),
            torch.where(self.allowed_end, self.end.to(dtype), neg),
        )

    # -- reductions over paths -------------------------------------------------------------
    def _reduce(self, emissions: torch.Tensor, mask: torch.Tensor, combine: Callable, final: Callable):
        emissions = _work(emissions)
        batch, length, n_tags = emissions.shape
        if n_tags != self.num_tags:
            raise ValueError(f"emissions have {n_tags} tags, the CRF has {self.num_tags}")
        if length == 0:
            return emissions.new_zeros((batch,), dtype=torch.float64)
        trans, start, end = self.scores(emissions.dtype)
        mask = mask.to(device=emissions.device, dtype=torch.bool)
        steps = trans + emissions[:, 1:, None, :]  # (B, T-1, K, K)
        steps = torch.where(mask[:, 1:, None, None], steps, _identity(n_tags, emissions))
        product, offset = _tree_reduce(steps, combine)  # (B, K, K), (B,) float64
        total = (start + emissions[:, 0])[:, :, None] + product + end[None, None, :]
        result = final(total.reshape(batch, -1)).double() + offset
        return torch.where(mask[:, 0], result, torch.zeros_like(result))

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``log Z`` per sequence, shape ``(B,)``, float64; 0 for empty sequences."""
        with torch.autocast(device_type=emissions.device.type, enabled=False):
            return self._reduce(emissions, mask, _log_matmul, lambda x: torch.logsumexp(x, dim=-1))

    def best_score(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Score of the best path per sequence, shape ``(B,)``, float64."""
        with torch.autocast(device_type=emissions.device.type, enabled=False):
            return self._reduce(emissions, mask, _max_matmul, lambda x: x.max(dim=-1).values)

    def path_score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Score of the given (fully known) tag paths, shape ``(B,)``."""
        with torch.autocast(device_type=emissions.device.type, enabled=False):
            emissions = _work(emissions)
            trans, start, end = self.scores(emissions.dtype)
            mask = mask.to(device=emissions.device, dtype=torch.bool)
            if emissions.shape[1] == 0:
                return emissions.new_zeros((emissions.shape[0],))
            safe = tags.clamp(min=0)
            maskf = mask.to(emissions.dtype)
            score = (emissions.gather(2, safe.unsqueeze(-1)).squeeze(-1) * maskf).sum(1)
            score = score + (trans[safe[:, :-1], safe[:, 1:]] * maskf[:, 1:]).sum(1)
            lengths = mask.sum(1)
            last = safe.gather(1, (lengths - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
            return score + (start[safe[:, 0]] + end[last]) * maskf[:, 0]

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of ``tags`` per sequence, shape ``(B,)``.

        Tags ``< 0`` inside the mask are unknown: the likelihood sums over every tag there
        (partial annotation), i.e. ``log Z - log Z(paths agreeing with the known tags)``.
        """
        with torch.autocast(device_type=emissions.device.type, enabled=False):
            emissions = _work(emissions)
            known = tags >= 0
            onehot = torch.nn.functional.one_hot(tags.clamp(min=0), self.num_tags).bool()
            keep = onehot | ~known.unsqueeze(-1)
            constrained = emissions + torch.where(keep, 0.0, NEG).to(emissions.dtype)
            nll = self.log_partition(emissions, mask) - self.log_partition(constrained, mask)
            return nll.to(emissions.dtype)

    def log_likelihood(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Log-likelihood of ``tags`` per sequence (``-nll``)."""
        return -self.nll(emissions, tags, mask)

    def forward(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The training objective: NLL per sequence."""
        return self.nll(emissions, tags, mask)

    # -- inference ----------------------------------------------------------------------------
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Viterbi: ``(paths (B, T) int64 with -1 outside the mask, best scores (B,))``."""
        mask = mask.to(device=emissions.device, dtype=torch.bool)
        with torch.enable_grad():
            x = _work(emissions.detach()).requires_grad_(True)
            best = self.best_score(x, mask)
            if x.numel() == 0:
                grad = torch.zeros_like(x)
            else:
                (grad,) = torch.autograd.grad(best.sum(), x)
        paths = grad.argmax(dim=-1).masked_fill(~mask, -1)
        return paths, best.detach()

    def marginals(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Posterior ``P(y_t = k)`` per token, shape ``(B, T, K)``; zeros outside the mask."""
        mask = mask.to(device=emissions.device, dtype=torch.bool)
        with torch.enable_grad():
            x = _work(emissions.detach()).requires_grad_(True)
            log_z = self.log_partition(x, mask)
            if x.numel() == 0:
                return torch.zeros_like(x)
            (grad,) = torch.autograd.grad(log_z.sum(), x)
        return grad * mask.unsqueeze(-1).to(grad.dtype)


# ------------------------------------------------------------------------------------------
# thinc glue: torch modules built lazily (sizes known only at initialize) that still load
# from disk, because the shim's bytes carry the module's constructor config.
# ------------------------------------------------------------------------------------------

TORCH_MODULES: Dict[str, Callable[[Dict[str, Any]], torch.nn.Module]] = {
    "LinearChainCRF": LinearChainCRF.from_config,
}


def register_torch_module(name: str, from_config: Callable[[Dict[str, Any]], torch.nn.Module]) -> None:
    """Make a module class rebuildable from its ``config`` when a lazy shim is deserialised."""
    TORCH_MODULES[name] = from_config


def _serialize_module(module: Optional[torch.nn.Module]) -> bytes:
    if module is None:
        return srsly.msgpack_dumps({"module": None})
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    msg = {"module": type(module).__name__, "config": module.config, "state": buf.getvalue()}
    return srsly.msgpack_dumps(msg)


_BIN_LENGTH_BYTES = {0xC4: 1, 0xC5: 2, 0xC6: 4}  # msgpack bin 8 / 16 / 32
_PREFIX = 1 << 16


def _split_state(data: Union[bytes, memoryview]) -> Tuple[Dict[str, Any], Optional[memoryview]]:
    """Decode a msgpack map whose last entry is ``"state"`` (bytes) without copying those bytes.

    Returns the other entries and a view of the state's bytes inside ``data`` (``None`` when the
    map has no state). A map with the state elsewhere is decoded whole (the state is then a copy).
    """
    view = memoryview(data)
    prefix = _PREFIX
    while True:
        unpacker = srsly.msgpack.Unpacker(raw=False)
        unpacker.feed(view[:prefix])  # copies the prefix only: the entries before the weights
        entries: Dict[str, Any] = {}
        try:
            size = unpacker.read_map_header()
            for i in range(size):
                key = unpacker.unpack()
                at = unpacker.tell()
                if key == "state" and i == size - 1 and at < len(view) and view[at] in _BIN_LENGTH_BYTES:
                    start = at
                    break
                entries[key] = unpacker.unpack()
            else:
                state = entries.pop("state", None)
                return entries, None if state is None else memoryview(state)
            break
        except srsly.msgpack.OutOfData:
            if prefix >= len(view):
                raise ValueError(f"Truncated torch module data ({len(view)} bytes)") from None
            prefix *= 8
    width = _BIN_LENGTH_BYTES[view[start]]
    length = int.from_bytes(view[start + 1: start + 1 + width], "big")
    begin = start + 1 + width
    if begin + length > len(view):
        raise ValueError(f"Truncated torch module data: {length} bytes of state announced, {len(view) - begin} present")
    return entries, view[begin: begin + length]


class _ViewReader(io.RawIOBase):
    """A seekable read-only file over a memoryview: ``torch.load`` reads the weights from it in place."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        chunk = self._view[self._pos: self._pos + len(memoryview(buffer).cast("B"))]
        memoryview(buffer).cast("B")[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


def _deserialize_module(current: Any, data: Union[bytes, memoryview], device: "torch.device") -> Optional[torch.nn.Module]:
    """The module saved by :func:`_serialize_module`, with as few copies of its weights as possible.

    A loaded pipeline's peak memory counts the copies of the weights alive at once: beside the ones
    that spaCy and thinc hold while they load (the file's bytes, the decoded model message), only
    one more. The weights are read in place from ``data`` (no decoded copy), and the module is built
    first, then emptied to the meta device and handed the loaded tensors (``assign=True``). It is
    not built on the meta device: torch's meta ``normal_`` imports ``torch._dynamo`` (70 MB, 1 s).
    A module that computes buffers from its config (the CRF's masks, not saved) is built for real.
    """
    msg, weights = _split_state(data)
    if msg.get("module") is None:
        return current
    name = msg["module"]
    if name not in TORCH_MODULES:
        raise ValueError(f"Cannot load torch module {name!r}: not registered (known: {sorted(TORCH_MODULES)})")
    if weights is None:
        raise ValueError(f"Torch module {name!r}: the saved data has no state")
    module = TORCH_MODULES[name](msg["config"]).to_empty(device="meta")
    state = torch.load(_ViewReader(weights), map_location=device, weights_only=True)
    module.load_state_dict(state, assign=True)
    if any(t.is_meta for t in (*module.parameters(), *module.buffers())):
        module = TORCH_MODULES[name](msg["config"])
        module.load_state_dict(state)
    return module.to(device)


class LazyTorchShim(PyTorchShim):
    """A PyTorchShim whose module is rebuilt from its saved config (:data:`TORCH_MODULES`)."""

    def from_bytes(self, bytes_data: bytes) -> "LazyTorchShim":
        """As ``PyTorchShim.from_bytes``, reading the module's data in place (see :func:`_deserialize_module`)."""
        device = get_torch_default_device()
        msg, state = _split_state(bytes_data)
        if state is None:
            raise ValueError("Torch layer data without a state")
        self.cfg = msg["config"]
        self._model = self._deserialize_model(self._model, state, device)
        self._grad_scaler.to_(device)
        return self


def lazy_torch_shim(mixed_precision: bool = False) -> PyTorchShim:
    """A PyTorchShim without a module yet; :func:`set_torch_module` fills it at initialize."""
    return LazyTorchShim(
        None,
        mixed_precision=mixed_precision,
        serialize_model=_serialize_module,
        deserialize_model=_deserialize_module,
    )


def set_torch_module(model: Model, module: torch.nn.Module) -> None:
    """Install ``module`` (on thinc's current torch device) into ``model``'s lazy shim."""
    model.shims[0]._model = module.to(get_torch_default_device())


def get_torch_module(model: Model) -> torch.nn.Module:
    """The torch module of a lazy-shim layer; a clear error when it was never initialised."""
    module = model.shims[0]._model
    if module is None:
        raise ValueError(f"Layer {model.name!r} is not initialised: call nlp.initialize() or load a trained pipeline")
    return module


@contextlib.contextmanager
def use_torch_averages(model: Model, params: Dict[Any, Any]) -> Iterator[int]:
    """Inside the block, every torch module under ``model`` holds the averages in ``params``.

    thinc's optimizer keys the averages of a shim's torch parameters ``(shim.id, name)``, but
    ``PyTorchShim.use_params`` looks for ``"pytorch_{id}_{name}"`` keys (and loads them strictly),
    so with ``use_averages = true`` a torch model would be evaluated and saved with its raw
    weights. This copies the averaged values in place and restores the weights afterwards;
    parameters without an average (never updated) keep theirs. Yields the number replaced.
    """
    backups: List[Tuple[torch.nn.Parameter, torch.Tensor]] = []
    try:
        with torch.no_grad():
            for node in model.walk():
                for shim in node.shims:
                    module = getattr(shim, "_model", None)
                    if not isinstance(shim, PyTorchShim) or module is None:
                        continue
                    for name, param in module.named_parameters():
                        average = params.get((shim.id, name))
                        if average is None:
                            continue
                        backups.append((param, param.detach().clone()))
                        param.copy_(xp2torch(average, device=param.device).to(param.dtype))
        yield len(backups)
    finally:
        with torch.no_grad():
            for param, saved in backups:
                param.copy_(saved)


def torch_device(model: Model) -> "torch.device":
    module = model.shims[0]._model
    if module is not None:
        param = next(module.parameters(), None)
        if param is not None:
            return param.device
    return get_torch_default_device()


# -- the CRF as a thinc layer -------------------------------------------------------------------

def crf_layer() -> Model[Tuple[List[Floats2d], List[Ints1d]], Floats1d]:
    """Thinc layer: ``(emissions per doc, gold tag ids per doc) -> NLL per doc``.

    Gold ids ``-1`` are unknown tokens. Set ``attrs["tags"]`` (the BIO tags) before initialize.
    """
    return Model(
        "bioner_crf",
        _crf_forward,
        init=_crf_init,
        dims={"nO": None},
        attrs={"tags": None},
        shims=[lazy_torch_shim()],
    )


def _crf_init(model: Model, X: Any = None, Y: Any = None) -> None:
    tags = model.attrs["tags"]
    if not tags:
        raise ValueError("The CRF layer needs its tags (attrs['tags']) before initialize")
    model.set_dim("nO", len(tags))
    set_torch_module(model, LinearChainCRF.from_tags(tags))


def pad_batch(ops, seqs: Sequence, width: int, fill: float = 0.0, dtype: str = "float32"):
    """Stack ``(n_i, width)`` arrays (``(n_i,)`` when width is 0) into one padded xp array."""
    lengths = [len(s) for s in seqs]
    shape = (len(seqs), max(lengths, default=0)) + ((width,) if width else ())
    out = ops.xp.full(shape, fill, dtype=dtype)
    for i, seq in enumerate(seqs):
        if lengths[i]:
            out[i, : lengths[i]] = ops.asarray(seq)
    return out


def prefix_mask(lengths: Sequence[int], longest: int, device: "torch.device") -> torch.Tensor:
    """``(B, longest)`` bool mask, true for ``t < lengths[b]`` (built in torch, on ``device``)."""
    lengths_t = torch.as_tensor(list(lengths), dtype=torch.int64).to(device)
    return torch.arange(longest, device=device)[None, :] < lengths_t[:, None]


def _crf_forward(model: Model, inputs: Tuple[List[Floats2d], List[Ints1d]], is_train: bool):
    emissions, gold = inputs
    ops = model.ops
    n_tags = model.get_dim("nO")
    lengths = [len(e) for e in emissions]
    for i, (e, g) in enumerate(zip(emissions, gold)):
        if len(g) != len(e) or (len(e) and e.shape[1] != n_tags):
            raise ValueError(f"CRF input {i}: emissions {e.shape} vs {len(g)} gold tags, {n_tags} tags expected")
    padded = pad_batch(ops, emissions, n_tags)
    if padded.shape[1] == 0:  # only empty documents: one empty path each, NLL 0
        return ops.alloc1f(len(emissions)), lambda d_nll: [ops.alloc2f(0, n_tags) for _ in lengths]
    tags = pad_batch(ops, gold, 0, fill=-1, dtype="int64")
    device = torch_device(model)
    e_t = xp2torch(padded, requires_grad=is_train, device=device)
    mask_t = prefix_mask(lengths, padded.shape[1], device)
    args = ArgsKwargs(args=(e_t, xp2torch(tags, device=device), mask_t), kwargs={})
    nll_t, torch_backprop = model.shims[0](args, is_train)
    nll = torch2xp(nll_t.detach().float())

    def backprop(d_nll: Floats1d) -> List[Floats2d]:
        d_t = xp2torch(ops.asarray1f(d_nll), device=nll_t.device).to(nll_t.dtype)
        grads = torch_backprop(ArgsKwargs(args=(nll_t,), kwargs={"grad_tensors": (d_t,)}))
        d_padded = torch2xp(grads.args[0].float())
        return [d_padded[i, :n] for i, n in enumerate(lengths)]

    return nll, backprop


def length_buckets(lengths: Sequence[int], max_tokens: int) -> Iterator[List[int]]:
    """Group indices (longest first) so each group's ``size * longest`` stays within ``max_tokens``.

    A single sequence longer than ``max_tokens`` gets a group of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    group: List[int] = []
    for i in order:
        if group and (len(group) + 1) * max(lengths[group[0]], 1) > max_tokens:
            yield group
            group = []
        group.append(i)
    if group:
        yield group


#: longest sequence that :func:`crf_decode` decodes with :func:`sequential_decode` on CPU; a
#: longer one goes to the tree (``O(log T)`` tensor ops instead of ``O(T)`` numpy steps)
SEQUENTIAL_MAX_LENGTH = 4096


def sequential_decode(
    module: LinearChainCRF, emissions: numpy.ndarray, lengths: Sequence[int]
) -> Optional[Tuple[numpy.ndarray, numpy.ndarray]]:
    """Viterbi paths and marginals of padded ``emissions`` ``(B, T, K)``, step by step in numpy.

    The same quantities as :meth:`LinearChainCRF.decode` and :meth:`LinearChainCRF.marginals`
    (paths ``(B, T)`` int64 with -1 past each length, marginals ``(B, T, K)`` float32 with
    zeros there), computed in float64 by the textbook recursions: max-plus Viterbi with back
    pointers, and forward-backward in probability space, each step normalised (emissions
    shifted by their per-token maximum, forbidden moves ``exp(NEG) == 0``). On CPU, for
    abstracts, this is several times faster than the tree with autograd. ``None`` when a
    normalising sum is not a positive finite number (the caller then uses the tree).
    """
    trans_t, start_t, end_t = (t.detach().cpu().numpy().astype("float64") for t in module.scores(torch.float64))
    batch, longest, n_tags = emissions.shape
    lengths_np = numpy.asarray(lengths, dtype="int64")
    paths = numpy.full((batch, longest), -1, dtype="int64")
    marginals = numpy.zeros((batch, longest, n_tags), dtype="float32")
    if longest == 0 or batch == 0:
        return paths, marginals
    em = emissions.astype("float64")
    rows = numpy.arange(batch)
    # Viterbi: score[b, j] of the best path ending in j; back[t, b, j] its tag at t - 1
    score = start_t + em[:, 0]
    back = numpy.zeros((longest, batch, n_tags), dtype="int64")
    for t in range(1, longest):
        cand = score[:, :, None] + trans_t  # (B, from, to)
        best_prev = cand.argmax(axis=1)
        step = numpy.take_along_axis(cand, best_prev[:, None, :], axis=1)[:, 0] + em[:, t]
        score = numpy.where((t < lengths_np)[:, None], step, score)
        back[t] = best_prev
    current = (score + end_t).argmax(axis=1)
    for t in range(longest - 1, -1, -1):
        if t < longest - 1:
            current = numpy.where(t < lengths_np - 1, back[t + 1][rows, current], current)
        paths[:, t] = numpy.where(t < lengths_np, current, -1)
    # forward-backward in probability space, normalised at every step (a 0/0 is caught below)
    with numpy.errstate(divide="ignore", invalid="ignore"):
        found = _forward_backward(trans_t, start_t, end_t, em, lengths_np, marginals)
    return None if found is None else (paths, found)


def _forward_backward(
    trans_t: numpy.ndarray, start_t: numpy.ndarray, end_t: numpy.ndarray, em: numpy.ndarray,
    lengths_np: numpy.ndarray, marginals: numpy.ndarray,
) -> Optional[numpy.ndarray]:
    """``marginals`` filled in by the scaled forward-backward of :func:`sequential_decode`, or ``None``."""
    batch, longest, n_tags = em.shape
    exp_trans = numpy.exp(trans_t)
    probs = numpy.exp(em - em.max(axis=2, keepdims=True))
    alpha = numpy.empty((batch, longest, n_tags))
    first = numpy.exp(start_t - start_t.max()) * probs[:, 0]
    alpha[:, 0] = first / first.sum(axis=1, keepdims=True)
    for t in range(1, longest):
        step = (alpha[:, t - 1] @ exp_trans) * probs[:, t]
        alpha[:, t] = step / step.sum(axis=1, keepdims=True)
    beta = numpy.empty((batch, longest, n_tags))
    last = numpy.exp(end_t - end_t.max())
    last = last / last.sum()
    beta[:, longest - 1] = last
    exp_trans_t = exp_trans.T.copy()
    for t in range(longest - 2, -1, -1):
        step = (probs[:, t + 1] * beta[:, t + 1]) @ exp_trans_t
        step /= step.sum(axis=1, keepdims=True)
        beta[:, t] = numpy.where((t >= lengths_np - 1)[:, None], last, step)
    joint = alpha * beta
    total = joint.sum(axis=2, keepdims=True)
    inside = numpy.arange(longest)[None, :] < lengths_np[:, None]
    if not numpy.isfinite(alpha[inside]).all() or not (numpy.isfinite(total[inside]) & (total[inside] > 0)).all():
        return None
    marginals[inside] = (joint[inside] / total[inside]).astype("float32")
    return marginals


def crf_decode(
    model: Model, emissions: Sequence[Floats2d], max_tokens: int = 65536
) -> Tuple[List[numpy.ndarray], List[numpy.ndarray]]:
    """Viterbi paths (int64) and token marginals (float32, ``(n, K)``) per document, as numpy.

    ``model`` is a :func:`crf_layer`; documents are decoded in length buckets of at most
    ``max_tokens`` padded positions so one very long document does not pad a whole batch.
    On CPU, buckets of sequences up to :data:`SEQUENTIAL_MAX_LENGTH` go through
    :func:`sequential_decode`; others (and GPU) through the tree.
    """
    module = get_torch_module(model)
    ops = model.ops
    n_tags = module.num_tags
    device = torch_device(model)
    paths: List[Optional[numpy.ndarray]] = [None] * len(emissions)
    margs: List[Optional[numpy.ndarray]] = [None] * len(emissions)
    lengths = [len(e) for e in emissions]
    module.eval()
    with torch.no_grad():
        for group in length_buckets(lengths, max_tokens):
            padded = pad_batch(ops, [emissions[i] for i in group], n_tags)
            group_lengths = [lengths[i] for i in group]
            decoded = None
            if device.type == "cpu" and padded.shape[1] <= SEQUENTIAL_MAX_LENGTH:
                decoded = sequential_decode(module, _to_host(padded), group_lengths)
            if decoded is None:
                e_t = xp2torch(padded, device=device)
                m_t = prefix_mask(group_lengths, padded.shape[1], device)
                best, _ = module.decode(e_t, m_t)
                marg = module.marginals(e_t, m_t).float()
                decoded = best.cpu().numpy(), marg.cpu().numpy()
            best_np, marg_np = decoded
            for row, i in enumerate(group):
                paths[i] = best_np[row, : lengths[i]].copy()
                margs[i] = marg_np[row, : lengths[i]].copy()
    module.train()
    return paths, margs  # type: ignore[return-value]


def _to_host(array: Any) -> numpy.ndarray:
    return array.get() if hasattr(array, "get") else numpy.asarray(array)


# -- the tagger: an emission model plus a CRF -------------------------------------------------

def crf_tagger(emitter: Model) -> Model:
    """Wrap an emission model (``List[Doc] -> List[Floats2d]``, one row per token, one column
    per tag) with a CRF layer. Output = emissions; the CRF is the ``"crf"`` ref.

    The emitter's output layer is its ``"output"`` ref, or the emitter itself.
    Call ``model.attrs["set_tags"](model, tags)`` before ``initialize``.
    """
    crf = crf_layer()
    return Model(
        "bioner_crf_tagger",
        _tagger_forward,
        init=_tagger_init,
        layers=[emitter, crf],
        refs={"emitter": emitter, "crf": crf},
        dims={"nO": None},
        attrs={"set_tags": set_tags},
    )


def set_tags(model: Model, tags: Sequence[str]) -> None:
    """Set the BIO tag list (and so every output width) of a :func:`crf_tagger` model."""
    n_tags = len(tags)
    emitter = model.get_ref("emitter")
    output = emitter.get_ref("output") if emitter.has_ref("output") else emitter
    for node in (model, output, model.get_ref("crf")):
        node.set_dim("nO", n_tags, force=True)
    model.get_ref("crf").attrs["tags"] = list(tags)


def _tagger_init(model: Model, X: Any = None, Y: Any = None) -> None:
    model.get_ref("emitter").initialize(X=X)
    model.get_ref("crf").initialize()


def _tagger_forward(model: Model, docs: List, is_train: bool):
    return model.get_ref("emitter")(docs, is_train)
