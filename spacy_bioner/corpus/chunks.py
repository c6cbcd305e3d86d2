"""Training on runs of whole sentences instead of whole abstracts.

A BiLSTM step on CPU costs about the same per time step whether it carries 4 sequences or 32,
so a step over 4 abstracts of ~250 tokens pays for 250 sequential time steps while a step over
the same tokens cut into 16 runs of <= 64 tokens pays for 64 (``benchmarks/train_step.py``).
:func:`sentence_chunks` cuts a Doc at the sentence boundaries of
:func:`~spacy_bioner.corpus.spacy_docs.sentence_starts` (never inside an entity) and packs
consecutive sentences into chunks of at most ``max_tokens`` tokens; a longer sentence stays
whole. The augmenter ``spacy_bioner.sentence_chunks.v1`` applies it to a training corpus:

    [corpora.train.augmenter]
    @augmenters = "spacy_bioner.sentence_chunks.v1"
    max_tokens = 64

Inference is unchanged (whole documents, windowed by the model itself).
"""

from __future__ import annotations

from typing import Callable, Iterator, List, Tuple

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example

from .spacy_docs import OFFSET_KEY, sentence_starts


def chunk_bounds(doc: Doc, max_tokens: int) -> List[Tuple[int, int]]:
    """Token ranges ``[start, end)`` covering ``doc``: consecutive sentences, at most
    ``max_tokens`` tokens per range unless one sentence alone is longer."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    starts = sentence_starts(doc)
    bounds: List[Tuple[int, int]] = []
    for begin, end in zip(starts, starts[1:] + [len(doc)]):
        if bounds and end - bounds[-1][0] <= max_tokens:
            bounds[-1] = (bounds[-1][0], end)
        else:
            bounds.append((begin, end))
    return bounds


def sentence_chunks(doc: Doc, max_tokens: int) -> List[Doc]:
    """``doc`` cut into chunk Docs (see :func:`chunk_bounds`), entities and missing labels kept;
    each keeps ``user_data`` with ``offset`` moved to the chunk's character offset."""
    bounds = chunk_bounds(doc, max_tokens)
    if len(bounds) <= 1:
        return [doc]
    base = doc.user_data.get(OFFSET_KEY, 0)
    chunks = []
    for begin, end in bounds:
        chunk = doc[begin:end].as_doc()
        chunk.user_data.update(doc.user_data)
        chunk.user_data[OFFSET_KEY] = base + doc[begin].idx
        chunks.append(chunk)
    return chunks


@spacy.registry.augmenters("spacy_bioner.sentence_chunks.v1")
def create_sentence_chunker(max_tokens: int = 64) -> Callable[[Language, Example], Iterator[Example]]:
    """spaCy augmenter: each training Example becomes one Example per sentence chunk of its
    reference (``max_tokens = 0`` keeps Examples whole)."""
    if max_tokens < 0:
        raise ValueError(f"max_tokens must be >= 0, got {max_tokens}")

    def augment(nlp: Language, example: Example) -> Iterator[Example]:
        if max_tokens == 0 or len(example.reference) <= max_tokens:
            yield example
            return
        for chunk in sentence_chunks(example.reference, max_tokens):
            yield Example(nlp.make_doc(chunk.text), chunk)

    return augment
