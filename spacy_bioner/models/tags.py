"""Tag sets over entity labels: tag lists, span <-> tag conversion, allowed transitions.

Two schemes. BIO: ``["O", "B-<label1>", "I-<label1>", "B-<label2>", ...]``. BILOU (spaCy's name
for BIOES): ``["O", "B-<label1>", "I-<label1>", "L-<label1>", "U-<label1>", "B-<label2>", ...]``,
where ``L`` ends a mention of two or more tokens and ``U`` is a one-token mention, so that a
mention's last token has a tag of its own. Labels come in the order given (the pipe keeps them
sorted). The scheme of a tag list is read off its tags (:func:`scheme_of`). Tag ``-1`` in an id
sequence means "unknown" (missing annotation); the CRF marginalises over all tags there.
"""

from __future__ import annotations

from typing import Iterable, List, Optional, Sequence, Tuple

import numpy

OUTSIDE = "O"
MISSING = -1
SCHEMES = ("BIO", "BILOU")
_PREFIXES = {"BIO": ("B", "I"), "BILOU": ("B", "I", "L", "U")}
TokenSpan = Tuple[int, int, str]  # token start, token end (exclusive), label


def bio_tags(labels: Sequence[str]) -> List[str]:
    """The BIO tags of ``labels``: ``O`` first, then ``B-X, I-X`` per label, in the given order."""
    return entity_tags(labels, "BIO")


def entity_tags(labels: Sequence[str], scheme: str = "BIO") -> List[str]:
    """The tags of ``labels`` in ``scheme``: ``O`` first, then the scheme's prefixes per label."""
    if scheme not in SCHEMES:
        raise ValueError(f"Unknown tag scheme {scheme!r}; known: {list(SCHEMES)}")
    tags = [OUTSIDE]
    for label in labels:
        if not label or label == OUTSIDE:
            raise ValueError(f"Invalid entity label for {scheme} tagging: {label!r}")
        tags.extend(f"{prefix}-{label}" for prefix in _PREFIXES[scheme])
    if len(set(tags)) != len(tags):
        raise ValueError(f"Duplicate entity labels in {list(labels)!r}")
    return tags


def scheme_of(tags: Sequence[str]) -> str:
    """``"BILOU"`` when ``tags`` hold ``U-`` tags, else ``"BIO"``."""
    return "BILOU" if any(tag.startswith("U-") for tag in tags) else "BIO"


def labels_of_tags(tags: Sequence[str]) -> List[str]:
    """The entity labels of a tag list (inverse of :func:`entity_tags`)."""
    return [tag[2:] for tag in tags if tag.startswith("B-")]


def split_tag(tag: str) -> Tuple[str, Optional[str]]:
    """``"B-Chemical"`` -> ``("B", "Chemical")``; ``"O"`` -> ``("O", None)``."""
    if tag == OUTSIDE:
        return OUTSIDE, None
    prefix, sep, label = tag.partition("-")
    if not sep or prefix not in _PREFIXES["BILOU"] or not label:
        raise ValueError(f"Not a BIO or BILOU tag: {tag!r}")
    return prefix, label


def allowed_transitions(tags: Sequence[str]) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Boolean masks ``(transitions[K, K], start[K], end[K])`` of the allowed moves.

    BIO forbids ``O -> I-X``, ``B-X -> I-Y`` and ``I-X -> I-Y`` for ``Y != X``, and starting with
    ``I-X``; every tag may end a sequence. BILOU: ``I-X`` and ``L-X`` follow only ``B-X`` or
    ``I-X``, which nothing else may follow; no sequence starts with ``I``/``L`` or ends with
    ``B``/``I``.
    """
    parts = [split_tag(tag) for tag in tags]
    n_tags = len(tags)
    trans = numpy.ones((n_tags, n_tags), dtype=bool)
    start = numpy.ones((n_tags,), dtype=bool)
    end = numpy.ones((n_tags,), dtype=bool)
    if scheme_of(tags) == "BIO":
        for j, (prefix_j, label_j) in enumerate(parts):
            if prefix_j != "I":
                continue
            start[j] = False
            for i, (prefix_i, label_i) in enumerate(parts):
                if prefix_i == OUTSIDE or label_i != label_j:
                    trans[i, j] = False
        return trans, start, end
    for i, (prefix_i, label_i) in enumerate(parts):
        opens = prefix_i in ("B", "I")  # a mention is open after this tag
        end[i] = not opens
        start[i] = prefix_i not in ("I", "L")
        for j, (prefix_j, label_j) in enumerate(parts):
            continues = prefix_j in ("I", "L")
            trans[i, j] = (continues and label_j == label_i) if opens else not continues
    return trans, start, end


def spans_to_tag_ids(n_tokens: int, spans: Iterable[TokenSpan], tags: Sequence[str]) -> numpy.ndarray:
    """Tag ids (int64, ``O`` elsewhere) for non-overlapping token spans ``(start, end, label)``,
    in the scheme of ``tags``."""
    index = {tag: i for i, tag in enumerate(tags)}
    bilou = scheme_of(tags) == "BILOU"
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
        if bilou and end - start == 1:
            out[start] = index[f"U-{label}"]
            continue
        out[start] = index[f"B-{label}"]
        out[start + 1 : end] = index[f"I-{label}"]
        if bilou:
            out[end - 1] = index[f"L-{label}"]
    return out


def tag_ids_to_spans(tag_ids: Sequence[int], tags: Sequence[str]) -> List[TokenSpan]:
    """Token spans from a tag id sequence (BIO or BILOU). An ``I-X`` or ``L-X`` that cannot
    continue a span starts one; ``L-X`` and ``U-X`` end the span they are in.

    Ids ``< 0`` (missing) end any open span and start none.
    """
    spans: List[TokenSpan] = []
    start, label = -1, None
    parts = [split_tag(tag) for tag in tags]
    for i, tag_id in enumerate(list(tag_ids) + [MISSING]):
        prefix, tag_label = parts[int(tag_id)] if tag_id >= 0 else (None, None)
        if prefix in ("I", "L") and label == tag_label:
            if prefix == "L":
                spans.append((start, i + 1, label))
                start, label = -1, None
            continue
        if label is not None:
            spans.append((start, i, label))
        start, label = -1, None
        if prefix in ("B", "I"):
            start, label = i, tag_label
        elif prefix in ("L", "U"):
            spans.append((i, i + 1, tag_label))
    return spans


# the prefix each spaCy BILUO prefix becomes in each scheme
_FROM_BILUO = {"BIO": {"B": "B", "U": "B", "I": "I", "L": "I"}, "BILOU": {p: p for p in "BILU"}}


def biluo_to_bio(biluo: Sequence[Optional[str]]) -> List[Optional[str]]:
    """Convert spaCy BILUO strings to BIO; ``None`` and ``"-"`` (missing) become ``None``."""
    return biluo_to_scheme(biluo, "BIO")


def biluo_to_scheme(biluo: Sequence[Optional[str]], scheme: str) -> List[Optional[str]]:
    """spaCy BILUO strings as tags of ``scheme``; ``None`` and ``"-"`` (missing) become ``None``."""
    if scheme not in SCHEMES:
        raise ValueError(f"Unknown tag scheme {scheme!r}; known: {list(SCHEMES)}")
    prefixes = _FROM_BILUO[scheme]
    out: List[Optional[str]] = []
    for tag in biluo:
        if tag is None or tag == "-" or tag == "":
            out.append(None)
        elif tag == OUTSIDE:
            out.append(OUTSIDE)
        elif tag[1:2] == "-" and tag[0] in prefixes:
            out.append(prefixes[tag[0]] + tag[1:])
        else:
            raise ValueError(f"Not a BILUO tag: {tag!r}")
    return out
