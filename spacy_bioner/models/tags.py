"""BIO tag sets over entity labels: tag lists, span <-> tag conversion, allowed transitions.

Tag order is fixed: ``["O", "B-<label1>", "I-<label1>", "B-<label2>", ...]`` with labels in the
order given (the pipe keeps them sorted). Tag ``-1`` in an id sequence means "unknown" (missing
annotation); the CRF marginalises over all tags there.
"""

from __future__ import annotations

from typing import Iterable, List, Optional, Sequence, Tuple

import numpy

OUTSIDE = "O"
MISSING = -1
TokenSpan = Tuple[int, int, str]  # token start, token end (exclusive), label


def bio_tags(labels: Sequence[str]) -> List[str]:
    """The BIO tags of ``labels``: ``O`` first, then ``B-X, I-X`` per label, in the given order."""
    tags = [OUTSIDE]
    for label in labels:
        if not label or label == OUTSIDE:
            raise ValueError(f"Invalid entity label for BIO tagging: {label!r}")
        tags.extend((f"B-{label}", f"I-{label}"))
    if len(set(tags)) != len(tags):
        raise ValueError(f"Duplicate entity labels in {list(labels)!r}")
    return tags


def labels_of_tags(tags: Sequence[str]) -> List[str]:
    """The entity labels of a BIO tag list (inverse of :func:`bio_tags`)."""
    return [tag[2:] for tag in tags if tag.startswith("B-")]


def split_tag(tag: str) -> Tuple[str, Optional[str]]:
    """``"B-Chemical"`` -> ``("B", "Chemical")``; ``"O"`` -> ``("O", None)``."""
    if tag == OUTSIDE:
        return OUTSIDE, None
    prefix, sep, label = tag.partition("-")
    if not sep or prefix not in ("B", "I") or not label:
        raise ValueError(f"Not a BIO tag: {tag!r}")
    return prefix, label


def allowed_transitions(tags: Sequence[str]) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Boolean masks ``(transitions[K, K], start[K], end[K])`` of the allowed BIO moves.

    Forbidden: ``O -> I-X``, ``B-X -> I-Y`` and ``I-X -> I-Y`` for ``Y != X``, and starting with
    ``I-X``. Every tag may end a sequence.
    """
    parts = [split_tag(tag) for tag in tags]
    n_tags = len(tags)
    trans = numpy.ones((n_tags, n_tags), dtype=bool)
    start = numpy.ones((n_tags,), dtype=bool)
    end = numpy.ones((n_tags,), dtype=bool)
    for j, (prefix_j, label_j) in enumerate(parts):
        if prefix_j != "I":
            continue
        start[j] = False
        for i, (prefix_i, label_i) in enumerate(parts):
            if prefix_i == OUTSIDE or label_i != label_j:
                trans[i, j] = False
    return trans, start, end


def spans_to_tag_ids(n_tokens: int, spans: Iterable[TokenSpan], tags: Sequence[str]) -> numpy.ndarray:
    """Tag ids (int64, ``O`` elsewhere) for non-overlapping token spans ``(start, end, label)``."""
    index = {tag: i for i, tag in enumerate(tags)}
    out = numpy.zeros((n_tokens,), dtype="int64")
    taken = numpy.zeros((n_tokens,), dtype=bool)
    for start, end, label in spans:
        if not 0 <= start < end <= n_tokens:
            raise ValueError(f"Span ({start}, {end}, {label!r}) outside a {n_tokens}-token sequence")
        if f"B-{label}" not in index:
            raise ValueError(f"Unknown entity label {label!r}; known: {labels_of_tags(tags)}")
        if taken[start:end].any():
            raise ValueError(f"Span ({start}, {end}, {label!r}) overlaps another span")
        taken[start:end] = True
        out[start] = index[f"B-{label}"]
        out[start + 1 : end] = index[f"I-{label}"]
    return out


def tag_ids_to_spans(tag_ids: Sequence[int], tags: Sequence[str]) -> List[TokenSpan]:
    """Token spans from a tag id sequence. An ``I-X`` that cannot continue a span starts one.

    Ids ``< 0`` (missing) end any open span and start none.
    """
    spans: List[TokenSpan] = []
    start, label = -1, None
    parts = [split_tag(tag) for tag in tags]
    for i, tag_id in enumerate(list(tag_ids) + [MISSING]):
        prefix, tag_label = parts[int(tag_id)] if tag_id >= 0 else (None, None)
        if prefix == "I" and label == tag_label:
            continue
        if label is not None:
            spans.append((start, i, label))
        if prefix in ("B", "I"):
            start, label = i, tag_label
        else:
            start, label = -1, None
    return spans


def biluo_to_bio(biluo: Sequence[Optional[str]]) -> List[Optional[str]]:
    """Convert spaCy BILUO strings to BIO; ``None`` and ``"-"`` (missing) become ``None``."""
    out: List[Optional[str]] = []
    for tag in biluo:
        if tag is None or tag == "-" or tag == "":
            out.append(None)
        elif tag == OUTSIDE:
            out.append(OUTSIDE)
        elif tag[:2] in ("B-", "U-"):
            out.append("B-" + tag[2:])
        elif tag[:2] in ("I-", "L-"):
            out.append("I-" + tag[2:])
        else:
            raise ValueError(f"Not a BILUO tag: {tag!r}")
    return out
