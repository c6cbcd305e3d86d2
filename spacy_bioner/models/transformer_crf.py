"""``spacy_bioner.TransformerCRF.v1``: token vectors (transformer) -> tanh layer -> CRF.

``tok2vec`` is any ``List[Doc] -> List[Floats2d]`` layer: usually
``spacy-transformers.TransformerListener.v1`` (listening to the pipeline's ``transformer``
component; spacy-transformers windows long documents with its span getter), or
``spacy-transformers.Tok2VecTransformer.v3`` for a transformer owned by this component.

Registering the architecture imports neither spacy-transformers nor transformers (a plain install
has neither: they come with ``pip install "spacy_bioner[trf]"``); building it checks for them.
"""

from __future__ import annotations

from typing import Any, List, Optional

import spacy
from spacy.tokens import Doc
from thinc.api import ArgsKwargs, Model, chain, torch2xp, xp2torch
from thinc.types import Floats2d

from ..extras import require_trf
from .bilstm_crf import TanhHead
from .crf import crf_tagger, lazy_torch_shim, set_torch_module, torch_device


@spacy.registry.architectures("spacy_bioner.TransformerCRF.v1")
def build_transformer_crf(
    tok2vec: Model[List[Doc], List[Floats2d]],
    hidden_width: int = 256,
    dropout: float = 0.1,
    mixed_precision: bool = False,
    nO: Optional[int] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """Transformer-CRF tagger; output = emissions per doc, CRF under ``model.get_ref("crf")``.

    ``dropout`` applies to the token vectors entering the tanh layer (training only).
    Fails with :class:`spacy_bioner.extras.MissingExtraError` without the ``trf`` extra.
    """
    require_trf("spacy_bioner.TransformerCRF.v1")
    head = tanh_head_layer(hidden_width, dropout, mixed_precision, nO=nO)
    emitter = chain(tok2vec, head)
    emitter.set_ref("tok2vec", tok2vec)
    emitter.set_ref("output", head)
    return crf_tagger(emitter)


def tanh_head_layer(
    hidden_width: int, dropout: float, mixed_precision: bool = False, nO: Optional[int] = None
) -> Model[List[Floats2d], List[Floats2d]]:
    """Per-token ``Linear -> tanh -> Linear`` (torch), sized at initialize from its input width."""
    return Model(
        "bioner_tanh_head",
        _head_forward,
        init=_head_init,
        dims={"nI": None, "nO": nO},
        attrs={"hidden_width": hidden_width, "dropout": dropout},
        shims=[lazy_torch_shim(mixed_precision)],
    )


def _head_init(model: Model, X: Optional[List[Floats2d]] = None, Y: Any = None) -> None:
    if X is not None and len(X):
        model.set_dim("nI", int(X[0].shape[1]), force=True)
    if not model.has_dim("nI"):
        raise ValueError("The tanh head needs sample token vectors (or its nI) to initialise")
    head = TanhHead(model.get_dim("nI"), model.attrs["hidden_width"], model.get_dim("nO"), model.attrs["dropout"])
    set_torch_module(model, head)


def _head_forward(model: Model, X: List[Floats2d], is_train: bool):
    ops = model.ops
    lengths = ops.asarray1i([len(x) for x in X])
    n_out = model.get_dim("nO")
    if not len(X) or int(lengths.sum()) == 0:
        return [ops.alloc2f(0, n_out) for _ in X], lambda dY: [ops.alloc2f(0, model.get_dim("nI")) for _ in X]
    device = torch_device(model)
    x_t = xp2torch(ops.flatten(X), requires_grad=is_train, device=device)
    y_t, torch_backprop = model.shims[0](ArgsKwargs(args=(x_t,), kwargs={}), is_train)
    Y = ops.unflatten(torch2xp(y_t.detach().float()), lengths)

    def backprop(dY: List[Floats2d]) -> List[Floats2d]:
        d_t = xp2torch(ops.flatten(dY), device=y_t.device).to(y_t.dtype)
        grads = torch_backprop(ArgsKwargs(args=(y_t,), kwargs={"grad_tensors": (d_t,)}))
        return ops.unflatten(torch2xp(grads.args[0].float()), lengths)

    return Y, backprop

