"""Pretrained encoder weights of the BiLSTM-CRF (made by ``spacy_bioner pretrain``): save and load.

The encoder is the part of :class:`~.bilstm_crf.BiLSTMEmitter` that does not depend on the tags:
the char-CNN, the dictionary-tag embedding and the BiLSTM. The word embedding is not saved: it is
the word-vector table that ``[initialize] vectors`` loads. A file is torch's serialisation of
``{"format", "config", "state"}`` (tensors and plain values only, read with ``weights_only``).
Loading checks that every size the weights fix matches the model's before it copies anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch
from thinc.api import Model

from .crf import get_torch_module

ENCODER_FORMAT = "spacy_bioner.bilstm_encoder.v1"
#: the emitter's parameters that make up the encoder (state-dict key prefixes)
ENCODER_PREFIXES = ("chars.", "dict_tags.", "lstm.")
#: the emitter config values that fix the encoder's parameter shapes
SHAPE_KEYS = ("word_mode", "word_width", "char_width", "char_filters", "char_window", "hidden_width", "dict_tags", "dict_width")
NOT_BILSTM = "pretrained encoder weights need a spacy_bioner.BiLSTMCRF model (v1, v2 or v3)"


def find_bilstm_layer(model: Model) -> Optional[Model]:
    """The emitter layer (``bioner_bilstm``) of a ``spacy_bioner.BiLSTMCRF`` model, or None."""
    return next((node for node in model.walk() if node.name == "bioner_bilstm"), None)


def bilstm_layer(model: Model) -> Model:
    """The emitter layer (``bioner_bilstm``) of a ``spacy_bioner.BiLSTMCRF`` model."""
    layer = find_bilstm_layer(model)
    if layer is None:
        raise ValueError(NOT_BILSTM)
    return layer


def bilstm_module(model: Model) -> torch.nn.Module:
    """The initialised BiLSTMEmitter torch module of a ``spacy_bioner.BiLSTMCRF`` model."""
    from .bilstm_crf import BiLSTMEmitter

    module = get_torch_module(bilstm_layer(model))
    if not isinstance(module, BiLSTMEmitter):
        raise ValueError(f"{NOT_BILSTM}; its bioner_bilstm layer holds {type(module).__name__}")
    return module


def encoder_config(module: torch.nn.Module) -> Dict[str, Any]:
    return {key: module.config.get(key, 0) for key in SHAPE_KEYS}


def encoder_state(module: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """The encoder's parameters (detached CPU copies), keyed as in the module's state dict."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items() if k.startswith(ENCODER_PREFIXES)}


def save_encoder(module: torch.nn.Module, path: Union[str, Path], stats: Optional[Dict[str, Any]] = None) -> None:
    """Write the encoder of ``module`` to ``path`` (the caller makes the write atomic)."""
    payload = {"format": ENCODER_FORMAT, "config": encoder_config(module), "state": encoder_state(module),
               "stats": dict(stats or {})}
    torch.save(payload, str(path))


def read_encoder(path: Union[str, Path]) -> Dict[str, Any]:
    """Read a file written by :func:`save_encoder`; a clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no pretrained encoder file (made by `python -m spacy_bioner pretrain`)")
    try:
        payload = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a file that is not its format
        raise ValueError(f"{path}: not a pretrained encoder file ({type(err).__name__}: {err})") from None
    if not isinstance(payload, dict) or payload.get("format") != ENCODER_FORMAT:
        raise ValueError(f"{path}: not a pretrained encoder file (format {ENCODER_FORMAT} expected)")
    return payload


def load_encoder(model: Model, path: Union[str, Path]) -> List[str]:
    """Copy the encoder weights in ``path`` into the initialised BiLSTM-CRF ``model``; return the
    parameter names loaded. Any size that differs (hidden width, vector width, dictionary
    features, ...) is an error naming the file and the setting, and nothing is copied."""
    payload = read_encoder(path)
    module = bilstm_module(model)
    ours, theirs = encoder_config(module), payload["config"]
    differ = [f"{k}: model {ours[k]!r}, file {theirs.get(k)!r}" for k in SHAPE_KEYS if ours[k] != theirs.get(k, 0)]
    if differ:
        raise ValueError(f"{path}: the pretrained encoder does not fit this model ({'; '.join(differ)})")
    target = encoder_state(module)
    state = payload["state"]
    if set(state) != set(target):
        raise ValueError(f"{path}: encoder parameters {sorted(state)} do not match the model's {sorted(target)}")
    for name, value in state.items():
        if value.shape != target[name].shape:
            raise ValueError(f"{path}: {name} has shape {tuple(value.shape)}, the model {tuple(target[name].shape)}")
    module.load_state_dict(state, strict=False)
    return sorted(state)
