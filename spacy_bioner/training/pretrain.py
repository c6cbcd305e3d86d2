"""BiLM pretraining of the BiLSTM-CRF's encoder on unlabelled abstracts (``spacy_bioner pretrain``).

The objective is spaCy's ``pretrain`` "vectors" objective made bidirectional: the forward LSTM's
state at token t predicts the word vector of token t+1, the backward LSTM's state the vector of
token t-1, scored by cosine distance to the fixed word-vector table (tokens without a vector are
not targets). There is no softmax over the vocabulary, so a step costs about what a tagging step
costs. The word embedding stays the table (frozen); the char-CNN, the dictionary-tag embedding and
the BiLSTM learn. A checkpoint is written after every epoch (a rerun resumes after the last
complete one; it is removed when the run completes); at the end the encoder goes to ``OUTPUT/encoder.pt``, which
``[initialize.components.NAME] pretrained`` loads into a model before training.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy
import torch
from spacy.language import Language
from spacy.tokens import Doc

from ..atomic import atomic_path, atomic_write_text
from ..models.bilstm_crf import BiLSTMEmitter, featurize, unpacked_bilstm
from ..models.pretrained import bilstm_module, encoder_config, find_bilstm_layer, save_encoder

CHECKPOINT = "checkpoint.pt"
ENCODER = "encoder.pt"
STATS = "pretrain.json"


@dataclass(frozen=True)
class PretrainSettings:
    epochs: int = 1
    batch_tokens: int = 4000  # padded token positions per step
    learn_rate: float = 1e-3
    grad_clip: float = 5.0
    seed: int = 0


class BiLMHeads(torch.nn.Module):
    """One linear map per direction from the LSTM state to the word-vector space."""

    def __init__(self, hidden: int, width: int):
        super().__init__()
        self.forward_out = torch.nn.Linear(hidden, width)
        self.backward_out = torch.nn.Linear(hidden, width)


def _emitter_layer(nlp: Language):
    for _, proc in nlp.pipeline:
        model = getattr(proc, "model", None)
        layer = find_bilstm_layer(model) if model is not None else None
        if layer is not None:
            return layer
    raise ValueError("pretraining needs a pipeline with a spacy_bioner.BiLSTMCRF component")


def _targets(module: BiLSTMEmitter, inputs) -> Tuple[torch.Tensor, torch.Tensor]:
    """Unit word vectors per token ``(n_tokens, width)`` and which tokens have one."""
    words, inverse = inputs.args[0], inputs.args[3]
    if module.word_mode == "vectors":
        unknown = module.config["word_rows"] - 1
        rows = words[inverse]
        known = rows != unknown
        vectors = module.words.weight.detach()[rows]
    elif module.word_mode == "frozen":
        vectors = words[inverse].to(torch.float32)
        known = vectors.abs().sum(dim=1) > 0
    else:
        raise ValueError("BiLM pretraining needs word vectors ([initialize] vectors); the model hashes words instead")
    return torch.nn.functional.normalize(vectors.float(), dim=1), known


def bilm_loss(module: BiLSTMEmitter, heads: BiLMHeads, inputs, targets: torch.Tensor, known: torch.Tensor) -> Tuple[torch.Tensor, int]:
    """Summed cosine distance of both directions' predictions, and the number of predictions."""
    words, chars, chunks, inverse, windows, window_lengths, _core = inputs.args
    tokens = module.token_features(words, chars, chunks, inverse, **inputs.kwargs)
    hidden = module.drop(unpacked_bilstm(module.lstm, tokens[windows], window_lengths))
    width = module.lstm.hidden_size
    n_tokens = targets.shape[0]
    targets = torch.cat([targets, targets.new_zeros((1, targets.shape[1]))])
    known = torch.cat([known, known.new_zeros((1,))])  # the windows' padding index is n_tokens
    total = hidden.new_zeros(())
    count = 0
    for states, ids, out in (
        (hidden[:, :-1, :width], windows[:, 1:], heads.forward_out),  # state at t -> token t+1
        (hidden[:, 1:, width:], windows[:, :-1], heads.backward_out),  # state at t -> token t-1
    ):
        valid = known[ids] & (ids < n_tokens)
        if not bool(valid.any()):
            continue
        predicted = torch.nn.functional.normalize(out(states[valid]), dim=1)
        total = total + (1.0 - (predicted * targets[ids[valid]]).sum(dim=1)).sum()
        count += int(valid.sum())
    return total, count


def batches(docs: Sequence[Doc], order: Sequence[int], batch_tokens: int) -> Iterator[List[Doc]]:
    """Docs in ``order``, grouped so that (docs x longest) stays within ``batch_tokens``."""
    batch: List[Doc] = []
    longest = 0
    for i in order:
        doc = docs[i]
        if not len(doc):
            continue
        if batch and (len(batch) + 1) * max(longest, len(doc)) > batch_tokens:
            yield batch
            batch, longest = [], 0
        batch.append(doc)
        longest = max(longest, len(doc))
    if batch:
        yield batch


def _evaluate(layer, module: BiLSTMEmitter, heads: BiLMHeads, docs: Sequence[Doc], batch_tokens: int) -> Optional[float]:
    if not docs:
        return None
    module.eval()
    heads.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches(docs, range(len(docs)), batch_tokens):
            inputs = featurize(layer, batch)
            loss, n = bilm_loss(module, heads, inputs, *_targets(module, inputs))
            total += float(loss)
            count += n
    return total / max(1, count)


def pretrain(
    nlp: Language,
    docs: Sequence[Doc],
    output: Path,
    settings: PretrainSettings,
    *,
    held_out: Sequence[Doc] = (),
    log: Callable[[str], None] = print,
) -> Dict[str, Any]:
    """Train the encoder of ``nlp``'s BiLSTM-CRF with the BiLM objective; write ``output/encoder.pt``.

    ``held_out`` docs are only scored (mean cosine distance per prediction, after each epoch).
    Returns the statistics also written to ``output/pretrain.json``.
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    layer = _emitter_layer(nlp)
    module: BiLSTMEmitter = bilstm_module(layer)
    device = next(module.parameters()).device
    heads = BiLMHeads(module.lstm.hidden_size, module.config["word_width"]).to(device)
    if module.words is not None:
        module.words.weight.requires_grad_(False)
    params = [p for p in module.parameters() if p.requires_grad] + list(heads.parameters())
    optimizer = torch.optim.Adam(params, lr=settings.learn_rate)
    identity = {"settings": asdict(settings), "n_docs": len(docs), "n_tokens": sum(len(d) for d in docs),
                "encoder": encoder_config(module)}
    history: List[Dict[str, Any]] = []
    first_epoch = 0
    checkpoint = output / CHECKPOINT
    if checkpoint.is_file():
        saved = torch.load(str(checkpoint), map_location=device, weights_only=True)
        if saved["identity"] != identity:
            raise ValueError(f"{checkpoint}: a checkpoint of another run ({saved['identity']}); "
                             f"this run is {identity}: remove {output} or choose another --output")
        module.load_state_dict(saved["module"])
        heads.load_state_dict(saved["heads"])
        optimizer.load_state_dict(saved["optimizer"])
        history = list(saved["history"])
        first_epoch = saved["epoch"] + 1
        log(f"resuming after epoch {saved['epoch'] + 1} of {settings.epochs} ({checkpoint})")
    if first_epoch == 0:
        history.append({"epoch": 0, "held_out_loss": _evaluate(layer, module, heads, held_out, settings.batch_tokens)})
        log(f"epoch 0: held-out loss {_fmt(history[-1]['held_out_loss'])}")
    for epoch in range(first_epoch, settings.epochs):
        order = list(range(len(docs)))
        random.Random(settings.seed * 1000 + epoch).shuffle(order)
        torch.manual_seed(settings.seed * 1000 + epoch)
        module.train()
        heads.train()
        start = time.perf_counter()
        total, count, n_tokens = 0.0, 0, 0
        for batch in batches(docs, order, settings.batch_tokens):
            inputs = featurize(layer, batch)
            loss, n = bilm_loss(module, heads, inputs, *_targets(module, inputs))
            if n == 0:
                continue
            optimizer.zero_grad()
            (loss / n).backward()
            torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
            optimizer.step()
            total += float(loss.detach())
            count += n
            n_tokens += sum(len(d) for d in batch)
        seconds = time.perf_counter() - start
        row = {"epoch": epoch + 1, "train_loss": total / max(1, count), "seconds": seconds,
               "tokens_per_s": n_tokens / max(seconds, 1e-9),
               "held_out_loss": _evaluate(layer, module, heads, held_out, settings.batch_tokens)}
        history.append(row)
        log(f"epoch {epoch + 1}: train loss {row['train_loss']:.4f}, held-out loss {_fmt(row['held_out_loss'])}, "
            f"{row['tokens_per_s']:,.0f} tokens/s, {seconds:.0f} s")
        with atomic_path(checkpoint) as tmp:
            torch.save({"identity": identity, "epoch": epoch, "module": module.state_dict(), "heads": heads.state_dict(),
                        "optimizer": optimizer.state_dict(), "history": history}, str(tmp))
    if module.words is not None:
        module.words.weight.requires_grad_(True)
    stats = {**identity, "held_out_docs": len(held_out), "history": history}
    with atomic_path(output / ENCODER) as tmp:
        save_encoder(module, tmp, stats={"epochs": settings.epochs, "n_docs": len(docs)})
    atomic_write_text(output / STATS, json.dumps(stats, indent=2))
    checkpoint.unlink()  # the run is complete: encoder.pt and pretrain.json hold what it made
    return stats


def _fmt(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def docs_from_texts(nlp: Language, texts: Sequence[str], batch_size: int = 256) -> List[Doc]:
    """Tokenise abstracts with the pipeline's tokenizer (no components run)."""
    return [doc for doc in nlp.tokenizer.pipe(texts, batch_size=batch_size)]


def split_held_out(docs: List[Doc], n_held_out: int, seed: int) -> Tuple[List[Doc], List[Doc]]:
    """``n_held_out`` docs drawn with ``seed`` for the held-out loss; the rest train."""
    if n_held_out < 0:
        raise ValueError(f"held-out count must be >= 0, got {n_held_out}")
    if n_held_out >= len(docs):
        raise ValueError(f"{len(docs)} abstracts cannot spare {n_held_out} for the held-out loss")
    picked = set(numpy.random.RandomState(seed).choice(len(docs), n_held_out, replace=False).tolist()) if n_held_out else set()
    return [d for i, d in enumerate(docs) if i not in picked], [d for i, d in enumerate(docs) if i in picked]
